// SPDX-License-Identifier: Apache-2.0
/*
 * Relay threads (userspace/proxy/worker.c): a relaying connection moves
 * to a worker, its bytes flow there, and it comes back to the main thread
 * to be closed, its flow record filled in by the main thread only. Real
 * threads and real TCP sockets over loopback; the build with
 * -fsanitize=thread (make O=build/tsan TSAN=1 unit) runs this too.
 */
#include <poll.h>
#include <time.h>

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

T_MAIN("proxy/workers",
       T(test_relay_on_a_worker),
       T(test_relays_spread),
       T(test_kill_on_a_worker),
       T(test_close_all_recalls),
       T(test_one_worker_is_the_main_thread));
