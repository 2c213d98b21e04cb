"""Metric points, on the SDK's instruments, recorded once a request finished.

Per upstream attempt the GenAI client metrics (`gen_ai.client.operation.duration`, `gen_ai.client.token.usage`,
time to first chunk), as the gateway is the GenAI client of the provider; per client request the GenAI server
metrics (`gen_ai.server.request.duration`, time to first token, time per output token) from the client's
point of view; and the gateway's own counters (requests, attempts, failovers, cache lookups, tokens,
cooldowns) and gauges (in flight per target, cooling down).

Metric attribute sets are bounded (targets, routes, statuses, error kinds): each distinct one is built once
and the same dict handed to the SDK every time (`AttemptSets`, `RequestSets`); the SDK copies what it keeps.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import TypeVar

from opentelemetry.metrics import CallbackOptions, Meter, Observation
from opentelemetry.util.types import AttributeValue

from gateway.events import Attempt, Exchange
from gateway.providers.base import Facts
from gateway.telemetry import semconv as sc

Attributes = dict[str, AttributeValue]
AttributeSet = Mapping[str, AttributeValue]  # a remembered set: shared, never mutated
ProviderName = Callable[[str, str], str]  # (configured provider, its type) -> gen_ai.provider.name
V = TypeVar("V")
MEMO_LIMIT = 1024  # distinct sets remembered per memo; past that it starts over (costs memory, never data)


def remember(memo: dict[Hashable, V], key: Hashable, value: V) -> V:
    if len(memo) >= MEMO_LIMIT:
        memo.clear()
    memo[key] = value
    return value


class AttemptSets:
    """The metric attribute sets of one target as seen by one operation (route, provider, model, upstream
    address), each made on first use."""

    __slots__ = ("target", "provider_name", "_base", "_metric", "_outcome", "_tokens", "_route", "_provider")

    def __init__(self, operation: str, attempt: Attempt, provider_name: str) -> None:
        self.target, self.provider_name = attempt.target, provider_name
        base: Attributes = {
            sc.OPERATION: operation, sc.PROVIDER_NAME: provider_name, sc.REQUEST_MODEL: attempt.model,
            sc.PROVIDER: attempt.provider,
        }
        if attempt.server_address:
            base[sc.SERVER_ADDRESS] = attempt.server_address
            base[sc.SERVER_PORT] = attempt.server_port
        self._route, self._provider = attempt.route, attempt.provider
        self._base: AttributeSet = base
        self._metric: dict[Hashable, AttributeSet] = {}
        self._outcome: dict[Hashable, AttributeSet] = {}
        self._tokens: dict[Hashable, AttributeSet] = {}

    def metric(self, response_model: str | None, name: str | None = None, value: AttributeValue = None) -> AttributeSet:
        """The GenAI client metrics' set: operation, provider, model, address, the response model when the
        upstream named one, and one more attribute (`name`=`value`: token type, modality, error type)."""
        key = (response_model or None, name, value)
        found = self._metric.get(key)
        if found is None:
            made = dict(self._base)
            if response_model:
                made[sc.RESPONSE_MODEL] = response_model
            if name is not None and value is not None:
                made[name] = value
            found = remember(self._metric, key, made)
        return found

    def outcome(self, outcome: str, error: str | None) -> AttributeSet:
        key = (outcome, error)
        found = self._outcome.get(key)
        if found is None:
            made: Attributes = {
                sc.ROUTE: self._route, sc.TARGET: self.target, sc.PROVIDER: self._provider,
                sc.ATTEMPT_OUTCOME: outcome,
            }
            if error is not None:
                made[sc.ERROR_TYPE] = error
            found = remember(self._outcome, key, made)
        return found

    def tokens(self, kind: str | None, key_name: str | None) -> AttributeSet:
        """By route, provider and key; and token type (`kind`), or none for the cost."""
        key = (kind, key_name)
        found = self._tokens.get(key)
        if found is None:
            made: Attributes = {sc.ROUTE: self._route, sc.PROVIDER: self._provider}
            if kind is not None:
                made[sc.TOKEN_TYPE] = kind
            if key_name:
                made[sc.KEY_NAME] = key_name
            found = remember(self._tokens, key, made)
        return found

    def cost(self, key_name: str | None) -> AttributeSet:
        return self.tokens(None, key_name)


class RequestSets:
    """The metric attribute sets of a client request, by what it was (route, provider, cache, status...)."""

    __slots__ = ("common", "duration", "requests", "lookup")

    def __init__(self, exchange: Exchange, last: Attempt | None, response_model: str | None,
                 provider_name: str | None) -> None:
        common: Attributes = {sc.OPERATION: exchange.operation}
        if exchange.route:
            common[sc.ROUTE] = exchange.route
            common[sc.REQUEST_MODEL] = exchange.route
        if last is not None and provider_name is not None:
            common[sc.PROVIDER_NAME] = provider_name
            common[sc.PROVIDER] = last.provider
            if response_model:
                common[sc.RESPONSE_MODEL] = response_model
            if last.server_address:
                common[sc.SERVER_ADDRESS] = last.server_address
                common[sc.SERVER_PORT] = last.server_port
        self.common: AttributeSet = common  # time to first token, time per output token
        duration = dict(common)
        self.lookup: AttributeSet | None = None
        if exchange.cache:
            duration[sc.CACHE_RESULT] = exchange.cache
            self.lookup = {sc.CACHE_RESULT: exchange.cache, sc.ROUTE: exchange.route}
        if exchange.error is not None:
            duration[sc.ERROR_TYPE] = exchange.error
        self.duration: AttributeSet = duration
        counted: Attributes = {sc.HTTP_STATUS: exchange.status, sc.OPERATION: exchange.operation}
        for name in (sc.ROUTE, sc.PROVIDER, sc.CACHE_RESULT, sc.ERROR_TYPE):
            if name in duration:
                counted[name] = duration[name]
        if exchange.key_name:
            counted[sc.KEY_NAME] = exchange.key_name
        self.requests: AttributeSet = counted


_NO_FACTS = Facts()


class MetricRecorder:
    def __init__(self, meter: Meter, instruments: sc.Instruments, provider_name: ProviderName) -> None:
        self.instruments = instruments
        self.provider_name = provider_name
        self.cooling: dict[tuple[str, str], float] = {}  # (route, target) -> monotonic end of its cooldown
        # Upstream requests in flight per target, for the gauge: routing's own count, read at collection;
        # app.py points it at the current gateway's.
        self.in_flight: Callable[[], dict[str, int]] | None = None
        self._attempt_sets: dict[Hashable, AttemptSets] = {}
        self._request_sets: dict[Hashable, RequestSets] = {}
        meter.create_observable_gauge(
            sc.COOLING_DOWN, [self._observe_cooling], "{target}", "1 while a target is cooling down, else 0."
        )
        meter.create_observable_up_down_counter(
            sc.ACTIVE, [self._observe_in_flight], "{request}", "Upstream requests in flight, per target."
        )

    def request(self, exchange: Exchange, ended: float) -> None:
        previous: Attempt | None = None
        for attempt in exchange.attempts:
            self.attempt(exchange, attempt, previous)
            previous = attempt
        self.finished(exchange, exchange.started, ended)

    def attempt(self, exchange: Exchange, attempt: Attempt, previous: Attempt | None) -> None:
        ins = self.instruments
        sets = self.attempt_sets(exchange.operation, attempt)
        if previous is not None and previous.outcome != "ok":
            ins.failovers.add(1, {
                sc.ROUTE: exchange.route, sc.FROM_TARGET: previous.target, sc.TO_TARGET: sets.target,
                sc.ERROR_TYPE: previous.error or "error",
            })
        facts = attempt.facts or _NO_FACTS
        ended = attempt.ended if attempt.ended is not None else attempt.started
        error = (attempt.error or "_OTHER") if attempt.outcome != "ok" else None
        response_model = facts.response_model
        if exchange.stream and attempt.first_chunk_at is not None:
            ins.client_ttfc.record(attempt.first_chunk_at - attempt.started, sets.metric(response_model))
            if facts.chunks > 1 and attempt.ended is not None:
                # Once per stream, at the mean interval between its chunks after the first. The spec records
                # every chunk's; each record costs the SDK ~8 us, so a 32-chunk stream's would cost more CPU
                # than the gateway's whole relay of it (bench/README.md). Count: streams, not chunks.
                mean = (attempt.ended - attempt.first_chunk_at) / (facts.chunks - 1)
                ins.client_tpoc.record(mean, sets.metric(response_model))
        self.tokens(exchange, facts, sets)
        if attempt.cost_usd:
            ins.cost.add(attempt.cost_usd, sets.cost(exchange.key_name))
        duration = ins.inference_duration if exchange.operation in sc.INFERENCE_OPERATIONS else ins.client_duration
        duration.record(ended - attempt.started, sets.metric(response_model, sc.ERROR_TYPE, error))
        ins.attempts.add(1, sets.outcome(attempt.outcome, error))

    def tokens(self, exchange: Exchange, facts: Facts, sets: AttemptSets) -> None:
        ins = self.instruments
        response_model = facts.response_model
        for kind, count in (("input", facts.input_tokens), ("output", facts.output_tokens)):
            if count is None:
                continue
            if ins.token_usage is not None:
                ins.token_usage.record(count, sets.metric(response_model, sc.TOKEN_TYPE, kind))
            else:
                counter, histogram = (
                    (ins.usage_input, ins.operation_input) if kind == "input"
                    else (ins.usage_output, ins.operation_output)
                )
                if counter is not None and histogram is not None:
                    counter.add(count, sets.metric(response_model, sc.TOKEN_MODALITY, "text"))
                    histogram.record(count, sets.metric(response_model))
            ins.tokens.add(count, sets.tokens(kind, exchange.key_name))

    def finished(self, exchange: Exchange, arrived: float, ended: float) -> None:
        ins = self.instruments
        sets = self.request_sets(exchange)
        answered = exchange.answered_by
        if exchange.error is None and answered is not None and answered.first_chunk_at is not None:
            ins.server_ttft.record(answered.first_chunk_at - arrived, sets.common)
            tokens = answered.facts.output_tokens if answered.facts is not None else None
            if tokens is not None and tokens > 1:
                ins.server_tpot.record((ended - answered.first_chunk_at) / (tokens - 1), sets.common)
        if sets.lookup is not None:
            ins.cache_lookups.add(1, sets.lookup)
        ins.server_duration.record(ended - arrived, sets.duration)
        ins.requests.add(1, sets.requests)

    def cooldown(self, route: str, target: str, seconds: float) -> None:
        self.cooling[(route, target)] = time.monotonic() + seconds
        self.instruments.cooldowns.add(1, {sc.ROUTE: route, sc.TARGET: target})

    def refusal(self, reason: str, key_name: str | None, route: str | None) -> None:
        attributes: Attributes = {sc.REFUSED: reason}
        if key_name:
            attributes[sc.KEY_NAME] = key_name
        if route:
            attributes[sc.ROUTE] = route
        self.instruments.refusals.add(1, attributes)

    def store_error(self, feature: str, backend: str, error: str) -> None:
        """gateway.cache.errors, gateway.limits.errors or gateway.responses.errors, by backend and error."""
        self.instruments.store_errors[feature].add(1, {f"gateway.{feature}.backend": backend, sc.ERROR_TYPE: error})

    # -- helpers ----------------------------------------------------------------------------------------

    def attempt_sets(self, operation: str, attempt: Attempt) -> AttemptSets:
        key = (operation, attempt.route, attempt.provider, attempt.provider_type, attempt.model,
               attempt.server_address, attempt.server_port)
        found = self._attempt_sets.get(key)
        if found is None:
            name = self.provider_name(attempt.provider, attempt.provider_type)
            found = remember(self._attempt_sets, key, AttemptSets(operation, attempt, name))
        return found

    def request_sets(self, exchange: Exchange) -> RequestSets:
        last = exchange.attempts[-1] if exchange.attempts else None
        model = last.facts.response_model if last is not None and last.facts is not None else None
        key = (exchange.operation, exchange.route, exchange.cache, exchange.error, exchange.status,
               exchange.key_name, None if last is None else (last.provider, last.provider_type, model,
                                                              last.server_address, last.server_port))
        found = self._request_sets.get(key)
        if found is None:
            name = self.provider_name(last.provider, last.provider_type) if last is not None else None
            found = remember(self._request_sets, key, RequestSets(exchange, last, model, name))
        return found

    def _observe_cooling(self, options: CallbackOptions) -> Iterable[Observation]:
        now = time.monotonic()
        for (route, target), until in list(self.cooling.items()):
            yield Observation(1 if until > now else 0, {sc.ROUTE: route, sc.TARGET: target})

    def _observe_in_flight(self, options: CallbackOptions) -> Iterable[Observation]:
        if self.in_flight is None:
            return
        for target, count in sorted(self.in_flight().items()):
            yield Observation(count, {sc.TARGET: target, sc.PROVIDER: target.partition("/")[0]})
