"""OpenTelemetry for the gateway: the only package that imports `opentelemetry`.

    setup.py     providers, exporters and the observer, from [telemetry] and the OTEL_* environment
    semconv.py   every attribute and metric name, the buckets, the SDK instruments (made once)
    observer.py  the request path's Observer -> CLIENT spans per attempt, metrics (cached attribute sets)
    asgi.py      the SERVER span per request (HTTP conventions, W3C trace context in)
    content.py   opt-in prompt/completion capture, capped, through a redaction hook
    export.py    thin wrappers around the SDK's exporters: a collector that is down is logged once and
                 counted, never waited on
    console.py   `exporter = "console"`: one line per request

Everything else is the SDK's own: its metric instruments and readers (periodic OTLP, Prometheus), its
BatchSpanProcessor and the standard OTLPSpanExporter/OTLPMetricExporter (http/protobuf or gRPC).
"""

from __future__ import annotations

from gateway.telemetry.asgi import ServerSpanMiddleware
from gateway.telemetry.setup import Telemetry, start_telemetry

__all__ = ["ServerSpanMiddleware", "Telemetry", "start_telemetry"]
