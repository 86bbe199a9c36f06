#!/usr/bin/env bash
# Observe mode on a live kernel: workloads in a private cgroup subtree
# connect over loopback, and nametag's flows must carry the truth about
# them (uid, gid, exe, its sha256, cgroup, SPIFFE ID) as the kernel saw it
# at connect(), whatever the workload does to look like something else.
# Nothing on the wire changes. Needs root.
set -u
cd "$(dirname "$0")/../.."
. tests/live/lib.sh
skip_unless_root
live_init
write_helpers

N1=$LIVE_CG/n1
N2=$LIVE_CG/n2
mkcg n1/shop/frontend n1/shop/admin n1/shop/sleeper n1/outside \
	n1/batch/worker n2/shop/backend n2/shop/sleeper
PYEXE=$(readlink -f "$PY")
PYSHA=$(sha256sum "$PYEXE" | cut -d' ' -f1)
BASHEXE=$(readlink -f "$(command -v bash)")
BASHSHA=$(sha256sum "$BASHEXE" | cut -d' ' -f1)
CLIENT=("$PY" "$LIVE_DIR/client.py")
ID_FRONTEND=spiffe://example.org/ns/shop/sa/frontend

if ! start_daemon n1 "$N1"; then
	t_fail "nametagd n1 starts"
	live_finish
	exit 1
fi
expect_ok "ns add shop" ntd n1 ns add shop --cgroup "$N1/shop"
expect_ok "ns enable shop observe" ntd n1 -j ns enable shop --mode observe
t_check "shop is in observe" jq -e '.mode == "observe"' <<<"$OUT"
start_server srv 127.0.0.1 0 || t_fail "loopback server starts"
P=$SRV_PORT

# flow_of NAME LOCALPORT: the flow whose source is 127.0.0.1:LOCALPORT.
flow_of() {
	flows "$1" | jq -c --arg src "127.0.0.1:$2" '.[] | select(.src == $src)'
}

# await_flow NAME LOCALPORT: waits for it; leaves it in $FLOW.
await_flow() {
	FLOW=""
	wait_for 5 flow_exists "$1" ".src == \"127.0.0.1:$2\""
	FLOW=$(flow_of "$1" "$2")
}

# client CGROUP [ENV=V...] -- ARGS: client.py in CGROUP; sets CPID, CPORT
# and CREPLY from its output line.
client() {
	local cg=$1 out
	shift
	out=$(run_in_cgroup "$cg" "$@")
	read -r CPID CPORT CREPLY <<<"$out"
}

# --- the truth about a workload running as another uid -------------------------
client "$N1/shop/frontend" setpriv --reuid=12345 --regid=12345 --clear-groups \
	"${CLIENT[@]}" 127.0.0.1 "$P" as-12345
t_check "enrolled client reaches the server untouched" [ "$CREPLY" = srv:as-12345 ]
await_flow n1 "$CPORT"
t_check "flow recorded for the enrolled client" [ -n "$FLOW" ]
jqf() { jq -e "$@" <<<"$FLOW" >/dev/null; }
t_check "flow pid" jqf --argjson p "$CPID" '.caller.pid == $p'
t_check "flow uid 12345" jqf '.caller.uid == 12345'
t_check "flow gid 12345" jqf '.caller.gid == 12345'
t_check "flow exe is the real binary" jqf --arg e "$PYEXE" '.caller.exe == $e'
t_check "flow sha256 equals sha256sum" jqf --arg h "$PYSHA" '.caller.sha256 == $h'
t_check "flow cgroup" jqf --arg c "$(cg_rel "$N1/shop/frontend")" '.caller.cgroup == $c'
t_check "flow SPIFFE ID" jqf --arg id "$ID_FRONTEND" '.src_spiffe_id == $id and .caller.spiffe_id == $id'
t_check "flow namespace and mode" jqf '.namespace == "shop" and .mode == "observe"'
t_check "flow dst" jqf --arg d "127.0.0.1:$P" '.dst == $d and .redirected == false'
t_check "flow verdict: the destination (not served) cannot be named" jqf '.verdict == "unknown" and .reason == "destination identity unknown in observe" and .type == "connect"'
t_check "flow selectors" jqf --arg e "$PYEXE" '.caller.selectors | index("unix:uid:12345") and index("unix:gid:12345") and index("unix:path:" + $e) and index("ns:name:shop")'
fid=$(jq .id <<<"$FLOW")
expect_ok "flow show ID" ntd n1 -j flow show "$fid"
t_check "flow show is the same flow" jq -e --argjson f "$FLOW" 'del(.age_s) == ($f | del(.age_s))' <<<"$OUT"

