"""A second audit of the drop-in: patterns of public projects on ``ocpp``, over real sockets.

``tests/test_compat_survey.py`` covers the first survey. This one read further
public code built on the ``ocpp`` package (through code search, December 2026;
none of it is copied: each test is our own code written to the pattern) and runs
each pattern on ``ocpp`` 2.1.0 and on ``ocpp_fast.compat`` over real WebSockets
on 127.0.0.1, comparing frame by frame what the peer receives:

- SAP/e-mobility-charging-stations-simulator, its Python test CSMSs
  (tests/ocpp-server/server.py for 2.0.1, server16.py for 1.6): handlers raising
  ``ocpp.exceptions.InternalError``, results holding nested dicts of enums,
  ``call()`` with dict payloads (``ocpp_csms_url``...) from a timer task while
  ``start()`` reads, ``call(..., suppress=False)``, the station forgotten once
  ``start()`` raises ``ConnectionClosed`` [handler_failures, sap_csms_calls,
  start_ends_after_its_handlers].
- EVerest's test CSMS (everest-testing, ocpp_utils/charge_point_v16.py): its own
  ``start()`` loop and ``_send`` recording the history, ``datatypes`` dataclasses
  in results, a positional ``call_result``, ``call.DataTransfer(**kwargs)`` and a
  JSON string of a 2.0.1 result in DataTransfer ``data``, an ``@after`` hook
  calling the station [everest_csms].
- A Growatt THOR Home Assistant integration (its repository not named by the
  search): a ``logging.LoggerAdapter`` as ``logger``, ``asyncio.wait_for`` around
  ``call()`` (a call cancelled, its answer arriving late), ``call()`` with
  ``unique_id=`` and error codes ``ocpp`` does not know [call_outcomes].
- Station simulators on ``ocpp.v16.ChargePoint`` (cp_simulator.py excerpts): a
  handler scheduling ``self.call(StartTransaction)`` in a task before it returns,
  a CSMS CALL crossing the station's BootNotification [station_side].
- A ChargePoint subclass rewriting ``route_message`` whole (``unpack``, then
  ``_handle_call`` or ``self._response_queue.put_nowait``) [response_queue_fed].
- Stations flushing an offline queue without waiting for each answer, against
  handlers that await a database [pipelined_calls]; firmware writing binary frames
  [a_handler_calling_a_station_that_sends_binary_frames].
- An ``ocpp_csms`` package's ``ChargePointSession`` (its repository not named):
  ``_handle_call`` overridden to record ``super()._handle_call(msg).payload``
  [handle_call_returns_what_ocpp_returns].
- Backends with private helpers of their own (``_check``, ``_waiting``...)
  [backend_names_are_its_own]; a vendor's own actions with
  ``skip_schema_validation=True`` [vendor_actions]; ``unique_id=`` over 36
  characters [an_own_unique_id_over_36_characters]; the log lines [log_lines].
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import Awaitable, Callable, Iterator
from decimal import Decimal
from types import SimpleNamespace
from typing import Any, ClassVar

import ocpp.exceptions
import ocpp.v16
import ocpp.v201
import pytest
import websockets
from compat_pair import ocpp_validating_inline
from ocpp.charge_point import remove_nones, snake_to_camel_case
from ocpp.messages import MessageType, unpack
from ocpp.routing import after, on
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v16 import datatypes as datatypes16
from ocpp.v16 import enums as enums16
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from ocpp.v201 import datatypes as datatypes201
from ocpp.v201 import enums as enums201
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.typing import Subprotocol

from ocpp_fast.compat import v16, v201

NOW = "2026-12-02T11:00:00.123456+00:00"
V16 = (ocpp.v16.ChargePoint, v16.ChargePoint)
V201 = (ocpp.v201.ChargePoint, v201.ChargePoint)

Station = Callable[[Any, Callable[[], Awaitable[Any]], Any], Awaitable[Any]]
"""A raw station: ``(websocket, recv, the CSMS instance) -> what it observed``."""


@pytest.fixture(autouse=True)
def _inline_validation() -> Iterator[None]:
    with ocpp_validating_inline():
        yield


async def until(condition: Callable[[], object]) -> None:
    """Wait for ``condition`` (what a scenario waits on happens in the other task); a
    scenario that broke fails here instead of hanging."""
    for _ in range(10_000):
        if condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("the scenario never got there")


async def csms_session(
    csms_class: type[Any], label: str, station: Station
) -> tuple[list[Any], Any]:
    """Serve ``csms_class`` (``start()`` per connection, as ``ocpp``'s documentation
    does) on 127.0.0.1; a raw station talks to it. Returns every frame the station
    received and what ``station`` returned."""
    received: list[Any] = []
    instances: list[Any] = []
    finished = asyncio.Event()
    subprotocol = Subprotocol(f"ocpp{label}")

    async def on_connect(websocket: ServerConnection) -> None:
        assert websocket.request is not None
        charge_point = csms_class(websocket.request.path.strip("/"), websocket)
        instances.append(charge_point)
        try:
            await charge_point.start()
        except websockets.ConnectionClosed:
            pass
        finally:
            finished.set()

    async with serve(on_connect, "127.0.0.1", 0, subprotocols=[subprotocol]) as server:
        port = server.sockets[0].getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}/CP1", subprotocols=[subprotocol]) as ws:

            async def recv() -> Any:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
                received.append(frame)
                return frame

            await until(lambda: instances)
            observed = await station(ws, recv, instances[0])
        await asyncio.wait_for(finished.wait(), 10)
    return received, observed


def on_both(
    bases: tuple[type[Any], type[Any]], make: Callable[[type[Any]], type[Any]], station: Station
) -> tuple[Any, Any]:
    """``(ocpp's session, compat's)``: the same CSMS code on each base, the same station."""
    label = bases[0]._ocpp_version
    return tuple(asyncio.run(csms_session(make(base), label, station)) for base in bases)  # type: ignore[return-value]


# --- pipelined CALLs --------------------------------------------------------------------


def transactions_backend(base: type[Any]) -> type[Any]:
    class Csms(base):  # type: ignore[misc]
        def __init__(self, id: str, connection: Any) -> None:
            super().__init__(id, connection)
            self.transactions: dict[int, int] = {}
            self.events: list[str] = []

        @on(enums16.Action.start_transaction)
        async def on_start_transaction(self, connector_id: int, **kwargs: Any) -> Any:
            self.events.append("start: begins")
            await asyncio.sleep(0.02)  # a database insert
            self.transactions[1] = connector_id
            self.events.append("start: stored")
            return result16.StartTransaction(transaction_id=1, id_tag_info={"status": "Accepted"})

        @on(enums16.Action.meter_values)
        async def on_meter_values(self, transaction_id: int, **kwargs: Any) -> Any:
            known = transaction_id in self.transactions
            self.events.append(f"meter values: transaction known {known}")
            return result16.MeterValues()

        @on(enums16.Action.stop_transaction)
        async def on_stop_transaction(self, transaction_id: int, **kwargs: Any) -> Any:
            known = self.transactions.pop(transaction_id, None) is not None
            self.events.append(f"stop: transaction known {known}")
            return result16.StopTransaction()

    return Csms


@pytest.mark.parametrize("frames", ["text", "binary"])
def test_pipelined_calls(frames: str) -> None:
    """An offline queue flushed without waiting for each answer: with ``ocpp`` each
    handler runs after the one before it finished, and the answers keep the order
    (in text frames, or in the binary frames some firmware sends)."""

    async def station(ws: Any, recv: Callable[[], Awaitable[Any]], csms: Any) -> Any:
        stamp = '"timestamp":"2026-12-02T11:00:00Z"'
        for frame in (
            f'[2,"1","StartTransaction",{{"connectorId":1,"idTag":"T","meterStart":0,{stamp}}}]',
            '[2,"2","MeterValues",{"connectorId":1,"transactionId":1,'
            f'"meterValue":[{{{stamp},"sampledValue":[{{"value":"1"}}]}}]}}]',
            f'[2,"3","StopTransaction",{{"transactionId":1,"meterStop":5,{stamp}}}]',
        ):
            await ws.send(frame if frames == "text" else frame.encode())
        for _ in range(3):
            await recv()
        return csms.events

    theirs, ours = on_both(V16, transactions_backend, station)
    assert ours == theirs
    assert [frame[1] for frame in ours[0]] == ["1", "2", "3"]
    assert ours[1] == [
        "start: begins",
        "start: stored",
        "meter values: transaction known True",
        "stop: transaction known True",
    ]


# --- route_message written whole ----------------------------------------------------------


def self_routing_backend(base: type[Any]) -> type[Any]:
    """``route_message`` rewritten without ``super()``: ``unpack``, ``_handle_call`` for a
    CALL, ``self._response_queue.put_nowait`` for a response (as ``ocpp``'s own does)."""

    class Csms(base):  # type: ignore[misc]
        async def route_message(self, raw_msg: str) -> None:
            try:
                msg = unpack(raw_msg)
            except ocpp.exceptions.OCPPError:
                return
            if msg.message_type_id == MessageType.Call:
                try:
                    await self._handle_call(msg)
                except ocpp.exceptions.OCPPError as error:
                    await self._send(msg.create_call_error(error).to_json())
            elif msg.message_type_id in (MessageType.CallResult, MessageType.CallError):
                self._response_queue.put_nowait(msg)

        @on(enums16.Action.boot_notification)
        def on_boot_notification(self, **kwargs: Any) -> Any:
            return result16.BootNotification(current_time=NOW, interval=10, status="Accepted")

        @after(enums16.Action.boot_notification)
        async def configure(self, **kwargs: Any) -> None:
            self._unique_id_generator = iter(["c1", "c2"]).__next__
            self.answers = [await self.call(call16.GetConfiguration(key=["HeartbeatInterval"]))]
            try:
                await self.call(call16.ClearCache(), suppress=False)
            except ocpp.exceptions.OCPPError as error:
                self.answers.append(error)

    return Csms


def test_response_queue_fed() -> None:
    """The responses such a ``route_message`` puts in ``_response_queue`` reach their
    ``call()`` (the drop-in matched only those it routed itself: the calls timed out)."""

    async def station(ws: Any, recv: Callable[[], Awaitable[Any]], csms: Any) -> Any:
        await ws.send(
            '[2,"b1","BootNotification",{"chargePointVendor":"V","chargePointModel":"M"}]'
        )
        await recv()
        question = await recv()
        await ws.send(json.dumps([3, question[1], {"unknownKey": ["HeartbeatInterval"]}]))
        question = await recv()
        await ws.send(json.dumps([4, question[1], "NotSupported", "no cache", {}]))
        await until(lambda: len(getattr(csms, "answers", ())) >= 2)
        return csms.answers

    theirs, ours = on_both(V16, self_routing_backend, station)
    assert ours == theirs
    assert ours[1] == [
        result16.GetConfiguration(unknown_key=["HeartbeatInterval"]),
        ocpp.exceptions.NotSupportedError(description="no cache"),
    ]


# --- the backend's own names ---------------------------------------------------------------


def busy_backend(base: type[Any]) -> type[Any]:
    """A backend with state and helpers of its own under short private names (a flag, a
    counter, a check, a delivery to its message bus...): ``ocpp`` uses none of them, so
    the drop-in must not either."""

    class Csms(base):  # type: ignore[misc]
        def __init__(self, id: str, connection: Any) -> None:
            super().__init__(id, connection)
            self._handling = False
            self._waiting = 0
            self._unmatched = "none"
            self._expect = "Accepted"
            self._last_call = None
            self.bus: list[str] = []

        def _check(self, id_tag: str) -> str:
            return "Accepted" if id_tag == "T" else "Invalid"

        def _deliver(self, event: str) -> None:
            self.bus.append(event)

        def _error_text(self) -> str:
            return "bus down"

        @on(enums16.Action.authorize)
        async def on_authorize(self, id_tag: str) -> Any:
            self._handling = True
            self._waiting += 1
            self._deliver(f"authorize {id_tag}")
            return result16.Authorize(id_tag_info={"status": self._check(id_tag)})

        @after(enums16.Action.authorize)
        async def ask_back(self, id_tag: str) -> None:
            self._unique_id_generator = lambda: "c1"
            result = await self.call(call16.ClearCache())
            self._deliver(f"cache {result.status == self._expect}")

    return Csms


def test_backend_names_are_its_own() -> None:
    async def station(ws: Any, recv: Callable[[], Awaitable[Any]], csms: Any) -> Any:
        await ws.send('[2,"a1","Authorize",{"idTag":"T"}]')
        await recv()
        question = await recv()
        await ws.send(json.dumps([3, question[1], {"status": "Accepted"}]))
        await until(lambda: len(csms.bus) >= 2)
        await ws.send('[2,"a2","Authorize",{"idTag":"X"}]')
        await recv()
        await recv()
        return csms.bus, csms._waiting

    theirs, ours = on_both(V16, busy_backend, station)
    assert ours == theirs
    assert ours[1] == (["authorize T", "cache True", "authorize X"], 2)


# --- a handler that fails ------------------------------------------------------------------


def failing_backend(base: type[Any]) -> type[Any]:
    class Csms(base):  # type: ignore[misc]
        @on(enums16.Action.authorize)
        async def on_authorize(self, id_tag: str, **kwargs: Any) -> Any:
            raise ocpp.exceptions.InternalError(description="Simulated network failure")

        @on(enums16.Action.heartbeat)
        async def on_heartbeat(self) -> Any:
            raise ConnectionRefusedError("the database is down")

        @on(enums16.Action.status_notification)
        def on_status_notification(self, connector_id: int, error_code: str, status: str) -> Any:
            return result16.StatusNotification()  # no **kwargs: an optional field breaks it

        @on(enums16.Action.data_transfer)
        def on_data_transfer(self, vendor_id: str, **kwargs: Any) -> Any:
            raise ocpp.exceptions.GenericError(details={"vendor": vendor_id})

    return Csms


@pytest.mark.parametrize(
    "frame",
    [
        '[2,"1","Authorize",{"idTag":"offline"}]',
        '[2,"2","Heartbeat",{}]',
        '[2,"3","StatusNotification",{"connectorId":1,"errorCode":"NoError","status":"Available",'
        '"info":"door open"}]',
        '[2,"4","DataTransfer",{"vendorId":"V"}]',
    ],
)
def test_handler_failures(frame: str) -> None:
    """What the station sees when a handler raises: ``ocpp``'s CALLERROR, word for word."""

    async def station(ws: Any, recv: Callable[[], Awaitable[Any]], csms: Any) -> Any:
        await ws.send(frame)
        return await recv()

    theirs, ours = on_both(V16, failing_backend, station)
    assert ours == theirs
    assert ours[1][:3] == [4, json.loads(frame)[1], ours[1][2]] and ours[1][2] in (
        "InternalError",
        "GenericError",
    )


# --- when start() ends ---------------------------------------------------------------------


def forgetful_backend(base: type[Any]) -> type[Any]:
    """The station is forgotten once ``start()`` ends (SAP's test CSMS cancels its timer and
    drops the station from its set on ``ConnectionClosed``). Its StopTransaction handler
    stores once the station has gone (a database update slower than the station's leaving:
    waited for, not slept on, so the answer always finds the connection closed)."""

    class Csms(base):  # type: ignore[misc]
        def __init__(self, id: str, connection: Any) -> None:
            super().__init__(id, connection)
            self.events: list[str] = []
            self.socket = connection

        async def start(self) -> None:
            try:
                await super().start()
            except websockets.ConnectionClosed:
                self.events.append("station forgotten")
                raise

        @on(enums16.Action.stop_transaction)
        async def on_stop_transaction(self, transaction_id: int, **kwargs: Any) -> Any:
            self.events.append("stop: begins")
            await asyncio.wait_for(self.socket.wait_closed(), 10)  # a database update
            self.events.append("stop: stored")
            return result16.StopTransaction()

    return Csms


def test_start_ends_after_its_handlers() -> None:
    """A station sending StopTransaction and leaving: the handler finishes before
    ``start()`` raises, as with ``ocpp`` (which reads nothing while a handler runs)."""

    async def station(ws: Any, recv: Callable[[], Awaitable[Any]], csms: Any) -> Any:
        await ws.send(
            '[2,"1","StopTransaction",{"transactionId":1,"meterStop":5,'
            '"timestamp":"2026-12-02T11:00:00Z"}]'
        )
        await until(lambda: csms.events)
        return csms.events  # the same list, read once start() ended

    theirs, ours = on_both(V16, forgetful_backend, station)
    assert ours == theirs
    assert ours[1] == ["stop: begins", "stop: stored", "station forgotten"]


def test_a_dropped_connection_logs_no_error_for_the_answer(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The station leaving while a handler runs: ``start()`` raises ``ConnectionClosed``
    and that is all the backend hears at WARNING or above, as with ``ocpp`` (the drop-in
    logged an extra ERROR for the answer it could not send); the failed send is DEBUG."""

    async def station(ws: Any, recv: Callable[[], Awaitable[Any]], csms: Any) -> Any:
        await ws.send(
            '[2,"1","StopTransaction",{"transactionId":1,"meterStop":5,'
            '"timestamp":"2026-12-02T11:00:00Z"}]'
        )
        await until(lambda: csms.events)
        return csms.events

    loud: dict[str, list[str]] = {}
    quiet: dict[str, list[str]] = {}
    for base in V16:
        caplog.clear()
        with caplog.at_level(logging.DEBUG):
            _, events = asyncio.run(csms_session(forgetful_backend(base), "1.6", station))
        assert events == ["stop: begins", "stop: stored", "station forgotten"]
        loud[base.__module__] = [
            r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING
        ]
        quiet[base.__module__] = [
            r.levelname for r in caplog.records if "before a call was answered" in r.getMessage()
        ]
    assert loud == {"ocpp.v16": [], "ocpp_fast.compat.v16": []}
    assert quiet == {"ocpp.v16": [], "ocpp_fast.compat.v16": ["DEBUG"]}


def test_cancelling_start_cancels_the_handler() -> None:
    class Connection:
        def __init__(self) -> None:
            self.inbox: asyncio.Queue[str] = asyncio.Queue()

        async def recv(self) -> str:
            return await self.inbox.get()

        async def send(self, message: str) -> None:
            raise AssertionError("nothing is answered")

    def backend_class(base: type[Any]) -> type[Any]:
        class Csms(base):  # type: ignore[misc]
            events: ClassVar[list[str]] = []

            @on(enums16.Action.heartbeat)
            async def on_heartbeat(self) -> Any:
                self.events.append("begins")
                try:
                    await asyncio.sleep(10)
                except asyncio.CancelledError:
                    self.events.append("cancelled")
                    raise
                return result16.Heartbeat(current_time=NOW)

        return Csms

    async def scenario(base: type[Any]) -> list[str]:
        cls = backend_class(base)
        connection = Connection()
        reading = asyncio.ensure_future(cls("CP1", connection).start())
        connection.inbox.put_nowait('[2,"1","Heartbeat",{}]')
        await until(lambda: cls.events)
        reading.cancel()
        await asyncio.gather(reading, return_exceptions=True)
        for _ in range(5):
            await asyncio.sleep(0)
        return list(cls.events)  # a copy: asyncio.run cancels what is left after it

    theirs, ours = (asyncio.run(scenario(base)) for base in V16)
    assert ours == theirs == ["begins", "cancelled"]


def test_a_handler_calling_a_station_that_sends_binary_frames() -> None:
    """A handler awaiting ``self.call()`` gets its answer whether the station writes text
    or binary frames (``ocpp``'s ``start()`` waits for the handler: the call times out)."""

    class Csms(v16.ChargePoint):
        @on(enums16.Action.boot_notification)
        async def on_boot_notification(self, **kwargs: Any) -> Any:
            self._unique_id_generator = lambda: "c1"
            self.configuration = await self.call(call16.GetConfiguration(key=["A"]))
            return result16.BootNotification(current_time=NOW, interval=10, status="Accepted")

    async def station(ws: Any, recv: Callable[[], Awaitable[Any]], csms: Any) -> Any:
        await ws.send(
            b'[2,"b1","BootNotification",{"chargePointVendor":"V","chargePointModel":"M"}]'
        )
        question = await recv()
        await ws.send(json.dumps([3, question[1], {"unknownKey": ["A"]}]).encode())
        await recv()
        return csms.configuration

    received, configuration = asyncio.run(csms_session(Csms, "1.6", station))
    assert [frame[:2] for frame in received] == [[2, "c1"], [3, "b1"]]
    assert configuration == result16.GetConfiguration(unknown_key=["A"])


# --- what the CSMS sends ---------------------------------------------------------------------


def commanding_backend(base: type[Any]) -> type[Any]:
    """SAP's test CSMS: commands sent from a timer task while ``start()`` reads, their
    payloads built from dicts (snake_case keys, ``ocpp_csms_url`` among them)."""

    class Csms(base):  # type: ignore[misc]
        async def start(self) -> None:
            await asyncio.gather(super().start(), self.commands())

        async def commands(self) -> None:
            requests = [
                call201.SetNetworkProfile(
                    configuration_slot=1,
                    connection_data={
                        "ocpp_version": "OCPP20",
                        "ocpp_transport": "JSON",
                        "ocpp_csms_url": "ws://127.0.0.1:9000",
                        "message_timeout": 30,
                        "security_profile": 0,
                        "ocpp_interface": "Wired0",
                    },
                ),
                call201.GetVariables(
                    get_variable_data=[
                        {
                            "component": {"name": "ChargingStation", "evse": {"id": 1}},
                            "variable": {"name": "AvailabilityState"},
                        }
                    ]
                ),
                call201.SetVariables(
                    set_variable_data=[
                        {
                            "component": {"name": "ChargingStation"},
                            "variable": {"name": "HeartbeatInterval"},
                            "attribute_value": "30",
                        }
                    ]
                ),
                call201.RequestStartTransaction(
                    id_token={"id_token": "test_token", "type": enums201.IdTokenEnumType.iso14443},
                    evse_id=1,
                    remote_start_id=7,
                ),
                call201.UpdateFirmware(
                    request_id=3,
                    firmware={"location": "https://x/fw.bin", "retrieve_date_time": NOW},
                ),
                call201.GetInstalledCertificateIds(
                    certificate_type=[enums201.GetCertificateIdUseEnumType.csms_root_certificate]
                ),
                call201.DataTransfer(vendor_id="V", data={"snake_key": [{"inner_key": 1}]}),
            ]
            self.results = []
            for number, request in enumerate(requests):
                self._unique_id_generator = lambda number=number: f"c{number}"
                self.results.append(await self.call(request, suppress=False))

    return Csms


def test_sap_csms_calls() -> None:
    replies = [
        {"status": "Accepted"},
        {
            "getVariableResult": [
                {
                    "attributeStatus": "Accepted",
                    "attributeValue": "Operative",
                    "component": {"name": "ChargingStation", "evse": {"id": 1}},
                    "variable": {"name": "AvailabilityState"},
                }
            ]
        },
        {
            "setVariableResult": [
                {
                    "attributeStatus": "Accepted",
                    "component": {"name": "ChargingStation"},
                    "variable": {"name": "HeartbeatInterval"},
                }
            ]
        },
        {"status": "Accepted", "transactionId": "t1", "statusInfo": {"reasonCode": "ok"}},
        {"status": "Accepted"},
        {"status": "NotFound"},
        {"status": "Accepted", "data": {"outerKey": {"innerKey": 1}}},
    ]

    async def station(ws: Any, recv: Callable[[], Awaitable[Any]], csms: Any) -> Any:
        for reply in replies:
            question = await recv()
            await ws.send(json.dumps([3, question[1], reply]))
        await until(lambda: len(getattr(csms, "results", ())) >= len(replies))
        return csms.results

    theirs, ours = on_both(V201, commanding_backend, station)
    assert ours == theirs
    assert ours[0][0][3]["connectionData"]["ocppCsmsUrl"] == "ws://127.0.0.1:9000"
    assert ours[1][1].get_variable_result[0]["attribute_value"] == "Operative"
    assert ours[1][6].data == {"outer_key": {"inner_key": 1}}


def calling_backend(base: type[Any]) -> type[Any]:
    """What ``call()`` returns or raises: ``suppress=False`` (SAP), a code ``ocpp`` does not
    know, ``unique_id=`` (a string, an integer), ``asyncio.wait_for`` around ``call()``
    and its answer arriving late (Growatt), ErrorDetails ``null``, the Decimals of a 1.6
    GetCompositeSchedule, a ``logging.LoggerAdapter`` as logger."""

    class Csms(base):  # type: ignore[misc]
        def __init__(self, id: str, connection: Any) -> None:
            adapter = logging.LoggerAdapter(logging.getLogger("thor"), {"station": id})
            super().__init__(id, connection, logger=adapter)

        async def start(self) -> None:
            await asyncio.gather(super().start(), self.commands())

        async def commands(self) -> None:
            clear = call16.ClearCache()
            steps: list[Callable[[], Awaitable[Any]]] = [
                lambda: self.call(call16.Reset(type=enums16.ResetType.hard), suppress=False),
                lambda: self.call(call16.Reset(type=enums16.ResetType.hard)),
                lambda: self.call(clear, suppress=False),
                lambda: self.call(clear, suppress=False, unique_id="mine"),
                lambda: self.call(clear, unique_id=42),
                lambda: asyncio.wait_for(self.call(call16.GetConfiguration(key=["A"])), 0.05),
                lambda: self.call(call16.GetConfiguration(key=["B"])),
                lambda: self.call(clear, suppress=False),
                lambda: self.call(call16.GetCompositeSchedule(connector_id=1, duration=60)),
            ]
            self.outcomes = []
            for number, step in enumerate(steps):
                self._unique_id_generator = lambda number=number: f"c{number}"
                try:
                    outcome = await step()
                except Exception as error:  # the outcome compared
                    outcome = (type(error), getattr(error, "description", None))
                self.outcomes.append(outcome)

    return Csms


def test_call_outcomes() -> None:
    schedule = {
        "status": "Accepted",
        "connectorId": 1,
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 21.4}],
        },
    }
    answers: dict[Any, list[Any]] = {
        "c0": ["NotSupported", "no reset", {}],
        "c1": ["NotSupported", "no reset", {}],
        "c2": ["Bogus", "what", {}],
        "mine": ["FormatViolation", "a 2.x code", {}],
        42: [{"status": "Accepted"}],
        "c6": [{"unknownKey": ["B"]}],
        "c7": ["InternalError", "no details", None],
        "c8": [schedule],
    }

    async def station(ws: Any, recv: Callable[[], Awaitable[Any]], csms: Any) -> Any:
        for _ in range(9):
            question = await recv()
            if question[1] == "c5":
                continue  # answered late, after the next question came
            if question[1] == "c6":
                await ws.send(json.dumps([3, "c5", {"unknownKey": ["A"]}]))
            answer = answers[question[1]]
            await ws.send(json.dumps([3 if len(answer) == 1 else 4, question[1], *answer]))
        await until(lambda: len(getattr(csms, "outcomes", ())) >= 9)
        return csms.outcomes

    theirs, ours = on_both(V16, calling_backend, station)
    assert ours == theirs
    assert ours[1][0] == (ocpp.exceptions.NotSupportedError, "no reset")
    assert ours[1][2] == (ocpp.exceptions.UnknownCallErrorCodeError, None)
    assert ours[1][5] == (TimeoutError, None)
    assert ours[1][8].charging_schedule["charging_schedule_period"][0]["limit"] == Decimal("21.4")


