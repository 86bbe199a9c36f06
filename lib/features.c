// SPDX-License-Identifier: Apache-2.0
/*
 * Kernel feature probing. Each probe asks the kernel the way nametag will
 * use the feature (load a program, create a map, set a socket option) and
 * records the errno when refused: "not available (EPERM)" and "not
 * available (ENOENT)" call for different fixes.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <linux/btf.h>
#include <linux/inet_diag.h>
#include <linux/magic.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "lib/ntcore.h"


bool features_debug;

/*
 * The plain program types go through libbpf's probe. The BTF-attached ones
 * (tp_btf, fentry, lsm) cannot be loaded without a target, so they carry
 * the vmlinux BTF type they would attach to.
 */
static const struct prog_probe {
	const char *name;
	enum bpf_prog_type type;
	enum bpf_attach_type attach;
	const char *btf_name;		/* NULL: libbpf_probe_bpf_prog_type() */
	int btf_kind;
} prog_probes[NT_FEAT_PROG_MAX] = {
#define PLAIN(n, t)	{ .name = n, .type = t }
#define ATTACH(n, t, a)	{ .name = n, .type = t, .attach = a }
#define BTF(n, t, a, b, k) \
	{ .name = n, .type = t, .attach = a, .btf_name = b, .btf_kind = k }
	[NT_FEAT_PROG_CGROUP_SOCK_ADDR] = PLAIN("cgroup_sock_addr",
						BPF_PROG_TYPE_CGROUP_SOCK_ADDR),
	[NT_FEAT_PROG_CGROUP_SOCK] = PLAIN("cgroup_sock", BPF_PROG_TYPE_CGROUP_SOCK),
	[NT_FEAT_PROG_SOCK_OPS] = PLAIN("sock_ops", BPF_PROG_TYPE_SOCK_OPS),
	[NT_FEAT_PROG_SK_LOOKUP] = PLAIN("sk_lookup", BPF_PROG_TYPE_SK_LOOKUP),
	[NT_FEAT_PROG_SK_MSG] = PLAIN("sk_msg", BPF_PROG_TYPE_SK_MSG),
	[NT_FEAT_PROG_RAW_TRACEPOINT] = PLAIN("raw_tracepoint",
					      BPF_PROG_TYPE_RAW_TRACEPOINT),
	[NT_FEAT_PROG_TRACEPOINT] = PLAIN("tracepoint",
					  BPF_PROG_TYPE_TRACEPOINT),
	[NT_FEAT_PROG_TP_BTF] = BTF("tp_btf", BPF_PROG_TYPE_TRACING,
				    BPF_TRACE_RAW_TP,
				    "btf_trace_sched_process_exec",
				    BTF_KIND_TYPEDEF),
	[NT_FEAT_PROG_FENTRY] = BTF("fentry", BPF_PROG_TYPE_TRACING,
				    BPF_TRACE_FENTRY, "bpf_fentry_test1",
				    BTF_KIND_FUNC),
	[NT_FEAT_PROG_LSM] = BTF("lsm", BPF_PROG_TYPE_LSM, BPF_LSM_MAC,
				 "bpf_lsm_file_open", BTF_KIND_FUNC),
	/* libbpf's probe knows no attach type; 6.1 refuses this one. */
	[NT_FEAT_PROG_CGROUP_UNIX_CONNECT] = ATTACH("cgroup_unix_connect",
						    BPF_PROG_TYPE_CGROUP_SOCK_ADDR,
						    NT_ATTACH_CGROUP_UNIX_CONNECT),
#undef PLAIN
#undef ATTACH
#undef BTF
};

