// SPDX-License-Identifier: Apache-2.0
/*
 * The CLI as a Workload API client (tools/main.h, wlc_*): one gRPC call at
 * a time over HTTP/2 (nghttp2's client session) on a blocking unix socket,
 * as any workload would make it: the security header on every call, the
 * messages of a server stream handed over one by one as they come, the
 * status read from the trailers (or a Trailers-Only answer).
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>

#include "tools/main.h"

#define WLC_MSG_MAX	(4u << 20)	/* bytes of one response message */

struct wlc_call {
	int32_t sid;
	const uint8_t *req;		/* the gRPC-framed request */
	size_t req_len, req_off;
	uint8_t *buf;			/* received, not yet a whole message */
	size_t len, cap;
	wlc_msg_fn on_msg;
	void *arg;
	int status;			/* grpc-status; -1 not seen */
	char message[256];		/* grpc-message */
	int stop;			/* on_msg's non-zero result */
	bool closed, bad;
};

static const char *const status_names[] = {
	"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
	"NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED",
	"RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
	"UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
	"UNAUTHENTICATED",
};

const char *wlc_status_name(int status)
{
	if (status < 0)
		return "no status";
	if ((size_t)status < sizeof(status_names) / sizeof(status_names[0]))
		return status_names[status];
	return "UNKNOWN";
}

/* "unix:///path", "unix:/path" or a plain path; NULL for other schemes. */
const char *wlc_socket_path(const char *s)
{
	if (!strncmp(s, "unix://", 7))
		s += 7;
	else if (!strncmp(s, "unix:", 5))
		s += 5;
	else if (strstr(s, "://"))
		return NULL;
	return s[0] == '/' ? s : NULL;
}

int wlc_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int ret = -errno;

		close(fd);
		return ret;
	}
	return fd;
}

/* ---- nghttp2 callbacks ------------------------------------------------- */

static int on_header(nghttp2_session *s, const nghttp2_frame *frame,
		     const uint8_t *name, size_t namelen, const uint8_t *value,
		     size_t valuelen, uint8_t flags, void *user)
{
	struct wlc_call *c = user;

	if (frame->hd.stream_id != c->sid)
		return 0;
	if (namelen == 11 && !memcmp(name, "grpc-status", 11))
		c->status = atoi((const char *)value);
	else if (namelen == 12 && !memcmp(name, "grpc-message", 12))
		snprintf(c->message, sizeof(c->message), "%.*s", (int)valuelen,
			 (const char *)value);
	return 0;
}

/* Hands over every whole message of c->buf (5-byte gRPC prefix). */
static void take_messages(struct wlc_call *c)
{
	size_t n;

	while (!c->stop && c->len >= 5) {
		n = (size_t)c->buf[1] << 24 | (size_t)c->buf[2] << 16 |
		    (size_t)c->buf[3] << 8 | c->buf[4];
		if (c->buf[0] != 0 || n > WLC_MSG_MAX) {
			c->bad = true;	/* compressed, or too large */
			return;
		}
		if (c->len < 5 + n)
			return;
		c->stop = c->on_msg(c->buf + 5, n, c->arg);
		memmove(c->buf, c->buf + 5 + n, c->len - 5 - n);
		c->len -= 5 + n;
	}
}

static int on_data(nghttp2_session *s, uint8_t flags, int32_t sid,
		   const uint8_t *data, size_t len, void *user)
{
	struct wlc_call *c = user;
	uint8_t *nb;
	size_t cap;

	if (sid != c->sid || c->stop || c->bad)
		return 0;
	if (c->len + len > c->cap) {
		cap = c->cap ? c->cap : 4096;
		while (cap < c->len + len)
			cap *= 2;
		if (cap > WLC_MSG_MAX + 5) {
			c->bad = true;
			return 0;
		}
		nb = realloc(c->buf, cap);
		if (!nb)
			return NGHTTP2_ERR_CALLBACK_FAILURE;
		c->buf = nb;
		c->cap = cap;
	}
	memcpy(c->buf + c->len, data, len);
	c->len += len;
	take_messages(c);
	return 0;
}

static int on_close(nghttp2_session *s, int32_t sid, uint32_t code, void *user)
{
	struct wlc_call *c = user;

	if (sid == c->sid)
		c->closed = true;
	return 0;
}

