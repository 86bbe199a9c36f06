// SPDX-License-Identifier: Apache-2.0
/*
 * SPIFFE trust bundles: writing, comparing, sets, and loading a state dir's
 * trust store. Parsing is in test_bundle_parse.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/x509.h>

#include "ca/ca.h"
#include "tests/unit/fixture_bundle.h"
#include "tests/unit/harness.h"

/* ---- writing ------------------------------------------------------------ */

static struct bundle *bundle_of(X509 *const *cas, size_t n)
{
	struct nt_err err;
	struct bundle *b;
	size_t i;

	if (bundle__new(&b, "example.org", &err))
		die(err.msg);
	for (i = 0; i < n; i++)
		if (bundle__add_authority(b, cas[i], &err) != 1)
			die(err.msg);
	return b;
}

static void test_round_trip(void)
{
	struct bundle *a, *b = NULL, *c = NULL;
	struct nt_err err = { "" };
	char *j1 = NULL, *j2 = NULL, *j3 = NULL;
	X509 *cas[3];

	fixture();
	cas[0] = fx.ca256;
	cas[1] = fx.ca384;
	cas[2] = fx.carsa;
	a = bundle_of(cas, 3);
	a->has_sequence = true;
	a->sequence = 9007199254740991ULL;
	a->has_refresh_hint = true;
	a->refresh_hint = BUNDLE_REFRESH_HINT;

	CHECK(!bundle__to_json(a, true, &j1, &err));
	CHECK(j1 && !bundle__parse(&b, "example.org", j1, strlen(j1), &err));
	CHECKF(b, "pretty json did not parse: %s", err.msg);
	if (!b)
		goto out;
	CHECK(bundle__same_authorities(a, b));
	CHECK(b->has_sequence && b->sequence == a->sequence);
	CHECK(b->has_refresh_hint && b->refresh_hint == BUNDLE_REFRESH_HINT);
	CHECK(b->ignored_keys == 0);
	CHECK(!strcmp(b->td, "example.org"));

	/* Order kept, and writing is stable: parse(write(x)) writes the same. */
	CHECK(!X509_cmp(sk_X509_value(b->x509_authorities, 0), fx.ca256));
	CHECK(!X509_cmp(sk_X509_value(b->x509_authorities, 2), fx.carsa));
	CHECK(!bundle__to_json(a, false, &j2, &err));
	CHECK(!bundle__parse(&c, "example.org", j2, strlen(j2), &err));
	CHECK(!bundle__to_json(c, false, &j3, &err));
	CHECK(j2 && j3 && !strcmp(j2, j3));
	CHECK(bundle__same_authorities(b, c));
out:
	bundle__free(a);
	bundle__free(b);
	bundle__free(c);
	free(j1);
	free(j2);
	free(j3);
}

/* The exact JWK we publish, member order included, with values computed
 * independently by the fixture. */
static void test_to_json_exact(void)
{
	struct nt_err err = { "" };
	char *json = NULL, *want;
	struct bundle *b;
	X509 *cas[2];

	fixture();
	cas[0] = fx.ca256;
	cas[1] = fx.carsa;
	b = bundle_of(cas, 2);
	CHECK(!bundle__to_json(b, false, &json, &err));
	want = expand(KEYS(E256 "," ERSA));
	CHECKF(json && !strcmp(json, want), "got  %s\nwant %s", json, want);
	free(json);
	free(want);

	b->has_sequence = true;
	b->sequence = 42;
	b->has_refresh_hint = true;
	b->refresh_hint = 300;
	json = NULL;
	CHECK(!bundle__to_json(b, false, &json, &err));
	want = expand("{\"keys\":[" E256 "," ERSA "],\"spiffe_sequence\":42,"
		      "\"spiffe_refresh_hint\":300}");
	CHECKF(json && !strcmp(json, want), "got  %s\nwant %s", json, want);
	free(json);
	free(want);
	bundle__free(b);
}

