// SPDX-License-Identifier: Apache-2.0
/*
 * Fleet mode (ca/authority_{scope,req,sign,fleet}.c, docs/fleet.md): scopes,
 * join tokens, requests, the signer and the node's side, with the upstream
 * root made by the openssl command line at the real time.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/x509v3.h>

#include "ca/ca.h"
#include "tests/unit/fixture_fleet.h"
#include "tests/unit/fixture_node_ca.h"
#include "tests/unit/fixture_upstream.h"
#include "tests/unit/harness.h"

/* ---- scopes --------------------------------------------------------------- */

static void test_scope_covers(void)
{
	static const struct {
		const char *prefix, *id;
		bool want;
	} rows[] = {
		{ ID("/ns/shop"), ID("/ns/shop"), true },
		{ ID("/ns/shop"), ID("/ns/shop/sa/web"), true },
		{ ID("/ns/shop"), ID("/ns/shopping"), false },
		{ ID("/ns/shop"), ID("/ns"), false },
		{ ID("/ns/shop"), "spiffe://other.org/ns/shop", false },
		{ ID(""), ID("/anything/at/all"), true },
		{ ID(""), "spiffe://example.org.evil/x", false },
		{ ID("/ns/shop/sa"), ID("/ns/shop/sa.x"), false },
	};
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const char *p = rows[i].prefix;
		struct ca_scope *s = NULL;
		struct spiffe_id id;

		if (ca_scope__new(&s, NULL, "n1", &p, 1, NULL) ||
		    spiffe_id__parse(&id, rows[i].id, strlen(rows[i].id), NULL)) {
			CHECKF(0, "row %zu: setup", i);
			ca_scope__free(s);
			continue;
		}
		CHECKF(ca_scope__covers(s, &id) == rows[i].want,
		       "row %zu: %s covers %s: want %d", i, p, rows[i].id,
		       rows[i].want);
		ca_scope__free(s);
	}
}

static void test_scope_refusals(void)
{
	static const struct {
		const char *node, *p1, *p2;
		const char *want;
	} rows[] = {
		{ "", ID("/a"), NULL, "1 to 63" },
		{ "Node1", ID("/a"), NULL, "[a-z0-9.-]" },
		{ "-n", ID("/a"), NULL, "start and end" },
		{ "n..x", ID("/a"), NULL, "empty label" },
		{ "n/x", ID("/a"), NULL, "[a-z0-9.-]" },
		{ "n1", "spiffe://other.org/a", NULL, "not in trust domain" },
		{ "n1", ID("/a/"), NULL, "scope prefix" },
		{ "n1", "https://example.org/a", NULL, "scope prefix" },
		{ "n1", NULL, NULL, "at least one" },
	};
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const char *p[2] = { rows[i].p1, rows[i].p2 };
		size_t n = rows[i].p1 ? (rows[i].p2 ? 2 : 1) : 0;
		struct nt_err err = { "" };
		struct ca_scope *s = NULL;
		int ret = ca_scope__new(&s, TD, rows[i].node, p, n, &err);

		CHECKF(ret < 0 && has(err.msg, rows[i].want),
		       "row %zu: %d '%s', want '%s'", i, ret, err.msg,
		       rows[i].want);
		ca_scope__free(s);
	}
}

static void test_scope_der(void)
{
	const char *p[] = { ID("/ns/b"), ID("/ns/a"), ID("/ns/b") };
	struct ca_scope *s = scope_of("n1", p, 3), *t = NULL;
	struct nt_err err = { "" };
	unsigned char *der = NULL;
	size_t len = 0;
	int ret;

	if (!s)
		return;
	/* Sorted and merged. */
	CHECK(s->n == 2 && !strcmp(s->prefix[0].str, ID("/ns/a")));
	CHECK(ca_scope__to_der(s, &der, &len, &err) == 0);
	ret = ca_scope__parse_der(der, len, &t, &err);
	CHECKF(ret == 0 && t && t->n == 2 && !strcmp(t->node, "n1") &&
	       ca_scope__within(s, t) && ca_scope__within(t, s),
	       "round trip: %d %s", ret, err.msg);
	ca_scope__free(t);
	t = NULL;
	/* Truncated, and trailing bytes. */
	CHECK(ca_scope__parse_der(der, len - 1, &t, NULL) == -EINVAL);
	/* The prefixes swapped: same lengths, not sorted. */
	if (len > 40) {
		unsigned char *swap = malloc(len);
		const char *a = ID("/ns/a"), *b = ID("/ns/b");
		size_t i;

		memcpy(swap, der, len);
		for (i = 0; i + strlen(a) <= len; i++)
			if (!memcmp(swap + i, a, strlen(a)))
				swap[i + strlen(a) - 1] = 'c';
		(void)b;
		CHECK(ca_scope__parse_der(swap, len, &t, &err) == -EINVAL &&
		      has(err.msg, "sorted"));
		free(swap);
	}
	OPENSSL_free(der);
	ca_scope__free(s);
}

