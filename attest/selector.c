// SPDX-License-Identifier: Apache-2.0
/*
 * Selectors: "TYPE:KEY:VALUE" strings such as "unix:uid:1000". The string
 * splits at its first two colons only, so a value may itself hold ':'.
 * Matching is by exact string equality, so every value has exactly one
 * accepted spelling (no leading zeros, lowercase hex): two spellings of the
 * same fact would otherwise be two different selectors.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "attest/attest_int.h"

enum value_kind {
	V_TEXT,		/* any printable ASCII */
	V_U32,		/* decimal, canonical, fits 32 bits */
	V_U64,		/* decimal, canonical, fits 64 bits */
	V_ABSPATH,	/* begins with '/' */
	V_SHA256,	/* 64 lowercase hex digits */
};

struct selector_kind {
	const char *type;
	const char *key;
	enum value_kind kind;
};

static const struct selector_kind kinds[] = {
	{ "unix", "uid", V_U32 },
	{ "unix", "gid", V_U32 },
	{ "unix", "user", V_TEXT },
	{ "unix", "group", V_TEXT },
	{ "unix", "path", V_ABSPATH },
	{ "unix", "sha256", V_SHA256 },
	{ "cgroup", "path", V_ABSPATH },
	{ "systemd", "unit", V_TEXT },
	{ "netns", "ino", V_U64 },
	{ "ns", "name", V_TEXT },
};

#define TYPES_KNOWN	"unix, cgroup, systemd, netns, ns"

static bool is_printable(unsigned char c)
{
	return c >= 0x20 && c < 0x7f;
}

static bool part_is(const char *s, size_t len, const char *word)
{
	return strlen(word) == len && !memcmp(s, word, len);
}

static bool type_known(const char *type, size_t len)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(kinds); i++)
		if (part_is(type, len, kinds[i].type))
			return true;
	return false;
}

static const struct selector_kind *kind_find(const char *type, size_t tlen,
					     const char *key, size_t klen)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(kinds); i++)
		if (part_is(type, tlen, kinds[i].type) &&
		    part_is(key, klen, kinds[i].key))
			return &kinds[i];
	return NULL;
}

/* "uid, gid, user" for the error message of an unknown key. */
static void keys_of(const char *type, size_t tlen, char *buf, size_t size)
{
	size_t i, used = 0;
	int n;

	buf[0] = '\0';
	for (i = 0; i < ARRAY_SIZE(kinds) && used < size; i++) {
		if (!part_is(type, tlen, kinds[i].type))
			continue;
		n = snprintf(buf + used, size - used, "%s%s",
			     used ? ", " : "", kinds[i].key);
		if (n < 0)
			return;
		used += n;
	}
}

static int check_decimal(const char *v, size_t len, uint64_t max)
{
	uint64_t n = 0;
	size_t i;

	if (len > 1 && v[0] == '0')
		return -EINVAL;
	for (i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -EINVAL;
		if (n > (max - (uint64_t)(v[i] - '0')) / 10)
			return -ERANGE;
		n = n * 10 + (uint64_t)(v[i] - '0');
	}
	return 0;
}

static bool is_sha256_hex(const char *v, size_t len)
{
	size_t i;

	if (len != 64)
		return false;
	for (i = 0; i < len; i++)
		if (!((v[i] >= '0' && v[i] <= '9') ||
		      (v[i] >= 'a' && v[i] <= 'f')))
			return false;
	return true;
}

static int check_value(const struct selector_kind *k, const char *v,
		       size_t len, struct nt_err *err)
{
	int ret;

	switch (k->kind) {
	case V_U32:
	case V_U64:
		ret = check_decimal(v, len, k->kind == V_U32 ? UINT32_MAX :
							       UINT64_MAX);
		if (ret == -ERANGE)
			return nt_err_set(err, -EINVAL,
					  "%s:%s value '%.64s' is out of range",
					  k->type, k->key, v);
		if (ret)
			return nt_err_set(err, -EINVAL,
					  "%s:%s value '%.64s' is not a decimal number (digits only, no leading zero)",
					  k->type, k->key, v);
		return 0;
	case V_ABSPATH:
		if (v[0] != '/')
			return nt_err_set(err, -EINVAL,
					  "%s:%s value '%.64s' is not an absolute path",
					  k->type, k->key, v);
		return 0;
	case V_SHA256:
		if (!is_sha256_hex(v, len))
			return nt_err_set(err, -EINVAL,
					  "%s:%s value must be 64 lowercase hex digits",
					  k->type, k->key);
		return 0;
	case V_TEXT:
		return 0;
	}
	return nt_err_set(err, -EINVAL, "internal: bad selector kind");
}

/* Checks TYPE and KEY of @s, whose first colons are at @c1 and @c2. */
static int check_type_key(const char *s, const char *c1, const char *c2,
			  const struct selector_kind **kind,
			  struct nt_err *err)
{
	size_t tlen = c1 - s, klen = c2 - c1 - 1;
	char keys[128];

