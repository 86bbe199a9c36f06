// SPDX-License-Identifier: Apache-2.0
/*
 * nametagd --config FILE: the command line's string options as a JSON
 * object. The key table is the one source of the keys: the parser, the
 * help text and so nametagd(8) read it.
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
	size_t off;		/* of a const char * in struct daemon_opts */
} keys[] = {
	{ "state_dir",		offsetof(struct daemon_opts, state_dir) },
	{ "run_dir",		offsetof(struct daemon_opts, run_dir) },
	{ "cgroup_root",	offsetof(struct daemon_opts, cgroup_root) },
	{ "bpffs",		offsetof(struct daemon_opts, bpffs) },
	{ "trust_domain",	offsetof(struct daemon_opts, trust_domain) },
	{ "etcd",		offsetof(struct daemon_opts, fleet.etcd) },
	{ "node",		offsetof(struct daemon_opts, fleet.node) },
	{ "join_token",		offsetof(struct daemon_opts, fleet.join_token) },
	{ "etcd_ca",		offsetof(struct daemon_opts, fleet.etcd_ca) },
	{ "etcd_cert",		offsetof(struct daemon_opts, fleet.etcd_cert) },
	{ "etcd_key",		offsetof(struct daemon_opts, fleet.etcd_key) },
	{ "etcd_user",		offsetof(struct daemon_opts, fleet.etcd_user) },
	{ "etcd_password_file",	offsetof(struct daemon_opts, fleet.etcd_password_file) },
	{ "lease_ttl",		offsetof(struct daemon_opts, fleet.lease_ttl) },
};

const char *daemon_config__keys(void)
{
	static char list[512];
	size_t i, n = 0;

	if (list[0])
		return list;
	for (i = 0; i < ARRAY_SIZE(keys); i++)
		n += snprintf(list + n, sizeof(list) - n, "%s%s", i ? ", " : "",
			      keys[i].key);
	return list;
}

static int take(const cJSON *root, const char *key, const char **dst,
		const char *path, struct nt_err *err)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(root, key);

	if (!it)
		return 0;
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
		ret = take(root, keys[i].key,
			   (const char **)((char *)o + keys[i].off), path, err);
	cJSON_Delete(root);
	free(buf);
	return ret;
}
