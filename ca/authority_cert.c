// SPDX-License-Identifier: Apache-2.0
/*
 * Making one CA generation: a fresh P-256 key and its certificate, either a
 * self-signed root or an intermediate signed by an upstream CA. Also the
 * checks an upstream CA must pass before its key signs anything.
 *
 * As in svid.c, extensions are built from OpenSSL's typed structures, so the
 * trust domain reaches the URI SAN by length and never passes through a
 * config-string parser.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "ca/authority_int.h"

#define CA_SERIAL_BYTES		16

/* ---- upstream --------------------------------------------------------- */

void ca__upstream_free(struct ca_upstream *up)
{
	sk_X509_pop_free(up->certs, X509_free);
	EVP_PKEY_free(up->key);
	memset(up, 0, sizeof(*up));
}

static int upstream_read(struct ca_upstream *up, const char *key_path,
			 struct nt_err *err)
{
	char *buf = NULL;
	size_t len = 0;
	int ret;

	ret = state__read(up->cert_path, CA_CERT_MAX_BYTES, false, &buf, &len,
			  err);
	if (ret)
		return ret;
	ret = pem__read_certs(buf, len, &up->certs, err);
	free(buf);
	if (ret)
		return nt_err_prefix(err, ret, up->cert_path);
	if (sk_X509_num(up->certs) > CA_CHAIN_MAX)
		return nt_err_set(err, -E2BIG,
				  "%s: more than %d certificates", up->cert_path,
				  CA_CHAIN_MAX);
	/* The mode check of state__read: an upstream key readable by others
	 * is already compromised, and we will not sign with it. */
	ret = state__read(key_path, CA_KEY_MAX_BYTES, true, &buf, &len, err);
	if (ret)
		return ret;
	ret = pem__read_key(buf, len, &up->key, err);
	state__free_secret(buf, len);
	if (ret)
		return nt_err_prefix(err, ret, key_path);
	return 0;
}

/* The signing certificate must be able to sign our intermediate. */
static int upstream_check_signer(const struct ca_upstream *up,
				 const char *key_path, struct nt_err *err)
{
	X509 *first = sk_X509_value(up->certs, 0);

	if (EVP_PKEY_eq(up->key, X509_get0_pubkey(first)) != 1) {
		ERR_clear_error();
		return nt_err_set(err, -EINVAL,
				  "upstream key %s does not match the first certificate of %s",
				  key_path, up->cert_path);
	}
	if (X509_check_ca(first) != 1)
		return nt_err_set(err, -EINVAL,
				  "%s: the first certificate is not a CA (basicConstraints cA=true required)",
				  up->cert_path);
	if (!(X509_get_extension_flags(first) & EXFLAG_KUSAGE) ||
	    !(X509_get_key_usage(first) & KU_KEY_CERT_SIGN))
		return nt_err_set(err, -EINVAL,
				  "%s: the first certificate has no keyUsage keyCertSign",
				  up->cert_path);
	/* Our node CA is one more CA below it. */
	if (X509_get_pathlen(first) == 0)
		return nt_err_set(err, -EINVAL,
				  "%s: the first certificate has pathlen 0 and cannot sign a CA",
				  up->cert_path);
	return 0;
}

/* RFC 5280 path validation of chain[0] at @now, with the rest of @chain as
 * untrusted intermediates and @anchors as the only trust anchors. */
