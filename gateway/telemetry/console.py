"""`exporter = "console"`: one compact, human-readable line per request, for local use.

    12:03:04.512 POST /v1/chat/completions gpt-4o-mini -> demo-mock/mock-gpt-4o-mini 200 412ms
        ttft=21ms tokens=12/34 cost=$0.000022 key=team-a cache=miss attempts=1 stream req=7f3a...

    (tokens are input/output; the route, then the target that answered; failovers and errors follow)

(one line; wrapped here). It is a span exporter over the SERVER spans, so the printing happens on the
batch processor's thread, never on the request path; CLIENT spans are only used for the failover trail.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import IO, Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind

from gateway.telemetry import semconv as sc


class ConsoleLineExporter(SpanExporter):
    def __init__(self, stream: Callable[[], IO[str]] | None = None) -> None:
        self.stream = stream or (lambda: sys.stdout)  # looked up at each write: follows redirection
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = [format_line(span) for span in spans if span.kind is SpanKind.SERVER]
        if lines:
            with self._lock:
                out = self.stream()
                out.write("".join(line + "\n" for line in lines))
                out.flush()
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def format_line(span: ReadableSpan) -> str:
    a: Any = span.attributes or {}
    start, end = span.start_time or 0, span.end_time or 0
    clock = time.strftime("%H:%M:%S", time.localtime(start / 1e9)) + f".{(start // 1_000_000) % 1000:03d}"
    parts = [clock, f"{a[sc.HTTP_METHOD]} {a[sc.URL_PATH]}" if sc.URL_PATH in a and sc.HTTP_METHOD in a else span.name]
    if sc.ROUTE in a:
        where = a[sc.ROUTE] + (f" -> {a[sc.TARGET]}" if sc.TARGET in a else "")
        parts.append(where)
    parts.append(str(a.get(sc.HTTP_STATUS, "-")))
    parts.append(_ms((end - start) / 1e9))
    if sc.TIME_TO_FIRST_CHUNK in a:
        parts.append(f"ttft={_ms(a[sc.TIME_TO_FIRST_CHUNK])}")
    if sc.TOTAL_OUTPUT_TOKENS in a:
        parts.append(f"tokens={a.get(sc.TOTAL_INPUT_TOKENS, '?')}/{a[sc.TOTAL_OUTPUT_TOKENS]}")
    elif sc.TOTAL_INPUT_TOKENS in a:  # embeddings: input only
        parts.append(f"tokens={a[sc.TOTAL_INPUT_TOKENS]}")
    if sc.COST in a:
        parts.append(f"cost=${a[sc.COST]:.6f}")
    if sc.KEY_NAME in a:
        parts.append(f"key={a[sc.KEY_NAME]}")
    if sc.REFUSED in a:
        parts.append(f"refused={a[sc.REFUSED]}")
    if sc.CACHE_RESULT in a:
        parts.append(f"cache={a[sc.CACHE_RESULT]}")
    if sc.ATTEMPTS in a:
        parts.append(f"attempts={a[sc.ATTEMPTS]}")
    failovers = [e for e in span.events if e.name == sc.FAILOVER_EVENT]
    for event in failovers:
        ea: Any = event.attributes or {}
        parts.append(f"failover({ea.get(sc.FROM_TARGET)}: {ea.get(sc.ERROR_TYPE)})")
    if a.get(sc.REQUEST_STREAM):
        parts.append("stream")
    if sc.ERROR_TYPE in a:
        parts.append(f"error={a[sc.ERROR_TYPE]}")
    if sc.REQUEST_ID in a:
        parts.append(f"req={a[sc.REQUEST_ID]}")
    return " ".join(parts)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}ms" if seconds < 10 else f"{seconds:.1f}s"
