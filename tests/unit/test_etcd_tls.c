// SPDX-License-Identifier: Apache-2.0
/*
 * The fleet's etcd access setup (docs/fleet.md, contrib/etcd/fleet-roles.sh)
 * against a real etcd: TLS with client certificates (--client-cert-auth)
 * and etcd's own auth with one role per node. A node reads the
 * configuration and writes only its own keys; the operator writes the
 * configuration; a client without a certificate does not get in; and
 * etcd's short-lived auth token is renewed without the caller noticing.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/fixture_etcd.h"
#include "tests/unit/fixture_sh.h"
#include "tests/unit/harness.h"
#include "userspace/etcd/etcd.h"

static bool has(const char *msg, const char *want)
{
	return want && strstr(msg, want);
}

/* ca.crt/key; server.crt/key for 127.0.0.1; client.crt/key without a CN
 * (what every nametag process presents); cn.crt/key with one. */
static bool make_pki(char *dir, size_t size)
{
	const char *ec = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";

	snprintf(dir, size, "%s/pki", t_tmpdir());
	return sh("mkdir -p '%s' && cd '%s' && "
		  "openssl req -x509 %s -keyout ca.key -out ca.crt -days 2 -subj '/CN=etcd test CA' && "
		  "openssl req -new %s -keyout server.key -out server.csr -subj '/CN=etcd' && "
		  "printf 'subjectAltName=IP:127.0.0.1\\nextendedKeyUsage=serverAuth,clientAuth\\n' > server.ext && "
		  "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -set_serial 1 -days 2 -extfile server.ext -out server.crt && "
		  "printf 'extendedKeyUsage=clientAuth\\n' > client.ext && "
		  "openssl req -new %s -keyout client.key -out client.csr -subj '/O=nametag' && "
		  "openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -set_serial 2 -days 2 -extfile client.ext -out client.crt && "
		  "openssl req -new %s -keyout cn.key -out cn.csr -subj '/CN=node-a' && "
		  "openssl x509 -req -in cn.csr -CA ca.crt -CAkey ca.key -set_serial 3 -days 2 -extfile client.ext -out cn.crt && "
		  "printf 'root-secret' > root.pw && printf 'admin-secret' > admin.pw && "
		  "printf 'a-secret' > node-a.pw && printf 'b-secret' > node-b.pw && "
		  "chmod 600 *.key *.pw",
		  dir, dir, ec, ec, ec, ec) == 0;
}

struct tls_env {
	struct t_etcd e;
	struct t_loop l;
	char pki[256], ca[PATH_MAX], cert[PATH_MAX], key[PATH_MAX];
	char srv_cert[PATH_MAX], srv_key[PATH_MAX];
	const char *args[16];
};

static bool tls_up(struct tls_env *v)
{
	static int run;

	memset(v, 0, sizeof(*v));
	run++;
	v->l.r = NULL;
	if (!t_etcd_have())
		return false;
	t_loop_init(&v->l);
	CHECKF(make_pki(v->pki, sizeof(v->pki)), "openssl failed (see %s/sh.log)", t_tmpdir());
	snprintf(v->ca, PATH_MAX, "%s/ca.crt", v->pki);
	snprintf(v->cert, PATH_MAX, "%s/client.crt", v->pki);
	snprintf(v->key, PATH_MAX, "%s/client.key", v->pki);
	snprintf(v->srv_cert, PATH_MAX, "%s/server.crt", v->pki);
	snprintf(v->srv_key, PATH_MAX, "%s/server.key", v->pki);
	v->args[0] = "--client-cert-auth";
	v->args[1] = "--trusted-ca-file";
	v->args[2] = v->ca;
	v->args[3] = "--cert-file";
	v->args[4] = v->srv_cert;
	v->args[5] = "--key-file";
	v->args[6] = v->srv_key;
	/* Short tokens, so the test sees one expire. */
	v->args[7] = "--auth-token-ttl";
	v->args[8] = "2";
	v->args[9] = NULL;
	v->e.extra = v->args;
	v->e.tls = true;
	v->e.port = t_free_port();
	v->e.peer_port = t_free_port();
	/* A fresh etcd per case: auth, once enabled, stays in the data. */
	snprintf(v->e.dir, sizeof(v->e.dir), "%s/tls%d.etcd", t_tmpdir(), run);
	snprintf(v->e.log, sizeof(v->e.log), "%s/tls%d.log", t_tmpdir(), run);
	if (!t_etcd_exec(&v->e) ||
	    !t_etcd_wait(&v->e, v->ca, v->cert, v->key)) {
		CHECKF(0, "etcd with TLS did not come up (%s)", v->e.log);
		return false;
	}
	/* The setup the docs describe, as the docs give it. */
	CHECKF(sh("contrib/etcd/fleet-roles.sh %s %s %s %s %s/root.pw %s/admin.pw "
		  "node-a:%s/node-a.pw node-b:%s/node-b.pw",
		  v->e.url, v->ca, v->cert, v->key, v->pki, v->pki, v->pki,
		  v->pki) == 0, "fleet-roles.sh failed (see %s/sh.log)",
	       t_tmpdir());
	return true;
}

