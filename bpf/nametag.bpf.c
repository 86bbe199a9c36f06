// SPDX-License-Identifier: GPL-2.0-only
/*
 * nametag's kernel side: who opened which connection, captured in the
 * task's own context at connect()/bind(), plus the redirect plumbing that
 * steers enrolled workloads' TCP to the node proxy.
 *
 * Attached once at the managed cgroup root. Whether a task is enrolled is a
 * map lookup of its cgroup and its ancestors, so enrolling a namespace never
 * reattaches anything.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "bpf/maps.bpf.h"
#include "bpf/nametag.h"

#define AF_INET		2
#define AF_INET6	10
#define SOCK_STREAM	1
#define TCP_CLOSE	7

char LICENSE[] SEC("license") = "GPL";

/*
 * The verifier only accepts ctx loads and stores at a constant offset from
 * the ctx pointer itself; clang likes to keep &ctx->user_ip6 in a register
 * and offset from it. Hiding ctx behind an empty asm before each access
 * makes every access start from ctx again.
 */
#define CTX(ctx) (*({ asm volatile("" : "+r"(ctx)); &(ctx); }))

/* Set by the daemon before load. */
const volatile __u32 proxy_mark = NT_PROXY_MARK_DEFAULT;

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, NT_MAX_SOCKETS);
	__type(key, __u64);			/* socket cookie */
	__type(value, struct nt_sock_value);
} sock_by_cookie SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, NT_MAX_SOCKETS);
	__type(key, struct nt_tuple);
	__type(value, struct nt_sock_value);
} sock_by_tuple SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, NT_EVENTS_BYTES);
} events SEC(".maps");

/*
 * The enrolled namespace of the current task: its cgroup or the nearest
 * enrolled ancestor. Level 0 is the cgroup root, which is never enrolled;
 * an ancestor id of 0 means we went past the task's own level.
 */
static __always_inline struct nt_ns_value *current_namespace(__u64 *ns_cgroup)
{
	struct nt_ns_value *ns;
	__u64 id;
	int level;

	for (level = NT_MAX_CGROUP_DEPTH; level >= 1; level--) {
		id = bpf_get_current_ancestor_cgroup_id(level);
		if (!id)
			continue;
		ns = bpf_map_lookup_elem(&ns_mode, &id);
		if (ns && ns->mode != NT_MODE_OFF) {
			*ns_cgroup = id;
			return ns;
		}
	}
	return NULL;
}

static __always_inline void fill_evidence(struct nt_evidence *ev, __u64 ns_cgroup,
					  const struct nt_ns_value *ns)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 uid_gid = bpf_get_current_uid_gid();
	struct file *exe;

	ev->pid = (__u32)pid_tgid;
	ev->tgid = pid_tgid >> 32;
	ev->uid = (__u32)uid_gid;
	ev->gid = uid_gid >> 32;
	ev->cgroup_id = bpf_get_current_cgroup_id();
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
	bpf_get_current_comm(ev->comm, sizeof(ev->comm));
}

/*
 * @family is a constant from the SEC() wrapper, so each program reads only
 * the ctx fields of its own family: the verifier refuses ctx loads through a
 * pointer the compiler offset to share code between branches.
 */
static __always_inline void addr_from_ctx(struct nt_addr *a,
					  const struct bpf_sock_addr *ctx,
					  int family)
{
	a->family = family;
	a->port = bpf_ntohs(ctx->user_port);
	if (family == AF_INET) {
		/* IPv4-mapped IPv6: ::ffff:a.b.c.d */
		a->addr[0] = 0;
		a->addr[1] = 0;
		a->addr[2] = bpf_htonl(0xffff);
		a->addr[3] = ctx->user_ip4;
	} else {
		a->addr[0] = CTX(ctx)->user_ip6[0];
		a->addr[1] = CTX(ctx)->user_ip6[1];
		a->addr[2] = CTX(ctx)->user_ip6[2];
		a->addr[3] = CTX(ctx)->user_ip6[3];
	}
}

