// SPDX-License-Identifier: Apache-2.0
/*
 * kTLS connections handed over at an upgrade (docs/process-model.md,
 * "Upgrade in place", step 3). With kTLS both ways the kernel holds the
 * whole TLS state of a connection (keys, sequence numbers, a record half
 * received), so its two sockets are the connection: the old process sends
 * them with a small record of what its flow was and where its NT2 framing
 * stands, and forgets them; the new one relays them on. A connection is
 * only handed over between two relay batches with no byte of its own
 * left in userspace: nothing in a relay buffer or a splice pipe, no
 * OpenSSL object, no handshake or verdict under way. The others drain.
 *
 * The new process trusts nothing it receives: every field is bounded, the
 * descriptors must be connected TCP sockets in the netns the record names,
 * the TLS one with TLS 1.3 kTLS keys both ways and the other with no ULP.
 * It judges the connection by its own policy, as a reload would, and lets
 * it carry no further NT2 stream (it never verified the peer itself).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "userspace/proxy/proxy_int.h"

#define FRAME_LEN_MAX	0xffffffu	/* 24 bits (proxy_int.h) */

/* ---- the old process ------------------------------------------------------------ */

static bool quiet(const struct pconn *c)
{
	const struct side *t = c->tls;

	return c->st == PS_RELAY && !c->away && t && t->ktls && !t->ssl &&
	       !c->a.ssl && !c->b.ssl &&
	       (c->kind == PCONN_OUTBOUND || c->kind == PCONN_MESH) &&
	       c->a.h.fd >= 0 && c->b.h.fd >= 0 &&
	       !c->up.len && !c->down.len && !c->up.pipe_len &&
	       !c->down.pipe_len && !atomic_load(&c->kill);
}

static uint32_t side_flags(const struct side *s, uint32_t rd, uint32_t wr)
{
	return (s->rd_eof ? rd : 0) | (s->wr_shut ? wr : 0);
}

static void describe(const struct pconn *c, struct proxy_handover *h)
{
	const struct side *t = c->tls;

	memset(h, 0, sizeof(*h));
	h->pid = getpid();
	h->kind = c->kind == PCONN_OUTBOUND ? PROXY_HO_OUTBOUND : PROXY_HO_MESH;
	h->netns = c->netns;
	h->mode = c->mode;
	h->stream = c->stream ? c->stream : 1;
	h->flags = (t->framed ? PROXY_HO_FRAMED : 0) |
		   side_flags(&c->a, PROXY_HO_A_RD_EOF, PROXY_HO_A_WR_SHUT) |
		   side_flags(&c->b, PROXY_HO_B_RD_EOF, PROXY_HO_B_WR_SHUT);
	memcpy(h->hdr, t->hdr, sizeof(h->hdr));
	h->hdr_len = t->hdr_len;
	h->frame_left = t->frame_left;
	h->port = c->port;
	h->flow_id = c->flow_id;
	h->bytes_up = c->bytes_up;
	h->bytes_down = c->bytes_down;
	h->handshake_ms = c->handshake_ms;
	h->orig_dst = c->orig_dst;
	snprintf(h->ns, sizeof(h->ns), "%s", c->ns);
	if (c->src)
		snprintf(h->src, sizeof(h->src), "%s", c->src->str);
	if (c->dst)
		snprintf(h->dst, sizeof(h->dst), "%s", c->dst->str);
	/* The verdict its flow shows: the new flow starts from it. */
	h->verdict = FLOW_ALLOW;
	if (c->flow_id) {
		const struct flow_record *f = c->px->env.flow(c->px->env.ctx,
							      c->flow_id);

		if (f) {
			h->verdict = f->verdict;
			snprintf(h->reason, sizeof(h->reason), "%s", f->reason);
		}
	}
}

size_t proxy__handover(struct proxy *px, proxy_handover_fn send, void *arg)
{
	struct proxy_handover h;
	struct pconn *c, *next;
	size_t n = 0;
	int fds[2];

	/* Relay threads write what quiet() reads: every connection comes
	 * back first, and what stays goes out to them again after. */
	pworkers__recall(px);
	for (c = px->conns; c; c = next) {
		next = c->next;
		if (!quiet(c))
			continue;
		describe(c, &h);
		fds[0] = c->a.h.fd;
		fds[1] = c->b.h.fd;
		if (send(&h, fds, arg))
			break;	/* the rest drain here */
		/* The new process holds both sockets now: closing ours
		 * sends nothing (no shutdown, no close_notify, no linger). */
		pconn__close(c, false, "handed over");
		n++;
	}
	for (c = px->conns; px->wk && c; c = next) {
		next = c->next;
		if (c->st == PS_RELAY && !c->away)
			relay__go(c);
	}
	return n;
}

