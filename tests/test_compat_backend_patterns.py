"""More patterns of real ``ocpp`` backends and simulators, ``ocpp`` 2.1.0 against the drop-in.

Read through code search (December 2026; no code copied, each backend here is our own,
written to the pattern) and run over real WebSockets on 127.0.0.1 on both classes, comparing
what the peer receives, what the backend's code sees and the lines logged (logger ``ocpp``):

- A station simulator on ``ocpp.v16.ChargePoint`` (mobilityhouse/ocpp's example charge
  point, SayKnowToCode/OCPP, dwarg/py-ocpp): ``asyncio.gather(cp.start(),
  cp.send_boot_notification())``, ``response.status == RegistrationStatus.accepted``, a
  heartbeat loop at the interval the CSMS gave, naive ``datetime.utcnow().isoformat()``
  timestamps, ended by the CSMS closing, against a CSMS checking the
  ``Sec-WebSocket-Protocol`` request header and ``subprotocol`` as those examples do
  [station_booting_and_beating_until_the_csms_closes].
- A CSMS keeping a dict of connected ChargePoints and calling ``await cp.call(...)`` from
  other tasks (an HTTP handler's, EV4EU/ov2xmp-django's Sanic routes): two calls at once
  (one outstanding at a time, ``_call_lock``), ``unique_id=``, ``suppress=False`` raising
  the station's CALLERROR, a ``_send`` override logging every frame, a call pending when
  the station drops (its timeout), and a call to a station gone from the dict too late
  [calls_from_other_tasks].
- A station simulator reconnecting with the same ChargePoint (``_connection`` replaced, ``start()``
  gathered with its boot again, ``return_exceptions=True``), against a CSMS on ``websockets``'
  legacy ``serve`` with ``on_connect(websocket, path)`` and ``request_headers`` (dwarg/py-ocpp,
  SayKnowToCode/OCPP): a Heartbeat left unanswered as the CSMS restarts, then a Reset from the
  CSMS on the new connection [a_station_reconnecting_with_the_same_charge_point].
- ``ocpp``'s own example charge point: ``asyncio.gather(cp.start(), boot, authorize("car_1"),
  authorize("car_2"))``, the answers read as ``response.id_tag_info["parent_id_tag"]``
  [a_station_gathering_its_calls].
- A CSMS's HTTP API closing a station's connection (mobilityhouse/ocpp#86) while a handler
  runs [a_connection_closed_by_the_backend_while_a_handler_runs].
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Callable, Coroutine, Iterator
from datetime import datetime
from typing import Any

import ocpp.exceptions
import ocpp.v16
import pytest
import websockets
from compat_pair import ocpp_validating_inline, slow_heartbeat_backend
from ocpp.routing import on
from ocpp.v16 import call, call_result
from ocpp.v16.enums import Action, AuthorizationStatus, RegistrationStatus, RemoteStartStopStatus
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

from ocpp_fast.compat import v16

BASES = (ocpp.v16.ChargePoint, v16.ChargePoint)


@pytest.fixture(autouse=True)
def _inline_validation() -> Iterator[None]:
    with ocpp_validating_inline():
        yield


class Lines(logging.Handler):
    """The ``ocpp`` logger's lines of one session (the drop-in logs on it too), level and
    text, the random message ids made alike."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27}", "<uuid>", record.getMessage())
        self.lines.append((record.levelname, text))


def on_both(session: Callable[[type[Any]], Coroutine[Any, Any, Any]]) -> tuple[Any, Any]:
    """``session`` on ``ocpp``'s class and on the drop-in's: what each returned, and the
    lines each logged."""
    logger = logging.getLogger("ocpp")
    level = logger.level
    logger.setLevel(logging.DEBUG)
    outcomes: list[tuple[Any, list[tuple[str, str]]]] = []
    try:
        for base in BASES:
            lines = Lines()
            logger.addHandler(lines)
            try:
                outcomes.append((asyncio.run(session(base)), lines.lines))
            finally:
                logger.removeHandler(lines)
    finally:
        logger.setLevel(level)
    return outcomes[0], outcomes[1]


