// SPDX-License-Identifier: Apache-2.0
/*
 * struct nt_addr, the kernel/userspace address layout (bpf/nametag.h): an
 * IPv4 address is kept IPv4-mapped, so one layout serves both families;
 * a dual-stack socket's ::ffff:a.b.c.d is the IPv4 address it is.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "userspace/daemon/daemon.h"

bool nt_addr__is_v4(const struct nt_addr *a)
{
	return !a->addr[0] && !a->addr[1] && a->addr[2] == htonl(0xffff);
}

void nt_addr__from_sockaddr(struct nt_addr *a, const struct sockaddr_storage *ss)
{
	memset(a, 0, sizeof(*a));
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)ss;

		a->addr[2] = htonl(0xffff);
		a->addr[3] = s4->sin_addr.s_addr;
		a->port = ntohs(s4->sin_port);
	} else {
		const struct sockaddr_in6 *s6 = (const void *)ss;

		memcpy(a->addr, &s6->sin6_addr, 16);
		a->port = ntohs(s6->sin6_port);
	}
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

/* "10.0.0.1:80" or "[fd00::1]:80" */
void nt_addr__format(const struct nt_addr *a, char *buf, size_t size)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	bool v4 = nt_addr__is_v4(a);

	inet_ntop(v4 ? AF_INET : AF_INET6, v4 ? (const void *)&a->addr[3] :
		  (const void *)a->addr, ip, sizeof(ip));
	snprintf(buf, size, v4 ? "%s:%u" : "[%s]:%u", ip, a->port);
}

/* The local or the peer end of socket @fd. */
int nt_addr__of_socket(int fd, bool peer, struct nt_addr *a)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if ((peer ? getpeername : getsockname)(fd, (struct sockaddr *)&ss, &len))
		return -errno;
	nt_addr__from_sockaddr(a, &ss);
	return 0;
}
