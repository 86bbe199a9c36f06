// SPDX-License-Identifier: Apache-2.0
/*
 * The BPF datapath: load, pin, attach, and adopt what an earlier nametagd
 * left pinned. Maps and links live under BPFFS/nametag so that a daemon
 * restart (or crash) never detaches enforcement: a new daemon reuses the
 * pinned maps and swaps its programs into the pinned links atomically.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <linux/perf_event.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "userspace/datapath/datapath_int.h"

#define BPF_FS_MAGIC 0xcafe4a11

/* What gets attached, and under which pin name. */
enum attach_kind { ATTACH_CGROUP, ATTACH_TRACING, ATTACH_TRACEPOINT };

struct attach_spec {
	const char *link;
	enum attach_kind kind;
	struct bpf_program *(*prog)(struct nametag_bpf *s);
	const char *lost;	/* NULL: required; else the daemon runs
				 * without it and says what is lost */
};

#define PROG_GETTER(name) \
	static struct bpf_program *get_##name(struct nametag_bpf *s) \
	{ return s->progs.name; }
PROG_GETTER(nt_connect4)
PROG_GETTER(nt_connect6)
PROG_GETTER(nt_sendmsg4)
PROG_GETTER(nt_sendmsg6)
PROG_GETTER(nt_sock_create)
PROG_GETTER(nt_sockops)
PROG_GETTER(nt_exec)
PROG_GETTER(nt_fork)
PROG_GETTER(nt_exit)
PROG_GETTER(nt_sys_socket)
PROG_GETTER(nt_connect_unix)
PROG_GETTER(nt_egress)
PROG_GETTER(nt_ingress)
PROG_GETTER(nt_attach)

#define NO_PACKET_KILL "strict mode cannot stop sockets of families the inet hooks never see (AF_PACKET)"
#define NO_UNIX_EVIDENCE "the Workload API attests callers by SO_PEERCRED and the process table's start time (docs/workload-api.md)"

static const struct attach_spec attach_specs[] = {
	{ "connect4",	ATTACH_CGROUP,	get_nt_connect4, NULL },
	{ "connect6",	ATTACH_CGROUP,	get_nt_connect6, NULL },
	{ "sendmsg4",	ATTACH_CGROUP,	get_nt_sendmsg4, NULL },
	{ "sendmsg6",	ATTACH_CGROUP,	get_nt_sendmsg6, NULL },
	{ "sock_create", ATTACH_CGROUP,	get_nt_sock_create, NULL },
	{ "sockops",	ATTACH_CGROUP,	get_nt_sockops, NULL },
	{ "egress",	ATTACH_CGROUP,	get_nt_egress, NULL },
	{ "ingress",	ATTACH_CGROUP,	get_nt_ingress, NULL },
	{ "exec",	ATTACH_TRACING,	get_nt_exec, NULL },
	{ "fork",	ATTACH_TRACING,	get_nt_fork, NULL },
	{ "exit",	ATTACH_TRACING,	get_nt_exit, NULL },
	{ "cgroup_attach", ATTACH_TRACING, get_nt_attach, NULL },
	{ "socket_family", ATTACH_TRACEPOINT, get_nt_sys_socket, NO_PACKET_KILL },
	{ "connect_unix", ATTACH_CGROUP, get_nt_connect_unix, NO_UNIX_EVIDENCE },
};
_Static_assert(ARRAY_SIZE(attach_specs) <= DP_MAX_LINKS,
	       "datapath links");

static int mkdir_p(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	char *p;

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	for (p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) && errno != EEXIST)
		return -errno;
	return 0;
}

/* bpffs is not mounted on every machine (it is not on ours): mount it. */
static int ensure_bpffs(const char *dir, struct nt_err *err)
{
	struct statfs st;
	int ret;

	if (!statfs(dir, &st) && st.f_type == BPF_FS_MAGIC)
		return 0;
	ret = mkdir_p(dir, 0700);
	if (ret)
		return nt_err_set(err, ret, "failed to create %s: %s", dir,
				  strerror(-ret));
	if (mount("bpf", dir, "bpf", 0, "mode=0700"))
		return nt_err_set(err, -errno, "failed to mount bpffs at %s: %s",
				  dir, strerror(errno));
	pr_info("mounted bpffs at %s", dir);
	return 0;
}

