// SPDX-License-Identifier: Apache-2.0
/*
 * Registration entries (attest/registry.c, registry_json.c) and the choice
 * of a workload's SPIFFE ID (attest/identity.c): the tie rule, the most
 * specific entry winning, the JSON file, and templates whose values can
 * never steer the ID.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attest/attest_int.h"
#include "tests/unit/harness.h"

#define MAXSEL 8

/* ---- helpers ----------------------------------------------------------- */

/* An entry from an ID and up to MAXSEL selector strings (NULL-ended). */
struct spec {
	const char *id;
	const char *sels[MAXSEL + 1];
};

static void entry_of(const struct spec *s, struct attest_entry *e)
{
	memset(e, 0, sizeof(*e));
	if (spiffe_id__parse(&e->id, s->id, strlen(s->id), NULL))
		abort();
	for (; s->sels[e->nselectors]; e->nselectors++)
		if (selector__parse(&e->selectors[e->nselectors],
				    s->sels[e->nselectors], NULL))
			abort();
}

static int add(struct attest_registry *reg, const struct spec *s,
	       struct nt_err *err)
{
	struct attest_entry e;

	entry_of(s, &e);
	return attest_registry__add(reg, &e, err);
}

static struct attest_registry *new_reg(void)
{
	struct attest_registry *reg;

	if (attest_registry__new(&reg))
		abort();
	return reg;
}

/* A workload's result holding exactly these selectors. */
static void result_of(struct attest_result *res, const char *service, ...)
{
	const char *s;
	va_list ap;

	memset(res, 0, sizeof(*res));
	snprintf(res->service, sizeof(res->service), "%s", service);
	va_start(ap, service);
	while ((s = va_arg(ap, const char *)))
		if (selector__parse(&res->selectors[res->nselectors++], s,
				    NULL))
			abort();
	va_end(ap);
}

static const char *tmp_file(const char *name)
{
	static char buf[4][PATH_MAX];
	static int slot;
	char *out = buf[slot++ & 3];

	if (snprintf(out, PATH_MAX, "%s/%s", t_tmpdir(), name) >= PATH_MAX)
		abort();
	return out;
}

static void write_text(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		abort();
	close(fd);
}

/* ---- adding ------------------------------------------------------------ */

static void test_add_and_refuse(void)
{
	static const struct {
		struct spec e;
		int ret;
		const char *err;
	} rows[] = {
		{ { "spiffe://td/web", { "unix:uid:1000", NULL } }, 0, NULL },
		{ { "spiffe://td/web", { "unix:uid:1001", NULL } }, -EEXIST,
		  "an entry for spiffe://td/web already exists" },
		{ { "spiffe://td/none", { NULL } }, -EINVAL,
		  "an entry needs 1 to 64 selectors, not 0" },
		{ { "spiffe://td", { "unix:uid:7", NULL } }, -EINVAL,
		  "has no path" },
		{ { "spiffe://td/dup", { "unix:uid:7", "unix:gid:7",
					 "unix:uid:7", NULL } }, -EINVAL,
		  "selectors[2]: 'unix:uid:7' repeats selectors[0]" },
		{ { "spiffe://td/two", { "unix:uid:7", "unix:uid:8", NULL } },
		  -EINVAL, "a workload has only one unix:uid" },
	};
	struct attest_registry *reg = new_reg();
	struct nt_err err = { "" };
	size_t i;
	int ret;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		ret = add(reg, &rows[i].e, &err);
		CHECKF(ret == rows[i].ret, "%s: returned %d (%s)",
		       rows[i].e.id, ret, err.msg);
		if (rows[i].err)
			CHECKF(strstr(err.msg, rows[i].err) != NULL,
			       "%s: message '%s' lacks '%s'", rows[i].e.id,
			       err.msg, rows[i].err);
	}
	CHECK(attest_registry__count(reg) == 1);
	CHECK(!strcmp(attest_registry__at(reg, 0)->id.str, "spiffe://td/web"));
	CHECK(attest_registry__at(reg, 1) == NULL);
	attest_registry__free(reg);
}

