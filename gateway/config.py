"""The TOML config: pydantic models, `${VAR}` expansion, and problems reported by TOML key path.

    >>> config = parse_config('[[providers]]\\nname = "m"\\ntype = "mock"\\n'
    ...                       '[[routes]]\\nmodel = "x"\\n[[routes.targets]]\\nprovider = "m"\\nmodel = "y"\\n')
    >>> config.routes[0].targets[0].provider
    'm'

Problems come back all at once as `ConfigError.problems`, each a line such as
`routes[2].targets[0].provider: no provider named "opnai"; did you mean "openai"?`. One pass finds them all:
pydantic's checks of each key, each table's rules over several keys, references between sections and the
budget/price check run side by side, so fixing one problem never uncovers another.
"""

from __future__ import annotations

import difflib
import fnmatch
import hashlib
import json
import os
import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidatorFunctionWrapHandler, model_validator
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError

from gateway.presets import PrefillStyle, Preset, apply_preset

ProviderType = Literal["openai", "anthropic", "gemini", "azure", "mock"]
Strategy = Literal["weighted", "round_robin", "least_busy", "latency"]


class FromEnv(str):
    """A value that was one `${VAR}` and nothing else: where the key wants a number or true/false, it is read
    as TOML would read it (`port = "${PORT:-8080}"`), as a string is not (`port = "8080"` is an error)."""


def _typed_env(model: type[BaseModel], data: dict[str, Any]) -> dict[str, Any]:
    """`data` with each FromEnv value converted to the number or bool its key wants, when it reads as one."""
    converted = None
    for name, value in data.items():
        field = model.model_fields.get(name) if isinstance(value, FromEnv) else None
        if field is None:
            continue
        kinds = {k for k in (field.annotation, *getattr(field.annotation, "__args__", ())) if k in (int, float, bool)}
        for kind in (bool, int, float):
            if kind not in kinds:
                continue
            try:
                typed: Any = tomllib.loads(f"v = {value}")["v"]
            except tomllib.TOMLDecodeError:
                break
            if type(typed) is kind or (kind is float and type(typed) is int):
                converted = converted if converted is not None else dict(data)
                converted[name] = typed
                break
    return converted if converted is not None else data


