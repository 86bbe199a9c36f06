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
. tests/vm/lib.sh
vm_skip_unless_ktls
vm_pods "ntvm$$" 98 shop/client shop/server shop/intruder
mkdir -p "$D/www"

"$NTD" --state-dir "$D/state" --run-dir "$D/run" --cgroup-root "$CG" \
	--bpffs "$D/bpffs" --trust-domain vm.test >"$D/nametagd.log" 2>&1 &
pids+=($!)
vm_daemon_up
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
