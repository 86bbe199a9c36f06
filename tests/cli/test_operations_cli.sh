#!/usr/bin/env bash
# The operator's layer without a running daemon (issue #13): the config
# file takes every option and points at the line and column of a mistake;
# logs carry syslog priorities under journald, a fatal start error is an
# error, --log-format json is JSON; the shipped alert rules pass promtool;
# the unit passes systemd-analyze's offline checks; --metrics refuses what
# it cannot listen on.
set -u
cd "$(dirname "$0")/../.."
. tests/cli/lib.sh

[ -x "$NAMETAGD" ] || t_skip "build first: $NAMETAGD (make)"
D=$T_DIR

# ---- the config file ----------------------------------------------------------------
cat >"$D/all.json" <<'EOF'
{
  "state_dir": "/var/lib/nametag",
  "no_ktls": true,
  "manual_netns": true,
  "no_mesh_reuse": false,
  "debug": true,
  "metrics": "127.0.0.1:9477",
  "audit_log": "/var/log/nametag/audit.log",
  "log_format": "json"
}
EOF
expect_ok "config: booleans, metrics, audit_log and log_format are keys" \
	"$NAMETAGD" --config "$D/all.json" --version

# cfg_err NAME TEXT WANT: a config of TEXT fails, the message has WANT.
cfg_err() {
	printf '%b' "$2" >"$D/bad.json"
	expect_fail "config: $1" "$3" "$NAMETAGD" --config "$D/bad.json" --version
}
cfg_err "a syntax error names line and column" \
	'{\n  "state_dir": "/x",\n  "no_ktls": tru\n}\n' "$D/bad.json:3:"
t_check "config: ... and says what" grep -q "invalid json" <<<"$ERR"
cfg_err "a boolean as a string: line and column of its key" \
	'{\n  "state_dir": "/x",\n  "no_ktls": "yes"\n}\n' \
	"$D/bad.json:3:3: \"no_ktls\" must be true or false"
cfg_err "an unknown key: its line and column, and the known ones" \
	'{\n\n    "no-ktls": true\n}\n' "$D/bad.json:3:5: unknown key \"no-ktls\""
t_check "config: ... the known keys are listed" grep -q "manual_netns" <<<"$ERR"
cfg_err "a duplicate key: the second one" \
	'{\n  "debug": true,\n  "debug": false\n}\n' "$D/bad.json:3:3"
cfg_err "a bad log_format" '{"log_format": "yaml"}' \
	"$D/bad.json:1:2: \"log_format\" is \"text\" or \"json\""
cfg_err "a string option as a number" '{"metrics": 9477}' \
	"\"metrics\" must be a non-empty string"
expect_fail "config: a missing file is named" "$D/none.json" \
	"$NAMETAGD" --config "$D/none.json" --version

# ---- logs ----------------------------------------------------------------------------
# A start that fails: no CA in an empty state dir, and no trust domain.
mkdir -p "$D/empty"
chmod 700 "$D/empty"
fail_start() {
	"$NAMETAGD" --state-dir "$D/empty" --run-dir "$D/run" --bpffs "$D/nobpffs" "$@"
}
fail_start 2>"$D/start.err"
t_check "a failed start exits 1" [ $? = 1 ]
t_check "a fatal start error is logged as an error, not a warning" \
	grep -qE '^[0-9TZ:-]+ nametagd\[[0-9]+\] error: ' "$D/start.err"
t_check "... and nothing of it as a warning" not grep -q ' warn: ' "$D/start.err"

# Under journald: JOURNAL_STREAM names stderr's device and inode.
: >"$D/journal.err"
JOURNAL_STREAM=$(stat -c '%d:%i' "$D/journal.err") fail_start 2>>"$D/journal.err"
t_check "journald: the error line starts with <3> (LOG_ERR)" grep -q '^<3>' "$D/journal.err"
t_check "journald: no timestamp of our own" not grep -qE '^<[0-9]>[0-9]{4}-' "$D/journal.err"
JOURNAL_STREAM=1:1 fail_start 2>"$D/other.err"
t_check "JOURNAL_STREAM of another stream: plain text" not grep -q '^<' "$D/other.err"

fail_start --log-format json 2>"$D/json.err"
t_check "--log-format json: every line is a JSON object" jq -e -s 'length > 0 and all(.[]; type == "object")' "$D/json.err"
t_check "--log-format json: time, level error, msg" jq -e -s \
	'any(.[]; .level == "error" and (.time | test("Z$")) and (.msg | length) > 0)' "$D/json.err"
