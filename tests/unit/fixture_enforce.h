/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers of the policy tests (test_enforce_*.c). JSON in their tables is
 * written with ' for " (see dq()) to stay readable; no row needs a literal
 * apostrophe.
 */
#ifndef NAMETAG_TEST_FIXTURE_ENFORCE_H
#define NAMETAG_TEST_FIXTURE_ENFORCE_H

#include <stdlib.h>
#include <string.h>

#include "enforce/enforce.h"


/* A malloc'd copy of @s with every ' turned into ". */
static char *dq(const char *s)
{
	char *out = strdup(s), *p;

	if (!out)
		abort();
	for (p = out; *p; p++)
		if (*p == '\'')
			*p = '"';
	return out;
}

/* Parses table JSON (with ' quotes); returns policy__parse's result. */
static int parse_q(const char *q, struct policy **p, struct nt_err *err)
{
	char *json = dq(q);
	int ret = policy__parse(p, json, strlen(json), err);

	free(json);
	return ret;
}

/* A policy of one namespace, "shop", around rows of test tables. */
#define NS(x)	 "{'namespaces':{'shop':" x "}}"
#define RULES(x) NS("{'rules':[" x "]}")
#define RULE(from, to, extra) \
	RULES("{'action':'allow','from':" from ",'to':" to extra "}")
#define PORTS(x)	RULE("['*']", "['*']", ",'ports':" x)

#define R0 "namespaces.shop.rules[0]"

#endif
