# SPDX-License-Identifier: Apache-2.0
"""The contenders: plain TCP, stunnel4, haproxy and nametag.

Every contender gets its own servers (an iperf3 server and a connbench echo
server) on its own ports, and the same path:

    client -> outbound proxy -> inbound proxy -> server
    `------ netns a ------'     `------ netns b ------'     (variant veth)
    `------------------- netns l -------------------'     (variant loopback)

The client reaches the outbound proxy over the loopback of its namespace
and the inbound proxy reaches the server over the loopback of its own.
stunnel and haproxy are configured here from their manuals and run two
processes each ("out" and "in"). nametag redirects transparently (the
client dials the server's own address); in the veth variant its two ends
are two nodes, one nametagd each, under one operator root (upstream mode);
in the loopback variant one node, one nametagd, serves both ends.
"""
import json
import os
import resource
import time

from . import topo as T

SERVICES = ("iperf", "echo")
VARIANTS = {
    "veth": {"client_ns": "a", "server_ns": "b", "server_addr": T.ADDR_B},
    "loopback": {"client_ns": "l", "server_ns": "l", "server_addr": T.ADDR_L},
}
TRUST_DOMAIN = "bench.nametag.test"
SUITE = "TLS_AES_128_GCM_SHA256"
GROUPS = "X25519:P-256"  # nametag's groups (docs/mesh-protocol.md)


def server_port(idx, service):
    return (5300 if service == "iperf" else 7300) + idx


def out_port(idx, service):
    return (11300 if service == "iperf" else 12300) + idx


def in_port(idx, service):
    return (16300 if service == "iperf" else 17300) + idx


# ---- certificates -------------------------------------------------------------

def make_certs(d):
    """A CA, a server and a client certificate, ECDSA P-256, made with the
    openssl CLI; SVID-like leaves (one URI SAN, digitalSignature, both
    EKUs) so that every contender carries certificates of the same size."""
    os.makedirs(d, exist_ok=True)
    p = lambda n: os.path.join(d, n)
    key = ["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
           "ec_paramgen_curve:P-256", "-out"]
    T.run(key + [p("ca.key")])
    T.run(["openssl", "req", "-x509", "-new", "-key", p("ca.key"), "-sha256",
           "-days", "2", "-subj", "/O=nametag bench/CN=bench CA",
           "-addext", "basicConstraints=critical,CA:TRUE",
           "-addext", "keyUsage=critical,keyCertSign,cRLSign",
           "-addext", "subjectAltName=URI:spiffe://" + TRUST_DOMAIN,
           "-out", p("ca.pem")])
    for who in ("server", "client"):
        T.run(key + [p(who + ".key")])
        T.run(["openssl", "req", "-new", "-key", p(who + ".key"),
               "-subj", "/O=nametag bench/CN=" + who, "-out", p(who + ".csr")])
        with open(p(who + ".ext"), "w") as f:
            f.write("basicConstraints=critical,CA:FALSE\n"
                    "keyUsage=critical,digitalSignature\n"
                    "extendedKeyUsage=serverAuth,clientAuth\n"
                    "subjectAltName=URI:spiffe://%s/bench/%s\n" % (TRUST_DOMAIN, who))
        T.run(["openssl", "x509", "-req", "-in", p(who + ".csr"), "-CA", p("ca.pem"),
               "-CAkey", p("ca.key"), "-CAcreateserial", "-sha256", "-days", "2",
               "-extfile", p(who + ".ext"), "-out", p(who + ".pem")])
        # haproxy's crt: certificate and key in one file.
        with open(p(who + ".crt"), "w") as f:
            for n in (who + ".pem", who + ".key"):
                with open(p(n)) as g:
                    f.write(g.read())
    return d


# ---- contenders ---------------------------------------------------------------