# --- a workload outside every namespace: not recorded, not touched ----------------
client "$N1/outside" "${CLIENT[@]}" 127.0.0.1 "$P" outside
t_check "non-enrolled client reaches the server" [ "$CREPLY" = srv:outside ]
out_port=$CPORT out_pid=$CPID
# The ring buffer is ordered: once a later enrolled flow shows, an earlier
# event of the outsider would have shown too.
client "$N1/shop/frontend" "${CLIENT[@]}" 127.0.0.1 "$P" barrier
await_flow n1 "$CPORT"
t_check "barrier flow seen" [ -n "$FLOW" ]
t_check "no flow for the non-enrolled client" \
	[ "$(flow_count n1 ".src == \"127.0.0.1:$out_port\" or .caller.pid == $out_pid")" = 0 ]

# --- exec between two connects: the second carries the new exe ---------------------
out=$(run_in_cgroup "$N1/shop/frontend" bash -c '
	echo $$
	exec 3<>/dev/tcp/127.0.0.1/'"$P"'
	echo exec1 >&3; read -r l <&3; echo "$l"; exec 3>&-
	sleep 0.3
	exec "$0" "$1" 127.0.0.1 '"$P"' exec2' "${CLIENT[@]}")
epid=$(sed -n 1p <<<"$out")
t_check "bash connected first" [ "$(sed -n 2p <<<"$out")" = srv:exec1 ]
t_check "python connected second, same pid" [ "$(sed -n 3p <<<"$out" | awk '{ print $1, $3 }')" = "$epid srv:exec2" ]
wait_for 5 eval '[ "$(flow_count n1 ".caller.pid == $epid")" -ge 2 ]'
EF=$(flows n1 | jq -c --argjson p "$epid" '[.[] | select(.caller.pid == $p)] | sort_by(.id)')
t_check "two flows for the exec'ing pid" jq -e 'length == 2' <<<"$EF"
t_check "first flow: bash" jq -e --arg e "$BASHEXE" --arg h "$BASHSHA" '.[0].caller.exe == $e and .[0].caller.sha256 == $h' <<<"$EF"
t_check "second flow: the new exe" jq -e --arg e "$PYEXE" --arg h "$PYSHA" '.[1].caller.exe == $e and .[1].caller.sha256 == $h' <<<"$EF"
t_check "both flows keep the identity of the cgroup" jq -e --arg id "$ID_FRONTEND" 'all(.[]; .src_spiffe_id == $id)' <<<"$EF"

# --- argv and comm rewritten: the identity does not move ---------------------------
client "$N1/shop/frontend" env NT_COMM=sshd bash -c 'exec -a fakename "$@"' x \
	"${CLIENT[@]}" 127.0.0.1 "$P" argv
await_flow n1 "$CPORT"
t_check "argv-rewriting client recorded" [ -n "$FLOW" ]
t_check "its exe is still the binary that ran" jqf --arg e "$PYEXE" --arg h "$PYSHA" '.caller.exe == $e and .caller.sha256 == $h'
t_check "its SPIFFE ID is unchanged" jqf --arg id "$ID_FRONTEND" '.src_spiffe_id == $id'
t_check "no selector from argv or comm" jqf '[.caller.selectors[] | select(test("fakename|sshd"))] | length == 0'

# --- another cgroup bind-mounted over its own, in a private mount ns -------------
client "$N1/shop/frontend" unshare -m --propagation private bash -c '
	mount --bind "$0" "$1" && exec "${@:2}"' "$N1/shop/admin" "$N1/shop/frontend" \
	"${CLIENT[@]}" 127.0.0.1 "$P" bindmount
await_flow n1 "$CPORT"
t_check "bind-mounting client recorded" [ -n "$FLOW" ]
t_check "its cgroup is its own" jqf --arg c "$(cg_rel "$N1/shop/frontend")" '.caller.cgroup == $c'
t_check "its SPIFFE ID is its own, not admin's" jqf --arg id "$ID_FRONTEND" '.src_spiffe_id == $id'
t_check "the bind mount stayed private" [ "$(stat -c %i "$N1/shop/frontend")" != "$(stat -c %i "$N1/shop/admin")" ]

# --- enrolling and disabling while connections run ---------------------------------
expect_ok "ns add batch" ntd n1 ns add batch --cgroup "$N1/batch"
: >"$LIVE_DIR/loop.ok"
spawn_in_cgroup "$N1/batch/worker" bash -c '
	while :; do
		if exec 3<>/dev/tcp/127.0.0.1/'"$P"'; then
			echo loop >&3
			read -r -t 2 l <&3 && echo "$l" >>'"$LIVE_DIR"'/loop.ok
			exec 3>&-
		fi
		sleep 0.05
	done' 2>/dev/null
LOOP=$BG_PID
batch_flows() { flow_count n1 ".caller.pid == $LOOP"; }
loop_ok() { wc -l <"$LIVE_DIR/loop.ok"; }
sleep 1
t_check "loop runs while batch is off" [ "$(loop_ok)" -gt 3 ]
t_check "no flows while batch is off" [ "$(batch_flows)" = 0 ]
expect_ok "enable batch mid-loop" ntd n1 ns enable batch --mode observe
t_check "flows appear once enrolled" wait_for 5 eval '[ "$(batch_flows)" -gt 2 ]'
t_check "enrolled loop flows name batch" \
	[ "$(flow_count n1 ".caller.pid == $LOOP and .src_spiffe_id == \"spiffe://example.org/ns/batch/sa/worker\"")" -gt 0 ]
expect_ok "disable batch mid-loop" ntd n1 ns disable batch
sleep 0.5
c1=$(batch_flows) ok1=$(loop_ok)
sleep 1
t_check "no new flows once disabled" [ "$(batch_flows)" = "$c1" ]
t_check "loop keeps connecting while disabled" [ "$(loop_ok)" -gt "$ok1" ]
t_check "every loop reply came from the server" \
	[ "$(grep -cv '^srv:loop$' "$LIVE_DIR/loop.ok")" = 0 ]
expect_ok "re-enable batch" ntd n1 ns enable batch --mode observe
t_check "flows resume when re-enrolled" wait_for 5 eval '[ "$(batch_flows)" -gt "$c1" ]'
kill "$LOOP" 2>/dev/null

# --- flow watch streams JSON lines -------------------------------------------------
nt_cmd n1
spawn "${NT[@]}" -j flow watch >"$LIVE_DIR/watch.out" 2>&1
WATCH=$BG_PID
sleep 0.5
client "$N1/shop/frontend" "${CLIENT[@]}" 127.0.0.1 "$P" watch1
w1=$CPORT
client "$N1/shop/frontend" "${CLIENT[@]}" 127.0.0.1 "$P" watch2
w2=$CPORT
t_check "flow watch printed two lines" wait_for 5 eval '[ "$(wc -l <"$LIVE_DIR/watch.out")" -ge 2 ]'
t_check "every watched line is a JSON flow" \
	jq -e -s 'length >= 2 and all(.[]; type == "object" and (.id | type) == "number" and .src_spiffe_id != null)' "$LIVE_DIR/watch.out"
t_check "watch saw both connects" jq -e -s --arg a "127.0.0.1:$w1" --arg b "127.0.0.1:$w2" \
	'(map(.src) | index($a)) and (map(.src) | index($b))' "$LIVE_DIR/watch.out"
kill "$WATCH" 2>/dev/null

# --- workload list shows a sleeping workload with its identity and SVID ----------
spawn_in_cgroup "$N1/shop/sleeper" sleep 60
S1=$BG_PID
t_check "sleeper listed" wait_for 5 eval 'ntd n1 -j workload list | jq -e --argjson p $S1 "any(.[]; .pid == \$p)" >/dev/null'
W=$(ntd n1 -j workload list | jq -c --argjson p "$S1" '.[] | select(.pid == $p)')
t_check "sleeper SPIFFE ID" jq -e '.spiffe_id == "spiffe://example.org/ns/shop/sa/sleeper"' <<<"$W"
t_check "sleeper SVID serial" jq -e '.svid.serial | test("^[0-9a-f]+$")' <<<"$W"
t_check "sleeper exe from the kernel's exec record" jq -e --arg e "$(readlink -f "$(command -v sleep)")" '.exe == $e and .evidence == "exec"' <<<"$W"
expect_ok "workload show PID" ntd n1 -j workload show "$S1"
t_check "workload show agrees" jq -e --argjson p "$S1" '.pid == $p and .spiffe_id == "spiffe://example.org/ns/shop/sa/sleeper" and (.svid.not_after | length) > 0' <<<"$OUT"
expect_fail "workload show of a non-enrolled pid" "not a process of an enrolled namespace" \
	ntd n1 workload show $$

# --- two daemons, disjoint cgroup roots, one kernel ---------------------------------
if start_daemon n2 "$N2" node2.example.org; then
	t_ok "second nametagd starts"
else
	t_fail "second nametagd starts"
fi
expect_ok "n2: ns add shop" ntd n2 ns add shop --cgroup "$N2/shop"
expect_ok "n2: ns enable shop" ntd n2 ns enable shop --mode observe
expect_fail "n1 cannot enroll a cgroup of n2" "not strictly below the managed root" \
	ntd n1 ns add other --cgroup "$N2/shop/backend"
client "$N2/shop/backend" "${CLIENT[@]}" 127.0.0.1 "$P" node2
b_port=$CPORT b_pid=$CPID
client "$N1/shop/frontend" "${CLIENT[@]}" 127.0.0.1 "$P" node1
a_port=$CPORT a_pid=$CPID
await_flow n2 "$b_port"
t_check "n2 records its workload" jq -e '.src_spiffe_id == "spiffe://node2.example.org/ns/shop/sa/backend"' <<<"${FLOW:-null}"
await_flow n1 "$a_port"
t_check "n1 records its workload" jq -e --arg id "$ID_FRONTEND" '.src_spiffe_id == $id' <<<"${FLOW:-null}"
t_check "n1 does not see n2's workload" \
	[ "$(flow_count n1 ".src == \"127.0.0.1:$b_port\" or .caller.pid == $b_pid")" = 0 ]
t_check "n2 does not see n1's workload" \
	[ "$(flow_count n2 ".src == \"127.0.0.1:$a_port\" or .caller.pid == $a_pid")" = 0 ]
t_check "n2 saw only its own flows" [ "$(flow_count n2 '.namespace != "shop" or (.src_spiffe_id | startswith("spiffe://node2.example.org/") | not)')" = 0 ]
spawn_in_cgroup "$N2/shop/sleeper" sleep 60
S2=$BG_PID
wait_for 5 eval 'ntd n2 -j workload list | jq -e --argjson p $S2 "any(.[]; .pid == \$p)" >/dev/null'
t_check "n2 lists its sleeper, not n1's" \
	eval 'ntd n2 -j workload list | jq -e --argjson a $S1 --argjson b $S2 "any(.[]; .pid == \$b) and all(.[]; .pid != \$a)" >/dev/null'
t_check "n1 lists its sleeper, not n2's" \
	eval 'ntd n1 -j workload list | jq -e --argjson a $S1 --argjson b $S2 "any(.[]; .pid == \$a) and all(.[]; .pid != \$b)" >/dev/null'

live_finish
