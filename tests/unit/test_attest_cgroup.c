// SPDX-License-Identifier: Apache-2.0
/*
 * Cgroup ids to paths, services and systemd units (attest/cgroup.c),
 * root-free: the cgroup tree is made of plain directories under the test's
 * tmpdir, whose inode numbers stand for cgroup ids exactly as cgroupfs
 * inode numbers do on cgroup v2.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attest/attest_int.h"
#include "tests/unit/harness.h"

/* ---- helpers ----------------------------------------------------------- */

static const char *tmp_path(const char *rel)
{
	static char buf[8][PATH_MAX];
	static int slot;
	char *out = buf[slot++ & 7];

	if (snprintf(out, PATH_MAX, "%s/%s", t_tmpdir(), rel) >= PATH_MAX)
		abort();
	return out;
}

static void mkdirs(const char *rel)
{
	char cmd[PATH_MAX + 32];

	snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", tmp_path(rel));
	if (system(cmd) != 0)
		abort();
}

static uint64_t ino_of(const char *rel)
{
	struct stat st;

	if (stat(tmp_path(rel), &st))
		abort();
	return st.st_ino;
}

static const char *find_sel(const struct attest_result *res, const char *type,
			    const char *key)
{
	size_t i, klen = strlen(key);

	for (i = 0; i < res->nselectors; i++)
		if (!strcmp(res->selectors[i].type, type) &&
		    !strncmp(res->selectors[i].value, key, klen) &&
		    res->selectors[i].value[klen] == ':')
			return res->selectors[i].value + klen + 1;
	return NULL;
}

/* No process in the evidence (tgid 0): only the cgroup matters here. */
static struct attest_ctx *new_ctx(void)
{
	struct attest_env env = {
		.cgroup_root = tmp_path("cg"),
		.passwd_file = tmp_path("none"),
		.group_file = tmp_path("none"),
	};
	struct attest_ctx *ctx;

	if (attest__new(&ctx, &env, NULL))
		abort();
	return ctx;
}

static void fixtures(void)
{
	static bool done;
	FILE *f;

	if (done)
		return;
	done = true;
	mkdirs("cg/shop/web/worker");
	mkdirs("cg/shop/frontend.service/x");
	mkdirs("cg/shop/app.slice/api.service/sub");
	mkdirs("cg/other/x");
	f = fopen(tmp_path("cg/shop/cgroup.procs"), "w");
	if (!f)
		abort();
	fclose(f);
	if (symlink("../other", tmp_path("cg/shop/link")))
		abort();
}

/* ---- cases ------------------------------------------------------------ */

struct cgroup_row {
	const char *dir;	/* under cg/; "" is the root; NULL: a file */
	const char *ns;		/* the namespace's dir under cg/ */
	const char *path;	/* expected cgroup:path; NULL: none */
	const char *service;	/* expected res->service */
	const char *unit;	/* expected systemd:unit; NULL: none */
};

static uint64_t cg_id(const char *dir)
{
	char rel[1024];

	if (snprintf(rel, sizeof(rel), "cg%s%s", dir[0] ? "/" : "", dir) >=
	    (int)sizeof(rel))
		abort();
	return ino_of(rel);
}

static void check_cgroup_row(struct attest_ctx *ctx, const struct cgroup_row *r)
{
	struct attest_ns ns = { .name = "shop", .trust_domain = "td" };
	struct attest_evidence ev = { .uid = 1 };
	struct attest_result res;
	struct nt_err err = { "" };
	const char *v, *dir = r->dir ? r->dir : "shop/cgroup.procs";

	ev.cgroup_id = cg_id(dir);
	ns.cgroup_id = cg_id(r->ns);
	ev.ns_cgroup_id = ns.cgroup_id;
	CHECKF(attest__selectors(ctx, &ev, &ns, &res, &err) == 0, "%s: %s",
	       dir, err.msg);
	v = find_sel(&res, "cgroup", "path");
	if (!r->path) {
		CHECKF(!v && !res.cgroup_path[0], "%s: cgroup:path '%s'", dir,
		       v);
		return;
	}
	CHECKF(v && !strcmp(v, r->path) && !strcmp(res.cgroup_path, r->path),
	       "%s: cgroup:path '%s', want '%s'", dir, v ? v : "(none)",
	       r->path);
	CHECKF(!strcmp(res.service, r->service), "%s: service '%s', want '%s'",
	       dir, res.service, r->service);
	v = find_sel(&res, "systemd", "unit");
	if (r->unit)
		CHECKF(v && !strcmp(v, r->unit), "%s: unit '%s', want '%s'",
		       dir, v ? v : "(none)", r->unit);
	else
		CHECKF(!v, "%s: unexpected unit '%s'", dir, v);
}

static void test_cgroup(void)
{
	static const struct cgroup_row rows[] = {
		{ "shop/web/worker", "shop", "/shop/web/worker", "web", NULL },
		{ "shop/web", "shop", "/shop/web", "web", NULL },
		{ "shop", "shop", "/shop", "default", NULL },
		{ "shop/frontend.service/x", "shop", "/shop/frontend.service/x",
		  "frontend.service", "frontend.service" },
		{ "shop/app.slice/api.service/sub", "shop",
		  "/shop/app.slice/api.service/sub", "app.slice", "api.service" },
		/* found by its real path, never through the symlink */
		{ "other/x", "shop", "/other/x", "", NULL },
		{ "other", "shop", "/other", "", NULL },
		{ "", "shop", "/", "", NULL },
		{ "shop/web", "", "/shop/web", "shop", NULL },
		{ "", "", "/", "default", NULL },
		{ NULL, "shop", NULL, "", NULL },
	};
	struct attest_ctx *ctx;
	size_t i;

	fixtures();
	ctx = new_ctx();
	for (i = 0; i < ARRAY_SIZE(rows); i++)
		check_cgroup_row(ctx, &rows[i]);
	attest__free(ctx);
}

