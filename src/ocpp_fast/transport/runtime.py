"""Running a CSMS or a fleet of stations well: the event loop, and the garbage collector.

- :func:`run` runs a coroutine on uvloop where it is installed (the loop the
  picows backend is built for: several times less CPU per message than
  asyncio's own), else on asyncio's.
- :func:`settle_gc` is for after start-up: thousands of connections make
  millions of long-lived objects, and every full collection walks them all
  (pauses of hundreds of milliseconds with 5,000 stations). Freezing what
  exists moves it out of the collector's reach, and a higher first threshold
  makes young collections rarer. The process's GC is the application's to
  set, so the library never does this by itself: ``ocpp-fast serve`` and
  ``simulate`` call it, and a backend may too.
"""

from __future__ import annotations

import asyncio
import gc
import importlib.util
import os
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = [
    "PROCESS_COUNT_ENVIRONMENT",
    "PROCESS_SLOT_ENVIRONMENT",
    "READY_FD_ENVIRONMENT",
    "RELOADED_ENVIRONMENT",
    "YOUNG_THRESHOLD",
    "process_count",
    "process_slot",
    "run",
    "settle_gc",
]

PROCESS_SLOT_ENVIRONMENT = "OCPP_FAST_PROCESS_SLOT"
"""Set by ``serve --workers N`` in each process it starts: its slot, 0 to N - 1 (kept across
restarts). ``serve`` adds it to ``--metrics-port`` and ``--health-port``: the processes share
the OCPP port, but each must be scraped and probed on a port of its own."""
PROCESS_COUNT_ENVIRONMENT = "OCPP_FAST_PROCESSES"
"""Set by ``serve --workers N`` in each process it starts: N."""
READY_FD_ENVIRONMENT = "OCPP_FAST_READY_FD"
"""Set by ``serve --workers N``: the pipe on which a process says it started (every
``on_startup`` returned), so that one dying before that counts as a failed start."""
RELOADED_ENVIRONMENT = "OCPP_FAST_RELOADED"
"""Set by ``serve --reload`` in the process it starts: that one serves, where the same command
line, ``--reload`` included, watches the app's files in the parent."""


def process_slot() -> int:
    """This process's slot under ``ocpp-fast serve --workers N``: 0 to N - 1, the same across
    restarts of the process in it; 0 in a process started any other way. What an app starts
    once for all the processes (an admin API on a fixed port) starts in slot 0 only."""
    return _environment_number(PROCESS_SLOT_ENVIRONMENT, 0)


def process_count() -> int:
    """How many processes ``ocpp-fast serve --workers N`` runs: N (1 without ``--workers``)."""
    return _environment_number(PROCESS_COUNT_ENVIRONMENT, 1)


def _environment_number(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


T = TypeVar("T")
YOUNG_THRESHOLD = 20_000
"""Allocations between young collections after :func:`settle_gc` (Python's default: 700)."""


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)``, on uvloop where it is installed."""
    if importlib.util.find_spec("uvloop") is not None:
        import uvloop

        result: T = uvloop.run(main)
        return result
    return asyncio.run(main)


def settle_gc() -> None:
    """Collect once, freeze what survived, and make young collections rarer."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
