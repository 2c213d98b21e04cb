"""Phases of bench/bare.py under callgrind, as launch.py for the gateway: `run.sh NAME python launch_bare.py --port 18481 --upstream http://127.0.0.1:18480`."""
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

import aiohttp.client_proto, aiohttp.client, aiohttp.streams, starlette.applications
from uvicorn.protocols.http import httptools_impl
httptools_impl.HttpToolsProtocol.data_received = wrap_sync("srv_recv", httptools_impl.HttpToolsProtocol.data_received)
patch(httptools_impl.RequestResponseCycle, "run_asgi", "asgi", "asyncdef")
patch(httptools_impl.RequestResponseCycle, "send", "srv_send", "async")
patch(httptools_impl.RequestResponseCycle, "receive", "srv_receive", "async")
_app_call = starlette.applications.Starlette.__call__
async def _app(self, scope, receive, send):
    return await Step(_app_call(self, scope, receive, send), "app")
starlette.applications.Starlette.__call__ = _app
patch(aiohttp.client.ClientSession, "_request", "upstream_send", "async")
patch(aiohttp.client_proto.ResponseHandler, "data_received", "aiohttp_recv")
patch(aiohttp.streams.StreamReader, "readany", "aiohttp_read", "async")
patch(aiohttp.streams.StreamReader, "read", "aiohttp_read", "async")
import uvicorn
_init = uvicorn.Config.__init__
def _asgi3(self, app, **kw):
    kw.setdefault("interface", "asgi3")
    _init(self, app, **kw)
uvicorn.Config.__init__ = _asgi3
import runpy
sys.argv = ["bare.py", *sys.argv[1:]]
sys.path.insert(0, "/work/main/bench")
runpy.run_path("/work/main/bench/bare.py", run_name="__main__")
