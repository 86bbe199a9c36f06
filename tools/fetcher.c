// SPDX-License-Identifier: Apache-2.0
/*
 * The federation bundle fetcher, inside `nametag ca signer`
 * (docs/fleet.md "Federation"): for each federation/<td>, GET the other
 * domain's SPIFFE bundle from its endpoint (profile https_web: Web PKI
 * server authentication of the URL's host, no redirect), check it, and
 * store it at config/bundles/<td> with a transaction on the mod_revision
 * read, which every node applies. Again per its refresh hint (bounded),
 * with backoff after a failure; a failure keeps the bundle stored and is
 * written to fetches/<td> for `federation list`.
 *
 * A fetch blocks the signer for at most FETCH_TIMEOUT_MS, as its etcd
 * calls do: it answers node CA requests between fetches.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "tools/main.h"

#define FETCH_CONNECT_MS	5000
#define FETCH_TIMEOUT_MS	10000

struct fed_state {
	char td[SPIFFE_TD_MAX + 1];
	int64_t mod_revision;		/* of federation/<td> scheduled */
	time_t next_at;
	unsigned int failures;
	int64_t refresh;		/* after the last good fetch */
	bool seen;
};

struct fetcher {
	const char *own_td, *ca_file;
	int64_t refresh_min;
	struct etcd_mirror *m;
	struct fed_state *v;
	size_t n, cap;
	volatile bool *wake;
};

struct body {
	char *buf;
	size_t len;
	bool too_big;
};

static size_t on_data(char *p, size_t size, size_t nmemb, void *arg)
{
	struct body *b = arg;
	size_t n = size * nmemb;
	char *nb;

	/* Bounded: a hostile endpoint must not fill the signer's memory. */
	if (b->len + n > FLEET_FED_BODY_MAX) {
		b->too_big = true;
		return 0;
	}
	nb = realloc(b->buf, b->len + n + 1);
	if (!nb)
		return 0;
	memcpy(nb + b->len, p, n);
	b->buf = nb;
	b->len += n;
	b->buf[b->len] = '\0';
	return n;
}

static int http_get(struct fetcher *f, const char *url, struct body *b,
		    struct nt_err *err)
{
	char ebuf[CURL_ERROR_SIZE] = "";
	CURL *h = curl_easy_init();
	long code = 0;
	CURLcode rc;

	if (!h)
		return nt_err_set(err, -ENOMEM, "out of memory");
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	if (f->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, f->ca_file);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)FETCH_CONNECT_MS);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)FETCH_TIMEOUT_MS);
	curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE,
			 (curl_off_t)FLEET_FED_BODY_MAX);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "nametag/" NAMETAG_VERSION);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, b);
	rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(h);
	if (b->too_big || rc == CURLE_FILESIZE_EXCEEDED)
		return nt_err_set(err, -EFBIG, "%s: the answer exceeds %u bytes",
				  url, FLEET_FED_BODY_MAX);
	if (rc != CURLE_OK)
		return nt_err_set(err, -EIO, "%s: %s", url,
				  ebuf[0] ? ebuf : curl_easy_strerror(rc));
	if (code != 200)
		return nt_err_set(err, -EIO, "%s: HTTP status %ld", url, code);
	if (!b->buf)
		return nt_err_set(err, -EBADMSG, "%s: an empty answer", url);
	return 0;
}

/* The new bundle into config/bundles/<td>, unless it rolls the stored
 * one's sequence back; the stored one's refresh comes back in @refresh. */
