// SPDX-License-Identifier: Apache-2.0
/* nametag feature: what this kernel lets nametag do (lib/'s probes), in
 * bpftool feature's words or as JSON. */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "tools/main.h"

/* "EPERM", or "errno 4242" for one glibc does not name. */
static const char *err_name(int err, char *buf, size_t size)
{
	const char *name = strerrorname_np(err);

	if (name)
		return name;
	snprintf(buf, size, "errno %d", err);
	return buf;
}

/* ---- JSON ------------------------------------------------------------------ */

static cJSON *feature_json(const struct nt_feature *ft)
{
	cJSON *o = cJSON_CreateObject();
	char buf[32];

	cJSON_AddBoolToObject(o, "available", ft->available);
	if (!ft->available && ft->err)
		cJSON_AddStringToObject(o, "error",
					err_name(ft->err, buf, sizeof(buf)));
	return o;
}

/* As feature_json() with a "path" member. */
static cJSON *path_json(const struct nt_feature *ft, const char *path)
{
	cJSON *o = feature_json(ft);

	if (path[0])
		cJSON_AddStringToObject(o, "path", path);
	return o;
}

static cJSON *helpers_json(const struct nt_features *f)
{
	cJSON *o = cJSON_CreateObject(), *per;
	enum nt_feat_prog p = 0;
	const char *name, *prog;
	int i;

	/* {"cgroup_sock_addr": {"bpf_get_current_task_btf": {...}}} */
	for (i = 0; i < NT_FEAT_HELPER_MAX; i++) {
		name = features__helper_name(i, &p);
		prog = features__prog_name(p);
		per = cJSON_GetObjectItem(o, prog);
		if (!per)
			per = cJSON_AddObjectToObject(o, prog);
		cJSON_AddItemToObject(per, name, feature_json(&f->helpers[i]));
	}
	return o;
}

static cJSON *features_json(const struct nt_features *f)
{
	cJSON *o = cJSON_CreateObject(), *sub;
	int i;

	cJSON_AddStringToObject(o, "kernel_release", f->kernel_release);
	sub = cJSON_AddObjectToObject(o, "program_types");
	for (i = 0; i < NT_FEAT_PROG_MAX; i++)
		cJSON_AddItemToObject(sub, features__prog_name(i),
				      feature_json(&f->progs[i]));
	sub = cJSON_AddObjectToObject(o, "map_types");
	for (i = 0; i < NT_FEAT_MAP_MAX; i++)
		cJSON_AddItemToObject(sub, features__map_name(i),
				      feature_json(&f->maps[i]));
	cJSON_AddItemToObject(o, "helpers", helpers_json(f));
	sub = feature_json(&f->ktls);
	cJSON_AddBoolToObject(sub, "tls_stat", f->tls_stat);
	cJSON_AddItemToObject(o, "ktls", sub);
	cJSON_AddItemToObject(o, "sock_destroy", feature_json(&f->sock_destroy));
	cJSON_AddItemToObject(o, "bpffs", path_json(&f->bpffs, f->bpffs_dir));
	cJSON_AddItemToObject(o, "cgroup2",
			      path_json(&f->cgroup2, f->cgroup2_path));
	cJSON_AddItemToObject(o, "vmlinux_btf",
			      path_json(&f->vmlinux_btf, FEATURES_VMLINUX_BTF));
	return o;
}

/* ---- plain text --------------------------------------------------------------- */

/* "WHAT is available" or "WHAT is NOT available (EPERM)" */
static void print_feature(const struct nt_feature *ft, const char *what)
{
	char buf[32];

	if (ft->available)
		printf("%s is available\n", what);
	else if (ft->err)
		printf("%s is NOT available (%s)\n", what,
		       err_name(ft->err, buf, sizeof(buf)));
	else
		printf("%s is NOT available\n", what);
}

static void print_system(const struct nt_features *f)
{
	char buf[32];

	printf("Scanning system configuration...\n");
	printf("kernel release is %s\n", f->kernel_release);
	if (f->bpffs.available)
		printf("bpffs is mounted at %s\n", f->bpffs_dir);
	else if (f->bpffs.err)
		printf("bpffs is NOT mounted at %s (%s)\n", f->bpffs_dir,
		       err_name(f->bpffs.err, buf, sizeof(buf)));
	else
		printf("bpffs is NOT mounted at %s (another file system is)\n",
		       f->bpffs_dir);
	if (f->cgroup2.available)
		printf("cgroup v2 is mounted at %s\n", f->cgroup2_path);
	else
		print_feature(&f->cgroup2, "cgroup v2");
	print_feature(&f->vmlinux_btf, "vmlinux BTF (" FEATURES_VMLINUX_BTF ")");
}

