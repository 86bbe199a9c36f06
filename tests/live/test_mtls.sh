#!/usr/bin/env bash
# Transparent mTLS on a live kernel, as a user sees it. Two pods (network
# namespaces joined by a veth pair) and one nametagd (in a network
# namespace of its own, lib.sh's "node") serving both; the
# namespace "shop" is enrolled strict with one rule, frontend -> catalogue.
#
#   - an allowed HTTP request works and the veth carries TLS records only,
#     never the request or the response; a denied caller fails and both
#     flows say why; permissive lets plaintext in, strict does not
#   - 100 MB each way arrive byte-identical through the proxy pair, with
#     both half-closes honoured; 200 connections at once all succeed
#   - a client that never finishes its handshake is cut off; TLS 1.2, no
#     certificate, a foreign trust domain and an expired SVID are refused
#   - policy reload closes what it denies, and an invalid file changes
#     nothing
#   - SVID rotation does not disturb a long transfer
#   - kill -9 of nametagd fails closed; a restart resumes without
#     re-enrolling
# Everything is private (cgroup subtree, bpffs, netns) and removed at the
# end, which is checked. Needs root.
set -u
cd "$(dirname "$0")/../.."
. tests/live/lib.sh
. tests/live/lib_mesh.sh
skip_unless_root
skip_unless_tools tcpdump openssl curl jq
live_init
write_mesh_helpers
T_START=$SECONDS
# Smaller figures for slow machines (the qemu VM): MTLS_BULK_MB, MTLS_CONNS.
BULK_MB=${MTLS_BULK_MB:-100}
CONNS=${MTLS_CONNS:-200}
BULK=$((BULK_MB * 1024 * 1024))
CLI=("$PY" "$LIVE_DIR/meshcli.py")
N=$MESH_NODE

mesh_up_strict "8080, 9000, 9001, 9003, 9004"

# catalogue (pod B, enrolled): HTTP on 8080, the byte movers on 9000-9004;
# a server outside the mesh on 9500 for the plain-TCP baseline.
WWW=$LIVE_DIR/www
mkdir -p "$WWW"
chmod 755 "$WWW"
SECRET=catalogue-$TAG-shelf
BODY="catalogue-body-$TAG: 42 items in stock"
echo "$BODY" >"$WWW/$SECRET"
spawn_in_pod "$CG_CATALOGUE" "$NSB" "$PY" -m http.server 8080 --bind "$MESH_B" \
	--directory "$WWW" >"$LIVE_DIR/http.log" 2>&1
spawn_in_pod "$CG_CATALOGUE" "$NSB" "$PY" "$LIVE_DIR/meshsrv.py" "$MESH_B" \
	9000:sink 9001:source 9003:stream 9004:stream >"$LIVE_DIR/srv.log" 2>&1
spawn_in_pod "$CG_OUTSIDE" "$NSB" "$PY" "$LIVE_DIR/meshsrv.py" "$MESH_B" \
	9500:sink 9501:source >"$LIVE_DIR/plain.log" 2>&1
wait_for 10 grep -q ready "$LIVE_DIR/srv.log" &&
wait_for 10 grep -q ready "$LIVE_DIR/plain.log" &&
wait_for 10 eval "ip netns exec $NSB ss -ltn | grep -q '$MESH_B:8080 '" ||
	t_fail "servers start"

# get CGROUP PATH: curl from pod A as a process of CGROUP.
get() {
	in_pod "$1" "$NSA" curl -sS -m 5 "http://$MESH_B:8080/$2"
}

# ---- 1. the allowed request, on the wire ----------------------------------------
cap_start "$LIVE_DIR/allowed.pcap" || t_fail "tcpdump starts"
id0=$(last_flow_id)
out=$(get "$CG_FRONTEND" "$SECRET" 2>&1)
t_check "allowed: frontend gets catalogue's page" [ "$out" = "$BODY" ]
flow_wait "$id0" '.type == "inbound" and .state != "open"'
in_flow=$FLOW
flow_wait "$id0" '.type == "outbound" and .state != "open"'
cap_stop || t_fail "the capture ran to its end marker"
t_flow "allowed: outbound flow names both identities, the rule, TLS 1.3" "
	.src_spiffe_id == \"$ID_FRONTEND\" and .dst_spiffe_id == \"$ID_CATALOGUE\" and
	.verdict == \"allow\" and .reason == \"rule shop.rules[0] (allow)\" and
	.tls_version == \"TLSv1.3\" and (.ktls_tx | type) == \"boolean\" and
	.state == \"closed\" and .dst == \"$MESH_B:8080\""
