# SPDX-License-Identifier: Apache-2.0
"""The measures of issue 5, one sample at a time. Each function runs one
bounded client, reads what the proxies cost meanwhile, and returns plain
numbers; repetition and statistics are the caller's."""
import ctypes
import glob
import json
import os
import select
import struct
import subprocess
import time

from . import topo as T


class MeasureError(Exception):
    pass


def _json(out, what):
    try:
        return json.loads(out)
    except ValueError:
        raise MeasureError("%s printed no JSON: %s" % (what, out.strip()[-300:]))


def throughput(t, c, variant, streams, secs):
    """iperf3 from the client's side to the contender's iperf3 server: the
    bulk rate, and CPU seconds per GB moved, of the proxies and of the
    whole run (client, server, proxies: the run's cgroup subtree)."""
    host, port = c.target(variant, "iperf").rsplit(":", 1)
    argv = ["iperf3", "-c", host, "-p", port, "-t", str(secs), "-P", str(streams),
            "-J", "--connect-timeout", "5000"]
    pids = c.pids(variant)
    cpu0, sys0 = T.cpu_seconds(pids), T.cgroup_cpu_seconds(t.cg)
    rc, out, err = t.run_in(argv, netns=c.client_ns(variant), cgroup=c.client_cgroup(variant),
                            timeout=secs + 40)
    cpu1, sys1 = T.cpu_seconds(pids), T.cgroup_cpu_seconds(t.cg)
    r = _json(out, "iperf3")
    if rc != 0 or "error" in r:
        raise MeasureError("iperf3: %s" % (r.get("error") or err.strip()[-300:]))
    recv = r["end"]["sum_received"]
    gb = recv["bytes"] / 1e9
    if gb <= 0:
        raise MeasureError("iperf3 moved no bytes")
    return {
        "gbit_s": recv["bits_per_second"] / 1e9,
        "proxy_cpu_s_per_gb": (cpu1 - cpu0) / gb,
        "run_cpu_s_per_gb": (sys1 - sys0) / gb,
    }


