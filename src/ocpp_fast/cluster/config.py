"""How a piece of a cluster reaches NATS, and what every piece must agree on."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import SplitResult, urlsplit

import nats
from nats.aio.client import Client as Nats

from ocpp_fast._ratelimit import LogLimiter
from ocpp_fast.cluster.subjects import Names
from ocpp_fast.stations import node_name  # one rule for naming a process, cluster or not

__all__ = [
    "DEFAULT_DURABLE",
    "NATS_START_TIMEOUT",
    "ClusterConfig",
    "NatsUnreachable",
    "NoJetStream",
    "address_of",
    "connect_nats",
    "nats_failures",
    "node_name",
    "server_urls",
    "shown_servers",
    "shown_url",
    "split_url",
]

log: logging.Logger = logging.getLogger("ocpp_fast.cluster")
nats_failures: LogLimiter = LogLimiter(log)
"""What fails while NATS is away, per station or per call (registry writes, following a station,
storing an event, waiting for a worker): N stations would write N lines a second; at most
``LOG_BURST`` per kind per ``LOG_INTERVAL`` get through, then one line counting the rest."""

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
    reconnecting for good, since a gateway without NATS cannot route anything. A
    gateway's stores and worker requests take a connection of ocpp_fast's own with
    the same servers and options where it speaks them all
    (:mod:`ocpp_fast.cluster._nats_link`), nats-py's otherwise.
    """

    servers: str | Sequence[str] = "nats://127.0.0.1:4222"
    """A server's URL, several separated by commas (``--nats``'s form), or a list; tried in
    turn."""
    names: Names = field(default_factory=Names)
    options: Mapping[str, Any] = field(default_factory=dict)
    start_timeout: float | None = None
    """Seconds the first connection to NATS may take before the piece's start (``Gateway``'s
    attach, ``Worker.start()``) raises :class:`NatsUnreachable`; ``None``, the default:
    it waits for NATS for good, as a library's caller may want. ``ocpp-fast serve --nats``
    and ``worker`` give :data:`NATS_START_TIMEOUT`, so that a wrong URL is one line and an
    exit code, not a process that retries silently for ever."""

    async def connect(
        self, name: str, reconnected: Callable[[], Awaitable[None]] | None = None
    ) -> Nats:
        """A NATS connection for one piece of the cluster, called ``name`` in the server's
        views; ``reconnected`` is awaited each time it is back after losing NATS."""
        return await connect_nats(
            self.servers, name, self.options, reconnected, start_timeout=self.start_timeout
        )


RECONNECT_WAIT = 0.5
"""Seconds between attempts to reach NATS again (``reconnect_time_wait`` unless given)."""
CONNECT_TIMEOUT = 5.0
"""Seconds a connection to NATS may take (``connect_timeout`` unless given)."""

NATS_START_TIMEOUT = 10.0
"""Seconds ``ocpp-fast serve --nats`` and ``ocpp-fast worker`` wait for NATS at their start
(long enough for a NATS started beside them, a container's, to come up)."""


class NatsUnreachable(ConnectionError):
    """No NATS server could be reached within :attr:`ClusterConfig.start_timeout`."""


class NoJetStream(ConnectionError):
    """NATS was reached, but its JetStream did not answer within
    :attr:`ClusterConfig.start_timeout`: a nats-server started without ``-js`` (or a JetStream
    cluster without a leader that long). A gateway keeps the durable actions in a stream and
    the registry in a key-value bucket, both JetStream's."""


NATS_ERRORS_PER_WINDOW = 1
"""Lines of one kind of NATS error per connection per ``LOG_INTERVAL`` (a minute): while NATS
is away a reconnect fails twice a second, and an outage may last hours."""


