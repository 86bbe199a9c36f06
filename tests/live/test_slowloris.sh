#!/usr/bin/env bash
# Slowloris on the mesh port (issue 9, H), on a live kernel. The two pods
# and one nametagd of test_mtls; a process in pod A outside the mesh keeps
# 2,000 TCP connections to pod B's mesh port (15008) from ten addresses,
# half of them sending 40 bytes of a ClientHello, half nothing, and opens
# again whatever the proxy closes, half a second later.
#
# nametagd starts with systemd's default soft limit, 1024 descriptors,
# under a hard limit of 2048: raising the soft limit is needed but not
# enough, 2,000 half-open handshakes would still take every descriptor.
# It runs with --no-mesh-reuse, so every legitimate call needs a handshake
# of its own and has to win a place among the attacker's.
#
#   - the soft limit was raised to the hard one
#   - during the attack: 100 of 100 frontend -> catalogue calls (byte echo)
#     succeed and the control socket answers within 2 s
#   - pending handshakes stay under their cap, the deadline is shortened,
#     what was shed is counted in `proxy status` (JSON and text) and
#     logged at most every 10 s; the flow table still holds every call
#   - one address alone is held to the per-peer cap
#   - once the attack stops nothing is pending and calls go on
# Needs root; leaves nothing behind.
set -u
cd "$(dirname "$0")/../.."
. tests/live/lib.sh
. tests/live/lib_mesh.sh
skip_unless_root
skip_unless_tools jq prlimit
live_init
write_mesh_helpers
T_START=$SECONDS
ATTACK=${SLOWLORIS_CONNS:-2000}
CALLS=${SLOWLORIS_CALLS:-100}
N=$MESH_NODE
FD_SOFT=${SLOWLORIS_FD_SOFT:-1024}
FD_HARD=${SLOWLORIS_FD_HARD:-2048}

# slowloris.py HOST PORT N STATS SRC...: keeps N connections to HOST:PORT
# open, spread over the SRC addresses; odd ones send the first 40 bytes of
# a 512-byte ClientHello, even ones nothing. One the server closes is
# opened again 0.5 s later. STATS is rewritten every 0.2 s with one JSON
# object: open now, peak open, opened in all, closed by the server.
cat >"$LIVE_DIR/slowloris.py" <<'PY'
import json, os, resource, selectors, signal, socket, sys, time
_, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
host, port, n, stats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
srcs = sys.argv[5:]
HALF = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 29
sel = selectors.DefaultSelector()
st = dict(open=0, peak=0, opened=0, closed=0, failed=0)
due, conn = [], {}
def start(i):
    s = socket.socket()
    s.setblocking(False)
    s.bind((srcs[i % len(srcs)], 0))
    try:
        s.connect((host, port))
    except BlockingIOError:
        pass
    except OSError:
        s.close()
        st["failed"] += 1
        due.append((time.monotonic() + 0.5, i))
        return
    conn[i] = s
    sel.register(s, selectors.EVENT_WRITE, i)
def drop(i, was_open):
    s = conn.pop(i)
    sel.unregister(s)
    s.close()
    if was_open:
        st["open"] -= 1
        st["closed"] += 1
    else:
        st["failed"] += 1
    due.append((time.monotonic() + 0.5, i))
def event(s, ev, i):
    if ev & selectors.EVENT_WRITE:
        if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
            return drop(i, False)
        st["open"] += 1
        st["opened"] += 1
        st["peak"] = max(st["peak"], st["open"])
        if i % 2:
            try:
                s.send(HALF)
            except OSError:
                return drop(i, True)
        sel.modify(s, selectors.EVENT_READ, i)
        return
    try:
        if s.recv(4096):
            return
    except BlockingIOError:
        return
    except OSError:
        pass
    drop(i, True)
def dump():
    with open(stats + ".tmp", "w") as f:
        json.dump(st, f)
    os.replace(stats + ".tmp", stats)
signal.signal(signal.SIGTERM, lambda *_: (dump(), sys.exit(0)))
for i in range(n):
    start(i)
last = 0
while True:
    for key, ev in sel.select(0.05):
        event(key.fileobj, ev, key.data)
    now = time.monotonic()
    while due and due[0][0] <= now:
        start(due.pop(0)[1])
    if now - last >= 0.2:
        dump()
        last = now
