// SPDX-License-Identifier: Apache-2.0
/*
 * The etcd client (userspace/etcd/) against a real etcd 3.4 that each case
 * starts on loopback ports and stops by PID: range, txn conflicts, leases,
 * watches, compaction, etcd killed and restarted, and a gateway that
 * answers malformed JSON (a forked fake server).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/fixture_etcd.h"
#include "tests/unit/harness.h"
#include "userspace/etcd/etcd.h"

static bool has(const char *msg, const char *want)
{
	return want && strstr(msg, want);
}

/* One etcd and one client on one loop, for a case. */
struct env {
	struct t_etcd e;
	struct t_loop l;
	struct etcd_client *c;
};

static bool env_up(struct env *v, const char *name,
		   const struct t_client_opts *o)
{
	memset(v, 0, sizeof(*v));
	v->l.r = NULL;
	if (!t_etcd_have())
		return false;
	t_loop_init(&v->l);
	if (!t_etcd_start(&v->e, name))
		return false;
	v->c = t_client(&v->l, v->e.url, o);
	return v->c != NULL;
}

static void env_down(struct env *v)
{
	t_loop_fini(&v->l);
	t_etcd_stop(&v->e, false);
}

/* ---- kv and txn ------------------------------------------------------------ */

static void test_put_range_txn(void)
{
	struct t_result r = { .done = false };
	struct nt_err err = { "" };
	struct env v;
	int64_t rev_a = 0;

	if (!env_up(&v, "kv", NULL))
		goto out;
	CHECK(t_put(&v.l, v.c, "/nametag/v1/config/ns/a", "{\"mode\":\"off\"}",
		    &rev_a) == 0);
	CHECK(t_put(&v.l, v.c, "/nametag/v1/config/ns/b", "two", NULL) == 0);
	CHECK(t_put(&v.l, v.c, "/nametag/v1/configx", "outside", NULL) == 0);
	CHECK(t_range(&v.l, v.c, "/nametag/v1/config/", ETCD_PREFIX, &r) == 0);
	CHECKF(r.n == 2 && !strcmp(r.keys[0], "/nametag/v1/config/ns/a") &&
	       !strcmp(r.values[0], "{\"mode\":\"off\"}") &&
	       r.mods[0] == rev_a && r.revision > rev_a,
	       "range: %zu keys, %s, rev %lld", r.n, r.keys[0],
	       (long long)r.revision);
	CHECK(t_range(&v.l, v.c, "/nametag/v1/missing", 0, &r) == 0 && r.n == 0);

	/* Two operators: the second, with the revision it read, loses. */
	memset(&r, 0, sizeof(r));
	CHECK(etcd__put_if(v.c, "/nametag/v1/config/ns/a", "first", 5, rev_a, 0,
			   t_txn_cb, &r, &err) == 0);
	CHECK(t_spin(&v.l, &r.done, 5000) && r.status == 0 && r.succeeded);
	memset(&r, 0, sizeof(r));
	CHECK(etcd__put_if(v.c, "/nametag/v1/config/ns/a", "second", 6, rev_a, 0,
			   t_txn_cb, &r, &err) == 0);
	CHECK(t_spin(&v.l, &r.done, 5000));
	CHECKF(r.status == 0 && !r.succeeded && r.n == 1 &&
	       !strcmp(r.values[0], "first") && r.mods[0] > rev_a,
	       "conflict: status %d ok %d n %zu value %s", r.status,
	       r.succeeded, r.n, r.values[0]);

	/* Create-if-absent: once only; the loser sees the key. */
	memset(&r, 0, sizeof(r));
	CHECK(etcd__put_if(v.c, "/nametag/v1/nodes/n1", "x", 1, 0, 0, t_txn_cb,
			   &r, &err) == 0);
	CHECK(t_spin(&v.l, &r.done, 5000) && r.succeeded);
	memset(&r, 0, sizeof(r));
	CHECK(etcd__put_if(v.c, "/nametag/v1/nodes/n1", "y", 1, 0, 0, t_txn_cb,
			   &r, &err) == 0);
	CHECK(t_spin(&v.l, &r.done, 5000) && !r.succeeded && r.mods[0] > 0);

	/* Delete-if-unchanged: a stale revision keeps the key. */
	memset(&r, 0, sizeof(r));
	CHECK(etcd__delete_if(v.c, "/nametag/v1/config/ns/b", 1, t_txn_cb, &r,
			      &err) == 0);
	CHECK(t_spin(&v.l, &r.done, 5000) && !r.succeeded);
	CHECK(t_range(&v.l, v.c, "/nametag/v1/config/ns/b", 0, &r) == 0 && r.n == 1);
	{
		int64_t mod = r.mods[0];

		memset(&r, 0, sizeof(r));
		CHECK(etcd__delete_if(v.c, "/nametag/v1/config/ns/b", mod,
				      t_txn_cb, &r, &err) == 0);
		CHECK(t_spin(&v.l, &r.done, 5000) && r.succeeded);
	}
	CHECK(t_range(&v.l, v.c, "/nametag/v1/config/ns/b", 0, &r) == 0 && r.n == 0);
	CHECK(etcd__delete_if(v.c, "/x", 0, t_txn_cb, &r, &err) == -EINVAL);
out:
	env_down(&v);
}

