// SPDX-License-Identifier: Apache-2.0
/*
 * The audit log: JSON lines appended to one file, shared by nametagd and
 * the CLI's offline actions. Each record is one write(2) on an O_APPEND
 * descriptor, so lines from both never interleave. A record marked sync
 * is on disk (fdatasync) before the call returns; the others are synced
 * by audit_log__flush, which the daemon calls once a second. The daemon
 * leaves the file's path in STATE/audit.json so that the CLI, which
 * works on the same state dir, appends to the same file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "lib/ntcore.h"

#define AUDIT_POINTER_FILE	"audit.json"
#define AUDIT_POINTER_MAX	(8 * 1024)

struct audit_log {
	int fd;
	bool dirty;			/* written since the last sync */
	char source[16];		/* "nametagd", "nametag" */
	char path[PATH_MAX];
};

static int open_fd(struct audit_log *l, struct nt_err *err)
{
	int fd = open(l->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
		      O_NOFOLLOW, 0600);

	if (fd < 0)
		return nt_err_set(err, -errno, "audit log %s: %s", l->path,
				  strerror(errno));
	l->fd = fd;
	return 0;
}

int audit_log__open(struct audit_log **out, const char *path,
		    const char *source, struct nt_err *err)
{
	struct audit_log *l;
	int ret;

	if (!path[0] || strlen(path) >= sizeof(l->path))
		return nt_err_set(err, -EINVAL, "audit log: bad path '%s'", path);
	l = calloc(1, sizeof(*l));
	if (!l)
		return nt_err_set(err, -ENOMEM, "out of memory");
	snprintf(l->path, sizeof(l->path), "%s", path);
	snprintf(l->source, sizeof(l->source), "%s", source);
	ret = open_fd(l, err);
	if (ret) {
		free(l);
		return ret;
	}
	*out = l;
	return 0;
}

void audit_log__close(struct audit_log *l)
{
	if (!l)
		return;
	audit_log__flush(l);
	close(l->fd);
	free(l);
}

int audit_log__reopen(struct audit_log *l, struct nt_err *err)
{
	int old = l->fd, ret;

	audit_log__flush(l);
	ret = open_fd(l, err);
	if (ret)
		return ret;	/* keep writing where we were */
	close(old);
	return 0;
}

const char *audit_log__path(const struct audit_log *l)
{
	return l->path;
}

struct cJSON *audit_log__record(const struct audit_log *l, const char *event)
{
	char stamp[TIME_ISO8601_MAX];
	cJSON *r = cJSON_CreateObject();

	time__iso8601_ms(clock__real_ns(), stamp, sizeof(stamp));
	cJSON_AddStringToObject(r, "time", stamp);
	cJSON_AddStringToObject(r, "source", l->source);
	cJSON_AddStringToObject(r, "event", event);
	return r;
}

int audit_log__write(struct audit_log *l, struct cJSON *rec, bool sync,
		     struct nt_err *err)
{
	char *s = cJSON_PrintUnformatted(rec);
	size_t len;
	ssize_t n;
	int ret = 0;

	cJSON_Delete(rec);
	if (!s)
		return nt_err_set(err, -ENOMEM, "out of memory");
	len = strlen(s);
	s[len] = '\n';		/* over the NUL: written by length */
	n = write(l->fd, s, len + 1);
	if (n != (ssize_t)len + 1)
		ret = nt_err_set(err, n < 0 ? -errno : -EIO,
				 "audit log %s: write: %s", l->path,
				 n < 0 ? strerror(errno) : "short write");
	free(s);
	l->dirty = true;
	if (!ret && sync)
		audit_log__flush(l);
	return ret;
}

void audit_log__flush(struct audit_log *l)
{
	if (l && l->dirty && !fdatasync(l->fd))
		l->dirty = false;
}

static void pointer_path(const char *state_dir, char *buf, size_t size)
{
	snprintf(buf, size, "%s/%s", state_dir, AUDIT_POINTER_FILE);
}

int audit_log__set_pointer(const char *state_dir, const char *path,
			   struct nt_err *err)
{
	char file[PATH_MAX], *s;
	cJSON *o;
	int ret;

	pointer_path(state_dir, file, sizeof(file));
	if (!path)
		return unlink(file) && errno != ENOENT ?
		       nt_err_set(err, -errno, "%s: %s", file, strerror(errno)) : 0;
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "path", path);
	s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!s)
		return nt_err_set(err, -ENOMEM, "out of memory");
	ret = state__write(file, s, strlen(s), 0600, err);
	free(s);
	return ret;
}

int audit_log__from_state(struct audit_log **out, const char *state_dir,
			  const char *source, struct nt_err *err)
{
	static const char *const keys[] = { "path", NULL };
	char file[PATH_MAX], *buf = NULL;
	const cJSON *p;
	cJSON *o = NULL;
	size_t len;
	int ret;

	pointer_path(state_dir, file, sizeof(file));
	ret = state__read(file, AUDIT_POINTER_MAX, false, &buf, &len, err);
	if (!ret)
		ret = json__parse_strict(buf, len, &o, err);
	if (!ret)
		ret = json__only_keys(o, keys, file, err);
	p = ret ? NULL : cJSON_GetObjectItemCaseSensitive(o, "path");
	if (!ret && !cJSON_IsString(p))
		ret = nt_err_set(err, -EINVAL, "%s: \"path\" must be a string",
				 file);
	if (!ret)
		ret = audit_log__open(out, p->valuestring, source, err);
	cJSON_Delete(o);
	free(buf);
	return ret;
}
