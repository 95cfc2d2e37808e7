"""The CSMS side on the ``websockets`` library: ``serve(..., backend="websockets")``.

Everything a station can make the server hold is capped by
:class:`~ocpp_fast.transport.limits.Limits`. What any backend shares (admission,
the table of live stations, handler bounds, shutdown) is in
:mod:`ocpp_fast.transport._stations`; here is the websockets glue, with the caps
on bytes and sockets in :class:`_StationSocket`, where websockets hands over the
bytes.
"""

from __future__ import annotations

from ocpp_fast._extras import require

require("websockets", "the websockets backend")

import asyncio  # noqa: E402
import http  # noqa: E402
import logging  # noqa: E402
from collections.abc import Awaitable, Callable, Mapping, Sequence  # noqa: E402
from typing import Any  # noqa: E402

from websockets.asyncio.server import Server, ServerConnection  # noqa: E402
from websockets.asyncio.server import serve as ws_serve  # noqa: E402
from websockets.exceptions import InvalidMessage  # noqa: E402
from websockets.http11 import Request, Response  # noqa: E402
from websockets.protocol import State  # noqa: E402
from websockets.typing import Subprotocol  # noqa: E402

from ocpp_fast._connected_line import log_connected  # noqa: E402
from ocpp_fast._ratelimit import ConnectionLog  # noqa: E402
from ocpp_fast.dispatch import OcppHandler  # noqa: E402
from ocpp_fast.transport._accept import listen  # noqa: E402
from ocpp_fast.transport._lifecycle import CloseFrames  # noqa: E402
from ocpp_fast.transport._refusals import MALFORMED, Reason, peer_of  # noqa: E402
from ocpp_fast.transport._stations import (  # noqa: E402
    Authorize,
    CsmsServer,
    ListeningSocket,
    ServerOptions,
    Session,
    quiet_accept_errors,
    run_closed,
)
from ocpp_fast.transport._wire import TextFramesOnly, pump, text_sender  # noqa: E402
from ocpp_fast.transport.identity import escaped, parse_identity  # noqa: E402
from ocpp_fast.transport.library_logs import websockets_log  # noqa: E402
from ocpp_fast.transport.limits import DEFAULT_LIMITS, REPLACED_CLOSE_CODE, Limits  # noqa: E402

__all__ = ["WebsocketsServer", "serve_websockets"]

log = logging.getLogger("ocpp_fast.transport")


