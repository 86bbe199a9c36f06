#!/usr/bin/env bash
# The operator's commands against a live nametagd (issue #13):
#   - `nametag status`: one screen, and -j, with version, uptime, trust
#     domain, CA expiry, namespaces and modes, served network namespaces,
#     connections, kTLS, the metrics address and the audit log path
#   - flow filters: `flow list|watch --ns --verdict --from --to --port`,
#     each the same as selecting from the whole list, and bad values refused
#   - --flow-table-size: the ring keeps that many flows, and says so
#   - `entry add` refuses a cgroup:path that can never match
#   - policy load and `ns enable --mode strict` warn (without refusing)
#     about namespaces not enrolled, enrolled ones without rules and trust
#     domains without a bundle
#   - --cgroup-root relative to the cgroup v2 mount, as `ns add` takes it
#   - a first start that fails leaves no CA, no pins and no bpffs mount;
#     a restart that fails leaves the pins in force
# Needs root.
set -u
cd "$(dirname "$0")/../.."
. tests/live/lib.sh
skip_unless_root
live_init
write_helpers

C=$LIVE_CG/o1
mkcg o1/shop/frontend o1/shop/admin o1/web/app o1/other
MPORT=19481
AUDIT=$LIVE_DIR/o1-audit.log
DAEMON_ARGS="--metrics 127.0.0.1:$MPORT --audit-log $AUDIT"
if ! start_daemon o1 "$C"; then
	t_fail "nametagd o1 starts"
	live_finish
	exit 1
fi
unset DAEMON_ARGS
nt() { ntd o1 "$@"; }
jqt() { jq -e "$@" <<<"$OUT" >/dev/null; }
expect_ok "ns add shop" nt ns add shop --cgroup "$C/shop"
expect_ok "ns add web" nt ns add web --cgroup "$C/web"
expect_ok "ns enable shop observe" nt ns enable shop --mode observe
expect_ok "ns enable web observe" nt ns enable web --mode observe

# ---- status ---------------------------------------------------------------------------
expect_ok "status -j" nt -j status
t_check "status -j: version and uptime" jqt '(.version | length) > 0 and .uptime_s >= 0 and (.started | test("Z$"))'
t_check "status -j: trust domain and CA expiry" \
	jqt '.trust_domain == "example.org" and (.ca.not_after | test("Z$")) and .ca.expires_in_s > 0'
t_check "status -j: namespaces and their modes" \
	jqt '.namespaces == [{"name": "shop", "mode": "observe"}, {"name": "web", "mode": "observe"}]'
t_check "status -j: the served network namespaces" jqt '(.proxies | type) == "array"'
t_check "status -j: connections" jqt '(.connections | type) == "number" and (.idle_mesh_connections | type) == "number"'
t_check "status -j: kTLS" jqt '(.ktls.available | type) == "boolean" and (.ktls.enabled | type) == "boolean"'
t_check "status -j: metrics address and audit log path" \
	jqt --arg a "$AUDIT" --arg m "127.0.0.1:$MPORT" '.metrics == $m and .audit_log == $a'
t_check "status -j: the flow table's size" jqt '.flow_table_size == 4096 and .flows >= 0'
expect_ok "status" nt status
t_check "status fits one screen ($(wc -l <<<"$OUT") lines)" [ "$(wc -l <<<"$OUT")" -le 24 ]
for w in "^nametagd v.* up [0-9]+s" "^trust domain +example.org$" "^CA expires +[0-9-]+T.*Z \\(in " \
	"^namespaces +shop \\(observe\\), web \\(observe\\)$" "^connections +[0-9]+ open" "^ktls +o" \
	"^flows +[0-9]+ held, the latest 4096" "^metrics +http://127.0.0.1:$MPORT/metrics$" \
	"^audit log +$AUDIT$"; do
	t_check "status: /$w/" grep -qE -- "$w" <<<"$OUT"
done
expect_fail "status with an unknown command" "unknown keyword 'x'" nt status x
expect_fail "status show with an argument" "unexpected argument 'x'" nt status show x

# ---- flows to filter ----------------------------------------------------------------------
start_server srv 127.0.0.1 0 "${D_NS[o1]}" || t_fail "server starts"
P=$SRV_PORT
start_server srv2 127.0.0.1 0 "${D_NS[o1]}" || t_fail "second server starts"
P2=$SRV_PORT
cat >"$LIVE_DIR/policy.json" <<EOF
{"namespaces": {
  "shop": {"rules": [{"action": "allow", "from": ["spiffe://example.org/ns/shop/*"], "to": ["*"]}]},
  "web": {"rules": []}
}}
EOF
expect_ok "policy load (no warnings)" nt -j policy load "$LIVE_DIR/policy.json"
t_check "a clean policy has no warnings" jqt '(.warnings // []) == []'

