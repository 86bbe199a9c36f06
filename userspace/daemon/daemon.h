/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nametagd's own interfaces, between the files of userspace/daemon/: the
 * daemon state, namespaces, identities, SVIDs, flows, the policy in force,
 * the network namespaces served, and the control socket. The datapath and
 * the proxy are libraries below it (docs/architecture.md); they never see
 * this header. Every function takes the daemon it works on: there is no
 * global one.
 *
 * Conventions: functions return 0 or a negative errno, @err filled where
 * given. JSON is made only in ctl_*.c (the control socket) and for the
 * state files; everything else is typed.
 */
#ifndef NAMETAG_DAEMON_H
#define NAMETAG_DAEMON_H

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#include "attest/attest.h"
#include "bpf/nametag.h"
#include "ca/ca.h"
#include "enforce/enforce.h"
#include "lib/ntcore.h"
#include "userspace/daemon/protocol.h"
#include "userspace/datapath/datapath.h"
#include "userspace/proxy/proxy.h"
#include "userspace/workload_api/workload_api.h"

struct daemon;

/* Fleet mode (fleet*.c, docs/fleet.md): etcd is the source of truth. */
struct daemon_fleet_opts {
	const char *etcd;		/* URL; NULL: a single node */
	const char *node;
	const char *join_token;		/* first start only */
	const char *trust_anchor;	/* first start: the root's SHA-256 */
	const char *etcd_ca, *etcd_cert, *etcd_key;
	const char *etcd_user, *etcd_password_file;
	const char *lease_ttl;		/* of the node record; "30s" */
};

struct daemon_opts {
	const char *state_dir;
	const char *run_dir;
	const char *cgroup_root;	/* NULL: the cgroup v2 mount's root */
	const char *bpffs;
	const char *trust_domain;	/* NULL: from the state dir's CA */
	bool cleanup;
	bool manual_netns;		/* serve only `proxy add` namespaces */
	bool no_ktls;			/* keep TLS records in userspace */
	bool no_mesh_reuse;		/* NT1 only: a handshake per connection */
	const char *metrics;		/* --metrics ADDR:PORT; NULL: off */
	const char *audit_log;		/* --audit-log FILE; NULL: none */
	const char *log_format;		/* "text" (default) or "json" */
	const char *same_node;		/* "mtls" (default) or "direct" */
	unsigned int flow_table_size;	/* --flow-table-size; 0: the default */
	unsigned int workers;		/* --workers; 0: auto (one thread per
					 * CPU, the main one counted) */
	bool debug;
	const char *log_file;		/* NULL: stderr as it is */
	const char *drain_timeout;	/* a duration; NULL: the default */
	int64_t drain_secs;		/* daemon_config__check's */
	int takeover_fd;		/* --takeover FD (upgrade.c); -1: none */
	const char *workload_api;	/* socket path; NULL: not served */
	unsigned int max_netns;		/* network namespaces served at most */
	unsigned int listeners_per_netns;	/* listener table of each */
	struct daemon_fleet_opts fleet;
};

#define DRAIN_TIMEOUT_DEFAULT	600	/* s: 10 min (docs/process-model.md) */

/* ---- config (config.c) -------------------------------------------------------- */

/* The largest --max-netns and --listeners-per-netns taken. */
#define DAEMON_MAX_NETNS_MAX	65536
#define DAEMON_LISTENERS_MAX	65536

/* --config FILE: the options as a JSON object. */
int daemon_config__load(struct daemon_opts *o, const char *path,
			struct nt_err *err);
/* "state_dir, run_dir, ...": the keys a config file may have, of a type. */
enum daemon_config_type { DAEMON_CONFIG_STRING, DAEMON_CONFIG_BOOL,
			  DAEMON_CONFIG_NUMBER };
const char *daemon_config__keys(enum daemon_config_type type);
/* Values checked once every option is known: drain_secs set. */
int daemon_config__check(struct daemon_opts *o, struct nt_err *err);
/* The command line, parsed (main.c): at start, and again at a reload,
 * which reads the config file anew. 0, or -EINVAL said on stderr. */
