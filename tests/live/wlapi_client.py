# SPDX-License-Identifier: Apache-2.0
"""A Workload API client for the live suite (test_workload_api.sh), on
Debian's python3-grpcio: run as an enrolled (or not) process, it makes one
kind of call against nametagd and prints one JSON line per result.

  wlapi_client.py SOCK x509            one FetchX509SVID message, checked
                                       with openssl verify against its bundle
  wlapi_client.py SOCK jwt AUD         FetchJWTSVID, verified with the JWKS
                                       of FetchJWTBundles, then
                                       ValidateJWTSVID of the same token
  wlapi_client.py SOCK stream N SECS   FetchX509SVID: each message (its leaf
                                       serial and ID) until N came, the
                                       stream ended, or SECS passed
  wlapi_client.py SOCK nohdr           FetchX509SVID without the header
  wlapi_client.py SOCK bundles         FetchX509Bundles, FetchJWTBundles
  wlapi_client.py SOCK reuse ACG VCG   the PID-reuse attack (pid_reuse)
  wlapi_client.py SOCK abuse           a silent connection, garbage, and
                                       200 concurrent streams, each served
Statuses are printed by name ("OK", "PERMISSION_DENIED", ...).
"""
import json
import os
import select
import socket
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests/workload_api"))
os.environ.setdefault("WLAPI_TESTD", os.path.join(ROOT, "build/tests/wlapi_testd"))

import grpc  # noqa: E402

import harness  # noqa: E402
from harness import MD, pb  # noqa: E402


def out(**kw):
    print(json.dumps(kw), flush=True)


def status_name(e):
    return e.code().name if isinstance(e, grpc.RpcError) else "ERROR:%s" % e


def x509(ch):
    try:
        it = harness.call(ch, "FetchX509SVID")
        resp = next(it)
        it.cancel()
    except Exception as e:  # noqa: BLE001
        return out(status=status_name(e))
    s = resp.svids[0]
    with tempfile.TemporaryDirectory() as d:
        problems = harness.check_svid(s, d)
    out(status="OK", spiffe_id=s.spiffe_id, serial=harness.leaf_serial(resp),
        nsvids=len(resp.svids), problems=problems)


def jwt(ch, aud):
    try:
        r = harness.call(ch, "FetchJWTSVID", pb.JWTSVIDRequest(audience=[aud]))
        bi = harness.call(ch, "FetchJWTBundles")
        b = next(bi)
        bi.cancel()
    except Exception as e:  # noqa: BLE001
        return out(status=status_name(e))
    tok = r.svids[0].svid
    td = r.svids[0].spiffe_id.split("/")[2]
    problems = harness.jwt_interop.check(json.loads(b.bundles["spiffe://" + td]),
                                         tok, aud)
    try:
        v = harness.call(ch, "ValidateJWTSVID",
                         pb.ValidateJWTSVIDRequest(audience=aud, svid=tok))
        vid, vst = v.spiffe_id, "OK"
    except Exception as e:  # noqa: BLE001
        vid, vst = "", status_name(e)
    try:
        harness.call(ch, "ValidateJWTSVID",
                     pb.ValidateJWTSVIDRequest(audience=aud + "-other", svid=tok))
        wrong = "OK"
    except Exception as e:  # noqa: BLE001
        wrong = status_name(e)
    out(status="OK", spiffe_id=r.svids[0].spiffe_id, token=tok, verify=problems,
        validate=vst, validate_id=vid, wrong_audience=wrong)


def stream(ch, n, secs):
    it = harness.call(ch, "FetchX509SVID", timeout=secs)
    out(pid=os.getpid())
    got = 0
    try:
        for resp in it:
            got += 1
            out(msg=got, serial=harness.leaf_serial(resp),
                spiffe_id=resp.svids[0].spiffe_id)
            if got >= n:
                it.cancel()
                return out(status="DONE", count=got)
    except Exception as e:  # noqa: BLE001
        return out(status=status_name(e), count=got)
    out(status="OK", count=got)


def nohdr(ch):
    try:
        next(iter(harness.call(ch, "FetchX509SVID", metadata=[])))
        out(status="OK")
    except Exception as e:  # noqa: BLE001
        out(status=status_name(e))


def bundles(ch):
    try:
        xi = harness.call(ch, "FetchX509Bundles")
        x = next(xi)
        ji = harness.call(ch, "FetchJWTBundles")
        j = next(ji)
        xi.cancel()
        ji.cancel()
    except Exception as e:  # noqa: BLE001
        return out(status=status_name(e))
    jwks = {k: json.loads(v) for k, v in j.bundles.items()}
    out(status="OK", x509=sorted(x.bundles), jwt=sorted(jwks),
        kids=[k.get("kid") for v in jwks.values() for k in v.get("keys", [])],
        uses=[k.get("use") for v in jwks.values() for k in v.get("keys", [])])


