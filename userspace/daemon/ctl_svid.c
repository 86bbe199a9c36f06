// SPDX-License-Identifier: Apache-2.0
/* Control commands of `nametag svid`: the SVIDs the daemon holds (the
 * CLI mints and verifies the rest itself). */
#include "userspace/daemon/daemon.h"

static void add_time(cJSON *o, const char *key, time_t t)
{
	char buf[TIME_ISO8601_MAX];

	time__iso8601(t, buf, sizeof(buf));
	cJSON_AddStringToObject(o, key, buf);
}

static int svid_json(const struct svid_info *s, void *arg)
{
	cJSON *o = cJSON_CreateObject();
	char serial[48];

	x509__serial_hex(s->svid->leaf, serial, sizeof(serial));
	cJSON_AddStringToObject(o, CTL_SVID_SPIFFE_ID, s->svid->id.str);
	cJSON_AddStringToObject(o, CTL_SVID_SERIAL, serial);
	add_time(o, CTL_SVID_NOT_BEFORE, s->not_before);
	add_time(o, CTL_SVID_NOT_AFTER, s->not_after);
	json__add_u64(o, CTL_SVID_USES, s->uses);
	cJSON_AddItemToArray(arg, o);
	return 0;
}

static int svid_list(struct ctl_request *r, cJSON *resp, struct nt_err *err)
{
	svid_cache__foreach(r->d->svids, svid_json,
			    cJSON_AddArrayToObject(resp, CTL_R_SVIDS));
	return 0;
}

const struct ctl_cmd ctl_svid_cmds[] = {
	{ CTL_SVID_LIST,	svid_list },
	{ NULL, NULL }
};
