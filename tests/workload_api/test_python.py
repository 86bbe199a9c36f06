#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The Workload API library against Debian's python3-grpcio (and, for what
no gRPC library sends, python3-h2), through wlapi_testd (harness.py).

Every RPC; the SVID checked with openssl verify and the key against the
leaf; the JWT-SVID verified with the JWKS received; a missing security
header; a caller with no identity and one gone since it connected;
withdrawal and rotation pushed on streams, never an identical message;
200 concurrent streams; a client that never speaks, one that sends
garbage, one that does not read; the per-uid cap; and the server exits
clean (no leak under ASan) after each.
"""
import json
import os
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import (MD, NOBODY, TD_ID, RawH2, Results, Server, call,  # noqa: E402
                     check_svid, closed_by_peer, grpc, jwt_interop, leaf_serial,
                     pb, status_of)

R = Results("wlapi/python")
SC = grpc.StatusCode
UID0 = TD_ID + "/uid/0"


class Collector(threading.Thread):
    """Reads a server stream in the background into .msgs, then .code."""

    def __init__(self, it):
        super().__init__(daemon=True)
        self.it, self.msgs, self.code = it, [], None
        self.start()

    def run(self):
        try:
            for m in self.it:
                self.msgs.append(m)
        except grpc.RpcError as e:
            self.code = e.code()

    def wait_for(self, n, timeout=10):
        deadline = time.time() + timeout
        while len(self.msgs) < n and self.code is None and time.time() < deadline:
            time.sleep(0.02)
        return len(self.msgs) >= n


def stopped_clean(srv, what):
    R.check(what + ": the server exits 0 (ASan: no leak)", srv.stop())


# ---- every RPC ------------------------------------------------------------------

def x509_profile(srv, ch):
    it = call(ch, "FetchX509SVID")
    r = next(it)
    it.cancel()
    R.check("FetchX509SVID: one SVID, the caller's",
            len(r.svids) == 1 and r.svids[0].spiffe_id == UID0,
            str([s.spiffe_id for s in r.svids]))
    why = check_svid(r.svids[0], srv.dir)
    R.check("FetchX509SVID: openssl verifies the chain with the bundle sent, "
            "the PKCS#8 key matches the leaf", why is None, why)
    R.check("FetchX509SVID: no federated bundle yet", not r.federated_bundles)
    it = call(ch, "FetchX509Bundles")
    b = next(it)
    it.cancel()
    R.check("FetchX509Bundles: the local trust domain's, the SVID's own",
            list(b.bundles) == [TD_ID] and b.bundles[TD_ID] == r.svids[0].bundle)


def jwt_profile(ch):
    it = call(ch, "FetchJWTBundles")
    jb = next(it)
    it.cancel()
    jwks = json.loads(jb.bundles[TD_ID])
    R.check("FetchJWTBundles: a JWK Set of jwt-svid keys, each with a kid",
            jwks["keys"] and all(k["use"] == "jwt-svid" and k["kid"] and
                                 "x5c" not in k for k in jwks["keys"]), jwks)
    j = call(ch, "FetchJWTSVID", pb.JWTSVIDRequest(audience=["db"]))
    tok = j.svids[0].svid
    why = jwt_interop.check(jwks, tok, "db")
    R.check("FetchJWTSVID: verified with the JWKS received (kid, ES256 raw "
            "r||s, aud, exp), by python3-cryptography",
            j.svids[0].spiffe_id == UID0 and why is None, why)
    two = call(ch, "FetchJWTSVID", pb.JWTSVIDRequest(audience=["a", "b"]))
    R.check("FetchJWTSVID: two audiences",
            jwt_interop.check(jwks, two.svids[0].svid, "b") is None)
    one = call(ch, "FetchJWTSVID", pb.JWTSVIDRequest(audience=["db"],
                                                     spiffe_id=UID0))
    R.check("FetchJWTSVID: the caller's own ID asked for", len(one.svids) == 1)
    for name, req, want in (
            ("no audience", pb.JWTSVIDRequest(), SC.INVALID_ARGUMENT),
            ("an empty audience", pb.JWTSVIDRequest(audience=[""]),
             SC.INVALID_ARGUMENT),
            ("another's ID", pb.JWTSVIDRequest(
                audience=["db"], spiffe_id=TD_ID + "/uid/1"),
             SC.PERMISSION_DENIED),
            ("an ID that is not one", pb.JWTSVIDRequest(
                audience=["db"], spiffe_id="spiffe://Example.org/x"),
             SC.INVALID_ARGUMENT)):
        code, msg = status_of(lambda: call(ch, "FetchJWTSVID", req))
        R.check("FetchJWTSVID with %s: %s" % (name, want.name), code == want,
                "%s %s" % (code, msg))
    v = call(ch, "ValidateJWTSVID",
             pb.ValidateJWTSVIDRequest(audience="db", svid=tok))
    R.check("ValidateJWTSVID: the ID and the claims as a Struct",
            v.spiffe_id == UID0 and v.claims["sub"] == UID0 and
            v.claims["aud"] == "db" and v.claims["exp"] > time.time(),
            str(v))
    bad = tok[:-4] + ("AAAA" if not tok.endswith("AAAA") else "BBBB")
    for name, req in (
            ("another audience", pb.ValidateJWTSVIDRequest(audience="x", svid=tok)),
            ("a bad signature", pb.ValidateJWTSVIDRequest(audience="db", svid=bad)),
            ("garbage", pb.ValidateJWTSVIDRequest(audience="db", svid="a.b.c")),
            ("no audience", pb.ValidateJWTSVIDRequest(svid=tok)),
            ("no token", pb.ValidateJWTSVIDRequest(audience="db"))):
        code, msg = status_of(lambda: call(ch, "ValidateJWTSVID", req))
        R.check("ValidateJWTSVID with %s: INVALID_ARGUMENT" % name,
                code == SC.INVALID_ARGUMENT, "%s %s" % (code, msg))


def unimplemented(ch):
    for m in ("FetchWITSVID", "FetchWITBundles"):
        code, _ = status_of(lambda: call(ch, m))
        R.check(m + ": UNIMPLEMENTED (the WIT-SVID profile)",
                code == SC.UNIMPLEMENTED, str(code))
    stub = ch.unary_unary("/SpiffeWorkloadAPI/Nope",
                          request_serializer=lambda x: b"",
                          response_deserializer=lambda b: b)
    code, _ = status_of(lambda: stub(None, metadata=MD, timeout=5))
    R.check("an unknown method: UNIMPLEMENTED", code == SC.UNIMPLEMENTED)


def security_header(srv, ch):
    before = srv.stats()["attested"]
    for m in ("FetchX509SVID", "FetchX509Bundles", "FetchJWTSVID",
              "FetchJWTBundles", "ValidateJWTSVID", "FetchWITSVID"):
        for md, what in (([], "missing"),
                         ([("workload.spiffe.io", "True")], "not exactly true")):
            code, msg = status_of(lambda: call(ch, m, metadata=md))
            R.check("%s with the security header %s: INVALID_ARGUMENT" % (m, what),
                    code == SC.INVALID_ARGUMENT, "%s %s" % (code, msg))
    R.check("no security header: nothing attested",
            srv.stats()["attested"] == before)


def test_rpcs():
    srv = Server()
    ch = grpc.insecure_channel(srv.target)
    x509_profile(srv, ch)
    jwt_profile(ch)
    unimplemented(ch)
    security_header(srv, ch)
    ch.close()
    stopped_clean(srv, "rpcs")


# ---- callers -------------------------------------------------------------------

CLIENT = """
import sys; sys.path.insert(0, %r); sys.path.insert(0, %r)
from harness import call, grpc, pb, status_of
ch = grpc.insecure_channel(sys.argv[1])
for m, req in (("FetchX509SVID", None),
               ("FetchJWTSVID", pb.JWTSVIDRequest(audience=["db"]))):
    print(m, status_of(lambda: call(ch, m, req))[0].name)
