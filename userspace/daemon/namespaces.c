// SPDX-License-Identifier: Apache-2.0
/*
 * Namespaces: a name, a cgroup, a mode. Persisted in STATE/namespaces.json
 * so a restarted daemon re-applies the same enrollment; pushed into the
 * kernel (ns_mode) by ns__apply().
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "userspace/daemon/daemon.h"

#define NS_FILE		"namespaces.json"
#define NS_FILE_MAX	(1u << 20)

struct ns_table {
	struct ns *v;
	size_t n, cap;
	char path[PATH_MAX];
};

size_t ns_table__count(const struct ns_table *t)
{
	return t->n;
}

struct ns *ns_table__at(struct ns_table *t, size_t i)
{
	return i < t->n ? &t->v[i] : NULL;
}

struct ns *ns_table__find(struct ns_table *t, const char *name)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (!strcmp(t->v[i].name, name))
			return &t->v[i];
	return NULL;
}

struct ns *ns_table__by_cgroup(struct ns_table *t, uint64_t cgroup_id)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (t->v[i].cgroup_id == cgroup_id)
			return &t->v[i];
	return NULL;
}

static int push(struct ns_table *t, const struct ns *n)
{
	struct ns *nv;

	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 8;
		nv = realloc(t->v, t->cap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		t->v = nv;
	}
	t->v[t->n++] = *n;
	return 0;
}

/* Names become SPIFFE ID segments and file keys: DNS-label style. */
int ns__check_name(const char *name, struct nt_err *err)
{
	size_t i, len = strlen(name);

	if (len == 0 || len >= NT_NS_NAME_MAX)
		return nt_err_set(err, -EINVAL,
				  "namespace name must be 1 to %d characters",
				  NT_NS_NAME_MAX - 1);
	for (i = 0; i < len; i++) {
		if ((name[i] >= 'a' && name[i] <= 'z') ||
		    (name[i] >= '0' && name[i] <= '9') ||
		    (name[i] == '-' && i > 0 && i < len - 1))
			continue;
		return nt_err_set(err, -EINVAL,
				  "namespace name '%s': only [a-z0-9-], not starting or ending with '-'",
				  name);
	}
	return 0;
}

static bool nested(const char *a, const char *b)
{
	size_t n = strlen(b);

	return !strncmp(a, b, n) && (a[n] == '/' || a[n] == '\0');
}

int ns_table__add(struct ns_table *t, const struct ns *n, struct nt_err *err)
{
	uint32_t max_id = 0;
	struct ns copy = *n;
	bool id_free = n->id != 0;
	size_t i;
	int ret;

	ret = ns__check_name(n->name, err);
	if (ret)
		return ret;
	for (i = 0; i < t->n; i++) {
		if (!strcmp(t->v[i].name, n->name))
			return nt_err_set(err, -EEXIST,
					  "namespace '%s' exists", n->name);
		if (nested(n->cgroup, t->v[i].cgroup) ||
		    nested(t->v[i].cgroup, n->cgroup))
			return nt_err_set(err, -EEXIST,
					  "cgroup %s overlaps namespace '%s' (%s): namespaces do not nest",
					  n->cgroup, t->v[i].name,
					  t->v[i].cgroup);
		if (t->v[i].id > max_id)
			max_id = t->v[i].id;
		if (t->v[i].id == n->id)
			id_free = false;
	}
	/* A namespace keeps its id across fleet snapshots (egress entries
	 * are keyed by it); a new one gets the next. */
	if (!id_free)
		copy.id = max_id + 1;
	if (push(t, &copy))
		return nt_err_set(err, -ENOMEM, "out of memory");
	return 0;
}

int ns_table__del(struct ns_table *t, const char *name)
{
	struct ns *n = ns_table__find(t, name);
	size_t i;

	if (!n)
		return -ENOENT;
	i = n - t->v;
	memmove(&t->v[i], &t->v[i + 1], (t->n - i - 1) * sizeof(*n));
	t->n--;
	return 0;
}

int ns_table__save(const struct ns_table *t, struct nt_err *err)
{
	cJSON *root = cJSON_CreateObject(), *arr, *o;
	char *s;
	size_t i;
	int ret;

	arr = cJSON_AddArrayToObject(root, "namespaces");
	for (i = 0; i < t->n; i++) {
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", t->v[i].name);
		cJSON_AddStringToObject(o, "cgroup", t->v[i].cgroup);
		cJSON_AddStringToObject(o, "mode", mode__name(t->v[i].mode));
		cJSON_AddNumberToObject(o, "id", t->v[i].id);
		cJSON_AddStringToObject(o, "template", t->v[i].template);
		cJSON_AddItemToArray(arr, o);
	}
	s = cJSON_Print(root);
	cJSON_Delete(root);
	if (!s)
		return nt_err_set(err, -ENOMEM, "out of memory");
	ret = state__write(t->path, s, strlen(s), 0600, err);
	cJSON_free(s);
	return ret;
}

