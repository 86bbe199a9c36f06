#!/usr/bin/env bash
# An upgrade in place on a live kernel (issue #12, docs/process-model.md):
# `nametag daemon upgrade` re-executes the binary on disk, which takes the
# listeners and the control socket over while the old process lets its
# connections finish. Two pods and one nametagd serving both (lib_mesh),
# the daemon run from a copy of the binary the suite may break.
#
#   - 200 held connections and a 100 MB transfer cross the upgrade: no
#     reset, every byte as sent (sha256)
#   - a new connection every 10 ms during the upgrade: all succeed; the
#     longest wait is reported
#   - the old process exits, status 0, once its connections are done
#   - an upgrade that cannot start (binary broken, binary missing, config
#     invalid) leaves the old process serving; the CLI and the log say why
#   - the drain deadline closes what is left cleanly (EOF, not a reset) and
#     the log counts it
# Needs root; leaves nothing behind.
set -u
cd "$(dirname "$0")/../.."
. tests/live/lib.sh
MESH_SVID_TTL=10m
. tests/live/lib_mesh.sh
skip_unless_root
skip_unless_tools jq
live_init
write_mesh_helpers
N=$MESH_NODE
HELD=${HELD:-200}
BIG=$((100 * 1000 * 1000))

# The daemon runs from a copy: the suite replaces "the binary on disk".
BIN=$LIVE_DIR/bin
mkdir -p "$BIN"
chmod 755 "$BIN"
REAL_NAMETAGD=$NAMETAGD
cp "$REAL_NAMETAGD" "$BIN/nametagd.real"
cp "$BIN/nametagd.real" "$BIN/nametagd"
NAMETAGD=$BIN/nametagd
CFG=$LIVE_DIR/config.json
WLAPI=$LIVE_DIR/wlapi.sock
# Two relay threads (UPGRADE_WORKERS): handshakes and relays on threads
# while the listeners are handed over and old drains.
cfg() { echo "{\"drain_timeout\": \"$1\", \"workload_api\": \"$WLAPI\", \"workers\": ${UPGRADE_WORKERS:-2}}" >"$CFG"; }
cfg 10m
DAEMON_ARGS="--config $CFG"
mesh_up_strict "9000"
unset DAEMON_ARGS
LOG=${D_DIR[$N]}/log
t_check "relay threads: ${UPGRADE_WORKERS:-2}" \
	eval '[ "$(ntd $N -j proxy status | jq .workers)" = "${UPGRADE_WORKERS:-2}" ]'

spawn_in_pod "$CG_CATALOGUE" "$NSB" "$PY" "$LIVE_DIR/meshsrv.py" "$MESH_B" \
	9000:sink >"$LIVE_DIR/srv.log" 2>&1
wait_for 10 grep -q ready "$LIVE_DIR/srv.log" || t_fail "the sink starts"

# hold.py HOST PORT K GOFILE [wait]: K connections opened and left idle
# ("held K"), then, once GOFILE exists, on each some bytes, a half-close
# and the sink's answer (with "wait": only a read to the end): one JSON
# line with how many were ok, ended (EOF) and reset.
cat >"$LIVE_DIR/hold.py" <<'PY'
import hashlib, json, os, socket, sys, time
host, port, k, go = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
socks, errs = [], []
for i in range(k):
    try:
        socks.append(socket.create_connection((host, port), timeout=30))
    except OSError as e:
        errs.append(repr(e))
    time.sleep(0.01)    # a workload's pace, not a flood the admission sheds
print("held %d" % len(socks), flush=True)
while not os.path.exists(go):
    time.sleep(0.05)
ok = resets = eofs = 0
for i, s in enumerate(socks):
    data = b"held-%d-" % i * 100
    try:
        if sys.argv[5:] != ["wait"]:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
        got = b""
        while True:
            b = s.recv(4096)
            if not b:
                break
            got += b
        want = "%s %d" % (hashlib.sha256(data).hexdigest(), len(data))
        if got.decode().strip() == want:
            ok += 1
        elif not got:
            eofs += 1
        else:
            errs.append("bad answer " + got.decode()[:80])
    except ConnectionResetError:
        resets += 1
    except OSError as e:
        errs.append(repr(e))
