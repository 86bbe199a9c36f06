// SPDX-License-Identifier: Apache-2.0
/*
 * Workloads: kernel evidence -> selectors -> SPIFFE ID -> SVID, and the
 * listing of the processes of enrolled namespaces. A flow's identity comes
 * only from evidence the BPF programs captured at the syscall; the listing
 * also shows processes that have not connected yet, from the kernel's
 * process table (exec-time exe) when it has them.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "userspace/daemon.h"
#include "userspace/log.h"

#define WALK_DEPTH	16
#define LIST_MAX	4096

static void to_attest(const struct nt_evidence *ev, struct attest_evidence *a)
{
	a->pid = ev->pid;
	a->tgid = ev->tgid;
	a->uid = ev->uid;
	a->gid = ev->gid;
	a->cgroup_id = ev->cgroup_id;
	a->ns_cgroup_id = ev->ns_cgroup_id;
	a->exe_ino = ev->exe_ino;
	a->exe_dev = ev->exe_dev;
	a->netns_ino = ev->netns_ino;
	a->start_boottime = ev->start_boottime;
}

static void add_selectors(cJSON *out, const struct attest_result *res)
{
	char buf[ATTEST_TYPE_MAX + ATTEST_VALUE_MAX + 2];
	cJSON *arr = cJSON_AddArrayToObject(out, "selectors");
	size_t i;

	for (i = 0; i < res->nselectors; i++) {
		selector__format(&res->selectors[i], buf, sizeof(buf));
		cJSON_AddItemToArray(arr, cJSON_CreateString(buf));
	}
}

static void add_svid(cJSON *out, const struct spiffe_id *id)
{
	struct nt_err err = {};
	const struct svid *s;
	char serial[80], na[32];
	time_t not_after = 0;
	struct tm tm;
	cJSON *o;

	s = svid_cache__get(nd->svids, id, &err);
	if (!s) {
		cJSON_AddStringToObject(out, "svid_error", err.msg);
		return;
	}
	x509__serial_hex(s->leaf, serial, sizeof(serial));
	x509__validity(s->leaf, NULL, &not_after);
	gmtime_r(&not_after, &tm);
	strftime(na, sizeof(na), "%Y-%m-%dT%H:%M:%SZ", &tm);
	o = cJSON_AddObjectToObject(out, "svid");
	cJSON_AddStringToObject(o, "serial", serial);
	cJSON_AddStringToObject(o, "not_after", na);
}

static int resolve_uncached(const struct nt_evidence *ev, cJSON *out,
			    struct spiffe_id *id, struct nt_err *err)
{
	struct attest_ns ans = { .trust_domain = node_ca__trust_domain(nd->ca) };
	const struct attest_entry *entry = NULL;
	struct attest_evidence aev = {};
	struct attest_result *res;
	struct ns *n;
	int ret;

	n = ns_table__by_cgroup(nd->ns, ev->ns_cgroup_id);
	if (!n)
		return nt_err_set(err, -ENOENT, "cgroup %llu is in no namespace",
				  (unsigned long long)ev->ns_cgroup_id);
	ans.name = n->name;
	ans.cgroup_id = n->cgroup_id;
	ans.id_template = n->template[0] ? n->template : NULL;
	res = calloc(1, sizeof(*res));
	if (!res)
		return nt_err_set(err, -ENOMEM, "out of memory");
	to_attest(ev, &aev);
	ret = attest__selectors(nd->attest, &aev, &ans, res, err);
	if (ret)
		goto out;
	cJSON_AddNumberToObject(out, "pid", ev->tgid);
	cJSON_AddNumberToObject(out, "uid", ev->uid);
	cJSON_AddNumberToObject(out, "gid", ev->gid);
	cJSON_AddStringToObject(out, "comm", ev->comm);
	cJSON_AddStringToObject(out, "exe", res->exe_path);
	/* The path as the process's own mount namespace names it; when it
	 * is not the file that ran, say so beside it. */
	if (res->path_skipped[0])
		cJSON_AddStringToObject(out, "path_skipped", res->path_skipped);
	cJSON_AddStringToObject(out, "sha256", res->sha256);
	if (res->sha256_skipped[0])
		cJSON_AddStringToObject(out, "sha256_skipped", res->sha256_skipped);
	cJSON_AddStringToObject(out, "cgroup", res->cgroup_path);
	cJSON_AddStringToObject(out, "namespace", n->name);
	cJSON_AddStringToObject(out, "mode", mode__name(n->mode));
	add_selectors(out, res);
	ret = attest__identity(nd->entries, &ans, res, id, &entry, err);
	if (ret) {
		cJSON_AddStringToObject(out, "identity_error", err->msg);
		goto out;
	}
	cJSON_AddStringToObject(out, "spiffe_id", id->str);
	cJSON_AddStringToObject(out, "identity_from",
				entry ? "entry" : "template");
