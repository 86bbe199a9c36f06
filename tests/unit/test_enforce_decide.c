// SPDX-License-Identifier: Apache-2.0
/*
 * enforce/: the decision (deny before allow, exact bytes, segment-boundary
 * prefixes, no ALLOW for an unauthenticated peer, modes, egress ranges),
 * canonical JSON, the `policy check` dry run and loading a file. Parsing is
 * in test_enforce_parse.c.
 *
 * JSON in the tables is written with ' for " (see dq()) to stay readable;
 * no row needs a literal apostrophe.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "enforce/enforce.h"
#include "tests/unit/fixture_enforce.h"
#include "tests/unit/harness.h"

/* ---- helpers ----------------------------------------------------------- */

static struct policy *parse_or_die(const char *q)
{
	struct nt_err err = { "" };
	struct policy *p;

	if (parse_q(q, &p, &err)) {
		fprintf(stderr, "table policy does not parse: %s\n", err.msg);
		abort();
	}
	return p;
}

static void id_or_die(struct spiffe_id *id, const char *s)
{
	if (spiffe_id__parse(id, s, strlen(s), NULL))
		abort();
}

/* ---- decisions --------------------------------------------------------- */

#define FRONTEND "spiffe://td/ns/shop/sa/frontend"
#define CATALOGUE "spiffe://td/ns/shop/sa/catalogue"
#define CART "spiffe://td/ns/shop/sa/cart"
#define PUBLIC "spiffe://td/ns/shop/sa/public"
#define VAULT "spiffe://td/ns/shop/sa/vault"
#define BANNED "spiffe://td/ns/shop/sa/banned"

static const char decide_policy[] =
	"{'namespaces':{"
	"'shop':{'rules':["
	/* 0 */ "{'action':'allow','from':['" FRONTEND "'],"
		"'to':['" CATALOGUE "'],'ports':[8080]},"
	/* 1 */ "{'action':'allow','from':['spiffe://td/ns/shop/*'],"
		"'to':['" CART "']},"
	/* 2 */ "{'action':'allow','from':['*'],'to':['" PUBLIC "']},"
	/* 3 */ "{'action':'deny','from':['" BANNED "','" BANNED "2'],"
		"'to':['*']},"
	/* 4 */ "{'action':'deny','from':['*'],'to':['" VAULT "']},"
	/* 5 */ "{'action':'allow','from':['" BANNED "'],'to':['" PUBLIC "']},"
	/* 6 */ "{'action':'allow','from':['spiffe://td/*'],'to':['" VAULT "']},"
	/* 7 */ "{'action':'deny','from':['" FRONTEND "'],'to':['" CART "'],"
		"'ports':[9999]}],"
	"'egress':[{'to':'10.0.0.0/24','ports':[443,8443]},"
	"{'to':'fd00:1::/64'}]},"
	"'lab':{'rules':[{'action':'allow','from':['spiffe://td/*'],"
	"'to':['*'],'ports':[22]}]},"
	"'empty':{'rules':[]}}}";

struct decide_row {
	const char *ns;
	enum enforce_mode mode;
	const char *src;	/* NULL: no verified peer */
	const char *dst;	/* NULL: plaintext egress */
	uint16_t port;
	const char *addr;
	enum verdict want;
	bool enforced;
	int rule;
	const char *reason;	/* exact */
};

#define S ENFORCE_STRICT
#define P ENFORCE_PERMISSIVE
#define O ENFORCE_OBSERVE
#define A VERDICT_ALLOW
#define D VERDICT_DENY
#define NO_ALLOW "default deny: no allow rule"
#define NO_NS "default deny: namespace not in policy"
#define NO_EGRESS "default deny: no egress rule"
#define NO_ID "default deny: no destination identity"

