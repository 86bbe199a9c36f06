// SPDX-License-Identifier: Apache-2.0
/*
 * nametag prog: nametag's pinned programs (BPFFS/nametag/progs) and the
 * links that attach them (BPFFS/nametag/links). Also the pin helpers the
 * map command shares.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf/nametag.h"
#include "tools/main.h"

#define MAX_MAP_IDS	64

int pin_path(char *buf, size_t size, const char *sub, const char *name)
{
	int n;

	if (name)
		n = snprintf(buf, size, "%s/%s/%s/%s", bpffs_dir, NT_PIN_DIR,
			     sub, name);
	else
		n = snprintf(buf, size, "%s/%s/%s", bpffs_dir, NT_PIN_DIR, sub);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int open_pinned(const char *path, enum pin_kind kind)
{
	static const char *const inodes[] = {
		[PIN_PROG] = "bpf-prog",
		[PIN_MAP] = "bpf-map",
		[PIN_LINK] = "bpf-link",
	};
	static const char anon[] = "anon_inode:";
	char proc[32], target[64], *c;
	ssize_t n;
	int fd, err;

	fd = bpf_obj_get(path);
	if (fd < 0)
		return fd;
	/* bpf_obj_get() opens whatever is pinned there; the fd's anonymous
	 * inode tells a program from a map or a link. */
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	n = readlink(proc, target, sizeof(target) - 1);
	if (n < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	target[n] = '\0';
	if (strncmp(target, anon, sizeof(anon) - 1))
		goto wrong_kind;
	/* Kernels have spelled the link inode both bpf_link and bpf-link. */
	for (c = target + sizeof(anon) - 1; *c; c++)
		if (*c == '_')
			*c = '-';
	if (strcmp(target + sizeof(anon) - 1, inodes[kind]))
		goto wrong_kind;
	return fd;
wrong_kind:
	close(fd);
	return -EMEDIUMTYPE;
}

static int not_dot(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

int pin_foreach(const char *dir, pin_fn fn, void *data)
{
	struct dirent **names;
	char path[PATH_MAX];
	int i, n, ret = 0;

	n = scandir(dir, &names, not_dot, alphasort);
	if (n < 0)
		return -errno;
	for (i = 0; i < n && !ret; i++) {
		if (snprintf(path, sizeof(path), "%s/%s", dir,
			     names[i]->d_name) >= (int)sizeof(path))
			ret = -ENAMETOOLONG;
		else
			ret = fn(path, names[i]->d_name, data);
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return ret;
}

cJSON *pin_error_json(const char *path, int err)
{
	cJSON *o = cJSON_CreateObject();
	const char *why = err == -EMEDIUMTYPE ? "not a BPF object of this kind" :
			  strerror(-err);

	cJSON_AddStringToObject(o, "pinned", path);
	cJSON_AddStringToObject(o, "error", why);
	return o;
}

/* Program load times count from boot, in CLOCK_BOOTTIME nanoseconds. */
static time_t boot_to_wall(__u64 boot_ns)
{
	struct timespec real, boot;
	long long wall;

	if (clock_gettime(CLOCK_REALTIME, &real) ||
	    clock_gettime(CLOCK_BOOTTIME, &boot))
		return 0;
	wall = (real.tv_sec - boot.tv_sec) * 1000000000LL +
	       (real.tv_nsec - boot.tv_nsec) + (long long)boot_ns;
	return wall / 1000000000LL;
}

/* A second pass for the ids, as the first told how many there are. */
static void add_map_ids(cJSON *o, int fd, __u32 nr)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info), ids[MAX_MAP_IDS], i;
	cJSON *arr;

	if (nr > ARRAY_SIZE(ids))
		nr = ARRAY_SIZE(ids);
	info.nr_map_ids = nr;
	info.map_ids = (__u64)(unsigned long)ids;
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return;
	arr = cJSON_AddArrayToObject(o, "map_ids");
	for (i = 0; i < info.nr_map_ids && i < nr; i++)
		cJSON_AddItemToArray(arr, cJSON_CreateNumber(ids[i]));
}

