"""OpenTelemetry for the gateway: the only package that imports `opentelemetry`.

The SDK costs more CPU per request than the whole proxy path, so it runs in a process of its own (on another
core), fed one record per request:

    serving process                                  telemetry process (python -m gateway.telemetry.process)
      setup.py     start_telemetry(): the pieces       process.py   reads records, answers calls
      context.py   W3C trace context in and out,       pipeline.py  the SDK's providers, processors, readers
                   span ids, sampling (the SDK's)      spans.py     records -> SERVER and CLIENT spans
      asgi.py      one RequestRecord per request       metrics.py   records -> GenAI and gateway metrics
      observer.py  the request path's Observer         content.py   opt-in prompt/completion capture
      link.py      the socket and the process          exporters.py OTLP exporters, resource, OTEL_* env
      records.py   what crosses between them           export.py    a collector that is down: said once
                                                       console.py   `exporter = "console"`: a line a request
                                                       semconv.py   every name, bucket and instrument
"""

from __future__ import annotations

from gateway.telemetry.asgi import ServerSpanMiddleware
from gateway.telemetry.setup import Telemetry, start_telemetry

__all__ = ["ServerSpanMiddleware", "Telemetry", "start_telemetry"]
