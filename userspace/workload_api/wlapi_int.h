/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal to userspace/workload_api/: server.c (listener, caps, time,
 * changes), conn.c (a connection: socket, HTTP/2 session, memory budget),
 * grpc.c (requests and responses of one stream), rpc_x509.c and rpc_jwt.c
 * (the RPCs). Not part of the interface: workload_api.h is.
 *
 * Lifetimes. A connection is closed at once (socket, watch) but freed only
 * when the library returns to the loop (server.c reaps), so no callback
 * deep in nghttp2 ever runs on freed memory. Its streams are freed with it
 * from our own list: nghttp2_session_del() calls no stream-close callback.
 */
#ifndef NAMETAG_WLAPI_INT_H
#define NAMETAG_WLAPI_INT_H

#include <stdbool.h>
#include <sys/types.h>
#include <stddef.h>
#include <stdint.h>

#include <nghttp2/nghttp2.h>
#include <openssl/x509.h>
#include <protobuf-c/protobuf-c.h>

#include "userspace/workload_api/workload_api.h"

#define WLAPI_HEADERS_MAX	(16u << 10)	/* bytes of one request's headers */
#define WLAPI_READ_CHUNK	16384
#define WLAPI_READS_PER_EVENT	4		/* then let others have a turn */
#define GRPC_PREFIX		5		/* flag byte, 32-bit length */
#define DIGEST_LEN		32		/* SHA-256 */

/* gRPC status codes (grpc/doc/statuscodes.md). */
enum grpc_status {
	GRPC_OK = 0,
	GRPC_INVALID_ARGUMENT = 3,
	GRPC_PERMISSION_DENIED = 7,
	GRPC_RESOURCE_EXHAUSTED = 8,
	GRPC_UNIMPLEMENTED = 12,
	GRPC_INTERNAL = 13,
	GRPC_UNAVAILABLE = 14,
	GRPC_UNAUTHENTICATED = 16,
};

enum wl_rpc {
	RPC_UNKNOWN,
	RPC_X509_SVID,
	RPC_X509_BUNDLES,
	RPC_JWT_SVID,
	RPC_JWT_BUNDLES,
	RPC_VALIDATE_JWT,
};

/* One gRPC message on its way out: prefix and protobuf bytes. Zeroed when
 * freed (an X509SVIDResponse holds a private key). */
struct wl_msg {
	size_t len, off;
	unsigned char data[];
};

struct wl_conn;

struct wl_stream {
	struct wl_conn *conn;
	struct wl_stream *prev, *next;
	int32_t id;
	enum wl_rpc rpc;
	/* the request */
	size_t hdr_bytes;
	bool post, grpc_ct, security_ok, bad_encoding;
	int security_seen;
	unsigned char *req;
	size_t req_len;
	bool req_overflow;
	/* the response */
	bool answered;			/* headers (or Trailers-Only) submitted */
	bool streaming;			/* a server stream, pushed on change */
	bool ending;			/* trailers follow the queued messages */
	bool deferred;			/* the data provider is parked */
	enum grpc_status end_status;
	char end_msg[160];
	struct wl_msg *cur, *queued;	/* being sent; waiting behind it */
	unsigned char digest[DIGEST_LEN]; /* of the last message queued */
	bool has_digest;
};

struct wl_conn {
	struct wlapi_watch w;		/* first: wlapi__ready finds us */
	struct wlapi *srv;
	struct wl_conn *prev, *next;
	nghttp2_session *h2;
	struct ucred cred;
	void *caller;
	bool caller_ok;
	bool dead;
	bool established;		/* the client's SETTINGS arrived */
	uint32_t watching;		/* events asked of the loop */
	size_t mem;			/* bytes held, all through conn__alloc */
	struct wl_stream *streams;
	unsigned int nstreams;
	unsigned char *out;		/* what the socket did not take yet */
	size_t out_len, out_off;
	time_t opened, idle_since, stalled_since; /* CLOCK_MONOTONIC s; 0:
						   * not idle / not stalled */
};

struct wlapi {
	struct wlapi_config cfg;
	struct wlapi_ops ops;
	struct wlapi_watch listener;	/* fd -1 when not listening */
	char *path;			/* the socket file we created */
	dev_t path_dev;			/* ... as it was right after bind */
	ino_t path_ino;
	bool paused;			/* accept hit EMFILE: resume next tick */
	struct wl_conn *conns, *dead;
	unsigned int nconns;
	unsigned int depth;		/* entry points active (reap at 0) */
	struct wlapi_stats stats;
	uint64_t refused_logged;
};

