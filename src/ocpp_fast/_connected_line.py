"""The line a server logs when a station's connection is live (``CS42: connected (ocpp2.0.1)
from 10.0.0.7:51234``), written and read in one place.

Both servers (``transport._websockets_server``, ``transport._picows_server``) write it, and
``ocpp-fast validate`` reads it back to learn the version each station's frames are in: with the
message spelt in each of the three, a change of wording in one server would have left
``validate`` checking that server's stations in ``--version``, silently.
"""

from __future__ import annotations

import logging
import re

from ocpp_fast._protocol_version import LABELS
from ocpp_fast._ratelimit import ConnectionLog

__all__ = ["connected_station", "log_connected"]

_MESSAGE = "connected (%s) from %s"
"""The message, after the identity :class:`~ocpp_fast._ratelimit.ConnectionLog` puts first:
the subprotocol negotiated (``ocpp1.6``...), then the peer's ``host:port``, which an operator
needs to tell where a station dials from (a site's router, a SIM's carrier NAT, one identity
used from two places), as the refusal lines say it."""

_SUBPROTOCOL = f"ocpp({'|'.join(re.escape(label) for label in LABELS)})"

_READ = re.compile(
    rf"(.+): {re.escape(_MESSAGE.split(' from ')[0]).replace('%s', _SUBPROTOCOL)}(?: from \S+)?",
    re.DOTALL,
)
""":data:`_MESSAGE` as a whole record's message, with its identity and version label (the
peer optional: a log written before the line named it reads the same)."""


def log_connected(logger: logging.Logger, identity: str, subprotocol: str, peer: str) -> None:
    """Log, at INFO, that ``identity``'s connection from ``peer`` (``host:port``) is live in
    ``subprotocol``; ``peer`` is a field of the record too."""
    ConnectionLog(logger, identity).info(_MESSAGE, subprotocol, peer, extra={"peer": peer})


def connected_station(message: str) -> tuple[str, str] | None:
    """The identity and the version label (``1.6``...) of a record's message that
    :func:`log_connected` wrote; ``None`` for any other message."""
    read = _READ.fullmatch(message)
    return None if read is None else (read.group(1), read.group(2))
