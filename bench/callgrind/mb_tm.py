"""The attempt deadline (timers.py) and the per-request dataclasses, piece by piece: `mb.sh /tmp/i19/mb_tm.py`."""
import asyncio
from gateway.timers import for_loop
from gateway.events import Exchange, Attempt
from gateway.dispatch import _Plan, Outcome
K = 1000
h = []
loop = asyncio.new_event_loop()
asyncio.set_event_loop(loop)
task = None
async def main():
    global task
    task = asyncio.current_task()
    for_loop(h)
    fut = loop.create_future()
    await fut
t = loop.create_task(main())
loop.run_until_complete(asyncio.sleep(0))
# fake "inside task": asyncio.current_task needs the running loop -> emulate via _enter_task
from asyncio import tasks
def nothing(): pass
def deadline():
    loop._thread_id = __import__("threading").get_ident()
    tasks._enter_task(loop, t)
    asyncio.events._set_running_loop(loop)
    try:
        with for_loop(h).deadline(5.0):
            pass
    finally:
        tasks._leave_task(loop, t)
        asyncio.events._set_running_loop(None)
def enterleave():
    tasks._enter_task(loop, t)
    asyncio.events._set_running_loop(loop)
    try:
        pass
    finally:
        tasks._leave_task(loop, t)
        asyncio.events._set_running_loop(None)
def exch(): Exchange("r", "chat")
def att(): Attempt(1, "m", "p", "openai", "m2", "127.0.0.1", 80)
ex = Exchange("r", "chat")
def plan(): _Plan(ex, 1.0, 3, frozenset())
def outc(): Outcome(None, None, None)
CASES = {"nothing": nothing, "enterleave": enterleave, "deadline": deadline, "Exchange": exch, "Attempt": att, "_Plan": plan, "Outcome": outc}
from gateway.timers import Deadline
def inside(fn):
    def w():
        tasks._enter_task(loop, t)
        asyncio.events._set_running_loop(loop)
        try:
            fn()
        finally:
            tasks._leave_task(loop, t)
            asyncio.events._set_running_loop(None)
    return w
timers = h[0]
def fl(): for_loop(h)
def dl(): timers.deadline(5.0)
def ct(): asyncio.current_task(loop)
def lt(): loop.time()
def enter_exit():
    d = Deadline(timers, 5.0)
    d.__enter__(); d.__exit__(None, None, None)
def tc(): t.cancelling()
CASES.update({"for_loop": inside(fl), "deadline()": inside(dl), "current_task": inside(ct), "loop.time": inside(lt), "Deadline+enter+exit": inside(enter_exit), "cancelling": inside(tc)})
print(type(loop))
