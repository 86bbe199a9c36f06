// SPDX-License-Identifier: Apache-2.0
/*
 * JWT-SVIDs (spiffe/spiffe standards/JWT-SVID.md): minting with ES256 and
 * validation against the bundle of the subject's trust domain.
 *
 * JOSE's agility is where JWT libraries have gone wrong ("alg": "none",
 * HMAC with a public key as the secret, keys picked from the token
 * itself), so the validator takes nothing from the token but the names it
 * looks up: the algorithm must be one of JWT-SVID.md §2.1's and match the
 * type of the key the bundle holds under that kid; the key comes only from
 * the bundle of sub's trust domain. JWS signatures for ECDSA are the raw
 * r||s concatenation (RFC 7518 §3.4), not the DER OpenSSL speaks, so both
 * directions are converted here.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/rsa.h>

#include "ca/jwk_int.h"

#define JSON_INT_MAX	((double)((1ULL << 53) - 1))

enum alg_kind { ALG_EC, ALG_RSA, ALG_PSS };

static const struct jws_alg {
	const char *name;
	enum alg_kind kind;
	const char *md;
	size_t ec_size;			/* bytes of r and of s */
} algs[] = {
	{ "ES256", ALG_EC, "SHA256", 32 },
	{ "ES384", ALG_EC, "SHA384", 48 },
	{ "ES512", ALG_EC, "SHA512", 66 },
	{ "RS256", ALG_RSA, "SHA256", 0 },
	{ "RS384", ALG_RSA, "SHA384", 0 },
	{ "RS512", ALG_RSA, "SHA512", 0 },
	{ "PS256", ALG_PSS, "SHA256", 0 },
	{ "PS384", ALG_PSS, "SHA384", 0 },
	{ "PS512", ALG_PSS, "SHA512", 0 },
};

static const struct jws_alg *alg_find(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
		if (!strcmp(algs[i].name, name))
			return &algs[i];
	return NULL;
}

/* RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF. */
static bool utf8_valid(const unsigned char *s, size_t len)
{
	size_t i = 0, n, k;
	uint32_t cp;

	while (i < len) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if ((s[i] & 0xe0) == 0xc0)
			n = 1, cp = s[i] & 0x1f;
		else if ((s[i] & 0xf0) == 0xe0)
			n = 2, cp = s[i] & 0x0f;
		else if ((s[i] & 0xf8) == 0xf0)
			n = 3, cp = s[i] & 0x07;
		else
			return false;
		if (len - i <= n)
			return false;
		for (k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) ||
		    (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n + 1;
	}
	return true;
}

/* ---- signatures ----------------------------------------------------------- */

/* ES256 over @in: the DER signature OpenSSL makes, as raw r||s. */
static int es256_sign(EVP_PKEY *key, const char *in, size_t ilen,
		      unsigned char out[64], struct nt_err *err)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char der[80];
	const unsigned char *p = der;
	const BIGNUM *r, *s;
	ECDSA_SIG *sig = NULL;
	size_t dlen = sizeof(der);
	int ret = -EIO;

	if (!ctx || EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(ctx, der, &dlen, (const unsigned char *)in, ilen) != 1)
		goto out;
	sig = d2i_ECDSA_SIG(NULL, &p, (long)dlen);
	if (!sig)
		goto out;
	ECDSA_SIG_get0(sig, &r, &s);
	if (BN_bn2binpad(r, out, 32) != 32 || BN_bn2binpad(s, out + 32, 32) != 32)
		goto out;
	ret = 0;
out:
	if (ret)
		nt_err_ssl(err, ret, "failed to sign the JWT-SVID");
	ECDSA_SIG_free(sig);
	EVP_MD_CTX_free(ctx);
	return ret;
}

