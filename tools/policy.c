// SPDX-License-Identifier: Apache-2.0
/* nametag policy: SPIFFE-ID allow/deny rules held by nametagd. */
#include <stdlib.h>
#include <string.h>

#include "enforce/enforce.h"
#include "tools/main.h"

#define POLICY_FILE_MAX (4u << 20)

static void print_loaded(const cJSON *reply)
{
	printf("policy loaded: %.0f namespaces\n",
	       cJSON_GetNumberValue(cJSON_GetObjectItem(reply, CTL_R_NAMESPACES)));
}

static void print_policy(const cJSON *p)
{
	char *s = cJSON_Print(p);

	if (s)
		printf("%s\n", s);
	cJSON_free(s);
}

static void print_check(const cJSON *reply)
{
	printf("%s (namespace %s): %s\n",
	       cJSON_GetStringValue(cJSON_GetObjectItem(reply, CTL_R_VERDICT)),
	       cJSON_GetStringValue(cJSON_GetObjectItem(reply, CTL_R_NAMESPACE)),
	       cJSON_GetStringValue(cJSON_GetObjectItem(reply, CTL_R_REASON)));
}

static int do_load(int argc, char **argv)
{
	struct nt_err err = {};
	struct policy *p = NULL;
	char *buf = NULL;
	cJSON *req;
	size_t len;

	const char *rev = NULL;
	int ret;

	REQ_ARGS(1);
	if (etcd_cli.url && argc == 3 && !strcmp(argv[1], "--revision"))
		rev = argv[2];
	else
		NO_MORE_ARGS(1);
	if (state__read(argv[0], POLICY_FILE_MAX, false, &buf, &len, &err))
		return p_err("%s", err.msg);
	/* Validate here first, for an error that names the place before the
	 * daemon is bothered; the daemon validates again before the swap. */
	if (policy__parse(&p, buf, len, &err)) {
		free(buf);
		return p_err("%s: %s (the policy in force is unchanged)", argv[0],
			     err.msg);
	}
	policy__free(p);
	if (etcd_cli.url) {
		ret = fleet_policy_write(buf, rev);
		free(buf);
		return ret;
	}
	req = ctl_request(CTL_POLICY_LOAD);
	cJSON_AddStringToObject(req, CTL_K_POLICY, buf);
	free(buf);
	return ctl_print_reply(req, print_loaded);
}

static int do_show(int argc, char **argv)
{
	NO_MORE_ARGS(0);
	if (etcd_cli.url)
		return fleet_policy_show();
	return ctl_print(ctl_request(CTL_POLICY_SHOW), CTL_R_POLICY, print_policy);
}

static int do_check(int argc, char **argv)
{
	const char *ns = NULL;
	unsigned long port;
	cJSON *req;
	char *end;

	REQ_ARGS(3);
	port = strtoul(argv[2], &end, 10);
	if (*end || port < 1 || port > 65535)
		return p_err("'%s' is not a port", argv[2]);
	req = ctl_request(CTL_POLICY_CHECK);
	cJSON_AddStringToObject(req, CTL_K_FROM, argv[0]);
	cJSON_AddStringToObject(req, CTL_K_TO, argv[1]);
	cJSON_AddNumberToObject(req, CTL_K_PORT, (double)port);
	argc -= 3;
	argv += 3;
	while (argc > 0) {
		if (strcmp(*argv, "--ns")) {
			cJSON_Delete(req);
			return p_err("unknown argument '%s' for 'policy check'", *argv);
		}
		if (argc < 2) {
			cJSON_Delete(req);
			return p_err("--ns needs a namespace name");
		}
		ns = argv[1];
		argc -= 2;
		argv += 2;
	}
	if (ns)
		cJSON_AddStringToObject(req, CTL_K_NS, ns);
	return ctl_print_reply(req, print_check);
}

static int do_help(int argc, char **argv)
{
	return p_usage(
		"Usage: %s policy { show | list }\n"
		"       %s policy load FILE\n"
		"       %s policy check FROM TO PORT [--ns NAME]\n"
		"       %s policy help\n"
		"\n"
		"       load validates the whole file and swaps it in atomically; an\n"
		"       invalid file changes nothing. Flows the new policy denies are closed.\n"
		"       check is a dry run in strict mode: FROM is a SPIFFE ID or '-' (no\n"
		"       verified peer), TO a SPIFFE ID; the namespace comes from TO's\n"
		"       ns/NAME path unless --ns is given. File format: docs/policy.md.\n"
		"       With --etcd URL: show prints the policy's revision, load writes\n"
		"       the fleet's (load FILE --revision REV: only if unchanged since REV).\n",
		bin_name, bin_name, bin_name, bin_name);
}

static const struct cmd cmds[] = {
	{ "show",	do_show },
	{ "list",	do_show },
	{ "load",	do_load },
	{ "check",	do_check },
	{ "help",	do_help },
	{ 0 }
};

int do_policy(int argc, char **argv)
{
	return cmd_select(cmds, argc, argv);
}
