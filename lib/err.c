// SPDX-License-Identifier: Apache-2.0
/* Error messages, durations and growing arrays: the small pieces every
 * other file uses. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "lib/ntcore.h"

int nt_err_set(struct nt_err *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return code;
}

int nt_err_prefix(struct nt_err *err, int code, const char *prefix)
{
	char msg[sizeof(err->msg)];

	if (!err)
		return code;
	memcpy(msg, err->msg, sizeof(msg));
	msg[sizeof(msg) - 1] = '\0';
	return nt_err_set(err, code, "%s: %s", prefix, msg);
}

int nt_err_ssl(struct nt_err *err, int code, const char *what)
{
	char reason[256] = "";
	unsigned long e;
	size_t used;

	/* The last error queued is usually the most specific one. */
	e = ERR_peek_last_error();
	if (e)
		ERR_error_string_n(e, reason, sizeof(reason));
	ERR_clear_error();
	if (!err)
		return code;
	used = strnlen(err->msg, sizeof(err->msg));
	if (what)
		snprintf(err->msg, sizeof(err->msg), "%s%s", what,
			 reason[0] ? ": " : "");
	else if (used && reason[0])
		strncat(err->msg, ": ", sizeof(err->msg) - used - 1);
	used = strnlen(err->msg, sizeof(err->msg));
	strncat(err->msg, reason, sizeof(err->msg) - used - 1);
	return code;
}

int array__grow(void **v, size_t *cap, size_t n, size_t size, size_t max)
{
	size_t ncap = *cap ? *cap * 2 : 64;
	void *p;

	if (n < *cap)
		return 0;
	if (n >= max)
		return -E2BIG;
	if (ncap > max)
		ncap = max;
	p = reallocarray(*v, ncap, size);
	if (!p)
		return -ENOMEM;
	*v = p;
	*cap = ncap;
	return 0;
}

#define DURATION_MAX (10LL * 365 * 24 * 3600)

static int unit_seconds(char c)
{
	switch (c) {
	case 's': return 1;
	case 'm': return 60;
	case 'h': return 3600;
	case 'd': return 86400;
	default: return 0;
	}
}

int duration__parse(const char *s, int64_t *secs, struct nt_err *err)
{
	int64_t total = 0, n;
	const char *p = s;
	int unit, last_unit = 0;

	if (!s || !*s)
		return nt_err_set(err, -EINVAL, "empty duration");
	while (*p) {
		if (*p < '0' || *p > '9')
			goto bad;
		for (n = 0; *p >= '0' && *p <= '9'; p++) {
			n = n * 10 + (*p - '0');
			if (n > DURATION_MAX)
				goto range;
		}
		if (!*p && p == s + strlen(s) && total == 0 && last_unit == 0) {
			total = n;	/* plain seconds */
			break;
		}
		unit = unit_seconds(*p);
		/* units must be given largest first, each at most once */
		if (!unit || (last_unit && unit >= last_unit))
			goto bad;
		last_unit = unit;
		total += n * unit;
		if (total > DURATION_MAX)
			goto range;
		p++;
	}
	if (total <= 0)
		return nt_err_set(err, -EINVAL, "duration '%s' must be positive", s);
	*secs = total;
	return 0;
bad:
	return nt_err_set(err, -EINVAL,
			  "bad duration '%s': expected e.g. 90s, 15m, 1h30m, 2d",
			  s);
range:
	return nt_err_set(err, -ERANGE, "duration '%s' is longer than 10 years",
			  s);
}
