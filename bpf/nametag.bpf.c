// SPDX-License-Identifier: GPL-2.0-only
/*
 * nametag's kernel side: who opened which connection, captured in the
 * task's own context at connect()/listen(), the redirect that steers
 * enrolled workloads' TCP to the node proxy, and in strict mode the
 * refusal of every other way out (raw and packet sockets, datagrams to
 * destinations no egress rule allows).
 *
 * Attached once at the managed cgroup root. Whether a task is enrolled is a
 * map lookup of its cgroup and its ancestors, so enrolling a namespace never
 * reattaches anything. The listener records are in bpf/listen.bpf.h.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "bpf/evidence.bpf.h"
#include "bpf/listeners.bpf.h"
#include "bpf/maps.bpf.h"
#include "bpf/nametag.h"

#define AF_UNIX		1
#define AF_INET		2
#define AF_INET6	10
#define AF_NETLINK	16
#define AF_ALG		38
#define SOCK_STREAM	1
#define SOCK_DGRAM	2
#define IPPROTO_TCP	6
#define IPPROTO_UDP	17
#define IPPROTO_MPTCP	262
#define TCP_SYN_SENT	2
#define TCP_CLOSE	7
#define SIGKILL		9

char LICENSE[] SEC("license") = "GPL";

/*
 * The verifier only accepts ctx loads and stores at a constant offset from
 * the ctx pointer itself; clang likes to keep &ctx->user_ip6 in a register
 * and offset from it. Hiding ctx behind an empty asm before each access
 * makes every access start from ctx again.
 */
#define CTX(ctx) (*({ asm volatile("" : "+r"(ctx)); &(ctx); }))

/* Who opened each enrolled socket; freed with the socket, so a socket that
 * only binds, or never connects, leaves nothing behind. */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct nt_sock_value);
} sock_ev SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, NT_MAX_SOCKETS);
	__type(key, struct nt_tuple);
	__type(value, struct nt_sock_value);
} sock_by_tuple SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, NT_MAX_EGRESS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct nt_egress_key);
	__type(value, __u32);			/* the rule's index */
} egress SEC(".maps");

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

static __always_inline bool addr_is_loopback(const __u32 *a)
{
	if (addr_is_v4(a))
		return (bpf_ntohl(a[3]) >> 24) == 127;
	return a[0] == 0 && a[1] == 0 && a[2] == 0 && a[3] == bpf_htonl(1);
}

/* ---- outbound TCP: the redirect ----------------------------------------- */

/* Is the node proxy's @kind socket of this namespace alive? The sockmap
 * drops a socket the moment it closes, so a dead daemon reads "no". */
static __always_inline bool proxy_sock_live(const struct nt_proxy *p, __u32 kind)
{
	__u32 k = p->slot * NT_PSOCK_MAX + kind;
	struct bpf_sock *sk;

	sk = bpf_map_lookup_elem(&proxy_socks, &k);
	if (!sk)
		return false;
	bpf_sk_release(sk);
	return true;
}

/*
 * Rewrite the destination to this network namespace's node proxy. Returns
 * false when there is no live proxy to go to. The target address is only
 * a name: the namespace's sk_lookup program hands the SYN to the proxy's
 * own socket, whoever else binds that port.
 */
