"""Instructions per request of the live page's recorder (request_finished, its record, the two rows): `mb.sh /tmp/i19/mb_rec.py`."""
import time
from gateway.ui import LivePage
from gateway.config import UiConfig
from gateway.events import Exchange, Attempt
from gateway.providers.base import Facts
live = LivePage(UiConfig())
rec = live.recorder
w = rec.window
def mk():
    e = Exchange("0123456789abcdef0123456789abcdef", "chat", route="bench-model")
    a = Attempt(1, "bench-model", "bench-upstream", "openai", "bench-upstream-model", "127.0.0.1", 18480)
    a.facts = Facts("id", "m", ["stop"], 9, 19)
    a.finish("ok", status=200)
    e.attempts.append(a); e.status = 200
    return e
E = [mk() for _ in range(3000)]
it = iter(E * 10)
now = time.time(); mono = time.monotonic()
K = 1000
def nothing(): next(it)
def finished(): rec.request_finished(next(it))
def record(): rec._record(next(it), now, mono)
def wreq(): w.request(now, "bench-model", False, False, 0.001, None, 9, 19, 0.0, None)
def watt(): w.attempt(now, "bench-upstream/bench-upstream-model", False, 0.001, None, 9, 19, 0.0)
CASES = {"nothing": nothing, "request_finished": finished, "_record": record, "window.request": wreq, "window.attempt": watt}
