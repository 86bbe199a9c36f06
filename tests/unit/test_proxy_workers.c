// SPDX-License-Identifier: Apache-2.0
/*
 * Relay threads (userspace/proxy/worker.c): a relaying connection moves
 * to a worker, its bytes flow there, and it comes back to the main thread
 * to be closed, its flow record filled in by the main thread only. Real
 * threads and real TCP sockets over loopback; the build with
 * -fsanitize=thread (make O=build/tsan TSAN=1 unit) runs this too.
 */
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "tests/unit/fixture_node_ca.h"
#include "tests/unit/fixture_proxy.h"

struct relay {
	struct fake_daemon fk;
	struct proxy *px;
	struct pconn *c[2];
	int workload[2][2];	/* [i][1] plays the workload */
	int dest[2][2];		/* [i][1] plays the destination */
};

static void relay_open(struct relay *r, unsigned int workers, int n)
{
	struct nt_err err = {};
	int i;

	r->px = fake_proxy(&r->fk);
	if (pworkers__start(r->px, workers, &err))
		t_fail(__FILE__, __LINE__, "workers: %s", err.msg);
	for (i = 0; i < n; i++) {
		tcp_pair(r->workload[i]);
		tcp_pair(r->dest[i]);
		r->c[i] = pconn__new(r->px, PCONN_EGRESS, r->workload[i][0], 1);
		r->c[i]->b.h.fd = r->dest[i][0];
		pflow__open(r->c[i], NULL);
		CHECK_EQ(relay__start(r->c[i]), 0);
		relay__go(r->c[i]);
	}
}

static void relay_close(struct relay *r, int n)
{
	int i;

	pworkers__stop(r->px);
	fake_proxy_free(r->px, &r->fk);
	for (i = 0; i < n; i++) {
		close(r->workload[i][1]);
		close(r->dest[i][1]);
	}
}

/* Runs the main loop until @fd is readable (or 5 s pass). */
static bool main_until_readable(struct proxy *px, int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int i;

	for (i = 0; i < 500; i++) {
		if (poll(&p, 1, 0) == 1)
			return true;
		loop__run_once(px->loop, 10);
	}
	return false;
}

static bool main_until_closed(struct proxy *px)
{
	int i;

	for (i = 0; i < 500 && px->nconns; i++)
		loop__run_once(px->loop, 10);
	return !px->nconns;
}

/* Bytes both ways on a worker, then a clean end both ways: the main
 * thread closes it and fills in the flow record. */
static void test_relay_on_a_worker(void)
{
	struct relay r;
	char buf[64];

	relay_open(&r, 2, 1);
	CHECK(r.c[0]->away != NULL);
	put(r.workload[0][1], "ping", 4);
	CHECK(main_until_readable(r.px, r.dest[0][1]));
	got(r.dest[0][1], buf, sizeof(buf));
	CHECK_STR(buf, "ping");
	put(r.dest[0][1], "pong!", 5);
	CHECK(main_until_readable(r.px, r.workload[0][1]));
	got(r.workload[0][1], buf, sizeof(buf));
	CHECK_STR(buf, "pong!");
	shutdown(r.workload[0][1], SHUT_WR);
	shutdown(r.dest[0][1], SHUT_WR);
	CHECK(main_until_closed(r.px));
	CHECK_STR(fake_record(&r.fk, 1)->state, "closed");
	CHECK_EQ(fake_record(&r.fk, 1)->bytes_up, 4);
	CHECK_EQ(fake_record(&r.fk, 1)->bytes_down, 5);
	relay_close(&r, 1);
}

/* Two relays go to two workers: one connection each. */
static void test_relays_spread(void)
{
	struct relay r;

	relay_open(&r, 2, 2);
	CHECK(r.c[0]->away != NULL);
	CHECK(r.c[1]->away != NULL);
	CHECK(r.c[0]->away != r.c[1]->away);
	relay_close(&r, 2);
}

/* A policy reload denies a relaying connection (recheck.c closes it): the
 * worker ends it, the main thread resets it and records why. */
