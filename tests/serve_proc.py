"""``ocpp-fast serve`` in a process of its own, as the tests of the command run it.

On a free port (or the one given), its stdout (and its stderr when asked) piped as text, read
line by line while it serves, then stopped by a signal and what it wrote after the lines read
kept. One harness for every module that runs the command (each had its own copy of the same
``Popen``, first line, ``terminate`` and ``communicate``).

What it wrote last is read through the text streams, not with ``communicate(timeout=...)``:
that one reads the pipes' descriptors, and so loses what ``readline()`` had read ahead into
the stream's buffer (a line said together with the one a test waited for).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO

from ocpp_fast._machine import free_port

__all__ = ["SERVE", "Served", "serving", "start"]

SERVE = (sys.executable, "-m", "ocpp_fast.cli", "serve")
"""The command, as the installed ``ocpp-fast serve`` runs it."""


class Served:
    """One running ``ocpp-fast serve`` (see :func:`start`)."""

    def __init__(self, process: subprocess.Popen[str], port: int) -> None:
        self.process = process
        self.port = port
        """The OCPP port it was told to listen on."""
        self.out = ""
        """What it wrote on stdout after the lines read, once stopped."""
        self.err = ""
        """Likewise on stderr, when piped."""
        self._reading: tuple[threading.Thread, list[str]] | None = None

    def keep_reading(self) -> None:
        """Read its stdout from now on, in a thread, into :attr:`out` (once stopped): a server
        that writes much (``--log-frames --log-format json``) filled the pipe nobody read
        during the test, some 64 KiB, and then blocked on its next line, answering nothing
        more (a 2 s simulation's last calls waited for the stop)."""
        assert self.process.stdout is not None and self._reading is None
        lines: list[str] = []
        reader = threading.Thread(target=lines.extend, args=(self.process.stdout,), daemon=True)
        reader.start()
        self._reading = (reader, lines)

    def line(self) -> str:
        """Its next line on stdout (``""`` once it exited)."""
        assert self.process.stdout is not None
        return self.process.stdout.readline()

    def lines_until(self, done: Callable[[list[str]], bool], guard: float = 30) -> list[str]:
        """The lines it writes on stdout from now on, once ``done`` holds for them: for a test
        that needs what it logs on an event (a station leaving) before it is stopped, where a
        fixed sleep lost the line when the server was slow under load. ``guard``: seconds
        after which the process is stopped, so a line that never comes fails the test (the
        lines so far shown) instead of hanging it in ``readline()``."""
        stopper = threading.Timer(guard, self.process.terminate)
        stopper.start()
        lines: list[str] = []
        try:
            while not done(lines):
                line = self.line()
                assert line, f"serve exited, or said nothing more within {guard} s: {lines}"
                lines.append(line)
        finally:
            stopper.cancel()
        return lines

    def err_line(self) -> str:
        """Its next line on stderr, which must be piped (``""`` once it exited)."""
        assert self.process.stderr is not None
        return self.process.stderr.readline()

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 15) -> str:
        """Send ``sig`` (nothing if it exited already), wait ``timeout`` seconds at most for
        it to exit (then kill it: ``TimeoutExpired``), and return :attr:`out`."""
        self.process.send_signal(sig)
        rest: dict[int, str] = {}

        def read(stream: IO[str]) -> None:
            rest[id(stream)] = stream.read()

        streams = [s for s in (self.process.stdout, self.process.stderr) if s is not None]
        if self._reading is not None:  # stdout has its reader already
            streams = [s for s in streams if s is not self.process.stdout]
        readers = [threading.Thread(target=read, args=(s,), daemon=True) for s in streams]
        for reader in readers:
            reader.start()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise
        finally:
            for reader in readers:
                reader.join(timeout)
        if self._reading is not None:
            reader, lines = self._reading
            reader.join(timeout)
            self.out = "".join(lines)
        elif self.process.stdout is not None:
            self.out = rest.get(id(self.process.stdout), "")
        if self.process.stderr is not None:
            self.err = rest.get(id(self.process.stderr), "")
        return self.out


def start(
    *argv: str,
    port: int | None = None,
    stderr: bool = False,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Served:
    """``ocpp-fast serve --port PORT ARGV`` started (``port``: a free one by default), stdout
    piped, stderr too if ``stderr``; ``env`` is added to this process's environment."""
    port = free_port() if port is None else port
    process = subprocess.Popen(
        [*SERVE, "--port", str(port), *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE if stderr else None,
        text=True,
        cwd=cwd,
        env=None if env is None else {**os.environ, **env},
    )
    return Served(process, port)


@contextlib.contextmanager
def serving(
    *argv: str,
    port: int | None = None,
    stderr: bool = False,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    stop: signal.Signals = signal.SIGTERM,
    timeout: float = 15,
) -> Iterator[Served]:
    """:func:`start`, and :meth:`Served.stop` with ``stop`` when the block ends, however."""
    served = start(*argv, port=port, stderr=stderr, cwd=cwd, env=env)
    try:
        yield served
    finally:
        served.stop(stop, timeout)
