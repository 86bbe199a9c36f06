#!/usr/bin/env bash
# The CLI as a user meets it, offline on a state dir: ids, the CA, SVIDs,
# bundles. Certificates made by the openssl command line are verified by
# nametag, and nametag's SVIDs by `openssl verify`, so neither side grades
# its own homework.
set -u
cd "$(dirname "$0")/../.."
. tests/cli/lib.sh

S=$T_DIR/state
nt() { "$NAMETAG" --state-dir "$S" "$@"; }

# bundle_root_pem STATE OUT: the bundle's first x509 authority as PEM.
bundle_roots_pem() {
	"$NAMETAG" -j --state-dir "$1" bundle show |
		jq -r '.keys[] | select(.use == "x509-svid") | .x5c[0]' |
		while read -r b64; do
			echo "$b64" | base64 -d | openssl x509 -inform DER
		done >"$2"
}

# --- grammar -----------------------------------------------------------------
expect_ok "help" "$NAMETAG" help
expect_ok "version" "$NAMETAG" -V
expect_ok "json version" "$NAMETAG" -j version
t_check "json version parses" is_json <<<"$OUT"
for obj in id ca svid bundle; do
	expect_ok "$obj help" "$NAMETAG" "$obj" help
	expect_ok "$obj help json" "$NAMETAG" -j "$obj" help
	t_check "$obj help json parses" is_json <<<"$OUT"
done
expect_fail "unknown object" "unknown keyword 'frob'" "$NAMETAG" frob
expect_fail "unknown command" "unknown keyword 'zap'" "$NAMETAG" ca zap
expect_fail "unknown option" "unrecognized option" "$NAMETAG" --frob id check spiffe://a/b
expect_fail "json error" '"error"' "$NAMETAG" -j frob
t_check "json error parses" is_json <<<"$OUT"
expect_ok "prefix match" "$NAMETAG" i ch spiffe://example.org/x

