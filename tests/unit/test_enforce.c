// SPDX-License-Identifier: Apache-2.0
/*
 * enforce/: policy parsing (every error names its place), the decision
 * (deny before allow, exact bytes, segment-boundary prefixes, no ALLOW for
 * an unauthenticated peer, modes, egress ranges), canonical JSON and the
 * `policy check` dry run.
 *
 * JSON in the tables is written with ' for " (see dq()) to stay readable;
 * no row needs a literal apostrophe.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "enforce/enforce.h"
#include "tests/unit/harness.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- helpers ----------------------------------------------------------- */

/* A malloc'd copy of @s with every ' turned into ". */
static char *dq(const char *s)
{
	char *out = strdup(s), *p;

	if (!out)
		abort();
	for (p = out; *p; p++)
		if (*p == '\'')
			*p = '"';
	return out;
}

/* Parses table JSON (with ' quotes); returns policy__parse's result. */
static int parse_q(const char *q, struct policy **p, struct nt_err *err)
{
	char *json = dq(q);
	int ret = policy__parse(p, json, strlen(json), err);

	free(json);
	return ret;
}

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

/* A growing string for generated policies. */
struct sbuf {
	char *s;
	size_t len, cap;
};

static void sb_add(struct sbuf *b, const char *s)
{
	size_t n = strlen(s);

	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->s = realloc(b->s, b->cap);
		if (!b->s)
			abort();
	}
	memcpy(b->s + b->len, s, n + 1);
	b->len += n;
}

/* Parses generated JSON (real quotes) and checks the outcome. */
static void check_generated(const char *what, struct sbuf *b, int want_ret,
			    const char *want_err)
{
	struct nt_err err = { "" };
	struct policy *p = NULL;
	int ret;

	ret = policy__parse(&p, b->s, b->len, &err);
	CHECKF(ret == want_ret, "%s: returned %d, want %d (%s)", what, ret,
	       want_ret, err.msg);
	CHECKF(!want_err || strstr(err.msg, want_err),
	       "%s: message '%s' lacks '%s'", what, err.msg, want_err);
	CHECKF(!ret == !!p, "%s: policy pointer does not match result", what);
	policy__free(p);
	free(b->s);
	memset(b, 0, sizeof(*b));
}

/* ---- parse: good files ------------------------------------------------- */

#define NS63 "abcdefghij0123456789abcdefghij0123456789abcdefghij0123456789-yz"

struct good_row {
	const char *json;
	size_t nns;
	const char *ns;		/* a namespace to count rules of */
	size_t nrules;
};

static void test_parse_good(void)
{
	static const struct good_row rows[] = {
		{ "{'namespaces':{}}", 0, "shop", 0 },
		{ " \n\t{ 'namespaces' : { } }\r\n ", 0, NULL, 0 },
		{ "{'namespaces':{'shop':{'rules':[]}}}", 1, "shop", 0 },
		{ "{'namespaces':{'shop':{'rules':[],'egress':[]}}}", 1,
		  "shop", 0 },
		{ "{'namespaces':{'shop':{'rules':["
		  "{'action':'allow','from':['spiffe://td/ns/shop/sa/frontend'],"
		  "'to':['spiffe://td/ns/shop/sa/catalogue'],'ports':[8080]},"
		  "{'action':'deny','from':['*'],'to':['spiffe://td/ns/shop/*']}],"
		  "'egress':[{'to':'10.0.0.5/32','ports':[443]}]}}}",
		  1, "shop", 2 },
		{ "{'namespaces':{'a':{'rules':[{'action':'allow',"
		  "'from':['spiffe://td/*'],'to':['*']}]},"
		  "'b-2':{'rules':[]},'0':{'rules':[]}}}", 3, "a", 1 },
		{ "{'namespaces':{'" NS63 "':{'rules':[{'action':'deny',"
		  "'from':['*'],'to':['*'],'ports':[1,65535,1e3]}]}}}", 1,
		  NS63, 1 },
		{ "{'namespaces':{'e':{'rules':[],'egress':["
		  "{'to':'0.0.0.0/0'},{'to':'::/0'},{'to':'fd00::/8'},"
		  "{'to':'192.168.1.128/25'},{'to':'FD00:ABCD::/32'},"
		  "{'to':'2001:db8::1/128','ports':[22]}]}}}", 1, "e", 0 },
		{ "{'namespaces':{'m':{'rules':[{'action':'allow',"
		  "'from':['spiffe://td/a','spiffe://td/a','spiffe://x.y/b/*'],"
		  "'to':['spiffe://td/c/d/e']}]}}}", 1, "m", 1 },
	};
	struct nt_err err = { "" };
	struct policy *p;
	size_t i;
	int ret;

	for (i = 0; i < ARRAY_SIZE(rows); i++) {
		ret = parse_q(rows[i].json, &p, &err);
		CHECKF(ret == 0, "row %zu: %s", i, err.msg);
		if (ret)
			continue;
		CHECKF(policy__namespaces(p) == rows[i].nns,
		       "row %zu: %zu namespaces", i, policy__namespaces(p));
		CHECKF(!rows[i].ns ||
		       policy__rules(p, rows[i].ns) == rows[i].nrules,
		       "row %zu: %zu rules", i, policy__rules(p, rows[i].ns));
		policy__free(p);
	}
}

