// SPDX-License-Identifier: Apache-2.0
/* nametag id: SPIFFE ID checks. */
#include <string.h>

#include "tools/main.h"

static int do_check(int argc, char **argv)
{
	struct spiffe_id id;
	struct nt_err err = {};
	cJSON *o;

	REQ_ARGS(1);
	NO_MORE_ARGS(1);
	if (spiffe_id__parse(&id, argv[0], strlen(argv[0]), &err))
		return p_err("invalid SPIFFE ID: %s", err.msg);
	if (!json_output) {
		printf("%s\n", id.str);
		return 0;
	}
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "spiffe_id", id.str);
	cJSON_AddStringToObject(o, "trust_domain", id.td);
	cJSON_AddStringToObject(o, "path", id.str + id.path_off);
	return json_emit(o);
}

static int do_help(int argc, char **argv)
{
	return p_usage(
		"Usage: %s id check ID\n"
		"       %s id help\n"
		"\n"
		"       ID := spiffe://TRUST_DOMAIN[/PATH]\n",
		bin_name, bin_name);
}

static const struct cmd cmds[] = {
	{ "check",	do_check },
	{ "help",	do_help },
	{ 0 }
};

int do_id(int argc, char **argv)
{
	return cmd_select(cmds, argc, argv);
}
