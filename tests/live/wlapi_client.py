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
  wlapi_client.py SOCK reused          the PID-reuse attack (see pid_reuse)
Statuses are printed by name ("OK", "PERMISSION_DENIED", ...).
"""
import json
import os
import sys
import tempfile

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


def main():
    sock, what = sys.argv[1], sys.argv[2]
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
