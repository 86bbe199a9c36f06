// SPDX-License-Identifier: Apache-2.0
/*
 * /proc/<tgid> against the kernel's evidence, before anything is read from
 * it (the pid-reuse race of spiffe/spire #6035 is what this closes):
 *
 *  1. /proc/<tgid> is opened once and everything else is read through that
 *     directory fd. The fd is bound to the process it was opened for: if
 *     that process exits, lookups through it fail, even if the pid number
 *     is handed to a new process meanwhile.
 *  2. Its start time (field 22 of stat, clock ticks since boot) must equal
 *     the evidence's, so the fd is known to belong to the very process the
 *     kernel saw, not to a later holder of the same pid.
 *  3. The executable (stat through the exe link) must have the evidence's
 *     inode and device; then exe is opened (the magic link opens the file
 *     the kernel ran, even if the path now names something else) and the
 *     open fd is checked again, so nothing can be swapped between the check
 *     and the read. The hash is taken from that fd.
 *
 * unix:path is a name, and a name is only as good as the namespace it is
 * read in: readlink of exe gives the path as seen from the process's own
 * mount namespace, where an unprivileged user with a user namespace can
 * mount anything at /usr/bin/anything. So the path is emitted only when,
 * looked up here, it still names the very file that ran.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "attest/attest_int.h"

#define NSEC_PER_SEC		1000000000ULL
#define PROC_STAT_MAX		4096
#define PROC_STAT_START_FIELD	22	/* starttime, proc_pid_stat(5) */
#define DELETED_SUFFIX		" (deleted)"

uint32_t dev__to_kernel(dev_t dev)
{
	/* The kernel keeps 12 bits of major and 20 of minor (MKDEV). */
	return (uint32_t)(((major(dev) & 0xfff) << 20) | (minor(dev) & 0xfffff));
}

static bool same_exe(const struct stat *st, const struct attest_evidence *ev)
{
	return (uint64_t)st->st_ino == ev->exe_ino &&
	       dev__to_kernel(st->st_dev) == ev->exe_dev;
}

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_ino == b->st_ino && a->st_dev == b->st_dev;
}

static void note(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void note(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, size, fmt, ap);
	va_end(ap);
}

/* The process checks guard both the path and the hash: one reason for both. */
static int skip_both(struct attest_result *res, const struct attest_evidence *ev,
		     const char *what, int errnum)
{
	char why[sizeof(res->sha256_skipped)];

	if (errnum == ENOENT || errnum == ESRCH)
		note(why, sizeof(why), "process exited");
	else if (errnum)
		note(why, sizeof(why), "cannot read /proc/%u/%s: %s", ev->tgid,
		     what, strerror(errnum));
	else
		note(why, sizeof(why), "%s", what);
	memcpy(res->sha256_skipped, why, sizeof(why));
	memcpy(res->path_skipped, why, sizeof(why));
	return 0;
}

static int read_small(int dfd, const char *name, char *buf, size_t size)
{
	size_t used = 0;
	ssize_t n;
	int fd, ret = 0;

	fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (used + 1 < size) {
		n = read(fd, buf + used, size - used - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			break;
		}
		if (n == 0)
			break;
		used += n;
	}
	close(fd);
	buf[used] = '\0';
	return ret;
}

/* Field 22 of /proc/PID/stat. Field 2 is "(comm)", and comm may hold
 * spaces and parentheses itself, so fields are counted after the LAST ')'. */
static int read_start_ticks(int dfd, uint64_t *ticks)
{
	char buf[PROC_STAT_MAX], *p, *tok, *save = NULL, *end;
	unsigned long long v;
	int field = 3, ret;

	ret = read_small(dfd, "stat", buf, sizeof(buf));
	if (ret)
		return ret;
	p = strrchr(buf, ')');
	if (!p)
		return -EPROTO;
	for (tok = strtok_r(p + 1, " \n", &save); tok;
	     tok = strtok_r(NULL, " \n", &save), field++) {
		if (field != PROC_STAT_START_FIELD)
			continue;
		if (*tok < '0' || *tok > '9')
			return -EPROTO;
		errno = 0;
		v = strtoull(tok, &end, 10);
		if (errno || *end)
			return -EPROTO;
		*ticks = v;
		return 0;
	}
	return -EPROTO;
}

static int open_pid_dir(const struct attest_ctx *ctx, uint32_t tgid)
{
	char path[ATTEST_PATH_MAX];
	int n;

	n = snprintf(path, sizeof(path), "%s/%u", ctx->proc_root, tgid);
	if (n < 0 || (size_t)n >= sizeof(path))
		return -ENAMETOOLONG;
	n = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return n < 0 ? -errno : n;
}