class Contender:
    name = "?"
    idx = 0
    client_cg = "px/client"
    server_cg = "px/server"

    def __init__(self, topo, bins, variants):
        self.t = topo
        self.bins = bins
        self.variants = variants
        self.proxies = {}      # variant -> [Popen]
        self.idle_rss = {}     # variant -> bytes, right after start
        self.servers = []

    def start(self):
        raise NotImplementedError

    def target(self, variant, service):
        v = VARIANTS[variant]
        return "%s:%d" % (v["server_addr"], server_port(self.idx, service))

    def client_ns(self, variant):
        return VARIANTS[variant]["client_ns"]

    def client_cgroup(self, variant):
        return self.client_cg

    def server_cgroup(self, variant):
        return self.server_cg

    def pids(self, variant):
        return [p.pid for p in self.proxies.get(variant, [])]

    def roles(self, variant):
        """What each process of pids() does: "out", "in" or "both"."""
        return []

    def describe(self, variant):
        """The proxy processes of VARIANT, for the JSON and the table."""
        return "no proxy"

    def fds_per_conn(self, variant):
        """Descriptors one proxy process holds per proxied connection."""
        return 0

    def alive(self):
        return all(p.poll() is None for ps in self.proxies.values() for p in ps)

    def exit_codes(self):
        return sorted({p.returncode for ps in self.proxies.values() for p in ps
                       if p.poll() is not None})

    def restart(self):
        raise RuntimeError("%s cannot be restarted" % self.name)

    def start_servers(self):
        for variant in self.variants:
            ns = VARIANTS[variant]["server_ns"]
            cg = self.server_cgroup(variant)
            ip = self.t.spawn(["iperf3", "-s", "-p", str(server_port(self.idx, "iperf"))],
                              netns=ns, cgroup=cg,
                              log="%s-%s-iperf3.log" % (self.name, variant))
            eb = self.t.spawn([self.bins["connbench"], "serve", "-t", "86400", "-l",
                               str(server_port(self.idx, "echo"))],
                              netns=ns, cgroup=cg,
                              log="%s-%s-echo.log" % (self.name, variant))
            T.wait_listening(ip, [server_port(self.idx, "iperf")])
            T.wait_listening(eb, [server_port(self.idx, "echo")])
            self.servers += [ip, eb]

    def note_idle(self):
        time.sleep(0.5)
        for variant in self.variants:
            self.idle_rss[variant] = [T.rss_bytes([p]) for p in self.pids(variant)]

    def version(self):
        return ""


class Plain(Contender):
    name = "plain"
    idx = 1

    def start(self):
        self.start_servers()


class ProxyPair(Contender):
    """Two proxy processes per variant: "out" in the client's namespace,
    "in" in the server's."""
    proxy_cg = None

    def start(self):
        self.start_servers()
        self.start_proxies()
        self.note_idle()

    def roles(self, variant):
        return ["in", "out"]  # start_proxies' order

    def describe(self, variant):
        return "two processes: out (client netns), in (server netns)"

    def fds_per_conn(self, variant):
        return 2

    def start_proxies(self):
        certs = self.t.path("certs")
        for variant in self.variants:
            v = VARIANTS[variant]
            ps = []
            for side, ns, port in (("in", v["server_ns"], in_port),
                                   ("out", v["client_ns"], out_port)):
                p = self.t.spawn(self.argv(self._conf(variant, side, certs)),
                                 netns=ns, cgroup=self.proxy_cg,
                                 log="%s-%s-%s.log" % (self.name, variant, side))
                T.wait_listening(p, [port(self.idx, s) for s in SERVICES])
                ps.append(p)
            self.proxies[variant] = ps

    def restart(self):
        """Fresh proxy processes (after a death, or before a memory
        measure: freed memory stays in a process's heap)."""
        for ps in self.proxies.values():
            for p in ps:
                self.t.stop(p)
        self.proxies = {}
        self.start_proxies()
        time.sleep(0.5)


