"""Why a store, a worker request or a routed call failed, as the label of its metric.

The relay and the gateway count what succeeds as plain integer attributes (a durable
CALL's store is the gateway's hottest path: one ``+= 1`` there, read when ``/metrics``
is scraped by :mod:`ocpp_fast.cluster._exposition`), and what fails in a dict by cause,
on the failure path only. This module has no dependency beyond nats-py's errors, so the
relay imports it without the ``metrics`` extra.
"""

from __future__ import annotations

from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from nats.js.errors import NoStreamResponseError

from ocpp_fast.cluster.wire import Outcome

__all__ = [
    "FORWARD_CAUSES",
    "ROUTED_OUTCOMES",
    "STORE_CAUSES",
    "routed_outcome",
    "store_cause",
    "tally",
]

STORE_CAUSES = ("refused", "timeout", "link_down", "no_stream", "other")
"""Why a durable CALL was not stored (or a registry line not written: the gateway's
``registry_failures``): the stream answered with an error (``refused``), no
ack within the store timeout (``timeout``), the NATS connection down or lost meanwhile
(``link_down``), no stream listens on its subject (``no_stream``: NATS said "no
responders", the stream deleted or lost with nats-server's storage), anything else."""

FORWARD_CAUSES = ("no_worker", "timeout", "unreachable")
"""Why a CALL forwarded to the workers got no answer: none subscribed for its version
(``no_worker``), none answered within ``worker_timeout`` (``timeout``), the NATS connection
down or lost meanwhile (``unreachable``)."""

ROUTED_OUTCOMES = (
    "answered",
    "callerror",
    "timeout",
    "disconnected",
    "version",
    "refused",
    "closed",
)
"""How a routed call (``ClusterClient.call`` to a station held by this gateway) ended: the
station's response (``answered``) or CALLERROR (``callerror``; a routing failure of the
gateway's own is one too, an InternalError), no answer in the call's timeout, the station
gone, the call for another OCPP version than the station's, or ``refused`` at once because
``Limits.routed_calls`` calls wait already; ``closed``: a ``ClusterClient.disconnect`` that
closed the station's connection (its session ended)."""


def tally(causes: tuple[str, ...]) -> dict[str, int]:
    """A count per cause, every cause present (so each series exists from the start, at 0:
    a rate over a series that appears with its first failure misses that failure)."""
    return dict.fromkeys(causes, 0)


def store_cause(exc: BaseException) -> str:
    """The :data:`STORE_CAUSES` label of why a store failed with ``exc``."""
    if isinstance(exc, NatsTimeout | TimeoutError):
        return "timeout"
    if isinstance(exc, NoRespondersError | NoStreamResponseError):  # (nats-py's JetStream's)
        return "no_stream"
    if isinstance(exc, ConnectionError):
        return "link_down"
    if isinstance(exc, RuntimeError):  # take_ack: the stream's error, or no ack at all
        return "refused"
    return "other"


def routed_outcome(outcome: Outcome) -> str:
    """The :data:`ROUTED_OUTCOMES` label of a routed call's ``outcome``, as the gateway sends it."""
    if outcome.failure:
        return "refused" if outcome.failure == "busy" else outcome.failure
    if outcome.code:
        return "callerror"
    return "answered" if outcome.result else "closed"  # an answer always has its payload
