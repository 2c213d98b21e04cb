"""Telemetry fixtures: an OTLP receiver on loopback, and gateways that export to it.

Everything is asserted on what the real OTLP exporter sent and the receiver decoded."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from gateway.telemetry import Telemetry
from tests.conftest import GatewayFactory, gateway_config
from tests.fakes.otlp import FakeCollector
from tests.support import RunningServer, run_server


@pytest.fixture
def collector() -> FakeCollector:
    return FakeCollector()


@pytest.fixture
def collector_server(collector: FakeCollector) -> Iterator[RunningServer]:
    with run_server(collector.app) as server:
        yield server


def telemetry_section(endpoint: str, extra: str = "", exporter: str = "otlp") -> str:
    # A long metric interval: tests flush explicitly, so nothing is exported behind their backs.
    defaults = {"metric_export_interval_ms": "600000", "otlp_timeout_s": "2"}
    lines = [f"{key} = {value}" for key, value in defaults.items() if f"{key} =" not in extra]
    return "\n".join(["", "[telemetry]", f'exporter = "{exporter}"', f'otlp_endpoint = "{endpoint}"', *lines,
                      extra, ""])


TelemetryGatewayFactory = Callable[..., RunningServer]


@pytest.fixture
def start_traced(
    collector_server: RunningServer, upstream: RunningServer, start_gateway: GatewayFactory
) -> TelemetryGatewayFactory:
    # (Fixture order matters: gateways stop first and flush while the receiver still listens.)
    """Start a gateway (fake upstream + mock) exporting to the receiver; `telemetry` adds [telemetry] keys."""

    def start(telemetry: str = "", extra: str = "", provider: str = "") -> RunningServer:
        config = gateway_config(upstream.url, extra=telemetry_section(collector_server.url, telemetry) + extra,
                                provider=provider)
        return start_gateway(config)

    return start


@pytest.fixture
def traced(start_traced: TelemetryGatewayFactory) -> RunningServer:
    return start_traced()


def telemetry_of(server: RunningServer) -> Telemetry:
    telemetry = server.server.config.app.state.telemetry
    assert telemetry is not None, "this gateway runs without telemetry"
    return telemetry


def flush(server: RunningServer) -> None:
    """Export everything the gateway recorded so far (spans and metrics), synchronously."""
    assert telemetry_of(server).force_flush(10)


__all__ = ["flush", "gateway_config", "telemetry_of", "telemetry_section"]
