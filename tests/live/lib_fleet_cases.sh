# Fleet mode's failure cases (docs/fleet.md "The live suite"), called by
# test_fleet.sh at their places in its story: a node CA's SVID outside its
# scope presented to a peer, a node's JWT-SVID outside its scope and its
# JWT keys next to another node's CA, a namespace whose cgroup appears after the
# snapshot, the signer down, a compaction that outruns a node's watch,
# and the other nodes' JWT keys across a restart without etcd. Each uses
# the suite's topology and helpers (lib_fleet.sh, and test_fleet.sh's
# call, enforced, jwt_fetch, jwt_valid_n2, ...), and leaves the fleet as
# it found it. Sourced after lib_fleet.sh.

# ---- a node CA minting outside its scope, presented to a peer ----------------------

# fleet_leaf OUT ID: a leaf for ID signed with n3's own node CA key (what
# a compromised n3 can do without nametag's refusal), the SVID profile;
# OUT.crt, OUT.key, and OUT.chain (n3's node CA, to send along).
fleet_leaf() {
	local out=$1 id=$2 st=$LIVE_DIR/n3/state/ca cur
	cur=$(jq -r .current "$st/ca.json") || return 1
	printf '%s\n' 'basicConstraints=critical,CA:FALSE' \
		'keyUsage=critical,digitalSignature' \
		'extendedKeyUsage=serverAuth,clientAuth' \
		"subjectAltName=URI:$id" >"$out.ext"
	openssl x509 -in "$st/$cur.crt" -out "$out.chain" &&
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$out.key" -subj /O=nametag-forged -out "$out.csr" &&
	openssl x509 -req -in "$out.csr" -CA "$st/$cur.crt" -CAkey "$st/$cur.key" \
		-set_serial "0x$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" \
		-days 1 -extfile "$out.ext" -out "$out.crt"
}

# fleet_sclient OUT LEAF: openssl s_client from n1's network namespace
# (outside any enrolled cgroup) to n2's mesh port for catalogue's port,
# presenting LEAF.crt with its chain; reads until the server closes.
fleet_sclient() {
	timeout 10 ip netns exec "${FLEET_NODE_NS[n1]}" openssl s_client \
		-connect "$N2_ADDR:15008" -servername "p$PORT.nametag.invalid" \
		-cert "$2.crt" -key "$2.key" -cert_chain "$2.chain" -ign_eof \
		< <(printf 'GET / HTTP/1.0\r\n\r\n') >"$1" 2>&1
}

