// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target for bundle__parse: a federated bundle is outside input.
 * Whatever parses must survive a write and re-read unchanged: the same
 * authorities, sequence and refresh hint, and a second write that is
 * byte-identical to the first. Anything else is a bug, so abort().
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ca/ca.h"
#include "tests/fuzz/fuzz.h"

#define TD "example.org"

static void fail(const char *what, const struct nt_err *err)
{
	fprintf(stderr, "fuzz_bundle: %s: %s\n", what, err ? err->msg : "");
	abort();
}

static void check_same(const struct bundle *a, const struct bundle *b)
{
	if (!bundle__same_authorities(a, b))
		fail("authorities changed in a round trip", NULL);
	if (a->has_sequence != b->has_sequence || a->sequence != b->sequence)
		fail("spiffe_sequence changed in a round trip", NULL);
	if (a->has_refresh_hint != b->has_refresh_hint ||
	    a->refresh_hint != b->refresh_hint)
		fail("spiffe_refresh_hint changed in a round trip", NULL);
	/* We write only x509-svid entries, so nothing is left to ignore. */
	if (b->ignored_keys)
		fail("our own output has ignored entries", NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bundle *a = NULL, *b = NULL;
	char *j1 = NULL, *j2 = NULL;
	struct nt_err err = { "" };

	if (bundle__parse(&a, TD, (const char *)data, size, &err))
		return 0;
	if (bundle__to_json(a, size & 1, &j1, &err))
		fail("bundle__to_json of a parsed bundle", &err);
	if (bundle__parse(&b, TD, j1, strlen(j1), &err))
		fail("re-parsing our own output", &err);
	check_same(a, b);
	if (bundle__to_json(b, size & 1, &j2, &err))
		fail("bundle__to_json of a re-parsed bundle", &err);
	if (strcmp(j1, j2))
		fail("writing is not stable", NULL);
	free(j1);
	free(j2);
	bundle__free(a);
	bundle__free(b);
	return 0;
}
