"""`gateway serve` and `gateway check`."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway import __version__
from gateway.config import ConfigError, ConfigFileError, GatewayConfig, load_config, load_demo_config
from gateway.providers.registry import unavailable_types

if TYPE_CHECKING:
    from starlette.applications import Starlette

# Tells worker processes (`--workers N`) which config the parent chose; "" means the built-in demo.
_WORKER_CONFIG_ENV = "GATEWAY_WORKER_CONFIG"
_SHARED_LIMITS_ENV = "GATEWAY_SHARED_LIMITS"  # the parent's shared limits table (gateway/state/shared.py)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gateway", description="An OpenAI-compatible LLM gateway.")
    parser.add_argument("--version", action="version", version=f"gateway {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the gateway")
    serve.add_argument("--config", help="TOML config (default: $GATEWAY_CONFIG, ./gateway.toml, else the demo)")
    serve.add_argument("--host", help="address to listen on (overrides server.host)")
    serve.add_argument("--port", type=int, help="port to listen on (overrides server.port)")
    serve.add_argument("--workers", type=int, default=1, help="processes to run (default 1)")
    check = commands.add_parser("check", help="validate the config `serve` would use and print every problem")
    check.add_argument("--config", help="TOML config (default: $GATEWAY_CONFIG, ./gateway.toml, else the demo)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per upstream call otherwise
    if args.command == "check":
        return _check(args.config)
    return _serve(args)


def _check(given: str | None) -> int:
    """`gateway check`: the checks `serve` runs (`_load`), on the config `serve` would use (`_resolve`)."""
    path = _resolve(given)
    try:
        config, warnings = _load(path)
    except ConfigError as exc:
        print(exc.report(), file=sys.stderr)
        return 1
    name = path or "built-in demo config (no --config, $GATEWAY_CONFIG or ./gateway.toml)"
    print(f"{name}: OK ({len(config.providers)} providers, {len(config.routes)} routes, {len(config.keys)} keys)",
          flush=True)
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def _resolve(path: str | None) -> str:
    """The config to use: --config, $GATEWAY_CONFIG, ./gateway.toml, or "" for the built-in demo."""
    if path:
        return path
    if os.environ.get("GATEWAY_CONFIG"):
        return os.environ["GATEWAY_CONFIG"]
    return "gateway.toml" if Path("gateway.toml").is_file() else ""


def _load(path: str) -> tuple[GatewayConfig, list[str]]:
    """The config at `path` ("" for the built-in demo) and its warnings; raises ConfigError. `check` reports
    exactly what `serve` refuses."""
    if not path:
        return load_demo_config(), []
    try:
        config, warnings = load_config(path)
    except ConfigFileError as exc:
        if Path(path).exists():
            raise
        raise ConfigFileError(path, exc.problems[0], "Give the config's path with --config PATH or $GATEWAY_CONFIG; "
                              "with neither, ./gateway.toml is used, else the built-in demo config.") from None
    if problems := unavailable_types(config):
        raise ConfigError(path, problems)
    return config, warnings


def _serve(args: argparse.Namespace) -> int:
    path = _resolve(args.config)
    try:
        config, warnings = _load(path)
    except ConfigError as exc:
        print(exc.report(), file=sys.stderr)
        print("The gateway did not start.", file=sys.stderr)
        return 1
    server = config.server.model_copy(
        update={k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    )
    config = config.model_copy(update={"server": server})
    from gateway import logs

    log_config = logs.configure(server.log_level, server.log_format)
    for warning in warnings:
        logging.getLogger("gateway").warning("config: %s", warning)
    # only to serve: `gateway check` needs nothing but the config models
    from gateway.listener import GatewayServer
    from gateway.serving import ConnectionLimits, GatewayUvicornConfig

    options: dict[str, Any] = dict(
        host=server.host,
        port=server.port,
        loop="uvloop" if sys.platform != "win32" else "asyncio",
        http="httptools",
        access_log=False,  # the gateway's own (middleware.access_line): with key, route, tokens, cost
        log_config=log_config,  # one format for uvicorn's lines and ours, in every worker process too
        log_level=server.log_level,
        timeout_graceful_shutdown=int(server.shutdown_grace_s),
        server_header=False,
        backlog=server.backlog,
        limits=ConnectionLimits.from_config(server),  # gateway/serving.py: what one client may hold
    )
    workers = args.workers
    shared = metrics_dir = ""
    if workers > 1:
        os.environ[_WORKER_CONFIG_ENV] = path
        os.environ["GATEWAY_WORKERS"] = str(workers)  # the live page says which of them it shows
        if config.telemetry.prometheus:  # one /metrics for all workers: each publishes there
            from gateway.telemetry.workers import DIR_ENV

            metrics_dir = os.environ[DIR_ENV] = tempfile.mkdtemp(prefix="llm-gateway-metrics-")
        if config.limits.backend == "memory" and sys.platform != "win32":
            from gateway.state import shared as shared_limits

            shared = os.environ[_SHARED_LIMITS_ENV] = shared_limits.create()  # one set of limits for all workers
        uconfig = GatewayUvicornConfig("gateway.cli:worker_app", factory=True, workers=workers, **options)
    else:
        uconfig = GatewayUvicornConfig(_single_app(config), **options)
    try:
        sock = uconfig.bind_socket()
    except SystemExit:  # uvicorn logged the OSError ("address already in use")
        print(f"The gateway did not start: it cannot listen on {server.host}:{server.port}. Stop what uses that "
              "port, or pass --port (or set [server] port).", file=sys.stderr)
        return 1
    if server.log_format == "json":  # one format for everything: the banner as one record
        logging.getLogger("gateway").info(
            "llm-gateway %s listening on http://%s:%d", __version__, server.host, server.port,
            extra={"fields": {"config": path or "built-in demo config", "workers": workers,
                              "providers": [p.name for p in config.providers],
                              "routes": [r.model for r in config.routes], "keys": [k.name for k in config.keys]}})
    else:
        print(banner(config, path, workers), flush=True)  # only once the socket is bound
    try:
        if workers > 1:
            from gateway.supervisor import Supervisor

            Supervisor(uconfig, [sock], lambda: _load(path), server.drain_delay_s).run()
        else:
            GatewayServer(uconfig).run(sockets=[sock])
    except KeyboardInterrupt:  # Ctrl-C after a clean shutdown (uvicorn raises the signal again): not an error
        pass
    finally:
        if shared:
            with contextlib.suppress(OSError):
                os.unlink(shared)
        if metrics_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


def _single_app(config: GatewayConfig) -> Starlette:
    from gateway.app import create_app
    from gateway.runtime import tune_gc

    app = create_app(config)
    tune_gc()
    return app


def worker_app() -> Starlette:
    """App factory for each `--workers` process: loads the config the parent process chose. SIGHUP (from the
    parent, `gateway.supervisor`) reloads it in place; `POST /admin/reload` asks the parent to reload all."""
    from gateway.app import create_app
    from gateway.runtime import tune_gc
    from gateway.supervisor import tell_supervisor

    if hasattr(signal, "SIGHUP"):  # until the app's lifespan handles it: never the default action (exit)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    config, _ = _load(os.environ.get(_WORKER_CONFIG_ENV, ""))
    limits = None
    if shared := os.environ.get(_SHARED_LIMITS_ENV):  # the parent's table: every worker, one set of limits
        from gateway.state.memory import SpendFile
        from gateway.state.shared import SharedLimits

        limits = SharedLimits(shared, SpendFile(config.limits.spend_file or None, config.limits.spend_flush_s))
    app = create_app(config, on_admin_reload=tell_supervisor, limits=limits)
    tune_gc()
    return app


def banner(config: GatewayConfig, path: str, workers: int) -> str:
    server, telemetry = config.server, config.telemetry
    lines = [
        f"llm-gateway {__version__} listening on http://{server.host}:{server.port}"
        + (f" with {workers} worker processes" if workers > 1 else ""),
        f"config: {path or 'built-in demo config (offline mock provider; pass --config to use your own)'}",
        "providers:",
    ]
    for p in config.providers:
        where = p.base_url or "in-process"
        lines.append(f"  {p.name:<20} {p.type:<10} {where}  key={mask(p.api_key)}")
    lines.append("routes:")
    for r in config.routes:
        targets = ", ".join(f"{t.provider}/{t.model}" + (f" (w={t.weight:g})" if t.weight != 1 else "")
                            for t in r.targets)
        fallbacks = f"  fallbacks: {', '.join(r.fallbacks)}" if r.fallbacks else ""
        lines.append(f"  {r.model:<24} -> {targets}{fallbacks}")
    if telemetry.exporter == "otlp":
        where = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or telemetry.otlp_endpoint
        shown = f"telemetry: OTLP {os.environ.get('OTEL_EXPORTER_OTLP_PROTOCOL') or telemetry.otlp_protocol} to {where}"
    else:
        shown = f"telemetry: {telemetry.exporter}" + (" (one line per request below)"
                                                      if telemetry.exporter == "console" else "")
    extras = [text for on, text in ((telemetry.prometheus, "metrics at /metrics"),
                                    (telemetry.capture_content, "content capture ON")) if on]
    lines.append(shown + (f"; {', '.join(extras)}" if extras else ""))
    lines.append(f"cache: {config.cache.backend}")
    if config.keys:
        limits = config.limits
        where = f"redis {limits.redis_url.rpartition('@')[2]}" if limits.backend == "redis" else \
            f"memory, spend in {limits.spend_file or 'memory only'}"
        lines.append(f"keys: {', '.join(k.name for k in config.keys)}; limits and spend: {where}")
    else:
        lines.append("keys: none: every caller that reaches this port is let in (add [[keys]] to require one)")
    if workers > 1:
        lines.append(f"note: with {workers} workers, the memory cache and target health are kept by each worker; "
                     "rate limits and spend are shared by all of them")
    return "\n".join(lines)


def mask(secret: str | None) -> str:
    if not secret:
        return "(none)"
    if len(secret) < 12:
        return "***"
    return f"{secret[:3]}...{secret[-4:]}"
