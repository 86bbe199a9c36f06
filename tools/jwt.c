// SPDX-License-Identifier: Apache-2.0
/*
 * nametag jwt: JWT-SVIDs through the Workload API, as the calling process
 * (tools/wlclient.c): `fetch` mints one for the caller's own identity,
 * `validate` has the API check a token (JWT-SVID.md).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tools/main.h"
#include "workload.pb-c.h"

#define JWT_AUD_MAX	16
#define WLC_TIMEOUT_MS	10000

/* The one message of a unary call, unpacked by @unpack. */
struct unary {
	void *msg;
	void *(*unpack)(size_t len, const uint8_t *data);
};

static int take_one(const uint8_t *m, size_t len, void *arg)
{
	struct unary *u = arg;

	if (!u->msg)
		u->msg = u->unpack(len, m);
	return 0;
}

static void *unpack_jwt(size_t len, const uint8_t *data)
{
	return jwtsvidresponse__unpack(NULL, len, data);
}

static void *unpack_validate(size_t len, const uint8_t *data)
{
	return validate_jwtsvidresponse__unpack(NULL, len, data);
}

/* Calls @method with the packed @msg; the unpacked answer, or NULL after
 * p_err(). */
static void *unary_call(const char *sock, const char *method,
			const ProtobufCMessage *msg,
			void *(*unpack)(size_t, const uint8_t *))
{
	struct unary u = { .unpack = unpack };
	struct wlc_result res;
	size_t len = protobuf_c_message_get_packed_size(msg);
	uint8_t *buf = malloc(len ? len : 1);
	int fd, ret;

	if (!buf) {
		p_err("out of memory");
		return NULL;
	}
	protobuf_c_message_pack(msg, buf);
	fd = wlc_open(sock);
	if (fd < 0) {
		free(buf);
		return NULL;
	}
	ret = wlc_call(fd, method, buf, len, take_one, &u, WLC_TIMEOUT_MS, &res);
	close(fd);
	free(buf);
	if (ret) {
		p_err("%s: %s", method, strerror(-ret));
	} else if (res.status != 0) {
		p_err("%s: %s%s%s", method, wlc_status_name(res.status),
		      res.message[0] ? ": " : "", res.message);
	} else if (!u.msg) {
		p_err("%s: no answer", method);
	} else {
		return u.msg;
	}
	if (u.msg)
		protobuf_c_message_free_unpacked(u.msg, NULL);
	return NULL;
}

static int do_fetch(int argc, char **argv)
{
	JWTSVIDRequest req = JWTSVIDREQUEST__INIT;
	char *aud[JWT_AUD_MAX];
	const char *sock = NULL, *id = NULL;
	JWTSVIDResponse *resp;
	cJSON *arr, *o;
	size_t i, naud = 0;

	while (argc > 0) {
		if (!strcmp(*argv, "--audience")) {
			if (naud == JWT_AUD_MAX)
				return p_err("at most %d audiences", JWT_AUD_MAX);
			GET_VALUE(aud[naud]);
			naud++;
		} else if (!strcmp(*argv, "--spiffe-id")) {
			GET_VALUE(id);
		} else if (!strcmp(*argv, "--socket")) {
			GET_VALUE(sock);
		} else {
			return p_err("unknown argument '%s' for 'jwt fetch'", *argv);
		}
	}
	if (!naud)
		return p_err("'jwt fetch' needs --audience AUDIENCE");
	req.audience = aud;
	req.n_audience = naud;
	if (id)
		req.spiffe_id = (char *)id;
	resp = unary_call(sock, "FetchJWTSVID", &req.base, unpack_jwt);
	if (!resp)
		return -1;
	if (!json_output) {
		for (i = 0; i < resp->n_svids; i++)
			printf("%s\n", resp->svids[i]->svid);
		jwtsvidresponse__free_unpacked(resp, NULL);
		return 0;
	}
	arr = cJSON_CreateArray();
	for (i = 0; arr && i < resp->n_svids; i++) {
		o = cJSON_CreateObject();
		cJSON_AddItemToArray(arr, o);
		cJSON_AddStringToObject(o, "spiffe_id", resp->svids[i]->spiffe_id);
		cJSON_AddStringToObject(o, "token", resp->svids[i]->svid);
	}
	jwtsvidresponse__free_unpacked(resp, NULL);
	return json_emit(arr);
}