PY
# calls.py HOST PORT N CONC: N calls to a meshsrv sink, CONC at a time;
# each sends 64+i random bytes, half-closes and wants their sha256 and
# count back within 5 s. One JSON object: ok, failed, first errors, secs.
cat >"$LIVE_DIR/calls.py" <<'PY'
import hashlib, json, os, socket, sys, time
from concurrent.futures import ThreadPoolExecutor
host, port, n, conc = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
def call(i):
    end, data = time.monotonic() + 5, os.urandom(64 + i)
    try:
        s = socket.create_connection((host, port), timeout=5)
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        got = b""
        while True:
            s.settimeout(max(0.01, end - time.monotonic()))
            b = s.recv(4096)
            if not b:
                break
            got += b
        s.close()
        want = "%s %d" % (hashlib.sha256(data).hexdigest(), len(data))
        return "ok" if got.decode(errors="replace").strip() == want else \
            "bad reply %r" % got[:80]
    except OSError as e:
        return repr(e)
t0 = time.monotonic()
with ThreadPoolExecutor(conc) as ex:
    res = list(ex.map(call, range(n)))
bad = [r for r in res if r != "ok"]
print(json.dumps(dict(ok=n - len(bad), failed=len(bad), errors=bad[:5],
                      secs=time.monotonic() - t0)))
PY
chmod 644 "$LIVE_DIR/slowloris.py" "$LIVE_DIR/calls.py"

# calls K: K calls from frontend (pod A) to catalogue's sink, 10 at a time.
calls() {
	in_pod "$CG_FRONTEND" "$NSA" "$PY" "$LIVE_DIR/calls.py" "$MESH_B" 9000 "$1" 10
}

# status_within S [-j]: `proxy status` answers within S seconds; the
# answer is in $STATUS, the time it took in $TOOK.
status_within() {
	local NT t0=$EPOCHREALTIME rc
	nt_cmd "$N"
	STATUS=$(timeout "$1" "${NT[@]}" ${2:-} proxy status)
	rc=$?
	TOOK=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
	return $rc
}

# The daemon's limits: systemd's default soft limit under a low hard one,
# set by a wrapper (root here may lower a hard limit, not raise one).
if [ "$(ulimit -H -n)" -lt $((ATTACK + 64)) ]; then
	t_skip "the attacker needs a hard open files limit of $((ATTACK + 64))"
fi
printf '#!/bin/sh\nexec prlimit --nofile=%s:%s %s "$@"\n' $FD_SOFT $FD_HARD \
	"$(realpath "$NAMETAGD")" >"$LIVE_DIR/nametagd"
# A daemon that stops answering must fail the suite, not hang it.
printf '#!/bin/sh\nexec timeout 10 %s "$@"\n' "$(realpath "$NAMETAG")" >"$LIVE_DIR/nametag"
chmod 755 "$LIVE_DIR/nametagd" "$LIVE_DIR/nametag"
NAMETAGD=$LIVE_DIR/nametagd NAMETAG=$LIVE_DIR/nametag
DAEMON_ARGS=--no-mesh-reuse
mesh_up_strict "9000"
DPID=${D_PID[$N]}
lim=$(awk '/^Max open files/ { print $4 "/" $5 }' "/proc/$DPID/limits")
t_check "nametagd raised its soft descriptor limit to the hard one ($lim)" \
	[ "$lim" = "$FD_HARD/$FD_HARD" ]
expect_ok "proxy status answers" ntd $N -j proxy status
t_check "proxy status: the limit, the reserve and the caps" jq -e "
	.admission.fd_limit == $FD_HARD and .admission.fd_reserve > 0 and
	.admission.handshakes_pending == 0 and .admission.handshakes_pending_max > 0 and
	.admission.handshakes_per_peer_max > 0 and .admission.handshake_timeout_s == 10 and
	.admission.under_pressure == false and
	([.admission.shed[]] | length == 5 and all(. == 0))" <<<"$OUT"

spawn_in_pod "$CG_CATALOGUE" "$NSB" "$PY" "$LIVE_DIR/meshsrv.py" "$MESH_B" \
	9000:sink >"$LIVE_DIR/srv.log" 2>&1
wait_for 10 grep -q ready "$LIVE_DIR/srv.log" || t_fail "catalogue's sink starts"
r=$(calls 10)
t_check "before the attack: 10 of 10 calls" jq -e '.ok == 10' <<<"${r:-null}"

# attack NAME N SRC...: slowloris.py from pod A, outside the mesh; waits
# until it opened its N connections. $ATTACK_PID, stats in NAME.json.
attack() {
	local name=$1 n=$2
	shift 2
	spawn_in_pod "$CG_OUTSIDE" "$NSA" "$PY" "$LIVE_DIR/slowloris.py" "$MESH_B" \
		15008 "$n" "$LIVE_DIR/$name.json" "$@" >"$LIVE_DIR/$name.log" 2>&1
	ATTACK_PID=$BG_PID
	wait_for 20 eval '[ "$(attack_stat "$name" opened)" -ge "$n" ]'
}

