# pyright: strict
"""The sans-I/O core gives no ``Any``: a CALL's payload, a CALLRESULT's and an event's
response are typed ``OcppStruct`` (the base of every message), narrowed with ``isinstance``
to read a field; a decoded CALLRESULT's payload is ``OcppStruct | object`` (the JSON as
decoded when its id matched no pending CALL). A simulated station's hooks take the station's
``AsyncConnection``, as a version's ``Charger`` declares them.

Checked by mypy --strict and pyright strict (tests/test_typing.py); never run.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import assert_type

from ocpp_fast import OcppStruct, Request, codec, v201
from ocpp_fast.aio import AsyncConnection
from ocpp_fast.cluster import DurableEvent
from ocpp_fast.dispatch import OcppHandler, Route, is_awaitable
from ocpp_fast.frames import Call, CallResult, Send
from ocpp_fast.protocol import CallReceived, CallSucceeded, Protocol, SendReceived
from ocpp_fast.simulator import SimulatedStation, SimulatedStation16
from ocpp_fast.tolerance import Deviation, Tolerance, repair
from ocpp_fast.transport.txqueue import QueuedMessage
from ocpp_fast.v201 import enums, messages


def events(protocol: Protocol, data: bytes) -> None:
    for event in protocol.receive(data):
        if isinstance(event, CallSucceeded):
            assert_type(event.response, OcppStruct)
            if isinstance(event.response, messages.ResetResponse):
                status: enums.ResetStatusEnumType = event.response.status
                print(status)
        elif isinstance(event, CallReceived):
            assert_type(event.call.payload, OcppStruct)
            if isinstance(event.call.payload, messages.HeartbeatRequest):
                protocol.respond(event.call.message_id, event.call.action, event.call.payload)
        elif isinstance(event, SendReceived):
            assert_type(event.send, Send)
            assert_type(event.send.payload, OcppStruct)


def frames(data: bytes) -> None:
    frame = codec.decode_frame(data, v201.VERSION, {"a": "Reset"})
    if isinstance(frame, Call):
        assert_type(frame.payload, OcppStruct)
    elif isinstance(frame, CallResult):
        assert_type(frame.payload, OcppStruct | object)
        if frame.action is not None and isinstance(frame.payload, messages.ResetResponse):
            print(frame.payload.status)


class Station(SimulatedStation):
    def on_connect(self, connection: AsyncConnection) -> Awaitable[None] | None:
        print(connection.identity, connection.connected_since)
        return super().on_connect(connection)

    def on_disconnect(self, connection: AsyncConnection, reason: str) -> Awaitable[None] | None:
        print(connection.identity, reason)
        return super().on_disconnect(connection, reason)


def hooks(station: SimulatedStation16, connection: AsyncConnection) -> None:
    station.on_connect(connection)
    station.on_disconnect(connection, "gone")


def stored(event: DurableEvent, queued: QueuedMessage) -> None:
    """A stored request is a Struct of the event's action: typed by ``kind=``, or narrowed."""
    assert_type(event.request(), OcppStruct)
    assert_type(event.request(messages.TransactionEventRequest), messages.TransactionEventRequest)
    assert_type(queued.request(), Request[OcppStruct])


async def wrapped(handler: OcppHandler, route: Route, call: Call) -> object:
    """What ``invoke_handler`` returns is whatever the handler did: awaited once narrowed."""
    result = handler.invoke_handler(route, call, "CS001", None)
    assert_type(result, object)
    if is_awaitable(result):
        return await result
    return result


def repaired(payload: dict[str, object]) -> None:
    """A repaired payload is decoded as the Struct type it was asked for."""
    request, found = repair(payload, messages.HeartbeatRequest, v201.VERSION, Tolerance.ALL)
    assert_type(request, messages.HeartbeatRequest)
    assert_type(found, list[Deviation])
