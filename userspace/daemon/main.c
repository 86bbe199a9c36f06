// SPDX-License-Identifier: Apache-2.0
/*
 * nametagd, the node daemon: loads and pins the BPF datapath, keeps the
 * node CA rotated, turns kernel evidence into SPIFFE identities and flow
 * records, runs the node proxy, and answers the CLI on its control socket.
 * One thread, one epoll loop. This file starts and stops the pieces and
 * runs the loop; the pipeline of an event is events.c's, what signals do
 * signals.c's, an upgrade in place upgrade.c's and takeover.c's.
 */
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "userspace/daemon/daemon.h"
#include "userspace/daemon/upgrade.h"

#define CA_CHECK_TICKS 30	/* the CA is looked at every 30 s */
/* Listeners are listed again every 10 s: a record made from sock_diag has
 * no close hook in the kernel, so this bounds how long one outlives its
 * socket. */
#define LISTENERS_SYNC_TICKS 10
/* Network namespaces served per turn of the loop, the sockets of those
 * served already looked at between turns. */
#define SERVE_PER_TURN 4

#define DAEMON_OF(h, member) \
	((struct daemon *)((char *)(h) - offsetof(struct daemon, member)))

/* libbpf speaks through our logger: warnings always, the rest with -d. */
__attribute__((format(printf, 2, 0)))
static int libbpf_log(enum libbpf_print_level level, const char *fmt,
		      va_list ap)
{
	char buf[1024];
	size_t n;

	if (level == LIBBPF_DEBUG && nt_log_level < NT_LOG_DEBUG)
		return 0;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	if (n && buf[n - 1] == '\n')
		buf[n - 1] = '\0';
	/* libbpf prefixes its own lines with "libbpf: " */
	nt_log(level == LIBBPF_WARN ? NT_LOG_WARN : NT_LOG_DEBUG, "%s", buf);
	return 0;
}

/* ---- the loop's handlers ------------------------------------------------- */

static void on_signal(struct loop_handler *h, uint32_t events)
{
	struct daemon *d = DAEMON_OF(h, sig_h);
	struct signalfd_siginfo si;

	while (read(h->fd, &si, sizeof(si)) == sizeof(si))
		signals__on(d, si.ssi_signo);
}

static void maintain_ca(struct daemon *d)
{
	enum ca_step step = CA_STEP_NONE;
	struct nt_err err = {};

	if (node_ca__maintain(d->ca, time(NULL), &step, &err))
		pr_warn("CA maintenance failed, will retry: %s", err.msg);
	audit__ca(d, step);
	if (step != CA_STEP_NONE)
		pr_info("CA %s; bundle sequence %llu",
			step == CA_STEP_PREPARED ? "prepared the next CA" :
			"activated the next CA",
			(unsigned long long)node_ca__bundle(d->ca)->sequence);
}

