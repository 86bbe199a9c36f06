/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A node proxy for unit tests: a struct proxy made by hand around a loop
 * of its own, with a fake daemon behind struct proxy_env (flow records in
 * an array, a listener the test chooses, an empty policy), and sockets
 * from socketpair() or a TCP loopback pair. No BPF, no TLS contexts: the
 * pieces under test read and write plain sockets.
 */
#ifndef NAMETAG_FIXTURE_PROXY_H
#define NAMETAG_FIXTURE_PROXY_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/unit/harness.h"
#include "userspace/proxy/proxy_int.h"

#define FAKE_FLOWS 64

struct fake_daemon {
	struct flow_record flows[FAKE_FLOWS];
	uint64_t next_flow;
	struct proxy_listener listener;	/* what env.listener answers */
	int listener_ret;
	struct policy *policy;
	enum nt_mode mode;		/* what env.ns_mode answers */
};

static inline struct flow_record *fake_flow_open(void *ctx)
{
	struct fake_daemon *fk = ctx;
	uint64_t id = ++fk->next_flow;
	struct flow_record *f = &fk->flows[id % FAKE_FLOWS];

	memset(f, 0, sizeof(*f));
	f->id = id;
	return f;
}

static inline struct flow_record *fake_flow(void *ctx, uint64_t id)
{
	struct fake_daemon *fk = ctx;
	struct flow_record *f = &fk->flows[id % FAKE_FLOWS];

	return id && f->id == id ? f : NULL;
}

/* The record @id, which the test expects to be there. */
static inline const struct flow_record *fake_record(struct fake_daemon *fk,
						    uint64_t id)
{
	static const struct flow_record none;
	const struct flow_record *f = fake_flow(fk, id);

	if (!f)
		t_fail(__FILE__, __LINE__, "no flow record %llu",
		       (unsigned long long)id);
	return f ? f : &none;
}

static inline void fake_flow_publish(void *ctx, uint64_t id)
{
}

static inline int fake_listener(void *ctx, uint32_t netns, const struct nt_addr *addr,
			 struct proxy_listener *l, struct nt_err *err)
{
	struct fake_daemon *fk = ctx;

	if (fk->listener_ret)
		return nt_err_set(err, fk->listener_ret, "no listener (fake)");
	*l = fk->listener;
	return 0;
}

static inline const struct policy *fake_policy(void *ctx)
{
	return ((struct fake_daemon *)ctx)->policy;
}

static inline enum nt_mode fake_ns_mode(void *ctx, const char *ns)
{
	return ((struct fake_daemon *)ctx)->mode;
}

/* A proxy with its own loop and interned IDs, and its fake daemon. */
static inline struct proxy *fake_proxy(struct fake_daemon *fk)
{
	struct proxy *px = calloc(1, sizeof(*px));

	memset(fk, 0, sizeof(*fk));
	if (!px || loop__new(&px->loop) || spiffe_ids__new(&px->env.ids) ||
	    policy__new_empty(&fk->policy)) {
		t_fail(__FILE__, __LINE__, "fake proxy: out of memory");
		exit(2);
	}
	px->env.ctx = fk;
	px->env.listener = fake_listener;
	px->env.policy = fake_policy;
	px->env.ns_mode = fake_ns_mode;
	px->env.flow_open = fake_flow_open;
	px->env.flow = fake_flow;
	px->env.flow_publish = fake_flow_publish;
	px->tls.trust_gen = 1;
	return px;
}

static inline void fake_proxy_free(struct proxy *px, struct fake_daemon *fk)
{
	pconn__close_all(px);
	loop__free(px->loop);
	spiffe_ids__free(px->env.ids);
	policy__free(fk->policy);
	free(px);
}

/* A connected pair of non-blocking stream sockets. */
static inline void stream_pair(int fds[2])
{
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
		       fds)) {
		t_fail(__FILE__, __LINE__, "socketpair: %s", strerror(errno));
		exit(2);
	}
}

/* A TCP connection over loopback, both ends non-blocking: for code that
 * asks a socket its addresses. */
static inline void tcp_pair(int fds[2])
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 1) ||
	    getsockname(l, (struct sockaddr *)&a, &len)) {
		t_fail(__FILE__, __LINE__, "tcp listener: %s", strerror(errno));
		exit(2);
	}
	fds[1] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (connect(fds[1], (struct sockaddr *)&a, sizeof(a)) ||
	    (fds[0] = accept4(l, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) < 0) {
		t_fail(__FILE__, __LINE__, "tcp pair: %s", strerror(errno));
		exit(2);
	}
	fcntl(fds[1], F_SETFL, O_NONBLOCK);
	close(l);
}

/* Writes all of @s to @fd (a socket with room for it). */
static inline void put(int fd, const void *s, size_t len)
{
	if (write(fd, s, len) != (ssize_t)len)
		t_fail(__FILE__, __LINE__, "short write: %s", strerror(errno));
}

/* What arrived on @fd, NUL-terminated (up to @size - 1 bytes). */
static inline size_t got(int fd, char *buf, size_t size)
{
	ssize_t n = read(fd, buf, size - 1);

	buf[n > 0 ? n : 0] = '\0';
	return n > 0 ? (size_t)n : 0;
}

static inline void id_of(struct spiffe_id *id, const char *s)
{
	struct nt_err err = {};

	if (spiffe_id__parse(id, s, strlen(s), &err))
		t_fail(__FILE__, __LINE__, "parse %s: %s", s, err.msg);
}

#endif
