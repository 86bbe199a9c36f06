// SPDX-License-Identifier: Apache-2.0
/*
 * connbench: the load tool of bench/run. Every mode is bounded in count and
 * in time and prints one JSON object on stdout; errors go to stderr.
 *
 *   serve -l [ADDR:]PORT...   echo server (epoll), until SIGTERM/SIGINT
 *   conn  -a ADDR:PORT        a fresh connection per request: connect,
 *                             send SIZE bytes, read SIZE back, close
 *   rr    -a ADDR:PORT        requests of SIZE bytes on kept connections
 *   hold  -a ADDR:PORT -n N   open N connections (one echo each so every
 *                             hop of a proxy chain exists), print a
 *                             {"ready": ...} line, hold them until stdin
 *                             closes or -t runs out, close them
 *   lat                       connect() cost: socket + connect + close to
 *                             its own listener on 127.0.0.1, -n times
 *
 * conn and rr run -c threads of blocking sockets, each timing its own
 * requests; the percentiles are over every request of every thread. A
 * benchmark tool, not a test: it asserts nothing about speed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MAX_LISTEN	16
#define MAX_SIZE	65536
#define IO_TIMEOUT_S	10

struct opts {
	const char *mode;
	struct sockaddr_in addr;	/* -a */
	struct sockaddr_in listen[MAX_LISTEN];
	int n_listen;
	int conc;			/* -c */
	long count;			/* -n */
	double secs;			/* -t */
	bool secs_set;
	int size;			/* -s */
};

/* ---- helpers ------------------------------------------------------------- */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static int parse_addr(const char *s, struct sockaddr_in *a, bool need_host)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	long port;

	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_addr.s_addr = htonl(INADDR_ANY);
	if (colon) {
		if ((size_t)(colon - s) >= sizeof(host))
			return -EINVAL;
		memcpy(host, s, colon - s);
		host[colon - s] = '\0';
		if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
			return -EINVAL;
		s = colon + 1;
	} else if (need_host) {
		return -EINVAL;
	}
	port = strtol(s, NULL, 10);
	if (port <= 0 || port > 65535)
		return -EINVAL;
	a->sin_port = htons(port);
	return 0;
}

/* Enough descriptors for 10,000 proxied connections and more. */
static void raise_nofile(void)
{
	struct rlimit r;

	if (getrlimit(RLIMIT_NOFILE, &r))
		return;
	r.rlim_cur = r.rlim_max;
	setrlimit(RLIMIT_NOFILE, &r);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted array, in microseconds. */
static double pct_us(const uint64_t *v, size_t n, double p)
{
	size_t i;

	if (!n)
		return 0;
	i = (size_t)(p / 100.0 * n);
	if (i >= n)
		i = n - 1;
	return v[i] / 1000.0;
}

static void print_lat(const char *key, uint64_t *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	printf("\"%s\": {\"p50_us\": %.1f, \"p90_us\": %.1f, \"p99_us\": %.1f, "
	       "\"max_us\": %.1f}", key, pct_us(v, n, 50), pct_us(v, n, 90),
	       pct_us(v, n, 99), n ? v[n - 1] / 1000.0 : 0.0);
}

static void set_timeouts(int fd)
{
	struct timeval tv = { .tv_sec = IO_TIMEOUT_S };
	int one = 1;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static int write_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len) {
		n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EPIPE;
		buf += n;
		len -= n;
	}
	return 0;
}

static int read_all(int fd, char *buf, size_t len)
{
	ssize_t n;

	while (len) {
		n = read(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -ECONNRESET;
		buf += n;
		len -= n;
	}
	return 0;
}

/* One request: SIZE bytes out, SIZE bytes back. */
static int echo_once(int fd, char *buf, int size)
{
	int ret = write_all(fd, buf, size);

	return ret ? ret : read_all(fd, buf, size);
}

static int dial(const struct sockaddr_in *a)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	set_timeouts(fd);
	if (connect(fd, (const struct sockaddr *)a, sizeof(*a))) {
		int e = -errno;

		close(fd);
		return e;
	}
	return fd;
}

/* ---- serve: an epoll echo server ----------------------------------------- */

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = 1;
}

static int listen_on(const struct sockaddr_in *a)
{
	int fd, one = 1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)a, sizeof(*a)) || listen(fd, 4096)) {
		int e = -errno;

		close(fd);
		return e;
	}
	return fd;
}

/* Echoes what it can; a peer that does not read loses the rest (the
 * clients of this tool always read what they sent). */
static void serve_conn(int ep, int fd)
{
	char buf[MAX_SIZE];
	ssize_t n, w;

	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n > 0) {
			w = write(fd, buf, n);
			if (w == n)
				continue;
		} else if (n < 0 && errno == EAGAIN) {
			return;
		} else if (n < 0 && errno == EINTR) {
			continue;
		}
		epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
		close(fd);
		return;
	}
}

