"""The route table: the model names clients send, and the targets behind each."""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.config import GatewayConfig, RetryConfig, RouteConfig


@dataclass(frozen=True, slots=True)
class Target:
    provider: str
    model: str
    weight: float = 1.0
    prefill: bool = False  # accepts a trailing assistant message to continue (resumes cut streams)
    key: str = field(init=False, compare=False)  # "provider/model", the health and status key

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", f"{self.provider}/{self.model}")  # read on every request: made once


@dataclass(frozen=True, slots=True)
class Route:
    model: str
    strategy: str
    targets: tuple[Target, ...]
    fallbacks: tuple[str, ...] = ()
    context_window_fallbacks: tuple[str, ...] = ()
    retry: RetryConfig = RetryConfig()
    cache: bool = True  # false: never cached (per route `cache = false`)
    cache_ttl_s: float | None = None  # overrides [cache] ttl_s for this route's entries
    cache_shared: bool | None = None  # one cache entry for every gateway key (None: [cache] shared decides)
    rpm: int | None = None  # limits on the route, every caller together (gateway/access/limits.py)
    tpm: int | None = None
    max_concurrent: int | None = None

    @classmethod
    def from_config(cls, config: RouteConfig, prefill: dict[str, bool], defaults: RetryConfig) -> Route:
        targets = tuple(
            Target(t.provider, t.model, t.weight, prefill.get(t.provider, False) if t.prefill is None else t.prefill)
            for t in config.targets
        )
        return cls(
            config.model,
            config.strategy,
            targets,
            tuple(config.fallbacks),
            tuple(config.context_window_fallbacks),
            config.retry(defaults),
            config.cache,
            config.cache_ttl_s,
            config.cache_shared,
            config.rpm,
            config.tpm,
            config.max_concurrent,
        )


class RouteTable:
    def __init__(self, config: GatewayConfig) -> None:
        prefill = {p.name: p.prefill for p in config.providers}
        self._routes = {r.model: Route.from_config(r, prefill, config.routing) for r in config.routes}

    def get(self, model: str) -> Route | None:
        return self._routes.get(model)

    def names(self) -> list[str]:
        return list(self._routes)

    def routes(self) -> list[Route]:
        return list(self._routes.values())

    def fallbacks(self, route: Route, names: tuple[str, ...]) -> list[Route]:
        """The routes named in `names` that exist, other than `route` itself."""
        return [r for n in names if (r := self._routes.get(n)) is not None and r is not route]
