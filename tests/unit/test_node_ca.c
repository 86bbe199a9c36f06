// SPDX-License-Identifier: Apache-2.0
/*
 * The node CA (ca/authority*.c): the state dir it writes, how it refuses
 * damaged state without touching it, and minting. Rotation is in
 * test_node_ca_rotate.c, upstream mode in test_node_ca_upstream.c.
 *
 * Every case works in its own state dir under t_tmpdir(), at fixed times
 * (T0).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/x509v3.h>

#include "ca/ca.h"
#include "tests/unit/fixture_node_ca.h"
#include "tests/unit/harness.h"

/* ---- init -------------------------------------------------------------- */

static bool ext_critical(X509 *x, int nid)
{
	int i = X509_get_ext_by_NID(x, nid, -1);

	return i >= 0 && X509_EXTENSION_get_critical(X509_get_ext(x, i));
}

/* The certificate profile of docs/ca.md for a self-signed generation. */
static void check_ca_profile(X509 *x, time_t now, int64_t ttl)
{
	struct nt_err err = { "" };
	BASIC_CONSTRAINTS *bc;
	struct spiffe_id id;
	char name[256];
	time_t nb, na;

	bc = X509_get_ext_d2i(x, NID_basic_constraints, NULL, NULL);
	CHECK(bc && bc->ca && bc->pathlen && ASN1_INTEGER_get(bc->pathlen) == 0);
	BASIC_CONSTRAINTS_free(bc);
	CHECK(ext_critical(x, NID_basic_constraints));
	CHECK(ext_critical(x, NID_key_usage));
	CHECK(X509_get_key_usage(x) ==
	      (KU_KEY_CERT_SIGN | KU_CRL_SIGN | KU_DIGITAL_SIGNATURE));
	CHECK(X509_get0_subject_key_id(x) != NULL);
	CHECK(X509_get_signature_nid(x) == NID_ecdsa_with_SHA256);
	CHECK(EVP_PKEY_get_bits(X509_get0_pubkey(x)) == 256);
	CHECKF(x509__spiffe_id(x, &id, &err) == 0 &&
	       !strcmp(id.str, "spiffe://" TD), "ca id: %s", err.msg);
	X509_NAME_oneline(X509_get_subject_name(x), name, sizeof(name));
	CHECKF(has(name, "/O=nametag/CN=nametag node CA "), "subject %s", name);
	CHECK(X509_self_signed(x, 1) == 1);
	CHECK(x509__validity(x, &nb, &na) == 0);
	CHECKF(nb == now - 10 && na == now + ttl, "validity %lld..%lld",
	       (long long)(nb - now), (long long)(na - now));
}

static void check_index(const char *dir, const char *current)
{
	struct nt_err err = { "" };
	char path[PATH_MAX], *raw;
	cJSON *root = NULL;
	const cJSON *it;
	size_t len = 0;

	join(path, dir, STATE_CA_FILE);
	raw = slurp(path, &len);
	CHECK(raw && json__parse_strict(raw, len, &root, &err) == 0);
	free(raw);
	if (!root)
		return;
	it = cJSON_GetObjectItemCaseSensitive(root, "version");
	CHECK(cJSON_IsNumber(it) && it->valueint == 2);
	it = cJSON_GetObjectItemCaseSensitive(root, "jwt");
	CHECK(cJSON_IsArray(it) && cJSON_GetArraySize(it) == 1 &&
	      cJSON_IsString(it->child) &&
	      !strcmp(it->child->valuestring, current));
	it = cJSON_GetObjectItemCaseSensitive(root, "trust_domain");
	CHECK(cJSON_IsString(it) && !strcmp(it->valuestring, TD));
	it = cJSON_GetObjectItemCaseSensitive(root, "current");
	CHECK(cJSON_IsString(it) && !strcmp(it->valuestring, current));
	CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(root, "next")));
	CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(root, "upstream")));
	it = cJSON_GetObjectItemCaseSensitive(root, "retired");
	CHECK(cJSON_IsArray(it) && cJSON_GetArraySize(it) == 0);
	cJSON_Delete(root);
}

