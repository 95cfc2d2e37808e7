"""The OCPP-J frame codec: decode what a connection receives, encode what it sends.

Two implementations behave identically: ``_codec_c`` (Cython, compiled on
install) and ``_codec_py`` (pure Python). The compiled one is used unless
``OCPP_FAST_NO_EXTENSIONS=1`` is set, the interpreter is not CPython, or it was
not built; :data:`IMPLEMENTATION` says which one is live (``"cython"`` or
``"python"``).

Example::

    from ocpp_fast import codec, v201
    frame = codec.decode_frame(b'[2,"1","Heartbeat",{}]', v201.VERSION)
    reply = codec.encode_call_result(frame.message_id, v201.messages.HeartbeatResponse(...))
"""

from __future__ import annotations

import os
import platform
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from ocpp_fast import _codec_py
from ocpp_fast._protocol_version import ProtocolVersion
from ocpp_fast.frames import Call, CallError, CallResult

__all__ = [
    "IMPLEMENTATION",
    "decode_frame",
    "encode_call",
    "encode_call_error",
    "encode_call_result",
    "encode_send",
    "implementation",
]


def _select() -> ModuleType:
    """The compiled codec when allowed and present, else the pure-Python one."""
    if os.environ.get("OCPP_FAST_NO_EXTENSIONS", "") not in ("", "0"):
        return _codec_py
    if platform.python_implementation() != "CPython":
        return _codec_py
    try:
        from ocpp_fast import _codec_c
    except ImportError:
        return _codec_py
    compiled: ModuleType = _codec_c
    return compiled


_impl = _select()
IMPLEMENTATION: str = _impl.IMPLEMENTATION
"""``"cython"`` when the compiled hot path is live, ``"python"`` otherwise."""

_NO_PENDING: Mapping[str, str] = {}


def implementation() -> ModuleType:
    """The live implementation module (``_codec_c`` or ``_codec_py``)."""
    return _impl


def decode_frame(
    data: bytes | str, version: ProtocolVersion, pending: Mapping[str, str] = _NO_PENDING
) -> Call | CallResult | CallError | None:
    """Decode one received frame against ``version``'s schemas.

    ``pending`` maps the ids of our outstanding CALLs to their action names, so
    a CALLRESULT is decoded against the right response type. Returns ``None``
    for a frame the version says to ignore; raises the
    :class:`~ocpp_fast.errors.OcppError` of the spec table otherwise.
    """
    result: Call | CallResult | CallError | None = _impl.decode_frame(data, version, pending)
    return result


def encode_call(message_id: str, action: str, payload: Any) -> bytes:
    """``[2, id, action, payload]`` as compact UTF-8 JSON."""
    result: bytes = _impl.encode_call(message_id, action, payload)
    return result


def encode_send(message_id: str, action: str, payload: Any) -> bytes:
    """2.1's ``[6, id, action, payload]`` (a SEND: never answered) as compact UTF-8 JSON."""
    result: bytes = _impl.encode_send(message_id, action, payload)
    return result


def encode_call_result(message_id: str, payload: Any) -> bytes:
    """``[3, id, payload]`` as compact UTF-8 JSON."""
    result: bytes = _impl.encode_call_result(message_id, payload)
    return result


def encode_call_error(
    message_id: str, code: str, description: str, details: Mapping[str, Any], kind: int = 4
) -> bytes:
    """``[4, id, code, description, details]``; ``kind=5`` writes 2.1's CALLRESULTERROR."""
    result: bytes = _impl.encode_call_error(message_id, code, description, details, kind)
    return result
