// SPDX-License-Identifier: Apache-2.0
/*
 * Moving bytes between the two sides of a proxied connection, with the
 * TCP semantics a workload expects: a FIN (or TLS close_notify) on one side
 * becomes a half-close on the other, a reset becomes a reset, and a side
 * that cannot take more stops us reading from the other (one fixed buffer
 * per direction: backpressure, bounded memory).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

#include "userspace/proxy/proxy_int.h"

#define SPLICE_CHUNK (4 * PROXY_BUF)

/*
 * A kTLS socket refuses splice() when the next record is not application
 * data (an alert): read it with recvmsg to learn what it is.
 */
static enum io splice_control(struct side *from)
{
	char buf[64];
	int type = -1;
	ssize_t r;

	r = ktls__recv(from->h.fd, buf, sizeof(buf), &type);
	if (r == 0)
		return type == 0 ? IO_RESET : IO_EOF;
	if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
		from->want_in = true;
		return IO_AGAIN;
	}
	return IO_RESET;	/* data here would mean splice lost it */
}

/* Inside an NT2 stream an alert or EOF cuts the stream short. */
static enum io splice_end(struct side *from)
{
	enum io r = from->ktls ? splice_control(from) : IO_EOF;

	return from->framed && r == IO_EOF ? IO_RESET : r;
}

/* Fills the empty pipe from @from; from an NT2 side, payload of the open
 * DATA frame only (its header was read with recvmsg). */
static enum io splice_in(struct side *from, struct pbuf *b)
{
	size_t want = SPLICE_CHUNK;
	enum io r;
	ssize_t n;

	if (from->framed) {
		r = side__next_frame(from);
		if (r != IO_OK)
			return r;
		if (want > from->frame_left)
			want = from->frame_left;
	}
	n = splice(from->h.fd, NULL, b->pipe[1], NULL, want,
		   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	if (n > 0) {
		b->pipe_len += n;
		if (from->framed)
			from->frame_left -= n;
		return IO_OK;
	}
	if (n == 0)
		return splice_end(from);
	if (errno == EAGAIN || errno == EINTR) {
		from->want_in = true;
		return IO_AGAIN;
	}
	if (from->ktls && (errno == EINVAL || errno == EIO))
		return splice_end(from);
	return IO_RESET;
}

/*
 * An NT2 frame header towards @to, ahead of the pipe's bytes: sent at once
 * (MSG_MORE keeps a DATA header in the same kTLS record as its payload),
 * what does not go waits in @b, which move() drains before the pipe.
 */
static int send_hdr(struct side *to, struct pbuf *b, enum frame_type type,
		    uint32_t len)
{
	uint8_t h[FRAME_HDR];
	ssize_t w;

	frame__hdr(h, type, len);
	w = send(to->h.fd, h, sizeof(h), MSG_NOSIGNAL |
		 (type == FRAME_DATA ? MSG_MORE : 0));
	if (w < 0 && errno != EAGAIN && errno != EINTR)
		return -ECONNRESET;
	if (w < 0)
		w = 0;
	if (w < FRAME_HDR && pbuf__put(b, h + w, FRAME_HDR - w))
		return -ENOMEM;
	return 0;
}

/* The zero-copy variant of move(): socket -> pipe -> socket. */
static int move_splice(struct pconn *c, struct side *from, struct side *to,
		       struct pbuf *b, uint64_t *count)
{
	bool progress = false;
	enum io r;
	ssize_t n;

