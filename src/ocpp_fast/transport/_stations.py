"""What every transport backend of ``serve()`` shares: admitting stations, the table of live
ones, and the bounds on what they cost.

A backend turns its HTTP handshake into :meth:`Stations.admit` and answers the
:class:`Refusal` it may get; it counts its sockets in ``handshaking`` /
``admitted`` and checks :meth:`Stations.room_for_socket` as it accepts them;
for each open connection it makes an :class:`AsyncConnection` with
:meth:`Stations.new_connection`, registers it with :meth:`Stations.take_over`
and, when it closes, hands it to :meth:`Stations.finish`. Shutdown is
:meth:`Stations.stop_handlers`. None of this knows about websockets.
"""

from __future__ import annotations

import asyncio
import datetime
import enum
import http
import inspect
import logging
import math
import socket
import ssl as ssl_module
from asyncio.trsock import TransportSocket
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

try:
    import resource
except ImportError:  # Windows
    resource = None  # type: ignore[assignment]

from ocpp_fast._awaited import within
from ocpp_fast._model import ResponseT, SentByCsms
from ocpp_fast._ratelimit import ConnectionLog, LogLimiter

if TYPE_CHECKING:
    from ocpp_fast.metrics import Metrics
from ocpp_fast.aio import DEFAULT_TIMEOUT, AsyncConnection, Send, Slots, Write
from ocpp_fast.dispatch import OcppHandler, handler_failures
from ocpp_fast.errors import StationNotConnected
from ocpp_fast.stations import StationEntry, node_name
from ocpp_fast.transport._lifecycle import (
    CUT_OFF_FOR_SIZE,
    MESSAGE_TOO_BIG,
    REPLACED,
    SHUTTING_DOWN,
    CloseFrames,
    check_close,
    close_reason,
    disconnect_cause,
    ending,
    greet,
    peer_closed_first,
    see_off,
    shut_down,
    too_big_sent,
)
from ocpp_fast.transport._refusals import Reason, Refusal, RefusalLog, peer_of, shown_peer
from ocpp_fast.transport._slow import (
    SlowHandlers,
    drain_or_stop,
    in_hand,
    named_calls,
    named_stations,
)
from ocpp_fast.transport._tls import secure, why_tls_failed
from ocpp_fast.transport.identity import basic_credentials, escaped, parse_identity
from ocpp_fast.transport.limits import DEFAULT_LIMITS, REPLACED_CLOSE_CODE, Limits
from ocpp_fast.transport.runtime import process_count, process_slot

__all__ = [
    "Admission",
    "Authorize",
    "CsmsServer",
    "ListeningSocket",
    "Refusal",
    "Session",
    "StationRequest",
    "Stations",
]

log = logging.getLogger("ocpp_fast.transport")

ListeningSocket: TypeAlias = "socket.socket | TransportSocket"
"""A socket :meth:`CsmsServer.listening` names: ``websockets``' server lists its sockets as
``socket.socket``, an ``asyncio`` server (picows's) as ``asyncio``'s ``TransportSocket``; both
have ``getsockname()``, ``family`` and ``fileno()``. (It was ``Any``: a typo in the caller's
code passed unseen.)"""
_NAMED = 10
"""Stations named in the one shutdown line about cancelled CALLs (the rest are counted)."""
_NAMED_PER_STATION = 3
"""Handlers named per station in that line (:func:`~._slow.named_calls`)."""


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


def _identity_in(path: str) -> str | None:
    """The station identity a request path names, or ``None`` when it names none (an
    undecodable percent-escape included)."""
    try:
        return parse_identity(path)
    except UnicodeDecodeError:
        return None


def _refused_by_bool(station: StationRequest) -> Admission:
    """What ``False`` from ``authorize`` refuses: a station that presented credentials (a
    password, a certificate) had them refused, 401 ``unauthorized``, as the typical bool
    ``authorize`` is a password check, and an operator reading ``unknown_station`` for a wrong
    password looks for a missing station; one that presented none is unknown, 404."""
    if station.password is not None or station.certificate is not None:
        return Admission.UNAUTHORIZED
    return Admission.UNKNOWN


