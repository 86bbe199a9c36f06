#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The kTLS suite: build/tests/ktls_selftest on the running kernel.
#
# Inside the VM (run-in-vm.sh sets NAMETAG_VM=1; Debian's kernel has kTLS)
# every check must pass, the kernel counters must show that kTLS carried
# the bytes, and no decrypt error may appear. On a kernel without kTLS
# (the build machines) the selftest runs the checks that need none and
# must then report the skip: the fallback path is what is tested there.
# Ends with "vm/test_ktls: N passed, N failed".
set -u
cd "$(dirname "$0")/../.."

SELFTEST=${KTLS_SELFTEST:-build/tests/ktls_selftest}
T_NAME=vm/test_ktls
passed=0
failed=0

ok() {
	passed=$((passed + 1))
	echo "ok   $T_NAME/$1"
}

fail() {
	failed=$((failed + 1))
	echo "FAIL $T_NAME/$1"
}

tls_counter() {
	awk -v k="$1" '$1 == k { print $2 }' /proc/net/tls_stat 2>/dev/null
}

if [ ! -x "$SELFTEST" ]; then
	fail "selftest built ($SELFTEST missing: make $SELFTEST)"
	echo "$T_NAME: $passed passed, $failed failed"
	exit 1
fi

out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$SELFTEST" >"$out" 2>&1
rc=$?
# The selftest's own lines, minus its summary (ours ends the suite).
grep -v '^ktls_selftest: [0-9]* passed' "$out"
grep -q '^ktls_selftest: [0-9]* passed, 0 failed' "$out" &&
	ok "selftest checks" || fail "selftest checks"

if [ "${NAMETAG_VM:-}" = 1 ]; then
	[ "$rc" -eq 0 ] && ok "kTLS data path (exit 0)" ||
		fail "kTLS data path (exit $rc, want 0)"
	grep -q '^ok   ktls/aes256gcm/kernel crypto on both ends' "$out" &&
		ok "both suites ran" || fail "both suites ran"
	tx=$(tls_counter TlsTxSw)
	rx=$(tls_counter TlsRxSw)
	de=$(tls_counter TlsDecryptError)
	echo "     tls_stat at the end: TlsTxSw=${tx:-?} TlsRxSw=${rx:-?} TlsDecryptError=${de:-?}"
	[ "${tx:-0}" -ge 4 ] && [ "${rx:-0}" -ge 4 ] &&
		ok "tls_stat TlsTxSw and TlsRxSw rose" ||
		fail "tls_stat TlsTxSw and TlsRxSw rose"
	[ "${de:-x}" = 0 ] && ok "tls_stat TlsDecryptError is 0" ||
		fail "tls_stat TlsDecryptError is 0"
else
	case $rc in
	77) ok "no kTLS here: skip reported" ;;
	0) ok "this kernel has kTLS: data path passed" ;;
	*) fail "selftest exit $rc (want 77 without kTLS, 0 with)" ;;
	esac
fi
echo "$T_NAME: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
