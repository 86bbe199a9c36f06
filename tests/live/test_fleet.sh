#!/usr/bin/env bash
# Fleet mode end to end (issue #15, docs/fleet.md): a real etcd 3.4 with
# TLS client certificates and auth roles in a network namespace of its
# own, three nodes (one nametagd each, in its own network namespace with a
# veth to etcd's), the signer holding the upstream key, and the operator's
# CLI. n1 and n2 host namespace shop (frontend and intruder on n1,
# catalogue on n2, joined by a veth), n3 hosts pay.
#
# Cases: join with a one-time token (a reuse is refused), the scope of a
# node CA, no upstream key on a node, a policy written once reaching every
# node and enforced across nodes (mTLS, strict), two writers on one
# mod_revision, JWT-SVIDs minted on one node validated on another (keys
# in jwt/<node>), a bad value in etcd, etcd killed (enforcement holds, a
# restart comes up from the last good copy, the nodes resync), node list,
# what etcd's roles let a node do, and the propagation time from a CLI
# write to every node (FLEET_RUNS writes; medians printed). Needs root.
set -u
cd "$(dirname "$0")/../.."
. tests/live/lib.sh
. tests/live/lib_fleet.sh
. tests/live/lib_fleet_cases.sh
skip_unless_root
skip_unless_tools etcd etcdctl openssl curl
live_init
write_helpers
FLEET_RUNS=${FLEET_RUNS:-10}
PORT=8080
ID_FRONTEND=spiffe://$FLEET_TD/ns/shop/sa/frontend
ID_CATALOGUE=spiffe://$FLEET_TD/ns/shop/sa/catalogue
N1_ADDR=10.78.0.1
N2_ADDR=10.78.0.2

if ! fleet_up; then
	t_fail "etcd (TLS, roles) and the signer come up"
	live_finish
	exit 1
fi
t_ok "etcd (TLS, client certificates, roles) and the signer are up"

# ---- configuration written once, before any node --------------------------------
mkcg n1/shop/frontend n1/shop/intruder n2/shop/catalogue n3/pay/api
expect_ok "operator: ns add shop for n1 and n2" op ns add shop --cgroup shop --hosts n1,n2
expect_ok "operator: ns add pay for n3" op ns add pay --cgroup pay --hosts n3
allow_policy() {
	cat <<EOF
{"namespaces": {"shop": {"rules": [
  {"action": "allow", "from": ["$ID_FRONTEND"], "to": ["$ID_CATALOGUE"],
   "ports": [$PORT]}]}, "pay": {"rules": []}}}
EOF
}
# The same policy with a harmless difference, for propagation runs.
allow_policy_n() {
	allow_policy | sed "s|\"pay\": {\"rules\": \[\]}|\"pay\": {\"rules\": [{\"action\": \"deny\", \"from\": [\"spiffe://$FLEET_TD/ns/x/sa/r$1\"], \"to\": [\"spiffe://$FLEET_TD/ns/pay/sa/api\"]}]}|"
}
allow_policy >"$LIVE_DIR/allow.json"
expect_ok "operator: policy load" op policy load "$LIVE_DIR/allow.json"
expect_ok "operator: shop strict" op ns enable shop --mode strict

# ---- join ------------------------------------------------------------------------
declare -A TOKEN=()
for i in 1 2 3; do
	n=${FLEET_NODES[$i-1]}
	TOKEN[$n]=$(op node token create "$n" --ttl 10m 2>/dev/null)
	t_check "a join token for $n" grep -q '^ntjoin1\.' <<<"${TOKEN[$n]}"
done
t_check "etcd holds no join token itself, only its verifier" \
	not ectl nametag-admin get --prefix /nametag/v1/join/ --print-value-only \
	| grep -qF "${TOKEN[n1]#ntjoin1.}"
