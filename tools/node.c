// SPDX-License-Identifier: Apache-2.0
/* nametag node: the fleet's nodes (docs/fleet.md). list and token create
 * read and write etcd (--etcd URL); status asks the local nametagd how
 * stale its view of etcd is. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tools/main.h"

static void print_record(const char *name, const cJSON *r)
{
	const cJSON *ns;
	double na = cJSON_GetNumberValue(cJSON_GetObjectItem(r, "ca_not_after"));
	char when[64] = "-";

	if (na == na && na > 0)
		time__iso8601((time_t)na, when, sizeof(when));
	printf("%-20s nametag %s  revision %.0f%s\n\tnode CA %s until %s  signer: %s\n\tnamespaces:",
	       name, cJSON_GetStringValue(cJSON_GetObjectItem(r, "nametag")) ?: "?",
	       cJSON_GetNumberValue(cJSON_GetObjectItem(r, "revision")),
	       cJSON_IsTrue(cJSON_GetObjectItem(r, "in_sync")) ? "" : " (out of sync)",
	       cJSON_GetStringValue(cJSON_GetObjectItem(r, "ca_serial")) ?: "-",
	       when, cJSON_GetStringValue(cJSON_GetObjectItem(r, "signer")) ?: "?");
	cJSON_ArrayForEach(ns, cJSON_GetObjectItem(r, "namespaces"))
		printf(" %s", cJSON_GetStringValue(ns));
	printf("\n");
}

/* Every node record; a node is listed while its lease lives (its last
 * seen is within the lease's TTL). */
static int do_list(int argc, char **argv)
{
	struct fleet_kv *kvs = NULL;
	struct nt_err err = {};
	cJSON *arr, *r, *o;
	size_t i, n = 0;

	NO_MORE_ARGS(0);
	if (!etcd_cli.url)
		return p_err("'node list' reads the fleet: give --etcd URL");
	if (fleet_range(FLEET_NODES, true, &kvs, &n, NULL, &err))
		return p_err("%s", err.msg);
	arr = cJSON_CreateArray();
	for (i = 0; i < n; i++) {
		const char *name = kvs[i].key + strlen(FLEET_NODES);

		if (json__parse_strict(kvs[i].value, kvs[i].len, &r, &err)) {
			p_info("%s: %s", kvs[i].key, err.msg);
			continue;
		}
		if (!json_output) {
			print_record(name, r);
			cJSON_Delete(r);
			continue;
		}
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "node", name);
		json__add_u64(o, "lease", (uint64_t)kvs[i].lease);
		json__add_u64(o, "mod_revision", (uint64_t)kvs[i].mod_revision);
		cJSON_AddItemToObject(o, "record", r);
		cJSON_AddItemToArray(arr, o);
	}
	fleet_kvs__free(kvs, n);
	if (json_output)
		return json_emit(arr);
	cJSON_Delete(arr);
	return 0;
}

/* A one-time join token: printed once, only its verifier stored, on a
 * lease of the token's TTL (etcd drops the record when it expires). */
static int do_token(int argc, char **argv)
{
	char token[JOIN_TOKEN_LEN + 1], key[256], *record = NULL;
	const char *node, *ttl_s = "1h";
	struct etcd_op op = { .kind = ETCD_OP_PUT };
	struct nt_err err = {};
	int64_t ttl, lease;
	int ret;

	if (argc < 2 || strcmp(argv[0], "create"))
		return p_err("usage: node token create NAME [--ttl DURATION]");
	node = argv[1];
	if (argc == 4 && !strcmp(argv[2], "--ttl"))
		ttl_s = argv[3];
	else if (argc != 2)
		return p_err("unexpected argument '%s'", argv[2]);
	if (!etcd_cli.url)
		return p_err("'node token create' writes to the fleet: give --etcd URL");
	if (duration__parse(ttl_s, &ttl, &err) || ttl > JOIN_TOKEN_TTL_MAX)
		return p_err("--ttl: %s", err.msg[0] ? err.msg : "at most 7 days");
	ret = join_token__create(node, ttl, time(NULL), token, &record, &err);
	if (!ret)
		ret = fleet_lease(ttl, &lease, &err);
	if (!ret) {
		snprintf(key, sizeof(key), "%s%s", FLEET_JOIN, node);
		op.key = key;
		op.key_len = strlen(key);
		op.value = record;
		op.value_len = strlen(record);
		op.lease = lease;
		ret = fleet_txn(NULL, 0, &op, 1, NULL, &err);
	}
	free(record);
	if (ret) {
		OPENSSL_cleanse(token, sizeof(token));
		return p_err("%s", err.msg);
	}
	if (json_output) {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "node", node);
		cJSON_AddStringToObject(o, "token", token);
		cJSON_AddNumberToObject(o, "ttl_s", (double)ttl);
		ret = json_emit(o);
	} else {
		printf("%s\n", token);
		p_info("join token for node %s, valid %s, once: nametagd --etcd URL --node %s --join-token TOKEN",
		       node, ttl_s, node);
	}
	OPENSSL_cleanse(token, sizeof(token));
	return ret;
}