/* Steps 1 and 2. 0 when @dfd is the evidence's process, 1 when not (reason
 * in @res). */
static int check_start_time(const struct attest_ctx *ctx, int dfd,
			    const struct attest_evidence *ev,
			    struct attest_result *res)
{
	uint64_t ticks, want;
	int ret;

	ret = read_start_ticks(dfd, &ticks);
	if (ret == -EPROTO) {
		skip_both(res, ev, "cannot parse /proc stat", 0);
		return 1;
	}
	if (ret) {
		skip_both(res, ev, "stat", -ret);
		return 1;
	}
	/* The kernel's own conversion: nsec_to_clock_t() divides by
	 * NSEC_PER_SEC / USER_HZ, an exact integer. */
	want = ev->start_boottime / (NSEC_PER_SEC / (uint64_t)ctx->clk_tck);
	if (ticks != want) {
		skip_both(res, ev, "pid reused (start time differs)", 0);
		return 1;
	}
	return 0;
}

/* Step 3: the open, re-checked exe. Returns the fd, or -1 with a reason. */
static int open_exe(int dfd, const struct attest_evidence *ev,
		    struct attest_result *res, struct stat *st)
{
	int fd;

	if (fstatat(dfd, "exe", st, 0)) {
		skip_both(res, ev, "exe", errno);
		return -1;
	}
	if (!same_exe(st, ev)) {
		skip_both(res, ev, "exe changed since exec", 0);
		return -1;
	}
	fd = openat(dfd, "exe", O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		skip_both(res, ev, "exe", errno);
		return -1;
	}
	/* What was opened is what gets hashed: check it, not the name. */
	if (fstat(fd, st) || !S_ISREG(st->st_mode) || !same_exe(st, ev)) {
		close(fd);
		skip_both(res, ev, "exe changed since exec", 0);
		return -1;
	}
	return fd;
}

static bool names_file(const char *path, const struct stat *exe)
{
	struct stat st;

	/* No symlink at the end: the kernel's path never has one there, so
	 * one found now was planted by someone. */
	return fstatat(AT_FDCWD, path, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	       S_ISREG(st.st_mode) && same_file(&st, exe);
}

/* The exe's path, as readlink gives it, minus the kernel's " (deleted)"
 * mark; unix:path only when that path here is still the file that ran. */
static void exe_name(int dfd, const struct attest_evidence *ev,
		     const struct stat *exe, struct attest_result *res)
{
	const size_t sfx = sizeof(DELETED_SUFFIX) - 1;
	char *buf = res->exe_path;
	ssize_t n;

	n = readlinkat(dfd, "exe", buf, sizeof(res->exe_path) - 1);
	if (n < 0 || (size_t)n >= sizeof(res->exe_path) - 1) {
		buf[0] = '\0';
		note(res->path_skipped, sizeof(res->path_skipped),
		     "cannot read the exe path: %s",
		     n < 0 ? strerror(errno) : "too long");
		return;
	}
	buf[n] = '\0';
	/* A file may really be named "x (deleted)": believe the mark only
	 * when the name as given is not the file. */
	if (!names_file(buf, exe) && (size_t)n > sfx &&
	    !strcmp(buf + n - sfx, DELETED_SUFFIX)) {
		buf[n - sfx] = '\0';
		res->exe_deleted = true;
	}
	if (buf[0] != '/')
		note(res->path_skipped, sizeof(res->path_skipped),
		     "exe path is not absolute");
	else if (res->exe_deleted && !names_file(buf, exe))
		note(res->path_skipped, sizeof(res->path_skipped),
		     "exe deleted or replaced since exec");
	else if (!names_file(buf, exe))
		note(res->path_skipped, sizeof(res->path_skipped),
		     "exe path names another file here (other mount namespace?)");
}

int proc__check_exe(struct attest_ctx *ctx, const struct attest_evidence *ev,
		    struct attest_result *res, struct nt_err *err)
{
	struct stat st;
	int dfd, fd = -1, ret = 0;

	if (!ev->tgid)
		return skip_both(res, ev, "no process in the evidence", 0);
	dfd = open_pid_dir(ctx, ev->tgid);
	if (dfd < 0)
		return skip_both(res, ev, "", -dfd);
	if (check_start_time(ctx, dfd, ev, res))
		goto out;
	fd = open_exe(dfd, ev, res, &st);
	if (fd < 0)
		goto out;
	exe_name(dfd, ev, &st, res);
	ret = hash__exe(ctx, fd, res->sha256, res->sha256_skipped,
			sizeof(res->sha256_skipped), err);
	if (ret > 0)
		ret = 0;
	close(fd);
out:
	close(dfd);
	return ret;
}
