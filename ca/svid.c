// SPDX-License-Identifier: Apache-2.0
/*
 * Minting X.509-SVIDs (spiffe/spiffe standards/X509-SVID.md).
 *
 * Extensions are built from OpenSSL's typed structures rather than from
 * X509V3_EXT_conf strings: the SPIFFE ID then goes into the URI SAN by
 * length, and no byte of it is ever read by a config-string parser.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "ca/ca.h"

#define SVID_SERIAL_BYTES	16	/* 128 bits, top bit cleared */

void svid__free(struct svid *s)
{
	if (!s)
		return;
	EVP_PKEY_free(s->key);
	X509_free(s->leaf);
	sk_X509_pop_free(s->intermediates, X509_free);
	free(s);
}

static bool is_zero(const unsigned char *p, size_t n)
{
	while (n--)
		if (*p++)
			return false;
	return true;
}

/* Random, positive, non-zero serial. RFC 5280 allows at most 20 octets;
 * 16 random ones make collisions between SVIDs of one CA negligible and
 * leave nothing for an attacker to predict (CA/B BR 7.1 asks for 64 bits). */
static int set_serial(X509 *x, struct nt_err *err)
{
	unsigned char buf[SVID_SERIAL_BYTES];
	ASN1_INTEGER *serial = NULL;
	BIGNUM *bn = NULL;
	int ret = 0;

	do {
		if (RAND_bytes(buf, sizeof(buf)) != 1)
			return nt_err_ssl(err, -EIO, "failed to draw a serial");
		buf[0] &= 0x7f;	/* keep it positive in its DER encoding */
	} while (is_zero(buf, sizeof(buf)));

	bn = BN_bin2bn(buf, sizeof(buf), NULL);
	if (bn)
		serial = BN_to_ASN1_INTEGER(bn, NULL);
	if (!serial || !X509_set_serialNumber(x, serial))
		ret = nt_err_ssl(err, -ENOMEM, "failed to set the serial");
	ASN1_INTEGER_free(serial);
	BN_free(bn);
	return ret;
}

/*
 * X509-SVID.md allows an empty subject if the URI SAN is then critical. We
 * use a non-empty one instead: some TLS stacks and log tools still choke on
 * empty subjects, and a subject that differs from the CA's keeps the leaf
 * from ever looking self-issued. O=SPIFFE names the kind of certificate;
 * serialNumber (a PrintableString attribute) repeats the certificate serial
 * so every SVID's subject is unique, which makes logs that print only the
 * subject useful. The identity itself is only ever the URI SAN.
 */
static int set_subject(X509 *x, struct nt_err *err)
{
	X509_NAME *name = X509_get_subject_name(x);
	char serial[2 * SVID_SERIAL_BYTES + 1];

	if (x509__serial_hex(x, serial, sizeof(serial)))
		return nt_err_set(err, -EIO, "failed to format the serial");
	if (!X509_NAME_add_entry_by_NID(name, NID_organizationName,
					MBSTRING_ASC,
					(const unsigned char *)"SPIFFE", -1,
					-1, 0) ||
	    !X509_NAME_add_entry_by_NID(name, NID_serialNumber, MBSTRING_ASC,
					(const unsigned char *)serial, -1,
					-1, 0))
		return nt_err_ssl(err, -ENOMEM, "failed to set the subject");
	return 0;
}

/* The one URI SAN. Not critical: the subject is not empty. */
static int add_san(X509 *x, const struct spiffe_id *id, struct nt_err *err)
{
	return x509__add_uri_san(x, id->str, id->len, err);
}

/* basicConstraints critical cA=false: a leaf can never sign. */
static int add_basic_constraints(X509 *x, struct nt_err *err)
{
	BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();
	int ok;

	if (!bc)
		return nt_err_set(err, -ENOMEM, "out of memory");
	bc->ca = 0;
	ok = X509_add1_ext_i2d(x, NID_basic_constraints, bc, 1,
			       X509V3_ADD_DEFAULT) == 1;
	BASIC_CONSTRAINTS_free(bc);
	if (!ok)
		return nt_err_ssl(err, -ENOMEM,
				  "failed to add basic constraints");
	return 0;
}

/* keyUsage critical digitalSignature only. keyEncipherment and keyAgreement
 * are allowed but mean nothing for an ECDSA key in TLS 1.3. */
static int add_key_usage(X509 *x, struct nt_err *err)
{
	ASN1_BIT_STRING *ku = ASN1_BIT_STRING_new();
	int ok;

	if (!ku)
		return nt_err_set(err, -ENOMEM, "out of memory");
	ok = ASN1_BIT_STRING_set_bit(ku, 0, 1) &&	/* digitalSignature */
	     X509_add1_ext_i2d(x, NID_key_usage, ku, 1,
			       X509V3_ADD_DEFAULT) == 1;
	ASN1_BIT_STRING_free(ku);
	if (!ok)
		return nt_err_ssl(err, -ENOMEM, "failed to add key usage");
	return 0;
}

