#!/usr/bin/env bash
# Signals and exit codes (issue #12, docs/process-model.md): SIGHUP
# reloads (the policy from the state dir, the config file, the log file)
# and never exits, also when what it reads is broken; SIGUSR2 does not
# kill; SIGTERM exits 0 and leaves the pinned enforcement in place; a
# start that fails exits non-zero. Needs root.
set -u
cd "$(dirname "$0")/../.."
. tests/live/lib.sh
skip_unless_root
live_init

C=$LIVE_CG/s1
mkcg s1/shop
CFG=$LIVE_DIR/config.json
echo '{"drain_timeout": "10m"}' >"$CFG"
LOG=$LIVE_DIR/ntd.log
DAEMON_ARGS="--config $CFG --log-file $LOG"
if ! start_daemon s1 "$C"; then
	t_fail "nametagd starts"
	live_finish
	exit 1
fi
unset DAEMON_ARGS
nt() { ntd s1 "$@"; }
STATE=${D_DIR[s1]}/state
PID=${D_PID[s1]}

alive() {
	kill -0 "$PID" 2>/dev/null && nt ns list >/dev/null 2>&1
}
# logged TEXT: the log file has TEXT (the daemon wrote it, not a shell).
logged() {
	grep -q -- "$1" "$LOG"
}
t_check "the log goes to --log-file" wait_for 5 logged "ready:"

# --- SIGHUP: a changed policy, without exiting ------------------------------------------
expect_ok "policy show before" nt -j policy show
t_check "no policy for shop yet" not grep -q '"shop"' <<<"$OUT"
cat >"$STATE/policy.json" <<'JSON'
{"namespaces": {"shop": {"rules": [{"action": "allow", "from": ["*"],
  "to": ["spiffe://example.org/ns/shop/sa/cart"]}]}}}
JSON
kill -HUP "$PID"
t_check "SIGHUP: the daemon still runs" wait_for 5 logged "reload"
t_check "SIGHUP: it still answers" alive
expect_ok "policy show after SIGHUP" nt -j policy show
t_check "SIGHUP reloaded the policy from the state dir" grep -q '"shop"' <<<"$OUT"

# A broken policy and a broken config: logged, nothing changes, no exit.
echo '{"namespaces": {"shop": {"rulez": []}}}' >"$STATE/policy.json"
echo '{"drain_timeout": "soon"}' >"$CFG"
kill -HUP "$PID"
t_check "SIGHUP with a broken policy: says why" wait_for 5 logged 'rulez'
t_check "SIGHUP with a broken config: says why" wait_for 5 logged 'drain_timeout'
t_check "SIGHUP with broken files: still runs" alive
expect_ok "policy show after a broken reload" nt -j policy show
t_check "a broken policy file keeps the policy in force" grep -q '"shop"' <<<"$OUT"
echo '{"drain_timeout": "10m"}' >"$CFG"
echo '{"namespaces": {}}' >"$STATE/policy.json"

# The log file is reopened (logrotate moves it away, then sends SIGHUP).
mv "$LOG" "$LOG.1"
kill -HUP "$PID"
t_check "SIGHUP reopens the log file" wait_for 5 logged "reload"
t_check "SIGHUP three times: still runs" alive

# --- SIGUSR2 does not kill ---------------------------------------------------------------
kill -USR2 "$PID"
sleep 1
t_check "SIGUSR2: a nametagd still answers" nt ns list
NEWPID=$(nt -j daemon status 2>/dev/null | jq -r '.pid // empty')
if [ -n "$NEWPID" ] && [ "$NEWPID" != "$PID" ]; then
	# An upgrade happened (the binary is the same one): the new
	# process is the one to stop; the old one exits once drained.
	t_check "SIGUSR2: the old process exits" wait_for 15 not kill -0 "$PID"
	wait "$PID" 2>/dev/null
	t_check "SIGUSR2: the old process exited 0" [ $? = 0 ]
	PID=$NEWPID
fi

# --- SIGTERM: status 0, pins stay -----------------------------------------------------------
kill -TERM "$PID"
if [ "$PID" = "${D_PID[s1]}" ]; then
	wait "$PID"
	rc=$?
else
	# Not this shell's child: its exit is read from its log line.
	wait_for 10 not kill -0 "$PID"
	rc=1
	grep -q "nametagd\[$PID\] info: signal 15 received, exiting" "$LOG" && rc=0
fi
D_PID[s1]=""
t_check "SIGTERM: exit status 0" [ "$rc" = 0 ]
t_check "SIGTERM: the pinned links stay" [ -n "$(ls "${D_DIR[s1]}/bpffs/nametag/links" 2>/dev/null)" ]

# --- a start that fails exits non-zero ---------------------------------------------------------
echo '{"drain_timeout": "soon"}' >"$CFG"
"$NAMETAGD" --config "$CFG" --state-dir "$STATE" --run-dir "${D_DIR[s1]}/run2" \
	--cgroup-root "$C" --bpffs "${D_DIR[s1]}/bpffs" >"$LIVE_DIR/bad.log" 2>&1
rc=$?
t_check "an invalid config: exit status non-zero" [ "$rc" != 0 ]
t_check "an invalid config: says why" grep -q drain_timeout "$LIVE_DIR/bad.log"
live_finish
