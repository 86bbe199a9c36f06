/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * The one header shared by the eBPF programs (bpf/nametag.bpf.c) and
 * userspace: map keys, map values and ring-buffer events. Fixed-width types
 * only; every struct's size is asserted so a layout drift fails the build
 * on both sides.
 */
#ifndef NAMETAG_BPF_H
#define NAMETAG_BPF_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/*
 * Pins, under BPFFS/nametag (BPFFS is /sys/fs/bpf unless --bpffs says
 * otherwise):  maps/<map name>, progs/<program name>, links/<link name>
 * with links connect4 connect6 bind4 bind6 sockops ... and lookup-<netns
 * inode> (one sk_lookup program per served network namespace).
 */
#define NT_BPFFS_DEFAULT	"/sys/fs/bpf"
#define NT_PIN_DIR		"nametag"

/* Deepest cgroup level the programs walk looking for an enrolled ancestor. */
#define NT_MAX_CGROUP_DEPTH	16

#define NT_MAX_NAMESPACES	1024
#define NT_MAX_SOCKETS		65536
#define NT_MAX_PROCS		65536
/* Network namespaces served at once: the default of nametagd --max-netns,
 * which sizes the per-netns maps at load. */
#define NT_MAX_NETNS		1024
/* Listening addresses per network namespace, the default of nametagd
 * --listeners-per-netns; each takes two entries of its listener table
 * (one per address, one per socket). */
#define NT_LISTENERS_PER_NETNS	256
/* unix_ev: Workload API connections whose evidence is not read yet. */
#define NT_MAX_UNIX_CONNS	16384
#define NT_EVENTS_BYTES		(1 << 20)
/* Counters the programs keep (map stats, one per CPU): what they could
 * not report. Read by the daemon for its metrics. */
enum nt_stat {
	NT_STAT_EVENTS_LOST = 0,	/* ring buffer full: an event dropped */
	NT_STAT_UNSERVED_SYNS,		/* SYNs to a strict listener in a
					 * netns not served yet, dropped */
	NT_STAT_MAX,
};
/* Queued events that wake the daemon without an urgent one (1/16 of the
 * ring: about 340 events), and how often it drains the ring anyway. */
#define NT_EVENTS_WAKE_BYTES	(NT_EVENTS_BYTES / 16)
#define NT_EVENTS_DRAIN_MS	50
/* Egress CIDRs of all namespaces (plaintext destinations in strict). */
#define NT_MAX_EGRESS		4096

/* The loopback address the proxy delivers from (IPv6 uses ::1). */
#define NT_DELIVERY_ADDR4	0x7f000006	/* 127.0.0.6, host order */

enum nt_mode {
	NT_MODE_OFF		= 0,
	NT_MODE_OBSERVE		= 1,
	NT_MODE_PERMISSIVE	= 2,
	NT_MODE_STRICT		= 3,
};

/* ns_mode map: enrolled namespace cgroup id -> this. */
struct nt_ns_value {
	__u32 mode;		/* enum nt_mode */
	__u32 ns_id;		/* the daemon's index of the namespace */
};
_Static_assert(sizeof(struct nt_ns_value) == 8, "nt_ns_value layout");

/*
 * What a process runs: the file the kernel exec'd and the version of it
 * (ctime and size change with every write; ctime cannot be set from
 * userspace), so a hash taken of that version later is known to be a hash
 * of what ran, and a file rewritten since is known to be so. Recorded by
 * the exec tracepoint (NT_EXE_AT_EXEC), with the name it was exec'd by in
 * exec_names; a process exec'd before nametag watched its cgroup gets the
 * version read at the syscall instead.
 */
struct nt_exe {
	__u64 ino;		/* task->mm->exe_file inode */
	__u32 dev;		/* ... its superblock's device (MKDEV) */
	__u32 ctime_nsec;
	__s64 ctime_sec;
	__s64 size;
	__u64 exec_ktime;	/* exec_names key, with exec_tgid */
	__u32 exec_tgid;	/* the process that exec'd it (a forked
				 * child keeps its parent's record) */
	__u32 flags;		/* NT_EXE_* */
};
_Static_assert(sizeof(struct nt_exe) == 48, "nt_exe layout");

