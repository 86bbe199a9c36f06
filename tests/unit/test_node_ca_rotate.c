// SPDX-License-Identifier: Apache-2.0
/*
 * Node CA rotation (ca/authority*.c): by hand and on schedule, after
 * downtime, after a crash between two writes, and with two handles on one
 * state dir.
 *
 * Every case works in its own state dir under t_tmpdir(), at fixed times
 * (T0).
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "ca/ca.h"
#include "tests/unit/fixture_node_ca.h"
#include "tests/unit/harness.h"

/* ---- rotation ------------------------------------------------------------- */

static void check_slots(struct node_ca *ca, const enum ca_slot *want,
			size_t n, const char *when)
{
	size_t i;

	CHECKF(node_ca__count(ca) == n, "%s: %zu CAs, want %zu", when,
	       node_ca__count(ca), n);
	for (i = 0; i < n && i < node_ca__count(ca); i++)
		CHECKF(node_ca__at(ca, i)->slot == want[i], "%s: slot %zu is %d",
		       when, i, node_ca__at(ca, i)->slot);
}

static void maintain_ok(struct node_ca *ca, time_t now, enum ca_step want,
			const char *when)
{
	enum ca_step step = CA_STEP_NONE;
	struct nt_err err = { "" };
	int ret = node_ca__maintain(ca, now, &step, &err);

	CHECKF(ret == 0 && step == want, "%s: maintain %d step %d: %s", when,
	       ret, step, err.msg);
}

static void test_rotate_manual(void)
{
	static const enum ca_slot prepared[] = { CA_SLOT_CURRENT, CA_SLOT_NEXT };
	static const enum ca_slot activated[] = { CA_SLOT_CURRENT, CA_SLOT_RETIRED };
	static const enum ca_slot again[] = { CA_SLOT_CURRENT, CA_SLOT_NEXT,
					      CA_SLOT_RETIRED };
	struct svid *s1 = NULL, *s2 = NULL, *s3 = NULL;
	char dir[PATH_MAX], path[PATH_MAX];
	X509 *old = NULL, *next = NULL;
	struct node_ca *ca, *re;

	if (!fresh_ca(dir, "rotate", T0, 0, 0) || !(ca = open_ok(dir)))
		return;
	old = ref(node_ca__at(ca, 0)->cert);
	s1 = mint_ok(ca, "/old", T0 + 100);

	rotate_ok(ca, T0 + 200, CA_STEP_PREPARED, "prepare");
	check_slots(ca, prepared, 2, "prepared");
	check_disk_bundle(dir, 2, 2, "prepared");
	CHECK(node_ca__bundle(ca)->sequence == 2);
	CHECK(!X509_cmp(node_ca__at(ca, 0)->cert, old));
	if (node_ca__count(ca) > 1)
		next = ref(node_ca__at(ca, 1)->cert);
	/* The next CA is published but does not sign yet. */
	s2 = mint_ok(ca, "/still-old", T0 + 300);
	if (s2)
		CHECK(issued_by(s2->leaf, old));
	check_verifies(dir, s1, T0 + 300, "old svid after prepare");
	check_verifies(dir, s2, T0 + 300, "svid minted after prepare");

	rotate_ok(ca, T0 + 400, CA_STEP_ACTIVATED, "activate");
	check_slots(ca, activated, 2, "activated");
	check_disk_bundle(dir, 2, 2, "activated: same authorities");
	CHECK(next && !X509_cmp(node_ca__at(ca, 0)->cert, next));
	gen_file(path, dir, old, ".key");
	CHECKF(mode_of(path) == -1, "retired key %s still there", path);
	gen_file(path, dir, old, ".crt");
	CHECK(mode_of(path) == 0644);
	s3 = mint_ok(ca, "/new", T0 + 500);
	if (s3 && next)
		CHECK(issued_by(s3->leaf, next) && !issued_by(s3->leaf, old));
	check_verifies(dir, s1, T0 + 500, "old svid during overlap");
	check_verifies(dir, s3, T0 + 500, "new svid");

	/* What was written is what a fresh open sees. */
	re = open_ok(dir);
	if (re) {
		check_slots(re, activated, 2, "reopened");
		CHECK(!X509_cmp(node_ca__at(re, 0)->cert, next));
		CHECK(!X509_cmp(node_ca__at(re, 1)->cert, old));
		node_ca__close(re);
	}
	rotate_ok(ca, T0 + 600, CA_STEP_PREPARED, "prepare again");
	check_slots(ca, again, 3, "prepared again");
	check_disk_bundle(dir, 3, 3, "prepared again");

	svid__free(s1);
	svid__free(s2);
	svid__free(s3);
	X509_free(old);
	X509_free(next);
	node_ca__close(ca);
}

