/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lib/ — libntcore, what every folder of nametag shares: errors, strict
 * JSON, strict base64, state files, durations, addresses, time, the cgroup walker,
 * logging, the event loop, descriptor limits and passing, network
 * namespace sockets,
 * SOCK_DESTROY and the kernel feature probes. This header is the
 * library's whole interface (docs/architecture.md).
 *
 * Conventions: functions return 0 or a negative errno. When they fail and
 * @err is not NULL, err->msg holds one lowercase sentence that names the
 * place (`return nt_err_set(err, -EINVAL, "%s: what", where);`). Nothing
 * here knows the daemon, the proxy or a BPF map; the only process-wide
 * state is the log level, the descriptor reserve and the daemon's home
 * network namespace.
 */
#ifndef NAMETAG_NTCORE_H
#define NAMETAG_NTCORE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <sys/utsname.h>

#include "bpf/nametag.h"	/* struct nt_addr, the NT_* constants */

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

/* A namespace's name: 1 to 63 of [a-z0-9-] (a SPIFFE ID segment, a key). */
#define NT_NS_NAME_MAX	64

/* "off", "observe", "permissive", "strict"; "unknown" past them. */
const char *mode__name(enum nt_mode m);
int mode__parse(const char *s, enum nt_mode *m);

/* Room for element @n of the array *@v of *@cap elements of @size bytes:
 * grows it (doubling, from 64) up to @max elements. -E2BIG past @max. */
int array__grow(void **v, size_t *cap, size_t n, size_t size, size_t max);

struct cJSON;
struct sockaddr_storage;
struct inet_diag_sockid;

/* ---- base64 (RFC 4648) --------------------------------------------------- */

/* Strict decoding: only the alphabet (standard '+/' or url '-_'), padding
 * required for the standard alphabet and refused for url, no whitespace,
 * and unused low bits zero, so each byte string has one accepted spelling.
 * *out is malloc'd with one NUL byte after *out_len (not counted). */
int b64__decode(const char *s, size_t len, bool url, unsigned char **out,
		size_t *out_len);
/* malloc'd, NUL-terminated; NULL when out of memory. */
char *b64__encode(const unsigned char *p, size_t n, bool url);

/* ---- errors ------------------------------------------------------------- */

#define NT_ERR_MSG_MAX	512

struct nt_err {
	char msg[NT_ERR_MSG_MAX];
};

/* Formats into err->msg (if err is non-NULL) and returns @code, so callers
 * can write `return nt_err_set(err, -EINVAL, "bad %s", x);`. */
