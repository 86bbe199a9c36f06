// SPDX-License-Identifier: Apache-2.0
/*
 * The listener tables from userspace: which enrolled socket a connection
 * would reach (the proxy judges that socket's identity and presents its
 * SVID), delivery tickets that make the kernel hand the proxy's connection
 * to exactly that socket, and the daemon's own sock_diag records
 * (listeners.c). The kernel's side is bpf/listen.bpf.h and
 * bpf/lookup.bpf.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include <bpf/bpf.h>

#include "userspace/datapath/datapath_int.h"

int datapath__table_fd(const struct datapath *dp, uint32_t netns_ino)
{
	uint32_t i;

	for (i = 0; i < dp->max_netns; i++)
		if (dp->netns[i].table_fd >= 0 &&
		    dp->netns[i].netns_ino == netns_ino)
			return dp->netns[i].table_fd;
	return -ENOENT;
}

static void lkey(struct nt_listen_key *k, enum nt_lkey_kind kind,
		 const uint32_t *addr, uint16_t port)
{
	memset(k, 0, sizeof(*k));
	k->kind = kind;
	k->port = port;
	memcpy(k->addr, addr, sizeof(k->addr));
}

int datapath__find_exact(const struct datapath *dp, uint32_t netns_ino,
			 const struct nt_listen_key *k, struct nt_listener *out)
{
	int fd = datapath__table_fd(dp, netns_ino);

	if (fd < 0)
		return fd;
	return bpf_map_lookup_elem(fd, k, out) ? -errno : 0;
}

/* The kernel's record of the address, else the daemon's. */
static int find_at(int fd, const uint32_t *addr, uint16_t port,
		   struct nt_listener *out)
{
	struct nt_listen_key k;

	lkey(&k, NT_LKEY_ADDR, addr, port);
	if (!bpf_map_lookup_elem(fd, &k, out))
		return 0;
	k.kind = NT_LKEY_SYNC;
	return bpf_map_lookup_elem(fd, &k, out) ? -ENOENT : 0;
}

int datapath__find_listener(const struct datapath *dp, uint32_t netns_ino,
			    const struct nt_addr *addr, struct nt_listener *out)
{
	const uint32_t any6[4] = { 0 };
	struct nt_addr any4;
	int fd = datapath__table_fd(dp, netns_ino);

	if (fd < 0)
		return fd;
	if (!find_at(fd, addr->addr, addr->port, out))
		return 0;
	nt_addr__set_v4(&any4, 0, addr->port);
	if (nt_addr__is_v4(addr) && !find_at(fd, any4.addr, addr->port, out))
		return 0;
	return find_at(fd, any6, addr->port, out);
}

static void ticket_key(struct nt_ticket_key *k, uint32_t netns_ino,
		       const struct nt_addr *src, const struct nt_addr *dst)
{
	memset(k, 0, sizeof(*k));
	k->netns_ino = netns_ino;
	k->sport = src->port;
	k->dport = dst->port;
	memcpy(k->saddr, src->addr, sizeof(k->saddr));
	memcpy(k->daddr, dst->addr, sizeof(k->daddr));
}

int datapath__ticket(struct datapath *dp, uint32_t netns_ino,
		     const struct nt_addr *src, const struct nt_addr *dst,
		     uint64_t cookie)
{
	struct nt_ticket_key k;

	ticket_key(&k, netns_ino, src, dst);
	return bpf_map_update_elem(bpf_map__fd(dp->skel->maps.tickets), &k,
				   &cookie, BPF_ANY) ? -errno : 0;
}

void datapath__unticket(struct datapath *dp, uint32_t netns_ino,
			const struct nt_addr *src, const struct nt_addr *dst)
{
	struct nt_ticket_key k;

	ticket_key(&k, netns_ino, src, dst);
	bpf_map_delete_elem(bpf_map__fd(dp->skel->maps.tickets), &k);
}

bool datapath__listen_sock_held(const struct datapath *dp, uint64_t cookie)
{
	__u64 v;

	/* A sockhash answers a lookup from userspace with the cookie. */
	return !bpf_map_lookup_elem(bpf_map__fd(dp->skel->maps.listen_socks),
				    &cookie, &v);
}

int datapath__hold_listen_sock(struct datapath *dp, int fd)
{
	__u64 cookie, v = (__u64)fd;
	socklen_t len = sizeof(cookie);

	if (getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &len))
		return -errno;
	return bpf_map_update_elem(bpf_map__fd(dp->skel->maps.listen_socks),
				   &cookie, &v, BPF_ANY) ? -errno : 0;
}

int datapath__socket_evidence(const struct datapath *dp, int fd,
			      struct nt_sock_value *v)
{
	/* Socket storage is looked up by the socket's fd. */
	return bpf_map_lookup_elem(bpf_map__fd(dp->skel->maps.sock_ev), &fd,
				   v) ? -errno : 0;
}

int datapath__listeners_foreach(const struct datapath *dp, uint32_t netns_ino,
				int (*fn)(const struct nt_listen_key *k,
					  const struct nt_listener *l, void *arg),
				void *arg)
{
	struct nt_listen_key key, next, *prev = NULL;
	int fd = datapath__table_fd(dp, netns_ino), ret;
	struct nt_listener l;
	size_t steps = 0;

	if (fd < 0)
		return fd;
	/* Bounded: the kernel may delete keys under us, which restarts the
	 * walk from the first key. */
	while (steps++ < 4 * (size_t)dp->listeners_per_netns &&
	       !bpf_map_get_next_key(fd, prev, &next)) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &l))
			continue;
		ret = fn(&key, &l, arg);
		if (ret)
			return ret;
	}
	return 0;
}

int datapath__listener_put(struct datapath *dp, uint32_t netns_ino,
			   const struct nt_listen_key *k,
			   const struct nt_listener *l)
{
	int fd = datapath__table_fd(dp, netns_ino);

	if (fd < 0)
		return fd;
	return bpf_map_update_elem(fd, k, l, BPF_ANY) ? -errno : 0;
}

int datapath__listener_del(struct datapath *dp, uint32_t netns_ino,
			   const struct nt_listen_key *k)
{
	int fd = datapath__table_fd(dp, netns_ino);

	if (fd < 0)
		return fd;
	if (bpf_map_delete_elem(fd, k) && errno != ENOENT)
		return -errno;
	return 0;
}
