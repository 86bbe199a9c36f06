#!/usr/bin/env bash
# Plaintext on a live kernel: where nametag lets it through, and how it
# takes it back. The two pods and one nametagd of lib_mesh.sh, plus a third
# network namespace, pod C, that nametagd does not serve (a destination
# without nametag), joined to pod A by its own veth.
#
#   - egress: an enrolled client reaches pod C in plaintext, bytes echoed
#     byte-identical: in permissive (no node proxy there: fallback), in
#     strict with an egress rule; strict without one refuses, and says why
#   - a strict switch closes the plaintext established before it, both ways:
#     connections made while the namespace was off (destroyed with
#     sock_diag SOCK_DESTROY: the workload's own sockets) and the proxy's
#     own permissive plaintext-in; a policy reload that drops an egress rule
#     closes what that rule allowed, and only that; proxied mTLS
#     connections, loopback inside a pod, egress an egress rule allows and
#     listeners live on
# Needs root; leaves nothing behind.
set -u
cd "$(dirname "$0")/../.."
. tests/live/lib.sh
. tests/live/lib_mesh.sh
skip_unless_root
skip_unless_tools jq ss
live_init
T_START=$SECONDS
N=$MESH_NODE
POD_A_C=10.87.1.1
POD_C=10.87.1.2
ECHO_PORT=7000		# pod C: no nametag there
ECHO_PORT2=7001
CAT_PORT=7100		# catalogue (pod B, enrolled)
CAT_LO_PORT=7101	# catalogue, loopback only

# echosrv.py HOST PORT...: echoes every connection until EOF; one line per
# connection ("conn PEER") on stdout, "ready" once all ports listen.
cat >"$LIVE_DIR/echosrv.py" <<'PY'
import socket, sys, threading
def serve(c, peer):
    print("conn %s:%d" % peer[:2], flush=True)
    try:
        with c:
            while True:
                b = c.recv(1 << 16)
                if not b:
                    break
                c.sendall(b)
    except OSError as e:
        print("conn %s:%d ended: %s" % (peer[0], peer[1], e.strerror), flush=True)
def loop(s):
    while True:
        c, peer = s.accept()
        threading.Thread(target=serve, args=(c, peer), daemon=True).start()
