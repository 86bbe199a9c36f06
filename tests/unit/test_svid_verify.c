// SPDX-License-Identifier: Apache-2.0
/*
 * X.509-SVID verification (ca/verify.c): times along the chain, failing
 * closed, and a table of certificates made by the openssl command line.
 * Minting is in test_svid_mint.c.
 *
 * Two sources of certificates, so nametag never grades only its own work:
 * fixtures built here in C, and certificates made by the openssl command
 * line.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/x509v3.h>

#include "ca/ca.h"
#include "tests/unit/fixture_svid.h"
#include "tests/unit/harness.h"

static int write_str(const char *path, const char *s)
{
	return write_file(path, s, strlen(s));
}

/* ---- verify ------------------------------------------------------------ */

/* Time checks cover every certificate of the chain, named by depth. */
static void test_verify_chain_times(void)
{
	struct nt_err err = { "" };
	time_t now = time(NULL);
	struct fx root = { 0 }, inter = { 0 };
	struct svid_signer signer = { 0 };
	struct bundle_set *set = NULL;
	struct svid *s = NULL;
	struct spiffe_id id;
	struct svid_verify_opts opts = { .now = now };
	int ret;

	/* a root that ends before its intermediate (nothing forbids it) */
	CHECK(fx_ca(&root, "a.test", NULL, now - 3600, now + 600) == 0);
	CHECK(fx_ca(&inter, "a.test", &root, now - 3600, now + DAY) == 0);
	signer = (struct svid_signer){ inter.cert, inter.key, NULL, false };
	parse_id(&id, "spiffe://a.test/web");
	CHECK(svid__mint(&signer, &id, 3600, now, &s, &err) == 0);
	set = bundles_of("a.test", root.cert, NULL);
	if (!s || !set)
		goto out;
	CHECKF(svid__verify(s->leaf, s->intermediates, set, &opts, NULL,
			    &err) == 0, "%s", err.msg);
	opts.now = now + 1200;
	ret = svid__verify(s->leaf, s->intermediates, set, &opts, NULL, &err);
	CHECK(ret == -EKEYEXPIRED);
	CHECKF(has(err.msg, "certificate 2 of the chain (CN=a.test root,O=nametag test) expired at"),
	       "%s", err.msg);
	opts.skew = 600;	/* exactly enough */
	CHECKF(svid__verify(s->leaf, s->intermediates, set, &opts, NULL,
			    &err) == 0, "%s", err.msg);
	opts.now = now + 3600 + 1;
	opts.skew = 0;
	ret = svid__verify(s->leaf, s->intermediates, set, &opts, NULL, &err);
	CHECK(ret == -EKEYEXPIRED && has(err.msg, "leaf expired at"));
	opts.now = now - 3600 - 60;
	ret = svid__verify(s->leaf, s->intermediates, set, &opts, NULL, &err);
	CHECK(ret == -EKEYEXPIRED && has(err.msg, "leaf not valid before"));
	opts.now = now - 3000;
	ret = svid__verify(s->leaf, s->intermediates, set, &opts, NULL, &err);
	CHECK(ret == -EKEYEXPIRED && has(err.msg, "leaf not valid before"));
	opts.skew = 3000;
	CHECKF(svid__verify(s->leaf, s->intermediates, set, &opts, NULL,
			    &err) == 0, "%s", err.msg);
	opts.skew = -1;
	CHECK(svid__verify(s->leaf, s->intermediates, set, &opts, NULL,
			   &err) == -EINVAL);
out:
	bundle_set__free(set);
	svid__free(s);
	fx_free(&inter);
	fx_free(&root);
}

/* Verification happens at opts->now, never at the wall clock: an SVID
 * from ten days ago verifies at that time and not today. */
static void test_verify_at_given_time(void)
{
	time_t now = time(NULL), then = now - 10 * DAY;
	struct svid_signer signer = { .ca_is_root = true };
	struct svid_verify_opts opts = { .now = then };
	struct nt_err err = { "" };
	struct bundle_set *set = NULL;
	struct svid *s = NULL;
	struct spiffe_id id;
	struct fx ca = { 0 };

	CHECK(fx_ca(&ca, "a.test", NULL, then - 3600, then + DAY) == 0);
	signer.ca_cert = ca.cert;
	signer.ca_key = ca.key;
	parse_id(&id, "spiffe://a.test/web");
	CHECK(svid__mint(&signer, &id, 3600, then, &s, &err) == 0);
	set = bundles_of("a.test", ca.cert, NULL);
	if (s && set) {
		CHECKF(svid__verify(s->leaf, NULL, set, &opts, NULL, &err) == 0,
		       "%s", err.msg);
		opts.now = now;
		CHECK(svid__verify(s->leaf, NULL, set, &opts, NULL, &err) ==
		      -EKEYEXPIRED);
	}
	bundle_set__free(set);
	svid__free(s);
	fx_free(&ca);
}

