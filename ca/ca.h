/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ca/ — nametag's identity core: SPIFFE IDs, the node CA, X.509-SVIDs and
 * SPIFFE trust bundles. This header is the library's whole interface. The
 * library knows nothing of sockets, processes or BPF.
 *
 * Conventions: functions return 0 or a negative errno. When they fail and
 * @err is not NULL, err->msg holds one lowercase sentence naming what went
 * wrong (for SPIFFE rules, the rule that was broken). Times are passed in
 * explicitly (@now) so tests can mint and verify at any instant.
 */
#ifndef NAMETAG_CA_H
#define NAMETAG_CA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "lib/ntcore.h"	/* struct nt_err, strict JSON, state files */

/* ---- SPIFFE IDs (SPIFFE-ID.md) ----------------------------------------- */

#define SPIFFE_SCHEME		"spiffe://"
#define SPIFFE_SCHEME_LEN	9
#define SPIFFE_ID_MAX		2048	/* bytes of the whole URI */
#define SPIFFE_TD_MAX		255	/* bytes of the trust domain name */

struct spiffe_id {
	char str[SPIFFE_ID_MAX + 1];	/* the whole ID, NUL-terminated */
	size_t len;			/* strlen(str); no NUL inside */
	char td[SPIFFE_TD_MAX + 1];	/* trust domain name, NUL-terminated */
	size_t td_len;
	size_t path_off;		/* str + path_off is the path ("" for
					 * the trust domain's root ID) */
};

static inline size_t spiffe_id__path_len(const struct spiffe_id *id)
{
	return id->len - id->path_off;
}

/* Parses and validates @len bytes at @s (no NUL terminator needed; a NUL
 * inside is an error). Every MUST of SPIFFE-ID.md is checked. */
int spiffe_id__parse(struct spiffe_id *id, const char *s, size_t len,
		     struct nt_err *err);

/* Validates a bare trust domain name ("example.org"). */
int spiffe_td__check(const char *td, size_t len, struct nt_err *err);

/* One path segment given by pointer and length (so embedded NULs are seen). */
struct spiffe_seg {
	const char *s;
	size_t len;
};

/* Builds spiffe://TD/SEG/SEG/... from parts. Each segment must be non-empty,
 * only [A-Za-z0-9._-], and neither "." nor ".."; a '/', '%', NUL or any other
 * byte is refused, so values taken from selectors can never steer the ID into
 * another path. @nseg may be 0 (the trust domain's root ID). */
int spiffe_id__build(struct spiffe_id *id, const char *td,
		     const struct spiffe_seg *segs, size_t nseg,
		     struct nt_err *err);

/* Exact byte comparison (length first). */
bool spiffe_id__equal(const struct spiffe_id *a, const struct spiffe_id *b);

/* Interned IDs: one shared, refcounted copy per distinct ID, so that
 * long-lived records hold a pointer instead of a 2.3 KB struct. Not
 * thread-safe. */
struct spiffe_ids;

int spiffe_ids__new(struct spiffe_ids **ids);
/* Frees every copy, held or not: call once no holder is left. */
void spiffe_ids__free(struct spiffe_ids *ids);
/* The shared copy of @id, its count raised; NULL when out of memory. */
const struct spiffe_id *spiffe_ids__get(struct spiffe_ids *ids,
					const struct spiffe_id *id);
/* Gives back a pointer spiffe_ids__get() returned; NULL is ignored. */
void spiffe_ids__put(struct spiffe_ids *ids, const struct spiffe_id *id);
/* How many distinct IDs are held. */
size_t spiffe_ids__count(const struct spiffe_ids *ids);

/* ---- X.509 helpers ----------------------------------------------------- */

/* Reads every certificate of a PEM buffer, in order. Anything that is not a
 * certificate, or no certificate at all, is an error. */
int pem__read_certs(const char *pem, size_t len, STACK_OF(X509) **certs,
		    struct nt_err *err);

/* Reads one private key (PKCS#8 or traditional PEM). */
int pem__read_key(const char *pem, size_t len, EVP_PKEY **key,
		  struct nt_err *err);

/* PEM of a key as PKCS#8, malloc'd; free with state__free_secret. */
int pem__write_key(EVP_PKEY *key, char **pem, size_t *len, struct nt_err *err);