class _Strict(BaseModel):
    """A TOML table. Unknown keys are errors and values keep their TOML type: a string is not a port and
    "true" is not a bool (TOML has real integers, floats and booleans); an integer is a fine float (`weight = 1`).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    @model_validator(mode="wrap")
    @classmethod
    def _check_table(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        # A table's rules over several keys run beside pydantic's check of each key, not after it (an "after"
        # validator runs only once every key is valid), so one pass reports both.
        if not isinstance(data, dict):
            return handler(data)
        data = cls._prepare(_typed_env(cls, data))
        found = cls._table_problems(data)
        try:
            table = handler(data)
        except ValidationError as exc:
            if not found:
                raise
            raise ValidationError.from_exception_data(cls.__name__, [*map(_again, exc.errors()), *found]) from None
        if found:
            raise ValidationError.from_exception_data(cls.__name__, found)
        return table

    @classmethod
    def _prepare(cls, data: dict[str, Any]) -> dict[str, Any]:
        """The table as written, with what it implies filled in; checked and validated after this."""
        return data

    @classmethod
    def _table_problems(cls, data: dict[str, Any]) -> list[InitErrorDetails]:
        """Rules over several keys, as `_problem`s. `data` is the table as written: values may have any type."""
        return []


class ServerConfig(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    max_request_bytes: int = Field(10 * 1024 * 1024, gt=0)
    shutdown_grace_s: float = Field(30.0, ge=0)
    watch_config: bool = False  # reload when the config file changes (SIGHUP and POST /admin/reload always work)
    access_log: bool = False
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["text", "json"] = "text"  # json: one object per line (gateway/logs.py)
    # On SIGTERM /readyz answers 503 at once; the gateway keeps serving this long (for load balancers to stop
    # sending), then stops accepting connections and gives requests in flight shutdown_grace_s to finish.
    drain_delay_s: float = Field(0.0, ge=0)
    cors_origins: list[str] = []  # browser origins allowed to call the API ("*": any); none: no CORS headers
    # What one client may hold (gateway/serving.py; read at start, a reload does not change them): a request's
    # line and headers must arrive within header_timeout_s of its first byte (a silent new connection is closed
    # then), its body within body_timeout_s of the headers; idle kept-alive connections close after
    # keepalive_timeout_s; larger headers get 431, connections beyond max_connections (per worker) get 503.
    header_timeout_s: float = Field(10.0, gt=0)
    body_timeout_s: float = Field(60.0, gt=0)
    keepalive_timeout_s: float = Field(5.0, gt=0)
    max_header_bytes: int = Field(32768, ge=1024)
    max_connections: int = Field(4096, gt=0)
    backlog: int = Field(2048, gt=0)  # connections the kernel queues before the gateway accepts them


class TelemetryConfig(_Strict):
    """[telemetry]. The standard OTEL_* environment variables override the OTLP keys (see config.example.toml)."""

    service_name: str = "llm-gateway"
    exporter: Literal["otlp", "console", "none"] = "none"
    otlp_endpoint: str = "http://127.0.0.1:4318"
    otlp_protocol: Literal["http/protobuf", "grpc"] = "http/protobuf"
    otlp_headers: dict[str, str] = {}
    otlp_timeout_s: float = Field(10.0, gt=0)  # per export request, retries included
    otlp_compression: Literal["none", "gzip"] = "none"
    # OTLP/HTTP spans: "fastotel" encodes and sends them in Rust off the GIL (a quarter of the CPU);
    # "sdk" uses the OpenTelemetry SDK's BatchSpanProcessor + OTLPSpanExporter (gRPC always does)
    span_exporter: Literal["fastotel", "sdk"] = "fastotel"
    metric_export_interval_ms: int = Field(5000, gt=0)
    otlp_metrics: bool = True  # push metrics over OTLP too; off when Prometheus scrapes /metrics instead
    traces: bool = True  # false: metrics only (no spans, no trace context sent upstream)
    trace_sample_ratio: float = Field(1.0, ge=0, le=1)  # share of traces recorded (a client's sampled flag wins)
    resource_attributes: dict[str, str] = {}  # extra OTel resource attributes, e.g. deployment.environment.name
    capture_content: bool = False
    content_max_chars: int = Field(8192, gt=0)  # each captured text is cut to this many characters
    redact: str | None = Field(None, pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")  # "module:function" hook
    prometheus: bool = False  # serve GET /metrics for Prometheus to scrape
    provider_names: dict[str, str] = {}  # gen_ai.provider.name per configured provider, e.g. {"local" = "vllm"}
    propagate_baggage: bool = True  # send the client's W3C baggage on to the upstream with the trace context


class CacheConfig(_Strict):
    """[cache]: answers to identical requests (gateway/cache/). With no [cache] section nothing is cached;
    a section that does not name a `backend` gets the memory backend."""

    backend: Literal["memory", "redis", "none"] = "memory"
    ttl_s: float = Field(600, gt=0)
    max_entries: int = Field(10000, gt=0)  # memory backend
    max_bytes: int = Field(256 * 1024 * 1024, gt=0)  # memory backend: total size of the stored answers
    max_entry_bytes: int = Field(1024 * 1024, gt=0)  # a larger answer is not stored
    redis_url: str = Field("redis://127.0.0.1:6379/0", pattern=r"^(redis|rediss|unix)://")
    key_prefix: str = "llm-gateway:cache:"  # every key the cache writes to Redis starts with this
    redis_timeout_s: float = Field(0.25, gt=0)  # per Redis command; slower counts as a miss
    redis_retry_s: float = Field(1.0, ge=0)  # after a Redis failure, it is left alone this long
    lock_wait_s: float = Field(5.0, ge=0)  # redis: wait this long for another replica's identical call
    shared: bool = False  # true: one cache for every gateway key; false: each key has its own entries
    ignore_fields: list[str] = ["user"]  # request fields left out of the identity
    deterministic_only: bool = False  # true: cache only requests with temperature 0 or a seed
    coalesce: bool = True  # concurrent identical misses make one upstream call


class ProviderConfig(_Strict):
    name: str = Field(min_length=1)
    type: ProviderType
    base_url: str | None = None
    api_key: str | None = None
    headers: dict[str, str] = {}
    timeout_s: float = Field(30.0, gt=0, description="whole response (non-stream) / until headers (stream)")
    connect_timeout_s: float = Field(5.0, gt=0)
    read_timeout_s: float | None = Field(None, gt=0, description="longest silence while reading")
    max_connections: int = Field(100, gt=0)
    max_keepalive_connections: int = Field(100, ge=0)
    keepalive_s: float = Field(30.0, ge=0)
    # an answer (or a whole stream) larger than this, decoded, is a 502: no upstream can fill the gateway's memory
    max_response_bytes: int = Field(64 * 1024 * 1024, gt=0)
    stream_usage: bool = True  # ask for usage in streams (stream_options.include_usage)
    prefill: bool = False  # continues a trailing assistant message (used to resume a cut stream)
    prefill_style: PrefillStyle = "plain"  # how that message is marked (gateway/presets.py)
    # upstream model glob -> whether it takes a prefill, first match first; else the type's table (anthropic:
    # Claude 4.6 and later refuse it). Only consulted where `prefill` is on.
    prefill_models: dict[str, bool] = {}
    preset: Preset | None = None  # type "openai": a known server's base_url and quirks (gateway/presets.py)
    api_version: str | None = None  # azure: "v1" (default) for /openai/v1, or a dated version for deployment URLs
    # what the server offers (default: all); asking it for another is a 400 naming the provider, never sent
    operations: list[Literal["chat", "text_completion", "embeddings"]] | None = None
    # POST /v1/responses: "translate" (to chat; any server) or "native" (type openai only: the request goes to the
    # server's own /v1/responses as sent, model rewritten, so built-in tools work; every target of the route
    # must be native, README.md "Responses API")
    responses: Literal["translate", "native"] = "translate"
    # anthropic provider only
    anthropic_version: str = "2023-06-01"
    max_tokens_default: int = Field(4096, gt=0)  # sent when the client gives no max_tokens (Anthropic needs one)
    # mock provider only
    token_delay_ms: float = Field(0.0, ge=0)
    embedding_dim: int = Field(16, gt=0)

    @classmethod
    def _prepare(cls, data: dict[str, Any]) -> dict[str, Any]:
        # Anthropic continues a trailing assistant message natively, so resuming a cut stream there is safe
        # for the models that take one (the provider's table decides per model: Claude 4.6 and later do not).
        if data.get("type") == "anthropic" and "prefill" not in data:
            data = {**data, "prefill": True}
        return apply_preset(data)

    @classmethod
    def _table_problems(cls, data: dict[str, Any]) -> list[InitErrorDetails]:
        kind = data.get("type") if data.get("type") in get_args(ProviderType) else None  # else: its own problem
        found = []
        if data.get("preset") in get_args(Preset) and kind not in (None, "openai"):
            found.append(_problem("preset", f'preset "{data["preset"]}" is for providers of type "openai", '
                                            f'not "{kind}"', data))
        if data.get("responses") == "native" and kind not in (None, "openai"):
            found.append(_problem("responses", f'responses = "native" is for providers of type "openai" (a server '
                                               f'with /v1/responses), not "{kind}"', data))
        if data.get("api_version") is not None and kind not in (None, "azure"):
            found.append(_problem("api_version", f'api_version is for providers of type "azure", not "{kind}"', data))
        elif isinstance(data.get("api_version"), str) and not re.match(r"^(v1|\d{4}-\d{2}-\d{2}(-preview)?)$",
                                                                       data["api_version"]):
            found.append(_problem("api_version", f'must be "v1" or a dated version such as "2025-04-01-preview", '
                                                 f'got "{data["api_version"]}"', data))
        if isinstance(data.get("anthropic_version"), str) and not re.match(r"^\d{4}-\d{2}-\d{2}$",
                                                                           data["anthropic_version"]):
            found.append(_problem("anthropic_version", f'must be a dated version such as "2023-06-01", '
                                                       f'got "{data["anthropic_version"]}"', data))
        url = data.get("base_url")
        if isinstance(url, str) and url and not re.match(r"^https?://[^/\s]+", url):
            found.append(_problem("base_url", f'must start with http:// or https://, got "{url}"', data))
        elif not url and kind not in (None, "mock", "gemini", "anthropic"):
            found.append(_problem("base_url", f'a provider of type "{kind}" needs base_url', data))
        return found


class TargetConfig(_Strict):
    provider: str
    model: str = Field(min_length=1)
    weight: float = Field(1.0, gt=0)
    prefill: bool | None = None  # overrides the provider's `prefill`
    # USD per million tokens, for cost and budgets; unset: the built-in table (gateway/access/prices.toml)
    input_usd_per_mtok: float | None = Field(None, ge=0)
    output_usd_per_mtok: float | None = Field(None, ge=0)
    cached_input_usd_per_mtok: float | None = Field(None, ge=0)  # prompt tokens the provider served from its cache

    @classmethod
    def _table_problems(cls, data: dict[str, Any]) -> list[InitErrorDetails]:
        # about two or three keys together, so located at the target itself
        given, output, cached = (data.get(k) is not None for k in (
            "input_usd_per_mtok", "output_usd_per_mtok", "cached_input_usd_per_mtok"))
        found = []
        if given != output:
            found.append(_problem(None, "set both input_usd_per_mtok and output_usd_per_mtok (0 for a free "
                                        "direction), or neither", data))
        if cached and not given:
            found.append(_problem(None, "cached_input_usd_per_mtok needs input_usd_per_mtok and output_usd_per_mtok "
                                        "too", data))
        return found


class RetryConfig(_Strict):
    """How hard one request tries. Global defaults in [routing]; each key can be overridden per route."""

    max_attempts: int = Field(4, ge=1, le=20)  # upstream attempts per request, fallbacks included
    retries_per_target: int = Field(1, ge=0, le=3)  # extra tries of a target once every target was tried
    attempt_timeout_s: float | None = Field(None, gt=0)  # per attempt; default: the provider's timeout_s
    deadline_s: float = Field(120.0, gt=0)  # whole request, retries and fallbacks included (until headers)
    backoff_base_s: float = Field(0.2, ge=0)  # full-jitter exponential backoff between retries of a target
    backoff_max_s: float = Field(5.0, ge=0)
    retry_after_max_s: float = Field(5.0, ge=0)  # honour Retry-After up to this; longer ones skip the target
    ttft_timeout_s: float | None = Field(None, gt=0)  # streams: first content by then, or try the next target
    # ttft_timeout_s unset: the limit is ttft_auto_factor x the target's own time to first token (its latency
    # average), at least ttft_auto_min_s, when the request has another target to go to (README: failover)
    ttft_auto_min_s: float = Field(10.0, gt=0)
    ttft_auto_factor: float = Field(5.0, ge=1)
    stream_idle_timeout_s: float = Field(60.0, gt=0)  # streams: longest silence mid-answer before recovery


class RoutingConfig(RetryConfig):
    failure_threshold: int = Field(3, ge=1)  # consecutive failures that cool a target down
    cooldown_s: float = Field(10.0, gt=0)  # first cooldown; doubles while probes keep failing
    cooldown_max_s: float = Field(20.0, gt=0)  # the doubling stops here: a recovered target is probed by then
    latency_decay: float = Field(0.3, gt=0, le=1)  # EWMA weight of the newest latency sample
    latency_half_life_s: float = Field(30.0, gt=0)  # latency averages fade by half in this time (routing/health.py)
    explore: float = Field(0.05, ge=0, le=1)  # latency strategy: share of requests sent to a random target


class RouteConfig(_Strict):
    model: str = Field(min_length=1)
    strategy: Strategy = "weighted"
    fallbacks: list[str] = []
    context_window_fallbacks: list[str] = []  # routes for prompts too long for this one
    targets: list[TargetConfig] = Field(min_length=1)
    max_attempts: int | None = Field(None, ge=1, le=20)
    retries_per_target: int | None = Field(None, ge=0, le=3)
    attempt_timeout_s: float | None = Field(None, gt=0)
    deadline_s: float | None = Field(None, gt=0)
    backoff_base_s: float | None = Field(None, ge=0)
    backoff_max_s: float | None = Field(None, ge=0)
    retry_after_max_s: float | None = Field(None, ge=0)
    ttft_timeout_s: float | None = Field(None, gt=0)
    ttft_auto_min_s: float | None = Field(None, gt=0)
    ttft_auto_factor: float | None = Field(None, ge=1)
    stream_idle_timeout_s: float | None = Field(None, gt=0)
    cache: bool = True  # false: this route's answers are never cached
    cache_ttl_s: float | None = Field(None, gt=0)  # this route's entries live this long instead of [cache] ttl_s
    cache_shared: bool | None = None  # one cache for every gateway key on this route (default: [cache] shared)
    # Limits on the route, whoever calls it (every key together): requests and tokens per minute, calls in flight
    rpm: int | None = Field(None, gt=0)
    tpm: int | None = Field(None, gt=0)
    max_concurrent: int | None = Field(None, gt=0)

    def retry(self, defaults: RetryConfig) -> RetryConfig:
        """This route's retry settings: its own keys over the [routing] defaults."""
        own = {k: v for k in RetryConfig.model_fields if (v := getattr(self, k)) is not None}
        return defaults.model_copy(update=own)