struct bin_seen {
	bool done;
	int status;
	size_t len;
	bool same;
};

static const char binval[] = { 'a', '\0', (char)0xff, '\n', '"', '\\', 'z' };

static void bin_cb(void *arg, int status, const struct etcd_range *rg,
		   const struct nt_err *err)
{
	struct bin_seen *b = arg;

	b->done = true;
	b->status = status;
	if (!status && rg->n == 1) {
		b->len = rg->kvs[0].value_len;
		b->same = b->len == sizeof(binval) &&
			  !memcmp(rg->kvs[0].value, binval, sizeof(binval)) &&
			  rg->kvs[0].value[b->len] == '\0';
	}
}

/* Values are bytes: NUL, 0xff and JSON's specials survive exactly. */
static void test_binary_value(void)
{
	struct t_result r = { .done = false };
	struct bin_seen b = { .done = false };
	struct nt_err err = { "" };
	struct env v;

	if (!env_up(&v, "bin", NULL))
		goto out;
	CHECK(etcd__put(v.c, "/bin", binval, sizeof(binval), 0, t_txn_cb, &r,
			&err) == 0);
	CHECK(t_spin(&v.l, &r.done, 5000) && r.status == 0);
	CHECK(etcd__range(v.c, "/bin", 4, 0, 0, 0, bin_cb, &b, &err) == 0);
	CHECK(t_spin(&v.l, &b.done, 5000) && b.status == 0);
	CHECKF(b.same, "binary value: %zu bytes", b.len);
out:
	env_down(&v);
}

/* ---- leases ----------------------------------------------------------------- */

struct lease_seen {
	bool granted, lost;
	int64_t id;
	int grants;
};

static void l_granted(void *arg, int64_t id, int64_t ttl)
{
	struct lease_seen *s = arg;

	s->granted = true;
	s->id = id;
	s->grants++;
}

static void l_lost(void *arg, int status, const struct nt_err *err)
{
	((struct lease_seen *)arg)->lost = true;
}