def connbench(t, c, variant, bins, mode, conc, secs, count, size=1):
    """connbench conn|rr against the contender's echo server."""
    argv = [bins["connbench"], mode, "-a", c.target(variant, "echo"), "-c", str(conc),
            "-t", str(secs), "-n", str(count), "-s", str(size)]
    pids = c.pids(variant)
    cpu0, sys0 = T.cpu_seconds(pids), T.cgroup_cpu_seconds(t.cg)
    rc, out, err = t.run_in(argv, netns=c.client_ns(variant), cgroup=c.client_cgroup(variant),
                            timeout=secs + 60)
    cpu1, sys1 = T.cpu_seconds(pids), T.cgroup_cpu_seconds(t.cg)
    r = _json(out, "connbench " + mode)
    n = r["requests"]
    if rc != 0 or n == 0:
        raise MeasureError("connbench %s: %d requests, %d errors (%s) %s" % (
            mode, n, r.get("errors", 0), r.get("first_error", ""), err.strip()[-200:]))
    if r["errors"] > max(10, n // 100):
        raise MeasureError("connbench %s: %d errors in %d requests (%s)" % (
            mode, r["errors"], n, r["first_error"]))
    lat = r["latency"]
    return {
        "per_s": r["per_s"],
        "p50_us": lat["p50_us"],
        "p99_us": lat["p99_us"],
        "proxy_cpu_us_per_op": (cpu1 - cpu0) / n * 1e6,
        "run_cpu_us_per_op": (sys1 - sys0) / n * 1e6,
        "errors": r["errors"],
    }


def _drain(t, pids, fds0, timeout=30):
    """Waits until the proxies closed what the last test opened."""
    end = time.time() + timeout
    while time.time() < end and T.fd_count(pids) > fds0 + 8:
        time.sleep(0.2)


def memory(t, c, variant, bins, n, setup_secs):
    """RSS of the proxies with N idle proxied connections held open by
    connbench hold (each did one echo, so every hop exists): summed over
    the proxy processes, and per process (in the order of c.pids())."""
    pids = c.pids(variant)
    fds0 = T.fd_count(pids)
    before = [T.rss_bytes([x]) for x in pids]
    p = t.spawn([bins["connbench"], "hold", "-a", c.target(variant, "echo"),
                 "-n", str(n), "-c", "64", "-t", str(setup_secs)],
                netns=c.client_ns(variant), cgroup=c.client_cgroup(variant),
                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                log="hold-%s-%s.log" % (c.name, variant))
    try:
        ready, _, _ = select.select([p.stdout], [], [], setup_secs + 10)
        line = p.stdout.readline() if ready else b""
        if not line:
            raise MeasureError("connbench hold said nothing in %ss" % setup_secs)
        r = _json(line.decode(), "connbench hold")
        time.sleep(1.0)  # let the proxies finish their side of the last ones
        held = [T.rss_bytes([x]) for x in pids]
    finally:
        try:
            p.stdin.close()
        except OSError:
            pass
        t.stop(p, timeout=60)
        if p.stdout:
            p.stdout.close()
        _drain(t, pids, fds0)
    if r["ready"] < n * 0.99:
        raise MeasureError("only %d of %d connections came up (%d failed, %d pending)" % (
            r["ready"], n, r["failed"], r["pending"]))
    return {
        "rss_before_mb": sum(before) / 2**20,
        "rss_before_each_mb": [b / 2**20 for b in before],
        "rss_held_mb": sum(held) / 2**20,
        "bytes_per_conn": (sum(held) - sum(before)) / r["ready"],
        "bytes_per_conn_each": [(h - b) / r["ready"] for h, b in zip(held, before)],
        "setup_s": r["setup_s"],
    }


def connect_cost(t, bins, cgroup, iters, netns="a"):
    """Median ns of connect() to a loopback listener, from CGROUP."""
    rc, out, err = t.run_in([bins["connbench"], "lat", "-n", str(iters), "-t", "60"],
                            netns=netns, cgroup=cgroup, timeout=90)
    r = _json(out, "connbench lat")
    if rc != 0 or not r.get("iterations"):
        raise MeasureError("connbench lat: " + err.strip()[-300:])
    return {"connect_ns": r["connect_ns"]["p50"],
            "iteration_ns": r["iteration_ns"]["p50"], "iterations": r["iterations"]}


# ---- what nametag's BPF programs themselves cost ------------------------------

BPF_ENABLE_STATS = 32   # enum bpf_cmd
BPF_STATS_RUN_TIME = 0
NR_BPF = {"x86_64": 321, "aarch64": 280}.get(os.uname().machine)


class BpfStats:
    """Run-time statistics of every BPF program, on while this object is
    open: BPF_ENABLE_STATS hands out an fd, and closing it (or dying)
    turns them off again, so nothing of the machine's setting changes."""

    def __init__(self):
        self.fd = -1
        if NR_BPF is None:
            return
        libc = ctypes.CDLL(None, use_errno=True)
        attr = ctypes.create_string_buffer(struct.pack("<I", BPF_STATS_RUN_TIME), 128)
        self.fd = libc.syscall(NR_BPF, BPF_ENABLE_STATS, attr, 128)

    def close(self):
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def nametag_progs(bpffs):
    """{name: prog id} of nametag's pinned programs and sk_lookup links."""
    ids = {}
    for path in glob.glob(os.path.join(bpffs, "nametag/progs/*")):
        r = T.run(["bpftool", "-j", "prog", "show", "pinned", path], check=False)
        try:
            ids[os.path.basename(path)] = json.loads(r)["id"]
        except (ValueError, KeyError, TypeError):
            pass
    for path in glob.glob(os.path.join(bpffs, "nametag/links/lookup-*")):
        r = T.run(["bpftool", "-j", "link", "show", "pinned", path], check=False)
        try:
            ids[os.path.basename(path)] = json.loads(r)["prog_id"]
        except (ValueError, KeyError, TypeError):
            pass
    return ids


def prog_runtime(ids):
    """{prog id: (run_time_ns, run_cnt)} for IDS."""
    want = set(ids.values())
    out = {}
    try:
        progs = json.loads(T.run(["bpftool", "-j", "prog", "show"], check=False))
    except ValueError:
        return out
    for p in progs:
        if p.get("id") in want:
            out[p["id"]] = (p.get("run_time_ns", 0), p.get("run_cnt", 0))
    return out
