"""The CSMS side on picows (Cython WebSockets, best on uvloop): the default backend of ``serve()``.

picows admits a connection from a synchronous callback, but ``authorize`` may be
a coroutine (a database lookup). So the HTTP upgrade request is read here first
(bounded in bytes and time), the station admitted or refused with an HTTP
status (:mod:`._stations`: the same rules as every backend), and only then is
the socket handed to picows, which re-reads the same request bytes, checks the
WebSocket headers and answers 101 with the subprotocol and permessage-deflate
we chose. From there on, frames go through :class:`~._picows_wire.OcppListener`
straight into :meth:`AsyncConnection.feed`.

Keepalive is ours too (:class:`_Keepalive`): one timer for every station
rather than picows' task per connection.
"""

from __future__ import annotations

import asyncio
import http
import logging
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

from picows import (
    WSAutoPingStrategy,
    WSCloseCode,
    WSUpgradeRequest,
    WSUpgradeResponse,
    WSUpgradeResponseWithListener,
)

# The server-side protocol class itself: picows' stub leaves it out, but its constructor is
# what ws_create_server calls, and we need it to hand over a socket already admitted.
from picows.picows import WSProtocol  # type: ignore[attr-defined]

from ocpp_fast._connected_line import log_connected
from ocpp_fast._ratelimit import ConnectionLog
from ocpp_fast.dispatch import OcppHandler
from ocpp_fast.transport._accept import listen
from ocpp_fast.transport._lifecycle import CloseFrames
from ocpp_fast.transport._picows_wire import OcppListener
from ocpp_fast.transport._refusals import MALFORMED, Reason, Refusal, peer_of, shown_peer
from ocpp_fast.transport._stations import (
    Authorize,
    CsmsServer,
    ListeningSocket,
    ServerOptions,
    Session,
    quiet_accept_errors,
    run_closed,
)
from ocpp_fast.transport.deflate import MessageDeflate, accept_offer
from ocpp_fast.transport.identity import parse_identity
from ocpp_fast.transport.library_logs import picows_log
from ocpp_fast.transport.limits import REPLACED_CLOSE_CODE, Limits

__all__ = ["PicowsServer", "serve_picows"]

log = logging.getLogger("ocpp_fast.transport")
_HEAD_END = b"\r\n\r\n"
_READ_BUFFER = 2048
"""picows' first read buffer per connection (it grows as messages need): most OCPP
messages are under 1 KiB, and thousands of idle stations should not hold 16 KiB each."""
KEEPALIVE_TICKS = 4
"""Keepalive sweeps per ping interval: a station is pinged once it has been quiet for
3/4 to 1 interval, and closed when nothing (its pong included) came an interval later."""
_ABORT_AFTER = 0.01
"""Seconds a dead peer's close frame is given to leave before the socket is aborted."""


