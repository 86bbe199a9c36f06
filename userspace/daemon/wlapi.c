// SPDX-License-Identifier: Apache-2.0
/*
 * The SPIFFE Workload API served from nametagd (docs/workload-api.md): the
 * library (userspace/workload_api/) speaks gRPC; this file is its struct
 * wlapi_ops, made of the daemon's own stages, so a caller gets the identity
 * the mesh gives the same process: the same evidence, the same identity
 * stage (entries, templates, namespace modes), the same SVID cache and the
 * trust bundles the proxy verifies with.
 *
 * The caller's evidence is taken when its connection is accepted:
 *  - with the cgroup unix connect hook (6.7+), the record the connecting
 *    task left at connect() (bpf/unix.bpf.h); nothing it does afterwards
 *    changes it, as for a TCP connection of the mesh;
 *  - elsewhere, SO_PEERCRED's pid, with /proc and the BPF process table
 *    read at once, and the pid's start time checked again before and after
 *    every attestation: a caller that is gone (or whose pid now names
 *    another process) is Unauthenticated.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sys/stat.h>
#include <time.h>

#include "userspace/daemon/daemon.h"

struct wl_caller {
	struct nt_evidence ev;
	bool hook;			/* ev is the connect hook's record */
	int gone;			/* 0, or why every call is
					 * Unauthenticated (-ESRCH) */
};

struct wl_watch {
	struct loop_handler h;		/* first: the loop hands it back */
	struct wlapi_watch *w;
};

/* ---- the loop ---------------------------------------------------------- */

static void on_watch(struct loop_handler *h, uint32_t events)
{
	struct wl_watch *ww = (struct wl_watch *)h;

	wlapi__ready(ww->w, events);
}

static int watch(void *ctx, struct wlapi_watch *w, uint32_t events)
{
	struct daemon *d = ctx;
	struct wl_watch *ww = w->loop_data;
	int ret;

	if (ww)
		return loop__mod(d->loop, &ww->h, events);
	ww = calloc(1, sizeof(*ww));
	if (!ww)
		return -ENOMEM;
	ww->h = (struct loop_handler){ .fd = w->fd, .on_event = on_watch };
	ww->w = w;
	ret = loop__add(d->loop, &ww->h, events);
	if (ret) {
		free(ww);
		return ret;
	}
	w->loop_data = ww;
	return 0;
}

/* The library frees @w when this returns: an event of this batch already
 * fetched must find the handler closed, not a freed watch. */
static void unwatch(void *ctx, struct wlapi_watch *w)
{
	struct daemon *d = ctx;
	struct wl_watch *ww = w->loop_data;

	if (!ww)
		return;
	loop__del(d->loop, &ww->h);
	ww->h.fd = -1;
	ww->w = NULL;
	w->loop_data = NULL;
	loop__defer_free(d->loop, ww);
}

/* ---- the caller's evidence ------------------------------------------------ */

/* The cgroup of @pid (/proc/PID/cgroup), and its nearest ancestor that is
 * a namespace (any mode), as ids. */
static int pid_cgroup(struct daemon *d, uint32_t pid, uint64_t *cgroup_id,
		      const struct ns **n)
{
	char path[64], line[PATH_MAX], full[PATH_MAX * 2];
	uint64_t id;
	char *p, *end;
	FILE *f;
	int ret = -ENOENT;

	*n = NULL;
	snprintf(path, sizeof(path), "/proc/%u/cgroup", pid);
	f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? -ESRCH : -errno;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "0::/", 4)) {
			line[strcspn(line, "\n")] = '\0';
			ret = 0;
			break;
		}
	fclose(f);
	if (ret)
		return ret;
	snprintf(full, sizeof(full), "%s%s", d->cg.mount, line + 3);
	ret = cgroup__id(full, cgroup_id);
	if (ret)
		return ret;
	/* Up from the process's own cgroup, as the BPF programs walk. */
	end = full + strlen(full);
	for (p = end; p > full + strlen(d->cg.mount); p--) {
		if (p != end && *p != '/')
			continue;
		*p = '\0';
		if (!cgroup__id(full, &id) && (*n = ns_table__by_cgroup(d->ns, id)))
			break;
	}
	return 0;
}

