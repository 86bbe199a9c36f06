# SPDX-License-Identifier: Apache-2.0
"""The kTLS ratio: nametag's one-stream throughput with kernel TLS over
the same without it, in one boot of the tests/vm/ VM (Debian's 6.1 kernel,
which has CONFIG_TLS=m). TCG makes absolute figures meaningless there;
only the ratio of the two, measured alternately in the same boot, is kept.
nametag runs as in the host's veth variant: two nodes, a nametagd each, so
both ends use (or both do without) kTLS and "proxy CPU" adds up the two.

Without kTLS: nametagd --no-ktls. A nametagd without that option is made
to find no "tls" ULP instead: the VM's module loader is pointed at nothing
while it starts (tls.ko unloaded first if an earlier phase loaded it).
Each phase's flows say whether kTLS carried it; a phase whose flows say
otherwise is dropped.
"""
import json
import os
import statistics
import subprocess
import sys
import time

from . import measure as M
from . import peers as P
from . import topo as T

MARK = "NTBENCH-VM-RESULT "
MODPROBE = "/proc/sys/kernel/modprobe"
NO_LOADER = "/nonexistent/nametag-bench-no-modprobe"


def _tls_loaded():
    with open("/proc/modules") as f:
        return any(line.split()[0] == "tls" for line in f)


def _set_loader(path):
    with open(MODPROBE, "w") as f:
        f.write(path)


