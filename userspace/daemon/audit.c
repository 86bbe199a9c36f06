// SPDX-License-Identifier: Apache-2.0
/*
 * nametagd --audit-log FILE: what an auditor asks afterwards, one JSON
 * line per event (docs/operations.md, Audit log): an SVID issued and the
 * evidence it was issued on, a deny, a policy load and who made it, a
 * namespace's change of mode, a CA rotation and the bundle change it
 * brings. The writer is lib/'s (shared with the CLI's offline actions);
 * this file makes the records from the daemon's typed state, an edge
 * like the control socket.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "userspace/daemon/daemon.h"

#define SOURCE "nametagd"

static void put(struct daemon *d, cJSON *rec, bool sync)
{
	struct nt_err err = {};

	if (audit_log__write(d->audit, rec, sync, &err))
		pr_err("%s", err.msg);
}

int audit__open(struct daemon *d, struct nt_err *err)
{
	const char *path = d->opts.audit_log;
	cJSON *r;
	int ret;

	if (!path)	/* the CLI must not write to a log nobody keeps */
		return audit_log__set_pointer(d->opts.state_dir, NULL, err);
	ret = audit_log__open(&d->audit, path, SOURCE, err);
	if (!ret)
		ret = audit_log__set_pointer(d->opts.state_dir, path, err);
	if (ret)
		return ret;
	r = audit_log__record(d->audit, "start");
	cJSON_AddStringToObject(r, "version", NAMETAG_VERSION);
	cJSON_AddStringToObject(r, "trust_domain", node_ca__trust_domain(d->ca));
	put(d, r, true);
	return 0;
}

void audit__close(struct daemon *d)
{
	audit_log__close(d->audit);
	d->audit = NULL;
}

void audit__reopen(struct daemon *d)
{
	struct nt_err err = {};

	if (!d->audit)
		return;
	if (audit_log__reopen(d->audit, &err))
		pr_err("%s (still writing to the old file)", err.msg);
	else
		pr_info("audit log %s reopened", audit_log__path(d->audit));
}

void audit__flush(struct daemon *d)
{
	audit_log__flush(d->audit);
}

const char *audit__path(const struct daemon *d)
{
	return d->audit ? audit_log__path(d->audit) : NULL;
}

static void add_evidence(cJSON *r, const struct workload *w)
{
	cJSON *e = cJSON_AddObjectToObject(r, "evidence");

	cJSON_AddNumberToObject(e, "pid", w->pid);
	cJSON_AddNumberToObject(e, "uid", w->uid);
	cJSON_AddNumberToObject(e, "gid", w->gid);
	if (!w->attested)
		return;
	cJSON_AddStringToObject(e, "exe", w->exe);
	cJSON_AddStringToObject(e, "sha256", w->sha256);
	cJSON_AddStringToObject(e, "cgroup", w->cgroup);
	cJSON_AddStringToObject(e, "namespace", w->ns);
}

void audit__svid(struct daemon *d, const struct svid *s)
{
	const struct workload *w = identity__last(d->identity);
	char serial[48], stamp[TIME_ISO8601_MAX];
	time_t not_after = 0;
	cJSON *r;

	if (!d->audit)
		return;
	r = audit_log__record(d->audit, "svid_issued");
	x509__serial_hex(s->leaf, serial, sizeof(serial));
	x509__validity(s->leaf, NULL, &not_after);
	time__iso8601(not_after, stamp, sizeof(stamp));
	cJSON_AddStringToObject(r, "spiffe_id", s->id.str);
	cJSON_AddStringToObject(r, "serial", serial);
	cJSON_AddStringToObject(r, "not_after", stamp);
	/* The workload whose connection made the daemon mint it. */
	if (w && w->id && spiffe_id__equal(w->id, &s->id))
		add_evidence(r, w);
	else
		cJSON_AddNullToObject(r, "evidence");
	put(d, r, false);
}

static void add_id(cJSON *r, const char *key, const struct spiffe_id *id)
{
	if (id)
		cJSON_AddStringToObject(r, key, id->str);
	else
		cJSON_AddNullToObject(r, key);
}

void audit__flow(struct daemon *d, const struct flow_record *f, uint8_t *mark)
{
	char addr[NT_ADDR_TEXT_MAX];
	cJSON *r;

	if (!d->audit || f->verdict != FLOW_DENY || *mark & FLOW_MARK_AUDITED)
		return;
	*mark |= FLOW_MARK_AUDITED;
	r = audit_log__record(d->audit, "deny");
	json__add_u64(r, "flow", f->id);
	add_id(r, "src_spiffe_id", f->src_id);
	add_id(r, "dst_spiffe_id", f->dst_id);
	cJSON_AddStringToObject(r, "reason", f->reason);
	cJSON_AddStringToObject(r, "namespace", f->ns);
	cJSON_AddStringToObject(r, "mode", mode__name(f->mode));
	if (f->has & FLOW_HAS_DST) {
		nt_addr__format(&f->dst, addr, sizeof(addr));
		cJSON_AddStringToObject(r, "dst", addr);
	}
	put(d, r, false);
}

static void add_peer(cJSON *r, const struct ctl_request *q)
{
	cJSON_AddNumberToObject(r, "uid", q->peer_uid);
	cJSON_AddNumberToObject(r, "pid", q->peer_pid);
}

void audit__policy(struct daemon *d, const struct ctl_request *q,
		   const char *text, size_t namespaces)
{
	unsigned char md[32];
	char hex[65];
	unsigned int n = 0, i;
	cJSON *r;

	if (!d->audit)
		return;
	EVP_Digest(text, strlen(text), md, &n, EVP_sha256(), NULL);
	for (i = 0; i < n && i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	hex[2 * i] = '\0';
	r = audit_log__record(d->audit, "policy_load");
	cJSON_AddStringToObject(r, "sha256", hex);
	cJSON_AddNumberToObject(r, "namespaces", (double)namespaces);
	add_peer(r, q);
	put(d, r, true);
}

void audit__mode(struct daemon *d, const struct ctl_request *q,
		 const struct ns *n, enum nt_mode old)
{
	cJSON *r;

	if (!d->audit)
		return;
	r = audit_log__record(d->audit, "namespace_mode");
	cJSON_AddStringToObject(r, "namespace", n->name);
	cJSON_AddStringToObject(r, "from", mode__name(old));
	cJSON_AddStringToObject(r, "to", mode__name(n->mode));
	add_peer(r, q);
	put(d, r, true);
}

void audit__ca(struct daemon *d, enum ca_step step)
{
	const struct bundle *b = node_ca__bundle(d->ca);
	cJSON *r;

	if (!d->audit || step == CA_STEP_NONE)
		return;
	r = audit_log__record(d->audit, "ca_rotation");
	cJSON_AddStringToObject(r, "step", step == CA_STEP_PREPARED ?
				"prepared" : "activated");
	cJSON_AddStringToObject(r, "trust_domain", node_ca__trust_domain(d->ca));
	put(d, r, true);
	r = audit_log__record(d->audit, "bundle_change");
	cJSON_AddStringToObject(r, "trust_domain", node_ca__trust_domain(d->ca));
	json__add_u64(r, "sequence", b->sequence);
	put(d, r, true);
}
