// SPDX-License-Identifier: Apache-2.0
/*
 * The RPCs: dispatch, and FetchX509SVID (SPIFFE_Workload_API.md §5.2.1).
 * The three server streams (this one and the two bundle streams in
 * rpc_bundles.c) send their first message as soon as the request is in,
 * later ones only when the message the callbacks now give differs from the
 * last one sent (grpc.c compares digests), each carrying the full set.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "userspace/workload_api/wlapi_int.h"
#include "workload.pb-c.h"

/* Unencrypted PKCS#8 DER, in memory that is zeroed when freed. */
static int pkcs8_der(EVP_PKEY *key, ProtobufCBinaryData *out)
{
	PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(key);
	unsigned char *der = NULL;
	int n = p8 ? i2d_PKCS8_PRIV_KEY_INFO(p8, &der) : -1;

	PKCS8_PRIV_KEY_INFO_free(p8);	/* cleanses the key octets */
	if (n <= 0)
		return -EINVAL;
	out->data = der;
	out->len = (size_t)n;
	return 0;
}

/* ---- FetchX509SVID ------------------------------------------------------------- */

struct x509_build {
	X509SVIDResponse resp;
	X509SVID svids[WLAPI_SVIDS_MAX];
	X509SVID *svid_ptrs[WLAPI_SVIDS_MAX];
	struct bundle_map fed;
};

static void x509_build_free(struct x509_build *x)
{
	size_t i;

	for (i = 0; i < x->resp.n_svids; i++) {
		free(x->svids[i].x509_svid.data);
		free(x->svids[i].bundle.data);
		OPENSSL_clear_free(x->svids[i].x509_svid_key.data,
				   x->svids[i].x509_svid_key.len);
	}
	bundle_map__free(&x->fed);
}

static int x509_svid_entry(X509SVID *e, const struct wlapi_svid *ws,
			   const struct bundle_set *set)
{
	const struct svid *sv = ws->svid;
	const struct bundle *b;
	int ret;

	x509_svid__init(e);
	e->spiffe_id = (char *)sv->id.str;
	e->hint = (char *)(ws->hint ? ws->hint : "");
	/* The SVID's own trust domain's bundle, never another's. */
	b = bundle_set__find(set, sv->id.td, sv->id.td_len);
	if (!b)
		return -EAGAIN;
	ret = rpc__der_certs(sv->leaf, sv->intermediates, &e->x509_svid);
	if (!ret)
		ret = rpc__der_bundle(b, &e->bundle);
	if (!ret)
		ret = pkcs8_der(sv->key, &e->x509_svid_key);
	return ret;
}

static int x509_build(struct x509_build *x, const struct wlapi_identity *id,
		      const struct bundle_set *set, const char *local)
{
	size_t i;
	int ret = 0;

	x509_svidresponse__init(&x->resp);
	for (i = 0; !ret && i < id->n && i < WLAPI_SVIDS_MAX; i++) {
		x->svid_ptrs[i] = &x->svids[i];
		x->resp.n_svids = i + 1;
		ret = x509_svid_entry(&x->svids[i], &id->svids[i], set);
	}
	x->resp.svids = x->svid_ptrs;
	/* The other trust domains' bundles, which the SVIDs do not carry. */
	if (!ret)
		ret = bundle_map__build(&x->fed,
					&x509_svidresponse__federated_bundles_entry__descriptor,
					set, local, rpc__der_bundle);
	x->resp.n_federated_bundles = x->fed.n;
	x->resp.federated_bundles = (X509SVIDResponse__FederatedBundlesEntry **)x->fed.ptrs;
	return ret;
}

int rpc__refuse(struct wl_stream *s, int err, const char *what)
{
	char msg[96];

	if (err == -EPERM)
		snprintf(msg, sizeof(msg), "no %s for this caller", what);
	else if (err == -ESRCH)
		snprintf(msg, sizeof(msg),
			 "the caller is gone or could not be identified");
	else
		snprintf(msg, sizeof(msg), "%s unavailable", what);
	grpc__finish(s, grpc__status_of(err), msg);
	return -1;
}

