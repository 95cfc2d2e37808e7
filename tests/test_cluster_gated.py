"""A gateway's durable CALL of a plain user handler on the compiled path's gated route.

The gateway's served class names the store of each such action as a
:class:`~ocpp_fast._fastpath.Gate`: on a live connection that writes its frames, the
compiled path (both twins) publishes the station's bytes, and answers from the ack
future's callback itself. The general path (``_storing``'s method and ``_Stored``) does
the same in Python, where the compiled path steps aside (a class whose own
``invoke_handler`` keeps every CALL off it). Each scenario runs on both twins and on the
general path, against a relay whose requests are futures the test completes, and must
come out the same: answers, errors, frames kept, ids in hand, slots, metrics, stop, drain.
"""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Callable, Coroutine
from typing import Any, ClassVar

import msgspec
import pytest
from conftest import DISPATCH_TWINS
from handler_paths import path_fixture
from nats.errors import TimeoutError as NatsTimeout

from ocpp_fast import errors
from ocpp_fast._fastpath import FastRoute, Gate, fast_routes
from ocpp_fast._metric_cells import SUM
from ocpp_fast.aio import AsyncConnection, Slots
from ocpp_fast.cluster._handlers import clustered
from ocpp_fast.cluster._nats_link import Reply
from ocpp_fast.cluster.config import ClusterConfig
from ocpp_fast.cluster.relay import Relay
from ocpp_fast.cluster.wire import DurableEvent
from ocpp_fast.dispatch import CallContext, Route
from ocpp_fast.frames import Call
from ocpp_fast.metrics import Metrics
from ocpp_fast.protocol import Protocol
from ocpp_fast.v201 import ChargeSystem, messages

pytestmark = pytest.mark.usefixtures("dispatch_twin", "link_bytes_twin")  # both twins of each

PAYLOAD = (
    b'{"eventType":"Updated","timestamp":"2026-11-30T12:00:00Z",'
    b'"triggerReason":"MeterValuePeriodic","seqNo":%d,"transactionInfo":{"transactionId":"T"}}'
)
STORED = b'{"stream":"OCPP_EVENTS","seq":1}'


def event(seq: int, message_id: str | None = None) -> bytes:
    return b'[2,"%b","TransactionEvent",%b]' % (
        (message_id or f"m{seq}").encode(),
        PAYLOAD % seq,
    )


class Csms(ChargeSystem):
    """A plain handler of the durable action; seqNo 7 raises, 8 answers an invalid response."""

    def __init__(self) -> None:
        self.ran: list[int] = []
        self.frames: list[bytes | str | None] = []

    def transaction_event(
        self, request: messages.TransactionEventRequest, context: CallContext
    ) -> messages.TransactionEventResponse:
        self.ran.append(request.seq_no)
        connection = context.connection
        assert isinstance(connection, AsyncConnection)
        self.frames.append(connection.frame_of(context.message_id))
        if request.seq_no == 7:
            raise errors.SecurityError("not you")
        if request.seq_no == 8:
            return messages.TransactionEventResponse(total_cost="x")  # type: ignore[arg-type]
        if request.seq_no == 9:
            return self.later()  # type: ignore[return-value]  # an awaitable after all
        return messages.TransactionEventResponse()

    async def later(self) -> messages.TransactionEventResponse:
        self.ran.append(90)
        return messages.TransactionEventResponse(total_cost=9.0)


class CsmsGeneral(Csms):
    """The same handler on the general path."""

    def invoke_handler(self, route: Route | None, call: Call, identity: str, peer: Any) -> Any:
        return super().invoke_handler(route, call, identity, peer)


class CsmsKeeping(Csms):
    """The same handler, its class keeping frames for ``frame_of`` (the user's own wish)."""

    keeps_frames = True


class CsmsKeepingGeneral(CsmsKeeping):
    """The same on the general path."""

    def invoke_handler(self, route: Route | None, call: Call, identity: str, peer: Any) -> Any:
        return super().invoke_handler(route, call, identity, peer)


