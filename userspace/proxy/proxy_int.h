/* SPDX-License-Identifier: Apache-2.0 */
/* Private to userspace/proxy_*.c: one proxied connection. */
#ifndef NAMETAG_PROXY_CONN_H
#define NAMETAG_PROXY_CONN_H

#include "userspace/proxy/proxy.h"

/*
 * Side A is the socket that reached us (accepted), side B the one we
 * opened. Either may carry TLS: B for outbound (to the peer proxy), A for
 * mesh (from the peer proxy). "up" bytes go A -> B, "down" bytes B -> A.
 */
struct pconn;

/* NT2 frames: type, then a 24-bit big-endian payload length. */
#define FRAME_HDR	4
enum frame_type {
	FRAME_OPEN = 'O',	/* client: a new stream, please decide */
	FRAME_VERDICT = 'V',	/* server: "ALLOW <rule>" or "DENY <why>" */
	FRAME_DATA = 'D',
	FRAME_FIN = 'F',	/* no more data this way on this stream */
};

static inline void frame__hdr(uint8_t *h, enum frame_type type, uint32_t len)
{
	h[0] = type;
	h[1] = len >> 16;
	h[2] = len >> 8;
	h[3] = len;
}

struct side {
	struct loop_handler h;		/* h.fd; -1 when closed */
	struct pconn *c;
	SSL *ssl;			/* TLS in userspace; NULL: plain fd I/O
					 * (plaintext, or kTLS in the kernel) */
	bool ktls;			/* the kernel does the record layer */
	bool rd_eof;			/* peer finished sending */
	bool wr_shut;			/* we finished sending to it */
	bool want_in, want_out;		/* what the last I/O asked for */
	uint32_t events;		/* registered epoll interest */
	bool registered;
	/* NT2 (docs/mesh-protocol.md): the stream travels in frames, so
	 * the connection can carry the next stream once this one ends. */
	bool framed;
	uint8_t hdr[FRAME_HDR];		/* a frame header being read */
	uint8_t hdr_len;
	uint32_t frame_left;		/* payload bytes left in the frame */
};

struct pbuf {
	char *data;
	size_t off, len;
	/* With kTLS on one side, bytes move through a pipe by splice() and
	 * never enter userspace; pipe_len counts what sits in the pipe. */
	int pipe[2];
	size_t pipe_len;
};

enum pconn_state {
	PS_CONNECT,		/* B's TCP connect in progress */
	PS_HANDSHAKE,		/* TLS handshake on the TLS side */
	PS_OPEN,		/* mesh, NT2: waiting for the next stream */
	PS_STATUS,		/* outbound: reading the peer's verdict line */
	PS_DELIVER,		/* mesh/plain-in: connecting to the workload */
	PS_RELAY,
	PS_DONE,
};

struct pconn {
	struct side a, b;
	struct side *tls;		/* a, b or NULL */
	enum pconn_kind kind;
	enum pconn_state st;
	struct pbuf up, down;
	char status[PROXY_STATUS_MAX];
	size_t status_len;
	uint32_t netns;
	uint64_t flow_id;
	uint64_t t_start, t_hs;		/* monotonic ns */
	time_t deadline;		/* CLOCK_MONOTONIC seconds */
	uint64_t bytes_up, bytes_down;
	/* What a policy recheck needs. */
	char ns[NS_NAME_MAX];
	enum nt_mode mode;
	/* Interned in nd->ids, given back at close; NULL: not known. */
	const struct spiffe_id *src, *dst;
	uint16_t port;
	struct nt_addr orig_dst;	/* outbound: where the workload dialled */
	/* The TLS connection, which outlives a stream on NT2. */
	const char *tls_version, *cipher;	/* OpenSSL's static names */
	double handshake_ms;
	time_t reuse_until;		/* monotonic s: an SVID on it is re-minted */
	unsigned int trust_gen;		/* the trust bundles it was verified with */
	unsigned int stream;		/* 1 for the handshake's own stream */
	bool reused;			/* outbound: taken from the pool */
	const struct spiffe_id *tunnel_id;	/* mesh: the SVID we presented
						 * (interned, held) */
	/* Mesh, plain-in: the listening socket the verdict judged, and the
	 * delivery's ticket (bpf/lookup.bpf.c) while its SYN is pending. */
	uint64_t dst_cookie;
	struct nt_addr deliver_src, deliver_dst;
	bool ticketed;
	struct pconn *prev, *next;
	/* proxy_admit.c: set while a mesh handshake is pending. */
	struct admit_peer *peer;
	struct pconn *pend_prev, *pend_next;
};

/* proxy_tunnel.c: idle NT2 connections to peer proxies, kept for the next
 * stream of the same workload to the same destination. */
