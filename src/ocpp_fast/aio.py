"""The asyncio layer over the sans-I/O protocol: ``await connection.call(request)``.

:class:`AsyncConnection` owns the clock and the tasks; the transport owns the
socket. A transport either awaits :meth:`AsyncConnection.receive` for each
received frame and gives a coroutine function that sends one (``send=``), or,
where the WebSocket library calls back synchronously (picows), calls
:meth:`AsyncConnection.feed` and gives a plain function that writes one frame
without blocking (``write=``). Either way a frame crosses each floor once:
transport -> this module -> the sans-I/O protocol (and the codec) -> back out.

Handlers: a plain (``def``) handler is answered on the spot, inside ``feed``,
with no task; an ``async def`` one runs as a task of its own, so reading never
waits for it: it may ``await context.connection.call(...)`` to the peer and the
answer still gets through (the ``ocpp`` package deadlocks there until its
timeout). A plain handler may also hand back an ``asyncio.Future`` (or a
:class:`~ocpp_fast._deferred.Deferred`) of its response: the CALL is answered from
the future's completion callback, still without a task (the cluster's gateway
answers a durable CALL so once the stream has stored it).

The peer's CALLs are bounded: OCPP-J allows one outstanding CALL per direction,
so at most ``max_calls`` async handlers (the spec's one plus a small allowance)
run per connection and, with shared ``task_slots``, at most that many across
connections. Beyond the bound the CALL waits in a backlog and ``feed`` returns
``False``: the transport stops reading (TCP flow control pushes back on the
peer) until the backlog is gone, instead of queueing tasks without bound.
Results and errors of our own CALLs are dispatched at once, so a handler
awaiting the peer's answer is never starved by a well-behaved peer.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import math
import typing
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from functools import partial
from time import perf_counter
from typing import Any, Literal, cast

from ocpp_fast._awaited import within
from ocpp_fast._deferred import Deferred
from ocpp_fast._fastpath import HandlerRan, install_compiled
from ocpp_fast._model import OcppStruct, Request, ResponseT, SendRequest
from ocpp_fast._protocol_version import ProtocolVersion
from ocpp_fast.dispatch import OcppHandler, Route, as_ocpp_error, is_awaitable, send_failed
from ocpp_fast.frames import Call
from ocpp_fast.frames import Send as SendFrame
from ocpp_fast.protocol import (
    CallFailed,
    CallReceived,
    CallSucceeded,
    Event,
    Protocol,
    SendReceived,
)
from ocpp_fast.tolerance import Tolerance

__all__ = [
    "CALLS_IN_FLIGHT",
    "DEFAULT_TIMEOUT",
    "AsyncConnection",
    "InMemoryPair",
    "MemoryWire",
    "Registration",
    "Send",
    "Slots",
    "Write",
    "connect_in_memory",
]

log: logging.Logger = logging.getLogger("ocpp_fast")

Registration = Literal["Accepted", "Pending", "Rejected"]
"""How a CSMS answered a station's boot (:attr:`AsyncConnection.registration`): the three
``status`` values of a BootNotificationResponse, the same in every version, so a misspelled
one (``"accepted"``) is a type error rather than a test that is never true."""

DEFAULT_TIMEOUT = 30.0
"""Seconds to wait for the answer to a CALL, the usual OCPP choice."""
CALLS_IN_FLIGHT = 3
"""Async handlers run at once per connection: the spec's one outstanding CALL, plus two of
allowance for stations that overlap a CALL with the previous one's answer in flight."""
NAMED_UNANSWERED = 5
"""CALLs received while a connection closes that it keeps named (the rest only counted: a
station that keeps sending during a stop cannot grow the list)."""

_NOT_STARTED: Any = object()
"""The handler of a CALL has not been called yet (see ``AsyncConnection._answer``)."""
_TO_COME = (Deferred, asyncio.Future)
"""What a plain handler may hand back to be answered from its completion callback."""

Send = Callable[[bytes], Awaitable[None]]
"""Sends one frame (a coroutine function: the ``websockets`` backend)."""
Write = Callable[[bytes], None]
"""Writes one frame without blocking (the transport buffers it: the ``picows`` backend)."""


class GatedCall(typing.Protocol):
    """A cluster's gated CALL as a connection holds it while the stream's ack is awaited
    (``Gated`` of ``_dispatch_c`` and of ``_dispatch_py``): what :meth:`AsyncConnection.running`
    names it by, and what ``stop`` does to it."""

    @property
    def action(self) -> str: ...

    @property
    def message_id(self) -> str: ...

    def cancel(self) -> bool: ...


class Slots:
    """Handler slots shared by many connections: a count, and who waits for one.

    Synchronous on purpose: :meth:`AsyncConnection.feed` runs inside a
    transport callback and must decide at once whether a CALL can start.

    Its count and waiters are ``__slots__``: the compiled path takes and gives back a gated
    CALL's slot by reading and writing them at their offsets (a look-up of the instance's
    attributes each time was about 500 instructions a durable CALL at a gateway's
    saturation); anything else may still set attributes of its own.
    """

    __slots__ = ("__dict__", "__weakref__", "_waiting", "free")

    def __init__(self, count: int) -> None:
        if count < 1:
            raise ValueError("at least one handler slot")
        self.free: int = count
        self._waiting: deque[Callable[[], None]] = deque()

    def take(self) -> bool:
        """Take a slot if one is free."""
        if self.free > 0:
            self.free -= 1
            return True
        return False

    def give(self) -> None:
        """Return a slot; the longest-waiting connection gets its chance at it."""
        self.free += 1
        while self.free > 0 and self._waiting:
            self._waiting.popleft()()

    def wait(self, wake: Callable[[], None]) -> None:
        """Call ``wake`` once a slot is given back."""
        self._waiting.append(wake)


