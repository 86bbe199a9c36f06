# SPDX-License-Identifier: Apache-2.0
"""Samples to medians, ratios, the targets of issue 5, a table and JSON."""
import statistics

# measure -> (title, [(metric, unit, better)])
MEASURES = {
    "tput1": ("throughput, 1 stream (iperf3)", [
        ("gbit_s", "Gbit/s", "higher"),
        ("proxy_cpu_s_per_gb", "proxy CPU s/GB", "lower"),
        ("run_cpu_s_per_gb", "all CPU s/GB", "lower")]),
    "tput8": ("throughput, 8 streams (iperf3 -P 8)", [
        ("gbit_s", "Gbit/s", "higher"),
        ("proxy_cpu_s_per_gb", "proxy CPU s/GB", "lower"),
        ("run_cpu_s_per_gb", "all CPU s/GB", "lower")]),
    "conn1": ("new connection per 1-byte request, sequential", [
        ("per_s", "conn/s", "higher"),
        ("p50_us", "p50 us", "lower"),
        ("p99_us", "p99 us", "lower"),
        ("added_p50_us", "added p50 us", "lower"),
        ("added_p99_us", "added p99 us", "lower"),
        ("proxy_cpu_us_per_op", "proxy CPU us/conn", "lower"),
        ("run_cpu_us_per_op", "all CPU us/conn", "lower")]),
    "conn32": ("new connection per 1-byte request, 32 concurrent", [
        ("per_s", "conn/s", "higher"),
        ("p50_us", "p50 us", "lower"),
        ("p99_us", "p99 us", "lower"),
        ("added_p50_us", "added p50 us", "lower"),
        ("added_p99_us", "added p99 us", "lower"),
        ("proxy_cpu_us_per_op", "proxy CPU us/conn", "lower"),
        ("run_cpu_us_per_op", "all CPU us/conn", "lower")]),
    "rr1": ("64-byte request/response, 1 established connection", [
        ("per_s", "req/s", "higher"),
        ("p50_us", "p50 us", "lower"),
        ("p99_us", "p99 us", "lower")]),
    "rr32": ("64-byte request/response, 32 established connections", [
        ("per_s", "req/s", "higher"),
        ("p50_us", "p50 us", "lower"),
        ("p99_us", "p99 us", "lower")]),
    "memory": ("proxy memory (sum of the proxy processes' RSS; out/in: each alone)",
               []),  # set_mem_conns
    "hook": ("connect() to a loopback listener (median ns)", [
        ("connect_ns", "connect ns", "lower"),
        ("added_ns", "added ns (vs sibling)", "lower"),
        ("iteration_ns", "socket+connect+close ns", "lower"),
        ("bpf_ns", "BPF programs ns/iteration", "lower"),
        ("daemon_cpu_ns", "nametagd CPU ns/connect", "lower")]),
}
ADDED = {"added_p50_us": "p50_us", "added_p99_us": "p99_us"}
UNITS = {}
# The proxy processes of a contender that are measured alone too: the one
# holding the outbound end of every connection and the one holding the
# inbound end (a process holding both, "both", is the sum already).
ROLES = ("out", "in")
MEMORY_ACCOUNTING = (
    "Every memory figure is summed over the contender's proxy processes of the "
    "variant (stunnel, haproxy: out and in; nametag: nametagd A and B in veth, "
    "the one nametagd in loopback): bytes_per_conn_N = (sum of RSS with N idle "
    "proxied connections held - sum of RSS right before) / N, on freshly started "
    "processes. bytes_per_conn_out_N and bytes_per_conn_in_N are the same for the "
    "outbound-end and the inbound-end process alone (nametag: per nametagd, i.e. "
    "per node); they add up to bytes_per_conn_N. rss_idle_out_mb / rss_idle_in_mb "
    "likewise.")


