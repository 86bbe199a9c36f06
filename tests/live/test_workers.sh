#!/usr/bin/env bash
# Relay threads (docs/process-model.md): nametagd --workers 3 moves the
# bytes of proxied connections on three threads besides the main one.
# The same two pods and one nametagd as test_mtls.
#
#   - status and the process say 3 relay threads
#   - 8 transfers at once, 8 MB each, arrive byte-identical; their flow
#     records (kept by the main thread) count every byte, both ends
#   - a policy reload that denies a connection while a relay thread
#     holds it ends it (the flow says "closed by policy"), and a new one
#     is refused
#   - TLS handshakes run on the threads: 24 connects at once are
#     counted in `proxy status` (worker_handshakes) on at least two of
#     them; a client with an expired SVID is counted as a failure there
#     and its flow says why; a client that stops after its ClientHello
#     gets the server's flight (made on a thread), then is cut at the
#     handshake timeout and counted; no descriptor is left behind
#   - policy loads and trust reloads (SIGHUP) while handshakes are in
#     flight on the threads: every connect of the storm succeeds
#   - SIGTERM with relays on the threads: exit 0 within seconds
# Needs root; leaves nothing behind.
set -u
cd "$(dirname "$0")/../.."
. tests/live/lib.sh
. tests/live/lib_mesh.sh
skip_unless_root
skip_unless_tools jq
live_init
write_mesh_helpers
T_START=$SECONDS
CLI=("$PY" "$LIVE_DIR/meshcli.py")
N=$MESH_NODE
SIZE=8000000

# No NT2 reuse: every connection makes its own handshake, so the storm of
# section 4 cannot be served by connections an earlier section pooled (on
# a quiet machine all 24 were, and no handshake was counted).
DAEMON_ARGS="--workers 3 --no-mesh-reuse"
mesh_up_strict "9000, 9001"

spawn_in_pod "$CG_CATALOGUE" "$NSB" "$PY" "$LIVE_DIR/meshsrv.py" "$MESH_B" \
	9000:sink 9001:stream >"$LIVE_DIR/srv.log" 2>&1
wait_for 10 grep -q ready "$LIVE_DIR/srv.log" || t_fail "servers start"

# ---- 1. the threads ------------------------------------------------------------------
t_check "proxy status: workers 3" eval '[ "$(ntd $N -j proxy status | jq .workers)" = 3 ]'
t_check "the log says so" grep -q "3 relay threads" "$LIVE_DIR/$N/log"
t_check "the process has 4 threads" \
	[ "$(ls "/proc/${D_PID[$N]}/task" | wc -l)" = 4 ]

# ---- 2. 8 transfers at once ------------------------------------------------------------
id0=$(last_flow_id)
pids=()
for i in 1 2 3 4 5 6 7 8; do
	in_pod "$CG_FRONTEND" "$NSA" "${CLI[@]}" send "$MESH_B" 9000 $SIZE \
		>"$LIVE_DIR/send$i.json" 2>&1 &
	pids+=($!)
done
wait "${pids[@]}"
ok=$(cat "$LIVE_DIR"/send?.json | jq -s '[.[] | select(.ok)] | length')
t_check "8 transfers of $SIZE bytes at once: all byte-identical ($ok)" [ "$ok" = 8 ]
OUTB='.type == "outbound" and .state == "closed"'
INB='.type == "inbound" and .state == "closed"'
wait_for 5 eval '[ "$(flows_since_count "$id0" "$OUTB and .bytes_up == $SIZE")" = 8 ]'
t_check "8 outbound flows closed, each with bytes_up $SIZE" \
	[ "$(flows_since_count "$id0" "$OUTB and .bytes_up == $SIZE")" = 8 ]
t_check "8 inbound flows closed, each with bytes_up $SIZE" \
	[ "$(flows_since_count "$id0" "$INB and .bytes_up == $SIZE")" = 8 ]
t_check "no connection left open" \
	eval '[ "$(ntd $N -j proxy status | jq .connections)" = 0 ]'

