// SPDX-License-Identifier: Apache-2.0
/*
 * A small epoll loop for programs without one of their own: the CLI's
 * `--etcd` writers, `nametag ca signer`, benchmarks and tests. It is the
 * struct etcd_loop the daemon will implement on its own epoll: fds in an
 * epoll set, one timer per client, and a run() that turns until the
 * caller's flag is set.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "userspace/etcd/etcd_int.h"

#define RUNNER_CLIENTS	64
#define RUNNER_FDS	4096

struct runner_ctx {
	struct etcd_runner *r;
	struct etcd_client *c;
	int64_t timer_at;		/* monotonic ms, -1 unarmed */
};

struct etcd_runner {
	int ep;
	struct runner_ctx ctx[RUNNER_CLIENTS];
	size_t n;
	/* The client each fd belongs to, + 1 (0: none). */
	unsigned char owner[RUNNER_FDS];
};

static int r_fd_add(void *p, int fd, uint32_t ev)
{
	struct runner_ctx *x = p;
	struct epoll_event e = { .events = ev, .data.fd = fd };

	if (fd < 0 || fd >= RUNNER_FDS)
		return -EMFILE;
	if (epoll_ctl(x->r->ep, EPOLL_CTL_ADD, fd, &e))
		return -errno;
	x->r->owner[fd] = (unsigned char)(x - x->r->ctx + 1);
	return 0;
}

static int r_fd_mod(void *p, int fd, uint32_t ev)
{
	struct runner_ctx *x = p;
	struct epoll_event e = { .events = ev, .data.fd = fd };

	return epoll_ctl(x->r->ep, EPOLL_CTL_MOD, fd, &e) ? -errno : 0;
}

static int r_fd_del(void *p, int fd)
{
	struct runner_ctx *x = p;

	if (fd >= 0 && fd < RUNNER_FDS)
		x->r->owner[fd] = 0;
	/* libcurl may have closed the fd already, which removed it. */
	epoll_ctl(x->r->ep, EPOLL_CTL_DEL, fd, NULL);
	return 0;
}

static int r_timer(void *p, int64_t ms)
{
	struct runner_ctx *x = p;

	x->timer_at = ms < 0 ? -1 : etcd__now_ms() + ms;
	return 0;
}

int etcd_runner__new(struct etcd_runner **out, struct nt_err *err)
{
	struct etcd_runner *r = calloc(1, sizeof(*r));

	if (!r)
		return nt_err_set(err, -ENOMEM, "out of memory");
	r->ep = epoll_create1(EPOLL_CLOEXEC);
	if (r->ep < 0) {
		free(r);
		return nt_err_set(err, -errno, "epoll_create1 failed");
	}
	*out = r;
	return 0;
}

void etcd_runner__free(struct etcd_runner *r)
{
	size_t i;

	if (!r)
		return;
	for (i = 0; i < r->n; i++)
		etcd__free(r->ctx[i].c);
	close(r->ep);
	free(r);
}

int etcd_runner__client(struct etcd_runner *r, const struct etcd_config *cfg,
			struct etcd_client **out, struct nt_err *err)
{
	struct etcd_config mine = *cfg;
	struct runner_ctx *x;
	int ret;

	if (r->n >= RUNNER_CLIENTS)
		return nt_err_set(err, -ENOSPC, "more than %d clients on one runner",
				  RUNNER_CLIENTS);
	x = &r->ctx[r->n];
	x->r = r;
	x->timer_at = -1;
	mine.loop = (struct etcd_loop){ x, r_fd_add, r_fd_mod, r_fd_del, r_timer };
	ret = etcd__new(&x->c, &mine, err);
	if (ret)
		return ret;
	r->n++;
	*out = x->c;
	return 0;
}

/* The earliest timer, as a wait in ms from @now, capped at @cap. */
static int64_t next_wait(const struct etcd_runner *r, int64_t now, int64_t cap)
{
	int64_t wait = cap, at;
	size_t i;

	for (i = 0; i < r->n; i++) {
		at = r->ctx[i].timer_at;
		if (at >= 0 && (wait < 0 || at - now < wait))
			wait = at > now ? at - now : 0;
	}
	return wait;
}

int etcd_runner__run(struct etcd_runner *r, const volatile bool *done,
		     int64_t timeout_ms)
{
	int64_t end = timeout_ms < 0 ? -1 : etcd__now_ms() + timeout_ms, now;
	struct epoll_event ev[32];
	int n, i, fd;
	size_t k;

	while (!(done && *done)) {
		now = etcd__now_ms();
		if (end >= 0 && now >= end)
			return -ETIMEDOUT;
		n = epoll_wait(r->ep, ev, 32,
			       (int)next_wait(r, now, end < 0 ? -1 : end - now));
		if (n < 0 && errno != EINTR)
			return -errno;
		for (i = 0; i < n; i++) {
			fd = ev[i].data.fd;
			if (fd >= 0 && fd < RUNNER_FDS && r->owner[fd])
				etcd__on_fd(r->ctx[r->owner[fd] - 1].c, fd,
					    ev[i].events);
		}
		now = etcd__now_ms();
		for (k = 0; k < r->n; k++)
			if (r->ctx[k].timer_at >= 0 && r->ctx[k].timer_at <= now) {
				r->ctx[k].timer_at = -1;
				etcd__on_timer(r->ctx[k].c);
			}
	}
	return 0;
}
