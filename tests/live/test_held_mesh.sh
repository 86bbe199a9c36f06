#!/usr/bin/env bash
# What held at the mesh port when issue #9's intruder attacked it, kept
# held: a raw client completes (or tries) the mTLS handshake to pod B's
# node proxy and then writes by hand what no node proxy would.
#
#   refused  a self-signed SPIFFE leaf, a rogue CA claiming the trust
#            domain (with the real CA's name), a 400-certificate chain from
#            the real CA, garbage bytes, TLS 1.3 0-RTT early data: no
#            handshake (no byte for the workload), and the flow says why
#   SNI      the port comes from SNI only: asking p9999 reaches 9999's
#            workload with 9999's verdict and SVID, never 8080's; a port
#            bound on loopback only, or a malformed SNI, gets no handshake
#   NT2      a first frame that is not OPEN, an unknown or misplaced frame
#            inside a stream, data after FIN, a stream after a deny (also
#            pipelined, also on a connection that had an allowed stream),
#            a 16 MiB control frame: the connection ends, and nothing after
#            the fault reaches the workload, which sees a reset, not an end
#   flood    an enrolled process connects as fast as it can for 20 s (one
#            ring-buffer event each) while frontend calls catalogue: every
#            call works and is attested as frontend, the daemon keeps up
#            or recovers
#
# Two pods, one nametagd, "shop" strict. Everything is private and removed
# at the end, which is checked. Needs root. The other half of the list
# (egress roads, the proxy's ports, identity, control socket): test_held.sh.
set -u
cd "$(dirname "$0")/../.."
. tests/live/lib.sh
MESH_SVID_TTL=10m
. tests/live/lib_mesh.sh
FLOOD_SECONDS=${HELD_FLOOD_SECONDS:-20}
skip_unless_root
skip_unless_tools openssl jq
skip_unless_built "$NT_CONNECT"
"$PY" -c 'import cryptography' 2>/dev/null ||
	{ echo "skip: needs python3-cryptography (make deps)"; t_done; exit 0; }
live_init
write_helpers
write_mesh_helpers
T_START=$SECONDS
N=$MESH_NODE

mesh_up_strict "8080"
mkcg "$MESH_NODE/shop/decoy" "$MESH_NODE/bulk/flooder"
CG_DECOY=$MESH_CG/shop/decoy
CG_FLOODER=$MESH_CG/bulk/flooder
ID_DECOY=spiffe://$MESH_TD/ns/shop/sa/decoy
ID_FLOODER=spiffe://$MESH_TD/ns/bulk/sa/flooder
POLICY=$LIVE_DIR/policy.json
cat >"$POLICY" <<EOF
{"namespaces": {"shop": {"rules": [
  {"action": "allow", "from": ["$ID_FRONTEND"], "to": ["$ID_CATALOGUE"], "ports": [8080]},
  {"action": "allow", "from": ["*"], "to": ["$ID_DECOY"], "ports": [9998, 9999]}]}}}
EOF
expect_ok "policy: frontend -> catalogue:8080, anyone -> decoy:9998-9999" ntd $N policy load "$POLICY"

# ---- helpers ------------------------------------------------------------------------
# sinklog.py HOST PORT LOG: per connection, reads to EOF, answers
# "srv:WHAT-IT-GOT", closes; logs one JSON line: what it got and how the
# connection ended (eof, reset, timeout).
cat >"$LIVE_DIR/sinklog.py" <<'PY'
import json, socket, sys, threading
host, port, log = sys.argv[1], int(sys.argv[2]), open(sys.argv[3], "a", buffering=1)
s = socket.socket(socket.AF_INET)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((host, port))
s.listen(64)
print("ready", flush=True)
def serve(c, peer):
    got, end = b"", "eof"
    with c:
        c.settimeout(8)
        try:
            while True:
                b = c.recv(65536)
                if not b:
                    break
                got += b
            c.sendall(b"srv:" + got)
        except socket.timeout:
            end = "timeout"
        except OSError as e:
            end = "reset" if e.errno == 104 else "error %s" % e.strerror
    log.write(json.dumps({"peer": peer[0], "got": got.decode(errors="replace"), "end": end}) + "\n")
while True:
    c, peer = s.accept()
    threading.Thread(target=serve, args=(c, peer), daemon=True).start()
