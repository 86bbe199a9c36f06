// SPDX-License-Identifier: Apache-2.0
/* nametag: option parsing, object dispatch and the output helpers. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpf/nametag.h"
#include "tools/main.h"

const char *bin_name;
bool json_output;
bool pretty_output;
bool verbose;
const char *state_dir = STATE_DIR_DEFAULT;
const char *bpffs_dir = NT_BPFFS_DEFAULT;

static int do_help(int argc, char **argv);
static int do_version(int argc, char **argv);

bool is_prefix(const char *pfx, const char *str)
{
	return pfx && *pfx && !strncmp(str, pfx, strlen(pfx));
}

int no_options(int argc, char **argv)
{
	int i;

	for (i = 0; i < argc; i++)
		if (argv[i][0] == '-' && argv[i][1])
			return p_err("unknown option '%s'", argv[i]);
	return 0;
}

/*
 * An exact name wins; otherwise the prefix must select one handler. Aliases
 * (show/list) share a handler, so "l" is not ambiguous between them.
 */
int cmd_select(const struct cmd *cmds, int argc, char **argv)
{
	const struct cmd *found = NULL;
	char names[256] = "";
	bool ambiguous = false;
	size_t i;

	if (argc < 1)
		return cmds[0].func(argc, argv);
	for (i = 0; cmds[i].name; i++) {
		if (!strcmp(argv[0], cmds[i].name))
			return cmds[i].func(argc - 1, argv + 1);
		if (!is_prefix(argv[0], cmds[i].name))
			continue;
		if (found && found->func != cmds[i].func)
			ambiguous = true;
		if (!found)
			found = &cmds[i];
		if (strlen(names) + strlen(cmds[i].name) + 3 < sizeof(names)) {
			if (names[0])
				strcat(names, ", ");
			strcat(names, cmds[i].name);
		}
	}
	if (ambiguous)
		return p_err("'%s' is ambiguous: it could be %s", argv[0], names);
	if (!found)
		return p_err("unknown keyword '%s', see '%s help'", argv[0],
			     bin_name);
	return found->func(argc - 1, argv + 1);
}

int p_err(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	cJSON *obj;
	char *s;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!json_output) {
		fprintf(stderr, "Error: %s\n", msg);
		return -1;
	}
	obj = cJSON_CreateObject();
	if (obj && cJSON_AddStringToObject(obj, "error", msg)) {
		s = pretty_output ? cJSON_Print(obj) : cJSON_PrintUnformatted(obj);
		if (s)
			printf("%s\n", s);
		cJSON_free(s);
	}
	cJSON_Delete(obj);
	return -1;
}

int p_usage(const char *fmt, ...)
{
	char text[4096];
	va_list ap;
	cJSON *o;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (!json_output) {
		fputs(text, stderr);
		return 0;
	}
	o = cJSON_CreateObject();
	if (!cJSON_AddStringToObject(o, "help", text)) {
		cJSON_Delete(o);
		return p_err("out of memory");
	}
	return json_emit(o);
}

void p_info(const char *fmt, ...)
{
	va_list ap;

	if (json_output)
		return;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int json_emit(cJSON *obj)
{
	char *s;

	if (!obj)
		return p_err("out of memory");
	s = pretty_output ? cJSON_Print(obj) : cJSON_PrintUnformatted(obj);
	cJSON_Delete(obj);
	if (!s)
		return p_err("out of memory");
	printf("%s\n", s);
	cJSON_free(s);
	return 0;
}

static int do_help(int argc, char **argv)
{
	return p_usage(
		"Usage: %s [OPTIONS] OBJECT { COMMAND | help }\n"
		"       %s version\n"
		"\n"
		"       OBJECT := { status | id | ca | svid | bundle | ns | entry |\n"
		"                   workload | flow | policy | proxy | daemon | prog |\n"
		"                   map | feature | jwt | node | federation }\n"
		"       OPTIONS := { {-j|--json} [{-p|--pretty}] | {-d|--debug} |\n"
		"                    {-V|--version} | --state-dir DIR | --run-dir DIR |\n"
		"                    --bpffs DIR | --etcd URL [--etcd-ca F --etcd-cert F\n"
		"                    --etcd-key F --etcd-user U --etcd-password-file F] }\n"
		"       With --etcd, ns, entry and policy write to the fleet (docs/fleet.md);\n"
		"       node and federation need it.\n"
		"\n"
		"       NAMETAG_STATE_DIR and NAMETAG_RUN_DIR in the environment are the\n"
		"       defaults of --state-dir and --run-dir.\n",
		bin_name, bin_name);
}

static int do_version(int argc, char **argv)
{
	if (json_output) {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "version", NAMETAG_VERSION);
		cJSON_AddStringToObject(o, "openssl",
					OpenSSL_version(OPENSSL_VERSION));
		return json_emit(o);
	}
	printf("%s v%s\nusing %s\n", bin_name, NAMETAG_VERSION,
	       OpenSSL_version(OPENSSL_VERSION));
	return 0;
}