/* Raw r||s (2 * @size bytes) to the DER form EVP_DigestVerify takes. */
static int ecdsa_der(const unsigned char *raw, size_t size,
		     unsigned char **der, int *dlen)
{
	ECDSA_SIG *sig = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(raw, (int)size, NULL);
	BIGNUM *s = BN_bin2bn(raw + size, (int)size, NULL);
	int ret = -ENOMEM;

	if (!sig || !r || !s || ECDSA_SIG_set0(sig, r, s) != 1)
		goto out;
	r = s = NULL;		/* owned by sig now */
	*der = NULL;
	*dlen = i2d_ECDSA_SIG(sig, der);
	ret = *dlen > 0 ? 0 : -ENOMEM;
out:
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(sig);
	return ret;
}

/* 0 when the key can verify @alg; the reason otherwise. */
static const char *key_fits(const struct jws_alg *alg, EVP_PKEY *key)
{
	if (alg->kind == ALG_EC)
		return jwk__ec_size(key) == alg->ec_size ? NULL :
		       "the key is not on the curve alg names";
	if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA)
		return "alg names RSA but the key is not RSA";
	if (EVP_PKEY_get_bits(key) < JWK_RSA_BITS_MIN)
		return "the RSA key is shorter than 2048 bits";
	return NULL;
}

static int jws_verify(const struct jws_alg *alg, EVP_PKEY *key,
		      const char *in, size_t ilen, const unsigned char *sig,
		      size_t slen, struct nt_err *err)
{
	EVP_MD_CTX *ctx = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	unsigned char *der = NULL;
	const unsigned char *s = sig;
	const char *why = key_fits(alg, key);
	int dlen = (int)slen, ret;

	if (why)
		return nt_err_set(err, -EINVAL, "jwt: %s", why);
	if (alg->kind == ALG_EC && slen != 2 * alg->ec_size)
		return nt_err_set(err, -EINVAL,
				  "jwt: an %s signature is %zu bytes (raw r||s), not %zu",
				  alg->name, 2 * alg->ec_size, slen);
	if (alg->kind != ALG_EC && slen != (size_t)EVP_PKEY_get_size(key))
		return nt_err_set(err, -EINVAL,
				  "jwt: the signature is not as long as the RSA modulus");
	if (alg->kind == ALG_EC) {
		ret = ecdsa_der(sig, alg->ec_size, &der, &dlen);
		if (ret)
			return nt_err_set(err, ret, "out of memory");
		s = der;
	}
	ret = -EINVAL;
	ctx = EVP_MD_CTX_new();
	if (!ctx || EVP_DigestVerifyInit_ex(ctx, &pctx, alg->md, NULL, NULL,
					    key, NULL) != 1)
		goto out;
	if (alg->kind == ALG_PSS &&
	    (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
	     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1))
		goto out;
	if (EVP_DigestVerify(ctx, s, (size_t)dlen, (const unsigned char *)in,
			     ilen) == 1)
		ret = 0;
out:
	ERR_clear_error();
	EVP_MD_CTX_free(ctx);
	OPENSSL_free(der);
	if (ret)
		return nt_err_set(err, ret, "jwt: the signature does not verify");
	return 0;
}

/* ---- minting -------------------------------------------------------------- */

static int check_aud(const char *const *aud, size_t naud, struct nt_err *err)
{
	size_t i, len;

	if (!aud || !naud || naud > JWT_AUD_MAX)
		return nt_err_set(err, -EINVAL,
				  "a JWT-SVID needs 1 to %d audiences, not %zu",
				  JWT_AUD_MAX, aud ? naud : 0);
	for (i = 0; i < naud; i++) {
		len = aud[i] ? strlen(aud[i]) : 0;
		if (!len || len > JWT_AUD_LEN_MAX)
			return nt_err_set(err, -EINVAL,
					  "audience %zu: must be 1 to %d bytes",
					  i, JWT_AUD_LEN_MAX);
		if (!utf8_valid((const unsigned char *)aud[i], len))
			return nt_err_set(err, -EINVAL,
					  "audience %zu: not valid UTF-8", i);
	}
	return 0;
}

