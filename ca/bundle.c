// SPDX-License-Identifier: Apache-2.0
/*
 * SPIFFE trust bundles: a JWK Set (RFC 7517) whose "x509-svid" entries each
 * carry one CA certificate (SPIFFE_Trust_Domain_and_Bundle.md §4,
 * X509-SVID.md §6) and whose "jwt-svid" entries are JWT-SVID signing keys
 * (bundle_jwt.c). Bundles come from other trust domains, so parsing is
 * strict and fails closed: an entry we are asked to trust must be exactly
 * what the spec says, while entries of a kind we do not know are skipped as
 * the spec requires.
 *
 * Where X509-SVID.md §6.2 tells consumers to skip an x509-svid entry with no
 * "x5c" and to use only the first of several certificates, we refuse the
 * bundle instead (as go-spiffe does): §6.1 says a publisher MUST put exactly
 * one CA there, and guessing which certificate a broken publisher meant is
 * not something a trust store should do.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include "ca/jwk_int.h"

#define BUNDLE_MAX_KEYS		1024	/* JWK entries in one bundle */
/* cJSON keeps numbers as doubles: above 2^53 - 1 two different sequence
 * numbers could read as the same value, so they are refused. */
#define JSON_INT_MAX		((1ULL << 53) - 1)
#define USE_X509		"x509-svid"

/*
 * Checks that @ca may stand in a bundle (a CA certificate whose key a JWK
 * can describe) and fills @j with its key members. @where names the entry.
 */
static int authority_check(X509 *ca, struct jwk_key *j, const char *where,
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
	ret = jwk__of_pkey(pk, j);
	if (ret) {
		if (ret == -ENOMEM)
			return nt_err_set(err, ret, "out of memory");
		return nt_err_set(err, ret,
				  "%s: certificate key is not EC P-256/P-384/P-521 or RSA",
				  where);
	}
	return 0;
}

/* ---- struct bundle ----------------------------------------------------- */

int bundle__new(struct bundle **out, const char *td, struct nt_err *err)
{
	struct bundle *b;
	size_t len;
	int ret;

	if (!td)
		return nt_err_set(err, -EINVAL, "no trust domain given");
	len = strlen(td);
	ret = spiffe_td__check(td, len, err);
	if (ret)
		return ret;
	if (len > SPIFFE_TD_MAX)
		return nt_err_set(err, -EINVAL, "trust domain is too long");
	b = calloc(1, sizeof(*b));
	if (!b)
		return nt_err_set(err, -ENOMEM, "out of memory");
	b->x509_authorities = sk_X509_new_null();
	if (!b->x509_authorities) {
		free(b);
		return nt_err_set(err, -ENOMEM, "out of memory");
	}
	memcpy(b->td, td, len + 1);
	*out = b;
	return 0;
}

void bundle__free(struct bundle *b)
{
	if (!b)
		return;
	sk_X509_pop_free(b->x509_authorities, X509_free);
	bundle_jwt__free(b);
	free(b);
}

/* Same DER. X509_cmp() first: it compares cached SHA-1 fingerprints of
 * the DER, so differing certificates cost no encoding; but it trusts the
 * fingerprint alone for certificates built in memory, hence the check. */
static bool same_der(const X509 *a, const X509 *b)
{
	unsigned char *da = NULL, *db = NULL;
	bool same;
	int na, nb;

	if (X509_cmp(a, b))
		return false;
	na = i2d_X509(a, &da);
	nb = i2d_X509(b, &db);
	same = na > 0 && na == nb && !memcmp(da, db, (size_t)na);
	OPENSSL_free(da);
	OPENSSL_free(db);
	return same;
}

static bool has_authority(const struct bundle *b, const X509 *ca)
{
	int i;

	for (i = 0; i < sk_X509_num(b->x509_authorities); i++)
		if (same_der(sk_X509_value(b->x509_authorities, i), ca))
			return true;
	return false;
}

/* Adds without checks; 1 when added, 0 when already there. */
static int add_unique(struct bundle *b, X509 *ca, struct nt_err *err)
{
	if (has_authority(b, ca))
		return 0;
	if (!X509_up_ref(ca))
		return nt_err_ssl(err, -ENOMEM, "failed to reference certificate");
	if (!sk_X509_push(b->x509_authorities, ca)) {
		X509_free(ca);
		return nt_err_set(err, -ENOMEM, "out of memory");
	}
	return 1;
}

int bundle__add_authority(struct bundle *b, X509 *ca, struct nt_err *err)
{
	struct jwk_key j;
	int ret;

	if (!b || !ca)
		return nt_err_set(err, -EINVAL, "no bundle or certificate given");
	ret = authority_check(ca, &j, "authority", err);
	if (ret)
		return ret;
	jwk__clear(&j);
	return add_unique(b, ca, err);
}

