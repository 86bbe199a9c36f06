// SPDX-License-Identifier: Apache-2.0
/*
 * struct policy to canonical JSON, for `nametag policy show` and for
 * checking that what was loaded is what was meant. Canonical: namespaces
 * sorted by name, keys in one fixed order ("rules" then "egress"; "action",
 * "from", "to", "ports"), optional keys written only when they hold
 * something, CIDRs as inet_ntop writes them. Parsing the output gives an
 * equal policy, and writing that again gives the same bytes.
 */
#include <errno.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "enforce/enforce_int.h"

/* Adds @item to object @obj (consuming it) or fails with -ENOMEM. */
static int add(cJSON *obj, const char *key, cJSON *item)
{
	if (!item)
		return -ENOMEM;
	if (!cJSON_AddItemToObject(obj, key, item)) {
		cJSON_Delete(item);
		return -ENOMEM;
	}
	return 0;
}

static int push(cJSON *arr, cJSON *item)
{
	if (!item)
		return -ENOMEM;
	if (!cJSON_AddItemToArray(arr, item)) {
		cJSON_Delete(item);
		return -ENOMEM;
	}
	return 0;
}

static cJSON *ports_json(const struct port_list *pl)
{
	cJSON *arr = cJSON_CreateArray();
	size_t i;

	for (i = 0; arr && i < pl->n; i++) {
		if (push(arr, cJSON_CreateNumber(pl->v[i]))) {
			cJSON_Delete(arr);
			return NULL;
		}
	}
	return arr;
}

static cJSON *patterns_json(const struct pattern_list *l)
{
	cJSON *arr = cJSON_CreateArray();
	size_t i;

	for (i = 0; arr && i < l->n; i++) {
		if (push(arr, cJSON_CreateString(l->v[i].text))) {
			cJSON_Delete(arr);
			return NULL;
		}
	}
	return arr;
}

static cJSON *rule_json(const struct rule *r)
{
	cJSON *obj = cJSON_CreateObject();
	const char *action = r->action == VERDICT_ALLOW ? "allow" : "deny";

	if (!obj || add(obj, "action", cJSON_CreateString(action)) ||
	    add(obj, "from", patterns_json(&r->from)) ||
	    add(obj, "to", patterns_json(&r->to)) ||
	    (r->ports.n && add(obj, "ports", ports_json(&r->ports)))) {
		cJSON_Delete(obj);
		return NULL;
	}
	return obj;
}

static cJSON *egress_json(const struct egress *e)
{
	cJSON *obj = cJSON_CreateObject();
	char text[CIDR_TEXT_MAX];

	if (!obj || cidr__format(&e->to, text, sizeof(text)) ||
	    add(obj, "to", cJSON_CreateString(text)) ||
	    (e->ports.n && add(obj, "ports", ports_json(&e->ports)))) {
		cJSON_Delete(obj);
		return NULL;
	}
	return obj;
}

static cJSON *ns_json(const struct ns_policy *ns)
{
	cJSON *obj = cJSON_CreateObject(), *rules, *egress;
	size_t i;

	if (!obj)
		return NULL;
	rules = cJSON_CreateArray();
	if (add(obj, "rules", rules))
		goto fail;
	for (i = 0; i < ns->nrules; i++)
		if (push(rules, rule_json(&ns->rules[i])))
			goto fail;
	if (!ns->negress)
		return obj;
	egress = cJSON_CreateArray();
	if (add(obj, "egress", egress))
		goto fail;
	for (i = 0; i < ns->negress; i++)
		if (push(egress, egress_json(&ns->egress[i])))
			goto fail;
	return obj;
fail:
	/* add() consumed what it was given, even on failure. */
	cJSON_Delete(obj);
	return NULL;
}

int policy__to_json(const struct policy *p, bool pretty, char **json,
		    struct nt_err *err)
{
	cJSON *root = cJSON_CreateObject(), *nss;
	int ret = -ENOMEM;
	size_t i;

	*json = NULL;
	if (!root)
		goto out;
	nss = cJSON_CreateObject();
	if (add(root, "namespaces", nss))
		goto out;
	for (i = 0; p && i < p->nns; i++)
		if (add(nss, p->ns[i].name, ns_json(&p->ns[i])))
			goto out;
	*json = pretty ? cJSON_Print(root) : cJSON_PrintUnformatted(root);
	if (*json)
		ret = 0;
out:
	cJSON_Delete(root);
	if (ret)
		return nt_err_set(err, ret, "out of memory writing the policy");
	return 0;
}