int daemon__parse_args(int argc, char **argv, struct daemon_opts *o,
		       struct nt_err *err);
/* nametagd --help (args.c). */
void daemon__usage(FILE *out);

/* ---- signals, reload, exit (signals.c) ------------------------------------------ */

/* A signal the loop's signalfd read: SIGTERM and SIGINT stop, SIGHUP
 * reloads, SIGUSR2 upgrades, SIGCHLD reaps an upgrade's child. */
void signals__on(struct daemon *d, int signo);
/* SIGHUP, `nametag daemon reload`: the config file, the log file, the
 * policy and the registration entries from the state dir, a rescan of
 * cgroups and network namespaces, the trust bundles. Never exits; what
 * cannot be read is logged and keeps what was in force. The number of
 * parts that failed; @err says the first. */
int daemon__reload(struct daemon *d, struct nt_err *err);
/* --log-file: (re)opens @path onto stderr, so every line goes there. */
int daemon__open_log(const char *path, struct nt_err *err);
/* Cgroup ids again, each namespace re-applied (main.c). */
void daemon__reconcile_namespaces(struct daemon *d);
struct ns;
/* One namespace: its cgroup looked up, enrolled if it may be, applied. */
void daemon__reconcile_ns(struct daemon *d, struct ns *ns);
/* --flow-table-size @s: a whole number in FLOW_TABLE_MIN..FLOW_TABLE_MAX. */
int daemon_config__flow_table_size(const char *s, unsigned int *out,
				   struct nt_err *err);
/* @s, the value of option @what, as a number from 1 to @max. */
int daemon_config__number(const char *what, const char *s, unsigned int max,
			  unsigned int *out, struct nt_err *err);
/* --same-node @s: 0 and *@direct (may be NULL) for "mtls" or "direct",
 * else -EINVAL. */
int daemon_config__same_node(const char *s, bool *direct);
/* --workers @s: "auto" (0) or 1..PROXY_WORKERS_MAX. */
int daemon_config__workers(const char *s, unsigned int *out,
			   struct nt_err *err);

/* ---- the managed cgroup subtree (cgroup.c) ------------------------------------- */

struct cgroup_info {
	char mount[PATH_MAX];		/* cgroup v2 mount point */
	char root[PATH_MAX];		/* managed subtree, absolute path */
	uint64_t root_id;
	uint64_t self_id;		/* the daemon's own cgroup */
};

/* @root: absolute below the mount, or relative to the mount (with or
 * without a leading '/'); NULL: the mount's root. */
int cgroup__init(struct cgroup_info *cg, const char *root);
/* Resolves a user-supplied path (absolute, or relative to the cgroup v2
 * mount) to an absolute path inside the managed subtree. */
int cgroup__resolve(const struct cgroup_info *cg, const char *in,
		    char *out, size_t size, struct nt_err *err);
/* 0 when a cgroup:path selector's @value can match a workload: relative
 * to the mount (not /sys/fs/cgroup/...), canonical, below the managed
 * root. -EINVAL with what to write instead otherwise. */
int cgroup__check_selector(const struct cgroup_info *cg, const char *value,
			   struct nt_err *err);
/* 0 when cgroup @path (absolute, resolved) may be enforced on: strictly
 * below the managed root, neither nametagd's own cgroup nor an ancestor of
 * it. -EPERM with the reason otherwise, also when the daemon cannot find
 * its own cgroup (it then refuses rather than guess). */
int cgroup__may_enroll(const struct cgroup_info *cg, const char *path,
		       struct nt_err *err);

/* ---- namespaces (namespaces.c) -------------------------------------------------- */

struct ns {
	char name[NT_NS_NAME_MAX];
	char cgroup[PATH_MAX];		/* absolute */
	uint64_t cgroup_id;
	uint32_t id;			/* index handed to BPF */
	enum nt_mode mode;
	char template[256];		/* "" = default */
};

struct ns_table;

int ns_table__load(struct ns_table **t, const char *state_dir,
		   struct nt_err *err);
