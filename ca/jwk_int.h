/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal to ca/: base64 and JSON Web Keys (RFC 7515 §2, RFC 7517, RFC
 * 7518 §6), shared by bundle.c (x509-svid and jwt-svid entries) and jwt.c
 * (JWS signing and validation). Not part of the library's interface:
 * ca/ca.h is.
 *
 * Every byte string has exactly one accepted spelling (no padding in
 * base64url, zero unused bits, fixed-size EC coordinates, minimal RSA
 * integers), so two spellings can be compared as strings and what we write
 * back is what we read.
 */
#ifndef NAMETAG_CA_JWK_INT_H
#define NAMETAG_CA_JWK_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/evp.h>

#include "ca/ca.h"

/* base64: b64__decode and b64__encode in lib/ntcore.h. */

/* The public members of a key as a JWK spells them. */
struct jwk_key {
	const char *kty;		/* "EC" or "RSA" */
	const char *name[3];		/* "crv", "x", "y" or "n", "e" */
	char *val[3];			/* base64url, or the curve name */
	size_t n;
};

void jwk__clear(struct jwk_key *j);
/* EC P-256/P-384/P-521 or RSA; -EINVAL for other keys, -ENOMEM. */
int jwk__of_pkey(EVP_PKEY *pk, struct jwk_key *j);

/* Bytes of one coordinate of an EC key on a curve JWK knows (32, 48, 66),
 * 0 for any other key. */
size_t jwk__ec_size(EVP_PKEY *pk);

#define JWK_RSA_BITS_MIN	2048	/* RFC 7518 §3.3 */
#define JWK_RSA_BITS_MAX	8192

/* A bundle entry's "kty": 1 for "EC" and "RSA", 0 for any other (the
 * entry is then ignored, bundle spec §4.2.1), -EINVAL when it is missing
 * or not a string. */
int jwk__kty_known(const struct cJSON *obj, const char *where,
		   struct nt_err *err);

/* The public key a JWK object describes: kty "EC" (crv P-256/P-384/P-521,
 * x and y) or "RSA" (n and e, JWK_RSA_BITS_MIN to _MAX bits). A private
 * member ("d", ...) is an error: a key published in a bundle must never
 * carry one. @where names the entry in messages. -EOPNOTSUPP for a kty
 * other than EC and RSA, which callers ignore. */
int jwk__to_pkey(const struct cJSON *obj, const char *where, EVP_PKEY **out,
		 struct nt_err *err);

/* RFC 7638 thumbprint: base64url SHA-256 of the required members, 43
 * characters; @size must be at least 44. */
int jwk__thumbprint(EVP_PKEY *pk, char *out, size_t size);

/* ---- jwt-svid entries of a bundle (bundle_jwt.c) ----------------------- */

#define USE_JWT			"jwt-svid"

/* One "use": "jwt-svid" entry of a bundle being parsed. */
int bundle_jwt__parse_entry(struct bundle *b, const struct cJSON *key,
			    const char *where, struct nt_err *err);
/* Appends @b's jwt-svid entries to the JSON array @keys. */
int bundle_jwt__to_json(const struct bundle *b, struct cJSON *keys,
			struct nt_err *err);
bool bundle_jwt__same(const struct bundle *a, const struct bundle *b);
void bundle_jwt__free(struct bundle *b);

#endif /* NAMETAG_CA_JWK_INT_H */