for port in sys.argv[2:]:
    s = socket.socket(socket.AF_INET)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((sys.argv[1], int(port)))
    s.listen(64)
    threading.Thread(target=loop, args=(s,), daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
PY
# plaincli.py echo HOST PORT N: sends N random bytes while reading the echo,
# half-closes, reads to EOF; one JSON line, ok when every byte came back.
# plaincli.py hold HOST PORT: one connection kept open, a ping echoed every
# 50 ms ("up LOCALPORT", then "ok I"); when it breaks, "end HOW EPOCH",
# then two more sends 0.1 s apart ("late-send ok" or "late-send ERRNO").
cat >"$LIVE_DIR/plaincli.py" <<'PY'
import errno, hashlib, json, os, socket, sys, threading, time
cmd, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
def ename(e):
    return errno.errorcode.get(e.errno, str(e.errno)) if e.errno else type(e).__name__
def echo(n):
    data = os.urandom(n)
    s = socket.create_connection((host, port), timeout=5)
    def send():
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
    t = threading.Thread(target=send, daemon=True)
    t.start()
    got = []
    while True:
        b = s.recv(1 << 16)
        if not b:
            break
        got.append(b)
    got = b"".join(got)
    return dict(ok=got == data, sent=n, got=len(got),
                sha_sent=hashlib.sha256(data).hexdigest(),
                sha_got=hashlib.sha256(got).hexdigest())
def ping(s, i):
    msg = b"ping %d\n" % i
    s.sendall(msg)
    got = b""
    while len(got) < len(msg):
        b = s.recv(len(msg) - len(got))
        if not b:
            raise EOFError
        got += b
    if got != msg:
        raise ValueError(got)
def hold():
    s = socket.create_connection((host, port), timeout=5)
    ping(s, 0)
    print("up", s.getsockname()[1], flush=True)
    i = 0
    try:
        while True:
            time.sleep(0.05)
            i += 1
            ping(s, i)
            print("ok", i, flush=True)
    except EOFError:
        how = "eof"
    except OSError as e:
        how = ename(e)
    print("end", how, "%.3f" % time.time(), flush=True)
    res = "ok"
    try:
        for _ in range(2):
            time.sleep(0.1)
            s.sendall(b"late\n")
    except OSError as e:
        res = ename(e)
    print("late-send", res, flush=True)
try:
    if cmd == "echo":
        r = echo(int(sys.argv[4]))
    else:
        hold()
        sys.exit(0)
except OSError as e:
    r = dict(ok=False, error=ename(e))
print(json.dumps(r), flush=True)
sys.exit(0 if r["ok"] else 1)
PY
chmod 755 "$LIVE_DIR"
chmod 644 "$LIVE_DIR/echosrv.py" "$LIVE_DIR/plaincli.py"
CLI=("$PY" "$LIVE_DIR/plaincli.py")

if ! mesh_up; then
	t_fail "the mesh comes up (two pods, nametagd, shop enrolled)"
	live_finish
	exit 1
fi
netns_add NSC c && veth_pair "$NSA" "$POD_A_C/24" "$NSC" "$POD_C/24" ||
	t_fail "pod C and its veth to pod A"

# policy FILE EGRESS: frontend may call catalogue on CAT_PORT; EGRESS is
# the namespace's egress list (JSON).
policy() {
	cat >"$1" <<EOF
{"namespaces": {"shop": {"rules": [
  {"action": "allow", "from": ["$ID_FRONTEND"], "to": ["$ID_CATALOGUE"],
   "ports": [$CAT_PORT]}],
  "egress": $2}}}
EOF
}
P_NONE=$LIVE_DIR/p-none.json
P_BOTH=$LIVE_DIR/p-both.json
P_ONE=$LIVE_DIR/p-one.json
policy "$P_NONE" '[]'
policy "$P_BOTH" '[{"to": "'$POD_C'/32", "ports": ['$ECHO_PORT']},
  {"to": "'$POD_C'/32", "ports": ['$ECHO_PORT2']}]'
policy "$P_ONE" '[{"to": "'$POD_C'/32", "ports": ['$ECHO_PORT']}]'
expect_ok "policy: frontend -> catalogue, no egress" ntd $N policy load "$P_NONE"

spawn_in_pod "" "$NSC" "$PY" "$LIVE_DIR/echosrv.py" "$POD_C" $ECHO_PORT $ECHO_PORT2 \
	>"$LIVE_DIR/podc.log" 2>&1
spawn_in_pod "$CG_CATALOGUE" "$NSB" "$PY" "$LIVE_DIR/echosrv.py" "$MESH_B" $CAT_PORT \
	>"$LIVE_DIR/cat.log" 2>&1
spawn_in_pod "$CG_CATALOGUE" "$NSB" "$PY" "$LIVE_DIR/echosrv.py" 127.0.0.1 $CAT_LO_PORT \
	>"$LIVE_DIR/catlo.log" 2>&1
for f in podc cat catlo; do
	wait_for 10 grep -q ready "$LIVE_DIR/$f.log" || t_fail "echo server $f starts"
done

# echo_from CGROUP NETNS HOST PORT N: plaincli echo; its JSON line in $R.
echo_from() {
	R=$(in_pod "$1" "$2" timeout 15 "${CLI[@]}" echo "$3" "$4" "$5" 2>&1 | tail -n 1)
}

