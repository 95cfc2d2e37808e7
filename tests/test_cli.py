"""The ``ocpp-fast`` command: validate, serve, simulate, bench."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest
from serve_proc import serving
from websockets.asyncio.client import connect as ws_connect
from websockets.typing import Subprotocol

import ocpp_fast
from ocpp_fast._machine import free_port
from ocpp_fast.bench import DEFAULT_MIX
from ocpp_fast.cli import main
from ocpp_fast.demo import DemoChargeSystem
from ocpp_fast.simulator import MIX_SHARES, SimulationReport, simulate
from ocpp_fast.transport import MessageRetry, serve

MIX = DEFAULT_MIX


def test_validate_reports_line_code_and_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "frames.jsonl"
    log.write_bytes(
        b"\n".join(
            [
                b'[2,"1","Heartbeat",{}]',
                b'[3,"1",{"currentTime":"2026-11-24T12:00:00Z"}]',
                b'[2,"2","BootNotification",{"reason":"PowerUp","chargingStation":{"model":"M"}}]',
                b'[2,"3","Heartbeat",{}]',
                b'[3,"3",{"currentTime":"noon"}]',
                b"garbage",
            ]
        )
    )
    assert main(["validate", str(log)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{log}:3: OccurrenceConstraintViolation $.chargingStation.vendorName")
    assert out[1].startswith(f"{log}:5: PropertyConstraintViolation $.currentTime")
    assert out[2].startswith(f"{log}:6: RpcFrameworkError")
    assert out[3] == "6 frames, 3 invalid (OCPP 2.0.1)"


def test_validate_accepts_the_shared_mix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "mix.jsonl"
    frames = [msgspec.json.decode(line)["frame"] for line in MIX.read_text().splitlines()]
    log.write_bytes(b"\n".join(msgspec.json.encode(f) for f in frames))
    assert main(["validate", str(log)]) == 0
    assert capsys.readouterr().out.strip() == f"{len(frames)} frames, 0 invalid (OCPP 2.0.1)"


def test_validate_speaks_16(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "16.jsonl"
    log.write_bytes(b'[2,"1","Heartbeat",{"x":1}]')
    assert main(["validate", "--version", "1.6", str(log)]) == 1
    assert ": FormationViolation $.x" in capsys.readouterr().out


def test_validate_reports_a_call_of_the_send_only_action(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 2.1 log holding a CALL of NotifyPeriodicEventStream (sent as a SEND only, as OCPP-J
    2.1 says) passed as valid, and the CALLRESULT with its id then stopped the command with a
    ``KeyError`` traceback (the action has no response to judge it by). The CALL is reported
    with the NotSupported a receiver answers; the result answers no CALL judged."""
    stream = b'{"id":1,"pending":0,"basetime":"2026-12-01T12:00:00Z","data":[{"t":0,"v":"1"}]}'
    log = tmp_path / "frames21.jsonl"
    log.write_bytes(
        b"\n".join(
            [
                b'[2,"c1","NotifyPeriodicEventStream",' + stream + b"]",
                b'[3,"c1",{}]',
                b'[6,"s1","NotifyPeriodicEventStream",' + stream + b"]",
            ]
        )
    )
    assert main(["validate", "--version", "2.1", str(log)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{log}:1: NotSupported ")
    assert "NotifyPeriodicEventStream is sent as a SEND ([6, ...]) only" in out[0]
    assert out[1:] == ["3 frames, 1 invalid (OCPP 2.1)"]


def test_simulated_stations_run_sessions_without_errors() -> None:
    async def run() -> SimulationReport:
        server = await serve(DemoChargeSystem())
        try:
            return await simulate(
                f"ws://127.0.0.1:{server.port}/ocpp", 20, 3.0, interval=0.05, seed=3
            )
        finally:
            await server.close()

    report = asyncio.run(run())
    assert report.errors == {}, report.errors
    assert report.connected == 20
    assert report.messages > 200
    assert report.sessions > 0
    assert "throughput" in report.table()
    assert sum(MIX_SHARES.values()) == 100


def test_serve_logs_one_readable_line_per_frame_when_asked() -> None:
    with serving("--log-frames") as server:
        assert "demo CSMS on" in server.line()

        async def station() -> bytes:
            async with ws_connect(
                f"ws://127.0.0.1:{server.port}/CS42", subprotocols=[Subprotocol("ocpp2.0.1")]
            ) as websocket:
                await websocket.send('[2,"h1","Heartbeat",{}]')
                reply = await websocket.recv(decode=False)
                assert isinstance(reply, bytes)
                return reply

        reply = asyncio.run(station())
        assert reply.startswith(b'[3,"h1",{"currentTime":')
        # the station's arrival, then one line per frame
        lines = [server.line() for _ in range(3)]
    assert "info CS42: connected (ocpp2.0.1) from 127.0.0.1:" in lines[0], lines
    assert any('CS42 < [2,"h1","Heartbeat",{}]' in line for line in lines), lines
    assert any('CS42 > [3,"h1",{"currentTime":' in line for line in lines), lines


def test_bench_runs_from_any_directory(tmp_path: Path) -> None:
    """No path relative to a checkout: the default mix is package data."""
    out = subprocess.run(
        [sys.executable, "-m", "ocpp_fast.cli", "bench", "--quick"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert "weighted" in out and "c/f = " in out


def test_bench_prints_the_comparison(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", str(MIX), "--budget", "0.5", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert "weighted" in out and "a/d = " in out and "e/d = " in out
    # issue 25's targets: the worst action's e/d, and the live path in µs
    assert re.search(r"worst e/d = [\d.]+, \w+.*\(target <= 2.5: (met|NOT met)", out), out
    assert re.search(r"\bi = [\d.]+ µs \(target <= 3.5 µs: (met|NOT met)", out), out


def test_bench_help_names_the_command_to_type(capsys: pytest.CaptureFixture[str]) -> None:
    """``ocpp-fast bench`` parses with bench's own parser: its usage line says
    ``ocpp-fast bench``, as the CLI reference does, not ``ocpp-fast``."""
    with pytest.raises(SystemExit) as exited:
        main(["bench", "--help"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith("usage: ocpp-fast bench [-h]")


def test_version_is_said(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"ocpp-fast {ocpp_fast.__version__}\n"


@pytest.mark.parametrize(
    "flags",
    [
        ["--handlers", "workers"],
        ["--nats-creds", "x.creds"],
        ["--nats-write-window", "0.05"],
        ["--worker-timeout", "5"],
        ["--registry-ttl", "5"],
        ["--handler-first"],
    ],
)
def test_a_cluster_flag_without_nats_is_a_usage_error(flags: list[str]) -> None:
    """Ignored, ``serve --handlers workers`` without ``--nats`` served the demo CSMS, which
    answered every station the workers were meant to: now exit 2 before listening (in a
    process of its own, which a regression leaves serving until the timeout)."""
    run = subprocess.run(
        [sys.executable, "-m", "ocpp_fast.cli", "serve", "--port", "0", *flags],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert run.returncode == 2, (run.stdout, run.stderr)
    named = " ".join(flags) if flags[0] == "--handlers" else flags[0]
    assert run.stderr.splitlines()[-1] == (
        f"ocpp-fast serve: error: {named} needs --nats URL: it is a setting of a cluster's gateway"
    )


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (
            ["--worker-timeout", "5"],
            "--worker-timeout needs --handlers workers: it is how long they may take",
        ),
        (
            ["--handlers", "workers", "--handler-first"],
            "--handler-first needs --handlers gateway: the handlers run in the workers",
        ),
    ],
    ids=["worker-timeout", "handler-first"],
)
def test_a_gateway_flag_its_handlers_would_never_use_is_a_usage_error(
    flags: list[str], said: str
) -> None:
    """``--worker-timeout`` with the handlers in the gateway was taken and never used (no CALL
    waits for a worker); ``--handler-first`` with them in workers would be (nothing of the
    user's runs in the gateway): usage errors, before NATS is awaited."""
    nats = ["--nats", "nats://h:1", "--nats-start-timeout", "1"]
    run = subprocess.run(
        [sys.executable, "-m", "ocpp_fast.cli", "serve", "--port", "0", *nats, *flags],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert run.returncode == 2, (run.stdout, run.stderr)
    assert run.stderr.splitlines()[-1] == f"ocpp-fast serve: error: {said}"


def test_serve_help_says_its_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    """``serve --help`` named no default of the flags an operator sets first (where it
    listens, how long a stop takes), and called ``--workers`` "gateway processes" without
    ``--nats``, where they are whole servers."""
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    said = " ".join(capsys.readouterr().out.split())
    for default in (
        "the address to listen on (default 127.0.0.1: this machine only",
        "the port (default 9000; 0: any free one)",
        "keepalive pings (default 20; 0: none)",
        "largest message, in bytes (default 1048576)",
        "waits for calls in flight (default 10)",
        "processes serving the port (SO_REUSEPORT; default 1)",
    ):
        assert default in said, default


def test_serve_help_shows_the_cluster_s_timeouts(capsys: pytest.CaptureFixture[str]) -> None:
    """The limits page sends an operator to ``--worker-timeout`` and ``--registry-ttl``, which
    ``serve --help`` (and so the CLI reference) hid."""
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    said = " ".join(capsys.readouterr().out.split())
    assert "--worker-timeout SECONDS with --handlers workers: how long a CALL waits" in said
    assert "--registry-ttl SECONDS with --nats: how long a station stays listed" in said


def test_serve_help_shows_the_nats_start_and_store_timeouts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``--nats-start-timeout`` was hidden from ``--help`` (for no reason written anywhere:
    the cluster page tells operators of the 10 s wait), and the store timeout had no flag."""
    for command in (["serve"], ["worker"]):
        with pytest.raises(SystemExit):
            main([*command, "--help"])
        said = " ".join(capsys.readouterr().out.split())
        assert "--nats-start-timeout SECONDS how long to wait for NATS at the start" in said
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    said = " ".join(capsys.readouterr().out.split())
    assert "--nats-store-timeout SECONDS with --nats: how long a durable CALL waits" in said


def test_the_nats_store_timeout_reaches_the_gateway(monkeypatch: pytest.MonkeyPatch) -> None:
    """``serve --nats ... --nats-store-timeout 0.7`` makes a gateway whose relay waits 0.7 s
    for a store's ack (5 s without the flag: ``Gateway``'s default); NATS is not there, so
    the command stops after ``--nats-start-timeout``, having made both."""
    from ocpp_fast.cluster import _cli
    from ocpp_fast.cluster.gateway import STORE_TIMEOUT, Gateway

    made: list[Gateway] = []

    class Recorded(Gateway):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(_cli, "Gateway", Recorded)
    nats = ["serve", "--port", "0", "--quiet", "--nats", f"nats://127.0.0.1:{free_port()}"]
    nats += ["--nats-start-timeout", "0.2"]
    assert main([*nats, "--nats-store-timeout", "0.7"]) == 2
    assert main(nats) == 2
    assert [gateway.relay.store_timeout for gateway in made] == [0.7, STORE_TIMEOUT]


def test_the_nats_timeouts_without_nats_are_usage_errors() -> None:
    """As every other flag of the cluster: ignored without ``--nats``, they would hide that
    this ``serve`` joins no cluster."""
    for flag in ("--nats-store-timeout", "--nats-start-timeout"):
        run = subprocess.run(
            [sys.executable, "-m", "ocpp_fast.cli", "serve", "--port", "0", flag, "1"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert run.returncode == 2, (run.stdout, run.stderr)
        assert run.stderr.splitlines()[-1] == (
            f"ocpp-fast serve: error: {flag} needs --nats URL: it is a setting of a cluster's "
            "gateway"
        )


@pytest.mark.parametrize("command", [["serve"], ["worker", "csms:app"]])
@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("nats://127.0.0.1:99999", "nats://127.0.0.1:99999 has no valid port (1 to 65535)"),
        ("nats://a:4222,nats://b:x", "nats://b:x has no valid port (1 to 65535)"),
        (
            "http://127.0.0.1:4222",
            "http://127.0.0.1:4222 is no NATS server's URL (nats://, tls://, ws:// or wss://HOST:PORT)",
        ),
        ("nats://:4222", "nats://:4222 names no host"),
        (",", "',' names no NATS server"),
    ],
)
def test_a_nats_url_nats_cannot_use_is_a_usage_error(
    command: list[str], url: str, said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A port out of range or a list with one ended the start in nats-py's traceback (exit
    1), and an ``http://`` URL was retried for 10 s and said as ``Name or service not
    known``: now argparse's one line naming the URL, exit 2, before anything starts."""
    with pytest.raises(SystemExit) as exited:
        main([command[0], "--nats", url, *command[1:]])
    assert exited.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith(f"argument --nats: {said}")


def test_nats_takes_a_comma_separated_list_of_servers() -> None:
    from ocpp_fast._cli_types import nats_servers

    assert nats_servers("nats://a:4222, tls://b:4223,c") == ["nats://a:4222", "tls://b:4223", "c"]
    assert nats_servers("nats://u:p@a:4222") == ["nats://u:p@a:4222"]


def test_simulate_help_says_its_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    """A user reading ``simulate --help`` learns how many stations, how long and how often it
    runs without flags (the help named none of them)."""
    with pytest.raises(SystemExit) as exited:
        main(["simulate", "--help"])
    assert exited.value.code == 0
    said = " ".join(capsys.readouterr().out.split())
    for default in (
        "simulated stations (default 10)",
        "seconds (default 30; inf: until Ctrl-C)",
        "seconds between a station's messages (default 1)",
        "version (default 2.0.1)",
        "(SIM00000 for 0, the default;",
        "the same traffic (default 0)",
    ):
        assert default in said, default


def test_simulate_help_names_the_identities_an_authorize_list_must_hold(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An operator whose CSMS admits known stations only lists the simulator's identities:
    ``--help`` spells them as the stations send them (SIM00000), not SIM<N> alone, read as
    SIM0."""
    from ocpp_fast.simulator import identity_of

    with pytest.raises(SystemExit):
        main(["simulate", "--help"])
    shown = " ".join(capsys.readouterr().out.split())  # argparse wraps the lines
    assert f"identity ({identity_of(0)}, {identity_of(1)}...) is appended" in shown
    assert f"{identity_of(0)} for 0, the default" in shown


@pytest.mark.parametrize(
    ("flags", "attempts", "interval"),
    [([], None, None), (["--retry-attempts", "5", "--retry-interval", "0.5"], 5, 0.5)],
)
@pytest.mark.parametrize("no_queue", [False, True])
def test_simulate_retry_flags_set_the_run_s_retry(
    flags: list[str],
    attempts: int | None,
    interval: float | None,
    no_queue: bool,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``--retry-attempts`` and ``--retry-interval`` reach ``simulate(retry=...)``, and
    ``--no-queue`` ``simulate(queue=False)``; a flag not
    given keeps :data:`~ocpp_fast.simulator.TRANSACTION_RETRY`'s value (the retry window had no
    flag: a CSMS that recovers in 10 s could not be tested without code)."""
    from ocpp_fast import simulator

    given: dict[str, Any] = {}

    async def fake(url: Any, chargers: int, duration: float, **options: Any) -> SimulationReport:
        given.update(options)
        return SimulationReport(stations=chargers, duration=duration)

    monkeypatch.setattr(simulator, "simulate", fake)
    flags = [*flags, "--no-queue"] if no_queue else flags
    main(["simulate", "--url", "ws://127.0.0.1:1/ocpp", "--duration", "1", *flags])
    assert given["queue"] is not no_queue
    default = simulator.TRANSACTION_RETRY
    assert given["retry"] == MessageRetry(
        attempts=default.attempts if attempts is None else attempts,
        interval=default.interval if interval is None else interval,
        timeout=default.timeout,
    )
    capsys.readouterr()


def test_simulate_help_says_the_retry_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    """The defaults ``--help`` states are those of the simulator's retry."""
    from ocpp_fast.simulator import TRANSACTION_RETRY

    with pytest.raises(SystemExit):
        main(["simulate", "--help"])
    said = " ".join(capsys.readouterr().out.split())
    assert f"the first included (default {TRANSACTION_RETRY.attempts};" in said
    assert f"times the failures so far (default {TRANSACTION_RETRY.interval:g})" in said