def _unauthorized(reason: Reason, words: str = "unauthorized") -> Refusal:
    return Refusal(http.HTTPStatus.UNAUTHORIZED, words + "\n", reason)


UNAUTHORIZED = _unauthorized(Reason.UNAUTHORIZED)
"""``authorize`` refused the credentials (each backend adds ``WWW-Authenticate: Basic`` to
every 401). Its words stay bare: a wrong password tells a prober nothing."""
# A request the station built wrong says what to mend, in the body its client reports
# (``HandshakeFailed``, the simulator's errors): only the station's own request is named.
_NO_CREDENTIALS = _unauthorized(
    Reason.NO_CREDENTIALS,
    "no password: this CSMS needs HTTP Basic auth, user the station identity",
)
_BAD_AUTHORIZATION_HEADER = _unauthorized(
    Reason.BAD_AUTHORIZATION_HEADER, "the Authorization header is not one valid Basic"
)
_USER_MISMATCH = _unauthorized(
    Reason.USER_MISMATCH, "the Basic user is not the station identity of the URL"
)
_SHUTTING_DOWN = Refusal(
    http.HTTPStatus.SERVICE_UNAVAILABLE, "shutting down\n", Reason.SHUTTING_DOWN
)
_AUTHORIZE_FAILED = Refusal(
    http.HTTPStatus.SERVICE_UNAVAILABLE, "try again later\n", Reason.AUTHORIZE_FAILED
)
_CONNECTION_CAP = Refusal(
    http.HTTPStatus.SERVICE_UNAVAILABLE, "too many stations\n", Reason.CONNECTION_CAP
)
_BAD_PATH = Refusal(http.HTTPStatus.NOT_FOUND, "no valid station identity\n", Reason.BAD_PATH)
_UNKNOWN_STATION = Refusal(http.HTTPStatus.NOT_FOUND, "unknown station\n", Reason.UNKNOWN_STATION)
_ALREADY_CONNECTED = Refusal(
    http.HTTPStatus.CONFLICT, "station already connected\n", Reason.ALREADY_CONNECTED
)


@dataclass(frozen=True)
class ServerOptions:
    """What ``serve()`` hands a backend, once checked: one record rather than the same ten
    parameters spelt out in each backend's signature and call."""

    host: str
    port: int
    authorize: Authorize | None
    require_basic_auth: bool
    ssl: ssl_module.SSLContext | None
    ping_interval: float | None
    max_size: int
    limits: Limits
    metrics: Metrics | None
    reuse_port: bool


@dataclass(eq=False)
class Session:
    """One station's open connection, as the server tracks it."""

    identity: str
    connection: AsyncConnection
    authenticated: bool
    """``authorize`` accepted a password or a verified client certificate."""
    close: Callable[[int, str], Coroutine[Any, Any, None]]
    """Closes the connection with a close code and reason (the backend's)."""
    greeting: asyncio.Task[None] | None = None
    """The handler's ``async`` ``on_connect`` while it runs."""
    reason: str | None = None
    """Why the server ended the connection, set as it starts to (replaced, shutting down)."""
    ended: asyncio.Event | None = None
    """Set once the session is finished (``on_disconnect`` ran), made by whoever waits for
    that (:meth:`Stations.disconnect`): most sessions end with nobody waiting."""


