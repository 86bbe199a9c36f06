// SPDX-License-Identifier: Apache-2.0
/*
 * SPIFFE ID parsing, trust domain checks, building and comparison
 * (ca/spiffe_id.c against spiffe/spiffe standards/SPIFFE-ID.md).
 *
 * Rows give their input as pointer + length (sizeof of a literal minus the
 * terminator) so NUL bytes inside an ID are tested as such.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ca/ca.h"
#include "tests/unit/harness.h"


/* ---- helpers ----------------------------------------------------------- */

/* Printable rendering of a row's input for failure messages. */
static const char *esc(const char *s, size_t len)
{
	static char buf[4][160];
	static int slot;
	char *out = buf[slot++ & 3];
	size_t i, o = 0;

	for (i = 0; i < len && o + 8 < sizeof(buf[0]); i++) {
		unsigned char c = s[i];

		if (c >= 0x20 && c < 0x7f && c != '\\')
			out[o++] = c;
		else
			o += snprintf(out + o, sizeof(buf[0]) - o, "\\x%02x",
				      c);
	}
	if (i < len)
		snprintf(out + o, sizeof(buf[0]) - o, "...(%zu)", len);
	else
		out[o] = '\0';
	return out;
}

/* A malloc'd string of @n copies of @c. */
static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	if (!s)
		abort();
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* An ID that must be refused leaves an empty struct behind. */
static bool id_is_empty(const struct spiffe_id *id)
{
	return id->len == 0 && id->str[0] == '\0' && id->td_len == 0 &&
	       id->td[0] == '\0' && id->path_off == 0;
}

static bool msg_is_lowercase_sentence(const char *msg)
{
	return msg[0] >= 'a' && msg[0] <= 'z';
}

/* ---- parse tables ------------------------------------------------------ */

struct parse_row {
	const char *s;
	size_t len;
	const char *td;		/* expected trust domain; NULL: error */
	const char *path;	/* expected path when valid */
	const char *err;	/* substring of the message when invalid */
};

#define OK(lit, td, path)	{ lit, sizeof(lit) - 1, td, path, NULL }
#define BAD(lit, msg)		{ lit, sizeof(lit) - 1, NULL, NULL, msg }

static void check_valid(const struct parse_row *r)
{
	struct nt_err err = { "" };
	struct spiffe_id id;
	const char *in = esc(r->s, r->len);
	int ret;

	ret = spiffe_id__parse(&id, r->s, r->len, &err);
	CHECKF(ret == 0, "%s: parse failed (%d): %s", in, ret, err.msg);
	if (ret)
		return;
	CHECKF(id.len == r->len && !memcmp(id.str, r->s, r->len) &&
	       id.str[id.len] == '\0', "%s: str is '%s'", in, id.str);
	CHECKF(!strcmp(id.td, r->td) && id.td_len == strlen(r->td),
	       "%s: td is '%s' (%zu), want '%s'", in, id.td, id.td_len,
	       r->td);
	CHECKF(!strcmp(id.str + id.path_off, r->path) &&
	       spiffe_id__path_len(&id) == strlen(r->path),
	       "%s: path is '%s', want '%s'", in, id.str + id.path_off,
	       r->path);
}

static void check_invalid(const struct parse_row *r)
{
	struct nt_err err = { "" };
	struct spiffe_id id;
	const char *in = esc(r->s, r->len);
	int ret;

	/* Start from a valid ID so a failed parse is seen to clear it. */
	if (spiffe_id__parse(&id, "spiffe://stale.example/x", 24, NULL))
		abort();
	ret = spiffe_id__parse(&id, r->s, r->len, &err);
	CHECKF(ret == -EINVAL, "%s: returned %d, want -EINVAL", in, ret);
	CHECKF(strstr(err.msg, r->err) != NULL,
	       "%s: message '%s' lacks '%s'", in, err.msg, r->err);
	CHECKF(msg_is_lowercase_sentence(err.msg), "%s: message '%s'", in,
	       err.msg);
	CHECKF(id_is_empty(&id), "%s: id not cleared ('%s')", in, id.str);
	/* Without an error struct the verdict is the same. */
	CHECKF(spiffe_id__parse(&id, r->s, r->len, NULL) == -EINVAL,
	       "%s: accepted when err is NULL", in);
}

