// SPDX-License-Identifier: Apache-2.0
/*
 * Parsers of the few fields a peer proxy sends outside the relayed bytes
 * (docs/mesh-protocol.md): the port its workload dialled, carried in SNI,
 * and the verdict of a stream. Both come from the network before anything
 * is verified or after it is only known to be a peer proxy, so they are
 * pure functions here, unit-tested and fuzzed (tests/fuzz/fuzz_wire.c).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "userspace/proxy/proxy_int.h"

/*
 * The server_name extension as OpenSSL hands it over: a 2-byte list
 * length, then one entry (type 0, host_name; 2-byte length; the name).
 * The name is "p<port>" PROXY_SNI_SUFFIX, the port 1..65535 without
 * leading garbage: "p8080.nametag.invalid" -> 8080.
 */
int proxy__sni_port(const unsigned char *p, size_t len, uint16_t *port)
{
	size_t list, n, i, suffix = strlen(PROXY_SNI_SUFFIX);
	unsigned long v = 0;

	if (len < 5)
		return -EINVAL;
	list = (size_t)p[0] << 8 | p[1];
	n = (size_t)p[3] << 8 | p[4];
	if (list + 2 != len || p[2] != 0 || n + 3 != list || n <= suffix + 1)
		return -EINVAL;
	p += 5;
	if (p[0] != 'p' || memcmp(p + n - suffix, PROXY_SNI_SUFFIX, suffix))
		return -EINVAL;
	for (i = 1; i < n - suffix; i++) {
		if (p[i] < '0' || p[i] > '9' || i > 5)
			return -EINVAL;
		v = v * 10 + (p[i] - '0');
	}
	if (v == 0 || v > 65535)
		return -EINVAL;
	*port = v;
	return 0;
}

#define DRY_ALLOW	"would-allow: "
#define DRY_DENY	"would-deny: "

/* The reason an ALLOW line carries: the rule, or for a verdict only
 * recorded (observe, permissive) what strict would decide, marked. */
void proxy__dry_run(char *buf, size_t size, const struct decision *d)
{
	const char *mark = d->enforced ? "" :
			   d->verdict == VERDICT_ALLOW ? DRY_ALLOW : DRY_DENY;

	snprintf(buf, size, "%s%s", mark, d->reason);
}

/* Whether *@reason is marked as a would-be verdict; if so, skips the mark
 * and says which. */
bool proxy__dry_run_parse(const char **reason, bool *would_allow)
{
	if (!strncmp(*reason, DRY_ALLOW, strlen(DRY_ALLOW))) {
		*reason += strlen(DRY_ALLOW);
		*would_allow = true;
		return true;
	}
	if (!strncmp(*reason, DRY_DENY, strlen(DRY_DENY))) {
		*reason += strlen(DRY_DENY);
		*would_allow = false;
		return true;
	}
	return false;
}

/* "ALLOW <rule>" or "DENY <reason>": true when allowed. */
bool proxy__verdict_parse(const char *v, const char **reason)
{
	if (!strncmp(v, "ALLOW", 5) && (!v[5] || v[5] == ' ')) {
		*reason = v[5] ? v + 6 : "";
		return true;
	}
	*reason = !strncmp(v, "DENY ", 5) ? v + 5 : "peer proxy sent no verdict";
	return false;
}
