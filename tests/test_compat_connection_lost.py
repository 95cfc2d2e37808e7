"""The station's connection closes while an ``@on`` handler of the drop-in awaits something
that never comes (a store that hangs): ``start()`` ends all the same, over a real socket.

When reading fails, the drop-in's ``start()`` lets the handlers of the CALLs it read end (their
answers sent or failed) before the connection's exception leaves, as ``ocpp``'s does (it reads
only once its handler is done). That wait had no bound: a handler that never ends kept
``start()`` from ending, the backend awaiting it (to forget the station) waiting forever, and
a ``start()`` cancelled during that wait ended at once with the handler never cancelled. It is
now bounded by ``handler_grace``, as a cancelled ``start()``'s wait is (the handler left
running, a WARNING naming the CALLs left, by action and message id, five at most), and a
cancel during it cancels the handlers [connection_lost_under_a_handler_that_never_ends].
``ocpp`` 2.1.0, the oracle, is inside the handler when the connection closes: its ``start()``
never ends, and a cancel reaches the handler [ocpps_start_stays_in_the_handler]; the bound is
a documented difference (docs/explanation/compat-differences.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import ocpp.v16
import pytest
from compat_pair import ocpp_validating_inline
from ocpp.routing import on
from ocpp.v16.enums import Action
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from ocpp_fast.compat import v16
from ocpp_fast.compat._reading import frame_named

GUARD = 5.0
"""Seconds ``start()`` is given to end: a guard against a hang, not a speed figure."""


@pytest.fixture(autouse=True)
def _inline_validation() -> Iterator[None]:
    with ocpp_validating_inline():
        yield


def backend(base: type[Any], grace: float) -> type[Any]:
    """A 1.6 CSMS on ``base`` whose Heartbeat handler awaits a store that never answers,
    saying when it begins (``entered``) and when a cancel reaches it (``cancelled``)."""

    class Csms(base):  # type: ignore[misc]
        handler_grace = grace
        max_concurrent_calls = 8  # the drop-in's: every CALL of a test read (ocpp reads one)
        entered: asyncio.Event
        cancelled: asyncio.Event

        @on(Action.heartbeat)  # type: ignore[untyped-decorator]
        async def on_heartbeat(self) -> Any:
            self.entered.set()
            try:
                await asyncio.Event().wait()  # the store that hangs
            except asyncio.CancelledError:
                self.cancelled.set()
                raise

    return Csms


async def lost_under_the_handler(
    base: type[Any],
    grace: float,
    then: Callable[[Any, asyncio.Task[None]], Awaitable[None]],
    calls: int = 1,
) -> Any:
    """A station sends ``calls`` Heartbeats (``h1``, ``h2``...) and closes its connection once
    the first one's handler awaits (the others waiting their turn); ``then(point, reading)``
    runs on the server once the connection is closed, ``reading`` the task of ``start()``.
    Returns the ChargePoint, its handler cancelled afterwards."""
    points: list[Any] = []
    closed = asyncio.Event()
    ended = asyncio.Event()

    async def on_connect(websocket: ServerConnection) -> None:
        point = backend(base, grace)("CP1", websocket, 2)
        point.entered, point.cancelled = asyncio.Event(), asyncio.Event()
        points.append(point)
        reading = asyncio.create_task(point.start())
        try:
            await closed.wait()
            await then(point, reading)
        finally:
            reading.cancel()
            ended.set()

    async with serve(on_connect, "127.0.0.1", 0, subprotocols=["ocpp1.6"]) as server:  # type: ignore[list-item]
        url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/CP1"
        async with connect(url, subprotocols=["ocpp1.6"]) as station:  # type: ignore[list-item]
            for number in range(1, calls + 1):
                await station.send(f'[2,"h{number}","Heartbeat",{{}}]')
            while not points:
                await asyncio.sleep(0.01)
            await asyncio.wait_for(points[0].entered.wait(), GUARD)
        closed.set()
        await asyncio.wait_for(ended.wait(), GUARD * 3)
    for task in asyncio.all_tasks() - {asyncio.current_task()}:
        task.cancel()  # the handler left running
    return points[0]


@pytest.mark.parametrize(
    ("calls", "named"),
    [
        (1, "Heartbeat h1"),
        (7, "Heartbeat h1, Heartbeat h2, Heartbeat h3, Heartbeat h4, Heartbeat h5 and 2 more"),
    ],
)
def test_start_ends_after_handler_grace_when_the_connection_fails_under_a_handler(
    calls: int, named: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The connection's exception leaves ``start()`` once ``handler_grace`` is over (not
    cancelled: the handler may still send its answer), the handler left running, a WARNING
    saying so and naming the CALLs left (the one handled, then those waiting their turn, in
    the order read: the first five, the rest counted); before, ``start()`` waited for the
    handler for ever, and the line only counted them."""
    outcome: list[str] = []

    async def then(point: Any, reading: asyncio.Task[None]) -> None:
        try:
            await asyncio.wait_for(asyncio.shield(reading), GUARD)
        except ConnectionClosed:
            outcome.append("ConnectionClosed")
        except TimeoutError:
            outcome.append(f"start() still running after {GUARD} s")
        outcome.append("handler cancelled" if point.cancelled.is_set() else "handler running")

    with caplog.at_level(logging.WARNING, logger="ocpp"):
        asyncio.run(lost_under_the_handler(v16.ChargePoint, 0.1, then, calls))
    assert outcome == ["ConnectionClosed", "handler running"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        f"CP1: {calls} handler(s) still running 0.1 s after the connection failed: {named}; "
        "start() stops anyway, leaving them running; bound what the handler awaits"
    ]