class LimitsConfig(_Strict):
    """[limits]: where rate-limit counters and spend live (gateway/access/, gateway/state/)."""

    backend: Literal["memory", "redis"] = "memory"  # "redis": one limit and one budget for every replica
    redis_url: str = Field("redis://127.0.0.1:6379/0", pattern=r"^(redis|rediss|unix)://")
    key_prefix: str = "llm-gateway:limits:"  # every Redis key the limits write starts with this
    redis_timeout_s: float = Field(0.25, gt=0)  # per Redis call; slower counts as the backend failing
    redis_retry_s: float = Field(1.0, ge=0)  # after a Redis failure, calls skip it this long
    on_backend_error: Literal["open", "closed"] = "open"  # Redis down: let calls in ("open") or refuse them (503)
    lease_s: float = Field(600.0, gt=0)  # redis: a replica that dies frees its max_concurrent slots after this
    # memory backend: spend is kept in this SQLite file (written every spend_flush_s, off the request path) so
    # that it survives a restart and is shared by `--workers`; "" keeps it in memory only
    spend_file: str = "gateway-spend.sqlite3"
    spend_flush_s: float = Field(1.0, gt=0)


class AdminConfig(_Strict):
    key: str | None = None


class KeyConfig(_Strict):
    name: str = Field(min_length=1)
    key: str = ""  # empty (an unset ${VAR}) never matches a request; `gateway check` warns
    key_sha256: str | None = Field(None, pattern=r"^[0-9a-fA-F]{64}$")  # instead of `key`: its hex SHA-256
    models: list[str] | None = None  # route names this key may call; * and ? wildcards ("gpt-4o*")
    rpm: int | None = Field(None, gt=0)
    tpm: int | None = Field(None, gt=0)
    max_concurrent: int | None = Field(None, gt=0)
    budget_usd: float | None = Field(None, ge=0)
    budget_period: Literal["day", "month", "total"] = "month"  # calendar day / month in UTC, or for ever

    @classmethod
    def _table_problems(cls, data: dict[str, Any]) -> list[InitErrorDetails]:
        if data.get("key") and data.get("key_sha256"):  # about both keys, so located at the table
            return [_problem(None, "set key or key_sha256, not both", data)]
        return []