int ca__chain_verify(STACK_OF(X509) *chain, STACK_OF(X509) *anchors,
		     time_t now, struct nt_err *err)
{
	int n = sk_X509_num(chain), i, ret = 0;
	STACK_OF(X509) *mid = sk_X509_new_null();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	X509_STORE *store = X509_STORE_new();

	if (!store || !ctx || !mid || n < 1) {
		ret = nt_err_set(err, -ENOMEM, "failed to set up chain check");
		goto out;
	}
	for (i = 0; i < sk_X509_num(anchors); i++)
		if (!X509_STORE_add_cert(store, sk_X509_value(anchors, i))) {
			ret = nt_err_ssl(err, -ENOMEM, "failed to set up chain check");
			goto out;
		}
	for (i = 1; i < n; i++)
		if (!sk_X509_push(mid, sk_X509_value(chain, i))) {
			ret = nt_err_set(err, -ENOMEM, "out of memory");
			goto out;
		}
	if (!X509_STORE_CTX_init(ctx, store, sk_X509_value(chain, 0), mid)) {
		ret = nt_err_ssl(err, -ENOMEM, "failed to set up chain check");
		goto out;
	}
	X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx), now);
	if (X509_verify_cert(ctx) != 1)
		ret = nt_err_set(err, -EKEYREJECTED, "the chain does not verify: %s",
				 X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
out:
	ERR_clear_error();
	sk_X509_free(mid);	/* borrowed pointers */
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return ret;
}

/* The file must be a complete chain, in order, valid now, ending in a
 * self-signed root: that root is what we publish in the bundle. */
static int upstream_check_chain(struct ca_upstream *up, time_t now,
				struct nt_err *err)
{
	int n = sk_X509_num(up->certs), i, ret;
	X509 *root = sk_X509_value(up->certs, n - 1);
	STACK_OF(X509) *anchors;
	time_t na;

	if (X509_self_signed(root, 1) != 1) {
		ERR_clear_error();
		return nt_err_set(err, -EINVAL,
				  "%s: the last certificate must be the self-signed root",
				  up->cert_path);
	}
	anchors = sk_X509_new_null();
	if (!anchors || !sk_X509_push(anchors, root)) {
		sk_X509_free(anchors);
		return nt_err_set(err, -ENOMEM, "out of memory");
	}
	ret = ca__chain_verify(up->certs, anchors, now, err);
	sk_X509_free(anchors);
	if (ret)
		return nt_err_prefix(err, -EINVAL, up->cert_path);
	/* A chain is only valid while all of it is. */
	up->not_after = 0;
	for (i = 0; i < n; i++) {
		if (x509__validity(sk_X509_value(up->certs, i), NULL, &na))
			return nt_err_set(err, -EINVAL, "%s: unreadable validity",
					  up->cert_path);
		if (!up->not_after || na < up->not_after)
			up->not_after = na;
	}
	return 0;
}

int ca__upstream_load(const char *cert_path, const char *key_path, time_t now,
		      struct ca_upstream *up, struct nt_err *err)
{
	int ret;

	memset(up, 0, sizeof(*up));
	up->cert_path = cert_path;
	ret = upstream_read(up, key_path, err);
	if (!ret)
		ret = upstream_check_signer(up, key_path, err);
	if (!ret)
		ret = upstream_check_chain(up, now, err);
	if (ret)
		ca__upstream_free(up);
	return ret;
}

/* ---- generations ------------------------------------------------------- */

void ca__gen_free(struct ca_gen *g)
{
	if (!g)
		return;
	sk_X509_pop_free(g->certs, X509_free);
	sk_X509_pop_free(g->above, X509_free);
	EVP_PKEY_free(g->key);
	ca__jwt_free(g, true);
	ca_scope__free(g->scope);
	free(g);
}

/* Derives the cached fields from g->certs. */
int ca__gen_finish(struct ca_gen *g)
{
	int n = sk_X509_num(g->certs), i, ret;
	X509 *x;

	g->above = sk_X509_new_null();
	if (!g->above)
		return -ENOMEM;
	for (i = 1; i < n - 1; i++) {
		x = sk_X509_value(g->certs, i);
		if (!X509_up_ref(x))
			return -ENOMEM;
		if (!sk_X509_push(g->above, x)) {
			X509_free(x);
			return -ENOMEM;
		}
	}
	if (x509__validity(ca_gen__cert(g), &g->not_before, &g->not_after))
		return -EINVAL;
	ret = ca_scope__from_cert(ca_gen__cert(g), &g->scope, NULL);
	return ret == -ENOENT ? 0 : ret;
}

