#!/usr/bin/env bash
# Federation in fleet mode (issue #15, docs/fleet.md "Federation"): the
# signer's fetcher gets another trust domain's SPIFFE bundle from a real
# HTTPS bundle endpoint (https_web: a test Web PKI CA given with
# --federation-ca) into config/bundles/<td>, and two fleet nodes trust it.
# The other domain is a single-node nametagd (trust domain
# other.example.org) whose bundle a python3 TLS server serves.
#
# Cases: the fleet's own trust domain cannot be federated; an endpoint
# whose certificate is not from a trusted CA (a MITM) is refused; the
# bundle reaches both nodes, and an SVID of the other domain verifies
# with a node's trust store only then; the other domain rotates its CA
# and the nodes follow within the hint; garbage, a bundle of a third
# domain and an oversized answer keep the last good bundle and are
# reported; an endpoint gone makes the bundle stale (status, log); a
# malformed value in etcd is reported with its key and the
# bundle in force stays; the endpoint back, all is fresh; federation del
# removes the bundle; a local `bundle add` on a fleet node is refused;
# cross-domain mTLS: a workload of other.example.org reaches one of the
# fleet, allowed by the fleet's policy, only with the fetched bundle.
# Needs root.
set -u
cd "$(dirname "$0")/../.."
. tests/live/lib.sh
. tests/live/lib_fleet.sh
skip_unless_root
skip_unless_tools etcd etcdctl openssl curl python3 jq
live_init
write_helpers
FLEET_NODES=(n1 n2)
OTHER=other.example.org
THIRD=third.example.org
WEB=$LIVE_DIR/web
URL=https://localhost:8443/bundle.json
HINT=2		# seconds, the served bundles' spiffe_refresh_hint
SIGNER_ARGS="--federation-ca $WEB/ca.crt --federation-refresh-min 1s"

# ---- a Web PKI for the bundle endpoint, and a server that is not in it ----------
mkdir -p "$WEB/root" "$WEB/evil"
(
	cd "$WEB" &&
	ec="-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes" &&
	openssl req -x509 $ec -keyout ca.key -out ca.crt -days 2 -subj '/CN=web test CA' &&
	openssl req -new $ec -keyout server.key -out server.csr -subj '/CN=localhost' &&
	printf 'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n' >server.ext &&
	openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -set_serial 1 \
		-days 2 -extfile server.ext -out server.crt &&
	openssl req -x509 $ec -keyout evil.key -out evil.crt -days 2 -subj '/CN=localhost' \
		-addext 'subjectAltName=DNS:localhost'
) >"$LIVE_DIR/web.log" 2>&1 || t_fail "the test Web PKI" "$(cat "$LIVE_DIR/web.log")"
cat >"$LIVE_DIR/https.py" <<'EOF'
import http.server, os, ssl, sys
os.chdir(sys.argv[1])
srv = http.server.HTTPServer(("127.0.0.1", int(sys.argv[2])),
                             http.server.SimpleHTTPRequestHandler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[3], sys.argv[4])
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
EOF
HTTPS_PID=""
# serve DIR PORT CERT KEY: the python3 TLS server in etcd's (the signer's) netns.
serve() {
	ip netns exec "$ETCD_NS" python3 "$LIVE_DIR/https.py" "$@" >>"$LIVE_DIR/https.log" 2>&1 &
	LIVE_PIDS+=("$!")
	HTTPS_PID=$!
}
# publish FILE: what the endpoint serves from now on (atomically).
publish() {
	cp "$1" "$WEB/root/.new" && mv "$WEB/root/.new" "$WEB/root/bundle.json"
}

if ! fleet_up; then
	t_fail "etcd (TLS, roles) and the signer come up"
	live_finish
	exit 1
fi
t_ok "etcd and the signer (with the federation fetcher) are up"

# ---- two fleet nodes, and a node of the other trust domain --------------------------
mkcg n1/shop/frontend n2/shop/catalogue o1/ext/client
expect_ok "operator: ns add shop for n1 and n2" op ns add shop --cgroup shop --hosts n1,n2
for i in 1 2; do
	n=${FLEET_NODES[$i-1]}
	tok=$(op node token create "$n" --ttl 10m 2>/dev/null)
	node_up "$i" "$tok" || { t_fail "$n joins"; live_finish; exit 1; }