static void test_leases(void)
{
	static const struct etcd_lease_ops ops = { l_granted, l_lost };
	struct t_result r = { .done = false };
	struct lease_seen s = { .granted = false };
	struct etcd_lease *lease = NULL;
	struct nt_err err = { "" };
	struct env v;
	bool never = false;

	if (!env_up(&v, "lease", NULL))
		goto out;
	CHECK(etcd__lease_grant(v.c, 30, t_lease_cb, &r, &err) == 0);
	CHECK(t_spin(&v.l, &r.done, 5000) && r.status == 0 && r.id && r.ttl == 30);
	{
		int64_t id = r.id;

		memset(&r, 0, sizeof(r));
		CHECK(etcd__put(v.c, "/nametag/v1/nodes/n1", "up", 2, id,
				t_txn_cb, &r, &err) == 0);
		CHECK(t_spin(&v.l, &r.done, 5000) && r.status == 0);
		memset(&r, 0, sizeof(r));
		CHECK(etcd__lease_keepalive(v.c, id, t_lease_cb, &r, &err) == 0);
		CHECK(t_spin(&v.l, &r.done, 5000) && r.status == 0 && r.ttl > 0);
		memset(&r, 0, sizeof(r));
		CHECK(etcd__lease_revoke(v.c, id, t_lease_cb, &r, &err) == 0);
		CHECK(t_spin(&v.l, &r.done, 5000) && r.status == 0);
		CHECK(t_range(&v.l, v.c, "/nametag/v1/nodes/n1", 0, &r) == 0 &&
		      r.n == 0);
		memset(&r, 0, sizeof(r));
		CHECK(etcd__lease_keepalive(v.c, id, t_lease_cb, &r, &err) == 0);
		CHECK(t_spin(&v.l, &r.done, 5000));
		CHECKF(r.status == -ENOENT && has(r.msg, "gone"),
		       "keepalive of a revoked lease: %d %s", r.status, r.msg);
	}
	/* Kept alive by the library past its TTL of 2 s. */
	CHECK(etcd_lease__start(v.c, 2, &ops, &s, &lease, &err) == 0);
	CHECK(t_spin(&v.l, &s.granted, 5000));
	t_spin(&v.l, &never, 4500);
	CHECKF(!s.lost && s.grants == 1 && etcd_lease__id(lease) == s.id,
	       "managed lease: lost %d grants %d", s.lost, s.grants);
	memset(&r, 0, sizeof(r));
	CHECK(etcd__lease_keepalive(v.c, s.id, t_lease_cb, &r, &err) == 0);
	CHECK(t_spin(&v.l, &r.done, 5000) && r.status == 0);
	etcd_lease__stop(lease, true);
	t_spin(&v.l, &never, 500);
	memset(&r, 0, sizeof(r));
	CHECK(etcd__lease_keepalive(v.c, s.id, t_lease_cb, &r, &err) == 0);
	CHECK(t_spin(&v.l, &r.done, 5000) && r.status == -ENOENT);
out:
	env_down(&v);
}

/* ---- watches ---------------------------------------------------------------- */

struct watch_seen {
	bool connected, ended, disconnected, got;
	int events, puts, deletes, end_status;
	int64_t compact, last_rev;
	char last_key[64], msg[512];
};

static void w_events(void *arg, const struct etcd_event *ev, size_t n,
		     int64_t revision)
{
	struct watch_seen *s = arg;
	size_t i;

	for (i = 0; i < n; i++) {
		s->events++;
		if (ev[i].kind == ETCD_EV_PUT)
			s->puts++;
		else
			s->deletes++;
		/* One txn's events share a revision. */
		CHECK(ev[i].kv.mod_revision >= s->last_rev);
		s->last_rev = ev[i].kv.mod_revision;
		snprintf(s->last_key, sizeof(s->last_key), "%s", ev[i].kv.key);
	}
	s->got = true;
}

static void w_connected(void *arg, int64_t revision)
{
	((struct watch_seen *)arg)->connected = true;
}

static void w_disconnected(void *arg, int status, int64_t retry_ms,
			   const struct nt_err *err)
{
	struct watch_seen *s = arg;

	s->disconnected = true;
	s->connected = false;
}

static void w_ended(void *arg, int status, int64_t compact,
		    const struct nt_err *err)
{
	struct watch_seen *s = arg;

	s->ended = true;
	s->end_status = status;
	s->compact = compact;
	snprintf(s->msg, sizeof(s->msg), "%s", err ? err->msg : "");
}

static const struct etcd_watch_ops wops = {
	.events = w_events, .connected = w_connected,
	.disconnected = w_disconnected, .ended = w_ended,
};

