"""``ocpp-fast serve [APP]`` and ``ocpp-fast worker APP``: every form APP takes (one loader for
both commands), the flags a deployment sets, and the demo answering 1.6, 2.0.1 and 2.1 on one
port; real processes and sockets on 127.0.0.1, on both backends."""

from __future__ import annotations

import asyncio
import datetime
import re
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from cluster_procs import NatsServer, Proc
from serve_proc import serving, start
from test_transport import Pki
from websockets.asyncio.client import connect as ws_connect
from websockets.typing import Subprotocol

from ocpp_fast._app import AppError, load_app
from ocpp_fast._cli_serve import limits_of
from ocpp_fast._machine import free_port
from ocpp_fast.cli import main
from ocpp_fast.demo import DemoChargeSystem, DemoChargeSystem16
from ocpp_fast.errors import HandshakeFailed
from ocpp_fast.simulator import simulate
from ocpp_fast.transport import connect
from ocpp_fast.transport.backend import BACKENDS
from ocpp_fast.v16 import Charger as Charger16
from ocpp_fast.v16 import messages as messages16

APP = """
import asyncio
import os

from ocpp_fast import v16, v201
from ocpp_fast.demo import DemoChargeSystem, DemoChargeSystem16
from ocpp_fast._cli_serve import limits_of

class Csms(DemoChargeSystem):
    pass

one = Csms()
both = {"1.6": DemoChargeSystem16, "ocpp2.0.1": Csms()}
listed = [DemoChargeSystem16(), Csms]
wrong_key = {"ocpp1.6": Csms()}
nothing = 42

def make():
    return both

async def make_later():
    await asyncio.sleep(0)
    return [Csms(), DemoChargeSystem16()]

def admit_all(station):
    return True

class NeedsConfig(DemoChargeSystem):
    def __init__(self, dsn):
        self.dsn = dsn

class Busy(DemoChargeSystem):
    async def on_startup(self, server):
        raise OSError(98, "address already in use")

class SlowToStop(DemoChargeSystem):
    async def on_shutdown(self, server):
        await asyncio.Event().wait()  # cancelled at the stop's deadline

class OneAdmin(DemoChargeSystem):
    # An admin API on a fixed port, in process slot 0 only (of --workers N).

    async def on_startup(self, server):
        if server.process_slot == 0:
            port = int(os.environ["ADMIN_PORT"])
            self.admin = await asyncio.start_server(self.answer, "127.0.0.1", port)
        # Said once the admin API listens; one write per line: two processes share the
        # pipe, and print() may split a line.
        os.write(1, f"slot {server.process_slot} of {server.process_count}\\n".encode())

    async def answer(self, reader, writer):
        writer.write(b"admin\\n")
        await writer.drain()
        writer.close()
"""


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "fleet_app.py").write_text(textwrap.dedent(APP))
    return folder


def subprotocols(spec: str, app_dir: Path, factory: bool = False) -> list[str]:
    return list(asyncio.run(load_app(spec, factory=factory, app_dir=app_dir)))


def test_every_form_of_app(app_dir: Path) -> None:
    assert subprotocols("fleet_app:Csms", app_dir) == ["ocpp2.0.1"]
    assert subprotocols("fleet_app:one", app_dir) == ["ocpp2.0.1"]
    assert subprotocols("fleet_app:both", app_dir) == ["ocpp1.6", "ocpp2.0.1"]
    assert subprotocols("fleet_app:listed", app_dir) == ["ocpp1.6", "ocpp2.0.1"]
    assert subprotocols("fleet_app:make", app_dir, factory=True) == ["ocpp1.6", "ocpp2.0.1"]
    assert subprotocols("fleet_app:make_later", app_dir, factory=True) == ["ocpp2.0.1", "ocpp1.6"]
    handlers = asyncio.run(load_app("fleet_app:both", app_dir=app_dir))
    assert isinstance(handlers["ocpp1.6"], DemoChargeSystem16)
    assert isinstance(handlers["ocpp2.0.1"], DemoChargeSystem)


@pytest.mark.parametrize(
    ("spec", "factory", "said"),
    [
        ("fleet_app:make", False, "pass --factory"),
        ("fleet_app:nothing", False, "expected a ChargeSystem"),
        ("fleet_app:nothing", True, "not a function"),
        ("fleet_app:wrong_key", False, "use the key 'ocpp2.0.1'"),
        ("fleet_app:absent", False, "has no attribute 'absent'$"),
        ("fleet_app:bth", False, "has no attribute 'bth'; did you mean 'both'\\?"),
        ("no_such_module:app", False, "no module 'no_such_module'"),
        ("fleet_app", False, "module:attribute"),
        (
            "fleet_app:NeedsConfig",
            False,
            r"fleet_app:NeedsConfig: NeedsConfig\(\) raised TypeError: .*missing 1 required "
            r"positional argument: 'dsn'; a class is made with no arguments: serve an instance, "
            r"or a function with --factory",
        ),
    ],
)
def test_what_is_not_an_app_is_said_plainly(
    app_dir: Path, spec: str, factory: bool, said: str
) -> None:
    with pytest.raises(AppError, match=said):
        asyncio.run(load_app(spec, factory=factory, app_dir=app_dir))


