// SPDX-License-Identifier: Apache-2.0
/*
 * Control commands of `nametag proxy`: the network namespaces the node
 * proxy serves (netns.*), its status, and proxy.set/del, which let a
 * listener of one's own stand in for the proxy (the live tests' helper).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "userspace/daemon/daemon.h"

/* "sockets": which listening socket each fd after the netns is. */
static int proxy_socks(struct ctl_request *r, struct dp_proxy *px,
		       struct nt_err *err)
{
	const cJSON *names = cJSON_GetObjectItemCaseSensitive(r->req, CTL_K_SOCKETS);
	const cJSON *it;
	int i = 1;

	px->out4_fd = px->out6_fd = px->net_fd = -1;
	cJSON_ArrayForEach(it, names) {
		const char *s = cJSON_GetStringValue(it);
		int *slot = NULL;

		if (i >= r->nfds)
			return nt_err_set(err, -EINVAL, "\"%s\" names more fds than were sent",
					  CTL_K_SOCKETS);
		if (s && !strcmp(s, CTL_SOCK_OUTBOUND4))
			slot = &px->out4_fd;
		else if (s && !strcmp(s, CTL_SOCK_OUTBOUND6))
			slot = &px->out6_fd;
		else if (s && !strcmp(s, CTL_SOCK_NET))
			slot = &px->net_fd;
		if (!slot || *slot >= 0)
			return nt_err_set(err, -EINVAL,
					  "\"%s\"[%d]: expected \"%s\", \"%s\" or \"%s\", once each",
					  CTL_K_SOCKETS, i - 1, CTL_SOCK_OUTBOUND4,
					  CTL_SOCK_OUTBOUND6, CTL_SOCK_NET);
		*slot = r->fds[i++];
	}
	return 0;
}

/* The datapath's per-netns proxies, for proxy.set and status. */
static int proxy_entry_json(uint32_t netns, const struct nt_proxy *p, void *arg)
{
	cJSON *e = cJSON_CreateObject();

	cJSON_AddNumberToObject(e, CTL_PX_NETNS, netns);
	cJSON_AddNumberToObject(e, CTL_PX_SLOT, p->slot);
	cJSON_AddNumberToObject(e, CTL_PX_OUTBOUND4_PORT, p->outbound4.port);
	cJSON_AddNumberToObject(e, CTL_PX_OUTBOUND6_PORT, p->outbound6.port);
	cJSON_AddNumberToObject(e, CTL_PX_MESH_PORT, p->mesh_port);
	cJSON_AddBoolToObject(e, CTL_PX_SERVED, !!(p->flags & NT_PROXY_SERVED));
	json__add_u64(e, CTL_PX_OVERFLOW, p->overflow);
	cJSON_AddItemToArray(arg, e);
	return 0;
}

/* The datapath, and the network namespaces served against the limit:
 * reaching it is said here, in the log and in `feature probe`. */
static cJSON *datapath_json(const struct daemon *d)
{
	cJSON *o = cJSON_CreateObject();
	struct proxy_status ps;
	struct dp_status st;
	struct dp_stats ds;

	datapath__status(d->dp, &st);
	datapath__stats(d->dp, &ds);
	proxy__status(d->proxy, &ps);
	cJSON_AddStringToObject(o, CTL_DP_PIN_DIR, st.pin_dir);
	json__add_u64(o, CTL_DP_CGROUP_ID, st.cgroup_id);
	cJSON_AddNumberToObject(o, CTL_DP_LINKS, (double)st.links);
	cJSON_AddNumberToObject(o, CTL_DP_MAX_NETNS, ps.netns_max);
	cJSON_AddNumberToObject(o, CTL_R_NETNS_SERVED, ps.netns_served);
	json__add_u64(o, CTL_R_NETNS_REFUSED, ps.netns_refused);
	cJSON_AddNumberToObject(o, CTL_DP_NETNS_GUARDED, st.netns_guarded);
	json__add_u64(o, CTL_DP_UNSERVED_SYNS, ds.unserved_syns);
	cJSON_AddNumberToObject(o, CTL_DP_LISTENERS, st.listeners_per_netns);
	datapath__proxies_foreach(d->dp, proxy_entry_json,
				  cJSON_AddArrayToObject(o, CTL_DP_PROXIES));
	return o;
}

