// SPDX-License-Identifier: Apache-2.0
/*
 * cgroup v2 from cgroupfs itself. A cgroup's id is the inode number of its
 * directory, so ids are read from the directories a walk opens, never
 * derived from a name (a workload can write names; spiffe/spire #7060).
 * One walker serves every walk nametag makes: attestation looking for the
 * path of an id, the listener sync and the strict sweep collecting the
 * cgroups of enrolled namespaces, and the daemon listing their processes.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/ntcore.h"

#define CGROUP_OWNERS_MAX	65536	/* cgroups of all roots together */
#define CGROUP_OWNERS_DEPTH	32	/* levels below a root */

int cgroup__id(const char *path, uint64_t *id)
{
	struct stat st;

	if (stat(path, &st))
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	*id = st.st_ino;
	return 0;
}

/* ---- the mount point ------------------------------------------------------ */

/* mountinfo writes space, tab, newline and backslash as \ooo. */
static int unescape_octal(const char *src, char *dst, size_t size)
{
	size_t n = 0;
	char c;

	while ((c = *src++)) {
		if (c == '\\' && src[0] >= '0' && src[0] <= '3' &&
		    src[1] >= '0' && src[1] <= '7' &&
		    src[2] >= '0' && src[2] <= '7') {
			c = (src[0] - '0') << 6 | (src[1] - '0') << 3 |
			    (src[2] - '0');
			src += 3;
		}
		if (n + 1 >= size)
			return -ENAMETOOLONG;
		dst[n++] = c;
	}
	dst[n] = '\0';
	return 0;
}

/*
 * ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE
 * SUPEROPTIONS (proc(5)). Returns the still-escaped mount point of a
 * cgroup2 line, or NULL.
 */
static char *mountinfo_cgroup2(char *line)
{
	char *save, *tok, *mnt = NULL;
	int i = 0;

	for (tok = strtok_r(line, " \n", &save); tok;
	     tok = strtok_r(NULL, " \n", &save), i++) {
		if (i == 4)
			mnt = tok;
		if (i > 5 && !strcmp(tok, "-")) {
			tok = strtok_r(NULL, " \n", &save);
			return tok && !strcmp(tok, "cgroup2") ? mnt : NULL;
		}
	}
	return NULL;
}

int cgroup2__mount_point(char *buf, size_t size)
{
	char *line = NULL, *mnt;
	size_t cap = 0;
	int ret = -ENOENT;
	FILE *fp;

	fp = fopen("/proc/self/mountinfo", "re");
	if (!fp)
		return -errno;
	while (getline(&line, &cap, fp) > 0) {
		mnt = mountinfo_cgroup2(line);
		if (mnt) {
			ret = unescape_octal(mnt, buf, size);
			break;
		}
	}
	if (ret == -ENOENT && ferror(fp))
		ret = -EIO;
	free(line);
	fclose(fp);
	return ret;
}

/* ---- the walker ------------------------------------------------------------- */

struct walker {
	const struct cgroup_walk *w;
	dev_t dev;
	size_t visited;
	char rel[PATH_MAX];
};

static bool is_dot(const char *name)
{
	return !strcmp(name, ".") || !strcmp(name, "..");
}

static int walk_dir(struct walker *k, int dfd, uint64_t id, size_t len,
		    int depth);

/* The child @name of @d, if it is a cgroup directory on the same mount. */
static int walk_child(struct walker *k, DIR *d, const char *name, size_t len,
		      int depth)
{
	size_t nlen = strlen(name);
	struct stat st;
	int fd;

	if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) ||
	    !S_ISDIR(st.st_mode) || st.st_dev != k->dev)
		return 0;
	if (k->w->visit_max && ++k->visited > k->w->visit_max)
		return -E2BIG;
	if (len + 1 + nlen >= sizeof(k->rel))
		return 0;	/* no name fits: it cannot be reported */
	fd = openat(dirfd(d), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
	if (fd < 0)
		return 0;	/* gone meanwhile */
	k->rel[len] = '/';
	memcpy(k->rel + len + 1, name, nlen + 1);
	return walk_dir(k, fd, st.st_ino, len + 1 + nlen, depth + 1);
}

/* @dfd is owned, closed here; k->rel[0..len) is its path. */
static int walk_dir(struct walker *k, int dfd, uint64_t id, size_t len,
		    int depth)
{
	struct dirent *de;
	int ret;
	DIR *d;

	k->rel[len] = '\0';
	ret = k->w->fn(dfd, id, k->rel, depth, k->w->arg);
	if (ret || depth >= k->w->depth_max) {
		close(dfd);
		return ret == CGROUP_WALK_PRUNE ? 0 : ret;
	}
	d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return 0;	/* unreadable: nothing below it */
	}
	while (!ret && (de = readdir(d))) {
		/* cgroupfs fills d_type; files and symlinks are skipped */
		if ((de->d_type == DT_DIR || de->d_type == DT_UNKNOWN) &&
		    !is_dot(de->d_name))
			ret = walk_child(k, d, de->d_name, len, depth);
	}
	closedir(d);
	return ret;
}

