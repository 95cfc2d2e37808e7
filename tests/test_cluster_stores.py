"""The two twins of a gateway's per-CALL store (``Stores`` of ``_link_bytes_c`` and
``_link_bytes_py``) and of the dedup id's hash: the compiled twin's own BLAKE2b gives
hashlib's digest for every length around a block's; both twins give the dedup id of the
formula gateways always used, write the same publish and keep the same requests waiting,
read the store timeout they are told, bound what they keep, and send failures to the relay
alike."""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import importlib
import itertools
import random
from collections.abc import Iterator
from types import ModuleType, SimpleNamespace
from typing import Any

import msgspec
import pytest

from ocpp_fast import errors
from ocpp_fast.cluster import ClusterConfig, _nats_link
from ocpp_fast.cluster._link_bytes_py import dedup_heads
from ocpp_fast.cluster._nats_link import NatsLink, Reply
from ocpp_fast.cluster.relay import Relay, _ack_decoder, dedup_id, take_ack
from ocpp_fast.cluster.wire import decode_event
from ocpp_fast.dispatch import CallContext
from ocpp_fast.v201 import ChargeSystem, datatypes, enums, messages

try:
    COMPILED: ModuleType | None = importlib.import_module("ocpp_fast.cluster._link_bytes_c")
except ImportError:
    COMPILED = None

from ocpp_fast.cluster import _link_bytes_py

TWINS = [twin for twin in (COMPILED, _link_bytes_py) if twin is not None]
compiled_only = pytest.mark.skipif(COMPILED is None, reason="the compiled twin is not built")

LENGTHS = [*range(0, 300), 383, 384, 385, 511, 512, 513, 1000, 4096, 65_537]


@compiled_only
@pytest.mark.parametrize("simd", [True, False], ids=["avx2", "scalar"])
def test_the_compiled_blake2b_is_hashlib_s_for_every_length_around_a_block(simd: bool) -> None:
    """RFC 7693 written out in C: the last block's flag and the counter are where a hash
    goes wrong, at 0 bytes, at a block's 128 and either side of it, over several blocks;
    by the AVX2 rounds (where the machine has them) and by the scalar ones."""
    assert COMPILED is not None
    was = COMPILED.blake2b_simd()
    try:
        if COMPILED.blake2b_simd(simd) != simd:
            pytest.skip("this machine has no AVX2")  # the scalar case runs everywhere
        chance = random.Random(25)
        for size in LENGTHS:
            data = bytes(chance.getrandbits(8) for _ in range(size))
            expected = hashlib.blake2b(data, digest_size=16).hexdigest()
            assert COMPILED.blake2b16(data) == expected, size
            assert _link_bytes_py.blake2b16(data) == expected
        assert COMPILED.blake2b16(b"") == "cae66941d9efbd404e4d88758ea67670"
    finally:
        COMPILED.blake2b_simd(was)


def _event(seq_no: int, transaction_id: str) -> messages.TransactionEventRequest:
    return messages.TransactionEventRequest(
        event_type=enums.TransactionEventEnumType.UPDATED,
        timestamp=datetime.datetime(2026, 11, 30, tzinfo=datetime.UTC),
        trigger_reason=enums.TriggerReasonEnumType.METER_VALUE_PERIODIC,
        seq_no=seq_no,
        transaction_info=datatypes.TransactionType(transaction_id=transaction_id),
    )


def _info(transaction_id: object, seq_no: object) -> SimpleNamespace:
    return SimpleNamespace(
        transaction_info=SimpleNamespace(transaction_id=transaction_id), seq_no=seq_no
    )


KEYS: list[tuple[str, str, Any, bytes]] = [
    ("CS ü", "TransactionEvent", _event(7, "T-ü"), b"{}"),
    ("CS", "TransactionEvent", _event(0, ""), b"{}"),
    ("CS", "TransactionEvent", _event(2**31, "x" * 200), b"{}"),
    ("CS", "TransactionEvent", None, b"{}"),  # 1.6's has no transaction_info: the payload's
    ("CS", "TransactionEvent", _info("T", -12), b"{}"),
    ("CS", "TransactionEvent", _info("T", 2**62), b"{}"),
    ("CS", "TransactionEvent", _info("T", 2**62 - 1), b"{}"),
    ("CS", "TransactionEvent", _info("T", -(2**62)), b"{}"),
    ("CS", "TransactionEvent", _info("T", 2**64 + 5), b"{}"),
    ("CS", "TransactionEvent", _info("T", -(2**70)), b"{}"),
    ("CS", "TransactionEvent", _info("T", True), b"{}"),
    ("CS", "TransactionEvent", _info(type("Id", (str,), {})("T-ü"), 3), b"{}"),  # a str's kin
    ("CS", "TransactionEvent", _info("T", None), b'{"a":1}'),
    ("CS", "MeterValues", _event(7, "T"), b'{"a":1}'),
    ("日本/1", "MeterValues", None, b"x" * 300),
    ("", "StatusNotification", None, b""),
]


