"""The transaction queue's store: what is queued, seqNo numbering, durability, the bound.

The behaviour tests take ``queue_path`` (conftest): each runs on the in-memory store and on a
SQLite file. What only a file keeps (a restart) is tested on a file."""

from __future__ import annotations

import datetime
import sqlite3
from pathlib import Path

import msgspec
import pytest
from queue_station import transaction_event

from ocpp_fast import errors, v16, v201
from ocpp_fast.transport.txqueue import MEMORY, Kind, QueueFull, TransactionQueue, classify
from ocpp_fast.v16 import datatypes as datatypes16
from ocpp_fast.v16 import messages as messages16
from ocpp_fast.v201 import enums, messages

EVENTS = enums.TransactionEventEnumType
V201 = v201.Charger.version
NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


def put_event(queue: TransactionQueue, event: enums.TransactionEventEnumType, txn: str) -> int:
    """Put a TransactionEvent; return the seqNo the queue gave it."""
    message = queue.put(V201, "TransactionEvent", transaction_event(event, txn, 0))
    request = message.request()
    assert isinstance(request, messages.TransactionEventRequest)
    return request.seq_no


def meter_values_16(transaction_id: int | None) -> messages16.MeterValuesRequest:
    sampled = [datatypes16.MeterValueSampledValueType(value="1")]
    value = [datatypes16.MeterValueType(timestamp=NOW, sampled_value=sampled)]
    if transaction_id is None:
        return messages16.MeterValuesRequest(connector_id=1, meter_value=value)
    return messages16.MeterValuesRequest(
        connector_id=1, meter_value=value, transaction_id=transaction_id
    )


def test_what_is_transaction_related_per_version() -> None:
    start = messages16.StartTransactionRequest(
        connector_id=1, id_tag="TAG", meter_start=0, timestamp=NOW
    )
    stop = messages16.StopTransactionRequest(meter_stop=5, timestamp=NOW, transaction_id=7)
    assert classify("StartTransaction", start) == (Kind.START, "")
    assert classify("StopTransaction", stop) == (Kind.END, "7")
    assert classify("MeterValues", meter_values_16(7)) == (Kind.UPDATE, "7")
    assert classify("MeterValues", meter_values_16(None)) is None  # not of a transaction
    assert classify("Heartbeat", messages16.HeartbeatRequest()) is None
    for event, kind in [(EVENTS.STARTED, Kind.START), (EVENTS.UPDATED, Kind.UPDATE)]:
        assert classify("TransactionEvent", transaction_event(event, "T1", 0)) == (kind, "T1")
    assert classify("TransactionEvent", transaction_event(EVENTS.ENDED, "T1", 0)) == (
        Kind.END,
        "T1",
    )
    # 2.x MeterValues carry no transaction: never queued
    mv = messages.MeterValuesRequest(evse_id=1, meter_value=[])
    assert classify("MeterValues", mv) is None
    assert v16.Charger.version.label == "1.6"


def test_seq_no_per_transaction_continues_across_a_reopen(tmp_path: Path) -> None:
    path = str(tmp_path / "q.sqlite")
    queue = TransactionQueue(path)
    assert [put_event(queue, EVENTS.STARTED, "A"), put_event(queue, EVENTS.UPDATED, "A")] == [0, 1]
    assert put_event(queue, EVENTS.STARTED, "B") == 0  # each transaction its own count
    queue.close()  # a restart: the counter and the messages are in the file
    queue = TransactionQueue(path)
    assert len(queue) == 3
    assert [put_event(queue, EVENTS.UPDATED, "A"), put_event(queue, EVENTS.ENDED, "A")] == [2, 3]
    pragmas = [
        queue._store._db.execute(f"PRAGMA {name}").fetchone()[0]  # type: ignore[attr-defined]
        for name in ("journal_mode", "synchronous")
    ]
    assert pragmas == ["wal", 2]  # 2: FULL, an fsync per commit
    queue.close()


