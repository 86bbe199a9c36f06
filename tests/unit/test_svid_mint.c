// SPDX-License-Identifier: Apache-2.0
/*
 * X.509-SVID minting (ca/svid.c): the certificate profile, refusals, chains
 * of intermediates, and SVIDs checked by `openssl verify`. Verification is
 * in test_svid_verify.c.
 *
 * Two sources of certificates, so nametag never grades only its own work:
 * fixtures built here in C, and the openssl command line judging SVIDs
 * minted by nametag.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/x509v3.h>

#include "ca/ca.h"
#include "tests/unit/fixture_svid.h"
#include "tests/unit/harness.h"

static int write_certs(const char *path, X509 *const *certs, size_t n)
{
	struct nt_err err = { "" };
	size_t len;
	char *pem;
	int ret;

	ret = pem__write_certs(certs, n, &pem, &len, &err);
	if (ret)
		return ret;
	ret = write_file(path, pem, len);
	free(pem);
	return ret;
}

/* ---- mint -------------------------------------------------------------- */

static bool ext_critical(X509 *x, int nid)
{
	int pos = X509_get_ext_by_NID(x, nid, -1);

	return pos >= 0 && X509_EXTENSION_get_critical(X509_get_ext(x, pos));
}

static int count_uri_sans(X509 *x)
{
	GENERAL_NAMES *sans = X509_get_ext_d2i(x, NID_subject_alt_name, NULL,
					       NULL);
	int i, n = 0;

	for (i = 0; sans && i < sk_GENERAL_NAME_num(sans); i++)
		n += sk_GENERAL_NAME_value(sans, i)->type == GEN_URI;
	GENERAL_NAMES_free(sans);
	return n;
}

static time_t asn1_unix(const ASN1_TIME *t)
{
	struct tm tm;

	if (!ASN1_TIME_to_tm(t, &tm))
		return -1;
	return timegm(&tm);
}

static void check_profile(struct svid *s, const struct fx *ca, time_t now,
			  time_t want_na)
{
	const ASN1_OCTET_STRING *aki = X509_get0_authority_key_id(s->leaf);
	uint32_t flags = X509_get_extension_flags(s->leaf);
	struct nt_err err = { "" };
	struct spiffe_id got;
	BIGNUM *serial;

	CHECK(X509_get_version(s->leaf) == X509_VERSION_3);
	CHECK(count_uri_sans(s->leaf) == 1);
	CHECKF(x509__spiffe_id(s->leaf, &got, &err) == 0, "%s", err.msg);
	CHECK(spiffe_id__equal(&got, &s->id));
	CHECK(!(flags & EXFLAG_INVALID));
	CHECK(flags & EXFLAG_BCONS);
	CHECK(!(flags & EXFLAG_CA));
	CHECK(ext_critical(s->leaf, NID_basic_constraints));
	CHECK(flags & EXFLAG_KUSAGE);
	CHECK(X509_get_key_usage(s->leaf) == KU_DIGITAL_SIGNATURE);
	CHECK(ext_critical(s->leaf, NID_key_usage));
	CHECK(flags & EXFLAG_XKUSAGE);
	CHECK(X509_get_extended_key_usage(s->leaf) ==
	      (XKU_SSL_SERVER | XKU_SSL_CLIENT));
	CHECK(X509_get0_subject_key_id(s->leaf) != NULL);
	CHECK(aki && !ASN1_OCTET_STRING_cmp(aki,
					   X509_get0_subject_key_id(ca->cert)));
	CHECK(!X509_NAME_cmp(X509_get_issuer_name(s->leaf),
			     X509_get_subject_name(ca->cert)));
	CHECK(X509_NAME_entry_count(X509_get_subject_name(s->leaf)) > 0);
	CHECK(X509_NAME_cmp(X509_get_subject_name(s->leaf),
			    X509_get_subject_name(ca->cert)));
	CHECK(asn1_unix(X509_get0_notBefore(s->leaf)) == now - SVID_BACKDATE);
	CHECKF(asn1_unix(X509_get0_notAfter(s->leaf)) == want_na,
	       "notAfter %lld, want %lld",
	       (long long)asn1_unix(X509_get0_notAfter(s->leaf)),
	       (long long)want_na);
	CHECK(X509_get_signature_nid(s->leaf) == NID_ecdsa_with_SHA256);
	CHECK(X509_verify(s->leaf, X509_get0_pubkey(ca->cert)) == 1);
	CHECK(X509_check_private_key(s->leaf, s->key) == 1);
	CHECK(EVP_PKEY_get_base_id(s->key) == EVP_PKEY_EC &&
	      EVP_PKEY_get_bits(s->key) == 256);
	serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(s->leaf), NULL);
	CHECK(serial && !BN_is_negative(serial) && !BN_is_zero(serial));
	CHECK(serial && BN_num_bits(serial) <= 127);
	BN_free(serial);
}