/* A bundle for the trust domain that holds no authority fails closed, as
 * does a NULL argument. */
static void test_verify_fails_closed(void)
{
	struct nt_err err = { "" };
	time_t now = time(NULL);
	struct svid_verify_opts opts = { .now = now };
	struct svid_signer signer = { .ca_is_root = true };
	struct bundle_set *set = NULL;
	struct svid *s = NULL;
	struct spiffe_id id;
	struct fx ca = { 0 };

	CHECK(fx_ca(&ca, "a.test", NULL, now - 3600, now + DAY) == 0);
	signer.ca_cert = ca.cert;
	signer.ca_key = ca.key;
	parse_id(&id, "spiffe://a.test/web");
	CHECK(svid__mint(&signer, &id, 60, now, &s, &err) == 0);
	set = bundles_of("a.test", NULL, NULL);
	if (!s || !set)
		goto out;
	CHECK(svid__verify(s->leaf, NULL, set, &opts, NULL, &err) == -ENOKEY);
	CHECK(!strcmp(svid__failure_cause(-ENOKEY, err.msg), "unknown trust domain"));
	CHECKF(has(err.msg, "holds no X.509 authority"), "%s", err.msg);
	CHECK(svid__verify(NULL, NULL, set, &opts, NULL, &err) == -EINVAL);
	CHECK(svid__verify(s->leaf, NULL, NULL, &opts, NULL, &err) == -EINVAL);
	CHECK(svid__verify(s->leaf, NULL, set, NULL, NULL, &err) == -EINVAL);
out:
	bundle_set__free(set);
	svid__free(s);
	fx_free(&ca);
}

/* ---- certificates from the openssl command line ------------------------ */

#define CLI_BC_LEAF	"basicConstraints=critical,CA:FALSE\n"
#define CLI_KU_LEAF	"keyUsage=critical,digitalSignature\n"
#define CLI_EKU_BOTH	"extendedKeyUsage=serverAuth,clientAuth\n"
#define CLI_KEYIDS	"subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\n"
#define CLI_LEAF(san)	CLI_BC_LEAF CLI_KU_LEAF CLI_EKU_BOTH CLI_KEYIDS \
			"subjectAltName=" san "\n"
#define CLI_CA(td)	"basicConstraints=critical,CA:TRUE\n"		\
			"keyUsage=critical,keyCertSign,cRLSign\n"	\
			"subjectKeyIdentifier=hash\n"			\
			"subjectAltName=URI:spiffe://" td "\n"
#define CLI_SUBCA(san)	"basicConstraints=critical,CA:TRUE\n"		\
			"keyUsage=critical,keyCertSign,cRLSign\n"	\
			CLI_KEYIDS "subjectAltName=" san "\n"

struct cli_cert {
	const char *name;
	const char *issuer;	/* NULL: a self-signed root */
	int days;
	const char *ext;	/* openssl config lines */
};

