#!/usr/bin/env bash
# The rules of docs/architecture.md that a program can check:
#  - each folder includes only what its row allows: every library is
#    compiled (-fsyntax-only) against an include tree that holds nothing
#    else, and every #include is read too; userspace/proxy and
#    userspace/datapath never include a daemon header;
#  - only userspace/datapath uses the skeletons, and no map is found by
#    its name;
#  - JSON is built only at the edges (the control socket's ctl_*.c, the
#    state files, etcd's values in fleet*.c, the audit log, the CLI), never in
#    the datapath or the proxy; the metrics are Prometheus text, not JSON;
#  - the control protocol's command names are written once (protocol.h);
#  - no prototype pasted into a .c file, and the Makefile keeps
#    -Wmissing-prototypes -Wredundant-decls -Werror;
#  - no source file over 700 lines.
set -u
cd "$(dirname "$0")/../.."
. tests/cli/lib.sh

case $NAMETAG in
*/asan/*) t_skip "the layout is checked once, with the plain build (NAMETAG=$NAMETAG)" ;;
esac

SKELS=build/bpf
[ -e "$SKELS/nametag.skel.h" ] && [ -e build/proto/workload.pb-c.h ] ||
	t_skip "build first: $SKELS/*.skel.h, build/proto/*.pb-c.h (make)"

# includes_of FILE...: the "quoted" includes, one per line, as FILE: INC.
includes_of() {
	grep -H -o '^#include "[^"]*"' "$@" | sed 's/#include "\(.*\)"$/\1/'
}

# only_includes NAME ALLOWED-REGEX FILE...: every quoted include of the
# files matches ALLOWED-REGEX.
only_includes() {
	local name=$1 allowed=$2 bad
	shift 2
	bad=$(includes_of "$@" | grep -Ev ":($allowed)\$")
	t_check "$name includes only what docs/architecture.md allows" test -z "$bad"
	[ -z "$bad" ] || echo "$bad" | sed 's/^/    /'
}

only_includes "lib/" 'lib/.*|bpf/nametag\.h' lib/*.[ch]
only_includes "ca/" 'ca/.*|lib/ntcore\.h' ca/*.[ch]
only_includes "attest/" 'attest/.*|ca/ca\.h|lib/ntcore\.h' attest/*.[ch]
only_includes "enforce/" 'enforce/.*|ca/ca\.h|lib/ntcore\.h' enforce/*.[ch]
only_includes "userspace/datapath/" \
	'userspace/datapath/.*|lib/ntcore\.h|bpf/nametag\.h|bpf/[a-z]+\.skel\.h' \
	userspace/datapath/*.[ch]
only_includes "userspace/proxy/" \
	'userspace/proxy/.*|userspace/datapath/datapath\.h|lib/ntcore\.h|bpf/nametag\.h|ca/ca\.h|enforce/enforce\.h' \
	userspace/proxy/*.[ch]
only_includes "userspace/workload_api/" \
	'userspace/workload_api/.*|ca/ca\.h|lib/ntcore\.h|workload\.pb-c\.h' \
	userspace/workload_api/*.[ch]
only_includes "userspace/etcd/" 'userspace/etcd/.*|lib/ntcore\.h' \
	userspace/etcd/*.[ch]
only_includes "userspace/daemon/" \
	'userspace/daemon/.*|userspace/proxy/proxy\.h|userspace/datapath/datapath\.h|userspace/workload_api/workload_api\.h|userspace/etcd/etcd\.h|lib/ntcore\.h|bpf/nametag\.h|ca/ca\.h|attest/attest\.h|enforce/enforce\.h' \
	userspace/daemon/*.[ch]
only_includes "tools/" \
	'tools/main\.h|userspace/daemon/protocol\.h|userspace/etcd/etcd\.h|lib/ntcore\.h|bpf/nametag\.h|ca/ca\.h|enforce/enforce\.h|workload\.pb-c\.h' \
	tools/*.[ch]
t_check "no daemon header in userspace/proxy, userspace/datapath or userspace/workload_api" \
	not grep -rn '#include "userspace/daemon/' userspace/proxy userspace/datapath \
		userspace/workload_api
t_check "the skeletons only in userspace/datapath/datapath_int.h (and its test)" \
	test "$(grep -rl --include=*.[ch] 'skel\.h"' lib ca attest enforce userspace tools tests |
		sort | tr '\n' ' ')" = "tests/unit/test_sk_lookup.c userspace/datapath/datapath_int.h "

# compile_alone NAME DIR INCLUDE-PATH...: every .c of DIR, syntax only,
# against a tree holding only the allowed headers (and system headers);
# a forbidden include then fails to compile. A path SRC=DST puts SRC at
# DST in the tree (the skeletons, which the build writes).
compile_alone() {
	local name=$1 dir=$2 inc=$T_DIR/inc-$1 p src f fails=""
	shift 2
	for p in "$@"; do
		src=${p%%=*}
		p=${p#*=}
		mkdir -p "$inc/$(dirname "$p")"
		ln -sfn "$PWD/$src" "$inc/$p"
	done
	for f in "$dir"/*.c; do
		${CC:-cc} -std=gnu11 -D_GNU_SOURCE -DNAMETAG_VERSION='"0"' \
			-fsyntax-only -I"$inc" -I/usr/include/libnl3 "$PWD/$f" \
			2>>"$T_DIR/$name.err" || fails="$fails $f"
	done
	t_check "$name compiles with only its allowed include paths" test -z "$fails"
	[ -z "$fails" ] && return
	echo "    failed:$fails"
	grep -m 5 error "$T_DIR/$name.err" | sed 's/^/    /'
}

compile_alone lib lib lib bpf/nametag.h
compile_alone ca ca ca lib bpf/nametag.h
compile_alone attest attest attest ca/ca.h lib bpf/nametag.h
compile_alone enforce enforce enforce ca/ca.h lib bpf/nametag.h
compile_alone datapath userspace/datapath userspace/datapath lib bpf/nametag.h \
	"$SKELS/nametag.skel.h=bpf/nametag.skel.h" \
	"$SKELS/lookup.skel.h=bpf/lookup.skel.h"
compile_alone proxy userspace/proxy userspace/proxy userspace/datapath/datapath.h \
	lib bpf/nametag.h ca/ca.h enforce/enforce.h
compile_alone workload_api userspace/workload_api userspace/workload_api \
	ca/ca.h lib bpf/nametag.h build/proto/workload.pb-c.h=workload.pb-c.h \
	build/proto/google/protobuf/struct.pb-c.h=google/protobuf/struct.pb-c.h
compile_alone etcd userspace/etcd userspace/etcd lib bpf/nametag.h
compile_alone tools tools tools userspace/daemon/protocol.h lib bpf/nametag.h \
	ca/ca.h enforce/enforce.h userspace/etcd/etcd.h \
	build/proto/workload.pb-c.h=workload.pb-c.h \
	build/proto/google/protobuf/struct.pb-c.h=google/protobuf/struct.pb-c.h

# Maps only through the skeleton: no lookup by name, no map name in a
# string (a renamed map must fail the build, not a lookup at run time).
maps=$(sed -n 's/^} \([a-z_]*\) SEC(".maps");$/\1/p' bpf/*.bpf.c bpf/*.bpf.h | sort -u | paste -sd'|')
t_check "the BPF maps are known ($maps)" test -n "$maps"
t_check "no map found by its name" \
	not grep -rn 'find_map_by_name\|bpf_object__find_map' userspace lib
t_check "no map named in a string to a map call or a pin path in userspace/" \
	not grep -rnE "map[a-z_]*\([^)]*\"($maps)\"|\"maps/($maps)\"" userspace

# JSON only at the edges.
t_check "no JSON in the datapath or the proxy" \
	not grep -rln 'cJSON' userspace/datapath userspace/proxy
# The Workload API reads a validated token's claims (cJSON from ca/) into
# protobuf; it never writes JSON.
t_check "the Workload API builds no JSON" \
	not grep -rln 'cJSON_Create\|cJSON_Add' userspace/workload_api
json=$(grep -l 'cJSON_Create\|cJSON_Add' userspace/daemon/*.c |
	grep -v '/ctl_[a-z]*\.c$' | grep -vE '/(control|namespaces|netns|config|audit|fleet|fleet_config|fleet_jwt)\.c$')
t_check "in the daemon, JSON only in ctl_*.c, the state files, etcd's values and the audit log" test -z "$json"
[ -z "$json" ] || echo "    $json"

# One protocol header: no command name spelled outside it (the dotted
# ones by name; any command by the calls that send or match one).
t_check "commands are sent and matched by protocol.h's names" \
	not grep -rnE 'ctl_request\("|CTL_CMD, "|\{ "[a-z]+\.[a-z]+",' tools userspace tests/live
for c in $(sed -n 's/^#define CTL_[A-Z_0-9]*[[:space:]]*"\([a-z]*\.[a-z]*\)".*/\1/p' \
		userspace/daemon/protocol.h); do
	where=$(grep -rlnF --include=*.c --include=*.h "\"$c\"" userspace tools tests/live |
		grep -v 'userspace/daemon/protocol.h')
	t_check "command \"$c\" written only in protocol.h" test -z "$where"
	[ -z "$where" ] || echo "    $where"
