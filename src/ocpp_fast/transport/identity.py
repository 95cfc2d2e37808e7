"""Station identity and credentials as OCPP-J carries them in the HTTP handshake."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import unquote, urlsplit

__all__ = ["IDENTITY_MAX_LENGTH", "basic_credentials", "escaped", "parse_identity"]

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


def escaped(text: str, limit: int = 80) -> str:
    """``text`` as it may appear in a log line: control characters escaped, cut at ``limit``."""
    return ascii(text[:limit])[1:-1]


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