static ssize_t read_req(nghttp2_session *s, int32_t sid, uint8_t *buf,
			size_t len, uint32_t *flags, nghttp2_data_source *src,
			void *user)
{
	struct wlc_call *c = user;
	size_t n = c->req_len - c->req_off;

	if (n > len)
		n = len;
	memcpy(buf, c->req + c->req_off, n);
	c->req_off += n;
	if (c->req_off == c->req_len)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

/* ---- the call ---------------------------------------------------------- */

static int flush(nghttp2_session *s, int fd)
{
	const uint8_t *p;
	ssize_t n, w;

	while ((n = nghttp2_session_mem_send(s, &p)) > 0)
		for (; n > 0; p += w, n -= w) {
			w = write(fd, p, (size_t)n);
			if (w < 0)
				return -errno;
		}
	return n < 0 ? -EPROTO : 0;
}

static int session_new(nghttp2_session **s, struct wlc_call *c)
{
	nghttp2_session_callbacks *cb;
	int ret;

	if (nghttp2_session_callbacks_new(&cb))
		return -ENOMEM;
	nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_close);
	ret = nghttp2_session_client_new(s, cb, c) ? -ENOMEM : 0;
	nghttp2_session_callbacks_del(cb);
	return ret;
}

static nghttp2_nv nv(const char *name, const char *value)
{
	return (nghttp2_nv){ (uint8_t *)name, (uint8_t *)value, strlen(name),
			     strlen(value), NGHTTP2_NV_FLAG_NONE };
}

static int submit(nghttp2_session *s, struct wlc_call *c, const char *method)
{
	nghttp2_data_provider dp = { .read_callback = read_req };
	char path[128];
	nghttp2_nv hdrs[7];

	snprintf(path, sizeof(path), "/SpiffeWorkloadAPI/%s", method);
	hdrs[0] = nv(":method", "POST");
	hdrs[1] = nv(":scheme", "http");
	hdrs[2] = nv(":path", path);
	hdrs[3] = nv(":authority", "localhost");
	hdrs[4] = nv("content-type", "application/grpc");
	hdrs[5] = nv("te", "trailers");
	/* Every call carries it (SPIFFE_Workload_Endpoint.md §4). */
	hdrs[6] = nv("workload.spiffe.io", "true");
	if (nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, NULL, 0))
		return -EPROTO;
	c->sid = nghttp2_submit_request(s, NULL, hdrs, 7, &dp, c);
	return c->sid < 0 ? -EPROTO : 0;
}

int wlc_call(int fd, const char *method, const uint8_t *req, size_t req_len,
	     wlc_msg_fn on_msg, void *arg, int timeout_ms,
	     struct wlc_result *res)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	struct wlc_call c = { .on_msg = on_msg, .arg = arg, .status = -1 };
	uint8_t *framed, rbuf[16384];
	nghttp2_session *s = NULL;
	ssize_t n;
	int ret;

	framed = malloc(5 + req_len);
	if (!framed)
		return -ENOMEM;
	framed[0] = 0;
	framed[1] = (uint8_t)(req_len >> 24);
	framed[2] = (uint8_t)(req_len >> 16);
	framed[3] = (uint8_t)(req_len >> 8);
	framed[4] = (uint8_t)req_len;
	if (req_len)
		memcpy(framed + 5, req, req_len);
	c.req = framed;
	c.req_len = 5 + req_len;
	ret = session_new(&s, &c);
	if (!ret)
		ret = submit(s, &c, method);
	while (!ret && !c.closed && !c.stop && !c.bad) {
		ret = flush(s, fd);
		if (ret)
			break;
		n = poll(&pfd, 1, timeout_ms);
		if (n == 0) {
			ret = -ETIMEDOUT;
			break;
		}
		n = n < 0 ? -1 : read(fd, rbuf, sizeof(rbuf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = n < 0 ? -errno : -ECONNRESET;
			break;
		}
		if (nghttp2_session_mem_recv(s, rbuf, (size_t)n) < 0)
			ret = -EPROTO;
	}
	if (!ret && (c.stop || c.bad)) {
		/* Done with it (or it broke the framing): cancel the stream. */
		nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, c.sid,
					  NGHTTP2_CANCEL);
		flush(s, fd);
		ret = c.bad ? -EBADMSG : 0;
	}
	res->status = c.status;
	res->stopped = c.stop;
	snprintf(res->message, sizeof(res->message), "%s", c.message);
	nghttp2_session_del(s);
	free(c.buf);
	free(framed);
	return ret;
}

int wlc_open(const char *opt)
{
	const char *src = opt ? opt : getenv("SPIFFE_ENDPOINT_SOCKET");
	const char *path;
	int fd;

	if (!src || !*src)
		src = WORKLOAD_API_DEFAULT;
	path = wlc_socket_path(src);
	if (!path)
		return p_err("%s: not a unix socket address (unix:///path)", src);
	fd = wlc_connect(path);
	if (fd < 0)
		return p_err("cannot connect to the Workload API at %s: %s", path,
			     strerror(-fd));
	return fd;
}
