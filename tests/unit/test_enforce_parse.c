// SPDX-License-Identifier: Apache-2.0
/*
 * enforce/: policy parsing, where every error names its place, and its
 * limits. Decisions, canonical JSON, `policy check` and loading a file are
 * in test_enforce_decide.c.
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

#define FROM(pat)	RULE("['" pat "']", "['*']", "")
#define EGRESS(x)	NS("{'rules':[],'egress':[" x "]}")
#define EGRESS_TO(c)	EGRESS("{'to':'" c "'}")

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

T_MAIN("enforce/parse",
       T(test_parse_good),
       T(test_parse_bad),
       T(test_parse_bytes),
       T(test_parse_limits));
