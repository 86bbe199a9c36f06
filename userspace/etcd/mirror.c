// SPDX-License-Identifier: Apache-2.0
/*
 * Mirrors: a prefix of etcd kept in memory as one consistent snapshot.
 *
 *   list (paged, every page at the first page's revision R)
 *   -> swap the snapshot in, update(relisted)
 *   -> watch from R + 1; each batch of events -> apply, update(events)
 *   -> compaction, or a watch that cannot go on -> list again
 *
 * The snapshot is a sorted array: nametag's configuration is hundreds to
 * thousands of keys, changed rarely, read often.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "userspace/etcd/etcd_int.h"

#define MIRROR_PAGE	500

struct kv_array {
	struct etcd_kv *kv;
	size_t n, cap;
};

struct etcd_mirror {
	struct etcd_obj obj;		/* first: see obj_stop */
	struct etcd_client *c;
	char *prefix, *end;
	size_t prefix_len, end_len;
	const struct etcd_mirror_ops *ops;
	void *arg;
	struct kv_array snap;		/* what update() shows */
	int64_t rev;
	struct kv_array next;		/* a listing under way */
	int64_t list_rev;
	struct etcd_req *req;
	struct etcd_watch *w;
	struct etcd_timer t;
	int64_t backoff;
	unsigned int relists;
	bool dead, listed;
};

static const struct etcd_watch_ops mirror_watch_ops;
static void list_page(struct etcd_mirror *m, const char *from, size_t len);

/* ---- the sorted array ------------------------------------------------------- */

static int key_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int r = memcmp(a, b, alen < blen ? alen : blen);

	return r ? r : (alen > blen) - (alen < blen);
}

