"""2.1's SEND frames on the compiled paths: the codecs' fast scan and the dispatch twins.

A SEND (``[6, id, action, payload]``, only ``NotifyPeriodicEventStream``) is never
answered, not even with an error (OCPP-J 2.1; /work/shared/spec/OCPP-J.md). The fast
scan of both codecs decodes a valid one as the reference path does; the dispatch twins
take a valid SEND of an action never answered, run its plain handler and write nothing,
with the frame log, the metrics and the handler-failure log the general path keeps. Every
other SEND is left to the general path, which ends it as it did before: the scenarios run
each frame on the compiled path and on the general one (a class whose own
``invoke_handler`` keeps every frame off the compiled path) and compare what each did.
"""

from __future__ import annotations

import asyncio
import logging
from types import ModuleType
from typing import Any

import msgspec
import pytest
from counting_protocol import counting, received
from test_fastpath import TWINS

from ocpp_fast import _reference, errors, v21, v201
from ocpp_fast._fastpath import HandlerRan, fast_routes
from ocpp_fast.aio import AsyncConnection
from ocpp_fast.dispatch import CallContext, Route
from ocpp_fast.frames import Call, Send
from ocpp_fast.metrics import Metrics
from ocpp_fast.protocol import Protocol, SendReceived
from ocpp_fast.v21 import messages

pytestmark = pytest.mark.usefixtures("dispatch_twin")  # handle and feed: both twins

ACTION = "NotifyPeriodicEventStream"
PAYLOAD = (
    b'{"id":1,"pending":0,"basetime":"2026-11-23T10:05:00.000Z",'
    b'"data":[{"t":0,"v":"7400.0"},{"t":15,"v":"7380.5"}]}'
)


def send(message_id: str = "s1", payload: bytes = PAYLOAD, action: str = ACTION) -> bytes:
    return b'[6,"' + message_id.encode() + b'","' + action.encode() + b'",' + payload + b"]"


class Csms(v21.ChargeSystem):
    """A plain SEND handler keeping what it was handed (raising or handing back an awaitable
    as the stream's ``id`` says); a Heartbeat handler, whose action a SEND must not take."""

    def __init__(self) -> None:
        self.seen: list[tuple[Any, str]] = []

    def protocol(self, identity: str = "") -> Protocol:
        return counting(super().protocol(identity))

    def notify_periodic_event_stream(
        self, request: messages.NotifyPeriodicEventStreamRequest, context: CallContext
    ) -> Any:
        self.seen.append((request, context.message_id))
        if request.id == 7:
            raise KeyError("a bug")
        if request.id == 8:

            async def later() -> None:
                self.seen.append(("awaited", context.message_id))

            return later()
        return None

    def heartbeat(self, request: messages.HeartbeatRequest) -> messages.HeartbeatResponse:
        raise AssertionError("a SEND of Heartbeat reached its handler")


class General(Csms):
    """The same handlers on the general path: its own ``invoke_handler`` keeps the compiled
    path from taking any frame (``OcppHandler.fast_dispatch``)."""

    def invoke_handler(self, route: Route | None, call: Call, identity: str, peer: Any) -> Any:
        return super().invoke_handler(route, call, identity, peer)


async def nothing() -> None:
    """A coroutine that never suspends: ``handle()`` can still run a handler awaiting it."""


class AsyncCsms(Csms):
    async def notify_periodic_event_stream(
        self, request: messages.NotifyPeriodicEventStreamRequest, context: CallContext
    ) -> None:
        await nothing()  # an await: a task's on a live connection (_awaitless)
        self.seen.append((request, context.message_id))
        if request.id == 7:
            raise KeyError("a bug")


class AsyncGeneral(AsyncCsms):
    def invoke_handler(self, route: Route | None, call: Call, identity: str, peer: Any) -> Any:
        return super().invoke_handler(route, call, identity, peer)


def request(payload: bytes = PAYLOAD) -> messages.NotifyPeriodicEventStreamRequest:
    decoded = msgspec.json.decode(payload, type=messages.NotifyPeriodicEventStreamRequest)
    return decoded


# --- the codecs ------------------------------------------------------------------------------


def outcome(decode: Any, data: bytes | str, version: Any) -> Any:
    """What a codec's ``decode_frame`` made of ``data``, comparable."""
    try:
        return ("frame", decode(data, version, {}))
    except errors.OcppError as exc:
        return ("error", type(exc), exc.message_id, exc.message_type, exc.description)


