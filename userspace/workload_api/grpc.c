// SPDX-License-Identifier: Apache-2.0
/*
 * gRPC over HTTP/2 for one stream (grpc/doc/PROTOCOL-HTTP2.md): the
 * request's headers and its one length-prefixed message in, then either a
 * Trailers-Only error or response headers, messages from a data provider
 * that parks (NGHTTP2_ERR_DEFERRED) until there is something to send, and
 * trailers (nghttp2_submit_trailer) with the status.
 *
 * The security header is checked as soon as the request headers are in,
 * before the RPC is looked at or anything attested
 * (SPIFFE_Workload_Endpoint.md §3, §6).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/sha.h>

#include "userspace/workload_api/wlapi_int.h"

#define NV(n, v)							\
	{ (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, sizeof(v) - 1,	\
	  NGHTTP2_NV_FLAG_NONE }

static const struct {
	const char *path;
	enum wl_rpc rpc;
} methods[] = {
	{ "/SpiffeWorkloadAPI/FetchX509SVID", RPC_X509_SVID },
	{ "/SpiffeWorkloadAPI/FetchX509Bundles", RPC_X509_BUNDLES },
	{ "/SpiffeWorkloadAPI/FetchJWTSVID", RPC_JWT_SVID },
	{ "/SpiffeWorkloadAPI/FetchJWTBundles", RPC_JWT_BUNDLES },
	{ "/SpiffeWorkloadAPI/ValidateJWTSVID", RPC_VALIDATE_JWT },
};

static bool is(const uint8_t *v, size_t len, const char *s)
{
	return len == strlen(s) && !memcmp(v, s, len);
}

static enum wl_rpc rpc_of(const uint8_t *path, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (is(path, len, methods[i].path))
			return methods[i].rpc;
	return RPC_UNKNOWN;
}

static struct wl_stream *stream_of(nghttp2_session *h2, int32_t id)
{
	return nghttp2_session_get_stream_user_data(h2, id);
}

/* ---- statuses ------------------------------------------------------------ */

enum grpc_status grpc__status_of(int err)
{
	switch (err) {
	case 0:
		return GRPC_OK;
	case -EPERM:
	case -EACCES:
		return GRPC_PERMISSION_DENIED;
	case -ESRCH:
		return GRPC_UNAUTHENTICATED;
	case -EINVAL:
		return GRPC_INVALID_ARGUMENT;
	default:
		return GRPC_UNAVAILABLE;
	}
}

/* grpc-message is percent-encoded: printable ASCII but '%' as is. */
static void percent_encode(const char *in, char *out, size_t size)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *in && o + 4 <= size; in++) {
		unsigned char ch = (unsigned char)*in;

		if (ch >= 0x20 && ch <= 0x7e && ch != '%') {
			out[o++] = (char)ch;
			continue;
		}
		out[o++] = '%';
		out[o++] = hex[ch >> 4];
		out[o++] = hex[ch & 15];
	}
	out[o] = '\0';
}

static nghttp2_nv nv_of(const char *name, const char *value)
{
	nghttp2_nv nv = { (uint8_t *)name, (uint8_t *)value, strlen(name),
			  strlen(value), NGHTTP2_NV_FLAG_NONE };

	return nv;
}

/* ---- the response ---------------------------------------------------------- */

static void msg_free(struct wl_stream *s, struct wl_msg **m)
{
	conn__free_mem(s->conn, *m);
	*m = NULL;
}

static int submit_trailers(struct wl_stream *s)
{
	char code[8], msg[3 * sizeof(s->end_msg)];
	nghttp2_nv nva[2];

	snprintf(code, sizeof(code), "%d", (int)s->end_status);
	percent_encode(s->end_msg, msg, sizeof(msg));
	nva[0] = nv_of("grpc-status", code);
	nva[1] = nv_of("grpc-message", msg);
	return nghttp2_submit_trailer(s->conn->h2, s->id, nva, msg[0] ? 2 : 1);
}

/* The data provider: queued messages, then trailers once the stream is
 * ending; parked in between. */
static ssize_t read_msgs(nghttp2_session *h2, int32_t id, uint8_t *buf,
			 size_t length, uint32_t *flags,
			 nghttp2_data_source *src, void *ud)
{
	struct wl_stream *s = src->ptr;
	size_t n = 0, k;

	while (n < length) {
		if (!s->cur) {
			s->cur = s->queued;
			s->queued = NULL;
		}
		if (!s->cur)
			break;
		k = s->cur->len - s->cur->off;
		k = k < length - n ? k : length - n;
		memcpy(buf + n, s->cur->data + s->cur->off, k);
		s->cur->off += k;
		n += k;
		if (s->cur->off == s->cur->len)
			msg_free(s, &s->cur);
	}
	if (n)
		return (ssize_t)n;
	if (!s->ending) {
		s->deferred = true;
		return NGHTTP2_ERR_DEFERRED;
	}
	*flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
	if (submit_trailers(s))
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	return 0;
}