static cJSON *claims_build(const struct spiffe_id *id, const char *const *aud,
			   size_t naud, int64_t exp, time_t now)
{
	cJSON *c = cJSON_CreateObject(), *arr;
	bool ok = c != NULL;
	size_t i;

	ok = ok && cJSON_AddStringToObject(c, "sub", id->str);
	if (ok && naud == 1) {
		ok = cJSON_AddStringToObject(c, "aud", aud[0]) != NULL;
	} else if (ok) {
		arr = cJSON_AddArrayToObject(c, "aud");
		ok = arr != NULL;
		for (i = 0; ok && i < naud; i++)
			ok = cJSON_AddItemToArray(arr, cJSON_CreateString(aud[i]));
	}
	ok = ok && cJSON_AddNumberToObject(c, "exp", (double)exp);
	ok = ok && cJSON_AddNumberToObject(c, "iat", (double)now);
	if (!ok) {
		cJSON_Delete(c);
		return NULL;
	}
	return c;
}

/* base64url of cJSON's compact print of @obj (consumed). */
static char *json_part(cJSON *obj)
{
	char *s = obj ? cJSON_PrintUnformatted(obj) : NULL, *b = NULL;

	if (s)
		b = b64__encode((const unsigned char *)s, strlen(s), true);
	cJSON_free(s);
	cJSON_Delete(obj);
	return b;
}

static cJSON *header_build(const char *kid)
{
	cJSON *h = cJSON_CreateObject();

	if (h && cJSON_AddStringToObject(h, "alg", "ES256") &&
	    cJSON_AddStringToObject(h, "kid", kid) &&
	    cJSON_AddStringToObject(h, "typ", "JWT"))
		return h;
	cJSON_Delete(h);
	return NULL;
}

static int mint_check(const struct jwt_signer *signer,
		      const struct spiffe_id *id, int64_t ttl, time_t now,
		      int64_t *exp, struct nt_err *err)
{
	size_t kid_len;

	if (!signer || !signer->key || !id)
		return nt_err_set(err, -EINVAL, "no signer or ID given");
	kid_len = strnlen(signer->kid, sizeof(signer->kid));
	if (!kid_len || kid_len > JWT_KID_MAX)
		return nt_err_set(err, -EINVAL, "the signing key has no kid");
	if (jwk__ec_size(signer->key) != 32)
		return nt_err_set(err, -EINVAL,
				  "JWT-SVIDs are signed with a P-256 key (ES256)");
	if (!spiffe_id__path_len(id))
		return nt_err_set(err, -EINVAL,
				  "%s is a trust domain, not a workload: a JWT-SVID needs a path",
				  id->str);
	if (ttl < 0 || ttl > 10LL * 365 * 24 * 3600)
		return nt_err_set(err, -ERANGE, "ttl out of range: %lld",
				  (long long)ttl);
	*exp = now + (ttl ? ttl : JWT_SVID_TTL_DEFAULT);
	if (*exp > signer->not_after)
		*exp = signer->not_after;
	if (*exp <= now)
		return nt_err_set(err, -EKEYEXPIRED,
				  "the JWT signing key has expired");
	return 0;
}

