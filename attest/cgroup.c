// SPDX-License-Identifier: Apache-2.0
/*
 * Cgroup paths from cgroup ids. On cgroup v2 a cgroup's id is the inode
 * number of its directory in cgroupfs, and the kernel hands us the id it
 * saw at the syscall; so the path is found by looking for the directory
 * with that inode, never by reading /proc/PID/cgroup or mountinfo, text a
 * workload can influence (spiffe/spire #7060) and that may already describe
 * a later moment than the evidence.
 *
 * The walk is lib/'s (bounded in depth and directories visited, on the
 * cgroupfs device only, no symlinks followed). Results are cached; an
 * entry is re-checked by inode before every use because cgroups come and
 * go.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attest/attest_int.h"

#define CGROUP_DEPTH_MAX	32
#define CGROUP_WALK_MAX		100000	/* directories per walk */
#define SERVICE_SUFFIX		".service"
#define FOUND			2	/* ends a walk: the id's directory */

struct find {
	uint64_t id;
	const char *start;	/* relative path the walk started at */
	char *path;		/* the answer: start + below it */
	size_t size;
};

static int match(int dfd, uint64_t id, const char *rel, int depth, void *arg)
{
	struct find *f = arg;
	int n;

	if (id != f->id)
		return 0;
	n = snprintf(f->path, f->size, "%s%s", f->start, rel);
	return n < 0 || (size_t)n >= f->size ? 0 : FOUND;
}

static int join(const struct attest_ctx *ctx, const char *rel, char *buf,
		size_t size)
{
	int n = snprintf(buf, size, "%s%s", ctx->cgroup_root,
			 strcmp(rel, "/") ? rel : "");

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* Searches below @start ("" for the root; else "/a/b") with lib/'s walker
 * (bounded, on cgroupfs only, no symlinks). 0 when found (f->path holds
 * it), 1 when not, a negative errno when the walk had to stop. */
static int walk_from(struct attest_ctx *ctx, struct find *f, const char *start)
{
	struct cgroup_walk w = { .depth_max = CGROUP_DEPTH_MAX,
				 .visit_max = CGROUP_WALK_MAX,
				 .fn = match, .arg = f };
	char abs[ATTEST_PATH_MAX];
	int fd, ret;

	ret = join(ctx, start[0] ? start : "/", abs, sizeof(abs));
	if (ret)
		return ret;
	fd = open(abs, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return 1;
	f->start = start;
	ctx->cgroup_walks++;
	ret = cgroup__walk(fd, &w);
	return ret == FOUND ? 0 : ret ? ret : 1;
}

/* True when @rel still names the directory of cgroup @id. */
static bool still_there(const struct attest_ctx *ctx, const char *rel,
			uint64_t id, dev_t dev)
{
	char abs[ATTEST_PATH_MAX];
	struct stat st;

	return !join(ctx, rel, abs, sizeof(abs)) &&
	       !lstat(abs, &st) && S_ISDIR(st.st_mode) &&
	       (uint64_t)st.st_ino == id && st.st_dev == dev;
}

static struct cgroup_slot *cache_find(struct attest_ctx *ctx, uint64_t id)
{
	size_t i;

	for (i = 0; i < ATTEST_CGROUP_CACHE; i++)
		if (ctx->cgroups[i].used && ctx->cgroups[i].id == id)
			return &ctx->cgroups[i];
	return NULL;
}

static void slot_clear(struct cgroup_slot *s)
{
	free(s->path);
	memset(s, 0, sizeof(*s));
}

static void cache_put(struct attest_ctx *ctx, uint64_t id, const char *path)
{
	struct cgroup_slot *s = &ctx->cgroups[ctx->cgroup_next];
	char *copy = strdup(path);

	if (!copy)
		return;		/* the cache is an optimisation only */
	slot_clear(s);
	s->used = true;
	s->id = id;
	s->path = copy;
	ctx->cgroup_next = (ctx->cgroup_next + 1) % ATTEST_CGROUP_CACHE;
}

void cgroup__cache_free(struct attest_ctx *ctx)
{
	size_t i;

	for (i = 0; i < ATTEST_CGROUP_CACHE; i++)
		slot_clear(&ctx->cgroups[i]);
}

static int copy_out(const char *src, char *path, size_t size)
{
	if (strlen(src) >= size)
		return -ENAMETOOLONG;
	strcpy(path, src);
	return 0;
}

int cgroup__path(struct attest_ctx *ctx, uint64_t id, const char *hint,
		 char *path, size_t size)
{
	char buf[ATTEST_PATH_MAX];
	struct find f = { .id = id, .path = buf, .size = sizeof(buf) };
	struct cgroup_slot *s;
	struct stat root;
	int ret;

	if (stat(ctx->cgroup_root, &root))
		return -errno;
	if ((uint64_t)root.st_ino == id)
		return copy_out("/", path, size);
	s = cache_find(ctx, id);
	if (s && still_there(ctx, s->path, id, root.st_dev))
		return copy_out(s->path, path, size);
	if (s)
		slot_clear(s);	/* removed, or the id is for another dir now */
	ret = 1;
	/* Most workloads sit below their namespace: look there first. */
	if (hint && strcmp(hint, "/"))
		ret = walk_from(ctx, &f, hint);
	if (ret == 1)
		ret = walk_from(ctx, &f, "");
	if (ret)
		return ret;
	cache_put(ctx, id, buf);
	return copy_out(buf, path, size);
}

/* ---- names taken from a cgroup path ----------------------------------- */

int cgroup__service(const char *path, const char *ns_path, char *out,
		    size_t size)
{
	size_t nlen = strlen(ns_path), len;
	const char *rest, *end;

	if (!strcmp(ns_path, "/"))
		nlen = 0;	/* the root: everything is below it */
	if (strncmp(path, ns_path, nlen) || (path[nlen] && path[nlen] != '/'))
		return 1;	/* not inside the namespace */
	rest = path + nlen;
	if (!rest[0] || !strcmp(rest, "/"))
		return copy_out("", out, size) ? 1 : 0;
	rest++;
	end = strchr(rest, '/');
	len = end ? (size_t)(end - rest) : strlen(rest);
	if (len >= size)
		return 1;
	memcpy(out, rest, len);
	out[len] = '\0';
	return 0;
}

int cgroup__unit(const char *path, char *out, size_t size)
{
	const size_t sfx = sizeof(SERVICE_SUFFIX) - 1;
	const char *p = path, *end, *found = NULL;
	size_t len, found_len = 0;

	while (*p) {
		while (*p == '/')
			p++;
		end = strchrnul(p, '/');
		len = (size_t)(end - p);
		if (len > sfx && !memcmp(end - sfx, SERVICE_SUFFIX, sfx)) {
			found = p;
			found_len = len;
		}
		p = end;
	}
	if (!found || found_len >= size)
		return 1;
	memcpy(out, found, found_len);
	out[found_len] = '\0';
	return 0;
}