out:
	free(res);
	return ret;
}

/*
 * Attestation reads /proc, hashes the exe (itself cached) and matches the
 * registry: worth doing once per process image, not once per connection.
 * The key holds everything the identity derives from, so an exec (new exe
 * inode), a recycled pid (new start time) or a setuid (new uid) misses.
 * Entries live IDCACHE_TTL seconds and die at once when the registry or a
 * namespace changes (workload__invalidate).
 */
#define IDCACHE_SIZE	1024
#define IDCACHE_TTL	10

struct idkey {
	uint32_t tgid, uid, gid, exe_dev, netns_ino, pad;
	uint64_t start_boottime, exe_ino, cgroup_id, ns_cgroup_id;
};

struct idcache_ent {
	struct idkey key;
	uint64_t gen;
	time_t at;
	struct spiffe_id id;
	cJSON *info;
};

static struct idcache_ent idcache[IDCACHE_SIZE];
static uint64_t idcache_gen = 1;

void workload__invalidate(void)
{
	idcache_gen++;
}

static void key_of(const struct nt_evidence *ev, struct idkey *k)
{
	memset(k, 0, sizeof(*k));
	k->tgid = ev->tgid;
	k->uid = ev->uid;
	k->gid = ev->gid;
	k->exe_dev = ev->exe_dev;
	k->netns_ino = ev->netns_ino;
	k->start_boottime = ev->start_boottime;
	k->exe_ino = ev->exe_ino;
	k->cgroup_id = ev->cgroup_id;
	k->ns_cgroup_id = ev->ns_cgroup_id;
}

static struct idcache_ent *slot_of(const struct idkey *k)
{
	const unsigned char *p = (const unsigned char *)k;
	uint64_t h = 1469598103934665603ull;	/* FNV-1a */
	size_t i;

	for (i = 0; i < sizeof(*k); i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return &idcache[h % IDCACHE_SIZE];
}

static void copy_into(cJSON *out, const cJSON *from)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, from)
		cJSON_AddItemToObject(out, it->string, cJSON_Duplicate(it, true));
}

int workload__resolve(const struct nt_evidence *ev, cJSON *out,
		      struct spiffe_id *id, struct nt_err *err)
{
	time_t now = time(NULL);
	struct idcache_ent *e;
	struct idkey k;
	cJSON *info;
	int ret;

	key_of(ev, &k);
	e = slot_of(&k);
	if (e->info && e->gen == idcache_gen && now - e->at < IDCACHE_TTL &&
	    !memcmp(&e->key, &k, sizeof(k))) {
		copy_into(out, e->info);
		*id = e->id;
		add_svid(out, id);
		return 0;
	}
	info = cJSON_CreateObject();
	if (!info)
		return nt_err_set(err, -ENOMEM, "out of memory");
	ret = resolve_uncached(ev, info, id, err);
	copy_into(out, info);
	if (ret) {
		cJSON_Delete(info);
		return ret;	/* failures are not cached: retry next time */
	}
	cJSON_Delete(e->info);
	e->key = k;
	e->gen = idcache_gen;
	e->at = now;
	e->id = *id;
	e->info = info;
	add_svid(out, id);
	return 0;
}

/* Evidence for a listed pid: the kernel's exec record when it matches this
 * process (start time), else the exe as /proc shows it now. */
