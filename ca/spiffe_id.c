// SPDX-License-Identifier: Apache-2.0
/*
 * SPIFFE IDs (spiffe/spiffe standards/SPIFFE-ID.md).
 *
 *	spiffe://TRUST-DOMAIN[/SEGMENT]...
 *
 * The parser is a validator first: an ID that an SVID carries, or that an
 * allow rule names, is compared byte for byte, so every ID that reaches the
 * rest of nametag must already be in its one canonical spelling. Nothing is
 * normalised (no lowercasing, no percent-decoding, no dot-segment removal);
 * anything that would need it is refused, with a message naming the rule.
 *
 * Every failure returns -EINVAL (also for an ID longer than 2048 bytes, so
 * callers such as x509__spiffe_id can promise -EINVAL for "not a SPIFFE ID")
 * and leaves @id empty (len 0, str ""), so a caller that ignores the return
 * never holds half an ID.
 *
 * Offsets in messages count bytes from the start of the string that was
 * checked: the whole ID for spiffe_id__parse, the bare name for
 * spiffe_td__check, and the one value for a segment of spiffe_id__build.
 * Path segments are counted from 1, as a person reads the ID.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ca/ca.h"

#define TD_CHARSET	"[a-z0-9._-]"
#define SEG_CHARSET	"[a-zA-Z0-9._-]"

/* Character classes by hand rather than <ctype.h>: the rules are ASCII
 * ranges and must not change with the locale. */
static bool is_lower(unsigned char c)
{
	return c >= 'a' && c <= 'z';
}