# first_start DIR ARGS...: a second nametagd as n1 in n1's netns, with an
# empty state dir under DIR, n1's etcd credentials and ARGS; its output in
# DIR/log, its exit status returned.
first_start() {
	local dir=$1
	shift
	mkdir -p "$dir"
	timeout 30 nsenter --net="/run/netns/${FLEET_NODE_NS[n1]}" "$NAMETAGD" \
		--state-dir "$dir/state" --run-dir "$dir/run" --bpffs "$dir/bpffs" \
		--cgroup-root "$LIVE_CG/n1" --etcd "https://$(fleet_ip 1):2379" --node n1 \
		--etcd-ca "$FLEET_PKI/ca.crt" --etcd-cert "$FLEET_PKI/client.crt" \
		--etcd-key "$FLEET_PKI/client.key" --etcd-user n1 \
		--etcd-password-file "$FLEET_PKI/n1.pw" "$@" >"$dir/log" 2>&1
}

# The fleet's root as an operator pins it: openssl's fingerprint of the
# root they made (n1 joins pinned, in the colon form; the rest unpinned).
PIN=$(openssl x509 -in "$FLEET_PKI/root.crt" -noout -fingerprint -sha256)
ROOT_HEX=$(openssl x509 -in "$FLEET_PKI/root.crt" -outform DER | sha256sum | cut -d' ' -f1)

for i in 1 2 3; do
	n=${FLEET_NODES[$i-1]}
	[ "$n" = n1 ] && FLEET_NODE_ARGS="--trust-anchor ${PIN#*=}" || FLEET_NODE_ARGS=
	if node_up "$i" "${TOKEN[$n]}"; then
		t_ok "$n joins with its token (node CA from the signer)"
	else
		t_fail "$n joins with its token"
		live_finish
		exit 1
	fi
done
FLEET_NODE_ARGS=
t_check "n1's first join checked its pin" \
	grep -q "config/bundle holds the pinned trust anchor" "${D_DIR[n1]}/log"
t_check "bundle show --format anchors prints the pin openssl printed" \
	eval '"$NAMETAG" --state-dir "$LIVE_DIR/n1/state" bundle show --format anchors |
	grep -q "^sha256:$ROOT_HEX "'
veth_pair "${FLEET_NODE_NS[n1]}" "$N1_ADDR/24" "${FLEET_NODE_NS[n2]}" "$N2_ADDR/24" ||
	t_fail "n1 and n2 joined by a veth"
# Served from the start, not from the first enrolled process seen there:
# each call is a new process, and the first would race the discovery.
for n in n1 n2; do
	ntd "$n" proxy add "/run/netns/${FLEET_NODE_NS[$n]}" >/dev/null ||
		t_fail "$n serves its network namespace"
done
t_check "the signer deleted each token's record (one-time)" \
	test -z "$(ectl nametag-admin get --prefix /nametag/v1/join/ --keys-only)"

# A second process with n1's token and an empty state dir: refused.
dup=$LIVE_DIR/dup
first_start "$dup" --join-token "${TOKEN[n1]}"
rc=$?
t_check "a reused join token is refused (exit $rc)" \
	grep -q "no join token is outstanding for node 'n1'" "$dup/log"
t_check "... and its failed first start leaves no key in its state dir" test ! -e "$dup/state/ca"

# ---- a first join pinned to another root: refused before it asks ------------------
# A real root, just not the fleet's: as if config/bundle were another's.
WRONG=$(openssl x509 -in "$FLEET_PKI/ca.crt" -noout -fingerprint -sha256)
expect_fail "--trust-anchor that is not a SHA-256 is refused, saying what it wants" \
	"--trust-anchor: trust anchor 'sha256:1234': expected the SHA-256 of the root certificate" \
	"$NAMETAGD" --state-dir "$LIVE_DIR/nostate" --etcd https://127.0.0.1:1 --node n1 \
	--join-token x --trust-anchor sha256:1234
expect_fail "--trust-anchor without --etcd is refused" "it needs --etcd" \
	"$NAMETAGD" --state-dir "$LIVE_DIR/nostate" --trust-anchor "$PIN"
pinned=$LIVE_DIR/pinned
req_before=$(ectl nametag-admin get /nametag/v1/ca/requests/n1 -w json | jq -c '.kvs')
first_start "$pinned" --join-token "$(op node token create n1 --ttl 10m 2>/dev/null)" \
	--trust-anchor "$WRONG"
