// SPDX-License-Identifier: Apache-2.0
/*
 * Files under the state dir. Writes are atomic (temp file, fsync, rename,
 * fsync of the directory) so a crash leaves either the old or the new file,
 * never a torn one. Reads are bounded, and private keys must not be
 * readable by anyone but their owner.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "lib/ntcore.h"

static int mkdir_one(const char *path, struct nt_err *err)
{
	struct stat st;

	if (mkdir(path, 0700) == 0)
		return 0;
	if (errno != EEXIST)
		return nt_err_set(err, -errno, "failed to create %s: %s", path,
				  strerror(errno));
	if (stat(path, &st))
		return nt_err_set(err, -errno, "failed to stat %s: %s", path,
				  strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return nt_err_set(err, -ENOTDIR, "%s exists and is not a directory",
				  path);
	return 0;
}

int state__mkdir(const char *path, struct nt_err *err)
{
	char buf[PATH_MAX];
	struct stat st;
	size_t len = strlen(path);
	char *p;
	int ret;

	if (len == 0 || len >= sizeof(buf))
		return nt_err_set(err, -ENAMETOOLONG, "bad directory path '%s'",
				  path);
	memcpy(buf, path, len + 1);
	/* Parents first; they keep whatever mode they already have. */
	for (p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		ret = mkdir_one(buf, err);
		*p = '/';
		if (ret)
			return ret;
	}
	ret = mkdir_one(buf, err);
	if (ret)
		return ret;
	if (stat(path, &st))
		return nt_err_set(err, -errno, "failed to stat %s: %s", path,
				  strerror(errno));
	if (st.st_mode & 077)
		return nt_err_set(err, -EPERM,
				  "%s has mode %04o: it holds private keys and must not be accessible to group or others (chmod 700 %s)",
				  path, st.st_mode & 07777, path);
	return 0;
}

static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	ssize_t n;

	while (len) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= n;
	}
	return 0;
}

static int fsync_dir_of(const char *path)
{
	char buf[PATH_MAX];
	int fd, ret = 0;

	if (strlen(path) >= sizeof(buf))
		return -ENAMETOOLONG;
	strcpy(buf, path);
	fd = open(dirname(buf), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd))
		ret = -errno;
	close(fd);
	return ret;
}

int state__write(const char *path, const void *data, size_t len,
		 unsigned int mode, struct nt_err *err)
{
	char tmp[PATH_MAX];
	int fd, ret;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >=
	    (int)sizeof(tmp))
		return nt_err_set(err, -ENAMETOOLONG, "path too long: %s", path);
	unlink(tmp);	/* a leftover of a crashed writer of our own pid */
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
		  mode);
	if (fd < 0)
		return nt_err_set(err, -errno, "failed to create %s: %s", tmp,
				  strerror(errno));
	/* open() applies the umask; a key file must end up exactly @mode. */
	ret = fchmod(fd, mode) ? -errno : 0;
	if (!ret)
		ret = write_all(fd, data, len);
	if (!ret && fsync(fd))
		ret = -errno;
	if (close(fd) && !ret)
		ret = -errno;
	if (!ret && rename(tmp, path))
		ret = -errno;
	if (ret) {
		unlink(tmp);
		return nt_err_set(err, ret, "failed to write %s: %s", path,
				  strerror(-ret));
	}
	ret = fsync_dir_of(path);
	if (ret)
		return nt_err_set(err, ret, "failed to sync directory of %s: %s",
				  path, strerror(-ret));
	return 0;
}

static int check_key_file(int fd, const char *path, struct nt_err *err)
{
	struct stat st;

	if (fstat(fd, &st))
		return nt_err_set(err, -errno, "failed to stat %s: %s", path,
				  strerror(errno));
	if (!S_ISREG(st.st_mode))
		return nt_err_set(err, -EINVAL, "%s is not a regular file", path);
	if (st.st_mode & 077)
		return nt_err_set(err, -EPERM,
				  "private key %s has mode %04o, must be 0600 or stricter (chmod 600 %s)",
				  path, st.st_mode & 07777, path);
	return 0;
}

static int read_fd(int fd, const char *path, size_t max, char **buf,
		   size_t *len, struct nt_err *err)
{
	size_t cap = 4096, used = 0;
	char *p = NULL, *np;
	ssize_t n;

	for (;;) {
		if (!p || used + 1 >= cap) {
			if (p)
				cap *= 2;
			if (cap > max + 2)
				cap = max + 2;
			/* grow by copy so a key never lingers in freed memory */
			np = calloc(1, cap);
			if (!np) {
				state__free_secret(p, used);
				return nt_err_set(err, -ENOMEM, "out of memory");
			}
			if (p)
				memcpy(np, p, used);
			state__free_secret(p, used);
			p = np;
		}
		n = read(fd, p + used, cap - used - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			state__free_secret(p, used);
			return nt_err_set(err, -errno, "failed to read %s: %s",
					  path, strerror(errno));
		}
		if (n == 0)
			break;
		used += n;
		if (used > max) {
			state__free_secret(p, used);
			return nt_err_set(err, -EFBIG,
					  "%s is larger than %zu bytes", path, max);
		}
	}
	p[used] = '\0';
	*buf = p;
	*len = used;
	return 0;
}

int state__read(const char *path, size_t max, bool private_key, char **buf,
		size_t *len, struct nt_err *err)
{
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return nt_err_set(err, -errno, "failed to open %s: %s", path,
				  strerror(errno));
	ret = private_key ? check_key_file(fd, path, err) : 0;
	if (!ret)
		ret = read_fd(fd, path, max, buf, len, err);
	close(fd);
	return ret;
}

void state__free_secret(char *buf, size_t len)
{
	if (!buf)
		return;
	OPENSSL_cleanse(buf, len);
	free(buf);
}
