"""``serve --workers N``: N copies of one command, kept running until the parent is told to stop.

A gateway process that dies (a crash, the OOM killer, ``kill -9``) takes its
stations' sockets with it; they reconnect to the other processes on the same
port, but the capacity is gone until someone notices. So the parent restarts a
child that exits on its own, after a back-off (0.5 s doubling to 30 s, back to
0.5 s once a child lived a minute), and gives up (stopping the others and
returning the child's exit code) when one fails to start five times in a row:
an ``on_startup`` binding a port another process holds, a database that is not
there, would otherwise loop for ever. A ``serve`` child has started once it says
so on a pipe (``READY_FD_ENVIRONMENT``), when every ``on_startup`` returned, however
long that took; another command (``tells_started=False``) once it lived ``QUICK_EXIT``
seconds.

Under ``serve --reload`` (:mod:`ocpp_fast._reload`) the same machinery serves one process
for development: a change to the app's files (``changed``) stops the child as SIGTERM does
and starts it again at once, and a child that exits on its own (an edit that no longer
imports) waits for the next change instead of the back-off: a developer fixes the file,
rather than the parent giving up after five failed starts.

On Linux each child also asks the kernel for SIGTERM when its parent dies
(``PR_SET_PDEATHSIG``), so a parent killed with ``kill -9`` leaves no gateway
behind holding the port.
"""

from __future__ import annotations

import ctypes
import logging
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from ocpp_fast._cli_log import SUPERVISOR, command_log, log_to, process_name
from ocpp_fast.transport.runtime import (
    PROCESS_COUNT_ENVIRONMENT,
    PROCESS_SLOT_ENVIRONMENT,
    READY_FD_ENVIRONMENT,
)

__all__ = ["Supervisor", "serve_processes"]

FIRST_DELAY = 0.5
"""Seconds before the first restart of a child that died."""
LONGEST_DELAY = 30.0
"""The back-off's ceiling."""
LIVED = 60.0
"""A child that ran this long before dying starts the back-off afresh."""
QUICK_EXIT = 2.0
"""A child that never says it started, dying this soon after its start, failed to start."""
QUICK_EXITS_ALLOWED = 5
"""Failed starts in a row of one slot before the parent stops every process."""
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
    ready: int | None
    """The pipe on which the child says it started (None once it did, or once closed)."""
    started_up: bool = False
    """The child said it started (its ``on_startup`` hooks returned)."""
    quick_exits: int = 0
    restart_at: float | None = None
    """When a dead child is to be started again (None while it runs; ``math.inf`` under
    ``changed``: when a file changes)."""
    reloading: bool = False
    """Stopped for a change: started again as soon as it exited, its exit no failure."""

    def heard(self) -> bool:
        """Whether the child has said it started (reading its pipe without waiting)."""
        if self.ready is not None:
            try:
                said = os.read(self.ready, 1)
            except BlockingIOError:
                return self.started_up
            self.close_pipe()
            self.started_up = said == b"1"
        return self.started_up

    def close_pipe(self) -> None:
        """Close the pipe of the process in this slot, read or not: each start opens a new one
        (a restart that left it open lost one fd each time, for as long as the parent ran)."""
        if self.ready is not None:
            os.close(self.ready)
            self.ready = None


