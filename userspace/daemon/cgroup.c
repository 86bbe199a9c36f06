// SPDX-License-Identifier: Apache-2.0
/*
 * The cgroup v2 subtree nametagd manages. Programs attach at its root;
 * namespaces are cgroups strictly below it. The daemon never enrolls the
 * root (every process of the machine may live there) nor its own cgroup or
 * an ancestor of it (it would redirect itself). That is checked by cgroup
 * id at every enrollment, enable and start, since the daemon (or the root
 * it is given) may have moved since a namespace was added.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "userspace/daemon/daemon.h"

#define CGROUP2_SUPER_MAGIC 0x63677270

static bool is_under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	if (n == 1 && dir[0] == '/')
		return path[0] == '/';
	return !strncmp(path, dir, n) && (path[n] == '/' || path[n] == '\0');
}

static int is_pid(uint32_t pid, void *arg)
{
	return pid == *(uint32_t *)arg;
}

/* Whether cgroup directory @dir lists process @pid in cgroup.procs. */
static bool lists_pid(const char *dir, pid_t pid)
{
	uint32_t want = pid;
	int fd, ret;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ret = cgroup__procs(fd, is_pid, &want);
	close(fd);
	return ret == 1;
}

/*
 * The daemon's own cgroup directory. /proc/self/cgroup is our own entry
 * (the daemon trusts itself), but in a cgroup namespace it is relative to
 * that namespace's root, not to the mount, and names another directory or
 * none: so the directory must list our pid, or there is no answer.
 */
static int own_cgroup(const struct cgroup_info *cg, char *buf, size_t size)
{
	char line[PATH_MAX + 8];
	FILE *f;
	int ret = -ENOENT;

	f = fopen("/proc/self/cgroup", "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "0::", 3))
			continue;
		line[strcspn(line, "\n")] = '\0';
		if (snprintf(buf, size, "%s%s", cg->mount, line + 3) < (int)size)
			ret = 0;
		break;
	}
	fclose(f);
	if (!ret && !lists_pid(buf, getpid()))
		ret = -ESRCH;
	return ret;
}

/* Whether cgroup @id is the one in @self or an ancestor of it, up to the
 * mount. By id, so no spelling of a path can slip past. */
static bool holds(const struct cgroup_info *cg, char *self, uint64_t id)
{
	size_t mlen = strlen(cg->mount);
	uint64_t at = 0;
	char *slash;

	for (;;) {
		if (!cgroup__id(self, &at) && at == id)
			return true;
		slash = strrchr(self, '/');
		if (!slash || (size_t)(slash - self) < mlen)
			return false;
		*slash = '\0';
	}
}

int cgroup__init(struct cgroup_info *cg, const char *root)
{
	char self[PATH_MAX], joined[PATH_MAX];
	struct statfs sfs;
	int ret;

	memset(cg, 0, sizeof(*cg));
	if (root && !root[0])
		return -EINVAL;	/* never "the mount" by accident */
	ret = cgroup2__mount_point(cg->mount, sizeof(cg->mount));
	if (ret)
		return ret;
	/* Relative to the mount, as `ns add --cgroup` takes its path: a path
	 * below the mount as it is, any other one joined to it. */
	if (!root || is_under(root, cg->mount))
		snprintf(joined, sizeof(joined), "%s", root ? root : cg->mount);
	else if (snprintf(joined, sizeof(joined), "%s/%s", cg->mount,
			  root + (root[0] == '/')) >= (int)sizeof(joined))
		return -ENAMETOOLONG;
	if (!realpath(joined, cg->root))
		return -errno;
	if (!is_under(cg->root, cg->mount))
		return -EXDEV;
	if (statfs(cg->root, &sfs) || sfs.f_type != CGROUP2_SUPER_MAGIC)
		return -EXDEV;
	ret = cgroup__id(cg->root, &cg->root_id);
	if (ret)
		return ret;
	if (!own_cgroup(cg, self, sizeof(self)))
		cgroup__id(self, &cg->self_id);
	return 0;
}

