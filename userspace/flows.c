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

#include "userspace/daemon.h"
#include "userspace/log.h"
#include "userspace/proxy.h"

struct flow_table {
	cJSON *ring[FLOW_TABLE_SIZE];
	uint64_t start[FLOW_TABLE_SIZE];	/* monotonic ns, for "age_s" */
	uint64_t next_id;		/* id of the next flow, from 1 */
};

static uint64_t now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

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

static void fmt_addr(const struct nt_addr *a, char *buf, size_t size)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	bool v4 = a->addr[0] == 0 && a->addr[1] == 0 &&
		  a->addr[2] == htonl(0xffff);

	if (v4) {
		inet_ntop(AF_INET, &a->addr[3], ip, sizeof(ip));
		snprintf(buf, size, "%s:%u", ip, a->port);
	} else {
		inet_ntop(AF_INET6, a->addr, ip, sizeof(ip));
		snprintf(buf, size, "[%s]:%u", ip, a->port);
	}
}

/* Event times are CLOCK_MONOTONIC (bpf_ktime_get_ns). */
static void add_event_time(cJSON *o, uint64_t ktime)
{
	struct timespec mono, real;
	char buf[40];
	struct tm tm;
	time_t t;
	int64_t ns;

	clock_gettime(CLOCK_MONOTONIC, &mono);
	clock_gettime(CLOCK_REALTIME, &real);
	ns = (int64_t)real.tv_sec * 1000000000LL + real.tv_nsec -
	     ((int64_t)mono.tv_sec * 1000000000LL + mono.tv_nsec - (int64_t)ktime);
	t = ns / 1000000000LL;
	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), ".%03dZ",
		 (int)(ns % 1000000000LL / 1000000));
	cJSON_AddStringToObject(o, "time", buf);
}

/*
 * The verdict the namespace's strict policy would give. With no allow
 * rule loaded, strict mode is default deny; the policy engine decides here
 * once rules exist.
 */
static void add_verdict(cJSON *o, const struct nt_event *e)
{
	if (e->type == NT_EV_REFUSED) {
		cJSON_AddStringToObject(o, "verdict", "deny");
		cJSON_AddStringToObject(o, "reason",
					"strict mode and no node proxy in this network namespace: refused, never plaintext");
		return;
	}
	cJSON_AddStringToObject(o, "verdict", e->ev.mode == NT_MODE_STRICT ?
				"deny" : "would-deny");
	cJSON_AddStringToObject(o, "reason", "default deny: no allow rule");
}

static cJSON *flow_json(struct flow_table *t, const struct nt_event *e)
{
	cJSON *o = cJSON_CreateObject(), *caller;
	struct nt_err err = {};
	struct spiffe_id id;
	char addr[80];

	cJSON_AddNumberToObject(o, "id", (double)t->next_id);
	add_event_time(o, e->ktime);
	cJSON_AddStringToObject(o, "type", e->type == NT_EV_REFUSED ?
				"refused" : "connect");
	fmt_addr(&e->src, addr, sizeof(addr));
	cJSON_AddStringToObject(o, "src", e->type == NT_EV_REFUSED ? "" : addr);
	fmt_addr(&e->dst, addr, sizeof(addr));
	cJSON_AddStringToObject(o, "dst", addr);
	cJSON_AddBoolToObject(o, "redirected", !!(e->flags & NT_SOCK_REDIRECTED));
	caller = cJSON_AddObjectToObject(o, "caller");
	if (workload__resolve(&e->ev, caller, &id, &err)) {
		cJSON_AddNullToObject(o, "src_spiffe_id");
		cJSON_AddStringToObject(o, "identity_error", err.msg);
	} else {
		cJSON_AddStringToObject(o, "src_spiffe_id", id.str);
	}
	/* Observe mode sees no peer certificate: the destination is known by
	 * address only until mTLS carries the flow. */
	cJSON_AddNullToObject(o, "dst_spiffe_id");
	cJSON_AddStringToObject(o, "namespace",
				cJSON_GetStringValue(cJSON_GetObjectItem(caller, "namespace")) ?: "");
	cJSON_AddStringToObject(o, "mode", mode__name(e->ev.mode));
	add_verdict(o, e);
	return o;
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

	if (e->type != NT_EV_CONNECT && e->type != NT_EV_REFUSED)
		return;
	/* A redirected connection is the proxy's: it writes the record. */
	if (e->flags & NT_SOCK_REDIRECTED)
		return;
	f = flow_json(t, e);
	if (!f)
		return;
	cJSON_AddStringToObject(f, "state", "observed");
	slot = t->next_id % FLOW_TABLE_SIZE;
	cJSON_Delete(t->ring[slot]);
	t->ring[slot] = f;
	t->start[slot] = now_mono();
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
	t->start[slot] = now_mono();
	return id;
}

void flows__note(struct flow_table *t, const struct flow_note *n)
{
	cJSON *o = cJSON_CreateObject();
	char addr[80];

	if (!o)
		return;
	add_event_time(o, now_mono());
	cJSON_AddStringToObject(o, "type", n->type);
	fmt_addr(n->src, addr, sizeof(addr));
	cJSON_AddStringToObject(o, "src", addr);
	fmt_addr(n->dst, addr, sizeof(addr));
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
					(double)((now_mono() -
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