# --- the station side -----------------------------------------------------------------------


async def boot(station: Any) -> Any:
    """The simulators' BootNotification, its status compared with the enum, as they do."""
    request = call.BootNotification(charge_point_model="M", charge_point_vendor="V")
    response = await station.call(request)
    station.seen.append(("accepted", response.status == RegistrationStatus.accepted))
    return response


def simulator(base: type[Any]) -> type[Any]:
    class Station(base):  # type: ignore[misc]
        seen: list[Any]

        async def send_boot_notification(self) -> None:
            response = await boot(self)
            self.seen.append(("status", type(response.status).__name__, response.status))
            stamp = datetime(2026, 12, 4, 15, 0, 0, 123456).isoformat()  # utcnow(): no offset
            await self.call(
                call.StatusNotification(
                    connector_id=1, error_code="NoError", status="Available", timestamp=stamp
                )
            )
            while True:
                beat = await self.call(call.Heartbeat())
                self.seen.append(("beat", beat.current_time))
                await asyncio.sleep(response.interval / 1000)

    return Station


async def station_session(base: type[Any]) -> tuple[list[Any], list[Any], str]:
    received: list[Any] = []
    checks: list[Any] = []

    async def csms(websocket: ServerConnection) -> None:
        assert websocket.request is not None
        checks.append(websocket.request.headers["Sec-WebSocket-Protocol"])
        checks.append(websocket.subprotocol)
        checks.append(websocket.request.path.strip("/"))
        answers = [
            {"currentTime": "2026-12-04T15:00:00Z", "interval": 10, "status": "Accepted"},
            {},
            {"currentTime": "2026-12-04T15:00:01Z"},
            {"currentTime": "2026-12-04T15:00:02Z"},
        ]
        for answer in answers:
            frame = json.loads(await websocket.recv())
            received.append(frame)
            await websocket.send(json.dumps([3, frame[1], answer]))
        received.append(json.loads(await websocket.recv()))  # the third beat: left unanswered
        await websocket.close()

    async with serve(csms, "127.0.0.1", 0, subprotocols=["ocpp1.6"]) as server:  # type: ignore[list-item]
        url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/CP_7"
        async with connect(url, subprotocols=["ocpp1.6"]) as websocket:  # type: ignore[list-item]
            station = simulator(base)("CP_7", websocket, 5)
            station.seen = checks
            try:
                await asyncio.gather(station.start(), station.send_boot_notification())
            except websockets.ConnectionClosed as closed:
                ended = type(closed).__name__
    return [frame[2:] for frame in received], checks, ended


def test_station_booting_and_beating_until_the_csms_closes() -> None:
    theirs, (ours, lines) = on_both(station_session)
    assert (ours, lines) == theirs
    assert lines
    frames, checks, ended = ours
    assert frames[1] == [
        "StatusNotification",
        {
            "connectorId": 1,
            "errorCode": "NoError",
            "status": "Available",
            "timestamp": "2026-12-04T15:00:00.123456",
        },
    ]
    assert checks[:6] == [
        "ocpp1.6",
        "ocpp1.6",
        "CP_7",
        ("accepted", True),
        ("status", "str", "Accepted"),
        ("beat", "2026-12-04T15:00:01Z"),
    ]
    assert ended == "ConnectionClosedOK"


# --- a CSMS calling its stations from other tasks -------------------------------------------


def central_system(base: type[Any]) -> type[Any]:
    class Csms(base):  # type: ignore[misc]
        log: list[str]

        async def _send(self, message: str) -> None:
            self.log.append(f"-> {message}")
            await super()._send(message)

        @on(Action.boot_notification)
        def on_boot(self, charge_point_vendor: str, charge_point_model: str, **kwargs: Any) -> Any:
            return call_result.BootNotification(
                current_time="2026-12-04T15:00:00", interval=300, status=RegistrationStatus.accepted
            )

    return Csms


