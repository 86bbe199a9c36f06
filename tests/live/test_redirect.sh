#!/usr/bin/env bash
# The redirect plumbing on a live kernel, with nt_testproxy standing in for
# the node proxy: in strict mode an enrolled workload's connect() lands on
# the proxy's outbound listener, and the proxy recovers the original
# destination and the caller's evidence by 4-tuple; no proxy means no
# connection; a mark never exempts a workload (the proxy is recognised by
# its cgroup, which is never enrolled); inbound
# connections to an enrolled listener are steered by sk_lookup to the
# proxy's inbound listener, and never reach the workload in plaintext when
# strict mode has no proxy. All traffic stays inside private network
# namespaces. Needs root.
set -u
cd "$(dirname "$0")/../.."
. tests/live/lib.sh
skip_unless_root
live_init
write_helpers

R=$LIVE_CG/r1
mkcg r1/app/client r1/app/server
PYEXE=$(readlink -f "$PY")
CLIENT=("$PY" "$LIVE_DIR/client.py")

# nt_testproxy stands in for the node proxy here: the daemon must not run
# its own in the namespaces the test registers.
if ! DAEMON_ARGS=--manual-netns start_daemon r1 "$R"; then
	t_fail "nametagd starts"
	live_finish
	exit 1
fi
nt_cmd r1
PROXY_ARGS=(--run-dir "${D_DIR[r1]}/run" --bpffs "${D_DIR[r1]}/bpffs")
expect_ok "ns add app" ntd r1 ns add app --cgroup "$R/app"
expect_ok "ns enable app strict" ntd r1 ns enable app --mode strict

# start_proxy NAME ARGS...: nt_testproxy in the background, output in
# $LIVE_DIR/NAME.out; waits for "ready". $PROXY_PID is its pid.
start_proxy() {
	local name=$1 out=$LIVE_DIR/$1.out
	shift
	spawn "$NT_TESTPROXY" "${PROXY_ARGS[@]}" "$@" >"$out" 2>"$LIVE_DIR/$name.err"
	PROXY_PID=$BG_PID
	if ! wait_for 10 grep -q '^ready$' "$out"; then
		cat "$LIVE_DIR/$name.err"
		return 1
	fi
}

# proxy_line NAME FILTER: the proxy's JSON line matching a select() filter.
proxy_line() {
	grep '^{' "$LIVE_DIR/$1.out" | jq -c "select($2)" | tail -n 1
}

# client_in CGROUP NETNS [ENV=V...] -- CMD...: client run in CGROUP and
# NETNS; sets CPID, CPORT (or ERR) and CREPLY (or the errno).
client_in() {
	local cg=$1 ns=$2 out
	shift 2
	if [ -n "$cg" ]; then
		out=$(run_in_cgroup "$cg" ip netns exec "$ns" "$@")
	else
		out=$(ip netns exec "$ns" "$@")
	fi
	read -r CPID CPORT CREPLY <<<"$out"
}

# --- outbound: connect() lands on the proxy, evidence by 4-tuple -------------------
netns_add OUTNS out
start_server real 127.0.0.1 8080 "$OUTNS" || t_fail "real server starts"
if start_proxy outproxy --netns "/run/netns/$OUTNS" --outbound 127.0.0.1:15001 \
	--outbound6 '[::1]:15001'; then
	t_ok "test proxy registered for the netns"
else
	t_fail "test proxy registered for the netns"
fi
OUTPROXY=$PROXY_PID
client_in "$R/app/client" "$OUTNS" setpriv --reuid=12345 --regid=12345 --clear-groups \
	"${CLIENT[@]}" 127.0.0.1 8080 redirected
t_check "enrolled connect landed on the proxy" [ "$CREPLY" = proxy:redirected ]
t_check "the real listener got nothing" not grep -q redirected "$LIVE_DIR/real.log"
wait_for 5 test -n "$(proxy_line outproxy '.data == "redirected"')"
L=$(proxy_line outproxy '.data == "redirected"')
jql() { jq -e "$@" <<<"${L:-null}" >/dev/null; }
ino=$(stat -c %i "$PYEXE")
dev=$(( ($(stat -c %Hd "$PYEXE") << 20) | $(stat -c %Ld "$PYEXE") ))
t_check "proxy saw the outbound listener and the caller's port" \
	jql --arg p "127.0.0.1:$CPORT" '.listener == "outbound" and .peer == $p and .local == "127.0.0.1:15001"'
t_check "evidence found by 4-tuple" jql '.evidence != null'
t_check "evidence: original destination" jql '.evidence.orig_dst == "127.0.0.1:8080"'
t_check "evidence: caller tgid" jql --argjson p "$CPID" '.evidence.tgid == $p'
t_check "evidence: caller uid/gid" jql '.evidence.uid == 12345 and .evidence.gid == 12345'
t_check "evidence: exe inode and device" jql --argjson i "$ino" --argjson d "$dev" \
	'.evidence.exe_ino == $i and .evidence.exe_dev == $d'
