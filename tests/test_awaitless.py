"""``async def`` handlers with no ``await`` run as plain ones: answered on the spot, no task.

An ``async def`` handler that cannot suspend (no ``await``, ``async for`` or
``async with`` in its body) is called through a plain twin (``_awaitless``): on a
live connection its CALL is answered inside ``feed`` as a plain handler's is, and a
station sees the same frames as from the same handler run as a task (the general
path, whose own ``invoke_handler`` keeps every CALL off the compiled path and awaits
the coroutine in a task).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import functools
from collections.abc import Awaitable, Callable
from types import ModuleType
from typing import Any

import msgspec
import pytest
from test_fastpath import TWINS

from ocpp_fast import errors, v201
from ocpp_fast._awaitless import never_suspends
from ocpp_fast._fastpath import fast_routes
from ocpp_fast.aio import AsyncConnection
from ocpp_fast.dispatch import CallContext, Route
from ocpp_fast.frames import Call
from ocpp_fast.v201 import messages

pytestmark = pytest.mark.usefixtures("dispatch_twin")  # handle and feed: both twins

NOW = datetime.datetime(2026, 12, 2, 12, tzinfo=datetime.UTC)
ACCEPTED = v201.enums.DataTransferStatusEnumType.ACCEPTED


class Csms(v201.ChargeSystem):
    """Handlers written ``async def`` by habit: none awaits."""

    def __init__(self) -> None:
        self.contexts: list[tuple[str, str, bool]] = []

    async def heartbeat(self, request: messages.HeartbeatRequest) -> messages.HeartbeatResponse:
        return messages.HeartbeatResponse(current_time=NOW)

    async def data_transfer(
        self, request: messages.DataTransferRequest, context: CallContext
    ) -> messages.DataTransferResponse:
        self.contexts.append(
            (
                context.identity,
                context.message_id,
                isinstance(context.connection, AsyncConnection),
            )
        )
        if request.vendor_id == "refuse":
            raise errors.SecurityError("not you")
        if request.vendor_id == "crash":
            raise ValueError("a bug")
        if request.vendor_id == "wrong":
            return messages.HeartbeatResponse(current_time=NOW)  # type: ignore[return-value]
        return messages.DataTransferResponse(status=ACCEPTED)


class AsTasks(Csms):
    """The same handlers, each awaited in a task as every async handler was (its own
    ``invoke_handler`` takes the general path, which awaits what the handler returns)."""

    def invoke_handler(self, route: Route | None, call: Call, identity: str, peer: Any) -> Any:
        if route is not None and route.method in ("heartbeat", "data_transfer"):
            method = getattr(self, route.method)  # the async def itself, not its twin
            if route.wants_context:
                return method(call.payload, CallContext(identity, call.message_id, peer))
            return method(call.payload)
        return super().invoke_handler(route, call, identity, peer)


def data_transfer(vendor: str, message_id: str = "d1") -> bytes:
    return msgspec.json.encode([2, message_id, "DataTransfer", {"vendorId": vendor}])


FRAMES: list[bytes] = [
    b'[2,"h1","Heartbeat",{}]',
    data_transfer("V", "d1"),
    data_transfer("refuse", "d2"),
    data_transfer("crash", "d3"),
    data_transfer("wrong", "d4"),
]


def live(handler: Csms) -> tuple[list[list[bytes]], list[int], Csms]:
    """Feed each frame; what was written within each ``feed``, and the tasks the loop had
    then beyond this test's own."""

    async def main() -> tuple[list[list[bytes]], list[int]]:
        written: list[bytes] = []
        connection = AsyncConnection(handler, write=written.append, identity="CS1")
        at_once: list[list[bytes]] = []
        tasks: list[int] = []
        for frame in FRAMES:
            before = len(written)
            connection.feed(frame)
            at_once.append(written[before:])
            tasks.append(len(asyncio.all_tasks()) - 1)
            while connection.handling:
                await asyncio.sleep(0)
        await connection.drain(5)
        return [[*chunk] for chunk in at_once] + [written], tasks

    answers, tasks = asyncio.run(main())
    return answers, tasks, handler


def test_a_handler_without_await_is_answered_inside_feed_with_no_task() -> None:
    answers, tasks, _ = live(Csms())
    assert all(len(chunk) == 1 for chunk in answers[:-1])  # each answered before feed returned
    assert tasks == [0] * len(FRAMES)


