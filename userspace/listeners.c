// SPDX-License-Identifier: Apache-2.0
/*
 * Listeners the kernel never saw listen. The sockops program publishes a
 * listener in inbound_ports at listen(), but only when its task is already
 * enrolled: a server that was listening before its namespace was enabled,
 * or before nametagd started, would stay unknown (no SVID for the mesh
 * server to present, no sk_lookup steering). So, at start and after every
 * namespace or netns change, the daemon lists each served netns's TCP
 * listeners with sock_diag and publishes those whose socket belongs to an
 * enrolled namespace.
 *
 * Ownership is decided from the kernel's cgroup id of the socket (the
 * cgroup it was created in), matched against the cgroup ids of each
 * enrolled namespace's subtree, read by a bounded walk of cgroupfs: an id
 * is never derived from a name. Such records carry ktime 0 and comm
 * "sock_diag"; they never replace a record the kernel made at listen()
 * (BPF_NOEXIST), and only they are removed here when their listener or
 * its namespace is gone (the sockops program removes its own on close).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "userspace/daemon.h"
#include "userspace/log.h"
#include "userspace/proxy.h"
#include "userspace/sockdiag.h"

#define CG_DEPTH_MAX	32		/* levels below a namespace's cgroup */
#define CG_MAX		65536		/* cgroups in all enrolled namespaces */
#define SYNC_COMM	"sock_diag"

/* A cgroup of an enrolled namespace. */
struct cg_owner {
	uint64_t id;
	const struct ns *n;
};

/* A listener owned by an enrolled namespace, in a served netns. */
struct cand {
	struct nt_port_key key;
	struct sockdiag_listener l;
	const struct ns *n;
};

struct sync {
	struct cg_owners cgs;
	struct cand *cands;
	size_t ncands, cands_cap;
	uint32_t failed[NT_MAX_NETNS];	/* netns whose listing failed */
	size_t nfailed;
	struct nt_err *err;		/* the first failure */
	int ret;
	uint32_t netns;			/* being listed */
	struct nt_err *netns_err;	/* ... and what went wrong there */
};

static int grow(void **v, size_t *cap, size_t n, size_t size, size_t max)
{
	size_t ncap = *cap ? *cap * 2 : 64;
	void *p;

	if (n < *cap)
		return 0;
	if (n >= max)
		return -E2BIG;
	if (ncap > max)
		ncap = max;
	p = realloc(*v, ncap * size);
	if (!p)
		return -ENOMEM;
	*v = p;
	*cap = ncap;
	return 0;
}

/* ---- which cgroups belong to which enrolled namespace ------------------- */

static bool enrolled(const struct ns *n)
{
	return n && n->mode != NT_MODE_OFF && n->cgroup_id;
}

static int cg_add(struct cg_owners *o, uint64_t id, const struct ns *n)
{
	int ret = grow((void **)&o->v, &o->cap, o->n, sizeof(*o->v), CG_MAX);

	if (ret)
		return ret;
	o->v[o->n].id = id;
	o->v[o->n].n = n;
	o->n++;
	return 0;
}

/*
 * Records every cgroup below the directory @dfd (owned, closed here) as
 * @n's. Stays on cgroupfs (@dev), never follows a symlink; a directory
 * that vanishes meanwhile is skipped. Another enrolled namespace below
 * this one is its own (the programs take the nearest enrolled ancestor).
 */
static int walk_cgroups(struct cg_owners *o, const struct ns *n, int dfd,
			dev_t dev, int depth)
{
	const struct ns *other;
	struct dirent *de;
	struct stat st;
	int fd, ret = 0;
	DIR *d;

	d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return 0;
	}
	while (!ret && (de = readdir(d))) {
		if ((de->d_type != DT_DIR && de->d_type != DT_UNKNOWN) ||
		    !strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) ||
		    !S_ISDIR(st.st_mode) || st.st_dev != dev)
			continue;
		other = ns_table__by_cgroup(nd->ns, st.st_ino);
		if (other && other != n && enrolled(other))
			continue;
		ret = cg_add(o, st.st_ino, n);
		if (ret || depth + 1 >= CG_DEPTH_MAX)
			continue;
		fd = openat(dirfd(d), de->d_name,
			    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0)
			ret = walk_cgroups(o, n, fd, dev, depth + 1);
	}
	closedir(d);
	return ret;
}

