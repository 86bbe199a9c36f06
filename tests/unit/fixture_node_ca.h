/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers of the node CA tests (test_node_ca*.c): a CA in its own state dir
 * under t_tmpdir(), snapshots of that dir, minting and verifying against it.
 *
 * static inline, as each test binary uses only some of them.
 */
#ifndef NAMETAG_TEST_FIXTURE_NODE_CA_H
#define NAMETAG_TEST_FIXTURE_NODE_CA_H

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>
#include <openssl/x509v3.h>

#include "ca/ca.h"
#include "tests/unit/harness.h"

#define TD	"example.org"
#define T0	((time_t)1750000000)	/* 2025-06-15 */

/* ---- small utilities --------------------------------------------------- */

static inline bool has(const char *msg, const char *want)
{
	return want && strstr(msg, want);
}

static inline void tmp_path(char *buf, const char *name)
{
	CHECK(snprintf(buf, PATH_MAX, "%s/%s", t_tmpdir(), name) < PATH_MAX);
}

static inline void join(char *buf, const char *dir, const char *rel)
{
	CHECK(snprintf(buf, PATH_MAX, "%s/%s", dir, rel) < PATH_MAX);
}

/* -1 when the file does not exist. */
static inline int mode_of(const char *path)
{
	struct stat st;

	if (lstat(path, &st))
		return -1;
	return (int)(st.st_mode & 07777);
}

/* A regular file's bytes, NUL-terminated; NULL for anything else. */
static inline char *slurp(const char *path, size_t *len)
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
static inline int spit(const char *path, const char *data, size_t len)
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

/* Names, modes and bytes of every file in @dir and @dir/ca, sorted: two
 * equal snapshots mean nothing was touched. */
static inline void snap_one(FILE *out, const char *dir)
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

static inline char *snapshot(const char *dir)
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

static inline bool same_snapshot(const char *a, const char *b)
{
	return a && b && !strcmp(a, b);
}

static inline int init_at(const char *dir, time_t now, int64_t ca_ttl,
			  int64_t svid_ttl, struct nt_err *err)
{
	struct ca_init_opts o = {
		.trust_domain = TD, .ca_ttl = ca_ttl, .svid_ttl = svid_ttl,
		.now = now,
	};

	return node_ca__init(dir, &o, err);
}

/* A fresh CA in t_tmpdir()/@name; @dir receives its path. */
static inline bool fresh_ca(char *dir, const char *name, time_t now,
			    int64_t ca_ttl, int64_t svid_ttl)
{
	struct nt_err err = { "" };
	int ret;

	tmp_path(dir, name);
	ret = init_at(dir, now, ca_ttl, svid_ttl, &err);
	CHECKF(ret == 0, "init %s: %d %s", name, ret, err.msg);
	return ret == 0;
}

static inline struct node_ca *open_ok(const char *dir)
{
	struct nt_err err = { "" };
	struct node_ca *ca = NULL;
	int ret = node_ca__open(&ca, dir, &err);

	CHECKF(ret == 0, "open %s: %d %s", dir, ret, err.msg);
	return ret ? NULL : ca;
}

static inline void serial_of(X509 *x, char *buf)
{
	if (x509__serial_hex(x, buf, 64))
		strcpy(buf, "?");
}

/* The file of one CA generation: "<serial>.crt" or ".key". */
static inline void gen_file(char *buf, const char *dir, X509 *x,
			     const char *ext)
{
	char serial[64];

	serial_of(x, serial);
	CHECK(snprintf(buf, PATH_MAX, "%s/ca/%s%s", dir, serial, ext) <
	      PATH_MAX);
}

static inline struct bundle *disk_bundle(const char *dir)
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
static inline void check_disk_bundle(const char *dir, uint64_t seq, int nauth,
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

static inline struct svid *mint_ok(struct node_ca *ca, const char *path,
				   time_t now)
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
static inline int verify_at(const char *dir, const struct svid *s, time_t now,
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

static inline void check_verifies(const char *dir, const struct svid *s,
				  time_t now, const char *what)
{
	struct nt_err err = { "" };
	int ret;

	if (!s)
		return;
	ret = verify_at(dir, s, now, &err);
	CHECKF(ret == 0, "%s: verify: %d %s", what, ret, err.msg);
}

static inline bool issued_by(X509 *x, X509 *ca)
{
	return X509_check_issued(ca, x) == X509_V_OK &&
	       X509_verify(x, X509_get0_pubkey(ca)) == 1;
}

static inline X509 *ref(X509 *x)
{
	if (x)
		X509_up_ref(x);
	return x;
}

static inline void rotate_ok(struct node_ca *ca, time_t now, enum ca_step want,
			     const char *when)
{
	enum ca_step step = CA_STEP_NONE;
	struct nt_err err = { "" };
	int ret = node_ca__rotate(ca, now, &step, &err);

	CHECKF(ret == 0 && step == want, "%s: rotate %d step %d: %s", when,
	       ret, step, err.msg);
}

/* Rewrites ca.json through cJSON: @edit changes the parsed tree. */
static inline void edit_index(const char *dir, void (*edit)(cJSON *root))
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

/* Opening @dir must fail with @want in the message and leave every file
 * as it was: damage is never a reason to start over (state-dir.md). */
static inline void check_open_refused(const char *dir, const char *want,
				      const char *name)
{
	char *before = snapshot(dir), *after;
	struct nt_err err = { "" };
	struct node_ca *ca = NULL;
	int ret;

	ret = node_ca__open(&ca, dir, &err);
	CHECKF(ret < 0, "%s: opened", name);
	CHECKF(has(err.msg, want), "%s: msg '%s', want '%s'", name, err.msg,
	       want);
	after = snapshot(dir);
	CHECKF(same_snapshot(before, after), "%s: files changed", name);
	if (!ret)
		node_ca__close(ca);
	free(before);
	free(after);
}

#endif