async def outcome(coroutine: Any) -> Any:
    """What the backend's HTTP handler would answer: the result, or the exception's class
    and what it holds."""
    try:
        result = await coroutine
    except ocpp.exceptions.OCPPError as error:
        return (type(error).__name__, error.description, error.details)
    except Exception as error:
        return type(error).__name__
    return result


async def calls_session(base: type[Any]) -> dict[str, Any]:
    points: dict[str, Any] = {}
    log: list[str] = []
    seen: dict[str, Any] = {}

    async def on_connect(websocket: ServerConnection) -> None:
        assert websocket.request is not None
        point = central_system(base)(websocket.request.path.strip("/"), websocket, 0.3)
        point.log = log
        point._unique_id_generator = lambda: f"u{len(log)}"
        points[point.id] = point
        try:
            await point.start()
        except websockets.ConnectionClosed:
            del points[point.id]

    async with serve(on_connect, "127.0.0.1", 0, subprotocols=["ocpp1.6"]) as server:  # type: ignore[list-item]
        url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/CP9"
        station = await connect(url, subprotocols=["ocpp1.6"])  # type: ignore[list-item]
        await station.send(
            '[2,"b1","BootNotification",{"chargePointVendor":"V","chargePointModel":"M"}]'
        )
        seen["boot"] = json.loads(await station.recv())
        point = points["CP9"]
        start = call.RemoteStartTransaction(id_tag="T", connector_id=1)
        first = asyncio.ensure_future(outcome(point.call(start, unique_id="http-1")))
        second = asyncio.ensure_future(
            outcome(point.call(call.UnlockConnector(connector_id=1), suppress=False))
        )
        asked = json.loads(await station.recv())
        seen["only one outstanding"] = await outcome(asyncio.wait_for(station.recv(), 0.1))
        await station.send(json.dumps([3, asked[1], {"status": "Accepted"}]))
        unlock = json.loads(await station.recv())
        await station.send(json.dumps([4, unlock[1], "NotSupported", "no lock", {"why": 1}]))
        seen["first"] = await first
        seen["second"] = await second
        pending = asyncio.ensure_future(outcome(point.call(call.Heartbeat())))
        seen["pending asked"] = json.loads(await station.recv())[2]
        await station.close()
        seen["pending"] = await pending
        while "CP9" in points:
            await asyncio.sleep(0.01)
        seen["stale"] = await outcome(point.call(call.Heartbeat()))
    seen["log"] = [line.split(",")[:3] for line in log]
    return seen


def test_calls_from_other_tasks() -> None:
    theirs, (ours, lines) = on_both(calls_session)
    assert (ours, lines) == theirs
    assert lines
    assert ours["only one outstanding"] == "TimeoutError"
    assert ours["first"] == call_result.RemoteStartTransaction(
        status=RemoteStartStopStatus.accepted
    )
    assert ours["second"] == ("NotSupportedError", "no lock", {"why": 1})
    assert ours["pending"] == "TimeoutError"
    assert ours["stale"] == "ConnectionClosedOK"
    assert ours["log"][:2] == [
        ["-> [3", '"b1"', '{"currentTime":"2026-12-04T15:00:00"'],
        ["-> [2", '"http-1"', '"RemoteStartTransaction"'],
    ]


# --- a station reconnecting with the same ChargePoint, to a legacy websockets CSMS ----------


def rebooting_station(base: type[Any]) -> type[Any]:
    class Station(base):  # type: ignore[misc]
        seen: list[Any]

        async def boot_and_beat(self) -> str:
            await boot(self)
            for _ in range(2):
                beat = await self.call(call.Heartbeat())
                self.seen.append(("beat", beat.current_time))
            return "beaten"

        @on(Action.reset)
        def on_reset(self, type: str) -> Any:
            self.seen.append(("reset", type))
            return call_result.Reset(status="Accepted")

    return Station