static int store(struct fetcher *f, const char *url, struct bundle *b,
		 int64_t *refresh, struct nt_err *err)
{
	struct fleet_fed_bundle fb = { .b = b, .fetched_at = time(NULL) }, old;
	char key[300], *json = NULL;
	struct fleet_kv cur;
	struct nt_err e2 = {};
	int ret;

	snprintf(key, sizeof(key), "%s%s", FLEET_BUNDLES, b->td);
	ret = fleet_get(key, &cur, err);
	if (ret)
		return ret;
	if (cur.mod_revision &&
	    !fleet_fed_bundle__parse(&old, b->td, f->own_td, cur.value, cur.len, &e2)) {
		if (old.b->has_sequence && b->has_sequence &&
		    b->sequence < old.b->sequence)
			ret = nt_err_set(err, -ESTALE,
					 "spiffe_sequence %llu is below the stored bundle's %llu (a replayed bundle?)",
					 (unsigned long long)b->sequence,
					 (unsigned long long)old.b->sequence);
		fleet_fed_bundle__release(&old);
	}
	fb.refresh_hint = *refresh = fleet_fed__refresh(b, f->refresh_min);
	snprintf(fb.url, sizeof(fb.url), "%s", url);
	if (!ret)
		ret = fleet_fed_bundle__to_json(&fb, &json, err);
	if (!ret)
		ret = fleet_txn(&(struct etcd_cond){ key, strlen(key), cur.mod_revision },
				1, &(struct etcd_op){ .kind = ETCD_OP_PUT, .key = key,
						      .key_len = strlen(key), .value = json,
						      .value_len = strlen(json) },
				1, NULL, err);
	free(json);
	free(cur.key);
	free(cur.value);
	return ret;
}

static int fetch(struct fetcher *f, const char *td, const char *url,
		 int64_t *refresh, struct nt_err *err)
{
	struct body body = {};
	struct bundle *b = NULL;
	int ret;

	ret = http_get(f, url, &body, err);
	if (!ret)
		ret = bundle__parse(&b, td, body.buf, body.len, err);
	if (!ret)
		ret = fleet_fed__check_bundle(b, f->own_td, err);
	if (!ret)
		ret = store(f, url, b, refresh, err);
	bundle__free(b);
	free(body.buf);
	return ret;
}

static void put_status(const char *td, time_t now, time_t next_at,
		       const struct fed_state *s, const char *error)
{
	char key[300], *json;
	struct fleet_kv cur;
	struct nt_err err = {};
	cJSON *o = cJSON_CreateObject();
	int64_t last_success = 0;

	snprintf(key, sizeof(key), "%s%s", FLEET_FETCHES, td);
	if (!fleet_get(key, &cur, &err) && cur.mod_revision) {
		cJSON *old = NULL;

		if (!json__parse_strict(cur.value, cur.len, &old, NULL))
			last_success = (int64_t)cJSON_GetNumberValue(
				cJSON_GetObjectItem(old, "last_success"));
		cJSON_Delete(old);
		free(cur.key);
		free(cur.value);
	}
	json__add_u64(o, "last_attempt", (uint64_t)now);
	json__add_u64(o, "last_success", (uint64_t)(error ? last_success : now));
	cJSON_AddStringToObject(o, "error", error ? error : "");
	cJSON_AddNumberToObject(o, "failures", s->failures);
	json__add_u64(o, "next_at", (uint64_t)next_at);
	json = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (json && fleet_txn(NULL, 0, &(struct etcd_op){ .kind = ETCD_OP_PUT,
			      .key = key, .key_len = strlen(key), .value = json,
			      .value_len = strlen(json) }, 1, NULL, &err))
		fprintf(stderr, "signer: federation %s: status not written: %s\n",
			td, err.msg);
	cJSON_free(json);
}

