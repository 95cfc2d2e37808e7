"""The station side over WebSockets: :func:`connect` and the reconnecting :class:`StationClient`.

The reconnect loop is the same for every backend; a backend only opens a
:class:`~ocpp_fast.transport._link.Link` (picows by default where installed,
``websockets`` otherwise).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl as ssl_module
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ocpp_fast._model import Request, ResponseT
from ocpp_fast._ratelimit import ConnectionLog
from ocpp_fast.aio import DEFAULT_TIMEOUT, AsyncConnection
from ocpp_fast.dispatch import OcppHandler
from ocpp_fast.transport._link import HandshakeFailed, Link, LinkOptions, Opener
from ocpp_fast.transport._sender import (
    DEFAULT_RETRY,
    MessageRetry,
    Queued,
    QueueSender,
    StillQueued,
)
from ocpp_fast.transport.backend import resolve
from ocpp_fast.transport.identity import basic_header, parse_identity
from ocpp_fast.transport.txqueue import TransactionQueue

if TYPE_CHECKING:
    from ocpp_fast.metrics import Metrics

__all__ = ["Backoff", "MessageRetry", "Queued", "StationClient", "StillQueued", "connect"]

log = logging.getLogger("ocpp_fast.transport")


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


class StationClient:
    """A station connected to a CSMS, reconnecting until :meth:`close`.

    Calls wait for a connection; a call in flight when the connection drops
    fails with ``ConnectionError``. Message ids are uuid4 strings, unique
    across reconnects.

    With a ``queue`` (a SQLite file name, ``":memory:"``, or a
    :class:`~ocpp_fast.transport.txqueue.TransactionQueue`), transaction-related
    CALLs (2.x TransactionEvent; 1.6 StartTransaction, StopTransaction and
    MeterValues of a transaction) are not lost to a dropped connection or a
    restart: they are stored before they are sent, delivered in order whenever
    connected, retried per ``retry`` and removed once answered (see
    :mod:`ocpp_fast.transport.txqueue` for what is stored and what may be
    dropped when it is full). Messages still queued when the process stopped
    are delivered by the next client opened on the same file.
    """

    def __init__(
        self,
        handlers: Mapping[str, OcppHandler],
        url: str,
        *,
        identity: str | None = None,
        password: str | None = None,
        ssl: ssl_module.SSLContext | None = None,
        backoff: Backoff = Backoff(),
        ping_interval: float | None = 20,
        rng: random.Random | None = None,
        backend: str | None = None,
        max_size: int = 2**20,
        compression: bool = True,
        queue: str | TransactionQueue | None = None,
        retry: MessageRetry = DEFAULT_RETRY,
        metrics: Metrics | None = None,
        failover: Sequence[str] = (),
    ) -> None:
        """``failover``: other URLs of the same CSMS, tried in turn after a lost connection."""
        self.handlers = dict(handlers)
        self.url = url
        """The URL of the current (or next) connection."""
        self._urls = [url, *failover]
        self._turn = 0
        found = identity or parse_identity(url)
        if found is None:
            raise ValueError(f"no station identity in {url!r}")
        self.identity = found
        self._password = password
        self._ssl = ssl
        self._backoff = backoff
        self._ping_interval = ping_interval
        self._max_size = max_size
        self._compression = compression
        self._rng = rng or random.Random()
        self.backend = resolve(backend)
        """The WebSocket library carrying the frames."""
        self._open: Opener = _opener(self.backend)
        self.connection: AsyncConnection | None = None
        """The live connection, ``None`` while (re)connecting."""
        self.subprotocol: str | None = None
        self.connects = 0
        """How many times a connection was opened."""
        self._connected = asyncio.Event()
        self._closing = False
        self._closed = asyncio.Event()
        self._link: Link | None = None
        self._runner: asyncio.Task[None] | None = None
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
        if metrics is not None and self._sender is not None:
            watched = self._sender.queue
            metrics.queued = len(watched)
            watched.on_size.append(lambda size: setattr(metrics, "queued", size))

    @property
    def queue(self) -> TransactionQueue | None:
        """The transaction queue, if the client has one."""
        return None if self._sender is None else self._sender.queue

    async def start(self) -> None:
        """Connect (raising if the first attempt fails), then keep the connection up.

        With a queue, what an earlier process left in it starts going out now.
        """
        self._first = asyncio.get_running_loop().create_future()
        self._runner = asyncio.create_task(self._run())
        await self._first
        if self._sender is not None and self._delivering is None:
            self._delivering = asyncio.create_task(self._sender.run(self._connection))
            self._delivering.add_done_callback(self._delivery_stopped)

    def _delivery_stopped(self, task: asyncio.Task[None]) -> None:
        """Only close() should stop the queue's delivery: anything else is logged loudly."""
        if not task.cancelled() and (error := task.exception()) is not None:
            ConnectionLog(log, self.identity).critical(
                "the transaction queue stopped", exc_info=error
            )

    async def call(
        self, request: Request[ResponseT], timeout: float = DEFAULT_TIMEOUT
    ) -> ResponseT:
        """Send ``request`` as a CALL once connected; return the typed response.

        A queued (transaction-related) request is stored first; the response
        comes when the queue delivered it. ``StillQueued`` (a ``TimeoutError``)
        after ``timeout`` means not yet answered, but not lost either: the
        queue keeps delivering it. A CALLERROR is raised once the retries are
        spent and the message is dropped.
        """
        delivered = self.put(request)
        if delivered is not None:
            try:
                response: ResponseT = await asyncio.wait_for(
                    asyncio.shield(delivered.delivered), timeout
                )
                return response
            except TimeoutError:
                raise StillQueued(f"{type(request).__name__} is queued, not yet answered") from None
        connection = await self._live(timeout)
        return await connection.call(request, timeout=timeout)

    def put(self, request: Any) -> Queued | None:
        """Queue ``request`` if it is transaction-related; ``None`` if it is not (or no queue).

        Synchronous: once it returns, the message is stored (on disk, for a
        file queue) and survives a power cut. Awaiting the :class:`Queued`
        (nobody need) gives the CSMS's response, or raises the error it was
        dropped for. For a 2.x TransactionEvent the queue sets ``seqNo``; for a
        1.6 StartTransaction, ``Queued.transaction_id`` is the id to use in its
        MeterValues and StopTransaction, even before the CSMS answered.
        """
        if self._sender is None:
            return None
        found = self._sender.queued(request)
        if found is None:
            return None
        return self._sender.put(*found, request)

    async def _connection(self) -> AsyncConnection:
        """The live connection, once there is one (no timeout: the queue waits for good)."""
        while (connection := self.connection) is None:
            await self._connected.wait()
        return connection

    async def send(self, request: Any, timeout: float = DEFAULT_TIMEOUT) -> None:
        """2.1: send ``request`` as a SEND frame once connected."""
        connection = await self._live(timeout)
        await connection.send(request)

    async def _live(self, timeout: float) -> AsyncConnection:
        connection = self.connection
        if connection is None:  # only then is waiting worth a timer
            await asyncio.wait_for(self._connected.wait(), timeout)
            connection = self.connection
            assert connection is not None
        return connection

    @property
    def compressed(self) -> bool:
        """Whether the live connection agreed permessage-deflate."""
        return self._link is not None and self._link.compressed

    async def close(self) -> None:
        """Let in-flight handlers answer, then close for good."""
        self._closing = True
        self._closed.set()
        if self._delivering is not None:
            self._delivering.cancel()
            await asyncio.wait([self._delivering])  # its error, if any, was logged
        if self.connection is not None:
            await self.connection.drain()
        if self._link is not None:
            await self._link.close()
        if self._runner is not None:
            await self._runner
        if self._sender is not None and self._owns_queue:
            self._sender.queue.close()

    async def _run(self) -> None:
        attempt = 0
        while not self._closing:
            try:
                await self._session()
                attempt = 0
            except (OSError, TimeoutError) as exc:  # HandshakeFailed is a ConnectionError
                if self._first is not None and not self._first.done():
                    self._first.set_exception(exc)
                    return
                ConnectionLog(log, self.identity).warning("connection failed: %s", exc)
            if self._closing:
                break
            self._turn += 1
            self.url = self._urls[self._turn % len(self._urls)]
            delay = self._backoff.delay(attempt, self._rng)
            attempt += 1
            ConnectionLog(log, self.identity).info("reconnecting in %.1f s", delay)
            with contextlib.suppress(TimeoutError):  # close() cuts the wait short
                await asyncio.wait_for(self._closed.wait(), delay)

    async def _session(self) -> None:
        headers = {}
        if self._password is not None:
            headers["Authorization"] = basic_header(self.identity, self._password)
        options = LinkOptions(
            subprotocols=list(self.handlers),
            headers=headers,
            ssl=self._ssl,
            ping_interval=self._ping_interval,
            max_size=self._max_size,
            compression=self._compression,
        )
        link = await self._open(self.url, options)
        subprotocol = link.subprotocol
        if subprotocol is None or subprotocol not in self.handlers:
            await link.close(1002, "no acceptable OCPP version")
            offered = ", ".join(self.handlers)
            raise HandshakeFailed(f"no common OCPP version: the CSMS accepted none of {offered}")

        connection = link.connection_for(self.handlers[subprotocol], self.identity)
        connection.protocol.metrics = self.metrics
        self._link, self.connection, self.subprotocol = link, connection, subprotocol
        self.connects += 1
        self._connected.set()
        if self._first is not None and not self._first.done():
            self._first.set_result(None)
        ConnectionLog(log, self.identity).info(
            "connected to %s (%s, %s)", self.url, subprotocol, self.backend
        )
        try:
            await link.run()
        finally:
            self._connected.clear()
            self.connection = None
            connection.abort(ConnectionError("the connection to the CSMS was lost"))
            ConnectionLog(log, self.identity).info("disconnected")


