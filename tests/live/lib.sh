# Shared by the live-kernel suites: real programs attached to a private
# cgroup subtree, private bpffs mounts, private network namespaces.
#
# Everything a suite makes is named after a per-run random tag ($TAG) and
# torn down by live_cleanup, which runs on exit whether the suite passed,
# failed or was interrupted; live_finish tears down and then checks that
# nothing is left (cgroups, netns, mounts, processes) as a counted case.
# Sourced after `cd` to the top of the tree.
. tests/cli/lib.sh

NT_TESTPROXY=${NT_TESTPROXY:-build/tests/nt_testproxy}
NT_CONNECT=${NT_CONNECT:-build/tests/nt_connect}
# The system interpreter: a pyenv shim under /root is unusable once a test
# drops to another uid.
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3)

# One tag per run: names of netns, veths, cgroups and dirs carry it, so
# parallel or leftover runs never clash. Short: veth names max 15 chars.
TAG=nt$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
LIVE_DIR=""
CGMNT=""
LIVE_CG=""
LIVE_SAN=""			# sanitizer reports of stopped daemons
declare -a LIVE_PIDS=()		# background helpers to stop at exit
declare -a LIVE_NETNS=()
declare -A D_PID=() D_DIR=() D_CG=() D_NS=() D_TD=() D_ARGS=() D_RUNCG=() D_CGNS=()

# skip_unless_tools TOOL...: a suite that needs more than skip_unless_root
# checks for says which tool is missing, reports, and exits.
skip_unless_tools() {
	local tool

	for tool in "$@"; do
		if ! command -v "$tool" >/dev/null; then
			t_skip "needs $tool (make deps)"
		fi
	done
}

# skip_unless_built FILE...: the same for the test helpers `make` builds.
skip_unless_built() {
	local f

	for f in "$@"; do
		if [ ! -x "$f" ]; then
			echo "skip: build first: $f (make)"
			t_done
			exit 0
		fi
	done
}

# skip_unless_root: a suite without root says why and still reports.
skip_unless_root() {
	local why="" tool

	for tool in ip jq bpftool setpriv unshare nsenter "$PY"; do
		command -v "$tool" >/dev/null || why="needs $tool (make deps)"
	done
	if [ "$(id -u)" != 0 ]; then
		why="needs root (cgroups, bpffs, BPF programs, network namespaces)"
	elif [ -n "$why" ]; then
		:
	elif ! cgroup2_mount >/dev/null; then
		why="no cgroup v2 mount in /proc/self/mountinfo"
	elif [ ! -x "$NAMETAGD" ] || [ ! -x "$NT_TESTPROXY" ]; then
		why="build first: $NAMETAGD and $NT_TESTPROXY (make)"
	fi
	[ -z "$why" ] && return 0
	t_skip "$why"
}

# cgroup2_mount: the cgroup v2 mount point, from /proc/self/mountinfo
# (/sys/fs/cgroup/unified on hybrid hosts, /sys/fs/cgroup elsewhere).
cgroup2_mount() {
	local m
	m=$(awk '{ for (i = 7; i <= NF; i++) if ($i == "-") {
		if ($(i + 1) == "cgroup2") print $5; break } }' \
		/proc/self/mountinfo | head -n 1)
	[ -n "$m" ] && echo "$m"
}

# live_init: the private cgroup subtree and work dir; installs the trap.
live_init() {
	CGMNT=$(cgroup2_mount)
	LIVE_CG=$CGMNT/nametag-live-$TAG
	# No '.' in this path: libbpf rewrites dots in pin paths.
	LIVE_DIR=$(mktemp -d /tmp/nametag-live-XXXXXX)
	mkdir "$LIVE_CG"
	trap 'live_cleanup; t_cleanup' EXIT
	trap 'exit 130' INT TERM
}

# cg_rel PATH: a cgroup path as the daemon reports it (relative to the
# cgroup v2 mount).
cg_rel() {
	echo "${1#"$CGMNT"}"
}

