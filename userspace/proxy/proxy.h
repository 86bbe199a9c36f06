/* SPDX-License-Identifier: Apache-2.0 */
/*
 * userspace/proxy — the node proxy inside nametagd: listeners in every
 * served network namespace, TLS 1.3 mTLS with workload SVIDs, kTLS, NT1
 * and NT2 streams, the relay, the pool of idle tunnels and the admission
 * of the mesh port. The wire protocol is docs/mesh-protocol.md.
 *
 * Conventions: functions return 0 or a negative errno, @err filled where
 * given. Everything the proxy needs to know from the daemon (who a caller
 * is, who listens at an address, the SVID of an ID, the policy in force
 * and a namespace's mode) and everything it reports (flow records) goes
 * through struct proxy_env; the proxy includes no daemon header and sees
 * neither the namespace table nor the CA (docs/architecture.md). It uses
 * the datapath for its own sockets: registering its listeners and
 * announcing deliveries. All of it runs in one thread, in the loop it is
 * given, but for the bytes of relaying connections, which move on relay
 * threads (proxy_opts.workers; worker.c) that never call back.
 */
#ifndef NAMETAG_PROXY_H
#define NAMETAG_PROXY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <openssl/ssl.h>

#include "bpf/nametag.h"
#include "ca/ca.h"
#include "enforce/enforce.h"
#include "lib/ntcore.h"
#include "userspace/datapath/datapath.h"

#define PROXY_OUTBOUND_PORT	15001	/* redirected workload connects */
#define PROXY_MESH_PORT		15008	/* mTLS from peer node proxies; the
					 * same socket takes the plaintext
					 * sk_lookup steers */
#define PROXY_SNI_SUFFIX	".nametag.invalid"
#define PROXY_HANDSHAKE_TIMEOUT	10	/* seconds */
#define PROXY_HANDSHAKE_BUSY	3	/* seconds, while the mesh port is under
					 * pressure (admit.c) */
#define PROXY_PENDING_MAX	1024	/* mesh handshakes pending at once, at
					 * most; fewer under a low fd limit */
#define PROXY_PENDING_PEER_MAX	256	/* the same, per peer address */
#define PROXY_CONNECT_TIMEOUT	10
#define PROXY_IDLE_TIMEOUT	3600
#define PROXY_BUF		65536	/* per direction, only while the far
					 * side lags; one read's worth */
#define PROXY_STATUS_MAX	512	/* the verdict line */

/* ---- flow records ---------------------------------------------------------- */

/*
 * One connection as `nametag flow` shows it: filled by the proxy for what
 * it carries and by the daemon for what the kernel saw, kept by the
 * daemon in a ring (daemon/flows.c), turned into JSON only at the control
 * socket (daemon/ctl_flow.c).
 */
enum flow_type {
	FLOW_CONNECT = 1,		/* observed by the kernel */
	FLOW_REFUSED,
	FLOW_INBOUND_REFUSED,
	FLOW_SOCKET_REFUSED,
	FLOW_SOCKET_KILLED,
	FLOW_DATAGRAM_REFUSED,
	FLOW_OUTBOUND,			/* proxied */
	FLOW_INBOUND,
	FLOW_INBOUND_PLAINTEXT,
	FLOW_EGRESS,
	FLOW_TYPE_MAX,
};

/* What was decided: applied (strict), or what strict would decide, only
 * recorded (observe, permissive); unknown where observe cannot know the
 * destination's identity. */
enum flow_verdict { FLOW_VERDICT_NONE, FLOW_ALLOW, FLOW_DENY, FLOW_WOULD_DENY,
		    FLOW_WOULD_ALLOW, FLOW_UNKNOWN };
/* FLOW_SAME_NODE: both ends on this node, relayed in memory without TLS
 * (proxy_opts.same_node_direct). */
enum flow_transport { FLOW_TRANSPORT_NONE, FLOW_MTLS, FLOW_PLAINTEXT,
		      FLOW_SAME_NODE };
/* Which workload a record describes: the caller, or (for a refused SYN)
 * the listener it protected. */
enum flow_who { FLOW_WHO_NONE, FLOW_WHO_CALLER, FLOW_WHO_LISTENER };

