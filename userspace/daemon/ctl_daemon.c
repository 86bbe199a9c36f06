// SPDX-License-Identifier: Apache-2.0
/*
 * Control commands of `nametag daemon`: the process itself. status (its
 * pid, and during an upgrade the other one's), reload (what SIGHUP does)
 * and upgrade (what SIGUSR2 does, with the outcome told to the CLI:
 * docs/process-model.md).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "userspace/daemon/daemon.h"
#include "userspace/daemon/upgrade.h"

static int status(struct ctl_request *r, cJSON *resp, struct nt_err *err)
{
	struct daemon *d = r->d;
	const char *state;
	size_t left;
	pid_t other;

	state = upgrade__state(d, &other, &left);
	cJSON_AddNumberToObject(resp, CTL_R_PID, getpid());
	cJSON_AddStringToObject(resp, CTL_R_VERSION, NAMETAG_VERSION);
	cJSON_AddStringToObject(resp, CTL_R_EXE, d->exe);
	cJSON_AddStringToObject(resp, CTL_R_STATE, state);
	cJSON_AddNumberToObject(resp, CTL_R_OTHER_PID, other);
	json__add_u64(resp, CTL_R_DRAIN_LEFT, left);
	json__add_u64(resp, CTL_R_DRAIN_TIMEOUT, d->opts.drain_secs);
	return 0;
}

static int reload(struct ctl_request *r, cJSON *resp, struct nt_err *err)
{
	if (r->d->handed_over)
		return nt_err_set(err, -EALREADY, "this process drains after an upgrade: reload the new one");
	if (daemon__reload(r->d, err))
		return -EIO;	/* @err: the first part that failed */
	cJSON_AddBoolToObject(resp, CTL_R_RELOADED, true);
	return 0;
}

/* The reply says it started; the outcome follows on the same connection
 * as one {"upgrade": ...} line (ctl_daemon__upgrade_done). */
static int upgrade(struct ctl_request *r, cJSON *resp, struct nt_err *err)
{
	int ret = upgrade__start(r->d, r->client, err);
	pid_t other;
	size_t left;

	if (ret)
		return ret;
	upgrade__state(r->d, &other, &left);
	cJSON_AddNumberToObject(resp, CTL_R_OTHER_PID, other);
	return 0;
}

void ctl_daemon__upgrade_done(struct daemon *d, pid_t pid, const char *error)
{
	cJSON *msg = cJSON_CreateObject();
	cJSON *o = cJSON_AddObjectToObject(msg, CTL_R_UPGRADE);

	if (error)
		cJSON_AddStringToObject(o, CTL_ERROR, error);
	else
		cJSON_AddNumberToObject(o, CTL_R_PID, pid);
	control__publish(d, TOPIC_UPGRADE, msg);
	cJSON_Delete(msg);
}

const struct ctl_cmd ctl_daemon_cmds[] = {
	{ CTL_DAEMON_STATUS,	status },
	{ CTL_DAEMON_RELOAD,	reload },
	{ CTL_DAEMON_UPGRADE,	upgrade },
	{ NULL, NULL }
};
