// SPDX-License-Identifier: Apache-2.0
/* Control commands of `nametag policy`: load, show, check (policy.c
 * holds the policy in force). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "userspace/daemon/daemon.h"

static cJSON *policy_json(const struct policy *p, struct nt_err *err)
{
	char *s = NULL;
	cJSON *o = NULL;

	if (!policy__to_json(p, false, &s, err))
		json__parse_strict(s, strlen(s), &o, err);
	free(s);
	return o;
}

/* The whole file is checked, then saved, before anything changes. */
static int policy_load(struct ctl_request *r, cJSON *resp, struct nt_err *err)
{
	const char *text = ctl__str(r, CTL_K_POLICY, err);
	char path[PATH_MAX], *canon = NULL;
	struct policy *p = NULL;
	int ret;

	if (!text)
		return -EINVAL;
	ret = policy__parse(&p, text, strlen(text), err);
	if (ret)
		return ret;
	ret = policy__to_json(p, true, &canon, err);
	snprintf(path, sizeof(path), "%s/%s", r->d->opts.state_dir, POLICY_FILE);
	if (!ret)
		ret = state__write(path, canon, strlen(canon), 0600, err);
	free(canon);
	if (ret) {
		policy__free(p);
		return ret;
	}
	policy_holder__swap(r->d, p);
	audit__policy(r->d, r, text, policy__namespaces(p));
	ctl_lint__policy(r->d, p, resp);
	cJSON_AddNumberToObject(resp, CTL_R_NAMESPACES,
				(double)policy__namespaces(p));
	return 0;
}

static int policy_show(struct ctl_request *r, cJSON *resp, struct nt_err *err)
{
	cJSON *o = policy_json(r->d->policy, err);

	if (!o)
		return -EINVAL;
	cJSON_AddItemToObject(resp, CTL_R_POLICY, o);
	return 0;
}

/* The namespace of a SPIFFE ID made by the default template,
 * spiffe://TD/ns/NAME/... */
static int ns_from_id(const char *id, char *ns, size_t size)
{
	const char *p = strstr(id, "://");
	const char *s, *e;

	if (!p || !(s = strchr(p + 3, '/')) || strncmp(s, "/ns/", 4))
		return -ENOENT;
	s += 4;
	e = strchr(s, '/');
	if (!e || (size_t)(e - s) >= size)
		return -ENOENT;
	memcpy(ns, s, e - s);
	ns[e - s] = '\0';
	return 0;
}

static int policy_check(struct ctl_request *r, cJSON *resp, struct nt_err *err)
{
	const cJSON *port = cJSON_GetObjectItemCaseSensitive(r->req, CTL_K_PORT);
	const cJSON *nsj = cJSON_GetObjectItemCaseSensitive(r->req, CTL_K_NS);
	const char *from = ctl__str(r, CTL_K_FROM, NULL);
	const char *to = ctl__str(r, CTL_K_TO, NULL);
	char ns[NT_NS_NAME_MAX];
	struct decision d;
	int ret;

	if (!from || !to || !cJSON_IsNumber(port) || port->valuedouble < 1 ||
	    port->valuedouble > 65535)
		return nt_err_set(err, -EINVAL,
				  "request needs \"%s\", \"%s\" and a \"%s\" in 1..65535",
				  CTL_K_FROM, CTL_K_TO, CTL_K_PORT);
	if (cJSON_IsString(nsj))
		snprintf(ns, sizeof(ns), "%s", nsj->valuestring);
	else if (ns_from_id(to, ns, sizeof(ns)))
		return nt_err_set(err, -EINVAL,
				  "cannot tell the namespace of %s: give --ns NAME",
				  to);
	ret = policy__check(r->d->policy, ns, from, to,
			    (uint16_t)port->valuedouble, &d, err);
	if (ret)
		return ret;
	cJSON_AddStringToObject(resp, CTL_R_NAMESPACE, ns);
	cJSON_AddStringToObject(resp, CTL_R_VERDICT,
				d.verdict == VERDICT_ALLOW ? "allow" : "deny");
	cJSON_AddStringToObject(resp, CTL_R_REASON, d.reason);
	cJSON_AddNumberToObject(resp, CTL_R_RULE, d.rule);
	return 0;
}

const struct ctl_cmd ctl_policy_cmds[] = {
	{ CTL_POLICY_LOAD,	policy_load },
	{ CTL_POLICY_SHOW,	policy_show },
	{ CTL_POLICY_CHECK,	policy_check },
	{ NULL, NULL }
};