# connect CGROUP PORT: one connection from CGROUP to the server at PORT.
connect() {
	run_in_cgroup "$1" ip netns exec "${D_NS[o1]}" "$PY" "$LIVE_DIR/client.py" \
		127.0.0.1 "$2" filt >/dev/null
}
spawn nsenter --net="/run/netns/${D_NS[o1]}" "$NAMETAG" -j --run-dir "${D_DIR[o1]}/run" \
	flow watch --ns web >"$LIVE_DIR/watch-web.out" 2>&1
WATCH=$BG_PID
sleep 0.5
NT_LINGER=0 connect "$C/shop/frontend" "$P"
NT_LINGER=0 connect "$C/shop/admin" "$P2"
NT_LINGER=0 connect "$C/web/app" "$P"
NT_LINGER=0 connect "$C/web/app" "$P2"
wait_for 5 eval '[ "$(flows o1 | jq "[.[] | select(.type == \"connect\")] | length")" -ge 4 ]'
ALL=$(flows o1)
echo "$ALL" >"$LIVE_DIR/all-flows.json"

# filt NAME JQ ARGS...: `flow list ARGS` is what JQ selects from the whole list,
# and that is not empty.
filt() {
	local name=$1 sel=$2 want
	shift 2
	want=$(jq -c "[.[] | select($sel) | .id]" <<<"$ALL")
	expect_ok "flow list $name" nt -j flow list "$@"
	t_check "flow list $name: $want" jq -e --argjson w "$want" \
		'($w | length) > 0 and [.[].id] == $w' <<<"$OUT"
}
ID_SHOP=spiffe://example.org/ns/shop
filt "--ns shop" '.namespace == "shop"' --ns shop
filt "--ns web" '.namespace == "web"' --ns web
expect_ok "flow list --verdict allow" nt -j flow list --verdict allow
t_check "... none of these is an allow (observe, no listener ID)" jqt --argjson w \
	"$(jq -c '[.[] | select(.verdict == "allow") | .id]' <<<"$ALL")" '[.[].id] == $w'
# Observe names no destination here (a loopback listener outside the
# mesh): strict's verdict is unknown, and said so (docs/policy.md).
filt "--verdict unknown" '.verdict == "unknown"' --verdict unknown
filt "--from a prefix" '(.src_spiffe_id // "") | startswith("'"$ID_SHOP"'/")' --from "$ID_SHOP"
filt "--from an ID" '.src_spiffe_id == "'"$ID_SHOP"'/sa/admin"' --from "$ID_SHOP/sa/admin"
filt "--port" '(.dst // "") | endswith(":'"$P2"'")' --port "$P2"
filt "--ns web --port" '.namespace == "web" and ((.dst // "") | endswith(":'"$P2"'"))' \
	--ns web --port "$P2"
expect_ok "flow list --from a prefix that is no ID's segment" nt -j flow list --from "$ID_SHOP/sa/adm"
t_check "... matches nothing (a prefix ends at a '/')" jqt 'length == 0'
expect_ok "flow list --to" nt -j flow list --to "spiffe://example.org/ns/none"
t_check "... --to an ID no flow has: nothing" jqt 'length == 0'
expect_fail "flow list --verdict maybe" "expected allow, deny, would-allow, would-deny or unknown" nt flow list --verdict maybe
expect_fail "flow list --port 0" "'0' is not a port" nt flow list --port 0
expect_fail "flow list --port 70000" "'70000' is not a port" nt flow list --port 70000
expect_fail "flow list --from a bad ID" "--from" nt flow list --from "spiffe://Bad/x"
expect_fail "flow list --ns without a value" "--ns needs a value" nt flow list --ns
expect_fail "flow list --bogus" "unknown option '--bogus'" nt flow list --bogus
expect_fail "flow watch --verdict maybe" "expected allow, deny, would-allow, would-deny or unknown" nt flow watch --verdict maybe
wait_for 5 eval '[ "$(wc -l <"$LIVE_DIR/watch-web.out")" -ge 2 ]'
t_check "flow watch --ns web: web's flows ($(wc -l <"$LIVE_DIR/watch-web.out") lines)" \
	jq -e -s 'length >= 2' "$LIVE_DIR/watch-web.out"
