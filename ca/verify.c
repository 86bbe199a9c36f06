// SPDX-License-Identifier: Apache-2.0
/*
 * Verifying X.509-SVIDs (spiffe/spiffe standards/X509-SVID.md, section 5):
 * the leaf rules of X509-SVID.md first, then RFC 5280 path validation by
 * OpenSSL against the bundle of the leaf's own trust domain, then validity
 * with clock skew and the SPIFFE rules for signing certificates.
 *
 * Return codes: -EINVAL when the leaf breaks an X509-SVID rule (or an
 * argument is bad), -ENOKEY when no bundle is held for the leaf's trust
 * domain, -EKEYREJECTED when the chain does not validate, a signing
 * certificate breaks a SPIFFE rule or the leaf is outside the scope of a
 * fleet node CA above it (docs/fleet.md), -EKEYEXPIRED when a certificate of the
 * chain is outside its validity at @now (+/- skew), -ENOMEM / -EIO for
 * local failures.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "ca/ca.h"

#define SUBJECT_SHOWN	160	/* bytes of a subject quoted in errors */

/* "leaf", or "certificate N of the chain (SUBJECT)", the way errors name
 * a certificate: depth as OpenSSL counts it, subject in RFC 2253 order. */
static void cert_label(X509 *x, int depth, char *buf, size_t size)
{
	char subject[SUBJECT_SHOWN + 1] = "";
	BIO *bio;
	int n;

	if (depth == 0) {
		snprintf(buf, size, "leaf");
		return;
	}
	bio = x ? BIO_new(BIO_s_mem()) : NULL;
	if (bio && X509_NAME_print_ex(bio, X509_get_subject_name(x), 0,
				      XN_FLAG_RFC2253) >= 0) {
		n = BIO_read(bio, subject, SUBJECT_SHOWN);
		subject[n > 0 ? n : 0] = '\0';
	}
	BIO_free(bio);
	snprintf(buf, size, "certificate %d of the chain (%s)", depth,
		 subject[0] ? subject : "empty subject");
}

/* The leaf's SPIFFE ID: exactly one URI SAN, a valid ID, a non-root path.
 * A SPIFFE ID in a DNS SAN or in the subject counts for nothing. */
static int leaf_id(X509 *leaf, struct spiffe_id *id, struct nt_err *err)
{
	struct nt_err why = { "" };
	int ret;

	ret = x509__spiffe_id(leaf, id, &why);
	switch (ret) {
	case 0:
		break;
	case -ENOENT:
		return nt_err_set(err, -EINVAL,
				  "leaf has no URI SAN: an X509-SVID carries its SPIFFE ID in exactly one");
	case -E2BIG:
		/* X509-SVID.md 2: validators MUST reject more than one */
		return nt_err_set(err, -EINVAL,
				  "leaf has more than one URI SAN: an X509-SVID carries exactly one");
	default:
		return nt_err_set(err, -EINVAL, "leaf URI SAN: %s", why.msg);
	}
	if (spiffe_id__path_len(id) == 0)
		return nt_err_set(err, -EINVAL,
				  "spiffe id has no path: a leaf must not carry the trust domain's root id ('%s')",
				  id->str);
	return 0;
}

/* X509-SVID.md 4.3 and 5.2: key usage present, critical, digitalSignature,
 * and nothing that lets the leaf sign certificates or CRLs. */
static int check_key_usage(X509 *leaf, uint32_t flags, struct nt_err *err)
{
	uint32_t ku = X509_get_key_usage(leaf);
	X509_EXTENSION *ext;
	int pos;

	if (!(flags & EXFLAG_KUSAGE))
		return nt_err_set(err, -EINVAL,
				  "leaf has no key usage extension: an X509-SVID must carry one, critical");
	pos = X509_get_ext_by_NID(leaf, NID_key_usage, -1);
	ext = pos >= 0 ? X509_get_ext(leaf, pos) : NULL;
	if (!ext || !X509_EXTENSION_get_critical(ext))
		return nt_err_set(err, -EINVAL,
				  "leaf key usage is not critical: X509-SVID requires it critical");
	if (ku & KU_KEY_CERT_SIGN)
		return nt_err_set(err, -EINVAL,
				  "leaf key usage has keyCertSign: a leaf must not sign certificates");
	if (ku & KU_CRL_SIGN)
		return nt_err_set(err, -EINVAL,
				  "leaf key usage has cRLSign: a leaf must not sign CRLs");
	if (!(ku & KU_DIGITAL_SIGNATURE))
		return nt_err_set(err, -EINVAL,
				  "leaf key usage lacks digitalSignature");
	return 0;
}