/* A struct that did not come from the parsers is checked all the same. */
static void test_add_checks_structs(void)
{
	struct attest_registry *reg = new_reg();
	struct spec s = { "spiffe://td/x", { "unix:uid:1", NULL } };
	struct nt_err err = { "" };
	struct attest_entry e;

	entry_of(&s, &e);
	strcpy(e.id.str, "spiffe://td/a b");
	e.id.len = strlen(e.id.str);
	CHECK(attest_registry__add(reg, &e, &err) == -EINVAL);
	entry_of(&s, &e);
	e.id.len = 3;		/* disagrees with the string */
	CHECK(attest_registry__add(reg, &e, &err) == -EINVAL);
	entry_of(&s, &e);
	strcpy(e.selectors[0].type, "k8s");
	CHECKF(attest_registry__add(reg, &e, &err) == -EINVAL &&
	       strstr(err.msg, "selectors[0]: unknown selector type 'k8s'"),
	       "'%s'", err.msg);
	entry_of(&s, &e);
	e.nselectors = ATTEST_SELECTOR_MAX + 1;
	CHECK(attest_registry__add(reg, &e, &err) == -EINVAL);
	/* the stored ID is a fresh parse, whatever the other fields said */
	entry_of(&s, &e);
	e.id.td_len = 99;
	CHECK(attest_registry__add(reg, &e, &err) == 0);
	CHECK(attest_registry__at(reg, 0)->id.td_len == 2);
	CHECK(attest_registry__count(reg) == 1);
	attest_registry__free(reg);
}

struct tie_row {
	const char *name;
	struct spec first, second;
	bool refused;
};

static void test_tie_rule(void)
{
	static const struct tie_row rows[] = {
		{ "different uids never co-match",
		  { "spiffe://td/a", { "unix:uid:1000", NULL } },
		  { "spiffe://td/b", { "unix:uid:1001", NULL } }, false },
		{ "uid and gid can co-match",
		  { "spiffe://td/a", { "unix:uid:1000", NULL } },
		  { "spiffe://td/b", { "unix:gid:100", NULL } }, true },
		{ "more selectors is more specific",
		  { "spiffe://td/a", { "unix:uid:1000", NULL } },
		  { "spiffe://td/b", { "unix:uid:1000", "unix:gid:100", NULL } },
		  false },
		{ "conflict on the second selector",
		  { "spiffe://td/a", { "unix:uid:1000", "unix:path:/a", NULL } },
		  { "spiffe://td/b", { "unix:uid:1000", "unix:path:/b", NULL } },
		  false },
		{ "same set, other order",
		  { "spiffe://td/a", { "unix:uid:1000", "unix:path:/a", NULL } },
		  { "spiffe://td/b", { "unix:path:/a", "unix:uid:1000", NULL } },
		  true },
		{ "disjoint kinds can co-match",
		  { "spiffe://td/a", { "unix:uid:1000", "unix:path:/a", NULL } },
		  { "spiffe://td/b", { "unix:gid:5", "cgroup:path:/x", NULL } },
		  true },
		{ "namespaces differ",
		  { "spiffe://td/a", { "ns:name:shop", NULL } },
		  { "spiffe://td/b", { "ns:name:bank", NULL } }, false },
		{ "user and uid are not assumed related",
		  { "spiffe://td/a", { "unix:uid:0", NULL } },
		  { "spiffe://td/b", { "unix:user:alice", NULL } }, true },
	};
	struct attest_registry *reg;
	struct nt_err err = { "" };
	size_t i;
	int ret;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		reg = new_reg();
		CHECK(add(reg, &rows[i].first, &err) == 0);
		ret = add(reg, &rows[i].second, &err);
		if (rows[i].refused) {
			CHECKF(ret == -EINVAL, "%s: returned %d", rows[i].name,
			       ret);
			CHECKF(strstr(err.msg, "ambiguous: entry spiffe://td/a matches the same workloads with as many selectors"),
			       "%s: message '%s'", rows[i].name, err.msg);
			CHECK(attest_registry__count(reg) == 1);
		} else {
			CHECKF(ret == 0, "%s: refused: %s", rows[i].name,
			       err.msg);
			CHECK(attest_registry__count(reg) == 2);
		}
		attest_registry__free(reg);
	}
}

