// SPDX-License-Identifier: Apache-2.0
/*
 * nametagd, the node daemon. At this stage it keeps the node CA healthy:
 * it rotates on schedule (prepare the next CA at half life, activate it at
 * five sixths, prune expired ones) so the bundle always publishes a CA
 * before that CA signs anything. The BPF datapath and the proxy plug into
 * the same epoll loop.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "ca/ca.h"
#include "userspace/log.h"

struct daemon_opts {
	const char *state_dir;
	const char *run_dir;
	bool once;
};

/* How often to look at the CA: often enough to hit the 1/2 and 5/6 marks
 * closely even for short test TTLs, rarely enough to cost nothing. */
static int64_t maintain_interval(const struct node_ca *ca)
{
	int64_t iv = node_ca__ca_ttl(ca) / 24;

	if (iv < 1)
		iv = 1;
	return iv > 60 ? 60 : iv;
}

static int maintain(struct node_ca *ca)
{
	enum ca_step step = CA_STEP_NONE;
	struct nt_err err = {};
	int ret;

	ret = node_ca__maintain(ca, time(NULL), &step, &err);
	if (ret) {
		pr_warn("CA maintenance failed, will retry: %s", err.msg);
		return ret;
	}
	if (step == CA_STEP_PREPARED)
		pr_info("prepared the next CA and published it (bundle sequence %llu)",
			(unsigned long long)node_ca__bundle(ca)->sequence);
	else if (step == CA_STEP_ACTIVATED)
		pr_info("activated the next CA (bundle sequence %llu)",
			(unsigned long long)node_ca__bundle(ca)->sequence);
	return 0;
}

static int setup_fds(int epfd, int64_t interval, int *sfd, int *tfd)
{
	struct itimerspec its = {
		.it_value = { .tv_sec = interval },
		.it_interval = { .tv_sec = interval },
	};
	struct epoll_event ev = { .events = EPOLLIN };
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	if (sigprocmask(SIG_BLOCK, &mask, NULL))
		return -errno;
	*sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	*tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (*sfd < 0 || *tfd < 0)
		return -errno;
	if (timerfd_settime(*tfd, 0, &its, NULL))
		return -errno;
	ev.data.fd = *sfd;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, *sfd, &ev))
		return -errno;
	ev.data.fd = *tfd;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, *tfd, &ev))
		return -errno;
	return 0;
}

static int run(struct node_ca *ca)
{
	int epfd, sfd = -1, tfd = -1, n, i, ret;
	struct epoll_event evs[8];
	uint64_t ticks;

	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		return -errno;
	ret = setup_fds(epfd, maintain_interval(ca), &sfd, &tfd);
	if (ret) {
		pr_warn("failed to set up the event loop: %s", strerror(-ret));
		goto out;
	}
	pr_info("running; CA checked every %llds",
		(long long)maintain_interval(ca));
	for (;;) {
		n = epoll_wait(epfd, evs, 8, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			break;
		}
		for (i = 0; i < n; i++) {
			if (evs[i].data.fd == sfd) {
				pr_info("signal received, exiting");
				goto out;
			}
			if (read(tfd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
				pr_warn("timerfd read: %s", strerror(errno));
			maintain(ca);
		}
	}
out:
	if (sfd >= 0)
		close(sfd);
	if (tfd >= 0)
		close(tfd);
	close(epfd);
	return ret;
}

static void usage(void)
{
	fprintf(stderr,
		"Usage: nametagd [--state-dir DIR] [--run-dir DIR] [--once] [-d] [-V]\n"
		"\n"
		"  --state-dir DIR  CA and bundles (default %s)\n"
		"  --run-dir DIR    runtime files (default /run/nametag)\n"
		"  --once           run CA maintenance once and exit\n"
		"  -d, --debug      debug logging\n",
		STATE_DIR_DEFAULT);
}

static int parse_args(int argc, char **argv, struct daemon_opts *o)
{
	enum { OPT_STATE = 256, OPT_RUN, OPT_ONCE };
	static const struct option longopts[] = {
		{ "state-dir",	required_argument,	NULL, OPT_STATE },
		{ "run-dir",	required_argument,	NULL, OPT_RUN },
		{ "once",	no_argument,		NULL, OPT_ONCE },
		{ "debug",	no_argument,		NULL, 'd' },
		{ "version",	no_argument,		NULL, 'V' },
		{ "help",	no_argument,		NULL, 'h' },
		{ 0 }
	};
	int opt;

	while ((opt = getopt_long(argc, argv, "dVh", longopts, NULL)) >= 0) {
		switch (opt) {
		case OPT_STATE: o->state_dir = optarg; break;
		case OPT_RUN: o->run_dir = optarg; break;
		case OPT_ONCE: o->once = true; break;
		case 'd': log_level = LOG_DEBUG; break;
		case 'V':
			printf("nametagd v%s\n", NAMETAG_VERSION);
			exit(0);
		case 'h':
			usage();
			exit(0);
		default:
			usage();
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "nametagd: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct daemon_opts opts = {
		.state_dir = STATE_DIR_DEFAULT,
		.run_dir = "/run/nametag",
	};
	struct nt_err err = {};
	struct node_ca *ca;
	int ret;

	if (parse_args(argc, argv, &opts))
		return 2;
	if (node_ca__open(&ca, opts.state_dir, &err)) {
		pr_warn("%s", err.msg);
		return 1;
	}
	pr_info("trust domain %s, state in %s", node_ca__trust_domain(ca),
		opts.state_dir);
	ret = maintain(ca);
	if (!opts.once)
		ret = run(ca);
	node_ca__close(ca);
	return ret ? 1 : 0;
}
