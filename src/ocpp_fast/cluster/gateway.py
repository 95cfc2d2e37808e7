"""A gateway: a CSMS server (either backend) attached to NATS.

``await serve(Csms(), host, port, cluster=Gateway(ClusterConfig("nats://...")))``.
The server terminates the WebSockets as it always does; the gateway adds:

- a subscription to each connected station's command subject (made when the
  station connects, dropped when it leaves), so a routed CALL from any process
  reaches the one node holding the socket, and one sent to a station connected
  nowhere fails at once with NATS "no responders";
- the station's line in the registry (a KV bucket whose entries expire after
  ``registry_ttl`` unless the node refreshes them, so a node that dies takes its
  stations out of the registry within that time);
- durable actions stored in the events stream, acknowledged by JetStream,
  before the station gets its CALLRESULT (a store that fails answers
  InternalError: the station sends again rather than believe it was kept);
- with ``handlers_in="workers"``, every CALL forwarded to the workers' queue
  group of its version, and answered InternalError after ``worker_timeout``
  when no worker answers (one that crashed mid-request included).

Where the relay's requests go over the gateway's own NATS link
(:class:`~ocpp_fast.cluster._nats_link.NatsLink`), the command subscriptions, their
answers and the registry lines go over it too; otherwise everything is nats-py's.

The server tells the gateway only "this identity's state changed"
(``server.on_station``); one task then reconciles subscriptions and registry
with ``server.connections``, which is the truth, so a quick reconnect, a
takeover or a burst of a thousand connects needs no ordering of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import math
import weakref
from collections.abc import Callable, Coroutine, Mapping
from typing import TYPE_CHECKING, Any

import msgspec
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import api
from nats.js.errors import BadRequestError, KeyNotFoundError, ServiceUnavailableError

from ocpp_fast import errors
from ocpp_fast._actions import Sender
from ocpp_fast._awaited import within
from ocpp_fast._ratelimit import ConnectionLog
from ocpp_fast.cluster._handlers import clustered
from ocpp_fast.cluster._nats_link import Delivered, NatsLink
from ocpp_fast.cluster._tally import (
    ROUTED_OUTCOMES,
    STORE_CAUSES,
    routed_outcome,
    store_cause,
    tally,
)
from ocpp_fast.cluster.config import (
    DEFAULT_DURABLE,
    ClusterConfig,
    NoJetStream,
    nats_failures,
    node_name,
    shown_servers,
)
from ocpp_fast.cluster.relay import Relay, take_ack
from ocpp_fast.cluster.subjects import Names, encode_identity
from ocpp_fast.cluster.wire import (
    Outcome,
    RoutedCall,
    StationEntry,
    error_outcome,
)
from ocpp_fast.dispatch import OcppHandler

if TYPE_CHECKING:
    from nats.aio.client import Client as Nats
    from nats.js import JetStreamContext
    from nats.js.kv import KeyValue

    from ocpp_fast._protocol_version import ProtocolVersion
    from ocpp_fast.metrics import Metrics
    from ocpp_fast.transport._stations import CsmsServer

__all__ = ["Gateway"]

log: logging.Logger = logging.getLogger("ocpp_fast.cluster")

_encode = msgspec.json.Encoder().encode
_routed_decoder = msgspec.json.Decoder(RoutedCall)
_entry_decoder = msgspec.json.Decoder(StationEntry)
_JETSTREAM_RETRY = 0.5
"""Seconds between a gateway's attempts to make the events stream while JetStream answers
"unavailable" at its start."""
_BATCH = 256
"""Registry writes in flight at once (a thousand stations connecting is a thousand puts)."""

_ATTACHED: weakref.WeakKeyDictionary[CsmsServer, Gateway] = weakref.WeakKeyDictionary()
"""The gateway each server was attached to (:meth:`Gateway.attach`, before the server's
``on_startup`` hooks run): what ``ClusterClient.of(server)`` finds the cluster by."""


def gateway_of(server: CsmsServer) -> Gateway | None:
    """The gateway ``server`` is attached to (``serve(..., cluster=gateway)``, ``ocpp-fast
    serve --nats URL``), or ``None``."""
    return _ATTACHED.get(server)


WORKER_TIMEOUT = 10.0
"""Seconds a CALL forwarded to the workers waits for its answer, by default."""

STORE_TIMEOUT = 5.0
"""Seconds a durable CALL's store waits for JetStream's ack, by default (then the station gets
InternalError and sends the CALL again)."""

REGISTRY_TTL = 30.0
"""Seconds a gateway's registry lines outlive it, by default (rewritten every third of it)."""

