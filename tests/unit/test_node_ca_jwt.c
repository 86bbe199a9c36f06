// SPDX-License-Identifier: Apache-2.0
/*
 * The node CA's JWT-SVID signing keys: files and modes, the kid, the
 * bundle, minting, rotation with overlap, pruning, migration of a state
 * dir from before JWT keys (index version 1), and damaged JWT files.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/core_names.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include "tests/unit/fixture_node_ca.h"

/* ---- helpers ------------------------------------------------------------ */

static void jwt_file(char *buf, const char *dir, X509 *cert, const char *ext)
{
	gen_file(buf, dir, cert, ext);
}

static EVP_PKEY *read_pub(const char *path)
{
	EVP_PKEY *k = NULL;
	FILE *f = fopen(path, "r");

	if (f) {
		k = PEM_read_PUBKEY(f, NULL, NULL, NULL);
		fclose(f);
	}
	return k;
}

static char *b64url(const unsigned char *p, size_t n)
{
	char *s = malloc(n / 3 * 4 + 5), *c;

	if (!s)
		return NULL;
	EVP_EncodeBlock((unsigned char *)s, p, (int)n);
	for (c = s; *c; c++)
		*c = *c == '+' ? '-' : *c == '/' ? '_' : *c == '=' ? '\0' : *c;
	return s;
}

static char *coord(EVP_PKEY *k, const char *param)
{
	unsigned char buf[32];
	BIGNUM *bn = NULL;
	char *s = NULL;

	if (EVP_PKEY_get_bn_param(k, param, &bn) == 1 &&
	    BN_bn2binpad(bn, buf, 32) == 32)
		s = b64url(buf, 32);
	BN_free(bn);
	return s;
}

/* RFC 7638 §3.1, computed here: the kid a P-256 key must have. */
static void thumbprint(EVP_PKEY *k, char *out)
{
	char *x = coord(k, OSSL_PKEY_PARAM_EC_PUB_X);
	char *y = coord(k, OSSL_PKEY_PARAM_EC_PUB_Y), json[256], *s;
	unsigned char d[SHA256_DIGEST_LENGTH];

	snprintf(json, sizeof(json),
		 "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}",
		 x ? x : "", y ? y : "");
	SHA256((unsigned char *)json, strlen(json), d);
	s = b64url(d, sizeof(d));
	snprintf(out, 64, "%s", s ? s : "");
	free(s);
	free(x);
	free(y);
}

static char *mint_jwt_ok(struct node_ca *ca, const char *path, time_t now)
{
	const char *aud[] = { "db" };
	struct nt_err err = { "" };
	struct spiffe_id id;
	char uri[256], *tok = NULL;
	int ret;

	snprintf(uri, sizeof(uri), "spiffe://" TD "%s", path);
	ret = spiffe_id__parse(&id, uri, strlen(uri), &err);
	if (!ret)
		ret = node_ca__mint_jwt(ca, &id, aud, 1, 0, now, &tok, NULL, &err);
	CHECKF(ret == 0, "mint jwt %s: %d %s", uri, ret, err.msg);
	return tok;
}

/* Validates @tok against the state dir's trust store, as a peer would. */
static int jwt_verify_at(const char *dir, const char *tok, time_t now,
			 char *kid, struct nt_err *err)
{
	struct jwt_verify_opts o = { .now = now, .leeway = 0 };
	struct bundle_set *set = NULL;
	struct jwt_svid *s = NULL;
	int ret;

	if (!tok)
		return -EINVAL;
	ret = trust__load(dir, &set, err);
	if (!ret)
		ret = jwt_svid__validate(tok, strlen(tok), "db", set, &o, &s, err);
	if (!ret && kid)
		strcpy(kid, s->kid);
	jwt_svid__free(s);
	bundle_set__free(set);
	return ret;
}

