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
"""

from __future__ import annotations

import asyncio
import sys
from collections import deque
from typing import Any

__all__ = ["Reading", "failure_of", "routing_failed"]


class Reading:
    """A ``start()`` run: its task and connection, the CALL tasks it made, the last of them
    (the next waits for it: CALLs are handled one at a time, in order), the CALLs read and
    not routed yet, the failure it is to raise, and its own bound on the CALLs it holds
    (``max_concurrent_calls``)."""

    __slots__ = (
        "connection",
        "failure",
        "handling",
        "held",
        "last_call",
        "owner",
        "queued",
        "reader",
        "slots",
    )

    def __init__(
        self, owner: Any, reader: asyncio.Task[Any] | None, bound: int, connection: Any
    ) -> None:
        self.owner = owner  # the ChargePoint: its route_message, logger and id
        self.reader = reader
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
        self.held: str | bytes | None = None  # a CALL read, waiting for a slot

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
