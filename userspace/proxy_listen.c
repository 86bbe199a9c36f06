// SPDX-License-Identifier: Apache-2.0
/*
 * The proxy's listeners, three per served network namespace, created
 * inside it (a socket keeps the namespace it was created in):
 *   127.0.0.1:15001, [::1]:15001  outbound, where connect() is redirected
 *   0.0.0.0:15006                 inbound, where sk_lookup steers SYNs
 *   [::]:15008                    mesh, mTLS from peer node proxies
 * Served namespaces are remembered in STATE/proxies.json.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "userspace/log.h"
#include "userspace/proxy.h"

#define MAX_SERVED 64
#define ACCEPT_BATCH 64
#define PROXIES_FILE "proxies.json"

enum lkind { L_OUT4, L_OUT6, L_IN, L_MESH, L_MAX };

struct listener {
	struct loop_handler h;
	enum lkind kind;
	uint32_t netns;
};

struct served {
	char path[PATH_MAX];
	int netns_fd;
	uint32_t netns;
	bool automatic;		/* found from a workload, not `proxy add` */
	bool seen;		/* an enrolled process still lives there */
	struct listener l[L_MAX];
};

static struct served *served[MAX_SERVED];
static int self_netns = -1;

int proxy__socket_in_proto(int netns_fd, int domain, int type, int protocol)
{
	int fd, saved;

	if (self_netns < 0) {
		self_netns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
		if (self_netns < 0)
			return -errno;
	}
	if (setns(netns_fd, CLONE_NEWNET))
		return -errno;
	fd = socket(domain, type | SOCK_CLOEXEC, protocol);
	saved = errno;
	/* Back home before anything else runs; failing that, nothing the
	 * daemon does next would be in the right place. */
	if (setns(self_netns, CLONE_NEWNET)) {
		pr_warn("cannot return to the daemon's netns: %s", strerror(errno));
		abort();
	}
	return fd < 0 ? -saved : fd;
}

int proxy__socket_in(int netns_fd, int domain, int type)
{
	return proxy__socket_in_proto(netns_fd, domain, type | SOCK_NONBLOCK, 0);
}

int proxy__foreach_netns(int (*fn)(int netns_fd, uint32_t netns_ino, void *arg),
			 void *arg)
{
	int i, ret;

	for (i = 0; i < MAX_SERVED; i++) {
		if (!served[i])
			continue;
		ret = fn(served[i]->netns_fd, served[i]->netns, arg);
		if (ret)
			return ret;
	}
	return 0;
}

/*
 * Every proxied byte was already batched by the workload that wrote it:
 * Nagle would only hold back the small records of a handshake or a verdict
 * line until a delayed ACK, milliseconds per new connection.
 */
