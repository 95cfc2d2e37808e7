"""An answer to come that calls back whoever waits for it at once.

A plain (``def``) handler may hand back an ``asyncio.Future`` or a :class:`Deferred`
instead of its response: the connection answers the CALL from the completion
callback, with no task and no coroutine (``AsyncConnection._after_handler``). An
``asyncio.Future`` calls its callbacks a turn of the event loop after it completes
(``call_soon``, one wake-up each); a :class:`Deferred` calls them inside
:meth:`~Deferred.set_result`, so an answer completed in a callback of its own (the
gateway's store: the stream's ack came) is written in that same turn. It has the
part of ``asyncio.Future``'s interface the connection uses, so the connection treats
both alike, and it can be awaited where a handler's result is awaited (``handle_async``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Generator
from typing import Any, Generic, TypeVar

__all__ = ["CANCELLED", "ERROR", "PENDING", "RESULT", "Deferred", "pass_on"]

T = TypeVar("T")

PENDING, RESULT, ERROR, CANCELLED = range(4)
"""A :class:`Deferred`'s states (its ``_state``; its ``_complete`` takes one)."""


class Deferred(Generic[T]):
    """A result or an exception to come; each callback is called with it once it is there."""

    __slots__ = ("_callbacks", "_state", "_value")

    def __init__(self) -> None:
        self._state = PENDING
        self._value: Any = None
        self._callbacks: list[Callable[[Deferred[T]], object]] | None = None

    def done(self) -> bool:
        """Whether it has its result or exception, or was cancelled."""
        return self._state != PENDING

    def cancelled(self) -> bool:
        return self._state == CANCELLED

    def result(self) -> T:
        """The result; raises the exception (``CancelledError`` once cancelled)."""
        state = self._state
        if state == RESULT:
            value: T = self._value
            return value
        if state == ERROR:
            raise self._value
        if state == CANCELLED:
            raise asyncio.CancelledError
        raise asyncio.InvalidStateError("the result is not there yet")

    def exception(self) -> BaseException | None:
        """The exception, ``None`` with a result (``CancelledError`` raised once cancelled)."""
        if self._state == ERROR:
            error: BaseException = self._value
            return error
        self.result()  # raises unless there is a result
        return None

    def add_done_callback(self, callback: Callable[[Deferred[T]], object]) -> None:
        """Call ``callback(self)`` once done: as it completes; if it is done already, soon
        (``call_soon``, as ``asyncio.Future`` does: never inside the caller's own step)."""
        if self._state != PENDING:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no loop: nothing of the caller's can be interleaved
                callback(self)
            else:
                loop.call_soon(callback, self)
        elif self._callbacks is None:
            self._callbacks = [callback]
        else:
            self._callbacks.append(callback)

    def set_result(self, value: T) -> None:
        """Complete it with ``value`` and call the callbacks now (nothing once cancelled)."""
        self._complete(RESULT, value)

    def set_exception(self, error: BaseException) -> None:
        """Complete it with ``error`` and call the callbacks now (nothing once cancelled)."""
        self._complete(ERROR, error)

    def cancel(self) -> bool:
        """Nobody wants the result any more: ``True`` unless it was done already."""
        if self._state != PENDING:
            return False
        self._complete(CANCELLED, None)
        return True

    def _complete(self, state: int, value: Any) -> None:
        if self._state == CANCELLED:
            return  # what it stood for finished after all: nobody waits
        if self._state != PENDING:
            raise asyncio.InvalidStateError("already done")
        self._state = state
        self._value = value
        callbacks, self._callbacks = self._callbacks, None
        if callbacks is not None:
            self._call_back(callbacks)

    def _call_back(self, callbacks: list[Callable[[Deferred[T]], object]]) -> None:
        """Call each of ``callbacks`` with it, now complete (what one raises, its caller gets)."""
        for callback in callbacks:
            callback(self)

    def __await__(self) -> Generator[Any, None, T]:
        """Await it (outside a connection, e.g. ``handle_async``): through an asyncio future."""
        if self._state == PENDING:
            future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
            self.add_done_callback(lambda done: pass_on(done, future))
            return (yield from future.__await__())
        return self.result()


def pass_on(done: Deferred[T] | asyncio.Future[T], target: Deferred[T] | asyncio.Future[T]) -> None:
    """Complete ``target`` as ``done`` completed (what ``done`` raised is retrieved even where
    ``target`` is done already: nobody is told it was never retrieved)."""
    if done.cancelled():
        target.cancel()
        return
    error = done.exception()
    if target.done():
        return
    if error is not None:
        target.set_exception(error)
    else:
        target.set_result(done.result())
