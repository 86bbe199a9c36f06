#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""JWT-SVIDs checked by an independent implementation: Debian's
python3-cryptography (test_jwt_svid.c runs this).

  jwt_interop.py verify JWKS_FILE TOKEN AUDIENCE
      verifies TOKEN (ES256, raw r||s) with the key of its kid in the JWK
      Set; prints "ok SUB" and exits 0, or the reason and exits 1.
  jwt_interop.py sign SUB AUDIENCE
      makes a P-256 key, prints its JWK Set (one line) and a JWT-SVID for
      SUB and AUDIENCE, valid for five minutes (another line).
"""
import base64
import json
import os
import sys
import time

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature, encode_dss_signature)


def b64d(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def b64e(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def check(jwks, token, audience):
    """None when TOKEN verifies with the JWK Set JWKS (a dict) for
    AUDIENCE, else the reason; also used by tests/workload_api."""
    h64, p64, s64 = token.split(".")
    header = json.loads(b64d(h64))
    claims = json.loads(b64d(p64))
    if header.get("alg") != "ES256" or header.get("typ", "JWT") != "JWT":
        return "header %r" % header
    keys = [k for k in jwks["keys"] if k.get("kid") == header.get("kid")]
    if len(keys) != 1 or keys[0].get("use") != "jwt-svid":
        return "no jwt-svid key for kid %r" % header.get("kid")
    k = keys[0]
    pub = ec.EllipticCurvePublicNumbers(
        int.from_bytes(b64d(k["x"]), "big"), int.from_bytes(b64d(k["y"]), "big"),
        ec.SECP256R1()).public_key()
    sig = b64d(s64)
    if len(sig) != 64:
        return "signature of %d bytes, not 64 (raw r||s)" % len(sig)
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"),
                               int.from_bytes(sig[32:], "big"))
    try:
        pub.verify(der, (h64 + "." + p64).encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return "bad signature"
    aud = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if audience not in aud:
        return "audience %r not in %r" % (audience, aud)
    if not claims["exp"] > time.time() or claims["iat"] > time.time() + 60:
        return "times exp=%r iat=%r" % (claims["exp"], claims["iat"])
    return None


def verify(jwks_file, token, audience):
    with open(jwks_file) as f:
        why = check(json.load(f), token, audience)
    if why:
        print("refused:", why)
        sys.exit(1)
    print("ok", json.loads(b64d(token.split(".")[1]))["sub"])


def sign(sub, audience):
    key = ec.generate_private_key(ec.SECP256R1())
    nums = key.public_key().public_numbers()
    kid = "py-" + b64e(os.urandom(9))
    jwk = {"use": "jwt-svid", "kty": "EC", "kid": kid, "crv": "P-256",
           "x": b64e(nums.x.to_bytes(32, "big")),
           "y": b64e(nums.y.to_bytes(32, "big"))}
    now = int(time.time())
    h64 = b64e(json.dumps({"alg": "ES256", "kid": kid, "typ": "JWT"}).encode())
    p64 = b64e(json.dumps({"sub": sub, "aud": [audience], "exp": now + 300,
                           "iat": now}).encode())
    r, s = decode_dss_signature(key.sign((h64 + "." + p64).encode(),
                                         ec.ECDSA(hashes.SHA256())))
    sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    print(json.dumps({"keys": [jwk]}, separators=(",", ":")))
    print(h64 + "." + p64 + "." + b64e(sig))


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "verify":
        verify(*sys.argv[2:])
    elif len(sys.argv) == 4 and sys.argv[1] == "sign":
        sign(*sys.argv[2:])
    else:
        print(__doc__)
        sys.exit(2)
