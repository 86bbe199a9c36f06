// SPDX-License-Identifier: Apache-2.0
/*
 * X.509-SVID minting and verification (ca/svid.c, ca/verify.c).
 *
 * Two sources of certificates, so nametag never grades only its own work:
 * fixtures built here in C, and certificates made by the openssl command
 * line. SVIDs minted by nametag are also checked by `openssl verify`.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "ca/ca.h"
#include "tests/unit/harness.h"

#define DAY	86400

/* ---- small utilities --------------------------------------------------- */

static bool has(const char *msg, const char *want)
{
	return want && strstr(msg, want);
}

static void parse_id(struct spiffe_id *id, const char *s)
{
	struct nt_err err = { "" };
	int ret = spiffe_id__parse(id, s, strlen(s), &err);

	CHECKF(ret == 0, "parse %s: %s", s, err.msg);
}

static int write_file(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "w");
	size_t n;

	if (!f)
		return -errno;
	n = fwrite(data, 1, len, f);
	if (fclose(f) || n != len)
		return -EIO;
	return 0;
}

static int write_str(const char *path, const char *s)
{
	return write_file(path, s, strlen(s));
}

/* Runs a shell command built from @fmt; its output goes to a log in the
 * temp dir so a failing case can be inspected with T_KEEP=1. */
static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[4096], full[4400];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(cmd))
		return -1;
	/* A subshell, so the redirect covers every command of a chain. */
	snprintf(full, sizeof(full), "(%s) >>'%s/sh.log' 2>&1", cmd, t_tmpdir());
	return system(full);
}

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

static X509 *read_cert_file(const char *path, STACK_OF(X509) **rest)
{
	struct nt_err err = { "" };
	STACK_OF(X509) *sk = NULL;
	char buf[65536];
	X509 *x = NULL;
	size_t n;
	FILE *f;

	f = fopen(path, "r");
	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	if (pem__read_certs(buf, n, &sk, &err)) {
		printf("    %s: %s\n", path, err.msg);
		return NULL;
	}
	x = sk_X509_shift(sk);
	if (rest)
		*rest = sk;
	else
		sk_X509_pop_free(sk, X509_free);
	return x;
}

/* A set of bundles, one per (td, authority) pair given, NULL-terminated. */
static struct bundle_set *bundles_of(const char *td, X509 *ca, ...)
{
	struct nt_err err = { "" };
	struct bundle_set *set = NULL;
	struct bundle *b;
	va_list ap;

	if (bundle_set__new(&set))
		return NULL;
	va_start(ap, ca);
	while (td) {
		b = NULL;
		if (bundle__new(&b, td, &err) ||
		    (ca && bundle__add_authority(b, ca, &err) < 0) ||
		    bundle_set__add(set, b, &err)) {
			printf("    bundle %s: %s\n", td, err.msg);
			bundle__free(b);
			bundle_set__free(set);
			set = NULL;
			break;
		}
		td = va_arg(ap, const char *);
		if (td)
			ca = va_arg(ap, X509 *);
	}
	va_end(ap);
	return set;
}

/* ---- fixtures built in C ----------------------------------------------- */

struct fx_ext {
	int nid;
	const char *value;
};

struct fx {
	X509 *cert;
	EVP_PKEY *key;
};

static void fx_free(struct fx *f)
{
	X509_free(f->cert);
	EVP_PKEY_free(f->key);
	f->cert = NULL;
	f->key = NULL;
}

/* A certificate for a fresh key, signed by @issuer (self-signed when NULL),
 * with extensions written in openssl's config syntax. */
