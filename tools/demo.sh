#!/usr/bin/env bash
# make demo: nametag's main job on its built-in defaults.
#
# Two network namespaces joined by a veth pair stand for two pods. A
# namespace "shop" (a cgroup subtree) holds three services: frontend and
# intruder in pod A, catalogue (an HTTP server on :8080) in pod B. shop is
# enrolled strict with one rule: frontend may call catalogue on 8080. Then:
# the allowed request, the intruder's denied one, a plaintext attempt from
# outside the mesh, and `nametag flow list`. Everything runs under a private
# cgroup subtree, a private bpffs and temp dirs, and is removed at exit.
set -u
cd "$(dirname "$0")/.."
NT=${NAMETAG:-build/nametag}
NTD=${NAMETAGD:-build/nametagd}
TAG=ntdemo$$
D=$(mktemp -d /tmp/nametag-demo.XXXXXX)
CG2=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
CG=$CG2/$TAG
NSA=${TAG}a
NSB=${TAG}b
daemon=
server=

bold() { printf '\n\033[1m%s\033[0m\n' "$*"; }
run() { printf '\033[2m$ %s\033[0m\n' "$*"; "$@"; }

# Kills what runs in a cgroup subtree, waits until it is empty, removes it
# deepest first.
remove_cgroup_tree() {
	local root=$1 g p i
	[ -d "$root" ] || return 0
	for i in $(seq 50); do
		p=$(find "$root" -name cgroup.procs -exec cat {} + 2>/dev/null)
		[ -z "$p" ] && break
		kill -9 $p 2>/dev/null
		sleep 0.1
	done
	find "$root" -depth -type d -exec rmdir {} \; 2>/dev/null
}

cleanup() {
	[ -n "$server" ] && kill "$server" 2>/dev/null
	[ -n "$daemon" ] && kill "$daemon" 2>/dev/null
	wait 2>/dev/null
	"$NTD" --cleanup --bpffs "$D/bpffs" >/dev/null 2>&1
	umount "$D/bpffs" 2>/dev/null
	ip netns del "$NSA" 2>/dev/null
	ip netns del "$NSB" 2>/dev/null
	remove_cgroup_tree "$CG"
	rm -rf "$D"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

[ "$(id -u)" = 0 ] || { echo "make demo needs root (BPF, cgroups, netns)"; exit 1; }
[ -n "$CG2" ] || { echo "no cgroup v2 mount found"; exit 1; }
[ -x "$NT" ] && [ -x "$NTD" ] || { echo "build first: make"; exit 1; }

# in_cgroup GROUP NETNS CMD...: run CMD as a process of GROUP inside NETNS.
# The netns is entered first (nsenter keeps cgroupfs in view, `ip netns
# exec` remounts /sys): nametagd serves the netns a process is in the
# moment it joins an enrolled cgroup, which must be the pod's.
in_cgroup() {
	local g=$1 ns=$2
	shift 2
	nsenter --net="/run/netns/$ns" bash -c \
		'echo $$ >"$0/cgroup.procs" && exec ip netns exec "$@"' "$CG/$g" "$ns" "$@"
}

bold "# two pods: $NSA (10.99.0.1) and $NSB (10.99.0.2), joined by a veth pair"
mkdir -p "$CG"/shop/{frontend,intruder,catalogue} "$CG/outside" "$D/bpffs" "$D/www"
mount -t bpf bpf "$D/bpffs"
ip netns add "$NSA" && ip netns add "$NSB"
ip link add "${TAG}x" type veth peer name "${TAG}y"
ip link set "${TAG}x" netns "$NSA" && ip link set "${TAG}y" netns "$NSB"
ip -n "$NSA" addr add 10.99.0.1/24 dev "${TAG}x"
ip -n "$NSB" addr add 10.99.0.2/24 dev "${TAG}y"
ip -n "$NSA" link set lo up && ip -n "$NSB" link set lo up
ip -n "$NSA" link set "${TAG}x" up && ip -n "$NSB" link set "${TAG}y" up

bold "# nametagd on a private cgroup subtree and bpffs"
"$NTD" --state-dir "$D/state" --run-dir "$D/run" --cgroup-root "$CG" \
	--bpffs "$D/bpffs" --trust-domain demo.nametag.test >"$D/nametagd.log" 2>&1 &
daemon=$!
N() { "$NT" --run-dir "$D/run" --state-dir "$D/state" "$@"; }
for _ in $(seq 50); do [ -S "$D/run/nametagd.sock" ] && break; sleep 0.1; done
[ -S "$D/run/nametagd.sock" ] || { cat "$D/nametagd.log"; exit 1; }

# No `proxy add`: nametagd serves each pod's network namespace from the
# moment an enrolled process is in it.
run N ns add shop --cgroup "$CG/shop"
cat >"$D/policy.json" <<'EOF'
{"namespaces": {"shop": {"rules": [
  {"action": "allow",
   "from": ["spiffe://demo.nametag.test/ns/shop/sa/frontend"],
   "to": ["spiffe://demo.nametag.test/ns/shop/sa/catalogue"],
   "ports": [8080]}]}}}
EOF
run N policy load "$D/policy.json"
run N ns enable shop --mode strict

echo "catalogue: 42 items in stock" >"$D/www/index.html"
(cd "$D/www" && in_cgroup shop/catalogue "$NSB" python3 -m http.server 8080 \
	--bind 10.99.0.2 >"$D/http.log" 2>&1) &
server=$!
for _ in $(seq 50); do
	ip netns exec "$NSB" ss -ltn 2>/dev/null | grep -q ':8080 ' && break
	sleep 0.1
done

bold "# frontend -> catalogue:8080 (allowed: mTLS between the node proxies)"
run in_cgroup shop/frontend "$NSA" curl -sS -m 5 http://10.99.0.2:8080/
bold "# frontend again (a new connection, carried by the same mTLS connection: no handshake)"
run in_cgroup shop/frontend "$NSA" curl -sS -m 5 http://10.99.0.2:8080/
bold "# intruder -> catalogue:8080 (same pod, no allow rule: denied)"
run in_cgroup shop/intruder "$NSA" curl -sS -m 5 http://10.99.0.2:8080/
bold "# a process outside the mesh -> catalogue:8080 (plaintext: refused in strict)"
run in_cgroup outside "$NSA" curl -sS -m 5 http://10.99.0.2:8080/

bold "# what happened"
run N flow list
run N proxy status
run N svid list
bold "demo done; everything it created is being removed"
