"""The server's TLS handshake, done by the transport so that a failed one is seen.

Given ``ssl=`` in ``create_server``, asyncio and uvloop drop a failed TLS
handshake without a word outside their debug mode, and without the peer's
address: a station with an expired or unknown client certificate was invisible.
So a backend's server listens on plain TCP and calls :func:`secure` from its
protocol's ``connection_made``; ``loop.start_tls`` then runs the handshake and
its failure comes back to us, with the socket in hand.

uvloop starts reading a socket right after ``connection_made`` returns, even if
it paused reading there, so the ClientHello can reach the socket before
``start_tls`` has put its TLS protocol in place: :class:`_Held` keeps those
bytes and gives them to the TLS protocol once it is connected.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable

__all__ = ["secure", "why_tls_failed"]

_SAID = {
    "HTTP_REQUEST": "a plain HTTP request on this TLS port: the station's URL says ws://, "
    "where this port needs wss://",
    "PEER_DID_NOT_RETURN_A_CERTIFICATE": "the station sent no client certificate "
    "(security profile 3 needs one)",
    "CERTIFICATE_VERIFY_FAILED": "the station's certificate did not verify against the CA "
    "the server trusts (--ssl-ca-certs)",
    "TLSV1_ALERT_UNKNOWN_CA": "the station does not trust our certificate: it lacks the "
    "CA that signed it",
    "SSLV3_ALERT_CERTIFICATE_UNKNOWN": "the station refused our certificate",
    "SSLV3_ALERT_BAD_CERTIFICATE": "the station refused our certificate",
    "TLSV1_ALERT_PROTOCOL_VERSION": "no TLS version both sides speak",
    "UNSUPPORTED_PROTOCOL": "no TLS version both sides speak",
    "NO_SHARED_CIPHER": "no cipher both sides speak",
}
"""What an operator does about a failed handshake, by OpenSSL's reason for it: its own words
(``[SSL: HTTP_REQUEST] http request``) name the library's state, not the station's mistake."""


def why_tls_failed(error: BaseException) -> str:
    """The refusal line's words for a failed TLS handshake: what happened in an operator's
    terms where the cause is a known one, then OpenSSL's own text (kept to search for)."""
    raw = str(error) or type(error).__name__
    if isinstance(error, ssl.SSLError):
        said = _SAID.get(error.reason or "")
    elif isinstance(error, ConnectionError):
        said = (
            "the station closed the connection during the TLS handshake (one that does not"
            " trust our certificate does so)"
        )
    elif isinstance(error, TimeoutError):
        said = "no TLS handshake within Limits.handshake_timeout"
    else:
        said = None
    return raw if said is None else f"{said} ({raw})"


def secure(
    transport: asyncio.Transport,
    protocol: asyncio.Protocol,
    context: ssl.SSLContext,
    timeout: float,
    made: Callable[[asyncio.Transport], None],
    failed: Callable[[Exception], None],
) -> asyncio.Task[asyncio.Transport | None]:
    """Start TLS on ``transport``, a socket just accepted for ``protocol`` (whose
    ``connection_made`` is running): once secured, ``made(secure transport)`` is called and
    ``protocol`` reads from it; on failure, ``failed(exception)`` and the socket is aborted.
    A connection lost meanwhile reaches ``protocol.connection_lost``."""
    loop = asyncio.get_running_loop()
    held = _Held(protocol)
    transport.set_protocol(held)
    transport.pause_reading()
    handshake = loop.create_task(
        loop.start_tls(transport, held, context, server_side=True, ssl_handshake_timeout=timeout)
    )
    # start_tls's first step (just queued) swaps in its TLS protocol and queues that
    # protocol's connection_made; what this queues now runs right after that.
    loop.call_soon(loop.call_soon, held.replay_early, transport)

    def finished(task: asyncio.Task[asyncio.Transport | None]) -> None:
        if task.cancelled():
            transport.abort()
            return
        error = task.exception()
        secured = task.result() if error is None else None
        if secured is None:
            failed(error if isinstance(error, Exception) else ConnectionError("TLS failed"))
            transport.abort()
            return
        secured.set_protocol(protocol)
        made(secured)
        held.hand_over()

    handshake.add_done_callback(finished)
    return handshake


class _Held(asyncio.Protocol):
    """Stands in for the real protocol while TLS starts: keeps the raw bytes that came
    before the TLS protocol was in place, then what the peer sent with the end of the
    handshake, and passes a lost connection on at once."""

    def __init__(self, protocol: asyncio.Protocol) -> None:
        self._protocol = protocol
        self._early: list[bytes] | None = []
        """Raw bytes read before start_tls took the socket; None once replayed."""
        self._data: list[bytes] = []
        self._lost = False

    def data_received(self, data: bytes) -> None:
        if self._early is not None:
            self._early.append(data)
        else:
            self._data.append(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._lost:
            self._lost = True
            self._protocol.connection_lost(exc)

    def replay_early(self, transport: asyncio.Transport) -> None:
        early, self._early = self._early or [], None
        tls = transport.get_protocol()
        if tls is self or transport.is_closing():
            return  # start_tls never took the socket (it failed at once)
        for chunk in early:
            _feed(tls, chunk)

    def hand_over(self) -> None:
        data, self._data = self._data, []
        for chunk in data:
            self._protocol.data_received(chunk)


def _feed(protocol: asyncio.BaseProtocol, data: bytes) -> None:
    """Give ``data`` to ``protocol`` as its transport would have (both loops' TLS protocols
    are buffered ones)."""
    if isinstance(protocol, asyncio.Protocol):
        protocol.data_received(data)
        return
    buffered: asyncio.BufferedProtocol = protocol  # type: ignore[assignment]
    view = memoryview(data)
    while view:
        buffer = memoryview(buffered.get_buffer(len(view)))
        size = min(len(buffer), len(view))
        buffer[:size] = view[:size]
        buffered.buffer_updated(size)
        view = view[size:]
