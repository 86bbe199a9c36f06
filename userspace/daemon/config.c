// SPDX-License-Identifier: Apache-2.0
/*
 * nametagd --config FILE: every option of the command line as a JSON
 * object, keys spelt with underscores. The key table is the one source of
 * the keys: the parser, the help text and so nametagd(8) read it. An
 * error names the file, the line and the column of what is wrong (the
 * key, for a value of the wrong type), as a compiler would.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "userspace/daemon/daemon.h"

#define CONFIG_MAX (64 * 1024)

enum key_type { K_STRING, K_BOOL, K_UINT };

static const struct {
	const char *key;
	enum key_type type;
	size_t off;		/* of a const char *, a bool or an unsigned
				 * int in daemon_opts */
	unsigned int min, max;	/* K_UINT's range */
} keys[] = {
	{ "state_dir",	   K_STRING, offsetof(struct daemon_opts, state_dir), 0, 0 },
	{ "run_dir",	   K_STRING, offsetof(struct daemon_opts, run_dir), 0, 0 },
	{ "cgroup_root",   K_STRING, offsetof(struct daemon_opts, cgroup_root), 0, 0 },
	{ "bpffs",	   K_STRING, offsetof(struct daemon_opts, bpffs), 0, 0 },
	{ "trust_domain",  K_STRING, offsetof(struct daemon_opts, trust_domain), 0, 0 },
	{ "metrics",	   K_STRING, offsetof(struct daemon_opts, metrics), 0, 0 },
	{ "audit_log",	   K_STRING, offsetof(struct daemon_opts, audit_log), 0, 0 },
	{ "log_format",	   K_STRING, offsetof(struct daemon_opts, log_format), 0, 0 },
	{ "same_node",	   K_STRING, offsetof(struct daemon_opts, same_node), 0, 0 },
	{ "flow_table_size", K_UINT, offsetof(struct daemon_opts, flow_table_size),
	  FLOW_TABLE_MIN, FLOW_TABLE_MAX },
	{ "max_netns",	   K_UINT,   offsetof(struct daemon_opts, max_netns),
	  1, DAEMON_MAX_NETNS_MAX },
	{ "listeners_per_netns", K_UINT,
	  offsetof(struct daemon_opts, listeners_per_netns), 1, DAEMON_LISTENERS_MAX },
	{ "workers",	   K_UINT,   offsetof(struct daemon_opts, workers),
	  1, PROXY_WORKERS_MAX },
	{ "manual_netns",  K_BOOL,   offsetof(struct daemon_opts, manual_netns), 0, 0 },
	{ "no_ktls",	   K_BOOL,   offsetof(struct daemon_opts, no_ktls), 0, 0 },
	{ "no_mesh_reuse", K_BOOL,   offsetof(struct daemon_opts, no_mesh_reuse), 0, 0 },
	{ "debug",	   K_BOOL,   offsetof(struct daemon_opts, debug), 0, 0 },
	{ "log_file",	   K_STRING, offsetof(struct daemon_opts, log_file), 0, 0 },
	{ "drain_timeout", K_STRING, offsetof(struct daemon_opts, drain_timeout), 0, 0 },
	/* A path, or true for its usual place (docs/workload-api.md). */
	{ "workload_api",  K_STRING, offsetof(struct daemon_opts, workload_api), 0, 0 },
	{ "etcd",	   K_STRING, offsetof(struct daemon_opts, fleet.etcd), 0, 0 },
	{ "node",	   K_STRING, offsetof(struct daemon_opts, fleet.node), 0, 0 },
	{ "join_token",	   K_STRING, offsetof(struct daemon_opts, fleet.join_token), 0, 0 },
	{ "trust_anchor",  K_STRING, offsetof(struct daemon_opts, fleet.trust_anchor), 0, 0 },
	{ "etcd_ca",	   K_STRING, offsetof(struct daemon_opts, fleet.etcd_ca), 0, 0 },
	{ "etcd_cert",	   K_STRING, offsetof(struct daemon_opts, fleet.etcd_cert), 0, 0 },
	{ "etcd_key",	   K_STRING, offsetof(struct daemon_opts, fleet.etcd_key), 0, 0 },
	{ "etcd_user",	   K_STRING, offsetof(struct daemon_opts, fleet.etcd_user), 0, 0 },
	{ "etcd_password_file", K_STRING, offsetof(struct daemon_opts, fleet.etcd_password_file), 0, 0 },
	{ "lease_ttl",	   K_STRING, offsetof(struct daemon_opts, fleet.lease_ttl), 0, 0 },
};

