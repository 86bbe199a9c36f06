/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The control protocol (docs/control.md): RUN_DIR/nametagd.sock, one JSON
 * object per line each way, root only. A request is {"cmd": CMD, KEY:
 * value...}; the reply is {"ok": true, KEY: value...} or {"error": "..."}.
 *
 * The one place the command names and keys are written: the daemon
 * (userspace/daemon/ctl_*.c) and the CLI (tools/) both include this, so
 * neither spells a command or a key on its own. Only this header of
 * userspace/daemon/ may be included outside it; it holds names, no code.
 */
#ifndef NAMETAG_PROTOCOL_H
#define NAMETAG_PROTOCOL_H

#define CTL_SOCK_NAME		"nametagd.sock"
#define CTL_RUN_DIR_DEFAULT	"/run/nametag"
/* The Workload API socket: nametagd's "workload_api": true, and where
 * nametag's Workload API clients look without --socket or
 * SPIFFE_ENDPOINT_SOCKET (docs/workload-api.md). */
#define WORKLOAD_API_DEFAULT	"/run/nametag-workload/api.sock"
#define CTL_LINE_MAX		(64 * 1024)	/* a request line, at most */
#define CTL_MAX_FDS		4		/* SCM_RIGHTS per request */

/* Every message. */
#define CTL_CMD			"cmd"
#define CTL_OK			"ok"
#define CTL_ERROR		"error"

/* ---- commands, and the keys of their requests ------------------------------- */

#define CTL_STATUS		"status"

#define CTL_NS_ADD		"ns.add"	/* NAME, CGROUP [, TEMPLATE] */
#define CTL_NS_ENABLE		"ns.enable"	/* NAME, MODE */
#define CTL_NS_DISABLE		"ns.disable"	/* NAME */
#define CTL_NS_DEL		"ns.del"	/* NAME */
#define CTL_NS_LIST		"ns.list"
#define CTL_NS_SHOW		"ns.show"	/* NAME */

#define CTL_ENTRY_ADD		"entry.add"	/* SPIFFE_ID, SELECTORS */
#define CTL_ENTRY_DEL		"entry.del"	/* SPIFFE_ID */
#define CTL_ENTRY_LIST		"entry.list"

#define CTL_WORKLOAD_LIST	"workload.list"
#define CTL_WORKLOAD_SHOW	"workload.show"	/* PID */

#define CTL_FLOW_LIST		"flow.list"
#define CTL_FLOW_SHOW		"flow.show"	/* ID */
#define CTL_FLOW_WATCH		"flow.watch"	/* then {"flow": {...}} lines */

#define CTL_SVID_LIST		"svid.list"

#define CTL_POLICY_LOAD		"policy.load"	/* POLICY (the file's text) */
#define CTL_POLICY_SHOW		"policy.show"
#define CTL_POLICY_CHECK	"policy.check"	/* FROM, TO, PORT [, NS] */

/* A proxy of one's own (the live tests' nt_testproxy): fds[0] the netns,
 * the listening sockets after it as SOCKETS names them. */
#define CTL_PROXY_SET		"proxy.set"	/* SOCKETS, OUTBOUND4,
						 * OUTBOUND6, MESH_PORT */
#define CTL_PROXY_DEL		"proxy.del"	/* NETNS */

/* The daemon's own node proxy (`nametag proxy add|del|list`). */
#define CTL_NETNS_ADD		"netns.add"	/* PATH */
#define CTL_NETNS_DEL		"netns.del"	/* NETNS */
#define CTL_NETNS_LIST		"netns.list"

/* The daemon itself (`nametag daemon`, docs/process-model.md). */
#define CTL_DAEMON_STATUS	"daemon.status"
#define CTL_DAEMON_RELOAD	"daemon.reload"
#define CTL_DAEMON_UPGRADE	"daemon.upgrade"	/* then one {"upgrade":
							 * {...}} line */
/* Fleet mode: this node's view of etcd (`nametag node status`). */
#define CTL_NODE_STATUS		"node.status"

/* Request keys. */
#define CTL_K_NAME		"name"
#define CTL_K_CGROUP		"cgroup"
#define CTL_K_TEMPLATE		"template"
#define CTL_K_MODE		"mode"
#define CTL_K_SPIFFE_ID		"spiffe_id"
#define CTL_K_SELECTORS		"selectors"
#define CTL_K_PID		"pid"
#define CTL_K_ID		"id"
#define CTL_K_POLICY		"policy"
#define CTL_K_FROM		"from"
#define CTL_K_TO		"to"
#define CTL_K_PORT		"port"
#define CTL_K_NS		"ns"
#define CTL_K_PATH		"path"
#define CTL_K_NETNS		"netns"
#define CTL_K_SOCKETS		"sockets"	/* names of the fds after fds[0]: */
#define CTL_SOCK_OUTBOUND4	"outbound4"
#define CTL_SOCK_OUTBOUND6	"outbound6"
#define CTL_SOCK_NET		"net"
#define CTL_K_OUTBOUND4		"outbound4"	/* "127.0.0.1:15001" */
#define CTL_K_OUTBOUND6		"outbound6"	/* "[::1]:15001" */
#define CTL_K_MESH_PORT		"mesh_port"

