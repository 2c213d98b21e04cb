"""A whole chat request's parse (`data_received`) through uvicorn's HttpToolsProtocol and GuardedHttpToolsProtocol,
a fake transport, no task started (the same in both): `mb.sh /tmp/i19/mb_proto.py` (stop 32). The figures move by
2-3K with the order in which the protocols are made and measured (memory layout): compare within one run, and
with the cases in both orders."""
import asyncio, uvloop
import uvicorn
from uvicorn.server import ServerState
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from gateway.serving import GuardedHttpToolsProtocol, GatewayUvicornConfig, ConnectionLimits
K = 300
loop = uvloop.new_event_loop(); asyncio.set_event_loop(loop)
async def app(scope, receive, send): pass
class T:
    def write(self, b): pass
    def get_extra_info(self, name, default=None):
        return {"peername": ("127.0.0.1", 5555), "sockname": ("127.0.0.1", 18481)}.get(name, default)
    def is_closing(self): return False
    def close(self): pass
    def pause_reading(self): pass
    def resume_reading(self): pass
    def set_write_buffer_limits(self, *a, **k): pass
REQ = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:18481\r\nAccept-Encoding: identity\r\n"
       b"Content-Length: 96\r\ncontent-type: application/json\r\nauthorization: Bearer sk-x\r\n\r\n" + b"x" * 96)
def proto(cls, config):
    config.load()
    p = cls(config=config, server_state=ServerState(), app_state={}, _loop=loop)
    p.connection_made(T())
    p._start_asgi_task = lambda cycle, app: None  # (the same in both: not measured, nothing left queued)
    return p
pu = proto(HttpToolsProtocol, uvicorn.Config(app, http="httptools", lifespan="off", proxy_headers=False, log_level="warning"))
pg = proto(GuardedHttpToolsProtocol, GatewayUvicornConfig(app, limits=ConnectionLimits(), lifespan="off", proxy_headers=False, log_level="warning"))
def feed(p):
    p.data_received(REQ)
    c = p.cycle
    c.response_complete = True
    for t in list(p.tasks):
        t.cancel()
    p.tasks.clear()
pu_last = proto(HttpToolsProtocol, uvicorn.Config(app, http="httptools", lifespan="off", proxy_headers=False,
                                                   log_level="warning"))
CASES = {"uvicorn": lambda: feed(pu), "gateway": lambda: feed(pg), "uvicorn, made last": lambda: feed(pu_last)}
