/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fleet mode inside nametagd (docs/fleet.md), private to fleet*.c and
 * ctl_node.c: the etcd client on the daemon's loop (fleet.c), the config
 * mirror validated and swapped in (fleet_config.c), the node CA requested
 * from the signer (fleet_ca.c), the JWT-SVID keys of every node
 * (fleet_jwt.c). The rest of the daemon sees only the fleet__ calls of
 * daemon.h.
 */
#ifndef NAMETAG_DAEMON_FLEET_INT_H
#define NAMETAG_DAEMON_FLEET_INT_H

#include "userspace/daemon/daemon.h"
#include "userspace/etcd/etcd.h"

#define FLEET_STATE_FILE	STATE_FLEET_FILE	/* the last snapshot applied */
#define FLEET_JWT_FILE		"fleet_jwt.json"	/* the other nodes' JWT keys */
#define FLEET_SCOPE_MAX		CA_SCOPE_MAX

struct fleet_fd;
struct fleet_jwt_value;

struct fleet {
	struct daemon *d;
	char node[CA_NODE_MAX + 1];
	struct etcd_client *c;
	struct loop_handler timer_h;	/* the etcd client's one timer */
	struct fleet_fd **fds;
	size_t nfds, fds_cap;
	struct etcd_mirror *config, *answers;
	struct etcd_lease *lease;
	int64_t lease_ttl;

	/* The view of etcd, for status and the node record. */
	bool in_sync;
	time_t stale_since;		/* not in sync since; 0 when in sync */
	char sync_error[NT_ERR_MSG_MAX];
	int64_t applied_revision;	/* of the snapshot in force */
	time_t applied_at;
	char bad_key[512], bad_error[NT_ERR_MSG_MAX];	/* a value refused; "" none */
	unsigned int relists_seen;	/* re-lists of config/ logged */
	struct bundle *trust;		/* config/bundle, for node CA answers */
	char *scope[FLEET_SCOPE_MAX];	/* what the hosted namespaces need */
	size_t nscope;

	/* The node CA loop (fleet_ca.c). */
	bool ca_asked;			/* a request is out */
	time_t ca_asked_at, ca_retry_at;
	time_t ca_pending_since;	/* first ask not answered yet; 0 none */
	bool answers_said;		/* ca/answers/<node> unreadable, logged */
	char *ca_request;		/* the request out, as posted; NULL none */
	char *ca_request_scope;		/* the scope it asks for */
	char ca_error[NT_ERR_MSG_MAX + 64];	/* the signer's refusal, or why not asked */
	bool record_dirty;		/* the node record wants a rewrite */

	/* JWT-SVID keys across the fleet (fleet_jwt.c). */
	struct etcd_mirror *jwt;	/* jwt/ */
	char *jwt_published, *jwt_pending;	/* our JWKS as put on jwt/<node> */
	bool jwt_putting;
	struct fleet_jwt_value *jwt_values;	/* each node's, parsed */
	size_t njwt_values;
	struct bundle *jwt_peers;	/* the other nodes' keys; NULL: not yet */
	bool jwt_listed;		/* jwt_peers is from etcd, not the last good copy */
	unsigned int jwt_nodes;		/* how many nodes they come from */
	unsigned int jwt_gen;		/* grows when jwt_peers changes */
	struct bundle_set *jwt_trust;	/* the Workload API's bundles */
	unsigned int jwt_trust_base, jwt_trust_gen;	/* what it was built of */
	char jwt_bad_key[512], jwt_bad_error[NT_ERR_MSG_MAX];	/* "" none */

	/* Federated bundles in force (fleet_fed.c). */
	struct fleet_fed_bundle *fed;
	size_t nfed;
	bool *fed_stale;		/* as last logged, one per fed[] */
};

/* fleet.c */
int fleet__write_record(struct fleet *f);
int fleet__etcd_config(const struct daemon_fleet_opts *o,
		       struct etcd_config *cfg, char **password,
		       struct nt_err *err);

/* fleet_config.c: a whole snapshot of config/ into scratch state, then
 * swapped in and saved; a bad value leaves everything as it was and is
 * reported (f->bad_key). */
void fleet_config__update(struct fleet *f, const struct etcd_mirror *m);
/* STATE/fleet.json of the last snapshot applied (revision, time). */
void fleet_config__load_applied(struct fleet *f);
/* Namespaces whose cgroup appeared (or was made again) since the last
 * swap are enforced now; once a tick. */
void fleet_config__recheck(struct fleet *f);
/* The scope prefixes for @node from the namespaces and entries of a
 * config listing (fleet_config.c; the bootstrap's, before any mirror). */
int fleet_config__scope(const struct etcd_kv *kvs, size_t n, const char *td,
			const char *node, char **out, size_t *nout,
			struct nt_err *err);
void fleet_scope__free(char **v, size_t n);

/* fleet_fed.c: config/bundles/<td> of a snapshot into @v (checked);
 * swapped in as the state dir's bundles/ (taking @v), staleness logged. */
int fleet_fed__take(struct fleet_fed_bundle **v, size_t *n, size_t *cap,
		    const char *td, const char *own_td, const struct etcd_kv *kv,
		    struct nt_err *err);
void fleet_fed__free(struct fleet_fed_bundle *v, size_t n);
void fleet_fed__swap(struct fleet *f, struct fleet_fed_bundle *v, size_t n);
void fleet_fed__tick(struct fleet *f, time_t now);
unsigned int fleet_fed__count_stale(const struct fleet *f, time_t now);

/* fleet_ca.c */
int fleet_ca__start(struct fleet *f, struct nt_err *err);
void fleet_ca__tick(struct fleet *f, time_t now);
/* The scope wanted changed: ask again when the CA's does not cover it. */
void fleet_ca__scope_changed(struct fleet *f);
void fleet_ca__forget(struct fleet *f);

/* fleet_jwt.c: our keys on jwt/<node> (again when they change), the
 * other nodes' from the jwt/ mirror (each value checked on its own). */
int fleet_jwt__start(struct fleet *f, struct nt_err *err);
void fleet_jwt__publish(struct fleet *f);
void fleet_jwt__update(struct fleet *f);
void fleet_jwt__free(struct fleet *f);

#endif
