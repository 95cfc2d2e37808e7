"""One run of the drop-in's ``start()``: the CALLs it read and routes, in turn, and how it ends.

Kept per run, not per ChargePoint, because real backends reuse one ChargePoint across
reconnects: the station's new connection is put in ``_connection`` and ``start()`` awaited
again while the old connection's ``start()`` still runs, then that old one is cancelled
(or ends with the old connection's exception). ``ocpp``'s ``start()`` awaits its one
handler itself, so cancelling the old run touches nothing of the new one. With the
routing state on the instance, cancelling the old run cancelled the CALLs the new one was
handling (never answered), and its end cleared the new run's reader and waited for the
new run's handlers.

A run that ends before it routed every CALL it read (cancelled, or a CALL's routing failed)
leaves them to the next ``start()`` on the same connection (:meth:`Reading.unrouted_calls`):
``ocpp``'s, which reads a frame only once the one before it is handled, would have left them
in the socket for that ``start()`` to read.

The turn of a frame :meth:`Reading.route_read` routes (one ``route_message`` may repair into a
CALL), state by state; whatever the state, the frame is routed once, or kept unrouted:

1. first step (the run is the ChargePoint's ``_fast_turn``), in ``start()``'s task, nothing
   else running: it ends or raises there (most frames; its exception leaves ``start()``),
   suspends (2), or reaches ``_handle_call`` as a CALL (3);
2. awaited in ``start()``'s task (``routing_in``; the run in the ChargePoint's ``_fast_turns``,
   a list: a reconnect's old run may route a frame meanwhile; a lookup of the override's before
   ``super()``, a response's routing): it ends or raises, or reaches ``_handle_call`` (3); the
   run cancelled (or failed) here keeps the frame (``held``) if a CALL read before it was
   unhandled (``ocpp`` had not read it), else it is lost as with ``ocpp``;
3. taking its turn (:meth:`Reading.take_turn`: off both, its frame queued as the
   CALLs ``start()`` read are): it waits for a slot, ``start()`` reading nothing meanwhile; the
   run cancelled here keeps the frame (queued);
4. parked (``parked``: it holds a slot, ``start()`` reads on): the rest of the routing goes on
   in a task of its own, the run's last CALL, while it waits for the CALL read before it; the
   run cancelled or failed before that one is handled keeps the frame (queued), and this
   routing gets ``CancelledError``. With nothing to wait for, it may end in the same step:
   then no task is made, and its slot is freed at once;
5. its turn: its frame taken off the queue, the CALL handled (its task's end frees the slot;
   a routing failure ends the run).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import sys
import types
from collections import deque
from collections.abc import Awaitable, Collection, Coroutine, Generator
from typing import Any

from ocpp_fast._log_text import named_calls, shown

__all__ = ["Reading", "failure_of", "frame_named", "routing_failed", "wait_handlers"]


class Reading:
    """A ``start()`` run: its task and connection, the CALL tasks it made, the last of them
    (the next waits for it: CALLs are handled one at a time, in order), the CALLs read and
    not routed yet, the failure it is to raise, and its own bound on the CALLs it holds
    (``max_concurrent_calls``)."""

    __slots__ = (
        "cancels",
        "connection",
        "failure",
        "handling",
        "held",
        "last_call",
        "owner",
        "parked",
        "queued",
        "reader",
        "routing",
        "routing_in",
        "slots",
        "stopping",
    )

    def __init__(
        self, owner: Any, reader: asyncio.Task[Any] | None, bound: int, connection: Any
    ) -> None:
        self.owner = owner  # the ChargePoint: its route_message, logger and id
        self.reader = reader
        # the cancels its task had before this run: one more is a stop (see cancel_requested)
        self.cancels = 0 if reader is None else reader.cancelling()
        self.connection = connection  # what its frames are read from
        self.handling: set[asyncio.Task[Any]] = set()
        self.last_call: asyncio.Task[Any] | None = None
        self.failure: BaseException | None = None
        self.slots = asyncio.Semaphore(bound)
        self.queued: deque[str | bytes] = deque()
        """The frames of the CALL tasks that have not routed theirs, in the order read. CALLs
        are routed one at a time in that order, so a task about to route finds its own frame
        first (one that returns unrouted, after a routing failure, leaves it, and so does
        every task after it: the run ends). A deque, not a dict by task: this is paid per
        CALL (about 300 instructions, where a dict by ``asyncio.current_task()`` cost 2,000)."""
        self.held: str | bytes | None = None  # read, not routed: waiting for a slot, or cancelled
        # the frame route_read routes, until it takes its turn as a CALL (then queued)
        self.routing: str | bytes | None = None
        self.parked = False  # the frame route_read routes turned out a CALL, in its turn
        self.routing_in: asyncio.Task[Any] | None = None  # the task route_read routes it in
        self.stopping: asyncio.Future[None] | None = None  # see another_start()

    def cancel_requested(self) -> bool:
        """``start()``'s task was told to stop during this run: its cancel count grew, even
        when the ``CancelledError`` was swallowed (a ``route_message`` override's ``except
        BaseException``), so ``start()`` stops all the same."""
        reader = self.reader
        return reader is not None and reader.cancelling() > self.cancels

    def named(self, tasks: Collection[asyncio.Future[Any]]) -> list[tuple[str, str]]:
        """``(action, message id)`` of the frame each of this run's ``tasks`` routes, in the
        order read (the CALL being handled first, then those waiting their turn), for the line
        that says which were left running: an operator looks for the station's CALLs by id.
        A task whose frame reads as no frame is left out (the line counts it)."""
        place = {id(frame): at for at, frame in enumerate(self.queued)}
        frames = [frame for frame in map(_routed_frame, tasks) if frame is not None]
        frames.sort(key=lambda frame: place.get(id(frame), -1))
        return [name for name in map(frame_named, frames) if name is not None]

    async def another_start(self, reader: asyncio.Task[Any] | None, connection: Any) -> None:
        """A ``start()`` (in ``reader``, on ``connection``) begins while this run, the
        latest, may still read.

        Cancelled and not ended yet (a restart loop cancelling ``start()``'s task and awaiting
        ``start()`` again at once), it is waited for until it stopped reading: it read on
        while a handler ran, and the CALLs it read are kept for the new run only then
        (``ocpp``'s left them in the socket). The new run read first, and failed at once
        (``ConcurrencyError``: the old one was still in its read), those CALLs never answered.

        Reading the same connection, not cancelled, the new one is refused (``RuntimeError``):
        the two runs would share the station's CALLs, each handling its own in turn but not
        in turn with the other's. ``ocpp``'s second ``start()`` fails (``ConcurrencyError``)
        when its first is reading, and reads when it is in a handler, the next CALL then
        handled before that one is answered. A run on another connection (a reconnect on the
        same ChargePoint) goes on, as with ``ocpp``."""
        running = self.reader
        if running is None or running is reader or running.done():
            return
        if running.cancelling():
            if self.stopping is None:
                self.stopping = asyncio.get_running_loop().create_future()
            await asyncio.shield(self.stopping)  # set by stopped_reading()
        elif self.connection is connection:
            raise RuntimeError(
                f"{self.owner.id}: start() is already reading this connection (two start() at "
                "once would each handle some of the station's CALLs, out of order): await the "
                "running one, or cancel it before start() is awaited again"
            )

    def stopped_reading(self) -> None:
        """The run reads no more, its unrouted CALLs kept (a CALL failing now does not cancel
        it: it waits for the CALLs it holds)."""
        self.reader = None
        if self.stopping is not None and not self.stopping.done():
            self.stopping.set_result(None)

    def unrouted_calls(self) -> list[str | bytes]:
        """The CALLs read and never routed (none of their handler ran), in the order they
        came: those queued behind the one being handled, or behind one whose routing failed,
        and one that waited for a slot."""
        calls = list(self.queued)
        if self.held is not None:
            calls.append(self.held)
        return calls

    async def route_in_turn(self, message: str | bytes, before: asyncio.Task[Any] | None) -> None:
        """Route a CALL once the one read before it is handled, unless that one's routing
        failed: ``start()`` raises that failure, and ``ocpp``'s would not have read this CALL
        (its done callback, which tells the others, may not have run yet)."""
        if before is not None:
            if not before.done():
                await asyncio.wait((before,))
            if routing_failed(failure_of(before)):
                return
            before = None
        if self.failure is None:
            self.queued.popleft()  # this task's frame (see queued)
            await self.owner.route_message(message)

    def route_read(self, message: str | bytes) -> Awaitable[None] | None:
        """Route a frame ``start()`` did not take for a CALL, as far as it goes at once: what
        is left to await of it, ``None`` when nothing is (most frames).

        The backend's ``route_message`` may make it one (a broken frame repaired before
        ``super().route_message(...)``): routed inline, that CALL was handled at once, before
        the CALL read ahead of it was done, and its handler's ``call()`` waited out its timeout
        (nothing was read until it was done). Its routing runs here as inline (in ``start()``'s
        task, no loop turn added), until it turns out a CALL (:meth:`take_turn`): the rest of
        it then goes on in a task of its own, which ``start()`` holds as a CALL it read (the
        next CALL waits for it), and ``start()`` reads on. Anything else (a response) is routed
        before ``start()`` reads on, its exception leaving ``start()``, as inline. A plain
        function, its first step taken here: this is paid per frame of a backend that
        overrides ``route_message``, and a coroutine more cost a third of it.
        """
        owner = self.owner
        self.parked = False
        self.routing = message
        owner._fast_turn = self  # no other task runs until send() returns: a CALL is this one
        routing = owner.route_message(message)
        try:
            awaiting = routing.send(None)
        except StopIteration:  # routed already, most often
            owner._fast_turn = None
            if self.parked:  # handled in this step: its slot is free (see _routed)
                self.slots.release()
            return None
        except BaseException:  # its exception leaves start(), as inline
            owner._fast_turn = None
            if self.parked:
                self.slots.release()
            raise
        owner._fast_turn = None
        if self.parked:
            self._hold(routing, awaiting, message)
            return None
        owner._fast_turns.append(self)  # other tasks run while it is awaited (see _go_on)
        return self._go_on(routing, awaiting, message)

    async def _go_on(
        self, routing: Coroutine[Any, Any, Any], awaiting: Any, message: str | bytes
    ) -> None:
        """The routing :meth:`route_read` began (of ``message``), awaited in ``start()``'s task
        until it ends, or takes its turn (then held as a CALL read, in a task of its own), or
        outlives a cancel of ``start()`` (:meth:`_outlive`)."""
        # other tasks run while it waits: a CALL is this one if routed in this task (not
        # self.reader: start()'s first steps may have run in its caller's task, with an eager
        # task factory)
        self.routing_in = asyncio.current_task()
        try:
            awaiting = await _driven(routing, self, awaiting)
            # it caught what was thrown into it: a cancel of start() is outlived; another
            # (a future it awaited cancelled by someone else) is its own affair, as inline
            while not (awaiting is _ENDED or self.parked or self.cancel_requested()):
                awaiting = await _driven(routing, self, awaiting)
        except asyncio.CancelledError:
            self._keep_unturned()
            self._routed()
            raise
        except BaseException:
            self._routed()
            raise
        finally:
            self.routing_in = None
        if awaiting is _ENDED:
            self._routed()
        elif self.parked:
            self._hold(routing, awaiting, message)
        else:
            await self._outlive(routing, awaiting, message)

    async def _outlive(
        self, routing: Coroutine[Any, Any, Any], awaiting: Any, message: str | bytes
    ) -> None:
        """``start()`` was cancelled while it awaited the routing of ``message`` (a frame it
        routes in its own task: a response, a malformed frame, a 2.1 SEND), and the backend's
        ``route_message`` caught the ``CancelledError`` and awaits on (a retry, a journal
        written in its ``except``): awaited inline, it kept ``start()`` for as long as it
        awaits, forever for a store that never answers, as ``ocpp``'s ``start()`` is kept.

        The rest of it goes on in a task of its own, given ``handler_grace`` seconds to end, as
        a handler that caught the cancel is (it got its cancel; not cancelled again, so an
        override that writes its journal and returns or raises is let finish). It ended: its
        end is ``start()``'s, as inline (its exception leaves; returned, ``start()`` stops all
        the same, :meth:`~ocpp_fast.compat._charge_point.ChargePoint._fast_stop_held`). Still
        running then: left running, a WARNING naming the frame, and ``start()`` raises
        ``CancelledError``. The frame is not routed again: the override still routes it."""
        self._routed()
        self.routing = None
        task = asyncio.get_running_loop().create_task(_rest_of(routing, awaiting, message))
        owner = self.owner
        if await wait_handlers((task,), owner.handler_grace, False):
            owner.logger.warning(
                "%s: route_message still running %.3g s after start() was cancelled (it caught "
                "CancelledError): %s; start() stops anyway, leaving it running; let "
                "CancelledError leave route_message",
                owner.id,
                owner.handler_grace,
                named_calls(self.named((task,)), 1),
            )
            raise asyncio.CancelledError
        task.result()  # its exception, a CancelledError it let through too, leaves start()

    def _routed(self) -> None:
        """The routing :meth:`route_read` began ended in ``start()``'s task. Had it taken its
        turn, it ended in the step that took it (no CALL ahead, a ``send()`` that did not
        suspend: handled at once): its slot is free again. It was held for a task that never
        came, so a fifth such CALL waited for a slot forever, and a routing that ended
        while it awaited was handed to a task that raised ``RuntimeError`` (a coroutine
        reused), ending ``start()``."""
        turns = self.owner._fast_turns
        if self in turns:
            turns.remove(self)
        if self.parked:
            self.slots.release()

    def _keep_unturned(self) -> None:
        """``start()`` was cancelled (by the backend, or after a CALL's routing failed) while
        the override still routed the frame, before it took a turn as a CALL (a lookup before
        ``super()``): kept for the next ``start()`` if a CALL read before it was unhandled, as
        ``ocpp``'s ``start()``, still handling that CALL, had not read it (else it was routing
        it too, and it is lost alike)."""
        before = self.last_call
        if self.routing is not None and (
            self.failure is not None or (before is not None and not before.done())
        ):
            self.held = self.routing

    def _hold(self, routing: Coroutine[Any, Any, Any], awaiting: Any, message: str | bytes) -> None:
        task = asyncio.get_running_loop().create_task(_rest_of(routing, awaiting, message))
        self.last_call = task
        self.handling.add(task)
        task.add_done_callback(self.call_done)

    async def take_turn(self) -> None:
        """The frame :meth:`route_read` routes turned out a CALL: wait for a slot (reading
        pauses beyond the bound, as for any CALL), let ``start()`` read on, this CALL now its
        last (``parked``), and wait for the CALL read before it to be handled. If that one's
        routing failed, ``start()`` raises that failure and this CALL is not handled
        (``CancelledError``, as for a CALL read after the failure). Until its turn comes its
        frame is queued as the CALLs ``start()`` read are, so a run ending before (cancelled,
        or failed) keeps it for the next ``start()``, which routes it again, as ``ocpp``'s
        reads it then (it was dropped)."""
        frame, self.routing = self.routing, None
        assert frame is not None  # the frame route_read routes, whose turn this is
        self.queued.append(frame)  # in the order read: start() reads nothing more until parked
        await self.slots.acquire()
        before = self.last_call
        self.parked = True
        if before is not None and not before.done():
            await asyncio.wait((before,))
        if self.failure is not None or (before is not None and routing_failed(failure_of(before))):
            raise asyncio.CancelledError
        self.queued.popleft()  # its own frame, routed now (see queued)

    def call_done(self, task: asyncio.Task[Any]) -> None:
        """A CALL task of this run ended: free its slot; a routing failure ends the run."""
        self.handling.discard(task)
        self.slots.release()
        error = failure_of(task)
        if error is None:
            return
        if not routing_failed(error):  # start() raises its own: ocpp logs nothing more
            owner = self.owner
            owner.logger.debug(
                "%s: the connection closed before a call was answered: %r", owner.id, error
            )
            return
        # start() raises it, as ocpp's start() does, handling nothing read after it
        if self.failure is None:
            self.failure = error
        for later in self.handling:
            later.cancel()
        if self.reader is not None:
            self.reader.cancel()


_ENDED = object()
"""What :func:`_driven` returns when the routing ended."""


@types.coroutine
def _driven(
    routing: Coroutine[Any, Any, Any], run: Reading | None, awaiting: Any
) -> Generator[Any, Any, Any]:
    """Go on with ``routing`` in the awaiting task, as ``await routing`` would, from where it
    is (``awaiting``: what it awaits), until it ends (:data:`_ENDED` returned), or, given
    ``run``, until it takes its turn (``run.parked``) or catches what the task threw in (a
    cancel: see :meth:`Reading._go_on`): then what it awaits is returned (``None``
    for a bare ``yield``, as ``asyncio.sleep(0)`` makes), for the caller to go on with
    (:func:`_rest_of`). What it awaits is handed to the task and the task's answer (or
    exception, a cancel) back to it, as ``await`` does."""
    while True:
        try:
            sent = yield awaiting
        except BaseException as error:  # thrown in by the task (a cancel): passed on
            try:
                awaiting = routing.throw(error)
            except StopIteration:
                return _ENDED
            if run is not None:  # it caught it and awaits on
                return awaiting
            continue
        step = functools.partial(routing.send, sent)
        try:
            awaiting = step()
        except StopIteration:
            return _ENDED
        if run is not None and run.parked:
            return awaiting


async def _rest_of(routing: Coroutine[Any, Any, Any], awaiting: Any, message: str | bytes) -> None:
    """The rest of a routing :meth:`Reading.route_read` began (of ``message``, which
    :func:`_routed_frame` reads), in a task of its own."""
    await _driven(routing, None, awaiting)


_FRAMED = frozenset({Reading.route_in_turn.__code__, _rest_of.__code__})
"""The coroutines of a run's tasks, whose ``message`` is the frame they route."""