static const struct decide_row decide_rows[] = {
	/* exact IDs, byte for byte */
	{ "shop", S, FRONTEND, CATALOGUE, 8080, NULL, A, true, 0,
	  "rule shop.rules[0] (allow)" },
	{ "shop", S, FRONTEND, CATALOGUE, 8081, NULL, D, true, -1, NO_ALLOW },
	{ "shop", S, FRONTEND "2", CATALOGUE, 8080, NULL, D, true, -1, NO_ALLOW },
	{ "shop", S, FRONTEND "/x", CATALOGUE, 8080, NULL, D, true, -1,
	  NO_ALLOW },
	{ "shop", S, "spiffe://td2/ns/shop/sa/frontend", CATALOGUE, 8080, NULL,
	  D, true, -1, NO_ALLOW },
	{ "shop", S, FRONTEND, CATALOGUE "x", 8080, NULL, D, true, -1,
	  NO_ALLOW },
	/* prefixes, at a segment boundary only */
	{ "shop", S, "spiffe://td/ns/shop/sa/x", CART, 1, NULL, A, true, 1,
	  "rule shop.rules[1] (allow)" },
	{ "shop", S, "spiffe://td/ns/shop/a/b/c/d", CART, 1, NULL, A, true, 1,
	  "rule shop.rules[1] (allow)" },
	{ "shop", S, "spiffe://td/ns/shop/x", CART, 1, NULL, A, true, 1,
	  "rule shop.rules[1] (allow)" },
	{ "shop", S, "spiffe://td/ns/shopping/sa/x", CART, 1, NULL, D, true,
	  -1, NO_ALLOW },
	{ "shop", S, "spiffe://td/ns/shop", CART, 1, NULL, D, true, -1,
	  NO_ALLOW },
	{ "shop", S, "spiffe://td/ns/shop-x/y", CART, 1, NULL, D, true, -1,
	  NO_ALLOW },
	{ "shop", S, "spiffe://tdx/ns/shop/sa/x", CART, 1, NULL, D, true, -1,
	  NO_ALLOW },
	{ "shop", S, "spiffe://td.evil/ns/shop/sa/x", CART, 1, NULL, D, true,
	  -1, NO_ALLOW },
	/* "*" is any verified identity, never the absence of one */
	{ "shop", S, "spiffe://other.org/anything", PUBLIC, 80, NULL, A, true,
	  2, "rule shop.rules[2] (allow)" },
	{ "shop", S, NULL, PUBLIC, 80, NULL, D, true, -1, NO_ALLOW },
	{ "shop", S, NULL, CART, 1, NULL, D, true, -1, NO_ALLOW },
	{ "shop", S, NULL, CATALOGUE, 8080, NULL, D, true, -1, NO_ALLOW },
	/* ... but a deny from "*" catches an unauthenticated flow */
	{ "shop", S, NULL, VAULT, 1, NULL, D, true, 4,
	  "rule shop.rules[4] (deny)" },
	/* every deny before any allow; the first deny names the reason */
	{ "shop", S, BANNED, PUBLIC, 80, NULL, D, true, 3,
	  "rule shop.rules[3] (deny)" },
	{ "shop", S, BANNED "2", CATALOGUE, 8080, NULL, D, true, 3,
	  "rule shop.rules[3] (deny)" },
	{ "shop", S, FRONTEND, VAULT, 1, NULL, D, true, 4,
	  "rule shop.rules[4] (deny)" },
	{ "shop", S, BANNED, VAULT, 1, NULL, D, true, 3,
	  "rule shop.rules[3] (deny)" },
	/* ports on a deny rule */
	{ "shop", S, FRONTEND, CART, 9999, NULL, D, true, 7,
	  "rule shop.rules[7] (deny)" },
	{ "shop", S, FRONTEND, CART, 9998, NULL, A, true, 1,
	  "rule shop.rules[1] (allow)" },
	{ "shop", S, FRONTEND, "spiffe://td/ns/shop/sa/unknown", 1, NULL, D,
	  true, -1, NO_ALLOW },
	/* the trust domain's root prefix, in another namespace */
	{ "lab", S, "spiffe://td/x", "spiffe://other/y", 22, NULL, A, true, 0,
	  "rule lab.rules[0] (allow)" },
	{ "lab", S, "spiffe://td/x", "spiffe://other/y", 23, NULL, D, true, -1,
	  NO_ALLOW },
	{ "lab", S, "spiffe://td", "spiffe://other/y", 22, NULL, D, true, -1,
	  NO_ALLOW },
	{ "lab", S, "spiffe://tdx/x", "spiffe://other/y", 22, NULL, D, true,
	  -1, NO_ALLOW },
	{ "shop", S, "spiffe://td/x", "spiffe://other/y", 22, NULL, D, true,
	  -1, NO_ALLOW },
	{ "empty", S, FRONTEND, CATALOGUE, 8080, NULL, D, true, -1, NO_ALLOW },
	/* absent namespace: default deny */
	{ "nope", S, FRONTEND, CATALOGUE, 8080, NULL, D, true, -1, NO_NS },
	{ "nope", P, FRONTEND, CATALOGUE, 8080, NULL, D, false, -1, NO_NS },
	{ "nope", O, FRONTEND, CATALOGUE, 8080, NULL, D, false, -1, NO_NS },
	{ NULL, S, FRONTEND, CATALOGUE, 8080, NULL, D, true, -1, NO_NS },
	{ "shop/x", S, FRONTEND, CATALOGUE, 8080, NULL, D, true, -1, NO_NS },
	{ "", S, FRONTEND, CATALOGUE, 8080, NULL, D, true, -1, NO_NS },
	/* modes: observe and permissive are dry runs of strict, even for an
	 * explicit deny */
	{ "shop", P, FRONTEND, CATALOGUE, 8080, NULL, A, false, 0,
	  "rule shop.rules[0] (allow)" },
	{ "shop", P, FRONTEND, CATALOGUE, 8081, NULL, D, false, -1, NO_ALLOW },
	{ "shop", P, NULL, PUBLIC, 80, NULL, D, false, -1, NO_ALLOW },
	{ "shop", P, NULL, VAULT, 1, NULL, D, false, 4,
	  "rule shop.rules[4] (deny)" },
	{ "shop", O, NULL, VAULT, 1, NULL, D, false, 4,
	  "rule shop.rules[4] (deny)" },
	{ "shop", O, FRONTEND, CATALOGUE, 8080, NULL, A, false, 0,
	  "rule shop.rules[0] (allow)" },
	{ "shop", O, FRONTEND, CATALOGUE, 8081, NULL, D, false, -1, NO_ALLOW },
	{ "shop", ENFORCE_OFF, NULL, VAULT, 1, NULL, A, true, -1,
	  "namespace not enforced" },
	{ "nope", ENFORCE_OFF, NULL, NULL, 1, NULL, A, true, -1,
	  "namespace not enforced" },
	/* a mode outside the enum fails closed, as strict */
	{ "shop", (enum enforce_mode)7, FRONTEND, CATALOGUE, 8081, NULL, D,
	  true, -1, NO_ALLOW },
	/* plaintext egress: only egress entries can allow */
	{ "shop", S, FRONTEND, NULL, 443, "10.0.0.7", A, true, -1,
	  "egress shop.egress[0] (allow)" },
	{ "shop", S, NULL, NULL, 8443, "10.0.0.7", A, true, -1,
	  "egress shop.egress[0] (allow)" },
	{ "shop", S, FRONTEND, NULL, 443, "10.0.0.0", A, true, -1,
	  "egress shop.egress[0] (allow)" },
	{ "shop", S, FRONTEND, NULL, 443, "10.0.0.255", A, true, -1,
	  "egress shop.egress[0] (allow)" },
	{ "shop", S, FRONTEND, NULL, 443, "::ffff:10.0.0.7", A, true, -1,
	  "egress shop.egress[0] (allow)" },
	{ "shop", S, FRONTEND, NULL, 80, "10.0.0.7", D, true, -1, NO_EGRESS },
	{ "shop", S, FRONTEND, NULL, 443, "10.0.1.7", D, true, -1, NO_EGRESS },
	{ "shop", S, FRONTEND, NULL, 443, "9.255.255.255", D, true, -1,
	  NO_EGRESS },
	{ "shop", S, FRONTEND, NULL, 1234, "fd00:1::5", A, true, -1,
	  "egress shop.egress[1] (allow)" },
	{ "shop", S, FRONTEND, NULL, 1, "fd00:1::ffff:ffff:ffff:ffff", A, true,
	  -1, "egress shop.egress[1] (allow)" },
	{ "shop", S, FRONTEND, NULL, 1, "fd00:2::5", D, true, -1, NO_EGRESS },
	{ "shop", S, FRONTEND, NULL, 1, "fd00:0:0:1::5", D, true, -1,
	  NO_EGRESS },
	{ "shop", S, FRONTEND, NULL, 443, "::a00:7", D, true, -1, NO_EGRESS },
	{ "lab", S, FRONTEND, NULL, 1, "fd00:1::5", D, true, -1, NO_EGRESS },
	{ "nope", S, FRONTEND, NULL, 443, "10.0.0.7", D, true, -1, NO_NS },
	{ "shop", S, FRONTEND, NULL, 443, NULL, D, true, -1, NO_ID },
	{ "shop", S, FRONTEND, NULL, 443, "10.0.0.7/32", D, true, -1, NO_ID },
	{ "shop", S, FRONTEND, NULL, 443, "10.0.0.07", D, true, -1, NO_ID },
	{ "shop", S, FRONTEND, NULL, 443, "", D, true, -1, NO_ID },
	{ "shop", P, FRONTEND, NULL, 80, "10.0.0.7", D, false, -1, NO_EGRESS },
	{ "shop", O, FRONTEND, NULL, 443, "10.0.0.7", A, false, -1,
	  "egress shop.egress[0] (allow)" },
};

