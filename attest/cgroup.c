// SPDX-License-Identifier: Apache-2.0
/*
 * Cgroup paths from cgroup ids. On cgroup v2 a cgroup's id is the inode
 * number of its directory in cgroupfs, and the kernel hands us the id it
 * saw at the syscall; so the path is found by looking for the directory
 * with that inode, never by reading /proc/PID/cgroup or mountinfo, text a
 * workload can influence (spiffe/spire #7060) and that may already describe
 * a later moment than the evidence.
 *
 * The walk is bounded (depth, directories visited), stays on the cgroupfs
 * device and never follows a symlink. Results are cached; an entry is
 * re-checked by inode before every use because cgroups come and go.
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

struct walk {
	uint64_t id;
	dev_t dev;
	char *path;		/* relative path being built, "/a/b" */
	size_t size;
	size_t visited;
};

static bool is_dot(const char *name)
{
	return !strcmp(name, ".") || !strcmp(name, "..");
}

/*
 * Looks in the directory @dfd (owned, closed here), whose relative path is
 * w->path[0..len), and below it. 0 when found (w->path holds it), 1 when
 * not, a negative errno when the walk had to stop.
 */
static int walk_dir(struct walk *w, int dfd, size_t len, int depth)
{
	struct dirent *de;
	struct stat st;
	size_t nlen;
	int fd, ret = 1;
	DIR *d;

	d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return 1;	/* unreadable: nothing found here */
	}
	while (ret == 1 && (de = readdir(d))) {
		/* cgroupfs fills d_type; symlinks and files are skipped */
		if ((de->d_type != DT_DIR && de->d_type != DT_UNKNOWN) ||
		    is_dot(de->d_name))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) ||
		    !S_ISDIR(st.st_mode) || st.st_dev != w->dev)
			continue;
		if (++w->visited > CGROUP_WALK_MAX) {
			ret = -E2BIG;
			break;
		}
		nlen = strlen(de->d_name);
		if (len + 1 + nlen >= w->size)
			continue;	/* no name fits: cannot be reported */
		w->path[len] = '/';
		memcpy(w->path + len + 1, de->d_name, nlen + 1);
		if ((uint64_t)st.st_ino == w->id) {
			ret = 0;
			break;
		}
		if (depth + 1 >= CGROUP_DEPTH_MAX)
			continue;
		fd = openat(dirfd(d), de->d_name,
			    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0)
			ret = walk_dir(w, fd, len + 1 + nlen, depth + 1);
	}
	closedir(d);
	if (ret == 1)
		w->path[len] = '\0';
	return ret;
}

static int join(const struct attest_ctx *ctx, const char *rel, char *buf,
		size_t size)
{
	int n = snprintf(buf, size, "%s%s", ctx->cgroup_root,
			 strcmp(rel, "/") ? rel : "");

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* Searches below @start ("" for the root; else "/a/b"). */
static int walk_from(struct attest_ctx *ctx, struct walk *w, const char *start)
{
	char abs[ATTEST_PATH_MAX];
	size_t len = strlen(start);
	int fd, ret;

	if (len >= w->size)
		return -ENAMETOOLONG;
	ret = join(ctx, len ? start : "/", abs, sizeof(abs));
	if (ret)
		return ret;
	fd = open(abs, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return 1;
	memcpy(w->path, start, len + 1);
	ctx->cgroup_walks++;
	return walk_dir(w, fd, len, 0);
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
	struct walk w = { .id = id, .path = buf, .size = sizeof(buf) };
	struct cgroup_slot *s;
	struct stat root;
	int ret;

	if (stat(ctx->cgroup_root, &root))
		return -errno;
	w.dev = root.st_dev;
	if ((uint64_t)root.st_ino == id)
		return copy_out("/", path, size);
	s = cache_find(ctx, id);
	if (s && still_there(ctx, s->path, id, w.dev))
		return copy_out(s->path, path, size);
	if (s)
		slot_clear(s);	/* removed, or the id is for another dir now */
	ret = 1;
	/* Most workloads sit below their namespace: look there first. */
	if (hint && strcmp(hint, "/"))
		ret = walk_from(ctx, &w, hint);
	if (ret == 1)
		ret = walk_from(ctx, &w, "");
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
