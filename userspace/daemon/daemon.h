/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nametagd's internal interfaces: the daemon state and the modules that
 * share it (datapath, namespaces, control socket, flows, workloads).
 */
#ifndef NAMETAG_DAEMON_H
#define NAMETAG_DAEMON_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "attest/attest.h"
#include "bpf/nametag.h"
#include "ca/ca.h"
#include "lib/ntcore.h"

struct daemon_opts {
	const char *state_dir;
	const char *run_dir;
	const char *cgroup_root;	/* NULL: the cgroup v2 mount's root */
	const char *bpffs;
	const char *trust_domain;	/* NULL: from the state dir's CA */
	bool cleanup;
	bool manual_netns;		/* serve only `proxy add` namespaces */
	bool no_ktls;			/* keep TLS records in userspace */
	bool no_mesh_reuse;		/* NT1 only: a handshake per connection */
};

/* ---- config (config.c) ---------------------------------------------------- */

/* --config FILE: the options as a JSON object. */
int daemon_config__load(struct daemon_opts *o, const char *path,
			struct nt_err *err);
/* "state_dir, run_dir, ...": the keys a config file may have. */
const char *daemon_config__keys(void);

/* ---- event loop ---------------------------------------------------------- */

struct loop_handler {
	int fd;
	void (*on_event)(struct loop_handler *h, uint32_t events);
};

int loop__add(struct loop_handler *h, uint32_t events);
/* Frees @p once the current batch of events is handled: a later event of
 * the same batch may still point at a handler inside it. */
void loop__defer_free(void *p);
int loop__mod(struct loop_handler *h, uint32_t events);
void loop__del(struct loop_handler *h);

/* ---- cgroups ------------------------------------------------------------- */

struct cgroup_info {
	char mount[PATH_MAX];		/* cgroup v2 mount point */
	char root[PATH_MAX];		/* managed subtree, absolute path */
	uint64_t root_id;
	uint64_t self_id;		/* the daemon's own cgroup */
};

int cgroup__init(struct cgroup_info *cg, const char *root);
/* Resolves a user-supplied path (absolute, or relative to the cgroup v2
 * mount) to an absolute path inside the managed subtree. */
int cgroup__resolve(const struct cgroup_info *cg, const char *in,
		    char *out, size_t size, struct nt_err *err);
/* 0 when cgroup @path (absolute, resolved) may be enforced on: strictly
 * below the managed root, neither nametagd's own cgroup nor an ancestor of
 * it. -EPERM with the reason otherwise, also when the daemon cannot find
 * its own cgroup (it then refuses rather than guess). */
int cgroup__may_enroll(const struct cgroup_info *cg, const char *path,
		       struct nt_err *err);

/* ---- datapath (BPF) ------------------------------------------------------ */

struct datapath;

int datapath__open(struct datapath **dp, const struct cgroup_info *cg,
		   const char *bpffs, struct nt_err *err);
void datapath__close(struct datapath *dp);
int datapath__cleanup(const char *bpffs, struct nt_err *err);
int datapath__map_fd(const struct datapath *dp, const char *name);
/* Ring buffer of struct nt_event; the callback gets each event. */
int datapath__events_fd(const struct datapath *dp);
int datapath__poll_events(struct datapath *dp,
			  void (*cb)(const struct nt_event *ev, void *arg),
			  void *arg);
/* The node proxy of a network namespace: its listening sockets (-1: none)
 * and the addresses redirected connect()s are rewritten to. */
struct dp_proxy {
	int out4_fd, out6_fd, net_fd;
	struct nt_addr target4, target6;
	uint16_t mesh_port;
};

int datapath__set_proxy(struct datapath *dp, int netns_fd,
			const struct dp_proxy *px, struct nt_err *err);
int datapath__del_proxy(struct datapath *dp, uint32_t netns_ino,
			struct nt_err *err);
int datapath__guard_netns(struct datapath *dp, int netns_fd,
			  struct nt_err *err);
/* Listener records of @netns_ino that did not fit its table. */
uint64_t datapath__overflow(struct datapath *dp, uint32_t netns_ino);
int datapath__set_ns(struct datapath *dp, uint64_t cgroup_id,
		     const struct nt_ns_value *v);
int datapath__del_ns(struct datapath *dp, uint64_t cgroup_id);
/* Replaces the egress trie (bpf/nametag.h, struct nt_egress_key). */
int datapath__set_egress(struct datapath *dp, const struct nt_egress_key *keys,
			 size_t n);

