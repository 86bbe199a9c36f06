// SPDX-License-Identifier: Apache-2.0
/*
 * How fast the identity core mints and verifies X.509-SVIDs: a node CA in a
 * temp state dir, then rounds of mint and verify, reported as the median
 * (and min-max) of the rounds' rates. A benchmark, never a test: nothing
 * here is asserted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ca/ca.h"

#define ROUNDS 7

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void report(const char *what, double *rates)
{
	qsort(rates, ROUNDS, sizeof(rates[0]), cmp_double);
	printf("%-14s %9.0f /s median  (min %.0f, max %.0f, %d rounds)\n", what,
	       rates[ROUNDS / 2], rates[0], rates[ROUNDS - 1], ROUNDS);
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 200, r, i;
	char dir[] = "/tmp/nametag-bench.XXXXXX", cmd[64];
	struct ca_init_opts opts = { .trust_domain = "bench.example" };
	double mint[ROUNDS], verify[ROUNDS], t;
	struct svid_verify_opts vo = {};
	struct bundle_set *set = NULL;
	struct svid **svids;
	struct node_ca *ca = NULL;
	struct nt_err err = {};
	struct spiffe_id id, out;
	int ret = 1;

	svids = calloc(n, sizeof(*svids));
	if (!svids || !mkdtemp(dir))
		return 1;
	opts.now = vo.now = time(NULL);
	if (node_ca__init(dir, &opts, &err) || node_ca__open(&ca, dir, &err) ||
	    trust__load(dir, &set, &err) ||
	    spiffe_id__parse(&id, "spiffe://bench.example/ns/a/sa/b", 32, &err)) {
		fprintf(stderr, "setup: %s\n", err.msg);
		goto out;
	}
	for (r = 0; r < ROUNDS; r++) {
		t = now_s();
		for (i = 0; i < n; i++)
			if (node_ca__mint(ca, &id, 0, vo.now, &svids[i], &err))
				goto fail;
		mint[r] = n / (now_s() - t);
		t = now_s();
		for (i = 0; i < n; i++)
			if (svid__verify(svids[i]->leaf, svids[i]->intermediates,
					 set, &vo, &out, &err))
				goto fail;
		verify[r] = n / (now_s() - t);
		for (i = 0; i < n; i++) {
			svid__free(svids[i]);
			svids[i] = NULL;
		}
	}
	printf("SVID mint and verify, ECDSA P-256, %d per round\n", n);
	report("mint", mint);
	report("verify", verify);
	ret = 0;
	goto out;
fail:
	fprintf(stderr, "bench: %s\n", err.msg);
out:
	for (i = 0; i < n; i++)
		svid__free(svids[i]);
	free(svids);
	bundle_set__free(set);
	node_ca__close(ca);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		fprintf(stderr, "could not remove %s\n", dir);
	return ret;
}
