// SPDX-License-Identifier: Apache-2.0
/* nametag daemon: the nametagd process itself: its status, a reload and an
 * upgrade in place (docs/process-model.md). */
#include <unistd.h>

#include "tools/main.h"

static double num(const cJSON *o, const char *key)
{
	return cJSON_GetNumberValue(cJSON_GetObjectItem(o, key));
}

static const char *str(const cJSON *o, const char *key)
{
	return cJSON_GetStringValue(cJSON_GetObjectItem(o, key)) ?: "-";
}

static void print_status(const cJSON *r)
{
	printf("pid %.0f  %s  v%s  %s\n", num(r, CTL_R_PID), str(r, CTL_R_STATE),
	       str(r, CTL_R_VERSION), str(r, CTL_R_EXE));
	if (num(r, CTL_R_OTHER_PID) > 0)
		printf("\tnew process pid %.0f\n", num(r, CTL_R_OTHER_PID));
	if (num(r, CTL_R_DRAIN_LEFT) > 0)
		printf("\t%.0f connections left to drain\n", num(r, CTL_R_DRAIN_LEFT));
	printf("\tdrain timeout %.0f s\n", num(r, CTL_R_DRAIN_TIMEOUT));
}

static int do_daemon_status(int argc, char **argv)
{
	NO_MORE_ARGS(0);
	return ctl_print_reply(ctl_request(CTL_DAEMON_STATUS), print_status);
}

static int do_reload(int argc, char **argv)
{
	NO_MORE_ARGS(0);
	return ctl_print_reply(ctl_request(CTL_DAEMON_RELOAD), NULL);
}

/* The daemon answers at once that it started the new process, then once
 * more with the outcome: the new pid, or why the old one keeps serving. */
static int do_upgrade(int argc, char **argv)
{
	cJSON *msg, *up, *err;
	int fd, ret;

	NO_MORE_ARGS(0);
	fd = ctl_connect();
	if (fd < 0)
		return -1;
	if (ctl_send(fd, ctl_request(CTL_DAEMON_UPGRADE), NULL, 0) ||
	    ctl_recv(fd, &msg)) {
		close(fd);
		return -1;
	}
	cJSON_Delete(msg);
	ret = ctl_recv(fd, &msg);
	close(fd);
	if (ret)
		return p_err("nametagd ended the connection before the upgrade's outcome");
	up = cJSON_DetachItemFromObject(msg, CTL_R_UPGRADE);
	cJSON_Delete(msg);
	err = cJSON_GetObjectItem(up, CTL_ERROR);
	if (cJSON_IsString(err)) {
		ret = p_err("upgrade failed: %s", err->valuestring);
		cJSON_Delete(up);
		return ret;
	}
	if (json_output)
		return json_emit(up);
	printf("upgraded: nametagd pid %.0f serves; the old process drains its connections, then exits\n",
	       num(up, CTL_R_PID));
	cJSON_Delete(up);
	return 0;
}

static int do_help(int argc, char **argv)
{
	return p_usage(
		"Usage: %s daemon { show | status }\n"
		"       %s daemon reload\n"
		"       %s daemon upgrade\n"
		"       %s daemon help\n"
		"\n"
		"       status shows nametagd's pid and state (serving, upgrading, draining).\n"
		"       reload does what SIGHUP does: the config file, the log file, the\n"
		"       policy and the registration entries from the state dir, a rescan of\n"
		"       cgroups and network namespaces, the trust bundles.\n"
		"       upgrade does what SIGUSR2 does: the binary on disk takes the\n"
		"       listeners and the control socket over; the old process lets its\n"
		"       connections finish, then exits. It waits for the outcome: the new\n"
		"       pid, or why the old process keeps serving.\n",
		bin_name, bin_name, bin_name, bin_name);
}

static const struct cmd cmds[] = {
	{ "status",	do_daemon_status },
	{ "show",	do_daemon_status },
	{ "reload",	do_reload },
	{ "upgrade",	do_upgrade },
	{ "help",	do_help },
	{ 0 }
};

int do_daemon(int argc, char **argv)
{
	return cmd_select(cmds, argc, argv);
}