/* ---- datapath: listener records (userspace/datapath_listen.c) ------------ */

/* The enrolled listener a TCP connection to @addr in @netns_ino reaches,
 * as the kernel would pick it (exact address, then the wildcards), the
 * same walk as bpf/listeners.bpf.h. -ENOENT when there is none. */
int datapath__find_listener(const struct datapath *dp, uint32_t netns_ino,
			    const struct nt_addr *addr, struct nt_listener *out);
/* The entry @k of @netns_ino's listener table, as it is. */
int datapath__find_exact(const struct datapath *dp, uint32_t netns_ino,
			 const struct nt_listen_key *k, struct nt_listener *out);
/* Announces a delivery from @src to @dst: its SYN goes to exactly the
 * listening socket @cookie (bpf/lookup.bpf.c); removed once connected. */
int datapath__ticket(struct datapath *dp, uint32_t netns_ino,
		     const struct nt_addr *src, const struct nt_addr *dst,
		     uint64_t cookie);
void datapath__unticket(struct datapath *dp, uint32_t netns_ino,
			const struct nt_addr *src, const struct nt_addr *dst);
/* Is the listening socket @cookie in listen_socks (deliverable)? */
bool datapath__listen_sock_held(const struct datapath *dp, uint64_t cookie);
/* What the kernel recorded about the socket @fd (sock_ev storage). */
int datapath__socket_evidence(const struct datapath *dp, int fd,
			      struct nt_sock_value *v);
/* Puts the listening socket @fd into listen_socks. */
int datapath__hold_listen_sock(struct datapath *dp, int fd);
/* Every entry of @netns_ino's listener table; @fn returning non-zero
 * stops the walk and is returned. */
int datapath__listeners_foreach(const struct datapath *dp, uint32_t netns_ino,
				int (*fn)(const struct nt_listen_key *k,
					  const struct nt_listener *l, void *arg),
				void *arg);
int datapath__listener_put(struct datapath *dp, uint32_t netns_ino,
			   const struct nt_listen_key *k,
			   const struct nt_listener *l);
int datapath__listener_del(struct datapath *dp, uint32_t netns_ino,
			   const struct nt_listen_key *k);
/* Network namespaces the datapath guards, for the listener sync. */
int datapath__foreach_netns(const struct datapath *dp,
			    int (*fn)(uint32_t netns_ino, void *arg), void *arg);
cJSON *datapath__json(const struct datapath *dp);

/* ---- namespaces ---------------------------------------------------------- */

#define NS_NAME_MAX 64

struct ns {
	char name[NS_NAME_MAX];
	char cgroup[PATH_MAX];		/* absolute */
	uint64_t cgroup_id;
	uint32_t id;			/* index handed to BPF */
	enum nt_mode mode;
	char template[256];		/* "" = default */
};

struct ns_table;

int ns_table__load(struct ns_table **t, const char *state_dir,
		   struct nt_err *err);
void ns_table__free(struct ns_table *t);
size_t ns_table__count(const struct ns_table *t);
struct ns *ns_table__at(struct ns_table *t, size_t i);
struct ns *ns_table__find(struct ns_table *t, const char *name);
struct ns *ns_table__by_cgroup(struct ns_table *t, uint64_t cgroup_id);
struct ns *ns_table__by_id(struct ns_table *t, uint32_t id);
/* 1 to NS_NAME_MAX - 1 of [a-z0-9-], no '-' at either end. */
int ns__check_name(const char *name, struct nt_err *err);
int ns_table__add(struct ns_table *t, const struct ns *n, struct nt_err *err);
int ns_table__del(struct ns_table *t, const char *name);
int ns_table__save(const struct ns_table *t, struct nt_err *err);
const char *mode__name(enum nt_mode m);
int mode__parse(const char *s, enum nt_mode *m);

/* ---- the daemon ---------------------------------------------------------- */

struct flow_table;
struct svid_cache;

struct daemon {
	struct daemon_opts opts;
	struct cgroup_info cg;
	struct datapath *dp;
	struct node_ca *ca;
	struct ns_table *ns;
	struct attest_ctx *attest;
	struct attest_registry *entries;
	char entries_path[PATH_MAX];
	struct flow_table *flows;
	struct svid_cache *svids;
	struct spiffe_ids *ids;		/* the IDs proxied connections hold */
	bool no_sock_destroy;		/* the start-up probe found no SOCK_DESTROY */
	bool stop;
};

