"""Run `gateway serve` with phase trampolines (see /tmp/i19/phasetramp): each (parent phase, phase) pair gets its
own C function, so callgrind's inclusive cost of that function is the cost of the phase under that parent."""
import json, os, sys, functools
sys.path.insert(0, "/tmp/i19")
import phasetramp as T

MAP = os.environ.get("PHASEMAP", "/tmp/i19/phasemap.json")
stack = ["root"]
slots: dict = {}

def tramp(child):
    key = (stack[-1], child)
    f = slots.get(key)
    if f is None:
        i = len(slots)
        f = slots[key] = getattr(T, f"phase_{i:03d}")
        with open(MAP, "w") as out:
            json.dump({f"phase_{j:03d}": list(k) for k, j in ((k, int(v.__name__[6:])) for k, v in slots.items())}, out)
    return f

def wrap_sync(name, fn):
    def w(*a, **k):
        f = tramp(name)
        stack.append(name)
        try:
            return f(functools.partial(fn, **k) if k else fn, *a)
        finally:
            stack.pop()
    w.__wrapped__ = fn
    return w

class Step:
    __slots__ = ("c", "n")
    def __init__(self, c, n):
        self.c, self.n = c, n
    def __await__(self):
        return self
    def __iter__(self):
        return self
    def _run(self, m, *a):
        f = tramp(self.n)
        stack.append(self.n)
        try:
            return f(m, *a)
        finally:
            stack.pop()
    def __next__(self):
        return self._run(self.c.send, None)
    def send(self, v):
        return self._run(self.c.send, v)
    def throw(self, *a):
        return self._run(self.c.throw, *a)
    def close(self):
        return self.c.close()

def wrap_async(name, fn):  # returns an awaitable (not a coroutine)
    def w(*a, **k):
        return Step(fn(*a, **k), name)
    return w

def wrap_async_def(name, fn):  # stays a coroutine function (Starlette's is_async_callable)
    async def w(*a, **k):
        return await Step(fn(*a, **k), name)
    return w

def patch(owner, attr, name, kind="sync"):
    fn = owner.__dict__[attr] if isinstance(owner, type) else getattr(owner, attr)
    wrapper = {"sync": wrap_sync, "async": wrap_async, "asyncdef": wrap_async_def}[kind](name, fn)
    setattr(owner, attr, wrapper)

if os.environ.get("PHASES", "1") == "1":
    import aiohttp.client_proto, httpx, starlette.applications, starlette.routing, starlette.responses
    from uvicorn.protocols.http import httptools_impl
    import gateway.endpoints as ep, gateway.dispatch as dp, gateway.providers.base as pb
    import gateway.providers.openai as po, gateway.upstream as up, gateway.serving as sv
    import gateway.middleware as mw, gateway.access.gate as gate, gateway.routing.table as tb
    import gateway.ui.recorder as rec, gateway.sse as sse, gateway.eventstream as es
    import gateway.entrances.messages as em, gateway.entrances.responses_http as er

    sv.GuardedHttpToolsProtocol.data_received = wrap_sync("srv_recv", httptools_impl.HttpToolsProtocol.data_received)
    patch(httptools_impl.RequestResponseCycle, "run_asgi", "asgi", "asyncdef")
    patch(httptools_impl.RequestResponseCycle, "send", "srv_send", "async")
    patch(httptools_impl.RequestResponseCycle, "receive", "srv_receive", "async")
    _app_call = starlette.applications.Starlette.__call__
    async def _app(self, scope, receive, send):
        return await Step(_app_call(self, scope, receive, send), "app")
    starlette.applications.Starlette.__call__ = _app
    patch(mw.EntryMiddleware, "__call__", "entry_mw", "async")
    patch(starlette.routing.Router, "__call__", "router", "async")
    patch(ep.Endpoints, "_proxy", "endpoint", "async")
    patch(ep, "_read_json", "read_json", "async")
    patch(ep, "check_request", "validate")
    patch(tb.RouteTable, "get", "route")
    patch(ep, "control_from_headers", "route")
    patch(gate.Access, "check_model", "access")
    patch(gate.Access, "admit", "access")
    patch(gate.Access, "authenticate", "access")
    patch(gate.Access, "finish", "accounting")
    patch(dp.Dispatcher, "complete", "dispatch", "async")
    patch(dp.Dispatcher, "open_stream", "dispatch", "async")
    patch(po.OpenAIProvider, "to_request", "to_request")
    patch(up.Upstream, "send", "upstream_send", "async")
    patch(aiohttp.client_proto.ResponseHandler, "data_received", "aiohttp_recv")
    patch(pb, "read_body", "read_body", "async")
    patch(httpx.Response, "aclose", "resp_close", "async")
    if hasattr(up, "AiohttpAnswer"):
        patch(up.AiohttpAnswer, "aclose", "resp_close", "async")
    patch(po.OpenAIProvider, "from_response", "from_response")
    patch(rec.Recorder, "request_finished", "recorder")
    patch(ep, "_answer_headers", "resp_build")
    patch(starlette.responses.Response, "__init__", "resp_build")
    patch(starlette.responses.Response, "__call__", "resp_send", "async")
    patch(es.EventStreamResponse, "__call__", "resp_send", "async")
    patch(sse.SSEDecoder, "feed", "sse_decode")
    patch(pb, "_translate", "stream_facts")
    patch(em.MessagesEntrance, "messages", "entrance", "asyncdef")
    patch(er.ResponsesEntrance, "create", "entrance", "asyncdef")
    patch(em, "to_openai_chat", "entrance_in")
    patch(em, "to_anthropic_message", "entrance_out")
    patch(er, "to_chat", "entrance_in")
    patch(er, "to_response", "entrance_out")
    patch(er, "_keep", "store", "async")
    import aiohttp.streams
    patch(aiohttp.streams.StreamReader, "readany", "aiohttp_read", "async")
    patch(aiohttp.streams.StreamReader, "read", "aiohttp_read", "async")
    patch(aiohttp.streams.StreamReader, "readchunk", "aiohttp_read", "async")

import uvicorn
_init = uvicorn.Config.__init__
def _asgi3(self, app, **kw):
    kw.setdefault("interface", "asgi3")
    _init(self, app, **kw)
uvicorn.Config.__init__ = _asgi3
from gateway.cli import main
sys.argv = ["gateway", *sys.argv[1:]]
sys.exit(main())
