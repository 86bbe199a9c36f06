// SPDX-License-Identifier: Apache-2.0
/*
 * Proxied connections from accept to relay. The three entry points are the
 * three listeners; each connection walks connect -> handshake -> verdict ->
 * relay, all non-blocking in the daemon's epoll loop.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "lib/ntcore.h"
#include "userspace/proxy/proxy_int.h"

static struct pconn *conns;
static size_t nconns;

static void on_side(struct loop_handler *h, uint32_t events);

void pconn__side_init(struct pconn *c, struct side *s)
{
	*s = (struct side){ .h.fd = -1, .h.on_event = on_side, .c = c };
}

static void on_side(struct loop_handler *h, uint32_t events)
{
	struct side *s = (struct side *)h;

	pconn__on_event(s->c, s, events);
}

static struct pconn *pconn_new(enum pconn_kind kind, int fd, uint32_t netns)
{
	struct pconn *c = calloc(1, sizeof(*c));

	if (!c) {
		close(fd);
		return NULL;
	}
	c->kind = kind;
	c->netns = netns;
	c->a.h.fd = fd;
	c->b.h.fd = -1;
	c->a.h.on_event = c->b.h.on_event = on_side;
	c->a.c = c->b.c = c;
	c->t_start = clock__mono_ns();
	c->deadline = clock__mono_s() + PROXY_HANDSHAKE_TIMEOUT;
	c->next = conns;
	if (conns)
		conns->prev = c;
	conns = c;
	nconns++;
	return c;
}

void pconn__side_close(struct side *s, bool reset)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	if (s->h.fd < 0)
		return;
	if (s->registered)
		loop__del(&s->h);
	if (reset)
		setsockopt(s->h.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	SSL_free(s->ssl);
	s->ssl = NULL;
	close(s->h.fd);
	s->h.fd = -1;
}

void pconn__close(struct pconn *c, bool reset, const char *why)
{
	if (c->st == PS_DONE)
		return;
	c->st = PS_DONE;
	admit__done(c);
	pflow__close(c, why);
	pconn__side_close(&c->a, reset);
	pconn__side_close(&c->b, reset);
	pconn__unticket(c);
	relay__free(c);
	spiffe_ids__put(nd->ids, c->tunnel_id);
	spiffe_ids__put(nd->ids, c->src);
	spiffe_ids__put(nd->ids, c->dst);
	c->src = c->dst = NULL;
	if (c->prev)
		c->prev->next = c->next;
	else
		conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	nconns--;
	loop__defer_free(c);
}

/* At exit: every connection ends with a reset, its flow closed. */
void pconn__close_all(void)
{
	while (conns)
		pconn__close(conns, true, "daemon stopped");
	tunnel__close_all();
}

/* A mesh connection between streams, waiting for the next OPEN. */
static bool idle_between_streams(const struct pconn *c)
{
	return c->st == PS_OPEN && c->stream > 1;
}

size_t pconn__count(void)
{
	return nconns - pconn__idle_count();
}

size_t pconn__idle_count(void)
{
	const struct pconn *c;
	size_t n = 0;

	for (c = conns; c; c = c->next)
		n += idle_between_streams(c);
	return n;
}

enum enforce_mode proxy__mode(enum nt_mode m)
{
	switch (m) {
	case NT_MODE_OBSERVE: return ENFORCE_OBSERVE;
	case NT_MODE_PERMISSIVE: return ENFORCE_PERMISSIVE;
	case NT_MODE_STRICT: return ENFORCE_STRICT;
	default: return ENFORCE_OFF;
	}
}

/* ---- addresses ------------------------------------------------------------- */

static int ends(int fd, struct nt_addr *peer, struct nt_addr *local)
{
	int ret = nt_addr__of_socket(fd, true, peer);

	return ret ? ret : nt_addr__of_socket(fd, false, local);
}

/* Delivery to a local workload comes from loopback: 127.0.0.6, or ::1.
 * The port is bound now, not at connect(), so the ticket can name it. */
static int bind_loopback(int fd, int family, struct nt_addr *src)
{
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6,
				   .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	struct sockaddr_in a4 = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(NT_DELIVERY_ADDR4) };
	int ret;

	if (family == AF_INET)
		ret = bind(fd, (struct sockaddr *)&a4, sizeof(a4));
	else
		ret = bind(fd, (struct sockaddr *)&a6, sizeof(a6));
	return ret ? -errno : nt_addr__of_socket(fd, false, src);
}