extern struct daemon *nd;

/* The listener sync (userspace/listeners.c) runs once the current batch of
 * events is handled. */
void daemon__sync_listeners_soon(void);

/* Pushes namespace @n's enrollment state into the kernel. */
int daemon__apply_ns(const struct ns *n);
/* Pushes the egress entries of the policy in force for every namespace
 * into the kernel (datagrams in strict mode). */
int policy_ctl__apply_egress(void);

/* ---- control socket ------------------------------------------------------ */

#define CONTROL_SOCK_NAME "nametagd.sock"
#define CONTROL_RUN_DIR_DEFAULT "/run/nametag"
#define CONTROL_MAX_FDS 4

struct ctl_client;

/* A request handler fills @resp (an object) or returns an error via
 * nt_err; fds passed with SCM_RIGHTS are in @fds (the handler owns those
 * it keeps; the rest are closed after it returns, set them to -1 to keep). */
struct ctl_request {
	const cJSON *req;
	int fds[CONTROL_MAX_FDS];
	int nfds;
	struct ctl_client *client;
};

int control__open(const char *run_dir, struct nt_err *err);
void control__close(void);
/* For streaming commands: keep the client after the reply and send it
 * JSON lines later. */
void control__subscribe(struct ctl_client *c, int topic);
void control__publish(int topic, const cJSON *msg);

enum { TOPIC_FLOWS = 1 };

typedef int (*ctl_handler_fn)(struct ctl_request *r, cJSON *resp,
			      struct nt_err *err);
ctl_handler_fn ctl__find(const char *cmd);

/* ---- workloads, identities, SVIDs ---------------------------------------- */

struct attest_evidence;

/* Evidence -> selectors -> SPIFFE ID (+ SVID minted or cached). Fills a
 * JSON object describing the workload. */
int workload__resolve(const struct nt_evidence *ev, cJSON *out,
		      struct spiffe_id *id, struct nt_err *err);
cJSON *workload__list(void);
/* Drops cached identities: the registry or a namespace changed. */
void workload__invalidate(void);
int workload__show(uint32_t pid, cJSON *out, struct nt_err *err);

int svid_cache__new(struct svid_cache **c);
void svid_cache__free(struct svid_cache *c);
/* The SVID for @id, minted when absent or past half its life. */
const struct svid *svid_cache__get(struct svid_cache *c,
				   const struct spiffe_id *id,
				   struct nt_err *err);
cJSON *svid_cache__json(const struct svid_cache *c);

/* ---- flows --------------------------------------------------------------- */

#define FLOW_TABLE_SIZE 4096

int flow_table__new(struct flow_table **t);
void flow_table__free(struct flow_table *t);
void flows__on_event(const struct nt_event *ev, void *arg);
cJSON *flows__list(const struct flow_table *t);
cJSON *flows__find(const struct flow_table *t, uint64_t id);
/* For the proxy: add a record (takes it, assigns "id"), reach it while it
 * is still in the ring, and tell watchers it changed. */
uint64_t flows__add(struct flow_table *t, cJSON *f);
cJSON *flows__get(struct flow_table *t, uint64_t id);
void flows__publish(struct flow_table *t, uint64_t id);
/* A connection the daemon found (and ended, or could not) outside the
 * proxy, recorded whole at once: plaintext, verdict deny. */
struct flow_note {
	const char *type;		/* "egress", "inbound-plaintext" */
	const char *ns, *state, *reason;
	enum nt_mode mode;
	const struct nt_addr *src, *dst;
	uint64_t cgroup_id;		/* the workload socket's (sock_diag) */
	uint32_t uid;
};
void flows__note(struct flow_table *t, const struct flow_note *n);

/* ---- plaintext that predates strict (strict.c) --------------------------- */

/*
 * Ends the plaintext connections that strict no longer allows, in every
 * strict namespace: the proxy's own (re-judged) and the workloads' sockets
 * the proxy does not hold (sock_diag SOCK_DESTROY). @switched: the
 * namespace that just turned strict (its tally is always logged); NULL
 * after a policy reload. Never fails: what cannot be closed is logged,
 * counted and recorded as a flow.
 */
void strict__sweep(const struct ns *switched);

#endif /* NAMETAG_DAEMON_H */