class ResponsesConfig(_Strict):
    """[responses]: the responses the Responses API stores (`store`, the default) for `previous_response_id`,
    retrieve and delete. Redis when [state] redis_url is set, or [limits] or [cache] use Redis; else memory."""

    backend: Literal["memory", "redis"] | None = None  # None: as above
    redis_url: str | None = Field(None, pattern=r"^(redis|rediss|unix)://")  # default: [state]'s, [limits]', [cache]'s
    key_prefix: str = "llm-gateway:responses:"
    ttl_s: float = Field(30 * 86400.0, gt=0)  # how long a stored response can be continued or retrieved (30 days)
    max_entries: int = Field(10000, gt=0)  # memory: the oldest go first past this many ...
    max_bytes: int = Field(64 * 1024 * 1024, gt=0)  # ... or this much (a record holds its whole conversation)
    redis_timeout_s: float = Field(0.5, gt=0)


class StateConfig(_Strict):
    """[state]: where what replicas must share lives. One `redis_url` makes the cache (when there is one),
    rate limits, budgets and stored responses use that Redis unless their own section says otherwise, so
    every replica shares them; without it everything stays in each process (README.md, "Replicas";
    deploy/README.md, "What replicas share")."""

    redis_url: str | None = Field(None, pattern=r"^(redis|rediss|unix)://")


