// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target for svid__verify: the peer's certificate chain is the
 * outside input a node proxy verifies on every handshake.
 *
 * The input is a chain as PEM (pem__read_certs) or, failing that, DER
 * certificates back to back. The first is the leaf, the rest are offered
 * as intermediates, and all is verified against one fixed bundle at a fixed
 * time, so a run is reproducible. On success the returned ID must parse
 * again to itself and belong to the bundle's trust domain.
 *
 * The CA key below is a test fixture and protects nothing. The seed corpus
 * (tests/fuzz/corpus/fuzz_svid_verify/) was made with the openssl command
 * line from that key: a self-signed CA with subject /O=nametag fuzz/CN=fuzz
 * CA, leaves and an intermediate CA signed by it with -days 36500 (so they
 * are valid at FUZZ_NOW), the same as DER, a truncated DER, and garbage.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "ca/ca.h"
#include "tests/fuzz/fuzz.h"

#define FUZZ_TD		"fuzz.test"
#define FUZZ_NOW	2208988800	/* 2040-01-01T00:00:00Z */
#define FUZZ_CA_FROM	1577836800	/* 2020-01-01T00:00:00Z */
#define FUZZ_CA_UNTIL	4102444799	/* 2099-12-31T23:59:59Z */
#define FUZZ_MAX_INPUT	(64 * 1024)
#define FUZZ_MAX_CERTS	16

static const char fuzz_ca_key[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgbr01mNizg8t3sQ66\n"
	"stP5TwPp7tq0Lrg/GzyodcSU4kahRANCAATZp70Ne8EmfSK4HhGDAZUoPnvLY5M8\n"
	"P3VLvMGcssdyvTD7aYA1MDVB3nFRA132Cst+yJo8w+arG5UhBjvqfhzO\n"
	"-----END PRIVATE KEY-----\n";

static struct bundle_set *fuzz_bundles;

static int add_ext(X509 *x, int nid, const char *value)
{
	X509_EXTENSION *ext;
	X509V3_CTX v3;
	int ok;

	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	ok = ext && X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -1;
}

/* The CA of the bundle, self-signed, with a fixed name, serial and
 * validity; its subject and key match the CA the corpus was made with. */
static X509 *make_ca(EVP_PKEY *key)
{
	X509 *x = X509_new();
	X509_NAME *name;

	if (!x)
		return NULL;
	name = X509_get_subject_name(x);
	if (!X509_set_version(x, X509_VERSION_3) ||
	    !ASN1_INTEGER_set(X509_get_serialNumber(x), 1) ||
	    !X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
					(const unsigned char *)"nametag fuzz",
					-1, -1, 0) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
					(const unsigned char *)"fuzz CA",
					-1, -1, 0) ||
	    !X509_set_issuer_name(x, name) || !X509_set_pubkey(x, key) ||
	    !ASN1_TIME_set(X509_getm_notBefore(x), FUZZ_CA_FROM) ||
	    !ASN1_TIME_set(X509_getm_notAfter(x), FUZZ_CA_UNTIL) ||
	    add_ext(x, NID_basic_constraints, "critical,CA:TRUE") ||
	    add_ext(x, NID_key_usage, "critical,keyCertSign,cRLSign") ||
	    add_ext(x, NID_subject_key_identifier, "hash") ||
	    add_ext(x, NID_subject_alt_name, "URI:spiffe://" FUZZ_TD) ||
	    !X509_sign(x, key, EVP_sha256())) {
		X509_free(x);
		return NULL;
	}
	return x;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct nt_err err = { "" };
	struct bundle *b = NULL;
	EVP_PKEY *key = NULL;
	X509 *ca = NULL;

	(void)argc;
	(void)argv;
	if (pem__read_key(fuzz_ca_key, sizeof(fuzz_ca_key) - 1, &key, &err) ||
	    !(ca = make_ca(key)) || bundle__new(&b, FUZZ_TD, &err) ||
	    bundle__add_authority(b, ca, &err) < 0 ||
	    bundle_set__new(&fuzz_bundles) ||
	    bundle_set__add(fuzz_bundles, b, &err))
		abort();	/* a broken harness must not look like a pass */
	X509_free(ca);		/* the bundle holds its own reference */
	EVP_PKEY_free(key);
	return 0;
}

/* Certificates in DER, back to back, the whole input and nothing else. */
static STACK_OF(X509) *read_der(const uint8_t *data, size_t size)
{
	STACK_OF(X509) *sk = sk_X509_new_null();
	const unsigned char *p = data, *end = data + size;
	X509 *x;

	while (sk && p < end && sk_X509_num(sk) < FUZZ_MAX_CERTS) {
		x = d2i_X509(NULL, &p, end - p);
		if (!x || !sk_X509_push(sk, x)) {
			X509_free(x);
			goto fail;
		}
	}
	if (sk && p == end && sk_X509_num(sk) > 0)
		return sk;
fail:
	sk_X509_pop_free(sk, X509_free);
	return NULL;
}

/* What must hold of any verdict, accepted or not. */
static void check_result(int ret, const struct spiffe_id *id,
			 const struct nt_err *err)
{
	struct spiffe_id again;

	if (ret > 0)
		abort();
	if (ret < 0) {
		/* every refusal explains itself */
		if (!memchr(err->msg, '\0', sizeof(err->msg)) || !err->msg[0])
			abort();
		return;
	}
	if (spiffe_id__parse(&again, id->str, id->len, NULL) ||
	    !spiffe_id__equal(&again, id) || spiffe_id__path_len(id) == 0 ||
	    strcmp(id->td, FUZZ_TD))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct svid_verify_opts opts = { .now = FUZZ_NOW, .skew = 0 };
	struct nt_err err = { "" };
	STACK_OF(X509) *certs = NULL;
	struct spiffe_id id;
	X509 *leaf;
	int ret;

	if (size > FUZZ_MAX_INPUT)
		return 0;
	if (pem__read_certs((const char *)data, size, &certs, NULL))
		certs = read_der(data, size);
	if (!certs)
		goto out;
	leaf = sk_X509_shift(certs);
	ret = svid__verify(leaf, certs, fuzz_bundles, &opts, &id, &err);
	check_result(ret, &id, &err);
	X509_free(leaf);
	sk_X509_pop_free(certs, X509_free);
out:
	ERR_clear_error();
	return 0;
}
