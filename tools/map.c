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

struct decoder {
	const char *name;
	__u32 key_size;
	__u32 value_size;
	cJSON *(*decode)(const void *key, const void *value);
};

/* u64 as a raw JSON number: a double would round ids and nanoseconds
 * past 2^53. */
static void add_u64(cJSON *o, const char *key, __u64 v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
	cJSON_AddRawToObject(o, key, buf);
}

static void add_mode(cJSON *o, __u32 mode)
{
	static const char *const names[] = {
		[NT_MODE_OFF] = "off",
		[NT_MODE_OBSERVE] = "observe",
		[NT_MODE_PERMISSIVE] = "permissive",
		[NT_MODE_STRICT] = "strict",
	};
	char buf[24];

	if (mode < sizeof(names) / sizeof(names[0])) {
		cJSON_AddStringToObject(o, "mode", names[mode]);
		return;
	}
	snprintf(buf, sizeof(buf), "unknown(%u)", mode);
	cJSON_AddStringToObject(o, "mode", buf);
}

/* The kernel's s_dev: major in the top 12 bits, minor in the low 20. */
static void add_dev(cJSON *o, const char *key, __u32 dev)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%u:%u", dev >> 20, dev & 0xfffff);
	cJSON_AddStringToObject(o, key, buf);
}

/* IPv4-mapped addresses as a.b.c.d:port, others as [v6]:port. */
static void add_addr(cJSON *o, const char *key, const struct nt_addr *a)
{
	char ip[INET6_ADDRSTRLEN] = "?", buf[INET6_ADDRSTRLEN + 10];

	if (!a->addr[0] && !a->addr[1] && a->addr[2] == htonl(0xffff)) {
		inet_ntop(AF_INET, &a->addr[3], ip, sizeof(ip));
		snprintf(buf, sizeof(buf), "%s:%u", ip, a->port);
	} else {
		inet_ntop(AF_INET6, a->addr, ip, sizeof(ip));
		snprintf(buf, sizeof(buf), "[%s]:%u", ip, a->port);
	}
	cJSON_AddStringToObject(o, key, buf);
}

static void add_flags(cJSON *o, __u32 flags, const char *const names[],
		      int count)
{
	cJSON *arr = cJSON_AddArrayToObject(o, "flags");
	char buf[16];
	int i;

	for (i = 0; i < 32; i++) {
		if (!(flags & (1u << i)))
			continue;
		if (i < count && names[i]) {
			cJSON_AddItemToArray(arr, cJSON_CreateString(names[i]));
		} else {
			snprintf(buf, sizeof(buf), "0x%x", 1u << i);
			cJSON_AddItemToArray(arr, cJSON_CreateString(buf));
		}
	}
}

/* comm is the task's to choose: keep the JSON valid and the terminal sane. */
static void add_comm(cJSON *o, const char comm[16])
{
	char buf[17];
	int i;

	for (i = 0; i < 16 && comm[i]; i++)
		buf[i] = isprint((unsigned char)comm[i]) ? comm[i] : '?';
	buf[i] = '\0';
	cJSON_AddStringToObject(o, "comm", buf);
}

static cJSON *evidence_json(const struct nt_evidence *ev)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddNumberToObject(o, "pid", ev->pid);
	cJSON_AddNumberToObject(o, "tgid", ev->tgid);
	cJSON_AddNumberToObject(o, "uid", ev->uid);
	cJSON_AddNumberToObject(o, "gid", ev->gid);
	add_comm(o, ev->comm);
	add_u64(o, "cgroup_id", ev->cgroup_id);
	add_u64(o, "ns_cgroup_id", ev->ns_cgroup_id);
	add_u64(o, "exe_ino", ev->exe_ino);
	add_dev(o, "exe_dev", ev->exe_dev);
	cJSON_AddNumberToObject(o, "netns_ino", ev->netns_ino);
	add_u64(o, "start_boottime", ev->start_boottime);
	add_mode(o, ev->mode);
	cJSON_AddNumberToObject(o, "ns_id", ev->ns_id);
	return o;
}

/* The value of sock_by_tuple, and a listener's owner. */
static void add_sock_value(cJSON *o, const struct nt_sock_value *v)
{
	static const char *const flags[] = { "redirected", "listener" };

	add_addr(o, "orig_dst", &v->orig_dst);
	add_flags(o, v->flags, flags, 2);
	add_u64(o, "ktime", v->ktime);
	cJSON_AddItemToObject(o, "evidence", evidence_json(&v->ev));
}

