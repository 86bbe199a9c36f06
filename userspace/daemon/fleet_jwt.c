// SPDX-License-Identifier: Apache-2.0
/*
 * JWT-SVID keys across the fleet (docs/fleet.md): each node puts the
 * public keys of its node CA's published generations on jwt/<node> (a JWK
 * Set, "use": "jwt-svid", kids that are RFC 7638 thumbprints), and mirrors
 * jwt/ to add the other nodes' keys to the bundle of its trust domain that
 * the Workload API serves and validates with, so a JWT-SVID minted on one
 * node validates on every other.
 *
 * Each node's value is checked on its own: a bad one is reported (status,
 * log) and ignored, the others still count. Keys of a node whose entry is
 * gone are dropped at once. The proxy never uses JWT keys: only the
 * Workload API's view of the bundles carries them.
 *
 * The other nodes' keys in force are saved with the configuration's last
 * good copy (STATE/fleet_jwt.json), so a node restarted without etcd
 * validates their tokens, not only its own, until jwt/ is listed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "userspace/daemon/fleet_int.h"
#include "userspace/daemon/upgrade.h"

/* ---- our own keys on jwt/<node> ---------------------------------------------- */

static void jwt_written(void *arg, int status, const struct etcd_txn_result *r,
			const struct nt_err *err)
{
	struct fleet *f = arg;

	f->jwt_putting = false;
	if (status) {
		pr_warn("fleet: JWT keys not written to %s%s (will retry): %s",
			FLEET_JWT, f->node, err->msg);
		free(f->jwt_pending);
	} else {
		free(f->jwt_published);
		f->jwt_published = f->jwt_pending;
	}
	f->jwt_pending = NULL;
}

/* At start and after every change of the node CA's published keys (a
 * rotation, a CA from the signer): compared with what etcd was last given,
 * so an unchanged set is not written again. */
void fleet_jwt__publish(struct fleet *f)
{
	const struct bundle *b = f->d->ca ? node_ca__bundle(f->d->ca) : NULL;
	char key[sizeof(FLEET_JWT) + CA_NODE_MAX];
	struct nt_err err = {};
	char *s = NULL;

	if (!b || !b->jwt_count || f->jwt_putting)
		return;
	if (bundle__jwks_json(b, &s, &err)) {
		pr_warn("fleet: JWT keys: %s", err.msg);
		return;
	}
	if (f->jwt_published && !strcmp(s, f->jwt_published)) {
		free(s);
		return;
	}
	snprintf(key, sizeof(key), "%s%s", FLEET_JWT, f->node);
	if (etcd__put(f->c, key, s, strlen(s), 0, jwt_written, f, &err)) {
		pr_warn("fleet: JWT keys not written to %s (will retry): %s",
			key, err.msg);
		free(s);
		return;
	}
	f->jwt_putting = true;
	f->jwt_pending = s;
	pr_info("fleet: %zu JWT key(s) of this node written to %s",
		b->jwt_count, key);
}

/* ---- the other nodes' keys ----------------------------------------------------- */

/* One node's value, as parsed at one mod_revision: kept from one update
 * to the next, so a change parses only the value that changed (parsing
 * and thumbprinting is ~165 us a value; 1,000 nodes each time would be
 * 165 ms at every event). */
struct fleet_jwt_value {
	char *key;
	int64_t mod_revision;
	struct bundle *b;		/* NULL: bad, error says why */
	char error[NT_ERR_MSG_MAX];
};

static void values_free(struct fleet_jwt_value *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(v[i].key);
		bundle__free(v[i].b);
	}
	free(v);
}

/* A JWK Set in @buf of jwt-svid keys only, at least @min, each kid the
 * thumbprint of its key. */
static int parse_jwks(const char *td, const char *buf, size_t len, size_t min,
		      struct bundle **out, struct nt_err *err)
{
	struct bundle *b = NULL;
	int ret;

