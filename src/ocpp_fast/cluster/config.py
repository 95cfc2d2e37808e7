"""How a piece of a cluster reaches NATS, and what every piece must agree on."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import nats
from nats.aio.client import Client as Nats

from ocpp_fast._ratelimit import LogLimiter
from ocpp_fast.cluster.subjects import Names
from ocpp_fast.stations import node_name  # one rule for naming a process, cluster or not

__all__ = ["DEFAULT_DURABLE", "ClusterConfig", "connect_nats", "node_name"]

log = logging.getLogger("ocpp_fast.cluster")

DEFAULT_DURABLE: Mapping[str, frozenset[str]] = {
    "1.6": frozenset({"StartTransaction", "StopTransaction", "MeterValues"}),
    "2.0.1": frozenset({"TransactionEvent", "MeterValues"}),
    "2.1": frozenset({"TransactionEvent", "MeterValues"}),
}
"""Actions stored in the events stream before the station is answered, by version label:
what a station itself must not lose (its transaction messages), as the issue names them."""


@dataclass(frozen=True)
class ClusterConfig:
    """Where NATS is and how the cluster is laid out on it.

    ``options`` go to ``nats.connect`` as they are: credentials
    (``user_credentials=``, ``nkeys_seed=``, ``user=``/``password=``, ``token=``),
    ``tls=`` (an ``ssl.SSLContext``), ``tls_hostname=``... The defaults keep
    reconnecting for good, since a gateway without NATS cannot route anything.
    """

    servers: str | Sequence[str] = "nats://127.0.0.1:4222"
    names: Names = field(default_factory=Names)
    options: Mapping[str, Any] = field(default_factory=dict)

    async def connect(
        self, name: str, reconnected: Callable[[], Awaitable[None]] | None = None
    ) -> Nats:
        """A NATS connection for one piece of the cluster, called ``name`` in the server's
        views; ``reconnected`` is awaited each time it is back after losing NATS."""
        return await connect_nats(self.servers, name, self.options, reconnected)


async def connect_nats(
    servers: str | Sequence[str],
    name: str,
    options: Mapping[str, Any] | None = None,
    reconnected: Callable[[], Awaitable[None]] | None = None,
) -> Nats:
    """``nats.connect`` with the cluster's defaults, overridden by ``options``.

    NATS going away is expected and retried: one line per error rather than nats-py's
    traceback for each failed reconnect attempt, and at most ``LOG_BURST`` lines of one
    kind of error per ``LOG_INTERVAL`` (a reconnect is tried several times a second, and an
    outage may last hours). ``reconnected`` runs after the ``reconnected_cb`` of
    ``options``, if any.
    """
    failures = LogLimiter(log)

    async def error(exc: Exception) -> None:
        failures.warning(type(exc).__name__, "%s: NATS: %r", name, exc)

    chosen: dict[str, Any] = {
        "name": name,
        "error_cb": error,
        "max_reconnect_attempts": -1,
        "reconnect_time_wait": 0.5,
        "connect_timeout": 5,
    }
    chosen.update(options or {})
    if reconnected is not None:
        theirs = chosen.get("reconnected_cb")

        async def back() -> None:
            if theirs is not None:
                await theirs()
            await reconnected()

        chosen["reconnected_cb"] = back
    servers_list = [servers] if isinstance(servers, str) else list(servers)
    return await nats.connect(servers=servers_list, **chosen)
