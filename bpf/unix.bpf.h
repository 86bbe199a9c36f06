/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The Workload API's caller evidence (docs/workload-api.md): who connect()s
 * a unix stream socket, captured in the connecting task at the syscall, as
 * the TCP path does at connect() and listen(). Runs as
 * BPF_CGROUP_UNIX_CONNECT (6.7 and later; Debian's libbpf 1.1 knows no
 * section name for it, so it is written as cgroup/connect4 and the
 * datapath sets the attach type before loading, or does not load it at all
 * where the kernel lacks the hook).
 *
 * The record is keyed by the inode of the connecting socket: the daemon
 * holds the other end (the socket accept() gives it), finds its peer's
 * inode with sock_diag and reads the record once. Socket storage would die
 * with the socket, but only the owner of a socket's fd can read it, and the
 * daemon never has the client's. An inode is unique while its socket
 * lives, and the record is deleted when read.
 */
#ifndef NAMETAG_UNIX_BPF_H
#define NAMETAG_UNIX_BPF_H

#include "bpf/evidence.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, NT_MAX_UNIX_CONNS);
	__type(key, __u64);			/* client socket inode */
	__type(value, struct nt_sock_value);
} unix_ev SEC(".maps");

SEC("cgroup/connect4")
int nt_connect_unix(struct bpf_sock_addr *ctx)
{
	struct nt_sock_value v = {};
	struct nt_ns_value *ns;
	struct bpf_sock *sk;
	struct unix_sock *us;
	__u64 ns_cgroup, ino;

	/* Only enrolled callers: anyone else gets no identity anyway. */
	ns = current_namespace(&ns_cgroup);
	if (!ns)
		return 1;
	sk = ctx->sk;
	if (!sk)
		return 1;
	us = bpf_skc_to_unix_sock(sk);
	if (!us)
		return 1;
	ino = BPF_CORE_READ(us, sk.sk_socket, file, f_inode, i_ino);
	if (!ino)
		return 1;
	fill_evidence(&v.ev, ns_cgroup, ns);
	v.ktime = bpf_ktime_get_ns();
	bpf_map_update_elem(&unix_ev, &ino, &v, BPF_ANY);
	return 1;
}

#endif