static void test_kill_on_a_worker(void)
{
	struct relay r;
	char b;

	relay_open(&r, 2, 1);
	CHECK(r.c[0]->away != NULL);
	pconn__close(r.c[0], true, "closed by policy");
	CHECK(main_until_closed(r.px));
	CHECK_STR(fake_record(&r.fk, 1)->state, "closed by policy");
	CHECK(main_until_readable(r.px, r.workload[0][1]));
	CHECK_EQ(read(r.workload[0][1], &b, 1), -1);
	CHECK_EQ(errno, ECONNRESET);
	relay_close(&r, 1);
}

/* At exit every connection comes back first and ends with a reset. */
static void test_close_all_recalls(void)
{
	struct relay r;

	relay_open(&r, 3, 2);
	pconn__close_all(r.px);
	CHECK_EQ(r.px->nconns, 0);
	CHECK_STR(fake_record(&r.fk, 1)->state, "daemon stopped");
	CHECK_STR(fake_record(&r.fk, 2)->state, "daemon stopped");
	relay_close(&r, 2);
}

/* One worker asked for: the main thread relays, as before. */
static void test_one_worker_is_the_main_thread(void)
{
	struct relay r;
	char buf[8];

	relay_open(&r, 1, 1);
	CHECK(r.c[0]->away == NULL);
	CHECK_EQ(pworkers__count(r.px), 1);
	put(r.workload[0][1], "hi", 2);
	CHECK(main_until_readable(r.px, r.dest[0][1]));
	got(r.dest[0][1], buf, sizeof(buf));
	CHECK_STR(buf, "hi");
	relay_close(&r, 1);
}

/* ---- handshakes on workers ------------------------------------------------------- */

/* A node CA in a state dir, the proxy's TLS contexts on its bundle, and
 * two relay threads; the fake daemon's listener presents @srv. */
struct hs {
	struct fake_daemon fk;
	struct proxy *px;
	char dir[PATH_MAX];
	struct node_ca *ca;
	struct svid *srv, *cli;
};

static const struct svid *hs_svid;	/* what env.svid answers */

static const struct svid *fake_svid(void *ctx, const struct spiffe_id *id,
				    struct nt_err *err)
{
	return hs_svid;
}

static void hs_open(struct hs *h, const char *name)
{
	struct nt_err err = {};
	time_t now = time(NULL);

	memset(h, 0, sizeof(*h));
	if (!fresh_ca(h->dir, name, now - 60, 86400, 3600) ||
	    !(h->ca = open_ok(h->dir)))
		exit(2);
	h->srv = mint_ok(h->ca, "/srv", now - 60);
	h->cli = mint_ok(h->ca, "/cli", now - 60);
	hs_svid = h->srv;
	h->px = fake_proxy(&h->fk);
	h->px->opts.state_dir = h->dir;
	h->px->opts.no_ktls = true;
	h->px->env.svid = fake_svid;
	h->fk.listener.id = h->srv->id;
	snprintf(h->fk.listener.ns, sizeof(h->fk.listener.ns), "shop");
	h->fk.listener.mode = NT_MODE_STRICT;
	admit__init(h->px);
	if (proxy_tls__init(h->px, &err) || pworkers__start(h->px, 2, &err))
		t_fail(__FILE__, __LINE__, "tls, workers: %s", err.msg);
}

static void hs_close(struct hs *h)
{
	pworkers__stop(h->px);
	pconn__close_all(h->px);
	proxy_tls__fini(h->px);
	fake_proxy_free(h->px, &h->fk);
	svid__free(h->srv);
	svid__free(h->cli);
	node_ca__close(h->ca);
}

/* A client in its own thread: a blocking handshake with @svid, then it
 * holds the connection until @release is set. */
struct client {
	pthread_t t;
	SSL *ssl;
	int fd, ok;
	_Atomic bool *release;
};

