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
from http import HTTPStatus
from typing import Protocol

from ocpp_fast.aio import AsyncConnection
from ocpp_fast.dispatch import OcppHandler

__all__ = ["BODY_CHARS", "HandshakeFailed", "Link", "LinkOptions", "Opener"]

BODY_CHARS = 80
"""How much of a refusal's body :class:`HandshakeFailed` keeps (a CSMS may send a page)."""


class HandshakeFailed(ConnectionError):
    """The CSMS refused the WebSocket handshake (an HTTP status), or agreed to no version.

    ``status`` is the HTTP status it answered instead of 101 (``None``: it agreed to no
    version of ours, or broke the upgrade), ``reason`` that status's phrase and ``body`` the
    first line of what it said why (its response body, cut at :data:`BODY_CHARS`): what an
    operator needs to tell a wrong password from an unknown station from a full server.
    """

    def __init__(
        self, message: str, status: int | None = None, reason: str = "", body: str = ""
    ) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.body = body

    @classmethod
    def refused(cls, status: int, body: bytes | bytearray | None) -> HandshakeFailed:
        """The CSMS answered ``status`` (not 101) with ``body``."""
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = ""
        lines = (body or b"").decode("utf-8", "replace").strip().splitlines()
        said = (
            "".join(c if c.isprintable() else "?" for c in lines[0][:BODY_CHARS]) if lines else ""
        )
        message = f"the CSMS refused the handshake: HTTP {status} {reason}".rstrip()
        return cls(message + (f" ({said})" if said else ""), status, reason, said)

    def cause(self) -> str:
        """Short, for grouping many stations' failures: ``HTTP 401 Unauthorized (...)``."""
        if self.status is None:
            return str(self)
        shown = f"HTTP {self.status} {self.reason}".rstrip()
        return shown + (f" ({self.body})" if self.body else "")


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


Opener = Callable[[str, LinkOptions], Awaitable[Link]]
"""``open(url, options)`` of one backend."""
