// SPDX-License-Identifier: Apache-2.0
/*
 * nametagd's file descriptors. A proxied connection holds two (six with
 * kTLS splice pipes), so systemd's default soft limit, 1024, is a few
 * hundred connections: the daemon raises its soft RLIMIT_NOFILE to the
 * hard one at start. The soft limit exists for programs that use select();
 * nothing here does.
 *
 * The top of the descriptor range is a reserve (docs/mesh-protocol.md,
 * "Admission"). Linux gives out the lowest free number, so a new
 * descriptor numbered within @keep of the limit proves that fewer than
 * @keep are free: a cheap test on every accept, no counting.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/ntcore.h"

static unsigned int fd_max = 1024;
static int spare = -1;
static uint64_t refused;

static void open_spare(void)
{
	if (spare < 0)
		spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static void raise_soft_limit(struct rlimit *rl)
{
	rlim_t old = rl->rlim_cur;

	if (rl->rlim_cur >= rl->rlim_max)
		return;
	rl->rlim_cur = rl->rlim_max;
	if (setrlimit(RLIMIT_NOFILE, rl)) {
		pr_warn("failed to raise the open files limit from %llu to %llu: %s",
			(unsigned long long)old, (unsigned long long)rl->rlim_max,
			strerror(errno));
		rl->rlim_cur = old;
		return;
	}
	pr_info("open files limit raised from %llu to %llu",
		(unsigned long long)old, (unsigned long long)rl->rlim_cur);
}

int fdlimit__init(struct nt_err *err)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return nt_err_set(err, -errno, "getrlimit(RLIMIT_NOFILE): %s",
				  strerror(errno));
	raise_soft_limit(&rl);
	fd_max = rl.rlim_cur > INT_MAX ? INT_MAX : (unsigned int)rl.rlim_cur;
	if (fd_max < FDLIMIT_MIN)
		pr_warn("open files limit %u: the proxy wants at least %u (LimitNOFILE= in the unit)",
			fd_max, FDLIMIT_MIN);
	open_spare();
	if (spare < 0)
		return nt_err_set(err, -errno, "failed to open /dev/null: %s",
				  strerror(errno));
	return 0;
}

void fdlimit__fini(void)
{
	if (spare >= 0)
		close(spare);
	spare = -1;
}

unsigned int fdlimit__max(void)
{
	return fd_max;
}

bool fdlimit__in_reserve(int fd, unsigned int keep)
{
	return (unsigned int)fd >= fd_max || fd_max - (unsigned int)fd <= keep;
}

/* Closes with a reset: no FIN_WAIT state left behind for a peer that
 * is being shed. */
void fdlimit__reset(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

/*
 * accept() failed for want of a descriptor: the connection stays queued,
 * the listener stays readable and a level-triggered loop would spin on
 * it. The spare descriptor is given up for a moment to accept the
 * connection and reset it (the classic spare-fd trick).
 */
void fdlimit__refuse(int listen_fd)
{
	int fd;

	if (spare >= 0)
		close(spare);
	spare = -1;
	fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd >= 0) {
		fdlimit__reset(fd);
		refused++;
	}
	open_spare();
}

uint64_t fdlimit__refused(void)
{
	return refused;
}
