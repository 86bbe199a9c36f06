// SPDX-License-Identifier: Apache-2.0
/*
 * Strict JSON on top of cJSON. cJSON accepts duplicate keys (the first one
 * wins on lookup), trailing bytes and unbounded nesting; a security tool
 * must refuse all three, since two readers of one file could otherwise see
 * two different documents.
 */
#include <errno.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ca/ca.h"

#define JSON_MAX_DEPTH 32

static int check_object(const cJSON *obj, int depth, struct nt_err *err)
{
	const cJSON *a, *b;
	int ret;

	if (depth > JSON_MAX_DEPTH)
		return nt_err_set(err, -EINVAL,
				  "json nested deeper than %d levels",
				  JSON_MAX_DEPTH);
	for (a = obj->child; a; a = a->next) {
		/* Objects are small (tens of keys): quadratic is fine. */
		if (cJSON_IsObject(obj))
			for (b = a->next; b; b = b->next)
				if (!strcmp(a->string, b->string))
					return nt_err_set(err, -EINVAL,
							  "duplicate json key \"%s\"",
							  a->string);
		if (a->child) {
			ret = check_object(a, depth + 1, err);
			if (ret)
				return ret;
		}
	}
	return 0;
}

/*
 * cJSON decodes "\u0000" into a NUL inside a C string, so a reader would
 * see a shorter value than the one the file holds. Refuse the escape: an
 * odd run of backslashes before "u0000" makes it one.
 */
static int find_nul_escape(const char *buf, size_t len, size_t *at)
{
	size_t i, bs = 0;

	for (i = 0; i < len; i++) {
		if (buf[i] == '\\') {
			bs++;
			continue;
		}
		if (bs % 2 && buf[i] == 'u' && len - i >= 5 &&
		    !memcmp(buf + i + 1, "0000", 4)) {
			*at = i - 1;
			return -EINVAL;
		}
		bs = 0;
	}
	return 0;
}

int json__parse_strict(const char *buf, size_t len, cJSON **out,
		       struct nt_err *err)
{
	const char *end = NULL;
	cJSON *root;
	size_t i;
	int ret;

	if (memchr(buf, '\0', len))
		return nt_err_set(err, -EINVAL, "json contains a NUL byte at offset %zu",
				  (size_t)((const char *)memchr(buf, '\0', len) - buf));
	if (find_nul_escape(buf, len, &i))
		return nt_err_set(err, -EINVAL,
				  "json contains an escaped NUL (\\u0000) at offset %zu",
				  i);
	root = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
	if (!root) {
		end = cJSON_GetErrorPtr();
		if (end >= buf && end <= buf + len)
			return nt_err_set(err, -EINVAL,
					  "invalid json at offset %zu",
					  (size_t)(end - buf));
		return nt_err_set(err, -EINVAL, "invalid json");
	}
	for (i = (size_t)(end - buf); i < len; i++) {
		if (!strchr(" \t\r\n", buf[i])) {
			cJSON_Delete(root);
			return nt_err_set(err, -EINVAL,
					  "trailing data after json value at offset %zu",
					  i);
		}
	}
	ret = check_object(root, 1, err);
	if (ret) {
		cJSON_Delete(root);
		return ret;
	}
	*out = root;
	return 0;
}

int json__only_keys(const cJSON *obj, const char *const *allowed,
		    const char *where, struct nt_err *err)
{
	const cJSON *it;
	size_t i;

	if (!cJSON_IsObject(obj))
		return nt_err_set(err, -EINVAL, "%s: expected a json object",
				  where);
	for (it = obj->child; it; it = it->next) {
		for (i = 0; allowed[i]; i++)
			if (!strcmp(it->string, allowed[i]))
				break;
		if (!allowed[i])
			return nt_err_set(err, -EINVAL, "%s: unknown key \"%s\"",
					  where, it->string);
	}
	return 0;
}
