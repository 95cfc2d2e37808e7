"""Signing in to NATS with an nkey, for the gateway's own link: a seed (``nkeys_seed=`` a
file, ``nkeys_seed_str=`` the seed itself) or a credentials file (``user_credentials=``,
what ``--nats-creds`` passes).

NATS's nkey and JWT authentication: the server's INFO carries a nonce, and the client's
CONNECT answers with that nonce signed by the user's nkey (ed25519) besides either the
user's public key (an nkey user of the server's configuration) or the user's JWT (a
``.creds`` file holds the JWT and the seed, each in a marked block). The link speaks it so
that a gateway whose NATS asks for credentials keeps its own path: without it such a
gateway's stores went through nats-py (a task and some seventy Python calls per durable
CALL). Signing takes the ``nkeys`` package, which the ``cluster`` extra installs.

The files are read at each connection, as nats-py does, so that credentials rotated on
disk are used at the next reconnect; :func:`signer_of` reads them once at the start too, so
that a missing or malformed file is said then, not at the first connection.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from typing import Any

__all__ = ["SIGNING_OPTIONS", "Signer", "read_credentials", "signer_of"]

SIGNING_OPTIONS = ("user_credentials", "nkeys_seed", "nkeys_seed_str")
"""The connection options (named as nats-py names them) that make the link sign in."""


class Signer:
    """Who signs in: the seed of the user's nkey, and the user's JWT when it has one."""

    def __init__(self, seed: bytes, jwt: str | None) -> None:
        try:
            import nkeys
        except ImportError:
            raise ValueError(
                "NATS credentials need the nkeys package: pip install 'ocpp-fast[cluster]'"
            ) from None
        try:
            self._keys = nkeys.from_seed(bytearray(seed))
        except Exception as exc:
            raise ValueError(f"not an nkey seed ({type(exc).__name__})") from None
        self.jwt = jwt

    def fields(self, nonce: str) -> dict[str, str]:
        """What CONNECT carries for the server's ``nonce``: the signature and who signed."""
        signature = base64.urlsafe_b64encode(self._keys.sign(nonce.encode())).rstrip(b"=")
        fields = {"sig": signature.decode()}
        if self.jwt is not None:
            fields["jwt"] = self.jwt
        else:
            fields["nkey"] = self._keys.public_key.decode()
        return fields


def _block(text: str, name: str) -> str | None:
    """The text between a line with ``BEGIN`` and ``name`` and the next line of dashes."""
    lines = iter(text.splitlines())
    for line in lines:
        if "BEGIN" in line and name in line:
            body: list[str] = []
            for inner in lines:
                if inner.strip().startswith("---"):
                    return "".join(body) or None
                body.append(inner.strip())
            return None
    return None


def read_credentials(path: str | os.PathLike[str]) -> tuple[str, bytes]:
    """The user's JWT and nkey seed in the ``.creds`` file at ``path``; ``ValueError`` naming
    the file and what it lacks (``OSError`` when it cannot be read)."""
    with open(path, encoding="utf-8") as file:
        text = file.read()
    jwt = _block(text, "JWT")
    seed = _block(text, "SEED")
    if jwt is None or seed is None:
        missing = " and ".join(
            what for what, found in (("a user JWT", jwt), ("an nkey seed", seed)) if found is None
        )
        raise ValueError(f"the NATS credentials file {os.fspath(path)} lacks {missing}")
    return jwt, seed.encode()


def _seed_in(path: str | os.PathLike[str]) -> bytes:
    """The seed in a seed file: its first line that is not a marker of dashes."""
    with open(path, encoding="utf-8") as file:
        for line in file:
            line = line.strip()
            if line and not line.startswith("---"):
                return line.encode()
    raise ValueError(f"the nkey seed file {os.fspath(path)} is empty")


def signer_of(options: Mapping[str, Any]) -> Signer | None:
    """The signer the connection ``options`` name (``None``: none), its files read now."""
    credentials = options.get("user_credentials")
    if credentials is not None:
        jwt, seed = read_credentials(credentials)
        try:
            return Signer(seed, jwt)
        except ValueError as exc:
            raise ValueError(f"the NATS credentials file {os.fspath(credentials)}: {exc}") from None
    if options.get("nkeys_seed") is not None:
        return Signer(_seed_in(options["nkeys_seed"]), None)
    if options.get("nkeys_seed_str") is not None:
        return Signer(str(options["nkeys_seed_str"]).strip().encode(), None)
    return None
