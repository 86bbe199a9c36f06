#!/usr/bin/env bash
# NT2 on a live kernel: one mTLS connection between the node proxies
# carries one workload connection after another (docs/mesh-protocol.md).
# The same two pods and one nametagd as test_mtls, with SVIDs that live
# 10 minutes so connections may be reused.
#
#   - sequential requests of one workload ride one mesh connection: their
#     flows count up the stream, only the first paid a handshake, and the
#     wire still carries nothing but TLS records
#   - every stream gets its own verdict: a policy reload denies the next
#     request on a pooled connection; another workload never shares it
#   - half-closes and byte counts per stream, as without reuse
#   - changed trust bundles retire pooled connections; so does another
#     workload listening on the port: the server never delivers a pooled
#     stream to a workload the client did not verify
#   - nametagd --no-mesh-reuse: a handshake per connection again
# Needs root; leaves nothing behind.
set -u
cd "$(dirname "$0")/../.."
. tests/live/lib.sh
MESH_SVID_TTL=10m
. tests/live/lib_mesh.sh
skip_unless_root
skip_unless_tools tcpdump curl jq
live_init
write_mesh_helpers
T_START=$SECONDS
CLI=("$PY" "$LIVE_DIR/meshcli.py")
N=$MESH_NODE
REQS=20

mesh_up_strict "8080, 9000"

WWW=$LIVE_DIR/www
mkdir -p "$WWW"
chmod 755 "$WWW"
BODY="catalogue-body-$TAG"
echo "$BODY" >"$WWW/page"
spawn_in_pod "$CG_CATALOGUE" "$NSB" "$PY" -m http.server 8080 --bind "$MESH_B" \
	--directory "$WWW" >"$LIVE_DIR/http.log" 2>&1
HTTP_PID=$BG_PID
spawn_in_pod "$CG_CATALOGUE" "$NSB" "$PY" "$LIVE_DIR/meshsrv.py" "$MESH_B" \
	9000:sink >"$LIVE_DIR/srv.log" 2>&1
wait_for 10 grep -q ready "$LIVE_DIR/srv.log" &&
wait_for 10 eval "ip netns exec $NSB ss -ltn | grep -q '$MESH_B:8080 '" ||
	t_fail "servers start"

get() {
	in_pod "$1" "$NSA" curl -sS -m 5 "http://$MESH_B:8080/page"
}

# requests CGROUP K: K sequential requests; prints how many got the page.
requests() {
	local i ok=0
	for ((i = 0; i < $2; i++)); do
		[ "$(get "$1" 2>/dev/null)" = "$BODY" ] && ok=$((ok + 1))
	done
	echo $ok
}

INB='.type == "inbound" and .src_spiffe_id == "'"$ID_FRONTEND"'"'
OUTB='.type == "outbound" and .src_spiffe_id == "'"$ID_FRONTEND"'"'

# ---- 1. one workload, one mesh connection ------------------------------------------
cap_start "$LIVE_DIR/seq.pcap" || t_fail "tcpdump starts"
id0=$(last_flow_id)
t_check "$REQS sequential requests from frontend all get the page" \
	[ "$(requests "$CG_FRONTEND" $REQS)" = $REQS ]
wait_for 5 eval '[ "$(flows_since_count "$id0" "($INB or $OUTB) and .state == \"closed\"")" -ge $((2 * REQS)) ]'
cap_stop || t_fail "the capture ran to its end marker"
t_check "every request has a closed, allowed flow on both sides" \
	[ "$(flows_since_count "$id0" "($INB or $OUTB) and .state == \"closed\" and .verdict == \"allow\"")" = $((2 * REQS)) ]
conns=$(flows_since "$id0" "$INB" | jq '[.[].src] | unique | length')
t_check "the inbound flows came over at most 2 mesh connections (got $conns)" \
	[ "$conns" -ge 1 -a "$conns" -le 2 ]
