"""One response start through uvicorn's RequestResponseCycle.send and through GatewayCycle.send (a fake transport),
less the cycle's construction (mk). `mb.sh /tmp/i19/mb_head.py` (stop 31)."""
import asyncio
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle
from gateway.response_head import GatewayCycle
K = 500
class T:
    def write(self, b): pass
G = [(b"content-length", b"434"), (b"content-type", b"application/json"), (b"x-gateway-attempts", b"1"),
     (b"x-gateway-cache", b"bypass"), (b"x-gateway-provider", b"bench-upstream")]
class Flow: write_paused = False
def mk(cls):
    c = cls(scope={"method": "POST"}, transport=T(), flow=Flow(), logger=None, access_logger=None, access_log=False,
            default_headers=[(b"date", b"Sat, 05 Dec 2026 08:29:18 GMT")], message_event=None, expect_100_continue=False, keep_alive=True, on_response=None)
    return c
def run(cls):
    c = mk(cls)
    rid = b"%032x" % 12345678901234567890
    co = c.send({"type": "http.response.start", "status": 200, "headers": [*G, (b"x-request-id", rid)]})
    try: co.send(None)
    except StopIteration: pass
    except AttributeError: pass
def mkonly(): mk(RequestResponseCycle)
CASES = {"mk": mkonly, "uvicorn": lambda: run(RequestResponseCycle), "gateway": lambda: run(GatewayCycle)}