static void run_decide_row(const struct policy *p, size_t i)
{
	const struct decide_row *r = &decide_rows[i];
	struct spiffe_id src, dst;
	struct decision_input in = {
		.ns = r->ns, .mode = r->mode, .port = r->port,
		.dst_addr = r->addr,
	};
	struct decision d;

	if (r->src) {
		id_or_die(&src, r->src);
		in.src = &src;
	}
	if (r->dst) {
		id_or_die(&dst, r->dst);
		in.dst = &dst;
	}
	memset(&d, 0xa5, sizeof(d));	/* every field must be written */
	policy__decide(p, &in, &d);
	CHECKF(d.verdict == r->want && d.enforced == r->enforced &&
	       d.rule == r->rule && !strcmp(d.reason, r->reason),
	       "row %zu (%s %s -> %s:%u %s): got %s enforced=%d rule=%d '%.*s'",
	       i, r->ns, r->src ? r->src : "-", r->dst ? r->dst : "-",
	       r->port, r->addr ? r->addr : "", d.verdict == A ? "allow" :
	       "deny", d.enforced, d.rule, (int)sizeof(d.reason), d.reason);
}

static void test_decide(void)
{
	struct policy *p = parse_or_die(decide_policy);
	size_t i;

	for (i = 0; i < ARRAY_SIZE(decide_rows); i++)
		run_decide_row(p, i);
	policy__free(p);
}