/* ---- the fleet: one signer, nodes joining and renewing ------------------- */

/* No file of the state dir holds the upstream keys. */
static void check_no_upstream_key(const char *dir)
{
	char path[PATH_MAX], *snap = snapshot(dir), *k;
	const char *names[] = { "root.key", "mid.key" };
	size_t i, len = 0;

	for (i = 0; snap && i < 2; i++) {
		join(path, upstream_dir(), names[i]);
		k = slurp(path, &len);
		/* 40 bytes of the PEM's base64 body, past its header line. */
		if (k && len > 80) {
			k[80] = '\0';
			CHECKF(!strstr(snap, k + 40), "%s found in the state dir",
			       names[i]);
		}
		CHECK(k != NULL);
		free(k);
	}
	free(snap);
}

static void test_join_and_mint(void)
{
	char dir[PATH_MAX], idx[PATH_MAX], *text;
	struct nt_err err = { "" };
	struct ca_scope *grant = NULL;
	struct node_ca *ca = NULL;
	struct svid *in = NULL, *out = NULL;
	struct spiffe_id id;
	struct fleet f;
	size_t len = 0;
	int ret;

	if (!fleet_up(&f))
		goto done;
	tmp_path(dir, "fleet-join");
	ca = join_node(&f, dir, "node-a", &grant);
	if (!ca)
		goto done;
	CHECK(node_ca__is_fleet(ca) && !node_ca__is_upstream(ca));
	CHECK(!strcmp(node_ca__node(ca), "node-a"));
	CHECK(node_ca__scope(ca) && node_ca__scope(ca)->n == 1);
	CHECK(!node_ca__signer(ca)->ca_is_root);
	join(idx, dir, STATE_CA_FILE);
	text = slurp(idx, &len);
	CHECKF(text && has(text, "\"fleet\"") && has(text, "\"node-a\""),
	       "ca.json: %s", text ? text : "(none)");
	free(text);
	join(idx, dir, STATE_CA_PENDING_KEY);
	CHECK(mode_of(idx) == -1);	/* consumed */
	check_disk_bundle(dir, 1, 1, "joined");
	check_no_upstream_key(dir);
	in = mint_ok(ca, "/ns/node-a/web", time(NULL));
	check_verifies(dir, in, time(NULL), "in scope");
	if (in)
		openssl_verifies(f.root, in, "fleet-in");
	/* node_ca__mint refuses outside the scope ... */
	spiffe_id__parse(&id, ID("/ns/node-b/web"), strlen(ID("/ns/node-b/web")),
			 NULL);
	ret = node_ca__mint(ca, &id, 0, time(NULL), &out, &err);
	CHECKF(ret == -EPERM && has(err.msg, "outside"), "mint: %d %s", ret,
	       err.msg);
	/* ... and a node that mints around it is refused by every nametag
	 * peer, while other X.509 verifiers ignore the scope. */
	ret = svid__mint(node_ca__signer(ca), &id, 600, time(NULL), &out, &err);
	CHECKF(ret == 0, "raw mint: %s", err.msg);
	if (out) {
		ret = verify_at(dir, out, time(NULL), &err);
		CHECKF(ret == -EKEYREJECTED && has(err.msg, "outside the scope") &&
		       has(err.msg, "node 'node-a'"), "verify: %d %s", ret,
		       err.msg);
		openssl_verifies(f.root, out, "fleet-out");
	}
	/* A fleet CA is not rotated locally. */
	CHECK(node_ca__rotate(ca, time(NULL), NULL, &err) == -EOPNOTSUPP);
	CHECK(node_ca__maintain(ca, time(NULL) + 13 * 3600, NULL, &err) == 0 &&
	      node_ca__count(ca) == 1);
done:
	svid__free(in);
	svid__free(out);
	ca_scope__free(grant);
	node_ca__close(ca);
	fleet_down(&f);
}

