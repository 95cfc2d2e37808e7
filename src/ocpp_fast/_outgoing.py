"""Checking what we send before it leaves: a payload we write must be as valid as one we accept.

msgspec does not validate a Struct on construction, so a handler can build a
response with a string that is too long, a naive datetime or a value of the
wrong type. Encoding the payload and decoding it again with the same typed
decoder used for incoming frames catches all of it; the error is ours, so the
connection answers InternalError and logs it, never blaming the peer.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ocpp_fast import errors
from ocpp_fast._protocol_version import ProtocolVersion
from ocpp_fast._reference import classify

__all__ = ["encode_checked_payload"]

_encode = msgspec.json.Encoder().encode


def encode_checked_payload(
    payload: Any, action: str, version: ProtocolVersion, *, response: bool
) -> bytes:
    """The JSON of ``payload`` after checking it against ``action``'s schema.

    Raises ``TypeError`` when ``payload`` is not the action's Struct type and
    the classified :class:`~ocpp_fast.errors.OcppError` when a value breaks the
    schema.
    """
    types = version.response_types if response else version.request_types
    expected = types[action]
    if type(payload) is not expected:
        raise TypeError(
            f"{action} {'response' if response else 'request'} must be "
            f"{expected.__name__}, got {type(payload).__name__}"
        )
    try:
        data = _encode(payload)
    except (TypeError, ValueError, OverflowError) as exc:
        raise errors.TypeConstraintViolationError(f"cannot encode {action}: {exc}") from None
    decoders = version.response_decoders if response else version.request_decoders
    try:
        decoders[action].decode(data)  # our encoder writes RFC 3339: no spelling check
    except msgspec.ValidationError as exc:
        raise classify(exc) from None
    return data
