// SPDX-License-Identifier: Apache-2.0
/* nametag ca: the node CA in the state dir. */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "tools/main.h"

static const char *slot_name(enum ca_slot slot)
{
	switch (slot) {
	case CA_SLOT_CURRENT: return "current";
	case CA_SLOT_NEXT: return "next";
	case CA_SLOT_RETIRED: return "retired";
	}
	return "unknown";
}

static int parse_ttl(const char *s, int64_t *ttl)
{
	struct nt_err err = {};

	if (duration__parse(s, ttl, &err))
		return p_err("%s", err.msg);
	return 0;
}

static int do_init(int argc, char **argv)
{
	struct ca_init_opts opts = { .now = time(NULL) };
	struct nt_err err = {};
	const char *ttl = NULL, *svid_ttl = NULL;

	while (argc > 0) {
		if (!strcmp(*argv, "--trust-domain"))
			GET_VALUE(opts.trust_domain);
		else if (!strcmp(*argv, "--ttl"))
			GET_VALUE(ttl);
		else if (!strcmp(*argv, "--svid-ttl"))
			GET_VALUE(svid_ttl);
		else if (!strcmp(*argv, "--upstream-cert"))
			GET_VALUE(opts.upstream_cert);
		else if (!strcmp(*argv, "--upstream-key"))
			GET_VALUE(opts.upstream_key);
		else
			return p_err("unknown argument '%s' for 'ca init'", *argv);
	}
	if (!opts.trust_domain)
		return p_err("'ca init' needs --trust-domain TD");
	if (!opts.upstream_cert != !opts.upstream_key)
		return p_err("--upstream-cert and --upstream-key go together");
	if (ttl && parse_ttl(ttl, &opts.ca_ttl))
		return -1;
	if (svid_ttl && parse_ttl(svid_ttl, &opts.svid_ttl))
		return -1;
	if (node_ca__init(state_dir, &opts, &err))
		return p_err("failed to initialise the CA in %s: %s", state_dir,
			     err.msg);
	p_info("initialised CA for trust domain %s in %s", opts.trust_domain,
	       state_dir);
	/* The same view as 'ca show', so scripts get the serials at once. */
	return do_ca(1, (char *[]){ "show", NULL });
}

static cJSON *entry_json(const struct ca_entry *e)
{
	char serial[80] = "", nb[32], na[32];
	struct spiffe_id id;
	time_t not_before = 0, not_after = 0;
	cJSON *o = cJSON_CreateObject();

	x509__serial_hex(e->cert, serial, sizeof(serial));
	x509__validity(e->cert, &not_before, &not_after);
	time__iso8601(not_before, nb, sizeof(nb));
	time__iso8601(not_after, na, sizeof(na));
	cJSON_AddStringToObject(o, "slot", slot_name(e->slot));
	cJSON_AddStringToObject(o, "serial", serial);
	if (!x509__spiffe_id(e->cert, &id, NULL))
		cJSON_AddStringToObject(o, "spiffe_id", id.str);
	cJSON_AddStringToObject(o, "not_before", nb);
	cJSON_AddStringToObject(o, "not_after", na);
	return o;
}

static cJSON *ca_json(const struct node_ca *ca)
{
	const struct bundle *b = node_ca__bundle(ca);
	cJSON *o = cJSON_CreateObject(), *arr;
	size_t i;

	cJSON_AddStringToObject(o, "trust_domain", node_ca__trust_domain(ca));
	cJSON_AddStringToObject(o, "mode", node_ca__is_upstream(ca) ?
				"upstream" : "self-signed");
	cJSON_AddNumberToObject(o, "ca_ttl", (double)node_ca__ca_ttl(ca));
	cJSON_AddNumberToObject(o, "svid_ttl", (double)node_ca__svid_ttl(ca));
	if (b)
		cJSON_AddNumberToObject(o, "bundle_sequence", (double)b->sequence);
	arr = cJSON_AddArrayToObject(o, "authorities");
	for (i = 0; i < node_ca__count(ca); i++)
		cJSON_AddItemToArray(arr, entry_json(node_ca__at(ca, i)));
	return o;
}

