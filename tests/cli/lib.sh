# Shared by the shell suites: counting, expectations, a private temp dir.
# Each suite ends with "NAME: N passed, N failed, N skipped" via t_done.
T_PASSED=0
T_FAILED=0
T_SKIPPED=0
T_NAME=${T_NAME:-$(basename "$0" .sh)}
NAMETAG=${NAMETAG:-build/nametag}
NAMETAGD=${NAMETAGD:-build/nametagd}
T_DIR=$(mktemp -d /tmp/nametag-cli.XXXXXX)
trap 't_cleanup' EXIT

t_cleanup() {
	[ -n "${T_KEEP:-}" ] || rm -rf "$T_DIR"
}

t_ok() {
	T_PASSED=$((T_PASSED + 1))
	echo "ok   $T_NAME/$1"
}

t_fail() {
	T_FAILED=$((T_FAILED + 1))
	echo "FAIL $T_NAME/$1"
	shift
	[ $# -gt 0 ] && printf '    %s\n' "$@"
}

# t_check NAME CONDITION-COMMAND...
t_check() {
	local name=$1
	shift
	if "$@" >/dev/null; then t_ok "$name"; else t_fail "$name" "condition failed: $*"; fi
}

# not CMD...: CMD fails (for t_check).
not() {
	! "$@"
}

# expect_ok NAME CMD...: CMD exits 0. Output kept in $OUT, stderr in $ERR.
expect_ok() {
	local name=$1
	shift
	if "$@" >"$T_DIR/out" 2>"$T_DIR/err"; then
		t_ok "$name"
	else
		t_fail "$name" "exit $? from: $*" "$(head -c 600 "$T_DIR/err")"
	fi
	OUT=$(cat "$T_DIR/out")
	ERR=$(cat "$T_DIR/err")
}

# expect_fail NAME SUBSTRING CMD...: CMD exits non-zero and stderr or
# stdout contains SUBSTRING.
expect_fail() {
	local name=$1 want=$2 rc
	shift 2
	"$@" >"$T_DIR/out" 2>"$T_DIR/err"
	rc=$?
	OUT=$(cat "$T_DIR/out")
	ERR=$(cat "$T_DIR/err")
	if [ $rc -eq 0 ]; then
		t_fail "$name" "expected failure, got exit 0 from: $*"
	elif ! grep -qF -- "$want" "$T_DIR/out" "$T_DIR/err"; then
		t_fail "$name" "missing '$want' in output:" "$ERR$OUT"
	else
		t_ok "$name"
	fi
}

# is_json: stdin is non-empty and parses as JSON (jq -e alone passes on
# empty input).
is_json() {
	local in
	in=$(cat)
	[ -n "$in" ] && jq -e . >/dev/null 2>&1 <<<"$in"
}

# t_skip_case NAME WHY: a case that cannot run here, counted as skipped.
t_skip_case() {
	T_SKIPPED=$((T_SKIPPED + 1))
	echo "skip $T_NAME/$1: $2"
}

# t_skip WHY: the whole suite cannot run here: says why, counts one
# skipped, reports and exits (a skipped suite never vanishes).
t_skip() {
	echo "skip: $*"
	T_SKIPPED=$((T_SKIPPED + 1))
	t_done
	exit 0
}

t_done() {
	echo "$T_NAME: $T_PASSED passed, $T_FAILED failed, $T_SKIPPED skipped"
	[ "$T_FAILED" -eq 0 ]
}
