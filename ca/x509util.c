// SPDX-License-Identifier: Apache-2.0
/* PEM and X.509 helpers shared by the CA, the bundle code and the CLI. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "ca/ca.h"

int pem__read_certs(const char *pem, size_t len, STACK_OF(X509) **certs,
		    struct nt_err *err)
{
	STACK_OF(X509) *sk = NULL;
	char *name = NULL, *header = NULL;
	unsigned char *data = NULL;
	const unsigned char *p;
	long dlen;
	X509 *x;
	BIO *bio;
	int ret = 0, idx = 0;

	if (len > INT_MAX)
		return nt_err_set(err, -EFBIG, "certificate file too large");
	bio = BIO_new_mem_buf(pem, (int)len);
	sk = sk_X509_new_null();
	if (!bio || !sk) {
		ret = nt_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	/* PEM_read_bio gives every block, so anything that is not a
	 * certificate is seen and refused rather than skipped. */
	while (PEM_read_bio(bio, &name, &header, &data, &dlen)) {
		if (strcmp(name, "CERTIFICATE")) {
			ret = nt_err_set(err, -EINVAL,
					 "PEM block %d is '%s', expected CERTIFICATE",
					 idx, name);
			goto out;
		}
		p = data;
		x = d2i_X509(NULL, &p, dlen);
		if (!x || p != data + dlen) {
			X509_free(x);
			ret = nt_err_ssl(err, -EINVAL, NULL);
			nt_err_set(err, -EINVAL,
				   "PEM block %d is not a valid DER certificate",
				   idx);
			goto out;
		}
		if (!sk_X509_push(sk, x)) {
			X509_free(x);
			ret = nt_err_set(err, -ENOMEM, "out of memory");
			goto out;
		}
		OPENSSL_free(name);
		OPENSSL_free(header);
		OPENSSL_free(data);
		name = header = NULL;
		data = NULL;
		idx++;
	}
	ERR_clear_error();	/* the loop ends on "no start line" */
	if (idx == 0)
		ret = nt_err_set(err, -EINVAL, "no PEM certificate found");
out:
	OPENSSL_free(name);
	OPENSSL_free(header);
	OPENSSL_free(data);
	BIO_free(bio);
	if (ret) {
		sk_X509_pop_free(sk, X509_free);
		return ret;
	}
	*certs = sk;
	return 0;
}

int pem__read_key(const char *pem, size_t len, EVP_PKEY **key,
		  struct nt_err *err)
{
	EVP_PKEY *k;
	BIO *bio;

	if (len > INT_MAX)
		return nt_err_set(err, -EFBIG, "key file too large");
	bio = BIO_new_mem_buf(pem, (int)len);
	if (!bio)
		return nt_err_set(err, -ENOMEM, "out of memory");
	/* A NULL passphrase callback with "" means an encrypted key fails
	 * instead of prompting on the terminal. */
	k = PEM_read_bio_PrivateKey(bio, NULL, NULL, (void *)"");
	BIO_free(bio);
	if (!k)
		return nt_err_ssl(err, -EINVAL, "not a readable private key");
	*key = k;
	return 0;
}

static int bio_to_buf(BIO *bio, char **out, size_t *len, struct nt_err *err)
{
	char *data, *buf;
	long n;

	n = BIO_get_mem_data(bio, &data);
	if (n < 0)
		return nt_err_set(err, -EIO, "failed to read memory BIO");
	buf = malloc((size_t)n + 1);
	if (!buf)
		return nt_err_set(err, -ENOMEM, "out of memory");
	memcpy(buf, data, n);
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

int pem__write_key(EVP_PKEY *key, char **pem, size_t *len, struct nt_err *err)
{
	BIO *bio = BIO_new(BIO_s_secmem());
	int ret;

	if (!bio)
		bio = BIO_new(BIO_s_mem());
	if (!bio)
		return nt_err_set(err, -ENOMEM, "out of memory");
	if (!PEM_write_bio_PKCS8PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL))
		ret = nt_err_ssl(err, -EIO, "failed to encode private key");
	else
		ret = bio_to_buf(bio, pem, len, err);
	BIO_free(bio);	/* secmem BIOs are cleansed on free */
	return ret;
}

int pem__write_certs(X509 *const *certs, size_t n, char **pem, size_t *len,
		     struct nt_err *err)
{
	BIO *bio = BIO_new(BIO_s_mem());
	size_t i;
	int ret;

