#!/usr/bin/env bash
# `nametag prog`, `map` and `feature` against real pinned objects: the main
# object is loaded and pinned by bpftool into a private bpffs, and one
# sk_lookup link is made in a private network namespace, so nametag reads
# what another tool wrote. Nothing is attached to a cgroup. Needs root; the
# bpffs, the netns and the mount namespace go away at exit, pass or fail.
set -u
cd "$(dirname "$0")/../.."
. tests/cli/lib.sh

if [ "$(id -u)" != 0 ]; then
	t_skip "needs root (bpffs mount, BPF loads, network namespaces)"
fi

# libbpf turns '.' into '_' in pin paths, so no dot in this one.
B=$(mktemp -d /tmp/nametag-bpffs-XXXXXX)
NETNS=nametag-bpfcli-$$
M=$B/nametag/maps
nt() { "$NAMETAG" --bpffs "$B" "$@"; }

bpf_cleanup() {
	ip netns del "$NETNS" 2>/dev/null
	mountpoint -q "$B" && umount "$B"
	rmdir "$B" 2>/dev/null
	t_cleanup
}
trap bpf_cleanup EXIT

# link_netns PROG_PIN NETNS_PATH LINK_PIN: BPF_LINK_CREATE an sk_lookup
# link and pin it; bpftool 7.1 has no command that pins links.
link_netns() {
	python3 - "$@" <<'PY'
import ctypes, os, struct, sys
NR_BPF = {"x86_64": 321, "aarch64": 280}[os.uname().machine]
BPF_OBJ_PIN, BPF_OBJ_GET, BPF_LINK_CREATE, BPF_SK_LOOKUP = 6, 7, 28, 36
libc = ctypes.CDLL(None, use_errno=True)
def bpf(cmd, attr):
    buf = ctypes.create_string_buffer(attr, 128)
    fd = libc.syscall(NR_BPF, cmd, buf, 128)
    if fd < 0:
        sys.exit("bpf(%d): %s" % (cmd, os.strerror(ctypes.get_errno())))
    return fd
def path_attr(path, fd=0):
    p = ctypes.create_string_buffer(path.encode())
    path_attr.keep = p
    return struct.pack("<QII", ctypes.addressof(p), fd, 0)
prog = bpf(BPF_OBJ_GET, path_attr(sys.argv[1]))
ns = os.open(sys.argv[2], os.O_RDONLY)
link = bpf(BPF_LINK_CREATE, struct.pack("<IIII", prog, ns, BPF_SK_LOOKUP, 0))
bpf(BPF_OBJ_PIN, path_attr(sys.argv[3], link))
PY
}

# jqt FILTER...: stdin is not empty and matches (jq 1.6 -e exits 0 on
# empty input, which would pass a check that saw nothing).
jqt() {
	local in
	in=$(cat)
	[ -n "$in" ] && jq -e "$@" >/dev/null <<<"$in"
}

# json_doc: stdin is one JSON object or array.
json_doc() {
	jqt 'type == "object" or type == "array"'
}

# The first cgroup2 mount point as /proc/self/mountinfo spells it.
cgroup2_mnt() {
	awk '{ for (i = 7; i <= NF; i++) if ($i == "-") {
		if ($(i + 1) == "cgroup2") print $5; break } }' \
		/proc/self/mountinfo | head -n 1
}

# --- no pins: a clear error -----------------------------------------------------
expect_fail "prog list without pins" "is nametagd running? (--bpffs DIR)" \
	"$NAMETAG" --bpffs "$T_DIR/none" prog list
expect_fail "map list without pins" "is nametagd running?" \
	"$NAMETAG" --bpffs "$T_DIR/none" map list
expect_fail "json prog list without pins" '"error"' \
	"$NAMETAG" --bpffs "$T_DIR/none" -j prog list
t_check "json missing pins parses" json_doc <<<"$OUT"

# --- load and pin the datapath into a private bpffs ------------------------------
expect_ok "mount private bpffs" mount -t bpf bpf "$B"
mkdir -p "$B/nametag/links"
expect_ok "bpftool loadall" bpftool prog loadall build/bpf/nametag.bpf.o \
	"$B/nametag/progs" pinmaps "$M"

for obj in prog map feature; do
	expect_ok "$obj help" "$NAMETAG" "$obj" help
	expect_ok "$obj help json" "$NAMETAG" -j "$obj" help
	t_check "$obj help json parses" json_doc <<<"$OUT"
done

