// SPDX-License-Identifier: Apache-2.0
/*
 * nametag --etcd URL federation: the other trust domains the fleet trusts
 * (docs/fleet.md "Federation"). add and del write federation/<td> with a
 * transaction on its mod_revision; the signer's fetcher gets each
 * domain's bundle from its endpoint into config/bundles/<td>, which every
 * node applies. del removes the bundle with the endpoint, in the same
 * transaction: the fleet stops trusting the domain at once.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tools/main.h"

static int need_etcd(const char *what)
{
	return etcd_cli.url ? 0 :
	       p_err("'federation %s' writes the fleet's configuration: give --etcd URL",
		     what);
}

static void key_of(char *buf, size_t size, const char *prefix, const char *td)
{
	snprintf(buf, size, "%s%s", prefix, td);
}

/* The fleet's own trust domain, from the signer's config/bundle ("" when
 * there is none yet). */
static void own_td(char *buf, size_t size)
{
	struct fleet_kv cur;
	struct bundle *b = NULL;
	struct nt_err err = {};

	buf[0] = '\0';
	if (fleet_get(FLEET_BUNDLE, &cur, &err) || !cur.mod_revision)
		return;
	if (!fleet_bundle__parse(cur.value, cur.len, &b, &err))
		snprintf(buf, size, "%s", b->td);
	bundle__free(b);
	free(cur.key);
	free(cur.value);
}

static int do_add(int argc, char **argv)
{
	const char *td, *url = NULL, *revision = NULL;
	char key[300], own[SPIFFE_TD_MAX + 1], *json = NULL;
	struct fleet_fed f = {};
	struct fleet_kv cur;
	struct nt_err err = {};
	int64_t rev;
	int ret;

	REQ_ARGS(1);
	td = *argv;
	NEXT_ARG();
	while (argc > 0) {
		if (!strcmp(*argv, "--url"))
			GET_VALUE(url);
		else if (!strcmp(*argv, "--revision"))
			GET_VALUE(revision);
		else
			return p_err("unknown argument '%s' for 'federation add'", *argv);
	}
	if (need_etcd("add"))
		return -1;
	if (!url)
		return p_err("'federation add TD' needs --url https://HOST/PATH (the domain's bundle endpoint)");
	if (spiffe_td__check(td, strlen(td), &err))
		return p_err("invalid trust domain '%s': %s", td, err.msg);
	snprintf(f.td, sizeof(f.td), "%s", td);
	if (strlen(url) >= sizeof(f.url) || fleet_fed__check_url(url, &err))
		return p_err("--url: %s", err.msg[0] ? err.msg : "too long");
	snprintf(f.url, sizeof(f.url), "%s", url);
	own_td(own, sizeof(own));
	if (!strcmp(own, td))
		return p_err("'%s' is this fleet's own trust domain: its bundle comes from the signer", td);
	key_of(key, sizeof(key), FLEET_FEDERATION, td);
	if (fleet_get(key, &cur, &err))
		return p_err("%s", err.msg);
	rev = cur.mod_revision;
	free(cur.key);
	free(cur.value);
	if (revision && (rev = strtoll(revision, NULL, 10)) <= 0)
		return p_err("--revision %s: a positive etcd revision", revision);
	ret = fleet_fed__to_json(&f, &json, &err);
	if (!ret)
		ret = fleet_txn(&(struct etcd_cond){ key, strlen(key), rev }, 1,
				&(struct etcd_op){ .kind = ETCD_OP_PUT, .key = key,
						   .key_len = strlen(key), .value = json,
						   .value_len = strlen(json) },
				1, &rev, &err);
	free(json);
	if (ret)
		return p_err("%s", err.msg);
	if (json_output) {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "trust_domain", td);
		cJSON_AddStringToObject(o, "endpoint_url", url);
		json__add_u64(o, "revision", (uint64_t)rev);
		return json_emit(o);
	}
	printf("federation with %s: bundle from %s (revision %lld)\n", td, url,
	       (long long)rev);
	return 0;
}

