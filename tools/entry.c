// SPDX-License-Identifier: Apache-2.0
/* nametag entry: registration entries, a SPIFFE ID for the workloads that
 * match all of its selectors. */
#include <stdlib.h>
#include <string.h>

#include "tools/main.h"

static void print_entry(const cJSON *e)
{
	const cJSON *s;

	printf("%s\n", cJSON_GetStringValue(cJSON_GetObjectItem(e, CTL_K_SPIFFE_ID)));
	cJSON_ArrayForEach(s, cJSON_GetObjectItem(e, CTL_K_SELECTORS))
		printf("\t%s\n", cJSON_GetStringValue(s));
}

/* entry add with --etcd: the same arguments, plus --hosts. */
static int fleet_add(int argc, char **argv)
{
	struct fleet_entry *e = calloc(1, sizeof(*e));
	const char *hosts = "*";
	struct nt_err err = {};
	int ret = 0;

	if (!e)
		return p_err("out of memory");
	if (spiffe_id__parse(&e->id, *argv, strlen(*argv), &err))
		ret = p_err("invalid SPIFFE ID: %s", err.msg);
	for (NEXT_ARG(); !ret && argc > 0; argc -= 2, argv += 2) {
		if (argc < 2)
			ret = p_err("%s needs a value", *argv);
		else if (!strcmp(*argv, "--hosts"))
			hosts = argv[1];
		else if (strcmp(*argv, "--selector"))
			ret = p_err("unknown argument '%s' for 'entry add'", *argv);
		else if (e->nselectors == FLEET_SELECTORS_MAX ||
			 strlen(argv[1]) >= sizeof(e->selectors[0]))
			ret = p_err("too many or too long selectors");
		else
			strcpy(e->selectors[e->nselectors++], argv[1]);
	}
	if (!ret && !e->nselectors)
		ret = p_err("'entry add' needs at least one --selector TYPE:KEY:VALUE");
	if (!ret && fleet_hosts__parse(&e->hosts, hosts, &err))
		ret = p_err("--hosts: %s", err.msg);
	if (!ret)
		ret = fleet_entry_write(e, false);
	free(e);
	return ret;
}

static int do_add(int argc, char **argv)
{
	struct nt_err err = {};
	struct spiffe_id id;
	cJSON *req, *sels;
	const char *sel;

	REQ_ARGS(1);
	if (etcd_cli.url)
		return fleet_add(argc, argv);
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
	if (etcd_cli.url) {
		static struct fleet_entry e;
		struct nt_err err = {};

		if (spiffe_id__parse(&e.id, argv[0], strlen(argv[0]), &err))
			return p_err("invalid SPIFFE ID: %s", err.msg);
		return fleet_entry_write(&e, true);
	}
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
		"       selectors; an entry that would tie with another is refused.\n"
		"       With --etcd URL, add also takes --hosts NODE,... (default *).\n",
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
