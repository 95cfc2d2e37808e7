"""What the server and the client do alike with a live WebSocket."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from websockets.asyncio.connection import Connection as WebSocket
from websockets.exceptions import ConnectionClosed

from ocpp_fast.aio import AsyncConnection

__all__ = ["pump", "text_sender"]


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
