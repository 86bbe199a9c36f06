/* SPDX-License-Identifier: Apache-2.0 */
/*
 * userspace/etcd/ — an etcd v3 client for nametagd's own event loop: etcd's
 * JSON gateway (/v3/kv/range, txn and compaction, /v3/watch, /v3/lease/grant,
 * keepalive and revoke, /v3/auth/authenticate)
 * over libcurl's multi interface. No threads, no gRPC stack. This header is
 * the library's whole interface (docs/fleet.md says what nametag stores).
 *
 * Conventions:
 *  - Functions return 0 or a negative errno; when they fail and @err is not
 *    NULL, err->msg holds one lowercase sentence. Results arrive later, in
 *    callbacks, with the same convention (status 0 or a negative errno, and
 *    an nt_err). etcd's own errors map to errnos: permission denied -EACCES,
 *    compacted revision -ESTALE, lease or key not found -ENOENT, invalid
 *    argument -EINVAL, unavailable -EAGAIN, timeout -ETIMEDOUT; a transport
 *    failure is -ECONNREFUSED, -EHOSTUNREACH or -EIO; a response that breaks
 *    the gateway's format is -EBADMSG and its message names the field.
 *  - The event loop is the caller's: it is handed over in struct etcd_loop
 *    (add/modify/remove an fd, arm one timer), and the caller calls
 *    etcd__on_fd() and etcd__on_timer() back. Callbacks run only from those
 *    two calls, never from inside a libcurl callback, so they may start or
 *    cancel requests, watches, leases and mirrors (but not etcd__free()).
 *  - Keys and values are bytes (pointer and length); results hold a NUL
 *    after each (not counted) so text can be used as a C string. Pointers
 *    in a callback's arguments are valid during the callback only.
 *  - The gateway's int64s are JSON strings: they are read strictly (decimal,
 *    no sign but '-', no leading zero, in range), and a JSON number where a
 *    string belongs is an error. Keys and values are strict base64. Fields
 *    the gateway leaves out are proto3 defaults (0, false, empty); fields
 *    this client does not know are ignored, so a newer etcd still works.
 *  - Unary requests are never retried by the library (a txn must not be
 *    applied twice); watches, leases and mirrors reconnect by themselves
 *    with exponential backoff and say so through their callbacks.
 */
#ifndef NAMETAG_ETCD_H
#define NAMETAG_ETCD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/ntcore.h"	/* struct nt_err */

/* ---- the client ---------------------------------------------------------- */

struct etcd_loop {
	void *ctx;
	/* Watch @fd for @events (EPOLLIN, EPOLLOUT), change them, forget it. */
	int (*fd_add)(void *ctx, int fd, uint32_t events);
	int (*fd_mod)(void *ctx, int fd, uint32_t events);
	int (*fd_del)(void *ctx, int fd);
	/* Arm the one timer to fire once in @ms (0: at once), or disarm it
	 * (-1). Each call replaces the previous arming. */
	int (*timer)(void *ctx, int64_t ms);
};

struct etcd_config {
	const char *const *endpoints;	/* "http://127.0.0.1:2379", https:// */
	size_t nendpoints;
	/* TLS: the CA that signed etcd's certificate, and this client's
	 * certificate and key (etcd --client-cert-auth). Through the gateway
	 * the certificate must carry no CN: etcd refuses it otherwise
	 * (docs/fleet.md), and identity comes from user and password. */
	const char *ca_file, *cert_file, *key_file;
	/* etcd auth: a user with roles; the token is fetched and renewed. */
	const char *user, *password;
	int64_t timeout_ms;		/* a unary request; 0: 5000 */
	int64_t backoff_min_ms;		/* 0: 100 */
	int64_t backoff_max_ms;		/* 0: 5000 */
	struct etcd_loop loop;		/* etcd_runner__client() sets it */
};

struct etcd_client;

int etcd__new(struct etcd_client **c, const struct etcd_config *cfg,
	      struct nt_err *err);
/* Cancels everything without calling back (requests, and the watches,
 * leases and mirrors still running, which it frees), and frees. Not from
 * inside a callback. */
void etcd__free(struct etcd_client *c);

/* The loop's half: @events are EPOLL* bits of @fd. */
int etcd__on_fd(struct etcd_client *c, int fd, uint32_t events);
int etcd__on_timer(struct etcd_client *c);

/* Requests in flight, watches, leases and mirrors: 0 when idle. */
size_t etcd__busy(const struct etcd_client *c);

/* ---- keys and values ----------------------------------------------------- */

struct etcd_kv {
	const char *key;		/* NUL-terminated; key_len bytes */
	size_t key_len;
	const char *value;		/* NUL-terminated; value_len bytes */
	size_t value_len;
	int64_t create_revision, mod_revision, version, lease;
};