#define NT_EXE_VERSION		(1u << 0)	/* ctime and size are set */
#define NT_EXE_AT_EXEC		(1u << 1)	/* recorded at exec */
#define NT_EXE_NAMED		(1u << 2)	/* exec_names has its name */

/* exec_names map: the name a file was exec'd by (linux_binprm's interp:
 * for a script, its interpreter's), kept after the process exits. */
#define NT_EXE_NAME_MAX		256
#define NT_MAX_EXECS		16384

struct nt_exec_key {
	__u32 tgid;
	__u32 pad;
	__u64 ktime;
};
_Static_assert(sizeof(struct nt_exec_key) == 16, "nt_exec_key layout");

struct nt_exec_name {
	char path[NT_EXE_NAME_MAX];	/* NUL-terminated; as given to
					 * execve(), maybe relative */
};
_Static_assert(sizeof(struct nt_exec_name) == NT_EXE_NAME_MAX,
	       "nt_exec_name layout");

/* Who did it, captured in the task's own context at the syscall. */
struct nt_evidence {
	__u32 pid;		/* thread id */
	__u32 tgid;		/* process id */
	__u32 uid;
	__u32 gid;
	__u64 cgroup_id;	/* the task's own cgroup v2 id */
	__u64 ns_cgroup_id;	/* the enrolled ancestor (namespace) cgroup */
	__u32 netns_ino;	/* network namespace inode */
	__u32 mode;		/* enum nt_mode at the time */
	__u64 start_boottime;	/* group leader's start, ns since boot,
				 * the clock of /proc/PID/stat field 22 */
	__u32 ns_id;
	__u32 pad;
	char comm[16];
	struct nt_exe exe;	/* the image it runs */
};
_Static_assert(sizeof(struct nt_evidence) == 120, "nt_evidence layout");

/* An IPv4 address is stored as an IPv4-mapped IPv6 address so one layout
 * serves both families. Ports in host byte order. */
struct nt_addr {
	__u32 addr[4];		/* network byte order */
	__u16 port;
	__u16 family;		/* AF_INET or AF_INET6 */
};
_Static_assert(sizeof(struct nt_addr) == 20, "nt_addr layout");

/* sock_ev socket storage, and sock_by_tuple's value: who opened the socket
 * (connect, bind or listen). The storage dies with its socket. */
struct nt_sock_value {
	struct nt_evidence ev;
	struct nt_addr orig_dst;	/* the destination the task asked for,
					 * or the address it bound */
	__u32 flags;			/* NT_SOCK_* */
	__u32 proxy_gen;		/* REDIRECTED: the proxies entry's gen */
	__u32 pad;
	__u64 ktime;			/* bpf_ktime_get_ns() at capture */
};
_Static_assert(sizeof(struct nt_sock_value) == 160, "nt_sock_value layout");

#define NT_SOCK_REDIRECTED	(1u << 0)	/* connect() was rewritten */
#define NT_SOCK_LISTENER	(1u << 1)	/* recorded at listen() */
/* sock_by_tuple: the client closed after it connected; the entry stays
 * until the proxy takes it (its connection waits in the accept queue). */
#define NT_SOCK_CLOSED		(1u << 2)
#define NT_SOCK_HELD		(1u << 3)	/* strict, no proxy yet: sent to
						 * the hold address, its SYN held
						 * until the netns is served */

/*
 * Where a held connect() goes: the redirect target's address at port 0,
 * 127.0.0.1:0 or [::1]:0 (IPv4-mapped for a dual-stack socket dialling
 * IPv4). No socket can listen on port 0, so without the namespace's
 * sk_lookup program the kernel answers RST (ECONNREFUSED), never a
 * listener of the pod; with it, the SYN goes to the proxy's outbound
 * socket. cgroup_skb/egress holds the SYN (drop with congestion
 * notification: the kernel retries it) while nametagd is alive and the
 * proxy is not there yet.
 */
#define NT_HOLD_ADDR4		0x7f000001	/* 127.0.0.1, host order */

/* netns_want map: netns inode -> this. The kernel asks nametagd to serve a
 * network namespace an enrolled process is in (NT_EV_NETNS) at most once
 * per NT_WANT_GAP_NS; nametagd marks one it cannot serve (the limit, or a
 * failure) NT_WANT_REFUSED, which strict then refuses at once for
 * NT_WANT_REFUSED_NS rather than holding its SYNs. */
