// SPDX-License-Identifier: Apache-2.0
/*
 * A fleet node's CA (docs/fleet.md "Node CAs"): made on the node, signed
 * by `nametag ca signer` where the upstream key is. A node without a CA
 * asks once with its join token and waits before anything else starts
 * (fleet__bootstrap: it cannot mint without one); afterwards it asks again
 * on the daemon's loop, signed with its current CA, at half the CA's life
 * or at once when the namespaces it hosts leave the CA's scope. A signer
 * that does not answer is reported loudly; the node keeps its CA until
 * notAfter.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "userspace/daemon/fleet_int.h"

#define ASK_TIMEOUT	60	/* seconds before a request is said unanswered */
#define RETRY_AFTER	30	/* seconds after a refusal or a failure */
#define BOOT_POLL_MS	500

/* ---- the first CA, before the daemon starts ----------------------------------- */

struct boot {
	struct etcd_runner *r;
	struct etcd_client *c;
	bool done;
	int status;
	struct nt_err err;
	struct etcd_kv *kvs;		/* copies */
	size_t n;
};

static void boot_clear(struct boot *b)
{
	while (b->n) {
		b->n--;
		free((char *)b->kvs[b->n].key);
		free((char *)b->kvs[b->n].value);
	}
	free(b->kvs);
	b->kvs = NULL;
}

static void boot_range(void *arg, int status, const struct etcd_range *r,
		       const struct nt_err *err)
{
	struct boot *b = arg;
	size_t i;

	b->done = true;
	b->status = status;
	if (status) {
		b->err = *err;
		return;
	}
	b->kvs = calloc(r->n ? r->n : 1, sizeof(*b->kvs));
	for (i = 0; b->kvs && i < r->n; i++) {
		b->kvs[i] = r->kvs[i];
		b->kvs[i].key = strdup(r->kvs[i].key);
		b->kvs[i].value = strndup(r->kvs[i].value, r->kvs[i].value_len);
		b->n++;
	}
}

static void boot_put(void *arg, int status, const struct etcd_txn_result *r,
		     const struct nt_err *err)
{
	struct boot *b = arg;

	b->done = true;
	b->status = status;
	if (status)
		b->err = *err;
}

/* A range of @key (a prefix when @prefix), copied into b->kvs. */
static int boot_get(struct boot *b, const char *key, bool prefix)
{
	boot_clear(b);
	b->done = false;
	if (etcd__range(b->c, key, strlen(key), prefix ? ETCD_PREFIX : 0, 0, 0,
			boot_range, b, &b->err))
		return -EIO;
	if (etcd_runner__run(b->r, &b->done, 10000))
		return nt_err_set(&b->err, -ETIMEDOUT, "etcd did not answer");
	return b->status;
}

static const struct etcd_kv *boot_find(const struct boot *b, const char *key)
{
	size_t i;

	for (i = 0; i < b->n; i++)
		if (!strcmp(b->kvs[i].key, key))
			return &b->kvs[i];
	return NULL;
}

/* Only the pinned root of @trust, if a pin was given: the answer's chain
 * must end there, whatever else config/bundle holds. */
static int boot_pin(struct boot *b, const uint8_t *pin, struct bundle **trust)
{
	struct bundle *pinned;
	int ret;

	if (!pin)
		return 0;
	ret = bundle__pinned(*trust, pin, &pinned, &b->err);
	if (ret)
		return nt_err_prefix(&b->err, ret, "--trust-anchor");
	bundle__free(*trust);
	*trust = pinned;
	pr_info("fleet: %s holds the pinned trust anchor", FLEET_BUNDLE);
	return 0;
}

/* The trust bundle (only its pinned root if @pin) and the scope from
 * config/; -EAGAIN while the signer has published no bundle or no
 * namespace names this node. */
static int boot_config(struct boot *b, const char *node, const uint8_t *pin,
		       struct bundle **trust, char **scope, size_t *nscope)
{
	const struct etcd_kv *kv;
	int ret;

	ret = boot_get(b, FLEET_CONFIG, true);
	if (ret)
		return ret;
	kv = boot_find(b, FLEET_BUNDLE);
	if (!kv)
		return nt_err_set(&b->err, -EAGAIN,
				  "no %s yet: is 'nametag ca signer' running?",
				  FLEET_BUNDLE);
	ret = fleet_bundle__parse(kv->value, kv->value_len, trust, &b->err);
	if (ret)
		return nt_err_prefix(&b->err, ret, FLEET_BUNDLE);
	ret = boot_pin(b, pin, trust);
	if (ret)
		return ret;
	ret = fleet_config__scope(b->kvs, b->n, (*trust)->td, node, scope,
				  nscope, &b->err);
	if (!ret && !*nscope)
		ret = nt_err_set(&b->err, -EAGAIN,
				 "no namespace or entry names node %s in its hosts yet",
				 node);
	return ret;
}

