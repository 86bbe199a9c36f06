// SPDX-License-Identifier: Apache-2.0
/*
 * SPIFFE trust bundles: parsing (table-driven), writing, sets, and loading
 * a state dir's trust store. Certificates are made here, at run time; the
 * JWK members the tests expect are computed here too, independently of
 * ca/bundle.c, so a wrong encoding there cannot agree with itself.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* ---- parsing, table-driven ---------------------------------------------- */

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
	{ "jwt-svid ignored",
	  KEYS("{\"use\":\"jwt-svid\",\"kid\":\"k1\"," JWK_256 "}"),
	  0, NULL, 0, 1 },
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
	  KEYS("{\"use\":\"jwt-svid\"},{\"use\":\"other\"}," E256 ","
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
	struct nt_err err = { "" };
	struct bundle *b = NULL;
	char *json = expand(c->json);
	int ret;

	ret = bundle__parse(&b, "example.org", json, strlen(json), &err);
	CHECKF(ret == c->ret, "%s: returned %d, want %d (%s)", c->name, ret,
	       c->ret, err.msg);
	if (c->ret) {
		CHECKF(!b, "%s: bundle set on failure", c->name);
		CHECKF(strstr(err.msg, c->msg), "%s: message \"%s\" lacks \"%s\"",
		       c->name, err.msg, c->msg);
	} else if (!ret) {
		CHECKF(sk_X509_num(b->x509_authorities) == c->authorities,
		       "%s: %d authorities, want %d", c->name,
		       sk_X509_num(b->x509_authorities), c->authorities);
		CHECKF(b->ignored_keys == c->ignored, "%s: %u ignored, want %u",
		       c->name, b->ignored_keys, c->ignored);
		CHECKF(!strcmp(b->td, "example.org"), "%s: td %s", c->name,
		       b->td);
	}
	bundle__free(b);
	free(json);
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

/* ---- writing ------------------------------------------------------------ */

static struct bundle *bundle_of(X509 *const *cas, size_t n)
{
	struct nt_err err;
	struct bundle *b;
	size_t i;

	if (bundle__new(&b, "example.org", &err))
		die(err.msg);
	for (i = 0; i < n; i++)
		if (bundle__add_authority(b, cas[i], &err) != 1)
			die(err.msg);
	return b;
}

static void test_round_trip(void)
{
	struct bundle *a, *b = NULL, *c = NULL;
	struct nt_err err = { "" };
	char *j1 = NULL, *j2 = NULL, *j3 = NULL;
	X509 *cas[3];

	fixture();
	cas[0] = fx.ca256;
	cas[1] = fx.ca384;
	cas[2] = fx.carsa;
	a = bundle_of(cas, 3);
	a->has_sequence = true;
	a->sequence = 9007199254740991ULL;
	a->has_refresh_hint = true;
	a->refresh_hint = BUNDLE_REFRESH_HINT;

	CHECK(!bundle__to_json(a, true, &j1, &err));
	CHECK(j1 && !bundle__parse(&b, "example.org", j1, strlen(j1), &err));
	CHECKF(b, "pretty json did not parse: %s", err.msg);
	if (!b)
		goto out;
	CHECK(bundle__same_authorities(a, b));
	CHECK(b->has_sequence && b->sequence == a->sequence);
	CHECK(b->has_refresh_hint && b->refresh_hint == BUNDLE_REFRESH_HINT);
	CHECK(b->ignored_keys == 0);
	CHECK(!strcmp(b->td, "example.org"));

	/* Order kept, and writing is stable: parse(write(x)) writes the same. */
	CHECK(!X509_cmp(sk_X509_value(b->x509_authorities, 0), fx.ca256));
	CHECK(!X509_cmp(sk_X509_value(b->x509_authorities, 2), fx.carsa));
	CHECK(!bundle__to_json(a, false, &j2, &err));
	CHECK(!bundle__parse(&c, "example.org", j2, strlen(j2), &err));
	CHECK(!bundle__to_json(c, false, &j3, &err));
	CHECK(j2 && j3 && !strcmp(j2, j3));
	CHECK(bundle__same_authorities(b, c));
out:
	bundle__free(a);
	bundle__free(b);
	bundle__free(c);
	free(j1);
	free(j2);
	free(j3);
}

/* The exact JWK we publish, member order included, with values computed
 * independently by the fixture. */
static void test_to_json_exact(void)
{
	struct nt_err err = { "" };
	char *json = NULL, *want;
	struct bundle *b;
	X509 *cas[2];

	fixture();
	cas[0] = fx.ca256;
	cas[1] = fx.carsa;
	b = bundle_of(cas, 2);
	CHECK(!bundle__to_json(b, false, &json, &err));
	want = expand(KEYS(E256 "," ERSA));
	CHECKF(json && !strcmp(json, want), "got  %s\nwant %s", json, want);
	free(json);
	free(want);

	b->has_sequence = true;
	b->sequence = 42;
	b->has_refresh_hint = true;
	b->refresh_hint = 300;
	json = NULL;
	CHECK(!bundle__to_json(b, false, &json, &err));
	want = expand("{\"keys\":[" E256 "," ERSA "],\"spiffe_sequence\":42,"
		      "\"spiffe_refresh_hint\":300}");
	CHECKF(json && !strcmp(json, want), "got  %s\nwant %s", json, want);
	free(json);
	free(want);
	bundle__free(b);
}

static void test_add_authority(void)
{
	struct nt_err err = { "" };
	struct bundle *b;

	fixture();
	CHECK(!bundle__new(&b, "example.org", &err));
	CHECK(bundle__add_authority(b, fx.ca256, &err) == 1);
	CHECK(bundle__add_authority(b, fx.ca256, &err) == 0);
	CHECK(bundle__add_authority(b, fx.leaf256, &err) == -EINVAL);
	CHECKF(strstr(err.msg, "not a CA"), "%s", err.msg);
	CHECK(bundle__add_authority(b, fx.v1_256, &err) == -EINVAL);
	/* A JWK of ours can describe EC and RSA keys only. */
	CHECK(bundle__add_authority(b, fx.caed, &err) == -EINVAL);
	CHECKF(strstr(err.msg, "not EC"), "%s", err.msg);
	CHECK(sk_X509_num(b->x509_authorities) == 1);
	bundle__free(b);
}

static void test_same_authorities(void)
{
	X509 *ab[2], *ba[2];
	struct bundle *x, *y, *z, *e1, *e2;

	fixture();
	ab[0] = ba[1] = fx.ca256;
	ab[1] = ba[0] = fx.ca384;
	x = bundle_of(ab, 2);
	y = bundle_of(ba, 2);
	z = bundle_of(ab, 1);
	e1 = bundle_of(NULL, 0);
	e2 = bundle_of(NULL, 0);
	x->sequence = 1;	/* metadata is not part of the comparison */
	CHECK(bundle__same_authorities(x, y));
	CHECK(bundle__same_authorities(y, x));
	CHECK(!bundle__same_authorities(x, z));
	CHECK(!bundle__same_authorities(z, x));
	CHECK(!bundle__same_authorities(z, e1));
	CHECK(bundle__same_authorities(e1, e2));
	CHECK(!bundle__same_authorities(e1, NULL));
	bundle__free(x);
	bundle__free(y);
	bundle__free(z);
	bundle__free(e1);
	bundle__free(e2);
}

/* ---- sets --------------------------------------------------------------- */

static struct bundle *empty_bundle(const char *td)
{
	struct nt_err err;
	struct bundle *b;

	if (bundle__new(&b, td, &err))
		die(err.msg);
	return b;
}

static void test_bundle_set(void)
{
	struct nt_err err = { "" };
	struct bundle_set *set;
	struct bundle *dup;

	CHECK(!bundle_set__new(&set));
	CHECK(!bundle_set__add(set, empty_bundle("example.org"), &err));
	CHECK(!bundle_set__add(set, empty_bundle("partner.net"), &err));
	CHECK(bundle_set__count(set) == 2);

	CHECK(bundle_set__find(set, "example.org", 11) == bundle_set__at(set, 0));
	CHECK(bundle_set__find(set, "partner.net", 11) == bundle_set__at(set, 1));
	/* Exact bytes and length only: no prefix, no case folding, no
	 * fallback to some other trust domain. */
	CHECK(!bundle_set__find(set, "other.org", 9));
	CHECK(!bundle_set__find(set, "example.or", 10));
	CHECK(!bundle_set__find(set, "example.org.", 12));
	CHECK(!bundle_set__find(set, "example.org\0", 12));
	CHECK(!bundle_set__find(set, "EXAMPLE.ORG", 11));
	CHECK(!bundle_set__find(set, "", 0));
	CHECK(!bundle_set__at(set, 2));

	/* Never merged: a second bundle for a trust domain is refused and
	 * stays the caller's. */
	dup = empty_bundle("example.org");
	CHECK(bundle_set__add(set, dup, &err) == -EEXIST);
	CHECKF(strstr(err.msg, "example.org"), "%s", err.msg);
	CHECK(bundle_set__count(set) == 2);
	bundle__free(dup);
	bundle_set__free(set);
	CHECK(bundle_set__count(NULL) == 0);
	CHECK(!bundle_set__find(NULL, "example.org", 11));
}

/* ---- the trust store of a state dir ------------------------------------- */

static void write_file(const char *dir, const char *name, const char *data)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f || fputs(data, f) < 0 || fclose(f))
		die(path);
}