struct nt_netns_want {
	__u64 ktime;		/* bpf_ktime_get_ns() / CLOCK_MONOTONIC */
	__u32 state;		/* NT_WANT_* */
	__u32 pad;
};
_Static_assert(sizeof(struct nt_netns_want) == 16, "nt_netns_want layout");
#define NT_WANT_ASKED		1
#define NT_WANT_REFUSED		2
#define NT_WANT_GAP_NS		(100ull * 1000 * 1000)
#define NT_WANT_REFUSED_NS	(30ull * 1000 * 1000 * 1000)

/* sock_by_tuple map key: the connection as its client sees it, and the
 * network namespace it is in. Every pod's redirected connections go
 * 127.0.0.1:PORT -> 127.0.0.1:15001 in its own netns: without the netns,
 * two pods that pick the same source port share a key, and one pod's
 * connection would be judged with the other's evidence. */
struct nt_tuple {
	struct nt_addr src;
	struct nt_addr dst;
	__u32 netns_ino;	/* the client's (its evidence's netns_ino) */
	__u32 pad;
};
_Static_assert(sizeof(struct nt_tuple) == 48, "nt_tuple layout");

/* procs map: tgid -> this; kept by the sched tracepoints. */
struct nt_proc {
	__u64 start_boottime;
	__u64 cgroup_id;
	__u32 ppid;
	__u32 pad;
	struct nt_exe exe;	/* exe.exec_ktime: when it was exec'd */
};
_Static_assert(sizeof(struct nt_proc) == 72, "nt_proc layout");

/*
 * The node proxy's listening sockets of one network namespace, in the
 * proxy_socks SOCKMAP at slot * NT_PSOCK_MAX + kind. The sk_lookup program
 * of the namespace hands SYNs to them; a socket that closes (the daemon
 * died) leaves its slot empty, and the SYN is refused, never delivered to
 * whoever else listens on the port.
 */
enum nt_psock {
	NT_PSOCK_OUT4	= 0,	/* redirected connect()s, IPv4 */
	NT_PSOCK_OUT6	= 1,	/* ... IPv6 */
	NT_PSOCK_NET	= 2,	/* dual-stack: the mesh port and steered
				 * plaintext to enrolled listeners */
	NT_PSOCK_MAX	= 3,
};

/* proxies map: network namespace inode -> this. */
struct nt_proxy {
	struct nt_addr outbound4;	/* redirect target; port 0: none */
	struct nt_addr outbound6;
	__u32 slot;			/* proxy_socks index / NT_PSOCK_MAX */
	__u32 flags;			/* NT_PROXY_* */
	__u16 mesh_port;		/* steered to NT_PSOCK_NET */
	__u16 pad;
	__u32 gen;			/* new with every set of proxy sockets:
					 * evidence for an earlier set is stale */
	__u64 overflow;			/* listener records that did not fit */
};
_Static_assert(sizeof(struct nt_proxy) == 64, "nt_proxy layout");

/* nametagd serves this namespace: its sockets belong in the slot, and a
 * SYN for the proxy's ports with the slot empty is refused. Without it
 * (--manual-netns, a test proxy) only enrolled listeners are guarded. */
#define NT_PROXY_SERVED		(1u << 0)

/*
 * listeners: netns inode -> that namespace's listener table (a hash map
 * made by the daemon when it serves or guards the namespace), so one
 * namespace filling its table never costs another its records. Two kinds
 * of entries share a table:
 *   NT_LKEY_ADDR  {port, addr}: the address enrolled sockets listen on,
 *                 with how many do and which one deliveries go to;
 *   NT_LKEY_SOCK  {cookie}: one listening socket and its owner;
 *   NT_LKEY_SYNC  {port, addr}: an address found listening by the daemon
 *                 (sock_diag), for listeners the kernel saw no listen() of.
 * The kernel owns ADDR and SOCK entries, the daemon SYNC entries: no
 * counter is ever shared between them.
 */
enum nt_lkey_kind {
	NT_LKEY_ADDR	= 1,
	NT_LKEY_SOCK	= 2,
	NT_LKEY_SYNC	= 3,
};

