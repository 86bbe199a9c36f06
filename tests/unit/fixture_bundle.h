/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The fixture of the trust bundle tests (test_bundle_*.c): keys and
 * certificates made at run time, and the JWK members the tests expect,
 * computed here independently of ca/bundle.c so a wrong encoding there
 * cannot agree with itself.
 */
#ifndef NAMETAG_TEST_FIXTURE_BUNDLE_H
#define NAMETAG_TEST_FIXTURE_BUNDLE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "ca/ca.h"
#include "tests/unit/harness.h"

/* ---- fixture: keys, certificates and their JWK spellings --------------- */

static struct fixture {
	EVP_PKEY *k256, *k384, *krsa, *ked;
	X509 *ca256, *ca384, *carsa, *caed, *leaf256, *v1_256;
	char *ca256_b64, *ca384_b64, *carsa_b64, *leaf256_b64, *v1_256_b64;
	char *trail_b64;		/* ca256's DER plus one extra byte */
	char *x256, *y256, *x384, *y384, *n, *e;
} fx;

static __attribute__((noreturn)) void die(const char *what)
{
	fprintf(stderr, "test fixture: %s failed\n", what);
	exit(2);
}

/* A self-signed certificate; @ca sets basicConstraints cA, and @v1 makes a
 * version 1 certificate with no extensions at all. */
static X509 *make_cert(EVP_PKEY *key, bool ca, bool v1)
{
	static long serial = 1;
	X509_EXTENSION *ext;
	X509V3_CTX ctx;
	X509 *x = X509_new();

	if (!x || !X509_set_version(x, v1 ? X509_VERSION_1 : X509_VERSION_3) ||
	    !ASN1_INTEGER_set(X509_get_serialNumber(x), serial++) ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), 0) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), 3600) ||
	    !X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "O",
					MBSTRING_ASC,
					(const unsigned char *)"nametag test",
					-1, -1, 0) ||
	    !X509_set_issuer_name(x, X509_get_subject_name(x)) ||
	    !X509_set_pubkey(x, key))
		die("certificate fields");
	if (!v1) {
		X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
		ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints,
					  ca ? "critical,CA:TRUE" :
					       "critical,CA:FALSE");
		if (!ext || !X509_add_ext(x, ext, -1))
			die("basicConstraints");
		X509_EXTENSION_free(ext);
	}
	/* Ed25519 signs without a separate digest. */
	if (!X509_sign(x, key, EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519 ?
			       NULL : EVP_sha256()))
		die("X509_sign");
	return x;
}

/* Standard base64 with padding, by OpenSSL (which never wraps lines in
 * EVP_EncodeBlock). */
static char *b64(const unsigned char *p, size_t n)
{
	char *s = malloc(n / 3 * 4 + 5);

	if (!s)
		die("malloc");
	EVP_EncodeBlock((unsigned char *)s, p, (int)n);
	return s;
}

/* base64url without padding: the standard spelling, translated. */
static char *b64url(const unsigned char *p, size_t n)
{
	char *s = b64(p, n), *c;

	for (c = s; *c; c++) {
		if (*c == '+')
			*c = '-';
		else if (*c == '/')
			*c = '_';
		else if (*c == '=')
			*c = '\0';
	}
	return s;
}

static char *cert_b64(X509 *x, bool trailing_byte)
{
	unsigned char *der = NULL, *buf;
	int n = i2d_X509(x, &der);
	char *s;

	if (n <= 0 || !(buf = calloc(1, n + 1)))
		die("i2d_X509");
	memcpy(buf, der, n);
	s = b64(buf, n + (trailing_byte ? 1 : 0));
	OPENSSL_free(der);
	free(buf);
	return s;
}

static char *bn_param_b64url(EVP_PKEY *k, const char *param, size_t pad)
{
	unsigned char buf[600];
	BIGNUM *bn = NULL;
	size_t len;
	char *s;

	if (!EVP_PKEY_get_bn_param(k, param, &bn))
		die(param);
	len = pad ? pad : (size_t)BN_num_bytes(bn);
	if (len > sizeof(buf) || BN_bn2binpad(bn, buf, (int)len) < 0)
		die("BN_bn2binpad");
	s = b64url(buf, len);
	BN_free(bn);
	return s;
}

static void fixture_free(void)
{
	EVP_PKEY_free(fx.k256);
	EVP_PKEY_free(fx.k384);
	EVP_PKEY_free(fx.krsa);
	EVP_PKEY_free(fx.ked);
	X509_free(fx.ca256);
	X509_free(fx.ca384);
	X509_free(fx.carsa);
	X509_free(fx.caed);
	X509_free(fx.leaf256);
	X509_free(fx.v1_256);
	free(fx.ca256_b64);
	free(fx.ca384_b64);
	free(fx.carsa_b64);
	free(fx.leaf256_b64);
	free(fx.v1_256_b64);
	free(fx.trail_b64);
	free(fx.x256);
	free(fx.y256);
	free(fx.x384);
	free(fx.y384);
	free(fx.n);
	free(fx.e);
}

