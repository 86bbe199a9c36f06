/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Ending a TCP connection from outside the process that holds it: sock_diag's
 * SOCK_DESTROY (what `ss -K` sends) on a NETLINK_SOCK_DIAG socket, which
 * reaches only the sockets of the network namespace it was created in. The
 * owner of the socket sees ECONNABORTED, its peer a reset. The kernel needs
 * CONFIG_INET_DIAG_DESTROY, the caller CAP_NET_ADMIN.
 *
 * Shared by nametagd (a namespace turning strict) and `nametag feature
 * probe`, so it knows neither's logging. Functions return 0 or a negative
 * errno.
 */
#ifndef NAMETAG_SHARED_SOCKDIAG_H
#define NAMETAG_SHARED_SOCKDIAG_H

#include <linux/inet_diag.h>

/* How long to wait for the kernel's answer: the daemon has one thread. */
#define SOCK_DIAG_TIMEOUT_S	2

/* SO_RCVTIMEO of SOCK_DIAG_TIMEOUT_S on @nlfd. */
int sock_diag__set_timeout(int nlfd);

/*
 * Aborts the TCP socket @id of address family @family (the idiag_family a
 * dump reported), in the netns of @nlfd. @id is taken as the kernel sent
 * it, cookie included, so a socket that was closed and its 4-tuple reused
 * meanwhile is not touched (-ENOENT). -EOPNOTSUPP: the kernel cannot
 * (no CONFIG_INET_DIAG_DESTROY); -ETIMEDOUT: no answer.
 */
int sock_diag__destroy(int nlfd, int family, const struct inet_diag_sockid *id);

#endif
