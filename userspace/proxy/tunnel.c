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
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "lib/ntcore.h"
#include "userspace/proxy/proxy_int.h"

struct tunnel {
	struct loop_handler h;		/* readable while idle: the peer closed */
	SSL *ssl;			/* NULL with kTLS */
	bool ktls;
	uint32_t netns;
	uint16_t port;
	uint32_t addr[4];
	/* Ours and the server's, interned (nd->ids): equal IDs, equal
	 * pointers. The tunnel holds a reference on each. */
	const struct spiffe_id *src, *peer;
	const char *tls_version, *cipher;
	time_t reuse_until, idle_until;	/* monotonic seconds */
	unsigned int trust_gen, streams;
	struct tunnel *prev, *next;	/* newest first */
};

static struct tunnel *idle_head, *idle_tail;
static size_t nidle;

static void unlink_tunnel(struct tunnel *t)
{
	if (t->prev)
		t->prev->next = t->next;
	else
		idle_head = t->next;
	if (t->next)
		t->next->prev = t->prev;
	else
		idle_tail = t->prev;
	t->prev = t->next = NULL;
	nidle--;
}

/* Closes and frees an idle tunnel; the struct lives to the end of the
 * event batch, which may still hold an event for it. */
static void drop(struct tunnel *t)
{
	unlink_tunnel(t);
	loop__del(&t->h);
	SSL_free(t->ssl);
	close(t->h.fd);
	t->h.fd = -1;
	spiffe_ids__put(nd->ids, t->src);
	spiffe_ids__put(nd->ids, t->peer);
	loop__defer_free(t);
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

static bool reusable(const struct pconn *c, const struct side *s)
{
	return s->h.fd >= 0 && s->framed && !s->frame_left && !s->hdr_len &&
	       c->src && c->dst &&
	       clock__mono_s() < c->reuse_until &&
	       c->trust_gen == proxy_tls__trust_gen() &&
	       (!s->ssl || !SSL_pending(s->ssl));
}

void tunnel__park(struct pconn *c)
{
	struct side *s = &c->b;
	struct tunnel *t;

	if (!reusable(c, s))
		goto close;
	t = calloc(1, sizeof(*t));
	if (!t)
		goto close;
	t->src = spiffe_ids__get(nd->ids, c->src);
	t->peer = spiffe_ids__get(nd->ids, c->dst);
	if (!t->src || !t->peer)
		goto free_t;
	if (s->registered)
		loop__del(&s->h);
	s->registered = false;
	t->h.fd = s->h.fd;
	t->h.on_event = on_idle_event;
	if (loop__add(&t->h, EPOLLIN))
		goto free_t;
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
	t->idle_until = clock__mono_s() + TUNNEL_CLIENT_IDLE;
	t->next = idle_head;
	if (idle_head)
		idle_head->prev = t;
	else
		idle_tail = t;
	idle_head = t;
	nidle++;
	if (nidle > TUNNEL_MAX_IDLE)
		drop(idle_tail);
	return;
free_t:
	spiffe_ids__put(nd->ids, t->src);
	spiffe_ids__put(nd->ids, t->peer);
	free(t);
close:
	pconn__side_close(s, false);
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
	       t->trust_gen != proxy_tls__trust_gen();
}

bool tunnel__take(struct pconn *c)
{
	time_t now = clock__mono_s();
	struct tunnel *t, *next;

	if (!c->src)
		return false;
	for (t = idle_head; t; t = next) {
		next = t->next;
		if (!matches(t, c))
			continue;
		if (stale(t, now)) {
			drop(t);
			continue;
		}
		unlink_tunnel(t);
		loop__del(&t->h);
		c->b.h.fd = t->h.fd;
		c->b.ssl = t->ssl;
		c->b.ktls = t->ktls;
		c->b.framed = true;
		/* The server's ID moves over with its reference. */
		spiffe_ids__put(nd->ids, c->dst);
		c->dst = t->peer;
		c->tls_version = t->tls_version;
		c->cipher = t->cipher;
		c->reuse_until = t->reuse_until;
		c->trust_gen = t->trust_gen;
		c->stream = t->streams + 1;
		t->h.fd = -1;	/* a pending idle event must not close it */
		spiffe_ids__put(nd->ids, t->src);
		loop__defer_free(t);
		return true;
	}
	return false;
}

void tunnel__tick(void)
{
	time_t now = clock__mono_s();
	struct tunnel *t, *next;

	for (t = idle_head; t; t = next) {
		next = t->next;
		if (stale(t, now))
			drop(t);
	}
}

void tunnel__close_all(void)
{
	while (idle_head)
		drop(idle_head);
}

size_t tunnel__count(void)
{
	return nidle;
}