def test_seq_no_per_transaction_and_an_ended_transaction_starts_again_from_0(
    queue_path: str,
) -> None:
    queue = TransactionQueue(queue_path)
    assert [put_event(queue, EVENTS.STARTED, "A"), put_event(queue, EVENTS.UPDATED, "A")] == [0, 1]
    assert put_event(queue, EVENTS.STARTED, "B") == 0
    assert put_event(queue, EVENTS.ENDED, "A") == 2
    assert put_event(queue, EVENTS.UPDATED, "B") == 1
    assert put_event(queue, EVENTS.STARTED, "A") == 0  # its counter was forgotten at its end
    assert len(queue) == 6
    queue.close()


def test_a_queue_file_that_cannot_be_opened_is_named(tmp_path: Path) -> None:
    """sqlite says "unable to open database file" or "file is not a database" and names no
    file: the error names the queue's path, and keeps sqlite's class."""
    missing = tmp_path / "no-such-folder" / "queue.sqlite"
    with pytest.raises(sqlite3.OperationalError, match="unable to open database file") as opened:
        TransactionQueue(str(missing))
    assert str(opened.value).startswith(f"transaction queue {str(missing)!r}: ")
    not_a_database = tmp_path / "station.conf"
    not_a_database.write_text("url = ws://csms/ocpp\n" * 100)
    with pytest.raises(sqlite3.DatabaseError, match=f"transaction queue '{not_a_database}': "):
        TransactionQueue(str(not_a_database))


