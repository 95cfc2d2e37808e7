"""Station identity and credentials as OCPP-J carries them in the HTTP handshake."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import unquote, urlsplit

from ocpp_fast._log_text import escaped

__all__ = [
    "IDENTITY_MAX_LENGTH",
    "basic_credentials",
    "escaped",
    "parse_identity",
    "websocket_url_problem",
]

IDENTITY_MAX_LENGTH = 48
"""OCPP 2.x: the identity is at most 48 characters (and holds no ``:``)."""


def parse_identity(path: str) -> str | None:
    """The station identity of a request path: its last segment, percent-decoded.

    ``None`` when there is none, it is longer than 48 characters, or it holds a
    ``:`` (which would break the Basic-auth user name). Also ``None`` when,
    once decoded, it holds a character that is not printable (NUL, CR/LF and
    other controls, which would reach ``authorize``, file names and the logs,
    where a newline forges a log line), a ``/`` or a ``..`` (a path
    traversal for any CSMS that keys files or URLs by identity).
    """
    segment = urlsplit(path).path.rstrip("/").rsplit("/", 1)[-1]
    identity = unquote(segment, errors="strict") if segment else ""
    if (
        not identity
        or len(identity) > IDENTITY_MAX_LENGTH
        or ":" in identity
        or "/" in identity
        or ".." in identity
        or not identity.isprintable()
    ):
        return None
    return identity


_WEBSOCKET_OF = {"http": "ws", "https": "wss"}
"""The WebSocket scheme of the HTTP URL an operator may write by mistake."""


def websocket_url_problem(url: str) -> str | None:
    """What is wrong with ``url`` as a CSMS's URL, to follow ``"<url> is "``; ``None`` for a
    ``ws://`` or ``wss://`` URL naming a host.

    One check for ``connect()`` (every URL, the failover ones too) and ``simulate --url``:
    ``http://`` failed each connection at the handshake (``HandshakeFailed`` on picows,
    websockets' ``InvalidURI`` on the other backend), and a failover URL only when its turn
    came, for good. An HTTP URL gets its WebSocket twin as the advice."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in _WEBSOCKET_OF:
        twin = f"{_WEBSOCKET_OF[scheme]}{url[len(scheme) :]}"
        return f"no ws:// or wss:// URL: OCPP-J runs over WebSocket, use {twin}"
    if scheme not in ("ws", "wss"):
        return "no ws:// or wss:// URL (ws://HOST:PORT/PATH)"
    if not parts.hostname:
        return "a URL without a host (ws://HOST:PORT/PATH)"
    return None


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """``(user, password)`` of an ``Authorization: Basic`` header, or ``None``.

    ``None`` for any header that is not valid Basic; the caller tells an absent
    header (no credentials) from a malformed one (HTTP 401).
    """
    if not header:
        return None
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, colon, password = decoded.partition(":")
    return (user, password) if colon else None


def basic_header(user: str, password: str) -> str:
    """The ``Authorization`` header value for HTTP Basic."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return f"Basic {token}"
