#!/usr/bin/env bash
# The CLI against a live nametagd: every object's help, JSON that parses,
# clear errors for unknown and ambiguous keywords, a control socket that
# serves root only, bad input that changes nothing, and a restart that
# adopts the pinned datapath instead of attaching it twice. Needs root.
set -u
cd "$(dirname "$0")/../.."
. tests/live/lib.sh
skip_unless_root
live_init
write_helpers

C=$LIVE_CG/c1
mkcg c1/shop/frontend c1/shop/sleeper c1/shop/default c1/other
if ! start_daemon c1 "$C"; then
	t_fail "nametagd starts"
	live_finish
	exit 1
fi
nt() { ntd c1 "$@"; }
SOCK=${D_DIR[c1]}/run/nametagd.sock
STATE=${D_DIR[c1]}/state

# jqt FILTER [ARGS]: $OUT satisfies FILTER.
jqt() {
	jq -e "$@" <<<"$OUT" >/dev/null
}

# ctl_raw JSON-LINE: one raw request on the control socket, the reply
# line printed (the daemon's own checks, without the CLI's in front).
ctl_raw() {
	"$PY" -c 'import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n")
print(s.makefile().readline().strip())' "$SOCK" "$1"
}

# --- every object's help, plain and JSON --------------------------------------------
objects=$("$NAMETAG" help 2>&1 | sed -n '/OBJECT :=/,/}/p' | tr -d '{}|' |
	  sed 's/OBJECT :=//' | xargs)
t_check "help lists the objects" [ -n "$objects" ]
for obj in $objects; do
	expect_ok "$obj help" "$NAMETAG" "$obj" help
	t_check "$obj help has a usage line" grep -qE "Usage: nametag (--etcd URL )?$obj" <<<"$ERR$OUT"
	expect_ok "$obj help json" "$NAMETAG" -j "$obj" help
	t_check "$obj help json parses" jqt '.help | type == "string" and length > 0'
done
for obj in ns entry workload flow prog map feature; do
	t_check "help names $obj" grep -qw "$obj" <<<"$objects"
done

# --- unknown and ambiguous keywords ---------------------------------------------------
expect_fail "unknown object" "unknown keyword 'frob'" "$NAMETAG" frob
expect_fail "unknown command" "unknown keyword 'frob'" nt ns frob
expect_fail "ambiguous object f" "'f' is ambiguous: it could be flow, feature" "$NAMETAG" f
expect_fail "ambiguous json" '"error"' "$NAMETAG" -j f
t_check "ambiguous json is one error object" jqt '.error | test("ambiguous")'
expect_fail "ambiguous command" "is ambiguous" nt ns d
expect_fail "unknown command json" '"error"' nt -j ns frob
t_check "unknown command json parses" jqt '.error | test("unknown keyword")'

# --- JSON of every daemon-backed command -----------------------------------------------
expect_ok "ns add json" nt -j ns add shop --cgroup "$C/shop"
t_check "ns add json" jqt --arg c "$C/shop" '.name == "shop" and .cgroup == $c and .mode == "off"'
expect_ok "ns enable json" nt -j ns enable shop --mode observe
t_check "ns enable json" jqt '.mode == "observe"'
expect_ok "ns list json" nt -j ns list
t_check "ns list json" jqt 'type == "array" and length == 1 and .[0].name == "shop"'
expect_ok "ns show json" nt -j ns show shop
t_check "ns show json" jqt '.name == "shop" and (.cgroup_id | type) == "number"'
# "n" is ns and node since fleet mode: ambiguous, and said so.
expect_fail "an ambiguous object prefix is refused" "'n' is ambiguous: it could be ns, node" nt n l
expect_ok "ns prefix match" nt -j ns l
t_check "ns prefix match json" jqt 'length == 1'
expect_ok "entry add json" nt -j entry add spiffe://example.org/billing \
	--selector unix:uid:4242 --selector ns:name:shop
t_check "entry add json" jqt '.spiffe_id == "spiffe://example.org/billing" and (.selectors | length) == 2'
expect_ok "entry list json" nt -j entry list
t_check "entry list json" jqt 'type == "array" and length == 1'

