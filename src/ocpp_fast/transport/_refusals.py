"""Every refused handshake seen: one WARNING line (rate-limited) and one count per refusal.

"The charger cannot connect" is the most common ticket a CSMS operator gets;
the answer is in the handshake the server refused: a wrong password, an
identity nobody registered, a station offering only a version we do not serve,
a TLS client certificate that does not verify. Each backend calls
:meth:`RefusalLog.refused` wherever it turns a station away, with a reason from
:class:`Reason`, the peer's address and what the station claimed to be (escaped:
it comes from the network). The reason is also the ``reason`` label of the
``ocpp_handshakes_refused_total`` counter (:mod:`ocpp_fast.metrics`).
"""

from __future__ import annotations

import enum
import http
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ocpp_fast._ratelimit import LogLimiter
from ocpp_fast.transport.identity import escaped

if TYPE_CHECKING:
    from ocpp_fast.metrics import Metrics

__all__ = ["MALFORMED", "Reason", "Refusal", "RefusalLog", "peer_of", "shown_peer"]

refusals_log = logging.getLogger("ocpp_fast.transport.refusals")


class Reason(enum.StrEnum):
    """Why a handshake was refused: the ``reason`` of the log record and of the metric."""

    BAD_PATH = "bad_path"
    """HTTP 404: the path's last segment is no valid station identity."""
    UNKNOWN_STATION = "unknown_station"
    """HTTP 404: ``authorize`` does not know the station."""
    NO_CREDENTIALS = "no_credentials"
    """HTTP 401: the security profile needs HTTP Basic and none was sent."""
    BAD_AUTHORIZATION_HEADER = "bad_authorization_header"
    """HTTP 401: two ``Authorization`` headers, or one that is not valid Basic."""
    USER_MISMATCH = "user_mismatch"
    """HTTP 401: the Basic user name is not the station identity."""
    UNAUTHORIZED = "unauthorized"
    """HTTP 401: ``authorize`` refused the credentials."""
    AUTHORIZE_FAILED = "authorize_failed"
    """HTTP 503: ``authorize`` raised (its traceback is logged at ERROR too)."""
    ALREADY_CONNECTED = "already_connected"
    """HTTP 409: an unauthenticated connection would replace an authenticated one."""
    SHUTTING_DOWN = "shutting_down"
    """HTTP 503: the server is closing."""
    CONNECTION_CAP = "connection_cap"
    """HTTP 503: ``Limits.max_connections`` connections are open."""
    MALFORMED_REQUEST = "malformed_request"
    """HTTP 400: not a WebSocket upgrade request we can read."""
    NO_COMMON_VERSION = "no_common_version"
    """The handshake completed without ``Sec-WebSocket-Protocol``, then closed 1002 (OCPP-J)."""
    SOCKET_CAP = "socket_cap"
    """Aborted on accept: too many handshakes pending, or near the file-descriptor limit."""
    HANDSHAKE_SIZE = "handshake_size"
    """Aborted: the request head is over ``Limits.handshake_bytes``."""
    HANDSHAKE_TIMEOUT = "handshake_timeout"
    """Aborted: no complete request within ``Limits.handshake_timeout``."""
    TLS = "tls"
    """The TLS handshake failed (no or an unverified client certificate, a protocol error)."""


@dataclass(frozen=True)
class Refusal:
    """The HTTP answer to a station that is not let in, and why."""

    status: http.HTTPStatus
    text: str
    reason: Reason


MALFORMED = Refusal(http.HTTPStatus.BAD_REQUEST, "malformed request\n", Reason.MALFORMED_REQUEST)
"""What every backend answers to a request that is no HTTP request at all."""


def peer_of(transport: Any) -> str:
    """``host:port`` of the peer of an asyncio transport (``?`` when unknown)."""
    return shown_peer(transport.get_extra_info("peername") if transport is not None else None)


def shown_peer(peer: Any) -> str:
    """``host:port`` of a socket's ``peername`` (``[host]:port`` for IPv6; ``?`` if none)."""
    if isinstance(peer, tuple) and len(peer) >= 2:
        host = str(peer[0])
        return f"[{host}]:{peer[1]}" if ":" in host else f"{host}:{peer[1]}"
    return "?" if peer is None else escaped(str(peer))


class RefusalLog:
    """Logs and counts the refusals of one server (one rate-limit share per reason)."""

    def __init__(self, metrics: Callable[[], Metrics | None]) -> None:
        self._limiter = LogLimiter(refusals_log, timely=True)
        self._metrics = metrics
        """The server's metrics now (they may be set after the server is made)."""

    def refused(
        self, reason: Reason, peer: str, identity: str | None, detail: str, **extra: Any
    ) -> None:
        """Record that the station at ``peer`` claiming ``identity`` (as received: escaped
        here) was refused for ``reason``; ``detail`` says more, ``extra`` goes on the record."""
        metrics = self._metrics()
        if metrics is not None:
            metrics.refused(reason.value)
        shown = "-" if identity is None else escaped(identity)
        self._limiter.log(
            logging.WARNING,
            f"refused {reason.value}",
            "%s: handshake refused (%s) from %s: %s",
            shown,
            reason.value,
            peer,
            detail,
            extra={"identity": shown, "peer": peer, "reason": reason.value, **extra},
        )

    def flush(self) -> None:
        """Say the refusals the rate limit held back, at the server's close (or a periodic
        sweep): a count otherwise said only by the next refusal of the same reason."""
        self._limiter.flush(everything=True)

    def no_common_version(
        self, peer: str, identity: str, offered: Iterable[str], served: Iterable[str]
    ) -> None:
        """The station offered none of the versions we serve (the OCPP-J close follows)."""
        offered, served = list(offered), sorted(served)
        self.refused(
            Reason.NO_COMMON_VERSION,
            peer,
            identity,
            f"it offered {escaped(', '.join(offered)) or 'no subprotocol'}; "
            f"this server serves {', '.join(served)}",
            offered=offered,
            served=served,
        )
