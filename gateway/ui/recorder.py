"""The live page's observer: each finished request goes into a ring of the last few hundred and into the
rolling figures (aggregates.py), from the `Exchange` and `Attempt`s the request path already reports.

It is one more `Observer` beside telemetry's (`events.Fanout`: Accounting -> [telemetry, this]), told the same
`request_finished` after Accounting put the cost on the exchange: one recording path. It keeps its own small
tuples rather than telemetry's `RequestRecord`s (telemetry/records.py): importing anything under
`gateway/telemetry/` loads the OpenTelemetry SDK, which a gateway with telemetry off never does.

The hook runs on the request path for every request: a plain tuple per request and per attempt, a few
additions into preallocated rows, a deque append (bench/README.md, "Live page cost"). It never raises. The ring
keeps plain tuples, in `RequestEntry`'s and `AttemptEntry`'s field order, and `recent` makes them those named
tuples when the page reads them: a named tuple made on the request path cost a second tuple and a copy, 2.5K
instructions a request (issue 19, bench/README.md stop 32).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any, NamedTuple

from gateway.events import Exchange, Observer
from gateway.ui.aggregates import Window

log = logging.getLogger("gateway.ui")


class AttemptEntry(NamedTuple):
    number: int
    route: str
    provider: str
    model: str
    started: float  # time.monotonic()
    first_chunk_at: float | None
    backoff_s: float
    ended: float | None
    outcome: str
    status: int | None
    error: str | None
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: float | None

    @property
    def target(self) -> str:
        return f"{self.provider}/{self.model}"


class RequestEntry(NamedTuple):
    seq: int
    finished_at: float  # wall clock (epoch seconds)
    started: float  # time.monotonic(), like the attempts' times
    finished: float
    request_id: str
    operation: str
    route: str
    stream: bool
    key_name: str | None
    cache: str | None
    status: int
    error: str | None
    input_tokens: int
    output_tokens: int
    cost_usd: float | None
    trace_id: str | None  # 32 hex digits, when the request was traced (and sampled)
    attempts: tuple[AttemptEntry, ...]

    @property
    def answered_by(self) -> AttemptEntry | None:
        last = self.attempts[-1] if self.attempts else None
        return last if last is not None and last.outcome == "ok" else None


_SEQ, _REQUEST_ID = RequestEntry._fields.index("seq"), RequestEntry._fields.index("request_id")


class LastError(NamedTuple):
    at: float  # wall clock
    route: str
    error: str | None
    status: int | None


class Recorder(Observer):
    def __init__(self, window: Window, recent: int, clock: Callable[[], float] = time.time) -> None:
        self.window = window
        self.ring: deque[tuple[Any, ...]] = deque(maxlen=recent)  # RequestEntry's fields, oldest first
        self.clock = clock
        self.seq = 0  # requests recorded since start
        self.last_errors: dict[str, LastError] = {}  # per target; bounded like the window's series
        self.refused: dict[str, int] = {}  # reason -> requests refused before any upstream call, since start
        self.started_at = clock()
        self._failed = False

    @property
    def recent(self) -> list[RequestEntry]:
        """The requests kept, oldest first, as the page reads them."""
        return [_entry(fields) for fields in self.ring]

    def newest(self, after: float) -> list[RequestEntry]:
        """The requests kept that were recorded after request `after` (a `seq`), newest first."""
        return [_entry(fields) for fields in reversed(self.ring) if fields[_SEQ] > after]

    def find(self, request_id: str) -> RequestEntry | None:
        """The newest request kept with this id."""
        found = next((fields for fields in reversed(self.ring) if fields[_REQUEST_ID] == request_id), None)
        return _entry(found) if found is not None else None

    def request_finished(self, exchange: Exchange) -> None:
        try:
            self._record(exchange, self.clock(), time.monotonic())
        except Exception:
            if not self._failed:  # the page never breaks the data path: said once, then dropped
                self._failed = True
                log.exception("the live page's recorder failed; it keeps running, further failures are not logged")

    def request_refused(self, reason: str, key_name: str | None, route: str | None) -> None:
        self.refused[reason] = self.refused.get(reason, 0) + 1  # a handful of reasons (events.py)

    def _record(self, exchange: Exchange, now: float, mono: float) -> None:
        window = self.window
        stream = exchange.stream
        attempts: list[tuple[Any, ...]] = []  # AttemptEntry's fields
        first_content: float | None = None
        for a in exchange.attempts:
            facts = a.facts
            used_in = facts.input_tokens if facts is not None else None
            used_out = facts.output_tokens if facts is not None else None
            attempts.append((a.number, a.route, a.provider, a.model, a.started, a.first_chunk_at, a.backoff_s,
                             a.ended, a.outcome, a.status, a.error, used_in, used_out, a.cost_usd))
            target = a.provider + "/" + a.model
            ok = a.outcome == "ok"
            ttft = None
            if stream and a.first_chunk_at is not None:
                ttft = a.first_chunk_at - a.started
                if first_content is None:
                    first_content = a.first_chunk_at  # the client's first content (a resumed stream: the first)
            window.attempt(now, target, a.outcome == "error", (a.ended or mono) - a.started if ok else None, ttft,
                           used_in or 0, used_out or 0, a.cost_usd or 0.0)
            if a.outcome == "error":
                if target not in self.last_errors and len(self.last_errors) >= 4 * window.max_series:
                    self.last_errors.clear()  # targets come from the config; only a long run of reloads gets here
                self.last_errors[target] = LastError(now, a.route, a.error, a.status)
        usage = exchange.usage
        input_tokens, output_tokens = (usage.input_tokens, usage.output_tokens) if usage is not None else (0, 0)
        # A cached stream's upstream call may end (and report) before its endpoint set the 200 it answers with.
        status, error = exchange.status or 200, exchange.error
        latency = mono - exchange.started
        ttft = first_content - exchange.started if first_content is not None else None
        failed = status >= 500 or (status < 400 and error is not None and error != "client_disconnected")
        window.request(now, exchange.route, failed, 400 <= status < 500, latency, ttft, input_tokens, output_tokens,
                       exchange.cost_usd or 0.0, exchange.cache)
        self.seq += 1
        self.ring.append((
            self.seq, now, exchange.started, mono, exchange.request_id, exchange.operation, exchange.route, stream,
            exchange.key_name, exchange.cache, status, error, input_tokens, output_tokens, exchange.cost_usd,
            _trace_id(exchange.handle) if exchange.handle is not None else None, attempts))


def _entry(fields: tuple[Any, ...]) -> RequestEntry:
    """A kept request as the page reads it (`Recorder.ring`'s plain tuples, named)."""
    return RequestEntry._make((*fields[:-1], tuple(AttemptEntry._make(a) for a in fields[-1])))


def _trace_id(handle: Any) -> str | None:
    """The request's trace id when telemetry traced it: its observer leaves its request state on the exchange
    (telemetry/context.py `RequestState`, read by attribute: this module imports nothing of telemetry)."""
    trace_id = getattr(handle, "trace_id", None)
    if isinstance(trace_id, int) and trace_id and getattr(handle, "sampled", False):
        return f"{trace_id:032x}"
    return None
