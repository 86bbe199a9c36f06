// SPDX-License-Identifier: Apache-2.0
/*
 * The CLI's offline actions (svid mint, ca rotate, bundle add and del)
 * change the state dir without the daemon: they go into the daemon's
 * audit log all the same, the file STATE/audit.json names. The log is
 * opened before the action, so an action that could not be audited is not
 * taken; the record is written, synced, after it.
 */
#include <errno.h>
#include <unistd.h>

#include "lib/ntcore.h"
#include "tools/main.h"

int audit_begin(struct audit_log **l)
{
	struct nt_err err = {};
	int ret;

	*l = NULL;
	ret = audit_log__from_state(l, state_dir, "nametag", &err);
	if (ret == -ENOENT)
		return 0;	/* the daemon keeps no audit log */
	if (ret)
		return p_err("cannot audit this action, not taken: %s", err.msg);
	return 0;
}

cJSON *audit_record(struct audit_log *l, const char *event)
{
	cJSON *r;

	if (!l)
		return NULL;
	r = audit_log__record(l, event);
	cJSON_AddNumberToObject(r, "uid", getuid());
	cJSON_AddNumberToObject(r, "pid", getpid());
	return r;
}

int audit_end(struct audit_log *l, cJSON *rec)
{
	struct nt_err err = {};
	int ret = 0;

	if (l && rec && audit_log__write(l, rec, true, &err))
		ret = p_err("the action was taken but not audited: %s", err.msg);
	else if (!l)
		cJSON_Delete(rec);
	audit_log__close(l);
	return ret;
}
