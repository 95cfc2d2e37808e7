"""A CSMS in the test's own event loop, reached by a station's client with no socket.

``connect_in_memory`` wires two bare connections: enough for a ``Charger``'s handlers, but a
station whose code leans on its :class:`~ocpp_fast.transport.client.StationClient` (``boot=``,
the transaction queue, heartbeats, reconnects) needs the client itself. Here the client is the
production one, unchanged: only what carries its frames differs. :func:`serve_in_memory` starts
an :class:`InMemoryServer`, the backend-independent half of ``serve()``'s server (admission,
``authorize``, the table of stations, ``call()``, the lifecycle hooks, shutdown) with frames
carried by a :class:`~ocpp_fast.aio.MemoryWire`, and ``connect(..., via=server)`` (or
``StationClient(..., via=server)``) opens its links there instead of a WebSocket::

    server = await serve_in_memory(FakeCsms())
    station = await connect(Firmware(), "ws://csms.test/ocpp/CS001", boot=BOOT, via=server)
    await station.booted()
    await server.disconnect("CS001")  # a connection lost: the client reconnects by itself

:meth:`InMemoryServer.disconnect` ends a station's connection (lost, or closed by the CSMS
with a code) and :attr:`InMemoryServer.reachable` makes the CSMS unreachable meanwhile, so
what happens across an outage (the queue kept, the boot again) is tested without sockets. No
WebSocket library is needed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Never
from urllib.parse import urlsplit

from ocpp_fast._awaited import within
from ocpp_fast._connected_line import log_connected
from ocpp_fast.aio import AsyncConnection, MemoryWire
from ocpp_fast.dispatch import OcppHandler
from ocpp_fast.errors import HandshakeFailed, StationNotConnected
from ocpp_fast.transport._handlers import by_subprotocol
from ocpp_fast.transport._lifecycle import (
    MESSAGE_TOO_BIG,
    SHUTTING_DOWN,
    CloseFrames,
    check_close,
    start_up,
)
from ocpp_fast.transport._link import LinkOptions, telling
from ocpp_fast.transport._stations import (
    Authorize,
    CsmsServer,
    ListeningSocket,
    Session,
    log,
    run_closed,
)
from ocpp_fast.transport.identity import parse_identity
from ocpp_fast.transport.limits import (
    DEFAULT_LIMITS,
    DEFAULT_MAX_SIZE,
    REPLACED_CLOSE_CODE,
    Limits,
)

__all__ = ["InMemoryServer", "serve_in_memory"]

_STATION, _CSMS = 0, 1
"""The two sides of a :class:`_Socket` (and of its wire)."""
PEER = "memory"
"""The peer address the server's log lines give an in-memory station."""
DROPPED = "dropped in memory (InMemoryServer.disconnect)"
"""Why a connection ended without a close frame, as the "disconnected" lines say."""
CANCELLED = "the station's client was cancelled, not closed"
"""Why the connection of a station whose session was cancelled ended (no close frame)."""


class _Socket:
    """One in-memory WebSocket: frames on a :class:`MemoryWire`, and its closing as a
    WebSocket's (who sent the close frame, with what code), so that both sides say why it
    ended in the words they use over a socket."""

    def __init__(self) -> None:
        self.wire = MemoryWire()
        self.ended = asyncio.Event()
        """Set once no frame travels any more (closed or lost)."""
        self.station_saw_it = asyncio.Event()
        """Set once the station's client saw the end off (its ``on_disconnect`` ran)."""
        self.finished = asyncio.Event()
        """Set once the server finished the session (its ``on_disconnect`` ran)."""
        self._closer: int | None = None
        self._frame: tuple[int, str] | None = None
        self.lost: str | None = None

    def writer(self, side: int, peer_takes: int) -> Callable[[bytes], None]:
        """The ``write`` of ``side``: frames to the other side, which takes messages up to
        ``peer_takes`` bytes (its ``max_size``) and closes with 1009 at a larger one, as a
        WebSocket end does; the frames written before it still arrive. Without it a station
        tested in memory never met the limit it meets over a socket (a queued message too big
        for the CSMS, a CSMS's message too big for the station's ``max_size``)."""
        write = self.wire.writer(side)

        def checked(frame: bytes) -> None:
            if len(frame) > peer_takes:
                self.close(1 - side, MESSAGE_TOO_BIG, f"a message over {peer_takes} bytes")
                return
            write(frame)

        return checked

    def close(self, side: int, code: int, reason: str) -> None:
        """``side`` sends a close frame: it arrives after the frames written before it, and
        the other side answers it at once (the first close wins, as on a WebSocket)."""
        if self._closer is not None or not self.wire.open:
            return
        self._closer, self._frame = side, (code, reason)
        self.wire.cut_behind().add_done_callback(lambda _: self.ended.set())

    def drop(self, why: str) -> None:
        """Lost with no close frame: the frames on their way are lost too."""
        if self.wire.open:
            self._closer, self._frame, self.lost = None, None, why
            self._end()

    def _end(self) -> None:
        self.wire.cut()
        self.ended.set()

    def frames(self, side: int) -> CloseFrames:
        """The closing handshake as ``side`` saw it: the frame received, the one sent, and
        whether the received one came first (the peer closed)."""
        if self._frame is None:
            return None, None, False
        return self._frame, self._frame, self._closer != side