class Replies:
    """A relay's requests as futures the test completes."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, dict[str, str] | None, asyncio.Future[Any]]] = []

    def request(
        self,
        subject: str,
        data: bytes,
        timeout: float,
        headers: dict[str, str] | None = None,
        *,
        gather: bool = False,
    ) -> asyncio.Future[Any]:
        assert gather  # a store: it may wait for the write window
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.sent.append((subject, data, headers, future))
        return future

    def ack(self, index: int, data: bytes = STORED) -> None:
        self.sent[index][3].set_result(Reply(data))

    @property
    def waiting(self) -> int:
        return sum(not future.done() for *_, future in self.sent)

    def not_ready(self) -> str | None:
        return None

    async def close(self) -> None:
        return None


path = path_fixture(Csms, CsmsGeneral)


class Station:
    """A gateway's connection of one station, its relay's requests held by the test."""

    def __init__(
        self,
        cls: type[Csms],
        attached: bool = True,
        handler_first: bool = False,
        kind: type[AsyncConnection] = AsyncConnection,
        **options: Any,
    ) -> None:
        self.user = cls()
        self.replies = Replies()
        self.relay = Relay(ClusterConfig().names, "n1", store_timeout=5.0, worker_timeout=5.0)
        self.relay.replies = self.replies
        if attached:
            self.relay.nc = object()  # type: ignore[assignment]
        served = clustered(
            self.user,
            self.relay,
            forward=False,
            durable=frozenset({"TransactionEvent"}),
            handler_first=handler_first,
        )
        self.served = served
        self.written: list[bytes] = []
        self.connection = kind(served, write=self.written.append, identity="S1", **options)

    def pending_kinds(self) -> list[str]:
        return [type(answer).__name__ for answer in self.connection._pending]


async def turns(count: int = 3) -> None:
    for _ in range(count):
        await asyncio.sleep(0)


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(scenario())


def test_the_ack_answers_and_the_stored_bytes_are_the_stations(path: type[Csms]) -> None:
    """Published at once with the station's own bytes; nothing answered until the ack,
    the id held meanwhile; then the user's handler runs and the answer is written,
    everything let go. On the compiled path no Python object of the general path's
    (``_Stored``) waits: the gated route's own, and no frame (the store was handed the
    payload; the user's class keeps none); the general path keeps it, as its store reads it
    when it begins."""

    async def scenario() -> None:
        station = Station(path)
        connection = station.connection
        frame = event(1)
        assert connection.feed(frame) is True
        ((subject, data, headers, _),) = station.replies.sent
        stored = msgspec.json.decode(data, type=DurableEvent)
        assert (subject.split(".")[-1], bytes(stored.payload)) == ("TransactionEvent", PAYLOAD % 1)
        assert (stored.identity, stored.message_id, stored.version) == ("S1", "m1", "2.0.1")
        assert headers is not None and len(headers["Nats-Msg-Id"]) == 32
        assert (station.written, station.user.ran) == ([], [])
        compiled = path is Csms
        kept = None if compiled else frame
        assert (connection.frame_of("m1"), connection.handling) == (kept, 1)
        assert connection.protocol._handling == {"m1"}
        assert station.pending_kinds() == ["Gated" if compiled else "_Stored"]
        station.replies.ack(0)
        await turns()
        assert station.written == [b'[3,"m1",{}]']
        assert (station.user.ran, station.user.frames) == ([1], [kept])
        assert (connection.frame_of("m1"), connection.handling) == (None, 0)
        assert connection.protocol._handling == set()
        assert (connection._free, connection._pending) == (3, {})

    run(scenario)


@pytest.mark.parametrize("cls", [CsmsKeeping, CsmsKeepingGeneral])
def test_a_class_that_keeps_frames_has_its_frame_while_the_store_waits(cls: type[Csms]) -> None:
    """A user's class that keeps frames (``keeps_frames``) reads its CALL's frame with
    ``frame_of`` in its handler after the ack, on the compiled path as on the general one."""

    async def scenario() -> None:
        station = Station(cls)
        connection = station.connection
        frame = event(1)
        assert connection.feed(frame) is True
        assert connection.frame_of("m1") == frame
        station.replies.ack(0)
        await turns()
        assert station.written == [b'[3,"m1",{}]']
        assert (station.user.ran, station.user.frames) == ([1], [frame])
        assert connection.frame_of("m1") is None

    run(scenario)


def test_the_store_takes_the_bytes_the_request_was_decoded_from() -> None:
    """A durable CALL's payload is made once from its frame: its request is decoded from
    the bytes its store then takes (the path made one copy for each, a durable CALL's
    instructions spent twice at saturation). Both twins; the route's decoder and the gate's
    start wrapped to see what each got."""

    async def scenario() -> None:
        station = Station(Csms)
        table = fast_routes(type(station.served))
        route = table["TransactionEvent"]
        assert route is not None and route[8] is not None
        start, check, calls, wants_context, first, keeps_frame = route[8]
        decoded: list[bytes] = []
        started: list[bytes] = []

        def decode(payload: bytes) -> Any:
            decoded.append(payload)
            return route.request.decode(payload)

        def starting(action: str, request: Any, payload: bytes, context: Any) -> Any:
            started.append(payload)
            return start(action, request, payload, context)

        request = route.request._replace(decode=decode)
        table["TransactionEvent"] = FastRoute(
            (
                *route[:2],
                request,
                *route[3:8],
                Gate((starting, check, calls, wants_context, first, keeps_frame)),
            )
        )
        assert station.connection.feed(event(1)) is True
        station.replies.ack(0)
        await turns()
        assert station.written == [b'[3,"m1",{}]']
        assert decoded == started == [PAYLOAD % 1]
        assert decoded[0] is started[0]

    run(scenario)


@pytest.mark.parametrize("handler_first", [False, True], ids=["store-first", "handler-first"])
@pytest.mark.parametrize(
    "outcome", ["refused", "timeout", "link lost", "handler raises", "invalid response"]
)
def test_what_fails_is_answered_as_its_callerror(
    path: type[Csms], outcome: str, handler_first: bool
) -> None:
    """A store the stream refused, that timed out or whose link went: InternalError (the
    station sends again); the user's handler raising: its error; its response invalid:
    InternalError; nothing written before the store is done. The handler does not run unless
    the store went through, but with ``handler_first``, where it has run as the store began."""

    async def scenario() -> None:
        station = Station(path, handler_first=handler_first)
        seq = {"handler raises": 7, "invalid response": 8}.get(outcome, 1)
        station.connection.feed(event(seq))
        assert (station.user.ran, station.written) == ([seq] if handler_first else [], [])
        future = station.replies.sent[0][3]
        if outcome == "refused":
            station.replies.ack(0, b'{"error":{"code":503,"description":"no space"}}')
        elif outcome == "timeout":
            future.set_exception(NatsTimeout())
        elif outcome == "link lost":
            future.set_exception(ConnectionError("gone"))
        else:
            station.replies.ack(0)
        await turns()
        ((code, message_id, error, *_),) = [msgspec.json.decode(w) for w in station.written]
        assert (code, message_id) == (4, f"m{seq}")
        assert error == ("SecurityError" if outcome == "handler raises" else "InternalError")
        assert station.user.ran == ([] if seq == 1 and not handler_first else [seq])
        assert (station.connection.handling, station.connection.frame_of(f"m{seq}")) == (0, None)
        assert station.connection.protocol._handling == set()
        assert station.connection._free == 3

    run(scenario)


def test_a_store_that_cannot_start_is_answered_at_once(path: type[Csms]) -> None:
    """The relay not attached: InternalError within ``feed``, nothing published or held."""

    async def scenario() -> None:
        station = Station(path, attached=False)
        station.connection.feed(event(1))
        ((code, message_id, error, *_),) = [msgspec.json.decode(w) for w in station.written]
        assert (code, message_id, error) == (4, "m1", "InternalError")
        assert (station.replies.sent, station.user.ran) == ([], [])
        assert (station.connection.handling, station.connection._free) == (0, 3)
        assert station.connection.protocol._handling == set()

    run(scenario)


def test_calls_beyond_the_bounds_wait_and_are_answered_in_order(path: type[Csms]) -> None:
    """One slot of the connection's (``max_calls=1``) and the server's shared ones: the
    second CALL waits in the backlog (reading pauses), is published once the first is
    answered, and both are answered in order; every slot is given back."""

    async def scenario() -> None:
        shared = Slots(2)
        station = Station(path, max_calls=1, task_slots=shared)
        connection = station.connection
        assert connection.feed(event(1)) is True
        assert connection.feed(event(2)) is False
        assert (len(station.replies.sent), shared.free) == (1, 1)
        station.replies.ack(0)
        await turns()
        assert station.written == [b'[3,"m1",{}]']
        assert len(station.replies.sent) == 2
        station.replies.ack(1)
        await turns()
        assert station.written == [b'[3,"m1",{}]', b'[3,"m2",{}]']
        assert (connection._free, shared.free, connection.waiting) == (1, 2, 0)

    run(scenario)


def test_a_stopped_connection_answers_nothing_and_gives_everything_back(
    path: type[Csms],
) -> None:
    """Stopped while the store waits: the user's handler never runs, nothing is written, the
    slots are back at once and nothing is left pending, whether the ack comes or not."""

    async def scenario() -> None:
        reported: list[dict[str, Any]] = []
        asyncio.get_running_loop().set_exception_handler(lambda _, c: reported.append(c))
        shared = Slots(3)
        station = Station(path, task_slots=shared)
        connection = station.connection
        connection.feed(event(1))
        connection.feed(event(2))
        connection.stop()
        assert (connection.handling, connection._free, shared.free) == (0, 3, 3)
        assert connection.frame_of("m1") is None
        futures = [sent[3] for sent in station.replies.sent]
        assert all(future.cancelled() for future in futures)
        await turns()
        assert (station.written, station.user.ran, reported) == ([], [], [])
        assert await connection.drain(1)

    run(scenario)


class Watched(AsyncConnection):
    """A connection whose slot count and pending CALLs are properties of its own, over the
    slots ``AsyncConnection`` keeps them in: each value they are given is seen."""

    @property
    def _free(self) -> int:
        return int(self.__dict__["free"])

    @_free.setter
    def _free(self, value: int) -> None:
        self.__dict__["free"] = value
        self.__dict__.setdefault("frees", []).append(value)

    @property
    def _pending(self) -> dict[Any, int]:
        self.__dict__["pending_reads"] = self.__dict__.get("pending_reads", 0) + 1
        pending: dict[Any, int] = self.__dict__["pending"]
        return pending

    @_pending.setter
    def _pending(self, value: dict[Any, int]) -> None:
        self.__dict__["pending"] = value

    @property
    def identity(self) -> str:
        self.__dict__["identity_reads"] = self.__dict__.get("identity_reads", 0) + 1
        return str(self.__dict__["_identity"])

    @identity.setter
    def identity(self, value: str) -> None:
        self.__dict__["_identity"] = value

    @property
    def _closing(self) -> bool:
        self.__dict__["closing_reads"] = self.__dict__.get("closing_reads", 0) + 1
        return bool(self.__dict__["closing"])

    @_closing.setter
    def _closing(self, value: bool) -> None:
        self.__dict__["closing"] = value


def test_a_subclass_s_own_attributes_are_what_the_gated_route_reads(path: type[Csms]) -> None:
    """The compiled path reads and writes a gated CALL's connection state (its slots taken
    and given back, its pending CALLs) at ``AsyncConnection``'s slots only where the
    connection's type has them there: a subclass that makes them properties sees every
    value through them, as on the general path."""

    async def scenario() -> None:
        station = Station(path, kind=Watched, max_calls=3)
        connection = station.connection
        connection.__dict__["identity_reads"] = connection.__dict__["closing_reads"] = 0
        assert connection.feed(event(1)) is True
        # feed's own reads go through them too (the compiled feed reads the plain slots)
        assert connection.__dict__["identity_reads"] >= 1
        assert connection.__dict__["closing_reads"] >= 1
        assert connection.__dict__["frees"] == [3, 2]
        assert len(connection.__dict__["pending"]) == 1
        station.replies.ack(0)
        await turns()
        assert station.written == [b'[3,"m1",{}]']
        assert connection.__dict__["frees"] == [3, 2, 3]
        assert connection.__dict__["pending"] == {}
        assert connection.__dict__["pending_reads"] >= 2
        plain = Station(path, max_calls=3)  # a plain connection after it: its own slots again
        assert plain.connection.feed(event(2)) is True
        assert (plain.connection._free, len(plain.connection._pending)) == (2, 1)
        plain.replies.ack(0)
        await turns()
        assert (plain.connection._free, plain.connection._pending) == (3, {})

    run(scenario)


@pytest.mark.skipif("compiled" not in DISPATCH_TWINS, reason="the compiled path is not built")
def test_the_compiled_path_reads_a_connection_s_state_at_its_slots() -> None:
    """Where it is ``AsyncConnection``'s own, the gated route's connection state is read at
    its slots' offsets (a look-up of the instance's attributes each time was about 2,500
    instructions a durable CALL); a subclass's properties are read as attributes."""
    from ocpp_fast._dispatch_c import layout_of

    names = ["_write", "_free", "_slots", "_pending", "_drained", "_stopped", "_paused"]
    names += ["_backlog", "_closing", "_fast", "identity", "_protocol"]
    plain = layout_of(Station(Csms).connection)
    assert sorted(plain) == sorted(names) and all(offset >= 0 for offset in plain.values())
    watched = layout_of(Station(Csms, kind=Watched).connection)
    assert (watched["_free"], watched["_pending"]) == (-1, -1)
    assert (watched["identity"], watched["_closing"]) == (-1, -1)
    assert watched["_write"] == plain["_write"]


