// SPDX-License-Identifier: Apache-2.0
/* nametag flow: connections of enrolled workloads, with both ends, the
 * caller's identity and the verdict. */
#include <stdbool.h>
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
	if (num(f, CTL_FLOW_HANDED_FROM) > 0)
		printf("\thanded over at an upgrade by pid %ld\n",
		       num(f, CTL_FLOW_HANDED_FROM));
}

/* `--ns NAME --verdict V --from ID|PREFIX --to ID|PREFIX --port N`: all
 * must hold. Applied here, to what the daemon sends. */
struct flow_filter {
	const char *ns, *verdict, *from, *to;
	long port;			/* 0: any */
};

static struct flow_filter filter;

/* @pat is an ID, or a prefix of IDs that ends at a '/' (with or without
 * the '/'): "spiffe://td/ns/shop" takes "spiffe://td/ns/shop/sa/x", never
 * "spiffe://td/ns/shopping". */
static bool id_matches(const char *id, const char *pat)
{
	size_t n = strlen(pat);

	if (!pat[0])
		return true;
	if (!id || strncmp(id, pat, n))
		return false;
	return !id[n] || id[n] == '/' || pat[n - 1] == '/';
}

static long dst_port(const cJSON *f)
{
	const char *dst = cJSON_GetStringValue(cJSON_GetObjectItem(f, CTL_FLOW_DST));
	const char *colon = dst ? strrchr(dst, ':') : NULL;

	return colon ? strtol(colon + 1, NULL, 10) : 0;
}

static bool flow_wanted(const cJSON *f)
{
	const struct flow_filter *w = &filter;
	const char *s;

	if (w->ns && strcmp(str(f, CTL_FLOW_NAMESPACE), w->ns))
		return false;
	if (w->verdict && strcmp(str(f, CTL_FLOW_VERDICT), w->verdict))
		return false;
	s = cJSON_GetStringValue(cJSON_GetObjectItem(f, CTL_FLOW_SRC_ID));
	if (w->from && !id_matches(s, w->from))
		return false;
	s = cJSON_GetStringValue(cJSON_GetObjectItem(f, CTL_FLOW_DST_ID));
	if (w->to && !id_matches(s, w->to))
		return false;
	return !w->port || dst_port(f) == w->port;
}

/* A SPIFFE ID, or one with a trailing '/', or a trust domain's. */
static int check_id_arg(const char *opt, const char *v)
{
	char buf[SPIFFE_ID_MAX + 2];
	struct nt_err err = {};
	struct spiffe_id id;
	size_t n = strlen(v);

	if (n > SPIFFE_ID_MAX)
		return p_err("%s: longer than a SPIFFE ID", opt);
	memcpy(buf, v, n + 1);
	if (n && buf[n - 1] == '/')
		buf[--n] = '\0';
	if (spiffe_id__parse(&id, buf, n, &err) &&
	    (strncmp(buf, "spiffe://", 9) || strchr(buf + 9, '/') ||
	     spiffe_td__check(buf + 9, n - 9, NULL)))
		return p_err("%s '%s': not a SPIFFE ID or a prefix of one: %s", opt,
			     v, err.msg);
	return 0;
}

/* The verdicts a flow record carries (docs/policy.md, "Modes"). */
static bool known_verdict(const char *v)
{
	static const char *const verdicts[] = {
		"allow", "deny", "would-allow", "would-deny", "unknown",
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(verdicts); i++)
		if (!strcmp(v, verdicts[i]))
			return true;
	return false;
}

static int parse_filter(int argc, char **argv)
{
	const char *port = NULL;
	char *end;

	while (argc > 0) {
		if (!strcmp(*argv, "--ns"))
			GET_VALUE(filter.ns);
		else if (!strcmp(*argv, "--verdict"))
			GET_VALUE(filter.verdict);
		else if (!strcmp(*argv, "--from"))
			GET_VALUE(filter.from);
		else if (!strcmp(*argv, "--to"))
			GET_VALUE(filter.to);
		else if (!strcmp(*argv, "--port"))
			GET_VALUE(port);
		else if (**argv == '-')
			return p_err("unknown option '%s'", *argv);
		else
			return p_err("unexpected argument '%s'", *argv);
	}
	if (filter.verdict && !known_verdict(filter.verdict))
		return p_err("--verdict %s: expected allow, deny, would-allow, would-deny or unknown",
			     filter.verdict);
	if (port) {
		filter.port = strtol(port, &end, 10);
		if (*end || port[0] < '1' || port[0] > '9' || filter.port > 65535)
			return p_err("--port: '%s' is not a port", port);
	}
	if ((filter.from && check_id_arg("--from", filter.from)) ||
	    (filter.to && check_id_arg("--to", filter.to)))
		return -1;
	return 0;
}

static int do_list(int argc, char **argv)
{
	cJSON *reply, *flows, *out, *f, *next;

	if (parse_filter(argc, argv) || ctl_call(ctl_request(CTL_FLOW_LIST), &reply))
		return -1;
	flows = cJSON_DetachItemFromObjectCaseSensitive(reply, CTL_R_FLOWS);
	cJSON_Delete(reply);
	if (!cJSON_IsArray(flows)) {
		cJSON_Delete(flows);
		return p_err("reply from nametagd lacks \"%s\"", CTL_R_FLOWS);
	}
	out = cJSON_CreateArray();
	for (f = flows->child; f; f = next) {
		next = f->next;
		if (flow_wanted(f))
			cJSON_AddItemToArray(out, cJSON_DetachItemViaPointer(flows, f));
	}
	cJSON_Delete(flows);
	if (json_output)
		return json_emit(out);
	cJSON_ArrayForEach(f, out)
		print_flow(f);
	cJSON_Delete(out);
	return 0;
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

	if (parse_filter(argc, argv))
		return -1;
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
		if (f && !flow_wanted(f)) {
			cJSON_Delete(msg);
			continue;
		}
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
		"Usage: %s flow { list | watch } [FILTER...]\n"
		"       %s flow show ID\n"
		"       %s flow help\n"
		"\n"
		"       FILTER := { --ns NAME |\n"
		"                   --verdict { allow | deny | would-allow | would-deny | unknown } |\n"
		"                   --from ID | --to ID | --port PORT }\n"
		"       watch streams flows as they happen; with -j, one JSON object per line.\n"
		"       Filters must all hold. --from and --to take a SPIFFE ID or a prefix\n"
		"       that ends at a '/' (spiffe://td/ns/shop: every ID below it, not\n"
		"       spiffe://td/ns/shopping); --port is the destination's.\n",
		bin_name, bin_name, bin_name);
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
