// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target for spiffe_id__parse: SPIFFE IDs arrive from certificates
 * and configuration, both outside input. Beyond "no crash", every accepted
 * ID must be canonical (re-parsing and rebuilding it give the same bytes)
 * and every refused one must leave an empty ID and a message behind.
 *
 * The same bytes are also tried as a bare trust domain and as a single path
 * segment for spiffe_id__build, whose charset rules must agree with the
 * parser's.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ca/ca.h"
#include "tests/fuzz/fuzz.h"

/* A path of at most 2048 - 10 bytes has at most 1019 segments. */
#define MAX_SEGS	1024

#define REQUIRE(cond)							\
	do {								\
		if (!(cond))						\
			abort();					\
	} while (0)

static bool is_seg_char(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
}

static bool is_td_char(uint8_t c)
{
	return is_seg_char(c) && !(c >= 'A' && c <= 'Z');
}

static void require_refused(const struct spiffe_id *id, int ret,
			    const struct nt_err *err)
{
	REQUIRE(ret == -EINVAL);
	REQUIRE(id->len == 0 && id->str[0] == '\0' && id->td_len == 0);
	REQUIRE(err->msg[0] >= 'a' && err->msg[0] <= 'z');
}

/* Splits the path of @id into segments pointing into id->str. */
static size_t split_path(const struct spiffe_id *id, struct spiffe_seg *segs)
{
	const char *p = id->str + id->path_off, *end = id->str + id->len;
	const char *slash;
	size_t n = 0;

	while (p < end) {
		REQUIRE(*p == '/' && n < MAX_SEGS);
		p++;
		slash = memchr(p, '/', end - p);
		segs[n].s = p;
		segs[n].len = (slash ? slash : end) - p;
		p += segs[n].len;
		n++;
	}
	return n;
}

static void check_accepted(const struct spiffe_id *id, const uint8_t *data,
			   size_t size)
{
	static struct spiffe_seg segs[MAX_SEGS];
	struct spiffe_id again, built;
	struct nt_err err;
	size_t nseg, i;

	REQUIRE(id->len == size && !memcmp(id->str, data, size));
	REQUIRE(id->len <= SPIFFE_ID_MAX && strlen(id->str) == id->len);
	REQUIRE(!memcmp(id->str, SPIFFE_SCHEME, SPIFFE_SCHEME_LEN));
	REQUIRE(id->td_len >= 1 && id->td_len <= SPIFFE_TD_MAX);
	REQUIRE(strlen(id->td) == id->td_len);
	REQUIRE(!memcmp(id->str + SPIFFE_SCHEME_LEN, id->td, id->td_len));
	REQUIRE(id->path_off == SPIFFE_SCHEME_LEN + id->td_len);
	REQUIRE(id->path_off <= id->len);
	for (i = 0; i < id->td_len; i++)
		REQUIRE(is_td_char(id->td[i]));
	REQUIRE(spiffe_td__check(id->td, id->td_len, &err) == 0);

	REQUIRE(spiffe_id__parse(&again, id->str, id->len, &err) == 0);
	REQUIRE(spiffe_id__equal(id, &again));
	REQUIRE(again.td_len == id->td_len && again.path_off == id->path_off);
	REQUIRE(!strcmp(again.td, id->td));

	nseg = split_path(id, segs);
	REQUIRE(spiffe_id__build(&built, id->td, segs, nseg, &err) == 0);
	REQUIRE(spiffe_id__equal(id, &built));
	REQUIRE(!strcmp(built.td, id->td) && built.path_off == id->path_off);
}

/* The input as a bare trust domain: accepted exactly when it is 1..255
 * bytes of [a-z0-9._-]. */
static void fuzz_td(const uint8_t *data, size_t size)
{
	struct nt_err err = { "" };
	bool want = size >= 1 && size <= SPIFFE_TD_MAX;
	size_t i;
	int ret;

	for (i = 0; want && i < size; i++)
		want = is_td_char(data[i]);
	ret = spiffe_td__check((const char *)data, size, &err);
	REQUIRE(want ? ret == 0 : ret == -EINVAL);
	if (ret)
		REQUIRE(err.msg[0] >= 'a' && err.msg[0] <= 'z');
}

/* The input as one segment under a fixed trust domain: accepted exactly
 * when it is a valid segment that fits, and then nothing but that segment
 * ends up in the path. */
static void fuzz_build(const uint8_t *data, size_t size)
{
	static const char td[] = "example.org";
	const struct spiffe_seg seg = { (const char *)data, size };
	struct nt_err err = { "" };
	struct spiffe_id id;
	bool want = size >= 1 &&
		    size <= SPIFFE_ID_MAX - SPIFFE_SCHEME_LEN - 12 &&
		    !(size == 1 && data[0] == '.') &&
		    !(size == 2 && data[0] == '.' && data[1] == '.');
	size_t i;
	int ret;

	for (i = 0; want && i < size; i++)
		want = is_seg_char(data[i]);
	ret = spiffe_id__build(&id, td, &seg, 1, &err);
	if (!want) {
		require_refused(&id, ret, &err);
		return;
	}
	REQUIRE(ret == 0);
	REQUIRE(id.len == SPIFFE_SCHEME_LEN + 12 + size);
	REQUIRE(id.str[id.path_off] == '/');
	REQUIRE(!memcmp(id.str + id.path_off + 1, data, size));
	REQUIRE(!memchr(id.str + id.path_off + 1, '/', size));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nt_err err = { "" };
	struct spiffe_id id;
	int ret;

	ret = spiffe_id__parse(&id, (const char *)data, size, &err);
	if (ret)
		require_refused(&id, ret, &err);
	else
		check_accepted(&id, data, size);
	fuzz_td(data, size);
	fuzz_build(data, size);
	return 0;
}