static void test_del(void)
{
	struct spec a = { "spiffe://td/a", { "unix:uid:1", NULL } };
	struct spec b = { "spiffe://td/b", { "unix:uid:2", NULL } };
	struct spec c = { "spiffe://td/c", { "unix:gid:1", NULL } };
	struct attest_registry *reg = new_reg();
	struct nt_err err = { "" };

	CHECK(add(reg, &a, &err) == 0 && add(reg, &b, &err) == 0);
	CHECK(add(reg, &c, &err) == -EINVAL);	/* ties with a and b */
	CHECK(attest_registry__del(reg, "spiffe://td/a", &err) == 0);
	CHECK(attest_registry__count(reg) == 1);
	CHECK(!strcmp(attest_registry__at(reg, 0)->id.str, "spiffe://td/b"));
	CHECK(attest_registry__del(reg, "spiffe://td/a", &err) == -ENOENT);
	CHECKF(strstr(err.msg, "no entry for spiffe://td/a"), "'%s'", err.msg);
	CHECK(attest_registry__del(reg, "spiffe://td/b", &err) == 0);
	CHECK(add(reg, &c, &err) == 0);	/* nothing left to tie with */
	CHECK(attest_registry__count(reg) == 1);
	attest_registry__free(reg);
}

/* ---- the file ---------------------------------------------------------- */

static bool same_entries(const struct attest_registry *a,
			 const struct attest_registry *b)
{
	const struct attest_entry *x, *y;
	size_t i, j;

	if (attest_registry__count(a) != attest_registry__count(b))
		return false;
	for (i = 0; i < attest_registry__count(a); i++) {
		x = attest_registry__at(a, i);
		y = attest_registry__at(b, i);
		if (!spiffe_id__equal(&x->id, &y->id) ||
		    x->nselectors != y->nselectors)
			return false;
		for (j = 0; j < x->nselectors; j++)
			if (!selector__equal(&x->selectors[j], &y->selectors[j]))
				return false;
	}
	return true;
}

static void test_save_load(void)
{
	static const struct spec specs[] = {
		{ "spiffe://td/web", { "unix:uid:1000", "cgroup:path:/shop/web",
				       "unix:path:/usr/bin/a:b", NULL } },
		{ "spiffe://td/db", { "unix:uid:999", NULL } },
		{ "spiffe://other.td/x/y", { "ns:name:bank", "systemd:unit:x.service",
					     NULL } },
	};
	struct attest_registry *reg = new_reg(), *back = new_reg();
	const char *path = tmp_file("registry.json");
	struct nt_err err = { "" };
	struct stat st;
	size_t i;

	for (i = 0; i < sizeof(specs) / sizeof(specs[0]); i++)
		CHECK(add(reg, &specs[i], &err) == 0);
	CHECKF(attest_registry__save(reg, path, &err) == 0, "%s", err.msg);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == 0600);
	CHECKF(attest_registry__load(back, path, &err) == 0, "%s", err.msg);
	CHECK(same_entries(reg, back));
	/* an empty registry round-trips too */
	attest_registry__free(reg);
	reg = new_reg();
	CHECK(attest_registry__save(reg, path, &err) == 0);
	CHECK(attest_registry__load(back, path, &err) == 0);
	CHECK(attest_registry__count(back) == 0);
	/* a missing file is an empty registry */
	CHECK(add(back, &specs[0], &err) == 0);
	CHECK(attest_registry__load(back, tmp_file("missing.json"), &err) == 0);
	CHECK(attest_registry__count(back) == 0);
	attest_registry__free(reg);
	attest_registry__free(back);
}

