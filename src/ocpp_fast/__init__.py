"""ocpp_fast: the whole OCPP model as msgspec Structs and a fast OCPP-J codec.

``import ocpp_fast`` is cheap: the version packages (``ocpp_fast.v201`` ...) and
the codec load on first access, as do the names shared by every version:
``UNSET`` / ``UnsetType`` (an absent optional field), ``CallContext`` (a
handler's second argument), ``Tolerance`` (which deviations are repaired), and
``Request`` / ``ResponseT`` (to annotate a function that calls the peer:
``request: Request[ResponseT]`` returns ``ResponseT``), ``SendRequest`` (2.1's requests
sent as SEND frames, never answered), ``SentByCsms`` / ``SentByStation`` (the requests
each side sends: ``request: SentByCsms[ResponseT]`` for a function only a CSMS calls),
``OcppStruct`` (the base of every message and data
type: what a decoded frame's payload is typed, to narrow with ``isinstance``). The errors are in
:mod:`ocpp_fast.errors`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "UNSET",
    "CallContext",
    "OcppStruct",
    "Request",
    "ResponseT",
    "SendRequest",
    "SentByCsms",
    "SentByStation",
    "Tolerance",
    "UnsetType",
    "__version__",
    "codec",
    "dec_hook",
    "errors",
    "frames",
    "v16",
    "v21",
    "v201",
]

if TYPE_CHECKING:
    from msgspec import UNSET, UnsetType

    from ocpp_fast import codec, errors, frames, v16, v21, v201
    from ocpp_fast._model import (
        OcppStruct,
        Request,
        ResponseT,
        SendRequest,
        SentByCsms,
        SentByStation,
        dec_hook,
    )
    from ocpp_fast.dispatch import CallContext
    from ocpp_fast.tolerance import Tolerance

_LAZY = frozenset({"codec", "errors", "frames", "v16", "v21", "v201"})
_FROM_MODEL = frozenset(
    {"dec_hook", "OcppStruct", "Request", "ResponseT", "SendRequest", "SentByCsms", "SentByStation"}
)


if not TYPE_CHECKING:  # a checker sees the names imported above, and no Any for any other

    def __getattr__(name: str) -> Any:
        """Import a version package or module on first use, keeping ``import ocpp_fast`` cheap."""
        from ocpp_fast._lazy import SHARED_EXPORTS  # here: `import ocpp_fast` loads nothing more

        if name in _FROM_MODEL:  # dec_hook: for msgspec users decoding a payload directly
            value = getattr(importlib.import_module("ocpp_fast._model"), name)
        elif name in SHARED_EXPORTS:
            value = getattr(importlib.import_module(SHARED_EXPORTS[name]), name)
        elif name in _LAZY:
            value = importlib.import_module(f"ocpp_fast.{name}")
        else:
            raise AttributeError(f"module 'ocpp_fast' has no attribute {name!r}")
        globals()[name] = value
        return value
