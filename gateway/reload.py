"""Config reload without a restart: on SIGHUP, on `POST /admin/reload`, or when the file changes.

A valid new config takes over for new requests; requests and streams in flight finish on the one they
started with. Target health (cooldowns, latency averages) carries over for targets that still exist, and
providers whose settings did not change are kept with their warm connection pools. An invalid file is
refused with the same key-path report as `gateway check`, and the old config keeps serving.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

from gateway.config import ConfigError, GatewayConfig, load_config
from gateway.endpoints import Gateway
from gateway.providers.base import HttpProvider
from gateway.providers.registry import unavailable_types

log = logging.getLogger("gateway")

# (config, providers to reuse by name) -> the new Gateway and the providers it uses
Build = Callable[[GatewayConfig, dict[str, HttpProvider]], tuple[Gateway, list[HttpProvider]]]


@dataclass(frozen=True, slots=True)
class ReloadResult:
    ok: bool
    problems: list[str]
    warnings: list[str]


class Reloader:
    def __init__(self, gateway: Gateway, providers: list[HttpProvider], build: Build) -> None:
        self.gateway = gateway
        self.providers = providers
        self.build = build
        self.path = gateway.config.source if os.path.isfile(gateway.config.source) else None
        self._mtime = self._stat()
        self._retired: set[asyncio.Task[None]] = set()

    def current(self) -> Gateway:
        return self.gateway

    def reload(self) -> ReloadResult:
        if self.path is None:
            return ReloadResult(False, ["this gateway was not started from a config file; nothing to reload"], [])
        self._mtime = self._stat()
        try:
            config, warnings = load_config(self.path)
            if problems := unavailable_types(config):
                raise ConfigError(self.path, problems)
        except ConfigError as exc:
            log.error("config reload refused; the previous config keeps serving.\n%s", exc.report())
            return ReloadResult(False, exc.problems, [])
        old, old_providers = self.gateway, self.providers
        reusable = {
            p.name: p for p in old_providers
            if any(c == p.config for c in config.providers)  # same name and the very same settings
        }
        gateway, providers = self.build(config, reusable)
        self.gateway, self.providers = gateway, providers
        kept = {id(p) for p in providers}
        self._retire(old, [p for p in old_providers if id(p) not in kept])
        log.info("config reloaded from %s: %d providers, %d routes", self.path, len(config.providers),
                 len(config.routes))
        if config.telemetry != old.config.telemetry:
            warnings = [*warnings, "telemetry: [telemetry] changes take effect at the next restart"]
        restart_only = ("host", "port", "cors_origins", "log_level", "log_format", "header_timeout_s",
                        "body_timeout_s", "keepalive_timeout_s", "max_header_bytes", "max_connections", "backlog")
        if any(getattr(config.server, k) != getattr(old.config.server, k) for k in restart_only):
            warnings = [*warnings, f"server: changes to {', '.join(restart_only)} take effect at the next restart"]
        for warning in warnings:
            log.warning("config: %s", warning)
        return ReloadResult(True, [], warnings)

    async def watch(self, interval_s: float = 2.0) -> None:
        """Reload when the file's modification time changes (`[server] watch_config = true`)."""
        while True:
            await asyncio.sleep(interval_s)
            if self.path is not None and self._stat() != self._mtime:
                self.reload()

    async def aclose(self) -> None:
        for task in list(self._retired):
            task.cancel()
        for provider in self.providers:
            await provider.aclose()

    def _retire(self, old: Gateway, providers: list[HttpProvider]) -> None:
        """Close the providers the new config dropped or changed, once the old config's requests ended."""
        if not providers:
            return

        async def close_when_idle() -> None:
            grace = old.config.server.shutdown_grace_s
            loop = asyncio.get_running_loop()
            deadline = loop.time() + grace
            while old.active and loop.time() < deadline:
                await asyncio.sleep(0.1)
            for provider in providers:
                await provider.aclose()

        task = asyncio.get_running_loop().create_task(close_when_idle())
        self._retired.add(task)
        task.add_done_callback(self._retired.discard)

    def _stat(self) -> float:
        try:
            return os.stat(self.path).st_mtime if self.path else 0.0
        except OSError:
            return 0.0
