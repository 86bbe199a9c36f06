// SPDX-License-Identifier: Apache-2.0
/*
 * The pool of idle NT2 connections to peer proxies (docs/mesh-protocol.md).
 * When a workload's stream ends cleanly, the mTLS connection that carried
 * it is kept, keyed by who it proves (the workload's SPIFFE ID, in its
 * network namespace) and where it goes (destination address and port).
 * The next connect() of the same workload to the same destination takes it
 * and skips the handshake; every stream still gets its own verdict.
 *
 * A connection starts no stream once either SVID on it is half way through
 * its life (its workload has a new one by then) or the trust bundles have
 * changed since its handshake; it is dropped when the peer closes it, after
 * TUNNEL_CLIENT_IDLE seconds, or when TUNNEL_MAX_IDLE newer ones wait.
 * The time is passed in (@now) so the unit tests can age tunnels.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "userspace/proxy/proxy_int.h"

struct tunnel {
	struct loop_handler h;		/* readable while idle: the peer closed */
	struct proxy *px;
	SSL *ssl;			/* NULL with kTLS */
	bool ktls;
	uint32_t netns;
	uint16_t port;
	uint32_t addr[4];
	/* Ours and the server's, interned (env.ids): equal IDs, equal
	 * pointers. The tunnel holds a reference on each. */
	const struct spiffe_id *src, *peer;
	const char *tls_version, *cipher;
	time_t reuse_until, idle_until;	/* monotonic seconds */
	unsigned int trust_gen, streams;
	struct tunnel *prev, *next;	/* newest first */
};

static void unlink_tunnel(struct tunnel *t)
{
	struct proxy *px = t->px;

	if (t->prev)
		t->prev->next = t->next;
	else
		px->idle_head = t->next;
	if (t->next)
		t->next->prev = t->prev;
	else
		px->idle_tail = t->prev;
	t->prev = t->next = NULL;
	px->nidle--;
}

static void put_ids(struct tunnel *t)
{
	spiffe_ids__put(t->px->env.ids, t->src);
	spiffe_ids__put(t->px->env.ids, t->peer);
}

/* Closes and frees an idle tunnel; the struct lives to the end of the
 * event batch, which may still hold an event for it. */
static void drop(struct tunnel *t)
{
	unlink_tunnel(t);
	loop__del(t->px->loop, &t->h);
	SSL_free(t->ssl);
	close(t->h.fd);
	t->h.fd = -1;
	put_ids(t);
	loop__defer_free(t->px->loop, t);
}

/* Nothing may arrive on an idle connection: EOF, close_notify or bytes
 * all end it. */
static void on_idle_event(struct loop_handler *h, uint32_t events)
{
	struct tunnel *t = (struct tunnel *)h;

	if (t->h.fd < 0)
		return;
	pr_debug("idle mesh connection closed by the peer");
	drop(t);
}

static bool reusable(const struct pconn *c, const struct side *s, time_t now)
{
	return s->h.fd >= 0 && s->framed && !s->frame_left && !s->hdr_len &&
	       c->src && c->dst && now < c->reuse_until &&
	       c->trust_gen == c->px->tls.trust_gen &&
	       (!s->ssl || !SSL_pending(s->ssl));
}

/* Side B's socket and TLS state move into @t, which joins the pool. */
static int adopt(struct tunnel *t, struct pconn *c, time_t now)
{
	struct proxy *px = c->px;
	struct side *s = &c->b;

	if (s->registered)
		loop__del(px->loop, &s->h);
	s->registered = false;
	t->h.fd = s->h.fd;
	t->h.on_event = on_idle_event;
	if (loop__add(px->loop, &t->h, EPOLLIN))
		return -EIO;
	t->ssl = s->ssl;
	t->ktls = s->ktls;
	s->ssl = NULL;
	s->h.fd = -1;
	t->netns = c->netns;
	t->port = c->port;
	memcpy(t->addr, c->orig_dst.addr, sizeof(t->addr));
	t->tls_version = c->tls_version;
	t->cipher = c->cipher;
	t->reuse_until = c->reuse_until;
	t->trust_gen = c->trust_gen;
	t->streams = c->stream;
	t->idle_until = now + TUNNEL_CLIENT_IDLE;
	return 0;
}

void tunnel__park(struct pconn *c, time_t now)
{
	struct proxy *px = c->px;
	struct tunnel *t;

	if (!reusable(c, &c->b, now))
		goto close;
	t = calloc(1, sizeof(*t));
	if (!t)
		goto close;
	t->px = px;
	t->src = spiffe_ids__get(px->env.ids, c->src);
	t->peer = spiffe_ids__get(px->env.ids, c->dst);
	if (!t->src || !t->peer || adopt(t, c, now)) {
		put_ids(t);
		free(t);
		goto close;
	}
	t->next = px->idle_head;
	if (px->idle_head)
		px->idle_head->prev = t;
	else
		px->idle_tail = t;
	px->idle_head = t;
	px->nidle++;
	if (px->nidle > TUNNEL_MAX_IDLE)
		drop(px->idle_tail);
	return;
close:
	pconn__side_close(&c->b, false);
}

static bool matches(const struct tunnel *t, const struct pconn *c)
{
	return t->netns == c->netns && t->port == c->port &&
	       !memcmp(t->addr, c->orig_dst.addr, sizeof(t->addr)) &&
	       t->src == c->src;
}

static bool stale(const struct tunnel *t, time_t now)
{
	return now >= t->idle_until || now >= t->reuse_until ||
	       t->trust_gen != t->px->tls.trust_gen;
}

/* The tunnel's connection becomes side B of @c. */
static void hand_over(struct tunnel *t, struct pconn *c)
{
	struct proxy *px = c->px;

	unlink_tunnel(t);
	loop__del(px->loop, &t->h);
	c->b.h.fd = t->h.fd;
	c->b.ssl = t->ssl;
	c->b.ktls = t->ktls;
	c->b.framed = true;
	/* The server's ID moves over with its reference. */
	spiffe_ids__put(px->env.ids, c->dst);
	c->dst = t->peer;
	c->tls_version = t->tls_version;
	c->cipher = t->cipher;
	c->reuse_until = t->reuse_until;
	c->trust_gen = t->trust_gen;
	c->stream = t->streams + 1;
	t->h.fd = -1;	/* a pending idle event must not close it */
	spiffe_ids__put(px->env.ids, t->src);
	loop__defer_free(px->loop, t);
}

bool tunnel__take(struct pconn *c, time_t now)
{
	struct tunnel *t, *next;

	if (!c->src)
		return false;
	for (t = c->px->idle_head; t; t = next) {
		next = t->next;
		if (!matches(t, c))
			continue;
		if (stale(t, now)) {
			drop(t);
			continue;
		}
		hand_over(t, c);
		return true;
	}
	return false;
}

void tunnel__expire(struct proxy *px, time_t now)
{
	struct tunnel *t, *next;

	for (t = px->idle_head; t; t = next) {
		next = t->next;
		if (stale(t, now))
			drop(t);
	}
}

void tunnel__close_all(struct proxy *px)
{
	while (px->idle_head)
		drop(px->idle_head);
}
