"""The line a server logs when a station's connection is live (``CS42: connected (ocpp2.0.1)``),
written and read in one place.

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

_MESSAGE = "connected (%s)"
"""The message, after the identity :class:`~ocpp_fast._ratelimit.ConnectionLog` puts first;
``%s`` is the subprotocol negotiated (``ocpp1.6``...)."""

_SUBPROTOCOL = f"ocpp({'|'.join(re.escape(label) for label in LABELS)})"

_READ = re.compile(rf"(.+): {re.escape(_MESSAGE).replace('%s', _SUBPROTOCOL)}", re.DOTALL)
""":data:`_MESSAGE` as a whole record's message, with its identity and version label."""


def log_connected(logger: logging.Logger, identity: str, subprotocol: str) -> None:
    """Log, at INFO, that ``identity``'s connection is live in ``subprotocol``."""
    ConnectionLog(logger, identity).info(_MESSAGE, subprotocol)


def connected_station(message: str) -> tuple[str, str] | None:
    """The identity and the version label (``1.6``...) of a record's message that
    :func:`log_connected` wrote; ``None`` for any other message."""
    read = _READ.fullmatch(message)
    return None if read is None else (read.group(1), read.group(2))