class PicowsServer(CsmsServer):
    """A CSMS whose stations are carried by picows."""

    def __init__(
        self,
        handlers: Mapping[str, OcppHandler],
        authorize: Authorize | None,
        require_basic_auth: bool,
        limits: Limits,
        *,
        max_size: int,
        ping_interval: float | None,
    ) -> None:
        super().__init__(handlers, authorize, require_basic_auth, limits)
        self.max_size = max_size
        self.ping_interval = ping_interval
        self._servers: list[asyncio.Server] = []
        """One per listening socket (one per address of the host, where we bind them)."""
        self._listeners: set[_Station] = set()
        self._handshakes: set[_Handshake] = set()
        self._undo_accept_errors: Callable[[], None] = lambda: None
        self._keepalive: _Keepalive | None = None

    def listening(self) -> Sequence[ListeningSocket]:
        assert self._servers
        return [sock for listening in self._servers for sock in listening.sockets]

    async def close(self, timeout: float = 10.0) -> None:
        """Stop within ``timeout`` seconds, as the websockets backend does: no new
        stations, handlers finish while time allows, then every connection closes
        with 1001 and what is still open at the deadline is aborted."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        handlers_end = await self.begin_closing(timeout)
        if not self._servers:
            return
        for listening in self._servers:
            listening.close()  # stop listening now
        if self._keepalive is not None:
            self._keepalive.stop()
        for handshake in list(self._handshakes):
            handshake.shut()
        await self.stop_handlers(handlers_end)
        for station in list(self._listeners):
            station.start_close(1001, "the CSMS is shutting down")
        while self._listeners and loop.time() < deadline:
            await asyncio.sleep(0.01)
        for station in list(self._listeners):
            if station.transport is not None:
                station.transport.underlying_transport.abort()
        await asyncio.sleep(0)
        if self._background:  # the stations' endings (their on_disconnect) within the deadline
            await asyncio.wait(list(self._background), timeout=max(0.01, deadline - loop.time()))
        self._undo_accept_errors()
        run_closed(self)


class _Station(OcppListener):
    """A station's WebSocket once admitted: its session in the server's table."""

    def __init__(
        self,
        server: PicowsServer,
        identity: str,
        subprotocol: str | None,
        authenticated: bool,
        deflate: MessageDeflate | None,
        peer: Any,
        offered: tuple[str, ...],
    ) -> None:
        super().__init__(
            max_size=server.max_size,
            deflate=deflate,
            unread_output=server.limits.unread_output,
            on_refused=self._refused,
        )
        self.server = server
        self.identity = identity
        self.subprotocol = subprotocol
        self.authenticated = authenticated
        self.peer = peer
        self.offered = offered
        self.session: Session | None = None
        self._released = False

    def _refused(self, kind: str, why: str) -> None:
        if kind == "message size":
            return  # said once the connection is gone, as for picows' own 1009 (Stations.finish)
        self.server.refusals.warning(
            kind, "%s: %s", self.identity, why, extra={"identity": self.identity}
        )

    def on_ws_connected(self, transport: Any) -> None:
        super().on_ws_connected(transport)
        server = self.server
        server._listeners.add(self)
        if self.subprotocol is None:
            server.refusal_log.no_common_version(
                shown_peer(self.peer), self.identity, self.offered, server.handlers
            )
            self.detach()
            self.start_close(1002, "no acceptable OCPP version")
            return
        connection = server.new_connection(
            server.handlers[self.subprotocol],
            identity=self.identity,
            write=self.write,
            on_resume=self.resume,
            peer=self.peer,
        )
        session = Session(self.identity, connection, self.authenticated, self._close_later)
        if not server.take_over(session):
            self.detach()
            self.start_close(REPLACED_CLOSE_CODE, "an authenticated connection is live")
            return
        self.attach(connection)
        self.session = session
        log_connected(log, self.identity, self.subprotocol, shown_peer(self.peer))

    def release(self) -> None:
        """The socket no longer counts against the server's caps (once)."""
        if not self._released:
            self._released = True
            self.server.sockets -= 1
            self.server.admitted -= 1

    async def _close_later(self, code: int, reason: str) -> None:
        self.start_close(code, reason)

    def ping(self) -> None:
        """Ask a quiet station for a sign of life (its pong resets ``quiet``)."""
        transport = self.transport
        if transport is not None and not transport.is_disconnected:
            transport.send_ping()

    def drop_dead(self, waited: float) -> None:
        """No pong came: 1001, and the socket aborted at once rather than closed, as a
        graceful close would wait on a peer that reads nothing (picows' keepalive does the
        same)."""
        transport = self.transport
        if transport is None or transport.is_disconnected:
            return
        ConnectionLog(log, self.identity).info("no pong within %g s, closing", waited)
        transport.send_close(WSCloseCode.GOING_AWAY, b"no pong to a keepalive ping")
        socket = transport.underlying_transport
        asyncio.get_running_loop().call_later(_ABORT_AFTER, socket.abort)

    def on_ws_disconnected(self, transport: Any) -> None:
        super().on_ws_disconnected(transport)
        server = self.server
        server._listeners.discard(self)
        self.release()
        session, self.session = self.session, None
        self.detach()
        if session is not None:
            server._later(server.finish(session, _close_frames(transport), self.aborted))


class _Keepalive:
    """Pings for every station of a server from one timer, and the dead-peer timeout.

    picows' own keepalive is a task per connection that sleeps until its ping is due:
    with 5,000 stations each sending every few seconds, that was ~280 task wake-ups a
    second (a timer, a future and a coroutine step each) that never sent a ping, about
    3-4 µs of CPU per message at the fleet rate of the load benchmark. Here one timer
    ticks ``KEEPALIVE_TICKS`` times per interval and counts each station's ``quiet``
    ticks, which every frame it sends resets: a ping at ``KEEPALIVE_TICKS`` quiet ticks,
    the connection dropped at twice that. A sweep of 5,000 stations is a loop of plain
    attribute updates, a fraction of a millisecond.
    """

    def __init__(self, stations: set[_Station], interval: float) -> None:
        self._stations = stations
        self._interval = interval
        self._tick = interval / KEEPALIVE_TICKS
        self._timer: asyncio.TimerHandle | None = None

    def start(self) -> None:
        self._timer = asyncio.get_running_loop().call_later(self._tick, self._sweep)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _sweep(self) -> None:
        self.start()  # first: a station that raises must not end every station's keepalive
        ping_at = KEEPALIVE_TICKS
        dead_at = 2 * KEEPALIVE_TICKS
        for station in tuple(self._stations):  # a station may leave during the sweep
            quiet = station.quiet + 1
            station.quiet = quiet
            if quiet == ping_at:
                station.ping()
            elif quiet >= dead_at:
                station.drop_dead(self._interval)