static cJSON *prog_json(int fd, const char *pinned)
{
	char tag[BPF_TAG_SIZE * 2 + 1], when[32];
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);
	const char *type;
	cJSON *o;
	int i, err;

	err = bpf_obj_get_info_by_fd(fd, &info, &len);
	if (err)
		return pin_error_json(pinned ? pinned : "", err);
	type = libbpf_bpf_prog_type_str(info.type);
	for (i = 0; i < BPF_TAG_SIZE; i++)
		snprintf(tag + 2 * i, 3, "%02x", info.tag[i]);
	time__iso8601(boot_to_wall(info.load_time), when, sizeof(when));
	o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "id", info.id);
	cJSON_AddStringToObject(o, "type", type ? type : "unknown");
	cJSON_AddStringToObject(o, "name", info.name);
	cJSON_AddStringToObject(o, "tag", tag);
	cJSON_AddBoolToObject(o, "gpl_compatible", info.gpl_compatible);
	cJSON_AddStringToObject(o, "loaded_at", when);
	cJSON_AddNumberToObject(o, "uid", info.created_by_uid);
	cJSON_AddNumberToObject(o, "bytes_xlated", info.xlated_prog_len);
	cJSON_AddNumberToObject(o, "bytes_jited", info.jited_prog_len);
	/* Counted only while the kernel.bpf_stats_enabled sysctl is on. */
	if (info.run_cnt || info.run_time_ns) {
		cJSON_AddNumberToObject(o, "run_cnt", (double)info.run_cnt);
		cJSON_AddNumberToObject(o, "run_time_ns",
					(double)info.run_time_ns);
	}
	if (info.btf_id)
		cJSON_AddNumberToObject(o, "btf_id", info.btf_id);
	add_map_ids(o, fd, info.nr_map_ids);
	if (pinned)
		cJSON_AddStringToObject(o, "pinned", pinned);
	else
		cJSON_AddNullToObject(o, "pinned");
	cJSON_AddArrayToObject(o, "links");
	return o;
}

static void add_attach_type(cJSON *o, __u32 attach_type)
{
	const char *s = libbpf_bpf_attach_type_str(attach_type);

	if (s)
		cJSON_AddStringToObject(o, "attach_type", s);
	else
		cJSON_AddNumberToObject(o, "attach_type", attach_type);
}

/* What the link is attached to: a cgroup, a netns, a kernel function. */
static void add_link_target(cJSON *o, int fd, struct bpf_link_info *info)
{
	__u32 len = sizeof(*info);
	char tp[128];

	switch (info->type) {
	case BPF_LINK_TYPE_CGROUP:
		cJSON_AddNumberToObject(o, "cgroup_id",
					(double)info->cgroup.cgroup_id);
		add_attach_type(o, info->cgroup.attach_type);
		break;
	case BPF_LINK_TYPE_NETNS:
		cJSON_AddNumberToObject(o, "netns_ino", info->netns.netns_ino);
		add_attach_type(o, info->netns.attach_type);
		break;
	case BPF_LINK_TYPE_TRACING:
		add_attach_type(o, info->tracing.attach_type);
		cJSON_AddNumberToObject(o, "target_btf_id",
					info->tracing.target_btf_id);
		break;
	case BPF_LINK_TYPE_RAW_TRACEPOINT:
		/* The name needs a buffer: ask again with one. */
		memset(info, 0, sizeof(*info));
		info->raw_tracepoint.tp_name = (__u64)(unsigned long)tp;
		info->raw_tracepoint.tp_name_len = sizeof(tp);
		if (!bpf_obj_get_info_by_fd(fd, info, &len))
			cJSON_AddStringToObject(o, "tp_name", tp);
		break;
	default:
		break;
	}
}

