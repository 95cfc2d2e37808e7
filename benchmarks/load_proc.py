"""The processes of the load benchmark: starting, reading, measuring and always killing them.

CPU time and RSS come from ``/proc`` (so any process can be measured, node as
well as Python); every child is registered so that it is killed when the
harness exits, however it exits.
"""

from __future__ import annotations

import contextlib
import math
import os
import resource
import socket
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import load_report
import msgspec

CLK_TCK = os.sysconf("SC_CLK_TCK")

_children: list[subprocess.Popen[Any]] = []


def register(process: subprocess.Popen[Any]) -> None:
    """Kill ``process`` at the latest when the harness exits (``kill_children``)."""
    _children.append(process)


def kill_children() -> None:
    """SIGKILL every child still running, and reap them (atexit)."""
    for child in _children:
        if child.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                child.kill()
    for child in _children:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=10)
    _children.clear()


def exit_on_signal(signum: int, frame: Any) -> None:
    """SIGTERM / SIGINT: exit through atexit, so the children die too."""
    raise SystemExit(128 + signum)


class Child:
    """A child process whose output is read line by line by a thread (so it never blocks).

    The last 50 lines that are not reports are kept for error messages; a
    simulator's report lines (``load_report``) are decoded as they come.
    """

    def __init__(self, argv: Sequence[str]) -> None:
        self.process = subprocess.Popen(
            list(argv),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        register(self.process)
        self.pid = self.process.pid
        self.lines: list[str] = []
        self.first_line = threading.Event()
        self.progress: load_report.Progress | None = None
        self.window: load_report.Window | None = None
        self.got_window = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.first_line.set()
            if line.startswith('{"kind"'):
                with contextlib.suppress(msgspec.DecodeError):
                    message = load_report.decode(line)
                    if isinstance(message, load_report.Window):
                        self.window = message
                        self.got_window.set()
                    else:
                        self.progress = message
                    continue
            self.lines.append(line.rstrip("\n"))
            del self.lines[:-50]
        self.first_line.set()
        self.got_window.set()

    def connected(self) -> int:
        return self.progress.connected if self.progress is not None else 0

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds."""
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self.process in _children:
            _children.remove(self.process)


def wait_line(child: Child, text: str, timeout: float) -> bool:
    """Whether ``child`` printed a line holding ``text`` within ``timeout`` s (False at once
    if it exits first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(text in line for line in child.lines):
            return True
        if not child.alive():
            return False
        time.sleep(0.05)
    return False


def windows_of(simulators: Sequence[Child], notes: list[str]) -> list[load_report.Window]:
    """The windows the simulators report after SIGUSR2 (30 s each at most); a note per missing
    one."""
    windows = []
    for sim in simulators:
        sim.got_window.wait(30)
        if sim.window is None:
            notes.append(f"simulator {sim.pid} reported no window: {sim.lines[-3:]}")
        else:
            windows.append(sim.window)
    return windows


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` (all its threads), in seconds; NaN once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return math.nan
    fields = text[text.rindex(")") + 2 :].split()  # fields[0] is field 3 (state)
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_kib(pid: int) -> int:
    """Resident set size of ``pid`` in KiB (0 once it is gone)."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of all CPUs since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # user nice system idle iowait irq softirq steal
    return total - idle, total


def wait_for_quiet(limit: float, busy_max: float = 15.0) -> float:
    """Wait (at most ``limit`` s) until the machine is nearly idle over 1 s; % busy then."""
    started = time.monotonic()
    while True:
        busy0, total0 = machine_ticks()
        time.sleep(1.0)
        busy1, total1 = machine_ticks()
        busy = (busy1 - busy0) / max(1, total1 - total0) * 100
        if busy <= busy_max or time.monotonic() - started >= limit:
            return busy


def wait_listening(port: int, timeout: float) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:``port`` within ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return True
        time.sleep(0.1)
    return False


def raise_fd_limit(needed: int) -> str:
    """Raise RLIMIT_NOFILE (children inherit it); a line saying what it is now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = max(soft, needed)
    if hard != resource.RLIM_INFINITY and target > hard:
        try:  # root may raise the hard limit too
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, target))
            hard = target
        except (ValueError, OSError):
            target = hard
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    enough = "enough" if soft >= needed else "NOT enough"
    return f"RLIMIT_NOFILE soft {soft} / hard {hard} per process ({enough} for ~{needed})"