class _MemoryLink:
    """A station's link to an :class:`InMemoryServer` (a :class:`~._link.Link`)."""

    def __init__(self, socket: _Socket, subprotocol: str | None, csms_takes: int) -> None:
        self._socket = socket
        self._subprotocol = subprotocol
        self._csms_takes = csms_takes

    @property
    def subprotocol(self) -> str | None:
        return self._subprotocol

    @property
    def compressed(self) -> bool:
        return False

    def connection_for(
        self, handler: OcppHandler, identity: str, on_sent: Callable[[int], None]
    ) -> AsyncConnection:
        write = self._socket.writer(_STATION, self._csms_takes)
        connection = AsyncConnection(handler, write=telling(write, on_sent), identity=identity)
        self._socket.wire.attach(_STATION, connection)
        return connection

    async def run(self) -> None:
        try:
            await self._socket.ended.wait()
        except asyncio.CancelledError:  # cancelled, not closed: lost, as a socket drops
            self._socket.drop(CANCELLED)
            raise

    def close_frames(self) -> CloseFrames:
        return self._socket.frames(_STATION)

    def lost_to(self) -> str | None:
        return self._socket.lost

    def seen_off(self) -> None:
        self._socket.station_saw_it.set()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self._socket.close(_STATION, code, reason)
        await self._socket.ended.wait()


