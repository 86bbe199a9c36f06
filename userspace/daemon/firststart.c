// SPDX-License-Identifier: Apache-2.0
/*
 * A start that fails leaves the machine as it found it: what this start
 * made (a new CA and the files around it in the state dir, the pins, the
 * bpffs mount and its directory) is undone, and nothing else. Pins that
 * were there before belong to a daemon that enforced until now (a
 * restart): they stay, so a failed restart never opens a hole. main.c
 * notes what is there before start() and runs the undo after stop().
 */
#define _XOPEN_SOURCE 700	/* nftw */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "userspace/daemon/daemon.h"

#define BPF_FS_MAGIC 0xcafe4a11

static bool exists(const char *path)
{
	struct stat st;

	return !lstat(path, &st);
}

static bool is_bpffs(const char *dir)
{
	struct statfs st;

	return !statfs(dir, &st) && st.f_type == BPF_FS_MAGIC;
}

/* The names in @dir now; NULL-terminated, NULL when there is no @dir. */
static char **list_dir(const char *dir)
{
	struct dirent *de;
	char **v = NULL, **nv;
	size_t n = 0;
	DIR *d;

	d = opendir(dir);
	if (!d)
		return NULL;
	v = calloc(1, sizeof(*v));
	while (v && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		nv = realloc(v, (n + 2) * sizeof(*v));
		if (!nv)
			break;
		v = nv;
		v[n] = strdup(de->d_name);
		v[++n] = NULL;
	}
	closedir(d);
	return v;
}

static bool listed(char *const *v, const char *name)
{
	for (; v && *v; v++)
		if (!strcmp(*v, name))
			return true;
	return false;
}

void start_undo__note(struct start_undo *u, const struct daemon_opts *o)
{
	char path[PATH_MAX];

	memset(u, 0, sizeof(*u));
	u->state_dir_new = !exists(o->state_dir);
	snprintf(path, sizeof(path), "%s/%s", o->state_dir, STATE_CA_FILE);
	u->ca_new = !exists(path);
	u->state_names = list_dir(o->state_dir);
	u->bpffs_dir_new = !exists(o->bpffs);
	u->bpffs_mounted = is_bpffs(o->bpffs);
	snprintf(path, sizeof(path), "%s/%s", o->bpffs, NT_PIN_DIR);
	u->pins_new = !exists(path);
}

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	return remove(path) && errno != ENOENT ? -1 : 0;
}

static int rm_tree(const char *path)
{
	return nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) ? -errno : 0;
}

/* A first start: what it added to the state dir (the CA, the bundle, the
 * audit log's pointer...) goes, and the dir itself if it made it. */
static void undo_state(const struct start_undo *u, const char *dir)
{
	char path[PATH_MAX];
	char **now, **p;

	if (u->state_dir_new) {
		if (rm_tree(dir))
			pr_warn("could not remove %s: %m", dir);
		return;
	}
	now = list_dir(dir);
	for (p = now; p && *p; p++) {
		if (listed(u->state_names, *p))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, *p);
		if (rm_tree(path))
			pr_warn("could not remove %s: %m", path);
	}
	start_undo__free_names(now);
}

static void undo_bpffs(const struct start_undo *u, const char *bpffs)
{
	struct nt_err err = {};

	/* Unpinning the links detaches the programs this start attached. */
	if (datapath__cleanup(bpffs, &err))
		pr_warn("%s", err.msg);
	if (!u->bpffs_mounted && is_bpffs(bpffs) && umount2(bpffs, 0))
		pr_warn("could not unmount %s: %m", bpffs);
	if (u->bpffs_dir_new && rmdir(bpffs) && errno != ENOENT)
		pr_warn("could not remove %s: %m", bpffs);
}

void start_undo__run(struct start_undo *u, const struct daemon_opts *o)
{
	char path[PATH_MAX];
	bool ca, pins;

	/* The directory, not ca.json: a fleet node refused by the signer
	 * has made only its pending key there. */
	snprintf(path, sizeof(path), "%s/%s", o->state_dir, STATE_CA_DIR);
	ca = u->ca_new && exists(path);
	snprintf(path, sizeof(path), "%s/%s", o->bpffs, NT_PIN_DIR);
	pins = (u->pins_new && exists(path)) ||
	       (!u->bpffs_mounted && is_bpffs(o->bpffs)) ||
	       (u->bpffs_dir_new && exists(o->bpffs));
	if (ca)
		undo_state(u, o->state_dir);
	if (pins)
		undo_bpffs(u, o->bpffs);
	if (ca || pins)
		pr_info("undid this first start:%s%s%s%s", ca ? " removed the CA it made in " : "",
			ca ? o->state_dir : "", pins ? (ca ? ", and the pins and bpffs mount at " :
						   " removed the pins and bpffs mount at ") : "",
			pins ? o->bpffs : "");
	else if (!u->pins_new)
		pr_info("the pins that were there before stay in force");
	start_undo__free(u);
}

void start_undo__free_names(char **v)
{
	char **p;

	for (p = v; p && *p; p++)
		free(*p);
	free(v);
}

void start_undo__free(struct start_undo *u)
{
	start_undo__free_names(u->state_names);
	u->state_names = NULL;
}
