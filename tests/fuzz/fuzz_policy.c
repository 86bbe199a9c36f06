// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target for policy__parse: a policy file is input an operator
 * (or a tool of theirs) writes, and `policy load` must refuse anything
 * malformed without crashing. Whatever parses must survive a write and a
 * re-read: the second canonical text byte-identical to the first, and the
 * re-read policy deciding every probe exactly as the original does.
 *
 * Probes are built from the policy's own patterns (via the internal
 * header) so matching code runs on IDs that hit, nearly hit and miss, and
 * every decision is held to the invariants of enforce.h: no ALLOW without
 * a verified peer, the enforced flag as the mode says, a deciding rule of
 * the same action. Anything else is a bug, so abort().
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "enforce/enforce_int.h"
#include "tests/fuzz/fuzz.h"

#define MAX_NS		4	/* probes per input stay cheap */
#define MAX_RULES	16
#define MAX_EGRESS	8

static void fail(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_policy: %s: %s\n", what, detail ? detail : "");
	abort();
}

/* An ID @pat matches (@near false) or just misses (@near true). */
static bool probe_id(const struct pattern *pat, bool near,
		     struct spiffe_id *id)
{
	char buf[SPIFFE_ID_MAX + 2];
	size_t n;

	switch (pat->kind) {
	case PATTERN_ANY:
		n = (size_t)snprintf(buf, sizeof(buf), "%s",
				     near ? "spiffe://fuzz" : "spiffe://fuzz/a");
		break;
	case PATTERN_EXACT:
		/* "spiffe://td/a" vs "spiffe://td/ax" */
		n = (size_t)snprintf(buf, sizeof(buf), "%s%s", pat->text,
				     near ? "x" : "");
		break;
	default:
		/* "spiffe://td/a/x" for "spiffe://td/a/\*", vs the base
		 * "spiffe://td/a" itself, which it must not match */
		n = near ? pat->len - 2 : pat->len;
		memcpy(buf, pat->text, pat->len - 1);
		buf[pat->len - 1] = 'x';
		break;
	}
	return n < sizeof(buf) && !spiffe_id__parse(id, buf, n, NULL);
}

static void check_invariants(const struct policy *p,
			     const struct decision_input *in,
			     const struct decision *d)
{
	const struct ns_policy *ns = policy__find(p, in->ns);

	if (!memchr(d->reason, '\0', sizeof(d->reason)) || !d->reason[0])
		fail("reason is empty or not terminated", NULL);
	if (in->mode == ENFORCE_OFF) {
		/* Off allows, and that allow is what happens (enforced). */
		if (d->verdict != VERDICT_ALLOW || !d->enforced || d->rule != -1)
			fail("off mode decided something", d->reason);
		return;
	}
	if (!in->src && in->dst && d->verdict == VERDICT_ALLOW)
		fail("an unauthenticated flow was allowed", d->reason);
	if (d->rule >= 0 &&
	    (!ns || (size_t)d->rule >= ns->nrules ||
	     ns->rules[d->rule].action != d->verdict))
		fail("deciding rule does not match the verdict", d->reason);
	/* Observe and permissive are dry runs: strict's verdict, recorded
	 * only (docs/policy.md, "Modes"). */
	if ((in->mode == ENFORCE_STRICT && !d->enforced) ||
	    (in->mode == ENFORCE_OBSERVE && d->enforced) ||
	    (in->mode == ENFORCE_PERMISSIVE && d->enforced))
		fail("enforced flag does not follow the mode", d->reason);
}

/* Decides @in on both policies in every mode; they must agree. */
static void probe(const struct policy *a, const struct policy *b,
		  struct decision_input *in)
{
	static const enum enforce_mode modes[] = {
		ENFORCE_OFF, ENFORCE_OBSERVE, ENFORCE_PERMISSIVE,
		ENFORCE_STRICT,
	};
	struct decision da, db;
	size_t i;

	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		in->mode = modes[i];
		policy__decide(a, in, &da);
		policy__decide(b, in, &db);
		check_invariants(a, in, &da);
		if (da.verdict != db.verdict || da.rule != db.rule ||
		    da.enforced != db.enforced || strcmp(da.reason, db.reason))
			fail("re-read policy decides differently", da.reason);
	}
}

static void probe_rule(const struct policy *a, const struct policy *b,
		       const struct ns_policy *ns, const struct rule *r)
{
	struct spiffe_id src, dst;
	struct decision_input in = { .ns = ns->name };
	int near;

	in.port = r->ports.n ? r->ports.v[0] : 1;
	for (near = 0; near < 4; near++) {
		in.src = probe_id(&r->from.v[0], near & 1, &src) ? &src : NULL;
		if (!probe_id(&r->to.v[0], near & 2, &dst))
			continue;
		in.dst = &dst;
		probe(a, b, &in);
		in.src = NULL;
		probe(a, b, &in);
	}
}

/* The network address of each range lies in it: strict must allow. */
static void probe_egress(const struct policy *a, const struct policy *b,
			 const struct ns_policy *ns, const struct egress *e)
{
	struct decision_input in = { .ns = ns->name };
	char addr[INET6_ADDRSTRLEN];
	struct decision d;

	if (!inet_ntop(e->to.family, e->to.addr, addr, sizeof(addr)))
		fail("inet_ntop of a parsed range", NULL);
	in.dst_addr = addr;
	in.port = e->ports.n ? e->ports.v[e->ports.n - 1] : 65535;
	probe(a, b, &in);
	in.mode = ENFORCE_STRICT;
	policy__decide(a, &in, &d);
	if (d.verdict != VERDICT_ALLOW)
		fail("an egress range does not hold its own address", addr);
}

static void exercise(const struct policy *a, const struct policy *b)
{
	struct decision_input in = { .ns = "fuzz-absent", .port = 1 };
	size_t i, j;

	probe(a, b, &in);
	for (i = 0; i < a->nns && i < MAX_NS; i++) {
		const struct ns_policy *ns = &a->ns[i];

		for (j = 0; j < ns->nrules && j < MAX_RULES; j++)
			probe_rule(a, b, ns, &ns->rules[j]);
		for (j = 0; j < ns->negress && j < MAX_EGRESS; j++)
			probe_egress(a, b, ns, &ns->egress[j]);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct policy *a = NULL, *b = NULL;
	char *j1 = NULL, *j2 = NULL;
	struct nt_err err = { "" };
	bool pretty = size & 1;

	if (policy__parse(&a, (const char *)data, size, &err))
		return 0;
	if (policy__to_json(a, pretty, &j1, &err))
		fail("policy__to_json of a parsed policy", err.msg);
	if (policy__parse(&b, j1, strlen(j1), &err))
		fail("re-parsing our own output", err.msg);
	if (policy__to_json(b, pretty, &j2, &err))
		fail("policy__to_json of a re-parsed policy", err.msg);
	if (strcmp(j1, j2))
		fail("writing is not stable", j2);
	if (policy__namespaces(a) != policy__namespaces(b))
		fail("namespace count changed in a round trip", NULL);
	exercise(a, b);
	free(j1);
	free(j2);
	policy__free(a);
	policy__free(b);
	return 0;
}
