// SPDX-License-Identifier: Apache-2.0
/*
 * Moving bytes between the two sides of a proxied connection, with the
 * TCP semantics a workload expects: a FIN (or TLS close_notify) on one side
 * becomes a half-close on the other, a reset becomes a reset, and a side
 * that cannot take more stops us reading from the other (one fixed buffer
 * per direction: backpressure, bounded memory).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

#include "userspace/ktls.h"
#include "userspace/log.h"
#include "userspace/proxy_conn.h"

enum io { IO_OK, IO_AGAIN, IO_EOF, IO_RESET };

uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

time_t mono_s(void)
{
	return mono_ns() / 1000000000ull;
}

static enum io ssl_result(struct side *s, int ret)
{
	switch (SSL_get_error(s->ssl, ret)) {
	case SSL_ERROR_WANT_READ:
		s->want_in = true;
		return IO_AGAIN;
	case SSL_ERROR_WANT_WRITE:
		s->want_out = true;
		return IO_AGAIN;
	case SSL_ERROR_ZERO_RETURN:
		return IO_EOF;		/* close_notify: a clean half-close */
	default:
		/* A TCP EOF without close_notify could be a truncation
		 * attack: the workload gets a reset, never a clean end. */
		ERR_clear_error();
		return IO_RESET;
	}
}

static enum io side_read(struct side *s, char *buf, size_t cap, size_t *n)
{
	int ret, type = -1;
	ssize_t r;

	if (s->ssl) {
		ret = SSL_read(s->ssl, buf, (int)cap);
		if (ret > 0) {
			*n = ret;
			return IO_OK;
		}
		return ssl_result(s, ret);
	}
	r = s->ktls ? ktls__recv(s->h.fd, buf, cap, &type) :
		      recv(s->h.fd, buf, cap, 0);
	if (r > 0) {
		*n = r;
		return IO_OK;
	}
	/* kTLS: a FIN without close_notify may be a truncation. */
	if (r == 0)
		return type == 0 ? IO_RESET : IO_EOF;
	if (errno == EAGAIN || errno == EINTR) {
		s->want_in = true;
		return IO_AGAIN;
	}
	return IO_RESET;
}

static enum io side_write(struct side *s, const char *buf, size_t len,
			  size_t *n)
{
	ssize_t r;
	int ret;

	if (s->ssl) {
		ret = SSL_write(s->ssl, buf, (int)len);
		if (ret > 0) {
			*n = ret;
			return IO_OK;
		}
		return ssl_result(s, ret);
	}
	r = send(s->h.fd, buf, len, MSG_NOSIGNAL);
	if (r >= 0) {
		*n = r;
		return IO_OK;
	}
	if (errno == EAGAIN || errno == EINTR) {
		s->want_out = true;
		return IO_AGAIN;
	}
	return IO_RESET;
}

/* Our half-close towards @s: close_notify on TLS, then FIN. */
static enum io side_shutdown(struct side *s)
{
	int ret;

	if (s->ssl) {
		ret = SSL_shutdown(s->ssl);
		if (ret < 0 && ssl_result(s, ret) == IO_AGAIN)
			return IO_AGAIN;
	} else if (s->ktls) {
		ktls__send_close_notify(s->h.fd);
	}
	shutdown(s->h.fd, SHUT_WR);
	s->wr_shut = true;
	return IO_OK;
}

/* One direction: read @from into @b when it is empty, write @b to @to. */
static int move(struct pconn *c, struct side *from, struct side *to,
		struct pbuf *b, uint64_t *count)
{
	bool progress = false;
	size_t n;
	enum io r;

	if (b->len == 0 && !from->rd_eof) {
		r = side_read(from, b->data, PROXY_BUF, &n);
		if (r == IO_RESET)
			return -ECONNRESET;
		if (r == IO_EOF)
			from->rd_eof = true;
		if (r == IO_OK) {
			b->off = 0;
			b->len = n;
		}
		progress = r == IO_OK || r == IO_EOF;
	}
	while (b->len) {
		r = side_write(to, b->data + b->off, b->len, &n);
		if (r == IO_RESET)
			return -ECONNRESET;
		if (r != IO_OK)
			break;
		b->off += n;
		b->len -= n;
		*count += n;
		progress = true;
	}
	if (from->rd_eof && !b->len && !to->wr_shut) {
		if (side_shutdown(to) == IO_OK)
			progress = true;
	}
	return progress;
}

void relay__pump(struct pconn *c)
{
	int up, down;

	c->a.want_in = c->a.want_out = c->b.want_in = c->b.want_out = false;
	do {
		up = move(c, &c->a, &c->b, &c->up, &c->bytes_up);
		down = up < 0 ? 0 : move(c, &c->b, &c->a, &c->down,
					   &c->bytes_down);
		if (up < 0 || down < 0) {
			pconn__close(c, true, "reset");
			return;
		}
	} while (up > 0 || down > 0);
	if (c->a.rd_eof && c->b.rd_eof && c->a.wr_shut && c->b.wr_shut &&
	    !c->up.len && !c->down.len) {
		pconn__close(c, false, "closed");
		return;
	}
	c->deadline = mono_s() + PROXY_IDLE_TIMEOUT;
	relay__update(c);
}

int side__register(struct side *s, uint32_t events)
{
	int ret;

	if (s->h.fd < 0)
		return 0;
	if (s->registered && s->events == events)
		return 0;
	ret = s->registered ? loop__mod(&s->h, events) : loop__add(&s->h, events);
	if (!ret) {
		s->registered = true;
		s->events = events;
	}
	return ret;
}

/* Level-triggered interest from the buffers and what the I/O asked for. */
void relay__update(struct pconn *c)
{
	uint32_t ea = 0, eb = 0;

	if ((!c->up.len && !c->a.rd_eof) || c->a.want_in)
		ea |= EPOLLIN;
	if (c->down.len || c->a.want_out)
		ea |= EPOLLOUT;
	if ((!c->down.len && !c->b.rd_eof) || c->b.want_in)
		eb |= EPOLLIN;
	if (c->up.len || c->b.want_out)
		eb |= EPOLLOUT;
	if (side__register(&c->a, ea) || side__register(&c->b, eb))
		pconn__close(c, true, "epoll failed");
}

/* For the verdict line: 1 done, 0 try again (want_in/out set), -1 EOF or
 * error. */
int side__read(struct side *s, char *buf, size_t cap, size_t *n)
{
	enum io r = side_read(s, buf, cap, n);

	return r == IO_OK ? 1 : r == IO_AGAIN ? 0 : -1;
}

int side__write(struct side *s, const char *buf, size_t len, size_t *n)
{
	enum io r = side_write(s, buf, len, n);

	return r == IO_OK ? 1 : r == IO_AGAIN ? 0 : -1;
}

int relay__start(struct pconn *c)
{
	if (!c->up.data)
		c->up.data = malloc(PROXY_BUF);
	if (!c->down.data)
		c->down.data = malloc(PROXY_BUF);
	if (!c->up.data || !c->down.data)
		return -ENOMEM;
	c->st = PS_RELAY;
	c->deadline = mono_s() + PROXY_IDLE_TIMEOUT;
	return 0;
}