/* ---- replies: the keys of what the commands answer ------------------------------ */

#define CTL_R_NAMESPACE		"namespace"	/* ns.add/enable/disable/show */
#define CTL_R_NAMESPACES	"namespaces"	/* ns.list; policy.load: a count */
#define CTL_R_DELETED		"deleted"	/* ns.del, entry.del */
#define CTL_R_ENTRY		"entry"
#define CTL_R_ENTRIES		"entries"
#define CTL_R_WORKLOAD		"workload"
#define CTL_R_WORKLOADS		"workloads"
#define CTL_R_FLOW		"flow"		/* flow.show, each watch line */
#define CTL_R_FLOWS		"flows"
#define CTL_R_WATCHING		"watching"
#define CTL_R_SVIDS		"svids"
#define CTL_R_POLICY		"policy"
#define CTL_R_VERDICT		"verdict"	/* policy.check */
#define CTL_R_REASON		"reason"
#define CTL_R_RULE		"rule"
#define CTL_R_PROXIES		"proxies"	/* netns.*: the served netns */
#define CTL_R_DATAPATH		"datapath"	/* proxy.set, status */
/* status */
#define CTL_R_FLEET		"fleet"		/* node.status */
#define CTL_R_VERSION		"version"
#define CTL_R_TRUST_DOMAIN	"trust_domain"
#define CTL_R_CGROUP_ROOT	"cgroup_root"
#define CTL_R_CONNECTIONS	"connections"
#define CTL_R_IDLE_MESH		"idle_mesh_connections"
#define CTL_R_WORKERS		"workers"
/* One object a relay thread (workers > 1): handshakes it finished, failed. */
#define CTL_R_WORKER_HS		"worker_handshakes"
#define CTL_WHS_DONE		"done"
#define CTL_WHS_FAILED		"failed"
#define CTL_R_ADMISSION		"admission"
/* daemon.status, daemon.upgrade, daemon.reload */
#define CTL_R_PID		"pid"
#define CTL_R_EXE		"exe"
#define CTL_R_STATE		"state"		/* serving, upgrading, draining */
#define CTL_R_OTHER_PID		"other_pid"	/* the new process (0: none) */
#define CTL_R_DRAIN_LEFT	"drain_left"	/* connections left to drain */
#define CTL_R_DRAIN_TIMEOUT	"drain_timeout_s"
#define CTL_R_UPGRADE		"upgrade"	/* the outcome: {pid} or {error} */
#define CTL_R_RELOADED		"reloaded"
#define CTL_R_WARNINGS		"warnings"	/* policy.load, ns.enable: lints */
/* status: the operator's part (ctl_status.c); "namespaces" is an array of
 * {name, mode} there, "proxies" the served netns as netns.list has them */
#define CTL_ST_PID		"pid"
#define CTL_ST_STARTED		"started"
#define CTL_ST_UPTIME		"uptime_s"
#define CTL_ST_CA		"ca"		/* {not_after, expires_in_s, ...} */
#define CTL_ST_NOT_AFTER	"not_after"
#define CTL_ST_EXPIRES_IN	"expires_in_s"
#define CTL_ST_UPSTREAM		"upstream"
#define CTL_ST_BUNDLE_SEQUENCE	"bundle_sequence"
#define CTL_ST_KTLS		"ktls"		/* {available, enabled} */
#define CTL_ST_AVAILABLE	"available"
#define CTL_ST_ENABLED		"enabled"
#define CTL_ST_METRICS		"metrics"	/* "ADDR:PORT" or null */
#define CTL_ST_AUDIT_LOG	"audit_log"	/* a path or null */
#define CTL_ST_FLOW_TABLE_SIZE	"flow_table_size"
#define CTL_ST_FLOWS		"flows"		/* records held now */
#define CTL_ST_WORKLOAD_API	"workload_api"	/* {socket, ...} or null */
#define CTL_WA_SOCKET		"socket"
#define CTL_WA_EVIDENCE		"caller_evidence" /* "connect_hook", "peercred" */
#define CTL_WA_CONNECTIONS	"connections"
#define CTL_WA_STREAMS		"streams"
#define CTL_WA_MEMORY		"memory_bytes"
#define CTL_WA_ACCEPTED		"accepted"
#define CTL_WA_REFUSED_LIMIT	"refused_limit"	/* the server's cap on connections */
#define CTL_WA_REFUSED_UID	"refused_uid"	/* the per-uid cap */
#define CTL_WA_TIMEOUTS		"timeouts"
#define CTL_WA_OVER_BUDGET	"over_budget"
#define CTL_WA_CALLS		"calls"
#define CTL_WA_PUSHES		"pushes"
#define CTL_WA_ERRORS		"errors"
#define CTL_WA_NO_RECORD	"no_record"	/* callers the hook missed */
#define CTL_WA_JWT_SCOPE	"jwt_out_of_scope" /* fleet: sub outside its node's scope */
/* status: in "datapath", the network namespaces served against the limit
 * (CTL_DP_MAX_NETNS) */
