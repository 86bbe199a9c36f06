// SPDX-License-Identifier: Apache-2.0
/*
 * Pinned trust anchors (ca/anchor.c, docs/fleet.md "Pinning the root"):
 * the pin's forms, agreement with openssl's own fingerprint, and a node's
 * first answer refused when its chain ends at a root other than the pinned
 * one, though config/bundle holds both.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ca/ca.h"
#include "tests/unit/fixture_fleet.h"
#include "tests/unit/fixture_node_ca.h"
#include "tests/unit/fixture_sh.h"
#include "tests/unit/fixture_upstream.h"
#include "tests/unit/harness.h"

#define HEX	"b2fd1a021b1af076fb8a52ee111485c9dc712a148db08e9330159ee3d4e85e46"
#define COLONS	"B2:FD:1A:02:1B:1A:F0:76:FB:8A:52:EE:11:14:85:C9:" \
		"DC:71:2A:14:8D:B0:8E:93:30:15:9E:E3:D4:E8:5E:46"

static void test_parse_forms(void)
{
	static const char *const good[] = {
		HEX, "sha256:" HEX, "SHA256:" HEX, COLONS,
		"sha256 Fingerprint=" COLONS, "sha256:" COLONS,
	};
	uint8_t want[ANCHOR_LEN], got[ANCHOR_LEN];
	struct nt_err err = { "" };
	size_t i;

	CHECK(trust_anchor__parse(HEX, want, &err) == 0);
	CHECK(want[0] == 0xb2 && want[31] == 0x46);
	for (i = 0; i < sizeof(good) / sizeof(*good); i++) {
		memset(got, 0, sizeof(got));
		CHECKF(trust_anchor__parse(good[i], got, &err) == 0 &&
		       !memcmp(got, want, sizeof(want)), "good %zu: %s", i, err.msg);
	}
}

static void test_parse_refusals(void)
{
	static const struct {
		const char *in, *msg;
	} rows[] = {
		{ "", "empty" },
		{ HEX "0", "64 hex digits" },
		{ "2fd1a021b1af076fb8a52ee111485c9dc712a148db08e9330159ee3d4e85e46", "64 hex digits" },
		{ "sha1:" HEX, "64 hex digits" },
		{ "md5 Fingerprint=" COLONS, "64 hex digits" },
		{ "g2fd1a021b1af076fb8a52ee111485c9dc712a148db08e9330159ee3d4e85e46", "not a hex digit at byte 1" },
		{ "b2fd1a021b1af076fb8a52ee111485c9dc712a148db08e9330159ee3d4e85ezz", "not a hex digit at byte 32" },
		{ "B2:FD:1A;02:1B:1A:F0:76:FB:8A:52:EE:11:14:85:C9:"
		  "DC:71:2A:14:8D:B0:8E:93:30:15:9E:E3:D4:E8:5E:46", "not a hex digit at byte 3" },
		{ " 2fd1a021b1af076fb8a52ee111485c9dc712a148db08e9330159ee3d4e85e46", "not a hex digit at byte 1" },
	};
	uint8_t got[ANCHOR_LEN];
	struct nt_err err;
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(*rows); i++) {
		memset(&err, 0, sizeof(err));
		CHECKF(trust_anchor__parse(rows[i].in, got, &err) == -EINVAL &&
		       has(err.msg, rows[i].msg), "row %zu: '%s'", i, err.msg);
	}
	CHECK(trust_anchor__parse(NULL, got, &err) == -EINVAL);
}

/* Our "sha256:..." is openssl's fingerprint, and openssl's parses back. */
static void test_matches_openssl(void)
{
	char path[PATH_MAX], out[PATH_MAX], line[256] = "", ours[ANCHOR_STR_MAX];
	uint8_t a[ANCHOR_LEN], b[ANCHOR_LEN];
	const char *up = upstream_dir();
	X509 *root;
	FILE *f;

	if (!up)
		return;
	join(path, up, "root.crt");
	tmp_path(out, "root.fp");
	CHECK(sh("openssl x509 -in '%s' -noout -fingerprint -sha256 | tr -d '\\n' > '%s'",
		 path, out) == 0);
	f = fopen(out, "r");
	CHECK(f && fgets(line, sizeof(line), f));
	if (f)
		fclose(f);
	root = read_pem_cert(path);
	CHECK(root && trust_anchor__of(root, ours) == 0);
	CHECK(!strncmp(ours, "sha256:", 7) && strlen(ours) == 7 + 64);
	CHECKF(trust_anchor__parse(line, a, NULL) == 0 &&
	       trust_anchor__parse(ours, b, NULL) == 0 && !memcmp(a, b, sizeof(a)),
	       "openssl '%s', ours '%s'", line, ours);
	X509_free(root);
}

