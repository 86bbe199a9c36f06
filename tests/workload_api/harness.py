# SPDX-License-Identifier: Apache-2.0
"""Shared pieces of the Workload API client suites (Debian's python3):
the stand-in server, results, gRPC calls through python3-grpcio, raw
HTTP/2 through python3-h2, and checks of what the API hands out with
python3-cryptography and openssl(1).

WLAPI_TESTD names the server binary (default build/tests/wlapi_testd);
the python stubs generated from the same .proto sit next to it in
workload_api/.
"""
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TESTD = os.path.abspath(os.environ.get("WLAPI_TESTD",
                                       os.path.join(ROOT, "build/tests/wlapi_testd")))
PB2_DIR = os.path.join(os.path.dirname(TESTD), "workload_api")
sys.path.insert(0, PB2_DIR)
sys.path.insert(0, os.path.join(ROOT, "tests/unit"))

import grpc  # noqa: E402
import h2.config  # noqa: E402
import h2.connection  # noqa: E402
import h2.events  # noqa: E402
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402

import jwt_interop  # noqa: E402
import workload_pb2 as pb  # noqa: E402

MD = [("workload.spiffe.io", "true")]
TD_ID = "spiffe://example.org"
NOBODY = 65534


# ---- results --------------------------------------------------------------

class Results:
    def __init__(self, suite):
        self.suite, self.passed, self.failed = suite, 0, 0

    def check(self, name, ok, detail=""):
        if ok:
            self.passed += 1
            print("ok   %s/%s" % (self.suite, name), flush=True)
        else:
            self.failed += 1
            print("FAIL %s/%s %s" % (self.suite, name, detail), flush=True)
        return ok

    def done(self):
        print("%s: %d passed, %d failed" % (self.suite, self.passed, self.failed))
        return 1 if self.failed else 0


# ---- the server -------------------------------------------------------------

class Server:
    """wlapi_testd in a private temporary directory (0755, so a client
    running as nobody can reach the socket), driven on stdin."""

    def __init__(self, *args):
        self.dir = tempfile.mkdtemp(prefix="wlapi-")
        os.chmod(self.dir, 0o755)
        self.sock = os.path.join(self.dir, "api.sock")
        self.target = "unix://" + self.sock
        self.err = open(os.path.join(self.dir, "server.log"), "w")
        self.proc = subprocess.Popen(
            [TESTD, "--socket", self.sock, "--state",
             os.path.join(self.dir, "state")] + list(args),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err,
            text=True, bufsize=1)
        line = self.proc.stdout.readline()
        if not line.startswith("ready"):
            raise RuntimeError("wlapi_testd did not start: %r" % line)

    def cmd(self, line):
        """Sends a command, returns what it printed before "done"."""
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        out = []
        while True:
            got = self.proc.stdout.readline()
            if not got or got.startswith("done "):
                return out
            out.append(got)

    def stats(self):
        return json.loads(self.cmd("stats")[0])

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        """Stops it; True when it exited 0 (under ASan: no leak, no
        error)."""
        try:
            self.cmd("quit")
            rc = self.proc.wait(timeout=30)
        except Exception:
            self.proc.kill()
            rc = self.proc.wait()
        self.err.close()
        if rc != 0:
            with open(os.path.join(self.dir, "server.log")) as f:
                sys.stdout.write(f.read()[-4000:])
        shutil.rmtree(self.dir, ignore_errors=True)
        return rc == 0


# ---- gRPC through python3-grpcio ---------------------------------------------

METHODS = {
    "FetchX509SVID": (pb.X509SVIDRequest, pb.X509SVIDResponse, True),
    "FetchX509Bundles": (pb.X509BundlesRequest, pb.X509BundlesResponse, True),
    "FetchJWTSVID": (pb.JWTSVIDRequest, pb.JWTSVIDResponse, False),
    "FetchJWTBundles": (pb.JWTBundlesRequest, pb.JWTBundlesResponse, True),
    "ValidateJWTSVID": (pb.ValidateJWTSVIDRequest, pb.ValidateJWTSVIDResponse, False),
    "FetchWITSVID": (pb.WITSVIDRequest, pb.WITSVIDResponse, True),
    "FetchWITBundles": (pb.WITBundlesRequest, pb.WITBundlesResponse, True),
}


