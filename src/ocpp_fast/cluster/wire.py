"""What travels over NATS between the pieces of a cluster: msgspec Structs encoded as JSON.

JSON rather than msgpack because the payloads already are JSON (the station's
validated request, a handler's checked response): they ride along as
``msgspec.Raw``, never re-parsed into dicts, and whoever needs them typed
decodes them once with the version's payload decoder. It also keeps every
message readable with the ``nats`` command line tool.
"""

from __future__ import annotations

import datetime
from typing import Any, TypeVar, overload

import msgspec

from ocpp_fast import errors
from ocpp_fast._model import OcppStruct
from ocpp_fast._protocol_version import ProtocolVersion
from ocpp_fast.protocol import NotHandled
from ocpp_fast.stations import StationEntry  # the registry's entry (defined below the cluster)

__all__ = [
    "DurableEvent",
    "Outcome",
    "RoutedCall",
    "StationEntry",
    "WorkRequest",
    "decode_event",
    "decode_outcome",
    "error_outcome",
    "raise_error",
    "response_of",
]


class WorkRequest(msgspec.Struct, frozen=True):
    """A station's CALL, validated by its gateway, for a worker to handle."""

    identity: str
    message_id: str
    action: str
    version: str
    """The version label (``"2.0.1"``)."""
    payload: msgspec.Raw


class RoutedCall(msgspec.Struct, frozen=True, omit_defaults=True):
    """A CALL for a station, from a :class:`~ocpp_fast.cluster.ClusterClient` to its node;
    or, with ``close_code``, the station's connection to close (``ClusterClient.disconnect``:
    ``action``, ``version`` and ``payload`` empty then)."""

    action: str
    version: str
    payload: msgspec.Raw
    timeout: float
    close_code: int = 0
    close_reason: str = ""


class Outcome(msgspec.Struct, frozen=True, omit_defaults=True):
    """The answer to a :class:`WorkRequest` or a :class:`RoutedCall`.

    ``result`` is the response payload (empty for a SEND, which has none); else
    ``code`` / ``description`` / ``details`` are an OCPP error, or ``failure``
    says why there is no answer at all (``"disconnected"``, ``"timeout"``,
    ``"version"``).
    """

    result: msgspec.Raw = msgspec.Raw()
    code: str = ""
    description: str = ""
    details: dict[str, Any] = {}
    origin: str = ""
    """Who refused, for an error (an :class:`~ocpp_fast.errors.Origin` value; empty: none)."""
    failure: str = ""
    not_handled: bool = False
    """The NotSupported of a worker whose class has no method for the action: the gateway
    logs it as one process logs an action it does not handle (once, then at DEBUG)."""


RequestT = TypeVar("RequestT", bound=msgspec.Struct)


class DurableEvent(msgspec.Struct, frozen=True):
    """One durable action as stored in the stream, stored before the station was answered."""

    identity: str
    message_id: str
    action: str
    version: str
    received_at: datetime.datetime
    node: str
    payload: msgspec.Raw

    @overload
    def request(self) -> OcppStruct: ...

    @overload
    def request(self, kind: type[RequestT]) -> RequestT: ...

    def request(self, kind: type[msgspec.Struct] | None = None) -> msgspec.Struct:
        """The typed request (``TransactionEventRequest``...), decoded with its version's types.

        ``kind`` (the request class you expect, e.g. ``v201.messages.TransactionEventRequest``)
        types the result for a type checker, where ``request()`` alone can only be an
        :class:`~ocpp_fast.OcppStruct`, to narrow with ``isinstance`` (the action and the
        version are the event's data); an event of another action or
        version raises ``TypeError`` naming both, rather than handing over a request whose
        fields are not the ones the code reads."""
        from ocpp_fast._protocol_version import by_label

        request: OcppStruct = (
            by_label(self.version).request_decoders[self.action].decode(self.payload)
        )
        if kind is not None and type(request) is not kind:
            raise TypeError(
                f"this event is {self.action} of OCPP {self.version}"
                f" ({type(request).__module__}.{type(request).__qualname__}),"
                f" not {kind.__module__}.{kind.__qualname__}: read event.action and"
                " event.version first"
            )
        return request


_event_decoder = msgspec.json.Decoder(DurableEvent)


def decode_event(data: bytes) -> DurableEvent:
    """A message of the events stream, as a :class:`DurableEvent`."""
    return _event_decoder.decode(data)


def error_outcome(error: errors.OcppError, version: ProtocolVersion) -> Outcome:
    """The :class:`Outcome` carrying ``error``, its code spelt as ``version`` spells it."""
    return Outcome(
        code=version.code_of(error),
        description=error.description,
        details=error.details,
        origin=error.origin.value if error.origin is not None else "",
    )


_outcome_decoder = msgspec.json.Decoder(Outcome)


def decode_outcome(data: bytes) -> Outcome:
    """A reply of a worker or of a node, as an :class:`Outcome`."""
    return _outcome_decoder.decode(data)


def raise_error(outcome: Outcome) -> None:
    """Raise the OCPP error an :class:`Outcome` carries, as the class of its code."""
    if outcome.code:
        origin = errors.Origin(outcome.origin) if outcome.origin else None
        kind = NotHandled if outcome.not_handled else errors.error_class(outcome.code)
        raise kind(outcome.description, outcome.details, origin=origin)


def response_of(outcome: Outcome, version: ProtocolVersion, action: str) -> Any:
    """The typed response an :class:`Outcome` carries (``None`` for a SEND, which has
    none), or its OCPP error raised."""
    raise_error(outcome)
    if not outcome.result:
        return None
    return version.response_decoders[action].decode(outcome.result)
