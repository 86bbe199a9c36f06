#!/usr/bin/env bash
# Evidence survives exec and exit (issue #11, item 3): the identity of a
# connection is the binary the kernel ran when connect() was called, as
# the kernel recorded it at exec, whatever the process does afterwards.
#
#   short    100 short-lived clients identified by unix:path, and 100 by
#            unix:sha256, each gone before nametagd looks at its
#            connection (the daemon is stopped while they run): every one
#            reaches the server in strict mode, and its flow names the
#            entry's ID
#   exec     a process connects, execs another binary and connects again:
#            each connection is recorded with its own binary (exe, sha256,
#            ID), though /proc shows only the second by then
#   modified a binary rewritten after its process connected and exited
#            gets no unix:sha256, and the flow says why
#
# Two pods (network namespaces joined by a veth pair), one nametagd, the
# namespace "shop" strict. Everything is private and removed at the end,
# which is checked. Needs root.
set -u
cd "$(dirname "$0")/../.."
. tests/live/lib.sh
MESH_SVID_TTL=10m
. tests/live/lib_mesh.sh
skip_unless_root
skip_unless_tools jq bash sha256sum
live_init
write_helpers
write_mesh_helpers
N=$MESH_NODE
ROUNDS=${EXEC_ROUNDS:-100}

mesh_up_strict "8080"
mkcg "$MESH_NODE/shop/mallory"
CG_MALLORY=$MESH_CG/shop/mallory
ID_MALLORY=spiffe://$MESH_TD/ns/shop/sa/mallory
ID_PAYMENTS=spiffe://$MESH_TD/ns/shop/sa/payments
ID_BILLING=spiffe://$MESH_TD/ns/shop/sa/billing
cat >"$POLICY" <<EOF
{"namespaces": {"shop": {"rules": [
  {"action": "allow", "from": ["$ID_FRONTEND", "$ID_PAYMENTS", "$ID_BILLING"],
   "to": ["$ID_CATALOGUE"], "ports": [8080]}]}}}
EOF
expect_ok "policy: frontend, payments and billing may call catalogue" ntd $N policy load "$POLICY"
start_server cat "$MESH_B" 8080 "$NSB" "$CG_CATALOGUE" ||
	t_fail "catalogue listens on $MESH_B:8080"
# The short-lived clients below run while nametagd is stopped (SIGSTOP), so
# pod A must be served before, as a pod with a long-lived process is: an
# enrolled exec there makes nametagd serve it, and its netns file keeps it
# served (docs/datapath.md). A strict connect in a pod not served yet is
# held until nametagd serves it, which a stopped nametagd never does.
in_pod "$CG_FRONTEND" "$NSA" true
t_check "pod A is served before nametagd is stopped" wait_for 10 eval \
	"ntd $N -j proxy list | jq -e --argjson i $(stat -L -c %i "/run/netns/$NSA") 'any(.[]; .netns == \$i)' >/dev/null"

# Copies of bash with bytes of their own appended (they still run, each
# with a hash of its own): bypath is payments by its path (in intruder's
# cgroup), bysha billing by its sha256 (in mallory's); other is nobody's.
BIN=$LIVE_DIR/bin
mkdir -p "$BIN"
for b in bypath bysha other modified; do
	{ cat "$(readlink -f "$(command -v bash)")"; head -c 16 /dev/urandom; } >"$BIN/$b"
	chmod 755 "$BIN/$b"
done
chmod 755 "$BIN"
expect_ok "entry: payments is bypath's path, in intruder's cgroup" \
	ntd $N entry add "$ID_PAYMENTS" --selector "unix:path:$BIN/bypath" \
	--selector "cgroup:path:$(cg_rel "$CG_INTRUDER")"
expect_ok "entry: billing is bysha's sha256, in mallory's cgroup" \
	ntd $N entry add "$ID_BILLING" --selector "unix:sha256:$(sha256sum "$BIN/bysha" | cut -d' ' -f1)" \
	--selector "cgroup:path:$(cg_rel "$CG_MALLORY")"
expect_ok "entry: billing-mod is modified's sha256, in mallory's cgroup" \
	ntd $N entry add "spiffe://$MESH_TD/billing-mod" \
	--selector "unix:sha256:$(sha256sum "$BIN/modified" | cut -d' ' -f1)" \
	--selector "cgroup:path:$(cg_rel "$CG_MALLORY")"

# ONESHOT: what each short-lived client runs: connect, send one line,
# exit at once (bash closes the socket on exit). $1 is the line.
ONESHOT='exec 3<>/dev/tcp/'$MESH_B'/8080 && echo "$1" >&3'
ONESHOT4='exec 4<>/dev/tcp/'$MESH_B'/8080 && echo "$1" >&4'

# got SECRET...: how many of the SECRETs catalogue received.
got() {
	local s n=0
	for s in "$@"; do
		grep -qxF "$s" "$LIVE_DIR/cat.log" 2>/dev/null && n=$((n + 1))
	done
	echo $n
}

# all_got N SECRET...: catalogue received all N.
all_got() {
	local want=$1
	shift
	[ "$(got "$@")" = "$want" ]
}

