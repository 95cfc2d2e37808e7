"""The pure-Python frame codec: the reference twin of ``_codec_c``.

The fast path recognises the frames that make up nearly all traffic, a CALL (or
2.1's SEND, its unanswered twin) or a CALLRESULT with a plain ASCII message id,
and hands the payload bytes straight to the action's typed msgspec decoder. It
only ever concludes with success; everything else, errors above all, goes to
:mod:`ocpp_fast._reference`, which both implementations share. ``_codec_c.pyx``
does the same scan in C.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import msgspec

from ocpp_fast._protocol_version import ProtocolVersion, TypedDecoder
from ocpp_fast._reference import LENIENT_DATETIME, decode_frame_reference
from ocpp_fast.frames import SEND, Call, CallError, CallResult, Send

__all__ = [
    "IMPLEMENTATION",
    "decode_frame",
    "encode_call",
    "encode_call_error",
    "encode_call_result",
    "encode_send",
]

IMPLEMENTATION = "python"

# [2,"<id>","<Action>",  (2.1's SEND: [6,...)  or  [3,"<id>",  : ids of 1-36 printable
# ASCII characters other than '"' and '\' (so their bytes are their JSON), actions of
# letters and digits.
_HEAD = re.compile(
    rb'[ \t\n\r]*\[[ \t\n\r]*([236])[ \t\n\r]*,[ \t\n\r]*"([\x20\x21\x23-\x5b\x5d-\x7e]{1,36})"'
    rb'[ \t\n\r]*,[ \t\n\r]*(?:"([A-Za-z0-9]{1,64})"[ \t\n\r]*,)?'
)
# msgspec.DecodeError and ValidationError are ValueErrors, as is invalid UTF-8.
_DecodeFailure = (ValueError, RecursionError)
_encode = msgspec.json.Encoder().encode


_NO_PENDING: Mapping[str, str] = MappingProxyType({})


def decode_frame(
    data: bytes | str, version: ProtocolVersion, pending: Mapping[str, str] = _NO_PENDING
) -> Call | CallResult | CallError | None:
    """Decode one received frame; raise the OcppError to answer it with.

    ``pending`` maps the ids of our outstanding CALLs to their actions, so a
    CALLRESULT is decoded against the response type of the CALL it answers. An id it maps to
    an action with no response (2.1's SEND-only NotifyPeriodicEventStream: a SEND is never
    answered) is no CALL a CALLRESULT can answer: the frame is decoded as one of unknown id
    (``action`` ``None``, the payload undecoded), for the caller to discard.
    """
    if type(data) is str:
        try:
            data = data.encode("utf-8")
        except UnicodeEncodeError:
            return decode_frame_reference(data, version, pending)
    assert isinstance(data, bytes)
    head = _HEAD.match(data)
    if head is not None and data[-1:] == b"]":
        payload = data[head.end() : -1]
        action = head.group(3)
        kind = head.group(1)
        if kind != b"3":  # CALL, or SEND where the version has SEND frames (else not ours)
            if action is not None and (kind == b"2" or SEND in version.message_types):
                name = action.decode("ascii")
                if name in version.request_types:
                    obj = _typed(version.request_decoders[name], payload)
                    if obj is not _NOT_CONCLUDED:
                        made = Call if kind == b"2" else Send
                        return made(head.group(2).decode("ascii"), name, obj)
        elif action is None:
            message_id = head.group(2).decode("ascii")
            name = pending.get(message_id)
            decoder = None if name is None else version.response_decoders.get(name)
            if decoder is not None:  # (an action with no response: the reference's way)
                obj = _typed(decoder, payload)
                if obj is not _NOT_CONCLUDED:
                    return CallResult(message_id, obj, name)
    return decode_frame_reference(data, version, pending)


_NOT_CONCLUDED = object()


def _typed(decoder: TypedDecoder, payload: bytes) -> Any:
    """The payload decoded, or ``_NOT_CONCLUDED`` when only the reference path can judge it."""
    try:
        obj = decoder.decode(payload)
    except _DecodeFailure:
        return _NOT_CONCLUDED
    if decoder.has_datetime and LENIENT_DATETIME.search(payload):
        return _NOT_CONCLUDED
    return obj


def encode_call(message_id: str, action: str, payload: Any) -> bytes:
    """``[2, id, action, payload]`` as compact JSON."""
    return _encode((2, message_id, action, payload))


def encode_send(message_id: str, action: str, payload: Any) -> bytes:
    """2.1's ``[6, id, action, payload]`` as compact JSON."""
    return _encode((6, message_id, action, payload))


def encode_call_result(message_id: str, payload: Any) -> bytes:
    """``[3, id, payload]`` as compact JSON."""
    return _encode((3, message_id, payload))


def encode_call_error(
    message_id: str, code: str, description: str, details: Mapping[str, Any], kind: int = 4
) -> bytes:
    """``[4, id, code, description, details]`` (or 5, 2.1's CALLRESULTERROR)."""
    return _encode((kind, message_id, code, description, details))
