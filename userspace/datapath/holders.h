/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to userspace/datapath/: the processes of enrolled namespaces
 * (from cgroup.procs) and the sockets they hold (from /proc/PID/fd), for
 * the listener sync: a listening socket created outside a namespace but
 * held by one of its processes (socket activation, an inherited fd) is
 * that namespace's. Functions return 0 or a negative errno.
 */
#ifndef NAMETAG_HOLDERS_H
#define NAMETAG_HOLDERS_H

#include <stddef.h>
#include <stdint.h>

struct holder_proc {
	uint32_t pid;
	uint64_t cgroup_id;
	size_t ns;		/* the enrolled namespace, an index */
};

/* A socket a process of an enrolled namespace holds. */
struct holder {
	uint32_t inode;		/* the socket's inode */
	int fd;			/* its number in the process */
	const struct holder_proc *proc;
};

struct holders {
	struct holder_proc *procs;
	size_t nprocs, procs_cap;
	struct holder *v;	/* sorted by inode after holders__scan() */
	size_t n, cap;
};

/* Adds the processes of the cgroup directory @dfd (id @cgroup_id) as
 * namespace @ns's. */
int holders__add_procs(struct holders *h, int dfd, uint64_t cgroup_id,
		       size_t ns);
/* Lists the sockets every added process holds. A process that exits
 * meanwhile is skipped. */
int holders__scan(struct holders *h);
const struct holder *holders__find(const struct holders *h, uint32_t inode);
/* A duplicate of the holder's socket, checked to be the socket @cookie
 * (the fd number may have been reused since the scan): an fd to close,
 * or a negative errno. */
int holders__dup(const struct holder *h, uint64_t cookie);
void holders__free(struct holders *h);

#endif