	if (tlen == 0)
		return nt_err_set(err, -EINVAL, "selector '%.64s' has an empty type",
				  s);
	if (!type_known(s, tlen))
		return nt_err_set(err, -EINVAL,
				  "unknown selector type '%.*s' (known: "
				  TYPES_KNOWN ")", (int)(tlen > 32 ? 32 : tlen), s);
	if (klen == 0)
		return nt_err_set(err, -EINVAL, "selector '%.64s' has an empty key",
				  s);
	*kind = kind_find(s, tlen, c1 + 1, klen);
	if (!*kind) {
		keys_of(s, tlen, keys, sizeof(keys));
		return nt_err_set(err, -EINVAL,
				  "unknown key '%.*s' for selector type '%.*s' (known: %s)",
				  (int)(klen > 32 ? 32 : klen), c1 + 1,
				  (int)tlen, s, keys);
	}
	return 0;
}

int selector__parse(struct selector *sel, const char *s, struct nt_err *err)
{
	const struct selector_kind *k;
	const char *c1, *c2, *v;
	size_t i, len;
	int ret;

	memset(sel, 0, sizeof(*sel));
	if (!s)
		return nt_err_set(err, -EINVAL, "no selector given");
	len = strlen(s);
	/* First, so every later message can quote the input safely. */
	for (i = 0; i < len; i++)
		if (!is_printable(s[i]))
			return nt_err_set(err, -EINVAL,
					  "selector has a control or non-ASCII byte at offset %zu",
					  i);
	c1 = strchr(s, ':');
	c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	if (!c2)
		return nt_err_set(err, -EINVAL,
				  "selector '%.64s' is not TYPE:KEY:VALUE", s);
	ret = check_type_key(s, c1, c2, &k, err);
	if (ret)
		return ret;
	v = c2 + 1;
	if (!*v)
		return nt_err_set(err, -EINVAL, "selector %s:%s has an empty value",
				  k->type, k->key);
	if (strlen(c1 + 1) >= ATTEST_VALUE_MAX)
		return nt_err_set(err, -EINVAL,
				  "selector %s:%s value is %zu bytes, at most %zu",
				  k->type, k->key, strlen(v),
				  ATTEST_VALUE_MAX - 2 - strlen(k->key));
	ret = check_value(k, v, strlen(v), err);
	if (ret)
		return ret;
	/* Both fit: the type is a known word, the length was checked. */
	memcpy(sel->type, s, c1 - s);
	memcpy(sel->value, c1 + 1, strlen(c1 + 1));
	return 0;
}

int selector__make(struct selector *sel, const char *type, const char *key,
		   const char *value, struct nt_err *err)
{
	char buf[ATTEST_TYPE_MAX + ATTEST_VALUE_MAX + 2];
	int n;

	n = snprintf(buf, sizeof(buf), "%s:%s:%s", type, key, value);
	if (n < 0 || (size_t)n >= sizeof(buf)) {
		memset(sel, 0, sizeof(*sel));
		return nt_err_set(err, -EINVAL,
				  "selector %s:%s value is %zu bytes, longer than a selector holds",
				  type, key, strlen(value));
	}
	return selector__parse(sel, buf, err);
}

int selector__format(const struct selector *sel, char *buf, size_t size)
{
	int n;

	n = snprintf(buf, size, "%.*s:%.*s",
		     (int)strnlen(sel->type, sizeof(sel->type)), sel->type,
		     (int)strnlen(sel->value, sizeof(sel->value)), sel->value);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n >= size)
		return -ENOSPC;
	return 0;
}

bool selector__equal(const struct selector *a, const struct selector *b)
{
	return !strncmp(a->type, b->type, sizeof(a->type)) &&
	       !strncmp(a->value, b->value, sizeof(a->value));
}

size_t selector__key_len(const struct selector *sel)
{
	const char *c = memchr(sel->value, ':', sizeof(sel->value));

	return c ? (size_t)(c - sel->value) : strnlen(sel->value,
						       sizeof(sel->value));
}

bool selector__same_key(const struct selector *a, const struct selector *b)
{
	size_t ka = selector__key_len(a);

	return !strncmp(a->type, b->type, sizeof(a->type)) &&
	       ka == selector__key_len(b) && !memcmp(a->value, b->value, ka);
}

int selector__check(const struct selector *sel, struct nt_err *err)
{
	char buf[ATTEST_TYPE_MAX + ATTEST_VALUE_MAX + 2];
	struct selector again;
	int ret;

	if (!memchr(sel->type, '\0', sizeof(sel->type)) ||
	    !memchr(sel->value, '\0', sizeof(sel->value)))
		return nt_err_set(err, -EINVAL, "selector is not NUL-terminated");
	ret = selector__format(sel, buf, sizeof(buf));
	if (ret)
		return nt_err_set(err, ret, "selector does not fit");
	ret = selector__parse(&again, buf, err);
	if (ret)
		return ret;
	/* The parse must give back the very same struct (no split moved). */
	if (!selector__equal(&again, sel))
		return nt_err_set(err, -EINVAL, "selector '%.64s' is malformed",
				  buf);
	return 0;
}
