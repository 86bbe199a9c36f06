# shellcheck shell=bash
# The mesh on a live kernel: what the mTLS suites share, on top of lib.sh.
#
# mesh_up builds two "pods" (network namespaces A and B joined by a veth
# pair), one nametagd on a private cgroup subtree serving both, and a
# namespace "shop" with frontend and intruder (in A) and catalogue (in B);
# "outside" is a cgroup below the managed root that no namespace enrolls.
# The CA is made before the daemon starts, with a short SVID lifetime, so
# rotation happens within a test run. Python helpers (a server with one
# behaviour per port, a client, a pcap reader) are written into $LIVE_DIR.
# Sourced after lib.sh.

MESH_TD=mesh.nametag.test
MESH_A=10.87.0.1
MESH_B=10.87.0.2
MESH_SVID_TTL=${MESH_SVID_TTL:-20s}
MESH_CA_TTL=${MESH_CA_TTL:-1h}
ID_FRONTEND=spiffe://$MESH_TD/ns/shop/sa/frontend
ID_INTRUDER=spiffe://$MESH_TD/ns/shop/sa/intruder
ID_CATALOGUE=spiffe://$MESH_TD/ns/shop/sa/catalogue
MESH_NODE=n1

# mesh_up: topology, CA, daemon, enrolment (shop stays "off" until the
# suite loads a policy and picks a mode). Sets NSA, NSB, VETH_A, VETH_B,
# MESH_CG (the managed root) and CG_FRONTEND, CG_INTRUDER, CG_CATALOGUE,
# CG_OUTSIDE.
mesh_up() {
	local st
	MESH_CG=$LIVE_CG/$MESH_NODE
	mkcg "$MESH_NODE/shop/frontend" "$MESH_NODE/shop/intruder" \
		"$MESH_NODE/shop/catalogue" "$MESH_NODE/outside"
	CG_FRONTEND=$MESH_CG/shop/frontend
	CG_INTRUDER=$MESH_CG/shop/intruder
	CG_CATALOGUE=$MESH_CG/shop/catalogue
	CG_OUTSIDE=$MESH_CG/outside
	netns_add NSA a && netns_add NSB b || return 1
	veth_pair "$NSA" "$MESH_A/24" "$NSB" "$MESH_B/24" || return 1
	VETH_A=$(netns_veth "$NSA")
	VETH_B=$(netns_veth "$NSB")
	st=$LIVE_DIR/$MESH_NODE/state
	mkdir -p "$LIVE_DIR/$MESH_NODE"
	if ! "$NAMETAG" --state-dir "$st" ca init --trust-domain "$MESH_TD" \
		--ttl "$MESH_CA_TTL" --svid-ttl "$MESH_SVID_TTL" \
		>"$LIVE_DIR/$MESH_NODE/ca-init.out" 2>&1; then
		cat "$LIVE_DIR/$MESH_NODE/ca-init.out"
		return 1
	fi
	# No `proxy add`: each pod is served from the moment an enrolled
	# process is in it (docs/datapath.md).
	start_daemon "$MESH_NODE" "$MESH_CG" "$MESH_TD" || return 1
	ntd "$MESH_NODE" ns add shop --cgroup "$MESH_CG/shop" >/dev/null
}

# mesh_up_strict PORTS: mesh_up, then a policy allowing frontend ->
# catalogue on the comma-separated PORTS (its file is $POLICY) and shop
# strict; a mesh that does not come up ends the suite.
mesh_up_strict() {
	if ! mesh_up; then
		t_fail "the mesh comes up (two pods, nametagd, shop enrolled)"
		live_finish
		exit 1
	fi
	POLICY=$LIVE_DIR/policy.json
	mesh_policy "$POLICY" "$1"
	expect_ok "policy: frontend may call catalogue" ntd "$MESH_NODE" policy load "$POLICY"
	expect_ok "shop is strict" ntd "$MESH_NODE" ns enable shop --mode strict
}

