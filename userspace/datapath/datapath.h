/* SPDX-License-Identifier: Apache-2.0 */
/*
 * userspace/datapath — nametagd's side of the kernel datapath (bpf/): it
 * loads and pins the programs, adopts what an earlier daemon left pinned,
 * and is the only code that touches a BPF map, always through the
 * skeleton (a renamed map fails the build, not a lookup at run time). It
 * knows cgroup ids, network namespace inodes, sockets and the layouts of
 * bpf/nametag.h; it never knows a namespace's name, a policy, the proxy
 * or the daemon (docs/architecture.md).
 *
 * Conventions: functions return 0 or a negative errno; with @err they
 * fill it with one sentence naming the place. Pins live under
 * BPFFS/nametag (bpf/nametag.h) so a daemon restart never detaches
 * enforcement.
 */
#ifndef NAMETAG_DATAPATH_H
#define NAMETAG_DATAPATH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/inet_diag.h>

#include "bpf/nametag.h"
#include "lib/ntcore.h"

struct datapath;

/* ---- loading (datapath.c) ------------------------------------------------ */

/* How many network namespaces the per-netns maps hold, and how many
 * listening addresses each netns's table does (0: the defaults of
 * bpf/nametag.h). A pinned map of another size is refused at load. */
struct dp_limits {
	uint32_t max_netns;
	uint32_t listeners_per_netns;
};

/* Loads, pins and attaches at the cgroup @cgroup_root (id @cgroup_id),
 * mounting bpffs at @bpffs if it is not there. */
int datapath__open(struct datapath **dp, const char *cgroup_root,
		   uint64_t cgroup_id, const char *bpffs,
		   const struct dp_limits *lim, struct nt_err *err);
/* Drops this process's handles; pinned links and maps stay in force. */
void datapath__close(struct datapath *dp);
/* `nametagd --cleanup`: unpinning the links detaches every program. */
int datapath__cleanup(const char *bpffs, struct nt_err *err);

/* Ring buffer of struct nt_event: @fn gets each event, from
 * datapath__events_poll(). The fd is for the caller's epoll set. */
int datapath__events_open(struct datapath *dp,
			  void (*fn)(const struct nt_event *ev, void *arg),
			  void *arg);
int datapath__events_fd(const struct datapath *dp);
int datapath__events_poll(struct datapath *dp);

/* What `proxy status` shows of the datapath. */
struct dp_status {
	const char *pin_dir;
	uint64_t cgroup_id;
	size_t links;
	uint32_t max_netns;
	uint32_t listeners_per_netns;
	uint32_t netns_guarded;		/* with a table and sk_lookup program */
};
void datapath__status(const struct datapath *dp, struct dp_status *st);

/* ---- enrolled namespaces and what the kernel recorded (datapath.c) -------- */

int datapath__set_ns(struct datapath *dp, uint64_t cgroup_id,
		     const struct nt_ns_value *v);
int datapath__del_ns(struct datapath *dp, uint64_t cgroup_id);
/* The namespace cgroup ids ns_mode holds, at most @max into @ids; their
 * number. */
size_t datapath__ns_ids(const struct datapath *dp, uint64_t *ids, size_t max);
/* Replaces the egress trie (bpf/nametag.h, struct nt_egress_key). */
int datapath__set_egress(struct datapath *dp, const struct nt_egress_key *keys,
			 size_t n);
/* The evidence of a connection the kernel redirected, by the 4-tuple the
 * proxy sees on accept (sock_by_tuple), taken out of the map: -ENOENT
 * when there is none, or it is for an earlier set of proxy sockets. */
int datapath__take_sock_by_tuple(struct datapath *dp, const struct nt_tuple *t,
				 struct nt_sock_value *v);
/* The process table's entry of @tgid (exec-time exe); -ENOENT. */
int datapath__proc(const struct datapath *dp, uint32_t tgid, struct nt_proc *p);
/* The name the image @x was exec'd by (exec_names; kept after the process
 * exits), into @buf; -ENOENT when the kernel has none (any more). */
int datapath__exec_name(const struct datapath *dp, const struct nt_exe *x,
			char *buf, size_t size);
