// SPDX-License-Identifier: Apache-2.0
/* nametag flow: connections of enrolled workloads, with both ends, the
 * caller's identity and the verdict. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tools/main.h"

static const char *str(const cJSON *o, const char *key)
{
	const char *s = cJSON_GetStringValue(cJSON_GetObjectItem(o, key));

	return s && *s ? s : "-";
}

static long num(const cJSON *o, const char *key)
{
	const cJSON *it = cJSON_GetObjectItem(o, key);

	return cJSON_IsNumber(it) ? (long)it->valuedouble : -1;
}

static const char *on_off(const cJSON *f, const char *key)
{
	return cJSON_IsTrue(cJSON_GetObjectItem(f, key)) ? "on" : "off";
}

static void print_flow(const cJSON *f)
{
	const cJSON *c = cJSON_GetObjectItem(f, CTL_FLOW_CALLER);

	printf("%ld  %s  %s  ns %s (%s)  %s -> %s  %s\n", num(f, CTL_FLOW_ID),
	       str(f, CTL_FLOW_TIME), str(f, CTL_FLOW_TYPE),
	       str(f, CTL_FLOW_NAMESPACE), str(f, CTL_FLOW_MODE),
	       str(f, CTL_FLOW_SRC), str(f, CTL_FLOW_DST), str(f, CTL_FLOW_STATE));
	printf("\tfrom %s", str(f, CTL_FLOW_SRC_ID));
	if (cJSON_IsObject(c))
		printf("  pid %ld uid %ld exe %s", num(c, CTL_WL_PID),
		       num(c, CTL_WL_UID), str(c, CTL_WL_EXE));
	printf("\n\tto   %s\n\tverdict %s: %s\n", str(f, CTL_FLOW_DST_ID),
	       str(f, CTL_FLOW_VERDICT), str(f, CTL_FLOW_REASON));
	if (cJSON_GetObjectItem(f, CTL_FLOW_CIPHER)) {
		printf("\t%s %s  ktls tx %s rx %s", str(f, CTL_FLOW_TLS_VERSION),
		       str(f, CTL_FLOW_CIPHER), on_off(f, CTL_FLOW_KTLS_TX),
		       on_off(f, CTL_FLOW_KTLS_RX));
		/* Streams after the first reuse the connection (NT2). */
		if (num(f, CTL_FLOW_STREAM) > 1)
			printf("  stream %ld, no handshake\n", num(f, CTL_FLOW_STREAM));
		else
			printf("  handshake %.1f ms\n", cJSON_GetNumberValue(
				cJSON_GetObjectItem(f, CTL_FLOW_HANDSHAKE_MS)));
	}
	if (num(f, CTL_FLOW_BYTES_UP) >= 0)
		printf("\tbytes up %ld down %ld\n", num(f, CTL_FLOW_BYTES_UP),
		       num(f, CTL_FLOW_BYTES_DOWN));
}

static int do_list(int argc, char **argv)
{
	NO_MORE_ARGS(0);
	return ctl_print(ctl_request(CTL_FLOW_LIST), CTL_R_FLOWS, print_flow);
}

static int do_show(int argc, char **argv)
{
	unsigned long long id;
	cJSON *req;
	char *end;

	if (argc == 0)
		return do_list(argc, argv);
	NO_MORE_ARGS(1);
	id = strtoull(argv[0], &end, 10);
	if (*end || !id)
		return p_err("'%s' is not a flow id", argv[0]);
	req = ctl_request(CTL_FLOW_SHOW);
	cJSON_AddNumberToObject(req, CTL_K_ID, (double)id);
	return ctl_print(req, CTL_R_FLOW, print_flow);
}

/* Streams flows until interrupted; with -j one JSON object per line. */
static int do_watch(int argc, char **argv)
{
	cJSON *msg, *f;
	int fd;

	NO_MORE_ARGS(0);
	fd = ctl_connect();
	if (fd < 0)
		return -1;
	if (ctl_send(fd, ctl_request(CTL_FLOW_WATCH), NULL, 0) ||
	    ctl_recv(fd, &msg)) {
		close(fd);
		return -1;
	}
	cJSON_Delete(msg);
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (;;) {
		/* Only the daemon ends a watch: it stopped, or this watch
		 * fell a socket buffer behind (docs/control.md). */
		if (ctl_recv(fd, &msg)) {
			close(fd);
			return p_err("the daemon ended the watch (it stopped, or this watch fell behind)");
		}
		f = cJSON_GetObjectItem(msg, CTL_R_FLOW);
		if (json_output) {
			char *s = cJSON_PrintUnformatted(f);

			if (s)
				printf("%s\n", s);
			cJSON_free(s);
		} else if (f) {
			print_flow(f);
		}
		cJSON_Delete(msg);
	}
}

static int do_help(int argc, char **argv)
{
	return p_usage(
		"Usage: %s flow list\n"
		"       %s flow show ID\n"
		"       %s flow watch\n"
		"       %s flow help\n"
		"\n"
		"       watch streams flows as they happen; with -j, one JSON object per line.\n",
		bin_name, bin_name, bin_name, bin_name);
}

static const struct cmd cmds[] = {
	{ "list",	do_list },
	{ "show",	do_show },
	{ "watch",	do_watch },
	{ "help",	do_help },
	{ 0 }
};

int do_flow(int argc, char **argv)
{
	return cmd_select(cmds, argc, argv);
}
