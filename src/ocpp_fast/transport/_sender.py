"""Delivers the transaction queue: its head, one message at a time, whenever connected.

One task per station sends the oldest queued message, waits for its answer,
and only then removes it, so the CSMS receives transaction messages in the
order they were put, each acknowledged one exactly once. A message whose
connection dropped before its answer came is sent again after the reconnect:
the CSMS may have processed it and its answer was lost, so the one message on
the wire at a disconnect (or at a power cut) may arrive twice; the CSMS tells by
``transactionId`` and ``seqNo`` (2.x). A resend is a new CALL with a new
message id: OCPP-J 2.0.1 wants ids unique per station across connections, and
a CSMS that sees an id again may take it for a protocol error.

Retries follow the spec (2.0.1 ``OCPPCommCtrlr.MessageAttempts`` /
``MessageAttemptInterval``, 1.6 ``TransactionMessageAttempts`` /
``TransactionMessageRetryInterval``): after the n-th failure (a CALLERROR, an
invalid CALLRESULT, no answer within ``timeout``) the sender waits
``interval * n`` seconds, and drops the message, logged, after ``attempts``
failures. A NotImplemented or NotSupported error is final at once: that CSMS
does not know the action, no retry will teach it. So is a message the CSMS
closed the connection for as too big (1009, :class:`~ocpp_fast.errors.TooBigForCsms`):
sent again, it would close every connection and hold up the queue for good.

The sender waits for the client's word that requests may go: with the client's
own boot (``boot=``), not before the CSMS accepted the boot of the connection.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeAlias, TypeVar

from ocpp_fast._actions import Sender
from ocpp_fast._log_text import PeerText
from ocpp_fast._protocol_version import ProtocolVersion
from ocpp_fast._ratelimit import ConnectionLog
from ocpp_fast.aio import DEFAULT_TIMEOUT, AsyncConnection
from ocpp_fast.errors import NotSupportedError, OcppError, OcppNotImplementedError, TooBigForCsms
from ocpp_fast.transport.txqueue import Kind, QueuedMessage, TransactionQueue, classify

__all__ = [
    "ATTEMPT_FAILED",
    "DEFAULT_RETRY",
    "DROPPED",
    "REFUSED_FOR_GOOD",
    "ConnectionCall",
    "MessageRetry",
    "QueueCall",
    "QueueSender",
    "Queued",
    "StillQueued",
    "answer_within",
]

AnswerT = TypeVar("AnswerT", covariant=True)
"""The response type a :class:`Queued` message resolves to."""

log = logging.getLogger("ocpp_fast.transport")

FINAL_ERRORS = (OcppNotImplementedError, NotSupportedError)
"""The CSMS's errors that end a transaction message's retries at once: it will never take it."""
ATTEMPT_FAILED = "%s %d of transaction %r failed (%d of %d attempts): %r"
"""The WARNING of each failed sending the queue retries (its arguments: action, position,
transaction, failures, attempts, error): a fleet's simulator summarizes these records."""
DROPPED = "dropped %s %d of transaction %r after %d attempts: %r"
"""The ERROR of a message dropped after its retries (action, position, transaction,
attempts, error), summarized by a fleet's simulator as :data:`ATTEMPT_FAILED` is."""
REFUSED_FOR_GOOD = "dropped %s %d of transaction %r: the CSMS answered %s (%s), not sent again"
"""The ERROR of a message dropped at the first of :data:`FINAL_ERRORS` (action, position,
transaction, the error's code and description): :data:`DROPPED`'s ``after 1 attempts:
NotSupportedError('...', {...})`` read as retries that never came, under ``--retry-attempts
3``, and named the exception's class where the CSMS's code is what an operator looks up."""

ConnectionCall: TypeAlias = Callable[[AsyncConnection, Any, float], Awaitable[Any]]
"""Sends a request on a connection within a timeout, as ``connection.call(request,
timeout=...)`` does (returns the response, raises what it raises): how a client's own calls
may go out through its owner's code (``StationClient.heartbeat_call``)."""

QueueCall: TypeAlias = Callable[[AsyncConnection, QueuedMessage, float], Awaitable[Any]]
"""Sends a queued message on a connection within a timeout, as ``message.send(connection,
timeout)`` does (returns the response, raises what it raises): how the transaction queue's
sendings may go out through its owner's code (``StationClient.queue_call``). It is given the
:class:`~ocpp_fast.transport.txqueue.QueuedMessage`, not a request: the queue sends the bytes
it checked at ``put()``, not a request checked and encoded again at each sending."""