spawn_in_cgroup "$C/shop/sleeper" sleep 60
SLEEPER=$BG_PID
wait_for 5 eval 'nt -j workload list | jq -e --argjson p $SLEEPER "any(.[]; .pid == \$p)" >/dev/null'
expect_ok "workload list json" nt -j workload list
t_check "workload list json" jqt --argjson p "$SLEEPER" 'type == "array" and any(.[]; .pid == $p)'
expect_ok "workload show json" nt -j workload show "$SLEEPER"
t_check "workload show json" jqt '.spiffe_id == "spiffe://example.org/ns/shop/sa/sleeper"'
# The namespace's own cgroup has no {service} segment, so no sub-cgroup
# (not even one named "default") can share its ID.
spawn_in_cgroup "$C/shop" sleep 60
OWN=$BG_PID
spawn_in_cgroup "$C/shop/default" sleep 60
SUBDEF=$BG_PID
wait_for 5 eval 'nt -j workload show $OWN >/dev/null && nt -j workload show $SUBDEF >/dev/null'
expect_ok "workload show: the namespace's own cgroup" nt -j workload show "$OWN"
t_check "own cgroup: the ID without the service segment" jqt '.spiffe_id == "spiffe://example.org/ns/shop/sa"'
expect_ok "workload show: a sub-cgroup named default" nt -j workload show "$SUBDEF"
t_check "sub-cgroup default keeps its segment" jqt '.spiffe_id == "spiffe://example.org/ns/shop/sa/default"'
kill "$OWN" "$SUBDEF" 2>/dev/null

start_server srv 127.0.0.1 0 "${D_NS[c1]}" || t_fail "server starts"
out=$(run_in_cgroup "$C/shop/frontend" ip netns exec "${D_NS[c1]}" "$PY" "$LIVE_DIR/client.py" 127.0.0.1 "$SRV_PORT" cli)
cport=$(awk '{ print $2 }' <<<"$out")
wait_for 5 flow_exists c1 ".src == \"127.0.0.1:$cport\""
expect_ok "flow list json" nt -j flow list
t_check "flow list json" jqt --arg s "127.0.0.1:$cport" 'type == "array" and any(.[]; .src == $s)'
fid=$(jq --arg s "127.0.0.1:$cport" '.[] | select(.src == $s) | .id' <<<"$OUT")
expect_ok "flow show json" nt -j flow show "$fid"
t_check "flow show json" jqt --argjson id "$fid" '.id == $id and .src_spiffe_id == "spiffe://example.org/ns/shop/sa/frontend"'
expect_fail "flow show missing" "no flow" nt -j flow show 999999
t_check "flow show missing json" jqt '.error | type == "string"'
expect_fail "flow show bad id" "is not a flow id" nt flow show abc

expect_ok "prog list json" nt -j prog list
t_check "prog list json: programs with their links" \
	jqt 'type == "array" and length > 0 and ([.[].links[]] | length) >= 8'
expect_ok "map list json" nt -j map list
t_check "map list json" jqt 'type == "array" and any(.[]; .name == "ns_mode")'
expect_ok "map dump json" nt -j map dump ns_mode
t_check "map dump ns_mode holds shop" jqt --argjson id "$(stat -c %i "$C/shop")" \
	'type == "array" and any(.. | objects; .mode? == "observe")'
expect_fail "map dump unknown" "" nt -j map dump nosuchmap
t_check "map dump unknown json" jqt '.error | type == "string"'
expect_ok "feature probe json" nt -j feature probe
t_check "feature probe json" jqt 'type == "object"'
expect_ok "proxy list json" nt -j proxy list
t_check "proxy list json" is_json <<<"$OUT"
expect_ok "proxy status json" nt -j proxy status
t_check "proxy status json: connection counts" \
	jqt '(.connections | type) == "number" and (.idle_mesh_connections | type) == "number"'
expect_ok "proxy status text" nt proxy status
t_check "proxy status text names both counts" grep -q "connections .* idle mesh connections" <<<"$OUT"
expect_fail "proxy status with an argument" "unexpected argument 'x'" nt proxy status x
expect_ok "policy show json" nt -j policy show
t_check "policy show json" is_json <<<"$OUT"

# --- the control socket serves root only -----------------------------------------------
NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups)
t_check "socket is 0600" [ "$(stat -c %a "$SOCK")" = 600 ]
chmod 711 "${D_DIR[c1]}" "${D_DIR[c1]}/run"
expect_fail "nobody: connect refused by the socket's mode" "Permission denied" \
	"${NOBODY[@]}" "$NAMETAG" --run-dir "${D_DIR[c1]}/run" ns list
