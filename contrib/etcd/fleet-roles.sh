#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# etcd users and roles for a nametag fleet (docs/fleet.md, "Access").
#
#   fleet-roles.sh ENDPOINT CA CERT KEY ROOT_PW_FILE ADMIN_PW_FILE NODE:PW_FILE...
#
# Runs etcdctl against a TLS etcd started with --client-cert-auth, using a
# client certificate without a CN (etcd's JSON gateway refuses certificates
# that carry one). Creates:
#   root      the etcd superuser (needed to enable auth)
#   nametag-admin  reads and writes all of /nametag/v1/ (the operator's CLI,
#             `nametag ca signer`)
#   <node>    one user and role per node: reads the fleet's configuration,
#             JWT keys and its own CA answers; writes only its own node
#             record, CA request and JWT keys
# and enables auth. Passwords come from files, never from the command line.
set -euo pipefail

if [ $# -lt 6 ]; then
	sed -n '6p' "$0" >&2
	exit 2
fi
endpoint=$1 ca=$2 cert=$3 key=$4 rootpw_file=$5 adminpw_file=$6
shift 6
P=/nametag/v1
ctl() {
	ETCDCTL_API=3 etcdctl --endpoints "$endpoint" --cacert "$ca" \
		--cert "$cert" --key "$key" "$@" >/dev/null
}
# --interactive=false reads the password from standard input.
user_add() {
	ctl user add "$1" --interactive=false <"$2"
}

user_add root "$rootpw_file"
ctl user grant-role root root

ctl role add nametag-admin
ctl role grant-permission nametag-admin readwrite "$P/" --prefix=true
user_add nametag-admin "$adminpw_file"
ctl user grant-role nametag-admin nametag-admin

for spec in "$@"; do
	node=${spec%%:*} pwfile=${spec#*:}
	case $node in
	''|*[!a-z0-9.-]*) echo "bad node name: $node" >&2; exit 2 ;;
	esac
	ctl role add "$node"
	ctl role grant-permission "$node" read "$P/config/" --prefix=true
	ctl role grant-permission "$node" read "$P/jwt/" --prefix=true
	ctl role grant-permission "$node" readwrite "$P/nodes/$node"
	ctl role grant-permission "$node" readwrite "$P/ca/requests/$node"
	ctl role grant-permission "$node" read "$P/ca/answers/$node"
	ctl role grant-permission "$node" readwrite "$P/jwt/$node"
	user_add "$node" "$pwfile"
	ctl user grant-role "$node" "$node"
done

ctl auth enable
