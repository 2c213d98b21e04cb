"""Telemetry for one app, from `[telemetry]` and the OTEL_* environment (serving process).

    telemetry = start_telemetry(config, version)        # None when telemetry is off: no wrappers at all
    telemetry.observer                                  # for the dispatcher and endpoints
    ServerSpanMiddleware(app, telemetry.server_spans)   # when telemetry.server_spans is not None (tracing)
    await telemetry.shutdown()                          # flushes; bounded, even with the collector down

It starts the app's telemetry process (link.py), which runs the OpenTelemetry SDK: what the request path
does is make ids and trace headers and hand over one record per request. Nothing is installed as the
process-wide OpenTelemetry globals: tests run several gateways in one process, and a reload may build another.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Mapping
from contextvars import ContextVar

from starlette.requests import Request
from starlette.responses import Response

from gateway.config import ConfigError, GatewayConfig
from gateway.telemetry import workers
from gateway.telemetry.asgi import ServerSpans
from gateway.telemetry.content import capture_enabled, load_redactor
from gateway.telemetry.context import RequestState, TraceContext, make_sampler
from gateway.telemetry.link import TelemetryLink, TelemetryUnavailableError
from gateway.telemetry.observer import TelemetryObserver
from gateway.telemetry.records import Start

SHUTDOWN_TIMEOUT_S = 5.0


class Telemetry:
    """Everything telemetry built for one app; `app.py` wires it in."""

    def __init__(
        self, link: TelemetryLink, observer: TelemetryObserver, server_spans: ServerSpans | None, prometheus: bool
    ) -> None:
        self.link = link
        self.observer = observer
        self.server_spans = server_spans
        self.prometheus = prometheus  # serve GET /metrics
        # --workers N: every worker's metrics in one scrape (gateway/telemetry/workers.py)
        self.workers_dir = os.environ.get(workers.DIR_ENV) if prometheus else None
        self.publisher = workers.Publisher(self.workers_dir, self._scrape) if self.workers_dir else None

    def _scrape(self) -> bytes | None:
        answer = self.link.call("scrape", 5)
        return None if answer is None else bytes(answer[1])

    @property
    def metrics(self) -> bool:
        return self.observer.metrics

    @property
    def dropped(self) -> int:
        """Records, spans and metric points that could not be delivered (collector down, queues full)."""
        try:
            exported = self.link.call("stats", 5)
        except (TelemetryUnavailableError, TimeoutError):
            exported = {"dropped": 0}
        return self.link.dropped + int(exported["dropped"])

    async def metrics_endpoint(self, request: Request) -> Response:
        try:
            answer = await self.link.acall("scrape", 10)
        except (TelemetryUnavailableError, TimeoutError):
            answer = None
        if answer is None:
            return Response("telemetry is restarting; scrape again shortly\n", status_code=503)
        content_type, body = answer
        if self.workers_dir:
            body = await asyncio.to_thread(workers.merged, body, self.workers_dir)
        return Response(body, media_type=content_type)

    def force_flush(self, timeout_s: float = 10.0) -> bool:
        """Export everything answered so far (blocking; for tests and the benchmark). A request's record is
        made just after its last byte went out, so this first waits (a little) for those to be made."""
        deadline = time.monotonic() + min(timeout_s, 2.0)
        while self.server_spans is not None and self.server_spans.active and time.monotonic() < deadline:
            time.sleep(0.005)
        return bool(self.link.call("flush", timeout_s))

    async def shutdown(self, timeout_s: float = SHUTDOWN_TIMEOUT_S) -> None:
        """Flush and stop the telemetry process, off the event loop; bounded even with the collector down."""
        await asyncio.to_thread(self.close, timeout_s)

    def close(self, timeout_s: float = SHUTDOWN_TIMEOUT_S) -> None:
        if self.publisher is not None:
            self.publisher.stop()
        self.link.close(timeout_s)


def start_telemetry(
    config: GatewayConfig, version: str, env: Mapping[str, str] | None = None
) -> Telemetry | None:
    """Telemetry for `config`, or None when `[telemetry]` turns it off (exporter "none", no Prometheus)."""
    tc = config.telemetry
    if tc.exporter == "none" and not tc.prometheus:
        return None
    if tc.redact:
        try:
            load_redactor(tc.redact)  # here, so that a bad hook is a config error and not a log line
        except ValueError as exc:
            raise ConfigError(config.source or "<config>", [f"telemetry.redact: {exc}"]) from None
    environment = os.environ if env is None else env
    tracing = tc.exporter != "none"
    metrics = (tc.exporter == "otlp" and tc.otlp_metrics) or tc.prometheus
    capture = tracing and capture_enabled(tc.capture_content, environment)
    link = TelemetryLink(Start(tc.model_dump(), version, tuple(config.secrets()), capture), env)
    current: ContextVar[RequestState | None] = ContextVar("gateway_telemetry_request", default=None)
    context = None
    if tracing:
        sampler = make_sampler(bool(environment.get("OTEL_TRACES_SAMPLER")), tc.trace_sample_ratio)
        context = TraceContext(sampler, tc.propagate_baggage)
    observer = TelemetryObserver(link, current, context, metrics=metrics, capture_content=capture)
    server_spans = None if context is None else ServerSpans(context, observer, link, current, capture)
    return Telemetry(link, observer, server_spans, tc.prometheus)