expect_fail "--log-format yaml is refused" "expected text or json" fail_start --log-format yaml

# ---- metrics options ---------------------------------------------------------------
# Refused before anything starts (no trust domain either: nothing could).
expect_fail "--metrics without a port" "expected ADDR:PORT" \
	fail_start --metrics 127.0.0.1
expect_fail "--metrics with a bad address" "--metrics" fail_start --metrics nowhere:80
t_check "... refused as an option: nothing was started" not grep -q "no CA" <<<"$ERR"

# ---- the CLI's environment ----------------------------------------------------------
"$NAMETAG" --state-dir "$D/st" ca init --trust-domain env.example >/dev/null 2>&1
expect_ok "NAMETAG_STATE_DIR is the default state dir" \
	env NAMETAG_STATE_DIR="$D/st" "$NAMETAG" -j ca show
t_check "... and it is the CA found there" jq -e '.trust_domain == "env.example"' <<<"$OUT"
expect_fail "--state-dir wins over NAMETAG_STATE_DIR" "" \
	env NAMETAG_STATE_DIR="$D/st" "$NAMETAG" --state-dir "$D/nothing" ca show
expect_fail "NAMETAG_RUN_DIR is where the CLI looks for nametagd" "$D/norun" \
	env NAMETAG_RUN_DIR="$D/norun" "$NAMETAG" ns list

# ---- options parsed as options --------------------------------------------------------
"$NAMETAG" --state-dir "$D/st" -j bundle show >"$D/bundle.json"
expect_ok "bundle show --format pem" "$NAMETAG" --state-dir "$D/st" bundle show --format pem
t_check "... is PEM that openssl reads" openssl x509 -noout <<<"$OUT"
t_check "... one certificate per authority" [ "$(grep -c 'BEGIN CERTIFICATE' <<<"$OUT")" = \
	"$(jq '[.keys[] | select(.use == "x509-svid")] | length' "$D/bundle.json")" ]
t_check "... the authority of the bundle" [ "$(openssl x509 -noout -pubkey <<<"$OUT" | openssl sha256)" = \
	"$(jq -r '[.keys[] | select(.use == "x509-svid")][0].x5c[0]' "$D/bundle.json" | base64 -d |
	   openssl x509 -inform der -noout -pubkey | openssl sha256)" ]
expect_ok "bundle show TD --format pem" "$NAMETAG" --state-dir "$D/st" bundle show env.example --format pem
t_check "... the same" grep -q "BEGIN CERTIFICATE" <<<"$OUT"
expect_ok "bundle show -j --format pem" "$NAMETAG" --state-dir "$D/st" -j bundle show --format pem
t_check "... {trust_domain, pem}" jq -e '.trust_domain == "env.example" and (.pem | startswith("-----BEGIN CERTIFICATE"))' <<<"$OUT"
expect_ok "bundle show --format json is the default" "$NAMETAG" --state-dir "$D/st" -j bundle show --format json
t_check "... the same JSON" jq -e --slurpfile b "$D/bundle.json" '. == $b[0]' <<<"$OUT"
expect_ok "bundle show --format anchors" "$NAMETAG" --state-dir "$D/st" bundle show --format anchors
t_check "... one line per authority: openssl's SHA-256 of it, its subject" [ "$(cut -d' ' -f1 <<<"$OUT")" = \
	"sha256:$(jq -r '[.keys[] | select(.use == "x509-svid")][0].x5c[0]' "$D/bundle.json" | base64 -d | sha256sum | cut -d' ' -f1)" ]
expect_ok "bundle show -j --format anchors" "$NAMETAG" --state-dir "$D/st" -j bundle show --format anchors
t_check "... {trust_domain, anchors: [{sha256, subject, not_after}]}" jq -e '.trust_domain == "env.example" and
	(.anchors | length) >= 1 and all(.anchors[]; (.sha256 | test("^sha256:[0-9a-f]{64}$")) and
	(.subject | length > 0) and (.not_after | endswith("Z")))' <<<"$OUT"
expect_fail "bundle show --format yaml" "expected json, pem or anchors" "$NAMETAG" --state-dir "$D/st" bundle show --format yaml
expect_fail "bundle show --frobnicate is an option, not a trust domain" "unknown option '--frobnicate'" \
	"$NAMETAG" --state-dir "$D/st" bundle show --frobnicate
