// SPDX-License-Identifier: Apache-2.0
/*
 * The node CA (ca/authority*.c): the state dir it writes, how it refuses
 * damaged state without touching it, minting, rotation by hand and on
 * schedule, and upstream mode with a CA made by the openssl command line.
 *
 * Every case works in its own state dir under t_tmpdir(). Times are fixed
 * (T0) except in upstream mode, where the upstream CA is made by openssl at
 * the real time.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "ca/ca.h"
#include "tests/unit/harness.h"

#define TD	"example.org"
#define T0	((time_t)1750000000)	/* 2025-06-15 */

/* ---- small utilities --------------------------------------------------- */

static bool has(const char *msg, const char *want)
{
	return want && strstr(msg, want);
}

static void tmp_path(char *buf, const char *name)
{
	CHECK(snprintf(buf, PATH_MAX, "%s/%s", t_tmpdir(), name) < PATH_MAX);
}

static void join(char *buf, const char *dir, const char *rel)
{
	CHECK(snprintf(buf, PATH_MAX, "%s/%s", dir, rel) < PATH_MAX);
}

/* -1 when the file does not exist. */
static int mode_of(const char *path)
{
	struct stat st;

	if (lstat(path, &st))
		return -1;
	return (int)(st.st_mode & 07777);
}

/* A regular file's bytes, NUL-terminated; NULL for anything else. */
static char *slurp(const char *path, size_t *len)
{
	char *buf = NULL;
	struct stat st;
	FILE *f;
	long n;

	if (lstat(path, &st) || !S_ISREG(st.st_mode))
		return NULL;
	f = fopen(path, "rb");
	if (!f)
		return NULL;
	if (!fseek(f, 0, SEEK_END) && (n = ftell(f)) >= 0 &&
	    !fseek(f, 0, SEEK_SET)) {
		buf = malloc((size_t)n + 1);
		if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		}
		if (buf) {
			buf[n] = '\0';
			*len = (size_t)n;
		}
	}
	fclose(f);
	return buf;
}

/* Overwrites in place, so the file keeps its mode. */
static int spit(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	size_t n;

	if (!f)
		return -errno;
	n = fwrite(data, 1, len, f);
	if (fclose(f) || n != len)
		return -EIO;
	return 0;
}

/* Runs a shell command; output goes to a log in the temp dir, kept with
 * T_KEEP=1 for a failing case. */
static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n + 64 >= sizeof(cmd))
		return -1;
	/* A subshell, so the redirection covers every command of a chain. */
	memmove(cmd + 1, cmd, (size_t)n + 1);
	cmd[0] = '(';
	snprintf(cmd + n + 1, sizeof(cmd) - n - 1, ") >>'%s/sh.log' 2>&1",
		 t_tmpdir());
	return system(cmd);
}

/* Names, modes and bytes of every file in @dir and @dir/ca, sorted: two
 * equal snapshots mean nothing was touched. */
static void snap_one(FILE *out, const char *dir)
{
	struct dirent **names = NULL;
	char path[PATH_MAX], *data;
	size_t len = 0;
	int i, n;

	n = scandir(dir, &names, NULL, alphasort);
	for (i = 0; i < n; i++) {
		join(path, dir, names[i]->d_name);
		data = slurp(path, &len);
		if (data) {
			fprintf(out, "%s %o %zu\n", path, mode_of(path), len);
			fwrite(data, 1, len, out);
			free(data);
		}
		free(names[i]);
	}
	free(names);
}

static char *snapshot(const char *dir)
{
	char *buf = NULL, path[PATH_MAX];
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	if (!out)
		return NULL;
	fprintf(out, "%s %o\n", dir, mode_of(dir));
	snap_one(out, dir);
	join(path, dir, "ca");
	fprintf(out, "%s %o\n", path, mode_of(path));
	snap_one(out, path);
	fclose(out);
	return buf;
}

static bool same_snapshot(const char *a, const char *b)
{
	return a && b && !strcmp(a, b);
}