class WebsocketsServer(CsmsServer):
    """A CSMS whose stations are carried by the ``websockets`` library."""

    def __init__(
        self,
        handlers: Mapping[str, OcppHandler],
        authorize: Authorize | None,
        require_basic_auth: bool,
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        super().__init__(handlers, authorize, require_basic_auth, limits)
        self._servers: list[Server] = []
        """One per listening socket (one per address of the host, where we bind them)."""
        self._sockets: set[_StationSocket] = set()
        """Every TCP connection, from accept to close."""
        self._undo_accept_errors: Callable[[], None] = lambda: None

    def listening(self) -> Sequence[ListeningSocket]:
        assert self._servers
        return [sock for listening in self._servers for sock in listening.sockets]

    def select_subprotocol(
        self, connection: ServerConnection, offered: list[Subprotocol] | Any
    ) -> Subprotocol | None:
        """websockets' hook for :meth:`subprotocol_for`."""
        chosen = self.subprotocol_for(offered)
        return None if chosen is None else Subprotocol(chosen)

    async def process_request(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        """Admit or refuse a station during the HTTP handshake (never with HTTP 500)."""
        offered = tuple(
            part.strip()
            for header in request.headers.get_all("Sec-WebSocket-Protocol")
            for part in header.split(",")
        )
        assert isinstance(connection, _StationSocket)
        verdict = await self.admit(
            request.path,
            request.headers.get_all("Authorization"),
            offered,
            _peer_certificate(connection),
            connection.peer,
        )
        if not isinstance(verdict, bool):
            connection.answered = True
            response = connection.respond(verdict.status, verdict.text)
            if verdict.status == http.HTTPStatus.UNAUTHORIZED:
                response.headers["WWW-Authenticate"] = 'Basic realm="OCPP", charset="UTF-8"'
            return response
        connection.admit(authenticated=verdict)
        return None

    async def handle(self, websocket: ServerConnection) -> None:
        """One station's connection, from the handshake to the close."""
        assert isinstance(websocket, _StationSocket)
        websocket.handshake_done()
        identity = parse_identity(websocket.request.path if websocket.request else "") or "?"
        subprotocol = websocket.subprotocol
        if subprotocol is None:
            request = websocket.request
            offered = request.headers.get_all("Sec-WebSocket-Protocol") if request else []
            self.refusal_log.no_common_version(
                websocket.peer,
                identity,
                (part.strip() for header in offered for part in header.split(",")),
                self.handlers,
            )
            await websocket.close(1002, "no acceptable OCPP version")
            return

        handler = self.handlers[subprotocol]
        connection = self.new_connection(
            handler, text_sender(websocket), identity=identity, peer=websocket.remote_address
        )
        session = Session(identity, connection, websocket.authenticated, websocket.close)
        if not self.take_over(session):
            await websocket.close(REPLACED_CLOSE_CODE, "an authenticated connection is live")
            return
        log_connected(log, identity, subprotocol, websocket.peer)
        reading = asyncio.ensure_future(pump(websocket, connection))
        # A station that goes away leaves the table at once, even while its
        # reader waits for a handler slot.
        websocket.on_lost(reading.cancel)
        try:
            await asyncio.wait([reading])
        finally:
            reading.cancel()
            await self.finish(session, _close_frames(websocket), websocket.lost_to)
        if not reading.cancelled() and (error := reading.exception()) is not None:
            ConnectionLog(log, identity).error("reading failed", exc_info=error)

    async def close(self, timeout: float = 10.0) -> None:
        """Stop within ``timeout`` seconds: refuse new stations, let calls in flight finish
        while time allows, cancel the handlers still running, then close every connection.

        The last quarter of ``timeout`` (at most one second) is for the closing
        handshakes; connections still open at the deadline are aborted.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        handlers_end = await self.begin_closing(timeout)
        if not self._servers:
            return
        for listening in self._servers:
            listening.server.close()  # stop listening now
        await self.stop_handlers(handlers_end)
        for listening in self._servers:
            listening.close()
        closing = [asyncio.ensure_future(listening.wait_closed()) for listening in self._servers]
        _, open_still = await asyncio.wait(closing, timeout=max(0.0, deadline - loop.time()))
        if open_still:
            for socket in list(self._sockets):
                socket.abort()
            await asyncio.wait(open_still, timeout=0.1)  # handlers unwind after the aborts
        for waiting in closing:
            waiting.cancel()
        self._undo_accept_errors()
        run_closed(self)


class _StationSocket(TextFramesOnly, ServerConnection):
    """websockets' server connection with the byte- and socket-level caps of :class:`Limits`.

    They apply where websockets hands over the bytes, before it buffers them:
    a handshake may hold ``handshake_bytes``; a station that does not read
    what we send (pongs to its pings pile up unread) is cut off at
    ``unread_output``; a binary frame closes with 1003.
    """

    csms: WebsocketsServer  # set on the subclass that serve() makes for each server

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.authenticated = False
        self.answered = False
        """The handshake was refused with an HTTP status (already logged and counted)."""
        self.peer = "?"
        """The station's address, for the log."""
        self._raw: asyncio.Transport | None = None
        self._accepted = 0.0
        """The loop time of the accept (TLS and the request share one deadline from it)."""
        self._made = False
        """websockets' connection_made ran (after TLS, where TLS is ours to do)."""
        self._handshaking = False
        self._admitted = False
        self._received = 0
        self._lost: list[Callable[[], object]] = []
        self.lost_to: Exception | str | None = None
        """Why the connection ended without a close frame, if known (for the log): why we
        aborted it, or the transport's error."""
        self._malformed = False
        """Answered 400: websockets could not read the request."""

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
        raw: asyncio.Transport = transport  # type: ignore[assignment]
        self._raw = raw
        self._accepted = asyncio.get_running_loop().time()
        self.peer = peer_of(raw)
        csms = self.csms
        csms._sockets.add(self)
        csms.sockets += 1
        self._handshaking = True
        csms.handshaking += 1
        refused = csms.room_for_socket(raw)
        if refused is not None:
            csms.refusal_log.refused(Reason.SOCKET_CAP, self.peer, None, refused)
            raw.abort()
            return
        if csms.tls is None:
            self._made_over(raw)
        else:
            csms.secure(raw, self, self._made_over)

    def _made_over(self, transport: asyncio.Transport) -> None:
        self._made = True
        super().connection_made(transport)

    def abort(self) -> None:
        """Drop the TCP connection now."""
        if self._raw is not None:
            self._raw.abort()

    async def handshake(self, *args: Any, **kwargs: Any) -> None:
        """websockets' opening handshake, with what it refuses by itself logged and counted.

        websockets' own ``open_timeout`` starts once TLS is done (its connection is made
        then): the deadline here counts from the accept, so TLS and the request share one
        ``handshake_timeout``, as on picows."""
        deadline = self._accepted + self.csms.limits.handshake_timeout
        try:
            async with asyncio.timeout_at(deadline):
                await super().handshake(*args, **kwargs)
        except (asyncio.CancelledError, TimeoutError):
            if not self.csms._stopping:  # the deadline, or websockets' open_timeout
                detail = self.csms.too_slow(self.request is not None)
                self._refuse_handshake(Reason.HANDSHAKE_TIMEOUT, detail)
            raise
        failure = self.protocol.handshake_exc
        if self.protocol.state is not State.OPEN and (not self.answered or self._malformed):
            if failure is not None and isinstance(failure.__cause__, EOFError):
                return  # it left before its request was complete: nothing to refuse
            self._refuse_handshake(Reason.MALFORMED_REQUEST, str(failure or "no request"))

    def send_data(self) -> None:
        """Answer HTTP 400 to a request websockets cannot read, as the picows backend does
        (websockets itself only half-closes), then send what websockets queued (that EOF)."""
        failure = self.protocol.handshake_exc
        if (
            not self.answered
            and self.protocol.state is State.CONNECTING
            and isinstance(failure, InvalidMessage)
            and not isinstance(failure.__cause__, EOFError)  # it left mid-request: no answer
            and self.transport is not None
            and not self.transport.is_closing()
        ):
            self.answered = self._malformed = True  # handshake() logs it as malformed_request
            response = self.respond(MALFORMED.status, MALFORMED.text)  # "Connection: close"
            self.transport.write(response.serialize())
        super().send_data()

    def _refuse_handshake(self, reason: Reason, detail: str) -> None:
        try:
            identity = parse_identity(self.request.path) if self.request is not None else None
        except UnicodeDecodeError:
            identity = None
        self.csms.refusal_log.refused(reason, self.peer, identity, detail)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.lost_to is None:
            self.lost_to = exc
        if self._made:
            super().connection_lost(exc)
        self.handshake_done()
        csms = self.csms
        if self in csms._sockets:
            csms._sockets.discard(self)
            csms.sockets -= 1
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
                self._refuse_handshake(
                    Reason.HANDSHAKE_SIZE, f"over {limits.handshake_bytes} bytes of handshake"
                )
                self.answered = True
                self.transport.abort()
                return
        elif self.transport.get_write_buffer_size() > limits.unread_output:
            self._cut("unread output", f"over {limits.unread_output} bytes unread")
            return
        super().data_received(data)

    def say_binary_refused(self) -> None:
        self.csms.refusals.warning(
            "binary frame",
            "%s: closing with 1003: a binary frame",
            self._who(),
            extra={"identity": self._who()},
        )

    def _cut(self, kind: str, why: str) -> None:
        who = self._who()
        self.csms.refusals.warning(
            kind, "%s: closing the connection: %s", who, why, extra={"identity": who}
        )
        self.lost_to = f"aborted by us: {why}"
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


def _close_frames(websocket: ServerConnection) -> CloseFrames:
    """How the station's WebSocket closed, from websockets' record of the close frames."""
    protocol = websocket.protocol
    received, sent = protocol.close_rcvd, protocol.close_sent
    return (
        None if received is None else (received.code, received.reason),
        None if sent is None else (sent.code, sent.reason),
        bool(protocol.close_rcvd_then_sent),
    )


def _peer_certificate(connection: ServerConnection) -> Mapping[str, Any] | None:
    transport = connection.transport
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    if ssl_object is None:
        return None
    certificate: Mapping[str, Any] | None = ssl_object.getpeercert()
    return certificate or None


async def serve_websockets(
    handlers: Mapping[str, OcppHandler], options: ServerOptions
) -> WebsocketsServer:
    server = WebsocketsServer(
        handlers, options.authorize, options.require_basic_auth, limits=options.limits
    )
    server.metrics = options.metrics
    server.tls = options.ssl
    ping_interval = options.ping_interval

    class Socket(_StationSocket):
        csms = server

    def serving(**where: Any) -> Awaitable[Server]:  # where: host and port, or a socket
        return ws_serve(
            server.handle,
            subprotocols=[Subprotocol(name) for name in handlers],
            select_subprotocol=server.select_subprotocol,
            process_request=server.process_request,
            compression="deflate",
            ping_interval=ping_interval,
            ping_timeout=ping_interval,  # a dead peer is gone after about two intervals
            close_timeout=min(10.0, ping_interval or 10.0),  # (websockets then waits for its close)
            max_size=options.max_size,
            open_timeout=options.limits.handshake_timeout,
            create_connection=Socket,
            logger=websockets_log,
            **where,
        )

    server._servers = await listen(server, serving, options.host, options.port, options.reuse_port)
    server._undo_accept_errors = quiet_accept_errors(
        asyncio.get_running_loop(), server.listening(), server.refusals
    )
    return server
