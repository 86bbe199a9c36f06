// SPDX-License-Identifier: Apache-2.0
/*
 * The node CA in upstream mode (ca/authority*.c), with an upstream CA made
 * by the openssl command line at the real time.
 *
 * Every case works in its own state dir under t_tmpdir().
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "ca/ca.h"
#include "tests/unit/fixture_node_ca.h"
#include "tests/unit/fixture_upstream.h"
#include "tests/unit/harness.h"

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
	/* Rotating keeps the one root: the X.509 authorities do not change.
	 * The next generation's JWT key is published when it is prepared
	 * (sequence 2), and activation changes nothing in the bundle. */
	rotate_ok(ca, time(NULL), CA_STEP_PREPARED, "upstream prepare");
	check_disk_bundle(dir, 2, 1, "upstream prepared");
	rotate_ok(ca, time(NULL), CA_STEP_ACTIVATED, "upstream activate");
	check_disk_bundle(dir, 2, 1, "upstream rotated");
	CHECK(node_ca__bundle(ca)->jwt_count == 2);
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

T_MAIN("node_ca/upstream",
       T(test_upstream_root),
       T(test_upstream_chain),
       T(test_upstream_refusals),
       T(test_upstream_rotation_rechecks));
