// SPDX-License-Identifier: Apache-2.0
/*
 * What the proxy asks the daemon, the one struct of callbacks it gets
 * (struct proxy_env, proxy.h): who a caller is (the kernel's evidence of
 * its connection, then the identity stage), who listens at an address
 * (the datapath's listener tables, then the identity stage), the SVID of
 * an ID (the cache), the policy in force and a namespace's mode, and its
 * flow records (flows.c). The proxy never reaches past these.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "userspace/daemon/daemon.h"

static int caller(void *ctx, int fd, struct proxy_caller *c,
		  struct nt_err *err)
{
	struct daemon *d = ctx;
	struct nt_tuple t = {};
	const struct ns *n;
	int ret;

	if (nt_addr__of_socket(fd, true, &t.src) ||
	    nt_addr__of_socket(fd, false, &t.dst) ||
	    datapath__take_sock_by_tuple(d->dp, &t, &c->ev))
		return -ENOENT;
	n = ns_table__by_cgroup(d->ns, c->ev.ev.ns_cgroup_id);
	snprintf(c->ns, sizeof(c->ns), "%s", n ? n->name : "");
	ret = identity__resolve(d->identity, &c->ev.ev, &c->who, err);
	if (ret)
		return ret == -ENOENT ? -ESRCH : ret;
	c->id = *c->who->id;
	c->has_id = true;
	return 0;
}

static int listener(void *ctx, uint32_t netns, const struct nt_addr *addr,
		    struct proxy_listener *out, struct nt_err *err)
{
	struct daemon *d = ctx;
	struct workload *w = NULL;
	struct nt_listener l;
	const struct ns *n;
	char where[NT_ADDR_TEXT_MAX];
	int ret;

	nt_addr__format(addr, where, sizeof(where));
	if (datapath__find_listener(d->dp, netns, addr, &l))
		return nt_err_set(err, -ENOENT,
				  "no enrolled workload listens on %s", where);
	n = ns_table__by_cgroup(d->ns, l.owner.ev.ns_cgroup_id);
	if (!n)
		return nt_err_set(err, -ENOENT, "listener on %s is in no namespace",
				  where);
	/* Only a socket the delivery can be pinned to counts. */
	if (!l.cookie || !datapath__listen_sock_held(d->dp, l.cookie))
		return nt_err_set(err, -ENOENT,
				  "the listener on %s cannot be delivered to exactly (its socket is not held yet)",
				  where);
	ret = identity__resolve(d->identity, &l.owner.ev, &w, err);
	if (!ret) {
		out->id = *w->id;
		out->cookie = l.cookie;
		out->mode = n->mode;
		snprintf(out->ns, sizeof(out->ns), "%s", n->name);
	}
	workload__put(w);
	return ret;
}

static const struct svid *svid(void *ctx, const struct spiffe_id *id,
			       struct nt_err *err)
{
	struct daemon *d = ctx;

	return svid_cache__get(d->svids, id, err);
}

static const struct policy *policy(void *ctx)
{
	struct daemon *d = ctx;

	return d->policy;
}

static enum nt_mode ns_mode(void *ctx, const char *name)
{
	struct daemon *d = ctx;
	const struct ns *n = ns_table__find(d->ns, name);

	return n ? n->mode : NT_MODE_OFF;
}

static struct flow_record *flow_open(void *ctx)
{
	struct daemon *d = ctx;

	return flows__open(d->flows);
}

static struct flow_record *flow(void *ctx, uint64_t id)
{
	struct daemon *d = ctx;

	return flows__get(d->flows, id);
}

static void flow_publish(void *ctx, uint64_t id)
{
	flows__publish(ctx, id);
}

void proxy_env__init(struct daemon *d, struct proxy_env *env)
{
	*env = (struct proxy_env){
		.ctx = d, .ids = d->ids,
		.caller = caller, .listener = listener, .svid = svid,
		.policy = policy, .ns_mode = ns_mode,
		.flow_open = flow_open, .flow = flow,
		.flow_publish = flow_publish,
	};
}