static int do_del(int argc, char **argv)
{
	char fkey[300], bkey[300], skey[300];
	struct etcd_op ops[3];
	struct fleet_kv cur;
	struct nt_err err = {};
	int64_t rev;
	int ret;

	REQ_ARGS(1);
	NO_MORE_ARGS(1);
	if (need_etcd("del"))
		return -1;
	if (spiffe_td__check(*argv, strlen(*argv), &err))
		return p_err("invalid trust domain '%s': %s", *argv, err.msg);
	key_of(fkey, sizeof(fkey), FLEET_FEDERATION, *argv);
	key_of(bkey, sizeof(bkey), FLEET_BUNDLES, *argv);
	key_of(skey, sizeof(skey), FLEET_FETCHES, *argv);
	if (fleet_get(fkey, &cur, &err))
		return p_err("%s", err.msg);
	rev = cur.mod_revision;
	free(cur.key);
	free(cur.value);
	if (!rev)
		return p_err("no federation with '%s'", *argv);
	ops[0] = (struct etcd_op){ .kind = ETCD_OP_DELETE, .key = fkey,
				   .key_len = strlen(fkey) };
	ops[1] = (struct etcd_op){ .kind = ETCD_OP_DELETE, .key = bkey,
				   .key_len = strlen(bkey) };
	ops[2] = (struct etcd_op){ .kind = ETCD_OP_DELETE, .key = skey,
				   .key_len = strlen(skey) };
	ret = fleet_txn(&(struct etcd_cond){ fkey, strlen(fkey), rev }, 1, ops, 3,
			&rev, &err);
	if (ret)
		return p_err("%s", err.msg);
	if (json_output) {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "deleted", *argv);
		json__add_u64(o, "revision", (uint64_t)rev);
		return json_emit(o);
	}
	printf("federation with %s deleted, and its bundle (revision %lld)\n",
	       *argv, (long long)rev);
	return 0;
}

/* The value at @prefix<td> among @kvs, or NULL. */
static const struct fleet_kv *find(const struct fleet_kv *kvs, size_t n,
				   const char *prefix, const char *td)
{
	size_t i, len = strlen(prefix);

	for (i = 0; i < n; i++)
		if (!strncmp(kvs[i].key, prefix, len) &&
		    !strcmp(kvs[i].key + len, td))
			return &kvs[i];
	return NULL;
}

static cJSON *bundle_json(const struct fleet_kv *kv, const char *td,
			  time_t now)
{
	struct fleet_fed_bundle fb;
	struct nt_err err = {};
	cJSON *o = cJSON_CreateObject();

	if (fleet_fed_bundle__parse(&fb, td, NULL, kv->value, kv->len, &err)) {
		cJSON_AddStringToObject(o, "error", err.msg);
		return o;
	}
	json__add_u64(o, "fetched_at", (uint64_t)fb.fetched_at);
	cJSON_AddNumberToObject(o, "age_s", (double)(now - fb.fetched_at));
	json__add_u64(o, "refresh_hint", (uint64_t)fb.refresh_hint);
	cJSON_AddBoolToObject(o, "stale", fleet_fed__stale(&fb, now));
	cJSON_AddNumberToObject(o, "x509_authorities",
				sk_X509_num(fb.b->x509_authorities));
	cJSON_AddNumberToObject(o, "jwt_authorities", (double)fb.b->jwt_count);
	json__add_u64(o, "sequence", fb.b->sequence);
	json__add_u64(o, "mod_revision", (uint64_t)kv->mod_revision);
	fleet_fed_bundle__release(&fb);
	return o;
}

