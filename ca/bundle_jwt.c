// SPDX-License-Identifier: Apache-2.0
/*
 * The jwt-svid entries of a SPIFFE bundle (JWT-SVID.md §6): one JWK per
 * JWT-SVID signing key, each with "use": "jwt-svid" and a "kid".
 *
 * As for x509-svid entries, an entry we are asked to trust must be exactly
 * what the spec says, so parsing fails closed: an entry without a kid
 * (go-spiffe refuses it too: "keyID cannot be empty"), a kid naming two
 * different keys, a key that is not a valid public key, or a private
 * member, make the whole bundle an error. Only an unknown kty is skipped,
 * as the bundle spec requires (§4.2.1).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/err.h>

#include "ca/jwk_int.h"

void bundle_jwt__free(struct bundle *b)
{
	size_t i;

	for (i = 0; i < b->jwt_count; i++) {
		EVP_PKEY_free(b->jwt_authorities[i].key);
		ca_scope__free(b->jwt_authorities[i].scope);
	}
	free(b->jwt_authorities);
	b->jwt_authorities = NULL;
	b->jwt_count = 0;
}

const struct jwt_authority *bundle__jwt_authority(const struct bundle *b,
						  const char *kid, size_t len)
{
	size_t i;

	if (!b || !kid || !len || len > JWT_KID_MAX)
		return NULL;
	for (i = 0; i < b->jwt_count; i++)
		if (strlen(b->jwt_authorities[i].kid) == len &&
		    !memcmp(b->jwt_authorities[i].kid, kid, len))
			return &b->jwt_authorities[i];
	return NULL;
}

static bool key_supported(EVP_PKEY *key)
{
	int bits;

	if (jwk__ec_size(key))
		return true;
	if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA)
		return false;
	bits = EVP_PKEY_get_bits(key);
	return bits >= JWK_RSA_BITS_MIN && bits <= JWK_RSA_BITS_MAX;
}

int bundle__add_jwt_authority(struct bundle *b, const char *kid, EVP_PKEY *key,
			      struct nt_err *err)
{
	const struct jwt_authority *old;
	struct jwt_authority *grown;
	size_t len;

	if (!b || !kid || !key)
		return nt_err_set(err, -EINVAL, "no bundle, kid or key given");
	len = strlen(kid);
	if (!len || len > JWT_KID_MAX)
		return nt_err_set(err, -EINVAL,
				  "a jwt-svid key needs a kid of 1 to %d bytes",
				  JWT_KID_MAX);
	if (!key_supported(key))
		return nt_err_set(err, -EINVAL,
				  "a jwt-svid key must be EC P-256/P-384/P-521 or RSA of %d to %d bits",
				  JWK_RSA_BITS_MIN, JWK_RSA_BITS_MAX);
	old = bundle__jwt_authority(b, kid, len);
	if (old) {
		if (EVP_PKEY_eq(old->key, key) == 1)
			return 0;
		ERR_clear_error();
		return nt_err_set(err, -EEXIST,
				  "kid already names another jwt-svid key");
	}
	grown = realloc(b->jwt_authorities,
			(b->jwt_count + 1) * sizeof(*grown));
	if (!grown)
		return nt_err_set(err, -ENOMEM, "out of memory");
	b->jwt_authorities = grown;
	if (!EVP_PKEY_up_ref(key))
		return nt_err_ssl(err, -ENOMEM, "failed to reference key");
	memcpy(grown[b->jwt_count].kid, kid, len + 1);
	grown[b->jwt_count].scope = NULL;
	grown[b->jwt_count].not_after = 0;
	grown[b->jwt_count++].key = key;
	return 1;
}

int bundle__bind_jwt_authority(struct bundle *b, const char *kid,
			       const struct ca_scope *scope, time_t not_after,
			       struct nt_err *err)
{
	struct jwt_authority *a;
	struct ca_scope *copy = NULL;

	a = (struct jwt_authority *)bundle__jwt_authority(b, kid,
							  kid ? strlen(kid) : 0);
	if (!a)
		return nt_err_set(err, -ENOENT, "no jwt-svid key with this kid");
	if (scope && !(copy = ca_scope__dup(scope)))
		return nt_err_set(err, -ENOMEM, "out of memory");
	ca_scope__free(a->scope);
	a->scope = copy;
	a->not_after = not_after;
	return 0;
}

int bundle__copy_jwt_authority(struct bundle *b, const struct jwt_authority *a,
			       struct nt_err *err)
{
	int ret = bundle__add_jwt_authority(b, a->kid, a->key, err);

	if (ret < 0)
		return ret;
	return bundle__bind_jwt_authority(b, a->kid, a->scope, a->not_after,
					  err);
}

int bundle__jwt_kids_are_thumbprints(const struct bundle *b,
				     struct nt_err *err)
{
	char tp[JWT_KID_LEN + 1];
	size_t i;

	for (i = 0; b && i < b->jwt_count; i++) {
		if (jwk__thumbprint(b->jwt_authorities[i].key, tp, sizeof(tp)))
			return nt_err_set(err, -ENOMEM, "out of memory");
		if (strcmp(tp, b->jwt_authorities[i].kid))
			return nt_err_set(err, -EINVAL,
					  "kid \"%.64s\" is not the RFC 7638 thumbprint of its key",
					  b->jwt_authorities[i].kid);
	}
	return 0;
}

bool bundle_jwt__same(const struct bundle *a, const struct bundle *b)
{
	const struct jwt_authority *o;
	size_t i;
	bool same = true;

	if (a->jwt_count != b->jwt_count)
		return false;
	/* Kids are unique on both sides, so a ⊆ b with equal counts is
	 * equality. */
	for (i = 0; same && i < a->jwt_count; i++) {
		o = bundle__jwt_authority(b, a->jwt_authorities[i].kid,
					  strlen(a->jwt_authorities[i].kid));
		same = o && EVP_PKEY_eq(o->key, a->jwt_authorities[i].key) == 1 &&
		       o->not_after == a->jwt_authorities[i].not_after &&
		       ca_scope__equal(o->scope, a->jwt_authorities[i].scope);
	}
	ERR_clear_error();
	return same;
}

