// SPDX-License-Identifier: Apache-2.0
/*
 * base64 and JSON Web Keys (ca/jwk_int.h): the spellings a SPIFFE bundle and
 * a JWS use for bytes and public keys.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/sha.h>

#include "ca/jwk_int.h"

/* ---- a public key as JWK members --------------------------------------- */

void jwk__clear(struct jwk_key *j)
{
	size_t i;

	for (i = 0; i < j->n; i++)
		free(j->val[i]);
	memset(j, 0, sizeof(*j));
}

static const struct curve {
	int nid;
	const char *crv;		/* JWK name */
	const char *group;		/* OpenSSL group name */
	size_t size;			/* bytes of a coordinate */
} curves[] = {
	{ NID_X9_62_prime256v1, "P-256", "prime256v1", 32 },
	{ NID_secp384r1, "P-384", "secp384r1", 48 },
	{ NID_secp521r1, "P-521", "secp521r1", 66 },
};
#define NCURVES (sizeof(curves) / sizeof(curves[0]))

static const struct curve *curve_of(EVP_PKEY *pk)
{
	char group[80];
	size_t glen, i;
	int nid;

	if (EVP_PKEY_get_base_id(pk) != EVP_PKEY_EC ||
	    EVP_PKEY_get_group_name(pk, group, sizeof(group), &glen) != 1)
		return NULL;
	nid = OBJ_sn2nid(group);
	if (nid == NID_undef)
		nid = EC_curve_nist2nid(group);
	for (i = 0; i < NCURVES; i++)
		if (curves[i].nid == nid)
			return &curves[i];
	return NULL;
}

size_t jwk__ec_size(EVP_PKEY *pk)
{
	const struct curve *c = curve_of(pk);

	ERR_clear_error();
	return c ? c->size : 0;
}

/* Appends one member; a BIGNUM is written big-endian, left-padded to @pad
 * bytes (EC coordinates have a fixed size, RFC 7518 §6.2.1.2) or minimal
 * when @pad is 0 (RSA, RFC 7518 §6.3.1; zero is one 0x00 byte). */
static int jwk_add_bn(struct jwk_key *j, const char *name, const BIGNUM *bn,
		      size_t pad)
{
	size_t len = pad ? pad : (size_t)BN_num_bytes(bn);
	unsigned char *buf;
	int ret = -ENOMEM;

	if (!len)
		len = 1;
	buf = calloc(1, len);
	if (!buf)
		return -ENOMEM;
	if (BN_bn2binpad(bn, buf, (int)len) < 0) {
		ret = -EINVAL;
		goto out;
	}
	j->val[j->n] = b64__encode(buf, len, true);
	if (j->val[j->n]) {
		j->name[j->n++] = name;
		ret = 0;
	}
out:
	free(buf);
	return ret;
}

static int jwk_of_ec(EVP_PKEY *pk, struct jwk_key *j)
{
	const struct curve *c = curve_of(pk);
	BIGNUM *x = NULL, *y = NULL;
	int ret = -EINVAL;

	if (!c)
		return -EINVAL;
	if (EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_EC_PUB_X, &x) != 1 ||
	    EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_EC_PUB_Y, &y) != 1)
		goto out;
	j->kty = "EC";
	j->val[0] = strdup(c->crv);
	if (!j->val[0]) {
		ret = -ENOMEM;
		goto out;
	}
	j->name[j->n++] = "crv";
	ret = jwk_add_bn(j, "x", x, c->size);
	if (!ret)
		ret = jwk_add_bn(j, "y", y, c->size);
out:
	BN_free(x);
	BN_free(y);
	return ret;
}

static int jwk_of_rsa(EVP_PKEY *pk, struct jwk_key *j)
{
	BIGNUM *n = NULL, *e = NULL;
	int ret = -EINVAL;

	if (EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_N, &n) != 1 ||
	    EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_E, &e) != 1)
		goto out;
	j->kty = "RSA";
	ret = jwk_add_bn(j, "n", n, 0);
	if (!ret)
		ret = jwk_add_bn(j, "e", e, 0);
out:
	BN_free(n);
	BN_free(e);
	return ret;
}

int jwk__of_pkey(EVP_PKEY *pk, struct jwk_key *j)
{
	int ret;

	memset(j, 0, sizeof(*j));
	if (EVP_PKEY_get_base_id(pk) == EVP_PKEY_EC)
		ret = jwk_of_ec(pk, j);
	else if (EVP_PKEY_get_base_id(pk) == EVP_PKEY_RSA)
		ret = jwk_of_rsa(pk, j);
	else
		ret = -EINVAL;
	if (ret)
		jwk__clear(j);
	ERR_clear_error();
	return ret;
}