static int fx_make(struct fx *out, const char *cn, const struct fx *issuer,
		   time_t nb, time_t na, const struct fx_ext *exts)
{
	struct nt_err err = { "" };
	X509_EXTENSION *ext;
	X509V3_CTX v3;
	X509 *x = X509_new();
	EVP_PKEY *key = NULL;
	X509_NAME *name;
	int ok;

	if (!x || key__generate(&key, &err))
		goto fail;
	name = X509_get_subject_name(x);
	ok = X509_set_version(x, X509_VERSION_3) &&
	     ASN1_INTEGER_set(X509_get_serialNumber(x), (long)nb & 0xffffff) &&
	     X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
					(const unsigned char *)"nametag test",
					-1, -1, 0) &&
	     X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
					(const unsigned char *)cn, -1, -1, 0) &&
	     X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer->cert)
					    : name) &&
	     X509_set_pubkey(x, key) &&
	     ASN1_TIME_set(X509_getm_notBefore(x), nb) &&
	     ASN1_TIME_set(X509_getm_notAfter(x), na);
	if (!ok)
		goto fail;
	X509V3_set_ctx(&v3, issuer ? issuer->cert : x, x, NULL, NULL, 0);
	for (; exts && exts->value; exts++) {
		ext = X509V3_EXT_conf_nid(NULL, &v3, exts->nid, exts->value);
		ok = ext && X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
		if (!ok)
			goto fail;
	}
	if (!X509_sign(x, issuer ? issuer->key : key, EVP_sha256()))
		goto fail;
	out->cert = x;
	out->key = key;
	return 0;
fail:
	X509_free(x);
	EVP_PKEY_free(key);
	return -1;
}

/* A CA for trust domain @td: URI SAN spiffe://TD, cA=true critical,
 * keyCertSign+cRLSign critical, SKI (and AKI when not self-signed). */
