// SPDX-License-Identifier: Apache-2.0
/*
 * SOCK_DESTROY with one request and its acknowledgement, on a plain
 * netlink socket: the CLI's probe and the daemon's strict switch send the
 * same message, and neither needs more of libnl than this.
 */
#include <errno.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>

#include "lib/ntcore.h"

/* A stray message (another request's late answer) is skipped at most this
 * many times before the answer counts as lost. */
#define ACK_READS_MAX	8

int sock_diag__set_timeout(int nlfd)
{
	struct timeval tv = { .tv_sec = SOCK_DIAG_TIMEOUT_S };

	if (setsockopt(nlfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)))
		return -errno;
	return 0;
}

/* The NLMSG_ERROR answering @seq from the kernel: its error, 0 for ACK. */
static int read_ack(int nlfd, uint32_t seq)
{
	union {
		struct nlmsghdr h;
		char buf[1024];	/* the ACK echoes our request, 72 bytes */
	} u;
	const struct nlmsgerr *e;
	struct sockaddr_nl from;
	struct nlmsghdr *h;
	socklen_t flen;
	ssize_t n;
	int i;

	for (i = 0; i < ACK_READS_MAX; i++) {
		flen = sizeof(from);
		n = recvfrom(nlfd, u.buf, sizeof(u.buf), 0,
			     (struct sockaddr *)&from, &flen);
		if (n < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		if (flen != sizeof(from) || from.nl_pid != 0)
			continue;	/* only the kernel answers */
		for (h = &u.h; NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_seq != seq || h->nlmsg_type != NLMSG_ERROR)
				continue;
			if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
				return -EBADMSG;
			e = NLMSG_DATA(h);
			return e->error > 0 ? -EBADMSG : e->error;
		}
	}
	return -ETIMEDOUT;
}

int sock_diag__destroy(int nlfd, int family, const struct inet_diag_sockid *id)
{
	static uint32_t seq;
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 req;
	} msg = {
		.nlh = {
			.nlmsg_len = sizeof(msg),
			.nlmsg_type = SOCK_DESTROY,
			.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK,
			.nlmsg_seq = ++seq,
		},
		.req = {
			.sdiag_family = family,
			.sdiag_protocol = IPPROTO_TCP,
			.idiag_states = ~0u,
			.id = *id,
		},
	};
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };

	if (sendto(nlfd, &msg, sizeof(msg), 0, (struct sockaddr *)&kernel,
		   sizeof(kernel)) < 0)
		return -errno;
	return read_ack(nlfd, msg.nlh.nlmsg_seq);
}
