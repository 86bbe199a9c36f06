// SPDX-License-Identifier: Apache-2.0
/*
 * The processes of enrolled namespaces, for `workload list`: every pid in
 * the cgroup.procs of each enrolled namespace's cgroups (lib/'s walker),
 * with its identity. The listing also shows processes that have not
 * connected yet, so their evidence is the kernel's exec record from the
 * process table when it matches the process (start time), else the exe
 * as /proc shows it now.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "userspace/daemon/daemon.h"

#define WALK_DEPTH	16
#define LIST_MAX	4096

struct listing {
	struct daemon *d;
	const struct ns *n;
	uint64_t cgroup_id;		/* of the directory being listed */
	struct workload_entry *v;
	size_t len, cap;
};

/* uid, gid and comm from /proc/PID/status; the start time from stat. */
static int proc_status(uint32_t pid, struct nt_evidence *ev,
		       unsigned long long *start)
{
	char path[64], line[256];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%u/status", pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		sscanf(line, "Uid: %u", &ev->uid);
		sscanf(line, "Gid: %u", &ev->gid);
		sscanf(line, "Name: %15s", ev->comm);
	}
	fclose(f);
	snprintf(path, sizeof(path), "/proc/%u/stat", pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	if (fgets(line, sizeof(line), f) && strrchr(line, ')'))
		sscanf(strrchr(line, ')') + 2,
		       "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
		       start);
	fclose(f);
	return 0;
}

/* Evidence for a listed pid: 1 when the exe is the kernel's exec record,
 * 0 when it is /proc's view now, or a negative errno. */
static int pid_evidence(const struct listing *l, uint32_t pid,
			struct nt_evidence *ev)
{
	long tick = sysconf(_SC_CLK_TCK);
	uint64_t ns_per_tick = 1000000000ULL / (tick > 0 ? tick : 100);
	unsigned long long start = 0;
	struct nt_proc proc;
	char path[64];
	struct stat st;
	int ret;

	memset(ev, 0, sizeof(*ev));
	ev->pid = ev->tgid = pid;
	ev->cgroup_id = l->cgroup_id;
	ev->ns_cgroup_id = l->n->cgroup_id;
	ev->mode = l->n->mode;
	ret = proc_status(pid, ev, &start);
	if (ret)
		return ret;
	ev->start_boottime = start * ns_per_tick;
	snprintf(path, sizeof(path), "/proc/%u/ns/net", pid);
	if (!stat(path, &st))
		ev->netns_ino = st.st_ino;
	if (!datapath__proc(l->d->dp, pid, &proc) &&
	    proc.start_boottime / ns_per_tick == start) {
		ev->exe = proc.exe;
		return 1;	/* kernel exec record */
	}
	/* No exec record: the image as /proc shows it now, with no
	 * version, so attestation checks it against the live process. */
	snprintf(path, sizeof(path), "/proc/%u/exe", pid);
	if (stat(path, &st))
		return -errno;
	ev->exe.ino = st.st_ino;
	ev->exe.dev = (major(st.st_dev) << 20) | minor(st.st_dev);
	return 0;
}

static int add_pid(uint32_t pid, void *arg)
{
	struct listing *l = arg;
	struct nt_evidence ev;
	struct nt_err err = {};
	struct workload *w = NULL;
	int src, ret;

	if (l->len >= LIST_MAX)
		return 1;
	src = pid_evidence(l, pid, &ev);
	if (src < 0)
		return 0;	/* gone meanwhile */
	identity__resolve(l->d->identity, &ev, &w, &err);
	if (!w)
		return 0;
	ret = array__grow((void **)&l->v, &l->cap, l->len, sizeof(*l->v),
			  LIST_MAX);
	if (ret) {
		workload__put(w);
		return ret;
	}
	l->v[l->len++] = (struct workload_entry){ .w = w, .from_exec = src };
	return 0;
}

static int list_cgroup(int dfd, uint64_t id, const char *rel, int depth,
		       void *arg)
{
	struct listing *l = arg;

	l->cgroup_id = id;
	return cgroup__procs(dfd, add_pid, l);
}

int workloads__list(struct daemon *d, struct workload_entry **out, size_t *n)
{
	struct listing l = { .d = d };
	struct cgroup_walk w = { .depth_max = WALK_DEPTH, .fn = list_cgroup,
				 .arg = &l };
	size_t i;
	int fd, ret = 0;

	for (i = 0; !ret && i < ns_table__count(d->ns); i++) {
		l.n = ns_table__at(d->ns, i);
		if (l.n->mode == NT_MODE_OFF)
			continue;
		fd = open(l.n->cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd >= 0)
			ret = cgroup__walk(fd, &w);
	}
	if (ret < 0) {
		workloads__free(l.v, l.len);
		return ret;
	}
	*out = l.v;
	*n = l.len;
	return 0;
}

void workloads__free(struct workload_entry *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		workload__put(v[i].w);
	free(v);
}