static bool is_upper(unsigned char c)
{
	return c >= 'A' && c <= 'Z';
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool is_td_char(unsigned char c)
{
	return is_lower(c) || is_digit(c) || c == '.' || c == '-' || c == '_';
}

static bool is_seg_char(unsigned char c)
{
	return is_td_char(c) || is_upper(c);
}

static unsigned char ascii_lower(unsigned char c)
{
	return is_upper(c) ? c - 'A' + 'a' : c;
}

/* Case-insensitive prefix match of @n bytes, for the "did you mean" checks. */
static bool prefix_nocase(const char *s, size_t len, const char *prefix,
			  size_t n)
{
	size_t i;

	if (len < n)
		return false;
	for (i = 0; i < n; i++)
		if (ascii_lower(s[i]) != (unsigned char)prefix[i])
			return false;
	return true;
}

/* A byte as it should appear in a message: quoted when printable, \xNN
 * otherwise, so a message never carries raw control or non-ASCII bytes. */
struct byte_repr {
	char s[8];
};

static struct byte_repr byte_repr(unsigned char c)
{
	struct byte_repr r;

	if (c >= 0x20 && c < 0x7f)
		snprintf(r.s, sizeof(r.s), "'%c'", c);
	else
		snprintf(r.s, sizeof(r.s), "\\x%02x", c);
	return r;
}

/* Why a byte outside the charset is wrong, when there is more to say than
 * "outside the charset". Returned with its leading ": ". */
static const char *common_reason(unsigned char c)
{
	switch (c) {
	case '%':
		return ": percent-encoding is not allowed";
	case '?':
		return ": a query is not allowed";
	case '#':
		return ": a fragment is not allowed";
	case '\0':
		return ": nul bytes are not allowed";
	}
	if (c >= 0x80)
		return ": non-ascii bytes are not allowed";
	if (c <= 0x20 || c == 0x7f)
		return ": whitespace and control characters are not allowed";
	return "";
}

static const char *td_reason(unsigned char c)
{
	if (is_upper(c))
		return ": uppercase is not allowed";
	switch (c) {
	case ':':
		return ": a port is not allowed";
	case '@':
		return ": userinfo is not allowed";
	case '[':
	case ']':
		return ": ip literals are not allowed";
	case '/':
		return ": a trust domain has no path";
	}
	return common_reason(c);
}

static const char *seg_reason(unsigned char c)
{
	/* Only spiffe_id__build can see a '/' inside a segment: a value that
	 * carried one would smuggle extra segments into the ID. */
	if (c == '/')
		return ": a value must not add path segments";
	return common_reason(c);
}

/* Trust domain name rules; @base is the offset of @td in what the caller
 * is checking, so the message points into the caller's string. */
static int check_td(const char *td, size_t len, size_t base,
		    struct nt_err *err)
{
	unsigned char c;
	size_t i;

	if (len == 0)
		return nt_err_set(err, -EINVAL, "trust domain is empty");
	if (len > SPIFFE_TD_MAX)
		return nt_err_set(err, -EINVAL,
				  "trust domain is %zu bytes, more than %d",
				  len, SPIFFE_TD_MAX);
	for (i = 0; i < len; i++) {
		c = td[i];
		if (is_td_char(c))
			continue;
		return nt_err_set(err, -EINVAL,
				  "trust domain contains a character outside "
				  TD_CHARSET " at offset %zu (%s)%s",
				  base + i, byte_repr(c).s, td_reason(c));
	}
	return 0;
}

/* One path segment, @n counted from 1; @base as for check_td. */
static int check_seg(const char *seg, size_t len, size_t n, size_t base,
		     struct nt_err *err)
{
	unsigned char c;
	size_t i;

	if (len == 0)
		return nt_err_set(err, -EINVAL, "path segment %zu is empty", n);
	for (i = 0; i < len; i++) {
		c = seg[i];
		if (is_seg_char(c))
			continue;
		return nt_err_set(err, -EINVAL,
				  "path segment %zu contains a character "
				  "outside " SEG_CHARSET " at offset %zu "
				  "(%s)%s",
				  n, base + i, byte_repr(c).s, seg_reason(c));
	}
	/* "." and ".." are in the charset but would be removed by RFC 3986
	 * normalisation, giving one workload two spellings of its name. */
	if ((len == 1 && seg[0] == '.') ||
	    (len == 2 && seg[0] == '.' && seg[1] == '.'))
		return nt_err_set(err, -EINVAL,
				  "path segment %zu is '%.*s': dot segments "
				  "are not allowed", n, (int)len, seg);
	return 0;
}

/* Length and NUL bytes first: a NUL would cut the ID short wherever it is
 * later used as a C string, so no other rule is worth reporting before. */
static int check_bytes(const char *s, size_t len, struct nt_err *err)
{
	const char *nul;

	if (len == 0)
		return nt_err_set(err, -EINVAL, "spiffe id is empty");
	if (len > SPIFFE_ID_MAX)
		return nt_err_set(err, -EINVAL,
				  "spiffe id is %zu bytes, more than %d",
				  len, SPIFFE_ID_MAX);
	nul = memchr(s, '\0', len);
	if (nul)
		return nt_err_set(err, -EINVAL,
				  "spiffe id contains a nul byte at offset %zu",
				  (size_t)(nul - s));
	return 0;
}

/* Length of an RFC 3986 scheme name ending in ':' at @s, or 0. */
static size_t scheme_name_len(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || !is_lower(ascii_lower(s[0])))
		return 0;
	for (i = 1; i < len && i < 32; i++) {
		unsigned char c = s[i];

		if (c == ':')
			return i;
		if (!is_lower(ascii_lower(c)) && !is_digit(c) && c != '+' &&
		    c != '-' && c != '.')
			return 0;
	}
	return 0;
}

