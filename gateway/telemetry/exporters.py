"""Exporters and resource from `[telemetry]` and the standard OTEL_* environment variables, which win over the
TOML as operators expect (`OTEL_EXPORTER_OTLP_[TRACES_|METRICS_]ENDPOINT`, `_PROTOCOL`, `_HEADERS`, `_TIMEOUT`,
`_COMPRESSION`, `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_BSP_*`); and a collector that is down
costs requests nothing and is said once.

The exporting is the libraries': fastotel's OTLP/HTTP span processor (the SDK exporter's encoding and
behaviour in Rust, off the GIL), or the SDK's `BatchSpanProcessor` with its OTLP exporter (gRPC, or
`span_exporter = "sdk"`), and the SDK's OTLP metric exporter. What they do not do is say the right amount: the
SDK logs every failed batch and retry (those loggers are turned down), fastotel logs nothing. `ExportHealth`
counts what could not be delivered and logs the first failure of an outage and its end. fastotel exposes no
delivery results: with it an outage is told by the metrics' exporter (same collector), spans are not counted.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData
from opentelemetry.sdk.resources import OTELResourceDetector, Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.util.re import parse_env_headers

from gateway.config import TelemetryConfig

log = logging.getLogger("gateway.telemetry")
R = TypeVar("R")
NOISY_LOGGERS = ("opentelemetry.exporter.otlp.proto.http", "opentelemetry.exporter.otlp.proto.grpc",
                 "opentelemetry.exporter.otlp.common", "opentelemetry.sdk._shared_internal")
# Span batches (OTEL_BSP_* override them): two spans a request, so the queue holds seconds of a busy gateway
# while a slow collector holds up an export (the SDK's 2048 is one second at 1,000 requests/s).
BSP_SIZES = {"max_queue_size": 8192, "max_export_batch_size": 512}


class ExportHealth:
    """Whether a signal's exporter gets through, and how much it dropped. Thread-safe."""

    def __init__(self, signal: str, destination: str) -> None:
        self.signal, self.destination = signal, destination
        self.dropped = self.exported = 0
        self.failing = False
        self._lock = threading.Lock()

    def watch(self, count: int, export: Callable[..., R], *args: Any, **kwargs: Any) -> R | None:
        """One export of `count` items: its result (None when it raised), noted."""
        try:
            result = export(*args, **kwargs)
        except Exception as exc:
            self.failed(count, type(exc).__name__)
            return None
        if getattr(result, "name", "") == "SUCCESS":  # both SDK result enums
            self.succeeded(count)
        else:
            self.failed(count)
        return result

    def succeeded(self, count: int) -> None:
        with self._lock:
            self.exported += count
            if not self.failing:
                return
            self.failing = False
        log.info("telemetry: %s export to %s works again (%d items dropped so far)", self.signal,
                 self.destination, self.dropped)

    def failed(self, count: int, reason: str = "") -> None:
        with self._lock:
            self.dropped += count
            if self.failing:
                return
            self.failing = True
        log.warning("telemetry: cannot export %s to %s%s; requests are not affected, the data is dropped and "
                    "counted (logged once until it works again)", self.signal, self.destination,
                    f" ({reason})" if reason else "")


class GuardedSpanExporter(SpanExporter):
    def __init__(self, inner: SpanExporter, health: ExportHealth) -> None:
        self.inner, self.health = inner, health

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self.health.watch(len(spans), self.inner.export, spans) or SpanExportResult.FAILURE

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


def make_resource(tc: TelemetryConfig, version: str) -> Resource:
    """service.name and friends from the config; OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME over them. The
    SDK gives each process its own `service.instance.id` (--workers processes apart)."""
    own = Resource.create({"service.name": tc.service_name, "service.version": version, **tc.resource_attributes})
    return own.merge(OTELResourceDetector().detect())


def _env(env: Mapping[str, str], signal: str, name: str) -> str | None:
    """OTEL_EXPORTER_OTLP_{SIGNAL}_{NAME}, else OTEL_EXPORTER_OTLP_{NAME}."""
    return env.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_{name}") or env.get(f"OTEL_EXPORTER_OTLP_{name}") or None


def otlp_protocol(tc: TelemetryConfig, env: Mapping[str, str], signal: str) -> str:
    protocol = _env(env, signal, "PROTOCOL") or tc.otlp_protocol
    if protocol not in ("http/protobuf", "grpc"):
        log.warning("telemetry: OTLP protocol %r is not supported; using %s", protocol, tc.otlp_protocol)
        protocol = tc.otlp_protocol
    return protocol


