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
#include <time.h>

#include <cjson/cJSON.h>

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

/* What a value says, to compare with what etcd was last given: the kids
 * and the node CA that signs them (the signature itself differs at every
 * signing). */
static char *published_id(const struct node_ca *ca, const struct bundle *b)
{
	struct ca_issued cur;
	struct nt_err err = {};
	char *jwks = NULL, *id = NULL;

	if (node_ca__current(ca, &cur) || bundle__jwks_json(b, &jwks, &err))
		return NULL;
	if (asprintf(&id, "%s %s", cur.serial, jwks) < 0)
		id = NULL;
	free(jwks);
	return id;
}

/* At start and after every change of the node CA's published keys or of
 * the CA itself (a rotation, a CA from the signer): compared with what
 * etcd was last given, so an unchanged set is not written again. */
void fleet_jwt__publish(struct fleet *f)
{
	const struct bundle *b = f->d->ca ? node_ca__bundle(f->d->ca) : NULL;
	char key[sizeof(FLEET_JWT) + CA_NODE_MAX];
	struct nt_err err = {};
	char *id, *s = NULL;

	if (!b || !b->jwt_count || f->jwt_putting)
		return;
	id = published_id(f->d->ca, b);
	if (!id || (f->jwt_published && !strcmp(id, f->jwt_published))) {
		free(id);
		return;
	}
	f->jwt_gen++;	/* our own keys' scope, in the Workload API's set */
	snprintf(key, sizeof(key), "%s%s", FLEET_JWT, f->node);
	if (node_ca__jwt_keys(f->d->ca, &s, &err) ||
	    etcd__put(f->c, key, s, strlen(s), 0, jwt_written, f, &err)) {
		pr_warn("fleet: JWT keys not written to %s (will retry): %s",
			key, err.msg);
		free(s);
		free(id);
		return;
	}
	free(s);
	f->jwt_putting = true;
	f->jwt_pending = id;
	pr_info("fleet: %zu JWT key(s) of this node written to %s, signed by its node CA",
		b->jwt_count, key);
}

/* ---- the other nodes' keys ----------------------------------------------------- */

/* One node's value, as parsed at one mod_revision: kept from one update
 * to the next, so a change parses only the value that changed (parsing,
 * thumbprinting and the node CA's chain and signature are ~0.3 ms a
 * value; 1,000 nodes each time would be 0.3 s at every event). */
struct fleet_jwt_value {
	char *key;
	char *raw;			/* as etcd has it, for the last good copy */
	int64_t mod_revision;		/* 0: from the copy, parsed again */
	struct bundle *b;		/* NULL: bad, error says why */
	bool used;			/* its keys are in force */
	char error[NT_ERR_MSG_MAX];
};

static void values_free(struct fleet_jwt_value *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(v[i].key);
		free(v[i].raw);
		bundle__free(v[i].b);
	}
	free(v);
}

/* A node's value, on a key that names a node: its keys bound to its node
 * CA, checked against our trust domain's bundle (ca/jwt_keys.c). */
static void parse_value(struct fleet *f, struct fleet_jwt_value *v)
{
	const char *node = v->key + strlen(FLEET_JWT);
	struct nt_err err = {};

	if (!node_name__check(node, &err))
		jwt_keys__parse(v->raw, strlen(v->raw), node,
				node_ca__bundle(f->d->ca), time(NULL), &v->b,
				&err);
	snprintf(v->error, sizeof(v->error), "%s", err.msg);
}

/* A fresh value of @key; -ENOMEM only. */
static int value_new(struct fleet *f, const char *key, const char *raw,
		     size_t len, int64_t mod_revision,
		     struct fleet_jwt_value *v)
{
	v->key = strdup(key);
	v->raw = strndup(raw, len);
	if (!v->key || !v->raw)
		return -ENOMEM;
	v->mod_revision = mod_revision;
	parse_value(f, v);
	return 0;
}

/* ---- the last good copy ------------------------------------------------------ */

/* Each value is ~3 KB (two keys, the node CA, a signature): 10,000 nodes
 * are ~30 MB. */
#define JWT_FILE_MAX	(64 << 20)

static void jwt_path(const struct fleet *f, char *path, size_t size)
{
	snprintf(path, size, "%s/%s", f->d->opts.state_dir, FLEET_JWT_FILE);
}

/* {"version": 1, "values": {"<node>": "<its value, as on jwt/<node>>"}}:
 * the values in force, checked again at a load like any from etcd (a node
 * CA may have expired meanwhile). After every change, an empty set too: a
 * node deleted from jwt/ must not come back from the copy. */