class WatchedSlots(Slots):
    """Shared slots whose count and waiters are properties of their own, over the slots
    ``Slots`` keeps them in: each count they are given, and each look at the waiters, is
    seen."""

    @property
    def free(self) -> int:
        return int(self.__dict__["count"])

    @free.setter
    def free(self, value: int) -> None:
        self.__dict__["count"] = value
        self.__dict__.setdefault("frees", []).append(value)

    @property
    def _waiting(self) -> Any:
        self.__dict__["waiting_reads"] = self.__dict__.get("waiting_reads", 0) + 1
        return self.__dict__["waiting"]

    @_waiting.setter
    def _waiting(self, value: Any) -> None:
        self.__dict__["waiting"] = value


@pytest.mark.parametrize("kind", [Slots, WatchedSlots])
def test_the_shared_slots_are_taken_and_given_back_through_their_own_type(
    path: type[Csms], kind: type[Slots]
) -> None:
    """The gated route takes a shared slot as a durable CALL starts and gives it back as it
    is answered, to a connection waiting for one first (``Slots.give``); a ``Slots``
    subclass that makes its count and waiters properties sees every value through them, on
    both paths."""

    async def scenario() -> None:
        shared = kind(1)
        first = Station(path, task_slots=shared)
        second = Station(path, task_slots=shared)
        assert first.connection.feed(event(1)) is True
        assert shared.free == 0
        assert second.connection.feed(event(2)) is False  # no shared slot: it waits for one
        assert (len(first.replies.sent), len(second.replies.sent)) == (1, 0)
        first.replies.ack(0)
        await turns()
        assert first.written == [b'[3,"m1",{}]']
        assert len(second.replies.sent) == 1  # the slot given back went to the waiting one
        assert shared.free == 0
        second.replies.ack(0)
        await turns()
        assert second.written == [b'[3,"m2",{}]']
        assert (shared.free, len(shared._waiting)) == (1, 0)
        if kind is WatchedSlots:
            assert shared.__dict__["frees"] == [1, 0, 1, 0, 1]
            assert shared.__dict__["waiting_reads"] >= 2

    run(scenario)


