// SPDX-License-Identifier: Apache-2.0
/*
 * A fleet node's JWT-SVID keys bound to its node CA (docs/fleet.md, "JWT-SVIDs
 * across the fleet"): what a node writes on jwt/<node>, and how the other
 * nodes read it.
 *
 * A JWT key is made on the node and certified by nobody, so a key alone
 * says nothing about what its tokens may claim: that is how a compromised
 * node could mint a JWT-SVID for any ID of the trust domain. The node CA
 * key signs the kids (RFC 7638 thumbprints, so the keys themselves) next
 * to the CA's certificate; a reader checks the certificate against the
 * upstream root, that its scope names the node the value is for, and the
 * signature, and then holds the keys to that scope and that CA's notAfter.
 * Nothing a node writes is taken on its word: another node's (public)
 * certificate names that other node, and etcd, which holds no node CA key,
 * cannot bind a key to anyone.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "ca/authority_int.h"

#define SIG_MAX		256	/* a DER ECDSA P-256 signature is <= 72 */
#define CHAIN_PEM_MAX	32768

static const char *const value_keys[] = {
	"version", "node", "keys", "node_ca", "signature", NULL
};

/* JWT_KEYS_CONTEXT \0 node \0 kid \0 kid \0 ...: node names and kids hold
 * no NUL, so the bytes read back one way only. */
static int keys_tbs(const char *node, const struct bundle *b,
		    unsigned char **out, size_t *len)
{
	size_t i, n = sizeof(JWT_KEYS_CONTEXT) + strlen(node) + 1, k;
	unsigned char *p;

	for (i = 0; i < b->jwt_count; i++)
		n += strlen(b->jwt_authorities[i].kid) + 1;
	p = malloc(n);
	if (!p)
		return -ENOMEM;
	*out = p;
	*len = n;
	memcpy(p, JWT_KEYS_CONTEXT, sizeof(JWT_KEYS_CONTEXT));
	p += sizeof(JWT_KEYS_CONTEXT);
	memcpy(p, node, strlen(node) + 1);
	p += strlen(node) + 1;
	for (i = 0; i < b->jwt_count; i++) {
		k = strlen(b->jwt_authorities[i].kid) + 1;
		memcpy(p, b->jwt_authorities[i].kid, k);
		p += k;
	}
	return 0;
}

/* ---- the node's side ------------------------------------------------------ */

static int keys_sign(EVP_PKEY *key, const char *node, const struct bundle *b,
		     char **b64, struct nt_err *err)
{
	unsigned char sig[SIG_MAX], *tbs = NULL;
	size_t slen = sizeof(sig), tlen = 0;
	EVP_MD_CTX *md = NULL;
	int ret;

	ret = keys_tbs(node, b, &tbs, &tlen);
	if (ret)
		return nt_err_set(err, ret, "out of memory");
	md = EVP_MD_CTX_new();
	if (!md || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(md, sig, &slen, tbs, tlen) != 1)
		ret = nt_err_ssl(err, -EIO, "failed to sign the JWT keys");
	else if (!(*b64 = b64__encode(sig, slen, false)))
		ret = nt_err_set(err, -ENOMEM, "out of memory");
	EVP_MD_CTX_free(md);
	free(tbs);
	return ret;
}

/* The current CA and the chain above it, the root left out: every reader
 * holds the root already. */
static int gen_chain_pem(const struct ca_gen *g, char **pem,
			 struct nt_err *err)
{
	X509 *certs[CA_CHAIN_MAX + 1];
	int i, n = sk_X509_num(g->certs);
	size_t len = 0;

	n = n > 1 ? n - 1 : n;
	for (i = 0; i < n && i <= CA_CHAIN_MAX; i++)
		certs[i] = sk_X509_value(g->certs, i);
	return pem__write_certs(certs, (size_t)i, pem, &len, err);
}

int node_ca__jwt_keys(const struct node_ca *ca, char **json,
		      struct nt_err *err)
{
	const struct ca_gen *g = ca->set.gen[0];
	char *jwks = NULL, *pem = NULL, *sig = NULL, *s = NULL;
	cJSON *doc = NULL;
	int ret;

