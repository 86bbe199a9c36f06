/* SPDX-License-Identifier: Apache-2.0 */
/* Private to userspace/proxy_*.c: one proxied connection. */
#ifndef NAMETAG_PROXY_CONN_H
#define NAMETAG_PROXY_CONN_H

#include "userspace/proxy.h"

/*
 * Side A is the socket that reached us (accepted), side B the one we
 * opened. Either may carry TLS: B for outbound (to the peer proxy), A for
 * mesh (from the peer proxy). "up" bytes go A -> B, "down" bytes B -> A.
 */
struct pconn;

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
	struct pconn *prev, *next;
};

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
/* Closes both sides: @reset sends RST (SO_LINGER 0) instead of FIN. */
void pconn__close(struct pconn *c, bool reset, const char *why);
uint64_t mono_ns(void);
time_t mono_s(void);

/* proxy_conn.c: state changes reported by the relay. */
void pconn__on_event(struct pconn *c, struct side *s, uint32_t events);

/* proxy_flow.c: the flow record of a proxied connection. */
void pflow__open(struct pconn *c, cJSON *caller);
void pflow__set(struct pconn *c, const char *key, const char *value);
void pflow__verdict(struct pconn *c, const struct decision *d);
void pflow__tls(struct pconn *c, SSL *ssl);
void pflow__ktls(struct pconn *c, bool on);
void pflow__close(struct pconn *c, const char *state);
void pflow__publish(struct pconn *c);

#endif
