// SPDX-License-Identifier: Apache-2.0
/*
 * Single requests: range, txn (and the put/delete helpers built on it),
 * compaction, and the three lease calls. Each builds its JSON body, starts
 * the request, and on completion reads the answer into the typed result
 * its callback receives.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "userspace/etcd/etcd_int.h"

static int key_check(const char *key, size_t len, struct nt_err *err)
{
	if (!key || !len || len > ETCD_KEY_MAX)
		return nt_err_set(err, -EINVAL, "etcd: a key of 1 to %u bytes",
				  ETCD_KEY_MAX);
	return 0;
}

/* "key" and, for ETCD_PREFIX, "range_end". */
static bool add_key_range(cJSON *o, const char *key, size_t len,
			  unsigned int flags)
{
	char *end = NULL;
	size_t elen = 0;
	bool ok;

	ok = ej_add_bytes(o, "key", key, len);
	if (ok && (flags & ETCD_PREFIX)) {
		ok = !ej_prefix_end(key, len, &end, &elen) &&
		     ej_add_bytes(o, "range_end", end, elen);
		free(end);
	}
	return ok;
}

/* ---- range ------------------------------------------------------------------ */

static void range_done(struct etcd_req *r, int status, const cJSON *doc,
		       const struct nt_err *err)
{
	struct etcd_range res = { .revision = 0 };
	struct nt_err why = { "" };
	struct etcd_kv *kvs = NULL;
	etcd_range_cb cb = (etcd_range_cb)r->cb;

	if (!status)
		status = ej_header_rev(doc, &res.revision, "range", &why);
	if (!status)
		status = ej_kvs(doc, "kvs", &kvs, &res.n, "range", &why);
	if (!status)
		status = ej_int64(doc, "count", &res.count, "range", &why);
	if (!status)
		status = ej_bool(doc, "more", &res.more, "range", &why);
	if (!status && res.revision <= 0)
		status = nt_err_set(&why, -EBADMSG, "range: no header.revision");
	res.kvs = kvs;
	cb(r->arg, status, status ? NULL : &res, why.msg[0] ? &why : err);
	ej_kvs_free(kvs, res.n);
}

static int range_start(struct etcd_client *c, const char *key,
		       size_t key_len, const char *end, size_t end_len,
		       unsigned int flags, int64_t revision, int64_t limit,
		       etcd_range_cb cb, void *arg, struct etcd_req **out,
		       struct nt_err *err)
{
	cJSON *o;
	bool ok;
	int ret;

	ret = key_check(key, key_len, err);
	if (ret)
		return ret;
	o = cJSON_CreateObject();
	ok = o && add_key_range(o, key, key_len, end ? 0 : flags);
	if (ok && end)
		ok = ej_add_bytes(o, "range_end", end, end_len);
	if (ok && revision > 0)
		ok = ej_add_int64(o, "revision", revision);
	if (ok && limit > 0)
		ok = ej_add_int64(o, "limit", limit);
	if (ok && (flags & ETCD_KEYS_ONLY))
		ok = cJSON_AddTrueToObject(o, "keys_only") != NULL;
	if (!ok) {
		cJSON_Delete(o);
		return nt_err_set(err, -ENOMEM, "out of memory");
	}
	return etcd__req_start(c, "/v3/kv/range", ej_print(o), false,
			       range_done, NULL, (void *)cb, arg, out, err);
}

int etcd__range(struct etcd_client *c, const char *key, size_t key_len,
		unsigned int flags, int64_t revision, int64_t limit,
		etcd_range_cb cb, void *arg, struct nt_err *err)
{
	return range_start(c, key, key_len, NULL, 0, flags, revision, limit,
			   cb, arg, NULL, err);
}

int etcd__range_r(struct etcd_client *c, const char *key, size_t key_len,
		  const char *end, size_t end_len, int64_t revision,
		  int64_t limit, etcd_range_cb cb, void *arg,
		  struct etcd_req **out, struct nt_err *err)
{
	return range_start(c, key, key_len, end, end_len, 0, revision, limit,
			   cb, arg, out, err);
}