int pin_path(char *buf, size_t size, const struct datapath *dp,
		    const char *kind, const char *name)
{
	if (snprintf(buf, size, "%s/%s/%s", dp->pin, kind, name) >= (int)size)
		return -ENAMETOOLONG;
	return 0;
}

static int set_map_pins(struct datapath *dp)
{
	char path[PATH_MAX];
	struct bpf_map *map;
	int ret;

	bpf_object__for_each_map(map, dp->skel->obj) {
		if (bpf_map__is_internal(map))
			continue;
		ret = pin_path(path, sizeof(path), dp, "maps",
			       bpf_map__name(map));
		if (!ret)
			ret = bpf_map__set_pin_path(map, path);
		if (ret)
			return ret;
	}
	return 0;
}

static int pin_programs(struct datapath *dp, struct nt_err *err)
{
	char path[PATH_MAX];
	struct bpf_program *prog;
	int ret;

	bpf_object__for_each_program(prog, dp->skel->obj) {
		if (!bpf_program__autoload(prog))
			continue;
		ret = pin_path(path, sizeof(path), dp, "progs",
			       bpf_program__name(prog));
		if (ret)
			return nt_err_set(err, ret, "pin path too long");
		/* A pinned program is only for inspection; the new one
		 * replaces it. */
		if (unlink(path) && errno != ENOENT)
			return nt_err_set(err, -errno, "failed to unpin %s: %s",
					  path, strerror(errno));
		ret = bpf_program__pin(prog, path);
		if (ret)
			return nt_err_set(err, ret, "failed to pin %s: %s", path,
					  strerror(-ret));
	}
	return 0;
}

/* Is the pinned cgroup link attached where this daemon manages? */
static bool link_on_cgroup(struct bpf_link *link, uint64_t cgroup_id)
{
	struct bpf_link_info info = {};
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(bpf_link__fd(link), &info, &len))
		return false;
	return info.type == BPF_LINK_TYPE_CGROUP &&
	       info.cgroup.cgroup_id == cgroup_id;
}

/*
 * Adopt a cgroup link left pinned by an earlier daemon: swap the new
 * program in atomically, so no connect() ever runs unhooked. Returns NULL
 * when there is nothing to adopt.
 */
static struct bpf_link *adopt_cgroup_link(struct datapath *dp,
					  struct bpf_program *prog,
					  const char *path)
{
	struct bpf_link *link;

	if (access(path, F_OK))
		return NULL;	/* first start: nothing pinned */
	link = bpf_link__open(path);
	if (!link)
		return NULL;
	if (!link_on_cgroup(link, dp->cgroup_id) ||
	    bpf_link__update_program(link, prog)) {
		pr_warn("pinned link %s belongs elsewhere or cannot be updated; replacing it",
			path);
		bpf_link__unpin(link);
		bpf_link__destroy(link);
		return NULL;
	}
	pr_debug("adopted pinned link %s", path);
	return link;
}

/* The id of tracepoint @cat/@name, from tracefs: the mounted one, else a
 * private mount made for the read and removed after it (nametagd leaves
 * the machine's mounts as it found them). */
static int tracepoint_id(const char *cat, const char *name)
{
	static const char *const roots[] = { "/sys/kernel/tracing",
					     "/sys/kernel/debug/tracing" };
	char dir[] = "/tmp/nametag-tracefs-XXXXXX", path[PATH_MAX];
	bool mounted = false;
	int id = -ENOENT;
	size_t i;
	FILE *f;

	for (i = 0; i <= ARRAY_SIZE(roots); i++) {
		const char *root = i < ARRAY_SIZE(roots) ?
				   roots[i] : NULL;

		if (!root) {
			if (!mkdtemp(dir))
				return -errno;
			if (mount("tracefs", dir, "tracefs", 0, NULL)) {
				id = -errno;
				rmdir(dir);
				return id;
			}
			mounted = true;
			root = dir;
		}
		snprintf(path, sizeof(path), "%s/events/%s/%s/id", root, cat, name);
		f = fopen(path, "re");
		if (!f)
			continue;
		if (fscanf(f, "%d", &id) != 1)
			id = -EINVAL;
		fclose(f);
		break;
	}
	if (mounted) {
		umount2(dir, MNT_DETACH);
		rmdir(dir);
	}
	return id;
}