FLOW=$in_flow
t_flow "allowed: inbound flow names both identities and the rule" "
	.src_spiffe_id == \"$ID_FRONTEND\" and .dst_spiffe_id == \"$ID_CATALOGUE\" and
	.verdict == \"allow\" and .state == \"closed\" and .namespace == \"shop\""
t_check "allowed: catalogue saw the request from the node proxy" \
	grep -q "^127.0.0.6 .*GET /$SECRET" "$LIVE_DIR/http.log"
PC=$("$PY" "$LIVE_DIR/pcapcheck.py" "$LIVE_DIR/allowed.pcap" 15008)
t_pcap "wire: both directions of the mesh connection were captured" '
	any(.streams[]; .dst | endswith(":15008")) and
	any(.streams[]; .src | endswith(":15008"))'
t_pcap "wire: every captured stream is TLS records from its first byte to its last" \
	'(.streams | length) >= 2 and all(.streams[]; .tls == "ok")'
t_pcap "wire: application data records flow both ways" '
	all(.streams[]; .appdata >= 1)'
t_pcap "wire: no payload byte outside the mesh port" \
	'.outside_mesh_bytes == 0'
t_check "wire: the request path never appears" not pcap_has "$LIVE_DIR/allowed.pcap" "$SECRET"
t_check "wire: the response body never appears" not pcap_has "$LIVE_DIR/allowed.pcap" "catalogue-body-$TAG"
[ "${T_VERBOSE:-}" ] && echo "$PC"

# ---- 1b. the denied caller -------------------------------------------------------
id0=$(last_flow_id)
get "$CG_INTRUDER" "$SECRET-intruder" >"$LIVE_DIR/intruder.out" 2>&1
rc=$?
t_check "denied: intruder's request fails" [ $rc -ne 0 ]
t_check "denied: intruder gets nothing of the page" not grep -q "catalogue-body" "$LIVE_DIR/intruder.out"
t_check "denied: catalogue never saw it" not grep -q "$SECRET-intruder" "$LIVE_DIR/http.log"
flow_wait "$id0" ".type == \"outbound\" and .src_spiffe_id == \"$ID_INTRUDER\" and .state != \"open\""
t_flow "denied: caller-side flow says deny and why" '
	.verdict == "deny" and .reason == "default deny: no allow rule" and
	.dst_spiffe_id == "'"$ID_CATALOGUE"'"'
flow_wait "$id0" ".type == \"inbound\" and .src_spiffe_id == \"$ID_INTRUDER\" and .state != \"open\""
t_flow "denied: server-side flow says deny and why" '
	.verdict == "deny" and .reason == "default deny: no allow rule" and
	.state == "denied"'

# ---- 1c. plaintext: permissive lets it in, strict does not ------------------------
expect_ok "shop is permissive" ntd $N ns enable shop --mode permissive
cap_start "$LIVE_DIR/plain.pcap"
id0=$(last_flow_id)
out=$(get "$CG_OUTSIDE" "$SECRET?permissive" 2>&1)
cap_stop || t_fail "the capture ran to its end marker"
t_check "permissive: a caller outside the mesh gets the page" [ "$out" = "$BODY" ]
flow_wait "$id0" '.type == "inbound-plaintext"'
t_flow "permissive: its flow is inbound-plaintext, would-deny" "
	.verdict == \"would-deny\" and .transport == \"plaintext\" and
	.src_spiffe_id == null and .dst_spiffe_id == \"$ID_CATALOGUE\" and
	.mode == \"permissive\""
# The same capture and search do see plaintext when there is some.
t_check "permissive: the capture shows that request in clear (the search works)" \
	pcap_has "$LIVE_DIR/plain.pcap" "$SECRET?permissive"
