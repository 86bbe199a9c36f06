// SPDX-License-Identifier: Apache-2.0
/*
 * An upgrade in place, the running process's side (upgrade.h for the
 * exchange): start the binary on disk, hand it the sockets when it asks,
 * keep serving until it says READY, then drain and exit. Until READY
 * nothing of this process has stopped but its reading of the kernel's
 * events (a ring buffer has one reader), so a new binary that is missing,
 * crashes, hangs or refuses its config costs nothing: it is killed if need
 * be, the events are read again, and the log and the CLI say why.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "userspace/daemon/upgrade.h"

enum up_state { UP_STARTED, UP_SENT, UP_DRAINING };

struct upgrade {
	struct daemon *d;
	struct loop_handler h;		/* our end of the socketpair */
	enum up_state st;
	pid_t child;			/* 0 once reaped */
	time_t deadline;		/* monotonic s: READY, or the drain's end */
	bool announced;			/* the draining count was logged */
};

#define UPGRADE_OF(hp) \
	((struct upgrade *)((char *)(hp) - offsetof(struct upgrade, h)))

bool upgrade__paused(const struct daemon *d)
{
	return d->handed_over || (d->up && d->up->st >= UP_SENT);
}

const char *upgrade__state(const struct daemon *d, pid_t *other, size_t *left)
{
	*other = d->up ? d->up->child : 0;
	*left = d->handed_over ? proxy__drain_left(d->proxy) : 0;
	if (d->handed_over)
		return "draining";
	return d->up ? "upgrading" : "serving";
}

static void close_sock(struct upgrade *up)
{
	if (up->h.fd < 0)
		return;
	loop__del(up->d->loop, &up->h);
	close(up->h.fd);
	up->h.fd = -1;
}

/* The start failed: the new process goes, this one reads events again. */
static void fail(struct upgrade *up, const char *why)
{
	struct daemon *d = up->d;
	int status;

	close_sock(up);
	if (up->child > 0) {
		kill(up->child, SIGKILL);
		if (waitpid(up->child, &status, 0) == up->child)
			up->child = 0;
	}
	if (up->st >= UP_SENT)
		loop__add(d->loop, &d->events_h, EPOLLIN);
	pr_err("upgrade failed: %s; this process (pid %d) keeps serving",
	       why, (int)getpid());
	ctl_daemon__upgrade_done(d, 0, why);
	d->up = NULL;
	loop__defer_free(d->loop, up);
}

static int send_netns(const struct proxy_netns *n, void *arg)
{
	struct upgrade *up = arg;
	int lfds[PROXY_L_MAX], fds[HANDOFF_MAX_FDS], nfds = 0, k, ret;
	struct handoff_msg m;

	handoff__init(&m, HO_NETNS, "%s", n->path);
	m.netns_ino = n->netns_ino;
	m.flags = (n->found ? PROXY_SERVE_FOUND : 0) |
		  (n->guard_only ? PROXY_SERVE_GUARD : 0);
	/* The proxy keeps no netns fd: one of its sockets gives it back. */
	fds[nfds] = proxy__open_netns(up->d->proxy, n->netns_ino);
	if (fds[nfds] < 0)
		return 0;	/* gone meanwhile: nothing to hand over */
	nfds++;
	proxy__listen_fds(up->d->proxy, n->netns_ino, lfds);
	for (k = 0; k < PROXY_L_MAX; k++) {
		if (lfds[k] < 0)
			continue;
		m.fds_mask |= 1u << k;
		fds[nfds++] = lfds[k];
	}
	ret = handoff__send(up->h.fd, &m, fds, nfds);
	close(fds[0]);
	return ret;
}

/* HELLO: new loaded what it could alone. From now on the ring buffer is
 * its; the listeners are both ours until READY (either process may
 * accept from a shared listening socket: nothing waits on us). */
static int on_hello(struct upgrade *up)
{
	struct daemon *d = up->d;
	struct handoff_msg m;
	int ret, ctl;

	loop__del(d->loop, &d->events_h);
	up->st = UP_SENT;
	ret = proxy__foreach_netns(d->proxy, send_netns, up);
	ctl = control__listener_fd(d);
	if (!ret && ctl >= 0) {
		handoff__init(&m, HO_CONTROL, NULL);
		ret = handoff__send(up->h.fd, &m, &ctl, 1);
	}
	if (!ret) {
		handoff__init(&m, HO_END, NULL);
		ret = handoff__send(up->h.fd, &m, NULL, 0);
	}
	return ret;
}

static int send_conn(const struct proxy_handover *h, const int fds[2],
		     void *arg)
{
	struct upgrade *up = arg;

	return handoff__send_conn(up->h.fd, h, fds);
}