/* An empty table that saves to STATE/namespaces.json. */
int ns_table__new(struct ns_table **t, const char *state_dir);
void ns_table__free(struct ns_table *t);
size_t ns_table__count(const struct ns_table *t);
struct ns *ns_table__at(struct ns_table *t, size_t i);
struct ns *ns_table__find(struct ns_table *t, const char *name);
struct ns *ns_table__by_cgroup(struct ns_table *t, uint64_t cgroup_id);
/* 1 to NT_NS_NAME_MAX - 1 of [a-z0-9-], no '-' at either end. */
int ns__check_name(const char *name, struct nt_err *err);
/* @n->id is kept when non-zero and free, else the next one is given. */
int ns_table__add(struct ns_table *t, const struct ns *n, struct nt_err *err);
int ns_table__del(struct ns_table *t, const char *name);
int ns_table__save(const struct ns_table *t, struct nt_err *err);

/* Pushes namespace @n's enrollment state into the kernel; identities
 * and egress entries follow it. */
int ns__apply(struct daemon *d, const struct ns *n);
/* The enrolled namespaces (mode not off, cgroup known), as the datapath
 * takes them; *@out is malloc'd. */
int ns__enrolled(struct daemon *d, struct dp_enrolled **out, size_t *n);

/* ---- identities: evidence -> SPIFFE ID (identity.c) ---------------------------- */

/*
 * A workload as attestation saw it: typed, immutable once made, shared by
 * reference between the identity cache and the flow records. No SVID is
 * minted to make one.
 */
struct workload {
	unsigned int refs;
	uint32_t pid, uid, gid;
	char comm[16];
	bool attested;			/* the fields below are known */
	char *exe, *path_skipped, *sha256, *sha256_skipped, *cgroup;	/* "" when unknown */
	char ns[NT_NS_NAME_MAX];
	enum nt_mode mode;
	char **selectors;		/* "type:key:value" */
	size_t nselectors;
	const struct spiffe_id *id;	/* interned in ids; NULL: none */
	struct spiffe_ids *ids;
	bool from_entry;		/* else the namespace's template */
	char *identity_error;		/* why there is no ID; NULL */
};

struct workload *workload__get(struct workload *w);
void workload__put(struct workload *w);

struct identity;

int identity__new(struct identity **idt, struct daemon *d);
void identity__free(struct identity *idt);
/*
 * Evidence -> selectors -> SPIFFE ID, cached per process image. On
 * success *@out (held) has an ID. On failure the errno and @err say why;
 * *@out, if not NULL, still describes what is known of the workload.
 */
int identity__resolve(struct identity *idt, const struct nt_evidence *ev,
		      struct workload **out, struct nt_err *err);
/* Drops cached identities: the registry or a namespace changed. */
void identity__invalidate(struct identity *idt);
/* The workload resolved last (with an ID), or NULL. */
const struct workload *identity__last(const struct identity *idt);

/* The processes of enrolled namespaces, for `workload list`
 * (workloads.c): each with its identity, and whether its evidence is the
 * kernel's exec record or /proc's view now. */
struct workload_entry {
	struct workload *w;		/* held */
	bool from_exec;
};
int workloads__list(struct daemon *d, struct workload_entry **out, size_t *n);
/* Evidence of @pid as /proc shows it now, in cgroup @cgroup_id of
 * namespace @n (NULL: none), its exe the kernel's exec record when the
 * process table's start time matches: 1 then, 0 with /proc's exe, or a
 * negative errno (-ENOENT: gone). */
int workload__pid_evidence(struct daemon *d, uint32_t pid, uint64_t cgroup_id,
			   const struct ns *n, struct nt_evidence *ev);
/* @pid's start, ns since boot at clock-tick precision (/proc stat). */
int workload__pid_start(uint32_t pid, uint64_t *start_boottime);
void workloads__free(struct workload_entry *v, size_t n);

/* ---- SVIDs (svids.c) -------------------------------------------------------------- */

struct svid_cache;