/*
 * Delivery goes to exactly the listening socket whose identity was judged
 * (c->dst_cookie): the ticket makes the namespace's sk_lookup program hand
 * this connection's SYN to that socket, or refuse it if it is gone.
 */
static int ticket(struct pconn *c, int fd, const struct nt_addr *to,
		  uint16_t port, int family)
{
	int ret = bind_loopback(fd, family, &c->deliver_src);

	if (ret)
		return ret;
	c->deliver_dst = *to;
	c->deliver_dst.port = port;
	ret = datapath__ticket(nd->dp, c->netns, &c->deliver_src,
			       &c->deliver_dst, c->dst_cookie);
	if (!ret)
		c->ticketed = true;
	return ret;
}

void pconn__unticket(struct pconn *c)
{
	if (!c->ticketed)
		return;
	datapath__unticket(nd->dp, c->netns, &c->deliver_src, &c->deliver_dst);
	c->ticketed = false;
}

/* Opens side B: a non-blocking connect from inside the connection's
 * network namespace. */
static int connect_b(struct pconn *c, const struct nt_addr *to, uint16_t port)
{
	struct sockaddr_storage ss;
	socklen_t len = nt_addr__to_sockaddr(to, port, &ss);
	bool local = c->kind == PCONN_MESH || c->kind == PCONN_PLAIN_IN;
	int nsfd, fd, ret;

	nsfd = proxy__netns_fd(c->netns);
	if (nsfd < 0)
		return nsfd;
	fd = proxy__socket_in(nsfd, ss.ss_family, SOCK_STREAM);
	if (fd < 0)
		return fd;
	/* nametagd's own sockets are never redirected: its cgroup is never
	 * enrolled (bpf/nametag.bpf.c), whatever a mark says. */
	proxy__tune_socket(fd);
	if (local && (ret = ticket(c, fd, to, port, ss.ss_family))) {
		close(fd);
		return ret;
	}
	if (connect(fd, (struct sockaddr *)&ss, len) && errno != EINPROGRESS) {
		ret = -errno;
		pconn__unticket(c);
		close(fd);
		return ret;
	}
	c->b.h.fd = fd;
	c->deadline = clock__mono_s() + PROXY_CONNECT_TIMEOUT;
	return side__register(&c->b, EPOLLOUT);
}

/* ---- identities ----------------------------------------------------------- */

/* Points @slot at the interned copy of @id: a connection keeps 8 bytes,
 * not a 2.3 KB struct (nd->ids owns the copy; pconn__close gives it back). */
int pconn__hold_id(const struct spiffe_id **slot, const struct spiffe_id *id,
		   struct nt_err *err)
{
	const struct spiffe_id *p = spiffe_ids__get(nd->ids, id);

	if (!p)
		return nt_err_set(err, -ENOMEM, "out of memory");
	spiffe_ids__put(nd->ids, *slot);
	*slot = p;
	return 0;
}

/*
 * Who would get a connection to @addr in @netns: the listener record the
 * kernel made at listen() (or the daemon from sock_diag), turned into a
 * SPIFFE ID and, when @svid is given, its SVID. Only a socket the
 * delivery can be pinned to counts: anything else is refused.
 */
int proxy__listener(uint32_t netns, const struct nt_addr *addr,
		    struct proxy_listener *out, const struct svid **svid,
		    struct nt_err *err)
{
	struct nt_listener l;
	char where[80];
	cJSON *info;
	int ret;

	nt_addr__format(addr, where, sizeof(where));
	if (datapath__find_listener(nd->dp, netns, addr, &l))
		return nt_err_set(err, -ENOENT,
				  "no enrolled workload listens on %s", where);
	out->ns = ns_table__by_cgroup(nd->ns, l.owner.ev.ns_cgroup_id);
	if (!out->ns)
		return nt_err_set(err, -ENOENT, "listener on %s is in no namespace",
				  where);
	if (!l.cookie || !datapath__listen_sock_held(nd->dp, l.cookie))
		return nt_err_set(err, -ENOENT,
				  "the listener on %s cannot be delivered to exactly (its socket is not held yet)",
				  where);
	out->cookie = l.cookie;
	info = cJSON_CreateObject();
	ret = workload__resolve(&l.owner.ev, info, &out->id, err);
	cJSON_Delete(info);
	if (ret)
		return ret;
	if (svid) {
		*svid = svid_cache__get(nd->svids, &out->id, err);
		if (!*svid)
			return -EIO;
	}
	return 0;
}

