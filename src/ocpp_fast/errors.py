"""OCPP-J RPC errors: one exception class per error code, under one root.

The wire spelling depends on the negotiated version: 1.6 writes
``FormationViolation`` and ``OccurenceConstraintViolation`` (sic) where 2.x
writes ``FormatViolation`` and ``OccurrenceConstraintViolation`` (the version's
``code_of(error)`` spells it). Raise these
from a handler to answer a CALL with that code; a received CALLERROR of any
spelling is raised to the caller as the class of its code.

An error raised by ``call()`` says who refused in :attr:`OcppError.origin`: the
peer (:attr:`Origin.PEER`, its CALLERROR), or our own checks, of our request
before it was sent (:attr:`Origin.REQUEST_CHECK`: the peer never saw it) or of
the peer's CALLRESULT (:attr:`Origin.RESPONSE_CHECK`). The class stays the one
of the code either way, so ``except PropertyConstraintViolationError`` catches all.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any, ClassVar

__all__ = [
    "DESCRIPTION_MAX_LENGTH",
    "FormatViolationError",
    "GenericError",
    "HandshakeFailed",
    "InternalError",
    "MessageTypeNotSupportedError",
    "NotSupportedError",
    "OccurrenceConstraintViolationError",
    "OcppError",
    "OcppNotImplementedError",
    "Origin",
    "PropertyConstraintViolationError",
    "ProtocolError",
    "RpcFrameworkError",
    "SecurityError",
    "StartupFailed",
    "StationNotConnected",
    "TooBigForCsms",
    "TooManyRoutedCalls",
    "TypeConstraintViolationError",
    "error_class",
]

DESCRIPTION_MAX_LENGTH = 255
"""OCPP 2.x caps ErrorDescription at 255 characters; 1.6 follows suit here."""

UNREADABLE_MESSAGE_ID = "-1"
"""The MessageId a CALLERROR carries when the offending frame's id is unreadable."""


class Origin(enum.Enum):
    """Who refused a CALL of ours: the peer, or our own side (:attr:`OcppError.origin`)."""

    PEER = "peer"
    """The peer answered our CALL with a CALLERROR of this code."""
    REQUEST_CHECK = "request_check"
    """Our check of our own request refused it: it was never sent, the peer knows nothing."""
    RESPONSE_CHECK = "response_check"
    """The peer answered, but its CALLRESULT broke the schema and our check refused it: the
    peer did receive (and may have acted on) the request."""


class OcppError(Exception):
    """Root of every OCPP RPC error.

    ``message_id`` is the id of the frame the error is about (``"-1"`` when it
    could not be read) and ``message_type`` its type number (``None`` when the
    envelope was unreadable): together they tell the connection whom to answer.
    ``action`` is the CALL's action when the error lies in a known action's payload.
    ``origin`` says who refused a CALL of ours (:class:`Origin`); ``None`` for an error
    that is about no CALL of ours (one a handler raises, one about a received frame).
    """

    code: ClassVar[str] = "GenericError"
    """Wire spelling in OCPP 2.0.1 and 2.1."""
    code_16: ClassVar[str] = "GenericError"
    """Wire spelling in OCPP 1.6."""
    schema_keyword: str | None = None
    """The JSON-schema keyword a payload broke (``type``, ``required``, ``maxLength``,
    ``enum`` ...) when the error is a schema failure: the code follows the spec table,
    this keeps the finer fact (``ocpp_fast.compat`` raises ``ocpp``'s class by it)."""

    def __init__(
        self,
        description: str = "",
        details: Mapping[str, Any] | None = None,
        *,
        message_id: str | None = None,
        message_type: int | None = None,
        action: str | None = None,
        origin: Origin | None = None,
    ) -> None:
        description = description[:DESCRIPTION_MAX_LENGTH]
        super().__init__(description)
        self.description = description
        self.details: dict[str, Any] = dict(details) if details else {}
        self.message_id = message_id
        self.message_type = message_type
        self.action = action
        self.origin = origin

    @property
    def local(self) -> bool:
        """Whether our own side refused (our request, or the peer's response), not the peer."""
        return self.origin is Origin.REQUEST_CHECK or self.origin is Origin.RESPONSE_CHECK

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.description!r}, {self.details!r})"


