// SPDX-License-Identifier: Apache-2.0
/*
 * Selectors to a SPIFFE ID: the matching registration entry with the most
 * selectors, else the namespace's template ("ns/{ns}/sa/{service}").
 *
 * A template is split on '/' first and each placeholder must be a whole
 * segment; its value then becomes exactly one segment through
 * spiffe_id__build, which refuses '/', "..", '%' and anything outside
 * [A-Za-z0-9._-]. A workload names its own cgroup directories, so a value
 * must never be able to steer the ID: a bad value fails the identity (and
 * the caller mints nothing) rather than being escaped or trimmed into
 * something that might collide with another workload's name.
 *
 * A process of the namespace's own cgroup has no service. Its ID is the
 * template without the {service} segments: fewer segments than any
 * sub-cgroup's ID, so no cgroup name can reach it. A reserved word could
 * not do that, since every valid segment is also a valid cgroup name.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "attest/attest_int.h"

#define TEMPLATE_DEFAULT	"ns/{ns}/sa/{service}"
#define TEMPLATE_SEGS_MAX	32

static bool has_selector(const struct attest_result *res,
			 const struct selector *sel)
{
	size_t i;

	for (i = 0; i < res->nselectors; i++)
		if (selector__equal(&res->selectors[i], sel))
			return true;
	return false;
}

static bool entry_matches(const struct attest_entry *e,
			  const struct attest_result *res)
{
	size_t i;

	for (i = 0; i < e->nselectors; i++)
		if (!has_selector(res, &e->selectors[i]))
			return false;
	return e->nselectors > 0;
}

/* The most specific matching entry, NULL when none. A tie is refused at
 * add time; meeting one anyway means the registry was not built through
 * attest_registry__add, so no answer is safe. */
static int best_entry(const struct attest_registry *reg,
		      const struct attest_result *res,
		      const struct attest_entry **best, struct nt_err *err)
{
	const struct attest_entry *e, *tie = NULL;
	size_t i;

	*best = NULL;
	for (i = 0; i < attest_registry__count(reg); i++) {
		e = attest_registry__at(reg, i);
		if (!entry_matches(e, res))
			continue;
		if (*best && e->nselectors == (*best)->nselectors)
			tie = e;
		else if (!*best || e->nselectors > (*best)->nselectors) {
			*best = e;
			tie = NULL;
		}
	}
	if (tie)
		return nt_err_set(err, -EINVAL,
				  "ambiguous: entries %s and %s both match with %zu selectors",
				  (*best)->id.str, tie->id.str, tie->nselectors);
	return 0;
}

const char *attest_result__selector(const struct attest_result *res,
				    const char *type, const char *key)
{
	size_t i, klen = strlen(key);

	for (i = 0; i < res->nselectors; i++)
		if (!strcmp(res->selectors[i].type, type) &&
		    !strncmp(res->selectors[i].value, key, klen) &&
		    res->selectors[i].value[klen] == ':')
			return res->selectors[i].value + klen + 1;
	return NULL;
}

static bool seg_is(const struct spiffe_seg *seg, const char *word)
{
	return seg->len == strlen(word) && !memcmp(seg->s, word, seg->len);
}

/* The value of placeholder @seg ("{service}"); NULL with a reason in @why
 * when it has none. */
static const char *placeholder(const struct spiffe_seg *seg,
			       const struct attest_ns *ns,
			       const struct attest_result *res,
			       const char **why)
{
	const char *v = NULL;

	*why = "unknown placeholder (known: {ns}, {service}, {uid}, {user})";
	if (seg_is(seg, "{ns}")) {
		v = ns->name;
		*why = "the namespace has no name";
	} else if (seg_is(seg, "{service}")) {
		v = res->service;
		*why = "the workload's cgroup is unknown or not below its namespace's";
	} else if (seg_is(seg, "{uid}")) {
		v = attest_result__selector(res, "unix", "uid");
		*why = "the workload has no uid";
	} else if (seg_is(seg, "{user}")) {
		v = attest_result__selector(res, "unix", "user");
		*why = "the workload's uid has no user name";
	}
	return v && *v ? v : NULL;
}

