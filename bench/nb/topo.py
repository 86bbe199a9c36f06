# SPDX-License-Identifier: Apache-2.0
"""The private world of one benchmark run, and its removal.

Network namespaces <tag>a and <tag>b joined by a veth pair (the two
"hosts"), <tag>l for the loopback variant, a cgroup v2 subtree <tag> with
one group per role, a temp dir, a private bpffs per nametagd. Everything is
named with a random tag and removed by cleanup(), whatever state the run
died in.
"""
import ctypes
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time

ADDR_A = "10.201.0.1"
ADDR_B = "10.201.0.2"
ADDR_L = "10.201.1.1"

# Ephemeral ports stay above every port a listener of the run uses.
PORT_RANGE = "20000 64999"


def cgroup2_mount():
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            sep = fields.index("-")
            if fields[sep + 1] == "cgroup2":
                return fields[4]
    return None


def run(argv, check=True, **kw):
    """A short command; its output as text."""
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    p = subprocess.run(argv, text=True, timeout=kw.pop("timeout", 60), **kw)
    if check and p.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(argv), p.returncode,
                                                  (p.stderr or "").strip()[-800:]))
    return p.stdout


class Topology:
    def __init__(self, keep_logs=False):
        self.tag = "ntb" + secrets.token_hex(3)
        self.dir = tempfile.mkdtemp(prefix="nametag-bench.")
        self.keep_logs = keep_logs
        cg2 = cgroup2_mount()
        if not cg2:
            raise RuntimeError("no cgroup v2 mount found")
        self.cg = os.path.join(cg2, self.tag)
        self.netns = {}
        self.procs = []
        self.bpffs = {}  # name -> mount point, one private bpffs per nametagd
        self.cleanups = []  # extra steps, run first, newest first

    # ---- building ---------------------------------------------------------

    def cgroup(self, rel):
        path = os.path.join(self.cg, rel)
        os.makedirs(path, exist_ok=True)
        return path

    def add_netns(self, key):
        name = self.tag + key
        run(["ip", "netns", "add", name])
        self.netns[key] = name
        self.ns_run(key, ["ip", "link", "set", "lo", "up"])
        # Per network namespace: thousands of short connections a second
        # must not run out of ports while earlier ones sit in TIME_WAIT.
        self.ns_run(key, ["sysctl", "-q", "-w",
                          "net.ipv4.ip_local_port_range=" + PORT_RANGE,
                          "net.ipv4.tcp_tw_reuse=1",
                          "net.core.somaxconn=8192",
                          "net.ipv4.tcp_max_syn_backlog=8192"])
        return name

    def build(self, loopback=True):
        """Namespaces a and b joined by veth; l with an address on lo."""
        os.makedirs(self.cg)
        self.add_netns("a")
        self.add_netns("b")
        x, y = self.tag + "x", self.tag + "y"
        run(["ip", "link", "add", x, "type", "veth", "peer", "name", y])
        run(["ip", "link", "set", x, "netns", self.netns["a"]])
        run(["ip", "link", "set", y, "netns", self.netns["b"]])
        self.ns_run("a", ["ip", "addr", "add", ADDR_A + "/24", "dev", x])
        self.ns_run("b", ["ip", "addr", "add", ADDR_B + "/24", "dev", y])
        self.ns_run("a", ["ip", "link", "set", x, "up"])
        self.ns_run("b", ["ip", "link", "set", y, "up"])
        if loopback:
            self.add_netns("l")
            self.ns_run("l", ["ip", "addr", "add", ADDR_L + "/32", "dev", "lo"])

    def mount_bpffs(self, name="bpffs"):
        """A private bpffs under the temp dir (made once per NAME)."""
        if name not in self.bpffs:
            path = os.path.join(self.dir, name)
            os.makedirs(path)
            run(["mount", "-t", "bpf", "bpf", path])
            self.bpffs[name] = path
        return self.bpffs[name]

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    # ---- running things ---------------------------------------------------

    def enter(self, netns, cg):
        """In the child, before exec: NETNS first, then CGROUP. nametagd
        serves the netns a process is in when it joins an enrolled cgroup,
        so it must be the pod's, never the machine's."""
        if netns is not None:
            fd = os.open("/run/netns/" + self.netns[netns], os.O_RDONLY)
            if ctypes.CDLL(None, use_errno=True).setns(fd, 0x40000000) != 0:
                raise OSError(ctypes.get_errno(), "setns")
            os.close(fd)
        if cg:
            with open(os.path.join(cg, "cgroup.procs"), "w") as f:
                f.write("0")

    def ns_argv(self, key, argv):
        if key is None:
            return list(argv)
        return ["nsenter", "--net=/run/netns/" + self.netns[key], "--"] + list(argv)

    def ns_run(self, key, argv, **kw):
        return run(self.ns_argv(key, argv), **kw)

    def spawn(self, argv, netns=None, cgroup=None, log=None, stdin=None,
              stdout=None):
        """A long-running process in NETNS and CGROUP, remembered for the
        cleanup. nsenter execs, so the pid is the command's own."""
        cg = self.cgroup(cgroup) if cgroup else None

        def join():
            self.enter(netns, cg)
        logf = open(self.path(log), "ab") if log else None
        err = logf or subprocess.DEVNULL
        try:
            p = subprocess.Popen(self.ns_argv(netns, argv), preexec_fn=join,
                                 stdin=subprocess.DEVNULL if stdin is None else stdin,
                                 stdout=err if stdout is None else stdout,
                                 stderr=err, start_new_session=True)
        finally:
            if logf:
                logf.close()
        self.procs.append(p)
        return p

    def run_in(self, argv, netns=None, cgroup=None, timeout=120):
        """A bounded command in NETNS and CGROUP; (rc, stdout, stderr)."""
        cg = self.cgroup(cgroup) if cgroup else None

        def join():
            self.enter(netns, cg)
        p = subprocess.Popen(self.ns_argv(netns, argv), preexec_fn=join,
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True,
                             start_new_session=True)
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            out, err = p.communicate()
            return 124, out, err + "\n(timed out after %ss)" % timeout
        return p.returncode, out, err

    def stop(self, p, timeout=5):
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait(5)
        if p in self.procs:
            self.procs.remove(p)

    # ---- cleanup ----------------------------------------------------------

    def _kill_cgroup_tree(self):
        for _ in range(50):
            pids = []
            for root, _dirs, files in os.walk(self.cg):
                if "cgroup.procs" in files:
                    try:
                        with open(os.path.join(root, "cgroup.procs")) as f:
                            pids += [int(x) for x in f.read().split()]
                    except OSError:
                        pass
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.1)
        for root, _dirs, _files in sorted(os.walk(self.cg, topdown=False),
                                          key=lambda t: -t[0].count("/")):
            try:
                os.rmdir(root)
            except OSError:
                pass

    def cleanup(self):
        for fn in reversed(self.cleanups):
            try:
                fn()
            except Exception as e:  # keep going: the rest must still go
                print("bench: cleanup step failed: %s" % e)
        self.cleanups = []
        for p in list(self.procs):
            try:
                self.stop(p, timeout=3)
            except Exception:
                pass
        for path in self.bpffs.values():
            subprocess.run(["umount", path], stderr=subprocess.DEVNULL)
        self.bpffs = {}
        for name in self.netns.values():
            subprocess.run(["ip", "netns", "del", name], stderr=subprocess.DEVNULL)
        self.netns = {}
        if os.path.isdir(self.cg):
            self._kill_cgroup_tree()
        if self.keep_logs:
            print("bench: logs kept in %s" % self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


# ---- what a process costs ---------------------------------------------------

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids):
    """utime + stime of every thread of PIDS, in seconds."""
    total = 0
    for pid in pids:
        try:
            with open("/proc/%d/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError):
            pass
    return total / CLK_TCK


def cgroup_cpu_seconds(path):
    """CPU time of every process of a cgroup subtree (cgroup v2 cpu.stat,
    kept without the cpu controller), kernel work done in their context
    included. Other users of a shared machine are not in it."""
    with open(os.path.join(path, "cpu.stat")) as f:
        for line in f:
            k, v = line.split()
            if k == "usage_usec":
                return int(v) / 1e6
    return 0.0


def rss_bytes(pids):
    total = 0
    for pid in pids:
        try:
            with open("/proc/%d/status" % pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def fd_count(pids):
    n = 0
    for pid in pids:
        try:
            n += len(os.listdir("/proc/%d/fd" % pid))
        except OSError:
            pass
    return n


def listening(pid, port):
    """Whether a socket of PID's network namespace listens on PORT."""
    for name in ("tcp", "tcp6"):
        try:
            with open("/proc/%d/net/%s" % (pid, name)) as f:
                next(f)
                for line in f:
                    cols = line.split()
                    if cols[3] == "0A" and int(cols[1].split(":")[1], 16) == port:
                        return True
        except (OSError, StopIteration):
            pass
    return False


def wait_listening(p, ports, timeout=15):
    end = time.time() + timeout
    while time.time() < end:
        if p.poll() is not None:
            raise RuntimeError("%s exited (%s) before listening" %
                               (p.args[-1] if p.args else "?", p.returncode))
        if all(listening(p.pid, port) for port in ports):
            return
        time.sleep(0.05)
    raise RuntimeError("nothing listens on %s after %ss" % (ports, timeout))
