#!/usr/bin/env bash
# `make install` with DESTDIR and PREFIX lays out a working installation:
# both programs (and they run), both man pages (and they render), the bash
# completion, and the systemd unit with its paths filled in for the
# prefix; `make uninstall` takes it all away again. Runs once, against the
# plain build (the tree's Makefile installs build/).
set -u
cd "$(dirname "$0")/../.."
. tests/cli/lib.sh

case $NAMETAG in
*/asan/*)
	t_skip "make install runs once, with the plain build (NAMETAG=$NAMETAG)" ;;
esac

# install_into ROOT [PREFIX]: make install into ROOT, quietly.
install_into() {
	make --no-print-directory -s install DESTDIR="$1" ${2:+PREFIX="$2"} \
		>"$T_DIR/make.log" 2>&1
}

R=$T_DIR/root
expect_ok "make install DESTDIR PREFIX=/usr" install_into "$R" /usr
for f in usr/sbin/nametag usr/sbin/nametagd; do
	t_check "$f installed, executable" test -x "$R/$f"
done
for f in usr/share/man/man8/nametag.8 usr/share/man/man8/nametagd.8 \
	 usr/share/bash-completion/completions/nametag \
	 usr/lib/systemd/system/nametagd.service usr/share/doc/nametag/README.md; do
	t_check "$f installed" test -s "$R/$f"
done
UNIT=$R/usr/lib/systemd/system/nametagd.service
t_check "unit runs the installed nametagd" grep -q '^ExecStart=/usr/sbin/nametagd ' "$UNIT"
t_check "unit points at the installed README" grep -q 'file:///usr/share/doc/nametag/README.md' "$UNIT"
t_check "unit has no placeholder left" not grep -q '@[A-Z]*@' "$UNIT"
expect_ok "installed nametag runs" "$R/usr/sbin/nametag" --version
t_check "installed nametag says its version" grep -q '^nametag v' "$T_DIR/out"
expect_ok "installed nametagd runs" "$R/usr/sbin/nametagd" --version
expect_ok "installed nametagd --help" "$R/usr/sbin/nametagd" --help
t_check "installed completion parses" bash -n "$R/usr/share/bash-completion/completions/nametag"
if command -v groff >/dev/null; then
	for m in nametag nametagd; do
		t_check "$m.8 renders without warnings" \
			bash -c "groff -man -Tutf8 -ww -z '$R/usr/share/man/man8/$m.8' 2>&1 | grep -q . && exit 1 || exit 0"
	done
fi

D=$T_DIR/default
expect_ok "make install, default PREFIX" install_into "$D"
t_check "default prefix is /usr/local" test -x "$D/usr/local/sbin/nametagd"
t_check "unit of the default prefix runs /usr/local/sbin/nametagd" \
	grep -q '^ExecStart=/usr/local/sbin/nametagd ' "$D/usr/local/lib/systemd/system/nametagd.service"
expect_ok "make uninstall" make --no-print-directory -s uninstall DESTDIR="$D"
t_check "uninstall leaves no file" test -z "$(find "$D" -type f)"
t_done
