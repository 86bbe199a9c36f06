/* SPDX-License-Identifier: Apache-2.0 */
/* Private to userspace/proxy/ (and its unit tests): the proxy's state and
 * one proxied connection. */
#ifndef NAMETAG_PROXY_INT_H
#define NAMETAG_PROXY_INT_H

#include "userspace/proxy/proxy.h"

/* ---- the proxy ---------------------------------------------------------------- */

#define PEER_BUCKETS		256

struct pconn;
struct served;
struct tunnel;
struct admit_peer;
struct pworker;
struct pworkers;

/* TLS contexts and the trust bundles they verify with (tls.c). The
 * contexts are set up once and never changed: relay threads make
 * handshakes with them. */
struct trust_ref;
struct proxy_tls {
	SSL_CTX *client, *server;
	struct trust_ref *ref;		/* holds @trust; SSL objects hold it too */
	struct bundle_set *trust;	/* the set in force (main thread) */
	struct timespec trust_mtime[2];
	unsigned int trust_gen;		/* +1 at every reload */
};

/* The mesh port's pending handshakes and what was shed (admit.c). */
struct proxy_admit {
	unsigned int reserve;		/* descriptors */
	unsigned int pending_max, peer_max;
	struct admit_peer *peers[PEER_BUCKETS];
	unsigned int npeers, npending;
	struct pconn *oldest, *newest;	/* pending, in accept order */
	uint32_t seed;
	time_t short_until;		/* descriptors ran short: pressure */
	uint64_t shed[PROXY_SHED_MAX];	/* PROXY_SHED_FDLIMIT is fdlimit's */
	unsigned int samples;		/* flow records of failed handshakes */
	time_t sample_sec;		/* ... in this second */
	uint64_t logged[PROXY_SHED_MAX];
	time_t logged_at;
};

struct proxy {
	struct proxy_env env;
	struct proxy_opts opts;
	struct loop *loop;
	struct datapath *dp;
	struct pconn *conns;		/* conn.c */
	size_t nconns;
	struct served **served;		/* listen.c: opts.max_netns slots, */
	size_t nserved;			/* ... the first nserved in use */
	uint64_t netns_refused;		/* not served: the limit */
	uint64_t port_taken;
	struct proxy_tls tls;		/* tls.c */
	struct tunnel *idle_head, *idle_tail;	/* tunnel.c, newest first */
	size_t nidle;
	struct proxy_admit adm;		/* admit.c */
	/* drain.c: listeners handed over by an earlier nametagd, until
	 * proxy__serve takes them; and whether this one drains. */
	struct adopted_listener *adopted;
	bool draining;
	/* worker.c: the relay threads; NULL: relays run in this thread. */
	struct pworkers *wk;
	/* Bytes are read into one scratch buffer (relay.c) and written on at
	 * once; only what the far side cannot take yet is copied. */
	char scratch[PROXY_BUF];
};

/* ---- one proxied connection ---------------------------------------------------- */

enum pconn_kind {
	PCONN_OUTBOUND,		/* workload -> us -> peer proxy (mTLS) */
	PCONN_MESH,		/* peer proxy (mTLS) -> us -> workload */
	PCONN_PLAIN_IN,		/* plaintext client -> us -> workload */
	PCONN_EGRESS,		/* workload -> us -> plaintext destination */
	PCONN_DIRECT,		/* workload -> us -> workload this proxy
				 * also serves (direct.c): no TLS */
};

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

/*
 * Side A is the socket that reached us (accepted), side B the one we
 * opened. Either may carry TLS: B for outbound (to the peer proxy), A for
 * mesh (from the peer proxy). "up" bytes go A -> B, "down" bytes B -> A.
 */
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