static void test_cgroup_cache(void)
{
	struct attest_evidence ev = { .uid = 1 };
	struct attest_ctx *ctx;
	struct attest_result res;
	struct nt_err err = { "" };
	uint64_t walks, old_id;

	fixtures();
	mkdirs("cg/shop/tmp1");
	ctx = new_ctx();
	old_id = ev.cgroup_id = ino_of("cg/shop/tmp1");
	CHECK(attest__selectors(ctx, &ev, NULL, &res, &err) == 0);
	CHECK(!strcmp(res.cgroup_path, "/shop/tmp1"));
	walks = ctx->cgroup_walks;
	CHECK(attest__selectors(ctx, &ev, NULL, &res, &err) == 0);
	CHECK(!strcmp(res.cgroup_path, "/shop/tmp1"));
	CHECK(ctx->cgroup_walks == walks);	/* served by the cache */
	/* moved: the cached path no longer has that inode */
	if (rename(tmp_path("cg/shop/tmp1"), tmp_path("cg/other/tmp2")))
		abort();
	CHECK(attest__selectors(ctx, &ev, NULL, &res, &err) == 0);
	CHECKF(!strcmp(res.cgroup_path, "/other/tmp2"), "'%s'",
	       res.cgroup_path);
	/* removed, and a new cgroup at the old path: a new id */
	if (rmdir(tmp_path("cg/other/tmp2")))
		abort();
	mkdirs("cg/shop/tmp1");
	CHECK(attest__selectors(ctx, &ev, NULL, &res, &err) == 0);
	if (ino_of("cg/shop/tmp1") != old_id)
		CHECKF(!res.cgroup_path[0], "stale '%s'", res.cgroup_path);
	if (rmdir(tmp_path("cg/shop/tmp1")))
		abort();
	attest__free(ctx);
}

/* The walk goes 32 levels deep and no further. */
static void test_cgroup_depth(void)
{
	struct attest_evidence ev = { .uid = 1 };
	char rel[PATH_MAX] = "cg/deep", want[PATH_MAX] = "/deep";
	uint64_t id32 = 0, id33 = 0;
	struct attest_ctx *ctx;
	struct attest_result res;
	struct nt_err err = { "" };
	int depth;

	fixtures();
	for (depth = 2; depth <= 33; depth++) {
		strcat(rel, "/d");
		if (depth <= 32)
			strcat(want, "/d");
	}
	mkdirs(rel);
	id33 = ino_of(rel);
	*strrchr(rel, '/') = '\0';
	id32 = ino_of(rel);
	ctx = new_ctx();
	ev.cgroup_id = id32;
	CHECK(attest__selectors(ctx, &ev, NULL, &res, &err) == 0);
	CHECKF(!strcmp(res.cgroup_path, want), "depth 32: '%s'",
	       res.cgroup_path);
	ev.cgroup_id = id33;
	CHECK(attest__selectors(ctx, &ev, NULL, &res, &err) == 0);
	CHECKF(!res.cgroup_path[0], "depth 33 found: '%s'", res.cgroup_path);
	attest__free(ctx);
}

static void test_service_and_unit_names(void)
{
	static const struct {
		const char *path, *ns, *service, *unit;
	} rows[] = {
		{ "/a/b/c", "/a", "b", NULL },
		{ "/a", "/a", "default", NULL },
		{ "/ab/c", "/a", NULL, NULL },
		{ "/a/b", "/", "a", NULL },
		{ "/", "/", "default", NULL },
		{ "/x.service/y.service/z", "/", "x.service", "y.service" },
		{ "/system.slice/.service", "/", "system.slice", NULL },
		{ "/user.slice/user@1000.service/app.slice", "/user.slice",
		  "user@1000.service", "user@1000.service" },
	};
	char out[256];
	size_t i;
	int ret;

	for (i = 0; i < ARRAY_SIZE(rows); i++) {
		ret = cgroup__service(rows[i].path, rows[i].ns, out, sizeof(out));
		if (rows[i].service)
			CHECKF(ret == 0 && !strcmp(out, rows[i].service),
			       "%s in %s: %d '%s'", rows[i].path, rows[i].ns,
			       ret, out);
		else
			CHECKF(ret == 1, "%s in %s: %d", rows[i].path,
			       rows[i].ns, ret);
		ret = cgroup__unit(rows[i].path, out, sizeof(out));
		if (rows[i].unit)
			CHECKF(ret == 0 && !strcmp(out, rows[i].unit),
			       "%s: unit %d '%s'", rows[i].path, ret, out);
		else
			CHECKF(ret == 1, "%s: unit %d", rows[i].path, ret);
	}
}

T_MAIN("attest_cgroup",
       T(test_cgroup),
       T(test_cgroup_cache),
       T(test_cgroup_depth),
       T(test_service_and_unit_names));
