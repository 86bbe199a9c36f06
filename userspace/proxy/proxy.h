/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The node proxy inside nametagd: listeners in every served network
 * namespace, TLS 1.3 mTLS with workload SVIDs, the relay. The wire protocol
 * is written down in docs/mesh-protocol.md.
 */
#ifndef NAMETAG_PROXY_H
#define NAMETAG_PROXY_H

#include <stdbool.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "enforce/enforce.h"
#include "userspace/daemon/daemon.h"

#define PROXY_OUTBOUND_PORT	15001	/* redirected workload connects */
#define PROXY_MESH_PORT		15008	/* mTLS from peer node proxies; the
					 * same socket takes the plaintext
					 * sk_lookup steers */
#define PROXY_SNI_SUFFIX	".nametag.invalid"
#define PROXY_HANDSHAKE_TIMEOUT	10	/* seconds */
#define PROXY_HANDSHAKE_BUSY	3	/* seconds, while the mesh port is under
					 * pressure (userspace/proxy_admit.c) */
#define PROXY_PENDING_MAX	1024	/* mesh handshakes pending at once, at
					 * most; fewer under a low fd limit */
#define PROXY_PENDING_PEER_MAX	256	/* the same, per peer address */
#define PROXY_CONNECT_TIMEOUT	10
#define PROXY_IDLE_TIMEOUT	3600
#define PROXY_BUF		65536	/* per direction, only while the far
					 * side lags; one read's worth */
#define PROXY_STATUS_MAX	512	/* the verdict line */

/* ---- TLS ------------------------------------------------------------------ */

int proxy_tls__init(struct nt_err *err);
void proxy_tls__fini(void);
/* Reloads trust bundles when the state dir's files changed. */
void proxy_tls__refresh_trust(void);
SSL *proxy_tls__client(const struct svid *svid, uint16_t orig_port,
		       struct nt_err *err);
SSL *proxy_tls__server(struct nt_err *err);
/* The verified peer ID of a finished handshake; NULL if none. */
const struct spiffe_id *proxy_tls__peer_id(SSL *ssl);
/* Why verification failed, "" if it did not. */
const char *proxy_tls__verify_error(SSL *ssl);
/* The ID of the SVID this end presented; NULL if none. */
const struct spiffe_id *proxy_tls__local_id(SSL *ssl);
/* Server side: the port the client asked for (from SNI). */
uint16_t proxy_tls__orig_port(SSL *ssl);
void proxy_tls__set_netns(SSL *ssl, uint32_t netns_ino);
/* Both ends agreed on NT2 (ALPN "nt2"): the connection can carry one
 * stream after another. Without it, NT1: one stream, then close. */
bool proxy_tls__framed(SSL *ssl);
/* Seconds this connection may still start streams: until the first of
 * its two SVIDs is half way through its life, when its workload gets a new
 * one (0: already past). */
long proxy_tls__reuse_left(SSL *ssl);
/* Changes whenever the trust bundles are reloaded: a connection verified
 * under an older set is not used for new streams. */
unsigned int proxy_tls__trust_gen(void);
/* Frees the verification state once the handshake is over and its results
 * were taken: the peer ID, the verify error and the port read NULL/""/0. */
void proxy_tls__handshake_done(SSL *ssl);

/* What happened to the proxy's sockets, for status. */
struct proxy_stats {
	uint64_t port_taken;	/* a well-known port held by another socket */
};
extern struct proxy_stats proxy__stats;

/* The enrolled listener a connection reaches (userspace/proxy_conn.c). */
struct proxy_listener {
	struct spiffe_id id;
	struct ns *ns;
	uint64_t cookie;	/* the socket deliveries are pinned to */
};
int proxy__listener(uint32_t netns, const struct nt_addr *addr,
		    struct proxy_listener *out, const struct svid **svid,
		    struct nt_err *err);

/* ---- listeners ------------------------------------------------------------ */

/* Serves a network namespace: creates the outbound, inbound and mesh
 * listeners inside it and registers them with the datapath. */