static void test_mint_profile(void)
{
	struct svid_signer signer = { .ca_is_root = true };
	struct nt_err err = { "" };
	time_t now = time(NULL);
	struct svid *s = NULL;
	struct spiffe_id id, got;
	struct bundle_set *set;
	struct svid_verify_opts opts = { .now = now };
	struct fx ca = { 0 };

	CHECK(fx_ca(&ca, "a.test", NULL, now - 3600, now + DAY) == 0);
	signer.ca_cert = ca.cert;
	signer.ca_key = ca.key;
	parse_id(&id, "spiffe://a.test/ns/web/sa/frontend");
	CHECKF(svid__mint(&signer, &id, 3600, now, &s, &err) == 0, "%s",
	       err.msg);
	if (!s)
		goto out;
	check_profile(s, &ca, now, now + 3600);
	CHECK(spiffe_id__equal(&s->id, &id));
	CHECK(s->intermediates && sk_X509_num(s->intermediates) == 0);

	set = bundles_of("a.test", ca.cert, NULL);
	CHECK(set);
	CHECKF(set && svid__verify(s->leaf, s->intermediates, set, &opts, &got,
				   &err) == 0, "%s", err.msg);
	CHECK(spiffe_id__equal(&got, &id));
	bundle_set__free(set);
out:
	svid__free(s);
	fx_free(&ca);
}

static void test_mint_caps_not_after(void)
{
	struct svid_signer signer = { .ca_is_root = true };
	struct nt_err err = { "" };
	time_t now = time(NULL);
	struct svid *s = NULL;
	struct spiffe_id id;
	struct fx ca = { 0 };

	CHECK(fx_ca(&ca, "a.test", NULL, now - 3600, now + 600) == 0);
	signer.ca_cert = ca.cert;
	signer.ca_key = ca.key;
	parse_id(&id, "spiffe://a.test/web");
	CHECKF(svid__mint(&signer, &id, 3600, now, &s, &err) == 0, "%s",
	       err.msg);
	if (s)
		check_profile(s, &ca, now, now + 600);
	svid__free(s);
	fx_free(&ca);
}

static void test_mint_fresh_each_time(void)
{
	struct svid_signer signer = { .ca_is_root = true };
	struct nt_err err = { "" };
	time_t now = time(NULL);
	struct svid *a = NULL, *b = NULL;
	struct spiffe_id id;
	struct fx ca = { 0 };

	CHECK(fx_ca(&ca, "a.test", NULL, now - 3600, now + DAY) == 0);
	signer.ca_cert = ca.cert;
	signer.ca_key = ca.key;
	parse_id(&id, "spiffe://a.test/web");
	CHECK(svid__mint(&signer, &id, 60, now, &a, &err) == 0);
	CHECK(svid__mint(&signer, &id, 60, now, &b, &err) == 0);
	if (a && b) {
		CHECK(ASN1_INTEGER_cmp(X509_get0_serialNumber(a->leaf),
				       X509_get0_serialNumber(b->leaf)));
		CHECK(EVP_PKEY_eq(a->key, b->key) != 1);
		CHECK(X509_NAME_cmp(X509_get_subject_name(a->leaf),
				    X509_get_subject_name(b->leaf)));
	}
	svid__free(a);
	svid__free(b);
	fx_free(&ca);
}

struct mint_refusal {
	const char *name;
	const char *id;
	int64_t ttl;
	int64_t now_off;	/* from the test's now */
	bool wrong_key;
	bool ca_without_id;
	int rc;
	const char *msg;
};