static void run_parse_rows(const struct parse_row *rows, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (rows[i].td)
			check_valid(&rows[i]);
		else
			check_invalid(&rows[i]);
	}
}

static void test_parse_valid(void)
{
	static const struct parse_row rows[] = {
		OK("spiffe://example.org", "example.org", ""),
		OK("spiffe://x", "x", ""),
		OK("spiffe://example.org/ns/prod/sa/web", "example.org",
		   "/ns/prod/sa/web"),
		OK("spiffe://td-1_a.example-2.org/w", "td-1_a.example-2.org",
		   "/w"),
		OK("spiffe://0123456789/x", "0123456789", "/x"),
		OK("spiffe://-._/x", "-._", "/x"),
		OK("spiffe://10.0.0.1/x", "10.0.0.1", "/x"),
		OK("spiffe://example.org/Web_Front-End.v2", "example.org",
		   "/Web_Front-End.v2"),
		/* Only "." and ".." are dot segments. */
		OK("spiffe://example.org/.../.a/a.", "example.org",
		   "/.../.a/a."),
		OK("spiffe://example.org/9eebccd2-12bf-40a6-b262-65fe0487d453",
		   "example.org", "/9eebccd2-12bf-40a6-b262-65fe0487d453"),
	};

	run_parse_rows(rows, ARRAY_SIZE(rows));
}

static void test_parse_scheme(void)
{
	static const struct parse_row rows[] = {
		BAD("SPIFFE://example.org", "scheme must be lowercase"),
		BAD("Spiffe://example.org/a", "scheme must be lowercase"),
		BAD("https://example.org/a", "scheme 'https' is not 'spiffe'"),
		BAD("spiffe:example.org", "must have '//' and a trust domain"),
		BAD("spiffe:/example.org", "must have '//' and a trust domain"),
		BAD("spiffe", "must start with 'spiffe://'"),
		BAD("example.org/a", "must start with 'spiffe://'"),
		BAD("//example.org/a", "must start with 'spiffe://'"),
		BAD(" spiffe://example.org", "starts with whitespace"),
		BAD("spiffe://", "spiffe id has no trust domain"),
		BAD("spiffe:///path", "spiffe id has no trust domain"),
	};

	run_parse_rows(rows, ARRAY_SIZE(rows));
}

static void test_parse_trust_domain(void)
{
	static const struct parse_row rows[] = {
		BAD("spiffe://Example.org",
		    "trust domain contains a character outside [a-z0-9._-] "
		    "at offset 9 ('E'): uppercase is not allowed"),
		BAD("spiffe://example.ORG/a",
		    "at offset 17 ('O'): uppercase is not allowed"),
		BAD("spiffe://example.org:8443/a",
		    "at offset 20 (':'): a port is not allowed"),
		BAD("spiffe://example.org:", "a port is not allowed"),
		BAD("spiffe://user@example.org/a",
		    "at offset 13 ('@'): userinfo is not allowed"),
		BAD("spiffe://user:pw@example.org/a", "a port is not allowed"),
		BAD("spiffe://[::1]/a",
		    "at offset 9 ('['): ip literals are not allowed"),
		BAD("spiffe://exa%6dple.org/a",
		    "trust domain contains a character outside [a-z0-9._-] "
		    "at offset 12 ('%'): percent-encoding is not allowed"),
		BAD("spiffe://exa mple.org",
		    "at offset 12 (' '): whitespace and control characters"),
		BAD("spiffe://example.org ",
		    "at offset 20 (' '): whitespace and control characters"),
		BAD("spiffe://example.org\n", "trust domain contains"),
		BAD("spiffe://ex\xc3\xa9mple.org/a",
		    "trust domain contains a character outside [a-z0-9._-] "
		    "at offset 11 (\\xc3): non-ascii bytes are not allowed"),
		BAD("spiffe://exa+mple.org", "at offset 12 ('+')"),
		BAD("spiffe://example.org\\a", "at offset 20 ('\\')"),
	};

	run_parse_rows(rows, ARRAY_SIZE(rows));
}

