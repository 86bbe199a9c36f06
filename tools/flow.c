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

static void print_flow(const cJSON *f)
{
	const cJSON *c = cJSON_GetObjectItem(f, "caller");

	printf("%ld  %s  %s  ns %s (%s)  %s -> %s  %s\n", num(f, "id"),
	       str(f, "time"), str(f, "type"), str(f, "namespace"),
	       str(f, "mode"), str(f, "src"), str(f, "dst"), str(f, "state"));
	printf("\tfrom %s", str(f, "src_spiffe_id"));
	if (cJSON_IsObject(c))
		printf("  pid %ld uid %ld exe %s", num(c, "pid"), num(c, "uid"),
		       str(c, "exe"));
	printf("\n\tto   %s\n\tverdict %s: %s\n", str(f, "dst_spiffe_id"),
	       str(f, "verdict"), str(f, "reason"));
	if (cJSON_GetObjectItem(f, "cipher")) {
		printf("\t%s %s  ktls tx %s rx %s", str(f, "tls_version"),
		       str(f, "cipher"),
		       cJSON_IsTrue(cJSON_GetObjectItem(f, "ktls_tx")) ? "on" : "off",
		       cJSON_IsTrue(cJSON_GetObjectItem(f, "ktls_rx")) ? "on" : "off");
		/* Streams after the first reuse the connection (NT2). */
		if (num(f, "stream") > 1)
			printf("  stream %ld, no handshake\n", num(f, "stream"));
		else
			printf("  handshake %.1f ms\n", cJSON_GetNumberValue(
				cJSON_GetObjectItem(f, "handshake_ms")));
	}
	if (num(f, "bytes_up") >= 0)
		printf("\tbytes up %ld down %ld\n", num(f, "bytes_up"),
		       num(f, "bytes_down"));
}

static int do_list(int argc, char **argv)
{
	cJSON *reply, *f;

	if (argc)
		return p_err("unexpected argument '%s'", *argv);
	if (ctl_call(ctl_request("flow.list"), &reply))
		return -1;
	if (json_output)
		return ctl_emit(reply, "flows");
	cJSON_ArrayForEach(f, cJSON_GetObjectItem(reply, "flows"))
		print_flow(f);
	cJSON_Delete(reply);
	return 0;
}

static int do_show(int argc, char **argv)
{
	cJSON *req, *reply;
	unsigned long long id;
	char *end;

	if (argc == 0)
		return do_list(argc, argv);
	if (argc > 1)
		return p_err("unexpected argument '%s'", argv[1]);
	id = strtoull(argv[0], &end, 10);
	if (*end || !id)
		return p_err("'%s' is not a flow id", argv[0]);
	req = ctl_request("flow.show");
	cJSON_AddNumberToObject(req, "id", (double)id);
	if (ctl_call(req, &reply))
		return -1;
	if (json_output)
		return ctl_emit(reply, "flow");
	print_flow(cJSON_GetObjectItem(reply, "flow"));
	cJSON_Delete(reply);
	return 0;
}

/* Streams flows until interrupted; with -j one JSON object per line. */
static int do_watch(int argc, char **argv)
{
	cJSON *msg, *f;
	int fd;

	if (argc)
		return p_err("unexpected argument '%s'", *argv);
	fd = ctl_connect();
	if (fd < 0)
		return -1;
	if (ctl_send(fd, ctl_request("flow.watch"), NULL, 0) ||
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
		f = cJSON_GetObjectItem(msg, "flow");
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
