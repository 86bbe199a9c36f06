/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal to userspace/etcd/: client.c (libcurl multi on the caller's
 * loop, timers, dispatch), request.c (requests, auth), json.c (the gateway's format), kv.c
 * (range, txn, leases as single requests), watch.c, lease.c (kept-alive
 * leases) and mirror.c. etcd.h is the interface.
 *
 * Lifetimes: callbacks may cancel anything, so nothing is freed while
 * callbacks run. Objects are marked dead and freed by the sweep at the end
 * of etcd__on_fd()/etcd__on_timer(); a request whose owner went away is
 * orphaned and finishes without calling anyone.
 */
#ifndef NAMETAG_ETCD_INT_H
#define NAMETAG_ETCD_INT_H

#include <curl/curl.h>
#include <cjson/cJSON.h>

#include "userspace/etcd/etcd.h"

#define ETCD_TIMEOUT_MS		5000
#define ETCD_BACKOFF_MIN_MS	100
#define ETCD_BACKOFF_MAX_MS	5000
#define ETCD_RESP_MAX		(64u << 20)	/* one answer or watch line */
#define ETCD_KEY_MAX		(1u << 20)
#define ETCD_ENDPOINTS_MAX	16

struct etcd_buf {
	char *p;
	size_t len, cap;
};

struct etcd_timer {
	int64_t at;			/* monotonic ms */
	bool armed;
	void (*fire)(struct etcd_timer *t);
	struct etcd_timer *next;
};

/* Watches, leases and mirrors, so etcd__free() can stop what is left. */
struct etcd_obj {
	struct etcd_obj *next, **pprev;
	void (*stop)(struct etcd_obj *o);
};

struct etcd_req;
/* Called once per finished unary request (not when orphaned): status, and
 * the parsed JSON body of a 200 answer. */
typedef void (*etcd_done_fn)(struct etcd_req *r, int status, const cJSON *doc,
			     const struct nt_err *err);

struct etcd_req {
	struct etcd_client *c;
	CURL *easy;
	struct curl_slist *hdrs;
	char path[48];
	char *body;
	struct etcd_buf resp;
	char curl_err[CURL_ERROR_SIZE];
	etcd_done_fn done;
	void *owner;			/* the handler's object */
	void *cb;			/* the user's callback */
	void *arg;
	struct etcd_watch *watch;	/* a stream's watch */
	bool stream, fresh_data, orphaned, dead, auth_retried, is_auth;
	bool started;
	struct etcd_req *next;
};

struct etcd_client {
	CURLM *multi;
	struct etcd_loop loop;
	char *endpoints[ETCD_ENDPOINTS_MAX];
	size_t nendpoints, cur;
	char *ca_file, *cert_file, *key_file, *user, *password;
	char *token;
	bool authing;
	int64_t timeout_ms, backoff_min, backoff_max;
	struct etcd_req *reqs;		/* started, on the multi handle */
	struct etcd_req *waiting;	/* waiting for an auth token */
	struct etcd_timer *timers;
	int64_t curl_at;		/* -1: curl wants no timeout */
	int depth;			/* > 0 while dispatching */
	struct etcd_grave *graves;
	struct etcd_obj *objs;		/* watches, leases, mirrors alive */
};

/* client.c */
int64_t etcd__now_ms(void);
int64_t etcd__backoff(const struct etcd_client *c, int64_t prev);
void etcd__timer_arm(struct etcd_client *c, struct etcd_timer *t, int64_t ms);
void etcd__timer_stop(struct etcd_client *c, struct etcd_timer *t);
/* Starts a POST of @body (taken) to @path. */
int etcd__req_start(struct etcd_client *c, const char *path, char *body,
		    bool stream, etcd_done_fn done, void *owner, void *cb,
		    void *arg, struct etcd_req **out, struct nt_err *err);
/* request.c */
void etcd__req_free(void *p);
/* A transfer is over (dispatch found it done): tell its owner. */
void etcd__req_finish(struct etcd_req *r, CURLcode res);
/* The owner goes away: the request finishes without calling it. */
void etcd__req_orphan(struct etcd_req *r);
/* Stops a request now (a stream the watch no longer wants). */
void etcd__req_cancel(struct etcd_req *r);
/* The gRPC status code of an error as an errno. */
int etcd__grpc_errno(int code);
/* Frees @p with @fn now, or after the dispatch under way. */
void etcd__defer_free(struct etcd_client *c, void *p, void (*fn)(void *));
void etcd__obj_add(struct etcd_client *c, struct etcd_obj *o,
		   void (*stop)(struct etcd_obj *o));
void etcd__obj_del(struct etcd_obj *o);
/* Turns an HTTP/curl outcome and a body into a status and message. */
int etcd__status(struct etcd_req *r, CURLcode res, long http, cJSON **doc,
		 struct nt_err *err);

/* json.c */
int ej_parse(const char *buf, size_t len, cJSON **out, struct nt_err *err);
int ej_int64(const cJSON *o, const char *key, int64_t *out, const char *where,
	     struct nt_err *err);
int ej_bool(const cJSON *o, const char *key, bool *out, const char *where,
	    struct nt_err *err);
int ej_header_rev(const cJSON *o, int64_t *rev, const char *where,
		  struct nt_err *err);
/* Decodes a kv into malloc'd key/value (freed with ej_kv_free). */
int ej_kv(const cJSON *o, struct etcd_kv *kv, const char *where,
	  struct nt_err *err);
void ej_kv_free(struct etcd_kv *kv);
int ej_kvs(const cJSON *o, const char *key, struct etcd_kv **kvs, size_t *n,
	   const char *where, struct nt_err *err);
void ej_kvs_free(struct etcd_kv *kvs, size_t n);
int ej_events(const cJSON *o, struct etcd_event **ev, size_t *n,
	      const char *where, struct nt_err *err);
void ej_events_free(struct etcd_event *ev, size_t n);
int ej_error(const cJSON *o, int *code, const char **msg);
bool ej_add_bytes(cJSON *o, const char *key, const void *p, size_t len);
bool ej_add_int64(cJSON *o, const char *key, int64_t v);
/* The end of the range of every key starting with @key (etcd's rule:
 * the key with its last byte below 0xff incremented; "\0" for all). */
int ej_prefix_end(const char *key, size_t len, char **end, size_t *end_len);
char *ej_print(cJSON *o);

/* kv.c: the internal forms, which hand the request back so its owner
 * can orphan it. @end NULL: only @key. */
int etcd__range_r(struct etcd_client *c, const char *key, size_t key_len,
		  const char *end, size_t end_len, int64_t revision,
		  int64_t limit, etcd_range_cb cb, void *arg,
		  struct etcd_req **out, struct nt_err *err);
int etcd__lease_r(struct etcd_client *c, const char *path, int64_t v,
		  etcd_lease_cb cb, void *arg, struct etcd_req **out,
		  struct nt_err *err);

/* watch.c */
void etcd__watch_lines(struct etcd_req *r);
void etcd__watch_done(struct etcd_req *r, int status,
		      const struct nt_err *err);

#endif /* NAMETAG_ETCD_INT_H */
