// SPDX-License-Identifier: Apache-2.0
/* nametag workload: the processes of enrolled namespaces and who the
 * kernel says they are. */
#include <stdlib.h>
#include <string.h>

#include "tools/main.h"

static const char *str(const cJSON *o, const char *key)
{
	const char *s = cJSON_GetStringValue(cJSON_GetObjectItem(o, key));

	return s && *s ? s : "-";
}

static int num(const cJSON *o, const char *key)
{
	const cJSON *it = cJSON_GetObjectItem(o, key);

	return cJSON_IsNumber(it) ? it->valueint : -1;
}

/* A line of `workload list`. */
static void print_workload(const cJSON *w)
{
	printf("pid %d  uid %d  gid %d  ns %s  %s\n", num(w, CTL_WL_PID),
	       num(w, CTL_WL_UID), num(w, CTL_WL_GID), str(w, CTL_WL_NAMESPACE),
	       str(w, CTL_WL_SPIFFE_ID));
	printf("\texe %s\n\tcgroup %s\n", str(w, CTL_WL_EXE),
	       str(w, CTL_WL_CGROUP));
}

/* `workload show`: all of it. */
static void print_workload_full(const cJSON *w)
{
	const cJSON *svid = cJSON_GetObjectItem(w, CTL_WL_SVID), *s;

	print_workload(w);
	printf("\tsha256 %s\n", str(w, CTL_WL_SHA256));
	if (cJSON_GetObjectItem(w, CTL_WL_SHA256_SKIPPED))
		printf("\tsha256 skipped: %s\n", str(w, CTL_WL_SHA256_SKIPPED));
	printf("\tidentity from %s, evidence %s\n", str(w, CTL_WL_IDENTITY_FROM),
	       str(w, CTL_WL_EVIDENCE));
	if (svid)
		printf("\tsvid serial %s  not_after %s\n", str(svid, CTL_SVID_SERIAL),
		       str(svid, CTL_SVID_NOT_AFTER));
	cJSON_ArrayForEach(s, cJSON_GetObjectItem(w, CTL_WL_SELECTORS))
		printf("\tselector %s\n", cJSON_GetStringValue(s));
}

static int do_list(int argc, char **argv)
{
	NO_MORE_ARGS(0);
	return ctl_print(ctl_request(CTL_WORKLOAD_LIST), CTL_R_WORKLOADS,
			 print_workload);
}

static int do_show(int argc, char **argv)
{
	unsigned long pid;
	cJSON *req;
	char *end;

	if (argc == 0)
		return do_list(argc, argv);
	NO_MORE_ARGS(1);
	pid = strtoul(argv[0], &end, 10);
	if (*end || !pid || pid > 4194304)
		return p_err("'%s' is not a pid", argv[0]);
	req = ctl_request(CTL_WORKLOAD_SHOW);
	cJSON_AddNumberToObject(req, CTL_K_PID, (double)pid);
	return ctl_print(req, CTL_R_WORKLOAD, print_workload_full);
}

static int do_help(int argc, char **argv)
{
	return p_usage(
		"Usage: %s workload list\n"
		"       %s workload show PID\n"
		"       %s workload help\n",
		bin_name, bin_name, bin_name);
}

static const struct cmd cmds[] = {
	{ "list",	do_list },
	{ "show",	do_show },
	{ "help",	do_help },
	{ 0 }
};

int do_workload(int argc, char **argv)
{
	return cmd_select(cmds, argc, argv);
}
