// SPDX-License-Identifier: Apache-2.0
/*
 * Fleet mode's configuration values (docs/fleet.md): namespaces, entries
 * and the trust bundle as etcd holds them. The CLI checks a value with
 * these parsers before it writes it, every node parses the whole snapshot
 * with them before swapping it in, and the signer derives grants from the
 * same namespaces: one reading of each value, everywhere.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "enforce/enforce_int.h"

static int hosts_add(struct fleet_hosts *h, const char *name, size_t len,
		     struct nt_err *err)
{
	char node[CA_NODE_MAX + 1];

	if (len == 0 || len > CA_NODE_MAX)
		return nt_err_set(err, -EINVAL, "hosts: a node name of 1 to %d bytes",
				  CA_NODE_MAX);
	memcpy(node, name, len);
	node[len] = '\0';
	if (strcmp(node, "*") && node_name__check(node, err))
		return -EINVAL;
	if (h->n == FLEET_HOSTS_MAX)
		return nt_err_set(err, -E2BIG, "hosts: at most %d nodes",
				  FLEET_HOSTS_MAX);
	strcpy(h->v[h->n++], node);
	return 0;
}

int fleet_hosts__parse(struct fleet_hosts *h, const char *list,
		       struct nt_err *err)
{
	const char *p = list, *c;
	int ret;

	h->n = 0;
	for (;;) {
		c = strchr(p, ',');
		ret = hosts_add(h, p, c ? (size_t)(c - p) : strlen(p), err);
		if (ret || !c)
			return ret;
		p = c + 1;
	}
}

bool fleet_hosts__has(const struct fleet_hosts *h, const char *node)
{
	size_t i;

	for (i = 0; i < h->n; i++)
		if (!strcmp(h->v[i], "*") || !strcmp(h->v[i], node))
			return true;
	return false;
}

static int hosts_json(struct fleet_hosts *h, const cJSON *arr,
		      struct nt_err *err)
{
	const cJSON *it;

	h->n = 0;
	if (!arr)
		return hosts_add(h, "*", 1, err);
	if (!cJSON_IsArray(arr) || !cJSON_GetArraySize(arr))
		return nt_err_set(err, -EINVAL, "\"hosts\" must be a non-empty array");
	cJSON_ArrayForEach(it, arr) {
		if (!cJSON_IsString(it))
			return nt_err_set(err, -EINVAL, "\"hosts\" holds strings");
		if (hosts_add(h, it->valuestring, strlen(it->valuestring), err))
			return -EINVAL;
	}
	return 0;
}

static cJSON *hosts_to_json(const struct fleet_hosts *h)
{
	cJSON *arr = cJSON_CreateArray();
	size_t i;

	for (i = 0; arr && i < h->n; i++)
		cJSON_AddItemToArray(arr, cJSON_CreateString(h->v[i]));
	return arr;
}

/* A string member no longer than @size - 1; absent is "" when @optional. */
int fleet__get_str(const cJSON *o, const char *key, char *out, size_t size,
		   bool optional, struct nt_err *err)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);

	if (!it && optional) {
		out[0] = '\0';
		return 0;
	}
	if (!cJSON_IsString(it) || strlen(it->valuestring) >= size)
		return nt_err_set(err, -EINVAL, "\"%s\" must be a string shorter than %zu bytes",
				  key, size);
	strcpy(out, it->valuestring);
	return 0;
}

/* Relative, below the node's root: no '/' first, no empty, "." or ".."
 * segment (a value must not climb out of any node's --cgroup-root). */
static int cgroup_check(const char *cg, struct nt_err *err)
{
	const char *p = cg, *e;
	size_t len;

	if (!*cg || *cg == '/')
		return nt_err_set(err, -EINVAL,
				  "cgroup '%s': must be relative to each node's --cgroup-root",
				  cg);
	for (;;) {
		e = strchr(p, '/');
		len = e ? (size_t)(e - p) : strlen(p);
		if (!len || (len == 1 && p[0] == '.') ||
		    (len == 2 && p[0] == '.' && p[1] == '.'))
			return nt_err_set(err, -EINVAL,
					  "cgroup '%s': an empty, '.' or '..' segment", cg);
		if (!e)
			return 0;
		p = e + 1;
	}
}

int fleet__parse_root(const char *json, size_t len, const char *const *keys,
		      cJSON **root, struct nt_err *err)
{
	int ret = json__parse_strict(json, len, root, err);

	if (ret)
		return ret;
	if (!cJSON_IsObject(*root))
		ret = nt_err_set(err, -EINVAL, "not a JSON object");
	else
		ret = json__only_keys(*root, keys, "value", err);
	if (ret) {
		cJSON_Delete(*root);
		*root = NULL;
	}
	return ret;
}