static int fx_ca(struct fx *out, const char *td, const struct fx *issuer,
		 time_t nb, time_t na)
{
	char san[SPIFFE_ID_MAX + 8];
	struct fx_ext exts[] = {
		{ NID_basic_constraints, "critical,CA:TRUE" },
		{ NID_key_usage, "critical,keyCertSign,cRLSign" },
		{ NID_subject_key_identifier, "hash" },
		{ NID_subject_alt_name, san },
		{ NID_authority_key_identifier, issuer ? "keyid:always" : NULL },
		{ 0, NULL },
	};
	char cn[SPIFFE_TD_MAX + 16];

	snprintf(san, sizeof(san), "URI:spiffe://%s", td);
	snprintf(cn, sizeof(cn), "%s %s", td, issuer ? "intermediate" : "root");
	return fx_make(out, cn, issuer, nb, na, exts);
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

/* Time checks cover every certificate of the chain, named by depth. */
static void test_verify_chain_times(void)
{
	struct nt_err err = { "" };
	time_t now = time(NULL);
	struct fx root = { 0 }, inter = { 0 };
	struct svid_signer signer = { 0 };
	struct bundle_set *set = NULL;
	struct svid *s = NULL;
	struct spiffe_id id;
	struct svid_verify_opts opts = { .now = now };
	int ret;

	/* a root that ends before its intermediate (nothing forbids it) */
	CHECK(fx_ca(&root, "a.test", NULL, now - 3600, now + 600) == 0);
	CHECK(fx_ca(&inter, "a.test", &root, now - 3600, now + DAY) == 0);
	signer = (struct svid_signer){ inter.cert, inter.key, NULL, false };
	parse_id(&id, "spiffe://a.test/web");
	CHECK(svid__mint(&signer, &id, 3600, now, &s, &err) == 0);
	set = bundles_of("a.test", root.cert, NULL);
	if (!s || !set)
		goto out;
	CHECKF(svid__verify(s->leaf, s->intermediates, set, &opts, NULL,
			    &err) == 0, "%s", err.msg);
	opts.now = now + 1200;
	ret = svid__verify(s->leaf, s->intermediates, set, &opts, NULL, &err);
	CHECK(ret == -EKEYEXPIRED);
	CHECKF(has(err.msg, "certificate 2 of the chain (CN=a.test root,O=nametag test) expired at"),
	       "%s", err.msg);
	opts.skew = 600;	/* exactly enough */
	CHECKF(svid__verify(s->leaf, s->intermediates, set, &opts, NULL,
			    &err) == 0, "%s", err.msg);
	opts.now = now + 3600 + 1;
	opts.skew = 0;
	ret = svid__verify(s->leaf, s->intermediates, set, &opts, NULL, &err);
	CHECK(ret == -EKEYEXPIRED && has(err.msg, "leaf expired at"));
	opts.now = now - 3600 - 60;
	ret = svid__verify(s->leaf, s->intermediates, set, &opts, NULL, &err);
	CHECK(ret == -EKEYEXPIRED && has(err.msg, "leaf not valid before"));
	opts.now = now - 3000;
	ret = svid__verify(s->leaf, s->intermediates, set, &opts, NULL, &err);
	CHECK(ret == -EKEYEXPIRED && has(err.msg, "leaf not valid before"));
	opts.skew = 3000;
	CHECKF(svid__verify(s->leaf, s->intermediates, set, &opts, NULL,
			    &err) == 0, "%s", err.msg);
	opts.skew = -1;
	CHECK(svid__verify(s->leaf, s->intermediates, set, &opts, NULL,
			   &err) == -EINVAL);
out:
	bundle_set__free(set);
	svid__free(s);
	fx_free(&inter);
	fx_free(&root);
}

/* Verification happens at opts->now, never at the wall clock: an SVID
 * from ten days ago verifies at that time and not today. */
static void test_verify_at_given_time(void)
{
	time_t now = time(NULL), then = now - 10 * DAY;
	struct svid_signer signer = { .ca_is_root = true };
	struct svid_verify_opts opts = { .now = then };
	struct nt_err err = { "" };
	struct bundle_set *set = NULL;
	struct svid *s = NULL;
	struct spiffe_id id;
	struct fx ca = { 0 };

	CHECK(fx_ca(&ca, "a.test", NULL, then - 3600, then + DAY) == 0);
	signer.ca_cert = ca.cert;
	signer.ca_key = ca.key;
	parse_id(&id, "spiffe://a.test/web");
	CHECK(svid__mint(&signer, &id, 3600, then, &s, &err) == 0);
	set = bundles_of("a.test", ca.cert, NULL);
	if (s && set) {
		CHECKF(svid__verify(s->leaf, NULL, set, &opts, NULL, &err) == 0,
		       "%s", err.msg);
		opts.now = now;
		CHECK(svid__verify(s->leaf, NULL, set, &opts, NULL, &err) ==
		      -EKEYEXPIRED);
	}
	bundle_set__free(set);
	svid__free(s);
	fx_free(&ca);
}

/* A bundle for the trust domain that holds no authority fails closed, as
 * does a NULL argument. */
static void test_verify_fails_closed(void)
{
	struct nt_err err = { "" };
	time_t now = time(NULL);
	struct svid_verify_opts opts = { .now = now };
	struct svid_signer signer = { .ca_is_root = true };
	struct bundle_set *set = NULL;
	struct svid *s = NULL;
	struct spiffe_id id;
	struct fx ca = { 0 };

	CHECK(fx_ca(&ca, "a.test", NULL, now - 3600, now + DAY) == 0);
	signer.ca_cert = ca.cert;
	signer.ca_key = ca.key;
	parse_id(&id, "spiffe://a.test/web");
	CHECK(svid__mint(&signer, &id, 60, now, &s, &err) == 0);
	set = bundles_of("a.test", NULL, NULL);
	if (!s || !set)
		goto out;
	CHECK(svid__verify(s->leaf, NULL, set, &opts, NULL, &err) == -ENOKEY);
	CHECKF(has(err.msg, "holds no X.509 authority"), "%s", err.msg);
	CHECK(svid__verify(NULL, NULL, set, &opts, NULL, &err) == -EINVAL);
	CHECK(svid__verify(s->leaf, NULL, NULL, &opts, NULL, &err) == -EINVAL);
	CHECK(svid__verify(s->leaf, NULL, set, NULL, NULL, &err) == -EINVAL);
out:
	bundle_set__free(set);
	svid__free(s);
	fx_free(&ca);
}

/* ---- certificates from the openssl command line ------------------------ */

#define CLI_BC_LEAF	"basicConstraints=critical,CA:FALSE\n"
#define CLI_KU_LEAF	"keyUsage=critical,digitalSignature\n"
#define CLI_EKU_BOTH	"extendedKeyUsage=serverAuth,clientAuth\n"
#define CLI_KEYIDS	"subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\n"
#define CLI_LEAF(san)	CLI_BC_LEAF CLI_KU_LEAF CLI_EKU_BOTH CLI_KEYIDS \
			"subjectAltName=" san "\n"
#define CLI_CA(td)	"basicConstraints=critical,CA:TRUE\n"		\
			"keyUsage=critical,keyCertSign,cRLSign\n"	\
			"subjectKeyIdentifier=hash\n"			\
			"subjectAltName=URI:spiffe://" td "\n"
#define CLI_SUBCA(san)	"basicConstraints=critical,CA:TRUE\n"		\
			"keyUsage=critical,keyCertSign,cRLSign\n"	\
			CLI_KEYIDS "subjectAltName=" san "\n"

struct cli_cert {
	const char *name;
	const char *issuer;	/* NULL: a self-signed root */
	int days;
	const char *ext;	/* openssl config lines */
};

/* Issuers come before what they sign. */
static const struct cli_cert cli_certs[] = {
	{ "root_a", NULL, 3650, CLI_CA("a.test") },
	{ "root_b", NULL, 3650, CLI_CA("b.test") },
	{ "good", "root_a", 1, CLI_LEAF("URI:spiffe://a.test/web") },
	{ "good_dns", "root_a", 1,
	  CLI_LEAF("URI:spiffe://a.test/web,DNS:web.a.test") },
	{ "no_eku", "root_a", 1, CLI_BC_LEAF CLI_KU_LEAF CLI_KEYIDS
	  "subjectAltName=URI:spiffe://a.test/web\n" },
	{ "no_bc", "root_a", 1, CLI_KU_LEAF CLI_EKU_BOTH CLI_KEYIDS
	  "subjectAltName=URI:spiffe://a.test/web\n" },
	{ "two_uris", "root_a", 1,
	  CLI_LEAF("URI:spiffe://a.test/web,URI:spiffe://a.test/db") },
	{ "no_uri", "root_a", 1, CLI_LEAF("DNS:web.a.test") },
	{ "no_san", "root_a", 1, CLI_BC_LEAF CLI_KU_LEAF CLI_EKU_BOTH
	  CLI_KEYIDS },
	{ "dns_spiffe", "root_a", 1, CLI_LEAF("DNS:spiffe://a.test/web") },
	{ "https_uri", "root_a", 1, CLI_LEAF("URI:https://a.test/web") },
	{ "root_id", "root_a", 1, CLI_LEAF("URI:spiffe://a.test") },
	{ "ca_leaf", "root_a", 1, "basicConstraints=critical,CA:TRUE\n"
	  CLI_KU_LEAF CLI_EKU_BOTH CLI_KEYIDS
	  "subjectAltName=URI:spiffe://a.test/web\n" },
	{ "ku_certsign", "root_a", 1, CLI_BC_LEAF
	  "keyUsage=critical,digitalSignature,keyCertSign\n" CLI_EKU_BOTH
	  CLI_KEYIDS "subjectAltName=URI:spiffe://a.test/web\n" },
	{ "ku_crlsign", "root_a", 1, CLI_BC_LEAF
	  "keyUsage=critical,digitalSignature,cRLSign\n" CLI_EKU_BOTH
	  CLI_KEYIDS "subjectAltName=URI:spiffe://a.test/web\n" },
	{ "ku_noncrit", "root_a", 1, CLI_BC_LEAF
	  "keyUsage=digitalSignature\n" CLI_EKU_BOTH CLI_KEYIDS
	  "subjectAltName=URI:spiffe://a.test/web\n" },
	{ "ku_none", "root_a", 1, CLI_BC_LEAF CLI_EKU_BOTH CLI_KEYIDS
	  "subjectAltName=URI:spiffe://a.test/web\n" },
	{ "ku_no_ds", "root_a", 1, CLI_BC_LEAF
	  "keyUsage=critical,keyAgreement\n" CLI_EKU_BOTH CLI_KEYIDS
	  "subjectAltName=URI:spiffe://a.test/web\n" },
	{ "eku_server", "root_a", 1, CLI_BC_LEAF CLI_KU_LEAF
	  "extendedKeyUsage=serverAuth\n" CLI_KEYIDS
	  "subjectAltName=URI:spiffe://a.test/web\n" },
	{ "eku_client", "root_a", 1, CLI_BC_LEAF CLI_KU_LEAF
	  "extendedKeyUsage=clientAuth\n" CLI_KEYIDS
	  "subjectAltName=URI:spiffe://a.test/web\n" },
	{ "by_b", "root_b", 1, CLI_LEAF("URI:spiffe://a.test/web") },
	{ "td_c", "root_a", 1, CLI_LEAF("URI:spiffe://c.test/web") },
	{ "leaf1", "root_a", 1, CLI_LEAF("URI:spiffe://a.test/l1") },
	{ "via_leaf", "leaf1", 1, CLI_LEAF("URI:spiffe://a.test/l2") },
	{ "signing_nonca", "root_a", 1, CLI_BC_LEAF
	  "keyUsage=critical,keyCertSign\n" CLI_KEYIDS
	  "subjectAltName=URI:spiffe://a.test\n" },
	{ "via_nonca", "signing_nonca", 1, CLI_LEAF("URI:spiffe://a.test/l3") },
	{ "inter", "root_a", 30, CLI_SUBCA("URI:spiffe://a.test") },
	{ "via_inter", "inter", 1, CLI_LEAF("URI:spiffe://a.test/deep") },
	{ "inter_path", "root_a", 30, CLI_SUBCA("URI:spiffe://a.test/ca") },
	{ "via_inter_path", "inter_path", 1, CLI_LEAF("URI:spiffe://a.test/x") },
	{ "inter_b", "root_a", 30, CLI_SUBCA("URI:spiffe://b.test") },
	{ "via_inter_b", "inter_b", 1, CLI_LEAF("URI:spiffe://a.test/y") },
	{ "inter_plain", "root_a", 30, CLI_SUBCA("DNS:ca.a.test") },
	{ "via_inter_plain", "inter_plain", 1,
	  CLI_LEAF("URI:spiffe://a.test/z") },
	/* X509_V_FLAG_X509_STRICT: RFC 5280 profile checks */
	{ "no_aki", "root_a", 1, CLI_BC_LEAF CLI_KU_LEAF CLI_EKU_BOTH
	  "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=none\n"
	  "subjectAltName=URI:spiffe://a.test/web\n" },
	{ "inter_bc_noncrit", "root_a", 30, "basicConstraints=CA:TRUE\n"
	  "keyUsage=critical,keyCertSign,cRLSign\n" CLI_KEYIDS
	  "subjectAltName=URI:spiffe://a.test\n" },
	{ "via_bc_noncrit", "inter_bc_noncrit", 1,
	  CLI_LEAF("URI:spiffe://a.test/w") },
	/* same name as root_a, another key: an impostor */
	{ "fake_a", NULL, 3650, CLI_CA("a.test") },
	{ "by_fake", "fake_a", 1, CLI_LEAF("URI:spiffe://a.test/web") },
};

#define N_CLI (sizeof(cli_certs) / sizeof(cli_certs[0]))

static struct {
	bool tried, ready;
	time_t t0;		/* just after the certificates were made */
	X509 *cert[N_CLI];
} cli;

/* At exit, so a run under ASan ends with no leak whichever cases ran. */
static void cli_free(void)
{
	size_t i;

	for (i = 0; i < N_CLI; i++)
		X509_free(cli.cert[i]);
}

static X509 *cli_get(const char *name)
{
	size_t i;

	for (i = 0; i < N_CLI; i++)
		if (!strcmp(cli_certs[i].name, name))
			return cli.cert[i];
	return NULL;
}

static const char *cli_subject(const struct cli_cert *c)
{
	/* fake_a copies root_a's name on purpose */
	return !strcmp(c->name, "fake_a") ? "root_a" : c->name;
}

static int cli_make(const struct cli_cert *c, int serial)
{
	const char *d = t_tmpdir();
	char path[512], ext[2048];

	snprintf(ext, sizeof(ext), "[req]\ndistinguished_name=dn\n[dn]\n"
		 "[ext]\n%s", c->ext);
	snprintf(path, sizeof(path), "%s/cli/%s.cnf", d, c->name);
	if (write_str(path, ext))
		return -1;
	if (sh("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out '%s/cli/%s.key'",
	       d, c->name))
		return -1;
	if (!c->issuer)
		return sh("openssl req -new -x509 -key '%s/cli/%s.key' -config '%s' -extensions ext -subj '/O=nametag cli/CN=%s' -days %d -set_serial %d -out '%s/cli/%s.pem'",
			  d, c->name, path, cli_subject(c), c->days, serial, d,
			  c->name);
	if (sh("openssl req -new -key '%s/cli/%s.key' -config '%s' -subj '/O=nametag cli/CN=%s' -out '%s/cli/%s.csr'",
	       d, c->name, path, c->name, d, c->name))
		return -1;
	return sh("openssl x509 -req -in '%s/cli/%s.csr' -CA '%s/cli/%s.pem' -CAkey '%s/cli/%s.key' -set_serial %d -days %d -extfile '%s' -extensions ext -out '%s/cli/%s.pem'",
		  d, c->name, d, c->issuer, d, c->issuer, serial, c->days, path,
		  d, c->name);
}

static bool cli_setup(void)
{
	char path[512];
	size_t i;

	if (cli.tried)
		return cli.ready;
	cli.tried = true;
	atexit(cli_free);
	snprintf(path, sizeof(path), "%s/cli", t_tmpdir());
	if (mkdir(path, 0700)) {
		printf("    mkdir %s: %s\n", path, strerror(errno));
		return false;
	}
	for (i = 0; i < N_CLI; i++) {
		if (cli_make(&cli_certs[i], (int)i + 100)) {
			printf("    openssl failed making '%s' (see %s/sh.log)\n",
			       cli_certs[i].name, t_tmpdir());
			return false;
		}
		snprintf(path, sizeof(path), "%s/cli/%s.pem", t_tmpdir(),
			 cli_certs[i].name);
		cli.cert[i] = read_cert_file(path, NULL);
		if (!cli.cert[i])
			return false;
	}
	cli.t0 = time(NULL);
	cli.ready = true;
	return true;
}

struct verify_case {
	const char *name;
	const char *leaf;
	const char *inter[2];	/* intermediates passed, NULL-terminated */
	int64_t now_off;	/* seconds from cli.t0 */
	int64_t skew;
	int rc;
	const char *want;	/* the ID on success, else a message part */
};

static const struct verify_case verify_cases[] = {
	{ "good", "good", { NULL }, 0, 0, 0, "spiffe://a.test/web" },
	{ "good with a dns san too", "good_dns", { NULL }, 0, 0, 0,
	  "spiffe://a.test/web" },
	{ "no eku is allowed", "no_eku", { NULL }, 0, 0, 0,
	  "spiffe://a.test/web" },
	{ "no basic constraints is cA=false", "no_bc", { NULL }, 0, 0, 0,
	  "spiffe://a.test/web" },
	{ "two uri sans", "two_uris", { NULL }, 0, 0, -EINVAL,
	  "more than one URI SAN" },
	{ "no uri san", "no_uri", { NULL }, 0, 0, -EINVAL, "no URI SAN" },
	{ "no san at all", "no_san", { NULL }, 0, 0, -EINVAL, "no URI SAN" },
	{ "spiffe id only in a dns san", "dns_spiffe", { NULL }, 0, 0,
	  -EINVAL, "no URI SAN" },
	{ "uri san not spiffe", "https_uri", { NULL }, 0, 0, -EINVAL,
	  "leaf URI SAN" },
	{ "root path only", "root_id", { NULL }, 0, 0, -EINVAL,
	  "spiffe id has no path" },
	{ "leaf is a ca", "ca_leaf", { NULL }, 0, 0, -EINVAL,
	  "leaf is a CA" },
	{ "leaf has keyCertSign", "ku_certsign", { NULL }, 0, 0, -EINVAL,
	  "keyCertSign" },
	{ "leaf has cRLSign", "ku_crlsign", { NULL }, 0, 0, -EINVAL,
	  "cRLSign" },
	{ "key usage not critical", "ku_noncrit", { NULL }, 0, 0, -EINVAL,
	  "key usage is not critical" },
	{ "no key usage", "ku_none", { NULL }, 0, 0, -EINVAL,
	  "no key usage" },
	{ "no digitalSignature", "ku_no_ds", { NULL }, 0, 0, -EINVAL,
	  "lacks digitalSignature" },
	{ "eku serverAuth only", "eku_server", { NULL }, 0, 0, -EINVAL,
	  "extended key usage lacks clientAuth" },
	{ "eku clientAuth only", "eku_client", { NULL }, 0, 0, -EINVAL,
	  "extended key usage lacks serverAuth" },
	{ "expired", "good", { NULL }, 2 * DAY, 0, -EKEYEXPIRED,
	  "leaf expired at" },
	{ "expired, within skew", "good", { NULL }, 2 * DAY, DAY + 3600, 0,
	  "spiffe://a.test/web" },
	{ "not yet valid", "good", { NULL }, -3600, 0, -EKEYEXPIRED,
	  "leaf not valid before" },
	{ "not yet valid, within skew", "good", { NULL }, -3600, 7200, 0,
	  "spiffe://a.test/web" },
	{ "signed by another trust domain's ca", "by_b", { NULL }, 0, 0,
	  -EKEYREJECTED, "does not chain to an authority of trust domain 'a.test'" },
	{ "another trust domain's ca offered as intermediate", "by_b",
	  { "root_b" }, 0, 0, -EKEYREJECTED, "path validation failed" },
	{ "trust domain without a bundle", "td_c", { NULL }, 0, 0, -ENOKEY,
	  "no trust bundle for trust domain 'c.test'" },
	{ "chained through a leaf", "via_leaf", { "leaf1" }, 0, 0,
	  -EKEYREJECTED, "path validation failed" },
	{ "chained through a cA=false signer", "via_nonca",
	  { "signing_nonca" }, 0, 0, -EKEYREJECTED,
	  "path validation failed at certificate 1 of the chain" },
	{ "intermediate supplied", "via_inter", { "inter" }, 0, 0, 0,
	  "spiffe://a.test/deep" },
	{ "intermediate missing", "via_inter", { NULL }, 0, 0, -EKEYREJECTED,
	  "path validation failed at leaf" },
	{ "intermediate with a path", "via_inter_path", { "inter_path" }, 0,
	  0, -EKEYREJECTED, "with a path" },
	{ "intermediate of another trust domain", "via_inter_b",
	  { "inter_b" }, 0, 0, -EKEYREJECTED,
	  "belongs to trust domain 'b.test'" },
	{ "intermediate without spiffe id", "via_inter_plain",
	  { "inter_plain" }, 0, 0, 0, "spiffe://a.test/z" },
	{ "leaf without authority key id (strict)", "no_aki", { NULL }, 0, 0,
	  -EKEYREJECTED, "path validation failed at leaf: Missing Authority Key Identifier" },
	{ "ca with non-critical basic constraints (strict)", "via_bc_noncrit",
	  { "inter_bc_noncrit" }, 0, 0, -EKEYREJECTED,
	  "path validation failed at certificate 1 of the chain" },
	{ "impostor ca with the same name", "by_fake", { "fake_a" }, 0, 0,
	  -EKEYREJECTED, "path validation failed" },
};

static void run_verify_case(const struct verify_case *c,
			    const struct bundle_set *set)
{
	STACK_OF(X509) *inter = sk_X509_new_null();
	struct svid_verify_opts opts = {
		.now = cli.t0 + c->now_off,
		.skew = c->skew,
	};
	struct nt_err err = { "" };
	struct spiffe_id id;
	int i, ret;

	for (i = 0; inter && c->inter[i]; i++)
		sk_X509_push(inter, cli_get(c->inter[i]));
	memset(&id, 0, sizeof(id));
	ret = svid__verify(cli_get(c->leaf), inter, set, &opts, &id, &err);
	CHECKF(ret == c->rc, "%s: rc %d, want %d (%s)", c->name, ret, c->rc,
	       err.msg);
	if (c->rc == 0)
		CHECKF(ret || !strcmp(id.str, c->want), "%s: id '%s', want '%s'",
		       c->name, id.str, c->want);
	else
		CHECKF(has(err.msg, c->want), "%s: message '%s' lacks '%s'",
		       c->name, err.msg, c->want);
	sk_X509_free(inter);
}

static void test_verify_openssl_made(void)
{
	struct bundle_set *set;
	size_t i;

	CHECKF(cli_setup(), "openssl command line fixtures could not be made");
	if (!cli.ready)
		return;
	/* bundles for both a.test and b.test: the leaf's own must be used */
	set = bundles_of("a.test", cli_get("root_a"), "b.test",
			 cli_get("root_b"), NULL);
	CHECK(set);
	for (i = 0; set && i < sizeof(verify_cases) / sizeof(verify_cases[0]);
	     i++)
		run_verify_case(&verify_cases[i], set);
	bundle_set__free(set);
}

/* A bundle authority is a trust anchor even when it is not self-signed
 * (RFC 5280 6.1; X509-SVID.md 6.1 only says SHOULD be self-signed). */
static void test_verify_anchor_not_self_signed(void)
{
	struct svid_verify_opts opts = { 0 };
	struct nt_err err = { "" };
	struct bundle_set *set;
	struct spiffe_id id;

	CHECKF(cli_setup(), "openssl command line fixtures could not be made");
	if (!cli.ready)
		return;
	opts.now = cli.t0;
	set = bundles_of("a.test", cli_get("inter"), NULL);
	CHECK(set);
	if (set)
		CHECKF(svid__verify(cli_get("via_inter"), NULL, set, &opts, &id,
				    &err) == 0, "%s", err.msg);
	CHECK(set && !strcmp(id.str, "spiffe://a.test/deep"));
	/* the anchor's own issuer is not needed, nor trusted instead */
	if (set)
		CHECK(svid__verify(cli_get("good"), NULL, set, &opts, &id,
				   &err) == -EKEYREJECTED);
	bundle_set__free(set);
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

T_MAIN("svid",
       T(test_mint_profile),
       T(test_mint_caps_not_after),
       T(test_mint_fresh_each_time),
       T(test_mint_refusals),
       T(test_mint_under_intermediates),
       T(test_verify_chain_times),
       T(test_verify_fails_closed),
       T(test_verify_openssl_made),
       T(test_verify_anchor_not_self_signed),
       T(test_verify_at_given_time),
       T(test_mint_openssl_verifies));
