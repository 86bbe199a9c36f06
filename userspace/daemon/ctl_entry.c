// SPDX-License-Identifier: Apache-2.0
/* Control commands of `nametag entry`: registration entries, a SPIFFE ID
 * for the workloads that match all of its selectors. */
#include <errno.h>
#include <string.h>

#include "userspace/daemon/daemon.h"

static cJSON *entry_json(const struct attest_entry *e)
{
	cJSON *o = cJSON_CreateObject(), *arr;
	char buf[ATTEST_TYPE_MAX + ATTEST_VALUE_MAX + 2];
	size_t i;

	cJSON_AddStringToObject(o, CTL_K_SPIFFE_ID, e->id.str);
	arr = cJSON_AddArrayToObject(o, CTL_K_SELECTORS);
	for (i = 0; i < e->nselectors; i++) {
		selector__format(&e->selectors[i], buf, sizeof(buf));
		cJSON_AddItemToArray(arr, cJSON_CreateString(buf));
	}
	return o;
}

static int entry_add(struct ctl_request *r, cJSON *resp, struct nt_err *err)
{
	const char *id = ctl__str(r, CTL_K_SPIFFE_ID, err);
	const cJSON *sels = cJSON_GetObjectItemCaseSensitive(r->req, CTL_K_SELECTORS);
	struct daemon *d = r->d;
	const cJSON *s;
	struct attest_entry e = {};
	int ret;

	if (!id)
		return -EINVAL;
	if (spiffe_id__parse(&e.id, id, strlen(id), err))
		return -EINVAL;
	/* The node CA signs for its own trust domain only: such an entry
	 * would leave its workloads without an SVID. */
	if (strcmp(e.id.td, node_ca__trust_domain(d->ca)))
		return nt_err_set(err, -EINVAL,
				  "%s is outside this node's trust domain %s",
				  e.id.str, node_ca__trust_domain(d->ca));
	if (!cJSON_IsArray(sels))
		return nt_err_set(err, -EINVAL, "request needs array \"%s\"",
				  CTL_K_SELECTORS);
	cJSON_ArrayForEach(s, sels) {
		if (e.nselectors == ATTEST_SELECTOR_MAX)
			return nt_err_set(err, -E2BIG, "too many selectors");
		if (!cJSON_IsString(s))
			return nt_err_set(err, -EINVAL, "selectors must be strings");
		ret = selector__parse(&e.selectors[e.nselectors],
				      s->valuestring, err);
		if (ret)
			return ret;
		/* One that can never match would leave its workloads
		 * without this ID, silently: refused now. */
		if (!strcmp(e.selectors[e.nselectors].type, "cgroup") &&
		    !strncmp(e.selectors[e.nselectors].value, "path:", 5) &&
		    cgroup__check_selector(&d->cg, e.selectors[e.nselectors].value + 5, err))
			return -EINVAL;
		e.nselectors++;
	}
	ret = attest_registry__add(d->entries, &e, err);
	if (ret)
		return ret;
	identity__invalidate(d->identity);
	ret = attest_registry__save(d->entries, d->entries_path, err);
	if (ret) {
		attest_registry__del(d->entries, e.id.str, NULL);
		return ret;
	}
	cJSON_AddItemToObject(resp, CTL_R_ENTRY, entry_json(&e));
	return 0;
}

static int entry_del(struct ctl_request *r, cJSON *resp, struct nt_err *err)
{
	const char *id = ctl__str(r, CTL_K_SPIFFE_ID, err);
	struct daemon *d = r->d;
	int ret;

	if (!id)
		return -EINVAL;
	ret = attest_registry__del(d->entries, id, err);
	identity__invalidate(d->identity);
	if (!ret)
		ret = attest_registry__save(d->entries, d->entries_path, err);
	if (!ret)
		cJSON_AddStringToObject(resp, CTL_R_DELETED, id);
	return ret;
}

static int entry_list(struct ctl_request *r, cJSON *resp, struct nt_err *err)
{
	cJSON *arr = cJSON_AddArrayToObject(resp, CTL_R_ENTRIES);
	struct attest_registry *reg = r->d->entries;
	size_t i;

	for (i = 0; i < attest_registry__count(reg); i++)
		cJSON_AddItemToArray(arr, entry_json(attest_registry__at(reg, i)));
	return 0;
}

const struct ctl_cmd ctl_entry_cmds[] = {
	{ CTL_ENTRY_ADD,	entry_add },
	{ CTL_ENTRY_DEL,	entry_del },
	{ CTL_ENTRY_LIST,	entry_list },
	{ NULL, NULL }
};
