"""The CSMS side over WebSockets: :func:`serve`, whatever library carries the frames.

Each backend is a module of its own, imported only when chosen
(:mod:`._picows_server`, :mod:`._websockets_server`), so that either extra works
installed alone; what they share (admission, the table of live stations, handler
bounds, shutdown, the refusal log) is in :mod:`ocpp_fast.transport._stations`.
"""

from __future__ import annotations

import ssl as ssl_module
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from ocpp_fast.dispatch import OcppHandler
from ocpp_fast.transport._handlers import by_subprotocol
from ocpp_fast.transport._health import Check, Probes
from ocpp_fast.transport._lifecycle import DISCONNECT_CAUSES, start_up
from ocpp_fast.transport._loopwatch import watch_loop
from ocpp_fast.transport._refusals import Reason
from ocpp_fast.transport._stations import (
    Admission,
    Authorize,
    CsmsServer,
    ListeningSocket,
    ServerOptions,
    StationRequest,
)
from ocpp_fast.transport.backend import resolve
from ocpp_fast.transport.limits import DEFAULT_LIMITS, DEFAULT_MAX_SIZE, Limits

if TYPE_CHECKING:
    from ocpp_fast.metrics import Metrics
    from ocpp_fast.transport._websockets_server import WebsocketsServer as WebsocketsServer

__all__ = [
    "Admission",
    "ClusterAttachment",
    "CsmsServer",
    "Limits",
    "ListeningSocket",
    "StationRequest",
    "serve",
]


if not TYPE_CHECKING:  # a checker sees WebsocketsServer imported above, and no Any for any other

    def __getattr__(name: str) -> Any:
        """``WebsocketsServer``, the websockets backend's class, loaded only when asked for."""
        if name == "WebsocketsServer":
            from ocpp_fast.transport._websockets_server import WebsocketsServer

            return WebsocketsServer
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class ClusterAttachment(Protocol):
    """What ``serve(..., cluster=...)`` takes: :class:`ocpp_fast.cluster.Gateway` is one.

    Declared here so that the transport needs nothing from the cluster package above it.
    An attachment may also have ``not_ready() -> str | None`` (why it cannot serve now, as the
    gateway says when NATS is lost): ``/readyz`` then reports it as ``nats``; and ``async
    connect()``, awaited before the server listens (the gateway reaches NATS there, so that
    no station is accepted whose CALLs could not yet be stored, forwarded or routed); and
    ``measure(metrics)``, called with the server's :class:`~ocpp_fast.metrics.Metrics` when it
    keeps any, to add its own figures to them.
    """

    def handlers_for(self, handlers: Mapping[str, OcppHandler]) -> Mapping[str, OcppHandler]:
        """The handlers to serve instead of ``handlers``."""

    async def attach(self, server: CsmsServer) -> None:
        """Start following the running server's stations."""


_PROFILE_1_WITH_TLS = (
    "security profile 1 is HTTP Basic over ws://, without TLS; with TLS it is profile 2: "
    "give security_profile=2 (ocpp-fast serve --security-profile 2)"
)
"""Why ``serve()`` refuses profile 1 with a TLS context (``ocpp-fast serve`` says it before,
in its flags' words, as it does for its other TLS flags)."""


