// SPDX-License-Identifier: Apache-2.0
/*
 * Sets of trust bundles, one per trust domain and never merged, and the
 * loading of a state dir's local and federated bundles. A bundle file that
 * does not parse fails the whole load: trust never falls back to less.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ca/ca.h"

#define BUNDLE_SET_MAX		4096	/* trust domains in one set */
#define JSON_SUFFIX		".json"
#define JSON_SUFFIX_LEN		5

/* ---- struct bundle_set ------------------------------------------------- */

struct bundle_set {
	struct bundle **v;
	size_t n, cap;
};

int bundle_set__new(struct bundle_set **set)
{
	*set = calloc(1, sizeof(**set));
	return *set ? 0 : -ENOMEM;
}

void bundle_set__free(struct bundle_set *set)
{
	size_t i;

	if (!set)
		return;
	for (i = 0; i < set->n; i++)
		bundle__free(set->v[i]);
	free(set->v);
	free(set);
}

const struct bundle *bundle_set__find(const struct bundle_set *set,
				      const char *td, size_t td_len)
{
	size_t i;

	if (!set || !td || td_len > SPIFFE_TD_MAX)
		return NULL;
	/* Exact bytes and length: "example.org" never finds "example.or". */
	for (i = 0; i < set->n; i++)
		if (strlen(set->v[i]->td) == td_len &&
		    !memcmp(set->v[i]->td, td, td_len))
			return set->v[i];
	return NULL;
}

/* On failure the caller still owns @b. */
int bundle_set__add(struct bundle_set *set, struct bundle *b,
		    struct nt_err *err)
{
	struct bundle **v;
	size_t cap;

	if (!set || !b)
		return nt_err_set(err, -EINVAL, "no bundle set or bundle given");
	/* Two bundles of one trust domain are never merged: that would let
	 * either source vouch for the other's keys. */
	if (bundle_set__find(set, b->td, strlen(b->td)))
		return nt_err_set(err, -EEXIST,
				  "a bundle for trust domain %s is already loaded",
				  b->td);
	if (set->n >= BUNDLE_SET_MAX)
		return nt_err_set(err, -E2BIG, "more than %d trust bundles",
				  BUNDLE_SET_MAX);
	if (set->n == set->cap) {
		cap = set->cap ? set->cap * 2 : 4;
		v = realloc(set->v, cap * sizeof(*v));
		if (!v)
			return nt_err_set(err, -ENOMEM, "out of memory");
		set->v = v;
		set->cap = cap;
	}
	set->v[set->n++] = b;
	return 0;
}

size_t bundle_set__count(const struct bundle_set *set)
{
	return set ? set->n : 0;
}

const struct bundle *bundle_set__at(const struct bundle_set *set, size_t i)
{
	return set && i < set->n ? set->v[i] : NULL;
}

/* ---- the state dir's trust store --------------------------------------- */

static int join(char *buf, size_t size, const char *dir, const char *name,
		struct nt_err *err)
{
	if ((size_t)snprintf(buf, size, "%s/%s", dir, name) >= size)
		return nt_err_set(err, -ENAMETOOLONG, "path too long: %s/%s",
				  dir, name);
	return 0;
}

/* The local trust domain, from ca.json's "trust_domain". The CA code owns
 * that file's format; only this one key is read. */
static int local_trust_domain(const char *state_dir, char *td,
			      struct nt_err *err)
{
	char path[PATH_MAX], *buf = NULL;
	size_t len, buf_len = 0;
	const cJSON *item;
	cJSON *root = NULL;
	int ret;