static __always_inline bool redirect_to_proxy(struct bpf_sock_addr *ctx,
					      __u32 netns, int family,
					      __u32 *gen)
{
	struct nt_proxy *p;

	p = bpf_map_lookup_elem(&proxies, &netns);
	if (!p)
		return false;
	*gen = p->gen;
	if (family == AF_INET) {
		if (!p->outbound4.port || !proxy_sock_live(p, NT_PSOCK_OUT4))
			return false;
		ctx->user_ip4 = p->outbound4.addr[3];
		ctx->user_port = bpf_htons(p->outbound4.port);
		return true;
	}
	if (CTX(ctx)->user_ip6[0] == 0 && CTX(ctx)->user_ip6[1] == 0 &&
	    CTX(ctx)->user_ip6[2] == bpf_htonl(0xffff)) {
		/* A dual-stack socket dialling IPv4. */
		if (!p->outbound4.port || !proxy_sock_live(p, NT_PSOCK_OUT4))
			return false;
		CTX(ctx)->user_ip6[3] = p->outbound4.addr[3];
		ctx->user_port = bpf_htons(p->outbound4.port);
		return true;
	}
	if (!p->outbound6.port || !proxy_sock_live(p, NT_PSOCK_OUT6))
		return false;
	CTX(ctx)->user_ip6[0] = p->outbound6.addr[0];
	CTX(ctx)->user_ip6[1] = p->outbound6.addr[1];
	CTX(ctx)->user_ip6[2] = p->outbound6.addr[2];
	CTX(ctx)->user_ip6[3] = p->outbound6.addr[3];
	ctx->user_port = bpf_htons(p->outbound6.port);
	return true;
}

static __always_inline int tcp_connect(struct bpf_sock_addr *ctx, int family,
				       struct nt_ns_value *ns, __u64 ns_cgroup)
{
	struct nt_sock_value *v;
	__u64 cookie = bpf_get_socket_cookie(ctx);

	v = bpf_sk_storage_get(&sock_ev, ctx->sk, NULL,
			       BPF_SK_STORAGE_GET_F_CREATE);
	if (!v)	/* no memory for the evidence: no proxy would serve it */
		return ns->mode == NT_MODE_STRICT ? 0 : 1;
	__builtin_memset(v, 0, sizeof(*v));
	fill_evidence(&v->ev, ns_cgroup, ns);
	addr_from_ctx(&v->orig_dst, ctx, family);
	v->ktime = bpf_ktime_get_ns();
	if (ns->mode >= NT_MODE_PERMISSIVE) {
		if (redirect_to_proxy(ctx, v->ev.netns_ino, family,
				      &v->proxy_gen)) {
			v->flags |= NT_SOCK_REDIRECTED;
		} else if (ns->mode == NT_MODE_STRICT) {
			/* Fail closed: no proxy, no plaintext. */
			emit(NT_EV_REFUSED, cookie, v, NULL, 0);
			return 0;
		}
	}
	return 1;
}

/* ---- datagrams: strict lets them out only where egress allows --------- */

static __always_inline bool egress_allowed(__u32 ns_id, const struct nt_addr *dst)
{
	struct nt_egress_key k = {
		.prefixlen = NT_EGRESS_KEY_BITS + 128,
		.ns_id = ns_id,
		.port = dst->port,
	};

	__builtin_memcpy(k.addr, dst->addr, sizeof(k.addr));
	if (bpf_map_lookup_elem(&egress, &k))
		return true;
	k.port = 0;	/* a rule for every port */
	return bpf_map_lookup_elem(&egress, &k) != NULL;
}

/* connect() and sendmsg() of a datagram socket: 1 lets it go. Loopback
 * never leaves the network namespace. */
static __always_inline int datagram_out(struct bpf_sock_addr *ctx, int family,
					struct nt_ns_value *ns, __u64 ns_cgroup)
{
	struct nt_sock_value v = {};

	if (ns->mode != NT_MODE_STRICT)
		return 1;
	addr_from_ctx(&v.orig_dst, ctx, family);
	if (addr_is_loopback(v.orig_dst.addr) ||
	    egress_allowed(ns->ns_id, &v.orig_dst))
		return 1;
	fill_evidence(&v.ev, ns_cgroup, ns);
	emit(NT_EV_UDP_REFUSED, bpf_get_socket_cookie(ctx), &v, NULL,
	     ctx->protocol);
	return 0;
}