def otlp_destination(tc: TelemetryConfig, env: Mapping[str, str], signal: str) -> str:
    """The endpoint as the exporter takes it: http/protobuf wants the full `/v1/{signal}` URL."""
    specific = env.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT")
    if specific:
        return specific
    base = env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or tc.otlp_endpoint
    return base if otlp_protocol(tc, env, signal) == "grpc" else base.rstrip("/") + f"/v1/{signal}"


def _options(tc: TelemetryConfig, env: Mapping[str, str], signal: str) -> dict[str, Any]:
    headers = dict(tc.otlp_headers)
    for name in ("OTEL_EXPORTER_OTLP_HEADERS", f"OTEL_EXPORTER_OTLP_{signal.upper()}_HEADERS"):
        if env.get(name):
            headers.update(parse_env_headers(env[name], liberal=True))
    # None lets the SDK read the environment variable (it knows its units and spellings)
    return {"endpoint": otlp_destination(tc, env, signal), "headers": headers,
            "timeout": None if _env(env, signal, "TIMEOUT") else tc.otlp_timeout_s}


def _gzip(tc: TelemetryConfig, env: Mapping[str, str], signal: str) -> bool:
    return tc.otlp_compression == "gzip" and not _env(env, signal, "COMPRESSION")


def batch_options(env: Mapping[str, str]) -> dict[str, Any]:
    """Our batch sizes, unless an OTEL_BSP_* size is set: then the SDK reads both (ours could contradict it)."""
    return {} if env.get("OTEL_BSP_MAX_QUEUE_SIZE") or env.get("OTEL_BSP_MAX_EXPORT_BATCH_SIZE") else dict(BSP_SIZES)


def span_processor(tc: TelemetryConfig, env: Mapping[str, str], health: ExportHealth) -> SpanProcessor:
    """fastotel's for OTLP/HTTP when `span_exporter = "fastotel"` (the default) and it imports; else the SDK's
    `BatchSpanProcessor` with its OTLP exporter (http/protobuf or gRPC)."""
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    options, gzip, grpc = _options(tc, env, "traces"), _gzip(tc, env, "traces"), otlp_protocol(tc, env, "traces")
    if tc.span_exporter == "fastotel" and grpc != "grpc":
        try:
            from fastotel import OTLPSpanProcessor
        except ImportError:
            log.warning("telemetry: fastotel is not available here; spans go through the SDK's OTLP exporter")
        else:
            sizes = batch_options(env)
            processor: SpanProcessor = OTLPSpanProcessor(
                **options, compression="gzip" if gzip else None, export_timeout_millis=5000,
                max_queue_size=sizes.get("max_queue_size"), max_export_batch_size=sizes.get("max_export_batch_size"))
            return processor
    exporter: SpanExporter
    if grpc == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter

        exporter = GrpcSpanExporter(compression=_grpc_compression(gzip), **options)
    else:
        from opentelemetry.exporter.otlp.proto.http import Compression
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(compression=Compression.Gzip if gzip else None, **options)
    return BatchSpanProcessor(GuardedSpanExporter(exporter, health), **batch_options(env))


def metric_exporter(tc: TelemetryConfig, env: Mapping[str, str], health: ExportHealth) -> MetricExporter:
    """The SDK's OTLP metric exporter, its results told to `health`: a subclass, so that the temporality and
    aggregation it takes from the environment stay its own."""
    options, gzip = _options(tc, env, "metrics"), _gzip(tc, env, "metrics")

    def export(data: MetricsData, send: Callable[..., MetricExportResult], *args: Any) -> MetricExportResult:
        points = sum(len(m.data.data_points) for r in data.resource_metrics for s in r.scope_metrics
                     for m in s.metrics)
        return health.watch(points, send, data, *args) or MetricExportResult.FAILURE

    if otlp_protocol(tc, env, "metrics") == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as Grpc

        class GuardedGrpc(Grpc):
            def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000,
                       **kwargs: Any) -> MetricExportResult:
                return export(metrics_data, super().export, timeout_millis)

        return GuardedGrpc(compression=_grpc_compression(gzip), **options)
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

    class GuardedHttp(OTLPMetricExporter):
        def export(self, metrics_data: MetricsData, timeout_millis: float | None = None,
                   **kwargs: Any) -> MetricExportResult:
            return export(metrics_data, super().export, timeout_millis)

    return GuardedHttp(compression=Compression.Gzip if gzip else None, **options)


def _grpc_compression(gzip: bool) -> Any:
    if not gzip:
        return None
    import grpc  # type: ignore[import-untyped]

    return grpc.Compression.Gzip
