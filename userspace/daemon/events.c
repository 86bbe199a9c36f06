// SPDX-License-Identifier: Apache-2.0
/*
 * The pipeline of a kernel event, one way and in order (docs/
 * architecture.md): the datapath hands the event over; the network
 * namespace of an enrolled workload gets a proxy (netns.c); the identity
 * stage turns the evidence into a workload and its SPIFFE ID (identity.c);
 * the caller's SVID comes from the cache (svids.c); the decision stage
 * gives the verdict (verdict.c); the flow record takes it all (flows.c)
 * and the watchers hear of it. No stage calls an earlier one. A
 * redirected connection is the proxy's: it writes that record itself.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "userspace/daemon/daemon.h"

/* What each kind of refusal the kernel reports is recorded as. */
static const enum flow_type refusal_types[] = {
	[NT_EV_REFUSED] = FLOW_REFUSED,
	[NT_EV_INBOUND_REFUSED] = FLOW_INBOUND_REFUSED,
	[NT_EV_SOCKET_REFUSED] = FLOW_SOCKET_REFUSED,
	[NT_EV_SOCKET_KILLED] = FLOW_SOCKET_KILLED,
	[NT_EV_UDP_REFUSED] = FLOW_DATAGRAM_REFUSED,
};

/* How far back a SYN observed at its listener looks for its caller's
 * connect record: the connect came first (one ring buffer, in order), so
 * only records made since, at most this many, are between them. */
#define CALLER_DEPTH	1024

/* Kinds of event one record stands for, however often they repeat. */
static bool counted(uint32_t type)
{
	return verdict__is_refusal(type) || type == NT_EV_INBOUND_OBSERVED;
}

/*
 * Refusals repeat: a SYN is retransmitted, a refused sendto() is retried;
 * a caller outside the mesh may reconnect in a loop. The same event within
 * a second of the last one counts on that record, so a workload that
 * loops cannot push everything else out of the ring.
 */
static bool repeated(struct daemon *d, const struct nt_event *e)
{
	const struct nt_event *l = &d->last_event;
	struct flow_record *f;

	if (!counted(e->type) || l->type != e->type ||
	    e->ktime - l->ktime >= NT_NSEC_PER_SEC ||
	    l->ev.tgid != e->ev.tgid || l->ev.cgroup_id != e->ev.cgroup_id ||
	    memcmp(&l->dst, &e->dst, sizeof(e->dst)) ||
	    memcmp(l->src.addr, e->src.addr, sizeof(e->src.addr)))
		return false;
	d->last_event.ktime = e->ktime;
	f = flows__get(d->flows, d->last_event_flow);
	if (f)
		flows__repeated(d, f);
	return true;
}

/* The flow record stage: what the event was, who, and the verdict. An
 * inbound event names the listener; its caller is only an address. */
static void record(struct daemon *d, const struct nt_event *e,
		   struct workload *w, const char *identity_error,
		   const struct svid *svid, const struct event_verdict *v)
{
	bool inbound = e->type == NT_EV_INBOUND_REFUSED ||
		       e->type == NT_EV_INBOUND_OBSERVED;
	struct flow_record *f = flows__open(d->flows);

	f->real_ns = clock__mono_to_real_ns(e->ktime);
	f->type = verdict__is_refusal(e->type) ? refusal_types[e->type] :
		  inbound ? FLOW_INBOUND_PLAINTEXT : FLOW_CONNECT;
	f->src = e->src;
	f->dst = e->dst;
	f->has = FLOW_HAS_SRC | FLOW_HAS_DST | FLOW_HAS_REDIRECTED;
	if (e->type == NT_EV_SOCKET_REFUSED || e->type == NT_EV_SOCKET_KILLED) {
		f->socket_info = e->info;
		f->has |= FLOW_HAS_SOCKET;
	}
	f->redirected = e->flags & NT_SOCK_REDIRECTED;
	f->who_key = inbound ? FLOW_WHO_LISTENER : FLOW_WHO_CALLER;
	f->who = w;
	flows__set_id(d->flows, inbound ? &f->dst_id : &f->src_id,
		      w ? w->id : NULL);
	f->identity_error = identity_error ? strdup(identity_error) : NULL;
	if (svid) {
		x509__serial_hex(svid->leaf, f->svid_serial, sizeof(f->svid_serial));
		x509__validity(svid->leaf, NULL, &f->svid_not_after);
		f->has |= FLOW_HAS_SVID;
	}
	snprintf(f->ns, sizeof(f->ns), "%s", w && w->attested ? w->ns : "");
	f->mode = e->ev.mode;
	if (e->type == NT_EV_INBOUND_OBSERVED)
		f->transport = FLOW_PLAINTEXT;
	f->verdict = v->verdict;
	snprintf(f->reason, sizeof(f->reason), "%s", v->reason);
	f->state = verdict__is_refusal(e->type) ? "refused" : "observed";
	d->last_event = *e;
	d->last_event_flow = f->id;
	flows__changed(d, f);
}

