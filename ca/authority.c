// SPDX-License-Identifier: Apache-2.0
/*
 * The node CA (docs/ca.md): opening, minting and rotation. Creation is in
 * authority_init.c.
 *
 * Every change follows one order: new key and certificate files first, then
 * STATE/bundle.json, then STATE/ca/ca.json. ca.json is the commit point: a
 * crash before it leaves the old state intact plus orphan files nothing
 * refers to, and a next CA is always in the published bundle before the
 * index can make it sign.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ca/authority_int.h"

/* ---- accessors ----------------------------------------------------------- */

const char *node_ca__trust_domain(const struct node_ca *ca)
{
	return ca->td;
}

int64_t node_ca__svid_ttl(const struct node_ca *ca)
{
	return ca->svid_ttl;
}

int64_t node_ca__ca_ttl(const struct node_ca *ca)
{
	return ca->ca_ttl;
}

bool node_ca__is_upstream(const struct node_ca *ca)
{
	return ca->up_cert != NULL;
}

bool node_ca__is_fleet(const struct node_ca *ca)
{
	return ca->node != NULL;
}

const char *node_ca__node(const struct node_ca *ca)
{
	return ca->node;
}

const struct ca_scope *node_ca__scope(const struct node_ca *ca)
{
	return ca->set.gen[0]->scope;
}

int node_ca__current(const struct node_ca *ca, struct ca_issued *out)
{
	snprintf(out->serial, sizeof(out->serial), "%s", ca->set.gen[0]->serial);
	out->not_after = ca->set.gen[0]->not_after;
	return 0;
}

size_t node_ca__count(const struct node_ca *ca)
{
	return ca->set.n;
}

const struct ca_entry *node_ca__at(const struct node_ca *ca, size_t i)
{
	return i < ca->set.n ? &ca->entries[i] : NULL;
}

const struct svid_signer *node_ca__signer(const struct node_ca *ca)
{
	return &ca->signer;
}

const struct bundle *node_ca__bundle(const struct node_ca *ca)
{
	return ca->bundle;
}

const struct jwt_signer *node_ca__jwt_signer(const struct node_ca *ca)
{
	return &ca->jwt_signer;
}

static bool has_next(const struct node_ca *ca)
{
	return ca->set.n > 1 && ca->set.slot[1] == CA_SLOT_NEXT;
}

/* Points the signer and the entries at the current set. */
static void ca_refresh(struct node_ca *ca)
{
	struct ca_gen *cur = ca->set.gen[0];
	size_t i;

	ca->signer.ca_cert = ca_gen__cert(cur);
	ca->signer.ca_key = cur->key;
	ca->signer.chain = cur->above;
	/* Self-signed: the CA is the bundle's root and stays out of the
	 * SVID's intermediates. Upstream: it is an intermediate. */
	ca->signer.ca_is_root = sk_X509_num(cur->certs) == 1;
	ca->jwt_signer.key = cur->jwt_key;
	memcpy(ca->jwt_signer.kid, cur->jwt_kid, sizeof(cur->jwt_kid));
	ca->jwt_signer.not_after = cur->not_after;
	for (i = 0; i < ca->set.n; i++) {
		ca->entries[i].slot = ca->set.slot[i];
		ca->entries[i].cert = ca_gen__cert(ca->set.gen[i]);
		ca->entries[i].jwt_kid = ca->set.gen[i]->jwt_pub ?
					 ca->set.gen[i]->jwt_kid : NULL;
	}
}

/* ---- the bundle ---------------------------------------------------------- */

/* One X.509 authority per generation, its root (upstream generations share
 * the upstream root, which bundle__add_authority keeps once), and one JWT
 * authority per generation that has a JWT key. */
static int bundle_build(const char *td, const struct ca_set *set,
			struct bundle **out, struct nt_err *err)
{
	struct bundle *b = NULL;
	size_t i;
	int ret;

