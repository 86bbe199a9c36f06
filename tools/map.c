// SPDX-License-Identifier: Apache-2.0
/*
 * nametag map: nametag's pinned maps (BPFFS/nametag/maps), and their
 * entries decoded with the structs of bpf/nametag.h.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf/nametag.h"
#include "tools/main.h"

static bool is_percpu(__u32 type)
{
	return type == BPF_MAP_TYPE_PERCPU_HASH ||
	       type == BPF_MAP_TYPE_PERCPU_ARRAY ||
	       type == BPF_MAP_TYPE_LRU_PERCPU_HASH ||
	       type == BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE;
}

/* Maps whose keys are the entries present (not every slot of an array). */
static bool has_countable_keys(__u32 type)
{
	return type == BPF_MAP_TYPE_HASH || type == BPF_MAP_TYPE_LRU_HASH ||
	       type == BPF_MAP_TYPE_PERCPU_HASH ||
	       type == BPF_MAP_TYPE_LRU_PERCPU_HASH ||
	       type == BPF_MAP_TYPE_HASH_OF_MAPS ||
	       type == BPF_MAP_TYPE_LPM_TRIE || type == BPF_MAP_TYPE_SOCKHASH;
}

/* Why a map of this type has nothing to dump, or NULL. */
static const char *undumpable(__u32 type)
{
	switch (type) {
	case BPF_MAP_TYPE_RINGBUF:
	case BPF_MAP_TYPE_USER_RINGBUF:
		return "nametagd consumes its records as they arrive";
	case BPF_MAP_TYPE_SOCKMAP:
	case BPF_MAP_TYPE_SOCKHASH:
		return "it holds sockets, not data";
	case BPF_MAP_TYPE_PERF_EVENT_ARRAY:
		return "it holds perf event buffers, not data";
	default:
		return NULL;
	}
}

/* Walks the keys; bounded, as entries may come and go meanwhile. */
static int count_entries(int fd, const struct bpf_map_info *info, __u32 *count)
{
	void *key = calloc(2, info->key_size ? info->key_size : 1);
	void *next = (char *)key + info->key_size;
	int err;

	if (!key)
		return -ENOMEM;
	*count = 0;
	err = bpf_map_get_next_key(fd, NULL, next);
	while (!err && *count < info->max_entries) {
		(*count)++;
		memcpy(key, next, info->key_size);
		err = bpf_map_get_next_key(fd, key, next);
	}
	free(key);
	return err == -ENOENT || !err ? 0 : err;
}

static cJSON *map_json(int fd, const char *pinned)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info), count;
	const char *type;
	cJSON *o;
	int err;

	err = bpf_obj_get_info_by_fd(fd, &info, &len);
	if (err)
		return pin_error_json(pinned, err);
	type = libbpf_bpf_map_type_str(info.type);
	o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "id", info.id);
	cJSON_AddStringToObject(o, "type", type ? type : "unknown");
	cJSON_AddStringToObject(o, "name", info.name);
	cJSON_AddNumberToObject(o, "flags", info.map_flags);
	cJSON_AddNumberToObject(o, "bytes_key", info.key_size);
	cJSON_AddNumberToObject(o, "bytes_value", info.value_size);
	cJSON_AddNumberToObject(o, "max_entries", info.max_entries);
	if (has_countable_keys(info.type) &&
	    !count_entries(fd, &info, &count))
		cJSON_AddNumberToObject(o, "entries", count);
	cJSON_AddStringToObject(o, "pinned", pinned);
	return o;
}

static void print_map_plain(const cJSON *m)
{
	const cJSON *e = cJSON_GetObjectItem(m, "error");

	if (e) {
		printf("%s: %s\n", cJSON_GetObjectItem(m, "pinned")->valuestring,
		       e->valuestring);
		return;
	}
	printf("%d: %s  name %s  flags 0x%x\n",
	       cJSON_GetObjectItem(m, "id")->valueint,
	       cJSON_GetObjectItem(m, "type")->valuestring,
	       cJSON_GetObjectItem(m, "name")->valuestring,
	       (unsigned int)cJSON_GetObjectItem(m, "flags")->valuedouble);
	printf("\tkey %dB  value %dB  max_entries %d",
	       cJSON_GetObjectItem(m, "bytes_key")->valueint,
	       cJSON_GetObjectItem(m, "bytes_value")->valueint,
	       cJSON_GetObjectItem(m, "max_entries")->valueint);
	if (cJSON_GetObjectItem(m, "entries"))
		printf("  entries %d",
		       cJSON_GetObjectItem(m, "entries")->valueint);
	printf("\n\tpinned %s\n", cJSON_GetObjectItem(m, "pinned")->valuestring);
}

