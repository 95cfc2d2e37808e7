"""The bytes of the NATS link (a durable CALL's store, its event, the publishes and their
writes, what the server sends read): the compiled twin (``_link_bytes_c``) where it was
built and allowed, else the pure one (``_link_bytes_py``), chosen as the codec's is
(``OCPP_FAST_NO_EXTENSIONS=1`` asks for the pure one)."""

from __future__ import annotations

from types import ModuleType

from ocpp_fast.cluster import _link_bytes_py
from ocpp_fast.codec import _compiled_allowed

__all__ = [
    "Ack",
    "Reader",
    "Stores",
    "Writer",
    "dedup_key",
    "event_body",
    "event_head",
    "hpub",
    "implementation",
    "pub",
]

implementation: ModuleType = _link_bytes_py
"""The twin in use."""
if _compiled_allowed():
    try:
        from ocpp_fast.cluster import _link_bytes_c
    except ImportError:
        pass
    else:
        implementation = _link_bytes_c

event_head = implementation.event_head
event_body = implementation.event_body
hpub = implementation.hpub
pub = implementation.pub
Reader = implementation.Reader
Ack = implementation.Ack
Stores = implementation.Stores
Writer = implementation.Writer
dedup_key = implementation.dedup_key
