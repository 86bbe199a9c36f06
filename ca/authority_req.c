// SPDX-License-Identifier: Apache-2.0
/*
 * Fleet mode's messages (docs/fleet.md): join token records, node CA
 * requests and the signer's answers, all JSON stored in etcd and so read
 * from the network. Parsing is strict (exact keys, exact types, bounded
 * sizes) and checks everything that needs no secret; who may ask for what
 * is the signer's decision (authority_sign.c).
 *
 * What a request's signature covers is not its JSON but a byte string
 * built from the parsed fields (ca__req_tbs), length-prefixed so no two
 * requests share one: no JSON canonicalisation to get wrong.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "ca/authority_int.h"

#define TOKEN_SECRET_BYTES	32
#define TOKEN_SALT		"nametag join token v1"
#define JSON_INT_MAX		((1LL << 53) - 1)
#define SIG_MAX			512

static const char *const request_keys[] = {
	"version", "node", "created", "auth", "csr", "node_ca", "signature",
	NULL
};
static const char *const answer_keys[] = {
	"version", "node", "request", "chain", "error", NULL
};
static const char *const record_keys[] = {
	"version", "node", "verifier", "expires", NULL
};

const char *ca__auth_name(enum ca_auth a)
{
	return a == CA_AUTH_JOIN_TOKEN ? "join-token" : "node-ca";
}

/* ---- small JSON readers -------------------------------------------------- */

static const cJSON *member(const cJSON *o, const char *key, const char *what,
			   struct nt_err *err)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);

	if (!it)
		nt_err_set(err, -EINVAL, "%s: missing key \"%s\"", what, key);
	return it;
}

int ca__json_int(const cJSON *o, const char *key, int64_t min, int64_t max,
		 int64_t *out, const char *what, struct nt_err *err)
{
	const cJSON *it = member(o, key, what, err);
	double d;

	if (!it)
		return -EINVAL;
	d = cJSON_IsNumber(it) ? it->valuedouble : (double)min - 1;
	if (!(d >= (double)min && d <= (double)max) || d != (double)(int64_t)d)
		return nt_err_set(err, -EINVAL,
				  "%s: key \"%s\" must be an integer from %lld to %lld",
				  what, key, (long long)min, (long long)max);
	*out = (int64_t)d;
	return 0;
}

const char *ca__json_str(const cJSON *o, const char *key, size_t max,
			 const char *what, struct nt_err *err)
{
	const cJSON *it = member(o, key, what, err);

	if (!it)
		return NULL;
	if (!cJSON_IsString(it) || strlen(it->valuestring) > max) {
		nt_err_set(err, -EINVAL,
			   "%s: \"%s\" must be a string of at most %zu bytes",
			   what, key, max);
		return NULL;
	}
	return it->valuestring;
}

/* Parses @json, refuses keys outside @keys and any version but 1. */
int ca__doc_open(const char *json, size_t len, size_t max,
		 const char *const *keys, const char *what, cJSON **out,
		 struct nt_err *err)
{
	int64_t version;
	int ret;

	if (len > max)
		return nt_err_set(err, -EFBIG, "%s: larger than %zu bytes",
				  what, max);
	ret = json__parse_strict(json, len, out, err);
	if (ret)
		return nt_err_prefix(err, ret, what);
	ret = json__only_keys(*out, keys, what, err);
	if (!ret)
		ret = ca__json_int(*out, "version", 0, JSON_INT_MAX, &version,
				   what, err);
	if (!ret && version != 1)
		ret = nt_err_set(err, -EPROTONOSUPPORT,
				 "%s: version %lld is not supported (expected 1)",
				 what, (long long)version);
	if (ret) {
		cJSON_Delete(*out);
		*out = NULL;
	}
	return ret;
}

int ca__doc_node(const cJSON *doc, char *node, const char *what,
		 struct nt_err *err)
{
	const char *s = ca__json_str(doc, "node", CA_NODE_MAX, what, err);
	int ret;

	if (!s)
		return -EINVAL;
	ret = node_name__check(s, err);
	if (ret)
		return nt_err_prefix(err, ret, what);
	strcpy(node, s);
	return 0;
}

