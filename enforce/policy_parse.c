// SPDX-License-Identifier: Apache-2.0
/*
 * Policy JSON to struct policy. ca/ parses the text strictly (duplicate
 * keys, trailing bytes, NUL bytes and deep nesting are refused), then this
 * file walks the tree and checks every value, so a policy loads whole or
 * not at all. Every error starts with the path of the value it is about
 * ("namespaces.shop.rules[2].from[0]: ...") so an operator can find it in
 * a file of thousands of rules.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "enforce/enforce_int.h"

static const char *type_name(const cJSON *it)
{
	if (cJSON_IsObject(it))
		return "an object";
	if (cJSON_IsArray(it))
		return "an array";
	if (cJSON_IsString(it))
		return "a string";
	if (cJSON_IsNumber(it))
		return "a number";
	if (cJSON_IsBool(it))
		return "a boolean";
	if (cJSON_IsNull(it))
		return "null";
	return "an invalid value";
}

static int bad_type(const cJSON *it, const char *want, const char *where,
		    struct nt_err *err)
{
	return nt_err_set(err, -EINVAL, "%s: expected %s, got %s", where, want,
			  type_name(it));
}

static int missing(const char *key, const char *where, struct nt_err *err)
{
	return nt_err_set(err, -EINVAL, "%s: missing \"%s\"", where, key);
}

/* "@where[@i]" and "@where.@key" into a POLICY_WHERE_MAX buffer. Paths
 * are built from validated names and small indexes, so they fit; a cut
 * one would still point at the right place. */
static void at_index(char *buf, const char *where, size_t i)
{
	if (snprintf(buf, POLICY_WHERE_MAX, "%s[%zu]", where, i) < 0)
		buf[0] = '\0';
}

static void at_key(char *buf, const char *where, const char *key)
{
	if (snprintf(buf, POLICY_WHERE_MAX, "%s.%.64s", where, key) < 0)
		buf[0] = '\0';
}

/* Checks @obj is an object with no key outside @allowed. */
static int check_object(const cJSON *obj, const char *const *allowed,
			const char *where, struct nt_err *err)
{
	if (!cJSON_IsObject(obj))
		return bad_type(obj, "an object", where, err);
	return json__only_keys(obj, allowed, where, err);
}

/* Counts the entries of array @arr, refusing more than @max (and none,
 * when @nonempty) before anything is allocated. */
static int array_count(const cJSON *arr, size_t max, bool nonempty,
		       const char *where, size_t *n, struct nt_err *err)
{
	const cJSON *it;
	size_t count = 0;

	if (!cJSON_IsArray(arr))
		return bad_type(arr, "an array", where, err);
	for (it = arr->child; it; it = it->next)
		count++;
	if (nonempty && !count)
		return nt_err_set(err, -EINVAL, "%s: must not be empty",
				  where);
	if (count > max)
		return nt_err_set(err, -E2BIG, "%s: %zu entries, at most %zu",
				  where, count, max);
	*n = count;
	return 0;
}

static int parse_port(const cJSON *it, const char *where, uint16_t *port,
		      struct nt_err *err)
{
	double v;

	if (!cJSON_IsNumber(it))
		return bad_type(it, "a port number", where, err);
	v = it->valuedouble;
	/* Written so that NaN and infinities fail too. */
	if (!(v >= 1 && v <= 65535))
		return nt_err_set(err, -EINVAL, "%s: port %g outside 1..65535",
				  where, v);
	if (v != (double)(uint16_t)v)
		return nt_err_set(err, -EINVAL, "%s: port %g is not an integer",
				  where, v);
	*port = (uint16_t)v;
	return 0;
}

/* "ports": non-empty, every entry 1..65535, none twice. */
static int parse_ports(const cJSON *arr, const char *where,
		       struct port_list *pl, struct nt_err *err)
{
	char w[POLICY_WHERE_MAX];
	const cJSON *it;
	size_t n, i = 0, j;
	int ret;

	ret = array_count(arr, POLICY_MAX_PORTS, true, where, &n, err);
	if (ret)
		return ret;
	pl->v = calloc(n, sizeof(*pl->v));
	if (!pl->v)
		return nt_err_set(err, -ENOMEM, "out of memory");
	for (it = arr->child; it; it = it->next, i++) {
		at_index(w, where, i);
		ret = parse_port(it, w, &pl->v[i], err);
		if (ret)
			return ret;
		for (j = 0; j < i; j++)
			if (pl->v[j] == pl->v[i])
				return nt_err_set(err, -EINVAL,
						  "%s: port %u listed twice",
						  w, pl->v[i]);
		pl->n = i + 1;
	}
	return 0;
}

/*
 * One from/to entry: "*", an exact ID, or "spiffe://td/path/\*". The '*'
 * may only stand alone or as the whole last segment, so a pattern can
 * only ever mean "this ID" or "IDs below this one at a segment boundary";
 * "spiffe://td/ns*" would otherwise invite reading it as a glob.
 */
