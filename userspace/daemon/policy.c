// SPDX-License-Identifier: Apache-2.0
/*
 * The policy in force: loaded from STATE/policy.json at start, replaced
 * whole by `policy load` (validated first: an invalid file changes
 * nothing), and re-applied to open flows at once (strict.c).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/ntcore.h"
#include "userspace/proxy/proxy.h"

#define POLICY_FILE "policy.json"
#define POLICY_MAX (4u << 20)

struct policy *active_policy;

int policy_ctl__init(struct nt_err *err);
int ctl_policy_load(struct ctl_request *r, cJSON *resp, struct nt_err *err);
int ctl_policy_show(struct ctl_request *r, cJSON *resp, struct nt_err *err);
int ctl_policy_check(struct ctl_request *r, cJSON *resp, struct nt_err *err);

static void path_of(char *buf, size_t size)
{
	snprintf(buf, size, "%s/%s", nd->opts.state_dir, POLICY_FILE);
}

struct egress_keys {
	struct nt_egress_key *v;
	size_t n;
	uint32_t ns_id;
};

static int add_egress(const struct egress_dest *d, void *arg)
{
	struct egress_keys *k = arg;
	struct nt_egress_key *e;

	if (k->n >= NT_MAX_EGRESS)
		return -E2BIG;
	e = &k->v[k->n++];
	memset(e, 0, sizeof(*e));
	e->ns_id = k->ns_id;
	e->port = d->port;
	if (d->family == AF_INET) {
		/* IPv4-mapped: the prefix covers the mapping's 96 bits. */
		e->addr[2] = htonl(0xffff);
		memcpy(&e->addr[3], d->addr, 4);
		e->prefixlen = NT_EGRESS_KEY_BITS + 96 + d->bits;
	} else {
		memcpy(e->addr, d->addr, 16);
		e->prefixlen = NT_EGRESS_KEY_BITS + d->bits;
	}
	return 0;
}

int policy_ctl__apply_egress(void)
{
	struct egress_keys k = {};
	const struct ns *n;
	size_t i;
	int ret = 0;

	if (!active_policy)
		return 0;
	k.v = calloc(NT_MAX_EGRESS, sizeof(*k.v));
	if (!k.v)
		return -ENOMEM;
	for (i = 0; !ret && i < ns_table__count(nd->ns); i++) {
		n = ns_table__at(nd->ns, i);
		k.ns_id = n->id;
		ret = policy__foreach_egress(active_policy, n->name, add_egress, &k);
	}
	if (!ret)
		ret = datapath__set_egress(nd->dp, k.v, k.n);
	if (ret)
		pr_err("egress entries not applied to the kernel: %s (strict namespaces keep the previous set)",
		       ret == -E2BIG ? "more than the egress map holds" : strerror(-ret));
	free(k.v);
	return ret;
}

int policy_ctl__init(struct nt_err *err)
{
	char path[PATH_MAX];
	int ret;

	path_of(path, sizeof(path));
	ret = policy__load(&active_policy, path, err);
	if (ret == -ENOENT) {
		pr_info("no policy in %s: default deny everywhere", path);
		return policy__new_empty(&active_policy) ?
		       nt_err_set(err, -ENOMEM, "out of memory") : 0;
	}
	if (!ret)
		policy_ctl__apply_egress();
	return ret;
}

static cJSON *policy_json(const struct policy *p, struct nt_err *err)
{
	char *s = NULL;
	cJSON *o = NULL;

	if (!policy__to_json(p, false, &s, err))
		json__parse_strict(s, strlen(s), &o, err);
	free(s);
	return o;
}

int ctl_policy_load(struct ctl_request *r, cJSON *resp, struct nt_err *err)
{
	const cJSON *text = cJSON_GetObjectItemCaseSensitive(r->req, "policy");
	struct policy *p = NULL, *old;
	char path[PATH_MAX], *canon = NULL;
	int ret;

	if (!cJSON_IsString(text))
		return nt_err_set(err, -EINVAL, "request needs string \"policy\"");
	/* The whole file is checked before anything changes. */
	ret = policy__parse(&p, text->valuestring, strlen(text->valuestring),
			    err);
	if (ret)
		return ret;
	ret = policy__to_json(p, true, &canon, err);
	path_of(path, sizeof(path));
	if (!ret)
		ret = state__write(path, canon, strlen(canon), 0600, err);
	free(canon);
	if (ret) {
		policy__free(p);
		return ret;
	}
	old = active_policy;
	active_policy = p;
	policy__free(old);
	pr_info("policy loaded: %zu namespaces", policy__namespaces(p));
	policy_ctl__apply_egress();
	strict__sweep(NULL);
	cJSON_AddNumberToObject(resp, "namespaces", (double)policy__namespaces(p));
	return 0;
}

int ctl_policy_show(struct ctl_request *r, cJSON *resp, struct nt_err *err)
{
	cJSON *o = policy_json(active_policy, err);

	if (!o)
		return -EINVAL;
	cJSON_AddItemToObject(resp, "policy", o);
	return 0;
}

/* The namespace of a SPIFFE ID made by the default template,
 * spiffe://TD/ns/NAME/... */
static int ns_from_id(const char *id, char *ns, size_t size)
{
	const char *p = strstr(id, "://");
	const char *s, *e;

	if (!p || !(s = strchr(p + 3, '/')) || strncmp(s, "/ns/", 4))
		return -ENOENT;
	s += 4;
	e = strchr(s, '/');
	if (!e || (size_t)(e - s) >= size)
		return -ENOENT;
	memcpy(ns, s, e - s);
	ns[e - s] = '\0';
	return 0;
}

int ctl_policy_check(struct ctl_request *r, cJSON *resp, struct nt_err *err)
{
	const cJSON *from = cJSON_GetObjectItemCaseSensitive(r->req, "from");
	const cJSON *to = cJSON_GetObjectItemCaseSensitive(r->req, "to");
	const cJSON *port = cJSON_GetObjectItemCaseSensitive(r->req, "port");
	const cJSON *nsj = cJSON_GetObjectItemCaseSensitive(r->req, "ns");
	char ns[NS_NAME_MAX];
	struct decision d;
	int ret;

	if (!cJSON_IsString(from) || !cJSON_IsString(to) ||
	    !cJSON_IsNumber(port) || port->valuedouble < 1 ||
	    port->valuedouble > 65535)
		return nt_err_set(err, -EINVAL,
				  "request needs \"from\", \"to\" and a \"port\" in 1..65535");
	if (cJSON_IsString(nsj))
		snprintf(ns, sizeof(ns), "%s", nsj->valuestring);
	else if (ns_from_id(to->valuestring, ns, sizeof(ns)))
		return nt_err_set(err, -EINVAL,
				  "cannot tell the namespace of %s: give --ns NAME",
				  to->valuestring);
	ret = policy__check(active_policy, ns, from->valuestring,
			    to->valuestring, (uint16_t)port->valuedouble, &d, err);
	if (ret)
		return ret;
	cJSON_AddStringToObject(resp, "namespace", ns);
	cJSON_AddStringToObject(resp, "verdict",
				d.verdict == VERDICT_ALLOW ? "allow" : "deny");
	cJSON_AddStringToObject(resp, "reason", d.reason);
	cJSON_AddNumberToObject(resp, "rule", d.rule);
	return 0;
}