def test_a_missing_module_names_the_directory_looked_in(
    app_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default ``--app-dir .`` is named as the absolute directory it was: ``.`` says
    nothing in the log of a unit or a container."""
    monkeypatch.chdir(app_dir)
    monkeypatch.setattr(sys, "path", list(sys.path))  # the app's directory goes first
    with pytest.raises(AppError) as raised:
        asyncio.run(load_app("no_such_module:app", app_dir="."))
    assert (
        str(raised.value)
        == f"no module 'no_such_module' (looked in {app_dir.resolve()} and sys.path)"
    )
    with pytest.raises(AppError, match=r"\(looked in sys\.path\)$"):
        asyncio.run(load_app("no_such_module:app", app_dir=None))


@pytest.mark.parametrize("backend", BACKENDS)
def test_serve_a_factory_from_the_project_folder_with_both_versions_on_one_port(
    app_dir: Path, backend: str
) -> None:
    flags = ["fleet_app:make", "--factory", "--quiet", "--backend", backend]
    with serving(*flags, cwd=app_dir) as server:
        port = server.port
        first = server.line()
        assert f"fleet_app:make on ws://127.0.0.1:{port}/<identity>" in first
        assert "(ocpp1.6, ocpp2.0.1)" in first

        async def stations() -> tuple[bytes, str | None]:
            async with ws_connect(
                f"ws://127.0.0.1:{port}/CS16", subprotocols=[Subprotocol("ocpp1.6")]
            ) as websocket:
                await websocket.send('[2,"h1","Heartbeat",{}]')
                reply = await websocket.recv(decode=False)
            # a station offering only a version not served: the handshake without a
            # subprotocol, then the close (OCPP-J)
            async with ws_connect(
                f"ws://127.0.0.1:{port}/CS21", subprotocols=[Subprotocol("ocpp2.1")]
            ) as refused:
                agreed = refused.subprotocol
                await refused.wait_closed()
            assert refused.close_code == 1002
            assert isinstance(reply, bytes)
            return reply, agreed

        reply, agreed = asyncio.run(asyncio.wait_for(stations(), 10))
        assert reply.startswith(b'[3,"h1",{"currentTime":')
        assert agreed is None
    assert server.out.strip().endswith("stopped")


def test_flags_that_are_wrong_are_refused_before_serving(app_dir: Path) -> None:
    for flags, said in [
        (
            ["--security-profile", "2", "--authorize", "fleet_app:admit_all"],
            "TLS needs --ssl-certfile",
        ),
        (["--security-profile", "1"], "security profile 1 checks each station's password"),
        (  # it served wss:// (in effect profile 2) without a word
            [
                "--security-profile",
                "1",
                "--authorize",
                "fleet_app:admit_all",
                "--ssl-certfile",
                "absent.pem",
            ],
            "with --ssl-certfile it is profile 2: pass --security-profile 2",
        ),
        (["--security-profile", "2", "--ssl-certfile", "absent.pem"], "pass --authorize"),
        (
            ["--authorize", "fleet_app:admit_all", "--ssl-certfile", "absent.pem"],
            "--ssl-certfile absent.pem: No such file",
        ),
        (["--limit", "handler_grace=soon"], "is no float"),
        (["--limit", "speed=3"], "use NAME=VALUE"),
        (["--limit", "max_connection=20000"], "; did you mean 'max_connections'?"),
        # Limits' own check, said with the flag (it was said without naming --limit)
        (["--limit", "loop_blocked=-1"], "--limit loop_blocked=-1: Limits.loop_blocked must be"),
        (["--limit", "handler_grace=none"], "'none' is no float"),
        # a handshake timeout of 0 served, every station logged refused and then connected
        (
            ["--limit", "handshake_timeout=0"],
            "--limit handshake_timeout=0: Limits.handshake_timeout must be a number of seconds",
        ),
        (["--tolerate", "everything"], "unknown tolerance"),
        (
            ["--authorize", "fleet_app:absent"],
            "--authorize fleet_app:absent: module 'fleet_app' has no attribute 'absent'",
        ),
        (["--authorize", "fleet_app:nothing"], "--authorize fleet_app:nothing is int, not a func"),
        (["fleet_app:make"], "pass --factory"),
        # numbers out of range: 99999 listened on 34463, a metrics port over 65535 was a
        # traceback (exit 1), and the others were taken as they came
        (["--port", "99999"], "argument --port: 99999 is no port (0 to 65535)"),
        (["--metrics-port", "70000"], "argument --metrics-port: 70000 is no port"),
        (["--health-port", "-1"], "argument --health-port: -1 is no port"),
        (["--shutdown-timeout", "-1"], "argument --shutdown-timeout: -1 is no number of sec"),
        (["--ping-interval", "-5"], "argument --ping-interval: -5 is no number of seconds"),
        (["--max-size", "0"], "argument --max-size: 0 is not 1 or more"),
        (["--nats-write-window", "-0.1"], "argument --nats-write-window: -0.1 is no number"),
        (["--workers", "0"], "argument --workers: 0 is not 1 or more"),
        # process 1's metrics on 9101, process 0's probes: process 0 failed to start 5 times
        (
            ["--workers", "2", "--metrics-port", "9100", "--health-port", "9101"],
            "--workers 2 takes --health-port 9101 to 9102 (process k serves on --health-port"
            " + k), which overlaps --metrics-port 9100 to 9101: give ports 2 apart",
        ),
        (
            ["--workers", "2", "--port", "9101", "--metrics-port", "9100"],
            "which overlaps --port 9101",
        ),
        # the hidden cluster timings, unchecked floats that took 0 and -1 (a --limit mistake
        # after them, so that a command accepting them still stops, saying something else)
        (
            ["--worker-timeout", "0", "--limit", "speed=3"],
            "argument --worker-timeout: 0 is no number of seconds above 0",
        ),
        (
            ["--registry-ttl", "-1", "--limit", "speed=3"],
            "argument --registry-ttl: -1 is no number of seconds above 0",
        ),
    ]:
        run = subprocess.run(
            [sys.executable, "-m", "ocpp_fast.cli", "serve", "--app-dir", str(app_dir), *flags],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert run.returncode == 2, (flags, run.stdout, run.stderr)
        assert said in run.stderr, (flags, run.stderr)


FAILURE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z error (?P<message>[^\n]*)\n")
"""A failure to start as the command writes it on stderr (``--log-format text``): one line."""


def failure(stderr: str) -> str:
    """The message of the one line ``stderr`` holds, a failure to start."""
    said = FAILURE.fullmatch(stderr)
    assert said, stderr
    return said["message"]


def test_a_port_in_use_is_said_plainly() -> None:
    """The OCPP port or the probes' port taken: exit 2 and one line, no traceback."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        used = str(taken.getsockname()[1])
        for flags in (["--port", used], ["--port", "0", "--health-port", used]):
            run = subprocess.run(
                [sys.executable, "-m", "ocpp_fast.cli", "serve", *flags],
                capture_output=True,
                text=True,
                timeout=30,
            )
            assert run.returncode == 2, (flags, run.stdout, run.stderr)
            assert "in use" in failure(run.stderr), run.stderr
            assert "Traceback" not in run.stderr, run.stderr
            # the flag that chose the port taken, which the bind's error does not name
            assert f"give another port than {flags[-2]} {used})" in run.stderr, run.stderr


def test_workers_start_an_admin_api_in_slot_0_only(app_dir: Path) -> None:
    """``--workers 2``: every process runs on_startup, each knows its slot and the count, and
    the app's admin API on a fixed port starts once (it crash-looped every process but the
    first when each tried to bind it)."""
    admin = free_port()
    flags = ["fleet_app:OneAdmin", "--app-dir", str(app_dir), "--workers", "2"]
    with serving(*flags, stderr=True, env={"ADMIN_PORT": str(admin)}, timeout=20) as server:
        said: list[str] = []
        while len(said) < 8 and not {"slot 0 of 2", "slot 1 of 2"} <= set(said):
            said.append(server.line().strip())  # "" at EOF: a process died
        assert {"slot 0 of 2", "slot 1 of 2"} <= set(said), said
        with socket.create_connection(("127.0.0.1", admin), timeout=10) as api:
            assert api.makefile().readline() == "admin\n"
    err = server.err
    assert server.process.returncode == 0, err
    assert "exited with code" not in err and "Traceback" not in err, err


def failed_starts(app_dir: Path, *argv: str) -> dict[bool, subprocess.CompletedProcess[str]]:
    """``ocpp-fast serve ARGV`` without and with ``--log-level debug`` (the keys), each of
    which must exit 2, as every failure to start does."""
    command = [sys.executable, "-m", "ocpp_fast.cli", "serve", *argv, "--port", "0"]
    runs = {}
    for debug in (False, True):
        run = subprocess.run(
            [*command, "--app-dir", str(app_dir), *(["--log-level", "debug"] if debug else [])],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert run.returncode == 2, (debug, run.stdout, run.stderr)
        runs[debug] = run
    return runs


def test_an_on_startup_that_raises_is_one_line_naming_the_hook(app_dir: Path) -> None:
    """Exit 2, as for every failure to start, and one line on stderr; the hook's traceback only
    at --log-level debug."""
    for debug, run in failed_starts(app_dir, "fleet_app:Busy").items():
        assert failure(run.stderr) == (
            "fleet_app:Busy: on_startup of Busy failed: OSError: [Errno 98] address already in use"
        ), run.stderr
        traceback = "Traceback" in run.stdout and 'raise OSError(98, "address' in run.stdout
        assert traceback == debug, run.stdout


BROKEN = {
    "typo_app": "from ocpp_fast.demo import DemoChargeSystem\n\nclass Csms(DemoChargeSystem)\n",
    "raising_app": "import os\n\nPORT = int(os.environ['NO_SUCH_SETTING_FOR_THE_TEST'])\n",
    # needs a package not installed, named like the app's own module (not "no module typo")
    "typo_dep": "import typo\n",
    "late_app": "def make():\n    raise RuntimeError('no database')\n",
    # a runnable example of the docs served as it is: its main runs at import, in our loop
    "loop_app": "import asyncio\n\nasync def main():\n    pass\n\nasyncio.run(main())\n",
}


@pytest.mark.parametrize(
    ("spec", "said", "line"),
    [
        (
            "typo_app:Csms",
            "cannot import 'typo_app': SyntaxError at {dir}/typo_app.py, line 3: expected ':'",
            3,
        ),
        (
            "raising_app:PORT",
            "cannot import 'raising_app': KeyError: 'NO_SUCH_SETTING_FOR_THE_TEST' "
            "(at {dir}/raising_app.py, line 3)",
            3,
        ),
        (
            "typo_dep:app",
            "cannot import 'typo_dep': ModuleNotFoundError: No module named 'typo' "
            "(at {dir}/typo_dep.py, line 1)",
            1,
        ),
        (
            "late_app:make",
            "--factory: late_app:make raised RuntimeError: no database "
            "(at {dir}/late_app.py, line 2)",
            2,
        ),
        (
            "loop_app:Csms",
            "cannot import 'loop_app': RuntimeError: asyncio.run() cannot be called from a "
            "running event loop (at {dir}/loop_app.py, line 6); the module starts its own event "
            "loop at import (asyncio.run(main()) say): put that under "
            'if __name__ == "__main__":, as ocpp-fast runs the loop',
            6,
        ),
    ],
    ids=["syntax-error", "raises-at-import", "missing-dependency", "factory-raises", "own-loop"],
)
def test_an_app_that_does_not_import_is_one_line_naming_file_and_line(
    app_dir: Path, spec: str, said: str, line: int
) -> None:
    """A syntax error, an exception at import, a missing dependency, a factory that raises:
    exit 2 and one line on stderr saying where, as for every failure to start (it was a
    traceback and exit 1); the traceback only at --log-level debug."""
    for name, source in BROKEN.items():
        (app_dir / f"{name}.py").write_text(source)
    for debug, run in failed_starts(app_dir, spec, "--factory").items():
        assert failure(run.stderr).startswith(said.format(dir=app_dir)), run.stderr
        traceback = "Traceback" in run.stdout and f'.py", line {line}' in run.stdout
        assert traceback == debug, run.stdout


@pytest.mark.parametrize(
    "command",
    [
        ["serve", "--port", "0", "--shutdown-timeout", "1"],
        ["worker", "fleet_app:make_later", "--factory"],
    ],
    ids=["serve", "worker"],
)
def test_a_stop_while_nats_does_not_answer_ends_the_command(
    app_dir: Path, command: list[str]
) -> None:
    """A gateway or worker waiting for a NATS server that is down (started before it, or a
    wrong URL) stops on SIGTERM, as Ctrl-C does: the signal waited for the start, which waits
    for NATS without end, so only SIGKILL ended it. The "NATS server" is the test's socket,
    which closes each connection at once: its first one says the command waits for NATS."""
    with socket.create_server(("127.0.0.1", 0)) as not_nats:
        nats = f"nats://127.0.0.1:{not_nats.getsockname()[1]}"
        argv = [sys.executable, "-m", "ocpp_fast.cli", *command, "--app-dir", str(app_dir)]
        proc = Proc([*argv, "--nats", nats])
        not_nats.settimeout(20)
        not_nats.accept()[0].close()
    try:
        proc.popen.send_signal(signal.SIGTERM)
        assert proc.popen.wait(15) == 0
        said = proc.wait_for("stopped")
    finally:
        proc.kill()
    assert said.endswith(
        (
            " info stopped on SIGTERM before the start finished\n",
            " info stopped before the worker joined the cluster\n",
        )
    ), said


def test_a_second_signal_during_the_stop_is_answered(app_dir: Path) -> None:
    """Ctrl-C again while the stop drains: one line says it is under way and for how long at
    most, and the stop goes on to its end. The second signal was met with silence, for up to
    the whole ``--shutdown-timeout``."""
    served = start("fleet_app:SlowToStop", "--app-dir", str(app_dir), "--shutdown-timeout", "30")
    try:
        assert " on ws://" in served.line()
        served.process.send_signal(signal.SIGTERM)
        assert " info stopping on SIGTERM: " in served.line()
        served.process.send_signal(signal.SIGINT)
        again = served.line()
    finally:
        served.process.kill()
        served.process.wait(15)
    assert " info SIGINT again: already stopping, within " in again, again
    assert "(--shutdown-timeout 30); SIGKILL ends it at once" in again, again


def test_a_start_given_up_is_raised_not_a_none_result() -> None:
    """``unless_stopped``: a start that returns nothing (``Worker.start()``) is told apart from
    one given up on a stop, which raises ``GaveUpStart`` (a give-up was ``None``, so the worker
    wrapped its start in a function returning ``True``)."""
    from ocpp_fast._cli_serve import GaveUpStart, unless_stopped

    async def scenario() -> None:
        stop = asyncio.Event()
        returns_none = asyncio.ensure_future(asyncio.sleep(0))
        await unless_stopped(returns_none, stop, 0)  # returned, as the future did: no raise
        assert returns_none.done() and returns_none.result() is None
        stop.set()
        never = asyncio.get_running_loop().create_future()
        with pytest.raises(GaveUpStart):
            await unless_stopped(never, stop, 0)
        assert never.cancelled()

    asyncio.run(asyncio.wait_for(scenario(), 5))


def test_a_worker_says_an_app_that_does_not_import_in_one_line(app_dir: Path) -> None:
    """``ocpp-fast worker`` loads APP with the same loader: the same line, exit 2."""
    (app_dir / "typo_app.py").write_text(BROKEN["typo_app"])
    command = [sys.executable, "-m", "ocpp_fast.cli", "worker", "--nats", "nats://127.0.0.1:1"]
    run = subprocess.run(
        [*command, "--app-dir", str(app_dir), "typo_app:Csms"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert run.returncode == 2, (run.stdout, run.stderr)
    assert failure(run.stderr) == (
        f"cannot import 'typo_app': SyntaxError at {app_dir}/typo_app.py, line 3: expected ':'"
    )


@pytest.mark.parametrize(
    "command", [["worker", "cluster_handlers:WorkerCsms"], ["serve", "--port", "0", "--quiet"]]
)
def test_nats_unreachable_at_the_start_is_one_line_and_exit_2(command: list[str]) -> None:
    """``worker --nats`` / ``serve --nats`` with nothing listening at the URL: nats-py retried
    for good, the process waited silently (a WARNING a minute) and SIGTERM could not stop it.
    Now, past the start timeout, one line naming the URL and why, exit code 2 (and nothing
    before it: a WARNING of the first failed attempt said the same); the URL's credentials are
    not shown."""
    url = f"nats://127.0.0.1:{free_port()}"
    secret_url = url.replace("//", "//ops:s3cret@")
    start = ["--nats", secret_url, "--nats-start-timeout", "1"]  # hidden: 10 s by default
    run = subprocess.run(
        [sys.executable, "-m", "ocpp_fast.cli", *command, *start],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).parent,  # where cluster_handlers is
    )
    assert run.returncode == 2, (run.stdout, run.stderr)
    assert run.stdout == ""  # no WARNING of the first failed attempt before the line
    assert "s3cret" not in run.stderr
    assert failure(run.stderr) == (
        f"NATS at {url} unreachable: no connection within 1 s "
        "(last: ConnectionRefusedError: [Errno 111] Connection refused)"
    )


def test_a_nats_without_jetstream_is_one_line_and_exit_2() -> None:
    """``serve --nats`` on a nats-server started without ``-js`` (the docs' command with a flag
    forgotten) ended in nats-py's traceback, ``ServiceUnavailableError: code=None
    err_code=None description='None'``, exit 1. Now a WARNING while it waits for JetStream (a
    cluster electing its leader answers so for a while), then past the start timeout one line
    saying what to start, exit code 2."""
    with NatsServer(jetstream=False) as nats_server:
        start = ["--nats", nats_server.url, "--nats-start-timeout", "1"]
        run = subprocess.run(
            [sys.executable, "-m", "ocpp_fast.cli", "serve", "--port", "0", "--quiet", *start],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert run.returncode == 2, (run.stdout, run.stderr)
    assert "Traceback" not in run.stderr + run.stdout
    assert "answers no JetStream request (started without -js" in run.stdout
    assert failure(run.stderr) == (
        f"NATS at {nats_server.url} has no JetStream (its API did not answer within 1 s): start "
        "nats-server with -js, and -sd DIR for where the events stream is kept (a gateway "
        "stores the durable actions in a stream and the registry in a key-value bucket)"
    )


@pytest.mark.parametrize(
    "command", [["worker", "cluster_handlers:WorkerCsms"], ["serve", "--port", "0", "--quiet"]]
)
def test_the_nats_start_timeout_of_the_command_is_the_cluster_s_constant(
    command: list[str],
) -> None:
    """``serve --nats`` and ``worker`` wait :data:`~ocpp_fast.cluster.config.NATS_START_TIMEOUT`
    for NATS: the command's default was a literal of its own beside it (``--nats-start-timeout``
    10.0), which a change of the constant did not reach. Here the constant is set to 0.5 s."""
    shortened = (
        "import sys; import ocpp_fast.cluster.config as config; config.NATS_START_TIMEOUT = 0.5; "
        "from ocpp_fast.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    url = f"nats://127.0.0.1:{free_port()}"
    run = subprocess.run(
        [sys.executable, "-c", shortened, *command, "--nats", url],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).parent,  # where cluster_handlers is
    )
    assert run.returncode == 2, (run.stdout, run.stderr)
    assert failure(run.stderr).startswith(f"NATS at {url} unreachable: no connection within 0.5 s")


def test_the_gateway_s_start_line_shows_the_nats_url_without_its_credentials() -> None:
    """``serve --nats nats://user:secret@host:port``: the start line names the cluster's
    servers (as the readiness probe and the NATS failure lines do) without the secret."""
    with NatsServer() as nats_server:
        url = nats_server.url.replace("//", "//ops:s3cret@")
        with serving("--nats", url, "--quiet") as server:
            lines = [server.line() for _ in range(2)]
            assert any(f"of the cluster at {nats_server.url}" in line for line in lines), lines
    assert "s3cret" not in "".join(lines) + server.out


def test_the_gateway_s_start_line_says_the_workers_answer() -> None:
    """``serve csms:app --nats URL --handlers workers`` said ``csms:app on ws://...`` and
    nothing of the workers: an operator read that APP answered there."""
    with NatsServer() as nats_server:
        flags = ["--nats", nats_server.url, "--handlers", "workers", "--worker-timeout", "4"]
        with serving(*flags, "--quiet", "--nats-write-window", "0") as server:
            lines = [server.line() for _ in range(2)]
    assert lines[1].endswith(
        f"of the cluster at {nats_server.url}; every CALL answered by the workers (within 4 s)\n"
    ), lines


def test_a_handler_first_gateway_says_so_and_answers_durable_calls() -> None:
    """``serve --nats URL --handler-first``: the start line says the durable CALLs' handlers
    run as their stores are sent, and a TransactionEvent (durable) is answered."""

    async def one_event(port: int) -> str:
        url = f"ws://127.0.0.1:{port}/ocpp/HF1"
        async with ws_connect(url, subprotocols=[Subprotocol("ocpp2.0.1")]) as ws:
            await ws.send(
                '[2,"e1","TransactionEvent",{"eventType":"Started","timestamp":'
                '"2026-12-04T12:00:00Z","triggerReason":"Authorized","seqNo":0,'
                '"transactionInfo":{"transactionId":"T1"}}]'
            )
            return str(await asyncio.wait_for(ws.recv(), 10))

    with (
        NatsServer() as nats_server,
        serving("--nats", nats_server.url, "--handler-first", "--quiet") as server,
    ):
        lines = [server.line() for _ in range(2)]
        assert lines[1].endswith(
            "; NATS writes gathered over 20 ms; durable CALLs' handlers run as their "
            "stores are sent\n"
        ), lines
        assert asyncio.run(one_event(server.port)).startswith('[3,"e1",')


def test_a_gateway_given_several_nats_servers_joins_the_one_that_answers() -> None:
    """``serve --nats URL,URL`` (a NATS cluster's servers, as the ``nats`` command takes them):
    the first down, the gateway starts on the second. The list was one URL to nats-py, which
    failed to parse it: a traceback, exit 1."""
    with NatsServer() as nats_server:
        servers = f"nats://127.0.0.1:{free_port()},{nats_server.url}"
        with serving("--nats", servers, "--quiet") as server:
            lines = [server.line() for _ in range(2)]
            assert any(f"of the cluster at {servers.replace(',', ', ')}" in line for line in lines)


def test_shown_servers_drop_the_credentials_of_each_url() -> None:
    from ocpp_fast.cluster.config import shown_servers

    assert shown_servers("nats://u:p@h:4222") == "nats://h:4222"
    # as the NATS link's own lines show a server: nats:// where the URL names no scheme
    assert shown_servers(["tls://token@[::1]:4222", "h:4222"]) == "tls://[::1]:4222, nats://h:4222"
    assert shown_servers("u:p@h:1") == "nats://h:1"


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_demo_serves_every_version_on_one_port(backend: str) -> None:
    with serving("--quiet", "--backend", backend) as server:
        assert "(ocpp2.1, ocpp2.0.1, ocpp1.6)" in server.line()
        report = asyncio.run(
            simulate(
                f"ws://127.0.0.1:{server.port}/ocpp",
                9,
                1.5,
                interval=0.02,
                versions=["1.6", "2.0.1", "2.1"],
                handle_signals=False,
            )
        )
    assert report.errors == {} and report.connected == 9, report.errors
    assert report.versions == {"1.6": 3, "2.0.1": 3, "2.1": 3}
    assert report.sessions > 0


def served_log(*flags: str) -> list[str]:
    """What ``ocpp-fast serve`` printed while 3 simulated stations talked for a second."""
    with serving(*flags) as server:
        server.line()
        report = asyncio.run(
            simulate(f"ws://127.0.0.1:{server.port}/", 3, 1.0, interval=0.05, handle_signals=False)
        )
        assert report.connected == 3 and report.messages > 30, report.table()
        said = server.lines_until(lambda lines: len(disconnects(lines)) == 3)
    return "".join([*said, server.out]).splitlines()


def disconnects(lines: list[str]) -> list[str]:
    """The lines saying a station left."""
    return [line for line in lines if ": disconnected" in line]


@pytest.mark.parametrize("backend", BACKENDS)
def test_serve_logs_each_station_coming_and_going_and_no_frame_by_default(backend: str) -> None:
    """The default level is INFO: one line per station connecting, one per boot answered and
    one per station leaving (with why), none per frame; ``--log-frames`` adds one per frame."""
    lines = served_log("--backend", backend)
    frames = [line for line in lines if re.search(r"SIM\d+ [<>] \[", line)]
    assert frames == [], lines[:5]
    connected = [line for line in lines if re.search(r"info SIM\d+: connected \(ocpp2", line)]
    left = [line for line in lines if "disconnected: closed by the station (1000" in line]
    booted = [line for line in lines if re.search(r"info SIM\d+: BootNotification answered", line)]
    assert len(connected) == 3 and len(booted) == 3 and len(left) == 3, lines
    assert len(lines) <= 4 + 9, lines  # the first line, 9 of the stations, "stopping", "stopped"
    chatty = served_log("--backend", backend, "--log-frames")
    assert len([line for line in chatty if re.search(r"SIM\d+ [<>] \[", line)]) > 60


def test_an_app_that_configures_logging_gets_each_line_once(tmp_path: Path) -> None:
    """An APP that sets up logging for its own lines (``logging.basicConfig``) sees them beside
    the command's, and each of ocpp_fast's lines once, not again through the root handler."""
    (tmp_path / "logged_app.py").write_text(
        textwrap.dedent(
            """
            import logging
            import sys

            from ocpp_fast.demo import DemoChargeSystem

            logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="app %(message)s")

            class Csms(DemoChargeSystem):
                def on_connect(self, connection):
                    logging.getLogger("logged_app").info("hello %s", connection.identity)
            """
        )
    )
    with serving("logged_app:Csms", cwd=tmp_path) as server:
        server.line()
        url = f"ws://127.0.0.1:{server.port}/"
        report = asyncio.run(simulate(url, 2, 0.5, handle_signals=False))
        assert report.connected == 2, report.table()
        said = server.lines_until(lambda lines: len(disconnects(lines)) == 2)
    lines = "".join([*said, server.out]).splitlines()
    assert len([line for line in lines if line.startswith("app hello SIM")]) == 2, lines
    assert len([line for line in lines if "SIM00000: connected" in line]) == 1, lines
    assert len([line for line in lines if "SIM00000: disconnected" in line]) == 1, lines


def test_a_worker_loads_a_factory_from_its_app_dir(app_dir: Path, tmp_path: Path) -> None:
    """``ocpp-fast worker`` takes APP as serve does (factory, --app-dir): run from elsewhere."""
    with NatsServer() as nats_server:
        command = [sys.executable, "-m", "ocpp_fast.cli", "worker", "--nats", nats_server.url]
        worker = Proc([*command, "--factory", "--app-dir", str(app_dir), "fleet_app:make_later"])
        try:
            line = worker.wait_for("worker serving")
        finally:
            worker.kill()
    assert "OCPP 2.0.1, 1.6" in line


def test_a_worker_serves_the_versions_of_each_app_and_refuses_two_of_one_version() -> None:
    """``ocpp-fast worker APP APP...``: the handlers of every APP, each version in its queue
    group. Two APPs of one version left the last one serving it and the first one nowhere,
    nothing said; it is a failure to start now, naming both (before NATS is reached)."""
    command = [sys.executable, "-m", "ocpp_fast.cli", "worker"]
    with NatsServer() as nats_server:
        apps = ["ocpp_fast.demo:DemoChargeSystem", "ocpp_fast.demo:DemoChargeSystem16"]
        worker = Proc([*command, "--nats", nats_server.url, *apps])
        try:
            line = worker.wait_for("worker serving")
        finally:
            worker.kill()
    assert " info worker serving OCPP 2.0.1, 1.6 from " in line, line
    same = ["ocpp_fast.demo:DemoChargeSystem", "cluster_handlers:WorkerCsms"]
    run = subprocess.run(
        [*command, "--nats", "nats://127.0.0.1:1", *same],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).parent,  # where cluster_handlers is
    )
    assert run.returncode == 2, (run.stdout, run.stderr)
    assert failure(run.stderr) == (
        "ocpp_fast.demo:DemoChargeSystem and cluster_handlers:WorkerCsms both handle OCPP 2.0.1: "
        "a worker runs one handler per version; give one of them"
    )


def test_a_worker_says_its_stop_as_it_begins() -> None:
    """SIGTERM to ``ocpp-fast worker``: a line at once (as serve says its stop), then the
    count; it said nothing until ``stopped after``, up to 5 s later with handlers running."""
    with NatsServer() as nats_server:
        command = [sys.executable, "-m", "ocpp_fast.cli", "worker", "--nats", nats_server.url]
        worker = Proc([*command, "cluster_handlers:WorkerCsms"])
        try:
            worker.wait_for("worker serving")
            worker.popen.send_signal(signal.SIGTERM)
            stopping = worker.wait_for("stopping on")
            stopped = worker.wait_for("stopped after")
        finally:
            worker.kill()
    assert stopping.rstrip().endswith(
        "info stopping on SIGTERM: no new CALLs taken; those in hand get up to 5 s"
    ), stopping
    assert stopped.rstrip().endswith("info stopped after 0 calls"), stopped


def test_a_gateway_for_workers_without_app_is_not_called_the_demo() -> None:
    """``serve --nats URL --handlers workers`` without APP forwards every CALL: its first line
    said "demo CSMS on ...", which told the operator the demo answered the stations."""
    with NatsServer() as nats_server:
        command = [sys.executable, "-m", "ocpp_fast.cli", "serve", "--port", "0"]
        gateway = Proc([*command, "--nats", nats_server.url, "--handlers", "workers"])
        try:
            line = gateway.wait_for(" on ws://")
        finally:
            gateway.kill()
    assert " info CSMS of the workers on ws://127.0.0.1:" in line, line


def test_a_gateway_for_workers_accepts_the_versions_of_its_app() -> None:
    """``serve APP --nats URL --handlers workers`` with a 2.0.1 APP (the workers' own): the
    gateway accepts 2.0.1, as ``serve(app, cluster=Gateway(handlers_in="workers"))`` does, not
    every version (a 1.6 station was accepted, each of its CALLs answered InternalError: no
    worker runs for OCPP 1.6); a 1.6 station fails its handshake."""
    with NatsServer() as nats_server:
        port = free_port()
        command = [sys.executable, "-m", "ocpp_fast.cli", "serve", "--port", str(port)]
        app = ["cluster_handlers:WorkerCsms", "--app-dir", str(Path(__file__).parent)]
        gateway = Proc([*command, *app, "--nats", nats_server.url, "--handlers", "workers"])
        try:
            line = gateway.wait_for(" on ws://")
            assert line.endswith("/<identity> (ocpp2.0.1); Ctrl-C stops\n"), line
            url = f"ws://127.0.0.1:{port}/CS1"
            with pytest.raises(HandshakeFailed, match=r"ocpp1\.6"):
                asyncio.run(asyncio.wait_for(connect(Charger16(), url), 10))
        finally:
            gateway.kill()


def test_a_16_request_type_is_what_the_16_demo_answers() -> None:
    """The 1.6 demo numbers transactions (what a 1.6 station needs to stop one), counting up
    from a random start per process (test_demo_ids)."""
    demo = DemoChargeSystem16()
    start = messages16.StartTransactionRequest(
        connector_id=1, id_tag="T", meter_start=0, timestamp=datetime.datetime.now(datetime.UTC)
    )
    first, second = demo.default_start_transaction(start), demo.default_start_transaction(start)
    assert 1 <= first.transaction_id <= 2**31 - 1
    assert second.transaction_id == first.transaction_id % (2**31 - 1) + 1


def test_mutual_tls_from_the_flags_of_serve_and_simulate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Security profile 3: serve's --ssl-* flags, and the simulator's (station certificates)."""
    pki = Pki(tmp_path)
    tls = ["--ssl-certfile", str(pki.server), "--ssl-ca-certs", str(pki.ca)]
    with serving("--quiet", "--security-profile", "3", *tls) as server:
        assert f"on wss://127.0.0.1:{server.port}/" in server.line()
        url = f"wss://127.0.0.1:{server.port}/ocpp"
        simulated = ["simulate", "--url", url, "--chargers", "2", "--duration", "1"]
        station_tls = ["--ssl-ca-certs", str(pki.ca), "--ssl-certfile", str(pki.client)]
        assert main([*simulated, "--version", "1.6", "2.1", *station_tls]) == 0
        assert main([*simulated, "--ssl-ca-certs", str(pki.ca)]) == 1  # no certificate
    out = capsys.readouterr().out
    assert "stations connected             2 / 2\n" in out and "0 / 2" in out
    assert "fleet by version               1.6: 1, 2.1: 1\n" in out


def test_a_server_anyone_may_join_under_any_identity_is_said_at_start(tmp_path: Path) -> None:
    """TLS with security profile 0 and no --authorize (or a host beyond loopback) lets any
    client in under any identity: serve says so after its start line; not for the demo on
    127.0.0.1, nor once stations are authenticated (profile 3 here)."""
    pki = Pki(tmp_path)
    warning = "warning security profile 0 and no --authorize: stations are not authenticated"
    outputs = []
    for flags in (
        ["--ssl-certfile", str(pki.server)],
        ["--host", "::1"],
        ["--host", "0.0.0.0"],
        [
            "--security-profile",
            "3",
            "--ssl-certfile",
            str(pki.server),
            "--ssl-ca-certs",
            str(pki.ca),
        ],
    ):
        server = start("--quiet", *flags)
        assert "Ctrl-C stops" in server.line()
        outputs.append(server.stop())
        assert server.process.returncode == 0
    assert [warning in out for out in outputs] == [True, False, True, False], outputs


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_the_moment_serve_is_up_stops_it_cleanly(sig: signal.Signals) -> None:
    """Ctrl-C (or SIGTERM) right after the first line: a clean stop, exit 0, no traceback
    (the handler was installed only after that line was printed)."""
    server = start("--quiet", stderr=True)
    first = server.line()
    assert "Ctrl-C stops" in first
    out, err = server.stop(sig), server.err
    assert server.process.returncode == 0, err
    assert "Traceback" not in err
    assert out.strip().endswith("stopped")
    # the stop is said when it begins, with what it waits for (even with --quiet)
    said = f"stopping on {sig.name}: 0 stations connected, new ones refused; calls in flight get"
    assert re.search(f"info {said} up to 10 s\n\\S+ info stopped\n$", out), out


def test_a_limit_whose_none_means_never_takes_none_from_the_command_line() -> None:
    """``Limits.loop_blocked=None`` (no watch) as ``--limit loop_blocked=none``, as its
    docstring and its error message name it: it was refused as no float."""
    assert limits_of(["loop_blocked=none"]).loop_blocked is None
    assert limits_of(["loop_blocked=None", "handler_grace=3"]).handler_grace == 3.0
    assert limits_of(["loop_blocked=0.25"]).loop_blocked == 0.25


def test_the_registry_read_from_a_nats_without_jetstream_says_so() -> None:
    """``ClusterClient.stations()`` against a nats-server without ``-js`` (an admin script
    pointed at another server than the gateways') raised nats-py's
    ``ServiceUnavailableError`` with ``description='None'``; it raises :class:`NoJetStream`
    naming the server and what to check."""
    from ocpp_fast.cluster import ClusterClient
    from ocpp_fast.cluster.config import NoJetStream

    async def read(url: str) -> None:
        async with ClusterClient(url) as client:
            await client.stations(timeout=2)

    with NatsServer(jetstream=False) as nats_server, pytest.raises(NoJetStream) as raised:
        asyncio.run(read(nats_server.url))
    assert str(raised.value).startswith(f"NATS at {nats_server.url} has no JetStream, where ")
    assert "their --nats URL" in str(raised.value)
