"""What the server and the client do alike with a live WebSocket."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from websockets.asyncio.connection import Connection as WebSocket
from websockets.exceptions import ConnectionClosed
from websockets.frames import DATA_OPCODES, CloseCode, Frame, Opcode

from ocpp_fast.aio import AsyncConnection

__all__ = ["TextFramesOnly", "pump", "text_sender"]


class TextFramesOnly(WebSocket):
    """A websockets connection closing with 1003 at the peer's first binary frame: OCPP-J is
    text frames only, and websockets hands a binary message over as bytes, as a text one
    (``recv(decode=False)``), so the check sits where it sees the frame's opcode. What
    arrived with or after that frame is dropped. The server's socket and the station's link
    each say it in their own log (:meth:`say_binary_refused`)."""

    _refused_data = False

    def process_event(self, event: Any) -> None:
        if isinstance(event, Frame) and event.opcode in DATA_OPCODES:
            if self._refused_data:
                return  # the rest of what arrived with the binary frame
            if event.opcode is Opcode.BINARY:
                self._refused_data = True
                self.say_binary_refused()
                self.protocol.fail(CloseCode.UNSUPPORTED_DATA, "OCPP-J uses text frames only")
                self.send_data()
                return
        super().process_event(event)

    def say_binary_refused(self) -> None:
        """The WARNING of the binary frame refused, naming the station."""
        raise NotImplementedError


def text_sender(websocket: WebSocket) -> Callable[[bytes], Awaitable[None]]:
    """Send each frame as a WebSocket *text* message, as OCPP-J requires (the bytes are UTF-8).

    A closed socket raises ``ConnectionError``, as the picows backend's and every documented
    call path's: websockets' own ``ConnectionClosed`` would otherwise escape ``call()`` and
    ``server.call`` (which turns a ``ConnectionError`` into ``StationNotConnected``).
    """

    async def send(frame: bytes) -> None:
        try:
            await websocket.send(frame, text=True)
        except ConnectionClosed as exc:
            raise ConnectionError(f"the WebSocket is closed ({exc})") from exc

    return send


async def pump(websocket: WebSocket, connection: AsyncConnection) -> ConnectionClosed:
    """Feed every received message to ``connection`` until the WebSocket closes; what
    websockets raised then (its ``__cause__``: the transport's error, if one ended it).

    Messages are taken as bytes (``decode=False``): the codec checks UTF-8 itself
    and answers a bad frame with the error the spec names.
    """
    try:
        while True:
            await connection.receive(await websocket.recv(decode=False))
    except ConnectionClosed as closed:
        return closed