static void test_watch_delivery(void)
{
	struct watch_seen s = { .connected = false };
	struct etcd_watch *w = NULL;
	struct nt_err err = { "" };
	struct t_result r;
	struct env v;

	if (!env_up(&v, "watch", NULL))
		goto out;
	CHECK(etcd__watch(v.c, "/nametag/v1/config/", 19, ETCD_PREFIX, 0, &wops,
			  &s, &w, &err) == 0);
	CHECK(t_spin(&v.l, &s.connected, 5000));
	CHECK(t_put(&v.l, v.c, "/nametag/v1/config/a", "1", NULL) == 0);
	CHECK(t_put(&v.l, v.c, "/nametag/v1/other", "x", NULL) == 0);
	CHECK(t_put(&v.l, v.c, "/nametag/v1/config/b", "2", NULL) == 0);
	memset(&r, 0, sizeof(r));
	CHECK(etcd__txn(v.c, NULL, 0, &(struct etcd_op){ .kind = ETCD_OP_DELETE,
			.key = "/nametag/v1/config/", .key_len = 19,
			.flags = ETCD_PREFIX }, 1, t_txn_cb, &r, &err) == 0);
	CHECK(t_spin(&v.l, &r.done, 5000) && r.status == 0);
	while (s.events < 4 && t_spin(&v.l, &s.got, 3000))
		s.got = false;
	CHECKF(s.events == 4 && s.puts == 2 && s.deletes == 2,
	       "events %d puts %d deletes %d", s.events, s.puts, s.deletes);
	CHECK(etcd_watch__next_revision(w) == s.last_rev + 1);
	/* A watch from below the compacted revision: canceled on a stream
	 * etcd keeps open; the client ends it with -ESTALE. */
	{
		struct watch_seen old = { .connected = false };
		struct etcd_watch *w2 = NULL;

		memset(&r, 0, sizeof(r));
		CHECK(etcd__compact(v.c, s.last_rev, t_txn_cb, &r, &err) == 0);
		CHECK(t_spin(&v.l, &r.done, 5000) && r.status == 0);
		CHECK(etcd__watch(v.c, "/nametag/v1/", 12, ETCD_PREFIX, 2, &wops,
				  &old, &w2, &err) == 0);
		CHECK(t_spin(&v.l, &old.ended, 5000));
		CHECKF(old.end_status == -ESTALE && old.compact == s.last_rev &&
		       has(old.msg, "re-list"), "compacted watch: %d %lld %s",
		       old.end_status, (long long)old.compact, old.msg);
		etcd_watch__cancel(w2);
		/* A range at a compacted revision: -ESTALE too. */
		memset(&r, 0, sizeof(r));
		CHECK(etcd__range(v.c, "/a", 2, 0, 2, 0, t_range_cb, &r, &err) == 0);
		CHECK(t_spin(&v.l, &r.done, 5000) && r.status == -ESTALE);
	}
	etcd_watch__cancel(w);
	CHECK(etcd__busy(v.c) == 0);
out:
	env_down(&v);
}

/* ---- mirrors, etcd killed, compaction --------------------------------------- */

struct mirror_seen {
	bool updated, relisted, in_sync;
	int updates, relists;
	size_t count;
	int64_t rev;
};

static void m_update(void *arg, const struct etcd_mirror *m, bool relisted,
		     const struct etcd_event *ev, size_t n)
{
	struct mirror_seen *s = arg;

	s->updated = true;
	s->updates++;
	if (relisted) {
		s->relisted = true;
		s->relists++;
	}
	s->count = etcd_mirror__count(m);
	s->rev = etcd_mirror__revision(m);
}

static void m_sync(void *arg, bool in_sync, int status,
		   const struct nt_err *err)
{
	((struct mirror_seen *)arg)->in_sync = in_sync;
}

static bool wait_count(struct env *v, struct etcd_client *c,
		       struct mirror_seen *s, size_t want, int64_t ms)
{
	int64_t end = t_ms() + ms;

	while (s->count != want && t_ms() < end) {
		s->updated = false;
		t_spin(&v->l, &s->updated, end - t_ms());
	}
	return s->count == want;
}