static int parse_pattern_text(struct pattern *pat, const char *s,
			      size_t len, struct nt_err *err)
{
	struct spiffe_id id;
	const char *star;
	int ret;

	if (len == 1 && s[0] == '*') {
		pat->kind = PATTERN_ANY;
		return 0;
	}
	star = memchr(s, '*', len);
	if (star) {
		if (star != s + len - 1 || len < 2 || s[len - 2] != '/')
			return nt_err_set(err, -EINVAL,
					  "'*' is allowed only alone or as the "
					  "whole last segment "
					  "(\"spiffe://TD/PATH/*\")");
		ret = spiffe_id__parse(&id, s, len - 2, err);
		if (ret)
			return nt_err_prefix(err, ret,
					     "invalid SPIFFE ID before \"/*\"");
		pat->kind = PATTERN_PREFIX;
		return 0;
	}
	ret = spiffe_id__parse(&id, s, len, err);
	if (ret)
		return nt_err_prefix(err, ret, "invalid SPIFFE ID");
	/* SVIDs always have a path, so a root ID would match nothing; it is
	 * almost surely meant as the whole trust domain. */
	if (!spiffe_id__path_len(&id))
		return nt_err_set(err, -EINVAL,
				  "%.*s names a trust domain, not a workload; "
				  "\"%.*s/*\" matches all of its workloads",
				  (int)len, s, (int)len, s);
	pat->kind = PATTERN_EXACT;
	return 0;
}

static int parse_pattern(const cJSON *it, const char *where,
			 struct pattern *pat, struct nt_err *err)
{
	size_t len;
	int ret;

	if (!cJSON_IsString(it))
		return bad_type(it, "a string", where, err);
	/* json__parse_strict refused NUL bytes and \u0000, so strlen is the
	 * length of the value in the file. */
	len = strlen(it->valuestring);
	ret = parse_pattern_text(pat, it->valuestring, len, err);
	if (ret)
		return nt_err_prefix(err, ret, where);
	pat->text = strndup(it->valuestring, len);
	if (!pat->text)
		return nt_err_set(err, -ENOMEM, "out of memory");
	pat->len = len;
	return 0;
}

static int parse_patterns(const cJSON *arr, const char *where,
			  struct pattern_list *l, struct nt_err *err)
{
	char w[POLICY_WHERE_MAX];
	const cJSON *it;
	size_t n, i = 0;
	int ret;

	ret = array_count(arr, POLICY_MAX_PATTERNS, true, where, &n, err);
	if (ret)
		return ret;
	l->v = calloc(n, sizeof(*l->v));
	if (!l->v)
		return nt_err_set(err, -ENOMEM, "out of memory");
	for (it = arr->child; it; it = it->next, i++) {
		at_index(w, where, i);
		ret = parse_pattern(it, w, &l->v[i], err);
		if (ret)
			return ret;
		l->n = i + 1;
	}
	return 0;
}

static int parse_action(const cJSON *it, const char *where, enum verdict *v,
			struct nt_err *err)
{
	if (!it)
		return missing("action", where, err);
	if (!cJSON_IsString(it))
		return nt_err_set(err, -EINVAL,
				  "%s.action: expected \"allow\" or \"deny\", "
				  "got %s", where, type_name(it));
	/* Exact case: "Allow" is refused rather than guessed at. */
	if (!strcmp(it->valuestring, "allow"))
		*v = VERDICT_ALLOW;
	else if (!strcmp(it->valuestring, "deny"))
		*v = VERDICT_DENY;
	else
		return nt_err_set(err, -EINVAL,
				  "%s.action: expected \"allow\" or \"deny\", "
				  "got \"%.32s\"", where, it->valuestring);
	return 0;
}

static const char *const rule_keys[] = { "action", "from", "to", "ports",
					 NULL };

static int parse_rule(const cJSON *obj, const char *where, struct rule *r,
		      struct nt_err *err)
{
	char w[POLICY_WHERE_MAX];
	const cJSON *it;
	int ret;

	ret = check_object(obj, rule_keys, where, err);
	if (ret)
		return ret;
	ret = parse_action(cJSON_GetObjectItemCaseSensitive(obj, "action"),
			   where, &r->action, err);
	if (ret)
		return ret;
	it = cJSON_GetObjectItemCaseSensitive(obj, "from");
	if (!it)
		return missing("from", where, err);
	at_key(w, where, "from");
	ret = parse_patterns(it, w, &r->from, err);
	if (ret)
		return ret;
	it = cJSON_GetObjectItemCaseSensitive(obj, "to");
	if (!it)
		return missing("to", where, err);
	at_key(w, where, "to");
	ret = parse_patterns(it, w, &r->to, err);
	if (ret)
		return ret;
	it = cJSON_GetObjectItemCaseSensitive(obj, "ports");
	at_key(w, where, "ports");
	return it ? parse_ports(it, w, &r->ports, err) : 0;
}

static const char *const egress_keys[] = { "to", "ports", NULL };

static int parse_egress(const cJSON *obj, const char *where, struct egress *e,
			struct nt_err *err)
{
	char w[POLICY_WHERE_MAX];
	const cJSON *it;
	int ret;

