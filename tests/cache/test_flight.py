"""Single flight (gateway/cache/flight.py): one call per key, shared by everyone who asked meanwhile."""

from __future__ import annotations

import asyncio

import pytest

from gateway.cache import replay
from gateway.cache.flight import Flight, Flights, State
from gateway.errors import GatewayError, UpstreamTimeoutError
from gateway.events import Exchange


def exchange() -> Exchange:
    return Exchange("req", "chat")


async def collect(flight: Flight, include_usage: bool = False) -> bytes:
    return b"".join([part async for part in flight.relay(include_usage)])


async def test_joiners_share_one_call_and_its_answer() -> None:
    flights, calls, release = Flights(), [], asyncio.Event()

    async def fly(flight: Flight) -> None:
        calls.append(flight.key)
        await release.wait()
        flight.finish("p", b'{"ok": true}')

    joined = [flights.join("k", exchange(), fly) for _ in range(5)]
    assert [leader for _, leader in joined] == [True, False, False, False, False]
    flight = joined[0][0]
    assert all(f is flight for f, _ in joined) and flight.subscribers == 5
    release.set()
    await flight.wait(lambda: flight.over)
    assert calls == ["k"] and flight.complete_body() == b'{"ok": true}'
    await asyncio.sleep(0)
    assert "k" not in flights.active  # the next request for the key starts afresh (or hits the store)


async def test_a_failed_call_gives_every_subscriber_its_error() -> None:
    flights = Flights()

    async def fly(flight: Flight) -> None:
        await asyncio.sleep(0)
        flight.fail(UpstreamTimeoutError("too slow", provider="p"))

    flight, _ = flights.join("k", exchange(), fly)
    flights.join("k", exchange(), fly)
    await flight.wait(lambda: flight.over)
    for _ in range(2):
        with pytest.raises(UpstreamTimeoutError, match="too slow"):
            flight.outcome()


async def test_a_bug_in_the_call_fails_the_flight_rather_than_hanging_it() -> None:
    flights = Flights()

    async def fly(flight: Flight) -> None:
        raise RuntimeError("bug")

    flight, _ = flights.join("k", exchange(), fly)
    await flight.wait(lambda: flight.over)
    assert flight.state is State.FAILED
    with pytest.raises(GatewayError, match="internal error"):
        flight.outcome()


async def test_the_call_is_cancelled_only_when_the_last_subscriber_leaves() -> None:
    flights, cancelled = Flights(), asyncio.Event()

    async def fly(flight: Flight) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    flight, _ = flights.join("k", exchange(), fly)
    flights.join("k", exchange(), fly)
    await asyncio.sleep(0)
    flights.leave(flight)  # the leader's client went away: the follower still waits
    await asyncio.sleep(0)
    assert not cancelled.is_set() and flight.state is State.WAITING
    flights.leave(flight)
    await asyncio.wait_for(cancelled.wait(), 5)
    await asyncio.sleep(0)
    assert flight.state is State.ABANDONED and "k" not in flights.active
    again, leader = flights.join("k", exchange(), fly)  # a new request: a new call
    assert leader and again is not flight
    flights.leave(again)


async def test_stream_subscribers_get_pieces_as_they_arrive_from_the_start() -> None:
    flights, step = Flights(), asyncio.Queue[bytes | None]()

    async def fly(flight: Flight) -> None:
        flight.start("p", reports=False)
        assert flight.pieces is not None
        while (payload := await step.get()) is not None:
            kind = replay.DONE if payload == b"[DONE]" else replay.CHUNK
            if kind == replay.DONE:
                flight.usage = {"total_tokens": 3}
            flight.pieces.append((payload, kind))
            flight.notify()
        flight.finish("p", b"{}")

    flight, _ = flights.join("k", exchange(), fly)
    await step.put(b'{"n": 1}')
    early = asyncio.ensure_future(collect(flight))
    await asyncio.sleep(0.01)
    late = asyncio.ensure_future(collect(flight, include_usage=True))
    await step.put(b'{"n": 2}')
    await step.put(b"[DONE]")
    await step.put(None)
    expected = b'data: {"n": 1}\n\ndata: {"n": 2}\n\ndata: [DONE]\n\n'
    assert await early == expected
    assert (await late).endswith(b'"choices":[],"usage":{"total_tokens":3}}\n\ndata: [DONE]\n\n')


async def test_a_stream_that_stops_without_done_never_looks_complete() -> None:
    flights = Flights()

    async def fly(flight: Flight) -> None:
        flight.start("p", reports=False)
        assert flight.pieces is not None
        flight.pieces.append((b'{"n": 1}', replay.CHUNK))
        raise RuntimeError("bug mid-stream")

    flight, _ = flights.join("k", exchange(), fly)
    body = await collect(flight)
    assert body.startswith(b'data: {"n": 1}\n\n') and b'"error"' in body and b"[DONE]" not in body
    with pytest.raises(GatewayError):
        flight.complete_body()


async def test_without_coalescing_each_request_makes_its_own_call() -> None:
    flights, calls = Flights(), []

    async def fly(flight: Flight) -> None:
        calls.append(1)
        flight.finish("p", b"{}")

    one, _ = flights.join("k", exchange(), fly, coalesce=False)
    two, leader = flights.join("k", exchange(), fly, coalesce=False)
    assert leader and one is not two
    await two.wait(lambda: two.over)
    await one.wait(lambda: one.over)
    assert calls == [1, 1]
