# Fleet mode's live topology (docs/fleet.md), for test_fleet.sh and
# `make demo-fleet`: one etcd 3.4 behind TLS with client certificates and
# auth roles (contrib/etcd/fleet-roles.sh), in a network namespace of its
# own, joined to each node's network namespace by a veth; nametagd per
# node (lib.sh's start_daemon: own state dir, run dir, bpffs and cgroup
# root), the signer and the operator's CLI in etcd's namespace. Sourced
# after lib.sh.

FLEET_TD=fleet.example.org
FLEET_NODES=(n1 n2 n3)
FLEET_PKI=""
ETCD_NS=""
ETCD_PID=""
ETCD_DATA=""
SIGNER_PID=""

# fleet_ip I: etcd's address on the veth to node I (1-based); the node's
# own is 10.77.I.2.
fleet_ip() {
	echo "10.77.$1.1"
}

# fleet_pki: etcd's CA, its server certificate (every address it serves),
# one client certificate without CN (etcd's gateway refuses a CN), the
# trust domain's upstream root, and one password per etcd user.
fleet_pki() {
	local ec="-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes" san="IP:127.0.0.1" i n
	FLEET_PKI=$LIVE_DIR/pki
	for ((i = 1; i <= ${#FLEET_NODES[@]}; i++)); do
		san+=",IP:$(fleet_ip $i)"
	done
	mkdir -p "$FLEET_PKI" && (
		cd "$FLEET_PKI" &&
		openssl req -x509 $ec -keyout ca.key -out ca.crt -days 2 -subj '/CN=etcd test CA' &&
		openssl req -new $ec -keyout server.key -out server.csr -subj '/CN=etcd' &&
		printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$san" >server.ext &&
		openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -set_serial 1 \
			-days 2 -extfile server.ext -out server.crt &&
		printf 'extendedKeyUsage=clientAuth\n' >client.ext &&
		openssl req -new $ec -keyout client.key -out client.csr -subj '/O=nametag' &&
		openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -set_serial 2 \
			-days 2 -extfile client.ext -out client.crt &&
		openssl req -x509 $ec -keyout root.key -out root.crt -days 30 \
			-subj '/O=fleet test/CN=fleet root' \
			-addext 'basicConstraints=critical,CA:TRUE' \
			-addext 'keyUsage=critical,keyCertSign,cRLSign' &&
		for n in root nametag-admin "${FLEET_NODES[@]}"; do
			od -An -N12 -tx1 /dev/urandom | tr -d ' \n' >"$n.pw" || exit 1
		done &&
		chmod 600 ./*.key ./*.pw
	) >"$LIVE_DIR/pki.log" 2>&1
}

# etcd_start: etcd in $ETCD_NS on every address of the namespace, data in
# a temporary dir (kept across a restart); waits until it answers.
etcd_start() {
	ETCD_DATA=${ETCD_DATA:-$LIVE_DIR/etcd.data}
	ip netns exec "$ETCD_NS" etcd --name fleet-test --data-dir "$ETCD_DATA" \
		--listen-client-urls https://0.0.0.0:2379 \
		--advertise-client-urls https://127.0.0.1:2379 \
		--listen-peer-urls http://127.0.0.1:2380 \
		--initial-advertise-peer-urls http://127.0.0.1:2380 \
		--initial-cluster fleet-test=http://127.0.0.1:2380 \
		--cert-file "$FLEET_PKI/server.crt" --key-file "$FLEET_PKI/server.key" \
		--client-cert-auth --trusted-ca-file "$FLEET_PKI/ca.crt" \
		>>"$LIVE_DIR/etcd.log" 2>&1 &
	ETCD_PID=$!
	LIVE_PIDS+=("$ETCD_PID")
	wait_for 20 etcd_answers
}

etcd_answers() {
	ip netns exec "$ETCD_NS" curl -s -o /dev/null --max-time 1 \
		--cacert "$FLEET_PKI/ca.crt" --cert "$FLEET_PKI/client.crt" \
		--key "$FLEET_PKI/client.key" -X POST -d '{"key":"AA=="}' \
		https://127.0.0.1:2379/v3/kv/range
}

# etcd_stop: SIGKILL by its pid (no goodbye to its clients), reaped.
etcd_stop() {
	[ -n "$ETCD_PID" ] || return 0
	kill -KILL "$ETCD_PID" 2>/dev/null
	wait "$ETCD_PID" 2>/dev/null
	ETCD_PID=""
}

# ectl USER ARGS...: etcdctl as an etcd user, in etcd's namespace.
ectl() {
	local user=$1
	shift
	ip netns exec "$ETCD_NS" env ETCDCTL_API=3 etcdctl \
		--endpoints https://127.0.0.1:2379 --cacert "$FLEET_PKI/ca.crt" \
		--cert "$FLEET_PKI/client.crt" --key "$FLEET_PKI/client.key" \
		--user "$user:$(cat "$FLEET_PKI/$user.pw")" "$@" 2>"$LIVE_DIR/ectl.err"
}

# op ARGS...: the operator's CLI against the fleet (as nametag-admin).
op() {
	ip netns exec "$ETCD_NS" "$NAMETAG" --etcd https://127.0.0.1:2379 \
		--etcd-ca "$FLEET_PKI/ca.crt" --etcd-cert "$FLEET_PKI/client.crt" \
		--etcd-key "$FLEET_PKI/client.key" --etcd-user nametag-admin \
		--etcd-password-file "$FLEET_PKI/nametag-admin.pw" "$@"
}

# signer_start: `nametag ca signer` with the upstream key, in etcd's netns;
# $SIGNER_ARGS, if set, adds options (the federation fetcher's).
signer_start() {
	ip netns exec "$ETCD_NS" "$NAMETAG" --etcd https://127.0.0.1:2379 \
		--etcd-ca "$FLEET_PKI/ca.crt" --etcd-cert "$FLEET_PKI/client.crt" \
		--etcd-key "$FLEET_PKI/client.key" --etcd-user nametag-admin \
		--etcd-password-file "$FLEET_PKI/nametag-admin.pw" \
		ca signer --trust-domain "$FLEET_TD" \
		--upstream-cert "$FLEET_PKI/root.crt" \
		--upstream-key "$FLEET_PKI/root.key" ${SIGNER_ARGS:-} \
		>>"$LIVE_DIR/signer.log" 2>&1 &
	SIGNER_PID=$!
	LIVE_PIDS+=("$SIGNER_PID")
	wait_for 10 eval 'op policy show >/dev/null'
}

# fleet_up: PKI, etcd's namespace, etcd, its users and roles, the signer.
# (the gateway inside etcd presents the server certificate as a client:
# hence clientAuth on it too)
fleet_up() {
	fleet_pki || { cat "$LIVE_DIR/pki.log"; return 1; }
	netns_add ETCD_NS etcd || return 1
	etcd_start || { cat "$LIVE_DIR/etcd.log"; return 1; }
	local -a specs=()
	local n
	for n in "${FLEET_NODES[@]}"; do
		specs+=("$n:$FLEET_PKI/$n.pw")
	done
	ip netns exec "$ETCD_NS" contrib/etcd/fleet-roles.sh https://127.0.0.1:2379 \
		"$FLEET_PKI/ca.crt" "$FLEET_PKI/client.crt" "$FLEET_PKI/client.key" \
		"$FLEET_PKI/root.pw" "$FLEET_PKI/nametag-admin.pw" "${specs[@]}" \
		>"$LIVE_DIR/roles.log" 2>&1 || { cat "$LIVE_DIR/roles.log"; return 1; }
	signer_start || { cat "$LIVE_DIR/signer.log"; return 1; }
}

# node_up I TOKEN: node ${FLEET_NODES[I-1]}: its netns joined to etcd's by
# a veth, nametagd with --etcd, its own etcd user, and TOKEN (first start);
# the Workload API on $LIVE_DIR/NAME/wl/api.sock; $FLEET_NODE_ARGS adds
# nametagd options.
node_up() {
	local i=$1 token=$2 name=${FLEET_NODES[$1-1]} ns
	DAEMON_ARGS="--etcd https://$(fleet_ip "$i"):2379 --node $name
		--etcd-ca $FLEET_PKI/ca.crt --etcd-cert $FLEET_PKI/client.crt
		--etcd-key $FLEET_PKI/client.key --etcd-user $name
		--etcd-password-file $FLEET_PKI/$name.pw --lease-ttl 10s
		--workload-api $LIVE_DIR/$name/wl/api.sock
		${token:+--join-token $token} ${FLEET_NODE_ARGS:-}"
	# The veth must be there before the daemon asks etcd: the netns is
	# made here, not by start_daemon.
	netns_add ns "node-$name" || return 1
	veth_pair "$ETCD_NS" "$(fleet_ip "$i")/24" "$ns" "10.77.$i.2/24" || return 1
	FLEET_NODE_NS[$name]=$ns
	mkcg "$name"
	DAEMON_NETNS=$ns start_daemon "$name" "$LIVE_CG/$name" "$FLEET_TD"
}
declare -A FLEET_NODE_NS=()

# node_status NAME: `nametag node status -j` of node NAME.
node_status() {
	ntd "$1" -j node status | jq -c .fleet
}

# node_revision NAME: the etcd revision node NAME enforces.
node_revision() {
	node_status "$1" | jq -r '.revision'
}