static int fallback_evidence(struct daemon *d, const struct ucred *cred,
			     struct wl_caller *c)
{
	const struct ns *n;
	uint64_t cgid;
	int ret;

	if (cred->pid <= 0)
		return -ESRCH;
	ret = pid_cgroup(d, cred->pid, &cgid, &n);
	if (!ret)
		ret = workload__pid_evidence(d, cred->pid, cgid, n, &c->ev);
	if (ret < 0)
		return ret == -ENOENT ? -ESRCH : ret;
	/* The ids SO_PEERCRED captured at connect(), not /proc's now. */
	c->ev.uid = cred->uid;
	c->ev.gid = cred->gid;
	return 0;
}

static int conn_open(void *ctx, int fd, const struct ucred *cred,
		     void **caller)
{
	struct daemon *d = ctx;
	struct nt_sock_value v;
	struct wl_caller *c;
	int ret;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	*caller = c;
	ret = datapath__unix_evidence(d->dp, fd, &v);
	if (!ret && v.ev.tgid == (uint32_t)cred->pid) {
		c->ev = v.ev;
		c->hook = true;
		return 0;
	}
	if (datapath__has_unix_hook(d->dp)) {
		/* The hook records every caller of an enrolled namespace;
		 * none means the caller was in none at connect(). */
		d->wlapi_no_record++;
		pr_debug("workload api: no connect record for pid %d (%s)",
			 cred->pid, ret ? strerror(-ret) : "another pid");
		c->ev.ns_cgroup_id = 0;
		c->hook = true;
		return 0;
	}
	c->gone = fallback_evidence(d, cred, c);
	if (c->gone)
		pr_debug("workload api: caller pid %d: %s", cred->pid,
			 strerror(-c->gone));
	return 0;
}

static void conn_close(void *ctx, void *caller)
{
	free(caller);
}

/* Fallback evidence holds while the pid names the process that connected. */
static bool still_there(const struct wl_caller *c)
{
	uint64_t start;

	return c->hook || (!workload__pid_start(c->ev.tgid, &start) &&
			   start == c->ev.start_boottime);
}

/* ---- identities and bundles ------------------------------------------------ */

/* The next time an SVID handed out passes half its life (svids.c re-mints
 * then): the streams are asked again at that tick. */
static void note_rotation(struct daemon *d, const struct svid *s)
{
	time_t nb, na, half;

	if (x509__validity(s->leaf, &nb, &na))
		return;
	half = nb + (na - nb) / 2;
	if (!d->wlapi_rotate_at || half < d->wlapi_rotate_at)
		d->wlapi_rotate_at = half;
}

static int identity(void *ctx, void *caller, struct wlapi_identity *out)
{
	struct daemon *d = ctx;
	struct wl_caller *c = caller;
	struct workload *w = NULL;
	struct nt_err err = {};
	const struct svid *s;
	const struct ns *n;
	int ret;

	if (c->gone || !still_there(c))
		return -ESRCH;
	n = ns_table__by_cgroup(d->ns, c->ev.ns_cgroup_id);
	if (!n || n->mode == NT_MODE_OFF)
		return -EPERM;
	ret = identity__resolve(d->identity, &c->ev, &w, &err);
	/* Attestation read /proc: it must still have been the caller. */
	if (!still_there(c)) {
		workload__put(w);
		return -ESRCH;
	}
	if (ret) {
		pr_debug("workload api: pid %u has no identity: %s",
			 c->ev.tgid, err.msg);
		workload__put(w);
		return ret == -ENOMEM ? -ENOMEM : -EPERM;
	}
	s = svid_cache__get(d->svids, w->id, &err);
	workload__put(w);
	if (!s) {
		pr_warn("workload api: no SVID: %s", err.msg);
		return -EAGAIN;
	}
	note_rotation(d, s);
	out->svids[0] = (struct wlapi_svid){ .svid = s };
	out->n = 1;
	return 0;
}

static int bundles(void *ctx, void *caller, const struct bundle_set **set,
		   const char **local_td)
{
	struct daemon *d = ctx;
	unsigned int gen;

	*set = proxy__trust(d->proxy, &gen);
	*set = fleet__wlapi_trust(d, *set, gen);
	*local_td = node_ca__trust_domain(d->ca);
	return *set ? 0 : -EAGAIN;
}