print(json.dumps(dict(ok=ok, resets=resets, eofs=eofs, errors=errs[:5])), flush=True)
PY
# probe.py HOST PORT SECONDS: a new connection every 10 ms (each in its
# own thread, so a slow one delays no other), each a small send and its
# answer. One JSON line: how many, how many failed, the longest time one
# took, the longest time without a completion.
cat >"$LIVE_DIR/probe.py" <<'PY'
import hashlib, json, socket, sys, threading, time
host, port, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
res, lock = [], threading.Lock()
def one(i):
    t0 = time.monotonic()
    try:
        s = socket.create_connection((host, port), timeout=30)
        data = b"probe %d" % i
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        got = b""
        while True:
            b = s.recv(4096)
            if not b:
                break
            got += b
        ok = got.decode().strip() == "%s %d" % (hashlib.sha256(data).hexdigest(), len(data))
        err = None if ok else "bad answer"
    except OSError as e:
        ok, err = False, repr(e)
    with lock:
        res.append((t0, time.monotonic(), ok, err))
ts, start, i = [], time.monotonic(), 0
while time.monotonic() - start < secs:
    t = threading.Thread(target=one, args=(i,))
    t.start()
    ts.append(t)
    i += 1
    time.sleep(max(0, start + i * 0.01 - time.monotonic()))
for t in ts:
    t.join()
done = sorted(r[1] for r in res if r[2])
gap = max([b - a for a, b in zip(done, done[1:])] or [0])
print(json.dumps(dict(started=len(res), failed=sum(1 for r in res if not r[2]),
                      errors=[r[3] for r in res if r[3]][:5],
                      max_latency_ms=round(max(r[1] - r[0] for r in res) * 1000, 1),
                      max_gap_ms=round(gap * 1000, 1))), flush=True)
PY

OLD=${D_PID[$N]}
t_check "a connection goes through before the upgrade" \
	in_pod "$CG_FRONTEND" "$NSA" "$PY" "$LIVE_DIR/meshcli.py" send "$MESH_B" 9000 1000

# --- an upgrade that cannot start leaves the old process serving -----------------------
# upgrade_fails WHAT WHY: `daemon upgrade` fails and names WHY, the log
# too, and the same process still serves.
upgrade_fails() {
	expect_fail "$1: the CLI says the upgrade failed" "$2" ntd $N daemon upgrade
	t_check "$1: the log says why" grep -q "upgrade failed: .*$2" "$LOG"
	t_check "$1: the old process still answers" \
		[ "$(ntd $N -j daemon status | jq .pid)" = "$OLD" ]
	t_check "$1: the old process still proxies" \
		in_pod "$CG_FRONTEND" "$NSA" "$PY" "$LIVE_DIR/meshcli.py" send "$MESH_B" 9000 1000
}
printf '#!/bin/sh\necho "not nametagd" >&2\nexit 3\n' >"$BIN/nametagd.tmp"
chmod 755 "$BIN/nametagd.tmp"
mv "$BIN/nametagd.tmp" "$BIN/nametagd"
upgrade_fails "a broken binary" "exited with status 3"
rm -f "$BIN/nametagd"
upgrade_fails "a missing binary" "No such file"
cp "$BIN/nametagd.real" "$BIN/nametagd.tmp" && mv "$BIN/nametagd.tmp" "$BIN/nametagd"
cfg whenever
upgrade_fails "an invalid config" "drain_timeout"
cfg 10m

# --- held connections, a transfer and a stream of new ones across it -------------------
GO=$LIVE_DIR/go
spawn_in_pod "$CG_FRONTEND" "$NSA" "$PY" "$LIVE_DIR/hold.py" "$MESH_B" 9000 "$HELD" "$GO" \
	>"$LIVE_DIR/hold.out" 2>&1
HOLD_PID=$BG_PID
t_check "$HELD connections held open" wait_for 120 grep -q "^held $HELD" "$LIVE_DIR/hold.out"
# settled: every held connection has its mTLS (an outbound and an inbound
# side each), none is still in its handshake.
settled() {
	ntd $N -j proxy status | jq -e --argjson k "$1" \
		'.connections >= 2 * $k and .admission.handshakes_pending == 0' >/dev/null
}
t_check "the held connections are established" wait_for 60 settled "$HELD"
spawn_in_pod "$CG_FRONTEND" "$NSA" "$PY" "$LIVE_DIR/meshcli.py" send "$MESH_B" 9000 "$BIG" \
	$((BIG / 8)) >"$LIVE_DIR/big.out" 2>&1
BIG_PID=$BG_PID
spawn_in_pod "$CG_FRONTEND" "$NSA" "$PY" "$LIVE_DIR/probe.py" "$MESH_B" 9000 6 \
	>"$LIVE_DIR/probe.out" 2>&1