#define CTL_R_NETNS_SERVED	"netns_served"
#define CTL_R_NETNS_REFUSED	"netns_refused"	/* at the limit, since start */
#define CTL_DP_NETNS_GUARDED	"netns_guarded"
#define CTL_DP_UNSERVED_SYNS	"unserved_syns_dropped" /* since the pins were made */

/* ---- fields of the objects the replies carry -------------------------------------- */

/* A fleet node's view of etcd (node.status, in "fleet"; docs/fleet.md). */
#define CTL_FL_NODE		"node"
#define CTL_FL_ETCD		"etcd"
#define CTL_FL_IN_SYNC		"in_sync"
#define CTL_FL_STALE		"stale_s"	/* since etcd was lost; 0 */
#define CTL_FL_SYNC_ERROR	"sync_error"
#define CTL_FL_REVISION		"revision"	/* of the config in force */
#define CTL_FL_APPLIED_AT	"applied_at"	/* null: none yet */
#define CTL_FL_RELISTS		"relists"
#define CTL_FL_BAD_KEY		"bad_key"	/* a refused value's key */
#define CTL_FL_BAD_ERROR	"bad_error"
#define CTL_FL_JWT_NODES	"jwt_nodes"	/* other nodes' JWT keys in use */
#define CTL_FL_JWT_BAD_KEY	"jwt_bad_key"	/* a jwt/ value ignored */
#define CTL_FL_JWT_BAD_ERROR	"jwt_bad_error"
#define CTL_FL_LEASE		"lease"		/* the node record's; 0 */
#define CTL_FL_CA_SERIAL	"ca_serial"
#define CTL_FL_CA_NOT_AFTER	"ca_not_after"
#define CTL_FL_CA_RENEW_AT	"ca_renew_at"
#define CTL_FL_SIGNER		"signer"	/* "ok", "asked" or why not */
#define CTL_FL_FEDERATION	"federation"	/* array of: */
#define CTL_FED_TD		"trust_domain"
#define CTL_FED_URL		"endpoint_url"
#define CTL_FED_FETCHED_AT	"fetched_at"	/* by the signer, Unix time */
#define CTL_FED_AGE		"age_s"
#define CTL_FED_REFRESH		"refresh_hint"	/* seconds, as obeyed */
#define CTL_FED_STALE		"stale"		/* age > 3 refresh intervals */
#define CTL_FED_X509		"x509_authorities"
#define CTL_FED_JWT		"jwt_authorities"
#define CTL_FED_SEQUENCE	"sequence"
#define CTL_FL_CA_PENDING	"ca_pending_s"	/* a request unanswered since */

/* A namespace. */
#define CTL_NS_NAME		"name"
#define CTL_NS_CGROUP		"cgroup"
#define CTL_NS_CGROUP_ID	"cgroup_id"
#define CTL_NS_MODE		"mode"
#define CTL_NS_ID		"id"
#define CTL_NS_TEMPLATE		"template"

/* A served network namespace (netns.*), and a datapath proxy entry
 * (status's datapath.proxies): one name for one thing in both. */
#define CTL_PX_PATH		"path"
#define CTL_PX_NETNS		"netns"
#define CTL_PX_OUTBOUND4_PORT	"outbound4_port"	/* connect4's target */
#define CTL_PX_OUTBOUND6_PORT	"outbound6_port"	/* connect6's target */
#define CTL_PX_MESH_PORT	"mesh_port"
#define CTL_PX_OUTBOUND4_BOUND	"outbound4_bound"
#define CTL_PX_OUTBOUND6_BOUND	"outbound6_bound"
#define CTL_PX_MESH_BOUND	"mesh_bound"
#define CTL_PX_OVERFLOW		"listener_overflow"
#define CTL_PX_SLOT		"slot"
#define CTL_PX_SERVED		"served"