class UiConfig(_Strict):
    """[ui]: the live page at `GET /ui` (gateway/ui/). Its figures live in fixed-size in-memory buffers sized
    here, made once at start (a reload does not resize them): up to (window_s / bucket_s) x (max_series + 1)
    chart rows of about 1 KB, plus `recent_requests` requests of about 1 KB (README.md, "The live page")."""

    enabled: bool = True
    recent_requests: int = Field(300, ge=1, le=10000)  # the requests table (each with its attempt timeline)
    window_s: int = Field(900, ge=60, le=86400)  # how far back the charts go
    bucket_s: int = Field(5, ge=1, le=3600)  # one chart point per this many seconds
    max_series: int = Field(32, ge=1, le=1000)  # routes and targets charted apart; beyond that only in the totals
    poll_s: float = Field(2.0, ge=0.5, le=60)  # how often the page asks for news
    trace_url: str | None = Field(None, pattern=r"^https?://")  # "http://jaeger:16686/trace/{trace_id}": a link

    @classmethod
    def _table_problems(cls, data: dict[str, Any]) -> list[InitErrorDetails]:
        window, bucket, series = data.get("window_s", 900), data.get("bucket_s", 5), data.get("max_series", 32)
        found = []
        if all(type(v) is int and v > 0 for v in (window, bucket, series)):
            if window % bucket:
                found.append(_problem("bucket_s", f"window_s ({window}) must be a multiple of bucket_s ({bucket})",
                                      data))
            elif window // bucket * series > 20000:
                found.append(_problem(None, f"window_s / bucket_s x max_series is {window // bucket * series} chart "
                                            "rows, over 20000 (about 1 KB each): raise bucket_s or lower window_s "
                                            "or max_series", data))
        url = data.get("trace_url")
        if isinstance(url, str) and "{trace_id}" not in url:
            found.append(_problem("trace_url", f'must contain {{trace_id}}, got "{url}"', data))
        return found


class GatewayConfig(_Strict):
    server: ServerConfig = ServerConfig()
    state: StateConfig = StateConfig()
    responses: ResponsesConfig = ResponsesConfig()
    telemetry: TelemetryConfig = TelemetryConfig()
    cache: CacheConfig = CacheConfig(backend="none")  # no [cache] section: no cache
    providers: list[ProviderConfig] = Field(min_length=1)
    routes: list[RouteConfig] = Field(min_length=1)
    routing: RoutingConfig = RoutingConfig()
    limits: LimitsConfig = LimitsConfig()
    admin: AdminConfig = AdminConfig()
    keys: list[KeyConfig] = []
    ui: UiConfig = UiConfig()
    source: str = Field("", exclude=True, description="where it was loaded from; set by the loader")

    @classmethod
    def _prepare(cls, data: dict[str, Any]) -> dict[str, Any]:
        """[state] redis_url: the Redis of [cache] (when there is one) and [limits], unless they name their own
        backend or URL."""
        state = data.get("state")
        url = state.get("redis_url") if isinstance(state, dict) else None
        if not isinstance(url, str) or not url:
            return data
        data = dict(data)
        for section in ("cache", "limits"):
            table = data.get(section)
            if section == "cache" and not isinstance(table, dict):
                continue  # no [cache] section: no cache, with or without Redis
            table = dict(table) if isinstance(table, dict) else {}
            table.setdefault("backend", "redis")
            if table["backend"] == "redis":
                table.setdefault("redis_url", url)
            data[section] = table
        return data

    def native_routes(self) -> frozenset[str]:
        """The routes that answer /v1/responses natively: every target's provider has `responses = "native"`."""
        native = {p.name for p in self.providers if p.responses == "native"}
        return frozenset(r.model for r in self.routes if all(t.provider in native for t in r.targets))

    def response_store(self) -> tuple[str, str]:
        """Where stored responses live: ("redis", url) when anything shares state through Redis, else memory."""
        own = self.responses
        shared = self.state.redis_url or (self.limits.redis_url if self.limits.backend == "redis" else None) \
            or (self.cache.redis_url if self.cache.backend == "redis" else None)
        backend = own.backend or ("redis" if shared else "memory")
        return backend, own.redis_url or shared or "redis://127.0.0.1:6379/0"

    def secrets(self) -> list[str]:
        """Every secret in the config, for scrubbing from anything the gateway writes."""
        values = [p.api_key for p in self.providers] + [k.key for k in self.keys] + [self.admin.key]
        values += list(self.telemetry.otlp_headers.values())  # e.g. a collector's API key
        values += [_password(self.cache.redis_url), _password(self.limits.redis_url),
                   _password(self.state.redis_url or ""), _password(self.responses.redis_url or "")]
        values += [v for p in self.providers for k, v in p.headers.items() if _secret_header(k)]
        return [v for v in values if v and len(v) >= 4]


def _password(url: str) -> str:
    """The password in a Redis URL (redis://user:secret@host), or ""."""
    credentials = url.partition("://")[2].rpartition("@")[0]
    return credentials.partition(":")[2] if credentials else ""


def _secret_header(name: str) -> bool:
    name = name.lower()
    return any(word in name for word in ("key", "auth", "token", "secret"))


