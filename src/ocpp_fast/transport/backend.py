"""Which WebSocket library carries the frames: ``picows`` (Cython, on uvloop) or ``websockets``.

Both backends serve the same API (:func:`~ocpp_fast.transport.serve`,
:func:`~ocpp_fast.transport.connect`) and pass one test suite. ``picows`` is the
default where it is installed: a live socket costs several times less CPU per
message there. ``websockets`` stays selectable (``backend="websockets"``).
"""

from __future__ import annotations

import importlib.util
import os

__all__ = ["BACKENDS", "ENVIRONMENT", "available", "default_backend", "resolve"]

BACKENDS = ("picows", "websockets")


def available(name: str) -> bool:
    """Whether the library of backend ``name`` is installed."""
    if name == "websockets":
        return importlib.util.find_spec("websockets") is not None
    if name == "picows":
        return importlib.util.find_spec("picows") is not None
    return False


ENVIRONMENT = "OCPP_FAST_BACKEND"
"""Set to ``picows`` or ``websockets`` to choose the default without a code change."""


def default_backend() -> str:
    """``$OCPP_FAST_BACKEND`` if set, else ``picows`` where it is installed, else ``websockets``."""
    chosen = os.environ.get(ENVIRONMENT)
    if chosen:
        if chosen not in BACKENDS:
            raise ValueError(f"{ENVIRONMENT}={chosen!r}: choose among {', '.join(BACKENDS)}")
        return chosen
    return "picows" if available("picows") else "websockets"


def resolve(name: str | None) -> str:
    """The backend to use for ``name`` (``None``: the default); ValueError if unusable."""
    if name is None:
        return default_backend()
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose among {', '.join(BACKENDS)}")
    if not available(name):
        raise ValueError(f"the {name} backend is not available here")
    return name
