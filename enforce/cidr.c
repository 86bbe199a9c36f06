// SPDX-License-Identifier: Apache-2.0
/*
 * CIDR ranges of egress entries. Addresses go through inet_pton, which
 * accepts only the strict forms (no octal, no "10.1", no scope id), so a
 * range means what it looks like. Host bits must be zero: "10.0.0.5/24"
 * is far more often a typo than a wish for 10.0.0.0/24.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "enforce/enforce_int.h"

/* Zero every bit after the first @bits of @a (@n bytes). */
static void mask_host_bits(unsigned char *a, size_t n, unsigned int bits)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (bits >= 8 * (i + 1))
			continue;
		if (bits <= 8 * i)
			a[i] = 0;
		else
			a[i] &= (unsigned char)(0xff << (8 - (bits - 8 * i)));
	}
}

static size_t family_bytes(int family)
{
	return family == AF_INET ? 4 : 16;
}

/* Decimal prefix length, no sign, no leading zero, at most @max. */
static int parse_bits(const char *s, size_t len, unsigned int max,
		      unsigned int *bits)
{
	unsigned int v = 0;
	size_t i;

	if (len == 0 || len > 3 || (len > 1 && s[0] == '0'))
		return -EINVAL;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned int)(s[i] - '0');
	}
	if (v > max)
		return -ERANGE;
	*bits = v;
	return 0;
}

static int bad_cidr(const char *s, size_t len, struct nt_err *err)
{
	return nt_err_set(err, -EINVAL,
			  "\"%.*s\" is not a CIDR range (expected a.b.c.d/n "
			  "or an IPv6 address/n)", (int)(len > 64 ? 64 : len),
			  s);
}

/* The address before the '/' into @c. */
static int parse_addr_part(struct cidr *c, const char *s, size_t alen)
{
	char buf[INET6_ADDRSTRLEN];

	if (alen == 0 || alen >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, alen);
	buf[alen] = '\0';
	c->family = memchr(buf, ':', alen) ? AF_INET6 : AF_INET;
	if (inet_pton(c->family, buf, c->addr) != 1)
		return -EINVAL;
	return 0;
}

int cidr__parse(struct cidr *c, const char *s, size_t len,
		struct nt_err *err)
{
	const char *slash = memchr(s, '/', len);
	unsigned int max;
	struct cidr net;
	char text[CIDR_TEXT_MAX];
	int ret;

	memset(c, 0, sizeof(*c));
	if (!slash || parse_addr_part(c, s, (size_t)(slash - s)))
		return bad_cidr(s, len, err);
	max = c->family == AF_INET ? 32 : 128;
	ret = parse_bits(slash + 1, len - (size_t)(slash + 1 - s), max,
			 &c->bits);
	if (ret == -ERANGE)
		return nt_err_set(err, -EINVAL,
				  "prefix length of \"%.*s\" is more than %u",
				  (int)len, s, max);
	if (ret)
		return bad_cidr(s, len, err);
	net = *c;
	mask_host_bits(net.addr, family_bytes(c->family), c->bits);
	if (memcmp(net.addr, c->addr, sizeof(c->addr))) {
		cidr__format(&net, text, sizeof(text));
		return nt_err_set(err, -EINVAL,
				  "host bits set in \"%.*s\" (the range is %s)",
				  (int)len, s, text);
	}
	/* Destinations in IPv4-mapped form are matched as IPv4 (addr__parse),
	 * so a range written that way would never match: say so now. */
	if (c->family == AF_INET6 && c->bits >= 96 &&
	    IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)c->addr))
		return nt_err_set(err, -EINVAL,
				  "\"%.*s\" is an IPv4-mapped range: write it "
				  "as IPv4 (a.b.c.d/n)", (int)len, s);
	return 0;
}

int cidr__format(const struct cidr *c, char *buf, size_t size)
{
	char addr[INET6_ADDRSTRLEN];
	int n;

	if (!inet_ntop(c->family, c->addr, addr, sizeof(addr)))
		return -errno;
	n = snprintf(buf, size, "%s/%u", addr, c->bits);
	if (n < 0 || (size_t)n >= size)
		return -ENOSPC;
	return 0;
}

int addr__parse(const char *s, int *family, unsigned char addr[16])
{
	memset(addr, 0, 16);
	if (inet_pton(AF_INET, s, addr) == 1) {
		*family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, addr) != 1)
		return -EINVAL;
	*family = AF_INET6;
	/* A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d; they
	 * are IPv4 destinations and must meet the IPv4 ranges. */
	if (IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)addr)) {
		memmove(addr, addr + 12, 4);
		memset(addr + 4, 0, 12);
		*family = AF_INET;
	}
	return 0;
}

bool cidr__contains(const struct cidr *c, int family,
		    const unsigned char addr[16])
{
	unsigned char a[16];

	if (c->family != family)
		return false;
	memcpy(a, addr, sizeof(a));
	mask_host_bits(a, family_bytes(family), c->bits);
	return !memcmp(a, c->addr, family_bytes(family));
}
