/* SPDX-License-Identifier: Apache-2.0 */
/* Private to userspace/datapath*.c: the loaded objects and their links. */
#ifndef NAMETAG_DATAPATH_INT_H
#define NAMETAG_DATAPATH_INT_H

#include <sys/stat.h>

#include <bpf/libbpf.h>

#include "bpf/lookup.skel.h"
#include "bpf/nametag.skel.h"
#include "userspace/daemon.h"

struct lookup_inst {
	uint32_t netns_ino;
	struct lookup_bpf *skel;
	struct bpf_link *link;
};

struct datapath {
	struct nametag_bpf *skel;
	char pin[PATH_MAX];
	int cgroup_fd;
	uint64_t cgroup_id;
	struct bpf_link *links[8];
	size_t nlinks;
	struct ring_buffer *rb;
	void (*cb)(const struct nt_event *ev, void *arg);
	void *cb_arg;
	struct lookup_inst lookups[NT_MAX_NETNS];
};

void lookup_free(struct lookup_inst *l);
int mkdir_p(const char *path, mode_t mode);
int pin_path(char *buf, size_t size, const struct datapath *dp,
	     const char *kind, const char *name);

#endif
