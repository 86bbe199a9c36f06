// SPDX-License-Identifier: Apache-2.0
/*
 * The Workload API server: the listening socket, admission (a cap in all
 * and per uid), time, change notifications and freeing connections once
 * the library has returned to the loop.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include "userspace/workload_api/wlapi_int.h"

time_t wl_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

void wl_log(struct wlapi *srv, int level, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	if (!srv->ops.log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	srv->ops.log(srv->ops.ctx, level, msg);
}

/* ---- entry points and reaping ------------------------------------------- */

/* Every public entry point brackets its work: a connection closed on the
 * way is freed only when the outermost one returns. */
void wl_enter(struct wlapi *srv)
{
	srv->depth++;
}

void wl_leave(struct wlapi *srv)
{
	struct wl_conn *c;

	if (--srv->depth)
		return;
	while ((c = srv->dead)) {
		srv->dead = c->next;
		conn__free(c);
	}
}

/* ---- creation ------------------------------------------------------------- */

#define DEFAULT(field, value) \
	do { if (!cfg.field) cfg.field = (value); } while (0)

int wlapi__new(struct wlapi **out, const struct wlapi_config *in,
	       const struct wlapi_ops *ops, struct nt_err *err)
{
	struct wlapi_config cfg = { 0 };
	struct wlapi *srv;

	if (!ops || !ops->watch || !ops->unwatch || !ops->identity ||
	    !ops->bundles || !ops->mint_jwt)
		return nt_err_set(err, -EINVAL,
				  "workload api: a required callback is missing");
	if (in)
		cfg = *in;
	DEFAULT(conns_max, WLAPI_CONNS_MAX);
	DEFAULT(conns_per_uid, WLAPI_CONNS_PER_UID);
	DEFAULT(conn_mem_max, WLAPI_CONN_MEM_MAX);
	DEFAULT(streams_max, WLAPI_STREAMS_MAX);
	DEFAULT(preface_timeout, WLAPI_PREFACE_TIMEOUT);
	DEFAULT(idle_timeout, WLAPI_IDLE_TIMEOUT);
	DEFAULT(stall_timeout, WLAPI_STALL_TIMEOUT);
	DEFAULT(jwt_leeway, JWT_SVID_LEEWAY);
	if (cfg.jwt_leeway < 0)
		cfg.jwt_leeway = 0;
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return nt_err_set(err, -ENOMEM, "out of memory");
	srv->cfg = cfg;
	srv->ops = *ops;
	srv->listener.fd = -1;
	*out = srv;
	return 0;
}

/* The socket file, unless it is no longer ours: after an upgrade in
 * place the new nametagd bound the path anew, and the old one leaving
 * must not take its socket with it. */
static void unlink_own(const struct wlapi *srv)
{
	struct stat st;

	if (!lstat(srv->path, &st) && st.st_dev == srv->path_dev &&
	    st.st_ino == srv->path_ino)
		unlink(srv->path);
}

void wlapi__free(struct wlapi *srv)
{
	if (!srv)
		return;
	wl_enter(srv);
	while (srv->conns)
		conn__close(srv->conns, "shutting down");
	if (srv->listener.fd >= 0) {
		if (!srv->paused)
			srv->ops.unwatch(srv->ops.ctx, &srv->listener);
		close(srv->listener.fd);
	}
	if (srv->path)
		unlink_own(srv);
	wl_leave(srv);
	free(srv->path);
	free(srv);
}

/* ---- accepting ------------------------------------------------------------ */

static unsigned int conns_of_uid(const struct wlapi *srv, uid_t uid)
{
	const struct wl_conn *c;
	unsigned int n = 0;

	for (c = srv->conns; c; c = c->next)
		n += c->cred.uid == uid;
	return n;
}

/* Logs refusals at 1, 2, 4, 8... so a flood says itself without flooding
 * the log. */
static void refused(struct wlapi *srv, uint64_t *counter, const char *why,
		    uid_t uid)
{
	(*counter)++;
	srv->stats.refused_total += counter != &srv->stats.refused_total;
	if (srv->stats.refused_total & (srv->stats.refused_total - 1))
		return;
	wl_log(srv, LOG_WARNING,
	       "workload api: refused a connection from uid %u (%s); %llu refused so far",
	       (unsigned int)uid, why,
	       (unsigned long long)srv->stats.refused_total);
}

static void admit(struct wlapi *srv, int fd)
{
	struct ucred cred = { .pid = 0 };
	socklen_t len = sizeof(cred);
	struct nt_err err = { "" };

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) ||
	    len != sizeof(cred)) {
		close(fd);
		return;
	}
	if (srv->nconns >= srv->cfg.conns_max) {
		close(fd);
		refused(srv, &srv->stats.refused_total, "too many connections",
			cred.uid);
		return;
	}
	if (conns_of_uid(srv, cred.uid) >= srv->cfg.conns_per_uid) {
		close(fd);
		refused(srv, &srv->stats.refused_uid,
			"too many connections from this uid", cred.uid);
		return;
	}
	if (conn__new(srv, fd, &cred, &err))
		wl_log(srv, LOG_WARNING, "workload api: %s", err.msg);
}