static const struct map_probe {
	const char *name;
	enum bpf_map_type type;
} map_probes[NT_FEAT_MAP_MAX] = {
	[NT_FEAT_MAP_HASH] = { "hash", BPF_MAP_TYPE_HASH },
	[NT_FEAT_MAP_LRU_HASH] = { "lru_hash", BPF_MAP_TYPE_LRU_HASH },
	[NT_FEAT_MAP_RINGBUF] = { "ringbuf", BPF_MAP_TYPE_RINGBUF },
	[NT_FEAT_MAP_SOCKMAP] = { "sockmap", BPF_MAP_TYPE_SOCKMAP },
	[NT_FEAT_MAP_SOCKHASH] = { "sockhash", BPF_MAP_TYPE_SOCKHASH },
	[NT_FEAT_MAP_SK_STORAGE] = { "sk_storage", BPF_MAP_TYPE_SK_STORAGE },
	[NT_FEAT_MAP_HASH_OF_MAPS] = { "hash_of_maps", BPF_MAP_TYPE_HASH_OF_MAPS },
	[NT_FEAT_MAP_LPM_TRIE] = { "lpm_trie", BPF_MAP_TYPE_LPM_TRIE },
};

static const struct helper_probe {
	enum nt_feat_prog prog;
	const char *name;
	enum bpf_func_id id;
} helper_probes[NT_FEAT_HELPER_MAX] = {
	[NT_FEAT_HELPER_TASK_BTF_SOCK_ADDR] = {
		NT_FEAT_PROG_CGROUP_SOCK_ADDR, "bpf_get_current_task_btf",
		BPF_FUNC_get_current_task_btf },
	[NT_FEAT_HELPER_ANCESTOR_CGROUP_SOCK_ADDR] = {
		NT_FEAT_PROG_CGROUP_SOCK_ADDR,
		"bpf_get_current_ancestor_cgroup_id",
		BPF_FUNC_get_current_ancestor_cgroup_id },
	[NT_FEAT_HELPER_SK_ASSIGN_SK_LOOKUP] = {
		NT_FEAT_PROG_SK_LOOKUP, "bpf_sk_assign", BPF_FUNC_sk_assign },
	[NT_FEAT_HELPER_TASK_BTF_SOCK_OPS] = {
		NT_FEAT_PROG_SOCK_OPS, "bpf_get_current_task_btf",
		BPF_FUNC_get_current_task_btf },
	[NT_FEAT_HELPER_SEND_SIGNAL_TRACEPOINT] = {
		NT_FEAT_PROG_TRACEPOINT, "bpf_send_signal",
		BPF_FUNC_send_signal },
};

const char *features__prog_name(enum nt_feat_prog p)
{
	return p < NT_FEAT_PROG_MAX ? prog_probes[p].name : "unknown";
}

const char *features__map_name(enum nt_feat_map m)
{
	return m < NT_FEAT_MAP_MAX ? map_probes[m].name : "unknown";
}

const char *features__helper_name(enum nt_feat_helper h, enum nt_feat_prog *prog)
{
	if (h >= NT_FEAT_HELPER_MAX)
		return "unknown";
	*prog = helper_probes[h].prog;
	return helper_probes[h].name;
}

static libbpf_print_fn_t saved_print;

/* Refusals are what probes are for: keep libbpf's warnings about them
 * from users unless they asked for debug output. */
static int probe_print(enum libbpf_print_level level, const char *fmt,
		       va_list ap)
{
	if (!features_debug || !saved_print)
		return 0;
	return saved_print(level, fmt, ap);
}

/*
 * libbpf's probes answer 1 or 0 and drop the load's errno; it is still in
 * errno when they answer 0, as nothing after the failed bpf() call sets it.
 * Clear it first so a stale value is never reported.
 */
static void record_probe(struct nt_feature *out, int ret)
{
	int err = errno;

	if (ret == 1) {
		out->available = true;
		return;
	}
	out->err = ret < 0 ? -ret : err;
}

/* r0 = 0; exit: the least a program can be. */
static const struct bpf_insn ret0[] = {
	{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0 },
	{ .code = BPF_JMP | BPF_EXIT },
};

/* Loads @p with its expected attach type (and BTF target, if any). */
static void probe_load(struct nt_feature *out, const struct prog_probe *p,
		       int attach_btf_id)
{
	LIBBPF_OPTS(bpf_prog_load_opts, opts,
		.expected_attach_type = p->attach,
		.attach_btf_id = attach_btf_id,
	);
	int fd;

	fd = bpf_prog_load(p->type, NULL, "GPL", ret0, ARRAY_SIZE(ret0), &opts);
	if (fd < 0) {
		out->err = -fd;
		return;
	}
	close(fd);
	out->available = true;
}

