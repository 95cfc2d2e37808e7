"""A station's link to its CSMS on the ``websockets`` library."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import InvalidHandshake, InvalidStatus
from websockets.typing import Subprotocol

from ocpp_fast.aio import AsyncConnection
from ocpp_fast.dispatch import OcppHandler
from ocpp_fast.transport._link import CloseFrames, HandshakeFailed, LinkOptions, telling_async
from ocpp_fast.transport._wire import TextFramesOnly, pump, text_sender
from ocpp_fast.transport.library_logs import websockets_log

__all__ = ["WebsocketsLink", "open_websockets"]

log = logging.getLogger("ocpp_fast.transport")


class _CsmsSocket(TextFramesOnly, ClientConnection):
    """websockets' client connection, refusing a binary frame from the CSMS as the picows
    link and both servers refuse a station's (:class:`~._wire.TextFramesOnly`): the station
    closes with 1003 and says so in one WARNING naming itself (it answered the frame)."""

    identity = "?"
    """The station, for the log (``LinkOptions.identity``, set as the socket is made)."""

    def say_binary_refused(self) -> None:
        log.warning("%s: closing with 1003: a binary frame", self.identity)


class WebsocketsLink:
    """A ``websockets`` client connection carrying OCPP-J."""

    def __init__(self, websocket: ClientConnection) -> None:
        self._websocket = websocket
        self._connection: AsyncConnection | None = None
        self._lost: BaseException | None = None

    @property
    def subprotocol(self) -> str | None:
        return self._websocket.subprotocol

    @property
    def compressed(self) -> bool:
        return any(e.name == "permessage-deflate" for e in self._websocket.protocol.extensions)

    def connection_for(
        self, handler: OcppHandler, identity: str, on_sent: Callable[[int], None]
    ) -> AsyncConnection:
        send = telling_async(text_sender(self._websocket), on_sent)
        self._connection = AsyncConnection(handler, send, identity=identity)
        return self._connection

    async def run(self) -> None:
        assert self._connection is not None
        try:
            closed = await pump(self._websocket, self._connection)
        except asyncio.CancelledError:
            # The session cancelled, not closed: drop the socket, as on picows. websockets
            # leaves it open otherwise, and the CSMS sees the station connected until its
            # pings go unanswered.
            self._websocket.transport.abort()
            raise
        self._lost = None if closed is None else closed.__cause__  # the transport's error

    def lost_to(self) -> BaseException | None:
        return self._lost

    def seen_off(self) -> None:
        pass  # nothing waits for the station's side of a socket

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self._websocket.close(code, reason)

    def close_frames(self) -> CloseFrames:
        protocol = self._websocket.protocol
        got, gave = protocol.close_rcvd, protocol.close_sent
        return (
            None if got is None else (got.code, got.reason),
            None if gave is None else (gave.code, gave.reason),
            bool(protocol.close_rcvd_then_sent),
        )


async def open_websockets(url: str, options: LinkOptions) -> WebsocketsLink:
    """Open the WebSocket (permessage-deflate offered if asked; keepalive pings)."""
    try:
        websocket = await ws_connect(
            url,
            subprotocols=[Subprotocol(name) for name in options.subprotocols],
            additional_headers=dict(options.headers),
            ssl=options.ssl,
            compression="deflate" if options.compression else None,
            ping_interval=options.ping_interval,
            ping_timeout=options.ping_interval,
            max_size=options.max_size,
            logger=websockets_log,
            create_connection=type("_CsmsSocket", (_CsmsSocket,), {"identity": options.identity}),
        )
    except InvalidStatus as exc:
        response = exc.response
        raise HandshakeFailed.refused(response.status_code, response.body) from exc
    except InvalidHandshake as exc:
        raise HandshakeFailed(str(exc)) from exc
    return WebsocketsLink(websocket)