	ret = bundle__new(&b, td, err);
	for (i = 0; !ret && i < set->n; i++) {
		ret = bundle__add_authority(b, ca_gen__root(set->gen[i]), err);
		if (ret >= 0 && set->gen[i]->jwt_pub)
			ret = bundle__add_jwt_authority(b, set->gen[i]->jwt_kid,
							set->gen[i]->jwt_pub,
							err);
		ret = ret > 0 ? 0 : ret;
	}
	if (ret) {
		bundle__free(b);
		return ret;
	}
	*out = b;
	return 0;
}

/* What STATE/bundle.json holds now, or NULL when it is absent. A file that
 * does not parse is an error, never overwritten: it may be the only copy of
 * a sequence number peers rely on, or an operator's edit. */
static int bundle_read_disk(const struct node_ca *ca, const char *path,
			    struct bundle **out, struct nt_err *err)
{
	struct stat st;
	int ret;

	*out = NULL;
	if (lstat(path, &st)) {
		if (errno == ENOENT)
			return 0;
		return nt_err_set(err, -errno, "failed to stat %s: %s", path,
				  strerror(errno));
	}
	ret = bundle__load(out, ca->td, path, err);
	if (ret)
		return nt_err_prefix(err, ret,
				      "refusing to replace the local bundle");
	return 0;
}

/* Makes STATE/bundle.json publish the roots of @set. The sequence rises on
 * every change of authorities and only then, continuing from the higher of
 * the file's and our own. */
static int bundle_publish(struct node_ca *ca, const struct ca_set *set,
			  struct nt_err *err)
{
	struct bundle *fresh = NULL, *disk = NULL;
	char path[PATH_MAX];
	uint64_t seq;
	int ret;

	ret = ca__path(path, sizeof(path), ca->dir, STATE_BUNDLE_FILE, err);
	if (!ret)
		ret = bundle_build(ca->td, set, &fresh, err);
	if (!ret)
		ret = bundle_read_disk(ca, path, &disk, err);
	if (ret)
		goto out;
	if (disk && bundle__same_authorities(disk, fresh)) {
		bundle__free(ca->bundle);
		ca->bundle = disk;
		disk = NULL;
		goto out;
	}
	seq = disk ? disk->sequence : 0;
	if (ca->bundle && ca->bundle->sequence > seq)
		seq = ca->bundle->sequence;
	fresh->sequence = seq + 1;
	fresh->has_sequence = true;
	fresh->refresh_hint = BUNDLE_REFRESH_HINT;
	fresh->has_refresh_hint = true;
	ret = bundle__save(fresh, path, err);
	if (ret)
		goto out;
	/* Even if ca.json then fails to follow, this is what peers see, and
	 * the next change must count on from it. */
	bundle__free(ca->bundle);
	ca->bundle = fresh;
	fresh = NULL;
out:
	bundle__free(fresh);
	bundle__free(disk);
	return ret;
}

/* ---- committing a new set ------------------------------------------------ */

static bool set_has(const struct ca_set *set, const struct ca_gen *g)
{
	size_t i;

	for (i = 0; i < set->n; i++)
		if (set->gen[i] == g)
			return true;
	return false;
}

void ca__set_push(struct ca_set *set, struct ca_gen *g, enum ca_slot slot)
{
	set->gen[set->n] = g;
	set->slot[set->n++] = slot;
}

/* Retired generations worth keeping: every SVID a CA signed ends by the
 * CA's own notAfter, so after it nothing can need the CA any more. */
static size_t set_push_retired(struct ca_set *set, const struct node_ca *ca,
			       time_t now)
{
	size_t i, kept = 0;

	for (i = 0; i < ca->set.n; i++) {
		if (ca->set.slot[i] != CA_SLOT_RETIRED ||
		    ca->set.gen[i]->not_after <= now || set->n == CA_GEN_MAX)
			continue;
		ca__set_push(set, ca->set.gen[i], CA_SLOT_RETIRED);
		kept++;
	}
	return kept;
}

/* Publishes, then commits @next by writing ca.json; only then is memory
 * updated, so a failure leaves @ca as it was. */
int ca__commit(struct node_ca *ca, const struct ca_set *next,
	       struct nt_err *err)
{
	struct ca_gen *g;
	char *raw = NULL;
	size_t len = 0, i;
	int ret;

