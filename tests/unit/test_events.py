"""events.Fanout: every observer told, in order; a hook only one observer has is that one's own method."""

from __future__ import annotations

from gateway.events import Attempt, Exchange, Fanout, Observer


class Headers(Observer):
    def __init__(self, name: str, told: list[str]) -> None:
        self.name, self.told = name, told

    def attempt_started(self, exchange: Exchange, attempt: Attempt) -> dict[str, str] | None:
        self.told.append(self.name)
        return {self.name: "1"}

    def request_finished(self, exchange: Exchange) -> None:
        self.told.append(self.name)


class OnlyRefusals(Observer):
    def __init__(self) -> None:
        self.reasons: list[str] = []

    def request_refused(self, reason: str, key_name: str | None, route: str | None) -> None:
        self.reasons.append(reason)


def test_every_observer_is_told_in_order_and_their_headers_merge() -> None:
    told: list[str] = []
    fanout = Fanout(Headers("a", told), Headers("b", told), Observer())
    exchange = Exchange("id", "chat")
    headers = fanout.attempt_started(exchange, Attempt(1, "r", "p", "openai", "m"))
    assert headers == {"a": "1", "b": "1"} and told == ["a", "b"]
    fanout.request_finished(exchange)
    assert told == ["a", "b", "a", "b"]


def test_a_hook_only_one_observer_has_is_bound_directly_and_the_others_stay_no_ops() -> None:
    refusals = OnlyRefusals()
    fanout = Fanout(Observer(), refusals)
    assert fanout.request_refused == refusals.request_refused  # no loop on the request path
    fanout.request_refused("rpm", None, None)
    assert refusals.reasons == ["rpm"]
    assert fanout.attempt_started(Exchange("id", "chat"), Attempt(1, "r", "p", "openai", "m")) is None


def test_a_forwarding_observer_counts_as_having_the_hook() -> None:
    refusals = OnlyRefusals()
    inner = Fanout(refusals)  # forwards request_refused as an instance attribute, like access.gate.Accounting
    outer = Fanout(inner, OnlyRefusals())
    outer.request_refused("tpm", None, None)
    assert refusals.reasons == ["tpm"]