# --- id check ------------------------------------------------------------------
expect_ok "id check valid" "$NAMETAG" id check spiffe://example.org/ns/a/sa/b
t_check "id check prints id" [ "$OUT" = spiffe://example.org/ns/a/sa/b ]
expect_ok "id check json" "$NAMETAG" -j id check spiffe://example.org/ns/a
t_check "id check json fields" jq -e '.trust_domain == "example.org" and .path == "/ns/a"' <<<"$OUT"
expect_fail "id check uppercase td" "trust domain" "$NAMETAG" id check spiffe://Example.org/a
expect_fail "id check dot segment" ".." "$NAMETAG" id check spiffe://example.org/a/../b
expect_fail "id check scheme" "scheme" "$NAMETAG" id check https://example.org/a
expect_fail "id check json bad" '"error"' "$NAMETAG" -j id check spiffe://example.org/a/
t_check "id check json bad parses" is_json <<<"$OUT"

# --- ca -------------------------------------------------------------------------
expect_fail "ca show before init" "ca init" nt ca show
expect_fail "ca init needs td" "--trust-domain" nt ca init
expect_fail "ca init bad td" "trust domain" nt ca init --trust-domain Bad.Org
t_check "bad init leaves no CA" [ ! -e "$S/ca/ca.json" ]
expect_fail "ca init bad ttl" "duration" nt ca init --trust-domain example.org --ttl 5x
expect_ok "ca init" nt ca init --trust-domain example.org
t_check "state dir 0700" [ "$(stat -c %a "$S")" = 700 ]
t_check "keys 0600" bash -c "for k in '$S'/ca/*.key; do [ \$(stat -c %a \"\$k\") = 600 ] || exit 1; done"
expect_ok "ca show json" nt -j ca show
t_check "ca show fields" jq -e '.trust_domain == "example.org" and .mode == "self-signed" and (.authorities | length) == 1 and .authorities[0].slot == "current"' <<<"$OUT"
rm -rf "$T_DIR/state.before" && cp -a "$S" "$T_DIR/state.before"
expect_fail "ca init twice" "exist" nt ca init --trust-domain other.org
t_check "ca init twice changes nothing" diff -r "$S" "$T_DIR/state.before"

# --- svid mint / verify, both ways with openssl --------------------------------
expect_fail "mint root id" "path" nt svid mint spiffe://example.org --out "$T_DIR/root"
expect_fail "mint other td" "trust domain" nt svid mint spiffe://other.org/a --out "$T_DIR/x"
expect_fail "mint needs out" "--out" nt svid mint spiffe://example.org/a
expect_ok "mint" nt svid mint spiffe://example.org/ns/shop/sa/web --out "$T_DIR/web"
t_check "mint key 0600" [ "$(stat -c %a "$T_DIR/web.key")" = 600 ]
bundle_roots_pem "$S" "$T_DIR/roots.pem"
t_check "bundle has a root" grep -q "BEGIN CERTIFICATE" "$T_DIR/roots.pem"
expect_ok "openssl verifies our svid" openssl verify -x509_strict -CAfile "$T_DIR/roots.pem" "$T_DIR/web.crt"
expect_ok "openssl verifies client purpose" openssl verify -purpose sslclient -CAfile "$T_DIR/roots.pem" "$T_DIR/web.crt"
expect_ok "openssl verifies server purpose" openssl verify -purpose sslserver -CAfile "$T_DIR/roots.pem" "$T_DIR/web.crt"
t_check "one URI SAN" [ "$(openssl x509 -in "$T_DIR/web.crt" -noout -ext subjectAltName | grep -o 'URI:' | wc -l)" = 1 ]
t_check "key matches cert" [ "$(openssl x509 -in "$T_DIR/web.crt" -noout -pubkey)" = "$(openssl pkey -in "$T_DIR/web.key" -pubout)" ]
expect_ok "verify own svid" nt svid verify "$T_DIR/web.crt"
t_check "verify prints id" [ "$OUT" = spiffe://example.org/ns/shop/sa/web ]
expect_ok "verify json" nt -j svid verify "$T_DIR/web.crt"
t_check "verify json fields" jq -e '.spiffe_id == "spiffe://example.org/ns/shop/sa/web" and .trust_domain == "example.org" and (.not_after | length) > 0' <<<"$OUT"
nt -j bundle show >"$T_DIR/bundle.json"
expect_ok "verify with --bundle" nt svid verify "$T_DIR/web.crt" --bundle "$T_DIR/bundle.json" --trust-domain example.org
expect_fail "verify with wrong --trust-domain" "no trust bundle" nt svid verify "$T_DIR/web.crt" --bundle "$T_DIR/bundle.json" --trust-domain other.org
expect_fail "verify garbage file" "certificate" nt svid verify "$T_DIR/bundle.json"
expect_fail "verify missing file" "No such file" nt svid verify "$T_DIR/nope.crt"

# A leaf made by the openssl command line under an openssl-made upstream root.
U=$T_DIR/up
mkdir -p "$U"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj /O=upstream -keyout "$U/root.key" -out "$U/root.crt" \
	-addext basicConstraints=critical,CA:true \
	-addext keyUsage=critical,keyCertSign,cRLSign \
	-addext subjectAltName=URI:spiffe://corp.example 2>/dev/null
chmod 600 "$U/root.key"
cat >"$U/leaf.ext" <<EXT
basicConstraints=critical,CA:false
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth,clientAuth
subjectAltName=URI:spiffe://corp.example/ns/pay/sa/api
EXT
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-subj /O=leaf -keyout "$U/leaf.key" -out "$U/leaf.csr" 2>/dev/null
openssl x509 -req -in "$U/leaf.csr" -CA "$U/root.crt" -CAkey "$U/root.key" \
	-CAcreateserial -days 1 -extfile "$U/leaf.ext" -out "$U/leaf.crt" 2>/dev/null
sed 's/^subjectAltName=.*/subjectAltName=URI:spiffe:\/\/corp.example\/a,URI:spiffe:\/\/corp.example\/b/' \
	"$U/leaf.ext" >"$U/two.ext"
openssl x509 -req -in "$U/leaf.csr" -CA "$U/root.crt" -CAkey "$U/root.key" \
	-CAcreateserial -days 1 -extfile "$U/two.ext" -out "$U/two.crt" 2>/dev/null

S2=$T_DIR/state2
expect_ok "ca init upstream" "$NAMETAG" --state-dir "$S2" ca init --trust-domain corp.example --upstream-cert "$U/root.crt" --upstream-key "$U/root.key"
expect_ok "verify openssl-made leaf" "$NAMETAG" --state-dir "$S2" svid verify "$U/leaf.crt"
t_check "openssl leaf id" [ "$OUT" = spiffe://corp.example/ns/pay/sa/api ]
expect_fail "openssl leaf with two URI SANs" "URI SAN" "$NAMETAG" --state-dir "$S2" svid verify "$U/two.crt"
expect_ok "mint under upstream" "$NAMETAG" --state-dir "$S2" svid mint spiffe://corp.example/ns/pay/sa/db --out "$T_DIR/db"
t_check "upstream chain has leaf and intermediate" [ "$(grep -c 'BEGIN CERTIFICATE' "$T_DIR/db.crt")" = 2 ]
expect_ok "openssl verifies upstream chain" openssl verify -CAfile "$U/root.crt" -untrusted "$T_DIR/db.crt" "$T_DIR/db.crt"
expect_fail "other td not trusted" "no trust bundle" nt svid verify "$T_DIR/db.crt"

# --- federation: kept apart, fails closed ----------------------------------------
"$NAMETAG" --state-dir "$S2" -j bundle show >"$T_DIR/corp.json"
rm -rf "$T_DIR/state.before" && cp -a "$S" "$T_DIR/state.before"
echo '{"keys": [], "keys": []}' >"$T_DIR/dup.json"
expect_fail "bundle add duplicate key" "duplicate" nt bundle add corp.example "$T_DIR/dup.json"
printf '{"keys": []} x' >"$T_DIR/trail.json"
expect_fail "bundle add trailing garbage" "trailing" nt bundle add corp.example "$T_DIR/trail.json"
expect_fail "bundle add own td" "own trust domain" nt bundle add example.org "$T_DIR/corp.json"
expect_fail "bundle add bad td" "trust domain" nt bundle add 'Corp.example' "$T_DIR/corp.json"
t_check "bad bundle input changed nothing" diff -r "$S" "$T_DIR/state.before"
expect_ok "bundle add" nt bundle add corp.example "$T_DIR/corp.json"
expect_ok "verify federated svid" nt svid verify "$T_DIR/db.crt"
expect_ok "bundle list json" nt -j bundle list
t_check "bundle list has both" jq -e 'length == 2 and (map(select(.local)) | length) == 1' <<<"$OUT"
expect_ok "bundle show federated" nt -j bundle show corp.example
t_check "federated bundle parses" is_json <<<"$OUT"
expect_fail "local svid not accepted under federated bundle" "no trust bundle" \
	"$NAMETAG" --state-dir "$S2" svid verify "$T_DIR/web.crt"
expect_ok "bundle del" nt bundle del corp.example
expect_fail "deleted bundle fails closed" "no trust bundle" nt svid verify "$T_DIR/db.crt"
expect_fail "bundle del missing" "no federated bundle" nt bundle del corp.example
# A corrupt federated bundle fails closed, naming the file, and stays as is.
mkdir -p "$S/bundles" && echo '{"keys": [' >"$S/bundles/broken.example.json"
expect_fail "corrupt federated bundle" "broken.example" nt svid verify "$T_DIR/web.crt"
t_check "corrupt bundle kept" grep -q keys "$S/bundles/broken.example.json"
rm -f "$S/bundles/broken.example.json"

# --- rotation ----------------------------------------------------------------------
seq1=$(nt -j ca show | jq .bundle_sequence)
expect_ok "rotate prepares" nt -j ca rotate
t_check "rotate step prepared" jq -e '.step == "prepared" and (.authorities | length) == 2' <<<"$OUT"
seq2=$(nt -j ca show | jq .bundle_sequence)
t_check "sequence rises on prepare" [ "$seq2" -gt "$seq1" ]
expect_ok "rotate activates" nt -j ca rotate
t_check "rotate step activated" jq -e '.step == "activated"' <<<"$OUT"
expect_ok "old svid verifies during overlap" nt svid verify "$T_DIR/web.crt"
expect_ok "mint after rotation" nt svid mint spiffe://example.org/ns/shop/sa/web --out "$T_DIR/web2"
t_check "new svid has another issuer" [ "$(openssl x509 -in "$T_DIR/web.crt" -noout -issuer)" != "$(openssl x509 -in "$T_DIR/web2.crt" -noout -issuer)" ]
bundle_roots_pem "$S" "$T_DIR/roots2.pem"
expect_ok "openssl verifies both generations" bash -c "openssl verify -CAfile '$T_DIR/roots2.pem' '$T_DIR/web.crt' && openssl verify -CAfile '$T_DIR/roots2.pem' '$T_DIR/web2.crt'"

# --- corrupt state: clear error, nothing replaced -------------------------------
cp "$S/ca/ca.json" "$T_DIR/ca.json.good"
head -c 20 "$T_DIR/ca.json.good" >"$S/ca/ca.json"
cp "$S/ca/ca.json" "$T_DIR/ca.json.cut"
expect_fail "truncated ca.json" "ca.json" nt ca show
expect_fail "truncated ca.json blocks mint" "ca.json" nt svid mint spiffe://example.org/a --out "$T_DIR/z"
t_check "truncated ca.json untouched" cmp -s "$S/ca/ca.json" "$T_DIR/ca.json.cut"
cp "$T_DIR/ca.json.good" "$S/ca/ca.json"
key=$(ls "$S"/ca/*.key | head -n 1)
chmod 644 "$key"
expect_fail "world-readable key refused" "0600" nt ca rotate
chmod 600 "$key"
expect_ok "ca show after repair" nt ca show

# --- the daemon refuses to start without a CA, before touching anything --
expect_fail "nametagd without CA" "ca init" "$NAMETAGD" --state-dir "$T_DIR/none" --run-dir "$T_DIR/run" --bpffs "$T_DIR/bpffs"

t_done