static void test_init_files(void)
{
	char dir[PATH_MAX], path[PATH_MAX], serial[64];
	const struct ca_entry *e;
	const struct bundle *b;
	struct node_ca *ca;

	if (!fresh_ca(dir, "init", T0, 0, 0))
		return;
	CHECK(mode_of(dir) == 0700);
	join(path, dir, STATE_CA_DIR);
	CHECK(mode_of(path) == 0700);
	join(path, dir, STATE_CA_FILE);
	CHECK(mode_of(path) == 0600);
	ca = open_ok(dir);
	if (!ca)
		return;
	CHECK(!strcmp(node_ca__trust_domain(ca), TD));
	CHECK(node_ca__ca_ttl(ca) == CA_TTL_DEFAULT);
	CHECK(node_ca__svid_ttl(ca) == SVID_TTL_DEFAULT);
	CHECK(!node_ca__is_upstream(ca));
	CHECK(node_ca__count(ca) == 1);
	CHECK(node_ca__at(ca, 1) == NULL);
	e = node_ca__at(ca, 0);
	CHECK(e && e->slot == CA_SLOT_CURRENT);
	if (e) {
		check_ca_profile(e->cert, T0, CA_TTL_DEFAULT);
		gen_file(path, dir, e->cert, ".key");
		CHECKF(mode_of(path) == 0600, "%s mode %o", path, mode_of(path));
		gen_file(path, dir, e->cert, ".crt");
		CHECK(mode_of(path) == 0644);
		serial_of(e->cert, serial);
		CHECKF(strlen(serial) == 32, "serial %s", serial);
		check_index(dir, serial);
		CHECK(node_ca__signer(ca)->ca_cert == e->cert);
	}
	CHECK(node_ca__signer(ca)->ca_is_root);
	check_disk_bundle(dir, 1, 1, "init");
	b = node_ca__bundle(ca);
	CHECK(b && b->sequence == 1 && sk_X509_num(b->x509_authorities) == 1);
	if (b && e && sk_X509_num(b->x509_authorities) == 1)
		CHECK(!X509_cmp(sk_X509_value(b->x509_authorities, 0), e->cert));
	node_ca__close(ca);
}

static void test_init_twice(void)
{
	struct nt_err err = { "" };
	char dir[PATH_MAX], *before, *after;
	int ret;

	if (!fresh_ca(dir, "twice", T0, 0, 0))
		return;
	before = snapshot(dir);
	ret = init_at(dir, T0 + 5, 0, 0, &err);
	CHECKF(ret == -EEXIST, "second init: %d %s", ret, err.msg);
	CHECKF(has(err.msg, "already exists"), "msg: %s", err.msg);
	after = snapshot(dir);
	CHECK(same_snapshot(before, after));
	free(before);
	free(after);
}

struct init_refusal {
	const char *name;
	struct ca_init_opts opts;
	const char *want;
};

static const struct init_refusal init_refusals[] = {
	{ "uppercase td", { .trust_domain = "Example.org" }, "" },
	{ "empty td", { .trust_domain = "" }, "" },
	{ "td with path", { .trust_domain = "example.org/x" }, "" },
	{ "no td", { .trust_domain = NULL }, "trust domain" },
	{ "ca ttl under 2 svid ttl",
	  { .trust_domain = TD, .ca_ttl = 7000, .svid_ttl = 3600 },
	  "at least twice" },
	{ "default ca ttl, svid ttl 13h",
	  { .trust_domain = TD, .svid_ttl = 13 * 3600 }, "at least twice" },
	{ "negative ttl", { .trust_domain = TD, .ca_ttl = -5 }, "positive" },
	{ "upstream cert without key",
	  { .trust_domain = TD, .upstream_cert = "/nonexistent.crt" },
	  "both" },
};

