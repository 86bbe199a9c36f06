/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers of the X.509-SVID tests (test_svid_*.c): files, the openssl
 * command line, bundle sets, and CAs built in C.
 */
#ifndef NAMETAG_TEST_FIXTURE_SVID_H
#define NAMETAG_TEST_FIXTURE_SVID_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509v3.h>

#include "ca/ca.h"
#include "tests/unit/harness.h"

#define DAY	86400

/* ---- small utilities --------------------------------------------------- */

static bool has(const char *msg, const char *want)
{
	return want && strstr(msg, want);
}

static void parse_id(struct spiffe_id *id, const char *s)
{
	struct nt_err err = { "" };
	int ret = spiffe_id__parse(id, s, strlen(s), &err);

	CHECKF(ret == 0, "parse %s: %s", s, err.msg);
}

static int write_file(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "w");
	size_t n;

	if (!f)
		return -errno;
	n = fwrite(data, 1, len, f);
	if (fclose(f) || n != len)
		return -EIO;
	return 0;
}

/* Runs a shell command built from @fmt; its output goes to a log in the
 * temp dir so a failing case can be inspected with T_KEEP=1. */
static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[4096], full[4400];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(cmd))
		return -1;
	/* A subshell, so the redirect covers every command of a chain. */
	snprintf(full, sizeof(full), "(%s) >>'%s/sh.log' 2>&1", cmd, t_tmpdir());
	return system(full);
}

static X509 *read_cert_file(const char *path, STACK_OF(X509) **rest)
{
	struct nt_err err = { "" };
	STACK_OF(X509) *sk = NULL;
	char buf[65536];
	X509 *x = NULL;
	size_t n;
	FILE *f;

	f = fopen(path, "r");
	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	if (pem__read_certs(buf, n, &sk, &err)) {
		printf("    %s: %s\n", path, err.msg);
		return NULL;
	}
	x = sk_X509_shift(sk);
	if (rest)
		*rest = sk;
	else
		sk_X509_pop_free(sk, X509_free);
	return x;
}

/* A set of bundles, one per (td, authority) pair given, NULL-terminated. */
static struct bundle_set *bundles_of(const char *td, X509 *ca, ...)
{
	struct nt_err err = { "" };
	struct bundle_set *set = NULL;
	struct bundle *b;
	va_list ap;

	if (bundle_set__new(&set))
		return NULL;
	va_start(ap, ca);
	while (td) {
		b = NULL;
		if (bundle__new(&b, td, &err) ||
		    (ca && bundle__add_authority(b, ca, &err) < 0) ||
		    bundle_set__add(set, b, &err)) {
			printf("    bundle %s: %s\n", td, err.msg);
			bundle__free(b);
			bundle_set__free(set);
			set = NULL;
			break;
		}
		td = va_arg(ap, const char *);
		if (td)
			ca = va_arg(ap, X509 *);
	}
	va_end(ap);
	return set;
}

/* ---- fixtures built in C ----------------------------------------------- */

struct fx_ext {
	int nid;
	const char *value;
};

struct fx {
	X509 *cert;
	EVP_PKEY *key;
};

static void fx_free(struct fx *f)
{
	X509_free(f->cert);
	EVP_PKEY_free(f->key);
	f->cert = NULL;
	f->key = NULL;
}

/* A certificate for a fresh key, signed by @issuer (self-signed when NULL),
 * with extensions written in openssl's config syntax. */
static int fx_make(struct fx *out, const char *cn, const struct fx *issuer,
		   time_t nb, time_t na, const struct fx_ext *exts)
{
	struct nt_err err = { "" };
	X509_EXTENSION *ext;
	X509V3_CTX v3;
	X509 *x = X509_new();
	EVP_PKEY *key = NULL;
	X509_NAME *name;
	int ok;

	if (!x || key__generate(&key, &err))
		goto fail;
	name = X509_get_subject_name(x);
	ok = X509_set_version(x, X509_VERSION_3) &&
	     ASN1_INTEGER_set(X509_get_serialNumber(x), (long)nb & 0xffffff) &&
	     X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
					(const unsigned char *)"nametag test",
					-1, -1, 0) &&
	     X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
					(const unsigned char *)cn, -1, -1, 0) &&
	     X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer->cert)
					    : name) &&
	     X509_set_pubkey(x, key) &&
	     ASN1_TIME_set(X509_getm_notBefore(x), nb) &&
	     ASN1_TIME_set(X509_getm_notAfter(x), na);
	if (!ok)
		goto fail;
	X509V3_set_ctx(&v3, issuer ? issuer->cert : x, x, NULL, NULL, 0);
	for (; exts && exts->value; exts++) {
		ext = X509V3_EXT_conf_nid(NULL, &v3, exts->nid, exts->value);
		ok = ext && X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
		if (!ok)
			goto fail;
	}
	if (!X509_sign(x, issuer ? issuer->key : key, EVP_sha256()))
		goto fail;
	out->cert = x;
	out->key = key;
	return 0;
fail:
	X509_free(x);
	EVP_PKEY_free(key);
	return -1;
}

/* A CA for trust domain @td: URI SAN spiffe://TD, cA=true critical,
 * keyCertSign+cRLSign critical, SKI (and AKI when not self-signed). */
static int fx_ca(struct fx *out, const char *td, const struct fx *issuer,
		 time_t nb, time_t na)
{
	char san[SPIFFE_ID_MAX + 8];
	struct fx_ext exts[] = {
		{ NID_basic_constraints, "critical,CA:TRUE" },
		{ NID_key_usage, "critical,keyCertSign,cRLSign" },
		{ NID_subject_key_identifier, "hash" },
		{ NID_subject_alt_name, san },
		{ NID_authority_key_identifier, issuer ? "keyid:always" : NULL },
		{ 0, NULL },
	};
	char cn[SPIFFE_TD_MAX + 16];

	snprintf(san, sizeof(san), "URI:spiffe://%s", td);
	snprintf(cn, sizeof(cn), "%s %s", td, issuer ? "intermediate" : "root");
	return fx_make(out, cn, issuer, nb, na, exts);
}

#endif
