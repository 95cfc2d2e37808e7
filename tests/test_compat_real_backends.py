"""The drop-in against ``ocpp`` 2.1.0 on patterns of real backends the sweeps left open.

Each test runs the same backend on ``ocpp``'s class and on the drop-in's and compares what
each sends, logs, raises or returns; where they differ on purpose, the test says why.

- A generic ChargePoint with no ``_ocpp_version`` and routes of
  ``skip_schema_validation=True``: ``ocpp`` never reads the version there, the drop-in
  raised AttributeError on every frame and every ``call()``
  [a_generic_class_without_a_version_serves_unvalidated_routes].
- A response of an id no call waits for was logged at WARNING; ``ocpp`` logs it at ERROR
  on the backend's logger [an_unknown_id_is_logged_as_ocpp_logs_it].
- The drop-in's ``_response_queue`` held nothing for a backend reading it with no call
  waiting [a_queue_read_with_nobody_waiting_finds_the_unread_responses], and an answer that
  came before an override's ``get()`` went to the drop-in's own matching
  [an_answer_before_an_overrides_get_reaches_it].
- A cancel in the turn the answer came lost it, from a backend's own queue or the drop-in's
  [a_cancel_as_the_answer_comes_leaves_it_in_the_backends_queue,
  a_cancel_as_the_answer_comes_leaves_it_in_the_drop_ins_queue].
- ``call()`` from another event loop hung [a_call_from_another_loop_fails_at_once].
- A handler reading ``self._connection.recv()`` competes with ``start()``: kept (reading on
  is what answers a handler's ``call()``), now said in an ERROR line
  [a_handler_reading_the_connection_itself_fails_clearly].
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import ocpp.charge_point
import ocpp.exceptions
import pytest
import websockets.exceptions
from compat_pair import Sink, charge_point_classes, ocpp_validating_inline, parsed
from ocpp.routing import on
from ocpp.v201 import call, call_result

from ocpp_fast import compat


@pytest.fixture(autouse=True)
def _inline_validation() -> Iterator[None]:
    with ocpp_validating_inline():
        yield


async def _until(condition: Callable[[], bool]) -> None:
    """Let the loop run until ``condition`` holds (a test that would hang fails instead)."""
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the condition never held")


def _both(body: dict[str, Any]) -> list[type[Any]]:
    """The same backend class on ``ocpp``'s generic ChargePoint and on the drop-in's."""
    return [
        type("Theirs", (ocpp.charge_point.ChargePoint,), dict(body)),
        type("Ours", (compat.ChargePoint,), dict(body)),
    ]


def _unvalidated_backend() -> dict[str, Any]:
    def heartbeat(self: Any) -> Any:
        return call_result.Heartbeat(current_time="2026-12-04T15:00:00Z")

    def data_transfer(self: Any, **kwargs: Any) -> Any:
        raise ValueError("a bug of the backend")

    def authorize(self: Any, **kwargs: Any) -> Any:
        raise ocpp.exceptions.FormationViolationError(description="refused")

    heartbeat.__name__ = "on_heartbeat_unvalidated"
    data_transfer.__name__ = "on_data_transfer_unvalidated"
    authorize.__name__ = "on_authorize_unvalidated"
    # ocpp finds a route by its function's name (one global list): the attribute bears it
    return {
        heartbeat.__name__: on("Heartbeat", skip_schema_validation=True)(heartbeat),
        data_transfer.__name__: on("DataTransfer", skip_schema_validation=True)(data_transfer),
        authorize.__name__: on("Authorize", skip_schema_validation=True)(authorize),
    }


async def _serve_without_version(cls: type[Any]) -> tuple[list[str], list[Any], Any]:
    sink = Sink()
    backend = cls("CP", sink)
    backend._call_result = call_result
    outcomes = []
    for frame in (
        '[2,"1","Heartbeat",{}]',
        '[2,"2","DataTransfer",{"vendorId":"V"}]',
        '[2,"3","Authorize",{}]',
        '[2,"4","Reset",{"type":"Immediate"}]',  # no route: ocpp reads the version
    ):
        try:
            await backend.route_message(frame)
            outcomes.append("returned")
        except AttributeError as error:
            outcomes.append(f"AttributeError {error.name}")
    backend._unique_id_generator = lambda: "c1"
    calling = asyncio.ensure_future(backend.call(call.Heartbeat(), skip_schema_validation=True))
    await _until(lambda: len(sink.sent) == 4)
    await backend.route_message('[3,"c1",{"currentTime":"not checked"}]')
    result = await asyncio.wait_for(calling, 5)
    return outcomes, parsed(sink.sent), result


def test_a_generic_class_without_a_version_serves_unvalidated_routes() -> None:
    """``ocpp`` reads ``_ocpp_version`` only to validate or to refuse an action: its
    routes of ``skip_schema_validation=True`` and a ``call(skip_schema_validation=True)``
    work without it; an action with no route raises its AttributeError. The drop-in raised
    it on every frame; now it sends what ``ocpp`` sends, codes as raised."""
    theirs, ours = (
        asyncio.run(_serve_without_version(cls)) for cls in _both(_unvalidated_backend())
    )
    assert ours == theirs
    outcomes, sent, result = ours
    assert outcomes[:3] == ["returned"] * 3
    assert outcomes[3] == "AttributeError _ocpp_version"
    assert sent == [
        [3, "1", {"currentTime": "2026-12-04T15:00:00Z"}],
        [4, "2", "InternalError", "An unexpected error occurred.", {}],
        [4, "3", "FormationViolation", "refused", {}],
        [2, "c1", "Heartbeat", {}],
    ]
    assert result == call_result.Heartbeat(current_time="not checked")


def test_a_validated_call_without_a_version_still_raises_as_ocpp_does() -> None:
    """A ``call()`` to be validated needs the version, on both."""
    for cls in _both({}):
        backend = cls("CP", Sink())
        with pytest.raises(AttributeError, match="_ocpp_version"):
            asyncio.run(backend.call(call.Heartbeat()))


async def _unknown_then_call(cls: type[Any]) -> Any:
    sink = Sink()
    backend = cls("CP", sink)
    await backend.route_message('[3,"stale",{"currentTime":"2026-12-04T15:00:00Z"}]')
    backend._unique_id_generator = lambda: "c1"
    calling = asyncio.ensure_future(backend.call(call.Heartbeat()))
    await _until(lambda: bool(sink.sent))
    await backend.route_message('[3,"c1",{"currentTime":"2026-12-04T15:00:00Z"}]')
    return await asyncio.wait_for(calling, 5)


@pytest.mark.parametrize("side", ["theirs", "ours"])
def test_an_unknown_id_is_logged_as_ocpp_logs_it(
    side: str, caplog: pytest.LogCaptureFixture
) -> None:
    """``ocpp`` logs a response of an id no call waits for at ERROR on the backend's logger
    (``ocpp``), saying "unknown unique id" (when its next ``call()`` takes it off); the
    drop-in logged a WARNING of its own words (when it arrives): alerts on ``ocpp``'s line
    missed it."""
    theirs_class, ours_class = charge_point_classes("2.0.1", [])
    cls = theirs_class if side == "theirs" else ours_class
    with caplog.at_level(logging.DEBUG, logger="ocpp"):
        result = asyncio.run(_unknown_then_call(cls))
    assert result.current_time == "2026-12-04T15:00:00Z"
    lines = [r for r in caplog.records if "unknown unique id" in r.getMessage().lower()]
    assert [(r.name, r.levelname) for r in lines] == [("ocpp", "ERROR")]
    assert "stale" in lines[0].getMessage()


async def _queue_read_by_hand(cls: type[Any]) -> tuple[int, Any, int]:
    """A backend that looks into ``_response_queue`` with no call waiting (to flush stale
    answers before a call, or to count them)."""
    backend = cls("CP", Sink())
    await backend.route_message('[3,"stale-1",{"currentTime":"2026-12-04T15:00:00Z"}]')
    await backend.route_message('[4,"stale-2","InternalError","late",{}]')
    size = backend._response_queue.qsize()
    first = backend._response_queue.get_nowait()
    return size, (type(first).__name__, first.unique_id), backend._response_queue.qsize()


def test_a_queue_read_with_nobody_waiting_finds_the_unread_responses() -> None:
    """``ocpp`` keeps every response no call took in its queue; the drop-in's held nothing
    (``qsize()`` 0, ``get_nowait()`` raised QueueEmpty): a backend flushing stale answers
    found none. Now they are kept there, the last 16."""
    theirs_class, ours_class = charge_point_classes("2.0.1", [])
    theirs = asyncio.run(_queue_read_by_hand(theirs_class))
    assert theirs == (2, ("CallResult", "stale-1"), 1)
    assert asyncio.run(_queue_read_by_hand(ours_class)) == theirs


def _late_reader() -> dict[str, Any]:
    """An override of ``_get_specific_response`` that does something before it reads the
    queue (a metric, a lock), so the answer may be in the queue before its ``get()``."""

    async def _get_specific_response(self: Any, unique_id: str, timeout: float) -> Any:
        for _ in range(5):
            await asyncio.sleep(0)
        response = await asyncio.wait_for(self._response_queue.get(), timeout)
        assert response.unique_id == unique_id
        return response

    return {"_get_specific_response": _get_specific_response}


async def _heartbeat_answered(cls: type[Any]) -> tuple[Any, asyncio.Future[Any]]:
    """A 2.0.1 backend whose ``call()`` of a Heartbeat (id "c1") was just answered, the
    answer routed, its ``call()`` task not yet run since."""
    sink = Sink()
    backend = cls("CP", sink, response_timeout=2)
    backend._ocpp_version = "2.0.1"
    backend._call_result = call_result
    backend._unique_id_generator = lambda: "c1"
    calling = asyncio.ensure_future(backend.call(call.Heartbeat()))
    await _until(lambda: bool(sink.sent))
    await backend.route_message('[3,"c1",{"currentTime":"2026-12-04T15:00:00Z"}]')
    return backend, calling


async def _answered_before_get(cls: type[Any]) -> Any:
    _, calling = await _heartbeat_answered(cls)
    try:
        return await asyncio.wait_for(calling, 5)
    except TimeoutError:
        return "timed out"


def test_an_answer_before_an_overrides_get_reaches_it() -> None:
    """The answer arrives before the override awaits ``get()``: ``ocpp`` leaves it in the
    queue, the override finds it; the drop-in's own matching took it, and the call timed
    out. Now the drop-in hands a response to its own matching only once its own reader
    awaits it; until then it stays in the queue, where either reader finds it."""
    theirs, ours = (asyncio.run(_answered_before_get(cls)) for cls in _both(_late_reader()))
    assert theirs == call_result.Heartbeat(current_time="2026-12-04T15:00:00Z")
    assert ours == theirs


def _own_queue() -> dict[str, Any]:
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        super(type(self), self).__init__(*args, **kwargs)
        self._response_queue = asyncio.Queue()  # a backend's own, as some set it

    return {"__init__": __init__}


async def _cancelled_as_answered(cls: type[Any]) -> tuple[str, list[str]]:
    backend, calling = await _heartbeat_answered(cls)
    calling.cancel()  # in the same turn: the answer is in the queue, its reader not yet run
    try:
        outcome = f"returned {await calling}"
    except asyncio.CancelledError:
        outcome = "cancelled"
    queue = backend._response_queue
    return outcome, [queue.get_nowait().unique_id for _ in range(queue.qsize())]


def test_a_cancel_as_the_answer_comes_leaves_it_in_the_backends_queue() -> None:
    """A backend's own queue, its ``call()`` cancelled in the turn the answer came. ``ocpp``
    on Python 3.11 returns the answer (``wait_for`` drops the cancel: the task goes on); the
    drop-in raises ``CancelledError`` (a cancelled task stops, on every Python) but took the
    answer off the queue and lost it. Now it puts it back, where ``ocpp``'s ``get()`` on
    3.12 leaves it, for the next ``call()`` (which drops it, logged) or the backend's reader."""
    theirs, ours = (asyncio.run(_cancelled_as_answered(cls)) for cls in _both(_own_queue()))
    if sys.version_info < (3, 12):  # on 3.12, ocpp's get() leaves it in the queue
        assert theirs == (
            "returned Heartbeat(current_time='2026-12-04T15:00:00Z', custom_data=None)",
            [],
        )
    assert ours == ("cancelled", ["c1"])