/* A state dir with a CA for example.org and its bundle; @fed, when given,
 * becomes bundles/partner.net.json. */
static const char *make_state(const char *name, const char *fed)
{
	static char dir[512];
	char sub[600];
	struct nt_err err = { "" };
	struct bundle *b;
	X509 *ca = fx.ca256;

	snprintf(dir, sizeof(dir), "%s/%s", t_tmpdir(), name);
	snprintf(sub, sizeof(sub), "%s/ca", dir);
	if (mkdir(dir, 0700) || mkdir(sub, 0700))
		die("mkdir");
	snprintf(sub, sizeof(sub), "%s/bundles", dir);
	if (mkdir(sub, 0700))
		die("mkdir");
	/* Keys other than trust_domain belong to the CA code: ignored. */
	write_file(dir, "ca/ca.json",
		   "{\"version\":1,\"trust_domain\":\"example.org\","
		   "\"svid_ttl\":3600}");
	b = bundle_of(&ca, 1);
	b->has_sequence = true;
	b->sequence = 3;
	snprintf(sub, sizeof(sub), "%s/bundle.json", dir);
	if (bundle__save(b, sub, &err))
		die(err.msg);
	bundle__free(b);
	if (fed)
		write_file(dir, "bundles/partner.net.json", fed);
	return dir;
}

