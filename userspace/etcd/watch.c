// SPDX-License-Identifier: Apache-2.0
/*
 * Watches: one POST /v3/watch stream each, whose answers arrive as one JSON
 * object per line. A watch remembers the revision after the last event it
 * delivered (or the last progress notification), and when the stream breaks
 * it starts a new one from there after a backoff.
 *
 * Compaction: a watch that starts below the compacted revision gets
 * "created" and then "canceled" with "compact_revision" on a stream that
 * etcd keeps open. The watch notices, closes the stream itself and ends
 * with -ESTALE, so the caller re-lists: the events it missed are gone.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "userspace/etcd/etcd_int.h"

struct etcd_watch {
	struct etcd_obj obj;		/* first: see obj_stop */
	struct etcd_client *c;
	char *key, *end;
	size_t key_len, end_len;
	int64_t next_rev;		/* 0: from now */
	const struct etcd_watch_ops *ops;
	void *arg;
	struct etcd_req *req;		/* the stream, when there is one */
	struct etcd_timer retry;
	int64_t backoff;
	bool ended, dead;
};

static void watch_free(void *p)
{
	struct etcd_watch *w = p;

	free(w->key);
	free(w->end);
	free(w);
}

static int stream_start(struct etcd_watch *w, struct nt_err *err)
{
	cJSON *body = cJSON_CreateObject(), *cr;
	bool ok;
	int ret;

	cr = body ? cJSON_AddObjectToObject(body, "create_request") : NULL;
	ok = cr && ej_add_bytes(cr, "key", w->key, w->key_len);
	if (ok && w->end)
		ok = ej_add_bytes(cr, "range_end", w->end, w->end_len);
	if (ok && w->next_rev > 0)
		ok = ej_add_int64(cr, "start_revision", w->next_rev);
	/* Progress notifications move next_rev on while nothing changes, so
	 * a resume after a long quiet spell starts above old compactions. */
	ok = ok && cJSON_AddTrueToObject(cr, "progress_notify");
	if (!ok) {
		cJSON_Delete(body);
		return nt_err_set(err, -ENOMEM, "out of memory");
	}
	ret = etcd__req_start(w->c, "/v3/watch", ej_print(body), true, NULL, w,
			      NULL, NULL, &w->req, err);
	if (!ret)
		w->req->watch = w;
	return ret;
}

static void retry_fire(struct etcd_timer *t)
{
	struct etcd_watch *w = (struct etcd_watch *)((char *)t -
				offsetof(struct etcd_watch, retry));
	struct nt_err err = { "" };

	if (w->dead || w->ended)
		return;
	if (stream_start(w, &err)) {
		w->backoff = etcd__backoff(w->c, w->backoff);
		etcd__timer_arm(w->c, &w->retry, w->backoff);
		if (w->ops->disconnected)
			w->ops->disconnected(w->arg, -EIO, w->backoff, &err);
	}
}

/* The watch will not resume: close the stream, tell the owner once. */
static void watch_end(struct etcd_watch *w, int status, int64_t compact,
		      const struct nt_err *err)
{
	if (w->ended || w->dead)
		return;
	w->ended = true;
	etcd__timer_stop(w->c, &w->retry);
	etcd__req_cancel(w->req);
	w->req = NULL;
	if (w->ops->ended)
		w->ops->ended(w->arg, status, compact, err);
}

/* {"error": {"grpc_code": N, "message": ...}} inside a stream. */
static int stream_error(const cJSON *e, struct nt_err *err)
{
	const cJSON *code = cJSON_GetObjectItemCaseSensitive(e, "grpc_code");
	const cJSON *msg = cJSON_GetObjectItemCaseSensitive(e, "message");

	return nt_err_set(err, cJSON_IsNumber(code) ?
			  etcd__grpc_errno(code->valueint) : -EIO,
			  "watch: etcd: %s",
			  cJSON_IsString(msg) ? msg->valuestring : "stream error");
}

static int line_result(struct etcd_watch *w, const cJSON *res,
		       struct nt_err *err)
{
	bool created = false, canceled = false;
	struct etcd_event *ev = NULL;
	int64_t rev = 0, compact = 0;
	const cJSON *why;
	size_t n = 0;
	int ret;

