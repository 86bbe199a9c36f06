#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# bench/fleet_propagation.sh [WATCHERS [ROUNDS]]: a policy change written
# to etcd, to enforcement on three real nodes and to WATCHERS (50) light
# watchers, and what that costs etcd. Needs root; not part of make test.
#
# The fleet is the live suite's (tests/live/lib_fleet.sh): etcd 3.4 with
# TLS client certificates and auth roles in a network namespace, the
# signer, three nametagd --etcd nodes in their own network namespaces.
# The light watchers are build/bench/etcd_fanout --node-like: one etcd
# client each (its own TLS connection and auth token), each with what a
# node keeps open (mirrors of config/ and jwt/, a watch on its CA answer
# key, a lease kept alive), but no kernel, no proxy and no swap: a
# node's watch load on etcd, not its apply time. ROUNDS (50) policy writes
# by etcd_fanout's own client, 300 ms apart; a node has enforced a
# revision when its log says "revision N in force" (JSON log, ms), which
# nametagd writes after the swap into the kernel. docs/performance.md
# ("Fleet mode") and docs/fleet.md ("Scale") quote the output.
set -u
cd "$(dirname "$0")/.."
. tests/live/lib.sh
. tests/live/lib_fleet.sh
skip_unless_root
skip_unless_tools etcd etcdctl openssl curl python3
WATCHERS=${1:-50}
ROUNDS=${2:-50}
FANOUT=${ETCD_FANOUT:-build/bench/etcd_fanout}
[ -x "$FANOUT" ] || { echo "no $FANOUT: make build/bench/etcd_fanout"; exit 1; }
live_init
fleet_up || exit 1
op ns add bench --cgroup bench --hosts n1,n2,n3 >/dev/null || exit 1
for i in 1 2 3; do
	n=${FLEET_NODES[$i-1]}
	tok=$(op node token create "$n" --ttl 10m 2>/dev/null)
	FLEET_NODE_ARGS="--log-format json" node_up "$i" "$tok" || exit 1
done
sleep 2	# the nodes' first listings and records
ip netns exec "$ETCD_NS" "$FANOUT" --ca "$FLEET_PKI/ca.crt" \
	--cert "$FLEET_PKI/client.crt" --key "$FLEET_PKI/client.key" \
	--user nametag-admin --password-file "$FLEET_PKI/nametag-admin.pw" \
	--node-like --policy-td "$FLEET_TD" --gap-ms 300 \
	--stamps "$LIVE_DIR/stamps" https://127.0.0.1:2379 "$WATCHERS" "$ROUNDS" ||
	exit 1
python3 - "$LIVE_DIR/stamps" "$LIVE_DIR"/n1/log "$LIVE_DIR"/n2/log "$LIVE_DIR"/n3/log <<'PY'
import datetime, json, re, sys
stamps = [l.split() for l in open(sys.argv[1]) if l.strip()]
def applied(path):
    out = []
    for line in open(path):
        try:
            o = json.loads(line)
        except ValueError:
            continue
        m = re.match(r"fleet: revision (\d+) in force", o.get("msg", ""))
        if m:
            t = datetime.datetime.strptime(o["time"], "%Y-%m-%dT%H:%M:%S.%fZ")
            t = t.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000
            out.append((int(m.group(1)), t))
    return out
def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p / 100))]
every = []
for path in sys.argv[2:]:
    node = path.split("/")[-2]
    a = applied(path)
    lat = []
    for _, rev, t0 in stamps:
        hit = [t for r, t in a if r >= int(rev) and t >= float(t0) - 5]
        if hit:
            lat.append(min(hit) - float(t0))
    every += lat
    if lat:
        print(f"node {node}: {len(lat)} of {len(stamps)} writes enforced; ms p50 {pct(lat, 50):.0f}  p99 {pct(lat, 99):.0f}  max {max(lat):.0f}")
if every:
    print(f"3 nodes: write to enforced, ms p50 {pct(every, 50):.0f}  p99 {pct(every, 99):.0f}  ({len(every)} samples; log stamps are ms)")
PY
live_finish >/dev/null