# netns_veth NS: the name of the (one) veth interface inside NS.
netns_veth() {
	ip -n "$1" -o link show type veth | awk -F': ' '{ sub(/@.*/, "", $2); print $2; exit }'
}

# mesh_policy FILE PORTS: a policy allowing frontend -> catalogue on the
# comma-separated PORTS, nothing else.
mesh_policy() {
	cat >"$1" <<EOF
{"namespaces": {"shop": {"rules": [
  {"action": "allow", "from": ["$ID_FRONTEND"], "to": ["$ID_CATALOGUE"],
   "ports": [$2]}]}}}
EOF
}

# mesh_restart: starts nametagd again with the same directories and
# options (lib.sh's launch_daemon waits for an answer, not for the socket
# file a killed daemon leaves behind).
mesh_restart() {
	launch_daemon "$MESH_NODE"
}

# in_pod CGROUP NETNS CMD...: CMD as a process of CGROUP inside NETNS (the
# cgroup is joined first: `ip netns exec` remounts /sys). CGROUP "" leaves
# the caller's cgroup, which is outside the managed root.
in_pod() {
	local cg=$1 ns=$2
	shift 2
	if [ -n "$cg" ]; then
		run_in_cgroup "$cg" ip netns exec "$ns" "$@"
	else
		ip netns exec "$ns" "$@"
	fi
}

# spawn_in_pod CGROUP NETNS CMD...: in_pod in the background, remembered
# for the cleanup; $BG_PID is CMD's pid.
spawn_in_pod() {
	local cg=$1 ns=$2
	shift 2
	if [ -n "$cg" ]; then
		spawn_in_cgroup "$cg" ip netns exec "$ns" "$@"
	else
		spawn ip netns exec "$ns" "$@"
	fi
}

# --- flows ------------------------------------------------------------------------

# last_flow_id: the id of the newest flow (0 if none).
last_flow_id() {
	flows "$MESH_NODE" | jq '[.[].id] | max // 0'
}

# flows_since ID FILTER: flows newer than ID that match the select() filter,
# as one JSON array.
flows_since() {
	flows "$MESH_NODE" | jq -c --argjson id "$1" "[.[] | select(.id > \$id) | select($2)]"
}

# flows_since_count ID FILTER
flows_since_count() {
	flows_since "$1" "$2" | jq length
}

# flows_since_any ID FILTER: some flow newer than ID matches FILTER.
flows_since_any() {
	[ "$(flows_since_count "$1" "$2")" -gt 0 ]
}

# flow_wait ID FILTER [TIMEOUT]: waits for a flow newer than ID matching
# FILTER; leaves the newest such flow in $FLOW ("null" if none came).
# (Not `wait_for eval '... "$1" ...'`: eval runs in wait_for, where $1 is
# "eval", so that form never matched and always waited out the timeout.)
flow_wait() {
	wait_for "${3:-5}" flows_since_any "$1" "$2"
	FLOW=$(flows_since "$1" "$2" | jq -c 'last')
}

# not CMD...: CMD fails (for t_check, which runs a command, not a pipeline).
not() {
	! "$@"
}

# jqf FILTER: FILTER holds for $FLOW.
jqf() {
	jq -e "$1" <<<"${FLOW:-null}" >/dev/null
}

# t_flow NAME FILTER: a case that FILTER holds for $FLOW; shows the flow
# when it does not.
t_flow() {
	if jqf "$2"; then
		t_ok "$1"
	else
		t_fail "$1" "want: $2" "flow: ${FLOW:-none}"
	fi
}

# --- packet capture -------------------------------------------------------------------