/* Once a second: proxy timeouts and trust reloads; the rest less often. */
static void on_timer(struct loop_handler *h, uint32_t events)
{
	struct daemon *d = DAEMON_OF(h, timer_h);
	uint64_t ticks;

	if (read(h->fd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
		return;
	proxy__tick(d->proxy);
	operator__tick(d);
	daemon_wlapi__tick(d);
	upgrade__tick(d);
	/* During an upgrade the kernel's state is the new process's. */
	if (upgrade__paused(d))
		return;
	if (d->ticks % LISTENERS_SYNC_TICKS == LISTENERS_SYNC_TICKS - 1) {
		netns__sync(d);
		daemon__sync_listeners(d);
	}
	if (d->ticks++ % CA_CHECK_TICKS == 0)
		maintain_ca(d);
	fleet__tick(d);
}

static void on_events(struct loop_handler *h, uint32_t events)
{
	struct daemon *d = DAEMON_OF(h, events_h);

	if (datapath__events_poll(d->dp))
		pr_warn("failed to read the event ring buffer");
}

/* Events nobody waits for do not wake the daemon (bpf/maps.bpf.h,
 * events_wake): they are read here, every NT_EVENTS_DRAIN_MS. */
static void on_drain(struct loop_handler *h, uint32_t events)
{
	struct daemon *d = DAEMON_OF(h, drain_h);
	uint64_t ticks;

	if (read(h->fd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
		return;
	if (datapath__events_poll(d->dp))
		pr_warn("failed to read the event ring buffer");
}

static int setup_drain(struct daemon *d)
{
	struct itimerspec its = {
		.it_interval = { .tv_nsec = NT_EVENTS_DRAIN_MS * 1000000L },
		.it_value = { .tv_nsec = NT_EVENTS_DRAIN_MS * 1000000L } };

	d->drain_h = (struct loop_handler){
		.fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK),
		.on_event = on_drain };
	if (d->drain_h.fd < 0 || timerfd_settime(d->drain_h.fd, 0, &its, NULL))
		return -errno;
	return loop__add(d->loop, &d->drain_h, EPOLLIN);
}

static int setup_loop(struct daemon *d)
{
	struct itimerspec its = { .it_interval = { .tv_sec = 1 },
				  .it_value = { .tv_sec = 1 } };
	sigset_t mask;
	int ret;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGUSR2);
	sigaddset(&mask, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &mask, NULL))
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	d->sig_h = (struct loop_handler){
		.fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK),
		.on_event = on_signal };
	d->timer_h = (struct loop_handler){
		.fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK),
		.on_event = on_timer };
	d->events_h = (struct loop_handler){ .fd = datapath__events_fd(d->dp),
					     .on_event = on_events };
	if (d->sig_h.fd < 0 || d->timer_h.fd < 0 ||
	    timerfd_settime(d->timer_h.fd, 0, &its, NULL))
		return -errno;
	ret = loop__add(d->loop, &d->sig_h, EPOLLIN);
	if (!ret)
		ret = loop__add(d->loop, &d->timer_h, EPOLLIN);
	if (!ret)
		ret = loop__add(d->loop, &d->events_h, EPOLLIN);
	if (!ret)
		ret = setup_drain(d);
	return ret;
}

/* After each batch: a few of the network namespaces the kernel asked for
 * are served (netns__serve_some), their listener tables go into the
 * kernel together (datapath__flush_tables), then the listeners of those
 * namespaces, or of a change a request made, are synced: once per batch,
 * however many asked. */
static int run_loop(struct daemon *d)
{
	bool more = false;
	int ret;

	while (!loop__stopped(d->loop)) {
		/* Namespaces still to serve: look at the sockets, then go on. */
		ret = loop__run_once(d->loop, more ? 0 : -1);
		if (ret < 0)
			return ret;
		/* During an upgrade the kernel's state is the new process's. */
		if (!upgrade__paused(d)) {
			more = netns__serve_some(d, SERVE_PER_TURN);
			datapath__flush_tables(d->dp);
			if (d->sync_soon) {
				d->sync_soon = false;
				daemon__sync_listeners(d);
			}
			daemon__sync_fresh(d);
		}
		daemon_wlapi__flush(d);
	}
	return 0;
}

/* ---- start-up ------------------------------------------------------------ */

static int open_ca(struct daemon *d, struct nt_err *err)
{
	const struct daemon_opts *o = &d->opts;
	struct ca_init_opts init = { .trust_domain = o->trust_domain,
				     .now = time(NULL) };
	int ret;

	ret = node_ca__open(&d->ca, o->state_dir, err);
	/* A fleet node's CA comes from the signer only (fleet__bootstrap). */
	if (ret == -ENOENT && o->trust_domain && !o->fleet.etcd) {
		pr_info("no CA in %s: creating one for %s", o->state_dir,
			o->trust_domain);
		ret = node_ca__init(o->state_dir, &init, err);
		if (!ret)
			ret = node_ca__open(&d->ca, o->state_dir, err);
	}
	if (ret)
		return ret;
	if (o->trust_domain && strcmp(o->trust_domain,
				      node_ca__trust_domain(d->ca)))
		return nt_err_set(err, -EINVAL,
				  "--trust-domain %s but the CA in %s is for %s",
				  o->trust_domain, o->state_dir,
				  node_ca__trust_domain(d->ca));
	return 0;
}

