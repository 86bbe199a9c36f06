// SPDX-License-Identifier: Apache-2.0
/*
 * Proxied connections from birth to close: the list, the two sides and
 * their epoll registration, side B's connect (ticketed when it delivers to
 * a workload), what each event means in each state, and the timeouts.
 * Where a connection goes and what it is allowed: accept.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "userspace/proxy/proxy_int.h"

static void on_side(struct loop_handler *h, uint32_t events);

void pconn__side_init(struct pconn *c, struct side *s)
{
	*s = (struct side){ .h.fd = -1, .h.on_event = on_side, .c = c };
}

struct pconn *pconn__new(struct proxy *px, enum pconn_kind kind, int fd,
			 uint32_t netns)
{
	struct pconn *c = calloc(1, sizeof(*c));

	if (!c) {
		close(fd);
		return NULL;
	}
	c->px = px;
	c->loop = px->loop;
	c->kind = kind;
	c->netns = netns;
	pconn__side_init(c, &c->a);
	pconn__side_init(c, &c->b);
	c->a.h.fd = fd;
	c->t_start = clock__mono_ns();
	c->deadline = clock__mono_s() + PROXY_HANDSHAKE_TIMEOUT;
	c->next = px->conns;
	if (px->conns)
		px->conns->prev = c;
	px->conns = c;
	px->nconns++;
	return c;
}

void pconn__side_close(struct side *s, bool reset)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	if (s->h.fd < 0)
		return;
	if (s->registered)
		loop__del(s->c->loop, &s->h);
	if (reset)
		setsockopt(s->h.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	SSL_free(s->ssl);
	s->ssl = NULL;
	close(s->h.fd);
	s->h.fd = -1;
}

void pconn__close(struct pconn *c, bool reset, const char *why)
{
	struct proxy *px = c->px;

	if (c->st == PS_DONE)
		return;
	if (c->away) {	/* a relay thread's: it ends it (worker.c) */
		/* A handshake shed or timed out is no longer pending, though
		 * its descriptor is freed only once it is back. */
		admit__done(c);
		pworkers__kill(c, why);
		return;
	}
	c->st = PS_DONE;
	admit__done(c);
	pflow__close(c, why);
	pconn__side_close(&c->a, reset);
	pconn__side_close(&c->b, reset);
	pconn__unticket(c);
	relay__free(c);
	spiffe_ids__put(px->env.ids, c->tunnel_id);
	spiffe_ids__put(px->env.ids, c->src);
	spiffe_ids__put(px->env.ids, c->dst);
	c->src = c->dst = NULL;
	if (c->prev)
		c->prev->next = c->next;
	else
		px->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	px->nconns--;
	loop__defer_free(px->loop, c);
}

/* At exit: every connection ends with a reset, its flow closed. */
void pconn__close_all(struct proxy *px)
{
	pworkers__recall(px);
	while (px->conns)
		pconn__close(px->conns, true, "daemon stopped");
	tunnel__close_all(px);
}

/* Points @slot at the interned copy of @id: a connection keeps 8 bytes,
 * not a 2.3 KB struct (env.ids owns the copy; pconn__close gives it back). */
int pconn__hold_id(struct pconn *c, const struct spiffe_id **slot,
		   const struct spiffe_id *id, struct nt_err *err)
{
	struct spiffe_ids *ids = c->px->env.ids;
	const struct spiffe_id *p = spiffe_ids__get(ids, id);

	if (!p)
		return nt_err_set(err, -ENOMEM, "out of memory");
	spiffe_ids__put(ids, *slot);
	*slot = p;
	return 0;
}

/*
 * Every proxied byte was already batched by the workload that wrote it:
 * Nagle would only hold back the small records of a handshake or a verdict
 * line until a delayed ACK, milliseconds per new connection.
 */
void proxy__tune_socket(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
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

/* ---- side B --------------------------------------------------------------------- */

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
	ret = datapath__ticket(c->px->dp, pconn__b_netns(c), &c->deliver_src,
			       &c->deliver_dst, c->dst_cookie);
	if (!ret)
		c->ticketed = true;
	return ret;
}

void pconn__unticket(struct pconn *c)
{
	if (!c->ticketed)
		return;
	datapath__unticket(c->px->dp, pconn__b_netns(c), &c->deliver_src,
			   &c->deliver_dst);
	c->ticketed = false;
}

int pconn__connect_b(struct pconn *c, const struct nt_addr *to, uint16_t port)
{
	struct sockaddr_storage ss;
	socklen_t len = nt_addr__to_sockaddr(to, port, &ss);
	bool local = c->kind == PCONN_MESH || c->kind == PCONN_PLAIN_IN ||
		     c->kind == PCONN_DIRECT;
	int nsfd, fd, ret;

	nsfd = proxy__open_netns(c->px, pconn__b_netns(c));
	if (nsfd < 0)
		return nsfd;
	fd = netns__socket(nsfd, ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
	close(nsfd);
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

/* ---- events ---------------------------------------------------------------------- */

static int connect_result(struct side *s)
{
	int e = 0;
	socklen_t len = sizeof(e);

	if (getsockopt(s->h.fd, SOL_SOCKET, SO_ERROR, &e, &len))
		return -errno;
	return -e;
}

/* Outbound, PS_CONNECT: the peer proxy's mesh port answered, or not. */
static void on_mesh_connected(struct pconn *c, int ret)
{
	if (ret) {
		pconn__outbound_fallback(c, ret == -ECONNREFUSED ?
					 "the destination node runs no nametag proxy" :
					 "the destination node's mesh port is unreachable");
		return;
	}
	if (!SSL_set_fd(c->b.ssl, c->b.h.fd)) {
		pconn__close(c, true, "TLS setup failed");
		return;
	}
	c->st = PS_HANDSHAKE;
	c->deadline = clock__mono_s() + PROXY_HANDSHAKE_TIMEOUT;
	pconn__handshake(c);
}

static void on_connected(struct pconn *c)
{
	int ret = connect_result(&c->b);

	if (c->st == PS_CONNECT) {
		on_mesh_connected(c, ret);
		return;
	}
	pconn__unticket(c);	/* connected or refused: the SYN is past */
	if (ret) {	/* PS_DELIVER */
		pflow__reason(c, "destination refused the connection");
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
	relay__go(c);
}

static void on_side(struct loop_handler *h, uint32_t events)
{
	struct side *s = (struct side *)h;
	struct pconn *c = s->c;

	/* Given back to the main thread after this batch (worker.c). */
	if (c->end != RELAY_RUNNING)
		return;
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

void pconn__tick(struct proxy *px)
{
	time_t now = clock__mono_s();
	struct pconn *c, *next;

	admit__tick(px);
	for (c = px->conns; c; c = next) {
		next = c->next;
		/* A relay thread keeps the deadlines of its relays; those of
		 * its handshakes are kept here (one ended is on its way). */
		if ((c->away && (c->st == PS_RELAY || atomic_load(&c->kill))) ||
		    now <= c->deadline)
			continue;
		pflow__reason(c, c->st == PS_RELAY ? "idle timeout" :
			      "handshake or connect timeout");
		pconn__close(c, true, "timeout");
	}
}