static void test_init_refusals(void)
{
	char dir[PATH_MAX];
	size_t i;

	tmp_path(dir, "refused");
	for (i = 0; i < sizeof(init_refusals) / sizeof(init_refusals[0]); i++) {
		const struct init_refusal *r = &init_refusals[i];
		struct nt_err err = { "" };
		int ret = node_ca__init(dir, &r->opts, &err);

		CHECKF(ret < 0, "%s: accepted", r->name);
		CHECKF(err.msg[0] && has(err.msg, r->want), "%s: msg '%s'",
		       r->name, err.msg);
		CHECKF(mode_of(dir) == -1, "%s: state dir was created",
		       r->name);
	}
}

/* ---- open: missing and damaged state ------------------------------------ */

static void test_open_missing(void)
{
	struct nt_err err = { "" };
	struct node_ca *ca = NULL;
	char dir[PATH_MAX];
	int ret;

	tmp_path(dir, "nothing-here");
	ret = node_ca__open(&ca, dir, &err);
	CHECKF(ret == -ENOENT, "open missing dir: %d", ret);
	CHECKF(has(err.msg, "ca init"), "msg: %s", err.msg);
	CHECK(mode_of(dir) == -1);
	/* A state dir without a CA in it. */
	CHECK(mkdir(dir, 0700) == 0);
	ret = node_ca__open(&ca, dir, &err);
	CHECKF(ret == -ENOENT && has(err.msg, "ca init"), "empty dir: %d %s",
	       ret, err.msg);
}

/* Puts @text right after the opening brace of ca.json. */
static void prepend_key(const char *dir, const char *text)
{
	char path[PATH_MAX], *raw, *out;
	size_t len = 0;

	join(path, dir, STATE_CA_FILE);
	raw = slurp(path, &len);
	if (!raw || raw[0] != '{')
		return;
	if (asprintf(&out, "{%s%s", text, raw + 1) > 0) {
		CHECK(spit(path, out, strlen(out)) == 0);
		free(out);
	}
	free(raw);
}

static void truncate_half(const char *path)
{
	size_t len = 0;
	char *raw = slurp(path, &len);

	if (raw)
		CHECK(spit(path, raw, len / 2) == 0);
	free(raw);
}

static X509 *current_cert(const char *dir)
{
	struct node_ca *ca = open_ok(dir);
	X509 *x = NULL;

	if (ca)
		x = ref(node_ca__at(ca, 0)->cert);
	node_ca__close(ca);
	return x;
}

static void ed_ttl_string(cJSON *root)
{
	cJSON_ReplaceItemInObjectCaseSensitive(root, "ca_ttl",
					       cJSON_CreateString("1d"));
}

static void ed_no_svid_ttl(cJSON *root)
{
	cJSON_DeleteItemFromObjectCaseSensitive(root, "svid_ttl");
}

static void ed_traversal(cJSON *root)
{
	cJSON_ReplaceItemInObjectCaseSensitive(root, "current",
					       cJSON_CreateString("../../etc/x"));
}

static void ed_version(cJSON *root)
{
	cJSON_ReplaceItemInObjectCaseSensitive(root, "version",
					       cJSON_CreateNumber(3));
}

static void ed_svid_ttl_big(cJSON *root)
{
	cJSON_ReplaceItemInObjectCaseSensitive(root, "svid_ttl",
					       cJSON_CreateNumber(86400));
}

enum damage {
	DMG_INDEX_TRUNCATED, DMG_INDEX_UNKNOWN_KEY, DMG_INDEX_DUP_KEY,
	DMG_INDEX_WRONG_TYPE, DMG_INDEX_MISSING_KEY, DMG_INDEX_TRAVERSAL,
	DMG_INDEX_VERSION, DMG_INDEX_TTLS, DMG_KEY_TRUNCATED, DMG_KEY_MODE,
	DMG_KEY_MISSING, DMG_KEY_OTHER, DMG_CRT_TRUNCATED, DMG_CRT_MISSING,
	DMG_BUNDLE_TRUNCATED,
};