PY
# rawmesh.py [--cert F --key F] [--sni NAME] [--alpn nt2] [--plain] HOST PORT STEP...
# A mesh client by hand (TLS over memory BIOs: every byte is ours). After
# the handshake, STEPs in order:
#   open | fin | data:TEXT | frame:T:TEXT   NT2 frames (T: one character)
#   hdr:T:LEN      a frame header alone, announcing LEN payload bytes
#   bytes:TEXT     application bytes as they are (NT1)
#   garbage:N      N random bytes (as application data; with --plain, as
#                  the first bytes on the TCP connection)
#   close          close_notify (our half-close)
#   read           reads until a VERDICT or FIN frame, or the end
#   readall        reads until the connection ends (idle 4 s: "timeout")
#   sleep[:S]      waits S seconds (0.3)
#   mark:PATH, go:PATH    writes PATH, waits for PATH to exist
# One JSON line: the handshake, the server's URI SAN, the frames (NT2) or
# text (NT1) received, how the connection ended, seconds.
cat >"$LIVE_DIR/rawmesh.py" <<'PY'
import argparse, json, os, re, socket, ssl, time
p = argparse.ArgumentParser()
p.add_argument("--cert"); p.add_argument("--key"); p.add_argument("--sni")
p.add_argument("--alpn"); p.add_argument("--plain", action="store_true")
p.add_argument("host"); p.add_argument("port", type=int); p.add_argument("steps", nargs="*")
a = p.parse_args()
t0 = time.monotonic()
res = {"hs": None, "peer": None, "frames": [], "text": "", "end": None}
sock = socket.create_connection((a.host, a.port), timeout=10)
buf = b""
def finish(**kw):
    if a.alpn:
        frames()
    elif not a.plain:
        res["text"] = buf.decode(errors="replace")[:400]
    res.update(kw, secs=round(time.monotonic() - t0, 2))
    print(json.dumps(res), flush=True)
    raise SystemExit(0)
def raw_recv(timeout):
    sock.settimeout(timeout)
    try:
        b = sock.recv(65536)
    except socket.timeout:
        return None
    except ConnectionResetError:
        finish(end="reset")
    return b
if a.plain:
    for st in a.steps:
        if st.startswith("garbage:"):
            sock.sendall(os.urandom(int(st[8:])))
    b, got = raw_recv(5), b""
    while b:
        got += b
        b = raw_recv(5)
    res["text"] = got[:64].hex()
    finish(end="eof" if b == b"" else "timeout", hs="none")
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
ctx.minimum_version = ssl.TLSVersion.TLSv1_3
if a.cert:
    ctx.load_cert_chain(a.cert, a.key)
if a.alpn:
    ctx.set_alpn_protocols([a.alpn])
inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
obj = ctx.wrap_bio(inc, out, server_hostname=a.sni)
def flush():
    d = out.read()
    if d:
        try:
            sock.sendall(d)
        except OSError as e:
            finish(end="reset" if e.errno in (104, 32) else "error %s" % e)
def fill(timeout):
    b = raw_recv(timeout)
    if b is None:
        return False
    if b == b"":
        inc.write_eof()
    else:
        inc.write(b)
    return True
while True:
    try:
        obj.do_handshake()
        break
    except ssl.SSLWantReadError:
        flush()
        if not fill(10):
            finish(hs="timeout", end="timeout")
    except (ssl.SSLError, OSError) as e:
        flush()
        finish(hs="error: %s" % getattr(e, "reason", None) or e, end="handshake")
flush()
res["hs"], res["alpn"] = "ok", obj.selected_alpn_protocol()
m = re.search(rb"\x86(.)(spiffe://[\x21-\x7e]+)", obj.getpeercert(binary_form=True) or b"")
res["peer"] = m.group(2)[:m.group(1)[0]].decode() if m else None
def read_some(timeout):
    # Application bytes into buf; False at the end (res["end"] set).
    global buf
    while True:
        try:
            d = obj.read(65536)
            if not d:		# Python's way of saying close_notify
                res["end"] = "close_notify"
                return False
            buf += d
            return True
        except ssl.SSLWantReadError:
            if not fill(timeout):
                res["end"] = "timeout"
                return False
        except ssl.SSLZeroReturnError:
            res["end"] = "close_notify"
            return False
        except ssl.SSLEOFError:
            res["end"] = "eof"
            return False
        except ssl.SSLError as e:
            res["end"] = "tls error %s" % e.reason
            return False
def frames():
    # Complete frames out of buf.
    global buf
    while len(buf) >= 4:
        n = int.from_bytes(buf[1:4], "big")
        if len(buf) < 4 + n:
            break
        res["frames"].append([chr(buf[0]), buf[4:4 + n].decode(errors="replace")[:200]])
        buf = buf[4 + n:]
def send(b):
    obj.write(b)
    flush()
def frame(t, payload=b""):
    send(t.encode() + len(payload).to_bytes(3, "big") + payload)
for st in a.steps:
    kind, _, arg = st.partition(":")
    if kind == "open":
        frame("O")
    elif kind == "fin":
        frame("F")
    elif kind == "data":
        frame("D", arg.encode())
    elif kind == "frame":
        t, _, payload = arg.partition(":")
        frame(t, payload.encode())
    elif kind == "hdr":
        t, _, n = arg.partition(":")
        send(t.encode() + int(n).to_bytes(3, "big"))
    elif kind == "bytes":
        send(arg.encode())
    elif kind == "garbage":
        send(os.urandom(int(arg)))
    elif kind == "close":
        try:
            obj.unwrap()
        except ssl.SSLWantReadError:
            pass
        flush()
    elif kind == "sleep":
        time.sleep(float(arg or 0.3))
    elif kind == "mark":
        open(arg, "w").close()
    elif kind == "go":
        while not os.path.exists(arg):
            time.sleep(0.02)
    elif kind in ("read", "readall"):
        n0 = len(res["frames"])
        while read_some(4 if kind == "readall" else 5):
            if a.alpn:
                frames()
                if kind == "read" and any(f[0] in "VF" for f in res["frames"][n0:]):
                    break
        if res["end"]:
            break
