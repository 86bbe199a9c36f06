// SPDX-License-Identifier: Apache-2.0
/*
 * Fleet mode (docs/fleet.md): nametagd as one node of many, with etcd as
 * the source of truth. The etcd client runs on the daemon's own epoll loop
 * (its sockets as loop handlers, its one timer as a timerfd); the config
 * mirror feeds fleet_config.c, the node CA loop is fleet_ca.c's, and the
 * node record lives on a lease, so it disappears by itself when the node
 * has been gone for the lease's TTL.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "userspace/daemon/fleet_int.h"
#include "userspace/daemon/upgrade.h"

#define LEASE_TTL_DEFAULT	30
#define PASSWORD_MAX		4096

struct fleet_fd {
	struct loop_handler h;
	struct fleet *f;
};

/* ---- the etcd client on the daemon's loop ----------------------------------- */

static void on_fd(struct loop_handler *h, uint32_t events)
{
	struct fleet_fd *x = (struct fleet_fd *)h;

	etcd__on_fd(x->f->c, h->fd, events);
}

static void on_timer(struct loop_handler *h, uint32_t events)
{
	struct fleet *f = (struct fleet *)((char *)h - offsetof(struct fleet, timer_h));
	uint64_t n;

	if (read(h->fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return;
	etcd__on_timer(f->c);
}

static struct fleet_fd **fd_find(struct fleet *f, int fd)
{
	size_t i;

	for (i = 0; i < f->nfds; i++)
		if (f->fds[i]->h.fd == fd)
			return &f->fds[i];
	return NULL;
}

static int loop_fd_add(void *ctx, int fd, uint32_t events)
{
	struct fleet *f = ctx;
	struct fleet_fd *x;
	int ret;

	if (array__grow((void **)&f->fds, &f->fds_cap, f->nfds, sizeof(*f->fds),
			1024))
		return -ENOMEM;
	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	*x = (struct fleet_fd){ .h = { .fd = fd, .on_event = on_fd }, .f = f };
	ret = loop__add(f->d->loop, &x->h, events);
	if (ret) {
		free(x);
		return ret;
	}
	f->fds[f->nfds++] = x;
	return 0;
}

static int loop_fd_mod(void *ctx, int fd, uint32_t events)
{
	struct fleet *f = ctx;
	struct fleet_fd **x = fd_find(f, fd);

	return x ? loop__mod(f->d->loop, &(*x)->h, events) : -ENOENT;
}

static int loop_fd_del(void *ctx, int fd)
{
	struct fleet *f = ctx;
	struct fleet_fd **x = fd_find(f, fd);

	if (!x)
		return -ENOENT;
	loop__del(f->d->loop, &(*x)->h);
	(*x)->h.fd = -1;	/* a later event of this batch is skipped */
	loop__defer_free(f->d->loop, *x);
	*x = f->fds[--f->nfds];
	return 0;
}

static int loop_timer(void *ctx, int64_t ms)
{
	struct fleet *f = ctx;
	struct itimerspec its = {};

	if (ms >= 0) {
		its.it_value.tv_sec = ms / 1000;
		/* 0 would disarm: "at once" is one nanosecond. */
		its.it_value.tv_nsec = (ms % 1000) * 1000000 + (ms ? 0 : 1);
	}
	return timerfd_settime(f->timer_h.fd, 0, &its, NULL) ? -errno : 0;
}

/* The client's options from the daemon's: URL, TLS files, user and the
 * password read from its file (*@password is the caller's to free). */
int fleet__etcd_config(const struct daemon_fleet_opts *o,
		       struct etcd_config *cfg, char **password,
		       struct nt_err *err)
{
	size_t len;
	int ret;

	*password = NULL;
	cfg->endpoints = &o->etcd;
	cfg->nendpoints = 1;
	cfg->ca_file = o->etcd_ca;
	cfg->cert_file = o->etcd_cert;
	cfg->key_file = o->etcd_key;
	cfg->user = o->etcd_user;
	if (!o->etcd_password_file)
		return 0;
	ret = state__read(o->etcd_password_file, PASSWORD_MAX, true, password,
			  &len, err);
	if (ret)
		return ret;
	while (len && ((*password)[len - 1] == '\n' || (*password)[len - 1] == '\r'))
		(*password)[--len] = '\0';
	cfg->password = *password;
	return 0;
}

/* ---- the node record, on a lease ---------------------------------------------- */

static cJSON *record_json(struct fleet *f)
{
	struct daemon *d = f->d;
	cJSON *o = cJSON_CreateObject(), *arr;
	struct ca_issued cur = {};
	size_t i;

	cJSON_AddNumberToObject(o, "version", 1);
	cJSON_AddStringToObject(o, "nametag", NAMETAG_VERSION);
	json__add_u64(o, "started", (uint64_t)d->started);
	if (d->ca && !node_ca__current(d->ca, &cur)) {
		cJSON_AddStringToObject(o, "ca_serial", cur.serial);
		json__add_u64(o, "ca_not_after", (uint64_t)cur.not_after);
	}
	arr = cJSON_AddArrayToObject(o, "namespaces");
	for (i = 0; d->ns && i < ns_table__count(d->ns); i++)
		cJSON_AddItemToArray(arr, cJSON_CreateString(ns_table__at(d->ns, i)->name));
	json__add_u64(o, "revision", (uint64_t)f->applied_revision);
	cJSON_AddBoolToObject(o, "in_sync", f->in_sync);
	if (f->bad_key[0])
		cJSON_AddStringToObject(o, "bad_key", f->bad_key);
	cJSON_AddStringToObject(o, "signer", f->ca_error[0] ? f->ca_error : "ok");
	return o;
}

static void record_written(void *arg, int status,
			   const struct etcd_txn_result *r,
			   const struct nt_err *err)
{
	struct fleet *f = arg;

	if (status) {
		pr_warn("fleet: node record not written (will retry): %s",
			err->msg);
		f->record_dirty = true;
	}
}

int fleet__write_record(struct fleet *f)
{
	char key[sizeof(FLEET_NODES) + CA_NODE_MAX], *s;
	int64_t lease = f->lease ? etcd_lease__id(f->lease) : 0;
	struct nt_err err = {};
	cJSON *o;
	int ret;

	f->record_dirty = true;
	if (!lease)
		return 0;	/* granted() writes it */
	o = record_json(f);
	s = o ? cJSON_PrintUnformatted(o) : NULL;
	cJSON_Delete(o);
	if (!s)
		return -ENOMEM;
	snprintf(key, sizeof(key), "%s%s", FLEET_NODES, f->node);
	ret = etcd__put(f->c, key, s, strlen(s), lease, record_written, f, &err);
	cJSON_free(s);
	if (ret)
		pr_warn("fleet: node record: %s", err.msg);
	else
		f->record_dirty = false;
	return ret;
}

static void lease_granted(void *arg, int64_t id, int64_t ttl)
{
	struct fleet *f = arg;

	pr_info("fleet: lease %llx granted (%llds): node record %s%s",
		(unsigned long long)id, (long long)ttl, FLEET_NODES, f->node);
	fleet__write_record(f);
}

static void lease_lost(void *arg, int status, const struct nt_err *err)
{
	pr_warn("fleet: the node record's lease is lost (%s): asking for a new one",
		err && err->msg[0] ? err->msg : strerror(-status));
}

static const struct etcd_lease_ops lease_ops = {
	.granted = lease_granted, .lost = lease_lost,
};

/* ---- the config mirror's sync reports ------------------------------------------- */

static void config_update(void *arg, const struct etcd_mirror *m, bool relisted,
			  const struct etcd_event *ev, size_t n)
{
	struct fleet *f = arg;
	unsigned int relists = etcd_mirror__relists(m);

	/* A listing after the first: a compaction outran the watch's resume,
	 * or the watch could not go on. */
	if (relisted && relists != f->relists_seen) {
		f->relists_seen = relists;
		pr_info("fleet: %s listed again at revision %lld (re-list %u)",
			FLEET_CONFIG, (long long)etcd_mirror__revision(m), relists);
	}
	/* During an upgrade the kernel is the new process's, and the new
	 * process has its own mirror of the same keys. */
	if (upgrade__paused(f->d))
		return;
	fleet_config__update(f, m);
}

static void config_sync(void *arg, bool in_sync, int status,
			const struct nt_err *err)
{
	struct fleet *f = arg;

	if (in_sync == f->in_sync)
		return;
	f->in_sync = in_sync;
	if (in_sync) {
		pr_info("fleet: in sync with etcd again (stale for %llds)",
			f->stale_since ? (long long)(time(NULL) - f->stale_since) : 0LL);
		f->stale_since = 0;
		f->sync_error[0] = '\0';
	} else {
		f->stale_since = time(NULL);
		snprintf(f->sync_error, sizeof(f->sync_error), "%s",
			 err && err->msg[0] ? err->msg : strerror(-status));
		pr_warn("fleet: out of sync with etcd, enforcing revision %lld as last known: %s",
			(long long)f->applied_revision, f->sync_error);
	}
	f->record_dirty = true;
}

static const struct etcd_mirror_ops config_ops = {
	.update = config_update, .sync = config_sync,
};

/* ---- start, stop, tick ------------------------------------------------------------- */

static int open_client(struct fleet *f, struct nt_err *err)
{
	const struct daemon_fleet_opts *o = &f->d->opts.fleet;
	struct etcd_config cfg = {
		.loop = { .ctx = f, .fd_add = loop_fd_add, .fd_mod = loop_fd_mod,
			  .fd_del = loop_fd_del, .timer = loop_timer },
	};
	char *password;
	int ret;

	f->timer_h = (struct loop_handler){
		.fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK),
		.on_event = on_timer };
	if (f->timer_h.fd < 0 || loop__add(f->d->loop, &f->timer_h, EPOLLIN))
		return nt_err_set(err, -errno, "fleet: timerfd: %s", strerror(errno));
	ret = fleet__etcd_config(o, &cfg, &password, err);
	if (!ret)
		ret = etcd__new(&f->c, &cfg, err);
	if (password)
		state__free_secret(password, strlen(password));
	return ret;
}

int fleet__open(struct daemon *d, struct nt_err *err)
{
	struct fleet *f;
	int64_t ttl = LEASE_TTL_DEFAULT;
	int ret;

	if (!d->opts.fleet.etcd)
		return 0;
	if (d->opts.fleet.lease_ttl &&
	    duration__parse(d->opts.fleet.lease_ttl, &ttl, err))
		return nt_err_prefix(err, -EINVAL, "--lease-ttl");
	f = calloc(1, sizeof(*f));
	if (!f)
		return nt_err_set(err, -ENOMEM, "out of memory");
	d->fleet = f;
	f->d = d;
	f->lease_ttl = ttl;
	f->timer_h.fd = -1;
	f->stale_since = time(NULL);	/* until the first listing */
	snprintf(f->node, sizeof(f->node), "%s", d->opts.fleet.node);
	fleet_config__load_applied(f);
	ret = open_client(f, err);
	if (!ret)
		ret = etcd_mirror__start(f->c, FLEET_CONFIG, &config_ops, f,
					 &f->config, err);
	if (!ret)
		ret = etcd_lease__start(f->c, ttl, &lease_ops, f, &f->lease, err);
	if (!ret)
		ret = fleet_ca__start(f, err);
	if (!ret)
		ret = fleet_jwt__start(f, err);
	if (ret)
		return nt_err_prefix(err, ret, "fleet");
	pr_info("fleet: node %s, etcd %s; enforcing revision %lld until the first listing",
		f->node, d->opts.fleet.etcd, (long long)f->applied_revision);
	return 0;
}

void fleet__close(struct daemon *d)
{
	struct fleet *f = d->fleet;
	size_t i;

	if (!f)
		return;
	/* Frees the mirrors and the lease; the record expires with its TTL
	 * (a restart within it keeps the node listed). */
	etcd__free(f->c);
	for (i = 0; i < f->nfds; i++) {
		loop__del(d->loop, &f->fds[i]->h);
		free(f->fds[i]);
	}
	free(f->fds);
	if (f->timer_h.fd >= 0) {
		loop__del(d->loop, &f->timer_h);
		close(f->timer_h.fd);
	}
	bundle__free(f->trust);
	fleet_fed__free(f->fed, f->nfed);
	free(f->fed_stale);
	fleet_jwt__free(f);
	fleet_ca__forget(f);
	fleet_scope__free(f->scope, f->nscope);
	free(f);
	d->fleet = NULL;
}

void fleet__tick(struct daemon *d)
{
	struct fleet *f = d->fleet;

	if (!f)
		return;
	fleet_ca__tick(f, time(NULL));
	fleet_fed__tick(f, time(NULL));
	fleet_config__recheck(f);
	/* A rotation or a CA from the signer changes our keys; a CA that
	 * came after the first listing of jwt/ lets it be read. */
	fleet_jwt__publish(f);
	if (!f->jwt_listed)
		fleet_jwt__update(f);
	if (f->record_dirty)
		fleet__write_record(f);
}

int fleet__refuse(struct daemon *d, const char *cmd, struct nt_err *err)
{
	static const char *const writes[] = {
		CTL_NS_ADD, CTL_NS_ENABLE, CTL_NS_DISABLE, CTL_NS_DEL,
		CTL_ENTRY_ADD, CTL_ENTRY_DEL, CTL_POLICY_LOAD,
	};
	size_t i;

	if (!d->opts.fleet.etcd)
		return 0;
	for (i = 0; i < ARRAY_SIZE(writes); i++)
		if (!strcmp(cmd, writes[i]))
			return nt_err_set(err, -EROFS,
					  "node %s takes its configuration from etcd: write it with 'nametag --etcd URL %s'",
					  d->opts.fleet.node, cmd);
	return 0;
}

/* SIGHUP: the state files are the fleet's last good copy, not the source
 * of truth, so the snapshot in memory is applied again instead (a cgroup
 * made since then is enforced now). Before the first listing there is
 * nothing newer than what the start read. */
bool fleet__reload(struct daemon *d)
{
	struct fleet *f = d->fleet;

	if (!d->opts.fleet.etcd)
		return false;
	if (f && f->config && etcd_mirror__revision(f->config) > 0)
		fleet_config__update(f, f->config);
	else
		pr_info("fleet: reload: no listing from etcd yet; revision %lld stays in force",
			f ? (long long)f->applied_revision : 0LL);
	return true;
}

int fleet__gauges(const struct daemon *d, struct fleet_gauges *g)
{
	const struct fleet *f = d->fleet;

	if (!f)
		return -ENOENT;
	g->in_sync = f->in_sync;
	g->stale_seconds = f->stale_since ? time(NULL) - f->stale_since : 0;
	g->revision = f->applied_revision;
	g->applied_at = f->applied_at;
	g->bad_value = f->bad_key[0] != '\0';
	g->relists = f->config ? etcd_mirror__relists(f->config) : 0;
	g->fed_bundles = (unsigned int)f->nfed;
	g->fed_stale = fleet_fed__count_stale(f, time(NULL));
	g->ca_pending_seconds = f->ca_pending_since ?
				time(NULL) - f->ca_pending_since : 0;
	return 0;
}