/*
 * Observe: a SYN reached an enrolled listener of a served namespace. Its
 * caller, if enrolled on this node, connected first: its record gets the
 * listener's identity and strict's verdict (the side that knows both).
 * A caller no connect record matches is plaintext from outside the mesh
 * or from another node, recorded here with its address; one from the
 * pod's own loopback is not (strict leaves that alone too).
 */
static void observed(struct daemon *d, const struct nt_event *e)
{
	struct flow_record *caller;
	struct workload *w = NULL;
	struct nt_err err = {};
	struct event_verdict v;
	int ret;

	caller = flows__find(d->flows, FLOW_CONNECT, &e->src, &e->dst,
			     CALLER_DEPTH);
	if (caller && caller->verdict != FLOW_UNKNOWN)
		return;		/* a retransmitted SYN: judged already */
	if ((!caller && nt_addr__is_loopback(&e->src)) || repeated(d, e))
		return;
	ret = identity__resolve(d->identity, &e->ev, &w, &err);
	verdict__observed(d->policy, caller, ret ? NULL : w, e->dst.port, &v);
	if (!caller) {
		record(d, e, w, ret ? err.msg : NULL, NULL, &v);
		return;
	}
	if (w && w->id)
		flows__set_id(d->flows, &caller->dst_id, w->id);
	workload__put(w);
	caller->verdict = v.verdict;
	snprintf(caller->reason, sizeof(caller->reason), "%s", v.reason);
	ctl_flow__publish(d, caller);
}

void events__on_event(const struct nt_event *e, void *arg)
{
	bool inbound = e->type == NT_EV_INBOUND_REFUSED;
	struct daemon *d = arg;
	const struct svid *svid = NULL;
	struct workload *w = NULL;
	struct nt_err err = {}, svid_err = {};
	struct event_verdict v;
	int ret = -ENOENT;

	/* Said once per sync, not once per record (there may be thousands). */
	if (e->type == NT_EV_LISTEN_OVERFLOW)
		daemon__sync_listeners_soon(d);
	/* An enrolled workload in a netns the proxy does not serve yet:
	 * serve it, so its next connection (or its listener) is handled. */
	if (e->ev.mode >= NT_MODE_PERMISSIVE && e->ev.tgid)
		netns__serve_pid(d, e->ev.tgid, e->ev.netns_ino);
	if (e->type == NT_EV_INBOUND_OBSERVED) {
		observed(d, e);
		return;
	}
	if (e->type != NT_EV_CONNECT && !verdict__is_refusal(e->type))
		return;
	if (e->flags & NT_SOCK_REDIRECTED || repeated(d, e))
		return;
	if (!inbound || e->ev.ns_cgroup_id)
		ret = identity__resolve(d->identity, &e->ev, &w, &err);
	/* The SVID the caller holds, as the proxy would present it. */
	if (!ret && !inbound)
		svid = svid_cache__get(d->svids, w->id, &svid_err);
	verdict__event(e, &v);
	record(d, e, w, ret && (!inbound || e->ev.ns_cgroup_id) ? err.msg : NULL,
	       svid, &v);
}