done
t_ok "n1 and n2 joined the fleet"
DAEMON_ARGS="" start_daemon o1 "$LIVE_CG/o1" "$OTHER" || t_fail "o1 ($OTHER) starts"
# o1's bundle as its endpoint would serve it, with a short refresh hint.
other_bundle() {
	ntd o1 -j bundle show | jq -c ".spiffe_refresh_hint = $HINT" >"$1"
}
other_bundle "$LIVE_DIR/b1.json"
publish "$LIVE_DIR/b1.json"
serve "$WEB/root" 8443 "$WEB/server.crt" "$WEB/server.key"
MAIN_PID=$HTTPS_PID
t_check "the bundle endpoint answers over HTTPS (test CA)" wait_for 5 eval \
	"ip netns exec $ETCD_NS curl -sf --cacert $WEB/ca.crt $URL >/dev/null"
ntd o1 svid mint "spiffe://$OTHER/ns/ext/sa/client" --out "$LIVE_DIR/ext1" >/dev/null ||
	t_fail "o1 mints an SVID of its domain"
# verifies NODE CERT: NODE's trust store (the proxy's) accepts CERT.
verifies() {
	"$NAMETAG" --state-dir "$LIVE_DIR/$1/state" svid verify "$2" >/dev/null 2>&1
}
t_check "before federation: n2 does not accept an SVID of $OTHER" not verifies n2 "$LIVE_DIR/ext1.crt"

# ---- refused configurations -------------------------------------------------------
expect_fail "the fleet's own trust domain cannot be federated" "own trust domain" \
	op federation add "$FLEET_TD" --url "$URL"
expect_fail "an http:// endpoint is refused (https_web)" "needs https://" \
	op federation add "$OTHER" --url http://localhost:8443/bundle.json
serve "$WEB/root" 8444 "$WEB/evil.crt" "$WEB/evil.key"
EVIL_PID=$HTTPS_PID
expect_ok "federation add evil.example.org (a server outside the Web PKI given)" \
	op federation add evil.example.org --url https://localhost:8444/bundle.json
fetch_error() {	# fetch_error TD: the fetcher's last error for TD
	op -j federation list | jq -er ".[] | select(.trust_domain == \"$1\") | .fetch.error | select(length > 0)"
}
t_check "a MITM endpoint (certificate from no trusted CA) is refused" \
	wait_for 15 eval 'fetch_error evil.example.org | grep -qi "certificate"'
t_check "... and no bundle is stored for it" \
	test -z "$(ectl nametag-admin get /nametag/v1/config/bundles/evil.example.org --keys-only)"
expect_ok "federation del evil.example.org" op federation del evil.example.org
kill "$EVIL_PID" 2>/dev/null

# ---- the bundle reaches the nodes ---------------------------------------------------
fed() {	# fed NODE: NODE's federation status for $OTHER
	node_status "$1" | jq -c ".federation[] | select(.trust_domain == \"$OTHER\")"
}
expect_ok "operator: federation add $OTHER" op federation add "$OTHER" --url "$URL"
t_check "n1 and n2 trust the fetched bundle" \
	wait_for 15 eval '[ -n "$(fed n1)" ] && [ -n "$(fed n2)" ]'
t_check "... not stale, refresh $HINT s as hinted" \
	eval "fed n2 | jq -e '.stale == false and .refresh_hint == $HINT' >/dev/null"
t_check "n2 now accepts an SVID of $OTHER" verifies n2 "$LIVE_DIR/ext1.crt"
t_check "n1 too" verifies n1 "$LIVE_DIR/ext1.crt"
t_check "federation list shows the bundle and its fetch" \
	eval "op -j federation list | jq -e '.[0].bundle.x509_authorities >= 1 and .[0].fetch.error == \"\"' >/dev/null"

