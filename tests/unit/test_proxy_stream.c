// SPDX-License-Identifier: Apache-2.0
/*
 * What the proxy reads from a peer proxy's socket, on a socketpair: the
 * NT2 frame reader (control frames whole or refused, DATA payload only,
 * FIN, a header split across reads), and the verdict of a stream as an
 * NT1 line or an NT2 frame, with the flow record it leaves.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "tests/unit/fixture_proxy.h"

/* A side reading fd @fd, as the relay sees a peer's socket. */
static void side_on(struct side *s, int fd, bool framed)
{
	memset(s, 0, sizeof(*s));
	s->h.fd = fd;
	s->framed = framed;
}

static size_t frame(uint8_t *buf, enum frame_type type, const char *payload)
{
	size_t n = strlen(payload);

	frame__hdr(buf, type, n);
	memcpy(buf + FRAME_HDR, payload, n);
	return FRAME_HDR + n;
}

/* ---- the frame reader ---------------------------------------------------------- */

/* A control frame arrives a byte at a time: nothing is returned until it
 * is whole, and the next frame starts clean. */
static void test_control_frame_byte_by_byte(void)
{
	uint8_t wire[64], type = 0;
	char buf[PROXY_STATUS_MAX];
	size_t n = frame(wire, FRAME_VERDICT, "ALLOW r"), len = 0, i;
	struct side s;
	int fds[2];

	stream_pair(fds);
	side_on(&s, fds[0], true);
	for (i = 0; i < n - 1; i++) {
		put(fds[1], wire + i, 1);
		CHECK_EQ(side__read_frame(&s, &type, buf, sizeof(buf), &len), 0);
	}
	put(fds[1], wire + n - 1, 1);
	CHECK_EQ(side__read_frame(&s, &type, buf, sizeof(buf), &len), 1);
	CHECK_EQ(type, FRAME_VERDICT);
	CHECK_EQ(len, 7);
	CHECK(!memcmp(buf, "ALLOW r", 7));
	n = frame(wire, FRAME_OPEN, "");
	put(fds[1], wire, n);
	len = 99;
	CHECK_EQ(side__read_frame(&s, &type, buf, sizeof(buf), &len), 1);
	CHECK_EQ(type, FRAME_OPEN);
	CHECK_EQ(len, 0);
	close(fds[0]);
	close(fds[1]);
}

/* A control frame longer than the reader's room is refused at its
 * header: nothing of it is copied. */
static void test_control_frame_too_long(void)
{
	uint8_t hdr[FRAME_HDR], type;
	char buf[16];
	size_t len = 0;
	struct side s;
	int fds[2];

	stream_pair(fds);
	side_on(&s, fds[0], true);
	frame__hdr(hdr, FRAME_VERDICT, 0xffffff);
	put(fds[1], hdr, sizeof(hdr));
	put(fds[1], "ALLOW", 5);
	CHECK_EQ(side__read_frame(&s, &type, buf, sizeof(buf), &len), -1);
	CHECK_EQ(len, 0);
	close(fds[0]);
	close(fds[1]);
}

/* The connection ending inside a header or a payload is an error, never
 * a short frame. */
static void test_control_frame_cut_short(void)
{
	uint8_t wire[64], type;
	char buf[PROXY_STATUS_MAX];
	size_t n = frame(wire, FRAME_VERDICT, "DENY no"), len = 0;
	struct side s;
	int fds[2];

	stream_pair(fds);
	side_on(&s, fds[0], true);
	put(fds[1], wire, 2);
	shutdown(fds[1], SHUT_WR);
	CHECK_EQ(side__read_frame(&s, &type, buf, sizeof(buf), &len), -1);
	close(fds[0]);
	close(fds[1]);
	stream_pair(fds);
	side_on(&s, fds[0], true);
	put(fds[1], wire, n - 3);
	shutdown(fds[1], SHUT_WR);
	CHECK_EQ(side__read_frame(&s, &type, buf, sizeof(buf), &len), -1);
	close(fds[0]);
	close(fds[1]);
}

