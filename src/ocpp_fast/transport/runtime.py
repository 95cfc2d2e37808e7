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
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["PROCESS_SLOT_ENVIRONMENT", "YOUNG_THRESHOLD", "run", "settle_gc"]

PROCESS_SLOT_ENVIRONMENT = "OCPP_FAST_PROCESS_SLOT"
"""Set by ``serve --workers N`` in each process it starts: its slot, 0 to N - 1 (kept across
restarts). ``serve`` adds it to ``--metrics-port`` and ``--health-port``: the processes share
the OCPP port, but each must be scraped and probed on a port of its own."""

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
