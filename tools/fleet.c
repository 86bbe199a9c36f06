// SPDX-License-Identifier: Apache-2.0
/*
 * nametag --etcd URL: the fleet's writes. ns, entry and policy write to
 * etcd instead of the local daemon (docs/fleet.md); every write is a
 * transaction on the mod_revision read just before (or given with
 * --revision), so two operators never silently overwrite each other: the
 * second is told the key changed, and at which revision it is now.
 * The etcd calls here are synchronous, on an etcd_runner.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/main.h"

struct etcd_cli etcd_cli;

static struct etcd_runner *runner;
static struct etcd_client *client;

struct sync_call {
	bool done;
	int status;
	struct nt_err err;
	struct fleet_kv *kvs;
	size_t n;
	int64_t revision;
	bool succeeded;
	int64_t current;		/* a failed txn: the key's revision now */
};

void fleet_kvs__free(struct fleet_kv *v, size_t n)
{
	while (n--) {
		free(v[n].key);
		free(v[n].value);
	}
	free(v);
}

static void on_range(void *arg, int status, const struct etcd_range *r,
		     const struct nt_err *err)
{
	struct sync_call *s = arg;
	size_t i;

	s->done = true;
	s->status = status;
	if (status) {
		s->err = *err;
		return;
	}
	s->revision = r->revision;
	s->kvs = calloc(r->n ? r->n : 1, sizeof(*s->kvs));
	for (i = 0; s->kvs && i < r->n; i++, s->n++) {
		s->kvs[i].key = strdup(r->kvs[i].key);
		s->kvs[i].value = strndup(r->kvs[i].value, r->kvs[i].value_len);
		s->kvs[i].len = r->kvs[i].value_len;
		s->kvs[i].mod_revision = r->kvs[i].mod_revision;
		s->kvs[i].lease = r->kvs[i].lease;
	}
}

static void on_txn(void *arg, int status, const struct etcd_txn_result *r,
		   const struct nt_err *err)
{
	struct sync_call *s = arg;

	s->done = true;
	s->status = status;
	if (status) {
		s->err = *err;
		return;
	}
	s->revision = r->revision;
	s->succeeded = r->succeeded;
	if (!r->succeeded && r->ncurrent)
		s->current = r->current[0].mod_revision;
}

static void on_lease(void *arg, int status, int64_t id, int64_t ttl,
		     const struct nt_err *err)
{
	struct sync_call *s = arg;

	s->done = true;
	s->status = status;
	s->revision = id;
	if (status)
		s->err = *err;
}

int fleet_client(struct etcd_client **c, struct nt_err *err)
{
	const char *url = etcd_cli.url;
	struct etcd_config cfg = {
		.endpoints = &url, .nendpoints = 1,
		.ca_file = etcd_cli.ca, .cert_file = etcd_cli.cert,
		.key_file = etcd_cli.key, .user = etcd_cli.user,
	};
	char *pw = NULL;
	size_t len;
	int ret = 0;

	if (client) {
		*c = client;
		return 0;
	}
	if (etcd_cli.password_file) {
		ret = state__read(etcd_cli.password_file, 4096, true, &pw, &len, err);
		while (!ret && len && (pw[len - 1] == '\n' || pw[len - 1] == '\r'))
			pw[--len] = '\0';
		cfg.password = pw;
	}
	if (!ret)
		ret = etcd_runner__new(&runner, err);
	if (!ret)
		ret = etcd_runner__client(runner, &cfg, &client, err);
	if (pw)
		state__free_secret(pw, strlen(pw));
	*c = client;
	return ret;
}

struct etcd_runner *fleet_runner(void)
{
	return runner;
}

/* Runs the loop until the call in @s is answered. */
static int finish(struct sync_call *s, int ret)
{
	if (ret)
		return ret;
	if (etcd_runner__run(runner, &s->done, 15000))
		return nt_err_set(&s->err, -ETIMEDOUT, "etcd did not answer in 15 s");
	return s->status;
}