/* ---- parse: bad files -------------------------------------------------- */

struct bad_row {
	const char *json;
	const char *err;	/* substring of the message, path included */
};

#define NS(x)	 "{'namespaces':{'shop':" x "}}"
#define RULES(x) NS("{'rules':[" x "]}")
#define RULE(from, to, extra) \
	RULES("{'action':'allow','from':" from ",'to':" to extra "}")
#define FROM(pat)	RULE("['" pat "']", "['*']", "")
#define PORTS(x)	RULE("['*']", "['*']", ",'ports':" x)
#define EGRESS(x)	NS("{'rules':[],'egress':[" x "]}")
#define EGRESS_TO(c)	EGRESS("{'to':'" c "'}")

#define R0 "namespaces.shop.rules[0]"
#define E0 "namespaces.shop.egress[0]"

static const struct bad_row bad_rows[] = {
	/* unknown keys */
	{ "{'namespaces':{},'extra':1}", "policy: unknown key \"extra\"" },
	{ RULES("{'acton':'allow','from':['*'],'to':['*']}"),
	  R0 ": unknown key \"acton\"" },
	{ NS("{'rules':[],'rulez':[]}"),
	  "namespaces.shop: unknown key \"rulez\"" },
	{ EGRESS("{'to':'10.0.0.0/8','port':[1]}"),
	  E0 ": unknown key \"port\"" },
	/* wrong types */
	{ "[]", "policy: expected an object, got an array" },
	{ "{'namespaces':[]}", "namespaces: expected an object, got an array" },
	{ NS("[]"), "namespaces.shop: expected an object, got an array" },
	{ NS("{'rules':{}}"),
	  "namespaces.shop.rules: expected an array, got an object" },
	{ RULES("'x'"), R0 ": expected an object, got a string" },
	{ RULE("'*'", "['*']", ""), R0 ".from: expected an array, got a string" },
	{ RULE("[1]", "['*']", ""), R0 ".from[0]: expected a string, got a number" },
	{ RULE("['*']", "[null]", ""), R0 ".to[0]: expected a string, got null" },
	{ RULES("{'action':true,'from':['*'],'to':['*']}"),
	  R0 ".action: expected \"allow\" or \"deny\", got a boolean" },
	{ EGRESS("{'to':42}"), E0 ".to: expected a CIDR string, got a number" },
	{ EGRESS("'10.0.0.0/8'"), E0 ": expected an object, got a string" },
	/* duplicate keys, named by path */
	{ "{'namespaces':{},'namespaces':{}}",
	  "policy: duplicate key \"namespaces\"" },
	{ "{'namespaces':{'a':{'rules':[]},'a':{'rules':[]}}}",
	  "namespaces: duplicate key \"a\"" },
	{ NS("{'rules':[],'rules':[]}"), "namespaces.shop: duplicate key \"rules\"" },
	{ RULES("{'action':'deny','from':['*'],'to':['*']},"
		"{'action':'allow','action':'deny','from':['*'],'to':['*']}"),
	  "namespaces.shop.rules[1]: duplicate key \"action\"" },
	/* bad IDs */
	{ FROM("spiffe://td/../x"),
	  R0 ".from[0]: invalid SPIFFE ID: path segment 1 is '..'" },
	{ RULE("['*']", "['spiffe://TD/x']", ""),
	  R0 ".to[0]: invalid SPIFFE ID: trust domain contains" },
	{ FROM("http://td/x"), R0 ".from[0]: invalid SPIFFE ID: scheme 'http'" },
	{ FROM(""), R0 ".from[0]: invalid SPIFFE ID: spiffe id is empty" },
	{ FROM("spiffe://td/a/"), R0 ".from[0]: invalid SPIFFE ID: path ends" },
	{ FROM("spiffe://td"), R0 ".from[0]: spiffe://td names a trust domain" },
	/* '*' anywhere but alone or as the whole last segment */
	{ FROM("spiffe://td/*/x"), R0 ".from[0]: '*' is allowed only alone" },
	{ FROM("spiffe://td/ns*"), R0 ".from[0]: '*' is allowed only alone" },
	{ FROM("spiffe://td*"), R0 ".from[0]: '*' is allowed only alone" },
	{ FROM("spiffe://td/a/*/*"), R0 ".from[0]: '*' is allowed only alone" },
	{ FROM("**"), R0 ".from[0]: '*' is allowed only alone" },
	{ FROM("*/"), R0 ".from[0]: '*' is allowed only alone" },
	{ FROM("/*"), R0 ".from[0]: invalid SPIFFE ID before \"/*\"" },
	{ FROM("spiffe://td//*"),
	  R0 ".from[0]: invalid SPIFFE ID before \"/*\": path ends" },
	{ FROM("spiffe:///*"), R0 ".from[0]: invalid SPIFFE ID before" },
	/* ports */
	{ PORTS("[0]"), R0 ".ports[0]: port 0 outside 1..65535" },
	{ PORTS("[70000]"), R0 ".ports[0]: port 70000 outside 1..65535" },
	{ PORTS("[-1]"), R0 ".ports[0]: port -1 outside 1..65535" },
	{ PORTS("[1e999]"), R0 ".ports[0]: port inf outside 1..65535" },
	{ PORTS("['80']"), R0 ".ports[0]: expected a port number, got a string" },
	{ PORTS("[80.5]"), R0 ".ports[0]: port 80.5 is not an integer" },
	{ PORTS("[80,443,80]"), R0 ".ports[2]: port 80 listed twice" },
	{ PORTS("[]"), R0 ".ports: must not be empty" },
	{ PORTS("80"), R0 ".ports: expected an array, got a number" },
	/* empty lists, missing keys, bad action */
	{ RULE("[]", "['*']", ""), R0 ".from: must not be empty" },
	{ RULE("['*']", "[]", ""), R0 ".to: must not be empty" },
	{ RULES("{'from':['*'],'to':['*']}"), R0 ": missing \"action\"" },
	{ RULES("{'action':'deny','to':['*']}"), R0 ": missing \"from\"" },
	{ RULES("{'action':'deny','from':['*']}"), R0 ": missing \"to\"" },
	{ RULES("{'action':'Allow','from':['*'],'to':['*']}"),
	  R0 ".action: expected \"allow\" or \"deny\", got \"Allow\"" },
	{ RULES("{'action':'permit','from':['*'],'to':['*']}"),
	  R0 ".action: expected \"allow\" or \"deny\", got \"permit\"" },
	{ NS("{}"), "namespaces.shop: missing \"rules\"" },
	{ "{}", "policy: missing \"namespaces\"" },
	{ EGRESS("{'ports':[1]}"), E0 ": missing \"to\"" },
	{ EGRESS("{'to':'10.0.0.0/8','ports':[0]}"),
	  E0 ".ports[0]: port 0 outside 1..65535" },
	/* CIDRs */
	{ EGRESS_TO("10.0.0/8"), E0 ".to: \"10.0.0/8\" is not a CIDR range" },
	{ EGRESS_TO("10.0.0.0"), E0 ".to: \"10.0.0.0\" is not a CIDR range" },
	{ EGRESS_TO("10.0.0.0/"), E0 ".to: \"10.0.0.0/\" is not a CIDR" },
	{ EGRESS_TO("10.0.0.0/08"), E0 ".to: \"10.0.0.0/08\" is not a CIDR" },
	{ EGRESS_TO("10.0.0.0/8/8"), E0 ".to: \"10.0.0.0/8/8\" is not a CIDR" },
	{ EGRESS_TO(" 10.0.0.0/8"), E0 ".to: \" 10.0.0.0/8\" is not a CIDR" },
	{ EGRESS_TO("010.0.0.0/8"), E0 ".to: \"010.0.0.0/8\" is not a CIDR" },
	{ EGRESS_TO("fd00::%eth0/64"), E0 ".to: \"fd00::%eth0/64\" is not" },
	{ EGRESS_TO("example.com/32"), E0 ".to: \"example.com/32\" is not" },
	{ EGRESS_TO("10.0.0.0/33"),
	  E0 ".to: prefix length of \"10.0.0.0/33\" is more than 32" },
	{ EGRESS_TO("fd00::/129"),
	  E0 ".to: prefix length of \"fd00::/129\" is more than 128" },
	{ EGRESS_TO("10.0.0.5/24"),
	  E0 ".to: host bits set in \"10.0.0.5/24\" (the range is 10.0.0.0/24)" },
	{ EGRESS_TO("fd00::1/64"),
	  E0 ".to: host bits set in \"fd00::1/64\" (the range is fd00::/64)" },
	{ EGRESS_TO("::ffff:10.0.0.0/104"), E0 ".to: \"::ffff:10.0.0.0/104\" "
	  "is an IPv4-mapped range" },
	/* namespace names */
	{ "{'namespaces':{'Shop':{'rules':[]}}}",
	  "namespaces: invalid namespace name \"Shop\"" },
	{ "{'namespaces':{'-shop':{'rules':[]}}}", "invalid namespace name" },
	{ "{'namespaces':{'shop-':{'rules':[]}}}", "invalid namespace name" },
	{ "{'namespaces':{'sh_op':{'rules':[]}}}", "invalid namespace name" },
	{ "{'namespaces':{'sh.op':{'rules':[]}}}", "invalid namespace name" },
	{ "{'namespaces':{'':{'rules':[]}}}",
	  "namespaces: namespace name \"\" must be 1 to 63 bytes" },
	{ "{'namespaces':{'" NS63 "x':{'rules':[]}}}", "must be 1 to 63 bytes" },
	/* text that is not one JSON value */
	{ "{'namespaces':{}} x", "trailing data after json value at offset 18" },
	{ "{'namespaces':{}}{}", "trailing data" },
	{ "{'namespaces':", "invalid json" },
	{ "", "invalid json" },
	{ "{'namespaces':{'a\\u0000':{'rules':[]}}}", "escaped NUL" },
};

