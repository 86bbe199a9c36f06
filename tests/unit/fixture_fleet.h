/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A fleet for the unit tests of fleet mode (test_node_ca_fleet.c,
 * test_jwt_keys.c): one signer under the upstream CA of fixture_upstream.h,
 * its root as the trust bundle, and nodes joining it with a token.
 *
 * static inline, as each test binary uses only some of them.
 */
#ifndef NAMETAG_TEST_FIXTURE_FLEET_H
#define NAMETAG_TEST_FIXTURE_FLEET_H

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ca/ca.h"
#include "tests/unit/fixture_node_ca.h"
#include "tests/unit/fixture_upstream.h"
#include "tests/unit/harness.h"

#define ID(p)	"spiffe://" TD p

static inline struct ca_scope *scope_of(const char *node, const char *const *p,
				 size_t n)
{
	struct nt_err err = { "" };
	struct ca_scope *s = NULL;
	int ret = ca_scope__new(&s, TD, node, p, n, &err);

	CHECKF(ret == 0, "scope: %d %s", ret, err.msg);
	return s;
}

struct fleet {
	char root[PATH_MAX];
	struct ca_signer *signer;
	struct bundle *trust;
};

static inline bool fleet_up(struct fleet *f)
{
	char key[PATH_MAX], chain[PATH_MAX];
	struct nt_err err = { "" };
	const char *up = upstream_dir();
	X509 *root;
	int ret;

	memset(f, 0, sizeof(*f));
	if (!up)
		return false;
	join(chain, up, "chain.crt");
	join(key, up, "mid.key");
	join(f->root, up, "root.crt");
	ret = ca_signer__open(&f->signer, TD, chain, key, time(NULL), &err);
	CHECKF(ret == 0, "signer: %d %s", ret, err.msg);
	root = read_pem_cert(f->root);
	if (ret || !root || bundle__new(&f->trust, TD, NULL) ||
	    bundle__add_authority(f->trust, root, NULL) != 1) {
		X509_free(root);
		return false;
	}
	X509_free(root);
	return true;
}

static inline void fleet_down(struct fleet *f)
{
	ca_signer__close(f->signer);
	bundle__free(f->trust);
}

struct ask {
	const char *node;
	const char *const *scope;
	size_t nscope;
	const char *token;
};

static inline char *request_ok(const char *dir, const struct ask *a, time_t now)
{
	struct ca_fleet_opts o = {
		.trust_domain = TD, .node = a->node, .scope = a->scope,
		.nscope = a->nscope, .join_token = a->token, .now = now,
	};
	struct nt_err err = { "" };
	char *req = NULL;
	size_t len = 0;
	int ret = node_ca__request(dir, &o, &req, &len, &err);

	CHECKF(ret == 0 && req && strlen(req) == len, "request %s: %d %s",
	       a->node, ret, err.msg);
	return ret ? NULL : req;
}

/* The signer's decision on @req, as `ca signer` will take it. */
static inline int sign(struct fleet *f, const char *req, const struct ca_scope *grant,
		const char *record, const char *serial, time_t now,
		char **answer, struct nt_err *err)
{
	struct ca_sign_opts o = {
		.now = now, .grant = grant, .join_record = record,
		.join_record_len = record ? strlen(record) : 0,
		.current_serial = serial,
	};
	struct ca_request *r = NULL;
	int ret;

	ret = ca_request__parse(req, strlen(req), &r, err);
	if (!ret)
		ret = ca_signer__sign(f->signer, r, &o, answer, NULL, err);
	ca_request__free(r);
	return ret;
}

static inline int accept_answer(struct fleet *f, const char *dir, const char *ans,
			 struct nt_err *err)
{
	return node_ca__accept(dir, ans, strlen(ans), f->trust, time(NULL), err);
}

/* Joins @node with scope /ns/<node>; returns the open CA. */
static inline struct node_ca *join_node(struct fleet *f, const char *dir,
				 const char *node, struct ca_scope **grant)
{
	char token[JOIN_TOKEN_LEN + 1], *record = NULL, *req, *ans = NULL;
	char prefix[128];
	const char *p = prefix;
	struct ask a = { .node = node, .scope = &p, .nscope = 1, .token = token };
	struct nt_err err = { "" };
	int ret;

	snprintf(prefix, sizeof(prefix), ID("/ns/%s"), node);
	*grant = scope_of(node, &p, 1);
	ret = join_token__create(node, 600, time(NULL), token, &record, &err);
	CHECKF(ret == 0, "token: %s", err.msg);
	req = ret ? NULL : request_ok(dir, &a, time(NULL));
	if (!req || !*grant)
		goto fail;
	ret = sign(f, req, *grant, record, NULL, time(NULL), &ans, &err);
	CHECKF(ret == 0, "sign %s: %d %s", node, ret, err.msg);
	if (!ret)
		ret = accept_answer(f, dir, ans, &err);
	CHECKF(ret == 0, "accept %s: %d %s", node, ret, err.msg);
fail:
	free(record);
	free(req);
	free(ans);
	return open_ok(dir);
}

#endif /* NAMETAG_TEST_FIXTURE_FLEET_H */
