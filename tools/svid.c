// SPDX-License-Identifier: Apache-2.0
/* nametag svid: mint X.509-SVIDs from the node CA, verify them. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tools/main.h"

#define CERT_FILE_MAX (1u << 20)

static int write_svid(const struct svid *s, const char *prefix)
{
	X509 *certs[16];
	struct nt_err err = {};
	char path[PATH_MAX], *pem = NULL;
	size_t len = 0, n = 0;
	int i, ret;

	certs[n++] = s->leaf;
	for (i = 0; i < sk_X509_num(s->intermediates) && n < 16; i++)
		certs[n++] = sk_X509_value(s->intermediates, i);
	if (snprintf(path, sizeof(path), "%s.key", prefix) >= (int)sizeof(path))
		return p_err("output prefix too long");
	/* Key first: a cert without its key is useless, the reverse is
	 * merely incomplete. */
	ret = pem__write_key(s->key, &pem, &len, &err);
	if (!ret)
		ret = state__write(path, pem, len, 0600, &err);
	state__free_secret(pem, len);
	if (ret)
		return p_err("%s", err.msg);
	snprintf(path, sizeof(path), "%s.crt", prefix);
	pem = NULL;
	ret = pem__write_certs(certs, n, &pem, &len, &err);
	if (!ret)
		ret = state__write(path, pem, len, 0644, &err);
	free(pem);
	if (ret)
		return p_err("%s", err.msg);
	return 0;
}

static cJSON *svid_json(X509 *leaf, const struct spiffe_id *id)
{
	char serial[80] = "", na[32];
	time_t not_after = 0;
	cJSON *o = cJSON_CreateObject();

	x509__serial_hex(leaf, serial, sizeof(serial));
	x509__validity(leaf, NULL, &not_after);
	time__iso8601(not_after, na, sizeof(na));
	cJSON_AddStringToObject(o, "spiffe_id", id->str);
	cJSON_AddStringToObject(o, "trust_domain", id->td);
	cJSON_AddStringToObject(o, "serial", serial);
	cJSON_AddStringToObject(o, "not_after", na);
	return o;
}

static int do_mint(int argc, char **argv)
{
	const char *out = NULL, *ttl_s = NULL, *id_s;
	struct nt_err err = {};
	struct svid *s = NULL;
	struct node_ca *ca = NULL;
	struct spiffe_id id;
	struct audit_log *log = NULL;
	int64_t ttl = 0;
	cJSON *o, *rec;
	int ret;

	REQ_ARGS(1);
	id_s = *argv;
	NEXT_ARG();
	while (argc > 0) {
		if (!strcmp(*argv, "--out"))
			GET_VALUE(out);
		else if (!strcmp(*argv, "--ttl"))
			GET_VALUE(ttl_s);
		else
			return p_err("unknown argument '%s' for 'svid mint'", *argv);
	}
	if (!out)
		return p_err("'svid mint' needs --out PREFIX");
	if (spiffe_id__parse(&id, id_s, strlen(id_s), &err))
		return p_err("invalid SPIFFE ID: %s", err.msg);
	if (ttl_s && duration__parse(ttl_s, &ttl, &err))
		return p_err("%s", err.msg);
	if (node_ca__open(&ca, state_dir, &err))
		return p_err("%s", err.msg);
	if (audit_begin(&log)) {
		node_ca__close(ca);
		return -1;
	}
	ret = node_ca__mint(ca, &id, ttl, time(NULL), &s, &err);
	node_ca__close(ca);
	if (ret) {
		audit_end(log, NULL);
		return p_err("failed to mint: %s", err.msg);
	}
	ret = write_svid(s, out);
	if (!ret) {
		o = svid_json(s->leaf, &id);
		rec = audit_record(log, "svid_mint");
		if (rec) {
			cJSON_AddStringToObject(rec, "spiffe_id", id.str);
			cJSON_AddItemToObject(rec, "serial", cJSON_Duplicate(
				cJSON_GetObjectItem(o, "serial"), true));
			cJSON_AddItemToObject(rec, "not_after", cJSON_Duplicate(
				cJSON_GetObjectItem(o, "not_after"), true));
			cJSON_AddStringToObject(rec, "out", out);
		}
		audit_end(log, rec);
		log = NULL;
		cJSON_AddStringToObject(o, "prefix", out);
		if (json_output) {
			ret = json_emit(o);
		} else {
			printf("minted %s serial %s not_after %s\n\t%s.crt %s.key\n",
			       id.str, cJSON_GetObjectItem(o, "serial")->valuestring,
			       cJSON_GetObjectItem(o, "not_after")->valuestring,
			       out, out);
			cJSON_Delete(o);
		}
	}
	audit_end(log, NULL);
	svid__free(s);
	return ret;
}

/* The bundles to verify against: one file for one trust domain, or the
 * state dir's own bundle and its federated ones. */
static int load_bundles(const char *file, const char *td,
			struct bundle_set **set)
{
	struct nt_err err = {};
	struct node_ca *ca = NULL;
	struct bundle *b = NULL;
	char own[SPIFFE_TD_MAX + 1];

