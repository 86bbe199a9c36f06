// SPDX-License-Identifier: Apache-2.0
/* nametag bundle: the local trust bundle and federated ones. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "tools/main.h"

static int own_trust_domain(char *buf, size_t size)
{
	struct nt_err err = {};
	struct node_ca *ca;

	if (node_ca__open(&ca, state_dir, &err))
		return p_err("%s", err.msg);
	snprintf(buf, size, "%s", node_ca__trust_domain(ca));
	node_ca__close(ca);
	return 0;
}

static int federated_path(const char *td, char *buf, size_t size)
{
	struct nt_err err = {};
	char fleet[PATH_MAX];

	/* A fleet node's bundles/ mirrors etcd's config/bundles/: a file
	 * written here would be removed at the next snapshot. */
	snprintf(fleet, sizeof(fleet), "%s/%s", state_dir, STATE_FLEET_FILE);
	if (!access(fleet, F_OK))
		return p_err("this is a fleet node: its federated bundles come from etcd ('nametag --etcd URL federation add %s --url URL')",
			     td);

	if (spiffe_td__check(td, strlen(td), &err))
		return p_err("invalid trust domain '%s': %s", td, err.msg);
	if (snprintf(buf, size, "%s/%s/%s.json", state_dir,
		     STATE_FEDERATION_DIR, td) >= (int)size)
		return p_err("path too long");
	return 0;
}

/* --format pem: the X.509 authorities, for curl --cacert or openssl. */
static int print_pem(const struct bundle *b)
{
	BIO *bio = BIO_new(BIO_s_mem());
	cJSON *o;
	char *p;
	long n;
	int i;

	if (!bio)
		return p_err("out of memory");
	for (i = 0; i < sk_X509_num(b->x509_authorities); i++)
		if (!PEM_write_bio_X509(bio, sk_X509_value(b->x509_authorities, i))) {
			BIO_free(bio);
			return p_err("failed to write PEM");
		}
	BIO_write(bio, "", 1);	/* a C string for cJSON */
	n = BIO_get_mem_data(bio, &p);
	if (!json_output) {
		fwrite(p, 1, (size_t)n - 1, stdout);
		BIO_free(bio);
		return 0;
	}
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "trust_domain", b->td);
	cJSON_AddStringToObject(o, "pem", p);
	BIO_free(bio);
	return json_emit(o);
}

/* --format anchors: each X.509 authority's SHA-256, the value a fleet
 * node's --trust-anchor pins (docs/fleet.md "Pinning the root"). */
static int print_anchors(const struct bundle *b)
{
	char fp[ANCHOR_STR_MAX], subject[256], na[32];
	cJSON *o = NULL, *arr = NULL, *a;
	time_t not_before, not_after;
	X509 *c;
	int i;

	if (json_output) {
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "trust_domain", b->td);
		arr = cJSON_AddArrayToObject(o, "anchors");
	}
	for (i = 0; i < sk_X509_num(b->x509_authorities); i++) {
		c = sk_X509_value(b->x509_authorities, i);
		if (trust_anchor__of(c, fp) || x509__validity(c, &not_before, &not_after)) {
			cJSON_Delete(o);
			return p_err("authority %d of %s cannot be encoded", i, b->td);
		}
		X509_NAME_oneline(X509_get_subject_name(c), subject, sizeof(subject));
		time__iso8601(not_after, na, sizeof(na));
		if (!json_output) {
			printf("%s  %s  not_after %s\n", fp, subject, na);
			continue;
		}
		a = cJSON_CreateObject();
		cJSON_AddStringToObject(a, "sha256", fp);
		cJSON_AddStringToObject(a, "subject", subject);
		cJSON_AddStringToObject(a, "not_after", na);
		cJSON_AddItemToArray(arr, a);
	}
	return json_output ? json_emit(o) : 0;
}

static int print_bundle(const struct bundle *b, const char *format)
{
	struct nt_err err = {};
	char *json = NULL;

	if (!strcmp(format, "pem"))
		return print_pem(b);
	if (!strcmp(format, "anchors"))
		return print_anchors(b);
	/* The bundle is JSON already: plain mode pretty-prints it too. */
	if (bundle__to_json(b, !json_output || pretty_output, &json, &err))
		return p_err("%s", err.msg);
	printf("%s\n", json);
	free(json);
	return 0;
}

static int do_show(int argc, char **argv)
{
	const char *td = NULL, *format = "json";
	char own[SPIFFE_TD_MAX + 1];
	const struct bundle *b;
	struct bundle_set *set;
	struct nt_err err = {};
	int ret;

	while (argc > 0) {
		if (!strcmp(*argv, "--format"))
			GET_VALUE(format);
		else if (**argv == '-')
			return p_err("unknown option '%s' for 'bundle show'", *argv);
		else if (td)
			return p_err("unexpected argument '%s'", *argv);
		else
			td = *argv, NEXT_ARG();
	}
	if (strcmp(format, "json") && strcmp(format, "pem") &&
	    strcmp(format, "anchors"))
		return p_err("--format %s: expected json, pem or anchors", format);
	if (!td) {
		if (own_trust_domain(own, sizeof(own)))
			return -1;
		td = own;
	}
	if (trust__load(state_dir, &set, &err))
		return p_err("failed to load trust bundles: %s", err.msg);
	b = bundle_set__find(set, td, strlen(td));
	ret = b ? print_bundle(b, format) :
		  p_err("no bundle for trust domain '%s'", td);
	bundle_set__free(set);
	return ret;
}