/* ---- a JWK object to a public key -------------------------------------- */

/* Members that would make the entry a private key (RFC 7518 §6.2.2,
 * §6.3.2, §6.4). */
static const char *const private_members[] = {
	"d", "p", "q", "dp", "dq", "qi", "oth", "k", NULL
};

/* A base64url member, decoded; @want 0 means any non-zero length. */
static int member_bytes(const cJSON *obj, const char *name, size_t want,
			const char *where, unsigned char **out, size_t *len,
			struct nt_err *err)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, name);
	int ret;

	if (!cJSON_IsString(m))
		return nt_err_set(err, -EINVAL,
				  "%s: \"%s\" is required and must be a string",
				  where, name);
	ret = b64__decode(m->valuestring, strlen(m->valuestring), true, out,
			  len);
	if (ret == -ENOMEM)
		return nt_err_set(err, ret, "out of memory");
	if (ret)
		return nt_err_set(err, ret,
				  "%s: \"%s\" is not base64url without padding",
				  where, name);
	if ((want && *len != want) || !*len) {
		free(*out);
		*out = NULL;
		return nt_err_set(err, -EINVAL,
				  want ? "%s: \"%s\" must be %zu bytes" :
					 "%s: \"%s\" is empty",
				  where, name, want);
	}
	return 0;
}

static int pkey_fromdata(const char *type, OSSL_PARAM_BLD *bld,
			 EVP_PKEY **out)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY_CTX *check = NULL;
	EVP_PKEY *pk = NULL;
	int ret = -EINVAL;

	if (!ctx || !params || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) != 1)
		goto out;
	/* For EC: the point is on the curve and not the point at infinity.
	 * Not for RSA: OpenSSL's RSA public check runs Miller-Rabin on n
	 * with random bases, so the same n could pass once and fail the
	 * next time (found by fuzz_bundle's re-parse); rsa_from_jwk checks
	 * what is deterministic. */
	if (!strcmp(type, "EC")) {
		check = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
		if (!check || EVP_PKEY_public_check(check) != 1)
			goto out;
	}
	*out = pk;
	pk = NULL;
	ret = 0;
out:
	ERR_clear_error();
	EVP_PKEY_free(pk);
	EVP_PKEY_CTX_free(check);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	return ret;
}

static int ec_to_pkey(const cJSON *obj, const char *where, EVP_PKEY **out,
		      struct nt_err *err)
{
	const cJSON *crv = cJSON_GetObjectItemCaseSensitive(obj, "crv");
	unsigned char *x = NULL, *y = NULL, pt[1 + 2 * 66];
	const struct curve *c = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	size_t xl = 0, yl = 0, i;
	int ret;

	if (!cJSON_IsString(crv))
		return nt_err_set(err, -EINVAL,
				  "%s: \"crv\" is required and must be a string",
				  where);
	for (i = 0; i < NCURVES && !c; i++)
		if (!strcmp(crv->valuestring, curves[i].crv))
			c = &curves[i];
	if (!c)
		return nt_err_set(err, -EINVAL,
				  "%s: curve \"%s\" is not P-256, P-384 or P-521",
				  where, crv->valuestring);
	ret = member_bytes(obj, "x", c->size, where, &x, &xl, err);
	if (!ret)
		ret = member_bytes(obj, "y", c->size, where, &y, &yl, err);
	if (ret)
		goto out;
	pt[0] = 0x04;		/* uncompressed point (SEC 1 §2.3.3) */
	memcpy(pt + 1, x, c->size);
	memcpy(pt + 1 + c->size, y, c->size);
	ret = -ENOMEM;
	bld = OSSL_PARAM_BLD_new();
	if (!bld ||
	    !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
					     c->group, 0) ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt,
					      1 + 2 * c->size)) {
		nt_err_set(err, ret, "out of memory");
		goto out;
	}
	ret = pkey_fromdata("EC", bld, out);
	if (ret)
		nt_err_set(err, ret, "%s: x and y are not a point on %s", where,
			   c->crv);
out:
	OSSL_PARAM_BLD_free(bld);
	free(x);
	free(y);
	return ret;
}

static int rsa_to_pkey(const cJSON *obj, const char *where, EVP_PKEY **out,
		       struct nt_err *err)
{
	unsigned char *nb = NULL, *eb = NULL;
	BIGNUM *n = NULL, *e = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	size_t nl = 0, el = 0;
	int ret;

