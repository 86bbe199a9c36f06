// SPDX-License-Identifier: Apache-2.0
/*
 * A fleet node's JWT keys bound to its node CA (ca/jwt_keys.c,
 * docs/fleet.md): the value a node publishes on jwt/<node>, the reader's
 * checks of it (the CA chains to the root, names the node, has not
 * expired, signed these keys), and JWT-SVID validation holding each bound
 * key to its node's scope, as a compromised node's tokens would test it.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ca/ca.h"
#include "tests/unit/fixture_fleet.h"
#include "tests/unit/fixture_node_ca.h"
#include "tests/unit/fixture_upstream.h"
#include "tests/unit/harness.h"

/* Two nodes of one fleet, n1 with scope /ns/n1 and n3 with /ns/n3, and a
 * CA of the same trust domain under another root. */
struct two {
	struct fleet f;
	struct node_ca *n1, *n3, *other;
	char *v1, *v3;			/* their values */
};

static char *value_of(struct node_ca *ca)
{
	struct nt_err err = { "" };
	char *v = NULL;
	int ret = node_ca__jwt_keys(ca, &v, &err);

	CHECKF(ret == 0 && v, "node_ca__jwt_keys: %d %s", ret, err.msg);
	return v;
}

static bool two_up(struct two *t)
{
	char d1[PATH_MAX], d3[PATH_MAX], dx[PATH_MAX], name[64];
	struct ca_scope *g1 = NULL, *g3 = NULL;
	static int calls;

	memset(t, 0, sizeof(*t));
	if (!fleet_up(&t->f))
		return false;
	calls++;
	snprintf(name, sizeof(name), "jwtkeys-n1-%d", calls);
	tmp_path(d1, name);
	snprintf(name, sizeof(name), "jwtkeys-n3-%d", calls);
	tmp_path(d3, name);
	t->n1 = join_node(&t->f, d1, "n1", &g1);
	t->n3 = join_node(&t->f, d3, "n3", &g3);
	ca_scope__free(g1);
	ca_scope__free(g3);
	snprintf(name, sizeof(name), "jwtkeys-other-%d", calls);
	if (fresh_ca(dx, name, time(NULL), 0, 0))
		t->other = open_ok(dx);
	if (t->n1 && t->n3) {
		t->v1 = value_of(t->n1);
		t->v3 = value_of(t->n3);
	}
	return t->v1 && t->v3 && t->other;
}

static void two_down(struct two *t)
{
	node_ca__close(t->n1);
	node_ca__close(t->n3);
	node_ca__close(t->other);
	free(t->v1);
	free(t->v3);
	fleet_down(&t->f);
}

/* @v with the members of @drop removed and member @key set to @from's. */
static char *edited(const char *v, const char *const *drop, const char *key,
		    const char *from)
{
	cJSON *doc = cJSON_Parse(v), *src = from ? cJSON_Parse(from) : NULL;
	char *s, *out = NULL;

	for (; doc && drop && *drop; drop++)
		cJSON_DeleteItemFromObjectCaseSensitive(doc, *drop);
	if (doc && src) {
		cJSON_DeleteItemFromObjectCaseSensitive(doc, key);
		cJSON_AddItemToObject(doc, key,
				      cJSON_DetachItemFromObjectCaseSensitive(src, key));
	}
	s = doc ? cJSON_PrintUnformatted(doc) : NULL;
	out = s ? strdup(s) : NULL;
	cJSON_free(s);
	cJSON_Delete(doc);
	cJSON_Delete(src);
	CHECK(out != NULL);
	return out;
}

/* Every key of a JWK Set has only JWK members, and no value names a node
 * or a SPIFFE ID. */
static bool jwks_unscoped(const char *jwks)
{
	static const char *const members[] = {
		"kty", "kid", "use", "crv", "x", "y", "n", "e", "alg", NULL,
	};
	cJSON *doc = cJSON_Parse(jwks), *k, *m;
	bool ok = cJSON_IsArray(cJSON_GetObjectItem(doc, "keys"));
	size_t i;

	cJSON_ArrayForEach(k, cJSON_GetObjectItem(doc, "keys")) {
		cJSON_ArrayForEach(m, k) {
			for (i = 0; members[i] && strcmp(members[i], m->string); i++)
				;
			if (!members[i] || !cJSON_IsString(m) ||
			    !strcmp(m->valuestring, "n1") ||
			    strstr(m->valuestring, "spiffe://"))
				ok = false;
		}
	}
	cJSON_Delete(doc);
	return ok;
}

