"""CALLs of ``async def`` handlers on the compiled path: decoded once, then the asyncio layer's.

On a live connection the compiled path (``_dispatch_c`` / ``_dispatch_py``) decodes
such a CALL and hands it, in hand and counted, to ``AsyncConnection._take_call``,
without ``Protocol.receive`` decoding it again. What a station sees must not
change: each scenario here is run on that path and on the general one (a class
whose own ``invoke_handler`` keeps every CALL off the compiled path) and the two
must write the same frames, pause and resume reading alike, count the same
metrics, log the same frame lines and show handlers the same frames.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from types import ModuleType
from typing import Any

import msgspec
import pytest
from counting_protocol import counting, received
from test_fastpath import TWINS

from ocpp_fast import v201
from ocpp_fast._fastpath import fast_routes
from ocpp_fast.aio import AsyncConnection, Slots
from ocpp_fast.dispatch import CallContext, Route
from ocpp_fast.frames import Call
from ocpp_fast.metrics import Metrics
from ocpp_fast.protocol import CallReceived, Protocol
from ocpp_fast.v201 import messages

pytestmark = pytest.mark.usefixtures("dispatch_twin")  # handle and feed: both twins

NOW = datetime.datetime(2026, 12, 2, 12, tzinfo=datetime.UTC)


async def nothing() -> None:
    """A coroutine that never suspends: ``handle()`` can still run a handler awaiting it."""


class Gated(v201.ChargeSystem):
    """An async handler that waits at a gate (so CALLs pile up behind the bounds), noting the
    frame its connection kept for it; a plain one beside it."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.frames: list[tuple[str, bytes | str | None]] = []

    def protocol(self, identity: str = "") -> Protocol:
        return counting(super().protocol(identity))

    async def heartbeat(
        self, request: messages.HeartbeatRequest, context: CallContext
    ) -> messages.HeartbeatResponse:
        connection = context.connection
        assert isinstance(connection, AsyncConnection)
        self.frames.append((context.message_id, connection.frame_of(context.message_id)))
        await self.gate.wait()
        return messages.HeartbeatResponse(current_time=NOW)

    async def data_transfer(
        self, request: messages.DataTransferRequest
    ) -> messages.DataTransferResponse:
        if request.vendor_id == "raise":
            raise ValueError("a bug")
        if request.vendor_id == "wrong":
            return messages.HeartbeatResponse(current_time=NOW)  # type: ignore[return-value]
        await nothing()  # an await (that never suspends): a task's, not run at once (_awaitless)
        return messages.DataTransferResponse(status=v201.enums.DataTransferStatusEnumType.ACCEPTED)

    def authorize(self, request: messages.AuthorizeRequest) -> messages.AuthorizeResponse:
        return messages.AuthorizeResponse(
            id_token_info=v201.datatypes.IdTokenInfoType(
                status=v201.enums.AuthorizationStatusEnumType.ACCEPTED
            )
        )


class General(Gated):
    """The same handlers on the general path: its own ``invoke_handler`` keeps the compiled
    path from taking any CALL (``OcppHandler.fast_dispatch``)."""

    def invoke_handler(self, route: Route | None, call: Call, identity: str, peer: Any) -> Any:
        return super().invoke_handler(route, call, identity, peer)


class Keeping(Gated):
    keeps_frames = True


class KeepingGeneral(General):
    keeps_frames = True


def heartbeat(message_id: str) -> bytes:
    return b'[2,"' + message_id.encode() + b'","Heartbeat",{}]'


def data_transfer(vendor: str, message_id: str = "d1") -> bytes:
    return msgspec.json.encode([2, message_id, "DataTransfer", {"vendorId": vendor}])


AUTHORIZE = b'[2,"a1","Authorize",{"idToken":{"idToken":"T","type":"ISO14443"}}]'


class Run(msgspec.Struct):
    """What a scenario did: ``feed``'s answers, the frames written, the resumes, the frames
    each gated handler saw, the frames its Protocol decoded."""

    fed: list[bool]
    written: list[bytes]
    resumed: int
    seen: list[tuple[str, bytes | str | None]]
    decoded: list[bytes | str]


def scenario(
    handler: Gated,
    frames: list[bytes | str],
    *,
    max_calls: int = 3,
    slots: Slots | None = None,
    metrics: Metrics | None = None,
) -> Run:
    """Feed ``frames`` one after the other, open the gate, and wait for every answer."""

    async def main() -> Run:
        written: list[bytes] = []
        resumed: list[None] = []
        connection = AsyncConnection(
            handler,
            write=written.append,
            identity="CS1",
            max_calls=max_calls,
            task_slots=slots,
            on_resume=lambda: resumed.append(None),
        )
        connection.protocol.metrics = metrics
        received.clear()
        fed = []
        for frame in frames:
            fed.append(connection.feed(frame))
            await asyncio.sleep(0)  # the tasks started so far reach the gate
        handler.gate.set()
        while connection.handling or connection.waiting:
            await connection.drain(5)
            await asyncio.sleep(0)
        assert not connection._frames  # none kept past its answer
        return Run(fed, written, len(resumed), handler.frames, list(received))

    return asyncio.run(main())