static void fixture(void)
{
	struct nt_err err;

	if (fx.ca256)
		return;
	if (key__generate(&fx.k256, &err))
		die(err.msg);
	fx.k384 = EVP_EC_gen("P-384");
	fx.krsa = EVP_RSA_gen(2048);
	fx.ked = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (!fx.k384 || !fx.krsa || !fx.ked)
		die("key generation");
	fx.ca256 = make_cert(fx.k256, true, false);
	fx.ca384 = make_cert(fx.k384, true, false);
	fx.carsa = make_cert(fx.krsa, true, false);
	fx.caed = make_cert(fx.ked, true, false);
	fx.leaf256 = make_cert(fx.k256, false, false);
	fx.v1_256 = make_cert(fx.k256, false, true);
	fx.ca256_b64 = cert_b64(fx.ca256, false);
	fx.ca384_b64 = cert_b64(fx.ca384, false);
	fx.carsa_b64 = cert_b64(fx.carsa, false);
	fx.leaf256_b64 = cert_b64(fx.leaf256, false);
	fx.v1_256_b64 = cert_b64(fx.v1_256, false);
	fx.trail_b64 = cert_b64(fx.ca256, true);
	fx.x256 = bn_param_b64url(fx.k256, OSSL_PKEY_PARAM_EC_PUB_X, 32);
	fx.y256 = bn_param_b64url(fx.k256, OSSL_PKEY_PARAM_EC_PUB_Y, 32);
	fx.x384 = bn_param_b64url(fx.k384, OSSL_PKEY_PARAM_EC_PUB_X, 48);
	fx.y384 = bn_param_b64url(fx.k384, OSSL_PKEY_PARAM_EC_PUB_Y, 48);
	fx.n = bn_param_b64url(fx.krsa, OSSL_PKEY_PARAM_RSA_N, 0);
	fx.e = bn_param_b64url(fx.krsa, OSSL_PKEY_PARAM_RSA_E, 0);
	atexit(fixture_free);
}

/*
 * Replaces @NAME@ tokens in a template with the fixture's values, so a
 * table row shows the whole bundle it tests.
 */
static char *expand(const char *tpl)
{
	const struct { const char *tok; const char *val; } subst[] = {
		{ "@CA256@", fx.ca256_b64 }, { "@CA384@", fx.ca384_b64 },
		{ "@CARSA@", fx.carsa_b64 }, { "@LEAF256@", fx.leaf256_b64 },
		{ "@V1_256@", fx.v1_256_b64 }, { "@TRAIL256@", fx.trail_b64 },
		{ "@X256@", fx.x256 }, { "@Y256@", fx.y256 },
		{ "@X384@", fx.x384 }, { "@Y384@", fx.y384 },
		{ "@N@", fx.n }, { "@E@", fx.e },
	};
	size_t size = 0, i;
	char *out = NULL;
	FILE *f = open_memstream(&out, &size);

	if (!f)
		die("open_memstream");
	while (*tpl) {
		for (i = 0; i < sizeof(subst) / sizeof(subst[0]); i++)
			if (!strncmp(tpl, subst[i].tok, strlen(subst[i].tok)))
				break;
		if (i < sizeof(subst) / sizeof(subst[0])) {
			fputs(subst[i].val, f);
			tpl += strlen(subst[i].tok);
		} else {
			fputc(*tpl++, f);
		}
	}
	fclose(f);
	return out;
}

/* Parses the template @tpl for example.org and checks the result against
 * @want and, on failure, that the message holds @msg. Returns the bundle
 * on success (the caller checks and frees it), else NULL. */
static inline struct bundle *parse_expect(const char *name, const char *tpl,
					  int want, const char *msg)
{
	struct nt_err err = { "" };
	struct bundle *b = NULL;
	char *json = expand(tpl);
	int ret;

	ret = bundle__parse(&b, "example.org", json, strlen(json), &err);
	free(json);
	CHECKF(ret == want, "%s: returned %d, want %d (%s)", name, ret, want,
	       err.msg);
	if (want) {
		CHECKF(!b, "%s: bundle set on failure", name);
		CHECKF(msg && strstr(err.msg, msg),
		       "%s: message \"%s\" lacks \"%s\"", name, err.msg, msg);
	}
	if (ret)
		bundle__free(b);
	return ret ? NULL : b;
}

/* JWK spellings of the fixture's keys, for tables of bundles. */
#define USE_X509	"\"use\":\"x509-svid\""
#define JWK_256		"\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"@X256@\",\"y\":\"@Y256@\""
#define JWK_384		"\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"@X384@\",\"y\":\"@Y384@\""
#define JWK_RSA		"\"kty\":\"RSA\",\"n\":\"@N@\",\"e\":\"@E@\""
#define E256		"{" USE_X509 "," JWK_256 ",\"x5c\":[\"@CA256@\"]}"
#define E384		"{" USE_X509 "," JWK_384 ",\"x5c\":[\"@CA384@\"]}"
#define ERSA		"{" USE_X509 "," JWK_RSA ",\"x5c\":[\"@CARSA@\"]}"
/* P-256 members with a given x5c */
#define E256_X5C(x5c)	"{" USE_X509 "," JWK_256 ",\"x5c\":" x5c "}"
#define KEYS(...)	"{\"keys\":[" __VA_ARGS__ "]}"

#endif