# cap_start FILE [NETNS VETH ADDR]: tcpdump on a pod's veth (pod B's by
# default) writing FILE, packet-buffered; waits until it is listening.
# ADDR is that pod's address, where cap_stop sends its marker.
# $CAP_PID is its pid, $CAP_FILE the file.
cap_start() {
	CAP_FILE=$1
	local ns=${2:-$NSB} veth=${3:-$VETH_B}
	CAP_ADDR=${4:-$MESH_B}
	spawn ip netns exec "$ns" tcpdump -i "$veth" -U -n -s 0 -w "$CAP_FILE" \
		tcp or udp port 9 2>"$CAP_FILE.err"
	CAP_PID=$BG_PID
	wait_for 5 grep -q 'listening on' "$CAP_FILE.err"
}

# cap_stop: stops the capture. tcpdump may not have read the last packets
# from its ring when a signal comes, so a marker datagram goes over the
# veth last and the capture stops once the marker is in the file: every
# packet before it is in there too. Fails if the marker never showed (the
# capture was not running: an empty file would prove nothing).
cap_stop() {
	local mark=capture-end-$RANDOM$RANDOM rc=0
	ip netns exec "$NSA" bash -c 'echo "$1" >/dev/udp/'"$CAP_ADDR"'/9' _ "$mark"
	wait_for 5 pcap_has "$CAP_FILE" "$mark" || rc=1
	kill -INT "$CAP_PID" 2>/dev/null
	wait "$CAP_PID" 2>/dev/null
	return $rc
}

# t_pcap NAME FILTER: jq FILTER holds for the capture summary in $PC
# (from pcap_tcp); on failure the summary is printed, so a failure in CI
# says which stream broke the rule.
t_pcap() {
	if jq -e "$2" <<<"$PC" >/dev/null 2>&1; then
		t_ok "$1"
	else
		t_fail "$1" "condition failed: $2" "capture: $(jq -c . <<<"$PC" 2>&1 | head -c 4000)"
	fi
}

# pcap_has FILE STRING: the raw capture bytes contain STRING.
pcap_has() {
	LC_ALL=C grep -a -q -F -- "$2" "$1"
}

# --- openssl ------------------------------------------------------------------------

# ca_current NAME: the current CA generation's serial (STATE/ca/SERIAL.*).
ca_current() {
	jq -r .current "${D_DIR[$1]}/state/ca/ca.json"
}

# sign_svid OUT ID START END: an X.509-SVID for ID signed by the node's
# current CA key with the openssl CLI, valid from START to END
# (YYYYMMDDHHMMSSZ), with the SVID profile (one URI SAN, critical
# digitalSignature key usage, cA=false, both EKUs). OUT.crt, OUT.key.
# $SIGN_KU, if set, replaces the key usage (a certificate of the wrong
# profile).
sign_svid() {
	local out=$1 id=$2 start=$3 end=$4 st ca w
	st=${D_DIR[$MESH_NODE]}/state
	ca=$(ca_current "$MESH_NODE")
	w=$out.ca
	mkdir -p "$w/certs"
	: >"$w/index.txt"
	od -An -N16 -tx1 /dev/urandom | tr -d ' \n' | sed 's/^./4/' >"$w/serial"
	cat >"$w/ca.cnf" <<EOF
[ca]
default_ca = nt
[nt]
database = $w/index.txt
new_certs_dir = $w/certs
serial = $w/serial
default_md = sha256
policy = any
unique_subject = no
[any]
organizationName = optional
[leaf]
basicConstraints = critical, CA:FALSE
keyUsage = ${SIGN_KU:-critical, digitalSignature}
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = URI:$id
EOF
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$out.key" -subj /O=nametag-test -out "$w/req.csr" \
		2>"$w/err" &&
	openssl ca -batch -config "$w/ca.cnf" -extensions leaf -notext \
		-cert "$st/ca/$ca.crt" -keyfile "$st/ca/$ca.key" \
		-startdate "$start" -enddate "$end" -in "$w/req.csr" \
		-out "$out.crt" >>"$w/err" 2>&1 || { cat "$w/err"; return 1; }
}