/* ---- the new process: what arrived is checked first ---------------------------- */

static bool has_nul(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

static int check_record(const struct proxy_handover *h, struct nt_err *err)
{
	bool framed = h->flags & PROXY_HO_FRAMED;

	if (h->kind != PROXY_HO_OUTBOUND && h->kind != PROXY_HO_MESH)
		return nt_err_set(err, -EBADMSG, "kind %u", h->kind);
	if (h->flags & ~PROXY_HO_FLAGS)
		return nt_err_set(err, -EBADMSG, "flags %#x", h->flags);
	if (h->mode > NT_MODE_STRICT || h->verdict > FLOW_UNKNOWN ||
	    !h->stream || !h->netns)
		return nt_err_set(err, -EBADMSG, "mode, verdict, stream or netns out of range");
	if (h->hdr_len >= FRAME_HDR || h->frame_left > FRAME_LEN_MAX ||
	    (!framed && (h->hdr_len || h->frame_left)))
		return nt_err_set(err, -EBADMSG, "NT2 framing state out of range");
	/* NaN fails both comparisons. */
	if (!(h->handshake_ms >= 0 && h->handshake_ms < 1e9))
		return nt_err_set(err, -EBADMSG, "handshake time out of range");
	if (!has_nul(h->ns, sizeof(h->ns)) ||
	    !has_nul(h->reason, sizeof(h->reason)) ||
	    !has_nul(h->src, sizeof(h->src)) || !has_nul(h->dst, sizeof(h->dst)))
		return nt_err_set(err, -EBADMSG, "a string without its end");
	if (h->kind == PROXY_HO_OUTBOUND && h->orig_dst.family != AF_INET &&
	    h->orig_dst.family != AF_INET6)
		return nt_err_set(err, -EBADMSG, "destination family %u",
				  h->orig_dst.family);
	return 0;
}

/* A connected TCP socket (one way may have ended) in netns @netns. */
static int check_tcp(int fd, uint32_t netns, const char *which,
		     struct nt_err *err)
{
	int domain = 0, type = 0, proto = 0;
	socklen_t len = sizeof(int);
	struct tcp_info ti = {};
	struct stat st;
	uint32_t ino;

	if (fstat(fd, &st) || !S_ISSOCK(st.st_mode))
		return nt_err_set(err, -ENOTSOCK, "%s: not a socket", which);
	getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len);
	len = sizeof(int);
	getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len);
	len = sizeof(int);
	getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len);
	if ((domain != AF_INET && domain != AF_INET6) || type != SOCK_STREAM ||
	    proto != IPPROTO_TCP)
		return nt_err_set(err, -EPROTONOSUPPORT, "%s: not a TCP socket", which);
	len = sizeof(ti);
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len))
		return nt_err_set(err, -errno, "%s: TCP_INFO: %s", which,
				  strerror(errno));
	switch (ti.tcpi_state) {
	case TCP_ESTABLISHED:
	case TCP_CLOSE_WAIT:	/* the far end finished sending */
	case TCP_FIN_WAIT1:	/* we did */
	case TCP_FIN_WAIT2:
	case TCP_CLOSING:	/* both did */
	case TCP_LAST_ACK:
		break;
	case TCP_CLOSE:		/* reset since the old process sent it */
		return nt_err_set(err, -ECONNRESET, "%s: reset meanwhile", which);
	default:
		return nt_err_set(err, -ENOTCONN, "%s: not connected (TCP state %u)",
				  which, ti.tcpi_state);
	}
	if (netns__of_socket(fd, &ino) || ino != netns)
		return nt_err_set(err, -EXDEV, "%s: not in network namespace %u",
				  which, netns);
	/* Non-blocking, as the relay needs: the flag is the open file's,
	 * shared with the sender, so it was set there; set it anyway. */
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK))
		return nt_err_set(err, -errno, "%s: O_NONBLOCK: %s", which,
				  strerror(errno));
	return 0;
}

