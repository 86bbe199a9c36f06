// SPDX-License-Identifier: Apache-2.0
/*
 * The signer (`nametag ca signer`, docs/fleet.md): the only place that
 * holds the upstream key. It turns a node's request into a node CA
 * certificate when the request is authentic (join token or current node
 * CA), fresh, for this trust domain, and asks for no more than the operator
 * granted the node.
 *
 * Every refusal is -EACCES (or -ESTALE for an old request) with a sentence
 * the node can show: the caller writes it back with ca_answer__refusal.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "ca/authority_int.h"

#define REQUEST_MAX_AGE		(24 * 3600)
#define REQUEST_FUTURE		300	/* seconds of clock skew tolerated */

struct ca_signer {
	char td[SPIFFE_TD_MAX + 1];
	struct ca_upstream up;
	STACK_OF(X509) *root;		/* borrowed from up.certs */
};

void ca_signer__close(struct ca_signer *s)
{
	if (!s)
		return;
	ca__upstream_free(&s->up);
	sk_X509_free(s->root);
	free(s);
}

int ca_signer__open(struct ca_signer **out, const char *td,
		    const char *cert_path, const char *key_path, time_t now,
		    struct nt_err *err)
{
	struct ca_signer *s;
	int ret;

	if (!td)
		return nt_err_set(err, -EINVAL, "signer: no trust domain");
	ret = spiffe_td__check(td, strlen(td), err);
	if (ret)
		return ret;
	s = calloc(1, sizeof(*s));
	if (!s)
		return nt_err_set(err, -ENOMEM, "out of memory");
	strcpy(s->td, td);
	ret = ca__upstream_load(cert_path, key_path, now, &s->up, err);
	if (ret) {
		free(s);
		return ret;
	}
	s->root = sk_X509_new_null();
	if (!s->root || !sk_X509_push(s->root, sk_X509_value(s->up.certs,
					     sk_X509_num(s->up.certs) - 1))) {
		ca_signer__close(s);
		return nt_err_set(err, -ENOMEM, "out of memory");
	}
	*out = s;
	return 0;
}

int ca_signer__bundle(const struct ca_signer *s, struct bundle **out,
		      struct nt_err *err)
{
	int ret = bundle__new(out, s->td, err);

	if (!ret && bundle__add_authority(*out, sk_X509_value(s->root, 0), err) < 0) {
		bundle__free(*out);
		*out = NULL;
		ret = -ENOMEM;
	}
	return ret;
}

static int sig_verify(EVP_PKEY *key, const struct ca_request *r, bool ed,
		      struct nt_err *err)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int ok;

	ok = md && EVP_DigestVerifyInit(md, NULL, ed ? NULL : EVP_sha256(),
					NULL, key) == 1 &&
	     EVP_DigestVerify(md, r->sig, r->sig_len, r->tbs, r->tbs_len) == 1;
	EVP_MD_CTX_free(md);
	ERR_clear_error();
	if (!ok)
		return nt_err_set(err, -EACCES,
				  "the request's %s signature does not verify",
				  ca__auth_name(r->auth));
	return 0;
}

static int auth_token(const struct ca_request *r, const struct ca_sign_opts *o,
		      struct nt_err *err)
{
	EVP_PKEY *vk = NULL;
	int ret;

	if (!o->join_record)
		return nt_err_set(err, -EACCES,
				  "no join token is outstanding for node '%s' (used, expired or never made)",
				  r->node);
	ret = ca__record_verifier(o->join_record, o->join_record_len, r->node,
				  o->now, &vk, err);
	/* A malformed record stays -EINVAL: the fleet's data is broken,
	 * not the node's request. Expired or another node's: refused. */
	if (ret)
		return ret == -EINVAL ? ret : -EACCES;
	ret = sig_verify(vk, r, true, err);
	EVP_PKEY_free(vk);
	return ret;
}

/* The presented node CA must be one we issued to this node, valid now
 * and, when the caller knows it, the latest one. */