def join_cgroup(cg):
    with open(os.path.join(cg, "cgroup.procs"), "w") as f:
        f.write(str(os.getpid()))


def fork_at(pid, cg, argv):
    """A child with exactly @pid (ns_last_pid, retried), in cgroup @cg,
    exec'ing @argv; its pid, or None."""
    for _ in range(200):
        try:
            with open("/proc/sys/kernel/ns_last_pid", "w") as f:
                f.write(str(pid - 1))
        except OSError:
            return None
        r, w = os.pipe()
        c = os.fork()
        if c == 0:
            os.close(r)
            if os.getpid() == pid:
                join_cgroup(cg)
            os.write(w, b"x")
            if os.getpid() == pid:
                os.execvp(argv[0], argv)
            os._exit(0)
        os.close(w)
        os.read(r, 1)
        os.close(r)
        if c == pid:
            return c
        os.waitpid(c, 0)
    return None


def first_message(sock, secs=5):
    """FetchX509SVID on a raw connected socket: (grpc-status or None,
    the SPIFFE ID of the first message or None)."""
    h = harness.RawH2(sock)
    sid = h.request("FetchX509SVID")
    data, status, deadline = b"", None, time.time() + secs
    while time.time() < deadline and status is None:
        r, _, _ = select.select([sock], [], [], 0.2)
        if not r:
            continue
        got = sock.recv(65536)
        if not got:
            break
        for ev in h.conn.receive_data(got):
            if isinstance(ev, (harness.h2.events.ResponseReceived,
                               harness.h2.events.TrailersReceived)):
                status = dict(ev.headers).get("grpc-status", status)
            elif isinstance(ev, harness.h2.events.DataReceived) and ev.stream_id == sid:
                data += ev.data
                h.conn.acknowledge_received_data(ev.flow_controlled_length, sid)
        h.flush()
        if len(data) >= 5 and len(data) >= 5 + int.from_bytes(data[1:5], "big"):
            msg = pb.X509SVIDResponse.FromString(data[5:5 + int.from_bytes(data[1:5], "big")])
            return status, msg.svids[0].spiffe_id
    return status, None


def pid_reuse(path, attacker_cg, victim_cg):
    """spire#6035: M connects (in @attacker_cg), hands the socket to us
    and exits; a victim gets M's pid in @victim_cg; we then ask for an SVID
    on M's connection. It must never be the victim's."""
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    m = os.fork()
    if m == 0:
        join_cgroup(attacker_cg)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        socket.send_fds(b, [b"fd"], [s.fileno()])
        os._exit(0)
    _, fds, _, _ = socket.recv_fds(a, 16, 1)
    os.waitpid(m, 0)
    conn = socket.socket(fileno=fds[0])
    time.sleep(0.3)                     # the daemon accepted meanwhile
    v = fork_at(m, victim_cg, ["sleep", "30"])
    if v is None:
        return out(status="SKIP", why="could not get pid %d again" % m)
    status, sid = first_message(conn)
    os.kill(v, 9)
    os.waitpid(v, 0)
    names = {str(c.value[0]): c.name for c in grpc.StatusCode}
    out(status=names.get(status, status) if status is not None else "OK" if sid else "NONE",
        spiffe_id=sid, pid=m)


def abuse(path):
    silent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    silent.connect(path)
    junk = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    junk.connect(path)
    junk.sendall(b"GET / HTTP/1.1\r\n\r\n" + os.urandom(4096))
    closed = harness.closed_by_peer(junk, 10)
    try:
        held = harness.open_streams(path, 1, 200)
        served = 200
    except RuntimeError as e:
        held, served = [], str(e)
    out(garbage_closed=closed, streams_served=served)
    for s, _ in held:
        s.close()
    silent.close()


def main():
    sock, what = sys.argv[1], sys.argv[2]
    if what == "reuse":     # forks: before any channel starts threads
        return pid_reuse(sock, sys.argv[3], sys.argv[4])
    if what == "abuse":
        return abuse(sock)
    ch = grpc.insecure_channel("unix://" + sock)
    if what == "x509":
        x509(ch)
    elif what == "jwt":
        jwt(ch, sys.argv[3])
    elif what == "stream":
        stream(ch, int(sys.argv[3]), float(sys.argv[4]))
    elif what == "nohdr":
        nohdr(ch)
    elif what == "bundles":
        bundles(ch)
    else:
        sys.exit("unknown action " + what)
    ch.close()


if __name__ == "__main__":
    main()