/* The Workload API's caller (unix.c): what the cgroup unix connect hook
 * recorded about the process that connected the peer of @fd, an accepted
 * unix stream socket; read once. -EOPNOTSUPP without the hook (6.7+),
 * -ENOENT when it recorded nothing (the caller is in no enrolled namespace,
 * or the record was evicted). */
bool datapath__has_unix_hook(const struct datapath *dp);
int datapath__unix_evidence(struct datapath *dp, int fd,
			    struct nt_sock_value *v);
/* What the kernel recorded about the socket @fd (sock_ev storage). */
int datapath__socket_evidence(const struct datapath *dp, int fd,
			      struct nt_sock_value *v);

/* ---- the node proxy of each network namespace (proxies.c) ----------------- */

/* Its listening sockets (-1: none) and the addresses redirected connect()s
 * are rewritten to. */
struct dp_proxy {
	int out4_fd, out6_fd, net_fd;
	struct nt_addr target4, target6;
	uint16_t mesh_port;
};

int datapath__set_proxy(struct datapath *dp, int netns_fd,
			const struct dp_proxy *px, struct nt_err *err);
int datapath__del_proxy(struct datapath *dp, uint32_t netns_ino,
			struct nt_err *err);
/* The namespace's sk_lookup program with no proxy behind it: an enrolled
 * listener there is refused plaintext in strict mode all the same. */
int datapath__guard_netns(struct datapath *dp, int netns_fd,
			  struct nt_err *err);
/*
 * Serving on demand (bpf/serve.bpf.h): @fd, a listening socket of the
 * daemon's, tells the kernel a daemon is alive to serve the network
 * namespaces its enrolled processes are in, so strict holds a connect()
 * made before the proxy is there instead of refusing it; the socket's
 * close (the daemon's end) ends that. -1 takes it out.
 */
int datapath__set_server(struct datapath *dp, int fd, struct nt_err *err);
/* nametagd cannot serve @netns_ino (the limit, a failure): strict refuses
 * its connects at once, and releases the SYNs held there, for
 * NT_WANT_REFUSED_NS. */
int datapath__refuse_netns(struct datapath *dp, uint32_t netns_ino);
/* Puts the listener tables of namespaces served since the last call into
 * the kernel's listeners map, in one batch (one RCU grace period). The
 * daemon calls it once per turn of its loop. */
int datapath__flush_tables(struct datapath *dp);
/* Listener records of @netns_ino that did not fit its table. */
uint64_t datapath__overflow(const struct datapath *dp, uint32_t netns_ino);
/* What the datapath lost (stats.c), for metrics: events the programs
 * could not queue (ring buffer full), listener records that did not fit,
 * SYNs to strict listeners in a netns not served yet (dropped). */
struct dp_stats {
	uint64_t events_lost;
	uint64_t listener_records_lost;
	uint64_t unserved_syns;		/* to strict listeners, dropped */
};
void datapath__stats(const struct datapath *dp, struct dp_stats *st);
/* Logs the listener tables that lost records since last said. */
void datapath__report_overflow(struct datapath *dp);
/* Every proxies entry; @fn returning non-zero stops and is returned. */
int datapath__proxies_foreach(const struct datapath *dp,
			      int (*fn)(uint32_t netns_ino,
					const struct nt_proxy *p, void *arg),
			      void *arg);

/* ---- listener tables and delivery tickets (listen.c) ---------------------- */

/* The enrolled listener a TCP connection to @addr in @netns_ino reaches,
 * as the kernel would pick it (exact address, then the wildcards), the
 * same walk as bpf/listeners.bpf.h. -ENOENT when there is none. */
int datapath__find_listener(const struct datapath *dp, uint32_t netns_ino,
			    const struct nt_addr *addr, struct nt_listener *out);
/* The entry @k of @netns_ino's listener table, as it is. */
int datapath__find_exact(const struct datapath *dp, uint32_t netns_ino,
			 const struct nt_listen_key *k, struct nt_listener *out);
/* Announces a delivery from @src to @dst: its SYN goes to exactly the
 * listening socket @cookie (bpf/lookup.bpf.c); removed once connected. */
int datapath__ticket(struct datapath *dp, uint32_t netns_ino,
		     const struct nt_addr *src, const struct nt_addr *dst,
		     uint64_t cookie);
void datapath__unticket(struct datapath *dp, uint32_t netns_ino,
			const struct nt_addr *src, const struct nt_addr *dst);
