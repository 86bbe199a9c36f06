/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nametag, the CLI: bpftool's grammar. `nametag [OPTIONS] OBJECT COMMAND`,
 * one file per object, each ending in a dispatch table whose first entry is
 * the default command.
 */
#ifndef NAMETAG_TOOLS_MAIN_H
#define NAMETAG_TOOLS_MAIN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "ca/ca.h"
#include "enforce/enforce.h"
#include "userspace/daemon/protocol.h"
#include "userspace/etcd/etcd.h"

struct cmd {
	const char *name;
	int (*func)(int argc, char **argv);
};

extern const char *bin_name;
extern bool json_output;
extern bool pretty_output;
extern bool verbose;
extern const char *state_dir;
extern const char *bpffs_dir;	/* --bpffs; pins live under BPFFS/nametag */

/* Runs the command of @cmds named (by unique prefix) in argv[0]; with no
 * argument, the first entry. Returns the handler's result. */
int cmd_select(const struct cmd *cmds, int argc, char **argv);
bool is_prefix(const char *pfx, const char *str);
/* Positional arguments are never options: "-x" among them is an error
 * ("unknown option"), not a name to look up. Returns 0 or p_err(). */
int no_options(int argc, char **argv);

/* Errors: "Error: ..." on stderr, or {"error": "..."} on stdout with -j.
 * Always returns -1 so handlers can `return p_err(...)`. */
int p_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Notes for humans on stderr; silent in JSON mode. */
void p_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Help text: stderr, or {"help": "..."} on stdout with -j. Returns 0. */
int p_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints @obj as JSON (pretty with -p) and frees it. Returns 0, or
 * p_err() on allocation failure. */
int json_emit(cJSON *obj);

/* Argument walking, as bpftool does it. */
#define NEXT_ARG()	({ argc--; argv++; })
#define REQ_ARGS(n)							\
	({								\
		if (argc < (n)) {					\
			p_err("expected %d more argument%s",		\
			      (n), (n) == 1 ? "" : "s");		\
			return -1;					\
		}							\
	})
/* More than @n arguments: the first extra one is an error. */
#define NO_MORE_ARGS(n)							\
	({								\
		if (argc > (n))						\
			return p_err("unexpected argument '%s'", argv[n]); \
	})
/* Fetches the value after a `--flag`, failing if it is missing. */
#define GET_VALUE(dst)							\
	({								\
		if (argc < 2) {						\
			p_err("option %s needs a value", *argv);	\
			return -1;					\
		}							\
		NEXT_ARG();						\
		(dst) = *argv;						\
		NEXT_ARG();						\
	})

/* The audit log of offline actions (tools/audit.c): audit_begin opens the
 * daemon's (NULL when it keeps none; -1 with the error printed when it
 * cannot be opened: do not act then); audit_record makes a record with
 * the caller's uid (NULL without a log); audit_end writes it, synced, and
 * closes. */
struct audit_log;
int audit_begin(struct audit_log **l);
cJSON *audit_record(struct audit_log *l, const char *event);
int audit_end(struct audit_log *l, cJSON *rec);

/* nametagd's control socket (tools/ctl.c). */
extern const char *run_dir;
int ctl_connect(void);
int ctl_send(int fd, cJSON *req, const int *fds, int nfds);
int ctl_recv(int fd, cJSON **out);
int ctl_call(cJSON *req, cJSON **reply);
cJSON *ctl_request(const char *cmd);
int ctl_emit(cJSON *reply, const char *key);
/* Sends @req (consumed) and prints the reply's @key: JSON with -j, else
 * @print of each element (an array) or of the value itself. */
int ctl_print(cJSON *req, const char *key, void (*print)(const cJSON *item));
/* Sends @req and, with -j, prints the whole reply but "ok"; else hands the
 * reply to @print (if any). */
int ctl_print_reply(cJSON *req, void (*print)(const cJSON *reply));
int ctl_delete(const char *cmd, const char *key, const char *value,
	       const char *what);

/* The Workload API, as a workload calls it (tools/wlclient.c). */
struct wlc_result {
	int status;			/* grpc-status; -1: none came */
	int stopped;			/* the callback's non-zero result */
	char message[256];		/* grpc-message */
};
/* Called with each response message; non-zero ends the call (cancelled). */
typedef int (*wlc_msg_fn)(const uint8_t *msg, size_t len, void *arg);
/* The path of "unix:///path", "unix:/path" or "/path"; NULL otherwise. */
const char *wlc_socket_path(const char *s);
/* A connected socket, or -errno. */
int wlc_connect(const char *path);
/* One call of /SpiffeWorkloadAPI/@method with the request message @req
 * (packed protobuf), the security header included; waits at most
 * @timeout_ms (-1: for ever) for each read. 0 once the stream ended or
 * the callback stopped it, @res filled; -errno on transport errors. */
