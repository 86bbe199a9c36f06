// SPDX-License-Identifier: Apache-2.0
/*
 * The node's side of fleet mode (docs/fleet.md): asking the signer for a
 * node CA and taking its answer.
 *
 * node_ca__request keeps the new key as STATE/ca/pending.key and what was
 * asked in STATE/ca/pending.json; node_ca__accept turns an answer that
 * matches them into a CA generation, through the same commit as rotation
 * (authority.c), so the state dir is never half-changed. The key never
 * leaves the node; only its CSR does.
 *
 * A request replaced by a new one (a scope change after a minute without
 * an answer) is kept as pending.prev.*, and an answer to it is taken too:
 * a signer coming back may answer it before it sees the new one, and
 * would then refuse the new one, signed by a CA no longer the node's last
 * issued (docs/fleet.md "Renewal").
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "ca/authority_int.h"

#define PENDING_MAX_BYTES	4096

static const char *const pending_keys[] = {
	"version", "request", "node", "trust_domain", "ca_ttl", "svid_ttl",
	NULL
};

/* What a request needs from the state dir and the options. */
struct req_ctx {
	const struct ca_fleet_opts *o;
	char td[SPIFFE_TD_MAX + 1];
	int64_t ca_ttl, svid_ttl;
	struct node_ca *ca;		/* the current CA, when signing with it */
	struct ca_scope *scope;
	EVP_PKEY *key;			/* the new CA key */
	X509_REQ *csr;
	unsigned char *tbs;
	size_t tbs_len;
	char id[65];
	char *sig_b64;
};

static void req_ctx_free(struct req_ctx *c)
{
	node_ca__close(c->ca);
	ca_scope__free(c->scope);
	EVP_PKEY_free(c->key);
	X509_REQ_free(c->csr);
	free(c->tbs);
	free(c->sig_b64);
}

/* Loads the CA of @dir under the caller's lock; -ENOENT when there is none. */
static int load_locked(const char *dir, struct node_ca **out,
		       struct nt_err *err)
{
	char *raw = NULL;
	size_t len = 0;
	int ret;

	ret = ca__index_read(dir, &raw, &len, err);
	if (!ret)
		ret = ca__load(dir, raw, len, out, err);
	free(raw);
	return ret;
}

static int check_fleet_ca(const struct node_ca *ca, const char *node,
			  struct nt_err *err)
{
	if (!ca->node)
		return nt_err_set(err, -EINVAL,
				  "the CA in %s is not a fleet node CA", ca->dir);
	if (strcmp(ca->node, node))
		return nt_err_set(err, -EINVAL,
				  "the CA in %s belongs to node '%s', not '%s'",
				  ca->dir, ca->node, node);
	return 0;
}

/* Trust domain and ttls: the CA's own when there is one. */
static int req_context(struct req_ctx *c, const char *dir,
		       struct nt_err *err)
{
	const struct ca_fleet_opts *o = c->o;
	int ret;

	ret = load_locked(dir, &c->ca, err);
	if (ret == -ENOENT) {
		c->ca = NULL;
		if (!o->join_token)
			return nt_err_set(err, -ENOKEY,
					  "no node CA in %s yet: the first request needs a join token",
					  dir);
		if (!o->trust_domain)
			return nt_err_set(err, -EINVAL, "no trust domain given");
		ret = spiffe_td__check(o->trust_domain, strlen(o->trust_domain),
				       err);
		if (ret)
			return ret;
		strcpy(c->td, o->trust_domain);
		c->ca_ttl = o->ca_ttl ? o->ca_ttl : CA_TTL_DEFAULT;
		c->svid_ttl = o->svid_ttl ? o->svid_ttl : SVID_TTL_DEFAULT;
		if (c->ca_ttl > CA_TTL_MAX || c->ca_ttl < 2 * c->svid_ttl ||
		    c->svid_ttl <= 0)
			return nt_err_set(err, -EINVAL,
					  "ca ttl must be at least twice the svid ttl, and at most 10 years");
		return 0;
	}
	if (ret)
		return ret;
	ret = check_fleet_ca(c->ca, o->node, err);
	if (ret)
		return ret;
	if (o->trust_domain && strcmp(o->trust_domain, c->ca->td))
		return nt_err_set(err, -EINVAL,
				  "the CA in %s is for trust domain '%s', not '%s'",
				  dir, c->ca->td, o->trust_domain);
	strcpy(c->td, c->ca->td);
	c->ca_ttl = c->ca->ca_ttl;
	c->svid_ttl = c->ca->svid_ttl;
	return 0;
}