static int doc_print(cJSON *doc, char **out, struct nt_err *err)
{
	*out = doc ? cJSON_PrintUnformatted(doc) : NULL;
	cJSON_Delete(doc);
	return *out ? 0 : nt_err_set(err, -ENOMEM, "out of memory");
}

/* ---- join tokens --------------------------------------------------------- */

static int token_secret(const char *token, unsigned char **secret,
			struct nt_err *err)
{
	size_t plen = strlen(JOIN_TOKEN_PREFIX), n = 0;
	unsigned char *buf = NULL;

	if (token && strlen(token) == JOIN_TOKEN_LEN &&
	    !strncmp(token, JOIN_TOKEN_PREFIX, plen) &&
	    !b64__decode(token + plen, JOIN_TOKEN_LEN - plen, true, &buf, &n)) {
		if (n == TOKEN_SECRET_BYTES) {
			*secret = buf;
			return 0;
		}
		OPENSSL_cleanse(buf, n);
		free(buf);
	}
	return nt_err_set(err, -EINVAL,
			  "not a join token (expected " JOIN_TOKEN_PREFIX
			  " and 43 base64url characters)");
}

/* HKDF-SHA256(secret, salt, info = node name) seeds an Ed25519 key: the
 * same token gives each node a different key, so a record cannot be moved
 * from one node's name to another's. */
int ca__token_key(const char *token, const char *node, EVP_PKEY **key,
		  struct nt_err *err)
{
	unsigned char *secret = NULL, seed[32];
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM p[5];
	int ret;

	ret = token_secret(token, &secret, err);
	if (ret)
		goto out;
	p[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
						(char *)"SHA256", 0);
	p[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, secret,
						 TOKEN_SECRET_BYTES);
	p[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
						 (char *)TOKEN_SALT,
						 strlen(TOKEN_SALT));
	p[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
						 (char *)node, strlen(node));
	p[4] = OSSL_PARAM_construct_end();
	if (!kctx || EVP_KDF_derive(kctx, seed, sizeof(seed), p) != 1 ||
	    !(*key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed,
						  sizeof(seed))))
		ret = nt_err_ssl(err, -EIO, "failed to derive the join token key");
out:
	OPENSSL_cleanse(seed, sizeof(seed));
	if (secret) {
		OPENSSL_cleanse(secret, TOKEN_SECRET_BYTES);
		free(secret);
	}
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	return ret;
}

static char *raw_pub_b64(EVP_PKEY *key)
{
	unsigned char pub[32];
	size_t n = sizeof(pub);

	if (EVP_PKEY_get_raw_public_key(key, pub, &n) != 1 || n != sizeof(pub))
		return NULL;
	return b64__encode(pub, n, true);
}

static int record_build(const char *node, EVP_PKEY *key, time_t expires,
			char **record, struct nt_err *err)
{
	cJSON *doc = cJSON_CreateObject();
	char *pub = raw_pub_b64(key);
	bool ok = doc && pub;

	ok = ok && cJSON_AddNumberToObject(doc, "version", 1);
	ok = ok && cJSON_AddStringToObject(doc, "node", node);
	ok = ok && cJSON_AddStringToObject(doc, "verifier", pub);
	ok = ok && cJSON_AddNumberToObject(doc, "expires", (double)expires);
	free(pub);
	if (!ok) {
		cJSON_Delete(doc);
		return nt_err_set(err, -ENOMEM, "out of memory");
	}
	return doc_print(doc, record, err);
}

int join_token__create(const char *node, int64_t ttl, time_t now,
		       char token[JOIN_TOKEN_LEN + 1], char **record,
		       struct nt_err *err)
{
	unsigned char secret[TOKEN_SECRET_BYTES];
	EVP_PKEY *key = NULL;
	char *s;
	int ret;

