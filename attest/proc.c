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

#define WHY_MAX	sizeof(((struct attest_result *)0)->sha256_skipped)

/* Why /proc could not vouch: @what failed with @errnum, or (errnum 0)
 * @what is the reason itself. */
static void why_proc(char why[WHY_MAX], const struct attest_evidence *ev,
		     const char *what, int errnum)
{
	if (errnum == ENOENT || errnum == ESRCH)
		note(why, WHY_MAX, "process exited");
	else if (errnum)
		note(why, WHY_MAX, "cannot read /proc/%u/%s: %s", ev->tgid,
		     what, strerror(errnum));
	else
		note(why, WHY_MAX, "%s", what);
}

/* The process checks guard both the path and the hash: one reason for both. */
static int skip_both(struct attest_result *res, const char *why)
{
	note(res->sha256_skipped, sizeof(res->sha256_skipped), "%s", why);
	note(res->path_skipped, sizeof(res->path_skipped), "%s", why);
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

/* Steps 1 and 2. 0 when @dfd is the evidence's process, 1 when not
 * (reason in @why). */
static int check_start_time(const struct attest_ctx *ctx, int dfd,
			    const struct attest_evidence *ev, char why[WHY_MAX])
{
	uint64_t ticks, want;
	int ret;

	ret = read_start_ticks(dfd, &ticks);
	if (ret == -EPROTO) {
		why_proc(why, ev, "cannot parse /proc stat", 0);
		return 1;
	}
	if (ret) {
		why_proc(why, ev, "stat", -ret);
		return 1;
	}
	/* The kernel's own conversion: nsec_to_clock_t() divides by
	 * NSEC_PER_SEC / USER_HZ, an exact integer. */
	want = ev->start_boottime / (NSEC_PER_SEC / (uint64_t)ctx->clk_tck);
	if (ticks != want) {
		why_proc(why, ev, "pid reused (start time differs)", 0);
		return 1;
	}
	return 0;
}

/* Step 3: the open, re-checked exe. Returns the fd, or -1 with a reason. */
static int open_exe(int dfd, const struct attest_evidence *ev,
		    char why[WHY_MAX], struct stat *st)
{
	int fd;

	if (fstatat(dfd, "exe", st, 0)) {
		why_proc(why, ev, "exe", errno);
		return -1;
	}
	if (!same_exe(st, ev)) {
		why_proc(why, ev, "exe changed since exec", 0);
		return -1;
	}
	fd = openat(dfd, "exe", O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		why_proc(why, ev, "exe", errno);
		return -1;
	}
	/* What was opened is what gets hashed: check it, not the name. */
	if (fstat(fd, st) || !S_ISREG(st->st_mode) || !same_exe(st, ev)) {
		close(fd);
		why_proc(why, ev, "exe changed since exec", 0);
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

/*
 * What /proc can still vouch for: the evidence's process (by its start
 * time) and, when it still runs the evidence's image, that image opened
 * through exe. Returns the /proc/TGID fd (or -1) and the exe fd in @fd
 * (or -1); @why says why not.
 */
static int probe(struct attest_ctx *ctx, const struct attest_evidence *ev,
		 int *fd, struct stat *st, char why[WHY_MAX])
{
	int dfd;

	*fd = -1;
	if (!ev->tgid) {
		why_proc(why, ev, "no process in the evidence", 0);
		return -1;
	}
	dfd = open_pid_dir(ctx, ev->tgid);
	if (dfd < 0) {
		why_proc(why, ev, "", -dfd);
		return -1;
	}
	if (!check_start_time(ctx, dfd, ev, why))
		*fd = open_exe(dfd, ev, why, st);
	return dfd;
}

/* Without the kernel's exec record: everything from the live process. */
static int from_proc(struct attest_ctx *ctx, const struct attest_evidence *ev,
		     struct attest_result *res, struct nt_err *err)
{
	char why[WHY_MAX] = "";
	struct stat st;
	int dfd, fd, ret;

	dfd = probe(ctx, ev, &fd, &st, why);
	if (fd < 0) {
		ret = skip_both(res, why);
		goto out;
	}
	exe_name(dfd, ev, &st, res);
	ret = hash__exe(ctx, fd, NULL, res->sha256, res->sha256_skipped,
			sizeof(res->sha256_skipped), err);
	if (ret > 0)
		ret = 0;
	close(fd);
out:
	if (dfd >= 0)
		close(dfd);
	return ret;
}

/* ---- with the kernel's exec record -------------------------------------- */

static void stamp_key(const struct attest_evidence *ev, struct hash_key *k)
{
	memset(k, 0, sizeof(*k));
	k->ino = ev->exe_ino;
	k->dev = ev->exe_dev;
	k->ctime_sec = ev->exe_ctime_sec;
	k->ctime_nsec = ev->exe_ctime_nsec;
	k->size = ev->exe_size;
}

/*
 * unix:path from the name the kernel recorded at exec, looked up here: a
 * path that names the very file that ran (symlinks followed, the result
 * checked with no symlink at its end). 1 with @resolved filled when it
 * does, 0 when not (reason in res->path_skipped).
 */
static int name_from_record(const struct attest_evidence *ev, bool live,
			    struct attest_result *res,
			    char resolved[ATTEST_PATH_MAX])
{
	struct hash_key want, got;
	struct stat st;

	note(res->exe_path, sizeof(res->exe_path), "%s", ev->exe_name);
	if (ev->exe_name[0] != '/') {
		note(res->path_skipped, sizeof(res->path_skipped),
		     "exe was exec'd by a relative name");
		return 0;
	}
	if (!realpath(ev->exe_name, resolved)) {
		note(res->path_skipped, sizeof(res->path_skipped),
		     errno == ENOENT ?
		     "exe deleted or renamed since exec (or another mount namespace?)" :
		     "cannot resolve the exe path: %s", strerror(errno));
		return 0;
	}
	if (fstatat(AT_FDCWD, resolved, &st, AT_SYMLINK_NOFOLLOW) ||
	    !S_ISREG(st.st_mode) || !same_exe(&st, ev)) {
		note(res->path_skipped, sizeof(res->path_skipped),
		     "exe path names another file here (replaced since exec, or another mount namespace?)");
		return 0;
	}
	/* A running exe pins its inode; once the process is gone, its inode
	 * number may be a new file's: only the recorded version is it. */
	stamp_key(ev, &want);
	hash__key_of_stat(&st, &got);
	if (!live && memcmp(&want, &got, sizeof(want))) {
		note(res->path_skipped, sizeof(res->path_skipped),
		     "exe modified or replaced since %s (ctime or size differ from the kernel's record)",
		     ev->exe_at_exec ? "exec" : "the connection");
		return 0;
	}
	note(res->exe_path, sizeof(res->exe_path), "%s", resolved);
	return 1;
}

/* The exited (or re-exec'd) process's file, opened by the name it was
 * exec'd by: only the very version the kernel recorded is hashed. */
static int open_by_name(const struct attest_evidence *ev, const char *path,
			char why[WHY_MAX])
{
	struct hash_key want, got;
	struct stat st;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
	if (fd < 0) {
		note(why, WHY_MAX, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	stamp_key(ev, &want);
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || !same_exe(&st, ev)) {
		note(why, WHY_MAX, "exe path names another file now");
		goto fail;
	}
	hash__key_of_stat(&st, &got);
	if (memcmp(&want, &got, sizeof(want))) {
		note(why, WHY_MAX,
		     "exe modified or replaced since %s (ctime or size differ from the kernel's record)",
		     ev->exe_at_exec ? "exec" : "the connection");
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}

/*
 * The kernel recorded the version of the file that ran, so the hash of
 * that version is all unix:sha256 needs: from the cache, else from the
 * live process's exe (the kernel refuses writes to a running executable,
 * so its bytes are the exec'd ones even if its ctime moved since: chmod,
 * link, unlink), else from the file opened by its exec name if it is still
 * that version. The process may be gone, or running another image.
 */
static int from_record(struct attest_ctx *ctx, const struct attest_evidence *ev,
		       struct attest_result *res, struct nt_err *err)
{
	char why[WHY_MAX] = "", resolved[ATTEST_PATH_MAX] = "";
	struct hash_key stamp;
	struct stat st;
	int dfd, fd, named = 0, ret = 0;

	dfd = probe(ctx, ev, &fd, &st, why);
	if (ev->exe_name && ev->exe_name[0])
		named = name_from_record(ev, fd >= 0, res, resolved);
	if (!named && fd >= 0) {
		/* A relative name, or one from another mount namespace:
		 * the live process's own link, checked the same way. */
		res->exe_path[0] = res->path_skipped[0] = '\0';
		exe_name(dfd, ev, &st, res);
	} else if (!named && !(ev->exe_name && ev->exe_name[0])) {
		note(res->path_skipped, sizeof(res->path_skipped),
		     "%s, and the kernel recorded no exe name", why);
	}
	stamp_key(ev, &stamp);
	if (hash__cached(ctx, &stamp, res->sha256))
		goto out;
	if (fd < 0 && named)
		fd = open_by_name(ev, resolved, why);
	else if (fd < 0 && ev->exe_name && ev->exe_name[0])
		note(why + strlen(why), WHY_MAX - strlen(why), "; %s",
		     res->path_skipped);
	else if (fd < 0)	/* the reason is in path_skipped already */
		note(why, WHY_MAX, "%s", res->path_skipped);
	if (fd < 0) {
		note(res->sha256_skipped, sizeof(res->sha256_skipped), "%s", why);
		goto out;
	}
	ret = hash__exe(ctx, fd, &stamp, res->sha256, res->sha256_skipped,
			sizeof(res->sha256_skipped), err);
	if (ret > 0)
		ret = 0;
out:
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	return ret;
}

int proc__check_exe(struct attest_ctx *ctx, const struct attest_evidence *ev,
		    struct attest_result *res, struct nt_err *err)
{
	if (ev->exe_stamped)
		return from_record(ctx, ev, res, err);
	return from_proc(ctx, ev, res, err);
}