@pytest.mark.parametrize(("identity", "action", "request_", "payload"), KEYS)
def test_both_twins_give_the_dedup_id_of_the_formula(
    identity: str, action: str, request_: Any, payload: bytes
) -> None:
    heads = dedup_heads(identity, action)
    expected = dedup_id(identity, action, request_, payload)
    info = getattr(request_, "transaction_info", None)
    seq_no = getattr(request_, "seq_no", None)
    if action == "TransactionEvent" and info is not None and seq_no is not None:
        tid = info.transaction_id.encode()
        key = b"tx\0%b\0%b\0%d" % (identity.encode(), tid, seq_no)
    else:
        key = b"%b\0%b\0%b" % (identity.encode(), action.encode(), payload)
    assert expected == hashlib.blake2b(key, digest_size=16).hexdigest()
    for twin in TWINS:
        assert twin.dedup_key(heads, action, request_, payload) == expected, twin


def test_a_transaction_id_that_cannot_be_encoded_is_refused_by_both() -> None:
    heads = dedup_heads("CS", "TransactionEvent")
    for twin in TWINS:
        with pytest.raises(UnicodeEncodeError):
            twin.dedup_key(heads, "TransactionEvent", _info("\ud800", 1), b"{}")


# --- Stores ------------------------------------------------------------------------------


class Loop:
    """The loop as a store and the link use it."""

    def is_running(self) -> bool:
        return True

    def time(self) -> float:
        return 1000.0

    def call_later(self, delay: float, callback: object, *args: object) -> object:
        return object()  # the link's sweep, never run here


class Wire:
    """A link's connection; its writer is itself (a Python one: the compiled store calls its
    ``send``, as it would a pure twin's writer)."""

    def __init__(self) -> None:
        self.loop = Loop()
        self.sent: list[tuple[bytes, bool]] = []
        self.writer = self

    def send(self, data: bytes, gather: bool = False) -> None:
        self.sent.append((data, gather))


class Link(NatsLink):
    """A real ``NatsLink`` on a fake connection (requests numbered from 5, a known inbox),
    noting each deadline queue it makes: the compiled store makes the link's request
    itself, the pure one calls ``request_bytes``; the tests see the same link state."""

    def __init__(self) -> None:
        super().__init__("nats://127.0.0.1:4222", {}, "gw (link)")
        self._tokens = itertools.count(5)
        self._prefix = b"_INBOX.abc."
        self._loop = Loop()  # type: ignore[assignment]
        self._wire: Wire | None = Wire()  # type: ignore[assignment]
        self.expiring: list[tuple[float, int]] = []

    def _expire_later(self, loop: Any, timeout: float, token: int) -> None:
        self.expiring.append((timeout, token))
        super()._expire_later(loop, timeout, token)

    @property
    def deadlines(self) -> dict[float, list[int]]:
        """The batches not dated yet (a store notes no deadline of its own)."""
        assert not self._deadlines
        return {timeout: list(batch) for timeout, batch in self._open.items()}


def _each_twin() -> Iterator[ModuleType]:
    """Each twin, with the link's own bytes and ``Ack`` that twin's (as the link runs with
    the twin in use: its reader completes only its own twin's ``Ack`` in place)."""
    for twin in TWINS:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(_nats_link, "_link_bytes", twin)
            yield twin


class Replies:
    def __init__(self) -> None:
        self.requests: list[tuple[object, ...]] = []

    def request(self, *args: object, **kwargs: object) -> str:
        self.requests.append((*args, kwargs))
        return "a coroutine"


class FakeRelay:
    """A relay as a store uses it: what is rare goes back to it."""

    def __init__(self, store_timeout: float = 5) -> None:
        self.store_timeout = store_timeout
        self.names = ClusterConfig().names
        self.node = "n1"
        self.replies = Replies()
        self.failed: list[tuple[str, str, str]] = []
        self.refused: list[bytes] = []

    def _attached_loop(self) -> Loop:
        return Loop()

    def _not_stored(self, exc: Exception, action: str, context: CallContext) -> Exception:
        self.failed.append((type(exc).__name__, action, context.message_id))
        return errors.InternalError("not stored")

    def _refused(self, reply: Reply) -> None:
        self.refused.append(reply.data)
        raise RuntimeError("refused")


