// SPDX-License-Identifier: Apache-2.0
/*
 * The Workload API's caller evidence on kernels with the cgroup unix
 * connect hook (bpf/unix.bpf.h): the record the connecting task left,
 * keyed by its socket's inode. The daemon holds the accepted end; its
 * peer's inode comes from sock_diag (UNIX_DIAG_PEER), asked in the network
 * namespace of the accepted socket: a unix socket accepted from a client
 * in another network namespace belongs to the client's.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/sockios.h>
#include <linux/unix_diag.h>

#include "userspace/datapath/datapath_int.h"

#define DIAG_READS_MAX	8

/* The inode of @ino's peer, asked on @nlfd; -ENOENT when it has none. */
static int unix_peer(int nlfd, uint32_t ino, uint32_t *peer)
{
	struct {
		struct nlmsghdr h;
		struct unix_diag_req r;
	} req = {
		.h = { .nlmsg_len = sizeof(req), .nlmsg_type = SOCK_DIAG_BY_FAMILY,
		       .nlmsg_flags = NLM_F_REQUEST, .nlmsg_seq = 1 },
		.r = { .sdiag_family = AF_UNIX, .udiag_states = ~0u,
		       .udiag_ino = ino, .udiag_show = UDIAG_SHOW_PEER,
		       .udiag_cookie = { ~0u, ~0u } },
	};
	union {
		struct nlmsghdr h;
		char buf[512];
	} u;
	struct nlmsghdr *h;
	struct rtattr *a;
	ssize_t n;
	int i, len;

	if (send(nlfd, &req, sizeof(req), 0) < 0)
		return -errno;
	for (i = 0; i < DIAG_READS_MAX; i++) {
		n = recv(nlfd, u.buf, sizeof(u.buf), 0);
		if (n < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		for (h = &u.h; NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_seq != 1)
				continue;
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);

				return e->error ? e->error : -ENOENT;
			}
			if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
			    h->nlmsg_len < NLMSG_LENGTH(sizeof(struct unix_diag_msg)))
				return -EBADMSG;
			len = h->nlmsg_len - NLMSG_LENGTH(sizeof(struct unix_diag_msg));
			a = (struct rtattr *)((char *)NLMSG_DATA(h) +
					      NLMSG_ALIGN(sizeof(struct unix_diag_msg)));
			for (; RTA_OK(a, len); a = RTA_NEXT(a, len))
				if (a->rta_type == UNIX_DIAG_PEER &&
				    RTA_PAYLOAD(a) >= (int)sizeof(uint32_t)) {
					memcpy(peer, RTA_DATA(a), sizeof(*peer));
					return *peer ? 0 : -ENOENT;
				}
			return -ENOENT;
		}
	}
	return -ETIMEDOUT;
}

bool datapath__has_unix_hook(const struct datapath *dp)
{
	return dp->unix_hook;
}

int datapath__unix_evidence(struct datapath *dp, int fd,
			    struct nt_sock_value *v)
{
	int nsfd, nlfd, ret;
	uint32_t peer = 0;
	uint64_t key;
	struct stat st;

	if (!dp->unix_hook)
		return -EOPNOTSUPP;
	if (fstat(fd, &st))
		return -errno;
	/* CAP_NET_ADMIN over the socket's namespace: the daemon has it. */
	nsfd = ioctl(fd, SIOCGSKNS);
	if (nsfd < 0)
		return -errno;
	nlfd = netns__socket(nsfd, AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC,
			     NETLINK_SOCK_DIAG);
	close(nsfd);
	if (nlfd < 0)
		return nlfd;
	ret = sock_diag__set_timeout(nlfd);
	if (!ret)
		ret = unix_peer(nlfd, (uint32_t)st.st_ino, &peer);
	close(nlfd);
	if (ret)
		return ret;
	/* Read once: the inode may name another socket later. */
	key = peer;
	if (bpf_map_lookup_and_delete_elem(bpf_map__fd(dp->skel->maps.unix_ev),
					   &key, v))
		return -errno;
	return 0;
}
