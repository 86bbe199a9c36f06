// SPDX-License-Identifier: Apache-2.0
/*
 * SPIFFE trust bundles: parsing (table-driven) and its limits. Writing,
 * sets and the trust store are in test_bundle_set.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "ca/ca.h"
#include "tests/unit/fixture_bundle.h"
#include "tests/unit/harness.h"

/* ---- parsing, table-driven ---------------------------------------------- */

struct parse_case {
	const char *name;
	const char *json;
	int ret;
	const char *msg;		/* in err.msg when ret != 0 */
	int authorities;
	unsigned int ignored;
};

static const struct parse_case parse_cases[] = {
	/* accepted */
	{ "ec p-256", KEYS(E256), 0, NULL, 1, 0 },
	{ "ec p-384", KEYS(E384), 0, NULL, 1, 0 },
	{ "rsa", KEYS(ERSA), 0, NULL, 1, 0 },
	{ "three authorities", KEYS(E256 "," E384 "," ERSA), 0, NULL, 3, 0 },
	{ "same ca twice", KEYS(E256 "," E256), 0, NULL, 1, 0 },
	{ "no keys", KEYS(), 0, NULL, 0, 0 },
	{ "whitespace around", " \n\t" KEYS(E256) "\r\n ", 0, NULL, 1, 0 },
	{ "unknown top-level member",
	  "{\"keys\":[],\"x-vendor\":{\"a\":[1,2]}}", 0, NULL, 0, 0 },
	{ "unknown member in entry",
	  KEYS("{" USE_X509 ",\"alg\":\"ES256\"," JWK_256
	       ",\"x5c\":[\"@CA256@\"]}"), 0, NULL, 1, 0 },
	{ "unknown use ignored",
	  KEYS("{\"use\":\"x-future-svid\",\"kty\":\"EC\"}," E256),
	  0, NULL, 1, 1 },
	{ "jwt-svid not ignored (test_bundle_jwt.c)",
	  KEYS("{\"use\":\"jwt-svid\",\"kid\":\"k1\"," JWK_256 "}"),
	  0, NULL, 0, 0 },
	{ "unknown kty ignored",
	  KEYS("{" USE_X509 ",\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x5c\":[]}"),
	  0, NULL, 0, 1 },
	{ "use is case-sensitive",
	  KEYS("{\"use\":\"X509-SVID\"," JWK_256 ",\"x5c\":[\"@CA256@\"]}"),
	  0, NULL, 0, 1 },

	/* the document */
	{ "empty input", "", -EINVAL, "bundle: invalid json", 0, 0 },
	{ "truncated", "{\"keys\":[", -EINVAL, "bundle: invalid json", 0, 0 },
	{ "top level array", "[]", -EINVAL, "bundle: must be a json object", 0, 0 },
	{ "trailing garbage", KEYS(E256) "x", -EINVAL, "trailing data", 0, 0 },
	{ "two documents", KEYS() KEYS(), -EINVAL, "trailing data", 0, 0 },
	{ "duplicate top-level key", "{\"keys\":[],\"keys\":[]}",
	  -EINVAL, "duplicate json key \"keys\"", 0, 0 },
	{ "duplicate key in entry",
	  KEYS("{" USE_X509 "," USE_X509 "," JWK_256 ",\"x5c\":[\"@CA256@\"]}"),
	  -EINVAL, "duplicate json key \"use\"", 0, 0 },
	{ "Keys in wrong case", "{\"Keys\":[" E256 "]}",
	  -EINVAL, "bundle: \"keys\" is required", 0, 0 },
	{ "missing keys", "{}", -EINVAL, "\"keys\" is required", 0, 0 },
	{ "keys is an object", "{\"keys\":{}}",
	  -EINVAL, "\"keys\" must be an array", 0, 0 },
	{ "keys is null", "{\"keys\":null}",
	  -EINVAL, "\"keys\" must be an array", 0, 0 },

	/* entries */
	{ "entry not an object", KEYS("1"), -EINVAL, "keys[0]: must be a json object", 0, 0 },
	{ "use missing", KEYS("{" JWK_256 "}"),
	  -EINVAL, "keys[0]: \"use\" is required", 0, 0 },
	{ "Use in wrong case",
	  KEYS("{\"Use\":\"x509-svid\"," JWK_256 ",\"x5c\":[\"@CA256@\"]}"),
	  -EINVAL, "keys[0]: \"use\" is required", 0, 0 },
	{ "use not a string", KEYS("{\"use\":1}"),
	  -EINVAL, "keys[0]: \"use\" is required", 0, 0 },
	{ "kty missing", KEYS("{" USE_X509 ",\"x5c\":[\"@CA256@\"]}"),
	  -EINVAL, "keys[0]: \"kty\" is required", 0, 0 },
	{ "kid on x509-svid",
	  KEYS("{" USE_X509 ",\"kid\":\"k1\"," JWK_256 ",\"x5c\":[\"@CA256@\"]}"),
	  -EINVAL, "keys[0]: x509-svid entries must not have \"kid\"", 0, 0 },
	{ "x5c with two certs", KEYS(E256_X5C("[\"@CA256@\",\"@CA384@\"]")),
	  -EINVAL, "keys[0]: x5c must hold exactly one certificate, has 2", 0, 0 },
	{ "x5c empty", KEYS(E256_X5C("[]")),
	  -EINVAL, "x5c must hold exactly one certificate, has 0", 0, 0 },
	{ "x5c missing", KEYS("{" USE_X509 "," JWK_256 "}"),
	  -EINVAL, "keys[0]: \"x5c\" is required and must be an array", 0, 0 },
	{ "x5c a string", KEYS(E256_X5C("\"@CA256@\"")),
	  -EINVAL, "\"x5c\" is required and must be an array", 0, 0 },
	{ "x5c element not a string", KEYS(E256_X5C("[1]")),
	  -EINVAL, "keys[0]: x5c[0] must be a string", 0, 0 },
	{ "index counts every entry",
	  KEYS("{\"use\":\"jwt-svid\",\"kty\":\"OKP\"},{\"use\":\"other\"}," E256 ","
	       E256_X5C("[\"@CA256@\",\"@CA256@\"]")),
	  -EINVAL, "keys[3]: x5c must hold exactly one certificate, has 2", 0, 0 },
	{ "x5c not a CA", KEYS(E256_X5C("[\"@LEAF256@\"]")),
	  -EINVAL, "keys[0]: certificate is not a CA", 0, 0 },
	{ "x5c v1 certificate", KEYS(E256_X5C("[\"@V1_256@\"]")),
	  -EINVAL, "keys[0]: certificate is not a CA", 0, 0 },
	{ "base64 garbage", KEYS(E256_X5C("[\"!!!!\"]")),
	  -EINVAL, "keys[0]: x5c[0] is not valid base64", 0, 0 },
	{ "base64 unpadded", KEYS(E256_X5C("[\"AAA\"]")),
	  -EINVAL, "x5c[0] is not valid base64", 0, 0 },
	{ "base64 stray bits", KEYS(E256_X5C("[\"AB==\"]")),
	  -EINVAL, "x5c[0] is not valid base64", 0, 0 },
	{ "base64 with newline", KEYS(E256_X5C("[\"AAAA\\nAAAA\"]")),
	  -EINVAL, "x5c[0] is not valid base64", 0, 0 },
	{ "base64 not a certificate", KEYS(E256_X5C("[\"AAAA\"]")),
	  -EINVAL, "keys[0]: x5c[0] is not a DER certificate", 0, 0 },
	{ "der with trailing byte", KEYS(E256_X5C("[\"@TRAIL256@\"]")),
	  -EINVAL, "x5c[0] is not a DER certificate", 0, 0 },

	/* key members against the certificate */
	{ "x of another key",
	  KEYS("{" USE_X509 ",\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"@Y256@\","
	       "\"y\":\"@Y256@\",\"x5c\":[\"@CA256@\"]}"),
	  -EINVAL, "keys[0]: \"x\" does not match the certificate's public key", 0, 0 },
	{ "y of another key",
	  KEYS("{" USE_X509 ",\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"@X256@\","
	       "\"y\":\"@X256@\",\"x5c\":[\"@CA256@\"]}"),
	  -EINVAL, "keys[0]: \"y\" does not match", 0, 0 },
	{ "x padded",
	  KEYS("{" USE_X509 ",\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"@X256@=\","
	       "\"y\":\"@Y256@\",\"x5c\":[\"@CA256@\"]}"),
	  -EINVAL, "\"x\" does not match", 0, 0 },
	{ "y missing",
	  KEYS("{" USE_X509 ",\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"@X256@\","
	       "\"x5c\":[\"@CA256@\"]}"),
	  -EINVAL, "keys[0]: \"y\" is required", 0, 0 },
	{ "crv of another curve",
	  KEYS("{" USE_X509 ",\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"@X256@\","
	       "\"y\":\"@Y256@\",\"x5c\":[\"@CA256@\"]}"),
	  -EINVAL, "\"crv\" does not match", 0, 0 },
	{ "members of another certificate",
	  KEYS("{" USE_X509 "," JWK_256 ",\"x5c\":[\"@CA384@\"]}"),
	  -EINVAL, "keys[0]: \"crv\" does not match", 0, 0 },
	{ "kty RSA on an EC certificate",
	  KEYS("{" USE_X509 "," JWK_RSA ",\"x5c\":[\"@CA256@\"]}"),
	  -EINVAL, "keys[0]: kty is \"RSA\" but the certificate has an EC key", 0, 0 },
	{ "rsa e wrong",
	  KEYS("{" USE_X509 ",\"kty\":\"RSA\",\"n\":\"@N@\",\"e\":\"AQAA\","
	       "\"x5c\":[\"@CARSA@\"]}"),
	  -EINVAL, "\"e\" does not match", 0, 0 },

	/* numbers */
	{ "sequence and hint", "{\"keys\":[],\"spiffe_sequence\":7,"
	  "\"spiffe_refresh_hint\":300}", 0, NULL, 0, 0 },
	{ "sequence 2^53 - 1", "{\"keys\":[],\"spiffe_sequence\":9007199254740991}",
	  0, NULL, 0, 0 },
	{ "sequence 2^53", "{\"keys\":[],\"spiffe_sequence\":9007199254740992}",
	  -ERANGE, "spiffe_sequence is larger than 2^53 - 1", 0, 0 },
	{ "sequence 1e400", "{\"keys\":[],\"spiffe_sequence\":1e400}",
	  -ERANGE, "spiffe_sequence is larger", 0, 0 },
	{ "negative sequence", "{\"keys\":[],\"spiffe_sequence\":-1}",
	  -EINVAL, "spiffe_sequence must not be negative", 0, 0 },
	{ "float sequence", "{\"keys\":[],\"spiffe_sequence\":1.5}",
	  -EINVAL, "spiffe_sequence must be an integer", 0, 0 },
	{ "sequence as a string", "{\"keys\":[],\"spiffe_sequence\":\"1\"}",
	  -EINVAL, "spiffe_sequence must be an integer", 0, 0 },
	{ "sequence null", "{\"keys\":[],\"spiffe_sequence\":null}",
	  -EINVAL, "spiffe_sequence must be an integer", 0, 0 },
	{ "negative refresh hint", "{\"keys\":[],\"spiffe_refresh_hint\":-300}",
	  -EINVAL, "spiffe_refresh_hint must not be negative", 0, 0 },
	{ "float refresh hint", "{\"keys\":[],\"spiffe_refresh_hint\":0.5}",
	  -EINVAL, "spiffe_refresh_hint must be an integer", 0, 0 },
};