static void test_value_parses(void)
{
	struct nt_err err = { "" };
	struct bundle *b = NULL;
	char *jwks = NULL;
	struct two t;
	size_t i;
	int ret;

	if (!two_up(&t))
		goto out;
	ret = jwt_keys__parse(t.v1, strlen(t.v1), "n1", t.f.trust, time(NULL),
			      &b, &err);
	CHECKF(ret == 0 && b && b->jwt_count >= 1, "parse: %d %s", ret, err.msg);
	for (i = 0; b && i < b->jwt_count; i++) {
		const struct jwt_authority *a = &b->jwt_authorities[i];

		CHECKF(a->scope && !strcmp(a->scope->node, "n1") &&
		       a->scope->n == 1 &&
		       !strcmp(a->scope->prefix[0].str, ID("/ns/n1")),
		       "key %zu bound to n1's scope", i);
		CHECKF(a->not_after > time(NULL), "key %zu: not_after %lld", i,
		       (long long)a->not_after);
	}
	/* What FetchJWTBundles serves has no field for it. (Not a substring
	 * search: base64url key material holds "n1" in a few runs in 100.) */
	CHECK(b && bundle__jwks_json(b, &jwks, &err) == 0);
	CHECKF(!jwks || jwks_unscoped(jwks), "scope in the JWK Set: %s", jwks);
out:
	free(jwks);
	bundle__free(b);
	two_down(&t);
}

/* Every refusal says why, and lets no key through. */
static void test_value_refusals(void)
{
	static const char *const bind[] = { "version", "node", "node_ca",
					    "signature", NULL };
	static const char *const ca_only[] = { "node_ca", NULL };
	char *n1_ca_on_n3 = NULL, *wrong_keys = NULL, *no_ca = NULL, *bare = NULL;
	struct bundle *b = NULL;
	struct two t;
	size_t i;

	if (!two_up(&t))
		goto out;
	n1_ca_on_n3 = edited(t.v3, NULL, "node_ca", t.v1);
	wrong_keys = edited(t.v1, NULL, "keys", t.v3);
	no_ca = edited(t.v1, ca_only, NULL, NULL);
	bare = edited(t.v1, bind, NULL, NULL);
	{
		const struct {
			const char *what, *v, *node;
			int64_t later;
			bool other_root;
			int ret;
			const char *msg;
		} rows[] = {
			{ "n1's value read as n3's", t.v1, "n3", 0, false,
			  -EINVAL, "\"node\" is 'n1', the key's 'n3'" },
			{ "n3's keys next to n1's node CA", n1_ca_on_n3, "n3", 0,
			  false, -EPERM, "the node CA is node 'n1''s, not 'n3''s" },
			{ "n3's keys under n1's CA and signature", wrong_keys,
			  "n1", 0, false, -EINVAL,
			  "signature: the node CA did not sign these keys" },
			{ "a node CA under another root", t.v1, "n1", 0, true,
			  -EKEYREJECTED, "node_ca: the chain does not verify" },
			{ "the node CA expired", t.v1, "n1", 400LL * 24 * 3600,
			  false, -EKEYREJECTED, "expired" },
			{ "no node CA", no_ca, "n1", 0, false, -EINVAL,
			  "missing key \"node_ca\"" },
			{ "a bare JWK Set, bound to nothing", bare, "n1", 0, false,
			  -EINVAL, "missing key \"version\"" },
			{ "not JSON", "{\"keys\": [", "n1", 0, false, -EINVAL,
			  "jwt keys" },
			{ "a key that names no node", t.v1, "N1", 0, false,
			  -EINVAL, "node name" },
		};

		for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
			const struct bundle *trust = rows[i].other_root ?
				node_ca__bundle(t.other) : t.f.trust;
			struct nt_err err = { "" };
			int ret = -1;

			if (rows[i].v)
				ret = jwt_keys__parse(rows[i].v, strlen(rows[i].v),
						      rows[i].node, trust,
						      time(NULL) + rows[i].later,
						      &b, &err);
			CHECKF(ret == rows[i].ret && has(err.msg, rows[i].msg) && !b,
			       "%s: %d '%s', want %d '%s'", rows[i].what, ret,
			       err.msg, rows[i].ret, rows[i].msg);
			bundle__free(b);
			b = NULL;
		}
	}
out:
	free(n1_ca_on_n3);
	free(wrong_keys);
	free(no_ca);
	free(bare);
	two_down(&t);
}

/* ---- tokens --------------------------------------------------------------- */

static int validate(const struct bundle_set *set, const char *tok, time_t now,
		    struct nt_err *err)
{
	struct jwt_verify_opts o = { .now = now, .leeway = JWT_SVID_LEEWAY };
	struct jwt_svid *s = NULL;
	int ret;

	if (!tok)
		return -EINVAL;
	ret = jwt_svid__validate(tok, strlen(tok), "db", set, &o, &s, err);
	jwt_svid__free(s);
	return ret;
}

/* A token for @path signed with @ca's JWT key, past node_ca__mint_jwt's
 * refusal: what a compromised node can sign. */
