// SPDX-License-Identifier: Apache-2.0
/* nametag ns: namespaces and their rollout mode (off, observe, permissive,
 * strict), held by nametagd. */
#include <string.h>

#include "tools/main.h"

static const char *str(const cJSON *o, const char *key)
{
	return cJSON_GetStringValue(cJSON_GetObjectItem(o, key)) ?: "-";
}

static void print_ns(const cJSON *n)
{
	printf("%-16s mode %-10s cgroup %s\n\ttemplate %s  id %.0f\n",
	       str(n, CTL_NS_NAME), str(n, CTL_NS_MODE), str(n, CTL_NS_CGROUP),
	       str(n, CTL_NS_TEMPLATE),
	       cJSON_GetNumberValue(cJSON_GetObjectItem(n, CTL_NS_ID)));
}

/* Sends @req; prints the reply's "namespace" object. */
static int call_and_print_ns(cJSON *req)
{
	return ctl_print(req, CTL_R_NAMESPACE, print_ns);
}

static int do_add(int argc, char **argv)
{
	const char *name, *cgroup = NULL, *tmpl = NULL, *hosts = NULL;
	cJSON *req;

	REQ_ARGS(1);
	name = *argv;
	NEXT_ARG();
	while (argc > 0) {
		if (!strcmp(*argv, "--cgroup"))
			GET_VALUE(cgroup);
		else if (!strcmp(*argv, "--template"))
			GET_VALUE(tmpl);
		else if (etcd_cli.url && !strcmp(*argv, "--hosts"))
			GET_VALUE(hosts);
		else
			return p_err("unknown argument '%s' for 'ns add'", *argv);
	}
	if (!cgroup)
		return p_err("'ns add' needs --cgroup PATH");
	if (etcd_cli.url)
		return fleet_ns_write("add", name, cgroup, tmpl, NULL, hosts, NULL);
	req = ctl_request(CTL_NS_ADD);
	cJSON_AddStringToObject(req, CTL_K_NAME, name);
	cJSON_AddStringToObject(req, CTL_K_CGROUP, cgroup);
	if (tmpl)
		cJSON_AddStringToObject(req, CTL_K_TEMPLATE, tmpl);
	return call_and_print_ns(req);
}

static int do_enable(int argc, char **argv)
{
	const char *name, *mode = NULL, *rev = NULL;
	cJSON *req;

	REQ_ARGS(1);
	name = *argv;
	NEXT_ARG();
	while (argc > 0) {
		if (!strcmp(*argv, "--mode"))
			GET_VALUE(mode);
		else if (etcd_cli.url && !strcmp(*argv, "--revision"))
			GET_VALUE(rev);
		else
			return p_err("unknown argument '%s' for 'ns enable'", *argv);
	}
	if (!mode)
		return p_err("'ns enable' needs --mode observe|permissive|strict");
	if (etcd_cli.url)
		return strcmp(mode, "off") ?
		       fleet_ns_write("set", name, NULL, NULL, mode, NULL, rev) :
		       p_err("mode 'off': use 'ns disable'");
	req = ctl_request(CTL_NS_ENABLE);
	cJSON_AddStringToObject(req, CTL_K_NAME, name);
	cJSON_AddStringToObject(req, CTL_K_MODE, mode);
	return call_and_print_ns(req);
}

static int do_disable(int argc, char **argv)
{
	cJSON *req;

	REQ_ARGS(1);
	NO_MORE_ARGS(1);
	if (no_options(argc, argv))
		return -1;
	if (etcd_cli.url)
		return fleet_ns_write("set", argv[0], NULL, NULL, "off", NULL, NULL);
	req = ctl_request(CTL_NS_DISABLE);
	cJSON_AddStringToObject(req, CTL_K_NAME, argv[0]);
	return call_and_print_ns(req);
}

static int do_show(int argc, char **argv)
{
	cJSON *req;

	NO_MORE_ARGS(1);
	if (no_options(argc, argv))
		return -1;
	if (argc == 1) {
		req = ctl_request(CTL_NS_SHOW);
		cJSON_AddStringToObject(req, CTL_K_NAME, argv[0]);
		return call_and_print_ns(req);
	}
	return ctl_print(ctl_request(CTL_NS_LIST), CTL_R_NAMESPACES, print_ns);
}

static int do_del(int argc, char **argv)
{
	REQ_ARGS(1);
	NO_MORE_ARGS(1);
	if (no_options(argc, argv))
		return -1;
	if (etcd_cli.url)
		return fleet_ns_write("del", argv[0], NULL, NULL, NULL, NULL, NULL);
	return ctl_delete(CTL_NS_DEL, CTL_K_NAME, argv[0], "namespace");
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
		"       ID without the {service} segments (ns/{ns}/sa).\n"
		"       With --etcd URL (docs/fleet.md): add also takes --hosts NODE,...\n"
		"       (default *), PATH is relative to each node's --cgroup-root, enable\n"
		"       takes --revision REV (write only if unchanged since REV).\n",
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