static void probe_btf_prog(struct nt_feature *out, const struct prog_probe *p,
			   const struct btf *vmlinux, int btf_err)
{
	int id;

	if (!vmlinux) {
		out->err = btf_err;
		return;
	}
	/* ENOENT here: this kernel has no such hook to attach to. */
	id = btf__find_by_name_kind(vmlinux, p->btf_name, p->btf_kind);
	if (id < 0) {
		out->err = -id;
		return;
	}
	probe_load(out, p, id);
}

static void probe_one(struct nt_feature *out, const struct prog_probe *p,
		      const struct btf *vmlinux, int btf_err)
{
	int ret;

	memset(out, 0, sizeof(*out));
	if (p->btf_name) {
		probe_btf_prog(out, p, vmlinux, btf_err);
	} else if (p->attach) {
		/* a plain type with an expected attach type */
		probe_load(out, p, 0);
	} else {
		errno = 0;
		ret = libbpf_probe_bpf_prog_type(p->type, NULL);
		record_probe(out, ret);
	}
}

void features__probe_prog(enum nt_feat_prog p, struct nt_feature *out)
{
	struct btf *vmlinux = NULL;
	int btf_err = 0;

	if (p >= NT_FEAT_PROG_MAX) {
		*out = (struct nt_feature){ .err = EINVAL };
		return;
	}
	if (prog_probes[p].btf_name) {
		vmlinux = btf__load_vmlinux_btf();
		btf_err = vmlinux ? 0 : errno;
	}
	probe_one(out, &prog_probes[p], vmlinux, btf_err);
	btf__free(vmlinux);
}

static void probe_progs(struct nt_features *f)
{
	struct btf *vmlinux;
	int btf_err, i;

	vmlinux = btf__load_vmlinux_btf();
	btf_err = vmlinux ? 0 : errno;
	for (i = 0; i < NT_FEAT_PROG_MAX; i++)
		probe_one(&f->progs[i], &prog_probes[i], vmlinux, btf_err);
	btf__free(vmlinux);
}

static void probe_maps(struct nt_features *f)
{
	int i, ret;

	for (i = 0; i < NT_FEAT_MAP_MAX; i++) {
		errno = 0;
		ret = libbpf_probe_bpf_map_type(map_probes[i].type, NULL);
		record_probe(&f->maps[i], ret);
	}
}

static void probe_helpers(struct nt_features *f)
{
	const struct helper_probe *h;
	int i, ret;

	for (i = 0; i < NT_FEAT_HELPER_MAX; i++) {
		h = &helper_probes[i];
		errno = 0;
		ret = libbpf_probe_bpf_helper(prog_probes[h->prog].type, h->id,
					      NULL);
		record_probe(&f->helpers[i], ret);
	}
}

/*
 * A TCP pair on loopback. connect() returning means the client end is
 * ESTABLISHED (the listener's backlog completed the handshake): no
 * accept() needed.
 */
static int loopback_pair(int *lfd, int *cfd)
{
	struct sockaddr_in sa = {
		.sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	socklen_t len = sizeof(sa);
	int err;

	*cfd = -1;
	*lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*lfd < 0)
		return -errno;
	if (bind(*lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(*lfd, 1) ||
	    getsockname(*lfd, (struct sockaddr *)&sa, &len))
		goto fail;
	*cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*cfd < 0 || connect(*cfd, (struct sockaddr *)&sa, sizeof(sa)))
		goto fail;
	return 0;
fail:
	err = -errno;
	if (*cfd >= 0)
		close(*cfd);
	close(*lfd);
	return err;
}

/* TCP_ULP needs an ESTABLISHED socket. Without CONFIG_TLS the kernel finds
 * no "tls" ULP: ENOENT. */
