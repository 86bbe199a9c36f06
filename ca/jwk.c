// SPDX-License-Identifier: Apache-2.0
/*
 * A CA certificate's key as the members of a JWK (RFC 7517, RFC 7518 §6),
 * and the base64 both spellings of a bundle use: the standard alphabet in
 * "x5c", base64url in key members. Shared by parsing a bundle (the
 * members must match the certificate) and writing one (bundle.c).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include "ca/jwk_int.h"

/* ---- a certificate's key as JWK members -------------------------------- */

void jwk__clear(struct jwk_key *j)
{
	size_t i;

	for (i = 0; i < j->n; i++)
		free(j->val[i]);
	memset(j, 0, sizeof(*j));
}

static const struct curve {
	int nid;
	const char *crv;
	size_t size;			/* bytes of a coordinate */
} curves[] = {
	{ NID_X9_62_prime256v1, "P-256", 32 },
	{ NID_secp384r1, "P-384", 48 },
	{ NID_secp521r1, "P-521", 66 },
};

static const struct curve *curve_of(EVP_PKEY *pk)
{
	char group[80];
	size_t glen, i;
	int nid;

	if (EVP_PKEY_get_group_name(pk, group, sizeof(group), &glen) != 1)
		return NULL;
	nid = OBJ_sn2nid(group);
	if (nid == NID_undef)
		nid = EC_curve_nist2nid(group);
	for (i = 0; i < sizeof(curves) / sizeof(curves[0]); i++)
		if (curves[i].nid == nid)
			return &curves[i];
	return NULL;
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

/*
 * Checks that @ca may stand in a bundle (a CA certificate whose key a JWK
 * can describe) and fills @j with its key members. @where names the entry.
 */
int jwk__of_authority(X509 *ca, struct jwk_key *j, const char *where,
			   struct nt_err *err)
{
	uint32_t flags = X509_get_extension_flags(ca);
	EVP_PKEY *pk;
	int ret;

	memset(j, 0, sizeof(*j));
	if (flags & EXFLAG_INVALID)
		return nt_err_set(err, -EINVAL,
				  "%s: certificate has invalid extensions", where);
	/* EXFLAG_CA comes from basicConstraints alone; X509_check_ca()
	 * would also accept v1 certificates, which the spec does not. */
	if (!(flags & EXFLAG_CA))
		return nt_err_set(err, -EINVAL,
				  "%s: certificate is not a CA (basicConstraints cA must be true)",
				  where);
	pk = X509_get0_pubkey(ca);
	if (!pk) {
		ERR_clear_error();
		return nt_err_set(err, -EINVAL,
				  "%s: certificate public key cannot be read",
				  where);
	}
	if (EVP_PKEY_get_base_id(pk) == EVP_PKEY_EC)
		ret = jwk_of_ec(pk, j);
	else if (EVP_PKEY_get_base_id(pk) == EVP_PKEY_RSA)
		ret = jwk_of_rsa(pk, j);
	else
		ret = -EINVAL;
	if (ret) {
		jwk__clear(j);
		ERR_clear_error();
		if (ret == -ENOMEM)
			return nt_err_set(err, ret, "out of memory");
		return nt_err_set(err, ret,
				  "%s: certificate key is not EC P-256/P-384/P-521 or RSA",
				  where);
	}
	return 0;
}