static int cg_cmp(const void *a, const void *b)
{
	const struct cg_owner *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

/* The namespace's cgroup (if it still has the id it was enrolled with)
 * and everything below it. */
static int collect_ns(struct cg_owners *o, const struct ns *n)
{
	struct stat st;
	int fd, ret;

	fd = open(n->cgroup, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return 0;	/* removed: the namespace owns nothing now */
	if (fstat(fd, &st) || (uint64_t)st.st_ino != n->cgroup_id) {
		close(fd);
		return 0;
	}
	ret = cg_add(o, n->cgroup_id, n);
	if (ret) {
		close(fd);
		return ret;
	}
	return walk_cgroups(o, n, fd, st.st_dev, 0);
}

int cg_owners__collect(struct cg_owners *o, struct nt_err *err)
{
	const struct ns *n;
	size_t i;
	int ret;

	for (i = 0; i < ns_table__count(nd->ns); i++) {
		n = ns_table__at(nd->ns, i);
		if (!enrolled(n))
			continue;
		ret = collect_ns(o, n);
		if (ret == -E2BIG)
			return nt_err_set(err, ret,
					  "more than %d cgroups in enrolled namespaces",
					  CG_MAX);
		if (ret)
			return nt_err_set(err, ret, "cgroups of namespace %s: %s",
					  n->name, strerror(-ret));
	}
	if (o->n)
		qsort(o->v, o->n, sizeof(*o->v), cg_cmp);
	return 0;
}

const struct ns *cg_owners__find(const struct cg_owners *o, uint64_t cgroup_id)
{
	struct cg_owner key = { .id = cgroup_id };
	const struct cg_owner *c;

	if (!cgroup_id || !o->n)
		return NULL;
	c = bsearch(&key, o->v, o->n, sizeof(*o->v), cg_cmp);
	return c ? c->n : NULL;
}

void cg_owners__free(struct cg_owners *o)
{
	free(o->v);
	*o = (struct cg_owners){};
}

/* ---- listing ------------------------------------------------------------- */

static int on_listener(const struct sockdiag_listener *l, void *arg)
{
	struct sync *s = arg;
	const struct ns *n = cg_owners__find(&s->cgs, l->cgroup_id);
	struct cand *c;
	int ret;

	if (!n)
		return 0;	/* not an enrolled workload's socket */
	ret = grow((void **)&s->cands, &s->cands_cap, s->ncands,
		   sizeof(*s->cands), NT_MAX_SOCKETS);
	if (ret)
		return nt_err_set(s->netns_err, ret, "more than %d enrolled listeners",
				  NT_MAX_SOCKETS);
	c = &s->cands[s->ncands++];
	memset(c, 0, sizeof(*c));
	c->key.netns_ino = s->netns;
	c->key.port = l->local.port;
	c->l = *l;
	c->n = n;
	return 0;
}

/* One served netns. A failure is remembered (its entries are then left as
 * they are) and the next netns is listed all the same. */
static int list_netns(int netns_fd, uint32_t netns_ino, void *arg)
{
	struct sync *s = arg;
	struct nt_err e = {};
	int ret;

	s->netns = netns_ino;
	s->netns_err = &e;
	ret = sockdiag__listeners(netns_fd, on_listener, s, &e);
	if (!ret)
		return 0;
	if (s->nfailed < NT_MAX_NETNS)
		s->failed[s->nfailed++] = netns_ino;
	if (!s->ret)
		s->ret = nt_err_set(s->err, ret, "listeners of netns %u: %s",
				    netns_ino, e.msg);
	return 0;
}

/* By key, then the lowest inode first: when several enrolled sockets
 * listen on one port (one per address, v4 and v6), the same one wins at
 * every sync. */
static int cand_cmp(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;

	if (x->key.netns_ino != y->key.netns_ino)
		return x->key.netns_ino < y->key.netns_ino ? -1 : 1;
	if (x->key.port != y->key.port)
		return x->key.port < y->key.port ? -1 : 1;
	return x->l.inode < y->l.inode ? -1 : x->l.inode > y->l.inode;
}

static int key_cmp(const void *a, const void *b)
{
	const struct nt_port_key *k = a;
	const struct cand *c = b;

	if (k->netns_ino != c->key.netns_ino)
		return k->netns_ino < c->key.netns_ino ? -1 : 1;
	return k->port < c->key.port ? -1 : k->port > c->key.port;
}

/* ---- the map ------------------------------------------------------------- */

static void make_value(const struct cand *c, struct nt_sock_value *v)
{
	memset(v, 0, sizeof(*v));
	/* No task here: sock_diag knows the socket, not who runs it now, so
	 * pid/tgid/exe stay 0 (attestation then has no /proc to read). */
	v->ev.uid = c->l.uid;
	/* sock_diag reports the socket's uid only; (uint32_t)-1 is no gid the
	 * kernel ever hands out, and attest/ treats it as unknown. */
	v->ev.gid = (uint32_t)-1;
	v->ev.cgroup_id = c->l.cgroup_id;
	v->ev.ns_cgroup_id = c->n->cgroup_id;
	v->ev.netns_ino = c->key.netns_ino;
	v->ev.mode = c->n->mode;
	v->ev.ns_id = c->n->id;
	memcpy(v->ev.comm, SYNC_COMM, sizeof(SYNC_COMM));
	v->orig_dst = c->l.local;
	v->flags = NT_SOCK_LISTENER;
	v->ktime = 0;		/* marks a sock_diag record */
}

/*
 * The kernel's record (ktime != 0) always stays. Ours is refreshed in
 * place when the namespace's mode changed: deleting it first would leave
 * a moment with no record, when sk_lookup lets SYNs through to the
 * workload. 1 when a new record went in.
 */
static int publish(int fd, const struct cand *c)
{
	struct nt_sock_value v, cur;

	make_value(c, &v);
	if (!bpf_map_lookup_elem(fd, &c->key, &cur)) {
		if (cur.ktime || !memcmp(&cur, &v, sizeof(v)))
			return 0;
		if (!bpf_map_update_elem(fd, &c->key, &v, BPF_EXIST))
			return 0;
		if (errno != ENOENT)
			return -errno;
	}
	if (!bpf_map_update_elem(fd, &c->key, &v, BPF_NOEXIST))
		return 1;
	return errno == EEXIST ? 0 : -errno;	/* EEXIST: listen() won */
}

static int publish_all(int fd, struct sync *s, size_t *added)
{
	const struct cand *c, *prev = NULL;
	int ret, first = 0;
	size_t i;

	for (i = 0; i < s->ncands; prev = c, i++) {
		c = &s->cands[i];
		if (prev && !key_cmp(&prev->key, c))
			continue;
		ret = publish(fd, c);
		if (ret == 1) {
			(*added)++;
			pr_info("listener on port %u (netns %u, uid %u) of namespace %s: recorded from sock_diag",
				c->key.port, c->key.netns_ino, c->l.uid, c->n->name);
		} else if (ret < 0 && !first) {
			first = ret;
		}
	}
	if (first)
		return nt_err_set(s->err, first, "failed to update inbound_ports: %s",
				  strerror(-first));
	return 0;
}

static bool netns_failed(const struct sync *s, uint32_t netns)
{
	size_t i;

	for (i = 0; i < s->nfailed; i++)
		if (s->failed[i] == netns)
			return true;
	return false;
}

/* Ours, and no longer backed by an enrolled listener in a served netns
 * whose listing worked. */
static bool stale(const struct sync *s, const struct nt_port_key *k,
		  const struct nt_sock_value *v)
{
	if (v->ktime || !(v->flags & NT_SOCK_LISTENER))
		return false;
	if (netns_failed(s, k->netns_ino))
		return false;
	return !s->ncands ||
	       !bsearch(k, s->cands, s->ncands, sizeof(*s->cands), key_cmp);
}

static int find_stale(int fd, const struct sync *s, struct nt_port_key **out,
		      size_t *n)
{
	struct nt_port_key key, next, *prev = NULL;
	struct nt_sock_value v;
	size_t cap = 0, steps = 0;
	int ret;

	/* Bounded: the kernel may delete keys under us, which restarts the
	 * walk from the first key. */
	while (steps++ < 2 * NT_MAX_SOCKETS &&
	       !bpf_map_get_next_key(fd, prev, &next)) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &v) || !stale(s, &key, &v))
			continue;
		ret = grow((void **)out, &cap, *n, sizeof(**out), NT_MAX_SOCKETS);
		if (ret)
			return ret;
		(*out)[(*n)++] = key;
	}
	return 0;
}

