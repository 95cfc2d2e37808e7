"""A queued message goes out as the bytes ``put()`` checked, not checked and encoded again.

The frame of a queued message is the one ``call()`` writes for the same request, byte for byte
(on both codec twins), 1.6 placeholder ids replaced; at sending, the request is neither
decoded nor checked and encoded again; the ``queue_call`` hook is given the stored message."""

from __future__ import annotations

import asyncio
import datetime
import gc
import logging
from types import ModuleType
from typing import Any

import msgspec
import pytest
from queue_station import FAST, transaction_event

from ocpp_fast import _outgoing, errors, protocol, v16, v201
from ocpp_fast._frame_log import frames_log
from ocpp_fast.aio import AsyncConnection
from ocpp_fast.protocol import Protocol, Side
from ocpp_fast.transport import MessageRetry, connect, serve
from ocpp_fast.transport.txqueue import QueuedMessage, TransactionQueue
from ocpp_fast.v16 import datatypes as datatypes16
from ocpp_fast.v16 import enums as enums16
from ocpp_fast.v16 import messages as messages16
from ocpp_fast.v201 import enums, messages

EVENTS = enums.TransactionEventEnumType
V16, V201 = v16.Charger.version, v201.Charger.version
NOW = datetime.datetime(2026, 1, 1, 12, 30, tzinfo=datetime.UTC)


def frame_of_call(version: Any, request: Any) -> bytes:
    """The frame ``Protocol.call`` writes for ``request``, under the message id "m1"."""
    sender = Protocol(version, Side.STATION, message_id_factory=lambda: "m1")
    sender.call(request)
    [frame] = sender.data_to_send()
    return frame


def frame_of_queued(message: QueuedMessage) -> bytes:
    """The frame ``Protocol.call_checked`` writes for a stored message, under the id "m1"."""
    version = V16 if message.version == "1.6" else V201
    sender = Protocol(version, Side.STATION, message_id_factory=lambda: "m1")
    sender.call_checked(message.action, message.payload, message.version)
    [frame] = sender.data_to_send()
    return frame


def meter_values16(transaction_id: int) -> messages16.MeterValuesRequest:
    sampled = [
        datatypes16.MeterValueSampledValueType(
            value="1234.5", measurand=enums16.MeasurandEnum.ENERGY_ACTIVE_IMPORT_REGISTER
        )
    ]
    reading = [datatypes16.MeterValueType(timestamp=NOW, sampled_value=sampled)]
    return messages16.MeterValuesRequest(
        connector_id=1, meter_value=reading, transaction_id=transaction_id
    )


def stop16(transaction_id: int) -> messages16.StopTransactionRequest:
    return messages16.StopTransactionRequest(
        meter_stop=1300, timestamp=NOW, transaction_id=transaction_id, id_tag="TAG"
    )


START16 = messages16.StartTransactionRequest(
    connector_id=1, id_tag="TAG", meter_start=100, timestamp=NOW
)


@pytest.mark.parametrize("store", ["memory", "file"])
def test_a_queued_frame_is_what_call_writes_byte_for_byte(
    impl: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Any, store: str
) -> None:
    """1.6 StartTransaction, MeterValues, StopTransaction (put with the placeholder, sent with
    the CSMS's id once the start is answered) and 2.0.1 TransactionEvent (seqNo numbered by
    the queue): each frame is the one ``call()`` writes for the request as sent."""
    monkeypatch.setattr(protocol, "_encode_call", impl.encode_call)
    queue = TransactionQueue(":memory:" if store == "memory" else str(tmp_path / "q.sqlite"))
    start = queue.put(V16, "StartTransaction", START16)
    meter = queue.put(V16, "MeterValues", meter_values16(start.transaction_id))
    stop = queue.put(V16, "StopTransaction", stop16(start.transaction_id))
    assert frame_of_queued(start) == frame_of_call(V16, START16)
    answer = messages16.StartTransactionResponse(
        transaction_id=501,
        id_tag_info=datatypes16.IdTagInfoType(status=enums16.IdTagInfoStatusEnum.ACCEPTED),
    )
    queue.acknowledged(start, answer)  # the CSMS's id goes into the stored meter and stop
    stored = {message.position: message for message in queue.messages()}
    assert frame_of_queued(stored[meter.position]) == frame_of_call(V16, meter_values16(501))
    assert frame_of_queued(stored[stop.position]) == frame_of_call(V16, stop16(501))
    for n, kind in enumerate([EVENTS.STARTED, EVENTS.UPDATED, EVENTS.ENDED]):
        event = transaction_event(kind, "T-9", n)
        put = queue.put(V201, "TransactionEvent", msgspec.structs.replace(event, seq_no=7))
        numbered = msgspec.structs.replace(event, seq_no=n)  # the queue's numbering
        assert frame_of_queued(put) == frame_of_call(V201, numbered)
    queue.close()


