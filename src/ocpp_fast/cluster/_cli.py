"""The cluster side of the ``ocpp-fast`` command: ``serve --nats``, ``serve --workers N`` and
``worker``. Kept here so that the command imports NATS only when asked to."""

from __future__ import annotations

import argparse
import errno
import sys
from collections.abc import Mapping, Sequence

from ocpp_fast._app import AppError, load_app
from ocpp_fast._cli_log import command_log, log_to, startup_failed
from ocpp_fast._cli_serve import (
    GaveUpStart,
    operations_hosts,
    port_in_use,
    stop_on_signals,
    unless_stopped,
)
from ocpp_fast._extras import MissingExtra
from ocpp_fast.cluster._nats_auth import signer_of
from ocpp_fast.cluster.config import (
    NATS_START_TIMEOUT,
    ClusterConfig,
    NatsUnreachable,
    shown_servers,
)
from ocpp_fast.cluster.gateway import (
    REGISTRY_TTL,
    STORE_TIMEOUT,
    WORKER_TIMEOUT,
    WRITE_WINDOW,
    Gateway,
)
from ocpp_fast.cluster.worker import Worker
from ocpp_fast.dispatch import OcppHandler
from ocpp_fast.transport._health import Probes

__all__ = ["gateway_for", "worker"]


def config_for(
    nats: str | Sequence[str], creds: str | None, start_timeout: float | None
) -> ClusterConfig:
    """The cluster at ``nats``, authenticated with a credentials file when one is given; NATS
    not reached within ``start_timeout`` seconds (``None``: :data:`NATS_START_TIMEOUT`,
    ``--nats-start-timeout`` not given) is a failure to start (it was retried for
    good, silently but for a WARNING a minute, and SIGTERM could not stop the wait). A
    credentials file that cannot be read or used is a ``ValueError`` naming it, at once (it
    was a traceback, or a wait for NATS, at the first connection)."""
    options = {"user_credentials": creds} if creds else {}
    try:
        signer_of(options)
    except OSError as exc:
        raise ValueError(f"--nats-creds {creds}: {exc.strerror or exc}") from None
    if start_timeout is None:
        start_timeout = NATS_START_TIMEOUT
    return ClusterConfig(nats, options=options, start_timeout=start_timeout)


def gateway_for(
    nats: str | Sequence[str],
    creds: str | None,
    handlers_in: str,
    handlers: Mapping[str, OcppHandler],
    worker_timeout: float | None = None,
    registry_ttl: float | None = None,
    write_window: float | None = None,
    start_timeout: float | None = None,
    store_timeout: float | None = None,
    handler_first: bool = False,
) -> tuple[dict[str, OcppHandler], Gateway]:
    """What ``serve --nats`` serves, and the gateway: ``handlers``, APP's or without APP the
    demo's of every version, whether they run here or forward every CALL to workers.

    Forwarded, the handlers are still the app's own classes (every CALL goes to workers
    through a subclass of each: :func:`~ocpp_fast.cluster._handlers.clustered`), so that
    their lifecycle hooks run here, in the process holding the stations' sockets, where
    ``on_connect`` can call its station; and the versions accepted are APP's, those of the
    workers given the same APP, as ``serve(app, cluster=Gateway(..., handlers_in="workers"))``
    accepts. A station of another version is refused at its handshake (no common
    subprotocol), where it was accepted, each of its CALLs then answered InternalError (no
    worker runs for its version). ``worker_timeout``, ``registry_ttl``, ``write_window`` and
    ``store_timeout`` left ``None`` are :class:`Gateway`'s defaults (the command wrote the
    figures again)."""
    gateway = Gateway(
        config_for(nats, creds, start_timeout),
        handlers_in=handlers_in,
        worker_timeout=WORKER_TIMEOUT if worker_timeout is None else worker_timeout,
        registry_ttl=REGISTRY_TTL if registry_ttl is None else registry_ttl,
        write_window=WRITE_WINDOW if write_window is None else write_window,
        store_timeout=STORE_TIMEOUT if store_timeout is None else store_timeout,
        handler_first=handler_first,
    )
    return dict(handlers), gateway


async def worker(args: argparse.Namespace) -> int:
    """``ocpp-fast worker --nats URL APP...``: serve until SIGINT/SIGTERM, logging as ``serve``
    does (its lines at WARNING went to stderr bare, through Python's last-resort handler, and
    its INFO lines, a NATS reconnect among them, nowhere), with ``serve``'s ``/metrics``,
    ``/healthz`` and ``/readyz`` when asked (``--metrics-port``, ``--health-port``), served
    from before NATS is reached: ``/readyz`` says what is awaited."""
    log_to(sys.stdout, args.log_level, args.log_format)
    handlers: list[OcppHandler] = []
    try:
        for spec in args.handlers:
            handlers += (await load_app(spec, factory=args.factory, app_dir=args.app_dir)).values()
        metrics = None
        if args.metrics_port is not None:
            from ocpp_fast.metrics import Metrics

            metrics = Metrics()
        pool = Worker(
            handlers,
            config_for(args.nats, args.nats_creds, args.nats_start_timeout),
            concurrency=args.concurrency,
            metrics=metrics,
            loop_blocked=args.loop_blocked,
        )
        metrics_host, health_host = operations_hosts(args)
        probes = Probes(
            metrics_host,
            metrics,
            args.metrics_port,
            args.health_port,
            {"worker": pool.not_ready},
            health_host,
        )
    except OSError as exc:  # a port in use: which flag chose it
        said = str(exc)
        if exc.errno == errno.EADDRINUSE:
            flags = [("--metrics-port", args.metrics_port), ("--health-port", args.health_port)]
            said += port_in_use(flags, said)
        return startup_failed(said)
    except (AppError, ValueError, MissingExtra) as exc:
        return startup_failed(exc)
    try:
        return await _work(pool, probes, args.nats, args.shutdown_timeout)
    finally:
        probes.stop()


async def _work(
    pool: Worker, probes: Probes, nats: str | Sequence[str], shutdown_timeout: float
) -> int:
    """Start ``pool``, serve until SIGINT/SIGTERM, stop (its handlers in hand get up to
    ``shutdown_timeout`` seconds); the exit code."""
    stop, signals = stop_on_signals(shutdown_timeout)

    try:
        await unless_stopped(pool.start(), stop, 0)
    except NatsUnreachable as exc:  # one line and exit code 2, as serve's failures to start
        return startup_failed(exc)
    except GaveUpStart:  # stopped while NATS did not answer
        await pool.close()
        command_log.info("stopped before the worker joined the cluster")
        return 0
    versions = ", ".join(pool.handlers)
    command_log.info("worker serving OCPP %s from %s; Ctrl-C stops", versions, shown_servers(nats))
    if probes.metrics_port is not None:
        command_log.info("metrics on http://%s:%s/metrics", probes.host, probes.metrics_port)
    if probes.health_port is not None:
        on_metrics = probes.health_port == probes.metrics_port  # no --health-port of its own
        at = f"http://{probes.host if on_metrics else probes.health_host}:{probes.health_port}"
        command_log.info("probes on %s/healthz and %s/readyz", at, at)
    await stop.wait()
    # Said at once, as serve says its stop: the handlers still running get up to
    # --shutdown-timeout, and nothing was logged between the signal and "stopped after".
    command_log.info(
        "stopping on %s: no new CALLs taken; those in hand get up to %g s",
        signals[0].name,
        shutdown_timeout,
    )
    await pool.close(shutdown_timeout)
    command_log.info("stopped after %d calls", pool.handled)
    return 0
