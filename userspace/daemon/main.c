// SPDX-License-Identifier: Apache-2.0
/*
 * nametagd, the node daemon: loads and pins the BPF datapath, keeps the
 * node CA rotated, turns kernel evidence into SPIFFE identities and flow
 * records, runs the node proxy, and answers the CLI on its control socket.
 * One thread, one epoll loop. This file starts and stops the pieces and
 * runs the loop; the pipeline of an event is events.c's.
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

	if (read(h->fd, &si, sizeof(si)) == sizeof(si))
		pr_info("signal %u received, exiting (pinned enforcement stays)",
			si.ssi_signo);
	loop__stop(d->loop);
}

static void maintain_ca(struct daemon *d)
{
	enum ca_step step = CA_STEP_NONE;
	struct nt_err err = {};

	if (node_ca__maintain(d->ca, time(NULL), &step, &err))
		pr_warn("CA maintenance failed, will retry: %s", err.msg);
	else if (step != CA_STEP_NONE)
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
		if (d->sync_soon) {
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
static void reconcile_namespaces(struct daemon *d)
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
		     flow_table__new(&d->flows, d->ids)))
		ret = nt_err_set(err, -ENOMEM, "out of memory");
	return ret;
}

static int open_proxy(struct daemon *d, struct nt_err *err)
{
	struct proxy_opts o = { .state_dir = d->opts.state_dir,
				.no_ktls = d->opts.no_ktls,
				.no_mesh_reuse = d->opts.no_mesh_reuse };
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
				     err);
	if (!ret)
		ret = ns_table__load(&d->ns, o->state_dir, err);
	if (!ret)
		ret = open_identity(d, err);
	if (!ret)
		ret = policy_holder__init(d, err);
	if (ret)
		return ret;
	reconcile_namespaces(d);
	ret = datapath__events_open(d->dp, events__on_event, d);
	if (ret)
		return nt_err_set(err, ret, "failed to open the event ring buffer");
	ret = setup_loop(d);
	if (ret)
		return nt_err_set(err, ret, "event loop: %s", strerror(-ret));
	ret = open_proxy(d, err);
	if (!ret)
		ret = netns__restore(d, err);
	if (ret)
		return ret;
	/* Listeners that were there before the daemon (or its namespaces). */
	daemon__sync_listeners(d);
	ret = fleet__open(d, err);
	if (!ret)
		ret = control__open(d, err);
	return ret;
}

/* In the reverse order: what holds a reference goes before what it holds. */
static void stop(struct daemon *d)
{
	control__close(d);
	fleet__close(d);
	proxy__free(d->proxy);		/* its flows close into the table */
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
		"  --cgroup-root PATH  the cgroup v2 subtree to manage (default: the root)\n"
		"  --bpffs DIR         bpffs mount for pins (default %s)\n"
		"  --trust-domain TD   create the CA for TD if the state dir has none\n"
		"  --config FILE       the options above from a JSON file (Config file)\n"
		"  --manual-netns      serve only network namespaces added with\n"
		"                      'nametag proxy add' (default: also every netns an\n"
		"                      enrolled permissive/strict workload lives in)\n"
		"  --no-ktls           keep TLS records in userspace even where the kernel\n"
		"                      has kTLS (flows then show ktls off)\n"
		"  --no-mesh-reuse     a TLS handshake for every proxied connection: no\n"
		"                      NT2 streams, in either direction (docs/mesh-protocol.md)\n"
		"  --etcd URL          fleet mode: namespaces, entries and policy come from\n"
		"                      etcd (docs/fleet.md); needs --node\n"
		"  --node NAME         this node's name in the fleet\n"
		"  --join-token TOKEN  first start only: asks the signer for the node CA\n"
		"  --etcd-ca FILE, --etcd-cert FILE, --etcd-key FILE\n"
		"                      TLS to etcd (a client certificate without CN)\n"
		"  --etcd-user USER, --etcd-password-file FILE\n"
		"                      etcd auth (one user and role per node)\n"
		"  --lease-ttl DURATION\n"
		"                      the node record's lease (default 30s)\n"
		"  --cleanup           remove every pinned program and map, then exit\n"
		"  -d, --debug         debug logging, libbpf included\n"
		"  -V, --version       print the version and exit\n"
		"  -h, --help          print this help and exit\n"
		"\n"
		"Config file:\n"
		"  A JSON object with any of the keys %s, each a\n"
		"  non-empty string, as the options of the same names; an unknown key\n"
		"  or a duplicate one is an error.\n"
		"\n"
		"Signals:\n"
		"  SIGTERM, SIGINT, SIGHUP\n"
		"      exit: proxied connections end with a reset, the pinned programs\n"
		"      and maps stay in force (fail closed); --cleanup removes them\n"
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
		daemon_config__keys(), STATE_DIR_DEFAULT, CTL_RUN_DIR_DEFAULT,
		CTL_SOCK_NAME, NT_BPFFS_DEFAULT, NT_PIN_DIR);
}

