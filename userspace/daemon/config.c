// SPDX-License-Identifier: Apache-2.0
/* nametagd --config FILE: the command line's options as a JSON object. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "userspace/daemon/daemon.h"

#define CONFIG_MAX (64 * 1024)

int daemon_config__load(struct daemon_opts *o, const char *path,
			struct nt_err *err);

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
	static const char *const keys[] = { "state_dir", "run_dir",
		"cgroup_root", "bpffs", "trust_domain", NULL };
	cJSON *root = NULL;
	char *buf = NULL;
	size_t len;
	int ret;

	ret = state__read(path, CONFIG_MAX, false, &buf, &len, err);
	if (!ret)
		ret = json__parse_strict(buf, len, &root, err);
	if (!ret)
		ret = json__only_keys(root, keys, path, err);
	if (!ret)
		ret = take(root, "state_dir", &o->state_dir, path, err);
	if (!ret)
		ret = take(root, "run_dir", &o->run_dir, path, err);
	if (!ret)
		ret = take(root, "cgroup_root", &o->cgroup_root, path, err);
	if (!ret)
		ret = take(root, "bpffs", &o->bpffs, path, err);
	if (!ret)
		ret = take(root, "trust_domain", &o->trust_domain, path, err);
	cJSON_Delete(root);
	free(buf);
	return ret;
}
