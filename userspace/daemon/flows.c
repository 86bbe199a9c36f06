// SPDX-License-Identifier: Apache-2.0
/*
 * Flows: one record per connection of an enrolled workload, built from the
 * ring buffer's events. The table is a fixed ring of the latest
 * FLOW_TABLE_SIZE records, so memory stays bounded however busy the node.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "userspace/daemon/daemon.h"
#include "lib/ntcore.h"
#include "userspace/proxy/proxy.h"

struct flow_table {
	cJSON *ring[FLOW_TABLE_SIZE];
	uint64_t start[FLOW_TABLE_SIZE];	/* monotonic ns, for "age_s" */
	uint64_t next_id;		/* id of the next flow, from 1 */
	struct nt_event last;		/* the last event recorded */
};

int flow_table__new(struct flow_table **t)
{
	*t = calloc(1, sizeof(**t));
	if (!*t)
		return -ENOMEM;
	(*t)->next_id = 1;
	return 0;
}

void flow_table__free(struct flow_table *t)
{
	size_t i;

	if (!t)
		return;
	for (i = 0; i < FLOW_TABLE_SIZE; i++)
		cJSON_Delete(t->ring[i]);
	free(t);
}

/* Event times are CLOCK_MONOTONIC (bpf_ktime_get_ns). */
static void add_event_time(cJSON *o, uint64_t ktime)
{
	char buf[TIME_ISO8601_MAX];

	time__iso8601_ms(clock__mono_to_real_ns(ktime), buf, sizeof(buf));
	cJSON_AddStringToObject(o, "time", buf);
}

/* What each kind of refusal the kernel reports is called, and why. */
static const struct {
	const char *type;
	const char *reason;
} refusals[] = {
	[NT_EV_REFUSED] = { "refused",
		"strict mode and no node proxy in this network namespace: refused, never plaintext" },
	[NT_EV_INBOUND_REFUSED] = { "inbound-refused",
		"strict mode and no node proxy to take it: refused, never plaintext" },
	[NT_EV_SOCKET_REFUSED] = { "socket-refused",
		"strict mode: this kind of socket would bypass the node proxy" },
	[NT_EV_SOCKET_KILLED] = { "socket-killed",
		"strict mode: this socket family bypasses every inet hook; the caller was killed" },
	[NT_EV_UDP_REFUSED] = { "datagram-refused",
		"strict mode: no egress rule allows plaintext to this destination" },
};

static bool is_refusal(uint32_t type)
{
	return type < sizeof(refusals) / sizeof(refusals[0]) &&
	       refusals[type].type;
}

/*
 * The verdict the namespace's strict policy would give. With no allow
 * rule loaded, strict mode is default deny; the policy engine decides here
 * once rules exist.
 */
static void add_verdict(cJSON *o, const struct nt_event *e)
{
	if (is_refusal(e->type)) {
		cJSON_AddStringToObject(o, "verdict", "deny");
		cJSON_AddStringToObject(o, "reason", e->type == NT_EV_INBOUND_REFUSED &&
					e->info ? "the network namespace's listener table overflowed: every SYN without a record is refused" :
					refusals[e->type].reason);
		return;
	}
	cJSON_AddStringToObject(o, "verdict", e->ev.mode == NT_MODE_STRICT ?
				"deny" : "would-deny");
	cJSON_AddStringToObject(o, "reason", "default deny: no allow rule");
}

/* The socket a refused socket() asked for, as the event encodes it. */
static void add_socket(cJSON *o, uint32_t info)
{
	char buf[64];

	snprintf(buf, sizeof(buf), "family %u type %u protocol %u",
		 info >> 16, (info >> 8) & 0xff, info & 0xff);
	cJSON_AddStringToObject(o, "socket", buf);
}

/* The identity of the evidence's workload into @key (an ID or null). */
static void add_identity(cJSON *o, const char *key, cJSON *who,
			 const struct nt_evidence *ev)
{
	struct nt_err err = {};
	struct spiffe_id id;

	if (workload__resolve(ev, who, &id, &err)) {
		cJSON_AddNullToObject(o, key);
		cJSON_AddStringToObject(o, "identity_error", err.msg);
	} else {
		cJSON_AddStringToObject(o, key, id.str);
	}
}