	if (b->pipe_len == 0 && !from->rd_eof && !from->want_in) {
		r = splice_in(from, b);
		if (r == IO_RESET)
			return -ECONNRESET;
		if (r == IO_EOF)
			from->rd_eof = true;
		progress = r == IO_OK || r == IO_EOF;
		/* One frame per pipe fill: its header goes first. */
		if (r == IO_OK && to->framed) {
			if (send_hdr(to, b, FRAME_DATA, b->pipe_len))
				return -ECONNRESET;
			if (b->len)
				return 1;
		}
	}
	while (b->pipe_len) {
		n = splice(b->pipe[0], NULL, to->h.fd, NULL, b->pipe_len,
			   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			to->want_out = true;
			break;
		}
		if (n <= 0)
			return -ECONNRESET;
		b->pipe_len -= n;
		*count += n;
		progress = true;
	}
	if (from->rd_eof && !b->pipe_len && !to->wr_shut) {
		if (to->framed) {
			to->wr_shut = true;
			return send_hdr(to, b, FRAME_FIN, 0) ? -ECONNRESET : 1;
		}
		if (side__shutdown(to) == IO_OK)
			progress = true;
	}
	return progress;
}

/*
 * Bytes are read into the thread's one scratch buffer (the proxy's, or
 * the relay thread's: worker.c) and written on at once; only what the far side cannot
 * take yet is copied into the connection's own buffer, which is freed
 * again once drained. An idle connection holds no buffer at all.
 */
int pbuf__put(struct pbuf *b, const void *data, size_t len)
{
	if (len > PROXY_BUF - b->off - b->len)
		return -ENOSPC;
	if (!b->data) {
		b->data = malloc(PROXY_BUF);
		if (!b->data)
			return -ENOMEM;
		b->off = b->len = 0;
	}
	memcpy(b->data + b->off + b->len, data, len);
	b->len += len;
	return 0;
}

/* The end of an NT2 stream one way: a FIN frame, queued like data; the
 * connection stays open for the next stream. */
static int end_framed(struct side *to, struct pbuf *b)
{
	uint8_t fin[FRAME_HDR];
	ssize_t w;

	frame__hdr(fin, FRAME_FIN, 0);
	to->wr_shut = true;
	w = side__write_some(to, (char *)fin, sizeof(fin));
	if (w < 0)
		return -ECONNRESET;
	if ((size_t)w < sizeof(fin) &&
	    pbuf__put(b, fin + w, sizeof(fin) - w))
		return -ENOMEM;
	return 1;
}

/* One direction: drain @b, then read @from and write to @to. */
static int move(struct pconn *c, struct side *from, struct side *to,
		struct pbuf *b, uint64_t *count)
{
	char *scratch = pworker__scratch(c);
	bool progress = false;
	ssize_t w;
	size_t n;
	enum io r;

	if (b->len) {
		w = side__write_some(to, b->data + b->off, b->len);
		if (w < 0)
			return -ECONNRESET;
		b->off += w;
		b->len -= w;
		progress = w > 0;
		if (b->len)
			return progress;
		free(b->data);
		b->data = NULL;
		b->off = 0;
	}
	/* Buffered bytes (a verdict line) went first; then the pipe path. */
	if (b->pipe[0] > 0) {
		int ret = move_splice(c, from, to, b, count);

		return ret < 0 ? ret : ret || progress;
	}
	/* A side that said "nothing more" in this pump is not asked again
	 * until epoll says so: one recv() returning EAGAIN less per pass. */
	if (!from->rd_eof && !from->want_in) {
		/* Towards an NT2 side the payload lands after room for its
		 * frame header: one record carries both. */
		size_t hdr = to->framed ? FRAME_HDR : 0;

		r = side__io_read(from, scratch + hdr, PROXY_BUF - hdr, &n);
		if (r == IO_RESET)
			return -ECONNRESET;
		if (r == IO_EOF)
			from->rd_eof = true;
		if (r == IO_OK) {
			*count += n;
			if (hdr)
				frame__hdr((uint8_t *)scratch, FRAME_DATA, n);
			n += hdr;
			w = side__write_some(to, scratch, n);
			if (w < 0)
				return -ECONNRESET;
			if ((size_t)w < n && pbuf__put(b, scratch + w, n - w))
				return -ENOMEM;
		}
		progress = progress || r == IO_OK || r == IO_EOF;
	}
	if (from->rd_eof && !b->len && !to->wr_shut) {
		if (to->framed)
			return end_framed(to, b);
		if (side__shutdown(to) == IO_OK)
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
			relay__end(c, RELAY_RESET);
			return;
		}
	} while (up > 0 || down > 0);
	if (c->a.rd_eof && c->b.rd_eof && c->a.wr_shut && c->b.wr_shut &&
	    !c->up.len && !c->down.len && !c->up.pipe_len &&
	    !c->down.pipe_len) {
		relay__end(c, RELAY_DONE);
		return;
	}
	c->deadline = clock__mono_s() + PROXY_IDLE_TIMEOUT;
	relay__update(c);
}