/* PEM of certificates appended in order, malloc'd. */
int pem__write_certs(X509 *const *certs, size_t n, char **pem, size_t *len,
		     struct nt_err *err);

/* Fresh ECDSA P-256 key. */
int key__generate(EVP_PKEY **key, struct nt_err *err);

/* The one URI SAN of @cert parsed as a SPIFFE ID. -ENOENT when there is no
 * URI SAN, -E2BIG when there is more than one, -EINVAL when it is not a valid
 * SPIFFE ID. The SAN is taken by its ASN.1 length, never as a C string. */
int x509__spiffe_id(X509 *cert, struct spiffe_id *id, struct nt_err *err);

/* Adds the one subjectAltName extension, a single URI of @len bytes. */
int x509__add_uri_san(X509 *x, const char *uri, size_t len,
		      struct nt_err *err);

/* Serial number as lowercase hex, no leading zeros ("0" for zero). */
int x509__serial_hex(X509 *cert, char *buf, size_t size);

/* notBefore / notAfter as Unix time. */
int x509__validity(X509 *cert, time_t *not_before, time_t *not_after);

/* ---- trust bundles (SPIFFE_Trust_Domain_and_Bundle.md) ----------------- */

#define JWT_KID_MAX		255	/* bytes of a key ID we accept */

struct ca_scope;

/* A JWT-SVID signing key as a bundle publishes it (JWT-SVID.md §6). */
struct jwt_authority {
	char kid[JWT_KID_MAX + 1];	/* non-empty, unique in its bundle */
	EVP_PKEY *key;			/* public: EC P-256/384/521 or RSA */
	/* Fleet mode (docs/fleet.md): the key is bound to a node CA, so a
	 * token it signed is valid only for a sub inside @scope (owned) and
	 * not after @not_after. NULL and 0 for a key of a SPIFFE bundle;
	 * never serialised (the bundle format has no field for it). */
	struct ca_scope *scope;
	time_t not_after;
};

struct bundle {
	char td[SPIFFE_TD_MAX + 1];
	uint64_t sequence;		/* spiffe_sequence; 0 when absent */
	bool has_sequence;
	int64_t refresh_hint;		/* spiffe_refresh_hint, seconds */
	bool has_refresh_hint;
	STACK_OF(X509) *x509_authorities; /* the x509-svid entries' CA certs */
	struct jwt_authority *jwt_authorities; /* the jwt-svid entries, in
					 * bundle order */
	size_t jwt_count;
	unsigned int ignored_keys;	/* entries with unknown kty or use */
};

#define BUNDLE_MAX_BYTES	(1u << 20)
#define BUNDLE_REFRESH_HINT	300	/* seconds, our default */

/* An empty bundle for @td (which is validated). */
int bundle__new(struct bundle **b, const char *td, struct nt_err *err);

/* Parses the SPIFFE bundle JSON (a JWK Set) for trust domain @td. Strict:
 * exact-case keys, duplicate keys and trailing bytes rejected, "keys"
 * required; x509-svid entries need exactly one CA certificate in "x5c", no
 * "kid", and key parameters that match the certificate; jwt-svid entries
 * need a non-empty "kid" (at most JWT_KID_MAX bytes, one key per kid) and a
 * valid public key (EC P-256/384/521, or RSA of 2048 to 8192 bits), with no
 * private member. Entries of unknown use or kty are ignored (counted in
 * ignored_keys). */
int bundle__parse(struct bundle **b, const char *td, const char *json,
		  size_t len, struct nt_err *err);

/* Serialises @b; malloc'd NUL-terminated string. */
int bundle__to_json(const struct bundle *b, bool pretty, char **json,
		    struct nt_err *err);

/* A standard JWK Set of @b's jwt-svid keys only, no spiffe_* members: what
 * the Workload API's FetchJWTBundles hands out (SPIFFE_Workload_API.md
 * §6.2.2). Malloc'd, compact. */
int bundle__jwks_json(const struct bundle *b, char **json, struct nt_err *err);

int bundle__load(struct bundle **b, const char *td, const char *path,
		 struct nt_err *err);
int bundle__save(const struct bundle *b, const char *path, struct nt_err *err);