static int add_map(const char *path, const char *name, void *data)
{
	cJSON *arr = data;
	int fd;

	fd = open_pinned(path, PIN_MAP);
	if (fd < 0) {
		cJSON_AddItemToArray(arr, pin_error_json(path, fd));
		return 0;
	}
	cJSON_AddItemToArray(arr, map_json(fd, path));
	close(fd);
	return 0;
}

static int no_maps_dir(const char *dir)
{
	return p_err("no nametag maps pinned under %s: is nametagd running? (--bpffs DIR)",
		     dir);
}

static int do_show(int argc, char **argv)
{
	char dir[PATH_MAX];
	cJSON *arr, *m;
	int ret;

	NO_MORE_ARGS(0);
	if (pin_path(dir, sizeof(dir), "maps", NULL))
		return p_err("--bpffs path too long");
	arr = cJSON_CreateArray();
	if (!arr)
		return p_err("out of memory");
	ret = pin_foreach(dir, add_map, arr);
	if (ret) {
		cJSON_Delete(arr);
		if (ret == -ENOENT)
			return no_maps_dir(dir);
		return p_err("failed to list %s: %s", dir, strerror(-ret));
	}
	if (json_output)
		return json_emit(arr);
	cJSON_ArrayForEach(m, arr)
		print_map_plain(m);
	cJSON_Delete(arr);
	return 0;
}

/*
 * Bounded by max_entries: a key deleted between two calls makes
 * get_next_key start over from the first, and the daemon and the LRU keep
 * changing these maps while we read.
 */
static int dump_entries(int fd, const struct bpf_map_info *info,
			const struct map_decoder *dec, cJSON *arr)
{
	__u32 value_size = info->value_size, n;
	void *key, *next, *value;
	int ncpus, err;

	if (is_percpu(info->type)) {
		ncpus = libbpf_num_possible_cpus();
		if (ncpus < 0)
			return ncpus;
		/* one 8-byte aligned slot per possible CPU */
		value_size = ((value_size + 7) & ~7u) * ncpus;
	}
	key = calloc(2, info->key_size);
	value = calloc(1, value_size ? value_size : 1);
	if (!key || !value) {
		err = -ENOMEM;
		goto cleanup;
	}
	next = (char *)key + info->key_size;
	err = bpf_map_get_next_key(fd, NULL, next);
	for (n = 0; !err && n < info->max_entries; n++) {
		memcpy(key, next, info->key_size);
		err = bpf_map_lookup_elem(fd, key, value);
		if (!err)
			cJSON_AddItemToArray(arr, dec ? dec->decode(key, value) :
					     map__hex_json(key, info->key_size,
						      value, value_size));
		else if (err != -ENOENT)	/* ENOENT: gone meanwhile */
			break;
		err = bpf_map_get_next_key(fd, key, next);
	}
	if (err == -ENOENT)
		err = 0;
cleanup:
	free(key);
	free(value);
	return err;
}

static void print_value(const cJSON *v)
{
	const char *sep = "";
	const cJSON *e;

	if (cJSON_IsString(v) || cJSON_IsRaw(v)) {
		fputs(v->valuestring, stdout);
	} else if (cJSON_IsNumber(v)) {
		printf("%.0f", v->valuedouble);
	} else if (cJSON_IsBool(v)) {
		fputs(cJSON_IsTrue(v) ? "true" : "false", stdout);
	} else if (cJSON_IsArray(v) && v->child) {
		cJSON_ArrayForEach(e, v) {
			fputs(sep, stdout);
			print_value(e);
			sep = ",";
		}
	} else {
		fputs("-", stdout);
	}
}

static void print_fields(const cJSON *o, const char *sep)
{
	const cJSON *v;

	cJSON_ArrayForEach(v, o) {
		if (cJSON_IsObject(v))
			continue;
		printf("%s%s ", sep, v->string);
		print_value(v);
		sep = "  ";
	}
}

/* The entry's own fields on one line, then a line per nested object
 * (the evidence), so plain output reads like the JSON. */
