// SPDX-License-Identifier: Apache-2.0
/*
 * nametagd, the node daemon: loads and pins the BPF datapath, keeps the
 * node CA rotated, turns kernel evidence into SPIFFE identities and flow
 * records, and answers the CLI on its control socket. One thread, one
 * epoll loop.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "userspace/daemon/daemon.h"
#include "lib/ntcore.h"
#include "userspace/proxy/proxy.h"
#include "userspace/datapath/sockdiag.h"

int policy_ctl__init(struct nt_err *err);
int proxy__restore(struct nt_err *err);

#define CA_CHECK_TICKS 30	/* the CA is looked at every 30 s */
/* Listeners are listed again every 10 s: a record made from sock_diag has
 * no close hook in the kernel, so this bounds how long one outlives its
 * socket. */
#define LISTENERS_SYNC_TICKS 10

struct daemon *nd;
static int epfd = -1;

int loop__add(struct loop_handler *h, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = h };

	return epoll_ctl(epfd, EPOLL_CTL_ADD, h->fd, &ev) ? -errno : 0;
}

int loop__mod(struct loop_handler *h, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = h };

	return epoll_ctl(epfd, EPOLL_CTL_MOD, h->fd, &ev) ? -errno : 0;
}

void loop__del(struct loop_handler *h)
{
	epoll_ctl(epfd, EPOLL_CTL_DEL, h->fd, NULL);
}

static void **graveyard;
static size_t ngrave, grave_cap;

void loop__defer_free(void *p)
{
	void **ng;

	if (ngrave == grave_cap) {
		grave_cap = grave_cap ? grave_cap * 2 : 64;
		ng = realloc(graveyard, grave_cap * sizeof(*ng));
		if (!ng) {
			/* Leaking beats a use-after-free. */
			pr_warn("out of memory deferring a free");
			return;
		}
		graveyard = ng;
	}
	graveyard[ngrave++] = p;
}

static void loop__reap(void)
{
	while (ngrave)
		free(graveyard[--ngrave]);
}

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
	struct signalfd_siginfo si;

	if (read(h->fd, &si, sizeof(si)) == sizeof(si))
		pr_info("signal %u received, exiting (pinned enforcement stays)",
			si.ssi_signo);
	nd->stop = true;
}

/* Once a second: proxy timeouts and trust reloads; the CA less often. */
static void on_timer(struct loop_handler *h, uint32_t events)
{
	enum ca_step step = CA_STEP_NONE;
	static unsigned int ticks_seen;
	struct nt_err err = {};
	uint64_t ticks;

	if (read(h->fd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
		return;
	pconn__tick();
	if (ticks_seen % LISTENERS_SYNC_TICKS == LISTENERS_SYNC_TICKS - 1) {
		proxy__sync_netns();
		if (listeners__sync(&err))
			pr_warn("listener sync: %s", err.msg);
	}
	if (ticks_seen++ % CA_CHECK_TICKS)
		return;
	if (node_ca__maintain(nd->ca, time(NULL), &step, &err))
		pr_warn("CA maintenance failed, will retry: %s", err.msg);
	else if (step != CA_STEP_NONE)
		pr_info("CA %s; bundle sequence %llu",
			step == CA_STEP_PREPARED ? "prepared the next CA" :
			"activated the next CA",
			(unsigned long long)node_ca__bundle(nd->ca)->sequence);
}

static void on_events(struct loop_handler *h, uint32_t events)
{
	if (datapath__poll_events(nd->dp, flows__on_event, nd->flows))
		pr_warn("failed to read the event ring buffer");
}

static struct loop_handler sig_h = { .fd = -1, .on_event = on_signal };
static struct loop_handler timer_h = { .fd = -1, .on_event = on_timer };
static struct loop_handler events_h = { .fd = -1, .on_event = on_events };

static int setup_loop(void)
{
	struct itimerspec its = { .it_interval = { .tv_sec = 1 },
				  .it_value = { .tv_sec = 1 } };
	sigset_t mask;
	int ret;

	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		return -errno;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL))
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	sig_h.fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	timer_h.fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (sig_h.fd < 0 || timer_h.fd < 0 ||
	    timerfd_settime(timer_h.fd, 0, &its, NULL))
		return -errno;
	ret = loop__add(&sig_h, EPOLLIN);
	if (!ret)
		ret = loop__add(&timer_h, EPOLLIN);
	return ret;
}

static bool sync_soon;

void daemon__sync_listeners_soon(void)
{
	sync_soon = true;
}

/* Listeners of a namespace just served, or of a change made by a request
 * of this batch: once per batch, however many asked. */
