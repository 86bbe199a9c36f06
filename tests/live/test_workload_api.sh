#!/usr/bin/env bash
# The SPIFFE Workload API served by nametagd (docs/workload-api.md), against
# real, unmodified clients running as processes of the private cgroup
# subtree: Debian's python3-grpcio (wlapi_client.py) and @grpc/grpc-js
# (wlapi_client.js). The caller is told apart by the kernel: the cgroup
# unix connect hook where the kernel has it (6.7+), else SO_PEERCRED and
# the process table's start time. Where the kernel has the hook the suite
# runs twice: with it, and with NAMETAG_NO_UNIX_HOOK=1 (the fallback).
#
# Cases: every RPC; the SVID verified by openssl against the bundle
# received, the JWT-SVID by the JWKS received; the identity is the one
# `workload list` (the mesh's identity stage) gives the same process; a
# rotation pushed on the stream; the security header missing; a process
# outside every namespace and one whose namespace is off; withdrawal
# mid-stream; the PID-reuse attack (spire#6035); the CLI as a client.
set -u
cd "$(dirname "$0")/../.."
. tests/live/lib.sh

skip_unless_root
for m in grpc h2 cryptography google.protobuf; do
	"$PY" -c "import $m" 2>/dev/null || t_skip "python3 module $m missing (make deps)"
done
[ -e build/tests/workload_api/workload_pb2.py ] ||
	t_skip "build first: build/tests/workload_api/workload_pb2.py (make)"
live_init

CLIENT=tests/live/wlapi_client.py
# Seconds to wait for a client: python and node start slowly under qemu's
# TCG (tests/vm sets NAMETAG_VM=1).
W=10
[ "${NAMETAG_VM:-}" = 1 ] && W=60
NODE_OK=
command -v node >/dev/null && [ -e build/npm/node_modules/.installed ] && NODE_OK=1

# client CGROUP ARGS...: the python client, run as a process of CGROUP.
client() {
	local cg=$1
	shift
	run_in_cgroup "$C/$cg" "$PY" "$CLIENT" "$SOCK" "$@"
}
# jq_ok JSON FILTER [JQ ARGS...]: the last line of JSON passes FILTER
# (jq -e passes on no input at all: an empty JSON fails here).
jq_ok() {
	local j=$1 f=$2
	shift 2
	[ -n "$j" ] && echo "$j" | tail -n 1 | jq -e "$@" "$f" >/dev/null
}

# stream_start NAME CGROUP N SECS: a FetchX509SVID stream client in the
# background, its JSON lines in $LIVE_DIR/NAME.out (the first: its pid).
stream_start() {
	spawn_in_cgroup "$C/$2" "$PY" "$CLIENT" "$SOCK" stream "$3" "$4" \
		>"$LIVE_DIR/$1.out" 2>"$LIVE_DIR/$1.err"
}
# stream_lines NAME: how many lines it printed after its pid.
stream_lines() {
	echo $(($(wc -l <"$LIVE_DIR/$1.out") - 1))
}
# stream_pid NAME
stream_pid() {
	head -n 1 "$LIVE_DIR/$1.out" | jq .pid
}
# stream_msgs NAME: its lines after the pid, as a JSON array.
stream_msgs() {
	tail -n +2 "$LIVE_DIR/$1.out" | jq -s .
}