int svid_cache__new(struct svid_cache **c, struct node_ca *ca);
void svid_cache__free(struct svid_cache *c);
/* @fn hears of every SVID minted (metrics, the audit log). */
typedef void (*svid_minted_fn)(const struct svid *s, void *arg);
void svid_cache__on_mint(struct svid_cache *c, svid_minted_fn fn, void *arg);
/* The SVID for @id, minted when absent or past half its life. */
const struct svid *svid_cache__get(struct svid_cache *c,
				   const struct spiffe_id *id,
				   struct nt_err *err);
struct svid_info {
	const struct svid *svid;
	time_t not_before, not_after;
	unsigned long uses;
};
/* Every SVID held; @fn returning non-zero stops and is returned. */
int svid_cache__foreach(const struct svid_cache *c,
			int (*fn)(const struct svid_info *s, void *arg),
			void *arg);

/* ---- flows (flows.c) ---------------------------------------------------------------- */

/* --flow-table-size: how many records the ring keeps. */
#define FLOW_TABLE_DEFAULT	4096
#define FLOW_TABLE_MIN		16
#define FLOW_TABLE_MAX		(1u << 18)

struct flow_table;

/* @ids: the interned IDs records hold references in; @size records are
 * kept (-ERANGE outside FLOW_TABLE_MIN..FLOW_TABLE_MAX). */
int flow_table__new(struct flow_table **t, struct spiffe_ids *ids,
		    size_t size);
/* The ring's size, and how many records it holds now. */
size_t flows__size(const struct flow_table *t);
size_t flows__held(const struct flow_table *t);
void flow_table__free(struct flow_table *t);
/* A new record, the oldest one's slot reused: zeroed but for its id and
 * times. */
struct flow_record *flows__open(struct flow_table *t);
/* The record @id while the ring still holds it; NULL after. */
struct flow_record *flows__get(struct flow_table *t, uint64_t id);
/* Every record held, oldest first. */
int flows__foreach(const struct flow_table *t,
		   int (*fn)(const struct flow_record *f, void *arg), void *arg);
/* The newest of the latest @depth records of @type from @src to @dst
 * (addresses and ports); NULL if none. */
struct flow_record *flows__find(struct flow_table *t, enum flow_type type,
				const struct nt_addr *src,
				const struct nt_addr *dst, unsigned int depth);
/* Sets a record's interned ID (a reference of its own). */
void flows__set_id(struct flow_table *t, const struct spiffe_id **slot,
		   const struct spiffe_id *id);

/* Tells the watchers (flow watch) that @id changed. */
void flows__publish(struct daemon *d, uint64_t id);
/* Record @f changed: the metrics, the audit log and the watchers hear of
 * it. Every change a user can see goes through here. */
void flows__changed(struct daemon *d, const struct flow_record *f);
/* The same refusal once more, counted on record @f (no new record). */
void flows__repeated(struct daemon *d, struct flow_record *f);

/* A connection the daemon found (and ended, or could not) outside the
 * proxy, recorded whole at once: plaintext, verdict deny. */
struct flow_note {
	enum flow_type type;		/* FLOW_EGRESS, FLOW_INBOUND_PLAINTEXT */
	const char *ns, *state, *reason;
	enum nt_mode mode;
	const struct nt_addr *src, *dst;
	uint64_t cgroup_id;		/* the workload socket's (sock_diag) */
	uint32_t uid;
};
void flows__note(struct daemon *d, const struct flow_note *n);

/* ---- the decision stage of a kernel event (verdict.c) ---------------------------------- */

#define VERDICT_UNKNOWN_REASON	"destination identity unknown in observe"

struct event_verdict {
	enum flow_verdict verdict;
	char reason[NT_ERR_MSG_MAX];
};

/* A refusal the kernel reports (its own deny). */
bool verdict__is_refusal(uint32_t type);
/* A refusal, or a connect the kernel only saw: what strict does or would
 * do, as far as the caller's side can tell. */
