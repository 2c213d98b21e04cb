"""OpenTelemetry for the gateway: the only package that imports `opentelemetry`.

    setup.py     providers, exporters and the observer, from [telemetry] and the OTEL_* environment
    semconv.py   every attribute and metric name, the buckets, the instruments (made once)
    observer.py  the request path's Observer -> CLIENT spans per attempt, metrics
    asgi.py      the SERVER span per request (HTTP conventions, W3C trace context in)
    content.py   opt-in prompt/completion capture, capped, through a redaction hook
    export.py    exporter wrappers: a collector that is down is logged once and counted, never waited on
    tally.py     cheap counters and histograms for the request path, handed to the SDK's readers
    protobuf.py  OTLP span encoding, a few times cheaper than the SDK's (checked against it in tests)
    console.py   `exporter = "console"`: one line per request
"""

from __future__ import annotations

from gateway.telemetry.asgi import ServerSpanMiddleware
from gateway.telemetry.setup import Telemetry, start_telemetry

__all__ = ["ServerSpanMiddleware", "Telemetry", "start_telemetry"]
