// SPDX-License-Identifier: GPL-2.0-only
/*
 * Who gets a TCP SYN in a network namespace nametag serves, one instance
 * per namespace (an sk_lookup program cannot ask which namespace it runs
 * in, so the daemon loads this small object once per namespace with that
 * namespace's inode in rodata, sharing the maps of the main object). In
 * the order checked:
 *
 *   1. the redirect target (127.0.0.1:15001, [::1]:15001) and the mesh
 *      port go to the node proxy's own sockets, never to whoever else
 *      binds those ports; with the proxy gone the SYN is refused;
 *   2. a delivery the proxy announced (a ticket) goes to exactly the
 *      listening socket it judged, bypassing SO_REUSEPORT selection;
 *      other loopback traffic is the pod's own and passes;
 *   3. a SYN for an enrolled listener, in permissive or strict, goes to
 *      the proxy's inbound socket, which speaks plaintext's verdict; in
 *      strict with no proxy it is refused and reported; in observe it
 *      passes untouched and is reported, so the daemon can say what
 *      strict would do with it (the listener's identity is known here);
 *   4. no record: passes, unless the namespace's listener table
 *      overflowed, when strict's promise can no longer be checked and
 *      every unrecorded SYN is refused.
 *
 * A refused SYN (SK_DROP) makes the kernel answer RST: the client sees
 * ECONNREFUSED at once, never a timeout.
 */
#include "vmlinux.h"
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "bpf/listeners.bpf.h"
#include "bpf/maps.bpf.h"
#include "bpf/nametag.h"

#define IPPROTO_TCP 6
#define AF_INET 2

char LICENSE[] SEC("license") = "GPL";

const volatile __u32 netns_ino;

/* Both ends of the SYN, IPv4 as IPv4-mapped. Every ctx field is read
 * before branching (see CTX in nametag.bpf.c). */
struct ends {
	__u32 local[4], remote[4];
	__u16 lport, rport;		/* host order */
	bool v4;
};

static __always_inline void read_ends(struct ends *e, const struct bpf_sk_lookup *ctx)
{
	__u32 l4 = ctx->local_ip4, r4 = ctx->remote_ip4;

	e->v4 = ctx->family == AF_INET;
	e->lport = ctx->local_port;
	e->rport = bpf_ntohs(ctx->remote_port);
	if (e->v4) {
		e->local[0] = e->local[1] = e->remote[0] = e->remote[1] = 0;
		e->local[2] = e->remote[2] = bpf_htonl(0xffff);
		e->local[3] = l4;
		e->remote[3] = r4;
		return;
	}
	e->local[0] = ctx->local_ip6[0];
	e->local[1] = ctx->local_ip6[1];
	e->local[2] = ctx->local_ip6[2];
	e->local[3] = ctx->local_ip6[3];
	e->remote[0] = ctx->remote_ip6[0];
	e->remote[1] = ctx->remote_ip6[1];
	e->remote[2] = ctx->remote_ip6[2];
	e->remote[3] = ctx->remote_ip6[3];
}

/*
 * Loopback sources are the pod's own: the kernel drops 127/8 arriving
 * from a real device, so no remote peer can use this door; a local process
 * of the same network namespace can, which is the namespace's own trust
 * boundary (a pod's localhost). Enrolled local callers go through the
 * outbound proxy anyway.
 */
static __always_inline bool from_loopback(const struct ends *e)
{
	if (e->v4)
		return (bpf_ntohl(e->remote[3]) >> 24) == 127;
	return e->remote[0] == 0 && e->remote[1] == 0 && e->remote[2] == 0 &&
	       e->remote[3] == bpf_htonl(1);
}

static __always_inline bool same_addr(const __u32 *a, const struct nt_addr *b)
{
	return a[0] == b->addr[0] && a[1] == b->addr[1] &&
	       a[2] == b->addr[2] && a[3] == b->addr[3];
}

/* 0, or a negative errno when the proxy's @kind socket is not there. */
static __always_inline long assign_proxy(struct bpf_sk_lookup *ctx,
					 const struct nt_proxy *p, __u32 kind)
{
	__u32 k = p->slot * NT_PSOCK_MAX + kind;
	struct bpf_sock *sk;
	long err;

	sk = bpf_map_lookup_elem(&proxy_socks, &k);
	if (!sk)
		return -2;	/* ENOENT */
	err = bpf_sk_assign(ctx, sk, 0);
	bpf_sk_release(sk);
	return err;
}

/* 1: the proxy's own addresses; -1 when @e is not for them. */
static __always_inline int to_proxy(struct bpf_sk_lookup *ctx,
				    const struct nt_proxy *p, const struct ends *e)
{
	__u32 kind;

	if (e->v4 && p->outbound4.port && e->lport == p->outbound4.port &&
	    same_addr(e->local, &p->outbound4))
		kind = NT_PSOCK_OUT4;
	else if (!e->v4 && p->outbound6.port && e->lport == p->outbound6.port &&
		 same_addr(e->local, &p->outbound6))
		kind = NT_PSOCK_OUT6;
	else if (p->mesh_port && e->lport == p->mesh_port &&
		 (p->flags & NT_PROXY_SERVED))
		kind = NT_PSOCK_NET;
	else
		return -1;
	return assign_proxy(ctx, p, kind) ? SK_DROP : SK_PASS;
}

