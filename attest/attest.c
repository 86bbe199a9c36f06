// SPDX-License-Identifier: Apache-2.0
/*
 * Evidence to selectors. Every selector is derived from an id the kernel
 * recorded at the syscall: names are looked up from ids (uid -> user,
 * cgroup id -> path), never ids from names. A lookup that fails leaves its
 * selector out: a workload then matches fewer registration entries, which
 * can only lower what it is granted, never raise it.
 *
 * An attest_ctx holds caches and is not thread-safe: one per thread.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attest/attest_int.h"

#define DEFAULT_PROC		"/proc"
#define DEFAULT_CGROUP		"/sys/fs/cgroup"
#define DEFAULT_PASSWD		"/etc/passwd"
#define DEFAULT_GROUP		"/etc/group"
#define DEFAULT_MAX_HASH	(256ULL << 20)
#define NSEC_PER_SEC		1000000000L
#define NAME_MAX_LEN		256

static int dup_or_default(char **dst, const char *src, const char *def)
{
	*dst = strdup(src && *src ? src : def);
	return *dst ? 0 : -ENOMEM;
}

int attest__new(struct attest_ctx **out, const struct attest_env *env,
		struct nt_err *err)
{
	static const struct attest_env none;
	struct attest_ctx *ctx;
	int ret;

	*out = NULL;
	if (!env)
		env = &none;
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return nt_err_set(err, -ENOMEM, "out of memory");
	ret = dup_or_default(&ctx->proc_root, env->proc_root, DEFAULT_PROC);
	if (!ret)
		ret = dup_or_default(&ctx->cgroup_root, env->cgroup_root,
				     DEFAULT_CGROUP);
	if (!ret)
		ret = dup_or_default(&ctx->passwd_file, env->passwd_file,
				     DEFAULT_PASSWD);
	if (!ret)
		ret = dup_or_default(&ctx->group_file, env->group_file,
				     DEFAULT_GROUP);
	if (ret) {
		attest__free(ctx);
		return nt_err_set(err, ret, "out of memory");
	}
	ctx->max_hash_bytes = env->max_hash_bytes ? env->max_hash_bytes :
						    DEFAULT_MAX_HASH;
	/* Start times are compared in ticks; the kernel's conversion from
	 * nanoseconds is exact only when the tick divides a second. */
	ctx->clk_tck = sysconf(_SC_CLK_TCK);
	if (ctx->clk_tck <= 0 || NSEC_PER_SEC % ctx->clk_tck) {
		attest__free(ctx);
		return nt_err_set(err, -EINVAL, "unusable clock tick rate");
	}
	*out = ctx;
	return 0;
}

void attest__free(struct attest_ctx *ctx)
{
	if (!ctx)
		return;
	cgroup__cache_free(ctx);
	free(ctx->proc_root);
	free(ctx->cgroup_root);
	free(ctx->passwd_file);
	free(ctx->group_file);
	free(ctx);
}

/* Appends a selector; a value that cannot be one (too long, non-ASCII) is
 * left out, and the check's message is returned through @why if asked. */
static void add(struct attest_result *res, const char *type, const char *key,
		const char *value, char *why, size_t why_size)
{
	struct nt_err e = { "" };

	/* at most 10 selectors are ever made: this cannot fill up */
	if (res->nselectors >= ATTEST_SELECTOR_MAX)
		return;
	if (selector__make(&res->selectors[res->nselectors], type, key, value,
			   &e)) {
		if (why)
			snprintf(why, why_size, "%s", e.msg);
		return;
	}
	res->nselectors++;
}

static void add_u64(struct attest_result *res, const char *type,
		    const char *key, uint64_t v)
{
	char num[24];

	snprintf(num, sizeof(num), "%llu", (unsigned long long)v);
	add(res, type, key, num, NULL, 0);
}

