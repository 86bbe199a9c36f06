// SPDX-License-Identifier: Apache-2.0
/*
 * The decision stage of a kernel event (docs/architecture.md): the verdict
 * strict mode gives the flow, applied (a refusal is the kernel's own deny)
 * or, in observe and permissive, only recorded as what strict would do.
 * Where both identities are known the verdict is policy__decide() on the
 * policy in force, the same call the proxy makes in strict, so a
 * would-verdict predicts strict's. Where observe cannot know the
 * destination's identity it says so rather than guessing.
 */
#include <stdio.h>
#include <string.h>

#include "userspace/daemon/daemon.h"

/* Why the kernel refused, by event type. */
static const char *const refusal_reasons[] = {
	[NT_EV_REFUSED] =
		"strict mode and no node proxy in this network namespace: refused, never plaintext",
	[NT_EV_INBOUND_REFUSED] =
		"strict mode and no node proxy to take it: refused, never plaintext",
	[NT_EV_SOCKET_REFUSED] =
		"strict mode: this kind of socket would bypass the node proxy",
	[NT_EV_SOCKET_KILLED] =
		"strict mode: this socket family bypasses every inet hook; the caller was killed",
	[NT_EV_UDP_REFUSED] =
		"strict mode: no egress rule allows plaintext to this destination",
};

#define OVERFLOW_REASON	"the network namespace's listener table overflowed: every SYN without a record is refused"

static void set(struct event_verdict *v, enum flow_verdict fv, const char *reason)
{
	v->verdict = fv;
	snprintf(v->reason, sizeof(v->reason), "%s", reason);
}

bool verdict__is_refusal(uint32_t type)
{
	return type < ARRAY_SIZE(refusal_reasons) && refusal_reasons[type];
}

void verdict__event(const struct nt_event *e, struct event_verdict *v)
{
	if (verdict__is_refusal(e->type)) {
		set(v, FLOW_DENY, e->type == NT_EV_INBOUND_REFUSED && e->info ?
		    OVERFLOW_REASON : refusal_reasons[e->type]);
		return;
	}
	/* A connect the kernel let through unproxied. In observe the
	 * destination's side may still name it (verdict__observed); in
	 * permissive there was no node proxy to take it, which strict
	 * refuses. */
	if (e->ev.mode == NT_MODE_OBSERVE)
		set(v, FLOW_UNKNOWN, VERDICT_UNKNOWN_REASON);
	else
		set(v, e->ev.mode == NT_MODE_STRICT ? FLOW_DENY : FLOW_WOULD_DENY,
		    refusal_reasons[NT_EV_REFUSED]);
}

void verdict__observed(const struct policy *p, const struct flow_record *caller,
		       const struct workload *to, uint16_t port,
		       struct event_verdict *v)
{
	struct decision d;
	struct decision_input in = {
		.ns = to ? to->ns : "", .mode = ENFORCE_OBSERVE, .port = port,
	};

	/* No caller seen connecting on this node: plaintext, which strict
	 * refuses whatever the rules say (proxy__plaintext_decision). */
	if (!caller) {
		proxy__plaintext_decision(NT_MODE_OBSERVE, &d);
		set(v, FLOW_WOULD_DENY, d.reason);
		return;
	}
	/* The proxy refuses a caller it cannot name, and a listener it
	 * cannot name is never delivered to. */
	if (!caller->src_id) {
		set(v, FLOW_WOULD_DENY, caller->identity_error ?
		    caller->identity_error : "the caller has no identity");
		return;
	}
	if (!to || !to->id) {
		set(v, FLOW_WOULD_DENY, to && to->identity_error ?
		    to->identity_error : "the listener has no identity");
		return;
	}
	in.src = caller->src_id;
	in.dst = to->id;
	policy__decide(p, &in, &d);
	set(v, proxy__flow_verdict(&d), d.reason);
}
