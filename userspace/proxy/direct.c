// SPDX-License-Identifier: Apache-2.0
/*
 * The same-node direct path (proxy_opts.same_node_direct; docs/mesh-
 * protocol.md, "Same node"): a workload's redirected connection whose
 * destination is a workload in another network namespace this proxy
 * serves needs no mTLS hop, since both ends of that hop would be this
 * process. The outbound end gives both verdicts itself, with the same
 * code the two ends run (the caller's identity from the kernel's
 * evidence, then the destination namespace's policy__decide and mode),
 * delivers from the destination's netns as the mesh end does (from
 * loopback, ticketed to the judged socket), and relays between the two
 * workload sockets in memory. Whatever cannot be decided here goes the
 * mTLS way: the caller is then on its own, exactly as before.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "userspace/proxy/proxy_int.h"

/*
 * The address a UDP socket in @netns would send to @to from: the route
 * lookup of that netns, done by the kernel (connect() on a datagram
 * socket sends nothing). -ENETUNREACH and friends when it has no route.
 */
static int route_src(const struct proxy *px, uint32_t netns,
		     const struct nt_addr *to, struct nt_addr *src)
{
	struct sockaddr_storage ss;
	socklen_t len = nt_addr__to_sockaddr(to, to->port ? to->port : 9, &ss);
	int nsfd, fd, ret;

	nsfd = proxy__open_netns(px, netns);
	if (nsfd < 0)
		return nsfd;
	fd = netns__socket(nsfd, ss.ss_family, SOCK_DGRAM, 0);
	close(nsfd);
	if (fd < 0)
		return fd;
	ret = connect(fd, (struct sockaddr *)&ss, len) ? -errno :
	      nt_addr__of_socket(fd, false, src);
	close(fd);
	return ret;
}

/* @a is an address of the netns itself: its route's source is @a. */
static bool local_in(const struct proxy *px, uint32_t netns,
		     const struct nt_addr *a)
{
	struct nt_addr src;

	return !route_src(px, netns, a, &src) && src.family == a->family &&
	       !memcmp(src.addr, a->addr, sizeof(src.addr));
}

struct find {
	const struct proxy *px;
	const struct nt_addr *dst;
	uint32_t ino;
	unsigned int found;		/* served netns holding the address */
};

static int find_one(const struct proxy_netns *n, void *arg)
{
	struct find *f = arg;

	/* A guarded netns has no mesh port: the mTLS path decides there. */
	if (n->guard_only || !local_in(f->px, n->netns_ino, f->dst))
		return 0;
	f->ino = n->netns_ino;
	f->found++;
	return f->found > 1;	/* ambiguous: stop */
}

/*
 * The served netns the workload's destination is an address of, when
 * exactly one holds it: two pods claiming one address (a pod that added
 * another's address to its own interface) leave it to routing, the mTLS
 * way. -ENOENT when none or several.
 */
static int server_netns(const struct proxy *px, const struct nt_addr *dst,
			uint32_t *ino)
{
	struct find f = { .px = px, .dst = dst };

	proxy__foreach_netns(px, find_one, &f);
	if (f.found != 1)
		return -ENOENT;
	*ino = f.ino;
	return 0;
}

/* The connection now judged and delivered as the mesh end would. */
static void take(struct pconn *c, uint32_t ino, const struct proxy_listener *pl,
		 const struct nt_addr *wire_src)
{
	struct decision d;

	c->kind = PCONN_DIRECT;
	c->b_netns = ino;
	c->dst_cookie = pl->cookie;
	c->mode = pl->mode;
	snprintf(c->ns, sizeof(c->ns), "%s", pl->ns);
	pflow__direct(c, wire_src);
	if (!pconn__decide(c, &d)) {
		pconn__deny(c, &d);	/* no TLS: a reset, as the caller would
					 * get from its end of a denied hop */
		return;
	}
	pflow__verdict(c, &d);
	pflow__publish(c);
	if (pconn__connect_b(c, &c->orig_dst, c->port)) {
		pflow__reason(c, "workload unreachable");
		pconn__close(c, true, "delivery failed");
		return;
	}
	c->st = PS_DELIVER;
}

bool pconn__direct(struct pconn *c)
{
	struct proxy *px = c->px;
	struct proxy_listener pl;
	struct nt_addr wire_src, me;
	struct nt_err err = {};
	uint32_t ino;

	if (!px->opts.same_node_direct || nt_addr__is_loopback(&c->orig_dst))
		return false;
	/* The caller's netns must route there at all (else the mTLS path
	 * says why it cannot), and the pod address it would leave from is
	 * what both flows show as their source. */
	if (route_src(px, c->netns, &c->orig_dst, &wire_src) ||
	    server_netns(px, &c->orig_dst, &ino))
		return false;
	/* Only an enrolled listener the delivery can be pinned to: anything
	 * else is for the mesh end to refuse, with its own words. */
	if (proxy__listener(px, ino, &c->orig_dst, &pl, NULL, &err))
		return false;
	if (pconn__hold_id(c, &c->dst, &pl.id, &err)) {
		pconn__close(c, true, "out of memory");
		return true;
	}
	if (!nt_addr__of_socket(c->a.h.fd, true, &me))
		wire_src.port = me.port;	/* the workload's own port */
	take(c, ino, &pl, &wire_src);
	return true;
}
