// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target for what fleet mode reads from etcd (docs/fleet.md): a
 * node CA request (the signer parses it), the signer's answer (the node
 * parses it), a join token record, the scope extension's DER (every
 * nametag verifier parses it in a peer's chain), and a node's JWT keys on
 * jwt/<node> (every node parses them). The first byte picks the parser,
 * the rest is its input.
 *
 * Properties beyond "no crash": a scope that parses re-encodes to the same
 * bytes; a request that parses has an ID, a node name that passes the node
 * name check, and a scope for that node; an answer has a chain or an error,
 * never both; JWT keys never pass against a bundle with no authority (a
 * node CA must chain to one).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "ca/authority_int.h"
#include "tests/fuzz/fuzz.h"

static void fail(const char *what)
{
	fprintf(stderr, "fuzz_ca_fleet: %s\n", what);
	abort();
}

static void scope_case(const uint8_t *p, size_t n)
{
	struct ca_scope *s = NULL;
	unsigned char *der = NULL;
	size_t len = 0;

	if (ca_scope__parse_der(p, n, &s, NULL))
		return;
	if (ca_scope__to_der(s, &der, &len, NULL))
		fail("re-encoding a parsed scope");
	if (len != n || memcmp(der, p, n))
		fail("a parsed scope re-encodes differently");
	if (!s->n || node_name__check(s->node, NULL))
		fail("a parsed scope without prefixes or with a bad node name");
	OPENSSL_free(der);
	ca_scope__free(s);
}

static void request_case(const uint8_t *p, size_t n)
{
	struct ca_request *r = NULL;

	if (ca_request__parse((const char *)p, n, &r, NULL))
		return;
	if (strlen(r->id) != 64 || node_name__check(r->node, NULL) ||
	    !r->scope || strcmp(r->scope->node, r->node) || !r->csr)
		fail("a parsed request breaks its invariants");
	if ((r->auth == CA_AUTH_NODE_CA) != (r->node_ca != NULL))
		fail("node_ca present iff auth node-ca");
	ca_request__free(r);
}

static void answer_case(const uint8_t *p, size_t n)
{
	struct ca_answer *a = NULL;

	if (ca_answer__parse((const char *)p, n, &a, NULL))
		return;
	if (a->chain && a->error[0])
		fail("an answer with both a chain and an error");
	if (a->chain && sk_X509_num(a->chain) < 2)
		fail("an answer chain shorter than two");
	ca_answer__free(a);
}

static void record_case(const uint8_t *p, size_t n)
{
	EVP_PKEY *k = NULL;

	if (!ca__record_verifier((const char *)p, n, "node-a", 1750000000, &k,
				 NULL))
		EVP_PKEY_free(k);
}

static void jwt_keys_case(const uint8_t *p, size_t n)
{
	static struct bundle *none;
	struct bundle *b = NULL;

	if (!none && bundle__new(&none, "example.org", NULL))
		fail("an empty bundle");
	if (!jwt_keys__parse((const char *)p, n, "node-a", none, 1750000000,
			     &b, NULL))
		fail("JWT keys bound to a node CA that chains to nothing");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] == 4) {
		jwt_keys_case(data + 1, size - 1);
		ERR_clear_error();
		return 0;
	}
	switch (data[0] & 3) {
	case 0:
		request_case(data + 1, size - 1);
		break;
	case 1:
		answer_case(data + 1, size - 1);
		break;
	case 2:
		record_case(data + 1, size - 1);
		break;
	default:
		scope_case(data + 1, size - 1);
	}
	ERR_clear_error();
	return 0;
}
