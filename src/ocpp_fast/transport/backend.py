"""Which WebSocket library carries the frames: ``picows`` (Cython, on uvloop) or ``websockets``.

Both backends serve the same API (:func:`~ocpp_fast.transport.serve`,
:func:`~ocpp_fast.transport.connect`) and pass one test suite. ``picows`` is the
default where it is installed: a live socket costs several times less CPU per
message there. ``websockets`` stays selectable (``backend="websockets"``).
"""

from __future__ import annotations

import os

from ocpp_fast._extras import installed, missing

__all__ = ["BACKENDS", "ENVIRONMENT", "available", "default_backend", "resolve"]

BACKENDS = ("picows", "websockets")


def available(name: str) -> bool:
    """Whether the library of backend ``name`` is installed."""
    return name in BACKENDS and installed(name)


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
    """The backend to use for ``name`` (``None``: the default).

    ValueError for an unknown name; :class:`~ocpp_fast._extras.MissingExtra` (an
    ImportError naming the ``pip install`` to run) when its library is not installed.
    """
    chosen = default_backend() if name is None else name
    if chosen not in BACKENDS:
        raise ValueError(f"unknown backend {chosen!r}; choose among {', '.join(BACKENDS)}")
    if not available(chosen):
        if name is None:  # neither library: the fast one is the one to install
            raise missing("picows", "no WebSocket library is installed; the fast backend")
        raise missing(chosen, f"the {chosen} backend (not available here)")
    return chosen