/* The CSR: subject O=nametag, OU=<node>; requested extensions: the URI SAN
 * spiffe://TD and the scope, as the signer will copy neither. */
static int csr_build(struct req_ctx *c, struct nt_err *err)
{
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	char uri[SPIFFE_SCHEME_LEN + SPIFFE_TD_MAX + 1];
	X509_EXTENSION *scope = NULL;
	X509 *tmp = X509_new();
	X509_NAME *name;
	int ret;

	c->csr = X509_REQ_new();
	if (!exts || !tmp || !c->csr) {
		ret = nt_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	snprintf(uri, sizeof(uri), SPIFFE_SCHEME "%s", c->td);
	/* The SAN is built on a scratch certificate by the one SAN writer. */
	ret = x509__add_uri_san(tmp, uri, strlen(uri), err);
	if (!ret)
		ret = ca__scope_ext(c->scope, &scope, err);
	if (ret)
		goto out;
	name = X509_REQ_get_subject_name(c->csr);
	if (!X509_REQ_set_version(c->csr, 0) ||
	    !X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
					(const unsigned char *)"nametag", -1, -1, 0) ||
	    !X509_NAME_add_entry_by_txt(name, "OU", MBSTRING_ASC,
					(const unsigned char *)c->o->node, -1, -1, 0) ||
	    !X509_REQ_set_pubkey(c->csr, c->key) ||
	    !sk_X509_EXTENSION_push(exts, X509_get_ext(tmp, 0)) ||
	    !sk_X509_EXTENSION_push(exts, scope) ||
	    !X509_REQ_add_extensions(c->csr, exts) ||
	    !X509_REQ_sign(c->csr, c->key, EVP_sha256()))
		ret = nt_err_ssl(err, -EIO, "failed to build the CSR");
out:
	sk_X509_EXTENSION_free(exts);	/* borrowed entries */
	X509_EXTENSION_free(scope);
	X509_free(tmp);
	return ret;
}

static int req_sign(struct req_ctx *c, struct nt_err *err)
{
	enum ca_auth auth = c->o->join_token ? CA_AUTH_JOIN_TOKEN :
					       CA_AUTH_NODE_CA;
	EVP_PKEY *sk = NULL, *tk = NULL;
	unsigned char sig[256];
	size_t slen = sizeof(sig);
	EVP_MD_CTX *md = NULL;
	int ret;

	ret = ca__req_tbs(c->o->node, c->o->now, auth, c->csr, &c->tbs,
			  &c->tbs_len, err);
	if (ret)
		return ret;
	if (ca__req_id(c->tbs, c->tbs_len, c->id))
		return nt_err_set(err, -EIO, "failed to hash the request");
	if (auth == CA_AUTH_JOIN_TOKEN) {
		ret = ca__token_key(c->o->join_token, c->o->node, &tk, err);
		sk = tk;
	} else {
		sk = c->ca->set.gen[0]->key;
	}
	if (ret)
		return ret;
	md = EVP_MD_CTX_new();
	if (!md || EVP_DigestSignInit(md, NULL, tk ? NULL : EVP_sha256(), NULL,
				      sk) != 1 ||
	    EVP_DigestSign(md, sig, &slen, c->tbs, c->tbs_len) != 1)
		ret = nt_err_ssl(err, -EIO, "failed to sign the request");
	else if (!(c->sig_b64 = b64__encode(sig, slen, false)))
		ret = nt_err_set(err, -ENOMEM, "out of memory");
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(tk);
	return ret;
}

