// SPDX-License-Identifier: Apache-2.0
/* nametag proxy: the network namespaces nametagd's node proxy serves. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tools/main.h"

static double json_num(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItem(o, key);

	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/* A well-known port another socket holds: nametagd listens elsewhere and
 * sk_lookup steers the well-known one to it. */
static const char *taken(const cJSON *p)
{
	static char buf[96];

	if (json_num(p, CTL_PX_OUTBOUND4_BOUND) == json_num(p, CTL_PX_OUTBOUND4_PORT) &&
	    json_num(p, CTL_PX_MESH_BOUND) == json_num(p, CTL_PX_MESH_PORT))
		return "";
	snprintf(buf, sizeof(buf), "  (bound :%.0f, :%.0f: a port was taken)",
		 json_num(p, CTL_PX_OUTBOUND4_BOUND), json_num(p, CTL_PX_MESH_BOUND));
	return buf;
}

static void print_proxy(const cJSON *p)
{
	printf("netns %.0f  %s\n\toutbound :%.0f  mesh and inbound :%.0f%s\n",
	       json_num(p, CTL_PX_NETNS),
	       cJSON_GetStringValue(cJSON_GetObjectItem(p, CTL_PX_PATH)) ?: "-",
	       json_num(p, CTL_PX_OUTBOUND4_PORT), json_num(p, CTL_PX_MESH_PORT),
	       taken(p));
}

static int do_list(int argc, char **argv)
{
	NO_MORE_ARGS(0);
	return ctl_print(ctl_request(CTL_NETNS_LIST), CTL_R_PROXIES, print_proxy);
}

static int do_add(int argc, char **argv)
{
	char path[PATH_MAX];
	cJSON *req;

	REQ_ARGS(1);
	NO_MORE_ARGS(1);
	if (no_options(argc, argv))
		return -1;
	if (!realpath(argv[0], path))
		return p_err("%s: %m", argv[0]);
	req = ctl_request(CTL_NETNS_ADD);
	cJSON_AddStringToObject(req, CTL_K_PATH, path);
	return ctl_print(req, CTL_R_PROXIES, print_proxy);
}

static int do_del(int argc, char **argv)
{
	struct stat st;
	cJSON *req;

	REQ_ARGS(1);
	NO_MORE_ARGS(1);
	if (no_options(argc, argv))
		return -1;
	if (stat(argv[0], &st))
		return p_err("%s: %m", argv[0]);
	req = ctl_request(CTL_NETNS_DEL);
	cJSON_AddNumberToObject(req, CTL_K_NETNS, (double)st.st_ino);
	return ctl_print(req, CTL_R_PROXIES, print_proxy);
}

static double num(const cJSON *o, const char *key)
{
	return cJSON_GetNumberValue(cJSON_GetObjectItem(o, key));
}

/* The mesh port's admission (docs/mesh-protocol.md): the caps, the
 * descriptor reserve and what was shed since the daemon started. */
static void print_admission(const cJSON *a)
{
	const cJSON *s = cJSON_GetObjectItem(a, CTL_ADM_SHED);

	printf("handshakes pending %.0f of %.0f (%.0f per peer), deadline %.0f s%s\n",
	       num(a, CTL_ADM_PENDING), num(a, CTL_ADM_PENDING_MAX),
	       num(a, CTL_ADM_PEER_MAX), num(a, CTL_ADM_TIMEOUT),
	       cJSON_IsTrue(cJSON_GetObjectItem(a, CTL_ADM_PRESSURE)) ?
	       " (under pressure)" : "");
	printf("descriptors %.0f, %.0f kept in reserve\n", num(a, CTL_ADM_FD_LIMIT),
	       num(a, CTL_ADM_FD_RESERVE));
	printf("shed: %.0f at the per-peer cap, %.0f at the total cap, %.0f at the descriptor reserve, %.0f at the descriptor limit, %.0f handshake timeouts\n",
	       num(s, "per_peer_cap"), num(s, "total_cap"), num(s, "fd_reserve"),
	       num(s, "fd_limit"), num(s, "handshake_timeout"));
}

/* What the proxy carries now: connections, and idle mesh connections
 * pooled for the next stream (docs/mesh-protocol.md, NT2); then what it
 * sheds. */