async def serve(
    handlers: OcppHandler | Mapping[str, OcppHandler],
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    authorize: Authorize | None = None,
    security_profile: int = 0,
    ssl: ssl_module.SSLContext | None = None,
    ping_interval: float | None = 20,
    max_size: int = DEFAULT_MAX_SIZE,
    limits: Limits = DEFAULT_LIMITS,
    backend: str | None = None,
    metrics_port: int | None = None,
    metrics: Metrics | None = None,
    health_port: int | None = None,
    cluster: ClusterAttachment | None = None,
    reuse_port: bool = False,
    metrics_host: str | None = None,
    health_host: str | None = None,
) -> CsmsServer:
    """Start a CSMS serving ``handlers`` (one ``ChargeSystem``, or one per subprotocol, keyed
    ``"ocpp1.6"`` or by the label ``"1.6"``; a key of another version than its handler's is a
    ``ValueError``).

    ``security_profile``: 0 none (development only), 1 HTTP Basic over ``ws://``,
    2 TLS + Basic, 3 mutual TLS (pass an ``ssl`` context that requires and
    verifies client certificates). ``authorize`` receives a
    :class:`StationRequest` and returns an :class:`Admission` (or a bool: ``False`` is
    ``UNAUTHORIZED``, 401, for a station that sent a password or a certificate, else
    ``UNKNOWN``, 404); profiles 1 and 2 require it (without it any password would do),
    elsewhere every station is admitted.
    permessage-deflate is on; keepalive pings every ``ping_interval`` seconds (a station
    that answers none is closed after about two).
    ``limits`` caps what each station may cost (:class:`Limits`); ``max_size`` is the largest
    message a station may send, in bytes (:data:`~ocpp_fast.transport.limits.DEFAULT_MAX_SIZE`,
    1 MiB, by default): a larger one closes its connection with 1009. ``metrics_port`` serves
    Prometheus metrics (:mod:`ocpp_fast.metrics`, extra ``[metrics]``) on that port of
    ``metrics_host`` (``None``: ``host``; 0: any free port, ``server.metrics_port`` says which),
    so that the stations' address need not be the scraper's; or pass your own
    ``metrics`` and serve them as you like. The metrics port answers the probes ``/healthz``
    (the event loop runs) and ``/readyz`` (listening, started, not stopping, and in a
    cluster connected to NATS) too; ``health_port`` serves only those, with no extra, on
    ``health_host`` (``None``: ``host``; ``server.health_port`` says where they are).
    ``cluster`` attaches the server to a cluster (:class:`ocpp_fast.cluster.Gateway`, extra
    ``[cluster]``). ``reuse_port`` (SO_REUSEPORT)
    lets several processes listen on one port, the kernel spreading connections among them.
    """
    chosen = resolve(backend)
    handlers = by_subprotocol(handlers, "ChargeSystem")
    if cluster is not None:
        handlers = cluster.handlers_for(handlers)
    if security_profile in (2, 3) and ssl is None:
        raise ValueError(f"security profile {security_profile} needs an ssl context")
    if security_profile == 1 and ssl is not None:  # it served wss:// with no word of it
        raise ValueError(_PROFILE_1_WITH_TLS)
    if security_profile == 3 and ssl is not None and ssl.verify_mode != ssl_module.CERT_REQUIRED:
        raise ValueError("security profile 3 needs an ssl context with CERT_REQUIRED")
    require_basic_auth = security_profile in (1, 2)
    if require_basic_auth and authorize is None:
        raise ValueError(
            f"security profile {security_profile} checks each station's password: pass "
            "authorize= (a function of StationRequest returning an Admission or a bool)"
        )
    if metrics is None and metrics_port is not None:
        from ocpp_fast.metrics import Metrics

        metrics = Metrics()
    if metrics is not None:  # at 0 from the start: the first count is a rise rate() sees
        metrics.expect("ocpp_stations_connected", (h.version.label for h in handlers.values()))
        metrics.expect("ocpp_handshakes_refused_total", (reason.value for reason in Reason))
        metrics.expect("ocpp_disconnections_total", DISCONNECT_CAUSES)
    measure = getattr(cluster, "measure", None)  # a gateway's own figures, beside the server's
    if measure is not None and metrics is not None:
        measure(metrics)
    options = ServerOptions(
        host,
        port,
        authorize,
        require_basic_auth,
        ssl,
        ping_interval,
        max_size,
        limits,
        metrics,
        reuse_port,
    )
    # The probes answer from the first moment (/readyz saying why not yet), the port only
    # once the cluster is reached: a station accepted while the gateway still waited for NATS
    # had its durable CALLs (with handlers in workers, every CALL) answered InternalError,
    # and was dropped if NATS never came; a load balancer checking the port, or the kernel
    # spreading connections over ``--workers N``, sent stations to a process not ready.
    probes = _Probes(
        host if metrics_host is None else metrics_host,
        metrics if metrics_port is not None else None,
        metrics_port,
        health_port,
        cluster,
        host if health_host is None else health_host,
    )
    server: CsmsServer
    try:
        connect = getattr(cluster, "connect", None)
        if connect is not None:
            await connect()
        if chosen == "picows":
            from ocpp_fast.transport._picows_server import serve_picows

            server = await serve_picows(handlers, options)
        else:
            from ocpp_fast.transport._websockets_server import serve_websockets

            server = await serve_websockets(handlers, options)
    except BaseException:
        probes.stop()
        raise
    probes.follow(server)
    # a thread that sees the loop blocked, from the start (a blocking on_startup too)
    watching = watch_loop(limits.loop_blocked, handlers.values(), lambda: server.metrics)
    server.on_closed.append(watching)
    try:
        if cluster is not None:
            await cluster.attach(server)
        await start_up(handlers.values(), server)
        server.started = True
    except BaseException:
        server.stop_admitting()  # closed without on_shutdown: the start did not finish
        await server.close(0)
        raise
    return server


class _Probes(Probes):
    """``/metrics``, ``/healthz`` and ``/readyz`` on the ports asked for, started before the
    server listens (so that they answer while a gateway waits for NATS: ``/healthz`` live,
    ``/readyz`` naming what it waits for) and stopped with it, so that ``/readyz`` says
    "shutting down" while it closes."""

    def __init__(
        self,
        host: str,
        metrics: Metrics | None,
        metrics_port: int | None,
        health_port: int | None,
        cluster: ClusterAttachment | None,
        health_host: str,
    ) -> None:
        checks: dict[str, Check] = {"server": _not_listening}
        cluster_check = getattr(cluster, "not_ready", None)
        if cluster_check is not None:
            checks["nats"] = cluster_check
        super().__init__(host, metrics, metrics_port, health_port, checks, health_host)

    def follow(self, server: CsmsServer) -> None:
        """``server`` listens: the probes report it, and stop when it is closed."""
        server.metrics_port, server.health_port = self.metrics_port, self.health_port
        if self.health is not None:
            self.health.checks["server"] = server.not_serving
        server.on_closed.extend(self.stops)


def _not_listening() -> str:
    """``/readyz``'s ``server`` before the server listens."""
    return "starting: not listening yet"
