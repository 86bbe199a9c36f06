#!/usr/bin/env bash
# The attacks of issue #6 on a live kernel, each as the intruder ran it:
#
#   A  an unprivileged process in an enrolled pod squats the proxy's ports
#      (127.0.0.1:15001, [::]:15008) across a daemon restart: it never gets
#      a connection, the restarted daemon says so and serves all the same
#   B  a workload fills its network namespace's listener table: its own
#      namespace then fails closed, every other pod keeps its protection
#   C  listeners share a port: a co-located decoy opening and closing
#      127.0.0.1:8080, one SO_REUSEPORT worker of two exiting, a listen()
#      without bind() — no plaintext gets through; and the identity judged
#      (and presented) is that of the socket that gets the bytes
#   E  IPv6 plaintext takes the same inbound path as IPv4, and a refusal
#      while the daemon is down still leaves a flow record
#   G  strict lets nothing else out: datagrams only where an egress rule
#      allows, raw and ICMP sockets refused at socket(), an AF_PACKET
#      socket kills its caller
#
# Two pods (network namespaces joined by a veth pair) and one nametagd
# serving both, namespace "shop" strict. Everything is private and removed
# at the end, which is checked. Needs root.
set -u
cd "$(dirname "$0")/../.."
. tests/live/lib.sh
. tests/live/lib_mesh.sh
skip_unless_root
skip_unless_tools jq setpriv
live_init
write_helpers
write_mesh_helpers
N=$MESH_NODE
CLIENT=("$PY" "$LIVE_DIR/client.py")
ID_DECOY=spiffe://$MESH_TD/ns/shop/sa/decoy
# How many listeners the greedy workload of B opens: past its own table
# (256 by default) and past the 65,536 one node-wide map used to hold.
GREEDY=${ATTACK_LISTENERS:-66000}	# a few ports are taken by other servers

mesh_up_strict "8080, 8084, 8086"
mkcg "$MESH_NODE/shop/decoy" "$MESH_NODE/shop/squatter" "$MESH_NODE/shop/greedy"
CG_DECOY=$MESH_CG/shop/decoy
CG_SQUAT=$MESH_CG/shop/squatter
CG_GREEDY=$MESH_CG/shop/greedy
ip -n "$NSA" addr add fd00:87::1/64 dev "$VETH_A" nodad
ip -n "$NSB" addr add fd00:87::2/64 dev "$VETH_B" nodad
POLICY=$LIVE_DIR/policy.json
cat >"$POLICY" <<EOF
{"namespaces": {"shop": {"rules": [
  {"action": "allow", "from": ["$ID_FRONTEND"], "to": ["$ID_CATALOGUE"],
   "ports": [8080, 8084, 8086, 8087, 8088]},
  {"action": "allow", "from": ["*"], "to": ["$ID_DECOY"], "ports": [8085]}],
  "egress": [{"to": "$MESH_B/32", "ports": [5353]}]}}}
EOF
expect_ok "policy: frontend -> catalogue, anyone -> decoy, datagrams to B:5353" \
	ntd $N policy load "$POLICY"

# Helpers for this suite, beside lib.sh's server.py and client.py.
# squat.py ADDR PORT LOG: binds ADDR:PORT as soon as it is free, again and
# again (SO_REUSEADDR), listens, and logs every connection it gets.
cat >"$LIVE_DIR/squat.py" <<'PY'
import socket, sys, time, threading
addr, port, log = sys.argv[1], int(sys.argv[2]), open(sys.argv[3], "a", buffering=1)
fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
def serve(s):
    while True:
        c, peer = s.accept()
        log.write("got %s\n" % (peer,))
        try:
            c.sendall(b"squatter\n")
        except OSError:
            pass
        c.close()
print("ready", flush=True)
while True:
    s = socket.socket(fam)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind((addr, port))
        s.listen(64)
    except OSError:
        s.close()
        time.sleep(0.005)
        continue
    log.write("bound\n")
    serve(s)
PY
# churn.py ADDR PORT: listen, close, again, for ever.
cat >"$LIVE_DIR/churn.py" <<'PY'
import socket, sys, time
addr, port = sys.argv[1], int(sys.argv[2])
print("ready", flush=True)
while True:
    s = socket.socket(socket.AF_INET)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind((addr, port))
        s.listen(8)
        time.sleep(0.002)
    except OSError:
        pass
    s.close()
    time.sleep(0.002)