/* Fields that are not always there (struct flow_record.has). */
#define FLOW_HAS_SRC		(1u << 0)
#define FLOW_HAS_DST		(1u << 1)
#define FLOW_HAS_SOCKET		(1u << 2)	/* socket_info */
#define FLOW_HAS_REDIRECTED	(1u << 3)
#define FLOW_HAS_SVID		(1u << 4)	/* svid_serial, svid_not_after */
#define FLOW_HAS_COUNT		(1u << 5)
#define FLOW_HAS_OWNER		(1u << 6)	/* cgroup_id, uid */
#define FLOW_HAS_TLS		(1u << 7)	/* tls_version ... handshake_ms */
#define FLOW_HAS_KTLS		(1u << 8)
#define FLOW_HAS_SPLICE		(1u << 9)
#define FLOW_HAS_BYTES		(1u << 10)
#define FLOW_HAS_REDIRECT_SRC	(1u << 11)	/* redirect_src */

/* The daemon's description of a workload (opaque here): a flow record
 * holds a reference, which the daemon gives back when it frees it. */
struct workload;

struct flow_record {
	uint64_t id;			/* from 1, in order */
	uint64_t real_ns;		/* when it started, wall clock */
	uint64_t start_mono_ns;		/* ... monotonic, for its age */
	enum flow_type type;
	uint32_t has;			/* FLOW_HAS_* */
	struct nt_addr src, dst;	/* the workload's view (port 0: none);
					 * outbound: src is the pod's address
					 * on the wire */
	struct nt_addr redirect_src;	/* outbound: the workload's own end of
					 * its redirected connection */
	uint32_t socket_info;		/* family << 16 | type << 8 | protocol */
	bool redirected;
	enum flow_who who_key;
	struct workload *who;		/* held; NULL: unknown */
	char svid_serial[48];		/* the SVID the caller went out under */
	time_t svid_not_after;
	const struct spiffe_id *src_id, *dst_id;	/* interned, held */
	char *identity_error;		/* malloc'd; NULL: none */
	char ns[NT_NS_NAME_MAX];
	enum nt_mode mode;
	enum flow_transport transport;
	enum flow_verdict verdict;
	char reason[NT_ERR_MSG_MAX];	/* "": none yet */
	const char *state;		/* a string literal */
	uint64_t count;			/* the same refusal, repeated */
	uint64_t cgroup_id;		/* FLOW_HAS_OWNER: a socket found by */
	uint32_t uid;			/* sock_diag, known by these only */
	const char *tls_version, *cipher;	/* OpenSSL's static names */
	unsigned int stream;		/* its place on its TLS connection */
	double handshake_ms;
	bool ktls, splice;
	const char *fallback;		/* a string literal; NULL: none */
	uint64_t bytes_up, bytes_down;
	uint32_t handed_from;		/* an upgrade's old process handed its
					 * connection over; 0: none */
};

/* A decision as a flow's verdict: applied, or only a would-be one. */
enum flow_verdict proxy__flow_verdict(const struct decision *d);
/* The verdict strict gives plaintext to an enrolled listener (refused,
 * whatever the rules say), applied under @mode or only recorded. */
void proxy__plaintext_decision(enum nt_mode mode, struct decision *d);

/* ---- what the proxy asks the daemon ------------------------------------------ */

/* The workload behind an outbound connection. */
struct proxy_caller {
	struct nt_sock_value ev;	/* the kernel's evidence of it */
	char ns[NT_NS_NAME_MAX];	/* its namespace; "" for none */
	struct spiffe_id id;		/* when has_id */
	bool has_id;
	struct workload *who;		/* held: handed to its flow record */
};

/* The enrolled workload a connection to an address reaches. */
struct proxy_listener {
	struct spiffe_id id;
	char ns[NT_NS_NAME_MAX];
	enum nt_mode mode;		/* its namespace's, now */
	uint64_t cookie;		/* the socket deliveries are pinned to */
};

struct proxy_env {
	void *ctx;			/* every callback's first argument */
	struct spiffe_ids *ids;		/* interned IDs, shared with the flow
					 * records */
	/* The caller of the outbound connection accepted on @fd, from the
	 * kernel's evidence. -ENOENT: the kernel has none (the connection
	 * was not redirected: refuse it). Another error: no identity, but
	 * c->ev and c->who are filled. */
	int (*caller)(void *ctx, int fd, struct proxy_caller *c,
		      struct nt_err *err);
	/* Who would get a connection to @addr in @netns: only a socket the
	 * delivery can be pinned to counts. */
	int (*listener)(void *ctx, uint32_t netns, const struct nt_addr *addr,
			struct proxy_listener *l, struct nt_err *err);
	/* The SVID of @id, minted when it has none or is past half its life. */
	const struct svid *(*svid)(void *ctx, const struct spiffe_id *id,
				   struct nt_err *err);
	/* The policy in force (never NULL), and a namespace's mode now
	 * (NT_MODE_OFF for one that is gone). */
	const struct policy *(*policy)(void *ctx);
	enum nt_mode (*ns_mode)(void *ctx, const char *ns);
	/* A new record (zeroed but for id and times); the record of @id while
	 * the ring still holds it (else NULL); tell watchers @id changed. */
	struct flow_record *(*flow_open)(void *ctx);
	struct flow_record *(*flow)(void *ctx, uint64_t id);
	void (*flow_publish)(void *ctx, uint64_t id);
};