class PubAck(msgspec.Struct):
    stream: str = ""
    seq: int = 0
    error: dict[str, object] | None = None


VERSION = ChargeSystem.version
PAYLOAD = b'{"eventType":"Updated","seqNo":3,"transactionInfo":{"transactionId":"T"}}'


def _stores(twin: ModuleType, bound: int = 65536) -> tuple[Any, FakeRelay, Link]:
    relay, link = FakeRelay(), Link()
    stores = twin.Stores(relay, msgspec.json.Decoder(PubAck), bound)
    stores.attach(link)
    return stores, relay, link


def _sent(twin: ModuleType) -> list[Any]:
    """What a store of each kind makes: the publish (its event's time taken apart), the
    requests waiting and their deadlines."""
    stores, relay, link = _stores(twin)
    seen: list[Any] = []
    request = _event(3, "T")
    for n, (identity, action) in enumerate(
        [("S1", "TransactionEvent"), ("S1", "TransactionEvent"), ("S 2ü", "MeterValues")]
    ):
        context = CallContext(identity, f"m{n}")
        ack = stores.start(VERSION, action, request, PAYLOAD, context)
        assert type(ack) is twin.Ack and not ack.done()
        ((data, gather),) = link._wire.sent  # type: ignore[union-attr]
        link._wire.sent.clear()  # type: ignore[union-attr]
        line, rest = data.split(b"\r\n", 1)
        head, body = rest[: int(line.split()[-2])], rest[int(line.split()[-2]) : -2]
        event = decode_event(body)
        seen.append((line, head, gather, event.identity, event.message_id, event.version))
        seen.append((event.node, event.action, bytes(event.payload)))
        assert b'"received_at":"' in body
        expected = dedup_id(identity, action, request, PAYLOAD)
        assert head == b"NATS/1.0\r\nNats-Msg-Id: %b\r\n\r\n" % expected.encode()
    seen.append((sorted(link._waiting), link.deadlines, link.expiring, stores.count))
    seen.append((relay.failed, stores.stations))
    return seen


def test_both_stores_publish_the_same_and_keep_the_same_requests_waiting() -> None:
    runs = [_sent(twin) for twin in _each_twin()]
    assert runs[0][0][0].startswith(b"HPUB ocpp.events.S1.TransactionEvent _INBOX.abc.5 59 ")
    assert runs[0][-2] == (
        [5, 6, 7],
        {5.0: [5, 6, 7]},
        [(5.0, 5)],  # the first opened its timeout's batch; the others joined it
        3,
    )
    assert runs[0][-1] == ([], 2)
    assert all(run == runs[0] for run in runs)


def test_both_stores_read_the_timeout_they_are_told() -> None:
    for twin in _each_twin():
        stores, _relay, link = _stores(twin)
        stores.timeout = 0.25
        stores.start(VERSION, "MeterValues", None, b"{}", CallContext("S1", "m1"))
        assert link.deadlines == {0.25: [5]}, twin
        assert type(next(iter(link.deadlines))) is float and stores.timeout == 0.25


def test_a_relay_s_store_timeout_reaches_its_stores() -> None:
    relay = Relay(ClusterConfig().names, "n1", store_timeout=2, worker_timeout=1)
    assert relay.storing.timeout == 2.0
    relay.store_timeout = 0.5
    assert (relay.store_timeout, relay.storing.timeout) == (0.5, 0.5)
    with pytest.raises(AttributeError):
        relay.stores = 3  # type: ignore[misc]


def test_both_stores_keep_a_bounded_number_of_stations() -> None:
    """What a station's action's stores share is kept per station, up to ``bound`` stations
    (then emptied); a station speaking another version has its parts made again."""
    for twin in _each_twin():
        stores, _relay, link = _stores(twin, bound=3)
        for n in range(3):
            stores.start(VERSION, "MeterValues", None, b"{}", CallContext(f"S{n}", "m"))
            stores.start(VERSION, "StatusNotification", None, b"{}", CallContext(f"S{n}", "m"))
        assert stores.stations == 3
        stores.start(VERSION, "MeterValues", None, b"{}", CallContext("S9", "m"))
        assert stores.stations == 1
        older = SimpleNamespace(label="2.0")
        stores.start(older, "MeterValues", None, b"{}", CallContext("S9", "m"))
        (data, _), *_ = reversed(link._wire.sent)  # type: ignore[union-attr]
        assert decode_event(data.split(b"\r\n\r\n", 1)[1][:-2]).version == "2.0"
        assert stores.count == 8


