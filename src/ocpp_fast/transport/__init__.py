"""OCPP-J over real WebSockets (the ``picows`` or ``websockets`` extra).

- :func:`serve` runs a CSMS: it negotiates the subprotocol, reads the station
  identity from the last path segment, asks your ``authorize`` callback who may
  connect (HTTP 404 for an unknown station, 401 for bad credentials), and gives
  each station an :class:`~ocpp_fast.aio.AsyncConnection` to your ``ChargeSystem``,
  within the caps of :class:`Limits` (a CSMS faces hostile stations too).
- :func:`connect` runs a station: it offers its versions in order of preference,
  authenticates (security profiles 1-3), and keeps reconnecting with the
  randomized back-off of the spec until it is closed.
- :func:`serve_in_memory` runs a CSMS in the same event loop, which ``connect(..., via=server)``
  reaches with no socket: a station's code is tested with its own client (boot, queue,
  heartbeats, reconnects) and no network.

Install one WebSocket library with its extra: ``pip install "ocpp-fast[picows]"`` (the
fast one) or ``pip install "ocpp-fast[websockets]"``; either works alone.
"""

from typing import TYPE_CHECKING

from ocpp_fast._lazy import lazy_exports

if TYPE_CHECKING:
    from ocpp_fast.transport._link import HandshakeFailed
    from ocpp_fast.transport.client import (
        Backoff,
        MessageRetry,
        Queued,
        StationClient,
        StillQueued,
        connect,
    )
    from ocpp_fast.transport.identity import parse_identity
    from ocpp_fast.transport.limits import Limits
    from ocpp_fast.transport.memory import InMemoryServer, serve_in_memory
    from ocpp_fast.transport.server import Admission, CsmsServer, StationRequest, serve
    from ocpp_fast.transport.txqueue import QueueFull, TransactionQueue

__all__ = [
    "Admission",
    "Backoff",
    "CsmsServer",
    "HandshakeFailed",
    "InMemoryServer",
    "Limits",
    "MessageRetry",
    "QueueFull",
    "Queued",
    "StationClient",
    "StationRequest",
    "StillQueued",
    "TransactionQueue",
    "connect",
    "parse_identity",
    "serve",
    "serve_in_memory",
]

# Loaded on first use: the command line and the backend choice need no WebSocket library.
if not TYPE_CHECKING:  # a checker sees the names imported above, and no Any for any other
    __getattr__, __dir__ = lazy_exports(
        __name__,
        {
            "Admission": "server",
            "Backoff": "client",
            "CsmsServer": "server",
            "HandshakeFailed": "_link",
            "InMemoryServer": "memory",
            "Limits": "limits",
            "MessageRetry": "client",
            "QueueFull": "txqueue",
            "Queued": "client",
            "StationClient": "client",
            "StationRequest": "server",
            "StillQueued": "client",
            "TransactionQueue": "txqueue",
            "connect": "client",
            "parse_identity": "identity",
            "serve": "server",
            "serve_in_memory": "memory",
        },
    )
