// SPDX-License-Identifier: Apache-2.0
/* Control socket commands: namespaces, entries, proxies, status. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "userspace/daemon/daemon.h"
#include "lib/ntcore.h"
#include "userspace/proxy/proxy.h"
#include "userspace/datapath/sockdiag.h"

/* Flows, workloads and SVIDs have their handlers in ctl_flows.c. */
int ctl_workload_list(struct ctl_request *r, cJSON *resp, struct nt_err *err);
int ctl_workload_show(struct ctl_request *r, cJSON *resp, struct nt_err *err);
int ctl_flow_list(struct ctl_request *r, cJSON *resp, struct nt_err *err);
int ctl_flow_show(struct ctl_request *r, cJSON *resp, struct nt_err *err);
int ctl_flow_watch(struct ctl_request *r, cJSON *resp, struct nt_err *err);
int ctl_svid_list(struct ctl_request *r, cJSON *resp, struct nt_err *err);
int ctl_policy_load(struct ctl_request *r, cJSON *resp, struct nt_err *err);
int ctl_policy_show(struct ctl_request *r, cJSON *resp, struct nt_err *err);
int ctl_policy_check(struct ctl_request *r, cJSON *resp, struct nt_err *err);

static const char *req_str(const struct ctl_request *r, const char *key,
			   struct nt_err *err)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(r->req, key);

	if (cJSON_IsString(it))
		return it->valuestring;
	nt_err_set(err, -EINVAL, "request needs string \"%s\"", key);
	return NULL;
}

/* After an enrollment or netns change: listeners that were already
 * listening become known (or stop being). Never fails the request. */
static void sync_listeners(void)
{
	struct nt_err err = {};

	if (listeners__sync(&err))
		pr_warn("listener sync: %s", err.msg);
}

int daemon__apply_ns(const struct ns *n)
{
	struct nt_ns_value v = { .mode = n->mode, .ns_id = n->id };

	workload__invalidate();
	/* A namespace's egress entries are keyed by its id. */
	policy_ctl__apply_egress();
	if (n->mode == NT_MODE_OFF)
		return datapath__del_ns(nd->dp, n->cgroup_id);
	return datapath__set_ns(nd->dp, n->cgroup_id, &v);
}

static cJSON *ns_json(const struct ns *n)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "name", n->name);
	cJSON_AddStringToObject(o, "cgroup", n->cgroup);
	cJSON_AddNumberToObject(o, "cgroup_id", (double)n->cgroup_id);
	cJSON_AddStringToObject(o, "mode", mode__name(n->mode));
	cJSON_AddNumberToObject(o, "id", n->id);
	cJSON_AddStringToObject(o, "template", n->template[0] ? n->template :
				"ns/{ns}/sa/{service}");
	return o;
}

/* The request's template into @n ("" when absent: the default). One
 * given must be a string no workload would fail on for its own sake. */
static int req_template(const struct ctl_request *r, struct ns *n,
			struct nt_err *err)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(r->req, "template");

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
	const char *name = req_str(r, "name", err), *cg;
	struct ns n = { .mode = NT_MODE_OFF };
	int ret;

	/* What is wrong with the request itself first, the cgroup last. */
	cg = name ? req_str(r, "cgroup", err) : NULL;
	if (!cg || ns__check_name(name, err) || req_template(r, &n, err))
		return -EINVAL;
	snprintf(n.name, sizeof(n.name), "%s", name);
	ret = cgroup__resolve(&nd->cg, cg, n.cgroup, sizeof(n.cgroup), err);
	if (ret)
		return ret;
	ret = cgroup__id(n.cgroup, &n.cgroup_id);
	if (ret)
		return nt_err_set(err, ret, "cgroup %s: %s", n.cgroup,
				  strerror(-ret));
	ret = ns_table__add(nd->ns, &n, err);
	if (ret)
		return ret;	/* not added: a namesake must stay */
	ret = ns_table__save(nd->ns, err);
	if (ret) {
		ns_table__del(nd->ns, n.name);
		return ret;
	}
	cJSON_AddItemToObject(resp, "namespace",
			      ns_json(ns_table__find(nd->ns, n.name)));
	sync_listeners();
	return 0;
}

static struct ns *find_ns(struct ctl_request *r, struct nt_err *err)
{
	const char *name = req_str(r, "name", err);
	struct ns *n;

	if (!name)
		return NULL;
	n = ns_table__find(nd->ns, name);
	if (!n)
		nt_err_set(err, -ENOENT, "no namespace '%s'", name);
	return n;
}

