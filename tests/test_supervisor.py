"""``serve --workers N``'s supervisor with real processes: a child that dies is started again,
a child that cannot start ends the run, and no child outlives a parent killed with ``kill -9``."""

from __future__ import annotations

import gc
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ocpp_fast import _supervisor
from ocpp_fast._supervisor import QUICK_EXITS_ALLOWED, Supervisor
from ocpp_fast.transport.runtime import PROCESS_SLOT_ENVIRONMENT, READY_FD_ENVIRONMENT

# A child that stops cleanly on SIGTERM, as a gateway does.
SLEEPER = (
    "import signal, sys, time; "
    "signal.signal(signal.SIGTERM, lambda *a: sys.exit(0)); "
    "import os; print('child', os.getpid(), flush=True); time.sleep(60)"
)


def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def catches_sigterm(pid: int) -> bool:
    """Whether ``pid`` has installed its SIGTERM handler (Linux's caught-signals mask): a
    child told to stop before it has is ended by the signal's default action, which the
    run's exit code then says (128 + 15)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    caught = next(line for line in status.splitlines() if line.startswith("SigCgt:"))
    return bool(int(caught.split()[1], 16) & (1 << (signal.SIGTERM - 1)))


def kept(lines: list[str]) -> Callable[[int, str], None]:
    """A supervisor's ``log`` keeping each line in ``lines``, after its level's name."""
    return lambda level, line: lines.append(f"{logging.getLevelName(level)} {line}")


def test_a_child_that_dies_is_started_again_and_stop_ends_them_all() -> None:
    lines: list[str] = []
    supervisor = Supervisor(
        [sys.executable, "-c", SLEEPER], 2, poll=0.05, first_delay=0.05, log=kept(lines)
    )
    codes: list[int] = []
    runner = threading.Thread(target=lambda: codes.append(supervisor.run()))
    runner.start()
    try:
        until(lambda: len(supervisor._children) == 2)
        first = [child.popen.pid for child in supervisor._children]
        os.kill(first[0], signal.SIGKILL)
        until(lambda: supervisor.restarts == 1)
        now = [child.popen.pid for child in supervisor._children]
        assert now[1] == first[1] and now[0] not in first
        assert alive(now[0]) and lines[0].startswith("WARNING process 0 of 2 (pid ")
        assert "was killed by SIGKILL (signal 9)" in lines[0]
        until(lambda: all(catches_sigterm(pid) for pid in now))  # told to stop once it can
    finally:
        supervisor.stop()
        runner.join(15)
    assert codes == [0]
    assert not any(alive(child.popen.pid) for child in supervisor._children)


@pytest.mark.parametrize(
    ("code", "said"),
    [
        (0, "exited with code 0"),
        (2, "exited with code 2"),
        (-9, "was killed by SIGKILL (signal 9)"),
        (-15, "was killed by SIGTERM (signal 15)"),
        (-200, "was killed by signal 200"),
    ],
)
def test_a_process_s_end_is_said_as_an_exit_or_as_the_signal_that_killed_it(
    code: int, said: str
) -> None:
    """``Popen``'s negative return code is a signal, not an exit status: said by its name
    (an OOM kill read "exited with code -9")."""
    assert _supervisor.how_it_ended(code) == said


def test_a_child_that_cannot_start_ends_the_run_with_its_code() -> None:
    lines: list[str] = []
    supervisor = Supervisor(
        [sys.executable, "-c", "raise SystemExit(3)"],
        1,
        poll=0.02,
        first_delay=0.01,
        log=kept(lines),
    )
    assert supervisor.run() == 3
    assert supervisor.restarts == QUICK_EXITS_ALLOWED - 1
    assert "failed to start" in lines[-1]


def test_a_child_dying_before_it_said_it_started_failed_however_long_it_took(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A serve whose on_startup fails after a slow start (a database timing out) lives longer
    than QUICK_EXIT each time: it looped for ever. Dying before it says it started is what
    counts; a child that said so and then died is restarted, never counted."""
    monkeypatch.setattr(_supervisor, "QUICK_EXIT", 0.1)
    slow_failure = "import time; time.sleep(0.3); raise SystemExit(2)"
    lines: list[str] = []

    def telling(code: str, count: int) -> Supervisor:
        """A quick supervisor of ``count`` children running ``code``, told when each started."""
        command = [sys.executable, "-c", code]
        return Supervisor(
            command, count, poll=0.02, first_delay=0.01, log=kept(lines), tells_started=True
        )

    supervisor = telling(slow_failure, 2)
    codes: list[int] = []
    runner = threading.Thread(target=lambda: codes.append(supervisor.run()))
    runner.start()
    runner.join(30)
    if runner.is_alive():
        supervisor.stop()
        runner.join(10)
    assert codes == [2], lines
    assert lines[-1].startswith("ERROR process ")
    assert f"failed to start {QUICK_EXITS_ALLOWED} times in a row (exit code 2" in lines[-1]

    # said it started (as serve does on the pipe), then died quickly: a crash, not a failed start
    started_then_died = (
        f"import os; os.write(int(os.environ['{READY_FD_ENVIRONMENT}']), b'1'); raise SystemExit(1)"
    )
    lines.clear()
    supervisor = telling(started_then_died, 1)
    runner = threading.Thread(target=supervisor.run)
    runner.start()
    try:
        until(lambda: supervisor.restarts > QUICK_EXITS_ALLOWED + 1)
    finally:
        supervisor.stop()
        runner.join(15)
    assert not any("failed to start" in line for line in lines), lines


