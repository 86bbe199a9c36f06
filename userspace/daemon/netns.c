// SPDX-License-Identifier: Apache-2.0
/*
 * Which network namespaces the node proxy serves, the daemon's decision
 * (the proxy only does it, proxy/listen.c): those an operator added with
 * `proxy add` (remembered in STATE/proxies.json), and every one an
 * enrolled permissive or strict process is in, from the moment it is
 * there: the kernel says so at exec, fork and cgroup attach
 * (bpf/serve.bpf.h, NT_EV_NETNS), `ns enable` and the 10 s sweep walk the
 * enrolled cgroups. A strict connect() that comes before the proxy is held
 * by the kernel while this daemon is alive (netns__serve_on_demand). A
 * found namespace stays served until no process lives in it and no bind
 * mount names it. With --manual-netns a found one is only guarded (strict
 * still refuses plaintext to its enrolled listeners). Serving a namespace
 * records the listeners already there at once.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "userspace/daemon/daemon.h"

#define PROXIES_FILE	"proxies.json"
#define PROXIES_MAX	(1 << 20)
#define WALK_DEPTH	16

static int add_path(const struct proxy_netns *n, void *arg)
{
	/* Namespaces found from workloads are found again after a restart;
	 * their /proc paths would not survive it anyway. */
	if (!n->found)
		cJSON_AddItemToArray(arg, cJSON_CreateString(n->path));
	return 0;
}

static int save(struct daemon *d, struct nt_err *err)
{
	cJSON *root = cJSON_CreateObject();
	char path[PATH_MAX], *s;
	int ret;

	proxy__foreach_netns(d->proxy, add_path,
			     cJSON_AddArrayToObject(root, "netns"));
	s = cJSON_Print(root);
	cJSON_Delete(root);
	if (!s)
		return nt_err_set(err, -ENOMEM, "out of memory");
	snprintf(path, sizeof(path), "%s/%s", d->opts.state_dir, PROXIES_FILE);
	ret = state__write(path, s, strlen(s), 0600, err);
	cJSON_free(s);
	return ret;
}

/* Listeners already there are recorded at once, not at the next periodic
 * sync: until then their plaintext would pass. A namespace found from a
 * workload is synced on its own after the batch (a burst of new pods must
 * not list every served namespace again for each). */
static int serve(struct daemon *d, const char *path, uint32_t want_ino,
		 unsigned int flags, struct nt_err *err)
{
	int ret = proxy__serve(d->proxy, path, want_ino, flags, err);

	if (ret <= 0)
		return ret;
	if (want_ino && !array__grow((void **)&d->fresh, &d->fresh_cap,
				     d->nfresh, sizeof(*d->fresh),
				     DAEMON_MAX_NETNS_MAX))
		d->fresh[d->nfresh++] = want_ino;
	else
		daemon__sync_listeners_soon(d);	/* all of them, then */
	return 0;
}

int netns__add(struct daemon *d, const char *path, struct nt_err *err)
{
	int ret = serve(d, path, 0, 0, err);

	if (!ret)
		ret = save(d, err);
	if (!ret)
		daemon__sync_listeners(d);
	return ret;
}

int netns__del(struct daemon *d, uint32_t netns_ino, struct nt_err *err)
{
	int ret = proxy__unserve(d->proxy, netns_ino, err);

	if (!ret)
		ret = save(d, err);
	if (!ret)
		daemon__sync_listeners(d);
	return ret;
}

/* An error once per namespace that does not fit (the kernel asks again
 * every NT_WANT_REFUSED_NS, the sweep every 10 s). */
static void say_limit(struct daemon *d, uint32_t ino, const char *msg)
{
	unsigned int i, n = ARRAY_SIZE(d->limit_said);

	for (i = 0; i < d->nlimit_said && i < n; i++)
		if (d->limit_said[i] == ino)
			return;
	d->limit_said[d->nlimit_said++ % n] = ino;
	pr_err("%s", msg);
}

void netns__serve_pid(struct daemon *d, uint32_t tgid, uint32_t netns_ino,
		      uint64_t asked)
{
	unsigned int flags = PROXY_SERVE_FOUND;
	struct nt_err err = {};
	char path[64];
	int ret;

	if (proxy__serves(d->proxy, netns_ino))
		return;
	if (d->opts.manual_netns)
		flags |= PROXY_SERVE_GUARD;
	snprintf(path, sizeof(path), "/proc/%u/ns/net", tgid);
	ret = serve(d, path, netns_ino, flags, &err);
	/* How long a connect() there waited, or would have (the window the
	 * kernel holds SYNs through, docs/datapath.md). */
	if (!ret && asked)
		pr_info("netns %u served %.1f ms after the kernel asked", netns_ino,
			(double)(clock__mono_ns() - asked) / 1e6);
	if (!ret || ret == -ENOENT || ret == -ESRCH) {
		/* Served, or the process is gone (or in another netns now):
		 * nothing of it to serve or to hold. */
		if (ret)
			pr_debug("not serving netns %u: %s", netns_ino, err.msg);
		return;
	}
	if (ret == -ENOSPC)
		say_limit(d, netns_ino, err.msg);
	else
		pr_warn("not serving netns %u: %s", netns_ino, err.msg);
	/* Strict refuses there at once, and lets the held SYNs go. */
	datapath__refuse_netns(d->dp, netns_ino);
}