#define E1 "{\"spiffe_id\": \"spiffe://td/a\", \"selectors\": [\"unix:uid:1\"]}"
#define E2 "{\"spiffe_id\": \"spiffe://td/b\", \"selectors\": [\"unix:uid:2\"]}"

static void test_load_bad(void)
{
	static const struct {
		const char *json;
		const char *err;
	} rows[] = {
		{ "", "invalid json" },
		{ "{", "invalid json" },
		{ "{\"entries\": []} x", "trailing data" },
		{ "[]", "registry: expected a json object" },
		{ "{}", "entries: missing" },
		{ "{\"entries\": {}}", "entries: expected an array" },
		{ "{\"entries\": [], \"x\": 1}", "registry: unknown key \"x\"" },
		{ "{\"entries\": [], \"entries\": []}",
		  "duplicate json key \"entries\"" },
		{ "{\"entries\": [" E1 ", {\"spiffe_id\": \"spiffe://td/c\", "
		  "\"selectors\": [\"unix:uid:3\"], \"extra\": true}]}",
		  "entries[1]: unknown key \"extra\"" },
		{ "{\"entries\": [{\"spiffe_id\": \"spiffe://td/a\", \"spiffe_id\": "
		  "\"spiffe://td/b\", \"selectors\": [\"unix:uid:1\"]}]}",
		  "duplicate json key \"spiffe_id\"" },
		{ "{\"entries\": [5]}", "entries[0]: expected a json object" },
		{ "{\"entries\": [{\"spiffe_id\": 5, \"selectors\": []}]}",
		  "entries[0].spiffe_id: expected a string" },
		{ "{\"entries\": [{\"selectors\": []}]}",
		  "entries[0].spiffe_id: missing" },
		{ "{\"entries\": [{\"spiffe_id\": \"https://td/a\", \"selectors\": "
		  "[\"unix:uid:1\"]}]}", "entries[0].spiffe_id: " },
		{ "{\"entries\": [{\"spiffe_id\": \"spiffe://td\", \"selectors\": "
		  "[\"unix:uid:1\"]}]}", "entries[0]: spiffe id spiffe://td has no path" },
		{ "{\"entries\": [{\"spiffe_id\": \"spiffe://td/a\"}]}",
		  "entries[0].selectors: missing" },
		{ "{\"entries\": [{\"spiffe_id\": \"spiffe://td/a\", \"selectors\": "
		  "\"unix:uid:1\"}]}", "entries[0].selectors: expected an array" },
		{ "{\"entries\": [{\"spiffe_id\": \"spiffe://td/a\", \"selectors\": "
		  "[1]}]}", "entries[0].selectors[0]: expected a string" },
		{ "{\"entries\": [{\"spiffe_id\": \"spiffe://td/a\", \"selectors\": "
		  "[]}]}", "entries[0]: an entry needs 1 to 64 selectors" },
		{ "{\"entries\": [" E1 ", " E2 ", {\"spiffe_id\": \"spiffe://td/c\", "
		  "\"selectors\": [\"unix:uid:3\", \"foo:x:y\"]}]}",
		  "entries[2].selectors[1]: unknown selector type 'foo'" },
		{ "{\"entries\": [" E1 ", {\"spiffe_id\": \"spiffe://td/c\", "
		  "\"selectors\": [\"unix:gid:3\", \"unix:gid:3\"]}]}",
		  "entries[1].selectors[1]: 'unix:gid:3' repeats selectors[0]" },
		{ "{\"entries\": [" E1 ", " E1 "]}",
		  "entries[1]: an entry for spiffe://td/a already exists" },
		{ "{\"entries\": [" E1 ", {\"spiffe_id\": \"spiffe://td/c\", "
		  "\"selectors\": [\"unix:gid:1\"]}]}",
		  "entries[1]: ambiguous: entry spiffe://td/a" },
	};
	struct spec keep = { "spiffe://td/keep", { "unix:uid:5", NULL } };
	struct attest_registry *reg = new_reg();
	const char *path = tmp_file("bad.json");
	struct nt_err err = { "" };
	size_t i;
	int ret;

	CHECK(add(reg, &keep, &err) == 0);
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		write_text(path, rows[i].json);
		ret = attest_registry__load(reg, path, &err);
		/* every row is invalid input, but a repeated ID says so */
		CHECKF(ret == (strstr(rows[i].err, "already exists") ?
			       -EEXIST : -EINVAL),
		       "row %zu: returned %d", i, ret);
		CHECKF(strstr(err.msg, rows[i].err) != NULL,
		       "row %zu: message '%s' lacks '%s'", i, err.msg,
		       rows[i].err);
		CHECKF(strstr(err.msg, path) == err.msg,
		       "row %zu: message '%s' does not name the file", i,
		       err.msg);
		/* untouched */
		CHECKF(attest_registry__count(reg) == 1 &&
		       !strcmp(attest_registry__at(reg, 0)->id.str,
			       "spiffe://td/keep"), "row %zu: registry changed", i);
	}
	attest_registry__free(reg);
}

