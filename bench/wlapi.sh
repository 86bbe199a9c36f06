#!/usr/bin/env bash
# The Workload API's numbers (docs/workload-api.md, "Measured"): a nametagd
# with --workload-api on a private cgroup subtree and bpffs (the live
# suites' lib.sh), one enrolled namespace, and bench/wlapi_bench.py run as
# a process of it. NAMETAG_NO_UNIX_HOOK=1 measures the SO_PEERCRED
# fallback instead of the connect hook. Root; leaves nothing behind.
#   bench/wlapi.sh [ROUNDS] [SECONDS] [CLIENTS]
set -u
cd "$(dirname "$0")/.."
. tests/live/lib.sh
skip_unless_root
live_init
C=$LIVE_CG/b
mkcg b/shop/bench
mkdir -p "$LIVE_DIR/wl"
chmod 755 "$LIVE_DIR" "$LIVE_DIR/wl"
SOCK=$LIVE_DIR/wl/api.sock
DAEMON_ARGS="--workload-api $SOCK" start_daemon b "$C" example.org || exit 1
ntd b ns add shop --cgroup "$C/shop" >/dev/null
ntd b ns enable shop --mode observe >/dev/null
grep -o "caller evidence: [^)]*" "${D_DIR[b]}/log"
out=$(run_in_cgroup "$C/shop/bench" "$PY" bench/wlapi_bench.py "$SOCK" \
	"${D_PID[b]}" "${1:-300}" "${2:-5}" "${3:-2}")
echo "$out"
t_check "the Workload API measured" eval '[ -n "$out" ]' &&
	t_check "... every number" jq -e ".first_message_ms.p50 > 0 and .bytes_per_stream_rss > 0" <<<"$out"
live_finish
