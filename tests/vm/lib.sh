# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
#
# What the tests/vm suites share (sourced; T_NAME set first): the counters
# and the summary line tests/run reads, the skip on a kernel without kTLS,
# and two pods: network namespaces $A and $B joined by veth (10.$NET.0.1
# and .2), a cgroup subtree $CG for their cgroups, a private bpffs and
# state under $D; everything is removed on exit (pids in the pids array
# are killed first).
NT=${NAMETAG:-build/nametag}
NTD=${NAMETAGD:-build/nametagd}
passed=0
failed=0
skipped=0
pids=()
ok() { passed=$((passed + 1)); echo "ok   $T_NAME/$1"; }
fail() { failed=$((failed + 1)); echo "FAIL $T_NAME/$1"; [ $# -gt 1 ] && echo "    $2"; }
check() { local name=$1; shift; if "$@" >/dev/null 2>&1; then ok "$name"; else fail "$name" "$*"; fi; }
done_() { echo "$T_NAME: $passed passed, $failed failed, $skipped skipped"; [ "$failed" -eq 0 ]; }
# /proc/net/tls_stat is per network namespace: add up both pods'.
counter() {
	{ ip netns exec "$A" cat /proc/net/tls_stat
	  ip netns exec "$B" cat /proc/net/tls_stat; } 2>/dev/null |
		awk -v k="$1" '$1 == k { n += $2 } END { print n + 0 }'
}

# On a kernel without kTLS: say so, count one skip, exit 0.
vm_skip_unless_ktls() {
	"$NT" -j feature probe 2>/dev/null | jq -e '.ktls.available' >/dev/null && return
	echo "skip: this kernel has no kTLS (tests/vm/run-in-vm.sh runs me on one)"
	skipped=1
	done_
	exit 0
}

vm_cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	"$NTD" --cleanup --bpffs "$D/bpffs" >/dev/null 2>&1
	umount "$D/bpffs" 2>/dev/null
	ip netns del "$A" 2>/dev/null
	ip netns del "$B" 2>/dev/null
	for p in $(find "$CG" -name cgroup.procs -exec cat {} + 2>/dev/null); do
		kill -9 "$p" 2>/dev/null
	done
	sleep 0.2
	find "$CG" -depth -type d -exec rmdir {} \; 2>/dev/null
	rm -rf "$D"
}

# vm_pods TAG NET CGROUP...: the two pods, and the cgroups named under $CG.
vm_pods() {
	local tag=$1 net=$2
	shift 2
	TAG=$tag
	D=$(mktemp -d /tmp/nametag-vm.XXXXXX)
	CG=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)/$TAG
	A=${TAG}a
	B=${TAG}b
	trap vm_cleanup EXIT
	for g in "$@"; do mkdir -p "$CG/$g"; done
	mkdir -p "$D/bpffs"
	mount -t bpf bpf "$D/bpffs"
	ip netns add "$A" && ip netns add "$B"
	ip link add "${TAG}x" type veth peer name "${TAG}y"
	ip link set "${TAG}x" netns "$A" && ip link set "${TAG}y" netns "$B"
	ip -n "$A" addr add "10.$net.0.1/24" dev "${TAG}x"
	ip -n "$B" addr add "10.$net.0.2/24" dev "${TAG}y"
	ip -n "$A" link set lo up && ip -n "$B" link set lo up
	ip -n "$A" link set "${TAG}x" up && ip -n "$B" link set "${TAG}y" up
}

# The pod's netns first, then its cgroup: nametagd serves the netns a
# process is in the moment it joins an enrolled cgroup.
in_cg() {
	local g=$1 ns=$2
	shift 2
	nsenter --net="/run/netns/$ns" bash -c \
		'echo $$ >"$0/cgroup.procs" && exec ip netns exec "$@"' "$CG/$g" "$ns" "$@"
}

N() { "$NT" --run-dir "$D/run" --state-dir "$D/state" "$@"; }

# Waits for nametagd's control socket.
vm_daemon_up() {
	for _ in $(seq 100); do [ -S "$D/run/nametagd.sock" ] && break; sleep 0.1; done
	check "daemon up" test -S "$D/run/nametagd.sock"
}
