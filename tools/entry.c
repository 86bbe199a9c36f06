// SPDX-License-Identifier: Apache-2.0
/* nametag entry: registration entries, a SPIFFE ID for the workloads that
 * match all of its selectors. */
#include <string.h>

#include "tools/main.h"

static void print_entry(const cJSON *e)
{
	const cJSON *s;

	printf("%s\n", cJSON_GetStringValue(cJSON_GetObjectItem(e, CTL_K_SPIFFE_ID)));
	cJSON_ArrayForEach(s, cJSON_GetObjectItem(e, CTL_K_SELECTORS))
		printf("\t%s\n", cJSON_GetStringValue(s));
}

static int do_add(int argc, char **argv)
{
	struct nt_err err = {};
	struct spiffe_id id;
	cJSON *req, *sels;
	const char *sel;

	REQ_ARGS(1);
	/* Check here too, so a typo fails before the daemon is asked. */
	if (spiffe_id__parse(&id, *argv, strlen(*argv), &err))
		return p_err("invalid SPIFFE ID: %s", err.msg);
	NEXT_ARG();
	req = ctl_request(CTL_ENTRY_ADD);
	cJSON_AddStringToObject(req, CTL_K_SPIFFE_ID, id.str);
	sels = cJSON_AddArrayToObject(req, CTL_K_SELECTORS);
	while (argc > 0) {
		if (strcmp(*argv, "--selector")) {
			cJSON_Delete(req);
			return p_err("unknown argument '%s' for 'entry add'", *argv);
		}
		if (argc < 2) {
			cJSON_Delete(req);
			return p_err("--selector needs TYPE:KEY:VALUE");
		}
		sel = argv[1];
		cJSON_AddItemToArray(sels, cJSON_CreateString(sel));
		argc -= 2;
		argv += 2;
	}
	if (!cJSON_GetArraySize(sels)) {
		cJSON_Delete(req);
		return p_err("'entry add' needs at least one --selector TYPE:KEY:VALUE");
	}
	return ctl_print(req, CTL_R_ENTRY, print_entry);
}

static int do_list(int argc, char **argv)
{
	NO_MORE_ARGS(0);
	return ctl_print(ctl_request(CTL_ENTRY_LIST), CTL_R_ENTRIES, print_entry);
}

static int do_del(int argc, char **argv)
{
	REQ_ARGS(1);
	NO_MORE_ARGS(1);
	if (no_options(argc, argv))
		return -1;
	return ctl_delete(CTL_ENTRY_DEL, CTL_K_SPIFFE_ID, argv[0], "entry");
}

static int do_help(int argc, char **argv)
{
	return p_usage(
		"Usage: %s entry { show | list }\n"
		"       %s entry add ID --selector TYPE:KEY:VALUE [--selector ...]\n"
		"       %s entry { del | delete } ID\n"
		"       %s entry help\n"
		"\n"
		"       TYPE:KEY := { unix:uid | unix:gid | unix:user | unix:group |\n"
		"                     unix:path | unix:sha256 | cgroup:path |\n"
		"                     systemd:unit | netns:ino | ns:name }\n"
		"       A workload gets the ID of the matching entry with the most\n"
		"       selectors; an entry that would tie with another is refused.\n",
		bin_name, bin_name, bin_name, bin_name);
}

static const struct cmd cmds[] = {
	{ "show",	do_list },
	{ "list",	do_list },
	{ "add",	do_add },
	{ "del",	do_del },
	{ "delete",	do_del },
	{ "help",	do_help },
	{ 0 }
};

int do_entry(int argc, char **argv)
{
	return cmd_select(cmds, argc, argv);
}
