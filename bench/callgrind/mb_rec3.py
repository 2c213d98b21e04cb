"""The recorder's pieces: `mb.sh /tmp/i19/mb_rec3.py`."""
import time
from collections import deque
from mb_rec import rec, it, now, mono, w
from gateway.ui.recorder import AttemptEntry, RequestEntry, _new
for _ in range(1000):
    rec._record(next(it), now, mono)
ring = deque([None] * 300, maxlen=300)
def nothing(): next(it)
def record(): rec._record(next(it), now, mono)
def finished(): rec.request_finished(next(it))
def wreq(): next(it); w.request(now, "bench-model", False, False, 0.001, None, 9, 19, 0.0, None)
def watt(): next(it); w.attempt(now, "bench-upstream/bench-upstream-model", False, 0.001, None, 9, 19, 0.0)
def clocks(): next(it); time.time(); time.monotonic()
def tuples():
    e = next(it); a = e.attempts[0]; f = a.facts
    at = _new(AttemptEntry, (a.number, a.route, a.provider, a.model, a.started, a.first_chunk_at,
                             a.backoff_s, a.ended, a.outcome, a.status, a.error, f.input_tokens, f.output_tokens, a.cost_usd))
    ring.append(_new(RequestEntry, (1, now, e.started, mono, e.request_id, e.operation, e.route, e.stream,
        e.key_name, e.cache, e.status, e.error, 9, 19, e.cost_usd, None, (at,))))
def keep_exchange():
    ring.append(next(it))
CASES = {"nothing": nothing, "_record": record, "request_finished": finished, "window.request": wreq, "window.attempt": watt,
         "clocks": clocks, "tuples+ring": tuples, "ring of exchanges": keep_exchange}
