// SPDX-License-Identifier: Apache-2.0
/*
 * The JWT-SVID profile's unary RPCs (SPIFFE_Workload_API.md §6):
 * FetchJWTSVID and ValidateJWTSVID. FetchJWTBundles is in rpc_bundles.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "userspace/workload_api/wlapi_int.h"
#include "workload.pb-c.h"

/* ---- FetchJWTSVID ------------------------------------------------------------ */

static int jwt_request(struct wl_stream *s, const JWTSVIDRequest *req,
		       struct spiffe_id *want)
{
	struct nt_err err = { "" };
	size_t i;

	if (!req->n_audience || req->n_audience > JWT_AUD_MAX) {
		grpc__finish(s, GRPC_INVALID_ARGUMENT,
			     req->n_audience ? "too many audiences" :
			     "audience is required");
		return -1;
	}
	for (i = 0; i < req->n_audience; i++)
		if (!req->audience[i][0]) {
			grpc__finish(s, GRPC_INVALID_ARGUMENT,
				     "an audience is empty");
			return -1;
		}
	if (req->spiffe_id[0] &&
	    spiffe_id__parse(want, req->spiffe_id, strlen(req->spiffe_id),
			     &err)) {
		grpc__finish(s, GRPC_INVALID_ARGUMENT, err.msg);
		return -1;
	}
	return 0;
}

/* Which of the caller's identities to mint for: all, or the one asked. */
static size_t jwt_pick(const struct wlapi_identity *id, const char *asked,
		       const struct spiffe_id *want, size_t *which)
{
	size_t i, n = 0;

	for (i = 0; i < id->n; i++)
		if (!asked[0] || spiffe_id__equal(&id->svids[i].svid->id, want))
			which[n++] = i;
	return n;
}

static void jwt_mint_send(struct wl_stream *s, const JWTSVIDRequest *req,
			  const struct wlapi_identity *id, const size_t *which,
			  size_t n)
{
	struct wl_conn *c = s->conn;
	JWTSVIDResponse resp = JWTSVIDRESPONSE__INIT;
	JWTSVID out[WLAPI_SVIDS_MAX], *ptrs[WLAPI_SVIDS_MAX];
	struct nt_err err = { "" };
	size_t i;
	int ret = 0;

	for (i = 0; !ret && i < n; i++) {
		const struct wlapi_svid *ws = &id->svids[which[i]];

		jwtsvid__init(&out[i]);
		out[i].spiffe_id = (char *)ws->svid->id.str;
		out[i].hint = (char *)(ws->hint ? ws->hint : "");
		out[i].svid = NULL;
		ret = c->srv->ops.mint_jwt(c->srv->ops.ctx, c->caller,
					   &ws->svid->id,
					   (const char *const *)req->audience,
					   req->n_audience, &out[i].svid, &err);
		if (!ret && !out[i].svid)
			ret = -EAGAIN;
		ptrs[i] = &out[i];
		resp.n_svids = ret ? i : i + 1;
	}
	resp.svids = ptrs;
	if (ret)
		grpc__finish(s, grpc__status_of(ret),
			     ret == -EINVAL ? err.msg : "failed to mint a JWT-SVID");
	else if (grpc__send(s, &resp.base) >= 0)
		grpc__finish(s, GRPC_OK, NULL);
	/* Bearer tokens: zeroed before the memory goes back. */
	for (i = 0; i < resp.n_svids; i++) {
		explicit_bzero(out[i].svid, strlen(out[i].svid));
		free(out[i].svid);
	}
}

void rpc_jwt__svid(struct wl_stream *s, const uint8_t *msg, size_t len)
{
	size_t which[WLAPI_SVIDS_MAX], n;
	struct wlapi_identity id;
	struct spiffe_id want;
	JWTSVIDRequest *req;
	ProtobufCAllocator a;

	req = jwtsvidrequest__unpack(conn__pb_allocator(s->conn, &a), len, msg);
	if (!req) {
		grpc__finish(s, GRPC_INVALID_ARGUMENT, "malformed JWTSVIDRequest");
		return;
	}
	if (jwt_request(s, req, &want) || rpc__get_identity(s, &id))
		goto out;
	n = jwt_pick(&id, req->spiffe_id, &want, which);
	if (!n)
		grpc__finish(s, GRPC_PERMISSION_DENIED,
			     "the caller is not entitled to this SPIFFE ID");
	else
		jwt_mint_send(s, req, &id, which, n);
out:
	jwtsvidrequest__free_unpacked(req, &a);
}

/* ---- ValidateJWTSVID ------------------------------------------------------------ */

/* google.protobuf.Struct nodes for the claims, all from one arena. */
struct arena {
	void **blocks;
	size_t n, cap;
};

static void *arena_calloc(struct arena *ar, size_t size)
{
	void **grown, *p;

	if (ar->n == ar->cap) {
		ar->cap = ar->cap ? ar->cap * 2 : 32;
		grown = realloc(ar->blocks, ar->cap * sizeof(*grown));
		if (!grown)
			return NULL;
		ar->blocks = grown;
	}
	p = calloc(1, size);
	if (p)
		ar->blocks[ar->n++] = p;
	return p;
}

static void arena_free(struct arena *ar)
{
	while (ar->n)
		free(ar->blocks[--ar->n]);
	free(ar->blocks);
}

static Google__Protobuf__Struct *struct_of(struct arena *ar, const cJSON *o);