t_check "nobody: hint says root only" grep -q "root only" <<<"$ERR"
chmod 666 "$SOCK"
expect_fail "nobody: the daemon's peer check refuses" "permission denied" \
	"${NOBODY[@]}" "$NAMETAG" --run-dir "${D_DIR[c1]}/run" ns list
expect_fail "nobody: refused in JSON too" '"error"' \
	"${NOBODY[@]}" "$NAMETAG" -j --run-dir "${D_DIR[c1]}/run" ns list
t_check "nobody: JSON error names the reason" jqt '.error | test("permission denied")'
t_check "daemon logged the refusal" grep -q "refused a non-root peer" "${D_DIR[c1]}/log"
chmod 600 "$SOCK"
chmod 700 "${D_DIR[c1]}/run"
expect_ok "root is still served" nt ns list

# --- bad input is refused clearly and changes nothing -----------------------------------
snapshot() {
	{ nt -j ns list; nt -j entry list; cat "$STATE/namespaces.json" "$STATE/entries.json"; } 2>&1
}
before=$(snapshot)
expect_fail "ns add bad name" "only [a-z0-9-]" nt ns add Bad_Name --cgroup "$C/other"
expect_fail "ns add name ending in -" "only [a-z0-9-]" nt ns add bad- --cgroup "$C/other"
expect_fail "ns add cgroup outside the root" "not strictly below the managed root" \
	nt ns add outside --cgroup "$LIVE_CG"
expect_fail "ns add the cgroup root itself" "not strictly below the managed root" \
	nt ns add root --cgroup "$C"
expect_fail "ns add the machine's cgroup root" "not strictly below the managed root" \
	nt ns add machine --cgroup /
expect_fail "ns add missing cgroup" "No such file" nt ns add ghost --cgroup "$C/nope"
expect_fail "ns add duplicate name" "namespace 'shop' exists" nt ns add shop --cgroup "$C/other"
expect_fail "ns add nested cgroup" "overlaps" nt ns add inner --cgroup "$C/shop/frontend"
expect_fail "ns add without cgroup" "needs --cgroup" nt ns add lonely
expect_fail "ns add name with a slash" "only [a-z0-9-]" nt ns add a/b --cgroup "$C/other"
expect_fail "ns add name .." "only [a-z0-9-]" nt ns add .. --cgroup "$C/other"
expect_fail "ns add empty name" "must be 1 to 63 characters" nt ns add "" --cgroup "$C/other"
expect_fail "ns add 64-character name" "must be 1 to 63 characters" \
	nt ns add "$(printf 'a%.0s' {1..64})" --cgroup "$C/other"
expect_fail "ns add bad name and missing cgroup: the name first" "only [a-z0-9-]" \
	nt ns add ../x --cgroup "$C/nope"
# Rows of NAME|WANT|TEMPLATE: `ns add` refuses TEMPLATE, saying WANT.
while IFS='|' read -r name want tmpl; do
	expect_fail "ns add template $name" "$want" \
		nt ns add tmpl --cgroup "$C/other" --template "$tmpl"
