"""Waiting for an answer with a timeout, a cancel kept.

Python 3.11's ``asyncio.wait_for`` returns the result of a future that completed in the same
turn of the loop as its task was cancelled, and drops the cancel (3.12's, built on
``asyncio.timeout``, raises ``CancelledError``): a task awaiting ``call()`` when it was
cancelled went on as if it had not been, and a simulator stopped while a station waited for
its answer ran to its planned end. :func:`answer_within` is that wait with the cancel kept.
"""

from __future__ import annotations

import asyncio
from typing import TypeVar

__all__ = ["answer_within"]

T = TypeVar("T")


async def answer_within(future: asyncio.Future[T], timeout: float | None) -> T:
    """``await asyncio.wait_for(asyncio.shield(future), timeout)`` (``future`` is left for its
    owner to complete or drop), raising ``CancelledError`` when this task was cancelled while
    waiting, even if the result came in the same turn."""
    task = asyncio.current_task()
    cancels = task.cancelling() if task is not None else 0
    result = await asyncio.wait_for(asyncio.shield(future), timeout)
    if task is not None and task.cancelling() > cancels:
        raise asyncio.CancelledError  # the answer came with the cancel: the cancel wins
    return result