# ---- short-lived clients -------------------------------------------------------------
# short_case NAME CGROUP BINARY WANT_ID: ROUNDS clients run BINARY from
# CGROUP in pod A while nametagd is stopped, so every one has exited before
# its connection is attested; then the daemon goes on.
short_case() {
	local name=$1 cg=$2 bin=$3 want=$4 i id0 n
	local -a secrets=()
	id0=$(last_flow_id)
	kill -STOP "${D_PID[$N]}"
	for ((i = 0; i < ROUNDS; i++)); do
		secrets+=("short-$name-$i-$TAG")
		in_pod "$cg" "$NSA" "$bin" -c "$ONESHOT" _ "short-$name-$i-$TAG" 2>/dev/null
	done
	kill -CONT "${D_PID[$N]}"
	wait_for 60 all_got "$ROUNDS" "${secrets[@]}"
	n=$(got "${secrets[@]}")
	t_check "short $name: $n of $ROUNDS short-lived clients reached catalogue in strict" \
		[ "$n" = "$ROUNDS" ]
	wait_for 10 eval '[ "$(flows_since_count "$id0" ".type == \"outbound\" and .state != \"open\"")" -ge "$ROUNDS" ]'
	n=$(flows_since_count "$id0" ".type == \"outbound\" and .src_spiffe_id == \"$want\"")
	t_check "short $name: $n of $ROUNDS flows name ${want##*/}" [ "$n" = "$ROUNDS" ]
	FLOW=$(flows_since "$id0" '.type == "outbound"' | jq -c 'last')
	t_flow "short $name: the caller had exited, its binary is the kernel's record" "
		.caller.exe == \"$bin\" and (.caller.sha256 | length) == 64"
}
short_case "by unix:path" "$CG_INTRUDER" "$BIN/bypath" "$ID_PAYMENTS"
short_case "by unix:sha256" "$CG_MALLORY" "$BIN/bysha" "$ID_BILLING"

# ---- exec between two connections -----------------------------------------------------
# FROM connects and sends, execs TO, which connects and sends; the daemon
# is stopped meanwhile, so both are attested after the exec (and exit).
exec_case() {
	local name=$1 cg=$2 from=$3 to=$4 want1=$5 want2=$6 id0 s1 s2 f1 f2
	s1=exec1-$RANDOM-$TAG
	s2=exec2-$RANDOM-$TAG
	id0=$(last_flow_id)
	kill -STOP "${D_PID[$N]}"
	in_pod "$cg" "$NSA" "$from" -c "$ONESHOT"' && exec "$2" -c "$3" _ "$4"' \
		_ "$s1" "$to" "$ONESHOT4" "$s2" 2>/dev/null
	kill -CONT "${D_PID[$N]}"
	wait_for 10 eval '[ "$(flows_since_count "$id0" ".type == \"outbound\" and .state != \"open\"")" -ge 2 ]'
	f1=$(flows_since "$id0" '.type == "outbound"' | jq -c 'sort_by(.id) | .[0]')
	f2=$(flows_since "$id0" '.type == "outbound"' | jq -c 'sort_by(.id) | .[1]')
	FLOW=$f1
	t_flow "exec $name: the first connection is ${from##*/}'s" "
		.caller.exe == \"$from\" and (.caller.sha256 | length) == 64 and .src_spiffe_id == \"$want1\""
	FLOW=$f2
	t_flow "exec $name: the second connection is ${to##*/}'s" "
		.caller.exe == \"$to\" and (.caller.sha256 | length) == 64 and .src_spiffe_id == \"$want2\""
	t_check "exec $name: one process made both" jq -e -n --argjson a "$f1" --argjson b "$f2" \
		'$a.caller.pid == $b.caller.pid'
	wait_for 10 all_got 1 "$([ "$want1" = "$ID_PAYMENTS" ] && echo "$s1" || echo "$s2")"
	t_check "exec $name: catalogue got only what the policy allows" eval \
		'[ "$(got "$s1")" = "$([ "$want1" = "$ID_PAYMENTS" ] && echo 1 || echo 0)" ] &&
		 [ "$(got "$s2")" = "$([ "$want2" = "$ID_PAYMENTS" ] && echo 1 || echo 0)" ]'
}
exec_case "bypath then other" "$CG_INTRUDER" "$BIN/bypath" "$BIN/other" "$ID_PAYMENTS" "$ID_INTRUDER"
exec_case "other then bypath" "$CG_INTRUDER" "$BIN/other" "$BIN/bypath" "$ID_INTRUDER" "$ID_PAYMENTS"

# ---- a binary rewritten after exec ------------------------------------------------------
# modified connects and exits while the daemon is stopped; then its file
# is rewritten in place (same inode, new contents): what ran can no longer
# be hashed, so no unix:sha256 (nor unix:path: the process is gone, and an
# inode number can be a new file's), and the flow says why.
id0=$(last_flow_id)
kill -STOP "${D_PID[$N]}"
in_pod "$CG_MALLORY" "$NSA" "$BIN/modified" -c "$ONESHOT" _ "mod-$TAG" 2>/dev/null
sleep 0.05
printf 'x' >>"$BIN/modified"
kill -CONT "${D_PID[$N]}"
flow_wait "$id0" '.type == "outbound" and .state != "open"' 10
t_flow "modified: no unix:sha256, the reason names the change, and the ID is the template's" "
	(.caller.selectors | map(startswith(\"unix:sha256:\")) | any | not) and
	(.caller.sha256_skipped | test(\"modified or replaced since exec\")) and .src_spiffe_id == \"$ID_MALLORY\""
t_check "modified: catalogue never got it" [ "$(got "mod-$TAG")" = 0 ]

live_finish
