"""Waiting with a timeout, a cancel kept.

Python 3.11's ``asyncio.wait_for`` returns the result of an awaitable that completed in the
same turn of the loop as its task was cancelled, and drops the cancel (3.12's, built on
``asyncio.timeout``, raises ``CancelledError``): a task awaiting ``call()`` when it was
cancelled went on as if it had not been, and a simulator stopped while a station waited for
its answer ran to its planned end. :func:`within` is ``wait_for`` with the cancel kept, for
every wait of the library whose task must stop when cancelled (a call's answer, a heartbeat's
interval, a lifecycle hook, a closing link...). A wait that a lost cancel cannot leave running
(its only result ends the task anyway) stays ``wait_for``, and says why where it is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeGuard, TypeVar

__all__ = ["within"]

T = TypeVar("T")


async def within(
    awaitable: Awaitable[T], timeout: float | None, dropped: Callable[[T], object] | None = None
) -> T:
    """``await asyncio.wait_for(awaitable, timeout)``, raising ``CancelledError`` when this
    task was cancelled while waiting, even if the result came in the same turn. (Wrap a future
    another owns in ``asyncio.shield``: a timeout cancels what it waits for.) With ``timeout``
    ``None`` it only keeps the cancel, for an awaitable that waits with ``wait_for`` inside
    (nats-py's ``request``). ``dropped`` is handed a result the cancel won over, for one
    taken from where another reader would have found it (a queue's item, put back)."""
    task = asyncio.current_task()
    cancels = task.cancelling() if task is not None else 0
    try:
        result = await asyncio.wait_for(awaitable, timeout)
    except asyncio.CancelledError:
        # 3.12+ (wait_for on asyncio.timeout) raises here even when the future it awaited
        # had its result in the same turn: handed to dropped as 3.11's return is below
        if dropped is not None and _result_came(awaitable):
            dropped(awaitable.result())
        raise
    if task is not None and task.cancelling() > cancels:
        if dropped is not None:
            dropped(result)
        raise asyncio.CancelledError  # the result came with the cancel: the cancel wins
    return result


def _result_came(awaitable: Awaitable[T]) -> TypeGuard[asyncio.Future[T]]:
    """A future (not a coroutine: a cancelled ``Queue.get()`` leaves its item in the queue)
    that completed with a result."""
    return (
        isinstance(awaitable, asyncio.Future)
        and awaitable.done()
        and not awaitable.cancelled()
        and awaitable.exception() is None
    )