t_check "permissive: and the analyser sees non-TLS bytes off the mesh port" jq -e '
	.outside_mesh_bytes > 0 and any(.streams[]; .tls != "ok")' \
	<<<"$("$PY" "$LIVE_DIR/pcapcheck.py" "$LIVE_DIR/plain.pcap" 15008)"
out=$(get "$CG_FRONTEND" "$SECRET" 2>&1)
t_check "permissive: frontend still gets the page" [ "$out" = "$BODY" ]

expect_ok "shop is strict again" ntd $N ns enable shop --mode strict
id0=$(last_flow_id)
get "$CG_OUTSIDE" "$SECRET?strict" >"$LIVE_DIR/strict.out" 2>&1
rc=$?
t_check "strict: the caller outside the mesh fails" [ $rc -ne 0 ]
t_check "strict: catalogue never saw it" not grep -q "$SECRET?strict" "$LIVE_DIR/http.log"
flow_wait "$id0" '.type == "inbound-plaintext"'
t_flow "strict: its flow is a deny naming strict mode" '
	.verdict == "deny" and .reason == "strict mode: plaintext refused"'

# The handshake-timeout probes (4.) run in the background from a second
# address of pod A (so their flows are told apart) while 2. and 3. go on.
ip -n "$NSA" addr add 10.87.0.3/24 dev "$VETH_A"
for how in silent half; do
	NT_SRC=10.87.0.3 spawn ip netns exec "$NSA" "${CLI[@]}" raw "$MESH_B" 15008 $how \
		>"$LIVE_DIR/raw-$how.out" 2>&1
	eval "RAW_$how=\$BG_PID"
done

# ---- 2. 100 MB each way, half-closes ----------------------------------------------
# send: the client half-closes after the bulk; only if that FIN crossed the
# mesh does the server answer, and only if the server's close crossed back
# does the client's read end. recv: after the client's half-close the
# server still sends the bulk the other way.
id0=$(last_flow_id)
up=$(in_pod "$CG_FRONTEND" "$NSA" "${CLI[@]}" send "$MESH_B" 9000 $BULK)
t_check "$BULK_MB MB up: byte-identical (sha256 both ends), half-closes honoured" \
	jq -e .ok <<<"${up:-null}"
down=$(in_pod "$CG_FRONTEND" "$NSA" "${CLI[@]}" recv "$MESH_B" 9001 $BULK)
t_check "$BULK_MB MB down after the client's half-close: byte-identical" \
	jq -e .ok <<<"${down:-null}"
