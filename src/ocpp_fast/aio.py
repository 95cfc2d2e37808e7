"""The asyncio layer over the sans-I/O connection: ``await connection.call(request)``.

:class:`AsyncConnection` owns the clock and the tasks; the transport owns the
socket. Give it a coroutine function that sends one frame, and feed it every
received frame with :meth:`AsyncConnection.receive`. Incoming CALLs run as
tasks of their own, so reading never waits for a handler: a handler may
``await context.connection.call(...)`` to the peer and the answer still gets
through (the ``ocpp`` package deadlocks there until its timeout).

The peer's CALLs are bounded: OCPP-J allows one outstanding CALL per
direction, so at most ``max_calls`` handlers (the spec's one plus a small
allowance) run per connection, and, when the transport passes a shared
``task_slots`` semaphore, at most that many across connections. Beyond it,
:meth:`AsyncConnection.receive` waits for a handler to finish before it
dispatches the next CALL: the transport stops reading (TCP flow control
pushes back on the peer) instead of queueing tasks without bound. Results and
errors of our own CALLs are read and dispatched as long as no CALL over the
bound is waiting, so a handler awaiting the peer's answer is never starved
by a well-behaved peer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from ocpp_fast.dispatch import OcppHandler, answer, take_send
from ocpp_fast.frames import Call
from ocpp_fast.protocol import (
    CallFailed,
    CallReceived,
    CallSucceeded,
    Connection,
    Event,
    ResultRejected,
    SendReceived,
)

__all__ = ["CALLS_IN_FLIGHT", "DEFAULT_TIMEOUT", "AsyncConnection", "connect_in_memory"]

log = logging.getLogger("ocpp_fast")

DEFAULT_TIMEOUT = 30.0
"""Seconds to wait for the answer to a CALL, the usual OCPP choice."""
CALLS_IN_FLIGHT = 3
"""Handlers run at once per connection: the spec's one outstanding CALL, plus two of
allowance for stations that overlap a CALL with the previous one's answer in flight."""

Send = Callable[[bytes], Awaitable[None]]
R = TypeVar("R")