/* Re-apply saved namespaces; drop kernel entries nobody owns any more. A
 * namespace that now holds the daemon (or is no longer below its root) is
 * turned off in memory; its file keeps the saved mode until the next
 * change, so a start from a fit place enforces it again. */
void daemon__reconcile_ns(struct daemon *d, struct ns *ns)
{
	struct nt_err err = {};

	if (cgroup__id(ns->cgroup, &ns->cgroup_id)) {
		pr_warn("namespace %s: cgroup %s does not exist; not enforced",
			ns->name, ns->cgroup);
		ns->cgroup_id = 0;
		return;
	}
	if (ns->mode != NT_MODE_OFF &&
	    cgroup__may_enroll(&d->cg, ns->cgroup, &err)) {
		pr_warn("namespace %s: not enforced: %s", ns->name, err.msg);
		ns->mode = NT_MODE_OFF;
	}
	ns__apply(d, ns);
}

void daemon__reconcile_namespaces(struct daemon *d)
{
	uint64_t ids[NT_MAX_NAMESPACES];
	size_t i, n;

	for (i = 0; i < ns_table__count(d->ns); i++)
		daemon__reconcile_ns(d, ns_table__at(d->ns, i));
	n = datapath__ns_ids(d->dp, ids, ARRAY_SIZE(ids));
	for (i = 0; i < n; i++)
		if (!ns_table__by_cgroup(d->ns, ids[i]))
			datapath__del_ns(d->dp, ids[i]);
}

static void report_features(struct daemon *d)
{
	struct nt_features f;

	if (features__probe(&f, d->opts.bpffs)) {
		pr_warn("kernel feature probe failed");
		return;
	}
	if (d->opts.no_ktls)
		pr_warn("--no-ktls: TLS records stay in userspace");
	if (d->opts.no_mesh_reuse)
		pr_warn("--no-mesh-reuse: every proxied connection pays its own TLS handshake (NT1)");
	else if (!f.ktls.available)
		pr_warn("kernel TLS is not available: the proxy will encrypt in userspace (flows show ktls off)");
	if (!f.progs[NT_FEAT_PROG_SK_LOOKUP].available)
		pr_warn("sk_lookup programs are not available: inbound steering is off");
	d->no_sock_destroy = !f.sock_destroy.available;
	if (d->no_sock_destroy)
		pr_warn("sock_diag SOCK_DESTROY is not available (%s; CONFIG_INET_DIAG_DESTROY?): a namespace turned strict keeps the plaintext connections its workloads made before",
			strerror(f.sock_destroy.err));
}

/* The identity stage's inputs: attestation and the registry. */
static int open_identity(struct daemon *d, struct nt_err *err)
{
	struct attest_env env = {
		.proc_root = "/proc", .passwd_file = "/etc/passwd",
		.group_file = "/etc/group", .max_hash_bytes = 256u << 20,
		.cgroup_root = d->cg.mount,
	};
	int ret;

	snprintf(d->entries_path, sizeof(d->entries_path), "%s/entries.json",
		 d->opts.state_dir);
	ret = attest__new(&d->attest, &env, err);
	if (!ret)
		ret = attest_registry__new(&d->entries) ? -ENOMEM : 0;
	if (!ret)
		ret = attest_registry__load(d->entries, d->entries_path, err);
	if (!ret && (spiffe_ids__new(&d->ids) || identity__new(&d->identity, d) ||
		     svid_cache__new(&d->svids, d->ca) ||
		     flow_table__new(&d->flows, d->ids, d->opts.flow_table_size ?:
				     FLOW_TABLE_DEFAULT)))
		ret = nt_err_set(err, -ENOMEM, "out of memory");
	return ret;
}

/*
 * workers "auto", the default: one thread per CPU nametagd may run on
 * (its affinity, so a cpuset counts), the main thread among them. On two
 * CPUs that is the main thread alone, which measured best there: the
 * workloads use the other CPU (docs/performance.md, "Handshakes on relay
 * threads").
 */