@pytest.mark.skipif("compiled" not in DISPATCH_TWINS, reason="the compiled path is not built")
def test_the_compiled_path_reads_the_shared_slots_at_their_slots() -> None:
    """``Slots``' count and waiters are read and written at their slots' offsets (a look-up
    of the instance's attributes each time was about 500 instructions a durable CALL); a
    subclass's properties are read as attributes."""
    from ocpp_fast._dispatch_c import shared_layout_of

    plain = shared_layout_of(Slots(1))
    assert sorted(plain) == ["_waiting", "free"] and all(at >= 0 for at in plain.values())
    assert shared_layout_of(WatchedSlots(1)) == {"free": -1, "_waiting": -1}
    assert shared_layout_of(Slots(2)) == plain


_METRICS_SLOT: Any = Protocol.__dict__["metrics"]
_OUTBOX_SLOT: Any = Protocol.__dict__["_outbox"]


class WatchedProtocol(Protocol):
    """A protocol whose metrics and outbox are properties of its own, over the slots
    ``Protocol`` keeps them in (no slot of its own: a protocol's class can become it); its
    metrics are the class's ``shown``, not the slot's, and each read of either is seen."""

    __slots__ = ()
    reads: ClassVar[list[str]] = []
    shown: ClassVar[Metrics | None] = None

    @property
    def metrics(self) -> Metrics | None:
        WatchedProtocol.reads.append("metrics")
        return WatchedProtocol.shown

    @metrics.setter
    def metrics(self, value: Metrics | None) -> None:
        _METRICS_SLOT.__set__(self, value)

    @property
    def _outbox(self) -> list[bytes]:
        WatchedProtocol.reads.append("_outbox")
        outbox: list[bytes] = _OUTBOX_SLOT.__get__(self)
        return outbox

    @_outbox.setter
    def _outbox(self, value: list[bytes]) -> None:
        _OUTBOX_SLOT.__set__(self, value)


