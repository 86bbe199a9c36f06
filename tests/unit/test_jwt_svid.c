// SPDX-License-Identifier: Apache-2.0
/*
 * JWT-SVIDs: validation (table-driven, over tokens built byte by byte in
 * fixture_jwt.h), minting, and both against independent implementations
 * (python3's cryptography and node's crypto, in tests/unit/jwt_interop.*).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "ca/ca.h"
#include "tests/unit/fixture_jwt.h"
#include "tests/unit/harness.h"

#define HDR(alg, kid)	"{\"alg\":\"" alg "\",\"kid\":\"" kid "\",\"typ\":\"JWT\"}"
#define H256		HDR("ES256", "k256")
#define SUB		"\"sub\":\"spiffe://example.org/web\""
#define TIMES		"\"exp\":1750000300,\"iat\":1750000000"
#define PAY(...)	"{" __VA_ARGS__ "}"
#define P_OK		PAY(SUB ",\"aud\":\"db\"," TIMES)

enum key { K256, K384, K521, KRSA, KOTHER };

struct val_case {
	const char *name;
	const char *header;
	const char *payload;
	enum jsig how;
	enum key key;
	time_t now;			/* 0: JT0 */
	int ret;
	const char *msg;
};

static const struct val_case val_cases[] = {
	/* accepted */
	{ "es256", H256, P_OK, JS_ES256, K256, 0, 0, NULL },
	{ "es384", HDR("ES384", "k384"), P_OK, JS_ES384, K384, 0, 0, NULL },
	{ "es512", HDR("ES512", "k521"), P_OK, JS_ES512, K521, 0, 0, NULL },
	{ "rs256", HDR("RS256", "krsa"), P_OK, JS_RS256, KRSA, 0, 0, NULL },
	{ "rs512", HDR("RS512", "krsa"), P_OK, JS_RS512, KRSA, 0, 0, NULL },
	{ "ps256", HDR("PS256", "krsa"), P_OK, JS_PS256, KRSA, 0, 0, NULL },
	{ "ps384", HDR("PS384", "krsa"), P_OK, JS_PS384, KRSA, 0, 0, NULL },
	{ "typ JOSE", "{\"alg\":\"ES256\",\"kid\":\"k256\",\"typ\":\"JOSE\"}",
	  P_OK, JS_ES256, K256, 0, 0, NULL },
	{ "no typ", "{\"kid\":\"k256\",\"alg\":\"ES256\"}", P_OK, JS_ES256,
	  K256, 0, 0, NULL },
	{ "aud array", H256, PAY(SUB ",\"aud\":[\"x\",\"db\"]," TIMES),
	  JS_ES256, K256, 0, 0, NULL },
	{ "other claims", H256, PAY(SUB ",\"aud\":\"db\"," TIMES
				    ",\"jti\":\"1\",\"x\":{\"y\":[null,true,1.5]}"),
	  JS_ES256, K256, 0, 0, NULL },
	{ "no iat", H256, PAY(SUB ",\"aud\":\"db\",\"exp\":1750000300"),
	  JS_ES256, K256, 0, 0, NULL },
	{ "fractional exp", H256, PAY(SUB ",\"aud\":\"db\",\"exp\":1750000300.5"),
	  JS_ES256, K256, 0, 0, NULL },
	{ "nbf passed", H256, PAY(SUB ",\"aud\":\"db\",\"nbf\":1750000000," TIMES),
	  JS_ES256, K256, 0, 0, NULL },
	{ "expired within the leeway", H256, P_OK, JS_ES256, K256, JT0 + 359,
	  0, NULL },
	{ "nbf within the leeway", H256,
	  PAY(SUB ",\"aud\":\"db\",\"nbf\":1750000060," TIMES), JS_ES256, K256,
	  0, 0, NULL },

	/* the algorithm */
	{ "alg none", "{\"alg\":\"none\",\"kid\":\"k256\"}", P_OK, JS_NONE, K256,
	  0, -EINVAL, "alg is not one of" },
	{ "alg HS256", HDR("HS256", "k256"), P_OK, JS_NONE, K256, 0, -EINVAL,
	  "alg is not one of" },
	{ "alg in lower case", HDR("es256", "k256"), P_OK, JS_ES256, K256, 0,
	  -EINVAL, "alg is not one of" },
	{ "alg missing", "{\"kid\":\"k256\"}", P_OK, JS_ES256, K256, 0, -EINVAL,
	  "\"alg\" is required" },
	{ "ES256 on an RSA key", HDR("ES256", "krsa"), P_OK, JS_RS256, KRSA, 0,
	  -EINVAL, "not on the curve alg names" },
	{ "ES256 on a P-384 key", HDR("ES256", "k384"), P_OK, JS_ES384, K384,
	  0, -EINVAL, "not on the curve alg names" },
	{ "PS256 on an EC key", HDR("PS256", "k256"), P_OK, JS_ES256, K256, 0,
	  -EINVAL, "alg names RSA but the key is not RSA" },
	{ "RS256 over a PSS signature", HDR("RS256", "krsa"), P_OK, JS_PS256,
	  KRSA, 0, -EINVAL, "signature does not verify" },
	{ "DER signature", H256, P_OK, JS_ES256_DER, K256, 0, -EINVAL,
	  "raw r||s" },

	/* the header */
	{ "kid missing", "{\"alg\":\"ES256\"}", P_OK, JS_ES256, K256, 0,
	  -EINVAL, "\"kid\" is required" },
	{ "kid empty", HDR("ES256", ""), P_OK, JS_ES256, K256, 0, -EINVAL,
	  "\"kid\" is required" },
	{ "kid unknown", HDR("ES256", "nope"), P_OK, JS_ES256, K256, 0, -EINVAL,
	  "no jwt-svid key with this kid" },
	{ "kid of another trust domain", HDR("ES256", "ko"), P_OK, JS_ES256,
	  KOTHER, 0, -EINVAL, "bundle of example.org has no jwt-svid key" },
	{ "jku header", "{\"alg\":\"ES256\",\"kid\":\"k256\",\"jku\":\"https://x\"}",
	  P_OK, JS_ES256, K256, 0, -EINVAL, "unknown key \"jku\"" },
	{ "crit header", "{\"alg\":\"ES256\",\"kid\":\"k256\",\"crit\":[\"b64\"],\"b64\":false}",
	  P_OK, JS_ES256, K256, 0, -EINVAL, "unknown key" },
	{ "embedded jwk", "{\"alg\":\"ES256\",\"kid\":\"k256\",\"jwk\":{}}",
	  P_OK, JS_ES256, K256, 0, -EINVAL, "unknown key \"jwk\"" },
	{ "typ other", "{\"alg\":\"ES256\",\"kid\":\"k256\",\"typ\":\"at+jwt\"}",
	  P_OK, JS_ES256, K256, 0, -EINVAL, "typ, when set" },
	{ "typ a number", "{\"alg\":\"ES256\",\"kid\":\"k256\",\"typ\":1}",
	  P_OK, JS_ES256, K256, 0, -EINVAL, "typ, when set" },
	{ "duplicate alg", "{\"alg\":\"ES256\",\"alg\":\"none\",\"kid\":\"k256\"}",
	  P_OK, JS_ES256, K256, 0, -EINVAL, "duplicate json key \"alg\"" },
	{ "header an array", "[1]", P_OK, JS_ES256, K256, 0, -EINVAL,
	  "not a JSON object" },
	{ "header not json", "{alg:ES256}", P_OK, JS_ES256, K256, 0, -EINVAL,
	  "jwt header: invalid json" },

	/* the subject */
	{ "sub missing", H256, PAY("\"aud\":\"db\"," TIMES), JS_ES256, K256, 0,
	  -EINVAL, "\"sub\" is required" },
	{ "sub not spiffe", H256, PAY("\"sub\":\"https://example.org/web\",\"aud\":\"db\"," TIMES),
	  JS_ES256, K256, 0, -EINVAL, "jwt: sub" },
	{ "sub the trust domain", H256, PAY("\"sub\":\"spiffe://example.org\",\"aud\":\"db\"," TIMES),
	  JS_ES256, K256, 0, -EINVAL, "sub is a trust domain" },
	{ "sub of another trust domain, its key", HDR("ES256", "ko"),
	  PAY("\"sub\":\"spiffe://other.org/web\",\"aud\":\"db\"," TIMES),
	  JS_ES256, KOTHER, 0, 0, NULL },
	{ "sub of another trust domain, our key", H256,
	  PAY("\"sub\":\"spiffe://other.org/web\",\"aud\":\"db\"," TIMES),
	  JS_ES256, K256, 0, -EINVAL, "bundle of other.org has no jwt-svid key" },
	{ "sub with no bundle", H256,
	  PAY("\"sub\":\"spiffe://third.org/web\",\"aud\":\"db\"," TIMES),
	  JS_ES256, K256, 0, -EINVAL, "no trust bundle for trust domain third.org" },
	{ "duplicate sub", H256,
	  PAY(SUB ",\"sub\":\"spiffe://example.org/admin\",\"aud\":\"db\"," TIMES),
	  JS_ES256, K256, 0, -EINVAL, "duplicate json key \"sub\"" },

	/* the audience */
	{ "aud missing", H256, PAY(SUB "," TIMES), JS_ES256, K256, 0, -EINVAL,
	  "\"aud\" is required" },
	{ "aud empty array", H256, PAY(SUB ",\"aud\":[]," TIMES), JS_ES256,
	  K256, 0, -EINVAL, "\"aud\" is required" },
	{ "aud a number", H256, PAY(SUB ",\"aud\":1," TIMES), JS_ES256, K256, 0,
	  -EINVAL, "\"aud\" is required" },
	{ "aud array with a number", H256, PAY(SUB ",\"aud\":[\"db\",1]," TIMES),
	  JS_ES256, K256, 0, -EINVAL, "every aud value must be a string" },
	{ "aud another", H256, PAY(SUB ",\"aud\":\"dba\"," TIMES), JS_ES256,
	  K256, 0, -EINVAL, "not in aud" },
	{ "aud case differs", H256, PAY(SUB ",\"aud\":[\"DB\"]," TIMES),
	  JS_ES256, K256, 0, -EINVAL, "not in aud" },

	/* times */
	{ "exp missing", H256, PAY(SUB ",\"aud\":\"db\",\"iat\":1750000000"),
	  JS_ES256, K256, 0, -EINVAL, "\"exp\" is required" },
	{ "exp a string", H256, PAY(SUB ",\"aud\":\"db\",\"exp\":\"1750000300\""),
	  JS_ES256, K256, 0, -EINVAL, "\"exp\" is required" },
	{ "exp infinite", H256, PAY(SUB ",\"aud\":\"db\",\"exp\":1e400"),
	  JS_ES256, K256, 0, -EINVAL, "\"exp\" is required" },
	{ "exp negative", H256, PAY(SUB ",\"aud\":\"db\",\"exp\":-1"),
	  JS_ES256, K256, 0, -EINVAL, "\"exp\" is required" },
	{ "expired", H256, P_OK, JS_ES256, K256, JT0 + 360, -EINVAL,
	  "has expired" },
	{ "nbf ahead", H256, PAY(SUB ",\"aud\":\"db\",\"nbf\":1750000061," TIMES),
	  JS_ES256, K256, 0, -EINVAL, "not valid yet" },
	{ "nbf a string", H256, PAY(SUB ",\"aud\":\"db\",\"nbf\":\"0\"," TIMES),
	  JS_ES256, K256, 0, -EINVAL, "claim \"nbf\" must be" },
	{ "iat in the future", H256,
	  PAY(SUB ",\"aud\":\"db\",\"exp\":1750000300,\"iat\":1750000061"),
	  JS_ES256, K256, 0, -EINVAL, "issued in the future" },
};