async def connect_nats(
    servers: str | Sequence[str],
    name: str,
    options: Mapping[str, Any] | None = None,
    reconnected: Callable[[], Awaitable[None]] | None = None,
    *,
    start_timeout: float | None = None,
) -> Nats:
    """``nats.connect`` with the cluster's defaults, overridden by ``options``; the first
    connection raises :class:`NatsUnreachable` after ``start_timeout`` seconds, if given (it
    names the servers and the last error: nats-py retries the first connection for good too).
    Its failed attempts meanwhile are not logged: the operator of a command that could not
    start got a WARNING of the first one (``NATS: ConnectionRefusedError(...)``) and then the
    ``NatsUnreachable`` line saying the same; without ``start_timeout`` they are, as below,
    being the only sign of a start that may wait for good.

    NATS going away is expected and retried, and said in few lines: one WARNING when the
    connection is lost, one INFO when it is back (with how long it was away), and in between
    one line per kind of error per minute (:data:`NATS_ERRORS_PER_WINDOW`; nats-py's own
    traceback for each failed reconnect attempt is never shown), then a count of the others.
    ``reconnected`` runs after the ``reconnected_cb`` of ``options``, if any; their
    ``disconnected_cb`` too runs after our line.
    """
    failures = LogLimiter(log, burst=NATS_ERRORS_PER_WINDOW)
    lost_at: list[float] = []
    made: list[Nats] = []

    last: list[Exception] = []

    async def error(exc: Exception) -> None:
        last[:] = [exc]
        if not made and start_timeout is not None:
            return  # said once, in NatsUnreachable, if the start gives up
        failures.warning(f"{name}: NATS {type(exc).__name__}", "%s: NATS: %r", name, exc)

    async def lost() -> None:
        if made and made[0].is_closed:  # closed by us (nats-py calls this then too)
            return
        if not lost_at:  # once per outage, however many attempts fail
            lost_at.append(time.monotonic())
            log.warning("%s: NATS connection lost; reconnecting", name)

    async def back() -> None:
        if lost_at:
            log.info("%s: NATS connection back after %.1f s", name, time.monotonic() - lost_at[0])
            lost_at.clear()

    chosen: dict[str, Any] = {
        "name": name,
        "error_cb": error,
        "max_reconnect_attempts": -1,
        "reconnect_time_wait": RECONNECT_WAIT,
        "connect_timeout": CONNECT_TIMEOUT,
    }
    chosen.update(options or {})
    chosen["disconnected_cb"] = _then(lost, chosen.get("disconnected_cb"))
    chosen["reconnected_cb"] = _then(_then(back, chosen.get("reconnected_cb")), reconnected)
    servers_list = server_urls(servers)
    timer = asyncio.timeout(start_timeout)
    try:
        async with timer:
            made.append(await nats.connect(servers=servers_list, **chosen))
    except TimeoutError:
        if not timer.expired():  # nats-py's own (allow_reconnect=False, say): as it came
            raise
        why = f" (last: {type(last[0]).__name__}: {last[0]})" if last else ""
        raise NatsUnreachable(
            f"NATS at {shown_servers(servers_list)} unreachable: no connection within "
            f"{start_timeout:g} s{why}"
        ) from None
    return made[0]


def shown_servers(servers: str | Sequence[str]) -> str:
    """``servers`` as a log line or ``/readyz`` may show them, comma-separated: each as the
    NATS link's lines show a server (:func:`shown_url`), without the credentials a URL can
    carry (``nats://user:secret@host:4222`` shows ``nats://host:4222``).

    The command's start line, a failure to reach NATS and the readiness probe name the
    servers, and an operator's logs and probes are read by more people than the secret is
    meant for."""
    parts = [split_url(url) for url in server_urls(servers)]
    return ", ".join(shown_url(part.scheme, *address_of(part)) for part in parts)


def server_urls(servers: str | Sequence[str]) -> list[str]:
    """The servers' URLs, one each: a string may name several separated by commas, as
    ``--nats`` and the ``nats`` command write a cluster's (``nats://a:4222,nats://b:4222``).
    An operator's own process (a ``ClusterClient`` in an admin API) given the same setting as
    the commands got nats-py's ``invalid connect url option`` for the whole string."""
    texts = [servers] if isinstance(servers, str) else list(servers)
    return [url.strip() for text in texts for url in text.split(",") if url.strip()]


def split_url(url: str) -> SplitResult:
    """A server URL's parts, ``nats://`` where it names no scheme (as nats-py reads it)."""
    return urlsplit(url if "://" in url else f"nats://{url}")


def address_of(parts: SplitResult) -> tuple[str, int]:
    """The host and port a server URL names (127.0.0.1 and 4222 where it names none)."""
    return parts.hostname or "127.0.0.1", parts.port or 4222


def shown_url(scheme: str, host: str, port: int) -> str:
    """A server's URL as logs show it (an IPv6 address in brackets), without credentials."""
    return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"


def _then(
    first: Callable[[], Awaitable[None]], then: Callable[[], Awaitable[None]] | None
) -> Callable[[], Awaitable[None]]:
    """A NATS callback awaiting ``first``, then ``then`` (if any)."""
    if then is None:
        return first

    async def both() -> None:
        await first()
        await then()

    return both