static void test_renewal(void)
{
	const char *wide[] = { ID("/ns/node-r"), ID("/ns/extra") };
	char dir[PATH_MAX], *req = NULL, *ans = NULL;
	struct ask a = { .node = "node-r", .scope = wide, .nscope = 2 };
	struct ca_scope *grant = NULL, *more = NULL;
	struct nt_err err = { "" };
	struct node_ca *ca = NULL;
	struct ca_issued cur, next;
	struct svid *s = NULL;
	struct fleet f;
	int ret;

	if (!fleet_up(&f))
		goto done;
	tmp_path(dir, "fleet-renew");
	ca = join_node(&f, dir, "node-r", &grant);
	if (!ca)
		goto done;
	node_ca__current(ca, &cur);
	CHECK(node_ca__renew_at(ca) > time(NULL) &&
	      node_ca__renew_at(ca) < cur.not_after);
	/* The request is signed by the current CA, no token. The operator
	 * granted one more namespace meanwhile. */
	req = request_ok(dir, &a, time(NULL));
	more = scope_of("node-r", wide, 2);
	if (!req || !more)
		goto done;
	ret = sign(&f, req, grant, NULL, cur.serial, time(NULL), &ans, &err);
	CHECKF(ret == -EACCES && has(err.msg, "outside what it was granted"),
	       "narrow grant: %d %s", ret, err.msg);
	ret = sign(&f, req, more, NULL, "4242", time(NULL), &ans, &err);
	CHECKF(ret == -EACCES && has(err.msg, "current node CA of 'node-r' is 4242"),
	       "old serial: %d %s", ret, err.msg);
	ret = sign(&f, req, more, NULL, cur.serial, time(NULL), &ans, &err);
	CHECKF(ret == 0, "renew sign: %d %s", ret, err.msg);
	if (ret)
		goto done;
	ret = accept_answer(&f, dir, ans, &err);
	CHECKF(ret == 0, "renew accept: %d %s", ret, err.msg);
	/* The open handle sees it at its next maintain. */
	CHECK(node_ca__maintain(ca, time(NULL), NULL, &err) == 0);
	node_ca__current(ca, &next);
	CHECKF(strcmp(cur.serial, next.serial) && node_ca__count(ca) == 2 &&
	       node_ca__at(ca, 1)->slot == CA_SLOT_RETIRED,
	       "after renewal: %s -> %s, %zu gens", cur.serial, next.serial,
	       node_ca__count(ca));
	s = mint_ok(ca, "/ns/extra/job", time(NULL));
	check_verifies(dir, s, time(NULL), "renewed scope");
	/* The same answer twice: nothing is pending any more. */
	ret = accept_answer(&f, dir, ans, &err);
	CHECKF(ret == -ENOENT, "second accept: %d %s", ret, err.msg);
done:
	svid__free(s);
	free(req);
	free(ans);
	ca_scope__free(grant);
	ca_scope__free(more);
	node_ca__close(ca);
	fleet_down(&f);
}

