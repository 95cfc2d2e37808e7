"""The ``ocpp-fast`` command: serve a demo CSMS, simulate stations, validate logs, benchmark.

ocpp-fast serve [--host H] [--port P] [--quiet] [--nats URL [--handlers workers] [--workers N]]
ocpp-fast worker --nats URL module:Class [module:Class...]
ocpp-fast simulate --url ws://127.0.0.1:9000/ocpp --chargers 100 --duration 30
ocpp-fast validate FRAMES.jsonl [--version 2.0.1] [--tolerate naive_datetime,enum_case,...]
ocpp-fast bench [MIX] [--markdown]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from ocpp_fast import errors
from ocpp_fast._extras import MissingExtra
from ocpp_fast._protocol_version import LABELS, by_label
from ocpp_fast.tolerance import Tolerance
from ocpp_fast.transport.backend import BACKENDS
from ocpp_fast.transport.runtime import run, settle_gc

__all__ = ["main"]


class _FrameLines(logging.Formatter):
    """One readable line per frame: ``CS001 < [2,"1","Heartbeat",{}]``; others as they are."""

    def format(self, record: logging.LogRecord) -> str:
        when = self.formatTime(record, "%H:%M:%S")
        frame = getattr(record, "frame", None)
        if record.name == "ocpp_fast.frames" and frame is not None:
            text = frame.decode("utf-8", "replace") if isinstance(frame, bytes) else str(frame)
            return f"{when} {record.__dict__['identity']} {record.__dict__['direction']} {text}"
        return f"{when} {record.getMessage()}"


async def _serve(
    host: str,
    port: int,
    quiet: bool,
    backend: str | None,
    metrics_port: int | None,
    cluster_args: argparse.Namespace | None = None,
) -> int:
    from ocpp_fast.demo import DemoChargeSystem
    from ocpp_fast.dispatch import OcppHandler
    from ocpp_fast.transport import serve

    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(_FrameLines())
    logging.getLogger("ocpp_fast").addHandler(handler)
    logging.getLogger("ocpp_fast").setLevel(logging.WARNING)
    logging.getLogger("ocpp_fast.frames").setLevel(logging.WARNING if quiet else logging.DEBUG)
    handlers: dict[str, OcppHandler] = {"ocpp2.0.1": DemoChargeSystem()}
    gateway = None
    if cluster_args is not None and cluster_args.nats:
        from ocpp_fast.cluster._cli import gateway_for

        handlers, gateway = gateway_for(
            cluster_args.nats,
            cluster_args.nats_creds,
            cluster_args.handlers,
            handlers["ocpp2.0.1"],
            cluster_args.worker_timeout,
            cluster_args.registry_ttl,
        )
    server = await serve(
        handlers,
        host,
        port,
        backend=backend,
        metrics_port=metrics_port,
        cluster=gateway,
        reuse_port=cluster_args is not None and cluster_args.reuse_port,
    )
    settle_gc()
    versions = ", ".join(handlers)
    print(
        f"demo CSMS on ws://{host}:{server.port}/<identity> ({versions}); Ctrl-C stops", flush=True
    )
    if gateway is not None:
        print(f"gateway {gateway.node} of the cluster at {gateway.config.servers}", flush=True)
    if server.metrics_port is not None:
        print(f"metrics on http://{host}:{server.metrics_port}/metrics", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.close()
    if gateway is not None:
        await gateway.close()
    print("stopped", flush=True)
    return 0


async def _simulate(
    url: list[str], chargers: int, duration: float, interval: float, backend: str | None
) -> int:
    from ocpp_fast.simulator import SimulationReport, simulate

    def progress(report: SimulationReport, elapsed: float) -> None:
        rate = report.messages / elapsed if elapsed else 0.0
        errors_seen = sum(report.errors.values())
        line = (
            f"\r{elapsed:5.0f} s  stations {report.connected}/{report.stations}  "
            f"messages {report.messages}  {rate:,.0f} msg/s  "
            f"p50 {report.percentile(0.5):.1f} ms  errors {errors_seen}"
        )
        print(line, end="", file=sys.stderr, flush=True)

    logging.getLogger("ocpp_fast").setLevel(logging.ERROR)
    report = await simulate(
        url, chargers, duration, interval=interval, progress=progress, backend=backend
    )
    print(file=sys.stderr)
    print(report.table())
    return 0 if not report.errors and report.connected == chargers else 1


def _validate(path: Path, label: str, policy: Tolerance) -> int:
    """Check a log of frames, one JSON array per line; CALLRESULTs are judged against
    the action of the CALL with the same id earlier in the log. With ``tolerate``, a
    frame the policy accepts is reported with each deviation it would repair."""
    from ocpp_fast import codec
    from ocpp_fast.tolerance import retry

    version = by_label(label)
    calls: dict[str, str] = {}
    bad = total = repaired = 0
    for number, line in enumerate(path.read_bytes().splitlines(), 1):
        if not line.strip():
            continue
        total += 1
        try:
            frame = codec.decode_frame(line, version, calls)
        except errors.OcppError as exc:
            accepted = retry(line, exc, version, calls, policy)
            if accepted is None:
                bad += 1
                where = exc.details.get("path", "")
                print(f"{path}:{number}: {version.code_of(exc)} {where} {exc.description}")
                continue
            repaired += 1
            frame = accepted.frame
            for deviation in accepted.deviations:
                print(f"{path}:{number}: repaired {deviation.kind.label} {deviation.path}")
        message_id = getattr(frame, "message_id", None)
        action = getattr(frame, "action", None)
        if message_id is not None and action is not None and type(frame).__name__ == "Call":
            calls[message_id] = action
    tolerated = f", {repaired} accepted after repair" if policy else ""
    print(f"{total} frames, {bad} invalid{tolerated} (OCPP {version.label})")
    return 1 if bad else 0


def main(argv: Sequence[str] | None = None) -> int:
    """The ``ocpp-fast`` command; a missing optional dependency is one line naming the
    ``pip install`` to run, not a traceback."""
    try:
        return _command(argv)
    except MissingExtra as exc:
        print(f"ocpp-fast: {exc}", file=sys.stderr)
        return 2


def _command(argv: Sequence[str] | None) -> int:
    parser = argparse.ArgumentParser(prog="ocpp-fast", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the demo CSMS, logging one line per frame")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=9000)
    serve.add_argument("--quiet", action="store_true", help="log no frames")
    serve.add_argument("--backend", choices=BACKENDS, help="WebSocket library (default: fastest)")
    serve.add_argument(
        "--metrics-port", type=int, help="serve Prometheus metrics on this port (extra [metrics])"
    )
    serve.add_argument("--nats", metavar="URL", help="join the cluster at this NATS server")
    serve.add_argument("--nats-creds", metavar="FILE", help="NATS credentials file (.creds)")
    serve.add_argument(
        "--handlers",
        choices=("gateway", "workers"),
        default="gateway",
        help="with --nats: run the handlers here (the demo's) or in `ocpp-fast worker`s",
    )
    # Seconds a forwarded CALL waits for its worker / a dead gateway's stations stay listed.
    serve.add_argument("--worker-timeout", type=float, default=10.0, help=argparse.SUPPRESS)
    serve.add_argument("--registry-ttl", type=float, default=30.0, help=argparse.SUPPRESS)
    serve.add_argument("--workers", type=int, default=1, help="gateway processes on the port")
    serve.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)
    work = commands.add_parser("worker", help="run handlers for a cluster's gateways")
    work.add_argument("--nats", metavar="URL", required=True, help="the cluster's NATS server")
    work.add_argument("--nats-creds", metavar="FILE", help="NATS credentials file (.creds)")
    work.add_argument("handlers", nargs="+", metavar="module:Class", help="ChargeSystem classes")
    sim = commands.add_parser("simulate", help="load-test a CSMS with simulated stations")
    sim.add_argument(
        "--url",
        required=True,
        nargs="+",
        help="CSMS URL; the station identity is appended (several: stations spread, fail over)",
    )
    sim.add_argument("--chargers", type=int, default=10)
    sim.add_argument("--duration", type=float, default=30.0, help="seconds")
    sim.add_argument("--interval", type=float, default=1.0, help="seconds between messages")
    sim.add_argument("--backend", choices=BACKENDS, help="WebSocket library (default: fastest)")
    check = commands.add_parser("validate", help="check a log of frames, one per line")
    check.add_argument("file", type=Path)
    check.add_argument("--version", default="2.0.1", choices=sorted(LABELS))
    check.add_argument(
        "--tolerate",
        default="",
        metavar="CLASSES",
        help="comma-separated tolerance classes (naive_datetime, space_datetime, "
        "numeric_string, enum_case, null_optional, unknown_fields, overlong_string, all)",
    )
    commands.add_parser("bench", help="the codec and dispatch comparison", add_help=False)
    args, rest = parser.parse_known_args(argv)
    if args.command == "bench":
        from ocpp_fast.bench import main as bench

        return bench(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command == "serve":
        if args.workers > 1:
            from ocpp_fast.cluster._cli import serve_processes

            argv = list(sys.argv[1:] if argv is None else argv)
            if "--workers" in argv:
                del argv[argv.index("--workers") : argv.index("--workers") + 2]
            return serve_processes(
                [a for a in argv if not a.startswith("--workers=")], args.workers
            )
        server_args = (args.host, args.port, args.quiet, args.backend, args.metrics_port)
        return run(_serve(*server_args, args))
    if args.command == "worker":
        from ocpp_fast.cluster._cli import worker

        return run(worker(args.nats, args.nats_creds, args.handlers))
    if args.command == "simulate":
        return run(_simulate(args.url, args.chargers, args.duration, args.interval, args.backend))
    try:
        policy = Tolerance.parse(args.tolerate)
    except ValueError as exc:  # an unknown tolerance class
        parser.error(str(exc))
    return _validate(args.file, args.version, policy)


if __name__ == "__main__":
    sys.exit(main())