# mkcg REL...: cgroups below the private subtree.
mkcg() {
	local r
	for r in "$@"; do
		mkdir -p "$LIVE_CG/$r"
	done
}

# netns_first CMD...: sets NETNS_FIRST to the nsenter prefix that enters
# the netns of CMD first when CMD is `ip netns exec NS ...`. nametagd
# serves the netns a process is in when it joins an enrolled cgroup, so a
# pod's process must be in the pod's netns by then, never in the
# machine's (nsenter, unlike `ip netns exec`, keeps cgroupfs in view).
netns_first() {
	NETNS_FIRST=()
	if [ "${1:-}" = ip ] && [ "${2:-}" = netns ] && [ "${3:-}" = exec ] &&
		[ -n "${4:-}" ]; then
		NETNS_FIRST=(nsenter --net="/run/netns/$4")
	fi
}

# run_in_cgroup CGROUP CMD...: CMD runs in CGROUP (a directory path), in
# this very process, so $! of a backgrounded call is CMD's pid.
run_in_cgroup() {
	local cg=$1 NETNS_FIRST
	shift
	netns_first "$@"
	"${NETNS_FIRST[@]}" bash -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' \
		run_in_cgroup "$cg" "$@"
}

# spawn CMD...: starts CMD, an external command (a shell function would
# run in a subshell with another pid), in the background, remembered for
# the cleanup. The pid is left in $BG_PID.
spawn() {
	"$@" &
	BG_PID=$!
	LIVE_PIDS+=("$BG_PID")
}

# spawn_in_cgroup CGROUP CMD...: run_in_cgroup in the background; $BG_PID
# is CMD's own pid.
spawn_in_cgroup() {
	local cg=$1 NETNS_FIRST
	shift
	netns_first "$@"
	spawn "${NETNS_FIRST[@]}" bash -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' \
		run_in_cgroup "$cg" "$@"
}

# wait_for TIMEOUT_S CMD...: polls CMD every 0.1 s until it succeeds.
wait_for() {
	local deadline=$((SECONDS + $1))
	shift
	while ! "$@" 2>/dev/null; do
		[ $SECONDS -ge "$deadline" ] && return 1
		sleep 0.1
	done
}

# --- daemons -------------------------------------------------------------------

# start_daemon NAME CGROUP_ROOT [TRUST_DOMAIN]: a nametagd with its own
# state dir, run dir and private bpffs, managing CGROUP_ROOT, running in
# its own network namespace $D_NS[NAME] (a "node": the daemon serves the
# proxy of its own netns, and the machine's must stay untouched). Its log
# is $LIVE_DIR/NAME/log. $DAEMON_ARGS, if set, adds nametagd options;
# $DAEMON_CGROUP, if set, is the cgroup the daemon runs in (else the
# suite's own), $DAEMON_CGROUPNS=1 gives it a cgroup namespace rooted
# there, and $DAEMON_NETNS, if set, is its network namespace, made
# beforehand (else start_daemon makes one).
start_daemon() {
	local name=$1 cg=$2 d node
	d=$LIVE_DIR/$name
	mkdir -p "$d/bpffs" "$cg"
	mountpoint -q "$d/bpffs" || mount -t bpf bpf "$d/bpffs" || return 1
	D_DIR[$name]=$d
	D_CG[$name]=$cg
	D_TD[$name]=${3:-example.org}
	D_ARGS[$name]=${DAEMON_ARGS:-}
	D_RUNCG[$name]=${DAEMON_CGROUP:-}
	D_CGNS[$name]=${DAEMON_CGROUPNS:-}
	if [ -n "${DAEMON_NETNS:-}" ]; then
		node=$DAEMON_NETNS
	else
		netns_add node "node-$name" || return 1
	fi
	D_NS[$name]=$node
	launch_daemon "$name"
}