t_check "evidence: cgroup id" jql --argjson c "$(stat -c %i "$R/app/client")" \
	'.evidence.cgroup_id == $c and .evidence.ns_cgroup_id == '"$(stat -c %i "$R/app")"
t_check "evidence: netns" jql --argjson n "$(stat -L -c %i "/run/netns/$OUTNS")" '.evidence.netns_ino == $n'
t_check "evidence: redirected flag, strict mode" jql '(.evidence.flags % 2) == 1 and .evidence.mode == 3'

# connect6: IPv6 goes to the IPv6 listener; a dual-stack (AF_INET6) socket
# dialling an IPv4-mapped address goes to the IPv4 one. Either way the
# proxy must find the caller's evidence by the tuple it sees.
client_in "$R/app/client" "$OUTNS" "${CLIENT[@]}" ::1 8080 v6
t_check "IPv6 connect landed on the proxy" [ "$CREPLY" = proxy:v6 ]
wait_for 5 test -n "$(proxy_line outproxy '.data == "v6"')"
L=$(proxy_line outproxy '.data == "v6"')
t_check "IPv6: the proxy's IPv6 listener" jql --arg p "[::1]:$CPORT" '.peer == $p and .local == "[::1]:15001"'
t_check "IPv6: evidence with the original destination" \
	jql --argjson p "$CPID" '.evidence.orig_dst == "[::1]:8080" and .evidence.tgid == $p'
client_in "$R/app/client" "$OUTNS" "${CLIENT[@]}" ::ffff:127.0.0.1 8080 dual
t_check "dual-stack connect landed on the proxy" [ "$CREPLY" = proxy:dual ]
wait_for 5 test -n "$(proxy_line outproxy '.data == "dual"')"
L=$(proxy_line outproxy '.data == "dual"')
t_check "dual-stack: the proxy's IPv4 listener" jql '.local == "127.0.0.1:15001"'
t_check "dual-stack: evidence found by the tuple the proxy sees" \
	jql --argjson p "$CPID" '.evidence.orig_dst == "127.0.0.1:8080" and .evidence.tgid == $p'

# --- a mark exempts nothing ----------------------------------------------------------
# Root in a pod can set any SO_MARK; the mark the proxy once used (0x6e74)
# must not let a workload's connection leave unredirected.
client_in "$R/app/client" "$OUTNS" env NT_MARK=1 "${CLIENT[@]}" 127.0.0.1 8080 marked
t_check "a socket with the proxy's old mark is still redirected" [ "$CREPLY" = proxy:marked ]
client_in "$R/app/client" "$OUTNS" "${CLIENT[@]}" 127.0.0.1 8080 unmarked
t_check "unmarked one goes to the proxy too" [ "$CREPLY" = proxy:unmarked ]
# An observe-mode connect reaches the real listener and is recorded.
mkcg r1/obs/svc
expect_ok "ns add obs" ntd r1 ns add obs --cgroup "$R/obs"
expect_ok "ns enable obs observe" ntd r1 ns enable obs --mode observe
client_in "$R/obs/svc" "$OUTNS" "${CLIENT[@]}" 127.0.0.1 8080 barrier
t_check "observe-mode connect reaches the real listener" [ "$CREPLY" = srv:barrier ]
t_check "observe flow recorded" wait_for 5 flow_exists r1 ".src == \"127.0.0.1:$CPORT\""
t_check "the proxy saw the marked socket" [ -n "$(proxy_line outproxy '.data == "marked"')" ]

# --- a workload outside the namespace is not redirected ------------------------------
mkcg r1/plain
client_in "$R/plain" "$OUTNS" "${CLIENT[@]}" 127.0.0.1 8080 plain
t_check "non-enrolled connect reaches the real listener" [ "$CREPLY" = srv:plain ]

# --- strict mode without a proxy: refused, recorded ------------------------------------
netns_add BARENS bare
client_in "$R/app/client" "$BARENS" "${CLIENT[@]}" 127.0.0.1 8080 noproxy
t_check "strict, no proxy: connect fails with EPERM" [ "$CPORT ${CREPLY%% *}" = "ERR 1" ]
refpid=$CPID
t_check "a refused flow is recorded" wait_for 5 flow_exists r1 ".type == \"refused\" and .caller.pid == $refpid"
t_check "refused flow: destination and verdict" \
	eval 'flows r1 | jq -e --argjson p $refpid "any(.[]; .type == \"refused\" and .caller.pid == \$p and .dst == \"127.0.0.1:8080\" and .verdict == \"deny\" and .redirected == false)" >/dev/null'
