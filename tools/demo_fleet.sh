#!/usr/bin/env bash
# make demo-fleet: `make demo` as a fleet (docs/fleet.md): one etcd 3.4
# (TLS with client certificates, one role per node), the signer that holds
# the upstream key, and two nodes, each a nametagd in its own network
# namespace with its own state dir, bpffs and cgroup root. The operator
# writes the configuration once with `nametag --etcd`: namespace shop on
# both nodes, strict, frontend may call catalogue on 8080. Then: the two
# nodes join with one-time tokens, frontend (node n1) reaches catalogue
# (node n2) over mTLS, the intruder (n1) is refused, n2's flows and the
# node list. Built on the live suites' helpers (tests/live/lib_fleet.sh):
# everything runs under a private cgroup subtree, private bpffs mounts and
# a temp dir, and is removed at exit, Ctrl-C included.
set -u
cd "$(dirname "$0")/.."
T_NAME=demo-fleet
. tests/live/lib.sh
. tests/live/lib_fleet.sh
FLEET_NODES=(n1 n2)
PORT=8080
N1_ADDR=10.78.0.1
N2_ADDR=10.78.0.2

bold() { printf '\n\033[1m%s\033[0m\n' "$*"; }
say() { printf '\033[2m$ %s\033[0m\n' "$*"; }
# nt ARGS...: the operator's CLI against etcd, shown as typed.
nt() {
	say "nametag --etcd https://127.0.0.1:2379 $*"
	op "$@"
}
die() {
	echo "demo-fleet: $*" >&2
	for f in etcd.log signer.log n1/log n2/log; do
		[ -s "$LIVE_DIR/$f" ] && { echo "--- $f"; tail -n 20 "$LIVE_DIR/$f"; }
	done
	exit 1
}

[ "$(id -u)" = 0 ] || { echo "make demo-fleet needs root (BPF, cgroups, netns)"; exit 1; }
for tool in etcd etcdctl openssl curl jq nsenter; do
	command -v "$tool" >/dev/null || { echo "make demo-fleet needs $tool (make deps)"; exit 1; }
done
[ -x "$NAMETAG" ] && [ -x "$NAMETAGD" ] || { echo "build first: make"; exit 1; }
cgroup2_mount >/dev/null || { echo "no cgroup v2 mount found"; exit 1; }
live_init
write_helpers

bold "1. etcd (TLS, client certificates, a role per node) and the signer, the only holder of the upstream key"
fleet_up || die "etcd or the signer did not come up"
echo "etcd $(etcd --version | awk '/etcd Version/ { print $3 }') in network namespace $ETCD_NS; signer pid $SIGNER_PID"

bold "2. The fleet's configuration, written once"
mkcg n1/shop/frontend n1/shop/intruder n2/shop/catalogue
cat >"$LIVE_DIR/policy.json" <<EOF
{"namespaces": {"shop": {"rules": [
  {"action": "allow", "from": ["spiffe://$FLEET_TD/ns/shop/sa/frontend"],
   "to": ["spiffe://$FLEET_TD/ns/shop/sa/catalogue"], "ports": [$PORT]}]}}}
EOF
nt ns add shop --cgroup shop --hosts n1,n2 || die "ns add"
nt policy load "$LIVE_DIR/policy.json" || die "policy load"
nt ns enable shop --mode strict || die "ns enable"

bold "3. Two nodes join, each with a one-time token (their CA keys never leave them)"
# The root pinned for the first join, as openssl prints its fingerprint.
say "openssl x509 -in root.crt -noout -fingerprint -sha256"
pin=$(openssl x509 -in "$FLEET_PKI/root.crt" -noout -fingerprint -sha256) || die "root fingerprint"
echo "$pin"
for i in 1 2; do
	n=${FLEET_NODES[$i-1]}
	say "nametag --etcd ... node token create $n --ttl 10m"
	tok=$(op node token create "$n" --ttl 10m 2>/dev/null) || die "token for $n"
	say "nametagd --etcd https://$(fleet_ip "$i"):2379 --node $n --join-token ${tok:0:14}... --trust-anchor ${pin#*=}  (in netns node-$n)"
	FLEET_NODE_ARGS="--trust-anchor ${pin#*=}" node_up "$i" "$tok" >/dev/null ||
		die "$n did not join"
done
veth_pair "${FLEET_NODE_NS[n1]}" "$N1_ADDR/24" "${FLEET_NODE_NS[n2]}" "$N2_ADDR/24" ||
	die "veth between the nodes"
for n in n1 n2; do
	ntd "$n" proxy add "/run/netns/${FLEET_NODE_NS[$n]}" >/dev/null ||
		die "$n serves its network namespace"
done
in_sync() {
	[ "$(node_status "$1" | jq -r .in_sync)" = true ]
}
# Each node's record in etcd says so at its next tick (a second later).
records_in_sync() {
	op -j node list 2>/dev/null | jq -e 'length == 2 and all(.[]; .record.in_sync)' >/dev/null
}
wait_for 15 eval 'in_sync n1 && in_sync n2 && records_in_sync' ||
	echo "(a node is not in sync yet)"
nt node list

bold "4. frontend (on n1) -> catalogue (on n2): mTLS between the nodes, allowed by the fleet's policy"
start_server catalogue 0.0.0.0 "$PORT" "${FLEET_NODE_NS[n2]}" \
	"$LIVE_CG/n2/shop/catalogue" || die "catalogue on n2"
call() {
	run_in_cgroup "$LIVE_CG/n1/shop/$1" ip netns exec "${FLEET_NODE_NS[n1]}" \
		"$PY" "$LIVE_DIR/client.py" "$N2_ADDR" "$PORT" "$1" 2>/dev/null
}
say "frontend: connect $N2_ADDR:$PORT"
wait_for 10 eval 'call frontend | grep -q srv:frontend' &&
	echo "frontend got an answer: $(call frontend | awk '{ print $3 }')" ||
	echo "frontend got no answer (unexpected: see $LIVE_DIR)"

bold "5. intruder (on n1) -> catalogue: no rule allows it, refused"
say "intruder: connect $N2_ADDR:$PORT"
out=$(call intruder)
case $out in
*srv:intruder*) echo "the intruder got through (unexpected)" ;;
*) echo "the intruder was refused: ${out#* }" ;;
esac

bold "6. n2's flows: both identities, verified across nodes"
say "nametag -j flow list | jq ...   (on n2)"
ntd n2 -j flow list | jq -r '.[] | "\(.verdict)\t\(.src_spiffe_id // "?") -> \(.dst_spiffe_id // "?")  \(.reason // "")"'

bold "7. Cleaning up: nodes, signer, etcd, network namespaces, cgroups, bpffs"
kill -TERM "$SIGNER_PID" 2>/dev/null
wait "$SIGNER_PID" 2>/dev/null
etcd_stop
live_cleanup
left=$(leftovers)
if [ -z "$left" ]; then
	echo "nothing left behind"
else
	echo "left behind: $left"
	exit 1
fi