def everest_backend(base: type[Any]) -> type[Any]:
    """EVerest's test CSMS: ``datatypes`` in results, a positional ``call_result``, the
    request rebuilt as ``call.DataTransfer(**kwargs)`` and answered with a 2.0.1 result as
    a JSON string (``ocpp``'s own helpers), an ``@after`` hook calling the station."""

    class Csms(base):  # type: ignore[misc]
        @on(enums16.Action.boot_notification)
        def on_boot_notification(self, **kwargs: Any) -> Any:
            return result16.BootNotification(NOW, 1440, enums16.RegistrationStatus.accepted)

        @after(enums16.Action.boot_notification)
        async def configure(self, **kwargs: Any) -> None:
            self._unique_id_generator = lambda: "g1"
            self.configuration = await self.call(call16.GetConfiguration())

        @on(enums16.Action.start_transaction)
        def on_start_transaction(self, **kwargs: Any) -> Any:
            accepted = datatypes16.IdTagInfo(status=enums16.AuthorizationStatus.accepted)
            return result16.StartTransaction(transaction_id=1, id_tag_info=accepted)

        @on(enums16.Action.sign_certificate)
        def on_sign_certificate(self, **kwargs: Any) -> Any:
            return result16.SignCertificate(enums16.GenericStatus.accepted)

        @on(enums16.Action.data_transfer)
        def on_data_transfer(self, **kwargs: Any) -> Any:
            request = call16.DataTransfer(**kwargs)
            if request.message_id != "Authorize":
                return result16.DataTransfer(status=enums16.DataTransferStatus.unknown_vendor_id)
            status = enums201.AuthorizationStatusEnumType.accepted
            inner = result201.Authorize(id_token_info=datatypes201.IdTokenInfoType(status=status))
            data = json.dumps(remove_nones(snake_to_camel_case(dataclasses.asdict(inner))))
            return result16.DataTransfer(status=enums16.DataTransferStatus.accepted, data=data)

    return Csms