static void thresholds(X509 *x, time_t *prep, time_t *act, time_t *end)
{
	time_t nb = 0, na = 0;

	CHECK(x509__validity(x, &nb, &na) == 0);
	*prep = na - (na - nb) / 2;
	*act = na - (na - nb) / 6;
	*end = na;
}

static void test_maintain_schedule(void)
{
	static const enum ca_slot one[] = { CA_SLOT_CURRENT };
	static const enum ca_slot prepared[] = { CA_SLOT_CURRENT, CA_SLOT_NEXT };
	static const enum ca_slot activated[] = { CA_SLOT_CURRENT, CA_SLOT_RETIRED };
	time_t prep, act, end, prep2, act2, end2;
	struct svid *s = NULL;
	char dir[PATH_MAX];
	struct node_ca *ca;

	if (!fresh_ca(dir, "maintain", T0, 6000, 600) || !(ca = open_ok(dir)))
		return;
	thresholds(node_ca__at(ca, 0)->cert, &prep, &act, &end);
	CHECK(prep == T0 + 2995 && act == T0 + 4999 && end == T0 + 6000);

	maintain_ok(ca, T0 + 100, CA_STEP_NONE, "early");
	maintain_ok(ca, prep - 1, CA_STEP_NONE, "just before 1/2");
	check_slots(ca, one, 1, "before 1/2");
	check_disk_bundle(dir, 1, 1, "before 1/2");

	/* Prepared a little late, so the next CA's own half-life falls
	 * after the old one's end and pruning can be seen alone. */
	maintain_ok(ca, prep + 1000, CA_STEP_PREPARED, "after 1/2");
	check_slots(ca, prepared, 2, "after 1/2");
	check_disk_bundle(dir, 2, 2, "after 1/2");
	maintain_ok(ca, act - 1, CA_STEP_NONE, "just before 5/6");
	check_slots(ca, prepared, 2, "before 5/6");
	s = mint_ok(ca, "/before-activation", act - 1);

	maintain_ok(ca, act, CA_STEP_ACTIVATED, "at 5/6");
	check_slots(ca, activated, 2, "after 5/6");
	check_disk_bundle(dir, 2, 2, "after 5/6");
	check_verifies(dir, s, act + 100, "svid of the retired CA");
	thresholds(node_ca__at(ca, 0)->cert, &prep2, &act2, &end2);
	CHECK(prep2 > end);

	maintain_ok(ca, end - 1, CA_STEP_NONE, "retired CA about to expire");
	check_slots(ca, activated, 2, "retired CA about to expire");
	maintain_ok(ca, end, CA_STEP_NONE, "retired CA expired");
	check_slots(ca, one, 1, "pruned");
	check_disk_bundle(dir, 3, 1, "pruned");

	/* And the cycle goes on from the new CA's own times. */
	maintain_ok(ca, prep2, CA_STEP_PREPARED, "second 1/2");
	maintain_ok(ca, act2, CA_STEP_ACTIVATED, "second 5/6");
	check_disk_bundle(dir, 4, 2, "second cycle");
	svid__free(s);
	node_ca__close(ca);
}