@dataclass(frozen=True)
class MessageRetry:
    """How a transaction message the CSMS failed to process is retried.

    ``attempts`` counts every sending, the first included (2.0.1
    ``MessageAttempts``, 1.6 ``TransactionMessageAttempts``); ``interval`` is
    the base wait in seconds (``MessageAttemptInterval``,
    ``TransactionMessageRetryInterval``), multiplied by the failures so far;
    ``timeout`` is how long an answer is waited for before it counts as a failure.
    """

    attempts: int = 3
    interval: float = 60.0
    timeout: float = DEFAULT_TIMEOUT


DEFAULT_RETRY = MessageRetry()
"""Three attempts, a minute apart and then two: a CSMS that failed gets time to recover."""


Found: TypeAlias = "tuple[ProtocolVersion, str, tuple[Kind, str]]"
"""A queued request's version, action and :func:`~ocpp_fast.transport.txqueue.classify`."""


class Queued(Generic[AnswerT]):
    """A message stored in the queue; await it for the CSMS's response (typed: ``Queued[
    TransactionEventResponse]`` gives a ``TransactionEventResponse``).

    The await raises the CSMS's error if the message was dropped after its
    retries. Nobody need await it: the message goes out anyway.
    """

    def __init__(self, message: QueuedMessage, delivered: asyncio.Future[Any]) -> None:
        self.message = message
        """What was stored (with the ``seqNo`` the queue gave a 2.x TransactionEvent)."""
        self.delivered = delivered
        """Resolves with the response once the CSMS answered."""

    @property
    def transaction_id(self) -> int:
        """1.6 StartTransaction: the id to put in this transaction's MeterValues and
        StopTransaction, also offline (a placeholder the queue replaces by the CSMS's)."""
        return self.message.transaction_id

    def __repr__(self) -> str:
        message, state = self.message, "answered" if self.delivered.done() else "waiting"
        return (
            f"<Queued {message.action} {message.position} of transaction "
            f"{message.transaction!r}, {state}>"
        )

    def __await__(self) -> Generator[Any, None, AnswerT]:
        answer: AnswerT = yield from self.delivered.__await__()
        return answer


class StillQueued(TimeoutError):
    """``call()`` gave up waiting, but the message is queued and will be delivered."""


async def answer_within(queued: Queued[AnswerT], timeout: float, name: str) -> AnswerT:
    """The CSMS's answer to ``queued`` (a ``name``), or :class:`StillQueued` after ``timeout``.

    For a :class:`Queued` nobody else awaits (``StationClient.call()``'s own): the timeout
    settles its future with :class:`StillQueued` (the sender's answer, coming later, finds it
    settled and goes nowhere), and a cancel of the caller cancels it. So the caller awaits the
    future itself, woken in the turn after the sender settles it, where ``wait_for`` on a
    ``shield`` of it took three turns (each a callback of the one before: shield's, wait_for's,
    the task's), a cost each queued ``call()`` paid on top of the sender's own wait."""
    done = queued.delivered
    timer = asyncio.get_running_loop().call_later(timeout, _still_queued, done, name, timeout)
    try:
        return await queued
    finally:
        timer.cancel()


def _still_queued(done: asyncio.Future[Any], name: str, timeout: float) -> None:
    if not done.done():  # said as call()'s own timeout is, with what the queue does next
        done.set_exception(
            StillQueued(
                f"{name} not answered within {timeout:g} s: it stays queued, and the queue "
                "goes on delivering it"
            )
        )


Live = Callable[[], Awaitable[AsyncConnection]]
"""Waits until the station is connected; returns the connection."""
Ready = Callable[[], "AsyncConnection | None"]
"""The connection when the station's requests may go on it now; ``None`` otherwise (then
:data:`Live` waits for one): a message sent while connected needs no coroutine to find it."""