int fleet_range(const char *key, bool prefix, struct fleet_kv **kvs,
		size_t *n, int64_t *revision, struct nt_err *err)
{
	struct sync_call s = {};
	struct etcd_client *c;
	int ret;

	ret = fleet_client(&c, err);
	if (ret)
		return ret;
	ret = finish(&s, etcd__range(c, key, strlen(key), prefix ? ETCD_PREFIX : 0,
				     0, 0, on_range, &s, &s.err));
	if (ret) {
		fleet_kvs__free(s.kvs, s.n);
		*err = s.err;
		return ret;
	}
	*kvs = s.kvs;
	*n = s.n;
	if (revision)
		*revision = s.revision;
	return 0;
}

int fleet_txn(const struct etcd_cond *conds, size_t nconds,
	      const struct etcd_op *ops, size_t nops, int64_t *revision,
	      struct nt_err *err)
{
	struct sync_call s = {};
	struct etcd_client *c;
	int ret;

	ret = fleet_client(&c, err);
	if (!ret)
		ret = finish(&s, etcd__txn(c, conds, nconds, ops, nops, on_txn, &s,
					   &s.err));
	if (ret) {
		if (s.err.msg[0])
			*err = s.err;
		return ret;
	}
	if (!s.succeeded)
		return nt_err_set(err, -ECANCELED,
				  "%s changed since it was read (it is at revision %lld now): read it again and retry",
				  nconds ? conds[0].key : "the key",
				  (long long)s.current);
	if (revision)
		*revision = s.revision;
	return 0;
}

int fleet_lease(int64_t ttl, int64_t *id, struct nt_err *err)
{
	struct sync_call s = {};
	struct etcd_client *c;
	int ret;

	ret = fleet_client(&c, err);
	if (!ret)
		ret = finish(&s, etcd__lease_grant(c, ttl, on_lease, &s, &s.err));
	if (ret && s.err.msg[0])
		*err = s.err;
	*id = s.revision;
	return ret;
}

/* The one value at @key: found or not (mod_revision 0), or an error. */
int fleet_get(const char *key, struct fleet_kv *out, struct nt_err *err)
{
	struct fleet_kv *kvs = NULL;
	size_t n = 0;
	int ret;

	memset(out, 0, sizeof(*out));
	ret = fleet_range(key, false, &kvs, &n, NULL, err);
	if (!ret && n) {
		*out = kvs[0];
		kvs[0].key = kvs[0].value = NULL;
	}
	fleet_kvs__free(kvs, n);
	return ret;
}

/* ---- the writes of ns, entry and policy --------------------------------------- */

/* Writes @value at @key if its mod_revision is still @rev (0: absent);
 * a NULL @value deletes. */
static int write_if(const char *key, const char *value, int64_t rev,
		    const char *what)
{
	struct etcd_cond cond = { key, strlen(key), rev };
	struct etcd_op op = { .kind = value ? ETCD_OP_PUT : ETCD_OP_DELETE,
			      .key = key, .key_len = strlen(key), .value = value,
			      .value_len = value ? strlen(value) : 0 };
	struct nt_err err = {};
	int64_t at = 0;
	cJSON *o;

	if (fleet_txn(&cond, 1, &op, 1, &at, &err))
		return p_err("%s", err.msg);
	if (json_output) {
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "key", key);
		cJSON_AddStringToObject(o, value ? "written" : "deleted", what);
		cJSON_AddNumberToObject(o, "revision", (double)at);
		return json_emit(o);
	}
	printf("%s %s at revision %lld\n", what, value ? "written" : "deleted",
	       (long long)at);
	return 0;
}

static int expect(const char *s, int64_t *rev)
{
	char *end;

	*rev = strtoll(s, &end, 10);
	if (*end || *rev < 0)
		return p_err("--revision: '%s' is not a revision", s);
	return 0;
}

