// SPDX-License-Identifier: Apache-2.0
/*
 * Where is the duplicate key? json__parse_strict refuses a document with a
 * key twice in one object but names only the key; an operator editing a
 * policy of thousands of rules needs the path ("namespaces.shop.rules[3]:
 * duplicate key "to""). cJSON itself keeps duplicates, so a lenient parse
 * of the refused text finds the same key by the same depth-first order.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "enforce/enforce_int.h"

#define JSON_PATH_DEPTH	32	/* as deep as json__parse_strict allows */

/* The path of child @i (key @it->string) of a node at @where. */
static void child_path(char *buf, const char *where, const cJSON *it,
		       size_t i, bool in_object)
{
	int n;

	if (!in_object)
		n = snprintf(buf, POLICY_WHERE_MAX, "%s[%zu]", where, i);
	else if (!where[0])
		n = snprintf(buf, POLICY_WHERE_MAX, "%.64s", it->string);
	else
		n = snprintf(buf, POLICY_WHERE_MAX, "%s.%.64s", where,
			     it->string);
	if (n < 0)
		buf[0] = '\0';
}

static bool find_duplicate(const cJSON *node, const char *where, int depth,
			   struct nt_err *err)
{
	char w[POLICY_WHERE_MAX];
	bool obj = cJSON_IsObject(node);
	const cJSON *a, *b;
	size_t i = 0;

	if (depth > JSON_PATH_DEPTH)
		return false;
	for (a = node->child; a; a = a->next, i++) {
		for (b = a->next; obj && b; b = b->next) {
			if (strcmp(a->string, b->string))
				continue;
			nt_err_set(err, -EINVAL, "%s: duplicate key \"%.64s\"",
				   where[0] ? where : "policy", a->string);
			return true;
		}
		child_path(w, where, a, i, obj);
		if (a->child && find_duplicate(a, w, depth + 1, err))
			return true;
	}
	return false;
}

void dup_key__locate(const char *json, size_t len, struct nt_err *err)
{
	cJSON *root = cJSON_ParseWithLength(json, len);

	/* Not found (or no memory): the strict parser's message stands. */
	if (!root)
		return;
	find_duplicate(root, "", 1, err);
	cJSON_Delete(root);
}