static void sync_if_asked(void)
{
	struct nt_err err = {};

	if (!sync_soon)
		return;
	sync_soon = false;
	if (listeners__sync(&err))
		pr_warn("listener sync: %s", err.msg);
}

static int run_loop(void)
{
	struct epoll_event evs[32];
	struct loop_handler *h;
	int n, i;

	while (!nd->stop) {
		n = epoll_wait(epfd, evs, 32, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		for (i = 0; i < n && !nd->stop; i++) {
			h = evs[i].data.ptr;
			/* Closed earlier in this batch: its memory waits in
			 * the graveyard, its fd is gone. */
			if (h->fd >= 0)
				h->on_event(h, evs[i].events);
		}
		sync_if_asked();
		loop__reap();
	}
	return 0;
}

/* ---- start-up ------------------------------------------------------------ */

static int open_ca(const struct daemon_opts *o, struct nt_err *err)
{
	struct ca_init_opts init = { .trust_domain = o->trust_domain,
				     .now = time(NULL) };
	int ret;

	ret = node_ca__open(&nd->ca, o->state_dir, err);
	if (ret == -ENOENT && o->trust_domain) {
		pr_info("no CA in %s: creating one for %s", o->state_dir,
			o->trust_domain);
		ret = node_ca__init(o->state_dir, &init, err);
		if (!ret)
			ret = node_ca__open(&nd->ca, o->state_dir, err);
	}
	if (ret)
		return ret;
	if (o->trust_domain && strcmp(o->trust_domain,
				      node_ca__trust_domain(nd->ca)))
		return nt_err_set(err, -EINVAL,
				  "--trust-domain %s but the CA in %s is for %s",
				  o->trust_domain, o->state_dir,
				  node_ca__trust_domain(nd->ca));
	return 0;
}

/* Re-apply saved namespaces; drop kernel entries nobody owns any more. A
 * namespace that now holds the daemon (or is no longer below its root) is
 * turned off in memory; its file keeps the saved mode until the next
 * change, so a start from a fit place enforces it again. */
static void reconcile_namespaces(void)
{
	int fd = datapath__map_fd(nd->dp, "ns_mode");
	uint64_t key, *prev = NULL, stale[NT_MAX_NAMESPACES];
	struct nt_err err = {};
	size_t i, nstale = 0;
	struct ns *n;

	for (i = 0; i < ns_table__count(nd->ns); i++) {
		n = ns_table__at(nd->ns, i);
		if (cgroup__id(n->cgroup, &n->cgroup_id)) {
			pr_warn("namespace %s: cgroup %s is gone; not enforced",
				n->name, n->cgroup);
			n->cgroup_id = 0;
			continue;
		}
		if (n->mode != NT_MODE_OFF &&
		    cgroup__may_enroll(&nd->cg, n->cgroup, &err)) {
			pr_warn("namespace %s: not enforced: %s", n->name,
				err.msg);
			n->mode = NT_MODE_OFF;
		}
		daemon__apply_ns(n);
	}
	while (nstale < NT_MAX_NAMESPACES &&
	       !bpf_map_get_next_key(fd, prev, &key)) {
		if (!ns_table__by_cgroup(nd->ns, key))
			stale[nstale++] = key;
		prev = &key;
	}
	for (i = 0; i < nstale; i++)
		datapath__del_ns(nd->dp, stale[i]);
}

static void report_features(const char *bpffs)
{
	struct nt_features f;

	if (features__probe(&f, bpffs)) {
		pr_warn("kernel feature probe failed");
		return;
	}
	if (nd->opts.no_ktls)
		pr_warn("--no-ktls: TLS records stay in userspace");
	if (nd->opts.no_mesh_reuse)
		pr_warn("--no-mesh-reuse: every proxied connection pays its own TLS handshake (NT1)");
	else if (!f.ktls.available)
		pr_warn("kernel TLS is not available: the proxy will encrypt in userspace (flows show ktls off)");
	if (!f.progs[NT_FEAT_PROG_SK_LOOKUP].available)
		pr_warn("sk_lookup programs are not available: inbound steering is off");
	nd->no_sock_destroy = !f.sock_destroy.available;
	if (nd->no_sock_destroy)
		pr_warn("sock_diag SOCK_DESTROY is not available (%s; CONFIG_INET_DIAG_DESTROY?): a namespace turned strict keeps the plaintext connections its workloads made before",
			strerror(f.sock_destroy.err));
}

/* Listeners that were there before the daemon (or its namespaces). */
static void sync_listeners_at_start(void)
{
	struct nt_err err = {};

	if (listeners__sync(&err))
		pr_warn("listener sync: %s", err.msg);
}

static int start(const struct daemon_opts *o, struct nt_err *err)
{
	struct attest_env env = {
		.proc_root = "/proc", .passwd_file = "/etc/passwd",
		.group_file = "/etc/group", .max_hash_bytes = 256u << 20,
	};
	int ret;

	/* First: everything after opens descriptors. */
	ret = fdlimit__init(err);
	if (!ret)
		ret = open_ca(o, err);
	if (ret)
		return ret;
	ret = cgroup__init(&nd->cg, o->cgroup_root);
	if (ret)
		return nt_err_set(err, ret, "cgroup root %s: %s (a cgroup v2 directory?)",
				  o->cgroup_root ? o->cgroup_root : "(default)",
				  strerror(-ret));
	report_features(o->bpffs);
	ret = datapath__open(&nd->dp, &nd->cg, o->bpffs, err);
	if (ret)
		return ret;
	ret = ns_table__load(&nd->ns, o->state_dir, err);
	if (ret)
		return ret;
	reconcile_namespaces();
	env.cgroup_root = nd->cg.mount;
	snprintf(nd->entries_path, sizeof(nd->entries_path), "%s/entries.json",
		 o->state_dir);
	ret = attest__new(&nd->attest, &env, err);
	if (!ret)
		ret = attest_registry__new(&nd->entries) ? -ENOMEM : 0;
	if (!ret)
		ret = attest_registry__load(nd->entries, nd->entries_path, err);
	if (!ret)
		ret = svid_cache__new(&nd->svids) || flow_table__new(&nd->flows) ||
		      spiffe_ids__new(&nd->ids) ? -ENOMEM : 0;
	if (ret)
		return ret;
	ret = datapath__poll_events(nd->dp, flows__on_event, nd->flows);
	if (ret)
		return nt_err_set(err, ret, "failed to open the event ring buffer");
	events_h.fd = datapath__events_fd(nd->dp);
	ret = setup_loop();
	if (!ret)
		ret = loop__add(&events_h, EPOLLIN);
	if (ret)
		return nt_err_set(err, ret, "event loop: %s", strerror(-ret));
	admit__init();
	ret = policy_ctl__init(err);
	if (!ret)
		ret = proxy_tls__init(err);
	if (!ret)
		ret = proxy__restore(err);
	if (ret)
		return ret;
	sync_listeners_at_start();
	return control__open(o->run_dir, err);
}

static void stop(void)
{
	control__close();
	pconn__close_all();
	spiffe_ids__free(nd->ids);	/* connections held every reference */
	proxy_tls__fini();
	policy__free(active_policy);
	datapath__close(nd->dp);
	flow_table__free(nd->flows);
	svid_cache__free(nd->svids);
	attest_registry__free(nd->entries);
	attest__free(nd->attest);
	ns_table__free(nd->ns);
	node_ca__close(nd->ca);
	if (epfd >= 0)
		close(epfd);
	loop__reap();
	free(graveyard);
	fdlimit__fini();
}

/* ---- arguments ----------------------------------------------------------- */

/* The one source of nametagd's documentation: tools/gen-docs.sh makes
 * docs/man/nametagd.8 from it, and tests/cli/test_docs_sync.sh keeps the
 * two in step. Section titles end in ':' at the start of a line. */
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
		STATE_DIR_DEFAULT, CONTROL_RUN_DIR_DEFAULT, NT_BPFFS_DEFAULT,
		daemon_config__keys(), STATE_DIR_DEFAULT, CONTROL_RUN_DIR_DEFAULT,
		CONTROL_SOCK_NAME, NT_BPFFS_DEFAULT, NT_PIN_DIR);
}

static int parse_args(int argc, char **argv, struct daemon_opts *o)
{
	enum { O_STATE = 256, O_RUN, O_CG, O_BPFFS, O_TD, O_CONFIG, O_CLEANUP,
	       O_MANUAL, O_NO_KTLS, O_NO_REUSE };
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
			.run_dir = CONTROL_RUN_DIR_DEFAULT,
			.bpffs = NT_BPFFS_DEFAULT,
		},
	};
	struct nt_err err = {};
	int ret;

	nd = &d;
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
	ret = start(&d.opts, &err);
	if (ret) {
		pr_warn("%s", err.msg);
		stop();
		return 1;
	}
	pr_info("ready: trust domain %s, cgroup root %s, control %s/%s",
		node_ca__trust_domain(nd->ca), nd->cg.root, d.opts.run_dir,
		CONTROL_SOCK_NAME);
	ret = run_loop();
	stop();
	return ret ? 1 : 0;
}
