"""The drop-in's ``start()`` in an event loop with an eager task factory, as ``ocpp``'s runs.

Python 3.12 added ``asyncio.eager_task_factory`` (``loop.set_task_factory(...)``), which
backends set for speed: a task runs its first steps inside ``create_task()``, up to its first
suspension. The drop-in's ``start()`` made each CALL's task before it queued the CALL's frame,
so the eager task looked for its frame in an empty queue: ``IndexError`` out of ``start()`` at
the first CALL, nothing answered, where ``ocpp``'s ``start()`` answers as usual.

This suite runs on 3.11 too, which has no eager factory: there the test uses one of its own,
written to the same rule (the coroutine's first steps run inside the factory).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import types
from collections.abc import Coroutine, Generator, Iterator
from typing import Any

import ocpp.v16
import pytest
from compat_pair import ocpp_validating_inline
from ocpp.routing import on
from ocpp.v16 import call_result

from ocpp_fast.compat import v16


@pytest.fixture(autouse=True)
def _inline_validation() -> Iterator[None]:
    with ocpp_validating_inline():
        yield


@types.coroutine
def _resumed(coro: Coroutine[Any, Any, Any], yielded: Any) -> Generator[Any, Any, Any]:
    """The rest of ``coro``, which yielded ``yielded`` already (a task drives it from here)."""
    while True:
        try:
            received = yield yielded
        except BaseException as error:  # thrown in by the task (a cancel): passed on
            try:
                yielded = coro.throw(error)
            except StopIteration as done:
                return done.value
        else:
            try:
                yielded = coro.send(received)
            except StopIteration as done:
                return done.value


def _eager_factory_of_our_own(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> Any:
    """3.12's eager task factory, for 3.11: the coroutine's first steps run here."""
    try:
        yielded = coro.send(None)
    except StopIteration as done:  # ended in its first steps: a task holding its result
        value = done.value

        async def ended() -> Any:
            return value

        return asyncio.Task(ended(), loop=loop, **kwargs)

    async def rest() -> Any:
        return await _resumed(coro, yielded)

    return asyncio.Task(rest(), loop=loop, **kwargs)


EAGER_FACTORY = getattr(asyncio, "eager_task_factory", _eager_factory_of_our_own)


class Connection:
    """Two Heartbeat CALLs waiting to be read; what is sent is kept."""

    def __init__(self) -> None:
        self.frames: asyncio.Queue[str] = asyncio.Queue()
        for frame in ('[2,"h1","Heartbeat",{}]', '[2,"h2","Heartbeat",{}]'):
            self.frames.put_nowait(frame)
        self.sent: list[Any] = []

    async def recv(self) -> str:
        return await self.frames.get()

    async def send(self, text: str) -> None:
        self.sent.append(json.loads(text))


def backend(base: type[Any]) -> type[Any]:
    class Csms(base):  # type: ignore[misc]
        @on("Heartbeat")
        def on_heartbeat(self) -> Any:
            return call_result.Heartbeat(current_time="2026-12-04T15:00:00Z")

    return Csms


async def session(cls: type[Any]) -> tuple[list[Any], str]:
    """What ``start()`` answered, and how it ended (cancelled once both were answered)."""
    asyncio.get_running_loop().set_task_factory(EAGER_FACTORY)
    connection = Connection()
    reading = asyncio.ensure_future(cls("CP-1", connection).start())
    for _ in range(100):
        if len(connection.sent) == 2 or reading.done():
            break
        await asyncio.sleep(0)
    reading.cancel()
    try:
        await reading
    except asyncio.CancelledError:
        return connection.sent, "cancelled"
    except Exception as error:
        return connection.sent, type(error).__name__
    return connection.sent, "returned"


def test_start_answers_in_a_loop_with_an_eager_task_factory() -> None:
    theirs, ours = (
        asyncio.run(session(backend(base))) for base in (ocpp.v16.ChargePoint, v16.ChargePoint)
    )
    answer = {"currentTime": "2026-12-04T15:00:00Z"}
    assert theirs == ([[3, "h1", answer], [3, "h2", answer]], "cancelled")
    assert ours == theirs


def test_the_factory_of_our_own_starts_tasks_eagerly_as_3_12s() -> None:
    """The stand-in used on 3.11 behaves as the real factory on the point tested: the task's
    first steps ran inside ``create_task()``, the rest (after a suspension) in the loop, and a
    cancel reaches the coroutine."""

    async def main() -> list[str]:
        steps: list[str] = []

        async def work() -> str:
            steps.append("began")
            await asyncio.sleep(0)
            steps.append("resumed")
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.Event().wait()
            steps.append("cancelled")
            return "done"

        loop = asyncio.get_running_loop()
        loop.set_task_factory(_eager_factory_of_our_own)
        task = loop.create_task(work())
        steps.append("created")
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        task.cancel()
        steps.append(await task)
        return steps

    assert asyncio.run(main()) == ["began", "created", "resumed", "cancelled", "done"]
    if sys.version_info >= (3, 12):
        assert EAGER_FACTORY is asyncio.eager_task_factory
