// SPDX-License-Identifier: Apache-2.0
/*
 * Sockets in other network namespaces. A socket keeps the namespace it was
 * created in, so the proxy's listeners and sock_diag's netlink sockets are
 * made after setns() into the namespace, and the thread goes home at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <linux/sockios.h>

#include "lib/ntcore.h"

#define NSFS_MAGIC 0x6e736673

static int self_netns = -1;

int netns__ino(int fd, uint32_t *ino)
{
	struct statfs sfs;
	struct stat st;

	if (fstatfs(fd, &sfs) || fstat(fd, &st))
		return -errno;
	if ((uint32_t)sfs.f_type != NSFS_MAGIC)
		return -EINVAL;
	*ino = (uint32_t)st.st_ino;
	return 0;
}

int netns__of_socket(int sock_fd, uint32_t *ino)
{
	int fd = ioctl(sock_fd, SIOCGSKNS), ret;

	if (fd < 0)
		return -errno;
	ret = netns__ino(fd, ino);
	close(fd);
	return ret;
}

int netns__socket(int netns_fd, int domain, int type, int protocol)
{
	int fd, saved;

	if (self_netns < 0) {
		self_netns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
		if (self_netns < 0)
			return -errno;
	}
	if (setns(netns_fd, CLONE_NEWNET))
		return -errno;
	fd = socket(domain, type | SOCK_CLOEXEC, protocol);
	saved = errno;
	/* Back home before anything else runs; failing that, nothing the
	 * daemon does next would be in the right place. */
	if (setns(self_netns, CLONE_NEWNET)) {
		pr_err("cannot return to the daemon's netns: %s", strerror(errno));
		abort();
	}
	return fd < 0 ? -saved : fd;
}