static int set_mode(struct ns *n, enum nt_mode mode, cJSON *resp,
		    struct nt_err *err)
{
	enum nt_mode old = n->mode;
	int ret;

	/* Again at every enable: the daemon may have moved into it. */
	if (mode != NT_MODE_OFF) {
		ret = cgroup__may_enroll(&nd->cg, n->cgroup, err);
		if (ret)
			return ret;
	}
	n->mode = mode;
	ret = ns_table__save(nd->ns, err);
	if (!ret) {
		ret = daemon__apply_ns(n);
		if (ret)
			nt_err_set(err, ret, "failed to update the kernel: %s",
				   strerror(-ret));
	}
	if (ret) {
		n->mode = old;
		ns_table__save(nd->ns, NULL);
		daemon__apply_ns(n);
		return ret;
	}
	pr_info("namespace %s: %s -> %s", n->name, mode__name(old),
		mode__name(mode));
	proxy__sync_netns();
	sync_listeners();
	/* New connections are decided by the kernel from now on; the ones
	 * made before are the sweep's. */
	if (mode == NT_MODE_STRICT)
		strict__sweep(n);
	cJSON_AddItemToObject(resp, "namespace", ns_json(n));
	return 0;
}

static int ns_enable(struct ctl_request *r, cJSON *resp, struct nt_err *err)
{
	struct ns *n = find_ns(r, err);
	const char *mode;
	enum nt_mode m;

	mode = n ? req_str(r, "mode", err) : NULL;
	if (!mode)
		return -EINVAL;
	if (mode__parse(mode, &m) || m == NT_MODE_OFF)
		return nt_err_set(err, -EINVAL,
				  "mode '%s': expected observe, permissive or strict",
				  mode);
	return set_mode(n, m, resp, err);
}

static int ns_disable(struct ctl_request *r, cJSON *resp, struct nt_err *err)
{
	struct ns *n = find_ns(r, err);

	return n ? set_mode(n, NT_MODE_OFF, resp, err) : -ENOENT;
}

static int ns_del(struct ctl_request *r, cJSON *resp, struct nt_err *err)
{
	struct ns *n = find_ns(r, err);
	char name[NS_NAME_MAX];
	int ret;

	if (!n)
		return -ENOENT;
	ret = datapath__del_ns(nd->dp, n->cgroup_id);
	if (ret)
		return nt_err_set(err, ret, "failed to update the kernel: %s",
				  strerror(-ret));
	snprintf(name, sizeof(name), "%s", n->name);
	ns_table__del(nd->ns, name);
	workload__invalidate();
	sync_listeners();
	cJSON_AddStringToObject(resp, "deleted", name);
	return ns_table__save(nd->ns, err);
}

static int ns_list(struct ctl_request *r, cJSON *resp, struct nt_err *err)
{
	cJSON *arr = cJSON_AddArrayToObject(resp, "namespaces");
	size_t i;

	for (i = 0; i < ns_table__count(nd->ns); i++)
		cJSON_AddItemToArray(arr, ns_json(ns_table__at(nd->ns, i)));
	return 0;
}

static int ns_show(struct ctl_request *r, cJSON *resp, struct nt_err *err)
{
	struct ns *n = find_ns(r, err);

	if (!n)
		return -ENOENT;
	cJSON_AddItemToObject(resp, "namespace", ns_json(n));
	return 0;
}

static cJSON *entry_json(const struct attest_entry *e)
{
	cJSON *o = cJSON_CreateObject(), *arr;
	char buf[ATTEST_TYPE_MAX + ATTEST_VALUE_MAX + 2];
	size_t i;

	cJSON_AddStringToObject(o, "spiffe_id", e->id.str);
	arr = cJSON_AddArrayToObject(o, "selectors");
	for (i = 0; i < e->nselectors; i++) {
		selector__format(&e->selectors[i], buf, sizeof(buf));
		cJSON_AddItemToArray(arr, cJSON_CreateString(buf));
	}
	return o;
}

