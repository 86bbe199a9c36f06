// SPDX-License-Identifier: Apache-2.0
/*
 * The client: libcurl's multi interface driven by the caller's event loop
 * (CURLMOPT_SOCKETFUNCTION and CURLMOPT_TIMERFUNCTION turned into the
 * struct etcd_loop calls), the requests in flight, the library's own
 * timers multiplexed onto the loop's one timer, and etcd auth tokens.
 *
 * libcurl's callbacks only record: the socket callback tells the loop,
 * the write callback buffers. Everything that calls the user happens after
 * curl_multi_socket_action() has returned (dispatch()), where adding and
 * removing transfers is allowed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>

#include <openssl/crypto.h>

#include "userspace/etcd/etcd_int.h"

struct etcd_grave {
	void *p;
	void (*fn)(void *);
	struct etcd_grave *next;
};

int64_t etcd__now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Doubles from the minimum to the maximum, with up to a quarter of jitter
 * so a fleet that lost etcd at once does not come back at once. */
int64_t etcd__backoff(const struct etcd_client *c, int64_t prev)
{
	int64_t next = prev ? prev * 2 : c->backoff_min;

	if (next > c->backoff_max)
		next = c->backoff_max;
	return next - (int64_t)(rand() % (int)(next / 4 + 1));
}

/* ---- timers --------------------------------------------------------------- */

static void rearm(struct etcd_client *c)
{
	int64_t at = c->curl_at, now = etcd__now_ms();
	struct etcd_timer *t;

	for (t = c->timers; t; t = t->next)
		if (at < 0 || t->at < at)
			at = t->at;
	if (c->depth)
		return;		/* the dispatch under way rearms at its end */
	c->loop.timer(c->loop.ctx, at < 0 ? -1 : (at > now ? at - now : 0));
}

void etcd__timer_stop(struct etcd_client *c, struct etcd_timer *t)
{
	struct etcd_timer **pp;

	if (!t->armed)
		return;
	for (pp = &c->timers; *pp; pp = &(*pp)->next)
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	t->armed = false;
	rearm(c);
}

void etcd__timer_arm(struct etcd_client *c, struct etcd_timer *t, int64_t ms)
{
	etcd__timer_stop(c, t);
	t->at = etcd__now_ms() + (ms > 0 ? ms : 0);
	t->armed = true;
	t->next = c->timers;
	c->timers = t;
	rearm(c);
}

/* Fires due timers one at a time from the head: a callback may arm or
 * stop any timer, the list is read again after each. */
static void fire_timers(struct etcd_client *c)
{
	int64_t now = etcd__now_ms();
	struct etcd_timer *t, *due;

	for (;;) {
		due = NULL;
		for (t = c->timers; t; t = t->next)
			if (t->at <= now && (!due || t->at < due->at))
				due = t;
		if (!due)
			return;
		etcd__timer_stop(c, due);
		due->fire(due);
	}
}

/* ---- deferred frees -------------------------------------------------------- */

void etcd__defer_free(struct etcd_client *c, void *p, void (*fn)(void *))
{
	struct etcd_grave *g;

	if (!c->depth) {
		fn(p);
		return;
	}
	g = malloc(sizeof(*g));
	if (!g) {
		/* Leaking beats freeing what a caller up the stack still uses. */
		return;
	}
	g->p = p;
	g->fn = fn;
	g->next = c->graves;
	c->graves = g;
}

static void sweep(struct etcd_client *c)
{
	struct etcd_grave *g;

	while ((g = c->graves)) {
		c->graves = g->next;
		g->fn(g->p);
		free(g);
	}
}

/* ---- libcurl's callbacks ---------------------------------------------------- */

static int sock_cb(CURL *e, curl_socket_t s, int what, void *userp,
		   void *socketp)
{
	struct etcd_client *c = userp;
	uint32_t ev = 0;

	if (what == CURL_POLL_REMOVE) {
		if (socketp) {
			c->loop.fd_del(c->loop.ctx, s);
			curl_multi_assign(c->multi, s, NULL);
		}
		return 0;
	}
	if (what & CURL_POLL_IN)
		ev |= EPOLLIN;
	if (what & CURL_POLL_OUT)
		ev |= EPOLLOUT;
	if (socketp)
		return c->loop.fd_mod(c->loop.ctx, s, ev) ? -1 : 0;
	if (c->loop.fd_add(c->loop.ctx, s, ev))
		return -1;
	curl_multi_assign(c->multi, s, c);
	return 0;
}

