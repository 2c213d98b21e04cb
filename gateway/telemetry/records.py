"""What the serving process tells the telemetry process: plain tuples, pickled in batches over a socket.

    serving process (uvicorn)                              telemetry process (gateway.telemetry.process)
    ServerSpanMiddleware, TelemetryObserver                Pipeline: spans.py + metrics.py on the SDK,
      --RequestRecord, Cooldown, Refusal...-->  link.py  ==>   BatchSpanProcessor + OTLP / console exporters,
      --Call (flush, scrape, stats, stop)-->               MeterProvider + OTLP / Prometheus readers
      <--Reply, LogLine-----------------------------------

A request costs the serving process one `RequestRecord`, made after its last byte went out: ids, times
(`time.monotonic()`, a clock both processes share) and the facts the request path already keeps. Turning
that into spans, metric points and OTLP bytes is the OpenTelemetry SDK's work, and it happens in the other
process, on another core: the SDK costs more CPU per request than the whole proxy path (bench/README.md).

On the wire a request record is a plain tuple (nested plain tuples, in the field order of the NamedTuples
below, made by the `*_record` functions here): pickling a NamedTuple calls back into Python for every one of
them, 14 us a request against 2 us for plain tuples. Every other message is rare and goes as its NamedTuple.
The receiving side turns a plain tuple back into a `RequestRecord` with `RequestRecord.unpack`.

No opentelemetry import here: the serving process imports this module on every request path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from gateway.events import Attempt, Exchange
from gateway.providers.base import Facts


class TraceRecord(NamedTuple):
    """The SERVER span's identity. `parent_span_id` is 0 for a root; the client's `tracestate` as sent."""

    trace_id: int
    span_id: int
    parent_span_id: int
    parent_remote: bool
    sampled: bool
    trace_state: str


class HttpRecord(NamedTuple):
    """The HTTP side of a request, for the SERVER span's HTTP semantic-convention attributes."""

    method: str
    route: str | None  # the matched route template, None for a 404
    path: str
    scheme: str
    server_address: str | None
    server_port: int | None
    client_address: str | None
    protocol_version: str | None
    user_agent: str | None
    status: int  # 0 when no response started
    failure: str | None  # the exception's class when the app raised
    failure_message: str | None
    refused: str | None  # why the gateway refused the request itself (Observer.request_refused)


class AttemptRecord(NamedTuple):
    """One upstream attempt (`gateway.events.Attempt` with its facts, minus the streamed text)."""

    span_id: int
    number: int
    route: str
    provider: str
    provider_type: str
    model: str
    server_address: str
    server_port: int
    started: float
    first_chunk_at: float | None
    backoff_s: float
    ended: float | None
    outcome: str
    status: int | None
    error: str | None
    response_id: str | None
    response_model: str | None
    finish_reasons: tuple[str, ...]
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: float | None
    cached_input_tokens: int | None  # of input_tokens, read from the provider's prompt cache
    cache_creation_input_tokens: int | None  # of input_tokens, written to it
    reasoning_output_tokens: int | None  # of output_tokens
    chunks: int  # streams: chunks received

    @property
    def target(self) -> str:
        return f"{self.provider}/{self.model}"


class ExchangeRecord(NamedTuple):
    """The GenAI call a request made (`gateway.events.Exchange`), when the endpoint made one."""

    request_id: str
    operation: str
    route: str
    stream: bool
    key_name: str | None
    cache: str | None
    status: int
    error: str | None
    finished: float | None  # when the answer's last byte was handed over (request_finished)
    parameters: Mapping[str, Any]  # the request parameters the conventions name, see parameters_of()
    attempts: tuple[AttemptRecord, ...]
    link: tuple[int, int] | None  # coalesced: (trace id, span id) of the call it waited for
    content: Mapping[str, Any] | None  # capture_content: the request's messages, tools, prompt
    cost_usd: float | None  # what the upstream calls cost (tokens x price; None: no priced target answered)


class RequestRecord(NamedTuple):
    """One client request. `trace` and `http` are None when tracing is off (metrics only)."""

    started: float
    ended: float
    trace: TraceRecord | None
    http: HttpRecord | None
    exchange: ExchangeRecord | None
    output: tuple[bytes, str] | None  # capture_content: the answer as sent, and its content type

    @classmethod
    def unpack(cls, wire: tuple[Any, ...]) -> RequestRecord:
        started, ended, trace, http, exchange, output = wire
        if exchange is not None:
            attempts = tuple(AttemptRecord._make(a) for a in exchange[10])
            exchange = ExchangeRecord._make((*exchange[:10], attempts, *exchange[11:]))
        return cls(started, ended, None if trace is None else TraceRecord._make(trace),
                   None if http is None else HttpRecord._make(http), exchange, output)