static const struct mint_refusal mint_refusals[] = {
	{ "root id", "spiffe://a.test", 60, 0, false, false, -EINVAL,
	  "non-root path" },
	{ "other trust domain", "spiffe://b.test/web", 60, 0, false, false,
	  -EINVAL, "trust domain 'a.test'" },
	{ "ttl zero", "spiffe://a.test/web", 0, 0, false, false, -EINVAL,
	  "ttl must be positive" },
	{ "ttl negative", "spiffe://a.test/web", -5, 0, false, false, -EINVAL,
	  "ttl must be positive" },
	{ "expired ca", "spiffe://a.test/web", 60, DAY + 1, false, false,
	  -EKEYEXPIRED, "ca certificate expired at" },
	{ "ca not yet valid", "spiffe://a.test/web", 60, -7200, false, false,
	  -EKEYEXPIRED, "ca certificate not valid before" },
	{ "key of another ca", "spiffe://a.test/web", 60, 0, true, false,
	  -EINVAL, "does not match" },
	{ "ca without spiffe id", "spiffe://a.test/web", 60, 0, false, true,
	  -ENOENT, "no usable SPIFFE ID" },
};

static void test_mint_refusals(void)
{
	static const struct fx_ext plain_ca[] = {
		{ NID_basic_constraints, "critical,CA:TRUE" },
		{ NID_key_usage, "critical,keyCertSign,cRLSign" },
		{ NID_subject_key_identifier, "hash" },
		{ 0, NULL },
	};
	time_t now = time(NULL);
	struct fx ca = { 0 }, other = { 0 }, noid = { 0 };
	size_t i;

	CHECK(fx_ca(&ca, "a.test", NULL, now - 3600, now + DAY) == 0);
	CHECK(fx_ca(&other, "a.test", NULL, now - 3600, now + DAY) == 0);
	CHECK(fx_make(&noid, "no id", NULL, now - 3600, now + DAY,
		      plain_ca) == 0);
	for (i = 0; i < sizeof(mint_refusals) / sizeof(mint_refusals[0]); i++) {
		const struct mint_refusal *r = &mint_refusals[i];
		const struct fx *c = r->ca_without_id ? &noid : &ca;
		struct svid_signer signer = {
			.ca_cert = c->cert,
			.ca_key = r->wrong_key ? other.key : c->key,
			.ca_is_root = true,
		};
		struct nt_err err = { "" };
		struct svid *s = NULL;
		struct spiffe_id id;
		int ret;

		parse_id(&id, r->id);
		ret = svid__mint(&signer, &id, r->ttl, now + r->now_off, &s,
				 &err);
		CHECKF(ret == r->rc, "%s: rc %d, want %d (%s)", r->name, ret,
		       r->rc, err.msg);
		CHECKF(has(err.msg, r->msg), "%s: message '%s' lacks '%s'",
		       r->name, err.msg, r->msg);
		CHECKF(s == NULL, "%s: svid returned on failure", r->name);
		svid__free(s);
	}
	fx_free(&ca);
	fx_free(&other);
	fx_free(&noid);
}

/* root -> inter1 -> inter2 -> leaf: the signer's chain travels with the
 * SVID, and the bundle holds only the root. */
static void test_mint_under_intermediates(void)
{
	struct nt_err err = { "" };
	time_t now = time(NULL);
	struct fx root = { 0 }, i1 = { 0 }, i2 = { 0 };
	struct svid_verify_opts opts = { .now = now };
	STACK_OF(X509) *chain = sk_X509_new_null();
	struct svid_signer signer = { 0 };
	struct bundle_set *set = NULL;
	struct svid *s = NULL;
	struct spiffe_id id, got;

	CHECK(fx_ca(&root, "a.test", NULL, now - 3600, now + 10 * DAY) == 0);
	CHECK(fx_ca(&i1, "a.test", &root, now - 3600, now + 5 * DAY) == 0);
	CHECK(fx_ca(&i2, "a.test", &i1, now - 3600, now + DAY) == 0);
	CHECK(chain && sk_X509_push(chain, i1.cert));
	signer = (struct svid_signer){ i2.cert, i2.key, chain, false };
	parse_id(&id, "spiffe://a.test/batch/job");
	CHECKF(svid__mint(&signer, &id, 3600, now, &s, &err) == 0, "%s",
	       err.msg);
	set = bundles_of("a.test", root.cert, NULL);
	if (!s || !set)
		goto out;
	check_profile(s, &i2, now, now + 3600);
	CHECK(sk_X509_num(s->intermediates) == 2);
	CHECK(sk_X509_value(s->intermediates, 0) == i2.cert);
	CHECK(sk_X509_value(s->intermediates, 1) == i1.cert);
	CHECKF(svid__verify(s->leaf, s->intermediates, set, &opts, &got,
			    &err) == 0, "%s", err.msg);
	CHECK(spiffe_id__equal(&got, &id));
	/* without the chain the leaf leads nowhere */
	CHECK(svid__verify(s->leaf, NULL, set, &opts, &got, &err) ==
	      -EKEYREJECTED);
	CHECKF(has(err.msg, "path validation failed at leaf"), "%s", err.msg);
out:
	bundle_set__free(set);
	svid__free(s);
	sk_X509_free(chain);
	fx_free(&i2);
	fx_free(&i1);
	fx_free(&root);
}

