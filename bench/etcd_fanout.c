// SPDX-License-Identifier: Apache-2.0
/*
 * etcd_fanout: how long a configuration change takes to reach N light
 * watchers, each a separate client with a mirror of /nametag/v1/config/
 * (what a node runs), and what that costs etcd. bench/etcd-fanout.sh starts
 * the etcd.
 *
 *	etcd_fanout URL [WATCHERS [ROUNDS]]
 *
 * Each round writes one key and times, per watcher, the moment its
 * mirror's update() shows the new value. Figures are printed, never
 * asserted (docs/fleet.md "Scale").
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "userspace/etcd/etcd.h"

#define MAX_WATCHERS	60
#define KEY		"/nametag/v1/config/policy"

struct watcher {
	struct etcd_mirror *m;
	bool listed, in_sync;
	int64_t seen_at;		/* ms, of the value of this round */
};

static struct {
	struct watcher w[MAX_WATCHERS];
	int n;
	char want[64];
	int seen;
	bool all_seen, all_ready;
} B;

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static double t0_us, *samples;
static size_t nsamples;

static void check_ready(void)
{
	int i, ready = 0;

	for (i = 0; i < B.n; i++)
		ready += B.w[i].listed && B.w[i].in_sync;
	B.all_ready = ready == B.n;
}

static void on_update(void *arg, const struct etcd_mirror *m, bool relisted,
		     const struct etcd_event *ev, size_t n)
{
	struct watcher *w = arg;
	const struct etcd_kv *kv = etcd_mirror__get(m, KEY, strlen(KEY));

	w->listed = true;
	check_ready();
	if (!B.want[0] || !kv || strcmp(kv->value, B.want) || w->seen_at)
		return;
	w->seen_at = now_ms();
	samples[nsamples++] = (now_us() - t0_us) / 1000.0;
	if (++B.seen == B.n)
		B.all_seen = true;
}

static void on_sync(void *arg, bool in_sync, int status,
		    const struct nt_err *err)
{
	((struct watcher *)arg)->in_sync = in_sync;
	check_ready();
}

static const struct etcd_mirror_ops mops = { on_update, on_sync };

static bool put_done;

static void put_cb(void *arg, int status, const struct etcd_txn_result *r,
		   const struct nt_err *err)
{
	if (status)
		fprintf(stderr, "put: %s\n", err ? err->msg : "");
	put_done = true;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static size_t sink(char *p, size_t size, size_t n, void *u)
{
	FILE *f = u;

	return fwrite(p, size, n, f);
}

/* One metric from etcd's /metrics, the first line that starts with it. */
static double metric(const char *url, const char *name)
{
	char full[256], *buf = NULL, *line;
	size_t len = 0;
	double v = -1;
	FILE *f = open_memstream(&buf, &len);
	CURL *h = curl_easy_init();

	snprintf(full, sizeof(full), "%s/metrics", url);
	if (f && h) {
		curl_easy_setopt(h, CURLOPT_URL, full);
		curl_easy_setopt(h, CURLOPT_PROXY, "");
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
		curl_easy_setopt(h, CURLOPT_WRITEDATA, f);
		curl_easy_perform(h);
	}
	if (h)
		curl_easy_cleanup(h);
	if (f)
		fclose(f);
	for (line = buf; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
		if (!strncmp(line, name, strlen(name)) && line[strlen(name)] == ' ') {
			v = strtod(line + strlen(name) + 1, NULL);
			break;
		}
	free(buf);
	return v;
}

int main(int argc, char **argv)
{
	const char *url = argc > 1 ? argv[1] : NULL;
	int rounds = argc > 3 ? atoi(argv[3]) : 100, r, i;
	struct etcd_config cfg = { .nendpoints = 1, .timeout_ms = 5000 };
	double cpu0, cpu1, wall0, wall1, rss, rss0, rss1;
	struct etcd_client *writer, *c;
	struct nt_err err = { "" };
	struct etcd_runner *run;

	B.n = argc > 2 ? atoi(argv[2]) : 50;
	if (!url || B.n < 1 || B.n > MAX_WATCHERS || rounds < 1) {
		fprintf(stderr, "usage: etcd_fanout URL [WATCHERS<=%d [ROUNDS]]\n",
			MAX_WATCHERS);
		return 2;
	}
	samples = calloc((size_t)B.n * rounds, sizeof(*samples));
	cfg.endpoints = &url;
	if (!samples || etcd_runner__new(&run, &err) ||
	    etcd_runner__client(run, &cfg, &writer, &err))
		goto fail;
	rss0 = metric(url, "process_resident_memory_bytes");
	for (i = 0; i < B.n; i++)
		if (etcd_runner__client(run, &cfg, &c, &err) ||
		    etcd_mirror__start(c, "/nametag/v1/config/", &mops, &B.w[i],
				       &B.w[i].m, &err))
			goto fail;
	if (etcd_runner__run(run, &B.all_ready, 10000)) {
		snprintf(err.msg, sizeof(err.msg), "watchers not ready in 10 s");
		goto fail;
	}
	rss1 = metric(url, "process_resident_memory_bytes");
	cpu0 = metric(url, "process_cpu_seconds_total");
	wall0 = now_us();
	for (r = 0; r < rounds; r++) {
		snprintf(B.want, sizeof(B.want), "{\"round\":%d}", r);
		for (i = 0; i < B.n; i++)
			B.w[i].seen_at = 0;
		B.seen = 0;
		B.all_seen = put_done = false;
		t0_us = now_us();
		if (etcd__put(writer, KEY, B.want, strlen(B.want), 0, put_cb,
			      NULL, &err))
			goto fail;
		if (etcd_runner__run(run, &B.all_seen, 5000)) {
			fprintf(stderr, "round %d: %d of %d watchers saw it\n", r,
				B.seen, B.n);
		}
		etcd_runner__run(run, &put_done, 5000);
	}
	wall1 = now_us();
	cpu1 = metric(url, "process_cpu_seconds_total");
	rss = metric(url, "process_resident_memory_bytes");
	qsort(samples, nsamples, sizeof(*samples), cmp_d);
	if (!nsamples)
		goto fail;
	printf("watchers %d, rounds %d, deliveries %zu\n", B.n, rounds, nsamples);
	printf("propagation ms: p50 %.2f  p90 %.2f  p99 %.2f  max %.2f\n",
	       samples[nsamples / 2], samples[nsamples * 9 / 10],
	       samples[nsamples * 99 / 100], samples[nsamples - 1]);
	printf("etcd: cpu %.2f s over %.1f s (%.0f%% of one core), %.0f us per delivery\n",
	       cpu1 - cpu0, (wall1 - wall0) / 1e6,
	       100 * (cpu1 - cpu0) / ((wall1 - wall0) / 1e6),
	       1e6 * (cpu1 - cpu0) / (double)nsamples);
	printf("etcd: rss %.0f MB; %.0f KB more per idle watcher\n", rss / 1e6,
	       (rss1 - rss0) / 1e3 / B.n);
	etcd_runner__free(run);
	free(samples);
	return 0;
fail:
	fprintf(stderr, "etcd_fanout: %s\n", err.msg);
	return 1;
}