/* X509-SVID.md 4.4: EKU is optional, but when present it must allow both
 * ends of TLS. anyExtendedKeyUsage alone does not count: the spec names
 * the two purposes. */
static int check_ext_key_usage(X509 *leaf, uint32_t flags, struct nt_err *err)
{
	uint32_t xku;
	bool server, client;

	if (!(flags & EXFLAG_XKUSAGE))
		return 0;
	xku = X509_get_extended_key_usage(leaf);
	server = xku & XKU_SSL_SERVER;
	client = xku & XKU_SSL_CLIENT;
	if (server && client)
		return 0;
	return nt_err_set(err, -EINVAL,
			  "leaf extended key usage lacks %s: an X509-SVID's EKU must hold both serverAuth and clientAuth",
			  !server && !client ? "serverAuth and clientAuth" :
			  !server ? "serverAuth" : "clientAuth");
}

static int check_leaf_usage(X509 *leaf, struct nt_err *err)
{
	/* Also computes OpenSSL's cached view of the extensions. */
	uint32_t flags = X509_get_extension_flags(leaf);
	int ret;

	if (flags & EXFLAG_INVALID)
		return nt_err_set(err, -EINVAL,
				  "leaf has a malformed or repeated extension");
	if (flags & EXFLAG_CA)
		return nt_err_set(err, -EINVAL,
				  "leaf is a CA (basicConstraints cA=true): an X509-SVID leaf must have cA=false");
	ret = check_key_usage(leaf, flags, err);
	if (!ret)
		ret = check_ext_key_usage(leaf, flags, err);
	return ret;
}

/* A store holding the bundle's authorities and nothing else: no system
 * roots, no other trust domain's CAs. */
static int bundle_store(const struct bundle *b, X509_STORE **out,
			struct nt_err *err)
{
	X509_STORE *store;
	int i, n = b->x509_authorities ? sk_X509_num(b->x509_authorities) : 0;

	if (n <= 0)
		return nt_err_set(err, -ENOKEY,
				  "trust bundle for trust domain '%s' holds no X.509 authority",
				  b->td);
	store = X509_STORE_new();
	if (!store)
		return nt_err_set(err, -ENOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		if (!X509_STORE_add_cert(store,
					 sk_X509_value(b->x509_authorities, i))) {
			X509_STORE_free(store);
			return nt_err_ssl(err, -ENOMEM,
					  "failed to load the trust bundle");
		}
	}
	*out = store;
	return 0;
}

/* Turns OpenSSL's verdict into one sentence naming the certificate. */
static int path_error(X509_STORE_CTX *ctx, const char *td, struct nt_err *err)
{
	int e = X509_STORE_CTX_get_error(ctx);
	int depth = X509_STORE_CTX_get_error_depth(ctx);
	char label[SUBJECT_SHOWN + 64], hint[SPIFFE_TD_MAX + 96];

	cert_label(X509_STORE_CTX_get_current_cert(ctx), depth, label,
		   sizeof(label));
	switch (e) {
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
		snprintf(hint, sizeof(hint),
			 "it does not chain to an authority of trust domain '%s'",
			 td);
		break;
	case X509_V_ERR_INVALID_CA:
		snprintf(hint, sizeof(hint),
			 "only a certificate with cA=true may sign, never a leaf");
		break;
	default:
		snprintf(hint, sizeof(hint), "trust domain '%s'", td);
	}
	return nt_err_set(err, -EKEYREJECTED,
			  "path validation failed at %s: %s (%s)", label,
			  X509_verify_cert_error_string(e), hint);
}

/*
 * RFC 5280 path validation by OpenSSL. Time is left out here
 * (X509_V_FLAG_NO_CHECK_TIME) because OpenSSL has no skew allowance; the
 * caller checks every certificate of the built chain itself. PARTIAL_CHAIN
 * makes every authority of the bundle a trust anchor, self-signed or not,
 * which is what a SPIFFE bundle means (and what RFC 5280 6.1 allows).
 * X509_STRICT adds the RFC 5280 profile checks (AKI on every issued
 * certificate, critical basic constraints on CAs, ...).
 */
static int validate_path(X509 *leaf, STACK_OF(X509) *intermediates,
			 const struct bundle *b, STACK_OF(X509) **chain,
			 struct nt_err *err)
{
	X509_STORE_CTX *ctx = NULL;
	X509_STORE *store = NULL;
	int ret, rc;