static void test_parse_bad(void)
{
	struct nt_err err;
	struct policy *p;
	size_t i;
	int ret;

	for (i = 0; i < ARRAY_SIZE(bad_rows); i++) {
		const struct bad_row *r = &bad_rows[i];

		memset(&err, 0, sizeof(err));
		p = (struct policy *)&err;	/* must be reset to NULL */
		ret = parse_q(r->json, &p, &err);
		CHECKF(ret < 0, "%s: accepted", r->json);
		CHECKF(p == NULL, "%s: policy left behind", r->json);
		CHECKF(strstr(err.msg, r->err) != NULL,
		       "%s: message '%s' lacks '%s'", r->json, err.msg, r->err);
		/* Without an error struct the verdict is the same. */
		CHECKF(parse_q(r->json, &p, NULL) == ret, "%s: err NULL",
		       r->json);
	}
}

/* Bytes the tables cannot hold: NUL, control characters, size. */
static void test_parse_bytes(void)
{
	static const char nul[] = "{\"namespaces\":{}}\0";
	struct nt_err err = { "" };
	struct policy *p;
	char *big;
	size_t i;

	CHECK(policy__parse(&p, nul, sizeof(nul) - 1, &err) == -EINVAL);
	CHECKF(strstr(err.msg, "NUL byte"), "%s", err.msg);

	/* A key with a terminal escape is reported, but not replayed. */
	CHECK(parse_q("{'namespaces':{},'\\u001b[2J\\u009b':1}", &p, &err) ==
	      -EINVAL);
	CHECKF(strstr(err.msg, "policy: unknown key \"?[2J??\""), "%s",
	       err.msg);
	for (i = 0; err.msg[i]; i++)
		CHECKF((unsigned char)err.msg[i] >= 0x20 &&
		       (unsigned char)err.msg[i] < 0x7f, "byte %zu", i);

	/* 4 MiB is the limit: exactly that loads, one byte more does not. */
	big = malloc((4u << 20) + 1);
	if (!big)
		abort();
	memset(big, ' ', (4u << 20) + 1);
	memcpy(big, "{\"namespaces\":{}}", 17);
	CHECK(policy__parse(&p, big, 4u << 20, &err) == 0);
	policy__free(p);
	CHECK(policy__parse(&p, big, (4u << 20) + 1, &err) == -EFBIG);
	CHECKF(strstr(err.msg, "more than 4194304"), "%s", err.msg);
	free(big);
}