class FormatViolationError(OcppError):
    """A property the schema does not allow (``additionalProperties: false``)."""

    code = "FormatViolation"
    code_16 = "FormationViolation"


class GenericError(OcppError):
    """Any other error."""


class InternalError(OcppError):
    """The receiver failed while handling a well-formed message."""

    code = code_16 = "InternalError"


class MessageTypeNotSupportedError(OcppError):
    """A frame type number this version does not know (2.0.1)."""

    code = "MessageTypeNotSupported"
    code_16 = "GenericError"


class OcppNotImplementedError(OcppError):
    """The action is not part of the negotiated OCPP version."""

    code = code_16 = "NotImplemented"


class NotSupportedError(OcppError):
    """The action is known, but this side does not handle it."""

    code = code_16 = "NotSupported"


class OccurrenceConstraintViolationError(OcppError):
    """A required property is missing, or an array has too few or too many items."""

    code = "OccurrenceConstraintViolation"
    code_16 = "OccurenceConstraintViolation"


class PropertyConstraintViolationError(OcppError):
    """A value breaks maxLength, enum, minimum/maximum, date-time or multipleOf."""

    code = code_16 = "PropertyConstraintViolation"


class ProtocolError(OcppError):
    """The payload is incomplete or the exchange breaks the protocol."""

    code = code_16 = "ProtocolError"


class RpcFrameworkError(OcppError):
    """The frame itself is broken: not JSON, not an OCPP-J array, bad MessageId."""

    code = "RpcFrameworkError"
    code_16 = "FormationViolation"


class SecurityError(OcppError):
    """The message was refused for a security reason."""

    code = code_16 = "SecurityError"


class TypeConstraintViolationError(OcppError):
    """A value of the wrong JSON type, or a payload that is not an object."""

    code = code_16 = "TypeConstraintViolation"


_BY_CODE: dict[str, type[OcppError]] = {}
for _cls in (
    GenericError,
    InternalError,
    MessageTypeNotSupportedError,
    OcppNotImplementedError,
    NotSupportedError,
    OccurrenceConstraintViolationError,
    PropertyConstraintViolationError,
    ProtocolError,
    RpcFrameworkError,
    SecurityError,
    TypeConstraintViolationError,
    FormatViolationError,  # last: the 1.6 "FormationViolation" maps back here
):
    _BY_CODE[_cls.code] = _cls
    _BY_CODE.setdefault(_cls.code_16, _cls)
_BY_CODE["FormationViolation"] = FormatViolationError


def error_class(code: str) -> type[OcppError]:
    """The exception class of a received error code, in any version's spelling.

    An unknown code maps to :class:`GenericError`, so a peer's typo still raises.
    """
    return _BY_CODE.get(code, GenericError)


class TooBigForCsms(OcppError):
    """The CSMS closed the connection with WebSocket code 1009 (message too big) while this
    CALL of the station was on the wire, and no larger frame had gone out on that connection:
    the CALL is larger than the CSMS accepts (its ``max_size``), so sending it again would only
    close the next connection too.

    An :class:`OcppError` (origin :attr:`Origin.PEER`, code ``GenericError``), as the other
    errors a queued message is dropped for, so ``except OcppError`` around a transaction
    message catches it. A queued message is taken out of the queue for it, logged once, and the
    rest of the queue goes on; a plain ``call()`` raises it in place of ``ConnectionError``.
    """

    def __init__(self, action: str, size: int, *, message_id: str | None = None) -> None:
        super().__init__(
            f"{action} of {size} bytes is larger than the CSMS accepts: it closed the "
            "connection with 1009 (message too big)",
            message_id=message_id,
            action=action,
            origin=Origin.PEER,
        )
        self.size = size
        """The bytes of the CALL's frame (its JSON, before any compression)."""


class StationNotConnected(ConnectionError):
    """The station is not connected (to this server, or to any node of a cluster), or it left
    while a call to it waited for the answer.

    No OCPP error: nothing was said on the wire. Raised alike by ``server.call`` and
    ``ClusterClient.call``, so code that calls stations moves between one process and a
    cluster unchanged.
    """

    def __init__(self, identity: str, why: str = "") -> None:
        super().__init__(why or f"{identity} is not connected")
        self.identity = identity


