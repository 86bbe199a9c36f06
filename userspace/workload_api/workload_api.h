/* SPDX-License-Identifier: Apache-2.0 */
/*
 * userspace/workload_api/ — the SPIFFE Workload API (SPIFFE_Workload_API.md,
 * SPIFFE_Workload_Endpoint.md): gRPC over HTTP/2 on a unix socket, served
 * from the daemon's own event loop (docs/workload-api.md). This header is
 * the library's whole interface.
 *
 * Conventions: functions return 0 or a negative errno; when they fail and
 * @err is not NULL, err->msg holds one lowercase sentence. There are no
 * threads and nothing blocks: the library reads and writes only sockets
 * the loop reported ready, and asks the loop to watch them through
 * struct wlapi_ops. Time reaches it through wlapi__tick() (once a second)
 * and changes through wlapi__changed(). Everything it knows about callers,
 * their identities, the trust bundles and the JWT signing key comes through
 * the callbacks of struct wlapi_ops: the library includes only ca/ca.h of
 * the project, never a daemon header.
 *
 * What it owns: HTTP/2 (nghttp2, on accepted non-blocking sockets), gRPC
 * framing, statuses and Trailers-Only errors, the security header
 * (`workload.spiffe.io: true`, else InvalidArgument before anything is
 * attested), the five RPCs and their semantics (streams pushed again only
 * when their message changes, never twice the same), per-stream state
 * freed with its connection, a memory budget per connection and a cap on
 * connections per uid.
 */
#ifndef NAMETAG_WORKLOAD_API_H
#define NAMETAG_WORKLOAD_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>

#include "ca/ca.h"

/* ---- limits (struct wlapi_config; 0 there means these) ------------------ */

#define WLAPI_CONNS_MAX		1024	/* connections open at once */
#define WLAPI_CONNS_PER_UID	64	/* ... from one uid (SO_PEERCRED) */
#define WLAPI_CONN_MEM_MAX	(2u << 20) /* bytes held for one connection:
					 * HTTP/2 state, requests, queued
					 * responses; over it, it is closed */
#define WLAPI_STREAMS_MAX	256	/* concurrent streams a connection
					 * may open (SETTINGS) */
#define WLAPI_PREFACE_TIMEOUT	10	/* s from accept to an HTTP/2 preface */
#define WLAPI_IDLE_TIMEOUT	600	/* s with no stream open */
#define WLAPI_STALL_TIMEOUT	60	/* s with output the peer does not read */

#define WLAPI_SVIDS_MAX		8	/* identities in one response */
#define WLAPI_REQUEST_MAX	(64u << 10) /* bytes of one request message */

struct wlapi_config {
	unsigned int conns_max;
	unsigned int conns_per_uid;
	size_t conn_mem_max;
	unsigned int streams_max;
	unsigned int preface_timeout;
	unsigned int idle_timeout;
	unsigned int stall_timeout;
	int64_t jwt_leeway;		/* s, ValidateJWTSVID; <0: none, 0:
					 * JWT_SVID_LEEWAY */
};

/* ---- what the daemon provides ------------------------------------------- */

/* One descriptor the library wants watched by the loop. */
struct wlapi_watch {
	int fd;
	void *loop_data;		/* the daemon's own, never touched here */
	void (*ready)(struct wlapi_watch *w, uint32_t events); /* private */
};

/* One X.509-SVID of the caller, borrowed for the duration of the call. */
struct wlapi_svid {
	const struct svid *svid;	/* ID, key, leaf, intermediates */
	const char *hint;		/* NULL or "" for none; unique in the set */
};

struct wlapi_identity {
	struct wlapi_svid svids[WLAPI_SVIDS_MAX]; /* the default one first */
	size_t n;
};

/*
 * Callbacks return 0 or a negative errno that says what to answer
 * (SPIFFE_Workload_Endpoint.md §6):
 *	-EPERM	PermissionDenied: the caller has no identity (not enrolled, its
 *		namespace off, its entry withdrawn);
 *	-ESRCH	Unauthenticated: the caller cannot be told apart any more (it
 *		exited, or its evidence no longer holds);
 *	other	Unavailable.
 * Pointers handed back are borrowed until the library returns to the loop.
 */
struct wlapi_ops {
	void *ctx;			/* passed to every callback */