static const struct cmd objects[] = {
	{ "help",	do_help },
	{ "status",	do_status },
	{ "id",		do_id },
	{ "ca",		do_ca },
	{ "svid",	do_svid },
	{ "bundle",	do_bundle },
	{ "ns",		do_ns },
	{ "entry",	do_entry },
	{ "workload",	do_workload },
	{ "flow",	do_flow },
	{ "policy",	do_policy },
	{ "proxy",	do_proxy },
	{ "daemon",	do_daemon },
	{ "prog",	do_prog },
	{ "map",	do_map },
	{ "feature",	do_feature },
	{ "jwt",	do_jwt },
	{ "node",	do_node },
	{ "federation",	do_federation },
	{ "version",	do_version },
	{ 0 }
};

enum { OPT_STATE_DIR = 256, OPT_BPFFS, OPT_RUN_DIR, OPT_ETCD, OPT_ETCD_CA,
       OPT_ETCD_CERT, OPT_ETCD_KEY, OPT_ETCD_USER, OPT_ETCD_PW };

static const struct option options[] = {
	{ "json",	no_argument,		NULL, 'j' },
	{ "pretty",	no_argument,		NULL, 'p' },
	{ "debug",	no_argument,		NULL, 'd' },
	{ "version",	no_argument,		NULL, 'V' },
	{ "help",	no_argument,		NULL, 'h' },
	{ "state-dir",	required_argument,	NULL, OPT_STATE_DIR },
	{ "bpffs",	required_argument,	NULL, OPT_BPFFS },
	{ "run-dir",	required_argument,	NULL, OPT_RUN_DIR },
	{ "etcd",	required_argument,	NULL, OPT_ETCD },
	{ "etcd-ca",	required_argument,	NULL, OPT_ETCD_CA },
	{ "etcd-cert",	required_argument,	NULL, OPT_ETCD_CERT },
	{ "etcd-key",	required_argument,	NULL, OPT_ETCD_KEY },
	{ "etcd-user",	required_argument,	NULL, OPT_ETCD_USER },
	{ "etcd-password-file", required_argument, NULL, OPT_ETCD_PW },
	{ 0 }
};

int main(int argc, char **argv)
{
	int opt, ret;

	bin_name = "nametag";
	opterr = 0;	/* getopt would print its own message */
	/* A private setup names its dirs once; the options still win. */
	if (getenv("NAMETAG_STATE_DIR") && *getenv("NAMETAG_STATE_DIR"))
		state_dir = getenv("NAMETAG_STATE_DIR");
	if (getenv("NAMETAG_RUN_DIR") && *getenv("NAMETAG_RUN_DIR"))
		run_dir = getenv("NAMETAG_RUN_DIR");
	/* '+': stop at the first non-option, so OBJECT COMMAND --flags are
	 * left for the command's own parser. */
	while ((opt = getopt_long(argc, argv, "+jpdVh", options, NULL)) >= 0) {
		switch (opt) {
		case 'p':
			pretty_output = true;
			/* fall through */
		case 'j':
			json_output = true;
			break;
		case 'd':
			verbose = true;
			break;
		case 'V':
			return do_version(0, NULL) ? 1 : 0;
		case 'h':
			return do_help(0, NULL) ? 1 : 0;
		case OPT_STATE_DIR:
			state_dir = optarg;
			break;
		case OPT_BPFFS:
			bpffs_dir = optarg;
			break;
		case OPT_RUN_DIR:
			run_dir = optarg;
			break;
		case OPT_ETCD: etcd_cli.url = optarg; break;
		case OPT_ETCD_CA: etcd_cli.ca = optarg; break;
		case OPT_ETCD_CERT: etcd_cli.cert = optarg; break;
		case OPT_ETCD_KEY: etcd_cli.key = optarg; break;
		case OPT_ETCD_USER: etcd_cli.user = optarg; break;
		case OPT_ETCD_PW: etcd_cli.password_file = optarg; break;
		default:
			p_err("unrecognized option '%s'", argv[optind - 1]);
			return 1;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1) {
		do_help(0, NULL);
		return 1;
	}
	ret = cmd_select(objects, argc, argv);
	return ret ? 1 : 0;
}