/* ---- the proxy ------------------------------------------------------------------ */

struct proxy;

struct proxy_opts {
	const char *state_dir;		/* trust bundles, reloaded on change */
	bool no_ktls;			/* keep TLS records in userspace */
	bool no_mesh_reuse;		/* NT1 only: a handshake per connection */
	unsigned int max_netns;		/* network namespaces served at most */
	unsigned int workers;		/* relay threads; 0, 1: relays run in
					 * the loop given (docs/process-model.md) */
	bool same_node_direct;		/* a destination workload this proxy
					 * serves gets the verdicts and the
					 * bytes here, no mTLS hop (direct.c) */
};

#define PROXY_WORKERS_MAX	64

/* TLS contexts and trust bundles ready; nothing served yet. */
int proxy__new(struct proxy **px, const struct proxy_opts *o,
	       const struct proxy_env *env, struct loop *loop,
	       struct datapath *dp, struct nt_err *err);
/* Every connection ends with a reset, its flow closed; every listener
 * closes (the datapath's records of them stay, fail closed). */
void proxy__free(struct proxy *px);
/* Once a second: timeouts, trust bundle reloads, idle tunnels. */
void proxy__tick(struct proxy *px);
/* The trust bundles the proxy verifies peers with (local and federated),
 * borrowed until the next tick; *@gen grows at every reload. */
const struct bundle_set *proxy__trust(const struct proxy *px,
				      unsigned int *gen);

/* ---- network namespaces (listen.c) ------------------------------------------------ */

#define PROXY_SERVE_FOUND	(1u << 0)	/* found from a workload, not
						 * added by an operator */
#define PROXY_SERVE_GUARD	(1u << 1)	/* no listeners of ours: only the
						 * sk_lookup guard of enrolled
						 * listeners (--manual-netns) */

/*
 * Serves the network namespace at @path: creates the outbound, inbound and
 * mesh listeners inside it and registers them with the datapath.
 * @want_ino: the namespace expected behind @path (0: any), so a /proc/PID
 * path whose pid was recycled is refused. Serving one found before without
 * PROXY_SERVE_FOUND makes it stay (and gives a guarded one listeners).
 * 1 when something changed, 0 when it was served as asked already.
 */
int proxy__serve(struct proxy *px, const char *path, uint32_t want_ino,
		 unsigned int flags, struct nt_err *err);
int proxy__unserve(struct proxy *px, uint32_t netns_ino, struct nt_err *err);
bool proxy__serves(const struct proxy *px, uint32_t netns_ino);

enum proxy_lkind { PROXY_L_OUT4, PROXY_L_OUT6, PROXY_L_NET, PROXY_L_MAX };

struct proxy_netns {
	const char *path;
	uint32_t netns_ino;
	bool found;			/* PROXY_SERVE_FOUND */
	bool guard_only;		/* PROXY_SERVE_GUARD */
	uint16_t bound[PROXY_L_MAX];	/* the port each listener got: the
					 * well-known one unless another
					 * socket took it first */
};

/* A new fd of the served network namespace @ino, for sockets made inside
 * it (the caller closes it); -ENOENT when it is not served. The proxy
 * keeps no fd of a namespace it has sockets in (SIOCGSKNS gives it back). */
int proxy__open_netns(const struct proxy *px, uint32_t netns_ino);
/* How many network namespaces are served (guarded ones included), of how
 * many at most. */
void proxy__netns_count(const struct proxy *px, unsigned int *served,
			unsigned int *max);

/* Calls @fn for every served network namespace until it returns non-zero
 * (which is returned). @fn must not serve or unserve a namespace. */
int proxy__foreach_netns(const struct proxy *px,
			 int (*fn)(const struct proxy_netns *n, void *arg),
			 void *arg);

