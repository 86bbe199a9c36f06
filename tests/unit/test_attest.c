// SPDX-License-Identifier: Apache-2.0
/*
 * Evidence to selectors (attest/attest.c, proc.c, hash.c, accounts.c,
 * cgroup.c), root-free.
 *
 * The /proc checks run against the real /proc with this test's own process
 * (and a child for the deleted-exe case): its start time and exe inode are
 * what the kernel would have captured. A fake /proc tree covers what a live
 * process cannot show on demand (a comm full of parentheses). Cgroup ids
 * are the inode numbers of plain directories (see test_attest_cgroup.c).
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
#include <time.h>
#include <unistd.h>

#include "attest/attest_int.h"
#include "tests/unit/fixture_attest.h"
#include "tests/unit/harness.h"

#define NO_SUCH_PID	4194305		/* above the kernel's PID_MAX_LIMIT */
#define HELLO_SHA256	"5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"

/* ---- helpers ----------------------------------------------------------- */

/* The kernel's dev_t encoding, computed here independently of the
 * library's. */
static uint32_t kdev(dev_t d)
{
	return (major(d) << 20) | minor(d);
}

/* Field 22 of /proc/PID/stat, counted after the last ')'. */
static uint64_t start_ticks(pid_t pid)
{
	char path[64], buf[4096], *p;
	unsigned long long v = 0;
	int field = 3;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		abort();
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')') + 2;
	for (; field < 22; field++)
		p = strchr(p, ' ') + 1;
	if (sscanf(p, "%llu", &v) != 1)
		abort();
	return v;
}

static uint64_t ns_per_tick(void)
{
	return 1000000000ULL / (uint64_t)sysconf(_SC_CLK_TCK);
}

/* What the kernel would have captured for process @pid. */
static void evidence_of(pid_t pid, struct attest_evidence *ev)
{
	char exe[64];
	struct stat st;

	memset(ev, 0, sizeof(*ev));
	snprintf(exe, sizeof(exe), "/proc/%d/exe", (int)pid);
	if (stat(exe, &st))
		abort();
	ev->pid = ev->tgid = (uint32_t)pid;
	ev->uid = getuid();
	ev->gid = getgid();
	ev->exe_ino = st.st_ino;
	ev->exe_dev = kdev(st.st_dev);
	ev->start_boottime = start_ticks(pid) * ns_per_tick();
}

static struct attest_ctx *new_ctx(uint64_t max_hash, const char *proc)
{
	struct attest_env env = {
		.proc_root = proc,
		.cgroup_root = tmp_path("cg"),
		.passwd_file = tmp_path("passwd"),
		.group_file = tmp_path("group"),
		.max_hash_bytes = max_hash,
	};
	struct nt_err err = { "" };
	struct attest_ctx *ctx;

	if (attest__new(&ctx, &env, &err)) {
		fprintf(stderr, "attest__new: %s\n", err.msg);
		abort();
	}
	return ctx;
}

/* The fake trees every case may use; built once. */
static void fixtures(void)
{
	static bool done;
	char longline[6000];

	if (done)
		return;
	done = true;
	/* cgroups: test_attest_cgroup.c covers them; one tree for the whole */
	mkdirs("cg/shop/frontend.service/x");
	mkdirs("cg/other");
	mkdirs("bin");
	memset(longline, 'z', sizeof(longline) - 1);
	longline[sizeof(longline) - 1] = '\0';
	{
		FILE *f = fopen(tmp_path("passwd"), "w");

		if (!f)
			abort();
		fprintf(f, "root:x:0:0:root:/root:/bin/bash\n"
			   "# comment:x:1000:1000\n"
			   "+nis:x:2000:2000::/:/bin/sh\n"
			   "%s:x:3000:3000::/:/bin/sh\n"
			   "broken line\n"
			   "alice:x:1000:1000:Alice:/home/alice:/bin/sh\n"
			   "alias:x:1000:1000::/:/bin/sh\n"
			   "odd:x:0x10:1::/:/bin/sh\n"
			   "bob:x:1001:100::/home/bob:/bin/sh",
			longline);
		fclose(f);
	}
	write_file(tmp_path("group"),
		   "root:x:0:\nusers:x:100:alice,bob\nstaff:x:1000:\n", 0644);
}

