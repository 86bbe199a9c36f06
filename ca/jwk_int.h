/* SPDX-License-Identifier: Apache-2.0 */
/* Private to ca/: the JWK members of a CA certificate's key
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

/* Checks that @ca may stand in a bundle (a CA certificate whose key a JWK
 * can describe) and fills @j with its key members. @where names the entry. */
int jwk__of_authority(X509 *ca, struct jwk_key *j, const char *where,
		      struct nt_err *err);
void jwk__clear(struct jwk_key *j);

#endif