static cJSON *flow_json(struct flow_table *t, const struct nt_event *e)
{
	cJSON *o = cJSON_CreateObject(), *who;
	bool inbound = e->type == NT_EV_INBOUND_REFUSED;
	char addr[80];

	cJSON_AddNumberToObject(o, "id", (double)t->next_id);
	add_event_time(o, e->ktime);
	cJSON_AddStringToObject(o, "type", is_refusal(e->type) ?
				refusals[e->type].type : "connect");
	nt_addr__format(&e->src, addr, sizeof(addr));
	cJSON_AddStringToObject(o, "src", e->src.port ? addr : "");
	nt_addr__format(&e->dst, addr, sizeof(addr));
	cJSON_AddStringToObject(o, "dst", e->dst.port ? addr : "");
	if (e->type == NT_EV_SOCKET_REFUSED || e->type == NT_EV_SOCKET_KILLED)
		add_socket(o, e->info);
	cJSON_AddBoolToObject(o, "redirected", !!(e->flags & NT_SOCK_REDIRECTED));
	/* An inbound refusal names the listener it protected; the caller is
	 * only an address. */
	who = cJSON_AddObjectToObject(o, inbound ? "listener" : "caller");
	if (!inbound) {
		add_identity(o, "src_spiffe_id", who, &e->ev);
		/* Observe mode sees no peer certificate: the destination is
		 * known by address only until mTLS carries the flow. */
		cJSON_AddNullToObject(o, "dst_spiffe_id");
	} else if (e->ev.ns_cgroup_id) {
		cJSON_AddNullToObject(o, "src_spiffe_id");
		add_identity(o, "dst_spiffe_id", who, &e->ev);
	}
	cJSON_AddStringToObject(o, "namespace",
				cJSON_GetStringValue(cJSON_GetObjectItem(who, "namespace")) ?: "");
	cJSON_AddStringToObject(o, "mode", mode__name(e->ev.mode));
	add_verdict(o, e);
	return o;
}

/*
 * Refusals repeat: a SYN is retransmitted, a refused sendto() is retried.
 * The same refusal within a second of the last one counts on that record,
 * so a workload that loops cannot push everything else out of the ring.
 */
static bool same_refusal(const struct flow_table *t, const struct nt_event *e)
{
	const struct nt_event *l = &t->last;

	return is_refusal(e->type) && l->type == e->type &&
	       e->ktime - l->ktime < 1000000000ull &&
	       l->ev.tgid == e->ev.tgid && l->ev.cgroup_id == e->ev.cgroup_id &&
	       !memcmp(&l->dst, &e->dst, sizeof(e->dst)) &&
	       !memcmp(l->src.addr, e->src.addr, sizeof(e->src.addr));
}

static void count_repeat(struct flow_table *t)
{
	cJSON *f = t->next_id > 1 ? flows__get(t, t->next_id - 1) : NULL;
	cJSON *n = f ? cJSON_GetObjectItem(f, "count") : NULL;

	if (!f)
		return;
	if (n)
		cJSON_SetNumberValue(n, n->valuedouble + 1);
	else
		cJSON_AddNumberToObject(f, "count", 2);
}

void flows__on_event(const struct nt_event *e, void *arg)
{
	struct flow_table *t = arg;
	cJSON *f, *msg;
	size_t slot;

	/* An enrolled workload in a netns the proxy does not serve yet:
	 * serve it, so its next connection (or its listener) is handled. */
	if (e->ev.mode >= NT_MODE_PERMISSIVE && e->ev.tgid)
		proxy__serve_pid(e->ev.tgid, e->ev.netns_ino);
	/* Said once per sync, not once per record (there may be thousands). */
	if (e->type == NT_EV_LISTEN_OVERFLOW)
		daemon__sync_listeners_soon();
	if (e->type != NT_EV_CONNECT && !is_refusal(e->type))
		return;
	/* A redirected connection is the proxy's: it writes the record. */
	if (e->flags & NT_SOCK_REDIRECTED)
		return;
	if (same_refusal(t, e)) {
		t->last.ktime = e->ktime;
		count_repeat(t);
		return;
	}
	t->last = *e;
	f = flow_json(t, e);
	if (!f)
		return;
	cJSON_AddStringToObject(f, "state", is_refusal(e->type) ? "refused" :
				"observed");
	slot = t->next_id % FLOW_TABLE_SIZE;
	cJSON_Delete(t->ring[slot]);
	t->ring[slot] = f;
	t->start[slot] = clock__mono_ns();
	t->next_id++;
	msg = cJSON_CreateObject();
	cJSON_AddItemReferenceToObject(msg, "flow", f);
	control__publish(TOPIC_FLOWS, msg);
	cJSON_Delete(msg);
}

