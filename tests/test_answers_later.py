"""Handlers that answer later (``dispatch.answers_later``): a plain handler returning a future.

The connection calls it without a task and answers from the future's completion: its
result, the error it holds, nothing when it was cancelled (``stop``); it counts against
the connection's bound on CALLs in flight as an async handler does, and ``drain``
waits for it. Both codec implementations (the ``impl`` fixture). ``run_now`` (the
cluster's task-less publish) runs a coroutine to its end, or the rest in a task.
"""

from __future__ import annotations

import asyncio
import datetime
from types import ModuleType
from typing import Any

import pytest

from ocpp_fast import errors
from ocpp_fast.aio import CALLS_IN_FLIGHT, connect_in_memory
from ocpp_fast.cluster._replies import run_now
from ocpp_fast.dispatch import answers_later
from ocpp_fast.v201 import Charger, ChargeSystem, enums, messages

HEARTBEAT = messages.HeartbeatRequest()
NOW = datetime.datetime(2026, 12, 2, tzinfo=datetime.UTC)


class Later(ChargeSystem):
    """Heartbeats answered when the test completes their futures."""

    def __init__(self) -> None:
        self.pending: list[asyncio.Future[Any]] = []

    @answers_later
    def heartbeat(self, request: messages.HeartbeatRequest) -> Any:
        future = asyncio.get_running_loop().create_future()
        self.pending.append(future)
        return future


async def until(condition: Any) -> None:
    async with asyncio.timeout(2):
        while not condition():
            await asyncio.sleep(0)


def test_the_route_is_bounded_as_an_async_one() -> None:
    route = Later._routes["Heartbeat"]
    assert route.answers_later and route.is_async and not route.wants_context


def test_answered_from_the_future_result_error_or_not_at_all(impl: ModuleType) -> None:
    async def scenario() -> None:
        csms = Later()
        station, server = connect_in_memory(Charger(), csms)
        first = asyncio.ensure_future(station.call(HEARTBEAT, timeout=2))
        await until(lambda: len(csms.pending) == 1)
        assert not first.done() and server.handling == 1
        now = messages.HeartbeatResponse(current_time=NOW)
        csms.pending[0].set_result(now)
        assert await first == now
        second = asyncio.ensure_future(station.call(HEARTBEAT, timeout=2))
        await until(lambda: len(csms.pending) == 2)
        csms.pending[1].set_exception(errors.SecurityError("no"))
        with pytest.raises(errors.SecurityError):
            await second
        third = asyncio.ensure_future(station.call(HEARTBEAT, timeout=0.3))
        await until(lambda: len(csms.pending) == 3)
        server.stop()  # cancels the future: nothing is answered
        await asyncio.sleep(0)  # its callbacks run
        assert csms.pending[2].cancelled() and server.handling == 0
        with pytest.raises(TimeoutError):
            await third

    asyncio.run(scenario())


def test_the_bound_and_drain(impl: ModuleType) -> None:
    """More CALLs at once than the bound: CALLS_IN_FLIGHT handlers called, the rest wait in
    the backlog (reading paused); each answer lets the next one in; ``drain`` waits."""

    async def scenario() -> None:
        csms = Later()
        _, server = connect_in_memory(Charger(), csms)
        # a station sends one CALL at a time: these overlap, as a misbehaving station's would
        for n in range(CALLS_IN_FLIGHT + 2):
            server.feed(b'[2,"x%d","Heartbeat",{}]' % n)
        await until(lambda: len(csms.pending) == CALLS_IN_FLIGHT)
        await asyncio.sleep(0.05)
        assert len(csms.pending) == CALLS_IN_FLIGHT and server.waiting == 2
        draining = asyncio.ensure_future(server.drain(timeout=2))
        for answered in range(CALLS_IN_FLIGHT + 2):
            await until(lambda n=answered: len(csms.pending) > n)
            assert not draining.done()
            csms.pending[answered].set_result(messages.HeartbeatResponse(current_time=NOW))
            await asyncio.sleep(0)
            assert len(csms.pending) - answered - 1 <= CALLS_IN_FLIGHT
        assert await draining and server.waiting == 0 and server.handling == 0

    asyncio.run(scenario())


def test_a_handler_that_raises_at_once_or_returns_no_awaitable(impl: ModuleType) -> None:
    class Broken(ChargeSystem):
        @answers_later
        def heartbeat(self, request: messages.HeartbeatRequest) -> Any:
            raise errors.SecurityError("at once")

        @answers_later
        def status_notification(self, request: Any) -> Any:
            return messages.StatusNotificationResponse()  # not a future: a bug, InternalError

    async def scenario() -> None:
        station, server = connect_in_memory(Charger(), Broken())
        with pytest.raises(errors.SecurityError):
            await station.call(HEARTBEAT, timeout=2)
        status = messages.StatusNotificationRequest(
            timestamp=NOW,
            connector_status=enums.ConnectorStatusEnumType.AVAILABLE,
            evse_id=1,
            connector_id=1,
        )
        with pytest.raises(errors.InternalError):
            await station.call(status, timeout=2)
        assert server.handling == 0

    asyncio.run(scenario())


def test_run_now_runs_to_the_end_or_hands_the_rest_to_a_task() -> None:
    async def scenario() -> None:
        done: list[str] = []

        async def at_once() -> None:
            done.append("at once")

        gate = asyncio.get_running_loop().create_future()

        async def suspends() -> None:
            done.append("before")
            done.append(await gate)
            await asyncio.sleep(0)
            done.append("after")

        async def fails() -> None:
            raise ValueError("at once")

        assert run_now(at_once()) is None and done == ["at once"]
        rest = run_now(suspends())
        assert rest is not None and done == ["at once", "before"]
        gate.set_result("woken")
        await rest
        assert done == ["at once", "before", "woken", "after"]
        with pytest.raises(ValueError):
            run_now(fails())

    asyncio.run(scenario())