	if (!bio)
		return nt_err_set(err, -ENOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		if (!PEM_write_bio_X509(bio, certs[i])) {
			ret = nt_err_ssl(err, -EIO,
					 "failed to encode certificate");
			goto out;
		}
	}
	ret = bio_to_buf(bio, pem, len, err);
out:
	BIO_free(bio);
	return ret;
}

int key__generate(EVP_PKEY **key, struct nt_err *err)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");

	if (!k)
		return nt_err_ssl(err, -EIO, "failed to generate a P-256 key");
	*key = k;
	return 0;
}

int x509__spiffe_id(X509 *cert, struct spiffe_id *id, struct nt_err *err)
{
	GENERAL_NAMES *sans;
	const GENERAL_NAME *gn, *uri = NULL;
	int i, n, nuri = 0, crit = 0, ret;

	sans = X509_get_ext_d2i(cert, NID_subject_alt_name, &crit, NULL);
	if (!sans) {
		/* crit == -2: the extension appears twice, itself an error */
		if (crit == -2)
			return nt_err_set(err, -EINVAL,
					  "certificate has two subjectAltName extensions");
		return nt_err_set(err, -ENOENT,
				  "certificate has no URI SAN (no subjectAltName)");
	}
	n = sk_GENERAL_NAME_num(sans);
	for (i = 0; i < n; i++) {
		gn = sk_GENERAL_NAME_value(sans, i);
		if (gn->type == GEN_URI) {
			uri = gn;
			nuri++;
		}
	}
	if (nuri == 0)
		ret = nt_err_set(err, -ENOENT, "certificate has no URI SAN");
	else if (nuri > 1)
		ret = nt_err_set(err, -E2BIG,
				 "certificate has %d URI SANs, an X.509-SVID has exactly one",
				 nuri);
	else
		/* The SAN's own length, so an embedded NUL is caught by the
		 * parser instead of silently truncating the ID. */
		ret = spiffe_id__parse(id,
				       (const char *)ASN1_STRING_get0_data(uri->d.uniformResourceIdentifier),
				       (size_t)ASN1_STRING_length(uri->d.uniformResourceIdentifier),
				       err);
	GENERAL_NAMES_free(sans);
	return ret;
}

int x509__serial_hex(X509 *cert, char *buf, size_t size)
{
	BIGNUM *bn;
	char *hex, *p;
	int ret = 0;

	bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
	if (!bn)
		return -ENOMEM;
	hex = BN_bn2hex(bn);
	BN_free(bn);
	if (!hex)
		return -ENOMEM;
	for (p = hex; *p; p++)
		*p = (char)(*p >= 'A' && *p <= 'F' ? *p - 'A' + 'a' : *p);
	p = hex;
	while (p[0] == '0' && p[1])
		p++;
	if (strlen(p) >= size)
		ret = -ENOSPC;
	else
		strcpy(buf, p);
	OPENSSL_free(hex);
	return ret;
}

static int asn1_time_to_unix(const ASN1_TIME *t, time_t *out)
{
	struct tm tm;

	if (!ASN1_TIME_to_tm(t, &tm))
		return -EINVAL;
	*out = timegm(&tm);
	return 0;
}

int x509__validity(X509 *cert, time_t *not_before, time_t *not_after)
{
	int ret = 0;

	if (not_before)
		ret = asn1_time_to_unix(X509_get0_notBefore(cert), not_before);
	if (!ret && not_after)
		ret = asn1_time_to_unix(X509_get0_notAfter(cert), not_after);
	return ret;
}

int x509__add_uri_san(X509 *x, const char *uri_s, size_t len,
		      struct nt_err *err)
{
	GENERAL_NAMES *names = GENERAL_NAMES_new();
	ASN1_IA5STRING *uri = ASN1_IA5STRING_new();
	GENERAL_NAME *gn = GENERAL_NAME_new();
	int ret = -ENOMEM;

	/* By length: the ID is written exactly, never cut at a NUL. */
	if (!names || !uri || !gn || len > INT_MAX ||
	    !ASN1_STRING_set(uri, uri_s, (int)len))
		goto out;
	GENERAL_NAME_set0_value(gn, GEN_URI, uri);
	uri = NULL;
	if (!sk_GENERAL_NAME_push(names, gn))
		goto out;
	gn = NULL;
	if (X509_add1_ext_i2d(x, NID_subject_alt_name, names, 0,
			      X509V3_ADD_DEFAULT) == 1)
		ret = 0;
out:
	ASN1_IA5STRING_free(uri);
	GENERAL_NAME_free(gn);
	GENERAL_NAMES_free(names);
	if (ret)
		return nt_err_ssl(err, ret, "failed to add the URI SAN");
	return 0;
}
