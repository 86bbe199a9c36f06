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

/* Listeners of a namespace just served, or of a change made by a request
 * of this batch: once per batch, however many asked. */
static int run_loop(struct daemon *d)
{
	int ret;

	while (!loop__stopped(d->loop)) {
		ret = loop__run_once(d->loop, -1);
		if (ret < 0)
			return ret;
		if (d->sync_soon && !upgrade__paused(d)) {
			d->sync_soon = false;
			daemon__sync_listeners(d);
		}
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
	if (ret == -ENOENT && o->trust_domain) {
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
void daemon__reconcile_namespaces(struct daemon *d)
{
	uint64_t ids[NT_MAX_NAMESPACES];
	struct nt_err err = {};
	size_t i, n;
	struct ns *ns;

	for (i = 0; i < ns_table__count(d->ns); i++) {
		ns = ns_table__at(d->ns, i);
		if (cgroup__id(ns->cgroup, &ns->cgroup_id)) {
			pr_warn("namespace %s: cgroup %s is gone; not enforced",
				ns->name, ns->cgroup);
			ns->cgroup_id = 0;
			continue;
		}
		if (ns->mode != NT_MODE_OFF &&
		    cgroup__may_enroll(&d->cg, ns->cgroup, &err)) {
			pr_warn("namespace %s: not enforced: %s", ns->name,
				err.msg);
			ns->mode = NT_MODE_OFF;
		}
		ns__apply(d, ns);
	}
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

static int open_proxy(struct daemon *d, struct nt_err *err)
{
	struct proxy_opts o = { .state_dir = d->opts.state_dir,
				.no_ktls = d->opts.no_ktls,
				.no_mesh_reuse = d->opts.no_mesh_reuse,
				.workers = d->opts.workers };
	struct proxy_env env;

	proxy_env__init(d, &env);
	return proxy__new(&d->proxy, &o, &env, d->loop, d->dp, err);
}

static int start(struct daemon *d, struct nt_err *err)
{
	const struct daemon_opts *o = &d->opts;
	int ret;

	/* First: everything after opens descriptors. */
	ret = fdlimit__init(err);
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
				     err);
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
	if (ret)
		return ret;
	/* Listeners that were there before the daemon (or its namespaces). */
	daemon__sync_listeners(d);
	return control__open(d, err);
}

/* In the reverse order: what holds a reference goes before what it holds. */
static void stop(struct daemon *d)
{
	control__close(d);
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

/* ---- arguments ----------------------------------------------------------- */

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: nametagd [OPTIONS]\n"
		"\n"
		"The nametag node daemon: loads and pins the BPF datapath, keeps the node\n"
		"CA rotated, turns kernel evidence into SPIFFE identities, runs the node\n"
		"proxy (TLS 1.3 mTLS, kTLS) and answers nametag(8) on its control socket.\n"
		"\n"
		"Options:\n"
		"  --state-dir DIR     CA, bundles, namespaces, entries (default %s)\n"
		"  --run-dir DIR       control socket (default %s)\n"
		"  --cgroup-root PATH  the cgroup v2 subtree to manage, relative to the\n"
		"                      cgroup v2 mount like 'ns add' (default: the root)\n"
		"  --bpffs DIR         bpffs mount for pins (default %s)\n"
		"  --trust-domain TD   create the CA for TD if the state dir has none\n"
		"  --config FILE       options from a JSON file (Config file, below)\n"
		"  --manual-netns      serve only network namespaces added with\n"
		"                      'nametag proxy add' (default: also every netns an\n"
		"                      enrolled permissive/strict workload lives in)\n"
		"  --no-ktls           keep TLS records in userspace even where the kernel\n"
		"                      has kTLS (flows then show ktls off)\n"
		"  --no-mesh-reuse     a TLS handshake for every proxied connection: no\n"
		"                      NT2 streams, in either direction (docs/mesh-protocol.md)\n"
		"  --metrics ADDR:PORT serve Prometheus metrics at http://ADDR:PORT/metrics\n"
		"                      (a bare PORT is 127.0.0.1:PORT; default: off)\n"
		"  --audit-log FILE    append an audit record (JSON lines) for each SVID\n"
		"                      issued, deny, policy load, mode change, CA rotation\n"
		"  --log-format FORMAT text (default) or json: one JSON object per line;\n"
		"                      under journald lines carry syslog priorities\n"
		"  --log-file FILE     log there instead of stderr; reopened at SIGHUP\n"
		"  --drain-timeout DURATION\n"
		"                      after an upgrade, how long the old process lets its\n"
		"                      connections finish (default 10m; 90s, 1h, ...)\n"
		"  --takeover FD       (set by an upgrade) take the listeners and the control\n"
		"                      socket over from the nametagd at the other end of FD\n"
		"  --flow-table-size N flow records kept for 'nametag flow' (default %u,\n"
		"                      %u to %u; the oldest goes first)\n"
		"  --workers N         threads that move proxied bytes (default 1: the main\n"
		"                      thread does it all; docs/performance.md)\n"
		"  --cleanup           remove every pinned program and map, then exit\n"
		"  -d, --debug         debug logging, libbpf included\n"
		"  -V, --version       print the version and exit\n"
		"  -h, --help          print this help and exit\n"
		"\n"
		"Config file:\n"
		"  A JSON object; each key sets the option of the same name (with _ for -),\n"
		"  where --config stands among the options (later ones win). Keys:\n"
		"    strings: %s\n"
		"    true or false: %s\n"
		"    numbers: %s\n"
		"  An unknown key, a duplicate one or a value of the wrong type is an\n"
		"  error that names the file, the line and the column.\n"
		"  SIGHUP reads it again: log_file and drain_timeout change at once,\n"
		"  the others at the next upgrade.\n"
		"\n"
		"Signals:\n"
		"  SIGTERM, SIGINT\n"
		"      exit with status 0: proxied connections end with a reset, the\n"
		"      pinned programs and maps stay in force (fail closed); --cleanup\n"
		"      removes them. Any other exit has a non-zero status.\n"
		"  SIGHUP\n"
		"      reload, never exit: the config file, the log file, policy.json and\n"
		"      entries.json from the state dir, a rescan of cgroups and network\n"
		"      namespaces, the trust bundles; what cannot be read is logged and\n"
		"      the rest stays in force ('nametag daemon reload' does the same);\n"
		"      the audit log is opened again (after logrotate moved it)\n"
		"  SIGUSR2\n"
		"      upgrade in place: start the binary on disk, hand it the listeners\n"
		"      and the control socket, let this process's connections finish,\n"
		"      then exit 0; a new binary that fails leaves this one serving\n"
		"      ('nametag daemon upgrade' does the same and says how it went)\n"
		"  SIGCHLD\n"
		"      an upgrade's new process exited\n"
		"\n"
		"Files:\n"
		"  %s\n"
		"      the state dir: node CA keys (0600), bundles, namespaces.json,\n"
		"      entries.json, policy.json, proxies.json (docs/state-dir.md)\n"
		"  %s/%s\n"
		"      the control socket, root only (docs/control.md)\n"
		"  %s/%s\n"
		"      pinned programs, maps and links (docs/datapath.md)\n",
		STATE_DIR_DEFAULT, CTL_RUN_DIR_DEFAULT, NT_BPFFS_DEFAULT,
		FLOW_TABLE_DEFAULT, FLOW_TABLE_MIN, FLOW_TABLE_MAX,
		daemon_config__keys(DAEMON_CONFIG_STRING),
		daemon_config__keys(DAEMON_CONFIG_BOOL),
		daemon_config__keys(DAEMON_CONFIG_NUMBER), STATE_DIR_DEFAULT, CTL_RUN_DIR_DEFAULT,
		CTL_SOCK_NAME, NT_BPFFS_DEFAULT, NT_PIN_DIR);
}

static int takeover_arg(const char *s, struct daemon_opts *o,
			struct nt_err *err)
{
	char *end;
	long fd = strtol(s, &end, 10);

	if (*end || fd < 3 || fd > 1024)
		return nt_err_set(err, -EINVAL, "--takeover %s: not a descriptor", s);
	o->takeover_fd = fd;
	return 0;
}

/* @err says what is wrong; -EINVAL with an empty @err: getopt said it. */
int daemon__parse_args(int argc, char **argv, struct daemon_opts *o,
		       struct nt_err *err)
{
	enum { O_STATE = 256, O_RUN, O_CG, O_BPFFS, O_TD, O_CONFIG, O_CLEANUP,
	       O_MANUAL, O_NO_KTLS, O_NO_REUSE, O_METRICS, O_AUDIT, O_LOGFMT,
	       O_LOG, O_DRAIN, O_TAKEOVER, O_FLOWS, O_WORKERS };
	static const struct option longopts[] = {
		{ "state-dir",	 required_argument, NULL, O_STATE },
		{ "run-dir",	 required_argument, NULL, O_RUN },
		{ "cgroup-root", required_argument, NULL, O_CG },
		{ "bpffs",	 required_argument, NULL, O_BPFFS },
		{ "trust-domain", required_argument, NULL, O_TD },
		{ "config",	 required_argument, NULL, O_CONFIG },
		{ "cleanup",	 no_argument,	    NULL, O_CLEANUP },
		{ "manual-netns", no_argument,	    NULL, O_MANUAL },
		{ "no-ktls",	 no_argument,	    NULL, O_NO_KTLS },
		{ "no-mesh-reuse", no_argument,	    NULL, O_NO_REUSE },
		{ "metrics",	 required_argument, NULL, O_METRICS },
		{ "audit-log",	 required_argument, NULL, O_AUDIT },
		{ "log-format",	 required_argument, NULL, O_LOGFMT },
		{ "log-file",	 required_argument, NULL, O_LOG },
		{ "drain-timeout", required_argument, NULL, O_DRAIN },
		{ "takeover",	 required_argument, NULL, O_TAKEOVER },
		{ "flow-table-size", required_argument, NULL, O_FLOWS },
		{ "workers",	 required_argument, NULL, O_WORKERS },
		{ "debug",	 no_argument,	    NULL, 'd' },
		{ "version",	 no_argument,	    NULL, 'V' },
		{ "help",	 no_argument,	    NULL, 'h' },
		{ 0 }
	};
	enum nt_log_format fmt = NT_LOG_FORMAT_TEXT;
	int opt;

	while ((opt = getopt_long(argc, argv, "dVh", longopts, NULL)) >= 0) {
		switch (opt) {
		case O_STATE: o->state_dir = optarg; break;
		case O_RUN: o->run_dir = optarg; break;
		case O_CG: o->cgroup_root = optarg; break;
		case O_BPFFS: o->bpffs = optarg; break;
		case O_TD: o->trust_domain = optarg; break;
		case O_CLEANUP: o->cleanup = true; break;
		case O_MANUAL: o->manual_netns = true; break;
		case O_NO_KTLS: o->no_ktls = true; break;
		case O_NO_REUSE: o->no_mesh_reuse = true; break;
		case O_METRICS: o->metrics = optarg; break;
		case O_AUDIT: o->audit_log = optarg; break;
		case O_LOGFMT: o->log_format = optarg; break;
		case O_LOG: o->log_file = optarg; break;
		case O_DRAIN: o->drain_timeout = optarg; break;
		case O_TAKEOVER:
			if (takeover_arg(optarg, o, err))
				return -EINVAL;
			break;
		case O_FLOWS:
			if (daemon_config__flow_table_size(optarg, &o->flow_table_size,
							   err))
				return -EINVAL;
			break;
		case O_WORKERS:
			if (daemon_config__workers(optarg, &o->workers, err))
				return -EINVAL;
			break;
		case O_CONFIG:
			if (daemon_config__load(o, optarg, err))
				return -EINVAL;
			break;
		case 'd': o->debug = true; break;
		case 'V': printf("nametagd v%s\n", NAMETAG_VERSION); exit(0);
		case 'h': usage(stdout); exit(0);
		default: return -EINVAL;
		}
	}
	if (optind < argc)
		return nt_err_set(err, -EINVAL, "unexpected argument '%s'",
				  argv[optind]);
	if (o->log_format && log__parse_format(o->log_format, &fmt))
		return nt_err_set(err, -EINVAL, "--log-format %s: expected text or json",
				  o->log_format);
	log__set_format(fmt);
	/* An empty root would be the mount's: the whole machine. */
	if (o->cgroup_root && !o->cgroup_root[0])
		return nt_err_set(err, -EINVAL, "--cgroup-root is empty (give a cgroup below the cgroup v2 mount)");
	if (o->metrics && metrics_http__check(o->metrics, err))
		return -EINVAL;
	if (o->debug)
		nt_log_level = NT_LOG_DEBUG;
	return 0;
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
		usage(stderr);
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
