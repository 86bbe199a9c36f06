// SPDX-License-Identifier: Apache-2.0
/*
 * Federation's values in etcd (docs/fleet.md "Federation"): where the
 * operator says another trust domain's bundle endpoint is
 * (federation/<td>), and the bundle the fetcher got from it
 * (config/bundles/<td>), which every node reads. The CLI checks with
 * these before writing, the fetcher before storing, every node before
 * trusting: one reading everywhere, strict as the other fleet values.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "enforce/enforce_int.h"

#define PROFILE_WEB	"https_web"

int fleet_fed__check_url(const char *url, struct nt_err *err)
{
	static const char scheme[] = "https://";
	size_t len = strlen(url), i;

	if (len >= FLEET_FED_URL_MAX)
		return nt_err_set(err, -EINVAL, "endpoint URL longer than %d bytes",
				  FLEET_FED_URL_MAX - 1);
	/* https_web authenticates the server by the URL's host with Web
	 * PKI: plain http would let anyone on the path hand us a bundle. */
	if (strncmp(url, scheme, strlen(scheme)))
		return nt_err_set(err, -EINVAL,
				  "endpoint URL '%s': the https_web profile needs https://",
				  url);
	if (!url[strlen(scheme)] || strchr("/:?#", url[strlen(scheme)]))
		return nt_err_set(err, -EINVAL, "endpoint URL '%s' has no host", url);
	for (i = 0; i < len; i++)
		if ((unsigned char)url[i] <= ' ' || url[i] == 0x7f)
			return nt_err_set(err, -EINVAL,
					  "endpoint URL holds a blank or control byte");
	return 0;
}

int fleet_fed__parse(struct fleet_fed *f, const char *td, const char *json,
		     size_t len, struct nt_err *err)
{
	static const char *const keys[] = { "endpoint_url", "profile", NULL };
	char profile[32];
	cJSON *root;
	int ret;

	memset(f, 0, sizeof(*f));
	if (spiffe_td__check(td, strlen(td), err))
		return -EINVAL;
	snprintf(f->td, sizeof(f->td), "%s", td);
	ret = fleet__parse_root(json, len, keys, &root, err);
	if (ret)
		return ret;
	ret = fleet__get_str(root, "endpoint_url", f->url, sizeof(f->url), false, err);
	if (!ret)
		ret = fleet_fed__check_url(f->url, err);
	if (!ret)
		ret = fleet__get_str(root, "profile", profile, sizeof(profile), false, err);
	/* https_spiffe (the endpoint's own SVID) would need the other
	 * domain's bundle first: not offered. */
	if (!ret && strcmp(profile, PROFILE_WEB))
		ret = nt_err_set(err, -EOPNOTSUPP,
				 "profile '%s': only " PROFILE_WEB " is supported", profile);
	cJSON_Delete(root);
	return ret;
}

int fleet_fed__to_json(const struct fleet_fed *f, char **json,
		       struct nt_err *err)
{
	cJSON *o = cJSON_CreateObject();

	if (o) {
		cJSON_AddStringToObject(o, "endpoint_url", f->url);
		cJSON_AddStringToObject(o, "profile", PROFILE_WEB);
	}
	return fleet__emit(o, json, err);
}

int fleet_fed__check_bundle(const struct bundle *b, const char *own_td,
			    struct nt_err *err)
{
	struct spiffe_id id;
	struct nt_err e2 = {};
	int i, n = sk_X509_num(b->x509_authorities);

	if (own_td && !strcmp(b->td, own_td))
		return nt_err_set(err, -EPERM,
				  "%s is this fleet's own trust domain: its bundle comes from the signer",
				  own_td);
	if (!n && !b->jwt_count)
		return nt_err_set(err, -EINVAL, "the bundle of %s holds no authority",
				  b->td);
	for (i = 0; i < n; i++) {
		/* A CA without a SPIFFE URI SAN names no domain; one that
		 * names another domain is that domain's, not this one's. */
		if (x509__spiffe_id(sk_X509_value(b->x509_authorities, i), &id, &e2))
			continue;
		if (strcmp(id.td, b->td))
			return nt_err_set(err, -EINVAL,
					  "authority %d of the bundle of %s is of trust domain %s",
					  i, b->td, id.td);
	}
	return 0;
}

int64_t fleet_fed__refresh(const struct bundle *b, int64_t min)
{
	int64_t s = b->has_refresh_hint ? b->refresh_hint : BUNDLE_REFRESH_HINT;

	if (min <= 0)
		min = FLEET_FED_REFRESH_MIN;
	return s < min ? min : s > FLEET_FED_REFRESH_MAX ? FLEET_FED_REFRESH_MAX : s;
}

bool fleet_fed__stale(const struct fleet_fed_bundle *fb, int64_t now)
{
	return now - fb->fetched_at > FLEET_FED_STALE_FACTOR * fb->refresh_hint;
}

static int get_i64(const cJSON *o, const char *key, int64_t min, int64_t *out,
		   struct nt_err *err)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);

	if (!cJSON_IsNumber(it) || it->valuedouble != (double)(int64_t)it->valuedouble ||
	    it->valuedouble < (double)min || it->valuedouble > 4e15)
		return nt_err_set(err, -EINVAL, "\"%s\" must be an integer >= %lld",
				  key, (long long)min);
	*out = (int64_t)it->valuedouble;
	return 0;
}

void fleet_fed_bundle__release(struct fleet_fed_bundle *fb)
{
	bundle__free(fb->b);
	fb->b = NULL;
}

int fleet_fed_bundle__parse(struct fleet_fed_bundle *fb, const char *td,
			    const char *own_td, const char *json, size_t len,
			    struct nt_err *err)
{
	static const char *const keys[] = { "trust_domain", "bundle",
					    "endpoint_url", "fetched_at",
					    "refresh_hint", NULL };
	cJSON *root;
	int ret;

	memset(fb, 0, sizeof(*fb));
	ret = fleet__parse_root(json, len, keys, &root, err);
	if (ret)
		return ret;
	ret = fleet__bundle_of(root, &fb->b, err);
	if (!ret && strcmp(fb->b->td, td))
		ret = nt_err_set(err, -EINVAL, "the bundle of %s under the key of %s",
				 fb->b->td, td);
	if (!ret)
		ret = fleet_fed__check_bundle(fb->b, own_td, err);
	if (!ret)
		ret = fleet__get_str(root, "endpoint_url", fb->url, sizeof(fb->url),
				     false, err);
	if (!ret)
		ret = get_i64(root, "fetched_at", 0, &fb->fetched_at, err);
	if (!ret)
		ret = get_i64(root, "refresh_hint", 1, &fb->refresh_hint, err);
	cJSON_Delete(root);
	if (ret)
		fleet_fed_bundle__release(fb);
	return ret;
}

int fleet_fed_bundle__to_json(const struct fleet_fed_bundle *fb, char **json,
			      struct nt_err *err)
{
	cJSON *o = fleet__bundle_object(fb->b, err);

	if (!o)
		return -ENOMEM;
	cJSON_AddStringToObject(o, "endpoint_url", fb->url);
	json__add_u64(o, "fetched_at", (uint64_t)fb->fetched_at);
	json__add_u64(o, "refresh_hint", (uint64_t)fb->refresh_hint);
	return fleet__emit(o, json, err);
}