/* Issuers come before what they sign. */
static const struct cli_cert cli_certs[] = {
	{ "root_a", NULL, 3650, CLI_CA("a.test") },
	{ "root_b", NULL, 3650, CLI_CA("b.test") },
	{ "good", "root_a", 1, CLI_LEAF("URI:spiffe://a.test/web") },
	{ "good_dns", "root_a", 1,
	  CLI_LEAF("URI:spiffe://a.test/web,DNS:web.a.test") },
	{ "no_eku", "root_a", 1, CLI_BC_LEAF CLI_KU_LEAF CLI_KEYIDS
	  "subjectAltName=URI:spiffe://a.test/web\n" },
	{ "no_bc", "root_a", 1, CLI_KU_LEAF CLI_EKU_BOTH CLI_KEYIDS
	  "subjectAltName=URI:spiffe://a.test/web\n" },
	{ "two_uris", "root_a", 1,
	  CLI_LEAF("URI:spiffe://a.test/web,URI:spiffe://a.test/db") },
	{ "no_uri", "root_a", 1, CLI_LEAF("DNS:web.a.test") },
	{ "no_san", "root_a", 1, CLI_BC_LEAF CLI_KU_LEAF CLI_EKU_BOTH
	  CLI_KEYIDS },
	{ "dns_spiffe", "root_a", 1, CLI_LEAF("DNS:spiffe://a.test/web") },
	{ "https_uri", "root_a", 1, CLI_LEAF("URI:https://a.test/web") },
	{ "root_id", "root_a", 1, CLI_LEAF("URI:spiffe://a.test") },
	{ "ca_leaf", "root_a", 1, "basicConstraints=critical,CA:TRUE\n"
	  CLI_KU_LEAF CLI_EKU_BOTH CLI_KEYIDS
	  "subjectAltName=URI:spiffe://a.test/web\n" },
	{ "ku_certsign", "root_a", 1, CLI_BC_LEAF
	  "keyUsage=critical,digitalSignature,keyCertSign\n" CLI_EKU_BOTH
	  CLI_KEYIDS "subjectAltName=URI:spiffe://a.test/web\n" },
	{ "ku_crlsign", "root_a", 1, CLI_BC_LEAF
	  "keyUsage=critical,digitalSignature,cRLSign\n" CLI_EKU_BOTH
	  CLI_KEYIDS "subjectAltName=URI:spiffe://a.test/web\n" },
	{ "ku_noncrit", "root_a", 1, CLI_BC_LEAF
	  "keyUsage=digitalSignature\n" CLI_EKU_BOTH CLI_KEYIDS
	  "subjectAltName=URI:spiffe://a.test/web\n" },
	{ "ku_none", "root_a", 1, CLI_BC_LEAF CLI_EKU_BOTH CLI_KEYIDS
	  "subjectAltName=URI:spiffe://a.test/web\n" },
	{ "ku_no_ds", "root_a", 1, CLI_BC_LEAF
	  "keyUsage=critical,keyAgreement\n" CLI_EKU_BOTH CLI_KEYIDS
	  "subjectAltName=URI:spiffe://a.test/web\n" },
	{ "eku_server", "root_a", 1, CLI_BC_LEAF CLI_KU_LEAF
	  "extendedKeyUsage=serverAuth\n" CLI_KEYIDS
	  "subjectAltName=URI:spiffe://a.test/web\n" },
	{ "eku_client", "root_a", 1, CLI_BC_LEAF CLI_KU_LEAF
	  "extendedKeyUsage=clientAuth\n" CLI_KEYIDS
	  "subjectAltName=URI:spiffe://a.test/web\n" },
	{ "by_b", "root_b", 1, CLI_LEAF("URI:spiffe://a.test/web") },
	{ "td_c", "root_a", 1, CLI_LEAF("URI:spiffe://c.test/web") },
	{ "leaf1", "root_a", 1, CLI_LEAF("URI:spiffe://a.test/l1") },
	{ "via_leaf", "leaf1", 1, CLI_LEAF("URI:spiffe://a.test/l2") },
	{ "signing_nonca", "root_a", 1, CLI_BC_LEAF
	  "keyUsage=critical,keyCertSign\n" CLI_KEYIDS
	  "subjectAltName=URI:spiffe://a.test\n" },
	{ "via_nonca", "signing_nonca", 1, CLI_LEAF("URI:spiffe://a.test/l3") },
	{ "inter", "root_a", 30, CLI_SUBCA("URI:spiffe://a.test") },
	{ "via_inter", "inter", 1, CLI_LEAF("URI:spiffe://a.test/deep") },
	{ "inter_path", "root_a", 30, CLI_SUBCA("URI:spiffe://a.test/ca") },
	{ "via_inter_path", "inter_path", 1, CLI_LEAF("URI:spiffe://a.test/x") },
	{ "inter_b", "root_a", 30, CLI_SUBCA("URI:spiffe://b.test") },
	{ "via_inter_b", "inter_b", 1, CLI_LEAF("URI:spiffe://a.test/y") },
	{ "inter_plain", "root_a", 30, CLI_SUBCA("DNS:ca.a.test") },
	{ "via_inter_plain", "inter_plain", 1,
	  CLI_LEAF("URI:spiffe://a.test/z") },
	/* X509_V_FLAG_X509_STRICT: RFC 5280 profile checks */
	{ "no_aki", "root_a", 1, CLI_BC_LEAF CLI_KU_LEAF CLI_EKU_BOTH
	  "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=none\n"
	  "subjectAltName=URI:spiffe://a.test/web\n" },
	{ "inter_bc_noncrit", "root_a", 30, "basicConstraints=CA:TRUE\n"
	  "keyUsage=critical,keyCertSign,cRLSign\n" CLI_KEYIDS
	  "subjectAltName=URI:spiffe://a.test\n" },
	{ "via_bc_noncrit", "inter_bc_noncrit", 1,
	  CLI_LEAF("URI:spiffe://a.test/w") },
	/* same name as root_a, another key: an impostor */
	{ "fake_a", NULL, 3650, CLI_CA("a.test") },
	{ "by_fake", "fake_a", 1, CLI_LEAF("URI:spiffe://a.test/web") },
};