static int init_at(const char *dir, time_t now, int64_t ca_ttl,
		   int64_t svid_ttl, struct nt_err *err)
{
	struct ca_init_opts o = {
		.trust_domain = TD, .ca_ttl = ca_ttl, .svid_ttl = svid_ttl,
		.now = now,
	};

	return node_ca__init(dir, &o, err);
}

/* A fresh CA in t_tmpdir()/@name; @dir receives its path. */
static bool fresh_ca(char *dir, const char *name, time_t now, int64_t ca_ttl,
		     int64_t svid_ttl)
{
	struct nt_err err = { "" };
	int ret;

	tmp_path(dir, name);
	ret = init_at(dir, now, ca_ttl, svid_ttl, &err);
	CHECKF(ret == 0, "init %s: %d %s", name, ret, err.msg);
	return ret == 0;
}

static struct node_ca *open_ok(const char *dir)
{
	struct nt_err err = { "" };
	struct node_ca *ca = NULL;
	int ret = node_ca__open(&ca, dir, &err);

	CHECKF(ret == 0, "open %s: %d %s", dir, ret, err.msg);
	return ret ? NULL : ca;
}

static void serial_of(X509 *x, char *buf)
{
	if (x509__serial_hex(x, buf, 64))
		strcpy(buf, "?");
}

/* The file of one CA generation: "<serial>.crt" or ".key". */
static void gen_file(char *buf, const char *dir, X509 *x, const char *ext)
{
	char serial[64];

	serial_of(x, serial);
	CHECK(snprintf(buf, PATH_MAX, "%s/ca/%s%s", dir, serial, ext) <
	      PATH_MAX);
}

static struct bundle *disk_bundle(const char *dir)
{
	struct nt_err err = { "" };
	struct bundle *b = NULL;
	char path[PATH_MAX];
	int ret;

	join(path, dir, STATE_BUNDLE_FILE);
	ret = bundle__load(&b, TD, path, &err);
	CHECKF(ret == 0, "load %s: %s", path, err.msg);
	return b;
}

/* Sequence and number of authorities of STATE/bundle.json. */
static void check_disk_bundle(const char *dir, uint64_t seq, int nauth,
			      const char *when)
{
	struct bundle *b = disk_bundle(dir);

	if (!b)
		return;
	CHECKF(b->has_sequence && b->sequence == seq,
	       "%s: bundle sequence %llu, want %llu", when,
	       (unsigned long long)b->sequence, (unsigned long long)seq);
	CHECKF(sk_X509_num(b->x509_authorities) == nauth,
	       "%s: %d authorities, want %d", when,
	       sk_X509_num(b->x509_authorities), nauth);
	CHECKF(b->has_refresh_hint && b->refresh_hint == BUNDLE_REFRESH_HINT,
	       "%s: refresh hint", when);
	bundle__free(b);
}

static struct svid *mint_ok(struct node_ca *ca, const char *path, time_t now)
{
	struct nt_err err = { "" };
	struct svid *s = NULL;
	struct spiffe_id id;
	char uri[256];
	int ret;

	snprintf(uri, sizeof(uri), "spiffe://" TD "%s", path);
	ret = spiffe_id__parse(&id, uri, strlen(uri), &err);
	if (!ret)
		ret = node_ca__mint(ca, &id, 0, now, &s, &err);
	CHECKF(ret == 0, "mint %s: %d %s", uri, ret, err.msg);
	return ret ? NULL : s;
}

/* Verifies @s against the state dir's trust store, as a peer would. */
static int verify_at(const char *dir, const struct svid *s, time_t now,
		     struct nt_err *err)
{
	struct svid_verify_opts o = { .now = now, .skew = 0 };
	struct bundle_set *set = NULL;
	struct spiffe_id id;
	int ret;

	ret = trust__load(dir, &set, err);
	if (!ret)
		ret = svid__verify(s->leaf, s->intermediates, set, &o, &id, err);
	if (!ret && !spiffe_id__equal(&id, &s->id))
		ret = nt_err_set(err, -EINVAL, "verified id differs");
	bundle_set__free(set);
	return ret;
}

