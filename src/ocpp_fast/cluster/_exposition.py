"""The cluster's figures on ``/metrics``: a gateway's and a worker's (extra ``[metrics]``).

Nothing here runs per message. The relay, the NATS link and the gateway keep plain
integers (and a dict per kind of failure, written on the failure path only), the worker its
counts too (a dict of its CALLs by action and outcome); these collectors read them when
``/metrics`` is scraped, from prometheus-client's thread, as
:mod:`ocpp_fast.metrics` reads its own. A durable CALL's store thus pays one ``+= 1``,
where a prometheus-client counter would take a lock and a method call.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from nats.aio.client import Client as Nats

    from ocpp_fast.cluster.gateway import Gateway
    from ocpp_fast.cluster.worker import Worker

__all__ = ["FORWARD_SERIES", "GatewayFigures", "WorkerFigures"]

FORWARD_SERIES = (
    "ocpp_cluster_forward_seconds",
    "Time a CALL forwarded to the workers takes to be answered (the round trip, the worker's "
    "handler in it, and a durable action's store)",
)
"""The name and help of a forwarding gateway's CALL times: the dispatch path times every CALL
from its dispatch to its answer, which there is the round trip to a worker; under
``ocpp_handler_seconds`` it read as a handler's time, the worker's own series' name."""


class GatewayFigures(Collector):
    """A gateway's stores, worker requests, routed calls and NATS connections."""

    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway

    def collect(self) -> Iterator[Any]:
        gateway = self._gateway
        relay = gateway.relay
        yield _plain(
            "ocpp_cluster_stores",
            "Durable CALLs sent to the events stream (each stored, or counted as failed)",
            relay.stores,
        )
        yield _by(
            "ocpp_cluster_store_failures",
            "Durable CALLs not stored (the station answered InternalError), by cause",
            "cause",
            relay.store_failures,
        )
        yield _by(
            "ocpp_cluster_registry_failures",
            "Registry lines not written (a station's put, or its delete once it left), by cause",
            "cause",
            gateway.registry_failures,
        )
        yield _plain(
            "ocpp_cluster_forwarded",
            "CALLs sent to the workers (each answered, or counted as failed)",
            relay.forwarded,
        )
        yield _by(
            "ocpp_cluster_forward_failures",
            "CALLs sent to the workers that got no answer (InternalError), by cause",
            "cause",
            relay.forward_failures,
        )
        yield GaugeMetricFamily(
            "ocpp_cluster_requests_waiting",
            "Stores and worker requests waiting for their reply now",
            relay.replies.waiting,
        )
        yield _by(
            "ocpp_cluster_routed_calls",
            "Routed calls (ClusterClient.call) to stations held here, by outcome",
            "outcome",
            gateway.routed,
        )
        yield GaugeMetricFamily(
            "ocpp_cluster_routed_calls_waiting",
            "Routed calls waiting for their station now (bounded by Limits.routed_calls)",
            gateway.routed_waiting,
        )
        connected = _nats_connected()
        reconnects = _nats_reconnects()
        _nats_py(connected, reconnects, gateway.nats)
        link = gateway.link
        if link is not None:
            connected.add_metric(["link"], 1 if link.not_ready() is None else 0)
            reconnects.add_metric(["link"], link.reconnects)
            yield _plain(
                "ocpp_cluster_window_writes",
                "Writes to NATS that ended a write window (--nats-write-window)",
                link.window_writes,
            )
        yield connected
        yield reconnects


class WorkerFigures(Collector):
    """A worker's CALLs, the handlers running and its NATS connection (its handlers' times
    are :class:`~ocpp_fast.metrics.Metrics`' own ``ocpp_handler_seconds``)."""

    def __init__(self, worker: Worker) -> None:
        self._worker = worker

    def collect(self) -> Iterator[Any]:
        worker = self._worker
        calls = CounterMetricFamily(
            "ocpp_cluster_worker_calls",
            "CALLs answered by this worker, by action and outcome (result or error)",
            labels=["action", "outcome"],
        )
        for (action, outcome), count in list(worker.calls.items()):
            calls.add_metric([action, outcome], count)
        yield calls
        yield _by(
            "ocpp_cluster_worker_routed_calls",
            "Calls this worker's handlers made to stations (context.connection.call), by outcome",
            "outcome",
            worker.client.calls,
        )
        yield _plain(
            "ocpp_cluster_worker_unreadable",
            "Work requests this worker could not read (answered InternalError)",
            worker.unreadable,
        )
        yield _plain(
            "ocpp_cluster_worker_reply_failures",
            "Answers this worker could not send back to the gateway",
            worker.reply_failures,
        )
        yield GaugeMetricFamily(
            "ocpp_cluster_worker_busy",
            "async handlers running now (at most ocpp_cluster_worker_concurrency)",
            worker.busy,
        )
        yield GaugeMetricFamily(
            "ocpp_cluster_worker_concurrency",
            "async handlers that may run at once (--concurrency)",
            worker.concurrency,
        )
        connected = _nats_connected()
        reconnects = _nats_reconnects()
        _nats_py(connected, reconnects, worker.client.connection)
        yield connected
        yield reconnects


def _plain(name: str, documentation: str, value: int) -> Any:
    return CounterMetricFamily(name, documentation, value)


def _by(name: str, documentation: str, label: str, counts: Mapping[str, int]) -> Any:
    family = CounterMetricFamily(name, documentation, labels=[label])
    for value, count in list(counts.items()):
        family.add_metric([value], count)
    return family


def _nats_connected() -> Any:
    return GaugeMetricFamily(
        "ocpp_cluster_nats_connected",
        "Whether the NATS connection is up (1) or not (0), by connection",
        labels=["connection"],
    )


def _nats_reconnects() -> Any:
    return CounterMetricFamily(
        "ocpp_cluster_nats_reconnects",
        "Times the NATS connection came back after a loss, by connection",
        labels=["connection"],
    )


def _nats_py(connected: Any, reconnects: Any, nc: Nats | None) -> None:
    """nats-py's connection's samples (``connection="nats-py"``), down before it is made."""
    connected.add_metric(["nats-py"], 1 if nc is not None and nc.is_connected else 0)
    reconnects.add_metric(["nats-py"], nc.stats["reconnects"] if nc is not None else 0)
