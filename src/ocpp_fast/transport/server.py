"""The CSMS side over WebSockets: :func:`serve`.

Everything a station can make the server hold is capped by
:class:`~ocpp_fast.transport.limits.Limits`: the caps on bytes and sockets sit in
:class:`_StationSocket`, where websockets hands over the bytes; those on
handlers, identities and shutdown sit in :class:`CsmsServer`.
"""

from __future__ import annotations

import asyncio
import enum
import http
import inspect
import logging
import math
import ssl as ssl_module
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

try:
    import resource
except ImportError:  # Windows
    resource = None  # type: ignore[assignment]

from websockets.asyncio.server import Server, ServerConnection
from websockets.asyncio.server import serve as ws_serve
from websockets.frames import DATA_OPCODES, CloseCode, Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import Event
from websockets.typing import Subprotocol

from ocpp_fast._ratelimit import LogLimiter
from ocpp_fast.aio import AsyncConnection
from ocpp_fast.dispatch import OcppHandler
from ocpp_fast.transport._wire import pump, text_sender
from ocpp_fast.transport.identity import basic_credentials, escaped, parse_identity
from ocpp_fast.transport.limits import DEFAULT_LIMITS, REPLACED_CLOSE_CODE, Limits

__all__ = ["Admission", "CsmsServer", "Limits", "StationRequest", "serve"]

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


@dataclass(eq=False)
class _Session:
    """One station's live connection, as the server tracks it."""

    identity: str
    connection: AsyncConnection
    websocket: _StationSocket
    authenticated: bool