class Shadowed(messages.TransactionEventRequest):
    """A TransactionEvent whose ``seq_no`` is a property over the field's slot: read by
    name, never at the slot the compiled store learnt of its base."""

    @property  # type: ignore[misc]  # over the field, on purpose
    def seq_no(self) -> int:  # type: ignore[override]
        return 99


class Padded(msgspec.Struct):
    """A request of another type, its fields at other offsets than a TransactionEvent's."""

    pad: int
    seq_no: int
    transaction_info: datatypes.TransactionType


def test_both_stores_read_a_transaction_s_fields_whatever_the_request_s_type() -> None:
    """The compiled store reads a TransactionEvent's ``transaction_info``, ``seq_no`` and
    ``transaction_id`` at the offsets it learnt of the station's request type; a request of
    another type (its fields elsewhere, or one a property) is read as the pure twin reads
    every one, by name: the dedup ids of the formula, in this order, from both."""
    event = _event(3, "T")
    shadowed = Shadowed(**{name: getattr(event, name) for name in event.__struct_fields__})
    requests: list[Any] = [
        event,
        shadowed,
        Padded(1, 7, datatypes.TransactionType(transaction_id="P")),
        SimpleNamespace(seq_no=5),  # no transaction_info: the payload's key
        _info("N", 8),
        _event(4, "T"),
    ]
    expected = [dedup_id("S1", "TransactionEvent", r, PAYLOAD) for r in requests]
    assert len(set(expected)) == len(expected)
    for twin in _each_twin():
        stores, _relay, link = _stores(twin)
        for n, request in enumerate(requests):
            stores.start(VERSION, "TransactionEvent", request, PAYLOAD, CallContext("S1", f"m{n}"))
        heads = [data.split(b"\r\n")[2] for data, _ in link._wire.sent]  # type: ignore[union-attr]
        assert heads == [b"Nats-Msg-Id: " + e.encode() for e in expected], twin
    if COMPILED is not None:
        learnt = COMPILED.transaction_fields_of(event, event.transaction_info)
        assert min(learnt.values()) > 0
        assert COMPILED.transaction_fields_of(shadowed)["seq_no"] == -1


class Stoppable(Loop):
    """A loop a test stops."""

    def __init__(self) -> None:
        self.running = True

    def is_running(self) -> bool:
        return self.running


class LoopRelay(FakeRelay):
    """A relay whose running loop is asked for: each answer noted, or asyncio's error where
    ``running`` is ``False`` (no loop runs)."""

    def __init__(self) -> None:
        super().__init__()
        self.loops: list[Stoppable] = []
        self.running = True

    def _attached_loop(self) -> Loop:
        if not self.running:
            raise RuntimeError("no running event loop")
        self.loops.append(Stoppable())
        return self.loops[-1]


def test_both_stores_ask_for_the_loop_again_once_theirs_stopped() -> None:
    """The running loop is asked of the relay once per loop: while it runs, not again; once
    it stopped (a gateway run again on another loop), the next store asks again, and where no
    loop runs the store raises asyncio's error before anything is counted or sent."""
    for twin in _each_twin():
        relay, link = LoopRelay(), Link()
        stores = twin.Stores(relay, msgspec.json.Decoder(PubAck))
        stores.attach(link)
        context = CallContext("S1", "m1")
        stores.start(VERSION, "MeterValues", None, b"{}", context)
        stores.start(VERSION, "MeterValues", None, b"{}", context)
        assert len(relay.loops) == 1, twin
        relay.loops[0].running = False
        stores.start(VERSION, "MeterValues", None, b"{}", context)
        assert len(relay.loops) == 2, twin
        relay.loops[1].running = False
        relay.running = False
        with pytest.raises(RuntimeError, match="no running event loop"):
            stores.start(VERSION, "MeterValues", None, b"{}", context)
        assert (stores.count, len(link._wire.sent)) == (3, 3), twin  # type: ignore[union-attr]
        relay.running = True
        stores.start(VERSION, "MeterValues", None, b"{}", context)
        assert (len(relay.loops), stores.count) == (3, 4), twin


class WatchedLink(Link):
    """A link whose connection is a property of its own, over the slot ``NatsLink`` keeps
    it in: each read of it is seen."""

    @property
    def _wire(self) -> Any:
        self.__dict__["wire_reads"] = self.__dict__.get("wire_reads", 0) + 1
        return self.__dict__.get("wire")

    @_wire.setter
    def _wire(self, value: Any) -> None:
        self.__dict__["wire"] = value


class WatchedWire(Wire):
    """A connection whose writer is a property, counting its reads (itself, as ``Wire``)."""

    @property
    def writer(self) -> Any:
        self.writer_reads = getattr(self, "writer_reads", 0) + 1
        return self

    @writer.setter
    def writer(self, value: Any) -> None:
        pass