def test_a_checked_payload_goes_only_on_a_connection_of_its_version_and_side() -> None:
    """A stored message of another version is refused as ``call()`` refuses its request
    (``ValueError``: the queue drops it, logged), as is an action this side never sends."""
    payload = TransactionQueue().put(
        V201, "TransactionEvent", transaction_event(EVENTS.STARTED, "T", 0)
    )
    with pytest.raises(ValueError, match=r"speaks OCPP 1\.6"):
        Protocol(V16, Side.STATION).call_checked("TransactionEvent", payload.payload, "2.0.1")
    with pytest.raises(ValueError, match="not a request the"):
        Protocol(V201, Side.CSMS).call_checked("TransactionEvent", payload.payload, "2.0.1")
    station = Protocol(V201, Side.STATION)
    with pytest.raises(ValueError, match="not a request the"):
        station.call_checked("RequestStartTransaction", b"{}", "2.0.1")
    assert station.data_to_send() == []


class Recorder(v201.ChargeSystem):
    def __init__(self) -> None:
        self.seen: list[tuple[int, float]] = []

    def transaction_event(
        self, request: messages.TransactionEventRequest
    ) -> messages.TransactionEventResponse:
        assert request.meter_value  # every event of these tests has a reading
        self.seen.append((request.seq_no, request.meter_value[0].sampled_value[0].value))
        return messages.TransactionEventResponse(total_cost=1.5)