static int timer_cb(CURLM *m, long ms, void *userp)
{
	struct etcd_client *c = userp;

	c->curl_at = ms < 0 ? -1 : etcd__now_ms() + ms;
	rearm(c);
	return 0;
}

static size_t write_cb(char *p, size_t size, size_t n, void *userp)
{
	struct etcd_req *r = userp;
	struct etcd_buf *b = &r->resp;
	size_t len = size * n, cap;
	char *q;

	if (len > ETCD_RESP_MAX - b->len)
		return 0;	/* CURLE_WRITE_ERROR: too large */
	if (b->len + len + 1 > b->cap) {
		cap = b->cap ? b->cap : 4096;
		while (cap < b->len + len + 1)
			cap *= 2;
		q = realloc(b->p, cap);
		if (!q)
			return 0;
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, len);
	b->len += len;
	b->p[b->len] = '\0';
	r->fresh_data = true;
	return len;
}

/* ---- requests --------------------------------------------------------------- */

static void req_free(void *p)
{
	struct etcd_req *r = p;

	if (r->easy)
		curl_easy_cleanup(r->easy);
	curl_slist_free_all(r->hdrs);
	free(r->body);
	free(r->resp.p);
	free(r);
}

static void list_del(struct etcd_req **head, struct etcd_req *r)
{
	struct etcd_req **pp;

	for (pp = head; *pp; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			return;
		}
}

void etcd__req_orphan(struct etcd_req *r)
{
	if (r)
		r->orphaned = true;
}

void etcd__req_cancel(struct etcd_req *r)
{
	struct etcd_client *c;

	if (!r || r->dead)
		return;
	c = r->c;
	r->orphaned = true;
	r->dead = true;
	if (r->started) {
		curl_multi_remove_handle(c->multi, r->easy);
		r->started = false;
		list_del(&c->reqs, r);
	} else {
		list_del(&c->waiting, r);
	}
	etcd__defer_free(c, r, req_free);
}

static int easy_setup(struct etcd_req *r)
{
	struct etcd_client *c = r->c;
	char url[1024], auth[600];
	CURL *e = r->easy;
	int ok = 1;

	if ((size_t)snprintf(url, sizeof(url), "%s%s", c->endpoints[c->cur],
			     r->path) >= sizeof(url))
		return -ENAMETOOLONG;
	r->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	if (r->hdrs && c->token && !r->is_auth) {
		snprintf(auth, sizeof(auth), "Authorization: %s", c->token);
		r->hdrs = curl_slist_append(r->hdrs, auth);
		OPENSSL_cleanse(auth, sizeof(auth));
	}
	if (!r->hdrs)
		return -ENOMEM;
	ok &= !curl_easy_setopt(e, CURLOPT_URL, url);
	ok &= !curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->hdrs);
	ok &= !curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
	ok &= !curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(r->body));
	ok &= !curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
	ok &= !curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	ok &= !curl_easy_setopt(e, CURLOPT_PRIVATE, r);
	ok &= !curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->curl_err);
	ok &= !curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	ok &= !curl_easy_setopt(e, CURLOPT_PROXY, "");
	ok &= !curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	ok &= !curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)c->timeout_ms);
	/* A watch is silent for as long as nothing changes: only TCP
	 * keepalive tells a dead peer from a quiet one. */
	ok &= !curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	ok &= !curl_easy_setopt(e, CURLOPT_TCP_KEEPIDLE, 10L);
	ok &= !curl_easy_setopt(e, CURLOPT_TCP_KEEPINTVL, 5L);
	if (!r->stream)
		ok &= !curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)c->timeout_ms);
	if (c->ca_file)
		ok &= !curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
	if (c->cert_file) {
		ok &= !curl_easy_setopt(e, CURLOPT_SSLCERT, c->cert_file);
		ok &= !curl_easy_setopt(e, CURLOPT_SSLKEY, c->key_file);
	}
	return ok ? 0 : -EINVAL;
}

