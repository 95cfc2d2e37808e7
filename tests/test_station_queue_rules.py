"""What a station's client owes a strict CSMS, over real sockets: its boot accepted before any
other request (``boot=``), and a message too big for the CSMS taken out of the queue instead of
closing every connection it is sent on."""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from queue_station import FAST, transaction_event

from ocpp_fast import errors, v16, v201
from ocpp_fast.aio import AsyncConnection, Registration, connect_in_memory
from ocpp_fast.transport import StationClient, connect, serve
from ocpp_fast.v16 import datatypes as datatypes16
from ocpp_fast.v16 import enums as enums16
from ocpp_fast.v16 import messages as messages16
from ocpp_fast.v201 import datatypes, enums, messages

pytestmark = pytest.mark.usefixtures("backend")

EVENTS = enums.TransactionEventEnumType
NOW = datetime.datetime(2026, 12, 3, tzinfo=datetime.UTC)
BOOT = messages.BootNotificationRequest(
    reason=enums.BootReasonEnumType.POWER_UP,
    charging_station=datatypes.ChargingStationType(model="M", vendor_name="V"),
)
BOOT16 = messages16.BootNotificationRequest(charge_point_vendor="V", charge_point_model="M")


def run(coro: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(asyncio.wait_for(coro(), 30))


class Strict:
    """The bookkeeping of a CSMS that answers each connection's first boot Pending (wait 1 s)
    and the next Accepted, and refuses, recording it, any other request before that."""

    def __init__(self) -> None:
        self.boots: list[str] = []
        self.refused: list[str] = []
        self.taken: list[str] = []
        self._accepted: set[str] = set()
        self._pending: set[str] = set()

    def boot_status(self, identity: str) -> str:
        status = "Accepted" if identity in self._pending else "Pending"
        (self._accepted if status == "Accepted" else self._pending).add(identity)
        self.boots.append(status)
        return status

    def take(self, action: str, identity: str) -> None:
        """``action`` arrived: taken once booted, else recorded and refused."""
        if identity not in self._accepted:
            self.refused.append(action)
            raise errors.SecurityError(f"{action} before an accepted boot")
        self.taken.append(action)

    def left(self, identity: str) -> None:
        """A new connection boots anew."""
        self._accepted.discard(identity)
        self._pending.discard(identity)


class Strict201(v201.ChargeSystem):
    def __init__(self) -> None:
        self.strict = Strict()

    def boot_notification(
        self, request: messages.BootNotificationRequest, context: Any
    ) -> messages.BootNotificationResponse:
        status = self.strict.boot_status(context.identity)
        return messages.BootNotificationResponse(
            current_time=NOW, interval=1, status=enums.RegistrationStatusEnumType(status)
        )

    def transaction_event(
        self, request: messages.TransactionEventRequest, context: Any
    ) -> messages.TransactionEventResponse:
        self.strict.take(f"TransactionEvent {request.seq_no}", context.identity)
        return messages.TransactionEventResponse()

    def status_notification(
        self, request: messages.StatusNotificationRequest, context: Any
    ) -> messages.StatusNotificationResponse:
        self.strict.take("StatusNotification", context.identity)
        return messages.StatusNotificationResponse()

    def heartbeat(
        self, request: messages.HeartbeatRequest, context: Any
    ) -> messages.HeartbeatResponse:
        self.strict.take("Heartbeat", context.identity)
        return messages.HeartbeatResponse(current_time=NOW)

    def on_disconnect(self, connection: AsyncConnection, reason: str) -> None:
        self.strict.left(connection.identity)


class Reporting201(v201.Charger):
    """Reports its connector in ``on_connect``, as a station back from an outage does."""

    async def on_connect(self, connection: AsyncConnection) -> None:
        await connection.call(
            messages.StatusNotificationRequest(
                timestamp=NOW,
                connector_status=enums.ConnectorStatusEnumType.AVAILABLE,
                evse_id=1,
                connector_id=1,
            )
        )


def test_the_queue_waits_for_the_boot_of_each_connection_to_be_accepted(queue_path: str) -> None:
    """Events queued offline, a call and on_connect's report all wait for Accepted (after a
    Pending); after the CSMS comes back, the new connection boots again and they wait again."""

    async def main() -> tuple[Strict, list[Any], StationClient]:
        csms = Strict201()
        server = await serve(csms)
        port = server.port
        client = StationClient(
            Reporting201(), f"ws://127.0.0.1:{port}/CS1", queue=queue_path, backoff=FAST, boot=BOOT
        )
        put = [client.put(transaction_event(EVENTS.STARTED, "T1", 0))]  # before any connection
        await client.start()
        put.append(client.put(transaction_event(EVENTS.UPDATED, "T1", 1)))
        answers: list[Any] = [await client.call(messages.HeartbeatRequest(), timeout=10)]
        answers += await asyncio.gather(*put)
        await server.close()
        offline = [client.put(transaction_event(EVENTS.UPDATED, "T1", n)) for n in (2, 3)]
        server = await serve(csms, port=port)
        try:
            answers += await asyncio.gather(*offline)
            answers.append(await client.call(transaction_event(EVENTS.ENDED, "T1", 4), timeout=10))
            return csms.strict, answers, client
        finally:
            await client.close()
            await server.close()

    strict, answers, client = run(main)
    assert strict.refused == []
    assert strict.boots == ["Pending", "Accepted", "Pending", "Accepted"]
    assert [a for a in strict.taken if a.startswith("TransactionEvent")] == [
        f"TransactionEvent {n}" for n in range(5)
    ]
    assert strict.taken.count("StatusNotification") == 2  # on_connect ran on each connection
    assert len(answers) == 6
    assert client.boot_response.status == enums.RegistrationStatusEnumType.ACCEPTED


def test_a_connection_knows_the_status_of_its_last_boot() -> None:
    async def main() -> list[Registration | None]:
        station, _ = connect_in_memory(v201.Charger(), Strict201(), identity="CS1")
        seen = [station.registration]
        for _ in range(2):
            await station.call(BOOT, timeout=5)
            seen.append(station.registration)
        return seen

    assert asyncio.run(main()) == [None, "Pending", "Accepted"]


class Strict16(v16.ChargeSystem):
    def __init__(self) -> None:
        self.strict = Strict()

    def boot_notification(
        self, request: messages16.BootNotificationRequest, context: Any
    ) -> messages16.BootNotificationResponse:
        status = self.strict.boot_status(context.identity)
        return messages16.BootNotificationResponse(
            current_time=NOW,
            interval=1,
            status=enums16.BootNotificationResponseStatusEnum(status),
        )

    def start_transaction(
        self, request: messages16.StartTransactionRequest, context: Any
    ) -> messages16.StartTransactionResponse:
        self.strict.take("StartTransaction", context.identity)
        accepted = datatypes16.IdTagInfoType(status=enums16.IdTagInfoStatusEnum.ACCEPTED)
        return messages16.StartTransactionResponse(id_tag_info=accepted, transaction_id=7)

    def stop_transaction(
        self, request: messages16.StopTransactionRequest, context: Any
    ) -> messages16.StopTransactionResponse:
        self.strict.take(f"StopTransaction {request.transaction_id}", context.identity)
        return messages16.StopTransactionResponse()


def test_ocpp16_the_queue_waits_for_the_boot_to_be_accepted(queue_path: str) -> None:
    async def main() -> tuple[Strict, Any]:
        csms = Strict16()
        server = await serve(csms)
        client = StationClient(
            v16.Charger(),
            f"ws://127.0.0.1:{server.port}/CS16",
            queue=queue_path,
            backoff=FAST,
            boot=[BOOT16],
        )
        start = client.put(
            messages16.StartTransactionRequest(
                connector_id=1, id_tag="TAG", meter_start=0, timestamp=NOW
            )
        )
        stop = client.put(
            messages16.StopTransactionRequest(
                meter_stop=10, timestamp=NOW, transaction_id=start.transaction_id
            )
        )
        try:
            await client.start()
            accepted = await client.booted(timeout=10)
            await asyncio.gather(start, stop)
            return csms.strict, accepted
        finally:
            await client.close()
            await server.close()

    strict, boot = run(main)
    assert strict.refused == []
    assert strict.boots == ["Pending", "Accepted"]
    assert strict.taken == ["StartTransaction", "StopTransaction 7"]
    assert boot.status == enums16.BootNotificationResponseStatusEnum.ACCEPTED


def test_boot_takes_one_request_of_each_version_spoken() -> None:
    with pytest.raises(ValueError, match="does not boot by itself"):
        asyncio.run(StationClient(v201.Charger(), "ws://h/CS1").booted())
    with pytest.raises(ValueError, match=r"one BootNotificationRequest of OCPP 1\.6"):
        StationClient({"1.6": v16.Charger(), "2.0.1": v201.Charger()}, "ws://h/CS1", boot=BOOT)
    with pytest.raises(ValueError, match="versions the station speaks"):
        StationClient(v201.Charger(), "ws://h/CS1", boot=[BOOT, BOOT16])  # type: ignore[arg-type, list-item]
    with pytest.raises(errors.PropertyConstraintViolationError):  # refused now, not per boot
        StationClient(
            v16.Charger(),
            "ws://h/CS1",
            boot=messages16.BootNotificationRequest(
                charge_point_vendor="V" * 21, charge_point_model="M"
            ),
        )


class Taking(v201.ChargeSystem):
    """Accepts every boot and takes every event (for a server with a small ``max_size``)."""

    def __init__(self) -> None:
        self.seq_nos: list[int] = []

    def transaction_event(
        self, request: messages.TransactionEventRequest
    ) -> messages.TransactionEventResponse:
        self.seq_nos.append(request.seq_no)
        return messages.TransactionEventResponse()

    def data_transfer(self, request: messages.DataTransferRequest) -> messages.DataTransferResponse:
        return messages.DataTransferResponse(status=enums.DataTransferStatusEnumType.ACCEPTED)


MAX_SIZE = 2000
"""The CSMS's largest message: an event with one meter value fits, one with 60 does not."""


def big_event(transaction: str, energy: int) -> messages.TransactionEventRequest:
    event = transaction_event(EVENTS.UPDATED, transaction, energy)
    return messages.TransactionEventRequest(
        event_type=event.event_type,
        timestamp=event.timestamp,
        trigger_reason=event.trigger_reason,
        seq_no=0,
        transaction_info=event.transaction_info,
        meter_value=list(event.meter_value or []) * 60,
    )


def test_a_queued_message_too_big_for_the_csms_is_dropped_and_the_rest_goes_on(
    queue_path: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The CSMS closes with 1009 at the big event: it is taken out (its awaiter told why, one
    WARNING with the action and size), the station reconnects and the rest is delivered."""

    async def main() -> tuple[list[int], list[Any], int, int]:
        csms = Taking()
        server = await serve(csms, max_size=MAX_SIZE)
        url = f"ws://127.0.0.1:{server.port}/CS1"
        client = await connect(v201.Charger(), url, queue=queue_path, backoff=FAST)
        try:
            put = [
                client.put(transaction_event(EVENTS.STARTED, "T1", 0)),
                client.put(big_event("T1", 1)),
                client.put(transaction_event(EVENTS.ENDED, "T1", 2)),
            ]
            outcomes = await asyncio.gather(*put, return_exceptions=True)
            queue = client.queue
            assert queue is not None
            return csms.seq_nos, outcomes, len(queue), client.connects
        finally:
            await client.close()
            await server.close()

    with caplog.at_level(logging.WARNING, "ocpp_fast.transport"):
        seq_nos, outcomes, left, connects = run(main)
    assert seq_nos == [0, 2]  # the big one (seqNo 1) never got through
    assert isinstance(outcomes[0], messages.TransactionEventResponse)
    assert isinstance(outcomes[2], messages.TransactionEventResponse)
    too_big = outcomes[1]
    assert isinstance(too_big, errors.TooBigForCsms) and isinstance(too_big, errors.OcppError)
    assert too_big.action == "TransactionEvent" and too_big.size > MAX_SIZE
    assert left == 0 and connects == 2  # one reconnect, not one per resend
    warned = [r.getMessage() for r in caplog.records if "larger than the CSMS" in r.getMessage()]
    assert warned == [
        f"CS1: dropped TransactionEvent 2 of transaction 'T1': {too_big.size} bytes, larger "
        "than the CSMS accepts (it closed the connection with 1009, message too big)"
    ]


def test_a_call_too_big_for_the_csms_says_so_instead_of_a_lost_connection() -> None:
    async def main() -> tuple[BaseException, str]:
        server = await serve(Taking(), max_size=MAX_SIZE)
        client = await connect(v201.Charger(), f"ws://127.0.0.1:{server.port}/CS1", backoff=FAST)
        try:
            big = messages.DataTransferRequest(vendor_id="V", data="x" * MAX_SIZE)
            with pytest.raises(errors.TooBigForCsms) as refused:
                await client.call(big, timeout=10)
            small = messages.DataTransferRequest(vendor_id="V", data="x")
            answer = await client.call(small, timeout=10)  # reconnected: the station goes on
            return refused.value, answer.status
        finally:
            await client.close()
            await server.close()

    refused, status = run(main)
    assert str(refused).startswith("DataTransfer of ") and "1009" in str(refused)
    assert status == "Accepted"
