"""The OCPP-J frame types a connection sends and receives.

A frame is what one WebSocket message holds: ``[2, id, action, payload]``
(CALL), ``[3, id, payload]`` (CALLRESULT) or ``[4, id, code, description,
details]`` (CALLERROR). 2.1 adds CALLRESULTERROR (5) and SEND (6), which share
the shapes of CALLERROR and CALL. Decoding and encoding live in the codec
(:mod:`ocpp_fast.codec`); these are the values it produces and consumes.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ocpp_fast._model import OcppStruct

__all__ = [
    "CALL",
    "CALLERROR",
    "CALLRESULT",
    "CALLRESULTERROR",
    "SEND",
    "Call",
    "CallError",
    "CallResult",
    "CallResultError",
    "Frame",
    "Send",
]

CALL = 2
CALLRESULT = 3
CALLERROR = 4
CALLRESULTERROR = 5
SEND = 6


class Call(msgspec.Struct, frozen=True):
    """A request: ``payload`` is the validated request Struct of ``action``.

    Typed :class:`~ocpp_fast.OcppStruct`, the base of every version's messages: which
    request it is depends on ``action``, read at run time, so narrow it with ``isinstance``
    (``isinstance(call.payload, v201.messages.ResetRequest)``) to read its fields."""

    message_id: str
    action: str
    payload: OcppStruct


class CallResult(msgspec.Struct, frozen=True):
    """A response to one of our CALLs.

    ``action`` is the action of the CALL it answers and ``payload`` that
    action's validated response Struct; both are ``None``/untyped when the id
    matched no pending CALL (such a result is to be discarded).
    """

    message_id: str
    payload: OcppStruct | object
    """The response Struct (an :class:`~ocpp_fast.OcppStruct`) where ``action`` is set; the
    JSON value as decoded, unchecked, where it is ``None``: typed ``object``, so a reader
    narrows it (``isinstance``) either way."""
    action: str | None = None


class CallError(msgspec.Struct, frozen=True):
    """An error answering one of our CALLs, with the code as the peer spelt it."""

    message_id: str
    error_code: str
    description: str
    details: dict[str, Any]
    details_missing: bool = False
    """ErrorDetails was ``null`` or absent (a deviation) and is read as ``{}``."""


class CallResultError(CallError, frozen=True):
    """2.1: the peer could not accept one of our CALLRESULTs."""


class Send(Call, frozen=True):
    """2.1: a request that is never answered (``NotifyPeriodicEventStream``)."""


Frame = Call | CallResult | CallError