/* ---- outbound: workload -> us -> peer proxy ------------------------------- */

/*
 * Side B towards the destination's mesh port: an idle NT2 connection this
 * workload already holds to that destination (no handshake), else a new
 * TCP connection and handshake.
 */
static void dial(struct pconn *c, bool use_pool)
{
	struct nt_err err = {};
	const struct svid *svid;

	c->tls = &c->b;
	if (use_pool && tunnel__take(c)) {
		c->reused = true;
		pflow__tls(c);
		pflow__ktls(c, c->b.ktls);
		pflow__publish(c);
		pconn__open_stream(c);
		return;
	}
	svid = svid_cache__get(nd->svids, c->src, &err);
	c->b.ssl = svid ? proxy_tls__client(svid, c->port, &err) : NULL;
	if (!c->b.ssl || connect_b(c, &c->orig_dst, PROXY_MESH_PORT)) {
		pflow__set(c, "reason", err.msg[0] ? err.msg : "connect failed");
		pconn__close(c, true, "error");
		return;
	}
	c->st = PS_CONNECT;
}

/* A pooled connection failed before its verdict: the peer closed it (idle,
 * or its trust or workload changed). Nothing of the workload's was sent
 * yet, so a new connection is safe. */
void pconn__redial(struct pconn *c)
{
	pr_debug("pooled mesh connection closed by the peer; dialling anew");
	pconn__side_close(&c->b, false);
	pconn__side_init(c, &c->b);
	c->reused = false;
	c->status_len = 0;
	dial(c, false);
}

/* NT2: asks for a verdict on a new stream; NT1 needs no asking. */
void pconn__open_stream(struct pconn *c)
{
	if (c->tls->framed && side__write_frame(c->tls, FRAME_OPEN, "", 0)) {
		if (c->reused) {
			pconn__redial(c);
			return;
		}
		pflow__set(c, "reason", "peer proxy connection failed");
		pconn__close(c, true, "error");
		return;
	}
	c->st = PS_STATUS;
	c->status_len = 0;
	side__register(c->tls, EPOLLIN);
}

void pconn__accept_outbound(int fd, uint32_t netns)
{
	struct nt_tuple t = {};
	struct nt_sock_value v;
	struct nt_err err = {};
	struct spiffe_id id;
	struct pconn *c;
	struct ns *ns;
	cJSON *caller;
	int mfd = datapath__map_fd(nd->dp, "sock_by_tuple");

	c = pconn_new(PCONN_OUTBOUND, fd, netns);
	if (!c)
		return;
	/* Only connections the kernel redirected (and so attested) are
	 * served; anything else reaching this port is refused. */
	if (ends(fd, &t.src, &t.dst) || mfd < 0 ||
	    bpf_map_lookup_elem(mfd, &t, &v)) {
		pconn__close(c, true, "no kernel evidence for this connection");
		return;
	}
	c->orig_dst = v.orig_dst;
	c->port = v.orig_dst.port;
	c->mode = v.ev.mode;
	ns = ns_table__by_cgroup(nd->ns, v.ev.ns_cgroup_id);
	if (ns)
		snprintf(c->ns, sizeof(c->ns), "%s", ns->name);
	caller = cJSON_CreateObject();
	if (!workload__resolve(&v.ev, caller, &id, &err))
		pconn__hold_id(&c->src, &id, &err);
	pflow__open(c, caller);
	if (!c->src) {
		pflow__set(c, "reason", err.msg);
		pconn__close(c, true, "no identity");
		return;
	}
	side__register(&c->a, 0);
	dial(c, true);
}

/*
 * The destination has no node proxy (its mesh port refused us). Permissive
 * mode goes plaintext; strict mode only where the policy explicitly allows
 * plaintext egress to that address and port.
 */