bool bundle__same_authorities(const struct bundle *a, const struct bundle *b)
{
	int i, n;

	if (!a || !b)
		return a == b;
	if (!bundle_jwt__same(a, b))
		return false;
	/* Both sides hold no duplicates (add_unique), so equal counts and
	 * a ⊆ b mean equal sets. */
	n = sk_X509_num(a->x509_authorities);
	if (n != sk_X509_num(b->x509_authorities))
		return false;
	for (i = 0; i < n; i++)
		if (!has_authority(b, sk_X509_value(a->x509_authorities, i)))
			return false;
	return true;
}

/* ---- parsing ----------------------------------------------------------- */

/* A JSON number that is a whole value in [0, 2^53 - 1]. cJSON keeps only
 * the double, so "1.0" and "1e3" pass as the integers they denote. */
static int get_uint(const cJSON *item, const char *name, uint64_t *out,
		    struct nt_err *err)
{
	double d;

	if (!cJSON_IsNumber(item))
		return nt_err_set(err, -EINVAL, "bundle: %s must be an integer",
				  name);
	d = item->valuedouble;
	if (!(d >= 0))
		return nt_err_set(err, -EINVAL, "bundle: %s must not be negative",
				  name);
	if (d > (double)JSON_INT_MAX)
		return nt_err_set(err, -ERANGE,
				  "bundle: %s is larger than 2^53 - 1", name);
	if ((double)(uint64_t)d != d)
		return nt_err_set(err, -EINVAL, "bundle: %s must be an integer",
				  name);
	*out = (uint64_t)d;
	return 0;
}

/* The one certificate of an x509-svid entry's "x5c", as canonical DER. */
static int x5c_cert(const cJSON *key, const char *where, X509 **out,
		    struct nt_err *err)
{
	const cJSON *x5c = cJSON_GetObjectItemCaseSensitive(key, "x5c");
	unsigned char *der = NULL, *re = NULL;
	const unsigned char *p;
	X509 *cert = NULL;
	size_t der_len;
	int n, ret;

	if (!cJSON_IsArray(x5c))
		return nt_err_set(err, -EINVAL,
				  "%s: \"x5c\" is required and must be an array",
				  where);
	n = cJSON_GetArraySize(x5c);
	if (n != 1)
		return nt_err_set(err, -EINVAL,
				  "%s: x5c must hold exactly one certificate, has %d",
				  where, n);
	if (!cJSON_IsString(x5c->child))
		return nt_err_set(err, -EINVAL, "%s: x5c[0] must be a string",
				  where);
	ret = b64__decode(x5c->child->valuestring,
			 strlen(x5c->child->valuestring), false, &der, &der_len);
	if (ret == -ENOMEM)
		return nt_err_set(err, ret, "out of memory");
	if (ret)
		return nt_err_set(err, ret,
				  "%s: x5c[0] is not valid base64 (standard alphabet, padded)",
				  where);
	p = der;
	cert = d2i_X509(NULL, &p, (long)der_len);
	if (!cert || p != der + der_len) {
		nt_err_set(err, -EINVAL, "%s: x5c[0] is not a DER certificate",
			   where);
		ret = nt_err_ssl(err, -EINVAL, NULL);
		goto out;
	}
	/* Only canonical DER, so what we write back is byte-identical and
	 * two readers cannot disagree on what the certificate is. */
	n = i2d_X509(cert, &re);
	if (n < 0 || (size_t)n != der_len || memcmp(re, der, der_len)) {
		ret = nt_err_set(err, -EINVAL,
				 "%s: x5c[0] is not in canonical DER", where);
		goto out;
	}
	*out = cert;
	cert = NULL;
out:
	OPENSSL_free(re);
	X509_free(cert);
	free(der);
	return ret;
}

/* The entry's key members must be the certificate's key, member by member
 * (each has one canonical spelling, see b64_decode). */
static int jwk_match(const cJSON *key, const char *kty,
		     const struct jwk_key *j, const char *where,
		     struct nt_err *err)
{
	const cJSON *m;
	size_t i;

	if (strcmp(kty, j->kty))
		return nt_err_set(err, -EINVAL,
				  "%s: kty is \"%s\" but the certificate has an %s key",
				  where, kty, j->kty);
	for (i = 0; i < j->n; i++) {
		m = cJSON_GetObjectItemCaseSensitive(key, j->name[i]);
		if (!cJSON_IsString(m))
			return nt_err_set(err, -EINVAL,
					  "%s: \"%s\" is required and must be a string",
					  where, j->name[i]);
		if (strcmp(m->valuestring, j->val[i]))
			return nt_err_set(err, -EINVAL,
					  "%s: \"%s\" does not match the certificate's public key",
					  where, j->name[i]);
	}
	return 0;
}

