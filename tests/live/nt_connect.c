// SPDX-License-Identifier: Apache-2.0
/*
 * nt_connect: connect() by the roads python3 does not take, for the
 * live-kernel tests of what strict mode holds (tests/live/test_held*.sh).
 *
 *   nt_connect uring [--socket-op] [--sqpoll] [--async] HOST PORT MSG
 *	connects through io_uring (IORING_OP_CONNECT; with --socket-op the
 *	socket comes from IORING_OP_SOCKET too; --sqpoll submits through the
 *	kernel's SQ polling thread, --async forces an io-wq worker), sends
 *	MSG and a newline, reads one line back. Prints what client.py of
 *	tests/live/lib.sh prints: "PID LOCALPORT REPLY", or "PID ERR ERRNO
 *	TEXT"; exits 0 on a reply.
 *
 *   nt_connect tcp HOST PORT MSG
 *	connect() at once, the first thing the process does after exec
 *	(the short-lived pod of tests/live/test_serve.sh), sends MSG and a
 *	newline, reads one line back. Prints "PID LOCALPORT CONNECT_MS
 *	REPLY", or "PID ERR ERRNO TEXT"; exits 0 on a reply. The connect()
 *	and the reply may each take up to CONNECT_TIMEOUT_S, a patient
 *	client's wait (a held SYN is retried by the kernel,
 *	docs/datapath.md; a node starting 300 pods at once is busy).
 *
 *   nt_connect flood HOST PORT SECONDS
 *	connect() to HOST:PORT as fast as it goes for SECONDS (a closed
 *	port: each attempt is one SYN answered by RST), reusing the socket
 *	while attempts are refused. Prints one JSON line: attempts, refused,
 *	other outcomes, seconds.
 *
 * io_uring through its raw system calls (no liburing): one ring, one
 * request at a time.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/io_uring.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define IO_TIMEOUT_S	5
#define CONNECT_TIMEOUT_S 20

struct ring {
	int fd;
	bool sqpoll;
	unsigned int *sq_head, *sq_tail, *sq_mask, *sq_flags, *sq_array;
	unsigned int *cq_head, *cq_tail, *cq_mask;
	struct io_uring_sqe *sqes;
	struct io_uring_cqe *cqes;
};

static void die(const char *what)
{
	fprintf(stderr, "nt_connect: %s: %s\n", what, strerror(errno));
	exit(2);
}

/* "1.2.3.4" or "::1" and a port into a sockaddr; returns its length. */
static socklen_t parse_addr(const char *host, const char *port,
			    struct sockaddr_storage *ss)
{
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons(atoi(port));
		return sizeof(*a4);
	}
	if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(atoi(port));
		return sizeof(*a6);
	}
	fprintf(stderr, "nt_connect: not an address: %s\n", host);
	exit(2);
}

/* ---- io_uring ------------------------------------------------------------ */

static void *map_ring(int fd, size_t len, off_t off)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_POPULATE, fd, off);

	if (p == MAP_FAILED)
		die("mmap io_uring");
	return p;
}

static void ring_init(struct ring *r, bool sqpoll)
{
	struct io_uring_params p = {};
	size_t sq_len, cq_len;
	char *sq, *cq;

	if (sqpoll) {
		p.flags = IORING_SETUP_SQPOLL;
		p.sq_thread_idle = 1000;
	}
	r->fd = syscall(__NR_io_uring_setup, 4, &p);
	if (r->fd < 0)
		die("io_uring_setup");
	r->sqpoll = sqpoll;
	sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned int);
	cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	if (p.features & IORING_FEAT_SINGLE_MMAP) {
		sq_len = cq_len = sq_len > cq_len ? sq_len : cq_len;
		sq = cq = map_ring(r->fd, sq_len, IORING_OFF_SQ_RING);
	} else {
		sq = map_ring(r->fd, sq_len, IORING_OFF_SQ_RING);
		cq = map_ring(r->fd, cq_len, IORING_OFF_CQ_RING);
	}
	r->sq_head = (unsigned int *)(sq + p.sq_off.head);
	r->sq_tail = (unsigned int *)(sq + p.sq_off.tail);
	r->sq_mask = (unsigned int *)(sq + p.sq_off.ring_mask);
	r->sq_flags = (unsigned int *)(sq + p.sq_off.flags);
	r->sq_array = (unsigned int *)(sq + p.sq_off.array);
	r->cq_head = (unsigned int *)(cq + p.cq_off.head);
	r->cq_tail = (unsigned int *)(cq + p.cq_off.tail);
	r->cq_mask = (unsigned int *)(cq + p.cq_off.ring_mask);
	r->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
	r->sqes = map_ring(r->fd, p.sq_entries * sizeof(struct io_uring_sqe),
			   IORING_OFF_SQES);
}

