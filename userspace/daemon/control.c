// SPDX-License-Identifier: Apache-2.0
/*
 * The control socket, RUN_DIR/nametagd.sock: one JSON object per line in
 * each direction. Root only, twice over: the socket is mode 0600 and every
 * peer's credentials are checked on accept. Requests may carry file
 * descriptors (SCM_RIGHTS), e.g. a proxy's listener and its netns.
 */
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "userspace/daemon/daemon.h"
#include "userspace/daemon/upgrade.h"

#define MAX_CLIENTS	64

struct ctl_client {
	struct loop_handler h;
	struct control *ctl;
	char buf[CTL_LINE_MAX];
	size_t len;
	int fds[CTL_MAX_FDS];
	int nfds;
	int topic;		/* subscribed topic, 0 = none */
	uint32_t uid, pid;	/* SO_PEERCRED at accept, for the audit log */
};

struct control {
	struct daemon *d;
	struct loop_handler listener;
	struct ctl_client *clients[MAX_CLIENTS];
	char sock_path[PATH_MAX];
};

/* Every command, each CLI object's table in turn. */
static const struct ctl_cmd *const tables[] = {
	ctl_ns_cmds, ctl_entry_cmds, ctl_workload_cmds, ctl_flow_cmds,
	ctl_svid_cmds, ctl_policy_cmds, ctl_proxy_cmds, ctl_daemon_cmds,
	ctl_node_cmds,
};

static ctl_handler_fn find_cmd(const char *cmd)
{
	const struct ctl_cmd *c;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(tables); i++)
		for (c = tables[i]; c->cmd; c++)
			if (!strcmp(c->cmd, cmd))
				return c->fn;
	return NULL;
}

const char *ctl__str(const struct ctl_request *r, const char *key,
		     struct nt_err *err)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(r->req, key);

	if (cJSON_IsString(it))
		return it->valuestring;
	nt_err_set(err, -EINVAL, "request needs string \"%s\"", key);
	return NULL;
}

int ctl__uint(const struct ctl_request *r, const char *key, uint64_t *v,
	      struct nt_err *err)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(r->req, key);

	if (!cJSON_IsNumber(it) || it->valuedouble < 0 ||
	    it->valuedouble != (double)(uint64_t)it->valuedouble)
		return nt_err_set(err, -EINVAL, "request needs a whole number \"%s\"",
				  key);
	*v = (uint64_t)it->valuedouble;
	return 0;
}

static void client_close(struct ctl_client *c)
{
	struct control *ctl = c->ctl;
	int i;

	loop__del(ctl->d->loop, &c->h);
	close(c->h.fd);
	c->h.fd = -1;
	for (i = 0; i < c->nfds; i++)
		close(c->fds[i]);
	for (i = 0; i < MAX_CLIENTS; i++)
		if (ctl->clients[i] == c)
			ctl->clients[i] = NULL;
	loop__defer_free(ctl->d->loop, c);
}

/* One line out. A peer that cannot take it within the send timeout (with
 * MSG_DONTWAIT in @flags: at once) is a broken peer; the caller drops it. */
static int send_line(int fd, const cJSON *msg, int flags)
{
	char *s = cJSON_PrintUnformatted(msg);
	size_t len, off = 0;
	ssize_t n;
	int ret = 0;

	if (!s)
		return -ENOMEM;
	len = strlen(s);
	s[len] = '\n';	/* replaces the NUL; length kept explicitly */
	while (off < len + 1) {
		n = send(fd, s + off, len + 1 - off, MSG_NOSIGNAL | flags);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			break;
		}
		off += n;
	}
	cJSON_free(s);
	return ret;
}

static int reply_error(int fd, const char *msg)
{
	cJSON *o = cJSON_CreateObject();
	int ret;

	cJSON_AddStringToObject(o, CTL_ERROR, msg);
	ret = send_line(fd, o, 0);
	cJSON_Delete(o);
	return ret;
}

/* 0, or the error of an answer that could not be sent: the peer is then
 * dropped, not waited on once more for every request it has queued. */
