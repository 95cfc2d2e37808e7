"""``ocpp-fast serve APP --reload``: an edit of the app is served without restarting the
command (real processes, a real station on 127.0.0.1); an edit that breaks it keeps the
watcher waiting for the next; the flags it cannot go with are refused; the watcher itself."""

from __future__ import annotations

import asyncio
import json
import os
import py_compile
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from serve_proc import SERVE
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from ocpp_fast._machine import free_port
from ocpp_fast._reload import Watcher, app_folders

APP = """
import msgspec

from ocpp_fast.demo import DemoChargeSystem16


class Csms(DemoChargeSystem16):
    def boot_notification(self, request):
        return msgspec.structs.replace(self.default_boot_notification(request), interval={interval})

    async def on_shutdown(self, server):
        print("on_shutdown ran", flush=True)
"""


class Reloading:
    """``ocpp-fast serve csms:Csms --reload`` in ``folder``, stdout and stderr read as one
    stream by a thread, so that a test waits for a line with a timeout (never hangs)."""

    def __init__(self, folder: Path, *flags: str) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [*SERVE, "csms:Csms", "--port", str(self.port), "--reload", *flags],
            cwd=folder,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.said: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put("")

    def until(self, text: str, timeout: float = 20) -> str:
        """The first line (from here on) holding ``text``; fails after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no line with {text!r} in {timeout} s: {self.said}") from None
            self.said.append(line)
            if not line:
                raise AssertionError(f"exited before a line with {text!r}: {self.said}")
            if text in line:
                return line

    def stop(self, sig: signal.Signals = signal.SIGINT) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(15)
        finally:
            if self.process.poll() is None:
                self.process.kill()


def boot_interval(port: int) -> int:
    """A 1.6 station's BootNotification: the interval answered."""

    async def boot() -> int:
        async with ws_connect(
            f"ws://127.0.0.1:{port}/CS1", subprotocols=[Subprotocol("ocpp1.6")]
        ) as station:
            await station.send(
                '[2,"b1","BootNotification",{"chargePointVendor":"V","chargePointModel":"M"}]'
            )
            reply = json.loads(await station.recv())
        assert reply[0] == 3, reply
        return int(reply[2]["interval"])

    return asyncio.run(asyncio.wait_for(boot(), 10))


def write_app(folder: Path, source: str) -> None:
    """Write ``csms.py``, its modification time a second on (an edit in the second the watcher
    last looked, or the cache was written, is still seen)."""
    path = folder / "csms.py"
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(textwrap.dedent(source))
    later = max(time.time_ns(), before + 1_000_000_000)
    os.utime(path, ns=(later, later))


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    write_app(tmp_path, APP.format(interval=111))
    return tmp_path


def test_an_edit_is_served_without_restarting_the_command(folder: Path) -> None:
    """The station connected at the edit is closed going away (1001: it reconnects), after
    on_shutdown ran; the command, never restarted, answers the next boot as the edit says; a
    Ctrl-C then stops it all at once."""
    served = Reloading(folder)
    try:
        served.until(f"csms:Csms on ws://127.0.0.1:{served.port}/")
        assert boot_interval(served.port) == 111

        async def edit_while_connected() -> int | None:
            async with ws_connect(
                f"ws://127.0.0.1:{served.port}/CS2", subprotocols=[Subprotocol("ocpp1.6")]
            ) as station:
                await station.send('[2,"h","Heartbeat",{}]')
                await station.recv()
                write_app(folder, APP.format(interval=2222))
                with pytest.raises(ConnectionClosed):
                    await asyncio.wait_for(station.recv(), 15)
                return station.close_code

        assert asyncio.run(edit_while_connected()) == 1001
        changed = served.until("changed: restarting")
        assert "[reloader, pid " in changed and "csms.py changed" in changed, changed
        served.until("on_shutdown ran")
        served.until(f"csms:Csms on ws://127.0.0.1:{served.port}/")
        assert boot_interval(served.port) == 2222
        # stopped by its own handling (a child ended by a signal would make it non-zero), and
        # within stop()'s 15 s, a hang's bound: how soon is no assertion on a loaded machine
        assert served.stop(signal.SIGINT) == 0
    finally:
        served.stop()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_the_served_app_says_the_signal_the_reloader_got(folder: Path, sig: signal.Signals) -> None:
    """A signal sent to the reloader's process alone (its pid, not its process group: the
    served child gets it from the reloader only) is the one the child's stop line names: a
    Ctrl-C read "stopping on SIGTERM"."""
    served = Reloading(folder)
    try:
        served.until(f"csms:Csms on ws://127.0.0.1:{served.port}/")
        served.process.send_signal(sig)  # to its pid only
        stopping = served.until("stopping on ")
        assert f"stopping on {sig.name}:" in stopping, stopping
        # the one signal stops both: a second one (stop(sig)), sent while the child was still
        # stopping (slow under load), was passed on and killed it (exit 254/241, not 0)
        assert served.process.wait(15) == 0
    finally:
        served.stop()


def test_a_broken_edit_keeps_the_watcher_waiting_for_the_next(folder: Path) -> None:
    """An edit that does not import: the one-line error, then the watcher waits (the command
    does not exit, nor restart the app in a loop); the next good edit is served."""
    served = Reloading(folder)
    try:
        served.until(f"csms:Csms on ws://127.0.0.1:{served.port}/")
        write_app(folder, APP.format(interval="(") + "\n")
        error = served.until("cannot import 'csms'")
        assert "SyntaxError at " in error and "csms.py, line " in error, error
        waiting = served.until("waiting for a change to start it again")
        assert "exited with code 2 before it started" in waiting, waiting
        time.sleep(1.5)  # nothing restarts meanwhile
        assert served.process.poll() is None
        assert served.lines.empty(), served.lines.get()
        write_app(folder, APP.format(interval=333))
        served.until("csms.py changed: restarting")
        served.until(f"csms:Csms on ws://127.0.0.1:{served.port}/")
        assert boot_interval(served.port) == 333
        assert served.stop(signal.SIGTERM) == 0
    finally:
        served.stop()


