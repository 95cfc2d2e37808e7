"""The ``ocpp-fast`` command: serve a CSMS, simulate stations, validate logs, benchmark.

Usage (every flag: ``ocpp-fast COMMAND --help``, or the CLI reference of the docs)::

    ocpp-fast serve [APP] [--factory] [--host H] [--port P] [--security-profile N] ... [--nats URL]
    ocpp-fast worker --nats URL APP [APP...] [--factory] [--concurrency N] [--metrics-port P]
    ocpp-fast simulate --url ws://127.0.0.1:9000/ocpp --chargers 100 --duration 30
    ocpp-fast validate FRAMES.jsonl|SERVE.log [--version 2.0.1] [--identity ID] [--tolerate ...]
    ocpp-fast bench [MIX] [--version 1.6|2.1] [--markdown]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import ssl
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ocpp_fast
from ocpp_fast._cli_log import add_log_format_argument, failed_before_logging, log_to
from ocpp_fast._cli_serve import (
    LOG_LEVELS,
    add_app_arguments,
    add_operations_ports,
    add_serve_arguments,
    check_operations_hosts,
    serve_command,
)
from ocpp_fast._cli_types import (
    count,
    nats_servers,
    natural,
    seconds,
    seconds_above_0,
    websocket_url,
)
from ocpp_fast._extras import MissingExtra
from ocpp_fast._protocol_version import LABELS
from ocpp_fast._tls_files import load_certificate
from ocpp_fast.tolerance import Tolerance
from ocpp_fast.transport.backend import BACKENDS
from ocpp_fast.transport.runtime import RELOADED_ENVIRONMENT, run

if TYPE_CHECKING:
    from ocpp_fast.simulator import Passwords

__all__ = ["main"]


PLAIN_PROGRESS_EVERY = 10.0
"""Seconds between progress lines of ``simulate`` when stderr is no terminal (a CI log)."""


async def _simulate(
    args: argparse.Namespace, passwords: Passwords, context: ssl.SSLContext | None
) -> int:
    from ocpp_fast.simulator import TRANSACTION_RETRY, SimulationReport, simulate

    terminal = sys.stderr.isatty()
    shown = [-PLAIN_PROGRESS_EVERY]

    def progress(report: SimulationReport, elapsed: float) -> None:
        """One line rewritten in place on a terminal; elsewhere (a CI log, where ``\\r``
        makes one endless line) a line of its own every ``PLAIN_PROGRESS_EVERY`` seconds."""
        rate = report.messages / elapsed if elapsed else 0.0
        errors_seen = sum(report.errors.values())
        line = (
            f"{elapsed:5.0f} s  stations {report.live}/{report.stations}  "
            f"messages {report.messages}  {rate:,.0f} msg/s  "
            f"p50 {report.percentile(0.5):.1f} ms  errors {errors_seen}"
        )
        if report.connections_lost:  # a CSMS that went away may fail no call: said here
            line += f"  lost {report.connections_lost}"
        if report.unanswered:  # (the last line only: calls cut off by the run's end)
            line += f"  unanswered {sum(report.unanswered.values())}"
        if report.still_queued:  # (the last line only: what the stations' queues held)
            line += f"  still queued {sum(report.still_queued.values())}"
        if terminal:
            print(f"\r{line}", end="", file=sys.stderr, flush=True)
        elif elapsed - shown[0] >= PLAIN_PROGRESS_EVERY:
            shown[0] = elapsed
            print(line, file=sys.stderr, flush=True)

    # ocpp_fast's warnings and errors (a station's reconnect failing, a handler raising) as
    # serve writes them; they went to stderr bare, through Python's last-resort handler
    # (undone after: tests and scripts run the command by main() in a process that goes on)
    unlog = log_to(sys.stderr, "warning", args.log_format, above_progress=terminal)
    try:
        report = await simulate(
            args.url,
            args.chargers,
            args.duration,
            interval=args.interval,
            progress=progress,
            backend=args.backend,
            versions=args.version,
            password=passwords,
            ssl=context,
            actions=args.actions,
            seed=args.seed,
            first_station=args.first_station,
            retry=dataclasses.replace(TRANSACTION_RETRY, **_retry_flags(args)),
            queue=not args.no_queue,
        )
    finally:
        unlog()
    if terminal:
        print(file=sys.stderr)
    print(json.dumps(report.as_dict()) if args.json else report.table())
    for hint in _simulate_hints(report.errors, args):
        print(hint, file=sys.stderr)
    return 0 if report.ok else 1


def _simulate_hints(errors: Mapping[str, int], args: argparse.Namespace) -> list[str]:
    """What to do about the run's connect failures that a flag of this command mends: the
    report's key says what failed (``connect: TLS: certificate verify failed: self-signed
    certificate``), which names neither the flag nor the file it wants."""
    hints = []
    untrusted = any(key.startswith("connect: TLS: certificate verify failed") for key in errors)
    if untrusted and not args.ssl_ca_certs:
        hints.append(
            "the stations do not trust the CSMS's certificate: give the CA that signed it"
            " (a self-signed certificate: the certificate itself) with --ssl-ca-certs FILE"
        )
    # A CSMS of security profile 3 ends the TLS session of a station without a certificate
    # as soon as it began: the station reads no answer to its upgrade, in words that say
    # nothing of certificates ("closed the connection without answering", "did not receive a
    # valid HTTP response"), where the CSMS's log says "the station sent no client certificate".
    cut = ("connect: the CSMS closed the connection without answering", _NO_HTTP_ANSWER)
    unanswered = any(key.startswith(cut) for key in errors)
    secure = any(url.startswith("wss:") for url in args.url)
    if unanswered and secure and not args.ssl_certfile:
        hints.append(
            "the CSMS closed the stations' connections before answering: a CSMS of security"
            " profile 3 does so to a station without a certificate signed by a CA it trusts"
            " (give it with --ssl-certfile FILE, and its key with --ssl-keyfile FILE), one at a"
            " limit of its own too (its log says which)"
        )
    if any(key.startswith(_NO_PASSWORD) for key in errors) and not _passwords_given(args):
        hints.append(
            "the CSMS wants a password of each station (security profile 1 or 2): give it with"
            " --password PASSWORD, or one per station with --password-file FILE"
        )
    if any(key.startswith(_UNKNOWN) for key in errors):
        first = args.first_station or 0
        hints.append(
            f"the CSMS does not know the stations SIM{first:05d}... (HTTP 404): let its"
            " authorize admit them, or give a range it knows with --first-station N"
        )
    return hints


_NO_HTTP_ANSWER = "connect: did not receive a valid HTTP response"
"""The websockets backend's words for a handshake the CSMS closed unanswered."""
_NO_PASSWORD = "connect: HTTP 401 Unauthorized (no password"
"""The report's key of a station refused for sending no password (``no_credentials``)."""
_UNKNOWN = "connect: HTTP 404 Not Found (unknown station)"
"""The report's key of a station its CSMS's ``authorize`` does not know."""