#define N_CLI (sizeof(cli_certs) / sizeof(cli_certs[0]))

static struct {
	bool tried, ready;
	time_t t0;		/* just after the certificates were made */
	X509 *cert[N_CLI];
} cli;

/* At exit, so a run under ASan ends with no leak whichever cases ran. */
static void cli_free(void)
{
	size_t i;

	for (i = 0; i < N_CLI; i++)
		X509_free(cli.cert[i]);
}

static X509 *cli_get(const char *name)
{
	size_t i;

	for (i = 0; i < N_CLI; i++)
		if (!strcmp(cli_certs[i].name, name))
			return cli.cert[i];
	return NULL;
}

static const char *cli_subject(const struct cli_cert *c)
{
	/* fake_a copies root_a's name on purpose */
	return !strcmp(c->name, "fake_a") ? "root_a" : c->name;
}

static int cli_make(const struct cli_cert *c, int serial)
{
	const char *d = t_tmpdir();
	char path[512], ext[2048];

	snprintf(ext, sizeof(ext), "[req]\ndistinguished_name=dn\n[dn]\n"
		 "[ext]\n%s", c->ext);
	snprintf(path, sizeof(path), "%s/cli/%s.cnf", d, c->name);
	if (write_str(path, ext))
		return -1;
	if (sh("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out '%s/cli/%s.key'",
	       d, c->name))
		return -1;
	if (!c->issuer)
		return sh("openssl req -new -x509 -key '%s/cli/%s.key' -config '%s' -extensions ext -subj '/O=nametag cli/CN=%s' -days %d -set_serial %d -out '%s/cli/%s.pem'",
			  d, c->name, path, cli_subject(c), c->days, serial, d,
			  c->name);
	if (sh("openssl req -new -key '%s/cli/%s.key' -config '%s' -subj '/O=nametag cli/CN=%s' -out '%s/cli/%s.csr'",
	       d, c->name, path, c->name, d, c->name))
		return -1;
	return sh("openssl x509 -req -in '%s/cli/%s.csr' -CA '%s/cli/%s.pem' -CAkey '%s/cli/%s.key' -set_serial %d -days %d -extfile '%s' -extensions ext -out '%s/cli/%s.pem'",
		  d, c->name, d, c->issuer, d, c->issuer, serial, c->days, path,
		  d, c->name);
}

static bool cli_setup(void)
{
	char path[512];
	size_t i;

	if (cli.tried)
		return cli.ready;
	cli.tried = true;
	atexit(cli_free);
	snprintf(path, sizeof(path), "%s/cli", t_tmpdir());
	if (mkdir(path, 0700)) {
		printf("    mkdir %s: %s\n", path, strerror(errno));
		return false;
	}
	for (i = 0; i < N_CLI; i++) {
		if (cli_make(&cli_certs[i], (int)i + 100)) {
			printf("    openssl failed making '%s' (see %s/sh.log)\n",
			       cli_certs[i].name, t_tmpdir());
			return false;
		}
		snprintf(path, sizeof(path), "%s/cli/%s.pem", t_tmpdir(),
			 cli_certs[i].name);
		cli.cert[i] = read_cert_file(path, NULL);
		if (!cli.cert[i])
			return false;
	}
	cli.t0 = time(NULL);
	cli.ready = true;
	return true;
}

struct verify_case {
	const char *name;
	const char *leaf;
	const char *inter[2];	/* intermediates passed, NULL-terminated */
	int64_t now_off;	/* seconds from cli.t0 */
	int64_t skew;
	int rc;
	const char *want;	/* the ID on success, else a message part */
};

