// SPDX-License-Identifier: Apache-2.0
/*
 * Clocks and their text. Kernel event times are CLOCK_MONOTONIC
 * (bpf_ktime_get_ns), timeouts are monotonic seconds, and what people
 * read is UTC in ISO 8601.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lib/ntcore.h"

static uint64_t ns_of(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * NT_NSEC_PER_SEC + ts.tv_nsec;
}

uint64_t clock__mono_ns(void)
{
	return ns_of(CLOCK_MONOTONIC);
}

time_t clock__mono_s(void)
{
	return clock__mono_ns() / NT_NSEC_PER_SEC;
}

uint64_t clock__real_ns(void)
{
	return ns_of(CLOCK_REALTIME);
}

uint64_t clock__mono_to_real_ns(uint64_t mono_ns)
{
	uint64_t real = clock__real_ns(), mono = clock__mono_ns();

	return real - (mono - mono_ns);
}

void time__iso8601(time_t t, char *buf, size_t size)
{
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, size, "%lld", (long long)t);
}

void time__iso8601_ms(uint64_t real_ns, char *buf, size_t size)
{
	time_t t = real_ns / NT_NSEC_PER_SEC;
	struct tm tm;
	size_t n;

	if (!gmtime_r(&t, &tm) ||
	    !(n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm))) {
		snprintf(buf, size, "%lld", (long long)t);
		return;
	}
	snprintf(buf + n, size - n, ".%03uZ",
		 (unsigned int)(real_ns % NT_NSEC_PER_SEC / 1000000));
}
