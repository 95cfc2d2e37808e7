"""The OCPP-J frame codec: decode what a connection receives, encode what it sends.

Two implementations behave identically: ``_codec_c`` (Cython, compiled on
install) and ``_codec_py`` (pure Python). The compiled one is used unless
``OCPP_FAST_NO_EXTENSIONS=1`` is set, the interpreter is not CPython, or it was
not built; :data:`IMPLEMENTATION` says which one is live (``"cython"`` or
``"python"``).

``decode_frame(data, version, pending={})`` decodes one received frame against
the version's schemas (``pending`` maps the ids of our outstanding CALLs to their
actions, so a CALLRESULT is decoded against the right response type), returns
``None`` for a frame the version says to ignore, and raises the
:class:`~ocpp_fast.errors.OcppError` of the spec table otherwise.
``encode_call``, ``encode_send`` (2.1), ``encode_call_result`` and
``encode_call_error`` (``kind=5``: 2.1's CALLRESULTERROR) write compact UTF-8 JSON.

Example::

    from ocpp_fast import codec, v201
    frame = codec.decode_frame(b'[2,"1","Heartbeat",{}]', v201.VERSION)
    reply = codec.encode_call_result(frame.message_id, v201.messages.HeartbeatResponse(...))
"""

from __future__ import annotations

import os
import platform
from types import ModuleType

from ocpp_fast import _codec_py

__all__ = [
    "IMPLEMENTATION",
    "decode_frame",
    "encode_call",
    "encode_call_error",
    "encode_call_result",
    "encode_send",
    "implementation",
]


def _compiled_allowed() -> bool:
    """The compiled codec is used unless the pure one was asked for or cannot run here."""
    if os.environ.get("OCPP_FAST_NO_EXTENSIONS", "") not in ("", "0"):
        return False
    return platform.python_implementation() == "CPython"


# One typed route: the live implementation's own functions are the public ones (no wrapper
# call per frame); ``_codec_c.pyi`` types the compiled module as ``_codec_py`` is typed.
_impl: ModuleType = _codec_py
if _compiled_allowed():
    try:
        from ocpp_fast import _codec_c
    except ImportError:
        pass
    else:
        _impl = _codec_c

if _impl is _codec_py:
    from ocpp_fast._codec_py import (
        decode_frame,
        encode_call,
        encode_call_error,
        encode_call_result,
        encode_send,
    )
else:
    from ocpp_fast._codec_c import (
        decode_frame,
        encode_call,
        encode_call_error,
        encode_call_result,
        encode_send,
    )

IMPLEMENTATION: str = _impl.IMPLEMENTATION
"""``"cython"`` when the compiled hot path is live, ``"python"`` otherwise."""


def implementation() -> ModuleType:
    """The live implementation module (``_codec_c`` or ``_codec_py``)."""
    return _impl