static void test_parse_path(void)
{
	static const struct parse_row rows[] = {
		BAD("spiffe://example.org/.",
		    "path segment 1 is '.': dot segments are not allowed"),
		BAD("spiffe://example.org/a/..",
		    "path segment 2 is '..': dot segments are not allowed"),
		BAD("spiffe://example.org/../a", "path segment 1 is '..'"),
		BAD("spiffe://example.org/a/./b", "path segment 2 is '.'"),
		BAD("spiffe://example.org//a", "path segment 1 is empty"),
		BAD("spiffe://example.org/a//b", "path segment 2 is empty"),
		BAD("spiffe://example.org//", "path segment 1 is empty"),
		BAD("spiffe://example.org/",
		    "path ends with '/': a trailing '/' is not allowed"),
		BAD("spiffe://example.org/a/b/", "a trailing '/'"),
		BAD("spiffe://example.org/a%2Fb",
		    "path segment 1 contains a character outside "
		    "[a-zA-Z0-9._-] at offset 22 ('%'): percent-encoding is "
		    "not allowed"),
		BAD("spiffe://example.org/a/%2e%2e",
		    "path segment 2 contains a character outside "
		    "[a-zA-Z0-9._-] at offset 23 ('%')"),
		BAD("spiffe://example.org/caf\xc3\xa9",
		    "path segment 1 contains a character outside "
		    "[a-zA-Z0-9._-] at offset 24 (\\xc3): non-ascii bytes"),
		BAD("spiffe://example.org/a b",
		    "path segment 1 contains a character outside "
		    "[a-zA-Z0-9._-] at offset 22 (' '): whitespace"),
		BAD("spiffe://example.org/a\tb", "(\\x09): whitespace"),
		BAD("spiffe://example.org/a\x7f", "(\\x7f)"),
		BAD("spiffe://example.org/a:b", "at offset 22 (':')"),
		BAD("spiffe://example.org/a@b", "at offset 22 ('@')"),
		BAD("spiffe://example.org/~user", "at offset 21 ('~')"),
		BAD("spiffe://example.org/a;b", "at offset 22 (';')"),
		BAD("spiffe://example.org/a\\b", "at offset 22 ('\\')"),
	};

	run_parse_rows(rows, ARRAY_SIZE(rows));
}

static void test_parse_query_fragment(void)
{
	static const struct parse_row rows[] = {
		BAD("spiffe://example.org/a?x=1",
		    "spiffe id has a query at offset 22 ('?'): queries are "
		    "not allowed"),
		BAD("spiffe://example.org?x", "has a query at offset 20"),
		BAD("spiffe://example.org/a?", "has a query"),
		BAD("spiffe://example.org/a#frag",
		    "spiffe id has a fragment at offset 22 ('#'): fragments "
		    "are not allowed"),
		BAD("spiffe://example.org#", "has a fragment at offset 20"),
		BAD("spiffe://example.org/a#b?c", "has a fragment"),
	};

	run_parse_rows(rows, ARRAY_SIZE(rows));
}

static void test_parse_bytes(void)
{
	static const struct parse_row rows[] = {
		BAD("", "spiffe id is empty"),
		BAD("spiffe://example.org/a\0b",
		    "spiffe id contains a nul byte at offset 22"),
		BAD("spiffe://exa\0mple.org", "nul byte at offset 12"),
		/* A length that counts the terminator is not the ID. */
		BAD("spiffe://example.org\0", "nul byte at offset 20"),
		BAD("\0spiffe://example.org", "nul byte at offset 0"),
		BAD(" ", "starts with whitespace"),
		BAD("\t", "starts with whitespace"),
		BAD("\xef\xbb\xbfspiffe://example.org",
		    "must start with 'spiffe://'"),
	};

	run_parse_rows(rows, ARRAY_SIZE(rows));
}