static void serve_accept(int ep, int lfd)
{
	struct epoll_event ev = { .events = EPOLLIN };
	int fd, one = 1;

	while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		ev.data.fd = fd;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev))
			close(fd);
	}
}

static int do_serve(struct opts *o)
{
	struct epoll_event ev = { .events = EPOLLIN }, evs[256];
	int lfd[MAX_LISTEN], ep, i, n, j;
	uint64_t t0 = now_ns();

	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		return -errno;
	for (i = 0; i < o->n_listen; i++) {
		lfd[i] = listen_on(&o->listen[i]);
		if (lfd[i] < 0) {
			fprintf(stderr, "connbench: failed to listen on port %u: %s\n",
				ntohs(o->listen[i].sin_port), strerror(-lfd[i]));
			return lfd[i];
		}
		ev.data.fd = lfd[i];
		epoll_ctl(ep, EPOLL_CTL_ADD, lfd[i], &ev);
	}
	fprintf(stderr, "connbench: serving %d port(s)\n", o->n_listen);
	while (!stop && (!o->secs_set || (now_ns() - t0) / 1e9 < o->secs)) {
		n = epoll_wait(ep, evs, 256, 500);
		for (i = 0; i < n; i++) {
			for (j = 0; j < o->n_listen; j++)
				if (evs[i].data.fd == lfd[j])
					break;
			if (j < o->n_listen)
				serve_accept(ep, lfd[j]);
			else
				serve_conn(ep, evs[i].data.fd);
		}
	}
	printf("{\"mode\": \"serve\"}\n");
	return 0;
}

/* ---- conn and rr: threads of blocking clients ---------------------------- */

struct worker {
	pthread_t th;
	struct opts *o;
	long errors;
	int first_err;
};

/* Every request gets a slot from one counter, bounded by -n: a fast
 * thread may take more than its share. 0 marks a failed request. */
static atomic_long issued;
static uint64_t *lat_ns;
static uint64_t deadline;

static long take_one(struct opts *o)
{
	long i;

	if (now_ns() >= deadline)
		return -1;
	i = atomic_fetch_add(&issued, 1);
	return i < o->count ? i : -1;
}

static void note_error(struct worker *w, int err)
{
	if (!w->errors++)
		w->first_err = -err;
	usleep(1000);	/* a refused burst must not spin */
}

static void *conn_worker(void *arg)
{
	struct worker *w = arg;
	char buf[MAX_SIZE];
	uint64_t t;
	long i;
	int fd, ret;

	memset(buf, 'x', w->o->size);
	while ((i = take_one(w->o)) >= 0) {
		t = now_ns();
		fd = dial(&w->o->addr);
		if (fd < 0) {
			note_error(w, fd);
			continue;
		}
		ret = echo_once(fd, buf, w->o->size);
		if (!ret)
			lat_ns[i] = now_ns() - t;
		else
			note_error(w, ret);
		close(fd);
	}
	return NULL;
}

static void *rr_worker(void *arg)
{
	struct worker *w = arg;
	char buf[MAX_SIZE];
	uint64_t t;
	int fd = -1, ret;
	long i;

	memset(buf, 'x', w->o->size);
	while ((i = take_one(w->o)) >= 0) {
		if (fd < 0) {
			fd = dial(&w->o->addr);
			if (fd < 0) {
				note_error(w, fd);
				fd = -1;
				continue;
			}
			/* The first exchange builds the proxy chain (handshakes):
			 * not a request on an established connection. */
			if (echo_once(fd, buf, w->o->size)) {
				close(fd);
				fd = -1;
				note_error(w, -EPROTO);
				continue;
			}
		}
		t = now_ns();
		ret = echo_once(fd, buf, w->o->size);
		if (!ret) {
			lat_ns[i] = now_ns() - t;
		} else {
			note_error(w, ret);
			close(fd);
			fd = -1;
		}
	}
	if (fd >= 0)
		close(fd);
	return NULL;
}

