// SPDX-License-Identifier: Apache-2.0
/*
 * The HTTP side of nametagd --metrics: a listener in the daemon's own
 * event loop that answers GET /metrics with metrics.c's text, one request
 * per connection (Connection: close), and nothing else. Prometheus scrapes
 * once every few seconds; the bounds are there for everything else that
 * might connect: at most METRICS_CLIENTS at once, a request of at most
 * METRICS_REQ_MAX bytes, METRICS_TIMEOUT seconds to send it and read the
 * answer. The text is made when the request is complete, so a scrape
 * costs the loop one pass over the counters and the SVID cache.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "userspace/daemon/daemon.h"

#define METRICS_CLIENTS		16
#define METRICS_REQ_MAX		4096
#define METRICS_TIMEOUT		5	/* seconds */
#define METRICS_CTYPE		"text/plain; version=0.0.4; charset=utf-8"

struct metrics_client {
	struct loop_handler h;		/* first: the handler is the client */
	struct metrics_http *mh;
	time_t deadline;
	char req[METRICS_REQ_MAX];
	size_t len;
	char *out;			/* the whole answer, headers first */
	size_t out_len, out_off;
};

struct metrics_http {
	struct daemon *d;
	struct loop_handler listener;
	struct metrics_client *clients[METRICS_CLIENTS];
	char addr[NT_ADDR_TEXT_MAX];
};

static void client_close(struct metrics_client *c)
{
	struct metrics_http *mh = c->mh;
	size_t i;

	for (i = 0; i < METRICS_CLIENTS; i++)
		if (mh->clients[i] == c)
			mh->clients[i] = NULL;
	loop__del(mh->d->loop, &c->h);
	close(c->h.fd);
	c->h.fd = -1;
	free(c->out);
	c->out = NULL;
	loop__defer_free(mh->d->loop, c);
}

