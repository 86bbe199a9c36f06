// SPDX-License-Identifier: Apache-2.0
/*
 * Which enrolled process holds which socket. The processes come from the
 * enrolled cgroups' cgroup.procs (the kernel's list, not a name we parse
 * into an id), the sockets from their /proc/PID/fd links ("socket:[N]").
 * A duplicate is taken with pidfd_getfd(2) and checked by cookie, so a
 * recycled pid or fd number never hands over another socket.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lib/ntcore.h"
#include "userspace/datapath/holders.h"

#define HOLDER_PROCS_MAX	65536
#define HOLDERS_MAX		(1 << 18)

#ifndef SYS_pidfd_open
#define SYS_pidfd_open		434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd		438
#endif

struct add {
	struct holders *h;
	uint64_t cgroup_id;
	size_t ns;
};

static int add_proc(uint32_t pid, void *arg)
{
	struct add *a = arg;
	struct holders *h = a->h;
	int ret;

	ret = array__grow((void **)&h->procs, &h->procs_cap, h->nprocs,
			  sizeof(*h->procs), HOLDER_PROCS_MAX);
	if (!ret)
		h->procs[h->nprocs++] = (struct holder_proc){
			.pid = pid, .cgroup_id = a->cgroup_id, .ns = a->ns };
	return ret;
}

int holders__add_procs(struct holders *h, int dfd, uint64_t cgroup_id,
		       size_t ns)
{
	struct add a = { .h = h, .cgroup_id = cgroup_id, .ns = ns };

	return cgroup__procs(dfd, add_proc, &a);
}

/* The socket inodes @p holds. */
static int scan_proc(struct holders *h, const struct holder_proc *p)
{
	char path[64], link[64];
	unsigned int inode;
	struct dirent *de;
	ssize_t len;
	int ret = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%u/fd", p->pid);
	d = opendir(path);
	if (!d)
		return 0;	/* exited */
	while (!ret && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		len = readlinkat(dirfd(d), de->d_name, link, sizeof(link) - 1);
		if (len <= 0)
			continue;
		link[len] = '\0';
		if (sscanf(link, "socket:[%u]", &inode) != 1)
			continue;
		ret = array__grow((void **)&h->v, &h->cap, h->n, sizeof(*h->v),
				  HOLDERS_MAX);
		if (!ret)
			h->v[h->n++] = (struct holder){
				.inode = inode, .fd = atoi(de->d_name), .proc = p };
	}
	closedir(d);
	return ret;
}

static int holder_cmp(const void *a, const void *b)
{
	const struct holder *x = a, *y = b;

	return x->inode < y->inode ? -1 : x->inode > y->inode;
}

int holders__scan(struct holders *h)
{
	size_t i;
	int ret;

	for (i = 0; i < h->nprocs; i++) {
		ret = scan_proc(h, &h->procs[i]);
		if (ret)
			return ret;
	}
	if (h->n)
		qsort(h->v, h->n, sizeof(*h->v), holder_cmp);
	return 0;
}

const struct holder *holders__find(const struct holders *h, uint32_t inode)
{
	struct holder key = { .inode = inode };

	if (!h->n)
		return NULL;
	return bsearch(&key, h->v, h->n, sizeof(*h->v), holder_cmp);
}

int holders__dup(const struct holder *h, uint64_t cookie)
{
	socklen_t len = sizeof(uint64_t);
	uint64_t got = 0;
	int pidfd, fd, ret;

	pidfd = syscall(SYS_pidfd_open, h->proc->pid, 0);
	if (pidfd < 0)
		return -errno;
	fd = syscall(SYS_pidfd_getfd, pidfd, h->fd, 0);
	ret = fd < 0 ? -errno : 0;
	close(pidfd);
	if (ret)
		return ret;
	if (getsockopt(fd, SOL_SOCKET, SO_COOKIE, &got, &len) || got != cookie) {
		close(fd);
		return -ESTALE;
	}
	return fd;
}

void holders__free(struct holders *h)
{
	free(h->procs);
	free(h->v);
	memset(h, 0, sizeof(*h));
}