/* Posts the request, then waits for the answer to it. */
static int boot_ask(struct boot *b, struct daemon *d, const struct bundle *trust,
		    char **scope, size_t nscope)
{
	const struct daemon_fleet_opts *o = &d->opts.fleet;
	struct ca_fleet_opts fo = {
		.trust_domain = trust->td, .node = o->node,
		.scope = (const char *const *)scope, .nscope = nscope,
		.join_token = o->join_token, .now = time(NULL),
	};
	char key[256], *req = NULL;
	const struct etcd_kv *kv;
	time_t said = time(NULL);
	size_t len;
	int ret;

	ret = node_ca__request(d->opts.state_dir, &fo, &req, &len, &b->err);
	if (ret)
		return ret;
	snprintf(key, sizeof(key), "%s%s", FLEET_REQUESTS, o->node);
	b->done = false;
	ret = etcd__put(b->c, key, req, len, 0, boot_put, b, &b->err);
	free(req);
	if (!ret)
		ret = etcd_runner__run(b->r, &b->done, 10000) ?: b->status;
	if (ret)
		return ret;
	pr_info("fleet: node CA requested (join token), waiting for the signer");
	snprintf(key, sizeof(key), "%s%s", FLEET_ANSWERS, o->node);
	for (;;) {
		ret = boot_get(b, key, false);
		kv = ret ? NULL : boot_find(b, key);
		if (kv) {
			ret = node_ca__accept(d->opts.state_dir, kv->value,
					      kv->value_len, trust, time(NULL),
					      &b->err);
			/* An answer to an earlier request is not ours. */
			if (ret != -ESTALE && ret != -ENOENT)
				return ret;
		}
		if (time(NULL) - said >= 10) {
			pr_warn("fleet: the signer has not answered node %s's request yet",
				o->node);
			said = time(NULL);
		}
		etcd_runner__run(b->r, NULL, BOOT_POLL_MS);
	}
}

int fleet__bootstrap(struct daemon *d, struct nt_err *err)
{
	const struct daemon_fleet_opts *o = &d->opts.fleet;
	struct etcd_config cfg = {};
	struct bundle *trust = NULL;
	struct node_ca *ca = NULL;
	char *scope[FLEET_SCOPE_MAX], *password = NULL;
	uint8_t pin[ANCHOR_LEN];
	struct boot b = {};
	size_t nscope = 0;
	time_t said = 0;
	int ret;

	if (o->trust_anchor) {
		if (!o->etcd)
			return nt_err_set(err, -EINVAL,
					  "--trust-anchor pins the root of a fleet node's first join: it needs --etcd");
		ret = trust_anchor__parse(o->trust_anchor, pin, err);
		if (ret)
			return nt_err_prefix(err, ret, "--trust-anchor");
	}
	if (!o->etcd)
		return 0;
	if (!o->node)
		return nt_err_set(err, -EINVAL, "--etcd needs --node NAME");
	ret = node_name__check(o->node, err);
	if (ret)
		return nt_err_prefix(err, ret, "--node");
	ret = node_ca__open(&ca, d->opts.state_dir, err);
	if (ret != -ENOENT) {
		if (!ret && !node_ca__is_fleet(ca))
			ret = nt_err_set(err, -EINVAL,
					 "the CA in %s is a single node's, not one signed for fleet node %s",
					 d->opts.state_dir, o->node);
		node_ca__close(ca);
		if (!ret && o->trust_anchor)
			pr_info("fleet: --trust-anchor not used: node %s has its CA already (the pin guards the first join)",
				o->node);
		return ret;	/* a node that has its CA needs no etcd to start */
	}
	if (!o->join_token)
		return nt_err_set(err, -ENOKEY,
				  "no node CA in %s: the first start needs --join-token (nametag node token create %s)",
				  d->opts.state_dir, o->node);
	ret = fleet__etcd_config(o, &cfg, &password, err);
	if (!ret)
		ret = etcd_runner__new(&b.r, err);
	if (!ret)
		ret = etcd_runner__client(b.r, &cfg, &b.c, err);
	while (!ret) {
		ret = boot_config(&b, o->node, o->trust_anchor ? pin : NULL,
				  &trust, scope, &nscope);
		if (ret != -EAGAIN && ret != -ECONNREFUSED && ret != -ETIMEDOUT &&
		    ret != -EHOSTUNREACH)
			break;
		if (time(NULL) - said >= 10) {
			pr_warn("fleet: waiting to ask for a node CA: %s", b.err.msg);
			said = time(NULL);
		}
		bundle__free(trust);
		trust = NULL;
		etcd_runner__run(b.r, NULL, 1000);
		ret = 0;
	}
	if (!ret)
		ret = boot_ask(&b, d, trust, scope, nscope);
	if (ret && !err->msg[0])
		*err = b.err;
	if (ret && b.err.msg[0])
		*err = b.err;
	else if (!ret)
		pr_info("fleet: node CA of %s accepted (%zu scope prefixes)",
			o->node, nscope);
	fleet_scope__free(scope, nscope);
	bundle__free(trust);
	boot_clear(&b);
	etcd_runner__free(b.r);
	if (password)
		state__free_secret(password, strlen(password));
	return ret;
}