def _passwords_given(args: argparse.Namespace) -> bool:
    return args.password is not None or args.password_file is not None


def _retry_flags(args: argparse.Namespace) -> dict[str, Any]:
    """What ``--retry-attempts`` and ``--retry-interval`` change of the simulator's
    ``TRANSACTION_RETRY`` (a flag not given keeps its value, said once, there)."""
    given = {"attempts": args.retry_attempts, "interval": args.retry_interval}
    return {field: value for field, value in given.items() if value is not None}


def _simulate_settings(
    parser: argparse.ArgumentParser, args: argparse.Namespace
) -> tuple[Passwords, str]:
    """The stations' passwords and actions from the flags; a mistake is a usage error."""
    from ocpp_fast._sim_traffic import mix_of
    from ocpp_fast.simulator import check_passwords, read_password_file

    try:
        actions = ",".join(args.actions)
        for label in args.version:  # each version has something to send (2.1's stream alone)
            mix_of(actions, label)
        if args.password is not None and args.password_file is not None:
            raise ValueError("--password or --password-file, not both")
        if args.password_file is None:
            return args.password, actions
        passwords = read_password_file(args.password_file)
    except OSError as exc:
        parser.error(f"--password-file {args.password_file}: {exc.strerror or exc}")
    except ValueError as exc:
        parser.error(str(exc))
    try:
        check_passwords(passwords, args.chargers, args.first_station)
    except ValueError as exc:
        parser.error(f"--password-file {args.password_file}: {exc}")
    return passwords, actions


