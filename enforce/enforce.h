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

/* ---- fleet mode: what etcd holds under /nametag/v1/ (docs/fleet.md) ---- */

/*
 * The operator's CLI writes these values, every node reads them, the
 * signer derives each node's grant from them: one parser for the three.
 * Values are JSON objects, strictly parsed (unknown keys refused), so a
 * node can name the key and the field of a bad value.
 */
#define FLEET_ROOT		"/nametag/v1/"
#define FLEET_CONFIG		FLEET_ROOT "config/"
#define FLEET_NS		FLEET_CONFIG "namespaces/"
#define FLEET_ENTRIES		FLEET_CONFIG "entries/"
#define FLEET_POLICY		FLEET_CONFIG "policy"
#define FLEET_BUNDLE		FLEET_CONFIG "bundle"
#define FLEET_NODES		FLEET_ROOT "nodes/"
#define FLEET_JWT		FLEET_ROOT "jwt/"
#define FLEET_REQUESTS		FLEET_ROOT "ca/requests/"
#define FLEET_ANSWERS		FLEET_ROOT "ca/answers/"
#define FLEET_ISSUED		FLEET_ROOT "ca/issued/"
#define FLEET_JOIN		FLEET_ROOT "join/"
#define FLEET_VALUE_MAX		(1u << 20)
#define FLEET_HOSTS_MAX		64
#define FLEET_SELECTORS_MAX	16
#define FLEET_TEMPLATE_DEFAULT	"ns/{ns}/sa/{service}"

/* Which nodes a namespace or an entry applies on: node names, or "*". */
struct fleet_hosts {
	size_t n;
	char v[FLEET_HOSTS_MAX][CA_NODE_MAX + 1];
};

/* config/namespaces/<name>: {"cgroup": "shop", "mode": "strict",
 * "template": "...", "hosts": ["*"]}. The cgroup is relative: each node
 * puts it below its own --cgroup-root (no leading '/', no "." or ".."
 * segment). "template" and "hosts" are optional ("" and ["*"]). */
struct fleet_ns {
	char name[NT_NS_NAME_MAX];
	char cgroup[256];
	enum nt_mode mode;
	char template[256];
	struct fleet_hosts hosts;
};

int fleet_ns__parse(struct fleet_ns *n, const char *name, const char *json,
		    size_t len, struct nt_err *err);
int fleet_ns__to_json(const struct fleet_ns *n, char **json,
		      struct nt_err *err);

/* config/entries/<SPIFFE ID>: {"spiffe_id": ID, "selectors": [...],
 * "hosts": [...]}; the key's ID and the value's must be the same.
 * Selectors are checked by their reader (attest/). */
struct fleet_entry {
	struct spiffe_id id;
	size_t nselectors;
	char selectors[FLEET_SELECTORS_MAX][256];
	struct fleet_hosts hosts;
};

int fleet_entry__parse(struct fleet_entry *e, const char *id,
		       const char *json, size_t len, struct nt_err *err);
int fleet_entry__to_json(const struct fleet_entry *e, char **json,
			 struct nt_err *err);

/* "a,b,c" or "*" into @h (names checked). */
int fleet_hosts__parse(struct fleet_hosts *h, const char *list,
		       struct nt_err *err);
bool fleet_hosts__has(const struct fleet_hosts *h, const char *node);

/* The SPIFFE ID prefix a namespace's IDs start with in trust domain @td:
 * its template's leading segments up to the first placeholder other than
 * {ns} ("ns/{ns}/sa/{service}" -> spiffe://td/ns/NAME). What a node CA
 * hosting the namespace must be allowed to issue. */
int fleet_ns__prefix(const struct fleet_ns *n, const char *td,
		     struct spiffe_id *out, struct nt_err *err);

/* What config key @key (value @json) adds to @node's scope: 1 and *@out
 * for a namespace or entry whose hosts name the node, 0 for any other
 * key, or an error for a bad value. The node asks for, and the signer
 * grants, the union over config/. */
int fleet_key__prefix(const char *key, const char *json, size_t len,
		      const char *td, const char *node, struct spiffe_id *out,
		      struct nt_err *err);

/* config/bundle: {"trust_domain": TD, "bundle": <SPIFFE bundle>}, as the
 * signer publishes it: the trust domain's X.509 authorities. */
int fleet_bundle__parse(const char *json, size_t len, struct bundle **out,
			struct nt_err *err);
int fleet_bundle__to_json(const struct bundle *b, char **json,
			  struct nt_err *err);

/* ---- federation (docs/fleet.md "Federation") ---- */

#define FLEET_FEDERATION	FLEET_ROOT "federation/"	/* operator */
#define FLEET_BUNDLES		FLEET_CONFIG "bundles/"	/* fetcher */
#define FLEET_FETCHES		FLEET_ROOT "fetches/"	/* fetcher's status */
#define FLEET_FED_URL_MAX	2048
#define FLEET_FED_BODY_MAX	(256u << 10)	/* a bundle endpoint's answer */
#define FLEET_FED_REFRESH_MIN	30		/* seconds, bounds of the */
#define FLEET_FED_REFRESH_MAX	3600		/* refresh hint obeyed */
#define FLEET_FED_STALE_FACTOR	3		/* hints without a fetch */

/* federation/<td>: {"endpoint_url": "https://host/path", "profile":
 * "https_web"}: where the fetcher gets the bundle of trust domain @td. */
struct fleet_fed {
	char td[SPIFFE_TD_MAX + 1];
	char url[FLEET_FED_URL_MAX];
};

int fleet_fed__parse(struct fleet_fed *f, const char *td, const char *json,
		     size_t len, struct nt_err *err);
int fleet_fed__to_json(const struct fleet_fed *f, char **json,
		       struct nt_err *err);
/* https://, a host, no blank or control byte, at most FLEET_FED_URL_MAX. */
int fleet_fed__check_url(const char *url, struct nt_err *err);

/* config/bundles/<td>: {"trust_domain": TD, "bundle": {...},
 * "endpoint_url": URL, "fetched_at": T, "refresh_hint": S}: the last
 * good bundle fetched, when, and the refresh interval the fetcher keeps. */
struct fleet_fed_bundle {
	struct bundle *b;
	char url[FLEET_FED_URL_MAX];
	int64_t fetched_at;
	int64_t refresh_hint;		/* seconds, as obeyed (bounded) */
};

/* The key's @td must be the value's, and not @own_td (NULL: unchecked). */
int fleet_fed_bundle__parse(struct fleet_fed_bundle *fb, const char *td,
			    const char *own_td, const char *json, size_t len,
			    struct nt_err *err);
int fleet_fed_bundle__to_json(const struct fleet_fed_bundle *fb, char **json,
			      struct nt_err *err);
void fleet_fed_bundle__release(struct fleet_fed_bundle *fb);

/* What a bundle fetched for its trust domain must be: one authority at
 * least (an empty answer would silently end the federation), and every
 * X.509 authority that names a trust domain (URI SAN) names this one;
 * never @own_td's (another domain must not speak for ours). */
int fleet_fed__check_bundle(const struct bundle *b, const char *own_td,
			    struct nt_err *err);
/* The refresh interval for @b: its hint bounded to [@min,
 * FLEET_FED_REFRESH_MAX], BUNDLE_REFRESH_HINT without one. */
int64_t fleet_fed__refresh(const struct bundle *b, int64_t min);
/* Not fetched for FLEET_FED_STALE_FACTOR refresh intervals. */
bool fleet_fed__stale(const struct fleet_fed_bundle *fb, int64_t now);

#endif /* NAMETAG_ENFORCE_H */