static int handle_request(struct ctl_client *c, const char *line, size_t len)
{
	struct ctl_request r = { .d = c->ctl->d, .client = c,
				 .peer_uid = c->uid, .peer_pid = c->pid };
	struct nt_err err = {};
	const cJSON *cmd;
	ctl_handler_fn fn;
	cJSON *req = NULL, *resp;
	int i, ret, sent;

	memcpy(r.fds, c->fds, sizeof(r.fds));
	r.nfds = c->nfds;
	c->nfds = 0;
	if (json__parse_strict(line, len, &req, &err)) {
		sent = reply_error(c->h.fd, err.msg);
		goto out;
	}
	cmd = cJSON_GetObjectItemCaseSensitive(req, CTL_CMD);
	fn = cJSON_IsString(cmd) ? find_cmd(cmd->valuestring) : NULL;
	if (!fn) {
		sent = reply_error(c->h.fd, "unknown or missing \"cmd\"");
		goto out;
	}
	if (fleet__refuse(c->ctl->d, cmd->valuestring, &err)) {
		sent = reply_error(c->h.fd, err.msg);
		goto out;
	}
	r.req = req;
	resp = cJSON_CreateObject();
	ret = fn(&r, resp, &err);
	if (ret) {
		sent = reply_error(c->h.fd, err.msg[0] ? err.msg : strerror(-ret));
	} else {
		cJSON_AddBoolToObject(resp, CTL_OK, true);
		sent = send_line(c->h.fd, resp, 0);
	}
	pr_debug("control: %s -> %s", cmd->valuestring, ret ? err.msg : "ok");
	cJSON_Delete(resp);
out:
	cJSON_Delete(req);
	for (i = 0; i < r.nfds; i++)
		if (r.fds[i] >= 0)
			close(r.fds[i]);
	return sent;
}

static void on_client(struct loop_handler *h, uint32_t events)
{
	struct ctl_client *c = (struct ctl_client *)h;
	char cbuf[CMSG_SPACE(sizeof(int) * CTL_MAX_FDS)];
	struct iovec iov = { c->buf + c->len, sizeof(c->buf) - c->len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = cbuf,
			      .msg_controllen = sizeof(cbuf) };
	char *nl;
	ssize_t n;

	n = recvmsg(h->fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		client_close(c);
		return;
	}
	/* Taken even when there were too many: those that did arrive are
	 * ours now, and client_close() closes them. */
	fdpass__take(&msg, c->fds, &c->nfds, CTL_MAX_FDS);
	if (msg.msg_flags & MSG_CTRUNC) {
		reply_error(h->fd, "too many file descriptors with one request");
		client_close(c);
		return;
	}
	c->len += n;
	while ((nl = memchr(c->buf, '\n', c->len))) {
		if (handle_request(c, c->buf, nl - c->buf)) {
			client_close(c);
			return;
		}
		c->len -= nl + 1 - c->buf;
		memmove(c->buf, nl + 1, c->len);
	}
	if (c->len == sizeof(c->buf)) {
		reply_error(h->fd, "request line too long");
		client_close(c);
	}
}

static bool peer_is_root(int fd, struct ucred *cred)
{
	socklen_t len = sizeof(*cred);

	return !getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cred, &len) &&
	       cred->uid == 0;
}

static void on_accept(struct loop_handler *h, uint32_t events)
{
	struct control *ctl = (struct control *)((char *)h -
			      offsetof(struct control, listener));
	struct timeval tv = { .tv_sec = 2 };
	struct ucred cred;
	struct ctl_client *c;
	int fd, i;

	fd = accept4(h->fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0 && (errno == EMFILE || errno == ENFILE))
		fdlimit__refuse(h->fd);	/* else the loop spins on it */
	if (fd < 0)
		return;
	if (!peer_is_root(fd, &cred)) {
		pr_warn("control: refused a non-root peer");
		reply_error(fd, "permission denied: nametagd serves root only");
		close(fd);
		return;
	}
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	for (i = 0; i < MAX_CLIENTS && ctl->clients[i]; i++)
		;
	c = i < MAX_CLIENTS ? calloc(1, sizeof(*c)) : NULL;
	if (!c) {
		reply_error(fd, "too many control clients");
		close(fd);
		return;
	}
	c->h.fd = fd;
	c->h.on_event = on_client;
	c->uid = cred.uid;
	c->pid = cred.pid;
	c->ctl = ctl;
	if (loop__add(ctl->d->loop, &c->h, EPOLLIN)) {
		close(fd);
		free(c);
		return;
	}
	ctl->clients[i] = c;
}