/* ---- txn -------------------------------------------------------------------- */

/* The compared keys, kept for the failure report. */
struct txn_ctx {
	size_t n;
	struct etcd_kv *keys;		/* key and key_len only */
};

static void txn_ctx_free(struct txn_ctx *t)
{
	if (t)
		ej_kvs_free(t->keys, t->n);
	free(t);
}

/* On failure every response is the range of one compared key. */
static int txn_current(const cJSON *doc, struct txn_ctx *t,
		       struct etcd_kv **cur, struct nt_err *err)
{
	const cJSON *resps = cJSON_GetObjectItemCaseSensitive(doc, "responses");
	const cJSON *e, *rr;
	struct etcd_kv *kvs;
	size_t i = 0, n;
	int ret;

	*cur = calloc(t->n ? t->n : 1, sizeof(**cur));
	if (!*cur)
		return nt_err_set(err, -ENOMEM, "out of memory");
	if (resps && (!cJSON_IsArray(resps) ||
		      cJSON_GetArraySize(resps) != (int)t->n))
		return nt_err_set(err, -EBADMSG,
				  "txn.responses: one range per condition expected");
	cJSON_ArrayForEach(e, resps) {
		rr = cJSON_GetObjectItemCaseSensitive(e, "response_range");
		if (!cJSON_IsObject(rr))
			return nt_err_set(err, -EBADMSG,
					  "txn.responses[%zu]: no response_range", i);
		ret = ej_kvs(rr, "kvs", &kvs, &n, "txn.responses", err);
		if (ret)
			return ret;
		if (n == 1) {
			(*cur)[i] = kvs[0];
			free(kvs);
		} else {
			ej_kvs_free(kvs, n);
			(*cur)[i].key = strdup(t->keys[i].key);
			(*cur)[i].key_len = t->keys[i].key_len;
			if (!(*cur)[i].key)
				return nt_err_set(err, -ENOMEM, "out of memory");
		}
		i++;
	}
	return 0;
}

static void txn_done(struct etcd_req *r, int status, const cJSON *doc,
		     const struct nt_err *err)
{
	struct etcd_txn_result res = { .succeeded = false };
	struct txn_ctx *t = r->owner;
	struct nt_err why = { "" };
	struct etcd_kv *cur = NULL;
	etcd_txn_cb cb = (etcd_txn_cb)r->cb;

	if (!status)
		status = ej_header_rev(doc, &res.revision, "txn", &why);
	if (!status)
		status = ej_bool(doc, "succeeded", &res.succeeded, "txn", &why);
	if (!status && !res.succeeded && t && t->n) {
		status = txn_current(doc, t, &cur, &why);
		res.current = cur;
		res.ncurrent = t->n;
	}
	if (cb)
		cb(r->arg, status, status ? NULL : &res, why.msg[0] ? &why : err);
	ej_kvs_free(cur, cur ? t->n : 0);
	txn_ctx_free(t);
}

static cJSON *op_json(const struct etcd_op *op)
{
	cJSON *wrap = cJSON_CreateObject(), *o;
	bool ok;

	o = cJSON_AddObjectToObject(wrap, op->kind == ETCD_OP_PUT ?
				    "request_put" : "request_delete_range");
	ok = o && add_key_range(o, op->key, op->key_len,
				op->kind == ETCD_OP_PUT ? 0 : op->flags);
	if (ok && op->kind == ETCD_OP_PUT)
		ok = ej_add_bytes(o, "value", op->value ? op->value : "",
				  op->value_len);
	if (ok && op->kind == ETCD_OP_PUT && op->lease)
		ok = ej_add_int64(o, "lease", op->lease);
	if (!ok) {
		cJSON_Delete(wrap);
		return NULL;
	}
	return wrap;
}

static bool conds_json(cJSON *body, const struct etcd_cond *conds, size_t n,
		       struct txn_ctx *t)
{
	cJSON *cmp = cJSON_AddArrayToObject(body, "compare");
	cJSON *fail = cJSON_AddArrayToObject(body, "failure");
	cJSON *c, *f, *rr;
	size_t i;