static int parse_args(int argc, char **argv, struct daemon_opts *o)
{
	enum { O_STATE = 256, O_RUN, O_CG, O_BPFFS, O_TD, O_CONFIG, O_CLEANUP,
	       O_MANUAL, O_NO_KTLS, O_NO_REUSE, O_ETCD, O_NODE, O_JOIN, O_ECA,
	       O_ECERT, O_EKEY, O_EUSER, O_EPASS, O_LEASE };
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
		{ "etcd",	 required_argument, NULL, O_ETCD },
		{ "node",	 required_argument, NULL, O_NODE },
		{ "join-token",	 required_argument, NULL, O_JOIN },
		{ "etcd-ca",	 required_argument, NULL, O_ECA },
		{ "etcd-cert",	 required_argument, NULL, O_ECERT },
		{ "etcd-key",	 required_argument, NULL, O_EKEY },
		{ "etcd-user",	 required_argument, NULL, O_EUSER },
		{ "etcd-password-file", required_argument, NULL, O_EPASS },
		{ "lease-ttl",	 required_argument, NULL, O_LEASE },
		{ "debug",	 no_argument,	    NULL, 'd' },
		{ "version",	 no_argument,	    NULL, 'V' },
		{ "help",	 no_argument,	    NULL, 'h' },
		{ 0 }
	};
	struct nt_err err = {};
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
		case O_ETCD: o->fleet.etcd = optarg; break;
		case O_NODE: o->fleet.node = optarg; break;
		case O_JOIN: o->fleet.join_token = optarg; break;
		case O_ECA: o->fleet.etcd_ca = optarg; break;
		case O_ECERT: o->fleet.etcd_cert = optarg; break;
		case O_EKEY: o->fleet.etcd_key = optarg; break;
		case O_EUSER: o->fleet.etcd_user = optarg; break;
		case O_EPASS: o->fleet.etcd_password_file = optarg; break;
		case O_LEASE: o->fleet.lease_ttl = optarg; break;
		case O_CONFIG:
			if (daemon_config__load(o, optarg, &err)) {
				fprintf(stderr, "nametagd: %s\n", err.msg);
				return -EINVAL;
			}
			break;
		case 'd': nt_log_level = NT_LOG_DEBUG; break;
		case 'V': printf("nametagd v%s\n", NAMETAG_VERSION); exit(0);
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "nametagd: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	return 0;
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
	};
	struct nt_err err = {};
	int ret;

	if (parse_args(argc, argv, &d.opts))
		return 2;
	libbpf_set_print(libbpf_log);
	if (d.opts.cleanup) {
		ret = datapath__cleanup(d.opts.bpffs, &err);
		if (ret)
			pr_warn("%s", err.msg);
		else
			pr_info("removed every pin under %s/%s: programs detached",
				d.opts.bpffs, NT_PIN_DIR);
		return ret ? 1 : 0;
	}
	d.started = time(NULL);
	ret = start(&d, &err);
	if (ret) {
		pr_warn("%s", err.msg);
		stop(&d);
		return 1;
	}
	pr_info("ready: trust domain %s, cgroup root %s, control %s/%s",
		node_ca__trust_domain(d.ca), d.cg.root, d.opts.run_dir,
		CTL_SOCK_NAME);
	ret = run_loop(&d);
	stop(&d);
	return ret ? 1 : 0;
}
