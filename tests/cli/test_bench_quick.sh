#!/usr/bin/env bash
# Smoke check of the benchmark harness: `bench/run --quick` (about a minute)
# must finish, write JSON that parses, and give numbers for every contender
# (plain TCP, stunnel4, haproxy, nametag) in every measure, plus the three
# connect() columns; memory per proxy process too (nametag: one nametagd
# per node, as the peers' two processes). It asserts that the harness works, never a speed: the
# machines are shared and noisy. Needs root (network namespaces, cgroups,
# BPF); the harness removes everything it made, and this suite checks that
# too. Runs once, against the plain build.
set -u
cd "$(dirname "$0")/../.."
. tests/cli/lib.sh

if [ "$(id -u)" != 0 ]; then
	t_skip "needs root (network namespaces, cgroups, BPF)"
fi
case $NAMETAG in
*/asan/*)
	t_skip "the bench smoke check runs once, with the plain build (NAMETAG=$NAMETAG)" ;;
esac
for t in iperf3 stunnel haproxy; do
	if ! command -v "$t" >/dev/null; then
		t_fail "bench tools" "$t is missing (make deps installs iperf3 stunnel4 haproxy)"
		t_done
		exit 1
	fi
done

J=$T_DIR/bench.json
CG2=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
before_ns=$(ip netns list | grep -c '^ntb' || true)
before_cg=$(ls -d "$CG2"/ntb* 2>/dev/null | wc -l)
before_mnt=$(grep -c nametag-bench. /proc/self/mountinfo || true)

start=$(date +%s)
expect_ok "bench/run --quick exits 0" env NAMETAG="$NAMETAG" NAMETAGD="$NAMETAGD" \
	CONNBENCH="${CONNBENCH:-build/bench/connbench}" timeout 600 bench/run --quick --out "$J"
echo "     bench/run --quick took $(($(date +%s) - start)) s"
[ -s "$J" ] || echo "$OUT" | tail -n 30

t_check "JSON parses" jq -e . "$J"
t_check "machine and peer versions recorded" jq -e \
	'.machine.kernel and .machine.cpus > 0 and .versions.stunnel and .versions.haproxy and .versions.iperf3 and .versions.openssl and .versions.nametag' "$J"
t_check "no measure failed" jq -e '.errors | length == 0' "$J"

# measure_has MEASURE METRIC CONTENDER...: a finite median for each.
measure_has() {
	local m=$1 k=$2 c
	shift 2
	for c in "$@"; do
		jq -e --arg m "$m" --arg k "$k" --arg c "$c" \
			'[.measurements[] | select(.measure == $m and .metric == $k and .contender == $c
			  and (.median | type) == "number" and .n >= 1)] | length == 1' "$J" >/dev/null ||
			return 1
	done
}
ALL="plain stunnel haproxy nametag"
PEERS="stunnel haproxy nametag"
t_check "1-stream throughput, every contender" measure_has tput1 gbit_s $ALL
t_check "8-stream throughput, every contender" measure_has tput8 gbit_s $ALL
t_check "proxy CPU per GB, every proxy" measure_has tput1 proxy_cpu_s_per_gb $PEERS
t_check "new conn/s sequential, every contender" measure_has conn1 per_s $ALL
t_check "new conn/s 32 concurrent, every contender" measure_has conn32 per_s $ALL
t_check "added p50/p99 per new connection, every proxy" \
	measure_has conn1 added_p99_us $PEERS
t_check "established-connection latency, every contender" measure_has rr1 p99_us $ALL
t_check "idle RSS, every proxy" measure_has memory rss_idle_mb $PEERS
t_check "bytes per connection at 1000, every proxy" measure_has memory bytes_per_conn_1000 $PEERS
t_check "bytes per connection at 1000, per proxy process (out, in)" \
	measure_has memory bytes_per_conn_out_1000 $PEERS
t_check "  ... and the inbound end" measure_has memory bytes_per_conn_in_1000 $PEERS
t_check "veth: nametag as two nodes, what ran and how memory adds up recorded" jq -e \
	'(.proxies.nametag.veth | test("two nametagd")) and (.memory_accounting | length > 0)' "$J"
t_check "connect() none / non-enrolled / observe" measure_has hook connect_ns \
	none non-enrolled enrolled-observe
t_check "connect() added cost measured" measure_has hook added_ns non-enrolled enrolled-observe
t_check "ratios to the peers" jq -e \
	'[.measurements[] | select(.contender == "nametag" and .measure == "tput1" and .metric == "gbit_s")][0] | (.vs_stunnel | type) == "number" and (.vs_haproxy | type) == "number" and (.vs_plain | type) == "number"' "$J"
t_check "targets judged" jq -e '[.targets[] | select(.met != null)] | length >= 7' "$J"
t_check "table printed" grep -q 'throughput, 1 stream' <<<"$OUT"
# A proxy that died and was restarted is the contender's problem, not the
# harness's: shown, not failed.
jq -r '.incidents[]? | "     note: \(.contender) died (exit \(.exit)) during \(.variant) \(.measure)"' "$J" 2>/dev/null

t_check "no network namespace left" test "$(ip netns list | grep -c '^ntb' || true)" = "$before_ns"
t_check "no cgroup left" test "$(ls -d "$CG2"/ntb* 2>/dev/null | wc -l)" = "$before_cg"
t_check "no bpffs mount left" test "$(grep -c nametag-bench. /proc/self/mountinfo || true)" = "$before_mnt"
t_done