# ---- 3. a policy reload ends a relaying connection --------------------------------------
id0=$(last_flow_id)
spawn_in_pod "$CG_FRONTEND" "$NSA" "${CLI[@]}" stream "$MESH_B" 9001 \
	>"$LIVE_DIR/stream.log" 2>&1
wait_for 5 grep -q "tick 5" "$LIVE_DIR/stream.log" || t_fail "a stream flows"
mesh_policy "$LIVE_DIR/p2.json" "9000"
expect_ok "policy without 9001 loads" ntd $N policy load "$LIVE_DIR/p2.json"
t_check "the stream ends within 3 s" wait_for 3 grep -q " end " "$LIVE_DIR/stream.log"
t_check "its inbound flow was closed by policy" \
	wait_for 3 eval '[ "$(flows_since_count "$id0" ".type == \"inbound\" and .state == \"closed by policy\"")" = 1 ]'
t_check "a new connection to 9001 is refused" \
	not in_pod "$CG_FRONTEND" "$NSA" "${CLI[@]}" send "$MESH_B" 9001 10

# ---- 4. handshakes on the threads -------------------------------------------------------
hs_sum() { ntd $N -j proxy status | jq "[.worker_handshakes[].$1] | add"; }
hs_busy() { ntd $N -j proxy status | jq "[.worker_handshakes[] | select(.done > 0)] | length"; }
hs0=$(hs_sum done)
# connects: COUNT sends of 1000 bytes at once to 9000; their reports in
# $LIVE_DIR/c-TAG-I.json; prints how many succeeded.
connects() {
	local tag=$1 count=$2 i pids=()
	for i in $(seq "$count"); do
		in_pod "$CG_FRONTEND" "$NSA" "${CLI[@]}" send "$MESH_B" 9000 1000 \
			>"$LIVE_DIR/c-$tag-$i.json" 2>&1 &
		pids+=($!)
	done
	wait "${pids[@]}"
	cat "$LIVE_DIR"/c-"$tag"-*.json | jq -s '[.[] | select(.ok)] | length'
}
ok=$(connects storm 24)
t_check "24 connects at once all succeed ($ok)" [ "$ok" = 24 ]
t_check "worker_handshakes: more handshakes done ($hs0 -> $(hs_sum done))" \
	[ "$(hs_sum done)" -gt "${hs0:-0}" ]
t_check "... on at least two of the three threads ($(ntd $N -j proxy status | jq -c .worker_handshakes))" \
	[ "$(hs_busy)" -ge 2 ]
wait_for 5 eval '[ "$(ntd $N -j proxy status | jq .connections)" = 0 ]'
fd0=$(ls "/proc/${D_PID[$N]}/fd" | wc -l)

# A client whose SVID expired: its chain is checked on a thread.
C=$LIVE_DIR/certs
mkdir -p "$C"
sign_svid "$C/expired" "$ID_FRONTEND" "$(utc '-2 hours')" "$(utc '-1 hour')" ||
	t_fail "an expired SVID is signed"
f0=$(hs_sum failed)
id0=$(last_flow_id)
timeout 10 ip netns exec "$NSA" openssl s_client -connect "$MESH_B:15008" \
	-servername p9000.nametag.invalid -cert "$C/expired.crt" \
	-key "$C/expired.key" </dev/null >"$LIVE_DIR/sc-expired.out" 2>&1
t_check "an expired client SVID: a failed handshake on a thread ($f0 -> $(hs_sum failed))" \
	wait_for 3 eval '[ "$(hs_sum failed)" -gt "${f0:-0}" ]'
t_check "... its flow says so" \
	wait_for 3 eval '[ "$(flows_since_count "$id0" ".state == \"handshake failed\" and (.reason | test(\"expired\"))")" = 1 ]'

# A client that sends its ClientHello and then nothing: the server's
# flight comes from a thread; the main thread cuts it at the timeout.
cat >"$LIVE_DIR/hello_only.py" <<'PY'
import socket, ssl, sys, time
host, port, sni, hold = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ctx.minimum_version = ssl.TLSVersion.TLSv1_3
inb, outb = ssl.MemoryBIO(), ssl.MemoryBIO()
tls = ctx.wrap_bio(inb, outb, server_hostname=sni)
try:
    tls.do_handshake()