void pconn__outbound_fallback(struct pconn *c, const char *why)
{
	struct decision d;
	bool allowed = proxy__egress_decide(c->ns, c->mode, c->src, &c->orig_dst,
					    &d);

	pflow__verdict(c, &d);
	if (!allowed) {
		pflow__set(c, "reason", "strict mode: destination has no node proxy and no egress rule allows plaintext to it");
		pconn__close(c, true, "refused");
		return;
	}
	/* A new side B: the closed one is still marked registered, and its
	 * successor's fd would never reach epoll. */
	pconn__side_close(&c->b, false);
	pconn__side_init(c, &c->b);
	c->kind = PCONN_EGRESS;
	c->tls = NULL;
	pflow__set(c, "type", "egress");
	pflow__set(c, "transport", "plaintext");
	pflow__set(c, "fallback", why);
	if (connect_b(c, &c->orig_dst, c->port)) {
		pconn__close(c, true, "egress connect failed");
		return;
	}
	c->st = PS_DELIVER;
}

/* ---- mesh: peer proxy -> us -> workload ------------------------------------ */

void pconn__accept_mesh(int fd, uint32_t netns)
{
	struct nt_err err = {};
	struct pconn *c = pconn_new(PCONN_MESH, fd, netns);

	if (!c || !admit__handshake(c))
		return;
	c->tls = &c->a;
	c->a.ssl = proxy_tls__server(&err);
	if (!c->a.ssl || !SSL_set_fd(c->a.ssl, fd)) {
		pconn__close(c, true, "TLS setup failed");
		return;
	}
	proxy_tls__set_netns(c->a.ssl, netns);
	if (!admit__pressure())
		pflow__open(c, NULL);
	c->st = PS_HANDSHAKE;
	pconn__handshake(c);
}

static bool decide(struct pconn *c, struct decision *d)
{
	struct decision_input in = {
		.ns = c->ns, .mode = proxy__mode(c->mode),
		.src = c->src, .dst = c->dst, .port = c->port,
	};

	policy__decide(active_policy, &in, d);
	return !(d->verdict == VERDICT_DENY && d->enforced);
}

/* Delivers to the workload at the address the client dialled, from this
 * namespace's loopback, pinned to the socket judged (c->dst_cookie). */
static void deliver(struct pconn *c, const struct nt_addr *local)
{
	if (connect_b(c, local, c->port)) {
		pflow__set(c, "reason", "workload unreachable");
		pconn__close(c, true, "delivery failed");
		return;
	}
	c->st = PS_DELIVER;
	side__register(&c->a, 0);
}

/*
 * The client verified the SVID we presented at the handshake (held in
 * c->tunnel_id). A stream may only go to the workload that SVID names: if
 * another one now listens there, the connection is retired (closed before
 * any verdict) and the client dials anew, learning the new identity.
 */
static bool same_tunnel_identity(struct pconn *c)
{
	if (c->tunnel_id == c->dst)	/* interned: same ID, same pointer */
		return true;
	pflow__set(c, "reason", "the port's workload changed: connection retired");
	pconn__close(c, false, "retired");
	return false;
}

static void deny_why(struct pconn *c, const char *why)
{
	struct decision none = { .verdict = VERDICT_DENY, .rule = -1 };

	snprintf(none.reason, sizeof(none.reason), "%.*s",
		 (int)sizeof(none.reason) - 1, why);
	pconn__deny(c, &none);
}

void pconn__mesh_verdict(struct pconn *c)
{
	struct nt_addr peer, local;
	struct proxy_listener pl;
	struct nt_err err = {};
	struct decision d;

	/* The listener of the address the client dialled, at the port its
	 * workload asked for (SNI). */
	if (ends(c->a.h.fd, &peer, &local)) {
		deny_why(c, "connection lost");
		return;
	}
	local.port = c->port;
	if (proxy__listener(c->netns, &local, &pl, NULL, &err) ||
	    pconn__hold_id(&c->dst, &pl.id, &err)) {
		deny_why(c, err.msg);
		return;
	}
	if (!same_tunnel_identity(c))
		return;
	c->dst_cookie = pl.cookie;
	c->mode = pl.ns->mode;
	snprintf(c->ns, sizeof(c->ns), "%s", pl.ns->name);
	pflow__set(c, "namespace", c->ns);
	if (!decide(c, &d)) {
		pconn__deny(c, &d);
		return;
	}
	pflow__verdict(c, &d);
	/* Kept for the ALLOW line sent once the workload answers. */
	snprintf(c->status, sizeof(c->status), "%.*s",
		 (int)sizeof(c->status) - 16, d.reason);
	deliver(c, &local);
}

