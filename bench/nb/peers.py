# SPDX-License-Identifier: Apache-2.0
"""The contenders: plain TCP, stunnel4, haproxy and nametag.

Every contender gets its own servers (an iperf3 server and a connbench echo
server) on its own ports, and the same path:

    client -> outbound proxy -> inbound proxy -> server
    `------ netns a ------'     `------ netns b ------'     (variant veth)
    `------------------- netns l -------------------'     (variant loopback)

The client reaches the outbound proxy over the loopback of its namespace
and the inbound proxy reaches the server over the loopback of its own.
stunnel and haproxy are configured here from their manuals; nametag
redirects transparently (the client dials the server's own address).
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

    def pids(self, variant):
        return [p.pid for p in self.proxies.get(variant, [])]

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
            ip = self.t.spawn(["iperf3", "-s", "-p", str(server_port(self.idx, "iperf"))],
                              netns=ns, cgroup=self.server_cg,
                              log="%s-%s-iperf3.log" % (self.name, variant))
            eb = self.t.spawn([self.bins["connbench"], "serve", "-t", "86400", "-l",
                               str(server_port(self.idx, "echo"))],
                              netns=ns, cgroup=self.server_cg,
                              log="%s-%s-echo.log" % (self.name, variant))
            T.wait_listening(ip, [server_port(self.idx, "iperf")])
            T.wait_listening(eb, [server_port(self.idx, "echo")])
            self.servers += [ip, eb]

    def note_idle(self):
        time.sleep(0.5)
        for variant in self.variants:
            self.idle_rss[variant] = T.rss_bytes(self.pids(variant))

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

    def target(self, variant, service):
        return "127.0.0.1:%d" % out_port(self.idx, service)

    def version(self):
        r = T.run(["haproxy", "-v"], check=False)
        return r.strip().splitlines()[0] if r else ""


class Nametag(Contender):
    """One nametagd serves every namespace of the run. It runs inside
    netns l (which it therefore serves from the start), in a cgroup
    outside the subtree it manages. Namespace "bench" (client and server)
    is strict with one allow rule; "obs" is observe, for the hook cost."""
    name = "nametag"
    idx = 4
    client_cg = "nt/bench/client"
    server_cg = "nt/bench/server"
    daemon_cg = "ntd"
    managed = "nt"

    def __init__(self, topo, bins, variants, env=None, instance=0, args=()):
        super().__init__(topo, bins, variants)
        self.env = env or {}
        self.args = list(args)
        self.daemon = None
        self.instance = instance
        self._dirs()
        topo.cleanups.append(self._cleanup_pins)

    def _dirs(self):
        # A fresh state dir per daemon life: namespaces persist there.
        self.state = self.t.path("nt-state%d" % self.instance)
        self.rundir = self.t.path("nt-run%d" % self.instance)

    def _cleanup_pins(self):
        if self.daemon:
            self.t.stop(self.daemon)
            self.daemon = None
        if self.t.bpffs:
            T.run([self.bins["nametagd"], "--cleanup", "--bpffs", self.t.bpffs],
                  check=False)

    def cli(self, *args, check=True):
        return T.run([self.bins["nametag"], "--run-dir", self.rundir,
                      "--state-dir", self.state] + list(args), check=check)

    def start_daemon(self):
        """nametagd with its namespaces and policy, no workload yet."""
        if not self.t.bpffs:
            self.t.mount_bpffs()
        for g in ("nt/bench/client", "nt/bench/server", "nt/obs/client",
                  "nt/outside", self.daemon_cg):
            self.t.cgroup(g)
        argv = [self.bins["nametagd"], "--state-dir", self.state, "--run-dir",
                self.rundir, "--cgroup-root", self.t.cgroup(self.managed),
                "--bpffs", self.t.bpffs, "--trust-domain", TRUST_DOMAIN] + self.args
        if self.env:
            argv = ["env"] + ["%s=%s" % kv for kv in self.env.items()] + argv
        self.daemon = self.t.spawn(argv, netns="l" if "l" in self.t.netns else None,
                                   cgroup=self.daemon_cg, log="nametagd.log")
        sock = os.path.join(self.rundir, "nametagd.sock")
        end = time.time() + 20
        while time.time() < end:
            if self.daemon.poll() is not None:
                raise RuntimeError("nametagd exited: " + self.log_tail())
            if os.path.exists(sock) and T.subprocess.run(
                    [self.bins["nametag"], "--run-dir", self.rundir, "--state-dir",
                     self.state, "proxy", "list"], stdout=T.subprocess.DEVNULL,
                    stderr=T.subprocess.DEVNULL, timeout=10).returncode == 0:
                break
            time.sleep(0.1)
        else:
            raise RuntimeError("nametagd did not come up: " + self.log_tail())
        for key in ("a", "b"):
            if key in self.t.netns:
                self.cli("proxy", "add", "/run/netns/" + self.t.netns[key])
        self.cli("ns", "add", "bench", "--cgroup", self.t.cgroup("nt/bench"))
        self.cli("ns", "add", "obs", "--cgroup", self.t.cgroup("nt/obs"))
        ports = [server_port(self.idx, s) for s in SERVICES]
        policy = {"namespaces": {"bench": {"rules": [{
            "action": "allow",
            "from": ["spiffe://%s/ns/bench/sa/client" % TRUST_DOMAIN],
            "to": ["spiffe://%s/ns/bench/sa/server" % TRUST_DOMAIN],
            "ports": ports}]}}}
        with open(self.t.path("policy.json"), "w") as f:
            json.dump(policy, f)
        self.cli("policy", "load", self.t.path("policy.json"))
        self.cli("ns", "enable", "bench", "--mode", "strict")
        self.cli("ns", "enable", "obs", "--mode", "observe")
        for variant in self.variants:
            self.proxies[variant] = [self.daemon]

    def start(self):
        if not self.daemon:
            self.start_daemon()
        # Servers listen after enrolment: the kernel records who listens
        # at listen(), which is what the inbound side looks up.
        self.start_servers()
        if not self.idle_rss:
            self.note_idle()

    def stop_daemon(self):
        self._cleanup_pins()

    def restart(self):
        """After nametagd died: its pins cleaned, a new life with fresh
        state, the servers listening again (their listen() must be seen)."""
        for p in self.servers:
            self.t.stop(p)
        self.servers = []
        self._cleanup_pins()
        self.instance += 1
        self._dirs()
        self.start_daemon()
        self.start_servers()

    def log_tail(self):
        try:
            with open(self.t.path("nametagd.log")) as f:
                return "".join(f.readlines()[-15:])
        except OSError:
            return ""

    def flows(self):
        try:
            return json.loads(self.cli("-j", "flow", "list"))
        except (RuntimeError, ValueError) as e:
            print("bench: nametag flow list: %s" % str(e)[-300:])
            return []

    def version(self):
        r = T.run([self.bins["nametagd"], "-V"], check=False)
        return r.strip() if r else ""


ALL = (Plain, Stunnel, Haproxy, Nametag)
