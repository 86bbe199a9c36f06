// SPDX-License-Identifier: Apache-2.0
/*
 * A fleet node's configuration: the whole of config/ in etcd, as the
 * mirror holds it, parsed into scratch state (a namespace table, a
 * registry, a policy, the trust bundle, the federated bundles) with the parsers `ns add`, `entry
 * add` and `policy load` use. Only a snapshot that is valid as a whole
 * replaces what is in force; it is then saved as the state files a single
 * node keeps (namespaces.json, entries.json, policy.json: the last good
 * copy a restart without etcd enforces) and its revision in fleet.json.
 * A bad value changes nothing: its key and the reason are logged and shown
 * in status until the key is fixed. A namespace whose cgroup is not there
 * yet is enforced as soon as it appears (fleet_config__recheck, once a
 * tick): etcd says which namespaces a node hosts, not when their cgroups
 * are made.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "userspace/daemon/fleet_int.h"
#include "userspace/daemon/upgrade.h"

struct scratch {
	struct fleet_ns *ns;		/* the namespaces this node hosts */
	size_t nns, ns_cap;
	struct ns_table *table;
	struct attest_registry *entries;
	struct policy *policy;
	struct bundle *trust;
	char *scope[FLEET_SCOPE_MAX];
	size_t nscope;
	struct fleet_fed_bundle *fed;	/* config/bundles/ */
	size_t nfed, fed_cap;
};

void fleet_scope__free(char **v, size_t n)
{
	while (n)
		free(v[--n]);
}

static void scratch_free(struct scratch *s)
{
	free(s->ns);
	ns_table__free(s->table);
	attest_registry__free(s->entries);
	policy__free(s->policy);
	bundle__free(s->trust);
	fleet_scope__free(s->scope, s->nscope);
	fleet_fed__free(s->fed, s->nfed);
}

static int scope_add(char **v, size_t *n, const char *id, struct nt_err *err)
{
	size_t i;

	for (i = 0; i < *n; i++)
		if (!strcmp(v[i], id))
			return 0;
	if (*n == FLEET_SCOPE_MAX)
		return nt_err_set(err, -E2BIG,
				  "a node CA scope holds at most %d prefixes",
				  FLEET_SCOPE_MAX);
	v[*n] = strdup(id);
	if (!v[*n])
		return nt_err_set(err, -ENOMEM, "out of memory");
	(*n)++;
	return 0;
}

/* One key of config/ into @s; namespaces and entries only when @node
 * hosts them (they add to its scope). */
static int take(struct scratch *s, struct daemon *d, const char *td,
		const char *node, const struct etcd_kv *kv, struct nt_err *err)
{
	const char *key = kv->key;
	struct spiffe_id prefix;
	struct attest_entry e = {};
	struct fleet_entry fe;
	size_t i;
	int ret;

	prefix.len = 0;
	ret = fleet_key__prefix(key, kv->value, kv->value_len, td, node,
				&prefix, err);
	if (ret < 0)
		return ret;
	if (ret == 1 && (ret = scope_add(s->scope, &s->nscope, prefix.str, err)))
		return ret;
	if (!strncmp(key, FLEET_NS, strlen(FLEET_NS))) {
		if (ns__check_name(key + strlen(FLEET_NS), err))
			return -EINVAL;
		if (!prefix.len)
			return 0;	/* not hosted here */
		if (array__grow((void **)&s->ns, &s->ns_cap, s->nns, sizeof(*s->ns),
				NT_MAX_NAMESPACES))
			return nt_err_set(err, -E2BIG, "too many namespaces");
		return fleet_ns__parse(&s->ns[s->nns++], key + strlen(FLEET_NS),
				       kv->value, kv->value_len, err);
	}
	if (!strncmp(key, FLEET_ENTRIES, strlen(FLEET_ENTRIES))) {
		ret = fleet_entry__parse(&fe, key + strlen(FLEET_ENTRIES),
					 kv->value, kv->value_len, err);
		if (!ret && strcmp(fe.id.td, td))
			ret = nt_err_set(err, -EINVAL, "%s is outside trust domain %s",
					 fe.id.str, td);
		if (ret || !prefix.len)
			return ret;
		e.id = fe.id;
		for (i = 0; i < fe.nselectors; i++) {
			ret = selector__parse(&e.selectors[e.nselectors++],
					      fe.selectors[i], err);
			if (ret)
				return ret;
		}
		return attest_registry__add(s->entries, &e, err);
	}
	if (!strcmp(key, FLEET_POLICY))
		return policy__parse(&s->policy, kv->value, kv->value_len, err);
	if (!strcmp(key, FLEET_BUNDLE)) {
		ret = fleet_bundle__parse(kv->value, kv->value_len, &s->trust, err);
		if (!ret && strcmp(s->trust->td, td))
			ret = nt_err_set(err, -EINVAL, "the bundle of %s, not of %s",
					 s->trust->td, td);
		return ret;
	}
	if (!strncmp(key, FLEET_BUNDLES, strlen(FLEET_BUNDLES)))
		return fleet_fed__take(&s->fed, &s->nfed, &s->fed_cap,
				       key + strlen(FLEET_BUNDLES), td, kv, err);
	return nt_err_set(err, -EINVAL, "unknown key");
}