/* ---- renewals, on the daemon's loop ------------------------------------------- */

static void asked(void *arg, int status, const struct etcd_txn_result *r,
		  const struct nt_err *err)
{
	struct fleet *f = arg;

	if (!status)
		return;
	f->ca_asked = false;
	f->ca_retry_at = time(NULL) + RETRY_AFTER;
	snprintf(f->ca_error, sizeof(f->ca_error), "request not posted: %s",
		 err->msg);
	pr_warn("fleet: node CA %s", f->ca_error);
}

/* The scope wanted, as one string: a request made for another is not
 * posted again. */
static char *scope_str(const struct fleet *f)
{
	size_t i, len = 1;
	char *s;

	for (i = 0; i < f->nscope; i++)
		len += strlen(f->scope[i]) + 1;
	s = calloc(1, len);
	for (i = 0; s && i < f->nscope; i++) {
		strcat(s, f->scope[i]);
		strcat(s, " ");
	}
	return s;
}

void fleet_ca__forget(struct fleet *f)
{
	free(f->ca_request);
	free(f->ca_request_scope);
	f->ca_request = f->ca_request_scope = NULL;
}

/* A request still unanswered for the same scope is posted again as it
 * was, never replaced: a signer back from an outage may be answering it
 * right now, and a new request (with a new key) would make that answer
 * useless while the signer counts it as the node's current CA, refusing
 * every later request signed by the old one. */
static void ask(struct fleet *f, time_t now, const char *why)
{
	struct daemon *d = f->d;
	struct ca_fleet_opts fo = {
		.node = f->node, .scope = (const char *const *)f->scope,
		.nscope = f->nscope, .now = now,
	};
	char key[256], *req = NULL, *want = scope_str(f);
	struct nt_err err = {};
	bool again;
	size_t len;
	int ret = want ? 0 : nt_err_set(&err, -ENOMEM, "out of memory");

	again = !ret && f->ca_request && !strcmp(want, f->ca_request_scope);
	if (!ret && !again) {
		fleet_ca__forget(f);
		ret = node_ca__request(d->opts.state_dir, &fo, &req, &len, &err);
		if (!ret) {
			f->ca_request = req;
			f->ca_request_scope = want;
			want = NULL;
		}
	}
	free(want);
	snprintf(key, sizeof(key), "%s%s", FLEET_REQUESTS, f->node);
	if (!ret)
		ret = etcd__put(f->c, key, f->ca_request, strlen(f->ca_request),
				0, asked, f, &err);
	if (ret) {
		f->ca_retry_at = now + RETRY_AFTER;
		snprintf(f->ca_error, sizeof(f->ca_error), "request not made: %s",
			 err.msg);
		pr_warn("fleet: node CA %s", f->ca_error);
		return;
	}
	pr_info("fleet: asked the signer for a new node CA (%s%s)", why,
		again ? "; the same request again" : "");
	f->ca_asked = true;
	f->ca_asked_at = now;
	if (!f->ca_pending_since)
		f->ca_pending_since = now;
}

