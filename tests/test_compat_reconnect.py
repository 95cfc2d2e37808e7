"""One ChargePoint reused across reconnects, ``ocpp`` 2.1.0 against the drop-in, over real sockets.

Home Assistant's ``ocpp`` integration (lbbrhzn/ocpp, its reconnect path and the bug reports
about it) and backends like it keep one ChargePoint per station id: when the station
connects again, the backend puts the new websocket in ``_connection`` and awaits ``start()``
once more, on the same object, while the old connection's ``start()`` may still run; it then
cancels that old run (or the old connection's close ends it). Our own backend, written to
that pattern, serves a raw station on 127.0.0.1 through both classes:

- cancelling the old run cancelled the CALL the new run was handling, never answered
  [the_old_run_cancelled_leaves_the_new_runs_call_answered];
- the old run, ended by its connection's close, waited for the new run's handler before it
  raised, and cleared the new run's reader [the_old_run_ends_when_its_connection_does].
- a CALL of the new run whose routing fails (an overridden ``_handle_call`` raising) did
  not end the new run once the old one had ended: the old run's end had cleared the new
  run's reader [a_routing_failure_ends_the_new_run_after_the_old_one_ended].
- the old connection, half closed, still sending (mobilityhouse/ocpp#248): the same on both,
  quirks included [a_half_dead_connections_call_is_answered_on_the_new_one].
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
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


def looking_up(base: type[Any]) -> type[Any]:
    """The backend looks the station up before each CALL, in an overridden ``_handle_call``
    (a CSMS's pattern); for an Authorize the lookup fails, which ends ``start()``."""

    class Csms(base):  # type: ignore[misc]
        async def _handle_call(self, msg: Any) -> Any:
            if msg.action == "Authorize":
                raise LookupError("no such station")
            return await super()._handle_call(msg)

    return Csms


class Registry:
    """The backend's dict of stations: one ChargePoint per id, reused on reconnect, and the
    task of each connection's ``start()``; each run's end is recorded."""

    def __init__(self, csms_class: type[Any]) -> None:
        self.csms_class = csms_class
        self.points: dict[str, Any] = {}
        self.runs: list[asyncio.Task[Any]] = []
        self.events: list[str] = []

    async def on_connect(self, websocket: ServerConnection) -> None:
        assert websocket.request is not None
        station_id = websocket.request.path.strip("/")
        point = self.points.get(station_id)
        if point is None:
            point = self.points[station_id] = self.csms_class(station_id, websocket, 2)
            point.events = self.events
        else:
            point._connection = websocket  # the same object, a new connection
        run = asyncio.current_task()
        assert run is not None
        self.runs.append(run)
        number = len(self.runs)
        try:
            await point.start()
        except BaseException as error:
            self.events.append(f"run {number} ended: {type(error).__name__}")
            if not isinstance(error, asyncio.CancelledError):
                raise


async def answer(station: ClientConnection) -> Any:
    try:
        return json.loads(await asyncio.wait_for(station.recv(), 2))
    except TimeoutError:
        return "no answer"
    except ConnectionClosed as closed:
        return f"closed {closed.rcvd.code if closed.rcvd else None}"


@contextlib.asynccontextmanager
async def connected_twice(
    base: type[Any],
) -> AsyncIterator[tuple[Registry, ClientConnection, ClientConnection]]:
    """The backend served on 127.0.0.1, a station connected to it twice (the first connection
    left open); on the way out both are closed and the two runs have ended."""
    registry = Registry(looking_up(slow_heartbeat_backend(base, 0.2)))
    async with serve(registry.on_connect, "127.0.0.1", 0, subprotocols=["ocpp1.6"]) as server:  # type: ignore[list-item]
        url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/CP1"
        first = await connect(url, subprotocols=["ocpp1.6"])  # type: ignore[list-item]
        second = await connect(url, subprotocols=["ocpp1.6"])  # type: ignore[list-item]
        while len(registry.runs) < 2:
            await asyncio.sleep(0.01)
        yield registry, first, second
        await first.close()
        await second.close()
        while len([e for e in registry.events if " ended: " in e]) < 2:
            await asyncio.sleep(0.01)


async def reconnected(base: type[Any], retire: str) -> tuple[Any, list[str]]:
    """A station connects, connects again (the first connection still open), sends a
    Heartbeat on the second; while its handler runs, the first run is ``retire``d:
    ``"cancel"``led by the backend, or ``"close"``d by the station."""
    async with connected_twice(base) as (registry, first, second):
        await second.send('[2,"h1","Heartbeat",{}]')
        while "heartbeat: begins" not in registry.events:
            await asyncio.sleep(0.01)
        if retire == "cancel":
            registry.runs[0].cancel()
        else:
            await first.close()
        got = await answer(second)
    return got, registry.events


def test_the_old_run_cancelled_leaves_the_new_runs_call_answered() -> None:
    """``ocpp``'s old ``start()``, cancelled, cancels only its own wait; the drop-in's
    cancelled every CALL the ChargePoint was handling, the new run's too: the station's
    Heartbeat was never answered."""
    theirs, ours = (asyncio.run(reconnected(base, "cancel")) for base in BASES)
    assert ours == theirs
    got, events = ours
    assert got == [3, "h1", {"currentTime": NOW}]
    assert events == [
        "heartbeat: begins",
        "run 1 ended: CancelledError",
        "heartbeat: answered",
        "run 2 ended: ConnectionClosedOK",
    ]


def test_the_old_run_ends_when_its_connection_does() -> None:
    """The old connection closing ends its ``start()`` at once, as ``ocpp``'s (which handles
    nothing then): the drop-in's waited for the new run's handler first."""
    theirs, ours = (asyncio.run(reconnected(base, "close")) for base in BASES)
    assert ours == theirs
    got, events = ours
    assert got == [3, "h1", {"currentTime": NOW}]
    assert events[:3] == [
        "heartbeat: begins",
        "run 1 ended: ConnectionClosedOK",
        "heartbeat: answered",
    ]


async def half_dead(base: type[Any]) -> tuple[list[Any], list[str]]:
    """The old connection, never closed by the station, sends a CALL after the new one came
    (the half-closed charger of mobilityhouse/ocpp#248); then the new one sends its own."""
    async with connected_twice(base) as (registry, first, second):
        await first.send('[2,"old1","Heartbeat",{}]')
        while "run 1 ended: ConcurrencyError" not in registry.events:
            await asyncio.sleep(0.01)
        await second.send('[2,"new1","Heartbeat",{}]')
        got = []
        for name, station in (("first", first), ("second", second)):
            while (frame := await answer(station)) != "no answer":
                got.append((name, frame))
                if type(frame) is str:  # closed
                    break
    return got, registry.events


def test_a_half_dead_connections_call_is_answered_on_the_new_one() -> None:
    """As ``ocpp``'s, the old run answers the old connection's CALL through ``_connection``, the
    new one, then reads that new connection too, which ``websockets`` refuses (two reads at
    once): the old run ends with ``ConcurrencyError``, the new one reads on."""
    theirs, ours = (asyncio.run(half_dead(base)) for base in BASES)
    assert ours == theirs
    got, events = ours
    assert got == [
        ("first", "closed 1011"),  # the backend's handler raised the old run's error
        ("second", [3, "old1", {"currentTime": NOW}]),
        ("second", [3, "new1", {"currentTime": NOW}]),
    ]
    assert events[2] == "run 1 ended: ConcurrencyError"
    assert events[-1] == "run 2 ended: ConnectionClosedOK"


async def failing_after_the_old_run(base: type[Any]) -> tuple[Any, list[str]]:
    """The old connection closes (its run ends), then a CALL on the new one fails its routing."""
    async with connected_twice(base) as (registry, first, second):
        await first.close()
        while "run 1 ended: ConnectionClosedOK" not in registry.events:
            await asyncio.sleep(0.01)
        await second.send('[2,"a1","Authorize",{"idTag":"T"}]')
        got = await answer(second)
    return got, registry.events


def test_a_routing_failure_ends_the_new_run_after_the_old_one_ended() -> None:
    """``start()`` ends with the exception of a CALL's routing, as ``ocpp``'s: on the new run
    too. The old run's end had cleared the reader the new run registered, so the failure
    could not end it: it read on until its connection closed."""
    theirs, ours = (asyncio.run(failing_after_the_old_run(base)) for base in BASES)
    assert ours == theirs
    assert ours == (
        "closed 1011",  # the backend's connection handler raised it
        ["run 1 ended: ConnectionClosedOK", "run 2 ended: LookupError"],
    )
