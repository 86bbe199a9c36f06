#!/usr/bin/env bash
# Flow records an operator can read (docs/control.md, flows), in strict:
#
#   - an outbound flow's source is the pod's address on the wire (the one
#     the destination records), never 127.0.0.1 of the redirected leg
#   - flow watch prints each change of a flow once, never a line without
#     a verdict
#   - an open inbound flow names its namespace and mode
#   - the caller's side tells "the destination node runs no nametag proxy"
#     from "the destination port has no enrolled listener"
#   - a server-side TLS failure names its cause: no client certificate,
#     unknown trust domain, expired, wrong key usage
#
# The two pods and one nametagd of lib_mesh.sh, plus pod C, joined to pod A
# and served by no nametagd (a node without nametag). Needs root.
set -u
cd "$(dirname "$0")/../.."
. tests/live/lib.sh
. tests/live/lib_mesh.sh
skip_unless_root
live_init
write_helpers
write_mesh_helpers
N=$MESH_NODE
CLI=("$PY" "$LIVE_DIR/meshcli.py")
POD_A_C=10.87.3.1
POD_C=10.87.3.2

mesh_up_strict "8080, 9003, 9100, 9200"
netns_add NSC c && veth_pair "$NSA" "$POD_A_C/24" "$NSC" "$POD_C/24" ||
	t_fail "pod C comes up, joined to pod A"
start_server catalogue 0.0.0.0 8080 "$NSB" "$CG_CATALOGUE" ||
	t_fail "catalogue listens in pod B"
spawn_in_pod "$CG_CATALOGUE" "$NSB" "$PY" "$LIVE_DIR/meshsrv.py" "$MESH_B" \
	9003:stream >"$LIVE_DIR/srv.log" 2>&1
start_server plain 0.0.0.0 9100 "$NSB" || t_fail "a server outside the mesh in pod B"
start_server nodec 0.0.0.0 9200 "$NSC" || t_fail "a server in pod C"
wait_for 10 grep -q ready "$LIVE_DIR/srv.log" || t_fail "the stream server starts"

# call CGROUP HOST PORT: client.py from pod A; $CPORT, $CREPLY.
call() {
	read -r _ CPORT CREPLY <<<"$(in_pod "$1" "$NSA" "$PY" "$LIVE_DIR/client.py" "$2" "$3" rec)"
}

