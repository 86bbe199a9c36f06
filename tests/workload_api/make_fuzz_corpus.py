#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Writes the seed corpus of tests/fuzz/fuzz_wlapi.c: what a client sends
on a Workload API connection, one file a scenario, with the HTTP/2 framing
and HPACK of python3-h2 and the messages of the generated workload_pb2.

  make_fuzz_corpus.py DIR   (needs WLAPI_TESTD or build/ for the stubs)
"""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import h2.config  # noqa: E402
import h2.connection  # noqa: E402
from harness import grpc_frame, pb  # noqa: E402


def session(requests, settings_ack=True):
    c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    c.initiate_connection()
    out = c.data_to_send()
    if settings_ack:
        out += b"\x00\x00\x00\x04\x01\x00\x00\x00\x00"  # ACK of our SETTINGS
    for method, msg, security in requests:
        sid = c.get_next_available_stream_id()
        hdrs = [(":method", "POST"), (":scheme", "http"),
                (":path", "/SpiffeWorkloadAPI/" + method),
                (":authority", "localhost"),
                ("content-type", "application/grpc"), ("te", "trailers"),
                ("user-agent", "fuzz-seed")]
        if security:
            hdrs.append(("workload.spiffe.io", "true"))
        c.send_headers(sid, hdrs)
        c.send_data(sid, grpc_frame(msg.SerializeToString()), end_stream=True)
        out += c.data_to_send()
    return out


TOKEN = ("eyJhbGciOiJFUzI1NiIsImtpZCI6ImsyNTYiLCJ0eXAiOiJKV1QifQ."
         "eyJzdWIiOiJzcGlmZmU6Ly9leGFtcGxlLm9yZy93ZWIiLCJhdWQiOiJkYiIsImV4cCI6MX0."
         "AAAA")
SEEDS = {
    "x509_svid": [("FetchX509SVID", pb.X509SVIDRequest(), True)],
    "x509_bundles": [("FetchX509Bundles", pb.X509BundlesRequest(), True)],
    "jwt_svid": [("FetchJWTSVID", pb.JWTSVIDRequest(audience=["db"]), True)],
    "jwt_svid_id": [("FetchJWTSVID", pb.JWTSVIDRequest(
        audience=["a", "b"], spiffe_id="spiffe://example.org/web"), True)],
    "jwt_bundles": [("FetchJWTBundles", pb.JWTBundlesRequest(), True)],
    "validate": [("ValidateJWTSVID", pb.ValidateJWTSVIDRequest(
        audience="db", svid=TOKEN), True)],
    "wit": [("FetchWITSVID", pb.WITSVIDRequest(), True)],
    "no_header": [("FetchX509SVID", pb.X509SVIDRequest(), False)],
    "all": [("FetchX509SVID", pb.X509SVIDRequest(), True),
            ("FetchX509Bundles", pb.X509BundlesRequest(), True),
            ("FetchJWTBundles", pb.JWTBundlesRequest(), True),
            ("FetchJWTSVID", pb.JWTSVIDRequest(audience=["db"]), True),
            ("ValidateJWTSVID", pb.ValidateJWTSVIDRequest(
                audience="db", svid=TOKEN), True)],
}

if __name__ == "__main__":
    os.makedirs(sys.argv[1], exist_ok=True)
    for name, reqs in SEEDS.items():
        with open(os.path.join(sys.argv[1], name), "wb") as f:
            f.write(session(reqs))
    with open(os.path.join(sys.argv[1], "preface_only"), "wb") as f:
        f.write(session([], settings_ack=False))
