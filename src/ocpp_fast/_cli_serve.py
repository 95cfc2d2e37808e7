"""``ocpp-fast serve [APP]``: a CSMS from the command line, with what a deployment sets.

Without ``APP``, the demo (:mod:`ocpp_fast.demo`: 1.6, 2.0.1 and 2.1 on one port). With
it, your own ``ChargeSystem`` (:mod:`ocpp_fast._app` says which forms ``APP`` takes), so
no team writes its own main, signal handling and flags. SIGINT and SIGTERM stop it
gracefully (calls in flight finish, ``on_disconnect`` runs) within ``--shutdown-timeout``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import errno
import logging
import math
import os
import signal
import ssl
import sys
import typing
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, TypeVar

from ocpp_fast._cli_log import (
    add_log_format_argument,
    command_log,
    log_to,
    process_name,
    startup_failed,
)
from ocpp_fast._cli_types import count, port, seconds, timeout
from ocpp_fast._extras import MissingExtra
from ocpp_fast._tls_files import load_certificate
from ocpp_fast.dispatch import OcppHandler
from ocpp_fast.errors import StartupFailed
from ocpp_fast.tolerance import Tolerance
from ocpp_fast.transport.backend import BACKENDS
from ocpp_fast.transport.limits import DEFAULT_LIMITS, DEFAULT_MAX_SIZE, Limits
from ocpp_fast.transport.runtime import (
    READY_FD_ENVIRONMENT,
    process_count,
    process_slot,
    settle_gc,
)

if TYPE_CHECKING:
    from ocpp_fast.transport import CsmsServer
    from ocpp_fast.transport._stations import Authorize
    from ocpp_fast.transport.server import ClusterAttachment

__all__ = [
    "LOG_LEVELS",
    "GaveUpStart",
    "add_app_arguments",
    "add_operations_ports",
    "add_serve_arguments",
    "check_operations_hosts",
    "operations_hosts",
    "port_in_use",
    "serve_command",
    "unless_stopped",
]

log = logging.getLogger("ocpp_fast.transport")

LOG_LEVELS = ("debug", "info", "warning", "error")
_LIMIT_NAMES = tuple(field.name for field in dataclasses.fields(Limits))
_NONE_ALLOWED = frozenset(
    name
    for name, hint in typing.get_type_hints(Limits).items()
    if type(None) in typing.get_args(hint)
)
"""The caps whose ``None`` means "not at all" (``loop_blocked``): ``--limit NAME=none``."""
T = TypeVar("T")


def add_app_arguments(parser: argparse.ArgumentParser) -> None:
    """``--factory`` and ``--app-dir``: how ``serve`` and ``worker`` alike load ``APP``."""
    parser.add_argument(
        "--factory",
        action="store_true",
        help="APP is a function (or coroutine function) returning the app",
    )
    parser.add_argument(
        "--app-dir",
        default=".",
        metavar="DIR",
        help="put DIR first on sys.path before importing APP (default: the current directory)",
    )


def add_serve_arguments(serve: argparse.ArgumentParser) -> None:
    """Every flag of ``ocpp-fast serve`` (the cluster's are added by the caller)."""
    serve.add_argument(
        "app",
        nargs="?",
        metavar="APP",
        help="module:attr, a ChargeSystem class or instance, or a mapping of subprotocol to "
        "one (several versions on one port); without it, the demo of every version",
    )
    add_app_arguments(serve)
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="the address to listen on (default 127.0.0.1: this machine only; 0.0.0.0: every "
        "interface)",
    )
    serve.add_argument(
        "--port", type=port, default=9000, help="the port (default 9000; 0: any free one)"
    )
    serve.add_argument(
        "--security-profile",
        type=int,
        choices=(0, 1, 2, 3),
        default=0,
        help="0 none, 1 Basic auth, 2 TLS + Basic auth, 3 TLS with station certificates",
    )
    serve.add_argument("--ssl-certfile", metavar="FILE", help="the CSMS's certificate (PEM)")
    serve.add_argument("--ssl-keyfile", metavar="FILE", help="its private key, if not in certfile")
    serve.add_argument(
        "--ssl-ca-certs", metavar="FILE", help="profile 3: the CA that signed station certificates"
    )
    serve.add_argument(
        "--authorize",
        metavar="module:fn",
        help="who may connect: fn(StationRequest) -> Admission or bool (may be async)",
    )
    serve.add_argument(
        "--tolerate",
        default="",
        metavar="CLASSES",
        help="deviations every station may send, added to the app's own (naive_datetime, "
        "space_datetime, numeric_string, enum_case, null_optional, unknown_fields, "
        "overlong_string, all)",
    )
    serve.add_argument(
        "--limit",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help=f"a cap of Limits, repeatable ({', '.join(_LIMIT_NAMES)})",
    )
    serve.add_argument(
        "--ping-interval",
        type=seconds,
        default=20.0,
        metavar="SECONDS",
        help="seconds between keepalive pings (default 20; 0: none)",
    )
    serve.add_argument(
        "--max-size",
        type=count,
        default=DEFAULT_MAX_SIZE,
        metavar="BYTES",
        help=f"largest message, in bytes (default {DEFAULT_MAX_SIZE})",
    )
    serve.add_argument("--backend", choices=BACKENDS, help="WebSocket library (default: fastest)")
    add_operations_ports(serve, "--host")
    serve.add_argument(
        "--log-level",
        choices=LOG_LEVELS,
        help="info (the default): stations connecting and leaving, refusals and problems; "
        "debug: every frame too; warning (the default with --quiet): problems only",
    )
    serve.add_argument(
        "--log-frames",
        action="store_true",
        help="log every frame received and sent, one line each (to debug a few stations: a "
        "fleet makes thousands a second)",
    )
    serve.add_argument(
        "--quiet",
        action="store_true",
        help="problems only: no frame (even at debug), no line per station (level warning "
        "unless --log-level says otherwise)",
    )
    add_log_format_argument(serve)
    serve.add_argument(
        "--call-stations",
        action="store_true",
        help="the demo (no APP) calls each station once its boot is accepted: a short script "
        "of requests of its version that change nothing (GetVariables or GetConfiguration, "
        "TriggerMessage, a remote start and stop...), one line per call saying what it answered",
    )
    serve.add_argument(
        "--call-timeout",
        type=timeout,
        metavar="SECONDS",
        help="with --call-stations: how long each call waits for the station's answer, and the "
        "remote start for its transaction (default 30)",
    )
    serve.add_argument(
        "--shutdown-timeout",
        type=seconds,
        default=10.0,
        metavar="SECONDS",
        help="seconds a stop waits for calls in flight (default 10)",
    )