static __always_inline void emit(__u32 type, __u64 cookie,
				 const struct nt_sock_value *v,
				 const struct nt_addr *src)
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
	bpf_ringbuf_submit(e, 0);
}

/*
 * Rewrite the destination to this network namespace's node proxy. Returns
 * false when there is no proxy to go to.
 */
static __always_inline bool redirect_to_proxy(struct bpf_sock_addr *ctx,
					      const struct nt_sock_value *v,
					      int family)
{
	struct nt_proxy *p;
	__u32 netns = v->ev.netns_ino;

	p = bpf_map_lookup_elem(&proxies, &netns);
	if (!p)
		return false;
	if (family == AF_INET) {
		if (!p->outbound4.port)
			return false;
		ctx->user_ip4 = p->outbound4.addr[3];
		ctx->user_port = bpf_htons(p->outbound4.port);
		return true;
	}
	if (p->outbound4.port && CTX(ctx)->user_ip6[0] == 0 &&
	    CTX(ctx)->user_ip6[1] == 0 &&
	    CTX(ctx)->user_ip6[2] == bpf_htonl(0xffff)) {
		/* A dual-stack socket dialling IPv4. */
		CTX(ctx)->user_ip6[3] = p->outbound4.addr[3];
		ctx->user_port = bpf_htons(p->outbound4.port);
		return true;
	}
	if (!p->outbound6.port)
		return false;
	CTX(ctx)->user_ip6[0] = p->outbound6.addr[0];
	CTX(ctx)->user_ip6[1] = p->outbound6.addr[1];
	CTX(ctx)->user_ip6[2] = p->outbound6.addr[2];
	CTX(ctx)->user_ip6[3] = p->outbound6.addr[3];
	ctx->user_port = bpf_htons(p->outbound6.port);
	return true;
}

static __always_inline bool is_proxy_socket(const struct bpf_sock_addr *ctx)
{
	struct bpf_sock *sk = ctx->sk;

	return sk && sk->mark == proxy_mark;
}

static __always_inline int handle_connect(struct bpf_sock_addr *ctx, int family)
{
	struct nt_sock_value v = {};
	struct nt_ns_value *ns;
	__u64 ns_cgroup = 0, cookie;

	/* TCP only: UDP is out of scope (docs/datapath.md). */
	if (ctx->type != SOCK_STREAM)
		return 1;
	ns = current_namespace(&ns_cgroup);
	if (!ns || is_proxy_socket(ctx))
		return 1;
	fill_evidence(&v.ev, ns_cgroup, ns);
	addr_from_ctx(&v.orig_dst, ctx, family);
	v.ktime = bpf_ktime_get_ns();
	cookie = bpf_get_socket_cookie(ctx);
	if (ns->mode >= NT_MODE_PERMISSIVE) {
		if (redirect_to_proxy(ctx, &v, family)) {
			v.flags |= NT_SOCK_REDIRECTED;
		} else if (ns->mode == NT_MODE_STRICT) {
			/* Fail closed: no proxy, no plaintext. */
			emit(NT_EV_REFUSED, cookie, &v, NULL);
			return 0;
		}
	}
	bpf_map_update_elem(&sock_by_cookie, &cookie, &v, BPF_ANY);
	return 1;
}

SEC("cgroup/connect4")
int nt_connect4(struct bpf_sock_addr *ctx)
{
	return handle_connect(ctx, AF_INET);
}

SEC("cgroup/connect6")
int nt_connect6(struct bpf_sock_addr *ctx)
{
	return handle_connect(ctx, AF_INET6);
}

