/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TCP sockets of a network namespace, as the kernel reports them through
 * sock_diag (NETLINK_SOCK_DIAG, inet_diag), and what the daemon does with
 * them: listeners that existed before their namespace was enrolled (or
 * before nametagd started) have no record from the sockops program, so
 * they are published in inbound_ports from this list instead; connections
 * a namespace made in plaintext before it turned strict are found here
 * (and destroyed, userspace/strict.c).
 */
#ifndef NAMETAG_SOCKDIAG_H
#define NAMETAG_SOCKDIAG_H

#include <stddef.h>
#include <stdint.h>

#include <linux/inet_diag.h>

#include "bpf/nametag.h"
#include "ca/ca.h"

/* At most this many listeners per network namespace (both families): a
 * dump that goes past it fails rather than reporting half a list. */
#define SOCKDIAG_MAX_LISTENERS	65536
/* ... and at most this many sockets in the states asked for. */
#define SOCKDIAG_MAX_SOCKETS	(1 << 20)

/* Everything here comes from the kernel's inet_diag reply. Named for its
 * first use: sockdiag__sockets() reports sockets of any state in it. */
struct sockdiag_listener {
	struct nt_addr local;	/* family; address in network byte order
				 * (IPv4 as IPv4-mapped IPv6); port in
				 * host byte order */
	struct nt_addr remote;	/* the same; all zero for a listener */
	uint8_t state;		/* TCP_ESTABLISHED, TCP_LISTEN, ... */
	struct inet_diag_sockid id;	/* as the kernel sent it: names the
					 * socket to sock_diag__destroy() */
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
/* The same for the TCP sockets whose state is in @states (1 << TCP_...). */
int sockdiag__sockets(int netns_fd, uint32_t states, sockdiag_cb cb,
		      void *arg, struct nt_err *err);
/* A bound NETLINK_SOCK_DIAG socket inside @netns_fd, with the receive
 * timeout of shared_sockdiag.h: for sock_diag__destroy(). fd or -errno. */
int sockdiag__socket(int netns_fd);

/*
 * Publishes in inbound_ports every listener of a served network namespace
 * whose socket belongs to an enrolled namespace's cgroup (or one below
 * it), without overwriting what the kernel recorded at listen(); removes
 * the entries an earlier sync made that no longer hold. 0, or a negative
 * errno with @err filled; never fatal to the daemon.
 */
int listeners__sync(struct nt_err *err);

/*
 * The cgroups of the enrolled namespaces, each one's own and every cgroup
 * below it, read by a bounded walk of cgroupfs (an id is never derived
 * from a name), sorted by id; a namespace nested in another enrolled one
 * owns its own subtree. From userspace/listeners.c.
 */
struct ns;
struct cg_owner;
struct holders;
struct cg_owners {
	struct cg_owner *v;
	size_t n, cap;
	struct holders *procs;	/* set: their processes are added here too */
};
int cg_owners__collect(struct cg_owners *o, struct nt_err *err);
/* The enrolled namespace that owns @cgroup_id; NULL for none. */
const struct ns *cg_owners__find(const struct cg_owners *o, uint64_t cgroup_id);
void cg_owners__free(struct cg_owners *o);

#endif /* NAMETAG_SOCKDIAG_H */