def test_a_memory_queue_keeps_nothing_on_disk_nor_after_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``":memory:"`` opens no SQLite database (the cost a simulator paid per message), writes
    no file, and a second queue opened so starts empty: nothing outlives the queue."""
    monkeypatch.chdir(tmp_path)
    opened: list[str] = []
    monkeypatch.setattr(sqlite3, "connect", lambda path, *a, **k: opened.append(path))
    queue = TransactionQueue(MEMORY)
    put_event(queue, EVENTS.STARTED, "A")
    assert not queue.durable and len(queue) == 1
    queue.close()
    again = TransactionQueue(MEMORY)
    assert len(again) == 0 and put_event(again, EVENTS.UPDATED, "A") == 0
    assert opened == [] and list(tmp_path.iterdir()) == []


def test_head_is_the_oldest_and_remove_and_failed_count(queue_path: str) -> None:
    queue = TransactionQueue(queue_path)
    put_event(queue, EVENTS.STARTED, "A")
    put_event(queue, EVENTS.UPDATED, "A")
    head = queue.head()
    assert head is not None and head.kind is Kind.START and head.attempts == 0
    assert queue.failed(head.position) == 1
    assert queue.failed(head.position) == 2
    queue.remove(head.position)
    second = queue.head()
    assert second is not None and second.kind is Kind.UPDATE and second.position > head.position
    queue.remove(second.position)
    assert queue.head() is None and len(queue) == 0


def test_an_invalid_request_is_refused_and_nothing_is_stored(queue_path: str) -> None:
    queue = TransactionQueue(queue_path)
    bad = transaction_event(EVENTS.STARTED, "x" * 37, 0)  # transactionId: at most 36
    with pytest.raises(errors.OcppError):
        queue.put(V201, "TransactionEvent", bad)
    assert len(queue) == 0
    assert put_event(queue, EVENTS.STARTED, "A") == 0
    with pytest.raises(errors.OcppError):  # the schema breaks after the seqNo was read
        empty = msgspec.structs.replace(transaction_event(EVENTS.UPDATED, "A", 1), meter_value=[])
        queue.put(V201, "TransactionEvent", empty)  # meterValue: at least one
    assert put_event(queue, EVENTS.UPDATED, "A") == 1  # the refused one took no number
    with pytest.raises(ValueError, match="not a transaction-related"):
        queue.put(V201, "Heartbeat", messages.HeartbeatRequest())


def seq_nos(queue: TransactionQueue) -> list[int]:
    found = []
    for message in queue.messages():
        request = message.request()
        assert isinstance(request, messages.TransactionEventRequest)
        found.append(request.seq_no)
    return found


def test_when_full_the_oldest_update_goes_never_a_start_or_an_end(queue_path: str) -> None:
    queue = TransactionQueue(queue_path, max_messages=4)
    for event in [EVENTS.STARTED, EVENTS.UPDATED, EVENTS.UPDATED, EVENTS.UPDATED]:
        put_event(queue, event, "A")  # seqNo 0 to 3
    queue.sending = queue.messages()[1].position  # update 1 is on the wire: it stays
    put_event(queue, EVENTS.UPDATED, "A")  # 4: drops update 2, the oldest not in flight
    assert seq_nos(queue) == [0, 1, 3, 4]
    queue.sending = None
    put_event(queue, EVENTS.ENDED, "A")  # 5: drops update 1
    assert seq_nos(queue) == [0, 3, 4, 5]
    put_event(queue, EVENTS.STARTED, "B")  # drops 3
    put_event(queue, EVENTS.STARTED, "C")  # drops 4
    kinds = [message.kind for message in queue.messages()]
    assert kinds == [Kind.START, Kind.END, Kind.START, Kind.START]
    with pytest.raises(QueueFull):
        put_event(queue, EVENTS.UPDATED, "B")
    assert len(queue) == 4
    queue.remove(queue.messages()[0].position)
    assert put_event(queue, EVENTS.UPDATED, "B") == 1  # the refused one took no number


def restarted(queue: TransactionQueue) -> TransactionQueue:
    """``queue`` opened again as by a restarted process, where its store survives one (a file);
    a memory queue goes on as it is (restarted, it would be empty)."""
    if not queue.durable:
        return queue
    queue.close()
    return TransactionQueue(queue.path, max_messages=queue.max_messages)


def test_16_placeholder_ids_are_replaced_when_the_start_is_answered_even_after_a_restart(
    queue_path: str,
) -> None:
    v16_version = v16.Charger.version
    queue = TransactionQueue(queue_path)
    start = messages16.StartTransactionRequest(
        connector_id=1, id_tag="TAG", meter_start=0, timestamp=NOW
    )
    started = queue.put(v16_version, "StartTransaction", start)
    placeholder = started.transaction_id
    assert placeholder == -started.position
    queue.put(v16_version, "MeterValues", meter_values_16(placeholder))
    queue = restarted(queue)  # before the CSMS answered
    answer = messages16.StartTransactionResponse(
        id_tag_info=datatypes16.IdTagInfoType(status=v16.enums.IdTagInfoStatusEnum.ACCEPTED),
        transaction_id=7,
    )
    assert queue.csms_transaction_id(placeholder) is None  # not answered yet
    queue.acknowledged(started, answer)
    assert queue.csms_transaction_id(placeholder) == 7  # what a RemoteStop will name
    assert queue.csms_transaction_id(7) == 7  # the CSMS's own id already
    stop = messages16.StopTransactionRequest(
        meter_stop=5, timestamp=NOW, transaction_id=placeholder
    )
    stopped = queue.put(v16_version, "StopTransaction", stop)  # put after the answer
    queued = queue.messages()
    assert [m.action for m in queued] == ["MeterValues", "StopTransaction"]
    requests = [m.request() for m in queued]
    assert isinstance(requests[0], messages16.MeterValuesRequest)
    assert isinstance(requests[1], messages16.StopTransactionRequest)
    assert [requests[0].transaction_id, requests[1].transaction_id] == [7, 7]
    assert [m.transaction for m in queued] == ["7", "7"]
    queue.acknowledged(stopped, messages16.StopTransactionResponse())
    assert queue.csms_transaction_id(placeholder) is None  # the transaction ended: forgotten
    queue.close()
