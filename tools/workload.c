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

static void print_workload(const cJSON *w, bool full)
{
	const cJSON *svid = cJSON_GetObjectItem(w, "svid"), *s;

	printf("pid %d  uid %d  gid %d  ns %s  %s\n",
	       cJSON_GetObjectItem(w, "pid")->valueint,
	       cJSON_GetObjectItem(w, "uid")->valueint,
	       cJSON_GetObjectItem(w, "gid")->valueint, str(w, "namespace"),
	       str(w, "spiffe_id"));
	printf("\texe %s\n\tcgroup %s\n", str(w, "exe"), str(w, "cgroup"));
	if (!full)
		return;
	printf("\tsha256 %s\n", str(w, "sha256"));
	if (cJSON_GetObjectItem(w, "sha256_skipped"))
		printf("\tsha256 skipped: %s\n", str(w, "sha256_skipped"));
	printf("\tidentity from %s, evidence %s\n", str(w, "identity_from"),
	       str(w, "evidence"));
	if (svid)
		printf("\tsvid serial %s  not_after %s\n", str(svid, "serial"),
		       str(svid, "not_after"));
	cJSON_ArrayForEach(s, cJSON_GetObjectItem(w, "selectors"))
		printf("\tselector %s\n", cJSON_GetStringValue(s));
}

static int do_list(int argc, char **argv)
{
	cJSON *reply, *w;

	if (argc)
		return p_err("unexpected argument '%s'", *argv);
	if (ctl_call(ctl_request("workload.list"), &reply))
		return -1;
	if (json_output)
		return ctl_emit(reply, "workloads");
	cJSON_ArrayForEach(w, cJSON_GetObjectItem(reply, "workloads"))
		print_workload(w, false);
	cJSON_Delete(reply);
	return 0;
}

static int do_show(int argc, char **argv)
{
	cJSON *req, *reply;
	unsigned long pid;
	char *end;

	if (argc == 0)
		return do_list(argc, argv);
	if (argc > 1)
		return p_err("unexpected argument '%s'", argv[1]);
	pid = strtoul(argv[0], &end, 10);
	if (*end || !pid || pid > 4194304)
		return p_err("'%s' is not a pid", argv[0]);
	req = ctl_request("workload.show");
	cJSON_AddNumberToObject(req, "pid", (double)pid);
	if (ctl_call(req, &reply))
		return -1;
	if (json_output)
		return ctl_emit(reply, "workload");
	print_workload(cJSON_GetObjectItem(reply, "workload"), true);
	cJSON_Delete(reply);
	return 0;
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