/* ---- an upgrade in place (listen.c, drain.c; docs/process-model.md) ---------------- */

/* The listening sockets of served netns @netns_ino, by kind (-1: none). */
int proxy__listen_fds(const struct proxy *px, uint32_t netns_ino,
		      int fds[PROXY_L_MAX]);
/* This process stops (or resumes) accepting; the sockets stay open, in
 * proxy_socks, and other processes holding them accept from them. */
void proxy__pause_listeners(struct proxy *px, bool pause);
/* Listening sockets an earlier nametagd handed over (fds, -1 for none,
 * taken over by the proxy): proxy__serve of @netns_ino uses them rather
 * than opening new ones, so no queued connection is lost. */
int proxy__adopt_listeners(struct proxy *px, uint32_t netns_ino,
			   const int fds[PROXY_L_MAX]);
/* Closes the handed-over listeners no proxy__serve took. */
void proxy__adopt_done(struct proxy *px);
/* Another process serves now: stop accepting, close the idle NT2
 * connections cleanly (pooled, and server sides between streams), and
 * close each connection cleanly when its stream ends instead of keeping
 * it for the next one. */
void proxy__drain(struct proxy *px);
/* Connections still open, idle ones included. */
size_t proxy__drain_left(const struct proxy *px);
/* The drain's deadline: every connection left is closed cleanly
 * (close_notify where TLS, then FIN; no reset). How many there were. */
size_t proxy__drain_close(struct proxy *px);
/* Trust bundles read again now (a reload), changed or not. */
void proxy__reload_trust(struct proxy *px);

/* ---- kTLS connections handed over at an upgrade (handover.c) ------------------------ */

/*
 * What the new process needs to go on relaying a connection whose TLS
 * record layer is in the kernel (both directions), besides its two
 * sockets: side A (accepted) and side B (dialled). Outbound: A is the
 * workload's, B the kTLS one; mesh: A is the kTLS one, B the delivery to
 * the workload. Fixed size, every string NUL-terminated in its array: it
 * crosses the upgrade's socketpair as it is, and the receiver checks every
 * field (proxy__adopt_conn).
 */
#define PROXY_HO_OUTBOUND	1
#define PROXY_HO_MESH		2
#define PROXY_HO_FRAMED		(1u << 0)	/* NT2 on the TLS side */
#define PROXY_HO_A_RD_EOF	(1u << 1)	/* struct side's flags */
#define PROXY_HO_A_WR_SHUT	(1u << 2)
#define PROXY_HO_B_RD_EOF	(1u << 3)
#define PROXY_HO_B_WR_SHUT	(1u << 4)
#define PROXY_HO_FLAGS		0x1fu
#define PROXY_HO_REASON_MAX	NT_ERR_MSG_MAX

struct proxy_handover {
	uint32_t pid;			/* the process that hands it over */
	uint32_t kind;			/* PROXY_HO_OUTBOUND, PROXY_HO_MESH */
	uint32_t netns;			/* the inode both sockets are in */
	uint32_t mode;			/* enum nt_mode its namespace had */
	uint32_t verdict;		/* enum flow_verdict of its stream */
	uint32_t flags;			/* PROXY_HO_* */
	uint32_t stream;		/* its place on its TLS connection, >= 1 */
	uint32_t frame_left;		/* NT2: payload left in the frame read */
	uint8_t hdr[4];			/* NT2: a frame header partly read, */
	uint32_t hdr_len;		/* ... how much of it (< 4) */
	uint16_t port;			/* the port its verdict judged */
	uint16_t pad;
	uint64_t flow_id;		/* the old process's record of it */
	uint64_t bytes_up, bytes_down;
	double handshake_ms;
	struct nt_addr orig_dst;	/* outbound: where the workload dialled */
	char ns[NT_NS_NAME_MAX];	/* "": none */
	char reason[PROXY_HO_REASON_MAX];	/* its verdict's */
	char src[SPIFFE_ID_MAX + 1], dst[SPIFFE_ID_MAX + 1];	/* "": unknown */
};

/* The old process, once another serves: every connection that relays
 * with kTLS both ways and holds no byte of its own (nothing buffered in
 * userspace or in a pipe) goes to @send with its two sockets (A, B); one
 * @send took (0) is forgotten here: its descriptors close, the connection
 * does not. The others drain. How many went. */
typedef int (*proxy_handover_fn)(const struct proxy_handover *h,
				 const int fds[2], void *arg);