def test_serve_says_when_it_started() -> None:
    """``ocpp-fast serve`` tells the supervisor once its on_startup hooks returned."""
    command = [sys.executable, "-m", "ocpp_fast.cli", "serve", "--port", "0", "--quiet"]
    supervisor = Supervisor(
        command, 1, poll=0.05, log=lambda level, line: print(line), tells_started=True
    )
    runner = threading.Thread(target=supervisor.run)
    runner.start()
    try:
        until(lambda: len(supervisor._children) == 1)
        until(lambda: supervisor._children[0].heard(), timeout=30)
    finally:
        supervisor.stop()
        runner.join(15)


@pytest.mark.skipif(sys.platform != "linux", reason="PR_SET_PDEATHSIG is Linux's")
def test_no_child_outlives_a_parent_killed_with_kill_9() -> None:
    parent_code = (
        "import sys; from ocpp_fast._supervisor import Supervisor; "
        f"Supervisor([sys.executable, '-c', {SLEEPER!r}], 1, poll=0.05).run()"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", parent_code], stdout=subprocess.PIPE, text=True
    )
    try:
        assert parent.stdout is not None
        said, pid = parent.stdout.readline().split()
        assert said == "child"
        child = int(pid)
        assert alive(child)
        parent.kill()
        parent.wait(5)
        until(lambda: not alive(child) or _zombie(child), timeout=5)
    finally:
        if parent.poll() is None:
            parent.kill()


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().split(") ", 1)[1].startswith("Z")
    except FileNotFoundError:
        return False


def test_a_stop_while_the_children_start_stops_every_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGTERM (``systemctl stop``) while the children are being started: the stop reached only
    the children listed by then, none here, and the supervisor waited for ever on the others."""
    supervisor = Supervisor([sys.executable, "-c", SLEEPER], 2, poll=0.05)
    start = supervisor._start

    def start_then_stop(slot: int) -> tuple[subprocess.Popen[bytes], int | None]:
        started = start(slot)
        if slot == 0:
            supervisor.stop()  # the signal, as slot 0 is started and not yet listed
        return started

    monkeypatch.setattr(supervisor, "_start", start_then_stop)
    codes: list[int] = []
    runner = threading.Thread(target=lambda: codes.append(supervisor.run()), daemon=True)
    runner.start()
    runner.join(20)
    hung = runner.is_alive()
    for child in supervisor._children:  # what a hung run left behind
        if child.popen.poll() is None:
            child.popen.kill()
    runner.join(10)
    assert not hung, "run() waited for a child that was never told to stop"
    assert len(codes) == 1  # its code: -15 when SIGTERM came before the child's handler
    assert len(supervisor._children) == 1  # no child started once the stop was asked
    assert not any(alive(child.popen.pid) for child in supervisor._children)


def test_the_default_log_is_the_commands_not_a_bare_print(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    """The default ``log`` printed ``ocpp-fast serve: error: ...`` bare on stderr, unlike every
    other line of the command: it is the command's logger now, whose format --log-format sets."""
    supervisor = Supervisor(
        [sys.executable, "-c", "raise SystemExit(3)"], 1, poll=0.02, first_delay=0.01
    )
    with caplog.at_level(logging.INFO, logger="ocpp_fast.cli"):
        assert supervisor.run() == 3
    assert "ocpp-fast serve: error:" not in capsys.readouterr().err
    failed = [r for r in caplog.records if r.name == "ocpp_fast.cli" and r.levelno == logging.ERROR]
    assert failed and "failed to start" in failed[-1].getMessage()


