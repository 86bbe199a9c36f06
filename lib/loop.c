// SPDX-License-Identifier: Apache-2.0
/*
 * The event loop: one epoll set, level-triggered, and frees deferred to the
 * end of a batch. A handler closed while its batch is being handled may
 * still have an event waiting in that batch: its memory stays until the
 * batch is over and its fd reads -1, so the event is skipped.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "lib/ntcore.h"

#define LOOP_BATCH	32

struct loop {
	int epfd;
	bool stop;
	void **grave;
	size_t ngrave, grave_cap;
};

int loop__new(struct loop **out)
{
	struct loop *l = calloc(1, sizeof(*l));

	if (!l)
		return -ENOMEM;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		free(l);
		return -errno;
	}
	*out = l;
	return 0;
}

static void reap(struct loop *l)
{
	while (l->ngrave)
		free(l->grave[--l->ngrave]);
}

void loop__free(struct loop *l)
{
	if (!l)
		return;
	reap(l);
	free(l->grave);
	close(l->epfd);
	free(l);
}

static int ctl(struct loop *l, int op, struct loop_handler *h, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = h };

	return epoll_ctl(l->epfd, op, h->fd, &ev) ? -errno : 0;
}

int loop__add(struct loop *l, struct loop_handler *h, uint32_t events)
{
	return ctl(l, EPOLL_CTL_ADD, h, events);
}

int loop__mod(struct loop *l, struct loop_handler *h, uint32_t events)
{
	return ctl(l, EPOLL_CTL_MOD, h, events);
}

void loop__del(struct loop *l, struct loop_handler *h)
{
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, h->fd, NULL);
}

void loop__defer_free(struct loop *l, void *p)
{
	void **ng;
	size_t cap;

	if (l->ngrave == l->grave_cap) {
		cap = l->grave_cap ? l->grave_cap * 2 : 64;
		ng = reallocarray(l->grave, cap, sizeof(*ng));
		if (!ng) {
			/* Leaking beats a use-after-free. */
			pr_warn("out of memory deferring a free");
			return;
		}
		l->grave = ng;
		l->grave_cap = cap;
	}
	l->grave[l->ngrave++] = p;
}

int loop__run_once(struct loop *l, int timeout_ms)
{
	struct epoll_event evs[LOOP_BATCH];
	struct loop_handler *h;
	int n, i;

	n = epoll_wait(l->epfd, evs, LOOP_BATCH, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (i = 0; i < n && !l->stop; i++) {
		h = evs[i].data.ptr;
		/* Closed earlier in this batch: its memory waits in the
		 * graveyard, its fd is gone. */
		if (h->fd >= 0)
			h->on_event(h, evs[i].events);
	}
	reap(l);
	return n;
}

void loop__stop(struct loop *l)
{
	l->stop = true;
}

bool loop__stopped(const struct loop *l)
{
	return l->stop;
}