/* Is the listening socket @cookie in listen_socks (deliverable)? */
bool datapath__listen_sock_held(const struct datapath *dp, uint64_t cookie);
/* Puts the listening socket @fd into listen_socks. */
int datapath__hold_listen_sock(struct datapath *dp, int fd);
/* Every entry of @netns_ino's listener table; @fn returning non-zero
 * stops the walk and is returned. */
int datapath__listeners_foreach(const struct datapath *dp, uint32_t netns_ino,
				int (*fn)(const struct nt_listen_key *k,
					  const struct nt_listener *l, void *arg),
				void *arg);
int datapath__listener_put(struct datapath *dp, uint32_t netns_ino,
			   const struct nt_listen_key *k,
			   const struct nt_listener *l);
int datapath__listener_del(struct datapath *dp, uint32_t netns_ino,
			   const struct nt_listen_key *k);

/* ---- TCP sockets of a network namespace, from sock_diag (sockdiag.c) ------- */

/* At most this many listeners per network namespace (both families): a
 * dump that goes past it fails rather than reporting half a list. */
#define SOCKDIAG_MAX_LISTENERS	65536
/* ... and at most this many sockets in the states asked for. */
#define SOCKDIAG_MAX_SOCKETS	(1 << 20)

/* Everything here comes from the kernel's inet_diag reply. */
struct sockdiag_socket {
	struct nt_addr local;	/* IPv4 as IPv4-mapped IPv6; port in host
				 * byte order */
	struct nt_addr remote;	/* the same; all zero for a listener */
	uint8_t state;		/* TCP_ESTABLISHED, TCP_LISTEN, ... */
	struct inet_diag_sockid id;	/* as the kernel sent it: names the
					 * socket to sock_diag__destroy() */
	uint32_t uid;		/* the socket's owner (idiag_uid) */
	uint32_t inode;		/* the socket's inode (idiag_inode) */
	uint64_t cookie;	/* the socket cookie, as BPF sees it */
	uint64_t cgroup_id;	/* cgroup v2 id the socket was created in
				 * (INET_DIAG_CGROUP_ID, kernel >= 5.7);
				 * 0 when the kernel sent none */
};

typedef int (*sockdiag_cb)(const struct sockdiag_socket *s, void *arg);

/* Calls @cb for every TCP socket in LISTEN state, IPv4 then IPv6, of the
 * network namespace @netns_fd. A non-zero return from @cb stops the walk
 * and is returned. */
int sockdiag__listeners(int netns_fd, sockdiag_cb cb, void *arg,
			struct nt_err *err);
/* The same for the TCP sockets whose state is in @states (1 << TCP_...). */
int sockdiag__sockets(int netns_fd, uint32_t states, sockdiag_cb cb,
		      void *arg, struct nt_err *err);
/* A bound NETLINK_SOCK_DIAG socket inside @netns_fd, with the receive
 * timeout of SOCK_DIAG_TIMEOUT_S: for sock_diag__destroy(). fd or -errno. */
int sockdiag__socket(int netns_fd);

/* ---- listeners the kernel never saw listen (listeners.c) -------------------- */

/* An enrolled namespace, as the datapath needs to know it. */
struct dp_enrolled {
	const char *name;		/* for the log */
	const char *cgroup;		/* absolute path */
	uint64_t cgroup_id;
	enum nt_mode mode;
	uint32_t ns_id;
};

/* Calls @fn for each network namespace to look at (its fd and inode),
 * until @fn returns non-zero, which is returned. */
typedef int (*dp_netns_each)(int (*fn)(int netns_fd, uint32_t netns_ino,
				       void *arg),
			     void *arg, void *ctx);

/*
 * Publishes in each namespace's listener table every listener that
 * belongs to an enrolled namespace (created in one of its cgroups, or held
 * by one of its processes) and that the kernel has no record of, and
 * removes the records an earlier sync made that no longer hold. 0, or a
 * negative errno with @err filled; never fatal to the daemon.
 */
int datapath__sync_listeners(struct datapath *dp,
			     const struct dp_enrolled *ns, size_t nns,
			     dp_netns_each each, void *ctx, struct nt_err *err);

#endif /* NAMETAG_DATAPATH_H */