@pytest.mark.parametrize("link_kind", [Link, WatchedLink])
@pytest.mark.parametrize("wire_kind", [Wire, WatchedWire])
def test_both_stores_read_the_link_s_connection_and_writer_through_their_own_types(
    link_kind: type[Link], wire_kind: type[Wire]
) -> None:
    """The compiled store reads the link's connection and its writer at ``NatsLink``'s and
    ``_Wire``'s slots only where the types have them there: a link or a connection that
    makes them properties sees each store read them, on both twins; a store publishes on
    the connection the link has at that moment."""
    for twin in _each_twin():
        relay, link = FakeRelay(), link_kind()
        stores = twin.Stores(relay, msgspec.json.Decoder(PubAck))
        stores.attach(link)
        first, second = wire_kind(), wire_kind()
        for wire in (first, second, first):
            link._wire = wire
            stores.start(VERSION, "MeterValues", None, b"{}", CallContext("S1", "m"))
        assert (len(first.sent), len(second.sent)) == (2, 1), twin
        if link_kind is WatchedLink:
            assert link.__dict__["wire_reads"] >= 3, twin
        if wire_kind is WatchedWire:
            reads = [getattr(wire, "writer_reads", 0) for wire in (first, second)]
            assert reads[0] >= 2 and reads[1] >= 1, twin


def test_both_stores_hand_failures_to_the_relay() -> None:
    """NATS away, a message id JSON cannot hold, a refused or failed ack: the relay's
    failure raised (it logs), the store counted all the same."""
    for twin in _each_twin():
        stores, relay, link = _stores(twin)
        link._wire = None
        with pytest.raises(errors.InternalError):
            stores.start(VERSION, "MeterValues", None, b"{}", CallContext("S1", "m1"))
        link._wire = Wire()
        with pytest.raises(errors.InternalError):
            stores.start(VERSION, "MeterValues", None, b"{}", CallContext("S1", "\ud800"))
        ack = stores.start(VERSION, "MeterValues", None, b"{}", CallContext("S1", "m3"))
        ack.set_result(Reply(b'{"stream":"OCPP_EVENTS","seq":1}'))
        stores.check(ack, "MeterValues", CallContext("S1", "m3"))
        for data in (b'{"stream":""}', b'{"error":{"code":1}}', b"{"):
            ack = stores.start(VERSION, "MeterValues", None, b"{}", CallContext("S1", "m4"))
            ack.set_result(Reply(data))
            with pytest.raises(errors.InternalError):
                stores.check(ack, "MeterValues", CallContext("S1", "m4"))
        failed = stores.start(VERSION, "MeterValues", None, b"{}", CallContext("S1", "m5"))
        failed.set_exception(ConnectionError("gone"))
        with pytest.raises(errors.InternalError):
            stores.check(failed, "MeterValues", CallContext("S1", "m5"))
        assert relay.failed == [
            ("ConnectionError", "MeterValues", "m1"),
            ("UnicodeEncodeError", "MeterValues", "\ud800"),
            ("RuntimeError", "MeterValues", "m4"),
            ("RuntimeError", "MeterValues", "m4"),
            ("DecodeError", "MeterValues", "m4"),
            ("ConnectionError", "MeterValues", "m5"),
        ], twin
        assert relay.refused == [b'{"stream":""}', b'{"error":{"code":1}}']
        assert stores.count == 7


@pytest.mark.parametrize("message_id", ["m1", "", 'a"b\\c', "tab\there", "é", "🔌", "x" * 200])
def test_both_stores_publish_any_message_id_alike(message_id: str) -> None:
    """A store's publish is made in one piece (the compiled twin writes its header and its
    event straight into the ``HPUB``): for a message id written as it is or one JSON must
    escape, the same bytes from both twins, whose event holds the station's id."""
    published: list[bytes] = []
    for twin in _each_twin():
        stores, _relay, link = _stores(twin)
        stores.start(VERSION, "MeterValues", None, PAYLOAD, CallContext("S1", message_id))
        ((data, _),) = link._wire.sent  # type: ignore[union-attr]
        line, rest = data.split(b"\r\n", 1)
        headers, total = int(line.split()[-2]), int(line.split()[-1])
        assert len(rest) == total + 2 and rest.endswith(b"\r\n")
        event = decode_event(rest[headers:-2])
        assert (event.message_id, bytes(event.payload)) == (message_id, PAYLOAD)
        instant = data.index(b'"received_at":"') + 15
        published.append(data[:instant] + data[instant + 26 :])  # the twins' clocks apart
    assert len(set(published)) == 1