# attack_stat NAME KEY: attacker NAME's last count of KEY.
attack_stat() {
	jq ".$2" "$LIVE_DIR/$1.json" 2>/dev/null || echo 0
}

# attack_stop: the attacker goes; nothing is pending soon after.
attack_stop() {
	kill -TERM "$ATTACK_PID" 2>/dev/null
	wait "$ATTACK_PID" 2>/dev/null
	wait_for 5 eval '[ "$(ntd $N -j proxy status | jq .admission.handshakes_pending)" = 0 ]'
}

# ---- 2,000 half-open handshakes from ten addresses -------------------------------
SRCS=()
for i in $(seq 10 19); do
	ip -n "$NSA" addr add "10.87.0.$i/24" dev "$VETH_A" && SRCS+=("10.87.0.$i")
done
id0=$(last_flow_id)
t_check "the attacker opened its $ATTACK connections to the mesh port" \
	attack main "$ATTACK" "${SRCS[@]}"
sleep 2	# the daemon is in the thick of it
status_within 2 -j
rc=$?
t_check "during the attack: the control socket answers within 2 s (took $TOOK s)" \
	[ $rc = 0 ]
opened=$(attack_stat main opened)
r=$(calls "$CALLS")
echo "# during the attack: $r"
t_check "during the attack: $CALLS of $CALLS legitimate calls succeed" \
	jq -e ".ok == $CALLS" <<<"${r:-null}"
t_check "the attack went on meanwhile: $(attack_stat main open) of $ATTACK open, $(($(attack_stat main opened) - opened)) (re)opened during the calls" \
	[ "$(attack_stat main opened)" -gt "$opened" ]
status_within 2 -j
t_check "during the attack: the control socket still answers (took $TOOK s)" [ $? = 0 ]
echo "# admission: $(jq -c .admission <<<"${STATUS:-null}")"
t_check "pending handshakes stay under their cap, the deadline is shortened" jq -e '
	.admission | .handshakes_pending <= .handshakes_pending_max and
	.under_pressure and .handshake_timeout_s < 10' <<<"${STATUS:-null}"
t_check "what was shed at the caps is counted" jq -e "
	.admission.shed | .per_peer_cap + .total_cap >= $ATTACK" <<<"${STATUS:-null}"
status_within 2
t_check "proxy status text during the attack shows pending handshakes and what was shed" eval '
	grep -q "^handshakes pending [0-9]* of [0-9]* .*(under pressure)" <<<"$STATUS" &&
	grep -q "^shed: [0-9]* at the per-peer cap, [0-9]* at the total cap" <<<"$STATUS"'
n=$(flows_since_count "$id0" ".src_spiffe_id == \"$ID_FRONTEND\" and
	.verdict == \"allow\" and .state == \"closed\"")
t_check "the flow table still holds all $CALLS calls, both sides (${n:-no} flows)" \
	[ "${n:-0}" -ge $((2 * CALLS)) ]
t_check "shed connections that have a flow record (samples) say why" eval '
	flows_since "$id0" ".state == \"shed\"" |
	jq -e "length > 0 and all(.[]; .type == \"inbound\" and (.reason | startswith(\"shed: \")))"'
t_check "after the attack: nothing is pending within 5 s" attack_stop
r=$(calls 10)
t_check "after the attack: 10 of 10 calls" jq -e '.ok == 10' <<<"${r:-null}"

# ---- one address alone ---------------------------------------------------------------
before=$(ntd $N -j proxy status | jq .admission.shed.per_peer_cap)
t_check "one address opens 300 connections" attack one 300 "${SRCS[0]}"
status_within 2 -j
t_check "one address: held to the per-peer cap, and counted" jq -e "
	.admission | .handshakes_pending <= .handshakes_per_peer_max and
	.shed.per_peer_cap > $before" <<<"${STATUS:-null}"
r=$(calls 10)
t_check "one address: 10 of 10 calls meanwhile" jq -e '.ok == 10' <<<"${r:-null}"
t_check "one address: nothing is pending once it stops" attack_stop

secs=$((SECONDS - T_START))
logged=$(grep -c "proxy: shed" "${D_DIR[$N]}/log")
t_check "the log reports shedding, at most every 10 s ($logged lines in $secs s)" \
	[ "$logged" -ge 1 -a "$logged" -le $((secs / 10 + 2)) ]

printf '# runtime: %d s\n' $((SECONDS - T_START))
live_finish
