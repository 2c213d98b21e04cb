"""An in-process OTLP receiver: what a real exporter sent, decoded, for tests to assert on.

``FakeCollector().app`` is a Starlette app taking OTLP/HTTP (``POST /v1/traces``, ``/v1/metrics``,
``/v1/logs``; protobuf, gzip or deflate); serve it with ``tests.support.run_server``. ``serve_grpc()``
serves OTLP/gRPC on a free loopback port into the same store. Decoded data:

- ``spans()``: every span received, flattened (``Span.attributes`` is a plain dict, ids are hex);
- ``metric(name)``: the newest export of that metric (cumulative, so the newest is the whole story);
- ``raw``: every request body after decompression (to look for what must never be exported).

``status`` makes the receiver answer every export with that HTTP status (say 503, a collector in trouble).

Also a standalone receiver for the benchmark (``telemetry on, to a live receiver``):

    python -m tests.fakes.otlp --port 4318      # prints spans/metric points received, every 5 s
"""

from __future__ import annotations

import argparse
import gzip
import threading
import time
import zlib
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan
from opentelemetry.proto.trace.v1.trace_pb2 import Status as PbStatus
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

KINDS = {v: k.removeprefix("SPAN_KIND_") for k, v in PbSpan.SpanKind.items()}
STATUS = {v: k.removeprefix("STATUS_CODE_") for k, v in PbStatus.StatusCode.items()}


