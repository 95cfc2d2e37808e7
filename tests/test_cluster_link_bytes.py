"""The two twins of the NATS link's bytes (``_link_bytes_c``, ``_link_bytes_py``): the same
event and publish bytes for the same input, bytes that decode as the ``DurableEvent`` they
stand for, the dedup id a store carries unchanged from the formula gateways always used;
the readers making the same calls in the same order for the same stream, however cut."""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import importlib
import time
from types import ModuleType

import msgspec
import pytest

from ocpp_fast import codec
from ocpp_fast.cluster import _link_bytes, _link_bytes_py
from ocpp_fast.cluster._nats_link import Reply
from ocpp_fast.cluster.relay import dedup_id, take_ack
from ocpp_fast.cluster.wire import decode_event
from ocpp_fast.v201 import datatypes, enums, messages


def _twins() -> list[ModuleType]:
    try:
        compiled = importlib.import_module("ocpp_fast.cluster._link_bytes_c")
    except ImportError:
        return [_link_bytes_py]
    return [compiled, _link_bytes_py]


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
    assert _link_bytes.implementation is (TWINS[0] if compiled else _link_bytes_py)


@pytest.mark.parametrize("message_id", IDS)
def test_both_twins_write_the_same_event_and_it_decodes_as_sent(message_id: str) -> None:
    head = _link_bytes_py.event_head("CS/1 ü", "TransactionEvent", "2.0.1", "node-a")
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
    head = _link_bytes_py.event_head("CS1", "MeterValues", "2.0.1", "n")
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
    hpubs = {twin.hpub(b"ocpp.events.CS1.Tx", b"_INBOX.a.", 17, head, data) for twin in TWINS}
    pubs = {twin.pub(b"ocpp.work", b"_INBOX.a.", 3, data) for twin in TWINS}
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


# --- the readers -------------------------------------------------------------------------

PREFIX = b"_INBOX.abc."


class Future:
    """A request's future as the reader uses it (``done``, ``set_result``)."""

    def __init__(self, calls: list[tuple[object, ...]], token: int) -> None:
        self.calls, self.token = calls, token
        self.result: object = None

    def done(self) -> bool:
        return self.result is not None

    def set_result(self, value: object) -> None:
        self.result = value
        self.calls.append(("result", self.token, value))


class Recorded:
    """A wire and its link that write down every call a reader makes."""

    def __init__(self, twin: ModuleType) -> None:
        self.calls: list[tuple[object, ...]] = []
        self.dropped = False
        """The connection is being dropped: nothing more is read (as on a real one)."""
        self.link = self
        self.waiting = {n: Future(self.calls, n) for n in range(5)}
        self.reader = twin.Reader(self, self.waiting, PREFIX, lambda data: ("reply", data))

    def _delivered(self, sid: bytes, data: bytes, reply: bytes) -> None:
        self.calls.append(("delivered", sid, data, reply))

    def _replied(self, subject: bytes, data: bytes, head: bytes | None) -> None:
        self.calls.append(("replied", subject, data, head))

    def _control(self, op: bytes, rest: bytes, line: bytes) -> bool:
        self.calls.append(("control", op, rest, line))
        if op == b"INFO":
            self.reader.max_payload = 64
        self.dropped = op == b"STOP"
        return not self.dropped

    def _protocol_error(self, what: str) -> None:
        self.calls.append(("error", what))
        self.dropped = True
        self.reader.reset()


