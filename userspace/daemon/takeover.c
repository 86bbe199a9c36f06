// SPDX-License-Identifier: Apache-2.0
/*
 * An upgrade in place, the new process's side (upgrade.h): started with
 * --takeover FD by the running nametagd, it loads the datapath, the CA,
 * the policy and the proxy on its own, then asks for the sockets, serves
 * every namespace the old one served with the very same listeners, and
 * says READY. A failure at any step before READY is sent to the old
 * process as FAIL with the reason, which it logs and tells the CLI; it
 * never stopped serving. After READY it adopts the kTLS connections the
 * old process hands over (proxy__adopt_conn checks each).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "userspace/daemon/upgrade.h"

/* Each step of the old process has the start's whole deadline at most. */
#define RECV_TIMEOUT_MS	(UPGRADE_START_TIMEOUT * 1000)

void daemon__notify(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t len;
	int fd;

	if (!path || (path[0] != '/' && path[0] != '@') ||
	    strlen(path) >= sizeof(sa.sun_path))
		return;
	strcpy(sa.sun_path, path);
	if (path[0] == '@')
		sa.sun_path[0] = '\0';	/* abstract namespace */
	len = offsetof(struct sockaddr_un, sun_path) + strlen(path);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (sendto(fd, state, strlen(state), MSG_NOSIGNAL,
		   (struct sockaddr *)&sa, len) < 0)
		pr_warn("sd_notify %s: %s", state, strerror(errno));
	close(fd);
}

/* A netns the old process served, served again: by its path if that still
 * names the same namespace (a /proc/PID path whose process lives on, an
 * operator's /run/netns path), else through the handle it sent. */
