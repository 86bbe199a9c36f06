// SPDX-License-Identifier: Apache-2.0
/*
 * Idle NT2 tunnels (userspace/proxy/tunnel.c) and when a connection stops
 * carrying streams, with the clock passed in: a tunnel is taken by the
 * next stream of the same workload to the same destination, expires
 * after TUNNEL_CLIENT_IDLE, is retired once an SVID on it is half way
 * through its life or the trust bundles change, dies with its peer, and
 * at most TUNNEL_MAX_IDLE wait. On the server side, a connection is
 * retired when the workload it presented is no longer the one listening.
 */
#include <string.h>
#include <sys/socket.h>

#include "tests/unit/fixture_proxy.h"

#define NOW	1000
#define PORT	8080

struct pool {
	struct fake_daemon fk;
	struct proxy *px;
	struct spiffe_id src, peer;
	int far[TUNNEL_MAX_IDLE + 2];	/* the peer proxy's ends */
	int nfar;
};

static void pool_open(struct pool *p)
{
	memset(p, 0, sizeof(*p));
	p->px = fake_proxy(&p->fk);
	id_of(&p->src, "spiffe://td.test/ns/shop/sa/front");
	id_of(&p->peer, "spiffe://td.test/ns/shop/sa/back");
}

static void pool_close(struct pool *p)
{
	int i;

	fake_proxy_free(p->px, &p->fk);
	for (i = 0; i < p->nfar; i++)
		close(p->far[i]);
}

/* An outbound connection of the workload @p->src to 10.0.0.2:@port, its
 * stream over; side B an NT2 connection (a socketpair) to the peer. */
static struct pconn *outbound(struct pool *p, uint16_t port, time_t reuse_until)
{
	struct pconn *c = pconn__new(p->px, PCONN_OUTBOUND, -1, 7);
	int fds[2];

	stream_pair(fds);
	p->far[p->nfar++] = fds[1];
	c->b.h.fd = fds[0];
	c->b.framed = true;
	c->port = port;
	nt_addr__set_v4(&c->orig_dst, htonl(0x0a000002), port);
	pconn__hold_id(c, &c->src, &p->src, NULL);
	pconn__hold_id(c, &c->dst, &p->peer, NULL);
	c->reuse_until = reuse_until;
	c->trust_gen = p->px->tls.trust_gen;
	c->stream = 1;
	return c;
}

/* The next connect() of the same workload, not yet dialled. */
static struct pconn *next_stream(struct pool *p, uint16_t port)
{
	struct pconn *c = pconn__new(p->px, PCONN_OUTBOUND, -1, 7);

	c->port = port;
	nt_addr__set_v4(&c->orig_dst, htonl(0x0a000002), port);
	pconn__hold_id(c, &c->src, &p->src, NULL);
	return c;
}

static void park(struct pconn *c, time_t now)
{
	tunnel__park(c, now);
	pconn__close(c, false, "closed");
}

static void test_taken_by_the_next_stream(void)
{
	struct pool p;
	struct pconn *c, *n;
	int fd;

	pool_open(&p);
	c = outbound(&p, PORT, NOW + 100);
	fd = c->b.h.fd;
	park(c, NOW);
	CHECK_EQ(p.px->nidle, 1);
	n = next_stream(&p, PORT);
	CHECK(tunnel__take(n, NOW + 1));
	CHECK_EQ(n->b.h.fd, fd);		/* the same connection */
	CHECK(n->b.framed);
	CHECK_EQ(n->stream, 2);			/* its second stream */
	CHECK(n->dst && spiffe_id__equal(n->dst, &p.peer));
	CHECK_EQ(p.px->nidle, 0);
	CHECK(!tunnel__take(next_stream(&p, PORT), NOW + 1));
	pool_close(&p);
}

static void test_not_taken_by_another_destination(void)
{
	struct pool p;

	pool_open(&p);
	park(outbound(&p, PORT, NOW + 100), NOW);
	CHECK(!tunnel__take(next_stream(&p, PORT + 1), NOW + 1));
	CHECK_EQ(p.px->nidle, 1);		/* still there for its own */
	pool_close(&p);
}

static void test_expires_when_idle(void)
{
	struct pool p;
	char buf[8];

	pool_open(&p);
	park(outbound(&p, PORT, NOW + 1000), NOW);
	tunnel__expire(p.px, NOW + TUNNEL_CLIENT_IDLE - 1);
	CHECK_EQ(p.px->nidle, 1);
	tunnel__expire(p.px, NOW + TUNNEL_CLIENT_IDLE);
	CHECK_EQ(p.px->nidle, 0);
	CHECK_EQ(read(p.far[0], buf, sizeof(buf)), 0);	/* closed */
	pool_close(&p);
}

/* An SVID on it is half way through its life: its workload has a new
 * one by now, and the connection proves the old one. */