# ---- the source address, and flow watch ---------------------------------------------
nt_cmd $N
spawn "${NT[@]}" -j flow watch >"$LIVE_DIR/watch.json" 2>&1
WATCH_J=$BG_PID
spawn "${NT[@]}" flow watch >"$LIVE_DIR/watch.txt" 2>&1
WATCH_T=$BG_PID
sleep 0.5
id0=$(last_flow_id)
call "$CG_FRONTEND" "$MESH_B" 8080
t_check "frontend reaches catalogue" [ "$CREPLY" = srv:rec ]
flow_wait "$id0" '.type == "outbound" and .state != "open"'
OUT=$FLOW
flow_wait "$id0" '.type == "inbound" and .state != "open"'
IN=$FLOW
FLOW=$OUT
t_flow "outbound: the source is the pod's address, not the redirected leg's" "
	(.src | startswith(\"$MESH_A:\")) and (.src | startswith(\"127.\") | not)"
t_check "outbound: the source is the one the destination recorded" \
	jq -e --argjson i "$IN" '.src == $i.src' <<<"$OUT"
t_flow "outbound: the workload's own leg is kept as redirect_src" "
	.redirect_src == \"127.0.0.1:$CPORT\""
sleep 0.5
kill "$WATCH_J" "$WATCH_T" 2>/dev/null
oid=$(jq .id <<<"$OUT")
iid=$(jq .id <<<"$IN")
W=$(jq -c -s --argjson o "$oid" --argjson i "$iid" '[.[] | select(.id == $o or .id == $i)]' "$LIVE_DIR/watch.json")
t_check "watch: both flows were streamed" jq -e 'length >= 4' <<<"$W"
if jq -e 'all(.[]; .verdict != null)' <<<"$W" >/dev/null; then
	t_ok "watch: no line without a verdict"
else
	t_fail "watch: no line without a verdict" "$W"
fi
if jq -e 'group_by(.id) | all(.[]; [.[] | {state, verdict, reason}] as $l |
	($l | length) == ($l | unique | length))' <<<"$W" >/dev/null; then
	t_ok "watch: each change of a flow printed once"
else
	t_fail "watch: each change of a flow printed once" "$W"
fi
t_check "watch (text): no 'verdict -' line" not grep -q 'verdict -' "$LIVE_DIR/watch.txt"
if jq -e 'all(.[] | select(.type == "inbound"); .namespace == "shop" and .mode == "strict")' \
	<<<"$W" >/dev/null; then
	t_ok "watch: every inbound line names its namespace and mode"
else
	t_fail "watch: every inbound line names its namespace and mode" "$W"
fi
t_check "watch (text): no 'ns - (off)' line" not grep -q 'ns - (off)' "$LIVE_DIR/watch.txt"

# ---- an open inbound flow -----------------------------------------------------------
id0=$(last_flow_id)
spawn_in_pod "$CG_FRONTEND" "$NSA" "${CLI[@]}" stream "$MESH_B" 9003 >"$LIVE_DIR/stream.out" 2>&1
wait_for 5 grep -q tick "$LIVE_DIR/stream.out"
flow_wait "$id0" '.type == "inbound" and .state == "open"'
t_flow "open inbound flow: namespace and mode" '.namespace == "shop" and .mode == "strict"'
t_check "open inbound flow in the text list: ns shop (strict)" eval \
	"ntd $N flow list | grep -E '  inbound  ns shop \(strict\) .* open$' >/dev/null"
kill "$BG_PID" 2>/dev/null

# ---- the caller's side: why no mTLS ---------------------------------------------------
id0=$(last_flow_id)
call "$CG_FRONTEND" "$POD_C" 9200
t_check "strict: frontend does not reach pod C" [ "$CREPLY" != srv:rec ]
flow_wait "$id0" ".dst == \"$POD_C:9200\" and .state != \"open\""
t_flow "no nametag at the destination: said so" '
	.verdict == "deny" and (.reason | contains("the destination node runs no nametag proxy"))'
id0=$(last_flow_id)
call "$CG_FRONTEND" "$MESH_B" 9100
t_check "strict: frontend does not reach the server outside the mesh" [ "$CREPLY" != srv:rec ]
flow_wait "$id0" ".dst == \"$MESH_B:9100\" and .state != \"open\""
t_flow "no enrolled listener at the destination port: said so" '
	.verdict == "deny" and (.reason | contains("the destination port has no enrolled listener")) and
	(.reason | contains("no nametag proxy") | not)'

# ---- the server's side: why a handshake failed ------------------------------------------
C=$LIVE_DIR/certs
mkdir -p "$C"
{ "$NAMETAG" --state-dir "$LIVE_DIR/other" ca init --trust-domain other.test &&
  "$NAMETAG" --state-dir "$LIVE_DIR/other" svid mint spiffe://other.test/ns/shop/sa/frontend \
	--out "$C/other"; } >"$C/other.out" 2>&1 || t_fail "an SVID of another trust domain"
sign_svid "$C/expired" "$ID_FRONTEND" "$(utc '-2 hours')" "$(utc '-1 hour')" ||
	t_fail "openssl signs an expired SVID"
SIGN_KU="critical, keyEncipherment" sign_svid "$C/ku" "$ID_FRONTEND" \
	"$(utc '-1 minute')" "$(utc '+1 hour')" || t_fail "openssl signs an SVID without digitalSignature"

# cause NAME WANT ARGS...: s_client with ARGS is refused and the
# server-side flow's reason starts with WANT.
cause() {
	local name=$1 want=$2 id
	shift 2
	id=$(last_flow_id)
	mesh_sclient "$LIVE_DIR/sc-$name.out" "$@"
	flow_wait "$id" '.type == "inbound" and (.src | startswith("'"$MESH_A"':")) and .state != "open"'
	t_flow "handshake failure, $name: the reason names the cause" "
		.state == \"handshake failed\" and .verdict == \"deny\" and
		(.reason | startswith(\"$want\")) and
		.namespace == \"shop\" and .mode == \"strict\""
}
cause "no client certificate" "TLS handshake failed: no client certificate"
cause "another trust domain" "TLS handshake failed: unknown trust domain" \
	-cert "$C/other.crt" -key "$C/other.key"
cause "expired" "TLS handshake failed: expired" -cert "$C/expired.crt" -key "$C/expired.key"
cause "wrong key usage" "TLS handshake failed: wrong key usage" -cert "$C/ku.crt" -key "$C/ku.key"

live_finish