static int parse_x509_key(struct bundle *b, const cJSON *key,
			  const char *where, struct nt_err *err)
{
	const cJSON *kty = cJSON_GetObjectItemCaseSensitive(key, "kty");
	struct jwk_key j = { 0 };
	X509 *cert = NULL;
	int ret;

	/* Unknown key types are ignored (SPIFFE bundle spec §4.2.1). */
	ret = jwk__kty_known(key, where, err);
	if (ret <= 0) {
		b->ignored_keys += !ret;
		return ret;
	}
	if (cJSON_GetObjectItemCaseSensitive(key, "kid"))
		return nt_err_set(err, -EINVAL,
				  "%s: x509-svid entries must not have \"kid\"",
				  where);
	ret = x5c_cert(key, where, &cert, err);
	if (ret)
		return ret;
	ret = authority_check(cert, &j, where, err);
	if (ret)
		goto out;
	ret = jwk_match(key, kty->valuestring, &j, where, err);
	if (ret)
		goto out;
	ret = add_unique(b, cert, err);
	if (ret > 0)
		ret = 0;
out:
	jwk__clear(&j);
	X509_free(cert);
	return ret;
}

static int parse_key(struct bundle *b, const cJSON *key, size_t idx,
		     struct nt_err *err)
{
	const cJSON *use;
	char where[32];

	snprintf(where, sizeof(where), "keys[%zu]", idx);
	if (!cJSON_IsObject(key))
		return nt_err_set(err, -EINVAL, "%s: must be a json object",
				  where);
	use = cJSON_GetObjectItemCaseSensitive(key, "use");
	if (!cJSON_IsString(use))
		return nt_err_set(err, -EINVAL,
				  "%s: \"use\" is required and must be a string",
				  where);
	if (!strcmp(use->valuestring, USE_X509))
		return parse_x509_key(b, key, where, err);
	if (!strcmp(use->valuestring, USE_JWT))
		return bundle_jwt__parse_entry(b, key, where, err);
	/* Unknown uses are ignored (spec §4.2.2), and counted so `nametag
	 * bundle show` can say what was skipped. */
	b->ignored_keys++;
	return 0;
}

static int parse_top(struct bundle *b, const cJSON *root, struct nt_err *err)
{
	const cJSON *keys, *key, *item;
	uint64_t v;
	size_t idx = 0;
	int ret;

	if (!cJSON_IsObject(root))
		return nt_err_set(err, -EINVAL, "bundle: must be a json object");
	keys = cJSON_GetObjectItemCaseSensitive(root, "keys");
	if (!keys)
		return nt_err_set(err, -EINVAL, "bundle: \"keys\" is required");
	if (!cJSON_IsArray(keys))
		return nt_err_set(err, -EINVAL, "bundle: \"keys\" must be an array");
	if (cJSON_GetArraySize(keys) > BUNDLE_MAX_KEYS)
		return nt_err_set(err, -E2BIG, "bundle: more than %d keys",
				  BUNDLE_MAX_KEYS);
	item = cJSON_GetObjectItemCaseSensitive(root, "spiffe_sequence");
	if (item) {
		ret = get_uint(item, "spiffe_sequence", &b->sequence, err);
		if (ret)
			return ret;
		b->has_sequence = true;
	}
	item = cJSON_GetObjectItemCaseSensitive(root, "spiffe_refresh_hint");
	if (item) {
		ret = get_uint(item, "spiffe_refresh_hint", &v, err);
		if (ret)
			return ret;
		b->refresh_hint = (int64_t)v;
		b->has_refresh_hint = true;
	}
	cJSON_ArrayForEach(key, keys) {
		ret = parse_key(b, key, idx++, err);
		if (ret)
			return ret;
	}
	return 0;
}

int bundle__parse(struct bundle **out, const char *td, const char *json,
		  size_t len, struct nt_err *err)
{
	struct bundle *b = NULL;
	cJSON *root = NULL;
	int ret;

	if (!json)
		return nt_err_set(err, -EINVAL, "bundle: no data");
	if (len > BUNDLE_MAX_BYTES)
		return nt_err_set(err, -EFBIG, "bundle: larger than %u bytes",
				  BUNDLE_MAX_BYTES);
	ret = bundle__new(&b, td, err);
	if (ret)
		return ret;
	ret = json__parse_strict(json, len, &root, err);
	if (ret) {
		nt_err_prefix(err, ret, "bundle");
		goto out;
	}
	ret = parse_top(b, root, err);
	if (ret)
		goto out;
	*out = b;
	b = NULL;
out:
	cJSON_Delete(root);
	bundle__free(b);
	return ret;
}

/* ---- writing ----------------------------------------------------------- */