int nt_err_set(struct nt_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prefixes err->msg with "@prefix: ". Returns @code. */
int nt_err_prefix(struct nt_err *err, int code, const char *prefix);

/* Appends the OpenSSL error queue (most recent first) to err->msg as
 * ": reason" and clears the queue. Returns @code. */
int nt_err_ssl(struct nt_err *err, int code, const char *what);

/* ---- durations ---------------------------------------------------------- */

/* "90s", "15m", "1h", "1h30m", "2d", or plain seconds "3600". Result in
 * seconds, > 0, at most 10 years. */
int duration__parse(const char *s, int64_t *secs, struct nt_err *err);

/* ---- strict JSON -------------------------------------------------------- */

/* cJSON parse of exactly @len bytes with the checks cJSON lacks: no NUL
 * bytes, nothing but whitespace after the value, no duplicate key in any
 * object (keys compared exactly, case-sensitively), nesting at most 32
 * deep. Errors name the byte offset or the key. */
int json__parse_strict(const char *buf, size_t len, struct cJSON **out,
		       struct nt_err *err);
/* The same; a duplicate key is named by its path from the root, which is
 * called @root: "namespaces.shop.rules[1]: duplicate key \"to\"" (a file
 * of thousands of entries needs the place, not only the key). */
int json__parse_strict_at(const char *buf, size_t len, const char *root,
			  struct cJSON **out, struct nt_err *err);

/* json__parse_strict of a file's text @buf; errors start "PATH:LINE:COL: "
 * where the place is known (a syntax error, a duplicate key), else
 * "PATH: ". */
int json__parse_file(const char *path, const char *buf, size_t len,
		     struct cJSON **out, struct nt_err *err);
/* Line and column (from 1, in characters) of byte @off of @buf. */
void json__line_col(const char *buf, size_t off, unsigned int *line,
		    unsigned int *col);
/* The offset of the opening quote of the @nth (from 0) occurrence of
 * @key as a key of the top-level object of @buf, or -1. */
long json__key_offset(const char *buf, size_t len, const char *key,
		      unsigned int nth);

/* Checks that object @obj has no key outside @allowed (NULL-terminated);
 * @where names the object in the error ("bundle", "keys[2]"). */
int json__only_keys(const struct cJSON *obj, const char *const *allowed,
		    const char *where, struct nt_err *err);

/* Adds @v as an exact integer (a double would round past 2^53). */
struct cJSON *json__add_u64(struct cJSON *obj, const char *key, uint64_t v);

/* ---- files under the state dir ------------------------------------------ */

/* Creates @path (and missing parents) with mode 0700; an existing directory
 * that is group- or world-accessible is an error. */
int state__mkdir(const char *path, struct nt_err *err);

/* Writes atomically: temp file in the same directory (O_EXCL, @mode),
 * write, fsync, rename, fsync of the directory. */
int state__write(const char *path, const void *data, size_t len,
		 unsigned int mode, struct nt_err *err);

/* Reads a whole file of at most @max bytes into a NUL-terminated malloc'd
 * buffer. -ENOENT when missing, -EFBIG when larger than @max. When
 * @private_key is true the file must be a regular file, mode 0600 or
 * stricter. */
int state__read(const char *path, size_t max, bool private_key, char **buf,
		size_t *len, struct nt_err *err);

/* Frees a buffer from state__read after zeroing it (key material). */
void state__free_secret(char *buf, size_t len);

/* ---- the audit log (audit.c) ------------------------------------------- */

/* JSON lines appended to one file by nametagd and the CLI's offline
 * actions; each record is one write(2) on an O_APPEND descriptor. */
struct audit_log;

/* @source names the writer in every record ("nametagd", "nametag"). */
int audit_log__open(struct audit_log **l, const char *path,
		    const char *source, struct nt_err *err);
/* Syncs what is pending, then closes. */
void audit_log__close(struct audit_log *l);
/* Opens the path again (logrotate moved the file); on failure the old
 * descriptor stays in use. */
int audit_log__reopen(struct audit_log *l, struct nt_err *err);
const char *audit_log__path(const struct audit_log *l);
/* A new record: {"time", "source", "event": @event}; add fields, then
 * write it. */
struct cJSON *audit_log__record(const struct audit_log *l, const char *event);
/* Appends @rec (consumed) as one line; @sync: fdatasync before returning,
 * else at the next audit_log__flush. */
int audit_log__write(struct audit_log *l, struct cJSON *rec, bool sync,
		     struct nt_err *err);
/* fdatasync if anything was written since the last one. */
void audit_log__flush(struct audit_log *l);
/* STATE/audit.json: where the daemon's audit log is, written by nametagd
 * at start (@path NULL removes it) and read by the CLI's offline actions:
 * -ENOENT when there is none. */
int audit_log__set_pointer(const char *state_dir, const char *path,
			   struct nt_err *err);
int audit_log__from_state(struct audit_log **l, const char *state_dir,
			  const char *source, struct nt_err *err);

/* ---- logging ------------------------------------------------------------ */

/* Leveled logging on stderr: "TIME nametagd[PID] LEVEL: message"; "<N>message"
 * (syslog priority N) under journald; a JSON object per line with
 * NT_LOG_FORMAT_JSON. */
enum nt_log_level { NT_LOG_ERR, NT_LOG_WARN, NT_LOG_INFO, NT_LOG_DEBUG };
enum nt_log_format { NT_LOG_FORMAT_TEXT, NT_LOG_FORMAT_JSON };

extern enum nt_log_level nt_log_level;
/* "text" or "json"; -EINVAL otherwise (@f may be NULL: only checks). */
int log__parse_format(const char *s, enum nt_log_format *f);
void log__set_format(enum nt_log_format f);

void nt_log(enum nt_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define pr_err(...)	nt_log(NT_LOG_ERR, __VA_ARGS__)
#define pr_warn(...)	nt_log(NT_LOG_WARN, __VA_ARGS__)
#define pr_info(...)	nt_log(NT_LOG_INFO, __VA_ARGS__)
#define pr_debug(...)	nt_log(NT_LOG_DEBUG, __VA_ARGS__)

/* ---- time --------------------------------------------------------------- */

#define NT_NSEC_PER_SEC		1000000000ull

uint64_t clock__mono_ns(void);		/* CLOCK_MONOTONIC */
time_t clock__mono_s(void);
uint64_t clock__real_ns(void);		/* CLOCK_REALTIME */
/* The wall clock time of a CLOCK_MONOTONIC instant (bpf_ktime_get_ns()). */
uint64_t clock__mono_to_real_ns(uint64_t mono_ns);

#define TIME_ISO8601_MAX	40
/* "2026-11-23T15:00:00Z", or the number of seconds if it cannot be told. */
void time__iso8601(time_t t, char *buf, size_t size);
/* "2026-11-23T15:00:00.123Z" from nanoseconds since the epoch. */
void time__iso8601_ms(uint64_t real_ns, char *buf, size_t size);

/* ---- addresses: struct nt_addr (bpf/nametag.h) -------------------------- */

/* IPv4 is kept IPv4-mapped, so one layout serves both families; a
 * dual-stack socket's ::ffff:a.b.c.d is the IPv4 address it is. Ports in
 * host byte order. */
bool nt_addr__is_v4(const struct nt_addr *a);
/* @a := @ip4 (network byte order) at @port, IPv4-mapped. */
void nt_addr__set_v4(struct nt_addr *a, uint32_t ip4, uint16_t port);
bool nt_addr__is_loopback(const struct nt_addr *a);
void nt_addr__from_sockaddr(struct nt_addr *a, const struct sockaddr_storage *ss);
/* Fills @ss for @a at @port; returns its length. */
unsigned int nt_addr__to_sockaddr(const struct nt_addr *a, uint16_t port,
				  struct sockaddr_storage *ss);
/* The local (@peer false) or the peer end of socket @fd. */
int nt_addr__of_socket(int fd, bool peer, struct nt_addr *a);

#define NT_ADDR_TEXT_MAX	56	/* "[" INET6_ADDRSTRLEN "]:65535" */
/* "10.0.0.1:80" or "[fd00::1]:80" */
void nt_addr__format(const struct nt_addr *a, char *buf, size_t size);
/* "10.0.0.1" or "fd00::1", no port; "" if it cannot be told. */
void nt_addr__format_ip(const struct nt_addr *a, char *buf, size_t size);
/* "127.0.0.1:15001" or "[::1]:15001" into @a. */
int nt_addr__parse(const char *s, struct nt_addr *a, struct nt_err *err);
/* Address bytes, then port; the family is not compared (IPv4 is
 * IPv4-mapped either way). For qsort and bsearch. */
int nt_addr__cmp(const void *a, const void *b);

/* ---- descriptors over a unix socket (fdpass.c) ---------------------------- */

struct msghdr;
/* @fds as one SCM_RIGHTS message on @msg, in @cbuf (CMSG_SPACE of them at
 * least); nothing for none. -EINVAL if they do not fit. */
int fdpass__attach(struct msghdr *msg, void *cbuf, size_t cbuf_size,
		   const int *fds, int nfds);
/* The descriptors @msg carries, appended to @fds (*@nfds of @max so far);
 * any past @max is closed, never leaked. */
void fdpass__take(struct msghdr *msg, int *fds, int *nfds, int max);

/* ---- network namespaces ------------------------------------------------- */

/* The inode of the network namespace file @fd; -EINVAL if it is none. */
int netns__ino(int fd, uint32_t *ino);
/* The inode of the network namespace the socket @sock_fd is in
 * (SIOCGSKNS, CAP_NET_ADMIN). */
int netns__of_socket(int sock_fd, uint32_t *ino);
/* A socket created inside @netns_fd (a socket keeps the namespace it was
 * made in); the calling thread is back in its own namespace before this
 * returns. fd or -errno. */
int netns__socket(int netns_fd, int domain, int type, int protocol);

/* ---- cgroups (cgroup v2) ------------------------------------------------ */

/* cgroup id of a directory: its kernfs inode number. */
int cgroup__id(const char *path, uint64_t *id);
/* The first cgroup2 mount in /proc/self/mountinfo, unescaped, into @buf.
 * Returns 0, -ENOENT when there is none, -ENAMETOOLONG, or -errno. */
int cgroup2__mount_point(char *buf, size_t size);

/*
 * The one cgroup walker. Visits the cgroup directory @dfd (owned, closed
 * by the walk) and every cgroup below it, parents first, at most
 * @depth_max levels down. It stays on cgroupfs (one device), never
 * follows a symlink, skips directories that vanish meanwhile, and ids
 * come from the directories themselves (an id is never derived from a
 * name). @fn gets each directory (open for the call only), its id, its
 * path relative to the start ("" for the start itself) and its depth; it
 * returns 0 to go on below it, CGROUP_WALK_PRUNE to skip what is below it,
 * or anything else to end the walk with that value.
 */
#define CGROUP_WALK_PRUNE	1
struct cgroup_walk {
	int depth_max;
	size_t visit_max;		/* directories; 0: no limit, else
					 * -E2BIG past it */
	int (*fn)(int dfd, uint64_t id, const char *rel, int depth, void *arg);
	void *arg;
};
int cgroup__walk(int dfd, const struct cgroup_walk *w);
/* Calls @fn for every pid in the cgroup.procs of the directory @dfd; a
 * non-zero return stops and is returned. A cgroup gone meanwhile has none. */
int cgroup__procs(int dfd, int (*fn)(uint32_t pid, void *arg), void *arg);

/*
 * Which of several cgroup subtrees each cgroup belongs to: @roots[i] owns
 * its own cgroup and every cgroup below it, except a subtree another
 * enrolled root owns (the nearest root wins, as in the BPF programs). A
 * root whose directory no longer has the id it was enrolled with owns
 * nothing. @on_cgroup, when set, sees each cgroup as it is found (its
 * processes, say).
 */
struct cgroup_root {
	const char *path;		/* absolute */
	uint64_t id;
};
struct cgroup_owner {
	uint64_t id;
	size_t root;			/* index into the roots */
};
struct cgroup_owners {
	struct cgroup_owner *v;		/* sorted by id */
	size_t n, cap;
};
int cgroup_owners__collect(struct cgroup_owners *o,
			   const struct cgroup_root *roots, size_t nroots,
			   int (*on_cgroup)(int dfd, uint64_t id, size_t root,
					    void *arg),
			   void *arg, struct nt_err *err);
/* The index of the root that owns @cgroup_id, or -1. */
long cgroup_owners__find(const struct cgroup_owners *o, uint64_t cgroup_id);
void cgroup_owners__free(struct cgroup_owners *o);

/* ---- the event loop ------------------------------------------------------ */

/* One epoll set; a handler is embedded in whatever owns the descriptor. */
struct loop_handler {
	int fd;				/* -1: closed; its events are skipped */
	void (*on_event)(struct loop_handler *h, uint32_t events);
};

struct loop;

int loop__new(struct loop **l);
void loop__free(struct loop *l);
int loop__add(struct loop *l, struct loop_handler *h, uint32_t events);
int loop__mod(struct loop *l, struct loop_handler *h, uint32_t events);
void loop__del(struct loop *l, struct loop_handler *h);
/* Frees @p once the current batch of events is handled: a later event of
 * the same batch may still point at a handler inside it. */
void loop__defer_free(struct loop *l, void *p);
/* Waits up to @timeout_ms (-1: for ever) and handles one batch; stops
 * early once loop__stop() was called. The number of events, or -errno. */
int loop__run_once(struct loop *l, int timeout_ms);
void loop__stop(struct loop *l);
bool loop__stopped(const struct loop *l);

/* ---- file descriptors ---------------------------------------------------- */

#define FDLIMIT_MIN 1024	/* below this, start-up warns */

/* Raises the soft RLIMIT_NOFILE to the hard one; keeps a spare descriptor. */
int fdlimit__init(struct nt_err *err);
void fdlimit__fini(void);
unsigned int fdlimit__max(void);
/* @fd, just allocated, is among the top @keep numbers: fewer than @keep
 * descriptors are left. */
bool fdlimit__in_reserve(int fd, unsigned int keep);
/* Closes a socket with a reset (SO_LINGER 0). */
void fdlimit__reset(int fd);
/* accept() on @listen_fd failed with EMFILE or ENFILE: accepts and resets
 * one connection through the spare descriptor, so the loop does not spin. */
void fdlimit__refuse(int listen_fd);
uint64_t fdlimit__refused(void);

/* ---- sock_diag SOCK_DESTROY ---------------------------------------------- */

/*
 * Ending a TCP connection from outside the process that holds it: what
 * `ss -K` sends, on a NETLINK_SOCK_DIAG socket, which reaches only the
 * sockets of the network namespace it was created in. The owner sees
 * ECONNABORTED, its peer a reset. Needs CONFIG_INET_DIAG_DESTROY and
 * CAP_NET_ADMIN. Shared by the strict sweep and `nametag feature probe`.
 */
#define SOCK_DIAG_TIMEOUT_S	2	/* the daemon has one thread */

/* SO_RCVTIMEO of SOCK_DIAG_TIMEOUT_S on @nlfd. */
int sock_diag__set_timeout(int nlfd);
/* Aborts the TCP socket @id of address family @family (as a dump reported
 * it, cookie included, so a socket closed and its 4-tuple reused meanwhile
 * is not touched: -ENOENT). -EOPNOTSUPP: the kernel cannot; -ETIMEDOUT. */
int sock_diag__destroy(int nlfd, int family, const struct inet_diag_sockid *id);

/* ---- kernel features ----------------------------------------------------- */

/*
 * What this kernel lets nametag do: program, map and helper support, kTLS,
 * destroying sockets, bpffs, cgroup v2 and BTF. Probed by nametagd at
 * start-up, to pick program variants and fall back visibly, and by
 * `nametag feature probe`, which prints them (tools/feature.c). libbpf's
 * own messages are dropped while probing (expected refusals are the point
 * of a probe) unless features_debug is set.
 */
enum nt_feat_prog {
	NT_FEAT_PROG_CGROUP_SOCK_ADDR,	/* connect4/6, sendmsg4/6 */
	NT_FEAT_PROG_CGROUP_SOCK,	/* sock_create: strict refuses raw */
	NT_FEAT_PROG_SOCK_OPS,
	NT_FEAT_PROG_SK_LOOKUP,
	NT_FEAT_PROG_SK_MSG,
	NT_FEAT_PROG_RAW_TRACEPOINT,
	NT_FEAT_PROG_TRACEPOINT,	/* sys_enter_socket: strict kills
					 * packet-socket callers */
	NT_FEAT_PROG_TP_BTF,		/* tracing, BPF_TRACE_RAW_TP */
	NT_FEAT_PROG_FENTRY,		/* tracing, BPF_TRACE_FENTRY */
	NT_FEAT_PROG_LSM,
	NT_FEAT_PROG_CGROUP_UNIX_CONNECT, /* 6.7+: the Workload API's caller
					   * evidence at connect() */
	NT_FEAT_PROG_MAX,
};

enum nt_feat_map {
	NT_FEAT_MAP_HASH,
	NT_FEAT_MAP_LRU_HASH,
	NT_FEAT_MAP_RINGBUF,
	NT_FEAT_MAP_SOCKMAP,
	NT_FEAT_MAP_SOCKHASH,
	NT_FEAT_MAP_SK_STORAGE,		/* evidence dies with its socket */
	NT_FEAT_MAP_HASH_OF_MAPS,	/* a listener table per netns */
	NT_FEAT_MAP_LPM_TRIE,		/* egress destinations */
	NT_FEAT_MAP_MAX,
};

/* Helpers the programs call, in the program type that calls them. */
enum nt_feat_helper {
	NT_FEAT_HELPER_TASK_BTF_SOCK_ADDR,	/* bpf_get_current_task_btf */
	NT_FEAT_HELPER_ANCESTOR_CGROUP_SOCK_ADDR,
	NT_FEAT_HELPER_SK_ASSIGN_SK_LOOKUP,
	NT_FEAT_HELPER_TASK_BTF_SOCK_OPS,	/* evidence at listen() */
	NT_FEAT_HELPER_SEND_SIGNAL_TRACEPOINT,
	NT_FEAT_HELPER_MAX,
};

#define FEATURES_VMLINUX_BTF	"/sys/kernel/btf/vmlinux"
#define FEATURES_TLS_STAT	"/proc/net/tls_stat"

/* One probe's outcome; err is a positive errno when it is known why not. */
struct nt_feature {
	bool available;
	int err;
};

struct nt_features {
	char kernel_release[sizeof(((struct utsname *)0)->release)];
	struct nt_feature progs[NT_FEAT_PROG_MAX];
	struct nt_feature maps[NT_FEAT_MAP_MAX];
	struct nt_feature helpers[NT_FEAT_HELPER_MAX];
	struct nt_feature ktls;		/* setsockopt(TCP_ULP, "tls") */
	bool tls_stat;			/* /proc/net/tls_stat exists */
	/* sock_diag SOCK_DESTROY on a TCP socket (CONFIG_INET_DIAG_DESTROY):
	 * how a namespace turning strict ends the plaintext before it */
	struct nt_feature sock_destroy;
	struct nt_feature bpffs;	/* bpffs_dir is a bpf filesystem */
	char bpffs_dir[PATH_MAX];
	struct nt_feature cgroup2;
	char cgroup2_path[PATH_MAX];
	struct nt_feature vmlinux_btf;	/* /sys/kernel/btf/vmlinux */
};

/* Forward libbpf's messages during probes to the print function that was
 * set before (-d in the CLI, debug level in the daemon). */
extern bool features_debug;

/* Fills @f. Every probe records its own outcome; returns 0, or a negative
 * errno only when @f could not be filled at all. */
int features__probe(struct nt_features *f, const char *bpffs_dir);
const char *features__prog_name(enum nt_feat_prog p);
/* BPF_CGROUP_UNIX_CONNECT (6.7), by number: Debian 12's uapi headers and
 * libbpf 1.1 predate it. */
#define NT_ATTACH_CGROUP_UNIX_CONNECT	49
/* One program probe alone (the datapath's choice of variants). */
void features__probe_prog(enum nt_feat_prog p, struct nt_feature *out);
const char *features__map_name(enum nt_feat_map m);
/* "bpf_get_current_task_btf", and the program type it is probed in. */
const char *features__helper_name(enum nt_feat_helper h, enum nt_feat_prog *prog);

#endif /* NAMETAG_NTCORE_H */
