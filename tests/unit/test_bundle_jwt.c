// SPDX-License-Identifier: Apache-2.0
/*
 * The jwt-svid entries of SPIFFE bundles (JWT-SVID.md §6): parsing
 * (table-driven), writing, comparing, and the JWK Set the Workload API
 * hands out.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/x509.h>

#include "ca/ca.h"
#include "ca/jwk_int.h"
#include "tests/unit/fixture_bundle.h"
#include "tests/unit/harness.h"

#define JSON_USE_JWT		"\"use\":\"jwt-svid\""
#define J256(kid)	"{" JSON_USE_JWT ",\"kid\":\"" kid "\"," JWK_256 "}"
#define J384(kid)	"{" JSON_USE_JWT ",\"kid\":\"" kid "\"," JWK_384 "}"
#define JRSA(kid)	"{" JSON_USE_JWT ",\"kid\":\"" kid "\"," JWK_RSA "}"
#define EC_XY(x, y)	"\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" x "\",\"y\":\"" y "\""

/* 32 zero bytes and 32 0xff bytes in base64url: neither gives a point on
 * P-256 with the fixture's other coordinate. */
#define ZERO32		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
#define FF32		"__________________________________________8"
/* 256 characters, one over JWT_KID_MAX. */
#define K64		"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
#define KID256		K64 K64 K64 K64

struct jwt_case {
	const char *name;
	const char *json;
	int ret;
	const char *msg;		/* in err.msg when ret != 0 */
	size_t jwt;			/* jwt-svid keys kept */
	unsigned int ignored;
};

