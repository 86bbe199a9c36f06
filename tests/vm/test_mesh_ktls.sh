#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The mesh on a kernel with kTLS (run inside the VM by run-in-vm.sh): two
# network namespaces joined by veth, a namespace enrolled strict with an
# allow rule, a 4 MiB download and a 4 MiB upload through the node proxies,
# then one-byte messages on connections that reuse one mesh connection
# (NT2 frames through kTLS). Asserts the bytes arrive intact, both flows
# say kTLS carried both
# directions, /proc/net/tls_stat TlsTxSw and TlsRxSw rose and
# TlsDecryptError did not, and a denied caller still fails.
# On a kernel without kTLS it says so and skips (exit 0, 1 skipped).
set -u
cd "$(dirname "$0")/../.."
T_NAME=vm/test_mesh_ktls
NT=${NAMETAG:-build/nametag}
NTD=${NAMETAGD:-build/nametagd}
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok   $T_NAME/$1"; }
fail() { failed=$((failed + 1)); echo "FAIL $T_NAME/$1"; [ $# -gt 1 ] && echo "    $2"; }
check() { local name=$1; shift; if "$@" >/dev/null 2>&1; then ok "$name"; else fail "$name" "$*"; fi; }
skipped=0
done_() { echo "$T_NAME: $passed passed, $failed failed, $skipped skipped"; [ "$failed" -eq 0 ]; }
# /proc/net/tls_stat is per network namespace: add up both pods'.
counter() {
	{ ip netns exec "$A" cat /proc/net/tls_stat
	  ip netns exec "$B" cat /proc/net/tls_stat; } 2>/dev/null |
		awk -v k="$1" '$1 == k { n += $2 } END { print n + 0 }'
}

if ! "$NT" -j feature probe 2>/dev/null | jq -e '.ktls.available' >/dev/null; then
	echo "skip: this kernel has no kTLS (tests/vm/run-in-vm.sh runs me on one)"
	skipped=1
	done_
	exit 0
fi

TAG=ntvm$$
D=$(mktemp -d /tmp/nametag-vm.XXXXXX)
CG2=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
CG=$CG2/$TAG
A=${TAG}a
B=${TAG}b
pids=()

cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	"$NTD" --cleanup --bpffs "$D/bpffs" >/dev/null 2>&1
	umount "$D/bpffs" 2>/dev/null
	ip netns del "$A" 2>/dev/null
	ip netns del "$B" 2>/dev/null
	for p in $(find "$CG" -name cgroup.procs -exec cat {} + 2>/dev/null); do
		kill -9 "$p" 2>/dev/null
	done
	sleep 0.2
	find "$CG" -depth -type d -exec rmdir {} \; 2>/dev/null
	rm -rf "$D"
}
trap cleanup EXIT

# The pod's netns first, then its cgroup: nametagd serves the netns a
# process is in the moment it joins an enrolled cgroup.
in_cg() {
	local g=$1 ns=$2
	shift 2
	nsenter --net="/run/netns/$ns" bash -c \
		'echo $$ >"$0/cgroup.procs" && exec ip netns exec "$@"' "$CG/$g" "$ns" "$@"
}

mkdir -p "$CG"/shop/{client,server,intruder} "$D/bpffs" "$D/www"
mount -t bpf bpf "$D/bpffs"
ip netns add "$A" && ip netns add "$B"
ip link add "${TAG}x" type veth peer name "${TAG}y"
ip link set "${TAG}x" netns "$A" && ip link set "${TAG}y" netns "$B"
ip -n "$A" addr add 10.98.0.1/24 dev "${TAG}x" && ip -n "$B" addr add 10.98.0.2/24 dev "${TAG}y"
ip -n "$A" link set lo up && ip -n "$B" link set lo up
ip -n "$A" link set "${TAG}x" up && ip -n "$B" link set "${TAG}y" up

"$NTD" --state-dir "$D/state" --run-dir "$D/run" --cgroup-root "$CG" \
	--bpffs "$D/bpffs" --trust-domain vm.test >"$D/nametagd.log" 2>&1 &
pids+=($!)
N() { "$NT" --run-dir "$D/run" --state-dir "$D/state" "$@"; }
for _ in $(seq 100); do [ -S "$D/run/nametagd.sock" ] && break; sleep 0.1; done
check "daemon up" test -S "$D/run/nametagd.sock"
N ns add shop --cgroup "$CG/shop" >/dev/null
cat >"$D/policy.json" <<'EOF'
{"namespaces": {"shop": {"rules": [{"action": "allow",
  "from": ["spiffe://vm.test/ns/shop/sa/client"],
  "to": ["spiffe://vm.test/ns/shop/sa/server"], "ports": [8080, 8081]}]}}}
EOF
N policy load "$D/policy.json" >/dev/null
N ns enable shop --mode strict >/dev/null

head -c 4194304 /dev/urandom >"$D/www/blob"
cat >"$D/server.py" <<'EOF'
import hashlib, http.server, sys
class H(http.server.SimpleHTTPRequestHandler):
    def do_PUT(self):
        n = int(self.headers["Content-Length"]); h = hashlib.sha256(); left = n
        while left:
            chunk = self.rfile.read(min(left, 65536)); h.update(chunk); left -= len(chunk)
        body = h.hexdigest().encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("10.98.0.2", 8080), H).serve_forever()