class Cooldown(NamedTuple):
    route: str
    target: str
    seconds: float
    at: float


class Refusal(NamedTuple):
    """A request the gateway refused itself (no key, a model not allowed, a limit, a budget)."""

    reason: str
    key_name: str | None
    route: str | None


class StoreError(NamedTuple):
    """A shared store that failed (Redis down or slow): `feature` is "cache", "limits" or "responses"."""

    feature: str
    backend: str
    error: str


class InFlight(NamedTuple):
    """Upstream requests in flight per target, sent with each batch when they changed."""

    counts: tuple[tuple[str, str, int], ...]  # (target, provider, count)


class Call(NamedTuple):
    """A question to the telemetry process, answered in order after everything sent before it."""

    id: int
    kind: str  # "flush" | "scrape" | "stats" | "stop"
    timeout_s: float


class Reply(NamedTuple):
    id: int
    value: Any


class LogLine(NamedTuple):
    """A log record of the telemetry process, logged again by the serving process's own logging."""

    name: str
    level: int
    message: str


class Start(NamedTuple):
    """The first message: what the telemetry process builds its pipeline from."""

    telemetry: Mapping[str, Any]  # TelemetryConfig.model_dump()
    version: str
    secrets: tuple[str, ...]  # scrubbed from captured content and exception messages
    capture_content: bool


# Request parameters the conventions record (gen_ai.request.*, gen_ai.output.type, embeddings, OpenAI's tier).
PARAMETER_KEYS = frozenset({
    "temperature", "top_p", "top_k", "max_tokens", "max_completion_tokens", "frequency_penalty", "presence_penalty",
    "seed", "stop", "n", "encoding_format", "dimensions", "service_tier", "response_format",
})
CONTENT_KEYS = ("messages", "tools", "prompt")
_NO_FACTS = Facts()  # an attempt that got no answer; never changed


def parameters_of(body: Mapping[str, Any] | None) -> dict[str, Any]:
    """The few body fields telemetry reads (never the messages): the record stays small. A body has a handful
    of keys, so they are what is walked."""
    if not body:
        return {}
    found = {key: value for key, value in body.items() if key in PARAMETER_KEYS}
    response_format = found.get("response_format")
    if response_format is not None:  # its type only, never a schema
        found["response_format"] = {"type": response_format.get("type") if isinstance(response_format, dict) else None}
    return found


def content_of(body: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return {key: body[key] for key in CONTENT_KEYS if key in body} if body else None


def attempt_record(attempt: Attempt) -> tuple[Any, ...]:
    """An `AttemptRecord`, as a plain tuple (written out field by field: the fastest way in CPython 3.11;
    operator.attrgetter with star-unpacking took twice the instructions)."""
    facts = attempt.facts or _NO_FACTS
    return (
        attempt.handle if isinstance(attempt.handle, int) else 0, attempt.number, attempt.route,
        attempt.provider, attempt.provider_type, attempt.model, attempt.server_address, attempt.server_port,
        attempt.started, attempt.first_chunk_at, attempt.backoff_s, attempt.ended, attempt.outcome,
        attempt.status, attempt.error, facts.response_id, facts.response_model, tuple(facts.finish_reasons),
        facts.input_tokens, facts.output_tokens, attempt.cost_usd, facts.cached_input_tokens,
        facts.cache_creation_input_tokens, facts.reasoning_output_tokens, facts.chunks,
    )


def exchange_record(
    exchange: Exchange, finished: float | None, link: tuple[int, int] | None, traced: bool, content: bool
) -> tuple[Any, ...]:
    """An `ExchangeRecord`, as a plain tuple; request parameters (and content) only for a traced request."""
    body = exchange.body
    return (
        exchange.request_id, exchange.operation, exchange.route, exchange.stream, exchange.key_name,
        exchange.cache, exchange.status, exchange.error, finished, parameters_of(body) if traced else {},
        tuple([attempt_record(a) for a in exchange.attempts]), link,
        content_of(body) if traced and content else None, exchange.cost_usd,
    )
