/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Listener records, kept by the sockops program (bpf/nametag.bpf.c
 * includes this after its sock_ev storage): at listen() the task's
 * evidence goes into the namespace's listener table, one entry for the
 * socket and a counted one for its address; at close the socket's entry
 * goes, and its address's only when no socket listens there any more.
 * Deliveries go to one socket of the address; when it closes while
 * others still listen, another one takes its place.
 */
#ifndef NAMETAG_LISTEN_BPF_H
#define NAMETAG_LISTEN_BPF_H

static __always_inline void lsock_key(struct nt_listen_key *k, __u64 cookie)
{
	__builtin_memset(k, 0, sizeof(*k));
	k->kind = NT_LKEY_SOCK;
	k->addr[0] = (__u32)cookie;
	k->addr[1] = cookie >> 32;
}

/* A record that did not fit: sk_lookup then refuses, in this namespace,
 * every SYN it finds no record for (fail closed), and the daemon says so. */
static __always_inline void count_overflow(__u32 netns)
{
	struct nt_proxy *p = bpf_map_lookup_elem(&proxies, &netns);

	if (p)
		__sync_fetch_and_add(&p->overflow, 1);
}

static __always_inline int listener_add(void *table, const struct nt_sock_value *v,
					__u64 cookie, __u32 flags)
{
	struct nt_listen_key sk_key, ak;
	struct nt_listener nl = {}, *l;

	lkey_addr(&ak, NT_LKEY_ADDR, v->orig_dst.addr, v->orig_dst.port);
	lsock_key(&sk_key, cookie);
	nl.cookie = cookie;
	nl.flags = flags;
	nl.addr = ak;
	nl.owner = *v;
	if (bpf_map_update_elem(table, &sk_key, &nl, BPF_ANY))
		return -1;
	l = bpf_map_lookup_elem(table, &ak);
	if (!l) {
		nl.count = 1;
		if (!bpf_map_update_elem(table, &ak, &nl, BPF_NOEXIST))
			return 0;
		/* Another listen() on the address won the race. */
		l = bpf_map_lookup_elem(table, &ak);
		if (!l) {
			bpf_map_delete_elem(table, &sk_key);
			return -1;
		}
	}
	__sync_fetch_and_add(&l->count, 1);
	if (!l->cookie) {
		l->cookie = cookie;
		l->flags = flags;
		l->owner = *v;
	}
	return 0;
}

static __always_inline void on_listen(struct bpf_sock_ops *skops)
{
	struct bpf_sock *sk = skops->sk;
	struct nt_sock_value *v;
	struct nt_ns_value *ns;
	__u64 ns_cgroup = 0, cookie;
	struct nt_tuple t = {};
	__u32 netns, flags = 0;
	void *table;

	if (!sk)
		return;
	ns = current_namespace(&ns_cgroup);
	if (!ns)
		return;
	v = bpf_sk_storage_get(&sock_ev, sk, NULL, BPF_SK_STORAGE_GET_F_CREATE);
	if (!v)
		return;
	__builtin_memset(v, 0, sizeof(*v));
	fill_evidence(&v->ev, ns_cgroup, ns);
	tuple_from_ops(&t, skops);
	v->orig_dst = t.src;	/* the address it listens on */
	v->flags = NT_SOCK_LISTENER;
	v->ktime = bpf_ktime_get_ns();
	cookie = bpf_get_socket_cookie(skops);
	bpf_sock_ops_cb_flags_set(skops, BPF_SOCK_OPS_STATE_CB_FLAG);
	if (!bpf_sock_hash_update(skops, &listen_socks, &cookie, BPF_ANY))
		flags |= NT_LST_IN_SOCKHASH;
	netns = v->ev.netns_ino;
	table = bpf_map_lookup_elem(&listeners, &netns);
	/* No table: the namespace is not served yet. The event makes the
	 * daemon serve it, and its listing then records this socket. */
	if (table && listener_add(table, v, cookie, flags)) {
		count_overflow(netns);
		emit(NT_EV_LISTEN_OVERFLOW, cookie, v, NULL, 0);
	}
	emit(NT_EV_LISTEN, cookie, v, NULL, table ? 0 : 1);
}

struct elect_ctx {
	struct nt_listen_key addr;
	__u64 gone;
	__u64 cookie;
	__u32 flags;
	__u32 pad;
	struct nt_sock_value owner;
};

static __always_inline bool same_lkey(const struct nt_listen_key *a,
				      const struct nt_listen_key *b)
{
	return a->port == b->port && a->addr[0] == b->addr[0] &&
	       a->addr[1] == b->addr[1] && a->addr[2] == b->addr[2] &&
	       a->addr[3] == b->addr[3];
}

static long elect_cb(struct bpf_map *map, struct nt_listen_key *k,
		     struct nt_listener *l, struct elect_ctx *c)
{
	if (k->kind != NT_LKEY_SOCK || l->cookie == c->gone ||
	    !same_lkey(&l->addr, &c->addr))
		return 0;
	c->cookie = l->cookie;
	c->flags = l->flags;
	c->owner = l->owner;
	return 1;	/* found: stop */
}

/* The delivery socket of @l closed while others still listen: another
 * socket of the same address takes its place (0 when none is known). */
static __always_inline void elect(void *table, struct nt_listener *l,
				  const struct nt_listen_key *ak, __u64 gone)
{
	struct elect_ctx c = { .addr = *ak, .gone = gone };

	bpf_for_each_map_elem(table, elect_cb, &c, 0);
	l->cookie = c.cookie;
	l->flags = c.flags;
	if (c.cookie)
		l->owner = c.owner;
}

static __always_inline void listener_del(const struct nt_sock_value *v,
					 __u64 cookie)
{
	struct nt_listen_key sk_key, ak;
	struct nt_listener *s, *l;
	__u32 netns = v->ev.netns_ino;
	void *table;

	table = bpf_map_lookup_elem(&listeners, &netns);
	if (!table)
		return;
	lsock_key(&sk_key, cookie);
	s = bpf_map_lookup_elem(table, &sk_key);
	if (!s)
		return;	/* never recorded (it did not fit) */
	ak = s->addr;
	bpf_map_delete_elem(table, &sk_key);
	l = bpf_map_lookup_elem(table, &ak);
	if (!l)
		return;
	if (__sync_fetch_and_add(&l->count, -1) <= 1) {
		bpf_map_delete_elem(table, &ak);
		return;
	}
	if (l->cookie == cookie)
		elect(table, l, &ak, cookie);
}

#endif