/* Submits @sqe and waits for its completion: the cqe's res. */
static int ring_run(struct ring *r, const struct io_uring_sqe *sqe)
{
	unsigned int tail = *r->sq_tail, idx = tail & *r->sq_mask, head;
	unsigned int flags = IORING_ENTER_GETEVENTS;
	int res;

	r->sqes[idx] = *sqe;
	r->sq_array[idx] = idx;
	__atomic_store_n(r->sq_tail, tail + 1, __ATOMIC_RELEASE);
	/* The SQ thread may have gone to sleep: wake it. */
	if (r->sqpoll &&
	    (__atomic_load_n(r->sq_flags, __ATOMIC_ACQUIRE) & IORING_SQ_NEED_WAKEUP))
		flags |= IORING_ENTER_SQ_WAKEUP;
	for (;;) {
		head = *r->cq_head;
		if (head != __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE))
			break;
		if (syscall(__NR_io_uring_enter, r->fd, r->sqpoll ? 0 : 1, 1,
			    flags, NULL, 0) < 0 && errno != EINTR)
			die("io_uring_enter");
		flags &= ~IORING_ENTER_SQ_WAKEUP;
	}
	res = r->cqes[head & *r->cq_mask].res;
	__atomic_store_n(r->cq_head, head + 1, __ATOMIC_RELEASE);
	return res;
}

static void print_err(int err)
{
	printf("%d ERR %d %s\n", getpid(), err, strerror(err));
}