	ret = bundle__parse(&b, td, buf, len, err);
	if (ret)
		return ret;
	if (sk_X509_num(b->x509_authorities) > 0 || b->ignored_keys ||
	    b->jwt_count < min)
		ret = nt_err_set(err, -EINVAL,
				 "jwt-svid keys only, at least %zu (%d x509-svid, %u ignored, %zu jwt-svid)",
				 min, sk_X509_num(b->x509_authorities),
				 b->ignored_keys, b->jwt_count);
	if (!ret)
		ret = bundle__jwt_kids_are_thumbprints(b, err);
	if (ret) {
		bundle__free(b);
		return ret;
	}
	*out = b;
	return 0;
}

/* A node's value: at least one key, on a key that names a node. */
static int parse_value(const char *td, const struct etcd_kv *kv,
		       struct bundle **out, struct nt_err *err)
{
	int ret;

	ret = node_name__check(kv->key + strlen(FLEET_JWT), err);
	return ret ? ret : parse_jwks(td, kv->value, kv->value_len, 1, out, err);
}

/* ---- the last good copy ------------------------------------------------------ */

#define JWT_FILE_MAX	(16 << 20)	/* 10,000 nodes' keys are ~4 MB */

static void jwt_path(const struct fleet *f, char *path, size_t size)
{
	snprintf(path, size, "%s/%s", f->d->opts.state_dir, FLEET_JWT_FILE);
}

/* After every change, an empty set too: a node deleted from jwt/ must not
 * come back from the copy. */
static void jwt_save(struct fleet *f)
{
	char path[PATH_MAX], *s = NULL;
	struct nt_err err = {};

	jwt_path(f, path, sizeof(path));
	if (bundle__jwks_json(f->jwt_peers, &s, &err) ||
	    state__write(path, s, strlen(s), 0600, &err))
		pr_warn("fleet: the other nodes' JWT keys are not saved (a restart without etcd uses the copy before): %s",
			err.msg);
	free(s);
}

/* At start, until jwt/ is listed: what the node last had from etcd. */
static void jwt_load(struct fleet *f)
{
	char path[PATH_MAX], *buf = NULL;
	struct bundle *b = NULL;
	struct nt_err err = {};
	size_t len;
	int ret;

	if (!f->d->ca)
		return;
	jwt_path(f, path, sizeof(path));
	ret = state__read(path, JWT_FILE_MAX, false, &buf, &len, &err);
	if (ret == -ENOENT)
		return;
	if (!ret)
		ret = parse_jwks(node_ca__trust_domain(f->d->ca), buf, len, 0,
				 &b, &err);
	free(buf);
	if (ret) {
		pr_warn("fleet: %s: %s: only this node's JWT keys until jwt/ is listed",
			path, err.msg);
		return;
	}
	f->jwt_peers = b;
	f->jwt_gen++;
	pr_info("fleet: %zu JWT key(s) of the other nodes from the last good copy, until jwt/ is listed",
		b->jwt_count);
}

/* None of @b's kids named by us or an earlier node already: a node cannot
 * republish another's key to keep it alive after its entry is deleted. */
static int unclaimed(const struct bundle *b, const struct bundle *mine,
		     const struct bundle *peers, struct nt_err *err)
{
	const struct jwt_authority *a;
	size_t i;

	for (i = 0; i < b->jwt_count; i++) {
		a = &b->jwt_authorities[i];
		if (bundle__jwt_authority(mine, a->kid, strlen(a->kid)) ||
		    bundle__jwt_authority(peers, a->kid, strlen(a->kid)))
			return nt_err_set(err, -EEXIST,
					  "kid %s is another node's key already", a->kid);
	}
	return 0;
}

/* The last bad value is shown (status); each is logged once while it
 * stays the one shown, not at every revision. */
static void report(struct fleet *f, const char *was, const char *key,
		   const char *msg)
{
	snprintf(f->jwt_bad_key, sizeof(f->jwt_bad_key), "%s", key);
	snprintf(f->jwt_bad_error, sizeof(f->jwt_bad_error), "%s", msg);
	if (strcmp(was, key))
		pr_warn("fleet: JWT keys ignored: %s: %s", key, msg);
}

