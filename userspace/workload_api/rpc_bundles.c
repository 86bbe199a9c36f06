// SPDX-License-Identifier: Apache-2.0
/*
 * Trust bundles on the wire: FetchX509Bundles (§5.2.2) and FetchJWTBundles
 * (§6.2.2), both server streams, and the map of bundles FetchX509SVID
 * carries for federated trust domains.
 *
 * The API's three map<string, bytes> fields have one layout (a key and a
 * bytes value); one builder fills all three, keyed "spiffe://<td>" and
 * sorted, so the same set of bundles always packs to the same bytes and a
 * stream never sees a change that is only a reordering.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "userspace/workload_api/wlapi_int.h"
#include "workload.pb-c.h"

#define SAME_LAYOUT(T)							\
	_Static_assert(sizeof(T) == sizeof(struct pb_map_entry) &&	\
		       offsetof(T, key) == offsetof(struct pb_map_entry, key) && \
		       offsetof(T, value) == offsetof(struct pb_map_entry, value), \
		       #T " is not a map<string, bytes> entry")
SAME_LAYOUT(X509SVIDResponse__FederatedBundlesEntry);
SAME_LAYOUT(X509BundlesResponse__BundlesEntry);
SAME_LAYOUT(JWTBundlesResponse__BundlesEntry);

/* ---- the caller's bundles ------------------------------------------------- */

int rpc__get_bundles(struct wl_stream *s, const struct bundle_set **set,
		     const char **local_td)
{
	struct wl_conn *c = s->conn;
	int ret;

	if (!c->caller_ok)
		return rpc__refuse(s, -ESRCH, "trust bundles");
	ret = c->srv->ops.bundles(c->srv->ops.ctx, c->caller, set, local_td);
	if (!ret && (!*set || !*local_td ||
		     !bundle_set__find(*set, *local_td, strlen(*local_td))))
		ret = -EAGAIN;
	return ret ? rpc__refuse(s, ret, "trust bundles") : 0;
}

/* ---- encodings -------------------------------------------------------------- */

int rpc__der_certs(X509 *first, const STACK_OF(X509) *more,
		   ProtobufCBinaryData *out)
{
	int i, n = more ? sk_X509_num(more) : 0, len, total = 0;
	unsigned char *p;

	if (first)
		total = i2d_X509(first, NULL);
	for (i = 0; i < n && total >= 0; i++) {
		len = i2d_X509(sk_X509_value(more, i), NULL);
		total = len < 0 ? -1 : total + len;
	}
	if (total < 0)
		return -EINVAL;
	out->data = malloc(total ? (size_t)total : 1);
	if (!out->data)
		return -ENOMEM;
	out->len = (size_t)total;
	p = out->data;
	if (first && i2d_X509(first, &p) < 0)
		return -EINVAL;
	for (i = 0; i < n; i++)
		if (i2d_X509(sk_X509_value(more, i), &p) < 0)
			return -EINVAL;
	return 0;
}

int rpc__der_bundle(const struct bundle *b, ProtobufCBinaryData *out)
{
	return rpc__der_certs(NULL, b->x509_authorities, out);
}

/* A JWK Set of the jwt-svid keys only (§6.2.2 forbids other uses). Every
 * trust domain gets one, an empty set saying it signs no JWT-SVIDs. */
static int jwks_bundle(const struct bundle *b, ProtobufCBinaryData *out)
{
	char *json = NULL;
	int ret = bundle__jwks_json(b, &json, NULL);

	if (ret)
		return ret;
	out->data = (uint8_t *)json;
	out->len = strlen(json);
	return 0;
}

/* ---- the map ------------------------------------------------------------------ */

static int ref_cmp(const void *a, const void *b)
{
	return strcmp(((const struct wl_bundle_ref *)a)->key,
		      ((const struct wl_bundle_ref *)b)->key);
}

int bundle_map__build(struct bundle_map *m, const ProtobufCMessageDescriptor *d,
		      const struct bundle_set *set, const char *skip_td,
		      int (*encode)(const struct bundle *, ProtobufCBinaryData *))
{
	size_t i, count = bundle_set__count(set);
	int ret = 0;

	memset(m, 0, sizeof(*m));
	m->refs = calloc(count + 1, sizeof(*m->refs));
	m->e = calloc(count + 1, sizeof(*m->e));
	m->ptrs = calloc(count + 1, sizeof(*m->ptrs));
	if (!m->refs || !m->e || !m->ptrs)
		return -ENOMEM;
	for (i = 0; i < count; i++) {
		m->refs[i].b = bundle_set__at(set, i);
		snprintf(m->refs[i].key, sizeof(m->refs[i].key),
			 SPIFFE_SCHEME "%s", m->refs[i].b->td);
	}
	qsort(m->refs, count, sizeof(*m->refs), ref_cmp);
	for (i = 0; !ret && i < count; i++) {
		if (skip_td && !strcmp(m->refs[i].b->td, skip_td))
			continue;
		protobuf_c_message_init(d, &m->e[m->n]);
		m->e[m->n].key = m->refs[i].key;
		m->ptrs[m->n] = &m->e[m->n];
		ret = encode(m->refs[i].b, &m->e[m->n++].value);
	}
	return ret;
}

void bundle_map__free(struct bundle_map *m)
{
	size_t i;

	for (i = 0; m->e && i < m->n; i++)
		free(m->e[i].value.data);
	free(m->refs);
	free(m->e);
	free(m->ptrs);
	memset(m, 0, sizeof(*m));
}

/* ---- the two bundle streams ------------------------------------------------------ */

/* Fills the map field (@n, @entries) of @resp with every bundle the
 * caller may use, encoded by @encode, and queues @resp. */
static void send_bundles(struct wl_stream *s, ProtobufCMessage *resp,
			 size_t *n, void *entries,
			 const ProtobufCMessageDescriptor *d,
			 int (*encode)(const struct bundle *,
				       ProtobufCBinaryData *))
{
	const struct bundle_set *set;
	struct bundle_map m;
	const char *local;

	if (rpc__get_bundles(s, &set, &local))
		return;
	if (bundle_map__build(&m, d, set, NULL, encode)) {
		grpc__finish(s, GRPC_UNAVAILABLE, "failed to encode the bundles");
	} else {
		*n = m.n;
		memcpy(entries, &m.ptrs, sizeof(m.ptrs));
		if (grpc__send(s, resp) > 0)
			s->conn->srv->stats.pushes++;
	}
	bundle_map__free(&m);
}

void rpc_x509__bundles(struct wl_stream *s)
{
	X509BundlesResponse resp = X509_BUNDLES_RESPONSE__INIT;

	send_bundles(s, &resp.base, &resp.n_bundles, &resp.bundles,
		     &x509_bundles_response__bundles_entry__descriptor,
		     rpc__der_bundle);
}

void rpc_jwt__bundles(struct wl_stream *s)
{
	JWTBundlesResponse resp = JWTBUNDLES_RESPONSE__INIT;

	send_bundles(s, &resp.base, &resp.n_bundles, &resp.bundles,
		     &jwtbundles_response__bundles_entry__descriptor,
		     jwks_bundle);
}