int fleet_ns__parse(struct fleet_ns *n, const char *name, const char *json,
		    size_t len, struct nt_err *err)
{
	static const char *const keys[] = { "cgroup", "mode", "template",
					    "hosts", NULL };
	char mode[16];
	cJSON *root;
	int ret;

	memset(n, 0, sizeof(*n));
	if (strlen(name) >= sizeof(n->name))
		return nt_err_set(err, -EINVAL, "namespace name too long");
	strcpy(n->name, name);
	ret = fleet__parse_root(json, len, keys, &root, err);
	if (ret)
		return ret;
	ret = fleet__get_str(root, "cgroup", n->cgroup, sizeof(n->cgroup), false, err);
	if (!ret)
		ret = cgroup_check(n->cgroup, err);
	if (!ret)
		ret = fleet__get_str(root, "mode", mode, sizeof(mode), false, err);
	if (!ret && mode__parse(mode, &n->mode))
		ret = nt_err_set(err, -EINVAL, "unknown mode '%s'", mode);
	if (!ret)
		ret = fleet__get_str(root, "template", n->template,
			      sizeof(n->template), true, err);
	if (!ret)
		ret = hosts_json(&n->hosts,
				 cJSON_GetObjectItemCaseSensitive(root, "hosts"), err);
	cJSON_Delete(root);
	return ret;
}

int fleet__emit(cJSON *o, char **json, struct nt_err *err)
{
	*json = o ? cJSON_PrintUnformatted(o) : NULL;
	cJSON_Delete(o);
	return *json ? 0 : nt_err_set(err, -ENOMEM, "out of memory");
}

int fleet_ns__to_json(const struct fleet_ns *n, char **json,
		      struct nt_err *err)
{
	cJSON *o = cJSON_CreateObject();

	if (o) {
		cJSON_AddStringToObject(o, "cgroup", n->cgroup);
		cJSON_AddStringToObject(o, "mode", mode__name(n->mode));
		if (n->template[0])
			cJSON_AddStringToObject(o, "template", n->template);
		cJSON_AddItemToObject(o, "hosts", hosts_to_json(&n->hosts));
	}
	return fleet__emit(o, json, err);
}

int fleet_entry__parse(struct fleet_entry *e, const char *id,
		       const char *json, size_t len, struct nt_err *err)
{
	static const char *const keys[] = { "spiffe_id", "selectors", "hosts",
					    NULL };
	char sid[SPIFFE_ID_MAX + 1];
	const cJSON *sels, *it;
	cJSON *root;
	int ret;

	memset(e, 0, sizeof(*e));
	ret = fleet__parse_root(json, len, keys, &root, err);
	if (ret)
		return ret;
	ret = fleet__get_str(root, "spiffe_id", sid, sizeof(sid), false, err);
	if (!ret)
		ret = spiffe_id__parse(&e->id, sid, strlen(sid), err);
	if (!ret && strcmp(e->id.str, id))
		ret = nt_err_set(err, -EINVAL,
				  "\"spiffe_id\" %s is not the key's %s", sid, id);
	sels = cJSON_GetObjectItemCaseSensitive(root, "selectors");
	if (!ret && (!cJSON_IsArray(sels) || !cJSON_GetArraySize(sels)))
		ret = nt_err_set(err, -EINVAL, "\"selectors\" must be a non-empty array");
	if (ret)
		sels = NULL;
	cJSON_ArrayForEach(it, sels) {
		if (e->nselectors == FLEET_SELECTORS_MAX) {
			ret = nt_err_set(err, -E2BIG, "at most %d selectors",
					 FLEET_SELECTORS_MAX);
			break;
		}
		if (!cJSON_IsString(it) ||
		    strlen(it->valuestring) >= sizeof(e->selectors[0])) {
			ret = nt_err_set(err, -EINVAL, "selectors are strings of at most %zu bytes",
					 sizeof(e->selectors[0]) - 1);
			break;
		}
		strcpy(e->selectors[e->nselectors++], it->valuestring);
	}
	if (!ret)
		ret = hosts_json(&e->hosts,
				 cJSON_GetObjectItemCaseSensitive(root, "hosts"), err);
	cJSON_Delete(root);
	return ret;
}

int fleet_entry__to_json(const struct fleet_entry *e, char **json,
			 struct nt_err *err)
{
	cJSON *o = cJSON_CreateObject(), *arr;
	size_t i;