STREAMS = [
    b"MSG _INBOX.abc.1 1 5\r\nhello\r\nPING\r\nmsg _INBOX.abc.2 1 0\r\n\r\n",
    b"HMSG _INBOX.abc.3 1 16 20\r\nNATS/1.0 503\r\n\r\nbody\r\n",
    b"MSG events.a 7 _INBOX.r.9 3\r\nabc\r\nHMSG s 8 r 12 14\r\nNATS/1.0\r\n\r\nxy\r\n",
    b"MSG s 8 2\r\nhi\r\nHMSG s 8 12 12\r\nNATS/1.0\r\n\r\n\r\n",
    b"MSG\t_INBOX.abc.4  1\t 2\r\nok\r\nMsG _INBOX.abc.0 1 1\r\n!\r\n",
    b"MSG _INBOX.abc.4 1 +2\r\nok\r\nMSG _INBOX.abc.4 1 0_2\r\nok\r\n",
    b"MSG a 5\r\nhello\r\nMSG a 1 b c d 2\r\nhi\r\n",
    b"MSG _INBOX.abc.99999999999999999999 1 1\r\nx\r\nMSG _INBOX.abc.x1 1 1\r\ny\r\n",
    b"MSG _INBOX.abc.1 1 1\r\nx\r\nMSG _INBOX.abc.1 1 1\r\ny\r\nMSG other.1 3 1\r\nz\r\n",
    b"INFO {}\r\nMSG a 2 65\r\n",
    b"HMSG a 2 9 5\r\n",
    b"HMSG a 2 -1 5\r\n",
    b"MSG a 2 many\r\n",
    b"MSG a 2 3\r\nabcd\r\nPING\r\n",
    b"MSG\r\nMSG a\r\nHMSG a 2 3\r\n",
    b"STOP now\r\nPING\r\n",
    b"+OK\r\n-ERR 'x'\r\nPONG\r\nMSGX a 1 1\r\nMSG",
    b"X" * 5000,
    b"MSG a 1 1\r\n" + b"1" * 19 + b"\r\n",
    b"MSG a 1 " + b"1" * 19 + b"\r\n",
    # long fields (the compiled reader passes eight bytes at a time where none is below
    # 0x21): whitespace of each kind inside them, control and high bytes that are not
    # whitespace, a CR without its LF, in and out of the first eight bytes
    b"MSG _INBOX.abc.12345678\x0b9 1 2\r\nab\r\nMSG _INBOX.abc.1234567\t1 1 2\r\ncd\r\n"
    b"MSG _INBOX.abc.123456789012\x0c1 1 2\r\nef\r\nMSG _INBOX.abcdefgh.1\r 1 2\r\ngh\r\n",
    b"MSG _INBOX.abc.1234\x01567890 1 2\r\nab\r\nMSG \xff\xfe\x80\x81\x90\xa0\xc0\xe0s\x85t 1 2\r\n"
    b"cd\r\nMSG _INBOX.abc.1 1 2\r\r\nef\r\nMSG _INBOX.abc.2 1 2\r\ngh\r\n",
    b"MSG _INBOX.abcdefghijklmnop.12 1 _INBOX.rrrrrrrrrrrrrrrr.9\x1f 2\r\nab\r\n"
    b"HMSG _INBOX.abcdefghijklmnop.0 1 _INBOX.rrrrrrrr.9\n 12 14\r\nNATS/1.0\r\n\r\nkl\r\n",
    # the inbox is sid 1 only (not 11); a reply's number read with a reply field, by the
    # twin's reading of a line with one field too many, and from a subject not ours
    b"MSG _INBOX.abc.1 11 2\r\nab\r\nMSG _INBOX.abc.2 1 _INBOX.r.9 2\r\ncd\r\n"
    b"MSG _INBOX.abc.3 1 x y 2\r\nef\r\nMSG _INBOX.abd.4 1 2\r\ngh\r\n"
    b"MSG _INBOX.abc.4 1 2\r\nij\r\nHMSG _INBOX.abc.0 1 x 12 14\r\nNATS/1.0\r\n\r\nkl\r\n",
]


def _read(twin: ModuleType, stream: bytes, cuts: list[int]) -> tuple[list[tuple[object, ...]], int]:
    recorded = Recorded(twin)
    for start, stop in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        if not recorded.dropped:
            recorded.reader.feed(stream[start:stop])
    return recorded.calls, -1 if recorded.dropped else recorded.reader.buffered