static EVP_PKEY *key_of(enum key k)
{
	EVP_PKEY *keys[] = { jf.k256, jf.k384, jf.k521, jf.krsa, jf.other };

	return keys[k];
}

static int validate_at(const char *tok, size_t len, const char *aud,
		       time_t now, struct jwt_svid **out, struct nt_err *err)
{
	struct jwt_verify_opts o = { .now = now ? now : JT0,
				     .leeway = JWT_SVID_LEEWAY };

	return jwt_svid__validate(tok, len, aud, jf.set, &o, out, err);
}

static void check_val_case(const struct val_case *c)
{
	char *tok = jtoken(c->header, c->payload, c->how, key_of(c->key));
	struct nt_err err = { "" };
	struct jwt_svid *s = NULL;
	int ret;

	/* The DER case signs like ES256 and keeps OpenSSL's encoding. */
	ret = validate_at(tok, strlen(tok), "db", c->now, &s, &err);
	CHECKF(ret == c->ret, "%s: returned %d, want %d (%s)", c->name, ret,
	       c->ret, err.msg);
	if (c->ret) {
		CHECKF(!s, "%s: result set on failure", c->name);
		CHECKF(c->msg && strstr(err.msg, c->msg),
		       "%s: message \"%s\" lacks \"%s\"", c->name, err.msg,
		       c->msg);
	} else if (s) {
		CHECKF(s->expiry == 1750000300, "%s: expiry %lld", c->name,
		       (long long)s->expiry);
		CHECKF(cJSON_IsObject(s->claims), "%s: claims", c->name);
		CHECKF(strstr(s->id.str, "/web"), "%s: id %s", c->name,
		       s->id.str);
	}
	jwt_svid__free(s);
	free(tok);
}

