// SPDX-License-Identifier: Apache-2.0
/*
 * kTLS connections handed over at an upgrade (userspace/proxy/handover.c)
 * on real sockets. The old side: only a connection that relays with kTLS
 * and holds no byte of its own goes, and the one that goes is forgotten
 * without its connection ending. The new side: a record out of bounds and
 * descriptors that are not a connected TCP socket with kTLS (this kernel
 * may have none: then every TCP pair is one without) are refused, closed
 * with a reset, and no connection is made of them. The adoption itself
 * needs kTLS: tests/vm/test_upgrade_ktls.sh.
 */
#include <math.h>
#include <string.h>
#include <sys/socket.h>

#include "tests/unit/fixture_proxy.h"

struct sent {
	int n;
	struct proxy_handover h;
	int fds[2];		/* dups, as SCM_RIGHTS would hold them */
};

static int take(const struct proxy_handover *h, const int fds[2], void *arg)
{
	struct sent *s = arg;

	s->n++;
	s->h = *h;
	s->fds[0] = dup(fds[0]);
	s->fds[1] = dup(fds[1]);
	return 0;
}

/* An outbound connection that relays, its B side "kTLS". */
static struct pconn *relaying(struct proxy *px, int a, int b)
{
	struct pconn *c = pconn__new(px, PCONN_OUTBOUND, a, 7);
	struct spiffe_id id;

	c->b.h.fd = b;
	c->tls = &c->b;
	c->b.ktls = true;
	c->b.framed = true;
	c->b.hdr_len = 2;
	c->b.hdr[0] = FRAME_DATA;
	c->a.rd_eof = true;
	c->st = PS_RELAY;
	c->stream = 3;
	c->bytes_up = 1234;
	c->port = 8080;
	snprintf(c->ns, sizeof(c->ns), "shop");
	id_of(&id, "spiffe://t.test/ns/shop/sa/server");
	pconn__hold_id(c, &c->dst, &id, NULL);
	return c;
}

static bool open_fd(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

static void test_old_hands_over_only_quiet_ktls(void)
{
	struct fake_daemon fk;
	struct proxy *px = fake_proxy(&fk);
	int w[2], t[2], u[2], v[2];
	struct sent s = {};
	struct pconn *busy;
	char b;

	tcp_pair(w);
	tcp_pair(t);
	tcp_pair(u);
	tcp_pair(v);
	relaying(px, w[0], t[0]);
	busy = relaying(px, u[0], v[0]);
	CHECK_EQ(pbuf__put(&busy->up, "x", 1), 0);	/* a byte of its own */
	CHECK_EQ(proxy__handover(px, take, &s), 1);
	CHECK_EQ(s.n, 1);
	CHECK_EQ(s.h.kind, PROXY_HO_OUTBOUND);
	CHECK_EQ(s.h.pid, (uint32_t)getpid());
	CHECK_EQ(s.h.stream, 3);
	CHECK_EQ(s.h.bytes_up, 1234);
	CHECK_EQ(s.h.hdr_len, 2);
	CHECK_EQ(s.h.flags, PROXY_HO_FRAMED | PROXY_HO_A_RD_EOF);
	CHECK_STR(s.h.dst, "spiffe://t.test/ns/shop/sa/server");
	CHECK_STR(s.h.ns, "shop");
	CHECK_EQ(px->nconns, 1);	/* the busy one drains */
	/* Forgotten, not ended: the far ends hear nothing. */
	CHECK(recv(w[1], &b, 1, MSG_DONTWAIT) < 0 && errno == EAGAIN);
	CHECK(recv(t[1], &b, 1, MSG_DONTWAIT) < 0 && errno == EAGAIN);
	close(s.fds[0]);
	close(s.fds[1]);
	fake_proxy_free(px, &fk);
	close(w[1]);
	close(t[1]);
	close(u[1]);
	close(v[1]);
}

/* A record describing an outbound connection in this process's netns. */
static void record(struct proxy_handover *h, int fd)
{
	memset(h, 0, sizeof(*h));
	h->pid = 1;
	h->kind = PROXY_HO_OUTBOUND;
	h->stream = 1;
	h->verdict = FLOW_ALLOW;
	h->orig_dst.family = AF_INET;
	if (netns__of_socket(fd, &h->netns))
		h->netns = 1;
}

/* @h and @fds refused with @want; both closed, the far ends reset. */
static void refused(struct proxy_handover *h, int fds[2], int far[2], int want)
{
	struct fake_daemon fk;
	struct proxy *px = fake_proxy(&fk);
	struct nt_err err = {};
	int in[2] = { fds[0], fds[1] };
	char b;

	CHECK_EQ(proxy__adopt_conn(px, h, fds, &err), want);
	CHECK(err.msg[0]);
	CHECK_EQ(px->nconns, 0);
	CHECK(!open_fd(in[0]) && !open_fd(in[1]));
	if (far && far[0] >= 0)
		CHECK(recv(far[0], &b, 1, 0) < 0 && errno == ECONNRESET);
	fake_proxy_free(px, &fk);
}

static void test_new_refuses_records_out_of_bounds(void)
{
	struct proxy_handover h;
	int a[2], b[2], fds[2], far[2], i;

	for (i = 0; i < 6; i++) {
		tcp_pair(a);
		tcp_pair(b);
		record(&h, a[0]);
		switch (i) {
		case 0: h.kind = 9; break;
		case 1: h.flags = PROXY_HO_FRAMED; h.hdr_len = 4; break;
		case 2: h.frame_left = 5; break;	/* framing, not framed */
		case 3: memset(h.src, 'x', sizeof(h.src)); break;
		case 4: h.handshake_ms = NAN; break;
		case 5: h.mode = 7; break;
		}
		fds[0] = a[0];
		fds[1] = b[0];
		far[0] = a[1];
		far[1] = b[1];
		refused(&h, fds, far, -EBADMSG);
		close(a[1]);
		close(b[1]);
	}
}

static void test_new_refuses_what_is_not_tcp_with_ktls(void)
{
	struct proxy_handover h;
	int a[2], b[2], p[2], fds[2], far[2] = { -1, -1 };

	/* A pipe for the mTLS socket. */
	tcp_pair(a);
	CHECK_EQ(pipe(p), 0);
	record(&h, a[0]);
	fds[0] = a[0];
	fds[1] = p[0];
	refused(&h, fds, NULL, -ENOTSOCK);
	close(p[1]);
	close(a[1]);
	/* A unix stream socket. */
	tcp_pair(a);
	stream_pair(b);
	record(&h, a[0]);
	fds[0] = a[0];
	fds[1] = b[0];
	refused(&h, fds, NULL, -EPROTONOSUPPORT);
	close(b[1]);
	close(a[1]);
	/* TCP without kTLS: the workload hears a reset. */
	tcp_pair(a);
	tcp_pair(b);
	record(&h, a[0]);
	fds[0] = a[0];
	fds[1] = b[0];
	far[0] = a[1];
	refused(&h, fds, far, -EPROTONOSUPPORT);
	close(a[1]);
	close(b[1]);
	/* Another network namespace than the record names. */
	tcp_pair(a);
	tcp_pair(b);
	record(&h, a[0]);
	h.netns += 1;
	fds[0] = a[0];
	fds[1] = b[0];
	refused(&h, fds, NULL, -EXDEV);
	close(a[1]);
	close(b[1]);
}

T_MAIN("proxy/handover",
       T(test_old_hands_over_only_quiet_ktls),
       T(test_new_refuses_records_out_of_bounds),
       T(test_new_refuses_what_is_not_tcp_with_ktls));
