/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What this kernel lets nametag do: program, map and helper support, kTLS,
 * destroying sockets, bpffs, cgroup v2 and BTF. Probed by nametagd at
 * start-up, to pick program variants and fall back visibly, and by
 * `nametag feature probe`.
 *
 * Shared by nametagd and the nametag CLI, so it knows neither's logging:
 * libbpf's own messages are dropped while probing (expected refusals are
 * the point of a probe) unless features_debug is set.
 */
#ifndef NAMETAG_SHARED_FEATURES_H
#define NAMETAG_SHARED_FEATURES_H

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/utsname.h>

#include <cjson/cJSON.h>

/* Program types nametag uses or considered. */
enum nt_feat_prog {
	NT_FEAT_PROG_CGROUP_SOCK_ADDR,	/* connect4/6, sendmsg4/6 */
	NT_FEAT_PROG_CGROUP_SOCK,	/* sock_create: strict refuses raw */
	NT_FEAT_PROG_SOCK_OPS,
	NT_FEAT_PROG_SK_LOOKUP,
	NT_FEAT_PROG_SK_MSG,
	NT_FEAT_PROG_RAW_TRACEPOINT,
	NT_FEAT_PROG_TRACEPOINT,	/* sys_enter_socket: strict kills
					 * packet-socket callers */
	NT_FEAT_PROG_TP_BTF,		/* tracing, BPF_TRACE_RAW_TP */
	NT_FEAT_PROG_FENTRY,		/* tracing, BPF_TRACE_FENTRY */
	NT_FEAT_PROG_LSM,
	NT_FEAT_PROG_MAX,
};

enum nt_feat_map {
	NT_FEAT_MAP_HASH,
	NT_FEAT_MAP_LRU_HASH,
	NT_FEAT_MAP_RINGBUF,
	NT_FEAT_MAP_SOCKMAP,
	NT_FEAT_MAP_SOCKHASH,
	NT_FEAT_MAP_SK_STORAGE,		/* evidence dies with its socket */
	NT_FEAT_MAP_HASH_OF_MAPS,	/* a listener table per netns */
	NT_FEAT_MAP_LPM_TRIE,		/* egress destinations */
	NT_FEAT_MAP_MAX,
};

/* Helpers the programs call, in the program type that calls them. */
enum nt_feat_helper {
	NT_FEAT_HELPER_TASK_BTF_SOCK_ADDR,	/* bpf_get_current_task_btf */
	NT_FEAT_HELPER_ANCESTOR_CGROUP_SOCK_ADDR,
	NT_FEAT_HELPER_SK_ASSIGN_SK_LOOKUP,
	NT_FEAT_HELPER_TASK_BTF_SOCK_OPS,	/* evidence at listen() */
	NT_FEAT_HELPER_SEND_SIGNAL_TRACEPOINT,
	NT_FEAT_HELPER_MAX,
};

/* One probe's outcome; err is a positive errno when it is known why not. */
struct nt_feature {
	bool available;
	int err;
};

struct nt_features {
	char kernel_release[sizeof(((struct utsname *)0)->release)];
	struct nt_feature progs[NT_FEAT_PROG_MAX];
	struct nt_feature maps[NT_FEAT_MAP_MAX];
	struct nt_feature helpers[NT_FEAT_HELPER_MAX];
	struct nt_feature ktls;		/* setsockopt(TCP_ULP, "tls") */
	bool tls_stat;			/* /proc/net/tls_stat exists */
	/* sock_diag SOCK_DESTROY on a TCP socket (CONFIG_INET_DIAG_DESTROY):
	 * how a namespace turning strict ends the plaintext before it */
	struct nt_feature sock_destroy;
	struct nt_feature bpffs;	/* bpffs_dir is a bpf filesystem */
	char bpffs_dir[PATH_MAX];
	struct nt_feature cgroup2;
	char cgroup2_path[PATH_MAX];
	struct nt_feature vmlinux_btf;	/* /sys/kernel/btf/vmlinux */
};

/* Forward libbpf's messages during probes to the print function that was
 * set before (-d in the CLI, debug level in the daemon). */
extern bool features_debug;

/* Fills @f. Every probe records its own outcome; returns 0, or a negative
 * errno only when @f could not be filled at all. */
int features__probe(struct nt_features *f, const char *bpffs_dir);
cJSON *features__json(const struct nt_features *f);
/* bpftool feature style: "sk_lookup program type is available". */
void features__print(const struct nt_features *f, FILE *out);

const char *features__prog_name(enum nt_feat_prog p);
const char *features__map_name(enum nt_feat_map m);

/* The first cgroup2 mount in /proc/self/mountinfo, unescaped, into @buf.
 * Returns 0, -ENOENT when there is none, -ENAMETOOLONG, or -errno. */
int cgroup2__mount_point(char *buf, size_t size);

#endif