/* The parser reads exactly @len bytes: what follows must not matter. */
static void test_parse_reads_only_len(void)
{
	const char buf[] = "spiffe://example.org/a/..";
	struct spiffe_id id;

	CHECK(spiffe_id__parse(&id, buf, 22, NULL) == 0);
	CHECK(id.len == 22 && !strcmp(id.str, "spiffe://example.org/a"));
	CHECK(spiffe_id__parse(&id, buf, 20, NULL) == 0);
	CHECK(!strcmp(id.str, "spiffe://example.org") && id.path_off == 20);
	CHECK(spiffe_id__parse(&id, NULL, 0, NULL) == -EINVAL);
}

static void test_parse_td_length(void)
{
	char *td255 = repeat('a', 255), *td256 = repeat('b', 256);
	struct nt_err err = { "" };
	struct spiffe_id id;
	char s[300];
	int n;

	td255[100] = '.';
	n = snprintf(s, sizeof(s), "spiffe://%s/w", td255);
	CHECK(spiffe_id__parse(&id, s, n, &err) == 0);
	CHECK(id.td_len == 255 && !strcmp(id.td, td255));
	CHECK(!strcmp(id.str + id.path_off, "/w"));

	n = snprintf(s, sizeof(s), "spiffe://%s", td255);
	CHECK(spiffe_id__parse(&id, s, n, &err) == 0);
	CHECK(id.td_len == 255 && spiffe_id__path_len(&id) == 0);

	n = snprintf(s, sizeof(s), "spiffe://%s/w", td256);
	CHECK(spiffe_id__parse(&id, s, n, &err) == -EINVAL);
	CHECKF(strstr(err.msg, "trust domain is 256 bytes, more than 255"),
	       "message: %s", err.msg);
	CHECK(id_is_empty(&id));
	free(td255);
	free(td256);
}

static void test_parse_id_length(void)
{
	const char *head = "spiffe://example.org/";
	size_t hl = strlen(head);
	struct nt_err err = { "" };
	struct spiffe_id id;
	char s[SPIFFE_ID_MAX + 2];
	size_t i;

	/* One long segment, exactly 2048 bytes in all. */
	memcpy(s, head, hl);
	memset(s + hl, 'a', sizeof(s) - hl);
	CHECK(spiffe_id__parse(&id, s, SPIFFE_ID_MAX, &err) == 0);
	CHECK(id.len == SPIFFE_ID_MAX && strlen(id.str) == SPIFFE_ID_MAX);
	CHECK(spiffe_id__path_len(&id) == SPIFFE_ID_MAX - hl + 1);

	/* Many short segments, still exactly 2048. */
	for (i = hl; i < SPIFFE_ID_MAX; i += 2)
		s[i + 1] = '/';
	s[SPIFFE_ID_MAX - 1] = 'z';
	CHECKF(spiffe_id__parse(&id, s, SPIFFE_ID_MAX, &err) == 0,
	       "many segments: %s", err.msg);

	memset(s + hl, 'a', sizeof(s) - hl);
	CHECK(spiffe_id__parse(&id, s, SPIFFE_ID_MAX + 1, &err) == -EINVAL);
	CHECKF(strstr(err.msg, "spiffe id is 2049 bytes, more than 2048"),
	       "message: %s", err.msg);
	CHECK(id_is_empty(&id));
	CHECK(spiffe_id__parse(&id, s, (size_t)-1, &err) == -EINVAL);
	CHECK(strstr(err.msg, "more than 2048") != NULL);
}

/* ---- trust domain ------------------------------------------------------ */

struct td_row {
	const char *s;
	size_t len;
	const char *err;	/* NULL: valid */
};

#define TD(lit, msg)	{ lit, sizeof(lit) - 1, msg }