/* How a relay ended (relay__end). */
enum relay_end {
	RELAY_RUNNING,
	RELAY_RESET,		/* a side reset, or I/O failed */
	RELAY_EPOLL,		/* registering a side failed */
	RELAY_DONE,		/* both directions ended cleanly */
	RELAY_TIMEOUT,		/* idle past PROXY_IDLE_TIMEOUT */
	RELAY_KILLED,		/* the main thread's @kill */
	RELAY_RECALLED,		/* still relaying: back to the main thread */
	RELAY_HANDSHAKE,	/* a worker's handshake ended (c->hs_failed) */
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
	struct proxy *px;
	struct side a, b;
	struct side *tls;		/* a, b or NULL */
	enum pconn_kind kind;
	enum pconn_state st;
	struct pbuf up, down;
	char status[PROXY_STATUS_MAX];
	size_t status_len;
	uint32_t netns;
	uint32_t b_netns;		/* side B's netns when not @netns
					 * (PCONN_DIRECT); 0: @netns */
	uint64_t flow_id;
	uint64_t peer_flow_id;		/* PCONN_DIRECT: the caller's outbound
					 * record, kept in step with flow_id's */
	uint64_t t_start, t_hs;		/* monotonic ns */
	time_t deadline;		/* CLOCK_MONOTONIC seconds */
	uint64_t bytes_up, bytes_down;
	/* What a policy recheck needs. */
	char ns[NT_NS_NAME_MAX];
	enum nt_mode mode;
	/* Interned in env.ids, given back at close; NULL: not known. */
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
	bool adopted;			/* handed over by an earlier nametagd
					 * (handover.c): its stream is its last */
	const struct spiffe_id *tunnel_id;	/* mesh: the SVID we presented
						 * (interned, held) */
	/* Mesh, plain-in: the listening socket the verdict judged, and the
	 * delivery's ticket (bpf/lookup.bpf.c) while its SYN is pending. */
	uint64_t dst_cookie;
	struct nt_addr deliver_src, deliver_dst;
	bool ticketed;
	struct pconn *prev, *next;
	/*
	 * worker.c: while it relays, a connection may live on a relay
	 * thread. @away and @loop are written by the main thread only, while
	 * no worker holds it; @end by the worker that holds it, read by the
	 * main thread once it is given back; @kill is the main thread's word
	 * to the worker (why to end it with a reset).
	 */
	struct pworker *away;
	struct loop *loop;		/* where its sides are registered */
	enum relay_end end;
	_Atomic(const char *) kill;
	struct pconn *w_prev, *w_next;	/* the worker's list */
	struct pconn *q_next;		/* in a hand-over queue */
	/* How a handshake a worker ran ended: written by the worker, read
	 * by the main thread once it is back (handshake.c). */
	bool hs_failed, hs_unenrolled;
	char hs_why[NT_ERR_MSG_MAX];
	/* admit.c: set while a mesh handshake is pending. */
	struct admit_peer *peer;
	struct pconn *pend_prev, *pend_next;
};

/* ---- conn.c: lifecycle, events ---------------------------------------------------- */

struct pconn *pconn__new(struct proxy *px, enum pconn_kind kind, int fd,
			 uint32_t netns);
void pconn__side_init(struct pconn *c, struct side *s);
void pconn__side_close(struct side *s, bool reset);
/* Closes both sides: @reset sends RST (SO_LINGER 0) instead of FIN;
 * @why (a string literal) is the flow's state. */
void pconn__close(struct pconn *c, bool reset, const char *why);
void pconn__close_all(struct proxy *px);
/* Closes both sides without a reset: close_notify where TLS, FIN, what
 * is unread discarded first (drain.c). */
void pconn__close_clean(struct pconn *c, const char *why);
void pconn__tick(struct proxy *px);
/* Takes a reference on the interned copy of @id into @slot (whose old
 * reference is given back); pconn__close() gives it back. */
int pconn__hold_id(struct pconn *c, const struct spiffe_id **slot,
		   const struct spiffe_id *id, struct nt_err *err);
/* Side B: a non-blocking connect from inside the connection's netns to
 * @to at @port; a delivery to a workload is ticketed first. */
int pconn__connect_b(struct pconn *c, const struct nt_addr *to, uint16_t port);
/* The netns side B lives in: the destination's for PCONN_DIRECT. */
static inline uint32_t pconn__b_netns(const struct pconn *c)
{
	return c->b_netns ? c->b_netns : c->netns;
}
/* Drops the delivery's ticket once its SYN has been answered. */
void pconn__unticket(struct pconn *c);
/* TCP_NODELAY and friends on every proxy socket. */
void proxy__tune_socket(int fd);
/* The enforce/ mode of a namespace mode. */
enum enforce_mode proxy__mode(enum nt_mode m);

/* ---- listen.c ------------------------------------------------------------------------ */