static void test_validate_table(void)
{
	size_t i;

	jwt_fixture();
	for (i = 0; i < sizeof(val_cases) / sizeof(val_cases[0]); i++)
		check_val_case(&val_cases[i]);
}

/* The compact serialization itself, around a valid token. */
static void test_validate_shape(void)
{
	char *tok, *bad = NULL;
	struct nt_err err = { "" };
	struct jwt_svid *s = NULL;
	size_t len, d2;

	jwt_fixture();
	tok = jtoken(H256, P_OK, JS_ES256, jf.k256);
	len = strlen(tok);
	d2 = (size_t)(strrchr(tok, '.') - tok);
	CHECK(validate_at(tok, len, "db", 0, &s, &err) == 0);
	jwt_svid__free(s);
	s = NULL;
	/* Cut, extended, padded, spaced, NUL inside, signature flipped. */
	CHECK(validate_at(tok, d2, "db", 0, &s, &err) == -EINVAL);
	CHECK(validate_at(tok, d2 + 1, "db", 0, &s, &err) == -EINVAL);
	CHECK(strstr(err.msg, "three non-empty parts"));
	CHECK(asprintf(&bad, "%s.AA", tok) > 0);
	CHECK(validate_at(bad, strlen(bad), "db", 0, &s, &err) == -EINVAL);
	free(bad);
	CHECK(asprintf(&bad, "%s=", tok) > 0);
	CHECK(validate_at(bad, strlen(bad), "db", 0, &s, &err) == -EINVAL);
	CHECK(strstr(err.msg, "signature is not base64url"));
	free(bad);
	CHECK(asprintf(&bad, " %s", tok) > 0);
	CHECK(validate_at(bad, strlen(bad), "db", 0, &s, &err) == -EINVAL);
	free(bad);
	bad = strdup(tok);
	bad[d2 + 10] = bad[d2 + 10] == 'A' ? 'B' : 'A';
	CHECK(validate_at(bad, len, "db", 0, &s, &err) == -EINVAL);
	CHECKF(strstr(err.msg, "signature does not verify"), "%s", err.msg);
	/* The payload changed after signing. */
	memcpy(bad, tok, len);
	bad[d2 - 3] = bad[d2 - 3] == 'A' ? 'Q' : 'A';
	CHECK(validate_at(bad, len, "db", 0, &s, &err) == -EINVAL);
	bad[5] = '\0';
	CHECK(validate_at(bad, len, "db", 0, &s, &err) == -EINVAL);
	CHECK(strstr(err.msg, "no NUL"));
	free(bad);
	CHECK(validate_at(tok, len, "", 0, &s, &err) == -EINVAL);
	CHECK(validate_at(tok, 0, "db", 0, &s, &err) == -EINVAL);
	CHECK(validate_at(tok, JWT_TOKEN_MAX + 1, "db", 0, &s, &err) == -EINVAL);
	CHECK(!s);
	free(tok);
}

