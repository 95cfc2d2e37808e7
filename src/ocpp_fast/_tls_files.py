"""The PEM files of ``--ssl-certfile`` / ``--ssl-keyfile``, loaded with a reason an operator
can act on.

``ssl`` says ``[SSL] PEM lib (_ssl.c:3926)`` alike for a certificate file without its key (the
key in a file of its own, and ``--ssl-keyfile`` forgotten), a key file that holds no key, and
a file that is no PEM at all; and for an encrypted key OpenSSL asks for its pass phrase on the
terminal, which a service has not. Both ``ocpp-fast serve`` and ``ocpp-fast simulate`` load
their certificate here, so each says which file lacks what, and which flag gives it.
"""

from __future__ import annotations

import ssl
from pathlib import Path

__all__ = ["load_certificate"]

_CERTIFICATE = b"-----BEGIN CERTIFICATE-----"
_ENCRYPTED = (b"-----BEGIN ENCRYPTED PRIVATE KEY-----", b"Proc-Type: 4,ENCRYPTED")


def load_certificate(context: ssl.SSLContext, certfile: str, keyfile: str | None) -> None:
    """Load ``certfile`` (and its key, from ``keyfile`` or else from ``certfile``) into
    ``context``; a ``ValueError`` naming the file and what it lacks when that fails."""
    try:
        certificate = Path(certfile).read_bytes()
        key = Path(keyfile).read_bytes() if keyfile is not None else certificate
    except OSError as exc:
        raise ValueError(f"{_flags(keyfile)} {exc.filename}: {exc.strerror or exc}") from None
    key_source = f"--ssl-keyfile {keyfile}" if keyfile is not None else f"--ssl-certfile {certfile}"
    if _CERTIFICATE not in certificate:
        raise ValueError(
            f"--ssl-certfile {certfile}: no PEM certificate in it ({_CERTIFICATE.decode()})"
        )
    if any(marker in key for marker in _ENCRYPTED):
        raise ValueError(
            f"{key_source}: the private key is encrypted, and a server has no one to type its "
            "pass phrase: give it unencrypted (openssl pkey -in KEY -out KEY.plain), "
            "readable by the service's user only"
        )
    if b"PRIVATE KEY-----" not in key:
        hint = "" if keyfile is not None else ": give the key's file with --ssl-keyfile FILE"
        raise ValueError(f"{key_source}: no PEM private key in it{hint}")
    try:
        context.load_cert_chain(certfile, keyfile, password=_no_pass_phrase)
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            raise ValueError(
                f"{key_source}: its private key is not the key of the certificate in "
                f"--ssl-certfile {certfile}"
            ) from None
        raise ValueError(f"{_flags(keyfile)} {certfile}: {exc}") from None


def _flags(keyfile: str | None) -> str:
    return "--ssl-certfile/--ssl-keyfile" if keyfile is not None else "--ssl-certfile"


def _no_pass_phrase() -> str:
    """Never prompt on a terminal (a service has none): an encrypted key fails instead."""
    raise ValueError("the private key is encrypted")