struct damage_case {
	const char *name;
	enum damage what;
	const char *want;	/* in the error message */
};

static const struct damage_case damage_cases[] = {
	{ "truncated ca.json", DMG_INDEX_TRUNCATED, "ca.json: invalid json" },
	{ "unknown key", DMG_INDEX_UNKNOWN_KEY, "unknown key \"extra\"" },
	{ "duplicate key", DMG_INDEX_DUP_KEY, "duplicate json key \"ca_ttl\"" },
	{ "wrong type", DMG_INDEX_WRONG_TYPE, "\"ca_ttl\" must be an integer" },
	{ "missing key", DMG_INDEX_MISSING_KEY, "missing key \"svid_ttl\"" },
	{ "path in serial", DMG_INDEX_TRAVERSAL, "\"current\" must be a certificate serial" },
	{ "future version", DMG_INDEX_VERSION, "version 3 is not supported" },
	{ "svid ttl over half ca ttl", DMG_INDEX_TTLS, "\"svid_ttl\"" },
	{ "truncated key", DMG_KEY_TRUNCATED, ".key: not a readable private key" },
	{ "key mode 0644", DMG_KEY_MODE, "0644" },
	{ "missing key file", DMG_KEY_MISSING, ".key" },
	{ "key of another CA", DMG_KEY_OTHER, "does not match" },
	{ "truncated cert", DMG_CRT_TRUNCATED, ".crt" },
	{ "missing cert", DMG_CRT_MISSING, ".crt" },
	{ "truncated bundle", DMG_BUNDLE_TRUNCATED, "bundle.json" },
};

static void damage(const char *dir, enum damage what, X509 *cur,
		   const char *other_dir)
{
	char path[PATH_MAX], src[PATH_MAX], *raw;
	size_t len = 0;

	join(path, dir, STATE_CA_FILE);
	switch (what) {
	case DMG_INDEX_TRUNCATED:
		truncate_half(path);
		break;
	case DMG_INDEX_UNKNOWN_KEY:
		prepend_key(dir, "\"extra\": 1,");
		break;
	case DMG_INDEX_DUP_KEY:
		prepend_key(dir, "\"ca_ttl\": 86400,");
		break;
	case DMG_INDEX_WRONG_TYPE:
		edit_index(dir, ed_ttl_string);
		break;
	case DMG_INDEX_MISSING_KEY:
		edit_index(dir, ed_no_svid_ttl);
		break;
	case DMG_INDEX_TRAVERSAL:
		edit_index(dir, ed_traversal);
		break;
	case DMG_INDEX_VERSION:
		edit_index(dir, ed_version);
		break;
	case DMG_INDEX_TTLS:
		edit_index(dir, ed_svid_ttl_big);
		break;
	case DMG_KEY_TRUNCATED:
		gen_file(path, dir, cur, ".key");
		truncate_half(path);
		break;
	case DMG_KEY_MODE:
		gen_file(path, dir, cur, ".key");
		CHECK(chmod(path, 0644) == 0);
		break;
	case DMG_KEY_MISSING:
		gen_file(path, dir, cur, ".key");
		CHECK(unlink(path) == 0);
		break;
	case DMG_KEY_OTHER: {
		X509 *other = current_cert(other_dir);

		if (!other)
			break;
		gen_file(src, other_dir, other, ".key");
		gen_file(path, dir, cur, ".key");
		raw = slurp(src, &len);
		CHECK(raw && spit(path, raw, len) == 0);
		free(raw);
		X509_free(other);
		break;
	}
	case DMG_CRT_TRUNCATED:
		gen_file(path, dir, cur, ".crt");
		truncate_half(path);
		break;
	case DMG_CRT_MISSING:
		gen_file(path, dir, cur, ".crt");
		CHECK(unlink(path) == 0);
		break;
	case DMG_BUNDLE_TRUNCATED:
		join(path, dir, STATE_BUNDLE_FILE);
		truncate_half(path);
		break;
	}
}

