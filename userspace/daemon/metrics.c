// SPDX-License-Identifier: Apache-2.0
/*
 * nametagd --metrics: what an operator watches during a rollout, as
 * Prometheus series (text exposition format 0.0.4). Counters are kept
 * here, fed by the flow records as they change (flows.c calls
 * metrics__flow) and by the SVID cache's mints; gauges are read at scrape
 * time from their owners (the proxy, the CA, the SVID cache). The HTTP
 * side is metrics_http.c.
 *
 * Label sets stay bounded: a namespace label takes one of the enrolled
 * namespaces' names (at most METRICS_SERIES_MAX combinations, the rest
 * counted under namespace="_other"), the other labels take a handful of
 * fixed values, and the one label with workload names in it is the SPIFFE
 * ID of an SVID the cache holds (bounded by the cache). Never a port or an
 * address.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "userspace/daemon/daemon.h"

#define METRICS_SERIES_MAX	1024	/* per family */
#define OTHER_NS		"_other"

/* The seconds a TLS handshake took: Prometheus' usual buckets, from 1 ms. */
static const double hs_buckets[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
				     0.1, 0.25, 0.5, 1, 2.5, 5, 10 };
#define HS_BUCKETS ARRAY_SIZE(hs_buckets)

/* One labelled value: a namespace and two small enumerations. */
struct series {
	char ns[NT_NS_NAME_MAX];
	uint8_t a, b;
	uint64_t v;
};

struct family {
	struct series *v;
	size_t n, cap;
};

enum { SIDE_CLIENT, SIDE_SERVER, SIDE_MAX };
static const char *const side_names[] = { "client", "server" };
enum { DIR_OUTBOUND, DIR_INBOUND };
static const char *const dir_names[] = { "outbound", "inbound" };
static const char *const verdict_names[] = {
	[FLOW_ALLOW] = "allow", [FLOW_DENY] = "deny",
	[FLOW_WOULD_DENY] = "would-deny" };
enum { BYTES_UP, BYTES_DOWN };
static const char *const bytes_names[] = { "up", "down" };

/* Why a handshake failed, in a few words a label can take. */
enum hs_fail { HSF_VERIFY, HSF_PROTOCOL, HSF_PEER_CLOSED, HSF_TIMEOUT,
	       HSF_SHED, HSF_KTLS, HSF_OTHER, HSF_MAX };
static const char *const hsf_names[] = {
	"verify", "protocol", "peer_closed", "timeout", "shed", "ktls", "other" };

struct metrics {
	time_t started;
	struct family conns;		/* ns, direction, verdict */
	struct family plain_in;		/* ns, mode */
	struct family bytes;		/* ns, direction */
	uint64_t hs[SIDE_MAX];
	uint64_t hs_bucket[SIDE_MAX][HS_BUCKETS];
	double hs_sum[SIDE_MAX];
	uint64_t hs_fail[HSF_MAX];
	uint64_t svids_issued;
	uint64_t scrapes;
};

/* What has been counted of a flow record already (flows__marks). */
#define MARK_VERDICT	0x03	/* the enum flow_verdict counted */
#define MARK_HS		0x04
#define MARK_HS_FAIL	0x08
#define MARK_BYTES	0x10
#define MARK_PLAIN	0x20

int metrics__new(struct metrics **out)
{
	struct metrics *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	m->started = time(NULL);
	*out = m;
	return 0;
}

void metrics__free(struct metrics *m)
{
	if (!m)
		return;
	free(m->conns.v);
	free(m->plain_in.v);
	free(m->bytes.v);
	free(m);
}

static uint64_t *family__at(struct family *f, const char *ns, uint8_t a,
			    uint8_t b)
{
	struct series *s;
	size_t i;

	for (i = 0; i < f->n; i++) {
		s = &f->v[i];
		if (s->a == a && s->b == b && !strcmp(s->ns, ns))
			return &s->v;
	}
	/* Past the bound, the other namespaces share one series per (a, b). */
	if (strcmp(ns, OTHER_NS) && f->n >= METRICS_SERIES_MAX - 16)
		return family__at(f, OTHER_NS, a, b);
	if (array__grow((void **)&f->v, &f->cap, f->n, sizeof(*f->v),
			METRICS_SERIES_MAX))
		return NULL;
	s = &f->v[f->n++];
	memset(s, 0, sizeof(*s));
	snprintf(s->ns, sizeof(s->ns), "%s", ns);
	s->a = a;
	s->b = b;
	return &s->v;
}

