// SPDX-License-Identifier: GPL-2.0-only
/*
 * Inbound steering, one instance per enrolled network namespace. An
 * sk_lookup program cannot ask which namespace it runs in, so the daemon
 * loads this small object once per namespace with that namespace's inode in
 * rodata, sharing the maps of the main object.
 *
 * A TCP SYN for a port an enrolled workload listens on is handed to the
 * node proxy's inbound listener; the accepted socket's getsockname() still
 * shows the original port. In strict mode, no proxy means no connection.
 */
#include "vmlinux.h"
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "bpf/maps.bpf.h"
#include "bpf/nametag.h"

#define IPPROTO_TCP 6
#define AF_INET 2

char LICENSE[] SEC("license") = "GPL";

const volatile __u32 netns_ino;

/*
 * Loopback sources are never steered: the proxy delivers to workloads from
 * 127.0.0.6 (or ::1) after its verdict, and steering that would loop. The
 * kernel drops 127/8 arriving from a real device, so no remote peer can use
 * this door; a local process of the same network namespace can, which is
 * the namespace's own trust boundary (a pod's localhost). Enrolled local
 * callers go through the outbound proxy anyway.
 */
static __always_inline bool from_loopback(const struct bpf_sk_lookup *ctx)
{
	if (ctx->family == AF_INET)
		return (bpf_ntohl(ctx->remote_ip4) >> 24) == 127;
	return ctx->remote_ip6[0] == 0 && ctx->remote_ip6[1] == 0 &&
	       ctx->remote_ip6[2] == 0 && ctx->remote_ip6[3] == bpf_htonl(1);
}

static __always_inline int no_proxy(__u32 mode)
{
	return mode == NT_MODE_STRICT ? SK_DROP : SK_PASS;
}

SEC("sk_lookup")
int nt_lookup(struct bpf_sk_lookup *ctx)
{
	struct nt_port_key key = {};
	struct nt_sock_value *v;
	struct nt_ns_value *ns;
	struct nt_proxy *p;
	struct bpf_sock *sk;
	__u32 mode;
	long err;

	if (ctx->protocol != IPPROTO_TCP)
		return SK_PASS;
	if (from_loopback(ctx))
		return SK_PASS;
	key.netns_ino = netns_ino;
	key.port = ctx->local_port;
	v = bpf_map_lookup_elem(&inbound_ports, &key);
	if (!v)
		return SK_PASS;
	ns = bpf_map_lookup_elem(&ns_mode, &v->ev.ns_cgroup_id);
	mode = ns ? ns->mode : NT_MODE_OFF;
	if (mode < NT_MODE_PERMISSIVE)
		return SK_PASS;
	p = bpf_map_lookup_elem(&proxies, &key.netns_ino);
	if (!p || !(p->flags & NT_PROXY_INBOUND))
		return no_proxy(mode);
	sk = bpf_map_lookup_elem(&inbound_socks, &p->inbound_index);
	if (!sk)
		return no_proxy(mode);
	err = bpf_sk_assign(ctx, sk, 0);
	bpf_sk_release(sk);
	return err ? no_proxy(mode) : SK_PASS;
}