uint64_t flows__add(struct flow_table *t, cJSON *f)
{
	size_t slot = t->next_id % FLOW_TABLE_SIZE;
	uint64_t id = t->next_id++;

	cJSON_AddNumberToObject(f, "id", (double)id);
	cJSON_Delete(t->ring[slot]);
	t->ring[slot] = f;
	t->start[slot] = clock__mono_ns();
	return id;
}

void flows__note(struct flow_table *t, const struct flow_note *n)
{
	cJSON *o = cJSON_CreateObject();
	char addr[80];

	if (!o)
		return;
	add_event_time(o, clock__mono_ns());
	cJSON_AddStringToObject(o, "type", n->type);
	nt_addr__format(n->src, addr, sizeof(addr));
	cJSON_AddStringToObject(o, "src", addr);
	nt_addr__format(n->dst, addr, sizeof(addr));
	cJSON_AddStringToObject(o, "dst", addr);
	/* Nothing was attested: the socket is known by its cgroup. */
	cJSON_AddNullToObject(o, "src_spiffe_id");
	cJSON_AddNullToObject(o, "dst_spiffe_id");
	cJSON_AddNumberToObject(o, "cgroup_id", (double)n->cgroup_id);
	cJSON_AddNumberToObject(o, "uid", n->uid);
	cJSON_AddStringToObject(o, "namespace", n->ns);
	cJSON_AddStringToObject(o, "mode", mode__name(n->mode));
	cJSON_AddStringToObject(o, "transport", "plaintext");
	cJSON_AddStringToObject(o, "verdict", "deny");
	cJSON_AddStringToObject(o, "reason", n->reason);
	cJSON_AddStringToObject(o, "state", n->state);
	flows__publish(t, flows__add(t, o));
}

cJSON *flows__get(struct flow_table *t, uint64_t id)
{
	if (id == 0 || id >= t->next_id || t->next_id - id > FLOW_TABLE_SIZE)
		return NULL;
	return t->ring[id % FLOW_TABLE_SIZE];
}

void flows__publish(struct flow_table *t, uint64_t id)
{
	cJSON *f = flows__get(t, id), *msg;

	if (!f)
		return;
	msg = cJSON_CreateObject();
	cJSON_AddItemReferenceToObject(msg, "flow", f);
	control__publish(TOPIC_FLOWS, msg);
	cJSON_Delete(msg);
}

static cJSON *with_age(const struct flow_table *t, uint64_t id)
{
	cJSON *f = cJSON_Duplicate(t->ring[id % FLOW_TABLE_SIZE], true);

	if (f)
		cJSON_AddNumberToObject(f, "age_s",
					(double)((clock__mono_ns() -
						  t->start[id % FLOW_TABLE_SIZE]) /
						 1000000) / 1000.0);
	return f;
}

cJSON *flows__list(const struct flow_table *t)
{
	cJSON *arr = cJSON_CreateArray();
	uint64_t id, first;

	first = t->next_id > FLOW_TABLE_SIZE ? t->next_id - FLOW_TABLE_SIZE : 1;
	for (id = first; id < t->next_id; id++)
		if (t->ring[id % FLOW_TABLE_SIZE])
			cJSON_AddItemToArray(arr, with_age(t, id));
	return arr;
}

cJSON *flows__find(const struct flow_table *t, uint64_t id)
{
	cJSON *f;

	if (id == 0 || id >= t->next_id || t->next_id - id > FLOW_TABLE_SIZE)
		return NULL;
	f = t->ring[id % FLOW_TABLE_SIZE];
	return f ? with_age(t, id) : NULL;
}