/* config/bundle with the fleet's root and another: a pin keeps one. */
static void test_pinned_bundle(void)
{
	char path[PATH_MAX], fp[ANCHOR_STR_MAX];
	struct nt_err err = { "" };
	struct bundle *pinned = NULL;
	uint8_t pin[ANCHOR_LEN] = { 0 };
	struct fleet f;
	X509 *other = NULL;
	int ret;

	if (!fleet_up(&f))
		return;
	join(path, upstream_dir(), "short.crt");
	other = read_pem_cert(path);
	CHECK(other && bundle__add_authority(f.trust, other, NULL) == 1);
	CHECK(trust_anchor__of(other, fp) == 0);
	CHECK(trust_anchor__parse(fp, pin, NULL) == 0);
	ret = bundle__pinned(f.trust, pin, &pinned, &err);
	CHECKF(ret == 0 && pinned && sk_X509_num(pinned->x509_authorities) == 1 &&
	       !X509_cmp(sk_X509_value(pinned->x509_authorities, 0), other) &&
	       !strcmp(pinned->td, TD), "pinned: %d %s", ret, err.msg);
	bundle__free(pinned);
	pinned = NULL;
	memset(pin, 0, sizeof(pin));
	ret = bundle__pinned(f.trust, pin, &pinned, &err);
	CHECKF(ret == -EACCES && !pinned && has(err.msg, "holds no root of the pinned") &&
	       has(err.msg, fp) && has(err.msg, "corp root") && has(err.msg, "short"),
	       "no match: %d %s", ret, err.msg);
	X509_free(other);
	fleet_down(&f);
}

/* The attack: whoever can write config/bundle adds a root of theirs and
 * answers the request with a CA under it. Pinned to the fleet's root, the
 * node refuses that answer; the signer's own answer is taken. */
static void test_first_answer_must_chain_to_pin(void)
{
	char dir[PATH_MAX], path[PATH_MAX], fp[ANCHOR_STR_MAX], prefix[64];
	char token[JOIN_TOKEN_LEN + 1], *record = NULL, *req = NULL, *ans = NULL;
	const char *p = prefix;
	struct ask a = { .node = "n7", .scope = &p, .nscope = 1, .token = token };
	struct bundle *to_other = NULL, *to_root = NULL;
	struct ca_scope *grant = NULL;
	struct nt_err err = { "" };
	uint8_t pin[ANCHOR_LEN];
	struct fleet f;
	X509 *other = NULL, *root = NULL;
	int ret;

	if (!fleet_up(&f))
		return;
	snprintf(prefix, sizeof(prefix), ID("/ns/n7"));
	grant = scope_of("n7", &p, 1);
	join(path, upstream_dir(), "short.crt");
	other = read_pem_cert(path);
	root = read_pem_cert(f.root);
	CHECK(other && root && bundle__add_authority(f.trust, other, NULL) == 1);
	CHECK(trust_anchor__of(other, fp) == 0 && trust_anchor__parse(fp, pin, NULL) == 0);
	CHECK(bundle__pinned(f.trust, pin, &to_other, NULL) == 0);
	CHECK(trust_anchor__of(root, fp) == 0 && trust_anchor__parse(fp, pin, NULL) == 0);
	CHECK(bundle__pinned(f.trust, pin, &to_root, NULL) == 0);
	CHECK(join_token__create("n7", 600, time(NULL), token, &record, NULL) == 0);
	tmp_path(dir, "anchor-join");
	req = request_ok(dir, &a, time(NULL));
	if (!grant || !to_other || !to_root || !req)
		goto done;
	CHECK(sign(&f, req, grant, record, NULL, time(NULL), &ans, NULL) == 0);
	if (!ans)
		goto done;
	/* Pinned to the other root: the fleet's chain does not end there. */
	ret = node_ca__accept(dir, ans, strlen(ans), to_other, time(NULL), &err);
	CHECKF(ret < 0, "answer under an unpinned root: %d %s", ret, err.msg);
	ret = node_ca__accept(dir, ans, strlen(ans), to_root, time(NULL), &err);
	CHECKF(ret == 0, "answer under the pinned root: %d %s", ret, err.msg);
done:
	free(record);
	free(req);
	free(ans);
	ca_scope__free(grant);
	bundle__free(to_other);
	bundle__free(to_root);
	X509_free(other);
	X509_free(root);
	fleet_down(&f);
}

T_MAIN("ca/trust_anchor",
       T(test_parse_forms),
       T(test_parse_refusals),
       T(test_matches_openssl),
       T(test_pinned_bundle),
       T(test_first_answer_must_chain_to_pin));