rc=$?
t_check "a first join pinned to another root stops (exit $rc)" eval '[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ]'
t_check "... saying config/bundle holds none of the pin, and which roots it holds" \
	grep -q "holds no root of the pinned trust anchor (it holds sha256:$ROOT_HEX (fleet root))" \
	"$pinned/log"
t_check "... before it asked: no key, no request posted, its token still unused" eval '
	test ! -e "$pinned/state/ca" &&
	[ "$(ectl nametag-admin get /nametag/v1/ca/requests/n1 -w json | jq -c .kvs)" = "$req_before" ] &&
	test -n "$(ectl nametag-admin get /nametag/v1/join/n1 --keys-only)"'
ectl nametag-admin del /nametag/v1/join/n1 >/dev/null

# ---- the node CAs: scope, and no upstream key on a node -------------------------
t_check "no node's state dir holds the upstream key" \
	not grep -rqF "$(sed -n 2p "$FLEET_PKI/root.key")" "$LIVE_DIR"/n[123]/state
expect_ok "n3 mints an SVID of pay, which it hosts" \
	"$NAMETAG" --state-dir "$LIVE_DIR/n3/state" svid mint \
	"spiffe://$FLEET_TD/ns/pay/sa/api" --out "$LIVE_DIR/n3-pay"
expect_fail "n3 cannot mint an SVID of shop: outside its node CA's scope" scope \
	"$NAMETAG" --state-dir "$LIVE_DIR/n3/state" svid mint \
	"$ID_FRONTEND" --out "$LIVE_DIR/n3-shop"

# ---- the policy reaches every node and is enforced ------------------------------
REV=$(op -j policy show | jq -r .revision)
all_at() {	# all_at REV: every node enforces revision REV or later
	local n r
	for n in "${FLEET_NODES[@]}"; do
		r=$(node_revision "$n") || return 1
		[ "$r" -ge "$1" ] || return 1
	done
}
t_check "every node enforces the revision written (>= $REV)" wait_for 10 all_at "$REV"
start_server catalogue 0.0.0.0 "$PORT" "${FLEET_NODE_NS[n2]}" "$LIVE_CG/n2/shop/catalogue" ||
	t_fail "catalogue listens on n2"
# call CALLER: CALLER on n1 (cgroup shop/CALLER) to catalogue on n2;
# prints what came back ("srv:CALLER" when the bytes got through).
call() {
	run_in_cgroup "$LIVE_CG/n1/shop/$1" ip netns exec "${FLEET_NODE_NS[n1]}" \
		"$PY" "$LIVE_DIR/client.py" "$N2_ADDR" "$PORT" "$1" 2>/dev/null |
		awk '{ print $3 }'
}
enforced() {	# frontend through, intruder not
	[ "$(call frontend)" = srv:frontend ] && [ "$(call intruder)" != srv:intruder ]
}
t_check "strict, across nodes: frontend (n1) reaches catalogue (n2) over mTLS" \
	wait_for 10 eval '[ "$(call frontend)" = srv:frontend ]'
t_check "strict: intruder (n1), denied by the fleet's policy, does not" \
	[ "$(call intruder)" != srv:intruder ]
t_check "n2 recorded the allowed flow with both identities" \
	eval 'flows n2 | jq -e --arg f "$ID_FRONTEND" --arg c "$ID_CATALOGUE" \
		"any(.[]; .src_spiffe_id == \$f and .dst_spiffe_id == \$c and .verdict == \"allow\")" >/dev/null'

# The policy written again without the allow rule: frontend refused too.
echo '{"namespaces": {"shop": {"rules": []}, "pay": {"rules": []}}}' >"$LIVE_DIR/deny.json"
expect_ok "operator: a policy without the allow rule" op policy load "$LIVE_DIR/deny.json"
t_check "... enforced: frontend is refused now" \
	wait_for 10 eval '[ "$(call frontend)" != srv:frontend ]'
expect_ok "operator: the allow rule back" op policy load "$LIVE_DIR/allow.json"
t_check "... frontend gets through again" wait_for 10 eval '[ "$(call frontend)" = srv:frontend ]'

