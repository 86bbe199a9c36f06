// SPDX-License-Identifier: Apache-2.0
/* Control socket commands: workloads, flows, SVIDs. */
#include <errno.h>
#include <stdint.h>

#include "userspace/daemon/daemon.h"

int ctl_workload_list(struct ctl_request *r, cJSON *resp, struct nt_err *err);
int ctl_workload_show(struct ctl_request *r, cJSON *resp, struct nt_err *err);
int ctl_flow_list(struct ctl_request *r, cJSON *resp, struct nt_err *err);
int ctl_flow_show(struct ctl_request *r, cJSON *resp, struct nt_err *err);
int ctl_flow_watch(struct ctl_request *r, cJSON *resp, struct nt_err *err);
int ctl_svid_list(struct ctl_request *r, cJSON *resp, struct nt_err *err);

static int req_uint(const struct ctl_request *r, const char *key,
		    uint64_t *v, struct nt_err *err)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(r->req, key);

	if (!cJSON_IsNumber(it) || it->valuedouble < 0 ||
	    it->valuedouble != (double)(uint64_t)it->valuedouble)
		return nt_err_set(err, -EINVAL, "request needs a whole number \"%s\"",
				  key);
	*v = (uint64_t)it->valuedouble;
	return 0;
}

int ctl_workload_list(struct ctl_request *r, cJSON *resp, struct nt_err *err)
{
	cJSON_AddItemToObject(resp, "workloads", workload__list());
	return 0;
}

int ctl_workload_show(struct ctl_request *r, cJSON *resp, struct nt_err *err)
{
	uint64_t pid;

	if (req_uint(r, "pid", &pid, err))
		return -EINVAL;
	return workload__show((uint32_t)pid, resp, err);
}

int ctl_flow_list(struct ctl_request *r, cJSON *resp, struct nt_err *err)
{
	cJSON_AddItemToObject(resp, "flows", flows__list(nd->flows));
	return 0;
}

int ctl_flow_show(struct ctl_request *r, cJSON *resp, struct nt_err *err)
{
	cJSON *f;
	uint64_t id;

	if (req_uint(r, "id", &id, err))
		return -EINVAL;
	f = flows__find(nd->flows, id);
	if (!f)
		return nt_err_set(err, -ENOENT, "no flow %llu (the table keeps the latest %d)",
				  (unsigned long long)id, FLOW_TABLE_SIZE);
	cJSON_AddItemToObject(resp, "flow", f);
	return 0;
}

/* The reply confirms the subscription; flows follow as {"flow": ...}
 * lines until the client goes away. */
int ctl_flow_watch(struct ctl_request *r, cJSON *resp, struct nt_err *err)
{
	control__subscribe(r->client, TOPIC_FLOWS);
	cJSON_AddBoolToObject(resp, "watching", true);
	return 0;
}

int ctl_svid_list(struct ctl_request *r, cJSON *resp, struct nt_err *err)
{
	cJSON_AddItemToObject(resp, "svids", svid_cache__json(nd->svids));
	return 0;
}
