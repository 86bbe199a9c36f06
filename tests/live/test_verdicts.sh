#!/usr/bin/env bash
# Observe and permissive predict strict (docs/policy.md, "Modes"): one
# traffic mix, run in observe, permissive and strict, compared flow for
# flow. The two pods and one nametagd of lib_mesh.sh, plus pod C, a
# network namespace joined to pod B by its own veth and served by no
# nametagd: another node. The mix, all to catalogue (pod B) on port 8080:
#
#   frontend   enrolled, allowed by the policy
#   intruder   enrolled, no rule allows it
#   outside    a process of pod A in no enrolled cgroup (plaintext)
#   node-c     a process of pod C (plaintext from another node)
#
# Observe changes nothing on the wire and records, on the side that knows
# both identities, the verdict strict would give; permissive carries mTLS
# between enrolled ends, lets plaintext in, and records the policy's
# verdict as a dry run; strict enforces it. The would-verdicts of observe
# and permissive must be strict's verdicts, reason for reason. Needs root.
set -u
cd "$(dirname "$0")/../.."
. tests/live/lib.sh
. tests/live/lib_mesh.sh
skip_unless_root
live_init
write_helpers
N=$MESH_NODE
PORT=8080
OTHER_PORT=9100		# pod B, a server in no enrolled cgroup
POD_B_C=10.87.2.2
POD_C=10.87.2.1
declare -A CALLER_CG=([frontend]=x [intruder]=x [outside]=x [node-c]=x)

mesh_up_strict "$PORT"
CALLER_CG=([frontend]=$CG_FRONTEND [intruder]=$CG_INTRUDER [outside]=$CG_OUTSIDE [node-c]="")
netns_add NSC c && veth_pair "$NSC" "$POD_C/24" "$NSB" "$POD_B_C/24" ||
	t_fail "pod C comes up, joined to pod B"
start_server catalogue 0.0.0.0 "$PORT" "$NSB" "$CG_CATALOGUE" ||
	t_fail "catalogue listens in pod B"
start_server other 0.0.0.0 "$OTHER_PORT" "$NSB" ||
	t_fail "a server outside the mesh listens in pod B"

# call NAME: one connection of caller NAME to catalogue; $REPLY_OF[NAME]
# is what came back ("srv:NAME" when the bytes got through).
declare -A REPLY_OF=()
call() {
	local name=$1 out
	if [ "$name" = node-c ]; then
		out=$(in_netns "$NSC" "$PY" "$LIVE_DIR/client.py" "$POD_B_C" "$PORT" "$name")
	else
		out=$(in_pod "${CALLER_CG[$name]}" "$NSA" "$PY" "$LIVE_DIR/client.py" \
			"$MESH_B" "$PORT" "$name")
	fi
	REPLY_OF[$name]=$(awk '{ print $3 }' <<<"$out")
}

