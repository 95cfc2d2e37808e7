"""The simulated stations' calls still waiting for their answer (for :mod:`.simulator`): what the
end of a run waits for, and then cuts off, so that a call the CSMS never answered is counted
(``SimulationReport.unanswered``) instead of vanishing with its station's task."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

__all__ = ["InFlight", "StationCalls"]


class InFlight:
    """The tasks of a run that wait for the answer to a call (a station's traffic, or a call it
    makes after an answer: a remote start's event, a report's parts). A task waits for one call
    at a time (OCPP-J: one CALL outstanding), so the task stands for its call."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._none = asyncio.Event()
        self._none.set()

    def begin(self) -> asyncio.Task[Any]:
        """The current task waits for an answer from now (until :meth:`end`); the task. (Two
        methods, not a context manager: this is on every call's way, and a ``contextmanager``
        costs about three times as much.)"""
        task = asyncio.current_task()
        assert task is not None  # a call is awaited in a task
        if not self._tasks:
            self._none.clear()
        self._tasks.add(task)
        return task

    def end(self, task: asyncio.Task[Any]) -> None:
        """``task`` (:meth:`begin`'s) no longer waits: answered, failed or cut off."""
        self._tasks.discard(task)
        if not self._tasks:
            self._none.set()

    async def answered(self, seconds: float) -> None:
        """Wait until no call waits for its answer any more, at most ``seconds``."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._none.wait(), max(0.0, seconds))

    def cut_off(self) -> list[asyncio.Task[Any]]:
        """Cancel every task still waiting for an answer (the run is over: each counts its
        call as unanswered as it is cancelled); the tasks, to wait for."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        return tasks


class StationCalls:
    """One station's calls waiting for their answer (each also in the run's :class:`InFlight`):
    what the station waits for at the run's end before it closes its client, so that a station
    whose own traffic is idle at the end (a remote start's event on the wire, a sample's) gets
    the wind-down a station busy with a call gets, where it closed at once and cut its call off.
    Counts, not tasks: a count is all the wait needs, and it is on every call's way."""

    __slots__ = ("_settled", "held", "queued", "waiting")

    def __init__(self) -> None:
        self.waiting = 0
        """Calls waiting for their answer (or for their queue's delivery)."""
        self.queued = 0
        """Of which transaction messages, awaited through the station's queue."""
        self.held = False
        """Whether the station's queue sends nothing more this run (:meth:`hold`)."""
        self._settled: asyncio.Future[None] | None = None

    def begin(self, queued: bool) -> None:
        """A call (``queued``: through the station's queue) waits for its answer from now."""
        self.waiting += 1
        self.queued += queued

    def end(self, queued: bool) -> None:
        """A call :meth:`begin` counted no longer waits: answered, failed or cut off."""
        self.waiting -= 1
        self.queued -= queued
        self._wake()

    def hold(self) -> None:
        """The station's queue sends nothing more this run (its head is due again after the
        end, which the simulator does not send): the messages it holds are answered no more,
        so the end waits no longer for them (they are counted once the client closed)."""
        self.held = True
        self._wake()

    def settled(self) -> bool:
        """Whether no call of the station can still be answered."""
        return self.waiting == (self.queued if self.held else 0)

    def _wake(self) -> None:
        settled = self._settled
        if settled is not None and not settled.done() and self.settled():
            settled.set_result(None)

    async def answered(self, seconds: float) -> None:
        """Wait until :meth:`settled`, at most ``seconds``."""
        if self.settled() or seconds <= 0:
            return
        self._settled = asyncio.get_running_loop().create_future()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._settled, seconds)