static void check_verifies(const char *dir, const struct svid *s, time_t now,
			   const char *what)
{
	struct nt_err err = { "" };
	int ret;

	if (!s)
		return;
	ret = verify_at(dir, s, now, &err);
	CHECKF(ret == 0, "%s: verify: %d %s", what, ret, err.msg);
}

static bool issued_by(X509 *x, X509 *ca)
{
	return X509_check_issued(ca, x) == X509_V_OK &&
	       X509_verify(x, X509_get0_pubkey(ca)) == 1;
}

static X509 *ref(X509 *x)
{
	if (x)
		X509_up_ref(x);
	return x;
}

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
	CHECK(cJSON_IsNumber(it) && it->valueint == 1);
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

/* Rewrites ca.json through cJSON: @edit changes the parsed tree. */
static void edit_index(const char *dir, void (*edit)(cJSON *root))
{
	char path[PATH_MAX], *raw, *text;
	cJSON *root;
	size_t len = 0;

	join(path, dir, STATE_CA_FILE);
	raw = slurp(path, &len);
	root = raw ? cJSON_Parse(raw) : NULL;
	free(raw);
	if (!root)
		return;
	edit(root);
	text = cJSON_Print(root);
	if (text)
		CHECK(spit(path, text, strlen(text)) == 0);
	cJSON_free(text);
	cJSON_Delete(root);
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
					       cJSON_CreateNumber(2));
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
	{ "future version", DMG_INDEX_VERSION, "version 2 is not supported" },
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
	char dir[PATH_MAX], other[PATH_MAX], name[64], *before, *after;
	size_t i;

	if (!fresh_ca(other, "damage-other", T0, 0, 0))
		return;
	for (i = 0; i < sizeof(damage_cases) / sizeof(damage_cases[0]); i++) {
		const struct damage_case *c = &damage_cases[i];
		struct nt_err err = { "" };
		struct node_ca *ca = NULL;
		X509 *cur;
		int ret;

		snprintf(name, sizeof(name), "damage-%zu", i);
		if (!fresh_ca(dir, name, T0, 0, 0))
			continue;
		cur = current_cert(dir);
		if (!cur)
			continue;
		damage(dir, c->what, cur, other);
		before = snapshot(dir);
		ret = node_ca__open(&ca, dir, &err);
		CHECKF(ret < 0, "%s: opened", c->name);
		CHECKF(has(err.msg, c->want), "%s: msg '%s', want '%s'",
		       c->name, err.msg, c->want);
		after = snapshot(dir);
		CHECKF(same_snapshot(before, after), "%s: files changed",
		       c->name);
		if (!ret)
			node_ca__close(ca);
		free(before);
		free(after);
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

static void rotate_ok(struct node_ca *ca, time_t now, enum ca_step want,
		      const char *when)
{
	enum ca_step step = CA_STEP_NONE;
	struct nt_err err = { "" };
	int ret = node_ca__rotate(ca, now, &step, &err);

	CHECKF(ret == 0 && step == want, "%s: rotate %d step %d: %s", when,
	       ret, step, err.msg);
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
out:
	node_ca__close(a);
	node_ca__close(b);
}

/* ---- upstream mode -------------------------------------------------------- */

/* Made once: root.crt/key (a CA), mid.crt/key (an issuing CA below it),
 * chain.crt (mid then root), other.key, notca.crt/key, short.crt/key
 * (a CA that ends in a day). */
static const char *upstream_dir(void)
{
	static char dir[PATH_MAX];
	static int state;	/* 0 not yet, 1 made, -1 failed */
	const char *ec = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";
	int ret;

	if (state)
		return state > 0 ? dir : NULL;
	tmp_path(dir, "upstream");
	ret = sh("mkdir -p '%s' && cd '%s' && "
		 "openssl req -x509 %s -keyout root.key -out root.crt -days 365 "
		 "-subj '/O=corp/CN=corp root' "
		 "-addext 'basicConstraints=critical,CA:TRUE' "
		 "-addext 'keyUsage=critical,keyCertSign,cRLSign' && "
		 "printf 'basicConstraints=critical,CA:TRUE,pathlen:1\\n"
		 "keyUsage=critical,keyCertSign,cRLSign\\n"
		 "subjectKeyIdentifier=hash\\nauthorityKeyIdentifier=keyid\\n' > mid.ext && "
		 "openssl req -new %s -keyout mid.key -out mid.csr "
		 "-subj '/O=corp/CN=corp issuing' && "
		 "openssl x509 -req -in mid.csr -CA root.crt -CAkey root.key "
		 "-set_serial 2 -days 300 -extfile mid.ext -out mid.crt && "
		 "cat mid.crt root.crt > chain.crt && "
		 "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out other.key && "
		 "openssl req -x509 %s -keyout notca.key -out notca.crt -days 365 "
		 "-subj '/CN=not a ca' -addext 'basicConstraints=critical,CA:FALSE' && "
		 "openssl req -x509 %s -keyout short.key -out short.crt -days 1 "
		 "-subj '/CN=short' -addext 'basicConstraints=critical,CA:TRUE' "
		 "-addext 'keyUsage=critical,keyCertSign' && "
		 "chmod 600 *.key",
		 dir, dir, ec, ec, ec, ec);
	CHECKF(ret == 0, "openssl setup failed (see %s/sh.log)", t_tmpdir());
	state = ret == 0 ? 1 : -1;
	return state > 0 ? dir : NULL;
}

static X509 *read_pem_cert(const char *path)
{
	FILE *f = fopen(path, "r");
	X509 *x;

	if (!f)
		return NULL;
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	return x;
}

static int init_upstream(const char *dir, const char *cert, const char *key,
			 int64_t ca_ttl, int64_t svid_ttl, struct nt_err *err)
{
	struct ca_init_opts o = {
		.trust_domain = TD, .ca_ttl = ca_ttl, .svid_ttl = svid_ttl,
		.now = time(NULL),
		.upstream_cert = cert, .upstream_key = key,
	};

	return node_ca__init(dir, &o, err);
}

/* `openssl verify` agrees with svid__verify. */
static void openssl_verifies(const char *root, const struct svid *s,
			     const char *tag)
{
	char leaf[PATH_MAX], chain[PATH_MAX], name[64];
	X509 *certs[8];
	size_t len = 0;
	char *pem = NULL;
	int i, n = sk_X509_num(s->intermediates);

	snprintf(name, sizeof(name), "%s-leaf.pem", tag);
	tmp_path(leaf, name);
	snprintf(name, sizeof(name), "%s-chain.pem", tag);
	tmp_path(chain, name);
	if (n > 8)
		return;
	for (i = 0; i < n; i++)
		certs[i] = sk_X509_value(s->intermediates, i);
	CHECK(pem__write_certs(certs, (size_t)n, &pem, &len, NULL) == 0 &&
	      spit(chain, pem, len) == 0);
	free(pem);
	CHECK(pem__write_certs(&s->leaf, 1, &pem, &len, NULL) == 0 &&
	      spit(leaf, pem, len) == 0);
	free(pem);
	CHECKF(sh("openssl verify -x509_strict -CAfile '%s' -untrusted '%s' '%s'",
		  root, chain, leaf) == 0,
	       "%s: openssl verify failed (see sh.log)", tag);
}

static void check_upstream_ca(struct node_ca *ca, X509 *issuer)
{
	X509 *x = node_ca__at(ca, 0)->cert;
	BASIC_CONSTRAINTS *bc;
	time_t na, up_na;

	CHECK(node_ca__is_upstream(ca));
	CHECK(!node_ca__signer(ca)->ca_is_root);
	CHECK(issued_by(x, issuer));
	bc = X509_get_ext_d2i(x, NID_basic_constraints, NULL, NULL);
	CHECK(bc && bc->ca && bc->pathlen && ASN1_INTEGER_get(bc->pathlen) == 0);
	BASIC_CONSTRAINTS_free(bc);
	CHECK(X509_get0_authority_key_id(x) &&
	      !ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(x),
				     X509_get0_subject_key_id(issuer)));
	CHECK(x509__validity(x, NULL, &na) == 0 &&
	      x509__validity(issuer, NULL, &up_na) == 0 && na <= up_na);
}