static void test_mirror_kill_compact(void)
{
	static const struct etcd_mirror_ops mops = { m_update, m_sync };
	struct t_client_opts slow = { .backoff_min = 4000, .backoff_max = 4000 };
	struct mirror_seen s = { .updated = false };
	struct etcd_mirror *m = NULL;
	struct etcd_client *writer;
	struct nt_err err = { "" };
	struct t_result r;
	struct env v;
	int64_t rev = 0;
	char key[64];
	int i;

	if (!env_up(&v, "mirror", &slow))
		goto out;
	writer = t_client(&v.l, v.e.url, NULL);
	for (i = 0; writer && i < 3; i++) {
		snprintf(key, sizeof(key), "/nametag/v1/config/k%d", i);
		CHECK(t_put(&v.l, writer, key, "v", NULL) == 0);
	}
	CHECK(etcd_mirror__start(v.c, "/nametag/v1/config/", &mops, &s, &m,
				 &err) == 0);
	CHECK(t_spin(&v.l, &s.relisted, 5000) && s.count == 3);
	CHECK(t_spin(&v.l, &s.in_sync, 5000));
	CHECK(t_put(&v.l, writer, "/nametag/v1/config/k3", "v", NULL) == 0);
	CHECK(wait_count(&v, v.c, &s, 4, 5000));
	CHECK(etcd_mirror__get(m, "/nametag/v1/config/k3", 21) != NULL);

	/* etcd killed: the mirror says it is out of sync, keeps its copy. */
	t_etcd_stop(&v.e, true);
	{
		bool never = false;

		t_spin(&v.l, &never, 800);
	}
	CHECKF(!s.in_sync && etcd_mirror__count(m) == 4,
	       "etcd down: in_sync %d count %zu", s.in_sync,
	       etcd_mirror__count(m));
	/* Back, and before the mirror's watch resumes (its backoff is
	 * 3 to 4 s) another writer changes keys and compacts past them. */
	CHECK(t_etcd_restart(&v.e));
	CHECK(t_put(&v.l, writer, "/nametag/v1/config/k4", "v", NULL) == 0);
	memset(&r, 0, sizeof(r));
	CHECK(etcd__txn(writer, NULL, 0, &(struct etcd_op){ .kind = ETCD_OP_DELETE,
			.key = "/nametag/v1/config/k0", .key_len = 21 }, 1,
			t_txn_cb, &r, &err) == 0);
	CHECK(t_spin(&v.l, &r.done, 5000) && r.succeeded);
	rev = r.revision;
	memset(&r, 0, sizeof(r));
	CHECK(etcd__compact(writer, rev, t_txn_cb, &r, &err) == 0);
	CHECK(t_spin(&v.l, &r.done, 5000) && r.status == 0);
	/* The resume meets the compaction: the mirror re-lists. */
	s.relisted = false;
	CHECK(t_spin(&v.l, &s.relisted, 10000));
	CHECKF(etcd_mirror__relists(m) >= 1 && s.count == 4 &&
	       !etcd_mirror__get(m, "/nametag/v1/config/k0", 21) &&
	       etcd_mirror__get(m, "/nametag/v1/config/k4", 21) &&
	       etcd_mirror__revision(m) >= rev,
	       "after compaction: relists %u count %zu rev %lld/%lld",
	       etcd_mirror__relists(m), s.count,
	       (long long)etcd_mirror__revision(m), (long long)rev);
	CHECK(t_spin(&v.l, &s.in_sync, 5000));
	/* And it watches again. */
	CHECK(t_put(&v.l, writer, "/nametag/v1/config/k5", "v", NULL) == 0);
	CHECK(wait_count(&v, v.c, &s, 5, 5000));
	etcd_mirror__stop(m);
out:
	env_down(&v);
}

/* etcd killed while a plain watch is open: it reconnects and resumes
 * from the next revision, missing nothing written while it was away. */