# launch_daemon NAME: (re)starts daemon NAME as start_daemon set it up,
# same directories and netns, and waits until it answers (after a kill
# the old socket file is still there: a file is no proof of life).
launch_daemon() {
	local name=$1 d=${D_DIR[$1]}
	local -a pre=()
	# Joined first, in this very process (exec), so $! stays the daemon.
	[ -n "${D_RUNCG[$name]}" ] &&
		pre=(bash -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' \
			launch_daemon "${D_RUNCG[$name]}")
	[ -n "${D_CGNS[$name]}" ] && pre+=(unshare --cgroup)
	# nsenter, not `ip netns exec`: that remounts /sys, hiding cgroupfs.
	"${pre[@]}" nsenter --net="/run/netns/${D_NS[$name]}" "$NAMETAGD" \
		--state-dir "$d/state" --run-dir "$d/run" \
		--cgroup-root "${D_CG[$name]}" --bpffs "$d/bpffs" \
		--trust-domain "${D_TD[$name]}" ${D_ARGS[$name]} >>"$d/log" 2>&1 &
	D_PID[$name]=$!
	if ! wait_for 10 eval 'ntd "$name" ns list >/dev/null'; then
		echo "nametagd $name did not start:"
		cat "$d/log"
		return 1
	fi
}

# stop_daemon NAME: SIGTERM, and wait; pins stay. Returns the daemon's
# exit status.
stop_daemon() {
	local pid=${D_PID[$1]:-} rc
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	rc=$?
	D_PID[$1]=""
	return $rc
}

# nt_cmd NAME: sets the array NT to the CLI command line for daemon NAME
# (for spawn, which needs an external command).
nt_cmd() {
	NT=("$NAMETAG" --run-dir "${D_DIR[$1]}/run" --bpffs "${D_DIR[$1]}/bpffs"
	    --state-dir "${D_DIR[$1]}/state")
}

# ntd NAME ARGS...: the CLI against daemon NAME.
ntd() {
	local NT
	nt_cmd "$1"
	shift
	"${NT[@]}" "$@"
}

# flows NAME: daemon NAME's flows as a JSON array.
flows() {
	ntd "$1" -j flow list
}

# flow_count NAME JQ_FILTER: how many flows match the select() filter.
flow_count() {
	flows "$1" | jq "[.[] | select($2)] | length"
}

# flow_exists NAME JQ_FILTER
flow_exists() {
	[ "$(flow_count "$1" "$2")" -gt 0 ]
}

# --- network namespaces ------------------------------------------------------------

# netns_add VAR SHORT: network namespace $TAG-SHORT with lo up; its name
# goes into VAR (not printed: a $(...) subshell would not remember it for
# the cleanup).
netns_add() {
	local _netns_name=$TAG-$2
	ip netns add "$_netns_name" || return 1
	LIVE_NETNS+=("$_netns_name")
	ip -n "$_netns_name" link set lo up
	printf -v "$1" %s "$_netns_name"
}

# veth_pair NS_A ADDR_A/LEN NS_B ADDR_B/LEN: a veth pair created straight
# inside the two namespaces (never in the host's), addressed and up.
veth_pair() {
	local a=$1 aa=$2 b=$3 ba=$4 va vb
	# Numbered by pair, not by netns: two pairs made between the same
	# netns additions must not clash.
	LIVE_VETHS=$((${LIVE_VETHS:-0} + 1))
	va=${TAG}v${LIVE_VETHS}a
	vb=${TAG}v${LIVE_VETHS}b
	ip link add "$va" netns "$a" type veth peer name "$vb" netns "$b" || return 1
	ip -n "$a" addr add "$aa" dev "$va"
	ip -n "$b" addr add "$ba" dev "$vb"
	ip -n "$a" link set "$va" up
	ip -n "$b" link set "$vb" up
}

# in_netns NS CMD...: CMD in network namespace NS (same pid, same cgroup).
in_netns() {
	local ns=$1
	shift
	ip netns exec "$ns" "$@"
}

# --- small clients and servers ---------------------------------------------------

# Written once per run into $LIVE_DIR (world-readable: clients may run as
# another uid).
write_helpers() {
	# server.py HOST PORT [LOG]: accepts forever, echoes each first line as
	# "srv:LINE", logs what it got. Prints "ready PORT" once listening.
	cat >"$LIVE_DIR/server.py" <<'PY'
import socket, sys, threading
s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(64)
log = open(sys.argv[3], "a", buffering=1) if len(sys.argv) > 3 else None
print("ready", s.getsockname()[1], flush=True)
def serve(c):
    with c:
        c.settimeout(5)
        line = c.makefile("rb").readline().decode().strip()
        if log:
            log.write(line + "\n")
        c.sendall(("srv:%s\n" % line).encode())
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
	# client.py HOST PORT [MSG]: connects, sends MSG, prints
	# "PID LOCALPORT REPLY" or "PID ERR errno text". NT_MARK=1 sets the
	# mark the proxy once used (0x6e74); NT_COMM renames the task; NT_LINGER keeps the
	# process alive a while (for the daemon to read /proc/PID).
	cat >"$LIVE_DIR/client.py" <<'PY'
import os, socket, sys, time
if os.environ.get("NT_COMM"):
    import ctypes
    ctypes.CDLL(None).prctl(15, os.environ["NT_COMM"].encode(), 0, 0, 0)
host, port = sys.argv[1], int(sys.argv[2])
msg = sys.argv[3] if len(sys.argv) > 3 else "hello"
s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
s.settimeout(5)
if os.environ.get("NT_MARK"):
    s.setsockopt(socket.SOL_SOCKET, 36, 0x6e74)   # SO_MARK
try:
    s.connect((host, port))
    s.sendall((msg + "\n").encode())
    reply = s.makefile("rb").readline().decode().strip()
    print(os.getpid(), s.getsockname()[1], reply or "-", flush=True)
    rc = 0
except OSError as e:
    print(os.getpid(), "ERR", e.errno, e.strerror, flush=True)
    rc = 1
time.sleep(float(os.environ.get("NT_LINGER", "0.3")))
sys.exit(rc)
PY
	chmod 755 "$LIVE_DIR"
	chmod 644 "$LIVE_DIR/server.py" "$LIVE_DIR/client.py"
}

# start_server NAME HOST PORT [NETNS [CGROUP]]: server.py in the background;
# waits until it listens. $SRV_PORT is the bound port, $SRV_PID its pid,
# received lines go to $LIVE_DIR/NAME.log.
start_server() {
	local name=$1 host=$2 port=$3 ns=${4:-} cg=${5:-} out
	local -a cmd=("$PY" "$LIVE_DIR/server.py" "$host" "$port" "$LIVE_DIR/$name.log")
	out=$LIVE_DIR/$name.out
	: >"$out"
	[ -n "$ns" ] && cmd=(ip netns exec "$ns" "${cmd[@]}")
	if [ -n "$cg" ]; then
		spawn_in_cgroup "$cg" "${cmd[@]}" >"$out" 2>&1
	else
		spawn "${cmd[@]}" >"$out" 2>&1
	fi
	SRV_PID=$BG_PID
	if ! wait_for 10 grep -q '^ready' "$out"; then
		echo "server $name did not start:"
		cat "$out"
		return 1
	fi
	SRV_PORT=$(awk '/^ready/ { print $2 }' "$out")
}

# --- teardown ---------------------------------------------------------------------

# Kills every process of the private subtree (cgroup.kill, else one by
# one) and waits for the cgroups to empty.
kill_cgroup_procs() {
	local cg=$1 pid
	[ -d "$cg" ] || return 0
	if [ -e "$cg/cgroup.kill" ]; then
		echo 1 >"$cg/cgroup.kill" 2>/dev/null
	else
		find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null |
			while read -r pid; do kill -KILL "$pid" 2>/dev/null; done
	fi
	wait_for 5 cgroup_empty "$cg"
}

cgroup_empty() {
	! grep -q 'populated 1' "$1/cgroup.events"
}

live_cleanup() {
	local name pid ns
	[ -n "$LIVE_CG" ] || return 0
	# Quietly: bash would report each killed job on stderr.
	{
		kill_cgroup_procs "$LIVE_CG"
		for pid in "${LIVE_PIDS[@]}"; do
			kill -KILL "$pid"
		done
		for pid in "${LIVE_PIDS[@]}"; do
			wait "$pid"
		done
	} 2>/dev/null
	LIVE_PIDS=()
	for name in "${!D_DIR[@]}"; do
		stop_daemon "$name"
		LIVE_SAN+=$(sanitizer_reports "${D_DIR[$name]}/log")
		if mountpoint -q "${D_DIR[$name]}/bpffs"; then
			"$NAMETAGD" --cleanup --bpffs "${D_DIR[$name]}/bpffs" \
				>>"${D_DIR[$name]}/log" 2>&1
			umount "${D_DIR[$name]}/bpffs"
		fi
	done
	# Ours by name, including any a subshell made.
	for ns in "${LIVE_NETNS[@]}" $(ip netns list 2>/dev/null |
				       awk -v t="$TAG-" 'index($1, t) == 1 { print $1 }'); do
		ip netns del "$ns" 2>/dev/null
	done
	LIVE_NETNS=()
	if [ -d "$LIVE_CG" ]; then
		find "$LIVE_CG" -depth -type d -exec rmdir {} + 2>/dev/null
	fi
	if [ -n "$LIVE_DIR" ] && [ -z "${T_KEEP:-}" ]; then
		rm -rf "$LIVE_DIR"
	fi
}

# sanitizer_reports LOG: what AddressSanitizer, LeakSanitizer or UBSan
# said in a daemon's log (nothing from a plain build).
sanitizer_reports() {
	grep -hE 'ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY: [A-Za-z]+Sanitizer' "$@" 2>/dev/null
}

# is_sanitized BINARY: built with -fsanitize=address (make O=build/asan SAN=1).
is_sanitized() {
	grep -qa __asan_init "$1"
}

# leftovers: prints what of this run is still there; empty when clean.
leftovers() {
	local name
	ip netns list 2>/dev/null | awk -v t="$TAG-" 'index($1, t) == 1 { print "netns " $1 }'
	ip link show 2>/dev/null | grep -o -- "${TAG}v[0-9a-z]*" | sed 's/^/veth /'
	[ -e "$LIVE_CG" ] && echo "cgroup $LIVE_CG"
	if [ -n "$LIVE_DIR" ]; then
		grep -F -- "$LIVE_DIR/" /proc/self/mountinfo | awk '{ print "mount " $5 }'
		[ -e "$LIVE_DIR" ] && [ -z "${T_KEEP:-}" ] && echo "dir $LIVE_DIR"
	fi
	for name in "${!D_DIR[@]}"; do
		pgrep -f -- "--run-dir ${D_DIR[$name]}/run" | sed 's/^/process /'
	done
}

# live_finish: tear down now, check nothing is left, print the summary.
live_finish() {
	local left
	live_cleanup
	if [ -n "$LIVE_SAN" ]; then
		t_fail "no sanitizer report in the daemons' logs" "$LIVE_SAN"
	elif is_sanitized "$NAMETAGD"; then
		t_ok "no sanitizer report in the daemons' logs ($NAMETAGD)"
	fi
	left=$(leftovers)
	if [ -z "$left" ]; then
		t_ok "nothing left behind (netns, cgroups, mounts, processes)"
	else
		t_fail "nothing left behind" "$left"
	fi
	t_done
}