def _opener(backend: str) -> Opener:
    """The function that opens a link on ``backend`` (imported only when chosen)."""
    if backend == "picows":
        from ocpp_fast.transport._picows_client import open_picows

        return open_picows
    from ocpp_fast.transport._websockets_client import open_websockets

    return open_websockets


async def connect(
    handlers: OcppHandler | Mapping[str, OcppHandler],
    url: str,
    *,
    identity: str | None = None,
    password: str | None = None,
    ssl: ssl_module.SSLContext | None = None,
    backoff: Backoff = Backoff(),
    ping_interval: float | None = 20,
    backend: str | None = None,
    compression: bool = True,
    queue: str | TransactionQueue | None = None,
    retry: MessageRetry = DEFAULT_RETRY,
    metrics: Metrics | None = None,
    failover: Sequence[str] = (),
) -> StationClient:
    """Connect a station to the CSMS at ``url`` (``ws://`` or ``wss://``, identity last).

    ``handlers`` is one ``Charger``, or one per subprotocol in order of
    preference (``{"ocpp2.0.1": ..., "ocpp1.6": ...}``). ``password`` turns on
    HTTP Basic (profiles 1 and 2; the user name is the identity); ``ssl``
    carries TLS, with a client certificate for profile 3. ``compression`` offers
    permessage-deflate (the CSMS decides); ``backend`` picks the WebSocket library.
    ``queue`` keeps transaction messages across disconnects and restarts, retried
    per ``retry`` (see :class:`StationClient`). ``metrics`` counts this station's frames,
    handler times and queue length (:mod:`ocpp_fast.metrics`). ``failover`` lists other URLs
    of the same CSMS (a cluster's gateways, same identity last): after a lost or failed
    connection the station tries the next one in turn.
    """
    if isinstance(handlers, OcppHandler):
        handlers = {handlers.version.subprotocol: handlers}
    client = StationClient(
        handlers,
        url,
        identity=identity,
        password=password,
        ssl=ssl,
        backoff=backoff,
        ping_interval=ping_interval,
        backend=backend,
        compression=compression,
        queue=queue,
        retry=retry,
        metrics=metrics,
        failover=failover,
    )
    await client.start()
    return client