void proxy__tune_socket(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int proxy__netns_fd(uint32_t netns_ino)
{
	int i;

	for (i = 0; i < MAX_SERVED; i++)
		if (served[i] && served[i]->netns == netns_ino)
			return served[i]->netns_fd;
	return -ENOENT;
}

/*
 * A bounded batch per event (the listener is level-triggered): a flood on
 * one port must not keep the loop from the control socket and from the
 * connections already open. What to shed: userspace/proxy_admit.c.
 */
static void on_listener(struct loop_handler *h, uint32_t events)
{
	struct listener *l = (struct listener *)h;
	int fd, n;

	for (n = 0; n < ACCEPT_BATCH; n++) {
		fd = accept4(h->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0 && (errno == EMFILE || errno == ENFILE) &&
		    admit__no_fd(h->fd))
			continue;
		if (fd < 0)
			return;	/* EAGAIN, or a transient error: next event */
		if (!admit__fd(fd, l->kind == L_OUT4 || l->kind == L_OUT6))
			continue;
		proxy__tune_socket(fd);
		if (l->kind == L_MESH)
			pconn__accept_mesh(fd, l->netns);
		else if (l->kind == L_IN)
			pconn__accept_plain(fd, l->netns);
		else
			pconn__accept_outbound(fd, l->netns);
	}
}

static int listen_on(struct served *s, enum lkind kind)
{
	static const uint16_t ports[L_MAX] = {
		PROXY_OUTBOUND_PORT, PROXY_OUTBOUND_PORT, PROXY_INBOUND_PORT,
		PROXY_MESH_PORT };
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6 };
	struct sockaddr_in a4 = { .sin_family = AF_INET };
	int one = 1, zero = 0, mark = NT_PROXY_MARK_DEFAULT, fd, ret;
	bool v6 = kind == L_OUT6 || kind == L_MESH;

	fd = proxy__socket_in(s->netns_fd, v6 ? AF_INET6 : AF_INET, SOCK_STREAM);
	if (fd < 0)
		return fd;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark));
	if (v6) {
		a6.sin6_port = htons(ports[kind]);
		if (kind == L_OUT6)
			a6.sin6_addr = in6addr_loopback;
		else	/* the mesh port takes IPv4 too */
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero,
				   sizeof(zero));
		ret = bind(fd, (struct sockaddr *)&a6, sizeof(a6));
	} else {
		a4.sin_port = htons(ports[kind]);
		a4.sin_addr.s_addr = htonl(kind == L_IN ? INADDR_ANY :
					   INADDR_LOOPBACK);
		ret = bind(fd, (struct sockaddr *)&a4, sizeof(a4));
	}
	if (ret || listen(fd, 1024)) {
		ret = -errno;
		close(fd);
		return ret;
	}
	s->l[kind].h.fd = fd;
	s->l[kind].h.on_event = on_listener;
	s->l[kind].kind = kind;
	s->l[kind].netns = s->netns;
	return loop__add(&s->l[kind].h, EPOLLIN);
}

static void served_free(struct served *s)
{
	int k;

	for (k = 0; k < L_MAX; k++) {
		if (s->l[k].h.fd > 0) {
			loop__del(&s->l[k].h);
			close(s->l[k].h.fd);
		}
	}
	if (s->netns_fd >= 0)
		close(s->netns_fd);
	free(s);
}

static int save_served(struct nt_err *err)
{
	cJSON *root = cJSON_CreateObject(), *arr;
	char path[PATH_MAX], *s;
	int i, ret;

	arr = cJSON_AddArrayToObject(root, "netns");
	/* Namespaces found from workloads are found again after a restart;
	 * their /proc paths would not survive it anyway. */
	for (i = 0; i < MAX_SERVED; i++)
		if (served[i] && !served[i]->automatic)
			cJSON_AddItemToArray(arr, cJSON_CreateString(served[i]->path));
	s = cJSON_Print(root);
	cJSON_Delete(root);
	if (!s)
		return nt_err_set(err, -ENOMEM, "out of memory");
	snprintf(path, sizeof(path), "%s/%s", nd->opts.state_dir, PROXIES_FILE);
	ret = state__write(path, s, strlen(s), 0600, err);
	cJSON_free(s);
	return ret;
}

static struct nt_addr loopback_addr(bool v6)
{
	struct nt_addr a = { .port = PROXY_OUTBOUND_PORT };

	if (v6) {
		a.family = AF_INET6;
		a.addr[3] = htonl(1);
	} else {
		a.family = AF_INET;
		a.addr[2] = htonl(0xffff);
		a.addr[3] = htonl(INADDR_LOOPBACK);
	}
	return a;
}

static int open_served(const char *path, struct served **out,
		       struct nt_err *err)
{
	struct served *s = calloc(1, sizeof(*s));
	struct stat st;

	if (!s)
		return nt_err_set(err, -ENOMEM, "out of memory");
	snprintf(s->path, sizeof(s->path), "%s", path);
	s->netns_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (s->netns_fd < 0 || fstat(s->netns_fd, &st)) {
		nt_err_set(err, -errno, "netns %s: %s", path, strerror(errno));
		served_free(s);
		return -ENOENT;
	}
	s->netns = st.st_ino;
	*out = s;
	return 0;
}