int cgroup__walk(int dfd, const struct cgroup_walk *w)
{
	struct walker *k;
	struct stat st;
	int ret;

	if (fstat(dfd, &st)) {
		ret = -errno;
		close(dfd);
		return ret;
	}
	/* PATH_MAX of path: too large for the stack of a deep daemon. */
	k = calloc(1, sizeof(*k));
	if (!k) {
		close(dfd);
		return -ENOMEM;
	}
	k->w = w;
	k->dev = st.st_dev;
	ret = walk_dir(k, dfd, st.st_ino, 0, 0);
	free(k);
	return ret;
}

int cgroup__procs(int dfd, int (*fn)(uint32_t pid, void *arg), void *arg)
{
	unsigned int pid;
	int fd, ret = 0;
	FILE *f;

	fd = openat(dfd, "cgroup.procs", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;	/* the cgroup went away meanwhile */
	f = fdopen(fd, "re");
	if (!f) {
		ret = -errno;
		close(fd);
		return ret;
	}
	while (!ret && fscanf(f, "%u", &pid) == 1)
		ret = fn(pid, arg);
	fclose(f);
	return ret;
}

/* ---- which root owns a cgroup ------------------------------------------------ */

struct collect {
	struct cgroup_owners *o;
	const struct cgroup_root *roots;
	size_t nroots, root;
	int (*on_cgroup)(int dfd, uint64_t id, size_t root, void *arg);
	void *arg;
};

static int owner_cmp(const void *a, const void *b)
{
	const struct cgroup_owner *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

static bool other_root(const struct collect *c, uint64_t id)
{
	size_t i;

	for (i = 0; i < c->nroots; i++)
		if (i != c->root && c->roots[i].id == id)
			return true;
	return false;
}

static int add_owned(int dfd, uint64_t id, const char *rel, int depth,
		     void *arg)
{
	struct collect *c = arg;
	struct cgroup_owners *o = c->o;
	int ret;

	/* The start is the root itself; below it, another root's subtree is
	 * that root's (the programs take the nearest enrolled ancestor). */
	if (depth == 0 && id != c->roots[c->root].id)
		return CGROUP_WALK_PRUNE;	/* not the cgroup enrolled */
	if (depth > 0 && other_root(c, id))
		return CGROUP_WALK_PRUNE;
	ret = array__grow((void **)&o->v, &o->cap, o->n, sizeof(*o->v),
			  CGROUP_OWNERS_MAX);
	if (ret)
		return ret;
	o->v[o->n++] = (struct cgroup_owner){ .id = id, .root = c->root };
	return c->on_cgroup ? c->on_cgroup(dfd, id, c->root, c->arg) : 0;
}

int cgroup_owners__collect(struct cgroup_owners *o,
			   const struct cgroup_root *roots, size_t nroots,
			   int (*on_cgroup)(int dfd, uint64_t id, size_t root,
					    void *arg),
			   void *arg, struct nt_err *err)
{
	struct collect c = { .o = o, .roots = roots, .nroots = nroots,
			     .on_cgroup = on_cgroup, .arg = arg };
	struct cgroup_walk w = { .depth_max = CGROUP_OWNERS_DEPTH,
				 .fn = add_owned, .arg = &c };
	int fd, ret;

	for (c.root = 0; c.root < nroots; c.root++) {
		fd = open(roots[c.root].path, O_RDONLY | O_DIRECTORY |
			  O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			continue;	/* removed: the root owns nothing now */
		ret = cgroup__walk(fd, &w);
		if (ret == -E2BIG)
			return nt_err_set(err, ret, "more than %d cgroups in enrolled namespaces",
					  CGROUP_OWNERS_MAX);
		if (ret)
			return nt_err_set(err, ret, "cgroups below %s: %s",
					  roots[c.root].path, strerror(-ret));
	}
	if (o->n)
		qsort(o->v, o->n, sizeof(*o->v), owner_cmp);
	return 0;
}

long cgroup_owners__find(const struct cgroup_owners *o, uint64_t cgroup_id)
{
	struct cgroup_owner key = { .id = cgroup_id };
	const struct cgroup_owner *c;

	if (!cgroup_id || !o->n)
		return -1;
	c = bsearch(&key, o->v, o->n, sizeof(*o->v), owner_cmp);
	return c ? (long)c->root : -1;
}

void cgroup_owners__free(struct cgroup_owners *o)
{
	free(o->v);
	*o = (struct cgroup_owners){};
}