void verdict__event(const struct nt_event *e, struct event_verdict *v);
/* Observe: a SYN reached the enrolled listener @to (NULL: no identity
 * could be resolved) on @port, from @caller (its connect record) or from
 * an address no enrolled connect of this node matches (NULL). Strict's
 * verdict: policy__decide() with both identities, plaintext refused
 * without one. */
void verdict__observed(const struct policy *p, const struct flow_record *caller,
		       const struct workload *to, uint16_t port,
		       struct event_verdict *v);

/* ---- the pipeline of a kernel event (events.c) ---------------------------------------- */

/* datapath -> serve netns -> identity -> SVID -> verdict -> flow record. */
void events__on_event(const struct nt_event *ev, void *arg);

/* ---- the policy in force (policy.c) ----------------------------------------------------- */

/* STATE/policy.json, or an empty policy (default deny everywhere). */
int policy_holder__init(struct daemon *d, struct nt_err *err);
/* @p (validated, saved) replaces the policy in force. */
void policy_holder__swap(struct daemon *d, struct policy *p);
/* Pushes the egress entries of the policy in force for every namespace
 * into the kernel (datagrams in strict mode). */
int policy_holder__apply_egress(struct daemon *d);
#define POLICY_FILE "policy.json"

/* ---- network namespaces served (netns.c) ------------------------------------------------ */

/* Serves the netns of an enrolled process (from an event), unless served;
 * @asked: when the kernel asked (its ktime, NT_EV_NETNS), 0 if it did not:
 * the log says how long the namespace waited. */
void netns__serve_pid(struct daemon *d, uint32_t tgid, uint32_t netns_ino,
		      uint64_t asked);
/* The same, queued: served a few per turn of the loop (netns__serve_some),
 * so a burst of new pods does not stop the proxy of the pods served
 * already for seconds. */
void netns__want(struct daemon *d, uint32_t tgid, uint32_t netns_ino,
		 uint64_t asked);
/* Serves up to @max of the queue; true when some are left. */
bool netns__serve_some(struct daemon *d, unsigned int max);
/* Every netns an enrolled (permissive or strict) process lives in gets a
 * proxy; a found one none lives in any more is let go. */
void netns__sync(struct daemon *d);
/* `proxy add PATH`, `proxy del`: remembered in STATE/proxies.json. */
int netns__add(struct daemon *d, const char *path, struct nt_err *err);
int netns__del(struct daemon *d, uint32_t netns_ino, struct nt_err *err);
/* At start: those added before, then those workloads live in. */
int netns__restore(struct daemon *d, struct nt_err *err);
/* Tells the kernel this daemon serves network namespaces as their enrolled
 * processes come (bpf/serve.bpf.h): strict then holds a connect() made
 * before its netns's proxy exists instead of refusing it. */
int netns__serve_on_demand(struct daemon *d, struct nt_err *err);
/* The served namespaces, for the datapath (dp_netns_each; @ctx is the
 * daemon). */
int netns__each(int (*fn)(int netns_fd, uint32_t netns_ino, void *arg),
		void *arg, void *ctx);
/* Listeners of enrolled namespaces the kernel never saw listen: now, or
 * once the current batch of events is handled. */
void daemon__sync_listeners(struct daemon *d);
void daemon__sync_listeners_soon(struct daemon *d);
/* Only the namespaces served since the last sync, if any. */
void daemon__sync_fresh(struct daemon *d);

/* ---- what the proxy asks (proxy_env.c) ---------------------------------------------------- */

void proxy_env__init(struct daemon *d, struct proxy_env *env);

/* ---- the SPIFFE Workload API (wlapi.c) ------------------------------------------------------ */

/* Serves it when opts.workload_api is set; after the proxy is up. */
int daemon_wlapi__open(struct daemon *d, struct nt_err *err);
void daemon_wlapi__close(struct daemon *d);
/* WLAPI_CHANGED_*: pushed to open streams once the current batch of
 * events is handled (daemon_wlapi__flush). */
void daemon_wlapi__changed(struct daemon *d, unsigned int what);
void daemon_wlapi__flush(struct daemon *d);
void daemon_wlapi__tick(struct daemon *d);