static const struct jwt_case jwt_cases[] = {
	/* accepted */
	{ "p-256", KEYS(J256("k1")), 0, NULL, 1, 0 },
	{ "p-384", KEYS(J384("k1")), 0, NULL, 1, 0 },
	{ "rsa 2048", KEYS(JRSA("r")), 0, NULL, 1, 0 },
	{ "three keys and a CA", KEYS(J256("a") "," E256 "," J384("b") ","
				      JRSA("c")), 0, NULL, 3, 0 },
	{ "same kid, same key, twice", KEYS(J256("a") "," J256("a")),
	  0, NULL, 1, 0 },
	{ "same key, two kids", KEYS(J256("a") "," J256("b")), 0, NULL, 2, 0 },
	{ "alg and unknown members kept out of the way",
	  KEYS("{" JSON_USE_JWT ",\"kid\":\"k\",\"alg\":\"ES256\",\"x-v\":[1]," JWK_256 "}"),
	  0, NULL, 1, 0 },
	{ "kid with unicode", KEYS(J256("cl\\u00e9")), 0, NULL, 1, 0 },
	{ "kid of 255 bytes", KEYS(J256(K64 K64 K64 "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk")),
	  0, NULL, 1, 0 },
	{ "unknown kty ignored, kid or not",
	  KEYS("{" JSON_USE_JWT ",\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"AA\"}"),
	  0, NULL, 0, 1 },
	{ "oct ignored: never an HMAC key",
	  KEYS("{" JSON_USE_JWT ",\"kid\":\"h\",\"kty\":\"oct\",\"k\":\"c2VjcmV0\"}"),
	  0, NULL, 0, 1 },

	/* the kid */
	{ "no kid", KEYS("{" JSON_USE_JWT "," JWK_256 "}"),
	  -EINVAL, "keys[0]: jwt-svid entries need a non-empty \"kid\"", 0, 0 },
	{ "empty kid", KEYS(J256("")),
	  -EINVAL, "keys[0]: jwt-svid entries need a non-empty \"kid\"", 0, 0 },
	{ "kid a number", KEYS("{" JSON_USE_JWT ",\"kid\":1," JWK_256 "}"),
	  -EINVAL, "need a non-empty \"kid\"", 0, 0 },
	{ "kid too long", KEYS(J256(KID256)),
	  -EINVAL, "keys[0]: \"kid\" is longer than 255 bytes", 0, 0 },
	{ "kid names two keys", KEYS(J256("a") "," E256 "," J384("a")),
	  -EINVAL, "keys[2]: its \"kid\" already names another key", 0, 0 },
	{ "kty missing", KEYS("{" JSON_USE_JWT ",\"kid\":\"a\"}"),
	  -EINVAL, "keys[0]: \"kty\" is required", 0, 0 },

	/* the key */
	{ "private d", KEYS("{" JSON_USE_JWT ",\"kid\":\"a\"," JWK_256 ",\"d\":\"AA\"}"),
	  -EINVAL, "keys[0]: \"d\" is a private key member", 0, 0 },
	{ "curve unknown",
	  KEYS("{" JSON_USE_JWT ",\"kid\":\"a\",\"kty\":\"EC\",\"crv\":\"secp256k1\",\"x\":\"@X256@\",\"y\":\"@Y256@\"}"),
	  -EINVAL, "curve \"secp256k1\" is not P-256", 0, 0 },
	{ "crv missing",
	  KEYS("{" JSON_USE_JWT ",\"kid\":\"a\",\"kty\":\"EC\",\"x\":\"@X256@\",\"y\":\"@Y256@\"}"),
	  -EINVAL, "keys[0]: \"crv\" is required", 0, 0 },
	{ "x of the wrong size",
	  KEYS("{" JSON_USE_JWT ",\"kid\":\"a\",\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"@X256@\",\"y\":\"@Y256@\"}"),
	  -EINVAL, "keys[0]: \"x\" must be 48 bytes", 0, 0 },
	{ "y missing",
	  KEYS("{" JSON_USE_JWT ",\"kid\":\"a\",\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"@X256@\"}"),
	  -EINVAL, "keys[0]: \"y\" is required", 0, 0 },
	{ "not on the curve", KEYS("{" JSON_USE_JWT ",\"kid\":\"a\"," EC_XY("@X256@", ZERO32) "}"),
	  -EINVAL, "keys[0]: x and y are not a point on P-256", 0, 0 },
	{ "coordinates out of the field", KEYS("{" JSON_USE_JWT ",\"kid\":\"a\"," EC_XY(FF32, FF32) "}"),
	  -EINVAL, "not a point on P-256", 0, 0 },
	{ "x padded", KEYS("{" JSON_USE_JWT ",\"kid\":\"a\"," EC_XY("@X256@=", "@Y256@") "}"),
	  -EINVAL, "keys[0]: \"x\" is not base64url without padding", 0, 0 },
	{ "x in standard base64",
	  KEYS("{" JSON_USE_JWT ",\"kid\":\"a\"," EC_XY("+++++++++++++++++++++++++++++++++++++++++++", "@Y256@") "}"),
	  -EINVAL, "\"x\" is not base64url", 0, 0 },
	{ "rsa too short",
	  KEYS("{" JSON_USE_JWT ",\"kid\":\"a\",\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"}"),
	  -EINVAL, "keys[0]: RSA keys must have 2048 to 8192 bits", 0, 0 },
	{ "rsa e missing",
	  KEYS("{" JSON_USE_JWT ",\"kid\":\"a\",\"kty\":\"RSA\",\"n\":\"@N@\"}"),
	  -EINVAL, "keys[0]: \"e\" is required", 0, 0 },
};

static void check_jwt_case(const struct jwt_case *c)
{
	struct bundle *b = parse_expect(c->name, c->json, c->ret, c->msg);

	if (!b)
		return;
	CHECKF(b->jwt_count == c->jwt, "%s: %zu jwt-svid keys, want %zu",
	       c->name, b->jwt_count, c->jwt);
	CHECKF(b->ignored_keys == c->ignored, "%s: %u ignored, want %u",
	       c->name, b->ignored_keys, c->ignored);
	bundle__free(b);
}

static void test_parse_table(void)
{
	size_t i;

	fixture();
	for (i = 0; i < sizeof(jwt_cases) / sizeof(jwt_cases[0]); i++)
		check_jwt_case(&jwt_cases[i]);
}

/* The keys parsed are the fixture's, under their kids, in bundle order. */
static void test_parse_keys(void)
{
	char *json = NULL;
	const struct jwt_authority *a;
	struct nt_err err = { "" };
	struct bundle *b = NULL;

	fixture();
	json = expand(KEYS(J384("second") "," J256("first")));
	CHECK(!bundle__parse(&b, "example.org", json, strlen(json), &err));
	free(json);
	if (!b)
		return;
	CHECK(b->jwt_count == 2);
	CHECK(!strcmp(b->jwt_authorities[0].kid, "second"));
	a = bundle__jwt_authority(b, "first", 5);
	CHECK(a && EVP_PKEY_eq(a->key, fx.k256) == 1);
	a = bundle__jwt_authority(b, "second", 6);
	CHECK(a && EVP_PKEY_eq(a->key, fx.k384) == 1);
	/* By length: a prefix or an extension of a kid is another kid. */
	CHECK(!bundle__jwt_authority(b, "firs", 4));
	CHECK(!bundle__jwt_authority(b, "first!", 6));
	CHECK(!bundle__jwt_authority(b, "", 0));
	CHECK(!bundle__jwt_authority(NULL, "first", 5));
	bundle__free(b);
}

