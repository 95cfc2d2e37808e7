"""The bytes of the gateway's NATS link in pure Python: a durable CALL's event and the
publishes written, what nats-server sends read. The twin of
:mod:`ocpp_fast.cluster._link_bytes_c` (same functions and class, same bytes, same calls
in the same order; the tests run both).

A gateway stores every durable CALL before answering it: at a station's rate each
store runs cold, and building the event as a :class:`~ocpp_fast.cluster.wire.DurableEvent`
Struct, encoding it, then formatting the ``HPUB`` around it cost more than the
station's own CALL (see ``benchmarks/store_calls.py --instructions``). Here what stays
the same for a station's action is made once (:func:`event_head`) and each store only
adds its message id, the time and the station's payload.

Then the stream's ack comes back, each alone at a station's rate: the protocol line,
the payload, the request it answers and its future were a tenth of a durable CALL's
instructions in Python. :class:`Reader` parses ``MSG``/``HMSG`` and completes a plain
reply's future itself; everything else (a reply with headers, a subscription's
message, the control lines) goes to the link's and the connection's Python as before.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Protocol

import msgspec

from ocpp_fast._deferred import PENDING, Deferred

__all__ = [
    "Ack",
    "DEFAULT_MAX_PAYLOAD",
    "INBOX_SID",
    "MAX_CONTROL_LINE",
    "Reader",
    "Wire",
    "event_body",
    "event_head",
    "hpub",
    "pub",
    "stamp",
    "token_of",
]

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


def hpub(subject: bytes, prefix: bytes, token: int, head: bytes, data: bytes) -> bytes:
    """NATS's ``HPUB`` of ``data`` with the header block ``head``, its reply to
    ``<prefix><token>`` (request ``token`` of the link's inbox)."""
    return b"HPUB %b %b%d %d %d\r\n%b%b\r\n" % (
        subject,
        prefix,
        token,
        len(head),
        len(head) + len(data),
        head,
        data,
    )


def pub(subject: bytes, prefix: bytes, token: int, data: bytes) -> bytes:
    """NATS's ``PUB`` of ``data``, its reply to ``<prefix><token>``."""
    return b"PUB %b %b%d %d\r\n%b\r\n" % (subject, prefix, token, len(data), data)


MAX_CONTROL_LINE = 4096
"""Bytes of a protocol line (``MSG``, ``INFO``...) at most, as nats-server's default."""

DEFAULT_MAX_PAYLOAD = 1024 * 1024
"""Payload bytes at most until the server's INFO says otherwise (its own default)."""

INBOX_SID = b"1"
"""The inbox's subscription; those made by ``NatsLink.subscribe`` count on from 2."""


class Link(Protocol):
    """What the reader hands to the link (``NatsLink``)."""

    def _delivered(self, sid: bytes, data: bytes, reply: bytes) -> None: ...
    def _replied(self, subject: bytes, data: bytes, head: bytes | None) -> None: ...


class Wire(Protocol):
    """The connection the reader reads for (``_Wire``)."""

    link: Any

    def _control(self, op: bytes, rest: bytes, line: bytes) -> bool: ...
    def _protocol_error(self, what: str) -> None: ...


def token_of(subject: bytes, prefix: bytes) -> int:
    """The request number a reply subject ``<prefix><n>`` names; -1 when it names none."""
    tail = subject[len(prefix) :]
    if not subject.startswith(prefix) or not tail.isdigit() or len(tail) > 18:
        return -1
    return int(tail)


class Reader:
    """The bytes of one connection, read as they come (``feed``)."""

    def __init__(
        self,
        wire: Wire,
        waiting: dict[int, asyncio.Future[Any]],
        prefix: bytes,
        reply_type: type[Any],
    ) -> None:
        self.wire = wire
        self.link: Link = wire.link
        self.waiting = waiting
        """The link's requests waiting for their reply, by number (emptied in place only)."""
        self.prefix = prefix
        """The inbox's reply subjects start so: ``<prefix><n>`` is request n's."""
        self.reply_type = reply_type
        self.max_payload = DEFAULT_MAX_PAYLOAD
        """Payload bytes at most (the server's INFO says)."""
        self._buf = bytearray()
        self._need = 0
        """Bytes of the message being read (payload and its CRLF); 0 while reading a line."""
        self._subject = b""
        self._sid = b""
        self._reply = b""
        self._head_len = -1

    @property
    def buffered(self) -> int:
        """Bytes read and not yet acted on (a line or a message not complete)."""
        return len(self._buf)

    def reset(self) -> None:
        """Forget what was read (the connection is being dropped): a ``feed`` running stops."""
        self._buf = bytearray()
        self._need = 0

    def feed(self, data: bytes) -> None:
        """Read ``data``: each message and line complete in it is acted on, in order."""
        buf = self._buf
        buf += data
        pos, end = 0, len(buf)
        while pos < end:
            need = self._need
            if need:
                stop = pos + need
                if stop > end:
                    break
                if buf[stop - 2 : stop] != b"\r\n":
                    return self.wire._protocol_error("a message not ended by CRLF")
                payload = bytes(buf[pos : stop - 2])
                head_len = self._head_len
                self._need = 0
                pos = stop
                if self._sid != INBOX_SID:
                    self.link._delivered(
                        self._sid, payload[head_len:] if head_len > 0 else payload, self._reply
                    )
                elif head_len < 0:
                    self._replied(self._subject, payload)
                else:
                    self.link._replied(self._subject, payload[head_len:], payload[:head_len])
                if self._buf is not buf:  # reset meanwhile
                    return None
                continue
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                if end - pos > MAX_CONTROL_LINE:
                    return self.wire._protocol_error("a protocol line too long")
                break
            line = bytes(buf[pos:eol])
            pos = eol + 2
            if not self._line(line) or self._buf is not buf:
                return None
        del buf[:pos]
        return None

    def _replied(self, subject: bytes, data: bytes) -> None:
        """A reply without headers: its request's future done (one expired, or whose waiter
        cancelled it, or not ours: dropped; its deadline is left to the link's sweep)."""
        reply_to = self.waiting.pop(token_of(subject, self.prefix), None)
        if reply_to is not None and not reply_to.done():
            reply_to.set_result(self.reply_type(data))

    def _line(self, line: bytes) -> bool:
        """Act on one protocol line; False when the connection is being dropped."""
        op, _, rest = line.partition(b" ")
        op = op.upper()
        if op != b"MSG" and op != b"HMSG":
            return self.wire._control(op, rest, line)
        try:
            parts = rest.split()
            total = int(parts[-1])
            head_len = int(parts[-2]) if op == b"HMSG" else -1
            bad_head = head_len > total or (op == b"HMSG" and head_len < 0)
            if total > self.max_payload or bad_head:
                self.wire._protocol_error(f"a message of {total} bytes")
                return False
            self._subject, self._sid, self._head_len = parts[0], parts[1], head_len
        except (ValueError, IndexError):
            self.wire._protocol_error(f"a malformed line {line[:40]!r}")
            return False
        # MSG <subject> <sid> [reply] <size>; HMSG ... [reply] <head size> <size>
        with_reply = len(parts) == (4 if head_len < 0 else 5)
        self._reply = parts[2] if with_reply else b""
        self._need = total + 2
        return True


class Ack(Deferred[Any]):
    """A store's reply to come, completed by the reader as the reply is read: its done
    callbacks run then, inside ``data_received`` (the gated CALL's answer written in that
    same turn), where an ``asyncio.Future`` schedules each with ``call_soon`` (a ``Handle``
    made, queued and run a turn later: with the future itself, about an eighth of a durable
    CALL's instructions). A :class:`~ocpp_fast._deferred.Deferred` (so anything that takes
    one takes it: the connection, ``pass_on``, ``await``) whose callbacks cannot break the
    reader: what one raises goes to the loop's exception handler, as asyncio does with a
    future's; one added once it is done is called soon, on its own loop (asyncio's rule,
    without asking asyncio for the running loop)."""

    __slots__ = ("_loop",)

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._loop = loop

    def add_done_callback(self, callback: Any) -> None:
        """Call ``callback(self)`` once done: as it completes, or soon if it is done."""
        if self._state != PENDING:
            self._loop.call_soon(callback, self)
        elif self._callbacks is None:
            self._callbacks = [callback]
        else:
            self._callbacks.append(callback)

    def _call_back(self, callbacks: list[Any]) -> None:
        for callback in callbacks:
            try:
                callback(self)
            except Exception as exc:
                self._loop.call_exception_handler(
                    {"message": "a store's ack callback failed", "exception": exc}
                )