def _routed_frame(task: asyncio.Future[Any]) -> Any:
    """The frame a run's task routes, read off its coroutine's arguments: only a task left
    running at ``start()``'s end is named, so the hot path keeps no record of it (a dict of
    tasks cost every CALL a store and a delete). None for another task (a 2.1 SEND's
    handler, named by its routing) or one that ended."""
    coroutine = task.get_coro() if isinstance(task, asyncio.Task) else None
    if not isinstance(coroutine, types.CoroutineType) or coroutine.cr_code not in _FRAMED:
        return None
    return inspect.getcoroutinelocals(coroutine).get("message")


ACTION_SHOWN = 64
"""Characters of an action a line naming frames shows (an action is 40 at most)."""
_KINDS = {3: "CALLRESULT", 4: "CALLERROR", 5: "CALLRESULTERROR"}
"""What names a response (it has no action) in a line that names frames."""


def frame_named(frame: Any) -> tuple[str, str] | None:
    """``(action, message id)`` of a frame read, as a line naming it shows them: a CALL's (or
    a 2.1 SEND's) action, escaped and cut (the station wrote it; a frame a ``route_message``
    override repaired may hold anything), or the kind of a response; an id that is no string
    (an integer one, as ``ocpp`` tolerates) as JSON. Read as ``ocpp`` reads frames (Python's
    ``json``), on this cold path only. None for a frame read so as no frame."""
    try:
        read = json.loads(frame)
    except (TypeError, ValueError, RecursionError):
        return None
    if type(read) is not list or len(read) < 3 or type(read[0]) not in (int, float):
        return None
    kind, unique_id, action = read[0], read[1], read[2]
    if kind == 2 or kind == 6:
        name = shown(action, ACTION_SHOWN) if type(action) is str else None
    else:
        name = _KINDS.get(kind)
    if name is None:
        return None
    return name, unique_id if type(unique_id) is str else json.dumps(unique_id)


