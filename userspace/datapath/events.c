// SPDX-License-Identifier: Apache-2.0
/*
 * The kernel's events: the pinned ring buffer, read from the daemon's
 * loop. Which events wake it at once and which wait for its drain timer
 * is the programs' choice (bpf/maps.bpf.h, events_wake).
 */
#include <errno.h>
#include <bpf/libbpf.h>

#include "userspace/datapath/datapath_int.h"

static int on_ringbuf(void *ctx, void *data, size_t size)
{
	struct datapath *dp = ctx;

	if (size < sizeof(struct nt_event))
		return 0;
	dp->cb(data, dp->cb_arg);
	return 0;
}

int datapath__events_open(struct datapath *dp,
			  void (*fn)(const struct nt_event *ev, void *arg),
			  void *arg)
{
	dp->cb = fn;
	dp->cb_arg = arg;
	dp->rb = ring_buffer__new(bpf_map__fd(dp->skel->maps.events),
				  on_ringbuf, dp, NULL);
	return dp->rb ? 0 : -errno;
}

int datapath__events_fd(const struct datapath *dp)
{
	return dp->rb ? ring_buffer__epoll_fd(dp->rb) : -EINVAL;
}

int datapath__events_poll(struct datapath *dp)
{
	return ring_buffer__consume(dp->rb) < 0 ? -EIO : 0;
}
