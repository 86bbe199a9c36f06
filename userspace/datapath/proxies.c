// SPDX-License-Identifier: Apache-2.0
/*
 * Where each network namespace's node proxy listens: the proxies map (the
 * redirect target, the mesh port, its slot), its sockets in proxy_socks,
 * the namespace's listener table, and one sk_lookup program per namespace
 * that hands SYNs to those sockets (bpf/lookup.bpf.c).
 *
 * The program's link is pinned, and the program object is dropped once
 * attached: a served namespace costs the daemon one descriptor here (its
 * listener table), and a restart finds the link, the table and the slot
 * where it left them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "userspace/datapath/datapath_int.h"

/* A slot of proxy_socks no namespace uses, pinned ones included. */
static int free_slot(struct datapath *dp, uint32_t *slot)
{
	int fd = bpf_map__fd(dp->skel->maps.proxies);
	uint32_t key, *prev = NULL, i, n = dp->max_netns;
	struct nt_proxy p;
	bool *used;
	int ret = -ENOSPC;

	used = calloc(n, sizeof(*used));
	if (!used)
		return -ENOMEM;
	while (!bpf_map_get_next_key(fd, prev, &key)) {
		if (!bpf_map_lookup_elem(fd, &key, &p) && p.slot < n)
			used[p.slot] = true;
		prev = &key;
	}
	for (i = 0; i < n; i++) {
		if (!used[i]) {
			*slot = i;
			ret = 0;
			break;
		}
	}
	free(used);
	return ret;
}

static struct netns_inst *inst_of(struct datapath *dp, uint32_t ino,
				  bool create)
{
	uint32_t i;

	for (i = 0; i < dp->max_netns; i++)
		if (dp->netns[i].table_fd >= 0 && dp->netns[i].netns_ino == ino)
			return &dp->netns[i];
	if (!create)
		return NULL;
	for (i = 0; i < dp->max_netns; i++)
		if (dp->netns[i].table_fd < 0)
			return &dp->netns[i];
	return NULL;
}

/* The instance uses the main object's maps (bpf/maps.bpf.h), by skeleton
 * member on both sides: a map renamed in one fails the build. */
static int reuse_maps(struct datapath *dp, struct lookup_bpf *l)
{
	struct bpf_map *const pairs[][2] = {
		{ l->maps.ns_mode, dp->skel->maps.ns_mode },
		{ l->maps.proxies, dp->skel->maps.proxies },
		{ l->maps.proxy_socks, dp->skel->maps.proxy_socks },
		{ l->maps.listeners, dp->skel->maps.listeners },
		{ l->maps.listen_socks, dp->skel->maps.listen_socks },
		{ l->maps.tickets, dp->skel->maps.tickets },
		{ l->maps.events, dp->skel->maps.events },
		{ l->maps.stats, dp->skel->maps.stats },
	};
	size_t i;
	int ret = 0;

	for (i = 0; !ret && i < ARRAY_SIZE(pairs); i++)
		ret = bpf_map__reuse_fd(pairs[i][0], bpf_map__fd(pairs[i][1]));
	return ret;
}

static void lookup_pin(struct datapath *dp, uint32_t ino, char *path,
		       size_t size)
{
	char name[32];

	snprintf(name, sizeof(name), "lookup-%u", ino);
	pin_path(path, size, dp, "links", name);
}

/*
 * Loads the namespace's sk_lookup instance and attaches it, swapping it
 * into the link an earlier daemon pinned (no moment without a program),
 * then lets go of everything but the pin.
 */
static int attach_lookup(struct datapath *dp, uint32_t ino, int netns_fd,
			 struct nt_err *err)
{
	struct bpf_link *link = NULL;
	struct lookup_bpf *skel;
	char path[PATH_MAX];
	int ret;

	skel = lookup_bpf__open();
	if (!skel)
		return nt_err_set(err, -errno, "failed to open the sk_lookup object");
	skel->rodata->netns_ino = ino;
	ret = reuse_maps(dp, skel);
	if (!ret)
		ret = lookup_bpf__load(skel);
	if (ret)
		goto out;
	lookup_pin(dp, ino, path, sizeof(path));
	link = access(path, F_OK) ? NULL : bpf_link__open(path);
	if (link && bpf_link__update_program(link, skel->progs.nt_lookup)) {
		bpf_link__unpin(link);
		bpf_link__destroy(link);
		link = NULL;
	}
	if (!link) {
		link = bpf_program__attach_netns(skel->progs.nt_lookup, netns_fd);
		if (!link || bpf_link__pin(link, path))
			ret = -errno;
	}
out:
	bpf_link__destroy(link);	/* the pin keeps it attached */
	lookup_bpf__destroy(skel);
	if (ret)
		return nt_err_set(err, ret, "failed to attach sk_lookup in netns %u: %s",
				  ino, strerror(-ret));
	return 0;
}