def test_a_protocol_subclass_s_own_attributes_are_what_the_conclusion_reads(
    path: type[Csms],
) -> None:
    """The compiled path reads the protocol's metrics and outbox as a gated CALL concludes
    at ``Protocol``'s slots only where the protocol's type has them there: a subclass that
    makes them properties is read through them (its metrics, not the slot's, count the
    answer), as on the general path."""

    async def scenario() -> None:
        station = Station(path)
        station.connection.protocol.__class__ = WatchedProtocol
        WatchedProtocol.shown = metrics = Metrics()
        station.connection.feed(event(1))
        WatchedProtocol.reads.clear()
        station.replies.ack(0)
        await turns()
        assert station.written == [b'[3,"m1",{}]']
        assert metrics.frames["out", "result", "TransactionEvent"] == 1
        assert {"metrics", "_outbox"} <= set(WatchedProtocol.reads)

    run(scenario)


@pytest.mark.skipif("compiled" not in DISPATCH_TWINS, reason="the compiled path is not built")
def test_the_compiled_path_reads_the_protocol_at_its_slots() -> None:
    """``Protocol``'s metrics and outbox are read at their slots' offsets as a gated CALL
    concludes (two look-ups by name were about 270 instructions a durable CALL); a
    subclass's properties are read as attributes."""
    from ocpp_fast._dispatch_c import protocol_layout_of

    plain = protocol_layout_of(Station(Csms).connection.protocol)
    assert sorted(plain) == ["_outbox", "metrics"] and all(at >= 0 for at in plain.values())
    watched = Station(Csms).connection.protocol
    watched.__class__ = WatchedProtocol
    assert protocol_layout_of(watched) == {"metrics": -1, "_outbox": -1}


