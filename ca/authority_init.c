// SPDX-License-Identifier: Apache-2.0
/*
 * `nametag ca init`: creating the node CA (docs/ca.md). Everything that can
 * be refused (trust domain, ttls, the upstream CA) is checked before the
 * first byte is written, so a refused init leaves no trace.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ca/authority_int.h"

static int init_check(const struct ca_init_opts *o, int64_t *ca_ttl,
		      int64_t *svid_ttl, struct nt_err *err)
{
	int ret;

	if (!o || !o->trust_domain)
		return nt_err_set(err, -EINVAL, "ca init: no trust domain given");
	ret = spiffe_td__check(o->trust_domain, strlen(o->trust_domain), err);
	if (ret)
		return ret;
	*ca_ttl = o->ca_ttl ? o->ca_ttl : CA_TTL_DEFAULT;
	*svid_ttl = o->svid_ttl ? o->svid_ttl : SVID_TTL_DEFAULT;
	if (*ca_ttl < 0 || *ca_ttl > CA_TTL_MAX || *svid_ttl < 0 ||
	    *svid_ttl > CA_TTL_MAX)
		return nt_err_set(err, -ERANGE,
				  "ttls must be positive and at most 10 years");
	/* SVIDs end at their CA's notAfter and the next CA is made at half
	 * life: below two SVID lifetimes, every SVID would be cut short and
	 * rotation would chase its own tail (docs/ca.md). */
	if (*ca_ttl < 2 * *svid_ttl)
		return nt_err_set(err, -EINVAL,
				  "ca ttl (%lld s) must be at least twice the svid ttl (%lld s)",
				  (long long)*ca_ttl, (long long)*svid_ttl);
	if (!o->upstream_cert != !o->upstream_key)
		return nt_err_set(err, -EINVAL,
				  "an upstream CA needs both a certificate and a key");
	return 0;
}

/* Relative paths are made absolute against the working directory, but
 * symlinks are kept: renewal tools (and Kubernetes secret volumes) swap a
 * symlink, and the next rotation must follow it. */
static int abs_path(const char *p, char **out, struct nt_err *err)
{
	char cwd[PATH_MAX];

	if (!p[0])
		return nt_err_set(err, -EINVAL, "empty upstream path");
	if (p[0] == '/') {
		*out = strdup(p);
	} else {
		if (!getcwd(cwd, sizeof(cwd)))
			return nt_err_set(err, -errno,
					  "failed to get the working directory: %s",
					  strerror(errno));
		if (asprintf(out, "%s/%s", cwd, p) < 0)
			*out = NULL;
	}
	return *out ? 0 : nt_err_set(err, -ENOMEM, "out of memory");
}

static int init_absent(const char *dir, struct nt_err *err)
{
	char path[PATH_MAX];
	struct stat st;
	int ret;

	ret = ca__path(path, sizeof(path), dir, STATE_CA_FILE, err);
	if (ret)
		return ret;
	if (!lstat(path, &st))
		return nt_err_set(err, -EEXIST,
				  "a CA already exists in %s (%s); nothing was changed",
				  dir, path);
	if (errno != ENOENT)
		return nt_err_set(err, -errno, "failed to stat %s: %s", path,
				  strerror(errno));
	return 0;
}

static int init_new(struct node_ca **out, const char *dir,
		    const struct ca_init_opts *o, struct nt_err *err)
{
	struct node_ca *ca = calloc(1, sizeof(*ca));
	int ret;

	if (!ca)
		return nt_err_set(err, -ENOMEM, "out of memory");
	ret = init_check(o, &ca->ca_ttl, &ca->svid_ttl, err);
	if (ret)
		goto fail;
	strcpy(ca->td, o->trust_domain);
	ca->dir = strdup(dir);
	if (!ca->dir) {
		ret = nt_err_set(err, -ENOMEM, "out of memory");
		goto fail;
	}
	if (o->upstream_cert) {
		ret = abs_path(o->upstream_cert, &ca->up_cert, err);
		if (!ret)
			ret = abs_path(o->upstream_key, &ca->up_key, err);
		if (ret)
			goto fail;
	}
	*out = ca;
	return 0;
fail:
	ca__free(ca);
	return ret;
}

/* Creates the directories and commits @fresh as the only generation. */
static int init_commit(struct node_ca *ca, struct ca_gen *fresh,
		       struct nt_err *err)
{
	struct ca_set set = { .n = 0 };
	char path[PATH_MAX];
	int fd = -1, ret;

	ret = state__mkdir(ca->dir, err);
	if (!ret)
		ret = ca__path(path, sizeof(path), ca->dir, STATE_CA_DIR, err);
	if (!ret)
		ret = state__mkdir(path, err);
	if (!ret)
		ret = ca__lock(ca->dir, &fd, err);
	/* Again under the lock: a concurrent init may have won. */
	if (!ret)
		ret = init_absent(ca->dir, err);
	if (!ret)
		ret = ca__gen_save(ca->dir, fresh, err);
	if (!ret) {
		ca__set_push(&set, fresh, CA_SLOT_CURRENT);
		ret = ca__commit(ca, &set, err);
		if (ret)
			ca__gen_unlink(ca->dir, fresh, true);
	}
	ca__unlock(fd);
	return ret;
}

int node_ca__init(const char *state_dir, const struct ca_init_opts *opts,
		  struct nt_err *err)
{
	struct ca_upstream up = { .cert_path = NULL };
	struct node_ca *ca = NULL;
	struct ca_gen *fresh = NULL;
	int ret;

	/* Everything that can be refused is checked before the first byte
	 * is written. */
	ret = init_new(&ca, state_dir, opts, err);
	if (ret)
		return ret;
	ret = init_absent(state_dir, err);
	if (!ret && ca->up_cert)
		ret = ca__upstream_load(ca->up_cert, ca->up_key, opts->now, &up,
					err);
	if (!ret)
		ret = ca__gen_create(ca, ca->up_cert ? &up : NULL, opts->now,
				     &fresh, err);
	if (!ret)
		ret = init_commit(ca, fresh, err);
	if (ret)
		ca__gen_free(fresh);	/* else ca->set owns it */
	ca__upstream_free(&up);
	ca__free(ca);
	return ret;
}
