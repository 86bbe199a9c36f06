// SPDX-License-Identifier: Apache-2.0
/* nametag feature: what this kernel lets nametag do. */
#include <string.h>
#include <unistd.h>

#include "tools/main.h"
#include "lib/features.h"

static int do_probe(int argc, char **argv)
{
	struct nt_features f;
	int ret;

	if (argc)
		return p_err("unexpected argument '%s'", *argv);
	/* Probes need CAP_BPF and friends; unprivileged, most answer EPERM,
	 * which is true for this user but says little about the kernel. */
	if (geteuid())
		p_info("note: not running as root, results reflect this user's privileges");
	features_debug = verbose;
	ret = features__probe(&f, bpffs_dir);
	if (ret)
		return p_err("failed to probe features: %s", strerror(-ret));
	if (json_output)
		return json_emit(features__json(&f));
	features__print(&f, stdout);
	return 0;
}

static int do_help(int argc, char **argv)
{
	return p_usage(
		"Usage: %s feature probe\n"
		"       %s feature help\n"
		"\n"
		"       Probes program types, map types and helpers nametag uses, kTLS,\n"
		"       sock_diag SOCK_DESTROY (how a namespace turning strict ends the\n"
		"       plaintext made before), bpffs (--bpffs DIR), cgroup v2 and kernel BTF.\n",
		bin_name, bin_name);
}

static const struct cmd cmds[] = {
	{ "probe",	do_probe },
	{ "help",	do_help },
	{ 0 }
};

int do_feature(int argc, char **argv)
{
	return cmd_select(cmds, argc, argv);
}
