/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Serving a network namespace before its first connect(): the kernel tells
 * nametagd about every netns an enrolled (permissive or strict) process is
 * in as soon as it is there (exec, fork, cgroup attach), and a strict
 * connect() that still finds no proxy is held rather than refused while
 * nametagd is alive to serve its netns (docs/datapath.md, "Serving a
 * network namespace"). Included by nametag.bpf.c after sock_ev.
 */
#ifndef NAMETAG_SERVE_BPF_H
#define NAMETAG_SERVE_BPF_H

#define ETH_P_IP	0x0800
/* A held SYN is first retried this soon (rather than at the 1 s of
 * TCP_TIMEOUT_INIT): serving a netns takes milliseconds. */
#define NT_HOLD_RTO_MS	25
/* Kernels from 6.4 count a held retry as a SYN retry (tcp_update_rto_stats()
 * before the retransmit): with tcp_syn_retries (6) and
 * tcp_syn_linear_timeouts (4) that ends a held connect() with ETIMEDOUT
 * after about 4.5 s. A held socket gets this many instead: about 30 s of
 * holding at 0.5 s a retry. Once its SYN passes it is answered at once
 * (the proxy, or RST from port 0), so the count never matters again. */
#define NT_HOLD_SYN_RETRIES	60
#define SOL_TCP		6
#define TCP_SYNCNT	7

extern int CONFIG_HZ __kconfig __weak;

/* The daemon that serves network namespaces on demand puts one listening
 * socket of its own here; it leaves with the daemon, so an empty slot
 * means nobody would ever serve a held SYN's netns. */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} server_sock SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, NT_MAX_NETNS);
	__type(key, __u32);			/* netns inode */
	__type(value, struct nt_netns_want);
} netns_want SEC(".maps");

static __always_inline bool server_alive(void)
{
	struct bpf_sock *sk;
	__u32 k = 0;

	sk = bpf_map_lookup_elem(&server_sock, &k);
	if (!sk)
		return false;
	bpf_sk_release(sk);
	return true;
}

static __always_inline bool netns_served(__u32 netns)
{
	struct nt_proxy *p = bpf_map_lookup_elem(&proxies, &netns);

	return p && (p->flags & NT_PROXY_SERVED);
}

/* nametagd said it cannot serve @netns (the limit), not long ago. */
static __always_inline bool netns_refused(__u32 netns)
{
	struct nt_netns_want *w = bpf_map_lookup_elem(&netns_want, &netns);

	return w && w->state == NT_WANT_REFUSED &&
	       bpf_ktime_get_ns() - w->ktime < NT_WANT_REFUSED_NS;
}

/*
 * Asks nametagd to serve the netns of @task, an enrolled process, unless it
 * is served or was asked for within NT_WANT_GAP_NS (a fork storm is one
 * event, not thousands).
 */
static __always_inline void want_netns(struct task_struct *task,
				       const struct nt_ns_value *ns,
				       __u64 ns_cgroup)
{
	struct nt_netns_want w, *old;
	struct nt_sock_value v = {};
	__u32 netns;

	if (ns->mode < NT_MODE_PERMISSIVE)
		return;
	netns = task->nsproxy->net_ns->ns.inum;
	if (!netns || netns_served(netns))
		return;
	/* Field by field: a constant initializer would land in a
	 * .rodata.cst16 section, one more internal map for nothing. */
	w.ktime = bpf_ktime_get_ns();
	w.state = NT_WANT_ASKED;
	w.pad = 0;
	old = bpf_map_lookup_elem(&netns_want, &netns);
	if (old && w.ktime - old->ktime < NT_WANT_GAP_NS)
		return;
	if (old && old->state == NT_WANT_REFUSED &&
	    w.ktime - old->ktime < NT_WANT_REFUSED_NS)
		return;
	bpf_map_update_elem(&netns_want, &netns, &w, BPF_ANY);
	fill_evidence_of(&v.ev, task, ns_cgroup, ns);
	emit(NT_EV_NETNS, 0, &v, NULL, 0);
}

/* The proxy's outbound socket of @kind for @netns is there to take a SYN. */
static __always_inline bool proxy_ready(__u32 netns, __u32 kind)
{
	struct nt_proxy *p = bpf_map_lookup_elem(&proxies, &netns);

	return p && (p->flags & NT_PROXY_SERVED) && proxy_sock_live(p, kind);
}

/*
 * Strict, and no proxy in the netns yet: when nametagd is alive and has not
 * given up on the netns, send the connect to the hold address (its SYN is
 * held below until the proxy is there) and ask for the netns to be served.
 * False: refuse it, and @why says why (enum nt_refusal).
 */
static __always_inline bool hold_connect(struct bpf_sock_addr *ctx,
					 struct nt_sock_value *v, int family,
					 const struct nt_ns_value *ns,
					 __u32 *why)
{
	*why = NT_REFUSE_NO_DAEMON;
	if (!server_alive())
		return false;
	if (netns_refused(v->ev.netns_ino)) {
		*why = NT_REFUSE_NOT_SERVED;
		return false;
	}
	if (family == AF_INET) {
		ctx->user_ip4 = bpf_htonl(NT_HOLD_ADDR4);
	} else if (CTX(ctx)->user_ip6[0] == 0 && CTX(ctx)->user_ip6[1] == 0 &&
		   CTX(ctx)->user_ip6[2] == bpf_htonl(0xffff)) {
		CTX(ctx)->user_ip6[3] = bpf_htonl(NT_HOLD_ADDR4);
	} else {
		CTX(ctx)->user_ip6[0] = 0;
		CTX(ctx)->user_ip6[1] = 0;
		CTX(ctx)->user_ip6[2] = 0;
		CTX(ctx)->user_ip6[3] = bpf_htonl(1);
	}
	ctx->user_port = 0;
	v->flags |= NT_SOCK_REDIRECTED | NT_SOCK_HELD;
	want_netns(bpf_get_current_task_btf(), ns, v->ev.ns_cgroup_id);
	return true;
}