static void test_td_check(void)
{
	static const struct td_row rows[] = {
		TD("example.org", NULL),
		TD("a", NULL),
		TD("my_td-2.example", NULL),
		TD("", "trust domain is empty"),
		TD("Example.org",
		   "at offset 0 ('E'): uppercase is not allowed"),
		TD("example.org:443", "at offset 11 (':'): a port"),
		TD("me@example.org", "userinfo is not allowed"),
		TD("[::1]", "ip literals are not allowed"),
		TD("ex%41mple.org", "percent-encoding is not allowed"),
		TD("exa\0mple.org", "at offset 3 (\\x00): nul bytes"),
		TD("example.org/", "at offset 11 ('/'): a trust domain has no "
		   "path"),
		TD("caf\xc3\xa9.org", "(\\xc3): non-ascii bytes"),
		TD(" example.org", "at offset 0 (' '): whitespace"),
		TD("spiffe://example.org", "must be a bare name"),
		TD("SPIFFE://example.org", "must be a bare name"),
	};
	struct nt_err err;
	char *td;
	size_t i;
	int ret;

	for (i = 0; i < ARRAY_SIZE(rows); i++) {
		const struct td_row *r = &rows[i];
		const char *in = esc(r->s, r->len);

		err.msg[0] = '\0';
		ret = spiffe_td__check(r->s, r->len, &err);
		if (!r->err) {
			CHECKF(ret == 0, "%s: %s", in, err.msg);
			continue;
		}
		CHECKF(ret == -EINVAL, "%s: returned %d", in, ret);
		CHECKF(strstr(err.msg, r->err), "%s: message '%s' lacks '%s'",
		       in, err.msg, r->err);
	}

	td = repeat('t', 256);
	CHECK(spiffe_td__check(td, 255, NULL) == 0);
	CHECK(spiffe_td__check(td, 256, &err) == -EINVAL);
	CHECK(strstr(err.msg, "trust domain is 256 bytes, more than 255"));
	CHECK(spiffe_td__check(NULL, 0, &err) == -EINVAL);
	CHECK(strstr(err.msg, "trust domain is missing"));
	free(td);
}

/* ---- build ------------------------------------------------------------- */

#define SEG(lit)	{ lit, sizeof(lit) - 1 }

static void test_build_ok(void)
{
	static const struct spiffe_seg segs[] = {
		SEG("ns"), SEG("prod"), SEG("sa"), SEG("Web_1.v-2"),
	};
	const char *want = "spiffe://example.org/ns/prod/sa/Web_1.v-2";
	struct nt_err err = { "" };
	struct spiffe_id id, parsed;

	CHECKF(spiffe_id__build(&id, "example.org", segs, ARRAY_SIZE(segs),
				&err) == 0, "%s", err.msg);
	CHECKF(!strcmp(id.str, want), "built '%s'", id.str);
	CHECK(id.len == strlen(want));
	CHECK(!strcmp(id.td, "example.org") && id.td_len == 11);
	CHECK(!strcmp(id.str + id.path_off, "/ns/prod/sa/Web_1.v-2"));
	CHECK(spiffe_id__parse(&parsed, want, strlen(want), NULL) == 0);
	CHECK(spiffe_id__equal(&id, &parsed));
	CHECK(!strcmp(id.td, parsed.td) &&
	      id.path_off == parsed.path_off && id.td_len == parsed.td_len);

	/* No segments: the trust domain's root ID; segs may then be NULL. */
	CHECK(spiffe_id__build(&id, "example.org", NULL, 0, &err) == 0);
	CHECK(!strcmp(id.str, "spiffe://example.org"));
	CHECK(spiffe_id__path_len(&id) == 0 && id.path_off == id.len);

	/* Segments are taken by length, not up to a NUL. */
	{
		const struct spiffe_seg part[] = { { "webXYZ", 3 } };

		CHECK(spiffe_id__build(&id, "td", part, 1, NULL) == 0);
		CHECK(!strcmp(id.str, "spiffe://td/web"));
	}
}

struct build_row {
	const char *name;
	struct spiffe_seg seg;	/* placed as segment 2 after "ok" */
	const char *err;
};

#define BROW(lit, msg)	{ #lit, SEG(lit), msg }