	ret = bundle_publish(ca, next, err);
	if (!ret)
		ret = ca__index_write(ca, next, &raw, &len, err);
	if (ret)
		return ret;
	for (i = 0; i < ca->set.n; i++) {
		g = ca->set.gen[i];
		if (set_has(next, g))
			continue;
		ca__gen_unlink(ca->dir, g, true);
		ca__gen_free(g);
	}
	/* A retired CA never signs again: its key goes now, not at expiry. */
	for (i = 0; i < next->n; i++) {
		g = next->gen[i];
		if (next->slot[i] != CA_SLOT_RETIRED)
			continue;
		ca__gen_unlink(ca->dir, g, false);
		EVP_PKEY_free(g->key);
		g->key = NULL;
		ca__jwt_free(g, false);
	}
	ca->set = *next;
	free(ca->index_raw);
	ca->index_raw = raw;
	ca->index_len = len;
	ca_refresh(ca);
	return 0;
}

/* ---- rotation steps ------------------------------------------------------ */

static int ca_prepare(struct node_ca *ca, time_t now, struct nt_err *err)
{
	struct ca_upstream up = { .cert_path = NULL };
	struct ca_set next = { .n = 0 };
	struct ca_gen *fresh = NULL;
	int ret = 0;

	/* Re-read at every rotation: the operator may have renewed it. */
	if (ca->up_cert)
		ret = ca__upstream_load(ca->up_cert, ca->up_key, now, &up, err);
	if (!ret)
		ret = ca__gen_create(ca, ca->up_cert ? &up : NULL, now, &fresh,
				     err);
	ca__upstream_free(&up);
	if (ret)
		return ret;
	ret = ca__gen_save(ca->dir, fresh, err);
	if (!ret) {
		ca__set_push(&next, ca->set.gen[0], CA_SLOT_CURRENT);
		ca__set_push(&next, fresh, CA_SLOT_NEXT);
		set_push_retired(&next, ca, now);
		ret = ca__commit(ca, &next, err);
	}
	if (ret) {
		ca__gen_unlink(ca->dir, fresh, true);
		ca__gen_free(fresh);
	}
	return ret;
}

static int ca_activate(struct node_ca *ca, time_t now, struct nt_err *err)
{
	struct ca_gen *cur = ca->set.gen[0];
	struct ca_set next = { .n = 0 };
	size_t retired;

	ca__set_push(&next, ca->set.gen[1], CA_SLOT_CURRENT);
	retired = cur->not_after > now;
	if (retired)
		ca__set_push(&next, cur, CA_SLOT_RETIRED);
	retired += set_push_retired(&next, ca, now);
	if (retired > CA_RETIRED_MAX)
		return nt_err_set(err, -E2BIG,
				  "%zu retired CAs would still be valid, at most %d are kept: let some expire before rotating again",
				  retired, CA_RETIRED_MAX);
	return ca__commit(ca, &next, err);
}

/* Fleet mode: a CA the signer issued becomes current at once. The bundle
 * holds the upstream root, which does not change, so peers trust it
 * already; and a new scope must not wait. The old current CA retires. */
int ca__activate_fresh(struct node_ca *ca, struct ca_gen *fresh, time_t now,
		       struct nt_err *err)
{
	struct ca_set next = { .n = 0 };
	size_t retired = 0;

	ca__set_push(&next, fresh, CA_SLOT_CURRENT);
	if (ca->set.n && ca->set.gen[0]->not_after > now) {
		ca__set_push(&next, ca->set.gen[0], CA_SLOT_RETIRED);
		retired++;
	}
	retired += set_push_retired(&next, ca, now);
	if (retired > CA_RETIRED_MAX)
		return nt_err_set(err, -E2BIG,
				  "%zu retired CAs would still be valid, at most %d are kept",
				  retired, CA_RETIRED_MAX);
	return ca__commit(ca, &next, err);
}