/*
 * Registers a proxy of one's own for a network namespace. fds[0] is the
 * netns, the listening sockets follow as "sockets" names them;
 * "outbound4" and "outbound6" are the redirect targets, "mesh_port" the
 * port steered to the "net" socket. The daemon's own proxy uses the same
 * datapath call.
 */
static int proxy_set(struct ctl_request *r, cJSON *resp, struct nt_err *err)
{
	const cJSON *o4 = cJSON_GetObjectItemCaseSensitive(r->req, CTL_K_OUTBOUND4);
	const cJSON *o6 = cJSON_GetObjectItemCaseSensitive(r->req, CTL_K_OUTBOUND6);
	const cJSON *mp = cJSON_GetObjectItemCaseSensitive(r->req, CTL_K_MESH_PORT);
	struct dp_proxy px = {};
	int ret;

	if (r->nfds < 1)
		return nt_err_set(err, -EINVAL, "%s needs a netns fd", CTL_PROXY_SET);
	if (cJSON_IsString(o4) && nt_addr__parse(o4->valuestring, &px.target4, err))
		return -EINVAL;
	if (cJSON_IsString(o6) && nt_addr__parse(o6->valuestring, &px.target6, err))
		return -EINVAL;
	if (mp && (!cJSON_IsNumber(mp) || mp->valuedouble < 1 ||
		   mp->valuedouble > 65535))
		return nt_err_set(err, -EINVAL, "\"%s\" must be a port number",
				  CTL_K_MESH_PORT);
	px.mesh_port = mp ? (uint16_t)mp->valuedouble : 0;
	ret = proxy_socks(r, &px, err);
	if ((px.out4_fd >= 0 && !cJSON_IsString(o4)) ||
	    (px.out6_fd >= 0 && !cJSON_IsString(o6)))
		return nt_err_set(err, -EINVAL, "an outbound socket needs its \"%s\"/\"%s\" address",
				  CTL_K_OUTBOUND4, CTL_K_OUTBOUND6);
	if (!ret)
		ret = datapath__set_proxy(r->d->dp, r->fds[0], &px, err);
	if (!ret)
		cJSON_AddItemToObject(resp, CTL_R_DATAPATH, datapath_json(r->d));
	return ret;
}

static int req_netns(const struct ctl_request *r, uint32_t *ino,
		     struct nt_err *err)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(r->req, CTL_K_NETNS);

	if (!cJSON_IsNumber(it))
		return nt_err_set(err, -EINVAL, "request needs number \"%s\"",
				  CTL_K_NETNS);
	*ino = (uint32_t)it->valuedouble;
	return 0;
}

static int proxy_del(struct ctl_request *r, cJSON *resp, struct nt_err *err)
{
	uint32_t ino = 0;

	if (req_netns(r, &ino, err))
		return -EINVAL;
	return datapath__del_proxy(r->d->dp, ino, err);
}

/* ---- the daemon's own node proxy ----------------------------------------------- */

struct served_list {
	const struct datapath *dp;
	cJSON *arr;
};

static int served_json(const struct proxy_netns *n, void *arg)
{
	struct served_list *l = arg;
	cJSON *o;

	if (n->guard_only)
		return 0;
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, CTL_PX_PATH, n->path);
	cJSON_AddNumberToObject(o, CTL_PX_NETNS, n->netns_ino);
	cJSON_AddNumberToObject(o, CTL_PX_OUTBOUND4_PORT, PROXY_OUTBOUND_PORT);
	cJSON_AddNumberToObject(o, CTL_PX_OUTBOUND6_PORT, PROXY_OUTBOUND_PORT);
	cJSON_AddNumberToObject(o, CTL_PX_MESH_PORT, PROXY_MESH_PORT);
	/* Where the sockets are bound: the well-known ports unless another
	 * socket took one first (sk_lookup steers those). */
	cJSON_AddNumberToObject(o, CTL_PX_OUTBOUND4_BOUND, n->bound[PROXY_L_OUT4]);
	cJSON_AddNumberToObject(o, CTL_PX_OUTBOUND6_BOUND, n->bound[PROXY_L_OUT6]);
	cJSON_AddNumberToObject(o, CTL_PX_MESH_BOUND, n->bound[PROXY_L_NET]);
	json__add_u64(o, CTL_PX_OVERFLOW, datapath__overflow(l->dp, n->netns_ino));
	cJSON_AddItemToArray(l->arr, o);
	return 0;
}