/* An empty policy, and no policy at all, deny everything. */
static void test_decide_empty(void)
{
	struct decision_input in = { .ns = "shop", .mode = ENFORCE_STRICT };
	struct spiffe_id id;
	struct decision d;
	struct policy *p;
	char *json;

	CHECK(policy__new_empty(&p) == 0);
	id_or_die(&id, FRONTEND);
	in.src = in.dst = &id;
	policy__decide(p, &in, &d);
	CHECK(d.verdict == D && d.enforced && d.rule == -1 &&
	      !strcmp(d.reason, NO_NS));
	policy__decide(NULL, &in, &d);
	CHECK(d.verdict == D && d.enforced && !strcmp(d.reason, NO_NS));
	CHECK(policy__namespaces(p) == 0 && policy__rules(p, "shop") == 0);
	CHECK(policy__to_json(p, false, &json, NULL) == 0);
	CHECKF(!strcmp(json, "{\"namespaces\":{}}"), "%s", json);
	free(json);
	policy__free(p);
}

/* ---- canonical JSON ---------------------------------------------------- */

/* to_json, parse, to_json again: both texts equal @want (when given). */
static void round_trip(const char *q, bool pretty, const char *want)
{
	struct policy *p = parse_or_die(q), *p2 = NULL;
	char *j1 = NULL, *j2 = NULL;
	struct nt_err err = { "" };

	CHECK(policy__to_json(p, pretty, &j1, &err) == 0);
	CHECKF(!want || !strcmp(j1, want), "got  %s\nwant %s", j1, want);
	CHECKF(policy__parse(&p2, j1, strlen(j1), &err) == 0, "%s: %s", j1,
	       err.msg);
	if (p2)
		CHECK(policy__to_json(p2, pretty, &j2, &err) == 0);
	CHECKF(j2 && !strcmp(j1, j2), "not stable:\n%s\n%s", j1, j2);
	free(j1);
	free(j2);
	policy__free(p);
	policy__free(p2);
}