static int ca_prune(struct node_ca *ca, time_t now, struct nt_err *err)
{
	struct ca_set next = { .n = 0 };

	ca__set_push(&next, ca->set.gen[0], CA_SLOT_CURRENT);
	if (has_next(ca))
		ca__set_push(&next, ca->set.gen[1], CA_SLOT_NEXT);
	set_push_retired(&next, ca, now);
	if (next.n == ca->set.n)
		return 0;
	return ca__commit(ca, &next, err);
}

/* ---- loading ------------------------------------------------------------- */

/* Loads the state from @raw (ca.json's bytes) and brings bundle.json in
 * line with it, which repairs a bundle left ahead by a crash. */
static int ca_load_synced(const char *dir, const char *raw, size_t len,
			  struct node_ca **out, struct nt_err *err)
{
	struct node_ca *ca = NULL;
	bool migrated = false;
	int ret;

	ret = ca__load(dir, raw, len, &ca, err);
	if (ret)
		return ret;
	ca_refresh(ca);
	ret = ca__jwt_migrate(ca, &migrated, err);
	if (!ret && !migrated)
		ret = bundle_publish(ca, &ca->set, err);
	if (ret) {
		ca__free(ca);
		return ret;
	}
	*out = ca;
	return 0;
}

/* Called with the lock held: another process (`nametag ca rotate` next to
 * the daemon) may have changed the state since we read it. */
static int ca_reload(struct node_ca *ca, struct nt_err *err)
{
	struct node_ca *fresh = NULL, tmp;
	char *raw = NULL;
	size_t len = 0;
	int ret;

	ret = ca__index_read(ca->dir, &raw, &len, err);
	if (ret)
		return ret;
	if (len == ca->index_len && !memcmp(raw, ca->index_raw, len)) {
		free(raw);
		return 0;
	}
	ret = ca_load_synced(ca->dir, raw, len, &fresh, err);
	free(raw);
	if (ret)
		return ret;
	tmp = *ca;
	*ca = *fresh;
	*fresh = tmp;
	ca__free(fresh);
	return 0;
}

/* The state dir and STATE/ca must exist and be private; state__mkdir
 * checks exactly that for an existing directory (and makes a missing one). */
int ca__dirs(const char *dir, struct nt_err *err)
{
	char path[PATH_MAX];
	int ret;

	ret = state__mkdir(dir, err);
	if (!ret)
		ret = ca__path(path, sizeof(path), dir, STATE_CA_DIR, err);
	if (!ret)
		ret = state__mkdir(path, err);
	return ret;
}

int node_ca__open(struct node_ca **out, const char *state_dir,
		  struct nt_err *err)
{
	char *raw = NULL;
	size_t len = 0;
	int fd = -1, ret;

	/* Missing index first, so a fresh node gets the `ca init` hint and
	 * no directory is created by the checks below. */
	ret = ca__index_read(state_dir, &raw, &len, err);
	free(raw);
	raw = NULL;
	if (!ret)
		ret = ca__dirs(state_dir, err);
	if (!ret)
		ret = ca__lock(state_dir, &fd, err);
	if (!ret)
		ret = ca__index_read(state_dir, &raw, &len, err);
	if (!ret)
		ret = ca_load_synced(state_dir, raw, len, out, err);
	free(raw);
	ca__unlock(fd);
	return ret;
}

void node_ca__close(struct node_ca *ca)
{
	ca__free(ca);
}

/* ---- minting and rotation ------------------------------------------------ */

/* Peers would refuse it anyway (svid__verify, jwt_svid__validate); say
 * so here. */
static int mint_in_scope(const struct node_ca *ca, const struct spiffe_id *id,
			 struct nt_err *err)
{
	const struct ca_scope *scope = ca->set.gen[0]->scope;

	if (scope && !ca_scope__covers(scope, id))
		return nt_err_set(err, -EPERM,
				  "%s is outside this node CA's scope (node '%s')",
				  id->str, scope->node);
	return 0;
}

int node_ca__mint(struct node_ca *ca, const struct spiffe_id *id, int64_t ttl,
		  time_t now, struct svid **out, struct nt_err *err)
{
	int ret = mint_in_scope(ca, id, err);

	if (ret)
		return ret;
	/* Always the current CA. The next one is in the bundle from the
	 * moment it exists but signs only once activated, by which time
	 * peers have long fetched it. */
	return svid__mint(&ca->signer, id, ttl ? ttl : ca->svid_ttl, now, out,
			  err);
}

