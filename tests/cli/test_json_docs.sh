#!/usr/bin/env bash
# docs/json.md documents every -j shape (issue #13): each key the daemon
# answers with (protocol.h's replies and objects) and each key the CLI
# writes itself is named there; every object has its section; and the
# daemon spells no key of its own outside protocol.h, so one thing has one
# name (proxy list's outbound_port against status's outbound4_port was
# such a drift).
set -u
cd "$(dirname "$0")/../.."
. tests/cli/lib.sh

DOC=docs/json.md
[ -f "$DOC" ] || { t_fail "$DOC exists"; t_done; exit 1; }
# The keys of replies and of the objects in them: protocol.h from its
# "replies" section on.
for k in $(sed -n '/---- replies/,$p' userspace/daemon/protocol.h |
	   sed -n 's/^#define CTL_[A-Z0-9_]*[ \t]*"\([a-z0-9_]*\)".*/\1/p' | sort -u); do
	t_check "$DOC names the reply key $k" grep -q "\`$k\`\\|\"$k\"" "$DOC"
done
for k in $(grep -ho 'ToObject([a-z_>-]*, "[a-z0-9_]*"' tools/*.c |
	   sed 's/.*"\(.*\)"/\1/' | sort -u); do
	t_check "$DOC names the CLI's key $k" grep -q "\`$k\`\\|\"$k\"" "$DOC"
done
for obj in $("$NAMETAG" help 2>&1 | sed -n '/OBJECT :=/,/}/p' | tr -d '{}|' | sed 's/.*OBJECT :=//'); do
	t_check "$DOC has a section for nametag $obj" grep -q "^## .*\`nametag $obj\`" "$DOC"
done
t_check "the daemon writes no key outside protocol.h" \
	not grep -n 'ToObject([a-z_>-]*, "' userspace/daemon/ctl_*.c
t_check "one name for the outbound ports: no outbound_port any more" \
	not grep -rn '"outbound_port"' userspace tools
t_done