/* @kv's value parsed: moved from the previous update's @old (in key
 * order, as the mirror is; *@j is the cursor) when its mod_revision is the
 * same, else parsed now. -ENOMEM only. */
static int value_of(struct fleet *f, const struct etcd_kv *kv,
		    struct fleet_jwt_value *old, size_t nold, size_t *j,
		    struct fleet_jwt_value *v)
{
	struct nt_err err = {};

	while (*j < nold && (!old[*j].key || strcmp(old[*j].key, kv->key) < 0))
		(*j)++;
	if (*j < nold && !strcmp(old[*j].key, kv->key) &&
	    old[*j].mod_revision == kv->mod_revision) {
		*v = old[*j];
		memset(&old[*j], 0, sizeof(old[*j]));
		return 0;
	}
	v->key = strdup(kv->key);
	if (!v->key)
		return -ENOMEM;
	v->mod_revision = kv->mod_revision;
	if (parse_value(node_ca__trust_domain(f->d->ca), kv, &v->b, &err) == -ENOMEM)
		return -ENOMEM;
	snprintf(v->error, sizeof(v->error), "%s", err.msg);
	return 0;
}

/* The whole of jwt/ again into a new set of the other nodes' keys. */
static int build_peers(struct fleet *f, const struct etcd_mirror *m,
		       const char *was, struct bundle **out)
{
	const struct bundle *mine = node_ca__bundle(f->d->ca);
	size_t i, k, j = 0, nv = 0, n = etcd_mirror__count(m);
	struct fleet_jwt_value *v = calloc(n + 1, sizeof(*v));
	struct bundle *peers = NULL;
	const struct etcd_kv *kv;
	struct nt_err err = {};
	int ret;

	if (!v)
		return -ENOMEM;
	ret = bundle__new(&peers, node_ca__trust_domain(f->d->ca), &err);
	for (i = 0; !ret && i < n; i++) {
		kv = etcd_mirror__at(m, i);
		if (!strcmp(kv->key + strlen(FLEET_JWT), f->node))
			continue;	/* ours: node_ca__bundle has it */
		ret = value_of(f, kv, f->jwt_values, f->njwt_values, &j, &v[nv++]);
		if (ret)
			break;
		if (!v[nv - 1].b) {
			report(f, was, kv->key, v[nv - 1].error);
			continue;
		}
		err = (struct nt_err){};
		if (unclaimed(v[nv - 1].b, mine, peers, &err)) {
			report(f, was, kv->key, err.msg);
			continue;
		}
		for (k = 0; !ret && k < v[nv - 1].b->jwt_count; k++)
			ret = bundle__add_jwt_authority(peers,
					v[nv - 1].b->jwt_authorities[k].kid,
					v[nv - 1].b->jwt_authorities[k].key, &err) < 0 ?
			      -ENOMEM : 0;
		f->jwt_nodes++;
	}
	/* What was parsed stays parsed, even when this update fails. */
	values_free(f->jwt_values, f->njwt_values);
	f->jwt_values = v;
	f->njwt_values = nv;
	if (ret) {
		pr_warn("fleet: JWT keys of the other nodes: %s",
			err.msg[0] ? err.msg : strerror(-ret));
		bundle__free(peers);
		return ret;
	}
	*out = peers;
	return 0;
}

void fleet_jwt__update(struct fleet *f)
{
	char was[sizeof(f->jwt_bad_key)];
	struct bundle *peers;
	bool same;

	if (!f->jwt || !f->d->ca || etcd_mirror__revision(f->jwt) <= 0)
		return;
	snprintf(was, sizeof(was), "%s", f->jwt_bad_key);
	f->jwt_bad_key[0] = f->jwt_bad_error[0] = '\0';
	f->jwt_nodes = 0;
	if (build_peers(f, f->jwt, was, &peers))
		return;		/* the keys known stay */
	f->jwt_listed = true;
	same = f->jwt_peers && bundle__same_authorities(f->jwt_peers, peers);
	bundle__free(f->jwt_peers);
	f->jwt_peers = peers;
	if (same)
		return;
	jwt_save(f);
	f->jwt_gen++;
	daemon_wlapi__changed(f->d, WLAPI_CHANGED_BUNDLES);
	pr_info("fleet: JWT keys of %u other node(s) in force (%zu keys)",
		f->jwt_nodes, peers->jwt_count);
}