/* Adds a CA certificate (up-refs it). Duplicates (same DER) are a no-op and
 * return 0. Returns 1 when added. */
int bundle__add_authority(struct bundle *b, X509 *ca, struct nt_err *err);

/* Adds a JWT-SVID signing key under @kid (up-refs @key). The same kid with
 * the same key is a no-op and returns 0; the same kid with another key is
 * -EEXIST. Returns 1 when added. */
int bundle__add_jwt_authority(struct bundle *b, const char *kid, EVP_PKEY *key,
			      struct nt_err *err);

/* Binds the jwt-svid key @kid of @b to a fleet node CA: @scope (copied;
 * NULL: none) and @not_after (0: none). -ENOENT when @b has no such kid. */
int bundle__bind_jwt_authority(struct bundle *b, const char *kid,
			       const struct ca_scope *scope, time_t not_after,
			       struct nt_err *err);
/* bundle__add_jwt_authority of @a's kid and key, then its binding. */
int bundle__copy_jwt_authority(struct bundle *b, const struct jwt_authority *a,
			       struct nt_err *err);

/* The jwt-svid key of @b named @kid (@len bytes), or NULL. */
const struct jwt_authority *bundle__jwt_authority(const struct bundle *b,
						  const char *kid, size_t len);

/* -EINVAL unless every jwt-svid kid of @b is the RFC 7638 thumbprint of
 * its key, as nametag names its own keys: a kid that cannot name another
 * key (fleet mode reads the other nodes' keys this way). */
int bundle__jwt_kids_are_thumbprints(const struct bundle *b,
				     struct nt_err *err);

/* True when both hold the same set of authorities, X.509 and JWT (the
 * JWT keys' bindings too). */
bool bundle__same_authorities(const struct bundle *a, const struct bundle *b);

void bundle__free(struct bundle *b);

/* A set of bundles, one per trust domain, never merged. */
struct bundle_set;

int bundle_set__new(struct bundle_set **set);
/* Takes ownership of @b. A second bundle for the same trust domain is -EEXIST. */
int bundle_set__add(struct bundle_set *set, struct bundle *b,
		    struct nt_err *err);
/* NULL when no bundle exists for @td (never a fallback to another). */
const struct bundle *bundle_set__find(const struct bundle_set *set,
				      const char *td, size_t td_len);
size_t bundle_set__count(const struct bundle_set *set);
const struct bundle *bundle_set__at(const struct bundle_set *set, size_t i);
void bundle_set__free(struct bundle_set *set);

/* ---- trust anchors pinned by SHA-256 (anchor.c, docs/fleet.md) --------- */

#define ANCHOR_LEN	32		/* SHA-256 of the certificate's DER */
#define ANCHOR_STR_MAX	(7 + 2 * ANCHOR_LEN + 1)	/* "sha256:" hex NUL */
/* 64 hex digits, either case, ':' between every two or none, after an
 * optional "sha256:" or "sha256 Fingerprint=" (openssl's -fingerprint). */
int trust_anchor__parse(const char *s, uint8_t out[ANCHOR_LEN], struct nt_err *err);
/* "sha256:" and the lowercase hex of @cert's DER; -EINVAL unencodable. */
int trust_anchor__of(X509 *cert, char out[ANCHOR_STR_MAX]);
/* A bundle of @b's TD with only the X.509 authorities hashing to @pin (no
 * JWT ones); -EACCES, naming what @b holds, when none does. */
int bundle__pinned(const struct bundle *b, const uint8_t pin[ANCHOR_LEN],
		   struct bundle **out, struct nt_err *err);

/* ---- X.509-SVIDs (X509-SVID.md) ---------------------------------------- */

struct svid {
	struct spiffe_id id;
	EVP_PKEY *key;			/* the leaf's private key */
	X509 *leaf;
	STACK_OF(X509) *intermediates;	/* above the leaf, below the bundle's
					 * root; may be empty */
};

void svid__free(struct svid *s);

/* The signing side of a mint: a CA certificate, its key, and the chain from
 * it up to (not including) the trust root. */
