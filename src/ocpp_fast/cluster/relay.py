"""What the handlers a gateway serves do beyond the user's code: store a durable CALL in the
events stream, and hand a CALL to a worker.

Kept apart from :mod:`ocpp_fast.cluster.gateway` (which follows the stations) so that
the generated handler methods (:mod:`ocpp_fast.cluster._handlers`) depend on this
small piece only.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, cast

import msgspec
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from ocpp_fast import errors
from ocpp_fast._codec_py import _HEAD
from ocpp_fast._model import OcppStruct
from ocpp_fast._protocol_version import ProtocolVersion
from ocpp_fast.aio import AsyncConnection
from ocpp_fast.cluster import _link_bytes, _link_bytes_py
from ocpp_fast.cluster._link_bytes_py import Ack, dedup_heads, dedup_key
from ocpp_fast.cluster._nats_link import NatsLink, unspoken
from ocpp_fast.cluster._replies import Replies, Reply, Requests
from ocpp_fast.cluster._tally import FORWARD_CAUSES, STORE_CAUSES, store_cause, tally
from ocpp_fast.cluster.config import ClusterConfig, nats_failures
from ocpp_fast.cluster.subjects import Names
from ocpp_fast.cluster.wire import WorkRequest, decode_outcome, response_of
from ocpp_fast.dispatch import CallContext
from ocpp_fast.protocol import AlreadyLogged

if TYPE_CHECKING:
    from nats.aio.client import Client as Nats

__all__ = ["Relay", "dedup_id", "station_payload", "take_ack"]

log: logging.Logger = logging.getLogger("ocpp_fast.cluster")

_encode = msgspec.json.Encoder().encode
_WHITESPACE = b" \t\n\r"
NO_WORKER_WAITS = (0.05, 0.1, 0.2)
"""Seconds waited before asking the workers again after NATS said none listens."""


def dedup_id(identity: str, action: str, request: OcppStruct | None, payload: bytes) -> str:
    """The ``Nats-Msg-Id`` of a durable CALL: the same message sent again has the same id.

    A 2.x TransactionEvent is the event ``(transactionId, seqNo)`` of its
    station, whatever its message id (a station resends with a new id after a
    reconnect); anything else is its station, action and exact payload. The
    stream drops a repeat within its duplicate window. Hashed: the id is a
    header, and identities and transaction ids may hold any character. (A store
    computes it as :class:`~ocpp_fast.cluster._link_bytes_py.Stores` does, the station's
    part made once; this is the formula in one call.)
    """
    return dedup_key(dedup_heads(identity, action), action, request, payload)


def station_payload(
    version: ProtocolVersion, action: str, request: OcppStruct, context: CallContext
) -> bytes:
    """The payload of the CALL being handled as the station sent it, to store and forward as is.

    The slice of the frame its connection kept (``frame_of``; the gateway's handler
    classes set ``keeps_frames``): the request is not encoded again, and what is
    stored is what the station said. Where the station's tolerance may have repaired
    the frame, the slice is used only if it decodes strictly as it is: the stored
    event must decode as the typed request when it is read back
    (:meth:`~ocpp_fast.cluster.wire.DurableEvent.request`), so a repaired payload is
    stored as the repaired request's encoding. Without a kept frame (the handler
    called outside a connection), the request is encoded.
    """
    connection = context.connection
    if isinstance(connection, AsyncConnection):
        frame = connection.frame_of(context.message_id)
        payload = None if frame is None else _payload_slice(frame, context.message_id)
        if payload is not None and (
            not connection.protocol.tolerance or _strictly_valid(version, action, payload)
        ):
            return payload
    return _encode(request)


def _payload_slice(frame: bytes | str, message_id: str) -> bytes | None:
    """The payload of the CALL ``[2,"<message_id>","<action>",<payload>]`` as it is in ``frame``."""
    buf = frame if type(frame) is bytes else str(frame).encode()
    head = _HEAD.match(buf)
    end = len(buf.rstrip(_WHITESPACE)) - 1  # the closing bracket
    if head is None or head.group(2) != message_id.encode() or end <= head.end():
        return None
    return buf[head.end() : end]


def _strictly_valid(version: ProtocolVersion, action: str, payload: bytes) -> bool:
    try:
        version.request_decoders[action].decode(payload)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return False
    return True


class Relay:
    """Stores and forwards for one gateway (its NATS connection is set when it attaches)."""

    def __init__(
        self,
        names: Names,
        node: str,
        *,
        store_timeout: float,
        worker_timeout: float,
        write_window: float = 0.0,
    ) -> None:
        self.names = names
        self.node = node
        self._store_timeout = store_timeout
        self.worker_timeout = worker_timeout
        self.write_window = write_window
        """Seconds the link's writes wait to share one (nats-py's connection has its own
        flushing: the window applies to the link only)."""
        self.replies: Requests = Replies()
        """The stream's acks and the workers' outcomes, to one inbox: on a NATS link of
        ocpp_fast's own, or on nats-py's connection where the link does not speak its options."""
        self.nc: Nats | None = None
        """The gateway's NATS connection, once attached."""
        self._link: NatsLink | None = None
        """``replies`` when it is a :class:`NatsLink`: stores are written as bytes on it."""
        self.storing: _link_bytes_py.Stores = _link_bytes.Stores(self, _ack_decoder)
        """The stores themselves, per CALL (a compiled class where the link's bytes are:
        :class:`~ocpp_fast.cluster._link_bytes_py.Stores`); its ``start`` and ``check`` are
        :meth:`start_store` and :meth:`stored`, which the gateway's compiled path calls
        directly."""
        self.store_failures: dict[str, int] = tally(STORE_CAUSES)
        self.forwarded: int = 0
        """CALLs sent to the workers (each then answered, or counted in ``forward_failures``)."""
        self.forward_failures: dict[str, int] = tally(FORWARD_CAUSES)

    @property
    def stores(self) -> int:
        """Durable CALLs sent to the stream (each then stored, or counted in
        ``store_failures``): counted by :attr:`storing`, read when ``/metrics`` is scraped."""
        return self.storing.count

    @property
    def store_timeout(self) -> float:
        """Seconds a store waits for the stream's ack (read by :attr:`storing` as it is set)."""
        return self._store_timeout

    @store_timeout.setter
    def store_timeout(self, seconds: float) -> None:
        self._store_timeout = seconds
        self.storing.timeout = float(seconds)

    async def attach(self, nc: Nats, config: ClusterConfig, name: str) -> None:
        """Start storing and forwarding: over a :class:`NatsLink` to ``config``'s servers,
        or over ``nc`` where the link does not speak ``config.options`` (decided once)."""
        reason = unspoken(config.servers, config.options)
        if reason is None:
            link = NatsLink(
                config.servers,
                config.options,
                f"{name} (link)",
                write_window=self.write_window,
            )
            await link.attach()
            self.replies = self._link = link
        else:
            log.info("%s: stores and worker requests go through nats-py (%s)", name, reason)
            replies = Replies()
            await replies.attach(nc)
            self.replies = replies
            self._link = None
        self.storing.attach(self._link)
        self.nc = nc

    def not_ready(self) -> str | None:
        """Why stores and worker requests cannot go out now, or ``None``."""
        return self.replies.not_ready()

    async def close(self) -> None:
        """Fail what waits for a reply and close what the requests go through."""
        await self.replies.close()

    async def store(
        self,
        version: ProtocolVersion,
        action: str,
        request: OcppStruct | None,
        payload: bytes,
        context: CallContext,
    ) -> None:
        """Put a durable CALL in the stream; InternalError when the stream did not take it."""
        await self.stored_after(
            self.start_store(version, action, request, payload, context), action, context
        )

    async def stored_after(
        self, ack: Awaitable[Reply | bytes], action: str, context: CallContext
    ) -> None:
        """:meth:`start_store`'s ``ack`` awaited: InternalError unless the stream took it."""
        try:
            take_ack(await ack)
        except Exception as exc:
            raise self._not_stored(exc, action, context) from None

    def start_store(
        self,
        version: ProtocolVersion,
        action: str,
        request: OcppStruct | None,
        payload: bytes,
        context: CallContext,
    ) -> Awaitable[Reply | bytes]:
        """Send a durable CALL to the stream: its ack to come (InternalError now when it
        cannot go out). :meth:`store` awaits it; a handler answered from a callback (the
        gateway's of a durable action whose user handler is plain) hands it to :meth:`stored`
        once it is done. Over the NATS link it is the link's own
        :class:`~ocpp_fast.cluster._link_bytes_py.Ack`, whose callbacks run as the ack is
        read: no task, no coroutine and no turn of the loop stand between the ack and the
        user's handler; over nats-py it is a coroutine (the handler makes it a task). What
        cannot be sent (a station's text that cannot be encoded, NATS away) is InternalError,
        logged.

        The event is built as bytes (:mod:`~ocpp_fast.cluster._link_bytes_c`), not as a
        :class:`~ocpp_fast.cluster.wire.DurableEvent` encoded: what a station's action's
        events share is made once, and the whole store is one call of :attr:`storing`'s."""
        ack: Awaitable[Reply | bytes] = self.storing.start(
            version, action, request, payload, context
        )
        return ack

    def _attached_loop(self) -> asyncio.AbstractEventLoop:
        """The running loop, once the relay is attached: asyncio's RuntimeError where none
        runs (``handle()``: see :data:`_loop_running`), InternalError before attaching.
        (Asked once per loop: asyncio's own asks the system for the process id each time.)"""
        loop = _loop_running()
        if self.nc is None:
            raise errors.InternalError("the gateway is not attached to NATS")
        return loop

    def stored(self, ack: asyncio.Future[Reply] | Ack, action: str, context: CallContext) -> None:
        """The end of :meth:`start_store`, ``ack`` done: InternalError unless the stream took it
        (why is logged)."""
        self.storing.check(ack, action, context)

    def _refused(self, reply: Reply | bytes) -> None:
        """Raise why the stream did not take a store (:attr:`storing` saw it did not)."""
        take_ack(reply)

    def _not_stored(self, exc: Exception, action: str, context: CallContext) -> AlreadyLogged:
        """Log why a durable CALL was not stored; the error the station is answered with."""
        self.store_failures[store_cause(exc)] += 1
        nats_failures.log(
            logging.ERROR,
            "storing",
            "%s: could not store %s %s: %r",
            context.identity,
            action,
            context.message_id,
            exc,
            extra={"identity": context.identity},
        )
        return AlreadyLogged("the message could not be stored; send it again")

    async def forward(
        self, version: ProtocolVersion, action: str, payload: bytes, context: CallContext
    ) -> Any:
        """Have one of the version's workers handle the CALL; its typed response."""
        _loop_running()
        if self.nc is None:
            raise errors.InternalError("the gateway is not attached to NATS")
        work = WorkRequest(
            identity=context.identity,
            message_id=context.message_id,
            action=action,
            version=version.label,
            payload=msgspec.Raw(payload),
        )
        self.forwarded += 1
        try:
            reply = await self._ask_a_worker(self.names.work(version.label, action), _encode(work))
        except NoRespondersError:
            self.forward_failures["no_worker"] += 1
            nats_failures.warning(
                "no worker runs",
                "%s: no worker runs for OCPP %s to answer %s %s",
                context.identity,
                version.label,
                action,
                context.message_id,
                extra={"identity": context.identity},
            )
            raise AlreadyLogged(f"no worker runs for OCPP {version.label}") from None
        except NatsTimeout:
            self.forward_failures["timeout"] += 1
            nats_failures.warning(
                "no worker answered",
                "%s: no worker answered %s %s within %s s",
                context.identity,
                action,
                context.message_id,
                self.worker_timeout,
                extra={"identity": context.identity},
            )
            raise AlreadyLogged("the handler did not answer in time") from None
        except ConnectionError as exc:  # the NATS link lost: nothing was handled, or it is lost
            self.forward_failures["unreachable"] += 1
            nats_failures.warning(
                "not forwarded",
                "%s: %s %s not forwarded: %s",
                context.identity,
                action,
                context.message_id,
                exc,
                extra={"identity": context.identity},
            )
            raise AlreadyLogged("the handler could not be reached") from None
        return response_of(decode_outcome(reply.data), version, action)

    async def _ask_a_worker(self, subject: str, data: bytes) -> Reply:
        """The request to the workers' queue group, asked again a few times while nobody listens.

        NATS answers "no responders" when no worker subscribes at that instant: a worker
        restarting, a rolling deploy, or (seen in the tests, rarely) a worker whose
        subscription the server had only just taken. Nobody received such a request, so
        sending it again is safe; after ``NO_WORKER_WAITS`` (0.35 s in all) the CALL is
        answered InternalError.
        """
        for wait in NO_WORKER_WAITS:
            try:
                return await self.replies.request(subject, data, self.worker_timeout)
            except NoRespondersError:
                await asyncio.sleep(wait)
        return await self.replies.request(subject, data, self.worker_timeout)


