"""A third audit of the drop-in: what a team porting a real backend meets, both peers real.

``tests/test_compat_survey.py`` and ``tests/test_compat_field.py`` cover the first two
surveys. This one read further public code built on the ``ocpp`` package (through
code search, December 2026; none of it is copied: each test is our own code written
to the pattern) and runs each pattern over real WebSockets on 127.0.0.1 with a real
peer on each side: the pattern's class built once on ``ocpp`` 2.1.0's ChargePoint and
once on ``ocpp_fast.compat``'s, the other side ``ocpp``'s own ChargePoint. Each test
requires that the user code sees the same on both (what ``call()`` returns or raises,
what ``start()`` raises, what a handler gets) and that the peer receives the same:

- A bridge replaying recorded frames through a 2.0.1 station (a digital twin
  project, its repository not named by the search): ``ocpp.messages.Call`` built by
  hand, ``validate_payload`` before sending, ``_call_lock``, ``_send`` and
  ``_get_specific_response``, then ``validate_payload`` on the response it returned
  [a_station_validating_what_it_is_handed].
- CSMSs overriding ``_handle_call`` to audit each request: ``validate_payload`` on the
  message, then ``super()._handle_call`` [a_csms_validating_what_it_is_handed]; or
  looking the station up first, the lookup raising for a station it does not know
  [a_failing_handle_call_override_ends_start].

Patterns read that already worked (covered here or by the earlier audits' tests):
handlers without ``**kwargs`` given an optional field, a builtin ``NotImplementedError``
raised by a stub handler, ``ocpp.exceptions.NotImplementedError()`` without arguments,
an ``@after`` hook closing ``_connection`` after a Rejected BootNotification, a REST
command gateway running ``call(..., suppress=False, unique_id=...)`` in
``asyncio.ensure_future`` and cancelling it on its own timeout.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, ClassVar

import ocpp.exceptions
import ocpp.v16
import ocpp.v201
import pytest
from compat_pair import ocpp_validating_inline
from ocpp.messages import Call, MessageType, validate_payload
from ocpp.routing import on
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v201 import call_result as result201
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.typing import Subprotocol

from ocpp_fast.compat import v16, v201

NOW = "2026-12-03T07:00:00Z"
V16 = (ocpp.v16.ChargePoint, v16.ChargePoint)
V201 = (ocpp.v201.ChargePoint, v201.ChargePoint)


@pytest.fixture(autouse=True)
def _inline_validation() -> Iterator[None]:
    with ocpp_validating_inline():
        yield


async def real_pair(
    csms_class: type[Any],
    station_class: type[Any],
    label: str,
    script: Callable[[Any, Any], Awaitable[Any]],
    station_timeout: float = 5,
) -> tuple[Any, Any]:
    """``csms_class`` served on 127.0.0.1 (``start()`` per connection, as ``ocpp``'s
    documentation does), ``station_class`` connected to it with ``start()`` reading, and
    ``script(csms, station)`` run once both exist. Returns what the script returned and
    how the CSMS's ``start()`` ended (the exception's type and text)."""
    subprotocol = Subprotocol(f"ocpp{label}")
    csmss: list[Any] = []
    ended: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def on_connect(websocket: ServerConnection) -> None:
        assert websocket.request is not None
        csms = csms_class(websocket.request.path.strip("/"), websocket)
        csmss.append(csms)
        try:
            await csms.start()
        except Exception as error:  # what a backend's connection handler catches
            ended.set_result(f"{type(error).__name__}: {error}")
            raise

    async with serve(on_connect, "127.0.0.1", 0, subprotocols=[subprotocol]) as server:
        port = server.sockets[0].getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}/CP_1", subprotocols=[subprotocol]) as ws:
            station = station_class("CP_1", ws, station_timeout)
            reading = asyncio.ensure_future(station.start())
            while not csmss:
                await asyncio.sleep(0.001)
            try:
                observed = await script(csmss[0], station)
            finally:
                reading.cancel()
                await asyncio.gather(reading, return_exceptions=True)
        return observed, await asyncio.wait_for(ended, 10)


# --- messages handed to the backend are ocpp's own types ------------------------------------


class ReplayCsms(ocpp.v201.ChargePoint):  # type: ignore[misc]
    """The back end the bridge replays into: ``ocpp``'s own class."""

    @on("Heartbeat")
    def on_heartbeat(self) -> Any:
        return result201.Heartbeat(current_time=NOW)

    @on("StatusNotification", skip_schema_validation=True)
    def on_status_notification(self, **kwargs: Any) -> Any:
        # a result its own schema refuses (StatusNotificationResponse has no fields)
        return result201.Heartbeat(current_time=NOW)


def replaying_station(base: type[Any]) -> type[Any]:
    """A station sending recorded frames exactly as recorded (``call()`` would rename
    their keys): validated, sent, waited for and its answer validated, by hand."""

    class Station(base):  # type: ignore[misc]
        async def send_raw(self, action: str, payload: dict[str, Any]) -> Any:
            msg = Call(unique_id=str(self._unique_id_generator()), action=action, payload=payload)
            try:
                await validate_payload(msg, self._ocpp_version)
            except ocpp.exceptions.OCPPError as error:
                return ("not sent", type(error).__name__)
            async with self._call_lock:
                await self._send(msg.to_json())
                response = await self._get_specific_response(msg.unique_id, self._response_timeout)
            if response.message_type_id == MessageType.CallError:
                return ("refused", response.error_code)
            response.action = action
            try:
                await validate_payload(response, self._ocpp_version)
            except ocpp.exceptions.OCPPError as error:
                return ("invalid answer", type(error).__name__)
            return ("accepted", response.payload)

    return Station


