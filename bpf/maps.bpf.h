/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The maps both BPF objects use. bpf/nametag.bpf.c creates them (and pins
 * them); each per-netns bpf/lookup.bpf.c instance is loaded with the same
 * maps handed over by bpf_map__reuse_fd(), so the definitions must match:
 * one place for them.
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

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NT_MAX_SOCKETS);
	__type(key, struct nt_port_key);
	__type(value, struct nt_sock_value);
} inbound_ports SEC(".maps");

/* Filled by the daemon with each netns's inbound proxy listener; used by
 * the per-netns sk_lookup programs (bpf/lookup.bpf.c), which share it. */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, NT_MAX_NETNS);
	__type(key, __u32);
	__type(value, __u64);
} inbound_socks SEC(".maps");

#endif