/* Index of @key, or where it would go (*found false). */
static size_t find(const struct kv_array *a, const char *key, size_t len,
		   bool *found)
{
	size_t lo = 0, hi = a->n, mid;
	int r;

	*found = false;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		r = key_cmp(a->kv[mid].key, a->kv[mid].key_len, key, len);
		if (!r) {
			*found = true;
			return mid;
		}
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int copy_kv(struct etcd_kv *dst, const struct etcd_kv *src)
{
	char *k = malloc(src->key_len + 1), *v = malloc(src->value_len + 1);

	if (!k || !v) {
		free(k);
		free(v);
		return -ENOMEM;
	}
	memcpy(k, src->key, src->key_len);
	k[src->key_len] = '\0';
	memcpy(v, src->value ? src->value : "", src->value_len);
	v[src->value_len] = '\0';
	*dst = *src;
	dst->key = k;
	dst->value = v;
	return 0;
}

static int grow(struct kv_array *a)
{
	size_t cap = a->cap ? a->cap * 2 : 64;
	struct etcd_kv *kv;

	if (a->n < a->cap)
		return 0;
	kv = realloc(a->kv, cap * sizeof(*kv));
	if (!kv)
		return -ENOMEM;
	a->kv = kv;
	a->cap = cap;
	return 0;
}

static void clear(struct kv_array *a)
{
	ej_kvs_free(a->kv, a->n);
	memset(a, 0, sizeof(*a));
}

static int upsert(struct kv_array *a, const struct etcd_kv *kv)
{
	struct etcd_kv copy;
	bool found;
	size_t i = find(a, kv->key, kv->key_len, &found);

	if (copy_kv(&copy, kv))
		return -ENOMEM;
	if (found) {
		ej_kv_free(&a->kv[i]);
		a->kv[i] = copy;
		return 0;
	}
	if (grow(a)) {
		ej_kv_free(&copy);
		return -ENOMEM;
	}
	memmove(&a->kv[i + 1], &a->kv[i], (a->n - i) * sizeof(*a->kv));
	a->kv[i] = copy;
	a->n++;
	return 0;
}

static void erase(struct kv_array *a, const char *key, size_t len)
{
	bool found;
	size_t i = find(a, key, len, &found);

	if (!found)
		return;
	ej_kv_free(&a->kv[i]);
	memmove(&a->kv[i], &a->kv[i + 1], (a->n - i - 1) * sizeof(*a->kv));
	a->n--;
}

/* ---- listing ------------------------------------------------------------------ */

static void sync(struct etcd_mirror *m, bool in_sync, int status,
		 const struct nt_err *err)
{
	if (m->ops->sync)
		m->ops->sync(m->arg, in_sync, status, err);
}

static void relist_later(struct etcd_mirror *m, int64_t ms)
{
	etcd_watch__cancel(m->w);
	m->w = NULL;
	clear(&m->next);
	m->list_rev = 0;
	etcd__timer_arm(m->c, &m->t, ms);
}

static void listed(struct etcd_mirror *m)
{
	struct nt_err err = { "" };
	int ret;

	clear(&m->snap);
	m->snap = m->next;
	memset(&m->next, 0, sizeof(m->next));
	m->rev = m->list_rev;
	m->list_rev = 0;
	m->backoff = 0;
	if (m->listed)
		m->relists++;
	m->listed = true;
	ret = etcd__watch(m->c, m->prefix, m->prefix_len, m->end ? ETCD_PREFIX : 0,
			  m->rev + 1, &mirror_watch_ops, m, &m->w, &err);
	if (m->ops->update)
		m->ops->update(m->arg, m, true, NULL, 0);
	if (ret && !m->dead) {
		sync(m, false, ret, &err);
		m->backoff = etcd__backoff(m->c, m->backoff);
		relist_later(m, m->backoff);
	}
}

static void page_cb(void *arg, int status, const struct etcd_range *r,
		    const struct nt_err *err)
{
	struct etcd_mirror *m = arg;
	const struct etcd_kv *last;
	size_t i;

	m->req = NULL;
	for (i = 0; !status && i < r->n; i++) {
		if (grow(&m->next) ||
		    copy_kv(&m->next.kv[m->next.n], &r->kvs[i]))
			status = -ENOMEM;
		else
			m->next.n++;
	}
	if (status) {
		/* -ESTALE: the listing's revision was compacted meanwhile. */
		sync(m, false, status, err);
		m->backoff = etcd__backoff(m->c, m->backoff);
		relist_later(m, status == -ESTALE ? 0 : m->backoff);
		return;
	}
	if (!m->list_rev)
		m->list_rev = r->revision;
	if (r->more && r->n) {
		last = &r->kvs[r->n - 1];
		list_page(m, last->key, last->key_len);
		return;
	}
	listed(m);
}

/* One page from @from (inclusive when @len is the prefix itself). */
static void list_page(struct etcd_mirror *m, const char *from, size_t len)
{
	struct nt_err err = { "" };
	char *key = malloc(len + 1);
	int ret;

	if (!key) {
		relist_later(m, etcd__backoff(m->c, m->backoff));
		return;
	}
	memcpy(key, from, len);
	/* After the first page: just past the last key seen. */
	key[len] = '\0';
	ret = etcd__range_r(m->c, key, m->list_rev ? len + 1 : len, m->end,
			    m->end_len, m->list_rev, MIRROR_PAGE, page_cb, m,
			    &m->req, &err);
	free(key);
	if (ret) {
		sync(m, false, ret, &err);
		m->backoff = etcd__backoff(m->c, m->backoff);
		relist_later(m, m->backoff);
	}
}

static void list_fire(struct etcd_timer *t)
{
	struct etcd_mirror *m = (struct etcd_mirror *)((char *)t -
				 offsetof(struct etcd_mirror, t));

	if (!m->dead && !m->req)
		list_page(m, m->prefix, m->prefix_len);
}

/* ---- watching ------------------------------------------------------------------ */

static void w_events(void *arg, const struct etcd_event *ev, size_t n,
		     int64_t revision)
{
	struct etcd_mirror *m = arg;
	struct nt_err err = { "" };
	size_t i;

	for (i = 0; i < n; i++) {
		if (ev[i].kind == ETCD_EV_DELETE)
			erase(&m->snap, ev[i].kv.key, ev[i].kv.key_len);
		else if (upsert(&m->snap, &ev[i].kv)) {
			/* A half-applied batch is not a snapshot: start over. */
			nt_err_set(&err, -ENOMEM, "mirror: out of memory");
			sync(m, false, -ENOMEM, &err);
			relist_later(m, m->c->backoff_max);
			return;
		}
		m->rev = ev[i].kv.mod_revision;
	}
	if (m->ops->update)
		m->ops->update(m->arg, m, false, ev, n);
}

static void w_connected(void *arg, int64_t revision)
{
	sync(arg, true, 0, NULL);
}

static void w_progress(void *arg, int64_t revision)
{
	struct etcd_mirror *m = arg;

	if (revision > m->rev)
		m->rev = revision;
	sync(m, true, 0, NULL);
}

static void w_disconnected(void *arg, int status, int64_t retry_ms,
			   const struct nt_err *err)
{
	sync(arg, false, status, err);
}

static void w_ended(void *arg, int status, int64_t compact_revision,
		    const struct nt_err *err)
{
	struct etcd_mirror *m = arg;

	sync(m, false, status, err);
	/* Compacted: list at once. Anything else: after a backoff. */
	if (status != -ESTALE)
		m->backoff = etcd__backoff(m->c, m->backoff);
	relist_later(m, status == -ESTALE ? 0 : m->backoff);
}

static const struct etcd_watch_ops mirror_watch_ops = {
	.events = w_events,
	.connected = w_connected,
	.progress = w_progress,
	.disconnected = w_disconnected,
	.ended = w_ended,
};

/* ---- the interface -------------------------------------------------------------- */

static void mirror_free(void *p)
{
	struct etcd_mirror *m = p;

	clear(&m->snap);
	clear(&m->next);
	free(m->prefix);
	free(m->end);
	free(m);
}

/* etcd__free() stops what its owner left running. */
static void obj_stop(struct etcd_obj *o)
{
	etcd_mirror__stop((struct etcd_mirror *)o);
}

/* @exact: the key @prefix alone (no range_end: an etcd role that grants
 * one key does not grant the range of keys below it). */
static int mirror_start(struct etcd_client *c, const char *prefix, bool exact,
			const struct etcd_mirror_ops *ops, void *arg,
			struct etcd_mirror **out, struct nt_err *err)
{
	size_t len = prefix ? strlen(prefix) : 0;
	struct etcd_mirror *m;

	if (!len || len > ETCD_KEY_MAX || !ops)
		return nt_err_set(err, -EINVAL, "etcd mirror: bad arguments");
	m = calloc(1, sizeof(*m));
	if (!m || !(m->prefix = strdup(prefix)) ||
	    (!exact && ej_prefix_end(prefix, len, &m->end, &m->end_len))) {
		if (m)
			free(m->prefix);
		free(m);
		return nt_err_set(err, -ENOMEM, "out of memory");
	}
	m->c = c;
	m->prefix_len = len;
	m->ops = ops;
	m->arg = arg;
	m->t.fire = list_fire;
	etcd__obj_add(c, &m->obj, obj_stop);
	etcd__timer_arm(c, &m->t, 0);
	*out = m;
	return 0;
}

int etcd_mirror__start(struct etcd_client *c, const char *prefix,
		       const struct etcd_mirror_ops *ops, void *arg,
		       struct etcd_mirror **out, struct nt_err *err)
{
	return mirror_start(c, prefix, false, ops, arg, out, err);
}

int etcd_mirror__start_key(struct etcd_client *c, const char *key,
			   const struct etcd_mirror_ops *ops, void *arg,
			   struct etcd_mirror **out, struct nt_err *err)
{
	return mirror_start(c, key, true, ops, arg, out, err);
}

void etcd_mirror__stop(struct etcd_mirror *m)
{
	if (!m || m->dead)
		return;
	m->dead = true;
	etcd__timer_stop(m->c, &m->t);
	etcd__req_orphan(m->req);
	etcd_watch__cancel(m->w);
	etcd__obj_del(&m->obj);
	etcd__defer_free(m->c, m, mirror_free);
}

int64_t etcd_mirror__revision(const struct etcd_mirror *m)
{
	return m->rev;
}

size_t etcd_mirror__count(const struct etcd_mirror *m)
{
	return m->snap.n;
}

const struct etcd_kv *etcd_mirror__at(const struct etcd_mirror *m, size_t i)
{
	return i < m->snap.n ? &m->snap.kv[i] : NULL;
}

const struct etcd_kv *etcd_mirror__get(const struct etcd_mirror *m,
				       const char *key, size_t key_len)
{
	bool found;
	size_t i = find(&m->snap, key, key_len, &found);

	return found ? &m->snap.kv[i] : NULL;
}

unsigned int etcd_mirror__relists(const struct etcd_mirror *m)
{
	return m->relists;
}
