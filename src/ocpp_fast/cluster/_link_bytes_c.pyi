"""Types of the compiled twin: those of :mod:`ocpp_fast.cluster._link_bytes_py`."""

from ocpp_fast.cluster._link_bytes_py import (
    Ack,
    Reader,
    event_body,
    event_head,
    hpub,
    pub,
    stamp,
    token_of,
)

__all__ = ["Ack", "Reader", "event_body", "event_head", "hpub", "pub", "stamp", "token_of"]