class Stunnel(ProxyPair):
    name = "stunnel"
    idx = 2
    proxy_cg = "px/stunnel"

    def _conf(self, variant, side, certs):
        v = VARIANTS[variant]
        lines = ["foreground = yes", "pid =", "syslog = no", "debug = err", ""]
        for svc in SERVICES:
            lines.append("[%s]" % svc)
            if side == "out":
                lines += ["client = yes",
                          "accept = 127.0.0.1:%d" % out_port(self.idx, svc),
                          "connect = %s:%d" % (v["server_addr"], in_port(self.idx, svc)),
                          "cert = %s/client.pem" % certs, "key = %s/client.key" % certs,
                          "sessionResume = no"]
            else:
                lines += ["accept = %s:%d" % (v["server_addr"], in_port(self.idx, svc)),
                          "connect = 127.0.0.1:%d" % server_port(self.idx, svc),
                          "cert = %s/server.pem" % certs, "key = %s/server.key" % certs]
            lines += ["CAfile = %s/ca.pem" % certs, "verify = 2",
                      "sslVersionMin = TLSv1.3", "ciphersuites = " + SUITE,
                      "curves = " + GROUPS, ""]
        path = self.t.path("stunnel-%s-%s.conf" % (variant, side))
        with open(path, "w") as f:
            f.write("\n".join(lines))
        return path

    def argv(self, cfg):
        return ["stunnel", cfg]

    def describe(self, variant):
        return ("two processes: out (client netns), in (server netns); "
                "a thread per connection")

    def target(self, variant, service):
        return "127.0.0.1:%d" % out_port(self.idx, service)

    def version(self):
        r = T.run(["stunnel", "-version"], check=False, stderr=T.subprocess.STDOUT)
        lines = [x.strip() for x in (r or "").splitlines()]
        return next((x for x in lines if x.startswith("stunnel ")), lines[0] if lines else "")


class Haproxy(ProxyPair):
    name = "haproxy"
    idx = 3
    proxy_cg = "px/haproxy"

    def _conf(self, variant, side, certs):
        v = VARIANTS[variant]
        tls = "ssl-min-ver TLSv1.3 ciphersuites %s ca-file %s/ca.pem verify required" % (
            SUITE, certs)
        # Two descriptors per connection; haproxy refuses a maxconn the
        # descriptor limit cannot carry.
        mc = (resource.getrlimit(resource.RLIMIT_NOFILE)[0] - 200) // 2
        lines = ["global", "    maxconn %d" % mc, "",
                 "defaults", "    mode tcp", "    maxconn %d" % mc,
                 "    timeout connect 10s", "    timeout client 1h",
                 "    timeout server 1h", ""]
        for svc in SERVICES:
            lines.append("listen %s_%s" % (side, svc))
            if side == "out":
                lines += ["    bind 127.0.0.1:%d" % out_port(self.idx, svc),
                          # no-ssl-reuse: a full handshake per connection,
                          # as nametag (no tickets, no resumption).
                          "    server in %s:%d ssl crt %s/client.crt %s no-ssl-reuse" % (
                              v["server_addr"], in_port(self.idx, svc), certs, tls)]
            else:
                lines += ["    bind %s:%d ssl crt %s/server.crt %s curves %s" % (
                              v["server_addr"], in_port(self.idx, svc), certs, tls, GROUPS),
                          "    server app 127.0.0.1:%d" % server_port(self.idx, svc)]
            lines.append("")
        path = self.t.path("haproxy-%s-%s.cfg" % (variant, side))
        with open(path, "w") as f:
            f.write("\n".join(lines))
        return path

    def argv(self, cfg):
        T.run(["haproxy", "-c", "-q", "-f", cfg])
        return ["haproxy", "-db", "-f", cfg]

    def describe(self, variant):
        return ("two processes: out (client netns), in (server netns); "
                "one thread per CPU each")

    def target(self, variant, service):
        return "127.0.0.1:%d" % out_port(self.idx, service)

    def version(self):
        r = T.run(["haproxy", "-v"], check=False)
        return r.strip().splitlines()[0] if r else ""