int fleet_config__scope(const struct etcd_kv *kvs, size_t n, const char *td,
			const char *node, char **out, size_t *nout,
			struct nt_err *err)
{
	struct spiffe_id prefix;
	size_t i;
	int ret = 0;

	*nout = 0;
	for (i = 0; ret >= 0 && i < n; i++) {
		ret = fleet_key__prefix(kvs[i].key, kvs[i].value,
					kvs[i].value_len, td, node, &prefix, err);
		if (ret < 0)
			nt_err_prefix(err, ret, kvs[i].key);
		else if (ret == 1)
			ret = scope_add(out, nout, prefix.str, err);
	}
	if (ret < 0)
		fleet_scope__free(out, *nout);
	return ret < 0 ? ret : 0;
}

/* The namespaces into a table: those the node had first, with their ids. */
static int build_table(struct scratch *s, struct daemon *d, struct nt_err *err)
{
	struct ns n, *old;
	size_t i;
	int pass, ret;

	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < s->nns; i++) {
			old = ns_table__find(d->ns, s->ns[i].name);
			if (!!old != !pass)
				continue;
			memset(&n, 0, sizeof(n));
			strcpy(n.name, s->ns[i].name);
			if ((size_t)snprintf(n.cgroup, sizeof(n.cgroup), "%s/%s",
					     d->cg.root, s->ns[i].cgroup) >=
			    sizeof(n.cgroup))
				return nt_err_set(err, -ENAMETOOLONG,
						  "%s%s: cgroup path too long",
						  FLEET_NS, n.name);
			n.mode = s->ns[i].mode;
			strcpy(n.template, s->ns[i].template);
			n.id = old ? old->id : 0;
			ret = ns_table__add(s->table, &n, err);
			if (ret)
				return nt_err_prefix(err, ret, FLEET_NS "...");
		}
	}
	return 0;
}

static int build(struct fleet *f, const struct etcd_mirror *m,
		 struct scratch *s)
{
	struct daemon *d = f->d;
	const char *td = node_ca__trust_domain(d->ca);
	const struct etcd_kv *kv;
	struct nt_err err = {};
	size_t i;
	int ret;

	if (ns_table__new(&s->table, d->opts.state_dir) ||
	    attest_registry__new(&s->entries))
		return -ENOMEM;
	for (i = 0; i < etcd_mirror__count(m); i++) {
		kv = etcd_mirror__at(m, i);
		ret = take(s, d, td, f->node, kv, &err);
		if (ret) {
			snprintf(f->bad_key, sizeof(f->bad_key), "%s", kv->key);
			snprintf(f->bad_error, sizeof(f->bad_error), "%s", err.msg);
			return ret;
		}
	}
	ret = build_table(s, d, &err);
	if (ret) {
		snprintf(f->bad_key, sizeof(f->bad_key), "%s", FLEET_NS);
		snprintf(f->bad_error, sizeof(f->bad_error), "%s", err.msg);
		return ret;
	}
	if (!s->policy && policy__new_empty(&s->policy))
		return -ENOMEM;
	return 0;
}

/* The kernel follows the new table: what left is dropped, the rest set. */
static void apply_namespaces(struct daemon *d, struct ns_table *old)
{
	struct ns *n, *o;
	size_t i;

	for (i = 0; i < ns_table__count(old); i++) {
		o = ns_table__at(old, i);
		n = ns_table__find(d->ns, o->name);
		if (o->cgroup_id && (!n || strcmp(n->cgroup, o->cgroup)))
			datapath__del_ns(d->dp, o->cgroup_id);
	}
	for (i = 0; i < ns_table__count(d->ns); i++)
		daemon__reconcile_ns(d, ns_table__at(d->ns, i));
}

static void save_applied(struct fleet *f)
{
	char path[PATH_MAX], *s;
	cJSON *o = cJSON_CreateObject();

	json__add_u64(o, "revision", (uint64_t)f->applied_revision);
	json__add_u64(o, "applied_at", (uint64_t)f->applied_at);
	cJSON_AddStringToObject(o, "node", f->node);
	s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	snprintf(path, sizeof(path), "%s/%s", f->d->opts.state_dir,
		 FLEET_STATE_FILE);
	if (s)
		state__write(path, s, strlen(s), 0600, NULL);
	cJSON_free(s);
}