static void check_jwt_verifies(const char *dir, const char *tok, time_t now,
			       const char *want_kid, const char *what)
{
	char kid[JWT_KID_MAX + 1] = "";
	struct nt_err err = { "" };
	int ret = jwt_verify_at(dir, tok, now, kid, &err);

	CHECKF(ret == 0, "%s: %d %s", what, ret, err.msg);
	CHECKF(!want_kid || !strcmp(kid, want_kid), "%s: kid %s, want %s",
	       what, kid, want_kid ? want_kid : "");
}

static size_t disk_jwt_count(const char *dir)
{
	struct bundle *b = disk_bundle(dir);
	size_t n = b ? b->jwt_count : 0;

	bundle__free(b);
	return n;
}

/* ---- files, kid and bundle at init -------------------------------------- */

static void test_init(void)
{
	char dir[PATH_MAX], path[PATH_MAX], kid[64];
	const struct ca_entry *e;
	const struct bundle *b;
	struct node_ca *ca;
	EVP_PKEY *pub;

	if (!fresh_ca(dir, "jwt-init", T0, 0, 0))
		return;
	ca = open_ok(dir);
	if (!ca)
		return;
	e = node_ca__at(ca, 0);
	jwt_file(path, dir, e->cert, ".jwt.key");
	CHECKF(mode_of(path) == 0600, "%s mode %o", path, mode_of(path));
	jwt_file(path, dir, e->cert, ".jwt.pub");
	CHECKF(mode_of(path) == 0644, "%s mode %o", path, mode_of(path));
	pub = read_pub(path);
	CHECK(pub && EVP_PKEY_get_bits(pub) == 256);
	if (pub)
		thumbprint(pub, kid);
	CHECKF(pub && e->jwt_kid && !strcmp(e->jwt_kid, kid), "kid %s, want %s",
	       e->jwt_kid ? e->jwt_kid : "(none)", kid);
	CHECK(strlen(kid) == JWT_KID_LEN);
	CHECK(!strcmp(node_ca__jwt_signer(ca)->kid, kid));
	CHECK(EVP_PKEY_eq(node_ca__jwt_signer(ca)->key, pub) == 1);
	CHECK(node_ca__jwt_signer(ca)->not_after == T0 + CA_TTL_DEFAULT);
	/* Published under that kid, in memory and on disk. */
	b = node_ca__bundle(ca);
	CHECK(b && b->jwt_count == 1 && !strcmp(b->jwt_authorities[0].kid, kid));
	CHECK(disk_jwt_count(dir) == 1);
	EVP_PKEY_free(pub);
	node_ca__close(ca);
}

static void test_mint(void)
{
	const char *aud[] = { "db" };
	struct nt_err err = { "" };
	struct node_ca *ca;
	struct spiffe_id id;
	char dir[PATH_MAX], *tok, *other = NULL;
	int64_t exp = 0;

	if (!fresh_ca(dir, "jwt-mint", T0, 0, 0))
		return;
	ca = open_ok(dir);
	if (!ca)
		return;
	tok = mint_jwt_ok(ca, "/ns/shop/sa/web", T0 + 10);
	check_jwt_verifies(dir, tok, T0 + 20, node_ca__jwt_signer(ca)->kid,
			   "fresh token");
	CHECK(jwt_verify_at(dir, tok, T0 + 10 + JWT_SVID_TTL_DEFAULT, NULL,
			    &err) == -EINVAL);
	/* Another trust domain's ID is not ours to sign. */
	CHECK(!spiffe_id__parse(&id, "spiffe://other.org/web", 22, &err));
	CHECK(node_ca__mint_jwt(ca, &id, aud, 1, 0, T0, &other, NULL, &err) ==
	      -EINVAL);
	CHECK(!other);
	/* Near the CA's end, tokens end with it. */
	CHECK(!spiffe_id__parse(&id, "spiffe://example.org/web", 24, &err));
	CHECK(!node_ca__mint_jwt(ca, &id, aud, 1, 0, T0 + CA_TTL_DEFAULT - 100,
				 &other, &exp, &err));
	CHECK(exp == T0 + CA_TTL_DEFAULT);
	free(other);
	free(tok);
	node_ca__close(ca);
}

/* ---- rotation ------------------------------------------------------------- */

