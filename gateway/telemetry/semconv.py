"""Names, buckets and instruments: every attribute and metric name the gateway emits; the SDK instruments, made
once at start.

GenAI names come from `opentelemetry.semconv._incubating` (pinned in pyproject.toml, because incubating
names move between versions) and follow semantic-conventions v1.41.0, the last release that defined them.
With `OTEL_SEMCONV_STABILITY_OPT_IN` containing `gen_ai_latest_experimental` the metrics use the newer,
still unreleased names of the semantic-conventions-genai repository instead (as the contrib instrumentations
do); that choice is made once, in `semconv_mode`, never per request.

The gateway's own names carry the `gateway.` prefix: nothing is invented inside `gen_ai.`. The deprecated
`gen_ai.system` is never emitted; `gen_ai.provider.name` is.

`error.type` values (low cardinality, documented as the spec asks):
  an upstream HTTP status as a string ("429", "503", ...), "timeout", "connect_error", "connection_error",
  "stream_error" (an error event mid-stream), "protocol_error" (an answer that is not the API's),
  "upstream_error", "cancelled" (the gateway stopped waiting), "client_disconnected" (the client left
  during the answer); on the SERVER span, the HTTP status for 5xx answers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from opentelemetry.metrics import CallbackOptions, Histogram, Meter, Observation
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as ga
from opentelemetry.semconv._incubating.attributes import openai_attributes as oa
from opentelemetry.semconv._incubating.metrics import gen_ai_metrics as gm
from opentelemetry.semconv.attributes import (
    client_attributes,
    error_attributes,
    http_attributes,
    network_attributes,
    server_attributes,
    url_attributes,
    user_agent_attributes,
)
from opentelemetry.semconv.schemas import Schemas
from opentelemetry.util.types import AttributeValue

SCHEMA_URL: Final = Schemas.V1_41_0.value
SCOPE: Final = "gateway"

# -- GenAI span attributes (v1.41.0) -------------------------------------------------------------------
OPERATION: Final = ga.GEN_AI_OPERATION_NAME
PROVIDER_NAME: Final = ga.GEN_AI_PROVIDER_NAME
REQUEST_MODEL: Final = ga.GEN_AI_REQUEST_MODEL
REQUEST_STREAM: Final = ga.GEN_AI_REQUEST_STREAM
RESPONSE_MODEL: Final = ga.GEN_AI_RESPONSE_MODEL
RESPONSE_ID: Final = ga.GEN_AI_RESPONSE_ID
FINISH_REASONS: Final = ga.GEN_AI_RESPONSE_FINISH_REASONS
TIME_TO_FIRST_CHUNK: Final = ga.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK
INPUT_TOKENS: Final = ga.GEN_AI_USAGE_INPUT_TOKENS
OUTPUT_TOKENS: Final = ga.GEN_AI_USAGE_OUTPUT_TOKENS
CACHE_READ_TOKENS: Final = "gen_ai.usage.cache_read.input_tokens"  # the provider's prompt cache (OTEL.md §1.1)
CACHE_CREATION_TOKENS: Final = "gen_ai.usage.cache_creation.input_tokens"
REASONING_TOKENS: Final = "gen_ai.usage.reasoning.output_tokens"
TOKEN_TYPE: Final = ga.GEN_AI_TOKEN_TYPE
OUTPUT_TYPE: Final = ga.GEN_AI_OUTPUT_TYPE
CHOICE_COUNT: Final = ga.GEN_AI_REQUEST_CHOICE_COUNT
SEED: Final = ga.GEN_AI_REQUEST_SEED
STOP_SEQUENCES: Final = ga.GEN_AI_REQUEST_STOP_SEQUENCES
ENCODING_FORMATS: Final = ga.GEN_AI_REQUEST_ENCODING_FORMATS
DIMENSION_COUNT: Final = ga.GEN_AI_EMBEDDINGS_DIMENSION_COUNT
INPUT_MESSAGES: Final = ga.GEN_AI_INPUT_MESSAGES
OUTPUT_MESSAGES: Final = ga.GEN_AI_OUTPUT_MESSAGES
SYSTEM_INSTRUCTIONS: Final = ga.GEN_AI_SYSTEM_INSTRUCTIONS
TOOL_DEFINITIONS: Final = ga.GEN_AI_TOOL_DEFINITIONS
OPENAI_API_TYPE: Final = oa.OPENAI_API_TYPE
OPENAI_REQUEST_SERVICE_TIER: Final = oa.OPENAI_REQUEST_SERVICE_TIER

# Request parameters copied from the client's body when present: body key -> attribute, expected type.
NUMERIC_PARAMETERS: Final[tuple[tuple[str, str, type], ...]] = (
    ("temperature", ga.GEN_AI_REQUEST_TEMPERATURE, float),
    ("top_p", ga.GEN_AI_REQUEST_TOP_P, float),
    ("top_k", ga.GEN_AI_REQUEST_TOP_K, float),  # a double in v1.41; OpenAI's top_logprobs is NOT top_k
    ("max_tokens", ga.GEN_AI_REQUEST_MAX_TOKENS, int),
    ("max_completion_tokens", ga.GEN_AI_REQUEST_MAX_TOKENS, int),
    ("frequency_penalty", ga.GEN_AI_REQUEST_FREQUENCY_PENALTY, float),
    ("presence_penalty", ga.GEN_AI_REQUEST_PRESENCE_PENALTY, float),
    ("seed", SEED, int),
)

# -- borrowed stable attributes ------------------------------------------------------------------------
ERROR_TYPE: Final = error_attributes.ERROR_TYPE
SERVER_ADDRESS: Final = server_attributes.SERVER_ADDRESS
SERVER_PORT: Final = server_attributes.SERVER_PORT
CLIENT_ADDRESS: Final = client_attributes.CLIENT_ADDRESS
HTTP_METHOD: Final = http_attributes.HTTP_REQUEST_METHOD
HTTP_ROUTE: Final = http_attributes.HTTP_ROUTE
HTTP_STATUS: Final = http_attributes.HTTP_RESPONSE_STATUS_CODE
URL_PATH: Final = url_attributes.URL_PATH
URL_SCHEME: Final = url_attributes.URL_SCHEME
USER_AGENT: Final = user_agent_attributes.USER_AGENT_ORIGINAL
PROTOCOL_VERSION: Final = network_attributes.NETWORK_PROTOCOL_VERSION

# -- the gateway's own attributes (no standard covers a proxy's routing) ---------------------------------
ROUTE: Final = "gateway.route"  # the route (client-facing model name) an attempt or request belongs to
TARGET: Final = "gateway.target"  # provider/model of an attempt, or of the attempt that answered
PROVIDER: Final = "gateway.provider"  # the configured provider name ("openai-main"), never a key
ATTEMPT: Final = "gateway.attempt"  # 1-based number of an attempt within its request
ATTEMPTS: Final = "gateway.attempts"  # upstream attempts a request made
TOTAL_INPUT_TOKENS: Final = "gateway.usage.input_tokens"  # SERVER: every attempt's, added up
TOTAL_OUTPUT_TOKENS: Final = "gateway.usage.output_tokens"
ATTEMPT_OUTCOME: Final = "gateway.attempt.outcome"  # ok | error | cancelled
FAILOVER_REASON: Final = "gateway.failover.reason"  # error.type of the attempt this one replaced
BACKOFF: Final = "gateway.backoff"  # seconds waited before this attempt (backoff or Retry-After)
FALLBACK_USED: Final = "gateway.fallback_used"  # the answer came from a fallback route
FROM_TARGET: Final = "gateway.from_target"
TO_TARGET: Final = "gateway.to_target"
CACHE_RESULT: Final = "gateway.cache.result"  # hit | miss | bypass, as the x-gateway-cache header
COALESCED: Final = "gateway.cache.coalesced"  # waited for an identical request's upstream call
KEY_NAME: Final = "gateway.key.name"  # the gateway key's configured name, never the key
REQUEST_ID: Final = "gateway.request_id"  # x-request-id
COST: Final = "gateway.cost.usd"  # what a request (SERVER) or an attempt (CLIENT) cost: tokens x the target's price
REFUSED: Final = "gateway.refused.reason"  # why the gateway refused a request itself (events.Observer.request_refused)
FIRST_CHUNK_EVENT: Final = "gateway.first_chunk"  # our own event: none is standard, so not in gen_ai.*
FAILOVER_EVENT: Final = "gateway.failover"
COOLDOWN_EVENT: Final = "gateway.target.cooldown"

# gen_ai.provider.name from the provider's config `type`. Well-known values where the spec has one; the
# mock is a custom value. `[telemetry] provider_names` overrides it per configured provider (e.g. "vllm").
PROVIDER_NAMES: Final[Mapping[str, str]] = {
    "openai": "openai",
    "anthropic": "anthropic",
    "gemini": "gcp.gemini",
    "azure": "azure.ai.openai",
    "mock": "mock",
}

# -- buckets (the spec's recommended ExplicitBucketBoundaries, passed as advisory) ------------------------
DURATION_BUCKETS: Final = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
TOKEN_BUCKETS: Final = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)
TTFT_BUCKETS: Final = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
TPOT_BUCKETS: Final = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5)

# -- metric names ----------------------------------------------------------------------------------------
CLIENT_DURATION: Final = gm.GEN_AI_CLIENT_OPERATION_DURATION
CLIENT_TOKEN_USAGE: Final = gm.GEN_AI_CLIENT_TOKEN_USAGE
CLIENT_TTFC: Final = gm.GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK
SERVER_DURATION: Final = gm.GEN_AI_SERVER_REQUEST_DURATION
SERVER_TTFT: Final = gm.GEN_AI_SERVER_TIME_TO_FIRST_TOKEN
SERVER_TPOT: Final = gm.GEN_AI_SERVER_TIME_PER_OUTPUT_TOKEN
# semantic-conventions-genai (unreleased, behind the opt-in); no constants exist for them yet.
LATEST_INFERENCE_DURATION: Final = "gen_ai.client.inference.duration"
LATEST_TTFC: Final = "gen_ai.client.inference.time_to_first_chunk"
CLIENT_TPOC: Final = "gen_ai.client.operation.time_per_output_chunk"
LATEST_TPOC: Final = "gen_ai.client.inference.time_per_output_chunk"
LATEST_USAGE_INPUT: Final = "gen_ai.client.inference.usage.input_tokens"
LATEST_USAGE_OUTPUT: Final = "gen_ai.client.inference.usage.output_tokens"
LATEST_OPERATION_INPUT: Final = "gen_ai.client.inference.operation.input_tokens"
LATEST_OPERATION_OUTPUT: Final = "gen_ai.client.inference.operation.output_tokens"
TOKEN_MODALITY: Final = "gen_ai.token.modality"
INFERENCE_OPERATIONS: Final = frozenset({"chat", "text_completion", "generate_content"})

REQUESTS: Final = "gateway.requests"
ATTEMPTS_METRIC: Final = "gateway.upstream.attempts"
FAILOVERS: Final = "gateway.failovers"
CACHE_LOOKUPS: Final = "gateway.cache.lookups"
ACTIVE: Final = "gateway.upstream.active_requests"
COOLDOWNS: Final = "gateway.target.cooldowns"
COOLING_DOWN: Final = "gateway.target.cooling_down"
TOKENS: Final = "gateway.tokens"
COST_METRIC: Final = "gateway.cost.usd"
REFUSALS: Final = "gateway.requests.refused"
LIMITS_ERRORS: Final = "gateway.limits.errors"
RESPONSES_ERRORS: Final = "gateway.responses.errors"
CACHE_ERRORS: Final = "gateway.cache.errors"

OPT_IN_ENV: Final = "OTEL_SEMCONV_STABILITY_OPT_IN"


def semconv_latest(env: Mapping[str, str]) -> bool:
    """True when the newest GenAI names are asked for (`gen_ai_latest_experimental` in the opt-in list)."""
    return "gen_ai_latest_experimental" in {part.strip() for part in env.get(OPT_IN_ENV, "").split(",")}


class Tally:
    """A monotonic counter summed here and reported through the SDK's asynchronous counter at each collection.

    The SDK's synchronous `Counter.add` validates and hashes the attributes on every call, about 10 us, and a
    request makes five of them; adding to a dict entry costs well under one. Temporality, export and views
    stay the SDK's: it gets the running totals, as asynchronous counters are meant to be used. The attribute
    sets the recorder hands in are remembered dicts (metrics.py), so each is hashed once, by identity after
    that. Past CARDINALITY_LIMIT distinct sets the rest add up under `otel.metric.overflow`, as the SDK does."""

    CARDINALITY_LIMIT = 2000
    OVERFLOW: Final[Mapping[str, AttributeValue]] = {"otel.metric.overflow": True}

    def __init__(self, meter: Meter, name: str, unit: str, description: str) -> None:
        self.totals: dict[frozenset[tuple[str, AttributeValue]], float] = {}
        self.attributes: dict[frozenset[tuple[str, AttributeValue]], Mapping[str, AttributeValue]] = {}
        self._seen: dict[int, tuple[frozenset[tuple[str, AttributeValue]], Mapping[str, AttributeValue]]] = {}
        meter.create_observable_counter(name, [self.observe], unit, description)

    def add(self, amount: float, attributes: Mapping[str, AttributeValue]) -> None:
        seen = self._seen.get(id(attributes))
        if seen is not None and seen[1] is attributes:
            key = seen[0]
        else:
            key = frozenset(attributes.items())
            if len(self._seen) >= 4 * self.CARDINALITY_LIMIT:
                self._seen.clear()
            self._seen[id(attributes)] = (key, attributes)  # holds the dict: its id is not reused meanwhile
        total = self.totals.get(key)
        if total is None:
            if len(self.totals) >= self.CARDINALITY_LIMIT:
                attributes, key = self.OVERFLOW, frozenset(self.OVERFLOW.items())
                total = self.totals.get(key)
            self.attributes[key] = attributes
        self.totals[key] = (total or 0) + amount

    def observe(self, options: CallbackOptions) -> Iterable[Observation]:
        for key, total in list(self.totals.items()):
            yield Observation(total, self.attributes[key])


@dataclass(frozen=True, slots=True)
class Instruments:
    """Every synchronous instrument, created once from the SDK meter at start (the two gauges are made by
    metrics.py). `latest` selects the metric names (see the docstring). Histograms carry the spec's
    boundaries as `explicit_bucket_boundaries_advisory`; the SDK aggregates, the readers (OTLP, Prometheus)
    collect."""

    latest: bool
    client_duration: Histogram
    inference_duration: Histogram  # the same instrument as client_duration in the default mode
    client_ttfc: Histogram
    client_tpoc: Histogram
    token_usage: Histogram | None  # v1.41: one histogram, by gen_ai.token.type
    usage_input: Tally | None  # latest: counters by modality, histograms without
    usage_output: Tally | None
    operation_input: Histogram | None
    operation_output: Histogram | None
    server_duration: Histogram
    server_ttft: Histogram
    server_tpot: Histogram
    requests: Tally
    attempts: Tally
    failovers: Tally
    cache_lookups: Tally
    cooldowns: Tally
    tokens: Tally
    cost: Tally
    refusals: Tally
    store_errors: dict[str, Tally]  # a shared store that failed, by feature: cache, limits, responses

    @classmethod
    def create(cls, meter: Meter, latest: bool) -> Instruments:
        def histogram(name: str, unit: str, description: str, buckets: tuple[float, ...]) -> Histogram:
            # As floats: Prometheus labels then read le="1.0", not le="1", for the token buckets too.
            bounds = [float(b) for b in buckets]
            return meter.create_histogram(name, unit, description, explicit_bucket_boundaries_advisory=bounds)

        def counter(name: str, unit: str, description: str) -> Tally:
            return Tally(meter, name, unit, description)

        client_duration = histogram(CLIENT_DURATION, "s", "GenAI operation duration.", DURATION_BUCKETS)
        ttfc_name = LATEST_TTFC if latest else CLIENT_TTFC
        token_usage = operation_input = operation_output = None
        usage_input = usage_output = None
        if latest:
            inference_duration = histogram(
                LATEST_INFERENCE_DURATION, "s", "GenAI inference operation duration.", DURATION_BUCKETS
            )
            usage_input = counter(LATEST_USAGE_INPUT, "{token}", "Input tokens used.")
            usage_output = counter(LATEST_USAGE_OUTPUT, "{token}", "Output tokens used.")
            operation_input = histogram(
                LATEST_OPERATION_INPUT, "{token}", "Input tokens per operation.", TOKEN_BUCKETS
            )
            operation_output = histogram(
                LATEST_OPERATION_OUTPUT, "{token}", "Output tokens per operation.", TOKEN_BUCKETS
            )
        else:
            inference_duration = client_duration
            token_usage = histogram(CLIENT_TOKEN_USAGE, "{token}", "Number of input and output tokens used.",
                                    TOKEN_BUCKETS)
        return cls(
            latest=latest,
            client_duration=client_duration,
            inference_duration=inference_duration,
            client_ttfc=histogram(ttfc_name, "s", "Time to receive the first chunk of a stream.", DURATION_BUCKETS),
            client_tpoc=histogram(LATEST_TPOC if latest else CLIENT_TPOC, "s",
                                  "Time per output chunk of a stream, after the first.", DURATION_BUCKETS),
            token_usage=token_usage,
            usage_input=usage_input,
            usage_output=usage_output,
            operation_input=operation_input,
            operation_output=operation_output,
            server_duration=histogram(SERVER_DURATION, "s", "Gateway request duration, as the client saw it.",
                                      DURATION_BUCKETS),
            server_ttft=histogram(SERVER_TTFT, "s", "Time to the first token sent to the client (streams).",
                                  TTFT_BUCKETS),
            server_tpot=histogram(SERVER_TPOT, "s", "Time per output token after the first (streams).",
                                  TPOT_BUCKETS),
            requests=counter(REQUESTS, "{request}", "Client requests, by route, provider and status."),
            attempts=counter(ATTEMPTS_METRIC, "{attempt}", "Upstream attempts, by target and outcome."),
            failovers=counter(FAILOVERS, "{failover}", "Attempts that replaced a failed one."),
            cache_lookups=counter(CACHE_LOOKUPS, "{lookup}", "Response-cache lookups, by result."),
            cooldowns=counter(COOLDOWNS, "{cooldown}", "Times a target was cooled down."),
            tokens=counter(TOKENS, "{token}", "Tokens used, by route, provider, key and type."),
            cost=counter(COST_METRIC, "{USD}", "What upstream calls cost (tokens x price), by route, provider, key."),
            refusals=counter(REFUSALS, "{request}", "Requests the gateway refused itself, by reason and key."),
            store_errors={
                "limits": counter(LIMITS_ERRORS, "{error}", "Failed calls to the limits' store (Redis)."),
                "responses": counter(RESPONSES_ERRORS, "{error}", "Failed calls to the responses' store (Redis)."),
                "cache": counter(CACHE_ERRORS, "{error}", "Failed calls to the cache's store (Redis); misses then."),
            },
        )
