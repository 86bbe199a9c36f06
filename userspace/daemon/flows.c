// SPDX-License-Identifier: Apache-2.0
/*
 * Flows: one typed record (struct flow_record, proxy.h) per connection of
 * an enrolled workload, the last stage of both pipelines: the proxy fills
 * the records of what it carries, events.c those of what the kernel saw,
 * strict.c those of what it ended. The table is a fixed ring of the latest
 * records (--flow-table-size, FLOW_TABLE_DEFAULT), so memory stays bounded
 * however busy the node; the JSON is ctl_flow.c's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "userspace/daemon/daemon.h"

struct flow_table {
	struct spiffe_ids *ids;
	struct flow_record *ring;	/* size records; id 0: free */
	uint8_t *marks;			/* per slot: what metrics counted */
	size_t size;
	uint64_t next_id;		/* id of the next flow, from 1 */
};

int flow_table__new(struct flow_table **out, struct spiffe_ids *ids,
		    size_t size)
{
	struct flow_table *t;

	if (size < FLOW_TABLE_MIN || size > FLOW_TABLE_MAX)
		return -ERANGE;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->size = size;
	t->ring = calloc(size, sizeof(*t->ring));
	t->marks = calloc(size, sizeof(*t->marks));
	if (!t->ring || !t->marks) {
		free(t->ring);
		free(t->marks);
		free(t);
		return -ENOMEM;
	}
	t->ids = ids;
	t->next_id = 1;
	*out = t;
	return 0;
}

/* Gives back what a record holds. */
static void record_clear(struct flow_table *t, struct flow_record *f)
{
	workload__put(f->who);
	spiffe_ids__put(t->ids, f->src_id);
	spiffe_ids__put(t->ids, f->dst_id);
	free(f->identity_error);
	memset(f, 0, sizeof(*f));
}

void flow_table__free(struct flow_table *t)
{
	size_t i;

	if (!t)
		return;
	for (i = 0; i < t->size; i++)
		record_clear(t, &t->ring[i]);
	free(t->ring);
	free(t->marks);
	free(t);
}

struct flow_record *flows__open(struct flow_table *t)
{
	struct flow_record *f = &t->ring[t->next_id % t->size];

	record_clear(t, f);
	t->marks[t->next_id % t->size] = 0;
	f->id = t->next_id++;
	f->real_ns = clock__real_ns();
	f->start_mono_ns = clock__mono_ns();
	return f;
}

struct flow_record *flows__get(struct flow_table *t, uint64_t id)
{
	struct flow_record *f;

	if (id == 0 || id >= t->next_id || t->next_id - id > t->size)
		return NULL;
	f = &t->ring[id % t->size];
	return f->id == id ? f : NULL;
}

int flows__foreach(const struct flow_table *t,
		   int (*fn)(const struct flow_record *f, void *arg), void *arg)
{
	uint64_t id, first;
	const struct flow_record *f;
	int ret;

	first = t->next_id > t->size ? t->next_id - t->size : 1;
	for (id = first; id < t->next_id; id++) {
		f = &t->ring[id % t->size];
		if (f->id != id)
			continue;
		ret = fn(f, arg);
		if (ret)
			return ret;
	}
	return 0;
}

/* The same end: address and port; the family may differ (a dual-stack
 * socket's IPv4-mapped view of an IPv4 peer). */
static bool same_end(const struct nt_addr *a, const struct nt_addr *b)
{
	return a->port == b->port && !memcmp(a->addr, b->addr, sizeof(a->addr));
}

struct flow_record *flows__find(struct flow_table *t, enum flow_type type,
				const struct nt_addr *src,
				const struct nt_addr *dst, unsigned int depth)
{
	struct flow_record *f;
	uint64_t id;

	for (id = t->next_id - 1; id && depth; id--, depth--) {
		f = flows__get(t, id);
		if (!f)
			return NULL;
		if (f->type == type && same_end(&f->src, src) &&
		    same_end(&f->dst, dst))
			return f;
	}
	return NULL;
}

size_t flows__size(const struct flow_table *t)
{
	return t->size;
}

size_t flows__held(const struct flow_table *t)
{
	return t->next_id - 1 < t->size ? t->next_id - 1 : t->size;
}

void flows__set_id(struct flow_table *t, const struct spiffe_id **slot,
		   const struct spiffe_id *id)
{
	const struct spiffe_id *held = id ? spiffe_ids__get(t->ids, id) : NULL;

	spiffe_ids__put(t->ids, *slot);
	*slot = held;
}

void flows__publish(struct daemon *d, uint64_t id)
{
	const struct flow_record *f = flows__get(d->flows, id);

	if (f)
		flows__changed(d, f);
}

void flows__changed(struct daemon *d, const struct flow_record *f)
{
	uint8_t *mark = &d->flows->marks[f->id % d->flows->size];

	metrics__flow(d->metrics, f, mark);
	audit__flow(d, f, mark);
	ctl_flow__publish(d, f);
}

void flows__repeated(struct daemon *d, struct flow_record *f)
{
	f->count = f->has & FLOW_HAS_COUNT ? f->count + 1 : 2;
	f->has |= FLOW_HAS_COUNT;
	metrics__flow_repeat(d->metrics, f);
}

void flows__note(struct daemon *d, const struct flow_note *n)
{
	struct flow_record *f = flows__open(d->flows);

	f->type = n->type;
	f->src = *n->src;
	f->dst = *n->dst;
	/* Nothing was attested: the socket is known by its cgroup. */
	f->cgroup_id = n->cgroup_id;
	f->uid = n->uid;
	f->has = FLOW_HAS_SRC | FLOW_HAS_DST | FLOW_HAS_OWNER;
	snprintf(f->ns, sizeof(f->ns), "%s", n->ns);
	f->mode = n->mode;
	f->transport = FLOW_PLAINTEXT;
	f->verdict = FLOW_DENY;
	snprintf(f->reason, sizeof(f->reason), "%s", n->reason);
	f->state = n->state;
	flows__changed(d, f);
}
