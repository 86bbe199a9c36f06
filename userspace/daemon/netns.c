// SPDX-License-Identifier: Apache-2.0
/*
 * Which network namespaces the node proxy serves, the daemon's decision
 * (the proxy only does it, proxy/listen.c): those an operator added with
 * `proxy add` (remembered in STATE/proxies.json), and every one an
 * enrolled permissive or strict workload lives in, found from its kernel
 * events or from the enrolled cgroups, so a pod's first packet need not
 * wait for an operator. With --manual-netns a found one is only guarded
 * (strict still refuses plaintext to its enrolled listeners). Serving a
 * namespace records the listeners already there at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
 * sync: until then their plaintext would pass. */
static int serve(struct daemon *d, const char *path, uint32_t want_ino,
		 unsigned int flags, struct nt_err *err)
{
	int ret = proxy__serve(d->proxy, path, want_ino, flags, err);

	if (ret > 0)
		daemon__sync_listeners_soon(d);
	return ret < 0 ? ret : 0;
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

void netns__serve_pid(struct daemon *d, uint32_t tgid, uint32_t netns_ino)
{
	unsigned int flags = PROXY_SERVE_FOUND;
	struct nt_err err = {};
	char path[64];

	if (proxy__serves(d->proxy, netns_ino))
		return;
	if (d->opts.manual_netns)
		flags |= PROXY_SERVE_GUARD;
	snprintf(path, sizeof(path), "/proc/%u/ns/net", tgid);
	if (serve(d, path, netns_ino, flags, &err))
		pr_debug("not serving netns %u: %s", netns_ino, err.msg);
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
	netns__serve_pid(s->d, pid, st.st_ino);
	if (was_seen(s, st.st_ino) ||
	    array__grow((void **)&s->v, &s->cap, s->n, sizeof(*s->v),
			NT_MAX_NETNS))
		return 0;
	s->v[s->n++] = st.st_ino;
	return 0;
}

static int seen_cgroup(int dfd, uint64_t id, const char *rel, int depth,
		       void *arg)
{
	return cgroup__procs(dfd, seen_pid, arg);
}

static int unserve_unseen(const struct proxy_netns *n, void *arg)
{
	const struct seen *s = arg;

	if (!n->found || was_seen(s, n->netns_ino))
		return 0;
	pr_info("netns %u has no enrolled workload left: not serving it",
		n->netns_ino);
	proxy__unserve(s->d->proxy, n->netns_ino, NULL);
	return 1;	/* the list changed: walk it again */
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
			cgroup__walk(fd, &w);
	}
	/* A found namespace none lives in any more is let go: our fd would
	 * otherwise keep a deleted pod's namespace alive. */
	while (proxy__foreach_netns(d->proxy, unserve_unseen, &s))
		;
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
	int (*fn)(int netns_fd, uint32_t netns_ino, void *arg);
	void *arg;
};

static int each_served(const struct proxy_netns *n, void *arg)
{
	struct each *e = arg;

	return e->fn(n->netns_fd, n->netns_ino, e->arg);
}

int netns__each(int (*fn)(int netns_fd, uint32_t netns_ino, void *arg),
		void *arg, void *ctx)
{
	struct daemon *d = ctx;
	struct each e = { .fn = fn, .arg = arg };

	return proxy__foreach_netns(d->proxy, each_served, &e);
}

void daemon__sync_listeners(struct daemon *d)
{
	struct dp_enrolled *ns = NULL;
	struct nt_err err = {};
	size_t n = 0;

	if (ns__enrolled(d, &ns, &n)) {
		pr_warn("listener sync: out of memory");
		return;
	}
	if (datapath__sync_listeners(d->dp, ns, n, netns__each, d, &err))
		pr_warn("listener sync: %s", err.msg);
	free(ns);
}

void daemon__sync_listeners_soon(struct daemon *d)
{
	d->sync_soon = true;
}