@pytest.mark.parametrize("stream", STREAMS)
def test_both_readers_make_the_same_calls_however_the_stream_is_cut(stream: bytes) -> None:
    whole = {repr(_read(twin, stream, [])) for twin in TWINS}
    assert len(whole) == 1, whole
    for at in range(1, len(stream), max(1, len(stream) // 40)):
        cut = {repr(_read(twin, stream, [at])) for twin in TWINS}
        assert cut == whole, at
    bytewise = {repr(_read(twin, stream, list(range(1, len(stream))))) for twin in TWINS}
    assert bytewise == whole


def test_the_inbox_s_replies_are_read_by_sid_and_request_number() -> None:
    """What the compiled reader reads in place (no bytes of the line, the subject or the
    sid): the inbox is sid 1, a reply's request its subject's number, whatever fields come
    between (the twin's reading of a line it does not take as usual included)."""
    for twin in TWINS:
        calls, left = _read(twin, STREAMS[-1], [])
        assert calls == [
            ("delivered", b"11", b"ab", b""),
            ("result", 2, ("reply", b"cd")),
            ("result", 3, ("reply", b"ef")),
            ("result", 4, ("reply", b"ij")),
            ("replied", b"_INBOX.abc.0", b"kl", b"NATS/1.0\r\n\r\n"),
        ], twin
        assert left == 0


def test_a_plain_reply_completes_its_request_in_the_reader() -> None:
    """What the link relies on: the reply to request n sets n's future (once; a repeat, a
    request not waiting or not ours is dropped), a reply with headers goes to the link."""
    for twin in TWINS:
        calls, left = _read(twin, STREAMS[0] + STREAMS[1] + STREAMS[8], [])
        assert calls == [
            ("result", 1, ("reply", b"hello")),
            ("control", b"PING", b"", b"PING"),
            ("result", 2, ("reply", b"")),
            ("replied", b"_INBOX.abc.3", b"body", b"NATS/1.0 503\r\n\r\n"),
            ("delivered", b"3", b"z", b""),
        ], twin
        assert left == 0


@pytest.mark.parametrize(
    ("data", "taken"),
    [
        (b'{"stream":"OCPP_EVENTS","seq":12}', True),
        (b'{"stream":"OCPP_EVENTS","seq":12,"duplicate":true}', True),
        (b'{"stream": "S", "seq": 1}', True),  # not compact: decoded
        (b'{"stream":"","seq":12}', False),
        (b'{"stream":"S","seq":1,"error":{"code":503,"description":"no"}}', False),
        (b'{"error":{"code":503,"description":"no"}}', False),
        (b'{"stream":"S","seq":1', False),
        (b"", False),
    ],
)
def test_a_store_is_taken_on_a_stream_s_ack_only(data: bytes, taken: bool) -> None:
    """``take_ack`` takes a store on JetStream's ack alone: a stream named, no error, a whole
    object (a look at the bytes instead of decoding them was tried: more instructions)."""
    if taken:
        take_ack(Reply(data))
    else:
        with pytest.raises((RuntimeError, msgspec.DecodeError)):
            take_ack(Reply(data))


# --- the store's ack ---------------------------------------------------------------------


def test_both_acks_call_back_as_they_complete_and_keep_the_reader_safe() -> None:
    """A callback runs inside ``set_result`` (no turn of the loop); one added once done runs
    a turn later; what a callback raises goes to the loop's exception handler and the next
    callback still runs; results, errors and a cancel read as a future's; it can be awaited."""

    async def scenario(twin: ModuleType) -> list[object]:
        loop = asyncio.get_running_loop()
        seen: list[object] = []
        loop.set_exception_handler(lambda _, context: seen.append(("handler", context["message"])))

        def failing(done: object) -> None:
            raise RuntimeError("boom")

        ack = twin.Ack(loop)
        ack.add_done_callback(lambda done: seen.append(("first", done.result())))
        ack.add_done_callback(failing)
        ack.add_done_callback(lambda done: seen.append(("third", done.done())))
        assert not ack.done()
        with pytest.raises(asyncio.InvalidStateError):
            ack.result()
        ack.set_result("r")
        seen.append("set")
        ack.add_done_callback(lambda done: seen.append("late"))
        seen.append("added late")
        await asyncio.sleep(0)
        with pytest.raises(asyncio.InvalidStateError):
            ack.set_result("again")
        seen.append(await ack)

        failed = twin.Ack(loop)
        failed.set_exception(ValueError("no"))
        seen.append(repr(failed.exception()))
        with pytest.raises(ValueError):
            await failed

        cancelled = twin.Ack(loop)
        cancelled.add_done_callback(lambda done: seen.append(("cancelled", done.cancelled())))
        assert cancelled.cancel() and not cancelled.cancel()
        cancelled.set_result("ignored")  # finished after all: nobody waits
        with pytest.raises(asyncio.CancelledError):
            cancelled.exception()

        pending = twin.Ack(loop)
        loop.call_soon(pending.set_result, "later")
        seen.append(await pending)
        return seen

    runs = [asyncio.run(scenario(twin)) for twin in TWINS]
    assert runs[0] == [
        ("first", "r"),
        ("handler", "a store's ack callback failed"),
        ("third", True),
        "set",
        "added late",
        "late",
        "r",
        "ValueError('no')",
        ("cancelled", True),
        "later",
    ]
    assert all(run == runs[0] for run in runs)


@pytest.mark.parametrize("stream", STREAMS)
def test_both_readers_hold_the_same_bytes_whatever_happened(stream: bytes) -> None:
    """What a reader holds after each read (``buffered``), dropped or not: the compiled one
    reads a read in place while it holds nothing, and must hold what the twin holds."""
    for at in range(0, len(stream) + 1, max(1, len(stream) // 20)):
        held = set()
        for twin in TWINS:
            recorded = Recorded(twin)
            seen = []
            for part in (stream[:at], stream[at:]):
                recorded.reader.feed(part)
                seen.append(recorded.reader.buffered)
            held.add(tuple(seen))
        assert len(held) == 1, (at, held)
