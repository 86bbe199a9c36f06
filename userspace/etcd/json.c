// SPDX-License-Identifier: Apache-2.0
/*
 * The gateway's JSON (grpc-gateway's rendering of etcd's protobufs): int64
 * fields are decimal strings, bytes are standard base64, enums are names,
 * and fields at their default value are left out. Readers here are strict
 * about the form of what is there and lenient about what is not (a default)
 * or not known (ignored): a newer etcd may add fields, but a present field
 * of the wrong form means the answer cannot be trusted at all.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "userspace/etcd/etcd_int.h"

int ej_parse(const char *buf, size_t len, cJSON **out, struct nt_err *err)
{
	return json__parse_strict(buf, len, out, err);
}

char *ej_print(cJSON *o)
{
	char *s = o ? cJSON_PrintUnformatted(o) : NULL;
	char *copy = s ? strdup(s) : NULL;

	cJSON_free(s);
	cJSON_Delete(o);
	return copy;
}

/* A decimal int64: '-'? then digits, no leading zero, no overflow. */
static int parse_dec(const char *s, int64_t *out)
{
	bool neg = *s == '-';
	uint64_t v = 0, lim;
	const char *p = s + neg;

	if (!*p || (p[0] == '0' && p[1]) || (neg && p[0] == '0'))
		return -EINVAL;
	lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		if (v > (lim - (uint64_t)(*p - '0')) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
}

int ej_int64(const cJSON *o, const char *key, int64_t *out, const char *where,
	     struct nt_err *err)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);

	*out = 0;
	if (!it)
		return 0;
	if (!cJSON_IsString(it) || parse_dec(it->valuestring, out))
		return nt_err_set(err, -EBADMSG,
				  "%s.%s: not an int64 in a decimal string", where,
				  key);
	return 0;
}

int ej_bool(const cJSON *o, const char *key, bool *out, const char *where,
	    struct nt_err *err)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);

	*out = false;
	if (!it)
		return 0;
	if (!cJSON_IsBool(it))
		return nt_err_set(err, -EBADMSG, "%s.%s: not a boolean", where,
				  key);
	*out = cJSON_IsTrue(it);
	return 0;
}

static int ej_object(const cJSON *o, const char *key, const cJSON **out,
		     const char *where, struct nt_err *err)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);

	*out = it;
	if (it && !cJSON_IsObject(it))
		return nt_err_set(err, -EBADMSG, "%s.%s: not an object", where,
				  key);
	return 0;
}

int ej_header_rev(const cJSON *o, int64_t *rev, const char *where,
		  struct nt_err *err)
{
	const cJSON *h;
	int ret;

	ret = ej_object(o, "header", &h, where, err);
	if (ret)
		return ret;
	*rev = 0;
	return h ? ej_int64(h, "revision", rev, "header", err) : 0;
}

/* Standard base64 into a malloc'd, NUL-terminated buffer. */
static int ej_b64(const cJSON *o, const char *key, size_t max, char **out,
		  size_t *len, const char *where, struct nt_err *err)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
	unsigned char *buf = NULL;
	const char *s = "";

	if (it && !cJSON_IsString(it))
		return nt_err_set(err, -EBADMSG, "%s.%s: not a string", where,
				  key);
	if (it)
		s = it->valuestring;
	if (strlen(s) / 4 * 3 > max + 3)
		return nt_err_set(err, -EBADMSG, "%s.%s: longer than %zu bytes",
				  where, key, max);
	if (b64__decode(s, strlen(s), false, &buf, len))
		return nt_err_set(err, -EBADMSG, "%s.%s: not base64", where,
				  key);
	*out = (char *)buf;
	return 0;
}

void ej_kv_free(struct etcd_kv *kv)
{
	free((char *)kv->key);
	free((char *)kv->value);
	memset(kv, 0, sizeof(*kv));
}

int ej_kv(const cJSON *o, struct etcd_kv *kv, const char *where,
	  struct nt_err *err)
{
	char *key = NULL, *value = NULL;
	int ret;

	memset(kv, 0, sizeof(*kv));
	if (!cJSON_IsObject(o))
		return nt_err_set(err, -EBADMSG, "%s: not an object", where);
	ret = ej_b64(o, "key", ETCD_KEY_MAX, &key, &kv->key_len, where, err);
	if (!ret)
		ret = ej_b64(o, "value", ETCD_RESP_MAX, &value, &kv->value_len,
			     where, err);
	kv->key = key;
	kv->value = value;
	if (!ret)
		ret = ej_int64(o, "create_revision", &kv->create_revision, where,
			       err);
	if (!ret)
		ret = ej_int64(o, "mod_revision", &kv->mod_revision, where, err);
	if (!ret)
		ret = ej_int64(o, "version", &kv->version, where, err);
	if (!ret)
		ret = ej_int64(o, "lease", &kv->lease, where, err);
	if (!ret && !kv->key_len)
		ret = nt_err_set(err, -EBADMSG, "%s: empty key", where);
	if (ret)
		ej_kv_free(kv);
	return ret;
}

void ej_kvs_free(struct etcd_kv *kvs, size_t n)
{
	size_t i;

	for (i = 0; kvs && i < n; i++)
		ej_kv_free(&kvs[i]);
	free(kvs);
}