static void test_watch_reconnect(void)
{
	struct t_client_opts fast = { .backoff_min = 50, .backoff_max = 400 };
	struct watch_seen s = { .connected = false };
	struct etcd_watch *w = NULL;
	struct etcd_client *writer;
	struct nt_err err = { "" };
	struct env v;

	if (!env_up(&v, "reconnect", &fast))
		goto out;
	writer = t_client(&v.l, v.e.url, NULL);
	CHECK(etcd__watch(v.c, "/k", 2, ETCD_PREFIX, 0, &wops, &s, &w, &err) == 0);
	CHECK(t_spin(&v.l, &s.connected, 5000));
	CHECK(writer && t_put(&v.l, writer, "/k1", "a", NULL) == 0);
	CHECK(t_spin(&v.l, &s.got, 5000) && s.events == 1);
	t_etcd_stop(&v.e, true);
	CHECK(t_spin(&v.l, &s.disconnected, 5000));
	CHECK(t_etcd_restart(&v.e));
	/* The event may arrive in the same turn of the loop as the put's
	 * answer: clear the flag first. */
	s.got = false;
	CHECK(t_put(&v.l, writer, "/k2", "b", NULL) == 0);
	CHECK(s.got || t_spin(&v.l, &s.got, 10000));
	CHECKF(s.events == 2 && !strcmp(s.last_key, "/k2") && !s.ended,
	       "after restart: %d events, last %s", s.events, s.last_key);
	etcd_watch__cancel(w);
out:
	env_down(&v);
}

/* ---- a gateway that lies ---------------------------------------------------- */

/* Serves @body as a 200 answer to @n requests on @port, then exits. */
static pid_t fake_server(int *port, const char *body, int n)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	char req[8192], head[256];
	int fd, conn, i;
	pid_t pid;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) ||
	    listen(fd, 4) || getsockname(fd, (struct sockaddr *)&a, &len))
		return -1;
	*port = ntohs(a.sin_port);
	pid = fork();
	if (pid) {
		close(fd);
		return pid;
	}
	for (i = 0; i < n; i++) {
		conn = accept(fd, NULL, NULL);
		if (conn < 0)
			_exit(1);
		if (read(conn, req, sizeof(req)) < 0)
			_exit(1);
		snprintf(head, sizeof(head),
			 "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
			 "Content-Length: %zu\r\nConnection: close\r\n\r\n",
			 strlen(body));
		if (write(conn, head, strlen(head)) < 0 ||
		    write(conn, body, strlen(body)) < 0)
			_exit(1);
		close(conn);
	}
	_exit(0);
}