/* ---- listen.c: see proxy.h ------------------------------------------------------------ */
/* At exit: every listener closes. */
void proxy__unserve_all(struct proxy *px);
/* A listener of kind @k in netns @ino handed over by an earlier nametagd,
 * now the caller's; -1 when there is none (drain.c). */
int proxy__adopted_fd(struct proxy *px, uint32_t ino, enum proxy_lkind k);

/* ---- accept.c: the three kinds of connection up to their verdict -------------------- */

void pconn__accept_outbound(struct proxy *px, int fd, uint32_t netns);
void pconn__accept_mesh(struct proxy *px, int fd, uint32_t netns);
void pconn__accept_plain(struct proxy *px, int fd, uint32_t netns);
/* Who would get a connection to @addr in @netns, and its SVID (@svid may
 * be NULL). */
int proxy__listener(struct proxy *px, uint32_t netns, const struct nt_addr *addr,
		    struct proxy_listener *out, const struct svid **svid,
		    struct nt_err *err);
void pconn__mesh_verdict(struct pconn *c);
bool pconn__decide(struct pconn *c, struct decision *d);
/* Outbound, same-node direct: true when the connection was taken (judged
 * and delivered here, or closed); false: go on the mTLS way (direct.c). */
bool pconn__direct(struct pconn *c);
/* Outbound: asks for a verdict (an OPEN frame on NT2); a pooled
 * connection that failed before its verdict is replaced by a new one. */
void pconn__open_stream(struct pconn *c);
void pconn__redial(struct pconn *c);
/* Outbound: the destination has no node proxy; plaintext where allowed. */
void pconn__outbound_fallback(struct pconn *c, const char *why);

/* ---- handshake.c, stream.c: TLS, then the verdict of each stream ------------------- */

/* A step of the handshake, on the main thread or the worker holding @c. */
void pconn__handshake(struct pconn *c);
/* Back on the main thread after a worker ran its handshake. */
void pconn__handshake_back(struct pconn *c, enum relay_end end);
void pconn__read_status(struct pconn *c);	/* outbound: the verdict */
void pconn__read_open(struct pconn *c);		/* mesh: the next OPEN */
void pconn__deny(struct pconn *c, const struct decision *d);
int pconn__queue_allow(struct pconn *c);
/* The relay saw both directions end cleanly on an NT2 connection. */
void pconn__stream_done(struct pconn *c);

/* ---- wire.c: parsers of what peers send (fuzzed: tests/fuzz) ------------------------ */

/* The port of "p8080.nametag.invalid" in a ClientHello's server_name
 * extension (@ext, @len bytes, as OpenSSL hands it over). */
int proxy__sni_port(const unsigned char *ext, size_t len, uint16_t *port);
/* A verdict, "ALLOW[ rule]" or "DENY[ why]" (NUL-terminated): true when
 * allowed; *@reason is what follows the word ("" when nothing does), or,
 * for anything else, a reason of ours. */
bool proxy__verdict_parse(const char *v, const char **reason);
/* An ALLOW's reason for a verdict only recorded: "would-deny: <reason>"
 * (observe, permissive), and back. */
void proxy__dry_run(char *buf, size_t size, const struct decision *d);
bool proxy__dry_run_parse(const char **reason, bool *would_allow);

/* ---- frame.c: I/O on one side, plain, TLS or kTLS, framed or not ---------------------- */

enum io { IO_OK, IO_AGAIN, IO_EOF, IO_RESET };

enum io side__io_read(struct side *s, char *buf, size_t cap, size_t *n);
enum io side__io_write(struct side *s, const char *buf, size_t len, size_t *n);
/* Our half-close towards @s: close_notify on TLS, then FIN. */
enum io side__shutdown(struct side *s);
/* NT2: reads frame headers until a DATA frame with payload is open
 * (IO_OK, frame_left set) or FIN ends the stream (IO_EOF). */
enum io side__next_frame(struct side *s);
/* Writes @len bytes; how many went, or -1 on reset. */
ssize_t side__write_some(struct side *s, const char *p, size_t len);
/* For the verdict line: 1 done, 0 try again (want_in/out set), -1 EOF or
 * error. */
int side__read(struct side *s, char *buf, size_t cap, size_t *n);
int side__write(struct side *s, const char *buf, size_t len, size_t *n);
/* One whole control frame into @buf (*@len accumulates across calls): 1
 * when complete, 0 to wait, -1 on EOF, error or a frame over @cap. */
