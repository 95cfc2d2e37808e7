"""What the server and the client do alike with a picows WebSocket: messages in and out.

picows calls back once per *frame*, synchronously, from its Cython parser. This
listener turns frames into OCPP-J messages (reassembling fragments, inflating
permessage-deflate, refusing binary data with 1003 and anything over
``max_size`` with 1009) and feeds each to :meth:`AsyncConnection.feed` on the
spot: a plain handler is answered before the callback returns, with no task
and no copy but the payload's. When the connection's handler bound is reached,
reading pauses at the socket until a handler finishes.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable
from typing import Any

from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport

from ocpp_fast._fastpath import compiled_twin, install_compiled
from ocpp_fast.aio import AsyncConnection
from ocpp_fast.transport.deflate import MessageDeflate, MessageTooBig

__all__ = ["OcppListener"]

log = logging.getLogger("ocpp_fast.transport")

_TEXT = WSMsgType.TEXT
_CONTINUATION = WSMsgType.CONTINUATION
_CLOSE = WSMsgType.CLOSE
_BINARY = WSMsgType.BINARY
_PING = WSMsgType.PING
PAUSE_AFTER = 16
"""CALLs waiting for a handler slot before the socket stops being read (each at most
``max_size`` bytes): the same bound as websockets' receive queue."""
COMPRESS_FROM = 128
"""Messages shorter than this go out uncompressed (RFC 7692 lets each message choose):
deflating a 60-byte answer costs more CPU than the bytes it saves."""