static void test_retired_at_half_life(void)
{
	struct pool p;

	pool_open(&p);
	park(outbound(&p, PORT, NOW + 5), NOW);
	CHECK(!tunnel__take(next_stream(&p, PORT), NOW + 5));
	CHECK_EQ(p.px->nidle, 0);
	park(outbound(&p, PORT, NOW), NOW);	/* past it already */
	CHECK_EQ(p.px->nidle, 0);
	pool_close(&p);
}

static void test_retired_when_trust_changes(void)
{
	struct pool p;

	pool_open(&p);
	park(outbound(&p, PORT, NOW + 100), NOW);
	p.px->tls.trust_gen++;			/* bundles reloaded */
	CHECK(!tunnel__take(next_stream(&p, PORT), NOW + 1));
	CHECK_EQ(p.px->nidle, 0);
	pool_close(&p);
}

/* Only a connection between streams, whole frames read, is kept. */
static void test_not_kept_mid_frame(void)
{
	struct pool p;
	struct pconn *c;

	pool_open(&p);
	c = outbound(&p, PORT, NOW + 100);
	c->b.frame_left = 3;
	park(c, NOW);
	CHECK_EQ(p.px->nidle, 0);
	c = outbound(&p, PORT, NOW + 100);
	c->b.framed = false;			/* NT1: one stream only */
	park(c, NOW);
	CHECK_EQ(p.px->nidle, 0);
	pool_close(&p);
}

/* Anything arriving on an idle tunnel (the peer closing it) ends it. */
static void test_dies_with_its_peer(void)
{
	struct pool p;

	pool_open(&p);
	park(outbound(&p, PORT, NOW + 100), NOW);
	shutdown(p.far[0], SHUT_WR);
	CHECK_EQ(loop__run_once(p.px->loop, 1000), 1);
	CHECK_EQ(p.px->nidle, 0);
	pool_close(&p);
}

static void test_at_most_max_idle(void)
{
	struct pool p;
	char buf[8];
	int i;

	pool_open(&p);
	for (i = 0; i <= TUNNEL_MAX_IDLE; i++)
		park(outbound(&p, PORT, NOW + 100), NOW);
	CHECK_EQ(p.px->nidle, TUNNEL_MAX_IDLE);
	CHECK_EQ(read(p.far[0], buf, sizeof(buf)), 0);	/* the oldest went */
	pool_close(&p);
}

/* Server side: the connection presented the SVID of the workload then
 * listening; a stream for a port another workload listens on now is
 * refused by closing the connection, before any verdict. */
static void test_server_retired_when_the_workload_changes(void)
{
	struct fake_daemon fk;
	struct proxy *px = fake_proxy(&fk);
	struct spiffe_id then, now;
	struct pconn *c;
	int fds[2];

	id_of(&then, "spiffe://td.test/ns/shop/sa/back");
	id_of(&now, "spiffe://td.test/ns/shop/sa/usurper");
	tcp_pair(fds);
	c = pconn__new(px, PCONN_MESH, fds[0], 7);
	c->tls = &c->a;
	c->port = PORT;
	pconn__hold_id(c, &c->tunnel_id, &then, NULL);
	pflow__open(c, NULL);
	fk.listener.id = now;
	fk.listener.mode = NT_MODE_STRICT;
	snprintf(fk.listener.ns, sizeof(fk.listener.ns), "shop");
	pconn__mesh_verdict(c);
	CHECK_EQ(c->st, PS_DONE);
	CHECK_STR(fake_record(&fk, c->flow_id)->state, "retired");
	CHECK_STR(fake_record(&fk, c->flow_id)->reason,
		  "the port's workload changed: connection retired");
	fake_proxy_free(px, &fk);
	close(fds[1]);
}

/* Server side, NT2: no new stream once an SVID on the connection is at
 * half life (the client retires it too, and dials anew). */
static void test_server_retired_at_half_life(void)
{
	struct fake_daemon fk;
	struct proxy *px = fake_proxy(&fk);
	uint8_t open[FRAME_HDR];
	struct pconn *c;
	int fds[2];

	stream_pair(fds);
	c = pconn__new(px, PCONN_MESH, fds[0], 7);
	c->tls = &c->a;
	c->a.framed = true;
	c->stream = 2;
	c->trust_gen = px->tls.trust_gen;
	c->reuse_until = clock__mono_s() - 1;
	c->st = PS_OPEN;
	frame__hdr(open, FRAME_OPEN, 0);
	put(fds[1], open, sizeof(open));
	pconn__read_open(c);
	CHECK_EQ(c->st, PS_DONE);
	CHECK_EQ(c->flow_id, 0);		/* no stream, no record */
	fake_proxy_free(px, &fk);
	close(fds[1]);
}

T_MAIN("proxy/tunnel",
       T(test_taken_by_the_next_stream),
       T(test_not_taken_by_another_destination),
       T(test_expires_when_idle),
       T(test_retired_at_half_life),
       T(test_retired_when_trust_changes),
       T(test_not_kept_mid_frame),
       T(test_dies_with_its_peer),
       T(test_at_most_max_idle),
       T(test_server_retired_when_the_workload_changes),
       T(test_server_retired_at_half_life));
