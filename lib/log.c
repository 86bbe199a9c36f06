// SPDX-License-Identifier: Apache-2.0
/*
 * Leveled logging: one line on stderr per message. Three shapes:
 *  - text, on a terminal or a file: "TIME nametagd[PID] LEVEL: message"
 *    (the pid tells the two processes of an upgrade apart);
 *  - under journald (JOURNAL_STREAM names our stderr): "<N>message", the
 *    syslog priority as sd-daemon(3) prefixes it; journald keeps the time
 *    and the program's name itself;
 *  - json (--log-format json): {"time", "level", "msg"} per line, behind
 *    the same priority prefix under journald.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "lib/ntcore.h"

enum nt_log_level nt_log_level = NT_LOG_INFO;
static enum nt_log_format log_format = NT_LOG_FORMAT_TEXT;
static int journald = -1;		/* -1: not looked yet */

static const char *const names[] = { "error", "warn", "info", "debug" };
/* syslog(3) priorities: LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG. */
static const int priorities[] = { 3, 4, 6, 7 };

int log__parse_format(const char *s, enum nt_log_format *f)
{
	enum nt_log_format v;

	if (!strcmp(s, "text"))
		v = NT_LOG_FORMAT_TEXT;
	else if (!strcmp(s, "json"))
		v = NT_LOG_FORMAT_JSON;
	else
		return -EINVAL;
	if (f)
		*f = v;
	return 0;
}

void log__set_format(enum nt_log_format f)
{
	log_format = f;
}

/* systemd sets JOURNAL_STREAM to "DEV:INO" of the stream it connected;
 * our stderr must be that very one (a shell may have redirected it). */
static bool under_journald(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2 ||
	    fstat(fileno(stderr), &st))
		return false;
	return st.st_dev == dev && st.st_ino == ino;
}

static void emit_json(enum nt_log_level level, const char *msg)
{
	char stamp[TIME_ISO8601_MAX], *s;
	cJSON *o = cJSON_CreateObject();

	time__iso8601_ms(clock__real_ns(), stamp, sizeof(stamp));
	cJSON_AddStringToObject(o, "time", stamp);
	cJSON_AddStringToObject(o, "level", names[level]);
	cJSON_AddNumberToObject(o, "pid", getpid());
	cJSON_AddStringToObject(o, "msg", msg);
	s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	fprintf(stderr, "%s\n", s ? s : "{}");
	free(s);
}

void nt_log(enum nt_log_level level, const char *fmt, ...)
{
	char stamp[TIME_ISO8601_MAX], msg[2048];
	va_list ap;

	if (level > nt_log_level)
		return;
	if (journald < 0)
		journald = under_journald();
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (journald)
		fprintf(stderr, "<%d>", priorities[level]);
	if (log_format == NT_LOG_FORMAT_JSON) {
		emit_json(level, msg);
		return;
	}
	if (journald) {
		fprintf(stderr, "%s\n", msg);
		return;
	}
	time__iso8601(time(NULL), stamp, sizeof(stamp));
	fprintf(stderr, "%s nametagd[%d] %s: %s\n", stamp, (int)getpid(),
		names[level], msg);
}
