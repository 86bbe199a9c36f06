#!/usr/bin/env bash
# The operator's view of a live mesh (issue #13): nametagd --metrics and
# --audit-log while the mesh of lib_mesh.sh carries an allowed request, a
# denied one and plaintext into a strict namespace.
#
#   - GET /metrics passes `promtool check metrics` and shows each of those
#     (a deny, a handshake and its duration, the plaintext refused in
#     strict, SVIDs issued and their expiry), with no port or address in a
#     label; anything but GET /metrics is refused
#   - Debian's own Prometheus, started here on loopback with a temporary
#     data dir, scrapes nametagd, and its query API returns a deny count
#     above 0
#   - the audit log has the SVIDs issued with their evidence, the deny with
#     both IDs and the reason, the policy load with the file's sha256 and
#     the caller's uid, the mode changes; SIGHUP reopens it (logrotate)
# Needs root, prometheus and promtool (make deps).
set -u
cd "$(dirname "$0")/../.."
. tests/live/lib.sh
. tests/live/lib_mesh.sh
skip_unless_root
skip_unless_tools curl jq prometheus promtool
live_init
write_mesh_helpers
N=$MESH_NODE
MPORT=19477
PPORT=19090
AUDIT=$LIVE_DIR/audit/audit.log
mkdir -p "$LIVE_DIR/audit"
WLSOCK=$LIVE_DIR/wl/api.sock
DAEMON_ARGS="--metrics 127.0.0.1:$MPORT --audit-log $AUDIT --workload-api $WLSOCK"
mesh_up_strict "8080"

WWW=$LIVE_DIR/www
mkdir -p "$WWW"
chmod 755 "$WWW"
echo "catalogue page" >"$WWW/page"
spawn_in_pod "$CG_CATALOGUE" "$NSB" "$PY" -m http.server 8080 --bind "$MESH_B" \
	--directory "$WWW" >"$LIVE_DIR/http.log" 2>&1
wait_for 10 eval "ip netns exec $NSB ss -ltn | grep -q '$MESH_B:8080 '" ||
	t_fail "catalogue listens"

# in_node CMD...: CMD in the daemon's network namespace, where its metrics
# listener is.
in_node() {
	ip netns exec "${D_NS[$N]}" "$@"
}

# scrape [PATH]: GET http://127.0.0.1:MPORT/PATH (default metrics) into
# $SCRAPE; fails on an HTTP error.
scrape() {
	SCRAPE=$(in_node curl -sf -m 5 "http://127.0.0.1:$MPORT/${1:-metrics}")
}

# metric SERIES: the value of the one line that starts with SERIES
# (name{labels} as printed), or nothing.
metric() {
	awk -v s="$1" 'index($0, s " ") == 1 { print $2 }' <<<"$SCRAPE"
}

# get CGROUP: curl of catalogue's page from pod A as a process of CGROUP.
get() {
	in_pod "$1" "$NSA" curl -sS -m 5 "http://$MESH_B:8080/page"
}

# ---- traffic: allowed, denied, plaintext into strict ----------------------------
id0=$(last_flow_id)
t_check "frontend gets catalogue's page" [ "$(get "$CG_FRONTEND" 2>&1)" = "catalogue page" ]
t_check "the intruder does not" not get "$CG_INTRUDER"
flow_wait "$id0" ".type == \"inbound\" and .src_spiffe_id == \"$ID_INTRUDER\" and .state != \"open\""
t_flow "the intruder's inbound flow is a deny" '.verdict == "deny"'
t_check "a caller outside the mesh cannot send plaintext into strict shop" \
	not get "$CG_OUTSIDE"
flow_wait "$id0" '.type == "inbound-plaintext" and .state != "open"'
t_flow "its flow is inbound-plaintext, deny" '.verdict == "deny" and .mode == "strict"'

# A Workload API call and a refused one (the intruder's namespace is enrolled,
# outside's is not).
run_in_cgroup "$CG_FRONTEND" "$NAMETAG" svid fetch --socket "$WLSOCK" >/dev/null ||
	t_fail "frontend fetches its SVID over the Workload API"
not run_in_cgroup "$CG_OUTSIDE" "$NAMETAG" svid fetch --socket "$WLSOCK" 2>/dev/null ||
	t_fail "a process outside the mesh gets no SVID"

# ---- the scrape ------------------------------------------------------------------
t_check "GET /metrics answers" scrape
t_check "promtool check metrics: the scrape is valid exposition format" \
	promtool check metrics <<<"$SCRAPE"
