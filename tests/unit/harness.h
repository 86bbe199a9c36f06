/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A small test harness. Each test binary is a table of cases; a case fails
 * when any CHECK in it fails, and is skipped when it calls t_skip() (it
 * cannot run here: no root, an old kernel) without failing first. The last
 * line printed is the summary the runner (tests/run) and CI read:
 * "suite: N passed, N failed, N skipped".
 *
 *	static void test_thing(void) { CHECK_EQ(1 + 1, 2); }
 *	T_MAIN("suite", T(test_thing));
 *
 * Table-driven cases loop over rows and name the row in CHECKF messages;
 * CHECK_EQ and CHECK_STR print both values, as the kernel selftests'
 * ASSERT_EQ does.
 */
#ifndef NAMETAG_TEST_HARNESS_H
#define NAMETAG_TEST_HARNESS_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

struct t_case {
	const char *name;
	void (*fn)(void);
};

void t_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int t_run(const char *suite, const struct t_case *cases, size_t n, int argc,
	  char **argv);

/* Directory for files a test writes; created per binary run, removed at
 * exit. */
const char *t_tmpdir(void);
/* The running case cannot run here: says why; it counts as skipped. */
void t_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define CHECK(cond)							\
	do {								\
		if (!(cond))						\
			t_fail(__FILE__, __LINE__, "%s", #cond);	\
	} while (0)

#define CHECKF(cond, ...)						\
	do {								\
		if (!(cond))						\
			t_fail(__FILE__, __LINE__, __VA_ARGS__);	\
	} while (0)

/* Integers of any type up to 64 bits, compared and printed as such. */
#define CHECK_EQ(a, b)							\
	do {								\
		long long _a = (long long)(a), _b = (long long)(b);	\
		if (_a != _b)						\
			t_fail(__FILE__, __LINE__,			\
			       "%s == %s: %lld != %lld", #a, #b, _a, _b); \
	} while (0)

#define CHECK_STR(a, b)							\
	do {								\
		const char *_a = (a), *_b = (b);			\
		if (!_a || !_b || strcmp(_a, _b))			\
			t_fail(__FILE__, __LINE__,			\
			       "%s == %s: \"%s\" != \"%s\"", #a, #b,	\
			       _a ? _a : "(null)", _b ? _b : "(null)");	\
	} while (0)

#define T(fn) { #fn, fn }

#define T_MAIN(suite, ...)						\
	int main(int argc, char **argv)					\
	{								\
		static const struct t_case cases[] = { __VA_ARGS__ };	\
		return t_run(suite, cases,				\
			     sizeof(cases) / sizeof(cases[0]), argc, argv); \
	}

#endif