int node_ca__mint_jwt(struct node_ca *ca, const struct spiffe_id *id,
		      const char *const *aud, size_t naud, int64_t ttl,
		      time_t now, char **token, int64_t *expiry,
		      struct nt_err *err)
{
	int ret;

	if (!id || strcmp(id->td, ca->td))
		return nt_err_set(err, -EINVAL,
				  "%s is not in trust domain %s",
				  id ? id->str : "(null)", ca->td);
	ret = mint_in_scope(ca, id, err);
	if (ret)
		return ret;
	/* The current generation's key, as for X.509-SVIDs: the next one is
	 * published from the moment it exists and signs only once active. */
	return jwt_svid__mint(&ca->jwt_signer, id, aud, naud, ttl, now, token,
			      expiry, err);
}

static time_t prepare_at(const struct ca_gen *g)
{
	int64_t t = (g->not_after - g->not_before) / 2;

	return g->not_after - (t > CA_PREPARE_CAP ? CA_PREPARE_CAP : t);
}

time_t node_ca__renew_at(const struct node_ca *ca)
{
	return prepare_at(ca->set.gen[0]);
}

static time_t activate_at(const struct ca_gen *g)
{
	int64_t t = (g->not_after - g->not_before) / 6;

	return g->not_after - (t > CA_ACTIVATE_CAP ? CA_ACTIVATE_CAP : t);
}

int node_ca__rotate(struct node_ca *ca, time_t now, enum ca_step *step,
		    struct nt_err *err)
{
	enum ca_step done = CA_STEP_NONE;
	int fd = -1, ret;

	if (ca->node)
		return nt_err_set(err, -EOPNOTSUPP,
				  "a fleet node CA is renewed by the signer, not rotated locally");
	ret = ca__lock(ca->dir, &fd, err);
	if (!ret)
		ret = ca_reload(ca, err);
	if (!ret && has_next(ca)) {
		ret = ca_activate(ca, now, err);
		done = CA_STEP_ACTIVATED;
	} else if (!ret) {
		ret = ca_prepare(ca, now, err);
		done = CA_STEP_PREPARED;
	}
	ca__unlock(fd);
	if (step)
		*step = ret ? CA_STEP_NONE : done;
	return ret;
}

static int maintain_locked(struct node_ca *ca, time_t now,
			   enum ca_step *step, struct nt_err *err)
{
	time_t cur_end = ca->set.gen[0]->not_after;
	int ret;

	/* Fleet mode: new CAs come from the signer (node_ca__accept); here
	 * only expired ones are pruned. */
	if (ca->node)
		return ca_prune(ca, now, err);
	if (has_next(ca)) {
		if (now < activate_at(ca->set.gen[0]))
			return ca_prune(ca, now, err);
		ret = ca_activate(ca, now, err);
		if (!ret)
			*step = CA_STEP_ACTIVATED;
		return ret;
	}
	if (now < prepare_at(ca->set.gen[0]))
		return ca_prune(ca, now, err);
	ret = ca_prepare(ca, now, err);
	if (ret)
		return ret;
	*step = CA_STEP_PREPARED;
	/* An expired current CA (the node was down) protects no one by
	 * waiting: nothing it signed is still valid. */
	if (now < cur_end)
		return 0;
	ret = ca_activate(ca, now, err);
	if (!ret)
		*step = CA_STEP_ACTIVATED;
	return ret;
}

int node_ca__maintain(struct node_ca *ca, time_t now, enum ca_step *step,
		      struct nt_err *err)
{
	enum ca_step done = CA_STEP_NONE;
	int fd = -1, ret;

	ret = ca__lock(ca->dir, &fd, err);
	if (!ret)
		ret = ca_reload(ca, err);
	if (!ret)
		ret = maintain_locked(ca, now, &done, err);
	ca__unlock(fd);
	if (step)
		*step = done;
	return ret;
}
