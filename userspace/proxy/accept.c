// SPDX-License-Identifier: Apache-2.0
/*
 * The three entry points, one per listener, up to each connection's
 * verdict: outbound (a workload's redirected connect: who is calling,
 * then the peer proxy), mesh (a peer proxy's mTLS: which workload it
 * wants, then the policy) and plaintext inbound (steered by sk_lookup).
 * Who is who comes from the daemon through struct proxy_env; the policy
 * is enforce/'s policy__decide on the policy in force.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>

#include "userspace/proxy/proxy_int.h"

static int ends(int fd, struct nt_addr *peer, struct nt_addr *local)
{
	int ret = nt_addr__of_socket(fd, true, peer);

	return ret ? ret : nt_addr__of_socket(fd, false, local);
}

/*
 * Who would get a connection to @addr in @netns: the listener record the
 * kernel made at listen() (or the daemon from sock_diag), its SPIFFE ID
 * and, when @svid is given, its SVID.
 */
int proxy__listener(struct proxy *px, uint32_t netns, const struct nt_addr *addr,
		    struct proxy_listener *out, const struct svid **svid,
		    struct nt_err *err)
{
	int ret = px->env.listener(px->env.ctx, netns, addr, out, err);

	if (ret || !svid)
		return ret;
	*svid = px->env.svid(px->env.ctx, &out->id, err);
	return *svid ? 0 : -EIO;
}

/* The mesh end's verdict on a stream: its destination namespace's rules
 * and mode, for the caller's SPIFFE ID (direct.c gives the same). */
bool pconn__decide(struct pconn *c, struct decision *d)
{
	struct decision_input in = {
		.ns = c->ns, .mode = proxy__mode(c->mode),
		.src = c->src, .dst = c->dst, .port = c->port,
	};

	policy__decide(c->px->env.policy(c->px->env.ctx), &in, d);
	return !(d->verdict == VERDICT_DENY && d->enforced);
}

/* ---- outbound: workload -> us -> peer proxy ------------------------------- */

/*
 * Side B towards the destination's mesh port: an idle NT2 connection this
 * workload already holds to that destination (no handshake), else a new
 * TCP connection and handshake.
 */
static void dial(struct pconn *c, bool use_pool)
{
	struct proxy *px = c->px;
	struct nt_err err = {};
	const struct svid *svid;

	c->tls = &c->b;
	if (use_pool && tunnel__take(c, clock__mono_s())) {
		c->reused = true;
		pflow__wire_src(c);
		pflow__tls(c);
		pflow__ktls(c, c->b.ktls);
		pconn__open_stream(c);
		return;
	}
	svid = px->env.svid(px->env.ctx, c->src, &err);
	c->b.ssl = svid ? proxy_tls__client(px, svid, c->port, &err) : NULL;
	if (!c->b.ssl || pconn__connect_b(c, &c->orig_dst, PROXY_MESH_PORT)) {
		pflow__reason(c, err.msg[0] ? err.msg : "connect failed");
		pconn__close(c, true, "error");
		return;
	}
	pflow__wire_src(c);
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
		pflow__reason(c, "peer proxy connection failed");
		pconn__close(c, true, "error");
		return;
	}
	c->st = PS_STATUS;
	c->status_len = 0;
	side__register(c->tls, EPOLLIN);
}

/* The caller's identity (the daemon's identity stage) and the SVID it
 * goes out under; false when the connection was closed. */
static bool caller(struct pconn *c, int fd)
{
	struct proxy_env *env = &c->px->env;
	struct proxy_caller who = {};
	struct nt_err err = {};
	const struct svid *svid;
	int ret;

	/* Only connections the kernel redirected (and so attested) are
	 * served; anything else reaching this port is refused. */
	ret = env->caller(env->ctx, fd, &who, &err);
	if (ret == -ENOENT) {
		pconn__close(c, true, "no kernel evidence for this connection");
		return false;
	}
	c->orig_dst = who.ev.orig_dst;
	c->port = who.ev.orig_dst.port;
	c->mode = who.ev.ev.mode;
	snprintf(c->ns, sizeof(c->ns), "%s", who.ns);
	if (!ret && who.has_id)
		pconn__hold_id(c, &c->src, &who.id, &err);
	pflow__open(c, who.who);
	if (!c->src) {
		pflow__reason(c, err.msg);
		pconn__close(c, true, "no identity");
		return false;
	}
	svid = env->svid(env->ctx, c->src, &err);
	if (svid)
		pflow__svid(c, svid);
	return true;
}

void pconn__accept_outbound(struct proxy *px, int fd, uint32_t netns)
{
	struct pconn *c = pconn__new(px, PCONN_OUTBOUND, fd, netns);

	if (!c || !caller(c, fd))
		return;
	side__register(&c->a, 0);
	if (!pconn__direct(c))
		dial(c, true);
}