def test_a_call_from_another_loop_fails_at_once() -> None:
    """``start()`` reads in one loop (a thread's), ``call()`` is awaited in another: its
    answer can never reach it, and it hung until its timeout (``ocpp``'s too). Now it raises
    RuntimeError saying so, nothing sent."""
    sink = Sink()
    backend = compat.ChargePoint("CP", sink, response_timeout=30)
    backend._ocpp_version = "2.0.1"
    ready = threading.Event()
    loop = asyncio.new_event_loop()
    stopping = loop.create_future()

    async def serve() -> None:
        reading = asyncio.ensure_future(backend.start())
        await _until(lambda: backend._fast_run is not None)
        ready.set()
        await stopping
        reading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reading

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    try:
        assert ready.wait(5)
        with pytest.raises(RuntimeError, match="another event loop"):
            asyncio.run(asyncio.wait_for(backend.call(call.Heartbeat()), 2))
        assert sink.sent == []
    finally:
        loop.call_soon_threadsafe(stopping.set_result, None)
        thread.join(5)
        loop.close()


class _Socket(Sink):
    """A connection that refuses a second concurrent ``recv()``, as ``websockets`` does."""

    def __init__(self, frames: list[str]) -> None:
        super().__init__()
        for frame in frames:
            self.inbox.put_nowait(frame)
        self.reading = False

    async def recv(self) -> str:
        if self.reading:
            raise websockets.exceptions.ConcurrencyError(
                "cannot call recv while another coroutine is already running recv"
            )
        self.reading = True
        try:
            return await self.inbox.get()
        finally:
            self.reading = False