PY
# srvx.py MODE PORT LOG: server.py's echo with a twist: "reuseport" (two
# of them share MESH_B:PORT), "autobind" (listen() without bind(): prints
# the port the kernel picked), "dual" ([::]:PORT, IPv4 and IPv6).
cat >"$LIVE_DIR/srvx.py" <<'PY'
import os, socket, sys, threading
mode, port, log = sys.argv[1], int(sys.argv[2]), open(sys.argv[3], "a", buffering=1)
if mode == "dual":
    s = socket.socket(socket.AF_INET6)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", port))
else:
    s = socket.socket(socket.AF_INET)
    if mode == "reuseport":
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        s.bind((os.environ["ADDR"], port))
s.listen(64)
print("ready", s.getsockname()[1], flush=True)
def serve(c):
    with c:
        c.settimeout(5)
        line = c.makefile("rb").readline().decode().strip()
        log.write(line + "\n")
        c.sendall(("srv:%s\n" % line).encode())
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
# greedy.py ADDRS N: listens on N distinct address:port pairs (two
# addresses, as one has too few ports), from as many processes as the
# descriptor limit needs (this machine may not raise it), then reports
# the total and waits.
cat >"$LIVE_DIR/greedy.py" <<'PY'
import os, resource, socket, sys, threading
addrs, n = sys.argv[1].split(","), int(sys.argv[2])
per = resource.getrlimit(resource.RLIMIT_NOFILE)[1] - 64
resource.setrlimit(resource.RLIMIT_NOFILE, (per + 64, per + 64))
pairs = [(a, p) for a in addrs for p in range(10000, 65000)]
r, w = os.pipe()
kids = 0
for start in range(0, n, per):
    kids += 1
    if os.fork() == 0:
        os.close(r)
        socks = []
        # From its own slice on: an address:port still held by a socket
        # of an earlier phase (TIME_WAIT) is passed over, not counted short.
        for a, port in pairs[start:]:
            if len(socks) >= min(per, n - start):
                break
            s = socket.socket()
            try:
                s.bind((a, port))
                s.listen(1)
                socks.append(s)
            except OSError:
                s.close()
        os.write(w, b"%d\n" % len(socks))
        threading.Event().wait()
