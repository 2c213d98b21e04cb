"""Building uvicorn's request cycle and the gateway's (stop 32: the same cost): `mb.sh /tmp/i19/mb_cyc.py`."""
import asyncio
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle
from gateway.response_head import GatewayCycle, KnownHeaders
K = 1000
kh = KnownHeaders()
def mk(cls):
    return cls(scope={"method": "POST"}, transport=None, flow=None, logger=None, access_logger=None, access_log=False,
               default_headers=[], message_event=None, expect_100_continue=False, keep_alive=True, on_response=None)
def u(): mk(RequestResponseCycle)
def g(): mk(GatewayCycle)
def gk(): mk(GatewayCycle).known = kh
def ev(): asyncio.Event()
CASES = {"uvicorn cycle": u, "GatewayCycle": g, "GatewayCycle + known": gk, "Event()": ev, "uvicorn cycle again": u}