	ret = check_object(obj, egress_keys, where, err);
	if (ret)
		return ret;
	it = cJSON_GetObjectItemCaseSensitive(obj, "to");
	if (!it)
		return missing("to", where, err);
	at_key(w, where, "to");
	if (!cJSON_IsString(it))
		return bad_type(it, "a CIDR string", w, err);
	ret = cidr__parse(&e->to, it->valuestring, strlen(it->valuestring),
			  err);
	if (ret)
		return nt_err_prefix(err, ret, w);
	it = cJSON_GetObjectItemCaseSensitive(obj, "ports");
	at_key(w, where, "ports");
	return it ? parse_ports(it, w, &e->ports, err) : 0;
}

static int parse_rules(const cJSON *arr, const char *where,
		       struct ns_policy *ns, struct nt_err *err)
{
	char w[POLICY_WHERE_MAX];
	const cJSON *it;
	size_t n, i = 0;
	int ret;

	/* An empty list is a namespace where nothing is allowed yet. */
	ret = array_count(arr, POLICY_MAX_RULES, false, where, &n, err);
	if (ret || !n)
		return ret;
	ns->rules = calloc(n, sizeof(*ns->rules));
	if (!ns->rules)
		return nt_err_set(err, -ENOMEM, "out of memory");
	for (it = arr->child; it; it = it->next, i++) {
		/* Counted before parsing so a half-built rule is freed. */
		ns->nrules = i + 1;
		at_index(w, where, i);
		ret = parse_rule(it, w, &ns->rules[i], err);
		if (ret)
			return ret;
	}
	return 0;
}

static int parse_egress_list(const cJSON *arr, const char *where,
			     struct ns_policy *ns, struct nt_err *err)
{
	char w[POLICY_WHERE_MAX];
	const cJSON *it;
	size_t n, i = 0;
	int ret;

	ret = array_count(arr, POLICY_MAX_EGRESS, false, where, &n, err);
	if (ret || !n)
		return ret;
	ns->egress = calloc(n, sizeof(*ns->egress));
	if (!ns->egress)
		return nt_err_set(err, -ENOMEM, "out of memory");
	for (it = arr->child; it; it = it->next, i++) {
		ns->negress = i + 1;
		at_index(w, where, i);
		ret = parse_egress(it, w, &ns->egress[i], err);
		if (ret)
			return ret;
	}
	return 0;
}

static const char *const ns_keys[] = { "rules", "egress", NULL };

static int parse_ns(const cJSON *obj, struct ns_policy *ns,
		    struct nt_err *err)
{
	char where[POLICY_WHERE_MAX], w[POLICY_WHERE_MAX];
	size_t len = strlen(obj->string);
	const cJSON *it;
	int ret;

	ret = ns_name__check(obj->string, len, err);
	if (ret)
		return ret;
	memcpy(ns->name, obj->string, len + 1);
	at_key(where, "namespaces", ns->name);
	ret = check_object(obj, ns_keys, where, err);
	if (ret)
		return ret;
	it = cJSON_GetObjectItemCaseSensitive(obj, "rules");
	if (!it)
		return missing("rules", where, err);
	at_key(w, where, "rules");
	ret = parse_rules(it, w, ns, err);
	if (ret)
		return ret;
	it = cJSON_GetObjectItemCaseSensitive(obj, "egress");
	at_key(w, where, "egress");
	return it ? parse_egress_list(it, w, ns, err) : 0;
}

static int ns_sort_cmp(const void *a, const void *b)
{
	const struct ns_policy *x = a, *y = b;

	return strcmp(x->name, y->name);
}

static const char *const root_keys[] = { "namespaces", NULL };

static int walk_root(struct policy *p, const cJSON *root, struct nt_err *err)
{
	const cJSON *nss, *it;
	size_t n = 0;
	int ret;

	ret = check_object(root, root_keys, "policy", err);
	if (ret)
		return ret;
	nss = cJSON_GetObjectItemCaseSensitive(root, "namespaces");
	if (!nss)
		return missing("namespaces", "policy", err);
	if (!cJSON_IsObject(nss))
		return bad_type(nss, "an object", "namespaces", err);
	for (it = nss->child; it; it = it->next)
		n++;
	if (n > POLICY_MAX_NS)
		return nt_err_set(err, -E2BIG,
				  "namespaces: %zu namespaces, at most %d", n,
				  POLICY_MAX_NS);
	if (!n)
		return 0;
	p->ns = calloc(n, sizeof(*p->ns));
	if (!p->ns)
		return nt_err_set(err, -ENOMEM, "out of memory");
	for (it = nss->child; it; it = it->next) {
		ret = parse_ns(it, &p->ns[p->nns++], err);
		if (ret)
			return ret;
	}
	/* Sorted for lookup by bsearch and for a canonical output order;
	 * names are unique since duplicate keys were refused. */
	qsort(p->ns, p->nns, sizeof(p->ns[0]), ns_sort_cmp);
	return 0;
}

int policy__walk(struct policy *p, const char *json, size_t len,
		 struct nt_err *err)
{
	cJSON *root = NULL;
	int ret;

	ret = json__parse_strict_at(json, len, "policy", &root, err);
	if (ret)
		return ret;
	ret = walk_root(p, root, err);
	cJSON_Delete(root);
	return ret;
}