# judged MODE ID0 NAME: the flow that carries the verdict on NAME's
# connection, newer than ID0, as {verdict, reason}: the destination's
# record where the proxy judged it (inbound, inbound-plaintext), in
# observe the caller's connect record once the destination's side named
# the listener, or the listener's record of plaintext.
judged() {
	local mode=$1 id0=$2 name=$3 filter
	case $name in
	frontend) filter="(.src_spiffe_id == \"$ID_FRONTEND\")" ;;
	intruder) filter="(.src_spiffe_id == \"$ID_INTRUDER\")" ;;
	outside) filter='(.type == "inbound-plaintext" and (.src | startswith("'"$MESH_A"':")))' ;;
	node-c) filter='(.type == "inbound-plaintext" and (.src | startswith("'"$POD_C"':")))' ;;
	esac
	case $name/$mode in
	frontend/observe | intruder/observe)
		filter="$filter and .type == \"connect\" and .verdict != \"unknown\"" ;;
	frontend/* | intruder/*)
		filter="$filter and .type == \"inbound\" and .verdict != null" ;;
	esac
	flow_wait "$id0" "$filter and .dst_spiffe_id == \"$ID_CATALOGUE\""
	jq -c '{verdict, reason, mode}' <<<"${FLOW:-null}"
}

declare -A GOT=()
# run_mix MODE: the mix in MODE; GOT[MODE/NAME] is each judged flow.
run_mix() {
	local mode=$1 id0 name
	expect_ok "shop is $mode" ntd $N ns enable shop --mode "$mode"
	id0=$(last_flow_id)
	for name in frontend intruder outside node-c; do
		call "$name"
	done
	for name in frontend intruder outside node-c; do
		GOT[$mode/$name]=$(judged "$mode" "$id0" "$name")
		[ "${T_VERBOSE:-}" ] && echo "    $mode $name: ${REPLY_OF[$name]} ${GOT[$mode/$name]}"
	done
	MIX_ID0=$id0
}

# ---- strict: the reference -------------------------------------------------------
run_mix strict
t_check "strict: frontend gets through" [ "${REPLY_OF[frontend]}" = srv:frontend ]
for name in intruder outside node-c; do
	t_check "strict: $name does not" [ "${REPLY_OF[$name]}" != "srv:$name" ]
done
want_strict() {
	local name=$1 want=$2
	if jq -e --argjson w "$want" '{verdict, reason} == $w and .mode == "strict"' \
		<<<"${GOT[strict/$name]}" >/dev/null; then
		t_ok "strict: $name: $want"
	else
		t_fail "strict: $name: $want" "got ${GOT[strict/$name]}"
	fi
}
want_strict frontend '{"verdict": "allow", "reason": "rule shop.rules[0] (allow)"}'
want_strict intruder '{"verdict": "deny", "reason": "default deny: no allow rule"}'
want_strict outside '{"verdict": "deny", "reason": "strict mode: plaintext refused"}'
want_strict node-c '{"verdict": "deny", "reason": "strict mode: plaintext refused"}'

# predicts MODE: MODE's would-verdicts are strict's, flow for flow.
predicts() {
	local mode=$1 name
	for name in frontend intruder outside node-c; do
		t_check "$mode: $name's bytes get through (nothing enforced)" \
			[ "${REPLY_OF[$name]}" = "srv:$name" ]
		if jq -e --argjson s "${GOT[strict/$name]}" --arg m "$mode" '
			(.verdict | startswith("would-")) and .mode == $m and
			(.verdict | ltrimstr("would-")) == $s.verdict and
			.reason == $s.reason' <<<"${GOT[$mode/$name]}" >/dev/null; then
			t_ok "$mode: $name's would-verdict is strict's"
		else
			t_fail "$mode: $name's would-verdict is strict's" \
				"$mode: ${GOT[$mode/$name]}" "strict: ${GOT[strict/$name]}"
		fi
	done
}

# ---- permissive: a dry run with mTLS ----------------------------------------------
run_mix permissive
predicts permissive
# The caller's side hears the destination's dry run too, not an "allow".
FLOW=$(flows_since "$MIX_ID0" ".type == \"outbound\" and .src_spiffe_id == \"$ID_INTRUDER\"" | jq -c last)
t_flow "permissive: intruder's own outbound flow says would-deny, over mTLS" '
	.verdict == "would-deny" and .reason == "default deny: no allow rule" and
	.transport == "mtls"'
FLOW=$(flows_since "$MIX_ID0" ".type == \"outbound\" and .src_spiffe_id == \"$ID_FRONTEND\"" | jq -c last)
t_flow "permissive: frontend's outbound flow says would-allow, with the rule" '
	.verdict == "would-allow" and .reason == "rule shop.rules[0] (allow)"'

# ---- observe: nothing on the wire changes -------------------------------------------
run_mix observe
predicts observe
FLOW=$(flows_since "$MIX_ID0" ".type == \"connect\" and .src_spiffe_id == \"$ID_FRONTEND\"" | jq -c last)
t_flow "observe: the caller's record names the listener it reached" "
	.dst == \"$MESH_B:$PORT\" and .redirected == false and .state == \"observed\""
t_check "observe: no inbound-plaintext record for an enrolled caller" \
	[ "$(flows_since_count "$MIX_ID0" ".type == \"inbound-plaintext\" and .src_spiffe_id != null")" = 0 ]
# A destination this node cannot name: said, not guessed.
id0=$(last_flow_id)
out=$(in_pod "$CG_FRONTEND" "$NSA" "$PY" "$LIVE_DIR/client.py" "$MESH_B" "$OTHER_PORT" unknown)
t_check "observe: frontend reaches the server outside the mesh" [ "$(awk '{ print $3 }' <<<"$out")" = srv:unknown ]
flow_wait "$id0" ".type == \"connect\" and .dst == \"$MESH_B:$OTHER_PORT\""
sleep 0.5
FLOW=$(flows_since "$id0" ".type == \"connect\" and .dst == \"$MESH_B:$OTHER_PORT\"" | jq -c last)
t_flow "observe: a destination of unknown identity is said so, not denied" '
	.verdict == "unknown" and .reason == "destination identity unknown in observe" and
	.dst_spiffe_id == null'

live_finish
