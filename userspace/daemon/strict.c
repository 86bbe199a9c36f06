// SPDX-License-Identifier: Apache-2.0
/*
 * Plaintext that predates strict. The datapath decides at connect() and at
 * the SYN, so a connection made while its namespace was off, observe or
 * permissive would go on in the clear for as long as it lives. When a
 * namespace turns strict (and when the policy is reloaded) every strict
 * namespace's plaintext is ended, both ways:
 *
 *  - the proxy's own connections (plaintext-in accepted in permissive,
 *    plaintext egress) are judged again with the namespace's mode now
 *    (proxy__recheck) and closed with a reset when denied;
 *  - the workloads' own sockets, connected directly while the namespace
 *    was off or observe, or accepted before it was enrolled, are found in a
 *    sock_diag dump of every served network namespace, by the cgroup they
 *    were created in (a strict namespace's subtree, cgroup_owners), and
 *    destroyed with sock_diag SOCK_DESTROY: the workload sees ECONNABORTED,
 *    the peer a reset.
 *
 * Spared: listeners; sockets whose other end nametagd holds (proxied
 * connections: the workload talks to the outbound listener, or was
 * delivered to from nametagd's loopback socket); loopback connections
 * between two sockets of the same namespace (a pod's own localhost, which
 * sk_lookup leaves alone in strict too); outbound connections to where an
 * egress rule allows plaintext, as for the proxy's own egress. Where the kernel cannot destroy
 * (no CONFIG_INET_DIAG_DESTROY: EOPNOTSUPP) what stays open is counted,
 * logged and recorded as an open flow.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "userspace/daemon/daemon.h"

/* The states in which a socket can still carry bytes one way or the other. */
#define LIVE_STATES	(1u << TCP_ESTABLISHED | 1u << TCP_SYN_SENT | \
			 1u << TCP_FIN_WAIT1 | 1u << TCP_FIN_WAIT2 | \
			 1u << TCP_CLOSE_WAIT)

struct tally {
	const struct ns *n;
	size_t out, in, stayed;
};

/* A socket of the netns being swept, and the namespace that owns it. */
struct seen {
	struct sockdiag_socket s;
	const struct ns *owner;		/* NULL: no enrolled namespace */
};

struct sweep {
	struct daemon *d;
	const struct ns *switched;
	struct tally *t;
	size_t nt;
	struct cgroup_owners cgs;	/* the enrolled namespaces' cgroups */
	const struct ns **owners;	/* ... by cgroup_owners' root index */
	int destroy_err;		/* the first failure to destroy */
	/* The netns being swept. */
	struct seen *v;
	size_t n, cap;
	struct nt_addr *held;		/* proxy__held_addrs() */
	size_t nheld;
	int nlfd;			/* for SOCK_DESTROY, opened on need */
};

static struct tally *tally_of(struct sweep *sw, const struct ns *n)
{
	size_t i;

	for (i = 0; i < sw->nt; i++)
		if (sw->t[i].n == n)
			return &sw->t[i];
	return NULL;
}

static void on_proxy_closed(const char *ns, bool inbound, void *arg)
{
	struct sweep *sw = arg;
	struct tally *t = tally_of(sw, ns_table__find(sw->d->ns, ns));

	if (t)
		*(inbound ? &t->in : &t->out) += 1;
}

/* ---- the sockets of one netns --------------------------------------------- */

static bool is_strict(const struct ns *n)
{
	return n && n->mode == NT_MODE_STRICT;
}

/* Kept: the candidates (a strict namespace's connected sockets), and what
 * telling them apart needs: listeners, and loopback peers. */
static int on_socket(const struct sockdiag_socket *l, void *arg)
{
	struct sweep *sw = arg;
	long i = cgroup_owners__find(&sw->cgs, l->cgroup_id);
	const struct ns *owner = i < 0 ? NULL : sw->owners[i];
	struct seen *p;

	if (l->state != TCP_LISTEN && !is_strict(owner) &&
	    !nt_addr__is_loopback(&l->remote))
		return 0;
	if (sw->n == sw->cap) {
		size_t cap = sw->cap ? 2 * sw->cap : 64;

		p = cap <= SOCKDIAG_MAX_SOCKETS ?
		    reallocarray(sw->v, cap, sizeof(*p)) : NULL;
		if (!p)
			return -ENOMEM;
		sw->v = p;
		sw->cap = cap;
	}
	p = &sw->v[sw->n++];
	p->s = *l;
	p->owner = owner;
	if (l->state == TCP_LISTEN)	/* found by its local address alone */
		memset(&p->s.remote, 0, sizeof(p->s.remote));
	return 0;
}