#define ETCD_PREFIX	0x1u		/* every key that starts with key */
#define ETCD_KEYS_ONLY	0x2u

struct etcd_range {
	int64_t revision;		/* of the store when answered */
	const struct etcd_kv *kvs;
	size_t n;
	int64_t count;			/* all matches, even past a limit */
	bool more;
};

typedef void (*etcd_range_cb)(void *arg, int status,
			      const struct etcd_range *r,
			      const struct nt_err *err);

/* @revision 0: the latest. @limit 0: no limit. */
int etcd__range(struct etcd_client *c, const char *key, size_t key_len,
		unsigned int flags, int64_t revision, int64_t limit,
		etcd_range_cb cb, void *arg, struct nt_err *err);

/* ---- transactions -------------------------------------------------------- */

/* One condition: the key's mod_revision equals @mod_revision; 0 means the
 * key must not exist. */
struct etcd_cond {
	const char *key;
	size_t key_len;
	int64_t mod_revision;
};

enum etcd_op_kind { ETCD_OP_PUT, ETCD_OP_DELETE };

struct etcd_op {
	enum etcd_op_kind kind;
	const char *key;
	size_t key_len;
	const char *value;		/* PUT */
	size_t value_len;
	int64_t lease;			/* PUT: 0 for none */
	unsigned int flags;		/* DELETE: ETCD_PREFIX */
};

struct etcd_txn_result {
	bool succeeded;
	int64_t revision;		/* of the store after the txn */
	/* When it failed: each condition's key as it is now (mod_revision 0
	 * when absent), so the caller can say who changed what. */
	const struct etcd_kv *current;
	size_t ncurrent;
};

typedef void (*etcd_txn_cb)(void *arg, int status,
			    const struct etcd_txn_result *r,
			    const struct nt_err *err);

/* If every condition holds, applies @ops, all or nothing. A condition that
 * fails is not an error: status 0 and succeeded false. */
int etcd__txn(struct etcd_client *c, const struct etcd_cond *conds,
	      size_t nconds, const struct etcd_op *ops, size_t nops,
	      etcd_txn_cb cb, void *arg, struct nt_err *err);

/* The three writes nametag's CLI needs, as one-condition txns. */
int etcd__put_if(struct etcd_client *c, const char *key, const char *value,
		 size_t value_len, int64_t mod_revision, int64_t lease,
		 etcd_txn_cb cb, void *arg, struct nt_err *err);
int etcd__delete_if(struct etcd_client *c, const char *key,
		    int64_t mod_revision, etcd_txn_cb cb, void *arg,
		    struct nt_err *err);
/* Unconditional: a txn with no condition. */
int etcd__put(struct etcd_client *c, const char *key, const char *value,
	      size_t value_len, int64_t lease, etcd_txn_cb cb, void *arg,
	      struct nt_err *err);

/* Compacts the history up to @revision (the operator's, and the tests'). */
int etcd__compact(struct etcd_client *c, int64_t revision, etcd_txn_cb cb,
		  void *arg, struct nt_err *err);

/* ---- leases -------------------------------------------------------------- */

typedef void (*etcd_lease_cb)(void *arg, int status, int64_t id, int64_t ttl,
			      const struct nt_err *err);

int etcd__lease_grant(struct etcd_client *c, int64_t ttl, etcd_lease_cb cb,
		      void *arg, struct nt_err *err);
/* One keepalive; @ttl in the answer is 0 when the lease is gone (status
 * -ENOENT). */
int etcd__lease_keepalive(struct etcd_client *c, int64_t id, etcd_lease_cb cb,
			  void *arg, struct nt_err *err);
int etcd__lease_revoke(struct etcd_client *c, int64_t id, etcd_lease_cb cb,
		       void *arg, struct nt_err *err);

/* A lease kept alive by the library (a node's key lives on one): granted,
 * then renewed every ttl/3; when renewals fail for longer than the TTL, or
 * etcd says the lease is gone, lost() is called and a new lease is granted,
 * whose granted() tells the holder to write its keys again. */
struct etcd_lease_ops {
	void (*granted)(void *arg, int64_t id, int64_t ttl);
	void (*lost)(void *arg, int status, const struct nt_err *err);
};

struct etcd_lease;

int etcd_lease__start(struct etcd_client *c, int64_t ttl,
		      const struct etcd_lease_ops *ops, void *arg,
		      struct etcd_lease **out, struct nt_err *err);
int64_t etcd_lease__id(const struct etcd_lease *l);	/* 0: none now */
/* Stops keeping it alive; @revoke also asks etcd to drop it (and its
 * keys) now rather than at its TTL. */
void etcd_lease__stop(struct etcd_lease *l, bool revoke);

/* ---- watches ------------------------------------------------------------- */

enum etcd_event_kind { ETCD_EV_PUT, ETCD_EV_DELETE };