/* Requests the signer refuses, each with the reason the node will see. */
static void test_signer_refusals(void)
{
	const char *p = ID("/ns/n1"), *beyond = ID("/ns");
	char token[JOIN_TOKEN_LEN + 1], other[JOIN_TOKEN_LEN + 1];
	char *record = NULL, *rec2 = NULL, *rec3 = NULL, *req = NULL;
	char *wide = NULL, *ans = NULL, dir[PATH_MAX], dir2[PATH_MAX];
	struct ask a = { .node = "n1", .scope = &p, .nscope = 1, .token = token };
	struct ca_scope *grant = scope_of("n1", &p, 1);
	struct ca_scope *grant2 = scope_of("n2", &p, 1);
	struct nt_err err = { "" };
	time_t now = time(NULL);
	struct fleet f;
	size_t i;

	if (!fleet_up(&f) || !grant || !grant2)
		goto done;
	CHECK(join_token__create("n1", 600, now, token, &record, NULL) == 0);
	CHECK(join_token__create("n1", 600, now, other, &rec2, NULL) == 0);
	CHECK(join_token__create("n2", 600, now, other, &rec3, NULL) == 0);
	tmp_path(dir, "fleet-refuse");
	req = request_ok(dir, &a, now);
	a.scope = &beyond;
	tmp_path(dir2, "fleet-refuse-wide");
	wide = request_ok(dir2, &a, now);
	if (!req || !wide || !record || !rec2 || !rec3)
		goto done;
	{
		const struct {
			const char *req, *record;
			const struct ca_scope *grant;
			time_t now;
			int want;
			const char *msg;
		} rows[] = {
			{ req, NULL, grant, now, -EACCES, "no join token" },
			{ req, rec2, grant, now, -EACCES, "does not verify" },
			{ req, rec3, grant, now, -EACCES, "made for node 'n2'" },
			{ req, record, grant, now + 601, -EACCES, "expired" },
			{ req, record, grant, now + 25 * 3600, -ESTALE, "too far" },
			{ req, record, grant2, now, -EACCES, "no scope" },
			{ req, record, NULL, now, -EACCES, "no scope" },
			{ wide, record, grant, now, -EACCES, "outside what it was granted" },
			{ req, "{\"version\":1}", grant, now, -EINVAL, "missing" },
		};

		for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
			err.msg[0] = '\0';
			int ret = sign(&f, rows[i].req, rows[i].grant,
				       rows[i].record, NULL, rows[i].now, &ans,
				       &err);

			CHECKF(ret == rows[i].want &&
			       (!rows[i].msg || has(err.msg, rows[i].msg)),
			       "row %zu: %d '%s'", i, ret, err.msg);
			free(ans);
			ans = NULL;
		}
	}
	/* Another trust domain's signer refuses. */
	{
		struct ca_signer *s2 = NULL;
		char chain[PATH_MAX], key[PATH_MAX];
		struct ca_request *r = NULL;
		struct ca_sign_opts o = { .now = now, .grant = grant,
					  .join_record = record,
					  .join_record_len = strlen(record) };

		join(chain, upstream_dir(), "chain.crt");
		join(key, upstream_dir(), "mid.key");
		CHECK(ca_signer__open(&s2, "other.org", chain, key, now, NULL) == 0);
		CHECK(ca_request__parse(req, strlen(req), &r, NULL) == 0);
		if (s2 && r)
			CHECK(ca_signer__sign(s2, r, &o, &ans, NULL, &err) ==
			      -EACCES && has(err.msg, "this signer serves"));
		/* The refusal reaches the node as -EACCES with the reason. */
		if (r && ca_answer__refusal(r, "no such node", &ans, NULL) == 0) {
			int ret = node_ca__accept(dir, ans, strlen(ans), f.trust,
						  now, &err);

			CHECKF(ret == -EACCES && has(err.msg, "no such node"),
			       "refusal: %d %s", ret, err.msg);
		}
		free(ans);
		ans = NULL;
		ca_request__free(r);
		ca_signer__close(s2);
	}
done:
	free(record);
	free(rec2);
	free(rec3);
	free(req);
	free(wide);
	ca_scope__free(grant);
	ca_scope__free(grant2);
	fleet_down(&f);
}

