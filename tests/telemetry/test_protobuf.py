"""The gateway's own OTLP span encoder parses to exactly what the SDK's encoder makes."""

from __future__ import annotations

from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    set_span_in_context,
)
from opentelemetry.trace.span import TraceState

from gateway.telemetry.protobuf import SpanEncoder

REMOTE = SpanContext(0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331, True, TraceFlags(1),
                     TraceState([("vendor", "abc")]))
ATTRIBUTES = {
    "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini ünïcode ✓", "gen_ai.request.seed": -7,
    "server.port": 443, "big": 2**62, "gen_ai.request.temperature": 0.25, "gen_ai.request.stream": True,
    "flag": False, "gen_ai.response.finish_reasons": ["stop", "length"], "ints": [1, 2, 3], "floats": [0.5],
    "bools": [True], "error.type": "429", "empty": "",
}


def spans() -> list[ReadableSpan]:
    provider = TracerProvider(resource=Resource.create({"service.name": "gw", "n": 3, "list": ["a", "b"]}))
    tracers = [provider.get_tracer("gateway", "1.0", schema_url="https://opentelemetry.io/schemas/1.41.0"),
               provider.get_tracer("other")]
    made = []
    for i in range(12):
        parent = set_span_in_context(NonRecordingSpan(REMOTE), Context()) if i % 2 else Context()
        kind = [SpanKind.SERVER, SpanKind.CLIENT, SpanKind.INTERNAL][i % 3]
        links = [Link(REMOTE, {"k": "v"})] if i % 5 == 0 else ()
        span = tracers[i % 2].start_span(f"chat m{i % 3}", parent, kind, {**ATTRIBUTES, "i": i}, links=links)
        # An event whose attributes repeat the span's: the encoder's cache must not mix their field numbers.
        span.add_event("gateway.failover", {"error.type": "429", "gateway.from_target": "a/b"})
        span.add_event("gen_ai.first_chunk", {"gen_ai.response.time_to_first_chunk": 0.125})
        if i % 4 == 0:
            span.set_status(Status(StatusCode.ERROR, "upstream answered HTTP 429"))
        elif i % 4 == 1:
            span.set_status(Status(StatusCode.OK))
        span.end()
        made.append(span)
    return made


def test_encoding_matches_the_sdk() -> None:
    batch = spans()
    encoder = SpanEncoder()
    for _ in range(3):  # again and again: the second and third runs come from the encoder's caches
        ours = ExportTraceServiceRequest.FromString(encoder.encode(batch))
        assert ours == encode_spans(batch)
    assert len(ours.resource_spans[0].scope_spans) == 2


def test_an_empty_batch() -> None:
    assert SpanEncoder().encode([]) == b""
