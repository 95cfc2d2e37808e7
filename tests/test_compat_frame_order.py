"""Frames reach ``route_message`` in the order they were read, on ``ocpp`` and on the drop-in.

A pattern of test CSMSs and logging backends (EVerest's test CSMS among them, read through
code search, December 2026; no code copied): ``route_message`` overridden to record each frame
before ``super().route_message()``. A station that sends a CALL (a StatusNotification, a
TransactionEvent) and, right after it, the answer to the CSMS's own ``call()`` puts both in
the socket at once. ``ocpp``'s ``start()`` routes the CALL, handles it, then reads the answer;
the drop-in's read the answer on and routed it before its CALL task had begun, so the recorder
saw the answer first, and the answer's ``call()`` could go on before the CALL's handler ran.
A handler reading the next frame itself (``await self._connection.recv()``) lost it so, and
once ``start()`` let it begin first, ``start()``'s own read was refused while the handler waited.

Run over real WebSockets on 127.0.0.1, on both classes, 1.6 and 2.0.1.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import ocpp.v16
import ocpp.v201
import pytest
from compat_pair import ocpp_validating_inline
from ocpp.routing import on
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as call_result16
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as call_result201
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

from ocpp_fast.compat import v16, v201


@pytest.fixture(autouse=True)
def _inline_validation() -> Iterator[None]:
    with ocpp_validating_inline():
        yield


class Recorder:
    """What each backend below records: the frames routed (their message type) and the
    handlers run, in the order they happened."""

    events: list[Any]

    async def route_message(self, raw_msg: str) -> None:
        self.events.append(("frame", json.loads(raw_msg)[0]))
        await super().route_message(raw_msg)  # type: ignore[misc]


def csms16(base: type[Any]) -> type[Any]:
    class Csms(Recorder, base):  # type: ignore[misc]
        @on("StatusNotification")
        def on_status_notification(self, connector_id: int, status: str, **kwargs: Any) -> Any:
            self.events.append(("handled", status))
            return call_result16.StatusNotification()

        async def command(self) -> Any:
            request = call16.RemoteStartTransaction(id_tag="T", connector_id=1)
            return (await self.call(request)).status

    return Csms


def csms201(base: type[Any]) -> type[Any]:
    class Csms(Recorder, base):  # type: ignore[misc]
        @on("TransactionEvent")
        def on_transaction_event(self, event_type: str, **kwargs: Any) -> Any:
            self.events.append(("handled", event_type))
            return call_result201.TransactionEvent()

        async def command(self) -> Any:
            request = call201.RequestStartTransaction(
                id_token={"id_token": "T", "type": "ISO14443"}, remote_start_id=1
            )
            return (await self.call(request)).status

    return Csms


STATION_CALLS = {
    "1.6": '[2,"s1","StatusNotification",{"connectorId":1,"errorCode":"NoError",'
    '"status":"Preparing"}]',
    "2.0.1": '[2,"s1","TransactionEvent",{"eventType":"Started","timestamp":'
    '"2026-12-04T15:00:00Z","triggerReason":"RemoteStart","seqNo":0,'
    '"transactionInfo":{"transactionId":"tx1"}}]',
}


async def session(cls: type[Any], label: str) -> list[Any]:
    """The CSMS calls the station; the station sends its CALL, then its answer, at once."""
    events: list[Any] = []
    finished = asyncio.Event()
    protocol: Any = f"ocpp{label}"

    async def on_connect(websocket: ServerConnection) -> None:
        csms = cls("CP-1", websocket)
        csms.events = events
        reading = asyncio.ensure_future(csms.start())
        events.append(("call returned", await csms.command()))
        await asyncio.sleep(0.05)  # the CALL's answer goes out
        reading.cancel()
        finished.set()

    async with serve(on_connect, "127.0.0.1", 0, subprotocols=[protocol]) as server:
        port = server.sockets[0].getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}", subprotocols=[protocol]) as station:
            request = json.loads(await station.recv())
            await station.send(STATION_CALLS[label])
            await station.send(json.dumps([3, request[1], {"status": "Accepted"}]))
            await asyncio.wait_for(finished.wait(), 5)
            assert json.loads(await station.recv())[:2] == [3, "s1"]
    return events


@pytest.mark.parametrize(
    ("label", "backend", "bases", "handled"),
    [
        ("1.6", csms16, (ocpp.v16.ChargePoint, v16.ChargePoint), "Preparing"),
        ("2.0.1", csms201, (ocpp.v201.ChargePoint, v201.ChargePoint), "Started"),
    ],
)
def test_a_call_and_the_answer_after_it_are_routed_in_the_order_read(
    label: str, backend: Any, bases: tuple[type[Any], type[Any]], handled: str
) -> None:
    on_ocpp, on_drop_in = (asyncio.run(session(backend(base), label)) for base in bases)
    assert on_ocpp == [
        ("frame", 2),
        ("handled", handled),
        ("frame", 3),
        ("call returned", "Accepted"),
    ]
    assert on_drop_in == on_ocpp


def raw_reader(base: type[Any]) -> type[Any]:
    """A 2.0.1 CSMS whose DataTransfer handler reads the frame after its CALL itself, first
    thing (some backends take a vendor's raw follow-up frame so)."""

    class Csms(base):  # type: ignore[misc]
        read: list[Any]

        @on("DataTransfer")
        async def on_data_transfer(self, **kwargs: Any) -> Any:
            self.read.append(await self._connection.recv())
            return call_result201.DataTransfer(status="Accepted")

    return Csms


async def raw_frame_session(cls: type[Any]) -> tuple[list[Any], Any, str]:
    """The station sends a DataTransfer, then, a while later, the raw frame the handler
    reads; it closes once answered: what the handler read, the answer, how ``start()``
    ended."""
    ended: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    read: list[Any] = []

    async def on_connect(websocket: ServerConnection) -> None:
        csms = cls("CP-1", websocket)
        csms.read = read
        try:
            await csms.start()
        except Exception as error:  # the station closing: ConnectionClosedOK
            ended.set_result(type(error).__name__)

    async with serve(on_connect, "127.0.0.1", 0, subprotocols=["ocpp2.0.1"]) as server:  # type: ignore[list-item]
        port = server.sockets[0].getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}", subprotocols=["ocpp2.0.1"]) as station:  # type: ignore[list-item]
            await station.send('[2,"d1","DataTransfer",{"vendorId":"V"}]')
            await asyncio.sleep(0.05)  # the handler waits in its recv() meanwhile
            await station.send("a vendor's raw frame")
            answer = json.loads(await asyncio.wait_for(station.recv(), 5))
    return read, answer, await asyncio.wait_for(ended, 5)


def test_a_handler_reading_the_next_frame_itself_gets_it_as_with_ocpp() -> None:
    """The handler's ``recv()`` began before ``start()`` read again, so ``websockets``
    refused ``start()``'s read (``ConcurrencyError``), which ended ``start()`` on the drop-in
    while the handler still waited. ``start()`` now reads again once the handler is done,
    as ``ocpp``'s, which reads nothing while a handler runs."""
    theirs, ours = (
        asyncio.run(raw_frame_session(raw_reader(base)))
        for base in (ocpp.v201.ChargePoint, v201.ChargePoint)
    )
    assert theirs == (
        ["a vendor's raw frame"],
        [3, "d1", {"status": "Accepted"}],
        "ConnectionClosedOK",
    )
    assert ours == theirs