static __always_inline int handle_connect(struct bpf_sock_addr *ctx, int family)
{
	struct nt_ns_value *ns;
	__u64 ns_cgroup = 0;
	__u32 type = ctx->type;

	ns = current_namespace(&ns_cgroup);
	if (!ns)
		return 1;
	if (type == SOCK_STREAM)
		return tcp_connect(ctx, family, ns, ns_cgroup);
	return datagram_out(ctx, family, ns, ns_cgroup);
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

/* sendto()/sendmsg() with an address: unconnected datagrams. */
static __always_inline int handle_sendmsg(struct bpf_sock_addr *ctx, int family)
{
	struct nt_ns_value *ns;
	__u64 ns_cgroup = 0;

	ns = current_namespace(&ns_cgroup);
	if (!ns)
		return 1;
	return datagram_out(ctx, family, ns, ns_cgroup);
}

SEC("cgroup/sendmsg4")
int nt_sendmsg4(struct bpf_sock_addr *ctx)
{
	return handle_sendmsg(ctx, AF_INET);
}

SEC("cgroup/sendmsg6")
int nt_sendmsg6(struct bpf_sock_addr *ctx)
{
	return handle_sendmsg(ctx, AF_INET6);
}

/* ---- socket(): in strict, only what the proxy or egress rules judge ---- */

static __always_inline bool inet_kind_allowed(__u32 type, __u32 protocol)
{
	if (type == SOCK_STREAM)
		return protocol == 0 || protocol == IPPROTO_TCP ||
		       protocol == IPPROTO_MPTCP;
	if (type == SOCK_DGRAM)
		return protocol == 0 || protocol == IPPROTO_UDP;
	return false;	/* raw, seqpacket (SCTP), ... */
}

static __always_inline __u32 socket_info(__u32 family, __u32 type, __u32 protocol)
{
	return family << 16 | (type & 0xff) << 8 | (protocol & 0xff);
}

static __always_inline void emit_socket(__u32 type, __u32 info,
					struct nt_ns_value *ns, __u64 ns_cgroup)
{
	struct nt_sock_value v = {};

	fill_evidence(&v.ev, ns_cgroup, ns);
	emit(type, 0, &v, NULL, info);
}

/* AF_INET and AF_INET6 sockets, at creation: raw, ICMP and SCTP sockets
 * would carry bytes past the proxy. */
SEC("cgroup/sock_create")
int nt_sock_create(struct bpf_sock *sk)
{
	__u32 type = sk->type, protocol = sk->protocol;
	struct nt_ns_value *ns;
	__u64 ns_cgroup = 0;

	if (inet_kind_allowed(type, protocol))
		return 1;
	ns = current_namespace(&ns_cgroup);
	if (!ns || ns->mode != NT_MODE_STRICT)
		return 1;
	emit_socket(NT_EV_SOCKET_REFUSED,
		    socket_info(sk->family, type, protocol), ns, ns_cgroup);
	return 0;
}

/*
 * Families whose sockets never pass the inet hooks: an AF_PACKET socket
 * sends frames no cgroup program sees. No cgroup hook can refuse them, so
 * in strict mode the caller is killed before socket() returns
 * (docs/datapath.md says what that does and does not cover).
 */
static __always_inline bool family_allowed(__u32 family)
{
	return family == AF_UNIX || family == AF_INET || family == AF_INET6 ||
	       family == AF_NETLINK || family == AF_ALG;
}

SEC("tracepoint/syscalls/sys_enter_socket")
int nt_sys_socket(struct trace_event_raw_sys_enter *ctx)
{
	__u32 family = (__u32)ctx->args[0], type = (__u32)ctx->args[1];
	struct nt_ns_value *ns;
	__u64 ns_cgroup = 0;

	if (family_allowed(family))
		return 0;
	ns = current_namespace(&ns_cgroup);
	if (!ns || ns->mode != NT_MODE_STRICT)
		return 0;
	bpf_send_signal(SIGKILL);
	emit_socket(NT_EV_SOCKET_KILLED,
		    socket_info(family, type, (__u32)ctx->args[2]), ns, ns_cgroup);
	return 0;
}

/* ---- sockops: connections and listeners -------------------------------- */

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
	struct bpf_sock *sk = skops->sk;
	struct nt_sock_value *v;
	struct nt_tuple t = {};

	if (!sk)
		return;
	tuple_from_ops(&t, skops);
	v = bpf_sk_storage_get(&sock_ev, sk, NULL, 0);
	if (!v) {
		/* Not enrolled: whatever an earlier connection left under
		 * this tuple is not this one's evidence. */
		bpf_map_delete_elem(&sock_by_tuple, &t);
		return;
	}
	bpf_map_update_elem(&sock_by_tuple, &t, v, BPF_ANY);
	bpf_sock_ops_cb_flags_set(skops, BPF_SOCK_OPS_STATE_CB_FLAG);
	emit(NT_EV_CONNECT, bpf_get_socket_cookie(skops), v, &t.src, 0);
}

