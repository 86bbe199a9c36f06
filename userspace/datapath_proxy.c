// SPDX-License-Identifier: Apache-2.0
/*
 * Where each network namespace's node proxy listens: the proxies map for
 * the outbound connect() rewrite, the inbound sockmap and one sk_lookup
 * program per namespace for inbound steering.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "userspace/datapath_int.h"
#include "userspace/log.h"

#define NSFS_MAGIC 0x6e736673

static int netns_ino_of(int fd, uint32_t *ino)
{
	struct statfs sfs;
	struct stat st;

	if (fstatfs(fd, &sfs) || fstat(fd, &st))
		return -errno;
	if ((uint32_t)sfs.f_type != NSFS_MAGIC)
		return -EINVAL;
	*ino = (uint32_t)st.st_ino;
	return 0;
}

/* A slot of the inbound sockmap no namespace uses, pinned ones included. */
static int free_index(struct datapath *dp, uint32_t *index)
{
	int fd = bpf_map__fd(dp->skel->maps.proxies);
	bool used[NT_MAX_NETNS] = {};
	struct nt_proxy p;
	uint32_t key, *prev = NULL, i;

	while (!bpf_map_get_next_key(fd, prev, &key)) {
		if (!bpf_map_lookup_elem(fd, &key, &p) &&
		    p.inbound_index < NT_MAX_NETNS)
			used[p.inbound_index] = true;
		prev = &key;
	}
	for (i = 0; i < NT_MAX_NETNS; i++) {
		if (!used[i]) {
			*index = i;
			return 0;
		}
	}
	return -ENOSPC;
}

static struct lookup_inst *lookup_slot(struct datapath *dp, uint32_t ino,
				       bool create)
{
	size_t i;

	for (i = 0; i < NT_MAX_NETNS; i++)
		if (dp->lookups[i].skel && dp->lookups[i].netns_ino == ino)
			return &dp->lookups[i];
	if (!create)
		return NULL;
	for (i = 0; i < NT_MAX_NETNS; i++)
		if (!dp->lookups[i].skel)
			return &dp->lookups[i];
	return NULL;
}

static int reuse_maps(struct datapath *dp, struct lookup_bpf *l)
{
	int ret;

	ret = bpf_map__reuse_fd(l->maps.ns_mode,
				bpf_map__fd(dp->skel->maps.ns_mode));
	if (!ret)
		ret = bpf_map__reuse_fd(l->maps.inbound_ports,
					bpf_map__fd(dp->skel->maps.inbound_ports));
	if (!ret)
		ret = bpf_map__reuse_fd(l->maps.proxies,
					bpf_map__fd(dp->skel->maps.proxies));
	if (!ret)
		ret = bpf_map__reuse_fd(l->maps.inbound_socks,
					bpf_map__fd(dp->skel->maps.inbound_socks));
	return ret;
}

/* Load the namespace's sk_lookup instance and attach it, adopting a link
 * an earlier daemon pinned. */
static int attach_lookup(struct datapath *dp, struct lookup_inst *li,
			 uint32_t ino, int netns_fd, struct nt_err *err)
{
	char name[32], path[PATH_MAX];
	int ret;

	li->skel = lookup_bpf__open();
	if (!li->skel)
		return nt_err_set(err, -errno, "failed to open sk_lookup object");
	li->netns_ino = ino;
	li->skel->rodata->netns_ino = ino;
	ret = reuse_maps(dp, li->skel);
	if (!ret)
		ret = lookup_bpf__load(li->skel);
	if (ret)
		goto fail;
	snprintf(name, sizeof(name), "lookup-%u", ino);
	pin_path(path, sizeof(path), dp, "links", name);
	li->link = access(path, F_OK) ? NULL : bpf_link__open(path);
	if (li->link && bpf_link__update_program(li->link,
						 li->skel->progs.nt_lookup)) {
		bpf_link__unpin(li->link);
		bpf_link__destroy(li->link);
		li->link = NULL;
	}
	if (!li->link) {
		li->link = bpf_program__attach_netns(li->skel->progs.nt_lookup,
						     netns_fd);
		if (!li->link || bpf_link__pin(li->link, path)) {
			ret = -errno;
			goto fail;
		}
	}
	return 0;
fail:
	lookup_free(li);
	return nt_err_set(err, ret ? ret : -EIO,
			  "failed to attach sk_lookup in netns %u: %s", ino,
			  strerror(ret ? -ret : EIO));
}

static int existing_index(struct datapath *dp, uint32_t ino, uint32_t *index)
{
	struct nt_proxy p;

	if (bpf_map_lookup_elem(bpf_map__fd(dp->skel->maps.proxies), &ino, &p))
		return -ENOENT;
	*index = p.inbound_index;
	return 0;
}