def _raw_reader(looks_up_first: bool) -> dict[str, Any]:
    """A handler that reads the frame after its CALL itself, as some backends do; at once,
    or (``looks_up_first``) after awaiting something else first (a store's lookup)."""

    async def on_data_transfer_raw(self: Any, **kwargs: Any) -> Any:
        for _ in range(3 if looks_up_first else 0):
            await asyncio.sleep(0)  # the lookup's awaits
        self.read_raw.append(await self._connection.recv())
        return call_result.DataTransfer(status="Accepted")

    return {"on_data_transfer_raw": on("DataTransfer")(on_data_transfer_raw)}


async def _handler_reads(cls: type[Any]) -> tuple[list[str], list[Any]]:
    socket = _Socket(['[2,"1","DataTransfer",{"vendorId":"V"}]', "a raw frame"])
    backend = cls("CP", socket)
    backend._ocpp_version = "2.0.1"
    backend.read_raw = []
    reading = asyncio.ensure_future(backend.start())
    await _until(lambda: any('"1"' in frame for frame in socket.sent))
    reading.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await reading
    return backend.read_raw, [frame[:3] for frame in parsed(socket.sent)]


def test_a_handler_reading_the_connection_itself_fails_clearly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """``ocpp``'s ``start()`` reads nothing while a handler runs, so a handler's own
    ``self._connection.recv()`` gets the next frame. The drop-in's reads on (so a handler's
    ``call()`` is answered): the two reads compete. ``websockets`` refuses the second; the
    CALL was answered InternalError among the usual handler failure, the frame going to
    ``start()``. Now an ERROR line says what happened and what to do instead; see the
    differences guide (behaving as ``ocpp`` would stop reading for every handler's time).
    A handler that reads at once gets the frame, as with ``ocpp``: see the next test."""
    theirs, ours = (asyncio.run(_handler_reads(cls)) for cls in _both(_raw_reader(True)))
    assert theirs == (["a raw frame"], [[3, "1", {"status": "Accepted"}]])
    # start() took the frame meant for the handler: malformed, answered to "-1"
    assert ours == ([], [[4, "-1", "RpcFrameworkError"], [4, "1", "InternalError"]])
    (line,) = [r for r in caplog.records if "self._connection.recv()" in r.getMessage()]
    assert (line.name, line.levelname) == ("ocpp", "ERROR")
    assert "DataTransfer handler" in line.getMessage()


def test_a_handler_reading_the_connection_at_once_gets_the_next_frame() -> None:
    """A handler whose first await is ``self._connection.recv()`` (no other CALL being
    handled) gets the frame after its CALL, as with ``ocpp``: the drop-in's ``start()`` lets
    a CALL's handler begin before it reads again. It read first, so the handler's read was
    refused and the CALL answered InternalError (the test above, which still holds for a
    handler that awaits something else first)."""
    theirs, ours = (asyncio.run(_handler_reads(cls)) for cls in _both(_raw_reader(False)))
    assert theirs == (["a raw frame"], [[3, "1", {"status": "Accepted"}]])
    assert ours == theirs


def test_a_cancel_as_the_answer_comes_leaves_it_in_the_drop_ins_queue() -> None:
    """The same with the drop-in's own queue: the answer, of no call now, was dropped
    unseen; now it is left in the queue (and logged), as a backend's own queue keeps it."""
    _, ours_class = charge_point_classes("2.0.1", [])
    assert asyncio.run(_cancelled_as_answered(ours_class)) == ("cancelled", ["c1"])
