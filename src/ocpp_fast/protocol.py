"""The sans-I/O OCPP-J connection: frames in, events and frames out; no socket, no clock.

Feed :meth:`Protocol.receive` every message the transport delivers; it returns
:class:`Event` objects and queues the bytes to send, which
:meth:`Protocol.data_to_send` hands over. The rules of OCPP-J live here:

- at most one outgoing CALL outstanding; later ones wait in order, and the next
  one leaves when the outstanding one is answered, fails or times out;
- incoming CALLs are accepted while ours is pending (calls cross);
- a CALL whose id is still being handled is refused (RpcFrameworkError, 1.6 ProtocolError);
- a CALLRESULT/CALLERROR with an unknown id (late, or never asked for) is logged
  and discarded, never answered;
- what the peer causes is logged at most ``LOG_BURST`` times per kind per minute
  (:class:`~ocpp_fast._ratelimit.LogLimiter`), so a hostile peer cannot flood the logs;
- malformed frames are answered with the CALLERROR of the spec table, except a
  bad CALLRESULT, which fails our pending call instead;
- a payload the strict decode refused is retried under the connection's
  :class:`~ocpp_fast.tolerance.Tolerance` policy (strict by default): accepted
  if the repairs the policy allows make it valid, each repaired deviation
  counted in :attr:`Protocol.deviations` and logged once per action and class.

Timeouts are deadlines the adapter drives: it calls :meth:`Protocol.time_out`.
"""

from __future__ import annotations

import logging
import uuid
import warnings
from collections import Counter, deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import msgspec

from ocpp_fast import codec, errors
from ocpp_fast._actions import Sender
from ocpp_fast._frame_log import debug_enabled, log_frame
from ocpp_fast._log_text import PeerText
from ocpp_fast._model import OcppStruct, Request, SendRequest
from ocpp_fast._outgoing import encode_checked_payload, error_frame, result_frame, type_name
from ocpp_fast._protocol_version import ProtocolVersion
from ocpp_fast._ratelimit import ConnectionLog, FirstTimes, LogLimiter
from ocpp_fast.frames import (
    CALL,
    CALLERROR,
    CALLRESULT,
    CALLRESULTERROR,
    SEND,
    Call,
    CallError,
    CallResult,
    CallResultError,
    Send,
)
from ocpp_fast.tolerance import Deviation, Tolerance, retry

if TYPE_CHECKING:
    from ocpp_fast.metrics import Metrics

__all__ = [
    "CallFailed",
    "CallReceived",
    "CallSucceeded",
    "Event",
    "Protocol",
    "ResultRejected",
    "SendReceived",
    "Side",
]

DeviationCallback = Callable[[str, str, list[Deviation]], None]
"""Told ``(identity, action, deviations)`` of each frame accepted after repair."""

log: logging.Logger = logging.getLogger("ocpp_fast")

decode_frame: Callable[
    [bytes | str, ProtocolVersion, Mapping[str, str]], Call | CallResult | CallError | None
] = codec.decode_frame
"""The codec's decoder, looked up here once per frame (a test swaps in one implementation)."""
_encode_call = codec.encode_call
_encode_send = codec.encode_send
NO_PENDING: dict[str, str] = {}

Side = Sender
"""Which end of the connection we are: ``Side.STATION`` or ``Side.CSMS``."""

_CALLERROR_DIGIT = ord("4")
"""The byte after ``[`` of a CALLERROR as we write it: ``result_frame`` answers InternalError
in place of a response that failed its check, and the metrics count what went out."""
_INVALID_RESPONSE = errors.InternalError("invalid response")


class CallReceived(msgspec.Struct, frozen=True):
    """The peer sent a valid CALL; answer it with ``respond`` or ``respond_error``."""

    call: Call


class CallSucceeded(msgspec.Struct, frozen=True):
    """Our CALL ``message_id`` was answered with a valid response.

    ``response`` is the response Struct of ``action``, typed :class:`~ocpp_fast.OcppStruct`
    (the base of every message): :meth:`Protocol.call` returns the CALL's id, not a typed
    handle, so which response it is is known at run time only; narrow it with ``isinstance``
    to read its fields (the asyncio layer's ``call()`` returns it typed)."""

    message_id: str
    action: str
    response: OcppStruct