int datapath__set_proxy(struct datapath *dp, int netns_fd,
			const struct nt_addr *out4, const struct nt_addr *out6,
			int inbound_fd, struct nt_err *err)
{
	struct nt_proxy p = {};
	struct lookup_inst *li;
	uint32_t ino, index;
	int ret;

	ret = netns_ino_of(netns_fd, &ino);
	if (ret)
		return nt_err_set(err, ret, "not a network namespace fd");
	if (existing_index(dp, ino, &index) && free_index(dp, &index))
		return nt_err_set(err, -ENOSPC, "no free proxy slot");
	if (out4)
		p.outbound4 = *out4;
	if (out6)
		p.outbound6 = *out6;
	p.inbound_index = index;
	if (inbound_fd >= 0) {
		/* The sockmap's values are 8 bytes: an int would let the
		 * kernel read 4 bytes of stack as the fd's upper half. */
		__u64 sock_fd = (__u64)inbound_fd;

		if (bpf_map_update_elem(bpf_map__fd(dp->skel->maps.inbound_socks),
					&index, &sock_fd, BPF_ANY))
			return nt_err_set(err, -errno,
					  "failed to add the inbound listener to the sockmap: %s (a listening TCP socket?)",
					  strerror(errno));
		p.flags |= NT_PROXY_INBOUND;
		li = lookup_slot(dp, ino, true);
		if (!li)
			return nt_err_set(err, -ENOSPC, "too many namespaces");
		if (!li->skel) {
			ret = attach_lookup(dp, li, ino, netns_fd, err);
			if (ret)
				return ret;
		}
	}
	if (bpf_map_update_elem(bpf_map__fd(dp->skel->maps.proxies), &ino, &p,
				BPF_ANY))
		return nt_err_set(err, -errno, "failed to update proxies map: %s",
				  strerror(errno));
	pr_info("proxy for netns %u: outbound port %u/%u, inbound %s", ino,
		p.outbound4.port, p.outbound6.port,
		inbound_fd >= 0 ? "steered" : "none");
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
	struct lookup_inst *li;
	uint32_t ino;
	int ret;

	ret = netns_ino_of(netns_fd, &ino);
	if (ret)
		return nt_err_set(err, ret, "not a network namespace fd");
	li = lookup_slot(dp, ino, true);
	if (!li)
		return nt_err_set(err, -ENOSPC, "too many namespaces");
	if (li->skel)
		return 0;
	return attach_lookup(dp, li, ino, netns_fd, err);
}

int datapath__del_proxy(struct datapath *dp, uint32_t ino, struct nt_err *err)
{
	struct lookup_inst *li;
	char name[32], path[PATH_MAX];
	uint32_t index;

	if (existing_index(dp, ino, &index))
		return nt_err_set(err, -ENOENT, "no proxy for netns %u", ino);
	bpf_map_delete_elem(bpf_map__fd(dp->skel->maps.inbound_socks), &index);
	bpf_map_delete_elem(bpf_map__fd(dp->skel->maps.proxies), &ino);
	li = lookup_slot(dp, ino, false);
	if (li) {
		bpf_link__unpin(li->link);
		lookup_free(li);
	} else {
		snprintf(name, sizeof(name), "lookup-%u", ino);
		pin_path(path, sizeof(path), dp, "links", name);
		unlink(path);
	}
	return 0;
}

cJSON *datapath__json(const struct datapath *dp)
{
	int fd = bpf_map__fd(dp->skel->maps.proxies);
	cJSON *o = cJSON_CreateObject(), *arr, *e;
	uint32_t key, *prev = NULL;
	struct nt_proxy p;

	cJSON_AddStringToObject(o, "pin_dir", dp->pin);
	cJSON_AddNumberToObject(o, "cgroup_id", (double)dp->cgroup_id);
	cJSON_AddNumberToObject(o, "links", (double)dp->nlinks);
	arr = cJSON_AddArrayToObject(o, "proxies");
	while (!bpf_map_get_next_key(fd, prev, &key)) {
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &p))
			continue;
		e = cJSON_CreateObject();
		cJSON_AddNumberToObject(e, "netns", key);
		cJSON_AddNumberToObject(e, "outbound4_port", p.outbound4.port);
		cJSON_AddNumberToObject(e, "outbound6_port", p.outbound6.port);
		cJSON_AddBoolToObject(e, "inbound",
				      !!(p.flags & NT_PROXY_INBOUND));
		cJSON_AddItemToArray(arr, e);
	}
	return o;
}