int side__read_frame(struct side *s, uint8_t *type, char *buf, size_t cap,
		     size_t *len);
/* Writes a small control frame at once: 0, or -EIO. */
int side__write_frame(struct side *s, enum frame_type type, const char *p,
		      size_t len);
int side__register(struct side *s, uint32_t events);

/* ---- relay.c ----------------------------------------------------------------------- */

/* relay__start allocates the buffers and enters PS_RELAY; the caller
 * then calls relay__go, which pumps here or hands it to a worker. */
int relay__start(struct pconn *c);
void relay__go(struct pconn *c);
/* The relay is over (or, RELAY_RECALLED, moves back to the main thread):
 * on a worker, the connection is given back to the main thread, which
 * then does what @end says; on the main thread, that is done at once. */
void relay__end(struct pconn *c, enum relay_end end);
void relay__free(struct pconn *c);
/* Queues bytes on a direction (allocating its buffer). */
int pbuf__put(struct pbuf *b, const void *data, size_t len);
void relay__pump(struct pconn *c);
void relay__update(struct pconn *c);

/* ---- worker.c: relay and handshake threads (docs/process-model.md) ------------------------------ */

/* Starts @n relay threads (n >= 2; fewer: relays stay in this thread). */
int pworkers__start(struct proxy *px, unsigned int n, struct nt_err *err);
/* Recalls every connection, then stops and joins the threads. */
void pworkers__stop(struct proxy *px);
/* Hands @c (PS_RELAY, on the main thread) to the least loaded worker;
 * false: no workers, relay it here. */
bool pworkers__give(struct pconn *c);
/* On the worker holding @c: it leaves the worker after this batch. */
void pworker__give_back(struct pconn *c, enum relay_end end);
/* On the worker holding @c: its handshake ended (counted), it goes back. */
void pworker__handshake_over(struct pconn *c, bool ok);
/* Handshakes each worker finished and failed since start (n entries). */
unsigned int pworkers__handshakes(const struct proxy *px, uint64_t *done,
				  uint64_t *failed, unsigned int n);
/* The main thread asks the worker holding @c to end it with a reset;
 * its flow closes with @why once it is back. */
void pworkers__kill(struct pconn *c, const char *why);
/* Every connection comes back to the main thread before this returns. */
void pworkers__recall(struct proxy *px);
/* The relay buffer of the thread that runs @c. */
char *pworker__scratch(struct pconn *c);
unsigned int pworkers__count(const struct proxy *px);

/* ---- recheck.c --------------------------------------------------------------------- */

/* @c judged again as proxy__recheck judges each: 1 allowed (@d says
 * why), 0 not judged here (an outbound stream: its peer judges), -1
 * denied and closed with a reset. */
int pconn__recheck(struct pconn *c, proxy_closed_fn closed, void *arg,
		   struct decision *d);

/* ---- tunnel.c: idle NT2 connections to peer proxies ----------------------------------- */

/* Kept for the next stream of the same workload to the same destination. */
#define TUNNEL_CLIENT_IDLE	30	/* s; the server waits longer */
#define TUNNEL_SERVER_IDLE	60
#define TUNNEL_MAX_IDLE		256
/* Parks side B of an outbound connection whose stream ended cleanly; the
 * side is emptied either way (closed when it cannot be kept). */
void tunnel__park(struct pconn *c, time_t now);
/* Moves a matching idle tunnel into side B; false when there is none. */
bool tunnel__take(struct pconn *c, time_t now);
void tunnel__expire(struct proxy *px, time_t now);
void tunnel__close_all(struct proxy *px);

/* ---- admit.c: the mesh port's pending handshakes ---------------------------------------- */

/* Derives the caps and the descriptor reserve from the fd limit. */
void admit__init(struct proxy *px);
/* A connection just accepted on a proxy port got descriptor @fd, which
 * may be within the reserve: then a pending handshake is shed to make
 * room, or if there is none @fd is reset and closed (false). @local: from
 * a workload on this node (the outbound port), which may use half the
 * reserve; the network stops before it. */
bool admit__fd(struct proxy *px, int fd, bool local);
/* accept() on @listen_fd failed with EMFILE or ENFILE: true when a
 * pending handshake was shed to make room (accept again), else one
 * queued connection was reset through the spare descriptor. */