void netns__want(struct daemon *d, uint32_t tgid, uint32_t netns_ino,
		 uint64_t asked)
{
	size_t i;

	if (proxy__serves(d->proxy, netns_ino))
		return;
	for (i = d->want_head; i < d->nwant; i++)
		if (d->want[i].netns_ino == netns_ino)
			return;
	if (d->want_head && d->nwant == d->want_cap) {
		/* Slide the queue to the front of its array. */
		memmove(d->want, d->want + d->want_head,
			(d->nwant - d->want_head) * sizeof(*d->want));
		d->nwant -= d->want_head;
		d->want_head = 0;
	}
	if (array__grow((void **)&d->want, &d->want_cap, d->nwant,
			sizeof(*d->want), DAEMON_MAX_NETNS_MAX)) {
		netns__serve_pid(d, tgid, netns_ino, asked);	/* no room: now */
		return;
	}
	d->want[d->nwant++] = (struct netns_want){ tgid, netns_ino, asked };
}

bool netns__serve_some(struct daemon *d, unsigned int max)
{
	const struct netns_want *w;

	while (max-- && d->want_head < d->nwant) {
		w = &d->want[d->want_head++];
		netns__serve_pid(d, w->tgid, w->netns_ino, w->asked);
	}
	if (d->want_head == d->nwant)
		d->want_head = d->nwant = 0;
	return d->nwant > 0;
}

int netns__serve_on_demand(struct daemon *d, struct nt_err *err)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int one = 1, ret;

	/* A socket nobody connects to: the kernel only watches it live. */
	d->server_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (d->server_fd < 0)
		return nt_err_set(err, -errno, "serving socket: %s", strerror(errno));
	setsockopt(d->server_fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof(one));
	if (bind(d->server_fd, (struct sockaddr *)&a, sizeof(a)) ||
	    listen(d->server_fd, 0))
		return nt_err_set(err, -errno, "serving socket: %s", strerror(errno));
	ret = datapath__set_server(d->dp, d->server_fd, err);
	if (!ret)
		pr_info("serving network namespaces on demand (at most %u): strict holds a connect() made before its proxy exists",
			d->opts.max_netns ? d->opts.max_netns : NT_MAX_NETNS);
	return ret;
}

/* ---- the enrolled workloads' namespaces -------------------------------------------- */

struct seen {
	struct daemon *d;
	uint32_t *v;
	size_t n, cap;
};

static bool was_seen(const struct seen *s, uint32_t ino)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (s->v[i] == ino)
			return true;
	return false;
}

static int seen_pid(uint32_t pid, void *arg)
{
	struct seen *s = arg;
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%u/ns/net", pid);
	if (stat(path, &st))
		return 0;
	netns__serve_pid(s->d, pid, st.st_ino, 0);
	if (was_seen(s, st.st_ino) ||
	    array__grow((void **)&s->v, &s->cap, s->n, sizeof(*s->v),
			DAEMON_MAX_NETNS_MAX))
		return 0;
	s->v[s->n++] = st.st_ino;
	return 0;
}

static int seen_cgroup(int dfd, uint64_t id, const char *rel, int depth,
		       void *arg)
{
	return cgroup__procs(dfd, seen_pid, arg);
}

/* ---- letting a namespace go ---------------------------------------------------------- */

/* Found namespaces no enrolled process is in: candidates to let go. */
struct idle {
	const struct seen *seen;
	uint32_t *v;
	size_t n, cap;
};

static int idle_found(const struct proxy_netns *n, void *arg)
{
	struct idle *c = arg;

	if (!n->found || n->guard_only || was_seen(c->seen, n->netns_ino))
		return 0;
	if (array__grow((void **)&c->v, &c->cap, c->n, sizeof(*c->v),
			DAEMON_MAX_NETNS_MAX))
		return -ENOMEM;
	c->v[c->n++] = n->netns_ino;
	return 0;
}

static void keep(struct idle *c, uint32_t ino)
{
	size_t i;

	for (i = 0; i < c->n; i++) {
		if (c->v[i] == ino) {
			c->v[i] = c->v[--c->n];
			return;
		}
	}
}

/* A bind mount of the netns (`ip netns add`, a CNI's netns file) in our
 * mount namespace: "net:[INO]" is the mount's root in mountinfo. */
static void keep_mounted(struct idle *c)
{
	char line[4096], root[64];
	unsigned int ino;
	FILE *f = fopen("/proc/self/mountinfo", "re");

	if (!f)
		return;
	while (c->n && fgets(line, sizeof(line), f))
		if (sscanf(line, "%*s %*s %*s %63s", root) == 1 &&
		    sscanf(root, "net:[%u]", &ino) == 1)
			keep(c, ino);
	fclose(f);
}

