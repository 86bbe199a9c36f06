// SPDX-License-Identifier: Apache-2.0
/*
 * The policy object: lifetime, lookup by namespace, loading from a file.
 * Parsing lives in policy_parse.c, writing in policy_json.c, the decision
 * in decide.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "enforce/enforce_int.h"

static void pattern_list__release(struct pattern_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i].text);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

void ns_policy__release(struct ns_policy *ns)
{
	size_t i;

	for (i = 0; i < ns->nrules; i++) {
		pattern_list__release(&ns->rules[i].from);
		pattern_list__release(&ns->rules[i].to);
		free(ns->rules[i].ports.v);
	}
	free(ns->rules);
	for (i = 0; i < ns->negress; i++)
		free(ns->egress[i].ports.v);
	free(ns->egress);
	memset(ns, 0, sizeof(*ns));
}

void policy__free(struct policy *p)
{
	size_t i;

	if (!p)
		return;
	for (i = 0; i < p->nns; i++)
		ns_policy__release(&p->ns[i]);
	free(p->ns);
	free(p);
}

int policy__new_empty(struct policy **p)
{
	*p = calloc(1, sizeof(**p));
	return *p ? 0 : -ENOMEM;
}

/*
 * Namespace names follow Kubernetes' DNS label rule (RFC 1123): they end
 * up in paths, flow records and reasons, so keep them plain.
 */
int ns_name__check(const char *name, size_t len, struct nt_err *err)
{
	size_t i;

	if (len == 0 || len > POLICY_NS_NAME_MAX)
		return nt_err_set(err, -EINVAL,
				  "namespaces: namespace name \"%.*s\" must be "
				  "1 to %d bytes", (int)(len > 64 ? 64 : len),
				  name, POLICY_NS_NAME_MAX);
	for (i = 0; i < len; i++) {
		char c = name[i];

		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    (c == '-' && i != 0 && i != len - 1))
			continue;
		return nt_err_set(err, -EINVAL,
				  "namespaces: invalid namespace name \"%.*s\": "
				  "only a-z, 0-9 and '-' (not first or last)",
				  (int)(len > 64 ? 64 : len), name);
	}
	return 0;
}

static int ns_cmp(const void *key, const void *elem)
{
	const struct ns_policy *ns = elem;

	return strcmp(key, ns->name);
}

const struct ns_policy *policy__find(const struct policy *p, const char *name)
{
	/* A name that cannot be valid cannot be in the table; checking the
	 * length first also bounds the strcmp below. */
	if (!p || !name || !p->nns ||
	    strnlen(name, POLICY_NS_NAME_MAX + 1) > POLICY_NS_NAME_MAX)
		return NULL;
	return bsearch(name, p->ns, p->nns, sizeof(p->ns[0]), ns_cmp);
}

size_t policy__namespaces(const struct policy *p)
{
	return p ? p->nns : 0;
}

size_t policy__rules(const struct policy *p, const char *ns)
{
	const struct ns_policy *n = policy__find(p, ns);

	return n ? n->nrules : 0;
}

int policy__parse(struct policy **out, const char *json, size_t len,
		  struct nt_err *err)
{
	struct nt_err e = { "" };
	struct policy *p;
	size_t i;
	int ret;

	*out = NULL;
	if (len > POLICY_MAX_BYTES)
		return nt_err_set(err, -EFBIG,
				  "policy is %zu bytes, more than %u", len,
				  POLICY_MAX_BYTES);
	p = calloc(1, sizeof(*p));
	if (!p)
		return nt_err_set(err, -ENOMEM, "out of memory");
	ret = policy__walk(p, json ? json : "", json ? len : 0, &e);
	if (ret) {
		policy__free(p);
		/* Messages quote the file; keep its control bytes (terminal
		 * escapes) off the operator's screen. */
		for (i = 0; e.msg[i]; i++)
			if ((unsigned char)e.msg[i] < 0x20 ||
			    (unsigned char)e.msg[i] >= 0x7f)
				e.msg[i] = '?';
		return nt_err_set(err, ret, "%s", e.msg);
	}
	*out = p;
	return 0;
}

int policy__load(struct policy **p, const char *path, struct nt_err *err)
{
	char *buf = NULL;
	size_t len = 0;
	int ret;

	*p = NULL;
	ret = state__read(path, POLICY_MAX_BYTES, false, &buf, &len, err);
	if (ret)
		return ret;
	ret = policy__parse(p, buf, len, err);
	free(buf);
	if (ret)
		return nt_err_prefix(err, ret, path);
	return 0;
}

int policy__foreach_egress(const struct policy *p, const char *ns,
			   int (*cb)(const struct egress_dest *d, void *arg),
			   void *arg)
{
	const struct ns_policy *n = policy__find(p, ns);
	struct egress_dest d;
	size_t i, j;
	int ret;

	for (i = 0; n && i < n->negress; i++) {
		const struct egress *e = &n->egress[i];

		memset(&d, 0, sizeof(d));
		d.family = e->to.family;
		memcpy(d.addr, e->to.addr, sizeof(d.addr));
		d.bits = e->to.bits;
		for (j = 0; j < (e->ports.n ? e->ports.n : 1); j++) {
			d.port = e->ports.n ? e->ports.v[j] : 0;
			ret = cb(&d, arg);
			if (ret)
				return ret;
		}
	}
	return 0;
}