async def stopped_reading(point: Any, reading: asyncio.Task[None]) -> None:
    """Until ``start()`` has seen the connection fail (the drop-in: its run stopped reading;
    ``ocpp``'s reads nothing while its handler runs, so it never does)."""
    while isinstance(point, v16.ChargePoint) and point._fast_run is not None:
        assert not reading.done()
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("base", [v16.ChargePoint, ocpp.v16.ChargePoint], ids=["ours", "ocpp"])
def test_start_cancelled_while_waiting_for_handlers_cancels_them(base: type[Any]) -> None:
    """Cancelled while it waits for the handler of a connection that failed, ``start()``
    cancels that handler, as ``ocpp``'s cancel reaches the handler it is in; before, the
    drop-in's ``start()`` ended and left the handler running."""
    outcome: list[str] = []

    async def then(point: Any, reading: asyncio.Task[None]) -> None:
        await stopped_reading(point, reading)
        reading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(reading, GUARD)
        outcome.append("cancelled" if reading.cancelled() else "not cancelled")
        await asyncio.wait_for(point.cancelled.wait(), GUARD)
        outcome.append("handler cancelled")

    asyncio.run(lost_under_the_handler(base, 60, then))
    assert outcome == ["cancelled", "handler cancelled"]


def test_ocpps_start_stays_in_the_handler() -> None:
    """``ocpp`` 2.1.0 reads the connection only once its handler returned: closed under a
    handler that never does, its ``start()`` never ends (given as long as the drop-in's
    ``handler_grace`` of the test above, and more)."""
    outcome: list[str] = []

    async def then(point: Any, reading: asyncio.Task[None]) -> None:
        await asyncio.wait({reading}, timeout=0.5)  # it would not end later
        outcome.append("ended" if reading.done() else "still running")

    asyncio.run(lost_under_the_handler(ocpp.v16.ChargePoint, 0.1, then))
    assert outcome == ["still running"]


def test_frames_are_named_as_the_warning_shows_them() -> None:
    """The WARNING names a frame by what an operator finds in the station's log: a CALL's (or
    SEND's) action and id, a response by its kind; the station's text escaped and cut, an id
    that is no string as JSON; a frame no reader makes out is not named (the line counts it)."""
    assert frame_named('[2,"h1","Heartbeat",{}]') == ("Heartbeat", "h1")
    assert frame_named(b'[6,"s1","NotifyPeriodicEventStream",{}]') == (
        "NotifyPeriodicEventStream",
        "s1",
    )
    assert frame_named('[3,"r1",{}]') == ("CALLRESULT", "r1")
    assert frame_named('[4,"r2","GenericError","",{}]') == ("CALLERROR", "r2")
    assert frame_named('[2.0,7,"Heartbeat",{}]') == ("Heartbeat", "7")  # as an override repairs
    assert frame_named('[2,"h2","Heart\\nbeat' + "x" * 100 + '",{}]') == (
        "Heart\\nbeat" + "x" * 54,  # 64 characters of its own, the line break escaped
        "h2",
    )
    for unnamed in ("[2,", "{}", '[2,"h3"]', '[2,"h4",5,{}]', '[7,"h5",{}]', '["2","h6","A",{}]'):
        assert frame_named(unnamed) is None