/* ---- plaintext that predates strict (strict.c) --------------------------------------------- */

/*
 * Ends the plaintext connections that strict no longer allows, in every
 * strict namespace: the proxy's own (re-judged) and the workloads' sockets
 * the proxy does not hold (sock_diag SOCK_DESTROY). @switched: the
 * namespace that just turned strict (its tally is always logged); NULL
 * after a policy reload. Never fails: what cannot be closed is logged,
 * counted and recorded as a flow.
 */
void strict__sweep(struct daemon *d, const struct ns *switched);

/* ---- fleet mode (fleet.c, fleet_config.c, fleet_ca.c, fleet_jwt.c) -------------------------- */

struct fleet;

/* Before the node CA is opened: a node without a CA asks the signer for
 * one (join token) and waits for it. */
int fleet__bootstrap(struct daemon *d, struct nt_err *err);
/* Once the loop runs: the etcd client on it, the config mirror, the node
 * record on its lease, the node CA loop. */
int fleet__open(struct daemon *d, struct nt_err *err);
void fleet__close(struct daemon *d);
/* Once a second (renewals, retries). */
void fleet__tick(struct daemon *d);
/* Writes a fleet node takes from etcd only: -EROFS with the reason. */
int fleet__refuse(struct daemon *d, const char *cmd, struct nt_err *err);
/* SIGHUP in fleet mode: the etcd snapshot applied again; false: not a
 * fleet node (the state files are reloaded instead). */
bool fleet__reload(struct daemon *d);
/* For the metrics; -ENOENT: not a fleet node. */
struct fleet_gauges {
	bool in_sync, bad_value;
	int64_t stale_seconds, revision;
	time_t applied_at;
	unsigned int relists;
	unsigned int fed_bundles, fed_stale;	/* federated bundles */
	int64_t ca_pending_seconds;	/* a node CA request unanswered; 0 */
};
int fleet__gauges(const struct daemon *d, struct fleet_gauges *g);
/* The Workload API's bundles (fleet_jwt.c): @base, the proxy's of
 * generation @gen, with the other nodes' JWT-SVID keys in our trust
 * domain's bundle. @base when not a fleet node. Borrowed until the next. */
const struct bundle_set *fleet__wlapi_trust(struct daemon *d,
					    const struct bundle_set *base,
					    unsigned int gen);

/* ---- the control socket (control.c, ctl_*.c) ------------------------------------------------ */

struct ctl_client;

/* A request handler fills @resp (an object) or returns an error via
 * nt_err; fds passed with SCM_RIGHTS are in @fds (the handler owns those
 * it keeps; the rest are closed after it returns, set them to -1 to keep). */
struct ctl_request {
	struct daemon *d;
	const cJSON *req;
	int fds[CTL_MAX_FDS];
	int nfds;
	struct ctl_client *client;
	uint32_t peer_uid, peer_pid;	/* SO_PEERCRED of the client */
};

typedef int (*ctl_handler_fn)(struct ctl_request *r, cJSON *resp,
			      struct nt_err *err);
struct ctl_cmd {
	const char *cmd;		/* protocol.h's CTL_* */
	ctl_handler_fn fn;
};

/* One table per CLI object, each ctl_<object>.c's, ended by { NULL }. */
extern const struct ctl_cmd ctl_ns_cmds[], ctl_entry_cmds[],
	ctl_workload_cmds[], ctl_flow_cmds[], ctl_svid_cmds[],
	ctl_policy_cmds[], ctl_proxy_cmds[], ctl_daemon_cmds[],
	ctl_node_cmds[];

int control__open(struct daemon *d, struct nt_err *err);
void control__close(struct daemon *d);
/* For streaming commands: keep the client after the reply and send it
 * JSON lines later. */
