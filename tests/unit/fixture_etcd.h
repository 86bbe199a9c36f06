/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers of the etcd client tests (test_etcd_*.c): a real etcd started by
 * the test (loopback, ports the kernel picked, a data dir under
 * t_tmpdir(), stopped by PID and never left running, even on a failed
 * CHECK), and an epoll loop that drives the client the way nametagd will.
 *
 * static inline, as each test binary uses only some of them.
 */
#ifndef NAMETAG_TEST_FIXTURE_ETCD_H
#define NAMETAG_TEST_FIXTURE_ETCD_H

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "tests/unit/harness.h"
#include "userspace/etcd/etcd.h"

#define ETCD_BIN	"/usr/bin/etcd"

/* ---- the loop: the library's own runner ------------------------------------ */

struct t_loop {
	struct etcd_runner *r;
};

static inline int64_t t_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void t_loop_init(struct t_loop *l)
{
	struct nt_err err = { "" };

	l->r = NULL;
	CHECKF(etcd_runner__new(&l->r, &err) == 0, "runner: %s", err.msg);
}

/* Frees the clients too. */
static inline void t_loop_fini(struct t_loop *l)
{
	etcd_runner__free(l->r);
	l->r = NULL;
}

struct t_client_opts {
	const char *ca, *cert, *key, *user, *password;
	int64_t backoff_min, backoff_max;
};

static inline struct etcd_client *t_client(struct t_loop *l, const char *url,
					   const struct t_client_opts *o)
{
	struct t_client_opts none = { NULL };
	const char *eps[1] = { url };
	struct etcd_config cfg = {
		.endpoints = eps, .nendpoints = 1, .timeout_ms = 3000,
	};
	struct nt_err err = { "" };
	struct etcd_client *c = NULL;
	int ret;

	if (!l->r)
		return NULL;
	o = o ? o : &none;
	cfg.ca_file = o->ca;
	cfg.cert_file = o->cert;
	cfg.key_file = o->key;
	cfg.user = o->user;
	cfg.password = o->password;
	cfg.backoff_min_ms = o->backoff_min;
	cfg.backoff_max_ms = o->backoff_max;
	ret = etcd_runner__client(l->r, &cfg, &c, &err);
	CHECKF(ret == 0, "etcd client: %d %s", ret, err.msg);
	return ret ? NULL : c;
}

/* Runs the loop until *@flag is true or @ms pass; true when it was set. */
static inline bool t_spin(struct t_loop *l, volatile bool *flag, int64_t ms)
{
	if (!l->r)
		return false;
	etcd_runner__run(l->r, flag, ms);
	return flag && *flag;
}

/* ---- etcd itself ---------------------------------------------------------- */

struct t_etcd {
	pid_t pid;
	int port, peer_port;
	char dir[PATH_MAX], url[96], log[PATH_MAX];
	const char *const *extra;	/* more arguments (TLS) */
	bool tls;
};

static pid_t t_etcd_pids[8];

static inline void t_etcd_reap_all(void)
{
	size_t i;

	for (i = 0; i < 8; i++)
		if (t_etcd_pids[i] > 0) {
			kill(t_etcd_pids[i], SIGKILL);
			waitpid(t_etcd_pids[i], NULL, 0);
			t_etcd_pids[i] = 0;
		}
}

static inline void t_etcd_track(pid_t pid, bool add)
{
	static bool hooked;
	size_t i;

	if (!hooked) {
		atexit(t_etcd_reap_all);
		hooked = true;
	}
	for (i = 0; i < 8; i++)
		if (add ? t_etcd_pids[i] == 0 : t_etcd_pids[i] == pid) {
			t_etcd_pids[i] = add ? pid : 0;
			return;
		}
}

/* A port the kernel hands out now; etcd binds it a moment later. */
static inline int t_free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && !bind(fd, (struct sockaddr *)&a, sizeof(a)) &&
	    !getsockname(fd, (struct sockaddr *)&a, &len))
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static inline bool t_etcd_have(void)
{
	if (access(ETCD_BIN, X_OK) == 0)
		return true;
	printf("    skip: %s is not installed (make deps installs etcd-server)\n",
	       ETCD_BIN);
	return false;
}

static inline bool t_etcd_exec(struct t_etcd *e)
{
	char client[96], peer[96], cluster[128];
	const char *argv[40];
	size_t n = 0, i;
	int fd;

	snprintf(client, sizeof(client), "%s://127.0.0.1:%d",
		 e->tls ? "https" : "http", e->port);
	snprintf(peer, sizeof(peer), "http://127.0.0.1:%d", e->peer_port);
	snprintf(cluster, sizeof(cluster), "default=%s", peer);
	snprintf(e->url, sizeof(e->url), "%s", client);
	argv[n++] = ETCD_BIN;
	argv[n++] = "--data-dir";
	argv[n++] = e->dir;
	argv[n++] = "--listen-client-urls";
	argv[n++] = client;
	argv[n++] = "--advertise-client-urls";
	argv[n++] = client;
	argv[n++] = "--listen-peer-urls";
	argv[n++] = peer;
	argv[n++] = "--initial-advertise-peer-urls";
	argv[n++] = peer;
	argv[n++] = "--initial-cluster";
	argv[n++] = cluster;
	for (i = 0; e->extra && e->extra[i] && n < 38; i++)
		argv[n++] = e->extra[i];
	argv[n] = NULL;
	e->pid = fork();
	if (e->pid == 0) {
		fd = open(e->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(ETCD_BIN, (char *const *)argv);
		_exit(127);
	}
	if (e->pid < 0)
		return false;
	t_etcd_track(e->pid, true);
	return true;
}

static inline size_t t_discard(char *p, size_t size, size_t n, void *u)
{
	return size * n;
}

/* Ready when the client port answers a range (any HTTP answer). */
static inline bool t_etcd_wait(struct t_etcd *e, const char *ca,
			       const char *cert, const char *key)
{
	char url[128];
	int64_t end = t_ms() + 15000;
	long code = 0;
	CURL *h;

	snprintf(url, sizeof(url), "%s/v3/kv/range", e->url);
	while (t_ms() < end) {
		h = curl_easy_init();
		if (!h)
			return false;
		curl_easy_setopt(h, CURLOPT_URL, url);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, "{\"key\":\"AA==\"}");
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 1000L);
		curl_easy_setopt(h, CURLOPT_PROXY, "");
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, t_discard);
		if (ca)
			curl_easy_setopt(h, CURLOPT_CAINFO, ca);
		if (cert) {
			curl_easy_setopt(h, CURLOPT_SSLCERT, cert);
			curl_easy_setopt(h, CURLOPT_SSLKEY, key);
		}
		code = 0;
		if (curl_easy_perform(h) == CURLE_OK)
			curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
		curl_easy_cleanup(h);
		if (code >= 200)
			return true;
		usleep(100 * 1000);
	}
	return false;
}