class QueueSender:
    """The queue of one station, the futures of the messages put in this process, and the task."""

    def __init__(
        self,
        queue: TransactionQueue,
        retry: MessageRetry,
        versions: Sequence[ProtocolVersion],
        identity: str = "",
    ) -> None:
        self._log = ConnectionLog(log, identity)
        queue.identity = identity
        if retry.attempts < 1:
            raise ValueError("retry.attempts counts the first sending: at least 1")
        self.queue = queue
        self.retry = retry
        self._sendable = [(version, version.side_tables(Sender.STATION)[0]) for version in versions]
        """Each version the station speaks, with its requests by type (looked up once: every
        ``call()`` of a client with a queue asks :meth:`queued` first)."""
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._idle: asyncio.Future[None] | None = None
        """What :meth:`run` awaits while the queue is empty, resolved by the next :meth:`put`
        (a future made only then: an ``asyncio.Event`` cost each message its set, its clear
        and a future in its wait, empty queue or not)."""
        self.call: QueueCall | None = None
        """How each sending goes out: ``None``, ``message.send``; else this function (its
        client's :attr:`~ocpp_fast.transport.client.StationClient.queue_call`)."""

    def queued(self, request: Any) -> Found | None:
        """The version and action of ``request``, and its :func:`classify`, if it goes through
        the queue (for :meth:`put`)."""
        kind = type(request)
        for version, sendable in self._sendable:
            action = sendable.get(kind)
            if action is not None:
                found = classify(action, request)
                return None if found is None else (version, action, found)
        return None

    def put(self, found: Found, request: Any) -> Queued[Any]:
        """Store ``request``, :meth:`queued` ``found`` (on disk when this returns)."""
        message = self.queue._put(*found, request)
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[message.position] = done
        idle = self._idle
        if idle is not None:
            self._idle = None
            if not idle.done():  # (cancelled: the sender was, as its client closed)
                idle.set_result(None)
        return Queued(message, done)

    async def run(self, live: Live, ready: Ready | None = None) -> None:
        """Deliver the queue forever (until cancelled), its head first."""
        loop = asyncio.get_running_loop()
        while True:
            message = self.queue.head()
            if message is None:
                idle = self._idle = loop.create_future()
                await idle
                continue
            connection = None if ready is None else ready()
            if connection is None:
                connection = await live()
            self.queue.sending = message.position
            timeout, call = self.retry.timeout, self.call
            try:
                if call is None:
                    response = await message.send(connection, timeout)
                else:
                    response = await call(connection, message, timeout)
            except TooBigForCsms as exc:
                self._too_big(message, exc)
                continue
            except ConnectionError:
                continue  # not an attempt: sent again once reconnected
            except (OcppError, TimeoutError) as exc:
                await self._failed(message, exc)
                continue
            except (TypeError, ValueError) as exc:  # a version this connection does not speak
                self._give_up(message, exc)
                continue
            finally:
                self.queue.sending = None
            self.queue.acknowledged(message, response)
            self._settle(message.position, response, None)

    async def _failed(self, message: QueuedMessage, error: Exception) -> None:
        failures = self.queue.failed(message.position)
        if isinstance(error, FINAL_ERRORS) or failures >= self.retry.attempts:
            self._give_up(message, error)
            return
        self._log.warning(
            ATTEMPT_FAILED,
            message.action,
            message.position,
            message.transaction,
            failures,
            self.retry.attempts,
            error,
        )
        await asyncio.sleep(self.retry.interval * failures)

    def _give_up(self, message: QueuedMessage, error: Exception) -> None:
        self.queue.remove(message.position)
        if isinstance(error, FINAL_ERRORS):
            self._log.error(
                REFUSED_FOR_GOOD,
                message.action,
                message.position,
                message.transaction,
                PeerText(error.code),  # the CSMS's words: one line, bounded
                PeerText(error.description),
            )
            self._settle(message.position, None, error)
            return
        self._log.error(
            DROPPED,
            message.action,
            message.position,
            message.transaction,
            message.attempts + 1,
            error,
        )
        self._settle(message.position, None, error)

    def _too_big(self, message: QueuedMessage, error: TooBigForCsms) -> None:
        """The CSMS closed the connection for ``message``'s size: it never takes it, and sent
        again it would close every connection and hold up the rest of the queue for good."""
        self.queue.remove(message.position)
        self._log.warning(
            "dropped %s %d of transaction %r: %d bytes, larger than the CSMS accepts "
            "(it closed the connection with 1009, message too big)",
            message.action,
            message.position,
            message.transaction,
            error.size,
            extra={"action": message.action, "size": error.size},
        )
        self._settle(message.position, None, error)

    def stopped(self) -> None:
        """The client closed: each message put in this process and not yet answered is
        settled with :class:`StillQueued`, so an ``await`` of its :class:`Queued` (or a
        ``call()``) ends instead of waiting for a delivery this client will never make. The
        messages stay in the queue: a file queue hands them to the next client opened on it."""
        waiting, self._waiting = self._waiting, {}
        kept = (
            "for the next client on the file"
            if self.queue.durable  # a memory queue's messages end with its process
            else "in memory only: a client given this TransactionQueue sends it, none after "
            "the process ends"
        )
        for position, done in waiting.items():
            if not done.done():
                _fail(
                    done,
                    StillQueued(
                        f"message {position} of the transaction queue was not answered before "
                        f"the client closed: it stays queued, {kept}"
                    ),
                )

    def _settle(self, position: int, response: Any, error: Exception | None) -> None:
        done = self._waiting.pop(position, None)
        if done is None or done.done():
            return  # put before a restart: nobody in this process waits for it
        if error is None:
            done.set_result(response)
        else:
            _fail(done, error)


def _fail(done: asyncio.Future[Any], error: Exception) -> None:
    """Fail ``done`` with ``error``, marked as seen: nobody need await a :class:`Queued`, so no
    "Future exception was never retrieved" for one nobody awaited (an await still raises it).
    Marked here, not by a done callback on every future: that callback cost each answered
    message a scheduled call of its own."""
    done.set_exception(error)
    done.exception()
