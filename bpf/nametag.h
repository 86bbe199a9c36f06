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
 * with links connect4 connect6 bind4 bind6 sockops exec fork exit and
 * lookup-<netns inode>.
 */
#define NT_BPFFS_DEFAULT	"/sys/fs/bpf"
#define NT_PIN_DIR		"nametag"

/* Deepest cgroup level the programs walk looking for an enrolled ancestor. */
#define NT_MAX_CGROUP_DEPTH	16

#define NT_MAX_NAMESPACES	1024
#define NT_MAX_SOCKETS		65536
#define NT_MAX_PROCS		65536
#define NT_MAX_NETNS		256
#define NT_EVENTS_BYTES		(1 << 20)

/* Proxy sockets carry this SO_MARK and are never redirected. The default;
 * the daemon may set another in rodata. */
#define NT_PROXY_MARK_DEFAULT	0x6e74		/* "nt" */

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

/* Who did it, captured in the task's own context at the syscall. */
struct nt_evidence {
	__u32 pid;		/* thread id */
	__u32 tgid;		/* process id */
	__u32 uid;
	__u32 gid;
	__u64 cgroup_id;	/* the task's own cgroup v2 id */
	__u64 ns_cgroup_id;	/* the enrolled ancestor (namespace) cgroup */
	__u64 exe_ino;		/* task->mm->exe_file inode */
	__u32 exe_dev;		/* ... and its superblock's device */
	__u32 netns_ino;	/* network namespace inode */
	__u64 start_boottime;	/* group leader's start, ns since boot,
				 * the clock of /proc/PID/stat field 22 */
	__u32 mode;		/* enum nt_mode at the time */
	__u32 ns_id;
	char comm[16];
};
_Static_assert(sizeof(struct nt_evidence) == 80, "nt_evidence layout");

/* An IPv4 address is stored as an IPv4-mapped IPv6 address so one layout
 * serves both families. Ports in host byte order. */
struct nt_addr {
	__u32 addr[4];		/* network byte order */
	__u16 port;
	__u16 family;		/* AF_INET or AF_INET6 */
};
_Static_assert(sizeof(struct nt_addr) == 20, "nt_addr layout");

/* sock_by_cookie map: socket cookie -> this; set at connect()/bind(). */
struct nt_sock_value {
	struct nt_evidence ev;
	struct nt_addr orig_dst;	/* the destination the task asked for */
	__u32 flags;			/* NT_SOCK_* */
	__u64 ktime;			/* bpf_ktime_get_ns() at capture */
};
_Static_assert(sizeof(struct nt_sock_value) == 112, "nt_sock_value layout");

#define NT_SOCK_REDIRECTED	(1u << 0)	/* connect() was rewritten */
#define NT_SOCK_LISTENER	(1u << 1)	/* bind()/listen() evidence */

/* sock_by_tuple map key: the connection as its client sees it. */
struct nt_tuple {
	struct nt_addr src;
	struct nt_addr dst;
};
_Static_assert(sizeof(struct nt_tuple) == 40, "nt_tuple layout");

/* procs map: tgid -> this; kept by the sched tracepoints. */
struct nt_proc {
	__u64 start_boottime;
	__u64 exe_ino;
	__u32 exe_dev;
	__u32 ppid;
	__u64 exec_ktime;	/* when the current image was exec'd */
	__u64 cgroup_id;
};
_Static_assert(sizeof(struct nt_proc) == 40, "nt_proc layout");

/* proxies map: network namespace inode -> where its node proxy listens. */
struct nt_proxy {
	struct nt_addr outbound4;	/* port 0: none */
	struct nt_addr outbound6;
	__u32 inbound_index;		/* slot in the inbound sockmap */
	__u32 flags;			/* NT_PROXY_* */
};
_Static_assert(sizeof(struct nt_proxy) == 48, "nt_proxy layout");

#define NT_PROXY_INBOUND	(1u << 0)	/* inbound_index is valid */

/* inbound_ports map key: an enrolled workload listening. */
struct nt_port_key {
	__u32 netns_ino;
	__u16 port;		/* host byte order */
	__u16 pad;
};
_Static_assert(sizeof(struct nt_port_key) == 8, "nt_port_key layout");

enum nt_event_type {
	NT_EV_CONNECT	= 1,
	NT_EV_BIND	= 2,
	NT_EV_LISTEN	= 3,
	NT_EV_ESTABLISHED = 4,
	NT_EV_REFUSED	= 5,	/* strict mode, no proxy: connect failed */
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
};
_Static_assert(sizeof(struct nt_event) == 144, "nt_event layout");

#endif /* NAMETAG_BPF_H */