/* bind(): remember who owns a would-be listener; listen() publishes it. */
static __always_inline int handle_bind(struct bpf_sock_addr *ctx, int family)
{
	struct nt_sock_value v = {};
	struct nt_ns_value *ns;
	__u64 ns_cgroup = 0, cookie;

	if (ctx->type != SOCK_STREAM)
		return 1;
	ns = current_namespace(&ns_cgroup);
	if (!ns || is_proxy_socket(ctx))
		return 1;
	fill_evidence(&v.ev, ns_cgroup, ns);
	addr_from_ctx(&v.orig_dst, ctx, family);
	v.flags = NT_SOCK_LISTENER;
	v.ktime = bpf_ktime_get_ns();
	cookie = bpf_get_socket_cookie(ctx);
	bpf_map_update_elem(&sock_by_cookie, &cookie, &v, BPF_ANY);
	return 1;
}

SEC("cgroup/bind4")
int nt_bind4(struct bpf_sock_addr *ctx)
{
	return handle_bind(ctx, AF_INET);
}

SEC("cgroup/bind6")
int nt_bind6(struct bpf_sock_addr *ctx)
{
	return handle_bind(ctx, AF_INET6);
}

/*
 * Every ctx field is read before any branch: clang would otherwise merge
 * the IPv4 and IPv6 arms into one load at a computed offset, which the
 * verifier refuses.
 */
static __always_inline void tuple_from_ops(struct nt_tuple *t,
					   struct bpf_sock_ops *skops)
{
	__u32 family = CTX(skops)->family;
	__u32 lport = CTX(skops)->local_port;	/* host order */
	__u32 rport = CTX(skops)->remote_port;	/* network order, high half */
	__u32 l4 = CTX(skops)->local_ip4, r4 = CTX(skops)->remote_ip4;
	__u32 l6[4], r6[4];
	int i;

	l6[0] = CTX(skops)->local_ip6[0];
	l6[1] = CTX(skops)->local_ip6[1];
	l6[2] = CTX(skops)->local_ip6[2];
	l6[3] = CTX(skops)->local_ip6[3];
	r6[0] = CTX(skops)->remote_ip6[0];
	r6[1] = CTX(skops)->remote_ip6[1];
	r6[2] = CTX(skops)->remote_ip6[2];
	r6[3] = CTX(skops)->remote_ip6[3];
	if (family == AF_INET) {
		l6[0] = l6[1] = r6[0] = r6[1] = 0;
		l6[2] = r6[2] = bpf_htonl(0xffff);
		l6[3] = l4;
		r6[3] = r4;
	} else if (r6[0] == 0 && r6[1] == 0 && r6[2] == bpf_htonl(0xffff)) {
		/* A dual-stack socket talking IPv4: its peer (the proxy's
		 * IPv4 listener) sees an AF_INET connection, so key it as
		 * one; the addresses are already IPv4-mapped. */
		family = AF_INET;
	}
	t->src.family = family;
	t->dst.family = family;
	t->src.port = lport;
	/* sock_ops keeps the network-order port in the upper half on
	 * little-endian: ntohl of the whole word is the port. */
	t->dst.port = bpf_ntohl(rport);
	for (i = 0; i < 4; i++) {
		t->src.addr[i] = l6[i];
		t->dst.addr[i] = r6[i];
	}
}

/*
 * An enrolled connect() is about to send its SYN: both ends are known now,
 * so publish the evidence under the 4-tuple the proxy will see on accept.
 */
static __always_inline void on_connect(struct bpf_sock_ops *skops)
{
	struct nt_sock_value *v;
	struct nt_tuple t = {};
	__u64 cookie = bpf_get_socket_cookie(skops);

	v = bpf_map_lookup_elem(&sock_by_cookie, &cookie);
	if (!v)
		return;
	tuple_from_ops(&t, skops);
	bpf_map_update_elem(&sock_by_tuple, &t, v, BPF_ANY);
	bpf_sock_ops_cb_flags_set(skops, BPF_SOCK_OPS_STATE_CB_FLAG);
	emit(NT_EV_CONNECT, cookie, v, &t.src);
}