static int auth_node_ca(struct ca_signer *s, const struct ca_request *r,
			const struct ca_sign_opts *o, struct nt_err *err)
{
	X509 *cur = sk_X509_value(r->node_ca, 0);
	struct ca_scope *scope = NULL;
	char serial[CA_SERIAL_HEX_MAX + 1];
	int ret;

	ret = ca__chain_verify(r->node_ca, s->root, o->now, err);
	if (ret)
		return nt_err_prefix(err, -EACCES, "the presented node CA");
	ret = ca_scope__from_cert(cur, &scope, err);
	if (ret || strcmp(scope->node, r->node)) {
		ca_scope__free(scope);
		return nt_err_set(err, -EACCES,
				  "the presented node CA was not issued to node '%s'",
				  r->node);
	}
	ca_scope__free(scope);
	if (x509__serial_hex(cur, serial, sizeof(serial)))
		return nt_err_set(err, -EIO, "failed to read a serial");
	if (o->current_serial && strcmp(serial, o->current_serial))
		return nt_err_set(err, -EACCES,
				  "signed by node CA %s, but the current node CA of '%s' is %s",
				  serial, r->node, o->current_serial);
	return sig_verify(X509_get0_pubkey(cur), r, false, err);
}

static int check_request(struct ca_signer *s, const struct ca_request *r,
			 const struct ca_sign_opts *o, struct nt_err *err)
{
	int64_t max_age = o->max_age ? o->max_age : REQUEST_MAX_AGE;
	size_t i;

	if (strcmp(r->td, s->td))
		return nt_err_set(err, -EACCES,
				  "the request is for trust domain '%s', this signer serves '%s'",
				  r->td, s->td);
	if (r->created > o->now + REQUEST_FUTURE ||
	    o->now - r->created > max_age)
		return nt_err_set(err, -ESTALE,
				  "the request was made at %lld, too far from now (%lld)",
				  (long long)r->created, (long long)o->now);
	if (!o->grant || strcmp(o->grant->node, r->node))
		return nt_err_set(err, -EACCES,
				  "node '%s' has been granted no scope", r->node);
	for (i = 0; i < r->scope->n; i++)
		if (!ca_scope__covers(o->grant, &r->scope->prefix[i]))
			return nt_err_set(err, -EACCES,
					  "node '%s' asks for %s, outside what it was granted",
					  r->node, r->scope->prefix[i].str);
	return r->auth == CA_AUTH_JOIN_TOKEN ? auth_token(r, o, err) :
					       auth_node_ca(s, r, o, err);
}

static int chain_pem(X509 *x, const struct ca_upstream *up, char **pem,
		     struct nt_err *err)
{
	X509 *certs[CA_CHAIN_MAX + 1];
	int i, n = sk_X509_num(up->certs);
	size_t len = 0;

	certs[0] = x;
	for (i = 0; i < n && i < CA_CHAIN_MAX; i++)
		certs[i + 1] = sk_X509_value(up->certs, i);
	return pem__write_certs(certs, (size_t)i + 1, pem, &len, err);
}

int ca_signer__sign(struct ca_signer *s, const struct ca_request *r,
		    const struct ca_sign_opts *o, char **answer,
		    struct ca_issued *issued, struct nt_err *err)
{
	int64_t ttl = o->ca_ttl ? o->ca_ttl : CA_TTL_DEFAULT;
	struct ca_cert_params p = {
		.td = s->td, .pubkey = X509_REQ_get0_pubkey(r->csr),
		.issuer = sk_X509_value(s->up.certs, 0),
		.signing_key = s->up.key, .scope = r->scope,
		.not_before = o->now - CA_BACKDATE,
	};
	char serial[CA_SERIAL_HEX_MAX + 1], *pem = NULL;
	X509 *x = NULL;
	int ret;

	if (ttl <= 0 || ttl > CA_TTL_MAX)
		return nt_err_set(err, -ERANGE, "ca ttl out of range");
	ret = check_request(s, r, o, err);
	if (ret)
		return ret;
	/* Never past the upstream chain: a chain is valid while all of it is. */
	p.not_after = o->now + (time_t)ttl;
	if (p.not_after > s->up.not_after)
		p.not_after = s->up.not_after;
	if (p.not_after <= o->now)
		return nt_err_set(err, -EKEYEXPIRED,
				  "the upstream certificate has expired");
	ret = ca__cert_build(&p, serial, &x, err);
	if (!ret)
		ret = chain_pem(x, &s->up, &pem, err);
	if (!ret)
		ret = ca__answer_build(r, pem, NULL, answer, err);
	if (!ret && issued) {
		strcpy(issued->serial, serial);
		issued->not_after = p.not_after;
	}
	free(pem);
	X509_free(x);
	return ret;
}
