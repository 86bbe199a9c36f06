// SPDX-License-Identifier: Apache-2.0
/*
 * Descriptors across a unix socket (SCM_RIGHTS), both ways: the control
 * socket's requests (tools/ctl.c to userspace/daemon/control.c) and the
 * hand-over between two nametagd at an upgrade (userspace/daemon/handoff.c).
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "lib/ntcore.h"

int fdpass__attach(struct msghdr *msg, void *cbuf, size_t cbuf_size,
		   const int *fds, int nfds)
{
	struct cmsghdr *cm;

	if (nfds < 0 || CMSG_SPACE(sizeof(int) * (size_t)nfds) > cbuf_size)
		return -EINVAL;
	if (!nfds)
		return 0;
	memset(cbuf, 0, CMSG_SPACE(sizeof(int) * nfds));
	msg->msg_control = cbuf;
	msg->msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
	cm = CMSG_FIRSTHDR(msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
	memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	return 0;
}

void fdpass__take(struct msghdr *msg, int *fds, int *nfds, int max)
{
	struct cmsghdr *cm;
	int *p, n, i;

	for (cm = CMSG_FIRSTHDR(msg); cm; cm = CMSG_NXTHDR(msg, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		p = (int *)CMSG_DATA(cm);
		n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < n; i++) {
			if (*nfds < max)
				fds[(*nfds)++] = p[i];
			else
				close(p[i]);
		}
	}
}