static int req_launch(struct etcd_req *r, struct nt_err *err)
{
	struct etcd_client *c = r->c;
	int ret;

	if (r->easy)
		curl_easy_reset(r->easy);
	else
		r->easy = curl_easy_init();
	curl_slist_free_all(r->hdrs);
	r->hdrs = NULL;
	r->resp.len = 0;
	if (!r->easy)
		return nt_err_set(err, -ENOMEM, "out of memory");
	ret = easy_setup(r);
	if (ret)
		return nt_err_set(err, ret, "failed to set up a request to %s",
				  r->path);
	if (curl_multi_add_handle(c->multi, r->easy) != CURLM_OK)
		return nt_err_set(err, -EIO, "failed to start a request");
	r->started = true;
	r->next = c->reqs;
	c->reqs = r;
	return 0;
}

static int auth_start(struct etcd_client *c, struct nt_err *err);

int etcd__req_start(struct etcd_client *c, const char *path, char *body,
		    bool stream, etcd_done_fn done, void *owner, void *cb,
		    void *arg, struct etcd_req **out, struct nt_err *err)
{
	struct etcd_req *r;
	int ret;

	if (!body)
		return nt_err_set(err, -ENOMEM, "out of memory");
	r = calloc(1, sizeof(*r));
	if (!r) {
		free(body);
		return nt_err_set(err, -ENOMEM, "out of memory");
	}
	r->c = c;
	snprintf(r->path, sizeof(r->path), "%s", path);
	r->body = body;
	r->stream = stream;
	r->done = done;
	r->owner = owner;
	r->cb = cb;
	r->arg = arg;
	r->is_auth = !strcmp(path, "/v3/auth/authenticate");
	if (c->user && !c->token && !r->is_auth) {
		/* Queued until the token is there. */
		r->next = c->waiting;
		c->waiting = r;
		ret = c->authing ? 0 : auth_start(c, err);
	} else {
		ret = req_launch(r, err);
	}
	if (ret) {
		if (!r->started)
			list_del(&c->waiting, r);
		req_free(r);
		return ret;
	}
	if (out)
		*out = r;
	return 0;
}

/* ---- auth ------------------------------------------------------------------- */

static void fail_waiting(struct etcd_client *c, int status,
			 const struct nt_err *err)
{
	struct etcd_req *r;

	while ((r = c->waiting)) {
		c->waiting = r->next;
		r->dead = true;
		if (!r->orphaned && r->done)
			r->done(r, status, NULL, err);
		etcd__defer_free(c, r, req_free);
	}
}

static void auth_done(struct etcd_req *r, int status, const cJSON *doc,
		      const struct nt_err *err)
{
	struct etcd_client *c = r->c;
	struct nt_err why = { "" };
	const cJSON *tok = doc ? cJSON_GetObjectItemCaseSensitive(doc, "token") :
				 NULL;
	struct etcd_req *w, *next;

	c->authing = false;
	if (!status && (!cJSON_IsString(tok) || !tok->valuestring[0] ||
			strlen(tok->valuestring) > 512))
		status = nt_err_set(&why, -EBADMSG,
				    "auth/authenticate: no \"token\" string");
	else if (status)
		/* etcd says "invalid argument" for a wrong password. */
		status = nt_err_set(&why, status == -EINVAL ? -EACCES : status,
				    "authenticating as '%s': %s", c->user,
				    err ? err->msg : "");
	if (status) {
		fail_waiting(c, status, &why);
		return;
	}
	free(c->token);
	c->token = strdup(tok->valuestring);
	w = c->waiting;
	c->waiting = NULL;
	for (; w; w = next) {
		next = w->next;
		if (!c->token || req_launch(w, &why)) {
			w->dead = true;
			if (!w->orphaned && w->done)
				w->done(w, -ENOMEM, NULL, &why);
			etcd__defer_free(c, w, req_free);
		}
	}
}