/* The caller's identity; on failure the stream is finished. */
int rpc__get_identity(struct wl_stream *s, struct wlapi_identity *id)
{
	struct wl_conn *c = s->conn;
	size_t i;
	int ret;

	if (!c->caller_ok)
		return rpc__refuse(s, -ESRCH, "identity");
	memset(id, 0, sizeof(*id));
	ret = c->srv->ops.identity(c->srv->ops.ctx, c->caller, id);
	if (!ret && (!id->n || id->n > WLAPI_SVIDS_MAX))
		ret = id->n ? -EAGAIN : -EPERM;
	for (i = 0; !ret && i < id->n; i++)
		if (!id->svids[i].svid || !id->svids[i].svid->key ||
		    !id->svids[i].svid->leaf)
			ret = -EAGAIN;
	return ret ? rpc__refuse(s, ret, "identity") : 0;
}

void rpc_x509__svid(struct wl_stream *s)
{
	struct x509_build x = { .resp.n_svids = 0 };
	const struct bundle_set *set = NULL;
	struct wlapi_identity id;
	const char *local = NULL;
	int ret;

	if (rpc__get_identity(s, &id) || rpc__get_bundles(s, &set, &local))
		return;
	ret = x509_build(&x, &id, set, local);
	if (ret)
		grpc__finish(s, GRPC_UNAVAILABLE, "failed to encode the SVIDs");
	else if (grpc__send(s, &x.resp.base) > 0)
		s->conn->srv->stats.pushes++;
	x509_build_free(&x);
}

/* ---- dispatch ---------------------------------------------------------------------- */

/* The request messages of the streaming RPCs carry no field; they must
 * still be well-formed protobuf (unknown fields are allowed). */
static bool request_ok(struct wl_stream *s, const ProtobufCMessageDescriptor *d,
		       const uint8_t *msg, size_t len)
{
	ProtobufCAllocator a;
	ProtobufCMessage *m;

	m = protobuf_c_message_unpack(d, conn__pb_allocator(s->conn, &a), len,
				      msg);
	if (!m) {
		grpc__finish(s, GRPC_INVALID_ARGUMENT, "malformed request");
		return false;
	}
	protobuf_c_message_free_unpacked(m, &a);
	return true;
}

/* The server streams: their empty request's type, and the function that
 * computes and queues their message, at the call and after each change. */
static const struct {
	enum wl_rpc rpc;
	const ProtobufCMessageDescriptor *req;
	void (*send)(struct wl_stream *s);
} streams[] = {
	{ RPC_X509_SVID, &x509_svidrequest__descriptor, rpc_x509__svid },
	{ RPC_X509_BUNDLES, &x509_bundles_request__descriptor, rpc_x509__bundles },
	{ RPC_JWT_BUNDLES, &jwtbundles_request__descriptor, rpc_jwt__bundles },
};
#define NSTREAMS (sizeof(streams) / sizeof(streams[0]))

void rpc__dispatch(struct wl_stream *s, const uint8_t *msg, size_t len)
{
	size_t i;

	for (i = 0; i < NSTREAMS; i++) {
		if (streams[i].rpc != s->rpc)
			continue;
		if (!request_ok(s, streams[i].req, msg, len))
			return;
		s->streaming = true;
		streams[i].send(s);
		return;
	}
	if (s->rpc == RPC_JWT_SVID)
		rpc_jwt__svid(s, msg, len);
	else if (s->rpc == RPC_VALIDATE_JWT)
		rpc_jwt__validate(s, msg, len);
	else
		grpc__finish(s, GRPC_UNIMPLEMENTED, "not implemented");
}

/* Every stream recomputes on any change: whether the caller may still
 * have bundles can follow from its identity, and a message that came out
 * the same is not sent. */
void rpc__refresh(struct wl_stream *s, unsigned int what)
{
	size_t i;

	for (i = 0; what && i < NSTREAMS; i++)
		if (streams[i].rpc == s->rpc)
			streams[i].send(s);
}