static struct bpf_link *attach_tracepoint(struct bpf_program *prog,
					  const char *cat, const char *name)
{
	struct perf_event_attr attr = { .type = PERF_TYPE_TRACEPOINT,
					.size = sizeof(attr), .sample_period = 1,
					.wakeup_events = 1 };
	struct bpf_link *link;
	int id = tracepoint_id(cat, name), pfd;

	if (id < 0) {
		errno = -id;
		return NULL;
	}
	attr.config = id;
	pfd = syscall(__NR_perf_event_open, &attr, -1, 0, -1,
		      PERF_FLAG_FD_CLOEXEC);
	if (pfd < 0)
		return NULL;
	link = bpf_program__attach_perf_event(prog, pfd);
	if (!link) {
		int e = errno;

		close(pfd);
		errno = e;
	}
	return link;
}

static int attach_one(struct datapath *dp, const struct attach_spec *spec,
		      struct nt_err *err)
{
	struct bpf_program *prog = spec->prog(dp->skel);
	struct bpf_link *link = NULL, *old = NULL;
	char path[PATH_MAX];
	int ret;

	ret = pin_path(path, sizeof(path), dp, "links", spec->link);
	if (ret)
		return nt_err_set(err, ret, "pin path too long");
	if (bpf_program__fd(prog) < 0) {
		/* Not loaded: this kernel lacks the hook (said at load). A
		 * link an older kernel's daemon pinned cannot exist. */
		unlink(path);
		return 0;
	}
	if (spec->kind == ATTACH_CGROUP) {
		link = adopt_cgroup_link(dp, prog, path);
		if (!link)
			link = bpf_program__attach_cgroup(prog, dp->cgroup_fd);
	} else {
		/* Tracing and perf links cannot swap programs: attach the
		 * new one first, then drop the old, so there is no gap. */
		old = access(path, F_OK) ? NULL : bpf_link__open(path);
		link = spec->kind == ATTACH_TRACING ? bpf_program__attach(prog) :
		       attach_tracepoint(prog, "syscalls", "sys_enter_socket");
	}
	if (!link) {
		ret = -errno;
		bpf_link__destroy(old);
		if (spec->lost) {
			pr_warn("failed to attach %s: %s: %s", spec->link,
				strerror(-ret), spec->lost);
			return 0;
		}
		return nt_err_set(err, ret, "failed to attach %s: %s%s",
				  spec->link, strerror(-ret),
				  ret == -EPERM ? " (not root, or lockdown?)" : "");
	}
	if (old) {
		bpf_link__unpin(old);
		bpf_link__destroy(old);
	}
	if (!bpf_link__pin_path(link)) {
		ret = bpf_link__pin(link, path);
		if (ret) {
			bpf_link__destroy(link);
			return nt_err_set(err, ret, "failed to pin link %s: %s",
					  path, strerror(-ret));
		}
	}
	dp->links[dp->nlinks++] = link;
	return 0;
}

static int make_pin_dirs(struct datapath *dp, const char *bpffs,
			 struct nt_err *err)
{
	static const char *const sub[] = { "", "/maps", "/progs", "/links" };
	char path[PATH_MAX];
	size_t i;
	int ret;

	if (snprintf(dp->pin, sizeof(dp->pin), "%s/%s", bpffs, NT_PIN_DIR) >=
	    (int)sizeof(dp->pin))
		return nt_err_set(err, -ENAMETOOLONG, "bpffs path too long");
	for (i = 0; i < ARRAY_SIZE(sub); i++) {
		snprintf(path, sizeof(path), "%s%s", dp->pin, sub[i]);
		ret = mkdir_p(path, 0700);
		if (ret)
			return nt_err_set(err, ret, "failed to create %s: %s",
					  path, strerror(-ret));
	}
	return 0;
}