static void test_upstream_root(void)
{
	char dir[PATH_MAX], cwd[PATH_MAX], root[PATH_MAX], path[PATH_MAX];
	struct nt_err err = { "" };
	const char *up = upstream_dir();
	struct node_ca *ca = NULL;
	struct svid *s = NULL;
	X509 *rootx = NULL;
	char *idx;
	size_t len = 0;
	int ret;

	if (!up || !getcwd(cwd, sizeof(cwd)))
		return;
	tmp_path(dir, "up-root");
	join(root, up, "root.crt");
	/* Relative paths are recorded absolute. */
	CHECK(chdir(up) == 0);
	ret = init_upstream(dir, "root.crt", "root.key", 0, 0, &err);
	CHECK(chdir(cwd) == 0);
	CHECKF(ret == 0, "init: %d %s", ret, err.msg);
	join(path, dir, STATE_CA_FILE);
	idx = slurp(path, &len);
	CHECKF(idx && has(idx, root), "ca.json lacks %s", root);
	free(idx);
	rootx = read_pem_cert(root);
	ca = open_ok(dir);
	if (!ca || !rootx)
		goto out;
	check_upstream_ca(ca, rootx);
	check_disk_bundle(dir, 1, 1, "upstream init");
	CHECK(!X509_cmp(sk_X509_value(node_ca__bundle(ca)->x509_authorities, 0),
			rootx));
	s = mint_ok(ca, "/upstream/web", time(NULL));
	if (s) {
		CHECK(sk_X509_num(s->intermediates) == 1 &&
		      !X509_cmp(sk_X509_value(s->intermediates, 0),
				node_ca__at(ca, 0)->cert));
		check_verifies(dir, s, time(NULL), "upstream svid");
		openssl_verifies(root, s, "up-root");
	}
	/* Rotating keeps the one root: the bundle does not change. */
	rotate_ok(ca, time(NULL), CA_STEP_PREPARED, "upstream prepare");
	rotate_ok(ca, time(NULL), CA_STEP_ACTIVATED, "upstream activate");
	check_disk_bundle(dir, 1, 1, "upstream rotated");
	check_verifies(dir, s, time(NULL), "upstream svid after rotation");
out:
	svid__free(s);
	X509_free(rootx);
	node_ca__close(ca);
}