/* In a stream only DATA payload reaches the reader, in pieces no larger
 * than asked; FIN ends the stream; anything else resets it. */
static void test_stream_frames(void)
{
	uint8_t wire[128];
	char buf[8];
	size_t n = 0, got_n;
	struct side s;
	int fds[2];

	stream_pair(fds);
	side_on(&s, fds[0], true);
	n += frame(wire + n, FRAME_DATA, "hello ");
	n += frame(wire + n, FRAME_DATA, "");		/* empty: skipped */
	n += frame(wire + n, FRAME_DATA, "world");
	n += frame(wire + n, FRAME_FIN, "");
	put(fds[1], wire, n);
	CHECK_EQ(side__io_read(&s, buf, 4, &got_n), IO_OK);
	CHECK(got_n == 4 && !memcmp(buf, "hell", 4));
	CHECK_EQ(side__io_read(&s, buf, sizeof(buf), &got_n), IO_OK);
	CHECK(got_n == 2 && !memcmp(buf, "o ", 2));
	CHECK_EQ(side__io_read(&s, buf, sizeof(buf), &got_n), IO_OK);
	CHECK(got_n == 5 && !memcmp(buf, "world", 5));
	CHECK_EQ(side__io_read(&s, buf, sizeof(buf), &got_n), IO_EOF);
	CHECK_EQ(side__io_read(&s, buf, sizeof(buf), &got_n), IO_AGAIN);
	n = frame(wire, FRAME_VERDICT, "ALLOW");	/* not in a stream */
	put(fds[1], wire, n);
	CHECK_EQ(side__io_read(&s, buf, sizeof(buf), &got_n), IO_RESET);
	close(fds[0]);
	close(fds[1]);
}

/* Inside a stream, the connection's end (even a clean one) cuts the
 * stream short: a reset for the workload, never an end. */
static void test_stream_cut_short(void)
{
	uint8_t wire[64];
	char buf[64];
	size_t n = frame(wire, FRAME_DATA, "partial"), got_n;
	struct side s;
	int fds[2];

	stream_pair(fds);
	side_on(&s, fds[0], true);
	put(fds[1], wire, n - 2);
	shutdown(fds[1], SHUT_WR);
	CHECK_EQ(side__io_read(&s, buf, sizeof(buf), &got_n), IO_OK);
	CHECK_EQ(got_n, 5);
	CHECK_EQ(side__io_read(&s, buf, sizeof(buf), &got_n), IO_RESET);
	close(fds[0]);
	close(fds[1]);
}

/* ---- the verdict of a stream ----------------------------------------------------- */

struct peer {
	struct fake_daemon fk;
	struct proxy *px;
	struct pconn *c;
	int tls[2];		/* [1] plays the peer proxy */
	int workload[2];	/* [1] plays the workload */
};

/* An outbound connection waiting for its verdict on side B. */
static void peer_open(struct peer *p, bool framed)
{
	p->px = fake_proxy(&p->fk);
	stream_pair(p->tls);
	stream_pair(p->workload);
	p->c = pconn__new(p->px, PCONN_OUTBOUND, p->workload[0], 1);
	p->c->b.h.fd = p->tls[0];
	p->c->b.framed = framed;
	p->c->tls = &p->c->b;
	p->c->st = PS_STATUS;
	pflow__open(p->c, NULL);
}

static void peer_close(struct peer *p)
{
	fake_proxy_free(p->px, &p->fk);
	close(p->tls[1]);
	close(p->workload[1]);
}

static const struct flow_record *flow(struct peer *p)
{
	return fake_record(&p->fk, 1);
}

/* NT1: "NT1 ALLOW ..." and a newline; the bytes after it are the
 * workload's, however the reads cut them. */