t_check "a local write on a fleet node is refused (etcd is the source of truth)" \
	eval 'ntd n1 ns add extra --cgroup "$LIVE_CG/n1/shop" 2>&1 | grep -q "takes its configuration from etcd"'

# ---- JWT-SVIDs across nodes: keys in jwt/<node>, mirrored by every node -------------
# A token fetched by frontend on n1 validates on n2 (asked by catalogue);
# one signed by a key not in etcd does not; n1's entry deleted, n1's
# tokens are refused on n2 too.
wl_sock() { echo "$LIVE_DIR/$1/wl/api.sock"; }
jwt_fetch() {	# jwt_fetch: a JWT-SVID of frontend on n1, audience vault
	run_in_cgroup "$LIVE_CG/n1/shop/frontend" "$NAMETAG" jwt fetch \
		--audience vault --socket "$(wl_sock n1)"
}
jwt_valid_n2() {	# jwt_valid_n2 TOKEN: ValidateJWTSVID on n2 (as catalogue)
	run_in_cgroup "$LIVE_CG/n2/shop/catalogue" "$NAMETAG" -j jwt validate "$1" \
		--audience vault --socket "$(wl_sock n2)"
}
n1_kids() { ectl nametag-admin get /nametag/v1/jwt/n1 --print-value-only | jq -r '.keys[].kid'; }
n2_jwt_kids() {	# FetchJWTBundles on n2: every kid
	run_in_cgroup "$LIVE_CG/n2/shop/catalogue" "$PY" tests/live/wlapi_client.py \
		"$(wl_sock n2)" bundles | jq -r '.kids[]'
}
n2_has_n1_kids() {
	local k have kids
	kids=$(n1_kids) && [ -n "$kids" ] || return 1
	have=$(n2_jwt_kids) || return 1
	for k in $kids; do
		grep -qxF "$k" <<<"$have" || return 1
	done
}
t_check "n1 wrote its JWT keys to /nametag/v1/jwt/n1 (kids)" wait_for 10 eval '[ -n "$(n1_kids)" ]'
t_check "n2's FetchJWTBundles has n1's kids" wait_for 30 n2_has_n1_kids
TOK=$(jwt_fetch)
t_check "a JWT-SVID fetched by frontend on n1" test "$(tr -cd . <<<"$TOK" | wc -c)" = 2
t_check "... validates on n2 (ValidateJWTSVID): frontend's ID" \
	eval 'jwt_valid_n2 "$TOK" | jq -e --arg f "$ID_FRONTEND" ".spiffe_id == \$f" >/dev/null'
# forge KID [SUB [KEY]]: a token for SUB (frontend's ID) signed by the
# P-256 key in the PEM file KEY (a fresh one), header kid KID ("" for the
# key's own RFC 7638 thumbprint).
forge() {
	"$PY" - "$1" "${2:-$ID_FRONTEND}" "${3:-}" <<'EOF'
import base64, hashlib, json, sys, time
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
if sys.argv[3]:
    k = serialization.load_pem_private_key(open(sys.argv[3], "rb").read(), None)
else:
    k = ec.generate_private_key(ec.SECP256R1())
n = k.public_key().public_numbers()
jwk = {"crv": "P-256", "kty": "EC", "x": b64(n.x.to_bytes(32, "big")), "y": b64(n.y.to_bytes(32, "big"))}
kid = sys.argv[1] or b64(hashlib.sha256(json.dumps(jwk, separators=(",", ":"), sort_keys=True).encode()).digest())
h = b64(json.dumps({"alg": "ES256", "kid": kid, "typ": "JWT"}).encode())
p = b64(json.dumps({"sub": sys.argv[2], "aud": "vault", "exp": int(time.time()) + 300}).encode())
r, s = utils.decode_dss_signature(k.sign(f"{h}.{p}".encode(), ec.ECDSA(hashes.SHA256())))
print(f"{h}.{p}.{b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}")
EOF
}
expect_fail "a token signed by a key not in etcd is refused on n2" "no jwt-svid key with this kid" \
	jwt_valid_n2 "$(forge "")"