async def wait_handlers(
    tasks: Collection[asyncio.Future[Any]], grace: float, cancel: bool
) -> list[asyncio.Future[Any]]:
    """Wait for an ended ``start()``'s handler tasks to end, at most ``grace`` seconds, first
    cancelling them if ``cancel`` (``start()`` was cancelled); returns those still running then.

    ``ocpp``'s ``start()`` awaits its handler, so the handler has ended (its ``except``/
    ``finally`` run, its answer sent or failed) when ``start()`` raises. Without the wait, a
    handler cancelled inside ``call()`` was still ending while the backend's next ``start()``
    handled the next CALL. Without the bound, a handler that awaits on (one that catches the
    cancel in a retry loop; one awaiting, after the connection failed, a store or a lock that
    never answers) kept ``start()`` from ending: the backend cancelling it (the server closing
    the connection) or awaiting it to forget the station waited forever, as it does with
    ``ocpp``. Cancelled meanwhile, it cancels them and stops waiting: what cancels ``start()``
    ends its handlers, whatever ``start()`` was waiting for.
    """
    pending = [task for task in tasks if not task.done()]
    if not pending:
        return []
    if cancel:
        for task in pending:
            task.cancel()
    try:
        _, left = await asyncio.wait(pending, timeout=grace)
    except asyncio.CancelledError:
        for task in pending:
            task.cancel()
        raise
    return list(left)