def _close_frames(transport: Any) -> CloseFrames:
    """How the station's WebSocket closed, from picows' record of the close frames."""
    handshake = transport.close_handshake
    if handshake is None:
        return None, None, False
    received, sent = handshake.recv, handshake.sent
    return (
        None if received is None else (int(received.code), received.reason),
        None if sent is None else (int(sent.code), sent.reason),
        bool(handshake.recv_then_sent),
    )


class _Handshake(asyncio.Protocol):
    """A new TCP connection until its upgrade request is admitted or refused."""

    def __init__(self, server: PicowsServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self._head = bytearray()
        self._admitting: asyncio.Task[None] | None = None
        self._path: str | None = None
        """The request's path while :meth:`Stations.admit` decides on it."""
        self._timer: asyncio.TimerHandle | None = None
        self._counted = False
        self.peer = "?"
        self._accepted = 0.0
        """The loop time of the accept: TLS, the request and its admission share one
        ``handshake_timeout`` from there."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's are no subclass
        self._accepted = asyncio.get_running_loop().time()
        self.peer = peer_of(transport)
        server = self.server
        server._handshakes.add(self)
        server.sockets += 1
        server.handshaking += 1
        self._counted = True
        refused = server.room_for_socket(transport)
        if refused is not None:
            server.refusal_log.refused(Reason.SOCKET_CAP, self.peer, None, refused)
            self.abort()
            return
        if server.tls is None:
            self._await_request()
        else:
            raw: asyncio.Transport = transport  # type: ignore[assignment]
            server.secure(raw, self, self._secured)

    def _secured(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self._await_request()

    def _await_request(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = self._accepted + self.server.limits.handshake_timeout
        self._timer = loop.call_at(deadline, self._too_slow)

    def _too_slow(self) -> None:
        self._refuse(Reason.HANDSHAKE_TIMEOUT, self.server.too_slow(self._admitting is not None))

    def _refuse(self, reason: Reason, detail: str) -> None:
        """Abort a handshake that never got as far as an HTTP answer."""
        self.server.refusal_log.refused(reason, self.peer, None, detail)
        self.abort()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def shut(self) -> None:
        """The server closes: a request waiting for its admission (for the server's start,
        or for ``authorize``) is refused 503 "shutting down", as the websockets backend
        refuses it; a socket still in TLS or sending its request is dropped."""
        admitting, path = self._admitting, self._path
        if admitting is not None and admitting.done():
            if self.transport is None or not self.transport.is_closing():
                self.abort()  # its answer, a 503 of the stop's, is on its way: not cut short
            return
        if admitting is None or path is None:
            self.abort()
            return
        admitting.cancel()
        self._respond(self.server.refuse_admission(path, self.peer))

    def data_received(self, data: bytes) -> None:
        if self._admitting is not None:
            self._head += data  # arrived after the request: replayed to picows with it
            return
        self._head += data
        limit = self.server.limits.handshake_bytes
        end = self._head.find(_HEAD_END)
        if end < 0:
            if len(self._head) > limit:
                self._refuse(Reason.HANDSHAKE_SIZE, f"over {limit} bytes of handshake")
            return
        if end + len(_HEAD_END) > limit:
            self._refuse(Reason.HANDSHAKE_SIZE, f"over {limit} bytes of handshake")
            return
        assert self.transport is not None
        self.transport.pause_reading()
        self._admitting = asyncio.ensure_future(self._admit(end + len(_HEAD_END)))

    def connection_lost(self, exc: Exception | None) -> None:
        self._done_handshaking()
        if self._counted:
            self._counted = False
            self.server.sockets -= 1
        if self._admitting is not None:
            self._admitting.cancel()

    def _done_handshaking(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        server = self.server
        if self in server._handshakes:
            server._handshakes.discard(self)
            server.handshaking -= 1

    async def _admit(self, head_length: int) -> None:
        server = self.server
        request = _parse_head(bytes(self._head[:head_length]))
        if request is None:
            self.server.refusal_log.refused(
                Reason.MALFORMED_REQUEST, self.peer, None, "HTTP 400 not an HTTP/1.1 GET request"
            )
            self._respond(MALFORMED)
            return
        path, headers = request
        offered = tuple(
            part.strip()
            for value in headers.get("sec-websocket-protocol", ())
            for part in value.split(",")
        )
        self._path = path
        verdict = await server.admit(
            path, headers.get("authorization", ()), offered, self._certificate(), self.peer
        )
        self._path = None
        if not isinstance(verdict, bool):
            self._respond(verdict)
            return
        identity = parse_identity(path) or "?"
        subprotocol = server.subprotocol_for(offered)
        params = accept_offer(headers.get("sec-websocket-extensions", ()))
        deflate = MessageDeflate(params, is_server=True) if params is not None else None
        peername = self.transport.get_extra_info("peername") if self.transport else None
        station = _Station(server, identity, subprotocol, verdict, deflate, peername, offered)
        extra = {}
        if subprotocol is not None:
            extra["Sec-WebSocket-Protocol"] = subprotocol
        if params is not None:
            extra["Sec-WebSocket-Extensions"] = params.header()
        server.admitted += 1
        self._counted = False  # the station counts the socket from here on
        self._done_handshaking()
        self._hand_over(station, extra)

    def _hand_over(self, station: _Station, extra_headers: dict[str, str]) -> None:
        """Give the socket to picows, which re-reads the request and answers 101."""
        server = self.server
        transport = self.transport
        assert transport is not None

        def listener_for(request: WSUpgradeRequest) -> WSUpgradeResponseWithListener:
            response = WSUpgradeResponse.create_101_response(extra_headers=extra_headers)
            return WSUpgradeResponseWithListener(response, station)

        protocol = WSProtocol(
            None,
            None,
            False,
            listener_for,
            picows_log,
            True,  # disconnect on an exception in our callbacks
            server.limits.handshake_timeout,
            False,  # no keepalive task per connection: the server's _Keepalive pings
            20.0,
            20.0,
            WSAutoPingStrategy.PING_WHEN_IDLE,
            False,  # pings are answered by the listener, under the unread-output cap
            server.max_size,
            None,
            _READ_BUFFER,
        )
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        data = bytes(self._head)
        self._head = bytearray()
        fed = 0
        while fed < len(data):
            buffer = protocol.get_buffer(len(data) - fed)
            size = min(len(buffer), len(data) - fed)
            buffer[:size] = data[fed : fed + size]
            protocol.buffer_updated(size)
            fed += size
        if station.transport is None:
            # picows refused the upgrade itself (it answered 4xx and closes): it will never
            # call the listener back, so the socket stops counting here
            station.release()
            server.refusal_log.refused(
                Reason.MALFORMED_REQUEST, self.peer, station.identity, "not a WebSocket upgrade"
            )
            return
        transport.resume_reading()

    def _respond(self, refusal: Refusal) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        body = refusal.text.encode()
        lines = [
            f"HTTP/1.1 {refusal.status.value} {refusal.status.phrase}",
            "Content-Type: text/plain; charset=utf-8",
            f"Content-Length: {len(body)}",
            "Connection: close",
        ]
        if refusal.status == http.HTTPStatus.UNAUTHORIZED:
            lines.append('WWW-Authenticate: Basic realm="OCPP", charset="UTF-8"')
        transport.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        transport.close()

    def _certificate(self) -> Mapping[str, Any] | None:
        transport = self.transport
        ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
        if ssl_object is None:
            return None
        certificate: Mapping[str, Any] | None = ssl_object.getpeercert()
        return certificate or None


def _parse_head(head: bytes) -> tuple[str, dict[str, list[str]]] | None:
    """``(path, {lower-case name: [values]})`` of an HTTP/1.1 GET request head, or None."""
    lines = head[: -len(_HEAD_END)].split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3 or parts[0] != b"GET" or not parts[2].startswith(b"HTTP/1."):
        return None
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or not name or name != name.strip():
            return None
        key = name.decode("latin-1").lower()
        headers.setdefault(key, []).append(value.strip().decode("latin-1"))
    return parts[1].decode("latin-1"), headers


async def serve_picows(handlers: Mapping[str, OcppHandler], options: ServerOptions) -> PicowsServer:
    """Start the picows CSMS (``serve()`` has checked the options)."""
    server = PicowsServer(
        handlers,
        options.authorize,
        options.require_basic_auth,
        options.limits,
        max_size=options.max_size,
        ping_interval=options.ping_interval,
    )
    server.metrics = options.metrics
    server.tls = options.ssl
    loop = asyncio.get_running_loop()
    server._servers = await listen(
        server,
        partial(loop.create_server, lambda: _Handshake(server)),
        options.host,
        options.port,
        options.reuse_port,
    )
    server._undo_accept_errors = quiet_accept_errors(loop, server.listening(), server.refusals)
    if options.ping_interval is not None:
        server._keepalive = _Keepalive(server._listeners, options.ping_interval)
        server._keepalive.start()
    log.debug("picows CSMS on %s:%d", options.host, server.port)
    return server