static void test_to_json(void)
{
	/* Namespaces sorted, keys in a fixed order, the CIDR canonical,
	 * port order kept, an empty egress list left out. */
	round_trip("{'namespaces':{'zoo':{'egress':[],'rules':[]},"
		   "'app':{'egress':[{'ports':[443],'to':'FD00:0::/16'},"
		   "{'to':'10.1.0.0/16'}],'rules':[{'ports':[80,22],"
		   "'to':['*'],'from':['spiffe://td/a/*','spiffe://td/b'],"
		   "'action':'deny'}]}}}", false,
		   "{\"namespaces\":{\"app\":{\"rules\":[{\"action\":\"deny\","
		   "\"from\":[\"spiffe://td/a/*\",\"spiffe://td/b\"],"
		   "\"to\":[\"*\"],\"ports\":[80,22]}],\"egress\":["
		   "{\"to\":\"fd00::/16\",\"ports\":[443]},"
		   "{\"to\":\"10.1.0.0/16\"}]},\"zoo\":{\"rules\":[]}}}");
	round_trip(decide_policy, false, NULL);
	round_trip(decide_policy, true, NULL);
	round_trip("{'namespaces':{}}", true, "{\n\t\"namespaces\":\t{\n\t}\n}");
}

/* The canonical text parses to a policy that decides the same way. */
static void test_to_json_same_decisions(void)
{
	struct policy *p = parse_or_die(decide_policy), *p2 = NULL;
	char *json = NULL;
	size_t i;

	CHECK(policy__to_json(p, true, &json, NULL) == 0);
	CHECK(policy__parse(&p2, json, strlen(json), NULL) == 0);
	for (i = 0; p2 && i < ARRAY_SIZE(decide_rows); i++)
		run_decide_row(p2, i);
	free(json);
	policy__free(p);
	policy__free(p2);
}

/* ---- policy check ------------------------------------------------------ */

struct check_row {
	const char *ns, *from, *to;
	uint16_t port;
	int ret;
	enum verdict want;
	int rule;
	const char *text;	/* reason, or error substring */
};

