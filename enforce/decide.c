// SPDX-License-Identifier: Apache-2.0
/*
 * The decision: pure, no allocation, no I/O, bounded by the policy's size
 * limits. Identities are compared as bytes with explicit lengths (memcmp),
 * never as C strings, patterns or regular expressions: an ID is exactly
 * what the verified certificate says, and "spiffe://td/ns/shop/\*" matches
 * only IDs that continue "spiffe://td/ns/shop/" with at least one byte.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "enforce/enforce_int.h"

static bool pattern_match(const struct pattern *pat,
			  const struct spiffe_id *id)
{
	if (id->len > SPIFFE_ID_MAX)
		return false;
	switch (pat->kind) {
	case PATTERN_ANY:
		return true;
	case PATTERN_EXACT:
		return id->len == pat->len &&
		       !memcmp(id->str, pat->text, pat->len);
	case PATTERN_PREFIX:
		/* text is "spiffe://td/a/\*": compare through the '/' */
		return id->len > pat->len - 1 &&
		       !memcmp(id->str, pat->text, pat->len - 1);
	}
	return false;
}

/*
 * @id NULL is a flow without a verified peer. It matches nothing, except
 * "*" in the from list of a DENY rule (@deny): a "deny everyone" must
 * catch unauthenticated flows too, while no ALLOW may ever admit one.
 */
static bool list_match(const struct pattern_list *l,
		       const struct spiffe_id *id, bool deny)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		if (!id) {
			if (deny && l->v[i].kind == PATTERN_ANY)
				return true;
			continue;
		}
		if (pattern_match(&l->v[i], id))
			return true;
	}
	return false;
}

/* No ports listed: every port. */
static bool port_match(const struct port_list *pl, uint16_t port)
{
	size_t i;

	if (!pl->n)
		return true;
	for (i = 0; i < pl->n; i++)
		if (pl->v[i] == port)
			return true;
	return false;
}

static bool rule_match(const struct rule *r, const struct decision_input *in)
{
	bool deny = r->action == VERDICT_DENY;

	return port_match(&r->ports, in->port) &&
	       list_match(&r->from, in->src, deny) &&
	       list_match(&r->to, in->dst, false);
}

/* First matching rule of @action, or -1. */
static int first_match(const struct ns_policy *ns,
		       const struct decision_input *in, enum verdict action)
{
	size_t i;

	for (i = 0; i < ns->nrules; i++)
		if (ns->rules[i].action == action &&
		    rule_match(&ns->rules[i], in))
			return (int)i;
	return -1;
}

static void set_reason(struct decision *out, const char *reason)
{
	snprintf(out->reason, sizeof(out->reason), "%s", reason);
}

/* Inbound (a destination identity is known): the namespace's rules. */
static void decide_rules(const struct ns_policy *ns,
			 const struct decision_input *in, struct decision *out)
{
	int i = first_match(ns, in, VERDICT_DENY);

	if (i < 0)
		i = first_match(ns, in, VERDICT_ALLOW);
	if (i < 0) {
		set_reason(out, "default deny: no allow rule");
		return;
	}
	out->rule = i;
	out->verdict = ns->rules[i].action;
	snprintf(out->reason, sizeof(out->reason), "rule %s.rules[%d] (%s)",
		 ns->name, i, out->verdict == VERDICT_ALLOW ? "allow" : "deny");
}

/* Plaintext egress (no destination identity): only egress entries. */
static void decide_egress(const struct ns_policy *ns,
			  const struct decision_input *in,
			  struct decision *out)
{
	unsigned char addr[16];
	int family;
	size_t i;

	if (!in->dst_addr || addr__parse(in->dst_addr, &family, addr)) {
		set_reason(out, "default deny: no destination identity");
		return;
	}
	for (i = 0; i < ns->negress; i++) {
		if (!cidr__contains(&ns->egress[i].to, family, addr) ||
		    !port_match(&ns->egress[i].ports, in->port))
			continue;
		out->verdict = VERDICT_ALLOW;
		snprintf(out->reason, sizeof(out->reason),
			 "egress %s.egress[%zu] (allow)", ns->name, i);
		return;
	}
	set_reason(out, "default deny: no egress rule");
}

/* Whether the verdict is applied or only recorded. Observe and
 * permissive are dry runs of strict: the verdict is strict's, recorded as
 * a would-be one, so the allow-list can be proven complete before it is
 * enforced. An unknown mode is treated as strict: a corrupted mode must
 * not open the namespace. */
static bool is_enforced(enum enforce_mode mode)
{
	switch (mode) {
	case ENFORCE_OFF:
	case ENFORCE_OBSERVE:
	case ENFORCE_PERMISSIVE:
		return false;
	case ENFORCE_STRICT:
		return true;
	}
	return true;
}

void policy__decide(const struct policy *p, const struct decision_input *in,
		    struct decision *out)
{
	const struct ns_policy *ns;

	memset(out, 0, sizeof(*out));
	out->verdict = VERDICT_DENY;
	out->rule = -1;
	if (in->mode == ENFORCE_OFF) {
		/* Applied: nothing stands in the way. */
		out->verdict = VERDICT_ALLOW;
		out->enforced = true;
		set_reason(out, "namespace not enforced");
		return;
	}
	ns = policy__find(p, in->ns);
	if (!ns)
		set_reason(out, "default deny: namespace not in policy");
	else if (!in->dst)
		decide_egress(ns, in, out);
	else
		decide_rules(ns, in, out);
	out->enforced = is_enforced(in->mode);
}

int policy__check(const struct policy *p, const char *ns, const char *from,
		  const char *to, uint16_t port, struct decision *out,
		  struct nt_err *err)
{
	struct spiffe_id src, dst;
	struct decision_input in = {
		.ns = ns,
		.mode = ENFORCE_STRICT,
		.port = port,
	};
	int ret;

	if (!from || !to)
		return nt_err_set(err, -EINVAL, "from and to are required");
	/* "-" stands for a caller without a verified identity. */
	if (strcmp(from, "-")) {
		ret = spiffe_id__parse(&src, from, strlen(from), err);
		if (ret)
			return nt_err_prefix(err, ret, "from: invalid SPIFFE ID");
		in.src = &src;
	}
	ret = spiffe_id__parse(&dst, to, strlen(to), err);
	if (ret)
		return nt_err_prefix(err, ret, "to: invalid SPIFFE ID");
	in.dst = &dst;
	policy__decide(p, &in, out);
	return 0;
}