/* ---- identity ---------------------------------------------------------- */

struct template_row {
	const char *tmpl;	/* NULL: the default */
	const char *ns;
	const char *service;
	const char *user;	/* unix:user value; NULL: none */
	const char *id;		/* expected; NULL: error */
	const char *err;
};

static void check_template_row(const struct template_row *r)
{
	struct attest_ns ns = { .name = r->ns, .trust_domain = "td",
				.id_template = r->tmpl };
	const struct attest_entry *from = (void *)1;
	struct nt_err err = { "" };
	struct attest_result res;
	char user[300];
	struct spiffe_id id;
	int ret;

	snprintf(user, sizeof(user), "unix:user:%s", r->user ? r->user : "x");
	if (r->user)
		result_of(&res, r->service, "unix:uid:1000", user, NULL);
	else
		result_of(&res, r->service, "unix:uid:1000", NULL);
	ret = attest__identity(NULL, &ns, &res, &id, &from, &err);
	if (!r->id) {
		CHECKF(ret == -EINVAL, "%s / %s: returned %d ('%s')",
		       r->tmpl, r->service, ret, id.str);
		CHECKF(strstr(err.msg, r->err) != NULL,
		       "%s / %s: message '%s' lacks '%s'", r->tmpl, r->service,
		       err.msg, r->err);
		CHECK(id.len == 0 && from == NULL);
		return;
	}
	CHECKF(ret == 0 && !strcmp(id.str, r->id), "%s / %s: %d '%s' (%s)",
	       r->tmpl, r->service, ret, id.str, err.msg);
	CHECK(from == NULL);
}

