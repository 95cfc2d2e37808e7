"""A gateway's durable CALL over a real ``NatsLink`` (on a fake connection), its store's ack
read by the link's reader: the gated CALL is answered inside that read, before any other
waiter of the ack is called back, on every pairing of the dispatch twins with the link's.

The compiled pairing takes a route of its own (``Stores.starter``'s ``GateStart``: the store
begun and its ``Gated`` completed by C calls, with no callbacks list); the others go through
Python calls. What the station and the ack's other waiters see must not differ.
"""

from __future__ import annotations

import asyncio
import importlib
import itertools
from types import ModuleType, SimpleNamespace

import msgspec
import pytest

from ocpp_fast.aio import AsyncConnection
from ocpp_fast.cluster import ClusterConfig, _link_bytes_py, _nats_link
from ocpp_fast.cluster._handlers import clustered
from ocpp_fast.cluster._nats_link import NatsLink, Reply
from ocpp_fast.cluster.relay import Relay, _ack_decoder
from ocpp_fast.dispatch import CallContext
from ocpp_fast.v201 import ChargeSystem, messages

try:
    COMPILED: ModuleType | None = importlib.import_module("ocpp_fast.cluster._link_bytes_c")
    DISPATCH_C: ModuleType | None = importlib.import_module("ocpp_fast._dispatch_c")
except ImportError:
    COMPILED = DISPATCH_C = None

TWINS = [twin for twin in (COMPILED, _link_bytes_py) if twin is not None]

pytestmark = pytest.mark.usefixtures("dispatch_twin")

PAYLOAD = (
    b'{"eventType":"Updated","timestamp":"2026-11-30T12:00:00Z",'
    b'"triggerReason":"MeterValuePeriodic","seqNo":1,"transactionInfo":{"transactionId":"T"}}'
)
FRAME = b'[2,"m1","TransactionEvent",%b]' % PAYLOAD
VERSION = ChargeSystem.version


class Csms(ChargeSystem):
    def __init__(self) -> None:
        self.ran: list[int] = []

    def transaction_event(
        self, request: messages.TransactionEventRequest
    ) -> messages.TransactionEventResponse:
        self.ran.append(request.seq_no)
        return messages.TransactionEventResponse()


class Wire:
    """The link's connection, its writer itself (what the store publishes is kept)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.sent: list[bytes] = []
        self.writer = self

    def send(self, data: bytes, gather: bool = False) -> None:
        self.sent.append(data)


class Link(NatsLink):
    """A real ``NatsLink`` on a :class:`Wire` (requests numbered from 5, a known inbox)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__("nats://127.0.0.1:4222", {}, "gw (link)")
        self._tokens = itertools.count(5)
        self._prefix = b"_INBOX.abc."
        self._loop = loop
        self._wire: Wire | None = Wire(loop)  # type: ignore[assignment]


@pytest.mark.parametrize("twin", TWINS, ids=lambda twin: twin.__name__.rsplit("_", 1)[-1])
def test_the_ack_read_answers_the_call_before_its_other_waiters(
    twin: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_nats_link, "_link_bytes", twin)

    async def scenario() -> list[object]:
        loop = asyncio.get_running_loop()
        relay = Relay(ClusterConfig().names, "n1", store_timeout=5.0, worker_timeout=5.0)
        relay.nc = object()  # type: ignore[assignment]  # attached
        relay.storing = twin.Stores(relay, _ack_decoder)
        link = Link(loop)
        relay.storing.attach(link)
        user = Csms()
        served = clustered(user, relay, forward=False, durable=frozenset({"TransactionEvent"}))
        written: list[bytes] = []
        connection = AsyncConnection(served, write=written.append, identity="S1")
        assert connection.feed(FRAME) is True
        ((token, ack),) = link._waiting.items()
        seen: list[object] = []
        ack.add_done_callback(lambda done: seen.append((list(written), done.result())))
        wire = SimpleNamespace(link=link)
        reader = twin.Reader(wire, link._waiting, link._prefix, Reply)
        stored = b'{"stream":"OCPP_EVENTS","seq":1}'
        reader.feed(b"MSG _INBOX.abc.%d 1 %d\r\n%b\r\n" % (token, len(stored), stored))
        return [
            written,
            seen,
            user.ran,
            connection._pending,
            connection.frame_of("m1"),
            connection.protocol._handling,
            type(ack) is twin.Ack,
            len(link._wire.sent),  # type: ignore[union-attr]
        ]

    answer = b'[3,"m1",{}]'
    stored = b'{"stream":"OCPP_EVENTS","seq":1}'
    expected = [[answer], [([answer], stored)], [1], {}, None, set(), True, 1]
    assert asyncio.run(scenario()) == expected


@pytest.mark.parametrize("twin", TWINS, ids=lambda twin: twin.__name__.rsplit("_", 1)[-1])
def test_a_store_s_starter_is_its_start_of_one_version(twin: ModuleType) -> None:
    """What a gateway's :class:`~ocpp_fast._fastpath.Gate` starts a store with: ``start``
    with the version given (the compiled twin's a ``GateStart``, the compiled dispatch
    path's C call; a Python callable all the same)."""

    async def scenario() -> None:
        relay = Relay(ClusterConfig().names, "n1", store_timeout=5.0, worker_timeout=5.0)
        relay.nc = object()  # type: ignore[assignment]  # attached
        stores = twin.Stores(relay, _ack_decoder)
        link = Link(asyncio.get_running_loop())
        stores.attach(link)
        start = stores.starter(VERSION)
        ack = start("TransactionEvent", None, PAYLOAD, CallContext("S1", "m1"))
        assert (stores.count, link._waiting) == (1, {5: ack})
        published = link._wire.sent[0]  # type: ignore[union-attr]
        assert published.startswith(b"HPUB ocpp.events.S1.TransactionEvent _INBOX.abc.5 ")
        assert msgspec.json.decode(published.split(b"\r\n\r\n", 1)[1][:-2])["message_id"] == "m1"
        is_gate_start = DISPATCH_C is not None and isinstance(start, DISPATCH_C.GateStart)
        assert is_gate_start is (twin is COMPILED)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_nats_link, "_link_bytes", twin)
        asyncio.run(scenario())