/* ---- passwd / group ---------------------------------------------------- */

static void test_accounts(void)
{
	static const struct {
		const char *file;
		uint32_t id;
		const char *name;	/* NULL: none */
	} rows[] = {
		{ "passwd", 0, "root" },
		{ "passwd", 1000, "alice" },	/* first line wins */
		{ "passwd", 1001, "bob" },	/* last line, no newline */
		{ "passwd", 2000, NULL },	/* NIS compat entries skipped */
		{ "passwd", 3000, NULL },	/* over-long line skipped */
		{ "passwd", 16, NULL },		/* "0x10" is not a number */
		{ "passwd", 4242, NULL },
		{ "group", 100, "users" },
		{ "group", 1000, "staff" },
		{ "nonexistent", 0, NULL },
	};
	char name[256];
	size_t i;
	int ret;

	fixtures();
	for (i = 0; i < ARRAY_SIZE(rows); i++) {
		ret = accounts__name(tmp_path(rows[i].file), rows[i].id, name,
				     sizeof(name));
		if (rows[i].name)
			CHECKF(ret == 0 && !strcmp(name, rows[i].name),
			       "%s %u: %d '%s'", rows[i].file, rows[i].id, ret,
			       ret ? "" : name);
		else
			CHECKF(ret == 1, "%s %u: returned %d", rows[i].file,
			       rows[i].id, ret);
	}
	/* a name that does not fit is no name */
	CHECK(accounts__name(tmp_path("passwd"), 1000, name, 5) == 1);
}

static void test_unix_selectors(void)
{
	struct attest_evidence ev = { .uid = 1000, .gid = 100 };
	struct attest_ctx *ctx = NULL;
	struct attest_result res;
	struct nt_err err = { "" };

	fixtures();
	ctx = new_ctx(0, NULL);
	CHECK(attest__selectors(ctx, &ev, NULL, &res, &err) == 0);
	CHECK(find_sel(&res, "unix", "uid") &&
	      !strcmp(find_sel(&res, "unix", "uid"), "1000"));
	CHECK(find_sel(&res, "unix", "gid") &&
	      !strcmp(find_sel(&res, "unix", "gid"), "100"));
	CHECK(find_sel(&res, "unix", "user") &&
	      !strcmp(find_sel(&res, "unix", "user"), "alice"));
	CHECK(find_sel(&res, "unix", "group") &&
	      !strcmp(find_sel(&res, "unix", "group"), "users"));
	/* no process: no exe selectors, and a reason */
	CHECK(!find_sel(&res, "unix", "path") && !find_sel(&res, "unix", "sha256"));
	CHECK(res.sha256_skipped[0] && res.path_skipped[0]);
	/* an id without a name gets no name selector */
	ev.uid = 4242;
	ev.gid = 4242;
	CHECK(attest__selectors(ctx, &ev, NULL, &res, &err) == 0);
	CHECK(find_sel(&res, "unix", "uid") && !find_sel(&res, "unix", "user"));
	CHECK(!find_sel(&res, "unix", "group"));
	attest__free(ctx);
}

/* ---- /proc: the pid-reuse and exe checks ------------------------------- */