static unsigned int auto_workers(int *cpus)
{
	cpu_set_t set;
	int n;

	*cpus = 0;
	if (sched_getaffinity(0, sizeof(set), &set))
		return 1;
	n = *cpus = CPU_COUNT(&set);
	if (n <= 2)
		return 1;
	return n - 1 < PROXY_WORKERS_MAX ? (unsigned int)(n - 1) :
					   PROXY_WORKERS_MAX;
}

static int open_proxy(struct daemon *d, struct nt_err *err)
{
	struct proxy_opts o = { .state_dir = d->opts.state_dir,
				.no_ktls = d->opts.no_ktls,
				.no_mesh_reuse = d->opts.no_mesh_reuse,
				.max_netns = d->opts.max_netns,
				.workers = d->opts.workers };
	struct proxy_env env;
	int cpus;

	if (!o.workers) {
		o.workers = auto_workers(&cpus);
		pr_info("workers auto: %u for %d CPUs", o.workers, cpus);
	}

	if (d->opts.same_node)
		daemon_config__same_node(d->opts.same_node, &o.same_node_direct);
	if (o.same_node_direct)
		pr_info("same-node direct: connections between pods this nametagd serves are judged and relayed here, without mTLS");

	proxy_env__init(d, &env);
	return proxy__new(&d->proxy, &o, &env, d->loop, d->dp, err);
}

static int start(struct daemon *d, struct nt_err *err)
{
	const struct daemon_opts *o = &d->opts;
	struct dp_limits lim = { .max_netns = o->max_netns,
				 .listeners_per_netns = o->listeners_per_netns };
	int ret;

	/* First: everything after opens descriptors. */
	ret = fdlimit__init(err);
	if (!ret)
		ret = fleet__bootstrap(d, err);	/* fleet mode: the node CA */
	if (!ret)
		ret = open_ca(d, err);
	if (ret)
		return ret;
	ret = cgroup__init(&d->cg, o->cgroup_root);
	if (ret)
		return nt_err_set(err, ret, "cgroup root %s: %s (a cgroup v2 directory?)",
				  o->cgroup_root ? o->cgroup_root : "(default)",
				  strerror(-ret));
	report_features(d);
	ret = loop__new(&d->loop);
	if (!ret)
		ret = datapath__open(&d->dp, d->cg.root, d->cg.root_id, o->bpffs,
				     &lim, err);
	if (!ret)
		ret = ns_table__load(&d->ns, o->state_dir, err);
	if (!ret)
		ret = open_identity(d, err);
	if (!ret)
		ret = policy_holder__init(d, err);
	if (ret)
		return ret;
	daemon__reconcile_namespaces(d);
	ret = datapath__events_open(d->dp, events__on_event, d);
	if (ret)
		return nt_err_set(err, ret, "failed to open the event ring buffer");
	ret = setup_loop(d);
	if (ret)
		return nt_err_set(err, ret, "event loop: %s", strerror(-ret));
	ret = operator__open(d, err);
	if (!ret)
		ret = open_proxy(d, err);
	if (!ret && o->takeover_fd >= 0)
		ret = takeover__begin(d, err);
	if (!ret)
		ret = netns__restore(d, err);
	/* Last: from now on strict holds a connect() made before its netns
	 * is served, rather than refusing it. */
	if (!ret && !o->manual_netns)
		ret = netns__serve_on_demand(d, err);
	if (ret)
		return ret;
	/* Listeners that were there before the daemon (or its namespaces). */
	daemon__sync_listeners(d);
	ret = daemon_wlapi__open(d, err);
	if (!ret)
		ret = fleet__open(d, err);
	if (ret)
		return ret;
	return control__open(d, err);
}