def test_everest_csms() -> None:
    stamp = '"timestamp":"2026-12-02T11:00:00Z"'
    frames = [
        f'[2,"2","StartTransaction",{{"connectorId":1,"idTag":"T","meterStart":0,{stamp}}}]',
        '[2,"3","SignCertificate",{"csr":"CSR"}]',
        '[2,"4","DataTransfer",{"vendorId":"org.openchargealliance.iso15118pnc",'
        '"messageId":"Authorize","data":"{}"}]',
        '[2,"5","DataTransfer",{"vendorId":"other"}]',
    ]

    async def station(ws: Any, recv: Callable[[], Awaitable[Any]], csms: Any) -> Any:
        await ws.send('[2,"1","BootNotification",{"chargePointVendor":"V","chargePointModel":"M"}]')
        await recv()
        question = await recv()
        key = {"key": "K", "readonly": True, "value": "é"}
        await ws.send(json.dumps([3, question[1], {"configurationKey": [key]}]))
        for frame in frames:
            await ws.send(frame)
            await recv()
        return csms.configuration

    theirs, ours = on_both(V16, everest_backend, station)
    assert ours == theirs
    assert ours[0][1] == [2, "g1", "GetConfiguration", {}]
    assert json.loads(ours[0][4][2]["data"]) == {"idTokenInfo": {"status": "Accepted"}}
    assert ours[1].configuration_key == [{"key": "K", "readonly": True, "value": "é"}]