struct svid_signer {
	X509 *ca_cert;
	EVP_PKEY *ca_key;
	STACK_OF(X509) *chain;		/* may be NULL; certs above ca_cert,
					 * excluding the root */
	bool ca_is_root;		/* ca_cert is itself the bundle root:
					 * leave it out of svid->intermediates */
};

#define SVID_TTL_DEFAULT	3600
#define SVID_BACKDATE		10	/* notBefore this many seconds early */

/* Mints an X.509-SVID for @id with a fresh P-256 key: one URI SAN, key usage
 * critical digitalSignature, cA=false (critical basic constraints), EKU
 * serverAuth+clientAuth, SKI/AKI, random 128-bit serial, notBefore
 * now - SVID_BACKDATE, notAfter min(now + ttl, CA notAfter). The ID must
 * have a non-root path and belong to the CA's trust domain. */
int svid__mint(const struct svid_signer *signer, const struct spiffe_id *id,
	       int64_t ttl, time_t now, struct svid **out, struct nt_err *err);

#define SVID_SKEW_DEFAULT	0

struct svid_verify_opts {
	time_t now;
	int64_t skew;			/* seconds of clock skew tolerated */
};

/* RFC 5280 path validation of @leaf (+ @intermediates, may be NULL) against
 * the bundle of the leaf's own trust domain taken from @bundles, plus every
 * X509-SVID.md rule for leaves. On success fills @id. */
int svid__verify(X509 *leaf, STACK_OF(X509) *intermediates,
		 const struct bundle_set *bundles,
		 const struct svid_verify_opts *opts, struct spiffe_id *id,
		 struct nt_err *err);
/* What an operator calls a failure of svid__verify(), from its errno and
 * message: "unknown trust domain", "expired", "not yet valid", "wrong key
 * usage", "not an X509-SVID", "untrusted certificate chain" or
 * "certificate rejected". A static string. */
const char *svid__failure_cause(int ret, const char *msg);

/* ---- JWT-SVIDs (JWT-SVID.md) ------------------------------------------- */

#define JWT_SVID_TTL_DEFAULT	300	/* seconds, as SPIRE's */
#define JWT_SVID_LEEWAY		60	/* seconds of clock skew tolerated on
					 * exp, nbf and iat, as go-spiffe's */
#define JWT_TOKEN_MAX		16384	/* bytes of a token we will look at */
#define JWT_AUD_MAX		16	/* audiences in one token */
#define JWT_AUD_LEN_MAX		1024	/* bytes of one audience */
#define JWT_KID_LEN		43	/* our kids: RFC 7638 thumbprints */

/* The signing side of a JWT-SVID mint: a P-256 key, its kid as published
 * in the bundle, and the instant after which it must not be relied on. */
struct jwt_signer {
	EVP_PKEY *key;
	char kid[JWT_KID_MAX + 1];
	time_t not_after;
};

/* Signs a JWT-SVID for @id: JWS Compact Serialization, ES256 (signature
 * raw r||s, RFC 7518 §3.4), header {alg, kid, typ: JWT}, claims {sub, aud,
 * exp, iat}. @aud holds 1 to JWT_AUD_MAX non-empty UTF-8 strings of at
 * most JWT_AUD_LEN_MAX bytes; one audience is written as a string, several
 * as an array. @ttl 0 means JWT_SVID_TTL_DEFAULT; exp is capped at the
 * signer's not_after. The ID must have a non-root path. *token is
 * malloc'd; *expiry (if not NULL) gets exp. */
int jwt_svid__mint(const struct jwt_signer *signer, const struct spiffe_id *id,
		   const char *const *aud, size_t naud, int64_t ttl, time_t now,
		   char **token, int64_t *expiry, struct nt_err *err);

/* A validated JWT-SVID. */
struct jwt_svid {
	struct spiffe_id id;		/* sub */
	int64_t expiry;			/* exp, whole seconds (rounded down) */
	char alg[8];
	char kid[JWT_KID_MAX + 1];
	struct cJSON *claims;		/* the whole payload, owned */
};

void jwt_svid__free(struct jwt_svid *s);

struct jwt_verify_opts {
	time_t now;
	int64_t leeway;			/* seconds; JWT_SVID_LEEWAY is usual */
};