SENDS: list[bytes | str] = [
    send(),
    send().decode(),  # text
    b' [ 6 , "s2" , "NotifyPeriodicEventStream" , ' + PAYLOAD + b" ]",  # JSON whitespace
    send("s3", action="Heartbeat", payload=b"{}"),  # a CALL's action: a Send still, dropped later
    send("s4", PAYLOAD.replace(b'"id":1', b'"id":1.0')),  # an integral float: the reference's
    send("s5", PAYLOAD.replace(b'"id":1', b'"id":-1')),  # below its minimum
    send("s6", PAYLOAD.replace(b"T10:05:00.000Z", b" 10:05:00.000Z")),  # a lenient date-time
    send("s7", PAYLOAD.replace(b'"v":"7400.0"', b'"v":7400')),  # a wrong type
    send("s8", b"{}"),  # required fields missing
    send("s9", action="NoSuchAction", payload=b"{}"),
    b'[6,"s10",' + PAYLOAD + b"]",  # no action
    b'[6,"s11","NotifyPeriodicEventStream",' + PAYLOAD + b',"x"]',  # a fifth element
    b'[6,"s12\\u0041","NotifyPeriodicEventStream",' + PAYLOAD + b"]",  # an escaped id
    b'[6,"s13","NotifyPeriodicEventStream",' + PAYLOAD,  # cut short
]


@pytest.mark.parametrize("version", [v21.VERSION, v201.VERSION], ids=["2.1", "2.0.1"])
def test_both_codecs_read_a_send_as_the_reference_path_does(impl: ModuleType, version: Any) -> None:
    """Byte for byte the same outcome as the reference decision procedure (in 2.0.1, which has
    no SEND frame, whatever that version makes of a type 6)."""
    for frame in SENDS:
        expected = outcome(_reference.decode_frame_reference, frame, version)
        assert outcome(impl.decode_frame, frame, version) == expected, frame
    assert outcome(impl.decode_frame, send(), v21.VERSION) == (
        "frame",
        Send("s1", ACTION, request()),
    )