int jwt_svid__mint(const struct jwt_signer *signer, const struct spiffe_id *id,
		   const char *const *aud, size_t naud, int64_t ttl, time_t now,
		   char **token, int64_t *expiry, struct nt_err *err)
{
	char *hdr = NULL, *body = NULL, *sig = NULL, *input = NULL;
	unsigned char raw[64];
	int64_t exp = 0;
	int n, ret;

	ret = mint_check(signer, id, ttl, now, &exp, err);
	if (!ret)
		ret = check_aud(aud, naud, err);
	if (ret)
		return ret;
	hdr = json_part(header_build(signer->kid));
	body = json_part(claims_build(id, aud, naud, exp, now));
	if (!hdr || !body || asprintf(&input, "%s.%s", hdr, body) < 0) {
		input = NULL;
		ret = nt_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	ret = es256_sign(signer->key, input, strlen(input), raw, err);
	if (ret)
		goto out;
	sig = b64__encode(raw, sizeof(raw), true);
	n = sig ? asprintf(token, "%s.%s", input, sig) : -1;
	if (n < 0) {
		ret = nt_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if (expiry)
		*expiry = exp;
out:
	free(hdr);
	free(body);
	free(sig);
	free(input);
	return ret;
}

/* ---- validation ----------------------------------------------------------- */

void jwt_svid__free(struct jwt_svid *s)
{
	if (!s)
		return;
	cJSON_Delete(s->claims);
	free(s);
}

/* One base64url part of the token as a strict JSON object. */
static int part_json(const char *s, size_t len, const char *what,
		     cJSON **out, struct nt_err *err)
{
	unsigned char *buf = NULL;
	size_t blen = 0;
	int ret;

	ret = b64__decode(s, len, true, &buf, &blen);
	if (ret == -ENOMEM)
		return nt_err_set(err, ret, "out of memory");
	if (ret)
		return nt_err_set(err, -EINVAL,
				  "jwt: the %s is not base64url without padding",
				  what);
	ret = json__parse_strict((const char *)buf, blen, out, err);
	free(buf);
	if (ret)
		return nt_err_prefix(err, -EINVAL, what);
	if (!cJSON_IsObject(*out)) {
		cJSON_Delete(*out);
		*out = NULL;
		return nt_err_set(err, -EINVAL, "jwt: the %s is not a JSON object",
				  what);
	}
	return 0;
}

static const char *const header_members[] = { "alg", "kid", "typ", NULL };

static int header_check(const cJSON *h, const struct jws_alg **alg,
			struct jwt_svid *out, struct nt_err *err)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(h, "alg");
	const cJSON *k = cJSON_GetObjectItemCaseSensitive(h, "kid");
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(h, "typ");
	size_t len;

	/* JWT-SVID.md §2: no header beyond these, registered or private;
	 * that also leaves out "crit", "jku", "jwk", "x5u" and "b64". */
	if (json__only_keys(h, header_members, "jwt header", err))
		return -EINVAL;
	if (!cJSON_IsString(a))
		return nt_err_set(err, -EINVAL, "jwt: header \"alg\" is required");
	*alg = alg_find(a->valuestring);
	if (!*alg)
		return nt_err_set(err, -EINVAL,
				  "jwt: alg is not one of RS256/384/512, ES256/384/512, PS256/384/512 (JWT-SVID.md §2.1)");
	if (t && (!cJSON_IsString(t) || (strcmp(t->valuestring, "JWT") &&
					 strcmp(t->valuestring, "JOSE"))))
		return nt_err_set(err, -EINVAL,
				  "jwt: typ, when set, must be \"JWT\" or \"JOSE\"");
	len = cJSON_IsString(k) ? strlen(k->valuestring) : 0;
	if (!len || len > JWT_KID_MAX)
		return nt_err_set(err, -EINVAL,
				  "jwt: header \"kid\" is required (1 to %d bytes)",
				  JWT_KID_MAX);
	memcpy(out->kid, k->valuestring, len + 1);
	snprintf(out->alg, sizeof(out->alg), "%s", (*alg)->name);
	return 0;
}

static int sub_check(const cJSON *claims, struct spiffe_id *id,
		     struct nt_err *err)
{
	const cJSON *sub = cJSON_GetObjectItemCaseSensitive(claims, "sub");
	int ret;

	if (!cJSON_IsString(sub))
		return nt_err_set(err, -EINVAL,
				  "jwt: claim \"sub\" is required and must be a string");
	ret = spiffe_id__parse(id, sub->valuestring, strlen(sub->valuestring),
			       err);
	if (ret)
		return nt_err_prefix(err, -EINVAL, "jwt: sub");
	if (!spiffe_id__path_len(id))
		return nt_err_set(err, -EINVAL,
				  "jwt: sub is a trust domain, not a workload's ID");
	return 0;
}

static int aud_check(const cJSON *claims, const char *audience,
		     struct nt_err *err)
{
	const cJSON *aud = cJSON_GetObjectItemCaseSensitive(claims, "aud"), *e;
	bool found = false;

	if (cJSON_IsString(aud)) {
		found = !strcmp(aud->valuestring, audience);
	} else if (cJSON_IsArray(aud) && cJSON_GetArraySize(aud) > 0) {
		cJSON_ArrayForEach(e, aud) {
			if (!cJSON_IsString(e))
				return nt_err_set(err, -EINVAL,
						  "jwt: every aud value must be a string");
			found = found || !strcmp(e->valuestring, audience);
		}
	} else {
		return nt_err_set(err, -EINVAL,
				  "jwt: claim \"aud\" is required: a string or a non-empty array of strings");
	}
	if (!found)
		return nt_err_set(err, -EINVAL,
				  "jwt: the audience asked for is not in aud");
	return 0;
}

/* A NumericDate claim (RFC 7519 §2): finite, 0 to 2^53 - 1. */
static int time_claim(const cJSON *claims, const char *name, bool required,
		      double *out, struct nt_err *err)
{
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(claims, name);

	if (!c && !required)
		return 1;
	if (!cJSON_IsNumber(c) || !isfinite(c->valuedouble) ||
	    c->valuedouble < 0 || c->valuedouble > JSON_INT_MAX)
		return nt_err_set(err, -EINVAL,
				  "jwt: claim \"%s\" %s a number of seconds",
				  name, required ? "is required as" : "must be");
	*out = c->valuedouble;
	return 0;
}

static int times_check(const cJSON *claims, const struct jwt_verify_opts *o,
		       int64_t *expiry, struct nt_err *err)
{
	double now = (double)o->now, lw = (double)o->leeway, exp, t;
	int ret;

	ret = time_claim(claims, "exp", true, &exp, err);
	if (ret)
		return ret;
	if (now >= exp + lw)
		return nt_err_set(err, -EINVAL, "jwt: the token has expired");
	*expiry = (int64_t)exp;	/* exp >= 0: truncation is floor */
	ret = time_claim(claims, "nbf", false, &t, err);
	if (ret < 0)
		return ret;
	if (!ret && now + lw < t)
		return nt_err_set(err, -EINVAL, "jwt: the token is not valid yet (nbf)");
	ret = time_claim(claims, "iat", false, &t, err);
	if (ret < 0)
		return ret;
	if (!ret && t > now + lw)
		return nt_err_set(err, -EINVAL, "jwt: the token was issued in the future (iat)");
	return 0;
}

/* The signature over "header.payload", with the key the bundle of sub's
 * trust domain holds under kid. */
static int signature_check(const struct jws_alg *alg, const struct jwt_svid *s,
			   const struct bundle_set *bundles, const char *token,
			   size_t signed_len, const char *sig_b64,
			   size_t sig_len, const struct jwt_authority **used,
			   struct nt_err *err)
{
	const struct jwt_authority *a;
	const struct bundle *b;
	unsigned char *sig = NULL;
	size_t slen = 0;
	int ret;

	b = bundle_set__find(bundles, s->id.td, s->id.td_len);
	if (!b)
		return nt_err_set(err, -EINVAL,
				  "jwt: no trust bundle for trust domain %s",
				  s->id.td);
	a = bundle__jwt_authority(b, s->kid, strlen(s->kid));
	if (!a)
		return nt_err_set(err, -EINVAL,
				  "jwt: the bundle of %s has no jwt-svid key with this kid",
				  s->id.td);
	ret = b64__decode(sig_b64, sig_len, true, &sig, &slen);
	if (ret == -ENOMEM)
		return nt_err_set(err, ret, "out of memory");
	if (ret)
		return nt_err_set(err, -EINVAL,
				  "jwt: the signature is not base64url without padding");
	ret = jws_verify(alg, a->key, token, signed_len, sig, slen, err);
	free(sig);
	*used = a;
	return ret;
}

/* A key a fleet node published is good only for what its node CA may
 * issue, and only while that CA is valid (docs/fleet.md): a genuine
 * signature of a compromised node outside its scope is refused here. */
static int binding_check(const struct jwt_authority *a,
			 const struct jwt_svid *s,
			 const struct jwt_verify_opts *o, struct nt_err *err)
{
	if (a->not_after && o->now > a->not_after + o->leeway)
		return nt_err_set(err, -EKEYREJECTED,
				  "jwt: the key of kid %s is bound to a node CA%s%s%s that expired at %lld",
				  a->kid, a->scope ? " of node '" : "",
				  a->scope ? a->scope->node : "",
				  a->scope ? "'" : "", (long long)a->not_after);
	if (a->scope && !ca_scope__covers(a->scope, &s->id))
		return nt_err_set(err, -EKEYREJECTED,
				  "jwt: sub %s is outside node '%s''s scope (it may issue %s%s)",
				  s->id.str, a->scope->node, a->scope->prefix[0].str,
				  a->scope->n > 1 ? " and more" : "");
	return 0;
}

/* Splits "h.p.s": exactly two dots, no part empty. */
static int split(const char *t, size_t len, size_t *d1, size_t *d2,
		 struct nt_err *err)
{
	const char *a = memchr(t, '.', len), *b;

	b = a ? memchr(a + 1, '.', len - (size_t)(a + 1 - t)) : NULL;
	if (!a || !b || memchr(b + 1, '.', len - (size_t)(b + 1 - t)) ||
	    a == t || b == a + 1 || b + 1 == t + len)
		return nt_err_set(err, -EINVAL,
				  "jwt: not a JWS in Compact Serialization (three non-empty parts)");
	*d1 = (size_t)(a - t);
	*d2 = (size_t)(b - t);
	return 0;
}

static int validate(const char *token, size_t len, const char *audience,
		    const struct bundle_set *bundles,
		    const struct jwt_verify_opts *opts, struct jwt_svid *s,
		    struct nt_err *err)
{
	const struct jwt_authority *a = NULL;
	const struct jws_alg *alg = NULL;
	cJSON *hdr = NULL;
	size_t d1 = 0, d2 = 0;
	int ret;

	ret = split(token, len, &d1, &d2, err);
	if (!ret)
		ret = part_json(token, d1, "jwt header", &hdr, err);
	if (!ret)
		ret = header_check(hdr, &alg, s, err);
	cJSON_Delete(hdr);
	if (!ret)
		ret = part_json(token + d1 + 1, d2 - d1 - 1, "jwt payload",
				&s->claims, err);
	if (!ret)
		ret = sub_check(s->claims, &s->id, err);
	if (!ret)
		ret = signature_check(alg, s, bundles, token, d2, token + d2 + 1,
				      len - d2 - 1, &a, err);
	if (!ret)
		ret = aud_check(s->claims, audience, err);
	if (!ret)
		ret = times_check(s->claims, opts, &s->expiry, err);
	if (!ret)
		ret = binding_check(a, s, opts, err);
	return ret;
}

int jwt_svid__validate(const char *token, size_t len, const char *audience,
		       const struct bundle_set *bundles,
		       const struct jwt_verify_opts *opts,
		       struct jwt_svid **out, struct nt_err *err)
{
	struct jwt_svid *s;
	int ret;

	if (!token || !bundles || !opts || !out)
		return nt_err_set(err, -EINVAL, "jwt: missing argument");
	if (!audience || !audience[0])
		return nt_err_set(err, -EINVAL, "jwt: an audience is required");
	if (!len || len > JWT_TOKEN_MAX || memchr(token, '\0', len))
		return nt_err_set(err, -EINVAL,
				  "jwt: a token is 1 to %d bytes with no NUL",
				  JWT_TOKEN_MAX);
	if (opts->leeway < 0 || opts->leeway > 3600)
		return nt_err_set(err, -EINVAL, "jwt: leeway out of range");
	s = calloc(1, sizeof(*s));
	if (!s)
		return nt_err_set(err, -ENOMEM, "out of memory");
	ret = validate(token, len, audience, bundles, opts, s, err);
	if (ret) {
		jwt_svid__free(s);
		return ret == -ENOMEM || ret == -EKEYREJECTED ? ret : -EINVAL;
	}
	*out = s;
	return 0;
}