static const struct verify_case verify_cases[] = {
	{ "good", "good", { NULL }, 0, 0, 0, "spiffe://a.test/web" },
	{ "good with a dns san too", "good_dns", { NULL }, 0, 0, 0,
	  "spiffe://a.test/web" },
	{ "no eku is allowed", "no_eku", { NULL }, 0, 0, 0,
	  "spiffe://a.test/web" },
	{ "no basic constraints is cA=false", "no_bc", { NULL }, 0, 0, 0,
	  "spiffe://a.test/web" },
	{ "two uri sans", "two_uris", { NULL }, 0, 0, -EINVAL,
	  "more than one URI SAN" },
	{ "no uri san", "no_uri", { NULL }, 0, 0, -EINVAL, "no URI SAN" },
	{ "no san at all", "no_san", { NULL }, 0, 0, -EINVAL, "no URI SAN" },
	{ "spiffe id only in a dns san", "dns_spiffe", { NULL }, 0, 0,
	  -EINVAL, "no URI SAN" },
	{ "uri san not spiffe", "https_uri", { NULL }, 0, 0, -EINVAL,
	  "leaf URI SAN" },
	{ "root path only", "root_id", { NULL }, 0, 0, -EINVAL,
	  "spiffe id has no path" },
	{ "leaf is a ca", "ca_leaf", { NULL }, 0, 0, -EINVAL,
	  "leaf is a CA" },
	{ "leaf has keyCertSign", "ku_certsign", { NULL }, 0, 0, -EINVAL,
	  "keyCertSign" },
	{ "leaf has cRLSign", "ku_crlsign", { NULL }, 0, 0, -EINVAL,
	  "cRLSign" },
	{ "key usage not critical", "ku_noncrit", { NULL }, 0, 0, -EINVAL,
	  "key usage is not critical" },
	{ "no key usage", "ku_none", { NULL }, 0, 0, -EINVAL,
	  "no key usage" },
	{ "no digitalSignature", "ku_no_ds", { NULL }, 0, 0, -EINVAL,
	  "lacks digitalSignature" },
	{ "eku serverAuth only", "eku_server", { NULL }, 0, 0, -EINVAL,
	  "extended key usage lacks clientAuth" },
	{ "eku clientAuth only", "eku_client", { NULL }, 0, 0, -EINVAL,
	  "extended key usage lacks serverAuth" },
	{ "expired", "good", { NULL }, 2 * DAY, 0, -EKEYEXPIRED,
	  "leaf expired at" },
	{ "expired, within skew", "good", { NULL }, 2 * DAY, DAY + 3600, 0,
	  "spiffe://a.test/web" },
	{ "not yet valid", "good", { NULL }, -3600, 0, -EKEYEXPIRED,
	  "leaf not valid before" },
	{ "not yet valid, within skew", "good", { NULL }, -3600, 7200, 0,
	  "spiffe://a.test/web" },
	{ "signed by another trust domain's ca", "by_b", { NULL }, 0, 0,
	  -EKEYREJECTED, "does not chain to an authority of trust domain 'a.test'" },
	{ "another trust domain's ca offered as intermediate", "by_b",
	  { "root_b" }, 0, 0, -EKEYREJECTED, "path validation failed" },
	{ "trust domain without a bundle", "td_c", { NULL }, 0, 0, -ENOKEY,
	  "no trust bundle for trust domain 'c.test'" },
	{ "chained through a leaf", "via_leaf", { "leaf1" }, 0, 0,
	  -EKEYREJECTED, "path validation failed" },
	{ "chained through a cA=false signer", "via_nonca",
	  { "signing_nonca" }, 0, 0, -EKEYREJECTED,
	  "path validation failed at certificate 1 of the chain" },
	{ "intermediate supplied", "via_inter", { "inter" }, 0, 0, 0,
	  "spiffe://a.test/deep" },
	{ "intermediate missing", "via_inter", { NULL }, 0, 0, -EKEYREJECTED,
	  "path validation failed at leaf" },
	{ "intermediate with a path", "via_inter_path", { "inter_path" }, 0,
	  0, -EKEYREJECTED, "with a path" },
	{ "intermediate of another trust domain", "via_inter_b",
	  { "inter_b" }, 0, 0, -EKEYREJECTED,
	  "belongs to trust domain 'b.test'" },
	{ "intermediate without spiffe id", "via_inter_plain",
	  { "inter_plain" }, 0, 0, 0, "spiffe://a.test/z" },
	{ "leaf without authority key id (strict)", "no_aki", { NULL }, 0, 0,
	  -EKEYREJECTED, "path validation failed at leaf: Missing Authority Key Identifier" },
	{ "ca with non-critical basic constraints (strict)", "via_bc_noncrit",
	  { "inter_bc_noncrit" }, 0, 0, -EKEYREJECTED,
	  "path validation failed at certificate 1 of the chain" },
	{ "impostor ca with the same name", "by_fake", { "fake_a" }, 0, 0,
	  -EKEYREJECTED, "path validation failed" },
};

