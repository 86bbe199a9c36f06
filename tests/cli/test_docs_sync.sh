#!/usr/bin/env bash
# The man page and bash completion are generated from the CLI's own help
# (tools/gen-docs.sh); this fails when a help text changed and they were
# not regenerated, and checks the completion actually completes.
set -u
cd "$(dirname "$0")/../.."
. tests/cli/lib.sh

expect_ok "generate" tools/gen-docs.sh "$T_DIR/gen"
t_check "man page in sync (run tools/gen-docs.sh)" cmp -s docs/man/nametag.8 "$T_DIR/gen/docs/man/nametag.8"
t_check "bash completion in sync (run tools/gen-docs.sh)" cmp -s contrib/bash-completion/nametag "$T_DIR/gen/contrib/bash-completion/nametag"
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
t_done
