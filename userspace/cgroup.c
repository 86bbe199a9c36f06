// SPDX-License-Identifier: Apache-2.0
/*
 * The cgroup v2 subtree nametagd manages. Programs attach at its root;
 * namespaces are cgroups strictly below it. The daemon never enrolls the
 * root (every process of the machine may live there) nor its own cgroup or
 * an ancestor of it (it would redirect itself).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include "userspace/daemon.h"
#include "userspace/shared_features.h"

#define CGROUP2_SUPER_MAGIC 0x63677270

int cgroup__id(const char *path, uint64_t *id)
{
	struct stat st;

	/* On cgroup v2 the cgroup id is its directory's kernfs inode. */
	if (stat(path, &st))
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	*id = st.st_ino;
	return 0;
}

static bool is_under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	if (n == 1 && dir[0] == '/')
		return path[0] == '/';
	return !strncmp(path, dir, n) && (path[n] == '/' || path[n] == '\0');
}

static int own_cgroup(const struct cgroup_info *cg, char *buf, size_t size)
{
	char line[PATH_MAX + 8];
	FILE *f;
	int ret = -ENOENT;

	/* Our own /proc entry: the daemon trusts itself. */
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
	return ret;
}

int cgroup__init(struct cgroup_info *cg, const char *root)
{
	char self[PATH_MAX];
	struct statfs sfs;
	int ret;

	memset(cg, 0, sizeof(*cg));
	ret = cgroup2__mount_point(cg->mount, sizeof(cg->mount));
	if (ret)
		return ret;
	if (!realpath(root ? root : cg->mount, cg->root))
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

int cgroup__resolve(const struct cgroup_info *cg, const char *in, char *out,
		    size_t size, struct nt_err *err)
{
	char joined[PATH_MAX], real[PATH_MAX], self[PATH_MAX];

	if (is_under(in, cg->mount))
		snprintf(joined, sizeof(joined), "%s", in);
	else if (snprintf(joined, sizeof(joined), "%s/%s", cg->mount,
			  in + (in[0] == '/')) >= (int)sizeof(joined))
		return nt_err_set(err, -ENAMETOOLONG, "cgroup path too long");
	if (!realpath(joined, real))
		return nt_err_set(err, -errno, "cgroup %s: %s", joined,
				  strerror(errno));
	if (!is_under(real, cg->root) || !strcmp(real, cg->root))
		return nt_err_set(err, -EPERM,
				  "cgroup %s is not strictly below the managed root %s",
				  real, cg->root);
	if (!own_cgroup(cg, self, sizeof(self)) && is_under(self, real))
		return nt_err_set(err, -EPERM,
				  "cgroup %s holds nametagd itself; enrolling it would redirect the proxy",
				  real);
	if (snprintf(out, size, "%s", real) >= (int)size)
		return nt_err_set(err, -ENAMETOOLONG, "cgroup path too long");
	return 0;
}
