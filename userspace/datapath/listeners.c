// SPDX-License-Identifier: Apache-2.0
/*
 * Listeners the kernel never saw listen. The sockops program records a
 * listener in its namespace's table at listen(), but only when the
 * listening task is enrolled and the network namespace is served: a
 * server that was listening before its namespace was enabled, before
 * nametagd started or before its network namespace was served, or that
 * got its listening socket from another process (systemd socket
 * activation, an inherited fd), would stay unknown: no SVID for the mesh
 * server, no sk_lookup steering. So, at start, after every namespace or
 * netns change and every 10 s, the daemon lists each served netns's TCP
 * listeners with sock_diag and records (as NT_LKEY_SYNC entries, which the
 * kernel never touches) those that belong to an enrolled namespace:
 * created in one of its cgroups, or held by one of its processes.
 *
 * Ownership is decided from the kernel's cgroup id of the socket (the
 * cgroup it was created in), matched against the cgroup ids of each
 * enrolled namespace's subtree, read by a bounded walk of cgroupfs: an id
 * is never derived from a name. A socket created elsewhere belongs to the
 * namespace of a process that holds it (holders.c), and the
 * daemon takes a duplicate of it (pidfd_getfd) to put it in listen_socks,
 * so deliveries can be pinned to it. Where the kernel has its own record
 * of an address, the daemon's is not made (or is removed). The daemon
 * says which namespaces are enrolled (struct dp_enrolled) and which
 * network namespaces to list (dp_netns_each): the datapath knows neither.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "userspace/datapath/datapath_int.h"
#include "userspace/datapath/holders.h"

#define SYNC_COMM	"sock_diag"

/* A listener owned by an enrolled namespace, in a listed netns. */
struct cand {
	struct nt_listen_key key;	/* NT_LKEY_SYNC */
	struct sockdiag_socket l;
	const struct dp_enrolled *n;
	const struct holder *h;		/* a process holding it, if known */
};

struct sync {
	struct datapath *dp;
	const struct dp_enrolled *ns;
	size_t nns;
	struct cgroup_owners cgs;	/* the enrolled namespaces' cgroups */
	struct holders holders;		/* ... and their processes */
	struct cand *cands;
	size_t ncands, cands_cap;
	struct nt_err *err;		/* the first failure */
	int ret;
	uint32_t netns;			/* being listed */
	struct nt_err *netns_err;	/* ... and what went wrong there */
	size_t added;
};

/* ---- who owns what ---------------------------------------------------------- */

/* Each cgroup of an enrolled namespace brings its processes. */
static int add_procs(int dfd, uint64_t id, size_t root, void *arg)
{
	struct sync *s = arg;

	return holders__add_procs(&s->holders, dfd, id, root);
}

static int collect(struct sync *s, struct nt_err *err)
{
	struct cgroup_root *roots;
	size_t i;
	int ret;

	roots = calloc(s->nns ? s->nns : 1, sizeof(*roots));
	if (!roots)
		return nt_err_set(err, -ENOMEM, "out of memory");
	for (i = 0; i < s->nns; i++)
		roots[i] = (struct cgroup_root){ .path = s->ns[i].cgroup,
						 .id = s->ns[i].cgroup_id };
	ret = cgroup_owners__collect(&s->cgs, roots, s->nns, add_procs, s, err);
	free(roots);
	return ret;
}

static const struct dp_enrolled *owner(const struct sync *s, uint64_t cgroup_id)
{
	long i = cgroup_owners__find(&s->cgs, cgroup_id);

	return i < 0 ? NULL : &s->ns[i];
}

/* ---- listing ------------------------------------------------------------- */

/* The namespace a listener belongs to: the one its socket was created in,
 * else the one of a process holding it. */
static const struct dp_enrolled *listener_ns(const struct sync *s,
					    const struct sockdiag_socket *l,
					    const struct holder **h)
{
	const struct dp_enrolled *n = owner(s, l->cgroup_id);

	*h = holders__find(&s->holders, l->inode);
	if (n)
		return n;
	return *h ? &s->ns[(*h)->proc->ns] : NULL;
}

static int on_listener(const struct sockdiag_socket *l, void *arg)
{
	struct sync *s = arg;
	const struct holder *h;
	const struct dp_enrolled *n = listener_ns(s, l, &h);
	struct cand *c;
	int ret;

	if (!n)
		return 0;	/* not an enrolled workload's socket */
	ret = array__grow((void **)&s->cands, &s->cands_cap, s->ncands,
			  sizeof(*s->cands), NT_MAX_SOCKETS);
	if (ret)
		return nt_err_set(s->netns_err, ret, "more than %d enrolled listeners",
				  NT_MAX_SOCKETS);
	c = &s->cands[s->ncands++];
	memset(c, 0, sizeof(*c));
	c->key.kind = NT_LKEY_SYNC;
	c->key.port = l->local.port;
	memcpy(c->key.addr, l->local.addr, sizeof(c->key.addr));
	c->l = *l;
	c->n = n;
	c->h = h;
	return 0;
}