_M = TypeVar("_M", bound=BaseModel)


def _problem(key: str | None, message: str, table: dict[str, Any]) -> InitErrorDetails:
    """A problem a table's own rule found, located at `key`, or at the table itself for a rule over several."""
    if key is None:
        return InitErrorDetails(type=PydanticCustomError("config", message), loc=(), input=None)
    return InitErrorDetails(type=PydanticCustomError("config", message), loc=(key,), input=table.get(key))


def _again(err: ErrorDetails) -> InitErrorDetails:
    """A pydantic error as it was, to raise again beside a table's own problems (its message already formatted)."""
    return InitErrorDetails(type=PydanticCustomError(err["type"], err["msg"]), loc=err["loc"], input=err["input"])


class ConfigError(Exception):
    """A config that cannot be used: `problems` are one line each (`key.path: what is wrong`), `report()` the
    text that `gateway check`, `gateway serve` and a refused reload show.

        ConfigError            problems with keys, all of them at once
         +-- ConfigFileError   the file is missing, unreadable or not TOML: no key could be checked
    """

    def __init__(self, source: str, problems: list[str]) -> None:
        super().__init__(f"{source}: {len(problems)} problem(s) in the config")
        self.source = source
        self.problems = problems

    def report(self) -> str:
        lines = [f"{self.source}: invalid config ({len(self.problems)} problem(s))"]
        lines += [f"  {p}" for p in self.problems]
        lines.append("Fix these keys and run `gateway check --config FILE` again.")
        return "\n".join(lines)


class ConfigFileError(ConfigError):
    """The file itself is the problem (one problem, no key path), with what to do about it when known."""

    def __init__(self, source: str, problem: str, hint: str = "") -> None:
        super().__init__(source, [problem])
        self.hint = hint

    def report(self) -> str:
        return "\n".join([f"{self.source}: {self.problems[0]}", *([self.hint] if self.hint else [])])


def load_config(path: str | Path) -> tuple[GatewayConfig, list[str]]:
    """Read and validate a TOML file. Returns the config and warnings; raises ConfigError (ConfigFileError when
    the file is missing, unreadable or not TOML)."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigFileError(source, f"no such file (looked at {Path(path).absolute()})") from None
    except OSError as exc:
        raise ConfigFileError(source, f"cannot read the file: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigFileError(source, f"cannot read the file: not UTF-8 text (byte {exc.start})") from None
    return parse_config_with_warnings(text, source=source)


def load_demo_config() -> GatewayConfig:
    text = resources.files("gateway").joinpath("demo.toml").read_text(encoding="utf-8")
    return parse_config(text, source="built-in demo config")


def parse_config(text: str, *, source: str = "<config>") -> GatewayConfig:
    return parse_config_with_warnings(text, source=source)[0]


def parse_config_with_warnings(text: str, *, source: str = "<config>") -> tuple[GatewayConfig, list[str]]:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigFileError(source, _toml_problem(exc)) from None
    warnings: list[str] = []
    expanded = _expand_env(raw, "", warnings)
    problems: list[str] = []
    if "source" in expanded:  # a field the loader sets, not a key of the file
        problems.append("source: unknown key")
        expanded = {k: v for k, v in expanded.items() if k != "source"}
    config: GatewayConfig | None = None
    try:
        config = GatewayConfig.model_validate(expanded)
    except ValidationError as exc:
        problems += [_describe(err) for err in exc.errors()]
    problems += _cross_references(expanded, warnings)
    problems += _budget_problems(*_valid_parts(expanded, config))
    if problems or config is None:
        raise ConfigError(source, problems)
    return config.model_copy(update={"source": source}), warnings + _unused_keys(config)


_TOML_AT = re.compile(r"(.*) \(at (line \d+, column \d+|end of document)\)", re.DOTALL)


def _toml_problem(exc: tomllib.TOMLDecodeError) -> str:
    """tomllib's message with its place first: `not valid TOML at line 3, column 9: expected ...`. The line
    itself is not shown: it may hold a secret."""
    message = str(exc)
    if not (match := _TOML_AT.fullmatch(message)):
        return f"not valid TOML: {message}"
    what = match.group(1)
    return f"not valid TOML at {match.group(2)}: {what[:1].lower()}{what[1:]}"


def _valid_parts(raw: dict[str, Any], config: GatewayConfig | None) -> tuple[GatewayConfig,
                                                                                list[tuple[int, KeyConfig]]]:
    """The config, with its keys by index, for the checks that need models. When the whole config is not valid:
    the providers, routes and keys that are valid on their own, so that those checks run in the same pass."""
    if config is not None:
        return config, list(enumerate(config.keys))
    providers = [p for t in _tables(raw.get("providers")) if (p := _valid(ProviderConfig, t))]
    routes = [r for t in _tables(raw.get("routes")) if (r := _valid(RouteConfig, t))]
    keys = [(i, k) for i, t in enumerate(_tables(raw.get("keys"))) if (k := _valid(KeyConfig, t))]
    return GatewayConfig.model_construct(providers=providers, routes=routes), keys


def _valid(model: type[_M], table: dict[str, Any]) -> _M | None:
    try:
        return model.model_validate(table)
    except ValidationError:
        return None


_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _expand_env(value: Any, path: str, warnings: list[str]) -> Any:
    """Replace `${VAR}` and `${VAR:-default}` in every string; `$$` is a literal `$`."""
    if isinstance(value, dict):
        return {k: _expand_env(v, _join(path, k), warnings) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_env(v, f"{path}[{i}]", warnings) for i, v in enumerate(value)]
    if not isinstance(value, str) or "$" not in value:
        return value

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, default = match.group(1), match.group(2)
        if name in os.environ:
            return os.environ[name]
        if default is None:
            warnings.append(f"{path}: environment variable {name} is not set; using an empty value")
            return ""
        return default

    expanded = _VAR.sub(substitute, value)
    whole = _VAR.fullmatch(value)
    return FromEnv(expanded) if whole is not None and whole.group(0) != "$$" else expanded


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


# pydantic's type errors (strict: no conversion from strings) -> what the TOML value should have been
_EXPECTED = {"int_type": "an integer", "float_type": "a number", "bool_type": "true or false",
             "string_type": "a string", "list_type": "a list", "dict_type": "a table", "model_type": "a table"}


def _describe(err: ErrorDetails) -> str:
    """One pydantic error as `key.path: message`, with a suggestion for a mistyped key or value."""
    loc: tuple[str | int, ...] = tuple(err["loc"])
    path = ""
    for part in loc:
        path = _join(path, part)
    kind = err["type"]
    if kind == "extra_forbidden":
        known = _fields_at(loc[:-1])
        hint = _suggest(str(loc[-1]), known)
        return f"{path}: unknown key{hint}"
    if kind == "missing":
        return f"{path}: required key is missing"
    if kind in _EXPECTED:
        value = err["input"]
        message = f"expected {_EXPECTED[kind]}, got {_shown(value, _secret(loc))}"
        if kind == "list_type" and isinstance(value, dict):  # [routes] written for [[routes]]
            message += f"; write each one as [[{'.'.join(p for p in loc if isinstance(p, str))}]]"
        return f"{path or '(top level)'}: {message}"
    message = str(err["msg"]).removeprefix("Value error, ")
    message = message[:1].lower() + message[1:]
    if kind == "literal_error":
        choices = re.findall(r"'([^']*)'", message)
        message = f"got {err['input']!r}; {message}"
        if isinstance(err["input"], str):
            message += _suggest(err["input"], choices)
    return f"{path or '(top level)'}: {message}"


def _shown(value: Any, secret: bool) -> str:
    """A TOML value for a message, by its TOML type; a secret's value is never shown."""
    for kind, article, name in ((bool, "a", "boolean"), (int, "an", "integer"), (float, "a", "number"),
                                (str, "a", "string")):
        if isinstance(value, kind):
            if secret:
                return f"{article} {name}"
            shown = str(value).lower() if kind is bool else json.dumps(value, ensure_ascii=False)
            return f"the {name} {shown}"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"  # TOML dates and times