	if (!file) {
		if (td)
			return p_err("--trust-domain goes with --bundle FILE");
		if (trust__load(state_dir, set, &err))
			return p_err("failed to load trust bundles: %s", err.msg);
		return 0;
	}
	if (!td) {
		if (node_ca__open(&ca, state_dir, &err))
			return p_err("no --trust-domain given and %s", err.msg);
		snprintf(own, sizeof(own), "%s", node_ca__trust_domain(ca));
		node_ca__close(ca);
		td = own;
	}
	if (bundle__load(&b, td, file, &err))
		return p_err("bad bundle: %s", err.msg);
	if (bundle_set__new(set)) {
		bundle__free(b);
		return p_err("out of memory");
	}
	if (bundle_set__add(*set, b, &err)) {
		bundle__free(b);
		bundle_set__free(*set);
		return p_err("%s", err.msg);
	}
	return 0;
}

static int read_chain(const char *path, STACK_OF(X509) **chain)
{
	struct nt_err err = {};
	char *buf = NULL;
	size_t len = 0;
	int ret;

	ret = state__read(path, CERT_FILE_MAX, false, &buf, &len, &err);
	if (!ret)
		ret = pem__read_certs(buf, len, chain, &err);
	free(buf);
	if (ret)
		return p_err("%s: %s", path, err.msg);
	return 0;
}

static int do_verify(int argc, char **argv)
{
	const char *cert, *bundle_file = NULL, *td = NULL, *skew_s = NULL;
	struct svid_verify_opts opts = { .now = time(NULL) };
	STACK_OF(X509) *chain = NULL;
	struct bundle_set *set = NULL;
	struct nt_err err = {};
	struct spiffe_id id;
	X509 *leaf;
	int ret;

	REQ_ARGS(1);
	cert = *argv;
	NEXT_ARG();
	while (argc > 0) {
		if (!strcmp(*argv, "--bundle"))
			GET_VALUE(bundle_file);
		else if (!strcmp(*argv, "--trust-domain"))
			GET_VALUE(td);
		else if (!strcmp(*argv, "--skew"))
			GET_VALUE(skew_s);
		else
			return p_err("unknown argument '%s' for 'svid verify'", *argv);
	}
	if (skew_s && duration__parse(skew_s, &opts.skew, &err))
		return p_err("%s", err.msg);
	if (read_chain(cert, &chain))
		return -1;
	if (load_bundles(bundle_file, td, &set)) {
		sk_X509_pop_free(chain, X509_free);
		return -1;
	}
	leaf = sk_X509_shift(chain);
	ret = svid__verify(leaf, chain, set, &opts, &id, &err);
	if (ret)
		ret = p_err("%s rejected: %s", cert, err.msg);
	else if (json_output)
		ret = json_emit(svid_json(leaf, &id));
	else
		printf("%s\n", id.str);
	X509_free(leaf);
	sk_X509_pop_free(chain, X509_free);
	bundle_set__free(set);
	return ret;
}

static void print_svid(const cJSON *s)
{
	printf("%s\n\tserial %s  not_after %s  uses %.0f\n",
	       cJSON_GetStringValue(cJSON_GetObjectItem(s, CTL_SVID_SPIFFE_ID)),
	       cJSON_GetStringValue(cJSON_GetObjectItem(s, CTL_SVID_SERIAL)),
	       cJSON_GetStringValue(cJSON_GetObjectItem(s, CTL_SVID_NOT_AFTER)),
	       cJSON_GetNumberValue(cJSON_GetObjectItem(s, CTL_SVID_USES)));
}

/* The SVIDs nametagd holds for workloads. */
static int do_list(int argc, char **argv)
{
	NO_MORE_ARGS(0);
	return ctl_print(ctl_request(CTL_SVID_LIST), CTL_R_SVIDS, print_svid);
}

static int do_help(int argc, char **argv)
{
	return p_usage(
		"Usage: %s svid { show | list }\n"
		"       %s svid mint ID --out PREFIX [--ttl DURATION]\n"
		"       %s svid verify CERT [--bundle FILE [--trust-domain TD]] [--skew DURATION]\n"
		"       %s svid help\n"
		"\n"
		"       list shows the SVIDs nametagd holds for workloads.\n"
		"       mint writes PREFIX.crt (leaf, then intermediates) and PREFIX.key (0600).\n"
		"       verify checks CERT (leaf first, then intermediates) against the bundle of\n"
		"       the leaf's own trust domain and prints its SPIFFE ID.\n",
		bin_name, bin_name, bin_name, bin_name);
}

static const struct cmd cmds[] = {
	{ "show",	do_list },
	{ "list",	do_list },
	{ "help",	do_help },
	{ "mint",	do_mint },
	{ "verify",	do_verify },
	{ 0 }
};

int do_svid(int argc, char **argv)
{
	return cmd_select(cmds, argc, argv);
}