/*
 * Validates a JWT-SVID (JWT-SVID.md §2-4, appendix A) for @audience:
 * Compact Serialization of exactly three canonical base64url parts; a
 * header of alg, kid and typ only (alg one of RS/PS/ES 256/384/512, never
 * "none" or HMAC; kid required, as go-spiffe requires it; typ, if set,
 * "JWT" or "JOSE"); a payload with sub a SPIFFE ID with a path, aud (a
 * string or a non-empty array of strings) holding @audience, and exp
 * numeric; the signature checked with the key of that kid in the bundle of
 * sub's own trust domain, the key's type matching alg. exp must not have
 * passed, nor nbf be ahead, nor iat be in the future (each give or take
 * @opts->leeway). Header and payload are strict JSON (no duplicate keys).
 * A key bound to a fleet node CA (jwt_authority.scope, .not_after) also
 * needs sub inside the scope and @opts->now not past not_after (give or
 * take the leeway): -EKEYREJECTED when a genuine signature is refused for
 * that ("sub ... is outside node 'n3''s scope"). -EINVAL with the reason
 * on any other failure, -ENOMEM.
 */
int jwt_svid__validate(const char *token, size_t len, const char *audience,
		       const struct bundle_set *bundles,
		       const struct jwt_verify_opts *opts,
		       struct jwt_svid **out, struct nt_err *err);

/* ---- node CA ----------------------------------------------------------- */

#define CA_TTL_DEFAULT		(24 * 3600)

struct ca_init_opts {
	const char *trust_domain;
	int64_t ca_ttl;			/* 0: CA_TTL_DEFAULT */
	int64_t svid_ttl;		/* 0: SVID_TTL_DEFAULT */
	const char *upstream_cert;	/* both or neither */
	const char *upstream_key;
	time_t now;
};

/* Creates the CA under @state_dir. -EEXIST if one is already there. */
int node_ca__init(const char *state_dir, const struct ca_init_opts *opts,
		  struct nt_err *err);

struct node_ca;

/* Opens an existing CA. -ENOENT (with a hint to run `ca init`) if none. A
 * corrupt or truncated file is an error; nothing is replaced. */
int node_ca__open(struct node_ca **ca, const char *state_dir,
		  struct nt_err *err);
void node_ca__close(struct node_ca *ca);

const char *node_ca__trust_domain(const struct node_ca *ca);
int64_t node_ca__svid_ttl(const struct node_ca *ca);
int64_t node_ca__ca_ttl(const struct node_ca *ca);
bool node_ca__is_upstream(const struct node_ca *ca);

enum ca_slot {
	CA_SLOT_CURRENT,		/* signs SVIDs now */
	CA_SLOT_NEXT,			/* published, not yet signing */
	CA_SLOT_RETIRED,		/* in the bundle until it expires */
};

struct ca_entry {
	enum ca_slot slot;
	X509 *cert;			/* borrowed */
	const char *jwt_kid;		/* the generation's JWT-SVID signing
					 * key, NULL if it has none */
};

/* Every CA generation held, current first, then next, then retired. */
size_t node_ca__count(const struct node_ca *ca);
const struct ca_entry *node_ca__at(const struct node_ca *ca, size_t i);

/* The signer for svid__mint (borrowed from @ca). */
const struct svid_signer *node_ca__signer(const struct node_ca *ca);

/* Mint with the current CA. @ttl 0 means the CA's SVID TTL. */
int node_ca__mint(struct node_ca *ca, const struct spiffe_id *id, int64_t ttl,
		  time_t now, struct svid **out, struct nt_err *err);

/* The JWT-SVID signer of the current generation (borrowed from @ca). */
const struct jwt_signer *node_ca__jwt_signer(const struct node_ca *ca);

/* Mints a JWT-SVID with the current generation's key (jwt_svid__mint).
 * The ID must belong to the CA's trust domain and, for a fleet node CA,
 * lie in its scope (-EPERM). @ttl 0 means JWT_SVID_TTL_DEFAULT. */
int node_ca__mint_jwt(struct node_ca *ca, const struct spiffe_id *id,
		      const char *const *aud, size_t naud, int64_t ttl,
		      time_t now, char **token, int64_t *expiry,
		      struct nt_err *err);

enum ca_step {
	CA_STEP_NONE,
	CA_STEP_PREPARED,		/* a next CA was made and published */
	CA_STEP_ACTIVATED,		/* next became current */
};

