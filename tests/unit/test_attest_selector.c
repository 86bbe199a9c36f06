// SPDX-License-Identifier: Apache-2.0
/*
 * Selectors (attest/selector.c): "TYPE:KEY:VALUE" parsing, formatting and
 * comparison. Every value has one spelling, so the tables also pin down the
 * spellings refused (leading zeros, uppercase hex, relative paths).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "attest/attest_int.h"
#include "tests/unit/harness.h"

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

struct parse_row {
	const char *in;
	const char *type;	/* expected; NULL: must fail */
	const char *value;	/* expected value field ("uid:1000") */
	const char *err;	/* substring of the message on failure */
};

#define OK(in, type, value)	{ in, type, value, NULL }
#define BAD(in, msg)		{ in, NULL, NULL, msg }

static void check_row(const struct parse_row *r)
{
	struct nt_err err = { "" };
	struct selector sel;
	char buf[512];
	int ret;

	ret = selector__parse(&sel, r->in, &err);
	if (!r->type) {
		CHECKF(ret == -EINVAL, "'%s': returned %d, want -EINVAL",
		       r->in, ret);
		CHECKF(strstr(err.msg, r->err) != NULL,
		       "'%s': message '%s' lacks '%s'", r->in, err.msg, r->err);
		CHECKF(err.msg[0] >= 'a' && err.msg[0] <= 'z',
		       "'%s': message '%s' is not lowercase", r->in, err.msg);
		CHECKF(!sel.type[0] && !sel.value[0], "'%s': not cleared", r->in);
		return;
	}
	CHECKF(ret == 0, "'%s': failed (%d): %s", r->in, ret, err.msg);
	if (ret)
		return;
	CHECKF(!strcmp(sel.type, r->type) && !strcmp(sel.value, r->value),
	       "'%s': parsed as '%s' / '%s'", r->in, sel.type, sel.value);
	/* formatting gives back the input exactly */
	CHECKF(selector__format(&sel, buf, sizeof(buf)) == 0 &&
	       !strcmp(buf, r->in), "'%s': formats as '%s'", r->in, buf);
	CHECKF(selector__check(&sel, &err) == 0, "'%s': check: %s", r->in,
	       err.msg);
}

static void run_rows(const struct parse_row *rows, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		check_row(&rows[i]);
}

static void test_parse_good(void)
{
	static const struct parse_row rows[] = {
		OK("unix:uid:0", "unix", "uid:0"),
		OK("unix:uid:1000", "unix", "uid:1000"),
		OK("unix:uid:4294967295", "unix", "uid:4294967295"),
		OK("unix:gid:42", "unix", "gid:42"),
		OK("unix:user:alice", "unix", "user:alice"),
		OK("unix:user:a b", "unix", "user:a b"),
		OK("unix:group:wheel", "unix", "group:wheel"),
		OK("unix:path:/usr/bin/python3", "unix", "path:/usr/bin/python3"),
		/* only the first two colons split */
		OK("unix:path:/opt/a:b", "unix", "path:/opt/a:b"),
		OK("unix:sha256:" HEX64, "unix", "sha256:" HEX64),
		OK("cgroup:path:/", "cgroup", "path:/"),
		OK("cgroup:path:/shop/web.service", "cgroup",
		   "path:/shop/web.service"),
		OK("systemd:unit:nginx.service", "systemd", "unit:nginx.service"),
		OK("netns:ino:4026531840", "netns", "ino:4026531840"),
		OK("netns:ino:18446744073709551615", "netns",
		   "ino:18446744073709551615"),
		OK("ns:name:shop", "ns", "name:shop"),
		OK("ns:name:a:b:c", "ns", "name:a:b:c"),
	};

	run_rows(rows, ARRAY_SIZE(rows));
}