static void print_ca_plain(cJSON *o)
{
	const cJSON *a;

	printf("trust_domain %s  mode %s  ca_ttl %ds  svid_ttl %ds",
	       cJSON_GetObjectItem(o, "trust_domain")->valuestring,
	       cJSON_GetObjectItem(o, "mode")->valuestring,
	       cJSON_GetObjectItem(o, "ca_ttl")->valueint,
	       cJSON_GetObjectItem(o, "svid_ttl")->valueint);
	if (cJSON_GetObjectItem(o, "bundle_sequence"))
		printf("  bundle_sequence %d",
		       cJSON_GetObjectItem(o, "bundle_sequence")->valueint);
	printf("\n");
	cJSON_ArrayForEach(a, cJSON_GetObjectItem(o, "authorities"))
		printf("%-8s serial %s\n\tnot_before %s  not_after %s\n",
		       cJSON_GetObjectItem(a, "slot")->valuestring,
		       cJSON_GetObjectItem(a, "serial")->valuestring,
		       cJSON_GetObjectItem(a, "not_before")->valuestring,
		       cJSON_GetObjectItem(a, "not_after")->valuestring);
}

static int open_ca(struct node_ca **ca)
{
	struct nt_err err = {};

	if (node_ca__open(ca, state_dir, &err))
		return p_err("%s", err.msg);
	return 0;
}

static int do_show(int argc, char **argv)
{
	struct node_ca *ca;
	cJSON *o;

	NO_MORE_ARGS(0);
	if (open_ca(&ca))
		return -1;
	o = ca_json(ca);
	node_ca__close(ca);
	if (json_output)
		return json_emit(o);
	print_ca_plain(o);
	cJSON_Delete(o);
	return 0;
}

static int do_rotate(int argc, char **argv)
{
	static const char *const steps[] = {
		[CA_STEP_NONE] = "none",
		[CA_STEP_PREPARED] = "prepared",
		[CA_STEP_ACTIVATED] = "activated",
	};
	enum ca_step step = CA_STEP_NONE;
	struct nt_err err = {};
	struct audit_log *log;
	struct node_ca *ca;
	cJSON *o, *rec;
	int ret;

	NO_MORE_ARGS(0);
	if (open_ca(&ca))
		return -1;
	if (audit_begin(&log)) {
		node_ca__close(ca);
		return -1;
	}
	ret = node_ca__rotate(ca, time(NULL), &step, &err);
	if (ret) {
		node_ca__close(ca);
		audit_end(log, NULL);
		return p_err("rotation failed, CA unchanged: %s", err.msg);
	}
	rec = audit_record(log, "ca_rotate");
	if (rec) {
		cJSON_AddStringToObject(rec, "step", steps[step]);
		cJSON_AddStringToObject(rec, "trust_domain",
					node_ca__trust_domain(ca));
		json__add_u64(rec, "bundle_sequence", node_ca__bundle(ca)->sequence);
	}
	audit_end(log, rec);
	o = ca_json(ca);
	node_ca__close(ca);
	cJSON_AddStringToObject(o, "step", steps[step]);
	if (json_output)
		return json_emit(o);
	if (step == CA_STEP_PREPARED)
		printf("prepared the next CA and published it in the bundle; run 'ca rotate' again to make it sign\n");
	else if (step == CA_STEP_ACTIVATED)
		printf("activated the next CA; the previous one stays in the bundle until it expires\n");
	print_ca_plain(o);
	cJSON_Delete(o);
	return 0;
}

static int do_help(int argc, char **argv)
{
	return p_usage(
		"Usage: %s ca init --trust-domain TD [--ttl DURATION] [--svid-ttl DURATION]\n"
		"                  [--upstream-cert FILE --upstream-key FILE]\n"
		"       %s ca { show | list }\n"
		"       %s ca rotate\n"
		"       %s --etcd URL ca signer --trust-domain TD --upstream-cert FILE\n"
		"                  --upstream-key FILE [--ca-ttl DURATION]\n"
		"                  [--federation-ca FILE] [--federation-refresh-min DURATION]\n"
		"       %s ca help\n"
		"\n"
		"       'ca rotate' advances one step: the first prepares the next CA and\n"
		"       publishes it in the bundle, the second makes it sign.\n"
		"       DURATION := e.g. 90s, 15m, 1h, 1h30m, 2d (CA default 24h, SVID 1h)\n"
		"       'ca signer' signs fleet node CAs where the upstream key is\n"
		"       (docs/fleet.md) and fetches the bundles of 'federation add'; it runs\n"
		"       until killed. --federation-ca: the CAs that authenticate bundle\n"
		"       endpoints instead of the system's; --federation-refresh-min: the\n"
		"       shortest refresh obeyed (default 30s; lower for tests only).\n",
		bin_name, bin_name, bin_name, bin_name, bin_name);
}

static const struct cmd cmds[] = {
	{ "show",	do_show },
	{ "list",	do_show },
	{ "init",	do_init },
	{ "rotate",	do_rotate },
	{ "signer",	do_signer },
	{ "help",	do_help },
	{ 0 }
};

int do_ca(int argc, char **argv)
{
	return cmd_select(cmds, argc, argv);
}