static int pem_of_req(X509_REQ *csr, char **out)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data;
	long n;

	*out = NULL;
	if (bio && PEM_write_bio_X509_REQ(bio, csr) &&
	    (n = BIO_get_mem_data(bio, &data)) > 0 &&
	    (*out = malloc((size_t)n + 1))) {
		memcpy(*out, data, (size_t)n);
		(*out)[n] = '\0';
	}
	BIO_free(bio);
	return *out ? 0 : -ENOMEM;
}

static int req_json(struct req_ctx *c, char **out, size_t *len,
		    struct nt_err *err)
{
	cJSON *doc = cJSON_CreateObject();
	char *csr = NULL, *chain = NULL;
	struct ca_gen *cur = c->ca ? c->ca->set.gen[0] : NULL;
	X509 *certs[CA_CHAIN_MAX + 1];
	size_t clen = 0;
	int i, n;
	bool ok;

	ok = doc && !pem_of_req(c->csr, &csr);
	ok = ok && cJSON_AddNumberToObject(doc, "version", 1);
	ok = ok && cJSON_AddStringToObject(doc, "node", c->o->node);
	ok = ok && cJSON_AddNumberToObject(doc, "created", (double)c->o->now);
	ok = ok && cJSON_AddStringToObject(doc, "auth", c->o->join_token ?
					   "join-token" : "node-ca");
	ok = ok && cJSON_AddStringToObject(doc, "csr", csr);
	if (ok && !c->o->join_token) {
		n = sk_X509_num(cur->certs);
		for (i = 0; i < n && i <= CA_CHAIN_MAX; i++)
			certs[i] = sk_X509_value(cur->certs, i);
		ok = !pem__write_certs(certs, (size_t)i, &chain, &clen, err) &&
		     cJSON_AddStringToObject(doc, "node_ca", chain);
	}
	ok = ok && cJSON_AddStringToObject(doc, "signature", c->sig_b64);
	*out = ok ? cJSON_PrintUnformatted(doc) : NULL;
	cJSON_Delete(doc);
	free(csr);
	free(chain);
	if (!*out)
		return nt_err_set(err, -ENOMEM, "failed to build the request");
	*len = strlen(*out);
	return 0;
}

/* Removes the pending request's files, or the previous one's. */
static void pending_unlink(const char *dir, bool prev)
{
	char path[PATH_MAX];

	if (!ca__path(path, sizeof(path), dir,
		      prev ? STATE_CA_PREV_FILE : STATE_CA_PENDING_FILE, NULL))
		unlink(path);
	if (!ca__path(path, sizeof(path), dir,
		      prev ? STATE_CA_PREV_KEY : STATE_CA_PENDING_KEY, NULL))
		unlink(path);
}

/* The pending request, if any, becomes the previous one (replacing an
 * older previous one). Its JSON first: a crash in between leaves a
 * prev.json without its key, which is no previous request at all, and a
 * pending.key without JSON, which the new request overwrites. */
static int pending_keep_prev(const char *dir, struct nt_err *err)
{
	static const char *const moves[][2] = {
		{ STATE_CA_PENDING_FILE, STATE_CA_PREV_FILE },
		{ STATE_CA_PENDING_KEY, STATE_CA_PREV_KEY },
	};
	char from[PATH_MAX], to[PATH_MAX];
	size_t i;
	int ret;

	for (i = 0; i < 2; i++) {
		ret = ca__path(from, sizeof(from), dir, moves[i][0], err);
		if (!ret)
			ret = ca__path(to, sizeof(to), dir, moves[i][1], err);
		if (ret)
			return ret;
		if (!rename(from, to))
			continue;
		if (errno != ENOENT)
			return nt_err_set(err, -errno, "rename %s: %s", from,
					  strerror(errno));
		if (i == 0) {
			/* No request out: an older previous one is no
			 * longer one of the last two. */
			pending_unlink(dir, true);
			break;
		}
	}
	return 0;
}

static int pending_save(const char *dir, struct req_ctx *c,
			struct nt_err *err)
{
	char path[PATH_MAX], *pem = NULL, *json = NULL;
	cJSON *doc = cJSON_CreateObject();
	size_t len = 0;
	bool ok = doc != NULL;
	int ret;

