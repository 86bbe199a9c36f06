/* SPDX-License-Identifier: Apache-2.0 */
/* Private to ca/: base64 and the JWK members of a CA certificate's key
 * (jwk.c), for the bundle parser and writer (bundle.c). */
#ifndef NAMETAG_JWK_INT_H
#define NAMETAG_JWK_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "ca/ca.h"

/* A key as JWK members: kty, then up to three name/value pairs. */
struct jwk_key {
	const char *kty;
	const char *name[3];
	char *val[3];			/* base64url, or the curve name */
	size_t n;
};

/* Decodes @len bytes of base64 (@url: the base64url alphabet, no
 * padding) into a malloc'd *@out of *@out_len bytes. Only the one
 * canonical spelling of each value is accepted. */
int b64__decode(const char *s, size_t len, bool url, unsigned char **out,
		size_t *out_len);
/* The base64 (or base64url) of @n bytes, malloc'd; NULL when out of
 * memory. */
char *b64__encode(const unsigned char *p, size_t n, bool url);

/* Checks that @ca may stand in a bundle (a CA certificate whose key a JWK
 * can describe) and fills @j with its key members. @where names the entry. */
int jwk__of_authority(X509 *ca, struct jwk_key *j, const char *where,
		      struct nt_err *err);
void jwk__clear(struct jwk_key *j);

#endif