static void test_verdict_line_allow(void)
{
	struct peer p;
	char buf[64];

	peer_open(&p, false);
	put(p.tls[1], "NT1 AL", 6);
	pconn__read_status(p.c);
	CHECK_EQ(p.c->st, PS_STATUS);
	put(p.tls[1], "LOW rule 3\nhello", 16);
	pconn__read_status(p.c);
	CHECK_EQ(p.c->st, PS_RELAY);
	CHECK_EQ(flow(&p)->verdict, FLOW_ALLOW);
	CHECK_STR(flow(&p)->reason, "rule 3");
	got(p.workload[1], buf, sizeof(buf));
	CHECK_STR(buf, "hello");
	CHECK_EQ(p.c->bytes_down, 5);
	peer_close(&p);
}

static void test_verdict_line_deny(void)
{
	struct peer p;

	peer_open(&p, false);
	put(p.tls[1], "NT1 DENY default deny: no allow rule\n", 37);
	pconn__read_status(p.c);
	CHECK_EQ(p.c->st, PS_DONE);
	CHECK_EQ(flow(&p)->verdict, FLOW_DENY);
	CHECK_STR(flow(&p)->reason, "default deny: no allow rule");
	CHECK_STR(flow(&p)->state, "denied by peer");
	peer_close(&p);
}

/* A line that never ends is refused once it fills the verdict buffer. */
static void test_verdict_line_too_long(void)
{
	char junk[PROXY_STATUS_MAX + 8];
	struct peer p;

	peer_open(&p, false);
	memset(junk, 'A', sizeof(junk));
	put(p.tls[1], junk, sizeof(junk));
	pconn__read_status(p.c);
	CHECK_EQ(p.c->st, PS_DONE);
	CHECK_STR(flow(&p)->state, "bad verdict line from peer");
	peer_close(&p);
}

/* A line that is not a verdict denies: the workload gets nothing. */
static void test_verdict_line_garbage(void)
{
	struct peer p;

	peer_open(&p, false);
	put(p.tls[1], "HTTP/1.1 200 OK\n", 16);
	pconn__read_status(p.c);
	CHECK_EQ(p.c->st, PS_DONE);
	CHECK_EQ(flow(&p)->verdict, FLOW_DENY);
	CHECK_STR(flow(&p)->reason, "peer proxy sent no verdict");
	peer_close(&p);
}

static void test_verdict_peer_gone(void)
{
	struct peer p;

	peer_open(&p, false);
	shutdown(p.tls[1], SHUT_WR);
	pconn__read_status(p.c);
	CHECK_EQ(p.c->st, PS_DONE);
	CHECK_STR(flow(&p)->reason, "peer proxy closed before its verdict");
	peer_close(&p);
}

/* NT2: the verdict is a VERDICT frame; nothing is read past it. */
static void test_verdict_frame(void)
{
	uint8_t wire[64];
	size_t n = frame(wire, FRAME_VERDICT, "ALLOW rule 1");
	struct peer p;

	peer_open(&p, true);
	n += frame(wire + n, FRAME_DATA, "x");
	put(p.tls[1], wire, n);
	pconn__read_status(p.c);
	CHECK_EQ(p.c->st, PS_RELAY);
	CHECK_EQ(flow(&p)->verdict, FLOW_ALLOW);
	CHECK_STR(flow(&p)->reason, "rule 1");
	peer_close(&p);
	peer_open(&p, true);
	n = frame(wire, FRAME_DATA, "ALLOW");	/* data before any verdict */
	put(p.tls[1], wire, n);
	pconn__read_status(p.c);
	CHECK_EQ(p.c->st, PS_DONE);
	CHECK_STR(flow(&p)->state, "bad verdict frame from peer");
	peer_close(&p);
}

T_MAIN("proxy/stream",
       T(test_control_frame_byte_by_byte),
       T(test_control_frame_too_long),
       T(test_control_frame_cut_short),
       T(test_stream_frames),
       T(test_stream_cut_short),
       T(test_verdict_line_allow),
       T(test_verdict_line_deny),
       T(test_verdict_line_too_long),
       T(test_verdict_line_garbage),
       T(test_verdict_peer_gone),
       T(test_verdict_frame));