class AsyncConnection:
    """One OCPP-J connection driven by asyncio, for a ``Charger`` or ``ChargeSystem``."""

    __slots__ = (
        "__dict__",
        "__weakref__",
        "_backlog",
        "_closing",
        "_drained",
        "_fast",
        "_free",
        "_paused",
        "_pending",
        "_protocol",
        "_slots",
        "_stopped",
        "_write",
        "identity",
    )
    """The state the compiled path reads on each message (``feed``'s: its backlog, closing,
    dispatcher, identity, protocol and write) and that a cluster's gated CALL reads and
    writes from C on each durable CALL (its slots taken and given back, its pending entry):
    slots, so that the compiled path reads them at their offset (``_dispatch_c``'s
    ``_Layout``) rather than by a look-up of the instance's attributes each time (a look-up
    goes through CPython's type cache, where two hot names may collide and miss on every
    message); every other attribute is in ``__dict__``."""

    def __init__(
        self,
        handler: OcppHandler,
        send: Send | None = None,
        *,
        write: Write | None = None,
        identity: str = "",
        max_calls: int = CALLS_IN_FLIGHT,
        task_slots: Slots | None = None,
        on_resume: Callable[[], None] | None = None,
        remote_address: tuple[str, int] | None = None,
    ) -> None:
        if max_calls < 1:
            raise ValueError("max_calls must be at least 1 (the spec's one outstanding CALL)")
        if (send is None) == (write is None):
            raise ValueError("give either send (a coroutine function) or write (a function)")
        self.handler = handler
        self.identity: str = identity
        """The station's identity (the last segment of its URL path)."""
        self.remote_address = remote_address
        """The peer's ``(host, port)``, where the transport knows it."""
        self.connected_since: datetime.datetime = datetime.datetime.now(datetime.UTC)
        """When the connection was opened (UTC)."""
        self._send = send
        self._write = write
        self._protocol: Protocol = handler.protocol(identity)
        self._frames: dict[str, bytes | str] | None = {} if handler.keeps_frames else None
        """The frame of each CALL whose handler has not answered yet, kept when the handler's
        class asks (:attr:`~ocpp_fast.dispatch.OcppHandler.keeps_frames`); the compiled path
        keeps a plain handler's there too while it runs."""
        self._fast = handler.fast_dispatch(self, self._protocol, self._frames)
        self._waiters: dict[str, asyncio.Future[Any]] = {}
        self._tasks: dict[asyncio.Task[None], Call | None] = {}
        """The connection's tasks: each ``async def`` handler's with the CALL it answers (what
        :meth:`running` names), and the writes :meth:`_later` left running (``None``)."""
        self._handed: dict[str, tuple[Deferred[Any] | asyncio.Future[Any], str]] = {}
        """message id -> (the future a plain handler handed back for it, its action): what
        :meth:`running` names of ``_pending``."""
        self.cancelled: list[tuple[str, str]] = []
        """``(action, message id)`` of the handlers :meth:`stop` cancelled, for the line that
        says the station is gone."""
        self._pending: dict[Deferred[Any] | asyncio.Future[Any] | GatedCall, int] = {}
        """The futures plain handlers handed back, not completed yet (and how many CALLs each
        answers: one, unless a handler hands back the same future twice)."""
        self._drained: asyncio.Future[None] | None = None
        """Set when the last of ``_pending`` completed, while :meth:`drain` waits for it."""
        self._loop: asyncio.AbstractEventLoop | None = None
        """The loop this connection's tasks run on, found at its first task (see :meth:`_task`)."""
        self._send_lock = asyncio.Lock()
        self._free = max_calls
        self._slots = task_slots
        self._waiting_for_slot = False
        self._backlog: deque[CallReceived | SendReceived] = deque()
        self._paused = False
        self._on_resume = on_resume
        self._resumed: asyncio.Event | None = None
        self._stopped = False
        self._closing = False
        """No received CALL is dispatched any more (:meth:`finish`, or :meth:`stop`): the
        compiled path is left for ``_received``, which counts them instead."""
        self.unanswered: list[tuple[str, str]] = []
        """``(action, message id)`` of the first CALLs (and SENDs) received once
        :meth:`finish` or :meth:`stop` was called, left unanswered: for the line that says the
        station is gone (at most ``NAMED_UNANSWERED`` kept; :attr:`unanswered_count` counts
        all)."""
        self.unanswered_count: int = 0
        self.on_answer: list[Callable[[str, OcppStruct], None]] = []
        """Told ``(action, response)`` of each of our CALLs the peer answered validly, before
        its caller (a station's client reads the heartbeat interval of a BootNotification)."""
        self.registration: Registration | None = None
        """A station's connection: the ``status`` of the last BootNotificationResponse the CSMS
        gave on it (``"Accepted"``, ``"Pending"``, ``"Rejected"``), whoever sent the boot;
        ``None`` before one. A handler reads it to refuse what a station not accepted cannot
        do (a remote start). The station's side only: on the CSMS's side of a connection it
        stays ``None`` (the CSMS answers boots, it sends none), so a ``ChargeSystem`` that
        waits for a station's boot before calling it keeps what it answered itself."""

    @property
    def version(self) -> ProtocolVersion:
        """The negotiated OCPP version (``str()`` of it is the label: ``2.0.1``)."""
        return self.handler.version

    @property
    def protocol(self) -> Protocol:
        """The sans-I/O protocol underneath."""
        return self._protocol

    def set_tolerance(self, policy: Tolerance) -> None:
        """Accept and repair the deviations of ``policy`` from this station from now on
        (e.g. chosen by vendor and model in the BootNotification handler)."""
        self._protocol.tolerance = policy

    # --- frames in ----------------------------------------------------------------------------

    def feed(self, data: bytes | str) -> bool:
        """Process one received frame now; ``False``: stop reading until ``on_resume``.

        Plain handlers are answered before this returns (with ``write=``, the
        answer is written too); async ones start as tasks within the bounds.
        A valid CALL takes the compiled path (:mod:`ocpp_fast._fastpath`) unless
        CALLs wait in the backlog: a plain handler's is answered there, an async
        one's is decoded there and goes on to :meth:`_take_call`.
        """
        if self._backlog or self._closing:
            return self._feed_protocol(data)
        answered = self._fast.answer(data, self.identity)
        write = self._write
        if type(answered) is bytes and write is not None and not self._protocol._outbox:
            write(answered)  # the outbox is empty unless a frame was queued unflushed
            return True
        if answered is True and not self._protocol._outbox:  # gated, or a SEND: nothing to write
            return True
        return self._feed_answered(data, answered)

    def _feed_answered(self, data: bytes | str, answered: Any) -> bool:
        """The rest of :meth:`feed` after the compiled path, where it did not end with a
        reply written at once (shared by the compiled ``feed`` of ``_dispatch_c``)."""
        if isinstance(answered, bytes):
            self._protocol._outbox.append(answered)
            if self._write is not None:
                self._write_out()
            return True
        if answered is True:  # a gated CALL started (the path answers it later), a SEND taken
            return self._fed()
        if type(answered) is CallReceived or type(answered) is SendReceived:
            self._received(answered, data)  # an async handler's CALL (in hand) or SEND, decoded
            return self._fed()
        if answered:  # the handler ran (None, False: nothing was done)
            self._handler_ran(answered)
            if self._write is not None:
                self._write_out()
            return True  # nothing was added to the backlog, empty above
        return self._feed_protocol(data)

    def _feed_protocol(self, data: bytes | str) -> bool:
        """:meth:`feed` through the sans-I/O protocol (all but the compiled path's frames)."""
        for event in self._protocol.receive(data):
            if type(event) is CallReceived or type(event) is SendReceived:
                self._received(event, data)
            else:
                self._settle(event)
        return self._fed()

    def _received(self, event: CallReceived | SendReceived, data: bytes | str) -> None:
        """A CALL (or SEND) of the peer, from the protocol or the compiled path: its frame kept
        where the handler's class asks, then started, answered or put in the backlog; once
        the connection is closing, counted and left unanswered (:meth:`finish`)."""
        if not self._closing:
            if self._frames is not None and type(event) is CallReceived:
                self._frames[event.call.message_id] = data
            self._take_call(event)
            return
        self.unanswered_count += 1
        if len(self.unanswered) < NAMED_UNANSWERED:
            request = _request_of(event)
            self.unanswered.append((request.action, request.message_id))

    def _fed(self) -> bool:
        """The end of :meth:`feed`: what was answered written; ``False`` (reading pauses)
        while CALLs wait in the backlog."""
        if self._write is not None and self._protocol._outbox:  # empty: its handler answers later
            self._write_out()
        if self._backlog:
            self._paused = True
            return False
        return True

    async def receive(self, data: bytes | str) -> None:
        """:meth:`feed` for a transport that awaits: returns once reading may go on."""
        self.feed(data)
        if self._send is not None:
            await self._flush()
        while self._backlog and not self._stopped:
            if self._resumed is None:
                self._resumed = asyncio.Event()
            self._resumed.clear()
            await self._resumed.wait()

    def frame_of(self, message_id: str) -> bytes | str | None:
        """The frame of the peer's CALL ``message_id`` as it arrived, while its handler runs
        (until the future a handler handed back completes); ``None`` unless the handler's
        class keeps frames (:attr:`~ocpp_fast.dispatch.OcppHandler.keeps_frames`). The
        cluster's gateway stores and forwards the station's own bytes with it instead of
        encoding the request again."""
        return None if self._frames is None else self._frames.get(message_id)

    def _take_call(self, event: CallReceived | SendReceived) -> None:
        if self._backlog:  # in order behind the CALLs already waiting
            self._backlog.append(event)
            return
        request = _request_of(event)
        route = self.handler.handler_route(request.action)
        if route is None or not (route.is_async or route.answers_later):
            self._answer_now(event, request, route)
        elif self._take_slot():
            self._start(event, request, route)
        else:
            self._backlog.append(event)

    def _start(self, event: CallReceived | SendReceived, request: Call, route: Route) -> None:
        """A CALL whose handler runs within the bounds, its slots taken: an ``async def``
        handler in a task of its own; one that answers later (``answers_later``) called now,
        its slots held by the future it hands back until that completes."""
        if route.answers_later:
            self._answer_now(event, request, route, slot_taken=True)
        else:
            self._spawn(self._answer(event, route), request)

    def _settle(self, event: Event) -> None:
        """A result or error of one of our CALLs: to the ``call()`` awaiting it.

        (A ResultRejected is only logged, by the protocol: nobody awaits a result we sent.)
        """
        if isinstance(event, CallSucceeded | CallFailed):
            if isinstance(event, CallSucceeded):
                if event.action == "BootNotification":
                    # one of the three versions' BootNotificationResponse, checked against its
                    # schema (read through Any: no isinstance of three classes on each boot)
                    boot: Any = event.response
                    self.registration = cast(Registration, str(boot.status))
                for watcher in self.on_answer:
                    watcher(event.action, event.response)
            waiter = self._waiters.get(event.message_id)
            if waiter is None or waiter.done():
                return
            if isinstance(event, CallSucceeded):
                waiter.set_result(event.response)
            else:
                waiter.set_exception(event.error)

    # --- running handlers -----------------------------------------------------------------------

    def _answer_now(
        self,
        event: CallReceived | SendReceived,
        request: Call,
        route: Route | None,
        slot_taken: bool = False,
    ) -> None:
        """A plain handler, run inside the transport's callback: no task, no slot (unless it
        answers later: ``slot_taken``, see :meth:`_start`)."""
        started = perf_counter() if self._protocol.metrics is not None else 0.0
        error: Exception | None = None
        try:
            result = self.handler.invoke_handler(route, request, self.identity, self)
        except Exception as exc:
            result, error = None, exc
        self._after_handler(event, request, route, result, error, started, slot_taken)

    def _handler_ran(self, ran: HandlerRan) -> None:
        """A CALL (or SEND) whose plain handler ran on the compiled path, which left the rest
        here."""
        call = ran.call
        route = self.handler.handler_route(call.action)
        event = SendReceived(call) if type(call) is SendFrame else CallReceived(call)
        self._after_handler(event, call, route, ran.result, ran.error, ran.started)

    def _after_handler(
        self,
        event: CallReceived | SendReceived,
        request: Call,
        route: Route | None,
        result: Any,
        error: Exception | None,
        started: float,
        slot_taken: bool = False,
    ) -> None:
        """Answer what a plain handler returned or raised (``started``: see :meth:`_timed`).

        A future it handed back (``asyncio.Future`` or :class:`Deferred`) is answered from
        its completion callback (:meth:`_settled`), another awaitable in a task. Either
        holds the slots taken for it (``slot_taken``: the handler answers later, see
        :meth:`_start`), else a slot of the connection's own, over the bound if need be: the
        handler already started."""
        if error is None and isinstance(result, _TO_COME):
            if not slot_taken:
                self._free -= 1
            pending = self._pending
            pending[result] = pending.get(result, 0) + 1
            self._handed[request.message_id] = (result, request.action)
            result.add_done_callback(partial(self._settled, event, request, started, slot_taken))
            return
        if error is None and is_awaitable(result):
            if not slot_taken:
                self._free -= 1
            self._spawn(
                self._answer(event, route, result, started), request, shared_slot=slot_taken
            )
            return
        self._conclude(event, request, result, error, started)
        if slot_taken:  # answered at once after all: its slots back (the backlog goes on)
            if self._slots is not None:
                self._slots.give()
            self._free += 1

    def _settled(
        self,
        event: CallReceived | SendReceived,
        request: Call,
        started: float,
        shared_slot: bool,
        answer: Deferred[Any] | asyncio.Future[Any],
    ) -> None:
        """The future a plain handler handed back completed: the CALL answered and written, as
        :meth:`_answer` would have in a task, its slots given back as :meth:`_finished` (or
        :meth:`_finished_own`) would. Cancelled (by :meth:`stop`, or by whoever made it),
        nothing is answered, as a task's ``await`` of it would have been cancelled; after
        :meth:`stop`, nothing is."""
        pending = self._pending
        left = pending.pop(answer) - 1
        self._handed.pop(request.message_id, None)
        if left:
            pending[answer] = left
        elif not pending and self._drained is not None and not self._drained.done():
            self._drained.set_result(None)
        if shared_slot and self._slots is not None:
            self._slots.give()
        self._free += 1
        result: Any = None
        error: Exception | None = None
        cancelled = False
        try:
            result = answer.result()  # what it raises is retrieved: asyncio never reports it
        except asyncio.CancelledError:
            cancelled = True
        except Exception as exc:
            error = exc
        if cancelled or self._stopped:
            if self._frames:
                self._frames.pop(request.message_id, None)
            # never answered: its id is no longer in hand (a station that answers nothing
            # while Rejected would keep one per CALL until it closes)
            self.protocol._handling.discard(request.message_id)
        else:
            self._conclude(event, request, result, error, started)
            if self._write is None:
                self._later(self._flush())
            else:
                try:
                    self._write_out()
                except Exception as exc:  # the transport failing under it, as in _finished_own
                    self._protocol.log.debug("could not send a reply: %r", exc)
        if self._paused:
            self._work_backlog()

    async def _answer(
        self,
        event: CallReceived | SendReceived,
        route: Route | None,
        result: Any = _NOT_STARTED,
        started: float = 0.0,
    ) -> None:
        """An async handler, in its task: started here, or (a plain method that handed back
        an awaitable) already started by :meth:`_answer_now` at ``started``."""
        request = _request_of(event)
        if result is _NOT_STARTED and self._protocol.metrics is not None:
            started = perf_counter()
        error: Exception | None = None
        try:
            if result is _NOT_STARTED:
                result = self.handler.invoke_handler(route, request, self.identity, self)
            if is_awaitable(result):
                result = await result
        except Exception as exc:
            error = exc
        self._conclude(event, request, result, error, started)
        await self._flush()

    def _conclude(
        self,
        event: CallReceived | SendReceived,
        request: Call,
        result: Any,
        error: Exception | None,
        started: float,
    ) -> None:
        """The end of a handler, however it ran (on the spot, in a task, from a future's
        callback): its answer or error queued, its kept frame let go, its time reported."""
        if error is not None:
            self._fail(event, error)
        elif type(event) is CallReceived:
            self._protocol.respond(request.message_id, request.action, result)
        if self._frames:
            self._frames.pop(request.message_id, None)
        if started:  # metrics are kept
            self._timed(request.action, started)

    def _timed(self, action: str, started: float) -> None:
        """Report a handler's time (called only where metrics are kept: ``started`` is set)."""
        metrics = self._protocol.metrics
        if metrics is not None:
            metrics.handled(action, perf_counter() - started)

    def _fail(self, event: CallReceived | SendReceived, exc: Exception) -> None:
        protocol = self._protocol
        if isinstance(event, CallReceived):
            error = as_ocpp_error(event.call, exc, protocol.identity)
            protocol.respond_error(event.call.message_id, error, event.call.action)
        else:
            send_failed(event.send, exc, protocol.identity)

    def _take_slot(self) -> bool:
        if self._free == 0:
            return False
        if self._slots is not None and not self._slots.take():
            if not self._waiting_for_slot:
                self._waiting_for_slot = True
                self._slots.wait(self._slot_given)
            return False
        self._free -= 1
        return True

    def _slot_given(self) -> None:
        self._waiting_for_slot = False
        self._work_backlog()

    def _spawn(
        self, work: Coroutine[Any, Any, None], request: Call, *, shared_slot: bool = True
    ) -> None:
        """Run the handler of ``request`` (holding the slots taken for it) as a task of its
        own."""
        task = self._task(work)
        self._tasks[task] = request
        task.add_done_callback(self._finished if shared_slot else self._finished_own)

    def _finished(self, task: asyncio.Task[None]) -> None:
        if self._slots is not None:
            self._slots.give()
        self._finished_own(task)

    def _finished_own(self, task: asyncio.Task[None]) -> None:
        self._forget(task)
        self._free += 1
        # Handlers' own exceptions became CALLERRORs; what is left is the transport
        # failing under the reply (a peer that reset): retrieved here, so asyncio
        # never reports "Task exception was never retrieved".
        if not task.cancelled() and (error := task.exception()) is not None:
            self._protocol.log.debug("could not send a reply: %r", error)
        self._work_backlog()

    def _work_backlog(self) -> None:
        """Start the CALLs that waited for a slot, in order; resume reading once none waits."""
        if self._stopped or not self._paused:
            return
        answered = False
        while self._backlog:
            event = self._backlog[0]
            request = _request_of(event)
            route = self.handler.handler_route(request.action)
            if route is not None and (route.is_async or route.answers_later):
                if not self._take_slot():
                    break
                self._backlog.popleft()
                self._start(event, request, route)
                answered = answered or route.answers_later  # it may have answered at once
            else:
                self._backlog.popleft()
                self._answer_now(event, request, route)
                answered = True
        if answered:
            if self._write is not None:
                self._write_out()
            else:
                self._later(self._flush())
        if self._backlog:
            return
        self._paused = False
        if self._on_resume is not None:
            self._on_resume()
        if self._resumed is not None:
            self._resumed.set()

    # --- frames out ---------------------------------------------------------------------------

    def _write_out(self) -> None:
        write = self._write
        assert write is not None
        for frame in self._protocol.data_to_send():
            write(frame)

    async def _flush(self) -> None:
        """Write what the protocol queued, in order, one writer at a time."""
        if self._write is not None:
            self._write_out()
            return
        assert self._send is not None
        async with self._send_lock:
            for frame in self._protocol.data_to_send():
                await self._send(frame)

    def _task(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """``work`` as a task on the connection's loop.

        ``asyncio.ensure_future`` finds the running loop on every call, and on Python 3.11
        that asks the kernel for the process id each time (a ``getpid`` system call: asyncio
        checks it was not forked); with the loop kept, an async handler's task costs
        0.7 µs less (2.6 against 3.3 µs here)."""
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        return loop.create_task(work)

    def _later(self, work: Coroutine[Any, Any, None]) -> None:
        task = self._task(work)
        self._tasks[task] = None
        task.add_done_callback(self._forget)
        task.add_done_callback(_retrieve)

    def _forget(self, task: asyncio.Task[None]) -> None:
        self._tasks.pop(task, None)

    # --- our CALLs ------------------------------------------------------------------------------

    async def call(
        self, request: Request[ResponseT], timeout: float = DEFAULT_TIMEOUT
    ) -> ResponseT:
        """Send ``request`` as a CALL and return the peer's typed response.

        Typed: the result is the response Struct of the request's action
        (``ResetRequest`` -> ``ResetResponse``) to mypy and pyright.

        Waits its turn behind earlier CALLs (one outstanding at a time); the
        ``timeout`` covers the wait and the answer. Raises the peer's error as
        the :class:`~ocpp_fast.errors.OcppError` class of its code, the error
        of an invalid response, or ``TimeoutError``.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        message_id = self._protocol.call(request)
        response: ResponseT = await self._call_answer(
            loop, message_id, deadline, timeout, type(request).__name__
        )
        return response

    async def call_checked(
        self, action: str, payload: bytes, version: str, timeout: float = DEFAULT_TIMEOUT
    ) -> Any:
        """Send ``action`` with the JSON ``payload`` checked already against OCPP
        ``version``'s schema (a label) as a CALL; return the peer's typed response.

        How the transaction queue sends what it checked and encoded at ``put()``
        (:meth:`~ocpp_fast.transport.txqueue.QueuedMessage.send`): the frame is the one
        :meth:`call` writes for the request of that payload, byte for byte, and all else is
        :meth:`call`'s (its turn, the timeout, the response's check, the errors raised);
        only the request's check, encoding and decoding are not done again.
        ``ValueError`` when the connection speaks another version
        (:meth:`~ocpp_fast.protocol.Protocol.call_checked`).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        message_id = self._protocol.call_checked(action, payload, version)
        return await self._call_answer(loop, message_id, deadline, timeout, f"{action}Request")

    async def _call_answer(
        self,
        loop: asyncio.AbstractEventLoop,
        message_id: str,
        deadline: float,
        timeout: float,
        name: str,
    ) -> Any:
        """The answer to our CALL ``message_id`` (of the request class ``name``), queued on the
        protocol: written out, awaited within ``timeout``, timed out or cancelled as
        :meth:`call` says."""
        waiter: asyncio.Future[Any] = loop.create_future()
        self._waiters[message_id] = waiter
        try:  # the flush too: cancelled there, the waiter must not be left behind
            await self._flush()
            return await within(asyncio.shield(waiter), timeout)
        except TimeoutError:
            self._said_timed_out(self._protocol.time_out(message_id), message_id)
            await self._flush()
            raise TimeoutError(
                f"no answer to {name} (message id {message_id}) within {timeout:g} s"
            ) from None
        except asyncio.CancelledError:
            self._call_cancelled(message_id, deadline)
            raise
        finally:
            self._waiters.pop(message_id, None)

    def _said_timed_out(self, failed: CallFailed | None, message_id: str) -> None:
        if failed is not None:
            self._protocol.log.warning(
                "%s (%s)",
                failed.error,
                message_id,
                extra={"action": failed.action, "message_id": message_id},
            )

    def _call_cancelled(self, message_id: str, deadline: float) -> None:
        """Whoever awaited :meth:`call` gave up on it: a CALL still queued is dropped, never
        sent (the peer must not act on what nobody awaits any more); one on the wire keeps
        the one-at-a-time slot until its answer comes (discarded) or its deadline passes,
        when it is timed out as an awaited one is, so that a peer that never answers it
        cannot hold every later CALL of the connection."""
        protocol = self._protocol
        if protocol.cancel(message_id) or protocol.outstanding != message_id:
            return
        if not math.isfinite(deadline):  # no deadline: held until answered, as awaited
            return
        loop = self._loop or asyncio.get_running_loop()
        loop.call_at(deadline, self._expire_cancelled, message_id)

    def _expire_cancelled(self, message_id: str) -> None:
        """The deadline of a cancelled CALL still on the wire: timed out, the next sent."""
        if self._stopped or self._protocol.outstanding != message_id:
            return
        self._said_timed_out(self._protocol.time_out(message_id), message_id)
        self._later(self._flush())  # the next CALL, written as _flush writes (at once, or sent)

    async def send(self, request: SendRequest) -> None:
        """2.1: send ``request`` as a SEND frame (``NotifyPeriodicEventStream``); no answer.

        Typed as :meth:`call` is: only a SEND-only request (a
        :class:`~ocpp_fast.SendRequest`) type-checks, and a request that is answered is a
        ``ValueError`` at run time too."""
        self._protocol.send(request)
        await self._flush()

    # --- the end ------------------------------------------------------------------------------

    def abort(self, error: Exception, on_wire: Exception | None = None) -> None:
        """The transport is gone: every call awaiting an answer fails with ``error``; the one
        whose CALL was on the wire with ``on_wire`` instead, when given (the peer said why it
        closed, and it was about that CALL: a station's client gives a ``TooBigForCsms``)."""
        outstanding = None if on_wire is None else self._protocol.outstanding
        for message_id, waiter in self._waiters.items():
            if not waiter.done():
                waiter.set_exception(
                    on_wire if on_wire is not None and message_id == outstanding else error
                )

    async def drain(self, timeout: float | None = None) -> bool:
        """Wait until every running handler has answered (for graceful shutdown).

        ``True`` when none is left; ``False`` when ``timeout`` seconds passed first. The
        handler that awaits it (a station's ``close()`` from a handler) is not waited for: it
        cannot end while it waits here, so the drain waited out its whole timeout, then
        cancelled the very handler that asked for it.
        """
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        current = asyncio.current_task()
        while len(self._tasks) > (current in self._tasks) or self._pending:
            left = None if deadline is None else deadline - loop.time()
            if left is not None and left <= 0:
                return False
            waiting: list[asyncio.Future[Any]] = [t for t in self._tasks if t is not current]
            if self._pending:  # the futures plain handlers handed back: set when none is left
                if self._drained is None or self._drained.done():
                    self._drained = loop.create_future()
                waiting.append(self._drained)
            await asyncio.wait(waiting, timeout=left)
        return True

    def finish(self) -> None:
        """Dispatch no more received CALLs; those in hand (running, or waiting for a slot)
        go on, and :meth:`drain` waits for them.

        The start of a server's stop: a CALL a station sends from now on is read (so the
        answers to the calls of handlers still running are too) but left unanswered, and
        counted in :attr:`unanswered`; the station sends it again once reconnected, as it
        does any CALL whose connection closed before the answer. Were they dispatched, a
        station that keeps sending would keep :meth:`drain` waiting until the deadline.
        """
        self._closing = True

    def stop(self) -> None:
        """Dispatch no more received CALLs and cancel the handlers still running.

        For a connection that is gone or a shutdown past its deadline: their
        answers could not be delivered anyway.
        """
        if not self._stopped:  # what it cancels, said once the station is gone
            self.cancelled.extend((action, message_id) for _, action, message_id in self.running())
        self._stopped = True
        self._closing = True
        self._backlog.clear()
        for task in list(self._tasks):
            task.cancel()
        for answer in list(self._pending):
            answer.cancel()
        if self._resumed is not None:
            self._resumed.set()

    @property
    def waiting(self) -> int:
        """How many received CALLs wait for a handler slot (reading should pause past a few)."""
        return len(self._backlog)

    def running(self) -> list[tuple[object, str, str]]:
        """The handlers running now: ``(what runs it, action, message id)``, "what" being the
        task of an ``async def`` handler, a ``(future, message id)`` pair for the future a
        plain one handed back, or a cluster's gated CALL (a durable one waiting for its
        stream's ack, held in ``_pending`` by the compiled path: its ``Gated``, which both
        twins let read its action and message id). Read by the server's sweep of slow
        handlers (:mod:`ocpp_fast.transport._slow`) and by the lines that say which were
        cancelled: an ``async def`` handler's CALL is kept with its task (a dict entry where
        a set entry was), a handed-back future's in ``_handed``, a gated CALL's on its
        ``Gated``; a plain handler that answers at once (the compiled path) records nothing.
        Nothing is recorded per CALL for this: the gated are told apart here, by the sweep."""
        named: list[tuple[object, str, str]] = [
            (task, call.action, call.message_id)
            for task, call in self._tasks.items()
            if call is not None
        ]
        handed = self._handed
        named.extend(
            ((answer, message_id), action, message_id)
            for message_id, (answer, action) in handed.items()
        )
        if sum(self._pending.values()) > len(handed):  # gated CALLs among them
            futures = {answer for answer, _ in handed.values()}
            gated = [cast(GatedCall, held) for held in self._pending if held not in futures]
            named.extend((held, held.action, held.message_id) for held in gated)
        return named

    @property
    def handling(self) -> int:
        """How many of the peer's CALLs (and SENDs) are being handled now."""
        return len(self._tasks) + sum(self._pending.values())