/* In the reverse order: what holds a reference goes before what it holds. */
static void stop(struct daemon *d)
{
	control__close(d);
	daemon_wlapi__close(d);		/* borrows the proxy's bundles */
	if (d->server_fd >= 0)		/* strict refuses at once again */
		close(d->server_fd);
	fleet__close(d);
	proxy__free(d->proxy);		/* its flows close into the table */
	operator__close(d);
	flow_table__free(d->flows);
	identity__free(d->identity);
	spiffe_ids__free(d->ids);	/* no holder is left */
	svid_cache__free(d->svids);
	policy__free(d->policy);
	datapath__close(d->dp);
	attest_registry__free(d->entries);
	attest__free(d->attest);
	ns_table__free(d->ns);
	free(d->fresh);
	free(d->want);
	node_ca__close(d->ca);
	if (d->sig_h.fd >= 0)
		close(d->sig_h.fd);
	if (d->timer_h.fd >= 0)
		close(d->timer_h.fd);
	if (d->drain_h.fd >= 0)
		close(d->drain_h.fd);
	loop__free(d->loop);
	fdlimit__fini();
}

/* Before anything can go wrong where only the log would say it: the
 * command line, the config, the log file. An upgrade's new process tells
 * the old one why it will not start. */
static int prepare(struct daemon *d, int argc, char **argv, struct nt_err *err)
{
	ssize_t n;
	int ret;

	d->argc = argc;
	d->argv = argv;
	n = readlink("/proc/self/exe", d->exe, sizeof(d->exe) - 1);
	if (n > 0)
		d->exe[n] = '\0';
	ret = daemon__parse_args(argc, argv, &d->opts, err);
	if (ret && !err->msg[0])
		daemon__usage(stderr);
	if (!ret)
		ret = daemon_config__check(&d->opts, err);
	if (!ret && d->opts.log_file)
		ret = daemon__open_log(d->opts.log_file, err);
	return ret;
}

static bool is_takeover(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++)
		if (!strncmp(argv[i], "--takeover", 10))
			return true;
	return false;
}

int main(int argc, char **argv)
{
	static struct daemon d = {
		.opts = {
			.state_dir = STATE_DIR_DEFAULT,
			.run_dir = CTL_RUN_DIR_DEFAULT,
			.bpffs = NT_BPFFS_DEFAULT,
		},
		.sig_h = { .fd = -1 }, .timer_h = { .fd = -1 },
		.drain_h = { .fd = -1 },
		.handed_ctl_fd = -1,
		.server_fd = -1,
	};
	struct start_undo undo;
	struct nt_err err = {};
	int ret;

	d.opts.takeover_fd = -1;
	if (prepare(&d, argc, argv, &err)) {
		if (err.msg[0])
			fprintf(stderr, "nametagd: %s\n", err.msg);
		/* --takeover may be what failed to parse: the fd is ours. */
		if (d.opts.takeover_fd < 0 && is_takeover(argc, argv))
			d.opts.takeover_fd = UPGRADE_FD;
		takeover__fail(&d, err.msg[0] ? err.msg : "invalid command line");
		return 2;
	}
	libbpf_set_print(libbpf_log);
	if (d.opts.cleanup) {
		ret = datapath__cleanup(d.opts.bpffs, &err);
		if (ret)
			pr_err("%s", err.msg);
		else
			pr_info("removed every pin under %s/%s: programs detached",
				d.opts.bpffs, NT_PIN_DIR);
		return ret ? 1 : 0;
	}
	d.started = time(NULL);
	start_undo__note(&undo, &d.opts);
	ret = start(&d, &err);
	if (ret) {
		pr_err("%s", err.msg);
		takeover__fail(&d, err.msg);
		stop(&d);
		start_undo__run(&undo, &d.opts);
		return 1;
	}
	start_undo__free(&undo);
	pr_info("ready: trust domain %s, cgroup root %s, control %s/%s",
		node_ca__trust_domain(d.ca), d.cg.root, d.opts.run_dir,
		CTL_SOCK_NAME);
	takeover__ready(&d);
	ret = run_loop(&d);
	stop(&d);
	/* Only a requested stop is a success (Restart=always either way). */
	return ret || !d.stop_requested ? 1 : 0;
}