	/* The event loop. watch() starts watching w->fd for @events
	 * (EPOLLIN | EPOLLOUT), or changes them; when they fire the loop
	 * calls w->ready(w, events) (wlapi__ready does it). unwatch() stops:
	 * once it returns, the loop must not call w->ready for @w again,
	 * even for an event it has already fetched (the library frees @w
	 * at once). */
	int (*watch)(void *ctx, struct wlapi_watch *w, uint32_t events);
	void (*unwatch)(void *ctx, struct wlapi_watch *w);

	/* A connection was accepted on @fd from the process SO_PEERCRED
	 * names in @cred. The daemon takes the kernel's evidence about the
	 * caller now (the cgroup unix connect hook's record, or the pid's
	 * start time from the BPF process table) and hands back its own
	 * handle in *caller. Nothing is attested yet. On failure the
	 * connection is still served, and every call that needs an identity
	 * is answered Unauthenticated. */
	int (*conn_open)(void *ctx, int fd, const struct ucred *cred,
			 void **caller);
	void (*conn_close)(void *ctx, void *caller);

	/* The caller's X.509-SVIDs now, attested afresh or from the
	 * daemon's cache (checked against the evidence taken at connect). */
	int (*identity)(void *ctx, void *caller, struct wlapi_identity *out);

	/* The trust bundles the caller may use: *set holds the local trust
	 * domain's bundle (named *local_td) and the federated ones. */
	int (*bundles)(void *ctx, void *caller, const struct bundle_set **set,
		       const char **local_td);

	/* A JWT-SVID for @id, one of the caller's identities, for the
	 * audiences @aud (node_ca__mint_jwt). *token is malloc'd. -EINVAL
	 * (with @err) answers InvalidArgument. */
	int (*mint_jwt)(void *ctx, void *caller, const struct spiffe_id *id,
			const char *const *aud, size_t naud, char **token,
			struct nt_err *err);

	/* Optional: the wall clock for ValidateJWTSVID (NULL: time()). */
	time_t (*now)(void *ctx);
	/* Optional: one line for the operator (level as syslog's); never
	 * holds a key or a token. */
	void (*log)(void *ctx, int level, const char *msg);
};

/* ---- the server ----------------------------------------------------------- */

struct wlapi;

/* @ops is copied; watch, unwatch, identity, bundles and mint_jwt are
 * required. @cfg may be NULL (every default). */
int wlapi__new(struct wlapi **srv, const struct wlapi_config *cfg,
	       const struct wlapi_ops *ops, struct nt_err *err);
/* Closes every connection (conn_close for each) and the listener, and
 * removes the socket file it created. */
void wlapi__free(struct wlapi *srv);

/* Listens on a unix socket at @path, mode 0666: access is decided by
 * attestation, not by file mode (docs/workload-api.md). A stale socket
 * there is replaced; any other file is refused. The directory must
 * exist. */
int wlapi__listen(struct wlapi *srv, const char *path, struct nt_err *err);

/* Serves one connected stream socket (the library takes @fd, also on
 * failure): for a listener the daemon owns, socket activation and tests. */
int wlapi__adopt(struct wlapi *srv, int fd, struct nt_err *err);

/* What the loop calls when a watched descriptor is ready. */
void wlapi__ready(struct wlapi_watch *w, uint32_t events);

/* Once a second: timeouts, and a listener paused by EMFILE resumes. */
void wlapi__tick(struct wlapi *srv);

/* Something callers see changed: every open stream it concerns computes
 * its message again and sends it if it differs from the last one sent, or
 * ends with the status the callbacks now give (PermissionDenied when an
 * identity was withdrawn). */
#define WLAPI_CHANGED_IDENTITY	1u	/* SVIDs: rotation, entries, modes */
#define WLAPI_CHANGED_BUNDLES	2u	/* local or federated trust bundles */
void wlapi__changed(struct wlapi *srv, unsigned int what);

struct wlapi_stats {
	unsigned int conns, streams;
	size_t mem;			/* bytes held for all connections */
	uint64_t accepted, refused_total, refused_uid, timeouts, over_budget;
	uint64_t calls;			/* requests dispatched to an RPC */
	uint64_t pushes;		/* server-stream messages queued: the
					 * first of each stream and every
					 * change (identical ones are not) */
	uint64_t errors;		/* calls ended with a non-OK status */
	uint64_t jwt_out_of_scope;	/* genuine JWT-SVIDs refused: their
					 * sub is outside the signing node's
					 * scope (fleet mode) */
};

void wlapi__stats(const struct wlapi *srv, struct wlapi_stats *st);

#endif /* NAMETAG_WORKLOAD_API_H */
