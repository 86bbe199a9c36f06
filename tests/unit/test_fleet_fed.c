// SPDX-License-Identifier: Apache-2.0
/*
 * Federation's values in etcd (enforce/fleet_fed.c, docs/fleet.md
 * "Federation"): endpoint URLs, the profile, what a fetched bundle must
 * be, the refresh bounds and staleness, the stored value's round trip.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "enforce/enforce.h"
#include "tests/unit/harness.h"

static void add_ext(X509 *x, int nid, const char *value)
{
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, NULL, nid, value);

	CHECK(e && X509_add_ext(x, e, -1));
	X509_EXTENSION_free(e);
}

/* A self-signed CA certificate with URI SAN @uri (NULL: none). */
static X509 *ca_cert(const char *uri)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();

	CHECK(k && x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)"test CA", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_set_pubkey(x, k);
	add_ext(x, NID_basic_constraints, "critical,CA:TRUE");
	add_ext(x, NID_key_usage, "critical,keyCertSign,cRLSign");
	if (uri)
		CHECK(!x509__add_uri_san(x, uri, strlen(uri), NULL));
	CHECK(X509_sign(x, k, EVP_sha256()) > 0);
	EVP_PKEY_free(k);
	return x;
}

static struct bundle *bundle_with(const char *td, const char *uri)
{
	struct bundle *b = NULL;
	X509 *x = ca_cert(uri);

	CHECK(!bundle__new(&b, td, NULL));
	CHECK(bundle__add_authority(b, x, NULL) == 1);
	X509_free(x);
	return b;
}

static void test_url(void)
{
	static const struct {
		const char *url;
		int want;
	} rows[] = {
		{ "https://bundles.example.org/v1/bundle", 0 },
		{ "https://127.0.0.1:8443/", 0 },
		{ "http://bundles.example.org/", -EINVAL },
		{ "https://", -EINVAL },
		{ "https:///path", -EINVAL },
		{ "https://a b/", -EINVAL },
		{ "https://a\n/", -EINVAL },
		{ "ftp://x/", -EINVAL },
	};
	struct nt_err err;
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		err.msg[0] = '\0';
		CHECKF(fleet_fed__check_url(rows[i].url, &err) == rows[i].want,
		       "%s: %s", rows[i].url, err.msg);
	}
}

static int parse(struct fleet_fed *f, const char *json, struct nt_err *err)
{
	return fleet_fed__parse(f, "other.org", json, strlen(json), err);
}

static void test_config(void)
{
	struct fleet_fed f;
	struct nt_err err = {};
	char *json = NULL;
	const char *good = "{\"endpoint_url\":\"https://b.other.org/x\",\"profile\":\"https_web\"}";

	CHECKF(!fleet_fed__parse(&f, "other.org", good, strlen(good), &err), "%s", err.msg);
	CHECK(!strcmp(f.url, "https://b.other.org/x") && !strcmp(f.td, "other.org"));
	CHECK(!fleet_fed__to_json(&f, &json, &err) && !strcmp(json, good));
	free(json);
	CHECK(parse(&f, "{\"endpoint_url\":\"https://b/\",\"profile\":\"https_spiffe\"}",
		    &err) == -EOPNOTSUPP);
	CHECK(strstr(err.msg, "only https_web"));
	CHECK(parse(&f, "{\"endpoint_url\":\"https://b/\",\"profile\":\"https_web\",\"x\":1}",
		    &err) == -EINVAL);
	CHECK(parse(&f, "{\"endpoint_url\":\"http://b/\",\"profile\":\"https_web\"}",
		    &err) == -EINVAL);
	CHECK(fleet_fed__parse(&f, "Other..org", good, strlen(good), &err) == -EINVAL);
}

static void test_check_bundle(void)
{
	struct bundle *b;
	struct nt_err err = {};

	b = bundle_with("other.org", "spiffe://other.org");
	CHECKF(!fleet_fed__check_bundle(b, "fleet.org", &err), "%s", err.msg);
	CHECK(fleet_fed__check_bundle(b, "other.org", &err) == -EPERM);
	bundle__free(b);
	b = bundle_with("other.org", NULL);	/* a CA naming no domain */
	CHECK(!fleet_fed__check_bundle(b, "fleet.org", &err));
	bundle__free(b);
	b = bundle_with("other.org", "spiffe://third.org");
	CHECK(fleet_fed__check_bundle(b, "fleet.org", &err) == -EINVAL);
	CHECK(strstr(err.msg, "of trust domain third.org"));
	bundle__free(b);
	CHECK(!bundle__new(&b, "other.org", NULL));
	CHECK(fleet_fed__check_bundle(b, "fleet.org", &err) == -EINVAL);
	CHECK(strstr(err.msg, "no authority"));
	bundle__free(b);
}

static void test_refresh_stale(void)
{
	struct fleet_fed_bundle fb = {};
	struct bundle *b = bundle_with("other.org", NULL);

	CHECK(fleet_fed__refresh(b, 0) == BUNDLE_REFRESH_HINT);
	b->has_refresh_hint = true;
	b->refresh_hint = 1;
	CHECK(fleet_fed__refresh(b, 0) == FLEET_FED_REFRESH_MIN);
	CHECK(fleet_fed__refresh(b, 1) == 1);
	b->refresh_hint = 86400;
	CHECK(fleet_fed__refresh(b, 0) == FLEET_FED_REFRESH_MAX);
	fb.fetched_at = 1000;
	fb.refresh_hint = 60;
	CHECK(!fleet_fed__stale(&fb, 1000 + 3 * 60));
	CHECK(fleet_fed__stale(&fb, 1000 + 3 * 60 + 1));
	bundle__free(b);
}

static void test_value_round_trip(void)
{
	struct fleet_fed_bundle fb = { .fetched_at = 1700000000, .refresh_hint = 300 }, back;
	struct nt_err err = {};
	char *json = NULL;

	fb.b = bundle_with("other.org", "spiffe://other.org");
	snprintf(fb.url, sizeof(fb.url), "https://b.other.org/");
	CHECKF(!fleet_fed_bundle__to_json(&fb, &json, &err), "%s", err.msg);
	CHECKF(!fleet_fed_bundle__parse(&back, "other.org", "fleet.org", json,
					strlen(json), &err), "%s", err.msg);
	CHECK(back.b && bundle__same_authorities(fb.b, back.b));
	CHECK(back.fetched_at == fb.fetched_at && back.refresh_hint == 300);
	CHECK(!strcmp(back.url, fb.url));
	fleet_fed_bundle__release(&back);
	/* Under another domain's key, or for our own domain: refused. */
	CHECK(fleet_fed_bundle__parse(&back, "third.org", "fleet.org", json,
				      strlen(json), &err) == -EINVAL);
	CHECK(fleet_fed_bundle__parse(&back, "other.org", "other.org", json,
				      strlen(json), &err) == -EPERM);
	CHECK(!back.b);
	free(json);
	fleet_fed_bundle__release(&fb);
}

T_MAIN("fleet/federation",
       T(test_url),
       T(test_config),
       T(test_check_bundle),
       T(test_refresh_stale),
       T(test_value_round_trip));