/* Every string a config file gave, kept reachable: a reload replaces the
 * options, and the strings of the ones it replaced are not freed (a
 * pointer to them may still be in use). */
static char **kept;
static size_t nkept, capkept;

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

static enum key_type key_type_of(enum daemon_config_type type)
{
	return type == DAEMON_CONFIG_BOOL ? K_BOOL :
	       type == DAEMON_CONFIG_NUMBER ? K_UINT : K_STRING;
}

const char *daemon_config__keys(enum daemon_config_type type)
{
	static char list[3][512];
	char *l = list[key_type_of(type)];
	size_t i, n = 0;

	if (l[0])
		return l;
	for (i = 0; i < ARRAY_SIZE(keys); i++)
		if (keys[i].type == key_type_of(type))
			n += snprintf(l + n, sizeof(list[0]) - n, "%s%s",
				      n ? ", " : "", keys[i].key);
	return l;
}

/* A number option of the command line, --@opt @s, in @min..@max. */
static int parse_uint(const char *opt, const char *s, unsigned int min,
		      unsigned int max, unsigned int *out, struct nt_err *err)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (s[0] < '0' || s[0] > '9' || *end || errno || v < min || v > max)
		return nt_err_set(err, -EINVAL,
				  "--%s %s: expected a whole number from %u to %u",
				  opt, s, min, max);
	*out = (unsigned int)v;
	return 0;
}

int daemon_config__flow_table_size(const char *s, unsigned int *out,
				   struct nt_err *err)
{
	return parse_uint("flow-table-size", s, FLOW_TABLE_MIN, FLOW_TABLE_MAX,
			  out, err);
}

int daemon_config__workers(const char *s, unsigned int *out,
			   struct nt_err *err)
{
	if (!strcmp(s, "auto")) {
		*out = 0;
		return 0;
	}
	if (parse_uint("workers", s, 1, PROXY_WORKERS_MAX, out, NULL))
		return nt_err_set(err, -EINVAL,
				  "--workers %s: expected auto or a whole number from 1 to %u",
				  s, PROXY_WORKERS_MAX);
	return 0;
}

/* same_node: "mtls" (the default: every hop is mTLS, on one node too)
 * or "direct" (docs/mesh-protocol.md, "Same node"). */
int daemon_config__same_node(const char *s, bool *direct)
{
	bool d = !strcmp(s, "direct");

	if (!d && strcmp(s, "mtls"))
		return -EINVAL;
	if (direct)
		*direct = d;
	return 0;
}

/* "FILE:LINE:COL: " of key @key, "FILE: " if it cannot be found. */
static void place(char *buf, size_t size, const char *path, const char *text,
		  size_t len, const char *key)
{
	long off = json__key_offset(text, len, key, 0);
	unsigned int line, col;

	if (off < 0) {
		snprintf(buf, size, "%s", path);
		return;
	}
	json__line_col(text, (size_t)off, &line, &col);
	snprintf(buf, size, "%s:%u:%u", path, line, col);
}

/* The range of a number key. */
static void uint_range(const char *key, unsigned int *min, unsigned int *max)
{
	bool workers = !strcmp(key, "workers");

	*min = workers ? 1 : FLOW_TABLE_MIN;
	*max = workers ? PROXY_WORKERS_MAX : FLOW_TABLE_MAX;
}