/* Level-triggered interest from the buffers and what the I/O asked for. */
void relay__update(struct pconn *c)
{
	uint32_t ea = 0, eb = 0;

	size_t up = c->up.len + c->up.pipe_len;
	size_t down = c->down.len + c->down.pipe_len;

	if ((!up && !c->a.rd_eof) || c->a.want_in)
		ea |= EPOLLIN;
	if (down || c->a.want_out)
		ea |= EPOLLOUT;
	if ((!down && !c->b.rd_eof) || c->b.want_in)
		eb |= EPOLLIN;
	if (up || c->b.want_out)
		eb |= EPOLLOUT;
	if (side__register(&c->a, ea) || side__register(&c->b, eb))
		relay__end(c, RELAY_EPOLL);
}

/* What the end of a relay means, on the main thread. */
static void end_here(struct pconn *c, enum relay_end end)
{
	if (c->st == PS_HANDSHAKE) {	/* a worker's handshake */
		pconn__handshake_back(c, end);
		return;
	}
	switch (end) {
	case RELAY_RUNNING:
	case RELAY_RECALLED:	/* relays on here */
		relay__update(c);
		break;
	case RELAY_DONE:
		if (c->tls && c->tls->framed)
			pconn__stream_done(c);
		else
			pconn__close(c, false, "closed");
		break;
	case RELAY_TIMEOUT:
		pflow__reason(c, "idle timeout");
		pconn__close(c, true, "timeout");
		break;
	case RELAY_EPOLL:
		pconn__close(c, true, "epoll failed");
		break;
	case RELAY_RESET:
	case RELAY_KILLED:
	case RELAY_HANDSHAKE:	/* not while relaying */
		pconn__close(c, true, "reset");
		break;
	}
}

void relay__end(struct pconn *c, enum relay_end end)
{
	if (c->away)
		pworker__give_back(c, end);
	else
		end_here(c, end);
}

/* The first pump: on a relay thread when there are some. */
void relay__go(struct pconn *c)
{
	if (!pworkers__give(c))
		relay__pump(c);
}

static int open_pipes(struct pconn *c)
{
	if (pipe2(c->up.pipe, O_CLOEXEC | O_NONBLOCK))
		return -errno;
	if (pipe2(c->down.pipe, O_CLOEXEC | O_NONBLOCK)) {
		close(c->up.pipe[0]);
		close(c->up.pipe[1]);
		c->up.pipe[0] = c->up.pipe[1] = -1;
		return -errno;
	}
	return 0;
}

void relay__free(struct pconn *c)
{
	struct pbuf *bufs[2] = { &c->up, &c->down };
	int i;

	for (i = 0; i < 2; i++) {
		free(bufs[i]->data);
		if (bufs[i]->pipe[0] > 0) {
			close(bufs[i]->pipe[0]);
			close(bufs[i]->pipe[1]);
		}
	}
}

int relay__start(struct pconn *c)
{
	/* kTLS on the TLS side, or no TLS at all (same-node direct): splice
	 * both ways, no copy to userspace (NT2 frame headers go with send()
	 * and recvmsg() between payloads). A failed pipe just means copying. */
	if ((c->tls && c->tls->ktls) || c->kind == PCONN_DIRECT) {
		if (open_pipes(c))
			pr_debug("no pipes for splice: copying instead");
		else
			pflow__splice(c);
	}
	c->st = PS_RELAY;
	c->deadline = clock__mono_s() + PROXY_IDLE_TIMEOUT;
	return 0;
}