t_check "streams count up on a connection: the last is stream $REQS or near" \
	[ "$(flows_since "$id0" "$INB" | jq '[.[].stream] | max')" -ge $((REQS - 1)) ]
t_check "only the first stream of a connection paid a handshake" \
	[ "$(flows_since "$id0" "$OUTB and .stream > 1 and .handshake_ms == 0" | jq length)" -ge $((REQS - 2)) ]
t_check "reused streams still name both identities and TLS 1.3" \
	[ "$(flows_since "$id0" "($INB or $OUTB) and .stream > 1 and .dst_spiffe_id == \"$ID_CATALOGUE\" and .tls_version == \"TLSv1.3\"" | jq length)" -ge $((2 * (REQS - 2))) ]
PC=$("$PY" "$LIVE_DIR/pcapcheck.py" "$LIVE_DIR/seq.pcap" 15008)
t_pcap "wire: every captured stream is TLS records from its first byte to its last" \
	'(.streams | length) >= 2 and all(.streams[]; .tls == "ok")'
t_pcap "wire: no payload byte outside the mesh port" \
	'.outside_mesh_bytes == 0'
t_check "wire: the response body never appears" not pcap_has "$LIVE_DIR/seq.pcap" "$BODY"
t_check "status: an idle mesh connection waits for the next stream" \
	eval '[ "$(ntd $N -j proxy status | jq .idle_mesh_connections)" -ge 1 ]'

# ---- 2. half-closes and byte counts per stream -------------------------------------
id0=$(last_flow_id)
ok=0
for n in 1 65536 1000000; do
	r=$(in_pod "$CG_FRONTEND" "$NSA" "${CLI[@]}" send "$MESH_B" 9000 $n)
	jq -e .ok <<<"${r:-null}" >/dev/null && ok=$((ok + 1))
done
t_check "3 uploads on pooled connections: byte-identical, half-closes honoured" [ $ok = 3 ]
wait_for 5 eval '[ "$(flows_since_count "$id0" "$INB and .state == \"closed\"")" -ge 3 ]'
t_check "their inbound flows count each stream's own bytes" [ "$(flows_since_count "$id0" "
	$INB and .state == \"closed\" and
	([.bytes_up] | inside([1, 65536, 1000000]))")" = 3 ]

# ---- 3. a verdict per stream ---------------------------------------------------------
id0=$(last_flow_id)
t_check "intruder is denied" not eval '[ "$(get "$CG_INTRUDER" 2>/dev/null)" = "$BODY" ]'
flow_wait "$id0" '.type == "inbound" and .src_spiffe_id == "'"$ID_INTRUDER"'" and .state != "open"'
t_flow "intruder never rides frontend's connection: its own handshake, denied" \
	'.stream == 1 and .verdict == "deny"'

t_check "a request now works and leaves an idle connection" [ "$(requests "$CG_FRONTEND" 1)" = 1 ]
mesh_policy "$LIVE_DIR/deny.json" "9000"
expect_ok "reload: a policy without port 8080" ntd $N policy load "$LIVE_DIR/deny.json"
id0=$(last_flow_id)
t_check "reload: the next request is refused although a connection is pooled" \
	[ "$(requests "$CG_FRONTEND" 1)" = 0 ]
flow_wait "$id0" "$INB and .state != \"open\""
t_flow "reload: it was decided on the pooled connection, by the new policy" \
	'.stream > 1 and .verdict == "deny" and .reason == "default deny: no allow rule"'
expect_ok "reload: 8080 allowed again" ntd $N policy load "$POLICY"
id0=$(last_flow_id)
t_check "reload: requests work again" [ "$(requests "$CG_FRONTEND" 2)" = 2 ]
wait_for 5 eval '[ "$(flows_since_count "$id0" "$INB and .state == \"closed\"")" -ge 2 ]'
t_check "reload: the deny closed that connection: a fresh handshake, then reuse" \
	[ "$(flows_since "$id0" "$INB" | jq -c '[.[].stream]')" = "[1,2]" ]

