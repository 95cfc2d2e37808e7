"""ocpp_fast: the whole OCPP model as msgspec Structs and a fast OCPP-J codec.

``import ocpp_fast`` is cheap: the version packages (``ocpp_fast.v201`` ...) and
the codec load on first access.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["__version__", "codec", "dec_hook", "errors", "frames", "v16", "v21", "v201"]

if TYPE_CHECKING:
    from ocpp_fast import codec, errors, frames, v16, v21, v201
    from ocpp_fast._model import dec_hook

_LAZY = frozenset({"codec", "errors", "frames", "v16", "v21", "v201"})


def __getattr__(name: str) -> Any:
    """Import a version package or module on first use, keeping ``import ocpp_fast`` cheap."""
    if name == "dec_hook":  # for msgspec users decoding a payload directly
        from ocpp_fast._model import dec_hook

        return dec_hook
    if name in _LAZY:
        module = importlib.import_module(f"ocpp_fast.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'ocpp_fast' has no attribute {name!r}")
