// SPDX-License-Identifier: Apache-2.0
/*
 * The scope of a fleet node CA (docs/fleet.md): which node it belongs to and
 * which SPIFFE ID prefixes it may issue, carried in a non-critical private
 * extension:
 *
 *	NametagScope ::= SEQUENCE {
 *		node      UTF8String (SIZE (1..63)),
 *		prefixes  SEQUENCE SIZE (1..64) OF IA5String  -- SPIFFE IDs
 *	}
 *
 * Prefixes are sorted (byte order) and distinct, so one scope has one
 * encoding; a value that does not re-encode to the same bytes is refused.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1t.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "ca/authority_int.h"

typedef struct {
	ASN1_UTF8STRING *node;
	/* IA5String elements; OpenSSL has no stack type of that name, and
	 * every ASN1_*STRING is the same C type: the template sets the tag. */
	STACK_OF(ASN1_UTF8STRING) *prefixes;
} NT_SCOPE;

ASN1_SEQUENCE(NT_SCOPE) = {
	ASN1_SIMPLE(NT_SCOPE, node, ASN1_UTF8STRING),
	ASN1_SEQUENCE_OF(NT_SCOPE, prefixes, ASN1_IA5STRING),
} static_ASN1_SEQUENCE_END(NT_SCOPE)

/* Static: the type is this file's alone (and -Wmissing-prototypes). */
IMPLEMENT_STATIC_ASN1_ALLOC_FUNCTIONS(NT_SCOPE)
IMPLEMENT_STATIC_ASN1_ENCODE_FUNCTIONS(NT_SCOPE)

/* ---- node names ---------------------------------------------------------- */

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
	       c == '.';
}

static bool name_alnum(char c)
{
	return name_char(c) && c != '-' && c != '.';
}

static int name_check_len(const char *name, size_t len, struct nt_err *err)
{
	size_t i;

	if (len == 0 || len > CA_NODE_MAX)
		return nt_err_set(err, -EINVAL,
				  "node name must be 1 to %d bytes", CA_NODE_MAX);
	for (i = 0; i < len; i++) {
		if (!name_char(name[i]))
			return nt_err_set(err, -EINVAL,
					  "node name: byte %zu is not one of [a-z0-9.-]",
					  i);
		if (i && name[i] == '.' && name[i - 1] == '.')
			return nt_err_set(err, -EINVAL,
					  "node name: empty label at byte %zu", i);
	}
	if (!name_alnum(name[0]) || !name_alnum(name[len - 1]))
		return nt_err_set(err, -EINVAL,
				  "node name must start and end with a letter or digit");
	return 0;
}

int node_name__check(const char *name, struct nt_err *err)
{
	if (!name)
		return nt_err_set(err, -EINVAL, "no node name");
	return name_check_len(name, strnlen(name, CA_NODE_MAX + 1), err);
}

/* ---- scopes -------------------------------------------------------------- */

void ca_scope__free(struct ca_scope *s)
{
	if (!s)
		return;
	free(s->prefix);
	free(s);
}

static int id_cmp(const void *a, const void *b)
{
	return strcmp(((const struct spiffe_id *)a)->str,
		      ((const struct spiffe_id *)b)->str);
}

static struct ca_scope *scope_alloc(size_t n)
{
	struct ca_scope *s = calloc(1, sizeof(*s));

	if (s && n) {
		s->prefix = calloc(n, sizeof(*s->prefix));
		if (!s->prefix) {
			free(s);
			s = NULL;
		}
	}
	return s;
}

/* Sorts and merges duplicates; all must share one trust domain. */
static int scope_finish(struct ca_scope *s, struct nt_err *err)
{
	size_t i, o = 0;

	if (s->n == 0)
		return nt_err_set(err, -EINVAL, "a scope needs at least one prefix");
	for (i = 1; i < s->n; i++)
		if (strcmp(s->prefix[i].td, s->prefix[0].td))
			return nt_err_set(err, -EINVAL,
					  "scope prefixes of two trust domains ('%s', '%s')",
					  s->prefix[0].td, s->prefix[i].td);
	qsort(s->prefix, s->n, sizeof(*s->prefix), id_cmp);
	for (i = 0; i < s->n; i++)
		if (!o || strcmp(s->prefix[o - 1].str, s->prefix[i].str))
			s->prefix[o++] = s->prefix[i];
	s->n = o;
	return 0;
}

