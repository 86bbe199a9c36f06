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
 * the ports first gets nothing: the daemon then listens on a port the
 * kernel picks, says so, and serves the namespace all the same.
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

#include "lib/ntcore.h"
#include "userspace/proxy/proxy.h"

#define MAX_SERVED 64
#define ACCEPT_BATCH 64
#define PROXIES_FILE "proxies.json"

enum lkind { L_OUT4, L_OUT6, L_NET, L_MAX };

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
	bool guard_only;	/* --manual-netns: no proxy of ours, only the
				 * sk_lookup guard of enrolled listeners */
	bool seen;		/* an enrolled process still lives there */
	uint16_t bound[L_MAX];	/* the port each listener got */
	uint64_t overflow_said;	/* listener records that did not fit, as
				 * last logged */
	struct listener l[L_MAX];
};

static struct served *served[MAX_SERVED];
struct proxy_stats proxy__stats;

int proxy__socket_in(int netns_fd, int domain, int type)
{
	return netns__socket(netns_fd, domain, type | SOCK_NONBLOCK, 0);
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

/* The NET listener takes two kinds: the port a SYN was for is the
 * accepted socket's own (sk_lookup keeps it). */
static bool to_mesh_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len))
		return false;
	return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port) == PROXY_MESH_PORT;
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
		if (l->kind != L_NET)
			pconn__accept_outbound(fd, l->netns);
		else if (to_mesh_port(fd))
			pconn__accept_mesh(fd, l->netns);
		else
			pconn__accept_plain(fd, l->netns);
	}
}

static socklen_t listen_addr(enum lkind kind, uint16_t port,
			     struct sockaddr_storage *ss)
{
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	if (kind == L_OUT4) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons(port);
		a4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		return sizeof(*a4);
	}
	a6->sin6_family = AF_INET6;
	a6->sin6_port = htons(port);
	if (kind == L_OUT6)
		a6->sin6_addr = in6addr_loopback;
	return sizeof(*a6);
}

/* Binds @fd to its well-known port, or, when another socket holds it, to
 * a port the kernel picks: sk_lookup steers the well-known one here. */
static int bind_listener(struct served *s, int fd, enum lkind kind)
{
	static const uint16_t ports[L_MAX] = {
		PROXY_OUTBOUND_PORT, PROXY_OUTBOUND_PORT, PROXY_MESH_PORT };
	struct sockaddr_storage ss;
	socklen_t len = listen_addr(kind, ports[kind], &ss);

	if (!bind(fd, (struct sockaddr *)&ss, len)) {
		s->bound[kind] = ports[kind];
		return 0;
	}
	if (errno != EADDRINUSE)
		return -errno;
	pr_err("netns %s: port %u is taken by another socket; nametagd listens on another port and the namespace's sk_lookup program steers %u to it (the other socket gets nothing)",
	       s->path, ports[kind], ports[kind]);
	proxy__stats.port_taken++;
	len = listen_addr(kind, 0, &ss);
	if (bind(fd, (struct sockaddr *)&ss, len))
		return -errno;
	len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len))
		return -errno;
	s->bound[kind] = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return 0;
}

