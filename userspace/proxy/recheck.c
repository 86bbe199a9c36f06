// SPDX-License-Identifier: Apache-2.0
/*
 * Connections already open when the rules change. A verdict is given at
 * accept, but a policy reload or a namespace turning strict must reach what
 * already flows: the plaintext a namespace accepted in permissive mode
 * (PCONN_PLAIN_IN), the plaintext egress it let out (PCONN_EGRESS) and mTLS
 * flows the new rules deny are judged again here, with the namespace's mode
 * as it is now, and closed with a reset when denied.
 *
 * Plaintext egress is judged here for the outbound fallback too, so a
 * connection is let out and later kept by the same rule.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "userspace/proxy/proxy_int.h"

bool proxy__egress_decide(const struct proxy *px, const char *ns,
			  enum nt_mode mode, const struct spiffe_id *src,
			  const struct nt_addr *dst, struct decision *d)
{
	char addr[INET6_ADDRSTRLEN];
	struct decision_input in = {
		.ns = ns, .mode = proxy__mode(mode), .src = src,
		.port = dst->port, .dst_addr = addr,
	};

	/* "10.0.0.5" or "fd00::5", what egress CIDRs are matched against;
	 * "" matches no range: default deny. */
	nt_addr__format_ip(dst, addr, sizeof(addr));
	policy__decide(px->env.policy(px->env.ctx), &in, d);
	/* Egress has no identity for a deny rule to name: only strict's
	 * default deny can stop it, and only an egress rule lifts that. */
	return mode != NT_MODE_STRICT || d->verdict == VERDICT_ALLOW;
}

void proxy__plaintext_decision(enum nt_mode mode, struct decision *d)
{
	*d = (struct decision){ .verdict = VERDICT_DENY, .rule = -1,
				.enforced = mode == NT_MODE_STRICT };
	snprintf(d->reason, sizeof(d->reason), "strict mode: plaintext refused");
}

/* The connection's namespace as it is now; one deleted since is off. */
static enum nt_mode mode_now(const struct pconn *c)
{
	const struct proxy_env *env = &c->px->env;

	return c->ns[0] ? env->ns_mode(env->ctx, c->ns) : NT_MODE_OFF;
}

/* True: @c may go on under @mode. */
static bool judge(const struct pconn *c, enum nt_mode mode, struct decision *d)
{
	struct decision_input in = {
		.ns = c->ns, .mode = proxy__mode(mode),
		.src = c->src, .dst = c->dst, .port = c->port,
	};

	if (c->kind == PCONN_EGRESS)
		return proxy__egress_decide(c->px, c->ns, mode, c->src,
					    &c->orig_dst, d);
	if (c->kind == PCONN_PLAIN_IN) {
		proxy__plaintext_decision(mode, d);
		return !d->enforced;
	}
	policy__decide(c->px->env.policy(c->px->env.ctx), &in, d);
	return !(d->verdict == VERDICT_DENY && d->enforced);
}

/* What carries a stream: plaintext from the moment its far side is
 * dialled (nothing of it was judged under the old rules otherwise), mTLS
 * once its verdict let it relay. */
static bool rechecked(const struct pconn *c)
{
	if (c->kind == PCONN_PLAIN_IN || c->kind == PCONN_EGRESS)
		return c->st == PS_DELIVER || c->st == PS_RELAY;
	return (c->kind == PCONN_MESH || c->kind == PCONN_DIRECT) &&
	       c->st == PS_RELAY;
}

int pconn__recheck(struct pconn *c, proxy_closed_fn closed, void *arg,
		   struct decision *d)
{
	enum nt_mode mode;
	bool to_strict;

	if (!rechecked(c))
		return 0;
	mode = mode_now(c);
	to_strict = mode == NT_MODE_STRICT && c->mode != NT_MODE_STRICT;
	if (judge(c, mode, d)) {
		c->mode = mode;
		return 1;
	}
	c->mode = mode;
	pflow__verdict(c, d);
	if (closed && c->kind != PCONN_MESH && c->kind != PCONN_DIRECT)
		closed(c->ns, c->kind == PCONN_PLAIN_IN, arg);
	pconn__close(c, true, to_strict ? "closed by strict" :
		     "closed by policy");
	return -1;
}

void proxy__recheck(struct proxy *px, proxy_closed_fn closed, void *arg)
{
	struct pconn *c, *next;
	struct decision d;

	for (c = px->conns; c; c = next) {
		next = c->next;
		pconn__recheck(c, closed, arg, &d);
	}
}

/* ---- what the proxy holds ------------------------------------------------- */

static void add_local(int fd, struct nt_addr *v, size_t *n)
{
	if (fd >= 0 && !nt_addr__of_socket(fd, false, &v[*n]))
		(*n)++;
}

/* listen.c binds the outbound listeners there, in every netns. */
static void add_outbound_listeners(struct nt_addr *v, size_t *n)
{
	struct nt_addr lo4, lo6 = { .family = AF_INET6, .port = PROXY_OUTBOUND_PORT };

	nt_addr__set_v4(&lo4, htonl(INADDR_LOOPBACK), PROXY_OUTBOUND_PORT);
	lo6.addr[3] = htonl(1);
	v[(*n)++] = lo4;
	v[(*n)++] = lo6;
}

int proxy__held_addrs(const struct proxy *px, uint32_t netns_ino,
		      struct nt_addr **out, size_t *n)
{
	const struct pconn *c;
	struct nt_addr *v;
	size_t cap = 2;

	for (c = px->conns; c; c = c->next)
		cap += (c->netns == netns_ino) + (pconn__b_netns(c) == netns_ino);
	v = calloc(cap, sizeof(*v));
	if (!v)
		return -ENOMEM;
	*n = 0;
	add_outbound_listeners(v, n);
	for (c = px->conns; c; c = c->next) {
		if (c->netns == netns_ino)
			add_local(c->a.h.fd, v, n);
		if (pconn__b_netns(c) == netns_ino)
			add_local(c->b.h.fd, v, n);
	}
	qsort(v, *n, sizeof(*v), nt_addr__cmp);
	*out = v;
	return 0;
}