static cJSON *ns_mode_json(const void *key, const void *value)
{
	const struct nt_ns_value *v = value;
	cJSON *o = cJSON_CreateObject();

	add_u64(o, "cgroup_id", *(const __u64 *)key);
	add_mode(o, v->mode);
	cJSON_AddNumberToObject(o, "ns_id", v->ns_id);
	return o;
}

static cJSON *sock_by_tuple_json(const void *key, const void *value)
{
	const struct nt_tuple *t = key;
	cJSON *o = cJSON_CreateObject();

	add_addr(o, "src", &t->src);
	add_addr(o, "dst", &t->dst);
	add_sock_value(o, value);
	return o;
}

/* One entry of a namespace's listener table (bpf/nametag.h). */
static cJSON *listener_json(const struct nt_listen_key *k,
			    const struct nt_listener *l)
{
	static const char *const kinds[] = {
		[NT_LKEY_ADDR] = "address", [NT_LKEY_SOCK] = "socket",
		[NT_LKEY_SYNC] = "sock_diag",
	};
	static const char *const flags[] = { "deliverable" };
	cJSON *o = cJSON_CreateObject();
	struct nt_addr a = { .port = k->port };

	cJSON_AddStringToObject(o, "kind", k->kind < 4 && kinds[k->kind] ?
				kinds[k->kind] : "unknown");
	if (k->kind == NT_LKEY_SOCK) {
		add_u64(o, "cookie", l->cookie);
		a = (struct nt_addr){ .port = l->addr.port };
		memcpy(a.addr, l->addr.addr, sizeof(a.addr));
		add_addr(o, "address", &a);
	} else {
		memcpy(a.addr, k->addr, sizeof(a.addr));
		add_addr(o, "address", &a);
		add_u64(o, "cookie", l->cookie);
		if (k->kind == NT_LKEY_ADDR)
			cJSON_AddNumberToObject(o, "sockets", l->count);
	}
	add_flags(o, l->flags, flags, 1);
	cJSON_AddItemToObject(o, "evidence", evidence_json(&l->owner.ev));
	return o;
}

/* listeners holds a table per netns; the value is the table's map id. */
static cJSON *listeners_json(const void *key, const void *value)
{
	struct nt_listen_key k, next, *prev = NULL;
	cJSON *o = cJSON_CreateObject(), *arr;
	__u32 id = *(const __u32 *)value, n = 0;
	struct nt_listener l;
	int fd;

	cJSON_AddNumberToObject(o, "netns_ino", *(const __u32 *)key);
	cJSON_AddNumberToObject(o, "table_id", id);
	arr = cJSON_AddArrayToObject(o, "entries");
	fd = bpf_map_get_fd_by_id(id);
	if (fd < 0) {
		cJSON_AddStringToObject(o, "error", strerror(errno));
		return o;
	}
	while (n++ < 4 * NT_LISTENERS_PER_NETNS &&
	       !bpf_map_get_next_key(fd, prev, &next)) {
		k = next;
		prev = &k;
		if (!bpf_map_lookup_elem(fd, &k, &l))
			cJSON_AddItemToArray(arr, listener_json(&k, &l));
	}
	close(fd);
	return o;
}

static cJSON *tickets_json(const void *key, const void *value)
{
	const struct nt_ticket_key *k = key;
	struct nt_addr src = { .port = k->sport }, dst = { .port = k->dport };
	cJSON *o = cJSON_CreateObject();

	memcpy(src.addr, k->saddr, sizeof(src.addr));
	memcpy(dst.addr, k->daddr, sizeof(dst.addr));
	cJSON_AddNumberToObject(o, "netns_ino", k->netns_ino);
	add_addr(o, "src", &src);
	add_addr(o, "dst", &dst);
	add_u64(o, "cookie", *(const __u64 *)value);
	return o;
}

static cJSON *egress_json(const void *key, const void *value)
{
	const struct nt_egress_key *k = key;
	struct nt_addr a = {};
	cJSON *o = cJSON_CreateObject();
	char buf[16];

	memcpy(a.addr, k->addr, sizeof(a.addr));
	cJSON_AddNumberToObject(o, "ns_id", k->ns_id);
	add_addr(o, "address", &a);
	snprintf(buf, sizeof(buf), "%u", k->prefixlen > NT_EGRESS_KEY_BITS ?
		 k->prefixlen - NT_EGRESS_KEY_BITS : 0);
	cJSON_AddStringToObject(o, "prefix_bits", buf);	/* of the mapped form */
	cJSON_AddNumberToObject(o, "port", k->port);
	cJSON_AddNumberToObject(o, "rule", *(const __u32 *)value);
	return o;
}