static struct served *find_served(uint32_t ino)
{
	int i;

	for (i = 0; i < MAX_SERVED; i++)
		if (served[i] && served[i]->netns == ino)
			return served[i];
	return NULL;
}

/* @want_ino: the namespace the caller expects behind @path (0: any), so
 * a /proc/PID path whose pid was recycled is refused. */
static int serve(const char *path, uint32_t want_ino, bool automatic,
		 struct nt_err *err)
{
	struct nt_addr out4 = loopback_addr(false), out6 = loopback_addr(true);
	struct served *s = NULL, *have;
	int i, slot = -1, ret;

	ret = open_served(path, &s, err);
	if (ret)
		return ret;
	if (want_ino && s->netns != want_ino) {
		served_free(s);
		return nt_err_set(err, -ESRCH, "%s is no longer netns %u", path,
				  want_ino);
	}
	s->automatic = automatic;
	have = find_served(s->netns);
	if (have) {
		/* An explicit `proxy add` makes a found namespace stay. */
		if (!automatic && have->automatic) {
			have->automatic = false;
			snprintf(have->path, sizeof(have->path), "%s", path);
			served_free(s);
			return save_served(err);
		}
		served_free(s);
		return 0;
	}
	for (i = 0; i < MAX_SERVED; i++) {
		if (!served[i] && slot < 0)
			slot = i;
	}
	if (slot < 0) {
		served_free(s);
		return nt_err_set(err, -ENOSPC, "too many network namespaces");
	}
	for (i = 0; i < L_MAX; i++) {
		ret = listen_on(s, i);
		if (ret == -EADDRNOTAVAIL && i == L_OUT6) {
			/* No IPv6 loopback in this namespace: IPv4 only. */
			memset(&out6, 0, sizeof(out6));
			continue;
		}
		if (ret) {
			nt_err_set(err, ret, "proxy listener in %s: %s", path,
				   strerror(-ret));
			served_free(s);
			return ret;
		}
	}
	ret = datapath__set_proxy(nd->dp, s->netns_fd, &out4,
				  out6.port ? &out6 : NULL, s->l[L_IN].h.fd, err);
	if (ret) {
		served_free(s);
		return ret;
	}
	served[slot] = s;
	pr_info("serving netns %s (%u)%s", path, s->netns,
		automatic ? ", found from an enrolled workload" : "");
	return automatic ? 0 : save_served(err);
}

int proxy__serve_netns(const char *path, struct nt_err *err)
{
	return serve(path, 0, false, err);
}

/* --manual-netns: no proxy of ours, but strict mode still refuses
 * plaintext to enrolled listeners there. */
static int guard(const char *path, uint32_t netns_ino)
{
	struct nt_err err = {};
	struct stat st;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = fstat(fd, &st) ? -errno :
	      st.st_ino != netns_ino ? -ESRCH :
	      datapath__guard_netns(nd->dp, fd, &err);
	close(fd);
	if (ret)
		pr_debug("netns %u not guarded: %s", netns_ino, err.msg);
	return ret;
}

/*
 * Serves the network namespace an enrolled process lives in, found from
 * its kernel events or from the enrolled cgroups. A pod's first packet
 * should not have to wait for an operator's `proxy add`.
 */
int proxy__serve_pid(uint32_t tgid, uint32_t netns_ino)
{
	struct nt_err err = {};
	char path[64];
	struct served *s;
	int ret;

	s = find_served(netns_ino);
	if (s) {
		s->seen = true;
		return 0;
	}
	snprintf(path, sizeof(path), "/proc/%u/ns/net", tgid);
	if (nd->opts.manual_netns)
		return guard(path, netns_ino);
	ret = serve(path, netns_ino, true, &err);
	if (ret)
		pr_debug("not serving netns %u: %s", netns_ino, err.msg);
	else if ((s = find_served(netns_ino)))
		s->seen = true;
	return ret;
}

