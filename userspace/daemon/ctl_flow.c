// SPDX-License-Identifier: Apache-2.0
/*
 * Control commands of `nametag flow`, and the one place a flow record
 * (struct flow_record, typed everywhere else) becomes JSON: for list,
 * show, and the lines flow watch streams. 64-bit values go out as exact
 * integers.
 */
#include <errno.h>
#include <stdio.h>

#include "userspace/daemon/daemon.h"

static const char *const type_names[FLOW_TYPE_MAX] = {
	[FLOW_CONNECT] = "connect",
	[FLOW_REFUSED] = "refused",
	[FLOW_INBOUND_REFUSED] = "inbound-refused",
	[FLOW_SOCKET_REFUSED] = "socket-refused",
	[FLOW_SOCKET_KILLED] = "socket-killed",
	[FLOW_DATAGRAM_REFUSED] = "datagram-refused",
	[FLOW_OUTBOUND] = "outbound",
	[FLOW_INBOUND] = "inbound",
	[FLOW_INBOUND_PLAINTEXT] = "inbound-plaintext",
	[FLOW_EGRESS] = "egress",
};

static const char *const transport_names[] = {
	[FLOW_MTLS] = "mtls", [FLOW_PLAINTEXT] = "plaintext",
	[FLOW_SAME_NODE] = "same-node",
};

static const char *const verdict_names[] = {
	[FLOW_ALLOW] = "allow", [FLOW_DENY] = "deny",
	[FLOW_WOULD_DENY] = "would-deny", [FLOW_WOULD_ALLOW] = "would-allow",
	[FLOW_UNKNOWN] = "unknown",
};

/* "10.0.0.1:80"; "" for an event without that end (port 0). */
static void add_addr(cJSON *o, const char *key, const struct nt_addr *a)
{
	char buf[NT_ADDR_TEXT_MAX] = "";

	if (a->port)
		nt_addr__format(a, buf, sizeof(buf));
	cJSON_AddStringToObject(o, key, buf);
}

static void add_id(cJSON *o, const char *key, const struct spiffe_id *id)
{
	if (id)
		cJSON_AddStringToObject(o, key, id->str);
	else
		cJSON_AddNullToObject(o, key);
}

/* The caller (or listener), with the SVID this flow went out under. */
static void add_who(cJSON *o, const struct flow_record *f)
{
	char na[TIME_ISO8601_MAX];
	cJSON *w, *s;

	if (f->who_key == FLOW_WHO_NONE)
		return;
	w = f->who ? ctl_workload__json(f->who) : cJSON_CreateNull();
	if (f->who && (f->has & FLOW_HAS_SVID)) {
		time__iso8601(f->svid_not_after, na, sizeof(na));
		s = cJSON_AddObjectToObject(w, CTL_WL_SVID);
		cJSON_AddStringToObject(s, CTL_SVID_SERIAL, f->svid_serial);
		cJSON_AddStringToObject(s, CTL_SVID_NOT_AFTER, na);
	}
	cJSON_AddItemToObject(o, f->who_key == FLOW_WHO_LISTENER ?
			      CTL_FLOW_LISTENER : CTL_FLOW_CALLER, w);
}

/* What the TLS connection that carried it was, and how. */
static void add_tls(cJSON *o, const struct flow_record *f)
{
	if (f->has & FLOW_HAS_TLS) {
		cJSON_AddStringToObject(o, CTL_FLOW_TLS_VERSION, f->tls_version);
		cJSON_AddStringToObject(o, CTL_FLOW_CIPHER, f->cipher);
		cJSON_AddNumberToObject(o, CTL_FLOW_STREAM, f->stream);
		cJSON_AddNumberToObject(o, CTL_FLOW_HANDSHAKE_MS, f->handshake_ms);
	}
	if (f->has & FLOW_HAS_KTLS) {
		cJSON_AddBoolToObject(o, CTL_FLOW_KTLS_TX, f->ktls);
		cJSON_AddBoolToObject(o, CTL_FLOW_KTLS_RX, f->ktls);
	}
	if (f->has & FLOW_HAS_SPLICE)
		cJSON_AddBoolToObject(o, CTL_FLOW_SPLICE, f->splice);
	if (f->has & FLOW_HAS_BYTES) {
		json__add_u64(o, CTL_FLOW_BYTES_UP, f->bytes_up);
		json__add_u64(o, CTL_FLOW_BYTES_DOWN, f->bytes_down);
	}
	/* An upgrade's old process opened it and handed it over. */
	if (f->handed_from)
		cJSON_AddNumberToObject(o, CTL_FLOW_HANDED_FROM, f->handed_from);
}

static void add_socket(cJSON *o, uint32_t info)
{
	char buf[64];

	snprintf(buf, sizeof(buf), "family %u type %u protocol %u",
		 info >> 16, (info >> 8) & 0xff, info & 0xff);
	cJSON_AddStringToObject(o, CTL_FLOW_SOCKET, buf);
}