async def legacy_csms_session(base: type[Any]) -> tuple[list[Any], list[Any]]:
    """A CSMS on ``websockets``' legacy server (``on_connect(websocket, path)``, the
    ``request_headers`` check): the first connection closed with a Heartbeat unanswered, the
    second answered and sent a Reset. The station keeps one ChargePoint, puts each new
    connection in ``_connection`` and gathers ``start()`` with its boot (results kept)."""
    import websockets.legacy.server

    received: list[Any] = []
    seen: list[Any] = []
    connections = 0

    async def on_connect(websocket: Any, path: str) -> None:
        nonlocal connections
        connections += 1
        seen.append((path, websocket.request_headers["Sec-WebSocket-Protocol"]))
        boot = json.loads(await websocket.recv())
        received.append(boot[2])
        accepted = {"currentTime": "2026-12-04T15:00:00Z", "interval": 5, "status": "Accepted"}
        await websocket.send(json.dumps([3, boot[1], accepted]))
        beat = json.loads(await websocket.recv())
        received.append(beat[2])
        if connections == 1:
            await websocket.close()  # the CSMS restarts: the Heartbeat is never answered
            return
        await websocket.send(json.dumps([3, beat[1], {"currentTime": "2026-12-04T15:00:01Z"}]))
        beat = json.loads(await websocket.recv())
        await websocket.send('[2,"r1","Reset",{"type":"Soft"}]')
        answers = [json.loads(await websocket.recv())]
        await websocket.send(json.dumps([3, beat[1], {"currentTime": "2026-12-04T15:00:02Z"}]))
        received.append(answers)
        await websocket.close()

    station = rebooting_station(base)("CP_3", None, 0.5)
    station.seen = seen
    serving = websockets.legacy.server.serve(on_connect, "127.0.0.1", 0, subprotocols=["ocpp1.6"])  # type: ignore[list-item]
    async with serving as server:
        port = next(iter(server.sockets)).getsockname()[1]
        url = f"ws://127.0.0.1:{port}/CP_3"
        for _ in range(2):
            async with connect(url, subprotocols=["ocpp1.6"]) as websocket:  # type: ignore[list-item]
                station._connection = websocket
                outcomes = await asyncio.gather(
                    station.start(), station.boot_and_beat(), return_exceptions=True
                )
                seen.append([o if type(o) is str else type(o).__name__ for o in outcomes])
    return received, seen


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_a_station_reconnecting_with_the_same_charge_point() -> None:
    theirs, (ours, lines) = on_both(legacy_csms_session)
    assert (ours, lines) == theirs
    assert lines
    received, seen = ours
    assert seen == [
        ("/CP_3", "ocpp1.6"),
        ("accepted", True),
        ["ConnectionClosedOK", "TimeoutError"],
        ("/CP_3", "ocpp1.6"),
        ("accepted", True),
        ("beat", "2026-12-04T15:00:01Z"),
        ("reset", "Soft"),
        ("beat", "2026-12-04T15:00:02Z"),
        ["ConnectionClosedOK", "beaten"],
    ]
    assert received[-1] == [[3, "r1", {"status": "Accepted"}]]


# --- a CSMS closing a station's connection from its HTTP API --------------------------------


async def disconnect_session(base: type[Any]) -> tuple[str, list[str]]:
    """The HTTP API's ``POST /disconnect`` (mobilityhouse/ocpp#86's answer): the backend
    closes ``cp._connection`` from another task while a handler of the station's CALL runs."""
    points: dict[str, Any] = {}
    events: list[str] = []

    async def on_connect(websocket: ServerConnection) -> None:
        assert websocket.request is not None
        point = slow_heartbeat_backend(base, 0.1)(websocket.request.path.strip("/"), websocket)
        point.events = events
        points[point.id] = point
        try:
            await point.start()
        except websockets.ConnectionClosed as closed:
            events.append(f"start() raised {type(closed).__name__}")

    async with serve(on_connect, "127.0.0.1", 0, subprotocols=["ocpp1.6"]) as server:  # type: ignore[list-item]
        url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/CP1"
        async with connect(url, subprotocols=["ocpp1.6"]) as station:  # type: ignore[list-item]
            await station.send('[2,"h1","Heartbeat",{}]')
            while "heartbeat: begins" not in events:
                await asyncio.sleep(0.01)
            await points["CP1"]._connection.close()
            got = await outcome(asyncio.wait_for(station.recv(), 2))
            while len(events) < 3:
                await asyncio.sleep(0.01)
    return got, events


