/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Files in the test's temp dir and selector lookups, shared by the
 * attestation tests (test_attest.c, test_attest_cgroup.c,
 * test_attest_exec.c). Setup failures abort: they are the test's bugs,
 * not the library's.
 */
#ifndef NAMETAG_TEST_FIXTURE_ATTEST_H
#define NAMETAG_TEST_FIXTURE_ATTEST_H

#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attest/attest_int.h"
#include "tests/unit/harness.h"

/* @rel under the temp dir; eight results stay valid at once. */
static inline const char *tmp_path(const char *rel)
{
	static char buf[8][PATH_MAX];
	static int slot;
	char *out = buf[slot++ & 7];

	if (snprintf(out, PATH_MAX, "%s/%s", t_tmpdir(), rel) >= PATH_MAX)
		abort();
	return out;
}

static inline void mkdirs(const char *rel)
{
	char cmd[PATH_MAX + 32];

	snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", tmp_path(rel));
	if (system(cmd) != 0)
		abort();
}

static inline void write_file(const char *path, const char *data, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	if (fd < 0 || write(fd, data, strlen(data)) != (ssize_t)strlen(data))
		abort();
	close(fd);
}

static inline uint64_t ino_of(const char *rel)
{
	struct stat st;

	if (stat(tmp_path(rel), &st))
		abort();
	return st.st_ino;
}

/* `sha256sum FILE`, as an outside reference for the library's digest. */
static inline void sha256sum(const char *file, char hex[65])
{
	char cmd[PATH_MAX + 32];
	FILE *p;

	snprintf(cmd, sizeof(cmd), "sha256sum '%s'", file);
	p = popen(cmd, "r");
	if (!p || fscanf(p, "%64s", hex) != 1)
		abort();
	pclose(p);
}

/* The value of selector "@type:@key:value", or NULL. */
static inline const char *find_sel(const struct attest_result *res,
				   const char *type, const char *key)
{
	return attest_result__selector(res, type, key);
}

#endif