/* Every failure has a cause an operator can read (the proxy's flow
 * reasons): the ones a case's name spells, and never the catch-all. */
static void check_cause(const char *name, int ret, const char *msg)
{
	static const struct { const char *in_name, *cause; } names[] = {
		{ "key usage", "wrong key usage" }, { "keyCertSign", "wrong key usage" },
		{ "cRLSign", "wrong key usage" }, { "digitalSignature", "wrong key usage" },
		{ "eku", "wrong key usage" }, { "expired", "expired" },
		{ "not yet valid", "not yet valid" }, { "uri san", "not an X509-SVID" },
	};
	const char *cause = svid__failure_cause(ret, msg);
	size_t i;

	CHECKF(strcmp(cause, "certificate rejected"), "%s: no cause for '%s'",
	       name, msg);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (has(name, names[i].in_name))
			CHECKF(!strcmp(cause, names[i].cause), "%s: cause '%s', want '%s'",
			       name, cause, names[i].cause);
}

static void run_verify_case(const struct verify_case *c,
			    const struct bundle_set *set)
{
	STACK_OF(X509) *inter = sk_X509_new_null();
	struct svid_verify_opts opts = {
		.now = cli.t0 + c->now_off,
		.skew = c->skew,
	};
	struct nt_err err = { "" };
	struct spiffe_id id;
	int i, ret;

	for (i = 0; inter && c->inter[i]; i++)
		sk_X509_push(inter, cli_get(c->inter[i]));
	memset(&id, 0, sizeof(id));
	ret = svid__verify(cli_get(c->leaf), inter, set, &opts, &id, &err);
	CHECKF(ret == c->rc, "%s: rc %d, want %d (%s)", c->name, ret, c->rc,
	       err.msg);
	if (c->rc == 0)
		CHECKF(ret || !strcmp(id.str, c->want), "%s: id '%s', want '%s'",
		       c->name, id.str, c->want);
	else
		CHECKF(has(err.msg, c->want), "%s: message '%s' lacks '%s'",
		       c->name, err.msg, c->want);
	if (c->rc)
		check_cause(c->name, ret, err.msg);
	sk_X509_free(inter);
}

static void test_verify_openssl_made(void)
{
	struct bundle_set *set;
	size_t i;

	CHECKF(cli_setup(), "openssl command line fixtures could not be made");
	if (!cli.ready)
		return;
	/* bundles for both a.test and b.test: the leaf's own must be used */
	set = bundles_of("a.test", cli_get("root_a"), "b.test",
			 cli_get("root_b"), NULL);
	CHECK(set);
	for (i = 0; set && i < sizeof(verify_cases) / sizeof(verify_cases[0]);
	     i++)
		run_verify_case(&verify_cases[i], set);
	bundle_set__free(set);
}

/* A bundle authority is a trust anchor even when it is not self-signed
 * (RFC 5280 6.1; X509-SVID.md 6.1 only says SHOULD be self-signed). */
static void test_verify_anchor_not_self_signed(void)
{
	struct svid_verify_opts opts = { 0 };
	struct nt_err err = { "" };
	struct bundle_set *set;
	struct spiffe_id id;

	CHECKF(cli_setup(), "openssl command line fixtures could not be made");
	if (!cli.ready)
		return;
	opts.now = cli.t0;
	set = bundles_of("a.test", cli_get("inter"), NULL);
	CHECK(set);
	if (set)
		CHECKF(svid__verify(cli_get("via_inter"), NULL, set, &opts, &id,
				    &err) == 0, "%s", err.msg);
	CHECK(set && !strcmp(id.str, "spiffe://a.test/deep"));
	/* the anchor's own issuer is not needed, nor trusted instead */
	if (set)
		CHECK(svid__verify(cli_get("good"), NULL, set, &opts, &id,
				   &err) == -EKEYREJECTED);
	bundle_set__free(set);
}

T_MAIN("svid/verify",
       T(test_verify_chain_times),
       T(test_verify_fails_closed),
       T(test_verify_openssl_made),
       T(test_verify_anchor_not_self_signed),
       T(test_verify_at_given_time));