t_check "flow watch --ns web: only web's" \
	jq -e -s 'all(.[]; .namespace == "web")' "$LIVE_DIR/watch-web.out"
kill "$WATCH" 2>/dev/null

# ---- entry add: a cgroup:path that can never match --------------------------------------
expect_fail "entry add cgroup:path as an absolute /sys/fs/cgroup path" \
	"relative to the cgroup v2 mount" \
	nt entry add spiffe://example.org/x --selector "cgroup:path:$C/shop/frontend"
t_check "... and says what to write" grep -qF "cgroup:path:$(cg_rel "$C/shop/frontend")" <<<"$ERR"
expect_fail "entry add cgroup:path outside the managed root" "can never match" \
	nt entry add spiffe://example.org/x --selector "cgroup:path:/elsewhere/x"
expect_fail "entry add cgroup:path with a dot segment" "can never match" \
	nt entry add spiffe://example.org/x --selector "cgroup:path:$(cg_rel "$C")/shop/../web"
expect_fail "entry add cgroup:path with a trailing slash" "can never match" \
	nt entry add spiffe://example.org/x --selector "cgroup:path:$(cg_rel "$C/shop")/"
expect_ok "entry add cgroup:path relative to the mount" \
	nt entry add spiffe://example.org/ops --selector "cgroup:path:$(cg_rel "$C/shop/admin")"
expect_fail "entry add outside the trust domain" "outside this node's trust domain" \
	nt entry add spiffe://other.org/x --selector unix:uid:1
expect_fail "ns add a template with an unknown placeholder" "unknown placeholder" \
	nt ns add tmpl --cgroup "$C/other" --template "ns/{nope}"

# ---- lints ------------------------------------------------------------------------------
cat >"$LIVE_DIR/lint.json" <<EOF
{"namespaces": {
  "shop": {"rules": [{"action": "allow", "from": ["spiffe://other.org/*"], "to": ["*"]}]},
  "ghost": {"rules": []}
}}
EOF
expect_ok "policy load with mistakes is not refused" nt policy load "$LIVE_DIR/lint.json"
t_check "warns: ghost is not enrolled" grep -q "^Warning: .*ghost.* not enrolled" <<<"$ERR"
t_check "warns: web is enrolled but has no rules" grep -q "^Warning: .*web.* absent from the policy" <<<"$ERR"
t_check "warns: other.org has no bundle" grep -q "^Warning: .*other.org.* no bundle" <<<"$ERR"
t_check "... the policy was loaded" grep -q "policy loaded: 2 namespaces" <<<"$OUT"
expect_ok "policy load -j with mistakes" nt -j policy load "$LIVE_DIR/lint.json"
t_check "-j: the warnings are in the reply" jqt '.namespaces == 2 and (.warnings | length) == 3'
t_check "the daemon logged them" grep -q "warn: .*ghost.* not enrolled" "${D_DIR[o1]}/log"
expect_ok "ns enable web --mode strict without rules" nt ns enable web --mode strict
t_check "warns: web has no rules, strict denies everything" \
	grep -q "^Warning: .*web.* no rules" <<<"$ERR"
expect_ok "ns enable shop --mode strict with rules" nt -j ns enable shop --mode strict
t_check "no warning for shop" jqt '.mode == "strict" and (.warnings // []) == []'
expect_ok "ns enable web -j" nt -j ns enable web --mode strict
t_check "-j: the warning is in the namespace's reply" jqt '.mode == "strict" and (.warnings | length) == 1'

# ---- --flow-table-size ---------------------------------------------------------------------
C2=$LIVE_CG/o2
mkcg o2/shop/app
DAEMON_ARGS="--flow-table-size 16"
if start_daemon o2 "$C2"; then
	expect_ok "o2: ns add and observe" ntd o2 ns add shop --cgroup "$C2/shop"
	ntd o2 ns enable shop --mode observe >/dev/null
	start_server srv3 127.0.0.1 0 "${D_NS[o2]}" || t_fail "o2 server starts"
	run_in_cgroup "$C2/shop/app" ip netns exec "${D_NS[o2]}" bash -c \
		'for i in $(seq 24); do exec 3<>/dev/tcp/127.0.0.1/'"$SRV_PORT"' && exec 3>&-; done'
	wait_for 5 eval '[ "$(flows o2 | jq "[.[] | select(.id >= 24)] | length")" -ge 1 ]'
	expect_ok "o2: flow list" ntd o2 -j flow list
	t_check "the ring keeps 16 flows ($(jq length <<<"$OUT"))" jqt 'length == 16'
	first=$(jq '.[0].id' <<<"$OUT")
	expect_fail "flow show of a flow the ring let go" "keeps the latest 16" ntd o2 flow show 1
	expect_ok "o2: status -j" ntd o2 -j status
	t_check "status: flow_table_size 16" jqt '.flow_table_size == 16'
	t_check "the oldest kept flow is newer than flow 1 ($first)" [ "${first:-0}" -gt 1 ]