/* ---- parse: size limits ------------------------------------------------ */

static void gen_namespaces(struct sbuf *b, size_t n)
{
	char name[48];
	size_t i;

	sb_add(b, "{\"namespaces\":{");
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "%s\"n%zu\":{\"rules\":[]}",
			 i ? "," : "", i);
		sb_add(b, name);
	}
	sb_add(b, "}}");
}

static void gen_rules(struct sbuf *b, size_t rules, size_t pats,
		      size_t ports)
{
	char num[16];
	size_t i;

	sb_add(b, "{\"namespaces\":{\"a\":{\"rules\":[");
	for (i = 0; i < rules; i++) {
		sb_add(b, i ? ",{\"action\":\"deny\",\"from\":[\"*\""
			    : "{\"action\":\"deny\",\"from\":[\"*\"");
		for (size_t j = 1; j < pats; j++)
			sb_add(b, ",\"spiffe://td/x\"");
		sb_add(b, "],\"to\":[\"*\"],\"ports\":[1");
		for (size_t j = 2; j <= ports; j++) {
			snprintf(num, sizeof(num), ",%zu", j);
			sb_add(b, num);
		}
		sb_add(b, "]}");
	}
	sb_add(b, "]}}}");
}

static void test_parse_limits(void)
{
	struct sbuf b = { 0 };

	gen_namespaces(&b, 256);
	check_generated("256 namespaces", &b, 0, NULL);
	gen_namespaces(&b, 257);
	check_generated("257 namespaces", &b, -E2BIG,
			"namespaces: 257 namespaces, at most 256");
	gen_rules(&b, 4096, 1, 1);
	check_generated("4096 rules", &b, 0, NULL);
	gen_rules(&b, 4097, 1, 1);
	check_generated("4097 rules", &b, -E2BIG,
			"namespaces.a.rules: 4097 entries, at most 4096");
	gen_rules(&b, 1, 256, 64);
	check_generated("256 patterns, 64 ports", &b, 0, NULL);
	gen_rules(&b, 1, 257, 1);
	check_generated("257 patterns", &b, -E2BIG,
			"namespaces.a.rules[0].from: 257 entries, at most 256");
	gen_rules(&b, 1, 1, 65);
	check_generated("65 ports", &b, -E2BIG,
			"namespaces.a.rules[0].ports: 65 entries, at most 64");
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
	/* modes: permissive enforces explicit denies only, observe nothing */
	{ "shop", P, FRONTEND, CATALOGUE, 8080, NULL, A, false, 0,
	  "rule shop.rules[0] (allow)" },
	{ "shop", P, FRONTEND, CATALOGUE, 8081, NULL, D, false, -1, NO_ALLOW },
	{ "shop", P, NULL, PUBLIC, 80, NULL, D, false, -1, NO_ALLOW },
	{ "shop", P, NULL, VAULT, 1, NULL, D, true, 4,
	  "rule shop.rules[4] (deny)" },
	{ "shop", O, NULL, VAULT, 1, NULL, D, false, 4,
	  "rule shop.rules[4] (deny)" },
	{ "shop", O, FRONTEND, CATALOGUE, 8080, NULL, A, false, 0,
	  "rule shop.rules[0] (allow)" },
	{ "shop", O, FRONTEND, CATALOGUE, 8081, NULL, D, false, -1, NO_ALLOW },
	{ "shop", ENFORCE_OFF, NULL, VAULT, 1, NULL, A, false, -1,
	  "namespace not enforced" },
	{ "nope", ENFORCE_OFF, NULL, NULL, 1, NULL, A, false, -1,
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

T_MAIN("enforce",
       T(test_parse_good),
       T(test_parse_bad),
       T(test_parse_bytes),
       T(test_parse_limits),
       T(test_decide),
       T(test_decide_empty),
       T(test_to_json),
       T(test_to_json_same_decisions),
       T(test_check),
       T(test_load));
