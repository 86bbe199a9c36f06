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
#include <linux/magic.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "userspace/shared_features.h"
#include "userspace/shared_sockdiag.h"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

#define VMLINUX_BTF	"/sys/kernel/btf/vmlinux"
#define TLS_STAT	"/proc/net/tls_stat"

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
#undef PLAIN
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

static void probe_btf_prog(struct nt_feature *out, const struct prog_probe *p,
			   const struct btf *vmlinux, int btf_err)
{
	LIBBPF_OPTS(bpf_prog_load_opts, opts,
		.expected_attach_type = p->attach,
	);
	int id, fd;

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
	opts.attach_btf_id = id;
	fd = bpf_prog_load(p->type, NULL, "GPL", ret0, ARRAY_SIZE(ret0), &opts);
	if (fd < 0) {
		out->err = -fd;
		return;
	}
	close(fd);
	out->available = true;
}

static void probe_progs(struct nt_features *f)
{
	struct btf *vmlinux;
	int btf_err, i, ret;

	vmlinux = btf__load_vmlinux_btf();
	btf_err = vmlinux ? 0 : errno;
	for (i = 0; i < NT_FEAT_PROG_MAX; i++) {
		if (prog_probes[i].btf_name) {
			probe_btf_prog(&f->progs[i], &prog_probes[i], vmlinux,
				       btf_err);
			continue;
		}
		errno = 0;
		ret = libbpf_probe_bpf_prog_type(prog_probes[i].type, NULL);
		record_probe(&f->progs[i], ret);
	}
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
	f->tls_stat = !access(TLS_STAT, F_OK);
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

	if (access(VMLINUX_BTF, R_OK))
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

/* "EPERM", or "errno 4242" for one glibc does not name. */
static const char *err_name(int err, char *buf, size_t size)
{
	const char *name = strerrorname_np(err);

	if (name)
		return name;
	snprintf(buf, size, "errno %d", err);
	return buf;
}

static cJSON *feature_json(const struct nt_feature *ft)
{
	cJSON *o = cJSON_CreateObject();
	char buf[32];

	cJSON_AddBoolToObject(o, "available", ft->available);
	if (!ft->available && ft->err)
		cJSON_AddStringToObject(o, "error",
					err_name(ft->err, buf, sizeof(buf)));
	return o;
}

/* As feature_json() with a "path" member. */
static cJSON *path_json(const struct nt_feature *ft, const char *path)
{
	cJSON *o = feature_json(ft);

	if (path[0])
		cJSON_AddStringToObject(o, "path", path);
	return o;
}

static cJSON *helpers_json(const struct nt_features *f)
{
	const struct helper_probe *h;
	const char *prog;
	cJSON *o = cJSON_CreateObject(), *per;
	int i;

	/* {"cgroup_sock_addr": {"bpf_get_current_task_btf": {...}}} */
	for (i = 0; i < NT_FEAT_HELPER_MAX; i++) {
		h = &helper_probes[i];
		prog = prog_probes[h->prog].name;
		per = cJSON_GetObjectItem(o, prog);
		if (!per)
			per = cJSON_AddObjectToObject(o, prog);
		cJSON_AddItemToObject(per, h->name,
				      feature_json(&f->helpers[i]));
	}
	return o;
}

cJSON *features__json(const struct nt_features *f)
{
	cJSON *o = cJSON_CreateObject(), *sub;
	int i;

	cJSON_AddStringToObject(o, "kernel_release", f->kernel_release);
	sub = cJSON_AddObjectToObject(o, "program_types");
	for (i = 0; i < NT_FEAT_PROG_MAX; i++)
		cJSON_AddItemToObject(sub, prog_probes[i].name,
				      feature_json(&f->progs[i]));
	sub = cJSON_AddObjectToObject(o, "map_types");
	for (i = 0; i < NT_FEAT_MAP_MAX; i++)
		cJSON_AddItemToObject(sub, map_probes[i].name,
				      feature_json(&f->maps[i]));
	cJSON_AddItemToObject(o, "helpers", helpers_json(f));
	sub = feature_json(&f->ktls);
	cJSON_AddBoolToObject(sub, "tls_stat", f->tls_stat);
	cJSON_AddItemToObject(o, "ktls", sub);
	cJSON_AddItemToObject(o, "sock_destroy", feature_json(&f->sock_destroy));
	cJSON_AddItemToObject(o, "bpffs", path_json(&f->bpffs, f->bpffs_dir));
	cJSON_AddItemToObject(o, "cgroup2",
			      path_json(&f->cgroup2, f->cgroup2_path));
	cJSON_AddItemToObject(o, "vmlinux_btf",
			      path_json(&f->vmlinux_btf, VMLINUX_BTF));
	return o;
}

/* "WHAT is available" or "WHAT is NOT available (EPERM)" */
static void print_feature(FILE *out, const struct nt_feature *ft,
			  const char *what)
{
	char buf[32];

	if (ft->available)
		fprintf(out, "%s is available\n", what);
	else if (ft->err)
		fprintf(out, "%s is NOT available (%s)\n", what,
			err_name(ft->err, buf, sizeof(buf)));
	else
		fprintf(out, "%s is NOT available\n", what);
}

static void print_system(const struct nt_features *f, FILE *out)
{
	char buf[32];

	fprintf(out, "Scanning system configuration...\n");
	fprintf(out, "kernel release is %s\n", f->kernel_release);
	if (f->bpffs.available)
		fprintf(out, "bpffs is mounted at %s\n", f->bpffs_dir);
	else if (f->bpffs.err)
		fprintf(out, "bpffs is NOT mounted at %s (%s)\n", f->bpffs_dir,
			err_name(f->bpffs.err, buf, sizeof(buf)));
	else
		fprintf(out, "bpffs is NOT mounted at %s (another file system is)\n",
			f->bpffs_dir);
	if (f->cgroup2.available)
		fprintf(out, "cgroup v2 is mounted at %s\n", f->cgroup2_path);
	else
		print_feature(out, &f->cgroup2, "cgroup v2");
	print_feature(out, &f->vmlinux_btf, "vmlinux BTF (" VMLINUX_BTF ")");
}

void features__print(const struct nt_features *f, FILE *out)
{
	const struct helper_probe *h;
	char what[128];
	int i;

	print_system(f, out);
	fprintf(out, "\nScanning eBPF program types...\n");
	for (i = 0; i < NT_FEAT_PROG_MAX; i++) {
		snprintf(what, sizeof(what), "%s program type",
			 prog_probes[i].name);
		print_feature(out, &f->progs[i], what);
	}
	fprintf(out, "\nScanning eBPF map types...\n");
	for (i = 0; i < NT_FEAT_MAP_MAX; i++) {
		snprintf(what, sizeof(what), "%s map type", map_probes[i].name);
		print_feature(out, &f->maps[i], what);
	}
	fprintf(out, "\nScanning eBPF helper functions...\n");
	for (i = 0; i < NT_FEAT_HELPER_MAX; i++) {
		h = &helper_probes[i];
		snprintf(what, sizeof(what), "%s in %s programs", h->name,
			 prog_probes[h->prog].name);
		print_feature(out, &f->helpers[i], what);
	}
	fprintf(out, "\nScanning kernel TLS...\n");
	print_feature(out, &f->ktls, "kTLS (TCP_ULP \"tls\")");
	fprintf(out, "%s is %s\n", TLS_STAT,
		f->tls_stat ? "present" : "absent");
	fprintf(out, "\nScanning socket diagnostics...\n");
	print_feature(out, &f->sock_destroy,
		      "sock_diag SOCK_DESTROY (CONFIG_INET_DIAG_DESTROY)");
}

/* mountinfo writes space, tab, newline and backslash as \ooo. */
static int unescape_octal(const char *src, char *dst, size_t size)
{
	size_t n = 0;
	char c;

	while ((c = *src++)) {
		if (c == '\\' && src[0] >= '0' && src[0] <= '3' &&
		    src[1] >= '0' && src[1] <= '7' &&
		    src[2] >= '0' && src[2] <= '7') {
			c = (src[0] - '0') << 6 | (src[1] - '0') << 3 |
			    (src[2] - '0');
			src += 3;
		}
		if (n + 1 >= size)
			return -ENAMETOOLONG;
		dst[n++] = c;
	}
	dst[n] = '\0';
	return 0;
}

/*
 * ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE
 * SUPEROPTIONS (proc(5)). Returns the still-escaped mount point of a
 * cgroup2 line, or NULL.
 */
static char *mountinfo_cgroup2(char *line)
{
	char *save, *tok, *mnt = NULL;
	int i = 0;

	for (tok = strtok_r(line, " \n", &save); tok;
	     tok = strtok_r(NULL, " \n", &save), i++) {
		if (i == 4)
			mnt = tok;
		if (i > 5 && !strcmp(tok, "-")) {
			tok = strtok_r(NULL, " \n", &save);
			return tok && !strcmp(tok, "cgroup2") ? mnt : NULL;
		}
	}
	return NULL;
}

int cgroup2__mount_point(char *buf, size_t size)
{
	char *line = NULL, *mnt;
	size_t cap = 0;
	int ret = -ENOENT;
	FILE *fp;

	fp = fopen("/proc/self/mountinfo", "re");
	if (!fp)
		return -errno;
	while (getline(&line, &cap, fp) > 0) {
		mnt = mountinfo_cgroup2(line);
		if (mnt) {
			ret = unescape_octal(mnt, buf, size);
			break;
		}
	}
	if (ret == -ENOENT && ferror(fp))
		ret = -EIO;
	free(line);
	fclose(fp);
	return ret;
}