static int prune(int fd, struct sync *s, size_t *removed)
{
	struct nt_port_key *keys = NULL;
	struct nt_sock_value v;
	size_t i, n = 0;
	int ret;

	ret = find_stale(fd, s, &keys, &n);
	for (i = 0; !ret && i < n; i++) {
		/* Looked at again: listen() may have replaced it meanwhile. */
		if (bpf_map_lookup_elem(fd, &keys[i], &v) || v.ktime)
			continue;
		if (bpf_map_delete_elem(fd, &keys[i]) && errno != ENOENT) {
			ret = -errno;
			break;
		}
		(*removed)++;
		pr_info("listener on port %u (netns %u): gone or no longer enrolled, sock_diag record removed",
			keys[i].port, keys[i].netns_ino);
	}
	free(keys);
	if (ret)
		return nt_err_set(s->err, ret, "failed to prune inbound_ports: %s",
				  strerror(-ret));
	return 0;
}

int listeners__sync(struct nt_err *err)
{
	int fd = datapath__map_fd(nd->dp, "inbound_ports"), ret;
	struct sync s = { .err = err };
	size_t added = 0, removed = 0;

	if (fd < 0)
		return nt_err_set(err, fd, "no inbound_ports map");
	ret = cg_owners__collect(&s.cgs, err);
	if (ret)
		goto out;	/* ownership unknown: change nothing */
	/* Nothing enrolled, nothing to list; old records still go. */
	if (s.cgs.n)
		proxy__foreach_netns(list_netns, &s);
	if (s.ncands)
		qsort(s.cands, s.ncands, sizeof(*s.cands), cand_cmp);
	ret = publish_all(fd, &s, &added);
	if (!ret)
		ret = prune(fd, &s, &removed);
	if (!ret)
		ret = s.ret;	/* a netns that could not be listed */
	pr_debug("listeners: %zu enrolled, %zu recorded, %zu removed",
		 s.ncands, added, removed);
out:
	cg_owners__free(&s.cgs);
	free(s.cands);
	return ret;
}