/* The per-netns maps follow the limits; a pinned map of another size is
 * refused by libbpf ("run nametagd --cleanup"). The listener tables keep
 * the size compiled into their template: libbpf 1.1 cannot resize an
 * inner map definition. */
static int size_maps(struct datapath *dp)
{
	int ret;

	ret = bpf_map__set_max_entries(dp->skel->maps.proxies, dp->max_netns);
	if (!ret)
		ret = bpf_map__set_max_entries(dp->skel->maps.proxy_socks,
					       dp->max_netns * NT_PSOCK_MAX);
	if (!ret)
		ret = bpf_map__set_max_entries(dp->skel->maps.listeners,
					       dp->max_netns);
	if (!ret)
		ret = bpf_map__set_max_entries(dp->skel->maps.netns_want,
					       dp->max_netns);
	return ret;
}

/*
 * The unix connect hook (6.7+) takes the Workload API's caller evidence at
 * connect(). libbpf 1.1 reads its section as connect4: give it its real
 * attach type, or leave it unloaded where the kernel has no such hook.
 */
static int unix_hook_choose(struct datapath *dp)
{
	struct bpf_program *prog = dp->skel->progs.nt_connect_unix;
	struct nt_feature f;

	features__probe_prog(NT_FEAT_PROG_CGROUP_UNIX_CONNECT, &f);
	/* The fallback's live test on kernels that have the hook. */
	if (f.available && getenv("NAMETAG_NO_UNIX_HOOK")) {
		pr_warn("NAMETAG_NO_UNIX_HOOK is set: the unix connect hook is not loaded: %s",
			NO_UNIX_EVIDENCE);
		f.available = false;
	} else if (!f.available) {
		pr_warn("this kernel has no cgroup unix connect hook (6.7+): %s",
			NO_UNIX_EVIDENCE);
	}
	dp->unix_hook = f.available;
	if (!f.available)
		return bpf_program__set_autoload(prog, false);
	return bpf_program__set_expected_attach_type(prog,
			(enum bpf_attach_type)NT_ATTACH_CGROUP_UNIX_CONNECT);
}

/* CONFIG_HZ (bpf/serve.bpf.h) is a weak Kconfig extern, yet libbpf fails
 * the load when no kernel config is readable (Debian's under qemu): then
 * it is given 0, which the program reads as unknown (1000). */
static const char *kconfig_fallback(void)
{
	struct utsname u;
	char path[128];

	if (!access("/proc/config.gz", R_OK))
		return NULL;
	if (!uname(&u)) {
		snprintf(path, sizeof(path), "/boot/config-%s", u.release);
		if (!access(path, R_OK))
			return NULL;
	}
	return "CONFIG_HZ=0\n";
}

static int load(struct datapath *dp, struct nt_err *err)
{
	int ret;

	dp->skel = nametag_bpf__open_opts(&(struct bpf_object_open_opts){
		.sz = sizeof(struct bpf_object_open_opts),
		.kconfig = kconfig_fallback(),
	});
	if (!dp->skel)
		return nt_err_set(err, -errno, "failed to open the BPF object: %s",
				  strerror(errno));
	ret = size_maps(dp);
	if (ret)
		return nt_err_set(err, ret, "failed to size the BPF maps");
	ret = set_map_pins(dp);
	if (ret)
		return nt_err_set(err, ret, "failed to set map pin paths");
	ret = unix_hook_choose(dp);
	if (ret)
		return nt_err_set(err, ret, "failed to set up the unix connect hook");
	/* libbpf reuses a pinned map when it is compatible and pins new
	 * ones, so a restarted daemon keeps every enrollment and socket. */
	ret = nametag_bpf__load(dp->skel);
	if (ret)
		return nt_err_set(err, ret,
				  "failed to load BPF programs: %s (pinned maps from another nametag version, or of another --max-netns? run 'nametagd --cleanup'; -d shows the verifier log)",
				  strerror(-ret));
	return pin_programs(dp, err);
}

