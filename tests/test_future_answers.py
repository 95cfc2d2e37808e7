"""A plain handler that hands back a future of its response: answered from the future's
completion callback, with no task.

The future is asyncio's (its callbacks come a turn of the loop later) or the library's
:class:`~ocpp_fast._deferred.Deferred` (called back as it completes). Each scenario runs
on both twins of the compiled path and on the general path (a handler class whose own
``invoke_handler`` keeps every CALL off the compiled path), and must come out the same:
the answer written once the future completes, its error as the right CALLERROR, the
bounds on CALLs in flight kept for a handler marked ``answers_later``, nothing answered
and nothing reported once the connection stopped.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import pytest
from handler_paths import path_fixture

from ocpp_fast import errors, v201
from ocpp_fast._deferred import Deferred
from ocpp_fast.aio import AsyncConnection, Slots
from ocpp_fast.dispatch import CallContext, Route, answers_later
from ocpp_fast.frames import Call
from ocpp_fast.v201 import messages

pytestmark = pytest.mark.usefixtures("dispatch_twin")  # handle and feed: both twins

Future = asyncio.Future[Any] | Deferred[Any]
ACCEPTED = messages.AuthorizeResponse(
    id_token_info=v201.datatypes.IdTokenInfoType(
        status=v201.enums.AuthorizationStatusEnumType.ACCEPTED
    )
)
ANSWER = b'{"idTokenInfo":{"status":"Accepted"}}'


class Later(v201.ChargeSystem):
    """Authorize hands back a future the test completes (unmarked: run at once, outside the
    bounds); DataTransfer the same, marked ``answers_later`` (within the bounds), and
    vendor ``raise`` raises instead."""

    keeps_frames = True

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.futures: dict[str, Future] = {}
        self.frames: dict[str, bytes | str | None] = {}

    def _future(self, context: CallContext) -> Any:
        made: Future = Deferred() if self.kind == "deferred" else asyncio.Future()
        self.futures[context.message_id] = made
        connection = context.connection
        if isinstance(connection, AsyncConnection):
            self.frames[context.message_id] = connection.frame_of(context.message_id)
        return made

    def authorize(
        self, request: messages.AuthorizeRequest, context: CallContext
    ) -> Awaitable[messages.AuthorizeResponse]:
        future: Awaitable[messages.AuthorizeResponse] = self._future(context)
        return future

    @answers_later
    def data_transfer(
        self, request: messages.DataTransferRequest, context: CallContext
    ) -> Awaitable[messages.DataTransferResponse]:
        if request.vendor_id == "raise":
            raise errors.SecurityError("not you")
        future: Awaitable[messages.DataTransferResponse] = self._future(context)
        return future


class LaterGeneral(Later):
    """The same handlers on the general path."""

    def invoke_handler(self, route: Route | None, call: Call, identity: str, peer: Any) -> Any:
        return super().invoke_handler(route, call, identity, peer)


path = path_fixture(Later, LaterGeneral)


@pytest.fixture(params=["future", "deferred"])
def kind(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


def authorize(message_id: str) -> bytes:
    return b'[2,"%b","Authorize",{"idToken":{"idToken":"T","type":"ISO14443"}}]' % (
        message_id.encode()
    )


def data_transfer(message_id: str, vendor: str = "V") -> bytes:
    return b'[2,"%b","DataTransfer",{"vendorId":"%b"}]' % (message_id.encode(), vendor.encode())


def transfer_answer(message_id: str) -> bytes:
    return b'[3,"%b",{"status":"Accepted"}]' % message_id.encode()


ACCEPTED_TRANSFER = messages.DataTransferResponse(
    status=v201.enums.DataTransferStatusEnumType.ACCEPTED
)


class Station:
    """A connection under test, with what it wrote and how often it resumed reading."""

    def __init__(self, handler: Later, **options: Any) -> None:
        self.written: list[bytes] = []
        self.resumed = 0
        self.connection = AsyncConnection(
            handler, write=self.written.append, on_resume=self._resume, **options
        )

    def _resume(self) -> None:
        self.resumed += 1


async def turns(count: int = 3) -> None:
    """Let the loop run what asyncio futures scheduled (their callbacks come a turn later)."""
    for _ in range(count):
        await asyncio.sleep(0)


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(scenario())


def test_a_future_is_answered_when_it_completes_without_a_task(
    path: type[Later], kind: str
) -> None:
    async def scenario() -> None:
        handler = path(kind)
        station = Station(handler)
        connection = station.connection
        tasks = asyncio.all_tasks()
        assert connection.feed(authorize("a1")) is True
        assert connection.feed(data_transfer("d1")) is True
        assert asyncio.all_tasks() == tasks  # no task: the futures' callbacks answer
        assert (station.written, connection.handling) == ([], 2)
        # the frame is kept for frame_of while it waits, on either path, marked or not
        assert handler.frames == {"a1": authorize("a1"), "d1": data_transfer("d1")}
        assert connection.frame_of("d1") == data_transfer("d1")
        handler.futures["d1"].set_result(ACCEPTED_TRANSFER)
        handler.futures["a1"].set_result(ACCEPTED)
        await turns()
        assert sorted(station.written) == sorted(
            [transfer_answer("d1"), b'[3,"a1",' + ANSWER + b"]"]
        )
        assert (connection.handling, connection._free, connection.frame_of("d1")) == (0, 3, None)
        assert asyncio.all_tasks() == tasks

    run(scenario)


def test_what_the_future_raises_is_answered_as_its_callerror(path: type[Later], kind: str) -> None:
    async def scenario() -> None:
        handler = path(kind)
        station = Station(handler)
        for n in range(3):
            station.connection.feed(data_transfer(f"d{n}"))
        handler.futures["d0"].set_exception(errors.PropertyConstraintViolationError("no"))
        handler.futures["d1"].set_exception(ValueError("a bug"))
        handler.futures["d2"].set_result(ACCEPTED)  # not DataTransfer's response
        await turns()
        assert [frame[:32] for frame in station.written] == [
            b'[4,"d0","PropertyConstraintViola',
            b'[4,"d1","InternalError","the han',
            b'[4,"d2","InternalError","invalid',
        ]
        assert station.connection._free == 3

    run(scenario)


def test_answers_later_waits_for_a_slot_as_an_async_handler_does(
    path: type[Later], kind: str
) -> None:
    """Marked ``answers_later``: called only with a slot of the connection (``max_calls``)
    and one of the shared ``Slots``; beyond them the CALL waits in the backlog and reading
    pauses until the answer of one gives its slots back."""

    async def scenario() -> None:
        handler = path(kind)
        shared = Slots(5)
        station = Station(handler, max_calls=2, task_slots=shared)
        connection = station.connection
        fed = [connection.feed(data_transfer(f"d{n}")) for n in range(3)]
        assert fed == [True, True, False]
        assert (sorted(handler.futures), connection.waiting, shared.free) == (["d0", "d1"], 1, 3)
        handler.futures["d0"].set_result(ACCEPTED_TRANSFER)
        await turns()
        assert station.written == [transfer_answer("d0")]
        assert (sorted(handler.futures), connection.waiting, station.resumed) == (
            ["d0", "d1", "d2"],
            0,
            1,
        )
        handler.futures["d2"].set_result(ACCEPTED_TRANSFER)
        handler.futures["d1"].set_result(ACCEPTED_TRANSFER)
        await turns()
        assert station.written[1:] == [transfer_answer("d2"), transfer_answer("d1")]
        assert (connection._free, shared.free, connection.handling) == (2, 5, 0)

    run(scenario)


def test_a_shared_slot_is_waited_for_and_given_back(path: type[Later], kind: str) -> None:
    async def scenario() -> None:
        handler = path(kind)
        shared = Slots(1)
        first, second = Station(handler, task_slots=shared), Station(handler, task_slots=shared)
        assert first.connection.feed(data_transfer("d1")) is True
        assert second.connection.feed(data_transfer("d2")) is False  # the one slot is taken
        assert sorted(handler.futures) == ["d1"]
        handler.futures["d1"].set_result(ACCEPTED_TRANSFER)
        await turns()
        assert (sorted(handler.futures), second.resumed, shared.free) == (["d1", "d2"], 1, 0)
        handler.futures["d2"].set_result(ACCEPTED_TRANSFER)
        await turns()
        assert (first.written, second.written) == (
            [transfer_answer("d1")],
            [transfer_answer("d2")],
        )
        assert shared.free == 1

    run(scenario)


def test_an_unmarked_future_runs_at_once_and_a_marked_raise_gives_its_slots_back(
    path: type[Later], kind: str
) -> None:
    """A plain handler not marked ``answers_later`` is called at once, over the bound (it
    already started when its future is seen); a marked one that raises instead of handing
    back a future is answered at once and holds no slot."""

    async def scenario() -> None:
        handler = path(kind)
        shared = Slots(1)
        station = Station(handler, max_calls=1, task_slots=shared)
        connection = station.connection
        assert [connection.feed(authorize(f"a{n}")) for n in range(2)] == [True, True]
        assert (sorted(handler.futures), connection._free, shared.free) == (["a0", "a1"], -1, 1)
        for future in handler.futures.values():
            future.set_result(ACCEPTED)
        await turns()
        assert len(station.written) == 2
        assert connection._free == 1
        for n in range(2):
            assert connection.feed(data_transfer(f"r{n}", "raise")) is True
        assert [frame[:21] for frame in station.written[2:]] == [
            b'[4,"r0","SecurityErro',
            b'[4,"r1","SecurityErro',
        ]
        assert (connection._free, shared.free, connection.waiting) == (1, 1, 0)

    run(scenario)


def test_a_stopped_connection_answers_nothing_and_leaves_nothing(
    path: type[Later], kind: str
) -> None:
    """``stop()`` while futures wait: they are cancelled (as a task awaiting them would
    have been), nothing is written, the slots come back, and an asyncio future that failed
    just before (its callback not run yet) is not reported as never retrieved."""

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        reported: list[dict[str, Any]] = []
        loop.set_exception_handler(lambda _, context: reported.append(context))
        handler = path(kind)
        station = Station(handler)
        connection = station.connection
        connection.feed(data_transfer("d1"))
        connection.feed(data_transfer("d2"))
        connection.feed(data_transfer("d3"))
        failed = handler.futures["d3"]
        if kind == "future":  # a Deferred would be answered now: its callback is at once
            failed.set_exception(ValueError("gone"))
        connection.stop()
        await turns()
        cancelled = [handler.futures[n].cancelled() for n in ("d1", "d2", "d3")]
        assert cancelled == [True, True, kind == "deferred"]
        assert (station.written, connection.handling, connection._free) == ([], 0, 3)
        assert connection.feed(data_transfer("d4")) is True  # stopped: not dispatched
        assert sorted(handler.futures) == ["d1", "d2", "d3"]
        del failed
        handler.futures.clear()
        gc.collect()
        assert reported == []

    run(scenario)


def test_a_cancelled_future_gives_its_message_id_back(path: type[Later], kind: str) -> None:
    """A future the handler's own code cancels leaves its CALL unanswered (a simulated 1.6
    station whose boot was Rejected answers nothing so): its id was kept as still in hand for
    good, one more per such CALL until the connection closed, and a CALL sent again with it
    refused as a duplicate. Now the id is given back: the same id is handled again."""

    async def scenario() -> None:
        handler = path(kind)
        station = Station(handler)
        connection = station.connection
        for _ in range(2):
            assert connection.feed(data_transfer("d1")) is True
            handler.futures["d1"].cancel()
            await turns()
            assert station.written == []
            assert connection.protocol._handling == set()
        assert connection.feed(data_transfer("d1")) is True
        handler.futures["d1"].set_result(ACCEPTED_TRANSFER)
        await turns()
        assert station.written == [transfer_answer("d1")]

    run(scenario)


def test_drain_waits_for_the_futures(path: type[Later], kind: str) -> None:
    async def scenario() -> None:
        handler = path(kind)
        station = Station(handler)
        station.connection.feed(data_transfer("d1"))
        assert await station.connection.drain(0) is False
        drained = asyncio.ensure_future(station.connection.drain())
        await turns()
        assert not drained.done()
        handler.futures["d1"].set_result(ACCEPTED_TRANSFER)
        assert await drained is True
        assert station.written == [transfer_answer("d1")]

    run(scenario)


def test_a_sending_transport_gets_the_answer_too(path: type[Later], kind: str) -> None:
    """A transport that awaits its sends (``send=``, the websockets backend)."""

    async def scenario() -> None:
        handler = path(kind)
        sent: list[bytes] = []

        async def send(frame: bytes) -> None:
            sent.append(frame)

        connection = AsyncConnection(handler, send)
        await connection.receive(data_transfer("d1"))
        assert sent == []
        handler.futures["d1"].set_result(ACCEPTED_TRANSFER)
        await turns()
        assert sent == [transfer_answer("d1")]
        assert connection.handling == 0

    run(scenario)


def test_handle_async_awaits_a_deferred() -> None:
    """Outside a connection (``handle_async``), a Deferred is awaited as any awaitable."""

    async def scenario() -> None:
        handler = Later("deferred")
        answering = asyncio.ensure_future(handler.handle_async(authorize("a1")))
        await turns()
        handler.futures["a1"].set_result(ACCEPTED)
        assert await answering == b'[3,"a1",' + ANSWER + b"]"

    run(scenario)
