"""A ``route_message`` override that catches the cancel of ``start()`` and awaits on no longer
keeps the drop-in's ``start()`` for ever, over a real socket.

Backends built on ``ocpp`` override ``route_message`` (to log or journal every frame) and call
``super().route_message(...)`` inside a ``try/except BaseException``. ``start()`` routes a
frame that is no CALL (a response, a malformed frame, a 2.1 SEND) in its own task, so a cancel
of ``start()`` (the server closing the connection) that arrives while the override awaits (the
call a response answers, looked up in a store) is thrown into the override. One that catches
it and awaits on (its ``except`` writes the frame to a journal that never answers) kept the
drop-in's ``start()`` waiting as long as it awaits: for ever, the backend that cancelled it
waiting too. It now goes on in a task of its own, given ``handler_grace`` seconds, then is left
running, a WARNING naming the frame, and ``start()`` raises ``CancelledError``
[start_ends_after_handler_grace_when_route_message_awaits_on]. An override that behaves (its
journal written at once, then the cancel let through, or its ``except`` returning) is waited
for and ends ``start()`` as before [an_override_that_ends_is_waited_for]. ``ocpp`` 2.1.0, the
oracle, stays in the override: its ``start()`` never ends [ocpps_start_stays_in_route_message];
the bound is a documented difference (docs/explanation/compat-differences.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import ocpp.v16
import pytest
from compat_pair import ocpp_validating_inline
from ocpp.v16 import call
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

from ocpp_fast.compat import v16

GUARD = 5.0
"""Seconds ``start()`` is given to end: a guard against a hang, not a speed figure."""


@pytest.fixture(autouse=True)
def _inline_validation() -> Iterator[None]:
    with ocpp_validating_inline():
        yield


def backend(base: type[Any], journal: str) -> type[Any]:
    """A 1.6 CSMS on ``base`` whose ``route_message`` looks up the call a response answers in
    a store that never answers (until cancelled), inside an ``except BaseException`` that
    journals the frame it could not route: a journal that never answers (``"hangs"``), or one
    written at once, the override then letting the cancel through (``"raises"``) or returning
    (``"returns"``)."""

    class Csms(base):  # type: ignore[misc]
        handler_grace = 0.1
        looking_up: asyncio.Event
        journalled: list[str]

        async def route_message(self, raw_msg: str) -> None:
            try:
                if raw_msg.startswith("[3"):
                    self.looking_up.set()
                    await asyncio.Event().wait()  # the store that hangs
                await super().route_message(raw_msg)
            except BaseException:  # the backend's bug: the cancel caught too
                if journal == "hangs":
                    await asyncio.Event().wait()
                else:
                    await asyncio.sleep(0)
                self.journalled.append(raw_msg)
                if journal == "raises":
                    raise

    return Csms


async def cancelled_in_route_message(
    csms: type[Any], then: Callable[[Any, asyncio.Task[None]], Awaitable[None]]
) -> str:
    """The CSMS (of :func:`backend`) calls ClearCache; the station answers; ``start()`` is
    cancelled while the override looks the answer's call up, then ``then(point, reading)``
    runs, ``reading`` the task of ``start()``. Returns the message id of the call."""
    points: list[Any] = []
    done = asyncio.Event()

    async def on_connect(websocket: ServerConnection) -> None:
        point = csms("CP1", websocket, 2)
        point.looking_up, point.journalled = asyncio.Event(), []
        points.append(point)
        reading = asyncio.create_task(point.start())
        calling = asyncio.create_task(point.call(call.ClearCache()))
        try:
            await asyncio.wait_for(point.looking_up.wait(), GUARD)
            reading.cancel()
            await then(point, reading)
        finally:
            for task in (reading, calling):
                task.cancel()
            await asyncio.wait((reading, calling))
            done.set()

    async with serve(on_connect, "127.0.0.1", 0, subprotocols=["ocpp1.6"]) as server:  # type: ignore[list-item]
        url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/CP1"
        async with connect(url, subprotocols=["ocpp1.6"]) as station:  # type: ignore[list-item]
            request = json.loads(await station.recv())
            assert request[2] == "ClearCache"
            await station.send(json.dumps([3, request[1], {"status": "Accepted"}]))
            await asyncio.wait_for(done.wait(), GUARD * 2)
    for task in asyncio.all_tasks() - {asyncio.current_task()}:
        task.cancel()  # the override left running
    return str(request[1])


def test_start_ends_after_handler_grace_when_route_message_awaits_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Cancelled while the override awaits, which catches the cancel and awaits its journal
    for ever, ``start()`` raises ``CancelledError`` once ``handler_grace`` is over, a WARNING
    naming the frame; it waited for ever (the outer ``wait_for`` then timed out)."""
    outcome: list[str] = []

    async def then(point: Any, reading: asyncio.Task[None]) -> None:
        try:
            await asyncio.wait_for(reading, GUARD)
        except asyncio.CancelledError:
            outcome.append("cancelled")
        except TimeoutError:
            outcome.append(f"start() still running after {GUARD} s")

    with caplog.at_level(logging.WARNING, logger="ocpp"):
        message_id = asyncio.run(
            cancelled_in_route_message(backend(v16.ChargePoint, "hangs"), then)
        )
    assert outcome == ["cancelled"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "CP1: route_message still running 0.1 s after start() was cancelled (it caught "
        f"CancelledError): CALLRESULT {message_id}; start() stops anyway, leaving it running; "
        "let CancelledError leave route_message"
    ]


@pytest.mark.parametrize("journal", ["raises", "returns"])
def test_an_override_that_ends_is_waited_for(
    journal: str, caplog: pytest.LogCaptureFixture
) -> None:
    """An override that catches the cancel, writes its journal and lets the cancel through, or
    returns, ends before ``start()`` does (its ``except`` ran to its end), and ``start()`` is
    cancelled; only the return is logged (the override swallowed the cancel)."""
    outcome: list[str] = []

    async def then(point: Any, reading: asyncio.Task[None]) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(reading, GUARD)
        outcome.append("cancelled" if reading.cancelled() else repr(reading))
        outcome.append(f"journalled {len(point.journalled)}")  # when start() ended

    with caplog.at_level(logging.WARNING, logger="ocpp"):
        asyncio.run(cancelled_in_route_message(backend(v16.ChargePoint, journal), then))
    assert outcome == ["cancelled", "journalled 1"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == (
        []
        if journal == "raises"
        else [
            "CP1: route_message returned after start() was cancelled (it caught "
            "CancelledError): start() stops anyway; let CancelledError leave route_message"
        ]
    )


def test_ocpps_start_stays_in_route_message() -> None:
    """``ocpp`` 2.1.0 awaits the override in ``start()`` itself: cancelled there, its
    ``start()`` stays in the journal's wait, and never ends (given as long as the drop-in's
    ``handler_grace`` of the test above, and more)."""
    outcome: list[str] = []

    async def then(point: Any, reading: asyncio.Task[None]) -> None:
        await asyncio.wait({reading}, timeout=0.5)  # it would not end later
        outcome.append("ended" if reading.done() else "still running")

    asyncio.run(cancelled_in_route_message(backend(ocpp.v16.ChargePoint, "hangs"), then))
    assert outcome == ["still running"]