static int start_or_resume(struct wl_stream *s)
{
	static const nghttp2_nv hdrs[] = {
		NV(":status", "200"), NV("content-type", "application/grpc"),
	};
	nghttp2_data_provider prd = { .source.ptr = s,
				      .read_callback = read_msgs };
	int ret = 0;

	if (!s->answered) {
		ret = nghttp2_submit_response(s->conn->h2, s->id, hdrs, 2, &prd);
		s->answered = !ret;
	} else if (s->deferred) {
		ret = nghttp2_session_resume_data(s->conn->h2, s->id);
		s->deferred = false;
	}
	return ret;
}

int grpc__send(struct wl_stream *s, const ProtobufCMessage *m)
{
	struct wl_conn *c = s->conn;
	unsigned char digest[DIGEST_LEN];
	size_t size = protobuf_c_message_get_packed_size(m);
	struct wl_msg *msg;

	if (size > c->srv->cfg.conn_mem_max)
		return -EMSGSIZE;
	msg = conn__alloc(c, sizeof(*msg) + GRPC_PREFIX + size);
	if (!msg) {
		c->srv->stats.over_budget++;
		conn__close(c, "over its memory budget");
		return -ENOMEM;
	}
	msg->len = GRPC_PREFIX + size;
	msg->off = 0;
	msg->data[0] = 0;		/* not compressed */
	msg->data[1] = (uint8_t)(size >> 24);
	msg->data[2] = (uint8_t)(size >> 16);
	msg->data[3] = (uint8_t)(size >> 8);
	msg->data[4] = (uint8_t)size;
	protobuf_c_message_pack(m, msg->data + GRPC_PREFIX);
	SHA256(msg->data, msg->len, digest);
	if (s->has_digest && !memcmp(digest, s->digest, DIGEST_LEN)) {
		msg_free(s, &msg);
		return 0;
	}
	memcpy(s->digest, digest, DIGEST_LEN);
	s->has_digest = true;
	/* Each message is the full set: one not started yet is replaced by
	 * the newer, one half sent is finished first. */
	if (s->cur && !s->cur->off)
		msg_free(s, &s->cur);
	if (!s->cur)
		s->cur = msg;
	else {
		msg_free(s, &s->queued);
		s->queued = msg;
	}
	return start_or_resume(s) ? -EIO : 1;
}

void grpc__finish(struct wl_stream *s, enum grpc_status st, const char *why)
{
	char code[8], msg[3 * sizeof(s->end_msg)];
	nghttp2_nv nva[4] = {
		NV(":status", "200"), NV("content-type", "application/grpc"),
	};

	if (s->ending)
		return;
	s->ending = true;
	s->streaming = false;
	s->end_status = st;
	snprintf(s->end_msg, sizeof(s->end_msg), "%s", why ? why : "");
	if (st != GRPC_OK) {
		s->conn->srv->stats.errors++;
		/* Nothing more reaches a caller refused now. */
		if (s->cur && !s->cur->off)
			msg_free(s, &s->cur);
		msg_free(s, &s->queued);
	}
	if (s->answered) {
		start_or_resume(s);
		return;
	}
	/* Trailers-Only: one HEADERS frame that ends the stream. */
	snprintf(code, sizeof(code), "%d", (int)st);
	percent_encode(s->end_msg, msg, sizeof(msg));
	nva[2] = nv_of("grpc-status", code);
	nva[3] = nv_of("grpc-message", msg);
	if (!nghttp2_submit_response(s->conn->h2, s->id, nva, msg[0] ? 4 : 3,
				     NULL))
		s->answered = true;
}

/* Answers with a bare HTTP status: not a gRPC request at all. */
static void http_refuse(struct wl_stream *s, const char *status)
{
	nghttp2_nv nv = nv_of(":status", status);

	s->ending = true;
	s->answered = !nghttp2_submit_response(s->conn->h2, s->id, &nv, 1, NULL);
}

void grpc__stream_free(struct wl_stream *s)
{
	struct wl_conn *c = s->conn;

	if (s->prev)
		s->prev->next = s->next;
	else
		c->streams = s->next;
	if (s->next)
		s->next->prev = s->prev;
	if (!--c->nstreams)
		c->idle_since = wl_now();
	msg_free(s, &s->cur);
	msg_free(s, &s->queued);
	conn__free_mem(c, s->req);
	conn__free_mem(c, s);
}

/* ---- the request ------------------------------------------------------------ */