static cJSON *proxies_json(const void *key, const void *value)
{
	static const char *const flags[] = { "served" };
	const struct nt_proxy *p = value;
	cJSON *o = cJSON_CreateObject();

	cJSON_AddNumberToObject(o, "netns_ino", *(const __u32 *)key);
	cJSON_AddNumberToObject(o, "slot", p->slot);
	/* port 0: no listener of that family */
	if (p->outbound4.port)
		add_addr(o, "outbound4", &p->outbound4);
	else
		cJSON_AddNullToObject(o, "outbound4");
	if (p->outbound6.port)
		add_addr(o, "outbound6", &p->outbound6);
	else
		cJSON_AddNullToObject(o, "outbound6");
	cJSON_AddNumberToObject(o, "mesh_port", p->mesh_port);
	add_u64(o, "listener_overflow", p->overflow);
	add_flags(o, p->flags, flags, 1);
	return o;
}

static cJSON *procs_json(const void *key, const void *value)
{
	const struct nt_proc *p = value;
	cJSON *o = cJSON_CreateObject();

	cJSON_AddNumberToObject(o, "tgid", *(const __u32 *)key);
	cJSON_AddNumberToObject(o, "ppid", p->ppid);
	add_u64(o, "start_boottime", p->start_boottime);
	add_u64(o, "exe_ino", p->exe_ino);
	add_dev(o, "exe_dev", p->exe_dev);
	add_u64(o, "exec_ktime", p->exec_ktime);
	add_u64(o, "cgroup_id", p->cgroup_id);
	return o;
}

static const struct decoder decoders[] = {
	{ "ns_mode", sizeof(__u64), sizeof(struct nt_ns_value), ns_mode_json },
	{ "sock_by_tuple", sizeof(struct nt_tuple),
	  sizeof(struct nt_sock_value), sock_by_tuple_json },
	{ "listeners", sizeof(__u32), sizeof(__u32), listeners_json },
	{ "tickets", sizeof(struct nt_ticket_key), sizeof(__u64), tickets_json },
	{ "egress", sizeof(struct nt_egress_key), sizeof(__u32), egress_json },
	{ "proxies", sizeof(__u32), sizeof(struct nt_proxy), proxies_json },
	{ "procs", sizeof(__u32), sizeof(struct nt_proc), procs_json },
	{ 0 }
};

static void hex(char *buf, size_t size, const unsigned char *p, __u32 len)
{
	size_t off = 0;
	__u32 i;

	buf[0] = '\0';
	for (i = 0; i < len && off + 4 <= size; i++)
		off += snprintf(buf + off, size - off, i ? " %02x" : "%02x",
				p[i]);
}

static cJSON *hex_json(const void *key, __u32 key_size, const void *value,
		       __u32 value_size)
{
	size_t size = 3 * (key_size > value_size ? key_size : value_size) + 1;
	cJSON *o = cJSON_CreateObject();
	char *buf = malloc(size);

	if (!o || !buf) {
		free(buf);
		return o;
	}
	hex(buf, size, key, key_size);
	cJSON_AddStringToObject(o, "key", buf);
	hex(buf, size, value, value_size);
	cJSON_AddStringToObject(o, "value", buf);
	free(buf);
	return o;
}

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

	if (argc)
		return p_err("unexpected argument '%s'", *argv);
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

/* A decoder, when the map's layout is the one this build knows. */
static const struct decoder *find_decoder(const char *name,
					  const struct bpf_map_info *info)
{
	const struct decoder *d;

	for (d = decoders; d->name; d++) {
		if (strcmp(d->name, name))
			continue;
		if (d->key_size == info->key_size &&
		    d->value_size == info->value_size)
			return d;
		p_info("warning: map '%s' has %uB keys and %uB values, this nametag expects %uB and %uB: showing hex",
		       name, info->key_size, info->value_size, d->key_size,
		       d->value_size);
		return NULL;
	}
	return NULL;
}

/*
 * Bounded by max_entries: a key deleted between two calls makes
 * get_next_key start over from the first, and the daemon and the LRU keep
 * changing these maps while we read.
 */
static int dump_entries(int fd, const struct bpf_map_info *info,
			const struct decoder *dec, cJSON *arr)
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
					     hex_json(key, info->key_size,
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
	const struct decoder *dec;
	cJSON *arr = NULL, *e;
	int fd, ret;

	if (argc != 1)
		return argc ? p_err("unexpected argument '%s'", argv[1]) :
			      p_err("'map dump' needs a map NAME, see 'map list'");
	fd = open_dumpable(argv[0], &info);
	if (fd < 0)
		return -1;
	dec = find_decoder(argv[0], &info);
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