/* google.protobuf.Value -> JSON, the claims of a validated token. */
static cJSON *value_json(const Google__Protobuf__Value *v);

static cJSON *struct_json(const Google__Protobuf__Struct *s)
{
	cJSON *o = cJSON_CreateObject();
	size_t i;

	for (i = 0; o && s && i < s->n_fields; i++)
		cJSON_AddItemToObject(o, s->fields[i]->key,
				      value_json(s->fields[i]->value));
	return o;
}

static cJSON *value_json(const Google__Protobuf__Value *v)
{
	cJSON *a;
	size_t i;

	switch (v ? v->kind_case : GOOGLE__PROTOBUF__VALUE__KIND_NULL_VALUE) {
	case GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE:
		return cJSON_CreateNumber(v->number_value);
	case GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE:
		return cJSON_CreateString(v->string_value);
	case GOOGLE__PROTOBUF__VALUE__KIND_BOOL_VALUE:
		return cJSON_CreateBool(v->bool_value);
	case GOOGLE__PROTOBUF__VALUE__KIND_STRUCT_VALUE:
		return struct_json(v->struct_value);
	case GOOGLE__PROTOBUF__VALUE__KIND_LIST_VALUE:
		a = cJSON_CreateArray();
		for (i = 0; a && v->list_value && i < v->list_value->n_values; i++)
			cJSON_AddItemToArray(a, value_json(v->list_value->values[i]));
		return a;
	default:
		return cJSON_CreateNull();
	}
}

static int do_validate(int argc, char **argv)
{
	ValidateJWTSVIDRequest req = VALIDATE_JWTSVIDREQUEST__INIT;
	const char *sock = NULL, *aud = NULL, *token;
	ValidateJWTSVIDResponse *resp;
	cJSON *o;

	REQ_ARGS(1);
	token = *argv;
	NEXT_ARG();
	while (argc > 0) {
		if (!strcmp(*argv, "--audience"))
			GET_VALUE(aud);
		else if (!strcmp(*argv, "--socket"))
			GET_VALUE(sock);
		else
			return p_err("unknown argument '%s' for 'jwt validate'", *argv);
	}
	if (!aud)
		return p_err("'jwt validate' needs --audience AUDIENCE");
	req.audience = (char *)aud;
	req.svid = (char *)token;
	resp = unary_call(sock, "ValidateJWTSVID", &req.base, unpack_validate);
	if (!resp)
		return -1;
	if (!json_output) {
		printf("%s\n", resp->spiffe_id);
		validate_jwtsvidresponse__free_unpacked(resp, NULL);
		return 0;
	}
	o = cJSON_CreateObject();
	if (o) {
		cJSON_AddStringToObject(o, "spiffe_id", resp->spiffe_id);
		cJSON_AddItemToObject(o, "claims", struct_json(resp->claims));
	}
	validate_jwtsvidresponse__free_unpacked(resp, NULL);
	return json_emit(o);
}

static int do_help(int argc, char **argv)
{
	return p_usage(
		"Usage: %s jwt fetch --audience AUDIENCE... [--spiffe-id ID] [--socket ADDR]\n"
		"       %s jwt validate TOKEN --audience AUDIENCE [--socket ADDR]\n"
		"       %s jwt help\n"
		"\n"
		"       Through the SPIFFE Workload API, as the calling process: fetch prints\n"
		"       a JWT-SVID of the caller's own identity for the audiences; validate\n"
		"       prints the SPIFFE ID of a valid token (the claims with -j).\n"
		"       ADDR: unix:///path or /path; default SPIFFE_ENDPOINT_SOCKET, else\n"
		"       " WORKLOAD_API_DEFAULT ".\n",
		bin_name, bin_name, bin_name);
}

static const struct cmd cmds[] = {
	{ "help",	do_help },
	{ "fetch",	do_fetch },
	{ "validate",	do_validate },
	{ 0 }
};

int do_jwt(int argc, char **argv)
{
	return cmd_select(cmds, argc, argv);
}