static void jwt_update(void *arg, const struct etcd_mirror *m, bool relisted,
		       const struct etcd_event *ev, size_t n)
{
	struct fleet *f = arg;

	if (upgrade__paused(f->d))
		return;
	fleet_jwt__update(f);
}

static const struct etcd_mirror_ops jwt_ops = { .update = jwt_update };

int fleet_jwt__start(struct fleet *f, struct nt_err *err)
{
	jwt_load(f);
	fleet_jwt__publish(f);
	return etcd_mirror__start(f->c, FLEET_JWT, &jwt_ops, f, &f->jwt, err);
}

void fleet_jwt__free(struct fleet *f)
{
	values_free(f->jwt_values, f->njwt_values);
	bundle__free(f->jwt_peers);
	bundle_set__free(f->jwt_trust);
	free(f->jwt_published);
	free(f->jwt_pending);
}

/* ---- what the Workload API serves ---------------------------------------------- */

/* A copy of @b (through its JSON: the one complete serialisation). */
static int bundle_copy(const struct bundle *b, struct bundle **out,
		       struct nt_err *err)
{
	char *s = NULL;
	int ret;

	ret = bundle__to_json(b, false, &s, err);
	if (!ret)
		ret = bundle__parse(out, b->td, s, strlen(s), err);
	free(s);
	return ret;
}

static int build_trust(struct fleet *f, const struct bundle_set *base,
		       struct bundle_set **out, struct nt_err *err)
{
	const struct jwt_authority *a;
	struct bundle_set *set = NULL;
	struct bundle *b = NULL;
	size_t i, k;
	int ret;

	ret = bundle_set__new(&set) ? nt_err_set(err, -ENOMEM, "out of memory") : 0;
	for (i = 0; !ret && i < bundle_set__count(base); i++) {
		ret = bundle_copy(bundle_set__at(base, i), &b, err);
		for (k = 0; !ret && !strcmp(b->td, f->jwt_peers->td) &&
		     k < f->jwt_peers->jwt_count; k++) {
			a = &f->jwt_peers->jwt_authorities[k];
			ret = bundle__add_jwt_authority(b, a->kid, a->key, err);
			ret = ret < 0 ? ret : 0;
		}
		if (!ret)
			ret = bundle_set__add(set, b, err);
		else
			bundle__free(b);
		b = NULL;
	}
	if (ret) {
		bundle_set__free(set);
		return ret;
	}
	*out = set;
	return 0;
}

/* The proxy's set (@base, of generation @gen) with the other nodes' JWT
 * keys in our trust domain's bundle; @base itself when there are none, or
 * when the copy fails (then only this node's tokens validate: closed). */
const struct bundle_set *fleet__wlapi_trust(struct daemon *d,
					    const struct bundle_set *base,
					    unsigned int gen)
{
	struct fleet *f = d->fleet;
	struct bundle_set *set;
	struct nt_err err = {};

	if (!f || !base || !f->jwt_peers || !f->jwt_peers->jwt_count)
		return base;
	if (f->jwt_trust && f->jwt_trust_base == gen &&
	    f->jwt_trust_gen == f->jwt_gen)
		return f->jwt_trust;
	if (build_trust(f, base, &set, &err)) {
		pr_warn("fleet: the other nodes' JWT keys left out: %s", err.msg);
		return base;
	}
	bundle_set__free(f->jwt_trust);
	f->jwt_trust = set;
	f->jwt_trust_base = gen;
	f->jwt_trust_gen = f->jwt_gen;
	return set;
}