static void test_upstream_chain(void)
{
	char dir[PATH_MAX], chain[PATH_MAX], key[PATH_MAX], root[PATH_MAX];
	char mid[PATH_MAX];
	struct nt_err err = { "" };
	const char *up = upstream_dir();
	struct node_ca *ca = NULL;
	struct svid *s = NULL;
	X509 *midx = NULL, *rootx = NULL;
	int ret;

	if (!up)
		return;
	tmp_path(dir, "up-chain");
	join(chain, up, "chain.crt");
	join(key, up, "mid.key");
	join(root, up, "root.crt");
	join(mid, up, "mid.crt");
	ret = init_upstream(dir, chain, key, 0, 0, &err);
	CHECKF(ret == 0, "init: %d %s", ret, err.msg);
	midx = read_pem_cert(mid);
	rootx = read_pem_cert(root);
	ca = ret ? NULL : open_ok(dir);
	if (!ca || !midx || !rootx)
		goto out;
	check_upstream_ca(ca, midx);
	CHECK(!X509_cmp(sk_X509_value(node_ca__bundle(ca)->x509_authorities, 0),
			rootx));
	s = mint_ok(ca, "/chain/web", time(NULL));
	if (s) {
		/* leaf, node CA, upstream issuing CA; the root is the bundle's */
		CHECK(sk_X509_num(s->intermediates) == 2 &&
		      !X509_cmp(sk_X509_value(s->intermediates, 1), midx));
		check_verifies(dir, s, time(NULL), "chained svid");
		openssl_verifies(root, s, "up-chain");
	}
out:
	svid__free(s);
	X509_free(midx);
	X509_free(rootx);
	node_ca__close(ca);
}

