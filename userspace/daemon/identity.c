// SPDX-License-Identifier: Apache-2.0
/*
 * The identity stage: kernel evidence -> selectors -> SPIFFE ID, as a
 * typed struct workload. Nothing here mints an SVID (the next stage asks
 * the SVID cache when it needs one) or builds JSON (ctl_workload.c does,
 * for the control socket). A flow's identity comes only from evidence the
 * BPF programs captured at the syscall.
 *
 * Attestation reads /proc, hashes the exe (itself cached) and matches the
 * registry: worth doing once per process image, not once per connection.
 * The key holds everything the identity derives from, so an exec (a new
 * exec record), a recycled pid (new start time) or a setuid (new uid)
 * misses.
 * Entries live IDCACHE_TTL seconds and die at once when the registry or a
 * namespace changes (identity__invalidate).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "userspace/daemon/daemon.h"

#define IDCACHE_SIZE	1024
#define IDCACHE_TTL	10

struct idkey {
	uint32_t tgid, uid, gid, netns_ino;
	uint64_t start_boottime, cgroup_id, ns_cgroup_id;
	struct nt_exe exe;		/* the image and its version */
};

struct idcache_ent {
	struct idkey key;
	uint64_t gen;
	time_t at;
	struct workload *w;		/* held; has an ID */
};

struct identity {
	struct daemon *d;
	uint64_t gen;
	struct idcache_ent cache[IDCACHE_SIZE];
	struct workload *last;		/* held: the last one resolved */
};

/* ---- workloads ---------------------------------------------------------------- */

struct workload *workload__get(struct workload *w)
{
	if (w)
		w->refs++;
	return w;
}

