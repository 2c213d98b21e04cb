"""OpenTelemetry for the gateway: the only package that imports `opentelemetry`.

    setup.py      start_telemetry(): providers, processors, readers, from [telemetry] and OTEL_*
    context.py    trace context in (the client's) and out (each attempt's), by the global propagator
    spans.py      the SERVER span's middleware; SERVER and CLIENT span attributes and events
    observer.py   the request path's Observer: attempt spans, metric points when a request finished
    metrics.py    GenAI and gateway metrics on the SDK's instruments
    semconv.py    every name, bucket and instrument
    content.py    opt-in prompt/completion capture
    exporters.py  OTLP exporters and resource from [telemetry] and the OTEL_* environment
    export.py     a collector that is down: counted, and said once
    console.py    `exporter = "console"`: a line a request
    workers.py    `--workers N`: one /metrics for all workers
"""

from __future__ import annotations

from gateway.telemetry.setup import Telemetry, start_telemetry
from gateway.telemetry.spans import ServerSpanMiddleware

__all__ = ["ServerSpanMiddleware", "Telemetry", "start_telemetry"]