def test_both_codecs_decode_a_valid_send_on_their_fast_scan(
    impl: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reference path is not asked for a valid SEND (it is for one only it can judge)."""
    asked: list[bytes | str] = []

    def reference(data: bytes | str, version: Any, pending: Any) -> Any:
        asked.append(data)
        return _reference.decode_frame_reference(data, version, pending)

    monkeypatch.setattr(impl, "decode_frame_reference", reference)
    assert impl.decode_frame(send(), v21.VERSION) == Send("s1", ACTION, request())
    assert impl.decode_frame(send().decode(), v21.VERSION) == Send("s1", ACTION, request())
    assert asked == []
    lenient = send("s6", PAYLOAD.replace(b"T10:05:00.000Z", b" 10:05:00.000Z"))
    with pytest.raises(errors.OcppError):
        impl.decode_frame(lenient, v21.VERSION)
    assert asked == [lenient]


# --- the dispatch twins ----------------------------------------------------------------------


@pytest.mark.parametrize("twin", TWINS, ids=[t.IMPLEMENTATION for t in TWINS])
def test_the_twins_take_a_send_and_answer_nothing(twin: ModuleType) -> None:
    csms = Csms()
    protocol = csms.protocol("CS1")
    protocol.metrics = Metrics()
    peer = object()
    fast = twin.FastDispatch(csms, fast_routes(Csms), CallContext, peer, protocol)
    assert fast.answer(send("s1"), "CS1") is True
    assert fast.answer(send("s2").decode(), "CS1") is True
    assert csms.seen == [(request(), "s1"), (request(), "s2")]
    assert protocol.metrics.frames == {("in", "send", ACTION): 2}
    assert sum(protocol.metrics.handler_times()[ACTION][0]) == 2
    assert protocol._handling == set()  # a SEND is never in hand: nothing answers it
    alone = twin.FastDispatch(csms, fast_routes(Csms), CallContext)  # handle()'s
    assert alone.answer(send("s3"), "CS1") is True
    assert csms.seen[-1] == (request(), "s3")


@pytest.mark.parametrize("twin", TWINS, ids=[t.IMPLEMENTATION for t in TWINS])
def test_the_twins_leave_the_rest_of_sends_to_the_general_code(twin: ModuleType) -> None:
    csms = Csms()
    protocol = csms.protocol("CS1")
    protocol.metrics = Metrics()
    fast = twin.FastDispatch(csms, fast_routes(Csms), CallContext, None, protocol)
    for frame in SENDS[3:]:  # a CALL's action, refused by the strict decode, unreadable
        assert isinstance(frame, bytes)
        refused = frame.startswith(tuple(b'[6,"s%d"' % n for n in (4, 5, 6, 7, 8, 11)))
        assert fast.answer(frame, "CS1") is (False if refused else None), frame
    # a CALL of the action never answered: the general path's to refuse
    assert fast.answer(b'[2,"c1","NotifyPeriodicEventStream",' + PAYLOAD + b"]", "CS1") is None
    assert csms.seen == [] and protocol.metrics.frames == {}
    raised = fast.answer(send("e1", PAYLOAD.replace(b'"id":1', b'"id":7')), "CS1")
    assert isinstance(raised, HandlerRan) and type(raised.error) is KeyError
    assert type(raised.call) is Send and raised.call.message_id == "e1" and raised.result is None
    handed = fast.answer(send("w1", PAYLOAD.replace(b'"id":1', b'"id":8')), "CS1")
    assert isinstance(handed, HandlerRan) and handed.error is None
    assert type(handed.call) is Send and asyncio.iscoroutine(handed.result)
    handed.result.close()
    assert protocol.metrics.frames == {("in", "send", ACTION): 2}
    assert protocol._handling == set()


@pytest.mark.parametrize("twin", TWINS, ids=[t.IMPLEMENTATION for t in TWINS])
def test_the_twins_hand_an_async_handlers_send_over_decoded(twin: ModuleType) -> None:
    handler = AsyncCsms()
    protocol = handler.protocol("CS1")
    fast = twin.FastDispatch(handler, fast_routes(AsyncCsms), CallContext, None, protocol)
    assert fast.answer(send("a1"), "CS1") == SendReceived(Send("a1", ACTION, request()))
    assert protocol._handling == set()
    alone = twin.FastDispatch(handler, fast_routes(AsyncCsms), CallContext)  # handle()'s
    assert alone.answer(send("a2"), "CS1") is None


# --- handle() and feed(), against the general path -------------------------------------------

FRAMES: list[bytes | str] = [
    send("s1"),
    send("e1", PAYLOAD.replace(b'"id":1', b'"id":7')),  # its handler raises: logged
    send("w1", PAYLOAD.replace(b'"id":1', b'"id":8')),  # its handler hands back an awaitable
    *SENDS[1:],
    send("s20", PAYLOAD.replace(b'"id":1', b'"id":2')),
]


class Seen(msgspec.Struct):
    """What a run did: the replies, the handlers' arguments, the log lines, the metrics, and
    the frames its Protocol decoded."""

    replies: list[Any]
    seen: list[Any]
    logged: list[tuple[str, int, str]]
    frames: dict[Any, int]
    handled: int
    decoded: list[bytes | str]


def _logged(caplog: pytest.LogCaptureFixture) -> list[tuple[str, int, str]]:
    return [(r.name, r.levelno, r.getMessage()) for r in caplog.records]


def handled(csms: Csms, caplog: pytest.LogCaptureFixture) -> Seen:
    """Every frame through ``handle``."""
    received.clear()
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        replies = [csms.handle(frame, "CS1") for frame in FRAMES]
    return Seen(replies, csms.seen, _logged(caplog), {}, 0, list(received))


def fed(csms: Csms, caplog: pytest.LogCaptureFixture) -> Seen:
    """Every frame fed to a live connection keeping metrics, then its handlers drained."""

    async def main() -> Seen:
        written: list[bytes] = []
        connection = AsyncConnection(csms, write=written.append, identity="CS1")
        metrics = connection.protocol.metrics = Metrics()
        received.clear()
        caplog.clear()
        with caplog.at_level(logging.DEBUG):
            for frame in FRAMES:  # each one's handler done before the next comes
                assert connection.feed(frame)
                while connection.handling or connection.waiting:
                    await connection.drain(5)
                    await asyncio.sleep(0)
        times = metrics.handler_times()
        count = int(sum(sum(bins) for bins, _ in times.values()))
        return Seen(
            written, csms.seen, _logged(caplog), dict(metrics.frames), count, list(received)
        )

    return asyncio.run(main())


@pytest.mark.parametrize("run", [handled, fed], ids=["handle", "feed"])
@pytest.mark.parametrize(
    ("fast", "general"), [(Csms, General), (AsyncCsms, AsyncGeneral)], ids=["plain", "async"]
)
def test_a_send_ends_as_on_the_general_path_without_its_protocol(
    run: Any, fast: type[Csms], general: type[Csms], caplog: pytest.LogCaptureFixture
) -> None:
    """No reply, the same handler calls, log lines (the frame log, the handler's failure, the
    dropped SENDs) and metrics; and the valid SENDs never reach the Protocol on the compiled
    path (but an async handler's in ``handle``, which runs those its own way)."""
    ours, theirs = run(fast(), caplog), run(general(), caplog)
    assert ours.replies == theirs.replies
    # never answered, not even with an error (but the frame cut short: no JSON, no SEND)
    assert [r for r in ours.replies if r] == [
        b'[4,"-1","RpcFrameworkError","frame is not valid JSON: Input data was truncated",{}]'
    ]
    assert (ours.seen, ours.logged, ours.frames, ours.handled) == (
        theirs.seen,
        theirs.logged,
        theirs.frames,
        theirs.handled,
    )
    assert theirs.decoded == FRAMES
    valid = [FRAMES[0], FRAMES[1], FRAMES[2], *SENDS[:3], FRAMES[-1]]
    if fast is AsyncCsms and run is handled:
        assert ours.decoded == FRAMES  # handle() runs an async handler its own way
    else:
        assert ours.decoded == [f for f in FRAMES if f not in valid]
    failed = "handler of SEND NotifyPeriodicEventStream (e1) raised"
    assert [m for _, level, m in ours.logged if failed in m] == [f"CS1: {failed}"]
    assert sum(1 for _, level, _ in ours.logged if level == logging.WARNING) >= 8  # dropped