	if (!ca->node || !g->key || !ca->bundle || !ca->bundle->jwt_count)
		return nt_err_set(err, -EINVAL,
				  "only a fleet node CA with JWT keys publishes them");
	ret = bundle__jwks_json(ca->bundle, &jwks, err);
	if (!ret)
		ret = gen_chain_pem(g, &pem, err);
	if (!ret)
		ret = keys_sign(g->key, ca->node, ca->bundle, &sig, err);
	if (ret)
		goto out;
	/* The JWK Set's "keys", in the bundle's order: the order signed. */
	doc = cJSON_Parse(jwks);
	if (!doc || !cJSON_AddNumberToObject(doc, "version", 1) ||
	    !cJSON_AddStringToObject(doc, "node", ca->node) ||
	    !cJSON_AddStringToObject(doc, "node_ca", pem) ||
	    !cJSON_AddStringToObject(doc, "signature", sig) ||
	    !(s = cJSON_PrintUnformatted(doc)) || !(*json = strdup(s)))
		ret = nt_err_set(err, -ENOMEM, "out of memory");
out:
	cJSON_free(s);	/* plain malloc memory out, whatever cJSON uses */
	cJSON_Delete(doc);
	free(jwks);
	free(pem);
	free(sig);
	return ret;
}

/* ---- the readers' side ---------------------------------------------------- */

/* "keys" as a JWK Set: jwt-svid keys only, at least one, each kid the
 * thumbprint of its key, so a kid cannot name another key. */
static int value_jwks(const cJSON *doc, const char *td, struct bundle **out,
		      struct nt_err *err)
{
	cJSON *set = cJSON_CreateObject(), *keys;
	struct bundle *b = NULL;
	char *s = NULL;
	int ret;

	keys = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(doc, "keys"), 1);
	if (!keys)
		ret = nt_err_set(err, -EINVAL, "missing key \"keys\"");
	else if (!set || !cJSON_AddItemToObject(set, "keys", keys) ||
		 !(s = cJSON_PrintUnformatted(set)))
		ret = nt_err_set(err, -ENOMEM, "out of memory");
	else
		ret = bundle__parse(&b, td, s, strlen(s), err);
	if (!set)
		cJSON_Delete(keys);
	cJSON_Delete(set);
	cJSON_free(s);
	if (!ret && (sk_X509_num(b->x509_authorities) > 0 || b->ignored_keys ||
		     !b->jwt_count))
		ret = nt_err_set(err, -EINVAL,
				 "jwt-svid keys only, at least one (%d x509-svid, %u ignored, %zu jwt-svid)",
				 sk_X509_num(b->x509_authorities),
				 b->ignored_keys, b->jwt_count);
	if (!ret)
		ret = bundle__jwt_kids_are_thumbprints(b, err);
	if (ret) {
		bundle__free(b);
		return ret;
	}
	*out = b;
	return 0;
}

/* The node CA: chains to @trust at @now, a CA of the trust domain, and
 * its scope names @node. *@not_after: the earliest of the chain's. */
static int value_ca(const cJSON *doc, const char *node,
		    const struct bundle *trust, time_t now,
		    STACK_OF(X509) **chain, struct ca_scope **scope,
		    time_t *not_after, struct nt_err *err)
{
	const char *pem = ca__json_str(doc, "node_ca", CHAIN_PEM_MAX,
				       "jwt keys", err);
	struct spiffe_id id;
	time_t na;
	X509 *x;
	int i, ret;

	if (!pem)
		return -EINVAL;
	ret = pem__read_certs(pem, strlen(pem), chain, err);
	if (!ret && sk_X509_num(*chain) > CA_CHAIN_MAX + 1)
		ret = nt_err_set(err, -E2BIG, "chain too long");
	if (ret)
		return nt_err_prefix(err, ret, "node_ca");
	ret = ca__chain_verify(*chain, trust->x509_authorities, now, err);
	if (ret)
		return nt_err_prefix(err, ret, "node_ca");
	x = sk_X509_value(*chain, 0);
	if (x509__spiffe_id(x, &id, NULL) || strcmp(id.td, trust->td) ||
	    spiffe_id__path_len(&id) || X509_check_ca(x) != 1)
		return nt_err_set(err, -EINVAL,
				  "node_ca: not a CA certificate for spiffe://%s",
				  trust->td);
	ret = ca_scope__from_cert(x, scope, err);
	if (ret == -ENOENT)
		return nt_err_set(err, -EINVAL, "node_ca: the node CA has no scope");
	if (ret)
		return nt_err_prefix(err, ret, "node_ca");
	if (strcmp((*scope)->node, node))
		return nt_err_set(err, -EPERM,
				  "node_ca: the node CA is node '%s''s, not '%s''s",
				  (*scope)->node, node);
	*not_after = 0;
	for (i = 0; i < sk_X509_num(*chain); i++)
		if (!x509__validity(sk_X509_value(*chain, i), NULL, &na) &&
		    (!*not_after || na < *not_after))
			*not_after = na;
	return 0;
}