/* The datapath (proxy.set, status). */
#define CTL_DP_PIN_DIR		"pin_dir"
#define CTL_DP_CGROUP_ID	"cgroup_id"
#define CTL_DP_LINKS		"links"
#define CTL_DP_MAX_NETNS	"max_netns"
#define CTL_DP_LISTENERS	"listeners_per_netns"
#define CTL_DP_PROXIES		"proxies"

/* The mesh port's admission (status). */
#define CTL_ADM_FD_LIMIT	"fd_limit"
#define CTL_ADM_FD_RESERVE	"fd_reserve"
#define CTL_ADM_PENDING		"handshakes_pending"
#define CTL_ADM_PENDING_MAX	"handshakes_pending_max"
#define CTL_ADM_PEER_MAX	"handshakes_per_peer_max"
#define CTL_ADM_TIMEOUT		"handshake_timeout_s"
#define CTL_ADM_PRESSURE	"under_pressure"
#define CTL_ADM_SHED		"shed"		/* {proxy__shed_name(): n} */

/* An SVID (svid.list; a workload's "svid"). */
#define CTL_SVID_SPIFFE_ID	"spiffe_id"
#define CTL_SVID_SERIAL		"serial"
#define CTL_SVID_NOT_BEFORE	"not_before"
#define CTL_SVID_NOT_AFTER	"not_after"
#define CTL_SVID_USES		"uses"

/* A workload (workload.*; a flow's "caller" or "listener"). */
#define CTL_WL_PID		"pid"
#define CTL_WL_UID		"uid"
#define CTL_WL_GID		"gid"
#define CTL_WL_COMM		"comm"
#define CTL_WL_EXE		"exe"
#define CTL_WL_SHA256		"sha256"
#define CTL_WL_PATH_SKIPPED	"path_skipped"
#define CTL_WL_SHA256_SKIPPED	"sha256_skipped"
#define CTL_WL_CGROUP		"cgroup"
#define CTL_WL_NAMESPACE	"namespace"
#define CTL_WL_MODE		"mode"
#define CTL_WL_SELECTORS	"selectors"
#define CTL_WL_SPIFFE_ID	"spiffe_id"
#define CTL_WL_IDENTITY_FROM	"identity_from"	/* "entry" or "template" */
#define CTL_WL_IDENTITY_ERROR	"identity_error"
#define CTL_WL_SVID		"svid"		/* {serial, not_after} */
#define CTL_WL_SVID_ERROR	"svid_error"
#define CTL_WL_EVIDENCE		"evidence"	/* "exec" or "proc" */

/* A flow. */
#define CTL_FLOW_ID		"id"
#define CTL_FLOW_TIME		"time"
#define CTL_FLOW_AGE		"age_s"
#define CTL_FLOW_TYPE		"type"
#define CTL_FLOW_SRC		"src"
#define CTL_FLOW_REDIRECT_SRC	"redirect_src"
#define CTL_FLOW_DST		"dst"
#define CTL_FLOW_SOCKET		"socket"
#define CTL_FLOW_REDIRECTED	"redirected"
#define CTL_FLOW_CALLER		"caller"
#define CTL_FLOW_LISTENER	"listener"
#define CTL_FLOW_SRC_ID		"src_spiffe_id"
#define CTL_FLOW_DST_ID		"dst_spiffe_id"
#define CTL_FLOW_IDENTITY_ERROR	"identity_error"
#define CTL_FLOW_NAMESPACE	"namespace"
#define CTL_FLOW_MODE		"mode"
#define CTL_FLOW_TRANSPORT	"transport"
#define CTL_FLOW_VERDICT	"verdict"
#define CTL_FLOW_REASON		"reason"
#define CTL_FLOW_STATE		"state"
#define CTL_FLOW_COUNT		"count"
#define CTL_FLOW_CGROUP_ID	"cgroup_id"
#define CTL_FLOW_UID		"uid"
#define CTL_FLOW_TLS_VERSION	"tls_version"
#define CTL_FLOW_CIPHER		"cipher"
#define CTL_FLOW_STREAM		"stream"
#define CTL_FLOW_HANDSHAKE_MS	"handshake_ms"
#define CTL_FLOW_KTLS_TX	"ktls_tx"
#define CTL_FLOW_KTLS_RX	"ktls_rx"
#define CTL_FLOW_SPLICE		"splice"
#define CTL_FLOW_FALLBACK	"fallback"
#define CTL_FLOW_BYTES_UP	"bytes_up"
#define CTL_FLOW_BYTES_DOWN	"bytes_down"
#define CTL_FLOW_HANDED_FROM	"handed_over_from"

#endif /* NAMETAG_PROTOCOL_H */
