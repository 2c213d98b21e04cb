"""The live page's HTTP side: the page's files at `/ui`, its JSON under `/admin/ui/` (admin key).

    GET /ui                            the page (static: no data, no secret; it asks for the admin key)
    GET /ui/static/<file>              its script, style sheet and the vendored chart library
    GET /admin/ui/summary              worker, last minute per series, targets' state, refusals, cache
    GET /admin/ui/series?since=EPOCH   chart points per bucket and series, from `since` on
    GET /admin/ui/requests?after=SEQ   the last requests (newest first), those after `after` only
    GET /admin/ui/requests/<id>        one request with its attempt timeline and trace id
    GET /admin/ui/config               the running config, every secret redacted
    GET /admin/usage                   (endpoints.py) the keys' spend against their budgets

The JSON endpoints check the admin key like every admin endpoint (`Authorization: Bearer` or `x-api-key`;
loopback only when no `[admin] key` is set) and scrub every configured secret from their bytes.

With `--workers N` each worker process keeps its own figures, and the page shows the worker that answers
its requests (a browser keeps its connection, so that is one worker until the connection closes); it says
which (pid) and that there are N. Spend and budgets are every worker's (they share the limits' store).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from importlib import resources
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.config import UiConfig
from gateway.endpoints import Gateway, _admin_denied  # the admin endpoints' own key check
from gateway.ui import views
from gateway.ui.aggregates import Window
from gateway.ui.recorder import Recorder

STATIC = {  # the page's files: nothing else is served from the package
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
    "uPlot.iife.min.js": "text/javascript; charset=utf-8",
    "uPlot.min.css": "text/css; charset=utf-8",
}
# The page runs only its own files and talks only to this gateway (no CDN, nothing inline).
PAGE_HEADERS = {
    "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cache-control": "no-cache",
}
JSON_HEADERS = {"cache-control": "no-store", "x-content-type-options": "nosniff"}


class LivePage:
    """The recorder (an Observer for app.py's chain) and the endpoints that show what it recorded."""

    current: Callable[[], Gateway]  # the running config's gateway, given with `routes` (a reload swaps it)

    def __init__(self, settings: UiConfig, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.clock = clock
        self.recorder = Recorder(Window(settings.window_s, settings.bucket_s, settings.max_series),
                                 settings.recent_requests, clock)
        self.workers = int(os.environ.get("GATEWAY_WORKERS", "1") or 1)  # set by `gateway serve --workers N`
        self.files = {name: _read(name) for name in [*STATIC, "index.html"]}

    def routes(self, current: Callable[[], Gateway]) -> list[Route]:
        self.current = current
        return [
            Route("/ui", self.page, methods=["GET"]),
            Route("/ui/", self.page, methods=["GET"]),
            Route("/ui/static/{name}", self.static, methods=["GET"]),
            Route("/admin/ui/summary", self.summary, methods=["GET"]),
            Route("/admin/ui/series", self.series, methods=["GET"]),
            Route("/admin/ui/requests", self.requests, methods=["GET"]),
            Route("/admin/ui/requests/{request_id}", self.request, methods=["GET"]),
            Route("/admin/ui/config", self.config, methods=["GET"]),
        ]

    # -- the page's files -----------------------------------------------------------------------------------

    async def page(self, request: Request) -> Response:
        return Response(self.files["index.html"], media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)

    async def static(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in STATIC:
            return Response("not found", status_code=404, media_type="text/plain")
        return Response(self.files[name], media_type=STATIC[name],
                        headers={"cache-control": "max-age=300", "x-content-type-options": "nosniff"})

    # -- JSON -----------------------------------------------------------------------------------------------

    async def summary(self, request: Request) -> Response:
        gateway = self.current()
        if denied := _admin_denied(request, gateway):
            return denied
        now = self.clock()
        recorder = self.recorder
        telemetry = gateway.config.telemetry
        return _json({
            "worker": {"pid": os.getpid(), "workers": self.workers},
            "now": round(now, 3),
            "started_at": round(recorder.started_at, 3),
            "poll_s": self.settings.poll_s,
            "bucket_s": self.settings.bucket_s,
            "window_s": self.settings.window_s,
            "recorded": recorder.seq,
            "last_minute": recorder.window.summary(now, 60),
            "in_flight": gateway.active,
            "targets": _targets(gateway, recorder, now),
            "routes_without_usable_target": [r.model for r in gateway.table.routes()
                                             if all(gateway.health.cooling(t.key) for t in r.targets)],
            "refused": dict(recorder.refused),
            "cache": gateway.cache.stats() if gateway.cache is not None else {"backend": "none"},
            "tracing": telemetry.exporter != "none",
            "trace_url": self.settings.trace_url,
        }, gateway.secrets)

    async def series(self, request: Request) -> Response:
        gateway = self.current()
        if denied := _admin_denied(request, gateway):
            return denied
        since = _number(request.query_params.get("since"))
        return _json(self.recorder.window.points(self.clock(), since), gateway.secrets)

    async def requests(self, request: Request) -> Response:
        gateway = self.current()
        if denied := _admin_denied(request, gateway):
            return denied
        after = _number(request.query_params.get("after"))
        rows = [views.request_row(e) for e in self.recorder.newest(after)]
        return _json({"seq": self.recorder.seq, "kept": self.recorder.ring.maxlen, "requests": rows},
                     gateway.secrets)

    async def request(self, request: Request) -> Response:
        gateway = self.current()
        if denied := _admin_denied(request, gateway):
            return denied
        wanted = request.path_params["request_id"]
        entry = self.recorder.find(wanted)
        if entry is None:
            body = {"error": {"message": "No such request among the last ones this worker kept.",
                              "type": "invalid_request_error", "code": "not_found", "param": None}}
            return _json(body, gateway.secrets, 404)
        return _json(views.detail(entry, self.settings.trace_url), gateway.secrets)

    async def config(self, request: Request) -> Response:
        gateway = self.current()
        if denied := _admin_denied(request, gateway):
            return denied
        return _json(views.redacted_config(gateway.config), gateway.secrets)


def _targets(gateway: Gateway, recorder: Recorder, now: float) -> list[dict[str, Any]]:
    rows = []
    for route in gateway.table.routes():
        for target in route.targets:
            health = gateway.health.snapshot(target.key)
            cooling = health["cooling_for_s"]
            last = recorder.last_errors.get(target.key)
            rows.append({
                "route": route.model, "target": target.key, "provider": target.provider, **health,
                "cooling_until": round(now + cooling, 3) if cooling else None,
                "last_error": None if last is None else {"at": round(last.at, 3), "route": last.route,
                                                         "error": last.error, "status": last.status},
            })
    return rows


def _json(data: Any, secrets: list[str], status: int = 200) -> Response:
    """JSON with every configured secret scrubbed from the bytes, wherever it might have slipped in."""
    body = orjson.dumps(data)
    for secret in secrets:
        encoded = orjson.dumps(secret)[1:-1]
        if encoded in body:
            body = body.replace(encoded, views.REDACTED.encode())
    return Response(body, status_code=status, media_type="application/json", headers=JSON_HEADERS)


def _number(text: str | None) -> float:
    try:
        value = float(text) if text else 0.0
    except ValueError:
        return 0.0
    return value if math.isfinite(value) and value > 0 else 0.0


def _read(name: str) -> bytes:
    return (resources.files("gateway.ui") / "static" / name).read_bytes()
