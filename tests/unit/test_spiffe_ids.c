// SPDX-License-Identifier: Apache-2.0
/*
 * Interned SPIFFE IDs (ca/spiffe_ids.c): one copy per distinct ID, shared
 * by every holder, freed with the last reference; growth keeps every
 * pointer valid.
 */
#include <stdio.h>
#include <string.h>

#include "ca/ca.h"
#include "tests/unit/harness.h"

static void id_of(struct spiffe_id *id, const char *s)
{
	struct nt_err err = {};

	if (spiffe_id__parse(id, s, strlen(s), &err))
		t_fail(__FILE__, __LINE__, "parse %s: %s", s, err.msg);
}

static void test_shared_copy(void)
{
	struct spiffe_ids *t = NULL;
	struct spiffe_id a, b, c;
	const struct spiffe_id *pa, *pb, *pc;

	CHECK(spiffe_ids__new(&t) == 0);
	if (!t)
		return;
	id_of(&a, "spiffe://example.org/ns/a/sa/x");
	id_of(&b, "spiffe://example.org/ns/a/sa/x");
	id_of(&c, "spiffe://example.org/ns/b/sa/y");
	pa = spiffe_ids__get(t, &a);
	pb = spiffe_ids__get(t, &b);
	pc = spiffe_ids__get(t, &c);
	CHECK(pa && pb && pc);
	CHECK(pa == pb);		/* equal IDs share one copy */
	CHECK(pa != pc);
	CHECK(pa != &a);		/* a copy, not the caller's struct */
	CHECK(spiffe_id__equal(pa, &a) && spiffe_id__equal(pc, &c));
	CHECK(!strcmp(pa->td, "example.org"));
	CHECK(spiffe_ids__count(t) == 2);
	spiffe_ids__put(t, pa);
	CHECK(spiffe_ids__count(t) == 2);	/* pb still holds it */
	CHECK(!strcmp(pb->str, "spiffe://example.org/ns/a/sa/x"));
	spiffe_ids__put(t, pb);
	CHECK(spiffe_ids__count(t) == 1);
	spiffe_ids__put(t, NULL);
	CHECK(spiffe_ids__count(t) == 1);
	spiffe_ids__put(t, pc);
	CHECK(spiffe_ids__count(t) == 0);
	spiffe_ids__free(t);
}

/* Enough distinct IDs to grow the bucket array several times: every
 * pointer handed out stays valid and is found again. */
static void test_growth(void)
{
	enum { N = 1000 };
	static const struct spiffe_id *p[N];
	struct spiffe_ids *t = NULL;
	struct spiffe_id id;
	char s[64];
	int i, bad = 0;

	CHECK(spiffe_ids__new(&t) == 0);
	if (!t)
		return;
	for (i = 0; i < N; i++) {
		snprintf(s, sizeof(s), "spiffe://example.org/w/%d", i);
		id_of(&id, s);
		p[i] = spiffe_ids__get(t, &id);
		bad += !p[i];
	}
	CHECK(bad == 0);
	CHECK(spiffe_ids__count(t) == N);
	for (i = 0; i < N; i++) {
		snprintf(s, sizeof(s), "spiffe://example.org/w/%d", i);
		id_of(&id, s);
		bad += spiffe_ids__get(t, &id) != p[i] ||
		       strcmp(p[i]->str, s) != 0;
	}
	CHECKF(bad == 0, "%d IDs moved or changed after growth", bad);
	for (i = 0; i < N; i++) {
		spiffe_ids__put(t, p[i]);
		spiffe_ids__put(t, p[i]);
	}
	CHECK(spiffe_ids__count(t) == 0);
	spiffe_ids__free(t);
}

/* Freeing the table with IDs still held frees them too (no leak under
 * ASan). */
static void test_free_held(void)
{
	struct spiffe_ids *t = NULL;
	struct spiffe_id id;

	CHECK(spiffe_ids__new(&t) == 0);
	if (!t)
		return;
	id_of(&id, "spiffe://example.org/held");
	CHECK(spiffe_ids__get(t, &id) != NULL);
	spiffe_ids__free(t);
	spiffe_ids__free(NULL);
}

T_MAIN("spiffe_ids",
       T(test_shared_copy),
       T(test_growth),
       T(test_free_held));
