// SPDX-License-Identifier: Apache-2.0
/*
 * Streams on a mesh connection (docs/mesh-protocol.md): the verdict each
 * one gets, as a line (NT1) or a frame (NT2), and on NT2 the next stream
 * on the same connection once one has ended cleanly both ways.
 */
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>

#include "userspace/proxy/proxy_int.h"

/* ---- outbound: the peer's verdict ------------------------------------------ */

/* "ALLOW <rule>" or "DENY <reason>" (wire.c): true when allowed. */
static bool apply_verdict(struct pconn *c, const char *v)
{
	const char *reason;
	bool allow = proxy__verdict_parse(v, &reason);

	pflow__peer_verdict(c, allow, reason);
	if (!allow) {
		pconn__close(c, true, "denied by peer");
		return false;
	}
	pflow__publish(c);
	if (relay__start(c)) {
		pconn__close(c, true, "out of memory");
		return false;
	}
	return true;
}

/* The peer closed before its verdict. */
static void no_verdict(struct pconn *c)
{
	if (c->reused) {
		pconn__redial(c);
		return;
	}
	pflow__reason(c, "peer proxy closed before its verdict");
	pconn__close(c, true, "denied");
}

/* NT2: reads one control frame (OPEN, VERDICT) into c->status, NUL-
 * terminated: 1 when whole, 0 to wait for the socket, -1 when the
 * connection ended first. */
static int read_control(struct pconn *c, uint8_t *type)
{
	struct side *s = c->tls;
	int r;

	r = side__read_frame(s, type, c->status, sizeof(c->status) - 1,
			     &c->status_len);
	if (r == 0)
		side__register(s, s->want_out ? EPOLLOUT : EPOLLIN);
	if (r == 1)
		c->status[c->status_len] = '\0';
	return r;
}

/* NT2: one VERDICT frame, nothing read past it. */
static void read_verdict_frame(struct pconn *c)
{
	uint8_t type;
	int r = read_control(c, &type);

	if (r == 0)
		return;
	if (r < 0) {
		no_verdict(c);
		return;
	}
	if (type != FRAME_VERDICT) {
		pconn__close(c, true, "bad verdict frame from peer");
		return;
	}
	if (apply_verdict(c, c->status))
		relay__go(c);
}

/* NT1: a text line; bytes after it are the workload's. */
static void read_verdict_line(struct pconn *c)
{
	struct side *s = c->tls;
	char *nl;
	size_t n, rest;
	int r;

	r = side__read(s, c->status + c->status_len,
		       sizeof(c->status) - c->status_len - 1, &n);
	if (r == 0) {
		side__register(s, s->want_out ? EPOLLOUT : EPOLLIN);
		return;
	}
	if (r < 0) {
		no_verdict(c);
		return;
	}
	c->status_len += n;
	c->status[c->status_len] = '\0';
	nl = memchr(c->status, '\n', c->status_len);
	if (!nl) {
		if (c->status_len == sizeof(c->status) - 1)
			pconn__close(c, true, "bad verdict line from peer");
		return;
	}
	*nl = '\0';
	if (!apply_verdict(c, strncmp(c->status, "NT1 ", 4) ? "" : c->status + 4))
		return;
	rest = c->status_len - (nl + 1 - c->status);
	if (rest && pbuf__put(&c->down, nl + 1, rest)) {
		pconn__close(c, true, "out of memory");
		return;
	}
	c->bytes_down += rest;
	relay__go(c);
}

void pconn__read_status(struct pconn *c)
{
	if (c->tls->framed)
		read_verdict_frame(c);
	else
		read_verdict_line(c);
}

/* ---- mesh: our verdict ------------------------------------------------------ */

/* Writes the verdict line now; it is tiny and the socket is fresh. */
static void send_status(struct pconn *c, const char *line)
{
	size_t n;

	if (side__write(c->tls, line, strlen(line), &n) <= 0 ||
	    n != strlen(line))
		pr_debug("verdict line not sent");
}

void pconn__deny(struct pconn *c, const struct decision *d)
{
	char line[PROXY_STATUS_MAX];

	pflow__verdict(c, d);
	if (c->tls && c->tls->framed) {
		snprintf(line, sizeof(line), "DENY %s", d->reason);
		if (side__write_frame(c->tls, FRAME_VERDICT, line, strlen(line)))
			pr_debug("verdict frame not sent");
	} else if (c->tls) {
		snprintf(line, sizeof(line), "NT1 DENY %s\n", d->reason);
		send_status(c, line);
	}
	pconn__close(c, c->tls == NULL, "denied");
}

/* The verdict goes first, ahead of any workload byte. */
int pconn__queue_allow(struct pconn *c)
{
	char line[FRAME_HDR + PROXY_STATUS_MAX + 16];
	int n;

	if (!c->tls->framed) {
		n = snprintf(line, sizeof(line), "NT1 ALLOW %s\n", c->status);
		return pbuf__put(&c->down, line, n);
	}
	n = snprintf(line + FRAME_HDR, sizeof(line) - FRAME_HDR, "ALLOW %s",
		     c->status);
	frame__hdr((uint8_t *)line, FRAME_VERDICT, n);
	return pbuf__put(&c->down, line, FRAME_HDR + n);
}

/* ---- mesh, NT2: one stream after another ------------------------------------ */

/* A connection that may carry no new stream: an SVID on it is due for
 * re-minting, or the trust bundles changed since the handshake. */
static bool tunnel_stale(const struct pconn *c)
{
	return clock__mono_s() >= c->reuse_until ||
	       c->trust_gen != c->px->tls.trust_gen;
}

/* The client's OPEN frame starts a stream: a new flow, a new verdict. */
void pconn__read_open(struct pconn *c)
{
	uint8_t type;
	int r = read_control(c, &type);

	if (r == 0)
		return;
	if (r < 0 || type != FRAME_OPEN) {
		pflow__reason(c, r < 0 ? "peer proxy closed before a stream" :
			      "peer proxy sent no OPEN frame");
		pconn__close(c, r >= 0, "closed");
		return;
	}
	c->status_len = 0;
	if (c->stream > 1) {
		if (tunnel_stale(c)) {
			pconn__close(c, false, "retired");
			return;
		}
		c->t_start = clock__mono_ns();
		c->deadline = clock__mono_s() + PROXY_CONNECT_TIMEOUT;
		pflow__open(c, NULL);
		pflow__tls(c);
		pflow__ktls(c, c->tls->ktls);
	}
	pconn__mesh_verdict(c);
}

void pconn__stream_done(struct pconn *c)
{
	/* No next stream here: drain.c; nor on one handed over, whose
	 * peer this process never verified (handover.c). */
	if (c->px->draining || c->adopted) {
		pconn__close_clean(c, "closed");
		return;
	}
	if (c->kind == PCONN_OUTBOUND) {
		tunnel__park(c, clock__mono_s());
		pconn__close(c, false, "closed");
		return;
	}
	/* Mesh: the delivery ends with the stream, the connection waits. */
	pflow__close(c, "closed");
	c->flow_id = 0;
	pconn__side_close(&c->b, false);
	pconn__side_init(c, &c->b);
	relay__free(c);
	memset(&c->up, 0, sizeof(c->up));
	memset(&c->down, 0, sizeof(c->down));
	c->a.rd_eof = c->a.wr_shut = false;
	c->bytes_up = c->bytes_down = 0;
	c->stream++;
	c->st = PS_OPEN;
	c->deadline = clock__mono_s() + TUNNEL_SERVER_IDLE;
	/* The next OPEN may already sit in OpenSSL's read-ahead. */
	pconn__read_open(c);
}
