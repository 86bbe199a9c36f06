// SPDX-License-Identifier: Apache-2.0
/*
 * The operator's part of the status reply (`nametag status`): how long
 * the daemon has run, its CA's expiry, the namespaces and their modes,
 * kTLS, where the metrics and the audit log are, the flow table, the
 * Workload API's counters. The
 * proxy's part (connections, admission, the datapath) is ctl_proxy.c's;
 * the schema of the whole is docs/json.md's.
 */
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "userspace/daemon/daemon.h"

time_t daemon__ca_not_after(const struct daemon *d)
{
	const struct ca_entry *e;
	time_t not_after = 0;
	size_t i;

	for (i = 0; i < node_ca__count(d->ca); i++) {
		e = node_ca__at(d->ca, i);
		if (e->slot == CA_SLOT_CURRENT)
			x509__validity(e->cert, NULL, &not_after);
	}
	return not_after;
}

static void add_time(cJSON *o, const char *key, time_t t)
{
	char buf[TIME_ISO8601_MAX];

	time__iso8601(t, buf, sizeof(buf));
	cJSON_AddStringToObject(o, key, buf);
}

static cJSON *ca_json(const struct daemon *d)
{
	time_t na = daemon__ca_not_after(d);
	cJSON *o = cJSON_CreateObject();

	add_time(o, CTL_ST_NOT_AFTER, na);
	cJSON_AddNumberToObject(o, CTL_ST_EXPIRES_IN, (double)(na - time(NULL)));
	cJSON_AddBoolToObject(o, CTL_ST_UPSTREAM, node_ca__is_upstream(d->ca));
	json__add_u64(o, CTL_ST_BUNDLE_SEQUENCE, node_ca__bundle(d->ca)->sequence);
	return o;
}

static cJSON *namespaces_json(struct daemon *d)
{
	cJSON *arr = cJSON_CreateArray(), *o;
	const struct ns *n;
	size_t i;

	for (i = 0; i < ns_table__count(d->ns); i++) {
		n = ns_table__at(d->ns, i);
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, CTL_NS_NAME, n->name);
		cJSON_AddStringToObject(o, CTL_NS_MODE, mode__name(n->mode));
		cJSON_AddItemToArray(arr, o);
	}
	return arr;
}

/* `nametag status`'s workload_api: null when not served. */
static cJSON *wlapi_json(const struct daemon *d)
{
	struct wlapi_stats st;
	cJSON *o;

	if (!d->wlapi)
		return cJSON_CreateNull();
	wlapi__stats(d->wlapi, &st);
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, CTL_WA_SOCKET, d->opts.workload_api);
	cJSON_AddStringToObject(o, CTL_WA_EVIDENCE,
				datapath__has_unix_hook(d->dp) ?
				"connect_hook" : "peercred");
	json__add_u64(o, CTL_WA_CONNECTIONS, st.conns);
	json__add_u64(o, CTL_WA_STREAMS, st.streams);
	json__add_u64(o, CTL_WA_MEMORY, st.mem);
	json__add_u64(o, CTL_WA_ACCEPTED, st.accepted);
	json__add_u64(o, CTL_WA_REFUSED_LIMIT, st.refused_total - st.refused_uid);
	json__add_u64(o, CTL_WA_REFUSED_UID, st.refused_uid);
	json__add_u64(o, CTL_WA_TIMEOUTS, st.timeouts);
	json__add_u64(o, CTL_WA_OVER_BUDGET, st.over_budget);
	json__add_u64(o, CTL_WA_CALLS, st.calls);
	json__add_u64(o, CTL_WA_PUSHES, st.pushes);
	json__add_u64(o, CTL_WA_ERRORS, st.errors);
	json__add_u64(o, CTL_WA_NO_RECORD, d->wlapi_no_record);
	json__add_u64(o, CTL_WA_JWT_SCOPE, st.jwt_out_of_scope);
	return o;
}

static void add_or_null(cJSON *o, const char *key, const char *s)
{
	if (s)
		cJSON_AddStringToObject(o, key, s);
	else
		cJSON_AddNullToObject(o, key);
}

void ctl_status__add(struct daemon *d, cJSON *resp)
{
	uint64_t up = (clock__mono_ns() - d->start_mono_ns) / 1000000000ull;
	cJSON *k;

	cJSON_AddNumberToObject(resp, CTL_ST_PID, (double)getpid());
	add_time(resp, CTL_ST_STARTED, (time_t)(d->start_real_ns / 1000000000ull));
	json__add_u64(resp, CTL_ST_UPTIME, up);
	cJSON_AddItemToObject(resp, CTL_ST_CA, ca_json(d));
	cJSON_AddItemToObject(resp, CTL_R_NAMESPACES, namespaces_json(d));
	k = cJSON_AddObjectToObject(resp, CTL_ST_KTLS);
	cJSON_AddBoolToObject(k, CTL_ST_AVAILABLE, ktls__available());
	cJSON_AddBoolToObject(k, CTL_ST_ENABLED,
			      ktls__available() && !d->opts.no_ktls);
	add_or_null(resp, CTL_ST_METRICS, metrics_http__addr(d));
	add_or_null(resp, CTL_ST_AUDIT_LOG, audit__path(d));
	json__add_u64(resp, CTL_ST_FLOW_TABLE_SIZE, flows__size(d->flows));
	json__add_u64(resp, CTL_ST_FLOWS, flows__held(d->flows));
	cJSON_AddItemToObject(resp, CTL_ST_WORKLOAD_API, wlapi_json(d));
}