	if (!cmp || !fail)
		return false;
	for (i = 0; i < n; i++) {
		c = cJSON_CreateObject();
		f = cJSON_CreateObject();
		if (!cJSON_AddItemToArray(cmp, c) || !cJSON_AddItemToArray(fail, f))
			return false;
		rr = cJSON_AddObjectToObject(f, "request_range");
		if (!ej_add_bytes(c, "key", conds[i].key, conds[i].key_len) ||
		    !cJSON_AddStringToObject(c, "target", "MOD") ||
		    !cJSON_AddStringToObject(c, "result", "EQUAL") ||
		    !ej_add_int64(c, "mod_revision", conds[i].mod_revision) ||
		    !rr || !ej_add_bytes(rr, "key", conds[i].key, conds[i].key_len))
			return false;
		t->keys[i].key = strndup(conds[i].key, conds[i].key_len);
		t->keys[i].key_len = conds[i].key_len;
		if (!t->keys[i].key)
			return false;
		t->n = i + 1;
	}
	return true;
}

int etcd__txn(struct etcd_client *c, const struct etcd_cond *conds,
	      size_t nconds, const struct etcd_op *ops, size_t nops,
	      etcd_txn_cb cb, void *arg, struct nt_err *err)
{
	struct txn_ctx *t = calloc(1, sizeof(*t));
	cJSON *body = cJSON_CreateObject(), *succ, *op;
	bool ok = t && body;
	size_t i;

	for (i = 0; i < nconds; i++)
		if (key_check(conds[i].key, conds[i].key_len, err) ||
		    conds[i].mod_revision < 0)
			ok = false;
	for (i = 0; i < nops; i++)
		if (key_check(ops[i].key, ops[i].key_len, err))
			ok = false;
	if (ok && nconds) {
		t->keys = calloc(nconds, sizeof(*t->keys));
		ok = t->keys && conds_json(body, conds, nconds, t);
	}
	succ = ok ? cJSON_AddArrayToObject(body, "success") : NULL;
	ok = succ != NULL;
	for (i = 0; ok && i < nops; i++) {
		op = op_json(&ops[i]);
		ok = op && cJSON_AddItemToArray(succ, op);
	}
	if (!ok) {
		cJSON_Delete(body);
		txn_ctx_free(t);
		return nt_err_set(err, -EINVAL, "etcd txn: bad or too large arguments");
	}
	if (etcd__req_start(c, "/v3/kv/txn", ej_print(body), false, txn_done, t,
			    (void *)cb, arg, NULL, err)) {
		txn_ctx_free(t);
		return -EIO;
	}
	return 0;
}

int etcd__put_if(struct etcd_client *c, const char *key, const char *value,
		 size_t value_len, int64_t mod_revision, int64_t lease,
		 etcd_txn_cb cb, void *arg, struct nt_err *err)
{
	struct etcd_cond cond = { key, key ? strlen(key) : 0, mod_revision };
	struct etcd_op op = {
		.kind = ETCD_OP_PUT, .key = key, .key_len = cond.key_len,
		.value = value, .value_len = value_len, .lease = lease,
	};

	return etcd__txn(c, &cond, 1, &op, 1, cb, arg, err);
}

int etcd__delete_if(struct etcd_client *c, const char *key,
		    int64_t mod_revision, etcd_txn_cb cb, void *arg,
		    struct nt_err *err)
{
	struct etcd_cond cond = { key, key ? strlen(key) : 0, mod_revision };
	struct etcd_op op = {
		.kind = ETCD_OP_DELETE, .key = key, .key_len = cond.key_len,
	};

	if (mod_revision <= 0)
		return nt_err_set(err, -EINVAL,
				  "delete-if-unchanged needs the key's mod_revision");
	return etcd__txn(c, &cond, 1, &op, 1, cb, arg, err);
}

int etcd__put(struct etcd_client *c, const char *key, const char *value,
	      size_t value_len, int64_t lease, etcd_txn_cb cb, void *arg,
	      struct nt_err *err)
{
	struct etcd_op op = {
		.kind = ETCD_OP_PUT, .key = key, .key_len = key ? strlen(key) : 0,
		.value = value, .value_len = value_len, .lease = lease,
	};

