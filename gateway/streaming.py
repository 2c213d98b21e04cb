"""Relaying a stream to the client, and resuming it elsewhere when it breaks in the middle.

Chunks go out as they arrive. If the upstream is cut, goes silent for `stream_idle_timeout_s`, or sends
garbage after text has reached the client, the answer is continued on the next target (by prefill or
regeneration, see `recovery`). When that is impossible the stream ends with an OpenAI-style error event
and no `[DONE]`: a cut answer never looks complete, and the error names the original failure.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any

import orjson

from gateway import sse
from gateway.dispatch import Control, Dispatcher, Outcome, StartedStream, next_chunk
from gateway.errors import UnsupportedFeatureError, UpstreamError, UpstreamProtocolError, UpstreamStatusError, scrub
from gateway.events import Exchange
from gateway.providers.base import Call, Provider
from gateway.recovery import Continuation, Diverged, can_resume, prefill_call
from gateway.routing.table import Route, Target


class StreamAnswer:
    def __init__(
        self,
        dispatcher: Dispatcher,
        exchange: Exchange,
        route: Route,
        call: Call,
        control: Control,
        outcome: Outcome[StartedStream],
        secrets: list[str],
    ) -> None:
        self.dispatcher = dispatcher
        self.exchange = exchange
        self.route = route
        self.call = call
        self.control = control
        self.outcome = outcome
        self.secrets = secrets
        self.delivered: list[str] = []  # choice-0 text the client has received
        self.on_end: Callable[[], None] | None = None  # called once, when the stream is over
        # True: the chunks go out as `sse.Frames` carrying them parsed, for an entrance that translates them
        self.parsed = False

    async def events(self) -> AsyncIterator[bytes]:
        outcome, transform = self.outcome, None
        original: UpstreamError | None = None
        try:
            while True:
                try:
                    stream = outcome.result.stream
                    async with contextlib.aclosing(self._batches(outcome.result)) as batches:
                        async for batch in batches:
                            parsed = stream.parsed(batch, self.parsed)  # (every batch: the translator holds them)
                            if transform is not None:
                                batch = [out for payload in batch for out in transform.feed(payload)]
                                parsed = None
                            if batch:
                                yield sse.Frames.of(batch, parsed) if parsed else sse.frame(batch)
                except (UpstreamError, Diverged) as caught:
                    error = caught if isinstance(caught, UpstreamError) else _diverged(outcome.attempt.provider)
                    self._note_delivered(outcome, transform)
                    self.dispatcher.finish_stream(self.exchange, outcome.attempt, outcome.target, error)
                    original = original or error
                    resumed = await self._resume(outcome, error)
                    if resumed is None:
                        self.exchange.error = original.kind
                        yield sse.encode(orjson.dumps(self._error_body(original)))
                        return
                    outcome, transform = resumed
                    continue
                self.dispatcher.finish_stream(self.exchange, outcome.attempt, outcome.target, None)
                yield sse.DONE
                return
        except BaseException:
            if outcome.attempt.outcome == "pending":
                self.dispatcher.cancel_stream(self.exchange, outcome.attempt, outcome.target)
            self.exchange.error = self.exchange.error or "client_disconnected"
            raise
        finally:
            self.dispatcher.observer.request_finished(self.exchange)
            if self.on_end is not None:
                self.on_end()

    async def _batches(self, started: StartedStream) -> AsyncGenerator[list[bytes], None]:
        try:
            if started.held:
                yield started.held
            while (batch := await next_chunk(started.chunks)) is not None:
                yield batch
        finally:
            await started.chunks.aclose()  # closes the upstream response, also when abandoned mid-way

    def _note_delivered(self, outcome: Outcome[StartedStream], transform: Continuation | None) -> None:
        self.delivered += transform.forwarded if transform else outcome.result.stream.facts.text

    async def _resume(
        self, failed: Outcome[StartedStream], error: UpstreamError
    ) -> tuple[Outcome[StartedStream], Continuation] | None:
        """Continue the answer on another target; None when it cannot be done."""
        facts = failed.result.stream.facts
        if not can_resume(self.call, facts.tool_calls, facts.several_choices):
            return None
        delivered = "".join(self.delivered)
        stream_id = self.outcome.result.stream.facts.response_id
        dispatcher = self.dispatcher
        made = len(self.exchange.attempts)
        budget = self.route.retry.max_attempts
        if made >= budget:
            return None

        async def send(
            provider: Provider, target: Target, headers: dict[str, str] | None, settings: Any
        ) -> tuple[StartedStream, Continuation]:
            prefill = target.prefill and provider.accepts_prefill(target.model)
            call = prefill_call(self.call, delivered, {}) if prefill else None
            try:
                try:
                    started = await dispatcher.start_stream(provider, call or self.call, target, headers, settings)
                except UpstreamStatusError as exc:
                    if call is None or not _refused(exc):
                        raise
                    # The model refused the prefill (Claude 4.6 and later do, and a table can be wrong): the
                    # same target regenerates instead, within this attempt, rather than losing the target.
                    call = None
                    started = await dispatcher.start_stream(provider, self.call, target, headers, settings)
            except UpstreamError as exc:
                exc.retryable = True  # a rejected recovery (say, of the prefill) moves on: never the end
                raise
            except UnsupportedFeatureError as exc:  # this target's provider cannot continue it; another may
                rejected = UpstreamStatusError(400, exc.message, provider=provider.name, code=exc.code)
                rejected.retryable = True
                raise rejected from None
            return started, Continuation(stream_id, skip="" if call else delivered)

        exclude = frozenset(a.target for a in self.exchange.attempts if a.outcome == "error")
        try:
            outcome = await dispatcher.run(
                self.exchange, self.route, self.control, send, exclude=exclude, max_attempts=budget
            )
        except UpstreamError:
            return None
        started, transform = outcome.result
        return Outcome(started, outcome.attempt, outcome.target), transform

    def _error_body(self, error: UpstreamError) -> dict[str, Any]:
        body = error.to_body()
        message = f"{error.message} (the answer was cut after {len(''.join(self.delivered))} characters"
        message += " and could not be resumed on another target)"
        body["error"]["message"] = scrub(message, self.secrets)
        return body


def _refused(error: UpstreamStatusError) -> bool:
    """A 4xx about the request itself (not 408/409/429): a prefill the model does not take, typically."""
    return error.status in (400, 422) and error.reason is None


def _diverged(provider: str) -> UpstreamProtocolError:
    error = UpstreamProtocolError(
        f"provider {provider} regenerated a different answer than the one already sent", provider=provider
    )
    error.retryable = False  # a different answer is no failure of the target: its health is left alone
    return error