promtool check metrics <<<"$SCRAPE" 2>&1 | sed 's/^/    promtool: /' | head -5
deny=$(metric 'nametag_connections_total{namespace="shop",direction="inbound",verdict="deny"}')
t_check "inbound denies in shop counted (${deny:-none})" [ "${deny:-0}" -ge 1 ]
allow=$(metric 'nametag_connections_total{namespace="shop",direction="outbound",verdict="allow"}')
t_check "outbound allows in shop counted (${allow:-none})" [ "${allow:-0}" -ge 1 ]
plain=$(metric 'nametag_plaintext_inbound_connections_total{namespace="shop",mode="strict"}')
t_check "plaintext into strict shop counted (${plain:-none})" [ "${plain:-0}" -ge 1 ]
hs=$(metric 'nametag_handshake_duration_seconds_count{side="client"}')
t_check "client handshakes counted in the histogram (${hs:-none})" [ "${hs:-0}" -ge 1 ]
inf=$(metric 'nametag_handshake_duration_seconds_bucket{side="client",le="+Inf"}')
t_check "the +Inf bucket equals the count" [ "$inf" = "$hs" ]
svids=$(metric nametag_svids_issued_total)
t_check "SVIDs issued: frontend, intruder, catalogue at least (${svids:-none})" \
	[ "${svids:-0}" -ge 3 ]
exp=$(metric "nametag_svid_expiry_timestamp_seconds{spiffe_id=\"$ID_FRONTEND\"}")
t_check "frontend's SVID expiry is in the future (${exp:-none})" \
	[ "${exp:-0}" -gt "$(date +%s)" ]
caexp=$(metric nametag_ca_expiry_timestamp_seconds)
t_check "the CA's expiry is in the future" [ "${caexp:-0}" -gt "$(date +%s)" ]
t_check "bundle sequence present" [ -n "$(metric nametag_bundle_sequence)" ]
t_check "events lost present and 0" [ "$(metric nametag_bpf_events_lost_total)" = 0 ]
wcalls=$(metric nametag_workload_api_calls_total)
t_check "Workload API calls counted (${wcalls:-none})" [ "${wcalls:-0}" -ge 2 ]
werr=$(metric nametag_workload_api_errors_total)
t_check "Workload API errors counted: the refused caller (${werr:-none})" [ "${werr:-0}" -ge 1 ]
t_check "Workload API refusals by limit present" \
	[ -n "$(metric 'nametag_workload_api_refused_total{limit="per_uid"}')" ]
t_check "open proxied connections gauge present" [ -n "$(metric nametag_proxy_connections)" ]
t_check "idle mesh connections gauge present" [ -n "$(metric nametag_mesh_idle_connections)" ]
t_check "bytes counted" [ "$(metric 'nametag_bytes_total{namespace="shop",direction="down"}')" -gt 0 ]
t_check "shop's mode is strict" [ "$(metric 'nametag_namespace_mode{namespace="shop",mode="strict"}')" = 1 ]
t_check "no address or port in any label" \
	not grep -E '\{[^}]*(10\.87\.|:[0-9]{2,5}"|port=|addr)' <<<"$SCRAPE"
code=$(in_node curl -s -o /dev/null -w '%{http_code}' -m 5 "http://127.0.0.1:$MPORT/")
t_check "GET / is 404 ($code)" [ "$code" = 404 ]
code=$(in_node curl -s -o /dev/null -w '%{http_code}' -m 5 -X POST "http://127.0.0.1:$MPORT/metrics")
t_check "POST /metrics is 405 ($code)" [ "$code" = 405 ]
listening=$(in_node ss -Hltn | awk -v p=":$MPORT" 'substr($4, length($4) - length(p) + 1) == p { print $4 }')
t_check "the metrics listen on loopback only (${listening:-none})" [ "$listening" = "127.0.0.1:$MPORT" ]

# ---- a real Prometheus scrapes it -------------------------------------------------
cat >"$LIVE_DIR/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $PWD/contrib/prometheus/nametag-alerts.yml
scrape_configs:
  - job_name: nametag
    static_configs:
      - targets: ['127.0.0.1:$MPORT']
EOF
mkdir -p "$LIVE_DIR/prom"
spawn ip netns exec "${D_NS[$N]}" prometheus \
	--config.file="$LIVE_DIR/prometheus.yml" \
	--storage.tsdb.path="$LIVE_DIR/prom" \
	--web.listen-address="127.0.0.1:$PPORT" >"$LIVE_DIR/prometheus.log" 2>&1