class CsmsServer:
    """A running CSMS: its connections by station identity, and a graceful stop."""

    def __init__(
        self,
        handlers: Mapping[str, OcppHandler],
        authorize: Authorize | None,
        require_basic_auth: bool,
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        self.handlers = dict(handlers)
        self.connections: dict[str, AsyncConnection] = {}
        """The connected stations, by identity: always the live connection of each."""
        self.limits = limits
        self._authorize = authorize
        self._require_basic_auth = require_basic_auth
        self._server: Server | None = None
        self._stopping = False
        self._live: dict[str, _Session] = {}
        """What ``connections`` shows, with what the server needs besides."""
        self._sessions: set[_Session] = set()
        """Every session not finished yet, including those of stations already gone
        whose handlers still run."""
        self._sockets: set[_StationSocket] = set()
        """Every TCP connection, from accept to close."""
        self.handshaking = 0
        """TCP connections still in the opening handshake."""
        self.admitted = 0
        """Connections whose handshake was accepted and that are not closed yet."""
        self.task_slots = asyncio.Semaphore(limits.handler_tasks)
        self.refusals = LogLimiter(log)
        """Rate-limits the server's lines about what stations caused (one per kind)."""
        self._background: set[asyncio.Task[None]] = set()
        self._undo_accept_errors: Callable[[], None] = lambda: None

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
        """Admit or refuse a station during the HTTP handshake; never HTTP 500.

        A failure of ``authorize`` is logged and answered 503 (try again later):
        a station must not learn our tracebacks, nor be told it is unknown.
        """
        try:
            return await self._admit(connection, request)
        except Exception:
            log.exception("admitting %s failed", escaped(request.path))
            return connection.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, "try again later\n")

    async def _admit(self, connection: ServerConnection, request: Request) -> Response | None:
        if self._stopping:
            return connection.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, "shutting down\n")
        if self.admitted >= self.limits.max_connections:
            self.refusals.warning(
                "connection cap", "refusing a station: %d connections open", self.admitted
            )
            return connection.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, "too many stations\n")
        try:
            identity = parse_identity(request.path)
        except UnicodeDecodeError:
            identity = None
        if identity is None:
            self.refusals.info(
                "bad identity", "refusing the path %s: no valid identity", escaped(request.path)
            )
            return connection.respond(http.HTTPStatus.NOT_FOUND, "no valid station identity\n")
        headers = request.headers.get_all("Authorization")
        credentials = basic_credentials(headers[0]) if len(headers) == 1 else None
        if headers and credentials is None:  # two headers, or not valid Basic
            return _unauthorized(connection)
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
        # Authenticated: ``authorize`` saw a password or a verified certificate and said yes.
        authenticated = self._authorize is not None and (
            credentials is not None or certificate is not None
        )
        current = self._live.get(identity)
        if current is not None and current.authenticated and not authenticated:
            self.refusals.warning(
                "takeover",
                "%s: refusing an unauthenticated connection; an authenticated one is live",
                identity,
            )
            return connection.respond(http.HTTPStatus.CONFLICT, "station already connected\n")
        assert isinstance(connection, _StationSocket)
        connection.admit(authenticated)
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
        assert isinstance(websocket, _StationSocket)
        websocket.handshake_done()
        identity = parse_identity(websocket.request.path if websocket.request else "") or "?"
        subprotocol = websocket.subprotocol
        if subprotocol is None:
            log.info("%s: no acceptable subprotocol, closing", identity)
            await websocket.close(1002, "no acceptable OCPP version")
            return

        handler = self.handlers[subprotocol]
        connection = AsyncConnection(
            handler,
            text_sender(websocket),
            identity=identity,
            max_calls=self.limits.calls_in_flight,
            task_slots=self.task_slots,
        )
        session = _Session(identity, connection, websocket, websocket.authenticated)
        if not self._take_over(session):
            await websocket.close(REPLACED_CLOSE_CODE, "an authenticated connection is live")
            return
        self._sessions.add(session)
        log.info("%s: connected (%s)", identity, subprotocol)
        reading = asyncio.ensure_future(pump(websocket, connection))
        # A station that goes away leaves the table at once, even while its
        # reader waits for a handler slot.
        websocket.on_lost(reading.cancel)
        try:
            await asyncio.wait([reading])
        finally:
            reading.cancel()
            self._leave(session)
            connection.abort(ConnectionError(f"{identity} disconnected"))
            if not await connection.drain(self.limits.handler_grace):
                self.refusals.warning(
                    "grace", "%s: cancelling handlers still running after it left", identity
                )
                connection.stop()
            self._sessions.discard(session)
            log.info("%s: disconnected", identity)
        if not reading.cancelled() and (error := reading.exception()) is not None:
            log.error("%s: reading failed", identity, exc_info=error)

    def _take_over(self, session: _Session) -> bool:
        """Make ``session`` the station's live connection, closing an older one.

        ``False`` (and nothing changes) when the older one is authenticated and
        the newer one is not: an unauthenticated connection never displaces it.
        """
        identity = session.identity
        previous = self._live.get(identity)
        if previous is not None:
            if previous.authenticated and not session.authenticated:
                return False
            self.refusals.warning(
                "replaced",
                "%s: connected again; closing the older connection (code %d)",
                identity,
                REPLACED_CLOSE_CODE,
            )
            self._later(
                previous.websocket.close(REPLACED_CLOSE_CODE, "replaced by a newer connection")
            )
        self._live[identity] = session
        self.connections[identity] = session.connection
        return True

    def _leave(self, session: _Session) -> None:
        """Take ``session`` out of the table, unless a newer one took its place."""
        if self._live.get(session.identity) is session:
            del self._live[session.identity]
            del self.connections[session.identity]

    def _later(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` in the background; kept referenced, its exception retrieved."""
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(_retrieved)
        task.add_done_callback(self._background.discard)

    async def close(self, timeout: float = 10.0) -> None:
        """Stop within ``timeout`` seconds: refuse new stations, let calls in flight finish
        while time allows, cancel the handlers still running, then close every connection.

        The last quarter of ``timeout`` (at most one second) is for the closing
        handshakes; connections still open at the deadline are aborted.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self._stopping = True
        if self._server is None:
            return
        self._server.server.close()  # stop listening now
        handlers_until = deadline - min(1.0, timeout / 4)
        for session in list(self._sessions):
            if not await session.connection.drain(max(0.0, handlers_until - loop.time())):
                break
        for session in list(self._sessions):
            session.connection.stop()
        self._server.close()
        closing = asyncio.ensure_future(self._server.wait_closed())
        await asyncio.wait([closing], timeout=max(0.0, deadline - loop.time()))
        if not closing.done():
            for socket in list(self._sockets):
                socket.transport.abort()
            await asyncio.wait([closing], timeout=0.1)  # handlers unwind after the aborts
        closing.cancel()
        self._undo_accept_errors()


def _retrieved(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and (error := task.exception()) is not None:
        log.debug("background task failed: %r", error)


class _StationSocket(ServerConnection):
    """websockets' server connection with the byte- and socket-level caps of :class:`Limits`.

    They apply where websockets hands over the bytes, before it buffers them:
    a handshake may hold ``handshake_bytes``; a station that does not read
    what we send (pongs to its pings pile up unread) is cut off at
    ``unread_output``; a binary frame closes with 1003.
    """

    csms: CsmsServer  # set on the subclass that serve() makes for each server

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.authenticated = False
        self._handshaking = False
        self._admitted = False
        self._received = 0
        self._lost: list[Callable[[], object]] = []
        self._refused_data = False

    def admit(self, authenticated: bool) -> None:
        """The handshake is accepted: count the connection until it closes."""
        self.authenticated = authenticated
        if not self._admitted:
            self._admitted = True
            self.csms.admitted += 1

    def handshake_done(self) -> None:
        if self._handshaking:
            self._handshaking = False
            self.csms.handshaking -= 1

    def on_lost(self, callback: Callable[[], object]) -> None:
        """Call ``callback`` when the TCP connection is gone."""
        self._lost.append(callback)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        csms = self.csms
        csms._sockets.add(self)
        self._handshaking = True
        csms.handshaking += 1
        if csms.handshaking > csms.limits.pending_handshakes:
            csms.refusals.warning(
                "handshake cap", "closing a new connection: %d handshakes pending", csms.handshaking
            )
            self.transport.abort()
        elif len(csms._sockets) > _socket_room(csms.limits.spare_fds):
            csms.refusals.warning(
                "fd limit",
                "closing a new connection: %d open, near the file-descriptor limit",
                len(csms._sockets),
            )
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self.handshake_done()
        csms = self.csms
        csms._sockets.discard(self)
        if self._admitted:
            self._admitted = False
            csms.admitted -= 1
        for callback in self._lost:
            callback()
        self._lost.clear()

    def data_received(self, data: bytes) -> None:
        limits = self.csms.limits
        if self._handshaking:
            self._received += len(data)
            if self._received > limits.handshake_bytes:
                self._cut("handshake size", f"over {limits.handshake_bytes} bytes of handshake")
                return
        elif self.transport.get_write_buffer_size() > limits.unread_output:
            self._cut("unread output", f"over {limits.unread_output} bytes unread")
            return
        super().data_received(data)

    def process_event(self, event: Event) -> None:
        if isinstance(event, Frame) and event.opcode in DATA_OPCODES:
            if self._refused_data:
                return  # the rest of what arrived with the binary frame
            if event.opcode is Opcode.BINARY:
                self._refuse_binary()
                return
        super().process_event(event)

    def _refuse_binary(self) -> None:
        """OCPP-J is text frames only: close 1003 (unsupported data)."""
        self._refused_data = True
        self.csms.refusals.warning(
            "binary frame", "%s: closing with 1003: a binary frame", self._who()
        )
        self.protocol.fail(CloseCode.UNSUPPORTED_DATA, "OCPP-J uses text frames only")
        self.send_data()

    def _cut(self, kind: str, why: str) -> None:
        self.csms.refusals.warning(kind, "%s: closing the connection: %s", self._who(), why)
        self.transport.abort()

    def _who(self) -> str:
        try:
            identity = parse_identity(self.request.path) if self.request is not None else None
        except UnicodeDecodeError:
            identity = None
        if identity is not None:
            return identity
        peer = self.transport.get_extra_info("peername") if self.transport else None
        return escaped(str(peer))


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
    limits: Limits = DEFAULT_LIMITS,
) -> CsmsServer:
    """Start a CSMS serving ``handlers`` (one ``ChargeSystem``, or one per subprotocol).

    ``security_profile``: 0 none (development only), 1 HTTP Basic over ``ws://``,
    2 TLS + Basic, 3 mutual TLS (pass an ``ssl`` context that requires and
    verifies client certificates). ``authorize`` receives a
    :class:`StationRequest` and returns an :class:`Admission` (or a bool).
    permessage-deflate is on; keepalive pings every ``ping_interval`` seconds.
    ``limits`` caps what each station may cost (:class:`Limits`).
    """
    if isinstance(handlers, OcppHandler):
        handlers = {handlers.version.subprotocol: handlers}
    if security_profile in (2, 3) and ssl is None:
        raise ValueError(f"security profile {security_profile} needs an ssl context")
    if security_profile == 3 and ssl is not None and ssl.verify_mode != ssl_module.CERT_REQUIRED:
        raise ValueError("security profile 3 needs an ssl context with CERT_REQUIRED")
    server = CsmsServer(
        handlers, authorize, require_basic_auth=security_profile in (1, 2), limits=limits
    )

    class Socket(_StationSocket):
        csms = server

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
        open_timeout=limits.handshake_timeout,
        create_connection=Socket,
    )
    _quiet_accept_errors(asyncio.get_running_loop(), server)
    return server


# --- the file-descriptor limit ----------------------------------------------------------------


def _socket_room(spare: int) -> float:
    """Sockets the process may hold: its fd limit less ``spare`` (no bound where unknown)."""
    if resource is None:
        return math.inf
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return math.inf if soft == resource.RLIM_INFINITY else soft - spare


_ACCEPT_ERROR = "socket.accept() out of system resource"
"""What asyncio reports when accept() fails with EMFILE/ENFILE/ENOBUFS/ENOMEM; it then stops
accepting on that socket for a second (its own back-off) and tries again."""


def _quiet_accept_errors(loop: asyncio.AbstractEventLoop, server: CsmsServer) -> None:
    """One rate-limited line instead of a traceback per failed accept on ``server``'s sockets.

    At the fd limit asyncio logs a full traceback each time; a station flood
    turned that into thousands of tracebacks. The back-off stays asyncio's.
    """
    previous = loop.get_exception_handler()
    assert server._server is not None
    ours = {sock.fileno() for sock in server._server.sockets}

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        sock = context.get("socket")
        if context.get("message") == _ACCEPT_ERROR and sock is not None and sock.fileno() in ours:
            server.refusals.warning(
                "accept",
                "cannot accept connections (%s); asyncio retries in 1 s",
                context.get("exception"),
            )
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    def undo() -> None:
        if loop.get_exception_handler() is handler:  # else someone chained after us: keep it
            loop.set_exception_handler(previous)

    loop.set_exception_handler(handler)
    server._undo_accept_errors = undo