expect_fail "bundle del --x is an option, not a trust domain" "unknown option '--x'" \
	"$NAMETAG" --state-dir "$D/st" bundle del --x
expect_fail "ns show --x is an option, not a name" "unknown option '--x'" \
	"$NAMETAG" --run-dir "$D/norun" ns show --x

# ---- nametagd options checked before anything starts --------------------------------------
# number_opt OPT KEY GOOD MIN MAX BAD...: --OPT refuses each BAD value
# before anything starts; config key KEY takes GOOD and refuses MIN - 1.
number_opt() {
	local opt=$1 key=$2 good=$3 min=$4 max=$5 v
	shift 5
	for v in "$@"; do
		expect_fail "--$opt '$v' is refused" "--$opt" fail_start "--$opt" "$v"
		t_check "... before anything starts" not grep -q "no CA" <<<"$ERR"
	done
	echo "{\"$key\": $good}" >"$D/$key.json"
	expect_ok "config: $key" "$NAMETAGD" --config "$D/$key.json" --version
	cfg_err "$key out of range" "{\"$key\": $((min - 1))}" \
		"$D/bad.json:1:2: \"$key\" must be a whole number from $min to $max"
}
number_opt flow-table-size flow_table_size 64 16 262144 0 15 abc 262145 -5 16x ""
cfg_err "flow_table_size as a string" '{"flow_table_size": "64"}' \
	"$D/bad.json:1:2: \"flow_table_size\" must be a whole number from 16 to 262144"
number_opt workers workers 4 1 64 0 65 abc -1 2x ""
expect_ok "--workers auto (the default: one thread per CPU, the main one counted)" \
	"$NAMETAGD" --workers auto --version
echo '{"workers": "auto"}' >"$D/workers_auto.json"
expect_ok "config: \"workers\": \"auto\"" "$NAMETAGD" --config "$D/workers_auto.json" --version
cfg_err "workers as another word" '{"workers": "many"}' \
	"$D/bad.json:1:2: \"workers\" must be \"auto\" or a whole number from 1 to 64"
expect_fail "--cgroup-root '' is refused (it would be the whole machine)" "--cgroup-root is empty" \
	fail_start --cgroup-root ""
t_check "... before anything starts" not grep -q "no CA" <<<"$ERR"

# ---- the alert rules and the unit ---------------------------------------------------
if command -v promtool >/dev/null; then
	expect_ok "promtool check rules contrib/prometheus/nametag-alerts.yml" \
		promtool check rules contrib/prometheus/nametag-alerts.yml
	for a in NametagSVIDNearExpiry NametagDeniesRising NametagPlaintextIntoStrict NametagEventsLost; do
		t_check "alert $a is shipped" grep -q "alert: $a\$" contrib/prometheus/nametag-alerts.yml
	done
else
	t_skip_case "promtool check rules" "promtool is missing (make deps installs prometheus)"
fi

# The unit as make install writes it, scored by systemd-analyze offline.
if command -v systemd-analyze >/dev/null &&
	systemd-analyze security --help 2>&1 | grep -q -- --offline; then
	sed -e "s|@SBINDIR@|/usr/sbin|g" -e "s|@DOCDIR@|/usr/share/doc/nametag|g" \
		contrib/nametagd.service.in >"$D/nametagd.service"
	systemd-analyze security --offline=yes "$D/nametagd.service" >"$D/sec.out" 2>&1
	score=$(sed -n 's/.*Overall exposure level for nametagd.service: \([0-9.]*\).*/\1/p' "$D/sec.out")
	t_check "systemd-analyze security: exposure ${score:-?} is 4.0 or less (9.6 before)" \
		awk -v s="${score:-99}" 'BEGIN { exit !(s <= 4.0) }'
	caps=$(sed -n 's/^CapabilityBoundingSet=//p' contrib/nametagd.service.in)
	for c in $caps; do
		t_check "unit: $c is explained" grep -qE "^#   $c " contrib/nametagd.service.in
	done
	t_check "unit: six capabilities, not all of root's" [ "$(wc -w <<<"$caps")" = 6 ]
	for k in "ProtectSystem=strict" "ProtectHome=read-only" "NoNewPrivileges=yes" \
		"ReadWritePaths=/sys/fs/bpf" "StateDirectory=nametag" "RuntimeDirectory=nametag"; do
		t_check "unit: $k" grep -qx "$k" contrib/nametagd.service.in
	done
else
	t_skip_case "systemd-analyze security --offline" "needs systemd-analyze 250 or later"
fi
t_done