def test_a_store_not_sent_takes_no_request_number_in_either_twin() -> None:
    """A message id JSON cannot hold fails before the store's request number is taken: the
    next store's reply subject is the same in both twins (the request numbers are on the
    wire)."""
    subjects: list[tuple[bytes, list[int]]] = []
    for twin in _each_twin():
        stores, _relay, link = _stores(twin)
        with pytest.raises(errors.InternalError):
            stores.start(VERSION, "MeterValues", None, b"{}", CallContext("S1", "\ud800"))
        stores.start(VERSION, "MeterValues", None, b"{}", CallContext("S1", "m2"))
        ((data, _),) = link._wire.sent  # type: ignore[union-attr]
        subjects.append((data.split()[2], sorted(link._waiting)))
    assert subjects[0] == (b"_INBOX.abc.5", [5])
    assert all(subject == subjects[0] for subject in subjects)


def test_both_stores_refuse_an_action_not_a_str_before_counting() -> None:
    """A caller's mistake (the dispatch always hands a ``str``): TypeError from both twins,
    nothing counted, kept, sent or handed to the relay."""
    for twin in _each_twin():
        stores, relay, link = _stores(twin)
        for action in (None, 5, b"MeterValues", type("Named", (str,), {})("MeterValues")):
            with pytest.raises(TypeError, match="a store's action is a str, not "):
                stores.start(VERSION, action, None, b"{}", CallContext("S1", "m"))
        assert (stores.count, stores.stations, relay.failed, link._waiting) == (0, 0, [], {})
        assert link._wire is not None and link._wire.sent == [], twin


def test_the_pure_store_is_the_link_s_request() -> None:
    """The pure twin asks the link (``request_bytes``, an ``Ack`` waiting) rather than
    repeating its steps; only the compiled twin makes the request itself, for speed."""
    asked: list[tuple[Any, ...]] = []

    class Asked(Link):
        def request_bytes(self, *args: Any) -> Any:
            asked.append(args)
            return super().request_bytes(*args)

    relay, link = FakeRelay(), Asked()
    stores = _link_bytes_py.Stores(relay, msgspec.json.Decoder(PubAck))
    stores.attach(link)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_nats_link, "_link_bytes", _link_bytes_py)
        ack = stores.start(VERSION, "MeterValues", None, b"{}", CallContext("S1", "m"))
    ((subject, body, timeout, head, gather, at_once),) = asked
    assert (subject, timeout, gather, at_once) == (b"ocpp.events.S1.MeterValues", 5.0, True, True)
    assert head == b"NATS/1.0\r\nNats-Msg-Id: %b\r\n\r\n" % (
        dedup_id("S1", "MeterValues", None, b"{}").encode()
    )
    assert decode_event(body).message_id == "m"
    assert link._waiting == {5: ack} and type(ack) is _link_bytes_py.Ack


def test_both_stores_go_through_the_relay_s_replies_without_a_link() -> None:
    """Over nats-py (the link does not speak the options) a store is the replies' request."""
    for twin in _each_twin():
        stores, relay, _ = _stores(twin)
        stores.attach(None)
        request = _event(9, "T")
        made = stores.start(VERSION, "TransactionEvent", request, b"{}", CallContext("S1", "m"))
        assert made == "a coroutine"
        ((subject, body, timeout, headers, kwargs),) = relay.replies.requests
        assert (subject, timeout, kwargs) == (
            "ocpp.events.S1.TransactionEvent",
            5.0,
            {"gather": True},
        )
        assert headers == {"Nats-Msg-Id": dedup_id("S1", "TransactionEvent", request, b"{}")}
        assert isinstance(body, bytes) and decode_event(body).message_id == "m"


# --- Writer ------------------------------------------------------------------------------


class Handle:
    def __init__(self, log: list[object], what: str) -> None:
        self.log, self.what = log, what

    def cancel(self) -> None:
        self.log.append(("cancel", self.what))


class WriterLoop:
    def __init__(self, log: list[object]) -> None:
        self.log = log
        self.due: list[Any] = []

    def call_soon(self, callback: Any) -> Handle:
        self.log.append("soon")
        self.due.append(callback)
        return Handle(self.log, "soon")

    def call_later(self, delay: float, callback: Any) -> Handle:
        self.log.append(("later", delay))
        self.due.append(callback)
        return Handle(self.log, "later")


class Transport:
    def __init__(self, log: list[object]) -> None:
        self.log = log
        self.closing = False

    def write(self, data: bytes) -> None:
        self.log.append(("write", data))

    def writelines(self, data: list[bytes]) -> None:
        # what a flush handed over before: a bytes object per publish, each a malloc and a
        # free; now one object the compiled twin wrote every publish into
        self.log.append(("in pieces", len(data)))

    def is_closing(self) -> bool:
        return self.closing