static int pid_evidence(uint32_t pid, uint64_t cgroup_id, const struct ns *n,
			struct nt_evidence *ev)
{
	char path[64], line[256];
	long tick = sysconf(_SC_CLK_TCK);
	unsigned long long start = 0;
	struct nt_proc proc;
	struct stat st;
	FILE *f;
	int fd;

	memset(ev, 0, sizeof(*ev));
	ev->pid = ev->tgid = pid;
	ev->cgroup_id = cgroup_id;
	ev->ns_cgroup_id = n->cgroup_id;
	ev->mode = n->mode;
	snprintf(path, sizeof(path), "/proc/%u/status", pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		sscanf(line, "Uid: %u", &ev->uid);
		sscanf(line, "Gid: %u", &ev->gid);
		if (sscanf(line, "Name: %15s", ev->comm) == 1)
			continue;
	}
	fclose(f);
	snprintf(path, sizeof(path), "/proc/%u/stat", pid);
	f = fopen(path, "re");
	if (f) {
		if (fgets(line, sizeof(line), f) && strrchr(line, ')'))
			sscanf(strrchr(line, ')') + 2,
			       "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
			       &start);
		fclose(f);
	}
	ev->start_boottime = start * (1000000000ULL / (tick > 0 ? tick : 100));
	snprintf(path, sizeof(path), "/proc/%u/ns/net", pid);
	if (!stat(path, &st))
		ev->netns_ino = st.st_ino;
	fd = datapath__map_fd(nd->dp, "procs");
	if (fd >= 0 && !bpf_map_lookup_elem(fd, &pid, &proc) &&
	    proc.start_boottime / (1000000000ULL / (tick > 0 ? tick : 100)) == start) {
		ev->exe_ino = proc.exe_ino;
		ev->exe_dev = proc.exe_dev;
		return 1;	/* kernel exec record */
	}
	snprintf(path, sizeof(path), "/proc/%u/exe", pid);
	if (stat(path, &st))
		return -errno;
	ev->exe_ino = st.st_ino;
	ev->exe_dev = (major(st.st_dev) << 20) | minor(st.st_dev);
	return 0;
}

static void list_cgroup(const char *dir, const struct ns *n, cJSON *arr,
			int depth)
{
	char path[PATH_MAX];
	struct nt_evidence ev;
	struct nt_err err = {};
	struct spiffe_id id;
	struct dirent *de;
	uint64_t cgid;
	unsigned int pid;
	cJSON *o;
	FILE *f;
	DIR *d;
	int src;

	if (depth > WALK_DEPTH || cgroup__id(dir, &cgid))
		return;
	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	f = fopen(path, "re");
	while (f && fscanf(f, "%u", &pid) == 1 &&
	       cJSON_GetArraySize(arr) < LIST_MAX) {
		src = pid_evidence(pid, cgid, n, &ev);
		if (src < 0)
			continue;
		o = cJSON_CreateObject();
		workload__resolve(&ev, o, &id, &err);
		cJSON_AddStringToObject(o, "evidence", src ? "exec" : "proc");
		cJSON_AddItemToArray(arr, o);
	}
	if (f)
		fclose(f);
	d = opendir(dir);
	while (d && (de = readdir(d))) {
		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		list_cgroup(path, n, arr, depth + 1);
	}
	if (d)
		closedir(d);
}

cJSON *workload__list(void)
{
	cJSON *arr = cJSON_CreateArray();
	struct ns *n;
	size_t i;

	for (i = 0; i < ns_table__count(nd->ns); i++) {
		n = ns_table__at(nd->ns, i);
		if (n->mode != NT_MODE_OFF)
			list_cgroup(n->cgroup, n, arr, 0);
	}
	return arr;
}

int workload__show(uint32_t pid, cJSON *out, struct nt_err *err)
{
	cJSON *all = workload__list(), *w, *p;

	cJSON_ArrayForEach(w, all) {
		p = cJSON_GetObjectItem(w, "pid");
		if (p && (uint32_t)p->valuedouble == pid) {
			cJSON_AddItemToObject(out, "workload",
					      cJSON_Duplicate(w, true));
			cJSON_Delete(all);
			return 0;
		}
	}
	cJSON_Delete(all);
	return nt_err_set(err, -ENOENT,
			  "pid %u is not a process of an enrolled namespace", pid);
}