/* 2: a delivery the proxy announced; -1 when there is none. */
static __always_inline int ticketed(struct bpf_sk_lookup *ctx,
				    const struct ends *e)
{
	struct nt_ticket_key k = {
		.netns_ino = netns_ino, .sport = e->rport, .dport = e->lport,
	};
	struct bpf_sock *sk;
	__u64 *cookie;
	long err;

	__builtin_memcpy(k.saddr, e->remote, sizeof(k.saddr));
	__builtin_memcpy(k.daddr, e->local, sizeof(k.daddr));
	cookie = bpf_map_lookup_elem(&tickets, &k);
	if (!cookie)
		return -1;
	sk = bpf_map_lookup_elem(&listen_socks, cookie);
	if (!sk)
		return SK_DROP;	/* the socket it judged is gone */
	err = bpf_sk_assign(ctx, sk, BPF_SK_LOOKUP_F_NO_REUSEPORT);
	bpf_sk_release(sk);
	return err ? SK_DROP : SK_PASS;
}

/* @mode: the listener's namespace's now, not the one it listened under. */
static __always_inline void report(__u32 type, const struct nt_listener *l,
				   __u32 mode, const struct ends *e, __u32 info)
{
	struct nt_event *ev;

	ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev) {
		stat_inc(NT_STAT_EVENTS_LOST);
		return;
	}
	__builtin_memset(ev, 0, sizeof(*ev));
	ev->type = type;
	ev->ktime = bpf_ktime_get_ns();
	if (l) {
		ev->cookie = l->cookie;
		ev->ev = l->owner.ev;
	}
	ev->ev.netns_ino = netns_ino;
	ev->ev.mode = mode;
	__builtin_memcpy(ev->src.addr, e->remote, sizeof(ev->src.addr));
	ev->src.port = e->rport;
	ev->src.family = e->v4 ? AF_INET : 10;
	__builtin_memcpy(ev->dst.addr, e->local, sizeof(ev->dst.addr));
	ev->dst.port = e->lport;
	ev->dst.family = ev->src.family;
	ev->info = info;
	/* A refusal is urgent (the daemon serves the netns, so the retry
	 * succeeds); an observed SYN only makes a flow record. */
	bpf_ringbuf_submit(ev, events_wake(sizeof(*ev),
					   type != NT_EV_INBOUND_OBSERVED));
}

/* The enrolled listener a SYN would reach, and its namespace's mode now. */
static __always_inline struct nt_listener *listener_of(const struct ends *e,
						       __u32 *mode)
{
	struct nt_listener *l = NULL;
	__u32 key = netns_ino;
	struct nt_ns_value *ns;
	void *table;

	table = bpf_map_lookup_elem(&listeners, &key);
	if (table)
		l = find_listener(table, e->local, e->lport);
	if (!l)
		return NULL;
	ns = bpf_map_lookup_elem(&ns_mode, &l->owner.ev.ns_cgroup_id);
	*mode = ns ? ns->mode : NT_MODE_OFF;
	return l;
}

/* Observe changes nothing on the wire: the SYN is only reported. */
static __always_inline void observe(const struct nt_listener *l, __u32 mode,
				    const struct ends *e)
{
	if (l && mode == NT_MODE_OBSERVE)
		report(NT_EV_INBOUND_OBSERVED, l, mode, e, 0);
}

/* 3 and 4. */
static __always_inline int to_listener(struct bpf_sk_lookup *ctx,
				       const struct nt_proxy *p,
				       const struct ends *e)
{
	__u32 mode = NT_MODE_OFF;
	struct nt_listener *l = listener_of(e, &mode);

	if (!l) {
		if (!p->overflow)
			return SK_PASS;
		report(NT_EV_INBOUND_REFUSED, NULL, NT_MODE_OFF, e, 1);
		return SK_DROP;
	}
	observe(l, mode, e);
	if (mode < NT_MODE_PERMISSIVE)
		return SK_PASS;
	if (!assign_proxy(ctx, p, NT_PSOCK_NET))
		return SK_PASS;
	if (mode != NT_MODE_STRICT)
		return SK_PASS;
	report(NT_EV_INBOUND_REFUSED, l, mode, e, 0);
	return SK_DROP;
}

SEC("sk_lookup")
int nt_lookup(struct bpf_sk_lookup *ctx)
{
	__u32 key = netns_ino;
	__u32 mode = NT_MODE_OFF;
	struct nt_listener *l;
	struct nt_proxy *p;
	struct ends e;
	int verdict;

	if (ctx->protocol != IPPROTO_TCP)
		return SK_PASS;
	p = bpf_map_lookup_elem(&proxies, &key);
	if (!p)
		return SK_PASS;
	read_ends(&e, ctx);
	verdict = to_proxy(ctx, p, &e);
	if (verdict >= 0)
		return verdict;
	if (from_loopback(&e)) {
		verdict = ticketed(ctx, &e);
		if (verdict >= 0)
			return verdict;
		/* An enrolled caller of the pod's own listener: strict would
		 * proxy it, so observe reports it too. */
		l = listener_of(&e, &mode);
		observe(l, mode, &e);
		return SK_PASS;
	}
	return to_listener(ctx, p, &e);
}
