#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# An upgrade in place on a kernel with kTLS (run inside the VM by
# run-in-vm.sh; docs/process-model.md "Upgrade in place", step 3): the old
# nametagd hands its kTLS connections over to the new one instead of
# draining them. Two network namespaces joined by veth, one nametagd
# serving both, a namespace enrolled strict. Across `nametag daemon
# upgrade`:
#   - a long paced transfer, echoed back, over a kTLS-offloaded proxied
#     connection: byte-identical both ways, no reset; the new process's
#     flow list shows it (both its ends, handed over by the old pid), its
#     byte counts include what the old process moved; the old process
#     exits (status 0) while the transfer still runs, long before its
#     10 min drain deadline;
#   - idle held connections wake up after the upgrade: all answered;
#   - a held connection the new process's policy denies (its state dir
#     changed behind the old one's back) is ended, its flow says why.
# Userspace-TLS connections still drain in the old process:
# tests/live/test_upgrade.sh (the host has no kTLS).
# On a kernel without kTLS it says so and skips (exit 0, 1 skipped).
set -u
cd "$(dirname "$0")/../.."
T_NAME=vm/test_upgrade_ktls
. tests/vm/lib.sh
wait_for() { local n=$1; shift; for _ in $(seq $((n * 10))); do "$@" && return 0; sleep 0.1; done; return 1; }
not() { ! "$@"; }
vm_skip_unless_ktls
vm_pods "ntup$$" 97 shop/client shop/server

"$NTD" --state-dir "$D/state" --run-dir "$D/run" --cgroup-root "$CG" \
	--bpffs "$D/bpffs" --trust-domain vm.test --drain-timeout 10m \
	>"$D/nametagd.log" 2>&1 &
OLD=$!
pids+=("$OLD")
vm_daemon_up
N ns add shop --cgroup "$CG/shop" >/dev/null
policy() {
	cat <<EOF
{"namespaces": {"shop": {"rules": [{"action": "allow",
  "from": ["spiffe://vm.test/ns/shop/sa/client"],
  "to": ["spiffe://vm.test/ns/shop/sa/server"], "ports": [$1]}]}}}
EOF
}
policy "8080, 8081" >"$D/policy.json"
N policy load "$D/policy.json" >/dev/null
N ns enable shop --mode strict >/dev/null

# echo.py PORT...: every connection's bytes back as they come, until EOF.
cat >"$D/echo.py" <<'EOF'
import socket, sys, threading
def serve(c):
    try:
        while (b := c.recv(65536)):
            c.sendall(b)
        c.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    c.close()
def listen(port):
    s = socket.create_server(("10.97.0.2", port))
    while True:
        c, _ = s.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()
for p in sys.argv[1:]:
    threading.Thread(target=listen, args=(int(p),), daemon=True).start()
threading.Event().wait()
EOF
# stream.py SECONDS: one connection; for SECONDS, 8 KiB every 25 ms (the
# pace, not the VM's CPU, sets its length), read back as it echoes; then a
# half-close and the rest. One JSON line: sent, both digests equal, reset.
cat >"$D/stream.py" <<'EOF'
import hashlib, json, os, socket, sys, threading, time
secs = float(sys.argv[1])
s = socket.create_connection(("10.97.0.2", 8080), timeout=60)
print("connected", flush=True)
tx, rx, got, res = hashlib.sha256(), hashlib.sha256(), [0], {}
def reader():
    try:
        while (b := s.recv(65536)):
            rx.update(b); got[0] += len(b)
    except OSError as e:
        res["error"] = repr(e)
t = threading.Thread(target=reader); t.start()
sent, start = 0, time.monotonic()
try:
    while time.monotonic() - start < secs:
        b = os.urandom(8192); s.sendall(b); tx.update(b); sent += len(b)
        time.sleep(0.025)
    s.shutdown(socket.SHUT_WR)
except OSError as e:
    res["error"] = repr(e)
t.join()
print(json.dumps(dict(sent=sent, got=got[0], ok=tx.digest() == rx.digest() and sent == got[0],
                      reset="Reset" in res.get("error", ""), error=res.get("error"))), flush=True)
EOF
# hold.py PORT K GOFILE: K idle connections ("held K"); once GOFILE
# exists, on each some bytes, a half-close and the echo. One JSON line.
cat >"$D/hold.py" <<'EOF'
import json, os, socket, sys, time
port, k, go = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
socks = [socket.create_connection(("10.97.0.2", port), timeout=30) for _ in range(k)]
print("held %d" % len(socks), flush=True)
while not os.path.exists(go):
    time.sleep(0.05)
ok = resets = eofs = 0
for i, s in enumerate(socks):
    data = b"held-%d-" % i * 1000
    try:
        s.sendall(data); s.shutdown(socket.SHUT_WR)
        got = b""
        while (b := s.recv(65536)):
            got += b
        if got == data: ok += 1
        elif not got: eofs += 1
    except OSError:    # reset, or written to after one
        resets += 1
print(json.dumps(dict(ok=ok, resets=resets, eofs=eofs)), flush=True)
EOF
(in_cg shop/server "$B" python3 "$D/echo.py" 8080 8081) &
pids+=($!)
for _ in $(seq 100); do ip netns exec "$B" ss -ltn | grep -q ':8081 ' && break; sleep 0.1; done
de0=$(counter TlsDecryptError)

