// SPDX-License-Identifier: Apache-2.0
/*
 * Registration entries: a SPIFFE ID and the selectors a workload must all
 * have to get it. When several entries match, the one with the most
 * selectors wins (attest__identity), so the registry must never hold two
 * entries that could match one workload with the same number of selectors:
 * which ID such a workload got would be a matter of table order.
 *
 * Every selector TYPE:KEY is single-valued for a workload (one uid, one exe,
 * one cgroup...). Two entries therefore cannot both match a workload only
 * when they name the same TYPE:KEY with different values; otherwise some
 * workload could carry the selectors of both. That is the test at add time.
 * It is conservative: it treats e.g. unix:uid and unix:user as independent.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/attest_int.h"

static int errf(struct nt_err *err, int code, const char *where,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* "where: message", or just the message when @where is empty. */
static int errf(struct nt_err *err, int code, const char *where,
		const char *fmt, ...)
{
	char msg[sizeof(err->msg)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return nt_err_set(err, code, "%s%s%s", where, *where ? ": " : "", msg);
}

int attest_registry__new(struct attest_registry **reg)
{
	*reg = calloc(1, sizeof(**reg));
	return *reg ? 0 : -ENOMEM;
}

void attest_registry__free(struct attest_registry *reg)
{
	if (!reg)
		return;
	free(reg->entries);
	free(reg);
}

size_t attest_registry__count(const struct attest_registry *reg)
{
	return reg ? reg->n : 0;
}

const struct attest_entry *attest_registry__at(const struct attest_registry *reg,
					       size_t i)
{
	return reg && i < reg->n ? &reg->entries[i] : NULL;
}

/* The struct may come from anywhere: what is stored is a fresh parse of
 * its string, so the other fields cannot disagree with it. */
static int check_id(const struct attest_entry *e, const char *where,
		    struct spiffe_id *id, struct nt_err *err)
{
	struct nt_err inner = { "" };
	int ret;

	if (!memchr(e->id.str, '\0', sizeof(e->id.str)) ||
	    strlen(e->id.str) != e->id.len)
		return errf(err, -EINVAL, where, "spiffe id is malformed");
	ret = spiffe_id__parse(id, e->id.str, e->id.len, &inner);
	if (ret)
		return errf(err, ret, where, "%s", inner.msg);
	if (!spiffe_id__path_len(id))
		return errf(err, -EINVAL, where,
			    "spiffe id %s has no path: a workload ID needs one",
			    id->str);
	return 0;
}

/* Each selector valid, none twice, no TYPE:KEY with two values (no
 * workload could ever match such an entry). @where: "" or "entries[2]". */
static int check_selectors(const struct attest_entry *e, const char *where,
			   struct nt_err *err)
{
	struct nt_err inner = { "" };
	char at[64], buf[ATTEST_TYPE_MAX + ATTEST_VALUE_MAX + 2];
	size_t i, j;
	int ret;

	if (!e->nselectors || e->nselectors > ATTEST_SELECTOR_MAX)
		return errf(err, -EINVAL, where,
			    "an entry needs 1 to %d selectors, not %zu",
			    ATTEST_SELECTOR_MAX, e->nselectors);
	for (i = 0; i < e->nselectors; i++) {
		snprintf(at, sizeof(at), "%s%sselectors[%zu]", where,
			 *where ? "." : "", i);
		ret = selector__check(&e->selectors[i], &inner);
		if (ret)
			return errf(err, ret, at, "%s", inner.msg);
		for (j = 0; j < i; j++) {
			if (!selector__same_key(&e->selectors[i],
						&e->selectors[j]))
				continue;
			if (selector__format(&e->selectors[i], buf, sizeof(buf)))
				buf[0] = '\0';
			if (selector__equal(&e->selectors[i], &e->selectors[j]))
				return errf(err, -EINVAL, at,
					    "'%s' repeats selectors[%zu]", buf, j);
			return errf(err, -EINVAL, at,
				    "'%s' conflicts with selectors[%zu]: a workload has only one %s:%.*s",
				    buf, j, e->selectors[i].type,
				    (int)selector__key_len(&e->selectors[i]),
				    e->selectors[i].value);
		}
	}
	return 0;
}

/* False when some TYPE:KEY has different values in @a and @b. */
static bool may_co_match(const struct attest_entry *a,
			 const struct attest_entry *b)
{
	size_t i, j;

	for (i = 0; i < a->nselectors; i++)
		for (j = 0; j < b->nselectors; j++)
			if (selector__same_key(&a->selectors[i],
					       &b->selectors[j]) &&
			    !selector__equal(&a->selectors[i],
					     &b->selectors[j]))
				return false;
	return true;
}

static struct attest_entry *find(const struct attest_registry *reg,
				 const char *id)
{
	size_t i;

	for (i = 0; i < reg->n; i++)
		if (!strcmp(reg->entries[i].id.str, id))
			return &reg->entries[i];
	return NULL;
}

static int grow(struct attest_registry *reg)
{
	struct attest_entry *p;
	size_t cap;

	if (reg->n < reg->cap)
		return 0;
	cap = reg->cap ? reg->cap * 2 : 8;
	if (cap > ATTEST_REGISTRY_MAX)
		cap = ATTEST_REGISTRY_MAX;
	p = realloc(reg->entries, cap * sizeof(*p));
	if (!p)
		return -ENOMEM;
	reg->entries = p;
	reg->cap = cap;
	return 0;
}

int registry__add_at(struct attest_registry *reg, const struct attest_entry *e,
		     const char *where, struct nt_err *err)
{
	const struct attest_entry *o;
	struct spiffe_id id;
	size_t i;
	int ret;

	ret = check_id(e, where, &id, err);
	if (!ret)
		ret = check_selectors(e, where, err);
	if (ret)
		return ret;
	if (find(reg, e->id.str))
		return errf(err, -EEXIST, where, "an entry for %s already exists",
			    e->id.str);
	for (i = 0; i < reg->n; i++) {
		o = &reg->entries[i];
		if (o->nselectors == e->nselectors && may_co_match(o, e))
			return errf(err, -EINVAL, where,
				    "ambiguous: entry %s matches the same workloads with as many selectors (%zu); add a selector to one, or give both the same selector kind with different values",
				    o->id.str, o->nselectors);
	}
	if (reg->n >= ATTEST_REGISTRY_MAX)
		return errf(err, -ENOSPC, where,
			    "the registry is full (%d entries)",
			    ATTEST_REGISTRY_MAX);
	if (grow(reg))
		return errf(err, -ENOMEM, where, "out of memory");
	reg->entries[reg->n] = *e;
	reg->entries[reg->n++].id = id;
	return 0;
}

int attest_registry__add(struct attest_registry *reg,
			 const struct attest_entry *e, struct nt_err *err)
{
	if (!reg || !e)
		return nt_err_set(err, -EINVAL, "no registry or entry");
	return registry__add_at(reg, e, "", err);
}

int attest_registry__del(struct attest_registry *reg, const char *id,
			 struct nt_err *err)
{
	struct attest_entry *e;
	size_t i;

	if (!reg || !id)
		return nt_err_set(err, -EINVAL, "no registry or id");
	e = find(reg, id);
	if (!e)
		return nt_err_set(err, -ENOENT, "no entry for %.*s", 300, id);
	i = (size_t)(e - reg->entries);
	memmove(e, e + 1, (reg->n - i - 1) * sizeof(*e));
	reg->n--;
	return 0;
}

void registry__swap(struct attest_registry *a, struct attest_registry *b)
{
	struct attest_registry t = *a;

	*a = *b;
	*b = t;
}