# n3 hosts pay only. With its node CA key it signs a leaf for shop's
# frontend and presents it to n2 over real mTLS: n2 must refuse it in the
# handshake, for the scope, and say so in its flow. The same recipe for an
# ID of pay completes the handshake (and gets the policy's DENY): only the
# scope makes the difference.
fleet_case_forged_scope() {
	local d=$LIVE_DIR/forged
	mkdir -p "$d"
	if ! { fleet_leaf "$d/pay" "spiffe://$FLEET_TD/ns/pay/sa/api" &&
	       fleet_leaf "$d/shop" "$ID_FRONTEND"; } >"$d/log" 2>&1; then
		t_fail "openssl signs leaves with n3's node CA key" "$(tail -n 5 "$d/log")"
		return
	fi
	fleet_sclient "$d/pay.out" "$d/pay"
	t_check "control: n3's key, an ID of pay (in its scope): n2 completes the handshake, the policy says DENY" \
		grep -q "^NT1 DENY" "$d/pay.out"
	fleet_sclient "$d/shop.out" "$d/shop"
	t_check "n3's key, frontend's ID (shop, outside n3's scope): n2 refuses the handshake" \
		eval '! grep -q -e "^NT1 " -e "srv:" "$d/shop.out"'
	t_check "... and n2's flow says why (outside the scope of n3's node CA)" \
		wait_for 5 eval 'flows n2 | jq -e --arg a "$N1_ADDR:" "any(.[]; .type == \"inbound\" and
			(.src | startswith(\$a)) and .state == \"handshake failed\" and
			(.reason | contains(\"outside the scope\")) and (.reason | contains(\"n3\")))" >/dev/null'
}

# ---- a node's JWT key minting outside its scope --------------------------------------

# n3_jwt_key: the PEM file of n3's current JWT-SVID signing key.
n3_jwt_key() {
	local st=$LIVE_DIR/n3/state/ca
	echo "$st/$(jq -r .current "$st/ca.json").jwt.key"
}

# n3 hosts pay only. With its own JWT key (what a compromised n3 holds)
# it signs a JWT-SVID for shop's frontend: n2's Workload API must refuse
# it for n3's scope, and say so. The same key for an ID of pay validates.
# Then n3 puts n1's node CA next to its keys on jwt/n3: a certificate that
# does not name n3 binds nothing, so n2 leaves n3's keys out and reports it.
fleet_case_jwt_scope() {
	local key pay val n1ca st=$LIVE_DIR/n1/state/ca
	key=$(n3_jwt_key)
	pay=$(forge "" "spiffe://$FLEET_TD/ns/pay/sa/api" "$key") || t_fail "python3 signs a JWT-SVID with n3's key"
	t_check "control: n3's JWT key, an ID of pay (in its scope): valid on n2" \
		wait_for 30 eval 'jwt_valid_n2 "$pay" | jq -e ".spiffe_id | endswith(\"/ns/pay/sa/api\")" >/dev/null'
	expect_fail "n3's JWT key, frontend's ID (shop, outside n3's scope): n2 refuses it" \
		"outside node 'n3''s scope" jwt_valid_n2 "$(forge "" "$ID_FRONTEND" "$key")"
	t_check "... and n2's log says so" \
		grep -q "refused a JWT-SVID .*outside node 'n3''s scope" "$LIVE_DIR/n2/log"
	t_check "... and n2's status counts it" \
		eval 'ntd n2 -j status | jq -e ".workload_api.jwt_out_of_scope >= 1" >/dev/null'
	val=$(ectl nametag-admin get /nametag/v1/jwt/n3 --print-value-only)
	n1ca=$(openssl x509 -in "$st/$(jq -r .current "$st/ca.json").crt")
	t_check "n3 puts n1's node CA next to its own JWT keys on jwt/n3" \
		ectl n3 put /nametag/v1/jwt/n3 "$(jq -c --arg c "$n1ca" '.node_ca = $c' <<<"$val")"
	t_check "... n2 leaves n3's keys out and reports it (the node CA is n1's)" \
		wait_for 10 eval 'node_status n2 | jq -e ".jwt_bad_key == \"/nametag/v1/jwt/n3\" and
			(.jwt_bad_error | contains(\"node CA is node '"'"'n1'"'"'\"))" >/dev/null'
	expect_fail "... n3's pay token is no longer valid on n2" "no jwt-svid key with this kid" \
		jwt_valid_n2 "$pay"
	ectl n3 put /nametag/v1/jwt/n3 "$val" >/dev/null
	t_check "n3's own value back: its pay token is valid on n2 again, the report clears" \
		wait_for 10 eval 'jwt_valid_n2 "$pay" >/dev/null &&
			node_status n2 | jq -e "has(\"jwt_bad_key\") | not" >/dev/null'
}

# ---- a namespace whose cgroup appears after the snapshot ---------------------------

# late_ns_id: the cgroup id n1 has for namespace late (0: not enforced).
late_ns_id() {
	ntd n1 -j ns list | jq -r '.[] | select(.name == "late") | .cgroup_id'
}

# 'late' is written for n1 before its cgroup exists there: n1 holds it,
# unenforced. Made afterwards, the cgroup is enforced within seconds,
# with no snapshot and no SIGHUP: a process in it gets its identity from
# n1's Workload API.
fleet_case_cgroup_late() {
	local cg=$LIVE_CG/n1/late
	expect_ok "operator: ns add late for n1 (its cgroup not made yet)" \
		op ns add late --cgroup late --hosts n1
	expect_ok "operator: late permissive" op ns enable late --mode permissive
	t_check "n1 holds late, not enforced: no cgroup yet" \
		wait_for 10 eval '[ "$(late_ns_id)" = 0 ]'
	mkcg n1/late/app
	t_check "the cgroup made: n1 enforces late within seconds (no snapshot, no SIGHUP)" \
		wait_for 5 eval '[ "$(late_ns_id)" = "$(stat -c %i "$cg")" ]'
	t_check "... and says so in its log" grep -q "namespace late: cgroup .* appeared" "$LIVE_DIR/n1/log"
	t_check "... a process in it gets late's JWT-SVID from n1's Workload API" \
		wait_for 15 eval 'run_in_cgroup "$cg/app" "$NAMETAG" -j jwt fetch --audience vault \
			--socket "$(wl_sock n1)" 2>/dev/null |
			jq -e --arg p "spiffe://$FLEET_TD/ns/late/" ".[0].spiffe_id | startswith(\$p)" >/dev/null'
	expect_ok "operator: ns del late" op ns del late
	rmdir "$cg/app" "$cg" 2>/dev/null
	# n1 asked for a CA that covers late: the signer's answer first.
	wait_for 15 eval '! ca_pending n1' || t_fail "n1's node CA request for late is answered"
}

# ---- the signer down ---------------------------------------------------------------

signer_stop() {
	kill -TERM "$SIGNER_PID" 2>/dev/null
	wait "$SIGNER_PID" 2>/dev/null
}

# pending NAME: NAME's node CA request waits for the signer.
ca_pending() {
	node_status "$1" | jq -e 'has("ca_pending_s") and .signer != "ok"' >/dev/null
}

# The signer stopped, then namespace 'extra' written for n1 and n2: each
# asks for a node CA that covers it, at once, and nobody answers. The
# nodes report the request pending and keep working. The rest of the
# suite's cases run meanwhile; fleet_case_signer_down_end follows.
fleet_case_signer_down_begin() {
	local asked
	N1_CA_SERIAL=$(node_status n1 | jq -r .ca_serial)
	asked=$(grep -c "asked the signer for a new node CA" "$LIVE_DIR/n1/log")
	signer_stop
	expect_ok "signer down; operator: ns add extra for n1 and n2 (their scopes must grow)" \
		op ns add extra --cgroup extra --hosts n1,n2
	t_check "signer down: n1 and n2 report their node CA request pending" \
		wait_for 10 eval 'ca_pending n1 && ca_pending n2'
	t_check "... and log the request" \
		[ "$(grep -c "asked the signer for a new node CA" "$LIVE_DIR/n1/log")" -gt "$asked" ]
	t_check "... the nodes keep working: frontend (n1) reaches catalogue (n2) over mTLS, intruder does not" \
		enforced
	SIGNER_DOWN_AT=$SECONDS
}

# A minute unanswered: said loudly (status, log), still enforcing. The
# signer back, it answers the pending request and the report clears.
fleet_case_signer_down_end() {
	local left=$((80 - (SECONDS - SIGNER_DOWN_AT)))
	t_check "signer down a minute: n1 says so in node status" \
		wait_for "$((left > 5 ? left : 5))" eval 'node_status n1 |
			jq -e ".signer | startswith(\"the signer has not answered\")" >/dev/null'
	t_check "... and in its log" grep -q "fleet: the signer has not answered for" "$LIVE_DIR/n1/log"
	t_check "... and still enforces" enforced
	signer_start || t_fail "the signer starts again"
	t_check "signer back: n1 and n2 take its answer, the report clears" \
		wait_for 20 eval '! ca_pending n1 && ! ca_pending n2 &&
			[ "$(node_status n1 | jq -r .signer)" = ok ]'
	t_check "... n1 runs a new node CA" \
		eval '[ "$(node_status n1 | jq -r .ca_serial)" != "$N1_CA_SERIAL" ]'
	t_check "... cross-node mTLS with it" wait_for 10 enforced
	expect_ok "operator: ns del extra" op ns del extra
}

# ---- compaction outrunning a node's watch ------------------------------------------

# n3 stopped (SIGSTOP) and its connections to etcd cut while it cannot
# notice; policies written and etcd compacted past them; n3 resumed. Its
# watch resumes below the compacted revision: etcd cancels it, and n3
# must list config/ again and enforce the newest policy.
fleet_case_compaction() {
	local rel0 rev0 rev r pid=${D_PID[n3]} ns=${FLEET_NODE_NS[n3]}
	rel0=$(node_status n3 | jq -r .relists)
	rev0=$(node_revision n3)
	kill -STOP "$pid"
	ip netns exec "$ns" ss -K dst "$(fleet_ip 3)" dport = 2379 >/dev/null 2>&1
	if ip netns exec "$ns" ss -Htn state established dst "$(fleet_ip 3)" | grep -q .; then
		# No SOCK_DESTROY in this kernel: etcd's restart cuts them.
		etcd_stop
		etcd_start || t_fail "etcd restarts"
	fi
	for r in 1 2 3; do
		allow_policy_n "c$r" >"$LIVE_DIR/c.json"
		op policy load "$LIVE_DIR/c.json" >/dev/null || t_fail "operator: policy c$r"
	done
	rev=$(op -j policy show | jq -r .revision)
	t_check "etcd compacted up to revision $rev (n3 stopped at $rev0)" \
		ectl root compact "$rev"
	kill -CONT "$pid"
	t_check "compaction: n3, its watch resumed below it, lists config/ again" \
		wait_for 20 eval '[ "$(node_status n3 | jq -r .relists)" -gt "$rel0" ]'
	t_check "... logs it" grep -q "fleet: /nametag/v1/config/ listed again at revision" "$LIVE_DIR/n3/log"
	t_check "... and enforces the newest policy (revision >= $rev)" \
		wait_for 10 eval '[ "$(node_revision n3)" -ge "$rev" ] &&
			ntd n3 -j policy show | jq -e ".namespaces.pay.rules[0].from[0] | endswith(\"/rc3\")" >/dev/null'
	t_check "... in sync" wait_for 10 eval 'node_status n3 | jq -e .in_sync >/dev/null'
}

# ---- the other nodes' JWT keys across a restart without etcd -----------------------

# Before etcd is killed: n1's keys in jwt/ again (the suite deleted them;
# put back unless n1 republished) and on n2; a fresh token of frontend.
fleet_case_jwt_before_outage() {
	[ -n "$(n1_kids)" ] || ectl nametag-admin put /nametag/v1/jwt/n1 "$N1_JWKS" >/dev/null
	TOK_OUTAGE=$(jwt_fetch)
	t_check "n1's JWT keys back in jwt/n1: its fresh token validates on n2" \
		wait_for 30 eval 'jwt_valid_n2 "$TOK_OUTAGE" | jq -e --arg f "$ID_FRONTEND" ".spiffe_id == \$f" >/dev/null'
	t_check "... n2 saved them with its last good copy" \
		jq -e '.values.n1 | fromjson | .keys | length > 0' "$LIVE_DIR/n2/state/fleet_jwt.json"
}

# After n2 restarted while etcd is down: n1's token still validates there.
fleet_case_jwt_after_restart() {
	t_check "n2 restarted without etcd: n1's JWT-SVID still validates there (keys from its last good copy)" \
		wait_for 10 eval 'jwt_valid_n2 "$TOK_OUTAGE" | jq -e --arg f "$ID_FRONTEND" ".spiffe_id == \$f" >/dev/null'
	t_check "... a forged one still does not" \
		eval 'jwt_valid_n2 "$(forge "")" 2>&1 | grep -q "no jwt-svid key with this kid"'
}