_loop_running = asyncio.get_running_loop
"""Raise asyncio's ``RuntimeError`` when no event loop runs: a store or a worker's answer
is waited for on the loop, so a CALL handled without one (``handle()``, the sans-I/O
entry) is the caller's mistake, which ``handle()`` raises as ``HandlerSuspended`` naming
``handle_async``, not an InternalError to answer the station (nor a store sent first).
(asyncio's own function: no Python frame per store.)"""


class _ApiError(msgspec.Struct):
    code: int = 0
    description: str = ""


class _PubAck(msgspec.Struct):
    """JetStream's answer to a publish: the stream and sequence that took it, or an error."""

    stream: str = ""
    seq: int = 0
    duplicate: bool = False
    error: _ApiError | None = None


_ack_decoder = msgspec.json.Decoder(_PubAck)


def take_ack(reply: Reply | bytes, refused: str = "the stream refused it") -> None:
    """Raise (``refused``, and why) unless ``reply`` is a stream's ack of a stored message
    (a durable CALL's; a registry line's, the bucket being a stream too). A store's
    :class:`~ocpp_fast.cluster._link_bytes_py.Ack` holds the reply's bytes alone."""
    data = reply if type(reply) is bytes else cast(Reply, reply).data
    ack = _ack_decoder.decode(data)
    if ack.error is not None or not ack.stream:
        raise RuntimeError(f"{refused}: {ack.error or data!r}")
