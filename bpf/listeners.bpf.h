/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Finding the listener that would take a connection, in the listener table
 * of a network namespace (bpf/nametag.h explains its entries). The order
 * mirrors the kernel's own choice: a socket bound to the exact address
 * beats a wildcard one; an IPv4 connection also reaches a dual-stack
 * IPv6 wildcard. userspace/datapath/listen.c walks the same order.
 */
#ifndef NAMETAG_LISTENERS_BPF_H
#define NAMETAG_LISTENERS_BPF_H

#include "bpf/maps.bpf.h"

static __always_inline bool addr_is_v4(const __u32 *a)
{
	return a[0] == 0 && a[1] == 0 && a[2] == bpf_htonl(0xffff);
}

static __always_inline void lkey_addr(struct nt_listen_key *k, __u32 kind,
				      const __u32 *addr, __u16 port)
{
	k->kind = kind;
	k->port = port;
	k->pad = 0;
	k->addr[0] = addr[0];
	k->addr[1] = addr[1];
	k->addr[2] = addr[2];
	k->addr[3] = addr[3];
}

/* The kernel's record first (it knows the listening task), else the
 * daemon's sock_diag record of the same address (it knows the socket). */
static __always_inline struct nt_listener *
find_at(void *table, const __u32 *addr, __u16 port)
{
	struct nt_listen_key k;
	struct nt_listener *l;

	lkey_addr(&k, NT_LKEY_ADDR, addr, port);
	l = bpf_map_lookup_elem(table, &k);
	if (l)
		return l;
	k.kind = NT_LKEY_SYNC;
	return bpf_map_lookup_elem(table, &k);
}

static __always_inline struct nt_listener *
find_listener(void *table, const __u32 *addr, __u16 port)
{
	__u32 any4[4] = { 0, 0, bpf_htonl(0xffff), 0 }, any6[4] = {};
	struct nt_listener *l;
	bool v4 = addr_is_v4(addr);

	l = find_at(table, addr, port);
	if (l)
		return l;
	if (v4) {
		l = find_at(table, any4, port);
		if (l)
			return l;
	}
	/* An IPv6 wildcard takes IPv4 too unless it is v6only; if it is,
	 * the delivery to it fails and the connection is refused, as the
	 * kernel would have refused it. */
	return find_at(table, any6, port);
}

#endif