/* ---- the table ----------------------------------------------------------- */

/* By key, then the lowest inode first: when several enrolled sockets
 * listen on one address, the same one wins at every sync. */
static int cand_cmp(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;
	int r = memcmp(&x->key, &y->key, sizeof(x->key));

	if (r)
		return r;
	return x->l.inode < y->l.inode ? -1 : x->l.inode > y->l.inode;
}

static int key_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct nt_listen_key));
}

static void make_value(const struct sync *s, const struct cand *c,
		       struct nt_listener *v)
{
	struct nt_evidence *ev = &v->owner.ev;

	memset(v, 0, sizeof(*v));
	v->cookie = c->l.cookie;
	/* No task here: sock_diag knows the socket, not who runs it now, so
	 * pid/tgid/exe stay 0 (attestation then has no /proc to read). */
	ev->uid = c->l.uid;
	/* sock_diag reports the socket's uid only; (uint32_t)-1 is no gid the
	 * kernel ever hands out, and attest/ treats it as unknown. */
	ev->gid = (uint32_t)-1;
	/* A socket made outside the namespace is judged by where the process
	 * holding it lives. */
	ev->cgroup_id = owner(s, c->l.cgroup_id) ? c->l.cgroup_id :
			c->h->proc->cgroup_id;
	ev->ns_cgroup_id = c->n->cgroup_id;
	ev->netns_ino = s->netns;
	ev->mode = c->n->mode;
	ev->ns_id = c->n->ns_id;
	memcpy(ev->comm, SYNC_COMM, sizeof(SYNC_COMM));
	v->owner.orig_dst = c->l.local;
	v->owner.flags = NT_SOCK_LISTENER;
}

/* Does the kernel record this address itself (a listen() it saw)? */
static bool kernel_knows(const struct sync *s, const struct cand *c)
{
	struct nt_listen_key k = c->key;
	struct nt_listener l;

	k.kind = NT_LKEY_ADDR;
	return !datapath__find_exact(s->dp, s->netns, &k, &l);
}

/*
 * What a duplicate of the socket adds (one is taken from a process holding
 * it): the evidence the kernel captured at its listen(), when an enrolled
 * task called it before the namespace's table existed, and its place in
 * listen_socks, so deliveries can be pinned to it.
 */
static void from_socket(struct sync *s, const struct cand *c,
			struct nt_listener *v)
{
	struct nt_sock_value ev;
	int fd;

	if (!c->h)
		return;
	fd = holders__dup(c->h, c->l.cookie);
	if (fd < 0) {
		pr_debug("listener %u of pid %u: no duplicate: %s", c->l.inode,
			 c->h->proc->pid, strerror(-fd));
		return;
	}
	if (!datapath__socket_evidence(s->dp, fd, &ev) &&
	    (ev.flags & NT_SOCK_LISTENER) &&
	    ev.ev.ns_cgroup_id == v->owner.ev.ns_cgroup_id)
		v->owner = ev;
	if (!datapath__listen_sock_held(s->dp, c->l.cookie))
		datapath__hold_listen_sock(s->dp, fd);
	close(fd);
}

/* Our record of the same socket in the same namespace and mode: nothing
 * to redo. */
static bool unchanged(const struct nt_listener *cur, const struct nt_listener *v)
{
	return cur->cookie == v->cookie &&
	       cur->owner.ev.ns_cgroup_id == v->owner.ev.ns_cgroup_id &&
	       cur->owner.ev.mode == v->owner.ev.mode &&
	       (cur->flags & NT_LST_IN_SOCKHASH);
}

/* 1 when a new record went in, 0 when it was there already. */
static int publish(struct sync *s, const struct cand *c)
{
	struct nt_listener v, cur;
	int ret;

	make_value(s, c, &v);
	if (!datapath__find_exact(s->dp, s->netns, &c->key, &cur) &&
	    unchanged(&cur, &v))
		return 0;
	from_socket(s, c, &v);
	if (datapath__listen_sock_held(s->dp, c->l.cookie))
		v.flags |= NT_LST_IN_SOCKHASH;
	ret = datapath__listener_put(s->dp, s->netns, &c->key, &v);
	if (ret)
		return nt_err_set(s->err, ret, "netns %u: failed to record a listener: %s",
				  s->netns, strerror(-ret));
	pr_info("listener on port %u (netns %u, uid %u) of namespace %s: recorded from sock_diag%s",
		c->key.port, s->netns, c->l.uid, c->n->name,
		v.flags & NT_LST_IN_SOCKHASH ? "" : " (not deliverable yet)");
	return 1;
}

