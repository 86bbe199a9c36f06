/* SPDX-License-Identifier: Apache-2.0 */
/*
 * enforce/ — SPIFFE-ID policy: rules per namespace and the pure decision
 * function. This header is the library's whole interface; it knows nothing
 * of sockets, BPF or processes.
 *
 * Policy file (JSON, strictly parsed):
 *
 *   {"namespaces": {
 *      "shop": {"rules": [
 *         {"action": "allow",
 *          "from": ["spiffe://td/ns/shop/sa/frontend"],
 *          "to":   ["spiffe://td/ns/shop/sa/catalogue"],
 *          "ports": [8080]},
 *         {"action": "deny", "from": ["*"], "to": ["spiffe://td/ns/shop/\*"]}
 *      ],
 *      "egress": [{"to": "10.0.0.5/32", "ports": [443]}]}}}
 *
 * "from"/"to" entries are an exact SPIFFE ID, a segment-boundary prefix
 * ending in "/\*" (spiffe://td/ns/shop/\* matches spiffe://td/ns/shop/x and
 * deeper, never spiffe://td/ns/shopping), or "*" (any verified identity).
 * "ports" is optional (absent: every port). Rules of a namespace apply to
 * flows whose destination workload is in it (inbound) and, for egress
 * entries, to plaintext destinations of its workloads (outbound).
 *
 * Evaluation: every DENY first, then ALLOW; no match is a deny. Identities
 * are compared as exact byte strings; nothing becomes a regular
 * expression. A flow without a verified peer identity never matches an
 * ALLOW, not even "*".
 */
#ifndef NAMETAG_ENFORCE_H
#define NAMETAG_ENFORCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ca/ca.h"

enum enforce_mode {
	ENFORCE_OFF = 0,
	ENFORCE_OBSERVE = 1,
	ENFORCE_PERMISSIVE = 2,
	ENFORCE_STRICT = 3,
};

struct policy;

/* Parses and validates a whole policy file; nothing is returned unless the
 * whole file is valid. Errors name the place:
 * "namespaces.shop.rules[2].from[0]: invalid SPIFFE ID: ...". Unknown keys,
 * wrong types, duplicate keys, bad IDs, bad prefixes ("spiffe://td/ns*"),
 * ports outside 1..65535, empty from/to lists are errors. */
int policy__parse(struct policy **p, const char *json, size_t len,
		  struct nt_err *err);
int policy__load(struct policy **p, const char *path, struct nt_err *err);
/* The policy as canonical JSON (for `policy show`), malloc'd. */
int policy__to_json(const struct policy *p, bool pretty, char **json,
		    struct nt_err *err);
void policy__free(struct policy *p);
/* An empty policy: every flow default-denied. */
int policy__new_empty(struct policy **p);

enum verdict {
	VERDICT_ALLOW,
	VERDICT_DENY,
};

struct decision_input {
	const char *ns;			/* destination's namespace (inbound) or
					 * caller's (egress) */
	enum enforce_mode mode;
	const struct spiffe_id *src;	/* verified peer ID; NULL: none */
	const struct spiffe_id *dst;	/* destination workload's ID; NULL for
					 * plaintext egress */
	uint16_t port;
	/* For plaintext egress (dst NULL): the destination address as text,
	 * "10.0.0.5" or "fd00::5", matched against egress CIDRs. */
	const char *dst_addr;
};

struct decision {
	enum verdict verdict;		/* what the rules say */
	bool enforced;			/* verdict applies (strict; off's
					 * allow); false: recorded only
					 * ("would", observe, permissive) */
	char reason[256];		/* "rule shop.rules[0] (allow)" or
					 * "default deny: no allow rule" */
	int rule;			/* index that decided, -1 for none */
};

/*
 * The decision: DENY rules, then ALLOW rules, then default deny. Modes:
 * strict enforces every verdict; observe and permissive are dry runs
 * (the same verdict, enforced false: recorded as would-allow or
 * would-deny); off: allow, reason "namespace not enforced".
 */
void policy__decide(const struct policy *p, const struct decision_input *in,
		    struct decision *out);

/* Dry run helper for `policy check FROM TO PORT`. */
int policy__check(const struct policy *p, const char *ns, const char *from,
		  const char *to, uint16_t port, struct decision *out,
		  struct nt_err *err);

/* One plaintext destination a namespace's egress entries allow. */
struct egress_dest {
	int family;			/* AF_INET or AF_INET6 */
	unsigned char addr[16];		/* network address; IPv4 in the
					 * first 4 bytes */
	unsigned int bits;		/* prefix length */
	uint16_t port;			/* 0: every port */
};

/* Calls @cb for every destination of @ns's egress entries, one call per
 * port; a non-zero return stops the walk and is returned. */
int policy__foreach_egress(const struct policy *p, const char *ns,
			   int (*cb)(const struct egress_dest *d, void *arg),
			   void *arg);

/* Rule counts, for status lines. */
size_t policy__namespaces(const struct policy *p);
size_t policy__rules(const struct policy *p, const char *ns);

#endif /* NAMETAG_ENFORCE_H */