"""


def test_no_identity():
    """A caller the callbacks give no identity (here: uid nobody)."""
    srv = Server()
    code = CLIENT % (os.path.dirname(os.path.abspath(__file__)),
                     os.path.dirname(os.path.abspath(__file__)))
    r = subprocess.run(["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY,
                        "--clear-groups", sys.executable, "-c", code,
                        srv.target], capture_output=True, text=True, timeout=60)
    R.check("a caller with no identity: PERMISSION_DENIED on both SVID calls",
            r.stdout.split() == ["FetchX509SVID", "PERMISSION_DENIED",
                                 "FetchJWTSVID", "PERMISSION_DENIED"],
            r.stdout + r.stderr[-2000:])
    stopped_clean(srv, "no identity")


def test_caller_gone():
    """The process that connected exits; another that holds the socket
    calls: the evidence no longer holds, UNAUTHENTICATED."""
    srv = Server()
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    pid = os.fork()
    if pid == 0:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(srv.sock)
        socket.send_fds(b, [b"x"], [s.fileno()])
        os._exit(0)
    _, fds, _, _ = socket.recv_fds(a, 1, 1)
    os.waitpid(pid, 0)
    raw = RawH2(socket.socket(fileno=fds[0]))
    sid = raw.request("FetchX509SVID")
    R.check("a caller gone since it connected: UNAUTHENTICATED",
            raw.status(sid) == 16)
    raw.sock.close()
    stopped_clean(srv, "caller gone")


# ---- streams ---------------------------------------------------------------------

def test_withdraw_and_push():
    srv = Server()
    ch = grpc.insecure_channel(srv.target)
    x = Collector(call(ch, "FetchX509SVID", timeout=60))
    xb = Collector(call(ch, "FetchX509Bundles", timeout=60))
    jb = Collector(call(ch, "FetchJWTBundles", timeout=60))
    R.check("streams: the first messages at once",
            x.wait_for(1) and xb.wait_for(1) and jb.wait_for(1))
    srv.cmd("restore 0")		# a change that changes nothing
    time.sleep(1.5)
    R.check("a change that leaves the message as it was pushes nothing",
            len(x.msgs) == 1 and len(xb.msgs) == 1 and len(jb.msgs) == 1,
            "%d %d %d" % (len(x.msgs), len(xb.msgs), len(jb.msgs)))
    srv.cmd("rotate")
    R.check("rotation: pushed on FetchX509SVID, another leaf, verified",
            x.wait_for(2) and leaf_serial(x.msgs[1]) != leaf_serial(x.msgs[0])
            and check_svid(x.msgs[1].svids[0], srv.dir) is None)
    srv.cmd("federate other.org")
    R.check("a federated bundle: pushed on all three streams",
            x.wait_for(3) and xb.wait_for(2) and jb.wait_for(2))
    R.check("FetchX509SVID carries it in federated_bundles",
            len(x.msgs) >= 3 and list(x.msgs[2].federated_bundles) ==
            ["spiffe://other.org"])
    both = ["spiffe://example.org", "spiffe://other.org"]
    R.check("FetchX509Bundles and FetchJWTBundles carry both",
            sorted(xb.msgs[-1].bundles) == both and
            sorted(jb.msgs[-1].bundles) == both,
            "%s %s" % (list(xb.msgs[-1].bundles), list(jb.msgs[-1].bundles)))
    msgs = [m.SerializeToString() for m in x.msgs]
    R.check("never the same message twice in a row",
            all(a != b for a, b in zip(msgs, msgs[1:])))
    srv.cmd("withdraw 0")
    x.join(10)
    R.check("identity withdrawn mid-stream: the stream ends PERMISSION_DENIED",
            x.code == SC.PERMISSION_DENIED, str(x.code))
    code, _ = status_of(lambda: call(ch, "FetchJWTSVID",
                                     pb.JWTSVIDRequest(audience=["db"])))
    R.check("withdrawn: FetchJWTSVID PERMISSION_DENIED",
            code == SC.PERMISSION_DENIED)
    srv.cmd("restore 0")
    y = Collector(call(ch, "FetchX509SVID", timeout=60))
    R.check("restored: served again", y.wait_for(1))
    for c in (xb, jb, y):
        c.it.cancel()
    ch.close()
    stopped_clean(srv, "streams")


def test_rotation_ttl():
    """SVIDs of 4 s, renewed at half life by the stand-in daemon: the stream
    sees each renewal, a new leaf each time."""
    srv = Server("--svid-ttl", "4")
    ch = grpc.insecure_channel(srv.target)
    x = Collector(call(ch, "FetchX509SVID", timeout=60))
    got = x.wait_for(3, timeout=15)
    serials = [leaf_serial(m) for m in x.msgs]
    R.check("short TTL: renewals pushed (3 messages in 15 s), each a new leaf",
            got and len(set(serials)) == len(serials), str(serials))
    x.it.cancel()
    ch.close()
    stopped_clean(srv, "ttl")


def test_200_streams():
    srv = Server()
    ch = grpc.insecure_channel(srv.target)
    cols = [Collector(call(ch, "FetchX509SVID", timeout=120)) for _ in range(200)]
    ok = all(c.wait_for(1, 30) for c in cols)
    st = srv.stats()
    R.check("200 concurrent streams: each has its first message",
            ok and st["streams"] == 200, json.dumps(st))
    srv.cmd("rotate")
    R.check("200 concurrent streams: each gets the rotation",
            all(c.wait_for(2, 30) for c in cols))
    for c in cols:
        c.it.cancel()
    deadline = time.time() + 10
    while srv.stats()["streams"] and time.time() < deadline:
        time.sleep(0.1)
    R.check("200 streams cancelled: their state is freed",
            srv.stats()["streams"] == 0)
    ch.close()
    stopped_clean(srv, "200 streams")


# ---- hostile clients ----------------------------------------------------------------

def settle(srv, conns=0, timeout=5):
    """Waits until the server holds at most @conns connections."""
    deadline = time.time() + timeout
    while srv.stats()["conns"] > conns and time.time() < deadline:
        time.sleep(0.05)


def serves(srv):
    ch = grpc.insecure_channel(srv.target)
    try:
        r = call(ch, "FetchJWTSVID", pb.JWTSVIDRequest(audience=["db"]))
        return len(r.svids) == 1
    except grpc.RpcError:
        return False
    finally:
        ch.close()


def test_silent_and_garbage():
    srv = Server("--preface-timeout", "2")
    silent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    silent.connect(srv.sock)
    R.check("while a client says nothing, others are served", serves(srv))
    R.check("a client that never speaks is closed after the preface timeout",
            closed_by_peer(silent, 6))
    for name, data in (("HTTP/1.1", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
                       ("random bytes", os.urandom(4096)),
                       ("a preface then garbage",
                        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\xff" * 64)):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(srv.sock)
        s.sendall(data)
        R.check("garbage (%s): the connection is closed" % name,
                closed_by_peer(s, 5))
        s.close()
    R.check("after the garbage, the server still serves", serves(srv))
    st = srv.stats()
    R.check("and holds nothing for the closed ones",
            st["conns"] == 0 and st["mem"] == 0, json.dumps(st))
    stopped_clean(srv, "garbage")


def test_caps():
    srv = Server("--conns-per-uid", "3", "--conn-mem", "262144")
    raws = [RawH2.connect(srv.sock) for _ in range(3)]
    time.sleep(0.3)
    extra = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    extra.connect(srv.sock)
    R.check("a uid over its connection cap is refused", closed_by_peer(extra, 3))
    R.check("and counted", srv.stats()["refused_uid"] >= 1)
    for r in raws:
        r.sock.close()
    time.sleep(0.3)
    R.check("once it closes some, it is served again", serves(srv))
    settle(srv)

    # One request larger than a request may be.
    raw = RawH2.connect(srv.sock)
    sid = raw.request("ValidateJWTSVID", body=b"\x12" + b"\x80\x80\x08" +
                      b"a" * 131072)
    R.check("a 128 KiB request: RESOURCE_EXHAUSTED", raw.status(sid) == 8)
    raw.sock.close()
    settle(srv)

    # A client that opens streams and never reads: its memory stays under
    # the budget; past it, the connection is closed.
    raw = RawH2.connect(srv.sock)
    raw.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    peak = 0
    for _ in range(250):
        try:
            raw.request("FetchX509SVID")
        except OSError:
            break
        peak = max(peak, srv.stats()["mem"])
    raw.sock.close()
    settle(srv)
    st = srv.stats()
    R.check("a client that opens streams and never reads meets its memory "
            "budget and is closed; what it held is freed",
            peak <= 262144 and st["over_budget"] >= 1 and st["mem"] == 0,
            "peak %d %s" % (peak, json.dumps(st)))
    R.check("and the server keeps serving", serves(srv))
    stopped_clean(srv, "caps")


def main():
    for t in (test_rpcs, test_no_identity, test_caller_gone,
              test_withdraw_and_push, test_rotation_ttl, test_200_streams,
              test_silent_and_garbage, test_caps):
        try:
            t()
        except Exception as e:  # a crash is a failure, not a skipped case
            R.check(t.__name__, False, "%s: %s" % (type(e).__name__, e))
    print("clients: python3-grpcio %s, python3-h2 %s" %
          (grpc.__version__, __import__("h2").__version__))
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