@dataclass
class Supervisor:
    """Runs ``count`` copies of ``command``; :meth:`run` returns when they are all stopped."""

    command: Sequence[str]
    count: int
    poll: float = 0.2
    first_delay: float = FIRST_DELAY
    clock: Callable[[], float] = time.monotonic
    log: Callable[[int, str], None] = command_log.log
    """Says a restart (at WARNING) and giving up (at ERROR): ``(level, line)``, as
    :meth:`logging.Logger.log` takes them. By default the command's own log, in the format
    ``--log-format`` chose (a bare ``ocpp-fast serve: error:`` print was the default once,
    a line no collector reading JSON could parse)."""
    tells_started: bool = False
    """The command says on its pipe when it started (``ocpp-fast serve`` does): one that dies
    before that failed to start, however long it took."""
    changed: Callable[[], str | None] | None = None
    """Polled each round: a file that changed since the last call (said in the log), on which
    every child is stopped (SIGTERM) and started again as soon as it exited; with it, a
    child that exits on its own is started again on the next change, not after a back-off
    (``serve --reload``)."""
    environment: Mapping[str, str] = field(default_factory=dict)
    """Set in each child's environment, on top of this process's."""
    restarts: int = 0
    """Children started again after dying (for tests and the log)."""
    _children: list[_Child] = field(default_factory=list)
    _stopping: bool = False
    _signal: signal.Signals = signal.SIGTERM  # what the children are stopped with (stop())
    _code: int = 0

    def _start(self, slot: int) -> tuple[subprocess.Popen[bytes], int | None]:
        """Start the child of ``slot``; it and the pipe on which it will say it started
        (``None`` unless :attr:`tells_started`: a pipe nobody reads is only an fd to lose)."""
        preexec = _die_with_parent if sys.platform == "linux" else None
        env = dict(
            os.environ,
            **self.environment,
            **{PROCESS_SLOT_ENVIRONMENT: str(slot), PROCESS_COUNT_ENVIRONMENT: str(self.count)},
        )
        if not self.tells_started:
            return subprocess.Popen(list(self.command), preexec_fn=preexec, env=env), None
        ready, told = os.pipe()
        env[READY_FD_ENVIRONMENT] = str(told)
        try:
            popen = subprocess.Popen(
                list(self.command), preexec_fn=preexec, env=env, pass_fds=(told,)
            )
        except BaseException:
            os.close(ready)
            raise
        finally:
            os.close(told)
        os.set_blocking(ready, False)
        return popen, ready

    def stop(self, signum: int | None = None, frame: object = None) -> None:
        """Stop every child (the SIGINT/SIGTERM handler); :meth:`run` then returns.

        Each child is sent the signal this process got (``signum``; SIGTERM when stopped
        for another reason, or the one got before): the child's line says what stopped it
        (``stopping on SIGINT``), so an operator's Ctrl-C to this process alone (``kill
        -INT`` of its pid, a terminal that signals the parent only) read "stopping on
        SIGTERM", a stop nobody asked for. Its own stop is the same for either."""
        if signum is not None and not self._stopping:
            self._signal = signal.Signals(signum)
        self._stopping = True
        for child in self._children:
            if child.popen.poll() is None:
                child.popen.send_signal(self._signal)

    def run(self) -> int:
        """Start the children and keep them running until :meth:`stop` or a hopeless child."""
        now = self.clock()
        for slot in range(self.count):
            if self._stopping:
                break  # stopped while starting: start no more
            popen, ready = self._start(slot)
            self._children.append(_Child(slot, popen, now, self.first_delay, ready))
        if self._stopping:
            # A stop asked while the children were starting reached only those listed by
            # then: tell them all (it waited for ever on a child never told).
            self.stop()
        while not self._stopping:
            time.sleep(self.poll)
            changed = None if self.changed is None else self.changed()
            if changed is not None and not self._stopping:
                self._reload(changed)
            for child in self._children:
                self._tend(child)
        # A child waiting for a change exited before the stop: its code (an edit that did
        # not import) is not how the stop went.
        codes = [
            _exit_status(child.popen.wait())
            for child in self._children
            if child.restart_at != math.inf
        ]
        for child in self._children:
            child.close_pipe()
        return self._code or max(codes, default=0)

    def _reload(self, changed: str) -> None:
        """``changed`` changed: stop each running child (started again once it exited, by
        :meth:`_tend`), and start again at once each one that waited for a change."""
        self.log(logging.INFO, f"{changed} changed: restarting")
        for child in self._children:
            if child.restart_at == math.inf:
                child.restart_at = self.clock()
            elif child.restart_at is None:
                child.reloading = True
                if child.popen.poll() is None:
                    child.popen.send_signal(signal.SIGTERM)

    def _tend(self, child: _Child) -> None:
        now = self.clock()
        if child.restart_at is not None:
            if now >= child.restart_at and not self._stopping:
                child.close_pipe()  # the one of the process that exited, if still open
                child.popen, child.ready = self._start(child.slot)
                child.started, child.restart_at, child.started_up = now, None, False
                self.restarts += 1
            return
        code = child.popen.poll()
        if code is None or self._stopping:
            return
        lived = now - child.started
        failed = not child.heard() if self.tells_started else lived < QUICK_EXIT
        if child.reloading:  # stopped for a change: started again at once
            child.reloading = False
            child.restart_at = now
            return
        if self.changed is not None:
            before = " before it started (its error is above)" if failed else ""
            self.log(
                logging.WARNING,
                f"the app (pid {child.popen.pid}) {how_it_ended(code)}{before}; "
                "waiting for a change to start it again",
            )
            child.restart_at = math.inf
            return
        child.quick_exits = child.quick_exits + 1 if failed else 0
        if lived >= LIVED:
            child.delay = self.first_delay
        name = process_name(child.slot, self.count)
        if child.quick_exits >= QUICK_EXITS_ALLOWED:
            self.log(
                logging.ERROR,
                f"{name} failed to start {QUICK_EXITS_ALLOWED} times in a row (exit code "
                f"{code}; its error is above): stopping every process",
            )
            self._code = code or 1
            self.stop()
            return
        early = " (before it started)" if failed and self.tells_started else ""
        self.log(
            logging.WARNING,
            f"{name} (pid {child.popen.pid}) {how_it_ended(code)} after {lived:.1f} s{early}; "
            f"starting another in {child.delay:g} s",
        )
        child.restart_at = now + child.delay
        child.delay = min(child.delay * 2, LONGEST_DELAY)