def _secret(loc: tuple[str | int, ...]) -> bool:
    names = [p for p in loc if isinstance(p, str)]
    return bool(names) and (names[-1] in ("key", "api_key") or any(n.endswith("headers") for n in names))


def _fields_at(loc: tuple[str | int, ...]) -> list[str]:
    """The known keys of the model found at `loc`, to suggest the one that was meant."""
    model: Any = GatewayConfig
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return []
        annotation = field.annotation
        args = getattr(annotation, "__args__", ())
        candidates = [annotation, *args]
        model = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if model is None:
            return []
    return [name for name, field in model.model_fields.items() if not field.exclude]


def _suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f'; did you mean "{close[0]}"?' if close else ""


def _cross_references(raw: dict[str, Any], warnings: list[str]) -> list[str]:
    """Checks that span sections: targets name providers, fallbacks name routes, names are unique.

    A fallback naming no route is an error: with it, failover from that route would be silently off."""
    problems: list[str] = []
    all_provider_names = [p.get("name") for p in _tables(raw.get("providers"))]
    all_route_names = [r.get("model") for r in _tables(raw.get("routes"))]
    provider_names = [n for n in all_provider_names if isinstance(n, str)]
    route_names = [n for n in all_route_names if isinstance(n, str)]
    problems += _duplicates("providers", "name", all_provider_names)
    problems += _duplicates("routes", "model", all_route_names)
    problems += _duplicates("keys", "name", [k.get("name") for k in _tables(raw.get("keys"))])
    for i, route in enumerate(_tables(raw.get("routes"))):
        for j, target in enumerate(_tables(route.get("targets"))):
            name = target.get("provider")
            if isinstance(name, str) and name not in provider_names:
                hint = _suggest(name, provider_names)
                problems.append(f'routes[{i}].targets[{j}].provider: no provider named "{name}"{hint}')
        for section in ("fallbacks", "context_window_fallbacks"):
            fallbacks = route.get(section)
            for j, name in enumerate(fallbacks if isinstance(fallbacks, list) else []):
                if not isinstance(name, str):
                    continue
                if name == route.get("model"):
                    problems.append(f'routes[{i}].{section}[{j}]: a route cannot fall back to itself ("{name}")')
                elif name not in route_names:
                    hint = _suggest(name, route_names)
                    problems.append(f'routes[{i}].{section}[{j}]: no route with model "{name}"{hint}')
    problems += _native_problems(raw)
    problems += _key_problems(_tables(raw.get("keys")), route_names, warnings)
    return problems