client_in "$R/app/client" "$BARENS" "${CLIENT[@]}" ::1 8080 noproxy6
t_check "strict, no proxy: IPv6 connect fails with EPERM" [ "$CPORT ${CREPLY%% *}" = "ERR 1" ]
client_in "$R/plain" "$BARENS" "${CLIENT[@]}" 127.0.0.1 8080 plain
t_check "non-enrolled connect there is untouched (ECONNREFUSED)" [ "$CPORT ${CREPLY%% *}" = "ERR 111" ]
kill "$OUTPROXY" 2>/dev/null

# --- inbound: sk_lookup steers to the proxy's inbound listener ---------------------
netns_add ANS a
netns_add BNS b
net=$((RANDOM % 200 + 20))
ADDR_A=10.$net.0.1 ADDR_B=10.$net.0.2
veth_pair "$ANS" "$ADDR_A/24" "$BNS" "$ADDR_B/24" || t_fail "veth pair"
start_server wl 0.0.0.0 8080 "$BNS" "$R/app/server" || t_fail "workload server starts"
WLPID=$SRV_PID
t_check "workload listener recorded with its own evidence" \
	wait_for 5 eval 'ntd r1 -j map dump listeners | jq -e --argjson p $WLPID "[.[].entries[] | select(.kind != \"socket\" and .evidence.tgid == \$p and (.address | endswith(\":8080\")))] | length > 0" >/dev/null'
# Strict mode never accepts plaintext, also in a netns whose proxy has not
# registered yet (outbound there fails closed, see above).
client_in "" "$ANS" "${CLIENT[@]}" "$ADDR_B" 8080 noproxy-yet
t_check "strict, netns without a proxy yet: inbound refused" [ "$CPORT" = ERR ]
t_check "strict, netns without a proxy yet: no plaintext reached the workload" \
	not grep -q noproxy-yet "$LIVE_DIR/wl.log"

if start_proxy inproxy --netns "/run/netns/$BNS" --outbound 127.0.0.1:15001 \
	--inbound-port 15006 --count 1; then
	t_ok "test proxy registered an inbound listener"
else
	t_fail "test proxy registered an inbound listener"
fi
INPROXY=$PROXY_PID
client_in "" "$ANS" "${CLIENT[@]}" "$ADDR_B" 8080 inbound
t_check "inbound connect landed on the proxy" [ "$CREPLY" = proxy:inbound ]
t_check "the workload got no plaintext" not grep -q inbound "$LIVE_DIR/wl.log"
wait_for 5 test -n "$(proxy_line inproxy '.data == "inbound"')"
L=$(proxy_line inproxy '.data == "inbound"')
t_check "proxy: inbound listener, getsockname keeps port 8080" \
	jql --arg l "$ADDR_B:8080" '.listener == "inbound" and .local == $l and .local_port == 8080'
t_check "proxy: the client's address" jql --arg p "$ADDR_A:$CPORT" '.peer == $p'
wait "$INPROXY" 2>/dev/null
t_check "test proxy exited after its one connection" not kill -0 "$INPROXY" 2>/dev/null

# Steering follows the namespace's mode now, not the mode at the time the
# workload called listen().
expect_ok "ns enable app permissive" ntd r1 ns enable app --mode permissive
client_in "" "$ANS" "${CLIENT[@]}" "$ADDR_B" 8080 permissive
t_check "permissive, no inbound proxy: reaches the workload directly" [ "$CREPLY" = srv:permissive ]
expect_ok "ns disable app" ntd r1 ns disable app
client_in "" "$ANS" "${CLIENT[@]}" "$ADDR_B" 8080 disabled
t_check "disabled namespace: reaches the workload directly" [ "$CREPLY" = srv:disabled ]
expect_ok "ns enable app strict again" ntd r1 ns enable app --mode strict
client_in "" "$ANS" "${CLIENT[@]}" "$ADDR_B" 8080 gone
t_check "strict, proxy gone: the inbound connect fails" [ "$CPORT" = ERR ]
t_check "strict, proxy gone: no plaintext reached the workload" not grep -q gone "$LIVE_DIR/wl.log"

# A workload that listens again after the mode change (fresh evidence).
kill "$WLPID" 2>/dev/null
wait "$WLPID" 2>/dev/null
expect_ok "ns enable app permissive (restart listener)" ntd r1 ns enable app --mode permissive
start_server wl2 0.0.0.0 8080 "$BNS" "$R/app/server" || t_fail "workload restarts"
client_in "" "$ANS" "${CLIENT[@]}" "$ADDR_B" 8080 fresh
t_check "permissive, fresh listener, no proxy: reaches the workload" [ "$CREPLY" = srv:fresh ]

live_finish
