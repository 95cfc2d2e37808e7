"""Calling a station from any process of a cluster: :class:`ClusterClient`.

``await client.call("CS001", messages.ResetRequest(...))`` publishes the CALL
on the station's command subject; only the gateway holding the station
subscribes to it, so NATS delivers it there (or, with no subscriber, answers
"no responders" at once: :class:`StationNotConnected`, no timeout to wait out).
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, cast

import msgspec
from nats.errors import Error as NatsError
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from nats.js import api
from nats.js.errors import NotFoundError, ServiceUnavailableError

from ocpp_fast._actions import Sender
from ocpp_fast._awaited import within
from ocpp_fast._model import Request, ResponseT, SendRequest, SentByCsms
from ocpp_fast._outgoing import encode_checked_payload
from ocpp_fast._protocol_version import LABELS, ProtocolVersion
from ocpp_fast.aio import DEFAULT_TIMEOUT
from ocpp_fast.cluster._tally import ROUTED_OUTCOMES, routed_outcome, tally
from ocpp_fast.cluster.config import (
    NATS_START_TIMEOUT,
    ClusterConfig,
    NatsUnreachable,
    NoJetStream,
    node_name,
    shown_servers,
)
from ocpp_fast.cluster.gateway import gateway_of
from ocpp_fast.cluster.subjects import Names, decode_identity, encode_identity
from ocpp_fast.cluster.wire import Outcome, RoutedCall, decode_outcome, raise_error, response_of
from ocpp_fast.errors import StationNotConnected, TooManyRoutedCalls
from ocpp_fast.stations import StationEntry
from ocpp_fast.tolerance import Tolerance
from ocpp_fast.transport._lifecycle import check_close

if TYPE_CHECKING:
    from nats.aio.client import Client as Nats

    from ocpp_fast.transport._stations import CsmsServer

__all__ = ["ClusterClient", "RoutedPeer", "StationNotConnected", "TooManyRoutedCalls"]

_encode = msgspec.json.Encoder().encode
_entry_decoder = msgspec.json.Decoder(StationEntry)
_KV_OPERATION = "KV-Operation"
"""The header of a KV delete or purge marker (a value has none)."""
_MARKER = "Nats-Marker-Reason"
"""The header of a marker the server itself writes (nats-server 2.11+: an expired key)."""
_MARGIN = 2.0
"""Seconds the NATS request waits beyond the CALL's own timeout, for the node's answer
that the station timed out to come back (rather than a bare NATS timeout)."""


_CALLABLE: dict[type[Any], tuple[ProtocolVersion, str]] = {}


def _unreachable(identity: str, waited: float, config: ClusterConfig) -> str:
    """Why a routed call made while the client's NATS connection was down got no answer:
    "no answer from the node holding" it blamed a gateway the call may never have reached."""
    return (
        f"no answer for {identity} within {waited:g} s: this client's NATS connection to "
        f"{shown_servers(config.servers)} is down, reconnecting (the call waited for it)"
    )


def _action_of(request: Any) -> tuple[ProtocolVersion, str]:
    """The version and action of a request the CSMS may send (any version's Struct); only the
    request's own version package is loaded."""
    kind = type(request)
    found = _CALLABLE.get(kind)
    if found is None:
        package = kind.__module__.rpartition(".")[0]
        if package in LABELS.values():
            version: ProtocolVersion = importlib.import_module(package).VERSION
            for sendable, action in version.side_tables(Sender.CSMS)[0].items():
                _CALLABLE[sendable] = (version, action)
        found = _CALLABLE.get(kind)
    if found is None:
        raise TypeError(f"{kind.__name__} is no request a CSMS sends")
    return found


class ClusterClient:
    """Routed CALLs to stations wherever they are connected, and the registry of who is where.

    ``async with ClusterClient("nats://127.0.0.1:4222") as client:`` or
    ``await client.connect()`` / ``await client.close()``. Pass a
    :class:`ClusterConfig` for another prefix, credentials or TLS.

    NATS not reached within ``start_timeout`` seconds (:data:`NATS_START_TIMEOUT`, as the
    commands wait) makes :meth:`connect` raise :class:`NatsUnreachable`, naming the servers,
    the last error and what to check; ``None`` waits for good. A ``ClusterConfig`` that sets
    its own ``start_timeout`` keeps it. An admin script pointed at a wrong URL hung with
    nothing said (the config's default, ``None``, which a long-running gateway may want).
    """

    def __init__(
        self,
        servers: str | Sequence[str] | ClusterConfig = "nats://127.0.0.1:4222",
        *,
        name: str | None = None,
        start_timeout: float | None = NATS_START_TIMEOUT,
    ):
        config = servers if isinstance(servers, ClusterConfig) else ClusterConfig(servers)
        if config.start_timeout is None:
            config = dataclasses.replace(config, start_timeout=start_timeout)
        self.config = config
        self.names: Names = self.config.names
        self.name: str = name or f"ocpp-client {node_name()}"
        """The connection's name in NATS's views (``nats server report connections``) and in
        this process's log lines about NATS."""
        self._nc: Nats | None = None
        self.calls: dict[str, int] = tally(ROUTED_OUTCOMES)
        """The calls made through this client, by how they ended, with the labels of the
        gateway's ``ocpp_cluster_routed_calls_total``
        (:data:`~ocpp_fast.cluster._tally.ROUTED_OUTCOMES`): ``answered``, ``callerror``,
        ``timeout``, ``disconnected``, ``version``, ``refused``, ``closed`` (a
        :meth:`disconnect` done). The gateways count the
        calls that reached them; only the caller sees those that reached none (the station
        connected nowhere: ``disconnected``; no gateway answered in time: ``timeout``). A
        worker exposes its own as ``ocpp_cluster_worker_routed_calls_total``; a process of
        yours reads them here. A call ended otherwise (NATS closed under it, a request of
        the wrong type) is not counted."""

    @classmethod
    def of(
        cls,
        server: CsmsServer,
        *,
        name: str | None = None,
        start_timeout: float | None = NATS_START_TIMEOUT,
    ) -> ClusterClient:
        """A client of the cluster ``server`` is a gateway of, by the gateway's own
        :class:`ClusterConfig` (its NATS URL, prefix, credentials and TLS: under ``ocpp-fast
        serve --nats URL``, what the flags said): for an admin API or a task that your
        class's ``on_startup(server)`` starts beside the gateway, and that calls stations
        wherever they are connected. Not connected yet: ``async with`` it, or ``await
        client.connect()`` and ``await client.close()`` in ``on_shutdown``. ``ValueError`` for
        a server that is no gateway (served without ``--nats``, or ``serve()`` without
        ``cluster=``): its own ``server.call`` reaches every station it has."""
        gateway = gateway_of(server)
        if gateway is None:
            raise ValueError(
                "this server is no cluster gateway (served without --nats, or serve() without "
                "cluster=): call its stations with server.call(identity, request)"
            )
        return cls(gateway.config, name=name, start_timeout=start_timeout)

    async def connect(self) -> ClusterClient:
        """Connect to NATS (once); :class:`NatsUnreachable` after ``start_timeout``."""
        try:
            await self._join()
        except NatsUnreachable as exc:
            raise NatsUnreachable(
                f"{exc}. Is NATS running there, and is it the cluster's URL (the gateways' "
                "--nats)? ClusterClient(..., start_timeout=SECONDS) waits longer, None for good"
            ) from None
        return self

    async def _join(self) -> None:
        """:meth:`connect` without its advice to a client's caller: a worker's start
        (:class:`~ocpp_fast.cluster.worker.Worker`) fails with the bare
        :class:`NatsUnreachable`, since its command names a flag of its own."""
        if self._nc is None:
            self._nc = await self.config.connect(self.name)

    async def __aenter__(self) -> ClusterClient:
        return await self.connect()

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._nc is not None:
            nc, self._nc = self._nc, None
            with contextlib.suppress(Exception):
                await nc.close()

    @property
    def nats(self) -> Nats:
        """The NATS connection (for a backend that also consumes the events stream)."""
        if self._nc is None:
            raise RuntimeError("the client is not connected: await client.connect() first")
        return self._nc

    @property
    def connection(self) -> Nats | None:
        """The NATS connection while there is one (``None`` before :meth:`connect` and after
        :meth:`close`): for what only looks at it, as ``/metrics`` does, where :attr:`nats`
        would raise."""
        return self._nc

    async def call(
        self, identity: str, request: SentByCsms[ResponseT], timeout: float = DEFAULT_TIMEOUT
    ) -> ResponseT:
        """Send ``request`` as a CALL to the station ``identity``; its typed response.

        Raises the station's error as the :class:`~ocpp_fast.errors.OcppError`
        class of its code, :class:`StationNotConnected` at once when no node
        holds the station (or it left during the call), ``TimeoutError`` when it
        did not answer within ``timeout``, :class:`TooManyRoutedCalls` at once when the
        gateway holding it has ``Limits.routed_calls`` waiting already, ``ValueError`` when the
        station speaks another version than the request's module (``<identity> speaks OCPP 1.6,
        not 2.0.1: build the UnlockConnectorRequest from ocpp_fast.v16.messages``, as a
        connection's own ``call`` names the module). The request is checked against its schema
        here, before it travels.
        """
        version, action = _action_of(request)
        payload = encode_checked_payload(request, action, version, response=False)
        routed = RoutedCall(
            action=action, version=version.label, payload=msgspec.Raw(payload), timeout=timeout
        )
        outcome = await self._routed(identity, routed)
        if outcome.failure:
            raise ValueError(outcome.description)
        response: ResponseT = response_of(outcome, version, action)
        return response

    async def disconnect(
        self, identity: str, code: int = 1000, reason: str = "", timeout: float = 30.0
    ) -> None:
        """Close the connection of the station ``identity`` wherever it is connected, as
        ``CsmsServer.disconnect`` closes it in one process (close ``code`` and ``reason``;
        returns once its session ended on its gateway, ``on_disconnect`` run): to make it
        connect again, to another gateway or with new credentials, or to stop serving it.

        Raises :class:`StationNotConnected` when no node holds it, ``TimeoutError`` when
        its session did not end within ``timeout`` seconds, ``ValueError`` (here, before
        anything travels) for a code a server may not send or a reason over 123 bytes.
        Gateways of a release before this method answer it ``ValueError`` ("speaks OCPP
        ..., not "): upgrade them first."""
        check_close(code, reason)
        routed = RoutedCall(
            action="",
            version="",
            payload=msgspec.Raw(b"null"),
            timeout=timeout,
            close_code=code,
            close_reason=reason,
        )
        outcome = await self._routed(identity, routed)
        raise_error(outcome)
        if outcome.failure:
            raise ValueError(outcome.description)

    async def _routed(self, identity: str, routed: RoutedCall) -> Outcome:
        """Send ``routed`` to the node holding ``identity``: its :class:`Outcome`, counted in
        :attr:`calls`; the failures every routed request shares raised (the station connected
        nowhere or gone, no answer in time, the gateway's routed calls at their limit)."""
        nc = self.nats
        down = not nc.is_connected  # the request waits in nats-py for the reconnect
        request_sent = nc.request(
            self.names.command(identity), _encode(routed), timeout=routed.timeout + _MARGIN
        )
        try:
            # nats-py waits with asyncio.wait_for, which on 3.11 returns a reply that came as
            # the caller was cancelled and drops the cancel: within keeps it (no bound of its own)
            reply = await within(request_sent, None)
        except NoRespondersError:
            self.calls["disconnected"] += 1
            said = f"{identity} is not connected to the cluster"
            stale = await self._stale_line(identity)
            if stale is not None:
                since = stale.since.isoformat(timespec="seconds")
                said += (
                    f"; the registry still lists it on {stale.node} (since {since}), which "
                    "holds it no more: the line of a gateway that died stays until the "
                    "registry's TTL drops it"
                )
            raise StationNotConnected(identity, said) from None
        except NatsTimeout:
            self.calls["timeout"] += 1
            if down or not nc.is_connected:  # it may never have left: say so, not the node
                waited = routed.timeout + _MARGIN
                raise TimeoutError(_unreachable(identity, waited, self.config)) from None
            raise TimeoutError(f"no answer from the node holding {identity}") from None
        outcome = decode_outcome(reply.data)
        label = routed_outcome(outcome)
        self.calls[label] = self.calls.get(label, 0) + 1
        if outcome.failure == "disconnected":
            raise StationNotConnected(identity, outcome.description)
        if outcome.failure == "timeout":
            raise TimeoutError(outcome.description)
        if outcome.failure == "busy":
            raise TooManyRoutedCalls(identity, outcome.description)
        return outcome

    async def _stale_line(self, identity: str) -> StationEntry | None:
        """The registry's line of ``identity``, read when no gateway answered for the station:
        a line there names a gateway that holds it no more (one killed keeps its lines until
        the registry's TTL drops them, 30 s by default), and :meth:`stations` still lists the
        station, which a bare "not connected" contradicted to an operator reading both.

        ``None`` for no line, a deleted one (the station left), or a registry not read within
        a second: the error is then the plain one, not later than that. Read only on this
        error path, so a call that reaches its station costs nothing more."""
        bucket = self.names.bucket
        subject = f"$KV.{bucket}.{encode_identity(identity)}"
        try:
            line = await within(self.nats.jsm().get_last_msg(f"KV_{bucket}", subject), 1.0)
            headers = line.headers or {}
            if not line.data or _KV_OPERATION in headers or _MARKER in headers:
                return None
            return _entry_decoder.decode(line.data)
        except (NatsError, TimeoutError, msgspec.DecodeError):
            return None

    async def stations(self, timeout: float = 10.0) -> dict[str, StationEntry]:
        """Every station connected to the cluster, with the node holding it (the registry).

        A node that died keeps its stations listed until the registry's TTL drops them.
        Read with a pull consumer of the bucket's stream, last entry per key, until the
        server says none is left: nats-py's KV watcher may signal "no more" before it
        delivered entries already on their way, and then lists nothing.
        """
        # within: nats-py's reads wait with asyncio.wait_for, which on 3.11 returns a batch
        # that came as the caller was cancelled and drops the cancel (the caller went on with
        # the list); kept, it is raised once the reading stopped
        return await within(self._read_registry(timeout), None)

    async def _read_registry(self, timeout: float) -> dict[str, StationEntry]:
        bucket = self.names.bucket
        prefix = f"$KV.{bucket}."
        try:
            subscription = await self.nats.jetstream().pull_subscribe(
                prefix + ">",
                stream=f"KV_{bucket}",
                config=api.ConsumerConfig(
                    deliver_policy=api.DeliverPolicy.LAST_PER_SUBJECT,
                    # no acks: with the default (explicit, at most 1,000 unacknowledged)
                    # delivery stopped at the 1,000th line and the rest of a larger fleet
                    # waited for a timeout
                    ack_policy=api.AckPolicy.NONE,
                    inactive_threshold=timeout * 3,
                    mem_storage=True,
                ),
            )
        except NotFoundError:
            # no bucket: no gateway made it yet (an admin API started before them, a NATS
            # restarted without storage), so no station is connected; this raised nats-py's
            # "stream not found", which says nothing of stations
            return {}
        except ServiceUnavailableError:
            # no JetStream answered: nats-py's "ServiceUnavailableError: code=None
            # err_code=None description='None'" named nothing an operator could act on
            raise NoJetStream(
                f"NATS at {shown_servers(self.config.servers)} has no JetStream, where the "
                "cluster keeps its registry of stations: the gateways' NATS runs with -js, so "
                "this is likely another server than theirs (their --nats URL)"
            ) from None
        found: dict[str, StationEntry] = {}
        try:
            # What is pending now is the last line of every key: read that many and stop.
            # Gateways rewrite every line each third of the TTL, so the consumer keeps getting
            # new entries behind them; following those, a large fleet was listed only once the
            # reading outran the rewriting (minutes, with 3,000 stations on a busy machine).
            left = (await subscription.consumer_info()).num_pending or 0
            while left > 0:
                try:
                    batch = await subscription.fetch(min(left, 1000), timeout=timeout)
                except NatsTimeout:  # entries expired since we asked: what is left is gone
                    break
                for msg in batch:
                    left = min(left - 1, msg.metadata.num_pending)
                    headers = msg.headers or {}
                    if msg.data and _KV_OPERATION not in headers and _MARKER not in headers:
                        identity = decode_identity(msg.subject[len(prefix) :])
                        found[identity] = _entry_decoder.decode(msg.data)
        finally:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()
        return found


class RoutedPeer:
    """A worker's stand-in for the station's connection: ``context.connection.call(...)``
    goes through the cluster to wherever the station is; ``identity`` and ``version`` are
    the station's, as the gateway forwarded its CALL."""

    def __init__(self, client: ClusterClient, identity: str, version: ProtocolVersion) -> None:
        self._client = client
        self.identity = identity
        """The station's identity."""
        self.version = version
        """The version the station speaks (the gateway forwarded its CALL in it)."""

    async def call(
        self, request: Request[ResponseT], timeout: float = DEFAULT_TIMEOUT
    ) -> ResponseT:
        # Typed as every PeerConnection's call (a handler's connection serves both sides);
        # the cluster routes only what a CSMS sends, and refuses the rest with a TypeError.
        sent = cast("SentByCsms[ResponseT]", request)
        return await self._client.call(self.identity, sent, timeout)

    async def send(self, request: SendRequest) -> None:
        raise NotImplementedError("SEND frames are not routed through the cluster")

    def set_tolerance(self, policy: Tolerance) -> None:
        raise NotImplementedError(
            "a worker cannot change a gateway's tolerance: set it on the gateway's handler"
        )