# The children keep the pipe open (they wait): read one line from each.
f = os.fdopen(r)
total = sum(int(f.readline()) for _ in range(kids))
print("ready", total, flush=True)
threading.Event().wait()
PY
# dgram.py KIND HOST PORT: one socket operation, one line: "ok" or "ERR errno".
cat >"$LIVE_DIR/dgram.py" <<'PY'
import socket, sys
kind, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
try:
    if kind == "sendto":
        s = socket.socket(fam, socket.SOCK_DGRAM)
        s.sendto(b"datagram\n", (host, port))
    elif kind == "connect":
        s = socket.socket(fam, socket.SOCK_DGRAM)
        s.connect((host, port))
        s.send(b"datagram\n")
    elif kind == "raw":
        s = socket.socket(fam, socket.SOCK_RAW, socket.IPPROTO_UDP)
    elif kind == "ping":
        s = socket.socket(fam, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
    elif kind == "packet":
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
    print("ok", flush=True)
except OSError as e:
    print("ERR", e.errno, flush=True)
PY
# handover.py HOST PORT CGROUP LOG: listens (in the caller's cgroup), then
# forks a child that serves on that socket once it has been moved into
# CGROUP (the cgroup path as /proc/self/cgroup shows it; the test moves
# it: `ip netns exec` hides cgroupfs), as a socket-activated service.
cat >"$LIVE_DIR/handover.py" <<'PY'
import os, socket, sys, threading, time
host, port, cg, log = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((host, port))
s.listen(64)
if os.fork():
    os.wait()
    sys.exit(0)
print("child", os.getpid(), flush=True)
while cg not in open("/proc/self/cgroup").read():
    time.sleep(0.05)
log = open(log, "a", buffering=1)
print("ready", port, os.getpid(), flush=True)
def serve(c):
    with c:
        c.settimeout(5)
        line = c.makefile("rb").readline().decode().strip()
        log.write(line + "\n")
        c.sendall(("srv:%s\n" % line).encode())
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
# udpsrv.py HOST PORT LOG: logs every datagram.
cat >"$LIVE_DIR/udpsrv.py" <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
log = open(sys.argv[3], "a", buffering=1)
print("ready", flush=True)
while True:
    b, peer = s.recvfrom(2048)
    log.write(b.decode(errors="replace"))
PY
chmod 644 "$LIVE_DIR"/*.py
: >"$LIVE_DIR/squat-a.log" >"$LIVE_DIR/squat-b.log"
chmod 666 "$LIVE_DIR"/squat-*.log

# jqr JSON FILTER: FILTER holds for JSON.
jqr() {
	jq -e "$2" <<<"${1:-null}" >/dev/null
}

# call CGROUP NETNS HOST PORT MSG: client.py as a process of CGROUP ("":
# outside the mesh); sets CPID, CPORT (or ERR) and CREPLY.
call() {
	local out
	out=$(in_pod "$1" "$2" "${CLIENT[@]}" "$3" "$4" "$5")
	read -r CPID CPORT CREPLY <<<"$out"
}

# spawn_srv NAME CGROUP NETNS CMD...: a server in the background; waits for
# "ready" in $LIVE_DIR/NAME.out; $SRV_PID is its pid, $SRV_PORT what it
# printed after "ready".
spawn_srv() {
	local name=$1 cg=$2 ns=$3 out=$LIVE_DIR/$1.out
	shift 3
	: >"$LIVE_DIR/$name.log"
	chmod 666 "$LIVE_DIR/$name.log"
	spawn_in_pod "$cg" "$ns" "$@" >"$out" 2>&1
	SRV_PID=$BG_PID
	wait_for "${SRV_WAIT:-15}" grep -q '^ready' "$out" || { cat "$out"; return 1; }
	SRV_PORT=$(awk '/^ready/ { print $2; exit }' "$out")
}

spawn_srv cat "$CG_CATALOGUE" "$NSB" "$PY" "$LIVE_DIR/server.py" "$MESH_B" 8080 \
	"$LIVE_DIR/cat.log" || t_fail "catalogue listens on $MESH_B:8080"

# ---- A. squatting the proxy's ports across a restart ------------------------------
spawn_srv squat-a "$CG_SQUAT" "$NSA" setpriv --reuid=65534 --regid=65534 \
	--clear-groups "$PY" "$LIVE_DIR/squat.py" 127.0.0.1 15001 "$LIVE_DIR/squat-a.log" ||
	t_fail "squatter on 127.0.0.1:15001 starts (uid 65534, pod A)"
spawn_srv squat-b "$CG_DECOY" "$NSB" setpriv --reuid=65534 --regid=65534 \
	--clear-groups "$PY" "$LIVE_DIR/squat.py" :: 15008 "$LIVE_DIR/squat-b.log" ||
	t_fail "squatter on [::]:15008 starts (uid 65534, pod B)"
call "$CG_FRONTEND" "$NSA" "$MESH_B" 8080 before-restart
t_check "A: before the restart frontend reaches catalogue" [ "$CREPLY" = srv:before-restart ]
t_check "A: daemon stops (SIGTERM)" stop_daemon $N
wait_for 5 grep -q bound "$LIVE_DIR/squat-a.log"
t_check "A: the squatter took 127.0.0.1:15001 while the daemon was down" \
	grep -q bound "$LIVE_DIR/squat-a.log"
call "$CG_FRONTEND" "$NSA" "$MESH_B" 8080 while-down
t_check "A: daemon down: frontend's connect is refused" [ "$CPORT" = ERR ]
t_check "A: daemon down: the squatter got nothing" not grep -q got "$LIVE_DIR/squat-a.log"
t_check "A: nametagd starts again" mesh_restart
t_check "A: the restarted daemon says the port is taken" \
	grep -q "port 15001 is taken by another socket" "${D_DIR[$N]}/log"
t_check "A: ... and proxy list shows where it listens instead" \
	eval 'ntd $N -j proxy list | jq -e "any(.[]; .outbound4_bound != 15001)" >/dev/null'
id0=$(last_flow_id)
call "$CG_FRONTEND" "$NSA" "$MESH_B" 8080 after-restart
t_check "A: after the restart frontend reaches catalogue over mTLS" [ "$CREPLY" = srv:after-restart ]
flow_wait "$id0" '.type == "outbound" and .state != "open"'
t_flow "A: the flow is mTLS to catalogue" ".dst_spiffe_id == \"$ID_CATALOGUE\" and .tls_version == \"TLSv1.3\""
t_check "A: the squatters never got a connection" \
	not grep -q got "$LIVE_DIR/squat-a.log" "$LIVE_DIR/squat-b.log"
kill_pid() { kill "$1" 2>/dev/null; wait "$1" 2>/dev/null; }

# ---- C. listeners sharing a port ---------------------------------------------------------
# 1. A co-located decoy opens and closes 127.0.0.1:8080 in a loop while
#    catalogue listens on MESH_B:8080.
spawn_srv churn "$CG_DECOY" "$NSB" "$PY" "$LIVE_DIR/churn.py" 127.0.0.1 8080 ||
	t_fail "C: decoy churns 127.0.0.1:8080"
leaked=0
for i in $(seq 1 40); do
	call "" "$NSA" "$MESH_B" 8080 "churn-$i"
	[ "${CREPLY#srv:}" != "$CREPLY" ] && leaked=$((leaked + 1))
done
kill_pid "$SRV_PID"
t_check "C: decoy churning 127.0.0.1:8080: 0 of 40 outside plaintext connects reached catalogue ($leaked did)" \
	[ "$leaked" = 0 ]
t_check "C: ... and catalogue's log has none of them" not grep -q churn- "$LIVE_DIR/cat.log"

# 2. Two SO_REUSEPORT workers on MESH_B:8084; one exits.
spawn_srv rp1 "$CG_CATALOGUE" "$NSB" env ADDR="$MESH_B" "$PY" "$LIVE_DIR/srvx.py" \
	reuseport 8084 "$LIVE_DIR/rp.log" && RP1=$SRV_PID
spawn_srv rp2 "$CG_CATALOGUE" "$NSB" env ADDR="$MESH_B" "$PY" "$LIVE_DIR/srvx.py" \
	reuseport 8084 "$LIVE_DIR/rp.log"
kill_pid "$RP1"
leaked=0
for i in $(seq 1 20); do
	call "" "$NSA" "$MESH_B" 8084 "rp-$i"
	[ "${CREPLY#srv:}" != "$CREPLY" ] && leaked=$((leaked + 1))
done
t_check "C: one SO_REUSEPORT worker gone: 0 of 20 plaintext connects reached the other ($leaked did)" \
	[ "$leaked" = 0 ]
call "$CG_FRONTEND" "$NSA" "$MESH_B" 8084 rp-mtls
t_check "C: ... and frontend still reaches it over mTLS" [ "$CREPLY" = srv:rp-mtls ]

# 3. listen() without bind(): the kernel picks the port.
spawn_srv auto "$CG_CATALOGUE" "$NSB" "$PY" "$LIVE_DIR/srvx.py" autobind 0 \
	"$LIVE_DIR/auto.log" || t_fail "C: autobind server listens"
AUTO_PORT=$SRV_PORT
call "" "$NSA" "$MESH_B" "$AUTO_PORT" autobind-plain
t_check "C: autobound listener (port $AUTO_PORT): plaintext refused at once" \
	not grep -q autobind-plain "$LIVE_DIR/auto.log"
t_check "C: ... the kernel recorded it at listen()" \
	eval 'ntd $N -j map dump listeners | jq -e --arg a "0.0.0.0:$AUTO_PORT" "any(.[].entries[]; .kind == \"address\" and .address == \$a)" >/dev/null'

# 4. A listening socket made outside the mesh and handed to an enrolled
#    process (as systemd socket activation does): it belongs to the
#    process that holds it. The kernel saw no enrolled listen(); the
#    daemon's listener sync finds it (every 10 s, or at a namespace change).
: >"$LIVE_DIR/handed.log"
chmod 666 "$LIVE_DIR/handed.log"
spawn_in_pod "" "$NSB" "$PY" "$LIVE_DIR/handover.py" "$MESH_B" 8088 \
	"$(cg_rel "$CG_CATALOGUE")" "$LIVE_DIR/handed.log" >"$LIVE_DIR/handed.out" 2>&1
SRV_PID=$BG_PID
wait_for 10 grep -q '^child' "$LIVE_DIR/handed.out" &&
	awk '/^child/ { print $2 }' "$LIVE_DIR/handed.out" >"$CG_CATALOGUE/cgroup.procs" &&
	wait_for 10 grep -q '^ready' "$LIVE_DIR/handed.out" ||
	t_fail "C: a socket made outside is handed to catalogue's cgroup"
expect_ok "C: a listener sync (namespace change)" ntd $N ns enable shop --mode strict
call "" "$NSA" "$MESH_B" 8088 handed-plain
t_check "C: handed-over listener: plaintext refused" not grep -q handed-plain "$LIVE_DIR/handed.log"
t_check "C: ... recorded for the holder's namespace" \
	eval 'ntd $N -j map dump listeners | jq -e --arg a "'"$MESH_B"':8088" "any(.[].entries[]; .kind == \"sock_diag\" and .address == \$a and .evidence.mode == \"strict\")" >/dev/null'
call "$CG_FRONTEND" "$NSA" "$MESH_B" 8088 handed-mtls
t_check "C: ... and reachable over mTLS as catalogue" [ "$CREPLY" = srv:handed-mtls ]
kill_pid "$(awk '/^ready/ { print $3; exit }' "$LIVE_DIR/handed.out")"
kill_pid "$SRV_PID"

# 5. Identity confusion: the decoy (anyone may call it) on 127.0.0.1:8085,
#    catalogue on MESH_B:8085; intruder dials MESH_B:8085.
spawn_srv cat85 "$CG_CATALOGUE" "$NSB" "$PY" "$LIVE_DIR/server.py" "$MESH_B" 8085 \
	"$LIVE_DIR/cat85.log"
spawn_srv decoy85 "$CG_DECOY" "$NSB" "$PY" "$LIVE_DIR/server.py" 127.0.0.1 8085 \
	"$LIVE_DIR/decoy85.log"
id0=$(last_flow_id)
call "$CG_INTRUDER" "$NSA" "$MESH_B" 8085 confused
t_check "C: intruder to MESH_B:8085 is denied (judged as catalogue, not the decoy)" \
	[ "${CREPLY#srv:}" = "$CREPLY" ]
t_check "C: ... catalogue never got the bytes" not grep -q confused "$LIVE_DIR/cat85.log"
flow_wait "$id0" '.type == "inbound" and .state != "open"'
t_flow "C: the inbound flow names catalogue, the socket that would get the bytes" \
	".dst_spiffe_id == \"$ID_CATALOGUE\" and .verdict == \"deny\""

# ---- E. IPv6 takes the same inbound path --------------------------------------------------
spawn_srv dual "$CG_CATALOGUE" "$NSB" "$PY" "$LIVE_DIR/srvx.py" dual 8086 \
	"$LIVE_DIR/dual.log" || t_fail "E: dual-stack catalogue on [::]:8086"
id0=$(last_flow_id)
call "" "$NSA" fd00:87::2 8086 v6-plain
t_check "E: strict: IPv6 plaintext from outside refused" not grep -q v6-plain "$LIVE_DIR/dual.log"
flow_wait "$id0" '.type == "inbound-plaintext"'
t_flow "E: ... recorded with the IPv6 caller" \
	".verdict == \"deny\" and (.src | startswith(\"[fd00:87::1]\")) and .dst_spiffe_id == \"$ID_CATALOGUE\""
call "$CG_FRONTEND" "$NSA" fd00:87::2 8086 v6-mtls
t_check "E: frontend over IPv6 reaches catalogue (mTLS)" [ "$CREPLY" = srv:v6-mtls ]
t_check "E: daemon stops" stop_daemon $N
call "" "$NSA" fd00:87::2 8086 v6-down
t_check "E: daemon down, strict: IPv6 plaintext refused" not grep -q v6-down "$LIVE_DIR/dual.log"
t_check "E: nametagd starts again" mesh_restart
t_check "E: the refusal while it was down is in the flows" \
	wait_for 5 flow_exists $N '.type == "inbound-refused" and (.src | startswith("[fd00:87::1]"))'

# ---- G. strict lets nothing else out ---------------------------------------------------------
spawn_srv udp "" "$NSB" "$PY" "$LIVE_DIR/udpsrv.py" 0.0.0.0 5353 "$LIVE_DIR/udp5353.log"
spawn_srv udp9 "" "$NSB" "$PY" "$LIVE_DIR/udpsrv.py" 0.0.0.0 9999 "$LIVE_DIR/udp9999.log"
dg() { in_pod "$1" "$NSA" "$PY" "$LIVE_DIR/dgram.py" "$2" "$3" "$4"; }
t_check "G: UDP sendto B:9999 (no egress rule) refused" [ "$(dg "$CG_FRONTEND" sendto "$MESH_B" 9999)" = "ERR 1" ]
t_check "G: UDP connect B:9999 refused" [ "$(dg "$CG_FRONTEND" connect "$MESH_B" 9999)" = "ERR 1" ]
t_check "G: UDP over IPv6 refused" [ "$(dg "$CG_FRONTEND" sendto fd00:87::2 9999)" = "ERR 1" ]
t_check "G: UDP to B:5353 (egress rule) goes" [ "$(dg "$CG_FRONTEND" sendto "$MESH_B" 5353)" = ok ]
t_check "G: ... and arrives" wait_for 5 grep -q datagram "$LIVE_DIR/udp5353.log"
t_check "G: B:9999 never got a datagram" not grep -q datagram "$LIVE_DIR/udp9999.log"
t_check "G: UDP on loopback stays allowed" [ "$(dg "$CG_FRONTEND" sendto 127.0.0.1 9999)" = ok ]
t_check "G: outside the mesh UDP is untouched" [ "$(dg "" sendto "$MESH_B" 9999)" = ok ]
t_check "G: refused datagrams are recorded" \
	wait_for 5 flow_exists $N '.type == "datagram-refused" and .dst == "'"$MESH_B"':9999"'
t_check "G: raw socket refused at socket()" [ "$(dg "$CG_FRONTEND" raw "$MESH_B" 0)" = "ERR 1" ]
ip netns exec "$NSA" sysctl -qw net.ipv4.ping_group_range="0 2147483647"
t_check "G: ICMP ping socket refused at socket()" [ "$(dg "$CG_FRONTEND" ping "$MESH_B" 0)" = "ERR 1" ]
in_pod "$CG_FRONTEND" "$NSA" "$PY" "$LIVE_DIR/dgram.py" packet x 0 >"$LIVE_DIR/packet.out" 2>&1
rc=$?
t_check "G: an AF_PACKET socket kills its caller (exit by SIGKILL, status $rc)" [ "$rc" = 137 ]
t_check "G: ... before it could use it" not grep -q ok "$LIVE_DIR/packet.out"
t_check "G: ... and the kill is recorded" \
	wait_for 5 flow_exists $N '.type == "socket-killed" and (.socket | startswith("family 17"))'
t_check "G: outside the mesh AF_PACKET is untouched" [ "$(dg "" packet x 0)" = ok ]

# ---- B. a full listener table fails closed, and only its own namespace -----------------
# The greedy workload of pod B listens on $GREEDY ports; pod B's table
# holds 256 listening addresses (--listeners-per-netns). A listener of another pod (pod A) started after
# it is recorded and protected.
SRV_WAIT=120 spawn_srv greedy "$CG_GREEDY" "$NSB" "$PY" "$LIVE_DIR/greedy.py" "$MESH_B,127.0.0.1" \
	"$GREEDY" || t_fail "B: greedy workload listens on many ports"
# A few ports are other servers'; past the old node-wide 65,536 is the point.
t_check "B: greedy workload holds more than 65,536 listeners ($SRV_PORT)" \
	[ "$SRV_PORT" -gt 65536 ]
t_check "B: the overflow is an error in the log" \
	wait_for 15 grep -q "listener records did not fit" "${D_DIR[$N]}/log"
t_check "B: ... and in proxy list" \
	eval 'ntd $N -j proxy list | jq -e "any(.[]; .listener_overflow > 0)" >/dev/null'
# Pod B failed closed: an outside caller reaches no greedy port, nor a
# listener outside the mesh in pod B.
spawn_srv plainb "" "$NSB" "$PY" "$LIVE_DIR/server.py" "$MESH_B" 7999 "$LIVE_DIR/plainb.log"
call "" "$NSA" "$MESH_B" 64000 greedy-port
t_check "B: overflowed pod B: an unrecorded enrolled port refuses plaintext" [ "$CPORT" = ERR ]
call "" "$NSA" "$MESH_B" 7999 overflow-plain
t_check "B: overflowed pod B: every unrecorded SYN is refused (fail closed)" \
	not grep -q overflow-plain "$LIVE_DIR/plainb.log"
# Pod A is untouched: a workload listening there after the flood.
spawn_srv cata "$CG_CATALOGUE" "$NSA" "$PY" "$LIVE_DIR/server.py" "$MESH_A" 8087 \
	"$LIVE_DIR/cata.log"
t_check "B: pod A's new listener is recorded" \
	eval 'ntd $N -j map dump listeners | jq -e --arg a "'"$MESH_A"':8087" "any(.[].entries[]; .kind == \"address\" and .address == \$a)" >/dev/null'
call "" "$NSB" "$MESH_A" 8087 plain-to-a
t_check "B: ... plaintext to it is refused in strict" not grep -q plain-to-a "$LIVE_DIR/cata.log"

live_finish