static int auth_start(struct etcd_client *c, struct nt_err *err)
{
	cJSON *o = cJSON_CreateObject();
	char *body;

	if (!o || !cJSON_AddStringToObject(o, "name", c->user) ||
	    !cJSON_AddStringToObject(o, "password", c->password)) {
		cJSON_Delete(o);
		return nt_err_set(err, -ENOMEM, "out of memory");
	}
	body = ej_print(o);
	c->authing = true;
	if (etcd__req_start(c, "/v3/auth/authenticate", body, false, auth_done,
			    c, NULL, NULL, NULL, err)) {
		c->authing = false;
		return -EIO;
	}
	return 0;
}

/* ---- finishing -------------------------------------------------------------- */

/* gRPC status codes (the gateway's "code") as errnos. */
int etcd__grpc_errno(int code)
{
	switch (code) {
	case 3:	 return -EINVAL;	/* InvalidArgument */
	case 4:	 return -ETIMEDOUT;	/* DeadlineExceeded */
	case 5:	 return -ENOENT;	/* NotFound */
	case 7:	 return -EACCES;	/* PermissionDenied */
	case 8:	 return -ENOSPC;	/* ResourceExhausted */
	case 9:	 return -EBUSY;		/* FailedPrecondition */
	case 11: return -ESTALE;	/* OutOfRange: compacted */
	case 14: return -EAGAIN;	/* Unavailable */
	case 16: return -EKEYEXPIRED;	/* Unauthenticated: a stale token */
	default: return -EIO;
	}
}

static int curl_errno(CURLcode res)
{
	switch (res) {
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
		return -EHOSTUNREACH;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_WRITE_ERROR:
		return -EMSGSIZE;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CACERT_BADFILE:
		return -EPROTO;
	default:
		return -EIO;
	}
}

int etcd__status(struct etcd_req *r, CURLcode res, long http, cJSON **doc,
		 struct nt_err *err)
{
	const char *msg = NULL;
	int code = 0, ret;

	*doc = NULL;
	if (res != CURLE_OK)
		return nt_err_set(err, curl_errno(res), "%s %s: %s",
				  r->c->endpoints[r->c->cur], r->path,
				  r->curl_err[0] ? r->curl_err :
				  curl_easy_strerror(res));
	ret = ej_parse(r->resp.p ? r->resp.p : "", r->resp.len, doc, err);
	if (ret && http == 200)
		return nt_err_prefix(err, -EBADMSG, r->path);
	if (http == 200)
		return 0;
	if (!ret && !ej_error(*doc, &code, &msg))
		ret = nt_err_set(err, etcd__grpc_errno(code), "%s: etcd: %s", r->path,
				 msg);
	else
		ret = nt_err_set(err, http == 401 || http == 403 ? -EACCES : -EIO,
				 "%s: HTTP %ld: %.200s", r->path, http,
				 r->resp.p ? r->resp.p : "");
	cJSON_Delete(*doc);
	*doc = NULL;
	return ret;
}

/* A unary request is over. A stale token is renewed and the request sent
 * once more: etcd refused it before doing anything. */
static void finish_unary(struct etcd_req *r, CURLcode res, long http)
{
	struct etcd_client *c = r->c;
	struct nt_err err = { "" };
	cJSON *doc = NULL;
	int status;

	status = etcd__status(r, res, http, &doc, &err);
	if (status == -EKEYEXPIRED && c->user && !r->auth_retried && !r->is_auth) {
		r->auth_retried = true;
		free(c->token);
		c->token = NULL;
		r->next = c->waiting;
		c->waiting = r;
		if (c->authing || !auth_start(c, &err))
			return;
		list_del(&c->waiting, r);
	}
	if (status == -EKEYEXPIRED)
		status = -EACCES;
	if (res != CURLE_OK && c->nendpoints > 1)
		c->cur = (c->cur + 1) % c->nendpoints;
	r->dead = true;
	if (!r->orphaned && r->done)
		r->done(r, status, doc, &err);
	cJSON_Delete(doc);
	etcd__defer_free(c, r, req_free);
}