def how_it_ended(code: int) -> str:
    """A process's end as an operator reads it: ``exited with code 2``, or, for the negative
    code ``Popen`` gives a process a signal ended, ``was killed by SIGKILL (signal 9)`` (an
    OOM kill or an operator's ``kill -9`` read as "exited with code -9", an exit status no
    process has)."""
    if code >= 0:
        return f"exited with code {code}"
    try:
        name = signal.Signals(-code).name
    except ValueError:
        return f"was killed by signal {-code}"
    return f"was killed by {name} (signal {-code})"


def serve_processes(argv: Sequence[str], count: int, log_format: str) -> int:
    """``serve --workers N``: N processes on one port (SO_REUSEPORT), stopped together (here,
    not in the cluster package: it needs no NATS).

    Each child is this command again with ``--reuse-port`` instead of
    ``--workers``; SIGINT/SIGTERM here stop them all; one that dies is started
    again (:class:`~ocpp_fast._supervisor.Supervisor`), its stations
    reconnecting to the others on the same port meanwhile.
    """
    command = [sys.executable, "-m", "ocpp_fast.cli", *argv, "--reuse-port"]
    # Its own lines (a restart, giving up) on stderr as before, in the children's format.
    log_to(sys.stderr, "info", log_format, process=SUPERVISOR)
    supervisor = Supervisor(command, count, tells_started=True)
    signal.signal(signal.SIGINT, supervisor.stop)
    signal.signal(signal.SIGTERM, supervisor.stop)
    return supervisor.run()


def _exit_status(code: int) -> int:
    """A child's exit code as a shell says it: ``128 + N`` for one ended by signal N, which
    ``Popen`` gives as ``-N``. The run's code is the children's highest: a child killed at
    the stop (``-9``) lost to a sibling's ``0`` and the run exited 0, and one alone made the
    command exit ``-9``, which the shell then read as 247."""
    return 128 - code if code < 0 else code