/* Random, positive, 127-bit serial whose top bits are fixed to 01, so the
 * hex form (the file name) is always 32 digits: names sort and align. */
static int set_serial(X509 *x, char *hex, size_t size, struct nt_err *err)
{
	unsigned char buf[CA_SERIAL_BYTES];
	ASN1_INTEGER *serial = NULL;
	BIGNUM *bn = NULL;
	int ret = 0;

	if (RAND_bytes(buf, sizeof(buf)) != 1)
		return nt_err_ssl(err, -EIO, "failed to draw a serial");
	buf[0] = (buf[0] & 0x3f) | 0x40;
	bn = BN_bin2bn(buf, sizeof(buf), NULL);
	if (bn)
		serial = BN_to_ASN1_INTEGER(bn, NULL);
	if (!serial || !X509_set_serialNumber(x, serial))
		ret = nt_err_ssl(err, -ENOMEM, "failed to set the serial");
	else if (x509__serial_hex(x, hex, size))
		ret = nt_err_set(err, -EIO, "failed to format the serial");
	ASN1_INTEGER_free(serial);
	BN_free(bn);
	return ret;
}

/* O=nametag, CN=nametag node CA <first 8 hex digits of the serial>: each
 * generation gets its own subject, so chains never confuse two of them. A
 * fleet node CA adds OU=<node name>. */
static int set_names(X509 *x, X509 *issuer, const char *serial,
		     const struct ca_scope *scope, struct nt_err *err)
{
	X509_NAME *name = X509_get_subject_name(x);
	char cn[64];

	snprintf(cn, sizeof(cn), "nametag node CA %.8s", serial);
	if (!X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
					(const unsigned char *)"nametag", -1,
					-1, 0) ||
	    (scope && !X509_NAME_add_entry_by_txt(name, "OU", MBSTRING_ASC,
						  (const unsigned char *)scope->node,
						  -1, -1, 0)) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
					(const unsigned char *)cn, -1, -1, 0) ||
	    !X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) :
					      name))
		return nt_err_ssl(err, -ENOMEM, "failed to set the names");
	return 0;
}

/* URI SAN spiffe://TD, no path: the ID of a signing certificate. */
static int add_san(X509 *x, const char *td, struct nt_err *err)
{
	char buf[SPIFFE_SCHEME_LEN + SPIFFE_TD_MAX + 1];
	int len;

	len = snprintf(buf, sizeof(buf), SPIFFE_SCHEME "%s", td);
	if (len < 0 || (size_t)len >= sizeof(buf))
		return nt_err_set(err, -ENAMETOOLONG, "trust domain too long");
	return x509__add_uri_san(x, buf, (size_t)len, err);
}

/* cA=true, pathlen 0: a node CA signs leaves only, whether it is a root of
 * its own or an intermediate below an upstream. */
static int add_basic_constraints(X509 *x, struct nt_err *err)
{
	BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();
	int ret = -ENOMEM;

	if (!bc)
		goto out;
	bc->ca = 0xff;
	bc->pathlen = ASN1_INTEGER_new();
	if (!bc->pathlen || !ASN1_INTEGER_set(bc->pathlen, 0))
		goto out;
	if (X509_add1_ext_i2d(x, NID_basic_constraints, bc, 1,
			      X509V3_ADD_DEFAULT) == 1)
		ret = 0;
out:
	BASIC_CONSTRAINTS_free(bc);
	if (ret)
		return nt_err_ssl(err, ret, "failed to add basicConstraints");
	return 0;
}

static int add_key_usage(X509 *x, struct nt_err *err)
{
	ASN1_BIT_STRING *ku = ASN1_BIT_STRING_new();
	int ret = -ENOMEM;

	/* bit 0 digitalSignature, 5 keyCertSign, 6 cRLSign (RFC 5280) */
	if (ku && ASN1_BIT_STRING_set_bit(ku, 0, 1) &&
	    ASN1_BIT_STRING_set_bit(ku, 5, 1) &&
	    ASN1_BIT_STRING_set_bit(ku, 6, 1) &&
	    X509_add1_ext_i2d(x, NID_key_usage, ku, 1, X509V3_ADD_DEFAULT) == 1)
		ret = 0;
	ASN1_BIT_STRING_free(ku);
	if (ret)
		return nt_err_ssl(err, ret, "failed to add keyUsage");
	return 0;
}