	ok = ok && cJSON_AddNumberToObject(doc, "version", 1);
	ok = ok && cJSON_AddStringToObject(doc, "request", c->id);
	ok = ok && cJSON_AddStringToObject(doc, "node", c->o->node);
	ok = ok && cJSON_AddStringToObject(doc, "trust_domain", c->td);
	ok = ok && cJSON_AddNumberToObject(doc, "ca_ttl", (double)c->ca_ttl);
	ok = ok && cJSON_AddNumberToObject(doc, "svid_ttl", (double)c->svid_ttl);
	json = ok ? cJSON_Print(doc) : NULL;
	cJSON_Delete(doc);
	if (!json)
		return nt_err_set(err, -ENOMEM, "out of memory");
	ret = pending_keep_prev(dir, err);
	if (ret) {
		cJSON_free(json);
		return ret;
	}
	/* The key first: a pending.json always has its key. */
	ret = ca__path(path, sizeof(path), dir, STATE_CA_PENDING_KEY, err);
	if (!ret)
		ret = pem__write_key(c->key, &pem, &len, err);
	if (!ret) {
		ret = state__write(path, pem, len, 0600, err);
		state__free_secret(pem, len);
	}
	if (!ret)
		ret = ca__path(path, sizeof(path), dir, STATE_CA_PENDING_FILE,
			       err);
	if (!ret)
		ret = state__write(path, json, strlen(json), 0600, err);
	cJSON_free(json);
	return ret;
}

int node_ca__request(const char *dir, const struct ca_fleet_opts *o,
		     char **request, size_t *len, struct nt_err *err)
{
	struct req_ctx c = { .o = o };
	int fd = -1, ret;

	if (!o || !dir)
		return nt_err_set(err, -EINVAL, "node ca request: missing argument");
	ret = node_name__check(o->node, err);
	if (!ret)
		ret = ca__dirs(dir, err);
	if (!ret)
		ret = ca__lock(dir, &fd, err);
	if (!ret)
		ret = req_context(&c, dir, err);
	if (!ret)
		ret = ca_scope__new(&c.scope, c.td, o->node, o->scope,
				    o->nscope, err);
	if (!ret)
		ret = key__generate(&c.key, err);
	if (!ret)
		ret = csr_build(&c, err);
	if (!ret)
		ret = req_sign(&c, err);
	if (!ret)
		ret = pending_save(dir, &c, err);
	if (!ret)
		ret = req_json(&c, request, len, err);
	ca__unlock(fd);
	req_ctx_free(&c);
	return ret;
}

/* ---- accepting the answer ------------------------------------------------ */

struct pending {
	char request[65];
	char node[CA_NODE_MAX + 1];
	char td[SPIFFE_TD_MAX + 1];
	int64_t ca_ttl, svid_ttl;
	EVP_PKEY *key;
};

static int pending_parse(struct pending *p, const char *raw, size_t len,
			 const char *file, struct nt_err *err)
{
	const char *req, *node, *td;
	cJSON *doc = NULL;
	int64_t v = 0;
	int ret;

	ret = json__parse_strict(raw, len, &doc, err);
	if (!ret)
		ret = json__only_keys(doc, pending_keys, "pending request", err);
	if (!ret)
		ret = ca__json_int(doc, "version", 1, 1, &v, file, err);
	if (!ret)
		ret = ca__json_int(doc, "ca_ttl", 2, CA_TTL_MAX, &p->ca_ttl,
				   file, err);
	if (!ret)
		ret = ca__json_int(doc, "svid_ttl", 1, p->ca_ttl / 2,
				   &p->svid_ttl, file, err);
	if (ret)
		goto out;
	req = ca__json_str(doc, "request", 64, file, err);
	node = ca__json_str(doc, "node", CA_NODE_MAX, file, err);
	td = ca__json_str(doc, "trust_domain", SPIFFE_TD_MAX, file, err);
	if (!req || !node || !td || node_name__check(node, NULL) ||
	    spiffe_td__check(td, strlen(td), NULL)) {
		ret = nt_err_set(err, -EINVAL, "%s: malformed", file);
		goto out;
	}
	strcpy(p->request, req);
	strcpy(p->node, node);
	strcpy(p->td, td);
out:
	cJSON_Delete(doc);
	return ret;
}