	ret = bundle_store(b, &store, err);
	if (ret)
		return ret;
	ctx = X509_STORE_CTX_new();
	if (!ctx || !X509_STORE_CTX_init(ctx, store, leaf, intermediates)) {
		ret = nt_err_ssl(err, -ENOMEM, "failed to set up path validation");
		goto out;
	}
	X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_X509_STRICT |
				 X509_V_FLAG_NO_CHECK_TIME |
				 X509_V_FLAG_PARTIAL_CHAIN);
	rc = X509_verify_cert(ctx);
	if (rc < 0) {
		ret = nt_err_ssl(err, -EIO, "path validation could not run");
		goto out;
	}
	if (rc == 0) {
		ret = path_error(ctx, b->td, err);
		goto out;
	}
	*chain = X509_STORE_CTX_get1_chain(ctx);
	if (!*chain)
		ret = nt_err_set(err, -ENOMEM, "out of memory");
out:
	ERR_clear_error();
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return ret;
}

/* notBefore - skew <= now <= notAfter + skew for every certificate of the
 * chain, the trust anchor included. */
static int check_times(STACK_OF(X509) *chain, time_t now, int64_t skew,
		       struct nt_err *err)
{
	char label[SUBJECT_SHOWN + 64], when[32], at[32];
	time_t nb, na;
	X509 *x;
	int i;

	time__iso8601(now, at, sizeof(at));
	for (i = 0; i < sk_X509_num(chain); i++) {
		x = sk_X509_value(chain, i);
		cert_label(x, i, label, sizeof(label));
		if (x509__validity(x, &nb, &na))
			return nt_err_set(err, -EKEYREJECTED,
					  "%s has an unreadable validity period",
					  label);
		/* Differences, not sums: no overflow whatever skew is. */
		if (nb > now && nb - now > skew) {
			time__iso8601(nb, when, sizeof(when));
			return nt_err_set(err, -EKEYEXPIRED,
					  "%s not valid before %s (now %s, skew %llds)",
					  label, when, at, (long long)skew);
		}
		if (na < now && now - na > skew) {
			time__iso8601(na, when, sizeof(when));
			return nt_err_set(err, -EKEYEXPIRED,
					  "%s expired at %s (now %s, skew %llds)",
					  label, when, at, (long long)skew);
		}
	}
	return 0;
}

static bool has_spiffe_scheme(const unsigned char *s, int len)
{
	static const char scheme[] = "spiffe:";
	int i;

	if (len < (int)sizeof(scheme) - 1)
		return false;
	for (i = 0; i < (int)sizeof(scheme) - 1; i++)
		if ((s[i] | 0x20) != scheme[i])
			return false;
	return true;
}

/* One URI SAN of a signing certificate: when it is a SPIFFE ID, it must be
 * the root ID of the leaf's trust domain (X509-SVID.md 3.2; nametag does
 * not accept cross-trust-domain signing). */
static int check_signer_uri(const ASN1_IA5STRING *uri, const char *label,
			    const struct spiffe_id *leaf, struct nt_err *err)
{
	const unsigned char *s = ASN1_STRING_get0_data(uri);
	int len = ASN1_STRING_length(uri);
	struct nt_err why = { "" };
	struct spiffe_id id;

	if (!has_spiffe_scheme(s, len))
		return 0;	/* some other URI: not ours to judge */
	if (spiffe_id__parse(&id, (const char *)s, (size_t)len, &why))
		return nt_err_set(err, -EKEYREJECTED,
				  "%s has an invalid SPIFFE ID: %s", label,
				  why.msg);
	if (id.td_len != leaf->td_len || memcmp(id.td, leaf->td, id.td_len))
		return nt_err_set(err, -EKEYREJECTED,
				  "%s belongs to trust domain '%s', the leaf to '%s'",
				  label, id.td, leaf->td);
	if (spiffe_id__path_len(&id))
		return nt_err_set(err, -EKEYREJECTED,
				  "%s has SPIFFE ID '%s' with a path: a signing certificate's id must have none",
				  label, id.str);
	return 0;
}

static int check_signer(X509 *x, int depth, const struct spiffe_id *leaf,
			struct nt_err *err)
{
	char label[SUBJECT_SHOWN + 64];
	const GENERAL_NAME *gn;
	GENERAL_NAMES *sans;
	int i, crit = 0, ret = 0;

