/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal to the node CA: authority.c (open, mint, rotate), authority_init.c
 * (init), authority_state.c (files) and authority_cert.c (certificates).
 * Not part of the library's interface: ca/ca.h is.
 *
 * The CA is a list of generations. Each generation is one CA certificate and
 * its key, stored as STATE/ca/<serial>.crt and STATE/ca/<serial>.key; the
 * index STATE/ca/ca.json says which generation is current, which is next and
 * which are retired (docs/state-dir.md, docs/ca.md).
 */
#ifndef NAMETAG_CA_AUTHORITY_INT_H
#define NAMETAG_CA_AUTHORITY_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "ca/ca.h"

#define CA_INDEX_VERSION	2	/* 2: generations carry JWT keys */
#define CA_SERIAL_HEX_MAX	40		/* RFC 5280: at most 20 octets */
#define CA_RETIRED_MAX		32
#define CA_GEN_MAX		(2 + CA_RETIRED_MAX)
#define CA_BACKDATE		SVID_BACKDATE
#define CA_TTL_MAX		(10LL * 365 * 24 * 3600)	/* as durations */
#define CA_INDEX_MAX_BYTES	(64u << 10)
#define CA_CERT_MAX_BYTES	(1u << 20)
#define CA_KEY_MAX_BYTES	(64u << 10)
#define CA_CHAIN_MAX		8		/* certs in an upstream file */
/* SPIRE's thresholds: prepare the next CA at half the current one's life,
 * activate it at 5/6, with the same caps for very long-lived CAs. */
#define CA_PREPARE_CAP		(30LL * 24 * 3600)
#define CA_ACTIVATE_CAP		(7LL * 24 * 3600)

struct ca_gen {
	char serial[CA_SERIAL_HEX_MAX + 1];
	/* [0] is this generation's CA certificate. In upstream mode the
	 * upstream chain it was signed under follows, root last. */
	STACK_OF(X509) *certs;
	/* Up-refs of the certs strictly between [0] and the root: the
	 * signer's chain. Empty when self-signed or signed by the root. */
	STACK_OF(X509) *above;
	EVP_PKEY *key;			/* NULL once retired */
	time_t not_before, not_after;	/* of certs[0] */
	/* The generation's JWT-SVID signing key (authority_jwt.c): made,
	 * published, activated and retired with the CA. jwt_pub is NULL only
	 * for a generation retired before version 2 of the index. */
	EVP_PKEY *jwt_pub;		/* public part, kept while published */
	EVP_PKEY *jwt_key;		/* private; NULL once retired */
	char jwt_kid[JWT_KID_LEN + 1];	/* RFC 7638 thumbprint of jwt_pub */
	struct ca_scope *scope;		/* fleet mode: of certs[0] */
};

static inline X509 *ca_gen__cert(const struct ca_gen *g)
{
	return sk_X509_value(g->certs, 0);
}

/* The trust anchor this generation chains to: itself when self-signed. */
static inline X509 *ca_gen__root(const struct ca_gen *g)
{
	return sk_X509_value(g->certs, sk_X509_num(g->certs) - 1);
}

/* Generations in index order: [0] current, then next if any, then retired. */
struct ca_set {
	struct ca_gen *gen[CA_GEN_MAX];
	enum ca_slot slot[CA_GEN_MAX];
	size_t n;
};

struct node_ca {
	char *dir;			/* the state dir, as given */
	char td[SPIFFE_TD_MAX + 1];
	int64_t ca_ttl, svid_ttl;
	char *up_cert, *up_key;		/* absolute paths; NULL: self-signed */
	char *node;			/* fleet mode: this node's name */
	struct ca_set set;
	/* ca.json as last read or written, to notice another process's
	 * rotation before acting on a stale view. */
	char *index_raw;
	size_t index_len;
	struct bundle *bundle;		/* as on disk */
	struct svid_signer signer;	/* borrows from set.gen[0] */
	struct jwt_signer jwt_signer;	/* the same */
	struct ca_entry entries[CA_GEN_MAX];
};

/* An upstream CA as read from the operator's files. */
struct ca_upstream {
	const char *cert_path;
	STACK_OF(X509) *certs;		/* signing cert first, root last */
	EVP_PKEY *key;
	time_t not_after;		/* earliest notAfter of the chain */
};

/* What a CA certificate is made of (authority_cert.c). */
struct ca_cert_params {
	const char *td;
	EVP_PKEY *pubkey;		/* the new CA's key */
	X509 *issuer;			/* NULL: self-signed with signing_key */
	EVP_PKEY *signing_key;
	time_t not_before, not_after;
	const struct ca_scope *scope;	/* fleet: names the node (OU) and
					 * adds the scope extension */
};

