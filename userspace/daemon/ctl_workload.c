// SPDX-License-Identifier: Apache-2.0
/* Control commands of `nametag workload`, and the JSON of a workload
 * (struct workload, identity.c) that flows embed as their caller. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "userspace/daemon/daemon.h"

cJSON *ctl_workload__json(const struct workload *w)
{
	cJSON *o = cJSON_CreateObject(), *arr;
	size_t i;

	cJSON_AddNumberToObject(o, CTL_WL_PID, w->pid);
	cJSON_AddNumberToObject(o, CTL_WL_UID, w->uid);
	cJSON_AddNumberToObject(o, CTL_WL_GID, w->gid);
	cJSON_AddStringToObject(o, CTL_WL_COMM, w->comm);
	if (!w->attested)
		return o;
	cJSON_AddStringToObject(o, CTL_WL_EXE, w->exe);
	/* The path as the process's own mount namespace names it; when it
	 * is not the file that ran, say so beside it. */
	if (w->path_skipped)
		cJSON_AddStringToObject(o, CTL_WL_PATH_SKIPPED, w->path_skipped);
	cJSON_AddStringToObject(o, CTL_WL_SHA256, w->sha256);
	if (w->sha256_skipped)
		cJSON_AddStringToObject(o, CTL_WL_SHA256_SKIPPED, w->sha256_skipped);
	cJSON_AddStringToObject(o, CTL_WL_CGROUP, w->cgroup);
	cJSON_AddStringToObject(o, CTL_WL_NAMESPACE, w->ns);
	cJSON_AddStringToObject(o, CTL_WL_MODE, mode__name(w->mode));
	arr = cJSON_AddArrayToObject(o, CTL_WL_SELECTORS);
	for (i = 0; i < w->nselectors; i++)
		cJSON_AddItemToArray(arr, cJSON_CreateString(w->selectors[i]));
	if (w->identity_error)
		cJSON_AddStringToObject(o, CTL_WL_IDENTITY_ERROR, w->identity_error);
	if (w->id) {
		cJSON_AddStringToObject(o, CTL_WL_SPIFFE_ID, w->id->str);
		cJSON_AddStringToObject(o, CTL_WL_IDENTITY_FROM,
					w->from_entry ? "entry" : "template");
	}
	return o;
}

/*
 * A workload as `workload list` shows it: with the SVID it holds. In
 * observe mode identities are issued (docs/architecture.md): asking the
 * cache for it is the listing's own step, minting one the workload does
 * not have yet, never a side effect of attestation.
 */
static cJSON *listed_json(struct daemon *d, const struct workload_entry *e)
{
	cJSON *o = ctl_workload__json(e->w), *s;
	char serial[48], na[TIME_ISO8601_MAX];
	struct nt_err err = {};
	const struct svid *svid;
	time_t not_after = 0;

	if (e->w->id) {
		svid = svid_cache__get(d->svids, e->w->id, &err);
		if (!svid) {
			cJSON_AddStringToObject(o, CTL_WL_SVID_ERROR, err.msg);
		} else {
			x509__serial_hex(svid->leaf, serial, sizeof(serial));
			x509__validity(svid->leaf, NULL, &not_after);
			time__iso8601(not_after, na, sizeof(na));
			s = cJSON_AddObjectToObject(o, CTL_WL_SVID);
			cJSON_AddStringToObject(s, CTL_SVID_SERIAL, serial);
			cJSON_AddStringToObject(s, CTL_SVID_NOT_AFTER, na);
		}
	}
	cJSON_AddStringToObject(o, CTL_WL_EVIDENCE, e->from_exec ? "exec" : "proc");
	return o;
}

static int workload_list(struct ctl_request *r, cJSON *resp, struct nt_err *err)
{
	cJSON *arr = cJSON_AddArrayToObject(resp, CTL_R_WORKLOADS);
	struct workload_entry *v = NULL;
	size_t i, n = 0;
	int ret;

	ret = workloads__list(r->d, &v, &n);
	if (ret)
		return nt_err_set(err, ret, "failed to list workloads: %s",
				  strerror(-ret));
	for (i = 0; i < n; i++)
		cJSON_AddItemToArray(arr, listed_json(r->d, &v[i]));
	workloads__free(v, n);
	return 0;
}

static int workload_show(struct ctl_request *r, cJSON *resp, struct nt_err *err)
{
	struct workload_entry *v = NULL;
	size_t i, n = 0;
	uint64_t pid;
	int ret;

	if (ctl__uint(r, CTL_K_PID, &pid, err))
		return -EINVAL;
	ret = workloads__list(r->d, &v, &n);
	if (ret)
		return nt_err_set(err, ret, "failed to list workloads: %s",
				  strerror(-ret));
	for (i = 0; i < n && v[i].w->pid != pid; i++)
		;
	if (i < n)
		cJSON_AddItemToObject(resp, CTL_R_WORKLOAD, listed_json(r->d, &v[i]));
	workloads__free(v, n);
	if (i == n)
		return nt_err_set(err, -ENOENT,
				  "pid %llu is not a process of an enrolled namespace",
				  (unsigned long long)pid);
	return 0;
}

const struct ctl_cmd ctl_workload_cmds[] = {
	{ CTL_WORKLOAD_LIST,	workload_list },
	{ CTL_WORKLOAD_SHOW,	workload_show },
	{ NULL, NULL }
};