static void run_one(struct fetcher *f, struct fed_state *s, const char *url,
		    time_t now)
{
	int64_t refresh = s->refresh ? s->refresh : f->refresh_min, wait;
	struct nt_err err = {};

	if (!fetch(f, s->td, url, &refresh, &err)) {
		s->failures = 0;
		s->refresh = refresh;
		s->next_at = now + refresh;
		fprintf(stderr, "signer: federation %s: bundle fetched from %s, next in %lld s\n",
			s->td, url, (long long)refresh);
		put_status(s->td, now, s->next_at, s, NULL);
		return;
	}
	/* Backoff from the lower bound, doubling, never past the refresh
	 * interval: a bundle that went away is tried again soon. */
	s->failures++;
	wait = f->refresh_min << (s->failures < 8 ? s->failures - 1 : 7);
	if (wait > refresh)
		wait = refresh;
	s->next_at = now + wait;
	fprintf(stderr, "signer: federation %s: fetch failed, the stored bundle stays (retry in %lld s): %s\n",
		s->td, (long long)wait, err.msg);
	put_status(s->td, now, s->next_at, s, err.msg);
}

static struct fed_state *state_of(struct fetcher *f, const char *td)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		if (!strcmp(f->v[i].td, td))
			return &f->v[i];
	if (array__grow((void **)&f->v, &f->cap, f->n, sizeof(*f->v), 4096))
		return NULL;
	memset(&f->v[f->n], 0, sizeof(f->v[0]));
	snprintf(f->v[f->n].td, sizeof(f->v[0].td), "%s", td);
	return &f->v[f->n++];
}

time_t fetcher__run(struct fetcher *f, time_t now)
{
	size_t i, k, len = strlen(FLEET_FEDERATION);
	time_t next = now + 3600;
	const struct etcd_kv *kv;
	struct fed_state *s;
	struct fleet_fed fed;
	struct nt_err err = {};

	for (k = 0; k < f->n; k++)
		f->v[k].seen = false;
	/* The mirror may change while a fetch runs the loop: by index, and
	 * each entry copied out before the fetch. */
	for (i = 0; i < etcd_mirror__count(f->m); i++) {
		kv = etcd_mirror__at(f->m, i);
		if (fleet_fed__parse(&fed, kv->key + len, kv->value, kv->value_len, &err)) {
			fprintf(stderr, "signer: %s: %s\n", kv->key, err.msg);
			continue;
		}
		s = state_of(f, fed.td);
		if (!s)
			break;
		s->seen = true;
		if (s->mod_revision != kv->mod_revision) {	/* new, or changed */
			s->mod_revision = kv->mod_revision;
			s->next_at = now;
			s->failures = 0;
		}
		if (s->next_at <= now)
			run_one(f, s, fed.url, now);
		if (s->next_at < next)
			next = s->next_at;
	}
	for (k = 0; k < f->n;)
		if (!f->v[k].seen)
			f->v[k] = f->v[--f->n];
		else
			k++;
	return next;
}

static void on_update(void *arg, const struct etcd_mirror *m, bool relisted,
		      const struct etcd_event *ev, size_t n)
{
	*((struct fetcher *)arg)->wake = true;
}

static void on_sync(void *arg, bool in_sync, int status, const struct nt_err *err)
{
	if (!in_sync)
		fprintf(stderr, "signer: federation: out of sync with etcd: %s\n",
			err && err->msg[0] ? err->msg : strerror(-status));
}

static const struct etcd_mirror_ops fed_ops = {
	.update = on_update, .sync = on_sync,
};

int fetcher__start(struct fetcher **out, const char *own_td,
		   const char *ca_file, int64_t refresh_min, volatile bool *wake,
		   struct nt_err *err)
{
	struct fetcher *f = calloc(1, sizeof(*f));
	struct etcd_client *c;
	int ret;

	if (!f)
		return nt_err_set(err, -ENOMEM, "out of memory");
	*f = (struct fetcher){ .own_td = own_td, .ca_file = ca_file,
			       .refresh_min = refresh_min > 0 ? refresh_min :
					      FLEET_FED_REFRESH_MIN,
			       .wake = wake };
	ret = fleet_client(&c, err);
	if (!ret)
		ret = etcd_mirror__start(c, FLEET_FEDERATION, &fed_ops, f, &f->m, err);
	if (ret) {
		free(f);
		return ret;
	}
	*out = f;
	return 0;
}