static void print_features(const struct nt_features *f)
{
	enum nt_feat_prog p = 0;
	const char *name;
	char what[128];
	int i;

	print_system(f);
	printf("\nScanning eBPF program types...\n");
	for (i = 0; i < NT_FEAT_PROG_MAX; i++) {
		snprintf(what, sizeof(what), "%s program type",
			 features__prog_name(i));
		print_feature(&f->progs[i], what);
	}
	printf("\nScanning eBPF map types...\n");
	for (i = 0; i < NT_FEAT_MAP_MAX; i++) {
		snprintf(what, sizeof(what), "%s map type", features__map_name(i));
		print_feature(&f->maps[i], what);
	}
	printf("\nScanning eBPF helper functions...\n");
	for (i = 0; i < NT_FEAT_HELPER_MAX; i++) {
		name = features__helper_name(i, &p);
		snprintf(what, sizeof(what), "%s in %s programs", name,
			 features__prog_name(p));
		print_feature(&f->helpers[i], what);
	}
	printf("\nScanning kernel TLS...\n");
	print_feature(&f->ktls, "kTLS (TCP_ULP \"tls\")");
	printf("%s is %s\n", FEATURES_TLS_STAT, f->tls_stat ? "present" : "absent");
	printf("\nScanning socket diagnostics...\n");
	print_feature(&f->sock_destroy,
		      "sock_diag SOCK_DESTROY (CONFIG_INET_DIAG_DESTROY)");
}

/* ---- the running daemon's limits ---------------------------------------------- */

/* Is a nametagd answering at RUN_DIR? Asked quietly: a probe without one is
 * no error. */
static bool daemon_up(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, ret;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", run_dir, CTL_SOCK_NAME);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	ret = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	return !ret;
}

/* {"netns": {"served", "max", "refused", "limit_reached"},
 *  "listeners_per_netns"}, from `proxy status`; NULL without a daemon. */
static cJSON *limits_json(void)
{
	cJSON *reply = NULL, *dp, *o, *n;
	double served, max;

	if (!daemon_up() || ctl_call(ctl_request(CTL_STATUS), &reply))
		return NULL;
	dp = cJSON_GetObjectItem(reply, CTL_R_DATAPATH);
	served = cJSON_GetNumberValue(cJSON_GetObjectItem(dp, CTL_R_NETNS_SERVED));
	max = cJSON_GetNumberValue(cJSON_GetObjectItem(dp, CTL_DP_MAX_NETNS));
	o = cJSON_CreateObject();
	n = cJSON_AddObjectToObject(o, "netns");
	cJSON_AddNumberToObject(n, "served", served);
	cJSON_AddNumberToObject(n, "max", max);
	cJSON_AddNumberToObject(n, "refused", cJSON_GetNumberValue(
		cJSON_GetObjectItem(dp, CTL_R_NETNS_REFUSED)));
	cJSON_AddBoolToObject(n, "limit_reached", served >= max);
	cJSON_AddNumberToObject(o, "listeners_per_netns", cJSON_GetNumberValue(
		cJSON_GetObjectItem(dp, "listeners_per_netns")));
	cJSON_Delete(reply);
	return o;
}

static void print_limits(const cJSON *l)
{
	const cJSON *n = cJSON_GetObjectItem(l, "netns");

	printf("\nScanning nametagd's limits...\n");
	if (!l) {
		printf("nametagd is not running at %s: no limits to report\n", run_dir);
		return;
	}
	printf("network namespaces: %.0f of %.0f served, %.0f refused at the limit%s\n",
	       cJSON_GetNumberValue(cJSON_GetObjectItem(n, "served")),
	       cJSON_GetNumberValue(cJSON_GetObjectItem(n, "max")),
	       cJSON_GetNumberValue(cJSON_GetObjectItem(n, "refused")),
	       cJSON_IsTrue(cJSON_GetObjectItem(n, "limit_reached")) ?
	       " (limit reached: nametagd --max-netns)" : "");
	printf("listening addresses per network namespace: %.0f\n",
	       cJSON_GetNumberValue(cJSON_GetObjectItem(l, "listeners_per_netns")));
}

/* ---- commands ------------------------------------------------------------------- */

static int do_probe(int argc, char **argv)
{
	struct nt_features f;
	cJSON *limits, *o;
	int ret;

	NO_MORE_ARGS(0);
	/* Probes need CAP_BPF and friends; unprivileged, most answer EPERM,
	 * which is true for this user but says little about the kernel. */
	if (geteuid())
		p_info("note: not running as root, results reflect this user's privileges");
	features_debug = verbose;
	ret = features__probe(&f, bpffs_dir);
	if (ret)
		return p_err("failed to probe features: %s", strerror(-ret));
	limits = limits_json();
	if (json_output) {
		o = features_json(&f);
		cJSON_AddItemToObject(o, "limits", limits ? limits :
				      cJSON_CreateNull());
		return json_emit(o);
	}
	print_features(&f);
	print_limits(limits);
	cJSON_Delete(limits);
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
		"       plaintext made before), bpffs (--bpffs DIR), cgroup v2 and kernel BTF;\n"
		"       with a nametagd running (--run-dir DIR), its limits: network\n"
		"       namespaces served of --max-netns, refused at the limit.\n",
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
