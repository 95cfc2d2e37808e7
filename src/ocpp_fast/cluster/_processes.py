"""``serve --workers N``: N copies of one command, kept running until the parent is told to stop.

A gateway process that dies (a crash, the OOM killer, ``kill -9``) takes its
stations' sockets with it; they reconnect to the other processes on the same
port, but the capacity is gone until someone notices. So the parent restarts a
child that exits on its own, after a back-off (0.5 s doubling to 30 s, back to
0.5 s once a child lived a minute), and gives up (stopping the others and
returning the child's exit code) when one exits within 2 s of its start five
times in a row: a wrong flag or a port in use would otherwise loop for ever.

On Linux each child also asks the kernel for SIGTERM when its parent dies
(``PR_SET_PDEATHSIG``), so a parent killed with ``kill -9`` leaves no gateway
behind holding the port.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ocpp_fast.transport.runtime import PROCESS_SLOT_ENVIRONMENT

__all__ = ["Supervisor"]

FIRST_DELAY = 0.5
"""Seconds before the first restart of a child that died."""
LONGEST_DELAY = 30.0
"""The back-off's ceiling."""
LIVED = 60.0
"""A child that ran this long before dying starts the back-off afresh."""
QUICK_EXIT = 2.0
"""A child that dies this soon after its start failed to start."""
QUICK_EXITS_ALLOWED = 5
"""Failed starts in a row of one child before the parent gives up."""
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the parent dies (Linux only; else nothing)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    except (OSError, AttributeError):
        pass


@dataclass
class _Child:
    """One slot of the supervisor: the process in it now, and how its recent runs went."""

    slot: int
    popen: subprocess.Popen[bytes]
    started: float
    delay: float
    """The wait before this slot's next restart."""
    quick_exits: int = 0
    restart_at: float | None = None
    """When a dead child is to be started again (None while it runs)."""


@dataclass
class Supervisor:
    """Runs ``count`` copies of ``command``; :meth:`run` returns when they are all stopped."""

    command: Sequence[str]
    count: int
    poll: float = 0.2
    first_delay: float = FIRST_DELAY
    clock: Callable[[], float] = time.monotonic
    log: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True)
    restarts: int = 0
    """Children started again after dying (for tests and the log)."""
    _children: list[_Child] = field(default_factory=list)
    _stopping: bool = False
    _code: int = 0

    def _start(self, slot: int) -> subprocess.Popen[bytes]:
        preexec = _die_with_parent if sys.platform == "linux" else None
        env = dict(os.environ, **{PROCESS_SLOT_ENVIRONMENT: str(slot)})
        return subprocess.Popen(list(self.command), preexec_fn=preexec, env=env)

    def stop(self, signum: int = signal.SIGTERM, frame: object = None) -> None:
        """Stop every child (the SIGINT/SIGTERM handler); :meth:`run` then returns."""
        self._stopping = True
        for child in self._children:
            if child.popen.poll() is None:
                child.popen.send_signal(signal.SIGTERM)

    def run(self) -> int:
        """Start the children and keep them running until :meth:`stop` or a hopeless child."""
        now = self.clock()
        self._children = [
            _Child(slot, self._start(slot), now, self.first_delay) for slot in range(self.count)
        ]
        while not self._stopping:
            time.sleep(self.poll)
            for child in self._children:
                self._tend(child)
        codes = [child.popen.wait() for child in self._children]
        return self._code or max(codes, default=0)

    def _tend(self, child: _Child) -> None:
        now = self.clock()
        if child.restart_at is not None:
            if now >= child.restart_at and not self._stopping:
                child.popen, child.started, child.restart_at = self._start(child.slot), now, None
                self.restarts += 1
            return
        code = child.popen.poll()
        if code is None or self._stopping:
            return
        lived = now - child.started
        child.quick_exits = child.quick_exits + 1 if lived < QUICK_EXIT else 0
        if lived >= LIVED:
            child.delay = self.first_delay
        if child.quick_exits >= QUICK_EXITS_ALLOWED:
            self.log(
                f"process {child.popen.pid} failed to start {QUICK_EXITS_ALLOWED} times "
                f"(exit code {code}): stopping"
            )
            self._code = code or 1
            self.stop()
            return
        self.log(
            f"process {child.popen.pid} exited with code {code} after {lived:.1f} s; "
            f"starting another in {child.delay:g} s"
        )
        child.restart_at = now + child.delay
        child.delay = min(child.delay * 2, LONGEST_DELAY)