static void test_self_exe(void)
{
	char real[PATH_MAX], want[65];
	struct attest_evidence ev;
	struct attest_ctx *ctx;
	struct attest_result res;
	struct nt_err err = { "" };
	const char *v;

	fixtures();
	ctx = new_ctx(0, NULL);
	evidence_of(getpid(), &ev);
	if (!realpath("/proc/self/exe", real))
		abort();
	sha256sum(real, want);
	CHECKF(attest__selectors(ctx, &ev, NULL, &res, &err) == 0, "%s",
	       err.msg);
	v = find_sel(&res, "unix", "path");
	CHECKF(v && !strcmp(v, real), "unix:path is '%s', want '%s'",
	       v ? v : "(none)", real);
	CHECK(!strcmp(res.exe_path, real) && !res.exe_deleted);
	v = find_sel(&res, "unix", "sha256");
	CHECKF(v && !strcmp(v, want), "unix:sha256 is '%s', want '%s' (%s)",
	       v ? v : "(none)", want, res.sha256_skipped);
	CHECK(!strcmp(res.sha256, want));
	CHECKF(!res.sha256_skipped[0] && !res.path_skipped[0], "'%s' '%s'",
	       res.sha256_skipped, res.path_skipped);
	/* a second look is served by the cache */
	CHECK(ctx->hash_misses == 1 && ctx->hash_hits == 0);
	CHECK(attest__selectors(ctx, &ev, NULL, &res, &err) == 0);
	CHECK(ctx->hash_misses == 1 && ctx->hash_hits == 1);
	CHECK(!strcmp(res.sha256, want));
	attest__free(ctx);
}

struct bad_evidence_row {
	const char *name;
	uint32_t tgid;			/* 0: own pid */
	int64_t start_delta;		/* ns added to the start time */
	int64_t ino_delta;
	uint32_t dev_xor;
	const char *why;
};

static void test_self_exe_mismatch(void)
{
	static const struct bad_evidence_row rows[] = {
		{ "start time a second late", 0, 1000000000, 0, 0,
		  "pid reused (start time differs)" },
		{ "start time a second early", 0, -1000000000, 0, 0,
		  "pid reused (start time differs)" },
		{ "exe inode differs", 0, 0, 1, 0, "exe changed since exec" },
		{ "exe device differs", 0, 0, 0, 1, "exe changed since exec" },
		{ "exe device in userspace encoding", 0, 0, 0, 0xffffffff,
		  "exe changed since exec" },
		{ "pid does not exist", NO_SUCH_PID, 0, 0, 0, "process exited" },
	};
	struct attest_evidence ev;
	struct attest_ctx *ctx;
	struct attest_result res;
	struct nt_err err = { "" };
	struct stat st;
	size_t i;

	fixtures();
	ctx = new_ctx(0, NULL);
	for (i = 0; i < ARRAY_SIZE(rows); i++) {
		const struct bad_evidence_row *r = &rows[i];

		evidence_of(getpid(), &ev);
		if (r->tgid)
			ev.pid = ev.tgid = r->tgid;
		ev.start_boottime += r->start_delta;
		ev.exe_ino += r->ino_delta;
		if (r->dev_xor == 0xffffffff) {
			if (stat("/proc/self/exe", &st))
				abort();
			ev.exe_dev = (uint32_t)st.st_dev;
			if (ev.exe_dev == kdev(st.st_dev))
				continue;	/* same in both encodings */
		} else {
			ev.exe_dev ^= r->dev_xor;
		}
		CHECKF(attest__selectors(ctx, &ev, NULL, &res, &err) == 0,
		       "%s: %s", r->name, err.msg);
		CHECKF(!find_sel(&res, "unix", "path") &&
		       !find_sel(&res, "unix", "sha256") && !res.sha256[0],
		       "%s: exe selectors present", r->name);
		CHECKF(!strcmp(res.sha256_skipped, r->why) &&
		       !strcmp(res.path_skipped, r->why),
		       "%s: skipped '%s' / '%s', want '%s'", r->name,
		       res.sha256_skipped, res.path_skipped, r->why);
		CHECKF(find_sel(&res, "unix", "uid") != NULL,
		       "%s: unix:uid missing", r->name);
	}
	attest__free(ctx);
}

static void test_max_hash_bytes(void)
{
	struct attest_evidence ev;
	struct attest_ctx *ctx;
	struct attest_result res;
	struct nt_err err = { "" };
	struct stat st;

	fixtures();
	if (stat("/proc/self/exe", &st))
		abort();
	evidence_of(getpid(), &ev);
	/* one byte short: not hashed, but the path is still verified */
	ctx = new_ctx((uint64_t)st.st_size - 1, NULL);
	CHECK(attest__selectors(ctx, &ev, NULL, &res, &err) == 0);
	CHECK(find_sel(&res, "unix", "path") != NULL);
	CHECK(!find_sel(&res, "unix", "sha256") && !res.sha256[0]);
	CHECKF(strstr(res.sha256_skipped, "larger than max_hash_bytes"),
	       "skipped '%s'", res.sha256_skipped);
	attest__free(ctx);
	/* exactly the size: hashed */
	ctx = new_ctx((uint64_t)st.st_size, NULL);
	CHECK(attest__selectors(ctx, &ev, NULL, &res, &err) == 0);
	CHECK(find_sel(&res, "unix", "sha256") != NULL);
	attest__free(ctx);
}