struct etcd_event {
	enum etcd_event_kind kind;
	struct etcd_kv kv;		/* DELETE: key and mod_revision only */
};

struct etcd_watch_ops {
	/* Events of one response, in revision order. */
	void (*events)(void *arg, const struct etcd_event *ev, size_t n,
		       int64_t revision);
	/* The stream is up (again); @revision: the store's. */
	void (*connected)(void *arg, int64_t revision);
	/* Every event up to @revision has been delivered (progress notify). */
	void (*progress)(void *arg, int64_t revision);
	/* The stream broke; it is resumed from the next revision after
	 * @retry_ms. */
	void (*disconnected)(void *arg, int status, int64_t retry_ms,
			     const struct nt_err *err);
	/* The watch is over and will not resume: status -ESTALE with
	 * @compact_revision when the history it needs was compacted (re-list,
	 * then watch again from the listing's revision + 1), or another
	 * errno (canceled by etcd, malformed response). The watch object
	 * stays valid until etcd_watch__cancel(). */
	void (*ended)(void *arg, int status, int64_t compact_revision,
		      const struct nt_err *err);
};

struct etcd_watch;

/* Watches @key (ETCD_PREFIX: every key below it) from @start_revision (0:
 * from now). @ops must outlive the watch. */
int etcd__watch(struct etcd_client *c, const char *key, size_t key_len,
		unsigned int flags, int64_t start_revision,
		const struct etcd_watch_ops *ops, void *arg,
		struct etcd_watch **out, struct nt_err *err);
/* Stops and frees; no callback follows. */
void etcd_watch__cancel(struct etcd_watch *w);
/* The revision the watch resumes from. */
int64_t etcd_watch__next_revision(const struct etcd_watch *w);

/* ---- mirrors: a prefix kept in memory ------------------------------------ */

/* What a node does with etcd: list a prefix, watch it from the listing's
 * revision + 1, apply each batch of events, and on compaction (or a watch
 * that cannot resume) list it again. The mirror is always a consistent
 * snapshot at one revision. */
struct etcd_mirror;

struct etcd_mirror_ops {
	/* The snapshot changed: after the first listing and every re-list
	 * (@relisted, @ev NULL: anything may have changed), or after a batch
	 * of events (@ev, @n). */
	void (*update)(void *arg, const struct etcd_mirror *m, bool relisted,
		       const struct etcd_event *ev, size_t n);
	/* In sync (watching, caught up) or not, with the reason. */
	void (*sync)(void *arg, bool in_sync, int status,
		     const struct nt_err *err);
};

int etcd_mirror__start(struct etcd_client *c, const char *prefix,
		       const struct etcd_mirror_ops *ops, void *arg,
		       struct etcd_mirror **out, struct nt_err *err);
/* One key only, not the keys below it: what an etcd role that grants a
 * single key (a node's ca/answers/<node>) lets a client read and watch. */
int etcd_mirror__start_key(struct etcd_client *c, const char *key,
			   const struct etcd_mirror_ops *ops, void *arg,
			   struct etcd_mirror **out, struct nt_err *err);
void etcd_mirror__stop(struct etcd_mirror *m);
int64_t etcd_mirror__revision(const struct etcd_mirror *m);
size_t etcd_mirror__count(const struct etcd_mirror *m);
/* In key order. */
const struct etcd_kv *etcd_mirror__at(const struct etcd_mirror *m, size_t i);
const struct etcd_kv *etcd_mirror__get(const struct etcd_mirror *m,
				       const char *key, size_t key_len);
/* How many times it re-listed (after compaction or a failed resume). */
unsigned int etcd_mirror__relists(const struct etcd_mirror *m);

/* ---- a loop for programs without one -------------------------------------- */

/* An epoll loop that drives the clients made on it: for the CLI's writers,
 * the signer, benchmarks and tests (nametagd brings its own loop). */
struct etcd_runner;

int etcd_runner__new(struct etcd_runner **r, struct nt_err *err);
/* Frees the clients made on it, too. */
void etcd_runner__free(struct etcd_runner *r);
/* A client on this runner; @cfg's loop is ignored (the runner's is used). */
int etcd_runner__client(struct etcd_runner *r, const struct etcd_config *cfg,
			struct etcd_client **c, struct nt_err *err);
/* Turns the loop until *@done is true, or @timeout_ms pass (-ETIMEDOUT;
 * -1: no limit). @done may be NULL to just wait. */
int etcd_runner__run(struct etcd_runner *r, const volatile bool *done,
		     int64_t timeout_ms);

/* ---- parsing (exposed for the fuzz target) -------------------------------- */

/* Parses one gateway response body of a range (or a watch line when
 * @watch): the same strict readers the client uses. */
int etcd__parse_check(const char *json, size_t len, bool watch,
		      struct nt_err *err);

#endif /* NAMETAG_ETCD_H */