/* Connections whose TLS state is the kernel's go to new (proxy.h,
 * proxy__handover), then END. New reads them in its loop as they come;
 * a send that waits longer than HANDOFF_SEND_TIMEOUT stops the hand-over
 * and what is left drains here. */
static void hand_over(struct upgrade *up, pid_t pid)
{
	struct timeval tv = { .tv_sec = HANDOFF_SEND_TIMEOUT };
	struct handoff_msg m;
	size_t n;

	setsockopt(up->h.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	n = proxy__handover(up->d->proxy, send_conn, up);
	handoff__init(&m, HO_END, NULL);
	if (handoff__send(up->h.fd, &m, NULL, 0))
		pr_warn("upgrade: pid %d did not hear the end of the hand-over",
			(int)pid);
	pr_info("upgrade: %zu kTLS connections handed over to pid %d, %zu left to drain here",
		n, (int)pid, proxy__drain_left(up->d->proxy));
}

/* READY: new serves. This one stops accepting, hands its kTLS
 * connections over if new takes them, and drains the rest. */
static void on_ready(struct upgrade *up, const struct handoff_msg *r)
{
	struct daemon *d = up->d;
	pid_t pid = r->pid;

	control__stop_listening(d);
	d->handed_over = true;
	up->st = UP_DRAINING;
	up->deadline = clock__mono_s() + d->opts.drain_secs;
	pr_info("upgrade: pid %d serves now; this process (pid %d) stops accepting and drains for at most %llds",
		(int)pid, (int)getpid(), (long long)d->opts.drain_secs);
	proxy__drain(d->proxy);
	if (r->flags & HO_READY_ADOPTS)
		hand_over(up, pid);
	close_sock(up);
	fleet__close(d);	/* etcd is the new process's to follow */
	ctl_daemon__upgrade_done(d, pid, NULL);
}

static void describe(pid_t pid, int status, char *why, size_t size)
{
	if (WIFEXITED(status))
		snprintf(why, size, "the new process (pid %d) exited with status %d",
			 (int)pid, WEXITSTATUS(status));
	else
		snprintf(why, size, "the new process (pid %d) was killed by signal %d",
			 (int)pid, WTERMSIG(status));
}

/* The exchange ended: the new process is exiting, which takes a moment.
 * Its status says more than the end of a socket. */
static void exit_status(struct upgrade *up, char *why, size_t size)
{
	int i, status;

	why[0] = '\0';
	for (i = 0; up->child > 0 && i < 100; i++) {
		if (waitpid(up->child, &status, WNOHANG) == up->child) {
			describe(up->child, status, why, size);
			up->child = 0;
			return;
		}
		usleep(10000);
	}
}

static void on_message(struct loop_handler *h, uint32_t events)
{
	struct upgrade *up = UPGRADE_OF(h);
	int fds[HANDOFF_MAX_FDS], nfds, i, ret;
	struct handoff_msg m;
	char why[NT_ERR_MSG_MAX];

	ret = handoff__recv(h->fd, &m, fds, &nfds, 0);
	for (i = 0; i < nfds; i++)
		close(fds[i]);	/* new sends none */
	if (ret == -ETIMEDOUT || ret == -EAGAIN)
		return;
	if (ret) {
		exit_status(up, why, sizeof(why));
		if (!why[0])
			snprintf(why, sizeof(why), "the new process ended the exchange (%s) before it was ready; its log lines say why",
				 ret == -EPIPE ? "it exited" : strerror(-ret));
		fail(up, why);
		return;
	}
	switch (m.type) {
	case HO_HELLO:
		if (up->st == UP_STARTED && !on_hello(up))
			return;
		fail(up, "the sockets could not be handed over");
		return;
	case HO_READY:
		if (up->st == UP_SENT) {
			on_ready(up, &m);
			return;
		}
		break;
	case HO_FAIL:
		snprintf(why, sizeof(why), "the new process: %.400s", m.text);
		fail(up, why);
		return;
	}
	fail(up, "the new process sent a message out of turn");
}

/* The command line again, but for an earlier upgrade's --takeover. */
static char **child_argv(const struct daemon *d, char *fdarg)
{
	char **v = calloc(d->argc + 3, sizeof(*v));
	int i, n = 0;

	if (!v)
		return NULL;
	for (i = 0; i < d->argc; i++) {
		if (!strcmp(d->argv[i], "--takeover")) {
			i++;
			continue;
		}
		if (!strncmp(d->argv[i], "--takeover=", 11))
			continue;
		v[n++] = d->argv[i];
	}
	v[n++] = "--takeover";
	v[n++] = fdarg;
	return v;
}

/* In the child, between fork and exec: only async-signal-safe calls. */
static void __attribute__((noreturn))
exec_child(const char *exe, char **argv, int sock)
{
	struct handoff_msg m;
	sigset_t none;
	int e;

	if (sock == UPGRADE_FD)
		fcntl(sock, F_SETFD, 0);
	else if (dup2(sock, UPGRADE_FD) < 0)
		_exit(127);
	close_range(UPGRADE_FD + 1, ~0u, 0);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	execv(exe, argv);
	e = errno;
	/* handoff__init would call vsnprintf: not safe here. */
	memset(&m, 0, sizeof(m));
	m.magic = HANDOFF_MAGIC;
	m.version = HANDOFF_VERSION;
	m.type = HO_FAIL;
	strcpy(m.text, "cannot execute the binary: ");
	strncat(m.text, strerror(e), 200);
	send(UPGRADE_FD, &m, sizeof(m), MSG_NOSIGNAL);
	_exit(127);
}

static int spawn(struct upgrade *up, struct nt_err *err)
{
	struct daemon *d = up->d;
	char fdarg[16], **argv;
	int sv[2];
	pid_t pid;

	snprintf(fdarg, sizeof(fdarg), "%d", UPGRADE_FD);
	argv = child_argv(d, fdarg);
	if (!argv)
		return nt_err_set(err, -ENOMEM, "out of memory");
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv)) {
		free(argv);
		return nt_err_set(err, -errno, "socketpair: %s", strerror(errno));
	}
	fflush(stderr);
	pid = fork();
	if (!pid)
		exec_child(d->exe, argv, sv[1]);
	free(argv);
	close(sv[1]);
	if (pid < 0) {
		close(sv[0]);
		return nt_err_set(err, -errno, "fork: %s", strerror(errno));
	}
	up->child = pid;
	up->h = (struct loop_handler){ .fd = sv[0], .on_event = on_message };
	return loop__add(d->loop, &up->h, EPOLLIN);
}