/*
 * The SYN of a held connect(), at every (re)transmission. Returning 2
 * drops it with congestion notification: tcp_connect() does not fail, the
 * retransmit timer sends it again (1 s, then every 0.5 s: a local drop is
 * not counted as a retry). It passes once the proxy is there (the netns's
 * sk_lookup program hands port 0 to the proxy's socket), or once nobody
 * will serve the netns (nametagd gone, or it gave up): port 0 has no
 * listener, the kernel answers RST, the client sees ECONNREFUSED. Every
 * other packet passes untouched.
 */
SEC("cgroup_skb/egress")
int nt_egress(struct __sk_buff *skb)
{
	struct bpf_sock *sk = skb->sk;
	struct nt_sock_value *v;
	__u32 kind;

	if (!sk)
		return 1;
	sk = bpf_sk_fullsock(sk);
	if (!sk || sk->state != BPF_TCP_SYN_SENT)
		return 1;
	v = bpf_sk_storage_get(&sock_ev, sk, NULL, 0);
	if (!v || !(v->flags & NT_SOCK_HELD))
		return 1;
	kind = skb->protocol == bpf_htons(ETH_P_IP) ? NT_PSOCK_OUT4 : NT_PSOCK_OUT6;
	if (proxy_ready(v->ev.netns_ino, kind))
		return 1;
	if (server_alive() && !netns_refused(v->ev.netns_ino))
		return 2;
	return 1;
}

/*
 * sockops BPF_SOCK_OPS_TIMEOUT_INIT, at connect(): the first SYN RTO of a
 * held connect() (tcp_timeout_init() takes the reply, in jiffies); -1
 * leaves every other socket's alone. Later retries of a held SYN come
 * every TCP_RESOURCE_PROBE_INTERVAL (0.5 s): the kernel treats the local
 * drop as congestion, not as a lost SYN, without backing off.
 */
static __always_inline __u32 held_syn_rto(struct bpf_sock_ops *skops)
{
	struct bpf_sock *sk = skops->sk;
	struct nt_sock_value *v;
	__u32 hz = CONFIG_HZ > 0 ? (__u32)CONFIG_HZ : 1000;
	int retries = NT_HOLD_SYN_RETRIES;

	if (!sk)
		return -1;
	v = bpf_sk_storage_get(&sock_ev, sk, NULL, 0);
	if (!v || !(v->flags & NT_SOCK_HELD))
		return -1;
	/* Best effort: a kernel that refuses it holds for its own count. */
	bpf_setsockopt(skops, SOL_TCP, TCP_SYNCNT, &retries, sizeof(retries));
	return (NT_HOLD_RTO_MS * hz + 999) / 1000;
}

/* The namespace of the socket @skb is for, by its cgroup or the nearest
 * enrolled ancestor, as task_namespace() walks a task's. */
static __always_inline struct nt_ns_value *skb_namespace(struct __sk_buff *skb)
{
	struct nt_ns_value *ns;
	__u64 id;

#pragma unroll
	for (int k = NT_MAX_CGROUP_DEPTH; k >= 1; k--) {
		id = bpf_skb_ancestor_cgroup_id(skb, k);
		if (!id)
			continue;	/* deeper than the socket's cgroup */
		ns = bpf_map_lookup_elem(&ns_mode, &id);
		if (ns && ns->mode != NT_MODE_OFF)
			return ns;
	}
	return NULL;
}

/*
 * A SYN for a listener of a strict namespace in a network namespace that is
 * not served: no sk_lookup program there sends it to the proxy, so the
 * listener would take a plaintext caller. That is the moments between a
 * pod's first process and its netns being served (milliseconds; longer
 * while nametagd is stopped or busy), or for good past --max-netns.
 * Dropped: the caller's kernel sends the SYN again (1 s, then backing
 * off), and by then the netns is served and the proxy judges it like any
 * plaintext caller, or it never is and strict refuses. The listener is
 * found by the kernel's socket lookup, so sk is the workload's own; in a
 * served netns, whatever sk_lookup let through passes.
 */
SEC("cgroup_skb/ingress")
int nt_ingress(struct __sk_buff *skb)
{
	struct bpf_sock *sk = skb->sk;
	struct nt_ns_value *ns;
	struct tcp_sock *tp;
	__u32 netns;

	if (!sk)
		return 1;
	sk = bpf_sk_fullsock(sk);
	if (!sk || sk->state != BPF_TCP_LISTEN)
		return 1;
	ns = skb_namespace(skb);
	if (!ns || ns->mode != NT_MODE_STRICT)
		return 1;
	tp = bpf_skc_to_tcp_sock(sk);
	if (!tp)
		return 1;
	netns = BPF_CORE_READ(tp, inet_conn.icsk_inet.sk.__sk_common.skc_net.net,
			      ns.inum);
	if (netns_served(netns))
		return 1;
	stat_inc(NT_STAT_UNSERVED_SYNS);
	return 0;
}

/* A task moved into a cgroup (cgroup.procs, CLONE_INTO_CGROUP does not come
 * here: that is a fork). The tracepoint fires once the move is done. */
SEC("tp_btf/cgroup_attach_task")
int BPF_PROG(nt_attach, struct cgroup *dst_cgrp, const char *path,
	     struct task_struct *task, bool threadgroup)
{
	struct nt_ns_value *ns;
	__u64 ns_cgroup = 0;

	ns = task_namespace(task, &ns_cgroup);
	if (ns)
		want_netns(task, ns, ns_cgroup);
	return 0;
}

#endif