except ssl.SSLWantReadError:
    pass
s = socket.create_connection((host, port))
s.sendall(outb.read())
s.settimeout(hold)
got, t0, how = 0, time.time(), "open"
try:
    while True:
        b = s.recv(65536)
        if not b:
            how = "closed"
            break
        got += len(b)
except socket.timeout:
    how = "open"
except ConnectionResetError:
    how = "reset"
print("%s %.1f %d" % (how, time.time() - t0, got), flush=True)
PY
chmod 644 "$LIVE_DIR/hello_only.py"
to0=$(ntd $N -j proxy status | jq .admission.shed.handshake_timeout)
ip netns exec "$NSA" "$PY" "$LIVE_DIR/hello_only.py" "$MESH_B" 15008 \
	p9000.nametag.invalid 20 >"$LIVE_DIR/hello_only.out" 2>&1 &
hpid=$!
t_check "a stalled handshake is pending on the mesh port" \
	wait_for 3 eval '[ "$(ntd $N -j proxy status | jq .admission.handshakes_pending)" = 1 ]'
wait "$hpid"
read -r how secs got <"$LIVE_DIR/hello_only.out"
t_check "... it got the server's flight ($got bytes) and was cut ($how) after ${secs} s" \
	eval '[ "${got:-0}" -gt 0 ] && [ "$how" != open ]'
t_check "... at the handshake timeout, counted ($to0 -> $(ntd $N -j proxy status | jq .admission.shed.handshake_timeout))" \
	[ "$(ntd $N -j proxy status | jq .admission.shed.handshake_timeout)" -gt "$to0" ]
t_check "... nothing pending, no connection left" \
	eval '[ "$(ntd $N -j proxy status | jq "[.admission.handshakes_pending, .connections] | add")" = 0 ]'
t_check "no descriptor left behind ($fd0 before, $(ls "/proc/${D_PID[$N]}/fd" | wc -l) after)" \
	[ "$(ls "/proc/${D_PID[$N]}/fd" | wc -l)" -le "$fd0" ]

# ---- 5. policy and trust reloads while handshakes are in flight ----------------------------
(
	for i in 1 2 3 4 5 6; do
		ntd $N policy load "$LIVE_DIR/p2.json" >/dev/null
		kill -HUP "${D_PID[$N]}"
		ntd $N policy load "$POLICY" >/dev/null
		sleep 0.2
	done
) &
rpid=$!
ok=0
for r in 1 2 3; do
	ok=$((ok + $(connects "reload$r" 16)))
done
wait "$rpid"
t_check "48 connects during policy and trust reloads all succeed ($ok)" [ "$ok" = 48 ]
t_check "nametagd still runs" kill -0 "${D_PID[$N]}"
t_check "no handshake failed meanwhile ($(hs_sum failed))" \
	[ "$(hs_sum failed)" = "$(($f0 + 1))" ]

# ---- 6. SIGTERM with relays held --------------------------------------------------------
expect_ok "policy with 9001 loads again" ntd $N policy load "$POLICY"
spawn_in_pod "$CG_FRONTEND" "$NSA" "${CLI[@]}" stream "$MESH_B" 9001 \
	>"$LIVE_DIR/stream2.log" 2>&1
wait_for 5 grep -q "tick 3" "$LIVE_DIR/stream2.log" || t_fail "a stream flows again"
t0=$SECONDS
stop_daemon $N
rc=$?
t_check "SIGTERM with a relay held: exit 0 (got $rc)" [ "$rc" = 0 ]
t_check "... within 5 s" [ $((SECONDS - t0)) -le 5 ]
t_check "... and the stream ended" wait_for 3 grep -q " end " "$LIVE_DIR/stream2.log"

echo "# runtime: $((SECONDS - T_START)) s"
live_finish