/* The namespace's listener table: the one in the listeners map (kept from
 * an earlier daemon, with every record the kernel made meanwhile), or a
 * new one. */
static int open_table(struct datapath *dp, uint32_t ino, int *out)
{
	int outer = bpf_map__fd(dp->skel->maps.listeners), fd;
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_NO_PREALLOC);
	uint32_t id;

	if (!bpf_map_lookup_elem(outer, &ino, &id)) {
		fd = bpf_map_get_fd_by_id(id);
		if (fd >= 0) {
			*out = fd;
			return 0;
		}
	}
	fd = bpf_map_create(BPF_MAP_TYPE_HASH, "nt_listeners",
			    sizeof(struct nt_listen_key),
			    sizeof(struct nt_listener),
			    2 * dp->listeners_per_netns, &opts);
	if (fd < 0)
		return -errno;
	if (bpf_map_update_elem(outer, &ino, &fd, BPF_ANY)) {
		int ret = -errno;

		close(fd);
		return ret;
	}
	*out = fd;
	return 0;
}

/* Table and sk_lookup program of @ino, made once per namespace. */
static int guard(struct datapath *dp, int netns_fd, uint32_t ino,
		 struct nt_err *err)
{
	struct netns_inst *ni = inst_of(dp, ino, false);
	int ret, fd = -1;

	if (ni)
		return 0;
	ni = inst_of(dp, ino, true);
	if (!ni)
		return nt_err_set(err, -ENOSPC,
				  "netns %u: already %u network namespaces (the limit)",
				  ino, dp->max_netns);
	ret = open_table(dp, ino, &fd);
	if (ret)
		return nt_err_set(err, ret, "netns %u: failed to make its listener table: %s",
				  ino, strerror(-ret));
	ret = attach_lookup(dp, ino, netns_fd, err);
	if (ret) {
		close(fd);
		return ret;
	}
	ni->netns_ino = ino;
	ni->table_fd = fd;
	ni->overflow_said = 0;
	return 0;
}

static int existing(const struct datapath *dp, uint32_t ino, struct nt_proxy *p)
{
	if (bpf_map_lookup_elem(bpf_map__fd(dp->skel->maps.proxies), &ino, p))
		return -ENOENT;
	return 0;
}

/* The proxies entry of @ino, keeping an earlier slot and overflow count. */
static int proxy_entry(struct datapath *dp, uint32_t ino, struct nt_proxy *p,
		       struct nt_err *err)
{
	uint32_t slot;
	int ret;

	if (!existing(dp, ino, p))
		return 0;
	memset(p, 0, sizeof(*p));
	ret = free_slot(dp, &slot);
	if (ret)
		return nt_err_set(err, ret, "netns %u: no free proxy slot (%u in use)",
				  ino, dp->max_netns);
	p->slot = slot;
	return 0;
}

static int put_sock(struct datapath *dp, const struct nt_proxy *p,
		    enum nt_psock kind, int fd, struct nt_err *err)
{
	int map = bpf_map__fd(dp->skel->maps.proxy_socks);
	uint32_t k = p->slot * NT_PSOCK_MAX + kind;
	/* The sockmap's values are 8 bytes: an int would let the kernel read
	 * 4 bytes of stack as the fd's upper half. */
	__u64 v = (__u64)fd;

	if (fd < 0) {
		/* An empty sockmap slot answers EINVAL, not ENOENT. */
		if (bpf_map_delete_elem(map, &k) && errno != ENOENT &&
		    errno != EINVAL)
			return nt_err_set(err, -errno, "proxy_socks: %s",
					  strerror(errno));
		return 0;
	}
	if (bpf_map_update_elem(map, &k, &v, BPF_ANY))
		return nt_err_set(err, -errno,
				  "failed to add a proxy socket to proxy_socks: %s (a listening TCP socket?)",
				  strerror(errno));
	return 0;
}