static struct etcd_client *as(struct tls_env *v, const char *user,
			      const char *pw, const char *cert)
{
	char c[PATH_MAX], k[PATH_MAX];
	struct t_client_opts o = {
		.ca = v->ca, .cert = v->cert, .key = v->key,
		.user = user, .password = pw,
	};

	if (cert) {
		snprintf(c, sizeof(c), "%s/%s.crt", v->pki, cert);
		snprintf(k, sizeof(k), "%s/%s.key", v->pki, cert);
		o.cert = c;
		o.key = k;
	}
	return t_client(&v->l, v->e.url, &o);
}

static int put_as(struct tls_env *v, struct etcd_client *c, const char *key,
		  char *msg)
{
	struct t_result r = { .done = false };
	struct nt_err err = { "" };

	if (etcd__put(c, key, "v", 1, 0, t_txn_cb, &r, &err))
		return -EIO;
	if (!t_spin(&v->l, &r.done, 5000))
		return -ETIMEDOUT;
	snprintf(msg, 512, "%s", r.msg);
	return r.status;
}

struct key_seen {
	bool listed;
	int status;			/* the last sync's */
	size_t count;
};

static void k_update(void *arg, const struct etcd_mirror *m, bool relisted,
		     const struct etcd_event *ev, size_t n)
{
	struct key_seen *s = arg;

	s->listed = true;
	s->count = etcd_mirror__count(m);
}

static void k_sync(void *arg, bool in_sync, int status,
		   const struct nt_err *err)
{
	((struct key_seen *)arg)->status = status;
}

/* A node's role grants its CA answer as one key: a mirror of that key
 * lists and follows it; a prefix mirror of the same name asks for a range
 * the role does not grant, and never lists (nametagd's answers mirror was
 * one, and no renewal on the loop was ever taken up). */
static void test_answer_mirror(struct tls_env *v, struct etcd_client *admin,
			       struct etcd_client *a)
{
	static const struct etcd_mirror_ops kops = { k_update, k_sync };
	static const char key[] = "/nametag/v1/ca/answers/node-a";
	struct key_seen one = { .listed = false }, pre = { .listed = false };
	struct etcd_mirror *m1 = NULL, *m2 = NULL;
	struct nt_err err = { "" };
	bool never = false;

	CHECK(t_put(&v->l, admin, key, "{}", NULL) == 0);
	CHECK(etcd_mirror__start_key(a, key, &kops, &one, &m1, &err) == 0);
	CHECK(etcd_mirror__start(a, key, &kops, &pre, &m2, &err) == 0);
	CHECKF(t_spin(&v->l, &one.listed, 5000) && one.count == 1,
	       "node-a's mirror of its answer: listed %d count %zu",
	       one.listed, one.count);
	t_spin(&v->l, &never, 500);
	CHECKF(!pre.listed && pre.status == -EACCES,
	       "a prefix mirror of it: listed %d status %d", pre.listed,
	       pre.status);
	CHECK(t_put(&v->l, admin, "/nametag/v1/ca/answers/node-ab", "{}", NULL) == 0);
	CHECK(t_put(&v->l, admin, key, "{\"a\":1}", NULL) == 0);
	one.listed = false;
	t_spin(&v->l, &never, 500);
	CHECKF(etcd_mirror__count(m1) == 1 &&
	       etcd_mirror__get(m1, key, strlen(key))->value_len == 7,
	       "the key's mirror follows it, and only it: %zu",
	       etcd_mirror__count(m1));
	etcd_mirror__stop(m1);
	etcd_mirror__stop(m2);
}

