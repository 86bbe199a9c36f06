#!/usr/bin/env bash
# The same-node direct path (nametagd --same-node direct), as a user sees
# it. lib_mesh.sh's two pods A and B, joined by a veth pair, served by one
# nametagd; a third pod C, joined to A by a second veth pair, served by
# another nametagd (n2, a second "node" holding the same CA).
#
#   - frontend (A) -> catalogue (B), allowed: the bytes come back, the veth
#     between the pods carries no TCP payload at all (so no TLS record
#     either), both flows name both identities with transport same-node,
#     and catalogue sees the connection come from the node proxy's
#     loopback address, as on the mTLS path
#   - intruder (A) -> catalogue, denied by shop's rules: strict refuses it
#     with a reset and the inbound flow says the inbound policy denied it;
#     permissive lets it through and records would-deny; observe changes
#     nothing (no redirect at all)
#   - frontend -> pod C, which this nametagd does not serve: the mTLS path
#     (TLS records on C's veth, transport mtls)
#   - default (same-node mtls, after a restart without the option): TLS
#     records on the veth again
# Everything is private (cgroup subtree, bpffs, netns) and removed at the
# end, which is checked. Needs root.
set -u
cd "$(dirname "$0")/../.."
. tests/live/lib.sh
. tests/live/lib_mesh.sh
skip_unless_root
skip_unless_tools tcpdump jq curl
live_init
write_mesh_helpers
CLI=("$PY" "$LIVE_DIR/meshcli.py")
N=$MESH_NODE
T_START=$SECONDS
MESH_C=10.88.0.3
MESH_AC=10.88.0.1

expect_fail "a bad --same-node is refused, naming the choices" "expected mtls or direct" \
	"$NAMETAGD" --same-node tls --state-dir "$LIVE_DIR/nostate" --version
echo '{"same_node": "tls"}' >"$LIVE_DIR/bad.json"
expect_fail "a bad same_node in the config file is refused, naming its place" \
	'bad.json:1:2: "same_node" is "mtls" or "direct"' \
	"$NAMETAGD" --config "$LIVE_DIR/bad.json" --version
DAEMON_ARGS="--same-node direct" mesh_up_strict "8080, 9000"

spawn_in_pod "$CG_CATALOGUE" "$NSB" "$PY" -m http.server 8080 --bind "$MESH_B" \
	--directory "$LIVE_DIR" >"$LIVE_DIR/http.log" 2>&1
spawn_in_pod "$CG_CATALOGUE" "$NSB" "$PY" "$LIVE_DIR/meshsrv.py" "$MESH_B" \
	9000:sink >"$LIVE_DIR/srv.log" 2>&1
wait_for 10 grep -q ready "$LIVE_DIR/srv.log" &&
wait_for 10 eval "ip netns exec $NSB ss -ltn | grep -q '$MESH_B:8080 '" ||
	t_fail "servers start"
echo "same-node-$TAG" >"$LIVE_DIR/page"
chmod 644 "$LIVE_DIR/page"

# send CGROUP HOST N: meshcli's send from pod A as a process of CGROUP.
send() {
	in_pod "$1" "$NSA" "${CLI[@]}" send "$2" 9000 "$3"
}

# pcap_tcp FILE: the capture's TCP streams with payload (pcapcheck.py).
pcap_tcp() {
	"$PY" "$LIVE_DIR/pcapcheck.py" "$1" 15008
}

# ---- 1. allowed, relayed in memory ---------------------------------------------------
cap_start "$LIVE_DIR/direct.pcap" || t_fail "tcpdump starts"
id0=$(last_flow_id)
out=$(send "$CG_FRONTEND" "$MESH_B" 4000000)
t_check "allowed: 4 MB from frontend reach catalogue and its digest comes back" \
	jq -e .ok <<<"$out"
page=$(in_pod "$CG_FRONTEND" "$NSA" curl -sS -m 5 "http://$MESH_B:8080/page" 2>&1)
t_check "allowed: an HTTP request gets its page" [ "$page" = "same-node-$TAG" ]
cap_stop || t_fail "the capture ran to its end marker"
PC=$(pcap_tcp "$LIVE_DIR/direct.pcap")
t_pcap "wire: no TCP payload byte crossed the veth between the pods" \
	'.streams == [] and .outside_mesh_bytes == 0'