int fleet_ns_write(const char *verb, const char *name, const char *cgroup,
		   const char *tmpl, const char *mode, const char *hosts,
		   const char *revision)
{
	char key[sizeof(FLEET_NS) + NT_NS_NAME_MAX];
	struct fleet_kv cur;
	struct nt_err err = {};
	struct fleet_ns n = {};
	char *json = NULL;
	int64_t rev;
	int ret;

	snprintf(key, sizeof(key), "%s%s", FLEET_NS, name);
	if (fleet_get(key, &cur, &err))
		return p_err("%s", err.msg);
	rev = cur.mod_revision;
	if (revision && expect(revision, &rev))
		ret = -1;
	else if (!strcmp(verb, "add") && cur.mod_revision)
		ret = p_err("namespace '%s' exists (revision %lld)", name,
			    (long long)cur.mod_revision);
	else if (strcmp(verb, "add") && !cur.mod_revision)
		ret = p_err("no namespace '%s' in the fleet", name);
	else if (!strcmp(verb, "del"))
		ret = write_if(key, NULL, rev, "namespace");
	else if (cur.mod_revision &&
		 fleet_ns__parse(&n, name, cur.value, cur.len, &err))
		ret = p_err("%s: %s", key, err.msg);
	else {
		snprintf(n.name, sizeof(n.name), "%s", name);
		if (cgroup)
			snprintf(n.cgroup, sizeof(n.cgroup), "%s", cgroup);
		if (tmpl)
			snprintf(n.template, sizeof(n.template), "%s", tmpl);
		ret = 0;
		if (hosts || !cur.mod_revision)
			ret = fleet_hosts__parse(&n.hosts, hosts ? hosts : "*", &err);
		if (!ret && mode && mode__parse(mode, &n.mode))
			ret = nt_err_set(&err, -EINVAL, "unknown mode '%s'", mode);
		if (!ret)
			ret = fleet_ns__to_json(&n, &json, &err);
		/* What a node will read: checked with the node's parser. */
		if (!ret)
			ret = fleet_ns__parse(&n, name, json, strlen(json), &err);
		ret = ret ? p_err("%s", err.msg) : write_if(key, json, rev, "namespace");
	}
	free(json);
	free(cur.key);
	free(cur.value);
	return ret;
}

int fleet_entry_write(const struct fleet_entry *e, bool del)
{
	char key[sizeof(FLEET_ENTRIES) + SPIFFE_ID_MAX];
	struct fleet_kv cur;
	struct nt_err err = {};
	char *json = NULL;
	int ret;

	snprintf(key, sizeof(key), "%s%s", FLEET_ENTRIES, e->id.str);
	if (fleet_get(key, &cur, &err))
		return p_err("%s", err.msg);
	if (del && !cur.mod_revision)
		ret = p_err("no entry %s in the fleet", e->id.str);
	else if (!del && cur.mod_revision)
		ret = p_err("entry %s exists (revision %lld)", e->id.str,
			    (long long)cur.mod_revision);
	else if (!del && fleet_entry__to_json(e, &json, &err))
		ret = p_err("%s", err.msg);
	else
		ret = write_if(key, json, cur.mod_revision, "entry");
	free(json);
	free(cur.key);
	free(cur.value);
	return ret;
}

int fleet_policy_write(const char *text, const char *revision)
{
	struct fleet_kv cur;
	struct nt_err err = {};
	int64_t rev;
	int ret;

	if (fleet_get(FLEET_POLICY, &cur, &err))
		return p_err("%s", err.msg);
	rev = cur.mod_revision;
	ret = revision ? expect(revision, &rev) : 0;
	if (!ret)
		ret = write_if(FLEET_POLICY, text, rev, "policy");
	free(cur.key);
	free(cur.value);
	return ret;
}

int fleet_policy_show(void)
{
	struct fleet_kv cur;
	struct nt_err err = {};
	cJSON *o, *p = NULL;

	if (fleet_get(FLEET_POLICY, &cur, &err))
		return p_err("%s", err.msg);
	if (cur.mod_revision && json__parse_strict(cur.value, cur.len, &p, &err)) {
		free(cur.key);
		free(cur.value);
		return p_err("%s: %s", FLEET_POLICY, err.msg);
	}
	o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "revision", (double)cur.mod_revision);
	cJSON_AddItemToObject(o, "policy", p ? p : cJSON_CreateNull());
	free(cur.key);
	free(cur.value);
	if (!json_output) {
		char *s = p ? cJSON_Print(p) : NULL;

		printf("revision %lld\n%s\n", (long long)cur.mod_revision,
		       s ? s : "(no policy: default deny)");
		cJSON_free(s);
		cJSON_Delete(o);
		return 0;
	}
	return json_emit(o);
}