static void print_one(const cJSON *o)
{
	const cJSON *b = cJSON_GetObjectItem(o, "bundle");
	const cJSON *s = cJSON_GetObjectItem(o, "fetch");
	const char *e;

	printf("%-32s %s\n", cJSON_GetStringValue(cJSON_GetObjectItem(o, "trust_domain")),
	       cJSON_GetStringValue(cJSON_GetObjectItem(o, "endpoint_url")));
	if (!cJSON_IsObject(b))
		printf("\tbundle: not fetched yet\n");
	else if ((e = cJSON_GetStringValue(cJSON_GetObjectItem(b, "error"))))
		printf("\tbundle: invalid: %s\n", e);
	else
		printf("\tbundle: %.0f X.509 and %.0f JWT authorities, fetched %.0f s ago, refresh %.0f s%s\n",
		       cJSON_GetNumberValue(cJSON_GetObjectItem(b, "x509_authorities")),
		       cJSON_GetNumberValue(cJSON_GetObjectItem(b, "jwt_authorities")),
		       cJSON_GetNumberValue(cJSON_GetObjectItem(b, "age_s")),
		       cJSON_GetNumberValue(cJSON_GetObjectItem(b, "refresh_hint")),
		       cJSON_IsTrue(cJSON_GetObjectItem(b, "stale")) ? " (STALE)" : "");
	if (cJSON_IsObject(s) && (e = cJSON_GetStringValue(cJSON_GetObjectItem(s, "error"))) && *e)
		printf("\tlast fetch failed: %s\n", e);
}

static int do_list(int argc, char **argv)
{
	struct fleet_kv *kvs = NULL;
	const struct fleet_kv *kv;
	struct nt_err err = {};
	cJSON *arr, *o, *st;
	time_t now = time(NULL);
	size_t i, n = 0, len = strlen(FLEET_FEDERATION);
	const char *td;

	NO_MORE_ARGS(0);
	if (!etcd_cli.url)
		return p_err("'federation list' reads the fleet: give --etcd URL");
	/* One range over the root: the three prefixes at one revision. */
	if (fleet_range(FLEET_ROOT, true, &kvs, &n, NULL, &err))
		return p_err("%s", err.msg);
	arr = cJSON_CreateArray();
	for (i = 0; i < n; i++) {
		struct fleet_fed f;

		if (strncmp(kvs[i].key, FLEET_FEDERATION, len))
			continue;
		td = kvs[i].key + len;
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "trust_domain", td);
		if (fleet_fed__parse(&f, td, kvs[i].value, kvs[i].len, &err)) {
			cJSON_AddStringToObject(o, "error", err.msg);
		} else {
			cJSON_AddStringToObject(o, "endpoint_url", f.url);
			cJSON_AddStringToObject(o, "profile", "https_web");
		}
		kv = find(kvs, n, FLEET_BUNDLES, td);
		cJSON_AddItemToObject(o, "bundle", kv ? bundle_json(kv, td, now) :
						   cJSON_CreateNull());
		kv = find(kvs, n, FLEET_FETCHES, td);
		st = NULL;
		if (kv)
			json__parse_strict(kv->value, kv->len, &st, NULL);
		cJSON_AddItemToObject(o, "fetch", st ? st : cJSON_CreateNull());
		if (!json_output)
			print_one(o);
		cJSON_AddItemToArray(arr, o);
	}
	fleet_kvs__free(kvs, n);
	if (json_output)
		return json_emit(arr);
	cJSON_Delete(arr);
	return 0;
}

static int do_help(int argc, char **argv)
{
	return p_usage(
		"Usage: %s --etcd URL federation add TD --url URL [--revision REV]\n"
		"       %s --etcd URL federation { del | delete } TD\n"
		"       %s --etcd URL federation list\n"
		"       %s federation help\n"
		"\n"
		"       add names the SPIFFE bundle endpoint of trust domain TD (profile\n"
		"       https_web: the server is authenticated by URL's host with Web PKI);\n"
		"       'ca signer' fetches the bundle from it per its refresh hint and\n"
		"       every node trusts it. del stops that, bundle included.\n",
		bin_name, bin_name, bin_name, bin_name);
}

static const struct cmd cmds[] = {
	{ "add",	do_add },
	{ "list",	do_list },
	{ "del",	do_del },
	{ "delete",	do_del },
	{ "help",	do_help },
	{ 0 }
};

int do_federation(int argc, char **argv)
{
	return cmd_select(cmds, argc, argv);
}