expect_fail "... and one signed by another key under n1's kid" "signature does not verify" \
	jwt_valid_n2 "$(forge "$(n1_kids | head -n 1)")"
# A bad value of one node's keys is reported and ignored; the others stay.
ectl nametag-admin put /nametag/v1/jwt/n9 '{"keys": [{"kty": "EC", "use": "jwt-svid", "kid": "x"}]}' >/dev/null
t_check "a malformed jwt/n9 is reported by n2 with its key" \
	wait_for 10 eval 'node_status n2 | jq -e ".jwt_bad_key == \"/nametag/v1/jwt/n9\" and (.jwt_bad_error | length > 0)" >/dev/null'
t_check "... and n1's token still validates on n2" \
	eval 'jwt_valid_n2 "$TOK" | jq -e --arg f "$ID_FRONTEND" ".spiffe_id == \$f" >/dev/null'
ectl nametag-admin put /nametag/v1/jwt/n8 '{"keys": []}' >/dev/null
t_check "... a second one (n8) is logged too" \
	wait_for 10 grep -q "JWT keys ignored: /nametag/v1/jwt/n8" "$LIVE_DIR/n2/log"
t_check "... and n9's is logged once, not at every revision" \
	[ "$(grep -c "JWT keys ignored: /nametag/v1/jwt/n9" "$LIVE_DIR/n2/log")" = 1 ]
ectl nametag-admin del /nametag/v1/jwt/n8 >/dev/null
ectl nametag-admin del /nametag/v1/jwt/n9 >/dev/null
t_check "... the report clears when it is deleted" \
	wait_for 10 eval 'node_status n2 | jq -e "has(\"jwt_bad_key\") | not" >/dev/null'
N1_KID=$(n1_kids | head -n 1)
N1_JWKS=$(ectl nametag-admin get /nametag/v1/jwt/n1 --print-value-only)	# for fleet_case_jwt_*
t0=$(date +%s%N)
ectl nametag-admin del /nametag/v1/jwt/n1 >/dev/null
t_check "n1's entry deleted: n2 refuses n1's token" \
	wait_for 10 eval 'jwt_valid_n2 "$TOK" 2>&1 | grep -q "no jwt-svid key with this kid"'
echo "    n1's entry deleted to n2 refusing its token: $((($(date +%s%N) - t0) / 1000000)) ms (a ValidateJWTSVID call is the resolution)"
t_check "... and n2's FetchJWTBundles no longer has n1's kid" \
	eval '! n2_jwt_kids | grep -qxF "$N1_KID"'

# ---- two writers on one revision ---------------------------------------------------
REV=$(op -j policy show | jq -r .revision)
allow_policy_n a >"$LIVE_DIR/a.json"
allow_policy_n b >"$LIVE_DIR/b.json"
expect_ok "writer A: policy load --revision $REV" op policy load "$LIVE_DIR/a.json" --revision "$REV"
expect_fail "writer B, who read the same revision, is refused with the reason" \
	"changed since it was read" op policy load "$LIVE_DIR/b.json" --revision "$REV"
t_check "... and A's policy stands" \
	eval 'op -j policy show | jq -e ".policy.namespaces.pay.rules[0].from[0] | endswith(\"/ra\")" >/dev/null'