done

# Prototypes live in headers: a .c file declares no function it does not
# define (static ones aside).
pasted=$(python3 - lib ca attest enforce userspace/*/ tools <<'PY'
import re, sys, glob
decl = re.compile(r'^(?!static|typedef|extern|return|struct [a-z_]+ \{|enum|union|#|\s|}|/)'
                  r'[a-z_][a-z0-9_ \*]*?\b([a-z_][a-z0-9_]*)\([^;{]*\)\s*;', re.M | re.S)
for d in sys.argv[1:]:
    for f in sorted(glob.glob(d.rstrip('/') + '/*.c')):
        text = open(f).read()
        for m in decl.finditer(text):
            if '=' in m.group(0).split('(')[0]:
                continue
            print('%s: %s' % (f, m.group(1)))
PY
)
t_check "no prototype pasted into a .c file" test -z "$pasted"
[ -z "$pasted" ] || echo "$pasted" | sed 's/^/    /'
for w in -Wmissing-prototypes -Wredundant-decls -Werror; do
	t_check "the Makefile builds with $w" grep -q -- "$w" Makefile
done

# Files read in one sitting.
big=$(git ls-files '*.c' '*.h' '*.sh' 2>/dev/null | grep -v '^vmlinux.h$' |
	xargs -r wc -l | awk '$2 != "total" && $1 > 700 { print $2 " (" $1 ")" }')
t_check "no source file over 700 lines" test -z "$big"
[ -z "$big" ] || echo "    $big"
t_done