# --- the station side ------------------------------------------------------------------------


async def station_session(
    station_class: type[Any], label: str, csms: Callable[[Any], Awaitable[None]]
) -> tuple[list[Any], Any]:
    """``station_class`` connected to a raw CSMS on 127.0.0.1 (``csms(websocket)`` plays
    it), as the simulators do: ``start()`` gathered with the station's own ``boot()``.
    Returns the frames the CSMS received and the station, once the CSMS is done."""
    subprotocol = Subprotocol(f"ocpp{label}")
    done = asyncio.Event()
    received: list[Any] = []

    async def on_connect(websocket: ServerConnection) -> None:
        async def recv() -> Any:
            frame = json.loads(await asyncio.wait_for(websocket.recv(), 10))
            received.append(frame)
            return frame

        websocket.next_frame = recv  # type: ignore[attr-defined]
        await csms(websocket)
        done.set()

    async with serve(on_connect, "127.0.0.1", 0, subprotocols=[subprotocol]) as server:
        port = server.sockets[0].getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}/CP_1", subprotocols=[subprotocol]) as ws:
            station = station_class("CP_1", ws, 5)
            reading = asyncio.ensure_future(station.start())
            await station.boot()
            await done.wait()
            reading.cancel()
            await asyncio.gather(reading, return_exceptions=True)
    return received, station