enum { TOPIC_FLOWS = 1, TOPIC_UPGRADE };
void control__subscribe(struct ctl_client *c, int topic);
void control__publish(struct daemon *d, int topic, const cJSON *msg);
/* The listening socket, for an upgrade's handoff; -1 when none. */
int control__listener_fd(const struct daemon *d);
/* Stops accepting; the socket file stays (the new process serves it). */
void control__stop_listening(struct daemon *d);
/* {"upgrade": {"pid": N}} or {"upgrade": {"error": ...}} to those who
 * asked for the upgrade (ctl_daemon.c). */
void ctl_daemon__upgrade_done(struct daemon *d, pid_t pid, const char *error);

/* The descriptors of @msg's SCM_RIGHTS appended to @fds (*@nfds of @max
 * used); those past @max are closed, never leaked. */
struct msghdr;
/* Request fields: the string, or NULL with @err set. */
const char *ctl__str(const struct ctl_request *r, const char *key,
		     struct nt_err *err);
int ctl__uint(const struct ctl_request *r, const char *key, uint64_t *v,
	      struct nt_err *err);
/* The JSON of a workload (ctl_workload.c), for flows too. */
cJSON *ctl_workload__json(const struct workload *w);
/* {"flow": ...} to the watchers (ctl_flow.c). */
void ctl_flow__publish(struct daemon *d, const struct flow_record *f);

/* ---- metrics (metrics.c, metrics_http.c) ---------------------------------------------------- */

struct metrics;

int metrics__new(struct metrics **m);
void metrics__free(struct metrics *m);
/* Record @f changed: counts what it reached that was not counted yet;
 * @mark is the record's (flows__mark), what has been counted of it. */
void metrics__flow(struct metrics *m, const struct flow_record *f,
		   uint8_t *mark);
/* The same refusal once more on record @f (events.c folds repeats). */
void metrics__flow_repeat(struct metrics *m, const struct flow_record *f);
void metrics__svid_issued(struct metrics *m);
/* The Prometheus text exposition of everything; *@buf is malloc'd. */
int metrics__render(struct daemon *d, char **buf, size_t *len);

/* --metrics ADDR:PORT (a bare PORT is 127.0.0.1:PORT): GET /metrics.
 * _check says whether @where is one, before anything starts. */
int metrics_http__check(const char *where, struct nt_err *err);
int metrics_http__open(struct daemon *d, const char *where, struct nt_err *err);
void metrics_http__close(struct daemon *d);
/* Once a second: clients past their time are dropped. */
void metrics_http__tick(struct daemon *d);
/* "127.0.0.1:9477", or NULL when off. */
const char *metrics_http__addr(const struct daemon *d);

/* ---- the audit log (audit.c) and the operator's pieces (operator.c) ------------------------- */

/* --audit-log FILE (lib/ntcore.h's audit_log): opened at start, its path
 * left in the state dir for the CLI; without the option every call is a
 * no-op. Records a user acts on (policy, modes, CA, bundles) are synced at
 * once; SVIDs and denies within a second (audit__flush). */
int audit__open(struct daemon *d, struct nt_err *err);
void audit__close(struct daemon *d);
void audit__reopen(struct daemon *d);
void audit__flush(struct daemon *d);
void audit__svid(struct daemon *d, const struct svid *s);
/* Record @f changed; a deny is written once per record (@mark's
 * FLOW_MARK_AUDITED, next to what metrics.c counted). */
#define FLOW_MARK_AUDITED	0x80
void audit__flow(struct daemon *d, const struct flow_record *f, uint8_t *mark);
/* policy load: @text as loaded, by the control client @r. */
void audit__policy(struct daemon *d, const struct ctl_request *r,
		   const char *text, size_t namespaces);
void audit__mode(struct daemon *d, const struct ctl_request *r,
		 const struct ns *n, enum nt_mode old);
/* The node CA took rotation step @step (its bundle changed with it). */
void audit__ca(struct daemon *d, enum ca_step step);
/* "/var/log/nametag/audit.log", or NULL. */
const char *audit__path(const struct daemon *d);

/* Lints (ctl_lint.c): warnings, logged and added to @resp's "warnings",
 * never a refusal. The policy @p just loaded; namespace @n's new mode. */