static void print_entry_plain(const cJSON *o)
{
	const cJSON *v;

	print_fields(o, "");
	putchar('\n');
	cJSON_ArrayForEach(v, o) {
		if (!cJSON_IsObject(v))
			continue;
		printf("\t%s:", v->string);
		print_fields(v, " ");
		putchar('\n');
	}
}

#define NAMES_MAX 1024

static int add_name(const char *path, const char *name, void *data)
{
	char *names = data;
	size_t len = strlen(names);

	snprintf(names + len, NAMES_MAX - len, "%s%s", len ? ", " : "", name);
	return 0;
}

static int no_such_map(const char *dir, const char *name)
{
	char names[NAMES_MAX] = "";
	int ret;

	ret = pin_foreach(dir, add_name, names);
	if (ret == -ENOENT)
		return no_maps_dir(dir);
	return p_err("no map '%s' pinned under %s; pinned maps: %s", name, dir,
		     names[0] ? names : "none");
}

/* Opens the map pinned as @name, checking it can be dumped. */
static int open_dumpable(const char *name, struct bpf_map_info *info)
{
	char dir[PATH_MAX], path[PATH_MAX];
	__u32 len = sizeof(*info);
	const char *why, *type;
	int fd, err;

	if (pin_path(dir, sizeof(dir), "maps", NULL) ||
	    pin_path(path, sizeof(path), "maps", name))
		return p_err("--bpffs path too long");
	/* a name, never a path out of the maps dir */
	if (!name[0] || name[0] == '.' || strchr(name, '/'))
		return no_such_map(dir, name);
	fd = open_pinned(path, PIN_MAP);
	if (fd == -ENOENT)
		return no_such_map(dir, name);
	if (fd < 0)
		return p_err("failed to open %s: %s", path,
			     fd == -EMEDIUMTYPE ? "not a map" : strerror(-fd));
	err = bpf_obj_get_info_by_fd(fd, info, &len);
	if (err) {
		close(fd);
		return p_err("failed to read map info of %s: %s", path,
			     strerror(-err));
	}
	why = undumpable(info->type);
	if (why || !info->key_size) {
		close(fd);
		type = libbpf_bpf_map_type_str(info->type);
		return p_err("map '%s' is a %s and cannot be dumped: %s", name,
			     type ? type : "map", why ? why : "it has no keys");
	}
	return fd;
}

static int do_dump(int argc, char **argv)
{
	struct bpf_map_info info = {};
	const struct map_decoder *dec;
	cJSON *arr = NULL, *e;
	int fd, ret;

	if (argc != 1)
		return argc ? p_err("unexpected argument '%s'", argv[1]) :
			      p_err("'map dump' needs a map NAME, see 'map list'");
	fd = open_dumpable(argv[0], &info);
	if (fd < 0)
		return -1;
	dec = map__decoder(argv[0], &info);
	arr = cJSON_CreateArray();
	if (!arr) {
		ret = p_err("out of memory");
		goto cleanup;
	}
	ret = dump_entries(fd, &info, dec, arr);
	if (ret) {
		ret = p_err("failed to dump map '%s': %s", argv[0],
			    strerror(-ret));
		goto cleanup;
	}
	if (json_output) {
		ret = json_emit(arr);
		arr = NULL;
		goto cleanup;
	}
	if (!arr->child)
		p_info("map '%s' is empty", argv[0]);
	cJSON_ArrayForEach(e, arr)
		print_entry_plain(e);
cleanup:
	cJSON_Delete(arr);
	close(fd);
	return ret;
}

static int do_help(int argc, char **argv)
{
	return p_usage(
		"Usage: %s map { show | list }\n"
		"       %s map dump NAME\n"
		"       %s map help\n"
		"\n"
		"       Maps pinned under BPFFS/nametag/maps (--bpffs BPFFS, default %s).\n"
		"       NAME := { ns_mode | sock_by_tuple | listeners | tickets | egress |\n"
		"                 proxies | procs | ... } (others are shown in hex;\n"
		"                 ring buffers and socket maps cannot be dumped)\n",
		bin_name, bin_name, bin_name, NT_BPFFS_DEFAULT);
}

static const struct cmd cmds[] = {
	{ "show",	do_show },
	{ "list",	do_show },
	{ "dump",	do_dump },
	{ "help",	do_help },
	{ 0 }
};

int do_map(int argc, char **argv)
{
	return cmd_select(cmds, argc, argv);
}
