// SPDX-License-Identifier: Apache-2.0
/*
 * The messages between an old and a new nametagd during an upgrade
 * (upgrade.h): fixed-size records on a SOCK_SEQPACKET socketpair, each
 * with its descriptors in one SCM_RIGHTS; two sizes, one for a handed-over
 * connection (HO_CONN) and one for everything else. The pair is made by old and
 * inherited by new through exec, so no third process can be on it; the
 * magic and version only catch a binary of another make.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "userspace/daemon/upgrade.h"

void handoff__init(struct handoff_msg *m, enum handoff_type type,
		   const char *fmt, ...)
{
	va_list ap;

	memset(m, 0, sizeof(*m));
	m->magic = HANDOFF_MAGIC;
	m->version = HANDOFF_VERSION;
	m->type = type;
	m->pid = getpid();
	if (!fmt)
		return;
	va_start(ap, fmt);
	vsnprintf(m->text, sizeof(m->text), fmt, ap);
	va_end(ap);
}

static int send_fds(int sock, const void *m, size_t size, const int *fds,
		    int nfds)
{
	char cbuf[CMSG_SPACE(sizeof(int) * HANDOFF_MAX_FDS)];
	struct iovec iov = { (void *)m, size };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (nfds > HANDOFF_MAX_FDS ||
	    fdpass__attach(&msg, cbuf, sizeof(cbuf), fds, nfds))
		return -EINVAL;
	for (;;) {
		if (sendmsg(sock, &msg, MSG_NOSIGNAL) == (ssize_t)size)
			return 0;
		if (errno != EINTR)
			return -errno;
	}
}

int handoff__send(int sock, const struct handoff_msg *m, const int *fds,
		  int nfds)
{
	return send_fds(sock, m, sizeof(*m), fds, nfds);
}

int handoff__send_conn(int sock, const struct proxy_handover *h,
		       const int fds[2])
{
	struct handoff_conn m = { .magic = HANDOFF_MAGIC, .type = HO_CONN,
				  .version = HANDOFF_VERSION, .h = *h };

	return send_fds(sock, &m, sizeof(m), fds, 2);
}

/* Whole, of a known make, and the size of its type. */
static bool well_formed(const union handoff_any *u, ssize_t n, int flags)
{
	if (n < (ssize_t)sizeof(uint64_t) || (flags & (MSG_CTRUNC | MSG_TRUNC)) ||
	    u->m.magic != HANDOFF_MAGIC || u->m.version != HANDOFF_VERSION)
		return false;
	return n == (ssize_t)(u->m.type == HO_CONN ? sizeof(u->c) : sizeof(u->m));
}

int handoff__recv_any(int sock, union handoff_any *u,
		      int fds[HANDOFF_MAX_FDS], int *nfds, int timeout_ms)
{
	char cbuf[CMSG_SPACE(sizeof(int) * HANDOFF_MAX_FDS)];
	struct iovec iov = { u, sizeof(*u) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = cbuf,
			      .msg_controllen = sizeof(cbuf) };
	struct pollfd pfd = { .fd = sock, .events = POLLIN };
	ssize_t n;
	int i;

	*nfds = 0;
	for (;;) {
		n = poll(&pfd, 1, timeout_ms);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (!n)
			return -ETIMEDOUT;
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		break;
	}
	if (n < 0)
		return -errno;
	fdpass__take(&msg, fds, nfds, HANDOFF_MAX_FDS);
	if (!n)
		return -EPIPE;
	if (well_formed(u, n, msg.msg_flags)) {
		if (u->m.type != HO_CONN)
			u->m.text[sizeof(u->m.text) - 1] = '\0';
		return 0;
	}
	for (i = 0; i < *nfds; i++)
		close(fds[i]);
	*nfds = 0;
	return -EPROTO;
}

int handoff__recv(int sock, struct handoff_msg *m, int fds[HANDOFF_MAX_FDS],
		  int *nfds, int timeout_ms)
{
	union handoff_any u;
	int i, ret = handoff__recv_any(sock, &u, fds, nfds, timeout_ms);

	if (ret)
		return ret;
	if (u.m.type == HO_CONN) {	/* not where one is expected */
		for (i = 0; i < *nfds; i++)
			close(fds[i]);
		*nfds = 0;
		return -EPROTO;
	}
	*m = u.m;
	return 0;
}
