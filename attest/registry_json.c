// SPDX-License-Identifier: Apache-2.0
/*
 * The registry on disk:
 *
 *	{"entries": [{"spiffe_id": "spiffe://td/web",
 *		      "selectors": ["unix:uid:1000", "cgroup:path:/shop/web"]}]}
 *
 * Parsed strictly (no unknown or duplicate key, no trailing bytes) and in
 * full into a scratch registry before anything changes: a file that fails
 * anywhere leaves the loaded registry as it was, and the error names the
 * place ("entries[2].selectors[1]: ..."). Every entry goes through the same
 * checks as attest_registry__add, ambiguity included.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "attest/attest_int.h"

#define REGISTRY_MAX_BYTES	(16u << 20)

static const char *const top_keys[] = { "entries", NULL };
static const char *const entry_keys[] = { "spiffe_id", "selectors", NULL };

static int parse_selectors(const cJSON *arr, const char *where,
			   struct attest_entry *e, struct nt_err *err)
{
	struct nt_err inner = { "" };
	const cJSON *it;
	size_t n = 0;
	int ret;

	if (!cJSON_IsArray(arr))
		return nt_err_set(err, -EINVAL,
				  "%s.selectors: expected an array of strings",
				  where);
	cJSON_ArrayForEach(it, arr) {
		if (n >= ATTEST_SELECTOR_MAX)
			return nt_err_set(err, -EINVAL,
					  "%s.selectors: more than %d selectors",
					  where, ATTEST_SELECTOR_MAX);
		if (!cJSON_IsString(it))
			return nt_err_set(err, -EINVAL,
					  "%s.selectors[%zu]: expected a string",
					  where, n);
		ret = selector__parse(&e->selectors[n], it->valuestring,
				      &inner);
		if (ret)
			return nt_err_set(err, ret, "%s.selectors[%zu]: %s",
					  where, n, inner.msg);
		n++;
	}
	e->nselectors = n;
	return 0;
}

static int parse_entry(const cJSON *obj, const char *where,
		       struct attest_entry *e, struct nt_err *err)
{
	struct nt_err inner = { "" };
	const cJSON *id, *sels;
	int ret;

	memset(e, 0, sizeof(*e));
	ret = json__only_keys(obj, entry_keys, where, err);
	if (ret)
		return ret;
	id = cJSON_GetObjectItemCaseSensitive(obj, "spiffe_id");
	sels = cJSON_GetObjectItemCaseSensitive(obj, "selectors");
	if (!cJSON_IsString(id))
		return nt_err_set(err, -EINVAL, "%s.spiffe_id: %s", where,
				  id ? "expected a string" : "missing");
	ret = spiffe_id__parse(&e->id, id->valuestring,
			       strlen(id->valuestring), &inner);
	if (ret)
		return nt_err_set(err, ret, "%s.spiffe_id: %s", where,
				  inner.msg);
	if (!sels)
		return nt_err_set(err, -EINVAL, "%s.selectors: missing", where);
	return parse_selectors(sels, where, e, err);
}

/* The whole document into @reg (empty). */
static int parse_doc(const cJSON *root, struct attest_registry *reg,
		     struct nt_err *err)
{
	const cJSON *entries, *it;
	struct attest_entry *e;
	char where[32];
	size_t i = 0;
	int ret;

	ret = json__only_keys(root, top_keys, "registry", err);
	if (ret)
		return ret;
	entries = cJSON_GetObjectItemCaseSensitive(root, "entries");
	if (!cJSON_IsArray(entries))
		return nt_err_set(err, -EINVAL, "entries: %s",
				  entries ? "expected an array" : "missing");
	e = malloc(sizeof(*e));
	if (!e)
		return nt_err_set(err, -ENOMEM, "out of memory");
	cJSON_ArrayForEach(it, entries) {
		snprintf(where, sizeof(where), "entries[%zu]", i++);
		ret = parse_entry(it, where, e, err);
		if (!ret)
			ret = registry__add_at(reg, e, where, err);
		if (ret)
			break;
	}
	free(e);
	return ret;
}

/* Prefixes err->msg with the file's path. */
static int in_file(struct nt_err *err, int code, const char *path)
{
	char msg[sizeof(err->msg)];

	if (!err)
		return code;
	memcpy(msg, err->msg, sizeof(msg));
	return nt_err_set(err, code, "%s: %s", path, msg);
}

int attest_registry__load(struct attest_registry *reg, const char *path,
			  struct nt_err *err)
{
	struct attest_registry *fresh = NULL;
	cJSON *root = NULL;
	char *buf = NULL;
	size_t len = 0;
	int ret;

	if (!reg || !path)
		return nt_err_set(err, -EINVAL, "no registry or path");
	ret = attest_registry__new(&fresh);
	if (ret)
		return nt_err_set(err, ret, "out of memory");
	ret = state__read(path, REGISTRY_MAX_BYTES, false, &buf, &len, err);
	if (ret == -ENOENT) {
		ret = 0;	/* no file yet: no entries */
		goto commit;
	}
	if (ret)
		goto out;
	ret = json__parse_strict(buf, len, &root, err);
	if (!ret)
		ret = parse_doc(root, fresh, err);
	if (ret) {
		in_file(err, ret, path);
		goto out;
	}
commit:
	registry__swap(reg, fresh);
out:
	cJSON_Delete(root);
	free(buf);
	attest_registry__free(fresh);
	return ret;
}

static cJSON *entry_json(const struct attest_entry *e)
{
	char buf[ATTEST_TYPE_MAX + ATTEST_VALUE_MAX + 2];
	cJSON *obj, *arr;
	size_t i;

	obj = cJSON_CreateObject();
	if (!obj || !cJSON_AddStringToObject(obj, "spiffe_id", e->id.str))
		goto fail;
	arr = cJSON_AddArrayToObject(obj, "selectors");
	if (!arr)
		goto fail;
	for (i = 0; i < e->nselectors; i++) {
		if (selector__format(&e->selectors[i], buf, sizeof(buf)) ||
		    !cJSON_AddItemToArray(arr, cJSON_CreateString(buf)))
			goto fail;
	}
	return obj;
fail:
	cJSON_Delete(obj);
	return NULL;
}

static char *registry_json(const struct attest_registry *reg)
{
	cJSON *root, *arr, *obj;
	char *out = NULL;
	size_t i;

	root = cJSON_CreateObject();
	arr = root ? cJSON_AddArrayToObject(root, "entries") : NULL;
	if (!arr)
		goto out;
	for (i = 0; i < reg->n; i++) {
		obj = entry_json(&reg->entries[i]);
		if (!obj || !cJSON_AddItemToArray(arr, obj)) {
			cJSON_Delete(obj);
			goto out;
		}
	}
	out = cJSON_Print(root);
out:
	cJSON_Delete(root);
	return out;
}

int attest_registry__save(const struct attest_registry *reg, const char *path,
			  struct nt_err *err)
{
	char *json;
	int ret;

	if (!reg || !path)
		return nt_err_set(err, -EINVAL, "no registry or path");
	json = registry_json(reg);
	if (!json)
		return nt_err_set(err, -ENOMEM,
				  "out of memory while writing the registry");
	ret = state__write(path, json, strlen(json), 0600, err);
	free(json);
	return ret;
}