static void print_status(const cJSON *reply)
{
	const cJSON *f = cJSON_GetObjectItem(reply, CTL_R_FLEET), *b;

	printf("node %s, etcd %s: %s\n\trevision %.0f in force, stale for %.0fs, relisted %.0f times\n\tsigner: %s\n",
	       cJSON_GetStringValue(cJSON_GetObjectItem(f, "node")),
	       cJSON_GetStringValue(cJSON_GetObjectItem(f, "etcd")),
	       cJSON_IsTrue(cJSON_GetObjectItem(f, "in_sync")) ? "in sync" : "OUT OF SYNC",
	       cJSON_GetNumberValue(cJSON_GetObjectItem(f, "revision")),
	       cJSON_GetNumberValue(cJSON_GetObjectItem(f, CTL_FL_STALE)),
	       cJSON_GetNumberValue(cJSON_GetObjectItem(f, "relists")),
	       cJSON_GetStringValue(cJSON_GetObjectItem(f, "signer")));
	if (cJSON_GetObjectItem(f, "bad_key"))
		printf("\trefused value: %s: %s\n",
		       cJSON_GetStringValue(cJSON_GetObjectItem(f, "bad_key")),
		       cJSON_GetStringValue(cJSON_GetObjectItem(f, "bad_error")));
	cJSON_ArrayForEach(b, cJSON_GetObjectItem(f, CTL_FL_FEDERATION))
		printf("\tfederated %s: fetched %.0fs ago, refresh %.0fs%s\n",
		       cJSON_GetStringValue(cJSON_GetObjectItem(b, CTL_FED_TD)),
		       cJSON_GetNumberValue(cJSON_GetObjectItem(b, CTL_FED_AGE)),
		       cJSON_GetNumberValue(cJSON_GetObjectItem(b, CTL_FED_REFRESH)),
		       cJSON_IsTrue(cJSON_GetObjectItem(b, CTL_FED_STALE)) ? " (STALE)" : "");
}

static int do_node_status(int argc, char **argv)
{
	NO_MORE_ARGS(0);
	return ctl_print_reply(ctl_request(CTL_NODE_STATUS), print_status);
}

static int do_help(int argc, char **argv)
{
	return p_usage(
		"Usage: %s --etcd URL node { list | show }\n"
		"       %s --etcd URL node token create NAME [--ttl DURATION]\n"
		"       %s node status\n"
		"       %s node help\n"
		"\n"
		"       list: the fleet's nodes (each on its lease: gone after its TTL).\n"
		"       token create: a one-time join token for NAME's first start\n"
		"       (default TTL 1h, at most 7d); only its verifier is stored.\n"
		"       status: the local nametagd's view of etcd (stale or not, the\n"
		"       revision in force, a refused value, the signer).\n",
		bin_name, bin_name, bin_name, bin_name);
}

static const struct cmd cmds[] = {
	{ "list",	do_list },
	{ "show",	do_list },
	{ "token",	do_token },
	{ "status",	do_node_status },
	{ "help",	do_help },
	{ 0 }
};

int do_node(int argc, char **argv)
{
	return cmd_select(cmds, argc, argv);
}