static void test_trust_load(void)
{
	struct nt_err err = { "" };
	struct bundle_set *set = NULL;
	const struct bundle *loc, *fed;
	char *fed_json = expand(KEYS(E384 "," ERSA));
	const char *dir;

	fixture();
	dir = make_state("trust_ok", fed_json);
	/* Skipped without error: not .json, hidden (a temp file), not a
	 * valid trust domain. */
	write_file(dir, "bundles/README", "not a bundle");
	write_file(dir, "bundles/.partner.org.json", "{");
	write_file(dir, "bundles/partner.org.json.tmp.123", "{");
	write_file(dir, "bundles/Partner.Org.json", "{");
	write_file(dir, "bundles/bad%20td.json", "{");

	CHECKF(!trust__load(dir, &set, &err), "%s", err.msg);
	if (!set)
		goto out;
	CHECK(bundle_set__count(set) == 2);
	loc = bundle_set__find(set, "example.org", 11);
	fed = bundle_set__find(set, "partner.net", 11);
	CHECK(loc && sk_X509_num(loc->x509_authorities) == 1);
	CHECK(loc && loc->has_sequence && loc->sequence == 3);
	CHECK(fed && sk_X509_num(fed->x509_authorities) == 2);
	CHECK(fed && !X509_cmp(sk_X509_value(fed->x509_authorities, 0),
			       fx.ca384));
	CHECK(!bundle_set__find(set, "Partner.Org", 11));
out:
	bundle_set__free(set);
	free(fed_json);
}

static void test_trust_load_no_federation(void)
{
	struct nt_err err = { "" };
	struct bundle_set *set = NULL;
	char path[600];
	const char *dir;

	fixture();
	dir = make_state("trust_alone", NULL);
	snprintf(path, sizeof(path), "%s/bundles", dir);
	CHECK(!rmdir(path));
	CHECKF(!trust__load(dir, &set, &err), "%s", err.msg);
	CHECK(bundle_set__count(set) == 1);
	bundle_set__free(set);
}

struct trust_fail_case {
	const char *name;
	const char *fed_name;		/* under bundles/ */
	const char *fed_json;
	int ret;
	const char *msg;
};

static const struct trust_fail_case trust_fail_cases[] = {
	{ "corrupt federated bundle", "evil.org.json", "{\"keys\":[",
	  -EINVAL, "/bundles/evil.org.json: bundle: invalid json" },
	{ "federated bundle with a bad entry", "evil.org.json",
	  KEYS(E256_X5C("[\"@LEAF256@\"]")),
	  -EINVAL, "/bundles/evil.org.json: keys[0]: certificate is not a CA" },
	{ "federated bundle for the local trust domain", "example.org.json",
	  KEYS(E384), -EEXIST, "/bundles/example.org.json: a bundle for trust domain example.org" },
	{ "empty federated file", "evil.org.json", "",
	  -EINVAL, "evil.org.json: bundle: invalid json" },
};

