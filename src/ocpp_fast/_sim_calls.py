"""The simulated stations' calls still waiting for their answer (for :mod:`.simulator`): what the
end of a run waits for, and then cuts off, so that a call the CSMS never answered is counted
(``SimulationReport.unanswered``) instead of vanishing with its station's task."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

__all__ = ["InFlight"]


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