/* Both purposes: the proxy uses one SVID as client and as server. */
static int add_ext_key_usage(X509 *x, struct nt_err *err)
{
	EXTENDED_KEY_USAGE *eku = sk_ASN1_OBJECT_new_null();
	int ok;

	if (!eku)
		return nt_err_set(err, -ENOMEM, "out of memory");
	/* OBJ_nid2obj returns static objects: nothing to free per entry. */
	ok = sk_ASN1_OBJECT_push(eku, OBJ_nid2obj(NID_server_auth)) &&
	     sk_ASN1_OBJECT_push(eku, OBJ_nid2obj(NID_client_auth)) &&
	     X509_add1_ext_i2d(x, NID_ext_key_usage, eku, 0,
			       X509V3_ADD_DEFAULT) == 1;
	sk_ASN1_OBJECT_free(eku);
	if (!ok)
		return nt_err_ssl(err, -ENOMEM,
				  "failed to add extended key usage");
	return 0;
}

/* RFC 5280 4.2.1.2 method (1): SHA-1 of the subjectPublicKey bits. */
static int key_id(X509 *cert, ASN1_OCTET_STRING **out)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len;
	ASN1_OCTET_STRING *os;

	if (!X509_pubkey_digest(cert, EVP_sha1(), md, &len))
		return -EIO;
	os = ASN1_OCTET_STRING_new();
	if (!os || !ASN1_OCTET_STRING_set(os, md, (int)len)) {
		ASN1_OCTET_STRING_free(os);
		return -ENOMEM;
	}
	*out = os;
	return 0;
}

static int add_ski(X509 *x, struct nt_err *err)
{
	ASN1_OCTET_STRING *ski = NULL;
	int ret;

	ret = key_id(x, &ski);
	if (!ret && X509_add1_ext_i2d(x, NID_subject_key_identifier, ski, 0,
				      X509V3_ADD_DEFAULT) != 1)
		ret = -ENOMEM;
	ASN1_OCTET_STRING_free(ski);
	if (ret)
		return nt_err_ssl(err, ret,
				  "failed to add the subject key identifier");
	return 0;
}

/* AKI keyid = the CA's SKI, so path building picks the right CA generation
 * when old and new CAs share a subject during rotation. A CA without an SKI
 * gets the RFC 5280 hash of its key, which is what its SKI would hold. */
static int add_aki(X509 *x, X509 *ca, struct nt_err *err)
{
	const ASN1_OCTET_STRING *ca_ski = X509_get0_subject_key_id(ca);
	AUTHORITY_KEYID *akid = AUTHORITY_KEYID_new();
	int ret = 0;

	if (!akid)
		return nt_err_set(err, -ENOMEM, "out of memory");
	if (ca_ski) {
		akid->keyid = ASN1_OCTET_STRING_dup(ca_ski);
		if (!akid->keyid)
			ret = -ENOMEM;
	} else {
		ret = key_id(ca, &akid->keyid);
	}
	if (!ret && X509_add1_ext_i2d(x, NID_authority_key_identifier, akid,
				      0, X509V3_ADD_DEFAULT) != 1)
		ret = -ENOMEM;
	AUTHORITY_KEYID_free(akid);
	if (ret)
		return nt_err_ssl(err, ret,
				  "failed to add the authority key identifier");
	return 0;
}

static int add_extensions(X509 *x, X509 *ca, const struct spiffe_id *id,
			  struct nt_err *err)
{
	int ret;

	ret = add_san(x, id, err);
	if (!ret)
		ret = add_basic_constraints(x, err);
	if (!ret)
		ret = add_key_usage(x, err);
	if (!ret)
		ret = add_ext_key_usage(x, err);
	if (!ret)
		ret = add_ski(x, err);
	if (!ret)
		ret = add_aki(x, ca, err);
	return ret;
}

/* Everything that must hold before a key is spent on this request. Fills
 * the leaf's validity window. */