static int do_uring(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket-op", no_argument, NULL, 's' },
		{ "sqpoll", no_argument, NULL, 'p' },
		{ "async", no_argument, NULL, 'a' },
		{}
	};
	bool socket_op = false, sqpoll = false, async = false;
	struct timeval tv = { .tv_sec = IO_TIMEOUT_S };
	struct sockaddr_storage ss, local;
	socklen_t len, llen = sizeof(local);
	struct io_uring_sqe sqe;
	char line[512], reply[512];
	struct ring r;
	int opt, fd, res;
	ssize_t n;

	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 's': socket_op = true; break;
		case 'p': sqpoll = true; break;
		case 'a': async = true; break;
		default: exit(2);
		}
	}
	if (argc - optind != 3) {
		fprintf(stderr, "usage: nt_connect uring [--socket-op] [--sqpoll] [--async] HOST PORT MSG\n");
		exit(2);
	}
	len = parse_addr(argv[optind], argv[optind + 1], &ss);
	ring_init(&r, sqpoll);
	if (socket_op) {
		memset(&sqe, 0, sizeof(sqe));
		sqe.opcode = IORING_OP_SOCKET;
		sqe.fd = ss.ss_family;
		sqe.off = SOCK_STREAM;
		sqe.len = 0;
		fd = ring_run(&r, &sqe);
		if (fd < 0) {
			print_err(-fd);
			return 1;
		}
	} else {
		fd = socket(ss.ss_family, SOCK_STREAM, 0);
		if (fd < 0)
			die("socket");
	}
	memset(&sqe, 0, sizeof(sqe));
	sqe.opcode = IORING_OP_CONNECT;
	sqe.fd = fd;
	sqe.addr = (uintptr_t)&ss;
	sqe.off = len;		/* addr2: the address length */
	if (async)
		sqe.flags = IOSQE_ASYNC;
	res = ring_run(&r, &sqe);
	if (res < 0) {
		print_err(-res);
		return 1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	n = snprintf(line, sizeof(line), "%s\n", argv[optind + 2]);
	if (send(fd, line, n, MSG_NOSIGNAL) != n) {
		print_err(errno);
		return 1;
	}
	n = recv(fd, reply, sizeof(reply) - 1, 0);
	if (n <= 0) {
		print_err(n == 0 ? ECONNRESET : errno);
		return 1;
	}
	reply[n] = '\0';
	reply[strcspn(reply, "\r\n")] = '\0';
	getsockname(fd, (struct sockaddr *)&local, &llen);
	printf("%d %u %s\n", getpid(),
	       ntohs(((struct sockaddr_in *)&local)->sin_port), reply);
	return 0;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* One line from @fd after sending @msg, waited for @secs at most; 0, or
 * an errno. */
static int exchange(int fd, const char *msg, char *reply, size_t size,
		    int secs)
{
	struct timeval tv = { .tv_sec = secs };
	char line[512];
	ssize_t n;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	n = snprintf(line, sizeof(line), "%s\n", msg);
	if (send(fd, line, n, MSG_NOSIGNAL) != n)
		return errno;
	n = recv(fd, reply, size - 1, 0);
	if (n <= 0)
		return n == 0 ? ECONNRESET : errno;
	reply[n] = '\0';
	reply[strcspn(reply, "\r\n")] = '\0';
	return 0;
}

static int do_tcp(int argc, char **argv)
{
	struct timeval tv = { .tv_sec = CONNECT_TIMEOUT_S };
	struct sockaddr_storage ss, local;
	socklen_t len, llen = sizeof(local);
	char reply[512];
	double t0, ms;
	int fd, err;

	if (argc != 5) {
		fprintf(stderr, "usage: nt_connect tcp HOST PORT MSG\n");
		exit(2);
	}
	len = parse_addr(argv[2], argv[3], &ss);
	fd = socket(ss.ss_family, SOCK_STREAM, 0);
	if (fd < 0)
		die("socket");
	/* A blocking connect() waits at most SO_SNDTIMEO. */
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	t0 = now_s();
	if (connect(fd, (struct sockaddr *)&ss, len)) {
		print_err(errno);
		return 1;
	}
	ms = (now_s() - t0) * 1e3;
	err = exchange(fd, argv[4], reply, sizeof(reply), CONNECT_TIMEOUT_S);
	if (err) {
		print_err(err);
		return 1;
	}
	getsockname(fd, (struct sockaddr *)&local, &llen);
	printf("%d %u %.1f %s\n", getpid(),
	       ntohs(((struct sockaddr_in *)&local)->sin_port), ms, reply);
	return 0;
}

/* ---- the flood ----------------------------------------------------------- */

static int do_flood(int argc, char **argv)
{
	unsigned long attempts = 0, refused = 0, other = 0;
	struct sockaddr_storage ss;
	double t0, t = 0, secs;
	socklen_t len;
	int fd = -1;

	if (argc != 5) {
		fprintf(stderr, "usage: nt_connect flood HOST PORT SECONDS\n");
		exit(2);
	}
	len = parse_addr(argv[2], argv[3], &ss);
	secs = atof(argv[4]);
	t0 = now_s();
	while ((attempts & 1023) || (t = now_s() - t0) < secs) {
		if (fd < 0 && (fd = socket(ss.ss_family, SOCK_STREAM, 0)) < 0)
			die("socket");
		attempts++;
		if (connect(fd, (struct sockaddr *)&ss, len) && errno == ECONNREFUSED) {
			refused++;	/* the socket is closed again: reuse it */
			continue;
		}
		other++;
		close(fd);
		fd = -1;
	}
	printf("{\"attempts\": %lu, \"refused\": %lu, \"other\": %lu, \"secs\": %.2f}\n",
	       attempts, refused, other, t);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1 && !strcmp(argv[1], "uring"))
		return do_uring(argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "tcp"))
		return do_tcp(argc, argv);
	if (argc > 1 && !strcmp(argv[1], "flood"))
		return do_flood(argc, argv);
	fprintf(stderr, "usage: nt_connect { uring | tcp | flood } ...\n");
	return 2;
}