int datapath__set_proxy(struct datapath *dp, int netns_fd,
			const struct dp_proxy *px, struct nt_err *err)
{
	struct nt_proxy p;
	uint32_t ino;
	int ret;

	ret = netns__ino(netns_fd, &ino);
	if (ret)
		return nt_err_set(err, ret, "not a network namespace fd");
	ret = proxy_entry(dp, ino, &p, err);
	if (!ret)
		ret = guard(dp, netns_fd, ino, err);
	/* Sockets first: the map entry makes connect() use them. */
	if (!ret)
		ret = put_sock(dp, &p, NT_PSOCK_OUT4, px->out4_fd, err);
	if (!ret)
		ret = put_sock(dp, &p, NT_PSOCK_OUT6, px->out6_fd, err);
	if (!ret)
		ret = put_sock(dp, &p, NT_PSOCK_NET, px->net_fd, err);
	if (ret)
		return ret;
	memset(&p.outbound4, 0, sizeof(p.outbound4));
	memset(&p.outbound6, 0, sizeof(p.outbound6));
	if (px->out4_fd >= 0)
		p.outbound4 = px->target4;
	if (px->out6_fd >= 0)
		p.outbound6 = px->target6;
	p.mesh_port = px->net_fd >= 0 ? px->mesh_port : 0;
	p.flags = NT_PROXY_SERVED;
	/* New sockets: connections queued on the old ones died with them,
	 * and their evidence must not be taken for a later connection. */
	p.gen = ++dp->proxy_gen;
	if (bpf_map_update_elem(bpf_map__fd(dp->skel->maps.proxies), &ino, &p,
				BPF_ANY))
		return nt_err_set(err, -errno, "failed to update proxies map: %s",
				  strerror(errno));
	pr_info("proxy for netns %u: slot %u, outbound %s%s, mesh port %u", ino,
		p.slot, p.outbound4.port ? "IPv4" : "-",
		p.outbound6.port ? " IPv6" : "", p.mesh_port);
	return 0;
}

/*
 * Attaches the namespace's sk_lookup program with no proxy behind it: an
 * enrolled listener there is then refused plaintext in strict mode (the
 * program's no-proxy path) even before any proxy serves the namespace.
 */
int datapath__guard_netns(struct datapath *dp, int netns_fd,
			  struct nt_err *err)
{
	struct nt_proxy p;
	uint32_t ino;
	int ret;

	ret = netns__ino(netns_fd, &ino);
	if (ret)
		return nt_err_set(err, ret, "not a network namespace fd");
	if (!existing(dp, ino, &p))	/* served, or guarded already */
		return guard(dp, netns_fd, ino, err);
	ret = proxy_entry(dp, ino, &p, err);
	if (!ret)
		ret = guard(dp, netns_fd, ino, err);
	if (ret)
		return ret;
	if (bpf_map_update_elem(bpf_map__fd(dp->skel->maps.proxies), &ino, &p,
				BPF_NOEXIST) && errno != EEXIST)
		return nt_err_set(err, -errno, "failed to update proxies map: %s",
				  strerror(errno));
	return 0;
}

int datapath__del_proxy(struct datapath *dp, uint32_t ino, struct nt_err *err)
{
	struct netns_inst *ni;
	char path[PATH_MAX];
	struct nt_proxy p;
	int k;

	if (existing(dp, ino, &p))
		return nt_err_set(err, -ENOENT, "no proxy for netns %u", ino);
	/* The program first: with it gone nothing reads the rest. */
	lookup_pin(dp, ino, path, sizeof(path));
	if (unlink(path) && errno != ENOENT)
		pr_warn("failed to unpin %s: %s", path, strerror(errno));
	for (k = 0; k < NT_PSOCK_MAX; k++)
		put_sock(dp, &p, k, -1, NULL);
	bpf_map_delete_elem(bpf_map__fd(dp->skel->maps.proxies), &ino);
	bpf_map_delete_elem(bpf_map__fd(dp->skel->maps.listeners), &ino);
	ni = inst_of(dp, ino, false);
	if (ni) {
		close(ni->table_fd);
		ni->table_fd = -1;
	}
	return 0;
}

/* Listener records of @ino that did not fit, since it was first served. */
uint64_t datapath__overflow(const struct datapath *dp, uint32_t ino)
{
	struct nt_proxy p;

	return existing(dp, ino, &p) ? 0 : p.overflow;
}

/* A listener table that overflowed is an error, said again whenever more
 * records were lost: SYNs without a record are refused in that netns. */
void datapath__report_overflow(struct datapath *dp)
{
	struct netns_inst *ni;
	uint64_t n;
	uint32_t i;

	for (i = 0; i < dp->max_netns; i++) {
		ni = &dp->netns[i];
		if (ni->table_fd < 0)
			continue;
		n = datapath__overflow(dp, ni->netns_ino);
		if (n <= ni->overflow_said)
			continue;
		ni->overflow_said = n;
		pr_err("netns %u: %llu listener records did not fit its table (%u listeners per netns): that namespace refuses every SYN it has no record for ('nametag proxy list')",
		       ni->netns_ino, (unsigned long long)n,
		       dp->listeners_per_netns);
	}
}

int datapath__proxies_foreach(const struct datapath *dp,
			      int (*fn)(uint32_t netns_ino,
					const struct nt_proxy *p, void *arg),
			      void *arg)
{
	int fd = bpf_map__fd(dp->skel->maps.proxies), ret;
	uint32_t key, *prev = NULL;
	struct nt_proxy p;

	while (!bpf_map_get_next_key(fd, prev, &key)) {
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &p))
			continue;
		ret = fn(key, &p, arg);
		if (ret)
			return ret;
	}
	return 0;
}