int datapath__open(struct datapath **out, const char *cgroup_root,
		   uint64_t cgroup_id, const char *bpffs,
		   const struct dp_limits *lim, struct nt_err *err)
{
	struct datapath *dp;
	size_t i;
	int ret;

	dp = calloc(1, sizeof(*dp));
	if (!dp)
		return nt_err_set(err, -ENOMEM, "out of memory");
	dp->cgroup_fd = -1;
	/* Generations differ from an earlier daemon's, whose proxy sockets
	 * died with it. */
	if (getrandom(&dp->proxy_gen, sizeof(dp->proxy_gen), 0) !=
	    sizeof(dp->proxy_gen))
		dp->proxy_gen = (uint32_t)time(NULL);
	dp->max_netns = lim && lim->max_netns ? lim->max_netns : NT_MAX_NETNS;
	dp->listeners_per_netns = lim && lim->listeners_per_netns ?
				  lim->listeners_per_netns : NT_LISTENERS_PER_NETNS;
	dp->netns = calloc(dp->max_netns, sizeof(*dp->netns));
	if (!dp->netns) {
		free(dp);
		return nt_err_set(err, -ENOMEM, "out of memory");
	}
	for (i = 0; i < dp->max_netns; i++)
		dp->netns[i].table_fd = -1;
	ret = ensure_bpffs(bpffs, err);
	if (!ret)
		ret = make_pin_dirs(dp, bpffs, err);
	if (!ret)
		ret = load(dp, err);
	if (ret)
		goto fail;
	dp->cgroup_id = cgroup_id;
	dp->cgroup_fd = open(cgroup_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dp->cgroup_fd < 0) {
		ret = nt_err_set(err, -errno, "failed to open %s: %s", cgroup_root,
				 strerror(errno));
		goto fail;
	}
	for (i = 0; i < ARRAY_SIZE(attach_specs); i++) {
		ret = attach_one(dp, &attach_specs[i], err);
		if (ret)
			goto fail;
	}
	*out = dp;
	return 0;
fail:
	datapath__close(dp);
	return ret;
}

/* Drops this process's handles; pinned links and maps stay in force. */
void datapath__close(struct datapath *dp)
{
	size_t i;

	if (!dp)
		return;
	ring_buffer__free(dp->rb);
	for (i = 0; i < dp->nlinks; i++)
		bpf_link__destroy(dp->links[i]);
	for (i = 0; dp->netns && i < dp->max_netns; i++)
		if (dp->netns[i].table_fd >= 0)
			close(dp->netns[i].table_fd);
	free(dp->netns);
	if (dp->cgroup_fd >= 0)
		close(dp->cgroup_fd);
	nametag_bpf__destroy(dp->skel);
	free(dp);
}

static int unlink_dir(const char *dir)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int ret = 0;

	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >=
		    (int)sizeof(path))
			continue;
		if (unlink(path) && !ret)
			ret = -errno;
	}
	closedir(d);
	if (rmdir(dir) && errno != ENOENT && !ret)
		ret = -errno;
	return ret;
}

/* `nametagd --cleanup`: unpinning the links detaches every program. */
int datapath__cleanup(const char *bpffs, struct nt_err *err)
{
	static const char *const sub[] = { "links", "progs", "maps", "" };
	char path[PATH_MAX];
	size_t i;
	int ret;

	for (i = 0; i < ARRAY_SIZE(sub); i++) {
		snprintf(path, sizeof(path), "%s/%s/%s", bpffs, NT_PIN_DIR,
			 sub[i]);
		ret = unlink_dir(path);
		if (ret)
			return nt_err_set(err, ret, "failed to remove %s: %s",
					  path, strerror(-ret));
	}
	return 0;
}

int datapath__set_ns(struct datapath *dp, uint64_t cgroup_id,
		     const struct nt_ns_value *v)
{
	int fd = bpf_map__fd(dp->skel->maps.ns_mode);

	return bpf_map_update_elem(fd, &cgroup_id, v, BPF_ANY) ? -errno : 0;
}

int datapath__del_ns(struct datapath *dp, uint64_t cgroup_id)
{
	int fd = bpf_map__fd(dp->skel->maps.ns_mode);

	if (bpf_map_delete_elem(fd, &cgroup_id) && errno != ENOENT)
		return -errno;
	return 0;
}