# ---- propagation: a CLI write to enforcement on every node ----------------------------
# One poller per node asks its nametagd for the revision in force, in a
# loop (a CLI call and 20 ms are the resolution), and notes when it passes the
# one before the write. A node enforces a revision when it says so: the
# swap into the kernel happens before the revision is recorded.
poll_past() {	# poll_past NAME REV OUT: the time (ns) NAME enforces > REV
	local deadline=$((SECONDS + 10)) r
	while [ $SECONDS -lt "$deadline" ]; do
		r=$(ntd "$1" -j node status 2>/dev/null | grep -o '"revision":[0-9]*' | cut -d: -f2)
		if [ -n "$r" ] && [ "$r" -gt "$2" ]; then
			date +%s%N >"$3"
			return 0
		fi
		sleep 0.02	# two cores for three pollers, etcd and three nodes
	done
	return 1
}
declare -A PROP=() AFTER=()
WRITE_MS=""
for ((run = 0; run < FLEET_RUNS; run++)); do
	allow_policy_n "$run" >"$LIVE_DIR/p.json"
	pids=()
	for n in "${FLEET_NODES[@]}"; do
		rm -f "$LIVE_DIR/prop.$n"
		# Read before the write, not in the background job (which may
		# run after it), and again if the call failed.
		before=$(node_revision "$n") || before=$(node_revision "$n")
		poll_past "$n" "$before" "$LIVE_DIR/prop.$n" &
		pids+=($!)
	done
	t0=$(date +%s%N)
	op policy load "$LIVE_DIR/p.json" >/dev/null 2>&1
	t1=$(date +%s%N)
	WRITE_MS+=" $(((t1 - t0) / 1000000))"
	wait "${pids[@]}"
	for n in "${FLEET_NODES[@]}"; do
		[ -s "$LIVE_DIR/prop.$n" ] || continue
		PROP[$n]+=" $((($(cat "$LIVE_DIR/prop.$n") - t0) / 1000000))"
		AFTER[$n]+=" $((($(cat "$LIVE_DIR/prop.$n") - t1) / 1000000))"
	done
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
maximum() { tr ' ' '\n' | grep . | sort -n | tail -n 1; }
echo "    the CLI's write itself (auth, range, txn): median $(median <<<"$WRITE_MS") ms"
for n in "${FLEET_NODES[@]}"; do
	cnt=$(wc -w <<<"${PROP[$n]:-}")
	t_check "propagation to $n: $cnt of $FLEET_RUNS writes within 10 s" [ "$cnt" = "$FLEET_RUNS" ]
	echo "    propagation, CLI write to $n enforcing it: median $(median <<<"${PROP[$n]:-}") ms, max $(maximum <<<"${PROP[$n]:-}") ms; after the write returned: median $(median <<<"${AFTER[$n]:-}") ms, max $(maximum <<<"${AFTER[$n]:-}") ms ($FLEET_RUNS runs)"
done
allow_policy >"$LIVE_DIR/allow.json"
op policy load "$LIVE_DIR/allow.json" >/dev/null

# ---- a bad value in etcd changes nothing and is reported ------------------------------
REV=$(node_revision n1)
ectl nametag-admin put /nametag/v1/config/policy '{"namespaces": {"shop": {"rules": [{"action": "maybe"}]}}}' >/dev/null
bad_reported() {
	local n
	for n in "${FLEET_NODES[@]}"; do
		node_status "$n" | jq -e '.bad_key == "/nametag/v1/config/policy" and (.bad_error | length > 0)' >/dev/null || return 1
	done
}
t_check "a malformed policy in etcd is reported by every node with its key" wait_for 10 bad_reported
t_check "... each keeps the revision it enforced ($REV)" \
	eval '[ "$(node_revision n1)" = "$REV" ] && [ "$(node_revision n2)" = "$REV" ]'
t_check "... and enforcement is unchanged" enforced
t_check "... and the log names the key" grep -q "refused, still enforcing revision $REV: /nametag/v1/config/policy" "$LIVE_DIR/n2/log"
expect_ok "operator: the policy fixed" op policy load "$LIVE_DIR/allow.json"
t_check "... the report clears" \
	wait_for 10 eval 'node_status n1 | jq -e "has(\"bad_key\") | not" >/dev/null'

# ---- failure cases (tests/live/lib_fleet_cases.sh) -------------------------------------
fleet_case_forged_scope
fleet_case_jwt_scope
fleet_case_cgroup_late
fleet_case_signer_down_begin
fleet_case_compaction
fleet_case_jwt_before_outage
fleet_case_signer_down_end

# ---- node list -------------------------------------------------------------------------
expect_ok "operator: node list" op -j node list
t_check "node list shows the three nodes" eval 'jq -e "[.[].node] | sort == [\"n1\", \"n2\", \"n3\"]" <<<"$OUT" >/dev/null'
t_check "... with the namespaces each serves and its node CA" \
	eval 'jq -e "(.[] | select(.node == \"n3\") | .record.namespaces) == [\"pay\"] and all(.[]; .record.ca_serial | length > 0)" <<<"$OUT" >/dev/null'