WRITE_WINDOW = 0.02
"""Seconds a durable CALL's store waits to share its write to NATS, by default: at a moderate
rate (a few hundred messages a second a gateway) each store is otherwise a write and a
wake-up of its own, and its ack another, which made a gateway's CPU per message about 2.8x a
single process's; 20 ms brought it to about 1.8x (the performance page has the runs), each
durable CALL answered up to that much later, which its station does not notice (OCPP's
timeouts are tens of seconds). 0 writes every store at once."""

SETTLE_AT_CLOSE = 5.0
"""Seconds :meth:`Gateway.close` gives the registry to follow the stations' leaving (their
lines deleted) before it stops following."""

LOOPS_END = 5.0
"""Seconds :meth:`Gateway.close` waits for its loops and its routed calls' tasks to end once
cancelled (a routed call's tells its caller first)."""

REGISTRY_TIMEOUT = 5.0
"""Seconds a registry line written over the link waits for the bucket's ack (nats-py's
JetStream default, which the lines written through nats-py wait)."""


class Gateway:
    """Attaches a CSMS server to a cluster (pass it as ``serve(..., cluster=gateway)``).

    ``handlers_in``: ``"gateway"`` runs the server's own ``ChargeSystem`` here,
    ``"workers"`` forwards every CALL to ``ocpp-fast worker`` processes (the
    server's handlers then only say which versions are served, and lend their
    tolerance settings). ``durable`` maps version labels to the actions stored
    before answering (an empty mapping stores nothing).

    ``write_window``: seconds a durable CALL's store waits for others to share its write
    to NATS (:data:`WRITE_WINDOW` by default; 0: written at once while few requests wait).
    At a moderate rate each store is otherwise a write and a wake-up of its own, and its
    ack another: a window of a few tens of milliseconds gathers them (see the cluster page
    for what it saves), each durable CALL answered up to that much later. Nothing else
    waits: a routed call's outcome, a worker request or a registry line leaves at once,
    taking the stores the window holds with it.

    ``handler_first``: with handlers in the gateway, a durable CALL's handler runs as soon as
    its store is sent, not once the stream has it; its answer is still written only once the
    stream has the CALL (a station's CALLRESULT still means the event is stored), and a store
    that fails is still answered InternalError, but the handler has run for it by then (the
    station sends the CALL again: the handler sees it twice). A saturated gateway spent 4-24 %
    less CPU a message so, over the 2.0.1 mix (60 % of it durable), in five rounds (the
    request and the connection are handled while they are still in the cache; the
    performance page has the runs). Off by default: the default promises that a handler
    never sees a CALL the stream does not have.
    """

    def __init__(
        self,
        config: ClusterConfig | None = None,
        *,
        handlers_in: str = "gateway",
        durable: Mapping[str, frozenset[str]] = DEFAULT_DURABLE,
        worker_timeout: float = WORKER_TIMEOUT,
        store_timeout: float = STORE_TIMEOUT,
        registry_ttl: float = REGISTRY_TTL,
        duplicate_window: float = 120.0,
        node: str | None = None,
        write_window: float = WRITE_WINDOW,
        handler_first: bool = False,
    ) -> None:
        if handlers_in not in ("gateway", "workers"):
            raise ValueError(f"handlers_in is 'gateway' or 'workers', not {handlers_in!r}")
        if not write_window >= 0:  # NaN too
            raise ValueError(f"write_window is seconds, 0 or more, not {write_window!r}")
        self.config: ClusterConfig = config or ClusterConfig()
        self.names: Names = self.config.names
        self.forward_to_workers: bool = handlers_in == "workers"
        self.durable: dict[str, frozenset[str]] = dict(durable)
        self.handler_first = handler_first
        """Whether a durable CALL's handler runs as its store begins (see the class)."""
        self.registry_ttl = registry_ttl
        self.duplicate_window = duplicate_window
        self.node: str = node or node_name()
        """This gateway's name in the registry."""
        self.relay: Relay = Relay(
            self.names,
            self.node,
            store_timeout=store_timeout,
            worker_timeout=worker_timeout,
            write_window=write_window,
        )
        """What the served handlers store and forward through."""
        self._nc: Nats | None = None
        self._kv: KeyValue | None = None
        self._server: CsmsServer | None = None
        self._link: NatsLink | None = None
        """The relay's NATS link, when it has one: subscriptions and registry lines go over it."""
        self._routed_waiting = 0
        """Routed calls whose task runs (bounded by the server's ``Limits.routed_calls``)."""
        self.routed: dict[str, int] = tally(ROUTED_OUTCOMES)
        """Routed calls to stations held here, by how they ended (:data:`ROUTED_OUTCOMES`)."""
        self.registry_failures: dict[str, int] = tally(STORE_CAUSES)
        """Registry lines not written (a put, or the delete of a station that left), by cause
        (:data:`~ocpp_fast.cluster._tally.STORE_CAUSES`: the bucket is a stream, and fails as
        the events stream does). Each is retried by the loops, so the operator saw only
        WARNINGs, rate-limited: a registry that stopped following the stations (``stations()``
        missing some, routed calls finding them anyway) showed in no series."""
        self._subscriptions: dict[str, Subscription | int] = {}
        """The command subscription of each station held here (a sid on the link, or nats-py's)."""
        self._since: dict[str, datetime.datetime] = {}
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()
        self._back = asyncio.Event()
        """Set when NATS is back after a loss: the registry is written again at once."""
        self._settled = asyncio.Event()
        self._settled.set()  # no change seen yet: nothing to follow (a close need not wait)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loops: list[asyncio.Task[None]] = []
        self._closing: asyncio.Task[None] | None = None

    # --- what serve() calls -----------------------------------------------------------------

    def handlers_for(self, handlers: Mapping[str, OcppHandler]) -> dict[str, OcppHandler]:
        """The handlers the server serves: the user's, with durable actions stored first,
        or forwarding ones."""
        return {
            subprotocol: clustered(
                handler,
                self.relay,
                forward=self.forward_to_workers,
                durable=frozenset(self.durable.get(handler.version.label, ())),
                handler_first=self.handler_first,
            )
            for subprotocol, handler in handlers.items()
        }

    def measure(self, metrics: Metrics) -> None:
        """Expose this gateway's figures (stores, worker requests, routed calls, NATS) with
        ``metrics``' own, read when they are scraped (``serve()`` calls it when it keeps
        metrics: :mod:`ocpp_fast.cluster._exposition`). With the handlers in workers, the
        CALLs' times are the round trips to them: exposed as ``ocpp_cluster_forward_seconds``,
        not as ``ocpp_handler_seconds`` (the workers' handlers' own)."""
        from ocpp_fast.cluster._exposition import FORWARD_SERIES, GatewayFigures

        metrics.registry.register(GatewayFigures(self))
        if self.forward_to_workers:
            metrics.handler_series = FORWARD_SERIES

    @property
    def nats(self) -> Nats | None:
        """nats-py's connection, once made."""
        return self._nc

    @property
    def link(self) -> NatsLink | None:
        """The relay's NATS link, when it has one (else nats-py's connection carries all)."""
        return self._link

    @property
    def routed_waiting(self) -> int:
        """Routed calls waiting for their station now."""
        return self._routed_waiting

    async def connect(self) -> None:
        """Connect to NATS and make sure the stream and the registry exist: what every CALL
        of a station may need. ``serve()`` awaits it before the server listens, so that no
        station is accepted while NATS is still awaited (its durable CALLs, and with handlers
        in workers all of them, would be answered InternalError, and it would be dropped if
        NATS never came); :meth:`attach` does it when it was not done."""
        name = f"ocpp-gateway {self.node}"
        self._nc = nc = await self.config.connect(name, self._reconnected)
        js = nc.jetstream()
        await self.relay.attach(nc, self.config, name)
        if isinstance(self.relay.replies, NatsLink):
            self._link = self.relay.replies
            self._link.on_back.append(self._back.set)
        await self._jetstream_ready(js)
        self._kv = await self._ensure_registry(js)

    async def attach(self, server: CsmsServer) -> None:
        """Start following the server's stations (those already connected included),
        connected to NATS first if :meth:`connect` was not awaited."""
        if self._kv is None:
            await self.connect()
        self._server = server
        _ATTACHED[server] = self
        server.on_station.append(self.station_changed)
        server.on_closed.append(self._closed_by_server)
        for identity in server.connections:
            self.station_changed(identity)
        self._loops = [
            asyncio.create_task(self._reconcile()),
            asyncio.create_task(self._refresh()),
        ]

    async def _jetstream_ready(self, js: JetStreamContext) -> None:
        """Make the events stream, waiting while JetStream answers "unavailable" (a JetStream
        cluster electing its leader) up to the config's ``start_timeout``, then
        :class:`NoJetStream`. A nats-server started without ``-js`` answers so for good: it
        raised nats-py's ``ServiceUnavailableError: code=None err_code=None
        description='None'`` through ``ocpp-fast serve --nats``, a traceback where a failure
        to start is one line naming what to do. Said once at WARNING while it waits."""
        loop = asyncio.get_running_loop()
        timeout = self.config.start_timeout
        deadline = math.inf if timeout is None else loop.time() + timeout
        servers = shown_servers(self.config.servers)
        waiting = False
        while True:
            try:
                await self._ensure_stream(js)
                return
            except ServiceUnavailableError:
                if loop.time() >= deadline:
                    raise NoJetStream(
                        f"NATS at {servers} has no JetStream (its API did not answer within "
                        f"{timeout:g} s): start nats-server with -js, and -sd DIR for where the "
                        "events stream is kept (a gateway stores the durable actions in a "
                        "stream and the registry in a key-value bucket)"
                    ) from None
                if not waiting:
                    waiting = True
                    log.warning(
                        "ocpp-gateway %s: NATS at %s answers no JetStream request (started "
                        "without -js, or a cluster electing its leader); waiting for it",
                        self.node,
                        servers,
                    )
                await asyncio.sleep(_JETSTREAM_RETRY)

    async def _ensure_stream(self, js: JetStreamContext) -> None:
        config = api.StreamConfig(
            name=self.names.stream,
            subjects=[self.names.events()],
            storage=api.StorageType.FILE,
            duplicate_window=self.duplicate_window,
        )
        try:
            await js.add_stream(config)
        except BadRequestError:  # it exists with another config: keep the operator's
            await js.stream_info(self.names.stream)

    async def _ensure_registry(self, js: JetStreamContext) -> KeyValue:
        try:
            return await js.create_key_value(
                bucket=self.names.bucket,
                ttl=self.registry_ttl,
                history=1,
                storage=api.StorageType.MEMORY,
            )
        except BadRequestError:
            return await js.key_value(self.names.bucket)

    # --- stations coming and going ----------------------------------------------------------

    def station_changed(self, identity: str) -> None:
        """A station connected or left (the server's ``on_station`` callback)."""
        self._dirty.add(identity)
        self._settled.clear()
        self._wake.set()

    async def settled(self, timeout: float) -> None:
        """Wait until subscriptions and registry follow every change seen so far (a cancel as
        they came is kept: :func:`~ocpp_fast._awaited.within`)."""
        await within(self._settled.wait(), timeout)

    async def holds(self, identity: str, timeout: float) -> None:
        """Wait until ``identity`` is connected here, subscribed and in the registry."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while identity not in self._subscriptions or identity in self._dirty:
            if loop.time() > deadline:
                raise TimeoutError(f"{identity} is not held by {self.node}")
            await asyncio.sleep(0.01)
        await self.settled(max(0.0, deadline - loop.time()))

    async def _reconcile(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            # within: close() cancels this loop, and nats-py's own waits can drop the cancel
            # (3.11's wait_for as a reply comes; its flush swallows one while its queue is
            # full): the loop went on, and waited on _wake for good after the close
            await within(self._follow_changes(), None)

    async def _follow_changes(self) -> None:
        """One round of :meth:`_reconcile`: subscriptions and registry follow the stations
        whose state changed since the last."""
        dirty, self._dirty = self._dirty, set()
        writes = []
        for identity in dirty:
            try:
                writes.append(await self._follow(identity))
            except Exception as exc:  # NATS away: try again in a second
                nats_failures.warning(
                    "following a station",
                    "%s: cluster: following it failed: %r",
                    identity,
                    exc,
                    extra={"identity": identity},
                )
                self._dirty.add(identity)
                self._later_wake(1.0)
        await _in_batches(writes)
        if not self._dirty:
            self._settled.set()

    def _later_wake(self, delay: float) -> None:
        asyncio.get_running_loop().call_later(delay, self._wake.set)

    async def _follow(self, identity: str) -> Any:
        """Subscribe or unsubscribe ``identity`` now; return the registry write to make."""
        assert self._server is not None and self._nc is not None
        live = self._server.connections.get(identity)
        subscription = self._subscriptions.get(identity)
        if live is not None:
            if subscription is None:
                subject = self.names.command(identity)
                if self._link is not None:
                    self._subscriptions[identity] = self._link.subscribe(
                        subject, self._delivered_callback(identity)
                    )
                else:
                    self._subscriptions[identity] = await self._nc.subscribe(
                        subject, cb=self._command_callback(identity)
                    )
                self._since[identity] = datetime.datetime.now(datetime.UTC)
            return self._register(identity, live.handler.version.label)
        if subscription is not None:
            del self._subscriptions[identity]
            self._since.pop(identity, None)
            if isinstance(subscription, int):
                assert self._link is not None
                self._link.unsubscribe(subscription)
            else:
                await _quietly(subscription.unsubscribe())
            return self._unregister(identity)
        return _nothing()

    def _line(self, identity: str, label: str) -> tuple[str, bytes]:
        """The key and value of ``identity``'s registry line."""
        since = self._since.get(identity) or datetime.datetime.now(datetime.UTC)
        entry = StationEntry(node=self.node, version=label, since=since)
        return encode_identity(identity), _encode(entry)

    async def _register(self, identity: str, label: str) -> bool:
        assert self._kv is not None
        key, value = self._line(identity, label)
        if self._link is None:
            return await self._registry_write(self._kv.put(key, value))
        return await self._put_over_link([(key, value)])

    async def _registry_write(self, work: Any) -> bool:
        """:func:`_quietly` for a registry write, a failure counted in
        :attr:`registry_failures`."""
        try:
            await work
        except Exception as exc:
            self._registry_failed(exc)
            return False
        return True

    def _registry_failed(self, exc: BaseException, lines: int = 1) -> None:
        """``lines`` registry lines not written, for ``exc``: counted, logged (the loops
        retry them)."""
        self.registry_failures[store_cause(exc)] += lines
        _failed(exc)

    async def _put_over_link(self, lines: list[tuple[str, bytes]]) -> bool:
        """Registry lines as ``KeyValue.put`` writes them (a JetStream publish to the bucket's
        subject for each key, acknowledged by its stream), over the link, awaited together:
        the link's futures, no task or coroutine of a line's own (the refresh rewrites every
        line every third of the TTL, a station's share of which cost a task and four
        coroutines); whether all were written (why not is logged)."""
        link = self._link
        assert link is not None
        sent: list[tuple[str, asyncio.Future[Any]]] = []
        written = True
        for key, value in lines:
            try:
                future = link.request(f"$KV.{self.names.bucket}.{key}", value, REGISTRY_TIMEOUT)
            except ConnectionError as exc:  # NATS away: those sent fail with it
                self._registry_failed(exc, len(lines) - len(sent))  # this one and the rest
                written = False
                break
            sent.append((key, future))
        replies = await asyncio.gather(*(future for _, future in sent), return_exceptions=True)
        for (key, _), reply in zip(sent, replies, strict=True):
            if isinstance(reply, BaseException):  # a cancelled future's line too
                self._registry_failed(reply)
                written = False
                continue
            try:
                take_ack(reply, f"the registry refused {key}")
            except Exception as exc:
                self._registry_failed(exc)
                written = False
        return written

    async def _unregister(self, identity: str) -> None:
        """Delete the station's line, unless another node wrote it since (it reconnected there)."""
        assert self._kv is not None
        key = encode_identity(identity)
        try:
            entry = await self._kv.get(key)
        except KeyNotFoundError:
            return
        except Exception as exc:
            self.registry_failures[store_cause(exc)] += 1  # its line stays until it expires
            nats_failures.warning("registry read", "registry: reading %s failed: %r", key, exc)
            return
        if entry.value and _entry_decoder.decode(entry.value).node == self.node:
            await self._registry_write(self._kv.delete(key, last=entry.revision))

    async def _reconnected(self) -> None:
        self._back.set()

    async def _refresh(self) -> None:
        """Write every station's line again before the bucket's max age drops it, and at
        once when NATS is back after a loss.

        A restarted nats-server has neither the bucket (it lives in memory) nor, if its
        storage went with it, the events stream: they are made again, then every line is
        written in the same round, so ``stations()`` is complete again within one refresh
        interval of NATS coming back (it took two: the first remade the bucket only).
        """
        while True:
            # within: close() cancels this loop; a cancel dropped as NATS came back (3.11's
            # wait_for), or inside nats-py's own waits while the round runs, left it
            # rewriting the registry on a closed connection for good
            with contextlib.suppress(TimeoutError):
                await within(self._back.wait(), self.registry_ttl / 3)
            back = self._back.is_set()
            self._back.clear()
            await within(self._refresh_round(back), None)
            # the count of the lines a storm held back (no worker, NATS away) is said here,
            # once its minute ended: said only by the kind's next line, it never came when
            # the storm had stopped, and 10 lines stood for any number of failed CALLs
            nats_failures.flush()

    async def _refresh_round(self, back: bool) -> None:
        """One round of :meth:`_refresh` (``back``: NATS is back after a loss)."""
        if back:
            await self._remake()
        if not await self._write_lines() and not back:
            await self._remake()
            await self._write_lines()

    async def _remake(self) -> None:
        """Make the events stream and the registry bucket again where they are gone."""
        assert self._nc is not None
        js = self._nc.jetstream()
        try:
            await self._ensure_stream(js)
            self._kv = await self._ensure_registry(js)
        except Exception as exc:  # NATS away again: the next round tries again
            nats_failures.warning(
                "remaking", "cluster: making the stream and registry again failed: %r", exc
            )

    async def _write_lines(self) -> bool:
        """Write the registry line of every station held here; whether all were written."""
        assert self._server is not None
        live = self._server.connections
        held = [
            (identity, live[identity].handler.version.label)
            for identity in list(self._subscriptions)
            if identity in live
        ]
        if self._link is None:
            return all(await _in_batches([self._register(*line) for line in held]))
        written = True
        for start in range(0, len(held), _BATCH):
            batch = [self._line(*line) for line in held[start : start + _BATCH]]
            written = await self._put_over_link(batch) and written
        return written

    # --- routed CALLs to our stations -------------------------------------------------------

    def _command_callback(self, identity: str) -> Any:
        """nats-py's subscription callback (where the gateway has no link)."""

        async def received(msg: Msg) -> None:
            # A task per CALL: each has its own timeout while the connection queues them.
            refused = self._refused(identity)
            if refused is None:
                self._spawn_routed(self._routed(identity, msg))
            else:
                await _quietly(msg.respond(_encode(refused)))

        return received

    async def _routed(self, identity: str, msg: Msg) -> None:
        try:
            outcome = await self._call_station(identity, msg.data)
        except asyncio.CancelledError:
            await _quietly(msg.respond(_encode(self._closing_outcome(identity))))
            raise
        await _quietly(msg.respond(_encode(outcome)))

    def _closing_outcome(self, identity: str) -> Outcome:
        """What a routed call still waiting as the gateway closes answers its caller (rather
        than nothing, the caller waiting out its timeout): the station is going with it."""
        self.routed["disconnected"] += 1
        return Outcome(
            failure="disconnected",
            description=f"{identity}'s gateway {self.node} closed while the call waited",
        )

    def _delivered_callback(self, identity: str) -> Delivered:
        """The link's subscription callback: called from its ``data_received``, it only starts
        the call's task (each has its own timeout while the connection queues them)."""

        def delivered(data: bytes, reply: bytes) -> None:
            refused = self._refused(identity)
            if refused is None:
                self._spawn_routed(self._routed_over_link(identity, data, reply))
            elif reply and self._link is not None:
                self._link.publish(reply, _encode(refused))

        return delivered

    def _refused(self, identity: str) -> Outcome | None:
        """The answer of a routed call refused at once: ``Limits.routed_calls`` wait already."""
        assert self._server is not None
        limit = self._server.limits.routed_calls
        if self._routed_waiting < limit:
            return None
        self.routed["refused"] += 1
        nats_failures.warning(
            "routed calls refused",
            "%s: a routed call refused: %d wait already (Limits.routed_calls)",
            identity,
            limit,
            extra={"identity": identity},
        )
        return Outcome(
            failure="busy",
            description=f"the gateway {self.node} has {limit} routed calls waiting, its limit",
        )

    def _spawn_routed(self, work: Coroutine[Any, Any, None]) -> None:
        """A routed call's task, counted while it waits for its station."""
        self._routed_waiting += 1
        self._spawn(work, self._routed_done)

    def _routed_done(self, task: asyncio.Task[None]) -> None:
        self._routed_waiting -= 1

    async def _routed_over_link(self, identity: str, data: bytes, reply: bytes) -> None:
        try:
            outcome = await self._call_station(identity, data)
        except asyncio.CancelledError:
            if reply and self._link is not None:
                self._link.publish(reply, _encode(self._closing_outcome(identity)))
            raise
        if reply and self._link is not None and not self._link.publish(reply, _encode(outcome)):
            nats_failures.warning(
                "routed outcome lost",
                "%s: the outcome of a routed call was not sent: the NATS link is down",
                identity,
                extra={"identity": identity},
            )

    async def _call_station(self, identity: str, data: bytes) -> Outcome:
        """The outcome of a routed call to ``identity``, counted in :attr:`routed`."""
        outcome = await self._station_answer(identity, data)
        label = routed_outcome(outcome)
        self.routed[label] = self.routed.get(label, 0) + 1
        return outcome

    async def _station_answer(self, identity: str, data: bytes) -> Outcome:
        assert self._server is not None
        connection = self._server.connections.get(identity)
        if connection is None:
            return Outcome(failure="disconnected", description=f"{identity} is not connected")
        version = connection.handler.version
        try:
            routed = _routed_decoder.decode(data)
            if routed.close_code:
                return await self._disconnect(identity, routed)
            if routed.version != version.label:
                return Outcome(
                    failure="version", description=_other_version(identity, version, routed)
                )
            request = version.request_decoders[routed.action].decode(routed.payload)
            response = await connection.call(request, timeout=routed.timeout)
        except errors.OcppError as exc:
            return error_outcome(exc, version)
        except TimeoutError:
            return Outcome(failure="timeout", description=f"{identity} did not answer in time")
        except ConnectionError as exc:
            return Outcome(failure="disconnected", description=str(exc))
        except Exception as exc:
            ConnectionLog(log, identity).exception("routed call failed")
            return error_outcome(
                errors.InternalError(f"routing failed: {type(exc).__name__}"), version
            )
        return Outcome(result=msgspec.Raw(_encode(response)))

    async def _disconnect(self, identity: str, routed: RoutedCall) -> Outcome:
        """A ``ClusterClient.disconnect``: the station's connection closed as
        ``CsmsServer.disconnect`` closes it; the empty outcome once it is gone."""
        assert self._server is not None
        try:
            await self._server.disconnect(
                identity, routed.close_code, routed.close_reason, routed.timeout
            )
        except errors.StationNotConnected:
            return Outcome(failure="disconnected", description=f"{identity} is not connected")
        except TimeoutError:
            return Outcome(
                failure="timeout", description=f"{identity}'s session did not end in time"
            )
        except ValueError as exc:  # a code or reason the client's own check lets through none
            return Outcome(code="GenericError", description=str(exc))
        return Outcome()

    # --- the end ----------------------------------------------------------------------------

    def _spawn(
        self,
        work: Coroutine[Any, Any, None],
        done: Callable[[asyncio.Task[None]], None] | None = None,
    ) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if done is not None:
            task.add_done_callback(done)

    def not_ready(self) -> str | None:
        """Why this gateway cannot serve stations now (``/readyz`` says it), or ``None``.

        Ready is whether the connection carrying what a station's CALLs and the routed calls
        need (stores, worker requests, command subscriptions, registry lines) is up: the
        gateway's own link where it has one, else nats-py's. With the link, nats-py's
        connection carries only the registry's upkeep (deleting the line of a station that
        left, which then expires after ``registry_ttl``; making the stream and the bucket
        again after NATS lost them): while it reconnects the gateway stays ready; closed for
        good (its ``max_reconnect_attempts`` used up) it never comes back, so the gateway is
        not ready, for its orchestrator to restart it, although stations are still served.
        """
        nc = self._nc
        if nc is None:
            return "not connected to NATS yet"
        if nc.is_connected:
            nats_py = None
        elif nc.is_reconnecting:
            nats_py = f"lost ({shown_servers(self.config.servers)}), reconnecting"
        else:
            nats_py = "closed"
        if self._link is None:  # nats-py's carries everything
            if nats_py is None:
                return None
            return f"the NATS connection for stores, requests and routed calls is {nats_py}"
        link = self._link.not_ready()
        if nats_py == "closed":
            upkeep = "nats-py's connection (the registry's upkeep) is closed and will not reconnect"
            return upkeep if link is None else f"{link}; {upkeep}"
        if link is None or nats_py is None:
            return link
        return f"{link}; nats-py's connection (the registry's upkeep) is {nats_py} too"

    def _closed_by_server(self) -> None:
        """Start leaving the cluster, once (the server's ``on_closed`` callback)."""
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._close())

    async def close(self) -> None:
        """Leave the cluster: the stations' lines out of the registry, NATS drained.

        Called by the server's ``close()`` too; awaiting it again is harmless.
        """
        self._closed_by_server()
        assert self._closing is not None
        await asyncio.shield(self._closing)

    async def _close(self) -> None:
        if self._server is not None:
            for identity in list(self._subscriptions):
                self.station_changed(identity)
            with contextlib.suppress(TimeoutError):
                await self.settled(SETTLE_AT_CLOSE)
        for loop in self._loops:
            loop.cancel()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()  # a routed call's tells its caller the gateway closed
        if self._loops or tasks:
            # ended before NATS is closed under them: a round in nats-py's waits ends as
            # they return (bounded by their own timeouts, as is this wait)
            await asyncio.wait([*self._loops, *tasks], timeout=LOOPS_END)
        await self.relay.close()
        nats_failures.flush(everything=True)  # what the last minute held back, said
        if self._nc is not None:
            # Plain wait_for: a cancel it drops (3.11) lets only the close below run, the
            # close's own last step.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._nc.drain(), 5.0)
            await _quietly(self._nc.close())