def set_mem_conns(counts):
    """The memory rows for the connection counts of this run."""
    rows = [("rss_idle_mb", "RSS idle MB", "lower")]
    rows += [("rss_idle_%s_mb" % r, "  of which %s proc" % r, "lower") for r in ROLES]
    rows += [("rss_idle_end_mb", "RSS idle after traffic MB", "lower")]
    for n in counts:
        rows += [("rss_%d_mb" % n, "RSS, %d conns MB" % n, "lower"),
                 ("bytes_per_conn_%d" % n, "bytes/conn at %d" % n, "lower")]
        rows += [("bytes_per_conn_%s_%d" % (r, n), "  of which %s proc" % r, "lower")
                 for r in ROLES]
        rows += [("setup_s_%d" % n, "s to open %d" % n, "lower")]
    MEASURES["memory"] = (MEASURES["memory"][0], rows)
    UNITS.clear()
    UNITS.update({m: (u, b) for _t, ms in MEASURES.values() for m, u, b in ms})


set_mem_conns([1000, 10000])


class Samples:
    def __init__(self):
        self.data = {}    # (variant, measure, contender, metric) -> [float]
        self.errors = []  # {"variant", "measure", "contender", "error"}
        self.incidents = []  # a proxy died: {"contender", "measure", "exit", ...}

    def add(self, variant, measure, contender, values):
        for k, v in values.items():
            if k in UNITS and v is not None:
                self.data.setdefault((variant, measure, contender, k), []).append(float(v))

    def error(self, variant, measure, contender, msg):
        self.errors.append({"variant": variant, "measure": measure,
                            "contender": contender, "error": str(msg)})

    def get(self, *key):
        return self.data.get(key, [])


def _med(v):
    return statistics.median(v) if v else None


def _ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def summarize(samples, baselines=("plain", "stunnel", "haproxy")):
    """Flat list of measurements: median, min, max, samples, ratios."""
    out = []
    # Derived: latency added over plain TCP (per repetition's median).
    for (variant, measure, contender, metric), v in list(samples.data.items()):
        if metric in ADDED.values() and contender != "plain":
            base = _med(samples.get(variant, measure, "plain", metric))
            if base is not None:
                name = [k for k, m in ADDED.items() if m == metric][0]
                samples.data[(variant, measure, contender, name)] = [x - base for x in v]
    for (variant, measure, contender, metric), v in sorted(samples.data.items()):
        unit, better = UNITS[metric]
        e = {"variant": variant, "measure": measure, "contender": contender,
             "metric": metric, "unit": unit, "better": better,
             "median": _med(v), "min": min(v), "max": max(v), "n": len(v),
             "samples": [round(x, 6) for x in v]}
        for b in baselines:
            other = _med(samples.get(variant, measure, b, metric))
            if b != contender and metric not in ADDED:
                e["vs_" + b] = _ratio(e["median"], other)
        out.append(e)
    return out


def find(ms, variant, measure, contender, metric):
    for e in ms:
        if (e["variant"], e["measure"], e["contender"], e["metric"]) == (
                variant, measure, contender, metric):
            return e
    return None