static Google__Protobuf__Value *value_of(struct arena *ar, const cJSON *j)
{
	Google__Protobuf__Value *v = arena_calloc(ar, sizeof(*v));
	Google__Protobuf__ListValue *l;
	const cJSON *e;
	size_t n = 0;

	if (!v)
		return NULL;
	google__protobuf__value__init(v);
	if (cJSON_IsNull(j)) {
		v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_NULL_VALUE;
	} else if (cJSON_IsBool(j)) {
		v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_BOOL_VALUE;
		v->bool_value = cJSON_IsTrue(j);
	} else if (cJSON_IsNumber(j)) {
		v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE;
		v->number_value = j->valuedouble;
	} else if (cJSON_IsString(j)) {
		v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE;
		v->string_value = j->valuestring;
	} else if (cJSON_IsObject(j)) {
		v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRUCT_VALUE;
		v->struct_value = struct_of(ar, j);
		return v->struct_value ? v : NULL;
	} else if (cJSON_IsArray(j)) {
		l = arena_calloc(ar, sizeof(*l));
		l = l ? (google__protobuf__list_value__init(l), l) : NULL;
		n = (size_t)cJSON_GetArraySize(j);
		if (!l || !(l->values = arena_calloc(ar, (n ? n : 1) *
							sizeof(*l->values))))
			return NULL;
		cJSON_ArrayForEach(e, j)
			if (!(l->values[l->n_values++] = value_of(ar, e)))
				return NULL;
		v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_LIST_VALUE;
		v->list_value = l;
	} else {
		return NULL;
	}
	return v;
}

/* Depth is bounded by json__parse_strict (32 levels). */
static Google__Protobuf__Struct *struct_of(struct arena *ar, const cJSON *o)
{
	Google__Protobuf__Struct *st = arena_calloc(ar, sizeof(*st));
	Google__Protobuf__Struct__FieldsEntry *f;
	size_t n = (size_t)cJSON_GetArraySize(o);
	const cJSON *e;

	if (!st)
		return NULL;
	google__protobuf__struct__init(st);
	st->fields = arena_calloc(ar, (n ? n : 1) * sizeof(*st->fields));
	if (!st->fields)
		return NULL;
	cJSON_ArrayForEach(e, o) {
		f = arena_calloc(ar, sizeof(*f));
		if (!f)
			return NULL;
		google__protobuf__struct__fields_entry__init(f);
		f->key = e->string;
		f->value = value_of(ar, e);
		if (!f->value)
			return NULL;
		st->fields[st->n_fields++] = f;
	}
	return st;
}

static void validate_send(struct wl_stream *s, const struct jwt_svid *js)
{
	ValidateJWTSVIDResponse resp = VALIDATE_JWTSVIDRESPONSE__INIT;
	struct arena ar = { NULL, 0, 0 };

	resp.spiffe_id = (char *)js->id.str;
	resp.claims = struct_of(&ar, js->claims);
	if (!resp.claims)
		grpc__finish(s, GRPC_UNAVAILABLE, "failed to encode the claims");
	else if (grpc__send(s, &resp.base) >= 0)
		grpc__finish(s, GRPC_OK, NULL);
	arena_free(&ar);
}

void rpc_jwt__validate(struct wl_stream *s, const uint8_t *msg, size_t len)
{
	struct wlapi *srv = s->conn->srv;
	struct jwt_verify_opts o = { .leeway = srv->cfg.jwt_leeway };
	const struct bundle_set *set;
	ValidateJWTSVIDRequest *req;
	struct nt_err err = { "" };
	struct jwt_svid *js = NULL;
	ProtobufCAllocator a;
	const char *local;
	int ret;

	req = validate_jwtsvidrequest__unpack(conn__pb_allocator(s->conn, &a),
					      len, msg);
	if (!req) {
		grpc__finish(s, GRPC_INVALID_ARGUMENT,
			     "malformed ValidateJWTSVIDRequest");
		return;
	}
	if (!req->audience[0] || !req->svid[0]) {
		grpc__finish(s, GRPC_INVALID_ARGUMENT,
			     req->svid[0] ? "audience is required" :
					    "svid is required");
		goto out;
	}
	if (rpc__get_bundles(s, &set, &local))
		goto out;
	o.now = srv->ops.now ? srv->ops.now(srv->ops.ctx) : time(NULL);
	ret = jwt_svid__validate(req->svid, strlen(req->svid), req->audience,
				 set, &o, &js, &err);
	/* A genuine signature refused for its node CA's scope: a node
	 * minting what it may not is worth an operator's attention, at 1,
	 * 2, 4, 8... so that replaying one token cannot flood the log. */
	if (ret == -EKEYREJECTED)
		srv->stats.jwt_out_of_scope++;
	if (ret == -EKEYREJECTED &&
	    !(srv->stats.jwt_out_of_scope & (srv->stats.jwt_out_of_scope - 1)))
		wl_log(srv, LOG_WARNING,
		       "refused a JWT-SVID for pid %d: %s (%llu so far)",
		       (int)s->conn->cred.pid, err.msg,
		       (unsigned long long)srv->stats.jwt_out_of_scope);
	if (ret)
		grpc__finish(s, GRPC_INVALID_ARGUMENT, err.msg);
	else
		validate_send(s, js);
	jwt_svid__free(js);
out:
	validate_jwtsvidrequest__free_unpacked(req, &a);
}