class OcppListener(WSListener):
    """One WebSocket carrying OCPP-J: frames to messages to the connection, and back.

    The owner gives it its :class:`AsyncConnection` with :meth:`attach`, in or after
    ``on_ws_connected``: a station only makes its connection once ``ws_connect``
    returns, and a CSMS may send a CALL the moment the station appears, in the same
    read as the 101 answer. Messages that arrive before :meth:`attach` are kept (reading
    pauses once ``PAUSE_AFTER`` wait) and fed to the connection when it comes, so none is
    lost for want of it. The callbacks in ``gone`` run once the socket is closed.
    """

    __slots__ = (
        "__dict__",
        "_compressed",
        "_deflate",
        "_early",
        "_fragments",
        "_max_size",
        "_on_refused",
        "_refusing",
        "_unread_output",
        "aborted",
        "connection",
        "gone",
        "quiet",
        "transport",
    )
    """Its attributes in slots (a ``__dict__`` kept for a subclass's own): the compiled path
    (``_dispatch_c.listener_frame`` and ``listener_write``) reads those it needs per message
    at their offsets, not by a look-up of the type. A type look-up goes through CPython's
    type cache, a table of 4,096 entries indexed by the type's version and the name's
    address: two hot look-ups that share an entry evict each other on every message (a
    gateway's process had four such pairs, two of them this listener's: its ``transport`` and
    its ``_unread_output`` each other, its ``_deflate`` and ``datetime.now``; about 640
    instructions a message in all)."""

    def __init__(
        self,
        *,
        max_size: int,
        deflate: MessageDeflate | None,
        unread_output: int,
        on_refused: Callable[[str, str], None] | None = None,
    ) -> None:
        super().__init__()
        self.transport: WSTransport | None = None
        self.connection: AsyncConnection | None = None
        self._max_size = max_size
        self._deflate = deflate
        self._unread_output = unread_output
        self._on_refused = on_refused
        self._fragments: bytearray | None = None
        self._compressed = False
        self._refusing = False
        self.quiet = 0
        """Ticks of a keepalive sweep since the last frame arrived: every frame resets it
        (the server's keepalive counts it up; a client leaves it to picows' own)."""
        self.gone: list[Callable[[], Any]] = []
        """Called once the socket is closed."""
        self._early: list[bytes] | None = []
        """Messages received before :meth:`attach`; ``None`` once attached or detached."""
        self.aborted: str | None = None
        """Why we aborted the socket (no close frame goes out then), if we did: the
        "disconnected" line says it. picows hands the transport's own error to no one."""

    def attach(self, connection: AsyncConnection) -> None:
        """Carry ``connection`` from now on, first feeding it what arrived before it."""
        early, self._early = self._early, None
        self.connection = connection
        for message in early or ():
            self._deliver(message)
        if early and connection.waiting < PAUSE_AFTER:
            self.resume()  # reading paused while the early messages waited

    def detach(self) -> None:
        """Carry no connection any more: what arrives from now on is dropped (closing)."""
        self._early = None
        self.connection = None

    # --- wiring -------------------------------------------------------------------------------

    def write(self, frame: bytes) -> None:
        """Send one OCPP-J message as a text frame (compressed where agreed and worth it).

        Each answer goes through here: with the compiled path built, ``_dispatch_c``'s
        ``listener_write`` takes this method's place, the same steps without a Python
        frame; this method is its pure twin."""
        transport = self.transport
        if transport is None:
            return
        deflate = self._deflate
        if deflate is not None and len(frame) >= COMPRESS_FROM:
            transport.send(_TEXT, deflate.compress(frame), True, True)
        else:
            transport.send(_TEXT, frame)

    def resume(self) -> None:
        """The connection's backlog is gone: read again."""
        transport = self.transport
        if transport is not None and not transport.is_disconnected:
            transport.underlying_transport.resume_reading()

    def start_close(self, code: int, reason: str) -> None:
        """Start the closing handshake (picows disconnects when the peer answers)."""
        transport = self.transport
        if transport is not None and not transport.is_disconnected:
            transport.send_close(WSCloseCode(code), reason.encode())
            transport.disconnect()

    # --- picows callbacks -----------------------------------------------------------------------

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        callbacks, self.gone = self.gone, []
        for callback in callbacks:
            callback()

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        """One frame from picows: a whole text frame fed to the connection at once.

        Every message comes through here: with the compiled path built,
        ``_dispatch_c``'s ``listener_frame`` takes this method's place, the same steps
        in the same order without a Python frame; this method is its pure twin, and
        both leave every frame but a whole uncompressed text one to :meth:`_other_frame`.
        """
        self.quiet = 0
        if self._refusing:
            return  # the rest of what arrived with a frame we refused
        socket = transport.underlying_transport
        if socket.get_write_buffer_size() > self._unread_output:
            self._abort_unread(socket)
            return
        kind = frame.msg_type
        if kind is _TEXT and frame.fin and not frame.rsv1 and self._fragments is None:
            # the hot path, one whole text frame: _deliver's steps without its call
            connection = self.connection
            if connection is None:
                self._keep_early(frame.get_payload_as_bytes())
            elif not connection.feed(frame.get_payload_as_bytes()):
                self._over_bound(connection)
        else:
            self._other_frame(transport, frame, kind)

    def _abort_unread(self, socket: Any) -> None:
        """The peer leaves our answers unread past the cap: refused, the socket aborted."""
        why = f"over {self._unread_output} bytes unread"
        self.aborted = f"aborted by us: {why}"
        self._refuse("unread output", why)
        socket.abort()

    def _other_frame(self, transport: WSTransport, frame: WSFrame, kind: WSMsgType) -> None:
        """A frame of :meth:`on_ws_frame` other than a whole uncompressed text frame."""
        if kind is _TEXT or kind is _CONTINUATION:
            self._fragment(frame, kind)
        elif kind is _PING:
            transport.send_pong(frame.get_payload_as_bytes())  # here, so the cap above applies
        elif kind is _CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()
        elif kind is _BINARY:
            self._refuse("binary frame", "closing with 1003: a binary frame")
            self.start_close(1003, "OCPP-J uses text frames only")
        # a PONG needs nothing more: arriving, it reset ``quiet`` (on a client, picows'
        # keepalive takes it before we see it)

    def _fragment(self, frame: WSFrame, kind: WSMsgType) -> None:
        if kind is _TEXT:
            if self._fragments is not None:
                self._refuse("protocol", "a new message began inside a fragmented one")
                self.start_close(1002, "unfinished fragmented message")
                return
            self._fragments = bytearray()
            self._compressed = frame.rsv1
        elif self._fragments is None:
            self._refuse("protocol", "a continuation frame without a message")
            self.start_close(1002, "continuation without a message")
            return
        parts = self._fragments
        parts += frame.get_payload_as_memoryview()
        if len(parts) > self._max_size:
            self._fragments = None
            why = f"a message over {self._max_size} bytes"
            self._refuse("message size", why)
            self.start_close(1009, why)
            return
        if not frame.fin:
            return
        self._fragments = None
        message = self._inflate(parts) if self._compressed else bytes(parts)
        if message is not None:
            self._deliver(message)

    def _inflate(self, payload: bytearray) -> bytes | None:
        """The message a compressed payload holds; None when the connection is refused."""
        deflate = self._deflate
        if deflate is None:
            self._refuse("protocol", "a compressed message without permessage-deflate")
            self.start_close(1002, "RSV1 set without permessage-deflate")
            return None
        try:
            return deflate.decompress(payload, self._max_size)
        except MessageTooBig:
            why = f"a message inflating over {self._max_size} bytes"
            self._refuse("message size", why)
            self.start_close(1009, why)
        except zlib.error:
            self._refuse("protocol", "corrupt compressed data")
            self.start_close(1007, "corrupt compressed data")
        return None

    def _deliver(self, message: bytes) -> None:
        connection = self.connection
        if connection is None:
            self._keep_early(message)
            return
        if not connection.feed(message):
            self._over_bound(connection)

    def _over_bound(self, connection: AsyncConnection) -> None:
        # Over the handler bound: the CALL waits. Reading goes on for a few more, as
        # websockets' receive queue does, so a station that leaves is still seen leaving;
        # past PAUSE_AFTER, the socket stops being read until a handler finishes.
        transport = self.transport
        if transport is not None and connection.waiting >= PAUSE_AFTER:
            transport.underlying_transport.pause_reading()

    def _keep_early(self, message: bytes) -> None:
        early = self._early
        if early is None:
            return  # detached: the socket is closing
        early.append(message)
        transport = self.transport
        if transport is not None and len(early) >= PAUSE_AFTER:
            transport.underlying_transport.pause_reading()

    def _refuse(self, kind: str, why: str) -> None:
        self._refusing = True
        if self._on_refused is not None:
            self._on_refused(kind, why)
        else:
            log.warning("closing the connection: %s", why)


def _install_compiled() -> None:
    """With the compiled path built, its twins of :meth:`OcppListener.on_ws_frame` and
    :meth:`OcppListener.write` take their places (given picows' constants first:
    ``_dispatch_c`` cannot import picows, an optional extra)."""
    use_picows = compiled_twin("use_picows")
    if use_picows is not None:
        use_picows(_TEXT, COMPRESS_FROM)
        install_compiled(OcppListener, "on_ws_frame", "listener_frame")
        install_compiled(OcppListener, "write", "listener_write")


_install_compiled()