class AsyncConnection:
    """One OCPP-J connection driven by asyncio, for a ``Charger`` or ``ChargeSystem``."""

    def __init__(
        self,
        handler: OcppHandler,
        send: Send,
        *,
        identity: str = "",
        max_calls: int = CALLS_IN_FLIGHT,
        task_slots: asyncio.Semaphore | None = None,
    ) -> None:
        if max_calls < 1:
            raise ValueError("max_calls must be at least 1 (the spec's one outstanding CALL)")
        self.handler = handler
        self.identity = identity
        self._send = send
        self._protocol: Connection = handler.connection(identity)
        self._waiters: dict[str, asyncio.Future[Any]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._send_lock = asyncio.Lock()
        self._calls = asyncio.Semaphore(max_calls)
        self._task_slots = task_slots
        self._stopped = False

    @property
    def protocol(self) -> Connection:
        """The sans-I/O connection underneath."""
        return self._protocol

    async def call(self, request: Any, timeout: float = DEFAULT_TIMEOUT) -> Any:
        """Send ``request`` as a CALL and return the peer's typed response.

        Waits its turn behind earlier CALLs (one outstanding at a time); the
        ``timeout`` covers the wait and the answer. Raises the peer's error as
        the :class:`~ocpp_fast.errors.OcppError` class of its code, the error
        of an invalid response, or ``TimeoutError``.
        """
        loop = asyncio.get_running_loop()
        message_id = self._protocol.call(request)
        waiter: asyncio.Future[Any] = loop.create_future()
        self._waiters[message_id] = waiter
        await self._flush()
        try:
            return await asyncio.wait_for(asyncio.shield(waiter), timeout)
        except TimeoutError:
            failed = self._protocol.time_out(message_id)
            await self._flush()
            if failed is not None:
                log.warning("%s: %s", self.identity, failed.error)
            raise
        finally:
            self._waiters.pop(message_id, None)

    async def receive(self, data: bytes | str) -> None:
        """Process one frame from the transport; handlers start as tasks of their own.

        A CALL (or 2.1 SEND) waits here for a free handler slot; the transport,
        which awaits this, reads nothing more meanwhile.
        """
        events = self._protocol.receive(data)
        await self._flush()
        for event in events:
            if type(event) is CallReceived or type(event) is SendReceived:
                await self._take_slot()
                if self._stopped:
                    self._give_slot()
                    return
            self._dispatch(event)

    async def send(self, request: Any) -> None:
        """2.1: send ``request`` as a SEND frame (``NotifyPeriodicEventStream``); no answer."""
        self._protocol.send(request)
        await self._flush()

    def _dispatch(self, event: Event) -> None:
        if isinstance(event, CallReceived):
            self._spawn(self._answer(event.call))
            return
        if isinstance(event, SendReceived):
            self._spawn(take_send(self.handler, event.send, self.identity, self))
            return
        if isinstance(event, ResultRejected):
            return  # logged by the protocol; nobody awaits a result we sent
        waiter = self._waiters.get(event.message_id)
        if waiter is None or waiter.done():
            return
        if isinstance(event, CallSucceeded):
            waiter.set_result(event.response)
        elif isinstance(event, CallFailed):
            waiter.set_exception(event.error)

    async def _take_slot(self) -> None:
        await self._calls.acquire()
        if self._task_slots is not None:
            try:
                await self._task_slots.acquire()
            except BaseException:
                self._calls.release()
                raise

    def _give_slot(self) -> None:
        self._calls.release()
        if self._task_slots is not None:
            self._task_slots.release()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run a handler (holding the slot taken for it) as a task of its own."""
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._give_slot()
        # Handlers' own exceptions became CALLERRORs; what is left is the transport
        # failing under the reply (a peer that reset): retrieved here, so asyncio
        # never reports "Task exception was never retrieved".
        if not task.cancelled() and (error := task.exception()) is not None:
            log.debug("%s: could not send a reply: %r", self.identity, error)

    async def _answer(self, call: Call) -> None:
        await answer(self.handler, self._protocol, call, self)
        await self._flush()

    async def _flush(self) -> None:
        """Write what the protocol queued, in order, one writer at a time."""
        async with self._send_lock:
            for frame in self._protocol.data_to_send():
                await self._send(frame)

    def abort(self, error: Exception) -> None:
        """The transport is gone: every call awaiting an answer fails with ``error``."""
        for waiter in self._waiters.values():
            if not waiter.done():
                waiter.set_exception(error)

    async def drain(self, timeout: float | None = None) -> bool:
        """Wait until every running handler has answered (for graceful shutdown).

        ``True`` when none is left; ``False`` when ``timeout`` seconds passed first.
        """
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while self._tasks:
            left = None if deadline is None else deadline - loop.time()
            if left is not None and left <= 0:
                return False
            await asyncio.wait(list(self._tasks), timeout=left)
        return True

    def stop(self) -> None:
        """Dispatch no more received CALLs and cancel the handlers still running.

        For a connection that is gone or a shutdown past its deadline: their
        answers could not be delivered anyway.
        """
        self._stopped = True
        for task in list(self._tasks):
            task.cancel()

    @property
    def handling(self) -> int:
        """How many of the peer's CALLs (and SENDs) are being handled now."""
        return len(self._tasks)


def connect_in_memory(
    station: OcppHandler, csms: OcppHandler, identity: str = "CS001"
) -> tuple[AsyncConnection, AsyncConnection]:
    """Wire a ``Charger`` and a ``ChargeSystem`` together without any network.

    Each frame is delivered through the event loop (``call_soon``), as a socket
    would, so calls may cross and handlers may call back. Returns the station's
    connection and the CSMS's.
    """
    loop = asyncio.get_running_loop()
    ends: list[AsyncConnection] = []

    def sender(index: int) -> Send:
        async def send(frame: bytes) -> None:
            peer = ends[1 - index]
            loop.call_soon(lambda: _spawn(peer.receive(frame)))

        return send

    ends.append(AsyncConnection(station, sender(0), identity=identity))
    ends.append(AsyncConnection(csms, sender(1), identity=identity))
    return ends[0], ends[1]


_background: set[asyncio.Task[None]] = set()


def _spawn(coro: Awaitable[None]) -> None:
    async def run() -> None:
        await coro

    task = asyncio.ensure_future(run())
    _background.add(task)
    task.add_done_callback(_background.discard)
