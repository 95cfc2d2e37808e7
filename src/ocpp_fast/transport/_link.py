"""One open WebSocket from a station to its CSMS, whatever library carries it.

:class:`~ocpp_fast.transport.client.StationClient` keeps a station connected
(reconnecting with the spec's back-off); each backend only opens a link and
says what the CSMS agreed to. A backend turns its own handshake failures into
:class:`HandshakeFailed`, so the reconnect loop needs no backend's exceptions.
"""

from __future__ import annotations

import ssl as ssl_module
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from ocpp_fast.aio import AsyncConnection
from ocpp_fast.dispatch import OcppHandler
from ocpp_fast.errors import HandshakeFailed  # its home until 0.1: the old import path works
from ocpp_fast.transport._lifecycle import CloseFrames

__all__ = [
    "CloseFrames",
    "HandshakeFailed",
    "Link",
    "LinkOptions",
    "Opener",
    "telling",
    "telling_async",
]


class Link(Protocol):
    """An open WebSocket to the CSMS."""

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol the CSMS picked (None: none of ours)."""

    @property
    def compressed(self) -> bool:
        """Whether permessage-deflate was agreed."""

    def connection_for(
        self, handler: OcppHandler, identity: str, on_sent: Callable[[int], None]
    ) -> AsyncConnection:
        """The :class:`AsyncConnection` this link carries, for ``handler``; ``on_sent`` is
        told the bytes of each of its frames as it goes out, before any compression (the
        heartbeat counts silence from the last; a close with 1009 is laid to the largest)."""

    async def run(self) -> None:
        """Carry frames until the WebSocket is closed (by either side, or lost)."""

    def close_frames(self) -> CloseFrames:
        """Once :meth:`run` returned: the closing handshake, to say who closed and why."""

    def lost_to(self) -> BaseException | str | None:
        """Once :meth:`run` returned: why the WebSocket ended without a closing handshake,
        where the backend tells (the transport's error, or why we aborted the socket)."""

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the WebSocket (a closing handshake, bounded)."""

    def seen_off(self) -> None:
        """Once :meth:`run` returned: the client is through with the connection's end (the
        ``Charger``'s ``on_disconnect`` ran). A socket needs to know nothing of it; the
        in-memory CSMS waits for it, so that its ``disconnect()`` returns with the station's
        side done too."""


@dataclass(frozen=True)
class LinkOptions:
    """What a station asks of the WebSocket it opens."""

    subprotocols: Sequence[str]
    """Our OCPP versions, in order of preference."""
    headers: Mapping[str, str]
    """Extra request headers (``Authorization`` for HTTP Basic)."""
    ssl: ssl_module.SSLContext | None
    ping_interval: float | None
    """Seconds between keepalive pings; the CSMS is given up after about two unanswered."""
    max_size: int
    """The largest message accepted (after inflation)."""
    compression: bool
    """Offer permessage-deflate."""
    identity: str = "?"
    """The station, for what the link logs before the client's connection is made (a
    frame the CSMS sends at once and the link refuses)."""


Opener = Callable[[str, LinkOptions], Awaitable[Link]]
"""``open(url, options)`` of one backend."""


def telling(
    write: Callable[[bytes], None], on_sent: Callable[[int], None]
) -> Callable[[bytes], None]:
    """``write``, telling ``on_sent`` the frame's size first: a link's frames out, each noticed."""

    def write_told(frame: bytes) -> None:
        on_sent(len(frame))
        write(frame)

    return write_told


def telling_async(
    send: Callable[[bytes], Awaitable[None]], on_sent: Callable[[int], None]
) -> Callable[[bytes], Awaitable[None]]:
    """:func:`telling` for a link whose sends are awaited."""

    async def send_told(frame: bytes) -> None:
        on_sent(len(frame))
        await send(frame)

    return send_told
