// SPDX-License-Identifier: Apache-2.0
/* nametag status: the daemon on one screen (with -j, the whole status
 * reply; docs/json.md). */
#include "tools/main.h"

static const cJSON *get(const cJSON *o, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(o, key);
}

static const char *str(const cJSON *o, const char *key)
{
	return cJSON_GetStringValue(get(o, key)) ?: "-";
}

static double num(const cJSON *o, const char *key)
{
	const cJSON *v = get(o, key);

	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/* "3d4h", "2h05m", "41s": the largest two units. */
static const char *span(double s, char *buf, size_t size)
{
	unsigned long v = s > 0 ? (unsigned long)s : 0;

	if (v >= 86400)
		snprintf(buf, size, "%lud%luh", v / 86400, v % 86400 / 3600);
	else if (v >= 3600)
		snprintf(buf, size, "%luh%02lum", v / 3600, v % 3600 / 60);
	else if (v >= 60)
		snprintf(buf, size, "%lum%02lus", v / 60, v % 60);
	else
		snprintf(buf, size, "%lus", v);
	return buf;
}

static void print_list(const char *title, const cJSON *arr, const char *k1,
		       const char *k2)
{
	const cJSON *it;
	int n = 0;

	printf("%-14s", title);
	cJSON_ArrayForEach(it, arr) {
		if (cJSON_IsNumber(get(it, k1)))
			printf("%s%.0f", n++ ? ", " : "", num(it, k1));
		else
			printf("%s%s", n++ ? ", " : "", str(it, k1));
		if (k2)
			printf(" (%s)", str(it, k2));
	}
	printf("%s\n", n ? "" : "none");
}

static void print_wlapi(const cJSON *w)
{
	if (!cJSON_IsObject(w)) {
		printf("%-14soff (nametagd --workload-api PATH)\n", "workload api");
		return;
	}
	printf("%-14s%s (caller evidence: %s)\n", "workload api",
	       str(w, CTL_WA_SOCKET), str(w, CTL_WA_EVIDENCE));
	printf("%-14s%.0f open, %.0f streams; %.0f calls, %.0f errors; "
	       "refused %.0f at the limit, %.0f per uid, %.0f timed out, "
	       "%.0f over memory\n", "",
	       num(w, CTL_WA_CONNECTIONS), num(w, CTL_WA_STREAMS),
	       num(w, CTL_WA_CALLS), num(w, CTL_WA_ERRORS),
	       num(w, CTL_WA_REFUSED_LIMIT), num(w, CTL_WA_REFUSED_UID),
	       num(w, CTL_WA_TIMEOUTS), num(w, CTL_WA_OVER_BUDGET));
}

static void print_status(const cJSON *r)
{
	const cJSON *ca = get(r, CTL_ST_CA), *k = get(r, CTL_ST_KTLS);
	const cJSON *adm = get(r, CTL_R_ADMISSION);
	char a[32], b[32];

	printf("nametagd v%s  pid %.0f  up %s (since %s)\n", str(r, CTL_R_VERSION),
	       num(r, CTL_ST_PID), span(num(r, CTL_ST_UPTIME), a, sizeof(a)),
	       str(r, CTL_ST_STARTED));
	printf("%-14s%s\n", "trust domain", str(r, CTL_R_TRUST_DOMAIN));
	printf("%-14s%s (in %s)%s  bundle sequence %.0f\n", "CA expires",
	       str(ca, CTL_ST_NOT_AFTER), span(num(ca, CTL_ST_EXPIRES_IN), b, sizeof(b)),
	       cJSON_IsTrue(get(ca, CTL_ST_UPSTREAM)) ? "  under an upstream root" : "",
	       num(ca, CTL_ST_BUNDLE_SEQUENCE));
	printf("%-14s%s\n", "cgroup root", str(r, CTL_R_CGROUP_ROOT));
	print_list("namespaces", get(r, CTL_R_NAMESPACES), CTL_NS_NAME, CTL_NS_MODE);
	print_list("served netns", get(r, CTL_R_PROXIES), CTL_PX_NETNS, CTL_PX_PATH);
	printf("%-14s%.0f open, %.0f idle mesh; handshakes pending %.0f of %.0f%s\n",
	       "connections", num(r, CTL_R_CONNECTIONS), num(r, CTL_R_IDLE_MESH),
	       num(adm, CTL_ADM_PENDING), num(adm, CTL_ADM_PENDING_MAX),
	       cJSON_IsTrue(get(adm, CTL_ADM_PRESSURE)) ? " (under pressure)" : "");
	printf("%-14s%s\n", "ktls",
	       cJSON_IsTrue(get(k, CTL_ST_ENABLED)) ? "on" :
	       cJSON_IsTrue(get(k, CTL_ST_AVAILABLE)) ? "off (--no-ktls)" :
	       "off (the kernel has no TLS ULP)");
	printf("%-14s%.0f held, the latest %.0f are kept\n", "flows",
	       num(r, CTL_ST_FLOWS), num(r, CTL_ST_FLOW_TABLE_SIZE));
	if (cJSON_IsString(get(r, CTL_ST_METRICS)))
		printf("%-14shttp://%s/metrics\n", "metrics", str(r, CTL_ST_METRICS));
	else
		printf("%-14soff (nametagd --metrics ADDR:PORT)\n", "metrics");
	if (cJSON_IsString(get(r, CTL_ST_AUDIT_LOG)))
		printf("%-14s%s\n", "audit log", str(r, CTL_ST_AUDIT_LOG));
	else
		printf("%-14snone (nametagd --audit-log FILE)\n", "audit log");
	print_wlapi(get(r, CTL_ST_WORKLOAD_API));
}

static int do_show(int argc, char **argv)
{
	NO_MORE_ARGS(0);
	return ctl_print_reply(ctl_request(CTL_STATUS), print_status);
}

static int do_help(int argc, char **argv)
{
	return p_usage(
		"Usage: %s status [show]\n"
		"       %s status help\n"
		"\n"
		"       nametagd on one screen: version, uptime, trust domain, CA expiry,\n"
		"       namespaces and their modes, served network namespaces, connections,\n"
		"       kTLS, the flow table, the metrics address and the audit log. With\n"
		"       -j, the whole status reply (docs/json.md).\n",
		bin_name, bin_name);
}

static const struct cmd cmds[] = {
	{ "show",	do_show },
	{ "help",	do_help },
	{ 0 }
};

int do_status(int argc, char **argv)
{
	return cmd_select(cmds, argc, argv);
}