static int run_workers(struct opts *o, void *(*fn)(void *))
{
	struct worker *w = calloc(o->conc, sizeof(*w));
	uint64_t t0, el;
	long errors = 0, i, n, total = 0;
	int first_err = 0;

	lat_ns = calloc(o->count, sizeof(*lat_ns));
	if (!w || !lat_ns)
		return -ENOMEM;
	deadline = now_ns() + (uint64_t)(o->secs * 1e9);
	t0 = now_ns();
	for (i = 0; i < o->conc; i++) {
		w[i].o = o;
		if (pthread_create(&w[i].th, NULL, fn, &w[i])) {
			fprintf(stderr, "connbench: cannot start thread %ld\n", i);
			exit(1);
		}
	}
	for (i = 0; i < o->conc; i++) {
		pthread_join(w[i].th, NULL);
		errors += w[i].errors;
		if (!first_err)
			first_err = w[i].first_err;
	}
	el = now_ns() - t0;
	n = atomic_load(&issued);
	if (n > o->count)
		n = o->count;
	for (i = 0; i < n; i++)
		if (lat_ns[i])
			lat_ns[total++] = lat_ns[i];
	printf("{\"mode\": \"%s\", \"concurrency\": %d, \"size\": %d, "
	       "\"requests\": %ld, \"errors\": %ld, \"first_error\": \"%s\", "
	       "\"elapsed_s\": %.3f, \"per_s\": %.1f, ", o->mode, o->conc,
	       o->size, total, errors, first_err ? strerror(first_err) : "",
	       el / 1e9, total / (el / 1e9));
	print_lat("latency", lat_ns, total);
	printf("}\n");
	free(lat_ns);
	free(w);
	return 0;
}

/* ---- hold: N idle connections -------------------------------------------- */

enum hstate { H_CONNECTING, H_SENT, H_OPEN, H_FAILED };

struct hconn {
	int fd;
	enum hstate st;
};

static int hold_start(struct hconn *h, const struct sockaddr_in *a, int ep,
		      uint32_t idx)
{
	struct epoll_event ev = { .events = EPOLLOUT, .data.u32 = idx };
	int one = 1;

	h->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (h->fd < 0)
		return -errno;
	setsockopt(h->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(h->fd, (const struct sockaddr *)a, sizeof(*a)) &&
	    errno != EINPROGRESS)
		return -errno;
	h->st = H_CONNECTING;
	return epoll_ctl(ep, EPOLL_CTL_ADD, h->fd, &ev) ? -errno : 0;
}

/* Advances one connection; returns true when it left the in-flight set. */
static bool hold_step(struct hconn *h, int ep, uint32_t idx, uint32_t events)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = idx };
	char c = 'h';
	int err = 0;
	socklen_t l = sizeof(err);

	if (h->st == H_CONNECTING) {
		getsockopt(h->fd, SOL_SOCKET, SO_ERROR, &err, &l);
		if (err || write(h->fd, &c, 1) != 1)
			goto failed;
		h->st = H_SENT;
		epoll_ctl(ep, EPOLL_CTL_MOD, h->fd, &ev);
		return false;
	}
	if (h->st == H_SENT) {
		if (read(h->fd, &c, 1) != 1)
			goto failed;
		h->st = H_OPEN;
		epoll_ctl(ep, EPOLL_CTL_DEL, h->fd, NULL);
		return true;
	}
	return false;
failed:
	h->st = H_FAILED;
	epoll_ctl(ep, EPOLL_CTL_DEL, h->fd, NULL);
	close(h->fd);
	h->fd = -1;
	return true;
}

/* Waits for stdin to close (the harness measured), at most @secs. */
static void hold_wait(double secs)
{
	struct pollfd p = { .fd = 0, .events = POLLIN };
	uint64_t end = now_ns() + (uint64_t)(secs * 1e9);
	char buf[64];

	while (!stop && now_ns() < end) {
		if (poll(&p, 1, 200) > 0 && read(0, buf, sizeof(buf)) <= 0)
			return;
	}
}

static int do_hold(struct opts *o)
{
	struct hconn *h = calloc(o->count, sizeof(*h));
	struct epoll_event evs[256];
	long next = 0, inflight = 0, open = 0, failed = 0, i;
	int ep = epoll_create1(EPOLL_CLOEXEC), n, k;
	uint64_t t0 = now_ns(), end = t0 + (uint64_t)(o->secs * 1e9);

	if (!h || ep < 0)
		return -ENOMEM;
	while ((next < o->count || inflight) && now_ns() < end) {
		while (next < o->count && inflight < o->conc) {
			if (hold_start(&h[next], &o->addr, ep, next)) {
				if (h[next].fd >= 0)
					close(h[next].fd);
				h[next].fd = -1;
				h[next].st = H_FAILED;
				failed++;
			} else {
				inflight++;
			}
			next++;
		}
		n = epoll_wait(ep, evs, 256, 200);
		for (k = 0; k < n; k++) {
			struct hconn *c = &h[evs[k].data.u32];

			if (hold_step(c, ep, evs[k].data.u32, evs[k].events)) {
				inflight--;
				if (c->st == H_OPEN)
					open++;
				else
					failed++;
			}
		}
	}
	printf("{\"mode\": \"hold\", \"ready\": %ld, \"failed\": %ld, "
	       "\"pending\": %ld, \"setup_s\": %.3f}\n", open, failed, inflight,
	       (now_ns() - t0) / 1e9);
	fflush(stdout);
	hold_wait(o->secs);
	for (i = 0; i < next; i++)
		if (h[i].fd >= 0)
			close(h[i].fd);
	free(h);
	return 0;
}