/* RFC 7518 §6.3.1.1: n is minimal, so a leading zero octet is another
 * spelling of the same key, and refused. */
static void test_rsa_leading_zero(void)
{
	unsigned char buf[600];
	struct nt_err err = { "" };
	struct bundle *b = NULL;
	BIGNUM *n = NULL;
	char *nb, *json;
	int len;

	fixture();
	CHECK(EVP_PKEY_get_bn_param(fx.krsa, OSSL_PKEY_PARAM_RSA_N, &n) == 1);
	len = n ? BN_num_bytes(n) : 0;
	buf[0] = 0;
	CHECK(len > 0 && BN_bn2bin(n, buf + 1) == len);
	nb = b64url(buf, (size_t)len + 1);
	CHECK(asprintf(&json, "{\"keys\":[{" JSON_USE_JWT ",\"kid\":\"a\",\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"%s\"}]}",
		       nb, fx.e) > 0);
	CHECK(bundle__parse(&b, "example.org", json, strlen(json), &err) ==
	      -EINVAL);
	CHECKF(strstr(err.msg, "no leading zero octet"), "message %s", err.msg);
	free(json);
	free(nb);
	BN_free(n);
}

static struct bundle *jwt_bundle(void)
{
	struct nt_err err;
	struct bundle *b;

	if (bundle__new(&b, "example.org", &err) ||
	    bundle__add_authority(b, fx.ca256, &err) != 1 ||
	    bundle__add_jwt_authority(b, "k256", fx.k256, &err) != 1 ||
	    bundle__add_jwt_authority(b, "krsa", fx.krsa, &err) != 1)
		die(err.msg);
	return b;
}

static void test_add(void)
{
	struct nt_err err = { "" };
	struct bundle *b;
	EVP_PKEY *small = EVP_RSA_gen(1024);

	fixture();
	b = jwt_bundle();
	CHECK(bundle__add_jwt_authority(b, "k256", fx.k256, &err) == 0);
	CHECK(bundle__add_jwt_authority(b, "k256", fx.k384, &err) == -EEXIST);
	CHECK(bundle__add_jwt_authority(b, "", fx.k384, &err) == -EINVAL);
	CHECK(bundle__add_jwt_authority(b, KID256, fx.k384, &err) == -EINVAL);
	CHECK(bundle__add_jwt_authority(b, "ed", fx.ked, &err) == -EINVAL);
	CHECK(small && bundle__add_jwt_authority(b, "small", small, &err) ==
		       -EINVAL);
	CHECKF(strstr(err.msg, "2048 to 8192"), "message %s", err.msg);
	CHECK(bundle__add_jwt_authority(NULL, "x", fx.k256, &err) == -EINVAL);
	CHECK(b->jwt_count == 2);
	EVP_PKEY_free(small);
	bundle__free(b);
}

/* Written, read back and written again: the same keys and the same bytes. */
static void test_round_trip(void)
{
	char *j1 = NULL, *j2 = NULL;
	struct nt_err err = { "" };
	struct bundle *a, *b = NULL;

	fixture();
	a = jwt_bundle();
	CHECK(!bundle__to_json(a, false, &j1, &err));
	CHECK(j1 && !bundle__parse(&b, "example.org", j1, strlen(j1), &err));
	CHECKF(b, "own output did not parse: %s", err.msg);
	if (b) {
		CHECK(bundle__same_authorities(a, b));
		CHECK(b->jwt_count == 2 && b->ignored_keys == 0);
		CHECK(!bundle__to_json(b, false, &j2, &err));
		CHECK(j2 && !strcmp(j1, j2));
	}
	CHECKF(j1 && strstr(j1, "{\"use\":\"jwt-svid\",\"kty\":\"EC\",\"kid\":\"k256\",\"crv\":\"P-256\""),
	       "entry spelling: %s", j1);
	free(j1);
	free(j2);
	bundle__free(a);
	bundle__free(b);
}

