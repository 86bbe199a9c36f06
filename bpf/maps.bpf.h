/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The maps both BPF objects use. bpf/nametag.bpf.c creates them (and pins
 * them); each per-netns bpf/lookup.bpf.c instance is loaded with the same
 * maps handed over by bpf_map__reuse_fd(), so the definitions must match:
 * one place for them. Sizes are defaults; the daemon may set others
 * before load (bpf_map__set_max_entries).
 */
#ifndef NAMETAG_MAPS_BPF_H
#define NAMETAG_MAPS_BPF_H

#include "bpf/nametag.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NT_MAX_NAMESPACES);
	__type(key, __u64);			/* namespace cgroup id */
	__type(value, struct nt_ns_value);
} ns_mode SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NT_MAX_NETNS);
	__type(key, __u32);			/* netns inode */
	__type(value, struct nt_proxy);
} proxies SEC(".maps");

/* The node proxy's listening sockets, NT_PSOCK_MAX per served netns. */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, NT_MAX_NETNS * NT_PSOCK_MAX);
	__type(key, __u32);
	__type(value, __u64);
} proxy_socks SEC(".maps");

/* One listener table per netns (the daemon makes them). Allocated as
 * entries come, so a table costs its bucket array until it fills. Sizes,
 * not BTF types: clang writes the key and value of an inner map
 * definition as forward declarations, which libbpf cannot size. */
struct listener_table {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2 * NT_LISTENERS_PER_NETNS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(key_size, sizeof(struct nt_listen_key));
	__uint(value_size, sizeof(struct nt_listener));
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, NT_MAX_NETNS);
	__type(key, __u32);			/* netns inode */
	__array(values, struct listener_table);
} listeners SEC(".maps");

/* Every enrolled listening socket, by cookie: where a delivery ticket
 * points. A socket leaves it by itself when it closes. */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, NT_MAX_SOCKETS);
	__type(key, __u64);
	__type(value, __u64);
} listen_socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, NT_MAX_SOCKETS);
	__type(key, struct nt_ticket_key);
	__type(value, __u64);			/* listener cookie */
} tickets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, NT_EVENTS_BYTES);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NT_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

/* One more of counter @which (enum nt_stat); per CPU, so no atomics. */
static __always_inline void stat_inc(__u32 which)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &which);

	if (v)
		*v += 1;
}

/*
 * When to wake nametagd for an event of @size bytes just reserved. A
 * wake-up costs the connect() that emits it several microseconds (an
 * irq_work, then the daemon scheduled), so an event nobody waits for
 * (@urgent false) is only queued: the daemon drains the ring on a short
 * timer, or when NT_EVENTS_WAKE_BYTES have piled up. An urgent event
 * wakes it now; the kernel's own rule (wake when the ring was empty) is
 * not enough then, since queued events keep the ring from looking empty.
 */
static __always_inline __u64 events_wake(__u64 size, bool urgent)
{
	__u64 queued = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);

	if (urgent)
		/* The record's 8-byte header and itself are counted. */
		return queued > size + 8 ? BPF_RB_FORCE_WAKEUP : 0;
	return queued >= NT_EVENTS_WAKE_BYTES ? BPF_RB_FORCE_WAKEUP :
						BPF_RB_NO_WAKEUP;
}

#endif