int proxy__serve_netns(const char *path, struct nt_err *err);
int proxy__unserve_netns(uint32_t netns_ino, struct nt_err *err);
/* The netns of an enrolled process (from an event); and all of them. */
int proxy__serve_pid(uint32_t tgid, uint32_t netns_ino);
void proxy__sync_netns(void);
cJSON *proxy__netns_json(void);
/* Logs listener tables that lost records since last said. */
void proxy__report_overflow(void);
/* A non-blocking socket created inside @netns_fd. */
int proxy__socket_in(int netns_fd, int domain, int type);
int proxy__netns_fd(uint32_t netns_ino);
/* TCP_NODELAY and friends on every proxy socket. */
void proxy__tune_socket(int fd);
/* Calls @fn for every served network namespace until it returns non-zero
 * (which is returned). @fn must not serve or unserve a namespace. */
int proxy__foreach_netns(int (*fn)(int netns_fd, uint32_t netns_ino, void *arg),
			 void *arg);

/* ---- admission (proxy_admit.c) -------------------------------------------- */

/* Derives the caps and the descriptor reserve from the fd limit. */
void admit__init(void);
/* A connection just accepted on a proxy port got descriptor @fd, which
 * may be within the reserve: then a pending handshake is shed to make
 * room, or if there is none @fd is reset and closed (false). @local: from
 * a workload on this node (the outbound port), which may use half the
 * reserve; the network stops before it. */
bool admit__fd(int fd, bool local);
/* accept() on @listen_fd failed with EMFILE or ENFILE: true when a
 * pending handshake was shed to make room (accept again), else one
 * queued connection was reset through the spare descriptor. */
bool admit__no_fd(int listen_fd);
/* The caps, the reserve and what was shed, for `proxy status`. */
cJSON *admit__json(void);

/* ---- connections ---------------------------------------------------------- */

enum pconn_kind {
	PCONN_OUTBOUND,		/* workload -> us -> peer proxy (mTLS) */
	PCONN_MESH,		/* peer proxy (mTLS) -> us -> workload */
	PCONN_PLAIN_IN,		/* plaintext client -> us -> workload */
	PCONN_EGRESS,		/* workload -> us -> plaintext destination */
};

void pconn__accept_outbound(int fd, uint32_t netns_ino);
void pconn__accept_mesh(int fd, uint32_t netns_ino);
void pconn__accept_plain(int fd, uint32_t netns_ino);
/* Once a second: timeouts. */
void pconn__tick(void);
/*
 * After a policy swap or a namespace's change of mode: every connection
 * carrying a stream is judged again, with its namespace's mode now (not
 * the one it had at accept) and the policy in force, and closed with a
 * reset when denied. @closed, if not NULL, hears of each plaintext one
 * closed (@inbound: plaintext-in; otherwise egress).
 */
typedef void (*pconn_closed_fn)(const char *ns, bool inbound, void *arg);
void pconn__recheck_policy(pconn_closed_fn closed, void *arg);
/*
 * The local address of every socket the proxy holds in @netns_ino: both
 * sides of each connection, and the outbound listeners that redirected
 * connects reach before they are accepted. A workload socket whose remote
 * address is one of these talks to nametagd. *@out is malloc'd (the
 * caller frees it), sorted by proxy__addr_cmp. 0 or a negative errno.
 */
int proxy__held_addrs(uint32_t netns_ino, struct nt_addr **out, size_t *n);
/* Plaintext egress from a workload of namespace @ns (@src: its ID, if
 * known) to @dst under @mode and the policy in force; @d says why. False:
 * not allowed (strict, and no egress rule covers @dst). */
bool proxy__egress_decide(const char *ns, enum nt_mode mode,
			  const struct spiffe_id *src, const struct nt_addr *dst,
			  struct decision *d);
/* Connections carrying a stream, and mesh connections idle between
 * streams: pooled by the client side (userspace/proxy_tunnel.c) and
 * waiting on the server side. */
size_t pconn__count(void);
size_t pconn__idle_count(void);
size_t tunnel__count(void);
void pconn__close_all(void);

/* The policy in force (never NULL once the daemon runs). */
extern struct policy *active_policy;

/* The enforce/ mode of a namespace mode. */
enum enforce_mode proxy__mode(enum nt_mode m);

#endif /* NAMETAG_PROXY_H */
