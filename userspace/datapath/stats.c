// SPDX-License-Identifier: Apache-2.0
/*
 * What the datapath reports: its state for `nametag status`, and what it
 * lost or dropped, for the daemon's metrics: events the programs could not
 * put in the ring buffer (the stats map, one counter per CPU), listener
 * records that did not fit a network namespace's table, SYNs to strict
 * listeners in a netns not served yet.
 */
#include <errno.h>
#include <stdlib.h>

#include <bpf/libbpf.h>

#include "userspace/datapath/datapath_int.h"

static uint64_t stat_sum(const struct datapath *dp, uint32_t which)
{
	int ncpus = libbpf_num_possible_cpus();
	uint64_t *v, sum = 0;
	int i;

	if (ncpus <= 0)
		return 0;
	v = calloc(ncpus, sizeof(*v));
	if (!v)
		return 0;
	if (!bpf_map__lookup_elem(dp->skel->maps.stats, &which, sizeof(which),
				  v, ncpus * sizeof(*v), 0))
		for (i = 0; i < ncpus; i++)
			sum += v[i];
	free(v);
	return sum;
}

void datapath__stats(const struct datapath *dp, struct dp_stats *st)
{
	uint32_t i;

	*st = (struct dp_stats){};
	if (!dp || !dp->skel)
		return;
	st->events_lost = stat_sum(dp, NT_STAT_EVENTS_LOST);
	st->unserved_syns = stat_sum(dp, NT_STAT_UNSERVED_SYNS);
	for (i = 0; i < dp->max_netns; i++)
		if (dp->netns[i].table_fd >= 0)
			st->listener_records_lost +=
				datapath__overflow(dp, dp->netns[i].netns_ino);
}

void datapath__status(const struct datapath *dp, struct dp_status *st)
{
	st->pin_dir = dp->pin;
	st->cgroup_id = dp->cgroup_id;
	st->links = dp->nlinks;
	st->max_netns = dp->max_netns;
	st->listeners_per_netns = dp->listeners_per_netns;
	st->netns_guarded = dp->nguarded;
}