static void jwt_save(struct fleet *f)
{
	cJSON *root = cJSON_CreateObject(), *vals;
	char path[PATH_MAX], *s = NULL;
	struct nt_err err = {};
	bool ok;
	size_t i;

	vals = root && cJSON_AddNumberToObject(root, "version", 1) ?
	       cJSON_AddObjectToObject(root, "values") : NULL;
	ok = vals != NULL;
	for (i = 0; ok && i < f->njwt_values; i++)
		if (f->jwt_values[i].used)
			ok = cJSON_AddStringToObject(vals,
					f->jwt_values[i].key + strlen(FLEET_JWT),
					f->jwt_values[i].raw) != NULL;
	s = ok ? cJSON_PrintUnformatted(root) : NULL;
	cJSON_Delete(root);
	jwt_path(f, path, sizeof(path));
	if (!s)
		nt_err_set(&err, -ENOMEM, "out of memory");
	if (!s || state__write(path, s, strlen(s), 0600, &err))
		pr_warn("fleet: the other nodes' JWT keys are not saved (a restart without etcd uses the copy before): %s",
			err.msg);
	cJSON_free(s);
}

/* The copy's values, each parsed; -EINVAL when it is not a copy. */
static int copy_values(struct fleet *f, const cJSON *root,
		       struct fleet_jwt_value **out, size_t *n,
		       struct nt_err *err)
{
	static const char *const keys[] = { "version", "values", NULL };
	const cJSON *vals = cJSON_GetObjectItemCaseSensitive(root, "values");
	const cJSON *ver = cJSON_GetObjectItemCaseSensitive(root, "version");
	char key[sizeof(FLEET_JWT) + CA_NODE_MAX + 1];
	struct fleet_jwt_value *v;
	const cJSON *e;
	size_t i = 0;
	int ret;

	ret = json__only_keys(root, keys, "copy", err);
	if (!ret && (!cJSON_IsNumber(ver) || ver->valuedouble != 1 ||
		     !cJSON_IsObject(vals)))
		ret = nt_err_set(err, -EINVAL,
				 "not a copy of version 1 (\"values\", an object)");
	if (ret)
		return ret;
	v = calloc((size_t)cJSON_GetArraySize(vals) + 1, sizeof(*v));
	if (!v)
		return nt_err_set(err, -ENOMEM, "out of memory");
	cJSON_ArrayForEach(e, vals) {
		if (!cJSON_IsString(e) || strlen(e->string) > CA_NODE_MAX) {
			ret = nt_err_set(err, -EINVAL, "values: a string per node");
			break;
		}
		snprintf(key, sizeof(key), "%s%s", FLEET_JWT, e->string);
		ret = value_new(f, key, e->valuestring, strlen(e->valuestring),
				0, &v[i++]);
		if (ret) {
			nt_err_set(err, ret, "out of memory");
			break;
		}
	}
	if (ret) {
		values_free(v, i);
		return ret;
	}
	*out = v;
	*n = i;
	return 0;
}

static int assemble(struct fleet *f, struct fleet_jwt_value *v, size_t nv,
		    const char *was, struct bundle **out);

/* At start, until jwt/ is listed: what the node last had from etcd. */
static void jwt_load(struct fleet *f)
{
	char path[PATH_MAX], *buf = NULL;
	struct fleet_jwt_value *v = NULL;
	struct bundle *b = NULL;
	struct nt_err err = {};
	cJSON *root = NULL;
	size_t len, n = 0;
	int ret;

	if (!f->d->ca)
		return;
	jwt_path(f, path, sizeof(path));
	ret = state__read(path, JWT_FILE_MAX, false, &buf, &len, &err);
	if (ret == -ENOENT)
		return;
	if (!ret)
		ret = json__parse_strict(buf, len, &root, &err);
	free(buf);
	if (!ret)
		ret = copy_values(f, root, &v, &n, &err);
	cJSON_Delete(root);
	if (!ret) {
		ret = assemble(f, v, n, "", &b);
		f->jwt_values = v;
		f->njwt_values = n;
	}
	if (ret) {
		pr_warn("fleet: %s: %s: only this node's JWT keys until jwt/ is listed",
			path, err.msg[0] ? err.msg : strerror(-ret));
		return;
	}
	f->jwt_peers = b;
	f->jwt_gen++;
	pr_info("fleet: %zu JWT key(s) of %u other node(s) from the last good copy, until jwt/ is listed",
		b->jwt_count, f->jwt_nodes);
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
	while (*j < nold && (!old[*j].key || strcmp(old[*j].key, kv->key) < 0))
		(*j)++;
	if (*j < nold && !strcmp(old[*j].key, kv->key) &&
	    old[*j].mod_revision == kv->mod_revision) {
		*v = old[*j];
		memset(&old[*j], 0, sizeof(old[*j]));
		return 0;
	}
	return value_new(f, kv->key, kv->value, kv->value_len,
			 kv->mod_revision, v);
}