def _writes(twin: ModuleType, window: float) -> list[object]:
    """A script of sends (few and many requests waiting, gathered or not, a big one, the
    transport closing) and what the writer writes and schedules for it."""
    log: list[object] = []
    loop = WriterLoop(log)
    link = SimpleNamespace(window_writes=0)
    waiting: dict[int, object] = {}
    writer = twin.Writer(link, loop, waiting, window)
    writer.send(b"before the transport")  # nothing to write on: dropped
    writer.transport = Transport(log)
    writer.send(b"a", True)
    writer.send(b"b")
    waiting.update({n: None for n in range(5)})
    writer.send(b"c", True)
    writer.send(b"d", True)
    log.append(("held", writer.held))
    for callback in loop.due[:]:
        loop.due.remove(callback)
        callback()
    for n in range(40):
        writer.send(b"%d" % n, True)
    writer.send(b"x" * (64 * 1024))
    log.append(("held", writer.held))
    writer.send(b"e", True)
    writer.stop()
    writer.flush()
    writer.transport.closing = True
    writer.send(b"f")
    writer.flush()
    log.append(("window writes", link.window_writes))
    return log


@pytest.mark.parametrize("window", [0.0, 0.01])
def test_both_writers_write_and_schedule_alike(window: float) -> None:
    runs = [_writes(twin, window) for twin in TWINS]
    assert all(run == runs[0] for run in runs)
    shown = [
        ("write", len(entry[1]))
        if isinstance(entry, tuple) and entry[0] == "write" and len(entry[1]) > 60
        else entry
        for entry in runs[0]
    ]
    many = b"".join(b"%d" % n for n in range(32))  # GATHER_AT_MOST of them leave at once
    if window == 0:  # at once while few wait; else at the loop's turn, or past GATHER_UP_TO
        assert shown == [
            ("write", b"a"),
            ("write", b"b"),
            "soon",
            ("held", 2),
            ("cancel", "soon"),
            ("write", b"cd"),
            "soon",
            ("cancel", "soon"),
            ("write", 65606),
            ("held", 0),
            "soon",
            ("cancel", "soon"),
            ("write", b"e"),
            "soon",  # the transport closing: flushed, nothing written
            ("cancel", "soon"),
            ("window writes", 0),
        ]
    else:  # stores wait for the window; a write that may not wait takes them along
        assert shown == [
            ("later", 0.01),
            ("cancel", "later"),
            ("write", b"ab"),
            ("later", 0.01),
            ("held", 2),
            ("cancel", "later"),
            ("write", b"cd"),
            ("later", 0.01),
            ("cancel", "later"),
            ("write", many),
            ("later", 0.01),
            ("cancel", "later"),
            ("write", 65552),
            ("held", 0),
            ("later", 0.01),
            ("cancel", "later"),
            ("write", b"e"),
            "soon",
            ("cancel", "soon"),
            ("window writes", 5),
        ]


def test_a_link_s_write_window_set_later_reaches_its_writer() -> None:
    for twin in TWINS:
        writer = twin.Writer(SimpleNamespace(window_writes=0), None, {}, 0.0)
        writer.window = 0.5
        assert writer.window == 0.5


def test_both_readers_complete_a_store_s_ack_with_the_reply_s_bytes() -> None:
    """A store's ack is only decoded: the reader hands it the bytes (no ``Reply`` made), a
    future still gets a ``Reply``; ``check`` takes either."""

    async def scenario(twin: ModuleType) -> list[object]:
        loop = asyncio.get_running_loop()
        ack, future = twin.Ack(loop), loop.create_future()
        wire = SimpleNamespace(link=None)
        reader = twin.Reader(wire, {1: ack, 2: future}, b"_INBOX.a.", Reply)
        reader.feed(b'MSG _INBOX.a.1 1 10\r\n{"stream"}\r\nMSG _INBOX.a.2 1 2\r\nok\r\n')
        stores, relay, _ = _stores(twin)
        stored = b'{"stream":"S","seq":1}'
        for reply in (stored, Reply(stored)):
            done = twin.Ack(loop)
            done.set_result(reply)
            stores.check(done, "MeterValues", CallContext("S1", "m"))
        return [ack.result(), future.result(), relay.failed]

    for twin in TWINS:
        assert asyncio.run(scenario(twin)) == [b'{"stream"}', Reply(b"ok"), []], twin