static void test_add_authority(void)
{
	struct nt_err err = { "" };
	struct bundle *b;

	fixture();
	CHECK(!bundle__new(&b, "example.org", &err));
	CHECK(bundle__add_authority(b, fx.ca256, &err) == 1);
	CHECK(bundle__add_authority(b, fx.ca256, &err) == 0);
	CHECK(bundle__add_authority(b, fx.leaf256, &err) == -EINVAL);
	CHECKF(strstr(err.msg, "not a CA"), "%s", err.msg);
	CHECK(bundle__add_authority(b, fx.v1_256, &err) == -EINVAL);
	/* A JWK of ours can describe EC and RSA keys only. */
	CHECK(bundle__add_authority(b, fx.caed, &err) == -EINVAL);
	CHECKF(strstr(err.msg, "not EC"), "%s", err.msg);
	CHECK(sk_X509_num(b->x509_authorities) == 1);
	bundle__free(b);
}

static void test_same_authorities(void)
{
	X509 *ab[2], *ba[2];
	struct bundle *x, *y, *z, *e1, *e2;

	fixture();
	ab[0] = ba[1] = fx.ca256;
	ab[1] = ba[0] = fx.ca384;
	x = bundle_of(ab, 2);
	y = bundle_of(ba, 2);
	z = bundle_of(ab, 1);
	e1 = bundle_of(NULL, 0);
	e2 = bundle_of(NULL, 0);
	x->sequence = 1;	/* metadata is not part of the comparison */
	CHECK(bundle__same_authorities(x, y));
	CHECK(bundle__same_authorities(y, x));
	CHECK(!bundle__same_authorities(x, z));
	CHECK(!bundle__same_authorities(z, x));
	CHECK(!bundle__same_authorities(z, e1));
	CHECK(bundle__same_authorities(e1, e2));
	CHECK(!bundle__same_authorities(e1, NULL));
	bundle__free(x);
	bundle__free(y);
	bundle__free(z);
	bundle__free(e1);
	bundle__free(e2);
}

/* ---- sets --------------------------------------------------------------- */

static struct bundle *empty_bundle(const char *td)
{
	struct nt_err err;
	struct bundle *b;

	if (bundle__new(&b, td, &err))
		die(err.msg);
	return b;
}

static void test_bundle_set(void)
{
	struct nt_err err = { "" };
	struct bundle_set *set;
	struct bundle *dup;

	CHECK(!bundle_set__new(&set));
	CHECK(!bundle_set__add(set, empty_bundle("example.org"), &err));
	CHECK(!bundle_set__add(set, empty_bundle("partner.net"), &err));
	CHECK(bundle_set__count(set) == 2);

	CHECK(bundle_set__find(set, "example.org", 11) == bundle_set__at(set, 0));
	CHECK(bundle_set__find(set, "partner.net", 11) == bundle_set__at(set, 1));
	/* Exact bytes and length only: no prefix, no case folding, no
	 * fallback to some other trust domain. */
	CHECK(!bundle_set__find(set, "other.org", 9));
	CHECK(!bundle_set__find(set, "example.or", 10));
	CHECK(!bundle_set__find(set, "example.org.", 12));
	CHECK(!bundle_set__find(set, "example.org\0", 12));
	CHECK(!bundle_set__find(set, "EXAMPLE.ORG", 11));
	CHECK(!bundle_set__find(set, "", 0));
	CHECK(!bundle_set__at(set, 2));

	/* Never merged: a second bundle for a trust domain is refused and
	 * stays the caller's. */
	dup = empty_bundle("example.org");
	CHECK(bundle_set__add(set, dup, &err) == -EEXIST);
	CHECKF(strstr(err.msg, "example.org"), "%s", err.msg);
	CHECK(bundle_set__count(set) == 2);
	bundle__free(dup);
	bundle_set__free(set);
	CHECK(bundle_set__count(NULL) == 0);
	CHECK(!bundle_set__find(NULL, "example.org", 11));
}

/* ---- the trust store of a state dir ------------------------------------- */

static void write_file(const char *dir, const char *name, const char *data)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f || fputs(data, f) < 0 || fclose(f))
		die(path);
}

/* A state dir with a CA for example.org and its bundle; @fed, when given,
 * becomes bundles/partner.net.json. */