/* The good values of @v into a new set of the other nodes' keys, each
 * with its binding; the bad ones reported. -ENOMEM only. */
static int assemble(struct fleet *f, struct fleet_jwt_value *v, size_t nv,
		    const char *was, struct bundle **out)
{
	const struct bundle *mine = node_ca__bundle(f->d->ca);
	struct bundle *peers = NULL;
	struct nt_err err = {};
	size_t i, k;
	int ret;

	f->jwt_nodes = 0;
	ret = bundle__new(&peers, node_ca__trust_domain(f->d->ca), &err);
	for (i = 0; !ret && i < nv; i++) {
		v[i].used = false;
		if (!v[i].b) {
			report(f, was, v[i].key, v[i].error);
			continue;
		}
		err = (struct nt_err){};
		if (unclaimed(v[i].b, mine, peers, &err)) {
			report(f, was, v[i].key, err.msg);
			continue;
		}
		for (k = 0; !ret && k < v[i].b->jwt_count; k++)
			ret = bundle__copy_jwt_authority(peers,
					&v[i].b->jwt_authorities[k], &err);
		v[i].used = true;
		f->jwt_nodes++;
	}
	if (ret) {
		bundle__free(peers);
		return -ENOMEM;
	}
	*out = peers;
	return 0;
}

/* The whole of jwt/ again into a new set of the other nodes' keys. */
static int build_peers(struct fleet *f, const struct etcd_mirror *m,
		       const char *was, struct bundle **out)
{
	size_t i, j = 0, nv = 0, n = etcd_mirror__count(m);
	struct fleet_jwt_value *v = calloc(n + 1, sizeof(*v));
	const struct etcd_kv *kv;
	int ret = 0;

	if (!v)
		return -ENOMEM;
	for (i = 0; !ret && i < n; i++) {
		kv = etcd_mirror__at(m, i);
		if (!strcmp(kv->key + strlen(FLEET_JWT), f->node))
			continue;	/* ours: node_ca__bundle has it */
		ret = value_of(f, kv, f->jwt_values, f->njwt_values, &j, &v[nv++]);
	}
	if (!ret)
		ret = assemble(f, v, nv, was, out);
	/* What was parsed stays parsed, even when this update fails. */
	values_free(f->jwt_values, f->njwt_values);
	f->jwt_values = v;
	f->njwt_values = nv;
	if (ret)
		pr_warn("fleet: JWT keys of the other nodes: %s", strerror(-ret));
	return ret;
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

/* Our own keys in @b (the copy of our trust domain's bundle) hold to our
 * node CA's scope too, as the other nodes hold them. */
static int bind_own(struct fleet *f, struct bundle *b, struct nt_err *err)
{
	const struct ca_scope *scope = node_ca__scope(f->d->ca);
	size_t i;
	int ret = 0;

	for (i = 0; scope && !ret && i < b->jwt_count; i++)
		ret = bundle__bind_jwt_authority(b, b->jwt_authorities[i].kid,
						 scope, 0, err);
	return ret;
}

static int build_trust(struct fleet *f, const struct bundle_set *base,
		       struct bundle_set **out, struct nt_err *err)
{
	const struct bundle *peers = f->jwt_peers;
	struct bundle_set *set = NULL;
	struct bundle *b = NULL;
	size_t i, k;
	bool ours;
	int ret;

	ret = bundle_set__new(&set) ? nt_err_set(err, -ENOMEM, "out of memory") : 0;
	for (i = 0; !ret && i < bundle_set__count(base); i++) {
		ret = bundle_copy(bundle_set__at(base, i), &b, err);
		ours = !ret && !strcmp(b->td, node_ca__trust_domain(f->d->ca));
		if (ours)
			ret = bind_own(f, b, err);
		for (k = 0; !ret && ours && peers && k < peers->jwt_count; k++)
			ret = bundle__copy_jwt_authority(b,
					&peers->jwt_authorities[k], err);
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
 * keys in our trust domain's bundle, every JWT key of the domain bound to
 * its node's scope; @base itself when the copy fails (then only this
 * node's tokens validate, unscoped: what this node mints is in its scope
 * anyway, node_ca__mint_jwt). */
const struct bundle_set *fleet__wlapi_trust(struct daemon *d,
					    const struct bundle_set *base,
					    unsigned int gen)
{
	struct fleet *f = d->fleet;
	struct bundle_set *set;
	struct nt_err err = {};

	if (!f || !base || !f->d->ca)
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