static void test_trust_load_fails_closed(void)
{
	const struct trust_fail_case *c;
	struct nt_err err = { "" };
	struct bundle_set *set;
	char name[32], *json;
	const char *dir;
	size_t i;
	int ret;

	fixture();
	for (i = 0; i < sizeof(trust_fail_cases) / sizeof(trust_fail_cases[0]);
	     i++) {
		c = &trust_fail_cases[i];
		snprintf(name, sizeof(name), "trust_fail_%zu", i);
		dir = make_state(name, NULL);
		json = expand(c->fed_json);
		snprintf(name, sizeof(name), "bundles/%s", c->fed_name);
		write_file(dir, name, json);
		free(json);
		set = NULL;
		ret = trust__load(dir, &set, &err);
		CHECKF(ret == c->ret, "%s: returned %d, want %d (%s)", c->name,
		       ret, c->ret, err.msg);
		CHECKF(!set, "%s: set returned on failure", c->name);
		CHECKF(strstr(err.msg, c->msg), "%s: message \"%s\" lacks \"%s\"",
		       c->name, err.msg, c->msg);
	}
}

static void test_trust_load_local_problems(void)
{
	struct nt_err err = { "" };
	struct bundle_set *set = NULL;
	char path[600];
	const char *dir;

	fixture();
	dir = make_state("trust_no_bundle", NULL);
	snprintf(path, sizeof(path), "%s/bundle.json", dir);
	CHECK(!unlink(path));
	CHECK(trust__load(dir, &set, &err) == -ENOENT);
	CHECKF(strstr(err.msg, "bundle.json"), "%s", err.msg);

	dir = make_state("trust_no_ca", NULL);
	snprintf(path, sizeof(path), "%s/ca/ca.json", dir);
	CHECK(!unlink(path));
	CHECK(trust__load(dir, &set, &err) == -ENOENT);
	CHECKF(strstr(err.msg, "ca init"), "%s", err.msg);

	dir = make_state("trust_bad_td", NULL);
	write_file(dir, "ca/ca.json", "{\"trust_domain\":\"Example.ORG\"}");
	CHECK(trust__load(dir, &set, &err) == -EINVAL);
	CHECKF(strstr(err.msg, "ca.json"), "%s", err.msg);

	dir = make_state("trust_dup_td", NULL);
	write_file(dir, "ca/ca.json", "{\"trust_domain\":\"a.org\","
		   "\"trust_domain\":\"example.org\"}");
	CHECK(trust__load(dir, &set, &err) == -EINVAL);
	CHECKF(strstr(err.msg, "duplicate"), "%s", err.msg);
	CHECK(!set);
}

/* bundle__save writes what bundle__load reads. */
static void test_save_load(void)
{
	struct bundle *a, *b = NULL;
	struct nt_err err = { "" };
	char path[512];
	X509 *cas[2];

	fixture();
	cas[0] = fx.ca384;
	cas[1] = fx.ca256;
	a = bundle_of(cas, 2);
	a->has_refresh_hint = true;
	a->refresh_hint = 60;
	snprintf(path, sizeof(path), "%s/saved.json", t_tmpdir());
	CHECKF(!bundle__save(a, path, &err), "%s", err.msg);
	CHECKF(!bundle__load(&b, "example.org", path, &err), "%s", err.msg);
	CHECK(b && bundle__same_authorities(a, b));
	CHECK(b && !b->has_sequence && b->refresh_hint == 60);
	bundle__free(a);
	bundle__free(b);
	b = NULL;
	snprintf(path, sizeof(path), "%s/missing.json", t_tmpdir());
	CHECK(bundle__load(&b, "example.org", path, &err) == -ENOENT);
	CHECK(!b);
}

T_MAIN("bundle",
       T(test_parse_table),
       T(test_parse_numbers_kept),
       T(test_parse_nul_byte),
       T(test_parse_bad_trust_domain),
       T(test_parse_huge),
       T(test_parse_deep_nesting),
       T(test_round_trip),
       T(test_to_json_exact),
       T(test_add_authority),
       T(test_same_authorities),
       T(test_bundle_set),
       T(test_trust_load),
       T(test_trust_load_no_federation),
       T(test_trust_load_fails_closed),
       T(test_trust_load_local_problems),
       T(test_save_load));