void ctl_lint__policy(struct daemon *d, const struct policy *p, cJSON *resp);
void ctl_lint__strict(struct daemon *d, const struct ns *n, cJSON *resp);

/* The status reply's operator part (ctl_status.c), and the notAfter of
 * the CA that signs now (metrics too). */
void ctl_status__add(struct daemon *d, cJSON *resp);
time_t daemon__ca_not_after(const struct daemon *d);

int operator__open(struct daemon *d, struct nt_err *err);
void operator__tick(struct daemon *d);
/* SIGHUP: the audit log is opened again (logrotate). */
void operator__reopen(struct daemon *d);
void operator__close(struct daemon *d);

/* ---- a start that fails (firststart.c) ------------------------------------------------------ */

/* What was there before start(): what a failed start made is undone,
 * what was there stays (pins in force after a restart above all). */
struct start_undo {
	bool state_dir_new, ca_new;
	char **state_names;		/* the state dir's entries before */
	bool bpffs_dir_new, bpffs_mounted, pins_new;
};
void start_undo__note(struct start_undo *u, const struct daemon_opts *o);
/* After stop(): removes what this start made; frees @u. */
void start_undo__run(struct start_undo *u, const struct daemon_opts *o);
void start_undo__free(struct start_undo *u);
void start_undo__free_names(char **names);

/* ---- the daemon ------------------------------------------------------------------------------- */

struct netns_want {
	uint32_t tgid, netns_ino;
	uint64_t asked;
};

struct daemon {
	struct daemon_opts opts;
	struct cgroup_info cg;
	struct loop *loop;
	struct datapath *dp;
	struct proxy *proxy;
	struct node_ca *ca;
	struct ns_table *ns;
	struct attest_ctx *attest;
	struct attest_registry *entries;
	char entries_path[PATH_MAX];
	struct identity *identity;
	struct flow_table *flows;
	struct svid_cache *svids;
	struct spiffe_ids *ids;		/* the IDs connections and flows hold */
	struct policy *policy;		/* in force; never NULL once started */
	struct control *control;
	struct fleet *fleet;		/* NULL: a single node */
	time_t started;
	struct metrics *metrics;
	struct metrics_http *metrics_http;	/* NULL: --metrics not given */
	struct audit_log *audit;		/* NULL: --audit-log not given */
	bool no_sock_destroy;		/* the start-up probe found no SOCK_DESTROY */
	bool sync_soon;			/* a listener sync after this batch */
	struct nt_event last_event;	/* events.c: the last one recorded, */
	uint64_t last_event_flow;	/* ... and its flow record */
	unsigned int ticks;
	uint64_t start_real_ns, start_mono_ns;	/* operator__open: uptime */
	struct loop_handler sig_h, timer_h, events_h, drain_h;
	struct wlapi *wlapi;		/* NULL: not served */
	unsigned int wlapi_changes;	/* WLAPI_CHANGED_* since the flush */
	unsigned int wlapi_trust_gen;	/* the proxy's, as last pushed */
	time_t wlapi_rotate_at;		/* an SVID handed out is re-minted */
	uint64_t wlapi_no_record;	/* callers the connect hook missed */
	/* The command line, for a reload and an upgrade's re-exec. */
	int argc;
	char **argv;
	char exe[PATH_MAX];		/* the binary on disk, as started */
	struct upgrade *up;		/* upgrade.c; NULL: none under way */
	bool handed_over;		/* a new process serves; this one drains */
	bool stop_requested;		/* SIGTERM, SIGINT, or drained */
	int handed_ctl_fd;		/* takeover.c: the control listener
					 * handed over, until control__open */
	int server_fd;			/* netns.c: "a daemon serves on demand" */
	uint32_t limit_said[16];	/* netns.c: refused netns, as last logged */
	unsigned int nlimit_said;
	uint32_t *fresh;		/* netns.c: served since the last sync */
	size_t nfresh, fresh_cap;
	struct netns_want *want;	/* netns.c: asked for, not served yet */
	size_t want_head, nwant, want_cap;
};

#endif /* NAMETAG_DAEMON_H */
