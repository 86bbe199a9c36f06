// SPDX-License-Identifier: Apache-2.0
/* nametag ns: namespaces and their rollout mode (off, observe, permissive,
 * strict), held by nametagd. */
#include <string.h>

#include "tools/main.h"

static void print_ns(const cJSON *n)
{
	printf("%-16s mode %-10s cgroup %s\n\ttemplate %s  id %d\n",
	       cJSON_GetStringValue(cJSON_GetObjectItem(n, "name")),
	       cJSON_GetStringValue(cJSON_GetObjectItem(n, "mode")),
	       cJSON_GetStringValue(cJSON_GetObjectItem(n, "cgroup")),
	       cJSON_GetStringValue(cJSON_GetObjectItem(n, "template")),
	       cJSON_GetObjectItem(n, "id")->valueint);
}

/* Sends @req; prints the reply's "namespace" object. */
static int call_and_print_ns(cJSON *req)
{
	cJSON *reply;

	if (ctl_call(req, &reply))
		return -1;
	if (json_output)
		return ctl_emit(reply, "namespace");
	print_ns(cJSON_GetObjectItem(reply, "namespace"));
	cJSON_Delete(reply);
	return 0;
}

static int do_add(int argc, char **argv)
{
	const char *name, *cgroup = NULL, *tmpl = NULL;
	cJSON *req;

	REQ_ARGS(1);
	name = *argv;
	NEXT_ARG();
	while (argc > 0) {
		if (!strcmp(*argv, "--cgroup"))
			GET_VALUE(cgroup);
		else if (!strcmp(*argv, "--template"))
			GET_VALUE(tmpl);
		else
			return p_err("unknown argument '%s' for 'ns add'", *argv);
	}
	if (!cgroup)
		return p_err("'ns add' needs --cgroup PATH");
	req = ctl_request("ns.add");
	cJSON_AddStringToObject(req, "name", name);
	cJSON_AddStringToObject(req, "cgroup", cgroup);
	if (tmpl)
		cJSON_AddStringToObject(req, "template", tmpl);
	return call_and_print_ns(req);
}

static int do_enable(int argc, char **argv)
{
	const char *name, *mode = NULL;
	cJSON *req;

	REQ_ARGS(1);
	name = *argv;
	NEXT_ARG();
	while (argc > 0) {
		if (!strcmp(*argv, "--mode"))
			GET_VALUE(mode);
		else
			return p_err("unknown argument '%s' for 'ns enable'", *argv);
	}
	if (!mode)
		return p_err("'ns enable' needs --mode observe|permissive|strict");
	req = ctl_request("ns.enable");
	cJSON_AddStringToObject(req, "name", name);
	cJSON_AddStringToObject(req, "mode", mode);
	return call_and_print_ns(req);
}

static int do_disable(int argc, char **argv)
{
	cJSON *req;

	REQ_ARGS(1);
	if (argc > 1)
		return p_err("unexpected argument '%s'", argv[1]);
	req = ctl_request("ns.disable");
	cJSON_AddStringToObject(req, "name", argv[0]);
	return call_and_print_ns(req);
}

static int do_show(int argc, char **argv)
{
	cJSON *req, *reply, *arr, *n;

	if (argc > 1)
		return p_err("unexpected argument '%s'", argv[1]);
	if (argc == 1) {
		req = ctl_request("ns.show");
		cJSON_AddStringToObject(req, "name", argv[0]);
		return call_and_print_ns(req);
	}
	if (ctl_call(ctl_request("ns.list"), &reply))
		return -1;
	if (json_output)
		return ctl_emit(reply, "namespaces");
	arr = cJSON_GetObjectItem(reply, "namespaces");
	cJSON_ArrayForEach(n, arr)
		print_ns(n);
	cJSON_Delete(reply);
	return 0;
}

static int do_del(int argc, char **argv)
{
	REQ_ARGS(1);
	if (argc > 1)
		return p_err("unexpected argument '%s'", argv[1]);
	return ctl_delete("ns.del", "name", argv[0], "namespace");
}

static int do_help(int argc, char **argv)
{
	return p_usage(
		"Usage: %s ns { show | list } [NAME]\n"
		"       %s ns add NAME --cgroup PATH [--template TEMPLATE]\n"
		"       %s ns enable NAME --mode { observe | permissive | strict }\n"
		"       %s ns disable NAME\n"
		"       %s ns { del | delete } NAME\n"
		"       %s ns help\n"
		"\n"
		"       PATH is a cgroup v2 directory below nametagd's --cgroup-root,\n"
		"       absolute or relative to the cgroup v2 mount; never that root,\n"
		"       nametagd's own cgroup or an ancestor of it.\n"
		"       TEMPLATE is the SPIFFE ID path, default ns/{ns}/sa/{service};\n"
		"       placeholders {ns} {service} {uid} {user}. {service} is the\n"
		"       first cgroup below PATH; a process of PATH itself gets the\n"
		"       ID without the {service} segments (ns/{ns}/sa).\n",
		bin_name, bin_name, bin_name, bin_name, bin_name, bin_name);
}

static const struct cmd cmds[] = {
	{ "show",	do_show },
	{ "list",	do_show },
	{ "add",	do_add },
	{ "enable",	do_enable },
	{ "disable",	do_disable },
	{ "del",	do_del },
	{ "delete",	do_del },
	{ "help",	do_help },
	{ 0 }
};

int do_ns(int argc, char **argv)
{
	return cmd_select(cmds, argc, argv);
}
