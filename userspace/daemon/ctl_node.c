// SPDX-License-Identifier: Apache-2.0
/* Control command of `nametag node status`: how this fleet node sees etcd
 * (how stale its view is, which revision it enforces, a value it refused,
 * its node CA and the signer). */
#include <errno.h>
#include <time.h>

#include "userspace/daemon/fleet_int.h"

static void add_time(cJSON *o, const char *key, time_t t)
{
	char buf[TIME_ISO8601_MAX];

	if (!t) {
		cJSON_AddNullToObject(o, key);
		return;
	}
	time__iso8601(t, buf, sizeof(buf));
	cJSON_AddStringToObject(o, key, buf);
}

/* The federated bundles in force, how old, stale or not. */
static cJSON *federation(const struct fleet *f, time_t now)
{
	const struct fleet_fed_bundle *fb;
	cJSON *arr = cJSON_CreateArray(), *o;
	size_t i;

	for (i = 0; arr && i < f->nfed; i++) {
		fb = &f->fed[i];
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, CTL_FED_TD, fb->b->td);
		cJSON_AddStringToObject(o, CTL_FED_URL, fb->url);
		json__add_u64(o, CTL_FED_FETCHED_AT, (uint64_t)fb->fetched_at);
		cJSON_AddNumberToObject(o, CTL_FED_AGE, (double)(now - fb->fetched_at));
		json__add_u64(o, CTL_FED_REFRESH, (uint64_t)fb->refresh_hint);
		cJSON_AddBoolToObject(o, CTL_FED_STALE, fleet_fed__stale(fb, now));
		cJSON_AddNumberToObject(o, CTL_FED_X509,
					sk_X509_num(fb->b->x509_authorities));
		cJSON_AddNumberToObject(o, CTL_FED_JWT, (double)fb->b->jwt_count);
		json__add_u64(o, CTL_FED_SEQUENCE, fb->b->sequence);
		cJSON_AddItemToArray(arr, o);
	}
	return arr;
}

static int node_status(struct ctl_request *r, cJSON *resp, struct nt_err *err)
{
	struct fleet *f = r->d->fleet;
	struct ca_issued cur = {};
	time_t now = time(NULL);
	cJSON *o;

	if (!f)
		return nt_err_set(err, -ENOTCONN,
				  "not a fleet node (nametagd runs without --etcd)");
	o = cJSON_AddObjectToObject(resp, CTL_R_FLEET);
	cJSON_AddStringToObject(o, CTL_FL_NODE, f->node);
	cJSON_AddStringToObject(o, CTL_FL_ETCD, r->d->opts.fleet.etcd);
	cJSON_AddBoolToObject(o, CTL_FL_IN_SYNC, f->in_sync);
	json__add_u64(o, CTL_FL_STALE,
		      f->stale_since ? (uint64_t)(now - f->stale_since) : 0);
	if (!f->in_sync && f->sync_error[0])
		cJSON_AddStringToObject(o, CTL_FL_SYNC_ERROR, f->sync_error);
	json__add_u64(o, CTL_FL_REVISION, (uint64_t)f->applied_revision);
	add_time(o, CTL_FL_APPLIED_AT, f->applied_at);
	json__add_u64(o, CTL_FL_RELISTS,
		      f->config ? etcd_mirror__relists(f->config) : 0);
	if (f->bad_key[0]) {
		cJSON_AddStringToObject(o, CTL_FL_BAD_KEY, f->bad_key);
		cJSON_AddStringToObject(o, CTL_FL_BAD_ERROR, f->bad_error);
	}
	json__add_u64(o, CTL_FL_JWT_NODES, f->jwt_nodes);
	if (f->jwt_bad_key[0]) {
		cJSON_AddStringToObject(o, CTL_FL_JWT_BAD_KEY, f->jwt_bad_key);
		cJSON_AddStringToObject(o, CTL_FL_JWT_BAD_ERROR, f->jwt_bad_error);
	}
	json__add_u64(o, CTL_FL_LEASE,
		      f->lease ? (uint64_t)etcd_lease__id(f->lease) : 0);
	if (!node_ca__current(r->d->ca, &cur)) {
		cJSON_AddStringToObject(o, CTL_FL_CA_SERIAL, cur.serial);
		add_time(o, CTL_FL_CA_NOT_AFTER, cur.not_after);
		add_time(o, CTL_FL_CA_RENEW_AT, node_ca__renew_at(r->d->ca));
	}
	cJSON_AddStringToObject(o, CTL_FL_SIGNER, f->ca_error[0] ? f->ca_error :
				f->ca_asked ? "asked" : "ok");
	cJSON_AddItemToObject(o, CTL_FL_FEDERATION, federation(f, now));
	if (f->ca_pending_since)
		json__add_u64(o, CTL_FL_CA_PENDING,
			      (uint64_t)(now - f->ca_pending_since));
	return 0;
}

const struct ctl_cmd ctl_node_cmds[] = {
	{ CTL_NODE_STATUS,	node_status },
	{ NULL, NULL }
};