static int seen_cmp(const void *a, const void *b)
{
	const struct seen *x = a, *y = b;
	int r = nt_addr__cmp(&x->s.local, &y->s.local);

	return r ? r : nt_addr__cmp(&x->s.remote, &y->s.remote);
}

static const struct seen *find(const struct sweep *sw,
			       const struct nt_addr *local,
			       const struct nt_addr *remote)
{
	struct seen key = {};

	key.s.local = *local;
	if (remote)
		key.s.remote = *remote;
	return bsearch(&key, sw->v, sw->n, sizeof(*sw->v), seen_cmp);
}

/* Accepted, not dialled: a listener holds its local port, on its address
 * or on a wildcard one. */
static bool is_inbound(const struct sweep *sw, const struct seen *c)
{
	struct nt_addr any4, any6 = { .port = c->s.local.port };

	nt_addr__set_v4(&any4, 0, c->s.local.port);
	return find(sw, &c->s.local, NULL) || find(sw, &any4, NULL) ||
	       find(sw, &any6, NULL);
}

static bool spared(const struct sweep *sw, const struct seen *c)
{
	const struct seen *peer;

	if (bsearch(&c->s.remote, sw->held, sw->nheld, sizeof(*sw->held),
		    nt_addr__cmp))
		return true;	/* nametagd holds the other end */
	if (!nt_addr__is_loopback(&c->s.remote))
		return false;
	peer = find(sw, &c->s.remote, &c->s.local);
	return peer && peer->owner == c->owner;
}

/* ---- destroying ------------------------------------------------------------ */

static int destroy(struct sweep *sw, int netns_fd, const struct seen *c)
{
	if (sw->destroy_err == -EOPNOTSUPP)
		return sw->destroy_err;	/* asked once is enough */
	if (sw->nlfd < 0)
		sw->nlfd = sockdiag__socket(netns_fd);
	if (sw->nlfd < 0)
		return sw->nlfd;
	return sock_diag__destroy(sw->nlfd, c->s.local.family, &c->s.id);
}

/* One candidate: destroyed (or not), counted, recorded. */
static void settle(struct sweep *sw, int netns_fd, const struct seen *c)
{
	bool in = is_inbound(sw, c);
	struct tally *t = tally_of(sw, c->owner);
	struct flow_note f = {
		.type = in ? FLOW_INBOUND_PLAINTEXT : FLOW_EGRESS,
		.ns = c->owner->name, .mode = c->owner->mode,
		.src = in ? &c->s.remote : &c->s.local,
		.dst = in ? &c->s.local : &c->s.remote,
		.cgroup_id = c->s.cgroup_id, .uid = c->s.uid,
	};
	struct decision d;
	char reason[256];
	int ret;

	/* As the proxy's own egress: what an egress rule allows stays. */
	if (!in && proxy__egress_decide(sw->d->proxy, f.ns, NT_MODE_STRICT, NULL,
					&c->s.remote, &d))
		return;
	ret = destroy(sw, netns_fd, c);
	if (ret == -ENOENT)
		return;		/* closed meanwhile */
	if (ret && !sw->destroy_err)
		sw->destroy_err = ret;
	if (!ret)
		snprintf(reason, sizeof(reason),
			 "connected before namespace %s was strict: destroyed (sock_diag SOCK_DESTROY)",
			 f.ns);
	else
		snprintf(reason, sizeof(reason),
			 "connected before namespace %s was strict, and stays open: %s",
			 f.ns, ret == -EOPNOTSUPP ?
			 "this kernel cannot destroy sockets (no CONFIG_INET_DIAG_DESTROY)" :
			 strerror(-ret));
	f.reason = reason;
	f.state = ret ? "open" : "closed by strict";
	flows__note(sw->d, &f);
	if (t)
		*(ret ? &t->stayed : in ? &t->in : &t->out) += 1;
}

