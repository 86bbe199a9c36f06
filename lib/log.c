// SPDX-License-Identifier: Apache-2.0
/* Leveled logging: one line on stderr per message, for journald. The pid
 * tells the two processes of an upgrade apart in one log. */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "lib/ntcore.h"

enum nt_log_level nt_log_level = NT_LOG_INFO;

void nt_log(enum nt_log_level level, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };
	char stamp[TIME_ISO8601_MAX];
	va_list ap;

	if (level > nt_log_level)
		return;
	time__iso8601(time(NULL), stamp, sizeof(stamp));
	fprintf(stderr, "%s nametagd[%d] %s: ", stamp, (int)getpid(),
		names[level]);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}
