// SPDX-License-Identifier: Apache-2.0
/*
 * Strict base64 (RFC 4648 §4 and §5) for values that cross the network:
 * etcd's keys and values, signatures in node CA requests. One spelling per
 * byte string, so a value can be compared in its encoded form.
 */
#include <errno.h>
#include <stdlib.h>

#include "lib/ntcore.h"

/* 0..63, or -1 for a byte outside the alphabet. */
static int sym(unsigned char c, bool url)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == (url ? '-' : '+'))
		return 62;
	if (c == (url ? '_' : '/'))
		return 63;
	return -1;
}

static size_t unpadded_len(const char *s, size_t len, bool url, bool *ok)
{
	size_t pad = 0;

	*ok = true;
	if (url)
		return len;
	if (len % 4) {
		*ok = false;
		return 0;
	}
	while (pad < 2 && len > pad && s[len - 1 - pad] == '=')
		pad++;
	return len - pad;
}

int b64__decode(const char *s, size_t len, bool url, unsigned char **out,
		size_t *out_len)
{
	unsigned int acc = 0, bits = 0;
	unsigned char *buf;
	size_t i, n, o = 0;
	bool ok;
	int v;

	n = unpadded_len(s, len, url, &ok);
	if (!ok || n % 4 == 1)
		return -EINVAL;
	buf = malloc(n / 4 * 3 + 3);
	if (!buf)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		v = sym((unsigned char)s[i], url);
		if (v < 0)
			goto bad;
		acc = (acc << 6) | (unsigned int)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf[o++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	/* Leftover bits must be zero: "QQ==" is 'A', "QR==" is refused. */
	if (acc)
		goto bad;
	buf[o] = '\0';
	*out = buf;
	*out_len = o;
	return 0;
bad:
	free(buf);
	return -EINVAL;
}

char *b64__encode(const unsigned char *p, size_t n, bool url)
{
	static const char std[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	static const char web[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	const char *abc = url ? web : std;
	unsigned int acc = 0, bits = 0;
	size_t i, o = 0;
	char *s;

	if (n > (SIZE_MAX - 8) / 4 * 3)
		return NULL;
	s = malloc(n / 3 * 4 + 5);
	if (!s)
		return NULL;
	for (i = 0; i < n; i++) {
		acc = ((acc << 8) | p[i]) & 0xffff;
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			s[o++] = abc[(acc >> bits) & 63];
		}
	}
	if (bits)
		s[o++] = abc[(acc << (6 - bits)) & 63];
	while (!url && o % 4)
		s[o++] = '=';
	s[o] = '\0';
	return s;
}