install_compiled(AsyncConnection, "feed")  # _dispatch_c.feed: the steps of feed, in C


def _request_of(event: CallReceived | SendReceived) -> Call:
    return event.call if isinstance(event, CallReceived) else event.send


def _retrieve(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and (error := task.exception()) is not None:
        log.debug("writing a reply failed: %r", error)


class MemoryWire:
    """Frames between two :class:`AsyncConnection` of one event loop, with no socket: what
    :func:`connect_in_memory` and the in-memory CSMS of ``ocpp_fast.transport.memory`` carry
    their frames on (one carrier, so both deliver alike).

    Each frame is fed to the other end from a later turn of the loop (``call_soon``), in the
    order written, as a socket would: calls may cross and handlers may call back. Once
    :meth:`cut`, no frame travels, those on the way included (a lost connection loses them).
    """

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._ends: list[AsyncConnection | None] = [None, None]
        self._early: tuple[list[bytes], list[bytes]] = ([], [])
        """Frames that reached an end not attached yet (fed to it as it is)."""
        self.open: bool = True
        """Whether frames still travel."""

    def attach(self, side: int, end: AsyncConnection) -> None:
        """``end`` is the connection of ``side`` (0 or 1): the frames of the other side go to it."""
        self._ends[side] = end
        early, self._early[side][:] = list(self._early[side]), []
        for frame in early:
            self._deliver(side, frame)

    def writer(self, side: int) -> Write:
        """The ``write`` of ``side``'s connection: each frame goes to the other side's."""
        other = 1 - side

        def write(frame: bytes) -> None:
            if self.open:
                self._loop.call_soon(self._deliver, other, frame)

        return write

    def cut(self) -> None:
        """No more frames travel, and those on the way are lost."""
        self.open = False

    def cut_behind(self) -> asyncio.Future[None]:
        """Cut the wire once the frames written so far arrived, as a WebSocket's close frame
        goes behind the frames sent before it (a frame written later is lost); the future is
        done once the wire is cut."""
        done: asyncio.Future[None] = self._loop.create_future()

        def cut() -> None:
            self.cut()
            if not done.done():
                done.set_result(None)

        self._loop.call_soon(cut)  # behind each frame's delivery, queued by call_soon too
        return done

    def _deliver(self, side: int, frame: bytes) -> None:
        """A frame reaches ``side``, unless the wire was cut while it travelled."""
        if not self.open:
            return
        end = self._ends[side]
        if end is None:
            self._early[side].append(frame)
        else:
            end.feed(frame)


class InMemoryPair(tuple[AsyncConnection, AsyncConnection]):
    """The two ends :func:`connect_in_memory` made, the station's first: unpack it
    (``station, csms = pair``), and ``await pair.close()`` to end the conversation as a
    socket's close would."""

    def __new__(
        cls,
        station: AsyncConnection,
        csms: AsyncConnection,
        greetings: tuple[asyncio.Task[None] | None, asyncio.Task[None] | None],
        wire: MemoryWire,
    ) -> InMemoryPair:
        pair = super().__new__(cls, (station, csms))
        pair._greetings = greetings
        pair._wire = wire
        pair._closing = False
        return pair

    _greetings: tuple[asyncio.Task[None] | None, asyncio.Task[None] | None]
    """The ``async`` ``on_connect`` of each side, still running or done (``None``: none)."""
    _wire: MemoryWire
    """What carries the frames."""
    _closing: bool
    """:meth:`close` began (it ends the conversation once)."""

    @property
    def station(self) -> AsyncConnection:
        """The station's end: its ``call()`` reaches the ``ChargeSystem``."""
        return self[0]

    @property
    def csms(self) -> AsyncConnection:
        """The CSMS's end: its ``call()`` reaches the ``Charger``."""
        return self[1]

    async def close(self, grace: float = 5.0) -> None:
        """The station closes the connection, as over a socket: the frames either side sent
        before still arrive, then no more travel; calls awaiting an answer fail with
        ``ConnectionError``; the handlers still running get ``grace`` seconds to finish
        (their answers go nowhere), as a server gives a station's handlers after it left,
        then are cancelled; then each side's ``on_disconnect`` runs with ``"closed by the
        station (1000)"``, after its ``on_connect`` ended (``grace`` seconds at most each)."""
        from ocpp_fast.transport._lifecycle import close_reason, see_off  # the floor above

        if self._closing or not self._wire.open:
            return
        self._closing = True
        await self._wire.cut_behind()
        reason = close_reason((1000, ""), None, True)  # the same words on both sides
        for end in self:
            end.abort(ConnectionError(f"the in-memory connection was {reason}"))
        for end, greeting in zip(self, self._greetings, strict=True):
            await end.drain(grace)
            end.stop()
            await see_off(end, greeting, reason, grace)


def connect_in_memory(
    station: OcppHandler, csms: OcppHandler, identity: str = "CS001"
) -> InMemoryPair:
    """Wire a ``Charger`` and a ``ChargeSystem`` together without any network.

    Each frame is delivered through the event loop (``call_soon``), as a socket
    would, so calls may cross and handlers may call back. Returns the station's
    connection and the CSMS's (an :class:`InMemoryPair`, a tuple of the two).

    As over a socket, each side's ``on_connect`` runs now (an ``async def`` one as a
    task, from the next turn of the loop) and its ``on_disconnect`` at
    :meth:`InMemoryPair.close`, so presence logic is tested without sockets. These are
    two bare connections: a station that needs its client's boot, queue, heartbeats or
    reconnects is tested through ``ocpp_fast.transport.memory.serve_in_memory`` instead.
    """
    from ocpp_fast.transport._lifecycle import greet  # the floor above: a late binding

    wire = MemoryWire()
    ends = (
        AsyncConnection(station, write=wire.writer(0), identity=identity),
        AsyncConnection(csms, write=wire.writer(1), identity=identity),
    )
    wire.attach(0, ends[0])
    wire.attach(1, ends[1])
    greetings = (greet(ends[1]), greet(ends[0]))  # the CSMS knows first, as over a socket
    return InMemoryPair(ends[0], ends[1], (greetings[1], greetings[0]), wire)
