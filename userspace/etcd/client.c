// SPDX-License-Identifier: Apache-2.0
/*
 * The client: libcurl's multi interface driven by the caller's event loop
 * (CURLMOPT_SOCKETFUNCTION and CURLMOPT_TIMERFUNCTION turned into the
 * struct etcd_loop calls), the library's own timers multiplexed onto the
 * loop's one timer, and the dispatch of finished transfers. The requests
 * themselves are in request.c.
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
			etcd__req_finish(r, res);
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
		etcd__req_free(r);
	}
}

void etcd__free(struct etcd_client *c)
{
	size_t i;

	if (!c)
		return;
	/* Deferred until every object is stopped: a mirror's stop cancels
	 * its watch, which may have been stopped (and freed) before it. */
	c->depth = 1;
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