/*
 * No mTLS to the destination: its node runs no nametag proxy (the mesh
 * port refused us), or its port has no enrolled listener. Permissive
 * mode goes plaintext; strict mode only where the policy explicitly allows
 * plaintext egress to that address and port.
 */
void pconn__outbound_fallback(struct pconn *c, const char *why)
{
	char reason[NT_ERR_MSG_MAX];
	struct decision d;
	bool allowed = proxy__egress_decide(c->px, c->ns, c->mode, c->src,
					    &c->orig_dst, &d);

	pflow__verdict(c, &d);
	if (!allowed) {
		snprintf(reason, sizeof(reason),
			 "strict mode: %.200s, and no egress rule allows plaintext to it",
			 why);
		pflow__reason(c, reason);
		pconn__close(c, true, "refused");
		return;
	}
	/* A new side B: the closed one is still marked registered, and its
	 * successor's fd would never reach epoll. */
	pconn__side_close(&c->b, false);
	pconn__side_init(c, &c->b);
	c->kind = PCONN_EGRESS;
	c->tls = NULL;
	pflow__egress(c, why);
	if (pconn__connect_b(c, &c->orig_dst, c->port)) {
		pconn__close(c, true, "egress connect failed");
		return;
	}
	pflow__wire_src(c);
	pflow__publish(c);
	c->st = PS_DELIVER;
}

/* ---- mesh: peer proxy -> us -> workload ------------------------------------ */

void pconn__accept_mesh(struct proxy *px, int fd, uint32_t netns)
{
	struct nt_err err = {};
	struct pconn *c = pconn__new(px, PCONN_MESH, fd, netns);

	if (!c || !admit__handshake(c))
		return;
	c->tls = &c->a;
	c->a.ssl = proxy_tls__server(px, netns, &err);
	if (!c->a.ssl || !SSL_set_fd(c->a.ssl, fd)) {
		pconn__close(c, true, "TLS setup failed");
		return;
	}
	if (!admit__pressure(px))
		pflow__open(c, NULL);
	c->st = PS_HANDSHAKE;
	pconn__handshake(c);
}

/* Delivers to the workload at the address the client dialled, from this
 * namespace's loopback, pinned to the socket judged (c->dst_cookie). */
static void deliver(struct pconn *c, const struct nt_addr *local)
{
	if (pconn__connect_b(c, local, c->port)) {
		pflow__reason(c, "workload unreachable");
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
	pflow__reason(c, "the port's workload changed: connection retired");
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

/* The judged listener becomes the connection's destination. */
static void set_listener(struct pconn *c, const struct proxy_listener *pl)
{
	c->dst_cookie = pl->cookie;
	c->mode = pl->mode;
	snprintf(c->ns, sizeof(c->ns), "%s", pl->ns);
	pflow__namespace(c);
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
	if (proxy__listener(c->px, c->netns, &local, &pl, NULL, &err) ||
	    pconn__hold_id(c, &c->dst, &pl.id, &err)) {
		deny_why(c, err.msg);
		return;
	}
	if (!same_tunnel_identity(c))
		return;
	set_listener(c, &pl);
	if (!pconn__decide(c, &d)) {
		pconn__deny(c, &d);
		return;
	}
	pflow__verdict(c, &d);
	pflow__publish(c);
	/* Kept for the ALLOW line sent once the workload answers; in observe
	 * and permissive it says what strict would decide. */
	proxy__dry_run(c->status, sizeof(c->status) - 16, &d);
	deliver(c, &local);
}

/* ---- plaintext inbound (steered by sk_lookup) ------------------------------ */

void pconn__accept_plain(struct proxy *px, int fd, uint32_t netns)
{
	struct nt_addr peer, local;
	struct proxy_listener pl;
	struct nt_err err = {};
	struct decision d;
	struct pconn *c;

	c = pconn__new(px, PCONN_PLAIN_IN, fd, netns);
	if (!c)
		return;
	pflow__open(c, NULL);
	/* sk_lookup keeps the original address: getsockname() shows it. */
	if (ends(fd, &peer, &local) ||
	    proxy__listener(px, netns, &local, &pl, NULL, &err)) {
		pflow__reason(c, err.msg[0] ? err.msg : "connection lost");
		pconn__close(c, true, "no enrolled listener");
		return;
	}
	if (pconn__hold_id(c, &c->dst, &pl.id, &err)) {
		pconn__close(c, true, "out of memory");
		return;
	}
	c->port = local.port;
	set_listener(c, &pl);
	pflow__plaintext(c);
	/* Strict refuses plaintext whatever the rules say; permissive lets
	 * it in and records that refusal as a would-deny. */
	proxy__plaintext_decision(c->mode, &d);
	if (d.enforced) {
		pconn__deny(c, &d);
		return;
	}
	pflow__verdict(c, &d);
	pflow__publish(c);
	deliver(c, &local);
}