done <<'ROWS'
with an unknown placeholder|{nope}: unknown placeholder|ns/{nope}
with half a placeholder|unknown placeholder|ns/{ns
with a leading slash|template '/ns/{ns}'|/ns/{ns}
with an empty segment|template 'a//{ns}'|a//{ns}
with a dot segment|template 'a/../{ns}'|a/../{ns}
with percent-encoding|percent|a/%2e/{service}
of {service} alone|leaves no path for a process of the namespace's own cgroup|{service}
that is empty|template ''|
ROWS
expect_fail "ns add over-long template" "template too long" \
	nt ns add tmpl --cgroup "$C/other" --template "$(printf 'a%.0s' {1..300})"
expect_fail "ns enable bad mode" "expected observe, permissive or strict" \
	nt ns enable shop --mode enforce
expect_fail "ns enable mode off" "expected observe, permissive or strict" \
	nt ns enable shop --mode off
expect_fail "ns enable unknown namespace" "no namespace 'ghost'" nt ns enable ghost --mode observe
expect_fail "ns disable unknown namespace" "no namespace 'ghost'" nt ns disable ghost
expect_fail "ns del unknown namespace" "no namespace 'ghost'" nt ns del ghost
expect_fail "entry add selector without value" "selector" \
	nt entry add spiffe://example.org/x --selector unix:uid
expect_fail "entry add unknown selector type" "selector" \
	nt entry add spiffe://example.org/x --selector bogus:key:value
expect_fail "entry add without selector" "needs at least one --selector" \
	nt entry add spiffe://example.org/x
expect_fail "entry add uppercase trust domain" "invalid SPIFFE ID" \
	nt entry add spiffe://Example.org/x --selector unix:uid:1
expect_fail "entry add wrong scheme" "invalid SPIFFE ID" \
	nt entry add https://example.org/x --selector unix:uid:1
expect_fail "entry add dot segment" "invalid SPIFFE ID" \
	nt entry add spiffe://example.org/a/../b --selector unix:uid:1
expect_fail "entry add duplicate" "" \
	nt entry add spiffe://example.org/billing --selector unix:uid:4242 --selector ns:name:shop
expect_fail "entry del unknown" "" nt entry del spiffe://example.org/nope
# Rows of NAME|WANT|ID|SELECTOR: `entry add` refuses, saying WANT.
while IFS='|' read -r name want id sel; do
	expect_fail "entry add $name" "$want" nt entry add "$id" --selector "$sel"
done <<ROWS
without a path|has no path|spiffe://example.org|unix:uid:1
with a trailing slash|invalid SPIFFE ID|spiffe://example.org/x/|unix:uid:1
percent-encoded|invalid SPIFFE ID|spiffe://example.org/%41|unix:uid:1
with a query|invalid SPIFFE ID|spiffe://example.org/x?a=1|unix:uid:1
with a port|invalid SPIFFE ID|spiffe://example.org:443/x|unix:uid:1
with an empty ID|invalid SPIFFE ID||unix:uid:1
with an over-long ID|more than 2048|spiffe://example.org/$(printf 'a%.0s' {1..2100})|unix:uid:1
of another trust domain|outside this node's trust domain example.org|spiffe://other.org/x|unix:uid:1
uid with a leading zero|not a decimal number|spiffe://example.org/x|unix:uid:01
uid out of range|out of range|spiffe://example.org/x|unix:uid:4294967296
uppercase sha256|64 lowercase hex digits|spiffe://example.org/x|unix:sha256:ABC
relative cgroup path|not an absolute path|spiffe://example.org/x|cgroup:path:shop/web
empty key|empty key|spiffe://example.org/x|unix::1
empty type|empty type|spiffe://example.org/x|:uid:1
control byte|control or non-ASCII byte|spiffe://example.org/x|unix:user:a$(printf '\t')b
ROWS
expect_fail "entry add one selector twice" "repeats selectors[0]" \
	nt entry add spiffe://example.org/x --selector unix:uid:1 --selector unix:uid:1
expect_fail "entry add one key with two values" "a workload has only one unix:uid" \
	nt entry add spiffe://example.org/x --selector unix:uid:1 --selector unix:uid:2
sels=()
for i in $(seq 65); do sels+=(--selector "cgroup:path:$(cg_rel "$C")/s$i"); done
expect_fail "entry add 65 selectors" "too many selectors" nt entry add spiffe://example.org/x "${sels[@]}"
# The daemon checks on its own, whatever the client.
reply=$(ctl_raw '{"cmd":"entry.add","spiffe_id":"spiffe://Example.org/x","selectors":["unix:uid:1"]}')
t_check "daemon refuses a bad SPIFFE ID" jq -e '.error | type == "string"' <<<"$reply"
reply=$(ctl_raw '{"cmd":"entry.add","spiffe_id":"spiffe://example.org/x","selectors":["unix:uid"]}')
t_check "daemon refuses a bad selector" jq -e '.error | type == "string"' <<<"$reply"
reply=$(ctl_raw '{"cmd":"ns.add","name":"../etc","cgroup":"'"$C/other"'"}')
t_check "daemon refuses a bad namespace name" jq -e '.error | type == "string"' <<<"$reply"
# Rows of NAME|ERROR-REGEX|REQUEST: the daemon refuses REQUEST on its
# own, whatever the client, with an error matching the regex.
while IFS='|' read -r name want req; do
	reply=$(ctl_raw "$req")
	t_check "daemon refuses $name" jq -e --arg w "$want" '.error | test($w)' <<<"$reply"
done <<ROWS
a non-string template|"template" must be a string|{"cmd":"ns.add","name":"raw","cgroup":"$C/other","template":7}
an unknown placeholder|unknown placeholder|{"cmd":"ns.add","name":"raw","cgroup":"$C/other","template":"ns/{nope}"}
an empty namespace name|1 to 63|{"cmd":"ns.add","name":"","cgroup":"$C/other"}
a namespace name with a slash|only|{"cmd":"ns.add","name":"a/b","cgroup":"$C/other"}
an entry without a path|no path|{"cmd":"entry.add","spiffe_id":"spiffe://example.org","selectors":["unix:uid:1"]}
an entry of another trust domain|trust domain|{"cmd":"entry.add","spiffe_id":"spiffe://other.org/x","selectors":["unix:uid:1"]}
selectors that are not an array|array|{"cmd":"entry.add","spiffe_id":"spiffe://example.org/x","selectors":"unix:uid:1"}
a selector that is not a string|strings|{"cmd":"entry.add","spiffe_id":"spiffe://example.org/x","selectors":[1]}
an entry without selectors|selector|{"cmd":"entry.add","spiffe_id":"spiffe://example.org/x","selectors":[]}
a non-string SPIFFE ID|spiffe_id|{"cmd":"entry.add","spiffe_id":7,"selectors":["unix:uid:1"]}
ROWS
reply=$(ctl_raw '{"cmd":"ns.enable","name":"shop","mode":7}')
t_check "daemon refuses a non-string mode" jq -e '.error | type == "string"' <<<"$reply"
reply=$(ctl_raw '{"cmd":"nosuch"}')
t_check "daemon refuses an unknown command" jq -e '.error | test("unknown")' <<<"$reply"
reply=$(ctl_raw '{"cmd":"ns.list",')
t_check "daemon refuses malformed JSON" jq -e '.error | type == "string"' <<<"$reply"
reply=$(ctl_raw '{"cmd":"proxy.set","outbound4":"127.0.0.1:15001"}')
t_check "daemon refuses proxy.set without a netns fd" jq -e '.error | test("netns fd")' <<<"$reply"
t_check "bad input changed nothing" [ "$(snapshot)" = "$before" ]
expect_ok "daemon still answers" nt -j ns show shop
t_check "shop still in observe" jqt '.mode == "observe"'

# --- nametagd never enrolls the root, its own cgroup or an ancestor of it --------------
# A second daemon runs inside the subtree it manages, as it would on a node
# whose cgroup root is managed: enrolling its own cgroup or an ancestor would
# put its proxy sockets under enforcement.
C2=$LIVE_CG/c2
mkcg c2/sys/nametagd c2/apps/web c2/apps/ops c2/box/inner
if DAEMON_CGROUP=$C2/sys/nametagd start_daemon c2 "$C2"; then
	n2() { ntd c2 "$@"; }
	expect_fail "ns add the daemon's own cgroup" "holds nametagd itself" \
		n2 ns add self --cgroup "$C2/sys/nametagd"
	expect_fail "ns add an ancestor of the daemon's cgroup" "holds nametagd itself" \
		n2 ns add sys --cgroup "$C2/sys"
	expect_fail "ns add the daemon's cgroup by another spelling" "holds nametagd itself" \
		n2 ns add spelt --cgroup "$(cg_rel "$C2")/apps/../sys//nametagd/"
	expect_fail "ns add the managed root" "not strictly below the managed root" \
		n2 ns add root --cgroup "$C2"
	expect_ok "ns add a sibling of the daemon's cgroup" n2 ns add apps --cgroup "$C2/apps"
	expect_ok "ns enable it" n2 ns enable apps --mode observe
	# Root on the node moves the daemon into the namespace: the next enable
	# finds it there.
	echo "${D_PID[c2]}" >"$C2/apps/ops/cgroup.procs"
	expect_fail "ns enable a namespace the daemon now sits in" "holds nametagd itself" \
		n2 ns enable apps --mode strict
	expect_ok "ns disable it still works" n2 -j ns disable apps
	echo "${D_PID[c2]}" >"$C2/sys/nametagd/cgroup.procs"
	expect_ok "ns enable once the daemon has left" n2 ns enable apps --mode observe

	# Restarted inside the enrolled namespace: the saved namespace is not
	# put back into the kernel, and the log says why.
	stop_daemon c2
	D_RUNCG[c2]=$C2/apps/ops
	t_check "daemon restarts inside its enrolled namespace" launch_daemon c2
	expect_ok "ns show after that restart" n2 -j ns show apps
	t_check "the namespace is off, not enforced" jqt '.mode == "off"'
	expect_ok "map dump ns_mode" n2 -j map dump ns_mode
	t_check "the kernel does not hold it" jqt 'all(.. | objects; .mode? != "observe")'
	t_check "the log names the refusal" grep -q "namespace apps: not enforced: .*holds nametagd itself" \
		"${D_DIR[c2]}/log"

	# In a cgroup namespace /proc/self/cgroup names another tree: the daemon
	# cannot find itself, so it enrolls nothing rather than guess.
	stop_daemon c2
	D_RUNCG[c2]=$C2/box/inner
	D_CGNS[c2]=1
	t_check "daemon restarts in a cgroup namespace" launch_daemon c2
	expect_fail "ns add when the daemon cannot find its own cgroup" "cannot find nametagd's own cgroup" \
		n2 ns add box --cgroup "$C2/box"
	stop_daemon c2
else
	t_fail "second nametagd starts"
fi

# --- restart adopts the pinned datapath -----------------------------------------------
# Cgroup and netns links are adopted (same link, new program swapped in);
# tracing links cannot swap programs, so they are replaced one for one.
link_ids() {
	nt -j prog list |
		jq -c '[.[].links[] | select(.type == "cgroup" or .type == "netns") | .id] | sort'
}
cg_attach() {
	local out
	out=$(bpftool -j cgroup show "$C")
	jq -c '[.[].attach_type] | sort' <<<"${out:-[]}"
}
ids_before=$(link_ids)
cg_before=$(cg_attach)
t_check "eight cgroup programs attached, each type once (inbound SYNs too)" \
	jq -e 'length == 8 and (unique | length) == 8 and index("cgroup_inet_ingress") != null' <<<"$cg_before" ||
	echo "    $cg_before"
stop_daemon c1
t_check "SIGTERM: clean exit" [ $? = 0 ]
t_check "pins stay while the daemon is down" [ "$(link_ids)" = "$ids_before" ]
t_check "programs stay attached while the daemon is down" [ "$(cg_attach)" = "$cg_before" ]
t_check "control socket removed on exit" not test -e "$SOCK"
t_check "daemon restarts" launch_daemon c1
expect_ok "ns list after restart" nt -j ns list
t_check "namespace still enrolled" jqt 'length == 1 and .[0].name == "shop" and .[0].mode == "observe"'
expect_ok "entry list after restart" nt -j entry list
t_check "entry kept" jqt 'length == 1'
t_check "same link ids after restart" [ "$(link_ids)" = "$ids_before" ]
t_check "no program attached twice" [ "$(cg_attach)" = "$cg_before" ]
expect_ok "prog list after restart" nt -j prog list
t_check "one tracepoint link each for exec, fork, exit, cgroup attach" \
	jqt '[.[].links[] | select(.type == "raw_tracepoint" or .type == "tracing") | .pinned | split("/")[-1]] | sort == ["cgroup_attach", "exec", "exit", "fork"]'
# connect_unix (the Workload API's caller evidence) where the kernel has
# the hook (6.7+; `feature probe`).
cg_links='"connect4", "connect6", "egress", "ingress", "sendmsg4", "sendmsg6", "sock_create", "sockops"'
"$NAMETAG" feature probe 2>/dev/null | grep -q "cgroup_unix_connect program type is available" &&
	cg_links='"connect4", "connect6", "connect_unix", "egress", "ingress", "sendmsg4", "sendmsg6", "sock_create", "sockops"'
t_check "cgroup links kept: one per hook" \
	jqt "[.[].links[] | select(.type == \"cgroup\") | .pinned | split(\"/\")[-1]] | sort == [$cg_links]"
out=$(run_in_cgroup "$C/shop/frontend" ip netns exec "${D_NS[c1]}" "$PY" "$LIVE_DIR/client.py" 127.0.0.1 "$SRV_PORT" after)
cport=$(awk '{ print $2 }' <<<"$out")
t_check "flows recorded after restart" wait_for 5 flow_exists c1 ".src == \"127.0.0.1:$cport\""

# --- cleanup detaches everything ---------------------------------------------------------
stop_daemon c1
expect_ok "nametagd --cleanup" "$NAMETAGD" --cleanup --bpffs "${D_DIR[c1]}/bpffs"
t_check "no program left on the cgroup" [ "$(cg_attach)" = "[]" ]
t_check "no pin left" not test -e "${D_DIR[c1]}/bpffs/nametag"

live_finish
