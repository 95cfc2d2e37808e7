"""The station side over WebSockets: :func:`connect` and the reconnecting :class:`StationClient`.

The reconnect loop is the same for every backend; a backend only opens a
:class:`~ocpp_fast.transport._link.Link` (picows by default where installed,
``websockets`` otherwise).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import ssl as ssl_module
import time
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import (
    TYPE_CHECKING,
    Any,
    Generic,
    Protocol,
    TypeAlias,
    TypedDict,
    Unpack,
    cast,
    overload,
)
from urllib.parse import urlsplit

import msgspec
from msgspec import UNSET
from typing_extensions import TypeVar

from ocpp_fast._awaited import within
from ocpp_fast._log_text import PeerText
from ocpp_fast._model import Request, ResponseT, SendRequest, SentByStation
from ocpp_fast._outgoing import encode_checked_payload
from ocpp_fast._protocol_version import LABELS, by_label
from ocpp_fast._ratelimit import ConnectionLog
from ocpp_fast.aio import DEFAULT_TIMEOUT, AsyncConnection
from ocpp_fast.dispatch import CallContext, Charger, OcppHandler, PeerConnection
from ocpp_fast.errors import HandshakeFailed, OcppError, Origin, TooBigForCsms
from ocpp_fast.transport._handlers import by_subprotocol
from ocpp_fast.transport._lifecycle import (
    CUT_OFF_FOR_SIZE,
    MESSAGE_TOO_BIG,
    CloseFrames,
    close_reason,
    ending,
    greet,
    peer_closed_first,
    see_off,
    too_big_sent,
)
from ocpp_fast.transport._link import Link, LinkOptions, Opener
from ocpp_fast.transport._sender import (
    DEFAULT_RETRY,
    ConnectionCall,
    MessageRetry,
    QueueCall,
    Queued,
    QueueSender,
    StillQueued,
    answer_within,
)
from ocpp_fast.transport._slow import drain_or_stop
from ocpp_fast.transport.backend import resolve
from ocpp_fast.transport.identity import basic_header, parse_identity, websocket_url_problem
from ocpp_fast.transport.limits import DEFAULT_MAX_SIZE
from ocpp_fast.transport.memory import InMemoryServer
from ocpp_fast.transport.txqueue import TransactionQueue

if TYPE_CHECKING:
    from ocpp_fast.metrics import Metrics
    from ocpp_fast.v16 import messages as messages16
    from ocpp_fast.v16.messages import BootNotificationResponse as Boot16
    from ocpp_fast.v21 import messages as messages21
    from ocpp_fast.v21.messages import BootNotificationResponse as Boot21
    from ocpp_fast.v201 import messages as messages201
    from ocpp_fast.v201.messages import BootNotificationResponse as Boot201

__all__ = [
    "BOOT_RETRY_FLOOR",
    "AnyBootResponse",
    "Backoff",
    "BootT",
    "ClientOptions",
    "HeartbeatCall",
    "MessageRetry",
    "OfNoOneVersion",
    "OneVersionBoot",
    "Options",
    "Queued",
    "StationClient",
    "StillQueued",
    "VersionedCharger",
    "boot_accepted_within",
    "boot_retry_delay",
    "connect",
]

log: logging.Logger = logging.getLogger("ocpp_fast.transport")

CLOSED_BY_THE_STATION = "closed by the station"
"""The ``reason`` of ``Charger.on_disconnect`` after ``close()`` when no close frame was seen
(with one: ``"closed by the station (1000)"``; ``"closed by the CSMS (1001: ...)"`` or
``"connection lost"`` when the CSMS ended it)."""
HOOK_GRACE = 5.0
"""Seconds ``on_connect`` may go on after the connection is gone (its calls fail at once
then), and ``on_disconnect`` may run, before they are cancelled: a reconnect waits for them."""
CLOSE_TIMEOUT = 10.0
"""Seconds :meth:`StationClient.close` lets the handlers in hand answer before it cancels
them (the CSMS server's default stop timeout too)."""
BOOT_RETRY_FLOOR = 10.0
"""Seconds a station waits before it boots again when the CSMS answered Pending or Rejected
with an ``interval`` of 0 (OCPP leaves the wait to the station then, one that does not flood
the CSMS), and after a boot that got no answer or a CALLERROR."""
CONNECTION_FAILED = "connection failed: %s"
"""The WARNING of each failed attempt to connect again (its argument the exception): a fleet's
simulator summarizes these records (:mod:`ocpp_fast.simulator`), thousands when a CSMS is down."""
MEMORY = "memory"
""":attr:`StationClient.backend` of a client whose links are opened ``via`` an in-memory CSMS."""


AnyBootResponse: TypeAlias = "Boot16 | Boot201 | Boot21"
"""The BootNotificationResponse of any version: what :meth:`StationClient.booted` gives a
client whose version its type does not say (several versions, no ``boot``)."""
BootT = TypeVar("BootT", bound=AnyBootResponse, default=AnyBootResponse, covariant=True)
"""The BootNotificationResponse of a :class:`StationClient`'s version (its parameter): the
response of its ``boot=`` when that is one version's request, so ``booted()`` needs no
``isinstance`` to narrow it; :data:`AnyBootResponse` otherwise, and for a bare
``StationClient`` annotation (a default: existing code that does not parametrize is
unchanged). Its default needs ``typing_extensions`` (PEP 696) on Python < 3.13."""

OneVersionBoot = TypeVar("OneVersionBoot", bound=AnyBootResponse)
"""The BootNotificationResponse of the ``Charger`` class given to :meth:`StationClient.of`:
the parameter of the client it returns."""

HeartbeatCall: TypeAlias = ConnectionCall
""":attr:`StationClient.heartbeat_call`: sends a HeartbeatRequest on a connection within a
timeout, as ``connection.call(request, timeout=...)`` does."""


class VersionedCharger(Protocol[BootT]):
    """A station's ``Charger`` as type checkers see it: each version's ``Charger``
    (``v201.Charger`` and its subclasses) declares its version's BootNotificationResponse
    (:data:`BootT`), so ``connect(v201.Charger(), url)`` is a
    ``StationClient[v201.messages.BootNotificationResponse]`` with no ``boot=`` to say the
    version. A mapping of subprotocols, or any other handler (``dispatch.Charger``, a value
    annotated ``OcppHandler``), gives the union (:data:`AnyBootResponse`), as before. Nothing
    of it exists at run time."""

    def _version_boot_response(self) -> BootT:
        """The BootNotificationResponse of the Charger's version."""
        ...


class OfNoOneVersion(Protocol):
    """A handler whose type says no one version (``dispatch.Charger``, a value annotated
    ``OcppHandler``): :func:`connect` and :class:`StationClient` take a ``boot=`` of any
    version with it, as the union (:data:`AnyBootResponse`) types it. ``_boot_versions`` is a
    (writable) attribute, so matched invariantly: a Charger of one version, whose own is its
    version's response, is none, and a boot of another version (a 1.6 boot given to a
    ``v201.Charger``) matches no signature of :func:`connect` (where a covariant parameter
    joined the two into the union, which only the run-time check refused). Nothing of it
    exists at run time."""

    _boot_versions: AnyBootResponse


_CLIENTS: weakref.WeakKeyDictionary[AsyncConnection, StationClient[Any]] = (
    weakref.WeakKeyDictionary()
)
"""The client of each station connection (:meth:`StationClient.of`); weak, so a connection
gone is forgotten with it."""


def boot_retry_delay(interval: float) -> float:
    """Seconds to wait before booting again after a Pending or Rejected BootNotificationResponse
    whose ``interval`` is this: the CSMS's minimum wait, or :data:`BOOT_RETRY_FLOOR` for 0."""
    return float(interval) if interval > 0 else BOOT_RETRY_FLOOR


async def boot_accepted_within(connection: AsyncConnection, seconds: float) -> bool:
    """Wait up to ``seconds`` (the wait before booting again after Pending or Rejected) for the
    CSMS to accept a boot on ``connection``, whoever sent it; whether it did. While Pending the
    CSMS may trigger a BootNotification (TriggerMessage), which the station's handler sends:
    its Accepted answer ends the wait, where the station would boot again for nothing after it
    (with an answer that came already, :attr:`~ocpp_fast.aio.AsyncConnection.registration`
    says so, at once)."""
    if connection.registration == "Accepted":
        return True
    accepted = asyncio.Event()

    def watch(action: str, response: Any) -> None:
        if action == "BootNotification" and response.status == "Accepted":
            accepted.set()

    connection.on_answer.append(watch)
    try:
        with contextlib.suppress(TimeoutError):
            await within(accepted.wait(), seconds)
        return accepted.is_set()
    finally:
        connection.on_answer.remove(watch)


@dataclass(frozen=True)
class Backoff:
    """The reconnection back-off of OCPP 2.x (``RetryBackOff*`` variables), in seconds.

    The n-th retry waits ``minimum * 2**min(n, repeat_times)`` plus a random
    share of ``random_range``, so that thousands of stations that lost the
    CSMS at once do not all come back in the same instant.
    """

    minimum: float = 3.0
    random_range: float = 10.0
    repeat_times: int = 5

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait before retry number ``attempt`` (0 for the first)."""
        base = self.minimum * 2.0 ** min(attempt, self.repeat_times)
        return base + rng.uniform(0.0, self.random_range)


class Options(TypedDict, total=False):
    """The keyword options of :func:`connect` (and :class:`StationClient`), as the signatures
    of each version (their overloads) take them: see :func:`connect` for each."""

    identity: str | None
    password: str | None
    ssl: ssl_module.SSLContext | None
    backoff: Backoff
    ping_interval: float | None
    backend: str | None
    max_size: int
    compression: bool
    queue: str | TransactionQueue | None
    retry: MessageRetry
    metrics: Metrics | None
    failover: Sequence[str]
    heartbeat: float | None
    via: InMemoryServer | None


class ClientOptions(Options, total=False):
    """:class:`StationClient`'s keyword options: :class:`Options`, and the random source of
    its reconnection back-off (``rng``, for tests)."""

    rng: random.Random | None


class StationClient(Generic[BootT]):
    """A station connected to a CSMS, reconnecting until :meth:`close`.

    Calls wait for a connection; a call in flight when the connection drops
    fails with ``ConnectionError``. Message ids are uuid4 strings, unique
    across reconnects.

    With a ``queue`` (a SQLite file name, ``":memory:"`` for one kept in memory, or a
    :class:`~ocpp_fast.transport.txqueue.TransactionQueue`), transaction-related
    CALLs (2.x TransactionEvent; 1.6 StartTransaction, StopTransaction and
    MeterValues of a transaction) are not lost to a dropped connection or a
    restart: they are stored before they are sent, delivered in order whenever
    connected, retried per ``retry`` and removed once answered (see
    :mod:`ocpp_fast.transport.txqueue` for what is stored and what may be
    dropped when it is full). Messages still queued when the process stopped
    are delivered by the next client opened on the same file.

    With ``boot`` (the BootNotificationRequest of each version the station speaks), the
    client boots at each connection itself, before any other request of the station: it sends
    the boot again after a Pending or Rejected answer once the CSMS's ``interval`` passed
    (:func:`boot_retry_delay`), and only once the CSMS accepted it do the queue, ``call()``,
    the heartbeat and the Charger's ``on_connect`` go on, as OCPP asks. The Charger's handlers
    answer the CSMS meanwhile, and what they send on their ``connection`` (a message the CSMS
    triggered) goes out at once: a BootNotification the CSMS triggered while Pending, once
    accepted, ends the wait as the client's own would (no second boot after it). Without
    ``boot``, the queue and ``call()`` send as soon as a connection is open, the boot being the
    station's own business.

    Generic over the version's BootNotificationResponse (:data:`BootT`): a client built with
    one version's ``boot`` is a ``StationClient[v201.messages.BootNotificationResponse]``
    (1.6's likewise), whose :meth:`booted` is typed so; a bare ``StationClient`` is the union.
    """

    @overload
    def __init__(
        self: StationClient[Boot16],
        handlers: VersionedCharger[Boot16],
        url: str,
        *,
        boot: Request[Boot16] | Iterable[Request[Boot16]] | None = None,
        **options: Unpack[ClientOptions],
    ) -> None: ...

    @overload
    def __init__(
        self: StationClient[Boot201],
        handlers: VersionedCharger[Boot201],
        url: str,
        *,
        boot: Request[Boot201] | Iterable[Request[Boot201]] | None = None,
        **options: Unpack[ClientOptions],
    ) -> None: ...

    @overload
    def __init__(
        self: StationClient[Boot21],
        handlers: VersionedCharger[Boot21],
        url: str,
        *,
        boot: Request[Boot21] | Iterable[Request[Boot21]] | None = None,
        **options: Unpack[ClientOptions],
    ) -> None: ...

    @overload
    def __init__(
        self: StationClient[BootT],
        handlers: OfNoOneVersion | Mapping[str, OcppHandler],
        url: str,
        *,
        boot: Request[BootT],
        **options: Unpack[ClientOptions],
    ) -> None: ...

    @overload
    def __init__(
        self: StationClient[AnyBootResponse],
        handlers: OfNoOneVersion | Mapping[str, OcppHandler],
        url: str,
        *,
        boot: Iterable[Request[Any]] | None = None,
        **options: Unpack[ClientOptions],
    ) -> None: ...

    def __init__(
        self,
        handlers: VersionedCharger[Any] | OfNoOneVersion | Mapping[str, OcppHandler],
        url: str,
        *,
        identity: str | None = None,
        password: str | None = None,
        ssl: ssl_module.SSLContext | None = None,
        backoff: Backoff = Backoff(),
        ping_interval: float | None = 20,
        rng: random.Random | None = None,
        backend: str | None = None,
        max_size: int = DEFAULT_MAX_SIZE,
        compression: bool = True,
        queue: str | TransactionQueue | None = None,
        retry: MessageRetry = DEFAULT_RETRY,
        metrics: Metrics | None = None,
        failover: Sequence[str] = (),
        heartbeat: float | None = None,
        boot: Request[Any] | Iterable[Request[Any]] | None = None,
        via: InMemoryServer | None = None,
    ) -> None:
        """``handlers`` and the options are those of :func:`connect` (``max_size`` included:
        the largest message taken from the CSMS); ``failover``: other URLs
        of the same CSMS, tried in turn after a lost connection, and at once when the first
        connection fails."""
        # a VersionedCharger is an OcppHandler: only OcppHandler and its classes declare it
        self.handlers: dict[str, OcppHandler] = by_subprotocol(
            cast("OcppHandler | Mapping[str, OcppHandler]", handlers), "Charger"
        )
        self.url: str = url
        """The URL of the current (or next) connection."""
        self._urls = [url, *failover]
        for each in self._urls:
            problem = websocket_url_problem(each)
            if problem is not None:
                raise ValueError(f"{each} is {problem}")
        self._turn = 0
        found = identity or parse_identity(url)
        if found is None:
            raise ValueError(
                f"no station identity in {url!r}: end the URL with it "
                "(ws://HOST:PORT/ocpp/CS001), or pass identity="
            )
        self.identity = found
        self._password = password
        self._ssl = ssl
        self._backoff = backoff
        self._ping_interval = ping_interval
        self._max_size = max_size
        self._compression = compression
        self._rng = rng or random.Random()
        self.backend: str = MEMORY if via is not None else resolve(backend)
        """The WebSocket library carrying the frames (``"memory"`` with ``via``)."""
        self._open: Opener = via.open if via is not None else _opener(self.backend)
        self.connection: AsyncConnection | None = None
        """The live connection, ``None`` while (re)connecting."""
        self.subprotocol: str | None = None
        self.connects: int = 0
        """How many times a connection was opened."""
        self.failed_reconnects: int = 0
        """How many attempts to connect again failed (after a lost connection: a failed first
        attempt is :meth:`start`'s to raise). With :attr:`connects`, what a load test reports:
        a CSMS that went away shows here, where no call may have failed."""
        self._boots = _boots_of(boot, self.handlers)
        self._boot_response: BootT | None = None
        self._boot_failure: str | None = None
        """Why the last boot on the live connection came to nothing (a CALLERROR, an answer
        that broke the schema, none in time): what :meth:`booted`'s ``TimeoutError`` says."""
        self._booting: asyncio.Task[None] | None = None
        self._after_answer: set[asyncio.Task[None]] = set()
        """Reboots a handler asked for, run once its answer went out (kept: asyncio holds
        only weak references to tasks)."""
        self._greeting: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        """Set while the station's requests may go: connected and, with ``boot``, accepted."""
        self._largest_sent = 0
        """The bytes of the largest frame sent on the live connection (see :meth:`_too_big`)."""
        self._closing = False
        self._closed = asyncio.Event()
        self._link: Link | None = None
        self._runner: asyncio.Task[None] | None = None
        self._opening: asyncio.Future[Link] | None = None
        """The opening of a link in progress (its handshake), which :meth:`close` cancels."""
        self._first: asyncio.Future[None] | None = None
        self._sender: QueueSender | None = None
        self._delivering: asyncio.Task[None] | None = None
        self._owns_queue = isinstance(queue, str)
        if queue is not None:
            store = TransactionQueue(queue) if isinstance(queue, str) else queue
            versions = [handler.version for handler in self.handlers.values()]
            self._sender = QueueSender(store, retry, versions, self.identity)
        self.metrics = metrics
        """Where this station's frames, handler times and queue length are counted."""
        if heartbeat is not None and heartbeat <= 0:
            raise ValueError("heartbeat is a number of seconds > 0 (None: no heartbeat)")
        self._heartbeat = heartbeat
        self._quiet_since = time.monotonic()
        """When the last frame went to the CSMS (or the interval changed): a heartbeat is due
        :attr:`heartbeat_interval` after it, an interval of inactivity."""
        self._interval_set = asyncio.Event()
        self._beating: asyncio.Task[None] | None = None
        self.heartbeat_call: HeartbeatCall | None = None
        """How the client's own heartbeats (:attr:`heartbeat_interval`) go out: ``None``, on the
        connection (``connection.call``); else this function of the connection, the request and
        its timeout, which returns the response or raises as ``connection.call`` does
        (``ocpp-fast simulate`` counts them so in its report, with the station's other calls)."""
        self._downtime: float | None = None
        """Seconds before the next connection after a :meth:`reboot` (``None``: the back-off)."""
        self._boot_reason: str | None = None
        """The reason of the client's boot on the next connection, after a :meth:`reboot`."""
        if metrics is not None and self._sender is not None:
            watched = self._sender.queue
            metrics.queued = len(watched)
            watched.on_size.append(lambda size: setattr(metrics, "queued", size))

    @overload
    @classmethod
    def of(cls, where: CallContext | PeerConnection) -> StationClient: ...

    @overload
    @classmethod
    def of(
        cls, where: CallContext | PeerConnection, charger: type[VersionedCharger[OneVersionBoot]]
    ) -> StationClient[OneVersionBoot]: ...

    @classmethod
    def of(
        cls,
        where: CallContext | PeerConnection,
        charger: type[VersionedCharger[Any]] | None = None,
    ) -> StationClient[Any]:
        """The client whose connection ``where`` is: a handler's ``context`` (the CSMS's CALL
        came on it), or the connection ``on_connect`` / ``on_disconnect`` get. How a
        ``Charger``'s handler reaches what belongs to the client rather than to one
        connection: its transaction queue (:meth:`put`), :attr:`heartbeat_interval`, a
        :meth:`call` that waits for the next connection. Right from the CSMS's first frame,
        for a client built by :func:`connect` too, and for a ``Charger`` instance serving
        several clients (each connection knows its own).

        A connection's type says no version, so the client is typed for any version (a bare
        ``StationClient``). Given a ``Charger`` class (``StationClient.of(context,
        v16.Charger)``, a subclass too), it is typed as a client of that class's version
        (``StationClient[v16.messages.BootNotificationResponse]``), what a helper annotated
        for one version takes; the claim is checked here, so it holds: ``TypeError`` if the
        client speaks any other version (one of several versions may boot it on its next
        connection, whose answer would then not be of the type said).

        ``LookupError`` for a connection no ``StationClient`` opened (``connect_in_memory``'s
        two bare ends: test such a station with ``serve_in_memory`` and ``via=``).
        """
        connection = where.connection if isinstance(where, CallContext) else where
        client = _CLIENTS.get(connection) if isinstance(connection, AsyncConnection) else None
        if client is None:
            raise LookupError(
                "this connection is not a StationClient's (connect_in_memory has none: "
                "serve_in_memory and connect(..., via=server) give the station its client)"
            )
        if charger is not None:
            version = getattr(charger, "version", None)
            if not (isinstance(charger, type) and issubclass(charger, Charger) and version):
                raise TypeError(
                    f"StationClient.of(..., {charger!r}): not the Charger class of one version "
                    "(v16.Charger, v201.Charger, v21.Charger or a subclass)"
                )
            spoken = sorted({handler.version.label for handler in client.handlers.values()})
            if spoken != [version.label]:
                raise TypeError(
                    f"StationClient.of(..., {charger.__qualname__}): {client.identity}'s client "
                    f"speaks OCPP {' and '.join(spoken)}, not OCPP {version.label} alone; "
                    "StationClient.of(context) gives it typed for any version"
                )
        return client

    @property
    def boot_response(self) -> BootT | None:
        """With ``boot``: the CSMS's last answer to it on the live connection, or to a boot the
        CSMS triggered there (``None`` before the first one came, and without ``boot``): the
        BootNotificationResponse of the connection's version, so its fields are typed
        (``status``, ``interval``...). A client given one version's ``boot`` is typed by it
        (:data:`BootT`); for one of several versions, narrow it with ``isinstance`` for a field
        one version has alone (2.x ``status_info``). Read-only, as the client's own record."""
        return self._boot_response

    @property
    def queue(self) -> TransactionQueue | None:
        """The transaction queue, if the client has one."""
        return None if self._sender is None else self._sender.queue

    @property
    def queue_call(self) -> QueueCall | None:
        """How the queue's sendings go out: ``None``, on the connection (``message.send``:
        the bytes checked at ``put()``, sent as they are); else this function of the
        connection, the :class:`~ocpp_fast.transport.txqueue.QueuedMessage` and its timeout
        (``retry.timeout``), which returns the response or raises as ``message.send(connection,
        timeout)`` does (and ``connection.call``), each raise one failed attempt as the queue
        counts them. ``ocpp-fast simulate`` counts every sending so in its
        report, retries included, as it counts :attr:`heartbeat_call`'s. ``ValueError`` when
        set on a client without ``queue``."""
        return None if self._sender is None else self._sender.call

    @queue_call.setter
    def queue_call(self, call: QueueCall | None) -> None:
        if self._sender is None:
            raise ValueError("this StationClient has no transaction queue: give it queue=")
        self._sender.call = call

    @property
    def ping_interval(self) -> float | None:
        """Seconds between the WebSocket pings that keep the connection alive (``None``: no
        pings), as ``ping_interval=`` gave it.

        A WebSocket's keepalive is set as it opens: a value set here is the keepalive of the
        connections the client opens from then on (after a lost connection), not of the live
        one. A station sets it when the CSMS changes ``WebSocketPingInterval`` (0: ``None``).
        """
        return self._ping_interval

    @ping_interval.setter
    def ping_interval(self, seconds: float | None) -> None:
        if seconds is not None and seconds <= 0:
            raise ValueError("ping_interval is a number of seconds > 0 (None: no pings)")
        self._ping_interval = seconds

    @property
    def heartbeat_interval(self) -> float | None:
        """Seconds of silence after which the client sends a HeartbeatRequest (``None``: it
        sends none).

        An interval of inactivity, as OCPP 2.0.1 defines ``HeartbeatInterval`` (1.6 lets a
        station skip heartbeats while other messages flow): any frame sent to the CSMS (a
        CALL, or an answer to one of its CALLs) starts the count again, so a busy station
        sends none. Once it is set (``heartbeat=``), taken from an accepted
        BootNotificationResponse's ``interval`` (OCPP asks the station to adopt it); while it
        is ``None`` the boot's interval is not adopted. Set it when the CSMS changes
        ``HeartbeatInterval`` (1.6 ChangeConfiguration, 2.x SetVariables). The next heartbeat
        is due that long after the change at the earliest.
        """
        return self._heartbeat

    @heartbeat_interval.setter
    def heartbeat_interval(self, seconds: float | None) -> None:
        if seconds is not None and seconds <= 0:
            raise ValueError("heartbeat_interval is a number of seconds > 0 (None: no heartbeat)")
        self._heartbeat = seconds
        self._sent()  # the next heartbeat is due an interval from now
        self._interval_set.set()
        self._start_beating()

    def _start_beating(self) -> None:
        """A heartbeat task for the live connection, if heartbeats are on and none runs (with
        ``boot``, once it was accepted: a heartbeat is a request like any other)."""
        connection = self.connection
        if self._heartbeat is None or connection is None or not self._ready.is_set():
            return
        if self._beating is None or self._beating.done():
            self._beating = asyncio.create_task(self._beat(connection))

    async def start(self) -> None:
        """Connect (raising if the first attempt fails), then keep the connection up.

        With a queue, what an earlier process left in it starts going out now.
        A failed first attempt raises an ``OSError``: ``ConnectionRefusedError`` (nothing
        listens; a plain ``OSError`` naming each address when the host has several and none
        answers, as asyncio's ``create_connection`` says it), ``TimeoutError``, an
        ``ssl.SSLError``, or
        :class:`~ocpp_fast.errors.HandshakeFailed` (the CSMS refused: ``status`` 401, 404...);
        ``start()`` may then be called again (a station that boots offline retries it).
        A :meth:`close` while it connects ends it too: it returns, with no connection.
        ``RuntimeError`` on a client closed already (make a new one: its queue file hands
        over what is left in it).
        """
        if self._closing:
            raise RuntimeError(
                f"StationClient {self.identity} was closed: make a new one to connect again"
            )
        self._first = asyncio.get_running_loop().create_future()
        self._runner = asyncio.create_task(self._run())
        await self._first
        if self._closing:
            return  # close() came while connecting: nothing to deliver for
        if self._sender is not None and self._delivering is None:
            self._delivering = asyncio.create_task(
                self._sender.run(self._connection, self._ready_connection)
            )
            self._delivering.add_done_callback(self._delivery_stopped)

    async def booted(self, timeout: float | None = DEFAULT_TIMEOUT) -> BootT:
        """With ``boot``: wait until the CSMS accepted the boot of the live connection (at once
        when it has); its BootNotificationResponse, typed as :attr:`boot_response` is (never
        ``None`` here). ``TimeoutError`` after ``timeout`` seconds, saying where the boot stands
        (no connection, no answer yet, Pending or Rejected, or why the last boot failed: an
        answer that broke the schema is named so); ``ConnectionError`` at once
        when the client is (or gets) closed; ``ValueError`` for a client built without
        ``boot``, whose boot is the caller's own."""
        if not self._boots:
            raise ValueError("this StationClient does not boot by itself: give it boot=")
        try:
            await self._until_ready(timeout)
        except TimeoutError:
            raise TimeoutError(
                f"the CSMS did not accept the boot within {timeout:g} s: {self._not_booted()}"
            ) from None
        response = self._boot_response
        if response is None:  # the accepted connection ended, a new one began, as we woke
            raise ConnectionError("the connection whose boot was accepted is gone")
        return response

    def _not_booted(self) -> str:
        """Where the boot stands, for :meth:`booted`'s timeout: "did not accept" alone sent a
        developer to the CSMS's logs when the CSMS had accepted, and the station refused its
        answer."""
        if self.connection is None:
            return "no connection to the CSMS"
        if self._boot_failure is not None:
            return f"the last BootNotification failed: {self._boot_failure}"
        if self._boot_response is not None:
            return f"its last answer was {self._boot_response.status}"
        return "no answer yet"

    def _delivery_stopped(self, task: asyncio.Task[None]) -> None:
        """Only close() should stop the queue's delivery: anything else is logged loudly."""
        if not task.cancelled() and (error := task.exception()) is not None:
            ConnectionLog(log, self.identity).critical(
                "the transaction queue stopped", exc_info=error
            )

    async def call(
        self, request: SentByStation[ResponseT], timeout: float = DEFAULT_TIMEOUT
    ) -> ResponseT:
        """Send ``request`` as a CALL once connected; return the typed response.

        A queued (transaction-related) request is stored first; the response
        comes when the queue delivered it. ``StillQueued`` (a ``TimeoutError``)
        after ``timeout`` means not yet answered, but not lost either: the
        queue keeps delivering it. A CALLERROR is raised once the retries are
        spent and the message is dropped. Another request waiting for a connection (or an
        accepted boot) gets a ``ConnectionError`` when the client is closed.
        """
        delivered = self._put_if_queued(request)
        if delivered is not None:
            return await answer_within(delivered, timeout, type(request).__name__)
        connection = await self._live(timeout, request)
        return await connection.call(request, timeout=timeout)

    @overload
    def put(
        self, request: messages201.TransactionEventRequest
    ) -> Queued[messages201.TransactionEventResponse]: ...
    @overload
    def put(
        self, request: messages21.TransactionEventRequest
    ) -> Queued[messages21.TransactionEventResponse]: ...
    @overload
    def put(
        self, request: messages16.StartTransactionRequest
    ) -> Queued[messages16.StartTransactionResponse]: ...
    @overload
    def put(
        self, request: messages16.StopTransactionRequest
    ) -> Queued[messages16.StopTransactionResponse]: ...
    @overload
    def put(
        self, request: messages16.MeterValuesRequest
    ) -> Queued[messages16.MeterValuesResponse]: ...
    def put(self, request: SentByStation[Any]) -> Queued[Any]:
        """Queue the transaction-related ``request``; return its :class:`Queued`.

        Synchronous: once it returns, the message is stored (on disk, for a
        file queue) and survives a power cut. Awaiting the :class:`Queued`
        (nobody need) gives the CSMS's typed response, or raises the error it
        was dropped for. For a 2.x TransactionEvent the queue sets ``seqNo``, and
        ``offline`` true when it is put with no connection (unless the caller set it); for a
        1.6 StartTransaction, ``Queued.transaction_id`` is the id to use in its
        MeterValues and StopTransaction, even before the CSMS answered.

        Only what the queue keeps is accepted (the types above, to type checkers):
        ``ValueError`` for any other request (a 1.6 MeterValues without
        ``transactionId`` included: send those with :meth:`call`), and for a client
        built without ``queue``.
        """
        if self._sender is None:
            raise ValueError("this StationClient has no transaction queue: give it queue=")
        queued = self._put_if_queued(request)
        if queued is None:
            raise ValueError(
                f"{type(request).__name__} is not a transaction message of a version this "
                "station speaks, so it is never queued: send it with call()"
            )
        return queued

    def _put_if_queued(self, request: Request[ResponseT]) -> Queued[ResponseT] | None:
        """Queue ``request`` if it is transaction-related; ``None`` if it is not (or no queue)."""
        if self._sender is None:
            return None
        found = self._sender.queued(request)
        if found is None:
            return None
        if found[1] == "TransactionEvent" and self.connection is None:
            request = _offline(request)
        queued: Queued[ResponseT] = self._sender.put(found, request)
        return queued

    def _ready_connection(self) -> AsyncConnection | None:
        """The live connection if requests may go on it now (with ``boot``, once accepted)."""
        connection = self.connection
        return connection if connection is not None and self._ready.is_set() else None

    async def _connection(self) -> AsyncConnection:
        """The live connection once requests may go on it (:meth:`_ready_connection`); no
        timeout: the queue waits for good."""
        while (connection := self._ready_connection()) is None:
            await self._ready.wait()
        return connection

    async def send(self, request: SendRequest, timeout: float = DEFAULT_TIMEOUT) -> None:
        """2.1: send ``request`` as a SEND frame once connected (a SEND-only request, a
        :class:`~ocpp_fast.SendRequest`, such as ``NotifyPeriodicEventStreamRequest``: it is
        never answered, so nothing is returned)."""
        connection = await self._live(timeout, request)
        await connection.send(request)

    async def _live(self, timeout: float, request: object) -> AsyncConnection:
        connection = self.connection
        if connection is None or not self._ready.is_set():  # only then is a timer worth it
            try:
                await self._until_ready(timeout)
            except TimeoutError:
                missing = "accepted boot" if self.connection else "connection to the CSMS"
                raise TimeoutError(
                    f"{type(request).__name__} not sent: no {missing} within {timeout:g} s"
                ) from None
            connection = self.connection
            assert connection is not None
        return connection

    async def _until_ready(self, timeout: float | None) -> None:
        """Wait until the station's requests may go (connected and, with ``boot``, accepted);
        ``TimeoutError`` after ``timeout`` seconds, and a ``ConnectionError`` at once when the
        client is (or gets) closed: ``booted()`` and a waiting ``call()`` held a firmware's
        shutdown for their whole timeout, then blamed the CSMS."""
        if not self._closing and not self._ready.is_set():
            ready = asyncio.ensure_future(self._ready.wait())
            closed = asyncio.ensure_future(self._closed.wait())
            try:
                await within(
                    asyncio.wait([ready, closed], return_when=asyncio.FIRST_COMPLETED), timeout
                )
            finally:
                ready.cancel()
                closed.cancel()
        if self._closing:
            raise ConnectionError(f"StationClient {self.identity} was closed")

    @property
    def compressed(self) -> bool:
        """Whether the live connection agreed permessage-deflate."""
        return self._link is not None and self._link.compressed

    async def close(self, timeout: float = CLOSE_TIMEOUT) -> None:
        """Let in-flight handlers answer for up to ``timeout`` seconds, then close for good.

        A handler still running then is cancelled and named in one WARNING: a handler that
        awaits what never comes held ``close()`` for ever. CALLs the CSMS sends once the close
        began are read (the answers to calls the handlers make still arrive) but not
        dispatched (:meth:`~ocpp_fast.aio.AsyncConnection.finish`): a CSMS that keeps calling
        kept the drain going. Queued messages not yet answered stay in the queue; whoever
        awaits one (its ``Queued``, or a ``call()``) gets ``StillQueued`` at once. Awaited in a
        handler, it does not wait for that handler (which cannot end meanwhile), and the
        connection closes before its answer, said in a WARNING: close in a task of its own
        to answer first."""
        if (here := self._handler_running_here()) is not None:
            ConnectionLog(log, self.identity).warning(
                "closing from the handler of %s: the connection closes before its answer "
                "(close in a task of its own to answer first)",
                here[1],
            )
        self._closing = True
        self._closed.set()
        if self._opening is not None:
            # a handshake in progress: a CSMS that accepted the TCP connection and says nothing
            # held close() for the whole opening timeout (5 to 10 s, by backend)
            self._opening.cancel()
        if self._delivering is not None:
            self._delivering.cancel()
            await asyncio.wait([self._delivering])  # its error, if any, was logged
        if self._sender is not None:
            self._sender.stopped()
        if self.connection is not None:
            await self._drain(self.connection, timeout)
        if self._link is not None:
            await self._link.close()
        if self._runner is not None:
            await self._runner
        if self._sender is not None and self._owns_queue:
            self._sender.queue.close()

    async def _drain(self, connection: AsyncConnection, timeout: float) -> None:
        """:meth:`close`'s wait for the handlers in hand: ``timeout`` at most, then those
        still running cancelled and named."""
        connection.finish()
        running = await drain_or_stop(connection, timeout)
        if running is not None:
            ConnectionLog(log, self.identity).warning(
                "closing: cancelling handlers still running after %g s: %s", timeout, running
            )

    async def reboot(self, downtime: float, reason: str | None = None) -> None:
        """Close the live connection as a station that reboots does (WebSocket close code 1012,
        Service Restart) and open the next one ``downtime`` seconds later, rather than after
        the back-off of a lost connection (a reboot is no failure of the CSMS). With ``boot``,
        the client's boot on that next connection carries ``reason`` (2.x's
        ``BootReasonEnumType``: ``RemoteReset`` after a Reset; 1.6's boot has no reason, so it
        is sent as given). A simulated station calls it when it carries out a Reset. Awaited in
        a handler of the live connection (a Reset's), it returns at once and the reboot comes
        once that handler's answer went out: the CSMS gets its answer first."""
        if (here := self._handler_running_here()) is not None:
            # awaited in a handler (a Reset's), the close came before that handler's answer,
            # which the CSMS never got: the reboot waits for the answer to go out
            here[0].add_done_callback(functools.partial(self._reboot_after, downtime, reason))
            return
        link = self._link
        if link is None or self.connection is None or self._closing:
            return  # no connection to close: the back-off of the one lost goes on
        self._downtime, self._boot_reason = downtime, reason
        await link.close(1012, "rebooting")

    def _reboot_after(self, downtime: float, reason: str | None, _: object) -> None:
        """:meth:`reboot`, asked for by a handler that has answered since."""
        task = asyncio.ensure_future(self.reboot(downtime, reason))
        self._after_answer.add(task)
        task.add_done_callback(self._after_answer.discard)

    def _handler_running_here(self) -> tuple[asyncio.Task[Any], str] | None:
        """The task of the live connection's handler this code runs in, with its CALL
        (``action message_id``), or ``None`` outside one: awaited there, :meth:`reboot` and
        :meth:`close` cut the connection before that handler's answer."""
        connection, current = self.connection, asyncio.current_task()
        if connection is None or current is None:
            return None
        for what, action, message_id in connection.running():
            if what is current:
                return current, f"{action} {message_id}"
        return None

    async def _run(self) -> None:
        attempt = 0
        first_failure: Exception | None = None
        while not self._closing:
            try:
                await self._session()
                attempt = 0
            except Exception as exc:  # an OSError (HandshakeFailed too) or a backend's surprise
                if self._closing:
                    break  # close() came while connecting: no failure to report
                if self._first is not None and not self._first.done():
                    first_failure = first_failure or exc
                    if isinstance(exc, OSError) and self._turn + 1 < len(self._urls):
                        # The first connection tries each URL once, at once, before it fails:
                        # it raised at the first, so a simulated fleet spread over a cluster's
                        # gateways lost for good the stations of one that was down at the start.
                        ConnectionLog(log, self.identity).info(
                            "%s: %s; trying %s", self.url, exc, self._urls[self._turn + 1]
                        )
                        self._turn += 1
                        self.url = self._urls[self._turn]
                        continue
                    self._turn, self.url = 0, self._urls[0]  # start() again begins there
                    self._first.set_exception(first_failure)
                    return
                if not isinstance(exc, OSError):
                    raise
                self.failed_reconnects += 1
                ConnectionLog(log, self.identity).warning(CONNECTION_FAILED, exc)
            if self._closing:
                break
            self._turn += 1
            self.url = self._urls[self._turn % len(self._urls)]
            delay = self._backoff.delay(attempt, self._rng)
            if self._downtime is not None:  # rebooted, not lost: back after its downtime
                delay, self._downtime = self._downtime, None
            attempt += 1
            ConnectionLog(log, self.identity).info("reconnecting in %.1f s", delay)
            # close() cuts the wait short. Plain wait_for: the cancel it drops on 3.11 came
            # with close()'s event, and close() has set _closing, which ends the loop anyway.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closed.wait(), delay)
        if self._first is not None and not self._first.done():
            self._first.set_result(None)  # closed before the first connection: start() returns

    async def _session(self) -> None:
        headers = {}
        if self._password is not None:
            headers["Authorization"] = basic_header(self.identity, self._password)
        options = LinkOptions(
            subprotocols=list(self.handlers),
            headers=headers,
            ssl=self._tls_for(self.url),
            ping_interval=self._ping_interval,
            max_size=self._max_size,
            compression=self._compression,
            identity=self.identity,
        )
        self._opening = opening = asyncio.ensure_future(self._open(self.url, options))
        try:
            link = await opening
        except asyncio.CancelledError:
            runner = asyncio.current_task()
            if runner is not None and runner.cancelling():
                raise  # the session itself was cancelled
            return  # close() cancelled the handshake: nothing was opened
        finally:
            self._opening = None
        if self._closing:
            # close() came while the link was opening: it found no link to close, and would
            # wait for this session for ever (a firmware stopped during its start hung)
            await link.close()
            return
        subprotocol = link.subprotocol
        if subprotocol is None or subprotocol not in self.handlers:
            await link.close(1002, "no acceptable OCPP version")
            raise HandshakeFailed.no_common(self.handlers, subprotocol)

        self._sent()  # a new connection: its silence counts from now
        self._largest_sent = 0
        handler = self.handlers[subprotocol]
        connection = link.connection_for(handler, self.identity, self._sent)
        _CLIENTS[connection] = self  # before its first frame: StationClient.of in a handler
        connection.protocol.metrics = self.metrics
        connection.on_answer.append(self._adopt_interval)
        self._link, self.connection, self.subprotocol = link, connection, subprotocol
        self.connects += 1
        self._boot_response = self._boot_failure = None
        ConnectionLog(log, self.identity).info(
            "connected to %s (%s, %s)", self.url, subprotocol, self.backend
        )
        if self._boots:
            boot = _with_reason(self._boots[handler.version.label], self._boot_reason)
            self._boot_reason = None
            self._booting = asyncio.create_task(self._boot(connection, boot))
        else:
            self._opened(connection)
        if self._first is not None and not self._first.done():
            self._first.set_result(None)
        try:
            await link.run()
        finally:
            self._ready.clear()
            self.connection = None
            if self._booting is not None:
                self._booting.cancel()
                await asyncio.wait([self._booting])
                self._booting = None
            if self._beating is not None:
                # awaited, as the boot is: a heartbeat task merely cancelled is still pending
                # when close() returns, and a loop closed then destroys it ("Task was
                # destroyed but it is pending")
                self._beating.cancel()
                await asyncio.wait([self._beating])
                self._beating = None
            frames = _close_frames(link)
            if (too_big := too_big_sent(frames)) is not None:  # the CSMS's line, station-side
                ConnectionLog(log, self.identity).warning(
                    CUT_OFF_FOR_SIZE, too_big, MESSAGE_TOO_BIG
                )
            lost = ConnectionError("the connection to the CSMS was lost")
            connection.abort(lost, self._too_big(connection, frames))
            reason = self._how_it_ended(frames)
            said = ending(reason, link.lost_to())
            connection.protocol.flush_peer_log()  # the CSMS's lines held back, said first
            ConnectionLog(log, self.identity).info("disconnected: %s", said, extra={"reason": said})
            greeting, self._greeting = self._greeting, None
            try:
                await see_off(connection, greeting, reason, HOOK_GRACE)
            finally:
                link.seen_off()

    def _tls_for(self, url: str) -> ssl_module.SSLContext | None:
        """The TLS context of a connection to ``url``: ``ssl=``, or for a ``wss://`` URL without
        one the system's default (:func:`_system_tls`). The backends differed without it:
        websockets refused ``wss://`` ("ssl=None is incompatible"), picows took a default of
        its own and, not knowing the link was TLS, said a TLS handshake cut short with no
        words."""
        if self._ssl is not None or urlsplit(url).scheme.lower() != "wss":
            return self._ssl
        return _system_tls()

    def _opened(self, connection: AsyncConnection) -> None:
        """The station's requests may go on ``connection`` (at once, or once its boot was
        accepted): the queue and ``call()`` go on, ``on_connect`` runs, heartbeats start."""
        self._ready.set()
        self._greeting = greet(connection)
        self._start_beating()  # no task at all for a station without heartbeats

    async def _boot(self, connection: AsyncConnection, request: Any) -> None:
        """The client's own boot (``boot``), the first CALL of each connection, sent again after
        a Pending or Rejected answer once the CSMS's interval passed, or after a failure, until
        the CSMS accepts it (cancelled when the connection ends); a boot the CSMS triggered
        meanwhile (sent by the Charger's handler) that it accepts ends the wait as well."""
        said = ConnectionLog(log, self.identity)
        while True:
            try:
                response = await connection.call(request, timeout=DEFAULT_TIMEOUT)
            except ConnectionError:
                return  # gone: the next connection boots anew
            except (OcppError, TimeoutError) as exc:
                delay = BOOT_RETRY_FLOOR
                self._boot_failure = _boot_failure(exc, connection)
                said.warning(
                    "BootNotification failed, again in %g s: %s",
                    delay,
                    PeerText(self._boot_failure),
                )
            else:  # (its answer is boot_response already: _adopt_interval read it)
                self._boot_failure = None
                if response.status == "Accepted":
                    self._opened(connection)
                    return
                delay = boot_retry_delay(response.interval)
                said.info("BootNotification %s, again in %g s", response.status, delay)
            if await boot_accepted_within(connection, delay):  # a boot the CSMS triggered
                self._opened(connection)
                return

    def _too_big(self, connection: AsyncConnection, frames: CloseFrames) -> TooBigForCsms | None:
        """The error of our CALL on the wire when the CSMS closed with 1009 (message too big)
        and no frame larger than it went out on this connection: the frame the CSMS refused was
        no larger, so this CALL is too big as well, and would close every connection it is sent
        on. ``None`` otherwise (a larger frame, an answer of ours, may be the one refused)."""
        received = frames[0]
        if received is None or received[0] != MESSAGE_TOO_BIG or not peer_closed_first(*frames):
            return None
        on_wire = connection.protocol.outstanding_call
        if on_wire is None or on_wire[2] < self._largest_sent:
            return None
        message_id, action, size = on_wire
        return TooBigForCsms(action, size, message_id=message_id)

    def _how_it_ended(self, frames: CloseFrames) -> str:
        """``on_disconnect``'s reason: the close frames say who closed, with what code."""
        reason = close_reason(*frames, peer="the CSMS", us="the station")
        if self._closing and reason == close_reason(None, None, False):
            return CLOSED_BY_THE_STATION  # close() cut a link whose handshake was not seen
        return reason

    def _adopt_interval(self, action: str, response: Any) -> None:
        """A BootNotificationResponse on the connection, to the client's boot or to one the
        CSMS triggered: with ``boot``, it is :attr:`boot_response`; accepted, it sets the
        heartbeat interval (OCPP asks the station to adopt it), when the client sends
        heartbeats at all."""
        if action != "BootNotification":
            return
        if self._boots:
            self._boot_response = response
        if self._heartbeat is None:
            return
        if response.status == "Accepted" and response.interval > 0:
            self.heartbeat_interval = float(response.interval)

    def _sent(self, size: int = 0) -> None:
        """The heartbeat's silence counts from now: a frame of ``size`` bytes went to the CSMS
        (the links call it per frame), or the interval changed, or a connection was made."""
        self._quiet_since = time.monotonic()
        if size > self._largest_sent:
            self._largest_sent = size

    async def _beat(self, connection: AsyncConnection) -> None:
        """Send a HeartbeatRequest once nothing went to the CSMS for :attr:`heartbeat_interval`
        seconds, while connected (a change of the interval restarts the wait; ``None`` ends
        the task); a failed one is logged, not fatal: the connection's own keepalive notices
        a dead CSMS."""
        request_type: Any = connection.version.request_types["Heartbeat"]
        while (interval := self._heartbeat) is not None:
            self._interval_set.clear()
            quiet = time.monotonic() - self._quiet_since
            if quiet < interval:
                with contextlib.suppress(TimeoutError):  # a cancel as the interval changes ends it
                    await within(self._interval_set.wait(), interval - quiet)
                continue  # a frame went out meanwhile, or a new interval: count again
            timeout = min(interval, DEFAULT_TIMEOUT)
            try:
                if self.heartbeat_call is None:
                    await connection.call(request_type(), timeout=timeout)
                else:
                    await self.heartbeat_call(connection, request_type(), timeout)
            except ConnectionError:
                return  # gone: the next connection beats anew
            except Exception as exc:
                ConnectionLog(log, self.identity).warning("heartbeat failed: %s", PeerText(exc))


def _with_reason(boot: Any, reason: str | None) -> Any:
    """The client's ``boot`` with the ``reason`` of a :meth:`StationClient.reboot` (2.x; a 1.6
    boot, which has no reason, and no reason given: ``boot`` itself)."""
    if reason is None or not hasattr(boot, "reason"):
        return boot
    return msgspec.structs.replace(boot, reason=type(boot.reason)(reason))


@functools.cache
def _system_tls() -> ssl_module.SSLContext:
    """The TLS context of a ``wss://`` station given no ``ssl=``: the CSMS's certificate checked
    against the CAs the system trusts (as ``ocpp-fast simulate`` does). One for the process: a
    simulated fleet of thousands would load the system's CAs once per station otherwise."""
    return ssl_module.create_default_context()


def _offline(request: Request[ResponseT]) -> Request[ResponseT]:
    """A 2.x TransactionEvent put while the client has no connection, with ``offline`` true
    unless the caller set it: OCPP asks a station to flag the events that happened while the
    CSMS was unreachable (a CSMS treats them as late news: no remote stop for a transaction
    that already ended...), and the client is what knows it was not connected. A value the
    caller gave, ``False`` included, is kept: the firmware may know better (a cut it has not
    seen yet, the time the event really happened)."""
    if getattr(request, "offline", None) is not UNSET:
        return request
    return msgspec.structs.replace(request, offline=True)


def _close_frames(link: Link) -> CloseFrames:
    """How ``link`` closed (see :meth:`Link.close_frames`)."""
    try:
        return link.close_frames()
    except Exception:  # a backend's record we cannot read: say what we know
        return None, None, False


def _boots_of(
    boot: Request[Any] | Iterable[Request[Any]] | None, handlers: Mapping[str, OcppHandler]
) -> dict[str, Any]:
    """``boot=``: the BootNotificationRequest of each version of ``handlers``, by its label,
    each checked against its schema now (an invalid one would be refused at every connection).
    ``ValueError`` for a version without one, or a request that is no such boot: naming the
    version of the boot given and the one the station speaks, since the classes of the versions
    share a name and a 1.6 boot given to a 2.0.1 station read as "not 0" boots."""
    if boot is None:
        return {}
    if isinstance(boot, Mapping):  # written as the handlers are, by subprotocol: its keys
        raise ValueError(  # would be taken for the boots ("not builtins.str")
            "boot= takes a BootNotificationRequest, or a list of them, one per version the "
            "station offers (boot=[boot21, boot201]), not a mapping: each boot's version is "
            "read from its class"
        )
    given = [boot] if isinstance(boot, Request) else list(boot)
    for request in given:
        if _boot_version(request) is None:
            raise ValueError(
                f"boot= takes BootNotificationRequests, not {_qualified(type(request))}"
            )
    found: dict[str, Any] = {}
    for handler in handlers.values():
        version = handler.version
        kind = version.request_types["BootNotification"]
        mine = [request for request in given if type(request) is kind]
        if len(mine) != 1:
            spoken = {handler.version.label for handler in handlers.values()}
            others = sorted({str(_boot_version(request)) for request in given} - spoken)
            if not mine and others:
                raise ValueError(
                    f"boot= got a BootNotificationRequest of OCPP {', '.join(others)}, but the "
                    f"station speaks OCPP {version.label}: give {_qualified(kind)} "
                    "(one boot per version the station offers)"
                )
            raise ValueError(
                f"boot= takes one BootNotificationRequest of OCPP {version.label} "
                f"({_qualified(kind)}), not {len(mine)}: one per version the station offers"
            )
        encode_checked_payload(mine[0], "BootNotification", version, response=False)
        found[version.label] = mine[0]
    strays = [request for request in given if all(request is not f for f in found.values())]
    if strays:
        raise ValueError(
            f"boot= takes BootNotificationRequests of the versions the station speaks "
            f"({', '.join(found)}), not one of OCPP {_boot_version(strays[0])}"
        )
    return found


def _boot_failure(exc: OcppError | TimeoutError, connection: AsyncConnection) -> str:
    """What a failed boot says. An answer that broke the schema is named so, with the way to
    take it anyway: a CSMS that accepts the boot with a time without offset (as the ``ocpp``
    package's examples write it, ``datetime.utcnow().isoformat()``) holds the station at its
    boot for good, and the bare decode error read as if the CSMS had refused."""
    if isinstance(exc, OcppError) and exc.origin is Origin.RESPONSE_CHECK:
        return (
            f"the CSMS's answer broke the schema ({connection.version.code_of(exc)}: {exc}); "
            "a tolerance on the Charger may accept it (ocpp_fast.Tolerance)"
        )
    return str(exc)


def _boot_version(request: object) -> str | None:
    """The OCPP version label whose BootNotificationRequest ``request`` is, or ``None``."""
    for label in LABELS:
        if type(request) is by_label(label).request_types["BootNotification"]:
            return label
    return None


def _qualified(kind: type) -> str:
    """``ocpp_fast.v201.messages.BootNotificationRequest``: the classes of the versions share
    their names, their module says which is which."""
    return f"{kind.__module__}.{kind.__qualname__}"


def _opener(backend: str) -> Opener:
    """The function that opens a link on ``backend`` (imported only when chosen)."""
    if backend == "picows":
        from ocpp_fast.transport._picows_client import open_picows

        return open_picows
    from ocpp_fast.transport._websockets_client import open_websockets

    return open_websockets


@overload
async def connect(
    handlers: VersionedCharger[Boot16],
    url: str,
    *,
    boot: Request[Boot16] | Iterable[Request[Boot16]] | None = None,
    **options: Unpack[Options],
) -> StationClient[Boot16]: ...


@overload
async def connect(
    handlers: VersionedCharger[Boot201],
    url: str,
    *,
    boot: Request[Boot201] | Iterable[Request[Boot201]] | None = None,
    **options: Unpack[Options],
) -> StationClient[Boot201]: ...


@overload
async def connect(
    handlers: VersionedCharger[Boot21],
    url: str,
    *,
    boot: Request[Boot21] | Iterable[Request[Boot21]] | None = None,
    **options: Unpack[Options],
) -> StationClient[Boot21]: ...


@overload
async def connect(
    handlers: OfNoOneVersion | Mapping[str, OcppHandler],
    url: str,
    *,
    boot: Request[BootT],
    **options: Unpack[Options],
) -> StationClient[BootT]: ...


@overload
async def connect(
    handlers: OfNoOneVersion | Mapping[str, OcppHandler],
    url: str,
    *,
    boot: Iterable[Request[Any]] | None = None,
    **options: Unpack[Options],
) -> StationClient[AnyBootResponse]: ...


async def connect(
    handlers: VersionedCharger[Any] | OfNoOneVersion | Mapping[str, OcppHandler],
    url: str,
    *,
    identity: str | None = None,
    password: str | None = None,
    ssl: ssl_module.SSLContext | None = None,
    backoff: Backoff = Backoff(),
    ping_interval: float | None = 20,
    backend: str | None = None,
    max_size: int = DEFAULT_MAX_SIZE,
    compression: bool = True,
    queue: str | TransactionQueue | None = None,
    retry: MessageRetry = DEFAULT_RETRY,
    metrics: Metrics | None = None,
    failover: Sequence[str] = (),
    heartbeat: float | None = None,
    boot: Request[Any] | Iterable[Request[Any]] | None = None,
    via: InMemoryServer | None = None,
) -> StationClient[Any]:
    """Connect a station to the CSMS at ``url`` (``ws://`` or ``wss://``, identity last).

    ``handlers`` is one ``Charger``, or one per subprotocol in order of
    preference (``{"ocpp2.0.1": ..., "ocpp1.6": ...}``, or by label: ``{"2.0.1": ...}``).
    ``password`` turns on
    HTTP Basic (profiles 1 and 2; the user name is the identity); ``ssl``
    carries TLS, with a client certificate for profile 3 (a ``wss://`` URL without it uses the
    system's default context: the CSMS's certificate checked against the trusted CAs).
    ``compression`` offers permessage-deflate (the CSMS decides); ``backend`` picks the
    WebSocket library.
    ``max_size`` (bytes, :data:`~ocpp_fast.transport.limits.DEFAULT_MAX_SIZE`, 1 MiB, by
    default) is the largest message the station takes from the
    CSMS: a larger one closes the connection with 1009 (message too big), as the CSMS's own
    ``max_size`` guards it from the station.
    ``queue`` keeps transaction messages across disconnects and restarts, retried
    per ``retry`` (see :class:`StationClient`). ``metrics`` counts this station's frames,
    handler times and queue length (:mod:`ocpp_fast.metrics`). ``failover`` lists other URLs of
    the same CSMS (a cluster's gateways, same identity last): after a lost or failed connection
    the station tries the next one in turn (the first connection tries each once, at once, and
    raises the first URL's failure only when none answered). ``heartbeat`` (seconds) sends a
    HeartbeatRequest after that long without a frame to the CSMS (an interval of inactivity: a
    busy station sends none), at the interval of an accepted BootNotificationResponse once one
    came (:attr:`StationClient.heartbeat_interval`). Without it no heartbeat is sent,
    whatever the boot's answer says. ``boot`` (the BootNotificationRequest of each version
    offered) makes the client boot at each connection, again after Pending or Rejected, and hold
    the station's other requests (the queue's too) until the CSMS accepted it (see
    :class:`StationClient`); ``connect()`` returns once connected, not waiting for the answer.
    ``via`` (tests) connects to an :class:`~ocpp_fast.transport.memory.InMemoryServer` with no
    socket (:func:`~ocpp_fast.transport.memory.serve_in_memory`): the client is the same, its
    frames go through the event loop, ``url`` only names the identity (and ``backend``,
    ``ssl``, ``compression``, ``ping_interval`` have nothing to act on).

    The handler's ``on_connect`` / ``on_disconnect`` run at each connection and its end.
    Raises an ``OSError`` when the first connection fails: ``ConnectionRefusedError``,
    ``TimeoutError``, an ``ssl.SSLError``..., or :class:`~ocpp_fast.errors.HandshakeFailed`
    when the CSMS refused the station (its ``status``: 401, 404...); a ``ValueError`` at once,
    before connecting, for a URL (``failover`` ones too) that is no ``ws://`` or ``wss://`` URL
    with a host (``http://...`` says which WebSocket URL to use), or names no identity.
    """
    # its overloads typed the call already (one per version): any of them builds it alike
    client: StationClient[Any] = StationClient(
        cast("Any", handlers),
        url,
        identity=identity,
        password=password,
        ssl=ssl,
        backoff=backoff,
        ping_interval=ping_interval,
        backend=backend,
        max_size=max_size,
        compression=compression,
        queue=queue,
        retry=retry,
        metrics=metrics,
        failover=failover,
        heartbeat=heartbeat,
        boot=boot,
        via=via,
    )
    await client.start()
    return client
