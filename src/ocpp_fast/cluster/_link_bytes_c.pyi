"""Types of the compiled twin: those of :mod:`ocpp_fast.cluster._link_bytes_py`."""

from ocpp_fast.cluster._link_bytes_py import (
    MSG_ID_HEAD,
    Ack,
    Reader,
    Stores,
    Writer,
    blake2b16,
    dedup_heads,
    dedup_key,
    event_body,
    event_head,
    hpub,
    pub,
    stamp,
    token_of,
)

__all__ = [
    "MSG_ID_HEAD",
    "Ack",
    "Reader",
    "Stores",
    "Writer",
    "blake2b16",
    "dedup_heads",
    "dedup_key",
    "event_body",
    "event_head",
    "hpub",
    "pub",
    "stamp",
    "token_of",
]