	ret = join(path, sizeof(path), state_dir, STATE_CA_FILE, err);
	if (ret)
		return ret;
	ret = state__read(path, BUNDLE_MAX_BYTES, false, &buf, &buf_len, err);
	if (ret == -ENOENT)
		return nt_err_set(err, ret,
				  "no CA in %s (run `nametag ca init` first)",
				  state_dir);
	if (ret)
		return ret;
	ret = json__parse_strict(buf, buf_len, &root, err);
	if (ret)
		goto out;
	item = cJSON_GetObjectItemCaseSensitive(root, "trust_domain");
	if (!cJSON_IsString(item)) {
		ret = nt_err_set(err, -EINVAL,
				 "\"trust_domain\" is missing or not a string");
		goto out;
	}
	len = strlen(item->valuestring);
	ret = spiffe_td__check(item->valuestring, len, err);
	if (ret)
		goto out;
	memcpy(td, item->valuestring, len + 1);
out:
	if (ret)
		nt_err_prefix(err, ret, path);
	cJSON_Delete(root);
	/* ca.json may hold more than public data: zero it on the way out. */
	state__free_secret(buf, buf_len);
	return ret;
}

/* "example.org.json" -> "example.org"; false for names to skip: not
 * ending in .json, hidden (temp files), or not a valid trust domain. */
static bool federated_td(const char *name, char *td)
{
	size_t len = strlen(name);

	if (name[0] == '.' || len <= JSON_SUFFIX_LEN ||
	    strcmp(name + len - JSON_SUFFIX_LEN, JSON_SUFFIX))
		return false;
	len -= JSON_SUFFIX_LEN;
	if (len > SPIFFE_TD_MAX)
		return false;
	memcpy(td, name, len);
	td[len] = '\0';
	return spiffe_td__check(td, len, NULL) == 0;
}

static int load_one(struct bundle_set *set, const char *dir, const char *name,
		    const char *td, struct nt_err *err)
{
	struct bundle *b = NULL;
	char path[PATH_MAX];
	int ret;

	ret = join(path, sizeof(path), dir, name, err);
	if (ret)
		return ret;
	ret = bundle__load(&b, td, path, err);
	if (ret)
		return ret;
	ret = bundle_set__add(set, b, err);
	if (ret) {
		nt_err_prefix(err, ret, path);
		bundle__free(b);
	}
	return ret;
}

static int load_federated(struct bundle_set *set, const char *state_dir,
			  struct nt_err *err)
{
	char dir[PATH_MAX], td[SPIFFE_TD_MAX + 1];
	struct dirent **names = NULL;
	int i, n, ret = 0;

	ret = join(dir, sizeof(dir), state_dir, STATE_FEDERATION_DIR, err);
	if (ret)
		return ret;
	/* Sorted, so sets (and `nametag bundle list`) come out the same
	 * on every load. */
	n = scandir(dir, &names, NULL, alphasort);
	if (n < 0 && errno == ENOENT)
		return 0;
	if (n < 0)
		return nt_err_set(err, -errno, "failed to read %s: %s", dir,
				  strerror(errno));
	for (i = 0; i < n && !ret; i++)
		if (federated_td(names[i]->d_name, td))
			ret = load_one(set, dir, names[i]->d_name, td, err);
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return ret;
}

int trust__load(const char *state_dir, struct bundle_set **out,
		struct nt_err *err)
{
	char td[SPIFFE_TD_MAX + 1], path[PATH_MAX];
	struct bundle_set *set = NULL;
	struct bundle *b = NULL;
	int ret;

	ret = local_trust_domain(state_dir, td, err);
	if (ret)
		return ret;
	ret = join(path, sizeof(path), state_dir, STATE_BUNDLE_FILE, err);
	if (ret)
		return ret;
	if (bundle_set__new(&set))
		return nt_err_set(err, -ENOMEM, "out of memory");
	ret = bundle__load(&b, td, path, err);
	if (ret)
		goto out;
	ret = bundle_set__add(set, b, err);
	if (ret) {
		bundle__free(b);
		goto out;
	}
	ret = load_federated(set, state_dir, err);
	if (ret)
		goto out;
	*out = set;
	set = NULL;
out:
	bundle_set__free(set);
	return ret;
}
