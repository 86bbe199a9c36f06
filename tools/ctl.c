// SPDX-License-Identifier: Apache-2.0
/* Talking to nametagd over RUN_DIR/nametagd.sock: one JSON line each way. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "tools/main.h"

#define REPLY_MAX (16u << 20)

const char *run_dir = CTL_RUN_DIR_DEFAULT;

int ctl_connect(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", run_dir,
		     CTL_SOCK_NAME) >= (int)sizeof(sa.sun_path))
		return p_err("--run-dir path too long");
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return p_err("socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		p_err("cannot reach nametagd at %s: %s%s", sa.sun_path,
		      strerror(errno),
		      errno == ENOENT || errno == ECONNREFUSED ?
		      " (is nametagd running? --run-dir DIR)" :
		      errno == EACCES ? " (root only)" : "");
		close(fd);
		return -1;
	}
	return fd;
}

/* Sends @req (consumed) with optional fds. */
int ctl_send(int fd, cJSON *req, const int *fds, int nfds)
{
	char cbuf[CMSG_SPACE(sizeof(int) * CTL_MAX_FDS)];
	struct msghdr msg = {};
	cJSON *reply = NULL;
	struct iovec iov;
	int saved;
	char *s;
	ssize_t n;

	s = cJSON_PrintUnformatted(req);
	cJSON_Delete(req);
	if (!s)
		return p_err("out of memory");
	iov.iov_len = strlen(s) + 1;
	s[iov.iov_len - 1] = '\n';
	iov.iov_base = s;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	if (nfds > 0 && nfds <= CTL_MAX_FDS)
		fdpass__attach(&msg, cbuf, sizeof(cbuf), fds, nfds);
	n = sendmsg(fd, &msg, MSG_NOSIGNAL);
	saved = errno;
	free(s);
	if (n == (ssize_t)iov.iov_len)
		return 0;
	/* The daemon may have answered and closed before reading, as it
	 * does for a peer it refuses: its answer is still there to read. */
	if (n < 0 && (saved == EPIPE || saved == ECONNRESET) &&
	    ctl_recv(fd, &reply))
		return -1;	/* ctl_recv printed why */
	cJSON_Delete(reply);
	return p_err("failed to send to nametagd: %s",
		     strerror(n < 0 ? saved : EIO));
}

/* Reads one line and parses it; an {"error": ...} reply becomes p_err. */
int ctl_recv(int fd, cJSON **out)
{
	/* Replies such as a full flow table run to megabytes: grow up to
	 * REPLY_MAX. */
	static char *buf;
	static size_t len, cap;
	struct nt_err err = {};
	cJSON *o, *e;
	char *nl, *nb;
	ssize_t n;

	while (!(nl = buf ? memchr(buf, '\n', len) : NULL)) {
		if (len == cap) {
			if (cap >= REPLY_MAX)
				return p_err("reply line too long");
			nb = realloc(buf, cap ? cap * 2 : 65536);
			if (!nb)
				return p_err("out of memory");
			buf = nb;
			cap = cap ? cap * 2 : 65536;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return p_err("nametagd closed the connection");
		len += n;
	}
	if (json__parse_strict(buf, nl - buf, &o, &err)) {
		len = 0;
		return p_err("bad reply from nametagd: %s", err.msg);
	}
	len -= nl + 1 - buf;
	memmove(buf, nl + 1, len);
	e = cJSON_GetObjectItemCaseSensitive(o, CTL_ERROR);
	if (cJSON_IsString(e)) {
		p_err("%s", e->valuestring);
		cJSON_Delete(o);
		return -1;
	}
	*out = o;
	return 0;
}

/* One request, one reply. */
int ctl_call(cJSON *req, cJSON **reply)
{
	int fd, ret;

	fd = ctl_connect();
	if (fd < 0) {
		cJSON_Delete(req);
		return -1;
	}
	ret = ctl_send(fd, req, NULL, 0);
	if (!ret)
		ret = ctl_recv(fd, reply);
	close(fd);
	return ret;
}

cJSON *ctl_request(const char *cmd)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, CTL_CMD, cmd);
	return o;
}

/* The lints of a reply ("warnings"), for a human on stderr. */
static void print_warnings(const cJSON *reply)
{
	const cJSON *w;

	cJSON_ArrayForEach(w, cJSON_GetObjectItemCaseSensitive(reply, CTL_R_WARNINGS))
		if (cJSON_IsString(w))
			fprintf(stderr, "Warning: %s\n", w->valuestring);
}

/* Prints @key of @reply as JSON (the daemon's JSON is the stable schema) and
 * frees @reply. The reply's "warnings" go into that object, if any. */
int ctl_emit(cJSON *reply, const char *key)
{
	cJSON *item = cJSON_DetachItemFromObjectCaseSensitive(reply, key);
	cJSON *w = cJSON_DetachItemFromObjectCaseSensitive(reply, CTL_R_WARNINGS);

	if (w && cJSON_IsObject(item))
		cJSON_AddItemToObject(item, CTL_R_WARNINGS, w);
	else
		cJSON_Delete(w);
	cJSON_Delete(reply);
	if (!item)
		return p_err("reply from nametagd lacks \"%s\"", key);
	return json_emit(item);
}

int ctl_print(cJSON *req, const char *key, void (*print)(const cJSON *item))
{
	const cJSON *it, *v;
	cJSON *reply;

	if (ctl_call(req, &reply))
		return -1;
	if (json_output)
		return ctl_emit(reply, key);
	print_warnings(reply);
	v = cJSON_GetObjectItemCaseSensitive(reply, key);
	if (cJSON_IsArray(v))
		cJSON_ArrayForEach(it, v)
			print(it);
	else if (v)
		print(v);
	cJSON_Delete(reply);
	return v ? 0 : p_err("reply from nametagd lacks \"%s\"", key);
}

int ctl_print_reply(cJSON *req, void (*print)(const cJSON *reply))
{
	cJSON *reply;

	if (ctl_call(req, &reply))
		return -1;
	if (json_output) {
		cJSON_DeleteItemFromObject(reply, CTL_OK);
		return json_emit(reply);
	}
	print_warnings(reply);
	if (print)
		print(reply);
	cJSON_Delete(reply);
	return 0;
}

/* A delete request: {"cmd": @cmd, @key: @value}; prints what went. */
int ctl_delete(const char *cmd, const char *key, const char *value,
	       const char *what)
{
	cJSON *req = ctl_request(cmd);

	cJSON_AddStringToObject(req, key, value);
	if (ctl_print_reply(req, NULL))
		return -1;
	if (!json_output)
		printf("deleted %s %s\n", what, value);
	return 0;
}
