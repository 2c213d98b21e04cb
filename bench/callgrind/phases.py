"""The phase trampolines both launchers use (launch.py: the gateway, launch_bare.py: bench/bare.py). Each
(parent phase, phase) pair gets its own C function from phasetramp, so callgrind's inclusive cost of that function
is the cost of the phase under that parent; PHASEMAP names them."""
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


def patch_server(protocol):
    """uvicorn's parse (`protocol`'s own data_received), its request task, send and receive, and Starlette's app."""
    import starlette.applications
    from uvicorn.protocols.http import httptools_impl
    protocol.data_received = wrap_sync("srv_recv", protocol.data_received)
    patch(httptools_impl.RequestResponseCycle, "run_asgi", "asgi", "asyncdef")
    patch(httptools_impl.RequestResponseCycle, "send", "srv_send", "async")
    patch(httptools_impl.RequestResponseCycle, "receive", "srv_receive", "async")
    try:  # the gateway's cycle writes the response head itself (gateway/response_head.py): that is uvicorn's send too
        from gateway.response_head import GatewayCycle
    except ImportError:  # (an older gateway, or the bare pass-through's process)
        pass
    else:
        patch(GatewayCycle, "_write_head", "srv_send")
    app_call = starlette.applications.Starlette.__call__
    async def app(self, scope, receive, send):
        return await Step(app_call(self, scope, receive, send), "app")
    starlette.applications.Starlette.__call__ = app

def patch_aiohttp_reads():
    import aiohttp.client_proto, aiohttp.streams
    patch(aiohttp.client_proto.ResponseHandler, "data_received", "aiohttp_recv")
    patch(aiohttp.streams.StreamReader, "readany", "aiohttp_read", "async")
    patch(aiohttp.streams.StreamReader, "read", "aiohttp_read", "async")
    patch(aiohttp.streams.StreamReader, "readchunk", "aiohttp_read", "async")

def asgi3():
    """uvicorn told the app is ASGI 3 (its check would call the wrapped app's signature otherwise)."""
    import uvicorn
    init = uvicorn.Config.__init__
    def config(self, app, **kw):
        kw.setdefault("interface", "asgi3")
        init(self, app, **kw)
    uvicorn.Config.__init__ = config
