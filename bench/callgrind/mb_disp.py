"""Dispatcher.complete with an instant provider, in pieces: `mb.sh /tmp/i19/mb_disp.py`."""
import asyncio, gc, time
from asyncio import tasks
from gateway.config import parse_config
from gateway.app import build_gateway
from gateway.providers.base import Call, Reply, Facts
from gateway.dispatch import Control, _Plan, Outcome
from gateway.events import Exchange, Attempt
cfg = parse_config(open("/tmp/i19/gw.toml").read())
gw, providers = build_gateway(cfg)
REPLY = Reply(b"{}", Facts(), None)
async def instant(call, model, headers=None):
    return REPLY
for p in providers: p.complete = instant
route = gw.table.get("bench-model")
call = Call("chat", {"model": "bench-model", "messages": []})
ctl = Control()
d = gw.dispatcher
loop = asyncio.new_event_loop(); asyncio.set_event_loop(loop)
async def park(): await loop.create_future()
t = loop.create_task(park()); loop.run_until_complete(asyncio.sleep(0))
tasks._enter_task(loop, t); asyncio.events._set_running_loop(loop)
loop.is_running = lambda: True
gc.freeze(); gc.set_threshold(20000, 10, 10)
def run(coro):
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    raise RuntimeError("suspended")
K = 1000
EX = [Exchange("r", "chat") for _ in range(K * 20)]
it = iter(EX)
def nothing(): next(it)
def complete(): run(d.complete(next(it), route, call, ctl))
def attempt_only():
    e = next(it)
    run(d._attempt(_Plan(e, time.monotonic() + 100, 3), route, route.targets[0], lambda p, t, h, s: instant(None, None), backoff=0.0))
def health(): next(it); h = d.health; h.begin("k"); h.end("k"); h.succeeded("k", 0.01)
def attempt_obj(): next(it); Attempt(1, "m", "p", "openai", "m2", "127.0.0.1", 80)
def plan(): _Plan(next(it), 1.0, 3, frozenset())
def started(): next(it); d.observer.attempt_started(None, None)
def finished(): next(it); d.observer.attempt_finished(None, None)
CASES = {"nothing": nothing, "complete": complete, "_attempt": attempt_only, "health x3": health, "Attempt()": attempt_obj,
         "_Plan()": plan, "observer.attempt_started": started, "observer.attempt_finished": finished}