static const char *make_state(const char *name, const char *fed)
{
	static char dir[512];
	char sub[600];
	struct nt_err err = { "" };
	struct bundle *b;
	X509 *ca = fx.ca256;

	snprintf(dir, sizeof(dir), "%s/%s", t_tmpdir(), name);
	snprintf(sub, sizeof(sub), "%s/ca", dir);
	if (mkdir(dir, 0700) || mkdir(sub, 0700))
		die("mkdir");
	snprintf(sub, sizeof(sub), "%s/bundles", dir);
	if (mkdir(sub, 0700))
		die("mkdir");
	/* Keys other than trust_domain belong to the CA code: ignored. */
	write_file(dir, "ca/ca.json",
		   "{\"version\":1,\"trust_domain\":\"example.org\","
		   "\"svid_ttl\":3600}");
	b = bundle_of(&ca, 1);
	b->has_sequence = true;
	b->sequence = 3;
	snprintf(sub, sizeof(sub), "%s/bundle.json", dir);
	if (bundle__save(b, sub, &err))
		die(err.msg);
	bundle__free(b);
	if (fed)
		write_file(dir, "bundles/partner.net.json", fed);
	return dir;
}

static void test_trust_load(void)
{
	struct nt_err err = { "" };
	struct bundle_set *set = NULL;
	const struct bundle *loc, *fed;
	char *fed_json = expand(KEYS(E384 "," ERSA));
	const char *dir;

	fixture();
	dir = make_state("trust_ok", fed_json);
	/* Skipped without error: not .json, hidden (a temp file), not a
	 * valid trust domain. */
	write_file(dir, "bundles/README", "not a bundle");
	write_file(dir, "bundles/.partner.org.json", "{");
	write_file(dir, "bundles/partner.org.json.tmp.123", "{");
	write_file(dir, "bundles/Partner.Org.json", "{");
	write_file(dir, "bundles/bad%20td.json", "{");

	CHECKF(!trust__load(dir, &set, &err), "%s", err.msg);
	if (!set)
		goto out;
	CHECK(bundle_set__count(set) == 2);
	loc = bundle_set__find(set, "example.org", 11);
	fed = bundle_set__find(set, "partner.net", 11);
	CHECK(loc && sk_X509_num(loc->x509_authorities) == 1);
	CHECK(loc && loc->has_sequence && loc->sequence == 3);
	CHECK(fed && sk_X509_num(fed->x509_authorities) == 2);
	CHECK(fed && !X509_cmp(sk_X509_value(fed->x509_authorities, 0),
			       fx.ca384));
	CHECK(!bundle_set__find(set, "Partner.Org", 11));
out:
	bundle_set__free(set);
	free(fed_json);
}

static void test_trust_load_no_federation(void)
{
	struct nt_err err = { "" };
	struct bundle_set *set = NULL;
	char path[600];
	const char *dir;

	fixture();
	dir = make_state("trust_alone", NULL);
	snprintf(path, sizeof(path), "%s/bundles", dir);
	CHECK(!rmdir(path));
	CHECKF(!trust__load(dir, &set, &err), "%s", err.msg);
	CHECK(bundle_set__count(set) == 1);
	bundle_set__free(set);
}

struct trust_fail_case {
	const char *name;
	const char *fed_name;		/* under bundles/ */
	const char *fed_json;
	int ret;
	const char *msg;
};

static const struct trust_fail_case trust_fail_cases[] = {
	{ "corrupt federated bundle", "evil.org.json", "{\"keys\":[",
	  -EINVAL, "/bundles/evil.org.json: bundle: invalid json" },
	{ "federated bundle with a bad entry", "evil.org.json",
	  KEYS(E256_X5C("[\"@LEAF256@\"]")),
	  -EINVAL, "/bundles/evil.org.json: keys[0]: certificate is not a CA" },
	{ "federated bundle for the local trust domain", "example.org.json",
	  KEYS(E384), -EEXIST, "/bundles/example.org.json: a bundle for trust domain example.org" },
	{ "empty federated file", "evil.org.json", "",
	  -EINVAL, "evil.org.json: bundle: invalid json" },
};

