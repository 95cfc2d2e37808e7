"""Per-action counters the dispatch path writes without a method call (:mod:`ocpp_fast.metrics`).

Counting a CALL answered on the compiled path through ``Metrics.frame`` and
``Metrics.handled`` was three Python calls and two tuple-keyed dict updates per
message, a fifth of the live path's instructions. Instead each action of a
:class:`~ocpp_fast.metrics.Metrics` has one *cell*: an ``array('d')`` the compiled
path (``_dispatch_c``) writes through its C buffer and its pure twin
(``_dispatch_py``) by index, the same arithmetic in the same doubles. It holds:

- ``[0:BINS]``: the handler-time histogram's per-bucket counts, ``+Inf`` last;
- ``[SUM]``: the seconds those handlers took;
- ``[CALLS_IN]``, ``[RESULTS_OUT]``: the CALLs the dispatch path took and the
  CALLRESULTs it answered, added to ``ocpp_messages_total`` when it is read;
- ``[SENDS_IN]``: the SENDs (2.1) it took, added there alike (``kind="send"``): the
  count that was a ``Metrics.frame`` call (a Python frame, a tuple key) per SEND.

This module has no dependency (the pure twin imports it; ``prometheus-client`` is
an extra), so the layout is written down once for the three of them.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left

__all__ = [
    "BINS",
    "BUCKETS",
    "CALLS_IN",
    "RESULTS_OUT",
    "SENDS_IN",
    "SIZE",
    "SUM",
    "new_cell",
    "observe",
]

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)
"""Upper bounds of the handler-time histogram, in seconds (the last bucket is +Inf)."""
BINS = len(BUCKETS) + 1
SUM = BINS
CALLS_IN = BINS + 1
RESULTS_OUT = BINS + 2
SENDS_IN = BINS + 3
SIZE = BINS + 4
_FIRST_BOUND = BUCKETS[0]


def new_cell() -> array[float]:
    """A cell of zeros."""
    return array("d", (0.0,)) * SIZE


def observe(cell: array[float], seconds: float) -> None:
    """Count a handler's time in its bucket (the first bound at or above it) and its sum."""
    # most plain handlers take well under the first bound: no search for them
    cell[0 if seconds <= _FIRST_BOUND else bisect_left(BUCKETS, seconds)] += 1
    cell[SUM] += seconds