static void test_build_refused_segments(void)
{
	static const struct build_row rows[] = {
		BROW("a/b", "path segment 2 contains a character outside "
		     "[a-zA-Z0-9._-] at offset 1 ('/'): a value must not add "
		     "path segments"),
		BROW("/", "at offset 0 ('/')"),
		BROW("../../etc", "at offset 2 ('/')"),
		BROW("..", "path segment 2 is '..': dot segments"),
		BROW(".", "path segment 2 is '.': dot segments"),
		BROW("", "path segment 2 is empty"),
		BROW("a%2fb", "at offset 1 ('%'): percent-encoding"),
		BROW("a\0b", "at offset 1 (\\x00): nul bytes are not allowed"),
		BROW("\0", "at offset 0 (\\x00)"),
		BROW("caf\xc3\xa9", "at offset 3 (\\xc3): non-ascii"),
		BROW("a b", "at offset 1 (' '): whitespace"),
		BROW("a\n", "at offset 1 (\\x0a): whitespace"),
		BROW("a?b", "('?'): a query is not allowed"),
		BROW("a#b", "('#'): a fragment is not allowed"),
		BROW("a:b", "at offset 1 (':')"),
		BROW("a@b", "at offset 1 ('@')"),
		BROW("a\\b", "at offset 1 ('\\')"),
	};
	struct spiffe_seg segs[3] = { SEG("ok"), { NULL, 0 }, SEG("end") };
	struct nt_err err;
	struct spiffe_id id;
	size_t i;
	int ret;

	for (i = 0; i < ARRAY_SIZE(rows); i++) {
		const struct build_row *r = &rows[i];

		if (spiffe_id__parse(&id, "spiffe://stale.example/x", 24,
				     NULL))
			abort();
		segs[1] = r->seg;
		err.msg[0] = '\0';
		ret = spiffe_id__build(&id, "example.org", segs, 3, &err);
		CHECKF(ret == -EINVAL, "%s: returned %d ('%s')", r->name, ret,
		       id.str);
		CHECKF(strstr(err.msg, r->err), "%s: message '%s' lacks '%s'",
		       r->name, err.msg, r->err);
		/* A refused value must not leave an ID behind. */
		CHECKF(id_is_empty(&id), "%s: left '%s'", r->name, id.str);
	}
}

static void test_build_refused_td(void)
{
	static const struct {
		const char *td;
		const char *err;
	} rows[] = {
		{ "Example.org", "uppercase is not allowed" },
		{ "", "trust domain is empty" },
		{ "example.org:443", "a port is not allowed" },
		{ "example.org/evil", "a trust domain has no path" },
		{ "spiffe://example.org", "must be a bare name" },
		{ NULL, "trust domain is missing" },
	};
	const struct spiffe_seg seg = SEG("w");
	struct nt_err err;
	struct spiffe_id id;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(rows); i++) {
		err.msg[0] = '\0';
		CHECKF(spiffe_id__build(&id, rows[i].td, &seg, 1, &err) ==
		       -EINVAL, "td '%s' accepted", rows[i].td);
		CHECKF(strstr(err.msg, rows[i].err),
		       "td '%s': message '%s' lacks '%s'", rows[i].td,
		       err.msg, rows[i].err);
		CHECK(id_is_empty(&id));
	}

	/* Bad arguments. */
	CHECK(spiffe_id__build(&id, "example.org", NULL, 1, &err) == -EINVAL);
	CHECK(strstr(err.msg, "path segments are missing"));
	{
		const struct spiffe_seg nul[] = { SEG("a"), { NULL, 2 } };

		CHECK(spiffe_id__build(&id, "td", nul, 2, &err) == -EINVAL);
		CHECK(strstr(err.msg, "path segment 2 is missing"));
	}
}