def targets(ms, vm=None, conns=10000):
    """Issue 5's targets, each with the figures it was judged on."""
    t = []

    def med(variant, measure, contender, metric):
        e = find(ms, variant, measure, contender, metric)
        return e["median"] if e else None

    def add(name, value, limit, ok, detail):
        t.append({"target": name, "value": value, "limit": limit,
                  "met": None if value is None else bool(ok), "detail": detail})

    nt = med("veth", "tput1", "nametag", "gbit_s")
    for peer, k in (("stunnel", 2.0), ("haproxy", 3.0)):
        r = _ratio(nt, med("veth", "tput1", peer, "gbit_s"))
        add("one-stream throughput >= %gx %s" % (k, peer), r, k, r is not None and r >= k,
            "nametag/%s, veth, median Gbit/s" % peer)
    for m, what in (("conn1", "sequential"), ("conn32", "32 concurrent")):
        r = _ratio(med("veth", m, "nametag", "per_s"), med("veth", m, "haproxy", "per_s"))
        add("new conn/s >= 3x haproxy (%s)" % what, r, 3.0, r is not None and r >= 3.0,
            "nametag/haproxy, veth")
    a = med("veth", "conn1", "nametag", "added_p50_us")
    add("p50 added latency per new connection <= 1 ms", a, 1000.0,
        a is not None and a <= 1000.0, "us over plain TCP, sequential, veth")
    # Per nametagd: with two nodes the larger of the two, else the one.
    idle, how = per_daemon(med, "rss_idle_%s_mb", "rss_idle_mb")
    add("nametagd idle RSS <= 25 MB", idle, 25.0, idle is not None and idle <= 25.0,
        "MB, right after start-up with its namespaces, before traffic; " + how)
    per, how = per_daemon(med, "bytes_per_conn_%%s_%d" % conns, "bytes_per_conn_%d" % conns)
    add("nametagd <= 40 KB per connection at %d" % conns, per, 40960.0,
        per is not None and per <= 40960.0, "bytes; " + how)
    d = med("any", "hook", "non-enrolled", "added_ns")
    b = med("any", "hook", "non-enrolled", "bpf_ns")
    add("connect() from a non-enrolled cgroup within 2 us of none", d, 2000.0,
        d is not None and d <= 2000.0,
        "ns, median of per-round differences to a cgroup outside nametag's subtree; "
        "nametag's programs ran %s ns per socket+connect+close (BPF run-time stats)" % (
            "-" if b is None else "%.0f" % b))
    if vm is not None:
        r = vm.get("ratio")
        c = vm.get("cpu_per_gb_ratio")
        add("kTLS >= 1.5x userspace (VM)", r, 1.5, r is not None and r >= 1.5,
            "nametag 1-stream Gbit/s, kTLS / no kTLS, same VM boot (TCG); nametagd "
            "CPU per GB, no kTLS / kTLS: %s" % ("-" if c is None else "%.2f" % c))
    return t


def per_daemon(med, role_metric, sum_metric):
    """nametag's veth memory figure per nametagd, and how it was taken."""
    each = [med("veth", "memory", "nametag", role_metric % r) for r in ROLES]
    total = med("veth", "memory", "nametag", sum_metric)
    if None not in each:
        return max(each), ("the larger of node A's (outbound end, %.0f) and node B's "
                           "(inbound end, %.0f); both nametagd together %s" % (
                               each[0], each[1], "-" if total is None else "%.0f" % total))
    return total, "one nametagd holding both ends of every connection"


def _fmt(v):
    if v is None:
        return "-"
    a = abs(v)
    if a >= 10000:
        return "%.0f" % v
    if a >= 100:
        return "%.0f" % v
    if a >= 10:
        return "%.1f" % v
    return "%.2f" % v


HOOK_COLS = ("none", "none-sibling", "non-enrolled", "enrolled-observe")


def table(ms, contenders, variants):
    """Rows of text: one per (measure, metric), a column per contender
    (median [min-max]) and nametag's ratios to the peers."""
    lines = []
    w = 24
    for variant in variants:
        for measure, (title, metrics) in MEASURES.items():
            present = {e["contender"] for e in ms
                       if e["variant"] == variant and e["measure"] == measure}
            if not present:
                continue
            cols = [c for c in (HOOK_COLS if measure == "hook" else contenders)
                    if c in present]
            peers = measure != "hook"
            rows = []
            for metric, unit, better in metrics:
                cells = []
                for c in cols:
                    e = find(ms, variant, measure, c, metric)
                    cells.append("%s [%s-%s]" % (_fmt(e["median"]), _fmt(e["min"]),
                                                 _fmt(e["max"])) if e else "-")
                if all(x == "-" for x in cells):
                    continue
                ratios = []
                e = find(ms, variant, measure, "nametag", metric)
                for b in ("stunnel", "haproxy") if peers else ():
                    r = e.get("vs_" + b) if e else None
                    ratios.append("%.2fx" % r if r is not None else "-")
                rows.append("  %-26s" % unit + "".join("%-*s" % (w, x) for x in cells) +
                            "  ".join("%8s" % r for r in ratios))
            if rows:
                lines.append("%s [%s]" % (title, variant))
                lines.append("  %-26s" % "" + "".join("%-*s" % (w, c) for c in cols) +
                             ("%8s  %8s" % ("nt/stun", "nt/hap") if peers else ""))
                lines += rows
                lines.append("")
    return lines
