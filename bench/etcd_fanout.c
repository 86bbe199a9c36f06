// SPDX-License-Identifier: Apache-2.0
/*
 * etcd_fanout: how long a configuration change takes to reach N light
 * watchers, each a separate client with a mirror of /nametag/v1/config/
 * (what a node runs), and what that costs etcd. bench/etcd-fanout.sh starts
 * a plain etcd for it; bench/fleet_propagation.sh runs it next to three
 * real nodes on the live suite's etcd (TLS, auth).
 *
 *	etcd_fanout [OPTIONS] URL [WATCHERS [ROUNDS]]
 *	  --ca F --cert F --key F     TLS to etcd (client certificate)
 *	  --user U --password-file F  etcd auth
 *	  --node-like                 each watcher as a node: mirrors of
 *	                              config/ and jwt/, its answer key, a lease
 *	  --policy-td TD              write a valid policy of trust domain TD
 *	                              (nodes enforce it), not a bare value
 *	  --gap-ms MS                 pause between rounds (nodes settle)
 *	  --stamps FILE               "round revision wall_ms" per write
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

#include <getopt.h>
#include <unistd.h>

#include <curl/curl.h>

#include "userspace/etcd/etcd.h"

#define MAX_WATCHERS	60
#define KEY		"/nametag/v1/config/policy"

struct watcher {
	struct etcd_mirror *m, *jwt, *answer;
	struct etcd_lease *lease;
	bool listed, in_sync;
	int64_t seen_at;		/* ms, of the value of this round */
};

static struct {
	struct watcher w[MAX_WATCHERS];
	int n;
	char want[512];
	const char *ca, *cert, *key;	/* for /metrics too */
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
	if (!in_sync && err && err->msg[0])
		fprintf(stderr, "watcher: %s\n", err->msg);
	check_ready();
}

static const struct etcd_mirror_ops mops = { on_update, on_sync };

/* A node's other watches: followed, not timed. */
static void on_other(void *arg, const struct etcd_mirror *m, bool relisted,
		     const struct etcd_event *ev, size_t n)
{
}

static const struct etcd_mirror_ops other_ops = { on_other, NULL };

static void on_granted(void *arg, int64_t id, int64_t ttl)
{
}

static void on_lost(void *arg, int status, const struct nt_err *err)
{
	fprintf(stderr, "watcher: lease lost: %s\n", err ? err->msg : "");
}

static const struct etcd_lease_ops lease_ops = { on_granted, on_lost };

static bool put_done;
static int64_t put_rev;

static void put_cb(void *arg, int status, const struct etcd_txn_result *r,
		   const struct nt_err *err)
{
	if (status)
		fprintf(stderr, "put: %s\n", err ? err->msg : "");
	put_rev = status ? 0 : r->revision;
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
		if (B.ca) {
			curl_easy_setopt(h, CURLOPT_CAINFO, B.ca);
			curl_easy_setopt(h, CURLOPT_SSLCERT, B.cert);
			curl_easy_setopt(h, CURLOPT_SSLKEY, B.key);
		}
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

static double wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

struct opts {
	const char *url, *user, *password_file, *policy_td, *stamps;
	bool node_like;
	int rounds, gap_ms;
	char password[256];
};

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "ca", required_argument, NULL, 'a' },
		{ "cert", required_argument, NULL, 'c' },
		{ "key", required_argument, NULL, 'k' },
		{ "user", required_argument, NULL, 'u' },
		{ "password-file", required_argument, NULL, 'p' },
		{ "node-like", no_argument, NULL, 'n' },
		{ "policy-td", required_argument, NULL, 't' },
		{ "gap-ms", required_argument, NULL, 'g' },
		{ "stamps", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 }
	};
	FILE *f;
	int c;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'a': B.ca = optarg; break;
		case 'c': B.cert = optarg; break;
		case 'k': B.key = optarg; break;
		case 'u': o->user = optarg; break;
		case 'p': o->password_file = optarg; break;
		case 'n': o->node_like = true; break;
		case 't': o->policy_td = optarg; break;
		case 'g': o->gap_ms = atoi(optarg); break;
		case 's': o->stamps = optarg; break;
		default: return -1;
		}
	}
	o->url = optind < argc ? argv[optind] : NULL;
	B.n = optind + 1 < argc ? atoi(argv[optind + 1]) : 50;
	o->rounds = optind + 2 < argc ? atoi(argv[optind + 2]) : 100;
	if (o->password_file) {
		f = fopen(o->password_file, "r");
		if (!f || !fgets(o->password, sizeof(o->password), f))
			return -1;
		fclose(f);
		o->password[strcspn(o->password, "\r\n")] = '\0';
	}
	return !o->url || B.n < 1 || B.n > MAX_WATCHERS || o->rounds < 1 ? -1 : 0;
}

/* Watcher @i: the config/ mirror, timed; as a node also jwt/, its answer
 * key and a lease (kept alive every ttl/3). */
static int watcher_start(struct etcd_client *c, const struct opts *o, int i,
			 struct nt_err *err)
{
	char key[128];
	int ret;

