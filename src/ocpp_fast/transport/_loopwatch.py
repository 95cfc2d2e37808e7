"""A blocked event loop, said: a watchdog thread beside the loop (``Limits.loop_blocked``).

The sweep of slow handlers (:mod:`._slow`) runs on the loop, so a handler that blocks it (a
plain ``def`` calling a database driver that is not asyncio, a ``time.sleep``, a CPU-bound
loop) stops the sweep too, and every station of the process waits with nothing in the log.
What can see that is another thread: the loop runs a heartbeat, one timer every
:func:`beat_of` seconds that writes when it is next due (nothing per CALL: the dispatch path
does not know it exists); a daemon thread looks at that when the heartbeat due would first
be over the threshold (about once per threshold while the loop runs), and once it is later
than that it samples the loop thread's stack
(``sys._current_frames()``) and says, once per blocked episode, where the loop is: the
innermost frames outside ocpp_fast and the standard library (the user's code), and the
handler among them with its action, and with its message id and station when it took a
:class:`~ocpp_fast.dispatch.CallContext`. When the loop runs the heartbeat again, a second
line says for how long it was blocked (to within half a heartbeat).

One watch per loop, however many servers (or workers) run on it, each one's metrics counting
(``ocpp_loop_blocked_total``, ``ocpp_loop_blocked_seconds_total``); its lines are its own
:class:`~ocpp_fast._ratelimit.LogLimiter`'s (a loop blocked every few seconds writes 10
episodes a minute and a count of the rest). The thread keeps a few fields, holds no
reference to a frame past a sample, and stops with the last server's close: it waits on an
event, so the stop returns as soon as the thread has seen it (at most one sample and line;
:data:`JOIN_WITHIN` at the very most).
A loop stopped (not running) is not blocked, and a closed one ends its watch.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import os
import sys
import sysconfig
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import CodeType, FrameType
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from ocpp_fast._log_text import PEER_TEXT_LIMIT, shown
from ocpp_fast._ratelimit import LogLimiter
from ocpp_fast.dispatch import CallContext, OcppHandler

if TYPE_CHECKING:
    from ocpp_fast.metrics import Metrics

__all__ = ["BEAT", "LoopWatch", "beat_of", "blocked_where", "watch_loop"]

log = logging.getLogger("ocpp_fast.loop")

BEAT = 0.25
"""Seconds between heartbeats (shorter for a threshold under a second: a quarter of it)."""
CHECKS_PER_THRESHOLD = 10
"""A block is said at most a tenth of the threshold late; while the loop is blocked (or
stopped) the thread looks that often, for its end."""
FRAMES_NAMED = 3
"""Frames named in the line besides the handler's (innermost first)."""
JOIN_WITHIN = 1.0
"""Seconds a stop waits for the thread (it sees the stop at once, unless a line it writes is
held by a log handler that blocks: then it is left, a daemon, to end with the process)."""
STACK_WALKED = 256
"""Frames looked at, outward from the innermost (a deep recursion is not walked whole)."""

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_STANDARD = tuple(
    {os.path.abspath(sysconfig.get_paths()[key]) + os.sep for key in ("stdlib", "platstdlib")}
)


def beat_of(threshold: float) -> float:
    """Seconds between heartbeats for ``threshold``: :data:`BEAT`, or a quarter of it."""
    return min(BEAT, threshold / 4)


def enabled(threshold: float | None) -> bool:
    """Whether ``Limits.loop_blocked`` asks for a watch (``None``, 0 and ``inf``: not)."""
    return threshold is not None and 0 < threshold < math.inf


def handler_codes(handlers: Iterable[OcppHandler]) -> dict[CodeType, str]:
    """The code of each handler method of ``handlers``' classes -> its action: how a frame
    on the loop's stack is known as a handler. Every class of the method resolution order
    that has a table of its own (a cluster gateway's class is the user's, derived), the
    method as written and what dispatch calls instead (a plain twin, a logging wrapper)."""
    codes: dict[CodeType, str] = {}
    for handler in handlers:
        for klass in type(handler).__mro__:
            routes = vars(klass).get("_routes")
            if not isinstance(routes, Mapping):
                continue
            for action, route in routes.items():
                for name in (route.method, route.calls):
                    member = getattr(klass, name, None)
                    code = getattr(inspect.unwrap(member), "__code__", None) if member else None
                    if isinstance(code, CodeType):
                        codes.setdefault(code, action)
    return codes


def _is_users(code: CodeType) -> bool:
    """Code outside ocpp_fast and the standard library: what the user wrote (or a library
    of theirs)."""
    path = os.path.abspath(code.co_filename)
    return not path.startswith(_PACKAGE) and not path.startswith(_STANDARD)