/* ---- plaintext inbound (steered by sk_lookup) ------------------------------ */

void pconn__accept_plain(int fd, uint32_t netns)
{
	struct nt_addr peer, local;
	struct proxy_listener pl;
	struct nt_err err = {};
	struct decision d;
	struct pconn *c;

	c = pconn_new(PCONN_PLAIN_IN, fd, netns);
	if (!c)
		return;
	pflow__open(c, NULL);
	/* sk_lookup keeps the original address: getsockname() shows it. */
	if (ends(fd, &peer, &local) ||
	    proxy__listener(netns, &local, &pl, NULL, &err)) {
		pflow__set(c, "reason", err.msg[0] ? err.msg : "connection lost");
		pconn__close(c, true, "no enrolled listener");
		return;
	}
	if (pconn__hold_id(&c->dst, &pl.id, &err)) {
		pconn__close(c, true, "out of memory");
		return;
	}
	c->dst_cookie = pl.cookie;
	c->port = local.port;
	c->mode = pl.ns->mode;
	snprintf(c->ns, sizeof(c->ns), "%s", pl.ns->name);
	pflow__set(c, "namespace", c->ns);
	pflow__set(c, "transport", "plaintext");
	if (c->mode == NT_MODE_STRICT) {
		d = (struct decision){ .verdict = VERDICT_DENY, .enforced = true,
				       .rule = -1 };
		snprintf(d.reason, sizeof(d.reason),
			 "strict mode: plaintext refused");
		pconn__deny(c, &d);
		return;
	}
	if (!decide(c, &d)) {
		pconn__deny(c, &d);
		return;
	}
	pflow__verdict(c, &d);
	deliver(c, &local);
}

/* ---- events --------------------------------------------------------------- */

static int connect_result(struct side *s)
{
	int e = 0;
	socklen_t len = sizeof(e);

	if (getsockopt(s->h.fd, SOL_SOCKET, SO_ERROR, &e, &len))
		return -errno;
	return -e;
}

static void on_connected(struct pconn *c)
{
	int ret = connect_result(&c->b);

	if (c->st == PS_CONNECT) {
		if (ret) {
			pconn__outbound_fallback(c, ret == -ECONNREFUSED ?
					  "no node proxy at the destination" :
					  "destination mesh port unreachable");
			return;
		}
		if (!SSL_set_fd(c->b.ssl, c->b.h.fd)) {
			pconn__close(c, true, "TLS setup failed");
			return;
		}
		c->st = PS_HANDSHAKE;
		c->deadline = clock__mono_s() + PROXY_HANDSHAKE_TIMEOUT;
		pconn__handshake(c);
		return;
	}
	pconn__unticket(c);	/* connected or refused: the SYN is past */
	if (ret) {	/* PS_DELIVER */
		pflow__set(c, "reason", "destination refused the connection");
		pconn__close(c, true, "delivery failed");
		return;
	}
	if (relay__start(c)) {
		pconn__close(c, true, "out of memory");
		return;
	}
	if (c->kind == PCONN_MESH && pconn__queue_allow(c)) {
		pconn__close(c, true, "out of memory");
		return;
	}
	relay__pump(c);
}

void pconn__on_event(struct pconn *c, struct side *s, uint32_t events)
{
	switch (c->st) {
	case PS_CONNECT:
	case PS_DELIVER:
		if (s == &c->b)
			on_connected(c);
		break;
	case PS_HANDSHAKE:
		pconn__handshake(c);
		break;
	case PS_STATUS:
		pconn__read_status(c);
		break;
	case PS_OPEN:
		pconn__read_open(c);
		break;
	case PS_RELAY:
		relay__pump(c);
		break;
	case PS_DONE:
		break;
	}
}

void pconn__tick(void)
{
	time_t now = clock__mono_s();
	struct pconn *c, *next;

	admit__tick();
	for (c = conns; c; c = next) {
		next = c->next;
		if (now <= c->deadline)
			continue;
		pflow__set(c, "reason", c->st == PS_RELAY ? "idle timeout" :
			   "handshake or connect timeout");
		pconn__close(c, true, "timeout");
	}
	proxy_tls__refresh_trust();
	tunnel__tick();
}

/* For proxy_recheck.c, which walks them by ->next. */
struct pconn *pconn__first(void)
{
	return conns;
}