# ---- the other domain rotates its CA ------------------------------------------------
SEQ1=$(fed n2 | jq .sequence)
ntd o1 ca rotate >/dev/null && ntd o1 ca rotate >/dev/null || t_fail "o1 rotates its CA"
other_bundle "$LIVE_DIR/b2.json"
publish "$LIVE_DIR/b2.json"
SEQ2=$(jq .spiffe_sequence "$LIVE_DIR/b2.json")
ntd o1 svid mint "spiffe://$OTHER/ns/ext/sa/client" --out "$LIVE_DIR/ext2" >/dev/null
t0=$SECONDS
t_check "rotation: both nodes have sequence $SEQ2 (was $SEQ1) within 3 hints" \
	wait_for $((3 * HINT + 3)) eval '[ "$(fed n1 | jq .sequence)" = "$SEQ2" ] && [ "$(fed n2 | jq .sequence)" = "$SEQ2" ]'
echo "# rotation picked up by both nodes in $((SECONDS - t0)) s (hint $HINT s)"
t_check "... and n2 accepts an SVID of the new CA" verifies n2 "$LIVE_DIR/ext2.crt"

# ---- bad answers keep the last good bundle -------------------------------------------
bad_answer() {	# bad_answer NAME FILE WANT: served FILE is refused with WANT
	local before
	before=$(fed n2 | jq .sequence)
	publish "$2"
	t_check "$1: refused, reported by federation list" \
		wait_for 10 eval "fetch_error $OTHER | grep -qF '$3'"
	t_check "$1: the nodes keep the last good bundle" \
		eval '[ "$(fed n2 | jq .sequence)" = "$before" ] && verifies n2 "$LIVE_DIR/ext2.crt"'
}
echo 'this is not a bundle' >"$LIVE_DIR/garbage"
bad_answer "garbage" "$LIVE_DIR/garbage" "invalid json"
DAEMON_ARGS="" start_daemon t1 "$LIVE_CG/t1" "$THIRD" || t_fail "t1 ($THIRD) starts"
ntd t1 -j bundle show >"$LIVE_DIR/third.json"
bad_answer "a bundle of $THIRD served for $OTHER" "$LIVE_DIR/third.json" "of trust domain $THIRD"
head -c $((300 * 1024)) /dev/zero | tr '\0' ' ' >"$LIVE_DIR/huge"
bad_answer "an answer of 300 KB" "$LIVE_DIR/huge" "exceeds"
t_check "the signer logged the failures with the domain" \
	grep -q "federation $OTHER: fetch failed, the stored bundle stays" "$LIVE_DIR/signer.log"
publish "$LIVE_DIR/b2.json"
t_check "a good answer again: the error clears" \
	wait_for 10 eval '! fetch_error "$OTHER" >/dev/null'

# ---- the endpoint gone: stale ---------------------------------------------------------
kill "$MAIN_PID" 2>/dev/null
t_check "endpoint down: n1 and n2 report the bundle stale within 3 hints + backoff" \
	wait_for $((3 * HINT + 10)) eval \
	'fed n1 | jq -e .stale >/dev/null && fed n2 | jq -e .stale >/dev/null'
# The log line comes at the next once-a-second tick; status computes it at once.
t_check "... logged on the node" wait_for 5 grep -q "federated bundle of $OTHER is stale" "$LIVE_DIR/n2/log"
t_check "... node status says so" eval 'ntd n2 node status | grep -q "federated $OTHER.*STALE"'
t_check "... and the stale bundle stays in use" verifies n2 "$LIVE_DIR/ext2.crt"

# ---- a malformed value in etcd: the key is reported, the bundle stays ------------------
REV=$(node_revision n2)
ectl nametag-admin put "/nametag/v1/config/bundles/$OTHER" '{"trust_domain": 1}' >/dev/null
t_check "a malformed config/bundles/$OTHER: n2 reports the key" \
	wait_for 10 eval "node_status n2 | jq -e '.bad_key == \"/nametag/v1/config/bundles/$OTHER\"' >/dev/null"
t_check "... keeps revision $REV and the bundle" \
	eval '[ "$(node_revision n2)" = "$REV" ] && verifies n2 "$LIVE_DIR/ext2.crt"'
serve "$WEB/root" 8443 "$WEB/server.crt" "$WEB/server.key"
t_check "the endpoint back: the fetcher rewrites the value, the report clears, fresh again" \
	wait_for 20 eval "node_status n2 | jq -e '(.bad_key == null) and (.federation[0].stale == false)' >/dev/null"