static int check_scheme(const char *s, size_t len, struct nt_err *err)
{
	size_t n;

	if (len >= SPIFFE_SCHEME_LEN &&
	    !memcmp(s, SPIFFE_SCHEME, SPIFFE_SCHEME_LEN))
		return 0;
	/* Schemes are case-insensitive in RFC 3986, but SPIFFE IDs are
	 * compared as bytes, so only the canonical lowercase form is one. */
	if (prefix_nocase(s, len, SPIFFE_SCHEME, SPIFFE_SCHEME_LEN))
		return nt_err_set(err, -EINVAL,
				  "scheme must be lowercase '" SPIFFE_SCHEME
				  "'");
	if (prefix_nocase(s, len, "spiffe:", 7))
		return nt_err_set(err, -EINVAL,
				  "spiffe id must have '//' and a trust domain "
				  "after 'spiffe:'");
	if (s[0] == ' ' || s[0] == '\t' || s[0] == '\n' || s[0] == '\r')
		return nt_err_set(err, -EINVAL,
				  "spiffe id starts with whitespace");
	n = scheme_name_len(s, len);
	if (n)
		return nt_err_set(err, -EINVAL,
				  "scheme '%.*s' is not 'spiffe'", (int)n, s);
	return nt_err_set(err, -EINVAL,
			  "spiffe id must start with '" SPIFFE_SCHEME "'");
}

/* RFC 3986 ends the authority and the path at '?' or '#', so they are
 * looked for before the trust domain: "spiffe://td?x" has a query, not a
 * bad trust domain. */
static int check_query_fragment(const char *s, size_t len,
				struct nt_err *err)
{
	size_t i;

	for (i = SPIFFE_SCHEME_LEN; i < len; i++) {
		if (s[i] == '?')
			return nt_err_set(err, -EINVAL,
					  "spiffe id has a query at offset %zu "
					  "('?'): queries are not allowed", i);
		if (s[i] == '#')
			return nt_err_set(err, -EINVAL,
					  "spiffe id has a fragment at offset "
					  "%zu ('#'): fragments are not "
					  "allowed", i);
	}
	return 0;
}

/* Index of the first '/' at or after @from, or @len. */
static size_t next_slash(const char *s, size_t from, size_t len)
{
	while (from < len && s[from] != '/')
		from++;
	return from;
}

/* The path from @start (a '/' or the end) to @len. */
static int check_path(const char *s, size_t start, size_t len,
		      struct nt_err *err)
{
	size_t i = start, seg, end, n = 0;
	int ret;

	while (i < len) {
		seg = i + 1;
		end = next_slash(s, seg, len);
		n++;
		/* An empty last segment is a trailing '/': its own rule,
		 * since "spiffe://td/" reads as the root ID to a person. */
		if (seg == len)
			return nt_err_set(err, -EINVAL,
					  "path ends with '/': a trailing '/' "
					  "is not allowed");
		ret = check_seg(s + seg, end - seg, n, seg, err);
		if (ret)
			return ret;
		i = end;
	}
	return 0;
}

static void id_clear(struct spiffe_id *id)
{
	id->str[0] = '\0';
	id->len = 0;
	id->td[0] = '\0';
	id->td_len = 0;
	id->path_off = 0;
}

/* Completes @id once id->str holds @len bytes of a valid ID. */
static void id_finish(struct spiffe_id *id, size_t len, size_t td_len)
{
	id->str[len] = '\0';
	id->len = len;
	memcpy(id->td, id->str + SPIFFE_SCHEME_LEN, td_len);
	id->td[td_len] = '\0';
	id->td_len = td_len;
	id->path_off = SPIFFE_SCHEME_LEN + td_len;
}

static int parse(const char *s, size_t len, size_t *td_len,
		 struct nt_err *err)
{
	size_t td_end;
	int ret;

	ret = check_bytes(s, len, err);
	if (!ret)
		ret = check_scheme(s, len, err);
	if (!ret)
		ret = check_query_fragment(s, len, err);
	if (ret)
		return ret;
	td_end = next_slash(s, SPIFFE_SCHEME_LEN, len);
	if (td_end == SPIFFE_SCHEME_LEN)
		return nt_err_set(err, -EINVAL,
				  "spiffe id has no trust domain");
	ret = check_td(s + SPIFFE_SCHEME_LEN, td_end - SPIFFE_SCHEME_LEN,
		       SPIFFE_SCHEME_LEN, err);
	if (!ret)
		ret = check_path(s, td_end, len, err);
	if (!ret)
		*td_len = td_end - SPIFFE_SCHEME_LEN;
	return ret;
}