def call(channel, method, req=None, metadata=MD, timeout=10):
    """A unary call's response, or a server stream's iterator."""
    req_t, resp_t, streaming = METHODS[method]
    make = channel.unary_stream if streaming else channel.unary_unary
    stub = make("/SpiffeWorkloadAPI/" + method,
                request_serializer=req_t.SerializeToString,
                response_deserializer=resp_t.FromString)
    return stub(req if req is not None else req_t(), metadata=metadata,
                timeout=timeout)


def status_of(fn):
    """The gRPC status code a call ends with (OK if it raises nothing)."""
    try:
        r = fn()
        if hasattr(r, "__next__"):
            next(r)
        return grpc.StatusCode.OK, ""
    except grpc.RpcError as e:
        return e.code(), e.details()


# ---- raw HTTP/2 through python3-h2 --------------------------------------------

class RawH2:
    """A bare HTTP/2 client on a connected unix socket: for the cases no
    gRPC library will produce."""

    def __init__(self, sock):
        self.sock = sock
        self.conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.conn.initiate_connection()
        self.flush()
        self.ended, self.seen = set(), {}

    @classmethod
    def connect(cls, path):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        return cls(s)

    def flush(self):
        self.sock.sendall(self.conn.data_to_send())

    def request(self, method, body=b"", security=True):
        """Opens a stream for @method with the gRPC message @body; the
        security header unless told not to."""
        sid = self.conn.get_next_available_stream_id()
        hdrs = [(":method", "POST"), (":scheme", "http"),
                (":path", "/SpiffeWorkloadAPI/" + method),
                (":authority", "localhost"),
                ("content-type", "application/grpc"), ("te", "trailers")]
        if security:
            hdrs.append(("workload.spiffe.io", "true"))
        self.conn.send_headers(sid, hdrs, end_stream=False)
        self.flush()
        self.send_body(sid, grpc_frame(body))
        return sid

    def send_body(self, sid, data):
        """Sends @data as the flow-control windows allow, reading the
        server's WINDOW_UPDATEs; stops early if the stream ends."""
        while True:
            n = min(len(data), self.conn.local_flow_control_window(sid),
                    self.conn.max_outbound_frame_size)
            if n or not data:
                self.conn.send_data(sid, data[:n], end_stream=n == len(data))
                self.flush()
                data = data[n:]
                if not data:
                    return
                continue
            # The window is spent: wait for the server to open it again.
            r, _, _ = select.select([self.sock], [], [], 5)
            if not r:
                return
            got = self.sock.recv(65536)
            if not got:
                return
            for ev in self.conn.receive_data(got):
                if isinstance(ev, (h2.events.StreamEnded, h2.events.StreamReset)) \
                        and ev.stream_id == sid:
                    self.ended.add(sid)
                if isinstance(ev, (h2.events.ResponseReceived,
                                   h2.events.TrailersReceived)):
                    self.seen[ev.stream_id] = dict(ev.headers)
            self.flush()
            if sid in self.ended:
                return

    def status(self, sid, timeout=10):
        """The grpc-status of stream @sid, from its trailers or its
        Trailers-Only headers."""
        deadline = time.time() + timeout
        if "grpc-status" in self.seen.get(sid, {}):
            return int(self.seen[sid]["grpc-status"])
        while time.time() < deadline:
            r, _, _ = select.select([self.sock], [], [], 0.2)
            if not r:
                continue
            data = self.sock.recv(65536)
            if not data:
                return None
            for ev in self.conn.receive_data(data):
                if isinstance(ev, (h2.events.ResponseReceived,
                                   h2.events.TrailersReceived)) \
                        and ev.stream_id == sid:
                    hd = dict(ev.headers)
                    if "grpc-status" in hd:
                        return int(hd["grpc-status"])
                if isinstance(ev, h2.events.DataReceived):
                    self.conn.acknowledge_received_data(
                        ev.flow_controlled_length, ev.stream_id)
            self.flush()
        return None


