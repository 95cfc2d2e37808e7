"""One open WebSocket from a station to its CSMS, whatever library carries it.

:class:`~ocpp_fast.transport.client.StationClient` keeps a station connected
(reconnecting with the spec's back-off); each backend only opens a link and
says what the CSMS agreed to. A backend turns its own handshake failures into
:class:`HandshakeFailed`, so the reconnect loop needs no backend's exceptions.
"""

from __future__ import annotations

import ssl as ssl_module
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Protocol

from ocpp_fast.aio import AsyncConnection
from ocpp_fast.dispatch import OcppHandler

__all__ = ["HandshakeFailed", "Link", "Opener"]


class HandshakeFailed(ConnectionError):
    """The CSMS refused the WebSocket handshake (an HTTP status), or agreed to no version."""


class Link(Protocol):
    """An open WebSocket to the CSMS."""

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol the CSMS picked (None: none of ours)."""

    @property
    def compressed(self) -> bool:
        """Whether permessage-deflate was agreed."""

    def connection_for(self, handler: OcppHandler, identity: str) -> AsyncConnection:
        """The :class:`AsyncConnection` this link carries, for ``handler``."""

    async def run(self) -> None:
        """Carry frames until the WebSocket is closed (by either side, or lost)."""

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the WebSocket (a closing handshake, bounded)."""


Opener = Callable[
    [str, Sequence[str], Mapping[str, str], ssl_module.SSLContext | None, float | None, int, bool],
    Awaitable[Link],
]
"""``open(url, subprotocols, headers, ssl, ping_interval, max_size, compression)`` of one
backend; ``compression``: offer permessage-deflate."""
