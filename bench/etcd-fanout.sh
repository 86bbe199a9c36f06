#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# bench/etcd-fanout.sh [WATCHERS [ROUNDS]]: starts a private etcd (loopback
# ports, temporary data dir, stopped by PID), runs build/bench/etcd_fanout
# against it, and removes everything. docs/fleet.md quotes its output.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${ETCD_FANOUT:-build/bench/etcd_fanout}
dir=$(mktemp -d)
pid=
cleanup() {
	if [ -n "$pid" ]; then kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; fi
	rm -rf "$dir"
}
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
cp=$(port) pp=$(port)
etcd --data-dir "$dir/data" \
	--listen-client-urls "http://127.0.0.1:$cp" \
	--advertise-client-urls "http://127.0.0.1:$cp" \
	--listen-peer-urls "http://127.0.0.1:$pp" \
	--initial-advertise-peer-urls "http://127.0.0.1:$pp" \
	--initial-cluster "default=http://127.0.0.1:$pp" >"$dir/etcd.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
	curl -sf --noproxy '*' "http://127.0.0.1:$cp/health" >/dev/null && break
	sleep 0.1
done
"$BIN" "http://127.0.0.1:$cp" "${1:-50}" "${2:-100}"