/* A process in the netns, enrolled or not. */
static void keep_inhabited(struct idle *c)
{
	char path[64];
	struct dirent *de;
	struct stat st;
	DIR *dir = opendir("/proc");

	if (!dir)
		return;
	while (c->n && (de = readdir(dir))) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%.16s/ns/net", de->d_name);
		if (!stat(path, &st))
			keep(c, st.st_ino);
	}
	closedir(dir);
}

/* A found namespace with no process in it and no bind mount naming it is
 * let go: our sockets would otherwise keep a deleted pod's netns alive. */
static void let_go_unused(struct daemon *d, const struct seen *s)
{
	struct idle c = { .seen = s };
	size_t i;

	if (proxy__foreach_netns(d->proxy, idle_found, &c)) {
		free(c.v);
		return;
	}
	if (c.n)
		keep_mounted(&c);
	if (c.n)
		keep_inhabited(&c);
	for (i = 0; i < c.n; i++) {
		pr_info("netns %u: no process lives there and no bind mount names it: not serving it",
			c.v[i]);
		proxy__unserve(d->proxy, c.v[i], NULL);
	}
	free(c.v);
}

void netns__sync(struct daemon *d)
{
	struct cgroup_walk w = { .depth_max = WALK_DEPTH, .fn = seen_cgroup };
	struct seen s = { .d = d };
	const struct ns *n;
	size_t i;
	int fd;

	w.arg = &s;
	for (i = 0; i < ns_table__count(d->ns); i++) {
		n = ns_table__at(d->ns, i);
		if (n->mode < NT_MODE_PERMISSIVE || !n->cgroup_id)
			continue;
		fd = open(n->cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd >= 0)
			cgroup__walk(fd, &w);	/* closes fd */
	}
	let_go_unused(d, &s);
	free(s.v);
}

int netns__restore(struct daemon *d, struct nt_err *err)
{
	char path[PATH_MAX], *buf = NULL;
	const cJSON *it;
	cJSON *root = NULL;
	size_t len;
	int ret;

	snprintf(path, sizeof(path), "%s/%s", d->opts.state_dir, PROXIES_FILE);
	ret = state__read(path, PROXIES_MAX, false, &buf, &len, err);
	if (!ret)
		ret = json__parse_strict(buf, len, &root, err);
	free(buf);
	if (ret && ret != -ENOENT)
		return ret;
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(root, "netns")) {
		struct nt_err e2 = {};

		if (cJSON_IsString(it) && serve(d, it->valuestring, 0, 0, &e2))
			pr_warn("not serving %s: %s", it->valuestring, e2.msg);
	}
	cJSON_Delete(root);
	netns__sync(d);
	return 0;
}

/* ---- the listener sync -------------------------------------------------------------- */

struct each {
	struct daemon *d;
	int (*fn)(int netns_fd, uint32_t netns_ino, void *arg);
	void *arg;
};

/* The proxy keeps no fd of a namespace: one for the call, closed after. */
static int each_served(const struct proxy_netns *n, void *arg)
{
	struct each *e = arg;
	int fd = proxy__open_netns(e->d->proxy, n->netns_ino), ret;

	if (fd < 0)
		return 0;
	ret = e->fn(fd, n->netns_ino, e->arg);
	close(fd);
	return ret;
}

int netns__each(int (*fn)(int netns_fd, uint32_t netns_ino, void *arg),
		void *arg, void *ctx)
{
	struct daemon *d = ctx;
	struct each e = { .d = d, .fn = fn, .arg = arg };

	return proxy__foreach_netns(d->proxy, each_served, &e);
}

/* The namespaces served since the last sync (still served). */
static int each_fresh(int (*fn)(int netns_fd, uint32_t netns_ino, void *arg),
		      void *arg, void *ctx)
{
	struct daemon *d = ctx;
	size_t i;
	int fd, ret = 0;

	for (i = 0; !ret && i < d->nfresh; i++) {
		fd = proxy__open_netns(d->proxy, d->fresh[i]);
		if (fd < 0)
			continue;
		ret = fn(fd, d->fresh[i], arg);
		close(fd);
	}
	return ret;
}

static void sync_with(struct daemon *d, dp_netns_each each)
{
	struct dp_enrolled *ns = NULL;
	struct nt_err err = {};
	size_t n = 0;

	if (ns__enrolled(d, &ns, &n)) {
		pr_warn("listener sync: out of memory");
		return;
	}
	if (datapath__sync_listeners(d->dp, ns, n, each, d, &err))
		pr_warn("listener sync: %s", err.msg);
	free(ns);
}

void daemon__sync_listeners(struct daemon *d)
{
	sync_with(d, netns__each);
	d->nfresh = 0;
}

void daemon__sync_fresh(struct daemon *d)
{
	if (!d->nfresh)
		return;
	sync_with(d, each_fresh);
	d->nfresh = 0;
}

void daemon__sync_listeners_soon(struct daemon *d)
{
	d->sync_soon = true;
}