static void check_parse_case(const struct parse_case *c)
{
	struct bundle *b = parse_expect(c->name, c->json, c->ret, c->msg);

	if (!b)
		return;
	CHECKF(sk_X509_num(b->x509_authorities) == c->authorities,
	       "%s: %d authorities, want %d", c->name,
	       sk_X509_num(b->x509_authorities), c->authorities);
	CHECKF(b->ignored_keys == c->ignored, "%s: %u ignored, want %u",
	       c->name, b->ignored_keys, c->ignored);
	CHECKF(!strcmp(b->td, "example.org"), "%s: td %s", c->name, b->td);
	bundle__free(b);
}

static void test_parse_table(void)
{
	size_t i;

	fixture();
	for (i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++)
		check_parse_case(&parse_cases[i]);
}

static void test_parse_numbers_kept(void)
{
	const char *json = "{\"keys\":[],\"spiffe_sequence\":9007199254740991,"
			   "\"spiffe_refresh_hint\":0}";
	struct nt_err err = { "" };
	struct bundle *b = NULL;

	CHECK(!bundle__parse(&b, "example.org", json, strlen(json), &err));
	if (!b)
		return;
	CHECK(b->has_sequence && b->sequence == 9007199254740991ULL);
	CHECK(b->has_refresh_hint && b->refresh_hint == 0);
	bundle__free(b);

	json = "{\"keys\":[]}";
	CHECK(!bundle__parse(&b, "example.org", json, strlen(json), &err));
	if (!b)
		return;
	CHECK(!b->has_sequence && b->sequence == 0);
	CHECK(!b->has_refresh_hint);
	bundle__free(b);
}