def value_of(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [value_of(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return attributes_of(value.kvlist_value.values)
    return getattr(value, kind)


def attributes_of(pairs: Any) -> dict[str, Any]:
    return {kv.key: value_of(kv.value) for kv in pairs if isinstance(kv, KeyValue)}


@dataclass
class Event:
    name: str
    attributes: dict[str, Any]


@dataclass
class Span:
    name: str
    kind: str  # "SERVER", "CLIENT", ...
    trace_id: str
    span_id: str
    parent_span_id: str
    attributes: dict[str, Any]
    events: list[Event]
    status: str  # "UNSET", "OK", "ERROR"
    status_message: str
    start_ns: int
    end_ns: int
    resource: dict[str, Any]
    scope: str
    schema_url: str
    trace_state: str = ""
    links: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)  # (trace id, span id, attributes)

    def event(self, name: str) -> Event:
        found = [e for e in self.events if e.name == name]
        assert found, f"span {self.name!r} has no event {name!r}: {[e.name for e in self.events]}"
        return found[0]


@dataclass
class Point:
    attributes: dict[str, Any]
    value: float | None = None  # sums and gauges
    count: int = 0  # histograms
    sum: float = 0.0
    bounds: list[float] = field(default_factory=list)
    bucket_counts: list[int] = field(default_factory=list)


@dataclass
class Metric:
    name: str
    unit: str
    kind: str  # "histogram", "sum", "gauge"
    monotonic: bool
    points: list[Point]
    scope: str
    schema_url: str
    resource: dict[str, Any]

    def matching(self, **attributes: Any) -> list[Point]:
        """Points whose attributes include these (dots in names written as `__`: gen_ai__token__type)."""
        wanted = {k.replace("__", "."): v for k, v in attributes.items()}
        return [p for p in self.points if all(p.attributes.get(k) == v for k, v in wanted.items())]


class FakeCollector:
    def __init__(self) -> None:
        self.status = 200
        self.raw: list[bytes] = []
        self.headers: list[dict[str, str]] = []
        self._spans: list[Span] = []
        self._metrics: dict[str, Metric] = {}  # the latest export of each metric
        self.metric_history: list[Metric] = []  # every export of every metric, in arrival order
        self._lock = threading.Lock()
        self.app = Starlette(routes=[
            Route("/v1/traces", self._http_traces, methods=["POST"]),
            Route("/v1/metrics", self._http_metrics, methods=["POST"]),
            Route("/v1/logs", self._http_logs, methods=["POST"]),
        ])

    # -- what tests read ---------------------------------------------------------------------------

    def spans(self, kind: str | None = None) -> list[Span]:
        with self._lock:
            return [s for s in self._spans if kind is None or s.kind == kind]

    def metric(self, name: str) -> Metric:
        with self._lock:
            assert name in self._metrics, f"no metric {name!r}; received: {sorted(self._metrics)}"
            return self._metrics[name]

    def metric_names(self) -> set[str]:
        with self._lock:
            return set(self._metrics)

    def reset(self) -> None:
        with self._lock:
            self._spans.clear()
            self._metrics.clear()
            self.metric_history.clear()
            self.raw.clear()
            self.headers.clear()

    def wait_for_spans(self, count: int, kind: str | None = None, timeout: float = 5.0) -> list[Span]:
        deadline = time.monotonic() + timeout
        while len(found := self.spans(kind)) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return found

    # -- decoding ------------------------------------------------------------------------------------

    def add_traces(self, request: trace_service_pb2.ExportTraceServiceRequest) -> None:
        spans = []
        for rs in request.resource_spans:
            resource = attributes_of(rs.resource.attributes)
            for ss in rs.scope_spans:
                for s in ss.spans:
                    spans.append(Span(
                        name=s.name, kind=KINDS.get(s.kind, str(s.kind)), trace_id=s.trace_id.hex(),
                        span_id=s.span_id.hex(), parent_span_id=s.parent_span_id.hex(),
                        attributes=attributes_of(s.attributes),
                        events=[Event(e.name, attributes_of(e.attributes)) for e in s.events],
                        status=STATUS.get(s.status.code, str(s.status.code)), status_message=s.status.message,
                        start_ns=s.start_time_unix_nano, end_ns=s.end_time_unix_nano, resource=resource,
                        scope=ss.scope.name, schema_url=ss.schema_url, trace_state=s.trace_state,
                        links=[(k.trace_id.hex(), k.span_id.hex(), attributes_of(k.attributes)) for k in s.links],
                    ))
        with self._lock:
            self._spans.extend(spans)

    def add_metrics(self, request: metrics_service_pb2.ExportMetricsServiceRequest) -> None:
        found: dict[str, Metric] = {}
        for rm in request.resource_metrics:
            resource = attributes_of(rm.resource.attributes)
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    kind = m.WhichOneof("data") or ""
                    data = getattr(m, kind)
                    points = []
                    for p in data.data_points:
                        point = Point(attributes_of(p.attributes))
                        if kind == "histogram":
                            point.count, point.sum = p.count, p.sum
                            point.bounds, point.bucket_counts = list(p.explicit_bounds), list(p.bucket_counts)
                        else:
                            point.value = p.as_double if p.WhichOneof("value") == "as_double" else p.as_int
                        points.append(point)
                    found[m.name] = Metric(m.name, m.unit, kind, bool(getattr(data, "is_monotonic", False)), points,
                                           sm.scope.name, sm.schema_url, resource)
        with self._lock:
            self._metrics.update(found)
            self.metric_history.extend(found.values())

    # -- OTLP/HTTP -----------------------------------------------------------------------------------

    async def _body(self, request: Request) -> bytes:
        body = await request.body()
        encoding = request.headers.get("content-encoding", "")
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        with self._lock:
            self.raw.append(body)
            self.headers.append(dict(request.headers))
        return body

    async def _http_traces(self, request: Request) -> Response:
        body = await self._body(request)
        if self.status != 200:
            return Response(status_code=self.status)
        self.add_traces(trace_service_pb2.ExportTraceServiceRequest.FromString(body))
        return _protobuf(trace_service_pb2.ExportTraceServiceResponse())

    async def _http_metrics(self, request: Request) -> Response:
        body = await self._body(request)
        if self.status != 200:
            return Response(status_code=self.status)
        self.add_metrics(metrics_service_pb2.ExportMetricsServiceRequest.FromString(body))
        return _protobuf(metrics_service_pb2.ExportMetricsServiceResponse())

    async def _http_logs(self, request: Request) -> Response:
        await self._body(request)
        return Response(b"", media_type="application/x-protobuf")

    # -- OTLP/gRPC -----------------------------------------------------------------------------------

    @contextmanager
    def serve_grpc(self) -> Iterator[int]:
        """OTLP/gRPC on 127.0.0.1 and a free port (yielded), into the same store."""
        import grpc

        collector = self

        class Traces(trace_service_pb2_grpc.TraceServiceServicer):
            def Export(self, request: Any, context: Any) -> Any:  # noqa: N802 (the gRPC method's name)
                collector.raw.append(request.SerializeToString())
                collector.add_traces(request)
                return trace_service_pb2.ExportTraceServiceResponse()

        class Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):
            def Export(self, request: Any, context: Any) -> Any:  # noqa: N802
                collector.raw.append(request.SerializeToString())
                collector.add_metrics(request)
                return metrics_service_pb2.ExportMetricsServiceResponse()

        server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Traces(), server)
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(Metrics(), server)
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        try:
            yield port
        finally:
            server.stop(grace=None)


def _protobuf(message: Any) -> Response:
    return Response(message.SerializeToString(), media_type="application/x-protobuf")


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description="A minimal OTLP/HTTP receiver that counts what it gets.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4318)
    args = parser.parse_args(argv)
    collector = FakeCollector()

    def report() -> None:
        while True:
            time.sleep(5)
            points = sum(len(m.points) for m in collector._metrics.values())
            print(f"otlp receiver: {len(collector.spans())} spans, {points} metric points "
                  f"(latest), {len(collector.raw)} exports", flush=True)
            collector._spans.clear()  # keep memory flat under load; the count is per interval

    threading.Thread(target=report, daemon=True).start()
    uvicorn.run(collector.app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