static void test_build_length(void)
{
	/* "spiffe://example.org/" is 21 bytes; 2027 more makes 2048. */
	char *big = repeat('a', 3000);
	struct spiffe_seg seg = { big, SPIFFE_ID_MAX - 21 };
	struct spiffe_seg two[2] = { { big, 1000 }, { big, 1027 } };
	struct nt_err err = { "" };
	struct spiffe_id id;
	char *td = repeat('t', 256);

	CHECKF(spiffe_id__build(&id, "example.org", &seg, 1, &err) == 0,
	       "%s", err.msg);
	CHECK(id.len == SPIFFE_ID_MAX && strlen(id.str) == SPIFFE_ID_MAX);

	seg.len++;
	CHECK(spiffe_id__build(&id, "example.org", &seg, 1, &err) ==
	      -EINVAL);
	CHECKF(strstr(err.msg, "spiffe id would be 2049 bytes, more than "
		      "2048"), "message: %s", err.msg);
	CHECK(id_is_empty(&id));

	/* Two segments of 1000 + 1027 bytes and their slashes: 2049. */
	CHECK(spiffe_id__build(&id, "example.org", two, 2, &err) == -EINVAL);
	CHECK(strstr(err.msg, "would be 2049 bytes"));
	two[1].len--;
	CHECK(spiffe_id__build(&id, "example.org", two, 2, &err) == 0);
	CHECK(id.len == SPIFFE_ID_MAX);

	seg.len = 3000;
	CHECK(spiffe_id__build(&id, "example.org", &seg, 1, &err) ==
	      -EINVAL);
	CHECKF(strstr(err.msg, "path segment 1 is 3000 bytes"), "message: %s",
	       err.msg);

	CHECK(spiffe_id__build(&id, td, NULL, 0, &err) == -EINVAL);
	CHECK(strstr(err.msg, "trust domain is 256 bytes, more than 255"));
	td[255] = '\0';
	CHECK(spiffe_id__build(&id, td, NULL, 0, &err) == 0);
	CHECK(id.td_len == 255 && id.len == 9 + 255);
	free(td);
	free(big);
}

/* ---- equality ---------------------------------------------------------- */

static void parse_or_die(struct spiffe_id *id, const char *s)
{
	if (spiffe_id__parse(id, s, strlen(s), NULL))
		abort();
}

static void test_equal(void)
{
	static const struct {
		const char *a, *b;
		bool equal;
	} rows[] = {
		{ "spiffe://example.org/a", "spiffe://example.org/a", true },
		{ "spiffe://example.org", "spiffe://example.org", true },
		/* One a prefix of the other. */
		{ "spiffe://example.org/a", "spiffe://example.org/ab", false },
		{ "spiffe://example.org", "spiffe://example.org/a", false },
		{ "spiffe://example.org/a", "spiffe://example.org/a/b",
		  false },
		{ "spiffe://example.or", "spiffe://example.org", false },
		/* Paths are case-sensitive. */
		{ "spiffe://example.org/Web", "spiffe://example.org/web",
		  false },
		{ "spiffe://a.org/x", "spiffe://b.org/x", false },
	};
	struct spiffe_id a, b;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(rows); i++) {
		parse_or_die(&a, rows[i].a);
		parse_or_die(&b, rows[i].b);
		CHECKF(spiffe_id__equal(&a, &b) == rows[i].equal &&
		       spiffe_id__equal(&b, &a) == rows[i].equal,
		       "'%s' vs '%s'", rows[i].a, rows[i].b);
	}

	/* Bytes past len are not part of the ID. */
	parse_or_die(&a, "spiffe://example.org/a");
	b = a;
	memset(b.str + b.len + 1, 'x', 8);
	CHECK(spiffe_id__equal(&a, &b));
}

T_MAIN("spiffe_id",
       T(test_parse_valid),
       T(test_parse_scheme),
       T(test_parse_trust_domain),
       T(test_parse_path),
       T(test_parse_query_fragment),
       T(test_parse_bytes),
       T(test_parse_reads_only_len),
       T(test_parse_td_length),
       T(test_parse_id_length),
       T(test_td_check),
       T(test_build_ok),
       T(test_build_refused_segments),
       T(test_build_refused_td),
       T(test_build_length),
       T(test_equal));