def test_drain_waits_for_the_store(path: type[Csms]) -> None:
    async def scenario() -> None:
        station = Station(path)
        station.connection.feed(event(1))
        drained = asyncio.ensure_future(station.connection.drain(5))
        await turns()
        assert not drained.done()
        station.replies.ack(0)
        assert await drained
        assert station.written == [b'[3,"m1",{}]']

    run(scenario)


def test_metrics_and_the_frame_log_are_kept_as_on_the_general_path(
    path: type[Csms], caplog: pytest.LogCaptureFixture
) -> None:
    """The CALL counted in, its result out and its handler's time (the store's wait
    included), and both frames logged at DEBUG, whichever path answered."""

    async def scenario() -> None:
        station = Station(path)
        metrics = station.connection.protocol.metrics = Metrics()
        with caplog.at_level("DEBUG", logger="ocpp_fast.frames"):
            station.connection.feed(event(1))
            station.replies.ack(0)
            await turns()
        assert station.written == [b'[3,"m1",{}]']
        frames = metrics.frames
        assert frames["in", "call", "TransactionEvent"] == 1
        assert frames["out", "result", "TransactionEvent"] == 1
        cell = metrics.cell("TransactionEvent")
        assert sum(cell[:SUM]) == 1  # one handler time observed
        logged = [r.getMessage() for r in caplog.records if r.name == "ocpp_fast.frames"]
        assert any("TransactionEvent" in line for line in logged)
        assert any('[3,"m1",{}]' in line for line in logged)

    run(scenario)