# hold NAME CGROUP NETNS HOST PORT: a held connection, output in
# $LIVE_DIR/hold-NAME; waits until it is up.
hold() {
	local name=$1 cg=$2 ns=$3 out=$LIVE_DIR/hold-$1
	shift 3
	: >"$out"
	spawn_in_pod "$cg" "$ns" "${CLI[@]}" hold "$@" >"$out" 2>&1
	wait_for 5 grep -q '^ok 3$' "$out"
}
held_pings() { grep -c '^ok' "$LIVE_DIR/hold-$1"; }
# alive NAME: still open, and a ping (one every 50 ms) gets through within
# 3 s: a busy CI machine can hold a process off the CPU for a second; a
# closed connection never pings again. On failure the output is shown.
alive() {
	local n
	n=$(held_pings "$1")
	if ! grep -q '^end' "$LIVE_DIR/hold-$1" &&
		wait_for 3 eval '[ "$(held_pings '"$1"')" -gt '"$n"' ]'; then
		return 0
	fi
	{ show_hold "$1"; echo "    pings: $n before, $(held_pings "$1") after 3 s"; } >&2
	return 1
}
# died_within NAME T0 SECONDS: the connection broke at most SECONDS after
# the epoch T0, and a later send failed.
died_within() {
	local out=$LIVE_DIR/hold-$1 t
	wait_for 3 grep -q '^late-send' "$out" || return 1
	t=$(awk '/^end/ { print $3 }' "$out")
	awk -v t="$t" -v t0="$2" -v max="$3" 'BEGIN { exit !(t - t0 <= max) }' &&
		! grep -q '^late-send ok' "$out"
}
show_hold() { echo "    hold-$1: $(grep -v '^ok' "$LIVE_DIR/hold-$1" | tr '\n' ' ')"; }

# ---- F1. permissive: plaintext fallback to a destination without nametag --------
expect_ok "shop is permissive" ntd $N ns enable shop --mode permissive
id0=$(last_flow_id)
echo_from "$CG_FRONTEND" "$NSA" "$POD_C" $ECHO_PORT 1048576
t_check "F1 permissive: frontend reaches pod C in plaintext, 1 MB echoed byte-identical" \
	jq -e .ok <<<"${R:-null}"
[ "$(jq -r .ok <<<"${R:-null}" 2>/dev/null)" = true ] || echo "    $R"
flow_wait "$id0" ".dst == \"$POD_C:$ECHO_PORT\" and .state != \"open\""
t_flow "F1 permissive: the flow closed, plaintext, 1 MB each way" '
	.type == "egress" and .transport == "plaintext" and .state == "closed" and
	.src_spiffe_id == "'"$ID_FRONTEND"'" and .namespace == "shop" and
	.bytes_up == 1048576 and .bytes_down == 1048576'

# ---- D2. permissive plaintext-in, then strict -------------------------------------
# The proxy's own plaintext connection (outside -> catalogue, steered to
# the proxy's NET socket) and an mTLS one (frontend -> catalogue) are open when shop turns
# strict: the first is closed, the second is allowed and stays.
# (A held connection's flow is older than the switch: ids are taken first.)
id0=$(last_flow_id)
hold mtls "$CG_FRONTEND" "$NSA" "$MESH_B" $CAT_PORT || t_fail "D2: frontend holds an mTLS connection"
hold plainin "$CG_OUTSIDE" "$NSA" "$MESH_B" $CAT_PORT || t_fail "D2: outside holds a plaintext one"
FLOW=$(flows_since "$id0" '.type == "inbound-plaintext" and .state == "open"' | jq -c last)
t_flow "D2: the plaintext one is the proxy's, open in permissive" '.transport == "plaintext"'
t0=$(date +%s.%N)
expect_ok "D2: shop is strict" ntd $N ns enable shop --mode strict
t_check "D2: the permissive plaintext-in connection dies within a second, a later send fails" \
	died_within plainin "$t0" 1.5 || show_hold plainin