static void finish(struct etcd_req *r, CURLcode res)
{
	struct etcd_client *c = r->c;
	struct nt_err err = { "" };
	long http = 0;

	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &http);
	curl_multi_remove_handle(c->multi, r->easy);
	r->started = false;
	list_del(&c->reqs, r);
	if (!r->stream) {
		finish_unary(r, res, http);
		return;
	}
	if (!r->orphaned)
		etcd__watch_lines(r);
	if (res == CURLE_OK && http != 200)
		nt_err_set(&err, -EIO, "watch: HTTP %ld: %.200s", http,
			   r->resp.p ? r->resp.p : "");
	else if (res == CURLE_OK)
		nt_err_set(&err, -ECONNRESET, "watch: etcd closed the stream");
	else
		nt_err_set(&err, curl_errno(res), "watch: %s",
			   r->curl_err[0] ? r->curl_err : curl_easy_strerror(res));
	if (res != CURLE_OK && c->nendpoints > 1)
		c->cur = (c->cur + 1) % c->nendpoints;
	r->dead = true;
	if (!r->orphaned)
		etcd__watch_done(r, res == CURLE_OK && http == 200 ?
				 -ECONNRESET : curl_errno(res), &err);
	etcd__defer_free(c, r, req_free);
}

static void dispatch(struct etcd_client *c)
{
	struct etcd_req *r;
	CURLMsg *m;
	CURLcode res;
	int left;

	for (r = c->reqs; r; r = r->next)
		if (r->stream && r->fresh_data && !r->orphaned) {
			r->fresh_data = false;
			etcd__watch_lines(r);
		}
	while ((m = curl_multi_info_read(c->multi, &left))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		res = m->data.result;
		r = NULL;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		if (r)
			finish(r, res);
	}
}

int etcd__on_fd(struct etcd_client *c, int fd, uint32_t events)
{
	int flags = 0, running = 0;

	if (events & EPOLLIN)
		flags |= CURL_CSELECT_IN;
	if (events & EPOLLOUT)
		flags |= CURL_CSELECT_OUT;
	if (events & (EPOLLERR | EPOLLHUP))
		flags |= CURL_CSELECT_ERR;
	c->depth++;
	curl_multi_socket_action(c->multi, fd, flags, &running);
	dispatch(c);
	c->depth--;
	sweep(c);
	rearm(c);
	return 0;
}

int etcd__on_timer(struct etcd_client *c)
{
	int running = 0;

	c->depth++;
	if (c->curl_at >= 0 && c->curl_at <= etcd__now_ms()) {
		c->curl_at = -1;
		curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0,
					 &running);
		dispatch(c);
	}
	fire_timers(c);
	c->depth--;
	sweep(c);
	rearm(c);
	return 0;
}

void etcd__obj_add(struct etcd_client *c, struct etcd_obj *o,
		   void (*stop)(struct etcd_obj *o))
{
	o->stop = stop;
	o->next = c->objs;
	if (o->next)
		o->next->pprev = &o->next;
	o->pprev = &c->objs;
	c->objs = o;
}

void etcd__obj_del(struct etcd_obj *o)
{
	if (!o->pprev)
		return;
	*o->pprev = o->next;
	if (o->next)
		o->next->pprev = o->pprev;
	o->next = NULL;
	o->pprev = NULL;
}

size_t etcd__busy(const struct etcd_client *c)
{
	const struct etcd_obj *o;
	const struct etcd_req *r;
	size_t n = 0;

	for (o = c->objs; o; o = o->next)
		n++;
	for (r = c->reqs; r; r = r->next)
		n++;
	for (r = c->waiting; r; r = r->next)
		n++;
	return n;
}

/* ---- the client --------------------------------------------------------------- */

static int dup_opt(const char *s, char **out)
{
	*out = NULL;
	if (!s)
		return 0;
	*out = strdup(s);
	return *out ? 0 : -ENOMEM;
}

static int check_endpoint(const char *e, struct nt_err *err)
{
	size_t len = strlen(e);

	if ((strncmp(e, "http://", 7) && strncmp(e, "https://", 8)) ||
	    len > 512 || e[len - 1] == '/')
		return nt_err_set(err, -EINVAL,
				  "etcd endpoint '%.64s' must be http:// or https://HOST:PORT without a trailing '/'",
				  e);
	return 0;
}

static int config_copy(struct etcd_client *c, const struct etcd_config *cfg,
		       struct nt_err *err)
{
	size_t i;
	int ret = 0;

