#!/usr/bin/env bash
# The README's first command (make demo). Until the datapath lands this walks
# through the identity core: a node CA, two workload SVIDs, a TLS 1.3 mTLS
# handshake between them with stock openssl on loopback, verification, and a
# CA rotation. Everything lives in a temp dir removed at exit.
set -eu
cd "$(dirname "$0")/.."
NT=${NAMETAG:-build/nametag}
D=$(mktemp -d /tmp/nametag-demo.XXXXXX)
srv=
cleanup() {
	[ -n "$srv" ] && kill "$srv" 2>/dev/null
	rm -rf "$D"
}
trap cleanup EXIT
S=$D/state
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

step "$NT" --state-dir "$S" ca init --trust-domain demo.nametag.test --ttl 24h
step "$NT" --state-dir "$S" svid mint spiffe://demo.nametag.test/ns/shop/sa/frontend --out "$D/frontend"
step "$NT" --state-dir "$S" svid mint spiffe://demo.nametag.test/ns/shop/sa/catalogue --out "$D/catalogue"
step openssl x509 -in "$D/frontend.crt" -noout -subject -ext subjectAltName,keyUsage,extendedKeyUsage,basicConstraints

"$NT" --state-dir "$S" -j bundle show |
	jq -r '.keys[] | select(.use == "x509-svid") | .x5c[0]' |
	while read -r b64; do echo "$b64" | base64 -d | openssl x509 -inform DER; done >"$D/roots.pem"

port=$((20000 + RANDOM % 20000))
printf '\n\033[1m# catalogue serves TLS 1.3 with its SVID and requires a client SVID (port %s)\033[0m\n' "$port"
openssl s_server -quiet -accept "127.0.0.1:$port" -tls1_3 -naccept 1 \
	-cert "$D/catalogue.crt" -key "$D/catalogue.key" -CAfile "$D/roots.pem" \
	-Verify 1 -verify_return_error >"$D/server.out" 2>&1 &
srv=$!
sleep 0.5
step sh -c "echo 'GET /items' | openssl s_client -connect 127.0.0.1:$port -tls1_3 \
	-cert '$D/frontend.crt' -key '$D/frontend.key' -CAfile '$D/roots.pem' \
	-verify_return_error -brief 2>&1 | grep -E 'Protocol|Ciphersuite|Verification|Peer certificate'"
wait "$srv" 2>/dev/null || true
srv=
echo "server received: $(grep -a 'GET' "$D/server.out" || echo '(nothing)')"

step "$NT" --state-dir "$S" svid verify "$D/frontend.crt"
step "$NT" --state-dir "$S" -p svid verify "$D/catalogue.crt"
step "$NT" --state-dir "$S" ca rotate
step "$NT" --state-dir "$S" ca rotate
step "$NT" --state-dir "$S" svid verify "$D/frontend.crt"
printf '\n\033[1m# a forged ID is refused\033[0m\n'
step "$NT" id check 'spiffe://demo.nametag.test/ns/shop/../admin' || true
echo
echo "demo done (state was in $D, now removed)"