static void test_malformed(void)
{
	static const struct {
		const char *body, *msg;
		int watch;
	} rows[] = {
		{ "{\"header\":{\"revision\":5},\"kvs\":[]}",
		  "header.revision: not an int64 in a decimal string", 0 },
		{ "{\"header\":{\"revision\":\"05\"}}", "header.revision", 0 },
		{ "{\"header\":{\"revision\":\"99999999999999999999\"}}", "header.revision", 0 },
		{ "{\"header\":{\"revision\":\"5\"},\"kvs\":[{\"key\":\"a2V5\",\"value\":\"!!\",\"mod_revision\":\"5\"}]}",
		  "range.kvs[0].value: not base64", 0 },
		{ "{\"header\":{\"revision\":\"5\"},\"kvs\":[{\"key\":\"a2V5\",\"value\":\"YQ\",\"mod_revision\":\"5\"}]}",
		  "not base64", 0 },
		{ "{\"header\":{\"revision\":\"5\"},\"kvs\":{}}", "range.kvs: not an array", 0 },
		{ "{\"header\":{\"revision\":\"5\"},\"count\":\"1\",\"count\":\"2\"}", "duplicate", 0 },
		{ "{\"header\":{\"revision\":\"5\"}} x", "", 0 },
		{ "{\"result\":{\"header\":{\"revision\":\"5\"},\"events\":[{\"type\":\"SET\",\"kv\":{\"key\":\"a2V5\",\"mod_revision\":\"5\"}}]}}\n",
		  "watch.events[0].type: not PUT or DELETE", 1 },
		{ "{\"result\":{\"header\":{\"revision\":\"5\"},\"events\":[{\"kv\":{\"key\":\"a2V5\"}}]}}\n",
		  "no mod_revision", 1 },
		{ "not json\n", "watch", 1 },
	};
	size_t i;

	if (!t_etcd_have())
		return;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct watch_seen s = { .connected = false };
		struct t_result r = { .done = false };
		struct etcd_watch *w = NULL;
		struct nt_err err = { "" };
		struct etcd_client *c;
		struct t_loop l;
		char url[64];
		int port = 0;
		pid_t pid = fake_server(&port, rows[i].body, 1);

		if (pid < 0) {
			CHECK(pid > 0);
			continue;
		}
		t_loop_init(&l);
		snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
		c = t_client(&l, url, &(struct t_client_opts){ .backoff_min = 5000,
							       .backoff_max = 5000 });
		if (c && rows[i].watch) {
			CHECK(etcd__watch(c, "/k", 2, 0, 0, &wops, &s, &w, &err) == 0);
			t_spin(&l, &s.ended, 5000);
			CHECKF(s.ended && s.end_status == -EBADMSG &&
			       has(s.msg, rows[i].msg), "row %zu: %d '%s'", i,
			       s.end_status, s.msg);
			etcd_watch__cancel(w);
		} else if (c) {
			CHECK(etcd__range(c, "/k", 2, 0, 0, 0, t_range_cb, &r,
					  &err) == 0);
			t_spin(&l, &r.done, 5000);
			CHECKF(r.done && r.status == -EBADMSG && has(r.msg, rows[i].msg),
			       "row %zu: %d '%s'", i, r.status, r.msg);
		}
		t_loop_fini(&l);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
}

/* Nothing listens: a clear transport error, no hang. */
static void test_unreachable(void)
{
	struct t_result r = { .done = false };
	struct nt_err err = { "" };
	struct etcd_client *c;
	struct t_loop l;
	char url[64];

	t_loop_init(&l);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", t_free_port());
	c = t_client(&l, url, NULL);
	if (c) {
		CHECK(etcd__range(c, "/k", 2, 0, 0, 0, t_range_cb, &r, &err) == 0);
		CHECK(t_spin(&l, &r.done, 5000));
		CHECKF(r.status == -ECONNREFUSED && has(r.msg, url),
		       "unreachable: %d %s", r.status, r.msg);
	}
	CHECK(etcd__range(c, "", 0, 0, 0, 0, t_range_cb, &r, &err) == -EINVAL);
	/* Left running at etcd__free(): freed with the client (the ASan
	 * build's leak check is the assertion). */
	if (c) {
		static const struct etcd_lease_ops lops = { l_granted, l_lost };
		static const struct etcd_mirror_ops mops = { m_update, m_sync };
		struct watch_seen ws = { .connected = false };
		struct mirror_seen ms = { .updated = false };
		struct lease_seen ls = { .granted = false };
		struct etcd_watch *w = NULL;
		struct etcd_lease *lease = NULL;
		struct etcd_mirror *m = NULL;
		bool never = false;

		CHECK(etcd__watch(c, "/k", 2, 0, 0, &wops, &ws, &w, &err) == 0);
		CHECK(etcd_lease__start(c, 10, &lops, &ls, &lease, &err) == 0);
		CHECK(etcd_mirror__start(c, "/m/", &mops, &ms, &m, &err) == 0);
		t_spin(&l, &never, 300);
		CHECK(ws.disconnected && !ls.granted && !ms.in_sync);
		CHECK(etcd__busy(c) >= 3);
	}
	t_loop_fini(&l);
}

T_MAIN("etcd/client",
       T(test_put_range_txn),
       T(test_binary_value),
       T(test_leases),
       T(test_watch_delivery),
       T(test_watch_reconnect),
       T(test_mirror_kill_compact),
       T(test_malformed),
       T(test_unreachable));
