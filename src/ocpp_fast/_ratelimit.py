"""Rate-limited logging for what a peer causes: a hostile station must not flood the logs.

A station can send 100,000 CALLRESULTs with unknown ids a second; one WARNING
each would turn a few MB of its traffic into many more MB of our logs (and the
disk and log pipeline behind them). :class:`LogLimiter` lets through the first
``burst`` records of each kind per ``interval`` seconds, counts the rest, and
says how many it dropped when the next window opens. One limiter per
connection (and one per server for handshake-level events) keeps a noisy
station from silencing the others.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Hashable, Mapping
from typing import Any

__all__ = [
    "FIRST_TIMES_KEPT",
    "LOG_BURST",
    "LOG_INTERVAL",
    "ConnectionLog",
    "FirstTimes",
    "LogLimiter",
]

LOG_BURST = 10
"""Records of one kind let through per window."""
LOG_INTERVAL = 60.0
"""Seconds per window."""
FIRST_TIMES_KEPT = 4096
"""Keys a :class:`FirstTimes` remembers: about 1 MB at most for (identity, action, class)."""


class ConnectionLog(logging.LoggerAdapter[logging.Logger]):
    """The log of one connection: each line starts with its station identity, which the
    record also carries as ``identity`` (for a handler that files lines by station).

    One adapter per connection, made when it first has something to say, instead of
    ``"%s: ..." % identity`` written into every message.
    """

    def __init__(self, logger: logging.Logger, identity: str) -> None:
        super().__init__(logger, {"identity": identity})
        self._prefix = self.message_of(identity, "")

    @staticmethod
    def message_of(identity: str, message: str) -> str:
        """The message (``record.msg``, before its arguments) a line of ``identity``'s log
        has for ``message``: what a filter compares a record with."""
        return f"{identity.replace('%', '%%')}: {message}" if identity else message

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        extra = dict(kwargs.get("extra") or {})
        extra.update(self.extra or {})
        kwargs["extra"] = extra
        return f"{self._prefix}{msg}", kwargs


class LogLimiter:
    """At most ``burst`` records per kind per ``interval`` seconds on ``logger``."""

    __slots__ = ("_burst", "_clock", "_interval", "_logger", "_timely", "_windows")

    def __init__(
        self,
        logger: logging.Logger | ConnectionLog,
        burst: int = LOG_BURST,
        interval: float = LOG_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        *,
        timely: bool = False,
    ) -> None:
        self._logger = logger
        self._burst = burst
        self._interval = interval
        self._clock = clock
        self._timely = timely
        """Say a window's count when the window ends (a timer of the running event loop,
        armed by the window's first dropped record), not only when the kind's next record
        comes: for a server's lines, where the next refused station may come hours after a
        storm that ended, or never."""
        self._windows: dict[str, list[float]] = {}
        """kind -> [window start, records logged, records dropped, level of its records]."""

    def log(
        self,
        level: int,
        kind: str,
        message: str,
        *args: Any,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        """Log ``message % args`` unless ``kind`` already used its share of this window;
        ``extra`` goes on the record (for a structured log handler)."""
        if self.admits(level, kind):
            self._logger.log(level, message, *args, extra=extra)

    def admits(self, level: int, kind: str) -> bool:
        """Whether a record of ``kind`` at ``level`` may go out now (one that may not is
        counted, and said in the line that opens the kind's next window): for a caller whose
        record is already made (a :class:`logging.Filter`'s). ``False`` below the logger's
        level, uncounted."""
        if not self._logger.isEnabledFor(level):
            return False
        now = self._clock()
        window = self._windows.get(kind)
        if window is None or now - window[0] >= self._interval:
            if window is not None:
                self._say_dropped(level, kind, window, now)
            window = self._windows[kind] = [now, 0, 0, level]
        window[3] = level
        if window[1] < self._burst:
            window[1] += 1
            return True
        window[2] += 1
        if self._timely and window[2] == 1:
            self._say_at_end(kind, window, now)
        return False

    def _say_at_end(self, kind: str, window: list[float], now: float) -> None:
        """Arm the timer that says ``window``'s count at its end (nothing without a running
        loop: the next record, or a flush, says it then)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        loop.call_later(max(0.0, window[0] + self._interval - now), self._ended, kind, window)

    def _ended(self, kind: str, window: list[float]) -> None:
        """The timer of :meth:`_say_at_end`: the window's count, unless a flush or a record
        of the next window said it already; the kind's next record opens a new window."""
        if self._windows.get(kind) is window:
            del self._windows[kind]
            self._say_dropped(int(window[3]), kind, window, self._clock())

    def flush(self, level: int | None = None, *, everything: bool = False) -> None:
        """Say now, at ``level`` (``None``: at the level of the kind's own records), how many
        records of each kind were dropped in windows that ended (``everything``: in the open
        ones too, at the end of a run), rather than when the next record of that kind comes:
        one may never come (a storm that stopped)."""
        now = self._clock()
        for kind, window in list(self._windows.items()):
            if everything or now - window[0] >= self._interval:
                self._say_dropped(int(window[3]) if level is None else level, kind, window, now)
                del self._windows[kind]

    def _say_dropped(self, level: int, kind: str, window: list[float], now: float) -> None:
        if window[2]:
            dropped, seconds = int(window[2]), now - window[0]
            self._logger.log(
                level,
                "%d more %s messages suppressed in %.0f s",
                dropped,
                kind,
                seconds,
                extra={"kind": kind, "suppressed": dropped},
            )

    def warning(
        self, kind: str, message: str, *args: Any, extra: Mapping[str, Any] | None = None
    ) -> None:
        """:meth:`log` at WARNING."""
        self.log(logging.WARNING, kind, message, *args, extra=extra)

    def info(
        self, kind: str, message: str, *args: Any, extra: Mapping[str, Any] | None = None
    ) -> None:
        """:meth:`log` at INFO."""
        self.log(logging.INFO, kind, message, *args, extra=extra)


class FirstTimes:
    """Whether something happens for the first time, remembering at most ``capacity`` keys.

    "Log each (station, action, deviation) once" must not become a set that grows
    with every identity a peer invents: past ``capacity`` the oldest key is
    forgotten (it may then be logged once more, which costs a line, not memory).
    """

    __slots__ = ("_capacity", "_seen")

    def __init__(self, capacity: int = FIRST_TIMES_KEPT) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._capacity = capacity
        self._seen: dict[Hashable, None] = {}
        """In the order first seen (dicts keep it): the first one is the oldest."""

    def first(self, key: Hashable) -> bool:
        """True the first time ``key`` is given (or again once it was forgotten)."""
        seen = self._seen
        if key in seen:
            return False
        if len(seen) >= self._capacity:
            del seen[next(iter(seen))]
        seen[key] = None
        return True

    def __len__(self) -> int:
        return len(self._seen)