#define TUNNEL_CLIENT_IDLE	30	/* s; the server waits longer */
#define TUNNEL_SERVER_IDLE	60
#define TUNNEL_MAX_IDLE		256
/* Parks side B of an outbound connection whose stream ended cleanly; the
 * side is emptied either way (closed when it cannot be kept). */
void tunnel__park(struct pconn *c);
/* Moves a matching idle tunnel into side B; false when there is none. */
bool tunnel__take(struct pconn *c);
void tunnel__tick(void);
void tunnel__close_all(void);

/* proxy_relay.c: relay__start allocates the buffers and enters PS_RELAY;
 * the caller pumps. */
int relay__start(struct pconn *c);
void relay__free(struct pconn *c);
/* Queues bytes on a direction (allocating its buffer). */
int pbuf__put(struct pbuf *b, const void *data, size_t len);
void relay__pump(struct pconn *c);
void relay__update(struct pconn *c);
int side__register(struct side *s, uint32_t events);
int side__read(struct side *s, char *buf, size_t cap, size_t *n);
int side__write(struct side *s, const char *buf, size_t len, size_t *n);
/* One whole control frame into @buf (*@len accumulates across calls): 1
 * when complete, 0 to wait, -1 on EOF, error or a frame over @cap. */
int side__read_frame(struct side *s, uint8_t *type, char *buf, size_t cap,
		     size_t *len);
/* Writes a small control frame at once: 0, or -EIO. */
int side__write_frame(struct side *s, enum frame_type type, const char *p,
		      size_t len);
/* Closes both sides: @reset sends RST (SO_LINGER 0) instead of FIN. */
void pconn__close(struct pconn *c, bool reset, const char *why);

/* proxy_conn.c: state changes reported by the relay. */
void pconn__on_event(struct pconn *c, struct side *s, uint32_t events);
void pconn__side_init(struct pconn *c, struct side *s);
void pconn__side_close(struct side *s, bool reset);
void pconn__mesh_verdict(struct pconn *c);
/* Takes a reference on the interned copy of @id into @slot (whose old
 * reference is given back); pconn__close() gives it back. */
int pconn__hold_id(const struct spiffe_id **slot, const struct spiffe_id *id,
		   struct nt_err *err);
/* Drops the delivery's ticket once its SYN has been answered. */
void pconn__unticket(struct pconn *c);
/* Outbound: the destination has no node proxy; plaintext where allowed. */
void pconn__outbound_fallback(struct pconn *c, const char *why);
/* The head of the connection list (walk it by ->next). */
struct pconn *pconn__first(void);

/* proxy_admit.c: the mesh port's pending handshakes. Counts @c in, closing
 * an older one at a cap; false when @c itself had to be closed. */
bool admit__handshake(struct pconn *c);
/* Its handshake finished, or it closed: no longer pending. */
void admit__done(struct pconn *c);
/* Under pressure: handshakes get less time, and a mesh connection's flow
 * record waits for its handshake to succeed (what is shed is counted). */
bool admit__pressure(void);
/* A mesh connection accepted under pressure failed: a flow record for it,
 * if this second's few samples are not taken yet. */
void admit__sample_flow(struct pconn *c);
/* Once a second: pending handshakes past their deadline; the log. */
void admit__tick(void);

/* proxy_handshake.c: drives the handshake on c->tls, then the verdict. */
void pconn__handshake(struct pconn *c);
/* Outbound: asks for a verdict (an OPEN frame on NT2); a pooled
 * connection that failed before its verdict is replaced by a new one. */
void pconn__open_stream(struct pconn *c);
void pconn__redial(struct pconn *c);

/* proxy_stream.c: the verdict of a stream, and NT2's next stream. */
void pconn__read_status(struct pconn *c);	/* outbound: the verdict */
void pconn__read_open(struct pconn *c);		/* mesh: the next OPEN */
void pconn__deny(struct pconn *c, const struct decision *d);
int pconn__queue_allow(struct pconn *c);
/* The relay saw both directions end cleanly on an NT2 connection. */
void pconn__stream_done(struct pconn *c);

/* proxy_flow.c: the flow record of a proxied connection. */
void pflow__open(struct pconn *c, cJSON *caller);
void pflow__set(struct pconn *c, const char *key, const char *value);
void pflow__verdict(struct pconn *c, const struct decision *d);
void pflow__tls(struct pconn *c);
void pflow__ktls(struct pconn *c, bool on);
void pflow__flag(struct pconn *c, const char *key, bool on);
void pflow__close(struct pconn *c, const char *state);
void pflow__publish(struct pconn *c);

#endif