static void add_unix_ids(const struct attest_ctx *ctx,
			 const struct attest_evidence *ev,
			 struct attest_result *res)
{
	char name[NAME_MAX_LEN];

	if (ev->uid != ATTEST_ID_UNKNOWN) {
		add_u64(res, "unix", "uid", ev->uid);
		if (!accounts__name(ctx->passwd_file, ev->uid, name, sizeof(name)))
			add(res, "unix", "user", name, NULL, 0);
	}
	if (ev->gid != ATTEST_ID_UNKNOWN) {
		add_u64(res, "unix", "gid", ev->gid);
		if (!accounts__name(ctx->group_file, ev->gid, name, sizeof(name)))
			add(res, "unix", "group", name, NULL, 0);
	}
}

static int add_exe(struct attest_ctx *ctx, const struct attest_evidence *ev,
		   struct attest_result *res, struct nt_err *err)
{
	int ret;

	ret = proc__check_exe(ctx, ev, res, err);
	if (ret)
		return ret;
	if (res->exe_path[0] && !res->path_skipped[0])
		add(res, "unix", "path", res->exe_path, res->path_skipped,
		    sizeof(res->path_skipped));
	if (res->sha256[0])
		add(res, "unix", "sha256", res->sha256, NULL, 0);
	return 0;
}

static void add_cgroup(struct attest_ctx *ctx, const struct attest_evidence *ev,
		       const struct attest_ns *ns, struct attest_result *res)
{
	char ns_path[ATTEST_PATH_MAX], unit[NAME_MAX_LEN];
	bool have_ns = false;

	if (ns && ns->cgroup_id)
		have_ns = cgroup__path(ctx, ns->cgroup_id, NULL, ns_path,
				       sizeof(ns_path)) == 0;
	if (!ev->cgroup_id ||
	    cgroup__path(ctx, ev->cgroup_id, have_ns ? ns_path : NULL,
			 res->cgroup_path, sizeof(res->cgroup_path))) {
		res->cgroup_path[0] = '\0';
		return;
	}
	add(res, "cgroup", "path", res->cgroup_path, NULL, 0);
	if (cgroup__unit(res->cgroup_path, unit, sizeof(unit)) == 0)
		add(res, "systemd", "unit", unit, NULL, 0);
	if (!have_ns)
		return;
	if (cgroup__service(res->cgroup_path, ns_path, res->service,
			    sizeof(res->service)))
		res->service[0] = '\0';	/* not below its namespace */
	else
		res->ns_own_cgroup = !res->service[0];
}

int attest__selectors(struct attest_ctx *ctx, const struct attest_evidence *ev,
		      const struct attest_ns *ns, struct attest_result *res,
		      struct nt_err *err)
{
	int ret;

	if (!res)
		return nt_err_set(err, -EINVAL, "no result to fill");
	memset(res, 0, sizeof(*res));
	if (!ctx || !ev)
		return nt_err_set(err, -EINVAL, "no context or evidence");
	/* The daemon picked @ns from the evidence; if they disagree, some
	 * table is stale and no answer would be trustworthy. */
	if (ns && ev->ns_cgroup_id && ev->ns_cgroup_id != ns->cgroup_id)
		return nt_err_set(err, -EINVAL,
				  "evidence is for namespace cgroup %llu, namespace '%s' is cgroup %llu",
				  (unsigned long long)ev->ns_cgroup_id,
				  ns->name ? ns->name : "",
				  (unsigned long long)ns->cgroup_id);
	add_unix_ids(ctx, ev, res);
	ret = add_exe(ctx, ev, res, err);
	if (ret) {
		memset(res, 0, sizeof(*res));
		return ret;
	}
	add_cgroup(ctx, ev, ns, res);
	if (ev->netns_ino)
		add_u64(res, "netns", "ino", ev->netns_ino);
	if (ns && ns->name && ns->name[0])
		add(res, "ns", "name", ns->name, NULL, 0);
	return 0;
}