/* One manual rotation step: prepares a next CA if there is none, else
 * activates it. Expired retired CAs are pruned. Bundle updated on change. */
int node_ca__rotate(struct node_ca *ca, time_t now, enum ca_step *step,
		    struct nt_err *err);

/* Scheduled rotation: prepare at 1/2 of the current CA's life, activate at
 * 5/6. Does nothing before. */
int node_ca__maintain(struct node_ca *ca, time_t now, enum ca_step *step,
		      struct nt_err *err);

/* The local trust domain's bundle as last written (borrowed). */
const struct bundle *node_ca__bundle(const struct node_ca *ca);

/* ---- fleet mode: node CAs signed elsewhere, with a scope (docs/fleet.md) - */

/*
 * In fleet mode no node holds the upstream key. A node makes its CA key
 * itself and posts a request (JSON around a PKCS#10 CSR) through etcd; the
 * signer (`nametag ca signer`, where the upstream key is) checks it and
 * answers with the node CA certificate. The first request of a node is
 * signed with a key derived from a one-time join token, every later one
 * with the node's current CA key.
 *
 * A fleet node CA certificate carries a scope: a non-critical private
 * extension (CA_SCOPE_OID) naming the node and the SPIFFE ID prefixes it may
 * issue. nametag's verifier refuses a leaf outside the scope of any CA of
 * its chain; other X.509 verifiers ignore the extension.
 */

/* 2.25 is the UUID arc (ITU-T X.667): an OID nobody else can hold,
 * with no registration. .1 under it is the scope extension. */
#define CA_SCOPE_OID	"2.25.297689187190348403671260159122940356932.1"
#define CA_SCOPE_MAX	64	/* prefixes in one scope */
#define CA_NODE_MAX	63	/* bytes of a node name */

/* A node name: 1 to 63 bytes of [a-z0-9.-], starting and ending with a
 * letter or digit, no "..": a DNS name, an etcd key segment and an etcd
 * user name at once. */
int node_name__check(const char *name, struct nt_err *err);

struct ca_scope {
	char node[CA_NODE_MAX + 1];
	size_t n;
	struct spiffe_id *prefix;	/* n of them, sorted, no duplicate */
};

/* A scope for @node from SPIFFE ID strings of one trust domain @td. A
 * prefix covers itself and every ID below it, segment by segment
 * ("spiffe://td/ns/a" covers ".../ns/a/x", not ".../ns/ab"); the trust
 * domain's root ID covers the whole domain. Duplicates are merged. */
int ca_scope__new(struct ca_scope **out, const char *td, const char *node,
		  const char *const *prefixes, size_t n, struct nt_err *err);
void ca_scope__free(struct ca_scope *s);
bool ca_scope__covers(const struct ca_scope *s, const struct spiffe_id *id);
/* A copy of @s; NULL when out of memory. */
struct ca_scope *ca_scope__dup(const struct ca_scope *s);
/* Same node and prefixes (NULL equals only NULL). */
bool ca_scope__equal(const struct ca_scope *a, const struct ca_scope *b);
/* True when every prefix of @inner is covered by @outer. */
bool ca_scope__within(const struct ca_scope *inner,
		      const struct ca_scope *outer);
/* The scope extension of @x: -ENOENT when it has none, -EINVAL when it is
 * malformed (not DER, not canonical, a bad name or prefix, critical). */
int ca_scope__from_cert(X509 *x, struct ca_scope **out, struct nt_err *err);
/* The extension's value (DER of the ASN.1 of docs/fleet.md). */
int ca_scope__parse_der(const unsigned char *der, size_t len,
			struct ca_scope **out, struct nt_err *err);
int ca_scope__to_der(const struct ca_scope *s, unsigned char **der,
		     size_t *len, struct nt_err *err);

/* Join tokens: "ntjoin1." + 43 base64url characters (256 random bits).
 * Only a record with a verifier is stored (an Ed25519 public key derived
 * from the token and the node name), which proves a request without
 * revealing or storing the token. */
#define JOIN_TOKEN_PREFIX	"ntjoin1."
#define JOIN_TOKEN_LEN		(sizeof(JOIN_TOKEN_PREFIX) - 1 + 43)
#define JOIN_TOKEN_TTL_MAX	(7LL * 24 * 3600)