	ret = ej_header_rev(res, &rev, "watch", err);
	if (!ret)
		ret = ej_bool(res, "created", &created, "watch", err);
	if (!ret)
		ret = ej_bool(res, "canceled", &canceled, "watch", err);
	if (!ret)
		ret = ej_int64(res, "compact_revision", &compact, "watch", err);
	if (!ret)
		ret = ej_events(res, &ev, &n, "watch", err);
	if (ret)
		return ret;
	if (canceled) {
		why = cJSON_GetObjectItemCaseSensitive(res, "cancel_reason");
		if (compact > 0)
			nt_err_set(err, -ESTALE,
				   "watch: revision %lld is compacted (up to %lld): re-list",
				   (long long)w->next_rev, (long long)compact);
		else
			nt_err_set(err, -ECANCELED, "watch canceled by etcd: %s",
				   cJSON_IsString(why) ? why->valuestring :
							 "no reason given");
		watch_end(w, compact > 0 ? -ESTALE : -ECANCELED, compact, err);
	} else if (created) {
		w->backoff = 0;
		if (!w->next_rev)
			w->next_rev = rev + 1;
		if (w->ops->connected)
			w->ops->connected(w->arg, rev);
	} else if (n) {
		w->next_rev = ev[n - 1].kv.mod_revision + 1;
		if (w->ops->events)
			w->ops->events(w->arg, ev, n, rev);
	} else if (rev >= w->next_rev) {
		w->next_rev = rev + 1;
		if (w->ops->progress)
			w->ops->progress(w->arg, rev);
	}
	ej_events_free(ev, n);
	return 0;
}

static int line(struct etcd_watch *w, const char *s, size_t len,
		struct nt_err *err)
{
	const cJSON *res, *e;
	cJSON *doc = NULL;
	int ret;

	ret = ej_parse(s, len, &doc, err);
	if (ret)
		return nt_err_prefix(err, -EBADMSG, "watch");
	e = cJSON_GetObjectItemCaseSensitive(doc, "error");
	res = cJSON_GetObjectItemCaseSensitive(doc, "result");
	if (e)
		ret = stream_error(e, err);
	else if (!cJSON_IsObject(res))
		ret = nt_err_set(err, -EBADMSG, "watch: no \"result\" object");
	else
		ret = line_result(w, res, err);
	cJSON_Delete(doc);
	return ret;
}

void etcd__watch_lines(struct etcd_req *r)
{
	struct etcd_watch *w = r->watch;
	struct nt_err err = { "" };
	struct etcd_buf *b = &r->resp;
	size_t off = 0, len;
	char *nl;
	int ret;

	while (w && b->p && !w->dead && !w->ended && !r->orphaned &&
	       (nl = memchr(b->p + off, '\n', b->len - off))) {
		len = (size_t)(nl - (b->p + off));
		ret = len ? line(w, b->p + off, len, &err) : 0;
		off += len + 1;
		if (ret)
			watch_end(w, ret, 0, &err);
	}
	if (off && b->p) {
		memmove(b->p, b->p + off, b->len - off);
		b->len -= off;
		b->p[b->len] = '\0';
	}
}

void etcd__watch_done(struct etcd_req *r, int status, const struct nt_err *err)
{
	struct etcd_watch *w = r->watch;

	if (!w || w->dead || w->ended || w->req != r)
		return;
	w->req = NULL;
	w->backoff = etcd__backoff(w->c, w->backoff);
	etcd__timer_arm(w->c, &w->retry, w->backoff);
	if (w->ops->disconnected)
		w->ops->disconnected(w->arg, status, w->backoff, err);
}

/* etcd__free() stops what its owner left running. */
static void obj_stop(struct etcd_obj *o)
{
	etcd_watch__cancel((struct etcd_watch *)o);
}

int etcd__watch(struct etcd_client *c, const char *key, size_t key_len,
		unsigned int flags, int64_t start_revision,
		const struct etcd_watch_ops *ops, void *arg,
		struct etcd_watch **out, struct nt_err *err)
{
	struct etcd_watch *w;
	int ret;

	if (!key || !key_len || key_len > ETCD_KEY_MAX || !ops ||
	    start_revision < 0)
		return nt_err_set(err, -EINVAL, "etcd watch: bad arguments");
	w = calloc(1, sizeof(*w));
	if (!w || !(w->key = malloc(key_len))) {
		free(w);
		return nt_err_set(err, -ENOMEM, "out of memory");
	}
	memcpy(w->key, key, key_len);
	w->key_len = key_len;
	if ((flags & ETCD_PREFIX) &&
	    ej_prefix_end(key, key_len, &w->end, &w->end_len)) {
		watch_free(w);
		return nt_err_set(err, -ENOMEM, "out of memory");
	}
	w->c = c;
	w->next_rev = start_revision;
	w->ops = ops;
	w->arg = arg;
	w->retry.fire = retry_fire;
	ret = stream_start(w, err);
	if (ret) {
		watch_free(w);
		return ret;
	}
	etcd__obj_add(c, &w->obj, obj_stop);
	*out = w;
	return 0;
}

void etcd_watch__cancel(struct etcd_watch *w)
{
	if (!w || w->dead)
		return;
	w->dead = true;
	etcd__timer_stop(w->c, &w->retry);
	etcd__req_cancel(w->req);
	w->req = NULL;
	etcd__obj_del(&w->obj);
	etcd__defer_free(w->c, w, watch_free);
}

int64_t etcd_watch__next_revision(const struct etcd_watch *w)
{
	return w->next_rev;
}
