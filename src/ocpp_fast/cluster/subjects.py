"""Station identities inside NATS subjects and KV keys, and the names of everything a cluster
uses under one prefix.

A station identity is any printable string of up to 48 characters: it may hold
``.`` (the subject token separator), ``*`` and ``>`` (wildcards) or spaces,
none of which may appear raw in a subject token. Written raw, ``A.B`` would
collide with the token pair ``A`` / ``B``, and a station named ``>`` would
subscribe to every station's commands. :func:`encode_identity` keeps
``[A-Za-z0-9_-]`` and writes every other UTF-8 byte as ``=`` plus two lowercase
hex digits (``=`` itself included), which is injective, yields exactly one
subject token, and is also a valid KV key (``~`` would not be: nats-py accepts
``[-/_=.A-Za-z0-9]`` in keys), so one encoding serves subjects and the registry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Names", "decode_identity", "encode_identity", "version_token"]

_PLAIN = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_ENCODED = re.compile(r"(?:[A-Za-z0-9_-]|=[0-9a-f]{2})+")
_NAME = re.compile(r"[A-Za-z0-9_-]+")


def encode_identity(identity: str) -> str:
    """One subject token (and KV key) for ``identity``; distinct identities never share one."""
    if not identity:
        raise ValueError("a station identity is never empty")
    return "".join(chr(b) if b in _PLAIN else f"={b:02x}" for b in identity.encode("utf-8"))


def decode_identity(token: str) -> str:
    """The identity :func:`encode_identity` made ``token`` of (``ValueError`` for anything else)."""
    if _ENCODED.fullmatch(token) is None:
        raise ValueError(f"not an encoded station identity: {token!r}")
    raw = bytearray()
    index = 0
    while index < len(token):
        if token[index] == "=":
            raw.append(int(token[index + 1 : index + 3], 16))
            index += 3
        else:
            raw.append(ord(token[index]))
            index += 1
    return raw.decode("utf-8")


def version_token(label: str) -> str:
    """``"2.0.1"`` -> ``"v201"``: a version as one subject token."""
    return "v" + label.replace(".", "")


@dataclass(frozen=True)
class Names:
    """The subjects, stream and bucket of one cluster, all under ``prefix``.

    Several clusters (or tenants) can share a NATS account with different
    prefixes. ``prefix`` is one or more plain tokens (``ocpp``, ``acme.ocpp``);
    the stream and bucket names are derived from it unless given.
    """

    prefix: str = "ocpp"
    stream: str = ""
    """The JetStream stream of durable actions (default: ``<PREFIX>_EVENTS``)."""
    bucket: str = ""
    """The KV bucket of the station registry (default: ``<prefix>_stations``)."""

    def __post_init__(self) -> None:
        tokens = self.prefix.split(".")
        if not all(_NAME.fullmatch(token) for token in tokens):
            raise ValueError(f"a prefix is plain tokens joined by dots, not {self.prefix!r}")
        flat = "_".join(tokens)
        if not self.stream:
            object.__setattr__(self, "stream", f"{flat.upper()}_EVENTS")
        if not self.bucket:
            object.__setattr__(self, "bucket", f"{flat}_stations")
        for name in (self.stream, self.bucket):
            if _NAME.fullmatch(name) is None:
                raise ValueError(f"stream and bucket names are one plain token, not {name!r}")

    def command(self, identity: str) -> str:
        """Where routed CALLs to ``identity`` go; only the node holding it subscribes."""
        return f"{self.prefix}.cmd.{encode_identity(identity)}"

    def work(self, label: str, action: str) -> str:
        """Where a gateway sends a station's CALL of ``action`` for a worker to handle."""
        return f"{self.prefix}.work.{version_token(label)}.{action}"

    def work_all(self, label: str) -> str:
        """What the workers of one version subscribe to (in their queue group)."""
        return f"{self.prefix}.work.{version_token(label)}.*"

    def work_group(self, label: str) -> str:
        """The queue group of one version's workers: each CALL goes to one of them."""
        return f"{self.prefix.replace('.', '_')}_workers_{version_token(label)}"

    def event(self, identity: str, action: str) -> str:
        """The stream subject of one station's durable action."""
        return f"{self.prefix}.events.{encode_identity(identity)}.{action}"

    def events(self) -> str:
        """Every durable action of every station (the stream's subjects)."""
        return f"{self.prefix}.events.>"

    def station_events(self, identity: str) -> str:
        """Every durable action of one station (a consumer's filter)."""
        return f"{self.prefix}.events.{encode_identity(identity)}.*"
