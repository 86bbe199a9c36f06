// SPDX-License-Identifier: Apache-2.0
/* Control command of `nametag node status`: how this fleet node sees etcd
 * (how stale its view is, which revision it enforces, a value it refused,
 * its node CA and the signer). */
#include <errno.h>
#include <time.h>

#include "userspace/daemon/fleet_int.h"

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
	cJSON_AddStringToObject(o, "node", f->node);
	cJSON_AddStringToObject(o, "etcd", r->d->opts.fleet.etcd);
	cJSON_AddBoolToObject(o, "in_sync", f->in_sync);
	json__add_u64(o, "stale_seconds",
		      f->stale_since ? (uint64_t)(now - f->stale_since) : 0);
	if (!f->in_sync && f->sync_error[0])
		cJSON_AddStringToObject(o, "sync_error", f->sync_error);
	json__add_u64(o, "revision", (uint64_t)f->applied_revision);
	json__add_u64(o, "applied_at", (uint64_t)f->applied_at);
	json__add_u64(o, "relists", f->config ? etcd_mirror__relists(f->config) : 0);
	if (f->bad_key[0]) {
		cJSON_AddStringToObject(o, "bad_key", f->bad_key);
		cJSON_AddStringToObject(o, "bad_error", f->bad_error);
	}
	json__add_u64(o, "lease", f->lease ? (uint64_t)etcd_lease__id(f->lease) : 0);
	if (!node_ca__current(r->d->ca, &cur)) {
		cJSON_AddStringToObject(o, "ca_serial", cur.serial);
		json__add_u64(o, "ca_not_after", (uint64_t)cur.not_after);
		json__add_u64(o, "ca_renew_at", (uint64_t)node_ca__renew_at(r->d->ca));
	}
	cJSON_AddStringToObject(o, "signer", f->ca_error[0] ? f->ca_error :
				f->ca_asked ? "asked" : "ok");
	return 0;
}

const struct ctl_cmd ctl_node_cmds[] = {
	{ CTL_NODE_STATUS,	node_status },
	{ NULL, NULL }
};
