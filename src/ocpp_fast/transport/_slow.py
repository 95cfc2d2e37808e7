"""Handlers that run too long, said while they run: one sweep per server, nothing per CALL.

A handler awaiting a database that never answers holds its station's CALL unanswered; the
station times out and tries again, and nothing in the log said so until the station left and
``handler_grace`` ran out. :class:`SlowHandlers` looks at every connection's running handlers
(:meth:`~ocpp_fast.aio.AsyncConnection.running`) every quarter of ``Limits.slow_handler`` and
says each one that is still there ``slow_handler`` seconds after it was first seen, once:
a timer per CALL would cost every ``async def`` handler a timer handle made and cancelled,
where one sweep costs a look at the connections that have handlers running. The lines go
through the server's :class:`~ocpp_fast._ratelimit.LogLimiter` (a database down under
thousands of stations writes 10 lines a minute and a count of the rest, not one per CALL);
``ocpp_slow_handlers_total`` counts them all.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from ocpp_fast._log_text import NAMED_CALLS, PEER_TEXT_LIMIT, named_calls, shown
from ocpp_fast._ratelimit import LogLimiter
from ocpp_fast.aio import AsyncConnection

if TYPE_CHECKING:
    from ocpp_fast.metrics import Metrics

__all__ = ["NAMED_CALLS", "SlowHandlers", "drain_or_stop", "in_hand", "named_calls"]

SWEEPS_PER_THRESHOLD = 4
"""Sweeps per ``slow_handler`` seconds: a handler is said between ``slow_handler`` and
``slow_handler`` plus two sweeps (a quarter of it each) after it started."""


def named_stations(parts: Sequence[str], total: int) -> str:
    """``CS1: 2 (Authorize m1, Heartbeat m2), CS2: 1 (Reset m7) and 3 more stations``: the
    stations named (``parts``, each ``identity: count (calls)``), then how many more of
    ``total``: the one line of a stop that cancels CALLs, on a server and on a worker."""
    more = total - len(parts)
    named = ", ".join(parts)
    return f"{named} and {more} more stations" if more > 0 else named


def in_hand(connection: AsyncConnection, limit: int = NAMED_CALLS) -> str:
    """The handlers of ``connection`` running now, the first ``limit`` named
    (:func:`named_calls`), the others counted."""
    calls = [(action, message_id) for _, action, message_id in connection.running()]
    return named_calls(calls, limit=limit)


async def drain_or_stop(connection: AsyncConnection, timeout: float) -> str | None:
    """Let the handlers of ``connection`` answer for ``timeout`` seconds; ``None`` when none
    is left, else those still running named (:func:`in_hand`, for the caller's line) and
    then cancelled (``connection.stop()``): a station gone past ``handler_grace``, and a
    station's own client closing, end their handlers so."""
    if await connection.drain(timeout):
        return None
    running = in_hand(connection)
    connection.stop()
    return running


class SlowHandlers:
    """Says each handler still running ``threshold`` seconds after it was first seen, once."""

    def __init__(
        self,
        threshold: float,
        lines: LogLimiter,
        metrics: Callable[[], Metrics | None] = lambda: None,
    ) -> None:
        self.threshold = threshold
        self.interval: float = threshold / SWEEPS_PER_THRESHOLD
        self._lines = lines
        self._metrics = metrics
        self._first_seen: dict[object, float] = {}
        """What runs each handler seen by the last sweep -> when a sweep first saw it: a
        handler older than the sweep that first saw it, and no older than the one before."""
        self._said: set[object] = set()
        """Those already said (once each)."""

    @property
    def enabled(self) -> bool:
        """``False`` for a threshold of ``inf`` (``--limit slow_handler=inf``): no sweep."""
        return not math.isinf(self.threshold)

    def sweep(self, connections: Iterable[tuple[str, AsyncConnection]], now: float) -> int:
        """Look at the handlers of ``connections`` (``(identity, connection)``) at ``now``
        (loop time); say those over the threshold not said yet. Returns how many it said."""
        previous, seen, said = self._first_seen, {}, 0
        for identity, connection in connections:
            if not connection.handling:
                continue
            for runner, action, message_id in connection.running():
                first = seen[runner] = previous.get(runner, now)
                if now - first >= self.threshold and runner not in self._said:
                    self._said.add(runner)
                    self._say(identity, action, message_id, now - first)
                    said += 1
        self._first_seen = seen
        self._said.intersection_update(seen)
        return said

    def _say(self, identity: str, action: str, message_id: str, seconds: float) -> None:
        self._lines.warning(
            "slow handler",
            "%s: handler of %s (%s) still running after %.3g s",
            identity,
            action,
            shown(message_id, PEER_TEXT_LIMIT),
            seconds,
            extra={"identity": identity, "action": action, "message_id": message_id},
        )
        metrics = self._metrics()
        if metrics is not None:
            metrics.slow_handler(action)

    async def run(self, connections: Callable[[], Iterable[tuple[str, AsyncConnection]]]) -> None:
        """Sweep every :attr:`interval` seconds until cancelled (the server's close)."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.interval)
            self.sweep(connections(), loop.time())