/* A node down past its CA's end gets a working CA in one call. */
static void test_maintain_after_downtime(void)
{
	static const enum ca_slot one[] = { CA_SLOT_CURRENT };
	struct svid *s = NULL;
	char dir[PATH_MAX];
	struct node_ca *ca;
	time_t late = T0 + 7 * 86400;

	if (!fresh_ca(dir, "downtime", T0, 0, 0) || !(ca = open_ok(dir)))
		return;
	maintain_ok(ca, late, CA_STEP_ACTIVATED, "a week late");
	check_slots(ca, one, 1, "a week late: expired CA dropped");
	s = mint_ok(ca, "/after-downtime", late + 1);
	check_verifies(dir, s, late + 2, "svid after downtime");
	svid__free(s);
	node_ca__close(ca);
}

/* A crash between bundle.json and ca.json: the bundle publishes a CA the
 * index never adopted. Opening repairs the bundle and counts on. */
static void test_crash_before_index(void)
{
	char dir[PATH_MAX], path[PATH_MAX], *idx;
	struct node_ca *ca;
	size_t len = 0;

	if (!fresh_ca(dir, "crash", T0, 0, 0))
		return;
	join(path, dir, STATE_CA_FILE);
	idx = slurp(path, &len);
	if (!idx || !(ca = open_ok(dir))) {
		free(idx);
		return;
	}
	rotate_ok(ca, T0 + 100, CA_STEP_PREPARED, "prepare");
	node_ca__close(ca);
	CHECK(spit(path, idx, len) == 0);	/* as if never written */
	free(idx);
	ca = open_ok(dir);
	if (!ca)
		return;
	CHECK(node_ca__count(ca) == 1);
	check_disk_bundle(dir, 3, 1, "repaired");
	rotate_ok(ca, T0 + 200, CA_STEP_PREPARED, "prepare after crash");
	check_disk_bundle(dir, 4, 2, "prepared after crash");
	node_ca__close(ca);
}

/* The CLI rotating next to the daemon: each handle acts on the state on
 * disk, not on what it read at open. */
static void test_two_handles(void)
{
	static const enum ca_slot prepared[] = { CA_SLOT_CURRENT, CA_SLOT_NEXT };
	static const enum ca_slot activated[] = { CA_SLOT_CURRENT, CA_SLOT_RETIRED };
	struct node_ca *a = NULL, *b = NULL;
	char dir[PATH_MAX];
	struct svid *s;

	if (!fresh_ca(dir, "handles", T0, 0, 0))
		return;
	a = open_ok(dir);
	b = open_ok(dir);
	if (!a || !b)
		goto out;
	rotate_ok(a, T0 + 100, CA_STEP_PREPARED, "a prepares");
	maintain_ok(b, T0 + 200, CA_STEP_NONE, "b maintains early");
	check_slots(b, prepared, 2, "b sees a's next CA");
	rotate_ok(b, T0 + 300, CA_STEP_ACTIVATED, "b activates");
	check_disk_bundle(dir, 2, 2, "after both");
	maintain_ok(a, T0 + 400, CA_STEP_NONE, "a maintains");
	check_slots(a, activated, 2, "a sees b's activation");
	s = mint_ok(a, "/after-reload", T0 + 500);
	if (s)
		CHECK(issued_by(s->leaf, node_ca__at(b, 0)->cert));
	svid__free(s);
	/* JWT-SVIDs too: a signs with the key b activated. */
	CHECK(!strcmp(node_ca__jwt_signer(a)->kid, node_ca__jwt_signer(b)->kid));
out:
	node_ca__close(a);
	node_ca__close(b);
}

T_MAIN("node_ca/rotate",
       T(test_rotate_manual),
       T(test_maintain_schedule),
       T(test_maintain_after_downtime),
       T(test_crash_before_index),
       T(test_two_handles));