static __always_inline void on_listen(struct bpf_sock_ops *skops)
{
	struct nt_port_key key = {};
	struct nt_sock_value *v;
	__u64 cookie = bpf_get_socket_cookie(skops);

	v = bpf_map_lookup_elem(&sock_by_cookie, &cookie);
	if (!v)
		return;
	key.netns_ino = v->ev.netns_ino;
	key.port = skops->local_port;
	bpf_map_update_elem(&inbound_ports, &key, v, BPF_ANY);
	bpf_sock_ops_cb_flags_set(skops, BPF_SOCK_OPS_STATE_CB_FLAG);
	emit(NT_EV_LISTEN, cookie, v, NULL);
}

/* Forget a socket when it closes, so a reused port or tuple never inherits
 * another process's evidence. */
static __always_inline void on_close(struct bpf_sock_ops *skops)
{
	struct nt_port_key key = {};
	struct nt_sock_value *v, *owner;
	struct nt_tuple t = {};
	__u64 cookie = bpf_get_socket_cookie(skops);

	v = bpf_map_lookup_elem(&sock_by_cookie, &cookie);
	if (!v)
		return;
	if (v->flags & NT_SOCK_LISTENER) {
		key.netns_ino = v->ev.netns_ino;
		key.port = skops->local_port;
		owner = bpf_map_lookup_elem(&inbound_ports, &key);
		if (owner && owner->ktime == v->ktime &&
		    owner->ev.tgid == v->ev.tgid)
			bpf_map_delete_elem(&inbound_ports, &key);
	} else {
		tuple_from_ops(&t, skops);
		bpf_map_delete_elem(&sock_by_tuple, &t);
	}
	bpf_map_delete_elem(&sock_by_cookie, &cookie);
}

SEC("sockops")
int nt_sockops(struct bpf_sock_ops *skops)
{
	switch (skops->op) {
	case BPF_SOCK_OPS_TCP_CONNECT_CB:
		on_connect(skops);
		break;
	case BPF_SOCK_OPS_TCP_LISTEN_CB:
		on_listen(skops);
		break;
	case BPF_SOCK_OPS_STATE_CB:
		if (skops->args[1] == TCP_CLOSE)
			on_close(skops);
		break;
	}
	return 1;
}

/*
 * The process table: what each enrolled process exec'd, kept by the sched
 * tracepoints, so `workload` can show a process's kernel-recorded image and
 * a recycled pid never inherits an old entry (exit deletes it, and the start
 * time in the entry must match).
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, NT_MAX_PROCS);
	__type(key, __u32);			/* tgid */
	__type(value, struct nt_proc);
} procs SEC(".maps");

static __always_inline void proc_from_task(struct nt_proc *p,
					   struct task_struct *task,
					   struct file *exe)
{
	p->start_boottime = task->group_leader->start_boottime;
	p->exe_ino = exe->f_inode->i_ino;
	p->exe_dev = exe->f_inode->i_sb->s_dev;
	p->ppid = task->real_parent->tgid;
	p->exec_ktime = bpf_ktime_get_ns();
	p->cgroup_id = bpf_get_current_cgroup_id();
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(nt_exec, struct task_struct *task, pid_t old_pid,
	     struct linux_binprm *bprm)
{
	struct nt_proc p = {};
	__u64 ns_cgroup;
	__u32 tgid = task->tgid;

	if (!current_namespace(&ns_cgroup))
		return 0;
	proc_from_task(&p, task, bprm->file);
	bpf_map_update_elem(&procs, &tgid, &p, BPF_ANY);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(nt_fork, struct task_struct *parent, struct task_struct *child)
{
	struct nt_proc *pp, p;
	__u32 ptgid = parent->tgid, ctgid = child->tgid;

	/* A new thread is not a new process. */
	if (child->pid != child->tgid)
		return 0;
	pp = bpf_map_lookup_elem(&procs, &ptgid);
	if (!pp)
		return 0;
	p = *pp;
	p.start_boottime = child->start_boottime;
	p.ppid = ptgid;
	bpf_map_update_elem(&procs, &ctgid, &p, BPF_ANY);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(nt_exit, struct task_struct *task)
{
	__u32 tgid = task->tgid;

	if (task->pid == task->tgid)
		bpf_map_delete_elem(&procs, &tgid);
	return 0;
}
