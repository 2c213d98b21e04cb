"""A request id made four ways, a Starlette Request, the entry's header pass (stop 32): `mb.sh /tmp/i19/mb_rid.py`."""
import random, os, secrets
from starlette.requests import Request
K = 2000
scope = {"type": "http", "headers": [(b"host", b"x"), (b"content-type", b"application/json"), (b"authorization", b"Bearer sk"), (b"content-length", b"99")], "method": "POST", "path": "/v1/chat/completions", "state": {}}
def nothing(): pass
def rid(): (b"%032x" % random.getrandbits(128)).decode()
def rid_hex(): random.getrandbits(128).to_bytes(16, "little").hex()
def rid_fmt(): "%032x" % random.getrandbits(128)
def rid_randbytes(): random.randbytes(16).hex()
def req(): Request(scope, None, None)
def headerloop():
    read = frozenset((b"x-request-id", b"authorization", b"x-api-key", b"content-length", b"x-gateway-timeout-s", b"x-gateway-fallbacks", b"x-gateway-target", b"cache-control", b"x-gateway-cache-ttl"))
    found = {}
    for name, value in scope["headers"]:
        if name in read:
            if name == b"x-request-id": pass
            elif name in (b"authorization", b"x-api-key"): pass
            else:
                key = name.decode("latin-1")
                if key not in found: found[key] = value.decode("latin-1")
CASES = {"nothing": nothing, "rid": rid, "rid_hex": rid_hex, "rid_fmt": rid_fmt, "rid_randbytes": rid_randbytes, "Request()": req, "headerloop": headerloop}
