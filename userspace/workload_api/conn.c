// SPDX-License-Identifier: Apache-2.0
/*
 * One Workload API connection: a non-blocking unix socket, an nghttp2
 * server session fed with nghttp2_session_mem_recv() and drained with
 * nghttp2_session_mem_send(), and a memory budget.
 *
 * Every byte held for the connection, nghttp2's own allocations included
 * (through nghttp2_mem), is counted against cfg.conn_mem_max; past it an
 * allocation fails and the connection is closed. That bounds what one
 * client can make us hold whatever it sends or fails to read, and with the
 * caps on connections it bounds the whole. Freed memory is zeroed: it held
 * private keys (X509SVIDResponse) and bearer tokens (ValidateJWTSVID).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <syslog.h>
#include <unistd.h>

#include "userspace/workload_api/wlapi_int.h"

/* ---- the memory budget ---------------------------------------------------- */

struct mem_hdr {
	size_t size;
	size_t pad;			/* keeps what follows 16-byte aligned */
};

void *conn__alloc(struct wl_conn *c, size_t size)
{
	size_t total = size + sizeof(struct mem_hdr);
	struct mem_hdr *h;

	if (total < size || c->mem + total > c->srv->cfg.conn_mem_max ||
	    c->mem + total < c->mem)
		return NULL;
	h = malloc(total);
	if (!h)
		return NULL;
	h->size = size;
	c->mem += total;
	return h + 1;
}

void *conn__calloc(struct wl_conn *c, size_t n, size_t size)
{
	void *p;

	if (size && n > SIZE_MAX / size)
		return NULL;
	p = conn__alloc(c, n * size);
	if (p)
		memset(p, 0, n * size);
	return p;
}

void conn__free_mem(struct wl_conn *c, void *p)
{
	struct mem_hdr *h;

	if (!p)
		return;
	h = (struct mem_hdr *)p - 1;
	explicit_bzero(p, h->size);
	c->mem -= h->size + sizeof(*h);
	free(h);
}

void *conn__realloc(struct wl_conn *c, void *p, size_t size)
{
	void *n;

	if (!p)
		return conn__alloc(c, size);
	n = conn__alloc(c, size);
	if (!n)
		return NULL;
	memcpy(n, p, ((struct mem_hdr *)p - 1)->size < size ?
		     ((struct mem_hdr *)p - 1)->size : size);
	conn__free_mem(c, p);
	return n;
}

static void *h2_malloc(size_t size, void *ud)
{
	return conn__alloc(ud, size);
}

static void h2_free(void *p, void *ud)
{
	conn__free_mem(ud, p);
}

static void *h2_calloc(size_t n, size_t size, void *ud)
{
	return conn__calloc(ud, n, size);
}

static void *h2_realloc(void *p, size_t size, void *ud)
{
	return conn__realloc(ud, p, size);
}

static void *pb_alloc(void *ud, size_t size)
{
	return conn__alloc(ud, size);
}

static void pb_free(void *ud, void *p)
{
	conn__free_mem(ud, p);
}

ProtobufCAllocator *conn__pb_allocator(struct wl_conn *c, ProtobufCAllocator *a)
{
	a->alloc = pb_alloc;
	a->free = pb_free;
	a->allocator_data = c;
	return a;
}

/* ---- closing ---------------------------------------------------------------- */

void conn__close(struct wl_conn *c, const char *why)
{
	struct wlapi *srv = c->srv;

	if (c->dead)
		return;
	c->dead = true;
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	srv->nconns--;
	c->next = srv->dead;
	srv->dead = c;
	if (c->watching)
		srv->ops.unwatch(srv->ops.ctx, &c->w);
	close(c->w.fd);
	c->w.fd = -1;
	if (c->caller_ok && srv->ops.conn_close)
		srv->ops.conn_close(srv->ops.ctx, c->caller);
	wl_log(srv, LOG_DEBUG, "workload api: closed a connection of pid %d: %s",
	       (int)c->cred.pid, why);
}

/* Called once the library is back at the loop (wl_leave). Our own list of
 * streams is freed here: nghttp2_session_del() calls no stream-close
 * callback. */
void conn__free(struct wl_conn *c)
{
	while (c->streams)
		grpc__stream_free(c->streams);
	nghttp2_session_del(c->h2);
	conn__free_mem(c, c->out);
	free(c);
}

/* ---- the socket ------------------------------------------------------------- */

static void set_watch(struct wl_conn *c)
{
	uint32_t want = EPOLLIN | (c->out_len > c->out_off ? EPOLLOUT : 0);

	if (want == c->watching)
		return;
	if (c->srv->ops.watch(c->srv->ops.ctx, &c->w, want)) {
		conn__close(c, "the loop refused to watch it");
		return;
	}
	c->watching = want;
}

/* 1 when all of out was written, 0 when some is left, -1 when closed. */
static int send_out(struct wl_conn *c)
{
	ssize_t n;

	while (c->out_off < c->out_len) {
		n = send(c->w.fd, c->out + c->out_off, c->out_len - c->out_off,
			 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n <= 0) {
			conn__close(c, "write failed");
			return -1;
		}
		c->out_off += (size_t)n;
	}
	conn__free_mem(c, c->out);
	c->out = NULL;
	c->out_len = c->out_off = 0;
	return 1;
}

/* Keeps what the socket did not take of nghttp2's last chunk: nghttp2 is
 * not asked for more until it is gone, so at most one chunk waits. */
static int keep_rest(struct wl_conn *c, const uint8_t *p, size_t len)
{
	c->out = conn__alloc(c, len);
	if (!c->out) {
		c->srv->stats.over_budget++;
		conn__close(c, "over its memory budget");
		return -1;
	}
	memcpy(c->out, p, len);
	c->out_len = len;
	c->out_off = 0;
	return 0;
}