def test_a_connection_closed_by_the_backend_while_a_handler_runs() -> None:
    """The same on both: the handler runs to its end, its answer is not sent, ``start()``
    raises the connection's ``ConnectionClosedOK`` once it did. The drop-in logs one line
    more, at DEBUG: that answer was lost to the close (``ocpp``'s answer raised it out of
    its ``start()``, which says nothing of the answer); the differences guide's log row."""
    theirs, (ours, lines) = on_both(disconnect_session)
    assert ours == theirs[0]
    assert ours == (
        "ConnectionClosedOK",
        ["heartbeat: begins", "heartbeat: answered", "start() raised ConnectionClosedOK"],
    )
    assert [line for line in lines if line[0] != "DEBUG"] == theirs[1]
    [debug] = [text for level, text in lines if level == "DEBUG"]
    assert debug.startswith("CP1: the connection closed before a call was answered")


# --- a station gathering several calls with start() -----------------------------------------


def authorizing_station(base: type[Any]) -> type[Any]:
    class Station(base):  # type: ignore[misc]
        seen: list[Any]

        async def authorize(self, id_tag: str) -> Any:
            response = await self.call(call.Authorize(id_tag=id_tag))
            info = response.id_tag_info
            accepted = info["status"] == AuthorizationStatus.accepted
            self.seen.append((id_tag, accepted, sorted(info)))
            return info["parent_id_tag"]  # a KeyError where the CSMS left it out

    return Station


async def gathering_session(base: type[Any]) -> tuple[list[Any], list[Any], list[str]]:
    """The station gathers ``start()``, its boot and two Authorize calls at once (``ocpp``'s
    own example charge point): one outstanding at a time, in the order gathered."""
    frames: list[Any] = []

    async def csms(websocket: ServerConnection) -> None:
        for _ in range(3):
            frame = json.loads(await websocket.recv())
            frames.append(frame[2:])
            if frame[2] == "BootNotification":
                answer = {
                    "currentTime": "2026-12-04T15:00:00Z",
                    "interval": 10,
                    "status": "Accepted",
                }
            elif frame[3]["idTag"] == "car_1":
                info = {
                    "status": "Accepted",
                    "parentIdTag": "P",
                    "expiryDate": "2027-01-01T00:00:00Z",
                }
                answer = {"idTagInfo": info}
            else:
                answer = {"idTagInfo": {"status": "Blocked"}}
            await websocket.send(json.dumps([3, frame[1], answer]))
        await websocket.close()

    async with serve(csms, "127.0.0.1", 0, subprotocols=["ocpp1.6"]) as server:  # type: ignore[list-item]
        url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/CP_1"
        async with connect(url, subprotocols=["ocpp1.6"]) as websocket:  # type: ignore[list-item]
            station = authorizing_station(base)("CP_1", websocket)
            station.seen = []
            outcomes = await asyncio.gather(
                station.start(),
                boot(station),
                station.authorize("car_1"),
                station.authorize("car_2"),
                return_exceptions=True,
            )
    return frames, station.seen, [type(outcome).__name__ for outcome in outcomes]


def test_a_station_gathering_its_calls() -> None:
    theirs, (ours, lines) = on_both(gathering_session)
    assert (ours, lines) == theirs
    frames, seen, outcomes = ours
    assert [frame[0] for frame in frames] == ["BootNotification", "Authorize", "Authorize"]
    assert seen == [
        ("accepted", True),
        ("car_1", True, ["expiry_date", "parent_id_tag", "status"]),
        ("car_2", False, ["status"]),
    ]
    assert outcomes == ["ConnectionClosedOK", "BootNotification", "str", "KeyError"]