static void family__add(struct family *f, const char *ns, uint8_t a,
			uint8_t b, uint64_t n)
{
	uint64_t *v = family__at(f, ns, a, b);

	if (v)
		*v += n;
}

static bool is_inbound(enum flow_type t)
{
	return t == FLOW_INBOUND || t == FLOW_INBOUND_PLAINTEXT ||
	       t == FLOW_INBOUND_REFUSED;
}

static enum hs_fail hs_failure(const struct flow_record *f)
{
	const char *r = f->reason;

	if (!strcmp(f->state, "shed"))
		return HSF_SHED;
	if (!strcmp(f->state, "timeout"))
		return HSF_TIMEOUT;
	if (strstr(r, "kTLS"))
		return HSF_KTLS;
	if (strstr(r, "closed by the peer"))
		return HSF_PEER_CLOSED;
	if (strstr(r, "protocol") || strstr(r, "version"))
		return HSF_PROTOCOL;
	if (strstr(r, "certificate") || strstr(r, "verif") ||
	    strstr(r, "SPIFFE") || strstr(r, "trust") || strstr(r, "expired"))
		return HSF_VERIFY;
	return HSF_OTHER;
}

static void count_handshake(struct metrics *m, const struct flow_record *f,
			    uint8_t *mark)
{
	int side = f->type == FLOW_INBOUND ? SIDE_SERVER : SIDE_CLIENT;
	double s = f->handshake_ms / 1000;
	size_t i;

	if (f->type != FLOW_OUTBOUND && f->type != FLOW_INBOUND)
		return;
	if (f->has & FLOW_HAS_TLS && f->stream == 1 && !(*mark & MARK_HS)) {
		*mark |= MARK_HS;
		m->hs[side]++;
		m->hs_sum[side] += s;
		for (i = 0; i < HS_BUCKETS; i++)
			if (s <= hs_buckets[i])
				m->hs_bucket[side][i]++;
	}
	/* Failed before TLS was up: the state says how it ended. */
	if (!(f->has & FLOW_HAS_TLS) && !(*mark & MARK_HS_FAIL) && f->state &&
	    (!strcmp(f->state, "handshake failed") ||
	     !strcmp(f->state, "shed") ||
	     (!strcmp(f->state, "timeout") && strstr(f->reason, "handshake")))) {
		*mark |= MARK_HS_FAIL;
		m->hs_fail[hs_failure(f)]++;
	}
}

void metrics__flow(struct metrics *m, const struct flow_record *f,
		   uint8_t *mark)
{
	uint8_t dir = is_inbound(f->type) ? DIR_INBOUND : DIR_OUTBOUND;

	if (!m)
		return;
	/* A connection counts under each verdict it reaches: allowed, then
	 * closed when a new policy denies it, is one of each. */
	if (f->verdict != FLOW_VERDICT_NONE &&
	    (*mark & MARK_VERDICT) != f->verdict) {
		*mark = (*mark & ~MARK_VERDICT) | f->verdict;
		family__add(&m->conns, f->ns, dir, f->verdict,
			    f->has & FLOW_HAS_COUNT ? f->count : 1);
	}
	if ((f->type == FLOW_INBOUND_PLAINTEXT ||
	     (f->type == FLOW_INBOUND && f->transport == FLOW_PLAINTEXT)) &&
	    !(*mark & MARK_PLAIN)) {
		*mark |= MARK_PLAIN;
		family__add(&m->plain_in, f->ns, f->mode, 0, 1);
	}
	count_handshake(m, f, mark);
	if (f->has & FLOW_HAS_BYTES && !(*mark & MARK_BYTES)) {
		*mark |= MARK_BYTES;
		family__add(&m->bytes, f->ns, BYTES_UP, 0, f->bytes_up);
		family__add(&m->bytes, f->ns, BYTES_DOWN, 0, f->bytes_down);
	}
}

void metrics__flow_repeat(struct metrics *m, const struct flow_record *f)
{
	if (m && f->verdict != FLOW_VERDICT_NONE)
		family__add(&m->conns, f->ns,
			    is_inbound(f->type) ? DIR_INBOUND : DIR_OUTBOUND,
			    f->verdict, 1);
}

