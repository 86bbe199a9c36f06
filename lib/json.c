// SPDX-License-Identifier: Apache-2.0
/*
 * Strict JSON on top of cJSON. cJSON accepts duplicate keys (the first one
 * wins on lookup), trailing bytes and unbounded nesting; a security tool
 * must refuse all three, since two readers of one file could otherwise see
 * two different documents. A policy of thousands of rules also needs the
 * place of a duplicate key, not only its name: json__parse_strict_at().
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "lib/ntcore.h"

#define JSON_MAX_DEPTH	32
#define JSON_PATH_MAX	256

/* Where the walk is, for the message of a duplicate key: NULL @root keeps
 * the short message ("duplicate json key \"k\""). */
struct walk {
	const char *root;
	char path[JSON_PATH_MAX];
	size_t off;			/* of a syntax error, when known */
	bool has_off;
};

/* The path of child @i (key @it->string) of a node at @where. */
static void child_path(char *buf, const char *where, const cJSON *it,
		       size_t i, bool in_object)
{
	int n;

	if (!in_object)
		n = snprintf(buf, JSON_PATH_MAX, "%s[%zu]", where, i);
	else if (!where[0])
		n = snprintf(buf, JSON_PATH_MAX, "%.64s", it->string);
	else
		n = snprintf(buf, JSON_PATH_MAX, "%s.%.64s", where, it->string);
	if (n < 0)
		buf[0] = '\0';
}

static int duplicate(const struct walk *w, const char *where, const char *key,
		     struct nt_err *err)
{
	if (!w->root)
		return nt_err_set(err, -EINVAL, "duplicate json key \"%s\"", key);
	return nt_err_set(err, -EINVAL, "%s: duplicate key \"%.64s\"",
			  where[0] ? where : w->root, key);
}

/* Depth first, each key against its later siblings before its children:
 * the first duplicate in document order is the one named. */
