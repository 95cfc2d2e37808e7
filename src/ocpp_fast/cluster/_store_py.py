"""A durable CALL's event and its publish as bytes, in pure Python: the twin of
:mod:`ocpp_fast.cluster._store_c` (same functions, same bytes; the tests run both).

A gateway stores every durable CALL before answering it: at a station's rate each
store runs cold, and building the event as a :class:`~ocpp_fast.cluster.wire.DurableEvent`
Struct, encoding it, then formatting the ``HPUB`` around it cost more than the
station's own CALL (see ``benchmarks/store_calls.py --instructions``). Here what stays
the same for a station's action is made once (:func:`event_head`) and each store only
adds its message id, the time and the station's payload.
"""

from __future__ import annotations

import time

import msgspec

__all__ = ["event_body", "event_head", "hpub", "pub", "stamp"]

_encode = msgspec.json.Encoder().encode


def event_head(identity: str, action: str, version: str, node: str) -> bytes:
    """The fields of a station's action's events that do not change, up to ``"message_id":``
    (a :class:`~ocpp_fast.cluster.wire.DurableEvent`'s, in an order of their own: the
    decoder reads them by name)."""
    return b'{"identity":%b,"action":%b,"version":%b,"node":%b,"message_id":' % (
        _encode(identity),
        _encode(action),
        _encode(version),
        _encode(node),
    )


_BEYOND = 2**63
_made: list[tuple[int, bytes]] = [(-1, b"")]
"""The second :func:`stamp` last formatted, and its ``,"received_at":"<date>T<time>``."""


def stamp(nanos: int) -> bytes:
    """``,"received_at":"YYYY-MM-DDTHH:MM:SS.ffffffZ","payload":`` for ``nanos`` since the
    epoch (UTC, microseconds, always six digits); the date and time made once a second.
    (RFC 3339, as :class:`~ocpp_fast.cluster.wire.DurableEvent`'s ``received_at`` decodes.)"""
    if not -_BEYOND <= nanos < _BEYOND:  # as the compiled twin's C integer
        raise OverflowError(f"{nanos} ns: beyond 64 bits")
    second, rest = divmod(nanos, 1_000_000_000)
    made = _made[0]
    if made[0] != second:
        made = _made[0] = (
            second,
            b',"received_at":"%04d-%02d-%02dT%02d:%02d:%02d' % time.gmtime(second)[:6],
        )
    return b'%b.%06dZ","payload":' % (made[1], rest // 1000)


def event_body(head: bytes, message_id: str, nanos: int, payload: bytes) -> bytes:
    """The event of one durable CALL: ``head`` (:func:`event_head`), its message id, the
    time it was received (``nanos``), the station's payload as it sent it."""
    return b"".join((head, _encode(message_id), stamp(nanos), payload, b"}"))


def hpub(subject: bytes, reply: bytes, head: bytes, data: bytes) -> bytes:
    """NATS's ``HPUB`` of ``data`` with the header block ``head``, its reply to ``reply``."""
    return b"HPUB %b %b %d %d\r\n%b%b\r\n" % (
        subject,
        reply,
        len(head),
        len(head) + len(data),
        head,
        data,
    )


def pub(subject: bytes, reply: bytes, data: bytes) -> bytes:
    """NATS's ``PUB`` of ``data``, its reply to ``reply``."""
    return b"PUB %b %b %d\r\n%b\r\n" % (subject, reply, len(data), data)
