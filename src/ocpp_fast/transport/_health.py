"""``/healthz`` and ``/readyz``: what Kubernetes, systemd and load balancers probe.

Served over HTTP from a thread (with ``/metrics`` on the metrics port, or alone on a
health port: :func:`serve_operations`), but every answer is computed *on the server's event
loop*: the thread schedules the check with ``call_soon_threadsafe`` and waits at most
:data:`LOOP_ANSWER_SECONDS` for it. So ``/healthz`` failing means what a liveness probe must
learn: the loop is stuck (a handler blocking it, a deadlock), although the process and its
threads live on. ``/readyz`` says whether the server should get new stations: listening,
``on_startup`` done, not shutting down, and, in a cluster, connected to NATS. Each body is
JSON naming what is not ready, so ``curl`` tells an operator why a pod is out of rotation.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import socket
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any, Protocol
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

__all__ = [
    "LOOP_ANSWER_SECONDS",
    "Check",
    "Health",
    "OperationsServer",
    "Probes",
    "serve_operations",
]

LOOP_ANSWER_SECONDS = 0.5
"""How long a probe waits for the event loop to run its check: below Kubernetes' default probe
timeout (1 s), so a stuck loop gets a 503 with a reason rather than a timed-out probe."""

Check = Callable[[], "str | None"]
"""Run on the loop: why something is not ready, or ``None`` when it is."""

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class Health:
    """The liveness and readiness of one server, asked from any thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.checks: dict[str, Check] = {}
        """Name (a key of ``/readyz``'s ``not_ready``) -> its check, run on the loop."""

    def not_ready(self) -> dict[str, str]:
        """What is not ready, by name (empty: ready). Runs on the loop."""
        found = {}
        for name, check in list(self.checks.items()):
            try:
                reason = check()
            except Exception as exc:  # a broken check is a reason, never a 500
                reason = f"the check failed: {exc!r}"
            if reason is not None:
                found[name] = reason
        return found

    def _on_loop(self, work: Callable[[], Any]) -> tuple[bool, Any]:
        """Run ``work`` on the loop: ``(True, its result)``, or ``(False, why not)``."""
        answer: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def run() -> None:
            if answer.set_running_or_notify_cancel():
                try:
                    answer.set_result(work())
                except BaseException as exc:  # pragma: no cover: not_ready() catches its own
                    answer.set_exception(exc)

        try:
            self.loop.call_soon_threadsafe(run)
        except RuntimeError:  # the loop is closed
            return False, "the event loop is closed"
        try:
            return True, answer.result(LOOP_ANSWER_SECONDS)
        except concurrent.futures.TimeoutError:
            answer.cancel()
            return False, f"the event loop did not answer within {LOOP_ANSWER_SECONDS:g} s"

    def live(self) -> tuple[int, dict[str, Any]]:
        """``/healthz``: 200 when the loop runs a callback in time, else 503 and why."""
        answered, result = self._on_loop(lambda: None)
        if answered:
            return 200, {"live": True}
        return 503, {"live": False, "not_live": {"loop": result}}

    def ready(self) -> tuple[int, dict[str, Any]]:
        """``/readyz``: 200 when nothing is not ready, else 503 naming each thing that is not."""
        answered, result = self._on_loop(self.not_ready)
        not_ready = result if answered else {"loop": result}
        if not not_ready:
            return 200, {"ready": True}
        return 503, {"ready": False, "not_ready": not_ready}


def _json(status: int, body: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    data = json.dumps(body).encode()
    reason = "OK" if status == 200 else "Service Unavailable"
    start_response(
        f"{status} {reason}",
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(data))),
            ("Cache-Control", "no-store"),
        ],
    )
    return [data]


def _not_found(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    data = b"not found: this port serves /healthz and /readyz\n"
    start_response(
        "404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", str(len(data)))]
    )
    return [data]


def operations_app(health: Health | None, metrics: WsgiApp | None) -> WsgiApp:
    """``/healthz`` and ``/readyz`` from ``health``; every other path to ``metrics`` (as
    prometheus-client serves ``/metrics``: on any path) or, without it, 404."""
    fallback = metrics if metrics is not None else _not_found

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if health is not None and path == "/healthz":
            return _json(*health.live(), start_response)
        if health is not None and path == "/readyz":
            return _json(*health.ready(), start_response)
        return fallback(environ, start_response)

    return app


class _Quiet(WSGIRequestHandler):
    """No line on stderr per request: a probe every few seconds is no news."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


class OperationsServer(ThreadingMixIn, WSGIServer):
    """The HTTP server of ``/metrics``, ``/healthz`` and ``/readyz``, one thread per request
    (a probe waiting on a stuck loop must not hold up a scrape)."""

    daemon_threads = True

    def stop(self) -> None:
        """Stop serving and close the socket (from any thread but the serving one)."""
        self.shutdown()
        self.server_close()


def serve_operations(host: str, port: int, app: WsgiApp) -> OperationsServer:
    """Serve ``app`` on ``host:port`` (0: any free port) from a daemon thread."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    server_class = type("OperationsServer", (OperationsServer,), {"address_family": family})
    server: OperationsServer = server_class((host, port), _Quiet)
    server.set_app(app)
    threading.Thread(target=server.serve_forever, name="ocpp-fast-http", daemon=True).start()
    return server


class MetricsPage(Protocol):
    """What :class:`Probes` serves ``/metrics`` with: :class:`ocpp_fast.metrics.Metrics` (named
    so, not imported: the metrics module imports this one)."""

    def serve_http(self, port: int, host: str = ..., health: Health | None = ...) -> int: ...

    def stop_http(self) -> None: ...


class Probes:
    """``/metrics`` (with ``metrics``) and the probes on ``metrics_port``, the probes alone on
    ``health_port`` (the two may be one), each port only if given (0: any free one; the
    attributes say which were taken); ``/readyz`` runs ``checks``. ``serve()`` and ``ocpp-fast
    worker`` serve theirs so, started before they connect anywhere, so that a probe answers
    from the first moment (``/readyz`` naming what is awaited).

    ``host`` is the address of the metrics port; ``health_host`` that of the health port
    (``None``: ``host``): an operator may keep ``/metrics`` on 127.0.0.1 (a local agent
    scrapes it) while the probes answer on every interface (the orchestrator's), or the
    other way round."""

    def __init__(
        self,
        host: str,
        metrics: MetricsPage | None,
        metrics_port: int | None,
        health_port: int | None,
        checks: dict[str, Check],
        health_host: str | None = None,
    ) -> None:
        self.host = host
        self.health_host = host if health_host is None else health_host
        self.health: Health | None = None
        self.metrics_port: int | None = None
        self.health_port: int | None = None
        self.stops: list[Callable[[], None]] = []
        """What stops each port served."""
        if metrics_port is None and health_port is None:
            return
        health = self.health = Health(asyncio.get_running_loop())
        health.checks.update(checks)
        try:
            if metrics is not None and metrics_port is not None:
                self.metrics_port = self.health_port = metrics.serve_http(
                    metrics_port, host, health
                )
                self.stops.append(metrics.stop_http)
            if health_port is not None and health_port != metrics_port:
                probes = serve_operations(
                    self.health_host, health_port, operations_app(health, None)
                )
                self.health_port = probes.server_address[1]
                self.stops.append(probes.stop)
        except BaseException:  # the health port in use: the metrics port is not left open
            self.stop()
            raise

    def stop(self) -> None:
        """Stop serving every port."""
        for stop in self.stops:
            stop()