bool admit__no_fd(struct proxy *px, int listen_fd);
/* Counts @c in, closing an older one at a cap; false when @c itself had
 * to be closed. */
bool admit__handshake(struct pconn *c);
/* Its handshake finished, or it closed: no longer pending. */
void admit__done(struct pconn *c);
/* Under pressure: handshakes get less time, and a mesh connection's flow
 * record waits for its handshake to succeed (what is shed is counted). */
bool admit__pressure(const struct proxy *px);
/* A mesh connection accepted under pressure failed: a flow record for it,
 * if this second's few samples are not taken yet. */
void admit__sample_flow(struct pconn *c);
/* Once a second: pending handshakes past their deadline; the log. */
void admit__tick(struct proxy *px);
/* What was shed, by kind, the descriptor limit's refusals included. */
void admit__shed_counts(const struct proxy_admit *adm,
			uint64_t n[PROXY_SHED_MAX]);

/* ---- tls.c ------------------------------------------------------------------------------ */

int proxy_tls__init(struct proxy *px, struct nt_err *err);
void proxy_tls__fini(struct proxy *px);
/* Reloads trust bundles when the state dir's files changed. */
void proxy_tls__refresh_trust(struct proxy *px);
SSL *proxy_tls__client(struct proxy *px, const struct svid *svid,
		       uint16_t orig_port, struct nt_err *err);
SSL *proxy_tls__server(struct proxy *px, uint32_t netns, struct nt_err *err);
/* The generation of the trust bundles @ssl verifies with (those in force
 * when it was made). */
unsigned int proxy_tls__trust_gen(SSL *ssl);
/* The verified peer ID of a finished handshake; NULL if none. */
const struct spiffe_id *proxy_tls__peer_id(SSL *ssl);
/* Why verification failed, "" if it did not. */
const char *proxy_tls__verify_error(SSL *ssl);
/* The ID of the SVID this end presented; NULL if none. */
const struct spiffe_id *proxy_tls__local_id(SSL *ssl);
/* Server side: the port the client asked for (from SNI). */
/* Server side, once the ClientHello named a port: the namespace of the
 * listener it reaches, and its mode; NULL before. */
const char *proxy_tls__local_ns(SSL *ssl, enum nt_mode *mode);
uint16_t proxy_tls__orig_port(SSL *ssl);
/* Both ends agreed on NT2 (ALPN "nt2"). */
bool proxy_tls__framed(SSL *ssl);
/* Seconds this connection may still start streams: until the first of
 * its two SVIDs is half way through its life (0: already past). */
long proxy_tls__reuse_left(SSL *ssl);
/* Frees the verification state once the handshake is over and its results
 * were taken: the peer ID, the verify error and the port read NULL/""/0. */
void proxy_tls__handshake_done(SSL *ssl);

/* ---- flow.c: the flow record of a proxied connection ---------------------------------- */

/* Opens the record; @who (held, may be NULL) goes to it. */
void pflow__open(struct pconn *c, struct workload *who);
void pflow__reason(struct pconn *c, const char *why);
void pflow__wire_src(struct pconn *c);
void pflow__verdict(struct pconn *c, const struct decision *d);
/* The verdict the peer proxy sent (outbound). */
void pflow__peer_verdict(struct pconn *c, bool allow, const char *reason);
void pflow__namespace(struct pconn *c);
void pflow__svid(struct pconn *c, const struct svid *svid);
/* Outbound fell back to plaintext egress: @why is a string literal. */
void pflow__egress(struct pconn *c, const char *why);
void pflow__plaintext(struct pconn *c);
void pflow__tls(struct pconn *c);
void pflow__ktls(struct pconn *c, bool on);
void pflow__splice(struct pconn *c);
/* PCONN_DIRECT: the outbound record becomes the peer one, and an inbound
 * record, as the mesh end would open, becomes the connection's; both go
 * from @wire_src, transport same-node. */
void pflow__direct(struct pconn *c, const struct nt_addr *wire_src);
void pflow__close(struct pconn *c, const char *state);
/* Handed over by process @pid: the verdict its stream had there. */
void pflow__adopted(struct pconn *c, uint32_t pid, enum flow_verdict v,
		    const char *reason);
void pflow__publish(struct pconn *c);

#endif