class Node:
    """One nametagd, as one node of the trust domain: its own state and
    run dirs, bpffs, managed cgroup subtree (nt-KEY, its --cgroup-root)
    and a cgroup of its own outside it (ntd-KEY), in the network
    namespace of the first netns it serves. Its node CA is an
    intermediate under the run's CA (certs/ca.pem), the operator's
    upstream root: two nodes of one trust domain trust each other's
    SVIDs through that root (docs/ca.md)."""

    def __init__(self, topo, bins, key, instance, env, args):
        self.t = topo
        self.bins = bins
        self.key = key
        self.env = env
        self.args = args
        self.root = "nt-" + key
        self.daemon_cg = "ntd-" + key
        self.daemon = None
        self.bpffs = None
        self.set_instance(instance)

    def set_instance(self, instance):
        # A fresh state dir per daemon life: namespaces persist there.
        self.state = self.t.path("nt-%s-state%d" % (self.key, instance))
        self.rundir = self.t.path("nt-%s-run%d" % (self.key, instance))
        self.log = "nametagd-%s.log" % self.key

    def cli(self, *args, check=True):
        return T.run([self.bins["nametag"], "--run-dir", self.rundir,
                      "--state-dir", self.state] + list(args), check=check)

    def start(self, serves, namespaces, policy):
        """nametagd serving the netns keys SERVES, with NAMESPACES
        ({name: mode}, enrolled as ROOT/name) and the POLICY file."""
        self.bpffs = self.t.mount_bpffs("bpffs-" + self.key)
        certs = self.t.path("certs")
        os.chmod(os.path.join(certs, "ca.key"), 0o600)  # ca init checks it
        if not os.path.exists(os.path.join(self.state, "ca.json")):
            self.cli("ca", "init", "--trust-domain", TRUST_DOMAIN,
                     "--upstream-cert", os.path.join(certs, "ca.pem"),
                     "--upstream-key", os.path.join(certs, "ca.key"))
        self.t.cgroup(self.daemon_cg)
        argv = [self.bins["nametagd"], "--state-dir", self.state, "--run-dir",
                self.rundir, "--cgroup-root", self.t.cgroup(self.root),
                "--bpffs", self.bpffs, "--trust-domain", TRUST_DOMAIN] + self.args
        if self.env:
            argv = ["env"] + ["%s=%s" % kv for kv in self.env.items()] + argv
        self.daemon = self.t.spawn(argv, netns=serves[0], cgroup=self.daemon_cg,
                                   log=self.log)
        self._wait_up()
        for key in serves:
            self.cli("proxy", "add", "/run/netns/" + self.t.netns[key])
        for ns in namespaces:
            self.cli("ns", "add", ns, "--cgroup", self.t.cgroup("%s/%s" % (self.root, ns)))
        self.cli("policy", "load", policy)
        for ns, mode in namespaces.items():
            self.cli("ns", "enable", ns, "--mode", mode)

    def _wait_up(self):
        sock = os.path.join(self.rundir, "nametagd.sock")
        end = time.time() + 20
        while time.time() < end:
            if self.daemon.poll() is not None:
                raise RuntimeError("nametagd %s exited: %s" % (self.key, self.log_tail()))
            if os.path.exists(sock) and T.subprocess.run(
                    [self.bins["nametag"], "--run-dir", self.rundir, "--state-dir",
                     self.state, "proxy", "list"], stdout=T.subprocess.DEVNULL,
                    stderr=T.subprocess.DEVNULL, timeout=10).returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError("nametagd %s did not come up: %s" % (self.key, self.log_tail()))

    def stop(self):
        """The daemon gone and its pins removed."""
        if self.daemon:
            self.t.stop(self.daemon)
            self.daemon = None
        if self.bpffs:
            T.run([self.bins["nametagd"], "--cleanup", "--bpffs", self.bpffs],
                  check=False)

    def log_tail(self):
        try:
            with open(self.t.path(self.log)) as f:
                return "".join(f.readlines()[-15:])
        except OSError:
            return ""

    def flows(self):
        try:
            return json.loads(self.cli("-j", "flow", "list"))
        except (RuntimeError, ValueError) as e:
            print("bench: nametag %s flow list: %s" % (self.key, str(e)[-300:]))
            return []