finish(end=res["end"] or "open")
PY
# certs.py DIR CA_CRT CA_KEY ID: what no node CA would issue, each
# DIR/NAME.pem holding the key, the leaf and the chain the client sends:
#   selfsigned   a leaf with ID as its URI SAN, signed by its own key
#   rogue        a leaf signed by a CA of the same name and trust domain
#                as the node CA, but another key (rogueleaf: the leaf
#                alone, for the server to find "its" CA by name)
#   long         a leaf for ID under 399 intermediates below the real node
#                CA: 400 certificates on the wire
cat >"$LIVE_DIR/certs.py" <<'PY'
import datetime, sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
out, ca_crt, ca_key, spiffe_id = sys.argv[1:5]
ca = x509.load_pem_x509_certificate(open(ca_crt, "rb").read())
cakey = serialization.load_pem_private_key(open(ca_key, "rb").read(), None)
ca_ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
td = "spiffe://" + spiffe_id.split("/")[2]
now = datetime.datetime.utcnow()
def key():
    return ec.generate_private_key(ec.SECP256R1())
def build(subject, issuer, pub, signer, issuer_ski, is_ca, uri):
    """A certificate with the SVID profile (or a CA's), key ids included,
    so that what fails is the trust, not the form."""
    ski = x509.SubjectKeyIdentifier.from_public_key(pub)
    b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
         .public_key(pub).serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(minutes=5))
         .not_valid_after(now + datetime.timedelta(hours=1))
         .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
         .add_extension(ski, critical=False)
         .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_ski),
                        critical=False)
         .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(uri)]), critical=False))
    if is_ca:
        b = b.add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
    else:
        b = (b.add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
             .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False))
    return b.sign(signer, hashes.SHA256()), ski
def name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
def write(fname, k, certs):
    with open("%s/%s.pem" % (out, fname), "wb") as f:
        f.write(k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()))
        for c in certs:
            f.write(c.public_bytes(serialization.Encoding.PEM))
k = key()
own_ski = x509.SubjectKeyIdentifier.from_public_key(k.public_key())
leaf, _ = build(name("selfsigned"), name("selfsigned"), k.public_key(), k, own_ski, False, spiffe_id)
write("selfsigned", k, [leaf])
rk = key()
rogue, rogue_ski = build(ca.subject, ca.subject, rk.public_key(), rk,
                         x509.SubjectKeyIdentifier.from_public_key(rk.public_key()), True, td)
leaf, _ = build(name("rogue-leaf"), ca.subject, k.public_key(), rk, rogue_ski, False, spiffe_id)
write("rogue", k, [leaf, rogue])
write("rogueleaf", k, [leaf])
ik, chain, issuer, signer, iski = key(), [], ca.subject, cakey, ca_ski
for i in range(399):
    c, ski = build(name("int%d" % i), issuer, ik.public_key(), signer, iski, True, td)
    chain.insert(0, c)
    issuer, signer, iski = c.subject, ik, ski