def test_reload_dir_is_what_is_watched(
    folder: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """``--reload-dir DIR``: a change under DIR restarts the app; one in the app's own folder,
    not named, does not."""
    other = tmp_path_factory.mktemp("other")
    (other / "rates.py").write_text("RATE = 1\n")
    served = Reloading(folder, "--reload-dir", str(other))
    try:
        served.until(f"under {other} (1 now)")
        served.until(f"csms:Csms on ws://127.0.0.1:{served.port}/")
        write_app(folder, APP.format(interval=444))
        time.sleep(1.5)
        assert served.lines.empty(), served.lines.get()
        (other / "rates.py").write_text("RATE = 22\n")
        served.until("rates.py changed: restarting")
        served.until(f"csms:Csms on ws://127.0.0.1:{served.port}/")
        assert boot_interval(served.port) == 444
    finally:
        served.stop()


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (["--reload"], "--reload serves your APP again when its files change: give APP"),
        (["csms:Csms", "--reload", "--workers", "2"], "not with --workers"),
        (["csms:Csms", "--reload", "--nats", "nats://127.0.0.1:1"], "not with --nats"),
        (["csms:Csms", "--reload-dir", "."], "--reload-dir needs --reload"),
        (["csms:Csms", "--reload", "--reload-dir", "absent"], "--reload-dir absent: no such"),
    ],
)
def test_what_reload_cannot_go_with_is_a_usage_error(
    folder: Path, flags: list[str], said: str
) -> None:
    run = subprocess.run(
        [*SERVE, "--port", "0", *flags], cwd=folder, capture_output=True, text=True, timeout=30
    )
    assert run.returncode == 2, (run.stdout, run.stderr)
    assert said in run.stderr, run.stderr


def test_the_watcher_sees_each_kind_of_change_and_skips_what_is_not_the_app(
    tmp_path: Path,
) -> None:
    now = [0.0]
    (tmp_path / "a.py").write_text("a = 1\n")
    (tmp_path / "notes.txt").write_text("not code\n")
    for hidden in (".venv", "__pycache__", "node_modules", "env"):
        (tmp_path / hidden).mkdir()
        (tmp_path / hidden / "lib.py").write_text("x = 1\n")
    (tmp_path / "env" / "pyvenv.cfg").write_text("home = /usr\n")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "b.py").write_text("b = 1\n")
    watcher = Watcher([tmp_path], interval=0.5, clock=lambda: now[0])
    assert watcher.watched == 2
    (tmp_path / "pkg" / "b.py").write_text("b = 22\n")
    assert watcher.changed() is None  # not yet time to look
    now[0] = 0.5
    assert watcher.changed() == str(tmp_path / "pkg" / "b.py")
    now[0] = 1.0
    assert watcher.changed() is None
    (tmp_path / "notes.txt").write_text("still not code\n")
    (tmp_path / ".venv" / "lib.py").write_text("x = 22\n")
    (tmp_path / "env" / "lib.py").write_text("x = 22\n")
    now[0] = 1.5
    assert watcher.changed() is None
    (tmp_path / "c.py").write_text("c = 1\n")
    now[0] = 2.0
    assert watcher.changed() == str(tmp_path / "c.py")
    # the changed file's cached bytecode is removed: a .pyc written within the second of
    # an edit keeping the size would be taken as current
    compiled = py_compile.compile(str(tmp_path / "c.py"))
    assert compiled is not None
    cached = Path(compiled)
    (tmp_path / "c.py").write_text("c = 2\n")
    now[0] = 2.5
    assert watcher.changed() == str(tmp_path / "c.py")
    assert not cached.exists()
    (tmp_path / "a.py").unlink()
    now[0] = 3.0
    assert watcher.changed() == str(tmp_path / "a.py")


def test_the_watcher_watches_so_many_files_at_most(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    for number in range(5):
        (tmp_path / f"m{number}.py").write_text("")
    with caplog.at_level("WARNING", "ocpp_fast"):
        watcher = Watcher([tmp_path], cap=3)
    assert watcher.watched == 3
    assert "--reload watches 3 files at most" in caplog.text


def test_app_s_package_elsewhere_is_watched_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --reload-dir: --app-dir, and APP's top-level package where it lies (found on
    sys.path without importing it), unless it lies under --app-dir."""
    (tmp_path / "here").mkdir()
    (tmp_path / "here" / "inside").mkdir()
    (tmp_path / "here" / "inside" / "__init__.py").write_text("")
    (tmp_path / "lib" / "fleet").mkdir(parents=True)
    (tmp_path / "lib" / "fleet" / "__init__.py").write_text("raise SystemExit('imported')\n")
    monkeypatch.syspath_prepend(str(tmp_path / "lib"))
    here = str(tmp_path / "here")
    assert app_folders("fleet.csms:app", here) == [here, str(tmp_path / "lib" / "fleet")]
    assert app_folders("inside.csms:app", here) == [here]
    assert app_folders("absent:app", here) == [here]
    assert "fleet" not in sys.modules
