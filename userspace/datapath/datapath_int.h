/* SPDX-License-Identifier: Apache-2.0 */
/* Private to userspace/datapath/: the loaded objects, their links, and the
 * one place the skeletons are included. */
#ifndef NAMETAG_DATAPATH_INT_H
#define NAMETAG_DATAPATH_INT_H

#include <sys/stat.h>

#include <bpf/libbpf.h>

#include "bpf/lookup.skel.h"
#include "bpf/nametag.skel.h"
#include "userspace/datapath/datapath.h"

#define DP_MAX_LINKS	12

/* A network namespace the datapath guards: its listener table. Its
 * sk_lookup link lives pinned as links/lookup-<netns_ino>. */
struct netns_inst {
	uint32_t netns_ino;
	int table_fd;			/* -1: slot free */
	uint64_t overflow_said;		/* lost records, as last logged */
};

struct datapath {
	struct nametag_bpf *skel;
	char pin[PATH_MAX];
	int cgroup_fd;
	uint64_t cgroup_id;
	struct bpf_link *links[DP_MAX_LINKS];
	size_t nlinks;
	struct ring_buffer *rb;
	void (*cb)(const struct nt_event *ev, void *arg);
	void *cb_arg;
	uint32_t max_netns;
	uint32_t listeners_per_netns;
	struct netns_inst *netns;	/* max_netns of them */
	uint32_t proxy_gen;		/* the last nt_proxy.gen handed out */
};

int pin_path(char *buf, size_t size, const struct datapath *dp,
	     const char *kind, const char *name);
/* The listener table of @ino; -ENOENT when the namespace is not guarded. */
int datapath__table_fd(const struct datapath *dp, uint32_t netns_ino);

#endif
