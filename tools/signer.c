// SPDX-License-Identifier: Apache-2.0
/*
 * nametag --etcd URL ca signer: the one process that holds the upstream
 * key (docs/fleet.md "Node CAs"). It publishes the trust domain's bundle
 * at config/bundle, watches ca/requests/, and answers each request once:
 * the node CA, within what the namespaces and entries naming the node in
 * their hosts grant, or the reason it was refused. A join token works
 * once: the answer and the deletion of the token's record are one
 * transaction, conditional on the record being the one read.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tools/main.h"

struct signer {
	struct ca_signer *s;
	char td[SPIFFE_TD_MAX + 1];
	int64_t ca_ttl;
	struct etcd_mirror *requests;
	bool work;
	volatile bool wake;		/* anything for the loop below */
};

static void on_requests(void *arg, const struct etcd_mirror *m, bool relisted,
			const struct etcd_event *ev, size_t n)
{
	((struct signer *)arg)->work = true;
	((struct signer *)arg)->wake = true;
}

static void on_sync(void *arg, bool in_sync, int status, const struct nt_err *err)
{
	if (!in_sync)
		fprintf(stderr, "signer: out of sync with etcd: %s\n",
			err && err->msg[0] ? err->msg : strerror(-status));
}

static const struct etcd_mirror_ops request_ops = {
	.update = on_requests, .sync = on_sync,
};

/* What the operator granted @node: the prefixes of config/ naming it. */
static int grant_of(struct signer *g, const char *node, struct ca_scope **out,
		    struct nt_err *err)
{
	const char *v[CA_SCOPE_MAX];
	struct spiffe_id *ids = calloc(CA_SCOPE_MAX, sizeof(*ids));
	struct fleet_kv *kvs = NULL;
	size_t i, n = 0, nv = 0;
	int ret;

	if (!ids)
		return nt_err_set(err, -ENOMEM, "out of memory");
	ret = fleet_range(FLEET_CONFIG, true, &kvs, &n, NULL, err);
	for (i = 0; !ret && i < n && nv < CA_SCOPE_MAX; i++) {
		ret = fleet_key__prefix(kvs[i].key, kvs[i].value, kvs[i].len,
					g->td, node, &ids[nv], err);
		if (ret == 1) {
			v[nv] = ids[nv].str;
			nv++;
		}
		ret = ret < 0 ? nt_err_prefix(err, ret, kvs[i].key) : 0;
	}
	if (!ret && !nv)
		ret = nt_err_set(err, -EACCES,
				 "no namespace or entry names node %s in its hosts", node);
	if (!ret)
		ret = ca_scope__new(out, g->td, node, v, nv, err);
	fleet_kvs__free(kvs, n);
	free(ids);
	return ret;
}

/* True when the answer at ca/answers/<node> is already this request's. */
static bool answered(const char *node, const struct ca_request *r)
{
	char key[256];
	struct fleet_kv cur;
	struct ca_answer *a = NULL;
	struct nt_err err = {};
	bool same;

	snprintf(key, sizeof(key), "%s%s", FLEET_ANSWERS, node);
	if (fleet_get(key, &cur, &err) || !cur.mod_revision)
		return false;
	same = !ca_answer__parse(cur.value, cur.len, &a, &err) &&
	       !strcmp(a->request, r->id);
	ca_answer__free(a);
	free(cur.key);
	free(cur.value);
	return same;
}

static struct etcd_op op_put(const char *key, const char *value)
{
	return (struct etcd_op){ .kind = ETCD_OP_PUT, .key = key,
				 .key_len = strlen(key), .value = value,
				 .value_len = strlen(value) };
}

/* Signs, or refuses with the reason; then writes the answer, the issued
 * record and (join token) the token's deletion in one transaction. */
static int answer(struct signer *g, const char *node, const struct ca_request *r)
{
	char akey[256], ikey[256], jkey[256], issued_json[128], *ans = NULL;
	struct ca_sign_opts o = { .now = time(NULL), .ca_ttl = g->ca_ttl };
	struct fleet_kv join = {}, issued = {};
	struct ca_scope *grant = NULL;
	struct ca_issued out = {};
	struct etcd_op ops[3];
	struct etcd_cond cond;
	struct nt_err err = {}, werr = {};
	cJSON *ij = NULL;
	size_t nops = 0;
	int ret;

	snprintf(akey, sizeof(akey), "%s%s", FLEET_ANSWERS, node);
	snprintf(ikey, sizeof(ikey), "%s%s", FLEET_ISSUED, node);
	snprintf(jkey, sizeof(jkey), "%s%s", FLEET_JOIN, node);
	ret = strcmp(node, r->node) ?
	      nt_err_set(&err, -EACCES, "a request of node %s under node %s's key",
			 r->node, node) : grant_of(g, node, &grant, &err);
	o.grant = grant;
	if (!ret && r->auth == CA_AUTH_JOIN_TOKEN && !fleet_get(jkey, &join, &err)) {
		o.join_record = join.value;
		o.join_record_len = join.len;
	}
	if (!ret && r->auth == CA_AUTH_NODE_CA && !fleet_get(ikey, &issued, &err) &&
	    issued.mod_revision && !json__parse_strict(issued.value, issued.len, &ij, NULL))
		o.current_serial = cJSON_GetStringValue(cJSON_GetObjectItem(ij, "serial"));
	if (!ret)
		ret = ca_signer__sign(g->s, r, &o, &ans, &out, &err);
	if (ret) {
		fprintf(stderr, "signer: node %s refused: %s\n", node, err.msg);
		if (ca_answer__refusal(r, err.msg, &ans, &werr))
			goto out;
	} else {
		fprintf(stderr, "signer: node %s: node CA %s issued\n", node, out.serial);
		snprintf(issued_json, sizeof(issued_json),
			 "{\"serial\":\"%s\",\"not_after\":%lld}", out.serial,
			 (long long)out.not_after);
		ops[nops++] = op_put(ikey, issued_json);
		if (r->auth == CA_AUTH_JOIN_TOKEN)
			ops[nops++] = (struct etcd_op){ .kind = ETCD_OP_DELETE,
							.key = jkey,
							.key_len = strlen(jkey) };
	}
	ops[nops++] = op_put(akey, ans);
	/* The token is used up by this answer only if nobody used it since. */
	cond = (struct etcd_cond){ jkey, strlen(jkey), join.mod_revision };
	if (fleet_txn(!ret && r->auth == CA_AUTH_JOIN_TOKEN ? &cond : NULL,
		      !ret && r->auth == CA_AUTH_JOIN_TOKEN, ops, nops, NULL, &werr))
		fprintf(stderr, "signer: node %s: answer not written: %s\n", node,
			werr.msg);
out:
	cJSON_Delete(ij);
	free(ans);
	free(join.key);
	free(join.value);
	free(issued.key);
	free(issued.value);
	ca_scope__free(grant);
	return ret;
}