def test_a_queued_message_is_sent_without_being_decoded_checked_or_encoded_again(
    queue_path: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """``put()`` checks and encodes once; the sending writes those bytes (the frame logged is
    the stored payload in a CALL), the response comes back typed, and a change to the request
    after ``put()`` changes nothing sent."""
    checked: list[str] = []
    encode = _outgoing.encode_checked_payload

    def counting(payload: Any, action: str, version: Any, *, response: bool) -> bytes:
        if not response:
            checked.append(action)
        return encode(payload, action, version, response=response)

    def never(self: QueuedMessage) -> Any:
        raise AssertionError("a queued message was decoded again to be sent")

    monkeypatch.setattr(protocol, "encode_checked_payload", counting)
    monkeypatch.setattr(QueuedMessage, "request", never)

    async def session() -> tuple[list[tuple[int, float]], list[Any], list[bytes], list[bytes]]:
        csms = Recorder()
        server = await serve(csms)
        url = f"ws://127.0.0.1:{server.port}/ocpp/CS001"
        client = await connect(v201.Charger(), url, queue=queue_path, backoff=FAST)
        try:
            event = transaction_event(EVENTS.STARTED, "T1", 10)
            first = client.put(event)
            assert event.meter_value
            event.meter_value[0].sampled_value[0].value = 99.0  # after put: not what is sent
            second = client.put(transaction_event(EVENTS.ENDED, "T1", 20))
            answers = list(await asyncio.wait_for(asyncio.gather(first, second), 10))
            stored = [first.message.payload, second.message.payload]
            sent = [
                record.frame  # type: ignore[attr-defined]
                for record in caplog.records
                if getattr(record, "direction", None) == ">" and b"TransactionEvent" in record.frame  # type: ignore[attr-defined]
            ]
            return csms.seen, answers, stored, sent
        finally:
            await client.close()
            await server.close()

    with caplog.at_level(logging.DEBUG, frames_log.name):
        seen, answers, stored, sent = asyncio.run(session())
    assert seen == [(0, 10.0), (1, 20.0)]
    assert answers == [messages.TransactionEventResponse(total_cost=1.5)] * 2
    assert "TransactionEvent" not in checked  # not checked and encoded again at sending
    assert len(sent) == 2
    for frame, payload in zip(sent, stored, strict=True):
        message_id = msgspec.json.decode(frame)[1]
        assert frame == protocol._encode_call(message_id, "TransactionEvent", msgspec.Raw(payload))


def test_the_queue_call_hook_is_given_the_stored_message(queue_path: str) -> None:
    """``queue_call`` gets the :class:`QueuedMessage` (its action, position, payload), and
    ``message.send`` sends it: what ``ocpp-fast simulate`` counts each sending by."""
    given: list[tuple[str, int, bytes]] = []

    async def hook(connection: AsyncConnection, message: QueuedMessage, timeout: float) -> Any:
        given.append((message.action, message.position, message.payload))
        return await message.send(connection, timeout)

    async def session() -> tuple[list[Any], list[QueuedMessage]]:
        server = await serve(Recorder())
        url = f"ws://127.0.0.1:{server.port}/ocpp/CS001"
        client = await connect(v201.Charger(), url, queue=queue_path, backoff=FAST)
        client.queue_call = hook
        try:
            put = [
                client.put(transaction_event(kind, "T1", n))
                for n, kind in enumerate([EVENTS.STARTED, EVENTS.ENDED])
            ]
            answers = await asyncio.wait_for(asyncio.gather(*put), 10)
            return list(answers), [queued.message for queued in put]
        finally:
            await client.close()
            await server.close()

    answers, stored = asyncio.run(session())
    assert all(isinstance(answer, messages.TransactionEventResponse) for answer in answers)
    assert given == [(m.action, m.position, m.payload) for m in stored]


def test_a_checked_call_unanswered_times_out_naming_its_request() -> None:
    """``call_checked`` is ``call()`` but for the check: its timeout is the same, and says
    which request went unanswered."""

    class Silent(v201.ChargeSystem):
        async def transaction_event(
            self, request: messages.TransactionEventRequest
        ) -> messages.TransactionEventResponse:
            await asyncio.Event().wait()
            raise AssertionError("never answered")

    async def session() -> str:
        server = await serve(Silent())
        url = f"ws://127.0.0.1:{server.port}/ocpp/CS001"
        client = await connect(v201.Charger(), url, backoff=FAST)
        message = TransactionQueue().put(
            V201, "TransactionEvent", transaction_event(EVENTS.STARTED, "T", 0)
        )
        connection = client.connection
        assert connection is not None
        try:
            await message.send(connection, 0.2)
        except TimeoutError as exc:
            return str(exc)
        finally:
            await client.close()
            await server.close()
        return "answered"

    assert asyncio.run(session()).startswith("no answer to TransactionEventRequest (message id ")


def test_a_dropped_message_nobody_awaited_is_not_reported_as_never_retrieved(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Nobody need await a ``Queued``: its error, once the retries are spent, is no asyncio
    "exception was never retrieved" when it is collected (an await would still raise it)."""

    class Refusing(v201.ChargeSystem):
        def transaction_event(
            self, request: messages.TransactionEventRequest
        ) -> messages.TransactionEventResponse:
            raise errors.InternalError("the database is down")

    async def session() -> tuple[bool, BaseException | None]:
        server = await serve(Refusing())
        url = f"ws://127.0.0.1:{server.port}/ocpp/CS001"
        retry = MessageRetry(attempts=1, interval=0.01, timeout=2)
        client = await connect(v201.Charger(), url, queue=":memory:", backoff=FAST, retry=retry)
        try:
            kept = client.put(transaction_event(EVENTS.STARTED, "T1", 0))
            client.put(transaction_event(EVENTS.UPDATED, "T1", 1))  # never awaited
            queue = client.queue
            assert queue is not None
            while len(queue):
                await asyncio.sleep(0.01)
            gc.collect()
            try:
                await kept
            except errors.InternalError as exc:
                return True, exc
            return False, None
        finally:
            await client.close()
            await server.close()

    with caplog.at_level(logging.ERROR, "asyncio"):
        raised, error = asyncio.run(session())
        gc.collect()
    assert raised and isinstance(error, errors.InternalError)
    assert not [r for r in caplog.records if "never retrieved" in r.getMessage()]
