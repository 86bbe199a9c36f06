// SPDX-License-Identifier: Apache-2.0
/*
 * The pipeline of a kernel event, one way and in order (docs/
 * architecture.md): the datapath hands the event over; the network
 * namespace of an enrolled workload gets a proxy (netns.c); the identity
 * stage turns the evidence into a workload and its SPIFFE ID (identity.c);
 * the caller's SVID comes from the cache (svids.c); the decision stage
 * gives the verdict; the flow record takes it all (flows.c) and the
 * watchers hear of it. No stage calls an earlier one. A redirected
 * connection is the proxy's: it writes that record itself.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "userspace/daemon/daemon.h"

/* What each kind of refusal the kernel reports is called, and why. */
static const struct {
	enum flow_type type;
	const char *reason;
} refusals[] = {
	[NT_EV_REFUSED] = { FLOW_REFUSED,
		"strict mode and no node proxy in this network namespace (nametagd is not running, or runs with --manual-netns): refused, never plaintext" },
	[NT_EV_INBOUND_REFUSED] = { FLOW_INBOUND_REFUSED,
		"strict mode and no node proxy to take it: refused, never plaintext" },
	[NT_EV_SOCKET_REFUSED] = { FLOW_SOCKET_REFUSED,
		"strict mode: this kind of socket would bypass the node proxy" },
	[NT_EV_SOCKET_KILLED] = { FLOW_SOCKET_KILLED,
		"strict mode: this socket family bypasses every inet hook; the caller was killed" },
	[NT_EV_UDP_REFUSED] = { FLOW_DATAGRAM_REFUSED,
		"strict mode: no egress rule allows plaintext to this destination" },
};

#define OVERFLOW_REASON	"the network namespace's listener table overflowed: every SYN without a record is refused"
#define NOT_SERVED_REASON	"strict mode and nametagd could not serve this network namespace (the network namespace limit, or an error in its log): refused, never plaintext"

static bool is_refusal(uint32_t type)
{
	return type < ARRAY_SIZE(refusals) && refusals[type].type;
}

/*
 * Refusals repeat: a SYN is retransmitted, a refused sendto() is retried.
 * The same refusal within a second of the last one counts on that record,
 * so a workload that loops cannot push everything else out of the ring.
 */
static bool repeated(struct daemon *d, const struct nt_event *e)
{
	const struct nt_event *l = &d->last_event;
	struct flow_record *f;

	if (!is_refusal(e->type) || l->type != e->type ||
	    e->ktime - l->ktime >= NT_NSEC_PER_SEC ||
	    l->ev.tgid != e->ev.tgid || l->ev.cgroup_id != e->ev.cgroup_id ||
	    memcmp(&l->dst, &e->dst, sizeof(e->dst)) ||
	    memcmp(l->src.addr, e->src.addr, sizeof(e->src.addr)))
		return false;
	d->last_event.ktime = e->ktime;
	f = flows__get(d->flows, d->last_event_flow);
	if (f) {
		f->count = f->has & FLOW_HAS_COUNT ? f->count + 1 : 2;
		f->has |= FLOW_HAS_COUNT;
	}
	return true;
}

/*
 * The decision stage: the verdict strict mode would give this flow. A
 * refusal is the kernel's own deny. For a connect the kernel only saw,
 * the verdict is a fixed default deny, not yet policy__decide() on the
 * policy in force with both identities (issue #8 makes it that): this is
 * the one place that changes then.
 */
static void decide(const struct policy *policy, const struct nt_event *e,
		   const struct workload *w, struct decision *d)
{
	memset(d, 0, sizeof(*d));
	d->verdict = VERDICT_DENY;
	d->rule = -1;
	if (is_refusal(e->type)) {
		d->enforced = true;
		snprintf(d->reason, sizeof(d->reason), "%s",
			 e->type == NT_EV_INBOUND_REFUSED && e->info ?
			 OVERFLOW_REASON :
			 e->type == NT_EV_REFUSED && e->info == NT_REFUSE_NOT_SERVED ?
			 NOT_SERVED_REASON : refusals[e->type].reason);
		return;
	}
	d->enforced = e->ev.mode == NT_MODE_STRICT;
	snprintf(d->reason, sizeof(d->reason), "default deny: no allow rule");
}

/* The flow record stage: what the event was, who, and the verdict. */
static void record(struct daemon *d, const struct nt_event *e,
		   struct workload *w, const char *identity_error,
		   const struct svid *svid, const struct decision *dec)
{
	bool inbound = e->type == NT_EV_INBOUND_REFUSED;
	struct flow_record *f = flows__open(d->flows);

	f->real_ns = clock__mono_to_real_ns(e->ktime);
	f->type = is_refusal(e->type) ? refusals[e->type].type : FLOW_CONNECT;
	f->src = e->src;
	f->dst = e->dst;
	f->has = FLOW_HAS_SRC | FLOW_HAS_DST | FLOW_HAS_REDIRECTED;
	if (e->type == NT_EV_SOCKET_REFUSED || e->type == NT_EV_SOCKET_KILLED) {
		f->socket_info = e->info;
		f->has |= FLOW_HAS_SOCKET;
	}
	f->redirected = e->flags & NT_SOCK_REDIRECTED;
	/* An inbound refusal names the listener it protected; the caller is
	 * only an address. Observe mode sees no peer certificate: the
	 * destination of a connect is known by address only. */
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
	f->verdict = dec->verdict == VERDICT_ALLOW ? FLOW_ALLOW :
		     dec->enforced ? FLOW_DENY : FLOW_WOULD_DENY;
	snprintf(f->reason, sizeof(f->reason), "%s", dec->reason);
	f->state = is_refusal(e->type) ? "refused" : "observed";
	d->last_event = *e;
	d->last_event_flow = f->id;
	ctl_flow__publish(d, f);
}

void events__on_event(const struct nt_event *e, void *arg)
{
	bool inbound = e->type == NT_EV_INBOUND_REFUSED;
	struct daemon *d = arg;
	const struct svid *svid = NULL;
	struct workload *w = NULL;
	struct nt_err err = {}, svid_err = {};
	struct decision dec;
	int ret = -ENOENT;

	/* Said once per sync, not once per record (there may be thousands). */
	if (e->type == NT_EV_LISTEN_OVERFLOW)
		daemon__sync_listeners_soon(d);
	/* An enrolled workload in a netns the proxy does not serve yet (the
	 * kernel says so at exec, fork and cgroup attach: NT_EV_NETNS):
	 * serve it, so its connections (held ones included) and its
	 * listeners are handled. */
	if (e->ev.mode >= NT_MODE_PERMISSIVE && e->ev.tgid &&
	    e->type != NT_EV_REFUSED)
		netns__want(d, e->ev.tgid, e->ev.netns_ino,
			    e->type == NT_EV_NETNS ? e->ktime : 0);
	if (e->type != NT_EV_CONNECT && !is_refusal(e->type))
		return;
	if (e->flags & NT_SOCK_REDIRECTED || repeated(d, e))
		return;
	if (!inbound || e->ev.ns_cgroup_id)
		ret = identity__resolve(d->identity, &e->ev, &w, &err);
	/* The SVID the caller holds, as the proxy would present it. */
	if (!ret && !inbound)
		svid = svid_cache__get(d->svids, w->id, &svid_err);
	decide(d->policy, e, w, &dec);
	record(d, e, w, ret && (!inbound || e->ev.ns_cgroup_id) ? err.msg : NULL,
	       svid, &dec);
}
