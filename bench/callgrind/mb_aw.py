"""What awaiting something already done costs: a done Future, an iterator's __await__, a generator, a coroutine
(GatewayCycle.send hands back one of them for a head it wrote). `mb.sh /tmp/i19/mb_aw.py` (stop 31)."""
import asyncio
K = 1000
class Done:
    __slots__ = ()
    def __await__(self): return iter(())
D = Done()
class DoneG:
    __slots__ = ()
    def __await__(self):
        return
        yield
DG = DoneG()
loop = asyncio.new_event_loop()
F = loop.create_future(); F.set_result(None)
async def coro_nothing(): pass
async def a_iter(): await D
async def a_gen(): await DG
async def a_fut(): await F
async def a_coro(): await coro_nothing()
async def a_none(): pass
def drive(c):
    try: c.send(None)
    except StopIteration: pass
CASES = {"none": lambda: drive(a_none()), "iter": lambda: drive(a_iter()), "gen": lambda: drive(a_gen()), "fut": lambda: drive(a_fut()), "coro": lambda: drive(a_coro())}