/* authority.c */
void ca__set_push(struct ca_set *set, struct ca_gen *g, enum ca_slot slot);
int ca__commit(struct node_ca *ca, const struct ca_set *next,
	       struct nt_err *err);
int ca__dirs(const char *dir, struct nt_err *err);
int ca__activate_fresh(struct node_ca *ca, struct ca_gen *fresh, time_t now,
		       struct nt_err *err);

/* authority_cert.c */
int ca__upstream_load(const char *cert_path, const char *key_path, time_t now,
		      struct ca_upstream *up, struct nt_err *err);
void ca__upstream_free(struct ca_upstream *up);
int ca__gen_create(const struct node_ca *ca, const struct ca_upstream *up,
		   time_t now, struct ca_gen **out, struct nt_err *err);
int ca__gen_finish(struct ca_gen *g);
int ca__cert_build(const struct ca_cert_params *p, char *serial,
		   X509 **out, struct nt_err *err);
int ca__chain_verify(STACK_OF(X509) *chain, STACK_OF(X509) *anchors,
		     time_t now, struct nt_err *err);

/* authority_scope.c */
int ca__scope_ext(const struct ca_scope *s, X509_EXTENSION **out,
		  struct nt_err *err);

/* authority_req.c */
#define CA_REQ_CONTEXT		"nametag node CA request v1"
int ca__req_tbs(const char *node, int64_t created, enum ca_auth auth,
		X509_REQ *csr, unsigned char **tbs, size_t *len,
		struct nt_err *err);
int ca__req_id(const unsigned char *tbs, size_t len, char id[65]);
int ca__token_key(const char *token, const char *node, EVP_PKEY **key,
		  struct nt_err *err);
const char *ca__auth_name(enum ca_auth a);
struct cJSON;
int ca__json_int(const struct cJSON *o, const char *key, int64_t min,
		 int64_t max, int64_t *out, const char *what,
		 struct nt_err *err);
const char *ca__json_str(const struct cJSON *o, const char *key, size_t max,
			 const char *what, struct nt_err *err);
/* Strict JSON of at most @max bytes, keys only from @keys, "version": 1. */
int ca__doc_open(const char *json, size_t len, size_t max,
		 const char *const *keys, const char *what, struct cJSON **out,
		 struct nt_err *err);
/* The document's "node", a valid node name, into @node. */
int ca__doc_node(const struct cJSON *doc, char *node, const char *what,
		 struct nt_err *err);
int ca__record_verifier(const char *json, size_t len, const char *node,
			time_t now, EVP_PKEY **key, struct nt_err *err);
int ca__answer_build(const struct ca_request *r, const char *chain_pem,
		     const char *why, char **answer, struct nt_err *err);
void ca__gen_free(struct ca_gen *g);

/* authority_jwt.c */
int ca__jwt_create(struct ca_gen *g, struct nt_err *err);
int ca__jwt_save(const char *dir, const struct ca_gen *g, struct nt_err *err);
int ca__jwt_load(const char *dir, struct ca_gen *g, bool with_key,
		 struct nt_err *err);
void ca__jwt_unlink(const char *dir, const struct ca_gen *g, bool pub_too);
void ca__jwt_free(struct ca_gen *g, bool pub_too);
int ca__jwt_migrate(struct node_ca *ca, bool *changed, struct nt_err *err);

/* authority_state.c */
int ca__path(char *buf, size_t size, const char *dir, const char *rel,
	     struct nt_err *err);
int ca__gen_path(char *buf, size_t size, const char *dir, const char *serial,
		 const char *ext, struct nt_err *err);
int ca__lock(const char *dir, int *fd, struct nt_err *err);
void ca__unlock(int fd);
int ca__index_read(const char *dir, char **raw, size_t *len,
		   struct nt_err *err);
int ca__load(const char *dir, const char *raw, size_t len,
	     struct node_ca **out, struct nt_err *err);
int ca__index_write(const struct node_ca *ca, const struct ca_set *set,
		    char **raw, size_t *len, struct nt_err *err);
int ca__gen_save(const char *dir, const struct ca_gen *g, struct nt_err *err);
void ca__gen_unlink(const char *dir, const struct ca_gen *g, bool cert_too);
void ca__free(struct node_ca *ca);

#endif /* NAMETAG_CA_AUTHORITY_INT_H */