class Stations:
    """The backend-independent half of a CSMS server (``CsmsServer`` adds the transport)."""

    def __init__(
        self,
        handlers: Mapping[str, OcppHandler],
        authorize: Authorize | None,
        require_basic_auth: bool,
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        self.handlers: dict[str, OcppHandler] = dict(handlers)
        self.connections: dict[str, AsyncConnection] = {}
        """The connected stations, by identity: always the live connection of each."""
        self.limits = limits
        self._authorize = authorize
        self._require_basic_auth = require_basic_auth
        self._stopping = False
        self._live: dict[str, Session] = {}
        """What ``connections`` shows, with what the server needs besides."""
        self._sessions: set[Session] = set()
        """Every session not finished yet, including those of stations already gone
        whose handlers still run."""
        self.handshaking = 0
        """Connections still in the opening handshake (the backend counts them)."""
        self.admitted = 0
        """Connections whose handshake was accepted and that are not closed yet (likewise)."""
        self.sockets = 0
        """Connections from accept to close (likewise)."""
        self.socket_made: Callable[[asyncio.BaseTransport], None] | None = None
        """Told of each connection made, where the server counts its sockets from the accept
        on (asyncio's own loop: :class:`._accept.AcceptGate`)."""
        self.task_slots: Slots = Slots(limits.handler_tasks)
        self.refusals: LogLimiter = LogLimiter(log, timely=True)
        """Rate-limits the server's lines about what stations caused, one share per kind."""
        self.refusal_log: RefusalLog = RefusalLog(lambda: self.metrics)
        """Logs and counts each refused handshake (:mod:`._refusals`)."""
        self.tls: ssl_module.SSLContext | None = None
        """The server's TLS context: each backend runs TLS through :meth:`start_tls`."""
        self._background: set[asyncio.Task[None]] = set()
        self.unanswered_at_stop: int = 0
        """CALLs stations sent once the stop began (:meth:`stop_handlers`), left unanswered
        for them to send again: counted as each station's connection ends."""
        self.slow_handlers: SlowHandlers = SlowHandlers(
            limits.slow_handler, self.refusals, lambda: self.metrics
        )
        """Says the handlers still running after ``Limits.slow_handler`` seconds, from one
        sweep started with the first station and ended by :meth:`stop_handlers`."""
        self._sweeping: asyncio.Task[None] | None = None
        self.metrics: Metrics | None = None
        """Where stations, frames and handler times are counted (``serve(metrics_port=...)``)."""
        self.metrics_port: int | None = None
        """The port serving ``/metrics`` when ``serve(metrics_port=...)`` started one."""
        self.health_port: int | None = None
        """The port answering ``/healthz`` and ``/readyz`` (``serve(health_port=...)``, or the
        metrics port)."""
        self._started = False
        self._gate = asyncio.Event()
        """Set once the server started (every ``on_startup`` returned) or began to stop:
        until then each handshake waits in :meth:`admit`, so that no station is served, nor
        ``authorize`` asked, before the app's ``on_startup`` made what they need."""
        self._stopped = asyncio.Event()
        """Set as the stop begins: an ``async`` ``authorize`` still running then is cancelled
        and its station refused 503 "shutting down" (:meth:`_decide`)."""
        self.process_slot: int = process_slot()
        """This process's slot under ``ocpp-fast serve --workers N``, 0 to N - 1 (0 when not
        started that way): what must exist once for every process (an admin API on a fixed
        port) is started in slot 0 only."""
        self.process_count: int = process_count()
        """N of ``--workers N`` (1 otherwise). Each process holds only its own stations:
        ``call`` and ``stations()`` reach those of this process, a cluster (``--nats``) all."""
        self.on_closed: list[Callable[[], None]] = []
        """Run once :meth:`CsmsServer.close` is done (stopping the metrics endpoint...)."""
        self.on_station: list[Callable[[str], None]] = []
        """Told the identity of each station that became live or stopped being live
        (``connections`` says which): how a cluster gateway follows the stations."""

    @property
    def started(self) -> bool:
        """Set by ``serve()`` once every ``on_startup`` returned: ready for stations. A
        station whose handshake came earlier waited for it (within ``handshake_timeout``)."""
        return self._started

    @started.setter
    def started(self, value: bool) -> None:
        self._started = value
        if value:
            self._gate.set()

    def stop_admitting(self) -> None:
        """Refuse new stations from now on, those waiting for the start included (they are
        refused 503 "shutting down", unless the backend drops their sockets first)."""
        self._stopping = True
        self._gate.set()
        self._stopped.set()

    # --- the handshake ----------------------------------------------------------------------

    async def admit(
        self,
        path: str,
        authorization: Sequence[str],
        offered: tuple[str, ...],
        certificate: Mapping[str, Any] | None,
        peer: str = "?",
    ) -> Refusal | bool:
        """Admit a station (``True`` when it is authenticated, else ``False``) or refuse it
        (logged and counted here, with the ``peer`` address).

        Waits first for the server to start (every ``on_startup`` returned), as ASGI's
        lifespan does, within the backend's ``handshake_timeout``; refused 503 if it stops
        meanwhile (an ``on_startup`` raised). ``authorization`` holds every
        ``Authorization`` header sent. Never raises:
        a failure of ``authorize`` is logged and refused 503 (try again later), so
        no handshake ends in HTTP 500 and no station learns our tracebacks.
        """
        try:
            verdict = await self._admit(path, authorization, offered, certificate)
        except Exception:
            log.exception("admitting %s failed", escaped(path))
            verdict = _AUTHORIZE_FAILED
        if isinstance(verdict, Refusal):
            self._refused(verdict, path, peer)
        return verdict

    def refuse_admission(self, path: str, peer: str) -> Refusal:
        """The server closes while the handshake of ``path`` waits in :meth:`admit` (for the
        start, or for ``authorize``), which the backend gave up: refused 503 "shutting
        down", logged and counted as :meth:`admit` would have."""
        self._refused(_SHUTTING_DOWN, path, peer)
        return _SHUTTING_DOWN

    def _refused(self, refusal: Refusal, path: str, peer: str) -> None:
        identity = _identity_in(path)
        detail = refusal.text.strip()
        if identity is None:
            detail += f" (path {escaped(path)})"
        status = f"HTTP {refusal.status.value} {detail}"
        self.refusal_log.refused(refusal.reason, peer, identity, status)

    async def _admit(
        self,
        path: str,
        authorization: Sequence[str],
        offered: tuple[str, ...],
        certificate: Mapping[str, Any] | None,
    ) -> Refusal | bool:
        if not self._gate.is_set():  # the deadline of the handshake bounds the wait
            await self._gate.wait()
        if self._stopping:
            return _SHUTTING_DOWN
        if self.admitted >= self.limits.max_connections:
            return _CONNECTION_CAP
        identity = _identity_in(path)
        if identity is None:
            return _BAD_PATH
        credentials = basic_credentials(authorization[0]) if len(authorization) == 1 else None
        if authorization and credentials is None:  # two headers, or not valid Basic
            return _BAD_AUTHORIZATION_HEADER
        if credentials is not None and credentials[0] != identity:
            return _USER_MISMATCH
        if self._require_basic_auth and credentials is None:
            return _NO_CREDENTIALS
        station = StationRequest(
            identity, credentials[1] if credentials else None, certificate, offered
        )
        decision = await self._decide(station)
        if decision is None:  # the stop began while authorize ran
            return _SHUTTING_DOWN
        if decision is Admission.UNKNOWN:
            return _UNKNOWN_STATION
        if decision is Admission.UNAUTHORIZED:
            return UNAUTHORIZED
        authenticated = self._authorize is not None and (
            credentials is not None or certificate is not None
        )
        current = self._live.get(identity)
        if current is not None and current.authenticated and not authenticated:
            return _ALREADY_CONNECTED
        return authenticated

    async def _decide(self, station: StationRequest) -> Admission | None:
        """``authorize``'s verdict; ``None`` when the server began to stop before an ``async``
        one answered (it is cancelled). The websockets backend left such a station waiting
        until the end of the stop's timeout, its socket then aborted unanswered and nothing
        logged, where picows refused it 503 "shutting down" at once."""
        if self._authorize is None:
            return Admission.ACCEPT
        decision = self._authorize(station)
        if inspect.isawaitable(decision):
            deciding = asyncio.ensure_future(decision)
            stopped = asyncio.ensure_future(self._stopped.wait())
            try:
                await asyncio.wait((deciding, stopped), return_when=asyncio.FIRST_COMPLETED)
            finally:
                stopped.cancel()
                if not deciding.done():  # the stop came first (or this wait was cancelled)
                    deciding.cancel()
            if not deciding.done() or deciding.cancelled():
                return None
            decision = deciding.result()
        if isinstance(decision, bool):
            return Admission.ACCEPT if decision else _refused_by_bool(station)
        return decision

    def too_slow(self, request_complete: bool) -> str:
        """Why a handshake past ``handshake_timeout`` is dropped, as the refusal log says it
        (both backends): the station was slow, or the server had not started yet."""
        if request_complete and not self._gate.is_set():
            return "the server still starting (on_startup) at the deadline"
        return "no complete request in time"

    def secure(
        self,
        transport: asyncio.Transport,
        protocol: asyncio.Protocol,
        made: Callable[[asyncio.Transport], None],
    ) -> None:
        """Start TLS on a socket just accepted for ``protocol`` (:func:`._tls.secure`): a
        failed handshake is logged and counted as a refusal."""
        assert self.tls is not None
        peer = peer_of(transport)

        def failed(error: Exception) -> None:
            self.refusal_log.refused(Reason.TLS, peer, None, why_tls_failed(error))

        secure(transport, protocol, self.tls, self.limits.handshake_timeout, made, failed)

    def subprotocol_for(self, offered: Iterable[str]) -> str | None:
        """The first subprotocol the station offers that we serve; else none (then we close)."""
        return next((name for name in offered if name in self.handlers), None)

    def room_for_socket(self, transport: asyncio.BaseTransport) -> str | None:
        """Why the connection of ``transport``, just made, must be closed at once, or ``None``
        to keep it.

        Call it after counting the new connection in ``sockets`` and ``handshaking``.
        """
        if self.socket_made is not None:
            self.socket_made(transport)
        if self.handshaking > self.limits.pending_handshakes:
            # the new one is counted: the line names the cap that was full, not cap + 1
            return f"{self.handshaking - 1} handshakes pending already (Limits.pending_handshakes)"
        return self.over_fd_budget(self.sockets)

    def over_fd_budget(self, held: int) -> str | None:
        """Why a server holding ``held`` sockets (the newest one counted) is past its fd
        budget (the fd limit less ``Limits.spare_fds``), or ``None`` if it is not."""
        if held > _socket_room(self.limits.spare_fds):
            return f"{held} open, near the file-descriptor limit"
        return None

    # --- open connections -------------------------------------------------------------------

    def new_connection(
        self,
        handler: OcppHandler,
        send: Send | None = None,
        *,
        identity: str,
        write: Write | None = None,
        on_resume: Callable[[], None] | None = None,
        peer: Any = None,
    ) -> AsyncConnection:
        """An :class:`AsyncConnection` for a station, within this server's handler bounds
        (``send`` for a backend that awaits its writes, ``write`` for one that buffers;
        ``peer``: the socket's ``peername``)."""
        connection = AsyncConnection(
            handler,
            send,
            write=write,
            identity=identity,
            max_calls=self.limits.calls_in_flight,
            task_slots=self.task_slots,
            on_resume=on_resume,
            remote_address=(str(peer[0]), int(peer[1])) if isinstance(peer, tuple) else None,
        )
        connection.protocol.metrics = self.metrics
        return connection

    def take_over(self, session: Session) -> bool:
        """Make ``session`` the station's live connection, closing an older one.

        ``False`` (and nothing changes) when the older one is authenticated and
        the newer one is not: an unauthenticated connection never displaces it.
        """
        identity = session.identity
        previous = self._live.get(identity)
        if previous is not None:
            if previous.authenticated and not session.authenticated:
                return False
            older = previous.connection
            # both addresses, and how long the older one lived: one station reconnecting
            # comes from where it was (a lost socket the CSMS had not noticed), while two
            # devices configured with one identity alternate between two addresses
            self.refusals.warning(
                "replaced",
                "%s: connected again from %s; closing the older connection, from %s for %s"
                " (code %d)",
                identity,
                shown_peer(session.connection.remote_address),
                shown_peer(older.remote_address),
                _lived(older.connected_since),
                REPLACED_CLOSE_CODE,
                extra={"identity": identity},
            )
            previous.reason = REPLACED
            self._later(previous.close(REPLACED_CLOSE_CODE, REPLACED))
        self._live[identity] = session
        self.connections[identity] = session.connection
        self._sessions.add(session)
        if self.metrics is not None:
            self.metrics.connected(session.connection.handler.version.label)
        for told in self.on_station:
            told(identity)
        session.greeting = greet(session.connection)
        if self._sweeping is None and self.slow_handlers.enabled:
            self._sweeping = asyncio.ensure_future(self.slow_handlers.run(self._running))
        return True

    def _running(self) -> Iterable[tuple[str, AsyncConnection]]:
        """Every session's connection, those of stations gone whose handlers still run too."""
        return [(session.identity, session.connection) for session in self._sessions]

    async def finish(
        self, session: Session, frames: CloseFrames, lost: BaseException | str | None = None
    ) -> None:
        """The station's connection is gone (``frames``: its close frames, as the backend saw
        them; ``lost``: why it ended without them, where the backend knows): out of the table
        at once; its handlers get ``handler_grace`` seconds to finish, then are cancelled; then
        the handler's ``on_disconnect`` is told why, and the log.

        The first cause wins, fixed now: the station's own close frame if it came first;
        else the server's reason if it had started ending the connection (replaced, shutting
        down); else what the frames say. A stop that begins while the handlers drain does not
        rewrite the reason of a station that had already left."""
        identity = session.identity
        said = close_reason(*frames)
        if session.reason is not None and not peer_closed_first(*frames):
            said = session.reason
        else:
            self._tell_too_big(identity, frames)
        if self._live.get(identity) is session:  # unless a newer one took its place
            del self._live[identity]
            del self.connections[identity]
            for told in self.on_station:
                told(identity)
        if self.metrics is not None:
            label = session.connection.handler.version.label
            self.metrics.disconnected(label, disconnect_cause(said))
        connection = session.connection
        connection.abort(StationNotConnected(identity, f"{identity} disconnected"))
        grace = self.limits.handler_grace
        try:
            running = await drain_or_stop(connection, grace)
            if running is not None:
                self.refusals.warning(
                    "grace",
                    "%s: cancelling handlers still running after it left: %s",
                    identity,
                    running,
                    extra={"identity": identity},
                )
            await see_off(connection, session.greeting, said, grace)
        finally:
            self._sessions.discard(session)
            said = ending(said, lost)
            cancelled = connection.cancelled  # by the grace's end above, or the shutdown's
            unanswered = connection.unanswered_count  # received once the stop began
            self.unanswered_at_stop += unanswered
            connection.protocol.flush_peer_log()  # its lines held back, said before it leaves
            ConnectionLog(log, identity).info(
                "disconnected: %s%s%s",
                said,
                f"; handlers cancelled: {named_calls(cancelled)}" if cancelled else "",
                f"; received while it stopped, unanswered: "
                f"{named_calls(connection.unanswered, unanswered)}"
                if unanswered
                else "",
                extra={"reason": said},
            )
            if session.ended is not None:
                session.ended.set()

    def _tell_too_big(self, identity: str, frames: CloseFrames) -> None:
        """A station cut off for a message over ``max_size``: one WARNING line, the same on
        both backends and in memory (:func:`~._lifecycle.too_big_sent`)."""
        why = too_big_sent(frames)
        if why is None:
            return
        self.refusals.warning(
            "message size",
            "%s: " + CUT_OFF_FOR_SIZE,
            identity,
            why,
            MESSAGE_TOO_BIG,
            extra={"identity": identity},
        )

    # --- calls from your own code ----------------------------------------------------------

    async def call(
        self, identity: str, request: SentByCsms[ResponseT], timeout: float = DEFAULT_TIMEOUT
    ) -> ResponseT:
        """Send ``request`` as a CALL to the connected station ``identity``; its typed response.

        The connection's own :meth:`~ocpp_fast.aio.AsyncConnection.call`, found by identity.
        Raises the station's error as the :class:`~ocpp_fast.errors.OcppError` class of its
        code, :class:`~ocpp_fast.errors.StationNotConnected` when the station is not
        connected (or left during the call), ``TimeoutError`` after ``timeout`` seconds:
        what ``ClusterClient.call`` raises, so the code moves to a cluster unchanged.
        """
        connection = self.connections.get(identity)
        if connection is None:
            raise StationNotConnected(identity)
        try:
            return await connection.call(request, timeout)
        except StationNotConnected:
            raise
        except ConnectionError as exc:  # the socket failed under the CALL
            raise StationNotConnected(identity, str(exc)) from exc

    async def disconnect(
        self, identity: str, code: int | None = 1000, reason: str = "", timeout: float = 30.0
    ) -> None:
        """Close the connection of the station ``identity`` with the WebSocket close ``code``
        and ``reason`` (1000 and no words by default; 1008 for a policy, such as credentials
        revoked): what an operator does to a station it no longer serves, or to make one
        connect again (to another gateway of a cluster, with new credentials). Returns once
        the station is out of :attr:`connections` and the handler's ``on_disconnect`` ran,
        with ``"closed by the CSMS (<code>: <reason>)"``; the station decides whether it
        comes back (``authorize`` decides whether it is let in).

        Raises :class:`~ocpp_fast.errors.StationNotConnected` when the station is not
        connected, ``ValueError`` for a code a server may not send or a reason over 123
        bytes (what a close frame holds), ``TimeoutError`` when the session has not ended
        within ``timeout`` seconds (the connection is closed by then; handlers of the station
        still running get ``Limits.handler_grace`` seconds before they are cancelled).
        ``ClusterClient.disconnect`` does the same wherever the station is connected.
        ``code=None`` (no close frame: the connection lost) is for the in-memory server of
        tests."""
        if code is None:
            raise ValueError("a server closes a station's connection with a close code")
        check_close(code, reason)
        session = self._live.get(identity)
        if session is None:
            raise StationNotConnected(identity)
        if session.ended is None:
            session.ended = asyncio.Event()
        await session.close(code, reason)
        await within(session.ended.wait(), timeout)

    async def stations(self, timeout: float = 10.0) -> dict[str, StationEntry]:
        """Every connected station, by identity: this process, its version, since when
        (the entries of ``ClusterClient.stations()``; ``timeout`` is there for the same
        signature, a local table needs none)."""
        node = node_name()
        return {
            identity: StationEntry(node, connection.version.label, connection.connected_since)
            for identity, connection in self.connections.items()
        }

    def _later(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` in the background; kept referenced, its exception retrieved."""
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(_retrieved)
        task.add_done_callback(self._background.discard)

    # --- shutdown ---------------------------------------------------------------------------

    def not_serving(self) -> str | None:
        """Why the server should get no new stations now (``/readyz``), or ``None``."""
        if self._stopping:
            return "shutting down"
        if not self.started:
            return "starting: on_startup has not returned yet"
        return None

    async def begin_closing(self, timeout: float) -> float:
        """The start of every backend's ``close(timeout)``: refuse new stations, then the
        handlers' ``on_shutdown`` while the stations are still there; the loop time by which
        the handlers in hand must end (:meth:`stop_handlers`), the last quarter of
        ``timeout`` (one second at most) left for the closing handshakes.

        ``on_shutdown`` gets until then (``handler_grace`` at most): it had ``handler_grace``
        whatever ``timeout`` said, so one that hung held ``--shutdown-timeout 3`` for 10 s
        more, the stations left connected meanwhile (past a supervisor's stop timeout,
        SIGKILL)."""
        loop = asyncio.get_running_loop()
        handlers_end = loop.time() + timeout - min(1.0, timeout / 4)
        if self._stopping:
            return handlers_end
        self.stop_admitting()
        await shut_down(self.handlers.values(), self, self.limits.handler_grace, handlers_end)
        return handlers_end

    async def stop_handlers(self, deadline: float) -> None:
        """Refuse new stations and dispatch no CALL received from now on
        (:meth:`~ocpp_fast.aio.AsyncConnection.finish`: a station that keeps sending would
        keep the drain waiting until the deadline); let the handlers in hand run until
        ``deadline`` (loop time), then cancel them, and end the sweep of slow handlers."""
        self.stop_admitting()
        for session in list(self._sessions):  # no CALL received from now on is dispatched
            session.connection.finish()
        loop = asyncio.get_running_loop()
        for session in list(self._sessions):
            if not await session.connection.drain(max(0.0, deadline - loop.time())):
                break
        late = {
            session.identity: session.connection
            for session in self._sessions
            if session.connection.handling or session.connection.waiting
        }
        if late:  # one line, whatever the count: the CALLs a station will not get answered
            parts = [_late(who, connection) for who, connection in list(late.items())[:_NAMED]]
            cancelled = sum(c.handling + c.waiting for c in late.values())
            log.warning(
                "shutting down: cancelling %d CALL(s) still in hand at the deadline (%s)",
                cancelled,
                named_stations(parts, len(late)),
                extra={"cancelled": cancelled, "stations": len(late)},
            )
        for session in list(self._sessions):
            session.connection.stop()
            # The backend closes every connection next: the server's cause, for those still
            # open (one whose station left already keeps the reason fixed as it left).
            session.reason = session.reason or SHUTTING_DOWN
        sweeping, self._sweeping = self._sweeping, None
        if sweeping is not None:  # ended, not merely cancelled, by the time close() returns
            sweeping.cancel()
            await asyncio.wait([sweeping])


class CsmsServer(Stations):
    """A running CSMS, whatever carries its WebSockets: its stations by identity
    (``connections``), its port, and a bounded stop. ``serve()``'s servers are ones, and so
    is the in-memory server of tests (``serve_in_memory()``, which has no port)."""

    def listening(self) -> Sequence[ListeningSocket]:
        """The sockets the server listens on (the backend's)."""
        raise NotImplementedError

    @property
    def port(self) -> int:
        """The TCP port the server listens on (useful with ``port=0``)."""
        port: int = self.listening()[0].getsockname()[1]
        return port

    async def close(self, timeout: float = 10.0) -> None:
        """Stop within ``timeout`` seconds: refuse new stations, let calls in flight finish
        while time allows, cancel the handlers still running, then close every connection."""
        raise NotImplementedError


def _lived(since: datetime.datetime) -> str:
    """How long a connection made at ``since`` has lived, as a log line says it (``12.3 s``)."""
    return f"{(datetime.datetime.now(datetime.UTC) - since).total_seconds():.1f} s"


def _late(identity: str, connection: AsyncConnection) -> str:
    """One station in the shutdown line: ``CS1: 3 (Authorize m1, Heartbeat m2 and 1 more)``,
    the CALLs it will not get answered, its running handlers named (those waiting for a slot
    are counted only)."""
    count = connection.handling + connection.waiting
    if not connection.running():  # CALLs waiting for a slot only
        return f"{escaped(identity)}: {count}"
    return f"{escaped(identity)}: {count} ({in_hand(connection, _NAMED_PER_STATION)})"


def run_closed(server: Stations) -> None:
    """Run the server's ``on_closed`` callbacks once (at the end of each backend's close)."""
    callbacks, server.on_closed = server.on_closed, []
    for callback in callbacks:
        callback()
    handler_failures.flush(everything=True)  # the handlers' failures held back, said
    # and the server's own lines held back (refused handshakes, slow handlers, cancelled
    # handlers): their count came only with the next line of their kind, never after a storm
    # that ended, nor at the stop
    server.refusals.flush(everything=True)
    server.refusal_log.flush()


def _retrieved(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and (error := task.exception()) is not None:
        log.debug("background task failed: %r", error)


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


def quiet_accept_errors(
    loop: asyncio.AbstractEventLoop, listening: Iterable[Any], refusals: LogLimiter
) -> Callable[[], None]:
    """Rate-limited lines instead of a traceback per failed accept on the ``listening``
    sockets; returns the function that puts the loop's previous handler back.

    At the fd limit asyncio logs a full traceback for each failed accept (up
    to 100 per loop turn on Python 3.11); a station flood turned that into
    thousands of tracebacks. The back-off stays asyncio's.
    """
    previous = loop.get_exception_handler()
    ours = {sock.fileno() for sock in listening}

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        sock = context.get("socket")
        if context.get("message") == _ACCEPT_ERROR and sock is not None and sock.fileno() in ours:
            refusals.warning(
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
    return undo