/* Served network namespaces against the limit (nametagd --max-netns). */
static void print_netns(const cJSON *dp)
{
	double served = num(dp, CTL_R_NETNS_SERVED), max = num(dp, CTL_DP_MAX_NETNS);

	printf("network namespaces %.0f of %.0f served, %.0f refused at the limit%s\n",
	       served, max, num(dp, CTL_R_NETNS_REFUSED),
	       served >= max ? " (LIMIT REACHED: nametagd --max-netns)" : "");
}

/* TLS handshakes each relay thread made (none with one thread). */
static void print_worker_hs(const cJSON *hs)
{
	const cJSON *w;
	int i = 0;

	cJSON_ArrayForEach(w, hs)
		printf("  thread %d: %.0f handshakes, %.0f failed\n", i++,
		       num(w, CTL_WHS_DONE), num(w, CTL_WHS_FAILED));
}

static int do_proxy_status(int argc, char **argv)
{
	cJSON *reply, *open, *idle, *adm, *dp, *out, *workers, *hs;

	NO_MORE_ARGS(0);
	if (ctl_call(ctl_request(CTL_STATUS), &reply))
		return -1;
	open = cJSON_DetachItemFromObject(reply, CTL_R_CONNECTIONS);
	idle = cJSON_DetachItemFromObject(reply, CTL_R_IDLE_MESH);
	adm = cJSON_DetachItemFromObject(reply, CTL_R_ADMISSION);
	dp = cJSON_DetachItemFromObject(reply, CTL_R_DATAPATH);
	workers = cJSON_DetachItemFromObject(reply, CTL_R_WORKERS);
	hs = cJSON_DetachItemFromObject(reply, CTL_R_WORKER_HS);
	cJSON_Delete(reply);
	if (!cJSON_IsNumber(open) || !cJSON_IsNumber(idle) ||
	    !cJSON_IsObject(adm)) {
		cJSON_Delete(open);
		cJSON_Delete(idle);
		cJSON_Delete(adm);
		cJSON_Delete(dp);
		cJSON_Delete(workers);
		cJSON_Delete(hs);
		return p_err("reply from nametagd lacks the connection counts");
	}
	if (!json_output) {
		printf("connections %d  idle mesh connections %d\n",
		       open->valueint, idle->valueint);
		if (cJSON_IsNumber(workers))
			printf("relay threads %d\n", workers->valueint);
		print_worker_hs(hs);
		print_admission(adm);
		print_netns(dp);
		cJSON_Delete(hs);
		cJSON_Delete(open);
		cJSON_Delete(idle);
		cJSON_Delete(adm);
		cJSON_Delete(dp);
		cJSON_Delete(workers);
		return 0;
	}
	out = cJSON_CreateObject();
	cJSON_AddItemToObject(out, CTL_R_CONNECTIONS, open);
	cJSON_AddItemToObject(out, CTL_R_IDLE_MESH, idle);
	cJSON_AddItemToObject(out, CTL_R_ADMISSION, adm);
	if (dp)
		cJSON_AddItemToObject(out, CTL_R_DATAPATH, dp);
	if (workers)
		cJSON_AddItemToObject(out, CTL_R_WORKERS, workers);
	if (hs)
		cJSON_AddItemToObject(out, CTL_R_WORKER_HS, hs);
	return json_emit(out);
}

static int do_help(int argc, char **argv)
{
	return p_usage(
		"Usage: %s proxy { show | list }\n"
		"       %s proxy status\n"
		"       %s proxy add NETNS\n"
		"       %s proxy { del | delete } NETNS\n"
		"       %s proxy help\n"
		"\n"
		"       NETNS is a network namespace file, e.g. /run/netns/NAME. The node\n"
		"       proxy listens inside it (outbound 15001, mesh and inbound 15008);\n"
		"       nametagd serves its own network namespace from the start.\n"
		"       status counts the proxied connections open now and the idle mesh\n"
		"       connections kept for the next stream of the same workload, the\n"
		"       TLS handshakes pending on the mesh port against their caps, the\n"
		"       descriptor limit and reserve, and the connections shed since\n"
		"       nametagd started (docs/mesh-protocol.md, Admission), and with\n"
		"       relay threads the handshakes each made (docs/process-model.md).\n",
		bin_name, bin_name, bin_name, bin_name, bin_name);
}

static const struct cmd cmds[] = {
	{ "show",	do_list },
	{ "list",	do_list },
	{ "status",	do_proxy_status },
	{ "add",	do_add },
	{ "del",	do_del },
	{ "delete",	do_del },
	{ "help",	do_help },
	{ 0 }
};

int do_proxy(int argc, char **argv)
{
	return cmd_select(cmds, argc, argv);
}
