"""Metrics an operator can scrape (extra ``ocpp-fast[metrics]``: prometheus-client).

``serve(..., metrics_port=9100)`` (or ``ocpp-fast serve --metrics-port 9100``)
serves them over HTTP; a station's :class:`~ocpp_fast.transport.StationClient`
can take the same object for its queue. Each series is cheap to update: a
connection without metrics pays one ``is None`` check per frame.

- ``ocpp_stations_connected{version}``: stations connected now;
- ``ocpp_messages_total{direction, kind, action}``: frames in and out (kind: call,
  result, error, send);
- ``ocpp_errors_total{direction, code}``: CALLERRORs sent (out) and received (in);
- ``ocpp_deviations_total{kind}``: deviations repaired under a tolerance policy;
- ``ocpp_handler_seconds{action}``: how long handlers take (histogram);
- ``ocpp_queued_messages``: transaction messages waiting in a station's queue (a station
  with a queue only);
- ``ocpp_handshakes_refused_total{reason}``: stations turned away at the handshake (reason:
  one of :class:`ocpp_fast.transport._refusals.Reason`, e.g. ``unauthorized``).

The series live in a registry of their own (not prometheus-client's global
one), so two servers in one process, or a test, never collide. Counting is
plain Python arithmetic in the loop's thread; prometheus-client only reads the
figures when ``/metrics`` is scraped (a custom collector): its own counters
take a lock per increment, which cost about 2.5 µs per message here. The counts are
``defaultdict(int)`` (a C type; ``Counter``'s ``+=`` costs a third more).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from ocpp_fast._extras import require

require("prometheus_client", "ocpp_fast.metrics")

from prometheus_client import CollectorRegistry, start_http_server  # noqa: E402
from prometheus_client.core import (  # noqa: E402
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.registry import Collector  # noqa: E402

__all__ = ["Metrics"]

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)
"""Upper bounds of the handler-time histogram, in seconds (the last bucket is +Inf)."""
_FIRST_BOUND = BUCKETS[0]


class Metrics:
    """The figures of one server (or station), in one registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.frames: defaultdict[tuple[str, str, str], int] = defaultdict(int)
        """``(direction, kind, action)`` -> frames."""
        self.errors: defaultdict[tuple[str, str], int] = defaultdict(int)
        """``(direction, code)`` -> CALLERRORs."""
        self.deviations: defaultdict[str, int] = defaultdict(int)
        self.refusals: defaultdict[str, int] = defaultdict(int)
        """reason -> handshakes refused."""
        self.stations: defaultdict[str, int] = defaultdict(int)
        """OCPP version -> stations connected now."""
        self.queued: int | None = None
        """Transaction messages waiting in a station's queue (set by its owner); ``None``
        where no queue is watched (a CSMS), and the series is then not exposed."""
        self._handler: dict[str, list[float]] = {}
        """action -> per-bucket counts (+Inf last), then the sum of the seconds."""
        self._server: Any = None
        self.registry.register(_Exposition(self))

    def serve_http(self, port: int, host: str = "127.0.0.1") -> int:
        """Serve ``/metrics`` on ``port`` (0: any free one) in a thread; return the port."""
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        self._server = server
        bound: int = server.server_address[1]
        return bound

    def stop_http(self) -> None:
        """Stop serving ``/metrics``."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # --- what the protocol, the asyncio layer and the transport report ---------------------

    def frame(self, direction: str, kind: str, action: str) -> None:
        self.frames[direction, kind, action] += 1

    def error(self, direction: str, code: str, action: str = "") -> None:
        """A CALLERROR; ``action`` is the CALL's it answers, "" when unknown (callers pass
        only actions of the version, so a peer cannot grow the series)."""
        self.frames[direction, "error", action] += 1
        self.errors[direction, code] += 1

    def deviation(self, kind: str) -> None:
        self.deviations[kind] += 1

    def refused(self, reason: str) -> None:
        self.refusals[reason] += 1

    def handled(self, action: str, seconds: float) -> None:
        counts = self._handler.get(action)
        if counts is None:  # one per action of the version: bounded
            counts = self._handler[action] = [0.0] * (len(BUCKETS) + 2)
        # most plain handlers take well under the first bound: no search for them
        counts[0 if seconds <= _FIRST_BOUND else bisect_left(BUCKETS, seconds)] += 1
        counts[-1] += seconds

    def station(self, version: str, delta: int) -> None:
        self.stations[version] += delta

    def handler_times(self) -> dict[str, tuple[list[float], float]]:
        """action -> (per-bucket counts, +Inf last; sum of seconds): a copy."""
        return {action: (c[:-1], c[-1]) for action, c in list(self._handler.items())}


class _Exposition(Collector):
    """Reads the figures when ``/metrics`` is scraped (from prometheus-client's thread:
    each copy of a dict is one C call under the GIL)."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Any]:
        m = self._metrics
        stations = GaugeMetricFamily(
            "ocpp_stations_connected", "Stations connected now", labels=["version"]
        )
        for version, count in list(m.stations.items()):
            stations.add_metric([version], count)
        yield stations
        frames = CounterMetricFamily(
            "ocpp_messages",
            "OCPP-J frames received (in) and sent (out)",
            labels=["action", "direction", "kind"],
        )
        for (direction, kind, action), count in list(m.frames.items()):
            frames.add_metric([action, direction, kind], count)
        yield frames
        errors = CounterMetricFamily(
            "ocpp_errors",
            "CALLERRORs sent (out) and received (in), by code",
            labels=["code", "direction"],
        )
        for (direction, code), count in list(m.errors.items()):
            errors.add_metric([code, direction], count)
        yield errors
        yield _counter(
            "ocpp_deviations",
            "Deviations accepted and repaired under a tolerance policy",
            "kind",
            m.deviations,
        )
        yield _counter(
            "ocpp_handshakes_refused",
            "Stations turned away at the WebSocket handshake, by reason",
            "reason",
            m.refusals,
        )
        times = HistogramMetricFamily(
            "ocpp_handler_seconds", "Time handlers take to answer", labels=["action"]
        )
        for action, (counts, total) in m.handler_times().items():
            cumulative, buckets = 0.0, []
            for bound, in_bucket in zip((*BUCKETS, float("inf")), counts, strict=True):
                cumulative += in_bucket
                buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
            times.add_metric([action], buckets, total)
        yield times
        if m.queued is not None:
            yield GaugeMetricFamily(
                "ocpp_queued_messages",
                "Transaction messages waiting in a station's queue",
                m.queued,
            )


def _counter(name: str, documentation: str, label: str, counts: dict[str, int]) -> Any:
    """A counter family with one label, from ``label value -> count``."""
    family = CounterMetricFamily(name, documentation, labels=[label])
    for value, count in list(counts.items()):
        family.add_metric([value], count)
    return family