static cJSON *link_json(int fd, const char *pinned)
{
	struct bpf_link_info info = {};
	__u32 len = sizeof(info);
	const char *type;
	cJSON *o;
	int err;

	err = bpf_obj_get_info_by_fd(fd, &info, &len);
	if (err)
		return pin_error_json(pinned, err);
	type = libbpf_bpf_link_type_str(info.type);
	o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "id", info.id);
	cJSON_AddStringToObject(o, "type", type ? type : "unknown");
	cJSON_AddNumberToObject(o, "prog_id", info.prog_id);
	add_link_target(o, fd, &info);
	cJSON_AddStringToObject(o, "pinned", pinned);
	return o;
}

static int add_pinned(const char *path, const char *name, void *data,
		      enum pin_kind kind)
{
	cJSON *arr = data;
	int fd;

	fd = open_pinned(path, kind);
	if (fd < 0) {
		cJSON_AddItemToArray(arr, pin_error_json(path, fd));
		return 0;
	}
	cJSON_AddItemToArray(arr, kind == PIN_PROG ? prog_json(fd, path) :
				  link_json(fd, path));
	close(fd);
	return 0;
}

static int add_prog(const char *path, const char *name, void *data)
{
	return add_pinned(path, name, data, PIN_PROG);
}

static int add_link(const char *path, const char *name, void *data)
{
	return add_pinned(path, name, data, PIN_LINK);
}

static double num(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItem(o, key);

	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static cJSON *find_prog(cJSON *progs, double id)
{
	cJSON *p;

	cJSON_ArrayForEach(p, progs)
		if (cJSON_GetObjectItem(p, "id") && num(p, "id") == id)
			return p;
	return NULL;
}

/* A program reached only through a link, such as a per-netns sk_lookup
 * instance, which has no pin of its own. */
static cJSON *prog_by_id(__u32 id)
{
	cJSON *o;
	int fd;

	fd = bpf_prog_get_fd_by_id(id);
	if (fd < 0) {
		o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "id", id);
		cJSON_AddStringToObject(o, "error", strerror(-fd));
		cJSON_AddArrayToObject(o, "links");
		return o;
	}
	o = prog_json(fd, NULL);
	close(fd);
	return o;
}

/* Moves each link into the "links" of the program it attaches. */
static void attach_links(cJSON *progs, cJSON *links)
{
	cJSON *l, *p, *next;

	for (l = links->child; l; l = next) {
		next = l->next;
		if (!cJSON_GetObjectItem(l, "prog_id"))
			continue;	/* an unreadable pin: reported apart */
		p = find_prog(progs, num(l, "prog_id"));
		if (!p) {
			p = prog_by_id((__u32)num(l, "prog_id"));
			cJSON_AddItemToArray(progs, p);
		}
		cJSON_AddItemToArray(cJSON_GetObjectItem(p, "links"),
				     cJSON_DetachItemViaPointer(links, l));
	}
}

static void print_extra(const cJSON *o, const char *const skip[])
{
	const cJSON *v;
	int i;

	cJSON_ArrayForEach(v, o) {
		for (i = 0; skip[i] && strcmp(skip[i], v->string); i++)
			;
		if (skip[i])
			continue;
		if (cJSON_IsString(v))
			printf("  %s %s", v->string, v->valuestring);
		else if (cJSON_IsNumber(v))
			printf("  %s %.0f", v->string, v->valuedouble);
	}
}

static void print_link_plain(const cJSON *l)
{
	static const char *const skip[] = { "id", "type", "prog_id", "pinned",
					    NULL };

	printf("\tlink %.0f: %s", num(l, "id"),
	       cJSON_GetObjectItem(l, "type")->valuestring);
	print_extra(l, skip);
	printf("  pinned %s\n", cJSON_GetObjectItem(l, "pinned")->valuestring);
}

/* A pin that could not be read, or a linked program we may not open. */
static void print_unreadable_plain(const cJSON *p)
{
	const cJSON *pinned = cJSON_GetObjectItem(p, "pinned");

	if (cJSON_IsString(pinned))
		printf("%s: ", pinned->valuestring);
	else
		printf("%.0f: ", num(p, "id"));
	printf("%s\n", cJSON_GetObjectItem(p, "error")->valuestring);
}