static int check_fds(const struct proxy_handover *h, const int fds[2],
		     const char **cipher, struct nt_err *err)
{
	int t = h->kind == PROXY_HO_OUTBOUND ? 1 : 0;
	struct nt_err e = {};
	int ret;

	ret = check_tcp(fds[t], h->netns, "the mTLS socket", err);
	if (!ret)
		ret = check_tcp(fds[!t], h->netns, "the workload's socket", err);
	if (ret)
		return ret;
	ret = ktls__check(fds[t], cipher, &e);
	if (ret)
		return nt_err_set(err, ret, "the mTLS socket: %s", e.msg);
	if (!ktls__ulp_none(fds[!t]))
		return nt_err_set(err, -EPROTONOSUPPORT, "the workload's socket has a ULP");
	return 0;
}

static int hold(struct pconn *c, const struct spiffe_id **slot,
		const char *s, struct nt_err *err)
{
	struct spiffe_id id;
	struct nt_err e = {};

	if (!s[0])
		return 0;
	if (spiffe_id__parse(&id, s, strlen(s), &e))
		return nt_err_set(err, -EBADMSG, "SPIFFE ID: %s", e.msg);
	return pconn__hold_id(c, slot, &id, err);
}

static void set_side(struct side *s, bool rd_eof, bool wr_shut)
{
	s->rd_eof = rd_eof;
	s->wr_shut = wr_shut;
}

/* The connection as the old process had it, its flow record opened. */
static int rebuild(struct pconn *c, const struct proxy_handover *h,
		   const char *cipher, struct nt_err *err)
{
	struct side *t = h->kind == PROXY_HO_OUTBOUND ? &c->b : &c->a;
	int ret;

	c->tls = t;
	c->adopted = true;
	t->ktls = true;
	t->framed = h->flags & PROXY_HO_FRAMED;
	memcpy(t->hdr, h->hdr, sizeof(t->hdr));
	t->hdr_len = h->hdr_len;
	t->frame_left = h->frame_left;
	set_side(&c->a, h->flags & PROXY_HO_A_RD_EOF, h->flags & PROXY_HO_A_WR_SHUT);
	set_side(&c->b, h->flags & PROXY_HO_B_RD_EOF, h->flags & PROXY_HO_B_WR_SHUT);
	snprintf(c->ns, sizeof(c->ns), "%s", h->ns);
	c->mode = h->mode;
	c->port = h->port;
	c->orig_dst = h->orig_dst;
	c->stream = h->stream;
	c->bytes_up = h->bytes_up;
	c->bytes_down = h->bytes_down;
	c->handshake_ms = h->handshake_ms;
	c->tls_version = "TLSv1.3";	/* ktls__check saw it */
	c->cipher = cipher;
	ret = hold(c, &c->src, h->src, err);
	if (!ret)
		ret = hold(c, &c->dst, h->dst, err);
	if (ret)
		return ret;
	pflow__open(c, NULL);
	if (c->kind == PCONN_OUTBOUND)
		pflow__wire_src(c);
	pflow__tls(c);
	pflow__ktls(c, true);
	pflow__adopted(c, h->pid, h->verdict, h->reason);
	return 0;
}

/* Refused: the workload hears a reset, never an end of stream that
 * would pass for the whole of it. */
static void refuse(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

int proxy__adopt_conn(struct proxy *px, const struct proxy_handover *h,
		      int fds[2], struct nt_err *err)
{
	const char *cipher = NULL;
	struct decision d;
	struct pconn *c;
	int ret;

	ret = check_record(h, err);
	if (!ret)
		ret = check_fds(h, fds, &cipher, err);
	if (ret) {
		refuse(fds[0]);
		refuse(fds[1]);
		return ret;
	}
	c = pconn__new(px, h->kind == PROXY_HO_OUTBOUND ? PCONN_OUTBOUND :
		       PCONN_MESH, fds[0], h->netns);
	if (!c) {
		close(fds[1]);
		return nt_err_set(err, -ENOMEM, "out of memory");
	}
	c->b.h.fd = fds[1];
	ret = rebuild(c, h, cipher, err);
	if (!ret && relay__start(c))
		ret = nt_err_set(err, -ENOMEM, "out of memory");
	if (ret) {
		pflow__reason(c, err->msg);
		pconn__close(c, true, "error");
		return ret;
	}
	/* Judged like every open connection at a reload: the policy in force
	 * is this process's. A denied one ends as a reload ends it. */
	ret = pconn__recheck(c, NULL, NULL, &d);
	if (ret < 0)
		return nt_err_set(err, -EACCES, "denied by the policy in force: %s",
				  d.reason);
	if (ret > 0)
		pflow__verdict(c, &d);
	pflow__publish(c);
	relay__go(c);
	return 0;
}
