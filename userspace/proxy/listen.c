// SPDX-License-Identifier: Apache-2.0
/*
 * The proxy's listeners, three per served network namespace, created
 * inside it (a socket keeps the namespace it was created in):
 *   127.0.0.1:15001, [::1]:15001  outbound, where connect() is redirected
 *   [::]:15008 (dual-stack)       the mesh port (mTLS from peer node
 *                                 proxies) and plaintext SYNs sk_lookup
 *                                 steers from enrolled listeners; the
 *                                 accepted socket's own port tells which
 * The namespace's sk_lookup program hands SYNs for those addresses to
 * these very sockets (bpf/lookup.bpf.c), so a process that binds one of
 * the ports first gets nothing: the proxy then listens on a port the
 * kernel picks, says so, and serves the namespace all the same. Which
 * namespaces to serve, and remembering them, is the daemon's
 * (daemon/netns.c).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "userspace/proxy/proxy_int.h"

#define ACCEPT_BATCH 64

struct listener {
	struct loop_handler h;
	struct proxy *px;
	enum proxy_lkind kind;
	uint32_t netns;
};

struct served {
	struct proxy_netns pub;		/* what proxy__foreach_netns shows */
	char path[PATH_MAX];
	struct listener l[PROXY_L_MAX];
};

static struct served *find_served(const struct proxy *px, uint32_t ino)
{
	int i;

	for (i = 0; i < PROXY_MAX_SERVED; i++)
		if (px->served[i] && px->served[i]->pub.netns_ino == ino)
			return px->served[i];
	return NULL;
}

bool proxy__serves(const struct proxy *px, uint32_t netns_ino)
{
	return find_served(px, netns_ino);
}

int proxy__netns_fd(const struct proxy *px, uint32_t netns_ino)
{
	struct served *s = find_served(px, netns_ino);

	return s ? s->pub.netns_fd : -ENOENT;
}

int proxy__foreach_netns(const struct proxy *px,
			 int (*fn)(const struct proxy_netns *n, void *arg),
			 void *arg)
{
	int i, ret;

	for (i = 0; i < PROXY_MAX_SERVED; i++) {
		if (!px->served[i])
			continue;
		ret = fn(&px->served[i]->pub, arg);
		if (ret)
			return ret;
	}
	return 0;
}

/* ---- accepting --------------------------------------------------------------- */

/* The NET listener takes two kinds: the port a SYN was for is the
 * accepted socket's own (sk_lookup keeps it). */
static bool to_mesh_port(int fd)
{
	struct nt_addr local;

	return !nt_addr__of_socket(fd, false, &local) &&
	       local.port == PROXY_MESH_PORT;
}

/*
 * A bounded batch per event (the listener is level-triggered): a flood on
 * one port must not keep the loop from the control socket and from the
 * connections already open. What to shed: admit.c.
 */
static void on_listener(struct loop_handler *h, uint32_t events)
{
	struct listener *l = (struct listener *)h;
	struct proxy *px = l->px;
	int fd, n;

	for (n = 0; n < ACCEPT_BATCH; n++) {
		fd = accept4(h->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0 && (errno == EMFILE || errno == ENFILE) &&
		    admit__no_fd(px, h->fd))
			continue;
		if (fd < 0)
			return;	/* EAGAIN, or a transient error: next event */
		if (!admit__fd(px, fd, l->kind != PROXY_L_NET))
			continue;
		proxy__tune_socket(fd);
		if (l->kind != PROXY_L_NET)
			pconn__accept_outbound(px, fd, l->netns);
		else if (to_mesh_port(fd))
			pconn__accept_mesh(px, fd, l->netns);
		else
			pconn__accept_plain(px, fd, l->netns);
	}
}

/* ---- listening ----------------------------------------------------------------- */

/* Where each listener binds: loopback for outbound, any for the rest. */
static struct nt_addr listen_addr(enum proxy_lkind kind, uint16_t port)
{
	struct nt_addr a = { .family = AF_INET6, .port = port };

	if (kind == PROXY_L_OUT4)
		nt_addr__set_v4(&a, htonl(INADDR_LOOPBACK), port);
	else if (kind == PROXY_L_OUT6)
		a.addr[3] = htonl(1);
	return a;
}

/* Binds @fd to its well-known port, or, when another socket holds it, to
 * a port the kernel picks: sk_lookup steers the well-known one here. */