static void free_strv(char **v, size_t n)
{
	size_t i;

	for (i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

void workload__put(struct workload *w)
{
	if (!w || --w->refs)
		return;
	free(w->exe);
	free(w->sha256);
	free(w->path_skipped);
	free(w->sha256_skipped);
	free(w->cgroup);
	free_strv(w->selectors, w->nselectors);
	free(w->identity_error);
	spiffe_ids__put(w->ids, w->id);
	free(w);
}

/* What the evidence itself says: a workload even attestation fails for. */
static struct workload *workload_new(struct identity *idt,
				     const struct nt_evidence *ev)
{
	struct workload *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->refs = 1;
	w->ids = idt->d->ids;
	w->pid = ev->tgid;
	w->uid = ev->uid;
	w->gid = ev->gid;
	memcpy(w->comm, ev->comm, sizeof(w->comm) - 1);
	return w;
}

static int attested(struct workload *w, const struct ns *n,
		    const struct attest_result *res)
{
	char buf[ATTEST_TYPE_MAX + ATTEST_VALUE_MAX + 2];
	size_t i;

	w->attested = true;
	snprintf(w->ns, sizeof(w->ns), "%s", n->name);
	w->mode = n->mode;
	w->exe = strdup(res->exe_path);
	w->sha256 = strdup(res->sha256);
	w->path_skipped = res->path_skipped[0] ?
			  strdup(res->path_skipped) : NULL;
	w->sha256_skipped = res->sha256_skipped[0] ?
			    strdup(res->sha256_skipped) : NULL;
	w->cgroup = strdup(res->cgroup_path);
	w->selectors = calloc(res->nselectors ? res->nselectors : 1,
			      sizeof(*w->selectors));
	if (!w->exe || !w->sha256 || !w->cgroup || !w->selectors ||
	    (res->path_skipped[0] && !w->path_skipped) ||
	    (res->sha256_skipped[0] && !w->sha256_skipped))
		return -ENOMEM;
	for (i = 0; i < res->nselectors; i++) {
		selector__format(&res->selectors[i], buf, sizeof(buf));
		w->selectors[i] = strdup(buf);
		if (!w->selectors[i])
			return -ENOMEM;
		w->nselectors++;
	}
	return 0;
}

/* ---- attestation -------------------------------------------------------------- */

/* @name receives the exec name the kernel recorded, if any. */
static void to_attest(const struct datapath *dp, const struct nt_evidence *ev,
		      struct attest_evidence *a, char name[NT_EXE_NAME_MAX])
{
	a->pid = ev->pid;
	a->tgid = ev->tgid;
	a->uid = ev->uid;
	a->gid = ev->gid;
	a->cgroup_id = ev->cgroup_id;
	a->ns_cgroup_id = ev->ns_cgroup_id;
	a->exe_ino = ev->exe.ino;
	a->exe_dev = ev->exe.dev;
	a->netns_ino = ev->netns_ino;
	a->start_boottime = ev->start_boottime;
	a->exe_stamped = ev->exe.flags & NT_EXE_VERSION;
	a->exe_at_exec = ev->exe.flags & NT_EXE_AT_EXEC;
	a->exe_ctime_sec = ev->exe.ctime_sec;
	a->exe_ctime_nsec = ev->exe.ctime_nsec;
	a->exe_size = ev->exe.size;
	if ((ev->exe.flags & NT_EXE_NAMED) &&
	    !datapath__exec_name(dp, &ev->exe, name, NT_EXE_NAME_MAX))
		a->exe_name = name;
}

/* Selectors, then the registry's entry or the namespace's template. */
static int attest_one(struct identity *idt, const struct nt_evidence *ev,
		      struct workload *w, struct attest_result *res,
		      struct nt_err *err)
{
	struct daemon *d = idt->d;
	struct attest_ns ans = { .trust_domain = node_ca__trust_domain(d->ca) };
	const struct attest_entry *entry = NULL;
	struct attest_evidence aev = {};
	char name[NT_EXE_NAME_MAX];
	struct spiffe_id id;
	struct ns *n;
	int ret;

	n = ns_table__by_cgroup(d->ns, ev->ns_cgroup_id);
	if (!n)
		return nt_err_set(err, -ENOENT, "cgroup %llu is in no namespace",
				  (unsigned long long)ev->ns_cgroup_id);
	ans.name = n->name;
	ans.cgroup_id = n->cgroup_id;
	ans.id_template = n->template[0] ? n->template : NULL;
	to_attest(d->dp, ev, &aev, name);
	ret = attest__selectors(d->attest, &aev, &ans, res, err);
	if (ret)
		return ret;
	if (attested(w, n, res))
		return nt_err_set(err, -ENOMEM, "out of memory");
	ret = attest__identity(d->entries, &ans, res, &id, &entry, err);
	if (ret) {
		w->identity_error = strdup(err->msg);
		return ret;
	}
	w->id = spiffe_ids__get(d->ids, &id);
	if (!w->id)
		return nt_err_set(err, -ENOMEM, "out of memory");
	w->from_entry = entry;
	return 0;
}

static int resolve_uncached(struct identity *idt, const struct nt_evidence *ev,
			    struct workload **out, struct nt_err *err)
{
	struct attest_result *res = calloc(1, sizeof(*res));
	struct workload *w = workload_new(idt, ev);
	int ret;

	if (!res || !w) {
		free(res);
		workload__put(w);
		*out = NULL;
		return nt_err_set(err, -ENOMEM, "out of memory");
	}
	ret = attest_one(idt, ev, w, res, err);
	free(res);
	*out = w;
	return ret;
}

/* ---- the cache ---------------------------------------------------------------- */

int identity__new(struct identity **out, struct daemon *d)
{
	struct identity *idt = calloc(1, sizeof(*idt));

	if (!idt)
		return -ENOMEM;
	idt->d = d;
	idt->gen = 1;
	*out = idt;
	return 0;
}

static void ent_clear(struct idcache_ent *e)
{
	workload__put(e->w);
	e->w = NULL;
}

void identity__free(struct identity *idt)
{
	size_t i;

	if (!idt)
		return;
	for (i = 0; i < IDCACHE_SIZE; i++)
		ent_clear(&idt->cache[i]);
	workload__put(idt->last);
	free(idt);
}

void identity__invalidate(struct identity *idt)
{
	idt->gen++;
}

static void key_of(const struct nt_evidence *ev, struct idkey *k)
{
	memset(k, 0, sizeof(*k));
	k->tgid = ev->tgid;
	k->uid = ev->uid;
	k->gid = ev->gid;
	k->netns_ino = ev->netns_ino;
	k->start_boottime = ev->start_boottime;
	k->exe = ev->exe;
	k->cgroup_id = ev->cgroup_id;
	k->ns_cgroup_id = ev->ns_cgroup_id;
}

static struct idcache_ent *slot_of(struct identity *idt, const struct idkey *k)
{
	const unsigned char *p = (const unsigned char *)k;
	uint64_t h = 1469598103934665603ull;	/* FNV-1a */
	size_t i;

	for (i = 0; i < sizeof(*k); i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return &idt->cache[h % IDCACHE_SIZE];
}

/* An SVID is minted right after the identity it is for was resolved:
 * the audit log takes the evidence from here. */
static void remember(struct identity *idt, struct workload *w)
{
	workload__put(idt->last);
	idt->last = workload__get(w);
}

const struct workload *identity__last(const struct identity *idt)
{
	return idt->last;
}

int identity__resolve(struct identity *idt, const struct nt_evidence *ev,
		      struct workload **out, struct nt_err *err)
{
	time_t now = time(NULL);
	struct idcache_ent *e;
	struct idkey k;
	int ret;

	key_of(ev, &k);
	e = slot_of(idt, &k);
	if (e->w && e->gen == idt->gen && now - e->at < IDCACHE_TTL &&
	    !memcmp(&e->key, &k, sizeof(k))) {
		*out = workload__get(e->w);
		remember(idt, e->w);
		return 0;
	}
	ret = resolve_uncached(idt, ev, out, err);
	if (ret)
		return ret;	/* failures are not cached: retry next time */
	ent_clear(e);
	e->key = k;
	e->gen = idt->gen;
	e->at = now;
	e->w = workload__get(*out);
	remember(idt, *out);
	return 0;
}