ACKS = [
    b'{"stream":"OCPP_EVENTS","seq":12}',
    b'{"stream":"S","seq":0}',
    b'{"stream":"S","seq":1,"duplicate":true}',
    b'{"stream":"S","seq":1,"duplicate": true}',
    b'{"stream":"S","seq":1,"duplicate":  true}',
    b'{"stream":"S","seq":1,"duplicate": false}',
    b'{"stream":"S","seq":1,"duplicate": true} ',
    b'{"stream":"S","seq":1,"duplicate": tru}',
    b'{"stream":"S","seq":1,"duplicate":false}',
    b'{"stream":"S","seq":1,"domain":"hub"}',
    b'{"stream":"S","seq":123456789012345678}',
    b'{"stream":"S","seq":1234567890123456789}',
    b'{"stream":"S","seq":01}',
    b'{"stream":"S","seq":-1}',
    b'{"stream":"S","seq":1.5}',
    b'{"stream":"S","seq":}',
    b'{"stream":"S","seq":1} ',
    b'{"stream":"S","seq":1}}',
    b'{"stream":"S","seq":1',
    b'{"stream":"","seq":1}',
    b'{"stream":"a\\"b","seq":1}',
    b'{"stream":"\xc3\xa9","seq":1}',
    b'{"stream":"\xff","seq":1}',
    b'{"stream":"tab\there","seq":1}',
    b'{"stream":"S","seq":1,"error":{"code":503,"description":"no"}}',
    b'{"error":{"code":503,"description":"no"}}',
    b'{"stream": "S", "seq": 1}',
    b'{"seq":1,"stream":"S"}',
    b'{"stream":"S"}',
    b"",
    b"{",
]


@pytest.mark.parametrize("data", ACKS)
def test_both_stores_take_an_ack_as_its_decoder_does(data: bytes) -> None:
    """The compiled twin takes the usual ack by a look at its bytes, decodes any other; both
    take exactly what ``take_ack`` takes, whatever the shape."""
    try:
        take_ack(data)
        taken = True
    except (RuntimeError, msgspec.DecodeError):
        taken = False

    async def check(twin: ModuleType) -> bool:
        stores = twin.Stores(FakeRelay(), _ack_decoder)
        ack = twin.Ack(asyncio.get_running_loop())
        ack.set_result(data)
        try:
            stores.check(ack, "MeterValues", CallContext("S1", "m"))
        except errors.InternalError:
            return False
        return True

    for twin in TWINS:
        assert asyncio.run(check(twin)) is taken, twin


class CountingDecoder:
    """The ack's decoder, counting what it is given."""

    def __init__(self) -> None:
        self.decoded: list[bytes] = []

    def decode(self, data: bytes) -> Any:
        self.decoded.append(data)
        return _ack_decoder.decode(data)


@compiled_only
@pytest.mark.parametrize(
    "data",
    [
        b'{"stream":"OCPP_EVENTS","seq":12}',
        b'{"stream":"OCPP_EVENTS","seq":12,"duplicate":true}',
        b'{"stream":"OCPP_EVENTS","seq":12,"duplicate": true}',  # nats-server's own
    ],
)
def test_the_compiled_store_takes_the_usual_acks_without_decoding_them(data: bytes) -> None:
    """The acks nats-server sends a store, a new one's and a duplicate's (which a saturated
    gateway met once in ten messages under the benchmark's generator, whose payloads
    repeat), are taken by the look at their bytes: no decode."""
    assert COMPILED is not None
    decoder = CountingDecoder()
    unusual = data.replace(b":12", b":1 ")  # not the usual shape: decoded (and taken)

    async def check() -> None:
        assert COMPILED is not None
        stores = COMPILED.Stores(FakeRelay(), decoder)
        for reply in (data, unusual):
            ack = COMPILED.Ack(asyncio.get_running_loop())
            ack.set_result(reply)
            stores.check(ack, "MeterValues", CallContext("S1", "m"))

    asyncio.run(check())
    assert decoder.decoded == [unusual]


def test_a_writer_grows_its_buffer_for_publishes_past_its_first_room() -> None:
    """Held publishes past the buffer's first room (the window's ``GATHER_UP_TO`` and a
    little): the compiled twin's buffer grows, and both twins write what was sent, in order,
    once."""
    writes = []
    for twin in TWINS:
        log: list[object] = []
        writer = twin.Writer(SimpleNamespace(window_writes=0), WriterLoop(log), {}, 0.01)
        writer.transport = Transport(log)
        big = [bytes([65 + n]) * 30_000 for n in range(3)]
        for data in big:
            writer.send(data, True)
        writer.flush()
        writes.append(log)
        assert log[-1] == ("write", b"".join(big))
    assert writes[0] == writes[1]