static void test_identity_template(void)
{
	static const struct template_row rows[] = {
		{ NULL, "shop", "web", NULL, "spiffe://td/ns/shop/sa/web", NULL },
		{ NULL, "shop", "frontend.service", NULL,
		  "spiffe://td/ns/shop/sa/frontend.service", NULL },
		/* a sub-cgroup named "default" is a service like any other */
		{ NULL, "shop", "default", NULL,
		  "spiffe://td/ns/shop/sa/default", NULL },
		{ "uid/{uid}", "shop", "", NULL, "spiffe://td/uid/1000", NULL },
		{ "ns/{ns}/u/{user}", "shop", "", "alice",
		  "spiffe://td/ns/shop/u/alice", NULL },
		{ "u/{user}", "shop", "web", NULL, NULL,
		  "{user}: the workload's uid has no user name" },
		{ "x/{service}", "shop", "a b", NULL, NULL,
		  "{service} value 'a b' cannot be a spiffe id segment" },
		{ NULL, "shop", "a/b", NULL, NULL,
		  "a value must not add path segments" },
		{ NULL, "shop", "..", NULL, NULL, "dot segments" },
		{ NULL, "shop", ".", NULL, NULL, "dot segments" },
		{ NULL, "shop", "%2e%2e", NULL, NULL, "percent" },
		{ NULL, "shop", "caf\xc3\xa9", NULL, NULL, "caf??" },
		{ NULL, "shop", "", NULL, NULL,
		  "{service}: the workload's cgroup is unknown" },
		{ NULL, "my shop", "web", NULL, NULL, "{ns} value 'my shop'" },
		{ "u/{user}", "shop", "", "../root", NULL, "{user} value" },
		{ "ns/{nope}", "shop", "web", NULL, NULL,
		  "{nope}: unknown placeholder" },
		{ "ns/x{ns}", "shop", "web", NULL, NULL,
		  "x{ns}: unknown placeholder" },
		{ "", "shop", "web", NULL, NULL, "template ''" },
		{ "/a", "shop", "web", NULL, NULL, "template '/a'" },
		{ "a//b", "shop", "web", NULL, NULL, "template 'a//b'" },
		{ "a b/{ns}", "shop", "web", NULL, NULL, "template 'a b/{ns}'" },
	};
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		check_template_row(&rows[i]);
}

/* What `ns add --template` refuses before any workload meets it. */
static void test_template_check(void)
{
	static const struct {
		const char *tmpl;
		const char *err;	/* NULL: accepted */
	} rows[] = {
		{ NULL, NULL },
		{ "ns/{ns}/sa/{service}", NULL },
		{ "uid/{uid}", NULL },
		{ "{ns}/{user}/{service}/{service}", NULL },
		{ "static", NULL },
		{ "{ns}", NULL },
		{ "ns/{nope}", "{nope}: unknown placeholder" },
		{ "ns/{ns", "{ns: unknown placeholder" },
		{ "ns/x{ns}", "x{ns}: unknown placeholder" },
		{ "{service}",
		  "leaves no path for a process of the namespace's own cgroup" },
		{ "{service}/{service}", "leaves no path" },
		{ "", "template ''" },
		{ "/a", "template '/a'" },
		{ "a/", "template 'a/'" },
		{ "a//{ns}", "template 'a//{ns}'" },
		{ "a/../{ns}", "template 'a/../{ns}'" },
		{ "a/%2e/{service}", "percent" },
		{ "a b/{ns}", "template 'a b/{ns}'" },
		{ "1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16/17/18/19/20/21/22/23/"
		  "24/25/26/27/28/29/30/31/32/{service}", "more than 32 segments" },
	};
	struct nt_err err;
	size_t i;
	int ret;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		err.msg[0] = '\0';
		ret = attest__template_check(rows[i].tmpl, &err);
		if (!rows[i].err)
			CHECKF(ret == 0, "'%s': %d (%s)", rows[i].tmpl ?
			       rows[i].tmpl : "(default)", ret, err.msg);
		else
			CHECKF(ret == -EINVAL && strstr(err.msg, rows[i].err),
			       "'%s': %d '%s', want '%s'", rows[i].tmpl, ret,
			       err.msg, rows[i].err);
	}
}