struct prune {
	struct sync *s;
	const struct nt_listen_key *kept;
	size_t nkept;
	struct nt_listen_key gone[64];
	size_t ngone;
};

static int find_gone(const struct nt_listen_key *k, const struct nt_listener *l,
		     void *arg)
{
	struct prune *p = arg;

	if (k->kind != NT_LKEY_SYNC)
		return 0;
	if (p->nkept && bsearch(k, p->kept, p->nkept, sizeof(*k), key_cmp))
		return 0;
	p->gone[p->ngone++] = *k;
	return p->ngone == sizeof(p->gone) / sizeof(p->gone[0]);
}

/* Our records no sock_diag listener backs any more, or that the kernel's
 * own record of the address made redundant. */
static int prune(struct sync *s, const struct nt_listen_key *kept, size_t nkept)
{
	struct prune p = { .s = s, .kept = kept, .nkept = nkept };
	size_t i;
	int ret;

	do {
		p.ngone = 0;
		ret = datapath__listeners_foreach(s->dp, s->netns, find_gone, &p);
		if (ret < 0)
			return nt_err_set(s->err, ret, "netns %u: listener table: %s",
					  s->netns, strerror(-ret));
		for (i = 0; i < p.ngone; i++) {
			datapath__listener_del(s->dp, s->netns, &p.gone[i]);
			pr_info("listener on port %u (netns %u): gone, taken over by the kernel's record, or no longer enrolled: sock_diag record removed",
				p.gone[i].port, s->netns);
		}
	} while (p.ngone == sizeof(p.gone) / sizeof(p.gone[0]));
	return 0;
}

/* The candidates [first, s->ncands) of the netns just listed. */
static int publish_netns(struct sync *s, uint32_t netns, size_t first)
{
	struct nt_listen_key *kept;
	size_t i, nkept = 0, n = s->ncands - first;
	const struct cand *c, *prev = NULL;
	int ret = 0;

	if (n)
		qsort(s->cands + first, n, sizeof(*s->cands), cand_cmp);
	kept = calloc(n ? n : 1, sizeof(*kept));
	if (!kept)
		return nt_err_set(s->err, -ENOMEM, "out of memory");
	for (i = first; !ret && i < s->ncands; prev = c, i++) {
		c = &s->cands[i];
		if (prev && !key_cmp(&prev->key, &c->key))
			continue;
		if (kernel_knows(s, c))
			continue;
		ret = publish(s, c);
		if (ret >= 0) {
			s->added += ret;
			kept[nkept++] = c->key;
			ret = 0;
		}
	}
	if (!ret)
		ret = prune(s, kept, nkept);
	free(kept);
	return ret;
}

/* One served netns. A failure is remembered (its entries are then left as
 * they are) and the next netns is listed all the same. */
static int list_netns(int netns_fd, uint32_t netns_ino, void *arg)
{
	struct sync *s = arg;
	struct nt_err e = {};
	size_t first = s->ncands;
	int ret;

	s->netns = netns_ino;
	s->netns_err = &e;
	ret = sockdiag__listeners(netns_fd, on_listener, s, &e);
	if (!ret)
		return publish_netns(s, netns_ino, first);
	if (!s->ret)
		s->ret = nt_err_set(s->err, ret, "listeners of netns %u: %s",
				    netns_ino, e.msg);
	return 0;
}

int datapath__sync_listeners(struct datapath *dp,
			     const struct dp_enrolled *ns, size_t nns,
			     dp_netns_each each, void *ctx, struct nt_err *err)
{
	struct sync s = { .dp = dp, .ns = ns, .nns = nns, .err = err };
	int ret;

	ret = collect(&s, err);
	if (!ret && s.cgs.n)
		ret = holders__scan(&s.holders);
	if (ret) {
		if (!err->msg[0])
			nt_err_set(err, ret, "enrolled processes: %s", strerror(-ret));
		goto out;	/* ownership unknown: change nothing */
	}
	/* Nothing enrolled, nothing to list; old records still go. */
	each(list_netns, &s, ctx);
	datapath__report_overflow(dp);
	ret = s.ret;	/* a netns that could not be listed */
	pr_debug("listeners: %zu enrolled, %zu recorded", s.ncands, s.added);
out:
	holders__free(&s.holders);
	cgroup_owners__free(&s.cgs);
	free(s.cands);
	return ret;
}