static inline bool t_etcd_start(struct t_etcd *e, const char *name)
{
	e->port = t_free_port();
	e->peer_port = t_free_port();
	snprintf(e->dir, sizeof(e->dir), "%s/%s.etcd", t_tmpdir(), name);
	snprintf(e->log, sizeof(e->log), "%s/%s.log", t_tmpdir(), name);
	if (e->port < 0 || e->peer_port < 0 || !t_etcd_exec(e))
		return false;
	CHECKF(t_etcd_wait(e, NULL, NULL, NULL), "etcd did not come up (%s)",
	       e->log);
	return true;
}

/* SIGKILL: etcd gets no chance to say goodbye to its clients. */
static inline void t_etcd_stop(struct t_etcd *e, bool hard)
{
	if (e->pid <= 0)
		return;
	kill(e->pid, hard ? SIGKILL : SIGTERM);
	waitpid(e->pid, NULL, 0);
	t_etcd_track(e->pid, false);
	e->pid = 0;
}

/* Same ports, same data dir. */
static inline bool t_etcd_restart(struct t_etcd *e)
{
	if (!t_etcd_exec(e))
		return false;
	return t_etcd_wait(e, NULL, NULL, NULL);
}

/* ---- callbacks that record ------------------------------------------------ */

struct t_result {
	bool done;
	int status;
	char msg[512];
	bool succeeded;
	int64_t revision, id, ttl;
	size_t n;
	char keys[16][64];
	char values[16][64];
	int64_t mods[16];
};

static inline void t_note(struct t_result *r, int status,
			  const struct nt_err *err)
{
	r->done = true;
	r->status = status;
	snprintf(r->msg, sizeof(r->msg), "%s", err ? err->msg : "");
}

static inline void t_range_cb(void *arg, int status, const struct etcd_range *rg,
			      const struct nt_err *err)
{
	struct t_result *r = arg;
	size_t i;

	t_note(r, status, err);
	if (status)
		return;
	r->revision = rg->revision;
	r->n = rg->n;
	for (i = 0; i < rg->n && i < 16; i++) {
		snprintf(r->keys[i], 64, "%s", rg->kvs[i].key);
		snprintf(r->values[i], 64, "%s", rg->kvs[i].value);
		r->mods[i] = rg->kvs[i].mod_revision;
	}
}

static inline void t_txn_cb(void *arg, int status,
			    const struct etcd_txn_result *t,
			    const struct nt_err *err)
{
	struct t_result *r = arg;
	size_t i;

	t_note(r, status, err);
	if (status)
		return;
	r->succeeded = t->succeeded;
	r->revision = t->revision;
	r->n = t->ncurrent;
	for (i = 0; i < t->ncurrent && i < 16; i++) {
		snprintf(r->keys[i], 64, "%s", t->current[i].key);
		snprintf(r->values[i], 64, "%s",
			 t->current[i].value ? t->current[i].value : "");
		r->mods[i] = t->current[i].mod_revision;
	}
}

static inline void t_lease_cb(void *arg, int status, int64_t id, int64_t ttl,
			      const struct nt_err *err)
{
	struct t_result *r = arg;

	t_note(r, status, err);
	r->id = id;
	r->ttl = ttl;
}

/* Synchronous forms for the tests' setup steps. */
static inline int t_put(struct t_loop *l, struct etcd_client *c,
			const char *key, const char *value, int64_t *rev)
{
	struct t_result r = { .done = false };
	struct nt_err err = { "" };
	int ret = etcd__put(c, key, value, strlen(value), 0, t_txn_cb, &r, &err);

	CHECKF(ret == 0, "put %s: %s", key, err.msg);
	if (ret || !t_spin(l, &r.done, 5000))
		return -ETIMEDOUT;
	if (rev)
		*rev = r.revision;
	return r.status;
}

static inline int t_range(struct t_loop *l, struct etcd_client *c,
			  const char *key, unsigned int flags,
			  struct t_result *r)
{
	struct nt_err err = { "" };
	int ret;

	memset(r, 0, sizeof(*r));
	ret = etcd__range(c, key, strlen(key), flags, 0, 0, t_range_cb, r, &err);
	if (ret || !t_spin(l, &r->done, 5000))
		return ret ? ret : -ETIMEDOUT;
	return r->status;
}

#endif