static int do_list(int argc, char **argv)
{
	char own[SPIFFE_TD_MAX + 1];
	struct bundle_set *set;
	struct nt_err err = {};
	const struct bundle *b;
	cJSON *arr, *o;
	size_t i;

	NO_MORE_ARGS(0);
	if (own_trust_domain(own, sizeof(own)))
		return -1;
	if (trust__load(state_dir, &set, &err))
		return p_err("failed to load trust bundles: %s", err.msg);
	arr = cJSON_CreateArray();
	for (i = 0; i < bundle_set__count(set); i++) {
		b = bundle_set__at(set, i);
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "trust_domain", b->td);
		cJSON_AddBoolToObject(o, "local", !strcmp(b->td, own));
		cJSON_AddNumberToObject(o, "authorities",
					sk_X509_num(b->x509_authorities));
		cJSON_AddNumberToObject(o, "sequence", (double)b->sequence);
		cJSON_AddItemToArray(arr, o);
		if (!json_output)
			printf("%-32s %s  authorities %d  sequence %llu\n",
			       b->td, strcmp(b->td, own) ? "federated" : "local",
			       sk_X509_num(b->x509_authorities),
			       (unsigned long long)b->sequence);
	}
	bundle_set__free(set);
	if (json_output)
		return json_emit(arr);
	cJSON_Delete(arr);
	return 0;
}

static int do_add(int argc, char **argv)
{
	char own[SPIFFE_TD_MAX + 1], path[PATH_MAX], dir[PATH_MAX];
	struct nt_err err = {};
	struct bundle *b = NULL;
	struct audit_log *log;
	cJSON *o, *rec;
	int ret;

	REQ_ARGS(2);
	NO_MORE_ARGS(2);
	if (no_options(argc, argv))
		return -1;
	if (federated_path(argv[0], path, sizeof(path)) ||
	    own_trust_domain(own, sizeof(own)))
		return -1;
	if (!strcmp(argv[0], own))
		return p_err("'%s' is this node's own trust domain: its bundle comes from the CA", own);
	/* Validate the whole file before anything is written. */
	if (bundle__load(&b, argv[0], argv[1], &err))
		return p_err("bad bundle: %s", err.msg);
	if (audit_begin(&log)) {
		bundle__free(b);
		return -1;
	}
	snprintf(dir, sizeof(dir), "%s/%s", state_dir, STATE_FEDERATION_DIR);
	ret = state__mkdir(dir, &err);
	if (!ret)
		ret = bundle__save(b, path, &err);
	if (ret) {
		audit_end(log, NULL);
		bundle__free(b);
		return p_err("%s", err.msg);
	}
	rec = audit_record(log, "bundle_add");
	if (rec) {
		cJSON_AddStringToObject(rec, "trust_domain", b->td);
		cJSON_AddNumberToObject(rec, "authorities",
					sk_X509_num(b->x509_authorities));
		json__add_u64(rec, "sequence", b->sequence);
	}
	audit_end(log, rec);
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "trust_domain", b->td);
	cJSON_AddNumberToObject(o, "authorities", sk_X509_num(b->x509_authorities));
	cJSON_AddNumberToObject(o, "sequence", (double)b->sequence);
	if (!json_output)
		printf("added bundle for %s: %d authorities, sequence %llu\n",
		       b->td, sk_X509_num(b->x509_authorities),
		       (unsigned long long)b->sequence);
	bundle__free(b);
	if (json_output)
		return json_emit(o);
	cJSON_Delete(o);
	return 0;
}

static int do_del(int argc, char **argv)
{
	char own[SPIFFE_TD_MAX + 1], path[PATH_MAX];
	struct audit_log *log;
	cJSON *o, *rec;

	REQ_ARGS(1);
	NO_MORE_ARGS(1);
	if (no_options(argc, argv))
		return -1;
	if (federated_path(argv[0], path, sizeof(path)) ||
	    own_trust_domain(own, sizeof(own)))
		return -1;
	if (!strcmp(argv[0], own))
		return p_err("'%s' is this node's own trust domain and cannot be deleted", own);
	if (audit_begin(&log))
		return -1;
	if (unlink(path)) {
		int e = errno;

		audit_end(log, NULL);
		errno = e;
		return p_err(errno == ENOENT ? "no federated bundle for '%s'" :
			     "failed to delete bundle of '%s': %m", argv[0]);
	}
	rec = audit_record(log, "bundle_del");
	if (rec)
		cJSON_AddStringToObject(rec, "trust_domain", argv[0]);
	audit_end(log, rec);
	if (!json_output) {
		printf("deleted bundle for %s\n", argv[0]);
		return 0;
	}
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "deleted", argv[0]);
	return json_emit(o);
}

static int do_help(int argc, char **argv)
{
	return p_usage(
		"Usage: %s bundle show [TD] [--format { json | pem | anchors }]\n"
		"       %s bundle list\n"
		"       %s bundle add TD FILE\n"
		"       %s bundle { del | delete } TD\n"
		"       %s bundle help\n"
		"\n"
		"       show prints a SPIFFE bundle (JWK Set); without TD, this node's own;\n"
		"       --format pem prints its X.509 authorities as PEM (curl --cacert);\n"
		"       --format anchors their SHA-256, which nametagd --trust-anchor pins.\n"
		"       add stores the bundle of another trust domain (federation); bundles\n"
		"       of different trust domains are kept apart, never merged.\n",
		bin_name, bin_name, bin_name, bin_name, bin_name);
}

static const struct cmd cmds[] = {
	{ "show",	do_show },
	{ "list",	do_list },
	{ "add",	do_add },
	{ "del",	do_del },
	{ "delete",	do_del },
	{ "help",	do_help },
	{ 0 }
};

int do_bundle(int argc, char **argv)
{
	return cmd_select(cmds, argc, argv);
}