static void test_identity_entries(void)
{
	static const struct spec specs[] = {
		{ "spiffe://td/one", { "ns:name:shop", NULL } },
		{ "spiffe://td/two", { "ns:name:shop", "unix:uid:1000", NULL } },
		{ "spiffe://td/three", { "ns:name:shop", "unix:uid:1000",
					 "cgroup:path:/shop/web", NULL } },
		{ "spiffe://td/other", { "ns:name:shop", "unix:uid:1000",
					 "cgroup:path:/shop/db", NULL } },
	};
	struct attest_ns ns = { .name = "shop", .trust_domain = "td" };
	struct attest_registry *reg = new_reg();
	const struct attest_entry *from = NULL;
	struct nt_err err = { "" };
	struct attest_result res;
	struct spiffe_id id;
	size_t i;

	for (i = 0; i < sizeof(specs) / sizeof(specs[0]); i++)
		CHECKF(add(reg, &specs[i], &err) == 0, "%s: %s", specs[i].id,
		       err.msg);
	/* the most specific match wins, whatever the order */
	result_of(&res, "web", "unix:uid:1000", "unix:gid:1",
		  "cgroup:path:/shop/web", "ns:name:shop", NULL);
	CHECK(attest__identity(reg, &ns, &res, &id, &from, &err) == 0);
	CHECKF(!strcmp(id.str, "spiffe://td/three"), "'%s'", id.str);
	CHECK(from == attest_registry__at(reg, 2));
	result_of(&res, "api", "unix:uid:1000", "cgroup:path:/shop/api",
		  "ns:name:shop", NULL);
	CHECK(attest__identity(reg, &ns, &res, &id, &from, &err) == 0);
	CHECKF(!strcmp(id.str, "spiffe://td/two"), "'%s'", id.str);
	result_of(&res, "api", "unix:uid:1", "ns:name:shop", NULL);
	CHECK(attest__identity(reg, &ns, &res, &id, NULL, &err) == 0);
	CHECK(!strcmp(id.str, "spiffe://td/one"));
	/* no entry matches: the template */
	result_of(&res, "api", "unix:uid:1000", "ns:name:bank", NULL);
	CHECK(attest__identity(reg, &ns, &res, &id, &from, &err) == 0);
	CHECKF(!strcmp(id.str, "spiffe://td/ns/shop/sa/api") && !from,
	       "'%s'", id.str);
	/* an entry overrides even a template that would fail */
	result_of(&res, "a b", "unix:uid:1000", "ns:name:shop", NULL);
	CHECK(attest__identity(reg, &ns, &res, &id, &from, &err) == 0);
	CHECK(!strcmp(id.str, "spiffe://td/two"));
	/* without a namespace only entries can name a workload */
	result_of(&res, "api", "unix:uid:5", NULL);
	CHECK(attest__identity(reg, NULL, &res, &id, &from, &err) == -ENOENT);
	attest_registry__free(reg);
}

/* A tie can only exist if someone bypassed attest_registry__add: then no
 * ID is given rather than the first in table order. */
static void test_identity_tie_fails_closed(void)
{
	static const struct spec a = { "spiffe://td/a", { "unix:uid:1", NULL } };
	static const struct spec b = { "spiffe://td/b", { "unix:gid:1", NULL } };
	struct attest_ns ns = { .name = "shop", .trust_domain = "td" };
	struct attest_registry *reg = new_reg();
	struct nt_err err = { "" };
	struct attest_result res;
	struct spiffe_id id;

	reg->entries = calloc(2, sizeof(*reg->entries));
	if (!reg->entries)
		abort();
	reg->cap = 2;
	entry_of(&a, &reg->entries[reg->n++]);
	entry_of(&b, &reg->entries[reg->n++]);
	result_of(&res, "web", "unix:uid:1", "unix:gid:1", NULL);
	CHECK(attest__identity(reg, &ns, &res, &id, NULL, &err) == -EINVAL);
	CHECKF(strstr(err.msg, "ambiguous: entries spiffe://td/a and spiffe://td/b"),
	       "'%s'", err.msg);
	CHECK(id.len == 0);
	attest_registry__free(reg);
}

T_MAIN("attest_registry",
       T(test_add_and_refuse),
       T(test_add_checks_structs),
       T(test_tie_rule),
       T(test_del),
       T(test_save_load),
       T(test_load_bad),
       T(test_identity_template),
       T(test_template_check),
       T(test_identity_entries),
       T(test_identity_tie_fails_closed));