size_t proxy__handover(struct proxy *px, proxy_handover_fn send, void *arg);
/* The new process: relays the connection @h describes on @fds (A, B; both
 * the proxy's from now, closed on any error), with its own flow record,
 * judged again by the policy in force. -EBADMSG for a record out of
 * bounds, -ENOTSOCK, -EPROTONOSUPPORT, -ENOTCONN, -EXDEV for descriptors
 * that are not a connected TCP socket with kTLS both ways and one
 * without, in netns @h->netns; -ECONNRESET for one reset since it was
 * sent (refused ones are closed with a reset); -EACCES: the policy in
 * force denies it (it was ended as a reload ends one). */
int proxy__adopt_conn(struct proxy *px, const struct proxy_handover *h,
		      int fds[2], struct nt_err *err);

/* ---- open connections and the rules (recheck.c) ------------------------------------ */

/*
 * After a policy swap or a namespace's change of mode: every connection
 * carrying a stream is judged again, with its namespace's mode now (not
 * the one it had at accept) and the policy in force, and closed with a
 * reset when denied. @closed, if not NULL, hears of each plaintext one
 * closed (@inbound: plaintext-in; otherwise egress).
 */
typedef void (*proxy_closed_fn)(const char *ns, bool inbound, void *arg);
void proxy__recheck(struct proxy *px, proxy_closed_fn closed, void *arg);
/* Plaintext egress from a workload of namespace @ns (@src: its ID, if
 * known) to @dst under @mode and the policy in force; @d says why. False:
 * not allowed (strict, and no egress rule covers @dst). */
bool proxy__egress_decide(const struct proxy *px, const char *ns,
			  enum nt_mode mode, const struct spiffe_id *src,
			  const struct nt_addr *dst, struct decision *d);
/*
 * The local address of every socket the proxy holds in @netns_ino: both
 * sides of each connection, and the outbound listeners that redirected
 * connects reach before they are accepted. A workload socket whose remote
 * address is one of these talks to nametagd. *@out is malloc'd (the
 * caller frees it), sorted by nt_addr__cmp.
 */
int proxy__held_addrs(const struct proxy *px, uint32_t netns_ino,
		      struct nt_addr **out, size_t *n);

/* ---- status -------------------------------------------------------------------------- */

/* What the mesh port's admission shed (admit.c), in `proxy status` order. */
enum proxy_shed { PROXY_SHED_PEER, PROXY_SHED_TOTAL, PROXY_SHED_RESERVE,
		  PROXY_SHED_FDLIMIT, PROXY_SHED_TIMEOUT, PROXY_SHED_MAX };
const char *proxy__shed_name(enum proxy_shed s);

struct proxy_status {
	size_t connections;		/* carrying a stream */
	size_t idle_mesh;		/* pooled, and waiting server sides */
	uint64_t port_taken;		/* well-known ports another socket held */
	unsigned int workers;		/* threads that relay: 1 is the loop's */
	/* Handshakes each relay thread finished and failed (workers > 1). */
	uint64_t hs_done[PROXY_WORKERS_MAX], hs_failed[PROXY_WORKERS_MAX];
	unsigned int fd_limit, fd_reserve;
	unsigned int pending, pending_max, peer_max;	/* mesh handshakes */
	unsigned int handshake_timeout_s;
	bool under_pressure;
	uint64_t shed[PROXY_SHED_MAX];
	/* Network namespaces: served now, at most, and refused at the limit
	 * since the daemon started. */
	unsigned int netns_served, netns_max;
	uint64_t netns_refused;
};
void proxy__status(const struct proxy *px, struct proxy_status *st);

/* ---- kTLS (ktls.c): a finished TLS 1.3 handshake handed to the kernel --------------- */

/*
 * Debian's OpenSSL 3.0 is built without enable-ktls, so SSL_OP_ENABLE_KTLS
 * does nothing there. We take the application traffic secrets from the
 * keylog callback, expand them into key and IV (RFC 8446 section 7.3) and
 * install them with setsockopt(SOL_TLS, TLS_TX / TLS_RX) ourselves.
 *
 * What the handshake must look like for the switch to be exact:
 *  - TLS 1.3 with TLS_AES_128_GCM_SHA256 or TLS_AES_256_GCM_SHA384;
 *  - no session tickets (SSL_CTX_set_num_tickets(ctx, 0)) and no
 *    application data through OpenSSL, so both record sequence numbers
 *    are still 0 when the kernel takes over;
 *  - read-ahead off (OpenSSL's default), so OpenSSL has not pulled records
 *    past Finished out of the socket.
 *
 * After a successful ktls__install() the SSL object must not touch the
 * socket again (it is left in quiet-shutdown mode, so SSL_shutdown() and
 * SSL_free() send nothing). Move bytes with read()/write()/splice() on the
 * fd, read with ktls__recv() to see records that are not application data,
 * and end the stream with ktls__send_close_notify() then shutdown(SHUT_WR).
 */