static int answer(struct metrics_client *c, const char *status,
		  const char *ctype, const char *body, size_t len, bool head)
{
	char hdr[256];
	int n;

	n = snprintf(hdr, sizeof(hdr),
		     "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		     "Connection: close\r\n\r\n", status, ctype, len);
	c->out = malloc(n + (head ? 0 : len));
	if (!c->out)
		return -ENOMEM;
	memcpy(c->out, hdr, n);
	if (!head)
		memcpy(c->out + n, body, len);
	c->out_len = n + (head ? 0 : len);
	c->out_off = 0;
	return 0;
}

static int answer_text(struct metrics_client *c, const char *status,
		       const char *text)
{
	return answer(c, status, "text/plain; charset=utf-8", text,
		      strlen(text), false);
}

/* The request line of a complete request: GET or HEAD of /metrics. */
static int respond(struct metrics_client *c)
{
	char method[8], target[256];
	char *text = NULL;
	size_t len, plen;
	bool head;
	int ret;

	if (sscanf(c->req, "%7s %255s HTTP/1.", method, target) != 2)
		return answer_text(c, "400 Bad Request", "bad request\n");
	head = !strcmp(method, "HEAD");
	if (!head && strcmp(method, "GET"))
		return answer_text(c, "405 Method Not Allowed",
				   "only GET /metrics\n");
	plen = strcspn(target, "?");
	if (plen != strlen("/metrics") || strncmp(target, "/metrics", plen))
		return answer_text(c, "404 Not Found",
				   "nametagd serves /metrics only\n");
	ret = metrics__render(c->mh->d, &text, &len);
	if (ret)
		return answer_text(c, "503 Service Unavailable",
				   "out of memory\n");
	ret = answer(c, "200 OK", METRICS_CTYPE, text, len, head);
	free(text);
	return ret;
}

static void client_write(struct metrics_client *c)
{
	ssize_t n;

	while (c->out_off < c->out_len) {
		n = send(c->h.fd, c->out + c->out_off, c->out_len - c->out_off,
			 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			loop__mod(c->mh->d->loop, &c->h, EPOLLOUT);
			return;
		}
		if (n <= 0)
			break;
		c->out_off += n;
	}
	client_close(c);
}

static void on_client(struct loop_handler *h, uint32_t events)
{
	struct metrics_client *c = (struct metrics_client *)h;
	ssize_t n;

	if (c->out) {
		client_write(c);
		return;
	}
	n = recv(h->fd, c->req + c->len, sizeof(c->req) - 1 - c->len,
		 MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		client_close(c);
		return;
	}
	c->len += n;
	c->req[c->len] = '\0';
	if (!strstr(c->req, "\r\n\r\n") && !strstr(c->req, "\n\n")) {
		if (c->len == sizeof(c->req) - 1 &&
		    !answer_text(c, "431 Request Header Fields Too Large",
				 "request too large\n"))
			client_write(c);
		else if (c->len == sizeof(c->req) - 1)
			client_close(c);
		return;
	}
	if (respond(c)) {
		client_close(c);
		return;
	}
	client_write(c);
}

static void on_accept(struct loop_handler *h, uint32_t events)
{
	struct metrics_http *mh = (struct metrics_http *)((char *)h -
				  offsetof(struct metrics_http, listener));
	struct metrics_client *c;
	int fd, i;

	fd = accept4(h->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0 && (errno == EMFILE || errno == ENFILE))
		fdlimit__refuse(h->fd);	/* else the loop spins on it */
	if (fd < 0)
		return;
	for (i = 0; i < METRICS_CLIENTS && mh->clients[i]; i++)
		;
	c = i < METRICS_CLIENTS ? calloc(1, sizeof(*c)) : NULL;
	if (!c) {
		fdlimit__reset(fd);
		return;
	}
	c->h = (struct loop_handler){ .fd = fd, .on_event = on_client };
	c->mh = mh;
	c->deadline = clock__mono_s() + METRICS_TIMEOUT;
	if (loop__add(mh->d->loop, &c->h, EPOLLIN)) {
		close(fd);
		free(c);
		return;
	}
	mh->clients[i] = c;
}

/* "127.0.0.1:9477", "[::1]:9477", or a bare port for 127.0.0.1. */
static int parse_addr(const char *in, struct nt_addr *a, struct nt_err *err)
{
	char buf[NT_ADDR_TEXT_MAX + 16];

	if (in[0] && strspn(in, "0123456789") == strlen(in)) {
		snprintf(buf, sizeof(buf), "127.0.0.1:%s", in);
		in = buf;
	}
	if (nt_addr__parse(in, a, err))
		return nt_err_prefix(err, -EINVAL, "--metrics");
	if (!a->port)
		return nt_err_set(err, -EINVAL, "--metrics %s: a port is needed",
				  in);
	return 0;
}

int metrics_http__check(const char *where, struct nt_err *err)
{
	struct nt_addr a;

	return parse_addr(where, &a, err);
}

int metrics_http__open(struct daemon *d, const char *where, struct nt_err *err)
{
	struct sockaddr_storage ss;
	struct metrics_http *mh;
	struct nt_addr a;
	socklen_t sl;
	int fd, on = 1, ret;

	ret = parse_addr(where, &a, err);
	if (ret)
		return ret;
	mh = calloc(1, sizeof(*mh));
	if (!mh)
		return nt_err_set(err, -ENOMEM, "out of memory");
	mh->d = d;
	mh->listener = (struct loop_handler){ .fd = -1, .on_event = on_accept };
	d->metrics_http = mh;
	nt_addr__format(&a, mh->addr, sizeof(mh->addr));
	sl = nt_addr__to_sockaddr(&a, a.port, &ss);
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return nt_err_set(err, -errno, "--metrics: socket: %s",
				  strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (bind(fd, (struct sockaddr *)&ss, sl) || listen(fd, 16)) {
		ret = -errno;
		close(fd);
		return nt_err_set(err, ret, "--metrics: cannot listen on %s: %s",
				  mh->addr, strerror(-ret));
	}
	mh->listener.fd = fd;
	ret = loop__add(d->loop, &mh->listener, EPOLLIN);
	if (ret)
		return nt_err_set(err, ret, "--metrics: %s", strerror(-ret));
	if (!nt_addr__is_loopback(&a))
		pr_warn("metrics served on %s, beyond loopback: anyone who can reach it reads them (no authentication)",
			mh->addr);
	pr_info("metrics on http://%s/metrics", mh->addr);
	return 0;
}

const char *metrics_http__addr(const struct daemon *d)
{
	return d->metrics_http ? d->metrics_http->addr : NULL;
}

void metrics_http__tick(struct daemon *d)
{
	struct metrics_http *mh = d->metrics_http;
	time_t now = clock__mono_s();
	size_t i;

	for (i = 0; mh && i < METRICS_CLIENTS; i++)
		if (mh->clients[i] && now > mh->clients[i]->deadline)
			client_close(mh->clients[i]);
}

void metrics_http__close(struct daemon *d)
{
	struct metrics_http *mh = d->metrics_http;
	size_t i;

	if (!mh)
		return;
	for (i = 0; i < METRICS_CLIENTS; i++)
		if (mh->clients[i])
			client_close(mh->clients[i]);
	if (mh->listener.fd >= 0) {
		loop__del(d->loop, &mh->listener);
		close(mh->listener.fd);
	}
	free(mh);
	d->metrics_http = NULL;
}
