"""The route table: the model names clients send, and the targets behind each."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from gateway.config import GatewayConfig, RouteConfig


@dataclass(frozen=True, slots=True)
class Target:
    provider: str
    model: str
    weight: float = 1.0

    @property
    def key(self) -> str:
        return f"{self.provider}/{self.model}"


@dataclass(frozen=True, slots=True)
class Route:
    model: str
    strategy: str
    targets: tuple[Target, ...]
    fallbacks: tuple[str, ...] = ()

    @classmethod
    def from_config(cls, config: RouteConfig) -> Route:
        targets = tuple(Target(t.provider, t.model, t.weight) for t in config.targets)
        return cls(config.model, config.strategy, targets, tuple(config.fallbacks))


class RouteTable:
    def __init__(self, config: GatewayConfig) -> None:
        self._routes = {r.model: Route.from_config(r) for r in config.routes}

    def get(self, model: str) -> Route | None:
        return self._routes.get(model)

    def names(self) -> list[str]:
        return list(self._routes)

    def chain(self, route: Route) -> Iterator[Route]:
        """The route, then its fallback routes in order (each once)."""
        yield route
        for name in route.fallbacks:
            fallback = self._routes.get(name)
            if fallback is not None and fallback is not route:
                yield fallback
