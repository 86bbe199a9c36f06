/* SPDX-License-Identifier: Apache-2.0 */
/*
 * attest/ — from kernel evidence to selectors to a SPIFFE ID. This header is
 * the library's whole interface. It reads /proc, /etc/passwd-style databases
 * and executable files, but knows nothing of sockets or BPF: the caller
 * hands it the evidence the kernel captured.
 *
 * Trust rules (why this is not SPIRE's unix attestor):
 *  - every selector value derives from ids the kernel recorded at the
 *    syscall (uid, gid, cgroup id, exe inode/device, start time), never from
 *    text a workload can write (argv, /proc/PID/cgroup, mountinfo);
 *  - a path is looked up from an id, never an id from a path;
 *  - /proc/PID is used only after its start time and exe inode/device are
 *    checked against the evidence, so a recycled pid cannot lend its
 *    identity; with the kernel's exec record (exe_stamped) it is not
 *    needed at all, so a process that exec'd or exited since keeps the
 *    identity of the image that made the connection.
 */
#ifndef NAMETAG_ATTEST_H
#define NAMETAG_ATTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ca/ca.h"

/* What the kernel captured (mirrors struct nt_evidence of bpf/nametag.h,
 * which this library does not include). tgid 0: no process known (a
 * socket found by sock_diag), so no unix:path or unix:sha256. */
struct attest_evidence {
	uint32_t pid;
	uint32_t tgid;
	uint32_t uid;			/* ATTEST_ID_UNKNOWN: no unix:uid/user */
	uint32_t gid;			/* ATTEST_ID_UNKNOWN: no unix:gid/group */
	uint64_t cgroup_id;
	uint64_t ns_cgroup_id;		/* enrolled namespace's cgroup */
	uint64_t exe_ino;
	uint32_t exe_dev;		/* kernel dev_t encoding (MKDEV) */
	uint32_t netns_ino;
	uint64_t start_boottime;	/* ns since boot */
	/* The version of the exe the kernel recorded: its ctime and size
	 * when it was exec'd (exe_at_exec), or at the syscall for a process
	 * exec'd before nametag watched. With it, unix:sha256 needs no live
	 * process: a cached hash of that version, or the file opened by
	 * exe_name and found to be that version. */
	bool exe_stamped;
	bool exe_at_exec;
	uint32_t exe_ctime_nsec;
	int64_t exe_ctime_sec;
	int64_t exe_size;
	const char *exe_name;		/* the name it was exec'd by, as the
					 * kernel recorded it; NULL: none */
};

/* An id the evidence does not have. The kernel never hands it out:
 * (uid_t)-1 is INVALID_UID, refused by every set*id call. */
#define ATTEST_ID_UNKNOWN	((uint32_t)-1)

#define ATTEST_SELECTOR_MAX	64	/* per workload */
#define ATTEST_TYPE_MAX		16
#define ATTEST_VALUE_MAX	256

/* "unix:uid:1000" is { .type = "unix", .value = "uid:1000" }. */
struct selector {
	char type[ATTEST_TYPE_MAX];
	char value[ATTEST_VALUE_MAX];
};

/* Parses "TYPE:KEY:VALUE" (as typed on the CLI). Types known: unix,
 * cgroup, systemd, netns, ns. Unknown types, empty parts, NUL or control
 * bytes are errors. */
int selector__parse(struct selector *sel, const char *s, struct nt_err *err);
/* "type:value" into @buf: 0, or -ENOSPC when it does not fit. */
int selector__format(const struct selector *sel, char *buf, size_t size);
bool selector__equal(const struct selector *a, const struct selector *b);

/* Where to look things up; tests point these at their own trees. */
struct attest_env {
	const char *proc_root;		/* "/proc" */
	const char *cgroup_root;	/* cgroup v2 mount, e.g. "/sys/fs/cgroup" */
	const char *passwd_file;	/* "/etc/passwd" */
	const char *group_file;		/* "/etc/group" */
	uint64_t max_hash_bytes;	/* files larger are not hashed: 256 MiB */
};

struct attest_ctx;

int attest__new(struct attest_ctx **ctx, const struct attest_env *env,
		struct nt_err *err);
void attest__free(struct attest_ctx *ctx);

