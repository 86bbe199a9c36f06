/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An upstream CA made by the openssl command line, for the tests of upstream
 * and fleet mode (test_node_ca_upstream.c, test_node_ca_fleet.c), and
 * `openssl verify` as a second opinion on what svid__verify accepts.
 */
#ifndef NAMETAG_TEST_FIXTURE_UPSTREAM_H
#define NAMETAG_TEST_FIXTURE_UPSTREAM_H

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>

#include "ca/ca.h"
#include "tests/unit/fixture_node_ca.h"
#include "tests/unit/fixture_sh.h"
#include "tests/unit/harness.h"

/* ---- upstream mode -------------------------------------------------------- */

/* Made once: root.crt/key (a CA), mid.crt/key (an issuing CA below it),
 * chain.crt (mid then root), other.key, notca.crt/key, short.crt/key
 * (a CA that ends in a day). */
static inline const char *upstream_dir(void)
{
	static char dir[PATH_MAX];
	static int state;	/* 0 not yet, 1 made, -1 failed */
	const char *ec = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";
	int ret;

	if (state)
		return state > 0 ? dir : NULL;
	tmp_path(dir, "upstream");
	ret = sh("mkdir -p '%s' && cd '%s' && "
		 "openssl req -x509 %s -keyout root.key -out root.crt -days 365 "
		 "-subj '/O=corp/CN=corp root' "
		 "-addext 'basicConstraints=critical,CA:TRUE' "
		 "-addext 'keyUsage=critical,keyCertSign,cRLSign' && "
		 "printf 'basicConstraints=critical,CA:TRUE,pathlen:1\\n"
		 "keyUsage=critical,keyCertSign,cRLSign\\n"
		 "subjectKeyIdentifier=hash\\nauthorityKeyIdentifier=keyid\\n' > mid.ext && "
		 "openssl req -new %s -keyout mid.key -out mid.csr "
		 "-subj '/O=corp/CN=corp issuing' && "
		 "openssl x509 -req -in mid.csr -CA root.crt -CAkey root.key "
		 "-set_serial 2 -days 300 -extfile mid.ext -out mid.crt && "
		 "cat mid.crt root.crt > chain.crt && "
		 "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out other.key && "
		 "openssl req -x509 %s -keyout notca.key -out notca.crt -days 365 "
		 "-subj '/CN=not a ca' -addext 'basicConstraints=critical,CA:FALSE' && "
		 "openssl req -x509 %s -keyout short.key -out short.crt -days 1 "
		 "-subj '/CN=short' -addext 'basicConstraints=critical,CA:TRUE' "
		 "-addext 'keyUsage=critical,keyCertSign' && "
		 "chmod 600 *.key",
		 dir, dir, ec, ec, ec, ec);
	CHECKF(ret == 0, "openssl setup failed (see %s/sh.log)", t_tmpdir());
	state = ret == 0 ? 1 : -1;
	return state > 0 ? dir : NULL;
}

static inline X509 *read_pem_cert(const char *path)
{
	FILE *f = fopen(path, "r");
	X509 *x;

	if (!f)
		return NULL;
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	return x;
}

/* `openssl verify` agrees with svid__verify. */
static inline void openssl_verifies(const char *root, const struct svid *s,
			     const char *tag)
{
	char leaf[PATH_MAX], chain[PATH_MAX], name[64];
	X509 *certs[8];
	size_t len = 0;
	char *pem = NULL;
	int i, n = sk_X509_num(s->intermediates);

	snprintf(name, sizeof(name), "%s-leaf.pem", tag);
	tmp_path(leaf, name);
	snprintf(name, sizeof(name), "%s-chain.pem", tag);
	tmp_path(chain, name);
	if (n > 8)
		return;
	for (i = 0; i < n; i++)
		certs[i] = sk_X509_value(s->intermediates, i);
	CHECK(pem__write_certs(certs, (size_t)n, &pem, &len, NULL) == 0 &&
	      spit(chain, pem, len) == 0);
	free(pem);
	CHECK(pem__write_certs(&s->leaf, 1, &pem, &len, NULL) == 0 &&
	      spit(leaf, pem, len) == 0);
	free(pem);
	CHECKF(sh("openssl verify -x509_strict -CAfile '%s' -untrusted '%s' '%s'",
		  root, chain, leaf) == 0,
	       "%s: openssl verify failed (see sh.log)", tag);
}

#endif
