"""OpenTelemetry SDK exporters and resource, from `[telemetry]` and the standard OTEL_* environment variables.
Environment variables win over the TOML for the OTLP settings, as operators expect:
`OTEL_EXPORTER_OTLP_[TRACES_|METRICS_]ENDPOINT`, `_PROTOCOL`, `_HEADERS`, `_TIMEOUT`, `_COMPRESSION`,
`OTEL_METRIC_EXPORT_INTERVAL`, `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_BSP_*`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.util.re import parse_env_headers

from gateway.config import TelemetryConfig
from gateway.telemetry.export import ExportHealth, count_points

log = logging.getLogger("gateway.telemetry")

# The SDK logs every failed batch and every retry; ExportHealth says it once per outage instead.
NOISY_LOGGERS = (
    "opentelemetry.exporter.otlp.proto.http",
    "opentelemetry.exporter.otlp.proto.grpc",
    "opentelemetry.exporter.otlp.common",
    "opentelemetry.sdk._shared_internal",
)
# The BatchSpanProcessor's sizes (OTEL_BSP_* override them; the schedule stays the SDK's 5 s). Two spans a
# request: the queue holds several seconds of a busy gateway while a slow collector holds up an export
# (the SDK's 2048 would be one second at 1,000 requests/s), and a batch is sent as soon as it is full
# (the SDK wakes its worker at max_export_batch_size), not only on the schedule.
BSP_MAX_QUEUE_SIZE = 8192
BSP_MAX_EXPORT_BATCH_SIZE = 512


def make_resource(tc: TelemetryConfig, version: str, env: Mapping[str, str]) -> Resource:
    """service.name and friends: the config, then OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME over it."""
    attributes: dict[str, str] = {
        "service.name": tc.service_name,
        "service.version": version,
        "service.instance.id": uuid.uuid4().hex,  # tells --workers processes apart
        **tc.resource_attributes,
    }
    for item in env.get("OTEL_RESOURCE_ATTRIBUTES", "").split(","):
        key, sep, value = item.partition("=")
        if sep and key.strip():
            attributes[key.strip()] = unquote(value.strip())
    if env.get("OTEL_SERVICE_NAME"):
        attributes["service.name"] = env["OTEL_SERVICE_NAME"]
    return Resource.create(attributes)


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
    if otlp_protocol(tc, env, signal) == "grpc":
        return base
    return base.rstrip("/") + f"/v1/{signal}"


def otlp_headers(tc: TelemetryConfig, env: Mapping[str, str], signal: str) -> dict[str, str]:
    headers = dict(tc.otlp_headers)
    for name in ("OTEL_EXPORTER_OTLP_HEADERS", f"OTEL_EXPORTER_OTLP_{signal.upper()}_HEADERS"):
        if env.get(name):
            headers.update(parse_env_headers(env[name], liberal=True))
    return headers


def _exporter_options(tc: TelemetryConfig, env: Mapping[str, str], signal: str) -> dict[str, Any]:
    # None lets the SDK read the environment variable (it knows its units and spellings).
    return {
        "endpoint": otlp_destination(tc, env, signal),
        "headers": otlp_headers(tc, env, signal),
        "timeout": None if _env(env, signal, "TIMEOUT") else tc.otlp_timeout_s,
    }


def batch_options(env: Mapping[str, str]) -> dict[str, Any]:
    """BatchSpanProcessor sizes: ours, unless an OTEL_BSP_* size is set; then the SDK reads both (ours
    could contradict it: the batch may not exceed the queue)."""
    if env.get("OTEL_BSP_MAX_QUEUE_SIZE") or env.get("OTEL_BSP_MAX_EXPORT_BATCH_SIZE"):
        return {}
    return {"max_queue_size": BSP_MAX_QUEUE_SIZE, "max_export_batch_size": BSP_MAX_EXPORT_BATCH_SIZE}


def span_exporter(tc: TelemetryConfig, env: Mapping[str, str]) -> SpanExporter:
    """The SDK's own OTLP span exporter, http/protobuf or gRPC."""
    options = _exporter_options(tc, env, "traces")
    gzip = tc.otlp_compression == "gzip" and not _env(env, "traces", "COMPRESSION")
    if otlp_protocol(tc, env, "traces") == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter

        return GrpcSpanExporter(compression=_grpc_compression(gzip), **options)
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(compression=Compression.Gzip if gzip else None, **options)


def native_span_processor(tc: TelemetryConfig, env: Mapping[str, str]) -> SpanProcessor | None:
    """fastotel's OTLP/HTTP span processor when `span_exporter = "fastotel"` (the default) and the protocol is
    http/protobuf; None for the SDK's exporter (gRPC, `"sdk"`, or fastotel not importable on this platform)."""
    if tc.span_exporter != "fastotel" or otlp_protocol(tc, env, "traces") != "http/protobuf":
        return None
    try:
        from fastotel import OTLPSpanProcessor
    except ImportError:
        log.warning("telemetry: fastotel is not available here; spans go through the SDK's OTLP exporter")
        return None
    options = _exporter_options(tc, env, "traces")
    gzip = tc.otlp_compression == "gzip" and not _env(env, "traces", "COMPRESSION")
    sizes = batch_options(env)
    processor: SpanProcessor = OTLPSpanProcessor(
        endpoint=options["endpoint"], headers=options["headers"], timeout=options["timeout"],
        compression="gzip" if gzip else None, export_timeout_millis=5000,
        max_queue_size=sizes.get("max_queue_size"), max_export_batch_size=sizes.get("max_export_batch_size"),
    )
    return processor


def metric_exporter(tc: TelemetryConfig, env: Mapping[str, str], health: ExportHealth) -> MetricExporter:
    """The SDK's OTLP metric exporter (http/protobuf or gRPC), its results told to `health`: a subclass, so
    that the temporality and aggregation it takes from the environment stay its own."""
    options = _exporter_options(tc, env, "metrics")
    gzip = tc.otlp_compression == "gzip" and not _env(env, "metrics", "COMPRESSION")
    if otlp_protocol(tc, env, "metrics") == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetricExporter

        class GuardedGrpc(GrpcMetricExporter):
            def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000,
                       **kwargs: Any) -> MetricExportResult:
                try:
                    return health.watch(count_points(metrics_data), super().export, metrics_data, timeout_millis,
                                        **kwargs)
                except Exception:
                    return MetricExportResult.FAILURE

        return GuardedGrpc(compression=_grpc_compression(gzip), **options)
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

    class GuardedHttp(OTLPMetricExporter):
        def export(self, metrics_data: MetricsData, timeout_millis: float | None = None,
                   **kwargs: Any) -> MetricExportResult:
            try:
                return health.watch(count_points(metrics_data), super().export, metrics_data, timeout_millis,
                                    **kwargs)
            except Exception:
                return MetricExportResult.FAILURE

    return GuardedHttp(compression=Compression.Gzip if gzip else None, **options)


def _grpc_compression(gzip: bool) -> Any:
    if not gzip:
        return None
    import grpc  # type: ignore[import-untyped]

    return grpc.Compression.Gzip