leaf, _ = build(name("long-leaf"), issuer, k.public_key(), ik, iski, False, spiffe_id)
write("long", k, [leaf] + chain)
PY
chmod 644 "$LIVE_DIR"/*.py

RAW=("$PY" "$LIVE_DIR/rawmesh.py")
C=$LIVE_DIR/certs
mkdir -p "$C"
for who in frontend intruder; do
	ntd $N svid mint "spiffe://$MESH_TD/ns/shop/sa/$who" --out "$C/$who" --ttl 10m \
		>"$C/$who.out" 2>&1 || t_fail "svid mint for $who" "$(cat "$C/$who.out")"
done
CA_SERIAL=$(ca_current $N)
"$PY" "$LIVE_DIR/certs.py" "$C" "${D_DIR[$N]}/state/ca/$CA_SERIAL.crt" \
	"${D_DIR[$N]}/state/ca/$CA_SERIAL.key" "$ID_FRONTEND" >"$C/certs.out" 2>&1 ||
	t_fail "certs.py makes the forged certificates" "$(cat "$C/certs.out")"
FRONT=(--cert "$C/frontend.crt" --key "$C/frontend.key")
INTRUDER=(--cert "$C/intruder.crt" --key "$C/intruder.key")

# The workloads: catalogue (8080) and the decoy (9999; 9998 on loopback
# only), each logging what it got and how each connection ended.
start_sink() {
	local name=$1 cg=$2 host=$3 port=$4
	: >"$LIVE_DIR/$name.log"
	spawn_in_pod "$cg" "$NSB" "$PY" "$LIVE_DIR/sinklog.py" "$host" "$port" \
		"$LIVE_DIR/$name.log" >"$LIVE_DIR/$name.out" 2>&1
	wait_for 10 grep -q '^ready' "$LIVE_DIR/$name.out" || t_fail "$name listens on $host:$port"
}
start_sink cat "$CG_CATALOGUE" "$MESH_B" 8080
start_sink decoy "$CG_DECOY" "$MESH_B" 9999
start_sink decoylo "$CG_DECOY" 127.0.0.1 9998

# raw NAME ARGS...: rawmesh.py from pod A (outside the mesh) to pod B's
# mesh port; its JSON line in $R.
raw() {
	R=$(timeout 30 ip netns exec "$NSA" "${RAW[@]}" "$@" 2>&1 | tail -n 1)
}
# jr FILTER: FILTER holds for $R.
jr() {
	jq -e "$1" <<<"${R:-null}" >/dev/null 2>&1
}
# r_check NAME FILTER: a case that FILTER holds for $R; shows $R if not.
r_check() {
	if jr "$2"; then t_ok "$1"; else t_fail "$1" "want: $2" "got: ${R:-nothing}"; fi
}
# never_got SECRET: no workload of pod B got SECRET.
never_got() {
	! grep -qF -- "$1" "$LIVE_DIR/cat.log" "$LIVE_DIR/decoy.log" "$LIVE_DIR/decoylo.log"
}
# mesh_flow ID [FILTER]: the newest inbound flow from pod A since ID
# that is no longer open (and matches FILTER); in $FLOW.
mesh_flow() {
	flow_wait "$1" '.type == "inbound" and (.src | startswith("'"$MESH_A"':")) and
		.state != "open" and ('"${2:-true}"')'
}

# ---- refused at the handshake ---------------------------------------------------------
# refused NAME WANT ARGS...: rawmesh.py with ARGS gets no handshake, no
# workload gets its bytes, and the server's flow says WANT.
refused() {
	local name=$1 want=$2 secret=refused-$RANDOM-$TAG id
	shift 2
	id=$(last_flow_id)
	raw --sni p8080.nametag.invalid "$@" "$MESH_B" 15008 "bytes:$secret" close readall
	# A TLS 1.3 client has sent Finished before the server judges its
	# certificate: the refusal is the alert (or reset) that follows.
	r_check "refused: $name: the server ends it, not a byte back" \
		'.text == "" and .end != "timeout" and .end != "open" and .end != "close_notify"'
	t_check "refused: $name: no workload got a byte" never_got "$secret"
	mesh_flow "$id"
	t_flow "refused: $name: the flow says why ($want)" '
		.state == "handshake failed" and .verdict == "deny" and
		(.reason | ascii_downcase | contains("'"$want"'"))'
	[ "${T_VERBOSE:-}" ] && echo "    $(jq -c "{reason}" <<<"${FLOW:-null}")"
}
raw --sni p8080.nametag.invalid "${FRONT[@]}" "$MESH_B" 15008 "bytes:control-$TAG" close readall
r_check "control: frontend's own SVID by hand: handshake, NT1 ALLOW, catalogue's answer" '
	.hs == "ok" and (.text | startswith("NT1 ALLOW")) and (.text | contains("srv:control-'"$TAG"'"))'
refused "a self-signed SPIFFE leaf" "self-signed certificate" --cert "$C/selfsigned.pem"
refused "a rogue CA with the node CA's name and trust domain" \
	"does not chain to an authority of trust domain" --cert "$C/rogue.pem"
refused "a leaf of that rogue CA, sent alone" "path validation failed" --cert "$C/rogueleaf.pem"
refused "a 400-certificate chain below the real node CA" "excessive message size" --cert "$C/long.pem"
id=$(last_flow_id)
raw --plain "$MESH_B" 15008 garbage:4096
r_check "refused: 4 KB of garbage instead of a ClientHello: the connection ends" '.end == "eof" or .end == "reset"'
mesh_flow "$id"
t_flow "refused: garbage: the flow says the handshake failed" '.state == "handshake failed" and .verdict == "deny"'
# 0-RTT: a session (with early data allowed) from an ordinary TLS server
# of pod B outside the mesh, replayed to the mesh port with a request as
# early data. Our server sends no tickets and takes no early data.
spawn_in_pod "$CG_OUTSIDE" "$NSB" openssl s_server -accept 4433 -cert "$C/frontend.crt" \
	-key "$C/frontend.key" -early_data -max_early_data 16384 -num_tickets 1 -quiet \
	>"$LIVE_DIR/s_server.out" 2>&1
wait_for 5 eval "ip netns exec $NSB ss -ltn | grep -q ':4433 '"
(sleep 1; echo) | timeout 5 ip netns exec "$NSA" openssl s_client -connect "$MESH_B:4433" \
	-servername p8080.nametag.invalid -sess_out "$C/early.sess" -ign_eof >"$C/sess.out" 2>&1
printf 'early-data-%s\n' "$TAG" >"$C/early.txt"
t_check "0-RTT: a session that allows early data, for p8080.nametag.invalid" \
	grep -q "Max Early Data: 16384" <(openssl sess_id -in "$C/early.sess" -noout -text 2>/dev/null)
id=$(last_flow_id)
timeout 10 ip netns exec "$NSA" openssl s_client -connect "$MESH_B:15008" \
	-servername p8080.nametag.invalid -sess_in "$C/early.sess" -early_data "$C/early.txt" \
	-cert "$C/frontend.crt" -key "$C/frontend.key" -ign_eof </dev/null >"$C/early.out" 2>&1
t_check "0-RTT: the client did send its request as early data, and it was rejected" \
	grep -q "Early data was rejected" "$C/early.out"
t_check "0-RTT: no session was resumed (a full handshake)" grep -q "^New, TLSv1.3" "$C/early.out"
t_check "0-RTT: no workload got the early data" never_got "early-data-$TAG"
mesh_flow "$id"
t_flow "0-RTT: the handshake that followed proved frontend, and no byte went up" "
	.src_spiffe_id == \"$ID_FRONTEND\" and .bytes_up == 0"

# ---- SNI: the port a stream goes to ---------------------------------------------------
# intruder may call the decoy on 9999, not catalogue on 8080.
id=$(last_flow_id)
raw --sni p9999.nametag.invalid "${INTRUDER[@]}" "$MESH_B" 15008 "bytes:sni-nt1-$TAG" close readall
r_check "SNI p9999 (NT1): the server presents the decoy's SVID and allows" "
	.hs == \"ok\" and .peer == \"$ID_DECOY\" and (.text | startswith(\"NT1 ALLOW\"))"
t_check "SNI p9999 (NT1): the decoy on 9999 got it" grep -qF "sni-nt1-$TAG" "$LIVE_DIR/decoy.log"
t_check "SNI p9999 (NT1): catalogue on 8080 never did" not grep -qF "sni-nt1-$TAG" "$LIVE_DIR/cat.log"
mesh_flow "$id"
t_flow "SNI p9999 (NT1): the flow judged intruder -> decoy" "
	.src_spiffe_id == \"$ID_INTRUDER\" and .dst_spiffe_id == \"$ID_DECOY\" and .verdict == \"allow\""
raw --sni p9999.nametag.invalid --alpn nt2 "${INTRUDER[@]}" "$MESH_B" 15008 \
	open read "data:sni-nt2-$TAG" fin read
r_check "SNI p9999 (NT2): the stream is allowed and answered by the decoy" "
	.alpn == \"nt2\" and .peer == \"$ID_DECOY\" and .frames[0][0] == \"V\" and
	(.frames[0][1] | startswith(\"ALLOW\")) and any(.frames[]; .[1] == \"srv:sni-nt2-$TAG\")"
t_check "SNI p9999 (NT2): catalogue never got it" not grep -qF "sni-nt2-$TAG" "$LIVE_DIR/cat.log"
# (Bytes sent ahead of the verdict are unread when the server closes, so
# the kernel may answer with a reset that overtakes the DENY line.)
id=$(last_flow_id)
raw --sni p8080.nametag.invalid "${INTRUDER[@]}" "$MESH_B" 15008 "bytes:sni-8080-$TAG" close readall
r_check "SNI p8080 for intruder: catalogue's SVID, then a deny (or the reset that follows it)" "
	.hs == \"ok\" and .peer == \"$ID_CATALOGUE\" and
	((.text | startswith(\"NT1 DENY\")) or (.text == \"\" and .end == \"reset\"))"
t_check "SNI p8080 for intruder: catalogue never got it" never_got "sni-8080-$TAG"
mesh_flow "$id"
t_flow "SNI p8080 for intruder: the flow judged intruder -> catalogue, and denied" "
	.src_spiffe_id == \"$ID_INTRUDER\" and .dst_spiffe_id == \"$ID_CATALOGUE\" and .verdict == \"deny\""
# The decoy also listens on 127.0.0.1:9998: the mesh never reaches a
# listener bound to loopback only.
id=$(last_flow_id)
raw --sni p9998.nametag.invalid "${INTRUDER[@]}" "$MESH_B" 15008 "bytes:sni-lo-$TAG" close readall
r_check "SNI p9998 (a loopback-only listener): no handshake" '.hs != "ok"'
t_check "SNI p9998: the loopback listener never got it" never_got "sni-lo-$TAG"
mesh_flow "$id"
t_flow "SNI p9998: the flow says nobody listens on the address dialled" \
	'.state == "handshake failed" and (.reason | contains("no enrolled workload listens on '"$MESH_B"':9998"))'
# Malformed SNIs with frontend's SVID, which 8080 would allow.
for sni in p8080x.nametag.invalid p65536.nametag.invalid p0.nametag.invalid \
	   8080.nametag.invalid p8080.nametag.invalid.example p8080 none; do
	id=$(last_flow_id)
	args=(--sni "$sni")
	[ "$sni" = none ] && args=()
	raw "${args[@]}" "${FRONT[@]}" "$MESH_B" 15008 "bytes:sni-$sni-$TAG" close readall
	r_check "SNI '$sni': no handshake" '.hs != "ok"'
	t_check "SNI '$sni': no workload got it" never_got "sni-$sni-$TAG"
	mesh_flow "$id"
	t_flow "SNI '$sni': the flow says so" '.reason == "TLS handshake failed: client sent no nametag SNI"'
done

# ---- NT2 frames written by hand ---------------------------------------------------------
# nt2 ARGS... STEPS: rawmesh.py speaking NT2 for port 8080.
nt2() {
	local who=("${FRONT[@]}")
	[ "$1" = --intruder ] && { who=("${INTRUDER[@]}"); shift; }
	raw --sni p8080.nametag.invalid --alpn nt2 "${who[@]}" "$MESH_B" 15008 "$@"
}
# cat_end SECRET: how catalogue's connection that got SECRET ended.
cat_end() {
	jq -r --arg s "$1" 'select(.got | contains($s)) | .end' "$LIVE_DIR/cat.log" | tail -n 1
}
nt2 open read "data:nt2-ok-$TAG" fin read
r_check "NT2 control: OPEN, ALLOW, DATA, FIN: catalogue answers, FIN" "
	.frames[0][0] == \"V\" and .frames[1] == [\"D\", \"srv:nt2-ok-$TAG\"] and .frames[2][0] == \"F\""
t_check "NT2 control: catalogue's connection ended cleanly" [ "$(cat_end "nt2-ok-$TAG")" = eof ]
# not_open NAME STEP WANT: the first frame is STEP, not OPEN.
not_open() {
	local id secret=nt2-first-$RANDOM-$TAG
	id=$(last_flow_id)
	nt2 "$2" "data:$secret" fin readall
	r_check "NT2 first frame $1: the connection ends, no verdict" \
		'(.frames | length) == 0 and (.end == "eof" or .end == "reset" or .end == "close_notify")'
	t_check "NT2 first frame $1: no workload got a byte" never_got "$secret"
	mesh_flow "$id"
	t_flow "NT2 first frame $1: the flow says why" '.reason == "'"$3"'"'
}
not_open "DATA" "data:nt2-first-data-$TAG" "peer proxy sent no OPEN frame"
not_open "unknown ('X')" "frame:X:junk" "peer proxy sent no OPEN frame"
not_open "FIN" "fin" "peer proxy sent no OPEN frame"
not_open "VERDICT" "frame:V:ALLOW forged" "peer proxy sent no OPEN frame"
not_open "a 16 MiB OPEN" "hdr:O:16777215" "peer proxy closed before a stream"
[ "${T_VERBOSE:-}" ] && echo "    16 MiB OPEN: $R"
r_check "NT2 a 16 MiB OPEN: closed at once, nothing read past its header" '.secs < 3'
# in_stream NAME FAULT-STEPS...: a stream is allowed, catalogue gets
# part1, then FAULT and part2: the connection is reset, catalogue never
# gets part2 and sees a reset, not an end.
in_stream() {
	local name=$1 p1=nt2-p1-$RANDOM-$TAG p2=nt2-p2-$RANDOM-$TAG
	shift
	nt2 open read "data:$p1" sleep "$@" "data:$p2" fin readall
	r_check "NT2 $name: the stream was allowed, then the connection ended" '
		.frames[0][0] == "V" and (.frames[0][1] | startswith("ALLOW")) and
		(.end == "eof" or .end == "reset") and all(.frames[]; .[0] != "F")'
	wait_for 5 grep -qF "$p1" "$LIVE_DIR/cat.log"
	t_check "NT2 $name: catalogue never got what came after" never_got "$p2"
	t_check "NT2 $name: catalogue's connection was reset, not ended ($(cat_end "$p1"))" \
		[ "$(cat_end "$p1")" = reset ]
}
in_stream "an unknown frame mid-stream" "frame:Z:junk"
in_stream "a VERDICT frame from the client" "frame:V:ALLOW forged"
in_stream "a second OPEN mid-stream" open
in_stream "a FIN with a payload" "frame:F:fin-payload"
# Data after FIN: the stream ends as it should, the stray DATA ends the
# connection, and catalogue's connection had ended cleanly before it.
nt2 open read "data:nt2-fin-$TAG" fin "data:nt2-after-fin-$TAG" readall
r_check "NT2 data after FIN: stream answered, then the connection ends" "
	any(.frames[]; .[1] == \"srv:nt2-fin-$TAG\") and (.end == \"eof\" or .end == \"reset\")"
t_check "NT2 data after FIN: catalogue got the stream, cleanly ended" [ "$(cat_end "nt2-fin-$TAG")" = eof ]
t_check "NT2 data after FIN: no workload got the data after FIN" never_got "nt2-after-fin-$TAG"
# A stream after a deny: intruder is denied 8080.
nt2 --intruder open read open "data:nt2-after-deny-$TAG" fin readall
r_check "NT2 a stream after a deny: DENY, then the connection ends" '
	.frames[0][0] == "V" and (.frames[0][1] | startswith("DENY")) and
	(.frames | length) == 1 and .end != "timeout"'
t_check "NT2 a stream after a deny: no workload got it" never_got "nt2-after-deny-$TAG"
nt2 --intruder open "data:nt2-pipe1-$TAG" fin open "data:nt2-pipe2-$TAG" fin readall
r_check "NT2 pipelined streams after a deny: DENY (or the reset that overtakes it), then the end" '
	((.frames | length) == 1 and (.frames[0][1] | startswith("DENY")) and .end != "timeout") or
	((.frames | length) == 0 and .end == "reset")'
t_check "NT2 pipelined streams after a deny: no workload got either" \
	eval 'never_got "nt2-pipe1-$TAG" && never_got "nt2-pipe2-$TAG"'
# On a connection whose first stream was allowed: the policy then denies
# 8080; the next stream gets DENY, the one after it nothing.
K=$LIVE_DIR/reload
spawn ip netns exec "$NSA" "${RAW[@]}" --sni p8080.nametag.invalid --alpn nt2 "${FRONT[@]}" \
	"$MESH_B" 15008 open read "data:nt2-s1-$TAG" fin read "mark:$K.mark" "go:$K.go" \
	open read open "data:nt2-s3-$TAG" fin readall >"$K.out" 2>&1
RELOAD=$BG_PID
wait_for 10 test -e "$K.mark"
mesh_policy "$LIVE_DIR/no8080.json" "9000"
ntd $N policy load "$LIVE_DIR/no8080.json" >/dev/null || t_fail "a policy without 8080 loads"
touch "$K.go"
wait "$RELOAD"
R=$(tail -n 1 "$K.out")
r_check "NT2 after a reload: stream 1 allowed, stream 2 denied, the connection ends" '
	(.frames | map(.[0]) | join("")) == "VDFV" and (.frames[0][1] | startswith("ALLOW")) and
	(.frames[3][1] | startswith("DENY")) and .end != "timeout"'
t_check "NT2 after a reload: catalogue got stream 1 only" \
	eval 'grep -qF "nt2-s1-$TAG" "$LIVE_DIR/cat.log" && never_got "nt2-s3-$TAG"'
ntd $N policy load "$POLICY" >/dev/null || t_fail "the policy loads again"

# ---- ring-buffer flood ------------------------------------------------------------------
# bulk (observe) records every connect: one ring-buffer event, one flow,
# one attestation each. flooder connects to a closed port of pod A as
# fast as it can while frontend calls catalogue twice a second.
expect_ok "ns add bulk (observe)" ntd $N ns add bulk --cgroup "$MESH_CG/bulk"
expect_ok "ns enable bulk --mode observe" ntd $N ns enable bulk --mode observe
cat >"$LIVE_DIR/calls.py" <<'PY'
import json, os, socket, sys, time
host, port, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
res, t0 = [], time.monotonic()
while time.monotonic() - t0 < secs:
    t = time.monotonic()
    msg = "flood-call-%d" % len(res)
    try:
        s = socket.create_connection((host, port), timeout=10)
        s.sendall(msg.encode())
        s.shutdown(socket.SHUT_WR)
        reply = s.makefile("rb").read().decode()
        res.append({"port": s.getsockname()[1], "ok": reply == "srv:" + msg,
                    "ms": round((time.monotonic() - t) * 1000)})
        s.close()
    except OSError as e:
        res.append({"ok": False, "error": str(e), "ms": round((time.monotonic() - t) * 1000)})
    time.sleep(max(0, 0.5 - (time.monotonic() - t)))
print(json.dumps({"pid": os.getpid(), "calls": res}), flush=True)
PY
# watch.py SOCK: an operator's flow watch that reads a line a
# millisecond, slower than the flood makes them; prints how it ended.
cat >"$LIVE_DIR/watch.py" <<'PY'
import json, socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b'{"cmd":"flow.watch"}\n')
n, t0 = 0, time.monotonic()
for line in s.makefile("rb"):
    n += 1
    time.sleep(0.001)
print(json.dumps({"lines": n, "end": "eof", "secs": round(time.monotonic() - t0, 2)}), flush=True)
PY
chmod 644 "$LIVE_DIR/calls.py" "$LIVE_DIR/watch.py"
spawn "$PY" "$LIVE_DIR/watch.py" "${D_DIR[$N]}/run/nametagd.sock" >"$LIVE_DIR/watch.out" 2>&1
WATCH=$BG_PID
id0=$(last_flow_id)
spawn_in_pod "$CG_FLOODER" "$NSA" "$NT_CONNECT" flood 127.0.0.1 9 "$FLOOD_SECONDS" \
	>"$LIVE_DIR/flood.out" 2>&1
FLOOD=$BG_PID
sleep 1
spawn_in_pod "$CG_FRONTEND" "$NSA" "$PY" "$LIVE_DIR/calls.py" "$MESH_B" 8080 \
	$((FLOOD_SECONDS - 2)) >"$LIVE_DIR/calls.out" 2>&1
CALLS=$BG_PID
ctl_ms=()
while kill -0 "$FLOOD" 2>/dev/null; do
	t=$EPOCHREALTIME
	timeout 10 "$NAMETAG" --run-dir "${D_DIR[$N]}/run" -j ns list >/dev/null 2>&1
	ctl_ms+=("$(echo "($EPOCHREALTIME - $t) * 1000 / 1" | bc)")
	sleep 1
done
wait "$FLOOD"
wait "$CALLS"
id1=$(last_flow_id)
F=$(cat "$LIVE_DIR/flood.out")
L=$(cat "$LIVE_DIR/calls.out")
n=$(jq .attempts <<<"${F:-null}")
ctl_max=$(printf '%s\n' "${ctl_ms[@]}" | sort -n | tail -n 1)
printf '# measure: flood: %s connects in %s s by one process (%s/s); %s calls by frontend meanwhile\n' \
	"${n:-?}" "$(jq .secs <<<"${F:-null}")" "$(jq '.attempts / .secs | floor' <<<"${F:-null}")" \
	"$(jq '.calls | length' <<<"${L:-null}")"
printf '# measure: flood: frontend call latency ms: %s\n' "$(jq -c '[.calls[].ms]' <<<"${L:-null}")"
printf '# measure: flood: control socket answer ms, once a second: %s\n' "${ctl_ms[*]}"
printf '# measure: flood: %d flow records made meanwhile (the table keeps the last 4096)\n' $((id1 - id0))
t_check "flood: the flooder ran (${n:-0} connects, each one refused by a closed port)" \
	jq -e '.attempts > 100000 and .refused == .attempts' <<<"${F:-null}"
# Only frontend may call catalogue: an answer proves the outbound proxy
# attested that connection as frontend and presented frontend's SVID.
t_check "flood: every call of frontend meanwhile got catalogue's answer (so each was attested as frontend)" \
	jq -e '(.calls | length) >= 10 and all(.calls[]; .ok)' <<<"${L:-null}"
t_check "flood: the control socket answered within 2 s throughout (max ${ctl_max:-?} ms)" \
	[ "${ctl_max:-99999}" -lt 2000 ]
t_check "flood: the slow flow watch was dropped, not waited for ($(cat "$LIVE_DIR/watch.out"))" \
	eval '! kill -0 $WATCH 2>/dev/null && grep -q "dropped a flow watch that fell behind" "${D_DIR[$N]}/log"'
kill "$WATCH" 2>/dev/null
t_check "flood: flows of the flooder were recorded, as the flooder" \
	flow_exists $N ".caller.pid == $FLOOD and .src_spiffe_id == \"$ID_FLOODER\" and .type == \"connect\""
t_check "flood: no flow names the flooder's pid with another identity" eval '
	[ "$(flows_since "$id0" ".caller.pid == $FLOOD and .src_spiffe_id != \"$ID_FLOODER\"" | jq length)" = 0 ]'
# FIXME (does not hold): the flow table cannot show that frontend's calls
# were attested as frontend. The flooder's "connect" records (one per
# connect(), not coalesced as refusals are, not rate-limited) push every
# other flow out of the 4096-record ring within a tenth of a second, so
# after the flood `flow list` holds none of frontend's calls.
# CPID_L=$(jq .pid <<<"${L:-null}")
# t_check "flood: flow list still shows each call, attested as frontend" [ "$(flows_since "$id0" \
#	".type == \"outbound\" and .caller.pid == ${CPID_L:-0} and .src_spiffe_id == \"$ID_FRONTEND\"" |
#	jq length)" = "$(jq '.calls | length' <<<"${L:-null}")" ]
# After it: the daemon has caught up with the ring buffer.
out=$(in_pod "$CG_FLOODER" "$NSA" "$PY" "$LIVE_DIR/client.py" 127.0.0.1 9 after-flood | tail -n 1)
apid=${out%% *}
t_check "flood over: a new connect of the flooder is recorded within 5 s" \
	wait_for 5 flow_exists $N ".caller.pid == ${apid:-0} and .src_spiffe_id == \"$ID_FLOODER\""
out=$(in_pod "$CG_FRONTEND" "$NSA" "$PY" "$LIVE_DIR/calls.py" "$MESH_B" 8080 0.1)
t_check "flood over: frontend still calls catalogue" jq -e '.calls[0].ok' <<<"${out:-null}"
t_check "flood over: nametagd is the same process" kill -0 "${D_PID[$N]}"
printf '# runtime: %d s\n' $((SECONDS - T_START))
live_finish
