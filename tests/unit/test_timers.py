"""gateway/timers.py: the request path's timers on one loop timer, and `deadline` as `asyncio.timeout`."""

from __future__ import annotations

import asyncio

import pytest
import uvloop

from gateway.timers import Timers


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    return asyncio.run if request.param == "asyncio" else uvloop.run


def test_timers_fire_in_time_order_and_a_cancelled_one_never(run) -> None:  # type: ignore[no-untyped-def]
    async def scenario() -> list[str]:
        timers = Timers(asyncio.get_running_loop())
        fired: list[str] = []
        now = timers.loop.time()
        timers.call_at(now + 0.06, lambda: fired.append("c"))
        timers.call_at(now + 0.02, lambda: fired.append("a"))  # earlier than the armed one: re-armed for it
        gone = timers.call_at(now + 0.03, lambda: fired.append("never"))
        timers.call_at(now + 0.04, lambda: fired.append("b"))
        timers.cancel(gone)
        await asyncio.sleep(0.03)
        assert fired == ["a"]
        await asyncio.sleep(0.08)
        return fired

    assert run(scenario()) == ["a", "b", "c"]


def test_cancelled_timers_do_not_pile_up(run) -> None:  # type: ignore[no-untyped-def]
    async def scenario() -> int:
        timers = Timers(asyncio.get_running_loop())
        now = timers.loop.time()
        for i in range(10_000):  # a busy gateway: each request's timer set and cancelled long before it is due
            timers.cancel(timers.call_at(now + 600 + i, lambda: None))
        return len(timers._heap)

    assert run(scenario()) <= 64 + 2


def test_a_deadline_that_passes_raises_timeout_error_and_the_task_goes_on(run) -> None:  # type: ignore[no-untyped-def]
    async def scenario() -> str:
        timers = Timers(asyncio.get_running_loop())
        with pytest.raises(TimeoutError):
            with timers.deadline(0.02):
                await asyncio.sleep(5)
        task = asyncio.current_task()
        assert task is not None and task.cancelling() == 0  # its own cancellation taken back, as asyncio.timeout
        await asyncio.sleep(0)  # not cancelled again
        with timers.deadline(5):
            await asyncio.sleep(0.01)  # in time: nothing raised
        return "went on"

    assert run(scenario()) == "went on"


def test_a_deadline_does_not_swallow_a_cancellation_of_its_own(run) -> None:  # type: ignore[no-untyped-def]
    async def scenario() -> None:
        timers = Timers(asyncio.get_running_loop())

        async def bounded() -> None:
            with timers.deadline(5):
                await asyncio.sleep(5)

        task = asyncio.get_running_loop().create_task(bounded())
        await asyncio.sleep(0.01)
        task.cancel()  # the server stops, say: the task is cancelled, not timed out
        with pytest.raises(asyncio.CancelledError):
            await task

    run(scenario())


def test_nested_deadlines_each_raise_for_their_own(run) -> None:  # type: ignore[no-untyped-def]
    async def scenario() -> list[str]:
        timers = Timers(asyncio.get_running_loop())
        seen: list[str] = []
        try:
            with timers.deadline(0.2):
                try:
                    with timers.deadline(0.02):  # the shorter, inner one (a first-token limit in an attempt)
                        await asyncio.sleep(5)
                except TimeoutError:
                    seen.append("inner")
                await asyncio.sleep(5)
        except TimeoutError:
            seen.append("outer")
        return seen

    assert run(scenario()) == ["inner", "outer"]


def test_a_deadline_outside_a_task_is_refused() -> None:
    timers = Timers(asyncio.new_event_loop())
    with pytest.raises(RuntimeError):  # (no running loop, no task)
        with timers.deadline(1):
            pass
    timers.loop.close()


def test_current_task_is_asyncios(run) -> None:  # type: ignore[no-untyped-def]
    """`timers.current_task(loop)` (a C lookup on 3.11) names the task asyncio names, and none outside one."""
    from gateway.timers import current_task

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        assert current_task(loop) is asyncio.current_task()
        other = loop.create_task(asyncio.sleep(0, result=None))
        found = await asyncio.create_task(_current(loop))
        assert found is not None and found is not asyncio.current_task()
        await other
        assert current_task(loop) is asyncio.current_task()

    async def _current(loop: asyncio.AbstractEventLoop) -> asyncio.Task[object] | None:
        return current_task(loop)

    run(scenario())
    idle = asyncio.new_event_loop()
    try:
        assert current_task(idle) is None
    finally:
        idle.close()