def on_both_paths(frames: list[bytes | str], **options: Any) -> Run:
    """The scenario on the compiled path and on the general path: the same, but for what
    the Protocol decoded (returned: the compiled path's run)."""
    fast, general = scenario(Gated(), frames, **options), scenario(General(), frames, **options)
    assert (fast.fed, fast.written, fast.resumed, fast.seen) == (
        general.fed,
        general.written,
        general.resumed,
        general.seen,
    )
    return fast


def test_an_async_handlers_call_is_not_decoded_again_by_the_protocol() -> None:
    frames: list[bytes | str] = [heartbeat("h1"), data_transfer("V"), '[2,"t1","Heartbeat",{}]']
    fast = on_both_paths(frames)
    assert fast.decoded == []
    assert [msgspec.json.decode(w)[:2] for w in fast.written] == [[3, "d1"], [3, "h1"], [3, "t1"]]
    general = scenario(General(), frames)
    assert general.decoded == frames


def test_what_the_strict_decode_refuses_still_goes_to_the_protocol() -> None:
    bad = b'[2,"b1","Heartbeat",{"customData":1}]'
    fast = on_both_paths([bad, heartbeat("h1")])
    assert fast.decoded == [bad]
    assert msgspec.json.decode(fast.written[0])[:3] == [4, "b1", "TypeConstraintViolation"]


def test_pipelined_async_calls_wait_in_the_backlog_in_order() -> None:
    frames: list[bytes | str] = [heartbeat(f"h{i}") for i in range(8)]
    frames[4:4] = [AUTHORIZE]  # a plain handler's CALL waits its turn behind the backlog too
    fast = on_both_paths(frames, max_calls=3)
    assert fast.fed == [True, True, True, False, False, False, False, False, False]
    assert fast.resumed == 1
    ids = [msgspec.json.decode(w)[1] for w in fast.written]
    assert sorted(ids) == sorted(["a1", *(f"h{i}" for i in range(8))])
    assert [i for i in ids if i.startswith("h")] == [f"h{i}" for i in range(8)]
    assert fast.decoded == frames[4:]  # h3 found no slot: the CALLs behind it are the Protocol's


def test_shared_task_slots_bound_async_calls_on_the_compiled_path() -> None:
    fast = on_both_paths([heartbeat(f"h{i}") for i in range(4)], slots=Slots(2))
    assert fast.fed == [True, True, False, False]
    assert fast.decoded == [heartbeat("h3")]


def test_a_duplicate_id_is_refused_while_its_async_handler_runs() -> None:
    fast = on_both_paths([heartbeat("dup"), heartbeat("dup"), AUTHORIZE])
    assert [msgspec.json.decode(w)[:3] for w in fast.written] == [
        [4, "dup", "RpcFrameworkError"],
        [3, "a1", {"idTokenInfo": {"status": "Accepted"}}],
        [3, "dup", {"currentTime": "2026-12-02T12:00:00Z"}],
    ]
    assert fast.decoded == [heartbeat("dup")]  # the second: the general path refuses it


def test_async_handlers_errors_and_wrong_responses_are_answered_as_before() -> None:
    fast = on_both_paths([data_transfer("raise", "r1"), data_transfer("wrong", "w1")])
    assert [msgspec.json.decode(w)[:3] for w in fast.written] == [
        [4, "r1", "InternalError"],
        [4, "w1", "InternalError"],
    ]
    assert fast.decoded == []


def test_metrics_count_async_calls_results_and_handler_times_alike() -> None:
    counted = []
    for handler in (Gated(), General()):
        metrics = Metrics()
        scenario(
            handler,
            [heartbeat("h1"), data_transfer("V"), data_transfer("raise", "r1")],
            metrics=metrics,
        )
        times = {action: sum(buckets) for action, (buckets, _) in metrics.handler_times().items()}
        counted.append((dict(metrics.frames), dict(metrics.errors), times))
    assert counted[0] == counted[1]
    frames, _, times = counted[0]
    assert frames[("in", "call", "Heartbeat")] == 1 and frames[("in", "call", "DataTransfer")] == 2
    assert frames[("out", "result", "Heartbeat")] == 1
    assert times == {"Heartbeat": 1, "DataTransfer": 2}


def test_the_frame_log_reads_as_on_the_general_path(caplog: pytest.LogCaptureFixture) -> None:
    logged = []
    with caplog.at_level(logging.DEBUG, logger="ocpp_fast.frames"):
        for handler in (Gated(), General()):
            caplog.clear()
            scenario(handler, [heartbeat("h1"), '[2,"t1","Heartbeat",{}]'])
            logged.append([(r.direction, r.identity, r.frame) for r in caplog.records])  # type: ignore[attr-defined]
    assert logged[0] == logged[1]
    assert [(direction, frame) for direction, _, frame in logged[0]][:2] == [
        ("<", heartbeat("h1")),
        ("<", '[2,"t1","Heartbeat",{}]'),
    ]
    assert len(logged[0]) == 4


