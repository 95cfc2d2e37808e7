"""What the handlers a gateway serves do beyond the user's code: store a durable CALL in the
events stream, and hand a CALL to a worker.

Kept apart from :mod:`ocpp_fast.cluster.gateway` (which follows the stations) so that
the generated handler methods (:mod:`ocpp_fast.cluster._handlers`) depend on this
small piece only.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import logging
from typing import TYPE_CHECKING, Any

import msgspec
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from ocpp_fast import errors
from ocpp_fast._protocol_version import ProtocolVersion
from ocpp_fast._ratelimit import ConnectionLog
from ocpp_fast.cluster.subjects import Names
from ocpp_fast.cluster.wire import DurableEvent, WorkRequest, decode_outcome, response_of
from ocpp_fast.dispatch import CallContext

if TYPE_CHECKING:
    from nats.aio.client import Client as Nats
    from nats.aio.msg import Msg
    from nats.js import JetStreamContext

__all__ = ["Relay", "dedup_id"]

log = logging.getLogger("ocpp_fast.cluster")

_encode = msgspec.json.Encoder().encode
NO_WORKER_WAITS = (0.05, 0.1, 0.2)
"""Seconds waited before asking the workers again after NATS said none listens."""


def dedup_id(identity: str, action: str, request: Any, payload: bytes) -> str:
    """The ``Nats-Msg-Id`` of a durable CALL: the same message sent again has the same id.

    A 2.x TransactionEvent is the event ``(transactionId, seqNo)`` of its
    station, whatever its message id (a station resends with a new id after a
    reconnect); anything else is its station, action and exact payload. The
    stream drops a repeat within its duplicate window. Hashed: the id is a
    header, and identities and transaction ids may hold any character.
    """
    info = getattr(request, "transaction_info", None)
    seq_no = getattr(request, "seq_no", None)
    if info is not None and seq_no is not None and action == "TransactionEvent":
        key = f"tx\0{identity}\0{info.transaction_id}\0{seq_no}".encode()
    else:
        key = b"\0".join((identity.encode(), action.encode(), payload))
    return hashlib.blake2b(key, digest_size=16).hexdigest()


class Relay:
    """Stores and forwards for one gateway (its NATS connection is set when it attaches)."""

    def __init__(
        self, names: Names, node: str, *, store_timeout: float, worker_timeout: float
    ) -> None:
        self.names = names
        self.node = node
        self.store_timeout = store_timeout
        self.worker_timeout = worker_timeout
        self.nc: Nats | None = None
        self.js: JetStreamContext | None = None

    async def store(
        self,
        version: ProtocolVersion,
        action: str,
        request: Any,
        payload: bytes,
        context: CallContext,
    ) -> None:
        """Put a durable CALL in the stream; InternalError when the stream did not take it."""
        if self.js is None:
            raise errors.InternalError("the gateway is not attached to NATS")
        identity = context.identity
        event = DurableEvent(
            identity=identity,
            message_id=context.message_id,
            action=action,
            version=version.label,
            received_at=datetime.datetime.now(datetime.UTC),
            node=self.node,
            payload=msgspec.Raw(payload),
        )
        try:
            await self.js.publish(
                self.names.event(identity, action),
                _encode(event),
                timeout=self.store_timeout,
                headers={"Nats-Msg-Id": dedup_id(identity, action, request, payload)},
            )
        except Exception as exc:
            ConnectionLog(log, identity).error(
                "could not store %s %s: %r", action, context.message_id, exc
            )
            raise errors.InternalError("the message could not be stored; send it again") from None

    async def forward(
        self, version: ProtocolVersion, action: str, payload: bytes, context: CallContext
    ) -> Any:
        """Have one of the version's workers handle the CALL; its typed response."""
        if self.nc is None:
            raise errors.InternalError("the gateway is not attached to NATS")
        work = WorkRequest(
            identity=context.identity,
            message_id=context.message_id,
            action=action,
            version=version.label,
            payload=msgspec.Raw(payload),
        )
        try:
            reply = await self._ask_a_worker(self.names.work(version.label, action), _encode(work))
        except NoRespondersError:
            raise errors.InternalError(f"no worker runs for OCPP {version.label}") from None
        except NatsTimeout:
            ConnectionLog(log, context.identity).warning(
                "no worker answered %s %s within %s s",
                action,
                context.message_id,
                self.worker_timeout,
            )
            raise errors.InternalError("the handler did not answer in time") from None
        return response_of(decode_outcome(reply.data), version, action)

    async def _ask_a_worker(self, subject: str, data: bytes) -> Msg:
        """The request to the workers' queue group, asked again a few times while nobody listens.

        NATS answers "no responders" when no worker subscribes at that instant: a worker
        restarting, a rolling deploy, or (seen in the tests, rarely) a worker whose
        subscription the server had only just taken. Nobody received such a request, so
        sending it again is safe; after ``NO_WORKER_WAITS`` (0.35 s in all) the CALL is
        answered InternalError.
        """
        assert self.nc is not None
        for wait in NO_WORKER_WAITS:
            try:
                return await self.nc.request(subject, data, timeout=self.worker_timeout)
            except NoRespondersError:
                await asyncio.sleep(wait)
        return await self.nc.request(subject, data, timeout=self.worker_timeout)
