#!/usr/bin/env bash
# The man pages and bash completion are generated from the programs' own
# help (tools/gen-docs.sh); this fails when a help text changed and they
# were not regenerated, checks the completion actually completes, and that
# nametagd(8) says what nametagd does: every option, every config key (each
# one accepted by --config), every signal it handles.
set -u
cd "$(dirname "$0")/../.."
. tests/cli/lib.sh

expect_ok "generate" tools/gen-docs.sh "$T_DIR/gen"
t_check "man page in sync (run tools/gen-docs.sh)" cmp -s docs/man/nametag.8 "$T_DIR/gen/docs/man/nametag.8"
t_check "bash completion in sync (run tools/gen-docs.sh)" cmp -s contrib/bash-completion/nametag "$T_DIR/gen/contrib/bash-completion/nametag"
t_check "nametagd man page in sync (run tools/gen-docs.sh)" cmp -s docs/man/nametagd.8 "$T_DIR/gen/docs/man/nametagd.8"
t_check "completion parses" bash -n contrib/bash-completion/nametag

complete_words() {
	bash -c '. contrib/bash-completion/nametag
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _nametag
		printf "%s\n" "${COMPREPLY[@]}"' _ "$@"
}
t_check "completes objects" bash -c "$(declare -f complete_words); complete_words nametag fl | grep -qx flow"
t_check "completes commands" bash -c "$(declare -f complete_words); complete_words nametag ns en | grep -qx enable"
t_check "aliases completed" bash -c "$(declare -f complete_words); complete_words nametag svid li | grep -qx list"
for obj in $("$NAMETAG" help 2>&1 | sed -n '/OBJECT :=/,/}/p' | tr -d '{}|' | sed 's/.*OBJECT :=//'); do
	t_check "man page documents $obj" grep -q "^\.SS $obj\$" docs/man/nametag.8
done

# nametagd(8): options, config keys, signals.
for opt in $("$NAMETAGD" --help | grep -oE '^  (-[a-zA-Z], )?--[a-z-]+' | grep -oE -- '--[a-z-]+$'); do
	t_check "nametagd.8 documents $opt" grep -q -- "^\.B .*$opt" docs/man/nametagd.8
done
# The keys by type, as --help lists them: every one documented, and a
# file with all of them at a valid value accepted.
cfg_keys() {
	"$NAMETAGD" --help | sed -n '/^Config file:/,/^$/p' | grep -E "^    $1: " |
		sed "s/^    $1: //; s/,//g"
}
skeys=$(cfg_keys strings)
bkeys=$(cfg_keys 'true or false')
nkeys=$(cfg_keys numbers)
t_check "nametagd --help names the config keys" test -n "$skeys" -a -n "$bkeys" -a -n "$nkeys"
cfg="{"
for k in $skeys $bkeys $nkeys; do
	t_check "nametagd.8 documents config key $k" grep -qw "$k" docs/man/nametagd.8
done
for k in $skeys; do
	v=x
	[ "$k" = log_format ] && v=json
	[ "$k" = same_node ] && v=direct
	cfg="$cfg\"$k\": \"$v\","
done
for k in $bkeys; do
	cfg="$cfg\"$k\": false,"
done
for k in $nkeys; do
	cfg="$cfg\"$k\": 64,"
done
echo "${cfg%,}}" >"$T_DIR/all-keys.json"
expect_ok "nametagd --config takes every documented key" "$NAMETAGD" --config "$T_DIR/all-keys.json" --version
for k in $skeys $bkeys $nkeys; do
	flag=--${k//_/-}
	t_check "config key $k is the option $flag" grep -q -- "^\.B .*$flag" docs/man/nametagd.8
done
expect_fail "nametagd --max-netns 0 is refused" "not a number from 1 to" \
	"$NAMETAGD" --max-netns 0 --version
expect_fail "nametagd --listeners-per-netns 12x is refused" "not a number from 1 to" \
	"$NAMETAGD" --listeners-per-netns 12x --version
echo '{"max_netns": "1024"}' >"$T_DIR/bad-number.json"
expect_fail "nametagd --config: max_netns as a string is refused" "must be a whole number" \
	"$NAMETAGD" --config "$T_DIR/bad-number.json" --version
echo '{"max_netns": 2.5}' >"$T_DIR/bad-number.json"
expect_fail "nametagd --config: max_netns 2.5 is refused" "must be a whole number" \
	"$NAMETAGD" --config "$T_DIR/bad-number.json" --version
echo '{"no_such_key": "x"}' >"$T_DIR/bad-key.json"
expect_fail "nametagd --config refuses an undocumented key" "unknown key" "$NAMETAGD" --config "$T_DIR/bad-key.json" --version
for sig in $("$NAMETAGD" --help | sed -n '/^Signals:/,/^$/p' | grep -oE 'SIG[A-Z0-9]+'); do
	t_check "nametagd handles $sig as nametagd.8 says" grep -q "sigaddset(&mask, $sig)" userspace/daemon/main.c
done
t_done