/* ---- minting ---------------------------------------------------------------- */

static struct jwt_signer signer_of(EVP_PKEY *k, const char *kid)
{
	struct jwt_signer sg = { .key = k, .not_after = JT0 + 3600 };

	snprintf(sg.kid, sizeof(sg.kid), "%s", kid);
	return sg;
}

static void id_of(struct spiffe_id *id, const char *s)
{
	struct nt_err err;

	if (spiffe_id__parse(id, s, strlen(s), &err))
		jdie(err.msg);
}

/* Decodes one part of a token into a cJSON tree, independently. */
static cJSON *part(const char *tok, int which)
{
	char buf[4096];
	const char *p = tok, *e;
	unsigned char raw[4096];
	int n, i;
	cJSON *j;

	for (i = 0; i < which; i++)
		p = strchr(p, '.') + 1;
	e = strchr(p, '.');
	n = e ? (int)(e - p) : (int)strlen(p);
	snprintf(buf, sizeof(buf), "%.*s", n, p);
	for (i = 0; buf[i]; i++)
		buf[i] = buf[i] == '-' ? '+' : buf[i] == '_' ? '/' : buf[i];
	while (n % 4)
		buf[n++] = '=';
	buf[n] = '\0';
	n = EVP_DecodeBlock(raw, (unsigned char *)buf, n);
	if (n < 0)
		return NULL;
	while (n > 0 && !raw[n - 1])
		n--;		/* EVP_DecodeBlock counts padding as zeros */
	raw[n] = '\0';
	j = cJSON_Parse((char *)raw);
	return j;
}

