/* SPDX-License-Identifier: Apache-2.0 */
/*
 * enforce/ internals shared by its files (policy.c, policy_parse.c,
 * dup_key.c, policy_json.c, cidr.c, decide.c). Not part of the interface:
 * only enforce/\*.c and the fuzz target include it.
 */
#ifndef NAMETAG_ENFORCE_INT_H
#define NAMETAG_ENFORCE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "enforce/enforce.h"

/* Bounds on what one policy file may hold (docs/policy.md). They keep a
 * decision's worst case (every rule, every pattern) small and fixed. */
#define POLICY_MAX_BYTES	(4u << 20)
#define POLICY_MAX_NS		256
#define POLICY_MAX_RULES	4096
#define POLICY_MAX_PATTERNS	256
#define POLICY_MAX_PORTS	64
#define POLICY_MAX_EGRESS	1024
#define POLICY_NS_NAME_MAX	63

/* Longest error path: "namespaces." + a 63-byte name +
 * ".rules[4095].from[255]" and friends, with room to spare. */
#define POLICY_WHERE_MAX	160

enum pattern_kind {
	PATTERN_ANY,		/* "*": any verified identity */
	PATTERN_EXACT,		/* one SPIFFE ID, byte for byte */
	PATTERN_PREFIX,		/* "spiffe://td/a/\*": IDs below spiffe://td/a */
};

struct pattern {
	enum pattern_kind kind;
	char *text;		/* as written and validated, NUL-terminated */
	size_t len;		/* strlen(text); a PREFIX matches on the first
				 * len - 1 bytes ("spiffe://td/a/") */
};

struct pattern_list {
	struct pattern *v;
	size_t n;		/* >= 1 once parsed */
};

struct port_list {
	uint16_t *v;
	size_t n;		/* 0: the key was absent, every port */
};

struct rule {
	enum verdict action;
	struct pattern_list from;
	struct pattern_list to;
	struct port_list ports;
};

struct cidr {
	int family;		/* AF_INET or AF_INET6 */
	unsigned char addr[16];	/* network address; host bits are zero */
	unsigned int bits;	/* prefix length */
};

struct egress {
	struct cidr to;
	struct port_list ports;
};

struct ns_policy {
	char name[POLICY_NS_NAME_MAX + 1];
	struct rule *rules;
	size_t nrules;
	struct egress *egress;
	size_t negress;
};

struct policy {
	struct ns_policy *ns;	/* sorted by name (strcmp) */
	size_t nns;
};

/* policy.c */
const struct ns_policy *policy__find(const struct policy *p,
				     const char *name);
int ns_name__check(const char *name, size_t len, struct nt_err *err);
void ns_policy__release(struct ns_policy *ns);

/* policy_parse.c */
int policy__walk(struct policy *p, const char *json, size_t len,
		 struct nt_err *err);

/* cidr.c */
#define CIDR_TEXT_MAX		(46 + 4)	/* INET6_ADDRSTRLEN + "/128" */

int cidr__parse(struct cidr *c, const char *s, size_t len,
		struct nt_err *err);
int cidr__format(const struct cidr *c, char *buf, size_t size);
/* @s is an address without a prefix ("10.0.0.5", "fd00::5"); an IPv4-mapped
 * IPv6 address is read as its IPv4 address. */
int addr__parse(const char *s, int *family, unsigned char addr[16]);
bool cidr__contains(const struct cidr *c, int family,
		    const unsigned char addr[16]);

/* fleet.c: the strict JSON readers every fleet value uses (fleet_fed.c). */
struct cJSON;
int fleet__parse_root(const char *json, size_t len, const char *const *keys,
		      struct cJSON **root, struct nt_err *err);
int fleet__get_str(const struct cJSON *o, const char *key, char *out,
		   size_t size, bool optional, struct nt_err *err);
/* Prints @o compactly into *@json (malloc'd) and deletes @o. */
int fleet__emit(struct cJSON *o, char **json, struct nt_err *err);
int fleet__bundle_of(const struct cJSON *root, struct bundle **out,
		     struct nt_err *err);
struct cJSON *fleet__bundle_object(const struct bundle *b, struct nt_err *err);

#endif /* NAMETAG_ENFORCE_INT_H */
