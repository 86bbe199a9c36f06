// SPDX-License-Identifier: Apache-2.0
/*
 * Requests: one libcurl easy handle per HTTP POST to the gateway, its
 * setup (TLS, keepalive, no proxy), etcd auth tokens (fetched before the
 * first request, fetched again once when etcd calls one stale), and what a
 * finished transfer means: an errno and a sentence from the HTTP status,
 * libcurl's result or the gateway's error body.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "userspace/etcd/etcd_int.h"

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

void etcd__req_free(void *p)
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
	etcd__defer_free(c, r, etcd__req_free);
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
		etcd__req_free(r);
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
		etcd__defer_free(c, r, etcd__req_free);
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
			etcd__defer_free(c, w, etcd__req_free);
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
	etcd__defer_free(c, r, etcd__req_free);
}

void etcd__req_finish(struct etcd_req *r, CURLcode res)
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
	etcd__defer_free(c, r, etcd__req_free);
}

