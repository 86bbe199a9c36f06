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

/* The evidence of @task, an enrolled one (a BTF pointer: the current
 * task, or a tracepoint's argument). */
static __always_inline void fill_evidence_of(struct nt_evidence *ev,
					     struct task_struct *task,
					     __u64 ns_cgroup,
					     const struct nt_ns_value *ns)
{
	const struct cred *cred = task->cred;
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
	 * task could rewrite. */
	exe = task->mm->exe_file;
	ev->exe_ino = exe->f_inode->i_ino;
	ev->exe_dev = exe->f_inode->i_sb->s_dev;
	ev->netns_ino = task->nsproxy->net_ns->ns.inum;
	ev->start_boottime = task->group_leader->start_boottime;
	bpf_probe_read_kernel(ev->comm, sizeof(ev->comm), task->comm);
}

static __always_inline void fill_evidence(struct nt_evidence *ev, __u64 ns_cgroup,
					  const struct nt_ns_value *ns)
{
	fill_evidence_of(ev, bpf_get_current_task_btf(), ns_cgroup, ns);
}

static __always_inline void emit(__u32 type, __u64 cookie,
				 const struct nt_sock_value *v,
				 const struct nt_addr *src, __u32 info)
{
	struct nt_event *e;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return;	/* full: userspace is behind; the maps still hold it */
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
	bpf_ringbuf_submit(e, 0);
}

#endif