static int entry_add(struct ctl_request *r, cJSON *resp, struct nt_err *err)
{
	const char *id = req_str(r, "spiffe_id", err);
	const cJSON *sels = cJSON_GetObjectItemCaseSensitive(r->req, "selectors");
	const cJSON *s;
	struct attest_entry e = {};
	int ret;

	if (!id)
		return -EINVAL;
	if (spiffe_id__parse(&e.id, id, strlen(id), err))
		return -EINVAL;
	/* The node CA signs for its own trust domain only: such an entry
	 * would leave its workloads without an SVID. */
	if (strcmp(e.id.td, node_ca__trust_domain(nd->ca)))
		return nt_err_set(err, -EINVAL,
				  "%s is outside this node's trust domain %s",
				  e.id.str, node_ca__trust_domain(nd->ca));
	if (!cJSON_IsArray(sels))
		return nt_err_set(err, -EINVAL, "request needs array \"selectors\"");
	cJSON_ArrayForEach(s, sels) {
		if (e.nselectors == ATTEST_SELECTOR_MAX)
			return nt_err_set(err, -E2BIG, "too many selectors");
		if (!cJSON_IsString(s))
			return nt_err_set(err, -EINVAL, "selectors must be strings");
		ret = selector__parse(&e.selectors[e.nselectors++],
				      s->valuestring, err);
		if (ret)
			return ret;
	}
	ret = attest_registry__add(nd->entries, &e, err);
	if (ret)
		return ret;
	workload__invalidate();
	ret = attest_registry__save(nd->entries, nd->entries_path, err);
	if (ret) {
		attest_registry__del(nd->entries, e.id.str, NULL);
		return ret;
	}
	cJSON_AddItemToObject(resp, "entry", entry_json(&e));
	return 0;
}

static int entry_del(struct ctl_request *r, cJSON *resp, struct nt_err *err)
{
	const char *id = req_str(r, "spiffe_id", err);
	int ret;

	if (!id)
		return -EINVAL;
	ret = attest_registry__del(nd->entries, id, err);
	workload__invalidate();
	if (!ret)
		ret = attest_registry__save(nd->entries, nd->entries_path, err);
	if (!ret)
		cJSON_AddStringToObject(resp, "deleted", id);
	return ret;
}

static int entry_list(struct ctl_request *r, cJSON *resp, struct nt_err *err)
{
	cJSON *arr = cJSON_AddArrayToObject(resp, "entries");
	size_t i;

	for (i = 0; i < attest_registry__count(nd->entries); i++)
		cJSON_AddItemToArray(arr,
				     entry_json(attest_registry__at(nd->entries, i)));
	return 0;
}

/* "sockets": which listening socket each fd after the netns is. */
static int proxy_socks(struct ctl_request *r, struct dp_proxy *px,
		       struct nt_err *err)
{
	const cJSON *names = cJSON_GetObjectItemCaseSensitive(r->req, "sockets");
	const cJSON *it;
	int i = 1;

	px->out4_fd = px->out6_fd = px->net_fd = -1;
	cJSON_ArrayForEach(it, names) {
		int *slot = NULL;

		if (i >= r->nfds)
			return nt_err_set(err, -EINVAL, "\"sockets\" names more fds than were sent");
		if (cJSON_IsString(it) && !strcmp(it->valuestring, "outbound4"))
			slot = &px->out4_fd;
		else if (cJSON_IsString(it) && !strcmp(it->valuestring, "outbound6"))
			slot = &px->out6_fd;
		else if (cJSON_IsString(it) && !strcmp(it->valuestring, "net"))
			slot = &px->net_fd;
		if (!slot || *slot >= 0)
			return nt_err_set(err, -EINVAL,
					  "\"sockets\"[%d]: expected \"outbound4\", \"outbound6\" or \"net\", once each",
					  i - 1);
		*slot = r->fds[i++];
	}
	return 0;
}

/*
 * Registers the node proxy of a network namespace. fds[0] is the netns,
 * the listening sockets follow as "sockets" names them; "outbound4" and
 * "outbound6" are the redirect targets, "mesh_port" the port steered to
 * the "net" socket. The daemon's own proxy uses the same datapath call;
 * tests use it to stand a listener in for the proxy.
 */
static int proxy_set(struct ctl_request *r, cJSON *resp, struct nt_err *err)
{
	const cJSON *o4 = cJSON_GetObjectItemCaseSensitive(r->req, "outbound4");
	const cJSON *o6 = cJSON_GetObjectItemCaseSensitive(r->req, "outbound6");
	const cJSON *mp = cJSON_GetObjectItemCaseSensitive(r->req, "mesh_port");
	struct dp_proxy px = {};
	int ret;

	if (r->nfds < 1)
		return nt_err_set(err, -EINVAL, "proxy.set needs a netns fd");
	if (cJSON_IsString(o4) && nt_addr__parse(o4->valuestring, &px.target4, err))
		return -EINVAL;
	if (cJSON_IsString(o6) && nt_addr__parse(o6->valuestring, &px.target6, err))
		return -EINVAL;
	if (mp && (!cJSON_IsNumber(mp) || mp->valuedouble < 1 ||
		   mp->valuedouble > 65535))
		return nt_err_set(err, -EINVAL, "\"mesh_port\" must be a port number");
	px.mesh_port = mp ? (uint16_t)mp->valuedouble : 0;
	ret = proxy_socks(r, &px, err);
	if ((px.out4_fd >= 0 && !cJSON_IsString(o4)) ||
	    (px.out6_fd >= 0 && !cJSON_IsString(o6)))
		return nt_err_set(err, -EINVAL, "an outbound socket needs its \"outbound4\"/\"outbound6\" address");
	if (!ret)
		ret = datapath__set_proxy(nd->dp, r->fds[0], &px, err);
	if (!ret)
		cJSON_AddItemToObject(resp, "datapath", datapath__json(nd->dp));
	return ret;
}