	ret = node_name__check(node, err);
	if (ret)
		return ret;
	if (ttl <= 0 || ttl > JOIN_TOKEN_TTL_MAX)
		return nt_err_set(err, -ERANGE,
				  "a join token lives 1 s to 7 days");
	if (RAND_priv_bytes(secret, sizeof(secret)) != 1)
		return nt_err_ssl(err, -EIO, "failed to draw a join token");
	s = b64__encode(secret, sizeof(secret), true);
	OPENSSL_cleanse(secret, sizeof(secret));
	if (!s)
		return nt_err_set(err, -ENOMEM, "out of memory");
	snprintf(token, JOIN_TOKEN_LEN + 1, JOIN_TOKEN_PREFIX "%s", s);
	OPENSSL_cleanse(s, strlen(s));
	free(s);
	ret = ca__token_key(token, node, &key, err);
	if (!ret)
		ret = record_build(node, key, now + (time_t)ttl, record, err);
	EVP_PKEY_free(key);
	if (ret)
		OPENSSL_cleanse(token, JOIN_TOKEN_LEN + 1);
	return ret;
}

/* The verifier of a stored record, once the record is checked against the
 * request's node and @now. */
int ca__record_verifier(const char *json, size_t len, const char *node,
			time_t now, EVP_PKEY **key, struct nt_err *err)
{
	unsigned char *pub = NULL;
	char rnode[CA_NODE_MAX + 1];
	const char *v;
	int64_t expires;
	cJSON *doc = NULL;
	size_t n = 0;
	int ret;

	ret = ca__doc_open(json, len, 4096, record_keys,
			   "join token record", &doc, err);
	if (ret)
		return ret;
	ret = ca__doc_node(doc, rnode, "join token record", err);
	if (!ret)
		ret = ca__json_int(doc, "expires", 0, JSON_INT_MAX, &expires,
				   "join token record", err);
	if (ret)
		goto out;
	if (strcmp(rnode, node)) {
		ret = nt_err_set(err, -EACCES,
				 "the join token was made for node '%s', not '%s'",
				 rnode, node);
		goto out;
	}
	if (expires <= now) {
		ret = nt_err_set(err, -EKEYEXPIRED, "the join token has expired");
		goto out;
	}
	v = ca__json_str(doc, "verifier", 64, "join token record", err);
	if (!v || b64__decode(v, strlen(v), true, &pub, &n) || n != 32 ||
	    !(*key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, n)))
		ret = nt_err_set(err, -EINVAL,
				 "join token record: \"verifier\" is not an Ed25519 key");
out:
	free(pub);
	cJSON_Delete(doc);
	return ret;
}

/* ---- what a request's signature covers ----------------------------------- */

static int put_bytes(FILE *f, const void *p, size_t n)
{
	unsigned char be[4] = { n >> 24, n >> 16, n >> 8, n };

	return fwrite(be, 1, 4, f) == 4 && fwrite(p, 1, n, f) == n ? 0 : -EIO;
}

int ca__req_tbs(const char *node, int64_t created, enum ca_auth auth,
		X509_REQ *csr, unsigned char **tbs, size_t *len,
		struct nt_err *err)
{
	unsigned char be[8], *der = NULL;
	const char *an = ca__auth_name(auth);
	int dlen = i2d_X509_REQ(csr, &der), i, ret;
	char *buf = NULL;
	size_t n = 0;
	FILE *f;

	if (dlen <= 0)
		return nt_err_ssl(err, -EIO, "failed to encode the CSR");
	for (i = 0; i < 8; i++)
		be[i] = (unsigned char)((uint64_t)created >> (56 - 8 * i));
	f = open_memstream(&buf, &n);
	ret = f ? 0 : -ENOMEM;
	if (!ret && fwrite(CA_REQ_CONTEXT, 1, sizeof(CA_REQ_CONTEXT), f) !=
			    sizeof(CA_REQ_CONTEXT))
		ret = -EIO;
	if (!ret)
		ret = put_bytes(f, node, strlen(node));
	if (!ret && fwrite(be, 1, 8, f) != 8)
		ret = -EIO;
	if (!ret)
		ret = put_bytes(f, an, strlen(an));
	if (!ret)
		ret = put_bytes(f, der, (size_t)dlen);
	if (f && fclose(f) && !ret)
		ret = -EIO;
	OPENSSL_free(der);
	if (ret) {
		free(buf);
		return nt_err_set(err, ret, "failed to build the signed bytes");
	}
	*tbs = (unsigned char *)buf;
	*len = n;
	return 0;
}