static void print_prog_plain(const cJSON *p)
{
	const cJSON *v, *pinned = cJSON_GetObjectItem(p, "pinned");
	const char *sep = "  map_ids ";

	printf("%.0f: %s  name %s  tag %s%s\n", num(p, "id"),
	       cJSON_GetObjectItem(p, "type")->valuestring,
	       cJSON_GetObjectItem(p, "name")->valuestring,
	       cJSON_GetObjectItem(p, "tag")->valuestring,
	       cJSON_IsTrue(cJSON_GetObjectItem(p, "gpl_compatible")) ?
	       "  gpl" : "");
	printf("\tloaded_at %s  uid %.0f\n",
	       cJSON_GetObjectItem(p, "loaded_at")->valuestring, num(p, "uid"));
	printf("\txlated %.0fB  jited %.0fB", num(p, "bytes_xlated"),
	       num(p, "bytes_jited"));
	cJSON_ArrayForEach(v, cJSON_GetObjectItem(p, "map_ids")) {
		printf("%s%.0f", sep, v->valuedouble);
		sep = ",";
	}
	printf("\n");
	if (cJSON_GetObjectItem(p, "run_cnt"))
		printf("\trun_time_ns %.0f  run_cnt %.0f\n",
		       num(p, "run_time_ns"), num(p, "run_cnt"));
	printf("\tpinned %s\n", cJSON_IsString(pinned) ? pinned->valuestring :
	       "(only through its links)");
}

/* The pinned programs, each with the pinned links that attach it. */
static int collect(cJSON *progs)
{
	char progs_dir[PATH_MAX], links_dir[PATH_MAX];
	cJSON *links;
	int ret;

	if (pin_path(progs_dir, sizeof(progs_dir), "progs", NULL) ||
	    pin_path(links_dir, sizeof(links_dir), "links", NULL))
		return p_err("--bpffs path too long");
	ret = pin_foreach(progs_dir, add_prog, progs);
	if (ret == -ENOENT)
		return p_err("no nametag programs pinned under %s: is nametagd running? (--bpffs DIR)",
			     progs_dir);
	if (ret)
		return p_err("failed to list %s: %s", progs_dir, strerror(-ret));
	links = cJSON_CreateArray();
	if (!links)
		return p_err("out of memory");
	/* No links yet is normal: the daemon has loaded, not attached. */
	ret = pin_foreach(links_dir, add_link, links);
	if (ret && ret != -ENOENT) {
		cJSON_Delete(links);
		return p_err("failed to list %s: %s", links_dir, strerror(-ret));
	}
	attach_links(progs, links);
	/* What is left are link pins that could not be read. */
	while (links->child)
		cJSON_AddItemToArray(progs, cJSON_DetachItemViaPointer(links,
							links->child));
	cJSON_Delete(links);
	return 0;
}

static int do_show(int argc, char **argv)
{
	cJSON *progs, *p, *l;

	NO_MORE_ARGS(0);
	progs = cJSON_CreateArray();
	if (!progs)
		return p_err("out of memory");
	if (collect(progs)) {
		cJSON_Delete(progs);
		return -1;
	}
	if (json_output)
		return json_emit(progs);
	cJSON_ArrayForEach(p, progs) {
		if (cJSON_GetObjectItem(p, "error"))
			print_unreadable_plain(p);
		else
			print_prog_plain(p);
		cJSON_ArrayForEach(l, cJSON_GetObjectItem(p, "links"))
			print_link_plain(l);
	}
	cJSON_Delete(progs);
	return 0;
}

static int do_help(int argc, char **argv)
{
	return p_usage(
		"Usage: %s prog { show | list }\n"
		"       %s prog help\n"
		"\n"
		"       Programs pinned under BPFFS/nametag/progs and the links under\n"
		"       BPFFS/nametag/links that attach them (--bpffs BPFFS, default %s).\n",
		bin_name, bin_name, NT_BPFFS_DEFAULT);
}

static const struct cmd cmds[] = {
	{ "show",	do_show },
	{ "list",	do_show },
	{ "help",	do_help },
	{ 0 }
};

int do_prog(int argc, char **argv)
{
	return cmd_select(cmds, argc, argv);
}