def test_an_async_handler_sees_its_frame_where_the_class_keeps_frames() -> None:
    text = '[2,"t1","Heartbeat",{}]'
    frames: list[bytes | str] = [heartbeat("h1"), text, heartbeat("h2"), heartbeat("h3")]
    runs = [scenario(cls(), frames, max_calls=2) for cls in (Keeping, KeepingGeneral)]
    assert (
        runs[0].seen
        == runs[1].seen
        == [
            ("h1", heartbeat("h1")),
            ("t1", text),
            ("h2", heartbeat("h2")),
            ("h3", heartbeat("h3")),
        ]
    )
    assert runs[0].decoded == frames[3:]  # h2, the backlog's first, came the compiled path
    assert on_both_paths(frames).seen == [(f, None) for f in ("h1", "t1", "h2", "h3")]


@pytest.mark.parametrize("twin", TWINS, ids=[t.IMPLEMENTATION for t in TWINS])
def test_the_twins_hand_an_async_call_over_decoded_and_in_hand(twin: ModuleType) -> None:
    handler = Gated()
    protocol = handler.protocol("CS1")
    protocol.metrics = Metrics()
    fast = twin.FastDispatch(handler, fast_routes(Gated), CallContext, None, protocol)
    outcome = fast.answer(data_transfer("V", "d7"), "CS1")
    assert outcome == CallReceived(
        Call("d7", "DataTransfer", messages.DataTransferRequest(vendor_id="V"))
    )
    assert protocol._handling == {"d7"}
    assert fast.answer(data_transfer("V", "d7"), "CS1") is None  # in hand: the Protocol's
    assert fast.answer(b'[2,"b1","DataTransfer",{"vendorId":1}]', "CS1") is False
    assert protocol.metrics.frames[("in", "call", "DataTransfer")] == 1
    assert protocol._handling == {"d7"}
    # handle() (no connection) runs async handlers its own way: not taken there
    alone = twin.FastDispatch(handler, fast_routes(Gated), CallContext)
    assert alone.answer(data_transfer("V", "d8"), "CS1") is None


def test_handle_still_runs_async_handlers_to_their_end() -> None:
    assert Gated().handle(data_transfer("V")) == b'[3,"d1",{"status":"Accepted"}]'
    refused = Gated().handle(data_transfer("raise"))
    assert refused is not None and msgspec.json.decode(refused)[:3] == [4, "d1", "InternalError"]


class PlainKeeping(v201.ChargeSystem):
    """Plain handlers of a class that keeps frames: one answers at once, one hands back a
    future answered later; each notes the frame its connection holds for it."""

    keeps_frames = True

    def __init__(self) -> None:
        self.seen: list[tuple[str, bytes | str | None]] = []
        self.later: list[asyncio.Future[messages.DataTransferResponse]] = []

    def authorize(
        self, request: messages.AuthorizeRequest, context: CallContext
    ) -> messages.AuthorizeResponse:
        connection = context.connection
        assert isinstance(connection, AsyncConnection)
        self.seen.append((context.message_id, connection.frame_of(context.message_id)))
        return messages.AuthorizeResponse(
            id_token_info=v201.datatypes.IdTokenInfoType(
                status=v201.enums.AuthorizationStatusEnumType.ACCEPTED
            )
        )

    def data_transfer(
        self, request: messages.DataTransferRequest, context: CallContext
    ) -> asyncio.Future[messages.DataTransferResponse]:
        connection = context.connection
        assert isinstance(connection, AsyncConnection)
        self.seen.append((context.message_id, connection.frame_of(context.message_id)))
        answer: asyncio.Future[messages.DataTransferResponse] = (
            asyncio.get_running_loop().create_future()
        )
        self.later.append(answer)
        return answer


@pytest.mark.parametrize("twin", TWINS, ids=[t.IMPLEMENTATION for t in TWINS])
def test_a_plain_handler_sees_its_frame_on_the_compiled_path(
    twin: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``frame_of`` holds for a plain handler as for an async one: the compiled path keeps
    the frame while it runs, and lets it go once answered (at once, or by its future)."""
    monkeypatch.setattr("ocpp_fast.dispatch.fast_dispatch_class", lambda: twin.FastDispatch)
    handler = PlainKeeping()
    text = '[2,"d1","DataTransfer",{"vendorId":"V"}]'

    async def main() -> list[bytes]:
        written: list[bytes] = []
        connection = AsyncConnection(handler, write=written.append, identity="CS1")
        assert type(connection._fast) is twin.FastDispatch
        connection.feed(AUTHORIZE)
        assert connection._frames == {}  # answered: let go
        connection.feed(text)
        assert connection._frames == {"d1": text}  # held until its future completes
        handler.later[0].set_result(
            messages.DataTransferResponse(status=v201.enums.DataTransferStatusEnumType.ACCEPTED)
        )
        await connection.drain(5)
        assert connection._frames == {}
        return written

    written = asyncio.run(main())
    assert handler.seen == [("a1", AUTHORIZE), ("d1", text)]
    assert [msgspec.json.decode(w)[:2] for w in written] == [[3, "a1"], [3, "d1"]]