int spiffe_id__parse(struct spiffe_id *id, const char *s, size_t len,
		     struct nt_err *err)
{
	size_t td_len = 0;
	int ret;

	id_clear(id);
	if (!s)
		return nt_err_set(err, -EINVAL, "spiffe id is missing");
	ret = parse(s, len, &td_len, err);
	if (ret)
		return ret;
	memcpy(id->str, s, len);
	id_finish(id, len, td_len);
	return 0;
}

int spiffe_td__check(const char *td, size_t len, struct nt_err *err)
{
	if (!td)
		return nt_err_set(err, -EINVAL, "trust domain is missing");
	/* A common slip in configuration; the charset message alone would
	 * blame the ':' as a port. */
	if (prefix_nocase(td, len, SPIFFE_SCHEME, SPIFFE_SCHEME_LEN))
		return nt_err_set(err, -EINVAL,
				  "trust domain must be a bare name such as "
				  "'example.org', not a spiffe id");
	return check_td(td, len, 0, err);
}

/* Checks every segment and the length of the ID they would make. Each
 * segment is capped on its own first so the sum cannot overflow. */
static int check_segs(size_t td_len, const struct spiffe_seg *segs,
		      size_t nseg, size_t *total, struct nt_err *err)
{
	size_t i, n = SPIFFE_SCHEME_LEN + td_len;
	int ret;

	if (nseg && !segs)
		return nt_err_set(err, -EINVAL, "path segments are missing");
	for (i = 0; i < nseg; i++) {
		if (!segs[i].s && segs[i].len)
			return nt_err_set(err, -EINVAL,
					  "path segment %zu is missing", i + 1);
		ret = check_seg(segs[i].s, segs[i].len, i + 1, 0, err);
		if (ret)
			return ret;
		if (segs[i].len > SPIFFE_ID_MAX)
			return nt_err_set(err, -EINVAL,
					  "path segment %zu is %zu bytes: the "
					  "spiffe id would be more than %d",
					  i + 1, segs[i].len, SPIFFE_ID_MAX);
		n += 1 + segs[i].len;
	}
	if (n > SPIFFE_ID_MAX)
		return nt_err_set(err, -EINVAL,
				  "spiffe id would be %zu bytes, more than %d",
				  n, SPIFFE_ID_MAX);
	*total = n;
	return 0;
}

int spiffe_id__build(struct spiffe_id *id, const char *td,
		     const struct spiffe_seg *segs, size_t nseg,
		     struct nt_err *err)
{
	size_t td_len, total = 0, off, i;
	int ret;

	id_clear(id);
	if (!td)
		return nt_err_set(err, -EINVAL, "trust domain is missing");
	td_len = strlen(td);
	ret = spiffe_td__check(td, td_len, err);
	if (!ret)
		ret = check_segs(td_len, segs, nseg, &total, err);
	if (ret)
		return ret;

	memcpy(id->str, SPIFFE_SCHEME, SPIFFE_SCHEME_LEN);
	memcpy(id->str + SPIFFE_SCHEME_LEN, td, td_len);
	off = SPIFFE_SCHEME_LEN + td_len;
	for (i = 0; i < nseg; i++) {
		id->str[off++] = '/';
		memcpy(id->str + off, segs[i].s, segs[i].len);
		off += segs[i].len;
	}
	id_finish(id, total, td_len);
	return 0;
}

bool spiffe_id__equal(const struct spiffe_id *a, const struct spiffe_id *b)
{
	return a->len == b->len && !memcmp(a->str, b->str, a->len);
}
