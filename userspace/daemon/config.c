// SPDX-License-Identifier: Apache-2.0
/*
 * nametagd --config FILE: the command line's options with a value, as a
 * JSON object (strings, and whole numbers for the limits). The key table is
 * the one source of the keys: the parser, the help text and so nametagd(8)
 * read it.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "userspace/daemon/daemon.h"

#define CONFIG_MAX (64 * 1024)

static const struct {
	const char *key;
	size_t off;		/* in struct daemon_opts: a const char *, */
	bool number;		/* ... or an unsigned int (1 to max) */
	unsigned int max;
} keys[] = {
	{ "state_dir",		offsetof(struct daemon_opts, state_dir), false, 0 },
	{ "run_dir",		offsetof(struct daemon_opts, run_dir), false, 0 },
	{ "cgroup_root",	offsetof(struct daemon_opts, cgroup_root), false, 0 },
	{ "bpffs",		offsetof(struct daemon_opts, bpffs), false, 0 },
	{ "trust_domain",	offsetof(struct daemon_opts, trust_domain), false, 0 },
	{ "max_netns",		offsetof(struct daemon_opts, max_netns), true,
	  DAEMON_MAX_NETNS_MAX },
	{ "listeners_per_netns", offsetof(struct daemon_opts, listeners_per_netns),
	  true, DAEMON_LISTENERS_MAX },
};

int daemon_config__number(const char *what, const char *s, unsigned int max,
			  unsigned int *out, struct nt_err *err)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < 1 || v > max)
		return nt_err_set(err, -EINVAL, "%s: \"%s\" is not a number from 1 to %u",
				  what, s, max);
	*out = (unsigned int)v;
	return 0;
}

const char *daemon_config__keys(void)
{
	static char list[192];
	size_t i, n = 0;

	if (list[0])
		return list;
	for (i = 0; i < ARRAY_SIZE(keys); i++)
		n += snprintf(list + n, sizeof(list) - n, "%s%s", i ? ", " : "",
			      keys[i].key);
	return list;
}

static int take_number(const cJSON *it, size_t i, struct daemon_opts *o,
		       const char *path, struct nt_err *err)
{
	double v = cJSON_GetNumberValue(it);

	if (!cJSON_IsNumber(it) || !(v >= 1 && v <= keys[i].max) ||
	    v != (double)(unsigned int)v)
		return nt_err_set(err, -EINVAL, "%s: \"%s\" must be a whole number from 1 to %u",
				  path, keys[i].key, keys[i].max);
	*(unsigned int *)((char *)o + keys[i].off) = (unsigned int)v;
	return 0;
}

static int take(const cJSON *root, size_t i, struct daemon_opts *o,
		const char *path, struct nt_err *err)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(root, keys[i].key);
	const char *key = keys[i].key;
	const char **dst = (const char **)((char *)o + keys[i].off);

	if (!it)
		return 0;
	if (keys[i].number)
		return take_number(it, i, o, path, err);
	if (!cJSON_IsString(it) || !it->valuestring[0])
		return nt_err_set(err, -EINVAL, "%s: \"%s\" must be a non-empty string",
				  path, key);
	/* The daemon lives as long as these strings: keep them. */
	*dst = strdup(it->valuestring);
	return *dst ? 0 : nt_err_set(err, -ENOMEM, "out of memory");
}

int daemon_config__load(struct daemon_opts *o, const char *path,
			struct nt_err *err)
{
	const char *allowed[ARRAY_SIZE(keys) + 1] = {};
	cJSON *root = NULL;
	char *buf = NULL;
	size_t len, i;
	int ret;

	for (i = 0; i < ARRAY_SIZE(keys); i++)
		allowed[i] = keys[i].key;
	ret = state__read(path, CONFIG_MAX, false, &buf, &len, err);
	if (!ret)
		ret = json__parse_strict(buf, len, &root, err);
	if (!ret)
		ret = json__only_keys(root, allowed, path, err);
	for (i = 0; !ret && i < ARRAY_SIZE(keys); i++)
		ret = take(root, i, o, path, err);
	cJSON_Delete(root);
	free(buf);
	return ret;
}