static int check_object(struct walk *w, const cJSON *obj, const char *where,
			int depth, struct nt_err *err)
{
	bool is_obj = cJSON_IsObject(obj);
	char path[JSON_PATH_MAX];
	const cJSON *a, *b;
	size_t i = 0;
	int ret;

	if (depth > JSON_MAX_DEPTH)
		return nt_err_set(err, -EINVAL,
				  "json nested deeper than %d levels",
				  JSON_MAX_DEPTH);
	for (a = obj->child; a; a = a->next, i++) {
		/* Objects are small (tens of keys): quadratic is fine. */
		for (b = a->next; is_obj && b; b = b->next)
			if (!strcmp(a->string, b->string))
				return duplicate(w, where, a->string, err);
		if (!a->child)
			continue;
		if (w->root)
			child_path(path, where, a, i, is_obj);
		ret = check_object(w, a, w->root ? path : "", depth + 1, err);
		if (ret)
			return ret;
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

static int parse_strict(const char *buf, size_t len, struct walk *w,
			cJSON **out, struct nt_err *err)
{
	const char *end = NULL;
	cJSON *root;
	size_t i;
	int ret;

	if (memchr(buf, '\0', len)) {
		w->off = (size_t)((const char *)memchr(buf, '\0', len) - buf);
		w->has_off = true;
		return nt_err_set(err, -EINVAL, "json contains a NUL byte at offset %zu",
				  w->off);
	}
	if (find_nul_escape(buf, len, &i)) {
		w->off = i;
		w->has_off = true;
		return nt_err_set(err, -EINVAL,
				  "json contains an escaped NUL (\\u0000) at offset %zu",
				  i);
	}
	root = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
	if (!root) {
		end = cJSON_GetErrorPtr();
		if (end >= buf && end <= buf + len) {
			w->off = (size_t)(end - buf);
			w->has_off = true;
			return nt_err_set(err, -EINVAL,
					  "invalid json at offset %zu", w->off);
		}
		return nt_err_set(err, -EINVAL, "invalid json");
	}
	for (i = (size_t)(end - buf); i < len; i++) {
		if (!strchr(" \t\r\n", buf[i])) {
			cJSON_Delete(root);
			w->off = i;
			w->has_off = true;
			return nt_err_set(err, -EINVAL,
					  "trailing data after json value at offset %zu",
					  i);
		}
	}
	ret = check_object(w, root, "", 1, err);
	if (ret) {
		cJSON_Delete(root);
		return ret;
	}
	*out = root;
	return 0;
}

int json__parse_strict(const char *buf, size_t len, cJSON **out,
		       struct nt_err *err)
{
	struct walk w = {};

	return parse_strict(buf, len, &w, out, err);
}

int json__parse_strict_at(const char *buf, size_t len, const char *root,
			  cJSON **out, struct nt_err *err)
{
	struct walk w = { .root = root };

	return parse_strict(buf, len, &w, out, err);
}

void json__line_col(const char *buf, size_t off, unsigned int *line,
		    unsigned int *col)
{
	size_t i;

	*line = 1;
	*col = 1;
	for (i = 0; i < off && buf[i]; i++) {
		if (buf[i] == '\n') {
			(*line)++;
			*col = 1;
		} else if (((unsigned char)buf[i] & 0xc0) != 0x80) {
			(*col)++;	/* a character, not a UTF-8 byte */
		}
	}
}

/* Past the string that starts at @i (its opening quote); @len if none. */
static size_t skip_string(const char *buf, size_t len, size_t i)
{
	for (i++; i < len; i++) {
		if (buf[i] == '\\')
			i++;
		else if (buf[i] == '"')
			return i + 1;
	}
	return len;
}

long json__key_offset(const char *buf, size_t len, const char *key,
		      unsigned int nth)
{
	size_t i = 0, end, klen = strlen(key), j;
	int depth = 0;

	while (i < len) {
		if (buf[i] == '{' || buf[i] == '[') {
			depth++;
		} else if (buf[i] == '}' || buf[i] == ']') {
			depth--;
		} else if (buf[i] == '"') {
			end = skip_string(buf, len, i);
			for (j = end; j < len && strchr(" \t\r\n", buf[j]); j++)
				;
			if (depth == 1 && j < len && buf[j] == ':' &&
			    end - i - 2 == klen && !memcmp(buf + i + 1, key, klen) &&
			    nth-- == 0)
				return (long)i;
			i = end;
			continue;
		}
		i++;
	}
	return -1;
}

int json__parse_file(const char *path, const char *buf, size_t len,
		     cJSON **out, struct nt_err *err)
{
	struct walk w = {};
	unsigned int line, col;
	char msg[NT_ERR_MSG_MAX];
	const char *dup;
	long off;
	int ret;

	ret = parse_strict(buf, len, &w, out, err);
	if (!ret || !err)
		return ret;
	snprintf(msg, sizeof(msg), "%s", err->msg);
	/* "duplicate json key \"k\"": the second one is the culprit. */
	dup = strstr(msg, "duplicate json key \"");
	if (!w.has_off && dup) {
		char key[128];

		if (sscanf(dup, "duplicate json key \"%127[^\"]\"", key) == 1 &&
		    (off = json__key_offset(buf, len, key, 1)) >= 0) {
			w.off = (size_t)off;
			w.has_off = true;
		}
	}
	if (!w.has_off)
		return nt_err_set(err, ret, "%s: %s", path, msg);
	json__line_col(buf, w.off, &line, &col);
	/* The offset is said as line and column now. */
	if (strstr(msg, " at offset "))
		*strstr(msg, " at offset ") = '\0';
	return nt_err_set(err, ret, "%s:%u:%u: %s", path, line, col, msg);
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

cJSON *json__add_u64(cJSON *obj, const char *key, uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
	return cJSON_AddRawToObject(obj, key, buf);
}