def simulator(base: type[Any]) -> type[Any]:
    """A 1.6 charge point simulator: a RemoteStartTransaction handler scheduling the
    StartTransaction ``call()`` in a task before it answers."""

    class Station(base):  # type: ignore[misc]
        async def boot(self) -> None:
            self._unique_id_generator = lambda: "b1"
            request = call16.BootNotification(charge_point_model="M", charge_point_vendor="V")
            self.booted = await self.call(request)

        @on(enums16.Action.remote_start_transaction)
        async def on_remote_start(self, id_tag: str, connector_id: int, **kwargs: Any) -> Any:
            async def start_transaction() -> None:
                self._unique_id_generator = lambda: "s1"
                request = call16.StartTransaction(
                    connector_id=connector_id, id_tag=id_tag, meter_start=0, timestamp=NOW
                )
                self.started = await self.call(request)

            self.starting = asyncio.ensure_future(start_transaction())
            return result16.RemoteStartTransaction(status=enums16.RemoteStartStopStatus.accepted)

        @on(enums16.Action.get_configuration)
        def on_get_configuration(self, key: list[str] | None = None) -> Any:
            known = [datatypes16.KeyValue(key="HeartbeatInterval", readonly=False, value="300")]
            return result16.GetConfiguration(configuration_key=known, unknown_key=key)

    return Station


