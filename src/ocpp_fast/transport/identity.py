"""Station identity and credentials as OCPP-J carries them in the HTTP handshake."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import unquote, urlsplit

__all__ = ["IDENTITY_MAX_LENGTH", "basic_credentials", "parse_identity"]

IDENTITY_MAX_LENGTH = 48
"""OCPP 2.x: the identity is at most 48 characters (and holds no ``:``)."""


def parse_identity(path: str) -> str | None:
    """The station identity of a request path: its last segment, percent-decoded.

    ``None`` when there is none, it is longer than 48 characters, or it holds a
    ``:`` (which would break the Basic-auth user name).
    """
    segment = urlsplit(path).path.rstrip("/").rsplit("/", 1)[-1]
    identity = unquote(segment, errors="strict") if segment else ""
    if not identity or len(identity) > IDENTITY_MAX_LENGTH or ":" in identity:
        return None
    return identity


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """``(user, password)`` of an ``Authorization: Basic`` header, or ``None``."""
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