static int listen_on(struct served *s, enum lkind kind)
{
	int one = 1, zero = 0, fd, ret;

	fd = proxy__socket_in(s->netns_fd, kind == L_OUT4 ? AF_INET : AF_INET6,
			      SOCK_STREAM);
	if (fd < 0)
		return fd;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* The NET port takes IPv4 too. */
	if (kind == L_NET)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	ret = bind_listener(s, fd, kind);
	if (ret || listen(fd, 1024)) {
		ret = ret ? ret : -errno;
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
		if (s->l[k].h.fd >= 0) {
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

/* The redirect target of @kind: a name, not necessarily a bound port. */
static struct nt_addr target_addr(enum lkind kind)
{
	struct nt_addr a = { .family = AF_INET6, .port = PROXY_OUTBOUND_PORT };

	if (kind == L_OUT6)
		a.addr[3] = htonl(1);
	else
		nt_addr__set_v4(&a, htonl(INADDR_LOOPBACK), PROXY_OUTBOUND_PORT);
	return a;
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
	for (k = 0; k < L_MAX; k++)
		s->l[k].h.fd = -1;
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

/* The proxy's listeners of @s, registered with the datapath. */
static int listen_all(struct served *s, struct nt_err *err)
{
	struct dp_proxy px = { .target4 = target_addr(L_OUT4),
			       .target6 = target_addr(L_OUT6),
			       .mesh_port = PROXY_MESH_PORT };
	int i, ret;

	for (i = 0; i < L_MAX; i++) {
		ret = listen_on(s, i);
		if (ret == -EADDRNOTAVAIL && i == L_OUT6)
			continue;	/* no IPv6 loopback here: IPv4 only */
		if (ret)
			return nt_err_set(err, ret, "proxy listener in %s: %s",
					  s->path, strerror(-ret));
	}
	px.out4_fd = s->l[L_OUT4].h.fd;
	px.out6_fd = s->l[L_OUT6].h.fd;
	px.net_fd = s->l[L_NET].h.fd;
	return datapath__set_proxy(nd->dp, s->netns_fd, &px, err);
}

/*
 * @want_ino: the namespace the caller expects behind @path (0: any), so
 * a /proc/PID path whose pid was recycled is refused. @guard_only
 * (--manual-netns): no proxy of ours there, but strict mode still refuses
 * plaintext to enrolled listeners.
 */
static int serve(const char *path, uint32_t want_ino, bool automatic,
		 bool guard_only, struct nt_err *err)
{
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
	s->guard_only = guard_only;
	have = find_served(s->netns);
	if (have) {
		served_free(s);
		/* An explicit `proxy add` makes a found namespace stay, and
		 * gives a guarded one a proxy. */
		if (automatic || !have->automatic)
			return 0;
		if (have->guard_only) {
			ret = listen_all(have, err);
			if (ret)
				return ret;
			have->guard_only = false;
		}
		have->automatic = false;
		snprintf(have->path, sizeof(have->path), "%s", path);
		return save_served(err);
	}
	for (i = 0; i < MAX_SERVED; i++) {
		if (!served[i] && slot < 0)
			slot = i;
	}
	if (slot < 0) {
		served_free(s);
		return nt_err_set(err, -ENOSPC, "too many network namespaces");
	}
	ret = guard_only ? datapath__guard_netns(nd->dp, s->netns_fd, err) :
	      listen_all(s, err);
	if (ret) {
		served_free(s);
		return ret;
	}
	served[slot] = s;
	pr_info("%s netns %s (%u)%s", guard_only ? "guarding" : "serving",
		path, s->netns,
		automatic ? ", found from an enrolled workload" : "");
	/* Listeners already there are recorded at once, not at the next
	 * periodic sync: until then their plaintext would pass. */
	daemon__sync_listeners_soon();
	return automatic ? 0 : save_served(err);
}

int proxy__serve_netns(const char *path, struct nt_err *err)
{
	return serve(path, 0, false, false, err);
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
	ret = serve(path, netns_ino, true, nd->opts.manual_netns, &err);
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

/* A listener table that overflowed is an error, said again whenever more
 * records were lost: SYNs without a record are refused in that netns. */
void proxy__report_overflow(void)
{
	uint64_t n;
	int i;

	for (i = 0; i < MAX_SERVED; i++) {
		if (!served[i])
			continue;
		n = datapath__overflow(nd->dp, served[i]->netns);
		if (n <= served[i]->overflow_said)
			continue;
		served[i]->overflow_said = n;
		pr_err("netns %u: %llu listener records did not fit its table (%u listeners per netns): that namespace refuses every SYN it has no record for ('nametag proxy list')",
		       served[i]->netns, (unsigned long long)n,
		       NT_LISTENERS_PER_NETNS);
	}
}

cJSON *proxy__netns_json(void)
{
	cJSON *arr = cJSON_CreateArray(), *o;
	int i;

	for (i = 0; i < MAX_SERVED; i++) {
		if (!served[i] || served[i]->guard_only)
			continue;
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "path", served[i]->path);
		cJSON_AddNumberToObject(o, "netns", served[i]->netns);
		cJSON_AddNumberToObject(o, "outbound_port", PROXY_OUTBOUND_PORT);
		cJSON_AddNumberToObject(o, "mesh_port", PROXY_MESH_PORT);
		/* Where the sockets are bound: the well-known ports unless
		 * another socket took one first (sk_lookup steers those). */
		cJSON_AddNumberToObject(o, "outbound4_bound", served[i]->bound[L_OUT4]);
		cJSON_AddNumberToObject(o, "outbound6_bound", served[i]->bound[L_OUT6]);
		cJSON_AddNumberToObject(o, "mesh_bound", served[i]->bound[L_NET]);
		cJSON_AddNumberToObject(o, "listener_overflow",
					(double)datapath__overflow(nd->dp, served[i]->netns));
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