# --- prog --------------------------------------------------------------------------
expect_ok "prog list" nt prog list
t_check "prog list names nt_connect4" grep -q "name nt_connect4" <<<"$OUT"
t_check "prog list shows pins" grep -q "pinned $B/nametag/progs/nt_sockops" <<<"$OUT"
expect_ok "prog list json" nt -j prog list
t_check "prog list json parses" json_doc <<<"$OUT"
t_check "prog list json names" jqt '[.[].name] | contains(["nt_connect4",
	"nt_connect6", "nt_sendmsg4", "nt_sendmsg6", "nt_sock_create",
	"nt_sockops", "nt_exec", "nt_fork", "nt_exit", "nt_sys_socket"])' <<<"$OUT"
t_check "prog list json types" jqt '(.[] | select(.name == "nt_connect4") |
	.type == "cgroup_sock_addr" and (.tag | length) == 16 and .id > 0) and
	(.[] | select(.name == "nt_exec") | .type == "tracing")' <<<"$OUT"
expect_ok "prog prefix and alias" nt -j prog s
t_check "prog show = list" jqt 'length >= 8' <<<"$OUT"
expect_fail "ambiguous object prefix" "ambiguous" nt pr list

# An sk_lookup program reachable only through its pinned link, as the
# daemon's per-netns instances are.
if command -v python3 >/dev/null && ip netns add "$NETNS"; then
	ino=$(stat -L -c %i "/run/netns/$NETNS")
	expect_ok "bpftool load lookup" bpftool prog load build/bpf/lookup.bpf.o \
		"$B/lookup" map name ns_mode pinned "$M/ns_mode" \
		map name proxies pinned "$M/proxies" \
		map name proxy_socks pinned "$M/proxy_socks" \
		map name listeners pinned "$M/listeners" \
		map name listen_socks pinned "$M/listen_socks" \
		map name tickets pinned "$M/tickets" \
		map name events pinned "$M/events" \
		map name stats pinned "$M/stats"
	expect_ok "pin sk_lookup link" link_netns "$B/lookup" \
		"/run/netns/$NETNS" "$B/nametag/links/lookup-$ino"
	rm -f "$B/lookup"
	expect_ok "prog list with link" nt -j prog list
	t_check "link under its program" jqt --argjson ino "$ino" '.[] |
		select(.name == "nt_lookup") | .pinned == null and
		(.links[0] | .type == "netns" and .netns_ino == $ino and
		 .attach_type == "sk_lookup")' <<<"$OUT"
	expect_ok "prog list plain with link" nt prog list
	t_check "plain link line" grep -q "link [0-9]*: netns  netns_ino $ino  attach_type sk_lookup" <<<"$OUT"
else
	t_skip_case "sk_lookup link" "link checks need python3 and 'ip netns add'"
fi

# A pin of the wrong kind is reported, not fatal.
bpftool map pin pinned "$M/ns_mode" "$B/nametag/progs/zz_not_a_prog"
expect_ok "prog list with a map pinned in progs" nt -j prog list
t_check "wrong kind reported" jqt '.[] | select(.pinned | tostring |
	endswith("zz_not_a_prog")) | .error | length > 0' <<<"$OUT"
rm -f "$B/nametag/progs/zz_not_a_prog"

# --- map -----------------------------------------------------------------------------
expect_ok "map list" nt map list
t_check "map list shows ns_mode" grep -q "hash  name ns_mode" <<<"$OUT"
expect_ok "map list json" nt -j map list
t_check "map list json fields" jqt '.[] | select(.name == "ns_mode") |
	.type == "hash" and .bytes_key == 8 and .bytes_value == 8 and
	.max_entries == 1024 and .entries == 0' <<<"$OUT"
t_check "ringbuf has no entry count" jqt '.[] | select(.name == "events") |
	.type == "ringbuf" and has("entries") == false' <<<"$OUT"

expect_ok "dump empty ns_mode" nt -j map dump ns_mode
t_check "empty ns_mode is []" jqt '. == []' <<<"$OUT"
# cgroup 1234 -> strict (3), ns_id 7; little-endian
expect_ok "bpftool insert ns_mode" bpftool map update pinned "$M/ns_mode" \
	key hex d2 04 00 00 00 00 00 00 value hex 03 00 00 00 07 00 00 00
expect_ok "dump ns_mode" nt map dump ns_mode
t_check "ns_mode decoded" [ "$OUT" = "cgroup_id 1234  mode strict  ns_id 7" ]
expect_ok "dump ns_mode json" nt -j map dump ns_mode
t_check "ns_mode json decoded" jqt '. == [{"cgroup_id": 1234,
	"mode": "strict", "ns_id": 7}]' <<<"$OUT"
expect_ok "map list counts" nt -j map list
t_check "ns_mode has 1 entry" jqt '.[] | select(.name == "ns_mode") |
	.entries == 1' <<<"$OUT"

