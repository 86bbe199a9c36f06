#!/usr/bin/env bash
# Listeners that were there first, on a live kernel. The sockops program
# records a listener when an enrolled task calls listen(); a server that
# was already listening when its namespace was enabled (or when nametagd
# started) is found by the daemon through sock_diag instead:
#
#   - catalogue listens in pod B while "shop" is still off: no record
#   - "shop" goes strict with an allow rule: the listener is recorded from
#     sock_diag (socket uid, cgroup, netns; no pid), a duplicate of the
#     socket is taken from catalogue so deliveries can be pinned to it,
#     and frontend in pod A
#     reaches it over mTLS with catalogue's identity, and a plaintext
#     client from outside the mesh is refused before the workload sees it
#   - a listener that starts after enrolment keeps the kernel's own record
#   - a daemon restart brings a lost record back; a listener that stops or
#     a namespace that is disabled loses its sock_diag record
# Everything is private (cgroup subtree, bpffs, netns) and removed at the
# end, which is checked. Needs root.
set -u
cd "$(dirname "$0")/../.."
. tests/live/lib.sh
. tests/live/lib_mesh.sh
skip_unless_root
skip_unless_tools jq bpftool setpriv
live_init
write_helpers
N=$MESH_NODE
CLIENT=("$PY" "$LIVE_DIR/client.py")
SRV_UID=4321

if ! mesh_up; then
	t_fail "the mesh comes up (two pods, nametagd, shop enrolled off)"
	live_finish
	exit 1
fi
NSB_INO=$(stat -L -c %i "/run/netns/$NSB")

# record PORT: pod B's record of MESH_B:PORT, the kernel's ("address")
# or the daemon's ("sock_diag"); "null" if none.
record() {
	ntd $N -j map dump listeners |
		jq -c --argjson n "$NSB_INO" --arg a "$MESH_B:$1" \
			'[.[] | select(.netns_ino == $n) | .entries[] |
			  select(.kind != "socket" and .address == $a)] | first'
}

# jqr JSON FILTER: FILTER holds for JSON.
jqr() {
	jq -e "$2" <<<"${1:-null}" >/dev/null
}

# server NAME PORT: server.py as uid $SRV_UID in catalogue's cgroup in pod
# B, on MESH_B:PORT; $SRV_PID is its pid once it listens.
server() {
	local name=$1 port=$2 out=$LIVE_DIR/$1.out
	# The server appends what it gets; it runs as another uid.
	: >"$LIVE_DIR/$name.log"
	chmod 666 "$LIVE_DIR/$name.log"
	spawn_in_pod "$CG_CATALOGUE" "$NSB" setpriv --reuid=$SRV_UID \
		--regid=$SRV_UID --clear-groups "$PY" "$LIVE_DIR/server.py" \
		"$MESH_B" "$port" "$LIVE_DIR/$name.log" >"$out" 2>&1
	SRV_PID=$BG_PID
	wait_for 10 grep -q '^ready' "$out" || { cat "$out"; return 1; }
}

# call CGROUP MSG [PORT]: client.py from pod A as a process of CGROUP ("":
# outside the mesh) to catalogue; sets CPID, CPORT (or ERR) and CREPLY.
call() {
	local out
	out=$(in_pod "$1" "$NSA" "${CLIENT[@]}" "$MESH_B" "${3:-8080}" "$2")
	read -r CPID CPORT CREPLY <<<"$out"
}

# ---- 1. a listener older than its namespace's enrolment --------------------
server cat 8080 || t_fail "catalogue listens on 8080 (shop off)"
CAT_PID=$SRV_PID
t_check "shop off: the kernel recorded nothing for 8080" jqr "$(record 8080)" '. == null'

mesh_policy "$LIVE_DIR/policy.json" "8080, 8081"
expect_ok "policy: frontend may call catalogue" ntd $N policy load "$LIVE_DIR/policy.json"
expect_ok "shop is strict" ntd $N ns enable shop --mode strict
R=$(record 8080)
t_check "enable: 8080 recorded" jqr "$R" '. != null'
t_check "record: made from sock_diag (no task), deliverable" jqr "$R" '
	.kind == "sock_diag" and .flags == ["deliverable"] and
	.evidence.comm == "sock_diag" and
	.evidence.pid == 0 and .evidence.tgid == 0 and .evidence.exe_ino == 0'
t_check "record: the socket's uid, gid unknown" jqr "$R" \
	".evidence.uid == $SRV_UID and .evidence.gid == 4294967295"
t_check "record: catalogue's cgroup in namespace shop" jqr "$R" "
	.evidence.cgroup_id == $(stat -c %i "$CG_CATALOGUE") and
	.evidence.ns_cgroup_id == $(stat -c %i "$MESH_CG/shop") and
	.evidence.mode == \"strict\""