static void test_mint(void)
{
	const char *aud1[] = { "db" }, *aud2[] = { "db", "spiffe://example.org/x" };
	struct jwt_signer sg;
	struct nt_err err = { "" };
	struct jwt_svid *s = NULL;
	struct spiffe_id id;
	char *tok = NULL;
	int64_t exp = 0;
	cJSON *h, *c;

	jwt_fixture();
	sg = signer_of(jf.k256, "k256");
	id_of(&id, "spiffe://example.org/web");
	CHECK(!jwt_svid__mint(&sg, &id, aud1, 1, 0, JT0, &tok, &exp, &err));
	CHECK(exp == JT0 + JWT_SVID_TTL_DEFAULT);
	h = tok ? part(tok, 0) : NULL;
	c = tok ? part(tok, 1) : NULL;
	CHECK(h && cJSON_GetArraySize(h) == 3);
	CHECK(h && !strcmp(cJSON_GetObjectItem(h, "alg")->valuestring, "ES256"));
	CHECK(h && !strcmp(cJSON_GetObjectItem(h, "kid")->valuestring, "k256"));
	CHECK(h && !strcmp(cJSON_GetObjectItem(h, "typ")->valuestring, "JWT"));
	CHECK(c && cJSON_GetArraySize(c) == 4);
	CHECK(c && !strcmp(cJSON_GetObjectItem(c, "sub")->valuestring, id.str));
	CHECK(c && cJSON_IsString(cJSON_GetObjectItem(c, "aud")));
	CHECK(c && cJSON_GetObjectItem(c, "exp")->valuedouble == JT0 + 300);
	CHECK(c && cJSON_GetObjectItem(c, "iat")->valuedouble == JT0);
	/* 64 raw bytes: 86 base64url characters. */
	CHECK(tok && strlen(strrchr(tok, '.') + 1) == 86);
	CHECK(tok && !validate_at(tok, strlen(tok), "db", 0, &s, &err));
	CHECK(s && spiffe_id__equal(&s->id, &id) && !strcmp(s->kid, "k256"));
	cJSON_Delete(h);
	cJSON_Delete(c);
	jwt_svid__free(s);
	s = NULL;
	free(tok);
	tok = NULL;

	/* Two audiences: an array; a ttl past the key's end is cut there. */
	CHECK(!jwt_svid__mint(&sg, &id, aud2, 2, 7200, JT0, &tok, &exp, &err));
	CHECK(exp == JT0 + 3600);
	c = tok ? part(tok, 1) : NULL;
	CHECK(c && cJSON_GetArraySize(cJSON_GetObjectItem(c, "aud")) == 2);
	CHECK(tok && !validate_at(tok, strlen(tok), "spiffe://example.org/x", 0,
				  &s, &err));
	cJSON_Delete(c);
	jwt_svid__free(s);
	free(tok);
}