static void test_trust_load_fails_closed(void)
{
	const struct trust_fail_case *c;
	struct nt_err err = { "" };
	struct bundle_set *set;
	char name[32], *json;
	const char *dir;
	size_t i;
	int ret;

	fixture();
	for (i = 0; i < sizeof(trust_fail_cases) / sizeof(trust_fail_cases[0]);
	     i++) {
		c = &trust_fail_cases[i];
		snprintf(name, sizeof(name), "trust_fail_%zu", i);
		dir = make_state(name, NULL);
		json = expand(c->fed_json);
		snprintf(name, sizeof(name), "bundles/%s", c->fed_name);
		write_file(dir, name, json);
		free(json);
		set = NULL;
		ret = trust__load(dir, &set, &err);
		CHECKF(ret == c->ret, "%s: returned %d, want %d (%s)", c->name,
		       ret, c->ret, err.msg);
		CHECKF(!set, "%s: set returned on failure", c->name);
		CHECKF(strstr(err.msg, c->msg), "%s: message \"%s\" lacks \"%s\"",
		       c->name, err.msg, c->msg);
	}
}

static void test_trust_load_local_problems(void)
{
	struct nt_err err = { "" };
	struct bundle_set *set = NULL;
	char path[600];
	const char *dir;

	fixture();
	dir = make_state("trust_no_bundle", NULL);
	snprintf(path, sizeof(path), "%s/bundle.json", dir);
	CHECK(!unlink(path));
	CHECK(trust__load(dir, &set, &err) == -ENOENT);
	CHECKF(strstr(err.msg, "bundle.json"), "%s", err.msg);

	dir = make_state("trust_no_ca", NULL);
	snprintf(path, sizeof(path), "%s/ca/ca.json", dir);
	CHECK(!unlink(path));
	CHECK(trust__load(dir, &set, &err) == -ENOENT);
	CHECKF(strstr(err.msg, "ca init"), "%s", err.msg);

	dir = make_state("trust_bad_td", NULL);
	write_file(dir, "ca/ca.json", "{\"trust_domain\":\"Example.ORG\"}");
	CHECK(trust__load(dir, &set, &err) == -EINVAL);
	CHECKF(strstr(err.msg, "ca.json"), "%s", err.msg);

	dir = make_state("trust_dup_td", NULL);
	write_file(dir, "ca/ca.json", "{\"trust_domain\":\"a.org\","
		   "\"trust_domain\":\"example.org\"}");
	CHECK(trust__load(dir, &set, &err) == -EINVAL);
	CHECKF(strstr(err.msg, "duplicate"), "%s", err.msg);
	CHECK(!set);
}

/* bundle__save writes what bundle__load reads. */
static void test_save_load(void)
{
	struct bundle *a, *b = NULL;
	struct nt_err err = { "" };
	char path[512];
	X509 *cas[2];

	fixture();
	cas[0] = fx.ca384;
	cas[1] = fx.ca256;
	a = bundle_of(cas, 2);
	a->has_refresh_hint = true;
	a->refresh_hint = 60;
	snprintf(path, sizeof(path), "%s/saved.json", t_tmpdir());
	CHECKF(!bundle__save(a, path, &err), "%s", err.msg);
	CHECKF(!bundle__load(&b, "example.org", path, &err), "%s", err.msg);
	CHECK(b && bundle__same_authorities(a, b));
	CHECK(b && !b->has_sequence && b->refresh_hint == 60);
	bundle__free(a);
	bundle__free(b);
	b = NULL;
	snprintf(path, sizeof(path), "%s/missing.json", t_tmpdir());
	CHECK(bundle__load(&b, "example.org", path, &err) == -ENOENT);
	CHECK(!b);
}

T_MAIN("bundle/set",
       T(test_round_trip),
       T(test_to_json_exact),
       T(test_add_authority),
       T(test_same_authorities),
       T(test_bundle_set),
       T(test_trust_load),
       T(test_trust_load_no_federation),
       T(test_trust_load_fails_closed),
       T(test_trust_load_local_problems),
       T(test_save_load));