static int ktls_try(void)
{
	int lfd, cfd, err = loopback_pair(&lfd, &cfd);

	if (err)
		return err;
	if (setsockopt(cfd, SOL_TCP, TCP_ULP, "tls", 3))
		err = -errno;
	close(cfd);
	close(lfd);
	return err;
}

/* The sock_diag name of an AF_INET socket: its 4-tuple and cookie. */
static int diag_id(int fd, struct inet_diag_sockid *id)
{
	struct sockaddr_in local, peer;
	socklen_t llen = sizeof(local), plen = sizeof(peer);
	socklen_t clen = sizeof(uint64_t);
	uint64_t cookie;

	if (getsockname(fd, (struct sockaddr *)&local, &llen) ||
	    getpeername(fd, (struct sockaddr *)&peer, &plen) ||
	    getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &clen))
		return -errno;
	memset(id, 0, sizeof(*id));
	id->idiag_sport = local.sin_port;
	id->idiag_dport = peer.sin_port;
	id->idiag_src[0] = local.sin_addr.s_addr;
	id->idiag_dst[0] = peer.sin_addr.s_addr;
	/* sock_diag_save_cookie(): low half first */
	id->idiag_cookie[0] = (uint32_t)cookie;
	id->idiag_cookie[1] = (uint32_t)(cookie >> 32);
	return 0;
}

/*
 * Destroys the client end of a loopback pair the way nametagd destroys a
 * workload's socket. Without CONFIG_INET_DIAG_DESTROY: EOPNOTSUPP; without
 * inet_diag at all the netlink socket is refused (EPROTONOSUPPORT).
 */
static int sock_destroy_try(void)
{
	struct inet_diag_sockid id;
	int lfd, cfd, nlfd = -1, err = loopback_pair(&lfd, &cfd);

	if (err)
		return err;
	err = diag_id(cfd, &id);
	if (!err) {
		nlfd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC,
			      NETLINK_SOCK_DIAG);
		err = nlfd < 0 ? -errno : sock_diag__set_timeout(nlfd);
	}
	if (!err)
		err = sock_diag__destroy(nlfd, AF_INET, &id);
	if (nlfd >= 0)
		close(nlfd);
	close(cfd);
	close(lfd);
	return err;
}

static void probe_sock_destroy(struct nt_features *f)
{
	int err = sock_destroy_try();

	f->sock_destroy.available = !err;
	f->sock_destroy.err = -err;
}

static void probe_ktls(struct nt_features *f)
{
	int err = ktls_try();

	f->ktls.available = !err;
	f->ktls.err = -err;
	f->tls_stat = !access(FEATURES_TLS_STAT, F_OK);
}

static void probe_fs(struct nt_features *f, const char *bpffs_dir)
{
	struct statfs sfs;
	int ret;

	snprintf(f->bpffs_dir, sizeof(f->bpffs_dir), "%s", bpffs_dir);
	if (statfs(bpffs_dir, &sfs))
		f->bpffs.err = errno;
	else
		/* err 0 and not available: some other file system */
		f->bpffs.available = sfs.f_type == BPF_FS_MAGIC;

	ret = cgroup2__mount_point(f->cgroup2_path, sizeof(f->cgroup2_path));
	f->cgroup2.available = !ret;
	f->cgroup2.err = -ret;

	if (access(FEATURES_VMLINUX_BTF, R_OK))
		f->vmlinux_btf.err = errno;
	else
		f->vmlinux_btf.available = true;
}

int features__probe(struct nt_features *f, const char *bpffs_dir)
{
	struct utsname u;

	memset(f, 0, sizeof(*f));
	if (uname(&u))
		return -errno;
	snprintf(f->kernel_release, sizeof(f->kernel_release), "%s",
		 u.release);

	saved_print = libbpf_set_print(probe_print);
	probe_progs(f);
	probe_maps(f);
	probe_helpers(f);
	libbpf_set_print(saved_print);

	probe_ktls(f);
	probe_sock_destroy(f);
	probe_fs(f, bpffs_dir);
	return 0;
}