static int take(const cJSON *it, size_t i, struct daemon_opts *o,
		const char *where, struct nt_err *err)
{
	void *dst = (char *)o + keys[i].off;
	unsigned int min, max;

	if (keys[i].type == K_BOOL) {
		if (!cJSON_IsBool(it))
			return nt_err_set(err, -EINVAL, "%s: \"%s\" must be true or false",
					  where, keys[i].key);
		*(bool *)dst = cJSON_IsTrue(it);
		return 0;
	}
	/* The one number that may be a word: "auto" (the default). */
	if (!strcmp(keys[i].key, "workers") && cJSON_IsString(it)) {
		if (strcmp(it->valuestring, "auto"))
			return nt_err_set(err, -EINVAL,
					  "%s: \"workers\" must be \"auto\" or a whole number from 1 to %u",
					  where, PROXY_WORKERS_MAX);
		*(unsigned int *)dst = 0;
		return 0;
	}
	if (keys[i].type == K_UINT) {
		uint_range(keys[i].key, &min, &max);
		if (!cJSON_IsNumber(it) || it->valuedouble != (double)(unsigned int)it->valuedouble ||
		    it->valuedouble < keys[i].min || it->valuedouble > keys[i].max)
			return nt_err_set(err, -EINVAL,
					  "%s: \"%s\" must be a whole number from %u to %u",
					  where, keys[i].key, keys[i].min, keys[i].max);
		*(unsigned int *)dst = (unsigned int)it->valuedouble;
		return 0;
	}
	/* The one switch among the paths: true is its usual place. */
	if (!strcmp(keys[i].key, "workload_api") && cJSON_IsBool(it)) {
		*(const char **)dst = cJSON_IsTrue(it) ? WORKLOAD_API_DEFAULT : NULL;
		return 0;
	}
	if (!cJSON_IsString(it) || !it->valuestring[0])
		return nt_err_set(err, -EINVAL, "%s: \"%s\" must be a non-empty string",
				  where, keys[i].key);
	/* The daemon lives as long as these strings: keep them. */
	if (array__grow((void **)&kept, &capkept, nkept, sizeof(*kept), 1 << 16))
		return nt_err_set(err, -ENOMEM, "out of memory");
	kept[nkept] = strdup(it->valuestring);
	if (!kept[nkept])
		return nt_err_set(err, -ENOMEM, "out of memory");
	*(const char **)dst = kept[nkept++];
	return 0;
}

static int take_all(struct daemon_opts *o, const cJSON *root, const char *path,
		    const char *text, size_t len, struct nt_err *err)
{
	char where[PATH_MAX + 32];
	const cJSON *it;
	size_t i;
	int ret;

	if (!cJSON_IsObject(root))
		return nt_err_set(err, -EINVAL, "%s:1:1: expected a json object",
				  path);
	for (it = root->child; it; it = it->next) {
		place(where, sizeof(where), path, text, len, it->string);
		for (i = 0; i < ARRAY_SIZE(keys); i++)
			if (!strcmp(it->string, keys[i].key))
				break;
		if (i == ARRAY_SIZE(keys))
			return nt_err_set(err, -EINVAL, "%s: unknown key \"%s\" (known: %s, %s, %s)",
					  where, it->string,
					  daemon_config__keys(DAEMON_CONFIG_STRING),
					  daemon_config__keys(DAEMON_CONFIG_BOOL),
					  daemon_config__keys(DAEMON_CONFIG_NUMBER));
		ret = take(it, i, o, where, err);
		if (ret)
			return ret;
	}
	if (o->same_node && daemon_config__same_node(o->same_node, NULL)) {
		place(where, sizeof(where), path, text, len, "same_node");
		return nt_err_set(err, -EINVAL, "%s: \"same_node\" is \"mtls\" or \"direct\"",
				  where);
	}
	if (o->log_format && log__parse_format(o->log_format, NULL)) {
		place(where, sizeof(where), path, text, len, "log_format");
		return nt_err_set(err, -EINVAL, "%s: \"log_format\" is \"text\" or \"json\"",
				  where);
	}
	return 0;
}

/*
 * What only makes sense once all the options are known, checked at start
 * and at every reload (a config file is read whole first, so that --version
 * or --help after it still work whatever its values are).
 */
int daemon_config__check(struct daemon_opts *o, struct nt_err *err)
{
	int64_t secs = DRAIN_TIMEOUT_DEFAULT;
	struct nt_err why = {};
	int ret;

	if (o->drain_timeout) {
		ret = duration__parse(o->drain_timeout, &secs, &why);
		if (ret)
			return nt_err_set(err, ret, "drain_timeout \"%s\": %s",
					  o->drain_timeout, why.msg);
	}
	o->drain_secs = secs;
	return 0;
}

int daemon_config__load(struct daemon_opts *o, const char *path,
			struct nt_err *err)
{
	cJSON *root = NULL;
	char *buf = NULL;
	size_t len;
	int ret;

	ret = state__read(path, CONFIG_MAX, false, &buf, &len, err);
	if (!ret)
		ret = json__parse_file(path, buf, len, &root, err);
	if (!ret)
		ret = take_all(o, root, path, buf, len, err);
	cJSON_Delete(root);
	free(buf);
	return ret;
}