	ret = etcd_mirror__start(c, "/nametag/v1/config/", &mops, &B.w[i],
				 &B.w[i].m, err);
	if (ret || !o->node_like)
		return ret;
	snprintf(key, sizeof(key), "/nametag/v1/ca/answers/bench-%d", i);
	ret = etcd_mirror__start(c, "/nametag/v1/jwt/", &other_ops, NULL,
				 &B.w[i].jwt, err);
	if (!ret)
		ret = etcd_mirror__start_key(c, key, &other_ops, NULL,
					     &B.w[i].answer, err);
	if (!ret)
		ret = etcd_lease__start(c, 30, &lease_ops, NULL, &B.w[i].lease,
					err);
	return ret;
}

static void round_value(const struct opts *o, int r)
{
	if (!o->policy_td) {
		snprintf(B.want, sizeof(B.want), "{\"round\":%d}", r);
		return;
	}
	snprintf(B.want, sizeof(B.want),
		 "{\"namespaces\":{\"bench\":{\"rules\":[{\"action\":\"deny\","
		 "\"from\":[\"spiffe://%s/ns/x/sa/r%d\"],"
		 "\"to\":[\"spiffe://%s/ns/bench/sa/api\"]}]}}}",
		 o->policy_td, r, o->policy_td);
}

static void print_metrics(const char *url, const char *when)
{
	printf("etcd %s: rss %.1f MB, cpu %.2f s, watchers %.0f, watch streams %.0f, db %.2f MB, keys %.0f\n",
	       when, metric(url, "process_resident_memory_bytes") / 1e6,
	       metric(url, "process_cpu_seconds_total"),
	       metric(url, "etcd_debugging_mvcc_watcher_total"),
	       metric(url, "etcd_debugging_mvcc_watch_stream_total"),
	       metric(url, "etcd_mvcc_db_total_size_in_bytes") / 1e6,
	       metric(url, "etcd_debugging_mvcc_keys_total"));
}

int main(int argc, char **argv)
{
	struct opts o = { .rounds = 100 };
	struct etcd_config cfg = { .nendpoints = 1, .timeout_ms = 5000 };
	double cpu0, cpu1, wall0, wall1, rss, rss0, rss1, t0_wall;
	struct etcd_client *writer, *c;
	struct nt_err err = { "" };
	struct etcd_runner *run;
	FILE *stamps = NULL;
	int r, i;

	if (parse_opts(argc, argv, &o)) {
		fprintf(stderr, "usage: etcd_fanout [--ca F --cert F --key F] [--user U --password-file F]\n"
			"       [--node-like] [--policy-td TD] [--gap-ms MS] [--stamps FILE] URL [WATCHERS<=%d [ROUNDS]]\n",
			MAX_WATCHERS);
		return 2;
	}
	samples = calloc((size_t)B.n * o.rounds, sizeof(*samples));
	cfg.endpoints = &o.url;
	cfg.ca_file = B.ca;
	cfg.cert_file = B.cert;
	cfg.key_file = B.key;
	cfg.user = o.user;
	cfg.password = o.password_file ? o.password : NULL;
	if (o.stamps && !(stamps = fopen(o.stamps, "w")))
		snprintf(err.msg, sizeof(err.msg), "%s: %s", o.stamps, strerror(errno));
	if (!samples || err.msg[0] || etcd_runner__new(&run, &err) ||
	    etcd_runner__client(run, &cfg, &writer, &err))
		goto fail;
	print_metrics(o.url, "before the watchers");
	rss0 = metric(o.url, "process_resident_memory_bytes");
	for (i = 0; i < B.n; i++)
		if (etcd_runner__client(run, &cfg, &c, &err) ||
		    watcher_start(c, &o, i, &err))
			goto fail;
	if (etcd_runner__run(run, &B.all_ready, 30000)) {
		snprintf(err.msg, sizeof(err.msg), "watchers not ready in 30 s");
		goto fail;
	}
	rss1 = metric(o.url, "process_resident_memory_bytes");
	print_metrics(o.url, "with the watchers");
	cpu0 = metric(o.url, "process_cpu_seconds_total");
	wall0 = now_us();
	for (r = 0; r < o.rounds; r++) {
		round_value(&o, r);
		for (i = 0; i < B.n; i++)
			B.w[i].seen_at = 0;
		B.seen = 0;
		B.all_seen = put_done = false;
		t0_us = now_us();
		t0_wall = wall_ms();
		if (etcd__put(writer, KEY, B.want, strlen(B.want), 0, put_cb,
			      NULL, &err))
			goto fail;
		if (etcd_runner__run(run, &B.all_seen, 5000)) {
			fprintf(stderr, "round %d: %d of %d watchers saw it\n", r,
				B.seen, B.n);
		}
		etcd_runner__run(run, &put_done, 5000);
		if (stamps)
			fprintf(stamps, "%d %lld %.3f\n", r, (long long)put_rev,
				t0_wall);
		if (o.gap_ms)
			etcd_runner__run(run, NULL, o.gap_ms);
	}
	wall1 = now_us();
	cpu1 = metric(o.url, "process_cpu_seconds_total");
	rss = metric(o.url, "process_resident_memory_bytes");
	print_metrics(o.url, "after the rounds");
	if (stamps)
		fclose(stamps);
	qsort(samples, nsamples, sizeof(*samples), cmp_d);
	if (!nsamples)
		goto fail;
	printf("watchers %d%s, rounds %d, deliveries %zu\n", B.n,
	       o.node_like ? " (node-like: config/, jwt/, answer, lease)" : "",
	       o.rounds, nsamples);
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