static void test_roles(void)
{
	static const struct {
		const char *who, *key;
		int want;
	} rows[] = {
		{ "admin", "/nametag/v1/config/namespaces/shop", 0 },
		{ "node-a", "/nametag/v1/nodes/node-a", 0 },
		{ "node-a", "/nametag/v1/ca/requests/node-a", 0 },
		{ "node-a", "/nametag/v1/jwt/node-a", 0 },
		{ "node-a", "/nametag/v1/nodes/node-b", -EACCES },
		{ "node-a", "/nametag/v1/config/namespaces/shop", -EACCES },
		{ "node-a", "/nametag/v1/ca/answers/node-a", -EACCES },
		{ "node-a", "/nametag/v1/jwt/node-b", -EACCES },
		{ "node-b", "/nametag/v1/nodes/node-b", 0 },
		{ "node-b", "/nametag/v1/nodes/node-a", -EACCES },
	};
	struct etcd_client *admin, *a, *b, *c;
	struct t_result r;
	struct tls_env v;
	char msg[512];
	size_t i;

	if (!tls_up(&v))
		goto out;
	admin = as(&v, "nametag-admin", "admin-secret", NULL);
	a = as(&v, "node-a", "a-secret", NULL);
	b = as(&v, "node-b", "b-secret", NULL);
	if (!admin || !a || !b)
		goto out;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		c = !strcmp(rows[i].who, "admin") ? admin :
		    !strcmp(rows[i].who, "node-a") ? a : b;
		msg[0] = '\0';
		int ret = put_as(&v, c, rows[i].key, msg);

		CHECKF(ret == rows[i].want &&
		       (!ret || has(msg, "permission denied")),
		       "row %zu: %s writes %s: %d '%s'", i, rows[i].who,
		       rows[i].key, ret, msg);
	}
	/* Nodes read the configuration, not each other's records. */
	CHECK(t_range(&v.l, a, "/nametag/v1/config/", ETCD_PREFIX, &r) == 0 &&
	      r.n == 1);
	CHECK(t_range(&v.l, a, "/nametag/v1/nodes/", ETCD_PREFIX, &r) == -EACCES);
	test_answer_mirror(&v, admin, a);
	/* etcd's token lives 2 s here: the client fetches a new one and
	 * sends the refused request again, once. */
	{
		bool never = false;

		t_spin(&v.l, &never, 3500);
		CHECKF(put_as(&v, a, "/nametag/v1/nodes/node-a", msg) == 0,
		       "after the token expired: %s", msg);
	}
out:
	t_loop_fini(&v.l);
	t_etcd_stop(&v.e, false);
}

static void test_refused_clients(void)
{
	struct etcd_client *nocert, *cn, *badpw;
	struct t_result r;
	struct tls_env v;
	char msg[512];
	int ret;

	if (!tls_up(&v))
		goto out;
	/* No client certificate: the TLS handshake fails. */
	{
		struct t_client_opts o = { .ca = v.ca, .user = "node-a",
					   .password = "a-secret" };

		nocert = t_client(&v.l, v.e.url, &o);
	}
	ret = nocert ? put_as(&v, nocert, "/nametag/v1/nodes/node-a", msg) : 0;
	CHECKF(ret < 0 && ret != -EACCES, "no certificate: %d %s", ret, msg);
	/* A certificate with a CN: the gateway refuses it outright. */
	cn = as(&v, "node-a", "a-secret", "cn");
	ret = cn ? put_as(&v, cn, "/nametag/v1/nodes/node-a", msg) : 0;
	CHECKF(ret < 0 && has(msg, "CommonName"), "CN certificate: %d %s", ret,
	       msg);
	/* A wrong password. */
	badpw = as(&v, "node-a", "b-secret", NULL);
	ret = badpw ? put_as(&v, badpw, "/nametag/v1/nodes/node-a", msg) : 0;
	CHECKF(ret == -EACCES && has(msg, "authenticating as 'node-a'"),
	       "bad password: %d %s", ret, msg);
	/* No user at all once auth is on. */
	{
		struct t_client_opts o = { .ca = v.ca, .cert = v.cert, .key = v.key };
		struct etcd_client *anon = t_client(&v.l, v.e.url, &o);

		CHECK(anon && t_range(&v.l, anon, "/nametag/v1/config/",
				      ETCD_PREFIX, &r) < 0);
	}
out:
	t_loop_fini(&v.l);
	t_etcd_stop(&v.e, false);
}

T_MAIN("etcd/tls",
       T(test_roles),
       T(test_refused_clients));