/* ---- lat: the cost of connect() ------------------------------------------ */

static int do_lat(struct opts *o)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	socklen_t al = sizeof(a);
	uint64_t *c = calloc(o->count, sizeof(*c)), *it = calloc(o->count, sizeof(*it));
	uint64_t t0, t1, el;
	long i, warm = o->count / 10 + 1, done = 0;
	int l, s, acc;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (!c || !it || l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) ||
	    listen(l, 128) || getsockname(l, (struct sockaddr *)&a, &al))
		return -errno;
	deadline = now_ns() + (uint64_t)(o->secs * 1e9);
	el = now_ns();
	for (i = -warm; i < o->count && now_ns() < deadline; i++) {
		t0 = now_ns();
		s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (s < 0)
			return -errno;
		t1 = now_ns();
		if (connect(s, (struct sockaddr *)&a, sizeof(a)))
			return -errno;
		if (i >= 0)
			c[i] = now_ns() - t1;
		acc = accept(l, NULL, NULL);
		/* RST instead of FIN: no TIME_WAIT, so no port runs out. */
		setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(s);
		if (acc >= 0)
			close(acc);
		if (i >= 0) {
			it[i] = now_ns() - t0;
			done = i + 1;
		}
	}
	el = now_ns() - el;
	qsort(c, done, sizeof(*c), cmp_u64);
	qsort(it, done, sizeof(*it), cmp_u64);
	printf("{\"mode\": \"lat\", \"iterations\": %ld, \"elapsed_s\": %.3f, "
	       "\"connect_ns\": {\"p10\": %lu, \"p50\": %lu, \"p90\": %lu}, "
	       "\"iteration_ns\": {\"p10\": %lu, \"p50\": %lu, \"p90\": %lu}}\n",
	       done, el / 1e9,
	       done ? c[done / 10] : 0, done ? c[done / 2] : 0, done ? c[done * 9 / 10] : 0,
	       done ? it[done / 10] : 0, done ? it[done / 2] : 0, done ? it[done * 9 / 10] : 0);
	close(l);
	free(c);
	free(it);
	return 0;
}

/* ---- main ---------------------------------------------------------------- */

static __attribute__((noreturn)) void usage(void)
{
	fprintf(stderr,
		"usage: connbench serve -l [ADDR:]PORT... [-t SECS]\n"
		"       connbench conn  -a ADDR:PORT [-c CONC] [-n MAX] [-t SECS] [-s SIZE]\n"
		"       connbench rr    -a ADDR:PORT [-c CONC] [-n MAX] [-t SECS] [-s SIZE]\n"
		"       connbench hold  -a ADDR:PORT -n N [-c INFLIGHT] [-t SECS]\n"
		"       connbench lat   [-n ITER] [-t SECS]\n");
	exit(2);
}

static void parse_opts(struct opts *o, int argc, char **argv)
{
	int c;

	o->conc = 1;
	o->count = 100000;
	o->secs = 10;
	o->size = 1;
	while ((c = getopt(argc, argv, "a:c:l:n:s:t:")) != -1) {
		switch (c) {
		case 'a':
			if (parse_addr(optarg, &o->addr, true))
				usage();
			break;
		case 'l':
			if (o->n_listen == MAX_LISTEN ||
			    parse_addr(optarg, &o->listen[o->n_listen++], false))
				usage();
			break;
		case 'c': o->conc = atoi(optarg); break;
		case 'n': o->count = atol(optarg); break;
		case 's': o->size = atoi(optarg); break;
		case 't': o->secs = atof(optarg); o->secs_set = true; break;
		default: usage();
		}
	}
	if (o->conc < 1 || o->conc > 4096 || o->count < 1 || o->secs <= 0 ||
	    o->size < 1 || o->size > MAX_SIZE)
		usage();
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct opts o = {};
	int ret;

	if (argc < 2)
		usage();
	o.mode = argv[1];
	parse_opts(&o, argc - 1, argv + 1);
	raise_nofile();
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (!strcmp(o.mode, "serve") && o.n_listen)
		ret = do_serve(&o);
	else if (!strcmp(o.mode, "conn") && o.addr.sin_port)
		ret = run_workers(&o, conn_worker);
	else if (!strcmp(o.mode, "rr") && o.addr.sin_port)
		ret = run_workers(&o, rr_worker);
	else if (!strcmp(o.mode, "hold") && o.addr.sin_port)
		ret = do_hold(&o);
	else if (!strcmp(o.mode, "lat"))
		ret = do_lat(&o);
	else
		usage();
	if (ret) {
		fprintf(stderr, "connbench %s: %s\n", o.mode, strerror(-ret));
		return 1;
	}
	return 0;
}