static void on_listener(struct wlapi_watch *w, uint32_t events)
{
	struct wlapi *srv = (struct wlapi *)((char *)w -
					     offsetof(struct wlapi, listener));
	int i, fd;

	wl_enter(srv);
	/* A bounded batch, so a connect flood cannot starve the rest. */
	for (i = 0; i < 64; i++) {
		fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			srv->stats.accepted++;
			admit(srv, fd);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno == EMFILE || errno == ENFILE) {
			/* Level-triggered: it would fire again at once.
			 * Listen again at the next tick. */
			srv->ops.unwatch(srv->ops.ctx, w);
			srv->paused = true;
			wl_log(srv, LOG_WARNING,
			       "workload api: out of file descriptors, accepting again in a second");
		}
		break;
	}
	wl_leave(srv);
}

int wlapi__listen(struct wlapi *srv, const char *path, struct nt_err *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, ret;

	if (srv->listener.fd >= 0)
		return nt_err_set(err, -EBUSY, "workload api: already listening");
	if (!path || path[0] != '/' || strlen(path) >= sizeof(sa.sun_path))
		return nt_err_set(err, -EINVAL,
				  "workload api: the socket needs an absolute path of at most %zu bytes",
				  sizeof(sa.sun_path) - 1);
	if (!lstat(path, &st)) {
		if (!S_ISSOCK(st.st_mode))
			return nt_err_set(err, -EEXIST,
					  "workload api: %s exists and is not a socket",
					  path);
		if (unlink(path))
			return nt_err_set(err, -errno, "failed to remove %s: %s",
					  path, strerror(errno));
	}
	strcpy(sa.sun_path, path);
	srv->path = strdup(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (!srv->path || fd < 0) {
		ret = nt_err_set(err, fd < 0 ? -errno : -ENOMEM,
				 "workload api: failed to create a socket");
		goto fail;
	}
	/* Everyone may connect: attestation decides what they get. */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    chmod(path, 0666) || listen(fd, 128)) {
		ret = nt_err_set(err, -errno, "workload api: failed to listen on %s: %s",
				 path, strerror(errno));
		goto fail;
	}
	if (!lstat(path, &st)) {
		srv->path_dev = st.st_dev;
		srv->path_ino = st.st_ino;
	}
	srv->listener.fd = fd;
	srv->listener.ready = on_listener;
	ret = srv->ops.watch(srv->ops.ctx, &srv->listener, EPOLLIN);
	if (ret) {
		srv->listener.fd = -1;
		nt_err_set(err, ret, "workload api: failed to watch the listener");
		goto fail;
	}
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	if (srv->path)
		unlink(srv->path);
	free(srv->path);
	srv->path = NULL;
	return ret;
}

int wlapi__adopt(struct wlapi *srv, int fd, struct nt_err *err)
{
	struct ucred cred = { .pid = 0 };
	socklen_t len = sizeof(cred);
	int ret;

	wl_enter(srv);
	/* A socketpair has credentials too; anything else is refused. */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) ||
	    len != sizeof(cred)) {
		ret = nt_err_set(err, -ENOTSOCK,
				 "workload api: not a unix stream socket");
		close(fd);
	} else {
		srv->stats.accepted++;
		ret = conn__new(srv, fd, &cred, err);
	}
	wl_leave(srv);
	return ret;
}

/* Each ready function brackets itself with wl_enter/wl_leave. */
void wlapi__ready(struct wlapi_watch *w, uint32_t events)
{
	if (w && w->fd >= 0 && w->ready)
		w->ready(w, events);
}

/* ---- time and change ------------------------------------------------------ */

void wlapi__tick(struct wlapi *srv)
{
	struct wl_conn *c, *next;
	time_t now = wl_now();

	wl_enter(srv);
	if (srv->paused && srv->listener.fd >= 0 &&
	    !srv->ops.watch(srv->ops.ctx, &srv->listener, EPOLLIN))
		srv->paused = false;
	for (c = srv->conns; c; c = next) {
		next = c->next;
		conn__tick(c, now);
	}
	wl_leave(srv);
}

void wlapi__changed(struct wlapi *srv, unsigned int what)
{
	struct wl_conn *c, *next;
	struct wl_stream *s, *sn;

	wl_enter(srv);
	/* First every stream computes its message, then each connection
	 * sends: nghttp2 may close streams while sending, never while we
	 * walk them. A connection closed on the way (over its budget) moves
	 * to the dead list, so its successor is taken first. */
	for (c = srv->conns; c; c = next) {
		next = c->next;
		for (s = c->streams; s && !c->dead; s = sn) {
			sn = s->next;
			if (s->streaming && !s->ending)
				rpc__refresh(s, what);
		}
	}
	for (c = srv->conns; c; c = next) {
		next = c->next;
		conn__flush(c);
	}
	wl_leave(srv);
}

void wlapi__stats(const struct wlapi *srv, struct wlapi_stats *st)
{
	const struct wl_conn *c;

	*st = srv->stats;
	st->conns = srv->nconns;
	st->streams = 0;
	st->mem = 0;
	for (c = srv->conns; c; c = c->next) {
		st->streams += c->nstreams;
		st->mem += c->mem;
	}
}