def _has_no_ktls(bins):
    r = subprocess.run([bins["nametagd"], "--help"], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    return "--no-ktls" in r.stdout


def _phase(t, bins, ktls, secs, streams, instance):
    """One nametagd life: start, measure, stop. Returns (the throughput
    measure, the flows' kTLS state) or raises."""
    option = _has_no_ktls(bins)
    block = not ktls and not option
    if block:
        if _tls_loaded():
            subprocess.run(["rmmod", "tls"], stderr=subprocess.DEVNULL)
        if _tls_loaded():
            raise M.MeasureError("tls.ko is loaded and cannot be removed")
    nt = P.Nametag(t, bins, ["veth"], instance=instance,
                   args=["--no-ktls"] if not ktls and option else [])
    old = open(MODPROBE).read().strip()
    try:
        if block:
            _set_loader(NO_LOADER)
        nt.start()
        r = M.throughput(t, nt, "veth", streams, secs)
        flows = [f for f in nt.flows() if f.get("type") == "outbound" and
                 f.get("verdict") == "allow"]
        on = [bool(f.get("ktls_tx")) and bool(f.get("ktls_rx")) for f in flows]
        if not on:
            print("bench(vm): no allowed outbound flow; nametagd said:\n" + nt.log_tail())
    finally:
        _set_loader(old)
        for p in nt.servers:
            t.stop(p)
        nt.stop_daemon()
    state = all(on) if on else None
    return r, state


def inner(a, bins):
    """Runs inside the VM; prints one MARK line with the result."""
    if os.environ.get("NAMETAG_VM") != "1":
        sys.exit("bench: --vm-inner runs inside tests/vm/run-in-vm.sh")
    secs = 3 if a.quick else 8
    reps = a.reps or (2 if a.quick else 4)
    t = T.Topology()
    res = {"kernel": os.uname().release, "reps": reps, "secs": secs, "streams": 1,
           "without_ktls_by": "nametagd --no-ktls" if _has_no_ktls(bins) else
           "tls.ko kept from loading",
           "ktls_gbit_s": [], "userspace_gbit_s": [], "plain_gbit_s": [],
           "ktls_proxy_cpu_s_per_gb": [], "userspace_proxy_cpu_s_per_gb": [],
           "dropped": [], "errors": []}
    try:
        t.build(loopback=False)
        P.make_certs(t.path("certs"))
        # Plain TCP over the same veth, for scale: what TCG leaves for TCP.
        plain = P.Plain(t, bins, ["veth"])
        plain.start()
        for rep in range(reps):
            try:
                res["plain_gbit_s"].append(M.throughput(t, plain, "veth", 1, secs)["gbit_s"])
            except M.MeasureError as e:
                res["errors"].append("plain: %s" % e)
            for ktls in (False, True):
                mode = "ktls" if ktls else "userspace"
                try:
                    r, state = _phase(t, bins, ktls, secs, 1, 2 * rep + ktls)
                except (M.MeasureError, RuntimeError) as e:
                    res["errors"].append("%s: %s" % (mode, e))
                    continue
                print("bench(vm): rep %d %s %.3f Gbit/s, nametagd %.1f CPU s/GB, flows kTLS %s"
                      % (rep + 1, mode, r["gbit_s"], r["proxy_cpu_s_per_gb"], state), flush=True)
                if state is not ktls:
                    res["dropped"].append({"phase": mode, "gbit_s": r["gbit_s"],
                                           "flows_ktls": state})
                else:
                    res[mode + "_gbit_s"].append(r["gbit_s"])
                    res[mode + "_proxy_cpu_s_per_gb"].append(r["proxy_cpu_s_per_gb"])
    finally:
        t.cleanup()
    med = lambda v: statistics.median(v) if v else None
    k, u = med(res["ktls_gbit_s"]), med(res["userspace_gbit_s"])
    res["ratio"] = k / u if k and u else None
    kc, uc = med(res["ktls_proxy_cpu_s_per_gb"]), med(res["userspace_proxy_cpu_s_per_gb"])
    # nametagd's own CPU per GB moved: userspace over kTLS (higher: kTLS
    # saves more), less bound to what else TCG is busy with.
    res["cpu_per_gb_ratio"] = uc / kc if kc and uc else None
    print(MARK + json.dumps(res), flush=True)
    return 0 if res["ratio"] else 1


def outer(a, proj, quiet=False):
    """Boots the VM, runs inner() there; the result (dict) or None.
    With --vm alone (quiet False) also writes build/bench/vm-ktls-*.json."""
    # The VM's environment is clean: hand over the binaries' overrides
    # (paths on the shared, read-only root; /tmp is the VM's own).
    env = ["%s=%s" % (k, os.path.abspath(os.environ[k]))
           for k in ("NAMETAG", "NAMETAGD", "CONNBENCH") if os.environ.get(k)]
    argv = [os.path.join(proj, "tests/vm/run-in-vm.sh"), "--timeout", "900", "--",
            "env"] + env + ["bench/run", "--vm-inner"]
    if a.quick:
        argv.append("--quick")
    if a.reps and not a.with_vm:
        argv += ["--reps", str(a.reps)]
    print("bench: kTLS ratio in the VM: %s" % " ".join(argv[1:]), flush=True)
    t0 = time.time()
    p = subprocess.Popen(argv, cwd=proj, stdout=subprocess.PIPE, text=True)
    res = None
    for line in p.stdout:
        line = line.rstrip("\r\n")
        if MARK in line:
            try:
                res = json.loads(line.split(MARK, 1)[1])
            except ValueError:
                pass
        else:
            print("  vm| " + line, flush=True)
    rc = p.wait()
    if res is not None:
        res["duration_s"] = round(time.time() - t0, 1)
        res["exit"] = rc
    if quiet:
        return res
    if res is None:
        print("bench: the VM gave no result (run-in-vm.sh exit %d)" % rc)
        return 1
    out = a.out or os.path.join(proj, "build/bench", "vm-ktls-%s.json" %
                                time.strftime("%Y%m%d-%H%M%S"))
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w") as f:
        json.dump(res, f, indent=1)
    med = lambda v: statistics.median(v) if v else float("nan")
    print("kTLS / userspace, nametag one stream, same VM boot (%s): %s "
          "(kTLS %.3f, userspace %.3f, plain TCP %.3f Gbit/s, medians of %d/%d/%d); "
          "nametagd CPU per GB, userspace / kTLS: %s. TCG: only ratios mean anything" % (
              res["kernel"], "%.2fx" % res["ratio"] if res["ratio"] else "-",
              med(res["ktls_gbit_s"]), med(res["userspace_gbit_s"]),
              med(res.get("plain_gbit_s", [])), len(res["ktls_gbit_s"]),
              len(res["userspace_gbit_s"]), len(res.get("plain_gbit_s", [])),
              "%.2fx" % res["cpu_per_gb_ratio"] if res.get("cpu_per_gb_ratio") else "-"))
    print("JSON: %s" % os.path.relpath(out, os.getcwd()))
    return 0 if res["ratio"] else 1