def add_operations_ports(parser: argparse.ArgumentParser, default: str) -> None:
    """``--metrics-port`` and ``--health-port``, with ``--metrics-host`` and ``--health-host``,
    for ``serve`` and ``worker`` alike: each port of the operator's on an address of its own,
    ``default`` (the flag named) when not given. Both followed ``--host``, the stations'
    address: a server listening on 0.0.0.0 for its stations published its metrics on every
    interface too, where a local agent scraping 127.0.0.1 was all an operator wanted."""
    parser.add_argument(
        "--metrics-port",
        type=port,
        metavar="PORT",
        help="serve Prometheus metrics on this port (extra [metrics]), and /healthz and /readyz",
    )
    parser.add_argument(
        "--health-port",
        type=port,
        metavar="PORT",
        help="serve only the probes /healthz and /readyz on this port (no extra needed)",
    )
    parser.add_argument(
        "--metrics-host",
        metavar="HOST",
        help=f"the address --metrics-port listens on (default: {default}'s)",
    )
    parser.add_argument(
        "--health-host",
        metavar="HOST",
        help=f"the address --health-port listens on (default: {default}'s)",
    )


def check_operations_hosts(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """``--metrics-host`` or ``--health-host`` without its port flag is a usage error: it was
    ignored, nothing said, and the operator's scraper or probe found nothing at the address
    given (``--metrics-port``'s probes are on ``--metrics-host``, never ``--health-host``)."""
    for kind in ("metrics", "health"):
        if getattr(args, f"{kind}_host") is not None and getattr(args, f"{kind}_port") is None:
            parser.error(
                f"--{kind}-host needs --{kind}-port: it is the address that port listens on"
            )


def operations_hosts(args: argparse.Namespace) -> tuple[str, str]:
    """The addresses of the metrics port and of the health port: ``--metrics-host`` and
    ``--health-host``, each ``--host`` when not given."""
    metrics: str = args.metrics_host or args.host
    health: str = args.health_host or args.host
    return metrics, health


def limits_of(settings: list[str]) -> Limits:
    """``["handler_grace=5", ...]`` as :class:`Limits` (the others at their defaults)."""
    changes: dict[str, Any] = {}
    for setting in settings:
        name, equals, value = setting.partition("=")
        name = name.strip().replace("-", "_")
        if not equals or name not in _LIMIT_NAMES:
            from ocpp_fast._app import did_you_mean

            near = did_you_mean(name, _LIMIT_NAMES) if equals else ""
            raise ValueError(
                f"--limit {setting!r}: use NAME=VALUE, NAME one of {_LIMIT_NAMES}{near}"
            )
        kind = type(getattr(DEFAULT_LIMITS, name))
        if name in _NONE_ALLOWED and value.strip().lower() == "none":
            changes[name] = None
            continue
        try:
            changes[name] = kind(value)
        except ValueError:
            raise ValueError(f"--limit {setting!r}: {value!r} is no {kind.__name__}") from None
    try:
        return dataclasses.replace(DEFAULT_LIMITS, **changes)
    except ValueError as exc:  # Limits' own checks: said with the flag that asked for it
        raise ValueError(f"--limit {' '.join(settings)}: {exc}") from None


def ssl_context_of(args: argparse.Namespace) -> ssl.SSLContext | None:
    """The server's TLS context from the ``--ssl-*`` flags (none without a certificate)."""
    if args.ssl_certfile is None:
        if args.security_profile in (2, 3) or args.ssl_keyfile or args.ssl_ca_certs:
            raise ValueError("TLS needs --ssl-certfile (security profiles 2 and 3)")
        return None
    if args.security_profile == 1:
        raise ValueError(
            "security profile 1 is HTTP Basic over ws://, without TLS; with --ssl-certfile it "
            "is profile 2: pass --security-profile 2"
        )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    load_certificate(context, args.ssl_certfile, args.ssl_keyfile)
    if args.ssl_ca_certs is not None:
        try:
            context.load_verify_locations(args.ssl_ca_certs)
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(f"--ssl-ca-certs {args.ssl_ca_certs}: {exc.strerror or exc}") from None
        if args.security_profile == 3:
            context.verify_mode = ssl.CERT_REQUIRED
    elif args.security_profile == 3:
        raise ValueError("security profile 3 needs --ssl-ca-certs to verify stations")
    return context


def log_level_of(args: argparse.Namespace) -> str:
    """``--log-level``, else ``warning`` with ``--quiet``, else ``info``."""
    level: str | None = args.log_level
    return level or ("warning" if args.quiet else "info")


def frames_logged(args: argparse.Namespace) -> bool:
    """Whether ``serve`` logs each frame: asked for (``--log-frames``, or ``--log-level
    debug``) and not refused (``--quiet``). Never by default: a line per frame is thousands a
    second from a fleet, drowning the lines an operator needs."""
    return (args.log_frames or log_level_of(args) == "debug") and not args.quiet


def port_taken(args: argparse.Namespace, said: str) -> str:
    """What to do about a port in use, added to the bind's error (``said``), which names the
    address but not the flag that chose it: that flag, found by the port in the error, or
    every port flag given."""
    metrics, health = ports_of(args)
    flags = [("--port", args.port), ("--metrics-port", metrics), ("--health-port", health)]
    return port_in_use(flags, said)


def port_in_use(flags: list[tuple[str, int | None]], said: str) -> str:
    """:func:`port_taken` of any command: ``flags`` the port flags and their ports."""
    given = [(flag, number) for flag, number in flags if number]
    named = [item for item in given if f", {item[1]})" in said] or given
    chose = " or ".join(f"{flag} {number}" for flag, number in named)
    return f" (another process listens there: stop it, or give another port than {chose})"


def ports_of(args: argparse.Namespace) -> tuple[int | None, int | None]:
    """``--metrics-port`` and ``--health-port``; in process ``k`` of ``--workers N``, each
    plus ``k``: the processes share the OCPP port, but each is scraped and probed alone."""
    slot = process_slot() if args.reuse_port else 0
    metrics: int | None = args.metrics_port
    health: int | None = args.health_port
    return (metrics and metrics + slot), (health and health + slot)


def _tell_started() -> None:
    """Under ``--workers N``: tell the supervisor this process started (it counts a process
    that dies before this as a failed start, and stops ``serve`` after several in a row)."""
    ready = os.environ.pop(READY_FD_ENVIRONMENT, None)
    if ready is None:
        return
    try:
        os.write(int(ready), b"1")
        os.close(int(ready))
    except (OSError, ValueError):
        pass  # not a pipe of ours (set by hand): nobody is waiting


def _call_timeout(args: argparse.Namespace) -> float | None:
    """Under ``--call-stations``, how long each call waits (``--call-timeout``, else the
    demo's :data:`~ocpp_fast._demo_calls.CALL_TIMEOUT`); ``None`` without it. Resolved once,
    for the handlers and for the line announcing them, so that the two cannot differ."""
    if not args.call_stations:
        return None
    from ocpp_fast._demo_calls import CALL_TIMEOUT

    return CALL_TIMEOUT if args.call_timeout is None else float(args.call_timeout)


async def _handlers(
    args: argparse.Namespace, call_timeout: float | None
) -> tuple[dict[str, OcppHandler], str]:
    """What to serve, and how to name it in the first line printed (``call_timeout``: the
    demo calls its stations, each call waiting that long)."""
    if args.app is None:
        from ocpp_fast.demo import demo_handlers

        if call_timeout is not None:
            from ocpp_fast._demo_calls import calling_demo_handlers

            return calling_demo_handlers(call_timeout), "demo CSMS"

        if args.nats and args.handlers == "workers":
            # The demo's classes only say which versions to accept: every CALL goes to a
            # worker, so "demo CSMS" would tell the operator the demo answers.
            return demo_handlers(), "CSMS of the workers"
        return demo_handlers(), "demo CSMS"
    from ocpp_fast._app import load_app

    return await load_app(args.app, factory=args.factory, app_dir=args.app_dir), args.app


async def _serve(
    args: argparse.Namespace,
    handlers: dict[str, OcppHandler],
    authorize: Authorize | None,
    context: ssl.SSLContext | None,
    limits: Limits,
    gateway: ClusterAttachment | None,
) -> CsmsServer:
    """``serve()`` with the flags' settings."""
    from ocpp_fast.transport import serve

    metrics_port, health_port = ports_of(args)
    metrics_host, health_host = operations_hosts(args)
    return await serve(
        handlers,
        args.host,
        args.port,
        authorize=authorize,
        security_profile=args.security_profile,
        ssl=context,
        ping_interval=args.ping_interval or None,
        max_size=args.max_size,
        limits=limits,
        backend=args.backend,
        metrics_port=metrics_port,
        health_port=health_port,
        cluster=gateway,
        reuse_port=args.reuse_port,
        metrics_host=metrics_host,
        health_host=health_host,
    )


def stop_on_signals(timeout: float) -> tuple[asyncio.Event, list[signal.Signals]]:
    """An event set by the first SIGINT or SIGTERM the running loop gets, and the signals
    got (the first names the stop in the line that says it): a command's clean stop, for
    ``serve`` and ``worker`` alike, bounded by ``timeout`` (``--shutdown-timeout``).

    Each signal after the first is answered with one line saying the stop is under way and
    how long it may still take: a second Ctrl-C was met with silence, the operator left to
    guess whether it was heard, for up to the whole timeout. Not in a process of ``--workers
    N`` or ``--reload``, which gets each Ctrl-C twice (the terminal's, and its supervisor's
    passing it on): the supervisor's own process is the one the operator watches."""
    stop = asyncio.Event()
    signals: list[signal.Signals] = []
    loop = asyncio.get_running_loop()
    supervised = READY_FD_ENVIRONMENT in os.environ
    first = [0.0]

    def stop_on(sig: signal.Signals) -> None:
        signals.append(sig)
        if not stop.is_set():
            first[0] = loop.time()
            stop.set()
        elif not supervised:
            left = max(0.0, first[0] + timeout - loop.time())
            command_log.info(
                "%s again: already stopping, within %.0f s more (--shutdown-timeout %g);"
                " SIGKILL ends it at once, leaving the calls in flight unanswered",
                sig.name,
                math.ceil(left),
                timeout,
            )

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop_on, sig)
    return stop, signals


