// SPDX-License-Identifier: Apache-2.0
/*
 * Cgroup ids to paths, services and systemd units (attest/cgroup.c),
 * root-free: the cgroup tree is made of plain directories under the test's
 * tmpdir, whose inode numbers stand for cgroup ids exactly as cgroupfs
 * inode numbers do on cgroup v2.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attest/attest_int.h"
#include "tests/unit/fixture_attest.h"
#include "tests/unit/harness.h"

/* ---- helpers ----------------------------------------------------------- */

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
	mkdirs("cg/shop/default");
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
	bool own;		/* expected res->ns_own_cgroup */
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
	CHECKF(res.ns_own_cgroup == r->own, "%s: ns_own_cgroup %d", dir,
	       res.ns_own_cgroup);
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
		{ "shop/web/worker", "shop", "/shop/web/worker", "web", NULL,
		  false },
		{ "shop/web", "shop", "/shop/web", "web", NULL, false },
		{ "shop", "shop", "/shop", "", NULL, true },
		{ "shop/frontend.service/x", "shop", "/shop/frontend.service/x",
		  "frontend.service", "frontend.service", false },
		{ "shop/app.slice/api.service/sub", "shop",
		  "/shop/app.slice/api.service/sub", "app.slice", "api.service",
		  false },
		/* found by its real path, never through the symlink */
		{ "other/x", "shop", "/other/x", "", NULL, false },
		{ "other", "shop", "/other", "", NULL, false },
		{ "", "shop", "/", "", NULL, false },
		{ "shop/web", "", "/shop/web", "shop", NULL, false },
		{ "", "", "/", "", NULL, true },
		{ NULL, "shop", NULL, "", NULL, false },
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
		{ "/a", "/a", "", NULL },
		{ "/ab/c", "/a", NULL, NULL },
		{ "/a/b", "/", "a", NULL },
		{ "/", "/", "", NULL },
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

/* ---- the namespace's own cgroup against a sub-cgroup -------------------- */

struct own_row {
	const char *tmpl;	/* NULL: the default */
	const char *dir;	/* the workload's cgroup under cg/ */
	const char *id;		/* expected; NULL: error */
	const char *err;
};

static const char *shown(const char *tmpl)
{
	return tmpl ? tmpl : "(default)";
}

/* The ID of a workload in @dir of namespace "shop", through the whole
 * path: evidence -> selectors -> template. */
static int id_of(struct attest_ctx *ctx, const char *tmpl, const char *dir,
		 struct spiffe_id *id, struct nt_err *err)
{
	struct attest_ns ns = { .name = "shop", .trust_domain = "td",
				.id_template = tmpl };
	struct attest_evidence ev = { .uid = 1, .gid = 1 };
	struct attest_result res;
	int ret;

	ns.cgroup_id = cg_id("shop");
	ev.ns_cgroup_id = ns.cgroup_id;
	ev.cgroup_id = cg_id(dir);
	ret = attest__selectors(ctx, &ev, &ns, &res, err);
	return ret ? ret : attest__identity(NULL, &ns, &res, id, NULL, err);
}

static void check_own_row(struct attest_ctx *ctx, const struct own_row *r)
{
	struct nt_err err = { "" };
	struct spiffe_id id;
	int ret;

	ret = id_of(ctx, r->tmpl, r->dir, &id, &err);
	if (!r->id) {
		CHECKF(ret == -EINVAL && strstr(err.msg, r->err),
		       "%s in %s: %d '%s' ('%s', want '%s')", shown(r->tmpl),
		       r->dir, ret, id.str, err.msg, r->err);
		return;
	}
	CHECKF(ret == 0 && !strcmp(id.str, r->id),
	       "%s in %s: %d '%s' (%s), want '%s'", shown(r->tmpl), r->dir, ret,
	       id.str, err.msg, r->id);
}

/* A process of the namespace's own cgroup gets the template without its
 * {service} segments; a sub-cgroup, whatever its name (even "default"),
 * keeps one segment per {service}. */
static void test_own_cgroup_identity(void)
{
	static const struct own_row rows[] = {
		{ NULL, "shop", "spiffe://td/ns/shop/sa", NULL },
		{ NULL, "shop/default", "spiffe://td/ns/shop/sa/default", NULL },
		{ NULL, "shop/web", "spiffe://td/ns/shop/sa/web", NULL },
		{ NULL, "shop/web/worker", "spiffe://td/ns/shop/sa/web", NULL },
		{ "{ns}/{service}/x", "shop", "spiffe://td/shop/x", NULL },
		{ "{ns}/{service}/x", "shop/default",
		  "spiffe://td/shop/default/x", NULL },
		{ "a/{service}/{service}", "shop", "spiffe://td/a", NULL },
		{ "a/{service}/{service}", "shop/web",
		  "spiffe://td/a/web/web", NULL },
		{ "uid/{uid}", "shop", "spiffe://td/uid/1", NULL },
		{ "{service}", "shop/web", "spiffe://td/web", NULL },
		{ "{service}", "shop", NULL,
		  "leaves no path for a process of the namespace's own cgroup" },
		{ "{service}/{service}", "shop", NULL,
		  "leaves no path for a process of the namespace's own cgroup" },
	};
	struct attest_ctx *ctx;
	size_t i;

	fixtures();
	ctx = new_ctx();
	for (i = 0; i < ARRAY_SIZE(rows); i++)
		check_own_row(ctx, &rows[i]);
	attest__free(ctx);
}

/* The collision itself: for every template with {service}, no name a
 * sub-cgroup can take gives the ID of the namespace's own cgroup. */
static void test_own_cgroup_never_collides(void)
{
	static const char *const tmpls[] = {
		NULL, "{ns}/{service}", "{service}/{ns}", "x/{service}/y",
		"{ns}/{service}/{service}",
	};
	struct nt_err err = { "" };
	struct spiffe_id own, sub;
	struct attest_ctx *ctx;
	size_t i;

	fixtures();
	ctx = new_ctx();
	for (i = 0; i < ARRAY_SIZE(tmpls); i++) {
		CHECKF(id_of(ctx, tmpls[i], "shop", &own, &err) == 0,
		       "%s: own cgroup: %s", shown(tmpls[i]), err.msg);
		CHECKF(id_of(ctx, tmpls[i], "shop/default", &sub, &err) == 0,
		       "%s: sub-cgroup: %s", shown(tmpls[i]), err.msg);
		CHECKF(strcmp(own.str, sub.str),
		       "%s: the own cgroup and shop/default are both '%s'",
		       shown(tmpls[i]), own.str);
	}
	attest__free(ctx);
}

T_MAIN("attest_cgroup",
       T(test_cgroup),
       T(test_cgroup_cache),
       T(test_cgroup_depth),
       T(test_service_and_unit_names),
       T(test_own_cgroup_identity),
       T(test_own_cgroup_never_collides));