static const char *get_str(const cJSON *o, const char *key, size_t max,
			   const char *where, struct nt_err *err)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);

	if (!cJSON_IsString(it) || strlen(it->valuestring) >= max) {
		nt_err_set(err, -EINVAL, "%s: \"%s\" must be a string shorter than %zu",
			   where, key, max);
		return NULL;
	}
	return it->valuestring;
}

static int parse_one(struct ns_table *t, const cJSON *o, int idx,
		     struct nt_err *err)
{
	static const char *const keys[] = { "name", "cgroup", "mode", "id",
					    "template", NULL };
	const char *name, *cg, *mode, *tmpl;
	const cJSON *id;
	char where[64];
	struct ns n = {};

	snprintf(where, sizeof(where), "%s: namespaces[%d]", NS_FILE, idx);
	if (json__only_keys(o, keys, where, err))
		return -EINVAL;
	name = get_str(o, "name", NT_NS_NAME_MAX, where, err);
	cg = get_str(o, "cgroup", PATH_MAX, where, err);
	mode = get_str(o, "mode", 16, where, err);
	tmpl = get_str(o, "template", sizeof(n.template), where, err);
	id = cJSON_GetObjectItemCaseSensitive(o, "id");
	if (!name || !cg || !mode || !tmpl)
		return -EINVAL;
	if (!cJSON_IsNumber(id) || id->valuedouble < 1 ||
	    id->valuedouble > 1e9 || id->valuedouble != (uint32_t)id->valuedouble)
		return nt_err_set(err, -EINVAL, "%s: bad \"id\"", where);
	if (mode__parse(mode, &n.mode))
		return nt_err_set(err, -EINVAL, "%s: unknown mode '%s'", where,
				  mode);
	if (ns__check_name(name, err))
		return -EINVAL;
	snprintf(n.name, sizeof(n.name), "%s", name);
	snprintf(n.cgroup, sizeof(n.cgroup), "%s", cg);
	snprintf(n.template, sizeof(n.template), "%s", tmpl);
	n.id = (uint32_t)id->valuedouble;
	return push(t, &n) ? nt_err_set(err, -ENOMEM, "out of memory") : 0;
}

static int parse(struct ns_table *t, const char *buf, size_t len,
		 struct nt_err *err)
{
	static const char *const keys[] = { "namespaces", NULL };
	const cJSON *arr, *o;
	cJSON *root;
	int ret, i = 0;

	ret = json__parse_strict(buf, len, &root, err);
	if (ret)
		return ret;
	ret = json__only_keys(root, keys, NS_FILE, err);
	arr = cJSON_GetObjectItemCaseSensitive(root, "namespaces");
	if (!ret && !cJSON_IsArray(arr))
		ret = nt_err_set(err, -EINVAL, "%s: \"namespaces\" must be an array",
				 NS_FILE);
	if (!ret) {
		cJSON_ArrayForEach(o, arr) {
			ret = parse_one(t, o, i++, err);
			if (ret)
				break;
		}
	}
	cJSON_Delete(root);
	return ret;
}

int ns_table__new(struct ns_table **out, const char *state_dir)
{
	struct ns_table *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	snprintf(t->path, sizeof(t->path), "%s/%s", state_dir, NS_FILE);
	*out = t;
	return 0;
}

int ns_table__load(struct ns_table **out, const char *state_dir,
		   struct nt_err *err)
{
	struct ns_table *t;
	char *buf = NULL;
	size_t len;
	int ret;

	if (ns_table__new(&t, state_dir))
		return nt_err_set(err, -ENOMEM, "out of memory");
	ret = state__read(t->path, NS_FILE_MAX, false, &buf, &len, err);
	if (ret == -ENOENT)
		ret = 0;	/* a fresh node enrolls nothing */
	else if (!ret)
		ret = parse(t, buf, len, err);
	free(buf);
	if (ret) {
		ns_table__free(t);
		return ret;
	}
	*out = t;
	return 0;
}

void ns_table__free(struct ns_table *t)
{
	if (!t)
		return;
	free(t->v);
	free(t);
}

/* ---- the kernel's view ----------------------------------------------------------- */

int ns__apply(struct daemon *d, const struct ns *n)
{
	struct nt_ns_value v = { .mode = n->mode, .ns_id = n->id };

	identity__invalidate(d->identity);
	/* A namespace's egress entries are keyed by its id. */
	policy_holder__apply_egress(d);
	if (n->mode == NT_MODE_OFF)
		return datapath__del_ns(d->dp, n->cgroup_id);
	return datapath__set_ns(d->dp, n->cgroup_id, &v);
}

int ns__enrolled(struct daemon *d, struct dp_enrolled **out, size_t *n)
{
	size_t i, count = ns_table__count(d->ns);
	struct dp_enrolled *v;
	const struct ns *ns;

	v = calloc(count ? count : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	*n = 0;
	for (i = 0; i < count; i++) {
		ns = ns_table__at(d->ns, i);
		if (ns->mode == NT_MODE_OFF || !ns->cgroup_id)
			continue;
		v[(*n)++] = (struct dp_enrolled){
			.name = ns->name, .cgroup = ns->cgroup,
			.cgroup_id = ns->cgroup_id, .mode = ns->mode,
			.ns_id = ns->id };
	}
	*out = v;
	return 0;
}