def test_a_station_validating_what_it_is_handed() -> None:
    """``_get_specific_response`` hands ``ocpp``'s own ``CallResult``, which
    ``validate_payload`` takes (it refuses any other type, subclasses included: the
    drop-in's own subclass raised ``ValidationError`` out of every replayed frame)."""
    status = {
        "timestamp": NOW,
        "connectorStatus": "Available",
        "evseId": 1,
        "connectorId": 1,
    }

    async def script(csms: Any, station: Any) -> Any:
        return [
            await station.send_raw("Heartbeat", {}),
            await station.send_raw("Heartbeat", {"extra": 1}),
            await station.send_raw("Authorize", {"idToken": {"idToken": "A", "type": "Central"}}),
            await station.send_raw("StatusNotification", status),
        ]

    theirs, ours = (
        asyncio.run(real_pair(ReplayCsms, replaying_station(base), "2.0.1", script))
        for base in V201
    )
    assert ours == theirs
    assert ours[0] == [
        ("accepted", {"currentTime": NOW}),
        ("not sent", "FormatViolationError"),
        ("refused", "NotImplemented"),  # the CSMS is ocpp's: its code for "no handler"
        ("invalid answer", "FormatViolationError"),
    ]


def auditing_csms(base: type[Any]) -> type[Any]:
    """A CSMS that audits each request before handling it: ``validate_payload`` on the
    message ``route_message`` hands ``_handle_call``, its verdict recorded."""

    class Csms(base):  # type: ignore[misc]
        def __init__(self, id: str, connection: Any) -> None:
            super().__init__(id, connection)
            self.audit: list[tuple[str, str]] = []

        async def _handle_call(self, msg: Any) -> Any:
            try:
                await validate_payload(msg, self._ocpp_version)
            except ocpp.exceptions.OCPPError as error:
                self.audit.append((msg.action, type(error).__name__))
                raise
            self.audit.append((msg.action, "valid"))
            return await super()._handle_call(msg)

        @on("BootNotification")
        def on_boot_notification(self, **kwargs: Any) -> Any:
            return result16.BootNotification(current_time=NOW, interval=10, status="Accepted")

    return Csms


def test_a_csms_validating_what_it_is_handed() -> None:
    """The ``Call`` handed to ``_handle_call`` is ``ocpp``'s own type: the drop-in's
    subclass made ``validate_payload`` raise, and no request was answered."""

    async def script(csms: Any, station: Any) -> Any:
        booted = await station.call(
            call16.BootNotification(charge_point_model="M", charge_point_vendor="V")
        )
        await station._connection.close()
        return booted, csms.audit

    theirs, ours = (
        asyncio.run(real_pair(auditing_csms(base), ocpp.v16.ChargePoint, "1.6", script))
        for base in V16
    )
    assert ours == theirs
    assert ours[0][0] == result16.BootNotification(current_time=NOW, interval=10, status="Accepted")
    assert ours[0][1] == [("BootNotification", "valid")]


# --- a failure out of an overridden _handle_call ends start() -------------------------------


def fleet_csms(base: type[Any]) -> type[Any]:
    """A CSMS whose ``_handle_call`` override looks each station's settings up in its
    fleet before handling anything but a BootNotification; a station it does not know
    makes the lookup raise ``KeyError``, a bug of the backend's that ``ocpp`` lets out of
    ``start()`` (the connection handler's ``except`` logs it and the connection closes)."""

    class Csms(base):  # type: ignore[misc]
        fleet: ClassVar[dict[str, Any]] = {}

        def __init__(self, id: str, connection: Any) -> None:
            super().__init__(id, connection)
            self.seen: list[str] = []

        async def _handle_call(self, msg: Any) -> Any:
            self.seen.append(msg.action)
            if msg.action != "BootNotification":
                self.fleet[self.id]  # the lookup is the point
            return await super()._handle_call(msg)

        @on("BootNotification")
        def on_boot_notification(self, **kwargs: Any) -> Any:
            return result16.BootNotification(current_time=NOW, interval=10, status="Accepted")

        @on("StatusNotification")
        def on_status_notification(self, **kwargs: Any) -> Any:
            return result16.StatusNotification()

    return Csms


def test_a_failing_handle_call_override_ends_start() -> None:
    """``start()`` raises what the routing of a CALL raised, as ``ocpp``'s does, and
    handles nothing read after it (the drop-in logged it, read on and answered the next
    CALL, and the backend never learnt of it)."""

    async def script(csms: Any, station: Any) -> Any:
        booted = await station.call(
            call16.BootNotification(charge_point_model="M", charge_point_vendor="V")
        )
        await station._send('[2,"h1","Heartbeat",{}]')  # sent without waiting, as
        await station._send(  # a station flushing its queue does
            '[2,"s1","StatusNotification",{"connectorId":1,"errorCode":"NoError",'
            '"status":"Available"}]'
        )
        await asyncio.wait_for(station._connection.wait_closed(), 10)
        return booted.status, csms.seen, station._response_queue.qsize()

    theirs, ours = (
        asyncio.run(real_pair(fleet_csms(base), ocpp.v16.ChargePoint, "1.6", script))
        for base in V16
    )
    assert ours == theirs
    assert ours == (("Accepted", ["BootNotification", "Heartbeat"], 0), "KeyError: 'CP_1'")