/* A fresh token for @node valid @ttl seconds from @now; @record receives
 * the malloc'd JSON to store (docs/fleet.md). */
int join_token__create(const char *node, int64_t ttl, time_t now,
		       char token[JOIN_TOKEN_LEN + 1], char **record,
		       struct nt_err *err);

enum ca_auth {
	CA_AUTH_JOIN_TOKEN,		/* signed with the join token's key */
	CA_AUTH_NODE_CA,		/* signed with the current node CA key */
};

/* A node CA request as parsed from etcd. Parsing checks its form and the
 * CSR's own signature (possession of the new key), not who sent it: that
 * is ca_signer__sign's job. */
struct ca_request {
	char id[65];			/* hex SHA-256 of what was signed */
	char node[CA_NODE_MAX + 1];
	char td[SPIFFE_TD_MAX + 1];
	int64_t created;
	enum ca_auth auth;
	X509_REQ *csr;
	struct ca_scope *scope;		/* requested */
	STACK_OF(X509) *node_ca;	/* CA_AUTH_NODE_CA: the current node
					 * CA, then its chain */
	unsigned char *tbs, *sig;
	size_t tbs_len, sig_len;
};

#define CA_REQUEST_MAX_BYTES	(64u << 10)

int ca_request__parse(const char *json, size_t len, struct ca_request **out,
		      struct nt_err *err);
void ca_request__free(struct ca_request *r);

/* The signer: the upstream CA (chain file, signing certificate first, root
 * last; key file 0600), checked as `ca init --upstream-*` checks it. */
struct ca_signer;

int ca_signer__open(struct ca_signer **s, const char *trust_domain,
		    const char *cert_path, const char *key_path, time_t now,
		    struct nt_err *err);
void ca_signer__close(struct ca_signer *s);
/* The trust domain's bundle: the upstream root, which nodes trust. */
int ca_signer__bundle(const struct ca_signer *s, struct bundle **out,
		      struct nt_err *err);

struct ca_sign_opts {
	time_t now;
	int64_t ca_ttl;			/* 0: CA_TTL_DEFAULT */
	const struct ca_scope *grant;	/* what the operator lets this node
					 * hold; the request must be within */
	/* CA_AUTH_JOIN_TOKEN: the stored record of the node's token. */
	const char *join_record;
	size_t join_record_len;
	/* CA_AUTH_NODE_CA: the serial of the node CA last issued to the node;
	 * the request must be signed by that one. NULL: any valid one. */
	const char *current_serial;
	int64_t max_age;		/* of a request; 0: 24 h */
};

struct ca_issued {
	char serial[41];
	time_t not_after;
};

/* Checks @r (authentication, trust domain, scope within the grant) and
 * issues the node CA; @answer receives the malloc'd JSON to write back. */
int ca_signer__sign(struct ca_signer *s, const struct ca_request *r,
		    const struct ca_sign_opts *o, char **answer,
		    struct ca_issued *issued, struct nt_err *err);

/* An answer that tells the node why it was refused. */
int ca_answer__refusal(const struct ca_request *r, const char *why,
		       char **answer, struct nt_err *err);

/* A parsed answer: the chain (node CA first, root last) or a refusal. */
struct ca_answer {
	char node[CA_NODE_MAX + 1];
	char request[65];
	STACK_OF(X509) *chain;		/* NULL for a refusal */
	char error[256];
};

#define CA_ANSWER_MAX_BYTES	(64u << 10)

int ca_answer__parse(const char *json, size_t len, struct ca_answer **out,
		     struct nt_err *err);
void ca_answer__free(struct ca_answer *a);

/* The node's side. */
struct ca_fleet_opts {
	const char *trust_domain;	/* first request; later the CA's own */
	const char *node;
	const char *const *scope;	/* SPIFFE ID prefixes wanted */
	size_t nscope;
	const char *join_token;		/* NULL: sign with the current CA */
	int64_t ca_ttl;			/* 0: CA_TTL_DEFAULT (index only; the
					 * signer decides the certificate's) */
	int64_t svid_ttl;		/* 0: SVID_TTL_DEFAULT */
	time_t now;
};