# ---- 4. trust changes retire pooled connections -------------------------------------
t_check "a connection is pooled" eval '[ "$(ntd $N -j proxy status | jq .idle_mesh_connections)" -ge 1 ]'
touch "$LIVE_DIR/$N/state/bundle.json"
sleep 1.2
t_check "after the trust bundles are reloaded no connection is pooled" \
	wait_for 3 eval '[ "$(ntd $N -j proxy status | jq .idle_mesh_connections)" = 0 ]'
id0=$(last_flow_id)
t_check "the next request works" [ "$(requests "$CG_FRONTEND" 1)" = 1 ]
flow_wait "$id0" "$OUTB and .state == \"closed\""
t_flow "and paid a fresh handshake" '.stream == 1 and .handshake_ms > 0'

# ---- 5. another workload on the port retires the connection -------------------------
t_check "a connection is pooled again" [ "$(requests "$CG_FRONTEND" 1)" = 1 ]
kill "$HTTP_PID" 2>/dev/null
wait_for 5 not eval "ip netns exec $NSB ss -ltn | grep -q '$MESH_B:8080 '"
mkcg "$N/shop/stock"
spawn_in_pod "$MESH_CG/shop/stock" "$NSB" "$PY" -m http.server 8080 --bind "$MESH_B" \
	--directory "$WWW" >"$LIVE_DIR/http2.log" 2>&1
wait_for 10 eval "ip netns exec $NSB ss -ltn | grep -q '$MESH_B:8080 '" ||
	t_fail "stock listens on 8080"
id0=$(last_flow_id)
t_check "frontend -> 8080, now stock's port: refused (no rule allows stock)" \
	[ "$(requests "$CG_FRONTEND" 1)" = 0 ]
flow_wait "$id0" "$INB and .state == \"retired\""
t_flow "the pooled connection (catalogue's SVID) was retired, not used" \
	'.stream > 1 and (.reason | test("workload changed"))'
flow_wait "$id0" "$INB and .state != \"open\" and .state != \"retired\""
t_flow "a new handshake presented stock's SVID and was denied" \
	'.stream == 1 and .dst_spiffe_id == "spiffe://'"$MESH_TD"'/ns/shop/sa/stock" and .verdict == "deny"'
t_check "stock never saw a request" not grep -q "GET /page" "$LIVE_DIR/http2.log"

# ---- 6. --no-mesh-reuse ----------------------------------------------------------------
mesh_policy "$LIVE_DIR/stock.json" "8080"
sed -i 's#/sa/catalogue#/sa/stock#' "$LIVE_DIR/stock.json"
expect_ok "a policy allowing frontend -> stock" ntd $N policy load "$LIVE_DIR/stock.json"
stop_daemon $N
D_ARGS[$N]="--no-mesh-reuse"
if mesh_restart; then t_ok "nametagd restarts with --no-mesh-reuse"; else t_fail "nametagd restarts with --no-mesh-reuse"; fi
t_check "it says so in its log" grep -q "no-mesh-reuse: every proxied connection" "$LIVE_DIR/$N/log"
id0=$(last_flow_id)
t_check "3 requests from frontend get stock's page" [ "$(requests "$CG_FRONTEND" 3)" = 3 ]
wait_for 5 eval '[ "$(flows_since_count "$id0" "$OUTB and .state == \"closed\"")" -ge 3 ]'
t_check "each paid its own handshake (stream 1, handshake_ms > 0)" \
	[ "$(flows_since "$id0" "$OUTB and .state == \"closed\" and .stream == 1 and .handshake_ms > 0" | jq length)" = 3 ]
t_check "no mesh connection waits idle" \
	eval '[ "$(ntd $N -j proxy status | jq .idle_mesh_connections)" = 0 ]'

echo "# runtime: $((SECONDS - T_START)) s"
live_finish