static int start(struct daemon *d, struct ctl_client *c, struct nt_err *err)
{
	struct upgrade *up;
	int ret;

	if (d->handed_over)
		return nt_err_set(err, -EALREADY, "this process (pid %d) has handed over and drains",
				  (int)getpid());
	if (d->up)
		return nt_err_set(err, -EBUSY, "an upgrade is under way (new pid %d)",
				  (int)d->up->child);
	if (access(d->exe, X_OK))
		return nt_err_set(err, -errno, "the binary %s: %s; nothing changed",
				  d->exe, strerror(errno));
	up = calloc(1, sizeof(*up));
	if (!up)
		return nt_err_set(err, -ENOMEM, "out of memory");
	up->d = d;
	up->h.fd = -1;
	up->deadline = clock__mono_s() + UPGRADE_START_TIMEOUT;
	ret = spawn(up, err);
	if (ret) {
		close_sock(up);
		free(up);
		return ret;
	}
	d->up = up;
	if (c)
		control__subscribe(c, TOPIC_UPGRADE);
	pr_info("upgrade: started %s as pid %d", d->exe, (int)up->child);
	return 0;
}

int upgrade__start(struct daemon *d, struct ctl_client *c, struct nt_err *err)
{
	int ret = start(d, c, err);

	if (ret)
		pr_err("upgrade failed: %s; this process (pid %d) keeps serving",
		       err->msg, (int)getpid());
	return ret;
}

void upgrade__reap(struct daemon *d)
{
	struct upgrade *up = d->up;
	char why[NT_ERR_MSG_MAX];
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (!up || pid != up->child)
			continue;
		up->child = 0;
		describe(pid, status, why, sizeof(why));
		if (up->st == UP_DRAINING)
			pr_err("%s after it took over", why);
		/* A FAIL message may still wait on the socket: it says more. */
		else if (up->h.fd >= 0)
			on_message(&up->h, EPOLLIN);
		if (d->up == up && up->st != UP_DRAINING)
			fail(up, why);
	}
}

static void drained(struct daemon *d, const char *how)
{
	pr_info("%s: exiting (pid %d)", how, (int)getpid());
	d->stop_requested = true;
	loop__stop(d->loop);
}

void upgrade__tick(struct daemon *d)
{
	struct upgrade *up = d->up;
	size_t n;

	if (!up)
		return;
	if (up->st != UP_DRAINING) {
		if (clock__mono_s() > up->deadline)
			fail(up, "the new process was not ready within 10 s");
		return;
	}
	if (!proxy__drain_left(d->proxy)) {
		drained(d, "drained");
		return;
	}
	if (clock__mono_s() < up->deadline)
		return;
	n = proxy__drain_close(d->proxy);
	pr_warn("drain deadline (%llds): %zu connections still open were closed cleanly (close_notify, FIN), not reset",
		(long long)d->opts.drain_secs, n);
	drained(d, "drain deadline");
}
