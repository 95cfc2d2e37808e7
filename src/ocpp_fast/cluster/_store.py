"""A durable CALL's event and publish as bytes: the compiled twin (``_store_c``) where it
was built and allowed, else the pure one (``_store_py``), chosen as the codec's is
(``OCPP_FAST_NO_EXTENSIONS=1`` asks for the pure one)."""

from __future__ import annotations

from types import ModuleType

from ocpp_fast.cluster import _store_py
from ocpp_fast.codec import _compiled_allowed

__all__ = ["event_body", "event_head", "hpub", "implementation", "pub"]

implementation: ModuleType = _store_py
"""The twin in use."""
if _compiled_allowed():
    try:
        from ocpp_fast.cluster import _store_c
    except ImportError:
        pass
    else:
        implementation = _store_c

event_head = implementation.event_head
event_body = implementation.event_body
hpub = implementation.hpub
pub = implementation.pub