int ca_scope__new(struct ca_scope **out, const char *td, const char *node,
		  const char *const *prefixes, size_t n, struct nt_err *err)
{
	struct ca_scope *s;
	size_t i;
	int ret;

	ret = node_name__check(node, err);
	if (ret)
		return ret;
	if (n > CA_SCOPE_MAX)
		return nt_err_set(err, -E2BIG, "more than %d scope prefixes",
				  CA_SCOPE_MAX);
	s = scope_alloc(n);
	if (!s)
		return nt_err_set(err, -ENOMEM, "out of memory");
	strcpy(s->node, node);
	for (i = 0; i < n; i++) {
		ret = spiffe_id__parse(&s->prefix[i], prefixes[i],
				       strlen(prefixes[i]), err);
		if (ret) {
			nt_err_prefix(err, ret, "scope prefix");
			goto fail;
		}
		if (td && strcmp(s->prefix[i].td, td)) {
			ret = nt_err_set(err, -EINVAL,
					 "scope prefix %s is not in trust domain '%s'",
					 s->prefix[i].str, td);
			goto fail;
		}
	}
	s->n = n;
	ret = scope_finish(s, err);
	if (ret)
		goto fail;
	*out = s;
	return 0;
fail:
	ca_scope__free(s);
	return ret;
}

static bool prefix_covers(const struct spiffe_id *p, const struct spiffe_id *id)
{
	size_t plen = spiffe_id__path_len(p);

	if (p->td_len != id->td_len || memcmp(p->td, id->td, p->td_len))
		return false;
	if (id->len < p->len || memcmp(id->str, p->str, p->len))
		return false;
	/* Segment by segment: /ns/a covers /ns/a and /ns/a/..., not /ns/ab. */
	return plen == 0 || id->len == p->len || id->str[p->len] == '/';
}

bool ca_scope__covers(const struct ca_scope *s, const struct spiffe_id *id)
{
	size_t i;

	for (i = 0; s && i < s->n; i++)
		if (prefix_covers(&s->prefix[i], id))
			return true;
	return false;
}

struct ca_scope *ca_scope__dup(const struct ca_scope *s)
{
	struct ca_scope *c = scope_alloc(s->n);

	if (!c)
		return NULL;
	memcpy(c->node, s->node, sizeof(c->node));
	if (s->n)
		memcpy(c->prefix, s->prefix, s->n * sizeof(*s->prefix));
	c->n = s->n;
	return c;
}

bool ca_scope__equal(const struct ca_scope *a, const struct ca_scope *b)
{
	size_t i;

	if (!a || !b)
		return a == b;
	if (strcmp(a->node, b->node) || a->n != b->n)
		return false;
	for (i = 0; i < a->n; i++)
		if (strcmp(a->prefix[i].str, b->prefix[i].str))
			return false;
	return true;
}

bool ca_scope__within(const struct ca_scope *inner,
		      const struct ca_scope *outer)
{
	size_t i;

	for (i = 0; i < inner->n; i++)
		if (!ca_scope__covers(outer, &inner->prefix[i]))
			return false;
	return true;
}

/* ---- DER ----------------------------------------------------------------- */

static NT_SCOPE *scope_to_asn1(const struct ca_scope *s)
{
	NT_SCOPE *a = NT_SCOPE_new();
	ASN1_IA5STRING *str;
	size_t i;

	if (!a || !ASN1_STRING_set(a->node, s->node, (int)strlen(s->node)))
		goto fail;
	for (i = 0; i < s->n; i++) {
		str = ASN1_IA5STRING_new();
		if (!str || !ASN1_STRING_set(str, s->prefix[i].str,
					     (int)s->prefix[i].len) ||
		    !sk_ASN1_UTF8STRING_push(a->prefixes, str)) {
			ASN1_IA5STRING_free(str);
			goto fail;
		}
	}
	return a;
fail:
	NT_SCOPE_free(a);
	return NULL;
}

int ca_scope__to_der(const struct ca_scope *s, unsigned char **der,
		     size_t *len, struct nt_err *err)
{
	NT_SCOPE *a = scope_to_asn1(s);
	unsigned char *buf = NULL;
	int n = a ? i2d_NT_SCOPE(a, &buf) : -1;

	NT_SCOPE_free(a);
	if (n <= 0)
		return nt_err_ssl(err, -ENOMEM, "failed to encode the scope");
	*der = buf;
	*len = (size_t)n;
	return 0;
}

static int asn1_to_scope(const NT_SCOPE *a, struct ca_scope **out,
			 struct nt_err *err)
{
	int n = sk_ASN1_UTF8STRING_num(a->prefixes), i, ret;
	const ASN1_STRING *str;
	struct ca_scope *s;

