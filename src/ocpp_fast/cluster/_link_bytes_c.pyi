"""Types of the compiled twin: those of :mod:`ocpp_fast.cluster._link_bytes_py`."""

from ocpp_fast.cluster._link_bytes_py import (
    Reader,
    event_body,
    event_head,
    hpub,
    pub,
    stamp,
    token_of,
)

__all__ = ["Reader", "event_body", "event_head", "hpub", "pub", "stamp", "token_of"]