static int on_begin_headers(nghttp2_session *h2, const nghttp2_frame *f,
			    void *ud)
{
	struct wl_conn *c = ud;
	struct wl_stream *s;

	if (f->hd.type != NGHTTP2_HEADERS ||
	    f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	s = conn__calloc(c, 1, sizeof(*s));
	if (!s) {
		c->srv->stats.over_budget++;
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	}
	s->conn = c;
	s->id = f->hd.stream_id;
	s->next = c->streams;
	if (c->streams)
		c->streams->prev = s;
	c->streams = s;
	c->nstreams++;
	c->idle_since = 0;
	if (nghttp2_session_set_stream_user_data(h2, s->id, s)) {
		grpc__stream_free(s);
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	}
	return 0;
}

static int on_header(nghttp2_session *h2, const nghttp2_frame *f,
		     const uint8_t *name, size_t nlen, const uint8_t *value,
		     size_t vlen, uint8_t flags, void *ud)
{
	struct wl_stream *s = stream_of(h2, f->hd.stream_id);

	/* Only the request's own headers; gRPC clients send no trailers. */
	if (!s || f->hd.type != NGHTTP2_HEADERS ||
	    f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	s->hdr_bytes += nlen + vlen + 32;	/* RFC 9113 §6.5.2's count */
	if (s->hdr_bytes > WLAPI_HEADERS_MAX)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	if (is(name, nlen, ":method")) {
		s->post = is(value, vlen, "POST");
	} else if (is(name, nlen, ":path")) {
		s->rpc = rpc_of(value, vlen);
	} else if (is(name, nlen, "content-type")) {
		/* "application/grpc", or followed by "+proto" or ";..." */
		s->grpc_ct = vlen >= 16 && !memcmp(value, "application/grpc", 16) &&
			     (vlen == 16 || value[16] == '+' || value[16] == ';');
	} else if (is(name, nlen, "grpc-encoding")) {
		s->bad_encoding = !is(value, vlen, "identity");
	} else if (is(name, nlen, "workload.spiffe.io")) {
		s->security_seen++;
		s->security_ok = is(value, vlen, "true");
	}
	return 0;
}

static void headers_done(struct wl_stream *s)
{
	if (!s->post) {
		http_refuse(s, "405");
	} else if (!s->grpc_ct) {
		http_refuse(s, "415");
	} else if (s->security_seen != 1 || !s->security_ok) {
		/* Nothing is looked up or attested for such a request. */
		grpc__finish(s, GRPC_INVALID_ARGUMENT,
			     "security header missing: every call needs the metadata workload.spiffe.io: true");
	} else if (s->rpc == RPC_UNKNOWN) {
		grpc__finish(s, GRPC_UNIMPLEMENTED,
			     "not implemented (nametag serves the X.509-SVID and JWT-SVID profiles)");
	} else if (s->bad_encoding) {
		grpc__finish(s, GRPC_UNIMPLEMENTED,
			     "message compression is not supported");
	}
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static void request_done(struct wl_stream *s)
{
	uint32_t len;

	if (s->answered || s->ending)
		return;
	if (s->req_len < GRPC_PREFIX ||
	    (len = be32(s->req + 1), s->req_len - GRPC_PREFIX != len)) {
		grpc__finish(s, GRPC_INVALID_ARGUMENT,
			     "expected exactly one request message");
	} else if (s->req[0]) {
		grpc__finish(s, GRPC_UNIMPLEMENTED,
			     "message compression is not supported");
	} else {
		s->conn->srv->stats.calls++;
		rpc__dispatch(s, s->req + GRPC_PREFIX, len);
	}
	conn__free_mem(s->conn, s->req);
	s->req = NULL;
	s->req_len = 0;
}

static int on_data(nghttp2_session *h2, uint8_t flags, int32_t id,
		   const uint8_t *data, size_t len, void *ud)
{
	struct wl_stream *s = stream_of(h2, id);
	unsigned char *grown;

	/* Refused already (header checks, or too large): drop the rest. */
	if (!s || s->answered || s->ending)
		return 0;
	if (len > GRPC_PREFIX + WLAPI_REQUEST_MAX - s->req_len) {
		grpc__finish(s, GRPC_RESOURCE_EXHAUSTED,
			     "request message too large");
		conn__free_mem(s->conn, s->req);
		s->req = NULL;
		s->req_len = 0;
		return 0;
	}
	grown = conn__realloc(s->conn, s->req, s->req_len + len);
	if (!grown) {
		s->conn->srv->stats.over_budget++;
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	}
	memcpy(grown + s->req_len, data, len);
	s->req = grown;
	s->req_len += len;
	return 0;
}

static int on_frame(nghttp2_session *h2, const nghttp2_frame *f, void *ud)
{
	struct wl_conn *c = ud;
	struct wl_stream *s;

	if (f->hd.type == NGHTTP2_SETTINGS && !(f->hd.flags & NGHTTP2_FLAG_ACK))
		c->established = true;
	if (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA)
		return 0;
	s = stream_of(h2, f->hd.stream_id);
	if (!s)
		return 0;
	if (f->hd.type == NGHTTP2_HEADERS &&
	    f->headers.cat == NGHTTP2_HCAT_REQUEST)
		headers_done(s);
	if (f->hd.flags & NGHTTP2_FLAG_END_STREAM)
		request_done(s);
	return 0;
}

static int on_close(nghttp2_session *h2, int32_t id, uint32_t code, void *ud)
{
	struct wl_stream *s = stream_of(h2, id);

	if (s)
		grpc__stream_free(s);
	return 0;
}

int grpc__callbacks(nghttp2_session_callbacks *cb)
{
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_close);
	return 0;
}
