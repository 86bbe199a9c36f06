// SPDX-License-Identifier: Apache-2.0
/*
 * Leases kept alive by the library. A node's record lives on one: while
 * the node runs, the lease is renewed every TTL/3; when the node dies, etcd
 * drops the record after the TTL, and `node list` stops showing it.
 *
 * Renewal failures are retried with backoff for as long as the lease can
 * still be alive (the TTL since the last success). Past that, or when etcd
 * says the lease is gone, the holder hears lost() and a new lease is
 * granted; granted() then tells it to write its keys again.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "userspace/etcd/etcd_int.h"

struct etcd_lease {
	struct etcd_obj obj;		/* first: see obj_stop */
	struct etcd_client *c;
	int64_t ttl, id;
	int64_t last_ok;		/* ms of the last grant or renewal */
	const struct etcd_lease_ops *ops;
	void *arg;
	struct etcd_timer t;
	struct etcd_req *req;
	int64_t backoff;
	bool dead;
};

static void lease_send(struct etcd_lease *l);

static void lost(struct etcd_lease *l, int status, const struct nt_err *err)
{
	l->id = 0;
	if (l->ops->lost)
		l->ops->lost(l->arg, status, err);
}

static void grant_cb(void *arg, int status, int64_t id, int64_t ttl,
		     const struct nt_err *err)
{
	struct etcd_lease *l = arg;

	l->req = NULL;
	if (status) {
		l->backoff = etcd__backoff(l->c, l->backoff);
		etcd__timer_arm(l->c, &l->t, l->backoff);
		return;
	}
	l->id = id;
	l->ttl = ttl;
	l->backoff = 0;
	l->last_ok = etcd__now_ms();
	etcd__timer_arm(l->c, &l->t, ttl * 1000 / 3);
	if (l->ops->granted)
		l->ops->granted(l->arg, id, ttl);
}

static void keepalive_cb(void *arg, int status, int64_t id, int64_t ttl,
			 const struct nt_err *err)
{
	struct etcd_lease *l = arg;
	int64_t left;

	l->req = NULL;
	if (!status) {
		l->backoff = 0;
		l->last_ok = etcd__now_ms();
		etcd__timer_arm(l->c, &l->t, ttl * 1000 / 3);
		return;
	}
	left = l->last_ok + l->ttl * 1000 - etcd__now_ms();
	if (status == -ENOENT || left <= 0) {
		lost(l, status, err);
		if (!l->dead)
			lease_send(l);
		return;
	}
	l->backoff = etcd__backoff(l->c, l->backoff);
	etcd__timer_arm(l->c, &l->t, l->backoff < left ? l->backoff : left);
}

/* Grants when there is no lease, renews when there is. */
static void lease_send(struct etcd_lease *l)
{
	struct nt_err err = { "" };
	int ret;

	if (l->id)
		ret = etcd__lease_r(l->c, "/v3/lease/keepalive", l->id,
				    keepalive_cb, l, &l->req, &err);
	else
		ret = etcd__lease_r(l->c, "/v3/lease/grant", l->ttl, grant_cb, l,
				    &l->req, &err);
	if (ret) {
		l->req = NULL;
		l->backoff = etcd__backoff(l->c, l->backoff);
		etcd__timer_arm(l->c, &l->t, l->backoff);
	}
}

static void lease_fire(struct etcd_timer *t)
{
	struct etcd_lease *l = (struct etcd_lease *)((char *)t -
				offsetof(struct etcd_lease, t));

	if (l->dead || l->req)
		return;
	if (l->id && etcd__now_ms() - l->last_ok >= l->ttl * 1000) {
		struct nt_err err = { "" };

		nt_err_set(&err, -ETIMEDOUT,
			   "lease %lld not renewed for its whole ttl (%lld s)",
			   (long long)l->id, (long long)l->ttl);
		lost(l, -ETIMEDOUT, &err);
		if (l->dead)
			return;
	}
	lease_send(l);
}

/* etcd__free() stops what its owner left running, without revoking. */
static void obj_stop(struct etcd_obj *o)
{
	etcd_lease__stop((struct etcd_lease *)o, false);
}

int etcd_lease__start(struct etcd_client *c, int64_t ttl,
		      const struct etcd_lease_ops *ops, void *arg,
		      struct etcd_lease **out, struct nt_err *err)
{
	struct etcd_lease *l;

	if (ttl < 2 || ttl > 24 * 3600 || !ops)
		return nt_err_set(err, -EINVAL, "lease ttl: 2 s to 1 day");
	l = calloc(1, sizeof(*l));
	if (!l)
		return nt_err_set(err, -ENOMEM, "out of memory");
	l->c = c;
	l->ttl = ttl;
	l->ops = ops;
	l->arg = arg;
	l->t.fire = lease_fire;
	etcd__obj_add(c, &l->obj, obj_stop);
	lease_send(l);
	*out = l;
	return 0;
}

int64_t etcd_lease__id(const struct etcd_lease *l)
{
	return l->id;
}

void etcd_lease__stop(struct etcd_lease *l, bool revoke)
{
	if (!l || l->dead)
		return;
	l->dead = true;
	etcd__timer_stop(l->c, &l->t);
	etcd__req_orphan(l->req);
	if (revoke && l->id)
		etcd__lease_revoke(l->c, l->id, NULL, NULL, NULL);
	etcd__obj_del(&l->obj);
	etcd__defer_free(l->c, l, free);
}