class Nametag(Contender):
    """nametag as two nodes in the veth variant: node A (nametagd "a", in
    netns a) serves the client's namespace, so its outbound end; node B
    ("b", in netns b) serves the server's, so its inbound end, as two
    machines would. Each has its own state, run dir, bpffs and cgroup
    subtree (nt-a/, nt-b/), and namespace "bench" enrolls the client under
    A and the server under B: strict, one allow rule, the same policy on
    both. The loopback variant has both ends in one netns, so one node:
    A serves netns l too, and there the server is enrolled under A.
    Namespace "obs" (observe, for the hook cost) is on A."""
    name = "nametag"
    idx = 4
    obs_cg = "nt-a/obs/client"
    outside_cg = "nt-a/outside"

    def __init__(self, topo, bins, variants, env=None, instance=0, args=()):
        super().__init__(topo, bins, variants)
        self.instance = instance
        keys = ["a"] + (["b"] if "veth" in variants else [])
        self.nodes = {k: Node(topo, bins, k, instance, env or {}, list(args))
                      for k in keys}
        topo.cleanups.append(self.stop_daemon)

    def server_node(self, variant):
        return "b" if variant == "veth" else "a"

    def client_cgroup(self, variant):
        return "nt-a/bench/client"

    def server_cgroup(self, variant):
        return "nt-%s/bench/server" % self.server_node(variant)

    @property
    def obs_node(self):
        return self.nodes["a"]

    @property
    def daemon(self):
        return self.obs_node.daemon

    def roles(self, variant):
        return ["out", "in"] if self.server_node(variant) == "b" else ["both"]

    def describe(self, variant):
        if self.server_node(variant) == "b":
            return ("two nametagd, one per node: A (client netns, outbound end), "
                    "B (server netns, inbound end); node CAs under one upstream root")
        args = self.nodes["a"].args
        return "one nametagd (one node) serving both ends" + (
            " (%s)" % " ".join(args) if args else "")

    def fds_per_conn(self, variant):
        # Each end: the workload's or the server's socket, and the mesh one.
        return 4 if self.roles(variant) == ["both"] else 2

    def _policy(self):
        ports = [server_port(self.idx, s) for s in SERVICES]
        policy = {"namespaces": {"bench": {"rules": [{
            "action": "allow",
            "from": ["spiffe://%s/ns/bench/sa/client" % TRUST_DOMAIN],
            "to": ["spiffe://%s/ns/bench/sa/server" % TRUST_DOMAIN],
            "ports": ports}]}}}
        path = self.t.path("policy.json")
        with open(path, "w") as f:
            json.dump(policy, f)
        return path

    def start_daemon(self):
        """Every node's nametagd with its namespaces and policy, no
        workload yet."""
        policy = self._policy()
        for g in ("nt-a/bench/client", "nt-a/obs/client", self.outside_cg):
            self.t.cgroup(g)
        serves = {"a": [], "b": []}
        for variant in self.variants:
            serves["a"].append(VARIANTS[variant]["client_ns"])
            self.t.cgroup(self.server_cgroup(variant))
            if self.server_node(variant) == "b":
                serves["b"].append(VARIANTS[variant]["server_ns"])
        for key, node in self.nodes.items():
            ns = {"bench": "strict"}
            if node is self.obs_node:
                ns["obs"] = "observe"
            node.start(serves[key], ns, policy)
        for variant in self.variants:
            self.proxies[variant] = [self.nodes["a"].daemon]
            if self.server_node(variant) == "b":
                self.proxies[variant].append(self.nodes["b"].daemon)

    def start(self):
        if not self.daemon:
            self.start_daemon()
        # Servers listen after enrolment: the kernel records who listens
        # at listen(), which is what the inbound side looks up.
        self.start_servers()
        if not self.idle_rss:
            self.note_idle()

    def stop_daemon(self):
        for node in self.nodes.values():
            node.stop()

    def restart(self):
        """After a nametagd died, or before a memory measure: pins
        cleaned, a new life of every node with fresh state, the servers
        listening again (their listen() must be seen)."""
        for p in self.servers:
            self.t.stop(p)
        self.servers = []
        self.stop_daemon()
        self.instance += 1
        for node in self.nodes.values():
            node.set_instance(self.instance)
        self.start_daemon()
        self.start_servers()

    def log_tail(self):
        return "".join("[nametagd %s]\n%s" % (k, n.log_tail())
                       for k, n in self.nodes.items())

    def flows(self):
        return [f for n in self.nodes.values() for f in n.flows()]

    def version(self):
        r = T.run([self.bins["nametagd"], "-V"], check=False)
        return r.strip() if r else ""


ALL = (Plain, Stunnel, Haproxy, Nametag)
