// SPDX-License-Identifier: Apache-2.0
/*
 * nametagd's command line: its help text (the source nametagd(8) is
 * generated from, tools/gen-docs.sh) and its parser, which a reload runs
 * again (signals.c). The config file's keys are config.c's.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "userspace/daemon/daemon.h"

void daemon__usage(FILE *out)
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
		"  --max-netns N       network namespaces served at most (default %u;\n"
		"                      a new N needs 'nametagd --cleanup' first)\n"
		"  --listeners-per-netns N\n"
		"                      listening addresses recorded per network\n"
		"                      namespace (default %u; docs/datapath.md)\n"
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
		"                      connections finish (default 10m; 90s, 1h, ...);\n"
		"                      kTLS ones go to the new process instead\n"
		"  --takeover FD       (set by an upgrade) take the listeners and the control\n"
		"                      socket over from the nametagd at the other end of FD\n"
		"  --flow-table-size N flow records kept for 'nametag flow' (default %u,\n"
		"                      %u to %u; the oldest goes first)\n"
		"  --workers N|auto    threads that make TLS handshakes and move proxied\n"
		"                      bytes; 1: the main thread does it all; auto (the\n"
		"                      default): one per CPU less the main thread's, so 1\n"
		"                      on 2 CPUs (docs/process-model.md)\n"
		"  --same-node MODE    mtls (default): a connection between two pods this\n"
		"                      nametagd serves goes through mTLS like any other;\n"
		"                      direct: both verdicts are given here and the bytes\n"
		"                      relayed in memory, no TLS (docs/mesh-protocol.md)\n"
		"  --etcd URL          fleet mode: namespaces, entries and policy come from\n"
		"                      etcd (docs/fleet.md); needs --node\n"
		"  --node NAME         this node's name in the fleet\n"
		"  --join-token TOKEN  first start only: asks the signer for the node CA\n"
		"  --trust-anchor SHA256\n"
		"                      first start only: config/bundle must hold the root\n"
		"                      of this SHA-256 and the node CA chain to it (as\n"
		"                      openssl x509 -noout -fingerprint -sha256 prints it)\n"
		"  --etcd-ca FILE, --etcd-cert FILE, --etcd-key FILE\n"
		"                      TLS to etcd (a client certificate without CN)\n"
		"  --etcd-user USER, --etcd-password-file FILE\n"
		"                      etcd auth (one user and role per node)\n"
		"  --lease-ttl DURATION\n"
		"                      the node record's lease (default 30s)\n"
		"  --workload-api PATH serve the SPIFFE Workload API on the unix socket PATH\n"
		"                      (off by default; the usual PATH is\n"
		"                      " WORKLOAD_API_DEFAULT ", docs/workload-api.md)\n"
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
		"  error that names the file, the line and the column. workload_api may\n"
		"  also be true (" WORKLOAD_API_DEFAULT ") or false.\n"
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
		"      With --etcd, policy.json and entries.json are not read: they are\n"
		"      the last good copy of etcd's, whose snapshot is applied again\n"
		"  SIGUSR2\n"
		"      upgrade in place: start the binary on disk, hand it the listeners,\n"
		"      the control socket and the kTLS connections, let this process's\n"
		"      other connections finish, then exit 0; a new binary that fails\n"
		"      leaves this one serving\n"
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
		NT_MAX_NETNS, NT_LISTENERS_PER_NETNS,
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
	       O_LOG, O_DRAIN, O_TAKEOVER, O_FLOWS,
	       O_WLAPI, O_MAX_NETNS, O_LISTENERS, O_WORKERS, O_SAME_NODE,
	       O_ETCD, O_NODE, O_JOIN, O_ECA, O_ECERT, O_EKEY, O_EUSER, O_EPASS,
	       O_LEASE, O_ANCHOR };
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
		{ "same-node",	 required_argument, NULL, O_SAME_NODE },
		{ "etcd",	 required_argument, NULL, O_ETCD },
		{ "node",	 required_argument, NULL, O_NODE },
		{ "join-token",	 required_argument, NULL, O_JOIN },
		{ "trust-anchor", required_argument, NULL, O_ANCHOR },
		{ "etcd-ca",	 required_argument, NULL, O_ECA },
		{ "etcd-cert",	 required_argument, NULL, O_ECERT },
		{ "etcd-key",	 required_argument, NULL, O_EKEY },
		{ "etcd-user",	 required_argument, NULL, O_EUSER },
		{ "etcd-password-file", required_argument, NULL, O_EPASS },
		{ "lease-ttl",	 required_argument, NULL, O_LEASE },
		{ "workload-api", required_argument, NULL, O_WLAPI },
		{ "max-netns",	 required_argument, NULL, O_MAX_NETNS },
		{ "listeners-per-netns", required_argument, NULL, O_LISTENERS },
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
		case O_WLAPI: o->workload_api = optarg; break;
		case O_METRICS: o->metrics = optarg; break;
		case O_AUDIT: o->audit_log = optarg; break;
		case O_LOGFMT: o->log_format = optarg; break;
		case O_SAME_NODE:
			if (daemon_config__same_node(optarg, NULL))
				return nt_err_set(err, -EINVAL, "--same-node %s: expected mtls or direct",
						  optarg);
			o->same_node = optarg;
			break;
		case O_LOG: o->log_file = optarg; break;
		case O_DRAIN: o->drain_timeout = optarg; break;
		case O_TAKEOVER:
			if (takeover_arg(optarg, o, err))
				return -EINVAL;
			break;
		case O_MAX_NETNS:
			if (daemon_config__number("--max-netns", optarg,
						  DAEMON_MAX_NETNS_MAX,
						  &o->max_netns, err))
				return -EINVAL;
			break;
		case O_LISTENERS:
			if (daemon_config__number("--listeners-per-netns", optarg,
						  DAEMON_LISTENERS_MAX,
						  &o->listeners_per_netns, err))
				return -EINVAL;
			break;
		case O_FLOWS:
			if (daemon_config__flow_table_size(optarg, &o->flow_table_size,
							   err))
				return -EINVAL;
			break;
		case O_ETCD: o->fleet.etcd = optarg; break;
		case O_NODE: o->fleet.node = optarg; break;
		case O_JOIN: o->fleet.join_token = optarg; break;
		case O_ANCHOR: o->fleet.trust_anchor = optarg; break;
		case O_ECA: o->fleet.etcd_ca = optarg; break;
		case O_ECERT: o->fleet.etcd_cert = optarg; break;
		case O_EKEY: o->fleet.etcd_key = optarg; break;
		case O_EUSER: o->fleet.etcd_user = optarg; break;
		case O_EPASS: o->fleet.etcd_password_file = optarg; break;
		case O_LEASE: o->fleet.lease_ttl = optarg; break;
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
		case 'h': daemon__usage(stdout); exit(0);
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

