// SPDX-License-Identifier: Apache-2.0
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/unit/harness.h"

static int case_failures;
static bool case_skipped;
static char tmpdir[256];

void t_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stdout, "    %s:%d: check failed: ", file, line);
	va_start(ap, fmt);
	vfprintf(stdout, fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	case_failures++;
}

void t_skip(const char *fmt, ...)
{
	va_list ap;

	fprintf(stdout, "    skipped: ");
	va_start(ap, fmt);
	vfprintf(stdout, fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	case_skipped = true;
}

static void remove_tmpdir(void)
{
	char cmd[300];

	if (!tmpdir[0] || getenv("T_KEEP"))
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "warning: could not remove %s\n", tmpdir);
}

const char *t_tmpdir(void)
{
	if (!tmpdir[0]) {
		snprintf(tmpdir, sizeof(tmpdir), "/tmp/nametag-test.XXXXXX");
		if (!mkdtemp(tmpdir)) {
			perror("mkdtemp");
			exit(2);
		}
		atexit(remove_tmpdir);
	}
	return tmpdir;
}

/* argv[1], when given, runs only the cases whose name contains it. */
int t_run(const char *suite, const struct t_case *cases, size_t n, int argc,
	  char **argv)
{
	const char *only = argc > 1 ? argv[1] : NULL;
	int passed = 0, failed = 0, skipped = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (only && !strstr(cases[i].name, only))
			continue;
		case_failures = 0;
		case_skipped = false;
		cases[i].fn();
		if (case_failures) {
			printf("FAIL %s/%s\n", suite, cases[i].name);
			failed++;
		} else if (case_skipped) {
			printf("skip %s/%s\n", suite, cases[i].name);
			skipped++;
		} else {
			printf("ok   %s/%s\n", suite, cases[i].name);
			passed++;
		}
		fflush(stdout);
	}
	printf("%s: %d passed, %d failed, %d skipped\n", suite, passed, failed,
	       skipped);
	return failed ? 1 : 0;
}
