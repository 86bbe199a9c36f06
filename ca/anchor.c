// SPDX-License-Identifier: Apache-2.0
/*
 * Trust anchors pinned by SHA-256. The hash is of the whole certificate
 * (its DER), not of its key: it is what `openssl x509 -fingerprint
 * -sha256` prints, so an operator can take the pin from the root's file
 * without nametag, and a root re-issued on the same key is a new anchor
 * to pin on purpose.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "ca/ca.h"

static int hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int trust_anchor__parse(const char *s, uint8_t out[ANCHOR_LEN],
			struct nt_err *err)
{
	static const char *const prefixes[] = {
		"sha256 Fingerprint=", "sha256:", NULL,
	};
	const char *p = s;
	bool colons;
	size_t i;
	int hi, lo;

	if (!s || !*s)
		return nt_err_set(err, -EINVAL, "empty trust anchor");
	for (i = 0; prefixes[i]; i++)
		if (!strncasecmp(p, prefixes[i], strlen(prefixes[i]))) {
			p += strlen(prefixes[i]);
			break;
		}
	colons = strlen(p) == 3 * ANCHOR_LEN - 1;
	if (!colons && strlen(p) != 2 * ANCHOR_LEN)
		return nt_err_set(err, -EINVAL,
				  "trust anchor '%.80s': expected the SHA-256 of the root certificate, 64 hex digits (colons allowed), as 'openssl x509 -noout -fingerprint -sha256' prints it",
				  s);
	for (i = 0; i < ANCHOR_LEN; i++, p += 2 + colons) {
		hi = hex_val(p[0]);
		lo = hex_val(p[1]);
		if (hi < 0 || lo < 0 || (colons && i + 1 < ANCHOR_LEN && p[2] != ':'))
			return nt_err_set(err, -EINVAL,
					  "trust anchor '%.80s': not a hex digit at byte %zu",
					  s, i + 1);
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

static int digest(X509 *cert, uint8_t md[ANCHOR_LEN])
{
	unsigned int n = 0;

	if (!X509_digest(cert, EVP_sha256(), md, &n) || n != ANCHOR_LEN)
		return -EINVAL;
	return 0;
}

int trust_anchor__of(X509 *cert, char out[ANCHOR_STR_MAX])
{
	uint8_t md[ANCHOR_LEN];
	size_t i;

	out[0] = '\0';
	if (digest(cert, md))
		return -EINVAL;
	memcpy(out, "sha256:", 7);
	for (i = 0; i < ANCHOR_LEN; i++)
		snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
	return 0;
}

/* "sha256:ab12...(CN), ..." for an error: what the bundle holds. */
static void describe(const struct bundle *b, char *buf, size_t size)
{
	char fp[ANCHOR_STR_MAX], cn[64];
	size_t used = 0, j;
	X509 *c;
	int i;

	buf[0] = '\0';
	for (i = 0; i < sk_X509_num(b->x509_authorities) && used < size; i++) {
		c = sk_X509_value(b->x509_authorities, i);
		if (trust_anchor__of(c, fp))
			snprintf(fp, sizeof(fp), "(unencodable)");
		if (X509_NAME_get_text_by_NID(X509_get_subject_name(c),
					      NID_commonName, cn, sizeof(cn)) < 0)
			snprintf(cn, sizeof(cn), "no CN");
		for (j = 0; cn[j]; j++)	/* the bundle's text, into a log */
			if (!isprint((unsigned char)cn[j]))
				cn[j] = '?';
		used += (size_t)snprintf(buf + used, size - used, "%s%s (%s)",
					 i ? ", " : "", fp, cn);
	}
	if (!i)
		snprintf(buf, size, "no X.509 authority");
}

int bundle__pinned(const struct bundle *b, const uint8_t pin[ANCHOR_LEN],
		   struct bundle **out, struct nt_err *err)
{
	struct bundle *p = NULL;
	uint8_t md[ANCHOR_LEN];
	char held[512];
	X509 *c;
	int i, ret;

	*out = NULL;
	ret = bundle__new(&p, b->td, err);
	for (i = 0; !ret && i < sk_X509_num(b->x509_authorities); i++) {
		c = sk_X509_value(b->x509_authorities, i);
		if (digest(c, md) || memcmp(md, pin, ANCHOR_LEN))
			continue;
		ret = bundle__add_authority(p, c, err);
		if (ret > 0)
			ret = 0;
	}
	if (!ret && !sk_X509_num(p->x509_authorities)) {
		describe(b, held, sizeof(held));
		ret = nt_err_set(err, -EACCES,
				 "the bundle of %s holds no root of the pinned trust anchor (it holds %s)",
				 b->td, held);
	}
	if (ret) {
		bundle__free(p);
		return ret;
	}
	*out = p;
	return 0;
}