int bundle_jwt__parse_entry(struct bundle *b, const cJSON *key,
			    const char *where, struct nt_err *err)
{
	const cJSON *kid = cJSON_GetObjectItemCaseSensitive(key, "kid");
	EVP_PKEY *pk = NULL;
	size_t len;
	int ret;

	/* Unknown key types are ignored (SPIFFE bundle spec §4.2.1), and
	 * "oct" with them: JWT-SVIDs are never signed with a shared key. */
	ret = jwk__kty_known(key, where, err);
	if (ret <= 0) {
		b->ignored_keys += !ret;
		return ret;
	}
	len = cJSON_IsString(kid) ? strlen(kid->valuestring) : 0;
	if (!len)
		return nt_err_set(err, -EINVAL,
				  "%s: jwt-svid entries need a non-empty \"kid\" (JWT-SVID.md §6.1)",
				  where);
	if (len > JWT_KID_MAX)
		return nt_err_set(err, -EINVAL,
				  "%s: \"kid\" is longer than %d bytes", where,
				  JWT_KID_MAX);
	ret = jwk__to_pkey(key, where, &pk, err);
	if (ret)
		return ret;
	ret = bundle__add_jwt_authority(b, kid->valuestring, pk, err);
	EVP_PKEY_free(pk);
	if (ret == -EEXIST)
		return nt_err_set(err, -EINVAL,
				  "%s: its \"kid\" already names another key of this bundle",
				  where);
	if (ret < 0)
		return nt_err_prefix(err, ret, where);
	return 0;
}

static cJSON *entry_json(const struct jwt_authority *a)
{
	cJSON *obj = cJSON_CreateObject();
	struct jwk_key j;
	size_t i;
	bool ok;

	if (!obj || jwk__of_pkey(a->key, &j)) {
		cJSON_Delete(obj);
		return NULL;
	}
	ok = cJSON_AddStringToObject(obj, "use", USE_JWT) &&
	     cJSON_AddStringToObject(obj, "kty", j.kty) &&
	     cJSON_AddStringToObject(obj, "kid", a->kid);
	for (i = 0; ok && i < j.n; i++)
		ok = cJSON_AddStringToObject(obj, j.name[i], j.val[i]) != NULL;
	jwk__clear(&j);
	if (!ok) {
		cJSON_Delete(obj);
		return NULL;
	}
	return obj;
}

int bundle_jwt__to_json(const struct bundle *b, cJSON *keys,
			struct nt_err *err)
{
	cJSON *obj;
	size_t i;

	for (i = 0; i < b->jwt_count; i++) {
		obj = entry_json(&b->jwt_authorities[i]);
		if (!obj || !cJSON_AddItemToArray(keys, obj)) {
			cJSON_Delete(obj);
			return nt_err_set(err, -ENOMEM, "out of memory");
		}
	}
	return 0;
}

int bundle__jwks_json(const struct bundle *b, char **json, struct nt_err *err)
{
	cJSON *root, *keys;
	char *s;
	int ret;

	if (!b)
		return nt_err_set(err, -EINVAL, "no bundle given");
	root = cJSON_CreateObject();
	keys = root ? cJSON_AddArrayToObject(root, "keys") : NULL;
	if (!keys) {
		cJSON_Delete(root);
		return nt_err_set(err, -ENOMEM, "out of memory");
	}
	ret = bundle_jwt__to_json(b, keys, err);
	s = ret ? NULL : cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	if (ret)
		return ret;
	/* Plain malloc memory, whatever allocator cJSON uses. */
	*json = s ? strdup(s) : NULL;
	cJSON_free(s);
	if (!*json)
		return nt_err_set(err, -ENOMEM, "out of memory");
	return 0;
}