flow_wait "$id0" '.type == "inbound-plaintext" and .state == "closed by strict"'
t_flow "D2: its flow says closed by strict, and why" '
	.namespace == "shop" and .mode == "strict" and .verdict == "deny" and
	.reason == "strict mode: plaintext refused" and (.src | startswith("'"$MESH_A"':"))'
t_check "D2: the proxied mTLS connection lives on" alive mtls
echo_from "$CG_FRONTEND" "$NSA" "$MESH_B" $CAT_PORT 4096
t_check "D2: the listener lives on: a new mTLS connection works" jq -e .ok <<<"${R:-null}"
echo_from "$CG_OUTSIDE" "$NSA" "$MESH_B" $CAT_PORT 4096
t_check "D2: and new plaintext is refused" jq -e '.ok | not' <<<"${R:-null}"

# ---- F3. strict, no egress rule: refused -----------------------------------------
conns_c=$(grep -c '^conn' "$LIVE_DIR/podc.log")
id0=$(last_flow_id)
echo_from "$CG_FRONTEND" "$NSA" "$POD_C" $ECHO_PORT 4096
t_check "F3 strict without an egress rule: the connection gets no byte back" \
	jq -e '.ok == false and (.got // 0) == 0' <<<"${R:-null}"
t_check "F3: pod C never saw it" [ "$(grep -c '^conn' "$LIVE_DIR/podc.log")" = "$conns_c" ]
flow_wait "$id0" ".dst == \"$POD_C:$ECHO_PORT\" and .state != \"open\""
t_flow "F3: its flow says refused, and why" '
	.state == "refused" and .verdict == "deny" and
	.reason == "strict mode: the destination node runs no nametag proxy, and no egress rule allows plaintext to it"'

# ---- F2. strict with an egress rule -------------------------------------------------
expect_ok "F2: policy with egress rules to pod C ($ECHO_PORT, $ECHO_PORT2)" ntd $N policy load "$P_BOTH"
id0=$(last_flow_id)
echo_from "$CG_FRONTEND" "$NSA" "$POD_C" $ECHO_PORT 1048576
t_check "F2 strict + egress rule: frontend reaches pod C, 1 MB echoed byte-identical" \
	jq -e .ok <<<"${R:-null}"
flow_wait "$id0" ".dst == \"$POD_C:$ECHO_PORT\" and .state != \"open\""
t_flow "F2: the flow closed, plaintext, allowed by the egress rule" '
	.type == "egress" and .transport == "plaintext" and .state == "closed" and
	.verdict == "allow" and .reason == "egress shop.egress[0] (allow)" and
	.mode == "strict" and .bytes_up == 1048576 and .bytes_down == 1048576'

# ---- D3. a policy reload drops one egress rule --------------------------------------
id0=$(last_flow_id)
hold eg1 "$CG_FRONTEND" "$NSA" "$POD_C" $ECHO_PORT || t_fail "D3: an egress connection to $ECHO_PORT"
hold eg2 "$CG_FRONTEND" "$NSA" "$POD_C" $ECHO_PORT2 || t_fail "D3: an egress connection to $ECHO_PORT2"
t0=$(date +%s.%N)
expect_ok "D3: reload without the $ECHO_PORT2 rule" ntd $N policy load "$P_ONE"
t_check "D3: the egress connection it allowed dies within a second" \
	died_within eg2 "$t0" 1.5 || show_hold eg2
flow_wait "$id0" ".type == \"egress\" and .dst == \"$POD_C:$ECHO_PORT2\" and .state != \"open\""
t_flow "D3: its flow says closed by policy, and why" '
	.state == "closed by policy" and .verdict == "deny" and
	.reason == "default deny: no egress rule"'
t_check "D3: the one a rule still allows stays" alive eg1
t_check "D3: the mTLS connection still lives" alive mtls

