// SPDX-License-Identifier: Apache-2.0
/*
 * The entries of nametag's maps decoded with the structs of bpf/nametag.h,
 * for `nametag map dump`; a map whose layout this build does not know is
 * shown in hex.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf/nametag.h"
#include "tools/main.h"

/* u64 as a raw JSON number: a double would round ids and nanoseconds
 * past 2^53. */
#define add_u64 json__add_u64

static void add_mode(cJSON *o, __u32 mode)
{
	char buf[24];

	if (mode <= NT_MODE_STRICT) {
		cJSON_AddStringToObject(o, "mode", mode__name(mode));
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
	char buf[NT_ADDR_TEXT_MAX];

	nt_addr__format(a, buf, sizeof(buf));
	cJSON_AddStringToObject(o, key, buf);
}

static void add_flags(cJSON *o, const char *key, __u32 flags,
		      const char *const names[], int count)
{
	cJSON *arr = cJSON_AddArrayToObject(o, key);
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

/* The image: its file, version and exec record, flat in @o. */
static void add_exe(cJSON *o, const struct nt_exe *x)
{
	static const char *const flags[] = { "version", "at_exec", "named" };

	add_u64(o, "exe_ino", x->ino);
	add_dev(o, "exe_dev", x->dev);
	add_u64(o, "exe_ctime_sec", (__u64)x->ctime_sec);
	cJSON_AddNumberToObject(o, "exe_ctime_nsec", x->ctime_nsec);
	add_u64(o, "exe_size", (__u64)x->size);
	cJSON_AddNumberToObject(o, "exec_tgid", x->exec_tgid);
	add_u64(o, "exec_ktime", x->exec_ktime);
	add_flags(o, "exe_flags", x->flags, flags, 3);
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
	add_exe(o, &ev->exe);
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
	add_flags(o, "flags", v->flags, flags, 2);
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
	add_flags(o, "flags", l->flags, flags, 1);
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
	add_flags(o, "flags", p->flags, flags, 1);
	return o;
}

static cJSON *procs_json(const void *key, const void *value)
{
	const struct nt_proc *p = value;
	cJSON *o = cJSON_CreateObject();

	cJSON_AddNumberToObject(o, "tgid", *(const __u32 *)key);
	cJSON_AddNumberToObject(o, "ppid", p->ppid);
	add_u64(o, "start_boottime", p->start_boottime);
	add_u64(o, "cgroup_id", p->cgroup_id);
	add_exe(o, &p->exe);
	return o;
}

static cJSON *exec_names_json(const void *key, const void *value)
{
	const struct nt_exec_key *k = key;
	const struct nt_exec_name *n = value;
	cJSON *o = cJSON_CreateObject();
	char buf[NT_EXE_NAME_MAX];
	size_t i;

	cJSON_AddNumberToObject(o, "exec_tgid", k->tgid);
	add_u64(o, "exec_ktime", k->ktime);
	/* The name is the workload's to choose, like comm. */
	for (i = 0; i + 1 < sizeof(buf) && n->path[i]; i++)
		buf[i] = isprint((unsigned char)n->path[i]) ? n->path[i] : '?';
	buf[i] = '\0';
	cJSON_AddStringToObject(o, "name", buf);
	return o;
}

static const struct map_decoder decoders[] = {
	{ "ns_mode", sizeof(__u64), sizeof(struct nt_ns_value), ns_mode_json },
	{ "sock_by_tuple", sizeof(struct nt_tuple),
	  sizeof(struct nt_sock_value), sock_by_tuple_json },
	{ "listeners", sizeof(__u32), sizeof(__u32), listeners_json },
	{ "tickets", sizeof(struct nt_ticket_key), sizeof(__u64), tickets_json },
	{ "egress", sizeof(struct nt_egress_key), sizeof(__u32), egress_json },
	{ "proxies", sizeof(__u32), sizeof(struct nt_proxy), proxies_json },
	{ "procs", sizeof(__u32), sizeof(struct nt_proc), procs_json },
	{ "exec_names", sizeof(struct nt_exec_key), sizeof(struct nt_exec_name),
	  exec_names_json },
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

cJSON *map__hex_json(const void *key, __u32 key_size, const void *value,
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

/* A decoder, when the map's layout is the one this build knows. */
const struct map_decoder *map__decoder(const char *name,
				       const struct bpf_map_info *info)
{
	const struct map_decoder *d;

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
