/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The fixture of the JWT-SVID tests: keys, a trust store holding them, and
 * tokens built here byte by byte (header and payload as given, signed with
 * OpenSSL directly) so the validator meets what a careless or hostile
 * issuer could send, not only what ca/jwt.c makes.
 */
#ifndef NAMETAG_TEST_FIXTURE_JWT_H
#define NAMETAG_TEST_FIXTURE_JWT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "ca/ca.h"
#include "tests/unit/harness.h"

#define JT0	((time_t)1750000000)	/* the tests' "now" */

static struct jwt_fixture {
	EVP_PKEY *k256, *k384, *k521, *krsa, *other;
	struct bundle_set *set;		/* example.org and other.org */
} jf;

static __attribute__((noreturn)) void jdie(const char *what)
{
	fprintf(stderr, "jwt fixture: %s failed\n", what);
	exit(2);
}

static void jwt_fixture_free(void)
{
	EVP_PKEY_free(jf.k256);
	EVP_PKEY_free(jf.k384);
	EVP_PKEY_free(jf.k521);
	EVP_PKEY_free(jf.krsa);
	EVP_PKEY_free(jf.other);
	bundle_set__free(jf.set);
}

static void jwt_add(struct bundle *b, const char *kid, EVP_PKEY *k)
{
	struct nt_err err;

	if (bundle__add_jwt_authority(b, kid, k, &err) != 1)
		jdie(err.msg);
}

/* example.org: k256, k384, k521, krsa; other.org: ko (another P-256). */
static void jwt_fixture(void)
{
	struct bundle *ex = NULL, *ot = NULL;
	struct nt_err err;

	if (jf.set)
		return;
	jf.k256 = EVP_EC_gen("P-256");
	jf.k384 = EVP_EC_gen("P-384");
	jf.k521 = EVP_EC_gen("P-521");
	jf.krsa = EVP_RSA_gen(2048);
	jf.other = EVP_EC_gen("P-256");
	if (!jf.k256 || !jf.k384 || !jf.k521 || !jf.krsa || !jf.other)
		jdie("key generation");
	if (bundle_set__new(&jf.set) || bundle__new(&ex, "example.org", &err) ||
	    bundle__new(&ot, "other.org", &err))
		jdie("bundles");
	jwt_add(ex, "k256", jf.k256);
	jwt_add(ex, "k384", jf.k384);
	jwt_add(ex, "k521", jf.k521);
	jwt_add(ex, "krsa", jf.krsa);
	jwt_add(ot, "ko", jf.other);
	if (bundle_set__add(jf.set, ex, &err) || bundle_set__add(jf.set, ot, &err))
		jdie(err.msg);
	atexit(jwt_fixture_free);
}

/* base64url without padding, by OpenSSL's standard encoder, translated. */
static char *jb64(const unsigned char *p, size_t n)
{
	char *s = malloc(n / 3 * 4 + 5), *c;

	if (!s)
		jdie("malloc");
	EVP_EncodeBlock((unsigned char *)s, p, (int)n);
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

enum jsig {
	JS_ES256, JS_ES384, JS_ES512,	/* raw r||s */
	JS_ES256_DER,			/* OpenSSL's DER: wrong for JWS */
	JS_RS256, JS_PS256, JS_PS384, JS_RS512,
	JS_NONE,			/* the signature part is "AA" */
};

static const char *jsig_md(enum jsig s)
{
	switch (s) {
	case JS_ES384: case JS_PS384:
		return "SHA384";
	case JS_ES512: case JS_RS512:
		return "SHA512";
	default:
		return "SHA256";
	}
}

/* Signs @in with @k; *out is malloc'd. */
static size_t jsign(enum jsig how, EVP_PKEY *k, const char *in,
		    unsigned char **out)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	unsigned char der[600];
	const unsigned char *p = der;
	size_t len = sizeof(der), half;
	const BIGNUM *r, *s;
	ECDSA_SIG *sig;

	if (!ctx || EVP_DigestSignInit_ex(ctx, &pctx, jsig_md(how), NULL, NULL,
					  k, NULL) != 1)
		jdie("EVP_DigestSignInit_ex");
	if ((how == JS_PS256 || how == JS_PS384) &&
	    (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
	     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1))
		jdie("PSS");
	if (EVP_DigestSign(ctx, der, &len, (const unsigned char *)in,
			   strlen(in)) != 1)
		jdie("EVP_DigestSign");
	EVP_MD_CTX_free(ctx);
	*out = malloc(len);
	if (!*out)
		jdie("malloc");
	if (how != JS_ES256 && how != JS_ES384 && how != JS_ES512) {
		memcpy(*out, der, len);
		return len;
	}
	half = how == JS_ES256 ? 32 : how == JS_ES384 ? 48 : 66;
	sig = d2i_ECDSA_SIG(NULL, &p, (long)len);
	if (!sig)
		jdie("d2i_ECDSA_SIG");
	ECDSA_SIG_get0(sig, &r, &s);
	free(*out);
	*out = malloc(2 * half);
	if (!*out || BN_bn2binpad(r, *out, (int)half) < 0 ||
	    BN_bn2binpad(s, *out + half, (int)half) < 0)
		jdie("BN_bn2binpad");
	ECDSA_SIG_free(sig);
	return 2 * half;
}

/* "b64(header).b64(payload).b64(signature)" over the exact bytes given. */
static char *jtoken(const char *header, const char *payload, enum jsig how,
		    EVP_PKEY *k)
{
	char *h = jb64((const unsigned char *)header, strlen(header));
	char *p = jb64((const unsigned char *)payload, strlen(payload));
	char *in = NULL, *tok = NULL, *s;
	unsigned char *sig = NULL;
	size_t n;

	if (asprintf(&in, "%s.%s", h, p) < 0)
		jdie("asprintf");
	if (how == JS_NONE) {
		s = strdup("AA");
	} else {
		n = jsign(how, k, in, &sig);
		s = jb64(sig, n);
	}
	if (!s || asprintf(&tok, "%s.%s", in, s) < 0)
		jdie("asprintf");
	free(h);
	free(p);
	free(in);
	free(s);
	free(sig);
	return tok;
}

#endif