static void test_parse_bad(void)
{
	static const struct parse_row rows[] = {
		BAD("", "is not TYPE:KEY:VALUE"),
		BAD("unix", "is not TYPE:KEY:VALUE"),
		BAD("unix:uid", "is not TYPE:KEY:VALUE"),
		BAD("unix:uid:", "has an empty value"),
		BAD(":uid:1", "has an empty type"),
		BAD("unix::1", "has an empty key"),
		BAD("foo:bar:baz", "unknown selector type 'foo'"),
		BAD("UNIX:uid:1", "unknown selector type 'UNIX'"),
		BAD("k8s:ns:default", "unknown selector type 'k8s'"),
		BAD("unix:pid:1", "unknown key 'pid' for selector type 'unix'"),
		BAD("unix:UID:1", "unknown key 'UID'"),
		BAD("cgroup:id:5", "unknown key 'id' for selector type 'cgroup' (known: path)"),
		BAD("ns:ns:shop", "unknown key 'ns'"),
		BAD("unix:uid:-1", "not a decimal number"),
		BAD("unix:uid:+1", "not a decimal number"),
		BAD("unix:uid:01", "not a decimal number"),
		BAD("unix:uid:12a", "not a decimal number"),
		BAD("unix:uid: 1", "not a decimal number"),
		BAD("unix:uid:4294967296", "out of range"),
		BAD("unix:gid:99999999999999999999", "out of range"),
		BAD("netns:ino:18446744073709551616", "out of range"),
		BAD("unix:sha256:" "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
		    "64 lowercase hex digits"),
		BAD("unix:sha256:abc", "64 lowercase hex digits"),
		BAD("unix:sha256:" HEX64 "0", "64 lowercase hex digits"),
		BAD("unix:path:usr/bin/x", "not an absolute path"),
		BAD("cgroup:path:shop", "not an absolute path"),
		BAD("unix:user:a\tb", "control or non-ASCII byte at offset 11"),
		BAD("ns:name:x\n", "control or non-ASCII byte"),
		BAD("ns:name:\xc3\xa9t\xc3\xa9", "control or non-ASCII byte"),
		BAD("ns:name:\x7f", "control or non-ASCII byte"),
	};

	run_rows(rows, ARRAY_SIZE(rows));
}

/* "unix:user:" + n bytes: the value field holds "user:" + n bytes and a
 * NUL in ATTEST_VALUE_MAX. */
static void test_parse_length(void)
{
	const size_t fits = ATTEST_VALUE_MAX - 1 - strlen("user:");
	char in[512] = "unix:user:";
	struct nt_err err = { "" };
	struct selector sel;

	memset(in + 10, 'a', fits);
	in[10 + fits] = '\0';
	CHECKF(selector__parse(&sel, in, &err) == 0, "%zu bytes: %s", fits,
	       err.msg);
	CHECK(strlen(sel.value) == ATTEST_VALUE_MAX - 1);
	in[10 + fits] = 'a';
	in[11 + fits] = '\0';
	CHECK(selector__parse(&sel, in, &err) == -EINVAL);
	CHECKF(strstr(err.msg, "at most 250") != NULL, "message '%s'",
	       err.msg);
	CHECK(selector__parse(&sel, NULL, &err) == -EINVAL);
	/* the verdict does not depend on having an error struct */
	CHECK(selector__parse(&sel, "foo:bar:baz", NULL) == -EINVAL);
}

static void test_format_and_equal(void)
{
	struct selector a, b, c;
	char small[8];

	CHECK(selector__parse(&a, "unix:uid:1000", NULL) == 0);
	CHECK(selector__parse(&b, "unix:uid:1000", NULL) == 0);
	CHECK(selector__parse(&c, "unix:gid:1000", NULL) == 0);
	CHECK(selector__equal(&a, &b));
	CHECK(!selector__equal(&a, &c));
	CHECK(selector__same_key(&a, &b));
	CHECK(!selector__same_key(&a, &c));
	CHECK(selector__parse(&c, "unix:uid:1001", NULL) == 0);
	CHECK(selector__same_key(&a, &c) && !selector__equal(&a, &c));
	CHECK(selector__format(&a, small, sizeof(small)) == -ENOSPC);
	CHECK(selector__key_len(&a) == 3);
}

static void test_make(void)
{
	struct nt_err err = { "" };
	char big[400];
	struct selector s;

	CHECK(selector__make(&s, "cgroup", "path", "/a:b", &err) == 0);
	CHECK(!strcmp(s.type, "cgroup") && !strcmp(s.value, "path:/a:b"));
	memset(big, 'x', sizeof(big) - 1);
	big[0] = '/';
	big[sizeof(big) - 1] = '\0';
	CHECK(selector__make(&s, "cgroup", "path", big, &err) == -EINVAL);
	CHECK(selector__make(&s, "unix", "path", "rel", &err) == -EINVAL);
	/* a struct that a parse would split differently is malformed */
	memset(&s, 0, sizeof(s));
	strcpy(s.type, "unix:uid");
	strcpy(s.value, "1000");
	CHECK(selector__check(&s, &err) == -EINVAL);
	memset(&s, 'a', sizeof(s));
	CHECKF(selector__check(&s, &err) == -EINVAL &&
	       strstr(err.msg, "NUL") != NULL, "message '%s'", err.msg);
}

T_MAIN("attest_selector",
       T(test_parse_good),
       T(test_parse_bad),
       T(test_parse_length),
       T(test_format_and_equal),
       T(test_make));