static void test_mint_refused(void)
{
	const char *aud[JWT_AUD_MAX + 1], *one[1];
	char long_aud[JWT_AUD_LEN_MAX + 2];
	struct jwt_signer sg, s384;
	struct nt_err err = { "" };
	struct spiffe_id id, root;
	char *tok = NULL;
	size_t i;

	jwt_fixture();
	sg = signer_of(jf.k256, "k256");
	s384 = signer_of(jf.k384, "k384");
	id_of(&id, "spiffe://example.org/web");
	id_of(&root, "spiffe://example.org");
	for (i = 0; i <= JWT_AUD_MAX; i++)
		aud[i] = "a";
	memset(long_aud, 'a', sizeof(long_aud) - 1);
	long_aud[sizeof(long_aud) - 1] = '\0';
	one[0] = "db";
	CHECK(jwt_svid__mint(&sg, &id, aud, 0, 0, JT0, &tok, NULL, &err) == -EINVAL);
	CHECK(jwt_svid__mint(&sg, &id, aud, JWT_AUD_MAX + 1, 0, JT0, &tok, NULL,
			     &err) == -EINVAL);
	CHECK(jwt_svid__mint(&sg, &id, aud, JWT_AUD_MAX, 0, JT0, &tok, NULL,
			     &err) == 0);
	free(tok);
	tok = NULL;
	const char *bad_aud[][1] = { { "" }, { long_aud }, { "\xc3" },
				     { "\xc0\xaf" }, { "\xed\xa0\x80" },
				     { "\xf4\x90\x80\x80" } };
	for (i = 0; i < sizeof(bad_aud) / sizeof(bad_aud[0]); i++)
		CHECKF(jwt_svid__mint(&sg, &id, bad_aud[i], 1, 0, JT0, &tok,
				      NULL, &err) == -EINVAL, "bad aud %zu", i);
	CHECK(jwt_svid__mint(&sg, &root, one, 1, 0, JT0, &tok, NULL, &err) ==
	      -EINVAL);
	CHECK(strstr(err.msg, "needs a path"));
	CHECK(jwt_svid__mint(&s384, &id, one, 1, 0, JT0, &tok, NULL, &err) ==
	      -EINVAL);
	CHECK(jwt_svid__mint(&sg, &id, one, 1, -1, JT0, &tok, NULL, &err) ==
	      -ERANGE);
	CHECK(jwt_svid__mint(&sg, &id, one, 1, 0, JT0 + 3600, &tok, NULL,
			     &err) == -EKEYEXPIRED);
	sg.kid[0] = '\0';
	CHECK(jwt_svid__mint(&sg, &id, one, 1, 0, JT0, &tok, NULL, &err) ==
	      -EINVAL);
	CHECK(!tok);
	/* UTF-8 beyond ASCII is fine. */
	one[0] = "caf\xc3\xa9 \xf0\x9f\x94\x91";
	sg = signer_of(jf.k256, "k256");
	CHECK(jwt_svid__mint(&sg, &id, one, 1, 0, JT0, &tok, NULL, &err) == 0);
	free(tok);
}

/* ---- against independent implementations ------------------------------------ */

/* Runs @argv, returns its exit status and up to @size - 1 bytes of its
 * stdout in @out. */
static int run(char *const argv[], char *out, size_t size)
{
	int pfd[2], status = -1;
	size_t used = 0;
	ssize_t n;
	pid_t pid;

	if (pipe(pfd))
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(pfd[1], 1);
		close(pfd[0]);
		close(pfd[1]);
		execv(argv[0], argv);
		_exit(127);
	}
	close(pfd[1]);
	while (pid > 0 && (n = read(pfd[0], out + used, size - 1 - used)) > 0)
		used += (size_t)n;
	out[used] = '\0';
	close(pfd[0]);
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static const char *node_path(void)
{
	return access("/usr/bin/node", X_OK) ? "/usr/local/bin/node" :
					       "/usr/bin/node";
}

/* Ours signs; python3's cryptography and node's crypto verify, with the
 * JWK Set bundle__jwks_json writes. */