static void test_parse_nul_byte(void)
{
	static const char json[] = "{\"keys\":[]}\0";
	static const char inner[] = "{\"keys\":[],\"x\":\"a\0b\"}";
	struct nt_err err = { "" };
	struct bundle *b = NULL;

	/* The NUL is inside the given length: refused, not a terminator. */
	CHECK(bundle__parse(&b, "example.org", json, sizeof(json) - 1, &err) ==
	      -EINVAL);
	CHECKF(strstr(err.msg, "NUL"), "message: %s", err.msg);
	CHECK(bundle__parse(&b, "example.org", inner, sizeof(inner) - 1,
			    &err) == -EINVAL);
	CHECK(!b);
}

static void test_parse_bad_trust_domain(void)
{
	struct nt_err err = { "" };
	struct bundle *b = NULL;

	CHECK(bundle__parse(&b, "Example.org", "{\"keys\":[]}", 11, &err) < 0);
	CHECK(bundle__parse(&b, "", "{\"keys\":[]}", 11, &err) < 0);
	CHECK(bundle__new(&b, "spiffe://example.org", &err) < 0);
	CHECK(!b);
}

static void test_parse_huge(void)
{
	size_t len = BUNDLE_MAX_BYTES + 1, i, off;
	struct nt_err err = { "" };
	struct bundle *b = NULL;
	static const char entry[] = "{\"use\":\"x\"},";
	char *buf = malloc(len);
	int ret;

	if (!buf)
		die("malloc");
	memset(buf, ' ', len);
	memcpy(buf, "{\"keys\":[]}", 11);
	ret = bundle__parse(&b, "example.org", buf, len, &err);
	CHECKF(ret == -EFBIG, "over BUNDLE_MAX_BYTES: %d %s", ret, err.msg);

	/* One entry over the key limit (ignored entries count too). */
	for (i = 1024; i <= 1025; i++) {
		off = (size_t)sprintf(buf, "{\"keys\":[");
		for (size_t k = 0; k < i; k++, off += sizeof(entry) - 1)
			memcpy(buf + off, entry, sizeof(entry) - 1);
		memcpy(buf + off - 1, "]}", 2);
		ret = bundle__parse(&b, "example.org", buf, off + 1, &err);
		if (i == 1024) {
			CHECKF(!ret, "1024 keys: %s", err.msg);
			CHECK(b && b->ignored_keys == 1024);
			bundle__free(b);
			b = NULL;
		} else {
			CHECKF(ret == -E2BIG, "1025 keys: %d %s", ret, err.msg);
			CHECKF(strstr(err.msg, "more than 1024 keys"), "%s",
			       err.msg);
		}
	}
	free(buf);
}

static void test_parse_deep_nesting(void)
{
	char buf[256];
	struct nt_err err = { "" };
	struct bundle *b = NULL;
	int i, off;

	off = sprintf(buf, "{\"keys\":[],\"x\":");
	for (i = 0; i < 60; i++)
		buf[off++] = '[';
	for (i = 0; i < 60; i++)
		buf[off++] = ']';
	buf[off++] = '}';
	CHECK(bundle__parse(&b, "example.org", buf, off, &err) == -EINVAL);
	CHECK(!b);
}

T_MAIN("bundle/parse",
       T(test_parse_table),
       T(test_parse_numbers_kept),
       T(test_parse_nul_byte),
       T(test_parse_bad_trust_domain),
       T(test_parse_huge),
       T(test_parse_deep_nesting));