int ca__req_id(const unsigned char *tbs, size_t len, char id[65])
{
	unsigned char md[32];
	int i;

	if (!EVP_Digest(tbs, len, md, NULL, EVP_sha256(), NULL))
		return -EIO;
	for (i = 0; i < 32; i++)
		snprintf(id + 2 * i, 3, "%02x", md[i]);
	return 0;
}

/* ---- requests ------------------------------------------------------------ */

void ca_request__free(struct ca_request *r)
{
	if (!r)
		return;
	X509_REQ_free(r->csr);
	ca_scope__free(r->scope);
	sk_X509_pop_free(r->node_ca, X509_free);
	free(r->tbs);
	free(r->sig);
	free(r);
}

static int read_csr(const char *pem, X509_REQ **out, struct nt_err *err)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	char *name = NULL, *header = NULL;
	unsigned char *data = NULL;
	const unsigned char *p;
	long dlen = 0;
	int ret = 0;

	if (!bio)
		return nt_err_set(err, -ENOMEM, "out of memory");
	if (!PEM_read_bio(bio, &name, &header, &data, &dlen) ||
	    strcmp(name, "CERTIFICATE REQUEST")) {
		ret = nt_err_set(err, -EINVAL,
				 "request: \"csr\" is not one PEM CERTIFICATE REQUEST");
		goto out;
	}
	p = data;
	*out = d2i_X509_REQ(NULL, &p, dlen);
	if (!*out || p != data + dlen) {
		X509_REQ_free(*out);
		*out = NULL;
		ret = nt_err_set(err, -EINVAL, "request: \"csr\" is not DER");
	}
out:
	ERR_clear_error();
	OPENSSL_free(name);
	OPENSSL_free(header);
	OPENSSL_free(data);
	BIO_free(bio);
	return ret;
}

/* The CSR's subject: O=nametag, OU=<node>, nothing else. */
static int csr_subject(X509_REQ *csr, const char *node, struct nt_err *err)
{
	const X509_NAME *n = X509_REQ_get_subject_name(csr);
	char ou[CA_NODE_MAX + 2] = "";

	if (X509_NAME_entry_count(n) != 2 ||
	    X509_NAME_get_text_by_NID((X509_NAME *)n, NID_organizationalUnitName,
				      ou, sizeof(ou)) < 0 ||
	    strcmp(ou, node))
		return nt_err_set(err, -EINVAL,
				  "request: the CSR's subject must be O=nametag, OU=%s",
				  node);
	return 0;
}

/* The requested extensions: a URI SAN spiffe://TD and the scope. */
static int csr_extensions(struct ca_request *r, struct nt_err *err)
{
	STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(r->csr);
	X509 *tmp = X509_new();
	struct spiffe_id id;
	int i, ret = 0;

	for (i = 0; tmp && i < sk_X509_EXTENSION_num(exts); i++)
		if (!X509_add_ext(tmp, sk_X509_EXTENSION_value(exts, i), -1))
			ret = -ENOMEM;
	if (!tmp || ret) {
		ret = nt_err_ssl(err, -ENOMEM, "out of memory");
		goto out;
	}
	/* The same readers as for certificates, on a scratch certificate. */
	ret = x509__spiffe_id(tmp, &id, err);
	if (!ret && spiffe_id__path_len(&id))
		ret = nt_err_set(err, -EINVAL, "the CA's ID %s has a path", id.str);
	if (ret) {
		nt_err_prefix(err, -EINVAL, "request: CSR subjectAltName");
		goto out;
	}
	strcpy(r->td, id.td);
	ret = ca_scope__from_cert(tmp, &r->scope, err);
	if (ret == -ENOENT)
		ret = nt_err_set(err, -EINVAL, "request: the CSR has no scope");
	else if (ret)
		nt_err_prefix(err, ret, "request: CSR scope");
	else if (strcmp(r->scope->node, r->node))
		ret = nt_err_set(err, -EINVAL,
				 "request: the scope names node '%s', the request '%s'",
				 r->scope->node, r->node);
	else if (strcmp(r->scope->prefix[0].td, r->td))
		ret = nt_err_set(err, -EINVAL,
				 "request: scope and CA ID are of different trust domains");
out:
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_free(tmp);
	return ret;
}