void conn__flush(struct wl_conn *c)
{
	const uint8_t *p;
	ssize_t n, w;
	int ret;

	if (c->dead)
		return;
	ret = send_out(c);
	while (ret == 1) {
		n = nghttp2_session_mem_send(c->h2, &p);
		if (n < 0) {
			conn__close(c, nghttp2_strerror((int)n));
			return;
		}
		if (!n)
			break;
		do {
			w = send(c->w.fd, p, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
		} while (w < 0 && errno == EINTR);
		if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
			conn__close(c, "write failed");
			return;
		}
		if (w < n) {
			w = w < 0 ? 0 : w;
			if (keep_rest(c, p + w, (size_t)(n - w)))
				return;
			ret = 0;
		}
	}
	if (ret < 0)
		return;
	if (c->out_len == 0 && !nghttp2_session_want_read(c->h2) &&
	    !nghttp2_session_want_write(c->h2)) {
		conn__close(c, "session over");
		return;
	}
	c->stalled_since = c->out_len ? (c->stalled_since ? c->stalled_since :
					 wl_now()) : 0;
	set_watch(c);
}

static void conn_read(struct wl_conn *c)
{
	uint8_t buf[WLAPI_READ_CHUNK];
	ssize_t n, r;
	int i;

	for (i = 0; i < WLAPI_READS_PER_EVENT && !c->dead; i++) {
		n = recv(c->w.fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			conn__close(c, n ? "read failed" : "peer closed");
			break;
		}
		r = nghttp2_session_mem_recv(c->h2, buf, (size_t)n);
		/* What we read may be a bearer token: it does not linger. */
		explicit_bzero(buf, (size_t)n);
		if (r == NGHTTP2_ERR_NOMEM)
			c->srv->stats.over_budget++;
		if (r < 0) {
			conn__close(c, r == NGHTTP2_ERR_NOMEM ?
				    "over its memory budget" :
				    nghttp2_strerror((int)r));
			break;
		}
		if ((size_t)n < sizeof(buf))
			break;
	}
}

static void on_event(struct wlapi_watch *w, uint32_t events)
{
	struct wl_conn *c = (struct wl_conn *)w;
	struct wlapi *srv = c->srv;

	wl_enter(srv);
	if (events & EPOLLERR)
		conn__close(c, "socket error");
	if (!c->dead && (events & (EPOLLIN | EPOLLHUP)))
		conn_read(c);
	conn__flush(c);
	wl_leave(srv);
}

/* ---- timeouts ----------------------------------------------------------------- */

void conn__tick(struct wl_conn *c, time_t now)
{
	const char *why = NULL;
	struct wlapi_config *cfg = &c->srv->cfg;

	if (!c->established && now - c->opened >= (time_t)cfg->preface_timeout)
		why = "no HTTP/2 preface in time";
	else if (!c->nstreams && c->idle_since &&
		 now - c->idle_since >= (time_t)cfg->idle_timeout)
		why = "idle";
	else if (c->stalled_since &&
		 now - c->stalled_since >= (time_t)cfg->stall_timeout)
		why = "the peer does not read";
	if (!why)
		return;
	c->srv->stats.timeouts++;
	conn__close(c, why);
}

/* ---- creation ------------------------------------------------------------------ */

static int session_new(struct wl_conn *c, struct nt_err *err)
{
	nghttp2_mem mem = {
		.mem_user_data = c, .malloc = h2_malloc, .free = h2_free,
		.calloc = h2_calloc, .realloc = h2_realloc,
	};
	nghttp2_settings_entry iv[] = {
		{ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS,
		  c->srv->cfg.streams_max },
		{ NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, WLAPI_HEADERS_MAX },
		{ NGHTTP2_SETTINGS_ENABLE_PUSH, 0 },
	};
	nghttp2_session_callbacks *cb = NULL;
	nghttp2_option *opt = NULL;
	int ret;

	ret = nghttp2_session_callbacks_new(&cb);
	if (!ret)
		ret = nghttp2_option_new(&opt);
	if (!ret) {
		grpc__callbacks(cb);
		/* Closed streams are kept only for priorities, which we do
		 * not use: less state a client can make us hold. */
		nghttp2_option_set_no_closed_streams(opt, 1);
		ret = nghttp2_session_server_new3(&c->h2, cb, c, opt, &mem);
	}
	if (!ret)
		ret = nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, iv,
					      sizeof(iv) / sizeof(iv[0]));
	nghttp2_option_del(opt);
	nghttp2_session_callbacks_del(cb);
	if (ret)
		return nt_err_set(err, -ENOMEM,
				  "workload api: failed to start an HTTP/2 session: %s",
				  nghttp2_strerror(ret));
	return 0;
}

int conn__new(struct wlapi *srv, int fd, const struct ucred *cred,
	      struct nt_err *err)
{
	struct wl_conn *c = calloc(1, sizeof(*c));
	int ret;

	if (!c) {
		close(fd);
		return nt_err_set(err, -ENOMEM, "out of memory");
	}
	c->srv = srv;
	c->w.fd = fd;
	c->w.ready = on_event;
	c->cred = *cred;
	c->opened = c->idle_since = wl_now();
	ret = session_new(c, err);
	if (ret) {
		nghttp2_session_del(c->h2);
		free(c);
		close(fd);
		return ret;
	}
	c->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = c;
	srv->conns = c;
	srv->nconns++;
	/* Evidence first, attestation only when a call needs it. */
	c->caller_ok = !srv->ops.conn_open ||
		       !srv->ops.conn_open(srv->ops.ctx, fd, cred, &c->caller);
	conn__flush(c);		/* our SETTINGS, and starts the watch */
	return 0;
}