/* server.c */
time_t wl_now(void);
void wl_log(struct wlapi *srv, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void wl_enter(struct wlapi *srv);
void wl_leave(struct wlapi *srv);

/* conn.c */
int conn__new(struct wlapi *srv, int fd, const struct ucred *cred,
	      struct nt_err *err);
void conn__close(struct wl_conn *c, const char *why);
void conn__free(struct wl_conn *c);
void conn__flush(struct wl_conn *c);
void conn__tick(struct wl_conn *c, time_t now);
void *conn__alloc(struct wl_conn *c, size_t size);
void *conn__calloc(struct wl_conn *c, size_t n, size_t size);
void *conn__realloc(struct wl_conn *c, void *p, size_t size);
void conn__free_mem(struct wl_conn *c, void *p);
ProtobufCAllocator *conn__pb_allocator(struct wl_conn *c,
					       ProtobufCAllocator *a);

/* grpc.c */
int grpc__callbacks(nghttp2_session_callbacks *cb);
void grpc__stream_free(struct wl_stream *s);
/* Queues @m (prefix + packed message) on @s; the stream takes it. When
 * its digest equals the last one queued it is dropped and 0 returned: a
 * stream never carries the same message twice. 1 when queued. */
int grpc__send(struct wl_stream *s, const ProtobufCMessage *m);
void grpc__finish(struct wl_stream *s, enum grpc_status st, const char *msg);
enum grpc_status grpc__status_of(int err);

/* rpc_x509.c, rpc_jwt.c, rpc_bundles.c: each answers the request of @s
 * (@msg, @len: its one message, prefix taken off); rpc__refresh computes a
 * stream's message again after a change. */
void rpc__dispatch(struct wl_stream *s, const uint8_t *msg, size_t len);
void rpc__refresh(struct wl_stream *s, unsigned int what);
void rpc_x509__svid(struct wl_stream *s);
void rpc_x509__bundles(struct wl_stream *s);
void rpc_jwt__bundles(struct wl_stream *s);
void rpc_jwt__svid(struct wl_stream *s, const uint8_t *msg, size_t len);
void rpc_jwt__validate(struct wl_stream *s, const uint8_t *msg, size_t len);
/* The caller's identity (ops->identity); on failure the stream is
 * finished with the status and -1 returned. */
int rpc__get_identity(struct wl_stream *s, struct wlapi_identity *id);
/* Finishes @s with the status a callback's @err means (workload_api.h);
 * @what names what was asked for. Returns -1. */
int rpc__refuse(struct wl_stream *s, int err, const char *what);

/* rpc_bundles.c: the caller's bundles, their encodings, and the one
 * builder of the API's map<string, bytes> fields. */
int rpc__get_bundles(struct wl_stream *s, const struct bundle_set **set,
		     const char **local_td);
/* DER certificates end to end (@first may be NULL); out->data malloc'd. */
int rpc__der_certs(X509 *first, const STACK_OF(X509) *more,
		   ProtobufCBinaryData *out);
int rpc__der_bundle(const struct bundle *b, ProtobufCBinaryData *out);

/* What every map<string, bytes> entry of the API looks like
 * (rpc_bundles.c checks the generated types against it). */
struct pb_map_entry {
	ProtobufCMessage base;
	char *key;
	ProtobufCBinaryData value;
};

struct wl_bundle_ref {
	char key[SPIFFE_SCHEME_LEN + SPIFFE_TD_MAX + 1];
	const struct bundle *b;
};

struct bundle_map {
	struct wl_bundle_ref *refs;	/* sorted by key */
	struct pb_map_entry *e, **ptrs;
	size_t n;
};

/* One entry (of type @d) per bundle of @set but @skip_td's, keyed
 * "spiffe://<td>", sorted, values from @encode (malloc'd). */
int bundle_map__build(struct bundle_map *m, const ProtobufCMessageDescriptor *d,
		      const struct bundle_set *set, const char *skip_td,
		      int (*encode)(const struct bundle *, ProtobufCBinaryData *));
void bundle_map__free(struct bundle_map *m);

#endif /* NAMETAG_WLAPI_INT_H */