static void test_rotation_overlap(void)
{
	char dir[PATH_MAX], path[PATH_MAX], old_kid[JWT_KID_MAX + 1], *t1, *t2, *t3;
	const struct ca_entry *e;
	struct node_ca *ca;
	X509 *old = NULL;

	if (!fresh_ca(dir, "jwt-rotate", T0, 3600, 600))
		return;
	ca = open_ok(dir);
	if (!ca)
		return;
	old = ref(node_ca__at(ca, 0)->cert);
	snprintf(old_kid, sizeof(old_kid), "%s", node_ca__jwt_signer(ca)->kid);
	t1 = mint_jwt_ok(ca, "/web", T0 + 100);

	/* Prepared: the next key is published, the current one still signs. */
	rotate_ok(ca, T0 + 200, CA_STEP_PREPARED, "prepare");
	CHECK(disk_jwt_count(dir) == 2);
	e = node_ca__at(ca, 1);
	CHECK(e && e->slot == CA_SLOT_NEXT && e->jwt_kid &&
	      strcmp(e->jwt_kid, old_kid));
	CHECK(!strcmp(node_ca__jwt_signer(ca)->kid, old_kid));
	t2 = mint_jwt_ok(ca, "/web", T0 + 250);
	check_jwt_verifies(dir, t2, T0 + 260, old_kid, "minted while prepared");

	/* Activated: the new key signs; tokens of the old one still verify. */
	rotate_ok(ca, T0 + 300, CA_STEP_ACTIVATED, "activate");
	CHECK(disk_jwt_count(dir) == 2);
	CHECK(strcmp(node_ca__jwt_signer(ca)->kid, old_kid));
	t3 = mint_jwt_ok(ca, "/web", T0 + 310);
	check_jwt_verifies(dir, t3, T0 + 320, node_ca__jwt_signer(ca)->kid,
			   "minted by the new key");
	check_jwt_verifies(dir, t1, T0 + 320, old_kid, "old token after activation");
	/* The retired key never signs again: its private half is gone. */
	jwt_file(path, dir, old, ".jwt.key");
	CHECK(mode_of(path) == -1);
	jwt_file(path, dir, old, ".jwt.pub");
	CHECK(mode_of(path) == 0644);
	e = node_ca__at(ca, 1);
	CHECK(e && e->slot == CA_SLOT_RETIRED && e->jwt_kid &&
	      !strcmp(e->jwt_kid, old_kid));

	/* Once the old CA has expired it is pruned, JWT key and all. */
	rotate_ok(ca, T0 + 3600, CA_STEP_PREPARED, "prepare after expiry");
	CHECK(mode_of(path) == -1);
	CHECK(disk_jwt_count(dir) == 2);	/* current and next */
	free(t1);
	free(t2);
	free(t3);
	X509_free(old);
	node_ca__close(ca);
}

/* ---- edits of ca.json -------------------------------------------------- */

static void ed_jwt(cJSON *root, const char *list, int version)
{
	cJSON_DeleteItemFromObjectCaseSensitive(root, "jwt");
	if (list)
		cJSON_AddItemToObject(root, "jwt", cJSON_Parse(list));
	cJSON_ReplaceItemInObjectCaseSensitive(root, "version",
					       cJSON_CreateNumber(version));
}

static void ed_v1(cJSON *root)
{
	ed_jwt(root, NULL, 1);
}

static void ed_list_empty(cJSON *root)
{
	ed_jwt(root, "[]", 2);
}

static void ed_list_unknown(cJSON *root)
{
	ed_jwt(root, "[\"abc\"]", 2);
}

static void ed_list_missing(cJSON *root)
{
	ed_jwt(root, NULL, 2);
}

static void ed_v1_with_list(cJSON *root)
{
	ed_jwt(root, "[]", 1);
}

/* ---- migration from index version 1 ------------------------------------- */

/* Turns @dir into what a nametag without JWT-SVIDs left: ca.json version 1
 * without "jwt", no JWT key files, a bundle without jwt-svid keys. */