t_pcap "wire: no TLS record either (nothing to the mesh port)" \
	'all(.streams[]; .records == 0)'
[ "${T_VERBOSE:-}" ] && echo "$PC"
flow_wait "$id0" ".type == \"inbound\" and .dst == \"$MESH_B:9000\" and .state != \"open\""
t_flow "allowed: the inbound flow names both identities, shop's rule, transport same-node" "
	.src_spiffe_id == \"$ID_FRONTEND\" and .dst_spiffe_id == \"$ID_CATALOGUE\" and
	.verdict == \"allow\" and .reason == \"rule shop.rules[0] (allow)\" and
	.transport == \"same-node\" and .namespace == \"shop\" and .mode == \"strict\" and
	.state == \"closed\" and .bytes_up == 4000000 and (.tls_version | not) and
	(.src | startswith(\"$MESH_A:\"))"
flow_wait "$id0" ".type == \"outbound\" and .dst == \"$MESH_B:9000\" and .state != \"open\""
t_flow "allowed: the caller's outbound flow says the same, with its SVID" "
	.src_spiffe_id == \"$ID_FRONTEND\" and .dst_spiffe_id == \"$ID_CATALOGUE\" and
	.verdict == \"allow\" and .transport == \"same-node\" and
	.caller.svid.serial != null and .state == \"closed\" and
	.bytes_up == 4000000 and (.src | startswith(\"$MESH_A:\"))"
t_check "allowed: catalogue saw the request from the node proxy's loopback" \
	grep -q "^127.0.0.6 .*GET /page" "$LIVE_DIR/http.log"

# ---- 2. the destination's policy: strict, permissive, observe ------------------------
id0=$(last_flow_id)
out=$(send "$CG_INTRUDER" "$MESH_B" 1000)
t_check "strict: intruder's connection fails" not jq -e .ok <<<"$out"
t_check "strict: it was reset, as the mTLS path resets it" \
	jq -e '.error | test("reset|Connection reset|Broken pipe")' <<<"$out"
flow_wait "$id0" ".type == \"inbound\" and .src_spiffe_id == \"$ID_INTRUDER\" and .state != \"open\""
t_flow "strict: the inbound flow says shop's policy denied it" "
	.verdict == \"deny\" and .reason == \"default deny: no allow rule\" and
	.state == \"denied\" and .namespace == \"shop\" and .transport == \"same-node\" and
	.dst_spiffe_id == \"$ID_CATALOGUE\""
flow_wait "$id0" ".type == \"outbound\" and .src_spiffe_id == \"$ID_INTRUDER\" and .state != \"open\""
t_flow "strict: the caller's flow says deny and why" "
	.verdict == \"deny\" and .reason == \"default deny: no allow rule\" and
	.transport == \"same-node\""

expect_ok "shop is permissive" ntd $N ns enable shop --mode permissive
id0=$(last_flow_id)
out=$(send "$CG_INTRUDER" "$MESH_B" 1000)
t_check "permissive: intruder gets through" jq -e .ok <<<"$out"
flow_wait "$id0" ".type == \"inbound\" and .src_spiffe_id == \"$ID_INTRUDER\" and .state != \"open\""
t_flow "permissive: its flow records what strict would do" "
	.verdict == \"would-deny\" and .reason == \"default deny: no allow rule\" and
	.mode == \"permissive\" and .transport == \"same-node\" and .state == \"closed\""

expect_ok "shop is in observe" ntd $N ns enable shop --mode observe
id0=$(last_flow_id)
out=$(send "$CG_INTRUDER" "$MESH_B" 1000)
t_check "observe: intruder gets through" jq -e .ok <<<"$out"
flow_wait "$id0" ".src_spiffe_id == \"$ID_INTRUDER\" and .verdict == \"would-deny\""
t_flow "observe: nothing is proxied, the would-deny is recorded" '.type == "connect"'
t_check "observe: no same-node flow (no redirect)" \
	[ "$(flows_since_count "$id0" '.transport == "same-node"')" = 0 ]
expect_ok "shop is strict again" ntd $N ns enable shop --mode strict

# ---- 3. a destination this nametagd does not serve: mTLS -----------------------------
netns_add NSC c
veth_pair "$NSA" "$MESH_AC/24" "$NSC" "$MESH_C/24"
VETH_C=$(netns_veth "$NSC")
mkcg n2/shop/catalogue
mkdir -p -m 700 "$LIVE_DIR/n2" "$LIVE_DIR/n2/state"
chmod 700 "$LIVE_DIR/n2/state"
cp -a "${D_DIR[$N]}/state/ca" "${D_DIR[$N]}/state/bundle.json" "$LIVE_DIR/n2/state/"
if DAEMON_ARGS="--same-node direct" start_daemon n2 "$LIVE_CG/n2" "$MESH_TD"; then
	expect_ok "n2: ns add shop" ntd n2 ns add shop --cgroup "$LIVE_CG/n2/shop"
	expect_ok "n2: policy" ntd n2 policy load "$POLICY"
	expect_ok "n2: shop strict" ntd n2 ns enable shop --mode strict
else
	t_fail "a second nametagd serves pod C"
fi
spawn_in_pod "$LIVE_CG/n2/shop/catalogue" "$NSC" "$PY" "$LIVE_DIR/meshsrv.py" "$MESH_C" \
	9000:sink >"$LIVE_DIR/srv-c.log" 2>&1
wait_for 10 grep -q ready "$LIVE_DIR/srv-c.log" || t_fail "pod C's server starts"
cap_start "$LIVE_DIR/c.pcap" "$NSC" "$VETH_C" "$MESH_C" || t_fail "tcpdump starts on pod C's veth"
id0=$(last_flow_id)
out=$(send "$CG_FRONTEND" "$MESH_C" 200000)
t_check "not served here: frontend reaches pod C" jq -e .ok <<<"$out"
flow_wait "$id0" ".type == \"outbound\" and .dst == \"$MESH_C:9000\" and .state != \"open\""
t_flow "not served here: the outbound flow went by mTLS" "
	.transport == \"mtls\" and .tls_version == \"TLSv1.3\" and
	.dst_spiffe_id == \"$ID_CATALOGUE\" and .verdict == \"allow\""
cap_stop || t_fail "the capture on pod C's veth ran to its end marker"
PC=$(pcap_tcp "$LIVE_DIR/c.pcap")
t_pcap "not served here: C's veth carried TLS records to the mesh port, nothing else" '
	any(.streams[]; .dst | endswith(":15008")) and all(.streams[]; .tls == "ok") and
	any(.streams[]; .appdata >= 1) and .outside_mesh_bytes == 0'

# ---- 4. the default: mTLS between two pods of one node -------------------------------
stop_daemon "$N"
D_ARGS[$N]=""
mesh_restart || t_fail "nametagd restarts without --same-node"
cap_start "$LIVE_DIR/mtls.pcap"
id0=$(last_flow_id)
wait_for 10 eval 'send "$CG_FRONTEND" "$MESH_B" 100000 | jq -e .ok >/dev/null'
t_check "default: frontend still reaches catalogue" jq -e .ok <<<"$(send "$CG_FRONTEND" "$MESH_B" 100000)"
cap_stop || t_fail "the capture ran to its end marker"
PC=$(pcap_tcp "$LIVE_DIR/mtls.pcap")
t_pcap "default: the veth carries TLS records to the mesh port, no plaintext" '
	any(.streams[]; .dst | endswith(":15008")) and all(.streams[]; .tls == "ok") and
	any(.streams[]; .appdata >= 1) and .outside_mesh_bytes == 0'
flow_wait "$id0" ".type == \"outbound\" and .dst == \"$MESH_B:9000\" and .state != \"open\""
t_flow "default: the flow says mtls" '.transport == "mtls" and .verdict == "allow"'

echo "suite time: $((SECONDS - T_START))s"
live_finish