static int proxy_del(struct ctl_request *r, cJSON *resp, struct nt_err *err)
{
	const cJSON *ino = cJSON_GetObjectItemCaseSensitive(r->req, "netns");

	if (!cJSON_IsNumber(ino))
		return nt_err_set(err, -EINVAL, "request needs number \"netns\"");
	return datapath__del_proxy(nd->dp, (uint32_t)ino->valuedouble, err);
}

/* The node proxy of a network namespace, run by the daemon itself. */
static int netns_add(struct ctl_request *r, cJSON *resp, struct nt_err *err)
{
	const char *path = req_str(r, "path", err);

	if (!path || proxy__serve_netns(path, err))
		return -EINVAL;
	sync_listeners();
	cJSON_AddItemToObject(resp, "proxies", proxy__netns_json());
	return 0;
}

static int netns_del(struct ctl_request *r, cJSON *resp, struct nt_err *err)
{
	const cJSON *ino = cJSON_GetObjectItemCaseSensitive(r->req, "netns");

	if (!cJSON_IsNumber(ino))
		return nt_err_set(err, -EINVAL, "request needs number \"netns\"");
	if (proxy__unserve_netns((uint32_t)ino->valuedouble, err))
		return -EINVAL;
	sync_listeners();
	cJSON_AddItemToObject(resp, "proxies", proxy__netns_json());
	return 0;
}

static int netns_list(struct ctl_request *r, cJSON *resp, struct nt_err *err)
{
	cJSON_AddItemToObject(resp, "proxies", proxy__netns_json());
	return 0;
}

static int status(struct ctl_request *r, cJSON *resp, struct nt_err *err)
{
	cJSON_AddStringToObject(resp, "version", NAMETAG_VERSION);
	cJSON_AddStringToObject(resp, "trust_domain",
				node_ca__trust_domain(nd->ca));
	cJSON_AddStringToObject(resp, "cgroup_root", nd->cg.root);
	cJSON_AddNumberToObject(resp, "namespaces",
				(double)ns_table__count(nd->ns));
	cJSON_AddNumberToObject(resp, "connections", (double)pconn__count());
	cJSON_AddNumberToObject(resp, "idle_mesh_connections",
				(double)(tunnel__count() + pconn__idle_count()));
	cJSON_AddItemToObject(resp, "admission", admit__json());
	cJSON_AddItemToObject(resp, "datapath", datapath__json(nd->dp));
	return 0;
}

static const struct {
	const char *cmd;
	ctl_handler_fn fn;
} handlers[] = {
	{ "status",		status },
	{ "ns.add",		ns_add },
	{ "ns.enable",		ns_enable },
	{ "ns.disable",		ns_disable },
	{ "ns.del",		ns_del },
	{ "ns.list",		ns_list },
	{ "ns.show",		ns_show },
	{ "entry.add",		entry_add },
	{ "entry.del",		entry_del },
	{ "entry.list",		entry_list },
	{ "proxy.set",		proxy_set },
	{ "proxy.del",		proxy_del },
	{ "workload.list",	ctl_workload_list },
	{ "workload.show",	ctl_workload_show },
	{ "flow.list",		ctl_flow_list },
	{ "flow.show",		ctl_flow_show },
	{ "flow.watch",		ctl_flow_watch },
	{ "svid.list",		ctl_svid_list },
	{ "policy.load",	ctl_policy_load },
	{ "policy.show",	ctl_policy_show },
	{ "policy.check",	ctl_policy_check },
	{ "netns.add",		netns_add },
	{ "netns.del",		netns_del },
	{ "netns.list",		netns_list },
};

ctl_handler_fn ctl__find(const char *cmd)
{
	size_t i;

	for (i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++)
		if (!strcmp(handlers[i].cmd, cmd))
			return handlers[i].fn;
	return NULL;
}
