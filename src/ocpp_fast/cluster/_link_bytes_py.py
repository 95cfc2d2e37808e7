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

What was left of a store's Python per CALL (the relay's ``start_store`` and ``stored``,
the dedup id, the link's request and write: a third of a durable CALL's instructions) is
:class:`Stores` and :class:`Writer`: in the compiled twin one C call from the station's
frame to the buffered publish, and one from the ack's read to the user's handler, the
dedup id hashed by its own BLAKE2b (``hashlib``'s call cost more than a short key's hash).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from functools import partial
from typing import Any, Protocol

import msgspec

from ocpp_fast._deferred import PENDING, Deferred

__all__ = [
    "Ack",
    "DEFAULT_MAX_PAYLOAD",
    "GATHER_AT_MOST",
    "GATHER_UP_TO",
    "WRITE_AT_ONCE_BELOW",
    "INBOX_SID",
    "MAX_CONTROL_LINE",
    "MSG_ID_HEAD",
    "Reader",
    "Stores",
    "Wire",
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
        waiting: dict[int, Any],
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
        cancelled it, or not ours: dropped; its deadline is left to the link's sweep). A
        store's :class:`Ack` gets the reply's bytes as they are, a future a ``reply_type``
        made of them (a store's ack is only ever decoded: :meth:`Stores.check`)."""
        reply_to = self.waiting.pop(token_of(subject, self.prefix), None)
        if reply_to is not None and not reply_to.done():
            reply_to.set_result(data if type(reply_to) is Ack else self.reply_type(data))

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


WRITE_AT_ONCE_BELOW = 4
"""Requests waiting (the one being sent included) under which a publish is written at once."""

GATHER_UP_TO = 64 * 1024
"""Bytes gathered under a write window (``NatsLink(write_window=...)``) that are written at
once, without waiting for the window's end."""

GATHER_AT_MOST = 32
"""Writes gathered under a write window that are written at once: past a few tens sharing
one write, waiting longer saves little CPU, and each waiting store's station waits for it
(at a high rate the window would otherwise hold each store its full length)."""


class Writer:
    """What one connection of the link writes (its ``_Wire``'s ``writer``): every publish
    goes through :meth:`send` (a durable CALL's in the compiled twin a C call from
    :class:`Stores`, no Python frame).

    ``waiting`` is the link's requests waiting (how many decides whether a publish leaves
    at once), ``window`` its write window, ``link`` what counts the writes that ended a
    window (``window_writes``)."""

    def __init__(
        self,
        link: Any,
        loop: asyncio.AbstractEventLoop,
        waiting: dict[int, Any],
        window: float,
    ) -> None:
        self.link = link
        self.loop = loop
        self.window = window
        """Seconds a gathered publish waits for others (the link's ``write_window``)."""
        self.transport: Any = None
        """The connection's transport, once made (replaced by TLS's)."""
        self._waiting = waiting
        self._out: list[bytes] = []
        self._out_bytes = 0
        self._windowed = False
        """Whether what ``_out`` holds waits for the write window (else for the loop's turn)."""
        self._flusher: asyncio.TimerHandle | asyncio.Handle | None = None

    @property
    def held(self) -> int:
        """Publishes buffered, not written yet."""
        return len(self._out)

    def send(self, data: bytes, gather: bool = False) -> None:
        """Write ``data`` now while few requests wait; else buffer it, so that what this
        event-loop iteration sends goes in one write; under a write window, buffer it
        (``gather``: a durable CALL's store) until the window ends (or :data:`GATHER_UP_TO`
        bytes, or :data:`GATHER_AT_MOST` writes, wait). A write that may not wait (a routed
        call's outcome, a worker request, a registry line, a PONG) takes what the window
        holds with it, in one write.

        A buffered write costs a turn of the loop (``call_soon``) before it leaves: at a
        moderate rate, where each durable CALL's publish is alone in its iteration, that
        turn was a wake-up more per CALL for nothing to share. Under load many requests
        wait and their publishes share writes again. A window makes them share at a
        moderate rate too: one write for the publishes of the window, and their acks,
        which nats-server sends as they come, mostly read together in one wake-up.
        """
        out = self._out
        if out:
            out.append(data)
            self._out_bytes += len(data)
            if self._out_bytes >= GATHER_UP_TO or (
                self._windowed and (not gather or len(out) >= GATHER_AT_MOST)
            ):
                self.flush()
            return
        window = self.window
        if window > 0 and gather:
            out.append(data)
            self._out_bytes = len(data)
            self._windowed = True
            self._flusher = self.loop.call_later(window, self.flush)
            return
        if len(self._waiting) < WRITE_AT_ONCE_BELOW:
            transport = self.transport
            if transport is not None and not transport.is_closing():
                transport.write(data)
            return
        out.append(data)
        self._out_bytes = len(data)
        self._flusher = self.loop.call_soon(self.flush)

    def flush(self) -> None:
        """Write what :meth:`send` buffered, in one write of one bytes object: the compiled
        twin writes each publish straight into that object as it is sent (no bytes per
        publish, no copy at the flush: see its ``Writer``), so the transport is handed the
        same here, joined."""
        if self._flusher is not None:
            self._flusher.cancel()  # a no-op when it is the one running
            self._flusher = None
        out, self._out = self._out, []
        self._out_bytes = 0
        if self._windowed:
            self.link.window_writes += 1
        self._windowed = False
        transport = self.transport
        if out and transport is not None and not transport.is_closing():
            transport.write(out[0] if len(out) == 1 else b"".join(out))

    def stop(self) -> None:
        """The connection is lost: what is buffered is not written."""
        if self._flusher is not None:
            self._flusher.cancel()
            self._flusher = None


def blake2b16(data: bytes) -> str:
    """BLAKE2b of ``data``, 16 bytes, as hex: hashlib's (the compiled twin computes it itself,
    RFC 7693, where hashlib's call cost more than the hash of a short key)."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def dedup_key(heads: tuple[bytes, bytes], action: str, request: Any, payload: bytes) -> str:
    """The ``Nats-Msg-Id`` of a durable CALL from its station's ``heads``
    (:func:`dedup_heads`): the key ``tx``, identity, transaction id, seqNo (a 2.x
    TransactionEvent's, whatever its message id: a station resends with a new id after a
    reconnect) or identity, action, payload, NUL between them, hashed (the same ids as ever:
    gateways of two releases side by side drop each other's repeats)."""
    if action == "TransactionEvent":
        info = getattr(request, "transaction_info", None)
        seq_no = getattr(request, "seq_no", None)
        if info is not None and seq_no is not None:
            key = b"%b%b\0%d" % (heads[0], info.transaction_id.encode(), seq_no)
            return blake2b16(key)
    return blake2b16(heads[1] + payload)


def dedup_heads(identity: str, action: str) -> tuple[bytes, bytes]:
    """The first bytes of :func:`dedup_key`'s hashed key, a TransactionEvent's and any other
    action's: what stays the same for a station's action (made once per station and action)."""
    station = identity.encode()
    return b"tx\0" + station + b"\0", station + b"\0" + action.encode() + b"\0"


MSG_ID_HEAD = b"NATS/1.0\r\nNats-Msg-Id: "
"""The header block of a store's ``HPUB`` up to its dedup id (then ``\\r\\n\\r\\n``)."""


class Stores:
    """A gateway's durable CALLs sent to the events stream: what the relay did per CALL in
    Python (the station's action's parts made once, the dedup id, the event's bytes, the
    ``HPUB`` and the request waiting for its ack), one call here (and one C call in the
    compiled twin: at a station's rate every store runs cold, and its Python frames were
    a third of a durable CALL's instructions). ``start`` and ``check`` are the
    :class:`~ocpp_fast._fastpath.Gate`'s steps as they are.

    ``relay`` is the :class:`~ocpp_fast.cluster.relay.Relay` it stores for: what is rare
    goes back to it (the running loop asked for once per loop, a failure logged, the
    stores over nats-py when the link is not in use); per store, that loop is only asked
    whether it still runs, by its ``is_running`` kept bound (looked up per store, it was
    a tenth of the compiled store's start). The store timeout is read once (the
    relay's setter tells). What a station's action's stores share is kept for ``bound``
    stations (emptied when full: a station's few durable actions each)."""

    def __init__(self, relay: Any, ack_decoder: Any, bound: int = 65536) -> None:
        self.relay = relay
        self.count: int = 0
        """Durable CALLs sent (``Relay.stores``)."""
        self.timeout: float = float(relay.store_timeout)
        self.bound = bound
        self._names = relay.names
        self._node = relay.node
        self._decode = ack_decoder.decode
        self._kept: dict[str, dict[str, tuple[str, str, bytes, bytes, tuple[bytes, bytes]]]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_running: Callable[[], bool] = bool  # (never called while _loop is None)
        self._link: Any = None

    @property
    def stations(self) -> int:
        """Stations whose stores' parts are kept made."""
        return len(self._kept)

    def attach(self, link: Any) -> None:
        """Store over ``link`` (a ``NatsLink``, attached), or over the relay's ``replies``
        (``None``). (The compiled twin reads here once what the link never replaces, its
        waiting requests, request numbers, deadlines, inbox and loop, to make the link's
        request itself; this one asks the link.)"""
        self._link = link

    def _made(
        self, identity: str, action: str, label: str
    ) -> tuple[str, str, bytes, bytes, tuple[bytes, bytes]]:
        """What stays the same between the stores of a station's action (its version
        ``label`` is the station's now: a station may come back speaking another)."""
        kept = self._kept
        actions = kept.get(identity)
        if actions is None:
            if len(kept) >= self.bound:
                kept.clear()
            actions = kept[identity] = {}
        subject = self._names.event(identity, action)
        made = actions[action] = (
            label,
            subject,
            subject.encode(),
            event_head(identity, action, label, self._node),
            dedup_heads(identity, action),
        )
        return made

    def starter(self, version: Any) -> Callable[[str, Any, bytes, Any], Any]:
        """:meth:`start` of ``version``'s CALLs, as a :class:`~ocpp_fast._fastpath.Gate`
        takes it (the compiled twin's is a ``GateStart`` the compiled dispatch path calls in
        C, its ack completing the gated CALL by a C call)."""
        return partial(self.start, version)

    def start(self, version: Any, action: str, request: Any, payload: bytes, context: Any) -> Any:
        """Send a durable CALL to the stream: its ack to come (``Relay.start_store``). An
        action not a ``str`` is the caller's mistake: a TypeError, before anything is counted."""
        if type(action) is not str:
            raise TypeError(f"a store's action is a str, not {type(action).__name__}")
        if self._loop is None or not self._loop_running():
            loop = self.relay._attached_loop()
            self._loop_running = loop.is_running  # the bound method, looked up once per loop
            self._loop = loop
        identity = context.identity
        label = version.label
        self.count += 1
        try:
            actions = self._kept.get(identity)
            made = None if actions is None else actions.get(action)
            if made is None or made[0] != label:
                made = self._made(identity, action, label)
            msg_id = dedup_key(made[4], action, request, payload)
            body = event_body(made[3], context.message_id, time.time_ns(), payload)
            if self._link is None:
                return self.relay.replies.request(
                    made[1], body, self.timeout, {"Nats-Msg-Id": msg_id}, gather=True
                )
            head = MSG_ID_HEAD + msg_id.encode() + b"\r\n\r\n"
            return self._link.request_bytes(made[2], body, self.timeout, head, True, True)
        except Exception as exc:
            raise self.relay._not_stored(exc, action, context) from None

    def check(self, ack: Any, action: str, context: Any) -> None:
        """The end of :meth:`start`, ``ack`` done: the relay's failure (logged) unless the
        stream took the event (``Relay.stored``)."""
        try:
            reply = ack.result()
            stored = self._decode(reply if type(reply) is bytes else reply.data)
            if stored.error is not None or not stored.stream:
                self.relay._refused(reply)
        except Exception as exc:
            raise self.relay._not_stored(exc, action, context) from None