static int bind_listener(struct proxy *px, struct served *s, int fd,
			 enum proxy_lkind kind)
{
	static const uint16_t ports[PROXY_L_MAX] = {
		PROXY_OUTBOUND_PORT, PROXY_OUTBOUND_PORT, PROXY_MESH_PORT };
	struct nt_addr a = listen_addr(kind, ports[kind]), got;
	struct sockaddr_storage ss;
	socklen_t len = nt_addr__to_sockaddr(&a, a.port, &ss);

	if (!bind(fd, (struct sockaddr *)&ss, len)) {
		s->pub.bound[kind] = ports[kind];
		return 0;
	}
	if (errno != EADDRINUSE)
		return -errno;
	pr_err("netns %s: port %u is taken by another socket; nametagd listens on another port and the namespace's sk_lookup program steers %u to it (the other socket gets nothing)",
	       s->path, ports[kind], ports[kind]);
	px->port_taken++;
	len = nt_addr__to_sockaddr(&a, 0, &ss);
	if (bind(fd, (struct sockaddr *)&ss, len))
		return -errno;
	if (nt_addr__of_socket(fd, false, &got))
		return -errno;
	s->pub.bound[kind] = got.port;
	return 0;
}

/* A listener an earlier nametagd handed over (drain.c): the same socket,
 * its backlog and its place in proxy_socks kept. */
static int adopted(struct served *s, enum proxy_lkind kind, int fd)
{
	struct nt_addr got;

	if (nt_addr__of_socket(fd, false, &got))
		return -errno;
	s->pub.bound[kind] = got.port;
	return 0;
}

