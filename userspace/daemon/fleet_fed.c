// SPDX-License-Identifier: Apache-2.0
/*
 * A fleet node's federated bundles (docs/fleet.md "Federation"): the
 * config/bundles/<td> values of a snapshot, checked with the rest of it
 * (fleet_config.c), become the state dir's bundles/<td>.json, the files
 * the proxy and the Workload API already read the other trust domains'
 * bundles from (a single node's `bundle add`). The fleet owns that
 * directory: a domain that left etcd leaves it. The files are also the
 * last good copy a restart without etcd verifies with. A bundle not
 * fetched for FLEET_FED_STALE_FACTOR refresh intervals is logged once and
 * shown as stale in status and metrics; it stays in use (dropping it
 * would cut the other domain off for an outage of its endpoint).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "userspace/daemon/fleet_int.h"

#define JSON_SUFFIX	".json"

int fleet_fed__take(struct fleet_fed_bundle **v, size_t *n, size_t *cap,
		    const char *td, const char *own_td, const struct etcd_kv *kv,
		    struct nt_err *err)
{
	if (array__grow((void **)v, cap, *n, sizeof(**v), 4096))
		return nt_err_set(err, -E2BIG, "too many federated bundles");
	if (spiffe_td__check(td, strlen(td), err))
		return -EINVAL;
	if (fleet_fed_bundle__parse(&(*v)[*n], td, own_td, kv->value,
				    kv->value_len, err))
		return -EINVAL;
	(*n)++;
	return 0;
}

void fleet_fed__free(struct fleet_fed_bundle *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		fleet_fed_bundle__release(&v[i]);
	free(v);
}

static const struct fleet_fed_bundle *find(const struct fleet_fed_bundle *v,
					   size_t n, const char *td)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(v[i].b->td, td))
			return &v[i];
	return NULL;
}

/* bundles/<td>.json of every domain not in @v removed; true if any. */
static bool prune(const char *dir, const struct fleet_fed_bundle *v, size_t n)
{
	char td[SPIFFE_TD_MAX + 1], path[PATH_MAX];
	struct dirent *de;
	bool changed = false;
	size_t len;
	DIR *d = opendir(dir);

	if (!d)
		return false;
	while ((de = readdir(d))) {
		len = strlen(de->d_name);
		if (len <= strlen(JSON_SUFFIX) || len - strlen(JSON_SUFFIX) > SPIFFE_TD_MAX ||
		    strcmp(de->d_name + len - strlen(JSON_SUFFIX), JSON_SUFFIX))
			continue;
		snprintf(td, sizeof(td), "%.*s", (int)(len - strlen(JSON_SUFFIX)),
			 de->d_name);
		if (find(v, n, td))
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >=
		    sizeof(path))
			continue;
		if (unlink(path))
			pr_warn("fleet: %s: not removed: %m", path);
		else
			pr_info("fleet: federation with %s ended: its bundle is no longer trusted",
				td);
		changed = true;
	}
	closedir(d);
	return changed;
}

static bool same(const struct fleet_fed_bundle *a, const struct fleet_fed_bundle *b)
{
	return a && b && bundle__same_authorities(a->b, b->b) &&
	       a->b->sequence == b->b->sequence;
}

/* Takes @v (the snapshot's, checked): written where the proxy reads
 * trust from, then kept for status. */
void fleet_fed__swap(struct fleet *f, struct fleet_fed_bundle *v, size_t n)
{
	struct daemon *d = f->d;
	char dir[PATH_MAX], path[PATH_MAX];
	const struct fleet_fed_bundle *old;
	struct nt_err err = {};
	bool changed;
	size_t i;

	snprintf(dir, sizeof(dir), "%s/%s", d->opts.state_dir, STATE_FEDERATION_DIR);
	changed = prune(dir, v, n);
	if (n && state__mkdir(dir, &err))
		pr_warn("fleet: %s", err.msg);
	for (i = 0; i < n; i++) {
		old = find(f->fed, f->nfed, v[i].b->td);
		if ((size_t)snprintf(path, sizeof(path), "%s/%s%s", dir, v[i].b->td,
				     JSON_SUFFIX) >= sizeof(path))
			continue;
		/* An unchanged bundle (a refresh) is not written again: the
		 * proxies reload trust when the files change. */
		if (same(old, &v[i]) && !access(path, F_OK))
			continue;
		if (bundle__save(v[i].b, path, &err)) {
			pr_warn("fleet: federated bundle of %s not saved, the previous file stays in force: %s",
				v[i].b->td, err.msg);
			continue;
		}
		pr_info("fleet: federated bundle of %s in force: %d X.509 and %zu JWT authorities, fetched from %s",
			v[i].b->td, sk_X509_num(v[i].b->x509_authorities),
			v[i].b->jwt_count, v[i].url);
		changed = true;
	}
	fleet_fed__free(f->fed, f->nfed);
	free(f->fed_stale);
	f->fed = v;
	f->nfed = n;
	f->fed_stale = calloc(n ? n : 1, sizeof(*f->fed_stale));
	if (changed && d->proxy)
		proxy__reload_trust(d->proxy);
	fleet_fed__tick(f, time(NULL));
}

/* Logged once when a bundle goes stale, once when it is fresh again. */
void fleet_fed__tick(struct fleet *f, time_t now)
{
	const struct fleet_fed_bundle *fb;
	bool stale;
	size_t i;

	for (i = 0; f->fed_stale && i < f->nfed; i++) {
		fb = &f->fed[i];
		stale = fleet_fed__stale(fb, now);
		if (stale == f->fed_stale[i])
			continue;
		f->fed_stale[i] = stale;
		if (stale)
			pr_warn("fleet: the federated bundle of %s is stale: fetched %lld s ago, refreshed every %lld s (is the signer fetching from %s?); still in use",
				fb->b->td, (long long)(now - fb->fetched_at),
				(long long)fb->refresh_hint, fb->url);
		else
			pr_info("fleet: the federated bundle of %s is fresh again",
				fb->b->td);
	}
}

unsigned int fleet_fed__count_stale(const struct fleet *f, time_t now)
{
	unsigned int n = 0;
	size_t i;

	for (i = 0; i < f->nfed; i++)
		n += fleet_fed__stale(&f->fed[i], now);
	return n;
}
