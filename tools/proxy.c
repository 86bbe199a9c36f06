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

	if (json_num(p, "outbound4_bound") == json_num(p, "outbound_port") &&
	    json_num(p, "mesh_bound") == json_num(p, "mesh_port"))
		return "";
	snprintf(buf, sizeof(buf), "  (bound :%.0f, :%.0f: a port was taken)",
		 json_num(p, "outbound4_bound"), json_num(p, "mesh_bound"));
	return buf;
}

static int print_reply(cJSON *reply)
{
	const cJSON *p;

	if (json_output)
		return ctl_emit(reply, "proxies");
	cJSON_ArrayForEach(p, cJSON_GetObjectItem(reply, "proxies"))
		printf("netns %.0f  %s\n\toutbound :%.0f  mesh and inbound :%.0f%s\n",
		       json_num(p, "netns"),
		       cJSON_GetStringValue(cJSON_GetObjectItem(p, "path")) ?: "-",
		       json_num(p, "outbound_port"), json_num(p, "mesh_port"),
		       taken(p));
	cJSON_Delete(reply);
	return 0;
}

static int do_list(int argc, char **argv)
{
	cJSON *reply;

	if (argc)
		return p_err("unexpected argument '%s'", *argv);
	if (ctl_call(ctl_request("netns.list"), &reply))
		return -1;
	return print_reply(reply);
}

static int do_add(int argc, char **argv)
{
	char path[PATH_MAX];
	cJSON *req, *reply;

	REQ_ARGS(1);
	if (argc > 1)
		return p_err("unexpected argument '%s'", argv[1]);
	if (!realpath(argv[0], path))
		return p_err("%s: %m", argv[0]);
	req = ctl_request("netns.add");
	cJSON_AddStringToObject(req, "path", path);
	if (ctl_call(req, &reply))
		return -1;
	return print_reply(reply);
}

static int do_del(int argc, char **argv)
{
	cJSON *req, *reply;
	struct stat st;

	REQ_ARGS(1);
	if (argc > 1)
		return p_err("unexpected argument '%s'", argv[1]);
	if (stat(argv[0], &st))
		return p_err("%s: %m", argv[0]);
	req = ctl_request("netns.del");
	cJSON_AddNumberToObject(req, "netns", (double)st.st_ino);
	if (ctl_call(req, &reply))
		return -1;
	return print_reply(reply);
}

static double num(const cJSON *o, const char *key)
{
	return cJSON_GetNumberValue(cJSON_GetObjectItem(o, key));
}

/* The mesh port's admission (docs/mesh-protocol.md): the caps, the
 * descriptor reserve and what was shed since the daemon started. */
static void print_admission(const cJSON *a)
{
	const cJSON *s = cJSON_GetObjectItem(a, "shed");

	printf("handshakes pending %.0f of %.0f (%.0f per peer), deadline %.0f s%s\n",
	       num(a, "handshakes_pending"), num(a, "handshakes_pending_max"),
	       num(a, "handshakes_per_peer_max"), num(a, "handshake_timeout_s"),
	       cJSON_IsTrue(cJSON_GetObjectItem(a, "under_pressure")) ?
	       " (under pressure)" : "");
	printf("descriptors %.0f, %.0f kept in reserve\n", num(a, "fd_limit"),
	       num(a, "fd_reserve"));
	printf("shed: %.0f at the per-peer cap, %.0f at the total cap, %.0f at the descriptor reserve, %.0f at the descriptor limit, %.0f handshake timeouts\n",
	       num(s, "per_peer_cap"), num(s, "total_cap"), num(s, "fd_reserve"),
	       num(s, "fd_limit"), num(s, "handshake_timeout"));
}

/* What the proxy carries now: connections, and idle mesh connections
 * pooled for the next stream (docs/mesh-protocol.md, NT2); then what it
 * sheds. */
static int do_status(int argc, char **argv)
{
	cJSON *reply, *open, *idle, *adm, *out;

	if (argc)
		return p_err("unexpected argument '%s'", *argv);
	if (ctl_call(ctl_request("status"), &reply))
		return -1;
	open = cJSON_DetachItemFromObject(reply, "connections");
	idle = cJSON_DetachItemFromObject(reply, "idle_mesh_connections");
	adm = cJSON_DetachItemFromObject(reply, "admission");
	cJSON_Delete(reply);
	if (!cJSON_IsNumber(open) || !cJSON_IsNumber(idle) ||
	    !cJSON_IsObject(adm)) {
		cJSON_Delete(open);
		cJSON_Delete(idle);
		cJSON_Delete(adm);
		return p_err("reply from nametagd lacks the connection counts");
	}
	if (!json_output) {
		printf("connections %d  idle mesh connections %d\n",
		       open->valueint, idle->valueint);
		print_admission(adm);
		cJSON_Delete(open);
		cJSON_Delete(idle);
		cJSON_Delete(adm);
		return 0;
	}
	out = cJSON_CreateObject();
	cJSON_AddItemToObject(out, "connections", open);
	cJSON_AddItemToObject(out, "idle_mesh_connections", idle);
	cJSON_AddItemToObject(out, "admission", adm);
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
		"       nametagd started (docs/mesh-protocol.md, Admission).\n",
		bin_name, bin_name, bin_name, bin_name, bin_name);
}

static const struct cmd cmds[] = {
	{ "show",	do_list },
	{ "list",	do_list },
	{ "status",	do_status },
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