def failure_of(task: asyncio.Task[Any]) -> BaseException | None:
    """What a CALL's routing task raised, None if it returned or was cancelled by us.

    A ``CancelledError`` the routing raised itself (a handler awaiting a task someone
    cancelled, or raising it) is a failure like any other exception: it leaves
    ``ocpp``'s ``start()``, whose ``_handle_call`` catches only ``Exception``, and so
    ends the drop-in's, the CALL unanswered. A task cancelled by ``cancel()`` (when
    ``start()`` is cancelled, or after another CALL's failure) has a cancel request
    counted (``cancelling()``) and is no failure of its own.
    """
    if not task.cancelled():
        return task.exception()
    if task.cancelling():
        return None
    try:
        task.result()
    except asyncio.CancelledError as cancelled:
        return cancelled
    return None  # not reached: a cancelled task's result() raises


def routing_failed(error: BaseException | None) -> bool:
    """A CALL's routing raised, and not because the connection closed under it (its
    answer could not be sent: ``start()`` raises the connection's own exception then)."""
    return error is not None and not connection_closed(error)


def connection_closed(error: BaseException) -> bool:
    """The connection closed under a handler (its answer could not be sent).

    ``websockets``' ConnectionClosed is recognised without importing it: a
    connection of that library has loaded it already (``ocpp`` needs no websockets).
    """
    if isinstance(error, ConnectionError):
        return True
    module = sys.modules.get("websockets.exceptions")
    return module is not None and isinstance(error, module.ConnectionClosed)