/* Proof of possession: the CSR is signed by its own P-256 key. */
static int csr_check(struct ca_request *r, struct nt_err *err)
{
	EVP_PKEY *pub = X509_REQ_get0_pubkey(r->csr);
	int ret;

	if (!pub || !EVP_PKEY_is_a(pub, "EC") || EVP_PKEY_get_bits(pub) != 256)
		return nt_err_set(err, -EINVAL,
				  "request: the CSR key must be ECDSA P-256");
	if (X509_REQ_verify(r->csr, pub) != 1) {
		ERR_clear_error();
		return nt_err_set(err, -EINVAL,
				  "request: the CSR's signature does not verify");
	}
	ret = csr_subject(r->csr, r->node, err);
	if (!ret)
		ret = csr_extensions(r, err);
	return ret;
}

static int req_fields(struct ca_request *r, const cJSON *doc,
		      struct nt_err *err)
{
	const char *auth, *csr, *sig, *chain;
	int ret;

	ret = ca__doc_node(doc, r->node, "request", err);
	if (!ret)
		ret = ca__json_int(doc, "created", 0, JSON_INT_MAX, &r->created,
				   "request", err);
	if (ret)
		return ret;
	auth = ca__json_str(doc, "auth", 16, "request", err);
	csr = ca__json_str(doc, "csr", 16384, "request", err);
	sig = ca__json_str(doc, "signature", SIG_MAX, "request", err);
	if (!auth || !csr || !sig)
		return -EINVAL;
	if (!strcmp(auth, "join-token"))
		r->auth = CA_AUTH_JOIN_TOKEN;
	else if (!strcmp(auth, "node-ca"))
		r->auth = CA_AUTH_NODE_CA;
	else
		return nt_err_set(err, -EINVAL,
				  "request: \"auth\" must be \"join-token\" or \"node-ca\"");
	if (b64__decode(sig, strlen(sig), false, &r->sig, &r->sig_len))
		return nt_err_set(err, -EINVAL,
				  "request: \"signature\" is not base64");
	chain = cJSON_GetObjectItemCaseSensitive(doc, "node_ca") ?
		ca__json_str(doc, "node_ca", 32768, "request", err) : NULL;
	if ((r->auth == CA_AUTH_NODE_CA) != (chain != NULL))
		return nt_err_set(err, -EINVAL,
				  "request: \"node_ca\" goes with auth \"node-ca\", and only there");
	if (chain) {
		ret = pem__read_certs(chain, strlen(chain), &r->node_ca, err);
		if (!ret && sk_X509_num(r->node_ca) > CA_CHAIN_MAX + 1)
			ret = nt_err_set(err, -E2BIG, "node_ca: chain too long");
		if (ret)
			return nt_err_prefix(err, ret, "request: \"node_ca\"");
	}
	return read_csr(csr, &r->csr, err);
}

int ca_request__parse(const char *json, size_t len, struct ca_request **out,
		      struct nt_err *err)
{
	struct ca_request *r = calloc(1, sizeof(*r));
	cJSON *doc = NULL;
	int ret;

	if (!r)
		return nt_err_set(err, -ENOMEM, "out of memory");
	ret = ca__doc_open(json, len, CA_REQUEST_MAX_BYTES, request_keys,
			   "request", &doc, err);
	if (!ret)
		ret = req_fields(r, doc, err);
	if (!ret)
		ret = csr_check(r, err);
	if (!ret)
		ret = ca__req_tbs(r->node, r->created, r->auth, r->csr, &r->tbs,
				  &r->tbs_len, err);
	if (!ret && ca__req_id(r->tbs, r->tbs_len, r->id))
		ret = nt_err_set(err, -EIO, "failed to hash the request");
	cJSON_Delete(doc);
	if (ret) {
		ca_request__free(r);
		return ret;
	}
	*out = r;
	return 0;
}

