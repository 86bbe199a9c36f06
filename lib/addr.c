// SPDX-License-Identifier: Apache-2.0
/*
 * struct nt_addr, the kernel/userspace address layout (bpf/nametag.h): an
 * IPv4 address is kept IPv4-mapped, so one layout serves both families;
 * a dual-stack socket's ::ffff:a.b.c.d is the IPv4 address it is.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/ntcore.h"

bool nt_addr__is_v4(const struct nt_addr *a)
{
	return !a->addr[0] && !a->addr[1] && a->addr[2] == htonl(0xffff);
}

void nt_addr__set_v4(struct nt_addr *a, uint32_t ip4, uint16_t port)
{
	memset(a, 0, sizeof(*a));
	a->addr[2] = htonl(0xffff);
	a->addr[3] = ip4;
	a->port = port;
	a->family = AF_INET;
}

/* 127/8, or ::1. */
bool nt_addr__is_loopback(const struct nt_addr *a)
{
	if (nt_addr__is_v4(a))
		return (ntohl(a->addr[3]) >> 24) == 127;
	return !a->addr[0] && !a->addr[1] && !a->addr[2] &&
	       a->addr[3] == htonl(1);
}

void nt_addr__from_sockaddr(struct nt_addr *a, const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)ss;

		nt_addr__set_v4(a, s4->sin_addr.s_addr, ntohs(s4->sin_port));
		return;
	}
	const struct sockaddr_in6 *s6 = (const void *)ss;

	memset(a, 0, sizeof(*a));
	memcpy(a->addr, &s6->sin6_addr, 16);
	a->port = ntohs(s6->sin6_port);
	a->family = nt_addr__is_v4(a) ? AF_INET : AF_INET6;
}

unsigned int nt_addr__to_sockaddr(const struct nt_addr *a, uint16_t port,
				  struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (nt_addr__is_v4(a)) {
		struct sockaddr_in *s4 = (void *)ss;

		s4->sin_family = AF_INET;
		s4->sin_addr.s_addr = a->addr[3];
		s4->sin_port = htons(port);
		return sizeof(*s4);
	}
	struct sockaddr_in6 *s6 = (void *)ss;

	s6->sin6_family = AF_INET6;
	memcpy(&s6->sin6_addr, a->addr, 16);
	s6->sin6_port = htons(port);
	return sizeof(*s6);
}

int nt_addr__of_socket(int fd, bool peer, struct nt_addr *a)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if ((peer ? getpeername : getsockname)(fd, (struct sockaddr *)&ss, &len))
		return -errno;
	if (ss.ss_family != AF_INET && ss.ss_family != AF_INET6)
		return -EAFNOSUPPORT;
	nt_addr__from_sockaddr(a, &ss);
	return 0;
}

void nt_addr__format_ip(const struct nt_addr *a, char *buf, size_t size)
{
	bool v4 = nt_addr__is_v4(a);

	if (!inet_ntop(v4 ? AF_INET : AF_INET6,
		       v4 ? (const void *)&a->addr[3] : (const void *)a->addr,
		       buf, size))
		snprintf(buf, size, "%s", "");
}

void nt_addr__format(const struct nt_addr *a, char *buf, size_t size)
{
	char ip[INET6_ADDRSTRLEN];

	nt_addr__format_ip(a, ip, sizeof(ip));
	snprintf(buf, size, nt_addr__is_v4(a) ? "%s:%u" : "[%s]:%u",
		 ip[0] ? ip : "?", a->port);
}

int nt_addr__parse(const char *s, struct nt_addr *a, struct nt_err *err)
{
	const char *colon = strrchr(s, ':');
	char host[INET6_ADDRSTRLEN];
	unsigned long port;
	uint32_t ip4;
	char *end;
	size_t hl;

	if (!colon || colon == s)
		return nt_err_set(err, -EINVAL, "address '%s': expected ADDR:PORT", s);
	hl = colon - s;
	if (s[0] == '[' && colon[-1] == ']') {
		s++;
		hl -= 2;
	}
	if (hl >= sizeof(host))
		return nt_err_set(err, -EINVAL, "address '%s' too long", s);
	memcpy(host, s, hl);
	host[hl] = '\0';
	port = strtoul(colon + 1, &end, 10);
	if (*end || port == 0 || port > 65535)
		return nt_err_set(err, -EINVAL, "bad port in '%s'", s);
	if (inet_pton(AF_INET, host, &ip4) == 1) {
		nt_addr__set_v4(a, ip4, port);
		return 0;
	}
	memset(a, 0, sizeof(*a));
	a->port = port;
	if (inet_pton(AF_INET6, host, a->addr) == 1) {
		a->family = AF_INET6;
		return 0;
	}
	return nt_err_set(err, -EINVAL, "bad address '%s'", host);
}

int nt_addr__cmp(const void *a, const void *b)
{
	const struct nt_addr *x = a, *y = b;
	int r = memcmp(x->addr, y->addr, sizeof(x->addr));

	if (r)
		return r;
	return x->port < y->port ? -1 : x->port > y->port;
}