static void serve_cgroup_procs(const char *dir, int depth)
{
	char path[PATH_MAX];
	struct dirent *de;
	unsigned int pid;
	struct stat st;
	FILE *f;
	DIR *d;

	if (depth > 16)
		return;
	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	f = fopen(path, "re");
	while (f && fscanf(f, "%u", &pid) == 1) {
		snprintf(path, sizeof(path), "/proc/%u/ns/net", pid);
		if (!stat(path, &st))
			proxy__serve_pid(pid, (uint32_t)st.st_ino);
	}
	if (f)
		fclose(f);
	d = opendir(dir);
	while (d && (de = readdir(d))) {
		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) <
		    (int)sizeof(path))
			serve_cgroup_procs(path, depth + 1);
	}
	if (d)
		closedir(d);
}

/*
 * Every namespace with an enrolled (permissive or strict) process gets a
 * proxy; a found namespace none lives in any more is let go (our fd would
 * otherwise keep a deleted pod's namespace alive).
 */
void proxy__sync_netns(void)
{
	struct ns *n;
	size_t i;
	int k;

	for (k = 0; k < MAX_SERVED; k++)
		if (served[k])
			served[k]->seen = false;
	for (i = 0; i < ns_table__count(nd->ns); i++) {
		n = ns_table__at(nd->ns, i);
		if (n->mode >= NT_MODE_PERMISSIVE && n->cgroup_id)
			serve_cgroup_procs(n->cgroup, 0);
	}
	for (k = 0; k < MAX_SERVED; k++) {
		if (!served[k] || !served[k]->automatic || served[k]->seen)
			continue;
		pr_info("netns %u has no enrolled workload left: not serving it",
			served[k]->netns);
		proxy__unserve_netns(served[k]->netns, NULL);
	}
}

int proxy__unserve_netns(uint32_t netns_ino, struct nt_err *err)
{
	int i;

	for (i = 0; i < MAX_SERVED; i++) {
		if (!served[i] || served[i]->netns != netns_ino)
			continue;
		datapath__del_proxy(nd->dp, netns_ino, NULL);
		served_free(served[i]);
		served[i] = NULL;
		return save_served(err);
	}
	return nt_err_set(err, -ENOENT, "netns %u is not served", netns_ino);
}

cJSON *proxy__netns_json(void)
{
	cJSON *arr = cJSON_CreateArray(), *o;
	int i;

	for (i = 0; i < MAX_SERVED; i++) {
		if (!served[i])
			continue;
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "path", served[i]->path);
		cJSON_AddNumberToObject(o, "netns", served[i]->netns);
		cJSON_AddNumberToObject(o, "outbound_port", PROXY_OUTBOUND_PORT);
		cJSON_AddNumberToObject(o, "inbound_port", PROXY_INBOUND_PORT);
		cJSON_AddNumberToObject(o, "mesh_port", PROXY_MESH_PORT);
		cJSON_AddItemToArray(arr, o);
	}
	return arr;
}

/* At start: every netns served with `proxy add` before, then those
 * enrolled workloads live in. */
int proxy__restore(struct nt_err *err);

int proxy__restore(struct nt_err *err)
{
	char path[PATH_MAX], *buf = NULL;
	const cJSON *arr, *it;
	cJSON *root = NULL;
	size_t len;
	int ret;

	snprintf(path, sizeof(path), "%s/%s", nd->opts.state_dir, PROXIES_FILE);
	ret = state__read(path, 1 << 20, false, &buf, &len, err);
	if (!ret)
		ret = json__parse_strict(buf, len, &root, err);
	free(buf);
	if (ret && ret != -ENOENT)
		return ret;
	arr = cJSON_GetObjectItemCaseSensitive(root, "netns");
	cJSON_ArrayForEach(it, arr) {
		struct nt_err e2 = {};

		if (cJSON_IsString(it) &&
		    proxy__serve_netns(it->valuestring, &e2))
			pr_warn("not serving %s: %s", it->valuestring, e2.msg);
	}
	cJSON_Delete(root);
	proxy__sync_netns();
	return 0;
}