static void *client_main(void *arg)
{
	struct client *cl = arg;

	cl->ok = SSL_connect(cl->ssl) == 1;
	while (cl->ok && !atomic_load(cl->release))
		usleep(1000);
	SSL_free(cl->ssl);
	close(cl->fd);
	return NULL;
}

/* Accepts @n mesh connections whose clients present @svid. */
static void clients_start(struct hs *h, struct client *cl, int n,
			  const struct svid *svid, _Atomic bool *release)
{
	struct nt_err err = {};
	int i, fds[2];

	for (i = 0; i < n; i++) {
		tcp_pair(fds);
		fcntl(fds[1], F_SETFL, 0);
		cl[i].fd = fds[1];
		cl[i].release = release;
		cl[i].ssl = proxy_tls__client(h->px, svid, 9000, &err);
		if (!cl[i].ssl || !SSL_set_fd(cl[i].ssl, fds[1]))
			t_fail(__FILE__, __LINE__, "client: %s", err.msg);
		pthread_create(&cl[i].t, NULL, client_main, &cl[i]);
		pconn__accept_mesh(h->px, fds[0], 1);
	}
}

static void clients_join(struct client *cl, int n)
{
	int i;

	for (i = 0; i < n; i++)
		pthread_join(cl[i].t, NULL);
}

/* Handshakes done and failed, by worker. */
static void hs_counts(struct hs *h, uint64_t done[2], uint64_t failed[2])
{
	CHECK_EQ(pworkers__handshakes(h->px, done, failed, 2), 2);
}

/* Runs the main loop until the workers finished @want handshakes, either
 * way, in all (or 10 s pass). */
static bool main_until_handshakes(struct hs *h, uint64_t want, bool reload)
{
	uint64_t d[2], f[2];
	int i;

	for (i = 0; i < 1000; i++) {
		hs_counts(h, d, f);
		if (d[0] + d[1] + f[0] + f[1] >= want)
			break;
		if (reload)	/* a new bundle set at every turn */
			proxy__reload_trust(h->px);
		loop__run_once(h->px->loop, 10);
	}
	/* What was given back last is taken in. */
	for (i = 0; i < 20; i++)
		loop__run_once(h->px->loop, 5);
	return d[0] + d[1] + f[0] + f[1] >= want;
}

/* Four clients at once: the handshakes run on both workers; back on the
 * main thread, each connection holds its peer's ID and waits for a
 * stream (NT2), and its flow record says TLS. */
static void test_handshakes_on_workers(void)
{
	_Atomic bool release = false;
	struct client cl[4] = {};
	uint64_t d[2], f[2];
	struct pconn *c;
	struct hs h;
	int n = 0;

	hs_open(&h, "hs-workers");
	clients_start(&h, cl, 4, h.cli, &release);
	CHECK(main_until_handshakes(&h, 4, false));
	hs_counts(&h, d, f);
	CHECKF(d[0] > 0 && d[1] > 0, "handshakes by worker: %llu, %llu",
	       (unsigned long long)d[0], (unsigned long long)d[1]);
	CHECK_EQ(f[0] + f[1], 0);
	for (c = h.px->conns; c; c = c->next, n++) {
		CHECK(c->away == NULL);
		CHECK_EQ(c->st, PS_OPEN);
		CHECK(c->src && spiffe_id__equal(c->src, &h.cli->id));
		CHECK(c->tunnel_id && spiffe_id__equal(c->tunnel_id, &h.srv->id));
	}
	CHECK_EQ(n, 4);
	CHECK_EQ(h.px->adm.npending, 0);
	atomic_store(&release, true);
	clients_join(cl, 4);
	CHECK(main_until_closed(h.px));
	hs_close(&h);
}

/* A client whose SVID another CA signed: verification fails on a worker,
 * which counts it; the main thread closes the connection and records why. */