# ---- what etcd's roles let a node do ----------------------------------------------------
t_check "roles: n1 reads the configuration" ectl n1 get /nametag/v1/config/policy
t_check "roles: n1 writes its own record" ectl n1 put /nametag/v1/nodes/n1 '{}'
t_check "roles: n1 cannot write the configuration" not ectl n1 put /nametag/v1/config/policy '{}'
t_check "roles: n1 cannot write n2's record" not ectl n1 put /nametag/v1/nodes/n2 '{}'
t_check "roles: n1 cannot read n2's CA answer" not ectl n1 get /nametag/v1/ca/answers/n2
t_check "roles: n1 cannot post n2's CA request" not ectl n1 put /nametag/v1/ca/requests/n2 '{}'
t_check "roles: n1 cannot write n2's JWT keys" not ectl n1 put /nametag/v1/jwt/n2 '{"keys": []}'
t_check "TLS: a client without a certificate does not get in" \
	not ip netns exec "$ETCD_NS" curl -sf --max-time 2 --cacert "$FLEET_PKI/ca.crt" \
	-X POST -d '{"key":"AA=="}' https://127.0.0.1:2379/v3/kv/range
ntd n1 daemon reload >/dev/null 2>&1	# the record n1's test write replaced

# ---- etcd killed: the nodes hold, a restart comes up from the last good copy ------------
REV=$(node_revision n2)
etcd_stop
out_of_sync() { node_status "$1" | jq -e '.in_sync == false' >/dev/null; }
t_check "etcd killed: the nodes notice" wait_for 15 eval 'out_of_sync n1 && out_of_sync n2'
t_check "... and keep enforcing: frontend in, intruder out" enforced
t_check "... node status says how stale" \
	wait_for 5 eval 'node_status n1 | jq -e ".stale_s >= 1 and (.sync_error | length > 0)" >/dev/null'
stop_daemon n2
launch_daemon n2
t_check "n2 restarted without etcd: it enforces revision $REV from its last good copy" \
	[ "$(node_revision n2)" = "$REV" ]
t_check "... frontend in, intruder out, across the restart" wait_for 10 enforced
fleet_case_jwt_after_restart
etcd_start || t_fail "etcd restarts"
t_check "etcd back: every node is in sync again" \
	wait_for 20 eval '! out_of_sync n1 && ! out_of_sync n2 && ! out_of_sync n3'
echo '{"namespaces": {"shop": {"rules": []}, "pay": {"rules": []}}}' >"$LIVE_DIR/deny.json"
REV=$(op -j policy load "$LIVE_DIR/deny.json" | jq -r .revision)
t_check "... and a change written then reaches every node" wait_for 10 all_at "$REV"
t_check "... enforced: frontend refused" wait_for 10 eval '[ "$(call frontend)" != srv:frontend ]'

# ---- SIGHUP on a fleet node: etcd's snapshot again, not the state files --------------
echo '{"namespaces": {}}' >"$LIVE_DIR/n1/state/policy.json"
reloads=$(grep -c "reloaded" "$LIVE_DIR/n1/log")
kill -HUP "${D_PID[n1]}"
t_check "SIGHUP on n1: a reload" \
	wait_for 10 eval '[ "$(grep -c reloaded "$LIVE_DIR/n1/log")" -gt "$reloads" ]'
t_check "... that applies etcd's snapshot, not a hand-edited policy.json" \
	eval '[ "$(ntd n1 -j policy show | jq ".namespaces | length")" = 2 ]'

# ---- teardown -------------------------------------------------------------------------
kill -TERM "$SIGNER_PID" 2>/dev/null
wait "$SIGNER_PID" 2>/dev/null
etcd_stop
t_check "no etcd or signer process left" \
	not pgrep -f -- "$LIVE_DIR/(etcd.data|pki/nametag-admin.pw)"
live_finish