static int check_request(const struct svid_signer *signer,
			 const struct spiffe_id *id, int64_t ttl, time_t now,
			 time_t *nb, time_t *na, struct nt_err *err)
{
	struct spiffe_id ca_id;
	struct nt_err why;
	time_t ca_nb, ca_na;
	char when[32];
	int ret;

	if (!signer || !signer->ca_cert || !signer->ca_key || !id)
		return nt_err_set(err, -EINVAL, "svid mint: missing signer or id");
	if (ttl <= 0)
		return nt_err_set(err, -EINVAL,
				  "svid ttl must be positive, got %lld",
				  (long long)ttl);
	if (spiffe_id__path_len(id) == 0)
		return nt_err_set(err, -EINVAL,
				  "refusing to mint '%s': a leaf SVID needs a non-root path",
				  id->str);
	ret = x509__spiffe_id(signer->ca_cert, &ca_id, &why);
	if (ret)
		return nt_err_set(err, ret,
				  "ca certificate carries no usable SPIFFE ID: %s",
				  why.msg);
	if (ca_id.td_len != id->td_len || memcmp(ca_id.td, id->td, id->td_len))
		return nt_err_set(err, -EINVAL,
				  "refusing to mint '%s': the ca signs for trust domain '%s'",
				  id->str, ca_id.td);
	if (x509__validity(signer->ca_cert, &ca_nb, &ca_na))
		return nt_err_set(err, -EINVAL, "ca certificate has unreadable validity");
	if (now >= ca_na) {
		time__iso8601(ca_na, when, sizeof(when));
		return nt_err_set(err, -EKEYEXPIRED,
				  "ca certificate expired at %s", when);
	}
	if (now < ca_nb) {
		time__iso8601(ca_nb, when, sizeof(when));
		return nt_err_set(err, -EKEYEXPIRED,
				  "ca certificate not valid before %s", when);
	}
	if (X509_check_private_key(signer->ca_cert, signer->ca_key) != 1)
		return nt_err_ssl(err, -EINVAL,
				  "ca key does not match the ca certificate");
	*nb = now - SVID_BACKDATE;
	/* Never outlive the CA: a chain is only as valid as its shortest
	 * member, and a leaf that claims more misleads rotation logic. */
	*na = ttl > (int64_t)(ca_na - now) ? ca_na : now + (time_t)ttl;
	return 0;
}

static int build_leaf(const struct svid_signer *signer,
		      const struct spiffe_id *id, EVP_PKEY *key, time_t nb,
		      time_t na, X509 **out, struct nt_err *err)
{
	X509 *x = X509_new();
	int ret;

	if (!x)
		return nt_err_set(err, -ENOMEM, "out of memory");
	if (!X509_set_version(x, X509_VERSION_3) ||
	    !X509_set_issuer_name(x, X509_get_subject_name(signer->ca_cert)) ||
	    !X509_set_pubkey(x, key) ||
	    !ASN1_TIME_set(X509_getm_notBefore(x), nb) ||
	    !ASN1_TIME_set(X509_getm_notAfter(x), na)) {
		ret = nt_err_ssl(err, -ENOMEM, "failed to fill the certificate");
		goto fail;
	}
	ret = set_serial(x, err);
	if (!ret)
		ret = set_subject(x, err);
	if (!ret)
		ret = add_extensions(x, signer->ca_cert, id, err);
	if (ret)
		goto fail;
	if (!X509_sign(x, signer->ca_key, EVP_sha256())) {
		ret = nt_err_ssl(err, -EIO, "failed to sign the svid");
		goto fail;
	}
	*out = x;
	return 0;
fail:
	X509_free(x);
	return ret;
}

/* Up-refs @x onto @sk. */
static int push_ref(STACK_OF(X509) *sk, X509 *x)
{
	if (!X509_up_ref(x))
		return -ENOMEM;
	if (!sk_X509_push(sk, x)) {
		X509_free(x);
		return -ENOMEM;
	}
	return 0;
}

static int build_intermediates(const struct svid_signer *signer,
			       STACK_OF(X509) **out, struct nt_err *err)
{
	STACK_OF(X509) *sk = sk_X509_new_null();
	int i, ret = 0;

	if (!sk)
		return nt_err_set(err, -ENOMEM, "out of memory");
	if (!signer->ca_is_root)
		ret = push_ref(sk, signer->ca_cert);
	for (i = 0; !ret && signer->chain && i < sk_X509_num(signer->chain); i++)
		ret = push_ref(sk, sk_X509_value(signer->chain, i));
	if (ret) {
		sk_X509_pop_free(sk, X509_free);
		return nt_err_set(err, ret, "out of memory");
	}
	*out = sk;
	return 0;
}

int svid__mint(const struct svid_signer *signer, const struct spiffe_id *id,
	       int64_t ttl, time_t now, struct svid **out, struct nt_err *err)
{
	struct svid *s;
	time_t nb, na;
	int ret;

	ret = check_request(signer, id, ttl, now, &nb, &na, err);
	if (ret)
		return ret;
	s = calloc(1, sizeof(*s));
	if (!s)
		return nt_err_set(err, -ENOMEM, "out of memory");
	s->id = *id;
	ret = key__generate(&s->key, err);
	if (!ret)
		ret = build_leaf(signer, id, s->key, nb, na, &s->leaf, err);
	if (!ret)
		ret = build_intermediates(signer, &s->intermediates, err);
	if (ret) {
		svid__free(s);
		return ret;
	}
	*out = s;
	return 0;
}
