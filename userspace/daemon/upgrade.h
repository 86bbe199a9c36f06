/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An upgrade in place (docs/process-model.md), private to userspace/daemon/:
 * the running nametagd (old) starts the binary on disk (new) with
 * --takeover FD, one end of a SOCK_SEQPACKET socketpair. New loads
 * everything it can alone, then says HELLO; old sends each served network
 * namespace with its listening sockets and the control socket (SCM_RIGHTS),
 * then END; new serves with those very sockets and says READY. Only then
 * does old stop accepting and drain. Whatever goes wrong before READY
 * leaves old serving: it never stopped.
 *
 * upgrade.c is old's side, takeover.c new's, handoff.c the messages.
 */
#ifndef NAMETAG_UPGRADE_H
#define NAMETAG_UPGRADE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "userspace/daemon/daemon.h"

#define UPGRADE_START_TIMEOUT	10	/* s, from the fork to READY */
#define UPGRADE_FD		3	/* --takeover's descriptor in new */
#define HANDOFF_SEND_TIMEOUT	2	/* s, one handed-over connection */

/* ---- the messages (handoff.c) ------------------------------------------------- */

enum handoff_type {
	HO_HELLO = 1,		/* new: loaded, send the sockets */
	HO_NETNS,		/* old: a served netns; fds: its handle, then
				 * the listeners of fds_mask's kinds */
	HO_CONTROL,		/* old: the control socket's listener */
	HO_END,			/* old: that was all */
	HO_READY,		/* new: serving; old may drain; flags:
				 * HO_READY_ADOPTS */
	HO_FAIL,		/* new: not starting, text says why */
	HO_CONN,		/* old, after READY: a kTLS connection
				 * (struct handoff_conn); fds: side A, B */
};

/* In READY: new adopts kTLS connections (HO_CONN, then END). Without it
 * (a binary from before) old drains them all, as before. */
#define HO_READY_ADOPTS		(1u << 0)

#define HANDOFF_MAGIC		0x6e74686fu	/* "ntho" */
#define HANDOFF_VERSION		1
#define HANDOFF_MAX_FDS		(1 + PROXY_L_MAX)

struct handoff_msg {
	uint32_t magic;
	uint16_t type;			/* enum handoff_type */
	uint16_t version;
	uint32_t pid;			/* HELLO, READY: the sender's */
	uint32_t netns_ino;		/* NETNS */
	uint32_t flags;			/* NETNS: PROXY_SERVE_* */
	uint32_t fds_mask;		/* NETNS: bit k, listener kind k sent */
	char text[PATH_MAX];		/* NETNS: its path; FAIL: why */
};

/* HO_CONN: one connection handed over (proxy.h, struct proxy_handover).
 * Its header is struct handoff_msg's; its size tells it apart. */
struct handoff_conn {
	uint32_t magic;
	uint16_t type;			/* HO_CONN */
	uint16_t version;
	struct proxy_handover h;
};

/* Either message, as received. */
union handoff_any {
	struct handoff_msg m;
	struct handoff_conn c;
};

/* One message, with @nfds descriptors (duplicates go; the caller keeps
 * its own). 0 or -errno. */
int handoff__send(int sock, const struct handoff_msg *m, const int *fds,
		  int nfds);
/* One message, waiting at most @timeout_ms; its descriptors (close-on-exec)
 * into @fds, the caller's now. -EPIPE at end of stream, -ETIMEDOUT,
 * -EPROTO for a message that is not one. */
int handoff__recv(int sock, struct handoff_msg *m, int fds[HANDOFF_MAX_FDS],
		  int *nfds, int timeout_ms);
/* A message of either kind: HO_CONN in u->c, anything else in u->m.
 * The same errors; -EPROTO too for a size that is not its type's. */
int handoff__recv_any(int sock, union handoff_any *u,
		      int fds[HANDOFF_MAX_FDS], int *nfds, int timeout_ms);
int handoff__send_conn(int sock, const struct proxy_handover *h,
		       const int fds[2]);
/* A message of @type with @fmt as its text. */
void handoff__init(struct handoff_msg *m, enum handoff_type type,
		   const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- old's side (upgrade.c) ----------------------------------------------------- */

/* Starts the binary on disk as the new process. @c, if not NULL, is the
 * control client that asked: it hears the outcome (TOPIC_UPGRADE). -EBUSY
 * while one is under way, -EALREADY in a process that drains. */
int upgrade__start(struct daemon *d, struct ctl_client *c, struct nt_err *err);
/* SIGCHLD: reaps the new process if it exited. */
void upgrade__reap(struct daemon *d);
/* Once a second: the start's deadline; after READY, the drain's progress,
 * and the exit once drained or at the drain deadline. */
void upgrade__tick(struct daemon *d);
/* Old handed its sockets over (or is about to): the kernel's events and
 * the namespace and listener syncs are new's now. */
bool upgrade__paused(const struct daemon *d);
/* For `daemon status`: "serving", "upgrading" or "draining", the other
 * process's pid (0: none), connections left to drain. */
const char *upgrade__state(const struct daemon *d, pid_t *other, size_t *left);

/* ---- new's side (takeover.c) ------------------------------------------------------ */

/* After the proxy is made, before any namespace is served: HELLO, then the
 * sockets, each served netns served again with its own listeners. */
int takeover__begin(struct daemon *d, struct nt_err *err);
/* The handed-over control listener for control__open, or -1 (the caller
 * owns it). */
int takeover__control_fd(struct daemon *d);
/* Serving: READY to old, MAINPID to systemd; then the kTLS connections
 * old hands over are adopted as they come, in the loop. */
void takeover__ready(struct daemon *d);
/* Not starting: FAIL @why to old (which keeps serving). */
void takeover__fail(struct daemon *d, const char *why);
/* sd_notify(3) without libsystemd: @state to $NOTIFY_SOCKET, if set. */
void daemon__notify(const char *state);

#endif /* NAMETAG_UPGRADE_H */
