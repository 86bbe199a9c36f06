/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TCP listeners of a network namespace, as the kernel reports them through
 * sock_diag (NETLINK_SOCK_DIAG, inet_diag), and what the daemon does with
 * them: listeners that existed before their namespace was enrolled (or
 * before nametagd started) have no record from the sockops program, so
 * they are published in inbound_ports from this list instead.
 */
#ifndef NAMETAG_SOCKDIAG_H
#define NAMETAG_SOCKDIAG_H

#include <stdint.h>

#include "bpf/nametag.h"
#include "ca/ca.h"

/* At most this many listeners per network namespace (both families): a
 * dump that goes past it fails rather than reporting half a list. */
#define SOCKDIAG_MAX_LISTENERS	65536

/* Everything here comes from the kernel's inet_diag reply. */
struct sockdiag_listener {
	struct nt_addr local;	/* family; address in network byte order
				 * (IPv4 as IPv4-mapped IPv6); port in
				 * host byte order */
	uint32_t uid;		/* the socket's owner (idiag_uid) */
	uint32_t inode;		/* the socket's inode (idiag_inode) */
	uint64_t cookie;	/* the socket cookie, as BPF sees it */
	uint64_t cgroup_id;	/* cgroup v2 id the socket was created in
				 * (INET_DIAG_CGROUP_ID, kernel >= 5.7);
				 * 0 when the kernel sent none */
};

typedef int (*sockdiag_cb)(const struct sockdiag_listener *l, void *arg);

/*
 * Calls @cb for every TCP socket in LISTEN state, IPv4 then IPv6, of the
 * network namespace @netns_fd (the netlink socket is created inside it and
 * closed before returning). A non-zero return from @cb stops the walk and
 * is returned. 0, or a negative errno with @err filled.
 */
int sockdiag__listeners(int netns_fd, sockdiag_cb cb, void *arg,
			struct nt_err *err);

/*
 * Publishes in inbound_ports every listener of a served network namespace
 * whose socket belongs to an enrolled namespace's cgroup (or one below
 * it), without overwriting what the kernel recorded at listen(); removes
 * the entries an earlier sync made that no longer hold. 0, or a negative
 * errno with @err filled; never fatal to the daemon.
 */
int listeners__sync(struct nt_err *err);

#endif /* NAMETAG_SOCKDIAG_H */
