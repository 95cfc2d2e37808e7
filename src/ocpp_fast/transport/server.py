"""The CSMS side over WebSockets: :func:`serve`."""

from __future__ import annotations

import asyncio
import enum
import http
import inspect
import logging
import ssl as ssl_module
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.server import Server, ServerConnection
from websockets.asyncio.server import serve as ws_serve
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from ocpp_fast.aio import AsyncConnection
from ocpp_fast.dispatch import OcppHandler
from ocpp_fast.transport._wire import pump, text_sender
from ocpp_fast.transport.identity import basic_credentials, parse_identity

__all__ = ["Admission", "CsmsServer", "StationRequest", "serve"]

log = logging.getLogger("ocpp_fast.transport")


class Admission(enum.Enum):
    """What ``authorize`` decides about a station asking to connect."""

    ACCEPT = "accept"
    UNKNOWN = "unknown"
    """HTTP 404: no such station."""
    UNAUTHORIZED = "unauthorized"
    """HTTP 401: known, but the credentials are wrong."""


@dataclass(frozen=True)
class StationRequest:
    """What the CSMS knows of a station when it decides to admit it."""

    identity: str
    password: str | None
    """The HTTP Basic password, when the station sent one (profiles 1 and 2)."""
    certificate: Mapping[str, Any] | None
    """The verified client certificate (profile 3), as ``ssl`` describes it."""
    subprotocols: tuple[str, ...]
    """The subprotocols the station offered, in its order of preference."""


Authorize = Callable[[StationRequest], Awaitable[Admission | bool] | Admission | bool]


class CsmsServer:
    """A running CSMS: its connections by station identity, and a graceful stop."""

    def __init__(
        self,
        handlers: Mapping[str, OcppHandler],
        authorize: Authorize | None,
        require_basic_auth: bool,
    ) -> None:
        self.handlers = dict(handlers)
        self.connections: dict[str, AsyncConnection] = {}
        """The connected stations, by identity."""
        self._authorize = authorize
        self._require_basic_auth = require_basic_auth
        self._server: Server | None = None
        self._stopping = False

    @property
    def port(self) -> int:
        """The TCP port the server listens on (useful with ``port=0``)."""
        assert self._server is not None
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    def select_subprotocol(
        self, connection: ServerConnection, offered: list[Subprotocol] | Any
    ) -> Subprotocol | None:
        """The first subprotocol the station offers that we serve; else none (then we close)."""
        for name in offered:
            if name in self.handlers:
                return Subprotocol(name)
        return None

    async def process_request(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        """Admit or refuse a station during the HTTP handshake."""
        if self._stopping:
            return connection.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, "shutting down\n")
        try:
            identity = parse_identity(request.path)
        except UnicodeDecodeError:
            identity = None
        if identity is None:
            return connection.respond(http.HTTPStatus.NOT_FOUND, "no valid station identity\n")
        credentials = basic_credentials(request.headers.get("Authorization"))
        if credentials is not None and credentials[0] != identity:
            return _unauthorized(connection)
        if self._require_basic_auth and credentials is None:
            return _unauthorized(connection)
        offered = tuple(
            part.strip()
            for header in request.headers.get_all("Sec-WebSocket-Protocol")
            for part in header.split(",")
        )
        certificate = _peer_certificate(connection)
        station = StationRequest(
            identity, credentials[1] if credentials else None, certificate, offered
        )
        decision = await self._decide(station)
        if decision is Admission.UNKNOWN:
            return connection.respond(http.HTTPStatus.NOT_FOUND, "unknown station\n")
        if decision is Admission.UNAUTHORIZED:
            return _unauthorized(connection)
        return None

    async def _decide(self, station: StationRequest) -> Admission:
        if self._authorize is None:
            return Admission.ACCEPT
        decision = self._authorize(station)
        if inspect.isawaitable(decision):
            decision = await decision
        if isinstance(decision, bool):
            return Admission.ACCEPT if decision else Admission.UNKNOWN
        return decision

    async def handle(self, websocket: ServerConnection) -> None:
        """One station's connection, from the handshake to the close."""
        identity = parse_identity(websocket.request.path if websocket.request else "") or "?"
        subprotocol = websocket.subprotocol
        if subprotocol is None:
            log.info("%s: no acceptable subprotocol, closing", identity)
            await websocket.close(1002, "no acceptable OCPP version")
            return

        handler = self.handlers[subprotocol]
        connection = AsyncConnection(handler, text_sender(websocket), identity=identity)
        previous = self.connections.get(identity)
        self.connections[identity] = connection
        if previous is not None:
            log.warning("%s: connected again; the newer connection wins", identity)
        log.info("%s: connected (%s)", identity, subprotocol)
        try:
            await pump(websocket, connection)
        finally:
            await connection.drain()
            if self.connections.get(identity) is connection:
                del self.connections[identity]
            log.info("%s: disconnected", identity)

    async def close(self, timeout: float = 10.0) -> None:
        """Stop gracefully: refuse new stations, let in-flight calls finish, then close."""
        self._stopping = True
        connections = list(self.connections.values())
        if connections:
            await asyncio.wait(
                [asyncio.ensure_future(c.drain()) for c in connections], timeout=timeout
            )
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


def _unauthorized(connection: ServerConnection) -> Response:
    response = connection.respond(http.HTTPStatus.UNAUTHORIZED, "unauthorized\n")
    response.headers["WWW-Authenticate"] = 'Basic realm="OCPP", charset="UTF-8"'
    return response


def _peer_certificate(connection: ServerConnection) -> Mapping[str, Any] | None:
    transport = connection.transport
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    if ssl_object is None:
        return None
    certificate: Mapping[str, Any] | None = ssl_object.getpeercert()
    return certificate or None


async def serve(
    handlers: OcppHandler | Mapping[str, OcppHandler],
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    authorize: Authorize | None = None,
    security_profile: int = 0,
    ssl: ssl_module.SSLContext | None = None,
    ping_interval: float | None = 20,
    max_size: int = 2**20,
) -> CsmsServer:
    """Start a CSMS serving ``handlers`` (one ``ChargeSystem``, or one per subprotocol).

    ``security_profile``: 0 none (development only), 1 HTTP Basic over ``ws://``,
    2 TLS + Basic, 3 mutual TLS (pass an ``ssl`` context that requires and
    verifies client certificates). ``authorize`` receives a
    :class:`StationRequest` and returns an :class:`Admission` (or a bool).
    permessage-deflate is on; keepalive pings every ``ping_interval`` seconds.
    """
    if isinstance(handlers, OcppHandler):
        handlers = {handlers.version.subprotocol: handlers}
    if security_profile in (2, 3) and ssl is None:
        raise ValueError(f"security profile {security_profile} needs an ssl context")
    if security_profile == 3 and ssl is not None and ssl.verify_mode != ssl_module.CERT_REQUIRED:
        raise ValueError("security profile 3 needs an ssl context with CERT_REQUIRED")
    server = CsmsServer(handlers, authorize, require_basic_auth=security_profile in (1, 2))
    server._server = await ws_serve(
        server.handle,
        host,
        port,
        subprotocols=[Subprotocol(name) for name in handlers],
        select_subprotocol=server.select_subprotocol,
        process_request=server.process_request,
        compression="deflate",
        ping_interval=ping_interval,
        max_size=max_size,
        ssl=ssl,
    )
    return server