int ej_kvs(const cJSON *o, const char *key, struct etcd_kv **kvs, size_t *n,
	   const char *where, struct nt_err *err)
{
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, key), *e;
	char at[96];
	size_t i = 0;
	int cnt, ret;

	*kvs = NULL;
	*n = 0;
	if (!arr)
		return 0;
	if (!cJSON_IsArray(arr))
		return nt_err_set(err, -EBADMSG, "%s.%s: not an array", where, key);
	cnt = cJSON_GetArraySize(arr);
	*kvs = calloc(cnt ? (size_t)cnt : 1, sizeof(**kvs));
	if (!*kvs)
		return nt_err_set(err, -ENOMEM, "out of memory");
	cJSON_ArrayForEach(e, arr) {
		snprintf(at, sizeof(at), "%s.%s[%zu]", where, key, i);
		ret = ej_kv(e, &(*kvs)[i], at, err);
		if (ret) {
			ej_kvs_free(*kvs, i);
			*kvs = NULL;
			return ret;
		}
		i++;
	}
	*n = i;
	return 0;
}

void ej_events_free(struct etcd_event *ev, size_t n)
{
	size_t i;

	for (i = 0; ev && i < n; i++)
		ej_kv_free(&ev[i].kv);
	free(ev);
}

static int ej_event(const cJSON *e, struct etcd_event *ev, const char *at,
		    struct nt_err *err)
{
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(e, "type");
	const cJSON *kv;
	int ret;

	if (!cJSON_IsObject(e))
		return nt_err_set(err, -EBADMSG, "%s: not an object", at);
	if (!type || (cJSON_IsString(type) && !strcmp(type->valuestring, "PUT")))
		ev->kind = ETCD_EV_PUT;
	else if (cJSON_IsString(type) && !strcmp(type->valuestring, "DELETE"))
		ev->kind = ETCD_EV_DELETE;
	else
		return nt_err_set(err, -EBADMSG, "%s.type: not PUT or DELETE", at);
	ret = ej_object(e, "kv", &kv, at, err);
	if (!ret && !kv)
		ret = nt_err_set(err, -EBADMSG, "%s: no kv", at);
	if (!ret)
		ret = ej_kv(kv, &ev->kv, at, err);
	if (!ret && ev->kv.mod_revision <= 0)
		ret = nt_err_set(err, -EBADMSG, "%s: no mod_revision", at);
	return ret;
}

int ej_events(const cJSON *o, struct etcd_event **ev, size_t *n,
	      const char *where, struct nt_err *err)
{
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, "events"), *e;
	char at[96];
	size_t i = 0;
	int cnt, ret;

	*ev = NULL;
	*n = 0;
	if (!arr)
		return 0;
	if (!cJSON_IsArray(arr))
		return nt_err_set(err, -EBADMSG, "%s.events: not an array", where);
	cnt = cJSON_GetArraySize(arr);
	*ev = calloc(cnt ? (size_t)cnt : 1, sizeof(**ev));
	if (!*ev)
		return nt_err_set(err, -ENOMEM, "out of memory");
	cJSON_ArrayForEach(e, arr) {
		snprintf(at, sizeof(at), "%s.events[%zu]", where, i);
		ret = ej_event(e, &(*ev)[i], at, err);
		if (!ret && i && (*ev)[i].kv.mod_revision <
				 (*ev)[i - 1].kv.mod_revision)
			ret = nt_err_set(err, -EBADMSG,
					 "%s: revisions go backwards", at);
		if (ret) {
			ej_events_free(*ev, i + 1);
			*ev = NULL;
			return ret;
		}
		i++;
	}
	*n = i;
	return 0;
}

/* {"error": "...", "code": N, "message": "..."}: grpc-gateway's error. */
int ej_error(const cJSON *o, int *code, const char **msg)
{
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(o, "code");
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "message");

	if (!m)
		m = cJSON_GetObjectItemCaseSensitive(o, "error");
	if (!cJSON_IsNumber(c) || !cJSON_IsString(m))
		return -EINVAL;
	*code = c->valueint;
	*msg = m->valuestring;
	return 0;
}

bool ej_add_bytes(cJSON *o, const char *key, const void *p, size_t len)
{
	char *s = b64__encode(p, len, false);
	bool ok = s && cJSON_AddStringToObject(o, key, s);

	free(s);
	return ok;
}

bool ej_add_int64(cJSON *o, const char *key, int64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%lld", (long long)v);
	return cJSON_AddStringToObject(o, key, buf) != NULL;
}

int ej_prefix_end(const char *key, size_t len, char **end, size_t *end_len)
{
	char *e = malloc(len + 1);
	size_t i = len;

	if (!e)
		return -ENOMEM;
	memcpy(e, key, len);
	while (i > 0 && (unsigned char)e[i - 1] == 0xff)
		i--;
	if (i == 0) {
		/* Every byte 0xff (or no key): "\0" means to the end. */
		e[0] = '\0';
		*end_len = 1;
	} else {
		e[i - 1] = (char)((unsigned char)e[i - 1] + 1);
		*end_len = i;
	}
	*end = e;
	return 0;
}

/* ---- the fuzz target's entry ---------------------------------------------- */

int etcd__parse_check(const char *json, size_t len, bool watch,
		      struct nt_err *err)
{
	struct etcd_event *ev = NULL;
	struct etcd_kv *kvs = NULL;
	const cJSON *res = NULL;
	cJSON *doc = NULL;
	int64_t rev = 0, compact = 0;
	size_t n = 0;
	int ret;

	ret = ej_parse(json, len, &doc, err);
	if (ret)
		return ret;
	if (watch) {
		ret = ej_object(doc, "result", &res, "watch", err);
		if (!ret && res)
			ret = ej_header_rev(res, &rev, "watch", err);
		if (!ret && res)
			ret = ej_int64(res, "compact_revision", &compact, "watch",
				       err);
		if (!ret && res)
			ret = ej_events(res, &ev, &n, "watch", err);
		ej_events_free(ev, n);
	} else {
		ret = ej_header_rev(doc, &rev, "range", err);
		if (!ret)
			ret = ej_kvs(doc, "kvs", &kvs, &n, "range", err);
		ej_kvs_free(kvs, n);
	}
	cJSON_Delete(doc);
	return ret;
}