def test_a_store_cancelled_elsewhere_gives_its_message_id_back(path: type[Csms]) -> None:
    """A store's ack cancelled by someone else than the connection (its link closing it, code
    holding it): the CALL is not answered and the user's handler never runs, as on a stopped
    connection, and its id is no longer in hand: the same id sent again is handled, where the
    gated route kept it for good (refused as a duplicate, one more per such CALL)."""

    async def scenario() -> None:
        station = Station(path)
        connection = station.connection
        assert connection.feed(event(1)) is True
        station.replies.sent[0][3].cancel()
        await turns()
        assert (station.written, station.user.ran) == ([], [])
        assert connection.protocol._handling == set()
        assert (connection.frame_of("m1"), connection.handling, connection._pending) == (
            None,
            0,
            {},
        )
        assert connection.feed(event(1)) is True
        station.replies.ack(1)
        await turns()
        assert station.written == [b'[3,"m1",{}]']

    run(scenario)


@pytest.mark.parametrize("handler_first", [False, True], ids=["store-first", "handler-first"])
def test_a_gated_call_waiting_for_its_ack_is_named_as_running(
    path: type[Csms], handler_first: bool
) -> None:
    """The sweep of slow handlers and the lines of cancelled CALLs name what ``running()``
    names: a gated CALL held for its ack by the compiled path (its ``Gated``, of either twin)
    is named by its action and id, as the general path's ``_Stored`` is; nothing once the
    ack answered it, and a stopped connection lists it as cancelled."""

    async def scenario() -> None:
        station = Station(path, handler_first=handler_first)
        connection = station.connection
        connection.feed(event(1))
        connection.feed(event(2, "m-two"))
        named = [(action, message_id) for _, action, message_id in connection.running()]
        assert named == [("TransactionEvent", "m1"), ("TransactionEvent", "m-two")]
        runners = {runner for runner, _, _ in connection.running()}
        assert len(runners) == 2  # one per CALL: the sweep says each once
        station.replies.ack(0)
        await turns()
        assert [m for _, _, m in connection.running()] == ["m-two"]
        connection.stop()
        assert connection.cancelled == [("TransactionEvent", "m-two")]
        assert connection.running() == []

    run(scenario)


class Beating(Csms):
    """A plain handler of an action the gateway does not store: the user's own, run inline."""

    def heartbeat(
        self, request: messages.HeartbeatRequest, context: CallContext
    ) -> messages.HeartbeatResponse:
        connection = context.connection
        assert isinstance(connection, AsyncConnection)
        self.frames.append(connection.frame_of(context.message_id))
        return messages.HeartbeatResponse(current_time=NOON)


class BeatingKeeping(Beating):
    keeps_frames = True


NOON = datetime.datetime(2026, 11, 30, 12, tzinfo=datetime.UTC)


@pytest.mark.parametrize(("cls", "keeps"), [(Beating, False), (BeatingKeeping, True)])
def test_a_plain_handler_the_gateway_runs_inline_has_a_frame_kept_only_if_its_class_asks(
    cls: type[Beating], keeps: bool
) -> None:
    """The gateway's classes keep frames (its store and forward read them), yet a handler of
    an action it does not store is the user's own, run inline by the compiled path: its frame
    is kept only when the user's class asks (``keeps_frames``), and answered all the same."""

    async def scenario() -> None:
        station = Station(cls)
        connection = station.connection
        frame = b'[2,"h1","Heartbeat",{}]'
        assert connection.feed(frame) is True
        await turns()
        assert station.written == [b'[3,"h1",{"currentTime":"2026-11-30T12:00:00Z"}]']
        assert station.user.frames == [frame if keeps else None]
        assert connection.frame_of("h1") is None

    run(scenario)