static int pending_load(const char *dir, bool prev, struct pending *p,
			struct nt_err *err)
{
	char path[PATH_MAX], *buf = NULL;
	size_t len = 0;
	int ret;

	ret = ca__path(path, sizeof(path), dir,
		       prev ? STATE_CA_PREV_FILE : STATE_CA_PENDING_FILE, err);
	if (!ret)
		ret = state__read(path, PENDING_MAX_BYTES, false, &buf, &len, err);
	if (ret == -ENOENT)
		return nt_err_set(err, -ENOENT, "no pending node CA request in %s",
				  dir);
	if (!ret)
		ret = pending_parse(p, buf, len, path, err);
	free(buf);
	if (!ret)
		ret = ca__path(path, sizeof(path), dir,
			       prev ? STATE_CA_PREV_KEY : STATE_CA_PENDING_KEY, err);
	if (!ret)
		ret = state__read(path, CA_KEY_MAX_BYTES, true, &buf, &len, err);
	if (ret)
		return ret;
	ret = pem__read_key(buf, len, &p->key, err);
	state__free_secret(buf, len);
	return ret ? nt_err_prefix(err, ret, path) : 0;
}

/* The answer's chain: for our key, node and trust domain, and verifying
 * against the trust domain's bundle. */
static int answer_check(const struct ca_answer *a, const struct pending *p,
			const struct bundle *trust, time_t now,
			struct nt_err *err)
{
	X509 *x = sk_X509_value(a->chain, 0);
	struct ca_scope *scope = NULL;
	struct spiffe_id id;
	int ret;

	if (EVP_PKEY_eq(p->key, X509_get0_pubkey(x)) != 1) {
		ERR_clear_error();
		return nt_err_set(err, -EINVAL,
				  "answer: the certificate is not for the pending key");
	}
	if (!trust || strcmp(trust->td, p->td))
		return nt_err_set(err, -ENOKEY, "no trust bundle for '%s'", p->td);
	ret = ca__chain_verify(a->chain, trust->x509_authorities, now, err);
	if (ret)
		return nt_err_prefix(err, ret, "answer");
	if (x509__spiffe_id(x, &id, err) || strcmp(id.td, p->td) ||
	    spiffe_id__path_len(&id) || X509_check_ca(x) != 1)
		return nt_err_set(err, -EINVAL,
				  "answer: not a CA certificate for spiffe://%s",
				  p->td);
	ret = ca_scope__from_cert(x, &scope, err);
	if (!ret && strcmp(scope->node, p->node))
		ret = nt_err_set(err, -EINVAL,
				 "answer: the scope names node '%s'", scope->node);
	else if (ret == -ENOENT)
		ret = nt_err_set(err, -EINVAL, "answer: the CA has no scope");
	ca_scope__free(scope);
	return ret;
}

/* Takes the chain and the key from @a and @p. */
static int gen_from_answer(struct ca_answer *a, struct pending *p,
			   struct ca_gen **out, struct nt_err *err)
{
	struct ca_gen *g = calloc(1, sizeof(*g));
	int ret;

	if (!g)
		return nt_err_set(err, -ENOMEM, "out of memory");
	g->certs = a->chain;
	a->chain = NULL;
	g->key = p->key;
	p->key = NULL;
	if (x509__serial_hex(ca_gen__cert(g), g->serial, sizeof(g->serial)) ||
	    ca__gen_finish(g)) {
		ca__gen_free(g);
		return nt_err_set(err, -EINVAL, "answer: unusable certificate");
	}
	/* Every generation signs JWT-SVIDs with a key of its own, made here
	 * on the node: the signer never sees it (docs/fleet.md). */
	ret = ca__jwt_create(g, err);
	if (ret) {
		ca__gen_free(g);
		return ret;
	}
	*out = g;
	return 0;
}

