// SPDX-License-Identifier: Apache-2.0
/* Control commands of `nametag ns`: namespaces and their rollout mode. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "userspace/daemon/daemon.h"

static cJSON *ns_json(const struct ns *n)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, CTL_NS_NAME, n->name);
	cJSON_AddStringToObject(o, CTL_NS_CGROUP, n->cgroup);
	json__add_u64(o, CTL_NS_CGROUP_ID, n->cgroup_id);
	cJSON_AddStringToObject(o, CTL_NS_MODE, mode__name(n->mode));
	cJSON_AddNumberToObject(o, CTL_NS_ID, n->id);
	cJSON_AddStringToObject(o, CTL_NS_TEMPLATE, n->template[0] ? n->template :
				"ns/{ns}/sa/{service}");
	return o;
}

/* The request's template into @n ("" when absent: the default). One
 * given must be a string no workload would fail on for its own sake. */
static int req_template(const struct ctl_request *r, struct ns *n,
			struct nt_err *err)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(r->req, CTL_K_TEMPLATE);

	if (!t)
		return 0;
	if (!cJSON_IsString(t))
		return nt_err_set(err, -EINVAL, "\"template\" must be a string");
	if (strlen(t->valuestring) >= sizeof(n->template))
		return nt_err_set(err, -EINVAL, "template too long (at most %zu bytes)",
				  sizeof(n->template) - 1);
	if (attest__template_check(t->valuestring, err))
		return -EINVAL;
	snprintf(n->template, sizeof(n->template), "%s", t->valuestring);
	return 0;
}

static int ns_add(struct ctl_request *r, cJSON *resp, struct nt_err *err)
{
	const char *name = ctl__str(r, CTL_K_NAME, err), *cg;
	struct ns n = { .mode = NT_MODE_OFF };
	int ret;

	/* What is wrong with the request itself first, the cgroup last. */
	cg = name ? ctl__str(r, CTL_K_CGROUP, err) : NULL;
	if (!cg || ns__check_name(name, err) || req_template(r, &n, err))
		return -EINVAL;
	snprintf(n.name, sizeof(n.name), "%s", name);
	ret = cgroup__resolve(&r->d->cg, cg, n.cgroup, sizeof(n.cgroup), err);
	if (ret)
		return ret;
	ret = cgroup__id(n.cgroup, &n.cgroup_id);
	if (ret)
		return nt_err_set(err, ret, "cgroup %s: %s", n.cgroup,
				  strerror(-ret));
	ret = ns_table__add(r->d->ns, &n, err);
	if (ret)
		return ret;	/* not added: a namesake must stay */
	ret = ns_table__save(r->d->ns, err);
	if (ret) {
		ns_table__del(r->d->ns, n.name);
		return ret;
	}
	cJSON_AddItemToObject(resp, CTL_R_NAMESPACE,
			      ns_json(ns_table__find(r->d->ns, n.name)));
	daemon__sync_listeners(r->d);
	return 0;
}

static struct ns *find_ns(struct ctl_request *r, struct nt_err *err)
{
	const char *name = ctl__str(r, CTL_K_NAME, err);
	struct ns *n;

	if (!name)
		return NULL;
	n = ns_table__find(r->d->ns, name);
	if (!n)
		nt_err_set(err, -ENOENT, "no namespace '%s'", name);
	return n;
}

static int set_mode(const struct ctl_request *r, struct ns *n,
		    enum nt_mode mode, cJSON *resp, struct nt_err *err)
{
	struct daemon *d = r->d;
	enum nt_mode old = n->mode;
	int ret;

	/* Again at every enable: the daemon may have moved into it. */
	if (mode != NT_MODE_OFF) {
		ret = cgroup__may_enroll(&d->cg, n->cgroup, err);
		if (ret)
			return ret;
	}
	n->mode = mode;
	ret = ns_table__save(d->ns, err);
	if (!ret) {
		ret = ns__apply(d, n);
		if (ret)
			nt_err_set(err, ret, "failed to update the kernel: %s",
				   strerror(-ret));
	}
	if (ret) {
		n->mode = old;
		ns_table__save(d->ns, NULL);
		ns__apply(d, n);
		return ret;
	}
	pr_info("namespace %s: %s -> %s", n->name, mode__name(old),
		mode__name(mode));
	audit__mode(d, r, n, old);
	netns__sync(d);
	daemon__sync_listeners(d);
	/* New connections are decided by the kernel from now on; the ones
	 * made before are the sweep's. */
	if (mode == NT_MODE_STRICT)
		strict__sweep(d, n);
	cJSON_AddItemToObject(resp, CTL_R_NAMESPACE, ns_json(n));
	ctl_lint__strict(d, n, resp);
	return 0;
}

static int ns_enable(struct ctl_request *r, cJSON *resp, struct nt_err *err)
{
	struct ns *n = find_ns(r, err);
	const char *mode;
	enum nt_mode m;

	mode = n ? ctl__str(r, CTL_K_MODE, err) : NULL;
	if (!mode)
		return -EINVAL;
	if (mode__parse(mode, &m) || m == NT_MODE_OFF)
		return nt_err_set(err, -EINVAL,
				  "mode '%s': expected observe, permissive or strict",
				  mode);
	return set_mode(r, n, m, resp, err);
}

static int ns_disable(struct ctl_request *r, cJSON *resp, struct nt_err *err)
{
	struct ns *n = find_ns(r, err);

	return n ? set_mode(r, n, NT_MODE_OFF, resp, err) : -ENOENT;
}

static int ns_del(struct ctl_request *r, cJSON *resp, struct nt_err *err)
{
	struct ns *n = find_ns(r, err);
	char name[NT_NS_NAME_MAX];
	int ret;

	if (!n)
		return -ENOENT;
	ret = datapath__del_ns(r->d->dp, n->cgroup_id);
	if (ret)
		return nt_err_set(err, ret, "failed to update the kernel: %s",
				  strerror(-ret));
	snprintf(name, sizeof(name), "%s", n->name);
	ns_table__del(r->d->ns, name);
	identity__invalidate(r->d->identity);
	daemon__sync_listeners(r->d);
	cJSON_AddStringToObject(resp, CTL_R_DELETED, name);
	return ns_table__save(r->d->ns, err);
}

static int ns_list(struct ctl_request *r, cJSON *resp, struct nt_err *err)
{
	cJSON *arr = cJSON_AddArrayToObject(resp, CTL_R_NAMESPACES);
	size_t i;

	for (i = 0; i < ns_table__count(r->d->ns); i++)
		cJSON_AddItemToArray(arr, ns_json(ns_table__at(r->d->ns, i)));
	return 0;
}

static int ns_show(struct ctl_request *r, cJSON *resp, struct nt_err *err)
{
	struct ns *n = find_ns(r, err);

	if (!n)
		return -ENOENT;
	cJSON_AddItemToObject(resp, CTL_R_NAMESPACE, ns_json(n));
	return 0;
}

const struct ctl_cmd ctl_ns_cmds[] = {
	{ CTL_NS_ADD,		ns_add },
	{ CTL_NS_ENABLE,	ns_enable },
	{ CTL_NS_DISABLE,	ns_disable },
	{ CTL_NS_DEL,		ns_del },
	{ CTL_NS_LIST,		ns_list },
	{ CTL_NS_SHOW,		ns_show },
	{ NULL, NULL }
};