	if (!cfg->nendpoints || cfg->nendpoints > ETCD_ENDPOINTS_MAX)
		return nt_err_set(err, -EINVAL, "1 to %d etcd endpoints",
				  ETCD_ENDPOINTS_MAX);
	if (!cfg->loop.fd_add || !cfg->loop.fd_mod || !cfg->loop.fd_del ||
	    !cfg->loop.timer)
		return nt_err_set(err, -EINVAL, "etcd: incomplete event loop");
	if (!cfg->cert_file != !cfg->key_file || !cfg->user != !cfg->password)
		return nt_err_set(err, -EINVAL,
				  "etcd: a certificate needs its key, a user its password");
	for (i = 0; i < cfg->nendpoints; i++) {
		ret = check_endpoint(cfg->endpoints[i], err);
		if (ret)
			return ret;
		ret = dup_opt(cfg->endpoints[i], &c->endpoints[i]);
		if (ret)
			return nt_err_set(err, ret, "out of memory");
		c->nendpoints++;
	}
	ret = dup_opt(cfg->ca_file, &c->ca_file);
	ret = ret ? ret : dup_opt(cfg->cert_file, &c->cert_file);
	ret = ret ? ret : dup_opt(cfg->key_file, &c->key_file);
	ret = ret ? ret : dup_opt(cfg->user, &c->user);
	ret = ret ? ret : dup_opt(cfg->password, &c->password);
	if (ret)
		return nt_err_set(err, ret, "out of memory");
	c->loop = cfg->loop;
	c->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : ETCD_TIMEOUT_MS;
	c->backoff_min = cfg->backoff_min_ms > 0 ? cfg->backoff_min_ms :
						   ETCD_BACKOFF_MIN_MS;
	c->backoff_max = cfg->backoff_max_ms > 0 ? cfg->backoff_max_ms :
						   ETCD_BACKOFF_MAX_MS;
	if (c->backoff_max < c->backoff_min)
		c->backoff_max = c->backoff_min;
	return 0;
}

int etcd__new(struct etcd_client **out, const struct etcd_config *cfg,
	      struct nt_err *err)
{
	struct etcd_client *c;
	int ret;

	if (curl_global_init(CURL_GLOBAL_DEFAULT))
		return nt_err_set(err, -EIO, "failed to initialise libcurl");
	c = calloc(1, sizeof(*c));
	if (!c)
		return nt_err_set(err, -ENOMEM, "out of memory");
	c->curl_at = -1;
	ret = config_copy(c, cfg, err);
	if (ret)
		goto fail;
	c->multi = curl_multi_init();
	if (!c->multi ||
	    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, sock_cb) ||
	    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c) ||
	    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, timer_cb) ||
	    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c) ||
	    curl_multi_setopt(c->multi, CURLMOPT_PIPELINING,
			      (long)CURLPIPE_MULTIPLEX)) {
		ret = nt_err_set(err, -ENOMEM, "failed to set up libcurl");
		goto fail;
	}
	*out = c;
	return 0;
fail:
	etcd__free(c);
	return ret;
}

static void free_list(struct etcd_client *c, struct etcd_req *r, bool started)
{
	struct etcd_req *next;

	for (; r; r = next) {
		next = r->next;
		if (started && r->easy)
			curl_multi_remove_handle(c->multi, r->easy);
		req_free(r);
	}
}

void etcd__free(struct etcd_client *c)
{
	size_t i;

	if (!c)
		return;
	c->depth = 0;
	while (c->objs)
		c->objs->stop(c->objs);
	free_list(c, c->reqs, true);
	free_list(c, c->waiting, false);
	c->depth = 0;
	sweep(c);
	if (c->multi)
		curl_multi_cleanup(c->multi);
	for (i = 0; i < c->nendpoints; i++)
		free(c->endpoints[i]);
	free(c->ca_file);
	free(c->cert_file);
	free(c->key_file);
	free(c->user);
	if (c->password) {
		OPENSSL_cleanse(c->password, strlen(c->password));
		free(c->password);
	}
	if (c->token) {
		OPENSSL_cleanse(c->token, strlen(c->token));
		free(c->token);
	}
	free(c);
}