else
	t_fail "nametagd starts with --flow-table-size 16"
fi
unset DAEMON_ARGS

# ---- --cgroup-root relative to the cgroup v2 mount ------------------------------------------
C3=$LIVE_CG/o3
mkcg o3
# Set up with the absolute path (start_daemon makes the cgroup), then
# started again with the path relative to the mount, which it adopts.
if start_daemon o3 "$C3"; then
	stop_daemon o3
	D_CG[o3]=$(cg_rel "$C3")
	if launch_daemon o3; then
		expect_ok "o3: status -j" ntd o3 -j status
		t_check "--cgroup-root $(cg_rel "$C3") is $C3" jqt --arg c "$C3" '.cgroup_root == $c'
	else
		t_fail "nametagd starts with --cgroup-root relative to the mount"
	fi
	stop_daemon o3
	D_CG[o3]=${D_CG[o3]#/}
	if launch_daemon o3; then
		t_check "--cgroup-root ${D_CG[o3]}: $C3" eval \
			'ntd o3 -j status | jq -e --arg c "$C3" ".cgroup_root == \$c" >/dev/null'
	else
		t_fail "nametagd starts with --cgroup-root without a leading slash"
	fi
else
	t_fail "nametagd o3 starts"
fi
D_CG[o3]=$C3

# ---- a start that fails -------------------------------------------------------------------------
F=$LIVE_DIR/f1
C4=$LIVE_CG/f1
mkdir -p "$F/state" "$C4"
chmod 700 "$F/state"
netns_add FNS fail
# fail_start STATE BPFFS CGROUP TD: nametagd that gets as far as the control
# socket, which cannot be made (its run dir is below a file).
fail_start() {
	nsenter --net="/run/netns/$FNS" "$NAMETAGD" --state-dir "$1" --bpffs "$2" \
		--run-dir /dev/null/run --cgroup-root "$3" --trust-domain "$4" \
		>>"$F/log" 2>&1
}
fail_start "$F/state" "$F/bpffs" "$C4" fail.example
t_check "a first start that fails exits 1" [ $? = 1 ]
t_check "... it got as far as the control socket" grep -q "/dev/null" "$F/log"
t_check "... and leaves no CA behind" [ -z "$(ls -A "$F/state")" ]
t_check "... no bpffs mount" not mountpoint -q "$F/bpffs"
t_check "... no program on the cgroup" not grep -q nt_ <<<"$(bpftool cgroup show "$C4" 2>&1)"
t_check "... and its log says what it undid" grep -q "undid this first start" "$F/log"
if mountpoint -q "$F/bpffs"; then	# the base leaves these behind
	"$NAMETAGD" --cleanup --bpffs "$F/bpffs" >/dev/null 2>&1
	umount "$F/bpffs"
fi
# A restart that fails: what is enforcing stays.
stop_daemon o2
links=$(ls "${D_DIR[o2]}/bpffs/nametag/links" | wc -l)
: >"$F/log"
fail_start "${D_DIR[o2]}/state" "${D_DIR[o2]}/bpffs" "$C2" example.org
t_check "a restart that fails exits 1" [ $? = 1 ]
t_check "... it got as far as the control socket" grep -q "/dev/null" "$F/log"
t_check "... the pins stay ($links links)" \
	[ "$(ls "${D_DIR[o2]}/bpffs/nametag/links" | wc -l)" = "$links" ]
t_check "... the bpffs mount stays" mountpoint -q "${D_DIR[o2]}/bpffs"
t_check "... the CA stays" [ -e "${D_DIR[o2]}/state/ca/ca.json" ]
t_check "... programs still on its cgroup" grep -q nt_ <<<"$(bpftool cgroup show "$C2" 2>&1)"

live_finish
