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

DAEMON_ARGS="--workers 3"
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

# ---- 4. SIGTERM with relays held --------------------------------------------------------
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