# proxies: netns 4026531840 -> outbound4 127.0.0.1:15001, slot 2, served,
# mesh port 15000, 5 listener records that did not fit
v4="00 00 00 00 00 00 00 00 00 00 ff ff 7f 00 00 01 99 3a 02 00"
v6="00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 01 9a 3a 0a 00"
expect_ok "bpftool insert proxies" bpftool map update pinned "$M/proxies" \
	key hex 00 00 00 f0 value hex $v4 $v6 02 00 00 00 01 00 00 00 \
	98 3a 00 00 00 00 00 00 05 00 00 00 00 00 00 00
expect_ok "dump proxies json" nt -j map dump proxies
t_check "proxies decoded" jqt '.[0] | .netns_ino == 4026531840 and
	.outbound4 == "127.0.0.1:15001" and .outbound6 == "[::1]:15002" and
	.slot == 2 and .flags == ["served"] and .mesh_port == 15000 and
	.listener_overflow == 5' <<<"$OUT"
expect_ok "dump proxies plain" nt map dump proxies
t_check "proxies plain" grep -q "outbound4 127.0.0.1:15001  outbound6 \[::1\]:15002" <<<"$OUT"

expect_fail "dump ringbuf" "cannot be dumped" nt map dump events
expect_fail "dump sockmap" "holds sockets" nt map dump proxy_socks
expect_fail "dump ringbuf json" '"error"' nt -j map dump events
t_check "dump ringbuf json parses" json_doc <<<"$OUT"
expect_ok "a map this nametag has no decoder for" bpftool map create "$M/zz_hex" \
	type array key 4 value 4 entries 1 name zz_hex
expect_ok "dump unknown layout as hex" nt -j map dump zz_hex
t_check "unknown layout hex" jqt '.[0] | .key == "00 00 00 00" and
	(.value | test("^[0-9a-f]{2}( [0-9a-f]{2}){3}$"))' <<<"$OUT"
rm -f "$M/zz_hex"
expect_fail "dump missing map names the pinned ones" "pinned maps: egress, events" \
	nt map dump nope
expect_fail "dump path is not a name" "no map '../maps/ns_mode'" \
	nt map dump ../maps/ns_mode
expect_fail "dump needs a name" "needs a map NAME" nt map dump

# --- feature ---------------------------------------------------------------------------
expect_ok "feature probe" nt feature probe
t_check "sk_lookup available" grep -q "^sk_lookup program type is available" <<<"$OUT"
t_check "private bpffs seen" grep -q "bpffs is mounted at $B" <<<"$OUT"
expect_ok "feature default command" nt -j feature
t_check "feature json parses" json_doc <<<"$OUT"
t_check "feature json sk_lookup" jqt '.program_types.sk_lookup.available and
	.map_types.ringbuf.available and .bpffs.available' <<<"$OUT"
t_check "feature json cgroup2 path" jqt --arg p "$(cgroup2_mnt)" \
	'.cgroup2.available and .cgroup2.path == $p' <<<"$OUT"
# kTLS, judged apart: the kernel has the tls module built in or loadable.
if [ -d /sys/module/tls ] || modprobe -n -q tls 2>/dev/null; then
	want=true
else
	want=false
fi
t_check "ktls as detected ($want)" jqt --argjson w "$want" \
	'.ktls.available == $w and (.ktls.available or .ktls.error == "ENOENT")' <<<"$OUT"
t_check "tls_stat as on disk" jqt --argjson w \
	"$([ -e /proc/net/tls_stat ] && echo true || echo false)" \
	'.ktls.tls_stat == $w' <<<"$OUT"
expect_ok "feature probe other dir" "$NAMETAG" --bpffs "$T_DIR" -j feature probe
t_check "non-bpffs dir reported" jqt '.bpffs.available == false' <<<"$OUT"

# mountinfo escapes: a cgroup2 mount at a path with a space and a tab, in a
# private mount namespace with the real cgroup2 mounts lazily unmounted.
CG="$T_DIR/cg two	x"
mkdir -p "$CG"
expect_ok "cgroup2 at an escaped path" unshare -m --propagation private \
	sh -c 'for m in $(awk '\''{ for (i = 7; i <= NF; i++) if ($i == "-") {
		if ($(i + 1) == "cgroup2") print $5; break } }'\'' /proc/self/mountinfo); do
		umount -l "$m"; done
		mount -t cgroup2 none "$1" && exec "$2" -j feature probe' sh "$CG" "$NAMETAG"
t_check "escaped cgroup2 path" jqt --arg p "$CG" '.cgroup2.path == $p' <<<"$OUT"

t_done
