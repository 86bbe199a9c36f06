// SPDX-License-Identifier: Apache-2.0
/*
 * The SVIDs the daemon holds, one per SPIFFE ID, minted on first use and
 * re-minted once past half their life (SPIRE's rotation point). A re-mint
 * replaces the cache entry only; whoever holds the old one keeps it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "userspace/daemon/daemon.h"

#define SVID_CACHE_MAX 4096

struct svid_slot {
	struct svid *svid;
	time_t not_before, not_after;
	unsigned long uses;
};

struct svid_cache {
	struct node_ca *ca;
	svid_minted_fn minted;
	void *minted_arg;
	struct svid_slot *v;
	size_t n, cap;
};

int svid_cache__new(struct svid_cache **c, struct node_ca *ca)
{
	*c = calloc(1, sizeof(**c));
	if (!*c)
		return -ENOMEM;
	(*c)->ca = ca;
	return 0;
}

void svid_cache__on_mint(struct svid_cache *c, svid_minted_fn fn, void *arg)
{
	c->minted = fn;
	c->minted_arg = arg;
}

void svid_cache__free(struct svid_cache *c)
{
	size_t i;

	if (!c)
		return;
	for (i = 0; i < c->n; i++)
		svid__free(c->v[i].svid);
	free(c->v);
	free(c);
}

static struct svid_slot *find(struct svid_cache *c, const struct spiffe_id *id)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		if (spiffe_id__equal(&c->v[i].svid->id, id))
			return &c->v[i];
	return NULL;
}

static struct svid_slot *new_slot(struct svid_cache *c)
{
	struct svid_slot *nv;

	if (c->n == SVID_CACHE_MAX)
		return NULL;
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		nv = realloc(c->v, c->cap * sizeof(*nv));
		if (!nv)
			return NULL;
		c->v = nv;
	}
	memset(&c->v[c->n], 0, sizeof(c->v[0]));
	return &c->v[c->n++];
}

const struct svid *svid_cache__get(struct svid_cache *c,
				   const struct spiffe_id *id,
				   struct nt_err *err)
{
	struct svid_slot *s = find(c, id);
	time_t now = time(NULL);
	struct svid *fresh;

	if (s && now < s->not_before + (s->not_after - s->not_before) / 2) {
		s->uses++;
		return s->svid;
	}
	if (node_ca__mint(c->ca, id, 0, now, &fresh, err))
		return NULL;
	if (!s)
		s = new_slot(c);
	if (!s) {
		svid__free(fresh);
		nt_err_set(err, -ENOSPC, "svid cache full");
		return NULL;
	}
	svid__free(s->svid);
	s->svid = fresh;
	x509__validity(fresh->leaf, &s->not_before, &s->not_after);
	s->uses++;
	pr_info("minted SVID for %s", id->str);
	if (c->minted)
		c->minted(fresh, c->minted_arg);
	return fresh;
}

int svid_cache__foreach(const struct svid_cache *c,
			int (*fn)(const struct svid_info *s, void *arg),
			void *arg)
{
	struct svid_info info;
	size_t i;
	int ret;

	for (i = 0; i < c->n; i++) {
		info = (struct svid_info){ .svid = c->v[i].svid,
					   .not_before = c->v[i].not_before,
					   .not_after = c->v[i].not_after,
					   .uses = c->v[i].uses };
		ret = fn(&info, arg);
		if (ret)
			return ret;
	}
	return 0;
}
