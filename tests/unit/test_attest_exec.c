// SPDX-License-Identifier: Apache-2.0
/*
 * Attestation from the kernel's exec record (attest/proc.c, hash.c),
 * root-free: evidence that carries the exe's version (ctime, size) and the
 * name it was exec'd by needs no live process. A child runs a copy of
 * sleep, and its evidence is what the kernel would have recorded at exec;
 * then the child is gone, or its file changes, and the result says what
 * can still be vouched for.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "attest/attest_int.h"
#include "tests/unit/fixture_attest.h"
#include "tests/unit/harness.h"

/* A shell command with @arg as $1. */
static void sh(const char *script, const char *arg)
{
	char cmd[2 * PATH_MAX];

	snprintf(cmd, sizeof(cmd), "sh -c '%s' _ '%s'", script, arg);
	if (system(cmd) != 0)
		abort();
}

/* Every selector this file asks about is of type "unix". */
static const char *unix_sel(const struct attest_result *res, const char *key)
{
	return find_sel(res, "unix", key);
}

static struct attest_ctx *new_ctx(void)
{
	struct attest_env env = { .cgroup_root = t_tmpdir(),
				  .passwd_file = "/dev/null",
				  .group_file = "/dev/null" };
	struct nt_err err = { "" };
	struct attest_ctx *ctx;

	if (attest__new(&ctx, &env, &err))
		abort();
	return ctx;
}

/* What the kernel records at exec of @path by @pid: the file and its
 * version, and the name. */
static void record(struct attest_evidence *ev, pid_t pid, const char *path)
{
	struct stat st;

	if (stat(path, &st))
		abort();
	memset(ev, 0, sizeof(*ev));
	ev->pid = ev->tgid = (uint32_t)pid;
	ev->uid = ev->gid = ATTEST_ID_UNKNOWN;
	ev->exe_ino = st.st_ino;
	ev->exe_dev = (major(st.st_dev) << 20) | minor(st.st_dev);
	ev->exe_stamped = ev->exe_at_exec = true;
	ev->exe_ctime_sec = st.st_ctim.tv_sec;
	ev->exe_ctime_nsec = (uint32_t)st.st_ctim.tv_nsec;
	ev->exe_size = st.st_size;
	ev->exe_name = path;
}

/* The start time the kernel records (field 22 of stat, in ns). */
static uint64_t start_boottime(pid_t pid)
{
	char path[64], buf[4096], *p;
	unsigned long long v = 0;
	int field;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f || !fgets(buf, sizeof(buf), f))
		abort();
	fclose(f);
	p = strrchr(buf, ')') + 2;
	for (field = 3; field < 22; field++)
		p = strchr(p, ' ') + 1;
	if (sscanf(p, "%llu", &v) != 1)
		abort();
	return v * (1000000000ULL / (uint64_t)sysconf(_SC_CLK_TCK));
}

/* A child that ran @path, and is gone now. */
static pid_t ran_and_exited(const char *path)
{
	pid_t pid = fork();

	if (pid < 0)
		abort();
	if (pid == 0) {
		execl(path, "sleeper", "0", (char *)NULL);
		_exit(127);
	}
	waitpid(pid, NULL, 0);
	return pid;
}

static void attest(struct attest_ctx *ctx, const struct attest_evidence *ev,
		   struct attest_result *res)
{
	struct nt_err err = { "" };

	CHECKF(attest__selectors(ctx, ev, NULL, res, &err) == 0, "%s", err.msg);
}

/* Gone before anyone looked: the name and the version still vouch. */
static void test_exited(void)
{
	const char *copy = tmp_path("sleeper");
	struct attest_evidence ev;
	struct attest_result res;
	struct attest_ctx *ctx = new_ctx();
	char want[65], real[PATH_MAX];

	sh("cp /bin/sleep \"$1\" && chmod 755 \"$1\"", copy);
	sha256sum(copy, want);
	if (!realpath(copy, real))
		abort();
	record(&ev, ran_and_exited(copy), copy);
	attest(ctx, &ev, &res);
	CHECKF(unix_sel(&res, "path") && !strcmp(unix_sel(&res, "path"), real),
	       "unix:path '%s' (%s)", res.exe_path, res.path_skipped);
	CHECKF(unix_sel(&res, "sha256") && !strcmp(res.sha256, want),
	       "sha256 '%s' (%s)", res.sha256, res.sha256_skipped);
	CHECK(ctx->hash_misses == 1);
	/* The cache answers by the recorded version: no file needed. */
	ev.exe_name = NULL;
	attest(ctx, &ev, &res);
	CHECK(!strcmp(res.sha256, want) && ctx->hash_misses == 1);
	CHECKF(strstr(res.path_skipped, "no exe name"), "'%s'", res.path_skipped);
	/* A relative name is not looked up here. */
	ev.exe_name = "sleeper";
	attest(ctx, &ev, &res);
	CHECKF(!unix_sel(&res, "path") && strstr(res.path_skipped, "relative"),
	       "'%s'", res.path_skipped);
	attest__free(ctx);
}