class InMemoryServer(CsmsServer):
    """A CSMS in this event loop whose stations connect with no socket
    (``connect(..., via=server)``): what ``serve()``'s server offers but the port
    (``call()``, ``stations()``, ``connections``, ``close()``), plus the outage of a test
    (:meth:`disconnect`, :attr:`reachable`). Made by :func:`serve_in_memory`.

    A :class:`~ocpp_fast.transport.server.CsmsServer`, as each backend's server is: the
    code of a CSMS typed against it (its ``on_startup`` keeping the server, an admin API
    calling stations) is tested with this one unchanged, and type-checks so."""

    def __init__(
        self,
        handlers: Mapping[str, OcppHandler],
        authorize: Authorize | None,
        require_basic_auth: bool,
        limits: Limits = DEFAULT_LIMITS,
        max_size: int = DEFAULT_MAX_SIZE,
    ) -> None:
        super().__init__(handlers, authorize, require_basic_auth, limits)
        self.max_size = max_size
        """The largest message a station may send, as ``serve()``'s ``max_size``: a larger one
        closes its connection with 1009."""
        self.reachable = True
        """While ``False``, a station's attempt to connect fails with
        ``ConnectionRefusedError``, as when nothing listens (its client retries per its
        back-off): set it, then :meth:`disconnect` a station, to keep it offline a while."""
        self._closed = False
        self._sockets: dict[Session, _Socket] = {}

    def listening(self) -> Sequence[ListeningSocket]:
        """None: its stations connect with ``via=`` this server, not to a socket."""
        return ()

    @property
    def port(self) -> Never:
        """An in-memory server has no port: ``AttributeError`` (``hasattr`` says so), typed
        ``Never`` (it was ``int``, the base class's: a type checker, an IDE, the API reference
        saw a port where reading it raises). Code typed against ``CsmsServer`` that reads
        ``port`` still type-checks (each backend's server has one): in a test of it, use
        ``listening()``, empty here, or ``hasattr(server, "port")``."""
        raise AttributeError(
            "an in-memory server listens on no port: its stations connect with via=server"
        )

    async def open(self, url: str, options: LinkOptions) -> _MemoryLink:
        """A station's client opens a link (its ``via``): admitted as ``serve()`` admits a
        WebSocket (``authorize``, the identity in the URL's path, HTTP Basic from its
        password), with the errors a socket gives (``ConnectionRefusedError``,
        :class:`~ocpp_fast.errors.HandshakeFailed` with the HTTP status)."""
        if self._closed or not self.reachable:
            state = "closed" if self._closed else "not reachable (InMemoryServer.reachable)"
            raise ConnectionRefusedError(f"the in-memory CSMS is {state}")
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        basic = options.headers.get("Authorization")
        authorization = [] if basic is None else [basic]
        offered = tuple(options.subprotocols)
        verdict = await self.admit(path, authorization, offered, None, PEER)
        if not isinstance(verdict, bool):
            raise HandshakeFailed.refused(verdict.status.value, verdict.text.encode())
        socket = _Socket()
        identity = parse_identity(path) or "?"
        subprotocol = self.subprotocol_for(offered)
        if subprotocol is None:
            self.refusal_log.no_common_version(PEER, identity, offered, self.handlers)
            return _MemoryLink(socket, None, self.max_size)  # the client closes it (OCPP-J)
        connection = self.new_connection(
            self.handlers[subprotocol],
            write=socket.writer(_CSMS, options.max_size),
            identity=identity,
        )
        socket.wire.attach(_CSMS, connection)

        async def close(code: int, reason: str) -> None:
            socket.close(_CSMS, code, reason)

        session = Session(identity, connection, verdict, close)
        if not self.take_over(session):
            socket.close(_CSMS, REPLACED_CLOSE_CODE, "an authenticated connection is live")
            socket.finished.set()
            return _MemoryLink(socket, subprotocol, self.max_size)
        log_connected(log, identity, subprotocol, PEER)
        self.admitted += 1
        self._sockets[session] = socket
        self._later(self._hold(session, socket))
        return _MemoryLink(socket, subprotocol, self.max_size)

    async def _hold(self, session: Session, socket: _Socket) -> None:
        """The server's side of one connection, until it ends: then finished as every
        backend finishes one (out of the table, handlers drained, ``on_disconnect``)."""
        await socket.ended.wait()
        self.admitted -= 1
        del self._sockets[session]
        try:
            await self.finish(session, socket.frames(_CSMS), socket.lost)
        finally:
            socket.finished.set()

    async def disconnect(
        self, identity: str, code: int | None = None, reason: str = "", timeout: float = 30.0
    ) -> None:
        """End the connection of the station ``identity``: lost with no close frame (a cable
        pulled; the frames on their way are lost), or, with ``code``, closed by the CSMS with
        that code and ``reason``, as a real server's :meth:`CsmsServer.disconnect` closes it
        (the same checks of both). Returns once both sides saw it off: the ``on_disconnect``
        of the ``ChargeSystem`` and of the ``Charger`` ran, and the station's client goes on
        to reconnect (see :attr:`reachable`); ``TimeoutError`` after ``timeout`` seconds.
        :class:`~ocpp_fast.errors.StationNotConnected` when the station is not connected."""
        if code is not None:
            check_close(code, reason)
        session = self._live.get(identity)
        socket = None if session is None else self._sockets.get(session)
        if socket is None:
            raise StationNotConnected(identity)
        if code is None:
            socket.drop(DROPPED)
        else:
            socket.close(_CSMS, code, reason)
        await within(self._seen_off(socket), timeout)

    @staticmethod
    async def _seen_off(socket: _Socket) -> None:
        await socket.station_saw_it.wait()
        await socket.finished.wait()

    async def close(self, timeout: float = 10.0) -> None:
        """Stop within ``timeout`` seconds, as ``serve()``'s server does: ``on_shutdown``, no
        new stations, handlers finish while time allows, then every connection closes with
        1001 and the stations' endings (their ``on_disconnect``) run."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        handlers_end = await self.begin_closing(timeout)
        if self._closed:
            return
        self._closed = True
        await self.stop_handlers(handlers_end)
        for session, socket in list(self._sockets.items()):
            socket.close(_CSMS, 1001, session.reason or SHUTTING_DOWN)
        if self._background:
            await asyncio.wait(list(self._background), timeout=max(0.01, deadline - loop.time()))
        run_closed(self)


async def serve_in_memory(
    handlers: OcppHandler | Mapping[str, OcppHandler],
    *,
    authorize: Authorize | None = None,
    require_basic_auth: bool = False,
    limits: Limits = DEFAULT_LIMITS,
    max_size: int = DEFAULT_MAX_SIZE,
) -> InMemoryServer:
    """Start a CSMS serving ``handlers`` in this event loop, for stations that connect with
    ``via=`` the server returned (``connect()``, ``StationClient``): ``handlers``,
    ``authorize`` and ``limits`` as ``serve()`` takes them, ``require_basic_auth`` as its
    security profile 1 (a station without a password is refused 401), ``max_size`` as its
    ``max_size`` (the largest message a station may send; the station's own ``max_size``
    bounds what it takes, as over a socket). Each handler's
    ``on_startup`` has run when it returns; a station connecting meanwhile (``via=`` the
    server the hook got) waits until then, and is refused if a hook raises."""
    served = by_subprotocol(handlers, "ChargeSystem")
    if require_basic_auth and authorize is None:
        raise ValueError("require_basic_auth checks each station's password: pass authorize=")
    server = InMemoryServer(served, authorize, require_basic_auth, limits, max_size)
    try:
        await start_up(served.values(), server)
        server.started = True
    except BaseException:
        server.stop_admitting()  # closed without on_shutdown, as serve() does
        await server.close(0)
        raise
    return server