	return etcd__txn(c, NULL, 0, &op, 1, cb, arg, err);
}

static void compact_done(struct etcd_req *r, int status, const cJSON *doc,
			 const struct nt_err *err)
{
	struct etcd_txn_result res = { .succeeded = true };
	struct nt_err why = { "" };
	etcd_txn_cb cb = (etcd_txn_cb)r->cb;

	if (!status)
		status = ej_header_rev(doc, &res.revision, "compaction", &why);
	if (cb)
		cb(r->arg, status, status ? NULL : &res, why.msg[0] ? &why : err);
}

int etcd__compact(struct etcd_client *c, int64_t revision, etcd_txn_cb cb,
		  void *arg, struct nt_err *err)
{
	cJSON *o = cJSON_CreateObject();

	if (!o || !ej_add_int64(o, "revision", revision) ||
	    !cJSON_AddTrueToObject(o, "physical")) {
		cJSON_Delete(o);
		return nt_err_set(err, -ENOMEM, "out of memory");
	}
	return etcd__req_start(c, "/v3/kv/compaction", ej_print(o), false,
			       compact_done, NULL, (void *)cb, arg, NULL, err);
}

/* ---- leases ----------------------------------------------------------------- */

static void lease_done(struct etcd_req *r, int status, const cJSON *doc,
		       const struct nt_err *err)
{
	etcd_lease_cb cb = (etcd_lease_cb)r->cb;
	struct nt_err why = { "" };
	int64_t id = 0, ttl = 0;
	const cJSON *res = doc;

	/* keepalive is a stream in gRPC: its one answer is wrapped. */
	if (!status && strstr(r->path, "keepalive")) {
		res = cJSON_GetObjectItemCaseSensitive(doc, "result");
		if (!cJSON_IsObject(res))
			status = nt_err_set(&why, -EBADMSG,
					    "lease keepalive: no \"result\" object");
	}
	if (!status && !strstr(r->path, "revoke")) {
		status = ej_int64(res, "ID", &id, "lease", &why);
		if (!status)
			status = ej_int64(res, "TTL", &ttl, "lease", &why);
		if (!status && ttl <= 0)
			status = nt_err_set(&why, -ENOENT,
					    "lease %lld is gone (expired or revoked)",
					    (long long)id);
	}
	if (cb)
		cb(r->arg, status, id, ttl, why.msg[0] ? &why : err);
}

int etcd__lease_r(struct etcd_client *c, const char *path, int64_t v,
		  etcd_lease_cb cb, void *arg, struct etcd_req **out,
		  struct nt_err *err)
{
	const char *k = strstr(path, "grant") ? "TTL" : "ID";
	cJSON *o = cJSON_CreateObject();

	if (!o || !ej_add_int64(o, k, v)) {
		cJSON_Delete(o);
		return nt_err_set(err, -ENOMEM, "out of memory");
	}
	return etcd__req_start(c, path, ej_print(o), false, lease_done, NULL,
			       (void *)cb, arg, out, err);
}

int etcd__lease_grant(struct etcd_client *c, int64_t ttl, etcd_lease_cb cb,
		      void *arg, struct nt_err *err)
{
	if (ttl <= 0 || ttl > 24 * 3600)
		return nt_err_set(err, -EINVAL, "lease ttl: 1 s to 1 day");
	return etcd__lease_r(c, "/v3/lease/grant", ttl, cb, arg, NULL, err);
}

int etcd__lease_keepalive(struct etcd_client *c, int64_t id, etcd_lease_cb cb,
			  void *arg, struct nt_err *err)
{
	return etcd__lease_r(c, "/v3/lease/keepalive", id, cb, arg, NULL, err);
}

int etcd__lease_revoke(struct etcd_client *c, int64_t id, etcd_lease_cb cb,
		       void *arg, struct nt_err *err)
{
	return etcd__lease_r(c, "/v3/lease/revoke", id, cb, arg, NULL, err);
}
