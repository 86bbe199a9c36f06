// SPDX-License-Identifier: Apache-2.0
/*
 * User and group names from passwd(5)- and group(5)-style files, parsed
 * here rather than through getpwuid()/getgrgid(): those run the NSS modules
 * of nsswitch.conf (LDAP, sssd, systemd's dynamic users...) inside the
 * daemon, may block on the network, and cannot be pointed at a test's own
 * files. Only local names are selectors; an id without a line gets none.
 *
 * Both formats begin NAME:PASSWORD:ID:, which is all this file reads.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "attest/attest_int.h"

#define ACCOUNTS_LINE_MAX	4096	/* longer lines are skipped */

/* Reads a decimal id of [s, end). Leading zeros are tolerated here: the
 * file is the system's, and the name, not the spelling, is what we take. */
static bool parse_id(const char *s, const char *end, uint32_t *id)
{
	uint64_t n = 0;

	if (s == end)
		return false;
	for (; s < end; s++) {
		if (*s < '0' || *s > '9')
			return false;
		n = n * 10 + (uint64_t)(*s - '0');
		if (n > UINT32_MAX)
			return false;
	}
	*id = (uint32_t)n;
	return true;
}

/* 0 when @line is for @id and its name was copied, 1 otherwise. */
static int match_line(const char *line, uint32_t id, char *name, size_t size)
{
	const char *c1, *c2, *c3;
	uint32_t got;

	/* comments, and NIS compat entries ("+user", "-@group") are no
	 * local names */
	if (line[0] == '#' || line[0] == '+' || line[0] == '-')
		return 1;
	c1 = strchr(line, ':');
	c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	c3 = c2 ? strchr(c2 + 1, ':') : NULL;
	if (!c3 || c1 == line)
		return 1;
	if (!parse_id(c2 + 1, c3, &got) || got != id)
		return 1;
	if ((size_t)(c1 - line) >= size)
		return 1;
	memcpy(name, line, c1 - line);
	name[c1 - line] = '\0';
	return 0;
}

/* Discards the rest of a line too long for the buffer. */
static void skip_rest(FILE *f)
{
	int c;

	do
		c = getc(f);
	while (c != EOF && c != '\n');
}

int accounts__name(const char *file, uint32_t id, char *name, size_t size)
{
	char line[ACCOUNTS_LINE_MAX];
	int ret = 1;
	size_t len;
	FILE *f;

	f = fopen(file, "re");
	if (!f)
		return errno == ENOENT ? 1 : -errno;
	while (fgets(line, sizeof(line), f)) {
		len = strlen(line);
		if (len && line[len - 1] == '\n') {
			line[len - 1] = '\0';
		} else if (!feof(f)) {
			skip_rest(f);
			continue;
		}
		if (match_line(line, id, name, size) == 0) {
			ret = 0;
			break;
		}
	}
	if (ret && ferror(f))
		ret = -EIO;
	fclose(f);
	return ret;
}