/* The namespace a workload belongs to, as the daemon knows it. */
struct attest_ns {
	const char *name;		/* "shop" */
	uint64_t cgroup_id;		/* the namespace's cgroup */
	const char *trust_domain;
	/* Identity template; NULL means "ns/{ns}/sa/{service}". Placeholders:
	 * {ns}, {service}, {uid}, {user}. Each expanded value becomes whole
	 * path segments through spiffe_id__build, never raw text. A process
	 * of the namespace's own cgroup has no service: its ID leaves the
	 * {service} segments out ("ns/shop/sa"), so no sub-cgroup name can
	 * give the same ID. */
	const char *id_template;
};

/* Refuses a template no workload could get an ID from: an unknown
 * placeholder, a segment that is not one, or a template that is nothing
 * but {service} (the namespace's own cgroup would get no path). Values
 * are not known yet; a bad one still fails at attestation. */
int attest__template_check(const char *tmpl, struct nt_err *err);

struct attest_result {
	struct selector selectors[ATTEST_SELECTOR_MAX];
	size_t nselectors;
	char exe_path[4096];		/* "" when unknown */
	bool exe_deleted;		/* unlinked or replaced since exec */
	char path_skipped[128];		/* why unix:path is absent ("" if not) */
	char sha256[65];		/* hex; "" when not hashed (and why:) */
	char sha256_skipped[128];
	char cgroup_path[4096];		/* relative to the cgroup root, "/..." */
	char service[256];		/* first cgroup below the namespace's */
	bool ns_own_cgroup;		/* in the namespace's cgroup itself:
					 * no service, no {service} segment */
};

/*
 * Evidence -> selectors: unix:uid, unix:gid, unix:user, unix:group,
 * unix:path, unix:sha256, cgroup:path, systemd:unit (when the cgroup path
 * has a *.service component), netns:ino, ns:name. Lookups that fail (user
 * has no name, process already gone) leave their selector out and say so
 * in the result; they are not errors. A process whose start time or exe no
 * longer matches the evidence gets no unix:path/unix:sha256.
 */
int attest__selectors(struct attest_ctx *ctx, const struct attest_evidence *ev,
		      const struct attest_ns *ns, struct attest_result *res,
		      struct nt_err *err);

/* VALUE of the result's TYPE:KEY:VALUE selector; NULL when it has none. */
const char *attest_result__selector(const struct attest_result *res,
				    const char *type, const char *key);

/* Registration entries: a SPIFFE ID and the selectors that all must
 * match. */
struct attest_entry {
	struct spiffe_id id;
	struct selector selectors[ATTEST_SELECTOR_MAX];
	size_t nselectors;
};

struct attest_registry;

int attest_registry__new(struct attest_registry **reg);
void attest_registry__free(struct attest_registry *reg);
/* -EEXIST when an entry with the same ID exists; -EINVAL (with the other
 * entry named) when another entry with the same number of selectors could
 * match the same workload as this one with a different ID (an ambiguous
 * tie); an entry without selectors is refused. */
int attest_registry__add(struct attest_registry *reg,
			 const struct attest_entry *e, struct nt_err *err);
int attest_registry__del(struct attest_registry *reg, const char *id,
			 struct nt_err *err);
size_t attest_registry__count(const struct attest_registry *reg);
const struct attest_entry *attest_registry__at(const struct attest_registry *reg,
					       size_t i);
/* Load/save as JSON ({"entries": [{"spiffe_id": "...", "selectors":
 * ["unix:uid:1000", ...]}]}), atomically, strictly parsed. A missing file
 * is an empty registry. */
int attest_registry__load(struct attest_registry *reg, const char *path,
			  struct nt_err *err);
int attest_registry__save(const struct attest_registry *reg, const char *path,
			  struct nt_err *err);

/*
 * The SPIFFE ID of a workload: the matching entry with the most selectors,
 * else the namespace template. @from_entry tells which (NULL: template).
 */
int attest__identity(const struct attest_registry *reg,
		     const struct attest_ns *ns,
		     const struct attest_result *res, struct spiffe_id *id,
		     const struct attest_entry **from_entry,
		     struct nt_err *err);

#endif /* NAMETAG_ATTEST_H */