/* Answers the node must not take. */
static void test_accept_refusals(void)
{
	const char *p = ID("/ns/n9");
	char token[JOIN_TOKEN_LEN + 1], *record = NULL, *req1 = NULL;
	char *req2 = NULL, *ans1 = NULL, *ans2 = NULL, dir[PATH_MAX];
	char *req0 = NULL, *ans0 = NULL, *no1 = NULL;
	struct ask a = { .node = "n9", .scope = &p, .nscope = 1, .token = token };
	struct ca_scope *grant = scope_of("n9", &p, 1);
	struct ca_request *r1 = NULL;
	struct bundle *alien = NULL;
	struct nt_err err = { "" };
	time_t now = time(NULL);
	struct fleet f;
	int ret;

	if (!fleet_up(&f) || !grant)
		goto done;
	CHECK(join_token__create("n9", 600, now, token, &record, NULL) == 0);
	tmp_path(dir, "fleet-accept");
	req0 = request_ok(dir, &a, now);
	req1 = request_ok(dir, &a, now);	/* replaces it, kept as previous */
	req2 = request_ok(dir, &a, now);	/* the pending one */
	if (!req0 || !req1 || !req2 || !record)
		goto done;
	CHECK(sign(&f, req0, grant, record, NULL, now, &ans0, NULL) == 0);
	CHECK(sign(&f, req2, grant, record, NULL, now, &ans2, NULL) == 0);
	if (!ans0 || !ans2)
		goto done;
	/* Two requests back: not one of the last two. */
	ret = accept_answer(&f, dir, ans0, &err);
	CHECKF(ret == -ESTALE && has(err.msg, "pending one"), "old: %d %s",
	       ret, err.msg);
	/* The previous one refused: the pending one still waits. */
	CHECK(ca_request__parse(req1, strlen(req1), &r1, NULL) == 0);
	CHECK(r1 && ca_answer__refusal(r1, "signer busy", &no1, NULL) == 0);
	ret = no1 ? accept_answer(&f, dir, no1, &err) : 0;
	CHECKF(ret == -ESTALE, "previous refused: %d %s", ret, err.msg);
	/* A bundle of the right name without our root. */
	CHECK(bundle__new(&alien, TD, NULL) == 0);
	ret = node_ca__accept(dir, ans2, strlen(ans2), alien, now, &err);
	CHECKF(ret < 0, "alien bundle: %d %s", ret, err.msg);
	ret = node_ca__accept(dir, ans2, strlen(ans2), f.trust, now, &err);
	CHECKF(ret == 0, "accept: %d %s", ret, err.msg);
	/* Renewing without a token needs the CA; without one, a token. */
	{
		char d2[PATH_MAX], *r = NULL;
		size_t len;
		struct ca_fleet_opts o = { .trust_domain = TD, .node = "n9",
					   .scope = &p, .nscope = 1, .now = now };

		tmp_path(d2, "fleet-accept-empty");
		ret = node_ca__request(d2, &o, &r, &len, &err);
		CHECKF(ret == -ENOKEY && has(err.msg, "join token"),
		       "no CA: %d %s", ret, err.msg);
		o.node = "n8";
		ret = node_ca__request(dir, &o, &r, &len, &err);
		CHECKF(ret == -EINVAL && has(err.msg, "belongs to node 'n9'"),
		       "other node: %d %s", ret, err.msg);
		o.node = "n9";
		o.join_token = "ntjoin1.short";
		ret = node_ca__request(dir, &o, &r, &len, &err);
		CHECKF(ret == -EINVAL && has(err.msg, "not a join token"),
		       "bad token: %d %s", ret, err.msg);
		free(r);
	}
done:
	bundle__free(alien);
	ca_request__free(r1);
	free(req0);
	free(ans0);
	free(no1);
	free(record);
	free(req1);
	free(req2);
	free(ans1);
	free(ans2);
	ca_scope__free(grant);
	fleet_down(&f);
}

/* Malformed requests: each mutation of a valid one is refused with a
 * message naming the field. */
static void test_request_parse(void)
{
	const char *p = ID("/ns/m1");
	char token[JOIN_TOKEN_LEN + 1], *record = NULL, *req, dir[PATH_MAX];
	struct ask a = { .node = "m1", .scope = &p, .nscope = 1, .token = token };
	static const struct {
		const char *key, *value;	/* value JSON; NULL deletes */
		const char *msg;
	} rows[] = {
		{ "extra", "1", "extra" },
		{ "version", "2", "not supported" },
		{ "node", "\"m2\"", "OU=m2" },
		{ "node", "\"M1\"", "node name" },
		{ "created", "-1", "created" },
		{ "created", "\"1\"", "created" },
		{ "auth", "\"password\"", "auth" },
		{ "auth", "\"node-ca\"", "node_ca" },
		{ "node_ca", "\"x\"", "node_ca" },
		{ "csr", "\"-----BEGIN CERTIFICATE-----\\nAA==\\n-----END CERTIFICATE-----\\n\"", "CERTIFICATE REQUEST" },
		{ "csr", NULL, "missing key \"csr\"" },
		{ "signature", "\"a b\"", "base64" },
		{ "signature", "7", "signature" },
	};
	struct nt_err err = { "" };
	size_t i;

	tmp_path(dir, "fleet-parse");
	CHECK(join_token__create("m1", 600, time(NULL), token, &record, NULL) == 0);
	req = request_ok(dir, &a, time(NULL));
	if (!req)
		goto done;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		cJSON *doc = cJSON_Parse(req);
		struct ca_request *r = NULL;
		char *text;
		int ret;

		cJSON_DeleteItemFromObjectCaseSensitive(doc, rows[i].key);
		if (rows[i].value)
			cJSON_AddItemToObject(doc, rows[i].key,
					      cJSON_Parse(rows[i].value));
		text = cJSON_PrintUnformatted(doc);
		ret = ca_request__parse(text, strlen(text), &r, &err);
		CHECKF(ret < 0 && has(err.msg, rows[i].msg),
		       "row %zu (%s): %d '%s'", i, rows[i].key, ret, err.msg);
		ca_request__free(r);
		cJSON_free(text);
		cJSON_Delete(doc);
	}
	free(req);