int control__open(struct daemon *d, struct nt_err *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct control *ctl;
	int fd, ret;

	ret = state__mkdir(d->opts.run_dir, err);
	if (ret)
		return ret;
	ctl = calloc(1, sizeof(*ctl));
	if (!ctl)
		return nt_err_set(err, -ENOMEM, "out of memory");
	ctl->d = d;
	ctl->listener = (struct loop_handler){ .fd = -1, .on_event = on_accept };
	d->control = ctl;
	if (snprintf(ctl->sock_path, sizeof(ctl->sock_path), "%s/%s",
		     d->opts.run_dir, CTL_SOCK_NAME) >= (int)sizeof(sa.sun_path))
		return nt_err_set(err, -ENAMETOOLONG, "run dir path too long");
	strcpy(sa.sun_path, ctl->sock_path);
	/* An upgrade hands the listening socket over: clients queued on it
	 * are answered by this process (upgrade.h). */
	fd = takeover__control_fd(d);
	if (fd >= 0) {
		ctl->listener.fd = fd;
		return loop__add(d->loop, &ctl->listener, EPOLLIN);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return nt_err_set(err, -errno, "socket: %s", strerror(errno));
	unlink(ctl->sock_path);	/* a previous daemon's; we hold the pins now */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    chmod(ctl->sock_path, 0600) || listen(fd, 16)) {
		ret = -errno;
		close(fd);
		return nt_err_set(err, ret, "failed to listen on %s: %s",
				  ctl->sock_path, strerror(-ret));
	}
	ctl->listener.fd = fd;
	return loop__add(d->loop, &ctl->listener, EPOLLIN);
}

void control__close(struct daemon *d)
{
	struct control *ctl = d->control;
	int i;

	if (!ctl)
		return;
	for (i = 0; i < MAX_CLIENTS; i++)
		if (ctl->clients[i])
			client_close(ctl->clients[i]);
	if (ctl->listener.fd >= 0) {
		loop__del(d->loop, &ctl->listener);
		close(ctl->listener.fd);
		unlink(ctl->sock_path);
	}
	free(ctl);
	d->control = NULL;
}

int control__listener_fd(const struct daemon *d)
{
	return d->control ? d->control->listener.fd : -1;
}

/* After an upgrade: the new process has the listener and its path; the
 * clients this one has keep their answers. */
void control__stop_listening(struct daemon *d)
{
	struct control *ctl = d->control;

	if (!ctl || ctl->listener.fd < 0)
		return;
	loop__del(d->loop, &ctl->listener);
	close(ctl->listener.fd);
	ctl->listener.fd = -1;
}

void control__subscribe(struct ctl_client *c, int topic)
{
	c->topic = topic;
}

/*
 * Never waits: the same thread moves the mesh's bytes, and a subscriber
 * that reads slower than flows come (a terminal, during a connect flood)
 * would otherwise set the pace of the whole node. One whose socket buffer
 * cannot take the line now is a socket buffer of lines behind: it is
 * dropped, and its client sees the stream end.
 */
void control__publish(struct daemon *d, int topic, const cJSON *msg)
{
	struct control *ctl = d->control;
	struct ctl_client *c;
	int i;

	for (i = 0; ctl && i < MAX_CLIENTS; i++) {
		c = ctl->clients[i];
		if (c && c->topic == topic &&
		    send_line(c->h.fd, msg, MSG_DONTWAIT)) {
			pr_warn("control: dropped a flow watch that fell behind");
			client_close(c);
		}
	}
}