def _place(frame: FrameType) -> str:
    """``Csms.boot_notification (app/csms.py:42)``: the file relative to the working
    directory when under it."""
    code = frame.f_code
    path = code.co_filename
    cwd = os.getcwd() + os.sep
    if path.startswith(cwd):
        path = path[len(cwd) :]
    return f"{code.co_qualname} ({path}:{frame.f_lineno})"


LOCALS_READABLE = not sysconfig.get_config_var("Py_GIL_DISABLED")
"""Whether the watch may read a blocked handler's arguments (``f_locals``) from its thread.

With the GIL (every build ocpp_fast ships for), the watch's thread holds it while it reads,
so the loop's thread is stopped between two bytecodes: on 3.11-3.12 ``f_locals`` copies the
frame's fast locals into the frame's own dict (which the running code never reads back, but
for a ``locals()`` of its own that copies them again), on 3.13 it is a proxy read under the
same lock. On a free-threaded build nothing stops the loop's thread: the read would race
with the frame it reads, so the station and message id are not read there (the line names
the handler and its action only). They are worth the read: which station's CALL holds every
station of the process is what an operator acts on, and nothing per CALL records it."""


def _call_of(frame: FrameType) -> tuple[str, str] | None:
    """``(identity, message id)`` of the CALL a handler's frame answers, from the
    :class:`~ocpp_fast.dispatch.CallContext` among its arguments (none, or locals not
    readable from another thread on this build (:data:`LOCALS_READABLE`): ``None``). Read
    once per block, from the watch's thread, while the loop's thread waits in the handler."""
    if not LOCALS_READABLE:
        return None
    code = frame.f_code
    arguments = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
    local = frame.f_locals
    for name in arguments:
        value = local.get(name)
        if isinstance(value, CallContext):
            return value.identity, value.message_id
    return None


def _innermost_users(frames: list[FrameType]) -> list[FrameType]:
    """The user's frames the loop's thread is in, innermost first: those above the first
    frame of ocpp_fast or the standard library met outward from them. What called that one
    (a console script's ``<module>``, the user's ``main()`` that ran the loop) is how the
    program started, not where it is blocked."""
    users: list[FrameType] = []
    for frame in frames:
        if _is_users(frame.f_code):
            users.append(frame)
        elif users:
            break
    return users


def blocked_where(
    frame: FrameType | None, codes: Mapping[CodeType, str]
) -> tuple[str, dict[str, Any]]:
    """Where the loop thread is, from its innermost ``frame``: the text of the line (the
    innermost frame, then those of the user's code, innermost first, then the handler's,
    named by its action), and the record's fields (``function``, ``file``, ``line`` of the
    innermost user frame; ``action``, ``message_id``, ``identity`` where known)."""
    frames: list[FrameType] = []
    while frame is not None and len(frames) < STACK_WALKED:
        frames.append(frame)
        frame = frame.f_back
    if not frames:
        return "no Python frame on its stack", {}
    handler = next((f for f in frames if f.f_code in codes), None)
    users = _innermost_users(frames)
    named = list(dict.fromkeys([frames[0], *users[: FRAMES_NAMED - 1]]))
    if handler is not None and handler not in named:
        named.append(handler)
    text = " called by ".join(_place(f) for f in named)
    main = users[0] if users else frames[0]
    fields: dict[str, Any] = {
        "function": main.f_code.co_qualname,
        "file": main.f_code.co_filename,
        "line": main.f_lineno,
    }
    if handler is not None:
        action = codes[handler.f_code]
        fields["action"] = action
        call = _call_of(handler)
        if call is None:
            text += f", the handler of {action}"
        else:
            identity, message_id = call
            fields["identity"], fields["message_id"] = identity, message_id
            text += (
                f", the handler of {action} ({shown(message_id, PEER_TEXT_LIMIT)})"
                f" of {shown(identity, PEER_TEXT_LIMIT)}"
            )
    return text, fields


@dataclass(frozen=True, eq=False)
class _Watcher:
    """One server's (or worker's) part of a watch: its threshold, what it counts in, what
    its handlers' code is."""

    threshold: float
    metrics: Callable[[], Metrics | None]
    codes: Mapping[CodeType, str]