void fleet_config__load_applied(struct fleet *f)
{
	static const char *const keys[] = { "revision", "applied_at", "node", NULL };
	char path[PATH_MAX], *buf = NULL;
	const cJSON *rev, *at;
	cJSON *root = NULL;
	size_t len;

	snprintf(path, sizeof(path), "%s/%s", f->d->opts.state_dir,
		 FLEET_STATE_FILE);
	if (!state__read(path, 4096, false, &buf, &len, NULL) &&
	    !json__parse_strict(buf, len, &root, NULL) &&
	    !json__only_keys(root, keys, path, NULL)) {
		rev = cJSON_GetObjectItemCaseSensitive(root, "revision");
		at = cJSON_GetObjectItemCaseSensitive(root, "applied_at");
		f->applied_revision = cJSON_IsNumber(rev) ? (int64_t)rev->valuedouble : 0;
		f->applied_at = cJSON_IsNumber(at) ? (time_t)at->valuedouble : 0;
	}
	cJSON_Delete(root);
	free(buf);
}

/* Saved first (a crash after it restarts into the new state), then swapped
 * into memory and the kernel. */
static void swap_in(struct fleet *f, struct scratch *s, int64_t revision)
{
	struct daemon *d = f->d;
	struct ns_table *old_ns = d->ns;
	struct attest_registry *old_entries = d->entries;
	char path[PATH_MAX], *canon = NULL;
	struct nt_err err = {};

	snprintf(path, sizeof(path), "%s/%s", d->opts.state_dir, POLICY_FILE);
	if (ns_table__save(s->table, &err) ||
	    attest_registry__save(s->entries, d->entries_path, &err) ||
	    policy__to_json(s->policy, true, &canon, &err) ||
	    state__write(path, canon, strlen(canon), 0600, &err))
		pr_warn("fleet: the last good copy is not saved (a restart without etcd enforces the one before): %s",
			err.msg);
	free(canon);
	d->ns = s->table;
	s->table = NULL;
	d->entries = s->entries;
	s->entries = NULL;
	identity__invalidate(d->identity);
	apply_namespaces(d, old_ns);
	ns_table__free(old_ns);
	attest_registry__free(old_entries);
	policy_holder__swap(d, s->policy);	/* egress entries, strict sweep */
	s->policy = NULL;
	netns__sync(d);
	daemon__sync_listeners(d);
	if (s->trust) {
		bundle__free(f->trust);
		f->trust = s->trust;
		s->trust = NULL;
	}
	fleet_fed__swap(f, s->fed, s->nfed);
	s->fed = NULL;
	s->nfed = 0;
	fleet_scope__free(f->scope, f->nscope);
	memcpy(f->scope, s->scope, sizeof(s->scope));
	f->nscope = s->nscope;
	s->nscope = 0;
	f->applied_revision = revision;
	f->applied_at = time(NULL);
	save_applied(f);
}

void fleet_config__update(struct fleet *f, const struct etcd_mirror *m)
{
	int64_t rev = etcd_mirror__revision(m);
	char was[sizeof(f->bad_key)];
	struct scratch s = {};
	int ret;

	snprintf(was, sizeof(was), "%s", f->bad_key);
	f->bad_key[0] = f->bad_error[0] = '\0';
	ret = build(f, m, &s);
	if (ret) {
		if (!f->bad_key[0])
			snprintf(f->bad_error, sizeof(f->bad_error), "%s",
				 strerror(-ret));
		/* Once per key, not at every revision that keeps it bad. */
		if (strcmp(was, f->bad_key))
			pr_warn("fleet: revision %lld refused, still enforcing revision %lld: %s: %s",
				(long long)rev, (long long)f->applied_revision,
				f->bad_key, f->bad_error);
	} else {
		swap_in(f, &s, rev);
		pr_info("fleet: revision %lld in force: %zu namespaces here, %zu entries, policy of %zu namespaces",
			(long long)rev, ns_table__count(f->d->ns),
			attest_registry__count(f->d->entries),
			policy__namespaces(f->d->policy));
		fleet_ca__scope_changed(f);
	}
	scratch_free(&s);
	fleet__write_record(f);
}

/* One stat() per namespace hosted here: a cgroup that was missing at the
 * swap (cgroup_id 0), or was removed and made again (another id), is
 * taken up as the swap would; a missing one stays quiet (reported once,
 * at the swap). */
void fleet_config__recheck(struct fleet *f)
{
	struct daemon *d = f->d;
	bool changed = false;
	struct ns *n;
	uint64_t id;
	size_t i;

	if (!d->ns || upgrade__paused(d))
		return;
	for (i = 0; i < ns_table__count(d->ns); i++) {
		n = ns_table__at(d->ns, i);
		if (cgroup__id(n->cgroup, &id) || id == n->cgroup_id)
			continue;
		pr_info("fleet: namespace %s: cgroup %s %s; enforcing it now",
			n->name, n->cgroup,
			n->cgroup_id ? "was made again" : "appeared");
		if (n->cgroup_id)
			datapath__del_ns(d->dp, n->cgroup_id);
		daemon__reconcile_ns(d, n);
		changed = true;
	}
	if (!changed)
		return;
	identity__invalidate(d->identity);
	netns__sync(d);
	daemon__sync_listeners(d);
}