static void test_check(void)
{
	static const struct check_row rows[] = {
		{ "shop", FRONTEND, CATALOGUE, 8080, 0, A, 0,
		  "rule shop.rules[0] (allow)" },
		{ "shop", FRONTEND, CATALOGUE, 80, 0, D, -1, NO_ALLOW },
		{ "shop", "-", VAULT, 1, 0, D, 4, "rule shop.rules[4] (deny)" },
		{ "shop", "-", PUBLIC, 80, 0, D, -1, NO_ALLOW },
		{ "nope", FRONTEND, CATALOGUE, 8080, 0, D, -1, NO_NS },
		{ "shop", "spiffe://td/../x", CATALOGUE, 1, -EINVAL, D, -1,
		  "from: invalid SPIFFE ID: path segment 1 is '..'" },
		{ "shop", "*", CATALOGUE, 1, -EINVAL, D, -1,
		  "from: invalid SPIFFE ID" },
		{ "shop", FRONTEND, "-", 1, -EINVAL, D, -1,
		  "to: invalid SPIFFE ID" },
		{ "shop", FRONTEND, "spiffe://td/ns/shop/*", 1, -EINVAL, D, -1,
		  "to: invalid SPIFFE ID" },
		{ "shop", FRONTEND, "", 1, -EINVAL, D, -1,
		  "to: invalid SPIFFE ID: spiffe id is empty" },
	};
	struct policy *p = parse_or_die(decide_policy);
	struct nt_err err;
	struct decision d;
	size_t i;
	int ret;

	for (i = 0; i < ARRAY_SIZE(rows); i++) {
		const struct check_row *r = &rows[i];

		memset(&err, 0, sizeof(err));
		ret = policy__check(p, r->ns, r->from, r->to, r->port, &d,
				    &err);
		CHECKF(ret == r->ret, "row %zu: returned %d (%s)", i, ret,
		       err.msg);
		if (ret) {
			CHECKF(strstr(err.msg, r->text), "row %zu: '%s'", i,
			       err.msg);
			continue;
		}
		/* A dry run is always judged as strict would judge it. */
		CHECKF(d.verdict == r->want && d.rule == r->rule && d.enforced &&
		       !strcmp(d.reason, r->text), "row %zu: %d %d '%s'", i,
		       d.verdict, d.rule, d.reason);
	}
	CHECK(policy__check(p, "shop", NULL, CATALOGUE, 1, &d, NULL) ==
	      -EINVAL);
	policy__free(p);
}

/* ---- files ------------------------------------------------------------- */

static void write_file(const char *path, const char *q)
{
	char *json = dq(q);
	FILE *f = fopen(path, "w");

	if (!f || fputs(json, f) < 0 || fclose(f))
		abort();
	free(json);
}

static void test_load(void)
{
	char good[512], bad[512], missing[512];
	struct nt_err err = { "" };
	struct policy *p = NULL;

	snprintf(good, sizeof(good), "%s/policy.json", t_tmpdir());
	snprintf(bad, sizeof(bad), "%s/bad.json", t_tmpdir());
	snprintf(missing, sizeof(missing), "%s/missing.json", t_tmpdir());
	write_file(good, decide_policy);
	write_file(bad, PORTS("[70000]"));

	CHECKF(policy__load(&p, good, &err) == 0, "%s", err.msg);
	CHECK(policy__namespaces(p) == 3);
	CHECK(policy__rules(p, "shop") == 8 && policy__rules(p, "lab") == 1);
	CHECK(policy__rules(p, "empty") == 0 && policy__rules(p, "x") == 0);
	policy__free(p);

	CHECK(policy__load(&p, bad, &err) == -EINVAL && !p);
	CHECKF(!strncmp(err.msg, bad, strlen(bad)) &&
	       strstr(err.msg, ": " R0 ".ports[0]: port 70000 outside"),
	       "%s", err.msg);
	CHECK(policy__load(&p, missing, &err) == -ENOENT && !p);
}

T_MAIN("enforce/decide",
       T(test_decide),
       T(test_decide_empty),
       T(test_to_json),
       T(test_to_json_same_decisions),
       T(test_check),
       T(test_load));