/* Makes a fresh CA key, keeps it as STATE/ca/pending.key (0600) with
 * STATE/ca/pending.json, and returns the request to post (malloc'd JSON).
 * A second call replaces the pending request. */
int node_ca__request(const char *state_dir, const struct ca_fleet_opts *o,
		     char **request, size_t *len, struct nt_err *err);

/* Takes the signer's answer to the pending request: the chain must verify
 * against @trust (the trust domain's bundle), end at one of its
 * authorities, hold the pending key, and name this node and trust domain.
 * Creates the CA at a node's first answer; later, the new CA becomes
 * current at once and the old one is retired. A refusal is -EACCES with
 * the signer's reason. Handles open on @state_dir see the change at their
 * next maintain call. */
int node_ca__accept(const char *state_dir, const char *answer, size_t len,
		    const struct bundle *trust, time_t now,
		    struct nt_err *err);

/*
 * A fleet node's JWT-SVID keys as it publishes them on jwt/<node>
 * (docs/fleet.md "Keys"): the JWK Set of its published generations, its
 * current node CA certificate with the chain above it (root left out), and
 * that CA key's signature over the node name and the kids, which are the
 * keys' thumbprints:
 *
 *   {"version": 1, "node": N, "keys": [JWK...], "node_ca": PEM,
 *    "signature": base64(ECDSA-SHA256(JWT_KEYS_CONTEXT \0 N \0 kid \0 ...))}
 *
 * A reader trusts the keys as far as it trusts the node CA: its chain must
 * verify against the trust domain's bundle at @now, its scope name the
 * node of the etcd key, and the signature verify. The keys are then bound
 * (bundle__bind_jwt_authority) to the CA's scope and its notAfter.
 */
#define JWT_KEYS_CONTEXT	"nametag fleet jwt keys v1"
#define JWT_KEYS_MAX_BYTES	(64u << 10)

/* -EINVAL outside fleet mode; malloc'd compact JSON. */
int node_ca__jwt_keys(const struct node_ca *ca, char **json,
		      struct nt_err *err);
/* @node's value checked against @trust (its X.509 authorities are the
 * anchors, its trust domain the keys'): a bundle of jwt-svid keys only, at
 * least one, kids the RFC 7638 thumbprints, each bound. -EINVAL with the
 * reason (-EKEYREJECTED for a chain that does not verify or has expired,
 * -EPERM for a node CA that names another node), -ENOMEM. */
int jwt_keys__parse(const char *json, size_t len, const char *node,
		    const struct bundle *trust, time_t now,
		    struct bundle **out, struct nt_err *err);

bool node_ca__is_fleet(const struct node_ca *ca);
/* The node name of a fleet CA, else NULL. */
const char *node_ca__node(const struct node_ca *ca);
/* The current CA's scope (borrowed), NULL outside fleet mode. */
const struct ca_scope *node_ca__scope(const struct node_ca *ca);
/* When a fleet node should ask for its next CA: half-way through the
 * current one's life (capped as rotation is). */
time_t node_ca__renew_at(const struct node_ca *ca);
/* Serial and notAfter of the current CA. */
int node_ca__current(const struct node_ca *ca, struct ca_issued *out);

/* Paths in the state dir (docs/state-dir.md). */
#define STATE_DIR_DEFAULT	"/var/lib/nametag"
#define STATE_CA_DIR		"ca"
#define STATE_CA_FILE		"ca/ca.json"
#define STATE_CA_PENDING_KEY	"ca/pending.key"
#define STATE_CA_PENDING_FILE	"ca/pending.json"
#define STATE_CA_PREV_KEY	"ca/pending.prev.key"	/* the one replaced */
#define STATE_CA_PREV_FILE	"ca/pending.prev.json"
#define STATE_BUNDLE_FILE	"bundle.json"
#define STATE_FEDERATION_DIR	"bundles"	/* a fleet node's: etcd's */
#define STATE_FLEET_FILE	"fleet.json"	/* only on a fleet node */

/* Loads the local bundle and every federated bundle of @state_dir. */
int trust__load(const char *state_dir, struct bundle_set **set,
		struct nt_err *err);

#endif /* NAMETAG_CA_H */