class LoopWatch:
    """The heartbeat on one loop and the thread that watches it."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._loop_thread = threading.get_ident()
        """The loop's thread: the one whose stack is sampled (made on the loop)."""
        self._watchers: tuple[_Watcher, ...] = ()
        """Replaced whole, never changed in place: the thread reads it without a lock."""
        self._codes: Mapping[CodeType, str] = {}
        self.threshold = math.inf
        self._due = time.monotonic()
        """When the next heartbeat is due (``time.monotonic()``, as the thread reads it)."""
        self._resumed: tuple[int, float] = (0, 0.0)
        """How many heartbeats ran later than the threshold, and how late the last one did
        (written by the heartbeat alone, a tuple at once: the thread reads it lock-free)."""
        self._timer: asyncio.TimerHandle | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lines = LogLimiter(log)
        """The thread's own limiter: a server's is the loop's, not shared across threads."""

    # --- on the loop ------------------------------------------------------------------------

    def add(self, watcher: _Watcher) -> None:
        self._set((*self._watchers, watcher))
        if self._thread is None:
            self._beat()
            self._thread = threading.Thread(
                target=self._watch, name="ocpp-fast loop watch", daemon=True
            )
            self._thread.start()

    def remove(self, watcher: _Watcher) -> bool:
        """Takes ``watcher`` out; ``True`` when it was the last (the watch has stopped)."""
        self._set(tuple(w for w in self._watchers if w is not watcher))
        if self._watchers:
            return False
        self.stop()
        return True

    def _set(self, watchers: tuple[_Watcher, ...]) -> None:
        self._watchers = watchers
        codes: dict[CodeType, str] = {}
        for watcher in watchers:
            codes.update(watcher.codes)
        self._codes = codes
        self.threshold = min((w.threshold for w in watchers), default=math.inf)

    def stop(self) -> None:
        """No heartbeat, no thread (joined: none is left once this returns)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(JOIN_WITHIN)
        self._thread = None

    def _beat(self) -> None:
        """The heartbeat: when the next one is due, and how late this one was if over the
        threshold (a float written; the thread does the rest)."""
        now = time.monotonic()
        if now - self._due > self.threshold:
            self._resumed = (self._resumed[0] + 1, now - self._due)
        beat = beat_of(self.threshold)
        self._due = now + beat
        self._timer = self._loop.call_later(beat, self._beat)

    # --- on the thread ----------------------------------------------------------------------

    def _watch(self) -> None:
        """Wake when the heartbeat due would first be over the threshold (about once a
        threshold while the loop runs: nothing to look at sooner), or every tenth of it
        while the loop is blocked or stopped; say a block once, and its end."""
        blocked, seen, wait = False, 0, self.threshold
        while not self._stop.wait(wait):
            if self._loop.is_closed():  # ended without its servers' close: let it go
                _watches.pop(self._loop, None)
                return
            threshold = self.threshold
            count, late = self._resumed
            if count != seen:  # a heartbeat came late: the loop ran again
                seen = count
                if blocked:  # late from when it was due: blocked since then or a beat before
                    self._said_resumed(late + beat_of(threshold) / 2)
                    blocked = False
            now = time.monotonic()
            late = now - self._due
            if not blocked and late > threshold and self._loop.is_running():
                blocked = True
                self._said_blocked(late)
            wait = max(threshold - late, 0.0) + threshold / CHECKS_PER_THRESHOLD

    def _said_blocked(self, late: float) -> None:
        for watcher in self._watchers:
            metrics = watcher.metrics()
            if metrics is not None:
                metrics.loop_blocked()
        frame = sys._current_frames().get(self._loop_thread)
        try:
            where, fields = blocked_where(frame, self._codes)
        finally:
            del frame  # no frame kept past the sample (nor its locals)
        self._lines.warning(
            "event loop blocked",
            "event loop blocked for more than %.3g s (no station served meanwhile), in %s",
            late,
            where,
            extra={"blocked_for": late, **fields},
        )

    def _said_resumed(self, seconds: float) -> None:
        for watcher in self._watchers:
            metrics = watcher.metrics()
            if metrics is not None:
                metrics.loop_resumed(seconds)
        self._lines.warning(
            "event loop resumed",
            "event loop runs again after being blocked for %.1f s",
            seconds,
            extra={"blocked_for": seconds},
        )


_watches: WeakKeyDictionary[asyncio.AbstractEventLoop, LoopWatch] = WeakKeyDictionary()
"""The watch of each loop that has one (at most one per loop)."""


def watch_loop(
    threshold: float | None,
    handlers: Iterable[OcppHandler] = (),
    metrics: Callable[[], Metrics | None] = lambda: None,
) -> Callable[[], None]:
    """Watch the running loop for blocks over ``threshold`` seconds (``Limits.loop_blocked``;
    ``None``, 0, ``inf``: no watch) on behalf of one server whose ``handlers`` it names and
    whose ``metrics`` count them; returns what ends that server's part (the watch itself
    with the last part: heartbeat cancelled, thread joined). Called on the loop."""
    if not enabled(threshold):
        return lambda: None
    assert threshold is not None
    loop = asyncio.get_running_loop()
    watch = _watches.get(loop)
    if watch is None:
        watch = _watches[loop] = LoopWatch(loop)
    watcher = _Watcher(threshold, metrics, handler_codes(handlers))
    watch.add(watcher)

    def release() -> None:
        if watch.remove(watcher) and _watches.get(loop) is watch:
            del _watches[loop]

    return release