def test_station_side() -> None:
    async def csms(websocket: Any) -> None:
        boot = await websocket.next_frame()
        # a CALL crossing the station's BootNotification, answered after it
        await websocket.send('[2,"r1","RemoteStartTransaction",{"idTag":"T","connectorId":1}]')
        await websocket.next_frame()
        status = {"currentTime": NOW, "interval": 10, "status": "Accepted"}
        await websocket.send(json.dumps([3, boot[1], status]))
        started = await websocket.next_frame()
        accepted = {"transactionId": 5, "idTagInfo": {"status": "Accepted"}}
        await websocket.send(json.dumps([3, started[1], accepted]))
        await websocket.send('[2,"g1","GetConfiguration",{"key":["X"]}]')
        await websocket.next_frame()

    def run(base: type[Any]) -> Any:
        async def session() -> Any:
            received, station = await station_session(simulator(base), "1.6", csms)
            await station.starting
            return received, station.booted, station.started

        return asyncio.run(session())

    theirs, ours = (run(base) for base in V16)
    assert ours == theirs
    assert [frame[:2] for frame in ours[0]] == [[2, "b1"], [3, "r1"], [2, "s1"], [3, "g1"]]
    assert ours[2].transaction_id == 5


def simulator201(base: type[Any]) -> type[Any]:
    """A 2.0.1 station: requests and results built from ``datatypes`` dataclasses nested
    in lists, enums and floats among them; ``custom_data`` with a vendor's own key."""

    class Station(base):  # type: ignore[misc]
        async def boot(self) -> None:
            self._unique_id_generator = lambda: "b1"
            station = datatypes201.ChargingStationType(
                model="M", vendor_name="V", modem=datatypes201.ModemType(iccid="1")
            )
            self.booted = await self.call(
                call201.BootNotification(
                    charging_station=station,
                    reason=enums201.BootReasonEnumType.power_up,
                    custom_data={"vendor_id": "X", "someKey": 1},
                )
            )
            self._unique_id_generator = lambda: "t1"
            energy = datatypes201.SampledValueType(
                value=1.5,
                measurand=enums201.MeasurandEnumType.energy_active_import_register,
                unit_of_measure=datatypes201.UnitOfMeasureType(unit="Wh", multiplier=0),
            )
            self.started = await self.call(
                call201.TransactionEvent(
                    event_type=enums201.TransactionEventEnumType.started,
                    timestamp=NOW,
                    trigger_reason=enums201.TriggerReasonEnumType.remote_start,
                    seq_no=0,
                    transaction_info=datatypes201.TransactionType(
                        transaction_id="tx1", remote_start_id=7
                    ),
                    id_token=datatypes201.IdTokenType(
                        id_token="T", type=enums201.IdTokenEnumType.iso14443
                    ),
                    evse=datatypes201.EVSEType(id=1, connector_id=1),
                    meter_value=[
                        datatypes201.MeterValueType(
                            timestamp=NOW,
                            sampled_value=[energy, datatypes201.SampledValueType(value=230)],
                        )
                    ],
                )
            )

        @on(enums201.Action.get_variables)
        def on_get_variables(self, get_variable_data: list[Any]) -> Any:
            results = [
                datatypes201.GetVariableResultType(
                    attribute_status=enums201.GetVariableStatusEnumType.accepted,
                    component=datatypes201.ComponentType(
                        name=asked["component"]["name"], evse=datatypes201.EVSEType(id=1)
                    ),
                    variable=datatypes201.VariableType(name=asked["variable"]["name"]),
                    attribute_value="1.5",
                    attribute_status_info=datatypes201.StatusInfoType(reason_code="ok"),
                )
                for asked in get_variable_data
            ]
            return result201.GetVariables(get_variable_result=results)

    return Station