static void answered(void *arg, const struct etcd_mirror *m, bool relisted,
		     const struct etcd_event *ev, size_t n)
{
	struct fleet *f = arg;
	struct daemon *d = f->d;
	char key[256];
	const struct etcd_kv *kv;
	enum ca_step step;
	struct nt_err err = {};
	int ret;

	snprintf(key, sizeof(key), "%s%s", FLEET_ANSWERS, f->node);
	/* Also once the request is said unanswered (ca_asked false until
	 * it is posted again): a signer back takes it from etcd, and
	 * node_ca__accept knows whether the answer is to the pending one. */
	kv = etcd_mirror__get(m, key, strlen(key));
	if (!kv || !f->trust)
		return;
	ret = node_ca__accept(d->opts.state_dir, kv->value, kv->value_len,
			      f->trust, time(NULL), &err);
	if (ret == -ESTALE || ret == -ENOENT)
		return;		/* the answer to an earlier request */
	f->ca_asked = false;
	fleet_ca__forget(f);	/* answered: a later ask makes a new one */
	if (ret) {
		f->ca_retry_at = time(NULL) + RETRY_AFTER;
		snprintf(f->ca_error, sizeof(f->ca_error), "%s", err.msg);
		pr_warn("fleet: the signer refused the node CA request: %s", err.msg);
	} else {
		f->ca_error[0] = '\0';
		f->ca_pending_since = 0;
		if (node_ca__maintain(d->ca, time(NULL), &step, &err))
			pr_warn("fleet: new node CA not taken up yet: %s", err.msg);
		else
			pr_info("fleet: new node CA in use, renewal at %lld",
				(long long)node_ca__renew_at(d->ca));
	}
	fleet__write_record(f);
}

/* config/'s mirror reports etcd being away; this one says only what
 * keeps it from reading the answer when etcd is there (roles). */
static void answers_sync(void *arg, bool in_sync, int status,
			 const struct nt_err *err)
{
	struct fleet *f = arg;

	if (in_sync || !f->in_sync || status == -ESTALE) {
		f->answers_said = f->answers_said && !in_sync;
		return;
	}
	if (!f->answers_said)
		pr_warn("fleet: %s%s is not readable: %s", FLEET_ANSWERS,
			f->node, err && err->msg[0] ? err->msg : strerror(-status));
	f->answers_said = true;
}

static const struct etcd_mirror_ops answer_ops = {
	.update = answered, .sync = answers_sync,
};

int fleet_ca__start(struct fleet *f, struct nt_err *err)
{
	char key[256];

	snprintf(key, sizeof(key), "%s%s", FLEET_ANSWERS, f->node);
	/* The node's role grants this one key, not a range below it. */
	return etcd_mirror__start_key(f->c, key, &answer_ops, f, &f->answers, err);
}

/* True when the current CA's scope covers every prefix wanted. */
static bool scope_covered(struct fleet *f)
{
	const struct ca_scope *have = node_ca__scope(f->d->ca);
	struct ca_scope *want = NULL;
	bool ok;

	if (!f->nscope || !have)
		return true;
	if (ca_scope__new(&want, node_ca__trust_domain(f->d->ca), f->node,
			  (const char *const *)f->scope, f->nscope, NULL))
		return true;	/* reported when the request is made */
	ok = ca_scope__within(want, have);
	ca_scope__free(want);
	return ok;
}

/* Not while a request is out: its answer first (the tick asks again if
 * that CA does not cover what is wanted by then). */
void fleet_ca__scope_changed(struct fleet *f)
{
	time_t now = time(NULL);

	if (f->ca_asked || (f->ca_request && now < f->ca_retry_at))
		return;
	if (!scope_covered(f))
		ask(f, now, "the namespaces hosted here left the CA's scope");
}

void fleet_ca__tick(struct fleet *f, time_t now)
{
	struct ca_issued cur = {};

	if (f->ca_asked) {
		if (now - f->ca_asked_at < ASK_TIMEOUT)
			return;
		node_ca__current(f->d->ca, &cur);
		snprintf(f->ca_error, sizeof(f->ca_error),
			 "the signer has not answered for %llds; the node CA expires at %lld",
			 (long long)(now - f->ca_asked_at), (long long)cur.not_after);
		pr_warn("fleet: %s", f->ca_error);
		f->ca_asked = false;	/* ask again */
		f->ca_retry_at = now + RETRY_AFTER;
		fleet__write_record(f);
		return;
	}
	if (now < f->ca_retry_at)
		return;
	if (now >= node_ca__renew_at(f->d->ca))
		ask(f, now, "renewal");
	else if (!scope_covered(f))
		ask(f, now, "scope");
}