static int listen_on(struct proxy *px, struct served *s, enum proxy_lkind kind)
{
	int one = 1, zero = 0, fd, ret;

	fd = proxy__adopted_fd(px, s->pub.netns_ino, kind);
	if (fd >= 0) {
		ret = adopted(s, kind, fd);
		if (!ret)
			goto listening;
		close(fd);
	}
	fd = netns__socket(s->pub.netns_fd,
			   kind == PROXY_L_OUT4 ? AF_INET : AF_INET6,
			   SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return fd;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* The NET port takes IPv4 too. */
	if (kind == PROXY_L_NET)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	ret = bind_listener(px, s, fd, kind);
	if (ret || listen(fd, 1024)) {
		ret = ret ? ret : -errno;
		close(fd);
		return ret;
	}
listening:
	s->l[kind] = (struct listener){ .h.fd = fd, .h.on_event = on_listener,
					.px = px, .kind = kind,
					.netns = s->pub.netns_ino };
	return loop__add(px->loop, &s->l[kind].h, EPOLLIN);
}

static void served_free(struct proxy *px, struct served *s)
{
	int k;

	for (k = 0; k < PROXY_L_MAX; k++) {
		if (s->l[k].h.fd >= 0) {
			loop__del(px->loop, &s->l[k].h);
			close(s->l[k].h.fd);
		}
	}
	if (s->pub.netns_fd >= 0)
		close(s->pub.netns_fd);
	free(s);
}

/* The redirect target of @kind: a name, not necessarily a bound port. */
static struct nt_addr target_addr(enum proxy_lkind kind)
{
	return listen_addr(kind, PROXY_OUTBOUND_PORT);
}

/* The proxy's listeners of @s, registered with the datapath. */
static int listen_all(struct proxy *px, struct served *s, struct nt_err *err)
{
	struct dp_proxy dpx = { .target4 = target_addr(PROXY_L_OUT4),
				.target6 = target_addr(PROXY_L_OUT6),
				.mesh_port = PROXY_MESH_PORT };
	int i, ret;

	for (i = 0; i < PROXY_L_MAX; i++) {
		ret = listen_on(px, s, i);
		if (ret == -EADDRNOTAVAIL && i == PROXY_L_OUT6)
			continue;	/* no IPv6 loopback here: IPv4 only */
		if (ret)
			return nt_err_set(err, ret, "proxy listener in %s: %s",
					  s->path, strerror(-ret));
	}
	dpx.out4_fd = s->l[PROXY_L_OUT4].h.fd;
	dpx.out6_fd = s->l[PROXY_L_OUT6].h.fd;
	dpx.net_fd = s->l[PROXY_L_NET].h.fd;
	return datapath__set_proxy(px->dp, s->pub.netns_fd, &dpx, err);
}

static int open_served(const char *path, struct served **out,
		       struct nt_err *err)
{
	struct served *s = calloc(1, sizeof(*s));
	struct stat st;
	int k;

	if (!s)
		return nt_err_set(err, -ENOMEM, "out of memory");
	snprintf(s->path, sizeof(s->path), "%s", path);
	s->pub.path = s->path;
	for (k = 0; k < PROXY_L_MAX; k++)
		s->l[k].h.fd = -1;
	s->pub.netns_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (s->pub.netns_fd < 0 || fstat(s->pub.netns_fd, &st)) {
		nt_err_set(err, -errno, "netns %s: %s", path, strerror(errno));
		if (s->pub.netns_fd >= 0)
			close(s->pub.netns_fd);
		free(s);
		return -ENOENT;
	}
	s->pub.netns_ino = st.st_ino;
	*out = s;
	return 0;
}

/* An explicit `proxy add` of a namespace served already makes a found one
 * stay, and gives a guarded one a proxy. */
static int promote(struct proxy *px, struct served *have, const char *path,
		   struct nt_err *err)
{
	int ret;

	if (have->pub.guard_only) {
		ret = listen_all(px, have, err);
		if (ret)
			return ret;
		have->pub.guard_only = false;
	}
	have->pub.found = false;
	snprintf(have->path, sizeof(have->path), "%s", path);
	return 1;
}

int proxy__serve(struct proxy *px, const char *path, uint32_t want_ino,
		 unsigned int flags, struct nt_err *err)
{
	bool found = flags & PROXY_SERVE_FOUND, guard = flags & PROXY_SERVE_GUARD;
	struct served *s = NULL, *have;
	int i, slot = -1, ret;

	ret = open_served(path, &s, err);
	if (ret)
		return ret;
	if (want_ino && s->pub.netns_ino != want_ino) {
		served_free(px, s);
		return nt_err_set(err, -ESRCH, "%s is no longer netns %u", path,
				  want_ino);
	}
	have = find_served(px, s->pub.netns_ino);
	if (have) {
		served_free(px, s);
		return found || !have->pub.found ? 0 : promote(px, have, path, err);
	}
	for (i = 0; i < PROXY_MAX_SERVED && slot < 0; i++)
		if (!px->served[i])
			slot = i;
	if (slot < 0) {
		served_free(px, s);
		return nt_err_set(err, -ENOSPC, "too many network namespaces");
	}
	s->pub.found = found;
	s->pub.guard_only = guard;
	ret = guard ? datapath__guard_netns(px->dp, s->pub.netns_fd, err) :
	      listen_all(px, s, err);
	if (ret) {
		served_free(px, s);
		return ret;
	}
	px->served[slot] = s;
	pr_info("%s netns %s (%u)%s", guard ? "guarding" : "serving", path,
		s->pub.netns_ino, found ? ", found from an enrolled workload" : "");
	return 1;
}

int proxy__unserve(struct proxy *px, uint32_t netns_ino, struct nt_err *err)
{
	int i;

	for (i = 0; i < PROXY_MAX_SERVED; i++) {
		if (!px->served[i] || px->served[i]->pub.netns_ino != netns_ino)
			continue;
		datapath__del_proxy(px->dp, netns_ino, NULL);
		served_free(px, px->served[i]);
		px->served[i] = NULL;
		return 0;
	}
	return nt_err_set(err, -ENOENT, "netns %u is not served", netns_ino);
}

/* At exit: the listeners close; the datapath's records stay (fail closed). */
void proxy__unserve_all(struct proxy *px)
{
	int i;

	for (i = 0; i < PROXY_MAX_SERVED; i++) {
		if (px->served[i])
			served_free(px, px->served[i]);
		px->served[i] = NULL;
	}
}

/* ---- an upgrade in place (drain.c) --------------------------------------------- */

int proxy__listen_fds(const struct proxy *px, uint32_t netns_ino,
		      int fds[PROXY_L_MAX])
{
	struct served *s = find_served(px, netns_ino);
	int k;

	for (k = 0; k < PROXY_L_MAX; k++)
		fds[k] = s ? s->l[k].h.fd : -1;
	return s ? 0 : -ENOENT;
}

/* The sockets stay open (and in proxy_socks): only this process stops
 * taking connections from them, or takes them again. */
void proxy__pause_listeners(struct proxy *px, bool pause)
{
	struct served *s;
	int i, k;

	for (i = 0; i < PROXY_MAX_SERVED; i++) {
		s = px->served[i];
		for (k = 0; s && k < PROXY_L_MAX; k++) {
			if (s->l[k].h.fd < 0)
				continue;
			if (pause)
				loop__del(px->loop, &s->l[k].h);
			else
				loop__add(px->loop, &s->l[k].h, EPOLLIN);
		}
	}
}