def test_the_station_sees_what_the_same_handlers_as_tasks_send() -> None:
    at_once, _, csms = live(Csms())
    as_tasks, tasks_as_tasks, general = live(AsTasks())
    assert at_once[-1] == as_tasks[-1]  # every frame written, in the same order
    assert tasks_as_tasks[0] == 1  # the general path did run them as tasks
    replies = [msgspec.json.decode(frame)[:3] for frame in at_once[-1]]
    assert replies[:2] == [
        [3, "h1", {"currentTime": "2026-12-02T12:00:00Z"}],
        [3, "d1", {"status": "Accepted"}],
    ]
    assert [r[2] for r in replies[2:]] == ["SecurityError", "InternalError", "InternalError"]
    assert csms.contexts == general.contexts == [("CS1", f"d{i}", True) for i in range(1, 5)]


@pytest.mark.parametrize("twin", TWINS, ids=[t.IMPLEMENTATION for t in TWINS])
def test_both_twins_of_the_compiled_path_answer_it(twin: ModuleType) -> None:
    fast = twin.FastDispatch(Csms(), fast_routes(Csms), CallContext)
    assert fast.answer(b'[2,"h1","Heartbeat",{}]', "CS1") == (
        b'[3,"h1",{"currentTime":"2026-12-02T12:00:00Z"}]'
    )
    assert Csms().handle(data_transfer("V")) == b'[3,"d1",{"status":"Accepted"}]'
    refused = Csms().handle(data_transfer("refuse"))
    assert refused is not None and msgspec.json.decode(refused)[2] == "SecurityError"


def test_the_route_keeps_the_method_name_and_says_it_is_not_async() -> None:
    route = Csms._routes["Heartbeat"]
    assert (route.method, route.is_async) == ("heartbeat", False)
    assert route.calls != route.method
    assert asyncio.iscoroutinefunction(Csms.heartbeat)  # the user's method is untouched


async def _later() -> None:
    await asyncio.sleep(0)


async def _awaits(self: Any, request: Any) -> Any:
    await _later()


async def _async_with(self: Any, request: Any) -> Any:
    async with contextlib.AsyncExitStack():
        return None


async def _async_for(self: Any, request: Any) -> Any:
    async def numbers() -> Any:
        yield 1

    async for _ in numbers():
        pass


async def _async_comprehension(self: Any, request: Any) -> Any:
    async def numbers() -> Any:
        yield 1

    return [n async for n in numbers()]


async def _no_await(self: Any, request: Any) -> Any:
    return [n for n in range(3)]


def _plain(self: Any, request: Any) -> Any:
    return None


def _wrapped(
    function: Callable[[Any, Any], Awaitable[Any]],
) -> Callable[[Any, Any], Awaitable[Any]]:
    @functools.wraps(function)
    async def wrapper(self: Any, request: Any) -> Any:
        return await function(self, request)

    return wrapper


@pytest.mark.parametrize(
    ("function", "expected"),
    [
        (_no_await, True),
        (_awaits, False),
        (_async_with, False),
        (_async_for, False),
        (_async_comprehension, False),
        (_plain, False),
        (_wrapped(_no_await), False),  # its wrapper awaits: it keeps its task
        (functools.partial(_no_await, None), False),
    ],
)
def test_only_a_body_that_cannot_suspend_runs_at_once(function: Any, expected: bool) -> None:
    assert never_suspends(function) is expected


LATER = datetime.datetime(2027, 1, 1, tzinfo=datetime.UTC)


@pytest.mark.parametrize("twin", TWINS, ids=[t.IMPLEMENTATION for t in TWINS])
@pytest.mark.parametrize("kind", ["plain", "async"])
def test_a_handler_set_on_the_instance_is_the_one_called(
    twin: ModuleType, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A test replacing a handler on its instance (``monkeypatch.setattr(csms, "heartbeat",
    fake)``) has its fake called, as for a plain handler: a coroutine it returns is awaited."""
    csms = Csms()
    got: list[Any] = []

    def fake(request: messages.HeartbeatRequest) -> messages.HeartbeatResponse:
        got.append(request)
        return messages.HeartbeatResponse(current_time=LATER)

    async def fake_async(request: messages.HeartbeatRequest) -> messages.HeartbeatResponse:
        await asyncio.sleep(0)
        return fake(request)

    monkeypatch.setattr(csms, "heartbeat", fake if kind == "plain" else fake_async)
    monkeypatch.setattr("ocpp_fast.dispatch.fast_dispatch_class", lambda: twin.FastDispatch)
    later = b'[3,"h1",{"currentTime":"2027-01-01T00:00:00Z"}]'

    async def main() -> list[bytes]:
        written: list[bytes] = []
        connection = AsyncConnection(csms, write=written.append, identity="CS1")
        connection.feed(b'[2,"h1","Heartbeat",{}]')
        await connection.drain(5)
        return written

    assert asyncio.run(main()) == [later]
    if kind == "plain":
        assert csms.handle(b'[2,"h1","Heartbeat",{}]') == later
    assert got == [messages.HeartbeatRequest()] * (2 if kind == "plain" else 1)