int cgroup__may_enroll(const struct cgroup_info *cg, const char *path,
		       struct nt_err *err)
{
	char self[PATH_MAX];
	uint64_t id = 0;
	int ret;

	ret = cgroup__id(path, &id);
	if (ret)
		return nt_err_set(err, ret, "cgroup %s: %s", path,
				  strerror(-ret));
	if (!is_under(path, cg->root) || id == cg->root_id)
		return nt_err_set(err, -EPERM,
				  "cgroup %s is not strictly below the managed root %s",
				  path, cg->root);
	ret = own_cgroup(cg, self, sizeof(self));
	if (ret == -ESRCH)
		return nt_err_set(err, -EPERM,
				  "cannot find nametagd's own cgroup: /proc/self/cgroup names %s, which does not hold it (a cgroup namespace?), so %s is not enrolled; run nametagd in the host's cgroup namespace",
				  self, path);
	if (ret)
		return nt_err_set(err, -EPERM,
				  "cannot find nametagd's own cgroup (%s), so %s is not enrolled",
				  strerror(-ret), path);
	if (holds(cg, self, id))
		return nt_err_set(err, -EPERM,
				  "cgroup %s holds nametagd itself; enrolling it would redirect the proxy",
				  path);
	return 0;
}

int cgroup__resolve(const struct cgroup_info *cg, const char *in, char *out,
		    size_t size, struct nt_err *err)
{
	char joined[PATH_MAX], real[PATH_MAX];
	int ret;

	if (is_under(in, cg->mount))
		snprintf(joined, sizeof(joined), "%s", in);
	else if (snprintf(joined, sizeof(joined), "%s/%s", cg->mount,
			  in + (in[0] == '/')) >= (int)sizeof(joined))
		return nt_err_set(err, -ENAMETOOLONG, "cgroup path too long");
	if (!realpath(joined, real))
		return nt_err_set(err, -errno, "cgroup %s: %s", joined,
				  strerror(errno));
	ret = cgroup__may_enroll(cg, real, err);
	if (ret)
		return ret;
	if (snprintf(out, size, "%s", real) >= (int)size)
		return nt_err_set(err, -ENAMETOOLONG, "cgroup path too long");
	return 0;
}

/* A path as attestation spells one: '/', then segments that are not
 * empty, "." or "..", and no '/' at the end. */
static bool is_canonical(const char *p)
{
	const char *seg = p + 1;
	size_t n;

	if (p[0] != '/')
		return false;
	if (!p[1])
		return true;
	for (;;) {
		n = strcspn(seg, "/");
		if (!n || (n == 1 && seg[0] == '.') ||
		    (n == 2 && seg[0] == '.' && seg[1] == '.'))
			return false;
		if (!seg[n])
			return true;
		seg += n + 1;
	}
}

int cgroup__check_selector(const struct cgroup_info *cg, const char *value,
			   struct nt_err *err)
{
	size_t mlen = strlen(cg->mount);
	const char *root = cg->root + mlen;	/* "" when the root is the mount */

	if (is_under(value, cg->mount) && mlen > 1)
		return nt_err_set(err, -EINVAL,
				  "cgroup:path:%s can never match: the value is relative to the cgroup v2 mount %s, so write cgroup:path:%s",
				  value, cg->mount, value[mlen] ? value + mlen : "/");
	if (!is_canonical(value))
		return nt_err_set(err, -EINVAL,
				  "cgroup:path:%s can never match: a cgroup path has no empty, '.' or '..' segment and no '/' at its end",
				  value);
	if (!is_under(value, root[0] ? root : "/") || !strcmp(value, root[0] ? root : "/"))
		return nt_err_set(err, -EINVAL,
				  "cgroup:path:%s can never match: it is not below the managed root %s (cgroup:path:%s/...)",
				  value, cg->root, root);
	return 0;
}