GO=$D/go
(in_cg shop/client "$A" python3 "$D/hold.py" 8080 4 "$GO" >"$D/hold.out" 2>&1) &
HOLD=$!
(in_cg shop/client "$A" python3 "$D/hold.py" 8081 1 "$GO" >"$D/deny.out" 2>&1) &
DENY=$!
(in_cg shop/client "$A" python3 "$D/stream.py" 45 >"$D/stream.out" 2>&1) &
STREAM=$!
pids+=("$HOLD" "$DENY" "$STREAM")
check "4 + 1 connections held open" wait_for 60 eval 'grep -q "held 4" "$D/hold.out" && grep -q "held 1" "$D/deny.out"'
check "the transfer is under way" wait_for 60 grep -q connected "$D/stream.out"
# Every proxied connection relays (10 + 2 for the transfer), on kTLS.
relaying() {
	N -j flow list | jq -e '[.[] | select(.state == "open" and .ktls_tx and .ktls_rx and .splice)] | length >= 12' >/dev/null
}
check "every connection relays over kTLS before the upgrade" wait_for 60 relaying
sleep 3

# The new process's policy leaves 8081 out: its state dir changed behind
# the old process's back (no reload), as a new release's could.
policy 8080 >"$D/state/policy.json"
if OUT=$(N -j daemon upgrade 2>&1); then ok "nametag daemon upgrade"; else fail "nametag daemon upgrade" "$OUT"; fi
T0=$(date +%s)
NEW=$(jq -r '.pid // empty' <<<"$OUT" 2>/dev/null)
[ -n "$NEW" ] && pids+=("$NEW")
check "the upgrade names a new pid" test -n "$NEW" -a "$NEW" != "$OLD"
check "the old process exits once its userspace part is done" wait_for 30 not kill -0 "$OLD"
T1=$(date +%s)
st=running
kill -0 "$OLD" 2>/dev/null || { wait "$OLD"; st=$?; }
check "... with status 0 ($st)" test "$st" = 0
echo "     old process gone $((T1 - T0)) s after the upgrade (drain deadline 600 s)"
check "... while the transfer still runs" kill -0 "$STREAM"
check "the old process logged the hand-over" grep -qE "nametagd\[$OLD\] info: upgrade: 12 kTLS connections handed over to pid $NEW, 0 left" "$D/nametagd.log"
check "the new process logged what it adopted" grep -qE "nametagd\[$NEW\] info: takeover: 1[01] kTLS connections adopted from pid $OLD, 1 ended by the policy in force, [01] reset meanwhile, 0 refused" "$D/nametagd.log"

N -j flow list >"$D/flows-mid.json"
check "the new process serves the transfer: both ends, handed over by the old pid" jq -e --argjson old "$OLD" \
	'[.[] | select(.handed_over_from == $old and .state == "open" and .dst_spiffe_id == "spiffe://vm.test/ns/shop/sa/server" and .ktls_tx and .ktls_rx and .splice)] | map(.type) | (index("outbound") != null) and (index("inbound") != null)' "$D/flows-mid.json"
check "the denied connection's flow says why" jq -e --argjson old "$OLD" \
	'[.[] | select(.handed_over_from == $old and .type == "inbound" and .state == "closed by policy")] | length == 1' "$D/flows-mid.json"
touch "$GO"
wait "$DENY"
check "the connection the new policy denies is ended by a reset ($(tail -n 1 "$D/deny.out"))" \
	jq -e '.ok == 0 and .resets == 1' <<<"$(tail -n 1 "$D/deny.out")"

wait "$STREAM"
SOUT=$(tail -n 1 "$D/stream.out")
check "the transfer across the upgrade: byte-identical both ways, no reset ($SOUT)" jq -e '.ok and (.reset | not) and .error == null and .sent > 1000000' <<<"$SOUT"
wait "$HOLD"
HOUT=$(tail -n 1 "$D/hold.out")
check "held connections answered after the upgrade, no reset ($HOUT)" jq -e '.ok == 4 and .resets == 0' <<<"$HOUT"

sent=$(jq .sent <<<"$SOUT")
N -j flow list >"$D/flows.json"
check "the transfer's inbound flow counts every byte, the old process's too" jq -e --argjson old "$OLD" --argjson n "${sent:-0}" \
	'[.[] | select(.handed_over_from == $old and .type == "inbound" and .state == "closed" and .bytes_up == $n and .bytes_down == $n)] | length == 1' "$D/flows.json"
check "a new connection goes through the new process" test "$(in_cg shop/client "$A" python3 "$D/stream.py" 1 | tail -n 1 | jq .ok)" = true
de1=$(counter TlsDecryptError)
check "TlsDecryptError stayed" test "${de1:-0}" -eq "${de0:-0}"
if [ "$failed" -ne 0 ]; then
	tail -30 "$D/nametagd.log"
	jq -c '.[] | {id, type, dst, state, reason, handed_over_from, ktls_tx, bytes_up, bytes_down}' "$D/flows.json" 2>/dev/null | tail -30
fi
kill "$NEW" 2>/dev/null
wait_for 10 not kill -0 "$NEW" 2>/dev/null
done_