/* Every request not answered yet (a copy: the mirror changes while the
 * calls below run the loop). */
static void work(struct signer *g)
{
	struct fleet_kv *kvs = NULL;
	struct ca_request *r;
	struct nt_err err = {};
	size_t i, n = 0;
	const char *node;

	if (fleet_range(FLEET_REQUESTS, true, &kvs, &n, NULL, &err)) {
		fprintf(stderr, "signer: %s\n", err.msg);
		g->work = true;
		return;
	}
	for (i = 0; i < n; i++) {
		node = kvs[i].key + strlen(FLEET_REQUESTS);
		r = NULL;
		if (ca_request__parse(kvs[i].value, kvs[i].len, &r, &err))
			fprintf(stderr, "signer: %s: %s\n", kvs[i].key, err.msg);
		else if (!answered(node, r))
			answer(g, node, r);
		ca_request__free(r);
	}
	fleet_kvs__free(kvs, n);
}

static int publish_bundle(struct signer *g, struct nt_err *err)
{
	struct bundle *b = NULL;
	char *json = NULL;
	int ret;

	ret = ca_signer__bundle(g->s, &b, err);
	if (!ret)
		ret = fleet_bundle__to_json(b, &json, err);
	if (!ret)
		ret = fleet_txn(NULL, 0, &(struct etcd_op){ .kind = ETCD_OP_PUT,
				.key = FLEET_BUNDLE, .key_len = strlen(FLEET_BUNDLE),
				.value = json, .value_len = strlen(json) }, 1, NULL, err);
	bundle__free(b);
	free(json);
	return ret;
}

int do_signer(int argc, char **argv)
{
	const char *cert = NULL, *key = NULL, *td = NULL, *ttl = NULL;
	const char *fed_ca = NULL, *fed_min = NULL;
	struct fetcher *fetch = NULL;
	int64_t refresh_min = FLEET_FED_REFRESH_MIN;
	time_t next_fetch;
	struct signer g = {};
	struct etcd_client *c;
	struct nt_err err = {};
	int ret;

	while (argc > 0) {
		if (!strcmp(*argv, "--upstream-cert"))
			GET_VALUE(cert);
		else if (!strcmp(*argv, "--upstream-key"))
			GET_VALUE(key);
		else if (!strcmp(*argv, "--trust-domain"))
			GET_VALUE(td);
		else if (!strcmp(*argv, "--ca-ttl"))
			GET_VALUE(ttl);
		else if (!strcmp(*argv, "--federation-ca"))
			GET_VALUE(fed_ca);
		else if (!strcmp(*argv, "--federation-refresh-min"))
			GET_VALUE(fed_min);
		else
			return p_err("unknown argument '%s' for 'ca signer'", *argv);
	}
	if (!etcd_cli.url || !cert || !key || !td)
		return p_err("'ca signer' needs --etcd URL, --trust-domain, --upstream-cert and --upstream-key");
	if (ttl && duration__parse(ttl, &g.ca_ttl, &err))
		return p_err("--ca-ttl: %s", err.msg);
	if (fed_min && (duration__parse(fed_min, &refresh_min, &err) ||
			refresh_min < 1))
		return p_err("--federation-refresh-min: %s",
			     err.msg[0] ? err.msg : "at least 1s");
	snprintf(g.td, sizeof(g.td), "%s", td);
	ret = ca_signer__open(&g.s, td, cert, key, time(NULL), &err);
	if (!ret)
		ret = publish_bundle(&g, &err);
	if (!ret)
		ret = fleet_client(&c, &err);
	if (!ret)
		ret = etcd_mirror__start(c, FLEET_REQUESTS, &request_ops, &g,
					 &g.requests, &err);
	if (!ret)
		ret = fetcher__start(&fetch, g.td, fed_ca, refresh_min, &g.wake, &err);
	if (ret) {
		ca_signer__close(g.s);
		return p_err("%s", err.msg);
	}
	fprintf(stderr, "signer: trust domain %s, bundle published, answering %s*\n",
		td, FLEET_REQUESTS);
	next_fetch = time(NULL);
	for (;;) {
		time_t now = time(NULL);
		int64_t wait = next_fetch > now ? (next_fetch - now) * 1000 : 0;

		etcd_runner__run(fleet_runner(), &g.wake, wait < 5000 ? wait : 5000);
		g.wake = false;
		if (g.work) {
			g.work = false;
			work(&g);
		}
		next_fetch = fetcher__run(fetch, time(NULL));
	}
}