# suite NODE [FALLBACK]: every case against a daemon NODE.
suite() {
	N=$1
	C=$LIVE_CG/$1
	mkcg $1/shop/web $1/shop/db $1/temp $1/other $1/outside
	# Not made here: nametagd makes the socket's directory, 0755.
	WLDIR=$LIVE_DIR/wl-$1
	chmod 755 "$LIVE_DIR"
	SOCK=$WLDIR/api.sock
	mkdir -p "$LIVE_DIR/$N"
	"$NAMETAG" --state-dir "$LIVE_DIR/$N/state" ca init --trust-domain example.org \
		--svid-ttl 20s >/dev/null || t_fail "ca init"
	DAEMON_ARGS="--workload-api $SOCK" start_daemon $N "$C" example.org ||
		{ t_fail "nametagd starts with --workload-api"; return; }
	for ns in shop temp other; do
		ntd $N ns add $ns --cgroup "$C/$ns" >/dev/null
	done
	expect_ok "shop observed" ntd $N ns enable shop --mode observe
	expect_ok "temp observed" ntd $N ns enable temp --mode observe
	# other stays off.

	if grep -q "caller evidence: the unix connect hook" "${D_DIR[$N]}/log"; then
		HOOK=1
		echo "# caller evidence: the cgroup unix connect hook"
	else
		HOOK=0
		echo "# caller evidence: SO_PEERCRED and the process table"
	fi
	t_check "the daemon says how it attests callers" \
		grep -q "workload api on $SOCK (caller evidence: " "${D_DIR[$N]}/log"
	t_check "the socket is connectable by every local user (0666, in a 0755 directory nametagd made)" \
		test "$(stat -c %a "$SOCK") $(stat -c %a "$WLDIR")" = "666 755"

	# ---- python3-grpcio, enrolled -----------------------------------------------
	out=$(client shop/web x509)
	t_check "python: FetchX509SVID: an SVID of the shop namespace, verified by openssl against the bundle received, key matching" \
		jq_ok "$out" '.status == "OK" and (.spiffe_id | startswith("spiffe://example.org/ns/shop/")) and .problems == null and .nsvids == 1'
	echo "    $out" | cut -c1-200
	out=$(client shop/web jwt db)
	t_check "python: FetchJWTSVID verified with the JWKS of FetchJWTBundles (kid, ES256 r||s, aud, exp)" \
		jq_ok "$out" '.status == "OK" and .verify == null'
	t_check "python: ValidateJWTSVID of it: OK, the same ID; another audience: INVALID_ARGUMENT" \
		jq_ok "$out" '.validate == "OK" and .validate_id == .spiffe_id and .wrong_audience == "INVALID_ARGUMENT"'
	out=$(client shop/web bundles)
	t_check "python: FetchX509Bundles and FetchJWTBundles: example.org, jwt-svid keys with a kid" \
		jq_ok "$out" '.status == "OK" and .x509 == ["spiffe://example.org"] and .jwt == ["spiffe://example.org"] and (.kids | length) > 0 and all(.kids[]; . != null) and all(.uses[]; . == "jwt-svid")'

	# @grpc/grpc-js, the other stack, as another enrolled process.
	if [ -n "$NODE_OK" ]; then
		out=$(run_in_cgroup "$C/shop/web" node tests/live/wlapi_client.js "$SOCK" vault)
		t_check "grpc-js: FetchX509SVID (node crypto: key, SAN, issued by the bundle), FetchJWTSVID verified with the JWKS, ValidateJWTSVID" \
			jq_ok "$out" '.status == "OK" and .spiffe_id == "spiffe://example.org/ns/shop/sa/web" and .svid_problem == null and .jwt_status == "OK" and .jwt_problem == null and .validate == "OK" and .validate_id == .spiffe_id'
		echo "    $out" | cut -c1-200
		out=$(run_in_cgroup "$C/other" node tests/live/wlapi_client.js "$SOCK" vault)
		t_check "grpc-js: a process whose namespace is off: PERMISSION_DENIED" \
			jq_ok "$out" '.status == "PERMISSION_DENIED"'
	else
		t_skip_case "grpc-js clients" "node or build/npm missing (make deps npm-deps)"
	fi

	# nametag as a Workload API client, like any workload.
	out=$(run_in_cgroup "$C/shop/web" env SPIFFE_ENDPOINT_SOCKET="unix://$SOCK" \
		"$NAMETAG" -j svid fetch)
	t_check "nametag svid fetch (SPIFFE_ENDPOINT_SOCKET=unix://...): the caller's ID" \
		jq_ok "$out" '.spiffe_id == "spiffe://example.org/ns/shop/sa/web"'
	tok=$(run_in_cgroup "$C/shop/web" "$NAMETAG" jwt fetch --audience vault --socket "$SOCK")
	t_check "nametag jwt fetch --audience: a token" test "$(tr -cd . <<<"$tok" | wc -c)" = 2
	out=$(run_in_cgroup "$C/shop/db" "$NAMETAG" -j jwt validate "$tok" --audience vault --socket "$SOCK")
	t_check "nametag jwt validate (as another workload): the ID and the claims" \
		jq_ok "$out" '.spiffe_id == "spiffe://example.org/ns/shop/sa/web" and .claims.aud == "vault" and .claims.sub == .spiffe_id'
	expect_fail "nametag jwt validate with another audience" "INVALID_ARGUMENT" \
		run_in_cgroup "$C/shop/db" "$NAMETAG" jwt validate "$tok" --audience other --socket "$SOCK"
	expect_fail "nametag svid fetch outside every namespace" "PERMISSION_DENIED" \
		run_in_cgroup "$C/outside" "$NAMETAG" svid fetch --socket "$SOCK"
	expect_fail "nametag jwt fetch without --audience" "needs --audience" \
		"$NAMETAG" jwt fetch --socket "$SOCK"
	# The spiffe-helper job: files on every rotation, then the command.
	mkdir -p "$LIVE_DIR/files-$N"
	spawn_in_cgroup "$C/shop/web" "$NAMETAG" svid fetch --socket "$SOCK" \
		--write "$LIVE_DIR/files-$N" --exec "echo >>$LIVE_DIR/files-$N/reloads" \
		2>"$LIVE_DIR/helper-$N.log"
	HELPER_PID=$BG_PID
	F=$LIVE_DIR/files-$N
	wait_for $W test -s "$F/reloads"
	t_check "svid fetch --write: svid.pem verifies against bundle.pem (openssl)" \
		openssl verify -CAfile "$F/bundle.pem" "$F/svid.pem"
	t_check "svid fetch --write: svid.key is 0600 and matches svid.pem" \
		eval '[ "$(stat -c %a "$F/svid.key")" = 600 ] &&
		      [ "$(openssl pkey -in "$F/svid.key" -pubout)" = "$(openssl x509 -in "$F/svid.pem" -noout -pubkey)" ]'
	serial1=$(openssl x509 -in "$F/svid.pem" -noout -serial)
	t_check "svid fetch --write: rewritten and --exec run again on rotation" \
		wait_for $((W + 20)) eval '[ "$(wc -l <"$F/reloads")" -ge 2 ] &&
			[ "$(openssl x509 -in "$F/svid.pem" -noout -serial)" != "$serial1" ]'
	kill "$HELPER_PID" 2>/dev/null
	wait "$HELPER_PID" 2>/dev/null

	# The same identity the mesh's identity stage gives the same process, and
	# a rotation pushed (SVID TTL 20 s: re-minted at half life).
	stream_start rot shop/db 2 40
	wait_for $W eval '[ "$(stream_lines rot)" -ge 1 ]'
	ROT_PID=$(stream_pid rot)
	first=$(sed -n 2p "$LIVE_DIR/rot.out")
	wl=$(ntd $N -j workload list | tee "$LIVE_DIR/wl.json" |
		jq -r --argjson p "$ROT_PID" '.[] | select(.pid == $p) | .spiffe_id')
	t_check "the SVID's ID is the one workload list gives the same process ($wl)" \
		eval '[ -n "$wl" ] && jq_ok "$first" ".spiffe_id == \$x" --arg x "$wl"'
	wait_for $((W + 20)) eval '[ "$(stream_lines rot)" -ge 3 ]'
	t_check "a rotation is pushed on the open stream: a second message, a new leaf, the same ID" \
		eval 'stream_msgs rot | jq -e ".[0].serial != .[1].serial and .[0].spiffe_id == .[1].spiffe_id and .[2].status == \"DONE\"" >/dev/null'
	cut -c1-160 "$LIVE_DIR/rot.out" | sed 's/^/    /'

	# ---- attacks ------------------------------------------------------------------
	out=$(client shop/web nohdr)
	t_check "no security header: INVALID_ARGUMENT" jq_ok "$out" '.status == "INVALID_ARGUMENT"'
	out=$(client outside x509)
	t_check "a process outside every namespace: PERMISSION_DENIED" \
		jq_ok "$out" '.status == "PERMISSION_DENIED"'
	out=$(client other x509)
	t_check "a process whose namespace is off: PERMISSION_DENIED" \
		jq_ok "$out" '.status == "PERMISSION_DENIED"'
	out=$(client outside jwt db)
	t_check "a process outside every namespace gets no JWT-SVID: PERMISSION_DENIED" \
		jq_ok "$out" '.status == "PERMISSION_DENIED"'

	# What would hurt the daemon: it keeps serving.
	out=$(client shop/web abuse)
	t_check "a silent connection and one of garbage (closed), 200 concurrent streams all served" \
		jq_ok "$out" '.garbage_closed == true and .streams_served == 200'
	out=$(client shop/web x509)
	t_check "... and the daemon still serves" jq_ok "$out" '.status == "OK"'
	# The operator sees it: nametag status counts calls, errors and what
	# the limits closed (docs/json.md).
	st=$(ntd $N -j status)
	ev=$([ $HOOK = 1 ] && echo connect_hook || echo peercred)
	t_check "nametag status: the socket, the caller evidence ($ev), calls and errors counted" \
		jq_ok "$st" ".workload_api.socket == \"$SOCK\" and .workload_api.caller_evidence == \"$ev\" and .workload_api.calls >= 5 and .workload_api.errors >= 4 and .workload_api.accepted >= 1 and .workload_api.streams == 0" ||
		echo "    $(jq -c .workload_api <<<"$st")"
	t_check "nametag status (text): a workload api line" \
		eval "ntd $N status | grep -q '^workload api  $SOCK (caller evidence: '"

	# PID reuse (spire#6035): M connects from temp, hands the socket over and
	# exits; a process of shop/web gets M's pid; M's connection asks for an
	# SVID. With the connect hook the evidence is M's (temp's identity, or
	# none once M's process is gone); without it, M's start time no longer
	# matches the pid: Unauthenticated. Never shop/web's.
	out=$("$PY" "$CLIENT" "$SOCK" reuse "$C/temp" "$C/shop/web")
	echo "    $out"
	if jq_ok "$out" '.status == "SKIP"'; then
		t_skip_case "PID reuse" "$(echo "$out" | jq -r .why)"
	else
		t_check "PID reuse: M's connection never gets the identity of the process that now has M's pid" \
			jq_ok "$out" '(.spiffe_id // "") | startswith("spiffe://example.org/ns/shop/") | not'
		if [ $HOOK = 1 ]; then
			t_check "PID reuse, connect hook: the evidence taken at connect() holds (temp's identity, or refused)" \
				jq_ok "$out" '.status == "OK" and (.spiffe_id | startswith("spiffe://example.org/ns/temp/")) or .status == "PERMISSION_DENIED"'
		else
			t_check "PID reuse, SO_PEERCRED: the pid's start time changed: UNAUTHENTICATED" \
				jq_ok "$out" '.status == "UNAUTHENTICATED"'
		fi
	fi

	# Withdrawal mid-stream: temp turned off, its stream ends PermissionDenied.
	stream_start wd temp 5 30
	wait_for $W eval '[ "$(stream_lines wd)" -ge 1 ]'
	expect_ok "temp turned off" ntd $N ns disable temp
	wait_for $W eval '[ "$(stream_lines wd)" -ge 2 ]'
	t_check "withdrawal: the open stream ends with PERMISSION_DENIED after one message" \
		eval 'stream_msgs wd | jq -e "length == 2 and .[1].status == \"PERMISSION_DENIED\" and .[1].count == 1" >/dev/null' ||
		cat "$LIVE_DIR/wd.out" "$LIVE_DIR/wd.err"

	stop_daemon $N
}

suite node
if [ $HOOK = 1 ]; then
	export NAMETAG_NO_UNIX_HOOK=1
	echo "# again without the hook (NAMETAG_NO_UNIX_HOOK=1): the SO_PEERCRED fallback"
	suite fb
	unset NAMETAG_NO_UNIX_HOOK
fi
live_finish