def _station_tls(
    parser: argparse.ArgumentParser, args: argparse.Namespace
) -> ssl.SSLContext | None:
    """The stations' TLS context from ``--ssl-*``: a file missing or without what it should
    hold is a usage error, said before any station starts (it was a traceback)."""
    if not (args.ssl_ca_certs or args.ssl_certfile or any(u.startswith("wss:") for u in args.url)):
        return None
    try:
        context = ssl.create_default_context(cafile=args.ssl_ca_certs)
    except (OSError, ssl.SSLError) as exc:
        parser.error(f"--ssl-ca-certs {args.ssl_ca_certs}: {exc.strerror or exc}")
    if args.ssl_certfile:
        try:
            load_certificate(context, args.ssl_certfile, args.ssl_keyfile)
        except ValueError as exc:
            parser.error(str(exc))
    return context


def _check_cluster_flags(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """A flag of the cluster without ``--nats`` is a usage error: ignored, ``--handlers
    workers`` served the demo CSMS (or APP) in place of the workers, answering every station."""
    given = [
        flag
        for flag, set_ in (
            ("--handlers workers", args.handlers == "workers"),
            ("--nats-creds", args.nats_creds is not None),
            ("--nats-write-window", args.nats_write_window is not None),
            ("--nats-store-timeout", args.nats_store_timeout is not None),
            ("--nats-start-timeout", args.nats_start_timeout is not None),
            ("--worker-timeout", args.worker_timeout is not None),
            ("--registry-ttl", args.registry_ttl is not None),
            ("--handler-first", args.handler_first),
        )
        if set_
    ]
    if given and not args.nats:
        parser.error(f"{given[0]} needs --nats URL: it is a setting of a cluster's gateway")
    if args.worker_timeout is not None and args.handlers != "workers":
        # the gateway's own handlers answer: no CALL would wait for a worker
        parser.error("--worker-timeout needs --handlers workers: it is how long they may take")
    if args.handler_first and args.handlers == "workers":
        # the workers run the handlers from the stream: nothing runs here before the store
        parser.error("--handler-first needs --handlers gateway: the handlers run in the workers")


def _check_call_flags(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """``--call-stations`` is the demo's, run here: with ``APP`` (whose own code calls its
    stations, or not) or a cluster (``--handlers workers`` answers the boots elsewhere) it
    would be ignored; ``--call-timeout`` without it, likewise."""
    if args.call_timeout is not None and not args.call_stations:
        parser.error("--call-timeout needs --call-stations: it is the timeout of those calls")
    if args.call_stations and args.app is not None:
        parser.error("--call-stations is the demo's (no APP): your APP calls its stations itself")
    if args.call_stations and args.nats:
        parser.error("--call-stations is for the demo in one process: not with --nats")


def _check_reload_flags(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """``--reload`` serves one process of APP, for development: without APP there is nothing
    of the developer's to watch; with ``--workers N`` (a deployment's setting) each edit would
    restart N processes, and one that no longer imports would leave the others waiting with
    it, where the supervisor of ``--workers`` gives up; with ``--nats`` the app may run in
    ``ocpp-fast worker`` processes, which no reload here restarts."""
    if args.reload_dir and not args.reload:
        parser.error("--reload-dir needs --reload: it says what --reload watches")
    if not args.reload:
        return
    if args.app is None:
        parser.error("--reload serves your APP again when its files change: give APP")
    if args.workers > 1:
        parser.error("--reload is for one process in development: not with --workers")
    if args.nats:
        parser.error(
            "--reload is for one process in development: not with --nats (the app may run "
            "in `ocpp-fast worker` processes, which it would not restart)"
        )
    for folder in args.reload_dir:
        if not os.path.isdir(folder):
            parser.error(f"--reload-dir {folder}: no such folder")


_ANY_ADDRESS = ("", "0.0.0.0", "::")


def _check_worker_ports(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Under ``--workers N`` process ``k`` serves ``--metrics-port`` + ``k`` and
    ``--health-port`` + ``k``: ranges that overlap each other, or hold ``--port``, on one
    address, are a usage error before any process starts. ``--metrics-port 9100 --health-port
    9101 --workers 2`` (the ports the deploy page names) started process 1's metrics on 9101,
    the probes' port of process 0, which then failed to start 5 times, each saying "address
    already in use" of all three flags, and the supervisor stopped every process."""
    count = args.workers
    if count < 2:
        return
    host = args.host
    spans = [("--port", args.port, host, 1)]
    if args.metrics_port:
        spans.append(("--metrics-port", args.metrics_port, args.metrics_host or host, count))
    if args.health_port and args.health_port != args.metrics_port:  # equal: one port for both
        spans.append(("--health-port", args.health_port, args.health_host or host, count))
    for n, (flag, first, address, width) in enumerate(spans):
        for other, other_first, other_address, other_width in spans[:n]:
            shared = address == other_address or {address, other_address} & {*_ANY_ADDRESS}
            if not other_first or not shared:
                continue
            if first < other_first + other_width and other_first < first + width:
                held = (
                    f"{other} {other_first}"
                    if other_width == 1
                    else f"{other} {other_first} to {other_first + other_width - 1}"
                )
                parser.error(
                    f"--workers {count} takes {flag} {first} to {first + width - 1} (process k"
                    f" serves on {flag} + k), which overlaps {held}: give ports {count} apart"
                )


def main(argv: Sequence[str] | None = None) -> int:
    """The ``ocpp-fast`` command; a missing optional dependency is one line naming the
    ``pip install`` to run, not a traceback: a failure to start, in the command's
    ``--log-format`` (:func:`~ocpp_fast._cli_log.startup_failed`), exit code 2."""
    return _command(argv)


def _command(argv: Sequence[str] | None) -> int:
    parser = argparse.ArgumentParser(
        prog="ocpp-fast", description=__doc__.split("\n\n")[0].replace("``", "")
    )
    # The first thing asked of a command installed on a server; without it, argparse answered
    # "the following arguments are required: command".
    parser.add_argument("--version", action="version", version=f"ocpp-fast {ocpp_fast.__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve", help="run a CSMS: your app (module:attr) or the demo of every version"
    )
    add_serve_arguments(serve)
    serve.add_argument(
        "--nats",
        metavar="URL",
        type=nats_servers,
        help="join the cluster at this NATS server (several: URL,URL,... tried in turn)",
    )
    serve.add_argument("--nats-creds", metavar="FILE", help="NATS credentials file (.creds)")
    serve.add_argument(
        "--handlers",
        choices=("gateway", "workers"),
        default="gateway",
        help="with --nats: run the handlers here (APP's) or in `ocpp-fast worker`s",
    )
    serve.add_argument(
        "--nats-write-window",
        type=seconds,
        metavar="SECONDS",
        help="with --nats: a durable CALL's store waits up to this long to share its write to "
        "NATS (less CPU per durable CALL, each answered up to this much later; default 0.02, "
        "0 writes each at once)",
    )
    serve.add_argument(
        "--handler-first",
        action="store_true",
        help="with --nats: a durable CALL's handler runs as its store is sent, not once the "
        "stream has it (its answer still waits for the stream; a failed store is still "
        "answered InternalError, after the handler ran): less CPU per durable CALL",
    )
    # Not given (None): Gateway's own defaults, WORKER_TIMEOUT and REGISTRY_TTL (not imported
    # here: the cluster package needs nats).
    serve.add_argument(
        "--worker-timeout",
        type=seconds_above_0,
        metavar="SECONDS",
        help="with --handlers workers: how long a CALL waits for its worker before the station "
        "gets InternalError (default 10; keep it below the stations' own timeout)",
    )
    serve.add_argument(
        "--nats-store-timeout",
        type=seconds_above_0,
        metavar="SECONDS",
        help="with --nats: how long a durable CALL waits for JetStream's ack of its store "
        "before the station gets InternalError (default 5)",
    )
    serve.add_argument(
        "--registry-ttl",
        type=seconds_above_0,
        metavar="SECONDS",
        help="with --nats: how long a station stays listed in the registry after its gateway "
        "died (default 30; each gateway rewrites its lines every third of it)",
    )
    serve.add_argument(
        "--workers",
        type=count,
        default=1,
        metavar="N",
        help="processes serving the port (SO_REUSEPORT; default 1), each started again if it "
        "dies; with --nats, each a gateway",
    )
    serve.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)
    serve.add_argument(
        "--reload",
        action="store_true",
        help="development: serve APP again when one of its .py files changes (APP's folder "
        "and --app-dir, or each --reload-dir)",
    )
    serve.add_argument(
        "--reload-dir",
        action="append",
        default=[],
        metavar="DIR",
        help="with --reload: watch the .py files under DIR, in place of APP's (repeatable)",
    )
    work = commands.add_parser("worker", help="run handlers for a cluster's gateways")
    work.add_argument(
        "--nats",
        metavar="URL",
        type=nats_servers,
        required=True,
        help="the cluster's NATS server (several: URL,URL,... tried in turn)",
    )
    work.add_argument("--nats-creds", metavar="FILE", help="NATS credentials file (.creds)")
    add_app_arguments(work)
    work.add_argument(
        "--concurrency",
        type=count,
        default=256,
        metavar="N",
        help="async handlers that may run at once (default 256; plain ones run one at a time)",
    )
    work.add_argument(
        "--shutdown-timeout",
        type=seconds,
        default=5.0,
        metavar="SECONDS",
        help="seconds a stop lets the handlers in hand answer; those still running then are "
        "cancelled, named in one line, and answered InternalError (default 5)",
    )
    work.add_argument(
        "--loop-blocked",
        type=seconds,
        default=1.0,
        metavar="SECONDS",
        help="say where the event loop is blocked once it has been for this long, as serve's "
        "--limit loop_blocked (default 1; 0: never)",
    )
    work.add_argument(
        "--host",
        default="127.0.0.1",
        help="the address --metrics-port and --health-port listen on (default 127.0.0.1)",
    )
    add_operations_ports(work, "--host")
    work.add_argument(
        "--log-level",
        choices=LOG_LEVELS,
        default="info",
        help="info (the default): the start, the stop, NATS reconnects and problems; "
        "warning: problems only; debug: everything",
    )
    add_log_format_argument(work)
    work.add_argument(
        "handlers",
        nargs="+",
        metavar="APP",
        help="module:attr, as for serve; several: the versions of each (one APP per version)",
    )
    # Seconds serve --nats and worker wait for NATS at their start; not given (None), the
    # cluster's NATS_START_TIMEOUT (not imported here: the cluster package needs nats).
    for command in (serve, work):
        command.add_argument(
            "--nats-start-timeout",
            type=seconds_above_0,
            metavar="SECONDS",
            help="how long to wait for NATS at the start before failing to start (exit code 2; "
            "default 10)",
        )
    sim = commands.add_parser("simulate", help="load-test a CSMS with simulated stations")
    sim.add_argument(
        "--url",
        type=websocket_url,
        required=True,
        nargs="+",
        help="CSMS URL; the station identity (SIM00000, SIM00001...) is appended (several: "
        "stations spread, fail over)",
    )
    sim.add_argument(
        "--chargers", type=count, default=10, metavar="N", help="simulated stations (default 10)"
    )
    sim.add_argument(
        "--duration",
        type=seconds_above_0,
        default=30.0,
        metavar="SECONDS",
        help="seconds (default 30; inf: until Ctrl-C)",
    )
    sim.add_argument(
        "--interval",
        type=seconds_above_0,
        default=1.0,
        metavar="SECONDS",
        help="seconds between a station's messages (default 1)",
    )
    sim.add_argument("--backend", choices=BACKENDS, help="WebSocket library (default: fastest)")
    sim.add_argument(
        "--version",
        nargs="+",
        default=["2.0.1"],
        choices=list(LABELS),
        help="the stations' OCPP version (default 2.0.1); several: a mixed fleet, the versions "
        "in turn",
    )
    sim.add_argument(
        "--actions",
        nargs="+",
        default=["all"],
        metavar="ACTION",
        help="what the stations send: all (the default), core (boot, heartbeat, status, "
        "authorize, transactions, meter values), or action names, e.g. core DataTransfer; "
        "2.1 stations also NotifyPeriodicEventStream (SENDs, in all)",
    )
    sim.add_argument("--password", help="HTTP Basic password of every station (profiles 1, 2)")
    sim.add_argument(
        "--password-file",
        metavar="FILE",
        help="each station's HTTP Basic password: lines of IDENTITY PASSWORD",
    )
    sim.add_argument(
        "--first-station",
        type=natural,
        default=0,
        metavar="N",
        help="the first station's number: the stations are SIM<N>, SIM<N+1>... in 5 digits "
        "(SIM00000 for 0, the default; give each simulator its own range)",
    )
    sim.add_argument(
        "--seed",
        type=int,
        default=0,
        metavar="N",
        help="the same seed, the same traffic (default 0)",
    )
    sim.add_argument(
        "--retry-attempts",
        type=count,
        metavar="N",
        help="sendings of a transaction message the CSMS failed, the first included (default 3; "
        "1: never sent again), by the station's transaction queue",
    )
    sim.add_argument(
        "--retry-interval",
        type=seconds,
        metavar="SECONDS",
        help="seconds before a failed transaction message is sent again, times the failures so "
        "far (default 1)",
    )
    sim.add_argument(
        "--no-queue",
        action="store_true",
        help="send each transaction message once, not through the station's transaction queue "
        "(a load test's choice: the queue's work costs the simulator CPU per message)",
    )
    add_log_format_argument(sim)
    sim.add_argument(
        "--json",
        action="store_true",
        help="print the report as one JSON object (SimulationReport.as_dict) instead of a table",
    )
    sim.add_argument("--ssl-ca-certs", metavar="FILE", help="the CA that signed the CSMS's cert")
    sim.add_argument("--ssl-certfile", metavar="FILE", help="profile 3: the stations' certificate")
    sim.add_argument("--ssl-keyfile", metavar="FILE", help="its private key, if not in certfile")
    check = commands.add_parser(
        "validate", help="check a log of frames: one per line, or serve --log-frames' log"
    )
    check.add_argument(
        "file",
        type=Path,
        help="one JSON array (a frame) per line, or the log of `ocpp-fast serve --log-frames` "
        "in either --log-format, told apart line by line: its other lines are skipped (and "
        "counted), a frame the log cut is reported as such, unchecked",
    )
    check.add_argument(
        "--version",
        default="2.0.1",
        choices=sorted(LABELS),
        help="the OCPP version of the frames: those of a station whose `connected (ocppX)` line "
        "the log holds are checked in that version instead",
    )
    check.add_argument(
        "--tolerate",
        default="",
        metavar="CLASSES",
        help="comma-separated tolerance classes (naive_datetime, space_datetime, "
        "numeric_string, enum_case, null_optional, unknown_fields, overlong_string, all)",
    )
    check.add_argument(
        "--identity",
        metavar="ID",
        help="in a log of serve: check this station's frames only (the others are counted)",
    )
    commands.add_parser("bench", help="the codec and dispatch comparison", add_help=False)
    args, rest = parser.parse_known_args(argv)
    try:
        return _run(args, rest, argv, parser, serve, work, sim)
    except MissingExtra as exc:  # found as a command's module was imported, before its logging
        return failed_before_logging(exc, getattr(args, "log_format", "text"))


def _run(
    args: argparse.Namespace,
    rest: list[str],
    argv: Sequence[str] | None,
    parser: argparse.ArgumentParser,
    serve: argparse.ArgumentParser,
    work: argparse.ArgumentParser,
    sim: argparse.ArgumentParser,
) -> int:
    """Run the command ``args`` name (``rest``: what only ``bench`` takes)."""
    if args.command == "bench":
        from ocpp_fast.bench import main as bench

        return bench(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command == "serve":
        _check_cluster_flags(serve, args)
        _check_call_flags(serve, args)
        _check_reload_flags(serve, args)
        _check_worker_ports(serve, args)
        check_operations_hosts(serve, args)
        if args.reload and os.environ.pop(RELOADED_ENVIRONMENT, None) is None:
            from ocpp_fast._reload import app_folders, serve_reloading

            folders = args.reload_dir or app_folders(args.app, args.app_dir)
            argv = list(sys.argv[1:] if argv is None else argv)
            return serve_reloading(argv, folders, args.log_format)
        if args.workers > 1:
            from ocpp_fast._supervisor import serve_processes

            argv = list(sys.argv[1:] if argv is None else argv)
            if "--workers" in argv:
                del argv[argv.index("--workers") : argv.index("--workers") + 2]
            return serve_processes(
                [a for a in argv if not a.startswith("--workers=")], args.workers, args.log_format
            )
        return run(serve_command(args))
    if args.command == "worker":
        check_operations_hosts(work, args)
        from ocpp_fast.cluster._cli import worker

        return run(worker(args))
    if args.command == "simulate":
        passwords, args.actions = _simulate_settings(sim, args)
        return run(_simulate(args, passwords, _station_tls(sim, args)))
    try:
        policy = Tolerance.parse(args.tolerate)
    except ValueError as exc:  # an unknown tolerance class
        parser.error(str(exc))
    from ocpp_fast._cli_validate import validate

    return validate(args.file, args.version, policy, args.identity)


if __name__ == "__main__":
    sys.exit(main())
