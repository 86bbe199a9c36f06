// SPDX-License-Identifier: Apache-2.0
/*
 * What each signal does (docs/process-model.md, "Signals and exit codes"):
 * SIGTERM and SIGINT stop (status 0, the pinned enforcement stays), SIGHUP
 * reloads and never stops, SIGUSR2 upgrades in place (upgrade.c), SIGCHLD
 * reaps an upgrade's child. Under systemd, Restart=always starts nametagd
 * again after any other exit, and a reload is ExecReload's SIGHUP.
 *
 * A reload reads what a restart would read, part by part; a part that
 * cannot be read is logged and keeps what was in force, so a typo in one
 * file never costs the node its policy or the daemon.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "userspace/daemon/daemon.h"
#include "userspace/daemon/upgrade.h"

int daemon__open_log(const char *path, struct nt_err *err)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);

	if (fd < 0)
		return nt_err_set(err, -errno, "log file %s: %s", path,
				  strerror(errno));
	fflush(stderr);
	if (dup2(fd, STDERR_FILENO) < 0) {
		int ret = -errno;

		close(fd);
		return nt_err_set(err, ret, "log file %s: %s", path,
				  strerror(-ret));
	}
	close(fd);
	return 0;
}

static bool same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

/* Options read once at start: a new value waits for the next upgrade. */
static void said_later(const char *key, const char *was, const char *now)
{
	if (!same(was, now))
		pr_warn("reload: %s changed (%s -> %s): it takes effect at the next upgrade ('nametag daemon upgrade') or restart",
			key, was ? was : "(default)", now ? now : "(default)");
}

/* The command line again, the config file read anew. Only the log file
 * and the drain deadline change in a running daemon. */
static int reload_config(struct daemon *d, struct nt_err *err)
{
	struct daemon_opts o = { .state_dir = STATE_DIR_DEFAULT,
				 .run_dir = CTL_RUN_DIR_DEFAULT,
				 .bpffs = NT_BPFFS_DEFAULT, .takeover_fd = -1 };
	const struct daemon_opts *was = &d->opts;
	int saved_opterr = opterr, ret;

	optind = 0;		/* getopt_long from the start, quietly */
	opterr = 0;
	ret = daemon__parse_args(d->argc, d->argv, &o, err);
	opterr = saved_opterr;
	if (ret && !err->msg[0])
		nt_err_set(err, ret, "the command line does not parse");
	if (ret)
		return ret;
	ret = daemon_config__check(&o, err);
	if (ret)
		return ret;
	said_later("state_dir", was->state_dir, o.state_dir);
	said_later("run_dir", was->run_dir, o.run_dir);
	said_later("cgroup_root", was->cgroup_root, o.cgroup_root);
	said_later("bpffs", was->bpffs, o.bpffs);
	said_later("trust_domain", was->trust_domain, o.trust_domain);
	said_later("metrics", was->metrics, o.metrics);
	said_later("audit_log", was->audit_log, o.audit_log);
	said_later("etcd", was->fleet.etcd, o.fleet.etcd);
	said_later("node", was->fleet.node, o.fleet.node);
	if (o.log_file) {
		ret = daemon__open_log(o.log_file, err);
		if (ret)
			return ret;
	}
	d->opts.log_file = o.log_file;
	d->opts.drain_timeout = o.drain_timeout;
	d->opts.drain_secs = o.drain_secs;
	return 0;
}

/* The policy file as a restart would read it; an unchanged one is left
 * alone (no sweep of open connections for nothing). */
static int reload_policy(struct daemon *d, struct nt_err *err)
{
	char path[PATH_MAX], *now = NULL, *was = NULL;
	struct policy *p = NULL;
	struct nt_err e2 = {};
	int ret;

	snprintf(path, sizeof(path), "%s/%s", d->opts.state_dir, POLICY_FILE);
	ret = policy__load(&p, path, err);
	if (ret == -ENOENT)
		ret = policy__new_empty(&p) ? nt_err_set(err, -ENOMEM, "out of memory") : 0;
	if (ret)
		return ret;
	if (!policy__to_json(p, false, &now, &e2) &&
	    !policy__to_json(d->policy, false, &was, &e2) && !strcmp(now, was)) {
		policy__free(p);
		p = NULL;
	}
	free(now);
	free(was);
	if (p)
		policy_holder__swap(d, p);
	return 0;
}

static int reload_entries(struct daemon *d, struct nt_err *err)
{
	struct attest_registry *reg;
	int ret;

	if (attest_registry__new(&reg))
		return nt_err_set(err, -ENOMEM, "out of memory");
	ret = attest_registry__load(reg, d->entries_path, err);
	if (ret) {
		attest_registry__free(reg);
		return ret;
	}
	attest_registry__free(d->entries);
	d->entries = reg;
	identity__invalidate(d->identity);
	return 0;
}

int daemon__reload(struct daemon *d, struct nt_err *err)
{
	static int (*const parts[])(struct daemon *, struct nt_err *) = {
		reload_config, reload_policy, reload_entries,
	};
	static const char *const names[] = { "config", "policy", "entries" };
	struct nt_err e2;
	size_t i, nparts = ARRAY_SIZE(parts);
	int failed = 0;

	/* A fleet node's policy and entries are etcd's (fleet__reload). */
	if (d->opts.fleet.etcd)
		nparts = 1;
	for (i = 0; i < nparts; i++) {
		e2 = (struct nt_err){};
		if (!parts[i](d, &e2))
			continue;
		pr_err("reload: %s not reloaded: %s", names[i], e2.msg);
		if (!failed++ && err)
			*err = e2;
	}
	/* What lives outside the state dir: the cgroups and the network
	 * namespaces of the workloads, the listeners, the bundles. */
	if (!upgrade__paused(d)) {
		fleet__reload(d);
		daemon__reconcile_namespaces(d);
		netns__sync(d);
		daemon__sync_listeners(d);
	}
	proxy__reload_trust(d->proxy);
	/* logrotate moved the audit log: the same path, opened again. */
	operator__reopen(d);
	pr_info("reloaded%s: %zu namespaces in the policy, %zu registration entries",
		failed ? " (in part: see above)" : "",
		policy__namespaces(d->policy), attest_registry__count(d->entries));
	return failed;
}

void signals__on(struct daemon *d, int signo)
{
	struct nt_err err = {};

	switch (signo) {
	case SIGHUP:
		if (d->handed_over) {
			pr_info("SIGHUP: this process drains after an upgrade; the new one reloads");
			break;
		}
		pr_info("SIGHUP: reload");
		daemon__reload(d, NULL);
		break;
	case SIGUSR2:
		pr_info("SIGUSR2: upgrade in place");
		upgrade__start(d, NULL, &err);	/* says why it did not */
		break;
	case SIGCHLD:
		upgrade__reap(d);
		break;
	default:
		pr_info("signal %d received, exiting (pinned enforcement stays)",
			signo);
		if (d->handed_over)
			pr_warn("stopped while draining: %zu connections closed cleanly before they ended",
				proxy__drain_close(d->proxy));
		d->stop_requested = true;
		loop__stop(d->loop);
		break;
	}
}