/* Rewritten after its process exited: what ran cannot be read any more. */
static void test_modified(void)
{
	const char *copy = tmp_path("rewritten");
	struct attest_evidence ev;
	struct attest_result res;
	struct attest_ctx *ctx = new_ctx(), *warm = new_ctx();
	char want[65];

	sh("cp /bin/sleep \"$1\" && chmod 755 \"$1\"", copy);
	sha256sum(copy, want);
	record(&ev, ran_and_exited(copy), copy);
	attest(warm, &ev, &res);	/* hashed while it was that version */
	sh("printf x >>\"$1\"", copy);
	attest(ctx, &ev, &res);
	CHECK(!unix_sel(&res, "sha256") && !res.sha256[0]);
	CHECKF(strstr(res.sha256_skipped, "modified or replaced since exec"),
	       "'%s'", res.sha256_skipped);
	/* Nor a name: with the process gone, the inode number may be
	 * another file's now. */
	CHECKF(!unix_sel(&res, "path") &&
	       strstr(res.path_skipped, "modified or replaced since exec"),
	       "'%s'", res.path_skipped);
	/* Hashed before the change: the hash of the version that ran. */
	attest(warm, &ev, &res);
	CHECK(!strcmp(res.sha256, want));
	attest__free(ctx);
	attest__free(warm);
}

/* Replaced (a new file under the name, maybe with the old one's inode
 * number): not the file that ran. */
static void test_replaced(void)
{
	const char *copy = tmp_path("replaced");
	struct attest_evidence ev;
	struct attest_result res;
	struct attest_ctx *ctx = new_ctx();

	sh("cp /bin/sleep \"$1\" && chmod 755 \"$1\"", copy);
	record(&ev, ran_and_exited(copy), copy);
	usleep(20000);	/* a clock tick: the new file's ctime differs */
	sh("cp --remove-destination /bin/sleep \"$1\"", copy);
	attest(ctx, &ev, &res);
	CHECK(!unix_sel(&res, "path") && !unix_sel(&res, "sha256"));
	CHECKF(strstr(res.path_skipped, "names another file") ||
	       strstr(res.path_skipped, "replaced since exec"), "'%s'",
	       res.path_skipped);
	CHECKF(strstr(res.sha256_skipped, "process exited"), "'%s'",
	       res.sha256_skipped);
	attest__free(ctx);
}

/* Alive, running what it exec'd, its file renamed and chmod'ed since
 * (ctime moved):
 * the kernel refuses writes to a running executable, so the live exe is
 * still the version that ran. */
static void test_live_renamed(void)
{
	const char *copy = tmp_path("live"), *moved = tmp_path("moved");
	struct attest_evidence ev;
	struct attest_result res;
	struct attest_ctx *ctx = new_ctx();
	char want[65];
	struct stat st;
	pid_t pid;

	sh("cp /bin/sleep \"$1\" && chmod 755 \"$1\"", copy);
	sha256sum(copy, want);
	pid = fork();
	if (pid < 0)
		abort();
	if (pid == 0) {
		execl(copy, "sleeper", "30", (char *)NULL);
		_exit(127);
	}
	usleep(200000);
	record(&ev, pid, copy);
	ev.start_boottime = start_boottime(pid);
	usleep(20000);	/* a clock tick: ctime will differ */
	if (rename(copy, moved) || chmod(moved, 0700) || stat(moved, &st))
		abort();
	CHECK(st.st_ctim.tv_sec != ev.exe_ctime_sec ||
	      st.st_ctim.tv_nsec != ev.exe_ctime_nsec);
	attest(ctx, &ev, &res);
	CHECKF(!strcmp(res.sha256, want), "sha256 '%s' (%s)", res.sha256,
	       res.sha256_skipped);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	attest__free(ctx);
}

T_MAIN("attest_exec",
       T(test_exited),
       T(test_modified),
       T(test_replaced),
       T(test_live_renamed));