static int jwk_to_json(X509 *ca, cJSON **out, struct nt_err *err)
{
	unsigned char *der = NULL;
	cJSON *obj, *x5c;
	char *b64 = NULL;
	struct jwk_key j;
	size_t i;
	int n, ret;

	ret = authority_check(ca, &j, "authority", err);
	if (ret)
		return ret;
	ret = -ENOMEM;
	obj = cJSON_CreateObject();
	n = i2d_X509(ca, &der);
	if (!obj || n <= 0)
		goto out;
	b64 = b64__encode(der, (size_t)n, false);
	if (!b64 || !cJSON_AddStringToObject(obj, "use", USE_X509) ||
	    !cJSON_AddStringToObject(obj, "kty", j.kty))
		goto out;
	for (i = 0; i < j.n; i++)
		if (!cJSON_AddStringToObject(obj, j.name[i], j.val[i]))
			goto out;
	x5c = cJSON_AddArrayToObject(obj, "x5c");
	if (!x5c || !cJSON_AddItemToArray(x5c, cJSON_CreateString(b64)))
		goto out;
	*out = obj;
	obj = NULL;
	ret = 0;
out:
	if (ret) {
		ERR_clear_error();
		nt_err_set(err, ret, "out of memory");
	}
	cJSON_Delete(obj);
	jwk__clear(&j);
	OPENSSL_free(der);
	free(b64);
	return ret;
}

/* Integers are written as raw text: exact, where a double might not be. */
static bool add_int(cJSON *obj, const char *name, uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
	return cJSON_AddRawToObject(obj, name, buf) != NULL;
}

static int bundle_to_cjson(const struct bundle *b, cJSON **out,
			   struct nt_err *err)
{
	cJSON *root = cJSON_CreateObject(), *keys, *jwk;
	int i, ret = -ENOMEM;

	keys = root ? cJSON_AddArrayToObject(root, "keys") : NULL;
	if (!keys)
		goto fail;
	for (i = 0; i < sk_X509_num(b->x509_authorities); i++) {
		ret = jwk_to_json(sk_X509_value(b->x509_authorities, i), &jwk,
				  err);
		if (ret) {
			cJSON_Delete(root);
			return ret;
		}
		ret = -ENOMEM;
		if (!cJSON_AddItemToArray(keys, jwk)) {
			cJSON_Delete(jwk);
			goto fail;
		}
	}
	ret = bundle_jwt__to_json(b, keys, err);
	if (ret) {
		cJSON_Delete(root);
		return ret;
	}
	ret = -ENOMEM;
	if (b->has_sequence && !add_int(root, "spiffe_sequence", b->sequence))
		goto fail;
	if (b->has_refresh_hint && (b->refresh_hint < 0 ||
	    !add_int(root, "spiffe_refresh_hint", (uint64_t)b->refresh_hint))) {
		ret = -EINVAL;
		goto fail;
	}
	*out = root;
	return 0;
fail:
	cJSON_Delete(root);
	return nt_err_set(err, ret, ret == -ENOMEM ? "out of memory" :
			  "bundle: refresh hint is negative");
}

int bundle__to_json(const struct bundle *b, bool pretty, char **json,
		    struct nt_err *err)
{
	cJSON *root = NULL;
	char *s;
	int ret;

	if (!b)
		return nt_err_set(err, -EINVAL, "no bundle given");
	ret = bundle_to_cjson(b, &root, err);
	if (ret)
		return ret;
	s = pretty ? cJSON_Print(root) : cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	if (!s)
		return nt_err_set(err, -ENOMEM, "out of memory");
	/* Hand out plain malloc memory, whatever allocator cJSON uses. */
	*json = strdup(s);
	cJSON_free(s);
	if (!*json)
		return nt_err_set(err, -ENOMEM, "out of memory");
	return 0;
}

int bundle__load(struct bundle **b, const char *td, const char *path,
		 struct nt_err *err)
{
	char *buf = NULL;
	size_t len;
	int ret;

	/* state__read's errors already name the file. */
	ret = state__read(path, BUNDLE_MAX_BYTES, false, &buf, &len, err);
	if (ret)
		return ret;
	ret = bundle__parse(b, td, buf, len, err);
	if (ret)
		nt_err_prefix(err, ret, path);
	free(buf);
	return ret;
}

int bundle__save(const struct bundle *b, const char *path, struct nt_err *err)
{
	char *json = NULL, *data;
	size_t len;
	int ret;

	ret = bundle__to_json(b, true, &json, err);
	if (ret)
		return ret;
	len = strlen(json);
	data = realloc(json, len + 2);
	if (!data) {
		free(json);
		return nt_err_set(err, -ENOMEM, "out of memory");
	}
	data[len++] = '\n';
	data[len] = '\0';
	/* A bundle holds only public certificates. */
	ret = state__write(path, data, len, 0644, err);
	free(data);
	return ret;
}