#include "bpf/listen.bpf.h"

/*
 * A socket closes. A connection that never got established is forgotten,
 * so a reused port or tuple never inherits another process's evidence.
 * One that did may still wait in the proxy's accept queue (a short-lived
 * client sends, closes and exits before nametagd looks): its evidence
 * stays, marked closed, until the proxy takes it. The tuple cannot carry
 * another connection meanwhile: the proxy's end of it still exists.
 */
static __always_inline void on_close(struct bpf_sock_ops *skops)
{
	struct bpf_sock *sk = skops->sk;
	struct nt_sock_value *v, *e;
	struct nt_tuple t = {};

	if (!sk)
		return;
	v = bpf_sk_storage_get(&sock_ev, sk, NULL, 0);
	if (!v)
		return;
	if (v->flags & NT_SOCK_LISTENER) {
		listener_del(v, bpf_get_socket_cookie(skops));
	} else {
		tuple_from_ops(&t, skops);
		e = bpf_map_lookup_elem(&sock_by_tuple, &t);
		if (skops->args[0] == TCP_SYN_SENT || !e ||
		    !(e->flags & NT_SOCK_REDIRECTED))
			bpf_map_delete_elem(&sock_by_tuple, &t);
		else
			e->flags |= NT_SOCK_CLOSED;
	}
	bpf_sk_storage_delete(&sock_ev, sk);
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

/* ---- the process table: what each enrolled process exec'd ------------- */

static __always_inline void proc_from_task(struct nt_proc *p,
					   struct task_struct *task,
					   struct file *exe)
{
	p->start_boottime = task->group_leader->start_boottime;
	p->ppid = task->real_parent->tgid;
	p->cgroup_id = bpf_get_current_cgroup_id();
	exe_stamp(&p->exe, exe);
	p->exe.exec_ktime = bpf_ktime_get_ns();
	p->exe.exec_tgid = task->tgid;
	p->exe.flags |= NT_EXE_AT_EXEC;
}

/* The name the file was exec'd by: bprm->interp, which for a script is
 * its interpreter's (the file the kernel runs), else the filename given. */
static __always_inline void record_name(struct nt_proc *p,
					struct linux_binprm *bprm)
{
	struct nt_exec_key k = { .tgid = p->exe.exec_tgid,
				 .ktime = p->exe.exec_ktime };
	static const struct nt_exec_name zero;
	struct nt_exec_name *n;

	if (bpf_map_update_elem(&exec_names, &k, &zero, BPF_ANY))
		return;
	n = bpf_map_lookup_elem(&exec_names, &k);
	if (n && bpf_probe_read_kernel_str(n->path, sizeof(n->path),
					   BPF_CORE_READ(bprm, interp)) > 0)
		p->exe.flags |= NT_EXE_NAMED;
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
	record_name(&p, bprm);
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
	/* Same image, same exec record (and name). */
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