def _native_problems(raw: dict[str, Any]) -> list[str]:
    """A route answers /v1/responses natively when every target's provider has `responses = "native"`: a route
    that mixes native and translated targets, or a native route falling back to a translated one, could answer
    one request in two different ways, so both are refused."""
    native = {p.get("name"): p.get("responses") == "native" for p in _tables(raw.get("providers"))}
    routes = {r.get("model"): r for r in _tables(raw.get("routes"))}

    def kinds(route: dict[str, Any]) -> set[bool]:
        return {native[t.get("provider")] for t in _tables(route.get("targets")) if t.get("provider") in native}

    problems: list[str] = []
    for i, route in enumerate(_tables(raw.get("routes"))):
        if kinds(route) == {True, False}:
            problems.append(f'routes[{i}].targets: route "{route.get("model")}" mixes providers with responses = '
                            '"native" and without; put them in separate routes')
        elif kinds(route) == {True}:
            for section in ("fallbacks", "context_window_fallbacks"):
                names = route.get(section)
                for j, name in enumerate(names if isinstance(names, list) else []):
                    other = routes.get(name)
                    if isinstance(other, dict) and False in kinds(other):
                        problems.append(f'routes[{i}].{section}[{j}]: route "{route.get("model")}" answers '
                                        f'/v1/responses natively and cannot fall back to "{name}", which translates')
    return problems


def _key_problems(keys: list[dict[str, Any]], route_names: list[str], warnings: list[str]) -> list[str]:
    """[[keys]]: allow-lists that name routes, no key given twice."""
    problems: list[str] = []
    seen: dict[str, int] = {}
    for i, key in enumerate(keys):
        value = key.get("key")
        if not value and not key.get("key_sha256"):
            warnings.append(f"keys[{i}].key: empty; no request can use this key")
        digest = hashlib.sha256(value.encode()).hexdigest() if isinstance(value, str) and value else None
        digest = digest or (key["key_sha256"].lower() if isinstance(key.get("key_sha256"), str) else None)
        if digest is not None:
            if digest in seen:
                problems.append(f"keys[{i}]: the same key as keys[{seen[digest]}]; each key must be different")
            seen.setdefault(digest, i)
        models = key.get("models")
        for j, name in enumerate(models if isinstance(models, list) else []):
            if not isinstance(name, str):
                continue
            if any(c in name for c in "*?["):
                if not any(fnmatch.fnmatchcase(route, name) for route in route_names):
                    problems.append(f'keys[{i}].models[{j}]: "{name}" matches no route')
            elif name not in route_names:
                hint = _suggest(name, route_names)
                problems.append(f'keys[{i}].models[{j}]: no route with model "{name}"{hint}')
    return problems


# Keys that only one backend reads: set with the other one, they would do nothing.
_BACKEND_KEYS = {
    "cache": {"redis": {"redis_url", "key_prefix", "redis_timeout_s", "redis_retry_s", "lock_wait_s"},
              "memory": {"max_entries", "max_bytes"}},
    "limits": {"redis": {"redis_url", "key_prefix", "redis_timeout_s", "redis_retry_s", "on_backend_error",
                         "lease_s"},
               "memory": {"spend_file", "spend_flush_s"}},
}


def _unused_keys(config: GatewayConfig) -> list[str]:
    """Warnings for keys set in [cache] or [limits] that the chosen backend does not read."""
    warnings = []
    for section, by_backend in _BACKEND_KEYS.items():
        table: CacheConfig | LimitsConfig = getattr(config, section)
        for backend, names in by_backend.items():
            if table.backend != backend and table.backend != "none":
                for name in sorted(names & table.model_fields_set):
                    warnings.append(f'{section}.{name}: only read with backend = "{backend}"; it does nothing with '
                                    f'backend = "{table.backend}"')
    return warnings


def _budget_problems(config: GatewayConfig, keys: list[tuple[int, KeyConfig]]) -> list[str]:
    """A budget can only count calls to targets with a price: every route a key with a budget may reach
    (its allow-list, and their fallbacks) must have one on each target. `keys` by their index in the file."""
    from gateway.access.prices import unpriced

    problems = []
    names = [r.model for r in config.routes]
    for i, key in keys:
        if key.budget_usd is None:
            continue
        allowed = names if key.models is None else [n for n in names if any(fnmatch.fnmatchcase(n, m)
                                                                             for m in key.models)]
        if missing := unpriced(config, allowed):
            problems.append(
                f"keys[{i}].budget_usd: no price for {', '.join(missing)}; set input_usd_per_mtok and "
                "output_usd_per_mtok on those targets (0 for a free model), or the budget cannot count their calls")
    return problems


def _tables(value: Any) -> list[dict[str, Any]]:
    return [v if isinstance(v, dict) else {} for v in value] if isinstance(value, list) else []


def _duplicates(section: str, key: str, names: list[Any]) -> list[str]:
    seen: dict[Any, int] = {}
    problems = []
    for i, name in enumerate(names):
        if name is None:
            continue
        if name in seen:
            problems.append(f'{section}[{i}].{key}: "{name}" is already used by {section}[{seen[name]}]')
        else:
            seen[name] = i
    return problems