static void make_v1(const char *dir)
{
	struct nt_err err = { "" };
	struct node_ca *ca = open_ok(dir);
	struct bundle *old, *b = NULL;
	char path[PATH_MAX];
	size_t i;
	int k;

	if (!ca)
		return;
	for (i = 0; i < node_ca__count(ca); i++) {
		gen_file(path, dir, node_ca__at(ca, i)->cert, ".jwt.key");
		unlink(path);
		gen_file(path, dir, node_ca__at(ca, i)->cert, ".jwt.pub");
		unlink(path);
	}
	node_ca__close(ca);
	edit_index(dir, ed_v1);
	/* The bundle as it was: the same CAs and sequence, no JWT keys. */
	old = disk_bundle(dir);
	CHECK(old && !bundle__new(&b, TD, &err));
	if (!old || !b)
		goto out;
	for (k = 0; k < sk_X509_num(old->x509_authorities); k++)
		CHECK(bundle__add_authority(b, sk_X509_value(old->x509_authorities,
							      k), &err) == 1);
	b->has_sequence = true;
	b->sequence = old->sequence;
	b->has_refresh_hint = true;
	b->refresh_hint = old->refresh_hint;
	join(path, dir, STATE_BUNDLE_FILE);
	CHECK(!bundle__save(b, path, &err));
out:
	bundle__free(old);
	bundle__free(b);
}

static void test_migrate_v1(void)
{
	char dir[PATH_MAX], path[PATH_MAX], *before, *after, *tok;
	struct bundle *b;
	struct node_ca *ca;
	size_t len = 0;
	uint64_t seq;

	if (!fresh_ca(dir, "jwt-v1", T0, 3600, 600))
		return;
	/* A retired generation from before, too. */
	ca = open_ok(dir);
	if (!ca)
		return;
	rotate_ok(ca, T0 + 100, CA_STEP_PREPARED, "prepare");
	rotate_ok(ca, T0 + 200, CA_STEP_ACTIVATED, "activate");
	node_ca__close(ca);
	make_v1(dir);
	b = disk_bundle(dir);
	seq = b ? b->sequence : 0;
	CHECK(b && b->jwt_count == 0);
	bundle__free(b);

	/* Opening migrates: the current generation gets a key, published
	 * with a new sequence; the retired one stays without. */
	ca = open_ok(dir);
	if (!ca)
		return;
	CHECK(node_ca__at(ca, 0)->jwt_kid && !node_ca__at(ca, 1)->jwt_kid);
	gen_file(path, dir, node_ca__at(ca, 0)->cert, ".jwt.key");
	CHECK(mode_of(path) == 0600);
	check_disk_bundle(dir, seq + 1, 2, "migrated");
	CHECK(disk_jwt_count(dir) == 1);
	tok = mint_jwt_ok(ca, "/web", T0 + 300);
	check_jwt_verifies(dir, tok, T0 + 310, node_ca__jwt_signer(ca)->kid,
			   "after migration");
	join(path, dir, STATE_CA_FILE);
	before = slurp(path, &len);
	CHECK(before && strstr(before, "\"version\":\t2"));
	free(before);
	node_ca__close(ca);
	/* Once is enough: opening again changes nothing. */
	before = snapshot(dir);
	ca = open_ok(dir);
	after = snapshot(dir);
	CHECK(same_snapshot(before, after));
	free(before);
	free(after);
	free(tok);
	node_ca__close(ca);
}

/* ---- damage ---------------------------------------------------------------- */

enum jdamage {
	JD_KEY_MODE, JD_KEY_MISSING, JD_PUB_MISSING, JD_KEY_OTHER,
	JD_PUB_NOT_P256, JD_LIST_EMPTY, JD_LIST_UNKNOWN, JD_LIST_MISSING,
	JD_V1_WITH_LIST,
};

struct jdamage_case {
	const char *name;
	enum jdamage what;
	const char *want;
};