def test_serve_workers_needs_no_cluster_extra() -> None:
    """``serve --workers 2`` runs where nats-py is not installed (here: hidden from the parent,
    which is what supervises): it needs no NATS, and it stopped at once with "ocpp_fast.cluster
    needs nats, which is not installed" when its supervisor lived in the cluster package."""
    hidden = (
        "import sys; sys.modules['nats'] = None\n"
        "from ocpp_fast.cli import main\n"
        "sys.exit(main(['serve', '--workers', '2', '--port', '0']))\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", hidden], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    started: list[str] = []

    def read() -> None:
        assert parent.stdout is not None
        for line in parent.stdout:
            started.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        until(lambda: sum("Ctrl-C stops" in line for line in started) == 2, timeout=30)
    finally:
        parent.send_signal(signal.SIGTERM)
        _, err = parent.communicate(timeout=20)
    assert parent.returncode == 0, err
    assert "needs nats" not in err, err


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts fds in /proc")
def test_restarts_leave_no_file_descriptor_open(monkeypatch: pytest.MonkeyPatch) -> None:
    """A command that does not say it started (``tells_started=False``) was still given a
    pipe each start, never read nor closed until the run ended, and then only the last:
    one fd lost per restart, for as long as the supervisor ran."""
    monkeypatch.setattr(_supervisor, "QUICK_EXIT", 0.0)  # no failed start: restarted for ever
    monkeypatch.setattr(_supervisor, "LIVED", 0.0)  # the back-off starts afresh each time
    gc.collect()  # another test's socket closed by the collector meanwhile is not ours
    before = set(os.listdir("/proc/self/fd"))
    supervisor = Supervisor(
        [sys.executable, "-c", "pass"], 1, poll=0.01, first_delay=0.01, log=lambda *_: None
    )
    runner = threading.Thread(target=supervisor.run)
    runner.start()
    try:
        until(lambda: supervisor.restarts >= 10, timeout=30)
    finally:
        supervisor.stop()
        runner.join(15)
    assert set(os.listdir("/proc/self/fd")) <= before  # none left open (10 were, one a restart)


# A child that writes the name of the signal that stopped it (SIGINT or SIGTERM) to the file
# named by its first argument, having written "ready" there once it handles both.
NAMING_CHILD = (
    "import signal, sys, time; "
    "path = sys.argv[1]; "
    "stop = lambda sig, frame: (open(path, 'w').write(signal.Signals(sig).name), sys.exit(0)); "
    "signal.signal(signal.SIGINT, stop); signal.signal(signal.SIGTERM, stop); "
    "open(path, 'w').write('ready'); time.sleep(60)"
)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_each_child_is_stopped_with_the_signal_the_supervisor_got(
    sig: signal.Signals, tmp_path: Path
) -> None:
    """A SIGINT to the supervisor alone (``kill -INT`` of its pid, not of its process group)
    reached the children as SIGTERM, which ``serve`` then said it stopped on; each child
    now gets the signal the supervisor got, whatever the child's slot. The child's command
    reads its slot from the environment: one file per slot."""
    script = f"import os, sys; sys.argv[1] += os.environ['{PROCESS_SLOT_ENVIRONMENT}']; "
    supervisor = Supervisor(
        [sys.executable, "-c", script + NAMING_CHILD, str(tmp_path / "slot")], 2, poll=0.05
    )
    said = [tmp_path / f"slot{slot}" for slot in (0, 1)]
    codes: list[int] = []
    runner = threading.Thread(target=lambda: codes.append(supervisor.run()), daemon=True)
    runner.start()
    try:
        until(lambda: all(path.exists() and path.read_text() == "ready" for path in said))
        supervisor.stop(sig, None)  # as the signal handler is called
        runner.join(15)
    finally:
        for child in supervisor._children:
            if child.popen.poll() is None:
                child.popen.kill()
    assert codes == [0]
    assert [path.read_text() for path in said] == [sig.name, sig.name]


# A child that dies by SIGKILL when told to stop (as the OOM killer or a second signal at
# the wrong moment may end one), the other stopping cleanly; each writes its file once its
# handler is installed.
KILLED_AT_STOP = (
    "import os, pathlib, signal, sys, time; "
    f"slot = os.environ['{PROCESS_SLOT_ENVIRONMENT}']; "
    "signal.signal(signal.SIGTERM, lambda *a: os.kill(os.getpid(), signal.SIGKILL) "
    "if slot == '0' else sys.exit(0)); "
    "pathlib.Path(sys.argv[1] + slot).write_text('ready'); time.sleep(60)"
)


def test_a_child_killed_at_the_stop_makes_the_run_exit_as_a_shell_says_it(
    tmp_path: Path,
) -> None:
    """``128 + 9`` for a child ended by SIGKILL, even when its sibling stopped cleanly (the
    run exited 0: ``max(-9, 0)``)."""
    ready = tmp_path / "ready"
    supervisor = Supervisor([sys.executable, "-c", KILLED_AT_STOP, str(ready)], 2, poll=0.05)
    codes: list[int] = []
    runner = threading.Thread(target=lambda: codes.append(supervisor.run()), daemon=True)
    runner.start()
    try:
        until(lambda: all((tmp_path / f"ready{slot}").exists() for slot in (0, 1)))
        supervisor.stop(signal.SIGTERM, None)
        runner.join(15)
    finally:
        for child in supervisor._children:
            if child.popen.poll() is None:
                child.popen.kill()
    assert codes == [128 + signal.SIGKILL]