static void test_same(void)
{
	struct bundle *a, *b;
	struct nt_err err;

	fixture();
	a = jwt_bundle();
	b = jwt_bundle();
	CHECK(bundle__same_authorities(a, b));
	/* One more key, then the same kids with other keys. */
	CHECK(bundle__add_jwt_authority(b, "k384", fx.k384, &err) == 1);
	CHECK(!bundle__same_authorities(a, b));
	bundle__free(b);
	if (bundle__new(&b, "example.org", &err) ||
	    bundle__add_authority(b, fx.ca256, &err) != 1 ||
	    bundle__add_jwt_authority(b, "k256", fx.krsa, &err) != 1 ||
	    bundle__add_jwt_authority(b, "krsa", fx.k256, &err) != 1)
		die(err.msg);
	CHECK(!bundle__same_authorities(a, b));
	bundle__free(a);
	bundle__free(b);
}

/* FetchJWTBundles' JWK Set: only the jwt-svid keys, no spiffe_* members. */
static void test_jwks(void)
{
	struct nt_err err = { "" };
	cJSON *root = NULL, *keys, *k;
	struct bundle *a, *b = NULL;
	char *json = NULL;

	fixture();
	a = jwt_bundle();
	a->has_sequence = true;
	a->sequence = 4;
	CHECK(!bundle__jwks_json(a, &json, &err));
	CHECK(json && !json__parse_strict(json, strlen(json), &root, &err));
	if (!root)
		goto out;
	CHECK(cJSON_GetArraySize(root) == 1);
	keys = cJSON_GetObjectItemCaseSensitive(root, "keys");
	CHECK(cJSON_GetArraySize(keys) == 2);
	cJSON_ArrayForEach(k, keys) {
		CHECK(!strcmp(cJSON_GetObjectItem(k, "use")->valuestring,
			      "jwt-svid"));
		CHECK(cJSON_IsString(cJSON_GetObjectItem(k, "kid")));
		CHECK(!cJSON_GetObjectItem(k, "x5c"));
	}
	/* A JWK Set we parse back into the same JWT keys. */
	CHECK(!bundle__parse(&b, "example.org", json, strlen(json), &err));
	CHECK(b && b->jwt_count == 2 && !sk_X509_num(b->x509_authorities));
out:
	cJSON_Delete(root);
	free(json);
	bundle__free(a);
	bundle__free(b);
}

/* Fleet mode reads other nodes' keys only under their own thumbprints. */
static void test_kids_thumbprints(void)
{
	struct nt_err err = { "" };
	char tp[JWT_KID_LEN + 1];
	struct bundle *b;

	fixture();
	if (bundle__new(&b, "example.org", &err))
		die(err.msg);
	CHECK(!bundle__jwt_kids_are_thumbprints(b, &err));
	CHECK(!jwk__thumbprint(fx.k256, tp, sizeof(tp)));
	CHECK(bundle__add_jwt_authority(b, tp, fx.k256, &err) == 1);
	CHECK(!jwk__thumbprint(fx.krsa, tp, sizeof(tp)));
	CHECK(bundle__add_jwt_authority(b, tp, fx.krsa, &err) == 1);
	CHECK(!bundle__jwt_kids_are_thumbprints(b, &err));
	/* Another key under a valid thumbprint: the one of k256's. */
	CHECK(!jwk__thumbprint(fx.k256, tp, sizeof(tp)));
	bundle__free(b);
	if (bundle__new(&b, "example.org", &err))
		die(err.msg);
	CHECK(bundle__add_jwt_authority(b, tp, fx.k384, &err) == 1);
	CHECK(bundle__jwt_kids_are_thumbprints(b, &err) == -EINVAL);
	CHECKF(strstr(err.msg, "not the RFC 7638 thumbprint"), "message %s", err.msg);
	bundle__free(b);
	b = jwt_bundle();	/* kids "k256", "krsa" */
	CHECK(bundle__jwt_kids_are_thumbprints(b, &err) == -EINVAL);
	bundle__free(b);
}

T_MAIN("bundle/jwt",
       T(test_parse_table),
       T(test_parse_keys),
       T(test_rsa_leading_zero),
       T(test_add),
       T(test_round_trip),
       T(test_same),
       T(test_jwks),
       T(test_kids_thumbprints));