static int new_fleet_ca(const char *dir, const struct pending *p,
			struct node_ca **out, struct nt_err *err)
{
	struct node_ca *ca = calloc(1, sizeof(*ca));

	if (!ca)
		return nt_err_set(err, -ENOMEM, "out of memory");
	ca->dir = strdup(dir);
	ca->node = strdup(p->node);
	strcpy(ca->td, p->td);
	ca->ca_ttl = p->ca_ttl;
	ca->svid_ttl = p->svid_ttl;
	if (!ca->dir || !ca->node) {
		ca__free(ca);
		return nt_err_set(err, -ENOMEM, "out of memory");
	}
	*out = ca;
	return 0;
}

static int commit_gen(const char *dir, const struct pending *p,
		      struct ca_gen *g, time_t now, struct nt_err *err)
{
	struct node_ca *ca = NULL;
	struct ca_set set = { .n = 0 };
	int ret;

	ret = load_locked(dir, &ca, err);
	if (ret == -ENOENT) {
		ret = new_fleet_ca(dir, p, &ca, err);
		if (!ret) {
			ca__set_push(&set, g, CA_SLOT_CURRENT);
			ret = ca__commit(ca, &set, err);
		}
	} else if (!ret) {
		ret = check_fleet_ca(ca, p->node, err);
		if (!ret)
			ret = ca__activate_fresh(ca, g, now, err);
	}
	/* On success the CA's set owns @g and frees it with @ca; on failure
	 * @g is in no set and the caller frees it. */
	ca__free(ca);
	return ret;
}

static bool answers(const struct ca_answer *a, const struct pending *p)
{
	return !strcmp(a->request, p->request) && !strcmp(a->node, p->node);
}

/* @a is not for the pending request @p: if it signs the previous one, @p
 * becomes that; -ESTALE otherwise, and for the previous one's refusal
 * (the pending one still waits for its own answer). */
static int previous_answered(const char *dir, const struct ca_answer *a,
			     struct pending *p, struct nt_err *err)
{
	struct pending prev = { .key = NULL };

	if (pending_load(dir, true, &prev, NULL) || !answers(a, &prev) ||
	    !a->chain) {
		EVP_PKEY_free(prev.key);
		return nt_err_set(err, -ESTALE,
				  "the answer is for request %.12s of node '%s', the pending one is %.12s of '%s'",
				  a->request, a->node, p->request, p->node);
	}
	EVP_PKEY_free(p->key);
	*p = prev;
	return 0;
}

int node_ca__accept(const char *dir, const char *answer, size_t len,
		    const struct bundle *trust, time_t now, struct nt_err *err)
{
	struct pending p = { .key = NULL };
	struct ca_answer *a = NULL;
	struct ca_gen *g = NULL;
	int fd = -1, ret;

	ret = ca_answer__parse(answer, len, &a, err);
	if (!ret)
		ret = ca__lock(dir, &fd, err);
	if (!ret)
		ret = pending_load(dir, false, &p, err);
	if (!ret && !answers(a, &p))
		ret = previous_answered(dir, a, &p, err);
	if (ret)
		goto out;
	if (!a->chain) {
		ret = nt_err_set(err, -EACCES, "the signer refused request %.12s: %s",
				 p.request, a->error);
		goto out;
	}
	ret = answer_check(a, &p, trust, now, err);
	if (!ret)
		ret = gen_from_answer(a, &p, &g, err);
	if (!ret)
		ret = ca__gen_save(dir, g, err);
	if (!ret) {
		ret = commit_gen(dir, &p, g, now, err);
		if (ret)
			ca__gen_unlink(dir, g, true);
		else
			g = NULL;	/* the committed set owns it, now freed */
	}
	if (!ret) {
		pending_unlink(dir, false);
		pending_unlink(dir, true);
	}
out:
	ca__gen_free(g);
	ca__unlock(fd);
	EVP_PKEY_free(p.key);
	ca_answer__free(a);
	return ret;
}