PROBE_PID=$BG_PID
sleep 2
expect_ok "nametag daemon upgrade" ntd $N -j daemon upgrade
NEW=$(jq -r '.pid // empty' <<<"$OUT")
t_check "the upgrade names the new pid" [ -n "$NEW" ] && [ "$NEW" != "$OLD" ]
t_check "the transfer was still running at the upgrade" kill -0 "$BIG_PID"
expect_ok "daemon status after the upgrade" ntd $N -j daemon status
t_check "the control socket is the new process's" jq -e --argjson p "${NEW:-0}" \
	'.pid == $p and .state == "serving"' <<<"$OUT"
t_check "the old process is still there, draining" kill -0 "$OLD"
t_check "a new connection goes to the new process" \
	in_pod "$CG_FRONTEND" "$NSA" "$PY" "$LIVE_DIR/meshcli.py" send "$MESH_B" 9000 1000

touch "$GO"
wait "$HOLD_PID"
HELD_OUT=$(tail -n 1 "$LIVE_DIR/hold.out")
t_check "held connections: all $HELD answered ($HELD_OUT)" \
	jq -e --argjson k "$HELD" '.ok == $k' <<<"$HELD_OUT"
t_check "held connections: no reset" jq -e '.resets == 0 and .eofs == 0' <<<"$HELD_OUT"
wait "$BIG_PID"
BIG_OUT=$(cat "$LIVE_DIR/big.out")
t_check "100 MB across the upgrade: byte-identical, no reset ($BIG_OUT)" \
	jq -e '.ok == true' <<<"$BIG_OUT"
wait "$PROBE_PID"
PROBE_OUT=$(cat "$LIVE_DIR/probe.out")
t_check "a connection every 10 ms during the upgrade: all succeed ($PROBE_OUT)" \
	jq -e '.started > 100 and .failed == 0' <<<"$PROBE_OUT"
echo "# upgrade: longest gap between completions $(jq .max_gap_ms <<<"$PROBE_OUT") ms, slowest connection $(jq .max_latency_ms <<<"$PROBE_OUT") ms"

t_check "the old process exits once drained" wait_for 30 not kill -0 "$OLD"
wait "$OLD"
t_check "the old process exited with status 0" [ $? = 0 ]
D_PID[$N]=""
t_check "the old process logged its drain" grep -q "nametagd\[$OLD\] info: drained: exiting" "$LOG"
# The Workload API socket: the new process bound the path anew, and the
# old one leaving did not unlink the new one's socket.
t_check "the Workload API socket outlives the old process" test -S "$WLAPI"
t_check "... and the new process answers on it" "$PY" -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])' "$WLAPI"
t_check "the new process took every served netns over" \
	grep -q "nametagd\[$NEW\] info: takeover: 2 network namespaces" "$LOG"

# --- the drain deadline ------------------------------------------------------------------
cfg 3s
kill -HUP "$NEW"
t_check "SIGHUP applies the new drain timeout" wait_for 5 eval \
	'[ "$(ntd $N -j daemon status | jq .drain_timeout_s)" = 3 ]'
rm -f "$GO"
spawn_in_pod "$CG_FRONTEND" "$NSA" "$PY" "$LIVE_DIR/hold.py" "$MESH_B" 9000 5 "$GO" wait \
	>"$LIVE_DIR/hold2.out" 2>&1
HOLD_PID=$BG_PID
t_check "5 connections held open" wait_for 30 grep -q "^held 5" "$LIVE_DIR/hold2.out"
expect_ok "a second upgrade" ntd $N -j daemon upgrade
NEWER=$(jq -r '.pid // empty' <<<"$OUT")
t_check "the drained process exits at its deadline" wait_for 15 not kill -0 "$NEW"
# Each held connection is two to this one nametagd: its outbound side
# and the inbound side of its mTLS.
t_check "the log counts what the deadline closed" \
	grep -qE "nametagd\[$NEW\] warn: drain deadline \(3s\): (5|10) connections" "$LOG"
touch "$GO"
wait "$HOLD_PID"
HELD_OUT=$(tail -n 1 "$LIVE_DIR/hold2.out")
t_check "closed at the deadline: an end of stream, not a reset ($HELD_OUT)" \
	jq -e '.resets == 0 and .eofs == 5' <<<"$HELD_OUT"

# The last process is not this shell's child: stop it here, and wait.
kill -TERM "$NEWER" 2>/dev/null
t_check "the last process stops on SIGTERM" wait_for 10 not kill -0 "$NEWER"
NAMETAGD=$REAL_NAMETAGD
live_finish