static void test_open_damaged(void)
{
	char dir[PATH_MAX], other[PATH_MAX], name[64];
	size_t i;

	if (!fresh_ca(other, "damage-other", T0, 0, 0))
		return;
	for (i = 0; i < sizeof(damage_cases) / sizeof(damage_cases[0]); i++) {
		const struct damage_case *c = &damage_cases[i];
		X509 *cur;

		snprintf(name, sizeof(name), "damage-%zu", i);
		if (!fresh_ca(dir, name, T0, 0, 0))
			continue;
		cur = current_cert(dir);
		if (!cur)
			continue;
		damage(dir, c->what, cur, other);
		check_open_refused(dir, c->want, c->name);
		X509_free(cur);
	}
}

/* A group- or world-readable state dir is refused, and left alone. */
static void test_open_dir_mode(void)
{
	struct nt_err err = { "" };
	struct node_ca *ca = NULL;
	char dir[PATH_MAX];
	int ret;

	if (!fresh_ca(dir, "dirmode", T0, 0, 0))
		return;
	CHECK(chmod(dir, 0755) == 0);
	ret = node_ca__open(&ca, dir, &err);
	CHECKF(ret == -EPERM && has(err.msg, "0755"), "open: %d %s", ret,
	       err.msg);
	CHECK(mode_of(dir) == 0755);
}

/* ---- minting -------------------------------------------------------------- */

static void test_mint_verifies(void)
{
	struct nt_err err = { "" };
	struct node_ca *ca = NULL;
	struct svid *s = NULL;
	struct spiffe_id other;
	char dir[PATH_MAX];
	time_t nb, na;
	int ret;

	if (!fresh_ca(dir, "mint", T0, 0, 0) || !(ca = open_ok(dir)))
		return;
	s = mint_ok(ca, "/ns/default/sa/web", T0 + 60);
	if (s) {
		CHECK(issued_by(s->leaf, node_ca__at(ca, 0)->cert));
		CHECK(sk_X509_num(s->intermediates) == 0);
		CHECK(x509__validity(s->leaf, &nb, &na) == 0);
		CHECKF(na - nb == SVID_TTL_DEFAULT + SVID_BACKDATE,
		       "svid life %lld", (long long)(na - nb));
		check_verifies(dir, s, T0 + 120, "fresh svid");
		ret = verify_at(dir, s, T0 + 60 + SVID_TTL_DEFAULT + 1, &err);
		CHECKF(ret < 0, "expired svid verified");
	}
	svid__free(s);
	s = NULL;
	/* Another trust domain is refused by the minting code. */
	CHECK(spiffe_id__parse(&other, "spiffe://other.org/x",
			       strlen("spiffe://other.org/x"), &err) == 0);
	ret = node_ca__mint(ca, &other, 0, T0 + 60, &s, &err);
	CHECKF(ret < 0 && !s, "minted for another trust domain");
	/* An explicit ttl wins over the default. */
	CHECK(spiffe_id__parse(&other, "spiffe://" TD "/short",
			       strlen("spiffe://" TD "/short"), &err) == 0);
	ret = node_ca__mint(ca, &other, 300, T0 + 60, &s, &err);
	CHECKF(ret == 0, "mint ttl 300: %s", err.msg);
	if (s) {
		CHECK(x509__validity(s->leaf, &nb, &na) == 0 &&
		      na == T0 + 60 + 300);
		svid__free(s);
	}
	node_ca__close(ca);
}

T_MAIN("node_ca/state",
       T(test_init_files),
       T(test_init_twice),
       T(test_init_refusals),
       T(test_open_missing),
       T(test_open_damaged),
       T(test_open_dir_mode),
       T(test_mint_verifies));