/* A child runs a copy of a binary that is then deleted: the path is only
 * noted, the hash is still the running file's. */
static void test_deleted_exe(void)
{
	const char *copy = tmp_path("bin/sleeper");
	char want[65], cmd[2 * PATH_MAX], link[PATH_MAX];
	struct attest_evidence ev;
	struct attest_ctx *ctx;
	struct attest_result res;
	struct nt_err err = { "" };
	char proc_exe[64];
	ssize_t n = -1;
	pid_t pid;
	int i;

	fixtures();
	snprintf(cmd, sizeof(cmd), "cp /bin/sleep '%s'", copy);
	if (system(cmd) != 0)
		abort();
	sha256sum(copy, want);
	pid = fork();
	if (pid < 0)
		abort();
	if (pid == 0) {
		execl(copy, "sleeper", "30", (char *)NULL);
		_exit(127);
	}
	/* wait for the exec to have happened */
	snprintf(proc_exe, sizeof(proc_exe), "/proc/%d/exe", (int)pid);
	for (i = 0; i < 200; i++) {
		n = readlink(proc_exe, link, sizeof(link) - 1);
		if (n > 0 && (link[n] = '\0', strstr(link, "sleeper")))
			break;
		usleep(10000);
	}
	CHECKF(i < 200, "child did not exec %s", copy);
	evidence_of(pid, &ev);
	if (unlink(copy))
		abort();
	ctx = new_ctx(0, NULL);
	CHECK(attest__selectors(ctx, &ev, NULL, &res, &err) == 0);
	CHECKF(res.exe_deleted && !strcmp(res.exe_path, copy),
	       "exe_path '%s' deleted %d", res.exe_path, res.exe_deleted);
	CHECK(!find_sel(&res, "unix", "path"));
	CHECKF(strstr(res.path_skipped, "deleted"), "'%s'", res.path_skipped);
	CHECKF(find_sel(&res, "unix", "sha256") &&
	       !strcmp(find_sel(&res, "unix", "sha256"), want),
	       "sha256 '%s' want '%s' (%s)", res.sha256, want,
	       res.sha256_skipped);
	attest__free(ctx);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* ---- a fake /proc: comm parsing, names of deleted files ---------------- */

struct fake_proc_row {
	const char *comm;	/* as it appears in stat, parentheses included */
	const char *tail;	/* NULL: the usual fields, start time 12345 */
	const char *exe;	/* under the tmpdir */
	const char *why;	/* NULL: unix:path and unix:sha256 expected */
};

static void fake_proc(int pid, const struct fake_proc_row *r)
{
	char dir[64], stat_line[512];

	snprintf(dir, sizeof(dir), "fakeproc/%d", pid);
	mkdirs(dir);
	snprintf(stat_line, sizeof(stat_line), "%d %s %s\n", pid, r->comm,
		 r->tail ? r->tail :
		 "S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 12345 20 21");
	snprintf(dir, sizeof(dir), "fakeproc/%d/stat", pid);
	write_file(tmp_path(dir), stat_line, 0644);
	snprintf(dir, sizeof(dir), "fakeproc/%d/exe", pid);
	unlink(tmp_path(dir));
	if (symlink(tmp_path(r->exe), tmp_path(dir)))
		abort();
}

static void test_fake_proc(void)
{
	static const struct fake_proc_row rows[] = {
		{ "(bash)", NULL, "bin/hello", NULL },
		{ "(a b)", NULL, "bin/hello", NULL },
		{ "(x) y)", NULL, "bin/hello", NULL },
		/* a comm that imitates the fields after it */
		{ "() S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 99 ()",
		  NULL, "bin/hello", NULL },
		{ "(ok)", "S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 12346 20",
		  "bin/hello", "pid reused (start time differs)" },
		{ "(ok)", "S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 -1 20",
		  "bin/hello", "cannot parse /proc stat" },
		{ "(ok)", "S 1 2 3", "bin/hello", "cannot parse /proc stat" },
		{ "no parenthesis", NULL, "bin/hello",
		  "cannot parse /proc stat" },
		/* a file really named "... (deleted)" keeps its name */
		{ "(tool)", NULL, "bin/tool (deleted)", NULL },
	};
	struct attest_evidence ev;
	struct attest_ctx *ctx;
	struct attest_result res;
	struct nt_err err = { "" };
	char real[PATH_MAX];
	struct stat st;
	const char *v;
	size_t i;

	fixtures();
	write_file(tmp_path("bin/hello"), "hello\n", 0755);
	write_file(tmp_path("bin/tool (deleted)"), "hello\n", 0755);
	ctx = new_ctx(0, tmp_path("fakeproc"));
	for (i = 0; i < ARRAY_SIZE(rows); i++) {
		const struct fake_proc_row *r = &rows[i];

		fake_proc(100 + (int)i, r);
		if (stat(tmp_path(r->exe), &st) ||
		    !realpath(tmp_path(r->exe), real))
			abort();
		memset(&ev, 0, sizeof(ev));
		ev.pid = ev.tgid = 100 + (uint32_t)i;
		ev.exe_ino = st.st_ino;
		ev.exe_dev = kdev(st.st_dev);
		/* any instant within tick 12345 */
		ev.start_boottime = 12345 * ns_per_tick() + ns_per_tick() - 1;
		CHECKF(attest__selectors(ctx, &ev, NULL, &res, &err) == 0,
		       "%s: %s", r->comm, err.msg);
		v = find_sel(&res, "unix", "path");
		if (r->why) {
			CHECKF(!v && !strcmp(res.sha256_skipped, r->why),
			       "%s: skipped '%s', want '%s'", r->comm,
			       res.sha256_skipped, r->why);
			continue;
		}
		CHECKF(v && !strcmp(v, real), "%s: unix:path '%s' want '%s' (%s)",
		       r->comm, v ? v : "(none)", real, res.path_skipped);
		CHECKF(!res.exe_deleted, "%s: marked deleted", r->comm);
		v = find_sel(&res, "unix", "sha256");
		CHECKF(v && !strcmp(v, HELLO_SHA256), "%s: sha256 '%s'",
		       r->comm, v ? v : res.sha256_skipped);
	}
	attest__free(ctx);
}

static uint64_t cg_id(const char *dir)
{
	char rel[1024];

	if (snprintf(rel, sizeof(rel), "cg%s%s", dir[0] ? "/" : "", dir) >=
	    (int)sizeof(rel))
		abort();
	return ino_of(rel);
}

/* ---- the whole result -------------------------------------------------- */

/* Position of a selector type in the result's order. */
static int type_rank(const char *type)
{
	static const char *const order[] = {
		"unix", "cgroup", "systemd", "netns", "ns",
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(order); i++)
		if (!strcmp(type, order[i]))
			return (int)i;
	return -1;
}

static void test_all_selectors(void)
{
	struct attest_ns ns = { .name = "shop", .trust_domain = "td" };
	struct attest_evidence ev;
	struct attest_ctx *ctx;
	struct attest_result res;
	struct nt_err err = { "" };
	int rank, last = 0;
	size_t i;

	fixtures();
	ctx = new_ctx(0, NULL);
	evidence_of(getpid(), &ev);
	ev.cgroup_id = cg_id("shop/frontend.service/x");
	ns.cgroup_id = ev.ns_cgroup_id = cg_id("shop");
	ev.netns_ino = 4026531840u;
	CHECK(attest__selectors(ctx, &ev, &ns, &res, &err) == 0);
	CHECKF(find_sel(&res, "netns", "ino") &&
	       !strcmp(find_sel(&res, "netns", "ino"), "4026531840"), "netns");
	CHECKF(find_sel(&res, "ns", "name") &&
	       !strcmp(find_sel(&res, "ns", "name"), "shop"), "ns:name");
	CHECK(find_sel(&res, "unix", "path") && find_sel(&res, "unix", "sha256"));
	CHECK(find_sel(&res, "systemd", "unit") &&
	      find_sel(&res, "cgroup", "path"));
	CHECK(!strcmp(res.service, "frontend.service"));
	/* unix first, then cgroup, systemd, netns, ns; each one valid */
	for (i = 0; i < res.nselectors; i++) {
		rank = type_rank(res.selectors[i].type);
		CHECKF(rank >= last, "selector %zu (%s) out of order", i,
		       res.selectors[i].type);
		last = rank;
		CHECKF(selector__check(&res.selectors[i], &err) == 0,
		       "selector %zu invalid: %s", i, err.msg);
	}
	/* a namespace that contradicts the evidence is refused outright */
	ev.ns_cgroup_id = cg_id("other");
	CHECK(attest__selectors(ctx, &ev, &ns, &res, &err) == -EINVAL);
	CHECKF(strstr(err.msg, "namespace 'shop'") != NULL, "'%s'", err.msg);
	CHECK(res.nselectors == 0);
	attest__free(ctx);
}

/* A listener found by sock_diag: no process, no gid, only the socket's
 * uid and cgroup. The identity still comes from the cgroup. */
static void test_socket_evidence(void)
{
	struct attest_ns ns = { .name = "shop", .trust_domain = "td" };
	struct attest_evidence ev = { .uid = 1000, .gid = ATTEST_ID_UNKNOWN };
	const struct attest_entry *from = NULL;
	struct attest_ctx *ctx;
	struct attest_result res;
	struct nt_err err = { "" };
	struct spiffe_id id;

	fixtures();
	ctx = new_ctx(0, NULL);
	ev.cgroup_id = cg_id("shop/frontend.service/x");
	ns.cgroup_id = ev.ns_cgroup_id = cg_id("shop");
	CHECK(attest__selectors(ctx, &ev, &ns, &res, &err) == 0);
	CHECK(find_sel(&res, "unix", "uid") && find_sel(&res, "unix", "user"));
	CHECK(!find_sel(&res, "unix", "gid") && !find_sel(&res, "unix", "group"));
	CHECK(!find_sel(&res, "unix", "path") && !find_sel(&res, "unix", "sha256"));
	CHECK(res.path_skipped[0] && res.sha256_skipped[0]);
	CHECK(!strcmp(res.service, "frontend.service"));
	CHECK(attest__identity(NULL, &ns, &res, &id, &from, &err) == 0);
	CHECKF(!strcmp(id.str, "spiffe://td/ns/shop/sa/frontend.service") && !from,
	       "'%s'", id.str);
	/* no uid either: no unix selector at all */
	ev.uid = ATTEST_ID_UNKNOWN;
	CHECK(attest__selectors(ctx, &ev, &ns, &res, &err) == 0);
	CHECK(!find_sel(&res, "unix", "uid") && !find_sel(&res, "unix", "user"));
	attest__free(ctx);
}

static void test_new_defaults(void)
{
	struct attest_ctx *ctx = NULL;
	struct nt_err err = { "" };

	CHECK(attest__new(&ctx, NULL, &err) == 0);
	CHECK(ctx && !strcmp(ctx->proc_root, "/proc") &&
	      !strcmp(ctx->cgroup_root, "/sys/fs/cgroup") &&
	      !strcmp(ctx->passwd_file, "/etc/passwd") &&
	      !strcmp(ctx->group_file, "/etc/group") &&
	      ctx->max_hash_bytes == 256ULL << 20);
	attest__free(ctx);
	attest__free(NULL);
}

T_MAIN("attest",
       T(test_accounts),
       T(test_unix_selectors),
       T(test_self_exe),
       T(test_self_exe_mismatch),
       T(test_max_hash_bytes),
       T(test_deleted_exe),
       T(test_fake_proc),
       T(test_all_selectors),
       T(test_socket_evidence),
       T(test_new_defaults));