/* Copy of @s fit for a message: non-printable bytes become '?'. */
static const char *shown(const char *s, char *buf, size_t size)
{
	size_t i;

	for (i = 0; s[i] && i + 1 < size; i++)
		buf[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	buf[i] = '\0';
	return buf;
}

/* Replaces placeholder segment @seg by its value, checked alone first so
 * the message can name the placeholder. 1: the segment is left out
 * ({service} of the namespace's own cgroup). */
static int expand(struct spiffe_seg *seg, const struct attest_ns *ns,
		  const struct attest_result *res, const char *tmpl,
		  struct nt_err *err)
{
	const struct spiffe_seg name = *seg;
	struct nt_err inner = { "" };
	struct spiffe_id one;
	const char *v, *why;
	char buf[80];
	int shown_len = name.len > 32 ? 32 : (int)name.len;

	if (res->ns_own_cgroup && seg_is(seg, "{service}"))
		return 1;
	v = placeholder(seg, ns, res, &why);
	if (!v)
		return nt_err_set(err, -EINVAL, "template '%.64s': %.*s: %s",
				  tmpl, shown_len, name.s, why);
	seg->s = v;
	seg->len = strlen(v);
	if (spiffe_id__build(&one, ns->trust_domain, seg, 1, &inner))
		return nt_err_set(err, -EINVAL,
				  "template '%.64s': %.*s value '%s' cannot be a spiffe id segment: %s",
				  tmpl, shown_len, name.s,
				  shown(v, buf, sizeof(buf)), inner.msg);
	return 0;
}

static int from_template(const struct attest_ns *ns,
			 const struct attest_result *res, struct spiffe_id *id,
			 struct nt_err *err)
{
	const char *tmpl = ns->id_template ? ns->id_template : TEMPLATE_DEFAULT;
	struct spiffe_seg segs[TEMPLATE_SEGS_MAX];
	struct nt_err inner = { "" };
	const char *p = tmpl, *end;
	size_t n = 0, i;
	int ret;

	/* First, so a bad trust domain is not blamed on a placeholder. */
	if (!ns->trust_domain)
		return nt_err_set(err, -EINVAL, "namespace has no trust domain");
	ret = spiffe_td__check(ns->trust_domain, strlen(ns->trust_domain),
			       &inner);
	if (ret)
		return nt_err_set(err, ret, "namespace trust domain: %s",
				  inner.msg);
	for (i = 0;; i++) {
		if (i == TEMPLATE_SEGS_MAX)
			return nt_err_set(err, -EINVAL,
					  "template '%.64s' has more than %d segments",
					  tmpl, TEMPLATE_SEGS_MAX);
		end = strchrnul(p, '/');
		segs[n].s = p;
		segs[n].len = (size_t)(end - p);
		ret = 0;
		if (memchr(p, '{', segs[n].len) || memchr(p, '}', segs[n].len))
			ret = expand(&segs[n], ns, res, tmpl, err);
		if (ret < 0)
			return ret;
		n += ret == 0;
		if (!*end)
			break;
		p = end + 1;
	}
	/* The ID of a trust domain itself names no workload. */
	if (!n)
		return nt_err_set(err, -EINVAL,
				  "template '%.64s' leaves no path for a process of the namespace's own cgroup: it needs a segment besides {service}",
				  tmpl);
	ret = spiffe_id__build(id, ns->trust_domain, segs, n, &inner);
	if (ret)
		return nt_err_set(err, ret, "template '%.64s': %s", tmpl,
				  inner.msg);
	return 0;
}

int attest__template_check(const char *tmpl, struct nt_err *err)
{
	struct attest_ns ns = { .name = "x", .trust_domain = "example.org",
				.id_template = tmpl };
	struct attest_result res = { .service = "x", .nselectors = 2 };
	struct spiffe_id id;
	int ret;

	if (!tmpl)
		return 0;	/* the default */
	/* Every placeholder gets a value that fits a segment, so whatever
	 * fails is the template's own fault. */
	if (selector__make(&res.selectors[0], "unix", "uid", "0", err) ||
	    selector__make(&res.selectors[1], "unix", "user", "x", err))
		return -EINVAL;
	ret = from_template(&ns, &res, &id, err);
	if (ret)
		return ret;
	/* and the shape of the namespace's own cgroup, without {service} */
	res.service[0] = '\0';
	res.ns_own_cgroup = true;
	return from_template(&ns, &res, &id, err);
}

int attest__identity(const struct attest_registry *reg,
		     const struct attest_ns *ns,
		     const struct attest_result *res, struct spiffe_id *id,
		     const struct attest_entry **from_entry,
		     struct nt_err *err)
{
	const struct attest_entry *best = NULL;
	int ret;

	if (from_entry)
		*from_entry = NULL;
	memset(id, 0, sizeof(*id));
	if (!res)
		return nt_err_set(err, -EINVAL, "no attestation result");
	if (reg) {
		ret = best_entry(reg, res, &best, err);
		if (ret)
			return ret;
	}
	if (best) {
		*id = best->id;
		if (from_entry)
			*from_entry = best;
		return 0;
	}
	if (!ns)
		return nt_err_set(err, -ENOENT,
				  "no entry matches and there is no namespace template");
	return from_template(ns, res, id, err);
}