t_check "record: pod B's netns and the bound address" jqr "$R" \
	".evidence.netns_ino == $NSB_INO and .address == \"$MESH_B:8080\""

id0=$(last_flow_id)
call "$CG_FRONTEND" over-mtls
t_check "frontend reaches catalogue's old listener" [ "$CREPLY" = srv:over-mtls ]
t_check "catalogue got it from the node proxy" grep -qx over-mtls "$LIVE_DIR/cat.log"
flow_wait "$id0" '.type == "outbound" and .state != "open"'
t_check "outbound flow: mTLS to catalogue's identity, allowed" jqf "
	.src_spiffe_id == \"$ID_FRONTEND\" and .dst_spiffe_id == \"$ID_CATALOGUE\" and
	.verdict == \"allow\" and .tls_version == \"TLSv1.3\""
flow_wait "$id0" '.type == "inbound" and .state != "open"'
t_check "inbound flow: the server proxy presented catalogue's SVID" jqf "
	.dst_spiffe_id == \"$ID_CATALOGUE\" and .src_spiffe_id == \"$ID_FRONTEND\" and
	.verdict == \"allow\" and .namespace == \"shop\""

id0=$(last_flow_id)
call "" plaintext-outside
t_check "plaintext from outside the mesh is refused" [ "${CREPLY#srv:}" = "$CREPLY" ]
t_check "the workload never saw the plaintext" not grep -q plaintext-outside "$LIVE_DIR/cat.log"
flow_wait "$id0" '.type == "inbound-plaintext"'
t_check "plaintext flow: denied by strict mode, catalogue named" jqf "
	.verdict == \"deny\" and .reason == \"strict mode: plaintext refused\" and
	.dst_spiffe_id == \"$ID_CATALOGUE\""

# ---- 2. the kernel's own record is never replaced ----------------------------
server late 8081 || t_fail "catalogue listens on 8081 (shop strict)"
LATE_PID=$SRV_PID
t_check "late listener: the kernel's record (its pid, one socket)" jqr "$(record 8081)" \
	".kind == \"address\" and .evidence.tgid == $LATE_PID and .sockets == 1"
expect_ok "shop strict again (a sync)" ntd $N ns enable shop --mode strict
t_check "after a sync the kernel's record is still there, unchanged" jqr "$(record 8081)" \
	".kind == \"address\" and .evidence.tgid == $LATE_PID and .evidence.comm != \"sock_diag\""
call "$CG_FRONTEND" late 8081
t_check "frontend reaches the late listener too" [ "$CREPLY" = srv:late ]

# ---- 3. restart: a lost record comes back at start -----------------------------
# The daemon is stopped, 8080's record deleted by hand (as if the daemon
# had never seen it), and the daemon started again.
d=${D_DIR[$N]}
stop_daemon $N
# The daemon's key of 8080 in pod B's table: kind 3 (sock_diag), the port
# (both little-endian), then MESH_B IPv4-mapped.
table=$(ntd $N -j map dump listeners | jq --argjson n "$NSB_INO" '.[] | select(.netns_ino == $n) | .table_id')
key="03 00 00 00 $(printf '%02x %02x' $((8080 & 255)) $((8080 >> 8))) 00 00 00 00 00 00 00 00 00 00 00 00 ff ff $(printf '%02x ' ${MESH_B//./ })"
if [ -n "$table" ] && bpftool map delete id "$table" key hex $key; then
	t_ok "record of 8080 deleted while the daemon is down"
else
	t_fail "record of 8080 deleted while the daemon is down"
fi
t_check "no record of 8080 now" jqr "$(record 8080)" '. == null'
t_check "nametagd restarts" launch_daemon $N
t_check "start: 8080 recorded again from sock_diag" jqr "$(record 8080)" \
	".kind == \"sock_diag\" and .evidence.comm == \"sock_diag\" and .evidence.uid == $SRV_UID"
t_check "start: the kernel's record of 8081 untouched" jqr "$(record 8081)" \
	".kind == \"address\" and .evidence.tgid == $LATE_PID"
call "$CG_FRONTEND" after-restart
t_check "frontend reaches catalogue after the restart" [ "$CREPLY" = srv:after-restart ]

# ---- 4. stale records go ---------------------------------------------------------
expect_ok "shop disabled" ntd $N ns disable shop
t_check "disabled: the sock_diag record of 8080 is removed" jqr "$(record 8080)" '. == null'
expect_ok "shop strict once more" ntd $N ns enable shop --mode strict
t_check "re-enabled: 8080 recorded again" jqr "$(record 8080)" '.kind == "sock_diag"'
kill "$CAT_PID" 2>/dev/null
wait "$CAT_PID" 2>/dev/null
expect_ok "a sync after catalogue stopped" ntd $N ns enable shop --mode strict
t_check "listener gone: its record is removed" jqr "$(record 8080)" '. == null'
t_check "no listener sync failed" not grep -q "listener sync" "$d/log"

live_finish