def test_station_side_201() -> None:
    async def csms(websocket: Any) -> None:
        boot = await websocket.next_frame()
        status = {"currentTime": NOW, "interval": 10, "status": "Accepted"}
        vendor = {"vendorId": "X", "fooBar": {"bazQux": 1}}
        await websocket.send(json.dumps([3, boot[1], {**status, "customData": vendor}]))
        event = await websocket.next_frame()
        group = {"idToken": "G", "type": "Central"}
        info = {"status": "Accepted", "groupIdToken": group}
        message = {"format": "UTF8", "content": "hé"}
        answer = {"idTokenInfo": info, "updatedPersonalMessage": message}
        await websocket.send(json.dumps([3, event[1], answer]))
        await websocket.send(
            '[2,"g1","GetVariables",{"getVariableData":[{"component":{"name":"ChargingStation",'
            '"evse":{"id":1}},"variable":{"name":"Available","instance":"x"}}]}]'
        )
        await websocket.next_frame()

    def run(base: type[Any]) -> Any:
        async def session() -> Any:
            received, station = await station_session(simulator201(base), "2.0.1", csms)
            return received, station.booted, station.started

        return asyncio.run(session())

    theirs, ours = (run(base) for base in V201)
    assert ours == theirs
    assert ours[0][0][3]["customData"] == {"vendorId": "X", "someKey": 1}
    assert ours[1].custom_data == {"vendor_id": "X", "foo_bar": {"baz_qux": 1}}
    assert ours[0][2][2]["getVariableResult"][0]["component"]["evse"] == {"id": 1}


# --- a vendor's own actions ------------------------------------------------------------------


@dataclasses.dataclass
class VendorPing:
    """A vendor's own action (no schema of the version has it), request and result alike."""

    sequence_number: int
    custom_data: dict[str, Any] | None = None


def vendor_backend(base: type[Any]) -> type[Any]:
    """Actions outside the schemas, handled and sent with ``skip_schema_validation=True``
    (``ocpp`` routes whatever ``route_map`` holds, and sends what it is given)."""

    class Csms(base):  # type: ignore[misc]
        _call_result = SimpleNamespace(**vars(result16), VendorPing=VendorPing)

        @on("VendorPing", skip_schema_validation=True)
        def on_vendor_ping(self, sequence_number: int, **kwargs: Any) -> Any:
            return VendorPing(sequence_number + 2, custom_data={"vendor_id": "V"})

        @after("VendorPing")
        async def ping_back(self, sequence_number: int, **kwargs: Any) -> None:
            self._unique_id_generator = lambda: "v1"
            self.pong = await self.call(
                VendorPing(sequence_number + 1), skip_schema_validation=True
            )

        @on("VendorStrict")
        def on_vendor_strict(self, **kwargs: Any) -> Any:
            return VendorPing(0)  # never reached: without a schema ocpp cannot validate it

    return Csms


def test_vendor_actions() -> None:
    async def station(ws: Any, recv: Callable[[], Awaitable[Any]], csms: Any) -> Any:
        await ws.send('[2,"p1","VendorPing",{"sequenceNumber":1}]')
        question = next(frame for frame in (await recv(), await recv()) if frame[0] == 2)
        await ws.send(json.dumps([3, question[1], {"sequenceNumber": 10}]))
        await until(lambda: hasattr(csms, "pong"))
        await ws.send('[2,"p2","VendorStrict",{}]')
        refused = await recv()
        return csms.pong, refused[:3]

    theirs, ours = on_both(V16, vendor_backend, station)
    assert ours[0][:2] == theirs[0][:2] and ours[1] == theirs[1]  # VendorStrict: our words
    answer = {"sequenceNumber": 3, "customData": {"vendorId": "V"}}
    assert ours[0][:2] == [[3, "p1", answer], [2, "v1", "VendorPing", {"sequenceNumber": 2}]]
    assert ours[1] == (VendorPing(10), [4, "p2", "NotImplemented"])


# --- the log -------------------------------------------------------------------------------


def test_log_lines(caplog: pytest.LogCaptureFixture) -> None:
    """Every line on ``ocpp``'s logger, the frames at INFO as ``ocpp`` writes them; a
    handler's failure is ERROR with its traceback on both; a CALL refused for the
    station's fault (schema, no handler, malformed) is one WARNING line, not ``ocpp``'s
    ERROR with a traceback (the pinned difference of the docs' table)."""
    frames = [
        '[2,"1","Heartbeat",{}]',
        '[2,"2","BootNotification",{"chargePointVendor":"V"}]',
        '[2,"3","Reset",{"type":"Hard"}]',
    ]

    def backend(base: type[Any]) -> type[Any]:
        class Csms(base):  # type: ignore[misc]
            @on(enums16.Action.heartbeat)
            def on_heartbeat(self) -> Any:
                raise ValueError("the database is down")

            @on(enums16.Action.boot_notification)
            def on_boot_notification(self, **kwargs: Any) -> Any:
                raise AssertionError("refused before")

        return Csms

    async def station(ws: Any, recv: Callable[[], Awaitable[Any]], csms: Any) -> Any:
        for frame in frames:
            await ws.send(frame)
            await recv()

    lines = []
    for base in V16:
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger="ocpp"):
            asyncio.run(csms_session(backend(base), "1.6", station))
        records = [r for r in caplog.records if r.name.split(".")[0] == "ocpp"]
        lines.append(
            [(r.name, r.levelname, r.exc_info is not None) for r in records if r.levelno > 20]
        )
        assert {r.name for r in records} == {"ocpp"}
        sent = [r.getMessage() for r in records if r.getMessage().startswith("CP1: send ")]
        assert len(sent) == 3
    theirs, ours = lines
    failed = ("ocpp", "ERROR", True)
    assert theirs == [failed, failed, failed]
    assert ours == [failed, ("ocpp", "WARNING", False), ("ocpp", "WARNING", False)]


# --- what _handle_call returns ---------------------------------------------------------------


