// SPDX-License-Identifier: Apache-2.0
/*
 * Interned SPIFFE IDs: one refcounted copy of each distinct ID. A struct
 * spiffe_id is 2.3 KB, sized for the longest ID the spec allows, and a
 * proxied connection needs two of them; thousands of connections name a
 * few dozen distinct IDs. Holders keep a pointer and give it back with
 * spiffe_ids__put(); the copy lives while any holder does.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ca/ca.h"

struct id_entry {
	struct id_entry *next;		/* hash chain */
	unsigned long refs;
	uint32_t hash;
	struct spiffe_id id;
};

struct spiffe_ids {
	struct id_entry **buckets;
	size_t nbuckets;		/* a power of two */
	size_t count;
};

#define IDS_MIN_BUCKETS 64

static uint32_t id_hash(const struct spiffe_id *id)
{
	uint32_t h = 2166136261u;	/* FNV-1a */
	size_t i;

	for (i = 0; i < id->len; i++)
		h = (h ^ (unsigned char)id->str[i]) * 16777619u;
	return h;
}

int spiffe_ids__new(struct spiffe_ids **ids)
{
	struct spiffe_ids *t = calloc(1, sizeof(*t));

	if (t)
		t->buckets = calloc(IDS_MIN_BUCKETS, sizeof(*t->buckets));
	if (!t || !t->buckets) {
		free(t);
		return -ENOMEM;
	}
	t->nbuckets = IDS_MIN_BUCKETS;
	*ids = t;
	return 0;
}

void spiffe_ids__free(struct spiffe_ids *t)
{
	struct id_entry *e, *next;
	size_t i;

	if (!t)
		return;
	for (i = 0; i < t->nbuckets; i++)
		for (e = t->buckets[i]; e; e = next) {
			next = e->next;
			free(e);
		}
	free(t->buckets);
	free(t);
}

size_t spiffe_ids__count(const struct spiffe_ids *t)
{
	return t->count;
}

/* Doubles the bucket array once chains would average more than one entry.
 * A failed resize is not an error: chains just get longer. */
static void maybe_grow(struct spiffe_ids *t)
{
	size_t n = t->nbuckets * 2, i;
	struct id_entry **nb, *e, *next;

	if (t->count < t->nbuckets)
		return;
	nb = calloc(n, sizeof(*nb));
	if (!nb)
		return;
	for (i = 0; i < t->nbuckets; i++)
		for (e = t->buckets[i]; e; e = next) {
			next = e->next;
			e->next = nb[e->hash & (n - 1)];
			nb[e->hash & (n - 1)] = e;
		}
	free(t->buckets);
	t->buckets = nb;
	t->nbuckets = n;
}

const struct spiffe_id *spiffe_ids__get(struct spiffe_ids *t,
					const struct spiffe_id *id)
{
	uint32_t h = id_hash(id);
	struct id_entry *e;

	for (e = t->buckets[h & (t->nbuckets - 1)]; e; e = e->next)
		if (e->hash == h && spiffe_id__equal(&e->id, id)) {
			e->refs++;
			return &e->id;
		}
	e = malloc(sizeof(*e));
	if (!e)
		return NULL;
	e->refs = 1;
	e->hash = h;
	e->id = *id;
	e->next = t->buckets[h & (t->nbuckets - 1)];
	t->buckets[h & (t->nbuckets - 1)] = e;
	t->count++;
	maybe_grow(t);
	return &e->id;
}

void spiffe_ids__put(struct spiffe_ids *t, const struct spiffe_id *id)
{
	struct id_entry **pp, *e;
	uint32_t h;

	if (!id)
		return;
	h = id_hash(id);
	for (pp = &t->buckets[h & (t->nbuckets - 1)]; (e = *pp); pp = &e->next) {
		if (&e->id != id)
			continue;
		if (--e->refs == 0) {
			*pp = e->next;
			t->count--;
			free(e);
		}
		return;
	}
}