class TooManyRoutedCalls(RuntimeError):
    """The gateway holding the station has as many routed calls waiting as its
    ``Limits.routed_calls`` allows: this one was refused at once, before reaching the
    station (nothing was said on the wire). Try again later, or call less at once.
    """

    def __init__(self, identity: str, why: str = "") -> None:
        super().__init__(why or f"the gateway holding {identity} has too many routed calls")
        self.identity = identity


class StartupFailed(RuntimeError):
    """A ``ChargeSystem``'s ``on_startup`` raised, so ``serve()`` did not start: it closed the
    server again (without ``on_shutdown``) and raises this, naming the hook, with the hook's
    own exception as :attr:`error` (and ``__cause__``, for the traceback).

    One line says what happened (``on_startup of Csms201 failed: OSError: [Errno 98] ...``):
    what ``ocpp-fast serve`` prints before it exits with code 2.
    """

    def __init__(self, owner: str, error: Exception) -> None:
        super().__init__(f"on_startup of {owner} failed: {type(error).__name__}: {error}")
        self.owner = owner
        """The class whose ``on_startup`` raised."""
        self.error = error
        """What it raised."""


BODY_CHARS = 160
"""How much of a refusal's body :class:`HandshakeFailed` keeps (a CSMS may send a page), its
first line; a longer line is cut there and ends in ``...``. Room for a server's sentence: the
websockets library's refusal of a station's versions (87 characters) names its own at the end."""


class HandshakeFailed(ConnectionError):
    """A station's WebSocket handshake failed: the CSMS answered an HTTP status instead of
    101 (``401`` wrong or missing password, ``404`` unknown station, ``503`` busy...), or it
    agreed to none of the OCPP versions offered.

    Raised by ``connect()`` and ``StationClient.start()`` for the first connection (later
    ones are retried and logged). A ``ConnectionError``, so ``except OSError`` still catches
    every failure to connect; firmware reads :attr:`status` to tell "stop and alert" (401)
    from "retry later" (503) without parsing the message.
    """

    def __init__(
        self,
        message: str,
        status: int | None = None,
        reason: str = "",
        body: str = "",
        *,
        offered: Iterable[str] = (),
        chosen: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        """The HTTP status the CSMS answered instead of 101; ``None`` when the upgrade
        succeeded but no version is common (:attr:`no_common_version`), or it broke off."""
        self.reason = reason
        """The status's phrase (``"Unauthorized"``), or why the upgrade was given up."""
        self.body = body
        """The first line of the CSMS's response body (cut at :data:`BODY_CHARS`, then ``...``):
        its words."""
        self.offered: tuple[str, ...] = tuple(offered)
        """With :attr:`no_common_version`: the subprotocols the station offered."""
        self.chosen = chosen
        """With :attr:`no_common_version`: what the CSMS picked instead (``None``: nothing)."""

    @property
    def no_common_version(self) -> bool:
        """The CSMS accepted the WebSocket but none of the station's OCPP versions."""
        return bool(self.offered)

    @classmethod
    def refused(cls, status: int, body: bytes | bytearray | None) -> HandshakeFailed:
        """The CSMS answered ``status`` (not 101) with ``body``."""
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = ""
        lines = (body or b"").decode("utf-8", "replace").strip().splitlines()
        first = lines[0] if lines else ""
        said = "".join(c if c.isprintable() else "?" for c in first[:BODY_CHARS])
        if len(first) > BODY_CHARS:
            said += "..."  # a cut seen as one: the words after it are missing
        message = f"the CSMS refused the handshake: HTTP {status} {reason}".rstrip()
        return cls(message + (f" ({said})" if said else ""), status, reason, said)

    @classmethod
    def no_common(cls, offered: Iterable[str], chosen: str | None) -> HandshakeFailed:
        """The CSMS upgraded the connection but picked ``chosen`` (``None``: no subprotocol),
        none of ``offered``."""
        offered = tuple(offered)  # the message is one per fleet: a simulator groups by it
        message = f"no common OCPP version: the CSMS accepted none of {', '.join(offered)}"
        return cls(message, None, "no common OCPP version", offered=offered, chosen=chosen)

    def cause(self) -> str:
        """Short, for grouping many stations' failures: ``HTTP 401 Unauthorized (...)``."""
        if self.status is None:
            return str(self)
        shown = f"HTTP {self.status} {self.reason}".rstrip()
        return shown + (f" ({self.body})" if self.body else "")