void metrics__svid_issued(struct metrics *m)
{
	if (m)
		m->svids_issued++;
}

/* ---- the exposition text ------------------------------------------------------ */

struct out {
	char *buf;
	size_t len, cap;
	bool oom;
};

__attribute__((format(printf, 2, 3)))
static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	size_t want;
	char *nb;
	int n;

	if (o->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			o->oom = true;
			return;
		}
		if ((size_t)n < o->cap - o->len) {
			o->len += n;
			return;
		}
		want = o->cap * 2 + n + 1;
		nb = realloc(o->buf, want);
		if (!nb) {
			o->oom = true;
			return;
		}
		o->buf = nb;
		o->cap = want;
	}
}

static void head(struct out *o, const char *name, const char *type,
		 const char *help)
{
	put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value: backslash, double quote and newline escaped. */
static const char *esc(const char *s, char *buf, size_t size)
{
	size_t n = 0;

	for (; *s && n + 3 < size; s++) {
		if (*s == '\\' || *s == '"' || *s == '\n')
			buf[n++] = '\\';
		buf[n++] = *s == '\n' ? 'n' : *s;
	}
	buf[n] = '\0';
	return buf;
}

static void put_conns(struct out *o, const struct metrics *m)
{
	const struct series *s;
	size_t i;

	head(o, "nametag_connections_total", "counter",
	     "Connections of enrolled workloads by namespace, direction and verdict (allow, deny, would-deny).");
	for (i = 0; i < m->conns.n; i++) {
		s = &m->conns.v[i];
		put(o, "nametag_connections_total{namespace=\"%s\",direction=\"%s\",verdict=\"%s\"} %llu\n",
		    s->ns, dir_names[s->a], verdict_names[s->b],
		    (unsigned long long)s->v);
	}
	head(o, "nametag_plaintext_inbound_connections_total", "counter",
	     "Plaintext connections into enrolled workloads, by namespace and mode (in strict they are refused).");
	for (i = 0; i < m->plain_in.n; i++) {
		s = &m->plain_in.v[i];
		put(o, "nametag_plaintext_inbound_connections_total{namespace=\"%s\",mode=\"%s\"} %llu\n",
		    s->ns, mode__name(s->a), (unsigned long long)s->v);
	}
	head(o, "nametag_bytes_total", "counter",
	     "Bytes relayed by the node proxy, counted when a connection closes; up is caller to callee.");
	for (i = 0; i < m->bytes.n; i++) {
		s = &m->bytes.v[i];
		put(o, "nametag_bytes_total{namespace=\"%s\",direction=\"%s\"} %llu\n",
		    s->ns, bytes_names[s->a], (unsigned long long)s->v);
	}
}

static void put_handshakes(struct out *o, const struct metrics *m)
{
	int side;
	size_t i;

	head(o, "nametag_handshake_duration_seconds", "histogram",
	     "TLS 1.3 handshakes completed by the node proxy, as client (outbound) or server (mesh port).");
	for (side = 0; side < SIDE_MAX; side++) {
		for (i = 0; i < HS_BUCKETS; i++)
			put(o, "nametag_handshake_duration_seconds_bucket{side=\"%s\",le=\"%g\"} %llu\n",
			    side_names[side], hs_buckets[i],
			    (unsigned long long)m->hs_bucket[side][i]);
		put(o, "nametag_handshake_duration_seconds_bucket{side=\"%s\",le=\"+Inf\"} %llu\n",
		    side_names[side], (unsigned long long)m->hs[side]);
		put(o, "nametag_handshake_duration_seconds_sum{side=\"%s\"} %.6f\n",
		    side_names[side], m->hs_sum[side]);
		put(o, "nametag_handshake_duration_seconds_count{side=\"%s\"} %llu\n",
		    side_names[side], (unsigned long long)m->hs[side]);
	}
	head(o, "nametag_handshake_failures_total", "counter",
	     "TLS handshakes that failed, by reason.");
	for (i = 0; i < HSF_MAX; i++)
		put(o, "nametag_handshake_failures_total{reason=\"%s\"} %llu\n",
		    hsf_names[i], (unsigned long long)m->hs_fail[i]);
}

static int put_svid(const struct svid_info *s, void *arg)
{
	char id[SPIFFE_ID_MAX * 2];

	put(arg, "nametag_svid_expiry_timestamp_seconds{spiffe_id=\"%s\"} %lld\n",
	    esc(s->svid->id.str, id, sizeof(id)), (long long)s->not_after);
	return 0;
}

static void put_identity(struct out *o, struct daemon *d)
{
	time_t not_after;

	head(o, "nametag_svids_issued_total", "counter",
	     "X.509-SVIDs minted by the node CA for workloads (first use and renewals).");
	put(o, "nametag_svids_issued_total %llu\n",
	    (unsigned long long)d->metrics->svids_issued);
	head(o, "nametag_svid_expiry_timestamp_seconds", "gauge",
	     "notAfter of the SVID held for each SPIFFE ID (renewed at half its life).");
	svid_cache__foreach(d->svids, put_svid, o);
	not_after = daemon__ca_not_after(d);
	head(o, "nametag_ca_expiry_timestamp_seconds", "gauge",
	     "notAfter of the node CA that signs SVIDs now.");
	put(o, "nametag_ca_expiry_timestamp_seconds %lld\n", (long long)not_after);
	head(o, "nametag_bundle_sequence", "gauge",
	     "spiffe_sequence of the local trust bundle; it rises on every change.");
	put(o, "nametag_bundle_sequence %llu\n",
	    (unsigned long long)node_ca__bundle(d->ca)->sequence);
}

static void put_node(struct out *o, struct daemon *d)
{
	struct proxy_status st = {};
	struct dp_stats ds = {};
	size_t i;
	struct ns *n;

	if (d->proxy)
		proxy__status(d->proxy, &st);
	datapath__stats(d->dp, &ds);
	head(o, "nametag_proxy_connections", "gauge",
	     "Connections the node proxy holds open that carry a stream.");
	put(o, "nametag_proxy_connections %zu\n", st.connections);
	head(o, "nametag_mesh_idle_connections", "gauge",
	     "Idle mTLS connections between node proxies, pooled for reuse (NT2).");
	put(o, "nametag_mesh_idle_connections %zu\n", st.idle_mesh);
	head(o, "nametag_mesh_shed_total", "counter",
	     "Mesh-port connections shed by admission control, by reason.");
	for (i = 0; i < PROXY_SHED_MAX; i++)
		put(o, "nametag_mesh_shed_total{reason=\"%s\"} %llu\n",
		    proxy__shed_name(i), (unsigned long long)st.shed[i]);
	head(o, "nametag_bpf_events_lost_total", "counter",
	     "Kernel events the BPF programs could not hand to nametagd (ring buffer full).");
	put(o, "nametag_bpf_events_lost_total %llu\n",
	    (unsigned long long)ds.events_lost);
	head(o, "nametag_unserved_syns_dropped_total", "counter",
	     "SYNs to a strict namespace's listener in a network namespace not served yet, dropped (the caller retries).");
	put(o, "nametag_unserved_syns_dropped_total %llu\n",
	    (unsigned long long)ds.unserved_syns);
	head(o, "nametag_listener_records_lost_total", "counter",
	     "Listener records that did not fit a network namespace's table: SYNs without one are refused.");
	put(o, "nametag_listener_records_lost_total %llu\n",
	    (unsigned long long)ds.listener_records_lost);
	head(o, "nametag_namespace_mode", "gauge",
	     "1 for the mode each namespace is in.");
	for (i = 0; i < ns_table__count(d->ns); i++) {
		n = ns_table__at(d->ns, i);
		put(o, "nametag_namespace_mode{namespace=\"%s\",mode=\"%s\"} 1\n",
		    n->name, mode__name(n->mode));
	}
}

/* Fleet mode only: how stale the node's view of etcd is (docs/fleet.md). */
static void put_fleet(struct out *o, struct daemon *d)
{
	struct fleet_gauges g;

	if (fleet__gauges(d, &g))
		return;
	head(o, "nametag_fleet_in_sync", "gauge",
	     "1 while the node's mirror of etcd's config/ is in sync.");
	put(o, "nametag_fleet_in_sync %d\n", g.in_sync);
	head(o, "nametag_fleet_stale_seconds", "gauge",
	     "Seconds since the node lost etcd (0 in sync): how old its view may be.");
	put(o, "nametag_fleet_stale_seconds %lld\n", (long long)g.stale_seconds);
	head(o, "nametag_fleet_revision", "gauge",
	     "etcd revision of the configuration in force.");
	put(o, "nametag_fleet_revision %lld\n", (long long)g.revision);
	head(o, "nametag_fleet_bad_value", "gauge",
	     "1 while a value in etcd is refused and the last good configuration stays in force.");
	put(o, "nametag_fleet_bad_value %d\n", g.bad_value);
	head(o, "nametag_fleet_federated_bundles", "gauge",
	     "Federated trust domains whose bundle (config/bundles/) is in force.");
	put(o, "nametag_fleet_federated_bundles %u\n", g.fed_bundles);
	head(o, "nametag_fleet_federated_stale", "gauge",
	     "Federated bundles not refreshed for 3 refresh intervals (still in use).");
	put(o, "nametag_fleet_federated_stale %u\n", g.fed_stale);
	head(o, "nametag_fleet_relists_total", "counter",
	     "Listings of config/ after the first (a compaction outran a watch's resume).");
	put(o, "nametag_fleet_relists_total %u\n", g.relists);
	head(o, "nametag_fleet_ca_request_pending_seconds", "gauge",
	     "Seconds the node's CA request has waited for the signer (0 none).");
	put(o, "nametag_fleet_ca_request_pending_seconds %lld\n",
	    (long long)g.ca_pending_seconds);
}

/* With --workload-api only: its connections and what became of them. */
static void put_wlapi(struct out *o, struct daemon *d)
{
	struct wlapi_stats st;

	if (!d->wlapi)
		return;
	wlapi__stats(d->wlapi, &st);
	head(o, "nametag_workload_api_connections", "gauge",
	     "Workload API connections open now.");
	put(o, "nametag_workload_api_connections %u\n", st.conns);
	head(o, "nametag_workload_api_streams", "gauge",
	     "Workload API streams open now (watches of X.509-SVIDs and bundles).");
	put(o, "nametag_workload_api_streams %u\n", st.streams);
	head(o, "nametag_workload_api_calls_total", "counter",
	     "Workload API requests dispatched to an RPC.");
	put(o, "nametag_workload_api_calls_total %llu\n",
	    (unsigned long long)st.calls);
	head(o, "nametag_workload_api_errors_total", "counter",
	     "Workload API calls that ended with a non-OK gRPC status.");
	put(o, "nametag_workload_api_errors_total %llu\n",
	    (unsigned long long)st.errors);
	head(o, "nametag_workload_api_refused_total", "counter",
	     "Workload API connections refused or closed by a limit, by limit.");
	put(o, "nametag_workload_api_refused_total{limit=\"connections\"} %llu\n",
	    (unsigned long long)(st.refused_total - st.refused_uid));
	put(o, "nametag_workload_api_refused_total{limit=\"per_uid\"} %llu\n",
	    (unsigned long long)st.refused_uid);
	put(o, "nametag_workload_api_refused_total{limit=\"timeout\"} %llu\n",
	    (unsigned long long)st.timeouts);
	put(o, "nametag_workload_api_refused_total{limit=\"memory\"} %llu\n",
	    (unsigned long long)st.over_budget);
}

int metrics__render(struct daemon *d, char **buf, size_t *len)
{
	struct metrics *m = d->metrics;
	struct out o = {};

	m->scrapes++;
	put_conns(&o, m);
	put_handshakes(&o, m);
	put_identity(&o, d);
	put_node(&o, d);
	put_fleet(&o, d);
	put_wlapi(&o, d);
	head(&o, "nametag_start_time_seconds", "gauge",
	     "When nametagd started, in seconds since the epoch.");
	put(&o, "nametag_start_time_seconds %lld\n", (long long)m->started);
	head(&o, "nametag_build_info", "gauge", "nametagd's version.");
	put(&o, "nametag_build_info{version=\"%s\"} 1\n", NAMETAG_VERSION);
	if (o.oom) {
		free(o.buf);
		return -ENOMEM;
	}
	*buf = o.buf;
	*len = o.len;
	return 0;
}