struct nt_listen_key {
	__u32 kind;		/* enum nt_lkey_kind */
	__u16 port;		/* ADDR, SYNC: host byte order */
	__u16 pad;
	__u32 addr[4];		/* ADDR, SYNC: bound address (IPv4-mapped;
				 * 0.0.0.0 is ::ffff:0.0.0.0, [::] is ::);
				 * SOCK: addr[0..1] the socket cookie */
};
_Static_assert(sizeof(struct nt_listen_key) == 24, "nt_listen_key layout");

struct nt_listener {
	__u64 cookie;		/* ADDR, SYNC: the socket deliveries go to
				 * (0: none known); SOCK: this socket */
	__u32 count;		/* ADDR: sockets listening on the address */
	__u32 flags;		/* NT_LST_* */
	struct nt_listen_key addr;	/* SOCK: its ADDR key */
	struct nt_sock_value owner;	/* who listens: ADDR and SOCK from the
					 * listening task, SYNC from sock_diag */
};
_Static_assert(sizeof(struct nt_listener) == 200, "nt_listener layout");

#define NT_LST_IN_SOCKHASH	(1u << 0)	/* cookie is in listen_socks */

/* tickets: the proxy announces a delivery before its connect(): the SYN
 * from that source to that listener address goes to exactly that socket. */
struct nt_ticket_key {
	__u32 netns_ino;
	__u16 sport;		/* the proxy's delivery socket, host order */
	__u16 dport;
	__u32 saddr[4];		/* IPv4-mapped like nt_addr */
	__u32 daddr[4];
};
_Static_assert(sizeof(struct nt_ticket_key) == 40, "nt_ticket_key layout");

/* egress LPM trie: plaintext destinations a namespace's policy allows, for
 * non-TCP traffic in strict mode (TCP egress is the proxy's to judge).
 * prefixlen counts ns_id and port (48 bits) plus the address prefix;
 * port 0 means any port. */
struct nt_egress_key {
	__u32 prefixlen;
	__u32 ns_id;
	__u16 port;
	__u16 pad;
	__u32 addr[4];		/* IPv4-mapped like nt_addr */
};
_Static_assert(sizeof(struct nt_egress_key) == 28, "nt_egress_key layout");
#define NT_EGRESS_KEY_BITS	64	/* ns_id, port and pad, before addr */

enum nt_event_type {
	NT_EV_CONNECT	= 1,
	NT_EV_BIND	= 2,
	NT_EV_LISTEN	= 3,
	NT_EV_ESTABLISHED = 4,
	NT_EV_REFUSED	= 5,	/* strict mode, no proxy: connect failed */
	NT_EV_INBOUND_REFUSED = 6, /* strict: a SYN to an enrolled listener
				    * with no proxy to take it */
	NT_EV_SOCKET_REFUSED = 7, /* strict: socket() of a kind that would
				   * bypass the proxy (raw, ICMP, SCTP) */
	NT_EV_SOCKET_KILLED = 8, /* strict: socket() in a family the inet
				  * hooks never see (packet, vsock...) */
	NT_EV_UDP_REFUSED = 9,	/* strict: datagram to a destination no
				 * egress rule allows */
	NT_EV_LISTEN_OVERFLOW = 10, /* a listener record did not fit */
	NT_EV_INBOUND_OBSERVED = 11, /* observe: a SYN reached an enrolled
				      * listener (ev: the listener's owner;
				      * src: the caller's address) */
	NT_EV_NETNS	= 12,	/* an enrolled (permissive, strict) process
				 * is in a netns not served yet: at exec,
				 * fork, cgroup attach or a held connect */
};

/* NT_EV_REFUSED's info: why strict had no proxy to send it to. */
enum nt_refusal {
	NT_REFUSE_NO_DAEMON	= 0,	/* nametagd is not running */
	NT_REFUSE_NOT_SERVED	= 1,	/* nametagd could not serve the netns
					 * (its log says why: the limit) */
};

/* Ring-buffer event. */
struct nt_event {
	__u32 type;		/* enum nt_event_type */
	__u32 flags;		/* NT_SOCK_* */
	__u64 ktime;
	__u64 cookie;
	struct nt_evidence ev;
	struct nt_addr src;
	struct nt_addr dst;	/* original destination */
	__u32 info;		/* SOCKET_*: family << 16 | type << 8 | protocol
				 * (protocol & 0xff) */
	__u32 pad;
};
_Static_assert(sizeof(struct nt_event) == 192, "nt_event layout");

#endif /* NAMETAG_BPF_H */