static void test_interop_verify(void)
{
	const char *aud[] = { "db" };
	char jwks_path[512], out[4096], *jwks = NULL, *tok = NULL;
	struct jwt_signer sg;
	struct nt_err err = { "" };
	struct bundle *b = NULL;
	struct spiffe_id id;
	FILE *f;

	jwt_fixture();
	sg = signer_of(jf.k256, "k256");
	sg.not_after = time(NULL) + 3600;
	id_of(&id, "spiffe://example.org/web");
	CHECK(!jwt_svid__mint(&sg, &id, aud, 1, 0, time(NULL), &tok, NULL, &err));
	CHECK(!bundle__new(&b, "example.org", &err) &&
	      bundle__add_jwt_authority(b, "k256", jf.k256, &err) == 1 &&
	      !bundle__jwks_json(b, &jwks, &err));
	snprintf(jwks_path, sizeof(jwks_path), "%s/jwks.json", t_tmpdir());
	f = fopen(jwks_path, "w");
	CHECK(f && jwks && fputs(jwks, f) >= 0 && !fclose(f));
	if (tok && jwks) {
		char *py[] = { "/usr/bin/python3", "tests/unit/jwt_interop.py",
			       "verify", jwks_path, tok, "db", NULL };
		char *js[] = { (char *)node_path(), "tests/unit/jwt_interop.js",
			       "verify", jwks_path, tok, "db", NULL };
		char *py_bad[] = { "/usr/bin/python3", "tests/unit/jwt_interop.py",
				   "verify", jwks_path, tok, "other", NULL };

		CHECKF(run(py, out, sizeof(out)) == 0, "python3: %s", out);
		CHECKF(strstr(out, "ok spiffe://example.org/web"), "python3: %s", out);
		CHECKF(run(js, out, sizeof(out)) == 0, "node: %s", out);
		CHECKF(strstr(out, "ok spiffe://example.org/web"), "node: %s", out);
		CHECKF(run(py_bad, out, sizeof(out)) == 1, "python3 wrong aud: %s",
		       out);
	}
	bundle__free(b);
	free(jwks);
	free(tok);
}

/* python3 and node sign (their own keys, raw r||s); ours validates with
 * the JWK Set they print, parsed as a bundle. */
static void check_foreign(char *const argv[], const char *who)
{
	struct jwt_verify_opts o = { .leeway = 0 };
	struct nt_err err = { "" };
	struct bundle_set *set = NULL;
	struct jwt_svid *s = NULL;
	struct bundle *b = NULL;
	char out[8192], *nl;
	int ret;

	ret = run(argv, out, sizeof(out));
	o.now = time(NULL);	/* after it signed: no leeway is needed */
	nl = strchr(out, '\n');
	CHECKF(ret == 0 && nl, "%s sign: %d %s", who, ret, out);
	if (ret || !nl)
		return;
	*nl = '\0';
	CHECK(!bundle_set__new(&set));
	ret = bundle__parse(&b, "example.org", out, strlen(out), &err);
	CHECKF(!ret, "%s jwks: %s", who, err.msg);
	if (!ret && !bundle_set__add(set, b, &err)) {
		ret = jwt_svid__validate(nl + 1, strcspn(nl + 1, "\n"), "db",
					 set, &o, &s, &err);
		CHECKF(!ret, "%s token: %s", who, err.msg);
		CHECKF(s && !strcmp(s->id.str, "spiffe://example.org/web"),
		       "%s: id", who);
	}
	jwt_svid__free(s);
	bundle_set__free(set);
}

static void test_interop_validate(void)
{
	char *py[] = { "/usr/bin/python3", "tests/unit/jwt_interop.py", "sign",
		       "spiffe://example.org/web", "db", NULL };
	char *js[] = { (char *)node_path(), "tests/unit/jwt_interop.js", "sign",
		       "spiffe://example.org/web", "db", NULL };

	check_foreign(py, "python3");
	check_foreign(js, "node");
}

T_MAIN("jwt_svid",
       T(test_validate_table),
       T(test_validate_shape),
       T(test_mint),
       T(test_mint_refused),
       T(test_interop_verify),
       T(test_interop_validate));