struct upstream_refusal {
	const char *name;
	const char *cert, *key;	/* in upstream_dir() */
	mode_t key_mode;	/* 0: leave as is */
	int64_t ca_ttl, svid_ttl;
	const char *want;
};

static const struct upstream_refusal upstream_refusals[] = {
	{ "key of another CA", "root.crt", "other.key", 0, 0, 0,
	  "does not match" },
	{ "key mode 0644", "root.crt", "root.key", 0644, 0, 0, "0644" },
	{ "not a CA", "notca.crt", "notca.key", 0, 0, 0, "not a CA" },
	{ "chain without its root", "mid.crt", "mid.key", 0, 0, 0,
	  "self-signed root" },
	{ "ends before two SVIDs", "short.crt", "short.key", 0, 3 * 86400,
	  13 * 3600, "renew" },
	{ "missing cert", "nothing.crt", "root.key", 0, 0, 0, "nothing.crt" },
};

static void test_upstream_refusals(void)
{
	char dir[PATH_MAX], cert[PATH_MAX], key[PATH_MAX];
	const char *up = upstream_dir();
	size_t i;

	if (!up)
		return;
	tmp_path(dir, "up-refused");
	for (i = 0; i < sizeof(upstream_refusals) / sizeof(upstream_refusals[0]); i++) {
		const struct upstream_refusal *r = &upstream_refusals[i];
		struct nt_err err = { "" };
		int ret;

		join(cert, up, r->cert);
		join(key, up, r->key);
		if (r->key_mode)
			CHECK(chmod(key, r->key_mode) == 0);
		ret = init_upstream(dir, cert, key, r->ca_ttl, r->svid_ttl, &err);
		if (r->key_mode)
			CHECK(chmod(key, 0600) == 0);
		CHECKF(ret < 0, "%s: accepted", r->name);
		CHECKF(has(err.msg, r->want), "%s: msg '%s'", r->name, err.msg);
		CHECKF(mode_of(dir) == -1, "%s: state dir created", r->name);
	}
}

/* The upstream key is re-read at rotation, with the same checks. */
static void test_upstream_rotation_rechecks(void)
{
	char dir[PATH_MAX], cert[PATH_MAX], key[PATH_MAX], *before, *after;
	struct nt_err err = { "" };
	enum ca_step step = CA_STEP_NONE;
	const char *up = upstream_dir();
	struct node_ca *ca;
	int ret;

	if (!up)
		return;
	tmp_path(dir, "up-recheck");
	join(cert, up, "root.crt");
	join(key, up, "root.key");
	ret = init_upstream(dir, cert, key, 0, 0, &err);
	CHECKF(ret == 0, "init: %s", err.msg);
	if (ret || !(ca = open_ok(dir)))
		return;
	CHECK(chmod(key, 0644) == 0);
	before = snapshot(dir);
	ret = node_ca__rotate(ca, time(NULL), &step, &err);
	after = snapshot(dir);
	CHECK(chmod(key, 0600) == 0);
	CHECKF(ret < 0 && has(err.msg, "0644"), "rotate: %d %s", ret, err.msg);
	CHECK(step == CA_STEP_NONE && node_ca__count(ca) == 1);
	CHECK(same_snapshot(before, after));
	free(before);
	free(after);
	node_ca__close(ca);
}

T_MAIN("node_ca",
       T(test_init_files),
       T(test_init_twice),
       T(test_init_refusals),
       T(test_open_missing),
       T(test_open_damaged),
       T(test_open_dir_mode),
       T(test_mint_verifies),
       T(test_rotate_manual),
       T(test_maintain_schedule),
       T(test_maintain_after_downtime),
       T(test_crash_before_index),
       T(test_two_handles),
       T(test_upstream_root),
       T(test_upstream_chain),
       T(test_upstream_refusals),
       T(test_upstream_rotation_rechecks));