	cert_label(x, depth, label, sizeof(label));
	sans = X509_get_ext_d2i(x, NID_subject_alt_name, &crit, NULL);
	if (!sans)
		return crit == -1 ? 0 : nt_err_set(err, -EKEYREJECTED,
						   "%s has an unreadable subjectAltName",
						   label);
	for (i = 0; !ret && i < sk_GENERAL_NAME_num(sans); i++) {
		gn = sk_GENERAL_NAME_value(sans, i);
		if (gn->type == GEN_URI)
			ret = check_signer_uri(gn->d.uniformResourceIdentifier,
					       label, leaf, err);
	}
	GENERAL_NAMES_free(sans);
	return ret;
}

/* A fleet node CA's scope (docs/fleet.md): the leaf must be inside it. A
 * scope we cannot read fails closed: it was put there to restrict. */
static int check_scope(X509 *x, int depth, const struct spiffe_id *leaf,
		       struct nt_err *err)
{
	char label[SUBJECT_SHOWN + 64];
	struct nt_err why = { "" };
	struct ca_scope *scope = NULL;
	int ret;

	ret = ca_scope__from_cert(x, &scope, &why);
	if (ret == -ENOENT)
		return 0;
	cert_label(x, depth, label, sizeof(label));
	if (ret)
		return nt_err_set(err, -EKEYREJECTED,
				  "%s has an unreadable nametag scope: %s", label,
				  why.msg);
	if (!ca_scope__covers(scope, leaf))
		ret = nt_err_set(err, -EKEYREJECTED,
				 "leaf id %s is outside the scope of %s (node '%s' may issue %s%s)",
				 leaf->str, label, scope->node, scope->prefix[0].str,
				 scope->n > 1 ? " and more" : "");
	ca_scope__free(scope);
	return ret;
}

/* Every certificate above the leaf, trust anchor included. */
static int check_signers(STACK_OF(X509) *chain, const struct spiffe_id *leaf,
			 struct nt_err *err)
{
	int i, ret = 0;

	/* With PARTIAL_CHAIN a leaf found in the bundle would be its own
	 * anchor; an SVID is never trusted as itself. */
	if (sk_X509_num(chain) < 2)
		return nt_err_set(err, -EKEYREJECTED,
				  "leaf is itself in the trust bundle: a leaf must be issued by a bundle authority");
	for (i = 1; !ret && i < sk_X509_num(chain); i++) {
		ret = check_signer(sk_X509_value(chain, i), i, leaf, err);
		if (!ret)
			ret = check_scope(sk_X509_value(chain, i), i, leaf, err);
	}
	return ret;
}

int svid__verify(X509 *leaf, STACK_OF(X509) *intermediates,
		 const struct bundle_set *bundles,
		 const struct svid_verify_opts *opts, struct spiffe_id *id,
		 struct nt_err *err)
{
	STACK_OF(X509) *chain = NULL;
	const struct bundle *b;
	struct spiffe_id lid;
	int ret;

	if (!leaf || !bundles || !opts)
		return nt_err_set(err, -EINVAL, "svid verify: missing argument");
	if (opts->skew < 0)
		return nt_err_set(err, -EINVAL, "clock skew must not be negative");
	ret = leaf_id(leaf, &lid, err);
	if (!ret)
		ret = check_leaf_usage(leaf, err);
	if (ret)
		return ret;
	/* Only the leaf's own trust domain: bundles are never merged, and
	 * without one we fail closed. */
	b = bundle_set__find(bundles, lid.td, lid.td_len);
	if (!b)
		return nt_err_set(err, -ENOKEY,
				  "no trust bundle for trust domain '%s'",
				  lid.td);
	ret = validate_path(leaf, intermediates, b, &chain, err);
	if (ret)
		return ret;
	ret = check_times(chain, opts->now, opts->skew, err);
	if (!ret)
		ret = check_signers(chain, &lid, err);
	sk_X509_pop_free(chain, X509_free);
	if (!ret && id)
		*id = lid;
	return ret;
}

/* Reads the messages this file writes: keep the two in step. */
const char *svid__failure_cause(int ret, const char *msg)
{
	switch (ret) {
	case -ENOKEY:	/* no bundle, or one without an X.509 authority */
		return "unknown trust domain";
	case -EKEYEXPIRED:
		return strstr(msg, "not valid before") ? "not yet valid" : "expired";
	case -EKEYREJECTED:
		return "untrusted certificate chain";
	case -EINVAL:
		return strstr(msg, "key usage") ? "wrong key usage" :
		       "not an X509-SVID";
	}
	return "certificate rejected";
}
