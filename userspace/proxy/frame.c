// SPDX-License-Identifier: Apache-2.0
/*
 * I/O on one side of a connection, whatever carries it: a plain socket,
 * OpenSSL's record layer, or kTLS (records in the kernel, alerts through
 * recvmsg); and NT2's frames on top (docs/mesh-protocol.md): a 4-byte
 * header, type and 24-bit length, before each payload. Everything read
 * here comes from a peer: lengths are checked against the caller's room
 * before a byte is taken, and a frame never spills into the next one.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/err.h>

#include "userspace/proxy/proxy_int.h"

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

/*
 * SSL_MODE_RELEASE_BUFFERS frees the record buffers when a read finds
 * nothing and when a write completes, so an open idle connection holds
 * none. It does not once close_notify was read (the 64 KiB read-ahead
 * buffer stays) or sent (the 16 KiB write buffer of the alert stays), and
 * a half-closed connection can live long. SSL_free_buffers() refuses while
 * records are pending, and then they are needed.
 */
static void release_buffers(struct side *s)
{
	if (!SSL_free_buffers(s->ssl))
		pr_debug("TLS record buffers kept: records pending");
}

static enum io read_raw(struct side *s, char *buf, size_t cap, size_t *n)
{
	int ret, type = -1;
	enum io io;
	ssize_t r;

	if (s->ssl) {
		ret = SSL_read(s->ssl, buf, (int)cap);
		if (ret > 0) {
			*n = ret;
			return IO_OK;
		}
		io = ssl_result(s, ret);
		if (io == IO_EOF)
			release_buffers(s);
		return io;
	}
	r = s->ktls ? ktls__recv(s->h.fd, buf, cap, &type) :
		      recv(s->h.fd, buf, cap, 0);
	if (r > 0) {
		*n = r;
		/* A plain socket that gave less than asked is empty now. */
		if (!s->ktls && (size_t)r < cap)
			s->want_in = true;
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

static uint32_t frame_len(const uint8_t *h)
{
	return (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
}

/* Reads the rest of a frame header; IO_OK once it is whole. The stream
 * lives inside the connection, so the connection ending here, cleanly
 * or not, cuts the stream short: a reset, never an end. */
static enum io read_hdr(struct side *s)
{
	enum io r;
	size_t n;

	while (s->hdr_len < FRAME_HDR) {
		r = read_raw(s, (char *)s->hdr + s->hdr_len,
			     FRAME_HDR - s->hdr_len, &n);
		if (r != IO_OK)
			return r == IO_EOF ? IO_RESET : r;
		s->hdr_len += n;
	}
	return IO_OK;
}

enum io side__next_frame(struct side *s)
{
	enum io r;

	while (!s->frame_left) {
		r = read_hdr(s);
		if (r != IO_OK)
			return r;
		s->hdr_len = 0;
		if (s->hdr[0] == FRAME_FIN && !frame_len(s->hdr))
			return IO_EOF;
		if (s->hdr[0] != FRAME_DATA) {
			pr_debug("NT2: unexpected frame 0x%02x in a stream",
				 s->hdr[0]);
			return IO_RESET;
		}
		s->frame_left = frame_len(s->hdr);
	}
	return IO_OK;
}

/* NT2: only DATA payload reaches the caller; FIN is the stream's end. */
static enum io read_framed(struct side *s, char *buf, size_t cap, size_t *n)
{
	enum io r = side__next_frame(s);

	if (r != IO_OK)
		return r;
	r = read_raw(s, buf, cap < s->frame_left ? cap : s->frame_left, n);
	if (r == IO_OK)
		s->frame_left -= *n;
	return r == IO_EOF ? IO_RESET : r;
}

enum io side__io_read(struct side *s, char *buf, size_t cap, size_t *n)
{
	return s->framed ? read_framed(s, buf, cap, n) : read_raw(s, buf, cap, n);
}

enum io side__io_write(struct side *s, const char *buf, size_t len, size_t *n)
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

enum io side__shutdown(struct side *s)
{
	int ret;

	if (s->ssl) {
		ret = SSL_shutdown(s->ssl);
		if (ret < 0 && ssl_result(s, ret) == IO_AGAIN)
			return IO_AGAIN;
		release_buffers(s);
	} else if (s->ktls) {
		ktls__send_close_notify(s->h.fd);
	}
	shutdown(s->h.fd, SHUT_WR);
	s->wr_shut = true;
	return IO_OK;
}

ssize_t side__write_some(struct side *s, const char *p, size_t len)
{
	size_t done = 0, n;
	enum io r;

	while (done < len) {
		r = side__io_write(s, p + done, len - done, &n);
		if (r == IO_RESET)
			return -1;
		if (r != IO_OK)
			break;
		done += n;
	}
	return done;
}

int side__read(struct side *s, char *buf, size_t cap, size_t *n)
{
	enum io r = side__io_read(s, buf, cap, n);

	return r == IO_OK ? 1 : r == IO_AGAIN ? 0 : -1;
}

int side__write(struct side *s, const char *buf, size_t len, size_t *n)
{
	enum io r = side__io_write(s, buf, len, n);

	return r == IO_OK ? 1 : r == IO_AGAIN ? 0 : -1;
}

int side__read_frame(struct side *s, uint8_t *type, char *buf, size_t cap,
		     size_t *len)
{
	enum io r;
	size_t n;

	if (s->hdr_len < FRAME_HDR) {
		r = read_hdr(s);
		if (r != IO_OK)
			return r == IO_AGAIN ? 0 : -1;
		s->frame_left = frame_len(s->hdr);
		*len = 0;
		if (s->frame_left > cap)
			return -1;
	}
	while (s->frame_left) {
		r = read_raw(s, buf + *len, s->frame_left, &n);
		if (r != IO_OK)
			return r == IO_AGAIN ? 0 : -1;
		*len += n;
		s->frame_left -= n;
	}
	*type = s->hdr[0];
	s->hdr_len = 0;
	return 1;
}

int side__write_frame(struct side *s, enum frame_type type, const char *p,
		      size_t len)
{
	char buf[FRAME_HDR + PROXY_STATUS_MAX];
	ssize_t w;

	if (len > PROXY_STATUS_MAX)
		return -EINVAL;
	frame__hdr((uint8_t *)buf, type, len);
	memcpy(buf + FRAME_HDR, p, len);
	/* Sent on a connection that is idle both ways: a frame this small
	 * that does not go at once means the connection is unusable. */
	w = side__write_some(s, buf, FRAME_HDR + len);
	return w == (ssize_t)(FRAME_HDR + len) ? 0 : -EIO;
}

int side__register(struct side *s, uint32_t events)
{
	struct loop *l = s->c->loop;
	int ret;

	if (s->h.fd < 0)
		return 0;
	if (s->registered && s->events == events)
		return 0;
	ret = s->registered ? loop__mod(l, &s->h, events) : loop__add(l, &s->h, events);
	if (!ret) {
		s->registered = true;
		s->events = events;
	}
	return ret;
}
