/* SPDX-License-Identifier: Apache-2.0 */
/*
 * attest/ internals shared between its source files (and its unit tests);
 * not part of the library's interface.
 */
#ifndef NAMETAG_ATTEST_INT_H
#define NAMETAG_ATTEST_INT_H

#include <sys/stat.h>
#include <sys/types.h>

#include "attest/attest.h"

#define ATTEST_HASH_CACHE	1024	/* executables remembered */
#define ATTEST_CGROUP_CACHE	1024	/* cgroup id -> path remembered */
#define ATTEST_PATH_MAX		4096

/* ---- selectors (selector.c) -------------------------------------------- */

/* Fills @sel from parts and checks it with the same rules as
 * selector__parse, so what attestation produces can always be written in a
 * registration entry. */
int selector__make(struct selector *sel, const char *type, const char *key,
		   const char *value, struct nt_err *err);

/* Length of the KEY part of sel->value ("uid" of "uid:1000"). */
size_t selector__key_len(const struct selector *sel);

/* Same TYPE:KEY (whatever the values). */
bool selector__same_key(const struct selector *a, const struct selector *b);

/* Re-checks a selector that arrived as a struct (registry entries). */
int selector__check(const struct selector *sel, struct nt_err *err);

/* ---- the context: caches (attest.c, hash.c, cgroup.c) ------------------ */

/* A version of a file: ctime changes with every write (and with chmod,
 * link, unlink, rename) and cannot be set from userspace, so a rewrite
 * always misses. The same key comes from fstat() and from the kernel's
 * exec record (dev in the kernel's encoding). */
struct hash_key {
	uint64_t ino;
	uint32_t dev;
	uint32_t ctime_nsec;
	int64_t ctime_sec;
	int64_t size;
};

struct hash_slot {
	bool used;
	struct hash_key key;
	char hex[65];
};

struct cgroup_slot {
	bool used;
	uint64_t id;
	char *path;			/* relative to the root, "/..." */
};

struct attest_ctx {
	char *proc_root;
	char *cgroup_root;
	char *passwd_file;
	char *group_file;
	uint64_t max_hash_bytes;
	long clk_tck;

	struct hash_slot hashes[ATTEST_HASH_CACHE];
	size_t hash_next;		/* FIFO: the oldest slot, next reused */
	uint64_t hash_hits;		/* for tests and metrics */
	uint64_t hash_misses;

	struct cgroup_slot cgroups[ATTEST_CGROUP_CACHE];
	size_t cgroup_next;
	uint64_t cgroup_walks;		/* full tree walks done */
};

/* ---- /proc and the executable (proc.c, hash.c) ------------------------- */

/* Verifies /proc/<tgid> against the evidence and, when it matches, fills
 * res->exe_path (and exe_deleted) and res->sha256. What could not be had is
 * explained in res->path_skipped / res->sha256_skipped: unix:path may be
 * emitted when exe_path is set and path_skipped is empty, unix:sha256 when
 * sha256 is set. Returns 0, or a negative errno on a real error. */
int proc__check_exe(struct attest_ctx *ctx, const struct attest_evidence *ev,
		    struct attest_result *res, struct nt_err *err);

/* Hashes the open executable @fd (already verified), using the cache.
 * Returns 0 with @hex filled, 1 when skipped (@why filled), or a negative
 * errno. @also, when not NULL, is another key the same bytes are cached
 * under (the version the kernel recorded at exec, whose content a running
 * process keeps: the kernel refuses writes to it, ETXTBSY). */
int hash__exe(struct attest_ctx *ctx, int fd, const struct hash_key *also,
	      char hex[65], char *why, size_t why_size, struct nt_err *err);

/* The cached hash of version @k: true with @hex filled. */
bool hash__cached(struct attest_ctx *ctx, const struct hash_key *k,
		  char hex[65]);

void hash__key_of_stat(const struct stat *st, struct hash_key *k);

/* Kernel dev_t encoding (MKDEV: major << 20 | minor) of a userspace dev_t. */
uint32_t dev__to_kernel(dev_t dev);

/* ---- passwd / group (accounts.c) --------------------------------------- */

/* Name of @id in a passwd- or group-style file. 0 with @name filled, 1
 * when there is no such id (or no such file), a negative errno otherwise. */
int accounts__name(const char *file, uint32_t id, char *name, size_t size);

/* ---- cgroups (cgroup.c) ------------------------------------------------- */

/* Path of cgroup @id relative to the cgroup root ("/" for the root). 0 with
 * @path filled, 1 when no directory has that id, a negative errno on a real
 * error. @hint, when not NULL, is a path to search first. */
int cgroup__path(struct attest_ctx *ctx, uint64_t id, const char *hint,
		 char *path, size_t size);

void cgroup__cache_free(struct attest_ctx *ctx);

/* The first component of @path below @ns_path ("" when @path is @ns_path
 * itself). 0, or 1 when @path is not inside @ns_path. */
int cgroup__service(const char *path, const char *ns_path, char *out,
		    size_t size);

/* The last component of @path that ends in ".service". 0, or 1 if none. */
int cgroup__unit(const char *path, char *out, size_t size);

/* ---- the registry (registry.c, registry_json.c) ------------------------ */

/* Entries are large (64 selectors each), and a node has tens of them. */
#define ATTEST_REGISTRY_MAX	4096

struct attest_registry {
	struct attest_entry *entries;
	size_t n, cap;
};

/* attest_registry__add with messages prefixed by @where ("entries[2]";
 * "" for none). */
int registry__add_at(struct attest_registry *reg, const struct attest_entry *e,
		     const char *where, struct nt_err *err);

/* Exchanges the contents of two registries (load commits this way). */
void registry__swap(struct attest_registry *a, struct attest_registry *b);

#endif /* NAMETAG_ATTEST_INT_H */
