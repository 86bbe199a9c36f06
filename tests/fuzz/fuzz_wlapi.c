// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target for the Workload API's request path: the input is what a
 * client sends on a connection (HTTP/2 frames through nghttp2, then the
 * gRPC framing, then protobuf decoding of the request messages), fed to a
 * real libworkload_api server over a socketpair. The server's callbacks
 * give every caller one SVID from a CA made at start, so mutations of the
 * seed corpus (requests of every RPC, built with python3-h2) reach the
 * RPCs, the stream pushes (wlapi__changed between two halves of the
 * input) and the JWT validator.
 *
 * Checked: no crash, no leak (ASan), and once the client is gone the
 * connection is freed and the server holds no memory for it.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "tests/fuzz/fuzz.h"
#include "userspace/workload_api/workload_api.h"

static struct {
	struct wlapi *srv;
	struct node_ca *ca;
	struct svid *svid;
	struct bundle_set *set;
	struct wlapi_watch *w;		/* the connection's, while watched */
} F;

static void fail(const char *what, const struct nt_err *err)
{
	fprintf(stderr, "fuzz_wlapi: %s: %s\n", what, err ? err->msg : "");
	abort();
}

static int watch(void *ctx, struct wlapi_watch *w, uint32_t events)
{
	F.w = w;
	return 0;
}

static void unwatch(void *ctx, struct wlapi_watch *w)
{
	if (F.w == w)
		F.w = NULL;
}

static int identity(void *ctx, void *caller, struct wlapi_identity *out)
{
	out->svids[0].svid = F.svid;
	out->n = 1;
	return 0;
}

static int bundles(void *ctx, void *caller, const struct bundle_set **set,
		   const char **local)
{
	*set = F.set;
	*local = "example.org";
	return 0;
}

static int mint_jwt(void *ctx, void *caller, const struct spiffe_id *id,
		    const char *const *aud, size_t naud, char **token,
		    struct nt_err *err)
{
	return node_ca__mint_jwt(F.ca, id, aud, naud, 0, time(NULL), token,
				 NULL, err);
}

static void setup(void)
{
	char dir[] = "/tmp/fuzz_wlapi.XXXXXX";
	struct ca_init_opts o = { .trust_domain = "example.org",
				  .now = time(NULL) };
	struct wlapi_ops ops = {
		.watch = watch, .unwatch = unwatch, .identity = identity,
		.bundles = bundles, .mint_jwt = mint_jwt,
	};
	struct wlapi_config cfg = { .conn_mem_max = 1u << 20 };
	struct nt_err err = { "" };
	struct spiffe_id id;
	char cmd[64];

	if (!mkdtemp(dir) || node_ca__init(dir, &o, &err) ||
	    node_ca__open(&F.ca, dir, &err) || trust__load(dir, &F.set, &err) ||
	    spiffe_id__parse(&id, "spiffe://example.org/web", 24, &err) ||
	    node_ca__mint(F.ca, &id, 0, time(NULL), &F.svid, &err) ||
	    wlapi__new(&F.srv, &cfg, &ops, &err))
		fail("setup", &err);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		fail("removing the state dir", NULL);
}

/* Lets the server read and write until it waits on the client. */
static void pump(int client)
{
	char buf[65536];
	int i;

	for (i = 0; i < 64 && F.w; i++) {
		wlapi__ready(F.w, EPOLLIN | EPOLLOUT);
		while (read(client, buf, sizeof(buf)) > 0)
			;
	}
}

static void feed(int client, const uint8_t *data, size_t size)
{
	ssize_t n;

	while (size && F.w) {
		n = write(client, data, size);
		if (n <= 0)
			break;
		data += n;
		size -= (size_t)n;
		pump(client);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nt_err err = { "" };
	struct wlapi_stats st;
	int sv[2];

	if (!F.srv)
		setup();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv))
		fail("socketpair", NULL);
	if (wlapi__adopt(F.srv, sv[0], &err))
		fail("adopt", &err);
	feed(sv[1], data, size / 2);
	/* Open streams compute their messages again, as on a rotation. */
	wlapi__changed(F.srv, WLAPI_CHANGED_IDENTITY | WLAPI_CHANGED_BUNDLES);
	feed(sv[1], data + size / 2, size - size / 2);
	pump(sv[1]);
	close(sv[1]);
	pump(-1);
	wlapi__stats(F.srv, &st);
	if (F.w || st.conns || st.mem)
		fail("a connection outlived its client", NULL);
	return 0;
}
