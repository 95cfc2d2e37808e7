"""The two twins of a durable CALL's event and publish bytes (``_store_c``, ``_store_py``):
the same bytes for the same input, bytes that decode as the ``DurableEvent`` they stand
for, and the dedup id a store carries unchanged from the formula gateways always used."""

from __future__ import annotations

import datetime
import hashlib
import importlib
import time
from types import ModuleType

import pytest

from ocpp_fast import codec
from ocpp_fast.cluster import _store, _store_py
from ocpp_fast.cluster.relay import dedup_id
from ocpp_fast.cluster.wire import decode_event
from ocpp_fast.v201 import datatypes, enums, messages


def _twins() -> list[ModuleType]:
    try:
        compiled = importlib.import_module("ocpp_fast.cluster._store_c")
    except ImportError:
        return [_store_py]
    return [compiled, _store_py]


TWINS = _twins()
NOW = 1_796_000_000_123_456_789  # 2026-11-29, an instant with nanoseconds
IDS = [
    "m1",
    "",
    "0" * 36,
    *(chr(c) for c in range(128)),
    "é",
    "日本",
    "🔌",
    'a"b\\c',
    "tab\there",
]


def test_the_compiled_twin_is_the_one_in_use_where_the_codec_s_is() -> None:
    compiled = codec.IMPLEMENTATION == "cython"
    assert _store.implementation is (TWINS[0] if compiled else _store_py)


@pytest.mark.parametrize("message_id", IDS)
def test_both_twins_write_the_same_event_and_it_decodes_as_sent(message_id: str) -> None:
    head = _store_py.event_head("CS/1 ü", "TransactionEvent", "2.0.1", "node-a")
    payload = b'{"eventType":"Started"}'
    bodies = {twin.event_body(head, message_id, NOW, payload) for twin in TWINS}
    assert len(bodies) == 1
    event = decode_event(bodies.pop())
    assert (event.identity, event.action, event.version, event.node) == (
        "CS/1 ü",
        "TransactionEvent",
        "2.0.1",
        "node-a",
    )
    assert event.message_id == message_id
    assert bytes(event.payload) == payload
    expected = datetime.datetime.fromtimestamp(NOW // 1000 / 1e6, datetime.UTC)
    assert event.received_at == expected.replace(microsecond=(NOW // 1000) % 1_000_000)


def test_a_message_id_json_cannot_hold_is_refused_by_both() -> None:
    head = _store_py.event_head("CS1", "MeterValues", "2.0.1", "n")
    for twin in TWINS:
        with pytest.raises(UnicodeEncodeError):
            twin.event_body(head, "\ud800", NOW, b"{}")


@pytest.mark.parametrize(
    "nanos",
    [0, 999, 1_000_000_000 - 1, NOW, NOW + 1_000_000_000, 2**63 - 1, -1, -(2**63)],
)
def test_both_twins_stamp_an_instant_alike(nanos: int) -> None:
    stamps = {twin.stamp(nanos) for twin in TWINS}
    assert len(stamps) == 1
    text = stamps.pop().decode()
    seconds, rest = divmod(nanos, 1_000_000_000)
    when = time.gmtime(seconds)
    y, mo, d, h, mi, s = when[:6]
    micros = rest // 1000
    assert (
        text
        == f',"received_at":"{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{micros:06}Z","payload":'
    )


@pytest.mark.parametrize("nanos", [2**63, -(2**63) - 1])
def test_both_twins_refuse_an_instant_beyond_64_bits(nanos: int) -> None:
    for twin in TWINS:
        with pytest.raises(OverflowError):
            twin.stamp(nanos)


def test_a_stamp_follows_the_second_it_is_in() -> None:
    """The date and time are kept made for the last second: the next second is made again."""
    for twin in TWINS:
        first = twin.stamp(NOW)
        second = twin.stamp(NOW + 1_000_000_000)
        assert first != second
        assert twin.stamp(NOW) == first


@pytest.mark.parametrize("size", [0, 1, 9, 10, 99, 100, 12_345])
def test_both_twins_frame_a_publish_alike(size: int) -> None:
    data = b"x" * size
    head = b"NATS/1.0\r\nNats-Msg-Id: abc\r\n\r\n"
    hpubs = {twin.hpub(b"ocpp.events.CS1.Tx", b"_INBOX.a.17", head, data) for twin in TWINS}
    pubs = {twin.pub(b"ocpp.work", b"_INBOX.a.3", data) for twin in TWINS}
    assert hpubs == {
        b"HPUB ocpp.events.CS1.Tx _INBOX.a.17 %d %d\r\n%b%b\r\n"
        % (len(head), len(head) + size, head, data)
    }
    assert pubs == {b"PUB ocpp.work _INBOX.a.3 %d\r\n%b\r\n" % (size, data)}


def test_the_dedup_id_is_the_one_gateways_always_wrote() -> None:
    """A gateway of this release and one of the last, side by side, must give a repeat the
    same ``Nats-Msg-Id``: the formula, spelt out."""
    request = messages.TransactionEventRequest(
        event_type=enums.TransactionEventEnumType.UPDATED,
        timestamp=datetime.datetime(2026, 11, 30, tzinfo=datetime.UTC),
        trigger_reason=enums.TriggerReasonEnumType.METER_VALUE_PERIODIC,
        seq_no=7,
        transaction_info=datatypes.TransactionType(transaction_id="T-ü"),
    )

    def hashed(key: bytes) -> str:
        return hashlib.blake2b(key, digest_size=16).hexdigest()

    assert dedup_id("CS ü", "TransactionEvent", request, b"{}") == hashed(
        "tx\0CS ü\0T-ü\0".encode() + b"7"
    )
    assert dedup_id("CS ü", "MeterValues", None, b'{"a":1}') == hashed(
        b"\0".join(("CS ü".encode(), b"MeterValues", b'{"a":1}'))
    )
    assert dedup_id("CS", "TransactionEvent", None, b"{}") == hashed(b"CS\0TransactionEvent\0{}")
