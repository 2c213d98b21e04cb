"""Dispatcher.complete against a provider that answers at once (no I/O): us per call, or instructions per call
under callgrind with mbcount.sh (which runs it at two N and takes the difference). SRC: the gateway source dir."""
import asyncio, time, sys, os
sys.path.insert(0, os.environ.get("SRC", "/work/main"))
from gateway.config import parse_config
from gateway.app import build_gateway
from gateway.providers.base import Call, Reply, Facts
from gateway.dispatch import Control
from gateway.events import Exchange
from gateway.ui import LivePage
cfg = parse_config(open("/tmp/i19/gw.toml").read())
live = LivePage(cfg.ui)
obs = live.recorder if os.environ.get("REC") else None
gw, providers = build_gateway(cfg, observer=obs)
async def instant(call, model, headers=None):
    return Reply(b"{}", Facts(), None)
for p in providers: p.complete = instant
route = gw.table.get("bench-model")
call = Call("chat", {"model": "bench-model", "messages": []})
ctl = Control()
async def main():
    d = gw.dispatcher
    for _ in range(2000):
        await d.complete(Exchange("r", "chat"), route, call, ctl)
    n = int(os.environ.get("N", "50000"))
    t = time.process_time()
    for _ in range(n):
        await d.complete(Exchange("r", "chat"), route, call, ctl)
    print(f"{(time.process_time()-t)/n*1e6:.2f} us/call")
import uvloop; uvloop.run(main())
if os.environ.get("PROF"):
    import yappi
    yappi.set_clock_type("cpu"); yappi.start(builtins=True)
    async def m2():
        for _ in range(20000):
            await gw.dispatcher.complete(Exchange("r", "chat"), route, call, ctl)
    uvloop.run(m2()); yappi.stop()
    st = yappi.get_func_stats(); st.sort("tsub"); st.print_all(columns={0:("name",70),1:("ncall",9),2:("tsub",9),3:("ttot",9)})
