// SPDX-License-Identifier: Apache-2.0
/*
 * The proxy's side of an upgrade in place (docs/process-model.md). The new
 * nametagd adopts the old one's listening sockets, the very sockets, so
 * their backlogs and their places in proxy_socks survive; the old one
 * stops accepting and drains: every connection it holds finishes where it
 * is, none is reset. Idle NT2 connections are closed cleanly at once, so
 * the next stream dials through the new process; one that carries a
 * stream is closed cleanly when the stream ends. At the deadline what is
 * left is closed cleanly too (close_notify, FIN) and counted.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "userspace/proxy/proxy_int.h"

#define DISCARD_MAX	(1 << 20)	/* bytes read and dropped before a close */

struct adopted_listener {
	uint32_t netns_ino;
	int fd[PROXY_L_MAX];
	struct adopted_listener *next;
};

int proxy__adopt_listeners(struct proxy *px, uint32_t netns_ino,
			   const int fds[PROXY_L_MAX])
{
	struct adopted_listener *a = calloc(1, sizeof(*a));
	int k;

	if (!a) {
		for (k = 0; k < PROXY_L_MAX; k++)
			if (fds[k] >= 0)
				close(fds[k]);
		return -ENOMEM;
	}
	a->netns_ino = netns_ino;
	memcpy(a->fd, fds, sizeof(a->fd));
	a->next = px->adopted;
	px->adopted = a;
	return 0;
}

int proxy__adopted_fd(struct proxy *px, uint32_t ino, enum proxy_lkind k)
{
	struct adopted_listener *a;
	int fd;

	for (a = px->adopted; a; a = a->next) {
		if (a->netns_ino != ino)
			continue;
		fd = a->fd[k];
		a->fd[k] = -1;
		return fd;
	}
	return -1;
}

void proxy__adopt_done(struct proxy *px)
{
	struct adopted_listener *a;
	int k;

	while ((a = px->adopted)) {
		px->adopted = a->next;
		for (k = 0; k < PROXY_L_MAX; k++)
			if (a->fd[k] >= 0)
				close(a->fd[k]);
		free(a);
	}
}

/* ---- closing without a reset ---------------------------------------------------- */

/* A close() with unread bytes in the receive queue sends a reset: read
 * them first (a bounded amount; a peer that keeps sending past it is not
 * waiting for an orderly end anyway). */
static void discard_input(int fd, char *buf, size_t cap)
{
	size_t total = 0;
	ssize_t n;

	while (total < DISCARD_MAX) {
		n = recv(fd, buf, cap, MSG_DONTWAIT);
		if (n <= 0)
			break;
		total += n;
	}
}

static void side_finish(struct proxy *px, struct side *s)
{
	if (s->h.fd < 0)
		return;
	if (s->ktls)
		ktls__send_close_notify(s->h.fd);
	else if (s->ssl && SSL_is_init_finished(s->ssl))
		SSL_shutdown(s->ssl);	/* sends close_notify, waits for none */
	shutdown(s->h.fd, SHUT_WR);
	discard_input(s->h.fd, px->scratch, sizeof(px->scratch));
}

void pconn__close_clean(struct pconn *c, const char *why)
{
	if (c->st == PS_DONE)
		return;
	side_finish(c->px, &c->a);
	side_finish(c->px, &c->b);
	pconn__close(c, false, why);
}

/* ---- the drain ---------------------------------------------------------------- */

/* A server side between streams, with nothing arrived yet: its client
 * parked it. Closing it makes that client drop it from its pool; an OPEN
 * already on its way is answered by the client with a new connection
 * (mesh-protocol.md: a pooled connection that fails before its verdict
 * is replaced). */
static bool idle_server_side(const struct pconn *c)
{
	char b;

	if (c->kind != PCONN_MESH || c->st != PS_OPEN || c->stream < 2)
		return false;
	if (c->a.ssl && SSL_pending(c->a.ssl))
		return false;
	return recv(c->a.h.fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) < 0 &&
	       errno == EAGAIN;
}

void proxy__drain(struct proxy *px)
{
	struct pconn *c, *next;
	size_t idle = px->nidle;

	px->draining = true;
	proxy__pause_listeners(px, true);
	tunnel__close_all(px);
	for (c = px->conns; c; c = next) {
		next = c->next;
		if (idle_server_side(c)) {
			pconn__close_clean(c, "closed");
			idle++;
		}
	}
	pr_info("draining: %zu idle mesh connections closed, %zu connections left to finish",
		idle, px->nconns);
}

size_t proxy__drain_left(const struct proxy *px)
{
	return px->nconns + px->nidle;
}

size_t proxy__drain_close(struct proxy *px)
{
	size_t n = px->nconns;

	while (px->conns)
		pconn__close_clean(px->conns, "drain deadline");
	tunnel__close_all(px);
	return n;
}

void proxy__reload_trust(struct proxy *px)
{
	/* A file rewritten in place within the mtime's granularity, or a
	 * federation file changed without touching its directory: read all
	 * again, whatever the times say. */
	memset(px->tls.trust_mtime, 0, sizeof(px->tls.trust_mtime));
	proxy_tls__refresh_trust(px);
}