class CallFailed(msgspec.Struct, frozen=True):
    """Our CALL ``message_id`` failed: the peer's CALLERROR, an invalid result, or a timeout."""

    message_id: str
    action: str
    error: Exception


class SendReceived(msgspec.Struct, frozen=True):
    """2.1: the peer sent a SEND frame (never answered); hand it to the handler."""

    send: Send


class ResultRejected(msgspec.Struct, frozen=True):
    """2.1: the peer answered our CALLRESULT ``message_id`` with a CALLRESULTERROR."""

    message_id: str
    error: errors.OcppError


Event = CallReceived | CallSucceeded | CallFailed | SendReceived | ResultRejected


class _Outgoing(msgspec.Struct):
    message_id: str
    action: str
    frame: bytes


_SIDE_NAMES = {Side.CSMS: "CSMS", Side.STATION: "station"}
"""How a CALLERROR's description names the side answering: ``Side``'s values are lower-case
identifiers (``csms``), and a description is a sentence the peer's operator reads."""


def _not_supported(
    action: str, side: Side, message_id: str | None = None
) -> errors.NotSupportedError:
    return errors.NotSupportedError(
        f"{action} is not handled by this {_SIDE_NAMES[side]}",
        {"action": action},
        message_id=message_id,
    )


def _sent_as_send_only(
    version: ProtocolVersion, action: str, message_id: str | None = None
) -> errors.NotSupportedError:
    """The answer to a CALL of an action OCPP-J 2.1 sends as a SEND only (it has no
    response), whatever its payload: as :func:`_not_supported`, before any complaint about it."""
    return errors.NotSupportedError(
        version.send_only_refusal(action), {"action": action}, message_id=message_id
    )


class AlreadyLogged(errors.InternalError):
    """An InternalError whose cause was logged where it was raised, naming the station, the
    action and the message id (rate-limited): :func:`log_error_answered` adds no line of its
    own, which would say the same once more per CALL."""


class HandlerFailed(AlreadyLogged):
    """The InternalError answering a CALL whose handler raised something other than an
    ``OcppError``: that was logged at ERROR with its traceback already."""


class NotHandled(errors.NotSupportedError):
    """The NotSupported a cluster's worker answers for an action its class has no method for,
    as the gateway raises it: answered as this process answers such a CALL itself (a WARNING
    once per action, then each answer at DEBUG), where a handler's refusal is logged at INFO
    per CALL; with the handlers in workers a fleet sending an action nobody handles wrote a
    line per station and CALL (up to the limit), and nothing said it was not handled."""


def log_error_answered(
    limiter: LogLimiter,
    version: ProtocolVersion,
    action: str,
    message_id: str,
    error: errors.OcppError,
    identity: str | None = None,
    level: int = logging.INFO,
) -> None:
    """Log a CALLERROR answering a valid CALL at ``level``: INFO for a handler's refusal,
    so the operator sees which action got which error; DEBUG for an action not handled,
    which already had its one WARNING per action (at INFO, the default of ``ocpp-fast
    serve``, a fleet sending an action nobody handles would write a line per station). At
    most ``LOG_BURST`` lines a minute per ``limiter`` (a connection's, whose log names the
    station; or one per handler for :meth:`OcppHandler.handle`, which passes the
    ``identity`` to name)."""
    if isinstance(error, AlreadyLogged):
        return
    code = version.code_of(error)
    extra = {"action": action, "message_id": message_id, "code": code}
    message = "answering %s %s with %s: %s"
    args: tuple[str, ...] = (action, message_id, code, error.description)
    if identity is not None:
        message, args = "%s: " + message, (identity, *args)
        extra["identity"] = identity
    limiter.log(level, "error answered", message, *args, extra=extra)