/* Every reply of netns.* carries the namespaces served after it. */
static int served(struct ctl_request *r, cJSON *resp)
{
	struct served_list l = { .dp = r->d->dp,
				 .arr = cJSON_AddArrayToObject(resp, CTL_R_PROXIES) };

	return proxy__foreach_netns(r->d->proxy, served_json, &l);
}

static int netns_add(struct ctl_request *r, cJSON *resp, struct nt_err *err)
{
	const char *path = ctl__str(r, CTL_K_PATH, err);

	if (!path || netns__add(r->d, path, err))
		return -EINVAL;
	return served(r, resp);
}

static int netns_del(struct ctl_request *r, cJSON *resp, struct nt_err *err)
{
	uint32_t ino = 0;

	if (req_netns(r, &ino, err) || netns__del(r->d, ino, err))
		return -EINVAL;
	return served(r, resp);
}

static int netns_list(struct ctl_request *r, cJSON *resp, struct nt_err *err)
{
	return served(r, resp);
}

/* The mesh port's admission (docs/mesh-protocol.md). */
static cJSON *admission_json(const struct proxy_status *st)
{
	cJSON *o = cJSON_CreateObject(), *s;
	int i;

	cJSON_AddNumberToObject(o, CTL_ADM_FD_LIMIT, st->fd_limit);
	cJSON_AddNumberToObject(o, CTL_ADM_FD_RESERVE, st->fd_reserve);
	cJSON_AddNumberToObject(o, CTL_ADM_PENDING, st->pending);
	cJSON_AddNumberToObject(o, CTL_ADM_PENDING_MAX, st->pending_max);
	cJSON_AddNumberToObject(o, CTL_ADM_PEER_MAX, st->peer_max);
	cJSON_AddNumberToObject(o, CTL_ADM_TIMEOUT, st->handshake_timeout_s);
	cJSON_AddBoolToObject(o, CTL_ADM_PRESSURE, st->under_pressure);
	s = cJSON_AddObjectToObject(o, CTL_ADM_SHED);
	for (i = 0; i < PROXY_SHED_MAX; i++)
		json__add_u64(s, proxy__shed_name(i), st->shed[i]);
	return o;
}

/* What each relay thread did of the handshakes (docs/process-model.md). */
static cJSON *worker_hs_json(const struct proxy_status *st)
{
	cJSON *a = cJSON_CreateArray(), *o;
	unsigned int i;

	for (i = 0; a && st->workers > 1 && i < st->workers; i++) {
		o = cJSON_CreateObject();
		json__add_u64(o, CTL_WHS_DONE, st->hs_done[i]);
		json__add_u64(o, CTL_WHS_FAILED, st->hs_failed[i]);
		cJSON_AddItemToArray(a, o);
	}
	return a;
}

static int status(struct ctl_request *r, cJSON *resp, struct nt_err *err)
{
	struct daemon *d = r->d;
	struct proxy_status st;

	proxy__status(d->proxy, &st);
	cJSON_AddStringToObject(resp, CTL_R_VERSION, NAMETAG_VERSION);
	cJSON_AddStringToObject(resp, CTL_R_TRUST_DOMAIN,
				node_ca__trust_domain(d->ca));
	cJSON_AddStringToObject(resp, CTL_R_CGROUP_ROOT, d->cg.root);
	cJSON_AddNumberToObject(resp, CTL_R_CONNECTIONS, (double)st.connections);
	cJSON_AddNumberToObject(resp, CTL_R_IDLE_MESH, (double)st.idle_mesh);
	cJSON_AddNumberToObject(resp, CTL_R_WORKERS, st.workers);
	cJSON_AddItemToObject(resp, CTL_R_WORKER_HS, worker_hs_json(&st));
	cJSON_AddItemToObject(resp, CTL_R_ADMISSION, admission_json(&st));
	cJSON_AddItemToObject(resp, CTL_R_DATAPATH, datapath_json(d));
	ctl_status__add(d, resp);
	return served(r, resp);
}

const struct ctl_cmd ctl_proxy_cmds[] = {
	{ CTL_STATUS,		status },
	{ CTL_PROXY_SET,	proxy_set },
	{ CTL_PROXY_DEL,	proxy_del },
	{ CTL_NETNS_ADD,	netns_add },
	{ CTL_NETNS_DEL,	netns_del },
	{ CTL_NETNS_LIST,	netns_list },
	{ NULL, NULL }
};