int wlc_call(int fd, const char *method, const uint8_t *req, size_t req_len,
	     wlc_msg_fn on_msg, void *arg, int timeout_ms,
	     struct wlc_result *res);
const char *wlc_status_name(int status);
/* --socket's value, or SPIFFE_ENDPOINT_SOCKET, or the default; a connected
 * socket, or p_err(). */
int wlc_open(const char *opt);
/* The fleet in etcd (tools/fleet.c): --etcd URL and its TLS and auth. */
struct etcd_cli {
	const char *url, *ca, *cert, *key, *user, *password_file;
};
extern struct etcd_cli etcd_cli;

struct fleet_kv {
	char *key, *value;		/* value NUL-terminated, len bytes */
	size_t len;
	int64_t mod_revision;		/* 0: absent */
	int64_t lease;
};

int fleet_client(struct etcd_client **c, struct nt_err *err);
struct etcd_runner *fleet_runner(void);
int fleet_range(const char *key, bool prefix, struct fleet_kv **kvs,
		size_t *n, int64_t *revision, struct nt_err *err);
int fleet_get(const char *key, struct fleet_kv *out, struct nt_err *err);
void fleet_kvs__free(struct fleet_kv *v, size_t n);
/* -ECANCELED with the key's current revision when a condition failed. */
int fleet_txn(const struct etcd_cond *conds, size_t nconds,
	      const struct etcd_op *ops, size_t nops, int64_t *revision,
	      struct nt_err *err);
int fleet_lease(int64_t ttl, int64_t *id, struct nt_err *err);
/* @verb: "add", "set" (enable/disable) or "del"; NULL arguments keep the
 * value's. @revision: --revision, the mod_revision to write against. */
int fleet_ns_write(const char *verb, const char *name, const char *cgroup,
		   const char *tmpl, const char *mode, const char *hosts,
		   const char *revision);
int fleet_entry_write(const struct fleet_entry *e, bool del);
int fleet_policy_write(const char *text, const char *revision);
int fleet_policy_show(void);
/* nametag ca signer (tools/signer.c). */
int do_signer(int argc, char **argv);
/* Its federation bundle fetcher (tools/fetcher.c): watches federation/,
 * sets *@wake when it changes; run() fetches what is due and returns when
 * the next fetch is. */
struct fetcher;
int fetcher__start(struct fetcher **out, const char *own_td,
		   const char *ca_file, int64_t refresh_min, volatile bool *wake,
		   struct nt_err *err);
time_t fetcher__run(struct fetcher *f, time_t now);

/* Objects. */
int do_id(int argc, char **argv);
int do_ca(int argc, char **argv);
int do_svid(int argc, char **argv);
int do_bundle(int argc, char **argv);
int do_ns(int argc, char **argv);
int do_entry(int argc, char **argv);
int do_workload(int argc, char **argv);
int do_flow(int argc, char **argv);
int do_policy(int argc, char **argv);
int do_proxy(int argc, char **argv);
int do_daemon(int argc, char **argv);
int do_prog(int argc, char **argv);
int do_map(int argc, char **argv);
int do_feature(int argc, char **argv);
int do_node(int argc, char **argv);
int do_federation(int argc, char **argv);
int do_status(int argc, char **argv);
int do_jwt(int argc, char **argv);
/* svid fetch (tools/svid_fetch.c) */
int do_svid_fetch(int argc, char **argv);

/* Map entries decoded with the structs of bpf/nametag.h (tools/map_decode.c). */
struct bpf_map_info;
struct map_decoder {
	const char *name;
	__u32 key_size;
	__u32 value_size;
	cJSON *(*decode)(const void *key, const void *value);
};
/* The decoder of map @name, when its layout is the one this build knows. */
const struct map_decoder *map__decoder(const char *name,
				       const struct bpf_map_info *info);
cJSON *map__hex_json(const void *key, __u32 key_size, const void *value,
		     __u32 value_size);

/* Pinned BPF objects under BPFFS/nametag (tools/prog.c). */
enum pin_kind { PIN_PROG, PIN_MAP, PIN_LINK };
typedef int (*pin_fn)(const char *path, const char *name, void *data);
/* BPFFS/nametag/@sub[/@name]; -ENAMETOOLONG if it does not fit. */
int pin_path(char *buf, size_t size, const char *sub, const char *name);
/* An fd on the pin at @path if it holds a @kind, else -errno
 * (-EMEDIUMTYPE: another kind of object). */
int open_pinned(const char *path, enum pin_kind kind);
/* Calls @fn for each pin in @dir, sorted; -ENOENT when @dir is missing. */
int pin_foreach(const char *dir, pin_fn fn, void *data);
/* {"pinned": PATH, "error": "..."} for a pin that could not be read. */
cJSON *pin_error_json(const char *path, int err);

#endif