/* RFC 5280 4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits. */
static ASN1_OCTET_STRING *key_hash(const X509 *cert)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	ASN1_OCTET_STRING *id;
	unsigned int mdlen;

	if (!X509_pubkey_digest(cert, EVP_sha1(), md, &mdlen))
		return NULL;
	id = ASN1_OCTET_STRING_new();
	if (id && !ASN1_OCTET_STRING_set(id, md, (int)mdlen)) {
		ASN1_OCTET_STRING_free(id);
		id = NULL;
	}
	return id;
}

/* SKI always; AKI when signed by an upstream (a self-signed root may omit
 * it, RFC 5280 4.2.1.1). The AKI repeats the issuer's own SKI when it has
 * one, since that is what path builders match on. */
static int add_key_ids(X509 *x, X509 *issuer, struct nt_err *err)
{
	ASN1_OCTET_STRING *ski = key_hash(x);
	const ASN1_OCTET_STRING *iski;
	AUTHORITY_KEYID *akid = NULL;
	int ret = -ENOMEM;

	if (!ski || X509_add1_ext_i2d(x, NID_subject_key_identifier, ski, 0,
				      X509V3_ADD_DEFAULT) != 1)
		goto out;
	if (issuer) {
		akid = AUTHORITY_KEYID_new();
		if (!akid)
			goto out;
		iski = X509_get0_subject_key_id(issuer);
		akid->keyid = iski ? ASN1_OCTET_STRING_dup(iski) :
				     key_hash(issuer);
		if (!akid->keyid ||
		    X509_add1_ext_i2d(x, NID_authority_key_identifier, akid, 0,
				      X509V3_ADD_DEFAULT) != 1)
			goto out;
	}
	ret = 0;
out:
	ASN1_OCTET_STRING_free(ski);
	AUTHORITY_KEYID_free(akid);
	if (ret)
		return nt_err_ssl(err, ret, "failed to add key identifiers");
	return 0;
}

/* The validity window: now - CA_BACKDATE to now + ca_ttl, never past the
 * upstream chain, and long enough to be worth a rotation. */
static int gen_window(const struct node_ca *ca, const struct ca_upstream *up,
		      time_t now, time_t *nb, time_t *na, struct nt_err *err)
{
	*nb = now - CA_BACKDATE;
	*na = now + (time_t)ca->ca_ttl;
	if (!up || up->not_after >= *na)
		return 0;
	*na = up->not_after;
	/* A CA shorter than two SVIDs would rotate again before its first
	 * SVIDs expire, over and over. */
	if (*na - now < 2 * (time_t)ca->svid_ttl)
		return nt_err_set(err, -EKEYEXPIRED,
				  "%s expires in %lld s, less than two SVID lifetimes (%lld s): renew the upstream certificate",
				  up->cert_path, (long long)(*na - now),
				  (long long)(2 * ca->svid_ttl));
	return 0;
}

/* A certificate built in memory caches its extension flags at the first
 * query, possibly before every extension was added. Decoding its DER
 * gives the object every later reader (and the next open) sees. */
static X509 *reparse(X509 *x)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	X509 *y = NULL;
	int len;

	len = i2d_X509(x, &der);
	if (len <= 0)
		return NULL;
	p = der;
	y = d2i_X509(NULL, &p, len);
	OPENSSL_free(der);
	return y;
}

static int add_scope(X509 *x, const struct ca_scope *scope,
		     struct nt_err *err)
{
	X509_EXTENSION *ext = NULL;
	int ret;