def grpc_frame(msg):
    return b"\0" + len(msg).to_bytes(4, "big") + msg


def closed_by_peer(sock, timeout):
    """True when the server closes @sock within @timeout seconds."""
    sock.settimeout(timeout)
    try:
        while True:
            if not sock.recv(65536):
                return True
    except socket.timeout:
        return False
    except OSError:
        return True


# ---- what the API hands out -----------------------------------------------------

def der_split(blob):
    """Concatenated DER certificates, one by one (each a SEQUENCE)."""
    out, i = [], 0
    while i < len(blob):
        if blob[i] != 0x30:
            raise ValueError("not a DER SEQUENCE at %d" % i)
        n = blob[i + 1]
        if n < 0x80:
            hdr, length = 2, n
        else:
            k = n & 0x7F
            hdr, length = 2 + k, int.from_bytes(blob[i + 2:i + 2 + k], "big")
        out.append(x509.load_der_x509_certificate(blob[i:i + hdr + length]))
        i += hdr + length
    return out


def pem_file(path, certs):
    with open(path, "wb") as f:
        for c in certs:
            f.write(c.public_bytes(serialization.Encoding.PEM))


def check_svid(svid, workdir):
    """None when the SVID is right: its chain verifies with openssl(1)
    against the bundle it came with, its key is unencrypted PKCS#8 DER
    matching the leaf, and the leaf's one URI SAN is its spiffe_id."""
    chain = der_split(svid.x509_svid)
    roots = der_split(svid.bundle)
    key = serialization.load_der_private_key(svid.x509_svid_key, password=None)
    if key.public_key().public_numbers() != chain[0].public_key().public_numbers():
        return "the key does not match the leaf"
    san = chain[0].extensions.get_extension_for_class(x509.SubjectAlternativeName)
    uris = san.value.get_values_for_type(x509.UniformResourceIdentifier)
    if uris != [svid.spiffe_id]:
        return "leaf URI SANs %r, spiffe_id %r" % (uris, svid.spiffe_id)
    pem_file(os.path.join(workdir, "leaf.pem"), chain[:1])
    pem_file(os.path.join(workdir, "bundle.pem"), roots)
    args = ["openssl", "verify", "-CAfile", os.path.join(workdir, "bundle.pem")]
    if len(chain) > 1:
        pem_file(os.path.join(workdir, "inter.pem"), chain[1:])
        args += ["-untrusted", os.path.join(workdir, "inter.pem")]
    r = subprocess.run(args + [os.path.join(workdir, "leaf.pem")],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return "openssl verify: " + r.stdout + r.stderr
    return None


def leaf_serial(resp):
    return der_split(resp.svids[0].x509_svid)[0].serial_number


def open_streams(path, conns, per_conn):
    """Opens conns x per_conn FetchX509SVID streams; returns the raw
    connections once every stream has its first message."""
    out = []
    for _ in range(conns):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        h = RawH2(s)
        sids = {h.request("FetchX509SVID") for _ in range(per_conn)}
        seen, deadline = set(), time.time() + 30
        while seen != sids and time.time() < deadline:
            r, _, _ = select.select([s], [], [], 1)
            if not r:
                continue
            for ev in h.conn.receive_data(s.recv(1 << 20)):
                if isinstance(ev, h2.events.DataReceived):
                    seen.add(ev.stream_id)
                    h.conn.acknowledge_received_data(ev.flow_controlled_length,
                                                     ev.stream_id)
            h.flush()
        if seen != sids:
            raise RuntimeError("%d of %d streams served" % (len(seen), len(sids)))
        out.append((s, h))
    return out