static char *forged(struct node_ca *ca, const char *path)
{
	const char *aud = "db";
	struct nt_err err = { "" };
	struct spiffe_id id;
	char uri[256], *tok = NULL;
	int ret;

	snprintf(uri, sizeof(uri), ID("%s"), path);
	ret = spiffe_id__parse(&id, uri, strlen(uri), &err);
	if (!ret)
		ret = jwt_svid__mint(node_ca__jwt_signer(ca), &id, &aud, 1, 0,
				     time(NULL), &tok, NULL, &err);
	CHECKF(ret == 0, "forge %s: %d %s", uri, ret, err.msg);
	return tok;
}

static void test_token_scope(void)
{
	const char *aud = "db";
	char *in = NULL, *out = NULL, *tok = NULL;
	struct bundle_set *set = NULL;
	struct nt_err err = { "" };
	struct bundle *b = NULL;
	struct spiffe_id id;
	const char *kid;
	struct two t;
	int ret;

	if (!two_up(&t))
		goto done;
	ret = jwt_keys__parse(t.v1, strlen(t.v1), "n1", t.f.trust, time(NULL),
			      &b, &err);
	if (ret || bundle_set__new(&set) || bundle_set__add(set, b, &err)) {
		CHECKF(0, "setup: %d %s", ret, err.msg);
		bundle__free(b);
		goto done;
	}
	kid = node_ca__jwt_signer(t.n1)->kid;
	in = forged(t.n1, "/ns/n1/sa/web");
	out = forged(t.n1, "/ns/n3/sa/api");
	ret = validate(set, in, time(NULL), &err);
	CHECKF(ret == 0, "n1's key, an ID in its scope: %d %s", ret, err.msg);
	ret = validate(set, out, time(NULL), &err);
	CHECKF(ret == -EKEYREJECTED &&
	       has(err.msg, "sub " ID("/ns/n3/sa/api") " is outside node 'n1''s scope"),
	       "n1's key, an ID of n3: %d '%s'", ret, err.msg);
	/* node_ca__mint_jwt refuses to sign it at all. */
	spiffe_id__parse(&id, ID("/ns/n3/sa/api"), strlen(ID("/ns/n3/sa/api")), NULL);
	ret = node_ca__mint_jwt(t.n1, &id, &aud, 1, 0, time(NULL), &tok, NULL, &err);
	CHECKF(ret == -EPERM && has(err.msg, "outside this node CA's scope") && !tok,
	       "mint outside the scope: %d '%s'", ret, err.msg);
	/* The binding is what refuses: unbound, the key signs for anyone. */
	b = (struct bundle *)bundle_set__find(set, TD, strlen(TD));
	CHECK(bundle__bind_jwt_authority(b, kid, NULL, 0, &err) == 0);
	ret = validate(set, out, time(NULL), &err);
	CHECKF(ret == 0, "unbound: %d %s", ret, err.msg);
	/* A key of a node CA past its notAfter signs nothing. */
	CHECK(bundle__bind_jwt_authority(b, kid, node_ca__scope(t.n1),
					 time(NULL) - JWT_SVID_LEEWAY - 1, &err) == 0);
	ret = validate(set, in, time(NULL), &err);
	CHECKF(ret == -EKEYREJECTED && has(err.msg, "node CA of node 'n1' that expired"),
	       "expired binding: %d '%s'", ret, err.msg);
	CHECK(bundle__bind_jwt_authority(b, "no-such-kid", NULL, 0, &err) == -ENOENT);
done:
	free(in);
	free(out);
	free(tok);
	bundle_set__free(set);
	two_down(&t);
}

/* Bindings count in bundle__same_authorities: a node's new scope must
 * reach the Workload API even with the same keys. */
static void test_same_with_bindings(void)
{
	struct bundle *a = NULL, *b = NULL;
	struct nt_err err = { "" };
	struct two t;

	if (!two_up(&t))
		goto out;
	if (jwt_keys__parse(t.v1, strlen(t.v1), "n1", t.f.trust, time(NULL), &a,
			    &err) ||
	    jwt_keys__parse(t.v1, strlen(t.v1), "n1", t.f.trust, time(NULL), &b,
			    &err)) {
		CHECKF(0, "setup: %s", err.msg);
		goto out;
	}
	CHECK(bundle__same_authorities(a, b));
	CHECK(bundle__bind_jwt_authority(b, b->jwt_authorities[0].kid,
					 node_ca__scope(t.n3),
					 b->jwt_authorities[0].not_after, &err) == 0);
	CHECK(!bundle__same_authorities(a, b));
	CHECK(bundle__bind_jwt_authority(b, b->jwt_authorities[0].kid,
					 a->jwt_authorities[0].scope, 1, &err) == 0);
	CHECK(!bundle__same_authorities(a, b));
out:
	bundle__free(a);
	bundle__free(b);
	two_down(&t);
}

T_MAIN("jwt_keys",
       T(test_value_parses),
       T(test_value_refusals),
       T(test_token_scope),
       T(test_same_with_bindings));