	ret = member_bytes(obj, "n", 0, where, &nb, &nl, err);
	if (!ret)
		ret = member_bytes(obj, "e", 0, where, &eb, &el, err);
	if (ret)
		goto out;
	/* Minimal big-endian integers (RFC 7518 §6.3.1): one spelling each. */
	if ((nl > 1 && !nb[0]) || (el > 1 && !eb[0])) {
		ret = nt_err_set(err, -EINVAL,
				 "%s: \"n\" and \"e\" must have no leading zero octet",
				 where);
		goto out;
	}
	if (nl * 8 < JWK_RSA_BITS_MIN || nl * 8 > JWK_RSA_BITS_MAX || el > 8) {
		ret = nt_err_set(err, -EINVAL,
				 "%s: RSA keys must have %d to %d bits and an exponent of at most 64 bits",
				 where, JWK_RSA_BITS_MIN, JWK_RSA_BITS_MAX);
		goto out;
	}
	/* An RSA modulus and exponent are odd, the exponent above 1. */
	if (!(nb[nl - 1] & 1) || !(eb[el - 1] & 1) || (el == 1 && eb[0] < 3)) {
		ret = nt_err_set(err, -EINVAL,
				 "%s: n and e are not an RSA public key", where);
		goto out;
	}
	ret = -ENOMEM;
	n = BN_bin2bn(nb, (int)nl, NULL);
	e = BN_bin2bn(eb, (int)el, NULL);
	bld = OSSL_PARAM_BLD_new();
	if (!n || !e || !bld ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e)) {
		nt_err_set(err, ret, "out of memory");
		goto out;
	}
	ret = pkey_fromdata("RSA", bld, out);
	if (ret)
		nt_err_set(err, ret, "%s: n and e are not an RSA public key",
			   where);
out:
	ERR_clear_error();
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	free(nb);
	free(eb);
	return ret;
}

int jwk__kty_known(const cJSON *obj, const char *where, struct nt_err *err)
{
	const cJSON *kty = cJSON_GetObjectItemCaseSensitive(obj, "kty");

	if (!cJSON_IsString(kty))
		return nt_err_set(err, -EINVAL,
				  "%s: \"kty\" is required and must be a string",
				  where);
	return !strcmp(kty->valuestring, "EC") || !strcmp(kty->valuestring, "RSA");
}

int jwk__to_pkey(const cJSON *obj, const char *where, EVP_PKEY **out,
		 struct nt_err *err)
{
	const cJSON *kty = cJSON_GetObjectItemCaseSensitive(obj, "kty");
	int ret = jwk__kty_known(obj, where, err);
	size_t i;

	if (ret <= 0)
		return ret ? ret : nt_err_set(err, -EOPNOTSUPP,
					      "%s: unsupported kty", where);
	for (i = 0; private_members[i]; i++)
		if (cJSON_GetObjectItemCaseSensitive(obj, private_members[i]))
			return nt_err_set(err, -EINVAL,
					  "%s: \"%s\" is a private key member and must not be published",
					  where, private_members[i]);
	if (!strcmp(kty->valuestring, "EC"))
		return ec_to_pkey(obj, where, out, err);
	return rsa_to_pkey(obj, where, out, err);
}

/* ---- RFC 7638 thumbprints ---------------------------------------------- */

int jwk__thumbprint(EVP_PKEY *pk, char *out, size_t size)
{
	unsigned char digest[SHA256_DIGEST_LENGTH];
	struct jwk_key j;
	char buf[2048], *s;
	int n, ret;

	if (size < 44)
		return -ENOSPC;
	ret = jwk__of_pkey(pk, &j);
	if (ret)
		return ret;
	/* The required members only, in lexicographic order, no spaces
	 * (RFC 7638 §3.2-3.3). Values never need escaping here. */
	if (!strcmp(j.kty, "EC"))
		n = snprintf(buf, sizeof(buf),
			     "{\"crv\":\"%s\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}",
			     j.val[0], j.val[1], j.val[2]);
	else
		n = snprintf(buf, sizeof(buf),
			     "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}",
			     j.val[1], j.val[0]);
	jwk__clear(&j);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -E2BIG;
	SHA256((const unsigned char *)buf, (size_t)n, digest);
	s = b64__encode(digest, sizeof(digest), true);
	if (!s)
		return -ENOMEM;
	snprintf(out, size, "%s", s);
	free(s);
	return 0;
}