# ---- D1. connections made while shop was off, then strict -------------------------
# The policy in force allows plaintext egress to pod C's $ECHO_PORT only.
expect_ok "D1: shop is off" ntd $N ns disable shop
hold out "$CG_FRONTEND" "$NSA" "$POD_C" $ECHO_PORT2 || t_fail "D1: frontend holds a direct connection to pod C"
hold outok "$CG_FRONTEND" "$NSA" "$POD_C" $ECHO_PORT || t_fail "D1: and one to where an egress rule allows it"
hold in "$CG_OUTSIDE" "$NSA" "$MESH_B" $CAT_PORT || t_fail "D1: outside holds a direct connection to catalogue"
hold lo "$CG_CATALOGUE" "$NSB" 127.0.0.1 $CAT_LO_PORT || t_fail "D1: catalogue talks to itself over loopback"
t_check "D1: direct, not proxied: pod C sees frontend's own address" \
	grep -q "^conn $POD_A_C:$(awk '/^up/ { print $2 }' "$LIVE_DIR/hold-out")\$" "$LIVE_DIR/podc.log"
id0=$(last_flow_id)
t0=$(date +%s.%N)
expect_ok "D1: shop is strict" ntd $N ns enable shop --mode strict
t_check "D1: the outbound one dies within a second, a later send fails" \
	died_within out "$t0" 1.5 || show_hold out
t_check "D1: the inbound one dies within a second, a later send fails" \
	died_within in "$t0" 1.5 || show_hold in
t_check "D1: the workload saw its socket aborted" grep -q '^end ECONNABORTED' "$LIVE_DIR/hold-out"
t_check "D1: the outside client saw a reset" grep -q '^end ECONNRESET' "$LIVE_DIR/hold-in"
flow_wait "$id0" ".state == \"closed by strict\" and .dst == \"$POD_C:$ECHO_PORT2\""
t_flow "D1: the outbound flow says closed by strict, and how" '
	.type == "egress" and .namespace == "shop" and .transport == "plaintext" and
	(.src | startswith("'"$POD_A_C"':")) and .verdict == "deny" and
	(.reason | endswith("destroyed (sock_diag SOCK_DESTROY)"))'
flow_wait "$id0" ".state == \"closed by strict\" and .dst == \"$MESH_B:$CAT_PORT\""
t_flow "D1: the inbound flow says closed by strict" '
	.type == "inbound-plaintext" and .namespace == "shop" and
	(.src | startswith("'"$MESH_A"':")) and .verdict == "deny"'
t_check "D1: no other connection was closed" [ "$(flows_since "$id0" \
	'.state == "closed by strict" or .state == "closed by policy"' | jq length)" = 2 ]
t_check "D1: the log says what was closed" grep -q \
	'namespace shop is strict: closed 2 plaintext connections (1 outbound, 1 inbound)' \
	"${D_DIR[$N]}/log"
t_check "D1: the direct one an egress rule allows lives on" alive outok
t_check "D1: loopback inside the pod lives on" alive lo
t_check "D1: the proxied mTLS connection lives on" alive mtls
t_check "D1: the egress one its rule allows lives on" alive eg1
t_check "D1: listeners live on" eval "ip netns exec $NSB ss -ltn | grep -q '$MESH_B:$CAT_PORT '"
echo_from "$CG_FRONTEND" "$NSA" "$MESH_B" $CAT_PORT 4096
t_check "D1: a new mTLS connection works" jq -e .ok <<<"${R:-null}"
[ "${T_VERBOSE:-}" ] && grep -i 'strict\|destroy' "${D_DIR[$N]}/log"

# ---- feature probe ------------------------------------------------------------------
expect_ok "feature probe -j" ntd $N -j feature probe
t_check "feature probe: SOCK_DESTROY is available here" \
	jq -e '.sock_destroy.available == true' <<<"$OUT"
expect_ok "feature probe" ntd $N feature probe
t_check "feature probe: the text says so" grep -q 'sock_diag SOCK_DESTROY .* is available' <<<"$OUT"

printf '# runtime: %d s\n' $((SECONDS - T_START))
live_finish