async def _in_batches(writes: list[Any]) -> list[Any]:
    """Await ``writes`` (registry puts and deletes), ``_BATCH`` at a time; their results."""
    done: list[Any] = []
    for start in range(0, len(writes), _BATCH):
        done += await asyncio.gather(*writes[start : start + _BATCH])
    return done


async def _nothing() -> None:
    return None


async def _quietly(work: Any) -> bool:
    """Await ``work``, logging instead of raising (NATS being away is retried by the loops);
    whether it succeeded."""
    try:
        await work
    except Exception as exc:
        _failed(exc)
        return False
    return True


def _failed(exc: BaseException) -> None:
    """Log a NATS operation that failed (the loops retry it)."""
    nats_failures.warning(type(exc).__name__, "cluster: %r", exc)


def _other_version(identity: str, version: ProtocolVersion, routed: RoutedCall) -> str:
    """Why a routed call of another OCPP version than its station's is refused, and what to
    build instead: it said only ``CS001 speaks OCPP 1.6, not 2.0.1``, where a connection's own
    ``call()`` names the module (the classes of every version share their names)."""
    refused = f"{identity} speaks OCPP {version.label}, not {routed.version}"
    if routed.action in version.side_tables(Sender.CSMS)[0].values():
        return f"{refused}: build the {routed.action}Request from {version.messages_module}"
    return (
        f"{refused}, and OCPP {version.label} has no {routed.action} a CSMS sends "
        f"(its requests are in {version.messages_module})"
    )