static const struct jdamage_case jdamage_cases[] = {
	{ "jwt key mode 0644", JD_KEY_MODE, "0644" },
	{ "jwt key missing", JD_KEY_MISSING, ".jwt.key" },
	{ "jwt pub missing", JD_PUB_MISSING, ".jwt.pub" },
	{ "jwt key of another CA", JD_KEY_OTHER, "does not match" },
	{ "jwt pub not P-256", JD_PUB_NOT_P256, "must be EC P-256" },
	{ "jwt list empty", JD_LIST_EMPTY, "has no JWT-SVID key in \"jwt\"" },
	{ "jwt list unknown serial", JD_LIST_UNKNOWN, "\"jwt\" must list generations" },
	{ "jwt list missing", JD_LIST_MISSING, "missing key \"jwt\"" },
	{ "version 1 with a jwt list", JD_V1_WITH_LIST, "unknown key \"jwt\"" },
};

static void copy_file(const char *from, const char *to)
{
	size_t len = 0;
	char *raw = slurp(from, &len);

	CHECK(raw && spit(to, raw, len) == 0);
	free(raw);
}

static void jdamage(const char *dir, enum jdamage what, X509 *cur,
		    const char *other, X509 *ocur)
{
	char path[PATH_MAX], src[PATH_MAX];
	EVP_PKEY *k384;
	FILE *f;

	switch (what) {
	case JD_KEY_MODE:
		gen_file(path, dir, cur, ".jwt.key");
		CHECK(chmod(path, 0644) == 0);
		break;
	case JD_KEY_MISSING:
	case JD_PUB_MISSING:
		gen_file(path, dir, cur, what == JD_KEY_MISSING ? ".jwt.key" :
								  ".jwt.pub");
		CHECK(unlink(path) == 0);
		break;
	case JD_KEY_OTHER:
		gen_file(src, other, ocur, ".jwt.key");
		gen_file(path, dir, cur, ".jwt.key");
		copy_file(src, path);
		break;
	case JD_PUB_NOT_P256:
		k384 = EVP_EC_gen("P-384");
		gen_file(path, dir, cur, ".jwt.pub");
		f = fopen(path, "w");
		CHECK(f && k384 && PEM_write_PUBKEY(f, k384) == 1);
		if (f)
			fclose(f);
		EVP_PKEY_free(k384);
		break;
	case JD_LIST_EMPTY:
		edit_index(dir, ed_list_empty);
		break;
	case JD_LIST_UNKNOWN:
		edit_index(dir, ed_list_unknown);
		break;
	case JD_LIST_MISSING:
		edit_index(dir, ed_list_missing);
		break;
	case JD_V1_WITH_LIST:
		edit_index(dir, ed_v1_with_list);
		break;
	}
}

static X509 *cur_cert(const char *dir)
{
	struct node_ca *ca = open_ok(dir);
	X509 *x = ca ? ref(node_ca__at(ca, 0)->cert) : NULL;

	node_ca__close(ca);
	return x;
}

/* Each damage is refused with a message naming it, and nothing is
 * rewritten (state-dir.md: damage is never a reason to start over). */
static void test_damaged(void)
{
	char dir[PATH_MAX], other[PATH_MAX], name[64];
	X509 *ocur;
	size_t i;

	if (!fresh_ca(other, "jwt-damage-other", T0, 0, 0))
		return;
	ocur = cur_cert(other);
	for (i = 0; ocur && i < sizeof(jdamage_cases) / sizeof(jdamage_cases[0]);
	     i++) {
		const struct jdamage_case *c = &jdamage_cases[i];
		X509 *cur;

		snprintf(name, sizeof(name), "jwt-damage-%zu", i);
		if (!fresh_ca(dir, name, T0, 0, 0))
			continue;
		cur = cur_cert(dir);
		if (!cur)
			continue;
		jdamage(dir, c->what, cur, other, ocur);
		check_open_refused(dir, c->want, c->name);
		X509_free(cur);
	}
	X509_free(ocur);
}

T_MAIN("node_ca/jwt",
       T(test_init),
       T(test_mint),
       T(test_rotation_overlap),
       T(test_migrate_v1),
       T(test_damaged));