/* TLS record content types (RFC 8446 section 5.1). */
#define KTLS_RECORD_ALERT	21
#define KTLS_RECORD_HANDSHAKE	22
#define KTLS_RECORD_DATA	23

#define KTLS_IV_LEN		12	/* AES-GCM nonce: 4 salt + 8 iv */

/* Whether this kernel has kTLS (the "tls" TCP ULP, loadable on demand).
 * Probed once, then cached. */
bool ktls__available(void);

/*
 * Installs the keylog callback on @ctx that keeps CLIENT_TRAFFIC_SECRET_0
 * and SERVER_TRAFFIC_SECRET_0 of every SSL made from it, out of sight of
 * any log, until ktls__install() (or SSL_free()) wipes them. Call before
 * the handshake. Replaces no other callback: -EBUSY if @ctx already has a
 * different keylog callback.
 */
int ktls__keylog_attach(SSL_CTX *ctx);

/*
 * Switches the connected, handshaken @ssl on socket @fd to kTLS for both
 * directions and wipes the captured secrets whatever the outcome.
 *
 * Returns 0, or a negative errno with err->msg set:
 *  -EOPNOTSUPP   not TLS 1.3 or a suite other than AES-GCM; nothing touched
 *  -ENOPROTOOPT  the kernel has no kTLS; nothing touched, carry on with
 *                OpenSSL's userspace record layer
 *  -EBUSY        OpenSSL holds unread bytes; the kernel would never see them
 *  -ENOKEY       the traffic secrets were not captured (no keylog attach)
 *  -EINVAL       session tickets enabled, handshake not finished, or @fd
 *                is not the socket the SSL object uses
 *  other         setsockopt failed; if the ULP was set (anything after
 *                TCP_ULP), the connection is unusable and must be closed
 */
int ktls__install(SSL *ssl, int fd, bool is_server, struct nt_err *err);

/*
 * recvmsg() on a kTLS socket that also reports the record's content type.
 * @len may be as small as 1 (the last byte of an NT2 frame), but an alert
 * (2 bytes) is only understood with room for it: cut short it is -EPROTO.
 * @record_type may be NULL.
 *
 * Returns the number of application-data bytes (> 0, type 23), or 0 for
 * end of stream: after the peer's close_notify (*record_type = 21) or at a
 * TCP FIN without one (*record_type = 0: the stream may be truncated).
 * A warning user_canceled alert is skipped. Errors are negative errnos,
 * also left in errno: -ECONNABORTED for any other alert, -EPROTO for a
 * handshake record (a KeyUpdate or NewSessionTicket, which Debian 12's
 * kernel cannot follow: close the connection), -EAGAIN when a
 * non-blocking socket has nothing yet, and recvmsg()'s own errors.
 */
ssize_t ktls__recv(int fd, void *buf, size_t len, int *record_type);

/* Sends a close_notify alert record. Follow with shutdown(fd, SHUT_WR).
 * Returns 0 or a negative errno (-EAGAIN on a full non-blocking socket). */
int ktls__send_close_notify(int fd);

/* A socket switched by another process (an upgrade's hand-over): 0 when
 * it has the "tls" ULP with TLS 1.3 keys set both ways, one AES-GCM suite,
 * whose name (OpenSSL's) goes to *@cipher; -EPROTONOSUPPORT otherwise.
 * No key leaves the kernel. */
int ktls__check(int fd, const char **cipher, struct nt_err *err);
/* True when the TCP socket @fd has no ULP at all. */
bool ktls__ulp_none(int fd);

/*
 * HKDF-Expand-Label(@secret, "key", "", @key_len) into @key and
 * HKDF-Expand-Label(@secret, "iv", "", 12) into @iv, with @digest ("SHA256"
 * or "SHA384"). Exposed for the known-answer test. Returns 0 or -EIO.
 */
int ktls__derive_key_iv(const char *digest, const unsigned char *secret,
			size_t secret_len, unsigned char *key, size_t key_len,
			unsigned char iv[KTLS_IV_LEN]);

#endif /* NAMETAG_PROXY_H */