static void test_handshake_fails_on_a_worker(void)
{
	_Atomic bool release = true;
	struct client cl[1] = {};
	char other[PATH_MAX];
	struct node_ca *oca;
	struct svid *stranger;
	uint64_t d[2], f[2];
	struct hs h;

	hs_open(&h, "hs-fail");
	if (!fresh_ca(other, "hs-other", time(NULL) - 60, 86400, 3600) ||
	    !(oca = open_ok(other)))
		exit(2);
	stranger = mint_ok(oca, "/cli", time(NULL) - 60);
	clients_start(&h, cl, 1, stranger, &release);
	CHECK(main_until_handshakes(&h, 1, false));
	hs_counts(&h, d, f);
	CHECK_EQ(f[0] + f[1], 1);
	CHECK_EQ(d[0] + d[1], 0);
	CHECK(main_until_closed(h.px));
	CHECK_STR(fake_record(&h.fk, 1)->state, "handshake failed");
	CHECKF(strstr(fake_record(&h.fk, 1)->reason, "untrusted certificate chain"),
	       "reason: %s", fake_record(&h.fk, 1)->reason);
	CHECK_EQ(h.px->adm.npending, 0);
	clients_join(cl, 1);
	svid__free(stranger);
	node_ca__close(oca);
	hs_close(&h);
}

/* The trust bundles are loaded again at every turn of the main loop while
 * workers verify with them: each handshake keeps the set it started with
 * (ASan and TSan builds see a set freed under a worker). */
static void test_trust_reload_during_handshakes(void)
{
	_Atomic bool release = true;
	struct client cl[8] = {};
	uint64_t d[2], f[2];
	unsigned int gen0;
	struct hs h;

	hs_open(&h, "hs-reload");
	gen0 = h.px->tls.trust_gen;
	clients_start(&h, cl, 8, h.cli, &release);
	CHECK(main_until_handshakes(&h, 8, true));
	hs_counts(&h, d, f);
	CHECK_EQ(d[0] + d[1], 8);
	CHECK_EQ(f[0] + f[1], 0);
	CHECK(h.px->tls.trust_gen > gen0);
	clients_join(cl, 8);
	CHECK(main_until_closed(h.px));
	hs_close(&h);
}

/* A client that sends its ClientHello and then nothing: the worker sends
 * the server's flight and waits; the main thread ends it at its deadline
 * (counted), and it comes back to be closed with a reset. */
static void test_stalled_handshake_times_out(void)
{
	struct nt_err err = {};
	struct hs h;
	int fds[2], i;
	char buf[4096];
	SSL *ssl;

	hs_open(&h, "hs-stall");
	tcp_pair(fds);
	ssl = proxy_tls__client(h.px, h.cli, 9000, &err);
	CHECK(ssl && SSL_set_fd(ssl, fds[1]));
	CHECK_EQ(SSL_connect(ssl), -1);		/* the ClientHello went */
	pconn__accept_mesh(h.px, fds[0], 1);
	CHECK_EQ(h.px->adm.npending, 1);
	CHECK(main_until_readable(h.px, fds[1]));	/* the server's flight */
	CHECK(h.px->conns && h.px->conns->away != NULL);
	h.px->conns->deadline = clock__mono_s() - 1;
	admit__tick(h.px);
	CHECK_EQ(h.px->adm.npending, 0);
	for (i = 0; i < 100 && h.px->nconns; i++)
		loop__run_once(h.px->loop, 10);
	CHECK_EQ(h.px->nconns, 0);
	CHECK_EQ(h.px->adm.shed[PROXY_SHED_TIMEOUT], 1);
	while (read(fds[1], buf, sizeof(buf)) > 0)
		;
	CHECK_EQ(errno, ECONNRESET);
	SSL_free(ssl);
	close(fds[1]);
	hs_close(&h);
}

T_MAIN("proxy/workers",
       T(test_relay_on_a_worker),
       T(test_relays_spread),
       T(test_kill_on_a_worker),
       T(test_close_all_recalls),
       T(test_one_worker_is_the_main_thread),
       T(test_handshakes_on_workers),
       T(test_handshake_fails_on_a_worker),
       T(test_trust_reload_during_handshakes),
       T(test_stalled_handshake_times_out));