static int value_sig(const cJSON *doc, X509 *ca, const char *node,
		     const struct bundle *b, struct nt_err *err)
{
	const char *s = ca__json_str(doc, "signature", 2 * SIG_MAX,
				     "jwt keys", err);
	unsigned char *sig = NULL, *tbs = NULL;
	size_t slen = 0, tlen = 0;
	EVP_MD_CTX *md = NULL;
	int ret, ok;

	if (!s)
		return -EINVAL;
	ret = b64__decode(s, strlen(s), false, &sig, &slen);
	if (ret)
		return ret == -ENOMEM ? nt_err_set(err, ret, "out of memory") :
		       nt_err_set(err, -EINVAL, "signature: not base64");
	ret = keys_tbs(node, b, &tbs, &tlen);
	md = ret ? NULL : EVP_MD_CTX_new();
	ok = md && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL,
					X509_get0_pubkey(ca)) == 1 &&
	     EVP_DigestVerify(md, sig, slen, tbs, tlen) == 1;
	ERR_clear_error();
	EVP_MD_CTX_free(md);
	free(sig);
	free(tbs);
	if (ret)
		return nt_err_set(err, ret, "out of memory");
	if (!ok)
		return nt_err_set(err, -EINVAL,
				  "signature: the node CA did not sign these keys");
	return 0;
}

static int value_check(const cJSON *doc, const char *node,
		       const struct bundle *trust, time_t now,
		       struct bundle **out, struct nt_err *err)
{
	char named[CA_NODE_MAX + 1];
	STACK_OF(X509) *chain = NULL;
	struct ca_scope *scope = NULL;
	struct bundle *b = NULL;
	time_t not_after = 0;
	size_t i;
	int ret;

	ret = ca__doc_node(doc, named, "jwt keys", err);
	if (!ret && strcmp(named, node))
		ret = nt_err_set(err, -EINVAL,
				 "jwt keys: \"node\" is '%s', the key's '%s'",
				 named, node);
	if (!ret)
		ret = value_jwks(doc, trust->td, &b, err);
	if (!ret)
		ret = value_ca(doc, node, trust, now, &chain, &scope, &not_after,
			       err);
	if (!ret)
		ret = value_sig(doc, sk_X509_value(chain, 0), node, b, err);
	for (i = 0; !ret && i < b->jwt_count; i++)
		ret = bundle__bind_jwt_authority(b, b->jwt_authorities[i].kid,
						 scope, not_after, err);
	sk_X509_pop_free(chain, X509_free);
	ca_scope__free(scope);
	if (ret) {
		bundle__free(b);
		return ret;
	}
	*out = b;
	return 0;
}

int jwt_keys__parse(const char *json, size_t len, const char *node,
		    const struct bundle *trust, time_t now,
		    struct bundle **out, struct nt_err *err)
{
	cJSON *doc = NULL;
	int ret;

	if (!json || !node || !trust || !out)
		return nt_err_set(err, -EINVAL, "jwt keys: missing argument");
	ret = node_name__check(node, err);
	if (!ret)
		ret = ca__doc_open(json, len, JWT_KEYS_MAX_BYTES, value_keys,
				   "jwt keys", &doc, err);
	if (!ret)
		ret = value_check(doc, node, trust, now, out, err);
	cJSON_Delete(doc);
	return ret;
}
