/* SPDX-License-Identifier: Apache-2.0 */
/* sh(): a shell command for a test's setup (openssl, etcdctl). */
#ifndef NAMETAG_TEST_FIXTURE_SH_H
#define NAMETAG_TEST_FIXTURE_SH_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/harness.h"

/* Runs a shell command; output goes to a log in the temp dir, kept with
 * T_KEEP=1 for a failing case. */
static inline int sh(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
static inline int sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n + 64 >= sizeof(cmd))
		return -1;
	/* A subshell, so the redirection covers every command of a chain. */
	memmove(cmd + 1, cmd, (size_t)n + 1);
	cmd[0] = '(';
	snprintf(cmd + n + 1, sizeof(cmd) - n - 1, ") >>'%s/sh.log' 2>&1",
		 t_tmpdir());
	return system(cmd);
}

#endif