static int mint_jwt(void *ctx, void *caller, const struct spiffe_id *id,
		    const char *const *aud, size_t naud, char **token,
		    struct nt_err *err)
{
	struct daemon *d = ctx;

	return node_ca__mint_jwt(d->ca, id, aud, naud, 0, time(NULL), token,
				 NULL, err);
}

static void log_line(void *ctx, int level, const char *msg)
{
	nt_log(level <= LOG_ERR ? NT_LOG_ERR : level == LOG_WARNING ?
	       NT_LOG_WARN : level <= LOG_INFO ? NT_LOG_INFO : NT_LOG_DEBUG,
	       "workload api: %s", msg);
}

/* ---- the daemon's side ------------------------------------------------------ */

/* The socket's directory, made 0755 if missing (its parent must exist):
 * every local user must reach the socket, so it never goes in the
 * daemon's 0700 run dir (docs/workload-api.md). */
static int socket_dir(const char *path, struct nt_err *err)
{
	char dir[PATH_MAX];
	char *slash;

	if (path[0] != '/' || strlen(path) >= sizeof(dir))
		return nt_err_set(err, -EINVAL,
				  "workload api: %s: not an absolute path", path);
	strcpy(dir, path);
	slash = strrchr(dir, '/');
	if (slash == dir)
		return 0;
	*slash = '\0';
	if (!mkdir(dir, 0755))
		return chmod(dir, 0755) ? nt_err_set(err, -errno,
				"workload api: %s: %s", dir, strerror(errno)) : 0;
	if (errno != EEXIST)
		return nt_err_set(err, -errno, "workload api: %s: %s", dir,
				  strerror(errno));
	return 0;
}

int daemon_wlapi__open(struct daemon *d, struct nt_err *err)
{
	const struct wlapi_ops ops = {
		.ctx = d, .watch = watch, .unwatch = unwatch,
		.conn_open = conn_open, .conn_close = conn_close,
		.identity = identity, .bundles = bundles, .mint_jwt = mint_jwt,
		.log = log_line,
	};
	int ret;

	if (!d->opts.workload_api)
		return 0;
	ret = socket_dir(d->opts.workload_api, err);
	if (!ret)
		ret = wlapi__new(&d->wlapi, NULL, &ops, err);
	if (!ret)
		ret = wlapi__listen(d->wlapi, d->opts.workload_api, err);
	if (ret)
		return nt_err_prefix(err, ret, "workload api");
	proxy__trust(d->proxy, &d->wlapi_trust_gen);
	pr_info("workload api on %s (caller evidence: %s)",
		d->opts.workload_api, datapath__has_unix_hook(d->dp) ?
		"the unix connect hook" :
		"SO_PEERCRED and the process table's start time");
	return 0;
}

void daemon_wlapi__changed(struct daemon *d, unsigned int what)
{
	d->wlapi_changes |= what;
}

/* After each batch of events: the changes it made, once. */
void daemon_wlapi__flush(struct daemon *d)
{
	unsigned int what = d->wlapi_changes;

	d->wlapi_changes = 0;
	if (d->wlapi && what)
		wlapi__changed(d->wlapi, what);
}

/* Once a second: timeouts, a trust reload, an SVID due for rotation. */
void daemon_wlapi__tick(struct daemon *d)
{
	unsigned int gen;
	time_t now = time(NULL);

	if (!d->wlapi)
		return;
	wlapi__tick(d->wlapi);
	proxy__trust(d->proxy, &gen);
	if (gen != d->wlapi_trust_gen) {
		d->wlapi_trust_gen = gen;
		d->wlapi_changes |= WLAPI_CHANGED_BUNDLES;
	}
	if (d->wlapi_rotate_at && now >= d->wlapi_rotate_at) {
		d->wlapi_rotate_at = 0;
		d->wlapi_changes |= WLAPI_CHANGED_IDENTITY;
	}
	daemon_wlapi__flush(d);
}

void daemon_wlapi__close(struct daemon *d)
{
	wlapi__free(d->wlapi);
	d->wlapi = NULL;
}