/* ---- answers ------------------------------------------------------------- */

static int answer_doc(const char *node, const char *request, cJSON **out,
		      struct nt_err *err)
{
	cJSON *doc = cJSON_CreateObject();
	bool ok = doc != NULL;

	ok = ok && cJSON_AddNumberToObject(doc, "version", 1);
	ok = ok && cJSON_AddStringToObject(doc, "node", node);
	ok = ok && cJSON_AddStringToObject(doc, "request", request);
	if (!ok) {
		cJSON_Delete(doc);
		return nt_err_set(err, -ENOMEM, "out of memory");
	}
	*out = doc;
	return 0;
}

int ca__answer_build(const struct ca_request *r, const char *chain_pem,
		     const char *why, char **answer, struct nt_err *err)
{
	cJSON *doc = NULL;
	int ret;

	ret = answer_doc(r->node, r->id, &doc, err);
	if (ret)
		return ret;
	if (!cJSON_AddStringToObject(doc, chain_pem ? "chain" : "error",
				     chain_pem ? chain_pem : why)) {
		cJSON_Delete(doc);
		return nt_err_set(err, -ENOMEM, "out of memory");
	}
	return doc_print(doc, answer, err);
}

int ca_answer__refusal(const struct ca_request *r, const char *why,
		       char **answer, struct nt_err *err)
{
	char msg[256];

	snprintf(msg, sizeof(msg), "%s", why ? why : "refused");
	return ca__answer_build(r, NULL, msg, answer, err);
}

void ca_answer__free(struct ca_answer *a)
{
	if (!a)
		return;
	sk_X509_pop_free(a->chain, X509_free);
	free(a);
}

static int answer_fields(struct ca_answer *a, const cJSON *doc,
			 struct nt_err *err)
{
	const char *req, *chain, *why;
	bool has_chain = cJSON_GetObjectItemCaseSensitive(doc, "chain");
	int ret;

	ret = ca__doc_node(doc, a->node, "answer", err);
	if (ret)
		return ret;
	req = ca__json_str(doc, "request", 64, "answer", err);
	if (!req)
		return -EINVAL;
	if (strlen(req) != 64 || strspn(req, "0123456789abcdef") != 64)
		return nt_err_set(err, -EINVAL,
				  "answer: \"request\" is not a hex SHA-256");
	strcpy(a->request, req);
	if (has_chain == !!cJSON_GetObjectItemCaseSensitive(doc, "error"))
		return nt_err_set(err, -EINVAL,
				  "answer: exactly one of \"chain\" and \"error\"");
	if (!has_chain) {
		why = ca__json_str(doc, "error", sizeof(a->error) - 1, "answer",
				   err);
		if (!why)
			return -EINVAL;
		strcpy(a->error, why);
		return 0;
	}
	chain = ca__json_str(doc, "chain", 32768, "answer", err);
	if (!chain)
		return -EINVAL;
	ret = pem__read_certs(chain, strlen(chain), &a->chain, err);
	if (!ret && sk_X509_num(a->chain) < 2)
		ret = nt_err_set(err, -EINVAL,
				 "the chain must hold the node CA and its root");
	if (!ret && sk_X509_num(a->chain) > CA_CHAIN_MAX + 1)
		ret = nt_err_set(err, -E2BIG, "chain too long");
	return ret ? nt_err_prefix(err, ret, "answer: \"chain\"") : 0;
}

int ca_answer__parse(const char *json, size_t len, struct ca_answer **out,
		     struct nt_err *err)
{
	struct ca_answer *a = calloc(1, sizeof(*a));
	cJSON *doc = NULL;
	int ret;

	if (!a)
		return nt_err_set(err, -ENOMEM, "out of memory");
	ret = ca__doc_open(json, len, CA_ANSWER_MAX_BYTES, answer_keys,
			   "answer", &doc, err);
	if (!ret)
		ret = answer_fields(a, doc, err);
	cJSON_Delete(doc);
	if (ret) {
		ca_answer__free(a);
		return ret;
	}
	*out = a;
	return 0;
}