def recording_backend(base: type[Any]) -> type[Any]:
    """A CSMS keeping each answer it sent from what ``super()._handle_call()`` returns: the
    CALLRESULT (``.payload`` as sent, camelCase), None when the handler failed, the
    ``@after`` hook's own return value when there is one (an ``ocpp_csms`` package's
    ``ChargePointSession``, read through code search, records its responses so)."""

    class Csms(base):  # type: ignore[misc]
        def __init__(self, id: str, connection: Any) -> None:
            super().__init__(id, connection)
            self.returned: list[Any] = []

        async def _handle_call(self, msg: Any) -> Any:
            response = await super()._handle_call(msg)
            if response is None or not hasattr(response, "payload"):
                self.returned.append(response)
            else:
                self.returned.append((type(response).__mro__[-2].__name__, response.payload))
            return response

        @on(enums16.Action.start_transaction)
        def on_start_transaction(self, **kwargs: Any) -> Any:
            return result16.StartTransaction(transaction_id=7, id_tag_info={"status": "Accepted"})

        @on(enums16.Action.heartbeat)
        def on_heartbeat(self) -> Any:
            raise ValueError("the database is down")

        @on(enums16.Action.authorize)
        def on_authorize(self, id_tag: str) -> Any:
            return result16.Authorize(id_tag_info={"status": "Blocked"})

        @after(enums16.Action.authorize)
        def after_authorize(self, id_tag: str) -> str:
            return f"audited {id_tag}"

        @on(enums16.Action.status_notification)
        def on_status_notification(self, **kwargs: Any) -> Any:
            return result16.StatusNotification()

        @after(enums16.Action.status_notification)
        def after_status_notification(self, **kwargs: Any) -> None:
            raise KeyError("a missing field: ocpp swallows it")

        @on(enums16.Action.data_transfer)
        def on_data_transfer(self, **kwargs: Any) -> Any:
            return result16.DataTransfer(status="Maybe")  # not in the enum: refused

        @after(enums16.Action.data_transfer)
        def after_data_transfer(self, **kwargs: Any) -> None:
            self.returned.append("after a refused answer")

    return Csms


def test_handle_call_returns_what_ocpp_returns() -> None:
    stamp = '"timestamp":"2026-12-02T11:00:00Z"'
    frames = [
        f'[2,"1","StartTransaction",{{"connectorId":1,"idTag":"T","meterStart":0,{stamp}}}]',
        '[2,"2","Heartbeat",{}]',
        '[2,"3","Authorize",{"idTag":"T"}]',
        '[2,"4","StatusNotification",{"connectorId":1,"errorCode":"NoError","status":"Available"}]',
        '[2,"5","DataTransfer",{"vendorId":"V"}]',
    ]

    async def station(ws: Any, recv: Callable[[], Awaitable[Any]], csms: Any) -> Any:
        for frame in frames:
            await ws.send(frame)
            await recv()
        return csms.returned

    theirs, ours = on_both(V16, recording_backend, station)
    assert ours[1] == theirs[1]
    assert ours[1][:4] == [
        ("CallResult", {"transactionId": 7, "idTagInfo": {"status": "Accepted"}}),
        None,
        "audited T",
        ("CallResult", {}),
    ]
    assert [frame[0] for frame in ours[0]] == [3, 4, 3, 3, 4]


def test_handle_call_patched_on_the_instance_is_called() -> None:
    """``_handle_call`` replaced on the instance (a test's ``patch.object``, a wrapper set
    in ``__init__``): ``route_message`` calls it, as ``ocpp``'s does, and it gets the
    CALLRESULT sent (the drop-in skips building that one only for its own method)."""

    def backend(base: type[Any]) -> type[Any]:
        class Csms(base):  # type: ignore[misc]
            def __init__(self, id: str, connection: Any) -> None:
                super().__init__(id, connection)
                self.returned: list[Any] = []
                original: Any = super()._handle_call

                async def recording(msg: Any) -> Any:
                    sent = await original(msg)
                    self.returned.append((type(sent).__mro__[-2].__name__, sent.payload))
                    return sent

                self._handle_call = recording

            @on(enums16.Action.heartbeat)
            def on_heartbeat(self) -> Any:
                return result16.Heartbeat(current_time=NOW)

        return Csms

    async def station(ws: Any, recv: Callable[[], Awaitable[Any]], csms: Any) -> Any:
        await ws.send('[2,"1","Heartbeat",{}]')
        await recv()
        return csms.returned

    theirs, ours = on_both(V16, backend, station)
    assert ours[1] == theirs[1] == [("CallResult", {"currentTime": NOW})]


# --- message ids -----------------------------------------------------------------------------


def test_an_own_unique_id_over_36_characters() -> None:
    """``call(..., unique_id=...)`` with an id longer than the spec's 36 characters (the
    station's id and a UUID, for the logs): ``ocpp`` sends it and matches the answer; so
    does the drop-in (it refused the answer as malformed, and the call timed out). A
    station's own CALL with such an id is still refused (the pinned difference)."""
    long_id = "CP1-" + "0" * 36

    def backend(base: type[Any]) -> type[Any]:
        class Csms(base):  # type: ignore[misc]
            @on(enums16.Action.heartbeat)
            def on_heartbeat(self) -> Any:
                return result16.Heartbeat(current_time=NOW)

            @after(enums16.Action.heartbeat)
            async def clear(self) -> None:
                self._response_timeout = 2
                outcomes = []
                for unique_id in (long_id, long_id + "-2"):
                    try:
                        outcomes.append(await self.call(call16.ClearCache(), unique_id=unique_id))
                    except TimeoutError as error:
                        outcomes.append(error)
                self.outcomes = outcomes

        return Csms

    async def station(ws: Any, recv: Callable[[], Awaitable[Any]], csms: Any) -> Any:
        await ws.send('[2,"h1","Heartbeat",{}]')
        await recv()
        question = await recv()
        await ws.send(json.dumps([3, question[1], {"status": "Accepted"}]))
        question = await recv()  # the first answer refused: this comes after its timeout
        await ws.send(json.dumps([4, question[1], "NotSupported", "no cache", {}]))
        await until(lambda: hasattr(csms, "outcomes"))
        await ws.send(f'[2,"{long_id}","Heartbeat",{{}}]')
        refused = await recv()
        return csms.outcomes, refused[:3]

    theirs, ours = on_both(V16, backend, station)
    assert ours[0][:3] == theirs[0][:3]
    assert ours[1][0] == theirs[1][0] == [result16.ClearCache(status="Accepted"), None]
    assert ours[1][1] == [4, "-1", "FormationViolation"] and theirs[1][1][:2] == [3, long_id]