static cJSON *flow_json(const struct flow_record *f, bool age)
{
	cJSON *o = cJSON_CreateObject();
	char buf[TIME_ISO8601_MAX];

	json__add_u64(o, CTL_FLOW_ID, f->id);
	time__iso8601_ms(f->real_ns, buf, sizeof(buf));
	cJSON_AddStringToObject(o, CTL_FLOW_TIME, buf);
	cJSON_AddStringToObject(o, CTL_FLOW_TYPE, type_names[f->type]);
	if (f->has & FLOW_HAS_SRC)
		add_addr(o, CTL_FLOW_SRC, &f->src);
	if (f->has & FLOW_HAS_DST)
		add_addr(o, CTL_FLOW_DST, &f->dst);
	if (f->has & FLOW_HAS_REDIRECT_SRC)
		add_addr(o, CTL_FLOW_REDIRECT_SRC, &f->redirect_src);
	if (f->has & FLOW_HAS_SOCKET)
		add_socket(o, f->socket_info);
	if (f->has & FLOW_HAS_REDIRECTED)
		cJSON_AddBoolToObject(o, CTL_FLOW_REDIRECTED, f->redirected);
	add_who(o, f);
	add_id(o, CTL_FLOW_SRC_ID, f->src_id);
	add_id(o, CTL_FLOW_DST_ID, f->dst_id);
	if (f->identity_error)
		cJSON_AddStringToObject(o, CTL_FLOW_IDENTITY_ERROR, f->identity_error);
	if (f->has & FLOW_HAS_OWNER) {
		json__add_u64(o, CTL_FLOW_CGROUP_ID, f->cgroup_id);
		cJSON_AddNumberToObject(o, CTL_FLOW_UID, f->uid);
	}
	cJSON_AddStringToObject(o, CTL_FLOW_NAMESPACE, f->ns);
	cJSON_AddStringToObject(o, CTL_FLOW_MODE, mode__name(f->mode));
	if (f->transport != FLOW_TRANSPORT_NONE)
		cJSON_AddStringToObject(o, CTL_FLOW_TRANSPORT,
					transport_names[f->transport]);
	if (f->fallback)
		cJSON_AddStringToObject(o, CTL_FLOW_FALLBACK, f->fallback);
	if (f->verdict != FLOW_VERDICT_NONE)
		cJSON_AddStringToObject(o, CTL_FLOW_VERDICT, verdict_names[f->verdict]);
	if (f->reason[0])
		cJSON_AddStringToObject(o, CTL_FLOW_REASON, f->reason);
	cJSON_AddStringToObject(o, CTL_FLOW_STATE, f->state ? f->state : "open");
	if (f->has & FLOW_HAS_COUNT)
		json__add_u64(o, CTL_FLOW_COUNT, f->count);
	add_tls(o, f);
	if (age)
		cJSON_AddNumberToObject(o, CTL_FLOW_AGE,
					(double)((clock__mono_ns() - f->start_mono_ns) /
						 1000000) / 1000.0);
	return o;
}

void ctl_flow__publish(struct daemon *d, const struct flow_record *f)
{
	cJSON *msg = cJSON_CreateObject();

	cJSON_AddItemToObject(msg, CTL_R_FLOW, flow_json(f, false));
	control__publish(d, TOPIC_FLOWS, msg);
	cJSON_Delete(msg);
}

static int add_flow(const struct flow_record *f, void *arg)
{
	cJSON_AddItemToArray(arg, flow_json(f, true));
	return 0;
}

static int flow_list(struct ctl_request *r, cJSON *resp, struct nt_err *err)
{
	flows__foreach(r->d->flows, add_flow,
		       cJSON_AddArrayToObject(resp, CTL_R_FLOWS));
	return 0;
}

static int flow_show(struct ctl_request *r, cJSON *resp, struct nt_err *err)
{
	const struct flow_record *f;
	uint64_t id;

	if (ctl__uint(r, CTL_K_ID, &id, err))
		return -EINVAL;
	f = flows__get(r->d->flows, id);
	if (!f)
		return nt_err_set(err, -ENOENT, "no flow %llu (the table keeps the latest %zu)",
				  (unsigned long long)id, flows__size(r->d->flows));
	cJSON_AddItemToObject(resp, CTL_R_FLOW, flow_json(f, true));
	return 0;
}

/* The reply confirms the subscription; flows follow as {"flow": ...}
 * lines until the client goes away. */
static int flow_watch(struct ctl_request *r, cJSON *resp, struct nt_err *err)
{
	control__subscribe(r->client, TOPIC_FLOWS);
	cJSON_AddBoolToObject(resp, CTL_R_WATCHING, true);
	return 0;
}

const struct ctl_cmd ctl_flow_cmds[] = {
	{ CTL_FLOW_LIST,	flow_list },
	{ CTL_FLOW_SHOW,	flow_show },
	{ CTL_FLOW_WATCH,	flow_watch },
	{ NULL, NULL }
};