	if (!scope)
		return 0;
	ret = ca__scope_ext(scope, &ext, err);
	if (!ret && !X509_add_ext(x, ext, -1))
		ret = nt_err_ssl(err, -ENOMEM, "failed to add the scope");
	X509_EXTENSION_free(ext);
	return ret;
}

int ca__cert_build(const struct ca_cert_params *p, char *serial, X509 **out,
		   struct nt_err *err)
{
	X509 *x = X509_new();
	int ret;

	if (!x)
		return nt_err_set(err, -ENOMEM, "out of memory");
	if (!X509_set_version(x, X509_VERSION_3) ||
	    !X509_set_pubkey(x, p->pubkey) ||
	    !ASN1_TIME_set(X509_getm_notBefore(x), p->not_before) ||
	    !ASN1_TIME_set(X509_getm_notAfter(x), p->not_after)) {
		ret = nt_err_ssl(err, -ENOMEM, "failed to fill the certificate");
		goto fail;
	}
	ret = set_serial(x, serial, CA_SERIAL_HEX_MAX + 1, err);
	if (!ret)
		ret = set_names(x, p->issuer, serial, p->scope, err);
	if (!ret)
		ret = add_basic_constraints(x, err);
	if (!ret)
		ret = add_key_usage(x, err);
	if (!ret)
		ret = add_key_ids(x, p->issuer, err);
	if (!ret)
		ret = add_san(x, p->td, err);
	if (!ret)
		ret = add_scope(x, p->scope, err);
	if (ret)
		goto fail;
	if (!X509_sign(x, p->signing_key, EVP_sha256())) {
		ret = nt_err_ssl(err, -EIO, "failed to sign the CA certificate");
		goto fail;
	}
	*out = reparse(x);
	X509_free(x);
	if (!*out)
		return nt_err_ssl(err, -EIO, "failed to re-read the CA certificate");
	return 0;
fail:
	X509_free(x);
	return ret;
}

static int gen_build_cert(const struct node_ca *ca,
			  const struct ca_upstream *up, EVP_PKEY *key,
			  time_t now, char *serial, X509 **out,
			  struct nt_err *err)
{
	struct ca_cert_params p = {
		.td = ca->td, .pubkey = key,
		.issuer = up ? sk_X509_value(up->certs, 0) : NULL,
		.signing_key = up ? up->key : key,
	};
	int ret;

	ret = gen_window(ca, up, now, &p.not_before, &p.not_after, err);
	if (!ret)
		ret = ca__cert_build(&p, serial, out, err);
	return ret;
}

/* Takes @x; appends up-refs of the upstream chain after it. */
static int gen_set_certs(struct ca_gen *g, X509 *x,
			 const struct ca_upstream *up)
{
	int i;

	g->certs = sk_X509_new_null();
	if (!g->certs || !sk_X509_push(g->certs, x)) {
		X509_free(x);
		return -ENOMEM;
	}
	for (i = 0; up && i < sk_X509_num(up->certs); i++) {
		x = sk_X509_value(up->certs, i);
		if (!X509_up_ref(x))
			return -ENOMEM;
		if (!sk_X509_push(g->certs, x)) {
			X509_free(x);
			return -ENOMEM;
		}
	}
	return ca__gen_finish(g);
}

int ca__gen_create(const struct node_ca *ca, const struct ca_upstream *up,
		   time_t now, struct ca_gen **out, struct nt_err *err)
{
	struct ca_gen *g = calloc(1, sizeof(*g));
	X509 *x = NULL;
	int ret;

	if (!g)
		return nt_err_set(err, -ENOMEM, "out of memory");
	ret = key__generate(&g->key, err);
	if (!ret)
		ret = ca__jwt_create(g, err);
	if (!ret)
		ret = gen_build_cert(ca, up, g->key, now, g->serial, &x, err);
	if (!ret) {
		ret = gen_set_certs(g, x, up);
		if (ret)
			nt_err_set(err, ret, "out of memory");
	}
	if (ret) {
		ca__gen_free(g);
		return ret;
	}
	*out = g;
	return 0;
}