/* ---- SVIDs minted by nametag, judged by `openssl verify` --------------- */

static void openssl_verify(const char *what, X509 *root, struct svid *s)
{
	static const char *const purposes[] = {
		"", "-purpose sslclient", "-purpose sslserver",
	};
	const char *d = t_tmpdir();
	char ca[512], chain[512], leaf[512], untrusted[600] = "";
	size_t i;
	int n = sk_X509_num(s->intermediates);

	snprintf(ca, sizeof(ca), "%s/%s-ca.pem", d, what);
	snprintf(chain, sizeof(chain), "%s/%s-chain.pem", d, what);
	snprintf(leaf, sizeof(leaf), "%s/%s-leaf.pem", d, what);
	CHECK(write_certs(ca, &root, 1) == 0);
	CHECK(write_certs(leaf, &s->leaf, 1) == 0);
	if (n > 0) {
		X509 *certs[8];
		int j;

		for (j = 0; j < n && j < 8; j++)
			certs[j] = sk_X509_value(s->intermediates, j);
		CHECK(write_certs(chain, certs, (size_t)j) == 0);
		snprintf(untrusted, sizeof(untrusted), "-untrusted '%s'", chain);
	}
	for (i = 0; i < sizeof(purposes) / sizeof(purposes[0]); i++)
		CHECKF(sh("openssl verify -x509_strict %s -CAfile '%s' %s '%s'",
			  purposes[i], ca, untrusted, leaf) == 0,
		       "%s: openssl verify %s rejected the svid (see %s/sh.log)",
		       what, purposes[i], d);
}

static void verify_files(const char *what, X509 *root, time_t now)
{
	struct bundle_set *set = bundles_of("a.test", root, NULL);
	struct svid_verify_opts opts = { .now = now };
	STACK_OF(X509) *chain = NULL;
	struct nt_err err = { "" };
	char path[512];
	X509 *leaf, *first;

	snprintf(path, sizeof(path), "%s/%s-leaf.pem", t_tmpdir(), what);
	leaf = read_cert_file(path, NULL);
	snprintf(path, sizeof(path), "%s/%s-chain.pem", t_tmpdir(), what);
	first = read_cert_file(path, &chain);
	CHECK(leaf && first && set);
	if (leaf && first && set && sk_X509_unshift(chain, first)) {
		first = NULL;
		CHECKF(svid__verify(leaf, chain, set, &opts, NULL, &err) == 0,
		       "%s", err.msg);
	}
	X509_free(first);
	X509_free(leaf);
	sk_X509_pop_free(chain, X509_free);
	bundle_set__free(set);
}

static void test_mint_openssl_verifies(void)
{
	struct nt_err err = { "" };
	time_t now = time(NULL);
	struct fx root = { 0 }, inter = { 0 };
	struct svid *direct = NULL, *deep = NULL;
	struct svid_signer signer;
	struct spiffe_id id;

	CHECK(fx_ca(&root, "a.test", NULL, now - 3600, now + DAY) == 0);
	CHECK(fx_ca(&inter, "a.test", &root, now - 3600, now + DAY) == 0);
	parse_id(&id, "spiffe://a.test/ns/default/sa/api");
	signer = (struct svid_signer){ root.cert, root.key, NULL, true };
	CHECKF(svid__mint(&signer, &id, 3600, now, &direct, &err) == 0, "%s",
	       err.msg);
	signer = (struct svid_signer){ inter.cert, inter.key, NULL, false };
	CHECKF(svid__mint(&signer, &id, 3600, now, &deep, &err) == 0, "%s",
	       err.msg);
	if (direct)
		openssl_verify("direct", root.cert, direct);
	if (deep)
		openssl_verify("deep", root.cert, deep);
	/* and back: the files openssl accepted, read and verified here */
	if (deep)
		verify_files("deep", root.cert, now);
	svid__free(direct);
	svid__free(deep);
	fx_free(&inter);
	fx_free(&root);
}

T_MAIN("svid/mint",
       T(test_mint_profile),
       T(test_mint_caps_not_after),
       T(test_mint_fresh_each_time),
       T(test_mint_refusals),
       T(test_mint_under_intermediates),
       T(test_mint_openssl_verifies));