class GaveUpStart(Exception):
    """Raised by :func:`unless_stopped`: stopped, and the start did not finish in time."""


async def unless_stopped(start: Awaitable[T], stop: asyncio.Event, grace: float) -> T:
    """What ``start`` returns; :class:`GaveUpStart` if ``stop`` was set and ``start`` had
    still not finished ``grace`` seconds later (it is cancelled then). Raised, not returned as
    ``None``: a start that returns nothing (``Worker.start()``) needed a wrapper returning
    ``True`` to be told apart from a start given up.

    A stop during the start lets it finish first, so that it ends as any stop does (the
    hooks' ``on_shutdown`` included), but only for so long: a start that waits for what never
    comes (a NATS server down, which the client waits for without end) held the command
    through every SIGINT and SIGTERM, to be ended only by SIGKILL."""
    task = asyncio.ensure_future(start)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if not task.done():
            await asyncio.wait({task}, timeout=grace)
    finally:
        stopped.cancel()
        gave_up = not task.done()
        if gave_up:
            task.cancel()
    if gave_up:
        with contextlib.suppress(asyncio.CancelledError):
            await task
        raise GaveUpStart
    return task.result()


async def serve_command(args: argparse.Namespace) -> int:
    """Run ``ocpp-fast serve`` until SIGINT or SIGTERM."""
    from ocpp_fast._app import AppError, import_attribute

    # Under --workers N each process names itself in each line: they share one stdout.
    process = process_name(process_slot(), process_count()) if args.reuse_port else None
    log_to(
        sys.stdout, log_level_of(args), args.log_format, process=process, frames=frames_logged(args)
    )
    # Before anything is printed: a SIGINT or SIGTERM from the first moment on is a clean
    # stop (the start first finishes or is given up: unless_stopped), never a traceback.
    stop, signals = stop_on_signals(args.shutdown_timeout)
    call_timeout = _call_timeout(args)
    try:
        handlers, name = await _handlers(args, call_timeout)
        authorize = None
        if args.authorize is not None:
            try:
                authorize = import_attribute(args.authorize, args.app_dir)
            except AppError as exc:  # "module 'csms' has no attribute" did not say which flag
                raise AppError(f"--authorize {args.authorize}: {exc}") from exc.__cause__
            if not callable(authorize):  # else every station's handshake fails, one by one
                raise AppError(
                    f"--authorize {args.authorize} is {type(authorize).__name__}, not a "
                    "function of a StationRequest returning an Admission or a bool"
                )
        elif args.security_profile in (1, 2):
            raise ValueError(
                f"security profile {args.security_profile} checks each station's password: "
                "pass --authorize module:fn"
            )
        policy = Tolerance.parse(args.tolerate)
        limits = limits_of(args.limit)
        context = ssl_context_of(args)
    except (AppError, ValueError, OSError, MissingExtra) as exc:
        # APP that does not import or whose factory raised: one line naming the file and
        # line, as for every failure to start; its traceback at --log-level debug.
        log.debug("%s", exc, exc_info=exc.__cause__)
        return startup_failed(exc)
    if policy:
        for handler in handlers.values():
            handler.tolerance |= policy
    gateway = None
    if args.nats:
        try:
            from ocpp_fast.cluster._cli import gateway_for
        except MissingExtra as exc:  # said as any failure to start, in --log-format
            return startup_failed(exc)
        try:
            handlers, gateway = gateway_for(
                args.nats,
                args.nats_creds,
                args.handlers,
                handlers,
                args.worker_timeout,
                args.registry_ttl,
                args.nats_write_window,
                args.nats_start_timeout,
                args.nats_store_timeout,
                args.handler_first,
            )
        except ValueError as exc:  # a --nats-creds file it cannot use
            return startup_failed(exc)
    try:
        server = await unless_stopped(
            _serve(args, handlers, authorize, context, limits, gateway),
            stop,
            args.shutdown_timeout,
        )
    except GaveUpStart:
        if gateway is not None:
            await gateway.close()
        command_log.info("stopped on %s before the start finished", signals[0].name)
        return 0
    except (OSError, StartupFailed, MissingExtra) as exc:
        # A port in use, an address not ours, a start-up hook that raised, --metrics-port
        # without the extra: said plainly in one line (the hook's traceback at debug), the
        # server already closed by serve().
        said = str(exc)
        if isinstance(exc, StartupFailed):
            log.debug("%s", exc, exc_info=exc.error)
            said = f"{name}: {exc}"
        elif isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE:
            said += port_taken(args, said)
        if gateway is not None:
            await gateway.close()
        return startup_failed(said)
    settle_gc()
    scheme = "wss" if context is not None else "ws"
    versions = ", ".join(handlers)
    command_log.info(
        "%s on %s://%s:%s/<identity> (%s); Ctrl-C stops",
        name,
        scheme,
        args.host,
        server.port,
        versions,
    )
    if gateway is not None:
        from ocpp_fast.cluster.config import shown_servers  # installed: a gateway runs

        window = gateway.relay.write_window
        gathered = f"; NATS writes gathered over {window * 1000:g} ms" if window else ""
        # The line above names APP, whose handlers do not run here with --handlers workers.
        forwarded = (
            f"; every CALL answered by the workers (within {gateway.relay.worker_timeout:g} s)"
            if gateway.forward_to_workers
            else ""
        )
        first = (
            "; durable CALLs' handlers run as their stores are sent"
            if gateway.handler_first
            else ""
        )
        command_log.info(
            "gateway %s of the cluster at %s%s%s%s",
            gateway.node,
            shown_servers(gateway.config.servers),
            forwarded,
            gathered,
            first,
        )
    metrics_host, health_host = operations_hosts(args)
    if server.metrics_port is not None:
        command_log.info("metrics on http://%s:%s/metrics", metrics_host, server.metrics_port)
    if server.health_port is not None:
        # on the metrics port when --health-port is not given (or the same): its host then
        on_metrics = server.health_port == server.metrics_port
        probes = f"http://{metrics_host if on_metrics else health_host}:{server.health_port}"
        command_log.info("probes on %s/healthz and %s/readyz", probes, probes)
    if call_timeout is not None:
        _say_calls(call_timeout)
    unauthenticated = _unauthenticated(args, tls=context is not None)
    if unauthenticated:
        command_log.warning("%s", unauthenticated)
    _tell_started()
    await stop.wait()
    # Said at once: a stop drains for up to --shutdown-timeout, and the log showed nothing
    # between the signal and "stopped" but the hooks' own lines.
    command_log.info(
        "stopping on %s: %d stations connected, new ones refused; calls in flight get up to %g s",
        signals[0].name,
        len(server.connections),
        args.shutdown_timeout,
    )
    await server.close(args.shutdown_timeout)
    if gateway is not None:
        await gateway.close()
    unanswered = server.unanswered_at_stop
    if unanswered:  # expected under traffic: each station sends them again once reconnected
        command_log.info(
            "stopped; %d CALL(s) received during the stop left for their stations to send again",
            unanswered,
        )
    else:
        command_log.info("stopped")
    return 0


def _say_calls(call_timeout: float) -> None:
    """The line after the start line under ``--call-stations``: what each station will be
    asked, and how long each call waits, so that the lines of a station's calls read against
    it."""
    from ocpp_fast._demo_calls import SCRIPTS

    scripts = "; ".join(f"{label}: {', '.join(actions)}" for label, actions in SCRIPTS.items())
    command_log.info(
        "calling each station once its boot is accepted, %g s per call at most (%s)",
        call_timeout,
        scripts,
    )


_LOOPBACK = ("127.0.0.1", "::1", "localhost")


def _unauthenticated(args: argparse.Namespace, *, tls: bool) -> str | None:
    """The warning for a server that anyone reaching it may join under any identity: security
    profile 0 without ``--authorize``, beyond loopback or over TLS (TLS suggests a real
    deployment, and authenticates only the CSMS). Said after the start line, at WARNING, even
    with ``--quiet``; ``None`` where it does not apply (the demo on 127.0.0.1)."""
    if args.security_profile != 0 or args.authorize is not None:
        return None
    if not tls and args.host in _LOOPBACK:
        return None
    return (
        "security profile 0 and no --authorize: stations are not authenticated, any "
        "client may connect under any identity (--security-profile 1-3 for a real fleet)"
    )
