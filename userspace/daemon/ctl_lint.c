// SPDX-License-Identifier: Apache-2.0
/*
 * Lints: mistakes that are valid and become outages. A policy that names
 * a namespace nobody enrolled, an enrolled namespace the policy forgets
 * (strict denies everything there), a rule for a trust domain without a
 * bundle (no peer of it can ever be verified), a namespace turned strict
 * without a rule. None is refused: each is logged and answered as a
 * "warnings" array of the reply (policy.load, ns.enable).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "userspace/daemon/daemon.h"

__attribute__((format(printf, 2, 3)))
static void lint_warn(cJSON *resp, const char *fmt, ...)
{
	cJSON *arr = cJSON_GetObjectItemCaseSensitive(resp, CTL_R_WARNINGS);
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pr_warn("%s", msg);
	if (!arr)
		arr = cJSON_AddArrayToObject(resp, CTL_R_WARNINGS);
	cJSON_AddItemToArray(arr, cJSON_CreateString(msg));
}

/* The trust domain of pattern @pat ("spiffe://td/..." or "*": none). */
static bool pattern_td(const char *pat, char *td, size_t size)
{
	const char *s, *e;

	if (strncmp(pat, "spiffe://", 9))
		return false;
	s = pat + 9;
	e = strchr(s, '/');
	if (!e || (size_t)(e - s) >= size)
		return false;
	memcpy(td, s, e - s);
	td[e - s] = '\0';
	return true;
}

/* Each rule's from/to patterns of a trust domain that has no bundle here,
 * once per trust domain. */
static void lint_trust(struct daemon *d, const cJSON *nss, cJSON *resp)
{
	const char *keys[] = { "from", "to" };
	char td[SPIFFE_TD_MAX + 1], needle[SPIFFE_TD_MAX + 3], seen[1024] = ",";
	const cJSON *n, *rule, *pat;
	struct bundle_set *set = NULL;
	size_t k;

	if (trust__load(d->opts.state_dir, &set, NULL))
		set = NULL;
	cJSON_ArrayForEach(n, nss)
	cJSON_ArrayForEach(rule, cJSON_GetObjectItemCaseSensitive(n, "rules"))
	for (k = 0; k < ARRAY_SIZE(keys); k++)
	cJSON_ArrayForEach(pat, cJSON_GetObjectItemCaseSensitive(rule, keys[k])) {
		if (!cJSON_IsString(pat) || !pattern_td(pat->valuestring, td, sizeof(td)))
			continue;
		if (!strcmp(td, node_ca__trust_domain(d->ca)) ||
		    (set && bundle_set__find(set, td, strlen(td))))
			continue;
		snprintf(needle, sizeof(needle), ",%s,", td);
		if (strstr(seen, needle))
			continue;
		if (strlen(seen) + strlen(td) + 2 < sizeof(seen))
			strcat(strcat(seen, td), ",");
		lint_warn(resp, "policy: namespaces.%s: trust domain %s has no bundle (nametag bundle add %s FILE): no peer of it can be verified",
		     n->string, td, td);
	}
	bundle_set__free(set);
}

void ctl_lint__policy(struct daemon *d, const struct policy *p, cJSON *resp)
{
	const cJSON *nss, *n;
	cJSON *root = NULL;
	const struct ns *ns;
	char *text = NULL;
	size_t i;

	if (policy__to_json(p, false, &text, NULL) ||
	    json__parse_strict(text, strlen(text), &root, NULL)) {
		free(text);
		return;
	}
	nss = cJSON_GetObjectItemCaseSensitive(root, "namespaces");
	cJSON_ArrayForEach(n, nss)
		if (!ns_table__find(d->ns, n->string))
			lint_warn(resp, "policy: namespace %s is not enrolled (nametag ns add %s --cgroup PATH): its rules apply to nothing",
			     n->string, n->string);
	for (i = 0; i < ns_table__count(d->ns); i++) {
		ns = ns_table__at(d->ns, i);
		if (ns->mode != NT_MODE_OFF &&
		    !cJSON_GetObjectItemCaseSensitive(nss, ns->name))
			lint_warn(resp, "policy: namespace %s (%s) is absent from the policy: %s every connection into it",
			     ns->name, mode__name(ns->mode),
			     ns->mode == NT_MODE_STRICT ? "strict denies" :
			     "strict would deny");
	}
	lint_trust(d, nss, resp);
	cJSON_Delete(root);
	free(text);
}

void ctl_lint__strict(struct daemon *d, const struct ns *n, cJSON *resp)
{
	if (n->mode == NT_MODE_STRICT && !policy__rules(d->policy, n->name))
		lint_warn(resp, "namespace %s has no rules in the policy: strict denies every connection into it (nametag policy load FILE)",
		     n->name);
}
