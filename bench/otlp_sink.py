"""A live OTLP/HTTP receiver for the benchmark's `gateway-otel` row: decodes every export and counts it.

    python bench/otlp_sink.py --port 4318

`POST /v1/traces` and `/v1/metrics` take protobuf (gzip too), are parsed with opentelemetry-proto and
answered like a collector would; `GET /stats` returns what arrived so far as JSON (spans by kind, metric
points, exports, bytes). It decodes but keeps nothing else, so it stays light on the load generator's core.
Runs on the project's virtualenv (starlette, uvicorn and opentelemetry-proto come with the gateway).
"""

from __future__ import annotations

import argparse
import gzip
from collections import Counter

import uvicorn
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

KINDS = {v: k.removeprefix("SPAN_KIND_") for k, v in Span.SpanKind.items()}


class Sink:
    def __init__(self) -> None:
        self.spans: Counter[str] = Counter()
        self.metric_points = 0
        self.exports: Counter[str] = Counter()
        self.bytes = 0

    async def body(self, request: Request) -> bytes:
        body = await request.body()
        self.bytes += len(body)
        return gzip.decompress(body) if request.headers.get("content-encoding") == "gzip" else body

    async def traces(self, request: Request) -> Response:
        message = trace_service_pb2.ExportTraceServiceRequest.FromString(await self.body(request))
        for resource in message.resource_spans:
            for scope in resource.scope_spans:
                for span in scope.spans:
                    self.spans[KINDS.get(span.kind, str(span.kind))] += 1
        self.exports["traces"] += 1
        return Response(trace_service_pb2.ExportTraceServiceResponse().SerializeToString(),
                        media_type="application/x-protobuf")

    async def metrics(self, request: Request) -> Response:
        message = metrics_service_pb2.ExportMetricsServiceRequest.FromString(await self.body(request))
        for resource in message.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    kind = metric.WhichOneof("data")
                    if kind is not None:
                        self.metric_points += len(getattr(metric, kind).data_points)
        self.exports["metrics"] += 1
        return Response(metrics_service_pb2.ExportMetricsServiceResponse().SerializeToString(),
                        media_type="application/x-protobuf")

    async def stats(self, request: Request) -> Response:
        return JSONResponse({"spans": dict(self.spans), "metric_points": self.metric_points,
                             "exports": dict(self.exports), "bytes": self.bytes})

    async def healthz(self, request: Request) -> Response:
        return Response("ok")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4318)
    args = parser.parse_args()
    sink = Sink()
    app = Starlette(routes=[
        Route("/v1/traces", sink.traces, methods=["POST"]),
        Route("/v1/metrics", sink.metrics, methods=["POST"]),
        Route("/stats", sink.stats, methods=["GET"]),
        Route("/healthz", sink.healthz, methods=["GET"]),
    ])
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