# Both sides' flows count the bytes each way: the answer is "SHA256 COUNT\n",
# the request "COUNT\n".
ans=$((64 + 1 + ${#BULK} + 1)) req=$((${#BULK} + 1))
wait_for 5 eval '[ "$(flows_since_count "$id0" ".state == \"closed\"")" -ge 4 ]'
t_check "$BULK_MB MB: both sides' flows count every byte and end closed" [ "$(flows_since_count "$id0" "
	.state == \"closed\" and .src_spiffe_id == \"$ID_FRONTEND\" and
	((.bytes_up == $BULK and .bytes_down == $ans) or
	 (.bytes_up == $req and .bytes_down == $BULK + $ans))")" = 4 ]
pup=$(in_pod "$CG_OUTSIDE" "$NSA" "${CLI[@]}" send "$MESH_B" 9500 $BULK)
pdown=$(in_pod "$CG_OUTSIDE" "$NSA" "${CLI[@]}" recv "$MESH_B" 9501 $BULK)
t_check "plain TCP baseline runs" jq -e '.ok' <<<"${pup:-null}"
printf "# measure: $BULK_MB MB through the proxy pair: up %.0f MB/s (%.2f s), down %.0f MB/s (%.2f s)\n" \
	"$(jq .mbps <<<"${up:-null}")" "$(jq .secs <<<"${up:-null}")" \
	"$(jq .mbps <<<"${down:-null}")" "$(jq .secs <<<"${down:-null}")"
printf "# measure: $BULK_MB MB plain TCP, same pods: up %.0f MB/s, down %.0f MB/s\n" \
	"$(jq .mbps <<<"${pup:-null}")" "$(jq .mbps <<<"${pdown:-null}")"

# ---- 3. many connections at once --------------------------------------------------
id0=$(last_flow_id)
many=$(in_pod "$CG_FRONTEND" "$NSA" "${CLI[@]}" many "$MESH_B" 9000 "$CONNS")
t_check "$CONNS concurrent connections all get their answer" jq -e .ok <<<"${many:-null}"
OUTB='.type == "outbound" and .dst == "'"$MESH_B"':9000"'
INB='.type == "inbound" and .src_spiffe_id == "'"$ID_FRONTEND"'"'
wait_for 10 eval '[ "$(flows_since_count "$id0" "($OUTB or $INB) and .state == \"closed\"")" -ge $((2 * CONNS)) ]'
t_check "$CONNS concurrent: $((2 * CONNS)) flow records (both sides), every one closed" \
	[ "$(flows_since_count "$id0" "$OUTB or $INB")" = $((2 * CONNS)) \
	-a "$(flows_since_count "$id0" "($OUTB or $INB) and .state == \"closed\" and .verdict == \"allow\"")" = $((2 * CONNS)) ]
pmany=$(in_pod "$CG_OUTSIDE" "$NSA" "${CLI[@]}" many "$MESH_B" 9500 "$CONNS")
printf "# measure: $CONNS concurrent connections through the mesh: %.0f conn/s (%.2f s); plain TCP: %.0f conn/s\n" \
	"$(jq .per_s <<<"${many:-null}")" "$(jq .secs <<<"${many:-null}")" \
	"$(jq .per_s <<<"${pmany:-null}")"
[ "$(jq .ok <<<"${many:-null}")" = true ] || echo "    $many"

# ---- 4. handshakes that never finish ----------------------------------------------
for how in silent half; do
	eval "wait \$RAW_$how"
	r=$(cat "$LIVE_DIR/raw-$how.out")
	t_check "handshake timeout ($how client): the proxy ends it after 10 s" jq -e '
		.ok and .secs >= 9.5 and .secs < 14' <<<"${r:-null}"
	[ "${T_VERBOSE:-}" ] && echo "    $r"
done
t_check "handshake timeout: both flows say so" [ "$(flows_since_count 0 '
	.type == "inbound" and (.src | startswith("10.87.0.3:")) and
	.state == "timeout" and .reason == "handshake or connect timeout"')" = 2 ]

# ---- 5. refusals at the mesh port -------------------------------------------------
# Long-lived allowed streams stay open through the refusals: other
# connections' failures must not touch them.
ticks() { grep -c tick "$LIVE_DIR/stream-$1.out"; }
# open_streams TAG PORT...: a stream from frontend to each PORT, output in
# stream-TAG-PORT.out; waits until they flow.
open_streams() {
	local tag=$1 p
	shift
	for p in "$@"; do
		spawn_in_pod "$CG_FRONTEND" "$NSA" "${CLI[@]}" stream "$MESH_B" "$p" \
			>"$LIVE_DIR/stream-$tag-$p.out" 2>&1
	done
	for p in "$@"; do
		wait_for 5 eval '[ "$(ticks '"$tag-$p"')" -ge 3 ]' || return 1
	done
}
# still_ticking TAG-PORT: that stream got a new line within 3 s (a stream the
# refusal disturbed stops for good; 3 s leaves room for a loaded ASan run).
still_ticking() {
	local t
	t=$(ticks "$1")
	wait_for 3 eval '[ "$(ticks '"$1"')" -gt '"$t"' ]'
}
t_check "streams to 9003 and 9004 flow" open_streams 5 9003 9004
C=$LIVE_DIR/certs
mkdir -p "$C"
ntd $N svid mint "$ID_FRONTEND" --out "$C/front" --ttl 10m >"$C/front.out" 2>&1 ||
	t_fail "svid mint for frontend" "$(cat "$C/front.out")"
{ "$NAMETAG" --state-dir "$LIVE_DIR/other" ca init --trust-domain other.test &&
  "$NAMETAG" --state-dir "$LIVE_DIR/other" svid mint spiffe://other.test/ns/shop/sa/frontend \
	--out "$C/other"; } >"$C/other.out" 2>&1 ||
	t_fail "an SVID of another trust domain" "$(cat "$C/other.out")"
sign_svid "$C/expired" "$ID_FRONTEND" "$(utc '-2 hours')" "$(utc '-1 hour')" ||
	t_fail "openssl signs an expired SVID"
sign_svid "$C/signed" "$ID_FRONTEND" "$(utc '-1 minute')" "$(utc '+1 hour')" ||
	t_fail "openssl signs a current SVID"

# refused NAME WANT ARGS...: s_client with ARGS fails, gets neither the
# verdict nor the page, and the server-side flow's reason contains WANT.
refused() {
	local name=$1 want=$2 rc id
	shift 2
	id=$(last_flow_id)
	mesh_sclient "$LIVE_DIR/sc-$name.out" "$@"
	rc=$?
	if [ $rc -ne 0 ] && ! grep -q -e "NT1 ALLOW" -e "catalogue-body" "$LIVE_DIR/sc-$name.out"; then
		t_ok "refused: $name"
	else
		t_fail "refused: $name" "s_client exit $rc" "$(tail -n 5 "$LIVE_DIR/sc-$name.out")"
	fi
	flow_wait "$id" '.type == "inbound" and (.src | startswith("'"$MESH_A"':")) and .state != "open"'
	[ "${T_VERBOSE:-}" ] && echo "    $(jq -c '{state, reason}' <<<"${FLOW:-null}")"
	if jqf '.state == "handshake failed" and .verdict == "deny"' &&
	   jq -e --arg w "$want" '.reason | ascii_downcase | contains($w | ascii_downcase)' \
		<<<"$FLOW" >/dev/null; then
		t_ok "refused: $name: the flow names the reason"
	else
		t_fail "refused: $name: the flow names the reason" "want '$want' in: $FLOW"
	fi
}

# accepted NAME ARGS...: the same s_client gets the verdict and the page.
accepted() {
	local name=$1
	shift
	SCLIENT_PATH=/$SECRET mesh_sclient "$LIVE_DIR/sc-$name.out" "$@"
	if grep -q "^NT1 ALLOW" "$LIVE_DIR/sc-$name.out" &&
	   grep -q "catalogue-body-$TAG" "$LIVE_DIR/sc-$name.out"; then
		t_ok "accepted: $name"
	else
		t_fail "accepted: $name" "$(tail -n 5 "$LIVE_DIR/sc-$name.out")"
	fi
}

accepted "s_client with the frontend's SVID (control)" -cert "$C/front.crt" -key "$C/front.key"
accepted "an SVID signed by openssl with the node CA's key (control)" \
	-cert "$C/signed.crt" -key "$C/signed.key"
refused "TLS 1.2 only" "unsupported protocol" -tls1_2 -cert "$C/front.crt" -key "$C/front.key"
refused "no client certificate" "did not return a certificate"
refused "SVID of a trust domain without a bundle" "other.test" \
	-cert "$C/other.crt" -key "$C/other.key"
refused "expired SVID" "expired" -cert "$C/expired.crt" -key "$C/expired.key"

t_check "refusals did not disturb the open streams" eval 'still_ticking 5-9003 && still_ticking 5-9004'

# ---- 6. policy reload while traffic flows -----------------------------------------
id0=$(last_flow_id)
t_check "reload: fresh streams to 9003 and 9004 flow" open_streams 6 9003 9004
mesh_policy "$LIVE_DIR/no9003.json" "8080, 9000, 9001, 9004"
expect_ok "reload: a policy without port 9003" ntd $N policy load "$LIVE_DIR/no9003.json"
wait_for 3 grep -q " end " "$LIVE_DIR/stream-6-9003.out"
t_check "reload: the 9003 stream is cut at once" grep -q " end " "$LIVE_DIR/stream-6-9003.out"
FLOW=$(flows_since "$id0" '.type == "inbound" and .state == "closed by policy"' | jq -c last)
t_flow "reload: its flow says closed by policy, and why" "
	.src_spiffe_id == \"$ID_FRONTEND\" and .verdict == \"deny\" and
	.reason == \"default deny: no allow rule\""
t_check "reload: the 9004 stream (still allowed) goes on" still_ticking 6-9004
# denied_9003: a new stream to 9003 ends without a single line.
denied_9003() {
	local out
	out=$(run_in_cgroup "$CG_FRONTEND" timeout 5 ip netns exec "$NSA" \
		"${CLI[@]}" stream "$MESH_B" 9003 2>&1)
	grep -q " end " <<<"$out" && ! grep -q tick <<<"$out" && return 0
	echo "    denied_9003 got: $(head -c 300 <<<"$out")" >&2
	return 1
}
# new_9000: a fresh connection to 9000 works.
new_9000() {
	in_pod "$CG_FRONTEND" "$NSA" "${CLI[@]}" send "$MESH_B" 9000 1000 | jq -e .ok
}
id0=$(last_flow_id)
t_check "reload: a new connection to 9003 gets nothing" denied_9003
flow_wait "$id0" '.type == "outbound" and .dst == "'"$MESH_B"':9003" and .state != "open"'
t_flow "reload: and its flow says it was denied" '
	.verdict == "deny" and .reason == "default deny: no allow rule"'
t_check "reload: 9000 still allowed" new_9000
ntd $N -j policy show >"$LIVE_DIR/show-before"
STATE_POLICY=${D_DIR[$N]}/state/policy.json
sha_before=$(sha256sum <"$STATE_POLICY")
sed 's|"to": \["spiffe://mesh.nametag.test/ns/shop/sa/catalogue"\]|"to": ["spiffe://mesh.nametag.test/ns/shop/../catalogue"]|' \
	"$LIVE_DIR/no9003.json" | sed 's/9004/9003, 9004/' >"$LIVE_DIR/bad.json"
expect_fail "reload: an invalid file is refused, naming the place" \
	"namespaces.shop.rules[0].to[0]: invalid SPIFFE ID" ntd $N policy load "$LIVE_DIR/bad.json"
[ "${T_VERBOSE:-}" ] && echo "    $ERR"
ntd $N -j policy show >"$LIVE_DIR/show-after"
t_check "reload: policy show is byte-identical after the refusal" \
	cmp -s "$LIVE_DIR/show-before" "$LIVE_DIR/show-after"
t_check "reload: the saved policy is untouched" [ "$(sha256sum <"$STATE_POLICY")" = "$sha_before" ]
t_check "reload: 9003 still denied after the refusal" denied_9003
t_check "reload: 9000 still allowed after the refusal" new_9000
t_check "reload: the 9004 stream survived the refusal too" still_ticking 6-9004
ntd $N policy load "$POLICY" >/dev/null || t_fail "the first policy loads again"

# ---- 8. SVID rotation during a long transfer --------------------------------------
# SVIDs live 20 s, backdated 10 s: the daemon re-mints on the first use
# past half life, 5 s after minting. A 10 s transfer opened now uses an
# SVID that reaches half life while it runs; a new connection then gets a
# new one.
svid_serial() {
	ntd $N -j svid list | jq -r --arg id "$1" '.[] | select(.spiffe_id == $id) | .serial'
}
svid_half() {
	ntd $N -j svid list | jq -r --arg id "$1" '.[] | select(.spiffe_id == $id) |
		((.not_before | fromdate) + (.not_after | fromdate)) / 2 | floor'
}
ROT_N=$((10 * 1024 * 1024))
id0=$(last_flow_id)
spawn_in_pod "$CG_FRONTEND" "$NSA" "${CLI[@]}" send "$MESH_B" 9000 $ROT_N $((1024 * 1024)) \
	>"$LIVE_DIR/rotation.out" 2>&1
ROT_PID=$BG_PID
flow_wait "$id0" '.type == "inbound" and .verdict == "allow"'
f1=$(svid_serial "$ID_FRONTEND") c1=$(svid_serial "$ID_CATALOGUE")
half=$(svid_half "$ID_FRONTEND")
chalf=$(svid_half "$ID_CATALOGUE")
[ "$chalf" -gt "$half" ] && half=$chalf
while [ "$(date +%s)" -le "$half" ]; do sleep 0.2; done
t_check "rotation: the transfer is still running at half life" kill -0 $ROT_PID
id1=$(last_flow_id)
t_check "rotation: a new connection works" new_9000
f2=$(svid_serial "$ID_FRONTEND")
t_check "rotation: the frontend's SVID was re-minted" [ -n "$f2" -a "$f2" != "$f1" ]
flow_wait "$id1" '.type == "outbound"'
t_flow "rotation: the new connection went out under the new SVID" ".caller.svid.serial == \"$f2\""
FLOW=$(flows_since "$id0" '.type == "outbound"' | jq -c first)
t_flow "rotation: the transfer went out under the old one" ".caller.svid.serial == \"$f1\""
mesh_sclient "$LIVE_DIR/sc-rotation.out" -showcerts -cert "$C/front.crt" -key "$C/front.key"
# openssl prints whole bytes in upper case ("0AC1..."), svid list the
# number in lower case without leading zeros ("ac1...").
seen=$(openssl x509 -noout -serial <"$LIVE_DIR/sc-rotation.out" 2>/dev/null |
	cut -d= -f2 | tr A-F a-f | sed 's/^0*//')
c2=$(svid_serial "$ID_CATALOGUE")
t_check "rotation: catalogue's SVID was re-minted" [ -n "$c2" -a "$c2" != "$c1" ]
t_check "rotation: a new handshake presents catalogue's new SVID" \
	[ -n "$seen" -a "$seen" = "$c2" ]
wait $ROT_PID
r=$(cat "$LIVE_DIR/rotation.out")
t_check "rotation: the long transfer arrives byte-identical" jq -e '.ok and .secs > 8' <<<"${r:-null}"
wait_for 5 eval '[ "$(flows_since_count "$id0" ".state == \"closed\" and .bytes_up == $ROT_N")" = 2 ]'
t_check "rotation: both sides' flows of it ended closed, every byte counted" \
	[ "$(flows_since_count "$id0" ".state == \"closed\" and .bytes_up == $ROT_N")" = 2 ]

# ---- 7. fail closed: kill -9, then restart ----------------------------------------
ntd $N -j policy show >"$LIVE_DIR/show-alive"
kill -KILL "${D_PID[$N]}"
wait "${D_PID[$N]}" 2>/dev/null
cap_start "$LIVE_DIR/down.pcap"
get "$CG_FRONTEND" "$SECRET?down" >"$LIVE_DIR/down.out" 2>&1
rc=$?
t_check "daemon down: frontend's connection is refused (curl exit 7)" [ $rc = 7 ]
t_check "daemon down: and it says so" grep -q "Connection refused\|Couldn't connect" "$LIVE_DIR/down.out"
in_pod "$CG_OUTSIDE" "$NSA" curl -sS -m 2 "http://$MESH_B:8080/$SECRET?down" >/dev/null 2>&1
t_check "daemon down: plaintext from outside the mesh does not get in either" [ $? -ne 0 ]
cap_stop || t_fail "the capture ran to its end marker"
t_check "daemon down: nothing of the request crossed the veth" \
	not pcap_has "$LIVE_DIR/down.pcap" "$SECRET?down"
PC=$("$PY" "$LIVE_DIR/pcapcheck.py" "$LIVE_DIR/down.pcap" 15008)
t_pcap "daemon down: no TCP payload at all on the veth" '.streams == []'
t_check "daemon down: catalogue saw none of it" not grep -q "$SECRET?down" "$LIVE_DIR/http.log"
if mesh_restart; then t_ok "nametagd restarts on the same dirs"; else t_fail "nametagd restarts on the same dirs"; fi
out=$(get "$CG_FRONTEND" "$SECRET" 2>&1)
t_check "restarted: frontend gets the page again (no re-enrolment)" [ "$out" = "$BODY" ]
get "$CG_INTRUDER" "$SECRET" >/dev/null 2>&1
t_check "restarted: intruder is still denied" [ $? -ne 0 ]
# Found from their workloads, not added: known by netns inode, not path.
t_check "restarted: both pods are served again" eval "ntd $N -j proxy list | jq -e '
	any(.[]; .netns == $(stat -L -c %i "/run/netns/$NSA")) and
	any(.[]; .netns == $(stat -L -c %i "/run/netns/$NSB"))'"
t_check "restarted: shop is still strict" eval "ntd $N -j ns list | jq -e '.[] | select(.name == \"shop\") | .mode == \"strict\"'"
ntd $N -j policy show >"$LIVE_DIR/show-restarted"
t_check "restarted: the same policy is in force" cmp -s "$LIVE_DIR/show-alive" "$LIVE_DIR/show-restarted"

printf '# runtime: %d s\n' $((SECONDS - T_START))
live_finish