def new_message_id() -> str:
    """A fresh, unique message id (a uuid4 string, 36 characters)."""
    return str(uuid.uuid4())


class Protocol:
    """One OCPP-J connection, seen from ``side``."""

    __slots__ = (
        "_handling",
        "_lenient_errors_logged",
        "_log",
        "_logged",
        "_new_id",
        "_outbox",
        "_pending",
        "_queue",
        "_request_types",
        "_timed_out",
        "_warnings",
        "deviations",
        "identity",
        "metrics",
        "on_deviation",
        "receivable",
        "side",
        "tolerance",
        "version",
    )

    def __init__(
        self,
        version: ProtocolVersion,
        side: Side,
        *,
        identity: str = "",
        message_id_factory: Callable[[], str] = new_message_id,
        handled: frozenset[str] | None = None,
        tolerance: Tolerance = Tolerance.STRICT,
        on_deviation: DeviationCallback | None = None,
        logged: FirstTimes | None = None,
    ) -> None:
        self.version: ProtocolVersion = version
        self.tolerance: Tolerance = tolerance
        """The deviations accepted and repaired; settable at any time (e.g. after the
        BootNotification names the firmware)."""
        self.on_deviation: DeviationCallback | None = on_deviation
        self.deviations: Counter[tuple[str, Tolerance]] = Counter()
        """How many deviations were repaired, by ``(action, class)``."""
        self._logged = FirstTimes() if logged is None else logged
        """The ``(identity, action, class)`` already logged: shared by the connections of
        one handler, so a station is logged once however many connections it makes
        (bounded: a peer inventing identities cannot grow it)."""
        self.side: Side = side
        self.identity: str = identity
        self._new_id = message_id_factory
        self._outbox: list[bytes] = []
        self._queue: deque[_Outgoing] = deque()
        self._pending: _Outgoing | None = None
        self._timed_out: tuple[str, str] | None = None
        """``(message id, action)`` of the last CALL that timed out: its answer, if it comes,
        is logged as late, not as unknown, so the operator knows to raise the timeout."""
        self._handling: set[str] = set()
        self._warnings: LogLimiter | None = None
        self._log: ConnectionLog | None = None
        self._lenient_errors_logged = False
        self.metrics: Metrics | None = None
        """Where frames, errors and repairs are counted (:mod:`ocpp_fast.metrics`), if anywhere."""
        self._request_types, receivable = version.side_tables(side)
        self.receivable: frozenset[str] = receivable if handled is None else receivable & handled
        """The actions whose CALLs are accepted: those the peer sends (and, when
        ``handled`` is given, that have a handler); others are NotSupported."""

    # --- what goes out --------------------------------------------------------------

    def data_to_send(self) -> list[bytes]:
        """The frames to write to the transport, in order; the queue is emptied."""
        out, self._outbox = self._outbox, []
        return out

    def call(self, request: Request[OcppStruct]) -> str:
        """Queue a CALL of ``request`` (a request Struct this side may send); return its id.

        Typed: a response, or a request never answered (a SEND's), is a type error here.

        The frame leaves at once when no CALL is outstanding, otherwise when
        the ones before it are done. An invalid request raises the OcppError
        of the violation here, before anything is sent.
        """
        action = self._request_types.get(type(request))
        if action is None:
            raise ValueError(self._not_sendable(type(request)))
        self._check_answered(action)
        payload = encode_checked_payload(request, action, self.version, response=False)
        return self._call(action, payload)

    def call_checked(self, action: str, payload: bytes, version: str) -> str:
        """Queue a CALL of ``action`` whose JSON ``payload`` was checked already, against the
        schema of OCPP ``version`` (a label: "1.6", "2.0.1"...); return its id.

        The transaction queue's way (:meth:`~ocpp_fast.aio.AsyncConnection.call_checked`): it
        checked and encoded the request when it was put, and sending those bytes as they are
        spares checking, encoding and decoding it again for every sending. The frame, its log
        line, the metrics and the answer's handling are :meth:`call`'s. ``ValueError`` when
        this connection speaks another version, or when ``action`` is not a CALL this side
        sends (as :meth:`call` refuses a request of another version); the payload itself is
        trusted: give only what :func:`~ocpp_fast._outgoing.encode_checked_payload` returned
        for this version and action.
        """
        if version != self.version.label:
            raise ValueError(
                f"a {version} {action} cannot go on this connection: it speaks OCPP "
                f"{self.version.label}"
            )
        kind = self.version.request_types.get(action)
        if kind is None or kind not in self._request_types:
            raise ValueError(
                f"{action} is not a request the {self.side.value} sends in OCPP {version}"
            )
        self._check_answered(action)
        return self._call(action, payload)

    def _check_answered(self, action: str) -> None:
        if action not in self.version.response_types:
            raise ValueError(f"{action} is never answered: send it with send(), not call()")

    def _call(self, action: str, payload: bytes) -> str:
        """Queue the CALL of a checked ``payload``; its id (what :meth:`call` and
        :meth:`call_checked` share once the payload is in hand)."""
        message_id = self._new_id()
        frame = _encode_call(message_id, action, msgspec.Raw(payload))
        self._queue.append(_Outgoing(message_id, action, frame))
        self._send_next()
        if self.metrics is not None:
            self.metrics.frame("out", "call", action)
        return message_id

    def _not_sendable(self, kind: type[Any]) -> str:
        """Why ``call()`` refuses a request type, and what to do instead.

        The usual cause is a request built from another version's module (a 2.0.1
        ``RequestStartTransactionRequest`` for a station that negotiated 2.1): the classes
        share their names, so the message names the module to build it from.
        """
        label = self.version.label
        refused = f"{type_name(kind)} is not a request the {self.side.value} sends in OCPP {label}"
        action = kind.__name__.removesuffix("Request")
        own = self.version.request_types.get(action)
        if own is None or own.__name__ != kind.__name__:
            return refused
        if own in self._request_types:
            return (
                f"{refused}: this connection speaks OCPP {label}, "
                f"so build it from {self.version.messages_module}"
            )
        return f"{refused}: in OCPP {label} the other side sends {action}"

    def send(self, request: SendRequest) -> str:
        """2.1: send ``request`` as a SEND frame, at once; it is never answered.

        SEND frames stand outside the one-outstanding-CALL rule. Only actions
        without a response (``NotifyPeriodicEventStream``) may be sent so.
        """
        action = self._request_types.get(type(request))
        if action is None or action in self.version.response_types:
            raise ValueError(
                f"{type_name(type(request))} is not sent as a SEND frame by the "
                f"{self.side.value} in OCPP {self.version.label}"
            )
        payload = encode_checked_payload(request, action, self.version, response=False)
        message_id = self._new_id()
        self._emit(_encode_send(message_id, action, msgspec.Raw(payload)))
        if self.metrics is not None:
            self.metrics.frame("out", "send", action)
        return message_id

    def cancel(self, message_id: str) -> bool:
        """Drop a queued CALL that has not been sent yet; ``True`` if it was queued."""
        for item in self._queue:
            if item.message_id == message_id:
                self._queue.remove(item)
                return True
        return False

    def time_out(self, message_id: str) -> CallFailed | None:
        """The adapter's deadline for CALL ``message_id`` passed: fail it, send the next.

        A result that arrives later has an unknown id and is discarded.
        """
        if self.cancel(message_id):
            return None
        pending = self._pending
        if pending is None or pending.message_id != message_id:
            return None
        self._pending = None
        self._timed_out = (message_id, pending.action)
        self._send_next()
        return CallFailed(message_id, pending.action, TimeoutError(f"{pending.action} timed out"))

    @property
    def outstanding(self) -> str | None:
        """The id of our CALL awaiting its answer, if any."""
        return self._pending.message_id if self._pending else None

    @property
    def outstanding_call(self) -> tuple[str, str, int] | None:
        """``(message id, action, bytes of its frame)`` of our CALL awaiting its answer, if any
        (a station's client tells by the size whether a close with 1009 was about it)."""
        pending = self._pending
        return None if pending is None else (pending.message_id, pending.action, len(pending.frame))

    def respond(self, message_id: str, action: str, response: object) -> None:
        """Answer the peer's CALL ``message_id`` with the ``response`` Struct.

        A response of the wrong type or with invalid values is our fault: the
        peer gets InternalError, and the problem is logged with its cause.
        """
        self._handling.discard(message_id)
        frame = result_frame(message_id, action, response, self.version, self.identity)
        self._emit(frame)
        if self.metrics is not None:
            if frame[1] == _CALLERROR_DIGIT:  # the response failed its check: InternalError
                self.metrics.error("out", self.version.code_of(_INVALID_RESPONSE), action)
            else:
                self.metrics.frame("out", "result", action)

    def respond_error(self, message_id: str, error: errors.OcppError, action: str = "") -> None:
        """Answer the peer's CALL ``message_id`` (of ``action``, for the metrics) with a
        CALLERROR of ``error``'s code."""
        self._handling.discard(message_id)
        self._answer_error(message_id, error, action)
        if type(error) is NotHandled:  # a worker's class has no method for it
            self._warn_not_handled(action, message_id, "by the workers")
            self._log_answered(action, message_id, error, logging.DEBUG)
        else:
            self._log_answered(action, message_id, error)

    # --- what comes in --------------------------------------------------------------

    def receive(self, data: bytes | str) -> list[Event]:
        """Process one received message; return what happened."""
        if debug_enabled():
            log_frame("<", self.identity, data)
        outstanding = self._pending
        pending = {outstanding.message_id: outstanding.action} if outstanding else NO_PENDING
        try:
            frame = decode_frame(data, self.version, pending)
        except errors.OcppError as exc:
            repaired = None
            if self.tolerance and (exc.message_type != CALL or exc.action in self.receivable):
                repaired = retry(data, exc, self.version, pending, self.tolerance)
            if repaired is None:
                return self._bad_frame(exc)
            frame = repaired.frame
            self._deviated(exc.action or "", repaired.deviations)
        if frame is None:
            return []
        if self.metrics is not None:
            self._count_in(frame)
        if type(frame) is Call:
            message_id = frame.message_id
            if (
                message_id in self._handling
                or frame.action not in self.receivable
                or frame.action in self.version.send_only
            ):
                return self._refuse(frame)
            self._handling.add(message_id)
            return [CallReceived(frame)]
        if type(frame) is CallResult:
            return self._result(frame)
        if type(frame) is Send:
            if frame.action not in self.receivable:
                kind, why = "SEND not sent to us", ", not sent to us"
            elif frame.action in self.version.response_types:
                # OCPP-J 2.1: only an action never answered (NotifyPeriodicEventStream) is
                # sent as a SEND; one of a CALL's actions cannot be answered so, and its
                # handler's answer would go nowhere.
                kind, why = "SEND of a CALL's action", ": only actions never answered are sent"
            else:
                return [SendReceived(frame)]
            self._peer_log(
                logging.WARNING,
                kind,
                "dropping a SEND of %s" + why,
                frame.action,
                action=frame.action,
                message_id=frame.message_id,
            )
            return []
        assert isinstance(frame, CallError)
        return self._error(frame)

    def _count_in(self, frame: Call | CallResult | CallError) -> None:
        metrics = self.metrics
        assert metrics is not None
        if type(frame) is Call:  # most frames a CSMS gets: asked first
            metrics.frame("in", "call", frame.action)
        elif isinstance(frame, Call):  # a Send
            metrics.frame("in", "send", frame.action)
        elif isinstance(frame, CallResult):
            metrics.frame("in", "result", frame.action or "")
        else:
            pending = self._pending
            answered = pending.action if pending and pending.message_id == frame.message_id else ""
            metrics.error("in", frame.error_code, answered)

    def _answer_error(self, message_id: str, error: errors.OcppError, action: str = "") -> None:
        """Send a CALLERROR (counted where metrics are kept, under ``action``: an action of
        the version or "")."""
        self._emit(error_frame(message_id, error, self.version))
        if self.metrics is not None:
            self.metrics.error("out", self.version.code_of(error), action)

    def _refuse(self, call: Call) -> list[Event]:
        """Answer a CALL whose id is still in hand, or whose action this side never receives
        as a CALL."""
        error: errors.OcppError
        if call.action in self.version.send_only:
            # OCPP-J 2.1: an action without a response (NotifyPeriodicEventStream) travels as
            # a SEND only; its handler would run for an answer that has no type. A CALL waits
            # for an answer, so it gets one, where a SEND of a CALL's action is dropped.
            error = _sent_as_send_only(self.version, call.action)
            self._peer_log(
                logging.WARNING,
                "CALL of a SEND's action",
                "refusing a CALL of %s: it is sent as a SEND only",
                call.action,
                action=call.action,
                message_id=call.message_id,
            )
        elif call.message_id in self._handling:
            in_hand = f"a CALL with id {call.message_id!r} is still in hand"
            error = (
                errors.ProtocolError(in_hand)
                if self.version.legacy_spellings
                else errors.RpcFrameworkError(in_hand)
            )
        else:
            error = _not_supported(call.action, self.side)
            self._warn_not_handled(call.action, call.message_id, "here")
        self._answer_error(call.message_id, error, call.action)
        self._log_answered(call.action, call.message_id, error, logging.DEBUG)
        return []

    def _warn_not_handled(self, action: str, message_id: str, where: str) -> None:
        """The WARNING of an action no handler takes ``where`` (``here``, or ``by the
        workers``), the first time (per handler class). It names the version: a server of
        several has a handler each, so the same action comes once per version, which read as
        the line's "once per action" broken when the version was not said."""
        if self._logged.first(("not handled", action)):
            # the counter is named only where it exists: without metrics it counts nothing
            # (the series of this action's refusals, so a query copied from the line finds them)
            counted = (
                f'; ocpp_messages_total{{action="{action}",direction="out",kind="error"}} '
                "counts each"
                if self.metrics
                else ""
            )
            self.log.warning(
                "%s of OCPP %s is not handled %s: answering NotSupported "
                "(logged once per action%s)",
                action,
                self.version.label,
                where,
                counted,
                extra={"action": action, "message_id": message_id},
            )

    def _log_answered(
        self, action: str, message_id: str, error: errors.OcppError, level: int = logging.INFO
    ) -> None:
        log_error_answered(self._limiter(), self.version, action, message_id, error, level=level)

    def _result(self, result: CallResult) -> list[Event]:
        pending = self._pending
        if result.action is None or pending is None or pending.message_id != result.message_id:
            late = self._late(result.message_id)
            if late is not None:
                self._peer_log(
                    logging.WARNING,
                    "late CALLRESULT",
                    "discarding the CALLRESULT of %s %r: it came after the call timed out",
                    late,
                    result.message_id,
                    action=late,
                    message_id=result.message_id,
                )
                return []
            self._peer_log(
                logging.WARNING,
                "unknown-id CALLRESULT",
                "discarding a CALLRESULT with unknown id %r",
                result.message_id,
                message_id=result.message_id,
            )
            return []
        self._pending = None
        self._send_next()
        # The codec decoded it as the response of its pending action: a Struct (no cast(): a
        # call on every CALLRESULT, where this annotation costs nothing).
        response: OcppStruct = result.payload  # type: ignore[assignment]
        return [CallSucceeded(result.message_id, pending.action, response)]

    def _error(self, frame: CallError) -> list[Event]:
        if frame.details_missing and not self._lenient_errors_logged:
            self._lenient_errors_logged = True
            self.log.info(
                "accepted an error frame without ErrorDetails (null or absent, read as {}): "
                "a deviation, logged once per connection"
            )
        error = errors.error_class(frame.error_code)(
            frame.description, frame.details, message_id=frame.message_id, origin=errors.Origin.PEER
        )
        if type(frame) is CallResultError:  # about a result we sent, not our pending call
            self._peer_log(
                logging.WARNING,
                "CALLRESULTERROR",
                "the peer rejected our result %r: %s %s",
                frame.message_id,
                frame.error_code,
                error,
                message_id=frame.message_id,
                code=frame.error_code,
            )
            return [ResultRejected(frame.message_id, error)]
        pending = self._pending
        if pending is None or pending.message_id != frame.message_id:
            late = self._late(frame.message_id)
            if late is not None:
                self._peer_log(
                    logging.WARNING,
                    "late CALLERROR",
                    "discarding the CALLERROR (%s) of %s %r: it came after the call timed out",
                    frame.error_code,
                    late,
                    frame.message_id,
                    action=late,
                    message_id=frame.message_id,
                    code=frame.error_code,
                )
                return []
            # A 2.1 peer answering MessageTypeNotSupported cannot read a frame type 2.1 added
            # (we send no other): a SEND (or CALLRESULTERROR) it refused, often as id "-1".
            # Said, since a station's stream would otherwise go unread without a word.
            unread = (
                ": the peer reads no OCPP 2.1 SEND ([6, ...]) or CALLRESULTERROR ([5, ...]) "
                "frame, so NotifyPeriodicEventStream does not reach it"
                if frame.error_code == errors.MessageTypeNotSupportedError.code
                and SEND in self.version.message_types
                else ""
            )
            self._peer_log(
                logging.WARNING,
                "unknown-id CALLERROR",
                "discarding a CALLERROR (%s) with unknown id %r" + unread,  # ours, not cut
                frame.error_code,
                frame.message_id,
                message_id=frame.message_id,
                code=frame.error_code,
            )
            return []
        self._pending = None
        self._send_next()
        return [CallFailed(frame.message_id, pending.action, error)]

    def _late(self, message_id: str) -> str | None:
        """The action of the CALL ``message_id`` if it is the last one that timed out (its
        answer comes once at most: the slot is emptied), else ``None``."""
        timed_out = self._timed_out
        if timed_out is None or timed_out[0] != message_id:
            return None
        self._timed_out = None
        return timed_out[1]

    def _bad_frame(self, exc: errors.OcppError) -> list[Event]:
        pending = self._pending
        if exc.message_type == CALLRESULT:
            # never answered with a CALLERROR; it fails our pending call instead
            if pending is None or pending.message_id != exc.message_id:
                self._peer_log(
                    logging.WARNING,
                    "invalid CALLRESULT",
                    "discarding an invalid CALLRESULT: %s",
                    exc,
                    message_id=exc.message_id,
                )
                return []
            self._peer_log(
                logging.WARNING,
                "invalid result",
                "invalid %s result %r: %s",
                pending.action,
                pending.message_id,
                exc,
                action=pending.action,
                message_id=pending.message_id,
                code=self.version.code_of(exc),
            )
            if self.version.answers_bad_results:  # 2.1 tells the peer
                self._emit(error_frame(pending.message_id, exc, self.version, CALLRESULTERROR))
            exc.origin = errors.Origin.RESPONSE_CHECK
            self._pending = None
            self._send_next()
            return [CallFailed(pending.message_id, pending.action, exc)]
        if exc.message_type == SEND and SEND in self.version.message_types:
            # OCPP-J 2.1: a SEND is never answered, an invalid one neither (a CALLERROR to
            # its id would answer a message the peer expects no answer to). Where the version
            # has no SEND (2.0.1), the frame is of an unknown type, answered as the version says.
            self._peer_log(
                logging.WARNING,
                "invalid SEND",
                "discarding an invalid SEND: %s",
                exc,
                action=exc.action,
                message_id=exc.message_id,
            )
            return []
        action = exc.action
        if exc.message_type == CALL and action is not None:
            # not ours to handle: that answer comes before any complaint about the payload
            if action in self.version.send_only:
                exc = _sent_as_send_only(self.version, action, exc.message_id)
            elif action not in self.receivable:
                exc = _not_supported(action, self.side, exc.message_id)
        if exc.message_type in (CALLERROR, CALLRESULTERROR) and not isinstance(
            exc, errors.MessageTypeNotSupportedError
        ):
            self._peer_log(
                logging.WARNING,
                "malformed error frame",
                "discarding a malformed error frame: %s",
                exc,
                message_id=exc.message_id,
            )
            return []
        code = self.version.code_of(exc)  # as the peer receives it (1.6: FormationViolation)
        self._peer_log(
            logging.INFO,
            "bad frame",
            "answering a bad frame with %s: %s",
            code,
            exc,
            action=exc.action,
            message_id=exc.message_id,
            code=code,
        )
        action = exc.action or ""
        if action not in self.version.actions:  # a label a peer made up would grow the series
            action = ""
        self._answer_error(exc.message_id or errors.UNREADABLE_MESSAGE_ID, exc, action)
        return []

    def _deviated(self, action: str, deviations: list[Deviation]) -> None:
        """Count a frame's repaired deviations; log each (station, action, class) once."""
        for deviation in deviations:
            if self._logged.first((self.identity, action, deviation.kind)):
                self.log.warning(
                    "accepted %s in %s at %s (tolerated)",
                    deviation.kind.label,
                    action,
                    deviation.path,
                )
            self.deviations[action, deviation.kind] += 1
            if self.metrics is not None:
                self.metrics.deviation(deviation.kind.label)
        if self.on_deviation is not None:
            try:
                self.on_deviation(self.identity, action, deviations)
            except Exception:  # the operator's report must not fail the station's frame
                self.log.exception("on_deviation raised")

    # --- plumbing ---------------------------------------------------------------------

    @property
    def log(self) -> ConnectionLog:
        """This connection's log: lines prefixed with the station identity."""
        own = self._log
        if own is None:  # made on first use: most connections never need one
            own = self._log = ConnectionLog(log, self.identity)
        return own

    def _peer_log(self, level: int, kind: str, message: str, *args: Any, **extra: Any) -> None:
        """Log what the peer caused, rate-limited per connection and ``kind``; ``extra``
        (action, message_id, code) goes on the record, beside the identity. Each argument
        is the peer's text (or holds it, as a decode error quotes a field name): written on
        one line, cut (:class:`~ocpp_fast._log_text.PeerText`), where a line break in a
        CALLERROR's code or an unknown field's name started a line of the station's own."""
        shown = [PeerText(arg) for arg in args]
        self._limiter().log(level, kind, message, *shown, extra=extra)

    def _limiter(self) -> LogLimiter:
        limiter = self._warnings
        if limiter is None:
            limiter = self._warnings = LogLimiter(self.log, timely=True)
        return limiter

    def flush_peer_log(self) -> None:
        """Say how many of the peer's lines the rate limit held back, as the connection ends:
        its limiter says them when the kind's next window opens, which never comes once the
        connection is gone (a station that sent 200 unknown ids and left showed 10 lines and
        no count of the other 190)."""
        if self._warnings is not None:
            self._warnings.flush(everything=True)

    def _send_next(self) -> None:
        if self._pending is None and self._queue:
            self._pending = self._queue.popleft()
            self._emit(self._pending.frame)

    def _emit(self, frame: bytes) -> None:
        if debug_enabled():
            log_frame(">", self.identity, frame)
        self._outbox.append(frame)


if TYPE_CHECKING:  # the old name, to a checker, and no Any for any other name
    Connection = Protocol

else:

    def __getattr__(name: str) -> Any:
        """``Connection``, the class's name in 0.1: still importable, with a warning.

        The sans-I/O object is the ``protocol`` in every layer; "connection" names the
        asyncio one (:class:`~ocpp_fast.aio.AsyncConnection`) and the socket.
        """
        if name == "Connection":
            warnings.warn(
                "ocpp_fast.protocol.Connection is now ocpp_fast.protocol.Protocol",
                DeprecationWarning,
                stacklevel=2,
            )
            return Protocol
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
