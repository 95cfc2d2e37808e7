"""What ``ocpp-fast serve`` and ``ocpp-fast worker`` write for a log collector: every line (the
command's own and ocpp_fast's) with its UTC time and level, as text or as one JSON object, and
under ``serve --workers N`` the process that wrote it; real processes on 127.0.0.1."""

from __future__ import annotations

import asyncio
import datetime
import io
import json
import logging
import os
import pty
import re
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from cluster_procs import NatsServer, Proc
from serve_proc import Served, serving
from websockets.asyncio.client import connect as ws_connect
from websockets.typing import Subprotocol

from ocpp_fast._cli_log import _JsonLines
from ocpp_fast._machine import free_port

UTC = datetime.UTC
TEXT_LINE = re.compile(
    r"(?P<time>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)"
    r"(?: \[(?P<process>[^,\]]+), pid (?P<pid>\d+)\])? (?P<level>debug|info|warning|error) "
    r"(?P<message>.*)"
)

APP = """
from ocpp_fast.demo import DemoChargeSystem

class Failing(DemoChargeSystem):
    def heartbeat(self, request):
        raise RuntimeError("the clock is gone")
"""


def now() -> datetime.datetime:
    """The time now, to the millisecond as the lines have it (rounded down)."""
    moment = datetime.datetime.now(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def when(stamp: str) -> datetime.datetime:
    return datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def heartbeat(port: int, identity: str) -> None:
    """One station's visit: a Heartbeat, its answer (or CALLERROR), and goodbye."""

    async def visit() -> None:
        async with ws_connect(
            f"ws://127.0.0.1:{port}/{identity}", subprotocols=[Subprotocol("ocpp2.0.1")]
        ) as websocket:
            await websocket.send('[2,"h1","Heartbeat",{}]')
            await websocket.recv()

    asyncio.run(asyncio.wait_for(visit(), 10))


def served(*flags: str, cwd: Path | None = None) -> list[str]:
    """The lines ``ocpp-fast serve FLAGS`` wrote while station CS42 sent a Heartbeat, until
    SIGTERM; the machine's zone is India's (+05:30), so that a local time would show."""
    with serving(*flags, cwd=cwd, env={"TZ": "Asia/Kolkata"}) as server:
        lines = [server.line()]
        heartbeat(server.port, "CS42")
    assert server.process.returncode == 0, [*lines, server.out]
    return lines + server.out.splitlines()


def test_every_text_line_says_its_utc_time_and_level() -> None:
    """The command's own lines (its start, ``stopping on SIGTERM``, ``stopped``) and
    ocpp_fast's: ``<ISO 8601 UTC time> <level> <message>``. The command's own had neither, and
    ocpp_fast's a local ``HH:MM:SS`` without the day."""
    before = now()
    lines = served()
    after = now()
    parsed = [TEXT_LINE.fullmatch(line.rstrip("\n")) for line in lines]
    assert all(parsed), lines
    said = [(match["level"], match["message"]) for match in parsed if match]
    assert said[0][0] == "info" and said[0][1].startswith("demo CSMS on ws://127.0.0.1:"), said
    assert any(
        level == "info" and message.startswith("CS42: connected (ocpp2.0.1) from 127.0.0.1:")
        for level, message in said
    ), said
    assert said[-2][1].startswith("stopping on SIGTERM: 0 stations connected"), said
    assert said[-1] == ("info", "stopped"), said
    for match in parsed:
        assert match and before <= when(match["time"]) <= after, (before, after, lines)
        assert match["process"] is None  # one process: none named


def test_json_lines_carry_the_records_fields(tmp_path: Path) -> None:
    """``--log-format json``: one object per line, with the time, level, logger, message and
    pid, plus what the record carries: the station's identity, a frame, a traceback."""
    (tmp_path / "failing_app.py").write_text(textwrap.dedent(APP))
    before = now()
    lines = served("failing_app:Failing", "--log-format", "json", "--log-frames", cwd=tmp_path)
    after = now()
    records: list[dict[str, Any]] = [json.loads(line) for line in lines]
    for record in records:
        assert {"time", "level", "logger", "message", "pid"} <= record.keys(), record
        assert before <= when(record["time"]) <= after, (before, after, record)
        assert "process" not in record, record
    first, *_, stopping, stopped = records
    assert first["logger"] == "ocpp_fast.cli" and first["level"] == "info", first
    assert first["message"].startswith("failing_app:Failing on ws://127.0.0.1:"), first
    assert stopping["message"].startswith("stopping on SIGTERM"), stopping
    assert (stopped["logger"], stopped["message"]) == ("ocpp_fast.cli", "stopped")
    connected = next(r for r in records if r["message"].startswith("CS42: connected (ocpp2.0.1)"))
    assert (connected["logger"], connected["identity"]) == ("ocpp_fast.transport", "CS42")
    assert connected["message"] == f"CS42: connected (ocpp2.0.1) from {connected['peer']}"
    assert connected["peer"].startswith("127.0.0.1:"), connected
    frame = next(r for r in records if r["logger"] == "ocpp_fast.frames")
    assert frame["message"] == 'CS42 < [2,"h1","Heartbeat",{}]', frame
    assert (frame["level"], frame["identity"], frame["direction"]) == ("debug", "CS42", "<")
    assert frame["frame"] == '[2,"h1","Heartbeat",{}]'
    raised = next(r for r in records if r["level"] == "error")
    assert raised["message"] == "CS42: handler of Heartbeat (h1) raised", raised
    assert (raised["identity"], raised["action"], raised["message_id"]) == (
        "CS42",
        "Heartbeat",
        "h1",
    )
    assert raised["traceback"].endswith("RuntimeError: the clock is gone"), raised


QUOTING_APP = """
from ocpp_fast.demo import DemoChargeSystem

class Quoting(DemoChargeSystem):
    def data_transfer(self, request):
        raise ValueError(f"unknown vendor {request.vendor_id}")
"""

FORGED = "2026-12-03T08:42:15.291Z info CS9: connected (ocpp1.6)"


def test_a_traceback_quoting_a_station_forges_no_line(tmp_path: Path) -> None:
    """A handler's exception quoting what the station sent (a vendorId holding a line break,
    then a line in the log's form): the text log writes the traceback with a tab at the start
    of each of its lines, so no line but a record's first starts with a time. It was written
    raw: the station's ``CS9: connected (ocpp1.6)`` was a line of the log, which ``ocpp-fast
    validate`` and a collector read as the server's."""
    (tmp_path / "quoting_app.py").write_text(textwrap.dedent(QUOTING_APP))
    vendor = "Acme\n" + FORGED + "\r" + FORGED  # LF, then a CR alone (a line break to many)
    frame = json.dumps([2, "d1", "DataTransfer", {"vendorId": vendor}])
    with serving("quoting_app:Quoting", cwd=tmp_path) as server:
        lines = [server.line()]

        async def visit() -> None:
            async with ws_connect(
                f"ws://127.0.0.1:{server.port}/CS42", subprotocols=[Subprotocol("ocpp2.0.1")]
            ) as websocket:
                await websocket.send(frame)
                assert json.loads(await websocket.recv())[2] == "InternalError"

        asyncio.run(asyncio.wait_for(visit(), 10))
    # (read as text: every CR, LF or CR LF ends a line, as for the strictest reader)
    lines += server.out.splitlines(keepends=True)
    records = [line for line in lines if not line.startswith("\t")]
    assert all(TEXT_LINE.fullmatch(line.rstrip("\n")) for line in records), records
    assert not any(FORGED in line for line in records), records
    raised = next(i for i, line in enumerate(lines) if "handler of DataTransfer (d1)" in line)
    traceback = []
    for line in lines[raised + 1 :]:
        if not line.startswith("\t"):
            break
        traceback.append(line)
    assert traceback[0] == "\tTraceback (most recent call last):\n", traceback
    assert traceback[-3:] == [
        "\tValueError: unknown vendor Acme\n",
        "\t" + FORGED + "\n",
        "\t" + FORGED + "\n",
    ], traceback


def parse(line: str, log_format: str) -> dict[str, Any]:
    """A line of either format as a dict of the JSON format's keys (what the tests read)."""
    if log_format == "json":
        record: dict[str, Any] = json.loads(line)
        return record
    match = TEXT_LINE.fullmatch(line.rstrip("\n"))
    assert match, line
    fields = match.groupdict()
    return {**fields, "pid": fields["pid"] and int(fields["pid"])}


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_each_process_of_workers_is_named_in_its_lines(log_format: str) -> None:
    """``serve --workers 2``: each line says which process wrote it (its slot, as the
    supervisor's restart line names it, and its pid), and so do the supervisor's own lines,
    on stderr: all of them wrote the same bare lines before."""
    with serving("--workers", "2", "--log-format", log_format, stderr=True, timeout=20) as server:
        supervisor = server.process.pid
        first = [parse(server.line(), log_format) for _ in range(2)]
        assert {line["process"] for line in first} == {"process 0 of 2", "process 1 of 2"}
        assert all(" on ws://127.0.0.1:" in line["message"] for line in first), first
        pids = {line["process"]: line["pid"] for line in first}
        assert len(set(pids.values())) == 2 and supervisor not in pids.values(), pids
        os.kill(pids["process 1 of 2"], signal.SIGKILL)
        restart = parse(server.err_line(), log_format)
        assert (restart["process"], restart["pid"]) == ("supervisor", supervisor), restart
        assert restart["level"] == "warning", restart
        assert restart["message"].startswith(
            f"process 1 of 2 (pid {pids['process 1 of 2']}) was killed by SIGKILL (signal 9) after "
        ), restart
        again = parse(server.line(), log_format)  # the new process 1's first line
        assert again["process"] == "process 1 of 2" and again["pid"] not in pids.values()
    assert server.process.returncode == 0, server.err
    stops = [parse(line, log_format) for line in server.out.splitlines()]
    assert sorted(line["process"] for line in stops if line["message"] == "stopped") == [
        "process 0 of 2",
        "process 1 of 2",
    ], server.out


UNCONFIGURED_APP = """
import logging

from ocpp_fast.demo import DemoChargeSystem

log = logging.getLogger("csms")


class Csms(DemoChargeSystem):
    async def on_startup(self, server):
        log.warning("app started")
        log.info("not shown: Python shows an unconfigured logger's warnings and up")
"""


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_under_workers_an_unconfigured_app_s_warnings_name_their_process(
    tmp_path: Path, log_format: str
) -> None:
    """``serve APP --workers 2``, APP logging with no setup of its own: Python wrote its
    warnings bare on stderr (``app started`` twice, from which process?). Now in the
    command's format, naming the process, still on stderr and from WARNING up."""
    (tmp_path / "unconfigured_app.py").write_text(UNCONFIGURED_APP)
    flags = ["unconfigured_app:Csms", "--workers", "2", "--log-format", log_format]
    with serving(*flags, stderr=True, cwd=tmp_path, timeout=20) as server:
        said = [parse(server.err_line(), log_format) for _ in range(2)]
    assert {line["process"] for line in said} == {"process 0 of 2", "process 1 of 2"}, said
    assert all(line["message"] == "app started" for line in said), said
    assert all(line["level"] == "warning" for line in said), said
    assert "not shown" not in server.err + server.out
    if log_format == "json":
        assert {line["logger"] for line in said} == {"csms"}


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_in_one_process_an_unconfigured_app_s_warnings_are_in_the_command_s_format(
    tmp_path: Path, log_format: str
) -> None:
    """``serve APP`` (no ``--workers``), APP logging with no setup of its own: Python wrote
    its warnings bare on stderr (``app started``: no time, no level, and no JSON for a
    collector parsing ``--log-format json``). Now in the command's format, naming no process,
    still on stderr and from WARNING up."""
    (tmp_path / "unconfigured_app.py").write_text(UNCONFIGURED_APP)
    flags = ["unconfigured_app:Csms", "--log-format", log_format]
    with serving(*flags, stderr=True, cwd=tmp_path) as server:
        said = parse(server.err_line(), log_format)
    assert (said["level"], said["message"]) == ("warning", "app started"), said
    assert said.get("process") is None, said
    assert "not shown" not in server.err + server.out
    if log_format == "json":
        assert said["logger"] == "csms", said


def test_an_app_that_configures_its_logging_keeps_its_format(tmp_path: Path) -> None:
    """What Python's last resort wrote, and so what the command writes in its stead, is only
    a record no handler took: an APP's own setup (``logging.basicConfig``) writes its warnings
    in its format, once."""
    (tmp_path / "configured_app.py").write_text(
        "import logging\n"
        'logging.basicConfig(format="app %(levelname)s %(message)s")\n' + UNCONFIGURED_APP
    )
    with serving("configured_app:Csms", stderr=True, cwd=tmp_path) as server:
        assert server.err_line() == "app WARNING app started\n"
    assert "app started" not in server.err + server.out


def test_a_worker_writes_an_unconfigured_app_s_warnings_in_its_format(tmp_path: Path) -> None:
    """``ocpp-fast worker APP``, APP warning at import with no logging of its own: a bare
    ``app imported`` on stderr as well, before the command's format. (Loaded before NATS is
    reached: none is needed here.)"""
    (tmp_path / "warning_app.py").write_text(
        textwrap.dedent(
            """
            import logging

            from ocpp_fast.demo import DemoChargeSystem

            logging.getLogger("csms").warning("app imported")
            Csms = DemoChargeSystem
            """
        )
    )
    nats = f"nats://127.0.0.1:{free_port()}"  # nothing listens: the worker waits for it
    command = [sys.executable, "-m", "ocpp_fast.cli", "worker", "--nats", nats]
    worker = Proc(
        [*command, "--log-format", "json", "--app-dir", str(tmp_path), "warning_app:Csms"]
    )
    try:
        said = json.loads(worker.wait_for("app imported"))
    finally:
        worker.kill()
    assert (said["level"], said["logger"], said["message"]) == ("warning", "csms", "app imported")


def test_the_last_resort_of_a_process_is_given_back() -> None:
    """``log_to`` run in a process that goes on (``main()`` in a test): its undo gives Python's
    own ``lastResort`` back."""
    from ocpp_fast._cli_log import log_to

    for process in (None, "process 0 of 2"):
        before = logging.lastResort
        undo = log_to(io.StringIO(), "info", "text", process=process)
        assert logging.lastResort is not before
        undo()
        assert logging.lastResort is before


def test_a_worker_logs_as_serve_does(tmp_path: Path) -> None:
    """``ocpp-fast worker --log-format json``: its own lines and ocpp_fast's as serve's (they
    were bare prints, and ocpp_fast's INFO lines went nowhere)."""
    (tmp_path / "failing_app.py").write_text(textwrap.dedent(APP))
    with NatsServer() as nats_server:
        command = [sys.executable, "-m", "ocpp_fast.cli", "worker", "--nats", nats_server.url]
        app = ["--app-dir", str(tmp_path), "failing_app:Failing"]
        worker = Proc([*command, "--log-format", "json", *app])
        try:
            worker.wait_for("worker serving")
        finally:
            worker.kill()
    records = [json.loads(line) for line in worker.seen]
    said = records[-1]
    assert said["logger"] == "ocpp_fast.cli" and said["level"] == "info", said
    assert said["message"] == f"worker serving OCPP 2.0.1 from {nats_server.url}; Ctrl-C stops"
    # ocpp_fast's own INFO line, with the worker's node name
    assert any(
        r["logger"] == "ocpp_fast.cluster"
        and re.fullmatch(r"worker \S+ serving OCPP 2.0.1", r["message"])
        for r in records
    ), records


def test_a_field_json_cannot_hold_costs_its_form_not_the_line() -> None:
    """A record's field that ``json.dumps`` refuses even as text (a mapping keyed by tuples,
    from an APP logging on an ocpp_fast logger) is written as its text; the line was lost,
    with a "Logging error" traceback on stderr instead."""
    formatter = _JsonLines(None)
    record = logging.makeLogRecord(
        {"name": "ocpp_fast", "msg": "late %s", "args": ("CS1",), "levelname": "WARNING"}
    )
    record.__dict__.update(identity="CS1", late={("CS1", "m1"): 2})
    said = json.loads(formatter.format(record))
    assert said["message"] == "late CS1" and said["identity"] == "CS1", said
    assert said["late"] == "{('CS1', 'm1'): 2}", said


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_failure_to_start_is_one_line_in_the_chosen_format(log_format: str) -> None:
    """A port in use: exit 2 and one line on stderr, at error, in ``--log-format``'s form (it
    was a bare ``ocpp-fast serve: error: ...`` that a collector reading JSON could not parse)."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        used = str(taken.getsockname()[1])
        command = [sys.executable, "-m", "ocpp_fast.cli", "serve", "--port", used]
        run = subprocess.run(
            [*command, "--log-format", log_format], capture_output=True, text=True, timeout=30
        )
    assert run.returncode == 2, (run.stdout, run.stderr)
    assert run.stderr.count("\n") == 1, run.stderr
    said = parse(run.stderr, log_format)
    assert said["level"] == "error", said
    assert said["message"].endswith(f"address already in use {PORT_TAKEN} --port {used})"), said
    assert said.get("process") is None, said
    if log_format == "json":
        assert (said["logger"], said["pid"]) == ("ocpp_fast.cli", int(said["pid"])), said


PORT_TAKEN = "(another process listens there: stop it, or give another port than"
"""What ``serve`` adds to the bind's error of a port in use: the flag that chose the port."""


def test_under_workers_a_failure_to_start_names_its_process() -> None:
    """``serve --workers 2`` on a port in use: each process's failure names it, as its other
    lines do (the supervisor then restarts it, and gives up after a few: not waited for)."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        used = taken.getsockname()[1]
        flags = ["--workers", "2", "--log-format", "json"]
        with serving(*flags, port=used, stderr=True, timeout=20) as server:
            first = json.loads(server.err_line())
    assert first["process"] in {"process 0 of 2", "process 1 of 2"}, first
    assert first["pid"] != server.process.pid, first
    assert first["level"] == "error", first
    assert first["message"].endswith(f"address already in use {PORT_TAKEN} --port {used})")


def simulated(log_format: str, *, terminal: bool = False) -> tuple[str, str, int]:
    """``ocpp-fast simulate``'s stdout, stderr and exit code, one station on a demo CSMS that
    is killed once the station is connected: its reconnects fail, which ocpp_fast logs at
    WARNING. ``terminal``: stderr is a pseudo-terminal, where the progress line is redrawn in
    place."""
    with serving("--quiet", stop=signal.SIGKILL) as server:
        server.line()  # its start line: it listens
        command = [sys.executable, "-m", "ocpp_fast.cli", "simulate", "--chargers", "1"]
        command += ["--url", f"ws://127.0.0.1:{server.port}/ocpp", "--duration", "5"]
        command += ["--interval", "0.5"]
        if log_format != "text":  # text: the default's
            command += ["--log-format", log_format]
        if terminal:
            return _on_a_terminal(command, server)
        simulator = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert simulator.stderr is not None
        progress = simulator.stderr.readline()  # the first progress line (stderr is no tty)
        assert "stations 1/1" in progress, progress
    out, err = simulator.communicate(timeout=60)
    return out, progress + err, simulator.returncode


def _on_a_terminal(command: list[str], server: Served) -> tuple[str, str, int]:
    """``command`` run with stderr on a pseudo-terminal, ``server`` killed once the progress
    line shows the station connected."""
    controller, terminal = pty.openpty()
    simulator = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=terminal, text=True)
    os.close(terminal)
    seen = b""
    while b"stations 1/1" not in seen:
        seen += os.read(controller, 4096)
    server.process.kill()
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # EIO: the simulator closed the terminal's last end
            break
        if not chunk:
            break
        seen += chunk
    os.close(controller)
    out, _ = simulator.communicate(timeout=60)
    return out, seen.decode(), simulator.returncode


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_simulate_logs_ocpp_fasts_warnings_in_the_chosen_format(log_format: str) -> None:
    """``simulate``'s station losing its CSMS: each failed reconnect a line on stderr, with its
    time and level (they were suppressed below ERROR, and an ERROR went out bare), between the
    progress lines; the report on stdout as before."""
    out, err, code = simulated(log_format)
    assert out.startswith("stations connected             1 / 1\n"), out
    assert code in (0, 1), (out, err)
    lines = err.splitlines()
    progress = [line for line in lines if "stations " in line and " msg/s " in line]
    logged = [parse(line, log_format) for line in lines if line not in progress]
    assert progress and logged, err
    for record in logged:
        assert record["level"] == "warning", record
        assert record["message"].startswith("SIM00000: connection failed: "), record
    if log_format == "json":
        assert {r["logger"] for r in logged} == {"ocpp_fast.transport"}, logged
        assert {r["identity"] for r in logged} == {"SIM00000"}, logged


def test_simulate_against_a_csms_killed_mid_run_fails_and_says_why() -> None:
    """A CSMS killed (-9) mid-run: no call may fail (an offline station sends nothing), so the
    run ended with ``errors 0`` and exit code 0, a CI job passing against a dead CSMS. The
    connection lost and the reconnects that failed are reported now, and the station not
    back at the end fails the run."""
    out, err, code = simulated("text")
    assert code == 1, (out, err)
    lost = re.search(r"^connections lost +(\d+), reconnects failed (\d+)(.*)$", out, re.M)
    assert lost is not None, out
    assert lost[1] == "1" and int(lost[2]) >= 1, out
    assert "1 stations not back at the end: a failure" in lost[3], out
    assert "stations connected at the end  0" in out, out


def test_on_a_terminal_simulates_lines_clear_the_progress_line_first() -> None:
    """On a terminal the progress line is redrawn in place (``\\r``, no newline): a logged
    line first clears it (``\\r`` and erase-line), else it would start in the middle of the
    progress line; the progress is drawn again on the next tick."""
    out, err, _ = simulated("text", terminal=True)
    assert out.startswith("stations connected             1 / 1\n"), out
    warned = [m.start() for m in re.finditer(r"\d{4}-\d\d-\d\dT\S+Z warning SIM00000", err)]
    assert warned, err
    for start in warned:
        assert err[:start].endswith("\r\x1b[K"), repr(err[max(0, start - 80) : start + 40])
    assert "stations 1/1" in err.split("\r\x1b[K")[0], err  # the progress came first


def test_simulate_run_by_main_leaves_logging_as_it_found_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``main(["simulate", ...])`` in a process that goes on (a test, a script): ocpp_fast's
    logger as before, without the command's handler. It stayed, writing every later line to a
    stream since closed ("--- Logging error ---"), once more per run, and hiding them from the
    root logger."""
    from ocpp_fast.cli import main

    logger = logging.getLogger("ocpp_fast")
    before = (list(logger.handlers), logger.propagate, logger.level)
    url = f"ws://127.0.0.1:{free_port()}/ocpp"  # nobody there: each station fails to connect
    assert main(["simulate", "--url", url, "--chargers", "1", "--duration", "0.5"]) in (0, 1)
    assert "stations connected             0 / 1" in capsys.readouterr().out
    assert (list(logger.handlers), logger.propagate, logger.level) == before
