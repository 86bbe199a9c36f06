/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Who is calling: the enrolled namespace of the current task and the
 * evidence about it, read from the task itself (CO-RE) so every hook can
 * use it. sock_ops programs on Debian's 6.1 have no pid, uid or cgroup
 * helpers, but bpf_get_current_task_btf() works in all of them.
 */
#ifndef NAMETAG_EVIDENCE_BPF_H
#define NAMETAG_EVIDENCE_BPF_H

#include <bpf/bpf_core_read.h>

#include "bpf/maps.bpf.h"

/*
 * The process table: what each enrolled process exec'd, kept by the sched
 * tracepoints (nametag.bpf.c), so evidence names the version of the file
 * that was exec'd, not the one found later, and `workload` can show it. A
 * recycled pid never inherits an old entry: exit deletes it, and the start
 * time in the entry must match.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, NT_MAX_PROCS);
	__type(key, __u32);			/* tgid */
	__type(value, struct nt_proc);
} procs SEC(".maps");

/* The name each image was exec'd by. Not deleted at exit: the evidence of
 * a socket outlives its process, and the daemon may read it after. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, NT_MAX_EXECS);
	__type(key, struct nt_exec_key);
	__type(value, struct nt_exec_name);
} exec_names SEC(".maps");

/* Kernels before 6.6 keep ctime in i_ctime, 6.6 to 6.10 in __i_ctime,
 * later ones split in i_ctime_sec and i_ctime_nsec (whose top bit, from
 * 6.13, says "queried": not part of the time). */
struct inode___i_ctime {
	struct timespec64 i_ctime;
} __attribute__((preserve_access_index));

struct inode___dunder_ctime {
	struct timespec64 __i_ctime;
} __attribute__((preserve_access_index));

#define NT_CTIME_QUERIED	(1u << 31)

static __always_inline void inode_ctime(struct inode *in, struct nt_exe *x)
{
	struct inode___dunder_ctime *d = (void *)in;
	struct inode___i_ctime *o = (void *)in;

	if (bpf_core_field_exists(in->i_ctime_sec)) {
		x->ctime_sec = BPF_CORE_READ(in, i_ctime_sec);
		x->ctime_nsec = BPF_CORE_READ(in, i_ctime_nsec) &
				~NT_CTIME_QUERIED;
	} else if (bpf_core_field_exists(d->__i_ctime)) {
		x->ctime_sec = BPF_CORE_READ(d, __i_ctime.tv_sec);
		x->ctime_nsec = BPF_CORE_READ(d, __i_ctime.tv_nsec);
	} else {
		x->ctime_sec = BPF_CORE_READ(o, i_ctime.tv_sec);
		x->ctime_nsec = BPF_CORE_READ(o, i_ctime.tv_nsec);
	}
}

/* The file @f and its version, as they are now. */
static __always_inline void exe_stamp(struct nt_exe *x, struct file *f)
{
	struct inode *in = BPF_CORE_READ(f, f_inode);

	x->ino = BPF_CORE_READ(in, i_ino);
	x->dev = BPF_CORE_READ(in, i_sb, s_dev);
	x->size = BPF_CORE_READ(in, i_size);
	inode_ctime(in, x);
	x->flags = NT_EXE_VERSION;
}

/* The id of @cg's ancestor at @level. ancestors[] is a flexible array
 * the verifier will not let a BTF pointer index, hence the probe reads. */
static __always_inline __u64 ancestor_id(struct cgroup *cg, int level)
{
	struct cgroup *anc = NULL;

	if (bpf_core_read(&anc, sizeof(anc), &cg->ancestors[level]) || !anc)
		return 0;
	return BPF_CORE_READ(anc, kn, id);
}

/*
 * The namespace of @task: its cgroup or the nearest enrolled ancestor.
 * Level 0 is the cgroup root, never enrolled; a level past the task's own
 * is skipped, never read.
 */
static __always_inline struct nt_ns_value *
task_namespace(struct task_struct *task, __u64 *ns_cgroup)
{
	struct cgroup *cg = task->cgroups->dfl_cgrp;
	struct nt_ns_value *ns;
	int level = cg->level;
	__u64 id;

#pragma unroll
	for (int k = NT_MAX_CGROUP_DEPTH; k >= 1; k--) {
		if (k > level)
			continue;
		id = ancestor_id(cg, k);
		ns = bpf_map_lookup_elem(&ns_mode, &id);
		if (ns && ns->mode != NT_MODE_OFF) {
			*ns_cgroup = id;
			return ns;
		}
	}
	return NULL;
}

static __always_inline struct nt_ns_value *current_namespace(__u64 *ns_cgroup)
{
	return task_namespace(bpf_get_current_task_btf(), ns_cgroup);
}

static __always_inline void fill_evidence(struct nt_evidence *ev, __u64 ns_cgroup,
					  const struct nt_ns_value *ns)
{
	struct task_struct *task = bpf_get_current_task_btf();
	const struct cred *cred = task->cred;
	__u32 tgid = task->tgid;
	struct nt_proc *p;
	struct file *exe;

	ev->pid = task->pid;
	ev->tgid = task->tgid;
	/* The real ids, as bpf_get_current_uid_gid() gives them. */
	ev->uid = cred->uid.val;
	ev->gid = cred->gid.val;
	ev->cgroup_id = task->cgroups->dfl_cgrp->kn->id;
	ev->ns_cgroup_id = ns_cgroup;
	ev->mode = ns->mode;
	ev->ns_id = ns->ns_id;
	/* The image the kernel is running, not argv[0] or /proc text the
	 * task could rewrite: as recorded when it was exec'd, if this is
	 * still that image; else as it is now. */
	exe = task->mm->exe_file;
	exe_stamp(&ev->exe, exe);
	ev->netns_ino = task->nsproxy->net_ns->ns.inum;
	ev->start_boottime = task->group_leader->start_boottime;
	bpf_probe_read_kernel(ev->comm, sizeof(ev->comm), task->comm);
	p = bpf_map_lookup_elem(&procs, &tgid);
	if (p && p->start_boottime == ev->start_boottime &&
	    p->exe.ino == ev->exe.ino && p->exe.dev == ev->exe.dev)
		ev->exe = p->exe;
}

/*
 * Which events the daemon needs at once: refusals (it starts serving the
 * network namespace, so the retry succeeds), listeners (their deliveries)
 * and a connect it could not redirect. A connect in observe mode, or one
 * redirected to the proxy (which learns of it by accept()), only makes a
 * flow record: it waits for the next drain.
 */
static __always_inline bool urgent(__u32 type, const struct nt_sock_value *v)
{
	if (type != NT_EV_CONNECT)
		return true;
	return v->ev.mode != NT_MODE_OBSERVE && !(v->flags & NT_SOCK_REDIRECTED);
}

static __always_inline void emit(__u32 type, __u64 cookie,
				 const struct nt_sock_value *v,
				 const struct nt_addr *src, __u32 info)
{
	struct nt_event *e;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		/* full: userspace is behind; the maps still hold it */
		stat_inc(NT_STAT_EVENTS_LOST);
		return;
	}
	e->type = type;
	e->flags = v->flags;
	e->ktime = bpf_ktime_get_ns();
	e->cookie = cookie;
	e->ev = v->ev;
	if (src)
		e->src = *src;
	else
		__builtin_memset(&e->src, 0, sizeof(e->src));
	e->dst = v->orig_dst;
	e->info = info;
	e->pad = 0;
	bpf_ringbuf_submit(e, events_wake(sizeof(*e), urgent(type, v)));
}

#endif