size_t datapath__ns_ids(const struct datapath *dp, uint64_t *ids, size_t max)
{
	int fd = bpf_map__fd(dp->skel->maps.ns_mode);
	uint64_t key, *prev = NULL;
	size_t n = 0;

	while (n < max && !bpf_map_get_next_key(fd, prev, &key)) {
		ids[n] = key;
		prev = &ids[n++];
	}
	return n;
}

/*
 * The evidence of a redirected connection, taken: each is used once, so a
 * client that closed before the proxy accepted (the entry outlives it,
 * NT_SOCK_CLOSED) leaves nothing for a later connection on the same tuple.
 * Evidence made for an earlier set of proxy sockets (gen) is stale: its
 * connection died with those sockets. A held connect (NT_SOCK_HELD) was
 * queued on no proxy socket: its SYN reaches whichever set serves the
 * netns once it is served, so no generation applies to it.
 */
int datapath__take_sock_by_tuple(struct datapath *dp, const struct nt_tuple *t,
				 struct nt_sock_value *v)
{
	int fd = bpf_map__fd(dp->skel->maps.sock_by_tuple);
	struct nt_proxy p;

	if (bpf_map_lookup_elem(fd, t, v))
		return -errno;
	bpf_map_delete_elem(fd, t);
	if ((v->flags & NT_SOCK_REDIRECTED) && !(v->flags & NT_SOCK_HELD) &&
	    (bpf_map_lookup_elem(bpf_map__fd(dp->skel->maps.proxies),
				 &v->ev.netns_ino, &p) || p.gen != v->proxy_gen))
		return -ENOENT;
	return 0;
}

int datapath__proc(const struct datapath *dp, uint32_t tgid, struct nt_proc *p)
{
	return bpf_map_lookup_elem(bpf_map__fd(dp->skel->maps.procs), &tgid,
				   p) ? -errno : 0;
}

int datapath__exec_name(const struct datapath *dp, const struct nt_exe *x,
			char *buf, size_t size)
{
	struct nt_exec_key k = { .tgid = x->exec_tgid, .ktime = x->exec_ktime };
	struct nt_exec_name n;

	if (!(x->flags & NT_EXE_NAMED))
		return -ENOENT;
	if (bpf_map_lookup_elem(bpf_map__fd(dp->skel->maps.exec_names), &k, &n))
		return -errno;
	n.path[sizeof(n.path) - 1] = '\0';
	if (snprintf(buf, size, "%s", n.path) >= (int)size)
		return -ENAMETOOLONG;
	return 0;
}

/*
 * The plaintext destinations strict namespaces may send datagrams to:
 * @keys replaces the egress trie. New entries go in before stale ones go,
 * so no destination both sets allow is refused meanwhile.
 */
int datapath__set_egress(struct datapath *dp, const struct nt_egress_key *keys,
			 size_t n)
{
	int fd = bpf_map__fd(dp->skel->maps.egress);
	struct nt_egress_key k, next, *prev = NULL, *stale;
	size_t i, nstale = 0, steps = 0;
	__u32 rule;
	int ret = 0;

	for (i = 0; i < n; i++) {
		rule = i;
		if (bpf_map_update_elem(fd, &keys[i], &rule, BPF_ANY))
			return -errno;
	}
	stale = calloc(NT_MAX_EGRESS, sizeof(*stale));
	if (!stale)
		return -ENOMEM;
	while (steps++ < 2 * NT_MAX_EGRESS && nstale < NT_MAX_EGRESS &&
	       !bpf_map_get_next_key(fd, prev, &next)) {
		k = next;
		prev = &k;
		for (i = 0; i < n; i++)
			if (!memcmp(&keys[i], &k, sizeof(k)))
				break;
		if (i == n)
			stale[nstale++] = k;
	}
	for (i = 0; i < nstale; i++)
		if (bpf_map_delete_elem(fd, &stale[i]) && errno != ENOENT && !ret)
			ret = -errno;
	free(stale);
	return ret;
}