static int sweep_netns(int netns_fd, uint32_t netns_ino, void *arg)
{
	struct sweep *sw = arg;
	struct nt_err err = {};
	size_t i;
	int ret;

	sw->n = 0;
	sw->nlfd = -1;
	ret = proxy__held_addrs(sw->d->proxy, netns_ino, &sw->held, &sw->nheld);
	if (!ret)
		ret = sockdiag__sockets(netns_fd, LIVE_STATES | 1u << TCP_LISTEN,
					on_socket, sw, &err);
	if (ret) {
		pr_warn("strict: connections of netns %u not checked: %s",
			netns_ino, err.msg[0] ? err.msg : strerror(-ret));
		goto out;
	}
	qsort(sw->v, sw->n, sizeof(*sw->v), seen_cmp);
	for (i = 0; i < sw->n; i++)
		if (sw->v[i].s.state != TCP_LISTEN && is_strict(sw->v[i].owner) &&
		    !spared(sw, &sw->v[i]))
			settle(sw, netns_fd, &sw->v[i]);
out:
	if (sw->nlfd >= 0)
		close(sw->nlfd);
	free(sw->held);
	sw->held = NULL;
	return 0;	/* the next netns all the same */
}

/* ---- the switch --------------------------------------------------------------- */

static void report(const struct sweep *sw)
{
	const struct tally *t;
	size_t i;

	for (i = 0; i < sw->nt; i++) {
		t = &sw->t[i];
		if (t->n == sw->switched)
			pr_info("namespace %s is strict: closed %zu plaintext connections (%zu outbound, %zu inbound)",
				t->n->name, t->out + t->in, t->out, t->in);
		else if (t->out + t->in)
			pr_info("policy reloaded: namespace %s: closed %zu plaintext connections (%zu outbound, %zu inbound)",
				t->n->name, t->out + t->in, t->out, t->in);
		if (t->stayed || (t->n == sw->switched && sw->d->no_sock_destroy))
			pr_warn("namespace %s is strict: %zu plaintext connections made before stay open (%s)",
				t->n->name, t->stayed,
				sw->destroy_err == -EOPNOTSUPP || sw->d->no_sock_destroy ?
				"this kernel cannot destroy sockets: no CONFIG_INET_DIAG_DESTROY; restart those workloads" :
				strerror(-sw->destroy_err));
	}
}

static int tally_init(struct sweep *sw)
{
	size_t i;

	sw->nt = ns_table__count(sw->d->ns);
	sw->t = calloc(sw->nt ? sw->nt : 1, sizeof(*sw->t));
	if (!sw->t)
		return -ENOMEM;
	for (i = 0; i < sw->nt; i++)
		sw->t[i].n = ns_table__at(sw->d->ns, i);
	return 0;
}

static bool any_strict(struct ns_table *t)
{
	size_t i;

	for (i = 0; i < ns_table__count(t); i++)
		if (is_strict(ns_table__at(t, i)))
			return true;
	return false;
}

/* The cgroups of every enrolled namespace, each one's own subtree. */
static int collect_owners(struct sweep *sw, struct nt_err *err)
{
	struct ns_table *t = sw->d->ns;
	size_t i, n = 0, count = ns_table__count(t);
	struct cgroup_root *roots;
	struct ns *ns;
	int ret;

	roots = calloc(count ? count : 1, sizeof(*roots));
	sw->owners = calloc(count ? count : 1, sizeof(*sw->owners));
	if (!roots || !sw->owners) {
		free(roots);
		return nt_err_set(err, -ENOMEM, "out of memory");
	}
	for (i = 0; i < count; i++) {
		ns = ns_table__at(t, i);
		if (ns->mode == NT_MODE_OFF || !ns->cgroup_id)
			continue;
		sw->owners[n] = ns;
		roots[n++] = (struct cgroup_root){ .path = ns->cgroup,
						   .id = ns->cgroup_id };
	}
	ret = cgroup_owners__collect(&sw->cgs, roots, n, NULL, NULL, err);
	free(roots);
	return ret;
}

void strict__sweep(struct daemon *d, const struct ns *switched)
{
	struct sweep sw = { .d = d, .switched = switched };
	struct nt_err err = {};

	if (tally_init(&sw)) {
		pr_warn("strict: out of memory: open connections not checked");
		proxy__recheck(d->proxy, NULL, NULL);
		return;
	}
	proxy__recheck(d->proxy, on_proxy_closed, &sw);
	if (!any_strict(d->ns))
		goto out;
	if (collect_owners(&sw, &err))
		pr_warn("strict: workload sockets not checked: %s", err.msg);
	else
		netns__each(sweep_netns, &sw, d);
	report(&sw);
out:
	cgroup_owners__free(&sw.cgs);
	free(sw.owners);
	free(sw.v);
	free(sw.t);
}