# utc OFFSET: `date -d` OFFSET from now as YYYYMMDDHHMMSSZ.
utc() {
	date -u -d "$1" +%Y%m%d%H%M%SZ
}

# mesh_sclient OUTFILE ARGS...: openssl s_client from pod A (outside the
# mesh) straight to catalogue's node proxy on the mesh port, asking for
# port 8080; sends an HTTP request and reads until the server closes
# (-ign_eof). stdout and stderr go to OUTFILE. Returns s_client's status.
mesh_sclient() {
	local out=$1
	shift
	timeout 10 ip netns exec "$NSA" openssl s_client -connect "$MESH_B:15008" \
		-servername p8080.nametag.invalid -verify_quiet -ign_eof "$@" \
		< <(printf 'GET %s HTTP/1.0\r\n\r\n' "${SCLIENT_PATH:-/}") >"$out" 2>&1
}

# --- python helpers -------------------------------------------------------------------

write_mesh_helpers() {
	# meshsrv.py HOST PORT:MODE...: one listener per port.
	#   sink    reads to EOF, answers "SHA256 COUNT\n", closes
	#   source  reads to EOF a request "N", sends N random bytes, then
	#           "SHA256 N\n", closes
	#   stream  sends "tick I\n" every 0.1 s until the connection breaks
	# Prints "ready" once every port listens; logs one line per connection.
	cat >"$LIVE_DIR/meshsrv.py" <<'PY'
import hashlib, os, socket, sys, threading, time
host = sys.argv[1]
def sink(c):
    h, n = hashlib.sha256(), 0
    while True:
        b = c.recv(1 << 20)
        if not b:
            break
        h.update(b)
        n += len(b)
    c.sendall(("%s %d\n" % (h.hexdigest(), n)).encode())
# Random bytes are cut from a pool at a different offset for every chunk:
# cheap enough that Python does not hide the proxy's own speed.
POOL = os.urandom(16 << 20)
def chunks(n, size=256 << 10):
    k = 0
    while n:
        off = k * 1000003 % (len(POOL) - size)
        b = POOL[off:off + min(n, size)]
        n -= len(b)
        k += 1
        yield b
def source(c):
    req = b""
    while True:
        b = c.recv(4096)
        if not b:
            break
        req += b
    n, h = int(req.split()[0]), hashlib.sha256()
    for b in chunks(n):
        h.update(b)
        c.sendall(b)
    c.sendall(("%s %d\n" % (h.hexdigest(), n)).encode())
def stream(c):
    i = 0
    while True:
        c.sendall(b"tick %d\n" % i)
        i += 1
        time.sleep(0.1)
def serve(fn, c, port):
    try:
        with c:
            fn(c)
    except OSError as e:
        print("port %d: %s" % (port, e), flush=True)
def loop(s, fn, port):
    while True:
        c, _ = s.accept()
        threading.Thread(target=serve, args=(fn, c, port), daemon=True).start()
for spec in sys.argv[2:]:
    port, mode = spec.split(":")
    s = socket.socket(socket.AF_INET)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, int(port)))
    s.listen(1024)
    threading.Thread(target=loop, args=(s, globals()[mode], int(port)),
                     daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
PY
	# meshcli.py COMMAND HOST PORT ...: one JSON line on stdout.
	#   send N [RATE]  sends N random bytes (at most RATE bytes/s), half-
	#                  closes, reads the answer to EOF: ok when it is the
	#                  sha256 and count of what was sent
	#   recv N         asks for N bytes, half-closes, reads to EOF: ok when
	#                  the trailer is the sha256 and count of what came
	#   many K         K connections at once, each a small "send"
	#   stream         prints each line as it comes ("T LINE"), then how
	#                  the connection ended
	#   raw silent|half  opens TCP and sends nothing (or half a
	#                  ClientHello), waits for the server to end it
	cat >"$LIVE_DIR/meshcli.py" <<'PY'
import hashlib, json, os, socket, sys, threading, time
cmd, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
arg = sys.argv[4:]
def out(**kw):
    print(json.dumps(kw), flush=True)
    sys.exit(0 if kw.get("ok") else 1)
def conn(timeout=30):
    # NT_SRC: the source address to use (tells these flows apart).
    src = os.environ.get("NT_SRC")
    return socket.create_connection((host, port), timeout=timeout,
                                    source_address=(src, 0) if src else None)
def read_all(s):
    parts = []
    while True:
        b = s.recv(1 << 20)
        if not b:
            return b"".join(parts)
        parts.append(b)
POOL = os.urandom(16 << 20)
def chunks(n, size=256 << 10):
    # A different offset of the random pool for every chunk.
    k = 0
    while n:
        off = k * 1000003 % (len(POOL) - size)
        b = POOL[off:off + min(n, size)]
        n -= len(b)
        k += 1
        yield b
def send(n, rate=0):
    s = conn()
    h, done, t0 = hashlib.sha256(), 0, time.monotonic()
    for b in chunks(n, 256 << 10 if not rate else max(4096, rate // 20)):
        h.update(b)
        s.sendall(b)
        done += len(b)
        if rate:
            ahead = done / rate - (time.monotonic() - t0)
            if ahead > 0:
                time.sleep(ahead)
    s.shutdown(socket.SHUT_WR)
    reply = read_all(s).decode(errors="replace").strip()
    secs = time.monotonic() - t0
    want = "%s %d" % (h.hexdigest(), n)
    return dict(ok=reply == want, want=want, reply=reply[:200], secs=secs,
                mbps=n / secs / 1e6)
try:
    if cmd == "send":
        out(**send(int(arg[0]), int(arg[1]) if len(arg) > 1 else 0))
    elif cmd == "recv":
        n = int(arg[0])
        s, t0 = conn(), time.monotonic()
        s.sendall(b"%d\n" % n)
        s.shutdown(socket.SHUT_WR)
        got = read_all(s)
        secs = time.monotonic() - t0
        data, trailer = got[:n], got[n:].decode(errors="replace").strip()
        want = "%s %d" % (hashlib.sha256(data).hexdigest(), len(data))
        out(ok=len(data) == n and trailer == want, got=len(got), trailer=trailer,
            want=want, secs=secs, mbps=n / secs / 1e6)
    elif cmd == "many":
        k = int(arg[0])
        bar, res, lock = threading.Barrier(k + 1), [], threading.Lock()
        def one(i):
            try:
                bar.wait()
                r = send(64 + i)
                r = "ok" if r["ok"] else "bad reply: " + r["reply"]
            except Exception as e:
                r = repr(e)
            with lock:
                res.append(r)
        ts = [threading.Thread(target=one, args=(i,)) for i in range(k)]
        for t in ts:
            t.start()
        bar.wait()
        t0 = time.monotonic()
        for t in ts:
            t.join()
        secs = time.monotonic() - t0
        bad = [r for r in res if r != "ok"]
        out(ok=not bad and len(res) == k, done=len(res) - len(bad),
            errors=bad[:5], secs=secs, per_s=k / secs)
    elif cmd == "stream":
        t0 = time.monotonic()
        try:
            # A refusal may already come as the answer to connect().
            f = conn().makefile("rb")
            for line in f:
                print("%.2f %s" % (time.monotonic() - t0, line.decode().strip()),
                      flush=True)
            end = "eof"
        except OSError as e:
            end = "error %s" % e
        print("%.2f end %s" % (time.monotonic() - t0, end), flush=True)
    elif cmd == "raw":
        s, t0 = conn(60), time.monotonic()
        if arg[0] == "half":
            # A TLS record header announcing 512 bytes of ClientHello, and
            # only the first 40 of them.
            s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 29)
        try:
            b = s.recv(4096)
            end = "eof" if not b else "data"
        except socket.timeout:
            end = "timeout"
        except OSError as e:
            end = "reset" if e.errno == 104 else "error %s" % e
        out(ok=end in ("eof", "reset"), end=end, secs=time.monotonic() - t0)
except OSError as e:
    out(ok=False, error=str(e), errno=e.errno)
PY
	# pcapcheck.py FILE MESHPORT: reassembles each TCP direction of a
	# capture and reports, per stream, whether its bytes are exactly a
	# sequence of TLS records (and how many carry application data), and
	# how many payload bytes travelled outside the mesh port.
	cat >"$LIVE_DIR/pcapcheck.py" <<'PY'
import json, socket, struct, sys
data, mesh = open(sys.argv[1], "rb").read(), int(sys.argv[2])
magic = struct.unpack("<I", data[:4])[0]
end = "<" if magic in (0xa1b2c3d4, 0xa1b23c4d) else ">"
link = struct.unpack(end + "I", data[20:24])[0]
off, segs = 24, {}
while off + 16 <= len(data):
    _, _, incl, _ = struct.unpack(end + "IIII", data[off:off + 16])
    pkt = data[off + 16:off + 16 + incl]
    off += 16 + incl
    if link == 1:
        etype, ip = struct.unpack(">H", pkt[12:14])[0], pkt[14:]
    else:
        continue
    if etype == 0x0800 and ip[9] == 6:
        ihl, tot = (ip[0] & 15) * 4, struct.unpack(">H", ip[2:4])[0]
        src, dst = socket.inet_ntop(socket.AF_INET, ip[12:16]), \
            socket.inet_ntop(socket.AF_INET, ip[16:20])
        tcp, ip_end = ip[ihl:tot], tot
    elif etype == 0x86dd and ip[6] == 6:
        plen = struct.unpack(">H", ip[4:6])[0]
        src, dst = socket.inet_ntop(socket.AF_INET6, ip[8:24]), \
            socket.inet_ntop(socket.AF_INET6, ip[24:40])
        tcp = ip[40:40 + plen]
    else:
        continue
    sport, dport, seq = struct.unpack(">HHI", tcp[:8])
    payload = tcp[(tcp[12] >> 4) * 4:]
    if payload:
        segs.setdefault((src, sport, dst, dport), {})[seq] = payload
streams, outside = [], 0
for (src, sport, dst, dport), by_seq in sorted(segs.items()):
    seqs = sorted(by_seq)
    base, buf = seqs[0], bytearray()
    for s in seqs:
        rel, p = (s - base) & 0xffffffff, by_seq[s]
        if rel > len(buf):
            buf = None
            break
        buf += p[len(buf) - rel:]
    st = dict(src="%s:%d" % (src, sport), dst="%s:%d" % (dst, dport),
              bytes=sum(len(p) for p in by_seq.values()))
    if mesh not in (sport, dport):
        outside += st["bytes"]
    if buf is None:
        st["tls"] = "gap in capture"
    else:
        i, recs, appdata = 0, 0, 0
        while i + 5 <= len(buf):
            typ, ver, ln = buf[i], buf[i + 1:i + 3], struct.unpack(">H", buf[i + 3:i + 5])[0]
            if typ not in (20, 21, 22, 23) or ver not in (b"\x03\x01", b"\x03\x03") \
                    or ln > 16384 + 256:
                break
            i += 5 + ln
            recs += 1
            appdata += typ == 23
        st["tls"] = "ok" if i == len(buf) and recs else "not TLS at byte %d" % i
        st["records"], st["appdata"] = recs, appdata
    streams.append(st)
print(json.dumps(dict(streams=streams, outside_mesh_bytes=outside)))
PY
	chmod 644 "$LIVE_DIR/meshsrv.py" "$LIVE_DIR/meshcli.py" "$LIVE_DIR/pcapcheck.py"
}