# prom_query EXPR: the first result's value from the HTTP query API.
prom_query() {
	in_node curl -sf -m 5 "http://127.0.0.1:$PPORT/api/v1/query" \
		--data-urlencode "query=$1" | jq -r '.data.result[0].value[1] // empty'
}
prom_positive() {
	local v
	v=$(prom_query "$1")
	[ -n "$v" ] && awk -v v="$v" 'BEGIN { exit !(v > 0) }'
}
if wait_for 30 prom_positive 'up{job="nametag"}'; then
	t_ok "prometheus scrapes nametagd (up == 1)"
else
	t_fail "prometheus scrapes nametagd (up == 1)" "$(tail -5 "$LIVE_DIR/prometheus.log")"
fi
q='sum(nametag_connections_total{verdict="deny"})'
wait_for 15 prom_positive "$q"
t_check "prometheus' query API: $q = $(prom_query "$q") > 0" prom_positive "$q"
rules=$(in_node curl -sf -m 5 "http://127.0.0.1:$PPORT/api/v1/rules" | jq '[.data.groups[].rules[]] | length')
t_check "prometheus loaded the shipped alert rules (${rules:-0})" [ "${rules:-0}" -ge 4 ]

# ---- the audit log ------------------------------------------------------------------
t_check "the audit log is JSON lines" jq -e . "$AUDIT"
# audit FILTER: some record matches.
audit() {
	jq -e -s "any(.[]; $1)" "$AUDIT" >/dev/null
}
t_check "audit: a start record" audit '.event == "start" and .source == "nametagd"'
PYEXE=$(readlink -f "$(command -v curl)")
t_check "audit: frontend's SVID with its evidence (pid, exe, sha256, cgroup)" audit "
	.event == \"svid_issued\" and .spiffe_id == \"$ID_FRONTEND\" and
	(.serial | length) > 0 and (.not_after | test(\"Z$\")) and
	.evidence.pid > 0 and .evidence.exe == \"$PYEXE\" and
	.evidence.sha256 == \"$(sha256sum "$PYEXE" | cut -d' ' -f1)\" and
	.evidence.cgroup == \"$(cg_rel "$CG_FRONTEND")\""
t_check "audit: the deny with both IDs, the reason, namespace and mode" audit "
	.event == \"deny\" and .src_spiffe_id == \"$ID_INTRUDER\" and
	.dst_spiffe_id == \"$ID_CATALOGUE\" and .reason == \"default deny: no allow rule\" and
	.namespace == \"shop\" and .mode == \"strict\""
t_check "audit: the policy load with the file's sha256 and uid 0" audit "
	.event == \"policy_load\" and .uid == 0 and
	.sha256 == \"$(sha256sum "$POLICY" | cut -d' ' -f1)\""
t_check "audit: shop off -> strict" audit \
	'.event == "namespace_mode" and .namespace == "shop" and .from == "off" and .to == "strict" and .uid == 0'

# logrotate: move the file, SIGHUP, the next record goes to a new file.
mv "$AUDIT" "$AUDIT.1"
kill -HUP "${D_PID[$N]}"
sleep 0.5
t_check "SIGHUP: nametagd is still running" kill -0 "${D_PID[$N]}"
expect_ok "a mode change after SIGHUP" ntd "$N" ns enable shop --mode permissive
wait_for 5 test -s "$AUDIT"
t_check "SIGHUP: the audit log was opened again at its path" audit \
	'.event == "namespace_mode" and .from == "strict" and .to == "permissive"'
t_check "SIGHUP: the rotated file did not get it" \
	not grep -q '"to":"permissive"' "$AUDIT.1"
t_check "the audit log is private (0600)" [ "$(stat -c %a "$AUDIT")" = 600 ]
t_check "the state dir says where the audit log is" \
	jq -e --arg p "$AUDIT" '.path == $p' "${D_DIR[$N]}/state/audit.json"

# The CLI's offline actions land in the same file.
expect_ok "svid mint (offline)" ntd "$N" svid mint "spiffe://$MESH_TD/ops/tool" \
	--out "$LIVE_DIR/tool" --ttl 5m
t_check "audit: the CLI's svid mint, with the caller's uid" audit "
	.event == \"svid_mint\" and .source == \"nametag\" and
	.spiffe_id == \"spiffe://$MESH_TD/ops/tool\" and .uid == 0 and (.serial | length) > 0"

[ -n "${T_VERBOSE:-}" ] && { echo "$SCRAPE"; cat "$AUDIT.1" "$AUDIT"; }
live_finish