	if (n <= 0 || n > CA_SCOPE_MAX)
		return nt_err_set(err, -EINVAL,
				  "scope holds %d prefixes, 1 to %d allowed",
				  n, CA_SCOPE_MAX);
	ret = name_check_len((const char *)ASN1_STRING_get0_data(a->node),
			     (size_t)ASN1_STRING_length(a->node), err);
	if (ret)
		return nt_err_prefix(err, ret, "scope");
	s = scope_alloc((size_t)n);
	if (!s)
		return nt_err_set(err, -ENOMEM, "out of memory");
	memcpy(s->node, ASN1_STRING_get0_data(a->node),
	       (size_t)ASN1_STRING_length(a->node));
	for (i = 0; i < n; i++) {
		str = sk_ASN1_UTF8STRING_value(a->prefixes, i);
		ret = spiffe_id__parse(&s->prefix[i],
				       (const char *)ASN1_STRING_get0_data(str),
				       (size_t)ASN1_STRING_length(str), err);
		if (ret) {
			nt_err_prefix(err, ret, "scope prefix");
			goto fail;
		}
		/* Canonical: strictly ascending. */
		if (i && strcmp(s->prefix[i - 1].str, s->prefix[i].str) >= 0) {
			ret = nt_err_set(err, -EINVAL,
					 "scope prefixes are not sorted and distinct");
			goto fail;
		}
	}
	s->n = (size_t)n;
	ret = scope_finish(s, err);
	if (ret)
		goto fail;
	*out = s;
	return 0;
fail:
	ca_scope__free(s);
	return ret;
}

int ca_scope__parse_der(const unsigned char *der, size_t len,
			struct ca_scope **out, struct nt_err *err)
{
	const unsigned char *p = der;
	unsigned char *again = NULL;
	NT_SCOPE *a;
	int n, ret;

	if (len > (1u << 16))
		return nt_err_set(err, -EINVAL, "scope extension too large");
	a = d2i_NT_SCOPE(NULL, &p, (long)len);
	if (!a || p != der + len) {
		NT_SCOPE_free(a);
		ERR_clear_error();
		return nt_err_set(err, -EINVAL, "scope extension is not valid DER");
	}
	/* BER (indefinite lengths, long forms) decodes too: only the one DER
	 * spelling is accepted. */
	n = i2d_NT_SCOPE(a, &again);
	if (n != (int)len || memcmp(again, der, len)) {
		ret = nt_err_set(err, -EINVAL,
				 "scope extension is not in canonical DER");
		goto out;
	}
	ret = asn1_to_scope(a, out, err);
out:
	OPENSSL_free(again);
	NT_SCOPE_free(a);
	return ret;
}

static ASN1_OBJECT *scope_oid(void)
{
	return OBJ_txt2obj(CA_SCOPE_OID, 1);
}

int ca_scope__from_cert(X509 *x, struct ca_scope **out, struct nt_err *err)
{
	ASN1_OBJECT *oid = scope_oid();
	const ASN1_OCTET_STRING *v;
	X509_EXTENSION *ext;
	int pos;

	if (!oid)
		return nt_err_ssl(err, -ENOMEM, "failed to make the scope OID");
	pos = X509_get_ext_by_OBJ(x, oid, -1);
	if (pos >= 0 && X509_get_ext_by_OBJ(x, oid, pos) >= 0) {
		ASN1_OBJECT_free(oid);
		return nt_err_set(err, -EINVAL, "two scope extensions");
	}
	ASN1_OBJECT_free(oid);
	if (pos < 0)
		return -ENOENT;
	ext = X509_get_ext(x, pos);
	if (X509_EXTENSION_get_critical(ext))
		return nt_err_set(err, -EINVAL,
				  "the scope extension is marked critical");
	v = X509_EXTENSION_get_data(ext);
	return ca_scope__parse_der(ASN1_STRING_get0_data(v),
				   (size_t)ASN1_STRING_length(v), out, err);
}

int ca__scope_ext(const struct ca_scope *s, X509_EXTENSION **out,
		  struct nt_err *err)
{
	ASN1_OCTET_STRING *v = ASN1_OCTET_STRING_new();
	ASN1_OBJECT *oid = scope_oid();
	unsigned char *der = NULL;
	size_t len = 0;
	int ret;

	ret = ca_scope__to_der(s, &der, &len, err);
	if (ret)
		goto out;
	if (!v || !oid || !ASN1_OCTET_STRING_set(v, der, (int)len) ||
	    !(*out = X509_EXTENSION_create_by_OBJ(NULL, oid, 0, v)))
		ret = nt_err_ssl(err, -ENOMEM, "failed to build the scope extension");
out:
	OPENSSL_free(der);
	ASN1_OCTET_STRING_free(v);
	ASN1_OBJECT_free(oid);
	return ret;
}