static int serve_again(struct daemon *d, const struct handoff_msg *m,
		       int netns_fd, struct nt_err *err)
{
	char path[64];
	int ret;

	ret = proxy__serve(d->proxy, m->text, m->netns_ino, m->flags, err);
	if (ret >= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", netns_fd);
	*err = (struct nt_err){};
	ret = proxy__serve(d->proxy, path, m->netns_ino, m->flags, err);
	return ret < 0 ? ret : 0;
}

static int take_netns(struct daemon *d, const struct handoff_msg *m,
		      int *fds, int nfds, struct nt_err *err)
{
	int lfds[PROXY_L_MAX], i = 1, k, ret;

	if (nfds < 1)
		return nt_err_set(err, -EPROTO, "takeover: netns %u came without its handle",
				  m->netns_ino);
	for (k = 0; k < PROXY_L_MAX; k++)
		lfds[k] = (m->fds_mask & (1u << k)) && i < nfds ? fds[i++] : -1;
	ret = proxy__adopt_listeners(d->proxy, m->netns_ino, lfds);
	if (ret)
		return nt_err_set(err, ret, "takeover: out of memory");
	for (i = 0; i < nfds; i++)
		fds[i] = i ? -1 : fds[i];	/* the listeners are the proxy's */
	ret = serve_again(d, m, fds[0], err);
	if (ret)
		pr_warn("takeover: netns %s (%u) not served again: %s", m->text,
			m->netns_ino, err->msg);
	return 0;	/* one namespace lost is no reason to keep the old binary */
}

int takeover__begin(struct daemon *d, struct nt_err *err)
{
	int sock = d->opts.takeover_fd, fds[HANDOFF_MAX_FDS], nfds, i, ret;
	struct handoff_msg m;
	size_t nns = 0;

	handoff__init(&m, HO_HELLO, NULL);
	ret = handoff__send(sock, &m, NULL, 0);
	if (ret)
		return nt_err_set(err, ret, "takeover: the old process is gone: %s",
				  strerror(-ret));
	for (;;) {
		ret = handoff__recv(sock, &m, fds, &nfds, RECV_TIMEOUT_MS);
		if (ret)
			return nt_err_set(err, ret, "takeover: no sockets from the old process: %s",
					  strerror(-ret));
		if (m.type == HO_END)
			break;
		if (m.type == HO_NETNS) {
			ret = take_netns(d, &m, fds, nfds, err);
			nns++;
		} else if (m.type == HO_CONTROL && nfds == 1 &&
			   d->handed_ctl_fd < 0) {
			d->handed_ctl_fd = fds[0];
			fds[0] = -1;
		}
		for (i = 0; i < nfds; i++)
			if (fds[i] >= 0)
				close(fds[i]);
		if (ret)
			return ret;
	}
	pr_info("takeover: %zu network namespaces and their listeners taken over", nns);
	return 0;
}

/* The control socket is taken over when it is at the path this process
 * would bind (a changed run_dir binds anew). */
int takeover__control_fd(struct daemon *d)
{
	struct sockaddr_un sa = {};
	socklen_t len = sizeof(sa);
	char want[sizeof(sa.sun_path)];
	int fd = d->handed_ctl_fd;

	d->handed_ctl_fd = -1;
	if (fd < 0)
		return -1;
	snprintf(want, sizeof(want), "%s/%s", d->opts.run_dir, CTL_SOCK_NAME);
	if (!getsockname(fd, (struct sockaddr *)&sa, &len) &&
	    !strncmp(sa.sun_path, want, sizeof(want)))
		return fd;
	close(fd);
	return -1;
}

/* ---- after READY: the kTLS connections old hands over ------------------------------- */

static struct adopter {
	struct loop_handler h;		/* the socketpair, until END */
	struct daemon *d;
	pid_t old;			/* its SO_PEERCRED: the process that
					 * made the pair */
	size_t adopted, denied, reset, refused;
} adopter = { .h.fd = -1 };

static void adopt_end(struct adopter *a, const char *how)
{
	loop__del(a->d->loop, &a->h);
	close(a->h.fd);
	a->h.fd = -1;
	pr_info("takeover: %zu kTLS connections adopted from pid %d, %zu ended by the policy in force, %zu reset meanwhile, %zu refused (%s)",
		a->adopted, (int)a->old, a->denied, a->reset, a->refused, how);
}

static void adopt_one(struct adopter *a, const struct proxy_handover *h,
		      int *fds, int nfds)
{
	struct nt_err err = {};
	int ret, i;

	if (nfds != 2 || h->pid != (uint32_t)a->old) {
		for (i = 0; i < nfds; i++)
			close(fds[i]);
		a->refused++;
		pr_warn("takeover: a handed-over connection refused: %d descriptors, from pid %u (want 2, from %d); closed",
			nfds, h->pid, (int)a->old);
		return;
	}
	ret = proxy__adopt_conn(a->d->proxy, h, fds, &err);
	if (!ret) {
		a->adopted++;
		return;
	}
	/* One end of the other is gone (a denied one's peer on this node). */
	if (ret == -ECONNRESET) {
		a->reset++;
		pr_info("takeover: a handed-over connection (pid %u's flow %llu) was %s",
			h->pid, (unsigned long long)h->flow_id, err.msg);
		return;
	}
	if (ret == -EACCES) {
		a->denied++;
		pr_info("takeover: a handed-over connection (pid %u's flow %llu) ended: %s",
			h->pid, (unsigned long long)h->flow_id, err.msg);
		return;
	}
	a->refused++;
	pr_warn("takeover: a handed-over connection (pid %u's flow %llu) refused and closed: %s",
		h->pid, (unsigned long long)h->flow_id, err.msg);
}

static void on_handoff(struct loop_handler *h, uint32_t events)
{
	struct adopter *a = (struct adopter *)h;
	int fds[HANDOFF_MAX_FDS], nfds, ret;
	union handoff_any u;

	ret = handoff__recv_any(h->fd, &u, fds, &nfds, 0);
	if (ret == -ETIMEDOUT || ret == -EAGAIN)
		return;
	if (ret) {
		adopt_end(a, ret == -EPIPE ? "the old process closed the exchange" :
			  strerror(-ret));
		return;
	}
	if (u.m.type == HO_CONN) {
		adopt_one(a, &u.c.h, fds, nfds);
		return;
	}
	while (nfds > 0)
		close(fds[--nfds]);
	adopt_end(a, u.m.type == HO_END ? "done" : "a message out of turn");
}

/* From READY on, the socketpair is read in the loop: old hands its
 * connections over while this process already serves. */
static void adopt_begin(struct daemon *d, int sock)
{
	struct ucred cred = {};
	socklen_t len = sizeof(cred);

	if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) ||
	    cred.pid <= 0) {
		close(sock);
		return;
	}
	adopter.d = d;
	adopter.old = cred.pid;
	adopter.h = (struct loop_handler){ .fd = sock, .on_event = on_handoff };
	if (loop__add(d->loop, &adopter.h, EPOLLIN)) {
		close(sock);
		adopter.h.fd = -1;
	}
}

void takeover__ready(struct daemon *d)
{
	char state[64];
	struct handoff_msg m;
	int sock = d->opts.takeover_fd;

	proxy__adopt_done(d->proxy);
	if (sock >= 0) {
		handoff__init(&m, HO_READY, NULL);
		m.flags = HO_READY_ADOPTS;
		d->opts.takeover_fd = -1;
		if (handoff__send(sock, &m, NULL, 0)) {
			pr_warn("takeover: the old process did not hear READY: it drains at its start deadline");
			close(sock);
		} else {
			adopt_begin(d, sock);
		}
	}
	snprintf(state, sizeof(state), "MAINPID=%d\nREADY=1", (int)getpid());
	daemon__notify(state);
}

void takeover__fail(struct daemon *d, const char *why)
{
	struct handoff_msg m;

	if (d->opts.takeover_fd < 0)
		return;
	handoff__init(&m, HO_FAIL, "%s", why);
	handoff__send(d->opts.takeover_fd, &m, NULL, 0);
	close(d->opts.takeover_fd);
	d->opts.takeover_fd = -1;
}
