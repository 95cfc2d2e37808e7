"""``start()`` cancelled and awaited again on the same connection, ``ocpp`` 2.1.0 against the
drop-in, over real sockets.

``ocpp``'s ``start()`` reads a frame only once the one before it is handled, so the CALLs a
station sent meanwhile stay in the socket: cancelled while a handler runs, it cancels that
handler, and a ``start()`` awaited again on the same connection reads and answers the rest.
The drop-in reads on while a handler runs (so that a handler's ``call()`` gets its answer),
queueing the CALLs read: cancelling its ``start()`` cancelled those too, off the socket
already, and the next ``start()`` never saw them (the station's CALLs unanswered, its
charger waiting out its timeouts). They are now kept for the next ``start()`` on the same
connection, which handles them first, in order, as ``ocpp``'s reads them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from typing import Any

import ocpp.v16
import pytest
from compat_pair import NOW, ocpp_validating_inline, slow_heartbeat_backend
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from ocpp_fast.compat import v16

BASES = (ocpp.v16.ChargePoint, v16.ChargePoint)


@pytest.fixture(autouse=True)
def _inline_validation() -> Iterator[None]:
    with ocpp_validating_inline():
        yield


GUARD = 10.0
"""Seconds an expected frame is waited for: a guard against a hang, not a speed figure."""


async def answers(station: ClientConnection, expected: int) -> list[Any]:
    """The ``expected`` frames the station gets next, then one more read that should find
    nothing (``"no answer"`` after 1 s of nothing): each expected frame is waited for as long
    as it takes (up to :data:`GUARD`), as a loaded machine may take over a second to send it;
    only the frame that should never come is given a short window."""
    got: list[Any] = []
    for wait in [GUARD] * expected + [1.0]:
        try:
            got.append(json.loads(await asyncio.wait_for(station.recv(), wait)))
        except TimeoutError:
            got.append("no answer")
    return got


async def restarted(
    base: type[Any], other_connection: bool = False, bound: int = 4
) -> tuple[list[Any], list[str]]:
    """A station sends three Heartbeats at once; while the first one's handler runs, the
    backend cancels ``start()`` and awaits it again, on the same connection (or, with
    ``other_connection``, on the station's next one). ``bound``: the drop-in's
    ``max_concurrent_calls`` (``ocpp`` has none)."""
    events: list[str] = []
    cancelled = asyncio.Event()

    class Csms(slow_heartbeat_backend(base, 0)):  # type: ignore[misc]
        max_concurrent_calls = bound

        async def store(self) -> None:
            """h1's write lasts until ``start()`` was cancelled: cancelled while it runs, by
            construction (with a 0.2 s write, a process descheduled 0.2 s under load let the
            drop-in's h1 end, and be answered, in the loop turn the cancel came in)."""
            await cancelled.wait()

    points: list[Any] = []

    async def on_connect(websocket: ServerConnection) -> None:
        if points:  # the station's next connection, the same ChargePoint
            points[0]._connection = websocket
        else:
            points.append(Csms("CP1", websocket, 2))
            points[0].events = events
            first = asyncio.create_task(points[0].start())
            while "heartbeat: begins" not in events:
                await asyncio.sleep(0.01)
            first.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await first
            events.append("start() cancelled")
            cancelled.set()
            if other_connection:  # the first connection stays open, read by no one
                await websocket.wait_closed()
                return
        with contextlib.suppress(ConnectionClosed):
            await points[0].start()

    async with serve(on_connect, "127.0.0.1", 0, subprotocols=["ocpp1.6"]) as server:  # type: ignore[list-item]
        url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/CP1"
        async with connect(url, subprotocols=["ocpp1.6"]) as station:  # type: ignore[list-item]
            for number in (1, 2, 3):
                await station.send(f'[2,"h{number}","Heartbeat",{{}}]')
            if other_connection:
                while "start() cancelled" not in events:
                    await asyncio.sleep(0.01)
                async with connect(url, subprotocols=["ocpp1.6"]) as again:  # type: ignore[list-item]
                    await again.send('[2,"h4","Heartbeat",{}]')
                    return [*await answers(station, 0), *await answers(again, 1)], events
            return await answers(station, 2), events


@pytest.mark.parametrize("bound", [4, 1], ids=["queued", "waiting-for-a-slot"])
def test_calls_read_before_start_was_cancelled_are_answered_by_the_next_start(bound: int) -> None:
    """The two Heartbeats read while the first one's handler ran, then ``start()`` cancelled:
    ``ocpp`` answers them from its next ``start()`` on the connection; the drop-in had
    dropped them (cancelled, never answered). With one slot, the second waited for it (read,
    no task yet) and the third was still in the socket."""
    theirs, ours = (asyncio.run(restarted(base, bound=bound)) for base in BASES)
    assert ours == theirs
    got, events = ours
    result = {"currentTime": NOW}
    assert got == [[3, "h2", result], [3, "h3", result], "no answer"]  # h1's handler cancelled
    assert events == [
        "heartbeat: begins",
        "start() cancelled",
        "heartbeat: begins",
        "heartbeat: answered",
        "heartbeat: begins",
        "heartbeat: answered",
    ]


def test_calls_kept_for_a_connection_are_not_handled_on_another() -> None:
    """What the cancelled ``start()`` read belongs to its connection: a ``start()`` on the
    station's next connection (the same ChargePoint) answers only that one's CALLs, as with
    ``ocpp`` (the first connection's stay unread in its socket)."""
    theirs, ours = (asyncio.run(restarted(base, other_connection=True)) for base in BASES)
    assert ours == theirs
    got, _ = ours
    assert got == ["no answer", [3, "h4", {"currentTime": NOW}], "no answer"]


async def restarted_after_a_routing_failure(base: type[Any]) -> tuple[list[Any], list[str]]:
    """A station sends a Heartbeat, an Authorize and a Heartbeat at once; the backend's
    ``_handle_call`` raises for the Authorize, which ends ``start()``; the backend logs it and
    awaits ``start()`` again on the same connection."""
    events: list[str] = []

    class Csms(slow_heartbeat_backend(base, 0.2)):  # type: ignore[misc]
        async def _handle_call(self, msg: Any) -> Any:
            if msg.action == "Authorize":
                raise LookupError("no such token store")
            return await super()._handle_call(msg)

    async def on_connect(websocket: ServerConnection) -> None:
        point = Csms("CP1", websocket, 2)
        point.events = events
        with contextlib.suppress(LookupError):
            await point.start()
        events.append("start() failed")
        with contextlib.suppress(ConnectionClosed):
            await point.start()

    async with serve(on_connect, "127.0.0.1", 0, subprotocols=["ocpp1.6"]) as server:  # type: ignore[list-item]
        url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/CP1"
        async with connect(url, subprotocols=["ocpp1.6"]) as station:  # type: ignore[list-item]
            await station.send('[2,"h1","Heartbeat",{}]')
            await station.send('[2,"a2","Authorize",{"idTag":"T1"}]')
            await station.send('[2,"h3","Heartbeat",{}]')
            return await answers(station, 2), events


def test_calls_read_after_a_failed_routing_are_answered_by_the_next_start() -> None:
    """A CALL whose routing raised ends ``start()`` with that exception, the CALLs after it
    unhandled by that run: ``ocpp`` had not read them, and its next ``start()`` answers them;
    the drop-in had read them while the first Heartbeat's handler ran, and dropped them."""
    theirs, ours = (asyncio.run(restarted_after_a_routing_failure(base)) for base in BASES)
    assert ours == theirs
    got, events = ours
    result = {"currentTime": NOW}
    assert got == [[3, "h1", result], [3, "h3", result], "no answer"]  # a2: never answered
    assert events[2:4] == ["start() failed", "heartbeat: begins"]
