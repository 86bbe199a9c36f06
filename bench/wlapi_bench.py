# SPDX-License-Identifier: Apache-2.0
"""The Workload API's numbers (issue #14), measured against a running
nametagd by a process of an enrolled namespace (bench/wlapi.sh runs it):

  connect -> first FetchX509SVID message, p50 and p99: a new unix socket
      each time, the HTTP/2 preface and the request (python3-h2, so no
      client library's start-up is counted), until the first message's
      bytes are in;
  JWT-SVIDs minted per second: FetchJWTSVID with a new audience each time,
      back to back on one python3-grpcio channel, by CLIENTS processes;
  memory per open stream at 1,000 streams: nametagd's RSS (and Pss)
      before and after opening 1,000 FetchX509SVID streams on 4 connections
      (250 each, under the 256-stream cap), each served its first message.

  wlapi_bench.py SOCK DAEMON_PID [ROUNDS] [SECONDS] [CLIENTS]
Prints one JSON object.
"""
import json
import multiprocessing
import os
import select
import socket
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests/workload_api"))
os.environ.setdefault("WLAPI_TESTD", os.path.join(ROOT, "build/tests/wlapi_testd"))

import grpc  # noqa: E402

import harness  # noqa: E402
from harness import pb  # noqa: E402


def first_message(path):
    """Seconds from connect() to the first message of FetchX509SVID."""
    t0 = time.perf_counter()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    h = harness.RawH2(s)
    sid = h.request("FetchX509SVID")
    got = 0
    while True:
        select.select([s], [], [], 10)
        data = s.recv(65536)
        if not data:
            raise RuntimeError("closed before the first message")
        for ev in h.conn.receive_data(data):
            if isinstance(ev, harness.h2.events.DataReceived) and ev.stream_id == sid:
                got += len(ev.data)
            if isinstance(ev, harness.h2.events.TrailersReceived) or \
                    (isinstance(ev, harness.h2.events.ResponseReceived) and
                     "grpc-status" in dict(ev.headers)):
                raise RuntimeError("status %r" % dict(ev.headers))
        h.flush()
        if got >= 5:
            t = time.perf_counter() - t0
            s.close()
            return t


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def jwt_worker(args):
    path, secs = args
    ch = grpc.insecure_channel("unix://" + path)
    stub = ch.unary_unary("/SpiffeWorkloadAPI/FetchJWTSVID",
                          request_serializer=pb.JWTSVIDRequest.SerializeToString,
                          response_deserializer=pb.JWTSVIDResponse.FromString)
    n, end = 0, time.perf_counter() + secs
    while time.perf_counter() < end:
        stub(pb.JWTSVIDRequest(audience=["aud-%d" % n]), metadata=harness.MD,
             timeout=10)
        n += 1
    ch.close()
    return n


def mem_of(pid):
    rss = pss = 0
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


def main():
    path, dpid = sys.argv[1], int(sys.argv[2])
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 300
    secs = float(sys.argv[4]) if len(sys.argv) > 4 else 5
    clients = int(sys.argv[5]) if len(sys.argv) > 5 else 2
    first_message(path)                  # the identity and SVID cached
    lat = [first_message(path) for _ in range(rounds)]
    with multiprocessing.Pool(clients) as p:
        minted = sum(p.map(jwt_worker, [(path, secs)] * clients))
    time.sleep(1)
    before = mem_of(dpid)
    held = harness.open_streams(path, 4, 250)
    time.sleep(1)
    after = mem_of(dpid)
    print(json.dumps({
        "first_message_ms": {"p50": round(pct(lat, 50) * 1e3, 3),
                             "p99": round(pct(lat, 99) * 1e3, 3),
                             "rounds": rounds},
        "jwt_svids_per_s": round(minted / secs, 1), "jwt_clients": clients,
        "streams": 1000,
        "rss_kib": {"before": before[0], "after": after[0]},
        "pss_kib": {"before": before[1], "after": after[1]},
        "bytes_per_stream_rss": round((after[0] - before[0]) * 1024 / 1000),
        "bytes_per_stream_pss": round((after[1] - before[1]) * 1024 / 1000),
    }))
    for s, _ in held:
        s.close()


if __name__ == "__main__":
    main()
