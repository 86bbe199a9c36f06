// SPDX-License-Identifier: Apache-2.0
/*
 * The policy in force: loaded from STATE/policy.json at start, replaced
 * whole by `policy load` (ctl_policy.c validates and saves it first: an
 * invalid file changes nothing), its egress entries pushed into the
 * kernel, and re-applied to open flows at once (strict.c).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "userspace/daemon/daemon.h"

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

int policy_holder__apply_egress(struct daemon *d)
{
	struct egress_keys k = {};
	const struct ns *n;
	size_t i;
	int ret = 0;

	if (!d->policy)
		return 0;
	k.v = calloc(NT_MAX_EGRESS, sizeof(*k.v));
	if (!k.v)
		return -ENOMEM;
	for (i = 0; !ret && i < ns_table__count(d->ns); i++) {
		n = ns_table__at(d->ns, i);
		k.ns_id = n->id;
		ret = policy__foreach_egress(d->policy, n->name, add_egress, &k);
	}
	if (!ret)
		ret = datapath__set_egress(d->dp, k.v, k.n);
	if (ret)
		pr_err("egress entries not applied to the kernel: %s (strict namespaces keep the previous set)",
		       ret == -E2BIG ? "more than the egress map holds" : strerror(-ret));
	free(k.v);
	return ret;
}

int policy_holder__init(struct daemon *d, struct nt_err *err)
{
	char path[PATH_MAX];
	int ret;

	snprintf(path, sizeof(path), "%s/%s", d->opts.state_dir, POLICY_FILE);
	ret = policy__load(&d->policy, path, err);
	if (ret == -ENOENT) {
		pr_info("no policy in %s: default deny everywhere", path);
		return policy__new_empty(&d->policy) ?
		       nt_err_set(err, -ENOMEM, "out of memory") : 0;
	}
	if (!ret)
		policy_holder__apply_egress(d);
	return ret;
}

void policy_holder__swap(struct daemon *d, struct policy *p)
{
	struct policy *old = d->policy;

	d->policy = p;
	policy__free(old);
	pr_info("policy loaded: %zu namespaces", policy__namespaces(p));
	policy_holder__apply_egress(d);
	strict__sweep(d, NULL);
}