done:
	free(record);
}

/* A signer back after a while answers the request the node replaced (a
 * scope change after a minute unanswered) before it sees the new one, and
 * would refuse the new one, signed by a CA no longer the node's last
 * issued: the node takes that answer, and the new one's is no longer for
 * anything pending. */
static void test_accept_previous(void)
{
	const char *p = ID("/ns/n6");
	char token[JOIN_TOKEN_LEN + 1], *record = NULL, *req1 = NULL;
	char *req2 = NULL, *ans1 = NULL, *ans2 = NULL, dir[PATH_MAX];
	char path[PATH_MAX], serial[80] = "";
	struct ask a = { .node = "n6", .scope = &p, .nscope = 1, .token = token };
	struct ca_scope *grant = scope_of("n6", &p, 1);
	struct nt_err err = { "" };
	struct ca_answer *parsed = NULL;
	struct node_ca *ca = NULL;
	struct ca_issued cur = {};
	time_t now = time(NULL);
	struct fleet f;
	size_t i;
	int ret;

	if (!fleet_up(&f) || !grant)
		goto done;
	CHECK(join_token__create("n6", 600, now, token, &record, NULL) == 0);
	tmp_path(dir, "fleet-previous");
	req1 = request_ok(dir, &a, now);
	req2 = request_ok(dir, &a, now);
	if (!req1 || !req2 || !record)
		goto done;
	join(path, dir, STATE_CA_PREV_KEY);
	CHECK(mode_of(path) == 0600);
	CHECK(sign(&f, req1, grant, record, NULL, now, &ans1, NULL) == 0);
	CHECK(sign(&f, req2, grant, record, NULL, now, &ans2, NULL) == 0);
	if (!ans1 || !ans2)
		goto done;
	ret = accept_answer(&f, dir, ans1, &err);
	CHECKF(ret == 0, "the previous request's answer: %d %s", ret, err.msg);
	ca = open_ok(dir);
	CHECK(ca && node_ca__current(ca, &cur) == 0);
	CHECK(ca_answer__parse(ans1, strlen(ans1), &parsed, NULL) == 0);
	if (parsed)
		x509__serial_hex(sk_X509_value(parsed->chain, 0), serial, sizeof(serial));
	CHECKF(!strcmp(cur.serial, serial), "current %s, answered %s", cur.serial, serial);
	ret = accept_answer(&f, dir, ans2, &err);
	CHECKF(ret == -ENOENT, "the replaced-by one's answer after: %d %s", ret, err.msg);
	{
		static const char *const gone[] = {
			STATE_CA_PENDING_KEY, STATE_CA_PENDING_FILE,
			STATE_CA_PREV_KEY, STATE_CA_PREV_FILE,
		};

		for (i = 0; i < 4; i++) {
			join(path, dir, gone[i]);
			CHECKF(mode_of(path) == -1, "%s left behind", gone[i]);
		}
	}
done:
	node_ca__close(ca);
	ca_answer__free(parsed);
	ca_scope__free(grant);
	free(record);
	free(req1);
	free(req2);
	free(ans1);
	free(ans2);
	fleet_down(&f);
}

T_MAIN("node_ca/fleet",
       T(test_scope_covers),
       T(test_scope_refusals),
       T(test_scope_der),
       T(test_join_and_mint),
       T(test_renewal),
       T(test_signer_refusals),
       T(test_accept_refusals),
       T(test_accept_previous),
       T(test_request_parse));