# ---- cross-domain mTLS: o1's workload to catalogue on n2 --------------------------
ID_CLIENT=spiffe://$OTHER/ns/ext/sa/client
ID_CATALOGUE=spiffe://$FLEET_TD/ns/shop/sa/catalogue
O1_ADDR=10.79.0.1
N2_ADDR=10.79.0.2
veth_pair "${D_NS[o1]}" "$O1_ADDR/24" "${FLEET_NODE_NS[n2]}" "$N2_ADDR/24" ||
	t_fail "o1 and n2 joined by a veth"
ntd n2 proxy add "/run/netns/${FLEET_NODE_NS[n2]}" >/dev/null
ntd o1 proxy add "/run/netns/${D_NS[o1]}" >/dev/null
# o1 trusts the fleet's domain (a single node: bundle add, by hand).
ectl nametag-admin get /nametag/v1/config/bundle --print-value-only | jq -c .bundle >"$LIVE_DIR/fleet-bundle.json"
expect_ok "o1 trusts $FLEET_TD" ntd o1 bundle add "$FLEET_TD" "$LIVE_DIR/fleet-bundle.json"
expect_ok "o1: ns ext" ntd o1 ns add ext --cgroup "$LIVE_CG/o1/ext"
cat >"$LIVE_DIR/o1-policy.json" <<EOF
{"namespaces": {"ext": {"rules": [
  {"action": "allow", "from": ["$ID_CLIENT"], "to": ["$ID_CATALOGUE"], "ports": [8080]}]}}}
EOF
expect_ok "o1: policy" ntd o1 policy load "$LIVE_DIR/o1-policy.json"
expect_ok "o1: ext strict" ntd o1 ns enable ext --mode strict
cat >"$LIVE_DIR/fleet-policy.json" <<EOF
{"namespaces": {"shop": {"rules": [
  {"action": "allow", "from": ["$ID_CLIENT"], "to": ["$ID_CATALOGUE"], "ports": [8080]}]}}}
EOF
expect_ok "fleet: policy allows $ID_CLIENT" op policy load "$LIVE_DIR/fleet-policy.json"
expect_ok "fleet: shop strict" op ns enable shop --mode strict
start_server catalogue 0.0.0.0 8080 "${FLEET_NODE_NS[n2]}" "$LIVE_CG/n2/shop/catalogue" ||
	t_fail "catalogue listens on n2"
call() {
	run_in_cgroup "$LIVE_CG/o1/ext/client" ip netns exec "${D_NS[o1]}" \
		"$PY" "$LIVE_DIR/client.py" "$N2_ADDR" 8080 client 2>/dev/null | awk '{ print $3 }'
}
t_check "cross-domain mTLS: $OTHER's client reaches catalogue on n2 (fetched bundle)" \
	wait_for 15 eval '[ "$(call)" = srv:client ]'
t_check "... n2 recorded the flow with the federated identity" \
	eval 'flows n2 | jq -e --arg c "$ID_CLIENT" "any(.[]; .src_spiffe_id == \$c and .verdict == \"allow\")" >/dev/null'

# ---- federation del: the bundle goes, and with it the trust ---------------------------
expect_ok "operator: federation del $OTHER" op federation del "$OTHER"
t_check "n1 and n2 dropped the bundle" \
	wait_for 10 eval '[ -z "$(fed n1)" ] && [ -z "$(fed n2)" ] && [ ! -e "$LIVE_DIR/n2/state/bundles/$OTHER.json" ]'
t_check "... n2 no longer accepts an SVID of $OTHER" not verifies n2 "$LIVE_DIR/ext2.crt"
t_check "... and the cross-domain call fails" wait_for 10 eval '[ "$(call)" != srv:client ]'
expect_fail "a local bundle add on a fleet node is refused" "fleet node" \
	"$NAMETAG" --state-dir "$LIVE_DIR/n2/state" bundle add "$OTHER" "$LIVE_DIR/b2.json"

# ---- teardown -------------------------------------------------------------------------
kill -TERM "$SIGNER_PID" 2>/dev/null
wait "$SIGNER_PID" 2>/dev/null
etcd_stop
live_finish