EOF
(cd "$D/www" && in_cg shop/server "$B" python3 "$D/server.py") &
pids+=($!)
# 8081 echoes byte by byte: every NT2 DATA frame is one byte long.
cat >"$D/echo.py" <<'EOF'
import socket
s = socket.create_server(("10.98.0.2", 8081))
while True:
    c, _ = s.accept()
    while (b := c.recv(1)):
        c.sendall(b)
    c.close()
EOF
cat >"$D/ping.py" <<'EOF'
import socket
for _ in range(5):
    c = socket.create_connection(("10.98.0.2", 8081), timeout=30)
    for b in b"nametag":
        c.sendall(bytes([b]))
        assert c.recv(1) == bytes([b])
    c.shutdown(socket.SHUT_WR)
    assert c.recv(1) == b""
    c.close()
print("pong")
EOF
in_cg shop/server "$B" python3 "$D/echo.py" &
pids+=($!)
for _ in $(seq 100); do ip netns exec "$B" ss -ltn | grep -q ':8080 ' && break; sleep 0.1; done
for _ in $(seq 100); do ip netns exec "$B" ss -ltn | grep -q ':8081 ' && break; sleep 0.1; done

tx0=$(counter TlsTxSw); rx0=$(counter TlsRxSw); de0=$(counter TlsDecryptError)
in_cg shop/client "$A" curl -sS -m 60 -o "$D/got" http://10.98.0.2:8080/blob
check "4 MiB download arrives intact" cmp -s "$D/got" "$D/www/blob"
sum=$(in_cg shop/client "$A" curl -sS -m 60 -T "$D/www/blob" http://10.98.0.2:8080/up)
check "4 MiB upload arrives intact" test "$sum" = "$(sha256sum <"$D/www/blob" | cut -d' ' -f1)"
if in_cg shop/intruder "$A" curl -sS -m 10 -o /dev/null http://10.98.0.2:8080/blob; then
	fail "denied caller fails"
else
	ok "denied caller fails"
fi

check "one-byte messages on 5 connections in a row, echoed" \
	test "$(in_cg shop/client "$A" python3 "$D/ping.py" 2>&1)" = pong

N -j flow list >"$D/flows.json"
check "the later ones reused one mesh connection, kTLS both ways" jq -e '[.[] | select(.type == "outbound" and .dst == "10.98.0.2:8081" and .state == "closed" and .stream > 1 and .ktls_tx and .ktls_rx)] | length >= 3' "$D/flows.json"
check "outbound flows: kTLS both ways" jq -e '[.[] | select(.type == "outbound" and .verdict == "allow")] | length >= 2 and all(.ktls_tx and .ktls_rx)' "$D/flows.json"
check "inbound flows: kTLS both ways" jq -e '[.[] | select(.type == "inbound" and .verdict == "allow")] | length >= 2 and all(.ktls_tx and .ktls_rx)' "$D/flows.json"
check "allowed flows moved their bytes with splice()" jq -e '[.[] | select(.verdict == "allow" and .state == "closed")] | length >= 4 and all(.splice)' "$D/flows.json"
check "flows carried the bytes" jq -e '[.[] | select(.type == "inbound" and .verdict == "allow") | .bytes_up + .bytes_down] | add >= 8388608' "$D/flows.json"
tx1=$(counter TlsTxSw); rx1=$(counter TlsRxSw); de1=$(counter TlsDecryptError)
echo "     tls_stat: TlsTxSw ${tx0:-0}->$tx1 TlsRxSw ${rx0:-0}->$rx1 TlsDecryptError ${de0:-0}->$de1"
check "TlsTxSw rose" test "${tx1:-0}" -gt "${tx0:-0}"
check "TlsRxSw rose" test "${rx1:-0}" -gt "${rx0:-0}"
check "TlsDecryptError stayed" test "${de1:-0}" -eq "${de0:-0}"
[ "$failed" -eq 0 ] || { tail -20 "$D/nametagd.log"; jq -c '.[] | {type, verdict, reason, state, ktls_tx}' "$D/flows.json"; }
done_