	if (o) {
		cJSON_AddStringToObject(o, "spiffe_id", e->id.str);
		arr = cJSON_AddArrayToObject(o, "selectors");
		for (i = 0; i < e->nselectors; i++)
			cJSON_AddItemToArray(arr, cJSON_CreateString(e->selectors[i]));
		cJSON_AddItemToObject(o, "hosts", hosts_to_json(&e->hosts));
	}
	return fleet__emit(o, json, err);
}

/* Template segments up to the first placeholder that is not {ns}; {ns}
 * becomes the namespace's name. */
int fleet_ns__prefix(const struct fleet_ns *n, const char *td,
		     struct spiffe_id *out, struct nt_err *err)
{
	const char *t = n->template[0] ? n->template : FLEET_TEMPLATE_DEFAULT;
	struct spiffe_seg segs[32];
	size_t nseg = 0, len;
	const char *p = t, *e;

	while (*p && nseg < ARRAY_SIZE(segs)) {
		e = strchr(p, '/');
		len = e ? (size_t)(e - p) : strlen(p);
		if (len == 4 && !memcmp(p, "{ns}", 4))
			segs[nseg++] = (struct spiffe_seg){ n->name, strlen(n->name) };
		else if (memchr(p, '{', len))
			break;
		else
			segs[nseg++] = (struct spiffe_seg){ p, len };
		if (!e)
			break;
		p = e + 1;
	}
	return spiffe_id__build(out, td, segs, nseg, err);
}

int fleet_key__prefix(const char *key, const char *json, size_t len,
		      const char *td, const char *node, struct spiffe_id *out,
		      struct nt_err *err)
{
	struct fleet_entry *e;
	struct fleet_ns n;
	int ret;

	if (!strncmp(key, FLEET_NS, strlen(FLEET_NS))) {
		ret = fleet_ns__parse(&n, key + strlen(FLEET_NS), json, len, err);
		if (ret || !fleet_hosts__has(&n.hosts, node))
			return ret;
		ret = fleet_ns__prefix(&n, td, out, err);
		return ret ? ret : 1;
	}
	if (strncmp(key, FLEET_ENTRIES, strlen(FLEET_ENTRIES)))
		return 0;
	e = malloc(sizeof(*e));
	if (!e)
		return nt_err_set(err, -ENOMEM, "out of memory");
	ret = fleet_entry__parse(e, key + strlen(FLEET_ENTRIES), json, len, err);
	if (!ret && fleet_hosts__has(&e->hosts, node)) {
		*out = e->id;
		ret = 1;
	}
	free(e);
	return ret;
}

/* "trust_domain" and "bundle" of a bundle value's object. */
int fleet__bundle_of(const cJSON *root, struct bundle **out, struct nt_err *err)
{
	char td[SPIFFE_TD_MAX + 1], *b = NULL;
	int ret;

	ret = fleet__get_str(root, "trust_domain", td, sizeof(td), false, err);
	if (!ret && !cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(root, "bundle")))
		ret = nt_err_set(err, -EINVAL, "\"bundle\" must be an object");
	if (!ret) {
		b = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(root, "bundle"));
		ret = b ? bundle__parse(out, td, b, strlen(b), err) :
		      nt_err_set(err, -ENOMEM, "out of memory");
	}
	cJSON_free(b);
	return ret;
}

int fleet_bundle__parse(const char *json, size_t len, struct bundle **out,
			struct nt_err *err)
{
	static const char *const keys[] = { "trust_domain", "bundle", NULL };
	cJSON *root;
	int ret;

	ret = fleet__parse_root(json, len, keys, &root, err);
	if (ret)
		return ret;
	ret = fleet__bundle_of(root, out, err);
	cJSON_Delete(root);
	return ret;
}

/* {"trust_domain": TD, "bundle": {...}}, to add to; NULL out of memory. */
cJSON *fleet__bundle_object(const struct bundle *b, struct nt_err *err)
{
	cJSON *o = cJSON_CreateObject(), *inner = NULL;
	char *s = NULL;
	int ret;

	ret = bundle__to_json(b, false, &s, err);
	if (!ret)
		ret = json__parse_strict(s, strlen(s), &inner, err);
	free(s);
	if (ret || !o) {
		cJSON_Delete(inner);
		cJSON_Delete(o);
		if (!ret)
			nt_err_set(err, -ENOMEM, "out of memory");
		return NULL;
	}
	cJSON_AddStringToObject(o, "trust_domain", b->td);
	cJSON_AddItemToObject(o, "bundle", inner);
	return o;
}

int fleet_bundle__to_json(const struct bundle *b, char **json,
			  struct nt_err *err)
{
	cJSON *o = fleet__bundle_object(b, err);

	return o ? fleet__emit(o, json, err) : -ENOMEM;
}
